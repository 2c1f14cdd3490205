"""Tests of the .gvc container: byte layout, streaming, truncation, damage, resync, index, probe."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidcodec import container
from vidcodec.container import (
    FORMAT_VERSION,
    MAX_HEADER_SIZE,
    MAX_PAYLOAD_SIZE,
    PACKET_HEADER_SIZE,
    PACKET_SYNC,
    Coder,
    ColourMatrix,
    ColourRange,
    Damaged,
    GvcReader,
    GvcWriter,
    IndexEntry,
    Mode,
    Packet,
    PacketType,
    StreamHeader,
    decode_header,
    encode_header,
    probe,
)
from vidcodec.errors import (
    CorruptPacketError,
    FormatError,
    TruncatedStreamError,
    UnsupportedVersionError,
    UsageError,
    VidcodecError,
)

KEY, DELTA = PacketType.KEY, PacketType.DELTA


def make_header(**changes: object) -> StreamHeader:
    """A small valid header; keyword arguments override fields."""
    fields: dict[str, object] = {
        "width": 64,
        "height": 48,
        "time_base": (1, 30),
        "frame_rate": (30, 1),
        "model_name": "vaegan-s",
        "model_hash": hashlib.sha256(b"weights").digest(),
        "quality": 3,
        "latent_shape": (96, 3, 4),
        "gop": 4,
    }
    fields.update(changes)
    return StreamHeader(**fields)  # type: ignore[arg-type]


# (kind, pts, payload): a GOP of 4 with a varied payload per frame, including an empty one.
PACKETS = [
    (KEY if i % 4 == 0 else DELTA, i * 1000, bytes((i * 37 + j) % 256 for j in range(i * 5)))
    for i in range(9)
]


def write_stream(
    packets: list[tuple[PacketType, int, bytes]] = PACKETS,
    header: StreamHeader | None = None,
) -> tuple[bytes, list[int]]:
    """Write a stream to memory; return its bytes and the packet offsets."""
    out = io.BytesIO()
    with GvcWriter(out, header or make_header()) as writer:
        offsets = [writer.write_packet(kind, pts, payload) for kind, pts, payload in packets]
    return out.getvalue(), offsets


class Pipe:
    """A non-seekable source, like stdin: read() only, and it returns short reads."""

    def __init__(self, data: bytes, chunk: int = 7) -> None:
        self._data = io.BytesIO(data)
        self._chunk = chunk
        self.largest_read = 0

    def read(self, n: int = -1) -> bytes:
        """Return at most `chunk` bytes."""
        self.largest_read = max(self.largest_read, n)
        return self._data.read(min(n, self._chunk) if n >= 0 else self._chunk)


class PipeSink:
    """A non-seekable destination (write/flush only) that records what was visible at each flush."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.flushed: list[int] = []

    def write(self, data: bytes) -> int:
        """Accept at most 5 bytes per call, like a raw pipe may."""
        taken = bytes(data[:5])
        self.data += taken
        return len(taken)

    def flush(self) -> None:
        """Record how many bytes were flushed."""
        self.flushed.append(len(self.data))


def read_all(data: bytes, *, resync: bool = False) -> list[Packet | Damaged]:
    """Read every record of an in-memory stream."""
    return list(GvcReader(io.BytesIO(data), resync=resync))


def as_tuples(items: list[Packet | Damaged]) -> list[tuple[PacketType, int, bytes]]:
    """The (kind, pts, payload) of each packet, ignoring Damaged records."""
    return [(p.kind, p.pts, p.payload) for p in items if isinstance(p, Packet)]


def flip_bit(data: bytes, offset: int, bit: int = 0) -> bytes:
    """Return data with one bit flipped."""
    out = bytearray(data)
    out[offset] ^= 1 << bit
    return bytes(out)


