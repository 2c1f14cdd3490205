"""Tests of vidcodec.media: decoding any container to RGB with pts, and the mp4/mkv/mov/y4m sinks."""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import os
import struct
import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import ColorRange, Colorspace

from vidcodec.errors import InputError, OutputExistsError, UsageError
from vidcodec.media import (
    MATRIX_BT601,
    MATRIX_BT709,
    MATRIX_BT2020,
    MATRIX_UNSPECIFIED,
    RANGE_FULL,
    RANGE_LIMITED,
    RANGE_UNSPECIFIED,
    RawFormat,
    SinkClosed,
    open_sink,
    open_source,
    resolve_color,
)

W, H = 64, 48
TB = Fraction(1, 1000)


def pattern(h: int = H, w: int = W, t: int = 0) -> np.ndarray:
    """A smooth, saturated, slowly moving RGB test pattern."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 110 * np.sin(2 * np.pi * x / w + 0.3 * t)
    g = 128 + 110 * np.sin(2 * np.pi * y / h + 0.2 * t)
    b = 128 + 110 * np.cos(2 * np.pi * (x + y) / (w + h) - 0.25 * t)
    return np.stack([r, g, b], -1).round().astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images."""
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return 10 * np.log10(255**2 / max(mse, 1e-10))


def write_clip(path: Path, codec: str, pix_fmt: str, *, size: tuple[int, int] = (W, H), n: int = 5,
               pts: list[int] | None = None, time_base: Fraction = Fraction(1, 25),
               planes: tuple[Colorspace, ColorRange] = (Colorspace.ITU601, ColorRange.MPEG),
               tags: tuple[int, int] | None = None, rotation: int = 0, gop: int | None = None) -> list[np.ndarray]:
    """Encode ``n`` pattern frames with PyAV (YUV made with ``planes``, stream tagged ``tags``; a
    keyframe every ``gop`` frames when given)."""
    w, h = size
    pts = pts if pts is not None else list(range(n))
    frames = [pattern(h, w, i) for i in range(len(pts))]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=1 / time_base)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.time_base = stream.codec_context.time_base = time_base
        if tags is not None:
            stream.codec_context.colorspace, stream.codec_context.color_range = tags
        if rotation:
            stream.set_display_rotation(rotation)
        if gop is not None:
            stream.codec_context.gop_size = gop
        for rgb, p in zip(frames, pts):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format=pix_fmt, dst_colorspace=planes[0], dst_color_range=planes[1])
            frame.pts, frame.time_base = p, time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return frames


def read_all(src: str | Path, **kw: object) -> tuple[object, list]:
    """The opened source (closed) and all its frames."""
    with open_source(src, **kw) as source:
        frames = list(source)
    return source, frames


# ---------------------------------------------------------------- input


@pytest.mark.parametrize(("name", "codec", "pix_fmt", "min_psnr"), [
    ("a.mp4", "libx264", "yuv420p", 32),  # x264 at its default CRF 23
    ("a.mov", "libx264", "yuv420p", 32),
    ("a.mkv", "ffv1", "yuv420p", 35),
    ("rgb.mkv", "ffv1", "bgr0", 99),  # lossless RGB: exact
    ("a.avi", "mpeg4", "yuv420p", 25),
    ("a.webm", "libvpx-vp9", "yuv420p", 30),
    ("a.y4m", "rawvideo", "yuv420p", 35),
])
def test_reads_containers(tmp_path: Path, name: str, codec: str, pix_fmt: str, min_psnr: float) -> None:
    if codec not in av.codecs_available:
        pytest.skip(f"{codec} not in this FFmpeg build")
    ref = write_clip(tmp_path / name, codec, pix_fmt)
    source, frames = read_all(tmp_path / name)
    assert (source.width, source.height, source.pix_fmt) == (W, H, pix_fmt)
    assert source.frame_rate == 25 and source.time_base > 0
    assert [f.index for f in frames] == list(range(5))
    assert all(b.pts > a.pts for a, b in itertools.pairwise(frames))
    for f, r in zip(frames, ref):
        assert f.rgb.dtype == np.uint8 and f.rgb.shape == (H, W, 3) and f.rgb.flags.c_contiguous
        assert psnr(f.rgb, r) > min_psnr


def test_vfr_and_nonzero_start_pts_survive(tmp_path: Path) -> None:
    pts = [1000, 1040, 1100, 1133, 1300, 1340]
    write_clip(tmp_path / "vfr.mkv", "libx264", "yuv420p", pts=pts, time_base=TB)
    source, frames = read_all(tmp_path / "vfr.mkv")
    assert source.time_base == TB and source.start_pts == 1000
    assert [f.pts for f in frames] == pts


