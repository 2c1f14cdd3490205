"""vidcodec/media.py behaviour that mutation testing found unpinned by the tests that exercise it
(test_media, test_audio, test_robust, test_live, test_chroma, test_colour, test_cli).

What is pinned comes from the module's docstrings, README.md ("The main job", the decode row of
"Command line", "Live streaming") and docs/FORMAT.md (header fields for timestamps, colour, chroma),
not from the code's own expressions. Inputs are made here with PyAV: a few tiny frames each, no
model, no network.
"""

from __future__ import annotations

import io
import os
import threading
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from test_media import pattern, read_all, write_frames

from vidcodec import media
from vidcodec.errors import UsageError
from vidcodec.media import open_source

# ---------------------------------------------------------------- helpers


def _clip(path: Path, codec: str, pts: list[int], *, time_base: Fraction = Fraction(1, 25),
          size: tuple[int, int] = (32, 16), audio_seconds: float = 0, pix_fmt: str = "yuv420p") -> None:
    """A clip of ``len(pts)`` frames with these pts (packets stamped as given), and optionally
    ``audio_seconds`` of silent 8 kHz PCM after it in the same file."""
    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=1 / time_base)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.time_base = stream.codec_context.time_base = time_base
        audio = out.add_stream("pcm_s16le", rate=8000) if audio_seconds else None
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(pattern(h, w, i), format="rgb24").reformat(format=pix_fmt)
            frame.pts, frame.time_base = p, time_base
            for packet in stream.encode(frame):
                packet.pts = packet.dts = p
                out.mux(packet)
        out.mux(stream.encode(None))
        if audio is not None:
            for k in range(round(audio_seconds * 10)):
                samples = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
                samples.sample_rate, samples.pts = 8000, k * 800
                out.mux(audio.encode(samples))
            out.mux(audio.encode(None))


