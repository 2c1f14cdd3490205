"""vidcodec/api.py and vidcodec/play.py behaviour that mutation testing found unpinned by the tests of
the decoder's robustness, the CLI, play, live streams and audio: the damage counts and concealment
README.md's "Damaged streams, seeking, live files" describes, --start/--frames/-t, the output and
overwrite rules of decode, and the player's keys and pacing. Every stream is the tiny model's
(tests/tiny_model.py) 12-frame clip, or that clip's packets rewritten.
"""

from __future__ import annotations

import dataclasses
import io
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import tiny_stream

from vidcodec import api, container

FRAMES = 12
GOP = 4


@pytest.fixture(scope="module")
def stream(tmp_path_factory, tiny_model_dir) -> dict:
    """The 12-frame tiny-model stream, a keyframe at least every 4 frames (conftest.tiny_stream)."""
    s = tiny_stream(tmp_path_factory.mktemp("api-mutants"), FRAMES, GOP)
    assert s["keys"][:2] == [0, GOP] and len(s["frames"]) == FRAMES
    return s


class _Pipe(io.BytesIO):
    """An output or input that cannot seek (a pipe): a writer cannot go back to its header."""

    def seekable(self) -> bool:
        return False


def _rewritten(stream: dict, path: Path, *, edit=None, seekable: bool = True, **header) -> Path:
    """The stream's packets written again at ``path`` with header fields replaced (``header``) and
    each packet ``i`` replaced by the packets ``edit(i, packet)`` returns (a list of (kind, pts,
    payload, stream_index, flags)); ``seekable=False`` writes it as a pipe would, whose header is
    never finished."""
    hdr = dataclasses.replace(stream["header"], **header)
    out = _Pipe() if not seekable else path.open("wb")
    with out, container.GvcWriter(out, hdr) as w:
        for i, p in enumerate(stream["packets"]):
            for kind, pts, payload, index, flags in (edit(i, p) if edit else
                                                      [(p.kind, p.pts, p.payload, p.stream_index, p.flags)]):
                w.write_packet(kind, pts, payload, index, flags)
        w.close()
        if not seekable:
            path.write_bytes(out.getvalue())
    return path


def _flip(data: bytes, at: int, bit: int = 0) -> bytes:
    d = bytearray(data)
    d[at] ^= 1 << bit
    return bytes(d)


def _header_crc(p: container.Packet) -> int:
    """The offset of the last byte of a packet header's own CRC (the header's last 2 bytes): a flip there
    makes the reader skip the whole packet as an unparsable stretch (frames lost, pts gap)."""
    return p.offset + p.header_size - 1


def _undecodable(i: int, p: container.Packet, lost: int):
    """``edit`` for _rewritten: packet ``lost`` gets a valid CRC and a level byte the coder refuses."""
    from vidcodec.codec import colour

    if i != lost:
        return [(p.kind, p.pts, p.payload, p.stream_index, p.flags)]
    at = colour.SIZE if p.flags & colour.FLAG else 0
    return [(p.kind, p.pts, p.payload[:at] + b"\xff" + p.payload[at + 1:], p.stream_index, p.flags)]


# ------------------------------------------------------------------------------ damage and concealment


def test_damage_counts_a_repeated_packet_and_a_payload_that_does_not_decode(stream, tmp_path):
    """DecodeStats.damaged: damaged byte ranges skipped plus packets that did not decode; a packet
    repeated (its pts not after the frame before) is damage too, though no frame is lost."""
    twice = _rewritten(stream, tmp_path / "twice.gvc", edit=lambda i, p: [(p.kind, p.pts, p.payload, 0, p.flags)]
                       * (2 if i == 0 else 1))
    s = api.decode(twice, tmp_path / "twice.y4m")
    assert (s.frames, s.concealed, s.damaged) == (FRAMES, 0, 1)

    bad = _rewritten(stream, tmp_path / "bad.gvc", edit=lambda i, p: _undecodable(i, p, 1))
    s = api.decode(bad, tmp_path / "bad.y4m")
    assert (s.frames, s.concealed, s.damaged) == (FRAMES, GOP - 1, 1)