def _mjpeg_with_packet_pts(path: Path, pts: list[int]) -> None:
    """An intra-only clip whose decoder returns frames in packet order with these pts (ms), late ones too."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuvj420p"
        stream.time_base = Fraction(1, 1000)
        for i, p in enumerate(pts):
            for pkt in stream.encode(av.VideoFrame.from_ndarray(pattern(t=i), format="rgb24")):
                pkt.pts, pkt.dts, pkt.time_base = p, 40 * (i - 20), Fraction(1, 1000)  # dts: increasing, <= pts
                out.mux(pkt)


def test_a_late_frame_is_dropped_and_the_frames_after_it_keep_their_times(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    # a damaged broadcast: the frames from 160 to 480 lost, but for two returned late, after later ones
    _mjpeg_with_packet_pts(tmp_path / "late.mkv", [0, 40, 80, 120, 520, 160, 560, 600, 240, 640])
    with caplog.at_level(logging.WARNING):
        _, frames = read_all(tmp_path / "late.mkv")
    # before: 160 took 560's time, and every frame after it was a frame late (600, 640, 680, 720, 760)
    assert [f.pts for f in frames] == [0, 40, 80, 120, 520, 560, 600, 640]
    assert [f.index for f in frames] == [0, 1, 2, 3, 4, 6, 7, 9]  # the demuxed frame's (take_audio(before=) is given it)
    assert "dropping it, as ffmpeg does" in caplog.text
    class Piped(io.BytesIO):  # read as it comes (a seek would forget the jump)
        def seekable(self) -> bool:
            return False

    with open_source("-", stdin=Piped((tmp_path / "late.mkv").read_bytes()), start=Fraction(54, 100)) as source:
        assert [f.pts for f in source] == [0, 40, 80]  # 560, 600, 640: the stray 160 is not the start
    # not a gap: decode-order times of B-frames (a broken muxer), a clock that goes back (streams joined
    # end to end, by more or less than LATE_FRAME_S): every frame kept, one frame after the last
    for name, pts, want in [("bframes", [0, 120, 80, 160, 40, 200], [0, 120, 160, 200, 240, 280]),
                            ("joined", [1000, 1040, 1080, 1120, 0, 40, 80], [1000, 1040, 1080, 1120, 1160, 1200, 1240]),
                            ("short", [200, 240, 280, 320, 200, 240], [200, 240, 280, 320, 360, 400])]:
        _mjpeg_with_packet_pts(tmp_path / f"{name}.mkv", pts)
        _, frames = read_all(tmp_path / f"{name}.mkv")
        assert [f.pts for f in frames] == want, name


@pytest.mark.parametrize("rate", [Fraction(25), Fraction(30000, 1001), Fraction(50)])
def test_missing_pts_are_synthesized_at_the_streams_own_rate(tmp_path: Path, rate: Fraction) -> None:
    with av.open(str(tmp_path / "raw.h264"), "w", format="h264") as out:  # raw H.264 has no timestamps
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = W, H
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(pattern(t=i), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    source, frames = read_all(tmp_path / "raw.h264")
    # the rate its timing info gives, as ffmpeg times it: not the raw demuxer's default of 25
    assert source.frame_rate == source.grid_rate == rate
    step = round(1 / (source.frame_rate * source.time_base))
    assert [f.pts for f in frames] == [0, step, 2 * step, 3 * step]


def test_avi_with_b_frames_gets_increasing_pts(tmp_path: Path) -> None:
    # AVI keeps decode-order timestamps: PyAV hands these frames out stamped 1 2 4 5 3 6 ...
    write_clip(tmp_path / "b.avi", "libx264", "yuv420p", n=12)
    _, frames = read_all(tmp_path / "b.avi")
    first = frames[0].pts
    assert [f.pts for f in frames] == list(range(first, first + 12))


def test_avi_frames_shown_longer_keep_their_time(tmp_path: Path) -> None:
    # Gaps in an AVI are empty "repeat the previous frame" packets (capture drops, Cinepak clips):
    # the next frame comes later, and the clip keeps its length.
    write_clip(tmp_path / "gaps.avi", "mjpeg", "yuvj420p", pts=[0, 1, 2, 5, 6, 9, 10])
    _, frames = read_all(tmp_path / "gaps.avi")
    assert [f.pts for f in frames] == [0, 1, 2, 5, 6, 9, 10]


def matrix_error(tmp_path: Path, planes: tuple[Colorspace, ColorRange], tags: tuple[int, int]) -> float:
    """Mean abs RGB error reading a lossless clip whose YUV was made with ``planes`` but tagged ``tags``."""
    path = tmp_path / f"m{planes[0]}{planes[1]}{tags[0]}{tags[1]}.mkv"
    ref = write_clip(path, "ffv1", "yuv444p", n=1, planes=planes, tags=tags)
    source, frames = read_all(path)
    assert (source.color_matrix, source.color_range) == tags
    return float(np.abs(frames[0].rgb.astype(np.int16) - ref[0]).mean())


def test_colour_tags_are_honoured(tmp_path: Path) -> None:
    bt709 = (Colorspace.ITU709, ColorRange.MPEG)
    right = matrix_error(tmp_path, bt709, (MATRIX_BT709, RANGE_LIMITED))
    assert right < 1.0
    assert matrix_error(tmp_path, bt709, (MATRIX_BT601, RANGE_LIMITED)) > 3 * right + 2
    assert matrix_error(tmp_path, bt709, (MATRIX_BT709, RANGE_FULL)) > 3 * right + 2
    assert matrix_error(tmp_path, (Colorspace.ITU709, ColorRange.JPEG), (MATRIX_BT709, RANGE_FULL)) < 1.0
    assert matrix_error(tmp_path, (Colorspace.BT2020, ColorRange.MPEG), (MATRIX_BT2020, RANGE_LIMITED)) < 1.0
    # untagged SD video is BT.601 limited range
    assert matrix_error(tmp_path, (Colorspace.ITU601, ColorRange.MPEG), (MATRIX_UNSPECIFIED, RANGE_UNSPECIFIED)) < 1.0


def test_resolve_color_defaults() -> None:
    assert resolve_color(MATRIX_UNSPECIFIED, RANGE_UNSPECIFIED, 576) == (MATRIX_BT601, RANGE_LIMITED)
    assert resolve_color(MATRIX_UNSPECIFIED, RANGE_UNSPECIFIED, 720) == (MATRIX_BT709, RANGE_LIMITED)
    assert resolve_color(5, RANGE_FULL, 1080) == (MATRIX_BT601, RANGE_FULL)  # BT.470BG is BT.601
    assert resolve_color(MATRIX_BT2020, RANGE_LIMITED, 100) == (MATRIX_BT2020, RANGE_LIMITED)


def test_high_bit_depth_becomes_8_bit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ref = write_clip(tmp_path / "10bit.mkv", "ffv1", "yuv420p10le", n=3)
    with caplog.at_level(logging.INFO, logger="vidcodec.media"):
        source, frames = read_all(tmp_path / "10bit.mkv")
    assert source.pix_fmt == "yuv420p10le"
    assert sum("8-bit" in r.getMessage() for r in caplog.records) == 1
    assert frames[0].rgb.dtype == np.uint8 and psnr(frames[0].rgb, ref[0]) > 35


def test_odd_size_input(tmp_path: Path) -> None:
    ref = write_clip(tmp_path / "odd.mkv", "ffv1", "yuv444p", size=(33, 17), n=2)
    source, frames = read_all(tmp_path / "odd.mkv")
    assert (source.width, source.height) == (33, 17) and frames[1].rgb.shape == (17, 33, 3)
    assert psnr(frames[1].rgb, ref[1]) > 40


@pytest.mark.parametrize("rotation", [90, 180, -90])
def test_display_rotation_is_applied(tmp_path: Path, rotation: int) -> None:
    ref = write_clip(tmp_path / "rot.mp4", "libx264", "yuv420p", n=1, rotation=rotation)
    source, frames = read_all(tmp_path / "rot.mp4")
    assert (source.width, source.height) == ((W, H) if rotation == 180 else (H, W))
    assert psnr(frames[0].rgb, np.rot90(ref[0], rotation // 90)) > 30  # counter-clockwise, as players show it


def test_transparency_that_is_dropped_is_said_opacity_is_not(tmp_path: Path, caplog) -> None:
    from PIL import Image

    rgba = np.dstack([pattern(), np.full((H, W), 255, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    rgba[:8, :8, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        _, frames = read_all(tmp_path / "opaque.png")
        assert not caplog.records
        _, clear = read_all(tmp_path / "clear.png")
    assert "has transparent pixels (rgba)" in caplog.text and "alpha channel is dropped" in caplog.text
    assert np.array_equal(frames[0].rgb, clear[0].rgb)  # the colours under it, as before
    palette = Image.fromarray(pattern()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.save(tmp_path / "trns.png", transparency=0)  # a palette PNG with a transparent colour (tRNS)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        read_all(tmp_path / "trns.png")
    assert "has transparent pixels (pal8)" in caplog.text


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_every_exif_orientation_is_put_upright_as_pil_puts_it(tmp_path: Path, ext: str) -> None:
    """The mirrored ones (2, 4, 5, 7) too: PyAV's frame.rotation is the display matrix's angle alone,
    and a photo mirrored left to right (EXIF 2) came out upside down. (A PNG's too: the fix of the ICC
    crash had taken every PNG's angle alone.)"""
    from PIL import Image, ImageOps

    picture = Image.fromarray(pattern(h=48, w=64))
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = tmp_path / f"o{orientation}{ext}"
        picture.save(path, exif=exif, **({"quality": 95} if ext == ".jpg" else {}))
        upright = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        source, frames = read_all(path)
        assert frames[0].rgb.shape == upright.shape, orientation
        assert (source.height, source.width) == upright.shape[:2]
        assert psnr(frames[0].rgb, upright) > 35, orientation


@pytest.mark.parametrize("codec", ["libx264", "mjpeg"])
def test_a_file_cut_inside_its_last_frame_gives_what_one_decoder_thread_gives(tmp_path: Path, caplog,
                                                                             codec: str) -> None:
    """H.264's cut packet (FFmpeg flags it corrupt) failed in the frame threads at the final flush, where
    PyAV drops the pictures the threads still hold: as many good frames as threads were lost, unsaid. It
    is dropped before decoding now, for the decoders that make no picture of it; MJPEG makes one (as
    ffmpeg shows it): it is decoded, as before."""
    with av.open(str(tmp_path / "a.mov"), "w", options={"movflags": "+faststart"}) as out:  # its index first
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height = W, H
        stream.pix_fmt = "yuv420p" if codec == "libx264" else "yuvj420p"
        if codec == "libx264":
            stream.options = {"keyint": "10", "bframes": "2"}
        for i in range(40):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(pattern(t=i), format="rgb24").reformat(
                format=stream.pix_fmt)))
        out.mux(stream.encode(None))
    data = (tmp_path / "a.mov").read_bytes()
    with av.open(str(tmp_path / "a.mov")) as c:  # cut inside the last packet
        last = [p for p in c.demux(video=0) if p.size][-1]
    (tmp_path / "cut.mov").write_bytes(data[:last.pos + last.size // 2])
    with av.open(str(tmp_path / "cut.mov")) as c:  # every picture of the cut file, one decoder thread
        c.streams.video[0].thread_type = "NONE"
        whole = 0
        for p in c.demux(video=0):
            with contextlib.suppress(av.FFmpegError):
                whole += len(p.decode())
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        _, frames = read_all(tmp_path / "cut.mov")
    assert len(frames) == whole >= 38
    assert ("that partial frame is dropped" in caplog.text) == (codec == "libx264"), caplog.text


def test_a_colour_range_that_changes_midstream_is_converted_by_each_parts_own(tmp_path: Path) -> None:
    """Full-range H.264 joined after limited-range H.264 (FFmpeg's decoder gives yuv420p either way, the
    range on the frames): the conversion had been the first frame's, and the full-range part came out
    oversaturated and clipped (29.7 dB against ffmpeg)."""
    colour = np.zeros((H, W, 3), np.uint8)
    colour[:] = (48, 96, 192)
    parts = []
    for full in (False, True):
        buf = io.BytesIO()
        with av.open(buf, "w", format="h264") as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
            # each part's range written (colormatrix makes x264 write the range flag, 0 too): an untagged
            # part's frames held for output when the next SPS comes are tagged by it (FFmpeg's decoder)
            stream.options = {"x264-params": "colormatrix=smpte170m"}
            if full:
                stream.codec_context.color_range = ColorRange.JPEG
            for _ in range(5):
                frame = av.VideoFrame.from_ndarray(colour, format="rgb24").reformat(
                    format="yuv420p", dst_colorspace=Colorspace.ITU601,
                    dst_color_range=ColorRange.JPEG if full else ColorRange.MPEG)
                if full:
                    frame.color_range = ColorRange.JPEG
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        parts.append(buf.getvalue())
    (tmp_path / "ab.h264").write_bytes(parts[0] + parts[1])
    _, frames = read_all(tmp_path / "ab.h264")
    assert len(frames) == 10
    for f in frames:
        assert np.abs(f.rgb[H // 2, W // 2].astype(int) - colour[0, 0]).max() <= 3, (f.index, f.rgb[H // 2, W // 2])


def test_nut_on_stdout_says_it_cannot_carry_a_sample_aspect_ratio_that_y4m_carries(caplog) -> None:
    """NUT keeps a stream's aspect ratio, which PyAV gives no way to set: an anamorphic stream piped to ffplay
    played squeezed without a word."""
    for fmt, sar in (("nut", Fraction(4, 3)), ("nut", None), ("y4m", Fraction(4, 3))):
        out = io.BytesIO()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="vidcodec"), open_sink(
                "-", width=W, height=H, time_base=Fraction(1, 25), frame_rate=Fraction(25), stdout=out,
                stdout_format=fmt, sample_aspect=sar) as sink:
            sink.write(pattern(), 0)
        said = "NUT on stdout cannot carry the stream's sample aspect ratio (4:3)" in caplog.text
        assert said == (fmt == "nut" and sar is not None), (fmt, sar, caplog.text)
        if fmt == "y4m":
            assert out.getvalue().split(b"\n")[0].split()[5] == b"A4:3"


def test_a_png_with_an_icc_profile_reads_in_a_process_that_lives_on(tmp_path: Path) -> None:
    """A PNG's iCCP chunk (FFmpeg names the profile in its side data's metadata, which PyAV frees twice
    once wrapped) crashed the process (SIGSEGV) when its display matrix was looked for: a screenshot or
    an exported picture, by itself or in a sequence. Read in a child process, so a crash fails this test
    alone."""
    import sys
    import zlib

    from PIL import Image, ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    picture = pattern(h=48, w=64)
    for name in ("icc.png", "seq1.png", "seq2.png"):
        Image.fromarray(picture).save(tmp_path / name, icc_profile=profile)
    # a text chunk holding the bytes "IDAT" ahead of the iCCP chunk (a search for IDAT stopped there)
    data = (tmp_path / "icc.png").read_bytes()
    text = b"tEXt" + b"Comment\0holds IDAT"
    chunk = len(text[4:]).to_bytes(4, "big") + text + zlib.crc32(text).to_bytes(4, "big")
    (tmp_path / "text.png").write_bytes(data[:33] + chunk + data[33:])  # after the signature and IHDR
    # an animated PNG: its header chunks, iCCP among them, are the stream's extradata, not a packet's
    frames = [Image.fromarray(pattern(h=48, w=64, t=t)) for t in range(3)]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:], icc_profile=profile)
    script = ("import sys; from vidcodec import media\n"
              "for path in sys.argv[1:]:\n"
              "    with media.open_source(path) as s:\n"
              "        print(len([f.rgb for f in s]))\n")
    r = subprocess.run([sys.executable, "-c", script, *(str(tmp_path / n) for n in ("icc.png", "seq%d.png", "text.png",
                                                                                     "anim.png"))],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0 and r.stdout.split() == ["1", "2", "1", "3"], (r.returncode, r.stderr)
    _, frames = read_all(tmp_path / "icc.png")
    assert psnr(frames[0].rgb, picture) > 40


def test_audio_is_described(tmp_path: Path) -> None:
    with av.open(str(tmp_path / "av.mkv"), "w") as out:
        video = out.add_stream("ffv1", rate=25)
        video.width, video.height = W, H
        audio = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.VideoFrame.from_ndarray(pattern(), format="rgb24").reformat(format="yuv420p")
        frame.pts = 0
        out.mux(video.encode(frame))
        out.mux(video.encode(None))
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        sound.sample_rate, sound.pts = 8000, 0
        out.mux(audio.encode(sound))
        out.mux(audio.encode(None))
    source, _ = read_all(tmp_path / "av.mkv")
    assert source.audio is not None and (source.audio.sample_rate, source.audio.channels) == (8000, 1)


def piped(path: Path) -> subprocess.Popen:
    """A process whose stdout is a (non-seekable) pipe carrying ``path``'s bytes."""
    return subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)


@pytest.mark.parametrize(("name", "codec", "spooled"), [
    ("s.y4m", "rawvideo", False),
    ("s.mkv", "libx264", False),
    ("s.ts", "libx264", False),
    ("s.nut", "libx264", False),  # read as it arrives, as every format FFmpeg demuxes front to back
    ("s.flv", "libx264", False),
    ("s.mp4", "libx264", True),  # moov atom at the end: cannot be demuxed from a pipe
])
def test_stdin_pipe(tmp_path: Path, name: str, codec: str, spooled: bool) -> None:
    pts = [0, 2, 3, 7]
    write_clip(tmp_path / name, codec, "yuv420p", pts=pts)
    proc = piped(tmp_path / name)
    with proc, open_source("-", stdin=proc.stdout) as source:
        assert (source._spool is not None) == spooled
        frames = list(source)
    expected = range(4) if name.endswith(".y4m") else pts  # y4m has a frame rate, no timestamps
    times = [(f.pts - frames[0].pts) * source.time_base for f in frames]  # mpegts starts at 1.4 s
    assert times == [Fraction(p, 25) for p in expected]


@pytest.mark.parametrize(("name", "codec"), [
    ("e.y4m", "rawvideo"),  # no count in the file: FFmpeg's duration counts its fixed-size frames
    ("e.mkv", "libx264"),  # Matroska records a duration, no count
    ("e.webm", "libvpx-vp9"),
    ("e.mp4", "libx264"),  # a count: the estimate is the count
])
def test_frames_are_estimated_from_the_duration_when_the_container_has_no_count(
        tmp_path: Path, name: str, codec: str) -> None:
    write_clip(tmp_path / name, codec, "yuv420p", n=17)
    source, frames = read_all(tmp_path / name)
    assert len(frames) == 17 and source.estimated_frames == 17
    assert source.frame_count in ((17,) if name.endswith(".mp4") else (0,))  # the header's count: never a guess
    # what the progress bar and the rate controller are told
    from vidcodec.api import _expected_frames

    assert _expected_frames(source, None) == 17 and _expected_frames(source, 5) == 5


def test_stdin_seekable_file_is_opened_directly(tmp_path: Path) -> None:
    write_clip(tmp_path / "f.mp4", "libx264", "yuv420p", n=3)
    with open(tmp_path / "f.mp4", "rb") as f:
        source, frames = read_all("-", stdin=f)
    assert source._spool is None and len(frames) == 3


@pytest.mark.parametrize(("name", "codec", "gop", "pipe"), [
    ("k.mp4", "libx264", 5, False),  # seeks to the keyframe before the start, then decodes up to it
    ("k.mkv", "libx264", 5, False),
    ("one.mp4", "libx264", None, False),  # one keyframe: the seek lands on frame 0
    ("k.y4m", "rawvideo", None, False),  # every frame a keyframe
    ("k.avi", "mpeg4", 4, False),
    ("k.ts", "libx264", 5, False),
    ("one.ts", "libx264", None, False),  # a short MPEG-TS: its seek (by bytes) lands at the end, no frame
    ("k.y4m", "rawvideo", None, True),  # pipes that are not spooled: decoded up to the start
    ("k.mkv", "libx264", 5, True),
])
def test_start_begins_at_the_first_frame_at_or_after_it(tmp_path: Path, name: str, codec: str, gop: int | None,
                                                       pipe: bool) -> None:
    write_clip(tmp_path / name, codec, "yuv420p", n=24, gop=gop)
    whole_source, whole = read_all(tmp_path / name)
    if pipe:
        proc = piped(tmp_path / name)
        with proc:
            source, part = read_all("-", stdin=proc.stdout, start=0.5)
        assert not source._seekable  # so the frames before the start were decoded and dropped
    else:
        source, part = read_all(tmp_path / name, start=0.5)
    first = 13  # 0.5 s at 25 fps falls between frames 12 and 13: the one at or after it
    assert len(part) == len(whole) - first
    assert [f.index for f in part] == list(range(len(part)))
    for f, w in zip(part, whole[first:]):
        assert np.array_equal(f.rgb, w.rgb)
        # the kept frame takes the input's first timestamp, the others keep their spacing
        assert f.pts - part[0].pts == w.pts - whole[first].pts
    assert part[0].pts == whole[0].pts == source.start_pts
    if whole_source.frame_count:
        assert source.frame_count == whole_source.frame_count - first
    if whole_source.estimated_frames and not pipe:
        assert source.estimated_frames == whole_source.estimated_frames - first


def test_start_past_the_end_or_negative_is_refused(tmp_path: Path) -> None:
    write_clip(tmp_path / "s.mkv", "libx264", "yuv420p", n=5)
    with pytest.raises(InputError, match="no video at or after --start 1 s"):
        open_source(tmp_path / "s.mkv", start=1)
    with pytest.raises(UsageError, match="--start must be 0 or more"):
        open_source(tmp_path / "s.mkv", start=-1)
    _, frames = read_all(tmp_path / "s.mkv", start=0)
    assert len(frames) == 5


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.mp4", None, "no such file"),
    (".", None, "is a directory"),
    ("empty.mp4", b"", "is empty"),
    ("junk.mp4", bytes(range(256)) * 40, "cannot open .*junk.mp4 as media"),
    ("notes.txt", b"some notes, not a video\n" * 200, "text file"),
])
def test_input_errors(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message):
        open_source(tmp_path / name)