def rewrite_header(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Patch a file-header field and recompute the header CRC, so only the field's value is wrong."""
    size = struct.unpack_from("<I", data, 12)[0]
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    struct.pack_into("<I", out, size - 4, zlib.crc32(out[: size - 4]))
    return bytes(out)


def leb128(value: int) -> bytes:
    """An unsigned LEB128 code, written out independently of vidcodec.coding.varint."""
    out = bytearray()
    while value >= 0x80:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes([*out, value])


def packet_bytes(kind: int, pts: int, payload: bytes, size: int | None = None, v6: bool = False,
                 v7: bool = False, v12: bool = False, prev: int = 0) -> bytes:
    """Hand-build one stream-0 packet without flags, with valid CRCs (size may lie about the payload): the
    13.x layout (sync but for deltas, the packet byte = the type for types 1-3, else 0 and the stream,
    type and flags bytes, zigzag varint pts (a delta's: ``pts - prev``, ``prev`` the frame before it),
    varint size, low 16 bits of the payload's CRC, low 16 bits of the header's CRC; make_header's
    streams have no pts step), with ``v12`` the 12.x one (absolute pts, the payload's whole CRC), with
    ``v7`` the 7.x-11.x one (as 12.x, but sync, stream, type and flags bytes always), or with ``v6`` the
    27-byte header of 1.x-6.x."""
    size = len(payload) if size is None else size
    if v6:
        head = b"\xa7GVP" + struct.pack("<BBBqII", 0, kind, 0, pts, size, zlib.crc32(payload))
        return head + struct.pack("<I", zlib.crc32(head)) + payload
    v13 = not (v7 or v12)
    if v13 and kind == DELTA:
        pts -= prev
    zigzag = 2 * pts if pts >= 0 else -2 * pts - 1
    fields = bytes([kind]) if 1 <= kind <= 3 and not v7 else bytes([0, kind, 0] if v7 else [0, 0, kind, 0])
    sync = b"" if kind == DELTA and not v7 else b"\xa7GVP"
    check = struct.pack("<H", zlib.crc32(payload) & 0xFFFF) if v13 else struct.pack("<I", zlib.crc32(payload))
    head = sync + fields + leb128(zigzag) + leb128(size) + check
    return head + struct.pack("<H", zlib.crc32(head) & 0xFFFF) + payload


def header_sizes(data: bytes) -> list[int]:
    """The packet header size of every packet of a valid stream."""
    return [p.header_size for p in read_all(data)]


def index_offset(data: bytes) -> int:
    """The index chunk's offset, read from the footer (its first field)."""
    return struct.unpack_from("<Q", data, len(data) - 20)[0]


# --- header -------------------------------------------------------------------------------------------


def test_header_round_trip_preserves_every_field() -> None:
    header = make_header(
        width=1920,
        height=1080,
        time_base=(1001, 30000),
        frame_rate=(30000, 1001),
        frame_count=12345,
        model_name="vaegan-ß",
        coder=Coder.ELIAS,
        mode=Mode.GAN,
        quality=255,
        latent_shape=(192, 68, 120),
        gop=250,
        colour_matrix=ColourMatrix.BT2020_NCL,
        colour_range=ColourRange.FULL,
        extensions={9: b"", 300: b"\x00\xff" * 10},
    )
    assert decode_header(encode_header(header)) == header
    data, _ = write_stream(header=header)
    reader = GvcReader(io.BytesIO(data))
    # a writer that can seek puts the frames it wrote in place of a count it did not write
    assert reader.header == dataclasses.replace(header, frame_count=len(PACKETS))
    assert reader.version == FORMAT_VERSION
    assert GvcReader(io.BytesIO(write_stream(header=dataclasses.replace(header, frame_count=9))[0])).header == \
        dataclasses.replace(header, frame_count=9)


def test_a_seekable_writer_corrects_a_frame_count_it_did_not_write_and_a_pipe_cannot() -> None:
    header = make_header(frame_count=20)  # e.g. a truncated input's metadata
    data, _ = write_stream(header=header)
    assert GvcReader(io.BytesIO(data)).header.frame_count == len(PACKETS)
    sink = PipeSink()
    with GvcWriter(sink, header) as writer:
        for kind, pts, payload in PACKETS:
            writer.write_packet(kind, pts, payload)
    assert GvcReader(io.BytesIO(bytes(sink.data))).header.frame_count == 20
    # unknown (0) stays unknown: the index has the count
    assert GvcReader(io.BytesIO(write_stream()[0])).header.frame_count == 0


def test_header_bytes_follow_the_documented_layout() -> None:
    header = make_header(
        width=32,
        height=16,
        time_base=(1, 25),
        frame_rate=(25, 1),
        frame_count=7,
        model_name="m",
        model_hash=bytes(range(32)),
        coder=Coder.ELIAS,
        mode=Mode.GAN,
        quality=5,
        latent_shape=(4, 1, 2),
        gop=1,
        colour_matrix=ColourMatrix.BT709,
        colour_range=ColourRange.LIMITED,
        extensions={0x0102: b"xy"},
    )

    def le(value: int, size: int) -> bytes:
        return value.to_bytes(size, "little")

    body = (
        b"\x8aGVC\r\n\x1a\n"
        + le(15, 2)
        + le(0, 2)
        + le(96 + 1 + 2 + 8 + 4, 4)  # magic, 15.0, header size
        + le(32, 4)
        + le(16, 4)
        + le(1, 4)
        + le(25, 4)
        + le(25, 4)
        + le(1, 4)  # size, time base, frame rate
        + le(7, 8)
        + le(1, 4)  # frame count, gop
        + le(4, 2)
        + le(1, 2)
        + le(2, 2)  # latent C, h, w
        + bytes([1, 1, 5, 1, 1, 1])  # coder, mode, quality, matrix, range, name length
        + bytes(range(32))
        + b"m"  # hash, name
        + le(1, 2)
        + le(0x0102, 2)
        + le(2, 4)
        + b"xy"  # one extension
    )
    assert encode_header(header) == body + le(zlib.crc32(body), 4)


@pytest.mark.parametrize(("given", "stored"), [
    (Fraction(64, 45), Fraction(64, 45)), (Fraction(70000), Fraction(65535)), (Fraction(1, 70000), Fraction(1, 65535)),
    (Fraction(196607, 3), Fraction(65535)), (Fraction(131069, 2), Fraction(65535)),
    (Fraction(100003, 100000), Fraction(100003, 100000).limit_denominator(65535)),
    (Fraction(100000, 100003), Fraction(100000, 100003).limit_denominator(65535))])
def test_a_sample_aspect_past_the_formats_terms_is_stored_as_the_nearest_that_fits(given, stored) -> None:
    # (70000:1 had been stored as 35000:1, 196607/3 as 49151:1, by halving both terms)
    from vidcodec.api import sample_aspect_terms

    got = sample_aspect_terms(given)
    assert got == stored and 0 < got.numerator <= 65535 and 0 < got.denominator <= 65535
    assert abs(got / given - 1) < 1e-4 or not Fraction(1, 65535) < given < 65535


def test_sample_aspect_entry_is_read_and_a_damaged_one_ignored(caplog) -> None:
    from vidcodec.container import EXT_SAMPLE_ASPECT, sample_aspect

    assert sample_aspect(make_header()) is None
    assert sample_aspect(make_header(extensions={EXT_SAMPLE_ASPECT: struct.pack("<II", 64, 45)})) == Fraction(64, 45)
    for bad in (b"\x01", struct.pack("<II", 0, 1), struct.pack("<II", 1, 70000)):
        assert sample_aspect(make_header(extensions={EXT_SAMPLE_ASPECT: bad})) is None
    assert "sample aspect ratio entry is damaged" in caplog.text


def test_identical_input_gives_identical_bytes() -> None:
    header = make_header(model_hash=bytes(32), extensions={2: b"b", 1: b"a"})
    packets = [(KEY, 0, b"\x01\x02"), (DELTA, 1, b"")]
    first, _ = write_stream(packets, header)
    second, _ = write_stream(packets, make_header(model_hash=bytes(32), extensions={1: b"a", 2: b"b"}))
    assert first == second
    assert hashlib.sha256(first).hexdigest() == (
        "60b9818c33fb74ef2c30643eddd209b3b6a3ba355179dbe77c2126c3fd66f6f9"  # format 15.0
    )
    # 15.0 changed mode 0 payloads only (the learned predictor's gains): kept at 14.1 the container
    # gives 14.1's bytes.
    v141, _ = write_stream(packets, make_header(model_hash=bytes(32), extensions={1: b"a", 2: b"b"}, version=(14, 1)))
    assert hashlib.sha256(v141).hexdigest() == "2aede7059ee14dd63aeece75a8a79fe0212e30bb2e695fcc86bcb2c601d98f6c"
    # 14.1 changed only the version in these bytes: kept at 14.0 it gives 14.0's.
    v14, _ = write_stream(packets, make_header(model_hash=bytes(32), extensions={1: b"a", 2: b"b"}, version=(14, 0)))
    assert hashlib.sha256(v14).hexdigest() == "c6f9a0d0fd8ade449e2fa63557ad04329d0d90beafc0afae23ac17cf21b81a33"
    # 14.0 changed mode 0 payloads only: kept at 13.0 the container gives 13.0's bytes.
    v13, _ = write_stream(packets, make_header(model_hash=bytes(32), extensions={1: b"a", 2: b"b"}, version=(13, 0)))
    assert hashlib.sha256(v13).hexdigest() == "4763a9b4ce02f9432aeb8016dc69215228c4c274358689370fb5e157b35c7db1"
    # 13.0 changed the packet headers: kept at 12.0 it gives 12.0's bytes.
    v12, _ = write_stream(packets, make_header(model_hash=bytes(32), extensions={1: b"a", 2: b"b"}, version=(12, 0)))
    assert hashlib.sha256(v12).hexdigest() == "651e643209102d4f26cb9e8ba613bdf94207c82b72a4bf74777c024e6cde37c2"
    # 12.0 changed the packet headers: kept at 11.1 it gives 11.1's bytes.
    v111, _ = write_stream(packets, make_header(model_hash=bytes(32), extensions={1: b"a", 2: b"b"}, version=(11, 1)))
    assert hashlib.sha256(v111).hexdigest() == "6adc23b24e670575ac201dd4465b19a715c6526eedc7177ed021bfa4194cbb0b"
    # 11.1 changed only the version in these bytes: kept at 11.0 it gives 11.0's.
    v11, _ = write_stream(packets, make_header(model_hash=bytes(32), extensions={1: b"a", 2: b"b"}, version=(11, 0)))
    assert hashlib.sha256(v11).hexdigest() == "94dcc8ebf495cf36486afdeece419ad194268d0dd93d42dc84043e19242d42bf"
    # 11.0 changed only the version in these bytes: kept at 10.0 it gives 10.0's.
    v10, _ = write_stream(packets, make_header(model_hash=bytes(32), extensions={1: b"a", 2: b"b"}, version=(10, 0)))
    assert hashlib.sha256(v10).hexdigest() == "377481a9a4841916a53b850c1be2161b6c3814bb4de63b35a7bbcf7a7f051082"
    # 7.0 changed the packet headers; 6.0 only the version: a header kept at 6.0 or 5.0 gives its bytes.
    v6, _ = write_stream(packets, make_header(model_hash=bytes(32), extensions={1: b"a", 2: b"b"}, version=(6, 0)))
    assert hashlib.sha256(v6).hexdigest() == "ce5cfb6f32377f44e55d6b8910d3fa21cc580e7b70a8e600706ebaa1ab9c2901"
    v5, _ = write_stream(packets, make_header(model_hash=bytes(32), extensions={1: b"a", 2: b"b"}, version=(5, 0)))
    assert hashlib.sha256(v5).hexdigest() == "ba5a0f6a45e7acd37a84defe3609e1106456a4f60363923cd55544cb54fe8b29"
    # A header that keeps an older stream's version writes that version's bytes (same hash as in 1.1).
    old, _ = write_stream(packets, make_header(model_hash=bytes(32), extensions={1: b"a", 2: b"b"}, version=(1, 1)))
    assert hashlib.sha256(old).hexdigest() == "5a2fac6faa05fc035b9125356cf83389f63b413b942373a2898d7212f1b66f02"
    assert GvcReader(io.BytesIO(old)).header.version == (1, 1)


def test_packets_index_and_footer_follow_the_documented_layout() -> None:
    header = make_header()
    data, offsets = write_stream([(KEY, 0, b"\x01\x02"), (DELTA, 1, b"")], header)
    packets = packet_bytes(1, 0, b"\x01\x02") + packet_bytes(2, 1, b"")
    index_at = len(encode_header(header)) + len(packets)
    entries = struct.pack("<qQ", 0, offsets[0])
    index = b"\xa7GVI" + struct.pack("<IQI", 1, 2, zlib.crc32(entries))
    footer = struct.pack("<QI", index_at, 1)
    expected = (
        encode_header(header)
        + packets
        + index
        + struct.pack("<I", zlib.crc32(index))
        + entries
        + footer
        + struct.pack("<I", zlib.crc32(footer))
        + b"\xa7GVE"
    )
    assert data == expected


def test_parameters_packet_carries_a_decodable_header_copy() -> None:
    header = make_header()
    data, _ = write_stream([(PacketType.PARAMETERS, 0, encode_header(header)), (KEY, 0, b"k")])
    first = read_all(data)[0]
    assert isinstance(first, Packet)
    assert decode_header(first.payload) == header


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("width", 16385),
        ("height", 0),
        ("model_name", "x" * 256),
        ("model_name", ""),
        ("model_hash", b"\0" * 31),
        ("time_base", (1, 0)),
        ("frame_rate", (30, 0)),
        ("latent_shape", (0, 1, 1)),
        ("coder", 7),
        ("colour_matrix", 3),
        ("extensions", {70000: b""}),
    ],
)
def test_headers_the_format_cannot_store_are_usage_errors(field: str, value: object) -> None:
    with pytest.raises(UsageError, match=field.rstrip("s")):
        make_header(**{field: value})