def test_a_lost_delta_is_concealed_as_a_delta_not_a_keyframe(stream, tmp_path):
    """A concealed frame keeps the kind of the packet it stands for: the deltas dropped until the next
    keyframe are not keyframes (a player seeks and drops by DecodedFrame.key)."""
    path = tmp_path / "lost.gvc"
    p = stream["packets"][1]
    path.write_bytes(_flip(stream["data"], p.offset + p.header_size + len(p.payload) // 2))
    got = list(api.frames(path))
    assert [f.concealed for f in got] == [i in (1, 2, 3) for i in range(FRAMES)]
    assert [f.key for f in got] == [i in stream["keys"] for i in range(FRAMES)]


def test_without_a_frame_rate_a_lost_packet_leaves_a_gap_not_fill(stream, tmp_path):
    """The gap of a packet lost in unparsable bytes is filled at the header's frame rate only when it
    knows one; without it the frames are simply missing (and the decode does not fail). A damaged
    delta header hides the deltas after it up to the next keyframe (format 13.0 times a delta from
    the frame before it)."""
    path = _rewritten(stream, tmp_path / "norate.gvc", frame_rate=(0, 0))
    lost = 5
    damaged = tmp_path / "norate-bad.gvc"
    with container.GvcReader(path) as r:
        packets = list(r)
    damaged.write_bytes(_flip(path.read_bytes(), _header_crc(packets[lost])))
    got = list(api.frames(damaged))
    assert [f.pts for f in got] == [f.pts for i, f in enumerate(stream["frames"]) if not lost <= i < 2 * GOP]
    assert not any(f.concealed for f in got)


def test_frames_lost_at_the_end_are_counted_up_to_the_index_when_the_header_has_no_count(stream, tmp_path):
    """A stream written to a pipe with -t keeps a frame count of 0 in its header; its index (written
    at the end) still knows the count: the last packets lost in damage are concealed up to it."""
    path = _rewritten(stream, tmp_path / "piped.gvc", frame_count=0, seekable=False)
    with container.GvcReader(path) as r:
        assert r.header.frame_count == 0
        packets = list(r)
        assert r.index().frame_count == FRAMES
    damaged = tmp_path / "piped-bad.gvc"
    damaged.write_bytes(_flip(path.read_bytes(), _header_crc(packets[-1])))
    got = list(api.frames(damaged))
    assert [f.pts for f in got] == [f.pts for f in stream["frames"]]
    assert [f.concealed for f in got] == [False] * (FRAMES - 1) + [True]


@pytest.mark.xfail(strict=True, reason="known bug (session 56, found by mutation testing, not fixed yet): after a "
                   "seek, a damaged last packet is not filled up to the index's frame count")
def test_a_seek_past_the_start_does_not_conceal_frames_that_were_never_lost(stream, tmp_path):
    """--start seeks to a keyframe; damage after it that loses the last frame fills up to the index's
    count, counting only the frames from the seek on (not as if the decode had read the whole stream)."""
    damaged = tmp_path / "end.gvc"
    damaged.write_bytes(_flip(stream["data"], _header_crc(stream["packets"][-1])))
    tb = Fraction(*stream["header"].time_base)
    start = (stream["frames"][GOP + 1].pts - stream["frames"][0].pts) * tb
    got = list(api.frames(damaged, start=start))
    assert [f.pts for f in got] == [f.pts for f in stream["frames"][GOP + 1:]]
    assert [f.concealed for f in got] == [False] * (FRAMES - GOP - 2) + [True]
    s = api.decode(damaged, tmp_path / "end.y4m", start=start)
    assert (s.frames, s.concealed) == (FRAMES - GOP - 1, 1)


def test_an_audio_packet_too_short_to_hold_its_duration_is_skipped(stream, tmp_path):
    """An audio payload starts with its duration (u32, docs/FORMAT.md); a CRC-valid one shorter than
    that is skipped, the audio packets around it and the video come through whole."""
    import contextlib

    from vidcodec import media

    track = media.AudioTrack(Fraction(1, 8000), b"params")

    def edit(i, p):
        out = [(p.kind, p.pts, p.payload, p.stream_index, p.flags)]
        if i in (2, 3):  # after frame 2 a cut audio packet, after frame 3 a whole one
            payload = b"\x01\x00" if i == 2 else (160).to_bytes(4, "little") + b"aac"
            out.append((container.PacketType.KEY, 800 * i, payload, container.AUDIO_STREAM, 0))
        return out

    exts = {**stream["header"].extensions, container.EXT_AUDIO: track.to_bytes()}
    path = _rewritten(stream, tmp_path / "audio.gvc", edit=edit, extensions=exts)
    with contextlib.ExitStack() as stack:
        _, _, pending, got_track = api.open_pending(stack, path, audio=True)
        items = list(pending)
    assert got_track == track
    audio = [x for x in items if isinstance(x, media.AudioPacket)]
    assert audio == [media.AudioPacket(b"aac", 2400, 160)]
    assert len(items) - len(audio) == FRAMES