def test_a_device_is_not_called_empty():
    """/dev/zero's size is 0 as any character device's: it is not an empty file, and what FFmpeg
    makes of its bytes is the error."""
    with pytest.raises(InputError, match="cannot open /dev/zero as media"):
        open_source("/dev/zero")


def test_a_gvc_stream_as_input_says_to_decode_it_first(tmp_path: Path) -> None:
    from vidcodec.container import FILE_MAGIC

    (tmp_path / "s.gvc").write_bytes(FILE_MAGIC + bytes(200))
    with pytest.raises(InputError, match="vidcodec stream already.*decode it first"):
        open_source(tmp_path / "s.gvc")
    (tmp_path / "junk.mp4").write_bytes(b"garbage" * 100)
    with pytest.raises(InputError, match="as media: [^[]*; is it a video") as e:
        open_source(tmp_path / "junk.mp4")
    assert "Errno" not in str(e.value)


def test_hdr_and_interlaced_inputs_are_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def clip(path: Path, options: dict[str, str], trc: int | None) -> Path:
        with av.open(str(path), "w") as out:
            st = out.add_stream("libx264", rate=25, options=options)
            st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
            if trc is not None:
                st.codec_context.color_trc = trc
            for i in range(3):
                f = av.VideoFrame.from_ndarray(pattern(48, 64, i), format="rgb24").reformat(format="yuv420p")
                if trc is not None:
                    f.color_trc = trc
                out.mux(st.encode(f))
            out.mux(st.encode(None))
        return path

    cases = [(clip(tmp_path / "pq.mkv", {}, 16), "is HDR (PQ"), (clip(tmp_path / "hlg.mkv", {}, 18), "is HDR (HLG"),
             (clip(tmp_path / "i.mkv", {"x264-params": "interlaced=1:tff=1"}, None), "is interlaced"),
             (clip(tmp_path / "sdr.mkv", {}, 1), None)]
    for path, message in cases:
        caplog.clear()
        with caplog.at_level("WARNING", logger="vidcodec"):
            read_all(path)
        warned = [r.message for r in caplog.records]
        assert (any(message in w for w in warned) if message else not warned), (path.name, warned)


