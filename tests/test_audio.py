"""Audio passthrough: the input's audio packets ride along as stream 1 and are muxed back untouched."""

from __future__ import annotations

import io
import itertools
import logging
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import reaped
from test_live import Pipe  # a non-seekable stdin (a pipe): read once, front to back

import vidcodec
from vidcodec import container, media
from vidcodec.cli import main as cli_main
from vidcodec.container import AUDIO_STREAM, GvcReader
from vidcodec.errors import UsageError
from vidcodec.streamcopy import remux


def write_av_clip(path, frames: int = 20, rate: int = 10, size=(64, 48), codec: str = "aac",
                  options: dict | None = None, bframes: int = 0, gop: int = 250, audio_frames: int | None = None,
                  sample_rate: int = 48000):
    """A clip with testsrc-like video (H.264, with ``bframes`` B-frames, a keyframe every ``gop``) and a
    440 Hz tone (``sample_rate``, stereo) beside its first ``audio_frames`` frames (all); ``options``: the
    muxer's."""
    with av.open(str(path), "w", options=options or {}) as out:
        v = out.add_stream("libx264", rate=rate)
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "20", "x264-params": f"bframes={bframes}:keyint={gop}"}
        a = out.add_stream(codec, rate=sample_rate)
        a.layout = "stereo"
        t = 0
        for i in range(frames):
            img = np.full((size[1], size[0], 3), (i * 12) % 256, np.uint8)
            for p in v.encode(av.VideoFrame.from_ndarray(img, "rgb24")):
                out.mux(p)
            if audio_frames is not None and i >= audio_frames:
                continue
            n = sample_rate // rate
            tone = (0.2 * np.sin(2 * np.pi * 440 * (t + np.arange(n)) / sample_rate)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = sample_rate, t
            t += n
            for p in a.encode(frame):
                out.mux(p)
        for s in (v, a):
            for p in s.encode():
                out.mux(p)
    return path


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(audio=0) if p.size]


@pytest.fixture
def clip(tmp_path):
    return write_av_clip(tmp_path / "av.mp4")


def test_audio_rides_along_bit_exact(clip, tmp_path, tiny_model_dir):
    gvc = tmp_path / "a.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=4)
    with container.GvcReader(gvc) as r:
        assert container.EXT_AUDIO in r.header.extensions
        carried = [p.payload[4:] for p in r if p.stream_index == container.AUDIO_STREAM]
    original = audio_packets(clip)
    assert carried and carried == original[: len(carried)] and len(carried) >= len(original) - 2
    assert container.probe(gvc)["packets"]["audio"]["count"] == len(carried)
    for ext in ("mp4", "mkv"):
        out = tmp_path / f"o.{ext}"
        s = vidcodec.decode(gvc, out)
        assert s.frames == 20
        assert audio_packets(out) == carried
        with av.open(str(out)) as c:
            samples = sum(f.samples for f in c.decode(audio=0))
        assert samples >= 48000 * 1.9  # 2 s of the tone come back


def test_audio_in_a_codec_ffmpeg_does_not_know_is_left_out_with_a_warning(tmp_path, tiny_model_dir, caplog):
    # (a Matroska codec ID no FFmpeg decoder has, or a damaged MP4's): no codec context, and the encode
    # failed with an AttributeError traceback, --no-audio too
    data = write_av_clip(tmp_path / "av.mkv", frames=10).read_bytes()
    at = data.index(b"A_AAC")
    (tmp_path / "odd.mkv").write_bytes(data[:at] + b"A_ZZZ" + data[at + 5:])
    for audio in (True, False):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="vidcodec"):
            s = vidcodec.encode(tmp_path / "odd.mkv", tmp_path / "odd.gvc", model="vaegan-tiny", audio=audio,
                                overwrite=True)
        with GvcReader(tmp_path / "odd.gvc") as reader:
            assert s.frames == 10 and not [p for p in reader if p.stream_index == AUDIO_STREAM]
        said = "its audio is in a codec this FFmpeg does not know: coding the video without it"
        assert (said in caplog.text) == audio, caplog.text