def test_header_field_over_its_cap_is_rejected_when_read() -> None:
    data, _ = write_stream()
    with pytest.raises(FormatError, match=r"width must be .* \[1, 16384\]"):
        GvcReader(io.BytesIO(rewrite_header(data, 16, "<I", 16385)))
    with pytest.raises(FormatError, match="unexplained bytes|too short|overruns"):
        GvcReader(io.BytesIO(rewrite_header(data, 63, "<B", 255)))  # model name longer than the header


def name_and_extensions(name: bytes, extensions: bytes, count: int) -> bytes:
    """A complete file header with a valid CRC around a hand-built name and extension area."""
    fields = encode_header(make_header())[16:96]
    fields = fields[:47] + bytes([len(name)]) + fields[48:]
    body = b"\x8aGVC\r\n\x1a\n" + struct.pack("<HHI", 1, 0, 96 + len(name) + 2 + len(extensions) + 4)
    body += fields + name + struct.pack("<H", count) + extensions
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize(
    ("name", "extensions", "count", "error"),
    [
        (b"\xff\xfe", b"", 0, "not valid UTF-8"),
        (
            b"m",
            struct.pack("<HI", 5, 1) + b"a" + struct.pack("<HI", 5, 1) + b"b",
            2,
            "repeats extension tag 5",
        ),
        (b"m", struct.pack("<HI", 5, 9) + b"a", 1, "extension 5 .* overruns"),
        (b"m", struct.pack("<HI", 5, 1) + b"a", 2, "extension list overruns"),
        (b"m", struct.pack("<HI", 5, 1) + b"a", 0, "7 unexplained bytes"),
        (b"", b"", 0, r"header size 102 is outside \[103, "),
    ],
)
def test_malformed_header_behind_a_valid_crc_is_a_format_error(
    name: bytes, extensions: bytes, count: int, error: str
) -> None:
    data = name_and_extensions(name, extensions, count)
    with pytest.raises(FormatError, match=error):
        decode_header(data)
    with pytest.raises(FormatError, match=error):
        GvcReader(Pipe(data))


def test_oversized_header_size_is_rejected_before_reading_it() -> None:
    data, _ = write_stream()
    source = Pipe(data[:12] + struct.pack("<I", 0x7FFF_FFFF) + data[16:], chunk=1 << 30)
    with pytest.raises(FormatError, match="header size"):
        GvcReader(source)
    assert source.largest_read <= 16


def test_oversized_payload_size_is_rejected_before_reading_it() -> None:
    data, offsets = write_stream()
    bad = data[: offsets[1]] + packet_bytes(2, 5, b"", size=MAX_PAYLOAD_SIZE + 1)
    source = Pipe(bad, chunk=1 << 30)
    with pytest.raises(CorruptPacketError, match="cap"):
        list(GvcReader(source))
    assert source.largest_read <= 1 << 20


def test_oversized_index_entry_count_is_rejected_before_reading_it() -> None:
    data, _ = write_stream()
    index_start = index_offset(data)
    head = b"\xa7GVI" + struct.pack("<IQI", (1 << 24) + 1, 9, 0)
    source = Pipe(data[:index_start] + head + struct.pack("<I", zlib.crc32(head)), chunk=1 << 30)
    with pytest.raises(CorruptPacketError, match="claims 16777217 entries"):
        list(GvcReader(source))
    assert source.largest_read <= 1 << 20
    footer = struct.pack("<QI", index_start, (1 << 24) + 1)
    forged = data[:-20] + footer + struct.pack("<I", zlib.crc32(footer)) + b"\xa7GVE"
    assert GvcReader(io.BytesIO(forged)).index() is None


def test_header_crc_mismatch_is_a_format_error() -> None:
    data, _ = write_stream()
    with pytest.raises(FormatError, match="header CRC"):
        GvcReader(io.BytesIO(flip_bit(data, 20)))


def test_unknown_major_version_names_the_supported_one() -> None:
    data, _ = write_stream()
    future = rewrite_header(rewrite_header(data, 8, "<H", 16), 10, "<H", 0)  # a newer writer's: its CRC holds
    with pytest.raises(
        UnsupportedVersionError,
        match=r"version 16\.0.*reads only format version 1\.x, 2\.x, 3\.x, 4\.x, 5\.x, 6\.x, 7\.x, 8\.x, 9\.x, 10\.x, 11\.x, "
              r"12\.x, 13\.x, 14\.x, 15\.x.*upgrade"
    ):
        GvcReader(io.BytesIO(future))