def test_audio_only_file_is_refused(tmp_path: Path) -> None:
    with av.open(str(tmp_path / "a.wav"), "w") as out:
        audio = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        sound.sample_rate, sound.pts = 8000, 0
        out.mux(audio.encode(sound))
        out.mux(audio.encode(None))
    with pytest.raises(InputError, match="no video stream"):
        open_source(tmp_path / "a.wav")


def test_stdin_errors() -> None:
    with pytest.raises(InputError, match="stdin is empty"):
        open_source("-", stdin=io.BufferedReader(io.BytesIO(b"")))
    r, w = os.pipe()
    os.write(w, b"not a video at all" * 10)
    os.close(w)
    with open(r, "rb") as f, pytest.raises(InputError, match="cannot open stdin"):
        open_source("-", stdin=f)


def test_corrupt_packets_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_clip(tmp_path / "c.avi", "mpeg4", "yuv420p", n=12)
    data = bytearray((tmp_path / "c.avi").read_bytes())
    at = data.index(b"00dc", len(data) // 2)  # an AVI video chunk in the second half
    data[at + 8:at + 400] = bytes(392)
    (tmp_path / "c.avi").write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="vidcodec.media"):
        _, frames = read_all(tmp_path / "c.avi")
    assert 6 <= len(frames) < 12
    assert "skipping a packet" in caplog.text


# ---------------------------------------------------------------- output


def write_frames(dst: Path | str, frames: list[np.ndarray], pts: list[int], time_base: Fraction = TB,
                 frame_rate: Fraction | None = None, **kw: object) -> None:
    """Write RGB frames through open_sink."""
    h, w = frames[0].shape[:2]
    with open_sink(dst, width=w, height=h, time_base=time_base, frame_rate=frame_rate, **kw) as sink:
        for rgb, p in zip(frames, pts):
            sink.write(rgb, p)


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".mov"])
def test_encoded_round_trip_keeps_quality_pts_and_tags(tmp_path: Path, ext: str) -> None:
    ref = [pattern(t=i) for i in range(6)]
    pts = [500, 540, 580, 700, 733, 800]
    write_frames(tmp_path / f"o{ext}", ref, pts)
    source, frames = read_all(tmp_path / f"o{ext}")
    assert (source.color_matrix, source.color_range) == (MATRIX_BT601, RANGE_LIMITED)
    assert [f.pts * source.time_base for f in frames] == [p * TB for p in pts]
    assert min(psnr(f.rgb, r) for f, r in zip(frames, ref)) > 35


def test_a_frame_lasts_until_the_next_one(tmp_path: Path) -> None:
    # a 3-s pause after the fourth frame: that frame is shown for 3 s, not the one after it
    pts = [0, 40, 80, 120, 3120, 3160, 3200]
    write_frames(tmp_path / "p.mkv", [pattern(t=i) for i in range(len(pts))], pts, frame_rate=Fraction(25))
    with av.open(str(tmp_path / "p.mkv")) as c:
        s = c.streams.video[0]
        durations = {round(p.pts * s.time_base * 1000): round(p.duration * s.time_base * 1000)
                     for p in c.demux(s) if p.size}
        assert c.duration / 1e6 == pytest.approx(3.24, abs=0.01)
    assert durations == {0: 40, 40: 40, 80: 40, 120: 3000, 3120: 40, 3160: 40, 3200: 40}


def test_encoded_sink_tags_the_matrix_it_is_given(tmp_path: Path) -> None:
    ref = [pattern()]
    write_frames(tmp_path / "o.mkv", ref, [0], color_matrix=MATRIX_BT709, color_range=RANGE_FULL)
    source, frames = read_all(tmp_path / "o.mkv")
    assert (source.color_matrix, source.color_range) == (MATRIX_BT709, RANGE_FULL)
    assert psnr(frames[0].rgb, ref[0]) > 35


def test_y4m_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ref = [pattern(), rng.integers(0, 256, (H, W, 3), dtype=np.uint8)]
    write_frames(tmp_path / "o.y4m", ref, [0, 1], time_base=Fraction(1, 25), frame_rate=Fraction(30000, 1001))
    assert (tmp_path / "o.y4m").read_bytes().startswith(b"YUV4MPEG2 W64 H48 F30000:1001 Ip A1:1 C444")
    source, frames = read_all(tmp_path / "o.y4m")
    assert source.frame_rate == Fraction(30000, 1001) and len(frames) == 2
    for f, r in zip(frames, ref):
        err = np.abs(f.rgb.astype(np.int16) - r)
        assert err.max() <= 2 and err.mean() < 0.6


def test_y4m_keeps_a_variable_rate_source_in_time(tmp_path: Path, caplog) -> None:
    """y4m has one rate: frames go on its grid by pts, gaps repeat the frame before them and a frame
    whose slot an earlier one took is dropped (FFmpeg's constant-rate output does the same)."""
    ref = [pattern(t=i) for i in range(5)]
    # at 25 fps in 1/1000 s: slots 0, 1, 4 (a gap of two), 4.4 -> 4 (taken: dropped), 5 (a 36 ms step: on time)
    with caplog.at_level("WARNING", logger="vidcodec"):
        write_frames(tmp_path / "v.y4m", ref, [0, 40, 160, 176, 196], time_base=Fraction(1, 1000),
                     frame_rate=Fraction(25))
    _, frames = read_all(tmp_path / "v.y4m")
    assert len(frames) == 6
    shown = [min(range(5), key=lambda i: np.abs(f.rgb.astype(np.int16) - ref[i]).mean()) for f in frames]
    assert shown == [0, 1, 1, 1, 2, 4]
    assert len([r for r in caplog.records if "variable frame rate" in r.getMessage()]) == 1
    caplog.clear()
    with caplog.at_level("WARNING", logger="vidcodec"):  # an even 29.97 in a millisecond time base: as it is
        write_frames(tmp_path / "e.y4m", ref, [round(i * 1001 / 30) for i in range(5)], time_base=Fraction(1, 1000),
                     frame_rate=Fraction(30000, 1001))
    assert len(read_all(tmp_path / "e.y4m")[1]) == 5 and not caplog.records