def test_damage_read_past_a_frames_limit_changes_no_byte(tmp_path, tiny_model_dir, monkeypatch):
    # the decoder reading ahead of --frames' last frame met damage that stops the demuxer: the input was
    # taken for ended, and all the audio queued (past the video's end too) was written
    clip = write_av_clip(tmp_path / "av.mkv", frames=40, rate=25)
    clean = tmp_path / "clean.gvc"
    vidcodec.encode(clip, clean, model="vaegan-tiny", max_frames=10)
    real_open = av.open

    class Damaged:  # a container whose demuxing fails at its 12th video packet
        def __init__(self, container):
            self._c = container

        def __getattr__(self, name):
            return getattr(self._c, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._c.close()

        def demux(self, *streams):
            seen = 0
            for packet in self._c.demux(*streams):
                if packet.size and packet.stream.type == "video":
                    seen += 1
                    if seen == 12:
                        raise av.InvalidDataError(1094995529, "Invalid data found when processing input")
                yield packet

    monkeypatch.setattr(av, "open", lambda *a, **k: Damaged(real_open(*a, **k)))
    vidcodec.encode(clip, tmp_path / "d.gvc", model="vaegan-tiny", max_frames=10)
    with GvcReader(clean) as a, GvcReader(tmp_path / "d.gvc") as b:
        want, got = list(a), list(b)
    # the same frames, and the same audio: none past the video's end (where the decoder read no further
    # ahead than the last frame, as on one core, the damage cuts the audio's reading on: then less)
    assert [p.payload for p in got if p.stream_index == 0] == [p.payload for p in want if p.stream_index == 0]
    audio = [p.payload for p in got if p.stream_index == AUDIO_STREAM]
    assert audio == [p.payload for p in want if p.stream_index == AUDIO_STREAM][:len(audio)] and audio


def test_nut_on_stdout_keeps_audio_that_leads_the_first_frame(tmp_path, tiny_model_dir):
    # an MPEG-TS source's audio starts a little before its first frame and is stored after it: NUT, which
    # takes no timestamp below 0, refused that packet, and all the audio was lost ("could not be written on")
    src = tmp_path / "a.gvc"
    vidcodec.encode(write_av_clip(tmp_path / "a.ts", frames=20, rate=25), src, model="vaegan-tiny", quality=2)
    with container.GvcReader(src) as r:
        header, packets = r.header, list(r)
    video = [p for p in packets if p.stream_index == 0]
    audio = [p.pts for p in packets if p.stream_index == container.AUDIO_STREAM]
    leading = [p for p in packets if p.stream_index == container.AUDIO_STREAM and p.pts < video[0].pts]
    assert leading  # (what makes the case: AAC's priming before the first frame)
    # the audio stored after the first five frames, as ffmpeg's MPEG-TS muxer delays it (a .gvc keeps the order)
    first = video[:5]
    gvc = tmp_path / "late.gvc"
    with container.GvcWriter(gvc, header) as w:
        for p in first + [p for p in packets if not any(p is q for q in first)]:
            w.write_packet(p.kind, p.pts, p.payload, p.stream_index, p.flags)
    out = io.BytesIO()
    vidcodec.decode(gvc, "-", stdout=out, stdout_format="nut")
    out.seek(0)
    with av.open(out, format="nut") as c:
        written = [p for p in c.demux(audio=0) if p.size]
    assert len(written) >= len(audio) - 1 and all(p.pts >= 0 for p in written)


def test_stdout_in_nut_carries_the_frames_uncompressed_and_the_audio(clip, tmp_path, tiny_model_dir):
    """`vidcodec decode in.gvc -f nut - | ffplay -`: a player with the sound (y4m has none). The frames are
    the y4m's (same pixel format, uncompressed), the audio packets the stream's, on the same clock as the
    mkv a file decode writes; --format is refused for a file, whose name gives the format."""
    gvc = tmp_path / "a.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=4)
    out, y4m = io.BytesIO(), io.BytesIO()
    assert vidcodec.decode(gvc, "-", stdout=out, stdout_format="nut").frames == 20
    vidcodec.decode(gvc, "-", stdout=y4m)
    out.seek(0)
    with av.open(out, format="nut") as c:
        assert c.streams.video[0].codec_context.name == "rawvideo"
        video = [bytes(f.to_ndarray()) for f in c.decode(video=0)]
    out.seek(0)
    with av.open(out, format="nut") as c:
        packets = [p for p in c.demux(audio=0) if p.size]
        audio, first_audio = [bytes(p) for p in packets], float(packets[0].pts * packets[0].time_base)
    y4m_frames = y4m.getvalue().split(b"FRAME\n")[1:]
    assert len(video) == 20 and video == y4m_frames
    with container.GvcReader(gvc) as r:
        assert audio == [p.payload[4:] for p in r if p.stream_index == container.AUDIO_STREAM]
    vidcodec.decode(gvc, tmp_path / "o.mkv")
    with av.open(str(tmp_path / "o.mkv")) as c:
        p = next(p for p in c.demux(audio=0) if p.size)
        assert abs(first_audio - float(p.pts * p.time_base)) < 0.002
    with pytest.raises(UsageError, match="is for stdout"):
        vidcodec.decode(gvc, tmp_path / "x.mkv", stdout_format="nut")
    with pytest.raises(UsageError, match="is for stdout"):  # y4m given explicitly is not a file's format either
        vidcodec.decode(gvc, tmp_path / "x.mkv", stdout_format="y4m")


def test_nut_on_stdout_is_untagged_as_y4m_and_refuses_audio_it_cannot_hold(tmp_path, tiny_model_dir):
    """NUT cannot say a matrix or range: its frames are the y4m's (what players assume for the height),
    not the stream's BT.709 full range ones (players showed wrong colours). ALAC, which NUT cannot hold,
    is a one-line error, not a traceback."""
    clip = tmp_path / "tagged.mp4"
    with av.open(str(clip), "w") as out:
        v = out.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = 64, 48, "yuvj420p"
        v.codec_context.colorspace, v.codec_context.color_range = 1, 2  # BT.709, full range
        for i in range(4):
            img = np.zeros((48, 64, 3), np.uint8)
            img[:, :, i % 3] = 200
            img[:, : 8 * (i + 1), 1] = 90
            for p in v.encode(av.VideoFrame.from_ndarray(img, "rgb24")):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
    gvc = tmp_path / "tagged.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2)
    with container.GvcReader(gvc) as r:
        assert (int(r.header.colour_matrix), int(r.header.colour_range)) != (0, 0)
    nut, y4m = io.BytesIO(), io.BytesIO()
    vidcodec.decode(gvc, "-", stdout=nut, stdout_format="nut")
    vidcodec.decode(gvc, "-", stdout=y4m)
    nut.seek(0)
    with av.open(nut, format="nut") as c:
        frames = [bytes(f.to_ndarray()) for f in c.decode(video=0)]
    assert frames == y4m.getvalue().split(b"FRAME\n")[1:]
    alac = write_av_clip(tmp_path / "alac.mkv", frames=5, codec="alac")
    vidcodec.encode(alac, tmp_path / "alac.gvc", model="vaegan-tiny", quality=2)
    with pytest.raises(UsageError, match="alac audio cannot go into NUT.*--no-audio"):
        vidcodec.decode(tmp_path / "alac.gvc", "-", stdout=io.BytesIO(), stdout_format="nut")
    assert vidcodec.decode(tmp_path / "alac.gvc", "-", stdout=io.BytesIO(), stdout_format="nut", audio=False).frames == 5


def test_a_signal_raised_inside_ffmpegs_write_is_held_and_raised_after_it():
    """PyAV prints and drops a KeyboardInterrupt raised in its write callback (a second Ctrl-C, the CLI's
    SIGTERM), and the decode ran on to exit 0; the NUT sink's writer holds it for after FFmpeg's call."""
    from vidcodec.media import _WholeWrites

    class Interrupted(io.BytesIO):
        def write(self, data):
            raise KeyboardInterrupt

    w = _WholeWrites(Interrupted())
    assert w.write(b"abc") == 3 and w.write(b"more") == 4  # nothing raised inside the callback
    with pytest.raises(KeyboardInterrupt):
        w.reraise()
    out = io.BytesIO()
    ok = _WholeWrites(out)
    ok.write(b"abc")
    ok.reraise()
    assert out.getvalue() == b"abc"


def remuxed(src: Path, dst: Path, fmt: str | None = None) -> Path:
    """``src``'s streams copied into ``dst`` (in format ``fmt``, else by its name), as ``ffmpeg -c copy``."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        streams = {st.index: out.add_stream_from_template(st) for st in inp.streams}
        for pk in inp.demux():
            if pk.size:
                pk.stream = streams[pk.stream.index]
                out.mux(pk)
    return dst


def test_stdin_redirected_from_a_file_keeps_its_audio(clip, tmp_path, tiny_model_dir):
    # `vidcodec encode - out.gvc < clip.mp4`: a seekable stdin, read where it stands, the audio from the
    # file behind it (it was dropped as if stdin were a pipe)
    gvc = tmp_path / "s.gvc"
    with open(clip, "rb") as f:
        vidcodec.encode("-", gvc, model="vaegan-tiny", quality=2, stdin=f)
    with container.GvcReader(gvc) as r:
        carried = [p.payload[4:] for p in r if p.stream_index == container.AUDIO_STREAM]
    assert carried and carried == audio_packets(clip)[: len(carried)]


def test_an_in_memory_stdin_keeps_its_audio_also_when_it_starts_further_in(clip, tmp_path, tiny_model_dir):
    # stdin=io.BytesIO(...) (the README's call): seekable with no file behind it, so its audio had been
    # dropped as a pipe's; and media that start past the object's position 0 (an MP4 whose index is at
    # its end, which FFmpeg seeks to) could not be opened at all
    ref = tmp_path / "ref.gvc"
    vidcodec.encode(clip, ref, model="vaegan-tiny", quality=2)
    for prefix in (b"", b"garbage"):
        buf = io.BytesIO(prefix + clip.read_bytes())
        buf.seek(len(prefix))
        gvc = tmp_path / f"m{len(prefix)}.gvc"
        stats = vidcodec.encode("-", gvc, model="vaegan-tiny", quality=2, stdin=buf)
        assert stats.frames == 20 and stats.audio_bytes > 0
        assert gvc.read_bytes() == ref.read_bytes()
    # not seekable: an MP4 is spooled, and its audio read from the spool again
    vidcodec.encode("-", tmp_path / "p.gvc", model="vaegan-tiny", quality=2, stdin=io.BufferedReader(Pipe(
        clip.read_bytes())))
    assert (tmp_path / "p.gvc").read_bytes() == ref.read_bytes()
    # a file read from further in (`{ head -c 7 >/dev/null; vidcodec encode - ...; } < file`): not reopened
    # from its byte 0 for the audio, which is not media there
    (tmp_path / "prefixed").write_bytes(b"garbage" + clip.read_bytes())
    with open(tmp_path / "prefixed", "rb") as f:
        f.seek(7)
        vidcodec.encode("-", tmp_path / "f.gvc", model="vaegan-tiny", quality=2, stdin=f)
    assert (tmp_path / "f.gvc").read_bytes() == ref.read_bytes()


@pytest.mark.parametrize("fmt", ["matroska", "mpegts", "nut"])
def test_a_streamed_stdin_keeps_its_audio(tmp_path, tiny_model_dir, fmt):
    # `ffmpeg ... -f mpegts - | vidcodec encode - out.gvc`: read as it arrives, the audio had been dropped
    # (its description needed a second pass); it is now described from its first packet, and the stream
    # is the one the same file given by name makes, byte for byte, with --start too (a seek there, a
    # decode up to it here)
    src = remuxed(write_av_clip(tmp_path / "av.mp4", frames=25), tmp_path / "av.media", fmt)
    for start in (None, 1.2):
        named = vidcodec.encode(src, tmp_path / "n.gvc", model="vaegan-tiny", quality=2, start=start, overwrite=True)
        piped = vidcodec.encode("-", tmp_path / "p.gvc", model="vaegan-tiny", quality=2, start=start, overwrite=True,
                                stdin=io.BufferedReader(Pipe(src.read_bytes())))
        assert piped.audio_bytes > 0 and piped.frames == named.frames == (25 if start is None else 13)
        assert (tmp_path / "p.gvc").read_bytes() == (tmp_path / "n.gvc").read_bytes()


def _audio_from(clip: Path, out: Path, start: float, rate: int | None = None) -> Path:
    """``clip`` with its first second of sound moved to start ``start`` s in (the rest of it left out)."""
    with av.open(str(clip)) as inp, av.open(str(out), "w") as o:
        v = o.add_stream_from_template(inp.streams.video[0])
        a = o.add_stream_from_template(inp.streams.audio[0])
        shift = round(Fraction(start) / inp.streams.audio[0].time_base)
        for p in inp.demux():
            if not p.size:  # (the demuxer's end-of-stream packets)
                continue
            if p.stream.type == "audio":
                if p.pts is None or p.pts * p.time_base >= 1:
                    continue
                p.pts, p.dts = p.pts + shift, None if p.dts is None else p.dts + shift
            p.stream = v if p.stream.type == "video" else a
            o.mux(p)
    return out


def test_audio_that_a_pipe_brings_too_late_is_left_out_and_said(tmp_path, tiny_model_dir, caplog, monkeypatch):
    # an input read once holds AUDIO_WAIT_S of its video packets for its first audio packet; sound that
    # starts later than that is not carried (said); by name it is
    late = _audio_from(write_av_clip(tmp_path / "av.mkv", frames=40), tmp_path / "late.mkv", 3)
    assert vidcodec.encode(late, tmp_path / "n.gvc", model="vaegan-tiny", quality=2).audio_bytes > 0
    with caplog.at_level("WARNING", logger="vidcodec"):
        s = vidcodec.encode("-", tmp_path / "p.gvc", model="vaegan-tiny", quality=2,
                            stdin=io.BufferedReader(Pipe(late.read_bytes())))
    assert s.frames == 40 and s.audio_bytes == 0
    assert "no audio packet came within the first 2.00 s of video" in caplog.text
    assert "encoding video only" in caplog.text

    def video_pts(gvc):
        with container.GvcReader(gvc) as r:
            return container.EXT_AUDIO in r.header.extensions, [p.pts for p in r if p.stream_index == 0]

    assert video_pts(tmp_path / "p.gvc") == (False, video_pts(tmp_path / "n.gvc")[1])
    # ... and at most AUDIO_WAIT_BYTES of video packets: the same decision on every machine, whatever its
    # decoder's threads hold back
    caplog.clear()
    monkeypatch.setattr(media, "AUDIO_WAIT_BYTES", 1000)
    with caplog.at_level("WARNING", logger="vidcodec"):
        s = vidcodec.encode("-", tmp_path / "q.gvc", model="vaegan-tiny", quality=2,
                            stdin=io.BufferedReader(Pipe(late.read_bytes())))
    assert s.frames == 40 and "no audio packet came within the first 0 MB of video" in caplog.text
    assert (tmp_path / "q.gvc").read_bytes() == (tmp_path / "p.gvc").read_bytes()


@pytest.mark.parametrize("rate", [10, 60])
def test_audio_a_pipe_brings_within_its_wait_is_kept_at_any_frame_rate(tmp_path, tiny_model_dir, rate):
    # the wait is in the video's time and bytes, not in frames (60 frames had been 1 s at 60 fps)
    clip = write_av_clip(tmp_path / "av.mkv", frames=3 * rate, rate=rate)
    src = _audio_from(clip, tmp_path / "late.mkv", 1.5)
    named = vidcodec.encode(src, tmp_path / "n.gvc", model="vaegan-tiny", quality=1)
    piped = vidcodec.encode("-", tmp_path / "p.gvc", model="vaegan-tiny", quality=1,
                            stdin=io.BufferedReader(Pipe(src.read_bytes())))
    assert piped.audio_bytes == named.audio_bytes > 0
    assert (tmp_path / "p.gvc").read_bytes() == (tmp_path / "n.gvc").read_bytes()


def test_pipes_keep_the_sound_that_b_frames_fragments_or_its_absence_had_lost(tmp_path, tiny_model_dir, caplog):
    # found by review: the wait counted the video's pts, which B-frames put ahead of the audio beside it
    # (sound at 1.9 s dropped); a fragmented MP4 read in order gives a fragment's video before its audio
    # (a fragment is a GOP: the sound was dropped); an audio stream with no packets in an input that ends
    # while waiting was a traceback (StopIteration)
    import subprocess

    bframes = tmp_path / "b.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=4", "-f",
                    "lavfi", "-i", "sine=frequency=440:duration=4", "-c:v", "libx264", "-bf", "3", "-g", "100",
                    "-c:a", "aac", str(bframes)], check=True)
    late = _audio_from(bframes, tmp_path / "late.mkv", 1.95)  # (its video pts up to 2.08 s by then)
    frag = tmp_path / "frag.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(bframes), "-c", "copy", "-movflags", "frag_keyframe+empty_moov",
                    str(frag)], check=True)
    silent = tmp_path / "silent.mkv"  # an audio stream, no audio packet
    with av.open(str(bframes)) as inp, av.open(str(silent), "w") as out:
        v = out.add_stream_from_template(inp.streams.video[0])
        out.add_stream_from_template(inp.streams.audio[0])
        for pk in inp.demux(video=0):
            if pk.size and pk.pts * pk.time_base < 1:
                pk.stream = v
                out.mux(pk)
    for src, identical in ((late, True), (frag, False), (silent, True)):
        named = vidcodec.encode(src, tmp_path / "n.gvc", model="vaegan-tiny", quality=1, overwrite=True)
        with caplog.at_level("WARNING", logger="vidcodec"):
            piped = vidcodec.encode("-", tmp_path / "p.gvc", model="vaegan-tiny", quality=1, overwrite=True,
                                    stdin=io.BufferedReader(Pipe(src.read_bytes())))
        assert piped.frames == named.frames and piped.audio_bytes == named.audio_bytes, src.name
        assert (named.audio_bytes > 0) == (src is not silent) and "audio" not in caplog.text, src.name
        # (a fragmented MP4 read in order interleaves its sound by fragments: other packet order, same packets)
        assert ((tmp_path / "p.gvc").read_bytes() == (tmp_path / "n.gvc").read_bytes()) == identical, src.name


def test_encode_stats_tell_video_from_audio(clip, tmp_path, tiny_model_dir, capsys):
    both = vidcodec.encode(clip, tmp_path / "a.gvc", model="vaegan-tiny", quality=2, gop=4)
    video = vidcodec.encode(clip, tmp_path / "v.gvc", model="vaegan-tiny", quality=2, gop=4, audio=False)
    assert both.bytes == (tmp_path / "a.gvc").stat().st_size and video.audio_bytes == 0
    assert both.audio_bytes > sum(len(p) for p in audio_packets(clip)) * 0.9
    # what is left besides the video-only stream's bytes: the audio's description and index entries
    assert video.bytes <= both.video_bytes < video.bytes + 0.05 * both.audio_bytes
    assert both.bpp == pytest.approx(8 * both.video_bytes / (20 * 64 * 48))
    assert both.video_kbps < both.kbps and video.video_kbps == video.kbps
    assert cli_main(["encode", str(clip), str(tmp_path / "c.gvc"), "--model", "vaegan-tiny", "--bitrate", "50"]) == 0
    err = capsys.readouterr().err
    assert "kbit/s of video" in err and "(video " in err and ", audio " in err


def test_no_audio_switches_and_y4m(clip, tmp_path, tiny_model_dir):
    vidcodec.encode(clip, tmp_path / "v.gvc", model="vaegan-tiny", quality=2, audio=False)
    with container.GvcReader(tmp_path / "v.gvc") as r:
        assert container.EXT_AUDIO not in r.header.extensions
        assert all(p.stream_index == 0 for p in r)
    assert cli_main(["encode", str(clip), str(tmp_path / "a.gvc"), "--model", "vaegan-tiny", "--quality", "2",
                     "-q"]) == 0
    assert cli_main(["decode", str(tmp_path / "a.gvc"), str(tmp_path / "n.mp4"), "--no-audio", "-q"]) == 0
    with av.open(str(tmp_path / "n.mp4")) as c:
        assert not c.streams.audio
    assert cli_main(["decode", str(tmp_path / "a.gvc"), str(tmp_path / "y.y4m"), "-q"]) == 0
    assert len(list(vidcodec.frames(tmp_path / "a.gvc"))) == 20  # frames() yields frames only


def test_audio_the_container_cannot_hold_is_refused_before_decoding(tmp_path, tiny_model_dir, capsys):
    clip = write_av_clip(tmp_path / "pcm.mov", frames=6, codec="pcm_s16le")
    gvc = tmp_path / "p.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2)
    assert cli_main(["decode", str(gvc), str(tmp_path / "o.mp4")]) == 2
    assert "pcm_s16le audio cannot go into .mp4: decode to .mkv or .mov, or with --no-audio" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()
    for args in (["o.mkv"], ["o.mov"], ["o.mp4", "--no-audio"]):
        assert cli_main(["decode", str(gvc), str(tmp_path / args[0]), *args[1:], "-q"]) == 0


def test_audio_packets_at_the_time_of_the_one_before_are_kept_where_the_container_takes_them(tmp_path, tiny_model_dir):
    # TrueHD's packets last 0.83 ms and Matroska's times are in ms: one packet in six has the time of the one
    # before, and encode, remux and decode left it out as audio going back in time (1600 of 1920 kept)
    src = write_av_clip(tmp_path / "a.mkv", frames=20)
    with av.open(str(src)) as c:
        vs, aus = c.streams.video[0], c.streams.audio[0]
        packets = [p for p in c.demux() if p.size]
        with av.open(str(tmp_path / "same.mkv"), "w") as out:
            v, a = out.add_stream_from_template(vs), out.add_stream_from_template(aus)
            last, n = None, 0
            for p in packets:
                if p.stream.type == "audio":
                    n += 1
                    if n % 6 == 0:  # this one at the time of the one before
                        p.pts = p.dts = last
                    last = p.pts
                p.stream = v if p.stream.type == "video" else a
                out.mux(p)
    with av.open(str(tmp_path / "same.mkv")) as c:
        want = [bytes(p) for p in c.demux(audio=0) if p.size]
    gvc = tmp_path / "same.gvc"
    vidcodec.encode(tmp_path / "same.mkv", gvc, model="vaegan-tiny", quality=2)
    remux(gvc, tmp_path / "r.gvc")
    for stream in (gvc, tmp_path / "r.gvc"):
        with GvcReader(stream) as r:
            assert len([p for p in r if p.stream_index == AUDIO_STREAM]) == len(want), stream
        vidcodec.decode(stream, tmp_path / "o.mkv", overwrite=True)
        assert audio_packets(tmp_path / "o.mkv") == want
    vidcodec.decode(gvc, tmp_path / "o.mp4")  # (MP4 and NUT take no two at one time: those are left out, said)
    assert len(audio_packets(tmp_path / "o.mp4")) == len(want) - len(want) // 6
    out = io.BytesIO()
    vidcodec.decode(gvc, "-", stdout=out, stdout_format="nut")
    out.seek(0)
    with av.open(out, format="nut") as c:  # (all of the audio after the first had been refused with it)
        assert len([p for p in c.demux(audio=0) if p.size]) == len(want) - len(want) // 6


def test_a_joined_streams_audio_at_the_last_ones_time_overlaps_it(tmp_path, tiny_model_dir):
    # two clips of the same settings joined: the second's first audio packet, moved, lands at the time of the
    # first's last one; kept as a packet "at the time of the one before", it played the second's sound late
    clips = [write_av_clip(tmp_path / f"{n}.mkv", frames=16, rate=25) for n in "ab"]
    for clip in clips:
        vidcodec.encode(clip, clip.with_suffix(".gvc"), model="vaegan-tiny", quality=2)
    remux([c.with_suffix(".gvc") for c in clips], tmp_path / "ab.gvc")
    with GvcReader(tmp_path / "ab.gvc") as r:
        audio = [p.pts for p in r if p.stream_index == AUDIO_STREAM]
    assert all(b > a for a, b in itertools.pairwise(audio)), audio


def test_mp3_below_16_khz_is_refused_for_mp4_before_decoding(tmp_path, tiny_model_dir, capsys):
    # FFmpeg's MP4 muxer refuses MP3 at MPEG-2.5's rates at the first packet: the decode had said the audio
    # was dropped, the frames kept and a muxer refusing "timestamps that jump by hours", and left 0 bytes
    clip = write_av_clip(tmp_path / "mp3.mkv", frames=6, codec="libmp3lame", sample_rate=8000)
    gvc = tmp_path / "m.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2)
    capsys.readouterr()
    assert cli_main(["decode", str(gvc), str(tmp_path / "o.mp4")]) == 2
    assert ("mp3 audio cannot go into .mp4 at 8000 Hz (below MP4's 16 kHz for MP3): decode to .mkv or .mov, or "
            "with --no-audio") in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()
    for args in (["o.mov"], ["o.mp4", "--no-audio"]):
        assert cli_main(["decode", str(gvc), str(tmp_path / args[0]), *args[1:], "-q"]) == 0


def test_decoding_audio_to_y4m_says_the_audio_is_left_out(tmp_path, tiny_model_dir, caplog):
    clip = write_av_clip(tmp_path / "a.mp4", frames=4)
    vidcodec.encode(clip, tmp_path / "a.gvc", model="vaegan-tiny", quality=2)
    with caplog.at_level("INFO", logger="vidcodec"):
        vidcodec.decode(tmp_path / "a.gvc", tmp_path / "a.y4m")
        assert "audio is not written: y4m holds video only" in caplog.text
        caplog.clear()
        vidcodec.decode(tmp_path / "a.gvc", tmp_path / "b.y4m", audio=False)  # asked for none: no word
        assert "audio is not written" not in caplog.text


def test_mp3_audio_goes_into_mp4_and_mov(tmp_path, tiny_model_dir):
    # its decoder is "mp3float": the codec's name decides, not the decoder's
    clip = write_av_clip(tmp_path / "mp3.mkv", frames=6, codec="libmp3lame")
    gvc = tmp_path / "m.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2)
    for ext in (".mp4", ".mov"):
        assert cli_main(["decode", str(gvc), str(tmp_path / f"o{ext}"), "-q"]) == 0
        assert audio_packets(tmp_path / f"o{ext}") == audio_packets(clip)


def _audio_end(path) -> float:
    with av.open(str(path)) as c:
        return max(float((p.pts + p.duration) * p.time_base) for p in c.demux(audio=0) if p.size)


def test_frames_cut_the_audio_with_the_video(clip, tmp_path, tiny_model_dir):
    # 20 frames at 10 fps with 2 s of audio (AAC packets of 1024 samples, 21 ms)
    gvc = tmp_path / "a.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=4, max_frames=8)
    vidcodec.decode(gvc, tmp_path / "e.mkv")
    assert 0.8 <= _audio_end(tmp_path / "e.mkv") < 0.8 + 0.05  # demuxing had read far ahead of frame 8
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=4, overwrite=True)
    vidcodec.decode(gvc, tmp_path / "d.mkv", max_frames=5)
    assert 0.5 <= _audio_end(tmp_path / "d.mkv") < 0.5 + 0.05
    vidcodec.decode(gvc, tmp_path / "f.mkv")
    assert _audio_end(tmp_path / "f.mkv") >= 1.95  # a whole decode keeps all of it


_OPEN = media.VideoSource.__init__


def _decoder_threads(monkeypatch, threads: int) -> None:
    """Inputs opened from now on decode their video with this many threads (0: FFmpeg's choice)."""
    def opened(self, container, *args, **kwargs):
        for stream in container.streams.video:
            stream.codec_context.thread_count = threads
        _OPEN(self, container, *args, **kwargs)

    monkeypatch.setattr(media.VideoSource, "__init__", opened)


@pytest.mark.parametrize(("name", "options"), [("b.mkv", None), ("b.ts", None),
                                               ("f.mp4", {"movflags": "frag_keyframe+empty_moov"})])
def test_the_interleaving_is_the_files_whatever_the_decoders_threads(tmp_path, tiny_model_dir, monkeypatch, name,
                                                                     options):
    """A decoder's threads hold its frames back by as many packets (B-frames by more), and the demuxing
    runs ahead of the coding by as much as the machine lets it: neither decides where the audio goes
    beside the frames, nor what goes with an encode cut short (--frames). MPEG-TS stores audio a few
    frames after its video; a fragmented MP4 a whole fragment (a GOP) after."""
    clip = write_av_clip(tmp_path / name, frames=40, rate=25, bframes=3, gop=12, options=options)
    made = {}
    for threads, slow in ((1, False), (4, False), (2, True)):
        _decoder_threads(monkeypatch, threads)
        if slow:  # the demuxing behind the coding: frames that come slower than they are coded
            rgb = media.VideoSource._rgb
            monkeypatch.setattr(media.VideoSource, "_rgb", lambda self, f, rgb=rgb: time.sleep(0.02) or rgb(self, f))
        for frames in (None, 17):
            gvc = tmp_path / f"t{threads}-{frames}.gvc"
            vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=8, max_frames=frames)
            made[threads, frames] = gvc.read_bytes()
    for frames in (None, 17):
        assert made[1, frames] == made[4, frames] == made[2, frames], frames
    with GvcReader(tmp_path / "t1-17.gvc") as r:  # cut after frame 17: its audio reaches the video's end
        packets = list(r)
        atb, vtb = _audio_time_base(r), Fraction(*r.header.time_base)
    audio = [p for p in packets if p.stream_index == AUDIO_STREAM]
    video_end = max(p.pts for p in packets if p.stream_index == 0) * vtb + Fraction(1, 25)
    end = (audio[-1].pts + int.from_bytes(audio[-1].payload[:4], "little")) * atb
    assert audio[-1].pts * atb < video_end <= end


def _audio_time_base(reader: GvcReader) -> Fraction:
    return container._audio_time_base(reader.header)


def test_a_cut_encode_from_a_pipe_its_writer_holds_open_does_not_wait_for_it(tmp_path, tiny_model_dir):
    """--frames from a pipe whose audio ended before the cut: the encode reads on past its last frame for
    the audio beside it, and had waited there for as long as the pipe's writer kept it open."""
    clip = write_av_clip(tmp_path / "a.mkv", frames=40, rate=25, audio_frames=5)
    env = {**os.environ, "VIDCODEC_MODEL_PATH": str(tiny_model_dir)}
    with reaped(subprocess.Popen([sys.executable, "-m", "vidcodec", "encode", "-", str(tmp_path / "o.gvc"),
                                  "--model", "vaegan-tiny", "--frames", "20", "-q"], env=env,
                                 stdin=subprocess.PIPE, stderr=subprocess.PIPE)) as proc:
        proc.stdin.write(clip.read_bytes())
        proc.stdin.flush()  # and left open
        code = proc.wait(timeout=60)
        err = proc.stderr.read().decode()
    assert code == 0 and not err, err
    with GvcReader(tmp_path / "o.gvc") as r:
        assert sum(p.stream_index == 0 for p in r) == 20


def test_a_cut_encode_through_the_api_from_a_pipe_held_open_leaves_no_reader_behind(tmp_path, tiny_model_dir):
    """The same through vidcodec.encode(stdin=...): the wait for the audio after the last frame ends by
    itself (a first version left a thread reading the pipe, whose lock on it aborted Python at exit)."""
    import threading

    clip = write_av_clip(tmp_path / "a.mkv", frames=40, rate=25, audio_frames=5).read_bytes()
    r, w = os.pipe()
    feeder = threading.Thread(target=lambda: os.write(w, clip), daemon=True)  # (more than a pipe holds)
    feeder.start()
    try:
        with os.fdopen(r, "rb") as pipe:
            t = time.monotonic()
            stats = vidcodec.encode("-", tmp_path / "o.gvc", stdin=pipe, model="vaegan-tiny", max_frames=20)
            took = time.monotonic() - t
            left = [t.name for t in threading.enumerate() if "demux" in t.name or "audio" in t.name]
    finally:
        feeder.join(10)
        os.close(w)
    assert stats.frames == 20 and took < 30 and not left, (took, left)


def test_seek_keeps_audio_from_the_start_time(clip, tmp_path, tiny_model_dir):
    gvc = tmp_path / "a.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=4)
    out = tmp_path / "s.mkv"
    vidcodec.decode(gvc, out, start=1.0)
    with av.open(str(out)) as c:  # the cut's timeline starts at 0 for both (Matroska moves both by the
        # warm-up's lead: the packets before the start that warm a decoder up, at most 0.15 s)
        first = next(p for p in c.demux(audio=0) if p.size)
        video = float(c.streams.video[0].start_time * c.streams.video[0].time_base)
        assert float(first.pts * first.time_base) == 0 <= video <= float(media.KEPT_DISCARDED_AUDIO_S)
    assert 0.99 < _audio_end(out) - video <= 1.0 + 0.03
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 10


def test_a_decode_from_a_start_keeps_the_packets_that_warm_a_decoder_up(clip, tmp_path, tiny_model_dir):
    """decode --start wrote the audio from the first packet that begins at the start: the packet the start
    falls in was lost (18 ms of silence) and an AAC decoder's first packet after a cut decodes wrong (23 ms
    at 64 % error, measured on wannaworktogether). As encode --start does, the packet the start falls in is
    kept, with the last one or two before it, which an MP4 hides before its time 0."""
    gvc = tmp_path / "a.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=4)
    out = tmp_path / "s.mp4"
    vidcodec.decode(gvc, out, start=1.0)  # a frame at 1.0 s, inside a packet (1024 samples, 21.3 ms)
    with av.open(str(clip)) as c:
        source = [(bytes(p), float(p.pts * p.time_base), float((p.pts + p.duration) * p.time_base))
                  for p in c.demux(audio=0) if p.size]
    heard = next(i for i, (_, _, end) in enumerate(source) if end > 1.0)
    assert source[heard][1] < 1.0  # the start falls inside it
    with av.open(str(out)) as c:
        written = [(bytes(p), float(p.pts * p.time_base)) for p in c.demux(audio=0) if p.size]
    assert [data for data, _ in written] == [data for data, _, _ in source[heard - 2: heard - 2 + len(written)]]
    assert written[1][1] < 0 and written[2][1] < 0.001  # the warm-up before 0, the packet of the start about at it


@pytest.mark.parametrize(("description", "said"), [
    (b"\x01\x00\x00\x00", "audio description is damaged"),
    # whole, but not something this FFmpeg reads (a codec it was built without): the decode had failed
    # ("cannot be read: [Errno 1094995529] Invalid data found when processing input: '<none>'", exit 2)
    (vidcodec.media.AudioTrack(Fraction(1, 44100), b"\x1aE\xdf\xa3garbage" * 10).to_bytes(),
     "audio description cannot be read (Invalid data found when processing input); decoding video only")])
def test_damaged_audio_description_decodes_video_only(clip, tmp_path, tiny_model_dir, caplog, description, said):
    gvc = tmp_path / "a.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=4)
    with container.GvcReader(gvc) as r:
        hdr = r.header
        packets = list(r)
    bad = tmp_path / "bad.gvc"
    hdr.extensions[container.EXT_AUDIO] = description
    late = round(Fraction(1, 2) / Fraction(*hdr.time_base))  # the video half a second after the sound
    with container.GvcWriter(bad, hdr) as w:
        for p in sorted(packets, key=lambda p: p.pts + (late if p.stream_index == 0 else 0)):
            w.write_packet(p.kind, p.pts + (late if p.stream_index == 0 else 0), p.payload,
                           stream_index=p.stream_index, flags=p.flags)
    s = vidcodec.decode(bad, tmp_path / "v.mp4")
    assert s.frames == 20 and caplog.text.count(said) == 1
    with av.open(str(tmp_path / "v.mp4")) as c:  # no sound: nothing for the video to follow (it had been
        assert not c.streams.audio and next(c.decode(video=0)).time == 0  # put half a second in)
    if len(description) > 12:  # remux copies the sound it cannot read, and joins two such streams
        r = vidcodec.remux([bad, bad], tmp_path / "r.gvc")
        assert r.frames == 40 and r.audio_packets > 0


def test_same_input_with_audio_gives_the_same_bytes(clip, tmp_path, tiny_model_dir):
    # The audio description is a tiny Matroska file: written bitexact, without a random segment UID.
    a, b = tmp_path / "a.gvc", tmp_path / "b.gvc"
    for out in (a, b):
        vidcodec.encode(clip, out, model="vaegan-tiny", quality=2, gop=4)
    assert a.read_bytes() == b.read_bytes()


def test_start_drops_the_audio_before_it_and_keeps_sync(clip, tmp_path, tiny_model_dir):
    gvc = tmp_path / "s.gvc"
    s = vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=4, start=1.0)
    assert s.frames == 10  # 20 frames at 10 fps, from 1.0 s on
    with av.open(str(clip)) as c:
        stream = c.streams.audio[0]
        tb = stream.time_base
        original = [(p.pts, bytes(p)) for p in c.demux(stream) if p.size]
    first = next(i for i, (pts, _) in enumerate(original) if (pts + 1024) * tb > 1)  # (the start falls in it)
    kept = original[first - 2:]  # with the two packets before it, which warm the decoder up
    with container.GvcReader(gvc) as r:
        video = [p.pts for p in r if p.stream_index != container.AUDIO_STREAM]
    with container.GvcReader(gvc) as r:
        carried = [(p.pts, p.payload[4:]) for p in r if p.stream_index == container.AUDIO_STREAM]
    assert video[0] == 0  # the frame at 1.0 s takes the input's first timestamp (0)
    assert carried and [d for _, d in carried] == [d for _, d in kept[: len(carried)]]
    assert len(carried) >= len(kept) - 2
    # the audio moved back by the same second as the video
    assert [pts for pts, _ in carried] == [pts - round(1 / tb) for pts, _ in kept[: len(carried)]]
    assert sum(pts < 0 for pts, _ in carried) == 3  # the two and the one the start falls in
    out = tmp_path / "o.mp4"
    assert vidcodec.decode(gvc, out).frames == 10
    with av.open(str(out)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    assert 48000 * 0.9 <= samples <= 48000 * 1.1  # the second after the start, not the one before


def test_encode_start_on_the_command_line(clip, tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "c.gvc"
    assert cli_main(["encode", str(clip), str(out), "--model", "vaegan-tiny", "--start", "0.55", "--frames", "3"]) == 0
    info = container.probe(out)
    assert info["frames"] == 3 and info["first_pts"] == 0
    assert cli_main(["encode", str(clip), str(tmp_path / "n.gvc"), "--model", "vaegan-tiny", "--start", "-1"]) != 0
    assert "--start must not be negative" in capsys.readouterr().err
    assert cli_main(["encode", str(clip), str(tmp_path / "e.gvc"), "--model", "vaegan-tiny", "--start", "5"]) != 0
    assert "no video at or after --start 5 s" in capsys.readouterr().err


def test_the_audio_description_in_repeated_headers_is_audio_not_video_bitrate(tmp_path, tiny_model_dir):
    # a live stream repeats the header (with the audio track's description: kilobytes for PCM) before
    # every keyframe; --bitrate holds the video, so the same video comes out with and without audio
    clip = write_av_clip(tmp_path / "pcm.mkv", frames=20, codec="pcm_s16le")
    runs = [vidcodec.encode(clip, tmp_path / f"{audio}.gvc", model="vaegan-tiny", bitrate=2, gop=5,
                            repeat_header=True, audio=audio) for audio in (True, False)]
    with_audio, without = runs
    assert with_audio.audio_bytes > 4 * 4000  # the description, five times, and the packets
    assert with_audio.qualities == without.qualities  # (the audio's description once starved the video)
    # the same video; a parameters packet with the longer header spends a byte more on its size
    assert 0 <= with_audio.video_bytes - without.video_bytes <= with_audio.keyframes


def test_audio_out_of_order_is_dropped_not_the_whole_output(clip, tmp_path, caplog):
    """A damaged stream's audio packets out of order: the muxer refused them, and the output was
    deleted with an error blaming the container; now they are dropped with one warning."""
    from fractions import Fraction

    from vidcodec import media

    with media.open_source(clip, audio=True) as src:
        frames = [f.rgb for f in src]
        track, packets = src.audio_track, src.take_audio()
    assert track is not None and len(packets) > 3
    out = tmp_path / "x.mkv"
    with caplog.at_level("WARNING", logger="vidcodec"), media.open_sink(
            out, width=64, height=48, time_base=Fraction(1, 10), frame_rate=Fraction(10), audio=track) as sink:
        sink.write(frames[0], 0)
        for p in [packets[2], packets[0], packets[1], packets[3]]:  # two behind the first written
            sink.write_audio(p)
    assert caplog.text.count("does not come after the one before") == 1
    assert audio_packets(out) == [packets[2].data, packets[3].data]
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames in (0, 1) and len(list(c.decode(video=0))) == 1


def _audio_seconds(path) -> float:
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        last = [p for p in c.demux(s) if p.size][-1]
        return float((last.pts + last.duration) * s.time_base)


def test_audio_that_runs_past_the_last_frame_is_kept_as_ffmpeg_keeps_it(tmp_path, tiny_model_dir):
    """A still picture and a song (one frame, then seconds of audio): the audio had been cut at the
    frame's end, both by encode and by decode. Cut by --frames, it still ends with the last frame."""
    clip = write_av_clip(tmp_path / "song.mp4", frames=10)  # 1 s of video and of tone ...
    longer = tmp_path / "longer.mkv"
    with av.open(str(clip)) as inp, av.open(str(longer), "w") as out:  # ... and 2 s more of the tone
        v = out.add_stream_from_template(inp.streams.video[0])
        a = out.add_stream_from_template(inp.streams.audio[0])
        packets = [p for p in inp.demux() if p.size]
        audio = [p for p in packets if p.stream.type == "audio"]
        step = audio[1].pts - audio[0].pts
        for p in packets:
            p.stream = v if p.stream.type == "video" else a
            out.mux(p)
        for k in range(1, 3):
            for p in audio:
                q = av.Packet(bytes(p))
                q.pts = q.dts = p.pts + k * (audio[-1].pts + step)
                q.duration, q.time_base, q.stream = p.duration, p.time_base, a
                out.mux(q)
    src_seconds = _audio_seconds(longer)
    assert src_seconds > 2.5
    gvc = tmp_path / "l.gvc"
    vidcodec.encode(longer, gvc, model="vaegan-tiny", quality=2)
    vidcodec.decode(gvc, tmp_path / "l.mkv")
    assert _audio_seconds(tmp_path / "l.mkv") == pytest.approx(src_seconds, abs=0.05)
    vidcodec.decode(gvc, tmp_path / "five.mkv", max_frames=5)  # cut: the audio ends with the 5th frame
    assert _audio_seconds(tmp_path / "five.mkv") < 0.65
    vidcodec.encode(longer, tmp_path / "f.gvc", model="vaegan-tiny", quality=2, max_frames=5)
    vidcodec.decode(tmp_path / "f.gvc", tmp_path / "f.mkv")
    assert _audio_seconds(tmp_path / "f.mkv") < 0.65


def test_decoded_files_start_at_0_as_ffmpeg_outputs_do(tmp_path, tiny_model_dir):
    """An MPEG-TS source's clock starts at about 1.4 s (or at hours): the .gvc keeps it, and decoding to
    mkv/mp4 had kept it too (1.4 s of nothing before the first frame); now video and audio start
    at 0 together, as ffmpeg's outputs do."""
    ts = write_av_clip(tmp_path / "clip.ts", frames=10, options={"output_ts_offset": "3600"})  # an hour in
    with av.open(str(ts)) as c:
        assert c.streams.video[0].start_time * c.streams.video[0].time_base >= 3600
    gvc = tmp_path / "ts.gvc"
    vidcodec.encode(ts, gvc, model="vaegan-tiny", quality=2)
    for ext in ("mkv", "mp4"):
        out = tmp_path / f"o.{ext}"
        vidcodec.decode(gvc, out)
        with av.open(str(out)) as c:
            v, a = c.streams.video[0], c.streams.audio[0]
            first_video = next(f for f in c.decode(v)).time
            first_audio = float(next(p for p in c.demux(a) if p.size).pts * a.time_base)
        assert abs(first_video) < 0.1 and abs(first_audio) < 0.1, (ext, first_video, first_audio)  # (was 3600)
        # the TS's AAC comes in ADTS framing: written raw, under the track's config (Matroska's muxer had
        # built the config a second time into the track header: a file ffprobe called corrupt)
        with av.open(str(out)) as c:
            assert all(not (bytes(p)[0] == 0xFF and bytes(p)[1] & 0xF6 == 0xF0) for p in c.demux(audio=0) if p.size)
        probe = subprocess.run(["ffprobe", "-v", "error", str(out)], capture_output=True, text=True, check=False)
        assert probe.returncode == 0 and probe.stderr == "", probe.stderr


def _decoded_start_and_sound(gvc, out) -> tuple[float, float]:
    """Decode ``gvc`` to ``out``: its first picture's time and its seconds of sound (48 kHz)."""
    vidcodec.decode(gvc, out)
    with av.open(str(out)) as c:
        first_video = next(c.decode(video=0)).time
    with av.open(str(out)) as c:
        sound = sum(f.samples for f in c.decode(audio=0)) / 48000
    return first_video, sound


def _video_later(clip, dst, seconds: Fraction):
    """``clip``'s packets into ``dst`` (Matroska) with the video moved ``seconds`` later."""
    with av.open(str(clip)) as inp, av.open(str(dst), "w") as out:
        v = out.add_stream_from_template(inp.streams.video[0])
        a = out.add_stream_from_template(inp.streams.audio[0])
        for p in [p for p in inp.demux() if p.size]:
            if p.stream.type == "video":
                shift = round(seconds / p.time_base)
                p.pts, p.dts = p.pts + shift, p.dts + shift
            p.stream = v if p.stream.type == "video" else a
            out.mux(p)
    return dst


def test_audio_that_starts_before_the_first_frame_is_kept_in_mp4_and_mov(tmp_path, tiny_model_dir):
    """A capture whose sound starts half a second before its picture: MP4 and MOV had hidden that half
    second (an edit list from the first frame on); the output now starts at the audio, as ffmpeg's."""
    lead = Fraction(1, 2)
    late = _video_later(write_av_clip(tmp_path / "av.mp4", frames=20), tmp_path / "late.mkv", lead)
    src_seconds = _audio_seconds(late)
    gvc = tmp_path / "late.gvc"
    vidcodec.encode(late, gvc, model="vaegan-tiny", quality=2)
    for ext in ("mp4", "mov", "mkv"):
        first_video, sound = _decoded_start_and_sound(gvc, tmp_path / f"o.{ext}")
        assert first_video == pytest.approx(float(lead), abs=0.03), ext
        assert sound == pytest.approx(src_seconds, abs=0.05), ext  # (mp4, mov: the lead short)


def test_encode_start_0_drops_the_leading_audio_as_decode_start_0_does(tmp_path, tiny_model_dir):
    """--start counts from the first frame: 0 begins there, and the audio before it is left out; encode
    had taken 0 for no start and kept half a second of sound before the first picture."""
    late = _video_later(write_av_clip(tmp_path / "av.mp4", frames=20), tmp_path / "late.mkv", Fraction(1, 2))
    gvc = tmp_path / "s0.gvc"
    vidcodec.encode(late, gvc, model="vaegan-tiny", quality=2, start=0)
    with GvcReader(gvc) as r:  # a packet or two ahead of the first frame warm the decoder up, no more
        assert sum(p.pts < 0 for p in r if p.stream_index == AUDIO_STREAM) <= 2
    vidcodec.decode(gvc, tmp_path / "s0.mp4")
    with av.open(str(tmp_path / "s0.mp4")) as c:
        first_video = next(c.decode(video=0)).time
    with av.open(str(tmp_path / "s0.mp4")) as c:
        first_audio = next(c.decode(audio=0)).time
    assert first_video == pytest.approx(0, abs=0.01) and first_audio > -0.01, (first_video, first_audio)


def test_audio_an_edit_list_cuts_is_not_heard(tmp_path, tiny_model_dir):
    """A clip cut with `ffmpeg -ss 1.25 -c copy` keeps its audio from before the cut, flagged discard (the
    edit list's): encode had kept all of it, and decode to MP4 took it for leading sound, a second and a
    quarter of it before the first picture. Now only the two packets before the cut stay, to warm the
    decoder up, hidden as AAC's priming is; the sound is what ffmpeg decodes from the cut clip."""
    clip = write_av_clip(tmp_path / "av.mp4", frames=30)
    cut = tmp_path / "cut.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-ss", "1.25", "-i", str(clip), "-c", "copy", str(cut)], check=True)
    with av.open(str(cut)) as c:
        flagged = sum(p.is_discard for p in c.demux(audio=0) if p.size)
    assert flagged > 10  # the premise: the cut's audio is there, flagged
    with av.open(str(cut)) as c:
        heard = sum(f.samples for f in c.decode(audio=0)) / 48000  # FFmpeg's decoder skips what is flagged
    gvc = tmp_path / "cut.gvc"
    vidcodec.encode(cut, gvc, model="vaegan-tiny", quality=2)
    with GvcReader(gvc) as r:
        packets = list(r)
    assert next(p.pts for p in packets if p.stream_index == 0) == 0
    # the warm-up and the packet the cut falls in (was 60)
    assert sum(p.pts < 0 for p in packets if p.stream_index == AUDIO_STREAM) == 3
    for ext, slack in (("mp4", 0.01), ("mov", 0.01), ("mkv", 0.07)):  # (Matroska cannot hide the warm-up)
        first_video, sound = _decoded_start_and_sound(gvc, tmp_path / f"o.{ext}")
        assert first_video == pytest.approx(0, abs=slack), ext  # (was 1.25 in mp4)
        assert sound == pytest.approx(heard, abs=slack + 0.03), (ext, sound, heard)  # (was 1.25 s more)