def test_a_damaged_version_field_is_named_as_damage_or_a_newer_format() -> None:
    """A bit flipped in the version field told the user only to upgrade vidcodec: where the header's CRC
    fails too, the error says that it is damaged or from a newer vidcodec (whose header may be checked
    otherwise). A newer format whose header is out of today's size range is named as such."""
    data, _ = write_stream()
    with pytest.raises(UnsupportedVersionError, match=r"names \.gvc format version 240\.0.*fails the header CRC.*"
                                                      r"damaged, or a newer vidcodec wrote it"):
        GvcReader(io.BytesIO(data[:8] + bytes([data[8] ^ 0xFF]) + data[9:]))
    with pytest.raises(FormatError, match=r"header CRC mismatch .*: header damaged$"):  # a known version: damage
        GvcReader(io.BytesIO(data[:10] + bytes([data[10] ^ 0x01]) + data[11:]))  # the minor version
    with pytest.raises(FormatError, match=r"header CRC mismatch .*: header damaged$") as e:  # 0.x: never newer
        GvcReader(io.BytesIO(data[:8] + b"\x00\x00" + data[10:]))
    assert not isinstance(e.value, UnsupportedVersionError)
    oversized = data[:8] + struct.pack("<HHI", 16, 0, MAX_HEADER_SIZE + 1) + data[16:]
    with pytest.raises(UnsupportedVersionError, match=r"version 16\.0"):
        GvcReader(io.BytesIO(oversized))


def test_newer_minor_version_is_still_read() -> None:
    data, _ = write_stream()
    reader = GvcReader(io.BytesIO(rewrite_header(data, 10, "<H", 9)))
    assert reader.version == (FORMAT_VERSION[0], 9)
    assert as_tuples(list(reader)) == PACKETS


@pytest.mark.parametrize(
    ("start", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "MP4"),
        (b"hello, world\n", ""),
    ],
)
def test_non_gvc_file_is_a_format_error_suggesting_encode(start: bytes, kind: str) -> None:
    with pytest.raises(
        FormatError, match=rf"not a \.gvc file \(bad magic.*{kind}.*\): this reads vidcodec streams; to make one from a video, `vidcodec encode` it"
    ):
        GvcReader(io.BytesIO(start))


def test_text_mode_mangled_magic_is_named() -> None:
    data, _ = write_stream()
    with pytest.raises(FormatError, match="text mode"):
        GvcReader(io.BytesIO(data.replace(b"\r\n", b"\n", 1)))


def test_empty_file_is_truncated_at_offset_zero() -> None:
    with pytest.raises(TruncatedStreamError) as info:
        GvcReader(io.BytesIO(b""))
    assert info.value.offset == 0


# --- packets and streaming ----------------------------------------------------------------------------


def test_packets_round_trip_with_offsets_and_fields() -> None:
    out = io.BytesIO()
    with GvcWriter(out, make_header()) as writer:
        offsets = [
            writer.write_packet(KEY, -(1 << 63), b"", stream_index=0, flags=0),
            writer.write_packet(DELTA, (1 << 63) - 1, b"abc", stream_index=255, flags=0xA5),
            writer.write_packet(PacketType.PARAMETERS, 3, bytes(range(256)), stream_index=1, flags=1),
        ]
    packets = read_all(out.getvalue())
    assert [(p.stream_index, p.kind, p.flags, p.pts, p.payload, p.offset) for p in packets] == [
        (0, KEY, 0, -(1 << 63), b"", offsets[0]),
        (255, DELTA, 0xA5, (1 << 63) - 1, b"abc", offsets[1]),
        (1, PacketType.PARAMETERS, 1, 3, bytes(range(256)), offsets[2]),
    ]


def test_reading_from_a_non_seekable_pipe() -> None:
    data, _ = write_stream()
    reader = GvcReader(Pipe(data))
    assert not reader.seekable
    assert as_tuples(list(reader)) == PACKETS
    index = reader.index()  # met at the end of the sequential read
    assert index is not None
    assert index.frame_count == len(PACKETS)
    with pytest.raises(UsageError, match="seekable"):
        reader.seek_to_keyframe(0)


def test_writer_to_a_pipe_flushes_every_packet_without_seeking() -> None:
    sink = PipeSink()
    with GvcWriter(sink, make_header()) as writer:
        for kind, pts, payload in PACKETS:
            writer.write_packet(kind, pts, payload)
            assert sink.flushed[-1] == writer.bytes_written == len(sink.data)
            assert as_tuples(read_all(bytes(sink.data)))[-1] == (kind, pts, payload)
    assert bytes(sink.data) == write_stream()[0]


def test_paths_are_opened_and_closed(tmp_path: Path) -> None:
    path = tmp_path / "clip.gvc"
    with GvcWriter(path, make_header()) as writer:
        writer.write_packet(KEY, 0, b"frame")
    with GvcReader(path) as reader:
        assert as_tuples(list(reader)) == [(KEY, 0, b"frame")]
    assert probe(path)["frames"] == 1


def test_reserved_packet_type_is_skipped() -> None:
    data, offsets = write_stream()
    spliced = data[: offsets[2]] + packet_bytes(9, 0, b"future") + data[offsets[2] :]
    assert as_tuples(read_all(spliced)) == PACKETS


# --- truncation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("resync", [False, True])
def test_truncation_at_every_byte_offset(resync: bool) -> None:
    data, offsets = write_stream()
    header_size, index_start = offsets[0], index_offset(data)
    ends = [*offsets[1:], index_start]  # end offset of each packet
    for cut in range(len(data) + 1):
        if cut < header_size:
            with pytest.raises(TruncatedStreamError) as info:
                GvcReader(io.BytesIO(data[:cut]))
            assert info.value.offset == cut
            continue
        reader = GvcReader(io.BytesIO(data[:cut]), resync=resync)
        items: list[Packet | Damaged] = []
        complete = sum(end <= cut for end in ends)
        clean = cut in (header_size, *ends) or cut >= len(data) - 20
        if clean:
            items.extend(reader)
        else:
            with pytest.raises(TruncatedStreamError) as info:
                items.extend(reader)
            assert info.value.offset == cut
            assert f"byte offset {cut}" in str(info.value)
            assert f"{complete} complete packet" in str(info.value)
        assert as_tuples(items) == PACKETS[:complete], cut
        assert all(isinstance(item, Packet) for item in items)
        assert (reader.index() is not None) == (cut == len(data))


# --- damage and resync --------------------------------------------------------------------------------


def test_payload_bit_flip_raises_corrupt_packet() -> None:
    data, offsets = write_stream()
    with pytest.raises(CorruptPacketError, match=f"payload of the packet at offset {offsets[3]}.*resync"):
        read_all(flip_bit(data, offsets[3] + header_sizes(data)[3] + 2))


def test_payload_bit_flip_with_resync_reports_damage_and_reads_on() -> None:
    data, offsets = write_stream()
    items = read_all(flip_bit(data, offsets[3] + header_sizes(data)[3] + 2, 7), resync=True)
    # the damaged packet's stream and pts: its header passed its CRC
    assert items[3] == Damaged(offsets[3], offsets[4] - offsets[3], items[3].reason, 0,  # type: ignore[union-attr]
                               PACKETS[3][1], PACKETS[3][0])
    assert items[3].loses_frames  # type: ignore[union-attr]
    assert as_tuples(items) == PACKETS[:3] + PACKETS[4:]


def test_a_damaged_parameters_packet_loses_no_frame() -> None:
    out = io.BytesIO()
    with GvcWriter(out, make_header(), repeat_header=True) as writer:
        offsets = [writer.write_packet(kind, pts, payload) for kind, pts, payload in PACKETS]
    data = bytearray(out.getvalue())
    params = [p for p in GvcReader(io.BytesIO(bytes(data))) if p.kind is PacketType.PARAMETERS]
    data[params[1].offset + params[1].header_size + 30] ^= 0x01  # in its payload: the header it repeats
    items = read_all(bytes(data), resync=True)
    damaged = [i for i in items if isinstance(i, Damaged)]
    assert len(damaged) == 1 and damaged[0].kind == PacketType.PARAMETERS and not damaged[0].loses_frames
    assert [p.offset for p in items if isinstance(p, Packet) and p.kind is not PacketType.PARAMETERS] == offsets