def test_y4m_420_when_asked(tmp_path: Path) -> None:
    ref = [pattern(t=i) for i in range(2)]
    write_frames(tmp_path / "o.y4m", ref, [0, 1], time_base=Fraction(1, 25), frame_rate=Fraction(25),
                 pix_fmt="yuv420p")
    data = (tmp_path / "o.y4m").read_bytes()
    header = data.split(b"\n", 1)[0]
    assert header == b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED"
    assert len(data) == len(header) + 1 + 2 * (6 + W * H * 3 // 2)
    _, frames = read_all(tmp_path / "o.y4m")
    assert len(frames) == 2 and min(psnr(f.rgb, r) for f, r in zip(frames, ref)) > 30


def test_encoded_sink_444_when_asked(tmp_path: Path) -> None:
    ref = [pattern(t=i) for i in range(3)]
    write_frames(tmp_path / "o.mkv", ref, [0, 40, 80], pix_fmt="yuv444p")
    with av.open(str(tmp_path / "o.mkv")) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv444p"
    _, frames = read_all(tmp_path / "o.mkv")
    assert min(psnr(f.rgb, r) for f, r in zip(frames, ref)) > 35


@pytest.mark.parametrize("ext", [".mkv", ".y4m"])
def test_pix_fmt_errors_say_what_to_do(tmp_path: Path, ext: str) -> None:
    with pytest.raises(UsageError, match="yuv444p"):
        write_frames(tmp_path / f"odd{ext}", [pattern(17, 33)], [0], pix_fmt="yuv420p")
    with pytest.raises(UsageError, match="--pix-fmt must be one of yuv420p, yuv444p"):
        write_frames(tmp_path / f"o{ext}", [pattern()], [0], pix_fmt="nv12")
    assert not list(tmp_path.iterdir())  # nothing left behind


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".mov", ".y4m"])
def test_odd_sizes_through_each_sink(tmp_path: Path, ext: str) -> None:
    ref = [pattern(17, 33, i) for i in range(3)]
    write_frames(tmp_path / f"odd{ext}", ref, [0, 40, 80], frame_rate=Fraction(25))
    source, frames = read_all(tmp_path / f"odd{ext}")
    assert (source.width, source.height, len(frames)) == (33, 17, 3)
    assert min(psnr(f.rgb, r) for f, r in zip(frames, ref)) > 35


def test_y4m_to_stdout_file_object() -> None:
    out = io.BytesIO()
    write_frames("-", [pattern()], [0], frame_rate=Fraction(25), stdout=out)
    assert out.getvalue().startswith(b"YUV4MPEG2 W64 H48 F25:1 ")
    assert out.getvalue().count(b"FRAME\n") == 1 and len(out.getvalue()) > 3 * W * H


def test_existing_output_is_refused_unless_overwrite(tmp_path: Path) -> None:
    for name in ("x.mp4", "x.y4m"):
        (tmp_path / name).write_bytes(b"keep")
        with pytest.raises(OutputExistsError, match=r"exists; use -y to overwrite it \(overwrite=True from Python\)"):
            write_frames(tmp_path / name, [pattern()], [0])
        assert (tmp_path / name).read_bytes() == b"keep"
        write_frames(tmp_path / name, [pattern()], [0], overwrite=True)
        assert len(read_all(tmp_path / name)[1]) == 1


def test_sink_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"\.mp4.*\.y4m"):
        open_sink(tmp_path / "x.avi", width=W, height=H, time_base=TB, frame_rate=None)
    with pytest.raises(UsageError, match="does not exist"):
        open_sink(tmp_path / "no" / "x.mp4", width=W, height=H, time_base=TB, frame_rate=None)

    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    with pytest.raises(UsageError, match="terminal"):
        open_sink("-", width=W, height=H, time_base=TB, frame_rate=None, stdout=Terminal())
    with open_sink(tmp_path / "x.mkv", width=W, height=H, time_base=TB, frame_rate=None) as sink:
        with pytest.raises(UsageError, match="uint8"):
            sink.write(pattern(H + 1), 0)
        sink.write(pattern(), 5)
        with pytest.raises(UsageError, match="does not increase"):
            sink.write(pattern(), 5)


def test_closed_pipe_ends_quietly() -> None:
    r, w = os.pipe()
    os.close(r)
    out = open(w, "wb")  # noqa: SIM115 - closed below, after the sink gave up on it
    sink = open_sink("-", width=W, height=H, time_base=TB, frame_rate=Fraction(25), stdout=out)
    with pytest.raises(SinkClosed) as caught:
        sink.write(pattern(), 0)
    assert caught.value.exit_code == 0
    sink.close()
    out.write(b"late bytes")
    out.close()  # would raise BrokenPipeError (at exit: "Exception ignored") if the fd were still the pipe


def test_interrupted_mp4_is_still_valid(tmp_path: Path) -> None:
    sink = open_sink(tmp_path / "int.mp4", width=W, height=H, time_base=TB, frame_rate=Fraction(25))
    with pytest.raises(KeyboardInterrupt), sink:
        for i in range(4):
            sink.write(pattern(t=i), i * 40)
        raise KeyboardInterrupt  # as if Ctrl-C came mid-way through writing
    sink.close()  # a second close (e.g. from an outer finally) is harmless
    _, frames = read_all(tmp_path / "int.mp4")
    assert len(frames) == 4


def test_raw_options_on_a_container_file_are_refused_but_raw_files_read(tmp_path: Path) -> None:
    raw = RawFormat(W, H, Fraction(25), "rgb24")
    write_clip(tmp_path / "c.mp4", "libx264", "yuv420p")
    clip = tmp_path / "c.mp4"
    with pytest.raises(UsageError, match="not raw frames: drop --size"):
        open_source(clip, raw=raw)
    frames = np.stack([pattern(t=t) for t in range(3)])
    (tmp_path / "f.rgb").write_bytes(frames.tobytes())
    src = open_source(tmp_path / "f.rgb", raw=raw)
    with src:
        got = [f.rgb for f in src]
    assert len(got) == 3 and np.array_equal(got[1], frames[1])


@pytest.mark.parametrize(("args", "message"), [
    ((320, 240, Fraction(25), "yuv42p"), "'yuv42p' is not a pixel format FFmpeg knows"),
    ((320, 240, 0), "frame rate above 0"),
    ((320, 0, 25), "width and height above 0"),
])
def test_a_raw_format_that_cannot_be_is_a_usage_error_naming_it(args, message, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=message):
        RawFormat(*args)
    (tmp_path / "f.rgb").write_bytes(bytes(64 * 48 * 3))
    with pytest.raises(UsageError, match="RawFormat"):  # not an AttributeError from deep inside
        open_source(tmp_path / "f.rgb", raw=(64, 48, 25))


def test_the_header_rate_is_the_nominal_one_when_the_average_is_within_a_hundredth_of_it():
    from vidcodec.media import nominal_rate

    ntsc = Fraction(30000, 1001)
    # an MP4 of 30000/1001 fps whose durations average to this (data/videos/wannaworktogether.mp4)
    assert nominal_rate(Fraction(243090000, 8111111), ntsc) == ntsc
    assert nominal_rate(Fraction(25), Fraction(25)) == 25
    assert nominal_rate(Fraction(2500, 83), Fraction(30)) == 30  # an edit list trimmed a frame of 250
    assert nominal_rate(Fraction(24), Fraction(25)) == 24  # variable rate: the average, as before
    assert nominal_rate(None, Fraction(25)) == 25 and nominal_rate(Fraction(25), None) == 25
    assert nominal_rate(None, None) is None


def _write_images(folder: Path, name: str, numbers: list[int]) -> list[np.ndarray]:
    from vidcodec.media import frame_name

    folder.mkdir(exist_ok=True)
    frames = []
    for t, n in enumerate(numbers):
        rgb = pattern(t=t)
        av.VideoFrame.from_ndarray(rgb, format="rgb24").to_image().save(frame_name(folder / name, n))
        frames.append(rgb)
    return frames