def test_a_start_keeps_the_audio_packets_that_warm_the_decoder_up(tmp_path, tiny_model_dir):
    """--start (0 too) had dropped every audio packet before the first frame kept, AAC's priming with
    them: the first 1024 samples of the decoded sound came out wrong. The last two before it now stay,
    which an MP4's edit list hides."""
    clip = write_av_clip(tmp_path / "av.mp4", frames=30)
    with av.open(str(clip)) as c:
        reference = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    # the source's one priming packet; two of the sound before 1 s, and the one 1 s falls in
    for start, before in ((0, 1), (1, 3)):
        gvc = tmp_path / f"s{start}.gvc"
        vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, start=start)
        with GvcReader(gvc) as r:
            assert sum(p.pts < 0 for p in r if p.stream_index == AUDIO_STREAM) == before, start
        vidcodec.decode(gvc, tmp_path / f"s{start}.mp4")
        with av.open(str(tmp_path / f"s{start}.mp4")) as c:
            assert next(c.decode(video=0)).time == pytest.approx(0, abs=0.01)
        with av.open(str(tmp_path / f"s{start}.mp4")) as c:
            sound = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
        offset = start * 48000
        assert np.abs(sound[:, :2048] - reference[:, offset:offset + 2048]).max() < 1e-3, start