@pytest.mark.parametrize("bit", [0, 6])
def test_size_field_bit_flip_is_caught_by_header_crc_and_resync_finds_next_packet(bit: int) -> None:
    # Deltas have no sync marker (12.0 on): after a damaged packet header the reader finds the stream
    # again at the next packet that has one, here the next key (the deltas between would not decode
    # without the lost packet anyway). In 11.x every packet has one: it resumes at the very next.
    for version, number, resume in ((FORMAT_VERSION, 4, 8), (FORMAT_VERSION, 5, 8), ((12, 0), 5, 8), ((11, 1), 5, 6)):
        data, offsets = write_stream(header=make_header(version=version))
        pts = PACKETS[number][1]
        checks = 2 + (2 if version == FORMAT_VERSION else 4)  # header CRC, payload check (16 bits from 13.0)
        size_at = offsets[number] + header_sizes(data)[number] - checks - 1  # the size varint's last byte
        assert data[size_at] == len(PACKETS[number][2])
        damaged = flip_bit(data, size_at, bit)
        with pytest.raises(CorruptPacketError, match=f"packet header at offset {offsets[number]} fails its CRC"):
            read_all(damaged)
        items = read_all(damaged, resync=True)
        assert items[number] == Damaged(offsets[number], offsets[resume] - offsets[number], items[number].reason)  # type: ignore[union-attr]
        assert as_tuples(items) == PACKETS[:number] + PACKETS[resume:], (version, number, pts)


@pytest.mark.parametrize("version", [FORMAT_VERSION, (12, 0)])
def test_12x_deltas_carry_no_sync_marker_and_other_packets_do(version) -> None:
    data, offsets = write_stream(header=make_header(version=version))
    starts = [data[o : o + 4] == b"\xa7GVP" for o in offsets]
    assert starts == [kind != DELTA for kind, _, _ in PACKETS]
    # 13.0: a delta's pts is the difference from the frame before it, the payload check 16 bits
    v13 = version == FORMAT_VERSION
    coded = [pts - PACKETS[i - 1][1] if v13 and kind == DELTA else pts for i, (kind, pts, _) in enumerate(PACKETS)]
    assert [p.header_size for p in read_all(data)] == [
        4 * (kind != DELTA) + 1 + len(leb128(2 * pts)) + len(leb128(len(payload))) + (4 if v13 else 6)
        for (kind, _, payload), pts in zip(PACKETS, coded, strict=True)]
    assert data[offsets[0] : offsets[4]] == b"".join(
        packet_bytes(kind, pts, payload, v12=not v13, prev=PACKETS[i - 1][1] if i else 0)
        for i, (kind, pts, payload) in enumerate(PACKETS[:4]))
    # A delta's header behind a sync marker, or a key's without one, is damage (one encoding each).
    for kind, sync in ((DELTA, b"\xa7GVP"), (KEY, b"")):
        head = sync + bytes([kind, 2, 0]) + (struct.pack("<H", 0) if v13 else struct.pack("<I", zlib.crc32(b"")))
        forged = data[: offsets[4]] + head + struct.pack("<H", zlib.crc32(head) & 0xFFFF) + data[offsets[4] :]
        with pytest.raises(CorruptPacketError, match="sync marker"):
            read_all(forged)
        items = read_all(forged, resync=True)
        assert isinstance(items[4], Damaged) and as_tuples(items) == PACKETS


def test_13x_deltas_lost_their_time_after_damage_until_the_next_keyframe() -> None:
    # A 13.0 delta's pts is its distance from the frame before it. After a damaged header the reader
    # scans to the next sync marker, here an audio packet inside the GOP: the deltas after it cannot be
    # timed (nor decoded: their reference is gone), each is a Damaged record of its own, and the next
    # keyframe carries its pts whole.
    packets = [(KEY, 0, b"k0"), (DELTA, 10, b"d1"), (DELTA, 20, b"d2"), (KEY, 25, b"audio"), (DELTA, 30, b"d3"),
               (DELTA, 40, b"d4"), (KEY, 50, b"k5")]
    out = io.BytesIO()
    with GvcWriter(out, make_header()) as writer:
        offsets = [writer.write_packet(kind, pts, payload, stream_index=int(payload == b"audio"))
                   for kind, pts, payload in packets]
    data = out.getvalue()
    assert [(p.kind, p.pts, p.payload) for p in read_all(data)] == packets
    damaged = flip_bit(data, offsets[2] + 1)  # the pts varint of the second delta
    items = read_all(damaged, resync=True)
    assert [(p.kind, p.pts, p.payload) for p in items if isinstance(p, Packet)] == [packets[i] for i in (0, 1, 3, 6)]
    lost = [p for p in items if isinstance(p, Damaged)]
    assert [d.offset for d in lost] == [offsets[2], offsets[4], offsets[5]]
    assert all("timed from a frame this reader did not read" in d.reason for d in lost[1:])
    with pytest.raises(CorruptPacketError, match="fails its CRC"):
        read_all(damaged)


def test_resync_skips_inserted_garbage_with_false_sync_markers() -> None:
    data, offsets = write_stream()
    garbage = b"\xa7GV" + b"\xa7GVP" + bytes(40) + b"\xa7GVI" + bytes(30)
    items = read_all(data[: offsets[4]] + garbage + data[offsets[4] :], resync=True)  # before a key
    assert items[4] == Damaged(offsets[4], len(garbage), items[4].reason)  # type: ignore[union-attr]
    assert as_tuples(items) == PACKETS


def test_resync_reports_trailing_garbage_and_stops() -> None:
    data, offsets = write_stream()
    items = read_all(data[: offsets[4]] + b"\xa7GVPjunk" * 5, resync=True)
    assert as_tuples(items) == PACKETS[:4]
    assert items[-1] == Damaged(offsets[4], 40, items[-1].reason)  # type: ignore[union-attr]


def test_damaged_index_chunk_is_reported_not_trusted() -> None:
    data, _ = write_stream()
    index_start = index_offset(data)
    damaged = flip_bit(data, index_start + 30)
    assert GvcReader(io.BytesIO(damaged)).index() is None
    with pytest.raises(CorruptPacketError, match="keyframe index"):
        read_all(damaged)
    items = read_all(damaged, resync=True)
    assert as_tuples(items) == PACKETS
    assert isinstance(items[-1], Damaged)


# --- index, seeking, writer lifecycle -----------------------------------------------------------------


def test_index_present_after_clean_close_and_seek_to_keyframe() -> None:
    data, offsets = write_stream()
    reader = GvcReader(io.BytesIO(data))
    index = reader.index()
    assert index is not None
    assert index.frame_count == len(PACKETS)
    assert index.entries == (
        IndexEntry(0, offsets[0]),
        IndexEntry(4000, offsets[4]),
        IndexEntry(8000, offsets[8]),
    )
    assert reader.seek_to_keyframe(6500) == IndexEntry(4000, offsets[4])
    assert as_tuples(list(reader)) == PACKETS[4:]
    assert reader.seek_to_keyframe(8000).offset == offsets[8]
    assert reader.seek_to_keyframe(-5).offset == offsets[0]  # before the first key: the first key


def test_seek_without_index_falls_back_to_a_scan() -> None:
    data, offsets = write_stream()
    cut = data[: index_offset(data)]  # as if the writer was killed before close()
    reader = GvcReader(io.BytesIO(cut))
    assert reader.index() is None
    assert reader.seek_to_keyframe(7999) == IndexEntry(4000, offsets[4])
    assert as_tuples(list(reader)) == PACKETS[4:]


