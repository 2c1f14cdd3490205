"""A decoder that survives damaged streams (concealment, resync), seeks (--start/--frames) and follows
a file that is still being written (--follow). Everything uses the tiny model on a 12-frame clip."""

from __future__ import annotations

import io
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import late_copy, tiny_stream

from vidcodec import api, container
from vidcodec.cli import main
from vidcodec.codec import colour
from vidcodec.errors import InputError
from vidcodec.follow import FollowedFile, ends_with_footer

FRAMES = 12
GOP = 4
PTS_OFFSET = 5  # byte offset of the pts in a 12.x packet header (docs/FORMAT.md): after sync and packet byte


def _header_field(stream: dict, number: int, field: str) -> int:
    """The byte offset, in packet ``number``, of a field of its (12.x) packet header: the pts varint's
    first byte, the payload size varint's last byte, or the payload CRC's last byte (the last two
    come before the 4-byte payload CRC and the 2-byte header CRC)."""
    size = stream["packets"][number].header_size
    return {"pts": PTS_OFFSET, "size": size - 7, "crc": size - 3}[field]


@pytest.fixture(scope="module")
def stream(tmp_path_factory, tiny_model_dir) -> dict:
    """A 12-frame tiny-model stream with a keyframe at least every 4 frames, its packets and its frames."""
    s = tiny_stream(tmp_path_factory.mktemp("robust"), FRAMES, GOP)
    assert len(s["frames"]) == FRAMES and not any(f.concealed for f in s["frames"])
    return s


def _damaged(stream: dict, tmp_path: Path, flips: list[tuple[int, int]], name: str = "bad.gvc") -> Path:
    """The stream with bits flipped at (packet number, byte offset in the packet) positions."""
    data = bytearray(stream["data"])
    rng = np.random.default_rng(1234)
    for number, at in flips:
        data[stream["packets"][number].offset + at] ^= 1 << int(rng.integers(8))
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


def _payload_byte(stream: dict, number: int, seed: int) -> int:
    """A random byte offset inside packet ``number``'s payload (fixed seed)."""
    packet = stream["packets"][number]
    return packet.header_size + int(np.random.default_rng(seed).integers(len(packet.payload)))


def _next_key(stream: dict, number: int) -> int:
    return min((k for k in stream["keys"] if k > number), default=FRAMES)


def _check_concealed(stream: dict, got: list[api.DecodedFrame], lost: int) -> None:
    """Same count and pts as the clean decode; exact before the damage and from the next keyframe on;
    every frame in between a concealed repeat of the last good one."""
    ref = stream["frames"]
    assert len(got) == len(ref)
    assert [f.pts for f in got] == [f.pts for f in ref]
    assert [f.index for f in got] == list(range(len(ref)))
    resume = _next_key(stream, lost)
    for i, (g, r) in enumerate(zip(got, ref)):
        if i < lost or i >= resume:
            assert not g.concealed and np.array_equal(g.rgb, r.rgb), i
        else:
            assert g.concealed, i
            expected = got[i - 1].rgb if i else np.full_like(r.rgb, 128)
            assert np.array_equal(g.rgb, expected), i


def test_the_stream_has_several_keyframes(stream):
    assert len(stream["keys"]) >= 3 and stream["keys"][0] == 0


@pytest.mark.parametrize("number", [1, 4, 6, FRAMES - 1])
def test_bit_flip_in_a_payload_is_concealed_until_the_next_keyframe(stream, tmp_path, number):
    path = _damaged(stream, tmp_path, [(number, _payload_byte(stream, number, number))])
    _check_concealed(stream, list(api.frames(path)), number)


@pytest.mark.parametrize("field", ["size", "crc", "pts"])
def test_damaged_packet_header_is_skipped_and_the_gap_filled_at_the_frame_rate(stream, tmp_path, field):
    path = _damaged(stream, tmp_path, [(5, _header_field(stream, 5, field))])
    _check_concealed(stream, list(api.frames(path)), 5)


def test_several_damaged_regions_in_one_stream(stream, tmp_path):
    later = _next_key(stream, 2) + 1
    flips = [(2, _payload_byte(stream, 2, 0)), (later, _header_field(stream, later, "size"))]
    path = _damaged(stream, tmp_path, flips)
    got = list(api.frames(path))
    assert [f.pts for f in got] == [f.pts for f in stream["frames"]]
    stats = api.decode(path, tmp_path / "out.y4m")
    assert stats.frames == FRAMES and stats.damaged == 2
    assert stats.concealed == sum(f.concealed for f in got) > 0
    last = _next_key(stream, flips[1][0])
    assert all(np.array_equal(g.rgb, r.rgb) for g, r in zip(got[last:], stream["frames"][last:]))