def test_a_matroska_decode_gives_the_same_bytes_on_every_run(clip, tmp_path, tiny_model_dir):
    gvc = tmp_path / "c.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2)
    vidcodec.decode(gvc, tmp_path / "a.mkv")
    vidcodec.decode(gvc, tmp_path / "b.mkv")
    assert (tmp_path / "a.mkv").read_bytes() == (tmp_path / "b.mkv").read_bytes()  # (a random segment UID)


def test_a_damaged_audio_packet_loses_its_sound_only(clip, tmp_path, tiny_model_dir, caplog):
    """An audio packet whose payload fails its CRC (its header intact) concealed every video frame up to
    the next keyframe, as a lost video packet must; no frame is lost with it. A damaged video delta
    still conceals its GOP's rest."""
    gvc = tmp_path / "a.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=10)
    with container.GvcReader(gvc) as r:
        packets = list(r)
    data = bytearray(gvc.read_bytes())
    audio = next(p for p in packets[3:] if p.stream_index == container.AUDIO_STREAM)
    delta = next(p for p in packets[3:] if p.stream_index == 0 and p.kind == container.PacketType.DELTA)
    for packet, lost in ((audio, False), (delta, True)):
        bad = bytearray(data)
        bad[packet.offset + packet.header_size + 1] ^= 0xFF  # inside the payload: its CRC fails, the header's not
        path = tmp_path / "bad.gvc"
        path.write_bytes(bytes(bad))
        frames = list(vidcodec.frames(path))
        assert len(frames) == 20 and any(f.concealed for f in frames) == lost
        assert "fails its CRC" in caplog.text
        caplog.clear()
        r = container.probe(path)  # info: damage either way (exit 1), the frames decode gives
        assert [d["stream"] for d in r["damaged"]] == [packet.stream_index]
        assert (r["decodable_frames"] < 20) == lost