def test_exception_inside_with_block_still_writes_the_index() -> None:
    out = io.BytesIO()
    with pytest.raises(RuntimeError), GvcWriter(out, make_header()) as writer:
        writer.write_packet(KEY, 0, b"a")
        raise RuntimeError("encoder failed")
    index = GvcReader(io.BytesIO(out.getvalue())).index()
    assert index is not None
    assert index.frame_count == 1


def test_too_many_keyframes_for_the_index_cap_leaves_no_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container, "MAX_INDEX_ENTRIES", 2)
    data, _ = write_stream()
    reader = GvcReader(io.BytesIO(data))
    assert reader.index() is None
    assert as_tuples(list(reader)) == PACKETS


def test_failed_write_leaves_a_truncated_stream_without_index() -> None:
    class FailingSink(PipeSink):
        def write(self, data: bytes) -> int:
            if len(self.data) > 160:  # inside the fourth packet
                raise BrokenPipeError("reader went away")
            return super().write(data)

    sink = FailingSink()
    with pytest.raises(BrokenPipeError), GvcWriter(sink, make_header()) as writer:
        for kind, pts, payload in PACKETS:
            writer.write_packet(kind, pts, payload)
    with pytest.raises(TruncatedStreamError):
        read_all(bytes(sink.data))
    with pytest.raises(UsageError, match="failed"):
        writer.write_packet(KEY, 0, b"")


def test_write_after_close_and_bad_arguments_are_usage_errors() -> None:
    writer = GvcWriter(io.BytesIO(), make_header())
    with pytest.raises(UsageError, match="kind"):
        writer.write_packet(7, 0, b"")
    with pytest.raises(UsageError, match="stream_index"):
        writer.write_packet(KEY, 0, b"", stream_index=256)
    with pytest.raises(UsageError, match="payload"):
        writer.write_packet(KEY, 0, "text")  # type: ignore[arg-type]
    writer.close()
    writer.close()
    with pytest.raises(UsageError, match="after close"):
        writer.write_packet(KEY, 0, b"")


# --- probe --------------------------------------------------------------------------------------------


def test_probe_reports_header_packet_statistics_and_index() -> None:
    data, _ = write_stream()
    info = probe(io.BytesIO(data))
    assert info["header"]["width"] == 64
    assert info["header"]["time_base"] == "1/30"
    assert info["packets"]["key"] == {
        "count": 3,
        "total_bytes": 60,
        "min_bytes": 0,
        "max_bytes": 40,
        "mean_bytes": 20.0,
    }
    assert info["packets"]["delta"]["count"] == 6
    assert info["keyframe_pts"] == [0, 4000, 8000]
    assert info["duration_seconds"] == pytest.approx(8000 / 30 + 1 / 30)
    assert info["index_present"]
    assert info["damaged"] == []
    assert info["truncated"] is None


def test_probe_reports_damage_and_truncation_instead_of_raising() -> None:
    data, offsets = write_stream()
    broken = flip_bit(data, offsets[2] + header_sizes(data)[2])[: offsets[7] + 10]
    info = probe(io.BytesIO(broken))
    assert info["frames"] == 6
    assert [d["offset"] for d in info["damaged"]] == [offsets[2]]
    assert info["truncated"]["offset"] == offsets[7] + 10
    assert not info["index_present"]


# --- fuzzing ------------------------------------------------------------------------------------------

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID, VALID_OFFSETS = write_stream()
HEADER_SIZE = VALID_OFFSETS[0]


def exercise(data: bytes) -> None:
    """Use every reading entry point on data; only vidcodec errors may escape."""
    for resync in (False, True):
        try:
            reader = GvcReader(io.BytesIO(data), resync=resync)
            list(reader)
            reader.index()
            reader.seek_to_keyframe(4000)
            list(reader)
        except VidcodecError:
            pass
    try:
        list(GvcReader(Pipe(data, chunk=64), resync=True))
        probe(io.BytesIO(data))
    except VidcodecError:
        pass


CHUNKS = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [b"\xa7GVP", b"\xa7GVI", b"\xa7GVE", VALID[HEADER_SIZE : HEADER_SIZE + PACKET_HEADER_SIZE]]
    ),
)


@FUZZ
@given(st.binary(max_size=400), st.lists(CHUNKS, max_size=12).map(b"".join))
def test_fuzz_random_bytes_raise_only_vidcodec_errors(data: bytes, packets: bytes) -> None:
    exercise(data)
    exercise(VALID[:HEADER_SIZE] + packets)


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255), st.sampled_from("xid")),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, len(VALID)),
)
def test_fuzz_mutated_valid_files_raise_only_vidcodec_errors(
    edits: list[tuple[int, int, str]], cut: int
) -> None:
    data = bytearray(VALID)
    for at, value, op in edits:
        at = min(at, len(data) - 1)
        if op == "x":
            data[at] ^= value or 1
        elif op == "i":
            data[at:at] = bytes([value]) * (value % 7 + 1)
        else:
            del data[at : at + value % 30]
    exercise(bytes(data[:cut]))


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from(["header", *range(9)]), st.integers(0, 200), st.integers(0, 255)),
        min_size=1,
        max_size=4,
    )
)
def test_fuzz_field_edits_behind_valid_crcs_raise_only_vidcodec_errors(
    edits: list[tuple[str | int, int, int]],
) -> None:
    data = bytearray(VALID)
    for target, at, value in edits:
        if target == "header":
            data[8 + at % (HEADER_SIZE - 12)] = value
            size = struct.unpack_from("<I", data, 12)[0]
            if 16 < size <= len(data):
                struct.pack_into("<I", data, size - 4, zlib.crc32(data[: size - 4]))
        else:
            start = VALID_OFFSETS[int(target)]
            data[start + 4 + at % 19] = value
            struct.pack_into("<I", data, start + 23, zlib.crc32(data[start : start + 23]))
    exercise(bytes(data))


# --- format 7.0 packet headers ------------------------------------------------------------------------


def test_7x_packet_headers_are_15_to_28_bytes_and_carry_any_i64_pts() -> None:
    extremes = [(KEY, pts, b"p" * n) for pts, n in ((0, 0), (-1, 1), (2**63 - 1, 200), (-(2**63), 3), (63, 127))]
    data, offsets = write_stream(extremes, make_header(version=(11, 1)))
    items = read_all(data)
    assert as_tuples(items) == extremes
    # sync 4, stream/type/flags 3, pts 1-10, size 1-5 (here 1-2), payload CRC 4, header CRC 2
    assert [p.header_size for p in items] == [15, 15, 4 + 3 + 10 + 2 + 6, 4 + 3 + 10 + 1 + 6, 4 + 3 + 1 + 1 + 6]
    assert data[offsets[0] : offsets[1]] == packet_bytes(KEY, 0, b"", v7=True)


def test_12x_packet_headers_are_13_to_29_bytes_and_carry_any_i64_pts() -> None:
    extremes = [(KEY, pts, b"p" * n) for pts, n in ((0, 0), (-1, 1), (2**63 - 1, 200), (-(2**63), 3), (63, 127))]
    data, offsets = write_stream(extremes)
    items = read_all(data)
    assert as_tuples(items) == extremes
    # sync 4, packet byte 1, pts 1-10, size 1-5 (here 1-2), payload check 2 (13.0; 4 before), header CRC 2
    assert [p.header_size for p in items] == [11, 11, 4 + 1 + 10 + 2 + 4, 4 + 1 + 10 + 1 + 4, 4 + 1 + 1 + 1 + 4]
    assert data[offsets[0] : offsets[1]] == packet_bytes(KEY, 0, b"")
    # Fields the packet byte cannot hold are escaped: 0, then stream, type and flags bytes (14 bytes).
    out = io.BytesIO()
    with GvcWriter(out, make_header()) as writer:
        for stream, flags in ((0, 7), (3, 1), (4, 0), (0, 8), (200, 255)):
            writer.write_packet(DELTA, 5, b"x", stream_index=stream, flags=flags)
    got = [(p.stream_index, p.flags, p.kind, p.pts, p.header_size) for p in read_all(out.getvalue())]
    # (a stream-0 delta in short form has no sync marker: 7 bytes; its pts counts from 0, there being no
    # frame before it)
    assert got == [(0, 7, DELTA, 5, 7), (3, 1, DELTA, 5, 11), (4, 0, DELTA, 5, 14), (0, 8, DELTA, 5, 14),
                   (200, 255, DELTA, 5, 14)]