def _piped(data: bytes):
    """A pipe's read end (binary file object) with ``data`` written into it by a thread."""
    r, w = os.pipe()

    def feed() -> None:
        with os.fdopen(w, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    return os.fdopen(r, "rb"), writer


# ---------------------------------------------------------------- pixel formats and colour


def test_default_pix_fmt_is_420_only_for_a_420_source_with_both_sides_even() -> None:
    """format 11.1 / README decode row: 4:2:0 sources of even size give 4:2:0, 4:4:4 and RGB 4:4:4,
    anything else (not said, 4:2:2, an odd side) the sink's own default (None)."""
    for w, h in ((64, 48), (62, 44), (2, 2), (1920, 1080)):
        assert media.default_pix_fmt((1, 1), w, h) == "yuv420p"
    assert media.default_pix_fmt((1, 1), 64, 47) is None
    assert media.default_pix_fmt((1, 1), 63, 48) is None
    assert media.default_pix_fmt((1, 1), 63, 47) is None
    assert media.default_pix_fmt((0, 0), 64, 48) == "yuv444p"
    assert media.default_pix_fmt((0, 0), 63, 47) == "yuv444p"
    for other in ((1, 0), (2, 2), (2, 0), (0, 1), None):
        assert media.default_pix_fmt(other, 64, 48) is None


def test_check_pix_fmt_refuses_420_when_either_side_is_odd() -> None:
    for w, h in ((63, 48), (64, 47), (63, 47)):
        with pytest.raises(UsageError, match="odd side"):
            media.check_pix_fmt("yuv420p", w, h)
    for w, h in ((64, 48), (62, 44), (2, 2), (1920, 1080)):
        media.check_pix_fmt("yuv420p", w, h)
    media.check_pix_fmt("yuv420p")  # size not known yet: only the name is checked
    media.check_pix_fmt("yuv444p", 63, 47)
    media.check_pix_fmt(None, 63, 47)
    for bad in ("rgb24", "yuv422p", "YUV420P", ""):
        with pytest.raises(UsageError, match="must be one of"):
            media.check_pix_fmt(bad, 64, 48)


def test_normalize_matrix_names_only_the_matrices_it_converts_with() -> None:
    """FORMAT.md's H.273 codes: BT.470BG (5) is BT.601, BT.2020 CL (10) is read as NCL; identity (RGB)
    is kept; codes with no conversion here (YCgCo 8, 11-14, the invalid 3) become unspecified."""
    kept = {media.MATRIX_RGB, media.MATRIX_BT709, media.MATRIX_FCC, media.MATRIX_BT601, media.MATRIX_SMPTE240M,
            media.MATRIX_BT2020}
    for code in kept:
        assert media.normalize_matrix(code) == code
    assert media.normalize_matrix(5) == media.MATRIX_BT601
    assert media.normalize_matrix(10) == media.MATRIX_BT2020
    for code in (2, 3, 8, 11, 12, 13, 14, 200):
        assert media.normalize_matrix(code) == media.MATRIX_UNSPECIFIED


def test_a_frames_colour_tag_comes_before_its_streams() -> None:
    """_tag: the frame's colour tag, or the stream's when the frame has none (unspecified or None)."""
    assert media._tag(media.MATRIX_BT709, media.MATRIX_BT601, media.MATRIX_UNSPECIFIED) == media.MATRIX_BT709
    assert media._tag(media.MATRIX_UNSPECIFIED, media.MATRIX_BT601, media.MATRIX_UNSPECIFIED) == media.MATRIX_BT601
    assert media._tag(None, media.RANGE_FULL, media.RANGE_UNSPECIFIED) == media.RANGE_FULL
    assert media._tag(media.RANGE_LIMITED, media.RANGE_FULL, media.RANGE_UNSPECIFIED) == media.RANGE_LIMITED


# ---------------------------------------------------------------- timestamps and frame counts


def test_the_nominal_rate_is_kept_within_one_per_cent_of_the_average_only() -> None:
    """nominal_rate: the guessed rate when within 1 % of the average, else the average."""
    guessed = Fraction(30)
    just_inside = guessed / (1 + Fraction(995, 100000))  # 0.995 % off
    assert media.nominal_rate(just_inside, guessed) == guessed
    for off in (Fraction(15, 1000), Fraction(-15, 1000), Fraction(5, 100)):  # 1.5 % and 5 % off: variable
        average = guessed / (1 + off)
        assert media.nominal_rate(average, guessed) == average


def test_a_pts_that_repeats_becomes_the_previous_one_plus_a_frame(tmp_path: Path) -> None:
    """VideoSource._pts: previous + one frame when a pts is missing *or not increasing* (an equal one
    included): every frame's pts increases, as the sinks and the .gvc packets need."""
    _clip(tmp_path / "dup.mkv", "ffv1", [0, 1, 1, 2])  # Matroska keeps the repeated timestamp
    with av.open(str(tmp_path / "dup.mkv")) as c:
        assert [f.pts for f in c.decode(video=0)] == [0, 40, 40, 80]  # (as the file holds them)
    source, frames = read_all(tmp_path / "dup.mkv")
    assert source.time_base == Fraction(1, 1000)
    assert [f.pts for f in frames] == [0, 40, 80, 120]
    # a frame that is one tick of the time base: one tick on
    _clip(tmp_path / "fast.mkv", "ffv1", [0, 1, 1, 2, 3], time_base=Fraction(1, 1000))
    source, frames = read_all(tmp_path / "fast.mkv")
    assert source.frame_rate == 1000 and [f.pts for f in frames] == [0, 1, 2, 3, 4]


def test_frames_by_duration_is_the_video_streams_own_not_the_files(tmp_path: Path) -> None:
    """_frames_from_duration: the stream's duration first, the container's only without one; a MOV
    whose audio runs 3 s past 17 frames at 25 fps still has 17 frames by duration."""
    _clip(tmp_path / "a.mov", "mpeg4", list(range(17)), audio_seconds=3)
    with av.open(str(tmp_path / "a.mov")) as c:
        assert c.duration / av.time_base > 2.5  # (the file lasts as long as its audio)
    source, frames = read_all(tmp_path / "a.mov")
    assert len(frames) == 17 and source.frames_by_duration == 17 and source.estimated_frames == 17


def test_frames_by_duration_is_0_when_no_duration_is_known(tmp_path: Path) -> None:
    """0 means unknown (a y4m pipe says no duration and no count), not 1 or None."""
    f, writer = _piped(b"YUV4MPEG2 W32 H16 F10:1 Ip A1:1 C420jpeg\n" + (b"FRAME\n" + bytes(32 * 16 * 3 // 2)) * 5)
    with f, open_source("-", stdin=f) as source:
        assert source.frame_rate == 10
        assert source.frame_count == 0 and source.frames_by_duration == 0 and source.estimated_frames == 0
        assert len(list(source)) == 5
    writer.join()
    f, writer = _piped(b"YUV4MPEG2 W32 H16 F10:1 Ip A1:1 C420jpeg\n" + (b"FRAME\n" + bytes(32 * 16 * 3 // 2)) * 5)
    with f, open_source("-", stdin=f, start=Fraction(1, 5)) as source:  # a start does not make it known
        assert source.frame_count == 0 and source.estimated_frames == 0
        assert len(list(source)) == 3
    writer.join()
    # and without a frame rate nothing can be counted
    stream = SimpleNamespace(duration=17, time_base=Fraction(1, 25))
    assert media._frames_from_duration(stream, SimpleNamespace(duration=680000), None) == 0
    assert media._frames_from_duration(stream, SimpleNamespace(duration=680000), Fraction(25)) == 17


@pytest.mark.parametrize(("pix_fmt", "shifts"), [("yuv410p", (2, 2)), ("yuv411p", (2, 0)), ("yuv440p", (0, 1))])
def test_the_sources_chroma_is_recorded_up_to_a_quarter(tmp_path: Path, pix_fmt: str, shifts: tuple) -> None:
    """FORMAT.md tag 4: log2 of the chroma subsampling, each 0 ... 2 (4:1:0 and 4:1:1 say 2)."""
    _clip(tmp_path / "c.mkv", "ffv1", [0, 1], pix_fmt=pix_fmt)
    source, frames = read_all(tmp_path / "c.mkv")
    assert source.pix_fmt == pix_fmt and source.chroma_subsampling == shifts and len(frames) == 2


def test_a_start_keeps_an_unknown_count_unknown_and_the_last_frame_counts_one(tmp_path: Path) -> None:
    """--start: the container's frame count (0: it has none, never a guess) less the frames skipped; a
    start at the last frame leaves a count of one."""
    _clip(tmp_path / "n.mkv", "ffv1", list(range(5)))
    source, frames = read_all(tmp_path / "n.mkv", start=Fraction(1, 10))  # frame 2.5: frame 3 on
    assert len(frames) == 2 and source.frame_count == 0 and source.estimated_frames == 2
    _clip(tmp_path / "c.mp4", "mpeg4", list(range(5)))
    source, frames = read_all(tmp_path / "c.mp4", start=Fraction(4, 25))  # the last frame
    assert len(frames) == 1 and source.frame_count == 1 and source.estimated_frames == 1


def _yuv_clip(path: Path, size: tuple[int, int], matrix: av.video.reformatter.Colorspace) -> np.ndarray:
    """One lossless 4:4:4 limited-range frame made with ``matrix``, in a stream with no colour tags."""
    w, h = size
    rgb = pattern(h, w)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv444p"
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv444p", dst_colorspace=matrix, dst_color_range=av.video.reformatter.ColorRange.MPEG)
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return rgb


def _mean_error(path: Path, rgb: np.ndarray, **kw: object) -> float:
    _, frames = read_all(path, **kw)
    return float(np.abs(frames[0].rgb.astype(np.int16) - rgb).mean())


def test_untagged_video_is_bt709_from_720_lines_up_whatever_its_width(tmp_path: Path) -> None:
    """Module docstring: untagged video is read as BT.601 below 720 lines, BT.709 from 720 lines up
    (the picture's height, not its width)."""
    from av.video.reformatter import Colorspace

    tall = _yuv_clip(tmp_path / "tall.mkv", (16, 720), Colorspace.ITU709)
    wide = _yuv_clip(tmp_path / "wide.mkv", (1280, 16), Colorspace.ITU601)
    assert _mean_error(tmp_path / "tall.mkv", tall) < 1.5
    assert _mean_error(tmp_path / "wide.mkv", wide) < 1.5
    _yuv_clip(tmp_path / "tall601.mkv", (16, 720), Colorspace.ITU601)
    assert _mean_error(tmp_path / "tall601.mkv", tall) > 4  # (so the matrix is what tells them apart)


def test_raw_full_range_jpeg_yuv_is_read_as_full_range(tmp_path: Path) -> None:
    """yuvj formats are full range when nothing says otherwise."""
    from av.video.reformatter import ColorRange, Colorspace

    rgb = pattern(16, 32)
    planes = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuvj444p", dst_colorspace=Colorspace.ITU601, dst_color_range=ColorRange.JPEG).to_ndarray()
    (tmp_path / "j.yuv").write_bytes(planes.tobytes() * 2)
    source, frames = read_all(tmp_path / "j.yuv", raw=media.RawFormat(32, 16, Fraction(25), "yuvj444p"))
    assert source.pix_fmt == "yuvj444p" and len(frames) == 2
    assert float(np.abs(frames[1].rgb.astype(np.int16) - rgb).mean()) < 1.5


@pytest.mark.parametrize("name", ["f.raw", "f.y", "f.yuv"])
def test_raw_frames_named_raw_are_read_as_raw_frames(tmp_path: Path, name: str) -> None:
    """Bug fixed: FFmpeg's image2 claims a ``.raw`` or ``.y`` name as one raw picture of no size; that is
    not a container given raw options by mistake (which is refused), it is raw frames."""
    frames = np.stack([pattern(16, 32, t) for t in range(3)])
    (tmp_path / name).write_bytes(frames.tobytes())
    _, got = read_all(tmp_path / name, raw=media.RawFormat(32, 16, Fraction(25), "rgb24"))
    assert len(got) == 3 and all(np.array_equal(g.rgb, f) for g, f in zip(got, frames))
    # a picture that says its size is still refused
    av.VideoFrame.from_ndarray(frames[0], format="rgb24").to_image().save(tmp_path / "p.png")
    with pytest.raises(UsageError, match="not raw frames"):
        open_source(tmp_path / "p.png", raw=media.RawFormat(32, 16, Fraction(25), "rgb24"))


def _audio_of(path: Path, start: Fraction | None, ahead: bool = False) -> tuple[list[int], list[int]]:
    """Each frame's pts, and the pts of the audio packets take_audio hands out: taken as each frame
    comes, or (``ahead``) once every frame was read, as a demuxing thread runs ahead."""
    with open_source(path, audio=True, start=start) as source:
        frames = list(source) if ahead else source
        pts, audio = [], []
        for frame in frames:
            pts.append(frame.pts)
            audio += [p.pts for p in source.take_audio()]
        audio += [p.pts for p in source.take_audio()]
    return pts, audio


def test_a_start_keeps_the_audio_from_its_time_on_with_the_same_frames_as_without_it(tmp_path: Path) -> None:
    """_start_at: audio packets that begin before the start are dropped (one that begins at it is kept)
    but for the last one or two, which warm a decoder up (at most KEPT_DISCARDED_AUDIO_S long: one of
    these 0.1 s packets), the others move back by as much as the video, however far the demuxing ran
    ahead of the frames taken."""
    _clip(tmp_path / "av.mkv", "ffv1", list(range(25)), audio_seconds=1)  # audio packets every 0.1 s
    whole_pts, whole_audio = _audio_of(tmp_path / "av.mkv", None)
    assert whole_audio == list(range(0, 1000, 100))
    pts, audio = _audio_of(tmp_path / "av.mkv", Fraction(1, 5))  # frame 5, with audio at 0.2 s
    k, shift = 5, 200  # (ms: Matroska's time base, the audio's too)
    assert pts == [p - shift for p in whole_pts[k:]]
    assert audio == [p - shift for p in whole_audio if p >= shift - 100]  # -100: the warm-up packet
    # the same when the frames were all read before the audio was asked for
    assert _audio_of(tmp_path / "av.mkv", None, ahead=True) == (whole_pts, whole_audio)
    assert _audio_of(tmp_path / "av.mkv", Fraction(1, 5), ahead=True) == (pts, audio)


def test_a_source_is_iterated_once(tmp_path: Path) -> None:
    _clip(tmp_path / "o.mkv", "ffv1", [0, 1])
    with open_source(tmp_path / "o.mkv") as source:
        assert len(list(source)) == 2
        with pytest.raises(UsageError, match="iterated once"):
            list(source)


def _avi_order(stamps: list[int | None]) -> list[int | None]:
    frames = [SimpleNamespace(pts=p) for p in stamps]
    return [f.pts for f in media._display_order_pts(iter(frames))]


def test_avi_timestamps_are_given_out_smallest_first_within_the_reorder_depth() -> None:
    """_display_order_pts: each frame gets the smallest timestamp among itself and the next
    AVI_REORDER_DEPTH frames not yet given out; a frame without one keeps none."""
    depth = media.AVI_REORDER_DEPTH
    assert _avi_order([0, 3, 1, 2, 6, 4, 5]) == [0, 1, 2, 3, 4, 5, 6]
    assert _avi_order([0, 2, 1, None, 3]) == [0, 1, 2, None, 3]
    # the smallest stamp exactly depth frames later still reaches the first frame
    assert _avi_order(list(range(1, depth + 1)) + [0]) == list(range(depth + 1))
    # one further away does not: the first frame is given out before it is seen
    far = list(range(1, depth + 2)) + [0]
    assert _avi_order(far) == [1, 0] + list(range(2, depth + 2))


def _y4m_frames(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return data.split(b"\n", 1)[1].split(b"FRAME\n")[1:]


def test_y4m_without_a_frame_rate_writes_each_frame_once_at_the_time_bases_rate(tmp_path: Path) -> None:
    """No frame rate: the header rate is the time base's, and there is no grid to repeat frames on."""
    ref = [pattern(16, 32, t) for t in range(3)]
    write_frames(tmp_path / "n.y4m", ref, [0, 1, 5], time_base=Fraction(1, 25), frame_rate=None)
    assert (tmp_path / "n.y4m").read_bytes().startswith(b"YUV4MPEG2 W32 H16 F25:1 ")
    written = _y4m_frames(tmp_path / "n.y4m")
    assert len(written) == 3 and len(set(written)) == 3


def test_y4m_grid_starts_at_the_first_frame(tmp_path: Path, caplog) -> None:
    """Frames go on the rate's grid by their pts counted from the first frame's: an even 25 fps source
    whose clock starts 10 ms in (a quarter of a frame) gives every frame once, with no warning."""
    ref = [pattern(16, 32, t) for t in range(6)]
    with caplog.at_level("WARNING", logger="vidcodec"):
        write_frames(tmp_path / "g.y4m", ref, [10 + 40 * i for i in range(6)], time_base=Fraction(1, 1000),
                     frame_rate=Fraction(25))
    written = _y4m_frames(tmp_path / "g.y4m")
    assert len(written) == 6 and len(set(written)) == 6 and not caplog.records


def test_y4m_fills_a_long_gap_with_exactly_as_many_repeats(tmp_path: Path) -> None:
    """A gap of 20 frames (more than one write's worth of repeats) holds the frame before it 20 times."""
    ref = [pattern(16, 32, t) for t in range(2)]
    write_frames(tmp_path / "l.y4m", ref, [0, 21], time_base=Fraction(1, 25), frame_rate=Fraction(25))
    written = _y4m_frames(tmp_path / "l.y4m")
    assert len(written) == 22 and written[:21] == [written[0]] * 21 and written[21] != written[0]


@pytest.mark.parametrize(("size", "expected"), [((64, 47), "yuv444p"), ((63, 48), "yuv444p"), ((62, 44), "yuv420p")])
def test_h264_outputs_are_420_unless_a_side_is_odd(tmp_path: Path, size: tuple[int, int], expected: str) -> None:
    """open_sink: H.264 4:2:0 by default, 4:4:4 when a dimension is odd (4:2:0 needs even sizes)."""
    w, h = size
    ref = [pattern(h, w, t) for t in range(2)]
    write_frames(tmp_path / "o.mkv", ref, [0, 40])
    with av.open(str(tmp_path / "o.mkv")) as c:
        assert c.streams.video[0].codec_context.pix_fmt == expected
        assert sum(1 for _ in c.decode(video=0)) == 2


def test_a_variable_rate_output_claims_no_rate_and_keeps_its_last_frames_time(tmp_path: Path) -> None:
    """No frame rate (a stream whose header says 0/0): the Matroska output names none (a rate would be a
    DefaultDuration every frame is measured against) and still lasts until the last frame ends, that
    frame lasting as long as the interval before it."""
    ref = [pattern(16, 32, t) for t in range(4)]
    write_frames(tmp_path / "v.mkv", ref, [0, 40, 120, 130], time_base=Fraction(1, 1000), frame_rate=None)
    with av.open(str(tmp_path / "v.mkv")) as c:
        assert not c.streams.video[0].average_rate
        assert c.duration == 140 * av.time_base // 1000
        assert sorted(p.pts for p in c.demux(video=0) if p.size) == [0, 40, 120, 130]


@pytest.mark.parametrize("rate", [Fraction(25), None])
def test_a_lone_frame_lasts_one_frame_at_the_rate(tmp_path: Path, rate: Fraction | None) -> None:
    """_EncodedSink: a frame lasts until the next one; the last (here the only) one the interval before
    it, the first the frame rate's (25 fps, as FFmpeg's default, when the stream gives none)."""
    for time_base in (Fraction(1, 1000), Fraction(1, 25)):  # (a frame is one tick of the second)
        write_frames(tmp_path / "one.mkv", [pattern(16, 32)], [0], time_base=time_base, frame_rate=rate,
                     overwrite=True)
        with av.open(str(tmp_path / "one.mkv")) as c:
            assert c.duration == 40 * av.time_base // 1000


@pytest.mark.parametrize("ext", [".mkv", ".y4m"])
def test_writing_after_close_is_a_usage_error(tmp_path: Path, ext: str) -> None:
    with media.open_sink(tmp_path / f"c{ext}", width=32, height=16, time_base=Fraction(1, 25),
                         frame_rate=Fraction(25)) as sink:
        sink.write(pattern(16, 32), 0)
    sink.close()  # (a second close does nothing)
    with pytest.raises(UsageError, match="after close"):
        sink.write(pattern(16, 32, 1), 1)


def test_x264_is_steadied_on_a_cpu_with_exactly_the_avx512_it_checks() -> None:
    """steady_x264: a CPU with all five AVX-512 flags x264 checks (nothing else need be listed)."""
    flags = media.X264_AVX512_FLAGS
    assert media.steady_x264("libx264", {}, frozenset(flags)) == {"x264-params": "asm=AVX2"}


def test_chroma_siting_is_added_for_x264_and_x265_only() -> None:
    """center_chroma: x264/x265 get chromaloc=1 in their params; any other encoder's options are a copy."""
    assert media.center_chroma("libx264", {"crf": "14"}) == {"crf": "14", "x264-params": "chromaloc=1"}
    assert media.center_chroma("libx265", {"x265-params": "log-level=error"}) == {
        "x265-params": "log-level=error:chromaloc=1"}
    options = {"crf": "30"}
    for other in ("libvpx-vp9", "mjpeg", "libx264rgb"):
        got = media.center_chroma(other, options)
        assert got == {"crf": "30"} and got is not options


# ---------------------------------------------------------------- image sequences


def test_frame_pattern_takes_one_number_and_only_escaped_percent_signs() -> None:
    """frame_pattern: exactly one %d (%4d, %04d: that width; %d: none), every other % is %%, and no
    braces (the text is formatted with {} where the number goes)."""
    assert media.frame_pattern("f/%d.png") == ("{}.png", 0)
    assert media.frame_pattern("f/x%04d.png") == ("x{}.png", 4)
    assert media.frame_pattern("f/50%%_%3d.png") == ("50%_{}.png", 3)
    for bad in ("f/50%_%04d.png", "f/a{b}%04d.png", "f/a}%d.png", "f/{%d.png", "f/%d_%d.png", "f/x.png",
                "f/%04d.mp4", "-"):
        assert media.frame_pattern(bad) is None, bad


def test_image_sequence_warns_of_a_gap_only_when_asked_and_only_for_a_gap(tmp_path: Path, caplog) -> None:
    for n in (1, 2, 3, 5):
        (tmp_path / f"g{n:03d}.png").write_bytes(b"")
        (tmp_path / f"s{n if n < 5 else 4:03d}.png").write_bytes(b"")
    with caplog.at_level("WARNING", logger="vidcodec"):
        assert media.image_sequence(tmp_path / "g%03d.png") == (tmp_path / "g%03d.png", 1)  # (warn=False)
        assert media.image_sequence(tmp_path / "s%03d.png", warn=True) == (tmp_path / "s%03d.png", 1)
    assert not caplog.records
    with caplog.at_level("WARNING", logger="vidcodec"):
        media.image_sequence(tmp_path / "g%03d.png", warn=True)
    assert len(caplog.records) == 1 and "frame 4 is missing" in caplog.records[0].getMessage()


# ---------------------------------------------------------------- audio held back and handed out


def test_held_audio_is_released_when_the_video_reaches_its_start_not_at_it() -> None:
    """HeldAudio.upto: the held packets that start *before* video_end, in order."""
    held = media.HeldAudio(Fraction(1, 1000))
    held.hold(media.AudioPacket(b"x", pts, 100) for pts in (0, 100, 200))
    assert [p.pts for p in held.upto(Fraction(1, 5))] == [0, 100]
    assert [p.pts for p in held.upto(Fraction(1, 5))] == []
    assert [p.pts for p in held.upto(Fraction(201, 1000))] == [200]


# ---------------------------------------------------------------- stdin


def test_only_mp4_mov_not_in_fragments_and_avi_are_spooled() -> None:
    def box(kind: bytes, size: int = 16) -> bytes:
        return size.to_bytes(4, "big") + kind + bytes(size - 8)

    assert media._needs_a_file(box(b"ftyp", 24) + box(b"mdat", 40))  # its index after its media
    assert media._needs_a_file(box(b"ftyp", 24) + box(b"moov", 5000))  # (cannot tell yet: the file)
    assert media._needs_a_file(box(b"ftyp", 24) + box(b"free") + b"\x00\x00")  # (cut inside a box header)
    assert media._needs_a_file(b"\x00\x00\x00\x01mdat" + bytes(8))  # (a 64-bit size cut short)
    assert media._needs_a_file(b"RIFF\x00\x10\x00\x00AVI LIST")
    assert not media._needs_a_file(box(b"ftyp", 24) + box(b"moov", 700) + box(b"moof", 100))  # fragments
    assert not media._needs_a_file(box(b"styp") + box(b"sidx", 44) + box(b"moof", 100))  # CMAF
    assert not media._needs_a_file(b"\x00\x00\x00\x01free" + (24).to_bytes(8, "big") + bytes(8) + box(b"moof"))
    ts = bytearray(377)
    ts[0] = ts[188] = ts[376] = 0x47
    for head in (bytes(ts), bytes(ts[101:]), b"YUV4MPEG2 W2 H2", b"\x1a\x45\xdf\xa3", b"\x00\x00\x00\x01\x09\x10",
                 bytes(range(256)) * 16, b""):  # streamed: random bytes are FFmpeg's to refuse, not the disk's
        assert not media._needs_a_file(head), head[:16]


class _Trickle(io.RawIOBase):
    """A reader that hands out at most ``most`` bytes a read, as a slow pipe may."""

    def __init__(self, data: bytes, most: int) -> None:
        self._data, self._most = data, most

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = min(self._most, len(self._data) if size < 0 else size)
        out, self._data = self._data[:n], self._data[n:]
        return out


def test_read_head_reads_the_whole_size_unless_the_input_ends() -> None:
    for most in (1, 3):
        assert media._read_head(_Trickle(b"abcdefgh", most), 4) == b"abcd"
        assert media._read_head(_Trickle(b"ab", most), 4) == b"ab"
    assert media._read_head(io.BytesIO(b"abcdef"), 6) == b"abcdef"


def test_a_borrowed_reader_has_its_own_position_counted_from_its_base() -> None:
    """_Borrowed: seek/tell counted from ``base`` (SEEK_SET, SEEK_CUR, SEEK_END as io does), and the
    object it reads keeps its own position."""
    f = io.BytesIO(b"HEADmedia-bytes")
    f.seek(7)
    b = media._Borrowed(f, 4)
    assert b.read(5) == b"media" and b.tell() == 5
    assert b.seek(1, io.SEEK_CUR) == 6 and b.read(5) == b"bytes"
    assert b.seek(-5, io.SEEK_END) == 6 and b.tell() == 6 and b.read(2) == b"by"
    assert b.seek(0, io.SEEK_END) == 11 and b.read(1) == b""
    assert b.seek(2) == 2 and b.read(3) == b"dia"
    assert f.tell() == 7


# ---------------------------------------------------------------- the audio track


def test_a_damaged_audio_description_is_refused() -> None:
    """FORMAT.md tag 1: u32 time-base numerator, u32 denominator (neither 0), u32 size A, then A bytes."""
    import struct

    from vidcodec.errors import InputError

    for tb in (Fraction(1, 48000), Fraction(1, 1)):
        track = media.AudioTrack(tb, b"params")
        assert media.AudioTrack.from_bytes(track.to_bytes()) == track
    for num, den, size, rest in ((0, 48000, 2, b"ab"), (1, 0, 2, b"ab"), (1, 48000, 3, b"ab"), (1, 48000, 1, b"ab")):
        with pytest.raises(InputError, match="damaged"):
            media.AudioTrack.from_bytes(struct.pack("<III", num, den, size) + rest)


def test_a_sink_without_an_audio_track_or_closed_drops_audio_packets(tmp_path: Path) -> None:
    """VideoSink.write_audio: sinks without audio drop it (and a closed one writes nothing more)."""
    packet = media.AudioPacket(b"\x00" * 16, 0, 8)
    with media.open_sink(tmp_path / "v.mkv", width=32, height=16, time_base=Fraction(1, 25),
                         frame_rate=Fraction(25)) as sink:
        sink.write(pattern(16, 32), 0)
        sink.write_audio(packet)
    sink.write_audio(packet)
    with av.open(str(tmp_path / "v.mkv")) as c:
        assert not c.streams.audio and len(list(c.decode(video=0))) == 1


def test_an_audio_packet_that_does_not_come_after_the_last_is_dropped_alone(tmp_path: Path) -> None:
    """_EncodedSink.write_audio: a packet at or before the one before it (a damaged stream's) is
    dropped, and the audio goes on; MOV's muxer would refuse an equal timestamp and with it the rest."""
    _clip(tmp_path / "in.mkv", "ffv1", list(range(10)), audio_seconds=0.4)
    with open_source(tmp_path / "in.mkv", audio=True) as source:
        list(source)
        track, packets = source.audio_track, source.take_audio()
    assert track is not None and [p.pts for p in packets] == [0, 100, 200, 300]
    with media.open_sink(tmp_path / "o.mov", width=32, height=16, time_base=Fraction(1, 25),
                         frame_rate=Fraction(25), audio=track) as sink:
        for i in range(10):
            sink.write(pattern(16, 32, i), i)
        for p in (packets[0], packets[1], packets[1], packets[2], packets[3]):
            sink.write_audio(p)
    with av.open(str(tmp_path / "o.mov")) as c:
        audio = c.streams.audio[0]
        ends = [float((p.pts + p.duration) * p.time_base) for p in c.demux(audio) if p.size]
    assert ends and max(ends) == pytest.approx(0.4, abs=0.01)


def test_a_smaller_stream_marked_default_is_read_before_a_larger_one(tmp_path: Path) -> None:
    """VideoSource: a stream marked default before one that is not, then the largest."""
    path = tmp_path / "two.mkv"
    with av.open(str(path), "w") as out:
        small = out.add_stream("ffv1", rate=25)
        small.width, small.height, small.pix_fmt = 32, 16, "yuv420p"
        large = out.add_stream("ffv1", rate=25)
        large.width, large.height, large.pix_fmt = 64, 48, "yuv420p"
        small.disposition = av.stream.Disposition.default
        large.disposition = av.stream.Disposition(0)
        for stream, n in ((small, 3), (large, 2)):
            for i in range(n):
                f = av.VideoFrame.from_ndarray(pattern(stream.height, stream.width, i), format="rgb24").reformat(
                    format="yuv420p")
                f.pts = i
                out.mux(stream.encode(f))
            out.mux(stream.encode(None))
    source, frames = read_all(path)
    assert (source.width, source.height) == (32, 16) and len(frames) == 3
    # neither marked: the largest picture (not the widest)
    path = tmp_path / "none.mkv"
    with av.open(str(path), "w") as out:
        streams = [out.add_stream("ffv1", rate=25) for _ in range(2)]
        for stream, (w, h) in zip(streams, ((64, 8), (48, 32))):
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.disposition = av.stream.Disposition(0)
        for stream in streams:
            f = av.VideoFrame.from_ndarray(pattern(stream.height, stream.width), format="rgb24").reformat(
                format="yuv420p")
            f.pts = 0
            out.mux(stream.encode(f))
            out.mux(stream.encode(None))
    source, _ = read_all(path)
    assert (source.width, source.height) == (48, 32)


def test_audio_not_asked_for_is_described_but_not_carried(tmp_path: Path, caplog) -> None:
    _clip(tmp_path / "av.mkv", "ffv1", list(range(3)), audio_seconds=0.2)
    with caplog.at_level("WARNING", logger="vidcodec"):
        source, _ = read_all(tmp_path / "av.mkv")
    assert source.audio is not None and source.audio.sample_rate == 8000
    assert source.audio_track is None and source.take_audio() == [] and not caplog.records


def test_a_video_stream_without_a_frame_is_an_input_error(tmp_path: Path) -> None:
    """A video stream whose few packets all fail to decode: no frame, an InputError that says so."""
    from vidcodec.errors import InputError

    with av.open(str(tmp_path / "g.mkv"), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        for i in range(3):
            packet = av.Packet(b"\x00\x01garbage" * 4)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, Fraction(1, 25)
            out.mux(packet)
    with pytest.raises(InputError, match="no decodable frames"):
        open_source(tmp_path / "g.mkv")
