"""docs/FORMAT.md against the streams, through a second reader written from the spec alone.

The reader below was written from FORMAT.md's tables for the current format (file header and its
extensions, 13.0's packet headers, the keyframe index and the footer) without the implementation;
it found that the colour correction's layout was documented the wrong way round (2026-12-05). It
reads streams the encoder writes with several settings, and every field must agree with
``vidcodec.container``'s reader: a change to either the writer or the spec that the other does not
follow fails here.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from conftest import write_testsrc

from vidcodec import api, container
from vidcodec.codec import colour

MAGIC = b"\x8aGVC\r\n\x1a\n"
SYNC, INDEX, FOOTER = b"\xa7GVP", b"\xa7GVI", b"\xa7GVE"


class SpecError(Exception):
    pass


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _varint(buf: bytes, pos: int, longest: int) -> tuple[int, int]:
    """Unsigned LEB128 in its shortest form."""
    value = 0
    for i in range(longest):
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i and not byte:
                raise SpecError(f"a varint at {pos} is not in its shortest form")
            return value, pos + i + 1
    raise SpecError(f"a varint at {pos} runs past {longest} bytes")


def _unzigzag(z: int) -> int:
    return z >> 1 if not z & 1 else -((z + 1) >> 1)


def read_header(buf: bytes) -> dict:
    """The file header's fields (the table "File header" and "Header extensions")."""
    if buf[:8] != MAGIC:
        raise SpecError("bad magic")
    major, minor, size = struct.unpack_from("<HHI", buf, 8)
    if not 103 <= size <= 1 << 20 or _crc(buf[:size - 4]) != struct.unpack_from("<I", buf, size - 4)[0]:
        raise SpecError("header size or CRC")
    keys = ("width", "height", "tb_num", "tb_den", "fr_num", "fr_den", "frame_count", "gop", "channels",
            "latent_h", "latent_w", "coder", "mode", "quality", "colour_matrix", "colour_range")
    *values, name_len = struct.unpack_from("<6IQI3H6B", buf, 16)
    h = dict(zip(keys, values, strict=True), version=(major, minor), size=size, model_hash=buf[64:96])
    h["model_name"] = buf[96:96 + name_len].decode()
    (count,) = struct.unpack_from("<H", buf, 96 + name_len)
    pos, h["extensions"] = 98 + name_len, {}
    for _ in range(count):
        tag, length = struct.unpack_from("<HI", buf, pos)
        h["extensions"][tag] = buf[pos + 6:pos + 6 + length]
        pos += 6 + length
    if pos != size - 4:
        raise SpecError("header bytes left unexplained")
    # the pts step: one frame in time-base units when that is a whole number of at least 2
    num, den = h["tb_den"] * h["fr_den"], h["tb_num"] * h["fr_num"]
    h["step"] = num // den if den and num % den == 0 and num // den >= 2 else None
    return h


def read_packets(buf: bytes, h: dict) -> tuple[list[dict], dict | None]:
    """The packets (13.0's layout) up to the index, and the index."""
    pos, last_frame_pts, packets = h["size"], None, []
    while pos < len(buf):
        if buf[pos:pos + 4] == INDEX:
            count, frames, entries_crc, head_crc = struct.unpack_from("<IQII", buf, pos + 4)
            entries = buf[pos + 24:pos + 24 + 16 * count]
            if _crc(buf[pos:pos + 20]) != head_crc or _crc(entries) != entries_crc:
                raise SpecError("index CRC")
            pairs = [struct.unpack_from("<qQ", entries, 16 * i) for i in range(count)]
            return packets, {"offset": pos, "frames": frames, "entries": pairs, "end": pos + 24 + 16 * count}
        start = pos
        synced = buf[pos:pos + 4] == SYNC
        pos += 4 if synced else 0
        byte = buf[pos]
        pos += 1
        if byte == 0:  # escaped: stream, type, flags in bytes of their own
            stream, kind, flags, stepped = buf[pos], buf[pos + 1], buf[pos + 2], False
            pos += 3
        else:
            kind, flags, stepped, stream = byte & 3, (byte >> 2) & 7, bool(byte & 0x20), byte >> 6
        sync_less_delta = byte != 0 and stream == 0 and kind == 2
        if synced == sync_less_delta:
            raise SpecError(f"packet at {start}: a sync marker where none belongs, or none where one does")
        zigzag, pos = _varint(buf, pos, 10)
        size, pos = _varint(buf, pos, 5)
        payload_check, head_crc = struct.unpack_from("<HH", buf, pos)
        if _crc(buf[start:pos + 2]) & 0xFFFF != head_crc:
            raise SpecError(f"packet at {start}: header CRC")
        pos += 4
        payload = buf[pos:pos + size]
        if _crc(payload) & 0xFFFF != payload_check:
            raise SpecError(f"packet at {start}: payload check")
        value = _unzigzag(zigzag) * (h["step"] if stepped else 1)
        pts = value + (last_frame_pts or 0) if sync_less_delta else value
        if stream == 0 and kind in (1, 2):
            last_frame_pts = pts
        packets.append({"offset": start, "stream": stream, "kind": kind, "flags": flags, "pts": pts,
                        "header_size": pos - start, "payload": payload})
        pos += size
    return packets, None