def test_concealed_frames_are_counted_among_those_written(stream, tmp_path, capsys):
    """--start and --frames select the frames written: damage outside them is not reported as
    concealed output (the decode reads before --start and ahead of --frames)."""
    lost = _next_key(stream, 0) + 1  # a delta after the second keyframe: concealed up to the third
    path = _damaged(stream, tmp_path, [(lost, _payload_byte(stream, lost, 3))])
    resume = _next_key(stream, lost)
    assert resume > lost + 1
    clean = api.decode(path, tmp_path / "a.y4m", max_frames=lost)  # the frames before the damage
    assert (clean.frames, clean.concealed) == (lost, 0)
    start = float((stream["frames"][resume].pts - stream["frames"][0].pts) * Fraction(*stream["header"].time_base))
    after = api.decode(path, tmp_path / "b.y4m", start=start)  # from the keyframe after it
    assert (after.frames, after.concealed) == (FRAMES - resume, 0)
    some = api.decode(path, tmp_path / "c.y4m", max_frames=lost + 1)
    assert (some.frames, some.concealed) == (lost + 1, 1)
    assert main(["decode", str(path), str(tmp_path / "d.y4m"), "--frames", str(lost), "-q"]) == 0
    assert main(["decode", str(path), str(tmp_path / "e.y4m"), "--frames", str(lost + 2), "-q", "-y"]) == 1
    assert "2 of " in capsys.readouterr().err


def test_follow_on_a_named_pipe_reads_it_as_it_is(stream, tmp_path):
    """A FIFO waits for its writer by itself: --follow reads it to the writer's end at once, not
    waiting out --follow-timeout and warning that the stream was not closed."""
    import os

    fifo = tmp_path / "live.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as f:
            f.write(stream["data"])

    writer = threading.Thread(target=write)
    writer.start()
    t0 = time.monotonic()
    got = list(api.frames(fifo, follow=True, follow_timeout=30))
    writer.join()
    assert len(got) == FRAMES and time.monotonic() - t0 < 25


def test_stream_whose_first_keyframe_is_destroyed_starts_with_grey_frames(stream, tmp_path):
    path = _damaged(stream, tmp_path, [(0, _payload_byte(stream, 0, 0))])
    got = list(api.frames(path))
    _check_concealed(stream, got, 0)
    assert got[0].concealed and (got[0].rgb == 128).all()


def test_payload_that_does_not_decode_is_concealed(stream, tmp_path):
    """A payload with a valid CRC that the coder rejects (here an invalid level byte, or a colour
    correction cut short)."""
    path = tmp_path / "garbage.gvc"
    with container.GvcWriter(path, stream["header"]) as w:
        for i, p in enumerate(stream["packets"]):
            at = colour.SIZE if p.flags & colour.FLAG else 0  # the level byte after a key's colour correction
            payload = p.payload[:at] + b"\xff" + p.payload[at + 1:] if i == 5 else p.payload
            w.write_packet(p.kind, p.pts, payload, flags=p.flags)
    got = list(api.frames(path))
    _check_concealed(stream, got, 5)
    assert got[5].key == (5 in stream["keys"])