def test_an_image_sequence_reads_as_ffmpeg_names_it_from_its_first_number(tmp_path: Path, caplog) -> None:
    from vidcodec.media import frame_name, frame_pattern, image_sequence, sequence_length

    frames = _write_images(tmp_path / "s", "f%04d.png", [1000, 1001, 1002])  # FFmpeg alone starts at 0-4 only
    (tmp_path / "s" / "f12.png").write_bytes(b"not of the sequence: %04d wants 4 digits or more")
    assert image_sequence(tmp_path / "s" / "f%04d.png") == (tmp_path / "s" / "f%04d.png", 1000)
    with open_source(tmp_path / "s" / "f%04d.png") as src:
        got = list(src)
        assert src.frame_rate == Fraction(25)
    assert len(got) == 3 and all(np.array_equal(a.rgb, b) for a, b in zip(got, frames, strict=True))
    with open_source(tmp_path / "s" / "f%04d.png", framerate=Fraction(30000, 1001)) as src:
        assert src.frame_rate == Fraction(30000, 1001) and len(list(src)) == 3
    # %% is a percent sign; a % in a folder is the folder's own; %4d is zero-padded, as FFmpeg writes it
    _write_images(tmp_path / "50% off", "100%% f%4d.png", [7, 8])
    assert image_sequence(tmp_path / "50% off" / "100%% f%4d.png") == (tmp_path / "50% off" / "100%% f%4d.png", 7)
    assert (tmp_path / "50% off" / "100% f0007.png").exists()
    with open_source(tmp_path / "50% off" / "100%% f%4d.png") as src:
        assert len(list(src)) == 2
    assert frame_name(Path("a/b%%%03d.png"), 7) == Path("a/b%007.png")
    # %d names unpadded numbers only, %04d four digits or more without a leading zero beyond them
    assert image_sequence(tmp_path / "s" / "f%d.png") == (tmp_path / "s" / "f%d.png", 12)
    assert image_sequence(tmp_path / "s" / "f%05d.png") is None
    for name in ("f%04d.png", "g%d.png", "f%d%d.png", "f.png", "1%_f%04d.png", "f%04d.mp4"):
        assert image_sequence(tmp_path / "q" / name) is None  # nothing it names, two numbers, no number, a stray %,
    assert frame_pattern("seg%03d.mp4") is None              # not an image
    with pytest.raises(InputError, match=r"no such file; check the path \(an image sequence's name has one %d"):
        open_source(tmp_path / "s" / "g%04d.png")
    with pytest.raises(UsageError, match="a frame rate is given only to raw frames .*, to an image sequence .* or to frames given as arrays"):
        open_source(tmp_path / "s" / "f1000.png", framerate=Fraction(30))
    # a gap ends the sequence, as in FFmpeg, and says so
    _write_images(tmp_path / "g", "%02d.png", [1, 2, 4, 5])
    with caplog.at_level(logging.WARNING, logger="vidcodec"), open_source(tmp_path / "g" / "%02d.png") as src:
        assert len(list(src)) == 2
    assert "frame 3 is missing, so the sequence ends at frame 2 (2 more files after the gap are not read" in caplog.text
    # so does an empty file, where FFmpeg's reader stops as if at the end (it had ended the sequence unsaid)
    _write_images(tmp_path / "e", "%02d.png", [1, 2, 3, 4, 5])
    for empty, read, said in ((3, 2, "the 2 files after it are not read"), (5, 4, "05.png, its last file, is empty")):
        (tmp_path / "e" / f"{empty:02d}.png").write_bytes(b"")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="vidcodec"), open_source(tmp_path / "e" / "%02d.png") as src:
            assert len(list(src)) == read
        assert f"{tmp_path / 'e' / f'{empty:02d}.png'}" in caplog.text and said in caplog.text, caplog.text
        _write_images(tmp_path / "e", "%02d.png", [empty])
    with caplog.at_level(logging.WARNING, logger="vidcodec"), open_source(tmp_path / "e" / "%02d.png") as src:
        caplog.clear()
        assert len(list(src)) == 5 and "is empty" not in caplog.text
    # a picture named with %d itself is that picture (FFmpeg's image2 took it for a pattern: shot0.png)
    (tmp_path / "lit").mkdir()
    for name, value in (("shot%d.png", 200), ("shot0.png", 20)):
        av.VideoFrame.from_ndarray(np.full((H, W, 3), value, np.uint8), format="rgb24").to_image().save(
            tmp_path / "lit" / name)
    with open_source(tmp_path / "lit" / "shot%d.png") as src:
        assert [int(f.rgb.mean()) for f in src] == [200]
    for folder, value in (("take%d", 200), ("take0", 20)):  # FFmpeg expands a folder's %d too
        (tmp_path / "lit" / folder).mkdir()
        av.VideoFrame.from_ndarray(np.full((H, W, 3), value, np.uint8), format="rgb24").to_image().save(
            tmp_path / "lit" / folder / "pic.png")
    with open_source(tmp_path / "lit" / "take%d" / "pic.png") as src:
        assert [int(f.rgb.mean()) for f in src] == [200]
    # FFmpeg's reader looks for the last file by doubling its step: 1-3 and 5-6 made it find 5 and fail on 4
    _write_images(tmp_path / "h", "%04d.png", [1, 2, 3, 5, 6])
    with open_source(tmp_path / "h" / "%04d.png") as src:
        assert src.estimated_frames == 3 and len(list(src)) == 3 and src.ended
    for start, kept in ((Fraction(1, 25), 2), (Fraction(2, 25), 1)):  # a --start seeks: the gap still ends it
        with open_source(tmp_path / "h" / "%04d.png", start=start) as src:
            assert len(list(src)) == kept, start
    with pytest.raises(InputError, match="no video at or after --start .*ends at its first gap"):
        open_source(tmp_path / "h" / "%04d.png", start=Fraction(4, 25))
    # a picture that does not decode just before the gap: said and skipped, the good one after it kept
    # (held in frame threads it failed the final flush: a traceback, then the flush dropped the good one)
    _write_images(tmp_path / "k", "%04d.png", [1, 2, 3, 4, 6])
    (tmp_path / "k" / "0003.png").write_bytes((tmp_path / "k" / "0003.png").read_bytes()[:60])
    with caplog.at_level(logging.WARNING, logger="vidcodec"), open_source(tmp_path / "k" / "%04d.png") as src:
        assert len(list(src)) == 3
    assert "does not decode (pts 2)" in caplog.text
    # a '%' that is no %d: the file opened by its bytes as before (an APNG's frames, a JPEG named .png)
    from PIL import Image

    (tmp_path / "55% off").mkdir()
    Image.fromarray(pattern()).save(tmp_path / "55% off" / "misnamed.png", format="JPEG")
    with open_source(tmp_path / "55% off" / "misnamed.png") as src:
        assert len(list(src)) == 1
    assert sequence_length(tmp_path / "h" / "%04d.png") == 3 and sequence_length(tmp_path / "q" / "%04d.png") == 0