def test_a_damaged_audio_packet_in_a_cut_stream_adds_no_frames(clip, tmp_path, tiny_model_dir):
    """A stream cut after its 12th frame (its writer killed) whose audio has one damaged packet: the
    damage started the end's fill up to the header's 20 frames (8 invented, concealed, exit 1)."""
    gvc = tmp_path / "a.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=10)
    with container.GvcReader(gvc) as r:
        packets = list(r)
    video = [p for p in packets if p.stream_index == 0]
    cut_at = video[12].offset
    audio = next(p for p in packets[3:] if p.stream_index == container.AUDIO_STREAM and p.offset < cut_at)
    data = bytearray(gvc.read_bytes()[:cut_at])
    data[audio.offset + audio.header_size + 1] ^= 0xFF
    bad = tmp_path / "cut.gvc"
    bad.write_bytes(bytes(data))
    frames = list(vidcodec.frames(bad))
    assert len(frames) == 12 and not any(f.concealed for f in frames)


def test_the_packets_kept_to_warm_a_decoder_up():
    """At most two, at most 0.15 s together, the last ones; a packet of unknown duration ends them."""
    def items(*durations):
        return [(0, media.AudioPacket(b"", i, d)) for i, d in enumerate(durations)]

    tb = Fraction(1, 48000)
    assert [ap.pts for _, ap in media._warm_up(items(1024, 1024, 1024), tb)] == [1, 2]
    assert [ap.pts for _, ap in media._warm_up(items(1024, 1024), Fraction(1, 8000))] == [1]  # 2 x 0.128 s > 0.15
    assert media._warm_up(items(1024, 0), tb) == []
    assert [ap.pts for _, ap in media._warm_up(items(0, 1024), tb)] == [1]
    assert media._warm_up(items(9600), tb) == []  # one of 0.2 s