def test_pts_step_is_one_frame_in_time_base_units_when_whole() -> None:
    from vidcodec.container import pts_step

    def step(time_base, frame_rate, version=FORMAT_VERSION) -> int:
        return pts_step(make_header(time_base=time_base, frame_rate=frame_rate, version=version))

    assert step((1, 12800), (25, 1)) == 512
    assert step((1, 90000), (30000, 1001)) == 3003
    assert step((1, 30000), (30000, 1001)) == 1001
    assert step((1, 25), (25, 1)) == 1  # the time base is the frame rate's: nothing to gain
    assert step((1, 1000), (24, 1)) == 1  # 41.67 units a frame: not whole
    assert step((1, 12800), (0, 0)) == 1  # unknown rate
    assert step((1, 12800), (25, 1), version=(11, 1)) == 1  # before 12.0 there is no step


def lean_packet(fields: bytes, pts_code: bytes, payload: bytes = b"") -> bytes:
    """A hand-built 13.x packet with sync marker and valid CRCs around the given packet byte(s) and pts varint."""
    head = b"\xa7GVP" + fields + pts_code + leb128(len(payload)) + struct.pack("<H", zlib.crc32(payload) & 0xFFFF)
    return head + struct.pack("<H", zlib.crc32(head) & 0xFFFF) + payload


def test_12x_stream_0_frames_count_their_pts_in_steps_and_other_packets_do_not() -> None:
    # 25 fps in a 1/12800 time base (MP4's usual): frame n has pts 512 n, a key's written as n (one byte
    # up to frame 63, two up to 8191) with bit 5 of the packet byte set, a delta's (13.0) as its distance
    # from the frame before it in frames; a pts or distance off the grid, the audio and the parameters
    # packets keep their time-base units.
    header = make_header(time_base=(1, 12800), frame_rate=(25, 1))
    out = io.BytesIO()
    with GvcWriter(out, header, repeat_header=True) as writer:
        for kind, pts, stream in ((KEY, 0, 0), (DELTA, 512, 0), (DELTA, 512 * 100, 0), (DELTA, 51300, 0),
                                  (KEY, 512, 1), (DELTA, -512, 0)):
            writer.write_packet(kind, pts, b"p", stream_index=stream)
    items = read_all(out.getvalue())
    assert [(p.kind, p.stream_index, p.pts) for p in items] == [
        (PacketType.PARAMETERS, 0, 0), (KEY, 0, 0), (DELTA, 0, 512), (DELTA, 0, 51200), (DELTA, 0, 51300),
        (KEY, 1, 512), (DELTA, 0, -512)]
    assert [p.header_size for p in items[1:]] == [11, 7, 8, 8, 12, 9]  # deltas: no sync marker
    data = out.getvalue()
    assert data[items[2].offset] == 0x20 | DELTA and data[items[2].offset + 1] == 2  # stepped, zigzag(1)
    assert data[items[3].offset] == 0x20 | DELTA and data[items[3].offset + 1 : items[3].offset + 3] == leb128(2 * 99)
    assert data[items[4].offset] == DELTA and data[items[4].offset + 1 : items[4].offset + 3] == leb128(2 * 100)
    assert data[items[6].offset] == DELTA and data[items[6].offset + 1 : items[6].offset + 4] == leb128(2 * 51812 - 1)
    assert data[items[5].offset + 4] == 1 << 6 | KEY  # stream 1, not stepped
    assert probe(io.BytesIO(data))["header"]["pts_step"] == 512  # vidcodec info shows it


@pytest.mark.parametrize(
    ("fields", "rate", "error"),
    [
        (bytes([0x20 | 1 << 6 | KEY]), (25, 1), "counts its pts in steps"),  # stream 1: never stepped
        (bytes([0x20 | PacketType.PARAMETERS]), (25, 1), "counts its pts in steps"),
        (bytes([0x20 | KEY]), (0, 0), "counts its pts in steps"),  # a stream without a step
        (bytes([0, 0, KEY, 0]), (25, 1), "escapes fields"),  # fits the packet byte
        (bytes([0x04]), (25, 1), "packet byte 0x04"),  # type 0 with a flag
    ],
)
def test_12x_packet_headers_that_break_the_rules_are_damage(fields: bytes, rate: tuple[int, int], error: str) -> None:
    data, offsets = write_stream(header=make_header(time_base=(1, 12800), frame_rate=rate))
    forged = data[: offsets[4]] + lean_packet(fields, b"\x02") + data[offsets[4] :]  # before a key
    with pytest.raises(CorruptPacketError, match=error):
        read_all(forged)
    items = read_all(forged, resync=True)
    assert isinstance(items[4], Damaged) and as_tuples(items) == PACKETS


def test_6x_streams_keep_their_27_byte_packet_headers() -> None:
    data, offsets = write_stream(header=make_header(version=(6, 0)))
    items = read_all(data)
    assert as_tuples(items) == PACKETS and {p.header_size for p in items} == {PACKET_HEADER_SIZE}
    assert data[offsets[1] : offsets[2]] == packet_bytes(*PACKETS[1], v6=True)


@pytest.mark.parametrize("pts_code", [b"\x80" * 11, b"\x80\x00", b"\xff" * 9 + b"\x02"])
def test_an_invalid_pts_varint_is_damage_that_resync_skips(pts_code: bytes) -> None:
    data, offsets = write_stream()
    head = b"\xa7GVP" + bytes([KEY]) + pts_code + b"\x00" + struct.pack("<I", zlib.crc32(b""))
    forged = data[: offsets[4]] + head + struct.pack("<H", zlib.crc32(head) & 0xFFFF) + data[offsets[4] :]
    with pytest.raises(CorruptPacketError, match="invalid varint"):
        read_all(forged)
    items = read_all(forged, resync=True)
    assert isinstance(items[4], Damaged) and as_tuples(items) == PACKETS


@pytest.mark.parametrize("version", [FORMAT_VERSION, (11, 1), (6, 0)])
def test_a_late_joiner_finds_the_parameters_packet_in_any_packet_header_layout(version) -> None:
    # Before the header is known the reader cannot tell 12.x, 7.x and 6.x packet headers apart: it tries each,
    # and takes a parameters packet only if its layout is the one its header's version uses.
    header = make_header(version=version)
    out = io.BytesIO()
    with GvcWriter(out, header, repeat_header=True) as writer:
        offsets = [writer.write_packet(kind, pts, payload) for kind, pts, payload in PACKETS]
    data = out.getvalue()
    cut = offsets[1] + 3  # inside the first delta: the joiner waits for the second GOP's parameters
    with GvcReader(Pipe(data[cut:], chunk=1 << 20)) as r:
        assert r.joined_at is not None and r.version == version
        got = [p for p in as_tuples(list(r)) if p[0] is not PacketType.PARAMETERS]
    assert got == PACKETS[4:]
    # A forged parameters packet whose payload claims the other layout's version is not taken.
    other = make_header(version=(6, 0) if version == FORMAT_VERSION else FORMAT_VERSION)
    forged = packet_bytes(PacketType.PARAMETERS, 0, encode_header(other), v6=version != FORMAT_VERSION)
    with pytest.raises(FormatError):
        GvcReader(Pipe(bytes(5) + forged + data[offsets[4] : offsets[5]], chunk=1 << 20))