def _serve(send) -> tuple[object, str]:
    """An HTTP server on a free local port whose GET handler is ``send(handler)``; (server, base URL)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            send(self)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _y4m(frames: np.ndarray) -> bytes:
    h, w = frames.shape[1:3]
    return f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C444\n".encode() + b"".join(
        b"FRAME\n" + np.ascontiguousarray(np.moveaxis(f, -1, 0)).tobytes() for f in frames)


@pytest.mark.parametrize("ending", ["quiet", "reset"])
def test_a_network_input_that_goes_quiet_or_drops_ends_where_it_stopped(tmp_path: Path, caplog, ending: str) -> None:
    import socket
    import time

    data = _y4m(np.stack([pattern(t=t) for t in range(3)]))

    def send(h) -> None:  # three frames, then nothing on an open connection, or a reset (a sender gone)
        h.send_response(200)
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()
        if ending == "quiet":
            time.sleep(3)
        else:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()

    server, base = _serve(send)
    try:
        with caplog.at_level(logging.WARNING, logger="vidcodec"), open_source(f"{base}/live.y4m", timeout=1) as src:
            got = list(src)
    finally:
        server.shutdown()
        server.server_close()
    assert len(got) == 3
    said = "nothing received for 1 s" if ending == "quiet" else "the input ends here"
    assert said in caplog.text and "the input ends here" in caplog.text


def test_a_live_stream_joined_between_keyframes_starts_at_the_next_one(tmp_path: Path, caplog) -> None:
    write_clip(tmp_path / "live.ts", "libx264", "yuv420p", n=40, gop=20)
    ts = (tmp_path / "live.ts").read_bytes()
    joined = ts[188 * (len(ts) // 188 // 4):]  # a quarter in: inside the first GOP

    def send(h) -> None:
        h.send_response(200)
        h.end_headers()
        h.wfile.write(joined)

    server, base = _serve(send)
    try:
        with caplog.at_level(logging.INFO, logger="vidcodec"), open_source(f"{base}/live.ts") as src:
            got = list(src)
    finally:
        server.shutdown()
        server.server_close()
    assert 15 <= len(got) <= 25  # from the second keyframe (frame 20) on
    assert "skipping a packet" not in caplog.text


def test_stdin_that_must_be_spooled_to_a_full_disk_says_where_and_what_to_do(tmp_path: Path, monkeypatch) -> None:
    import errno as errno_mod

    import vidcodec.media as media_mod

    write_clip(tmp_path / "s.mp4", "libx264", "yuv420p")

    def full(*args, **kwargs):
        raise OSError(errno_mod.ENOSPC, "No space left on device")

    monkeypatch.setattr(media_mod.shutil, "copyfileobj", full)
    proc = piped(tmp_path / "s.mp4")
    with proc, pytest.raises(InputError, match=r"cannot keep stdin in a temporary file in .*No space left on "
                                               r"device; set TMPDIR to a folder with room"):
        open_source("-", stdin=proc.stdout)


def test_a_network_timeout_is_for_urls_and_a_number_of_seconds(tmp_path: Path) -> None:
    write_clip(tmp_path / "a.mkv", "ffv1", "yuv420p")
    with pytest.raises(UsageError, match=r"--timeout \(network_timeout=\) is for URL inputs"):
        open_source(tmp_path / "a.mkv", timeout=5)
    for bad in (-1, float("nan"), True, "5"):
        with pytest.raises(UsageError, match="number of seconds >= 0"):
            open_source("http://127.0.0.1:9/a.mkv", timeout=bad)


def test_a_live_h264_stream_that_goes_quiet_gives_every_frame_and_a_file_cut_short_is_an_error(tmp_path: Path) -> None:
    import time

    write_clip(tmp_path / "live.ts", "libx264", "yuv420p", n=12)  # B-frames: the decoder holds the last ones
    ts = (tmp_path / "live.ts").read_bytes()

    def live(h) -> None:  # no length (a broadcast), then silence
        h.send_response(200)
        h.end_headers()
        h.wfile.write(ts)
        h.wfile.flush()
        time.sleep(3)

    def cut(h) -> None:  # a file of known length whose transfer breaks off
        h.send_response(200)
        h.send_header("Content-Length", str(len(ts)))
        h.end_headers()
        h.wfile.write(ts[: len(ts) // 2])
        h.wfile.flush()

    server, base = _serve(live)
    try:
        with open_source(f"{base}/live.ts", timeout=1) as src:
            assert src.live and len(list(src)) == 12
    finally:
        server.shutdown()
        server.server_close()
    server, base = _serve(cut)
    try:
        with pytest.raises(InputError, match="file.ts: "), open_source(f"{base}/file.ts", timeout=1) as src:
            assert not src.live
            list(src)
    finally:
        server.shutdown()
        server.server_close()


def test_a_live_input_skips_what_does_not_decode_before_its_first_frame(tmp_path: Path, monkeypatch, caplog) -> None:
    """What a stream joined between keyframes gives a decoder: packets that fail before the first frame
    (more than the corrupt-file limit); a live input waits through them, a file does not."""
    import time

    from vidcodec.media import MAX_CONSECUTIVE_DECODE_ERRORS

    failing = MAX_CONSECUTIVE_DECODE_ERRORS + 5
    write_clip(tmp_path / "a.mkv", "ffv1", "yuv420p", n=40, gop=failing)  # a keyframe where the failing ones end
    mkv = (tmp_path / "a.mkv").read_bytes()

    class Failing:
        def __init__(self, packet):
            self.stream, self.size, self.pts, self.duration = packet.stream, packet.size, packet.pts, packet.duration
            self.dts, self.is_corrupt = packet.dts, packet.is_corrupt

        def decode(self):
            raise av.InvalidDataError(1094995529, "Invalid data found when processing input", "avcodec_send_packet()")

    class Joined:  # a container whose first packets fail to decode
        def __init__(self, container):
            self._c, self.seen = container, 0  # video packets demuxed so far, over every demux call

        def __getattr__(self, name):
            return getattr(self._c, name)

        def demux(self, *streams):
            for packet in self._c.demux(*streams):
                self.seen += packet.size > 0
                yield Failing(packet) if packet.size and self.seen <= failing else packet

    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: Joined(real_open(*a, **k)))

    def live(h) -> None:  # no length: a broadcast
        h.send_response(200)
        h.end_headers()
        h.wfile.write(mkv)
        h.wfile.flush()
        time.sleep(2)

    server, base = _serve(live)
    try:
        with caplog.at_level(logging.INFO, logger="vidcodec"), open_source(f"{base}/a.mkv", timeout=1) as src:
            assert src.live and len(list(src)) == 40 - failing
    finally:
        server.shutdown()
        server.server_close()
    assert "waiting for a keyframe" in caplog.text and "skipping a packet" not in caplog.text
    with pytest.raises(InputError, match="too many decoding errors"):
        open_source(tmp_path / "a.mkv")


@pytest.mark.parametrize("stop_at", [0, 12])
def test_a_file_whose_demuxing_fails_midway_keeps_the_frames_before_it(tmp_path: Path, monkeypatch, caplog,
                                                                        stop_at: int) -> None:
    """Damage that stops FFmpeg's demuxer (an MP4 sample size past what it can allocate: ENOMEM) after
    frames came failed the whole encode (exit 2, nothing written) where ffmpeg keeps those frames;
    before the first frame it is the error it was."""
    write_clip(tmp_path / "a.mkv", "ffv1", "yuv420p", n=30)

    class Damaged:  # a container whose demuxing fails after stop_at video packets
        def __init__(self, container):
            self._c = container

        def __getattr__(self, name):
            return getattr(self._c, name)

        def demux(self, *streams):
            for seen, packet in enumerate(p for p in self._c.demux(*streams) if p.size):
                if seen == stop_at:
                    raise av.MemoryError(12, "Cannot allocate memory")
                yield packet

    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: Damaged(real_open(*a, **k)))
    if stop_at == 0:
        with pytest.raises(InputError, match="a.mkv: cannot read the file past this point"):
            read_all(tmp_path / "a.mkv")
        return
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        source, frames = read_all(tmp_path / "a.mkv")
    assert len(frames) == stop_at and not source.ended  # (the audio goes as far as the video)
    assert "a.mkv: cannot read the file past this point (Cannot allocate memory): the input ends here" in caplog.text


def test_waiting_for_a_sender_ends_on_stop_and_closes_what_opens_late() -> None:
    import threading

    from vidcodec.errors import Stopped
    from vidcodec.media import _interruptible

    release, closed = threading.Event(), threading.Event()

    class Container:
        def close(self):
            closed.set()

    def opener():
        release.wait(5)
        return Container()

    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(Stopped, match="udp://x: stopped while waiting for it to send"):
        _interruptible(opener, "udp://x", stop)
    assert Stopped.exit_code == 130
    release.set()
    assert closed.wait(5)  # the open that finished after the wait was given up is closed, not leaked
    assert isinstance(_interruptible(lambda: Container(), "udp://y"), Container)
    with pytest.raises(ValueError, match="bad"):
        _interruptible(lambda: (_ for _ in ()).throw(ValueError("bad")), "udp://z")


@pytest.mark.parametrize("marked", [True, False])
def test_the_video_stream_marked_default_is_the_one_read(tmp_path, marked):
    """A Matroska file with its cover first (a one-frame MJPEG track, not default: Matroska has no
    attached-picture flag for it) and the film second, marked default: the film, as ffmpeg maps it;
    with neither marked (an MPEG-TS marks none), the larger, as ffmpeg ranks them."""
    from vidcodec.media import open_source

    path = tmp_path / "coverfirst.mkv"
    with av.open(str(path), "w") as out:
        cover = out.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
        film = out.add_stream("libx264", rate=10)
        film.width, film.height, film.pix_fmt = 64, 48, "yuv420p"
        cover.disposition = av.stream.Disposition(0)
        film.disposition = av.stream.Disposition.default if marked else av.stream.Disposition(0)
        f = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24").reformat(format="yuvj420p")
        f.pts = 0
        for p in (*cover.encode(f), *cover.encode(None)):
            out.mux(p)
        for i in range(5):
            g = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            g.pts = i
            for p in film.encode(g):
                out.mux(p)
        for p in film.encode(None):
            out.mux(p)
    with open_source(path) as src:
        frames = [f.rgb for f in src]
    assert len(frames) == 5 and frames[0].shape == (48, 64, 3)


def test_a_ctrl_c_between_the_encoder_and_the_muxer_loses_no_frame(tmp_path: Path) -> None:
    """A Ctrl-C (or SIGTERM) that landed after x264 returned a frame's packets and before they were muxed
    lost that packet: an interrupted decode to mp4/mkv had a frame missing ~40 frames before its end
    and damaged H.264 after it. The frame is now muxed first, then the interrupt taken."""
    import os
    import signal

    dst = tmp_path / "o.mkv"
    frames = [pattern(t=i) for i in range(50)]
    h, w = frames[0].shape[:2]
    with open_sink(dst, width=w, height=h, time_base=Fraction(1, 25), frame_rate=Fraction(25)) as sink:
        real = sink._stream

        class Interrupting:  # the stream, with a Ctrl-C arriving as its encode returns packets
            def __getattr__(self, name):
                return getattr(real, name)

            def encode(self, frame=None):
                packets = real.encode(frame)
                if packets:
                    os.kill(os.getpid(), signal.SIGINT)
                return packets

        written = 0
        with pytest.raises(KeyboardInterrupt):
            for i, rgb in enumerate(frames):
                if i == 45:
                    sink._stream = Interrupting()
                sink.write(rgb, i)
                written += 1
        sink._stream = real
    with av.open(str(dst)) as c:
        got = [f.pts for f in c.decode(video=0)]
    # every frame written, the one the Ctrl-C came in included, none missing (Matroska counts ms)
    assert len(got) == written + 1 and set(np.diff(got)) == {40}


def _bikes(n: int, w: int, h: int) -> list[np.ndarray]:
    with av.open(str(Path(__file__).resolve().parents[1] / "samples" / "bikes.mp4")) as c:
        frames = []
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24", width=w, height=h))
            if len(frames) == n:
                return frames
    raise AssertionError("bikes.mp4 is shorter than the test needs")


def _after_scraps(size: int, count: int) -> None:
    """Leave freed memory full of random bytes behind, ``count`` blocks of ``size`` bytes."""
    scraps = [bytearray(os.urandom(size)) for _ in range(count)]
    del scraps


# Heap states the encoder may be handed: fresh, then small and large blocks of random bytes freed before it
SCRAPS = ((1, 0), (1 << 10, 1 << 14), (1 << 16, 1 << 9), (1 << 10, 1 << 16))


def _after_each_heap_state(write: Callable[[], Path]) -> set[bytes]:
    """The distinct files ``write`` makes, run once after each of the :data:`SCRAPS` heap states."""
    outputs = set()
    for size, count in SCRAPS:
        _after_scraps(size, count)
        outputs.add(write().read_bytes())
    return outputs


def test_an_mp4_output_is_the_same_bytes_whatever_the_memory_held(tmp_path: Path) -> None:
    # x264's AVX-512 functions (PyAV's x264, core 165) made a different stream from the same frames
    # each time, depending on freed memory: 4 files from these 4 runs on an AVX-512 machine
    frames = _bikes(40, 320, 240)

    def write() -> Path:
        path = tmp_path / "out.mp4"
        with open_sink(path, width=320, height=240, time_base=Fraction(1, 25), frame_rate=Fraction(25),
                       overwrite=True) as sink:
            for i, f in enumerate(frames):
                sink.write(f, i)
        return path

    assert len(_after_each_heap_state(write)) == 1


def test_eval_x264_references_are_the_same_bytes_whatever_the_memory_held(tmp_path: Path) -> None:
    from vidcodec.evaluate.rd import encode_reference

    frames = _bikes(40, 320, 240)

    def write() -> Path:
        encode_reference(frames, Fraction(25), "libx264", {"preset": "medium", "crf": "30"}, tmp_path / "r.h264")
        return tmp_path / "r.h264"

    assert len(_after_each_heap_state(write)) == 1


AVX512 = "fpu sse2 avx avx2 avx512f avx512cd avx512bw avx512dq avx512vl"


def test_x264_keeps_to_avx2_where_the_cpu_has_avx512() -> None:
    from vidcodec.media import X264_AVX512_FLAGS, steady_x264

    flags = frozenset(AVX512.split())
    assert steady_x264("libx264", {"crf": "14"}, flags) == {"crf": "14", "x264-params": "asm=AVX2"}
    assert steady_x264("libx264", {"x264-params": "chromaloc=1"}, flags) == {"x264-params": "chromaloc=1:asm=AVX2"}
    for partial in X264_AVX512_FLAGS:  # x264 uses AVX-512 only with all five: below that it is left alone
        assert steady_x264("libx264", {"crf": "14"}, flags - {partial}) == {"crf": "14"}
    assert steady_x264("libx265", {"crf": "14"}, flags) == {"crf": "14"}
    options = {"preset": "medium"}
    assert steady_x264("libx264", options, flags) is not options and options == {"preset": "medium"}


def test_bench_times_x264_with_all_its_simd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vidcodec.evaluate import bench, rd

    seen = []
    real = rd.media.steady_x264
    monkeypatch.setattr(rd.media, "steady_x264", lambda e, o, flags=None: seen.append(o) or real(e, o, flags))
    bench._x264(_bikes(3, 64, 48), Fraction(25), "veryfast", tmp_path)
    assert seen == []  # timed as x264 runs by default
    rd.encode_reference(_bikes(3, 64, 48), Fraction(25), "libx264", {"crf": "30"}, tmp_path / "r.h264")
    assert len(seen) == 1  # references for quality kept steady


def test_the_header_records_the_finest_grid_of_a_variable_rate(tmp_path: Path, tiny_model_dir) -> None:
    """An MP4 whose frames run at 30 fps with a gap of one frame in nine averages 27.7 fps; its header
    recorded that average, and a y4m decode, which puts frames on the header's one rate, dropped real
    frames (3 of 45 in the report). The header now records the guessed rate (30), as FFmpeg's
    constant-rate outputs use it: every frame is kept, the gaps repeat a frame. The average stays the
    source's ``frame_rate``, which the rate controller and frame estimates count with."""
    import vidcodec
    from vidcodec import container
    from vidcodec.media import grid_rate, nominal_rate

    assert grid_rate(Fraction(1350, 49), Fraction(30)) == 30
    assert grid_rate(Fraction(24), Fraction(25)) == 25 and nominal_rate(Fraction(24), Fraction(25)) == 24
    assert grid_rate(Fraction(25), Fraction(24)) == 25  # a guessed rate under the average: not finer
    assert grid_rate(Fraction(243090000, 8111111), Fraction(30000, 1001)) == Fraction(30000, 1001)
    assert grid_rate(None, Fraction(25)) == 25 and grid_rate(Fraction(25), None) == 25
    assert grid_rate(None, None) is None
    pts = [n + n // 9 for n in range(20)]  # 0..8, 10..18, 20, 21: two gaps
    write_clip(tmp_path / "vfr.mp4", "libx264", "yuv444p", pts=pts, time_base=Fraction(1, 30))
    with open_source(tmp_path / "vfr.mp4") as source:
        assert source.grid_rate == 30 and source.frame_rate < Fraction(29)  # the average: 20 frames in 22 slots
    vidcodec.encode(tmp_path / "vfr.mp4", tmp_path / "vfr.gvc", model="vaegan-tiny", quality=2)
    assert container.probe(tmp_path / "vfr.gvc")["header"]["frame_rate"] == "30/1"
    vidcodec.decode(tmp_path / "vfr.gvc", tmp_path / "vfr.y4m")
    _, frames = read_all(tmp_path / "vfr.y4m")
    assert len(frames) == pts[-1] + 1  # 22 pictures on the 30 fps grid
    repeats = [i for i in range(1, len(frames)) if np.array_equal(frames[i].rgb, frames[i - 1].rgb)]
    assert repeats == [9, 19]  # each gap repeats the frame before it; the 20 frames are all there


def test_which_of_several_video_streams_is_coded_is_said(tmp_path, caplog):
    path = tmp_path / "two.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=32x24:rate=10:duration=0.3",
                    "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=0.3", "-map", "0", "-map", "1",
                    "-c:v", "ffv1", str(path)], check=True)
    with caplog.at_level(logging.INFO, logger="vidcodec"), open_source(path) as src:
        assert (src.width, src.height) == (32, 24)  # the one marked default, as ffmpeg picks
    assert "has 2 video streams; coding stream 0 (32x24)" in caplog.text