def _joined_ts(tmp_path, *offsets: int) -> Path:
    """MPEG-TS clips (2 s, video and AAC) joined with cat: the first at 1000 s on the TS clock, the others
    at ``offsets`` s."""
    parts = []
    for i, offset in enumerate((1000, *offsets)):
        part = tmp_path / f"part{i}.ts"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=2",
                        "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-g", "25",
                        "-c:a", "aac", "-output_ts_offset", str(offset), "-f", "mpegts", str(part)], check=True)
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    return joined


@pytest.mark.parametrize("second", [10, 5000])  # back (FFmpeg's wrap correction makes it 26 h ahead); an hour on
def test_mpeg_ts_files_joined_with_cat_go_on_from_where_they_were(tmp_path, tiny_model_dir, caplog, second):
    """The second file's clock had been kept: 94455 s of stream (a still frame for a minute, then the rest,
    in y4m; a traceback in mp4), or an hour's hole. As ffmpeg does, timestamps that jump by more than
    10 s in a format that allows it (MPEG-TS, PS, FLV) go on from where they were, audio with them."""
    gvc = tmp_path / "j.gvc"
    vidcodec.encode(_joined_ts(tmp_path, second), gvc, model="vaegan-tiny", quality=2)
    assert "timestamps jump by" in caplog.text
    out = tmp_path / "j.mp4"
    assert vidcodec.decode(gvc, out).frames == 100
    with av.open(str(out)) as c:
        times = [f.time for f in c.decode(video=0)]
    steps = np.diff(times)
    assert np.delete(steps, 49) == pytest.approx(0.04, abs=1e-3)  # each part at its rate
    # the second part after everything of the first (its sound ends a little after its last picture, and
    # the second's starts a little before its first): a tenth of a second held, no hour
    assert 0.04 <= steps[49] < 0.15
    assert _audio_seconds(out) == pytest.approx(4.1, abs=0.1)