class LivePipe:
    """A live source: it holds only what the writer flushed so far, and a read past that would block
    (here: raises BlockingIOError instead)."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        if self._pos >= len(self._data):
            raise BlockingIOError("no more bytes flushed yet")
        chunk = self._data[self._pos : self._pos + (n if n >= 0 else len(self._data))]
        self._pos += len(chunk)
        return chunk


@pytest.mark.parametrize("version", [FORMAT_VERSION, (6, 0)])
def test_a_live_reader_gets_each_packet_without_waiting_for_the_next(version) -> None:
    # Tiny packets (an unchanged delta is 15-25 bytes in 7.x): a reader that asked for the largest
    # possible header (28 bytes) would hold each one back until the next packet's bytes arrived.
    packets = [(KEY, 0, b"k" * 40)] + [(DELTA, i, b"d" * (i % 3)) for i in range(1, 8)]
    data, offsets = write_stream(packets, make_header(version=version))
    for n in range(1, len(packets) + 1):
        flushed = data[: offsets[n]] if n < len(packets) else data[: index_offset(data)]
        reader = GvcReader(LivePipe(flushed))
        got = []
        with pytest.raises(BlockingIOError):
            got.extend(reader)  # keeps what came before the blocking read
        assert as_tuples(got) == packets[:n]


def test_a_late_joiner_checks_both_layouts_to_the_end_at_the_same_sync() -> None:
    # The 27-byte header of this 6.0 parameters packet (pts 117377) also passes as a 7.x header of an
    # empty payload (its 16-bit CRC matches by chance, and CRC32 of nothing is 0): the joiner must not
    # stop at that reading and skip the packet, but try the 6.x layout there too.
    header = make_header(version=(6, 0))
    out = io.BytesIO()
    with GvcWriter(out, header, repeat_header=True) as writer:
        offsets = [writer.write_packet(KEY, 117377, b"key"), writer.write_packet(DELTA, 117378, b"delta")]
    data = out.getvalue()
    first = offsets[0] - len(packet_bytes(PacketType.PARAMETERS, 117377, encode_header(header), v6=True))
    with GvcReader(Pipe(data[first - 5 :], chunk=1 << 20)) as r:
        assert r.joined_at == 5 and r.version == (6, 0)
        assert [(p.kind, p.pts) for p in r] == [(KEY, 117377), (DELTA, 117378)]


@pytest.mark.parametrize("source", ["file", "pipe"])
def test_a_stream_followed_by_another_is_read_to_its_end_with_a_warning(source, caplog) -> None:
    data, _ = write_stream()
    joined = data + data  # cat a.gvc b.gvc
    with caplog.at_level("WARNING", logger="vidcodec"):
        packets = read_all(data)
        assert "follows it" not in caplog.text  # a stream alone ends cleanly
        packets = [(p.kind, p.pts, p.payload) for p in GvcReader(io.BytesIO(joined) if source == "file"
                                                                  else Pipe(joined))]
    assert packets == PACKETS
    # a file says what follows; a pipe is not waited on past the footer (a writer may keep it open)
    said = f"the stream ends at offset {len(data)}, but another stream follows it" in caplog.text
    assert said == (source == "file")


def test_a_whole_stream_on_a_pipe_its_writer_keeps_open_is_read_to_its_end_at_once() -> None:
    """`(cat a.gvc; sleep 30) | vidcodec decode - out.mp4` waited for the pipe to close after the footer."""
    import os
    import threading

    data, _ = write_stream()
    r, w = os.pipe()
    os.write(w, data)  # and the writer keeps the pipe open
    got: list = []

    def read() -> None:
        with open(r, "rb", buffering=0) as f:
            got.extend(GvcReader(f))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    try:
        assert not reader.is_alive() and [(p.kind, p.pts, p.payload) for p in got] == PACKETS
    finally:
        os.close(w)


def test_damage_met_again_after_a_seek_is_reported_once(tmp_path, tiny_model_dir, caplog):
    """A seek without a usable index scans the stream for its key packets, then reads it: each damaged
    stretch was reported twice."""
    from conftest import write_testsrc

    import vidcodec

    gvc = tmp_path / "s.gvc"
    vidcodec.encode(write_testsrc(tmp_path / "c.mp4", frames=12, size=(64, 48), rate=10), gvc, model="vaegan-tiny",
                    quality=2, gop=4)
    data = bytearray(gvc.read_bytes())
    data[data.rfind(container.INDEX_MARKER) + 5] ^= 0xFF  # the index header's CRC fails
    gvc.write_bytes(bytes(data))
    assert len(list(vidcodec.frames(gvc, start=0.5))) == 7
    assert caplog.text.count("skipped") == 1


def test_a_damaged_footer_is_reported_once_however_often_the_index_is_asked_for(tmp_path, caplog):
    data, _ = write_stream()
    bad = bytearray(data)
    bad[-8] ^= 0xFF  # the footer's CRC fails
    path = tmp_path / "f.gvc"
    path.write_bytes(bytes(bad))
    with GvcReader(path, resync=True) as r:
        assert r.index() is None and r.index() is None
    assert caplog.text.count("footer fails its CRC") == 1


def test_a_signal_in_the_middle_of_a_packet_lets_the_packet_and_the_index_be_written() -> None:
    """A SIGTERM (or Ctrl-C) while a packet went to a slow reader cut the packet: the writer was marked
    broken and closed without its index (`info`: truncated, or no index). The packet is finished first."""
    import os
    import signal

    class Slow(io.BytesIO):  # takes a few bytes at a time; the signal comes in the middle of a packet
        calls = -1  # counted once the header is written

        def write(self, data) -> int:
            if Slow.calls >= 0:
                Slow.calls += 1
                if Slow.calls == 12:
                    os.kill(os.getpid(), signal.SIGINT)
            return super().write(bytes(data)[:5])

    out = Slow()
    writer = GvcWriter(out, make_header())
    Slow.calls = 0
    with pytest.raises(KeyboardInterrupt):
        for kind, pts, payload in PACKETS * 3:
            writer.write_packet(kind, pts + 100 * (writer.bytes_written > 0), payload)
    writer.close()
    with GvcReader(io.BytesIO(out.getvalue())) as r:
        got = list(r)
        assert r.closed_cleanly and got  # every packet whole, and the index


@pytest.mark.parametrize("byte", [13, 40])  # the header's size field; a field its CRC covers
def test_a_damaged_file_header_is_reported_not_joined_past_at_a_parameters_packet(byte: int) -> None:
    # a stream with its header repeated before every keyframe (live): its own header damaged is an error
    # about the header, as for any .gvc file, not a join at the next parameters packet (frames lost, exit 0)
    out = io.BytesIO()
    with GvcWriter(out, make_header(), repeat_header=True) as writer:
        for kind, pts, payload in PACKETS:
            writer.write_packet(kind, pts, payload)
    data = bytearray(out.getvalue())
    data[byte] ^= 0x01
    with pytest.raises(FormatError):
        GvcReader(io.BytesIO(bytes(data)), resync=True)
    # a stream joined mid-way (not starting with the magic) is still joined there
    mid = out.getvalue()
    cut = mid.index(PACKET_SYNC, 200)
    r = GvcReader(io.BytesIO(mid[cut - 3:]), resync=True)
    assert r.joined_at is not None and next(p.pts for p in r if isinstance(p, Packet)) == PACKETS[4][1]