def test_an_animated_webp_is_said_to_be_one_ffmpeg_cannot_read(tmp_path):
    from PIL import Image

    path = tmp_path / "anim.webp"
    frames = [Image.new("RGB", (32, 24), (40 * i, 0, 0)) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    with Image.open(path) as im:
        if getattr(im, "n_frames", 1) < 3:
            pytest.skip("this Pillow writes no animated WebP")
    with pytest.raises(InputError, match="animated WebP"):
        open_source(path)


def test_timed_rate_is_the_announced_one_unless_the_frames_say_otherwise():
    from fractions import Fraction

    from vidcodec import media

    tb = Fraction(1, 1000)
    assert media.timed_rate([0, 40, 80, 120, 160], tb, Fraction(25)) == 25
    assert media.timed_rate([0, 40, 81, 120, 160], tb, Fraction(25)) == 25  # jitter within 1 %
    assert media.timed_rate([0, 80, 160, 240, 320], tb, Fraction(25)) == Fraction(25, 2)  # a VFR Matroska file's
    assert media.timed_rate([0, 33, 67, 100, 133], tb, None) == Fraction(4, Fraction(133, 1000))
    # a pause is not the pace (a joined file's gap, a stalled live input): 3 s after the tenth frame
    assert media.timed_rate([40 * i + (3000 if i >= 10 else 0) for i in range(30)], tb, Fraction(25)) == 25
    # 2 or 3 frames of 60 fps in milliseconds: too few to tell (1000/17 fps)
    assert media.timed_rate([0, 17, 33], tb, Fraction(60)) == 60
    assert media.timed_rate([0], tb, Fraction(25)) == 25 and media.timed_rate([], tb, None) is None
    assert media.timed_rate([5, 5, 5, 5, 5], tb, Fraction(30)) == 30