def test_a_jump_of_hours_that_mp4_cannot_hold_is_an_error_not_a_traceback(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(media, "JUMP_S", 10**9)  # the jump kept, as a stream made before the mending has it
    gvc = tmp_path / "j.gvc"
    vidcodec.encode(_joined_ts(tmp_path, 60000), gvc, model="vaegan-tiny", quality=2, audio=False)
    with pytest.raises(vidcodec.errors.VidcodecError, match=r"decoded to \.mkv or \.y4m"):
        vidcodec.decode(gvc, tmp_path / "j.mp4")
    assert vidcodec.decode(gvc, tmp_path / "j.mkv").frames == 100


def test_a_gap_in_one_stream_of_a_ts_is_not_taken_for_a_jump_of_its_clock(tmp_path, tiny_model_dir):
    """A video that pauses for 15 s while its sound goes on (or an audio dropout) is not a discontinuity:
    a first version of the mending moved every stream by the gap, and the rest of the picture came 15 s
    early against its sound."""
    ts = tmp_path / "pause.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=3",
                    "-f", "lavfi", "-i", "sine=duration=18:sample_rate=44100",
                    "-vf", "setpts=PTS+if(gte(N\\,25)\\,15/TB\\,0)", "-fps_mode", "passthrough", "-c:v", "libx264",
                    "-bf", "0", "-g", "25", "-c:a", "aac", "-f", "mpegts", str(ts)], check=True)
    gvc = tmp_path / "p.gvc"
    vidcodec.encode(ts, gvc, model="vaegan-tiny", quality=2)
    out = tmp_path / "p.mkv"
    vidcodec.decode(gvc, out)
    with av.open(str(out)) as c:
        times = [f.time for f in c.decode(video=0)]
    assert times[25] - times[24] == pytest.approx(15.04, abs=0.01)  # the pause kept
    assert _audio_seconds(out) == pytest.approx(18, abs=0.1)