def read_footer(buf: bytes) -> tuple[int, int]:
    """The footer: the index's offset and entry count (its CRC checked)."""
    tail = buf[-20:]
    if tail[16:] != FOOTER or _crc(tail[:12]) != struct.unpack_from("<I", tail, 12)[0]:
        raise SpecError("footer")
    offset, count, _ = struct.unpack_from("<QII", tail, 0)
    return offset, count


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("spec")
    return {"plain": write_testsrc(d / "plain.mp4", frames=14), "odd": write_testsrc(d / "odd.mp4", frames=6,
                                                                                     size=(63, 47))}


@pytest.mark.parametrize("settings", [
    {"gop": 5},                                # keys, deltas, colour corrections, learned sub-pixel table
    {"gop": 5, "repeat_header": True},         # parameters packets
    {"coder": "elias", "latent_bits": 4},      # coder 1
    {"gop": 4, "workers": 2},                  # GOP-parallel writer
    {"clip": "odd", "gop": 3},                 # odd size
])
def test_a_reader_written_from_the_spec_reads_what_the_encoder_writes(clips, tmp_path, tiny_model_dir, settings,
                                                                    monkeypatch):
    monkeypatch.setattr(colour, "COST_FACTOR", 0.0)  # colour corrections wherever they gain (tiny packets)
    settings = dict(settings)
    out = tmp_path / "s.gvc"
    api.encode(clips[settings.pop("clip", "plain")], out, model="vaegan-tiny", quality=2, **settings)
    buf = out.read_bytes()
    h = read_header(buf)
    with container.GvcReader(out) as reader:
        want = list(reader)
        header, index = reader.header, reader.index()
    assert h["version"] == container.FORMAT_VERSION
    assert (h["width"], h["height"], h["gop"], h["quality"], h["model_name"], h["model_hash"]) == (
        header.width, header.height, header.gop, header.quality, header.model_name, header.model_hash)
    assert (h["tb_num"], h["tb_den"]) == header.time_base and (h["fr_num"], h["fr_den"]) == header.frame_rate
    assert (h["channels"], h["latent_h"], h["latent_w"]) == header.latent_shape
    assert (h["coder"], h["mode"]) == (int(header.coder), int(header.mode))
    assert h["extensions"] == dict(header.extensions)
    assert (h["step"] or 1) == container.pts_step(header)
    packets, chunk = read_packets(buf, h)
    assert [(p["offset"], p["stream"], p["kind"], p["flags"], p["pts"], p["header_size"], p["payload"])
            for p in packets] == [(p.offset, p.stream_index, int(p.kind), p.flags, p.pts, p.header_size,
                                   bytes(p.payload)) for p in want]
    assert chunk is not None and chunk["frames"] == index.frame_count
    assert chunk["entries"] == [(e.pts, e.offset) for e in index.entries]
    assert read_footer(buf) == (chunk["offset"], len(chunk["entries"])) and chunk["end"] + 20 == len(buf)
    if settings.get("repeat_header"):  # a parameters packet is the file header, byte for byte
        assert [p["payload"] for p in packets if p["kind"] == 3] and all(
            p["payload"] == buf[:h["size"]] for p in packets if p["kind"] == 3)
    # A colour correction (flag bit 0 of a mode 0 frame) is three rows of M[r][0..2], o[r] in 1/4096:
    # near the identity, a row's matrix terms sum to about 4096 and its offset is small
    corrected = [p for p in packets if p["stream"] == 0 and p["kind"] in (1, 2) and p["flags"] & 1]
    for p in corrected:
        rows = np.frombuffer(p["payload"][:24], "<i2").reshape(3, 4).astype(int)
        assert (np.abs(rows[:, :3].sum(axis=1) - 4096) < 2048).all() and (np.abs(rows[:, 3]) < 2048).all()
    kinds = {(p["kind"], p["header_size"] < 11) for p in packets}
    if settings.get("coder") != "elias":  # keys, and deltas with short sync-less headers, all seen
        assert corrected and {(1, False), (2, True)} <= kinds