def test_cli_decode_of_a_damaged_stream_writes_every_frame_and_exits_1(capsys, stream, tmp_path):
    path = _damaged(stream, tmp_path, [(1, _payload_byte(stream, 1, 1))])
    concealed = _next_key(stream, 1) - 1
    capsys.readouterr()
    assert main(["decode", str(path), str(tmp_path / "a.y4m")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"decoded {FRAMES} frames, {concealed} concealed -> ")
    assert err[1] == (f"vidcodec decode: error: the stream is damaged (1 damaged region(s)): {concealed} of "
                      f"{FRAMES} frames were concealed by repeating the previous frame")
    assert len(err) == 2 and "Traceback" not in "".join(err)
    assert (tmp_path / "a.y4m").read_bytes().count(b"FRAME\n") == FRAMES
    assert main(["decode", str(path), str(tmp_path / "b.y4m"), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vidcodec decode: error: the stream is damaged")
    assert (tmp_path / "b.y4m").read_bytes() == (tmp_path / "a.y4m").read_bytes()


def test_cli_decode_of_a_clean_stream_reports_no_concealment(capsys, stream, tmp_path):
    capsys.readouterr()
    assert main(["decode", str(stream["path"]), str(tmp_path / "a.y4m")]) == 0
    err = capsys.readouterr().err
    assert "concealed" not in err and "error" not in err


# ------------------------------------------------------------------------------------------- seeking


def _without_index(stream: dict, tmp_path: Path) -> Path:
    last = stream["packets"][-1]
    path = tmp_path / "noindex.gvc"
    path.write_bytes(stream["data"][: last.offset + last.header_size + len(last.payload)])
    with container.GvcReader(path) as r:
        assert r.index() is None
    return path


class _Pipe(io.BytesIO):
    def seekable(self) -> bool:
        return False


def _time(stream: dict, number: int) -> Fraction:
    return stream["packets"][number].pts * Fraction(*stream["header"].time_base)


@pytest.mark.parametrize("source", ["index", "scan", "pipe"])
@pytest.mark.parametrize("number, offset", [(0, 0), (6, 0), (6, -0.01), (5, 0.01), (FRAMES - 1, 0)])
def test_start_gives_the_frames_of_the_full_decode_from_that_time(stream, tmp_path, source, number, offset):
    start = float(_time(stream, number)) + offset
    first = number + (offset > 0)
    src = {"index": lambda: stream["path"], "scan": lambda: _without_index(stream, tmp_path),
           "pipe": lambda: _Pipe(stream["data"])}[source]()
    got = list(api.frames(src, start=start))
    ref = stream["frames"][first:]
    assert [f.pts for f in got] == [f.pts for f in ref]
    assert all(np.array_equal(g.rgb, r.rgb) for g, r in zip(got, ref))
    assert [f.index for f in got] == list(range(len(ref)))


@pytest.mark.parametrize("source", ["index", "scan", "pipe"])
def test_start_counts_from_the_first_frame_of_a_stream_that_starts_late(stream, tmp_path, source):
    # as ffmpeg's -ss and encode --start: a stream cut from a film at 10:00 (or from an MPEG-TS, whose
    # clock starts at 1.4 s) has its first frame at time 0 for --start
    path = tmp_path / "late.gvc"
    late = late_copy(stream["path"], path, 10 * 3600)
    src = {"index": lambda: path, "scan": lambda: _without_index({**stream, "data": path.read_bytes(),
                                                                  "packets": list(container.GvcReader(path))},
                                                                 tmp_path),
           "pipe": lambda: _Pipe(path.read_bytes())}[source]()
    got = list(api.frames(src, start=float(_time(stream, 5))))
    ref = stream["frames"][5:]
    assert [f.pts for f in got] == [f.pts + late for f in ref]
    assert all(np.array_equal(g.rgb, r.rgb) for g, r in zip(got, ref))


def test_start_past_the_end_gives_no_frames(stream, caplog):
    with caplog.at_level("WARNING", logger="vidcodec"):
        assert list(api.frames(stream["path"], start=1000)) == []
    assert "start 1000 is past the end of the stream" in caplog.text  # not without a word


@pytest.mark.parametrize("indexed", [True, False])
def test_cli_start_and_frames_write_n_frames_from_start(capsys, stream, tmp_path, indexed):
    src = stream["path"] if indexed else _without_index(stream, tmp_path)
    start = _time(stream, 5)
    out = tmp_path / "part.y4m"
    capsys.readouterr()
    assert main(["decode", str(src), str(out), "--start", str(float(start)), "--frames", "3", "-q"]) == 0
    assert capsys.readouterr().err == ""
    y4m = out.read_bytes()
    assert y4m.count(b"FRAME\n") == 3
    stats = api.decode(src, tmp_path / "part.mkv", start=float(start), max_frames=3)
    assert stats.frames == 3 and stats.concealed == 0
    import av

    with av.open(str(tmp_path / "part.mkv")) as c:
        s = c.streams.video[0]
        times = [f.pts * s.time_base for f in c.decode(s)]
    # the cut starts its own timeline at 0, as ffmpeg -ss does
    assert times == [_time(stream, i) - _time(stream, 5) for i in (5, 6, 7)]


def test_bad_start_and_frames_are_usage_errors(capsys, stream, tmp_path):
    capsys.readouterr()
    assert main(["decode", str(stream["path"]), str(tmp_path / "x.y4m"), "--frames", "0"]) == 2
    assert main(["decode", str(stream["path"]), str(tmp_path / "x.y4m"), "--start", "-1"]) == 2
    assert not (tmp_path / "x.y4m").exists()


# ------------------------------------------------------------------------------------------ following


def _slow_writer(data: bytes, path: Path, chunk: int = 150, pause: float = 0.01) -> threading.Thread:
    def run() -> None:
        with open(path, "ab") as f:
            for i in range(0, len(data), chunk):
                f.write(data[i : i + chunk])
                f.flush()
                time.sleep(pause)

    path.write_bytes(b"")
    return threading.Thread(target=run, daemon=True)


def test_follow_decodes_a_file_while_it_is_written_and_ends_when_it_is_closed(stream, tmp_path):
    path = tmp_path / "live.gvc"
    writer = _slow_writer(stream["data"], path)
    writer.start()
    t0 = time.monotonic()
    got = list(api.frames(path, follow=True, follow_timeout=5))
    elapsed = time.monotonic() - t0
    writer.join(5)
    assert not writer.is_alive()
    assert [f.pts for f in got] == [f.pts for f in stream["frames"]]
    assert all(np.array_equal(g.rgb, r.rgb) for g, r in zip(got, stream["frames"]))
    assert elapsed < 4  # ended at the index, not at the timeout


def test_cli_follow_writes_every_frame(capsys, stream, tmp_path):
    path = tmp_path / "live.gvc"
    writer = _slow_writer(stream["data"], path, chunk=400)
    writer.start()
    out = tmp_path / "live.y4m"
    assert main(["decode", "--follow", str(path), str(out), "-q", "--follow-timeout", "5"]) == 0
    writer.join(5)
    assert out.read_bytes().count(b"FRAME\n") == FRAMES


def test_follow_ends_after_the_timeout_when_the_writer_stops(stream, tmp_path, caplog):
    """A writer that dies without closing: everything written is decoded, then the timeout ends it,
    with a warning (it is not a stream that was closed)."""
    last = stream["packets"][7]
    path = tmp_path / "dead.gvc"
    path.write_bytes(stream["data"][: last.offset])
    t0 = time.monotonic()
    got = list(api.frames(path, follow=True, follow_timeout=0.3))
    assert 0.3 <= time.monotonic() - t0 < 3
    assert [f.pts for f in got] == [f.pts for f in stream["frames"][:7]]
    assert "has not grown for 0.3 s and was not closed" in caplog.text
    caplog.clear()
    path.write_bytes(stream["data"])
    assert len(list(api.frames(path, follow=True, follow_timeout=0.3))) == FRAMES
    assert "not closed" not in caplog.text


def test_follow_started_before_its_writer_waits_for_the_file(stream, tmp_path):
    path = tmp_path / "soon.gvc"

    def late() -> None:  # the encoder starts a moment after the player
        time.sleep(0.3)
        writer = _slow_writer(stream["data"], path, chunk=400)
        writer.start()
        writer.join(5)

    starter = threading.Thread(target=late, daemon=True)
    starter.start()
    got = list(api.frames(path, follow=True, follow_timeout=5))
    starter.join(5)
    assert [f.pts for f in got] == [f.pts for f in stream["frames"]]
    t0 = time.monotonic()
    with pytest.raises(InputError, match="did not appear within --follow-timeout 0.2 s"):
        list(api.frames(tmp_path / "never.gvc", follow=True, follow_timeout=0.2))
    assert 0.2 <= time.monotonic() - t0 < 3


def test_followed_file_is_a_stream_that_reads_to_the_footer(stream, tmp_path):
    path = tmp_path / "done.gvc"
    path.write_bytes(stream["data"])
    with FollowedFile(path, timeout=5) as f:
        assert not f.seekable() and ends_with_footer(f._f)
        assert f.read() == stream["data"] and f.reason == "closed"


def test_a_script_that_ends_with_frames_half_read_exits_quietly(stream, tiny_model_dir):
    # the generator is finalized at interpreter exit while its stages' threads are stopped
    import subprocess
    import sys

    code = f"import vidcodec\ng = vidcodec.frames({str(stream['path'])!r})\nnext(g)\n"
    for _ in range(5):  # the threads' state at exit varies from run to run
        r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "Exception ignored" not in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize(("offset", "value"), [(16, 65), (56, 0xFFFF)])  # width 65; latent width 65535
def test_a_header_whose_size_and_latent_disagree_is_refused_before_any_buffer(stream, tmp_path, offset, value):
    """A CRC-valid header with one field wrong: a one-line error, not a traceback in the colour
    conversion or gigabytes of buffers sized from the latent."""
    from test_container import rewrite_header

    from vidcodec.errors import CorruptPacketError

    path = tmp_path / "bad.gvc"
    path.write_bytes(rewrite_header(stream["data"], offset, "<I" if offset == 16 else "<H", value))
    with pytest.raises(CorruptPacketError, match="the header is inconsistent: .* latent, the header says"):
        list(api.frames(path))


def test_a_stream_of_which_no_frame_decodes_is_an_error_with_nothing_written(stream, tmp_path):
    """Every packet header damaged: all skipped, no frame before them to repeat. Exit 2 and no output,
    not 'decoded 0 frames' with exit 0 beside a y4m header."""
    from vidcodec.errors import CorruptPacketError

    path = _damaged(stream, tmp_path, [(i, _header_field(stream, i, "crc")) for i in range(len(stream["packets"]))])
    out = tmp_path / "out.y4m"
    with pytest.raises(CorruptPacketError, match="no frame in it could be decoded: nothing written"):
        api.decode(path, out)
    assert not out.exists()


def test_a_repeated_keyframe_packet_is_skipped_not_decoded_twice(stream, tmp_path, caplog):
    """Its pts (a key packet's is absolute; a delta's is coded from the packet before, so a repeated
    delta reads as the next frame) does not come after the frame before: damage, skipped with a
    warning, whatever the output (an mp4 sink refused the repeated pts, y4m said "variable frame rate")."""
    p = stream["packets"][0]
    end = p.offset + p.header_size + len(p.payload)
    data = stream["data"]
    path = tmp_path / "twice.gvc"
    path.write_bytes(data[:end] + data[p.offset:end] + data[end:])
    got = list(api.frames(path))
    assert [f.pts for f in got] == [f.pts for f in stream["frames"]]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(got, stream["frames"]))
    assert "not after the previous frame's" in caplog.text
    api.decode(path, tmp_path / "twice.mkv")  # not "pts 0 does not increase"
    r = container.probe(path)  # damage, but no frame lost
    assert (r["frames"], r["decodable_frames"]) == (FRAMES, FRAMES)
    assert [d["reason"] for d in r["damaged"] if not d["index"]] == ["a packet repeated"]


def _end(p) -> int:
    return p.offset + p.header_size + len(p.payload)


@pytest.mark.parametrize("at, concealed", [(5, [6, 7]), (7, [])], ids=["mid-gop", "before-a-keyframe"])
def test_an_earlier_gop_inside_the_stream_conceals_the_frames_after_it_to_the_next_keyframe(stream, tmp_path, at,
                                                                                         concealed, caplog):
    """The first GOP's key and delta packets again after frame ``at`` (a stream restarted inside a file):
    skipped as damage; the deltas after them were coded against them and are timed from them, so they
    cannot be placed. Once they decoded on the wrong picture or were dropped unreported (frames lost,
    decode exit 0); now the frames up to the next keyframe are concealed and counted, the rest exact."""
    packets, data = stream["packets"], stream["data"]
    assert [p.kind == container.PacketType.KEY for p in packets[:9]] == [i % GOP == 0 for i in range(9)]
    earlier = data[packets[0].offset:_end(packets[1])]
    cut = _end(packets[at])
    path = tmp_path / "restarted.gvc"
    path.write_bytes(data[:cut] + earlier + data[cut:])
    got = list(api.frames(path))
    assert [f.pts for f in got] == [f.pts for f in stream["frames"]]
    assert [i for i, f in enumerate(got) if f.concealed] == concealed
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(got, stream["frames"]) if not a.concealed)
    assert "not after the previous frame's" in caplog.text
    s = api.decode(path, tmp_path / "restarted.y4m")
    assert (s.frames, s.concealed) == (FRAMES, len(concealed))
    assert s.damaged >= 2
    # info counts what decode gives (it once saw FRAMES + 2 whole frames and no damage)
    r = container.probe(path)
    assert r["decodable_frames"] == FRAMES - len(concealed) and r["frames"] <= FRAMES
    assert [d["reason"] for d in r["damaged"] if not d["index"]][:2] == ["a packet out of order"] * 2


def test_a_delta_repeated_after_a_later_one_is_caught_at_the_next_keyframe(stream, tmp_path):
    """Delta 1 again after delta 2: a delta's pts counts from the frame before it, so it reads as frame 3
    and delta 3 as frame 4, both decoded on the wrong picture (nothing in the stream tells). The keyframe
    of frame 4 then comes at a pts already taken: out of order, skipped, and the deltas after it concealed
    up to the next keyframe (they were once decoded on the wrong picture too, unreported, exit 0)."""
    packets, data = stream["packets"], stream["data"]
    cut = _end(packets[2])
    path = tmp_path / "reordered.gvc"
    path.write_bytes(data[:cut] + data[packets[1].offset:_end(packets[1])] + data[cut:])
    got = list(api.frames(path))
    assert [f.pts for f in got] == [f.pts for f in stream["frames"]]
    assert [i for i, f in enumerate(got) if f.concealed] == [5, 6, 7]
    exact = [i for i, (a, b) in enumerate(zip(got, stream["frames"])) if np.array_equal(a.rgb, b.rgb)]
    assert exact == [0, 1, 2, 8, 9, 10, 11]


def _index_edited(data: bytes, edit) -> bytes:
    """The stream with each footer-index entry (pts, offset) replaced by ``edit(pts, offset)``, its CRCs
    recomputed: an index that passes its checks and does not describe the stream."""
    import struct
    import zlib

    d = bytearray(data)
    at = struct.unpack_from("<Q", d, len(d) - 20)[0]
    n = struct.unpack_from("<I", d, at + 4)[0]
    for i in range(n):
        struct.pack_into("<qQ", d, at + 24 + 16 * i, *edit(*struct.unpack_from("<qQ", d, at + 24 + 16 * i)))
    struct.pack_into("<I", d, at + 16, zlib.crc32(bytes(d[at + 24:at + 24 + 16 * n])))
    struct.pack_into("<I", d, at + 20, zlib.crc32(bytes(d[at:at + 20])))
    return bytes(d)


@pytest.mark.parametrize("edit", [lambda p, o: (p, o + 3), lambda p, o: (p + 7 * 1024, o)], ids=["offset", "pts"])
def test_a_seek_checks_the_index_against_the_stream(stream, tmp_path, edit, caplog):
    """A CRC-valid index that is wrong: the seek finds no key packet where it says, and scans instead
    (it decoded nothing, or said --start was past the end)."""
    path = tmp_path / "idx.gvc"
    path.write_bytes(_index_edited(stream["data"], edit))
    tb = stream["header"].time_base
    start = stream["frames"][5].pts * tb[0] / tb[1]
    got = list(api.frames(path, start=start))
    want = list(api.frames(stream["path"], start=start))
    assert [f.pts for f in got] == [f.pts for f in want] and len(got) == FRAMES - 5
    assert "the keyframe index does not match the stream" in caplog.text


def test_a_decode_to_y4m_counts_the_pictures_its_one_frame_rate_made(stream, tmp_path):
    """Frames 6 and 7 left out by remux (after an earlier GOP found inside the stream): 10 frames decode,
    and y4m, of one rate, repeats frame 5 twice to keep their times; the summary said "10 frames" of a
    y4m that holds 12."""
    from vidcodec.streamcopy import remux

    packets, data = stream["packets"], stream["data"]
    cut = _end(packets[5])
    restarted = tmp_path / "restarted.gvc"
    restarted.write_bytes(data[:cut] + data[packets[0].offset:_end(packets[1])] + data[cut:])
    gap = tmp_path / "gap.gvc"
    assert remux(restarted, gap).frames == FRAMES - 2
    s = api.decode(gap, tmp_path / "gap.y4m")
    assert (s.frames, s.pictures) == (FRAMES - 2, FRAMES)
    assert (tmp_path / "gap.y4m").read_bytes().count(b"FRAME\n") == FRAMES
    assert api.decode(stream["path"], tmp_path / "all.y4m").pictures == FRAMES
    assert api.decode(gap, tmp_path / "gap.mkv").pictures is None