def test_a_start_in_ts_files_joined_with_cat(tmp_path, tiny_model_dir):
    """The seek lands on the clock of the part it finds (a part's own), the start is on the mended one:
    with three parts, no frame was found at or after it ('the video is shorter')."""
    joined = _joined_ts(tmp_path, 990, 1010)  # back 12 s, then on 18 s
    vidcodec.encode(joined, tmp_path / "all.gvc", model="vaegan-tiny", quality=2)
    vidcodec.decode(tmp_path / "all.gvc", tmp_path / "all.mkv")
    with av.open(str(tmp_path / "all.mkv")) as c:
        times = [f.time for f in c.decode(video=0)]
    assert len(times) == 150
    for start in (3, 5):
        s = vidcodec.encode(joined, tmp_path / "s.gvc", model="vaegan-tiny", quality=2, start=start, overwrite=True)
        assert s.frames == sum(t - times[0] >= start - 1e-6 for t in times) > 20, start


def test_a_joined_part_whose_sound_starts_before_its_picture_keeps_its_sync(tmp_path, tiny_model_dir):
    """The demuxer hands a stream's last packets of one part over after the next part's first packets of
    another stream: taken for the new part's, they pushed the first part's last pictures 4 s on, and the
    second part's picture came after them, its sound 3.45 s early."""
    (tmp_path / "a").mkdir()
    first = _joined_ts(tmp_path / "a")  # one part: 2 s at 1000 s
    late = tmp_path / "late.ts"  # its picture half a second after its sound, its clock back at 1.4 s
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2.5",
                    "-itsoffset", "0.5", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=2",
                    "-map", "1:v", "-map", "0:a", "-c:v", "libx264", "-bf", "0", "-g", "25", "-c:a", "aac",
                    "-f", "mpegts", str(late)], check=True)
    joined = tmp_path / "j.ts"
    joined.write_bytes(first.read_bytes() + late.read_bytes())
    gvc = tmp_path / "j.gvc"
    vidcodec.encode(joined, gvc, model="vaegan-tiny", quality=2)
    with GvcReader(gvc) as r:
        packets = list(r)
    video = [p.pts for p in packets if p.stream_index == 0]
    audio = [p.pts for p in packets if p.stream_index == AUDIO_STREAM]
    tb = Fraction(1, 90000)  # (both, from the TS)
    assert len(video) == 100 and (np.diff(video) > 0).all()
    # the second part's first picture half a second after its first sound, as in its file
    with av.open(str(late)) as c:
        n = sum(1 for p in c.demux(audio=0) if p.size)
    second_sound = audio[-n]  # (its file's audio, all of it kept)
    assert (video[50] - second_sound) * tb == pytest.approx(0.5, abs=0.05)
    assert (video[50] - video[49]) * tb == pytest.approx(0.54, abs=0.08)  # (was 4 s)
