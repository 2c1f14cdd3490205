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

import av
import numpy as np
import pytest
from conftest import late_copy, tiny_stream

from vidcodec import api, container, media

FRAMES = 12
GOP = 4


@pytest.fixture(scope="module")
def stream(tmp_path_factory, tiny_model_dir) -> dict:
    """The 12-frame tiny-model stream at 10 fps, keyframes at frames 0, 4 and 8 (conftest.tiny_stream)."""
    s = tiny_stream(tmp_path_factory.mktemp("api-mutants"), FRAMES, GOP)
    assert s["keys"] == [0, GOP, 2 * GOP] and len(s["frames"]) == FRAMES
    return s


class _Pipe(io.BytesIO):
    """An output or input that cannot seek (a pipe): a writer cannot go back to its header."""

    def seekable(self) -> bool:
        return False


def _rewritten(stream: dict, path: Path, *, edit=None, seekable: bool = True, repeat_header: bool = False,
               **header) -> Path:
    """The stream's packets written again at ``path`` with header fields replaced (``header``) and
    each packet ``i`` replaced by the packets ``edit(i, packet)`` returns (a list of (kind, pts,
    payload, stream_index, flags)); ``seekable=False`` writes it as a pipe would, whose header is
    never finished; ``repeat_header``: a parameters packet before every keyframe, as on a pipe."""
    hdr = dataclasses.replace(stream["header"], **header)
    out = _Pipe() if not seekable else path.open("wb")
    with out, container.GvcWriter(out, hdr, repeat_header=repeat_header) as w:
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
    twice = _rewritten(stream, tmp_path / "twice.gvc", edit=lambda i, p: [(p.kind, p.pts, p.payload, p.stream_index, p.flags)]
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
    assert [f.key for f in got] == [i in stream["keys"] for i in range(FRAMES)]  # a filled frame is no keyframe


def test_a_decode_from_start_conceals_a_lost_last_frame_as_a_whole_decode_does(stream, tmp_path):
    """--start seeks to a keyframe; damage after it that loses the last frame is filled up to the
    index's count as a decode from the beginning (or of a pipe) fills it: the frames before the
    keyframe sought count at the frame rate (not zero, and not as if they had been read)."""
    damaged = tmp_path / "end.gvc"
    damaged.write_bytes(_flip(stream["data"], _header_crc(stream["packets"][-1])))
    tb = Fraction(*stream["header"].time_base)
    start = (stream["frames"][GOP + 1].pts - stream["frames"][0].pts) * tb
    got = list(api.frames(damaged, start=start))
    assert [f.pts for f in got] == [f.pts for f in stream["frames"][GOP + 1:]]
    assert [f.concealed for f in got] == [False] * (FRAMES - GOP - 2) + [True]
    piped = list(api.frames(_Pipe(damaged.read_bytes()), start=start))  # decoded and discarded up to it
    assert [(f.pts, f.concealed) for f in piped] == [(f.pts, f.concealed) for f in got]
    s = api.decode(damaged, tmp_path / "end.y4m", start=start)
    assert (s.frames, s.concealed) == (FRAMES - GOP - 1, 1)


def _keys(path: Path) -> list[container.Packet]:
    with container.GvcReader(path) as r:
        return [p for p in r if p.kind is container.PacketType.KEY and p.stream_index == 0]


def test_a_lost_first_keyframe_after_a_parameters_packet_is_concealed_from_pts_0(stream, tmp_path):
    """A live stream saved to a file has a parameters packet before every keyframe, the first one
    included: its first keyframe lost, the first GOP is concealed from pts 0 (mid-grey), as in a
    stream without them, and nothing is added past its end."""
    path = _rewritten(stream, tmp_path / "live.gvc", repeat_header=True, seekable=False)
    damaged = tmp_path / "live-bad.gvc"
    damaged.write_bytes(_flip(path.read_bytes(), _header_crc(_keys(path)[0])))
    for src in (damaged, _Pipe(damaged.read_bytes())):
        got = list(api.frames(src))
        assert [f.pts for f in got] == [f.pts for f in stream["frames"]]
        assert [f.concealed for f in got] == [i < GOP for i in range(FRAMES)]
        assert (got[0].rgb == 128).all()


def test_a_pipe_joined_mid_way_conceals_nothing_from_before_it_joined(stream, tmp_path):
    """A reader that joins a live stream mid-way (at a parameters packet) starts at a keyframe; if the
    keyframe after the parameters packet it joined at is lost, it starts at the next one: no
    concealed frames for the time before it joined, none past the end for frames it never saw."""
    path = _rewritten(stream, tmp_path / "live.gvc", repeat_header=True, seekable=False)
    keys = _keys(path)
    data = _flip(path.read_bytes(), _header_crc(keys[1]))
    got = list(api.frames(_Pipe(data[keys[0].offset + 3:])))  # cut inside the first keyframe
    assert [f.pts for f in got] == [f.pts for f in stream["frames"][2 * GOP:]]
    assert not any(f.concealed for f in got)


def _with_audio(stream: dict, path: Path, audio: dict[int, list[tuple[int, bytes]]], **kw) -> Path:
    """The stream with audio packets (a made-up track, 1/8000 s time base): ``audio[i]`` = the (pts,
    payload)s written after video packet ``i`` (``audio[-1]``: before the first)."""
    from vidcodec import media

    def edit(i, p):
        pre = [(container.PacketType.KEY, pts, data, container.AUDIO_STREAM, 0) for pts, data in audio.get(-1, [])]
        return ((pre if i == 0 else []) + [(p.kind, p.pts, p.payload, p.stream_index, p.flags)]
                + [(container.PacketType.KEY, pts, data, container.AUDIO_STREAM, 0) for pts, data in audio.get(i, [])])

    track = media.AudioTrack(Fraction(1, 8000), b"params")
    return _rewritten(stream, path, edit=edit, **kw,
                      extensions={**stream["header"].extensions, container.EXT_AUDIO: track.to_bytes()})


def _parsed(src, **kw) -> tuple[list, list]:
    """open_pending's parsed items of ``src``: (the frames' pts, the audio packets)."""
    import contextlib

    from vidcodec import media

    with contextlib.ExitStack() as stack:
        _, _, pending, track = api.open_pending(stack, src, audio=True, **kw)
        assert track == media.AudioTrack(Fraction(1, 8000), b"params")
        items = list(pending)
    return ([x.pts for x in items if not isinstance(x, media.AudioPacket)],
            [x for x in items if isinstance(x, media.AudioPacket)])


def _audio(pts: int) -> bytes:
    return (160).to_bytes(4, "little") + b"aac" + pts.to_bytes(2, "little")


def test_an_audio_packet_too_short_to_hold_its_duration_is_skipped(stream, tmp_path):
    """An audio payload starts with its duration (u32, docs/FORMAT.md); a CRC-valid one shorter than
    that is skipped, the audio packets around it and the video come through whole."""
    from vidcodec import media

    path = _with_audio(stream, tmp_path / "audio.gvc", {2: [(1600, b"\x01\x00")], 3: [(2400, _audio(2400))]})
    frames, audio = _parsed(path)
    assert audio == [media.AudioPacket(b"aac" + (2400).to_bytes(2, "little"), 2400, 160)]
    assert frames == [f.pts for f in stream["frames"]]


@pytest.mark.parametrize("source", ["file", "pipe"])
def test_with_start_the_audio_from_the_first_frame_kept_comes_through(stream, tmp_path, source):
    """--start: audio packets that end after the start time (counted from the first frame, in the
    audio's own time base) come through, the one the start falls in included, with the last ones
    before it that end within KEPT_DISCARDED_AUDIO_S of it (to warm a decoder up), not those further
    back; on a pipe, audio before the first frame is at the stream's time 0, kept only by a start of 0."""
    five = 4000  # frame 5 begins 0.5 s after the first: 4000 ticks of 1/8000 s
    audio = {-1: [(0, _audio(0))], GOP: [(five - 8, _audio(five - 8))], 5: [(five, _audio(five))],
             6: [(4800, _audio(4800))]}
    path = _with_audio(stream, tmp_path / "audio.gvc", audio)
    src = path if source == "file" else _Pipe(path.read_bytes())
    tb = Fraction(*stream["header"].time_base)
    frames, got = _parsed(src, start=(stream["frames"][5].pts - stream["frames"][0].pts) * tb)
    assert [a.pts for a in got] == [five - 8, five, 4800]  # (five - 8 ends at 4152: the start falls in it)
    if source == "pipe":  # (a file's seek starts at the keyframe before the start, after the first audio)
        frames, got = _parsed(_Pipe(path.read_bytes()), start=0)
        assert [a.pts for a in got] == [0, five - 8, five, 4800]
        assert frames == [f.pts for f in stream["frames"]]


# ------------------------------------------------------------------------------ decode's arguments and output


@pytest.mark.parametrize("bad", [{"pix_fmt": "rgb24"}, {"max_frames": 2.5}, {"max_frames": 0},
                                 {"follow_timeout": -1}, {"workers": 0}, {"start": -1}, {"duration": 0},
                                 {"duration": "soon"}, {"duration": float("nan")},
                                 {"backend": "cuda"}], ids=str)
def test_decode_refuses_a_bad_argument_before_it_touches_an_existing_output(stream, tmp_path, bad):
    """Every argument is checked before the output is opened: a bad one (with overwrite=True) must
    not cost an existing file, and is a UsageError whatever else would have been read."""
    from vidcodec.errors import UsageError

    out = tmp_path / "keep.y4m"
    out.write_bytes(b"precious")
    with pytest.raises(UsageError):
        api.decode(stream["path"], out, overwrite=True, **bad)
    assert out.read_bytes() == b"precious"


def test_decode_takes_any_path_like_output_and_numpy_counts(stream, tmp_path):
    """The output may be any os.PathLike (a PurePath too), max_frames any integer (numpy's too)."""
    from pathlib import PurePosixPath

    s = api.decode(stream["path"], PurePosixPath(tmp_path / "p.y4m"), max_frames=np.int64(2))
    assert s.frames == 2 and (tmp_path / "p.y4m").read_bytes().count(b"FRAME\n") == 2


@pytest.fixture(scope="module")
def with_sound(tmp_path_factory, tiny_model_dir) -> Path:
    """A 10-frame (1 s) tiny-model stream with its clip's AAC audio carried along."""
    from test_audio import write_av_clip

    d = tmp_path_factory.mktemp("api-mutants-audio")
    api.encode(write_av_clip(d / "av.mp4", frames=10), d / "av.gvc", model="vaegan-tiny", quality=2, gop=GOP)
    return d / "av.gvc"


def _audio_span(path: Path) -> tuple[float, float]:
    """Where the audio of a decoded file starts and ends, in seconds."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        packets = [p for p in c.demux(s) if p.size]
        return float(packets[0].pts * s.time_base), float((packets[-1].pts + packets[-1].duration) * s.time_base)


def test_a_decode_cut_by_frames_ends_its_audio_with_the_last_frame_wherever_the_audio_is(with_sound, tmp_path):
    """decode --frames N: the audio ends with the N-th frame's span (seconds: its time plus one frame
    at the header's rate), also when the stream holds its audio ahead of the video (all of it before
    the first frame here), not wherever demuxing had got to."""
    with container.GvcReader(with_sound) as r:
        header, packets = r.header, list(r)
    ahead = tmp_path / "ahead.gvc"
    with container.GvcWriter(ahead, header) as w:
        for p in sorted(packets, key=lambda p: p.stream_index != container.AUDIO_STREAM):
            w.write_packet(p.kind, p.pts, p.payload, p.stream_index, p.flags)
    for src in (with_sound, ahead):
        api.decode(src, tmp_path / "three.mkv", max_frames=3, overwrite=True)
        first, last = _audio_span(tmp_path / "three.mkv")
        assert (round(first, 2), round(last, 1)) == (0, 0.3), src.name
    # --start 0: the audio from the first frame's time on (its first packet starts there) comes through
    api.decode(with_sound, tmp_path / "all.mkv", start=0)
    assert _audio_span(tmp_path / "all.mkv") == pytest.approx((0, 1.0), abs=0.03)
    # --start 0.5: the output's timeline starts with the frame at 0.5 s, its audio moved with it (what
    # warms a decoder up begins before it: Matroska, which has no edit list, moves both by as much)
    api.decode(with_sound, tmp_path / "half.mkv", start=0.5)
    first, last = _audio_span(tmp_path / "half.mkv")
    with av.open(str(tmp_path / "half.mkv")) as c:
        video = float(c.streams.video[0].start_time * c.streams.video[0].time_base)
    assert first == 0 and 0 < video <= float(media.KEPT_DISCARDED_AUDIO_S) + 0.03
    assert last - video == pytest.approx(0.5, abs=0.03)


def test_duration_counts_from_the_first_frame_written_whatever_the_streams_clock(stream, tmp_path):
    """-t (duration=) is that long of the output from its first frame, also for a stream whose clock
    starts at 10:00:00, with or without --start."""
    late = tmp_path / "late.gvc"
    late_copy(stream["path"], late, 10 * 3600)
    assert api.decode(late, tmp_path / "a.y4m", duration=0.5).frames == 5
    assert api.decode(late, tmp_path / "b.y4m", duration=Fraction(3, 10), start=0.2).frames == 3


def test_stats_say_what_was_written_and_time_the_call(stream, tmp_path):
    """DecodeStats.seconds / EncodeStats.seconds: the wall-clock time the call took (fps from it)."""
    import time

    t = time.perf_counter()
    s = api.decode(stream["path"], tmp_path / "a.y4m")
    assert 0 < s.seconds <= time.perf_counter() - t and s.fps == s.frames / s.seconds
    t = time.perf_counter()
    out = tmp_path / "two.gvc"
    e = api.encode(stream["dir"] / "clip.mp4", out, model="vaegan-tiny", quality=2, max_frames=3)
    assert 0 < e.seconds <= time.perf_counter() - t and e.fps == e.frames / e.seconds
    # what was written: 3 frames of 64x48 at 10 fps, the first a keyframe, 0.3 s from the first
    # frame's start to the last one's end; the rates from the file's real size
    assert (e.frames, e.keyframes, e.width, e.height, e.bytes) == (3, 1, 64, 48, out.stat().st_size)
    assert e.duration == pytest.approx(0.3) and e.audio_bytes == 0 and e.video_bytes == e.bytes
    assert e.bpp == pytest.approx(8 * e.bytes / (3 * 64 * 48))
    assert e.kbps == e.video_kbps == pytest.approx(8 * e.bytes / 0.3 / 1000)
    assert e.qualities == {2: 3} and e.gops == []


def test_an_image_sequence_folder_made_for_a_decode_that_fails_before_its_first_frame_is_removed(stream, tmp_path):
    """decode to frames/%04d.png makes a missing frames/; a stream cut off inside its first packet
    raises (TruncatedStreamError) with no frame written, and leaves no empty folder behind."""
    from vidcodec.errors import TruncatedStreamError

    cut = tmp_path / "cut.gvc"
    first = stream["packets"][0]
    cut.write_bytes(stream["data"][: first.offset + first.header_size + 3])
    with pytest.raises(TruncatedStreamError):
        api.decode(cut, tmp_path / "frames" / "%04d.png")
    assert not (tmp_path / "frames").exists()


# ------------------------------------------------------------------------------------------ play


def _play(src, gui, monkeypatch, **kw):
    from vidcodec import play

    gui.install(monkeypatch)
    return play.Player(src, play.CvWindow("t"), clock=gui.clock, **kw).run()


class _Gui:
    """test_play's FakeGui, also recording when (fake clock) each frame was shown, with a window that
    the viewer closes after ``close_after`` frames."""

    def __new__(cls, close_after: int | None = None, **kw):
        from test_play import FakeGui

        gui = FakeGui(**kw)
        gui.times = []
        imshow = gui.imshow

        def shown(title, bgr):
            gui.times.append(gui.now)
            imshow(title, bgr)

        gui.imshow = shown
        base_install = gui.install

        def install(monkeypatch):
            import cv2

            base_install(monkeypatch)
            visible = (lambda *a: 0.0 if close_after is not None and len(gui.shown) >= close_after else 1.0)
            monkeypatch.setattr(cv2, "getWindowProperty", visible)

        gui.install = install
        return gui


def test_play_shows_each_frame_when_it_is_due(stream, monkeypatch):
    """Frames are paced by their timestamps: at 10 fps frame k is shown k/10 s after the first (fake
    clock), not a frame early or late."""
    gui = _Gui()
    stats = _play(stream["path"], gui, monkeypatch, show_info=False)
    assert stats.shown == FRAMES and stats.dropped == 0
    assert gui.times == pytest.approx([k / 10 for k in range(FRAMES)], abs=0.002)  # (waits of whole ms)


def test_play_reads_a_pipe_counts_concealed_frames_and_stops_at_max_frames(stream, tmp_path, monkeypatch):
    """A pipe (no index, no seeking) plays from its first frame; concealed frames are shown and
    counted; max_frames stops after that many frames shown."""
    stats = _play(_Pipe(stream["data"]), _Gui(), monkeypatch)
    assert (stats.shown, stats.concealed, stats.quit) == (FRAMES, 0, False)
    p = stream["packets"][1]
    damaged = _flip(stream["data"], p.offset + p.header_size + len(p.payload) // 2)
    stats = _play(_Pipe(damaged), _Gui(), monkeypatch)
    assert (stats.shown, stats.concealed) == (FRAMES, GOP - 1)
    assert _play(stream["path"], _Gui(), monkeypatch, max_frames=3).shown == 3


def test_closing_the_window_quits(stream, monkeypatch):
    stats = _play(stream["path"], _Gui(close_after=3), monkeypatch)
    assert stats.quit and stats.shown == 3


def test_the_info_line_darkens_the_top_band_only_and_o_toggles_it(stream, monkeypatch):
    """show_info draws the line on a band 20 rows high at 0.35 of the picture's brightness (white text
    on it); the rest of the picture is the frame as decoded; ``o`` turns it off from the next frame on."""
    plain, info = _Gui(), _Gui(keys={2: [ord("o")]})
    _play(stream["path"], plain, monkeypatch, show_info=False)
    _play(stream["path"], info, monkeypatch, show_info=True)
    for k, (a, b) in enumerate(zip(plain.shown, info.shown)):
        assert np.array_equal(a[20:], b[20:])
        if k < 2:  # the band at 0.35, but for the text's pixels
            dark = (a[:20] * 0.35).astype(np.uint8)
            assert (b[:20] == dark).mean() > 0.5 and ((b[:20] == dark) | (b[:20] > dark)).all()
        else:
            assert np.array_equal(a[:20], b[:20])


def test_a_stream_without_a_frame_rate_plays_in_about_its_own_time(stream, tmp_path, monkeypatch):
    """Without a frame rate the player paces by the timestamps alone (assuming 25 fps for how long a
    frame lasts): 12 frames 0.1 s apart take about 1.1 s, not seconds a frame."""
    path = _rewritten(stream, tmp_path / "norate.gvc", frame_rate=(0, 0))
    gui = _Gui()
    stats = _play(path, gui, monkeypatch, show_info=False)
    assert stats.shown == FRAMES and 1.0 < gui.times[-1] < 1.2


@pytest.mark.parametrize("late", [False, True], ids=["from-0", "clock-at-10h"])
def test_a_player_that_falls_behind_drops_late_deltas_never_a_keyframe(stream, tmp_path, monkeypatch, late):
    """Each frame shown costs 2.5 frame durations: the delta after the first keyframe is already late
    and dropped (though it was synthesized: the player was not behind yet), every keyframe is shown,
    and every frame is either shown or dropped; the same for a stream whose clock starts at 10:00:00.
    (Which frame was shown is read from the info line's text: the tiny model's deltas repeat pictures.)"""
    from vidcodec import play

    path = stream["path"]
    if late:
        path = tmp_path / "late.gvc"
        late_copy(stream["path"], path, 10 * 3600)
    texts: list[str] = []
    monkeypatch.setattr(play, "overlay", lambda rgb, text: (texts.append(text), rgb)[1])
    stats = _play(path, _Gui(decode_cost=0.25), monkeypatch)
    times = [round(float(t.split()[0]) - (36000 if late else 0), 1) for t in texts]
    assert len(times) == stats.shown and stats.shown + stats.dropped == FRAMES and stats.dropped >= FRAMES // 2
    assert times[0] == 0 and 0.1 not in times
    assert {0.0, 0.4, 0.8} <= set(times)  # the keyframes


def test_keys_work_while_paused(stream, monkeypatch):
    """While paused (space), q quits and → seeks to the next keyframe, as they do while playing."""
    from vidcodec import play

    stats = _play(stream["path"], _Gui(keys={2: [ord(" "), -1, ord("q")]}), monkeypatch)
    assert stats.quit and stats.shown == 2
    right = next(iter(play.RIGHT_KEYS))
    stats = _play(stream["path"], _Gui(keys={2: [ord(" "), -1, right]}), monkeypatch)
    assert (stats.seeks, stats.shown, stats.quit) == (1, 2 + FRAMES - GOP, False)


def test_seeking_without_an_index_moves_5_s_and_a_pipe_does_not_seek(stream, tmp_path, monkeypatch):
    """← / → go to the keyframes of the index; a file without one moves 5 s (not before the start),
    and a pipe cannot seek: the key is ignored and it plays on."""
    from vidcodec import play

    left, right = next(iter(play.LEFT_KEYS)), next(iter(play.RIGHT_KEYS))
    last = stream["packets"][-1]
    bare = tmp_path / "noindex.gvc"
    bare.write_bytes(stream["data"][: last.offset + last.header_size + len(last.payload)])
    stats = _play(bare, _Gui(keys={7: [left]}), monkeypatch)  # at 0.6 s: back to 0 (not -4.4 s)
    assert (stats.seeks, stats.shown) == (1, 7 + FRAMES)
    stats = _play(bare, _Gui(keys={2: [right]}), monkeypatch)  # at 0.1 s: to 5.1 s, past the end
    assert (stats.seeks, stats.shown) == (1, 2)
    stats = _play(_Pipe(stream["data"]), _Gui(keys={2: [right]}), monkeypatch)
    assert (stats.seeks, stats.shown) == (0, FRAMES)


def test_back_at_a_keyframe_goes_to_the_keyframe_before_it(stream, monkeypatch):
    """← goes to the start of the GOP before the one being shown; on a keyframe that GOP is its own,
    so it goes one keyframe back (from 0.8 s to 0.4 s)."""
    from vidcodec import play

    stats = _play(stream["path"], _Gui(keys={2 * GOP + 1: [next(iter(play.LEFT_KEYS))]}), monkeypatch)
    assert (stats.seeks, stats.shown) == (1, 2 * GOP + 1 + FRAMES - GOP)


def test_play_opens_the_window_plays_and_closes_it(stream, monkeypatch):
    """play(): the window shows the stream and is closed at the end; --pix-fmt is for --to only and
    refused before a window is opened."""
    import cv2

    from vidcodec import play
    from vidcodec.errors import UsageError

    gui = _Gui()
    gui.install(monkeypatch)
    stats = play.play(stream["path"], window=play.CvWindow("t"))
    assert stats == play.PlayStats(shown=FRAMES) and gui.destroyed

    def no_window(*a, **k):
        raise AssertionError("a window was opened")

    monkeypatch.setattr(cv2, "namedWindow", no_window)
    with pytest.raises(UsageError, match="--to"):
        play.play(stream["path"], pix_fmt="yuv420p")


def test_closing_the_window_while_paused_quits(stream, monkeypatch):
    from vidcodec import play

    stats = _play(stream["path"], _Gui(close_after=2, keys={2: [ord(" "), -1, next(iter(play.RIGHT_KEYS))]}),
                  monkeypatch)
    assert (stats.quit, stats.shown, stats.seeks) == (True, 2, 0)


def test_encode_duration_counts_from_the_first_frame_of_a_source_whose_clock_starts_late(stream, tmp_path):
    """encode -t: the frames that begin less than that long after the first one coded, also from a
    source whose clock starts at 10 s (a cut from a film, an MPEG-TS's 1.4 s)."""
    import av

    late = tmp_path / "late.mkv"
    with av.open(str(stream["dir"] / "clip.mp4")) as inp, av.open(str(late), "w") as out:
        v = out.add_stream_from_template(inp.streams.video[0])
        for p in inp.demux(inp.streams.video[0]):
            if p.size:
                shift = int(10 / p.time_base)
                p.pts, p.dts, p.stream = p.pts + shift, p.dts + shift, v
                out.mux(p)
    s = api.encode(late, tmp_path / "t.gvc", model="vaegan-tiny", quality=2, duration=0.5)
    assert s.frames == 5
    with container.GvcReader(tmp_path / "t.gvc") as r:
        assert next(iter(r)).pts * Fraction(*r.header.time_base) >= 10  # (the clock was kept)


def test_frame_rates_up_to_1000_and_the_frames_a_decode_is_known_to_want(stream):
    """frame_rate: above 0 and at most 1000. _frames_wanted (what backend "auto" weighs): the stream's
    count from --start on, at most --frames and -t of it; None when nothing says (a pipe's header
    without a count), a start time counting in frames only with a frame rate."""
    from vidcodec.errors import UsageError

    assert api.frame_rate(1000) == 1000 and api.frame_rate("30000/1001") == Fraction(30000, 1001)
    for bad in (1001, 0, "-25"):
        with pytest.raises(UsageError):
            api.frame_rate(bad)
    hdr = stream["header"]  # 12 frames at 10 fps
    assert api._frames_wanted(hdr, None, None, None) == FRAMES
    assert api._frames_wanted(hdr, Fraction(1, 2), None, None) == FRAMES - 5
    assert api._frames_wanted(hdr, Fraction(1, 2), 3, None) == 3
    assert api._frames_wanted(hdr, None, None, Fraction(1, 5)) == 2
    assert api._frames_wanted(hdr, Fraction(5), None, None) == 0
    unknown = dataclasses.replace(hdr, frame_count=0)
    assert api._frames_wanted(unknown, None, None, None) is None
    assert api._frames_wanted(unknown, None, 4, None) == 4
    norate = dataclasses.replace(hdr, frame_rate=(0, 0))
    assert (api._frames_wanted(norate, Fraction(1, 2), None, None), api._frames_wanted(norate, None, None, None)) \
        == (None, FRAMES)


def test_a_repeated_delta_with_a_full_header_is_skipped_by_gop_workers_too(tmp_path, tiny_model_dir):
    """A delta whose header escapes its fields (flags 8: a full pts, not one counted from the frame before)
    repeated right after itself: one process skips the repeat (its pts is not after the frame before);
    the run decoder of --workers once applied it twice, so the frames after it differed. (128x96: the
    fixture's 64x48 deltas are a byte, which changes nothing applied twice.)"""
    s = tiny_stream(tmp_path, 8, 4, size=(128, 96), quality=3)
    assert len(s["packets"][1].payload) > 8
    twice = _rewritten(s, tmp_path / "twice.gvc",
                       edit=lambda i, p: [(p.kind, p.pts, p.payload, p.stream_index, 8 if i == 1 else p.flags)]
                       * (2 if i == 1 else 1))
    with container.GvcReader(twice) as r:
        pts = [p.pts for p in r if p.stream_index == 0]
    assert pts[1] == pts[2]  # the repeat reads at the same pts: a full header
    one, two = list(api.frames(twice)), list(api.frames(twice, workers=2))
    assert [f.pts for f in one] == [f.pts for f in two] == [f.pts for f in s["frames"]]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(one, s["frames"]))
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(two, s["frames"]))
