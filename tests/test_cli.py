"""The command line and the public API's user-facing behaviour: exit codes, error messages, pipes.

Most tests call :func:`vidcodec.cli.main` in-process; a few run ``python -m vidcodec`` in a real
process where the process boundary matters (pipes, ``--version``, the exit status, no traceback).
Everything uses the tiny model and clips of at most 12 frames of 64x48 (63x47 for odd sizes).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import re
import shlex
import signal
import struct
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import reaped, write_testsrc

import vidcodec
from vidcodec import api, container
from vidcodec.cli import main
from vidcodec.codec.vaegan import FrameEncoder
from vidcodec.errors import InputError, TruncatedStreamError, UsageError

TINY = ["--model", "vaegan-tiny", "--quality", "2"]
FRAMES = 12  # frames of the clips below
VERBS = ["encode", "decode", "info"]


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def env(tiny_model_dir) -> dict[str, str]:
    """Environment for ``python -m vidcodec`` subprocesses: the tiny model on the search path, 1 thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONUNBUFFERED", None)  # stdout block-buffered, as for most users
    return env


def _y4m(frames: list[np.ndarray], width: int, height: int, rate: int = 10) -> bytes:
    """A 4:2:0 YUV4MPEG2 stream of (h*3/2, w) uint8 I420 frames."""
    head = f"YUV4MPEG2 W{width} H{height} F{rate}:1 Ip A1:1 C420jpeg\n".encode()
    return head + b"".join(b"FRAME\n" + f.tobytes() for f in frames)


@pytest.fixture(scope="module")
def media(tmp_path_factory, tiny_model_dir) -> dict[str, Path]:
    """Read-only inputs shared by the module: clips, an audio-only file, and an encoded .gvc."""
    d = tmp_path_factory.mktemp("cli-media")
    clip = write_testsrc(d / "clip.mp4", frames=FRAMES)
    odd = write_testsrc(d / "odd.mp4", frames=FRAMES, size=(63, 47))
    with av.open(str(clip)) as c:
        i420 = [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]
    (d / "clip.y4m").write_bytes(_y4m(i420, 64, 48))
    with av.open(str(d / "audio.wav"), "w") as out:
        s = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        out.mux(s.encode(frame))
        out.mux(s.encode(None))
    api.encode(clip, d / "clip.gvc", model="vaegan-tiny", quality=2)
    return {"clip": clip, "odd": odd, "y4m": d / "clip.y4m", "audio": d / "audio.wav", "gvc": d / "clip.gvc",
            "dir": d}


def cli(capsys, *args: object) -> tuple[int, str, str]:
    """Run ``vidcodec ARGS`` in-process; return (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def vidcodec_proc(env: dict[str, str], *args: object, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m vidcodec ARGS`` in a real process."""
    return subprocess.run([sys.executable, "-m", "vidcodec", *map(str, args)], check=False, env=env, timeout=120, **kw)


def assert_one_line_error(code: int, err: str, verb: str, *needles: str, exit_code: int = 2) -> None:
    """Exit code 2 (by default) and exactly one line ``vidcodec VERB: error: ...`` naming the problem."""
    assert code == exit_code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"vidcodec {verb}: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)


def read_video(path: Path | bytes) -> tuple[int, int, int, list[Fraction]]:
    """(frame count, width, height, presentation times in seconds) of a video file or y4m bytes."""
    src = io.BytesIO(path) if isinstance(path, bytes) else str(path)
    with av.open(src, format="yuv4mpegpipe" if isinstance(path, bytes) else None) as c:
        s = c.streams.video[0]
        frames, time_base = list(c.decode(s)), s.time_base  # (PyAV 18.1.1: a closed container's streams raise)
    return len(frames), frames[0].width, frames[0].height, [f.pts * time_base for f in frames]


def packets(path: Path) -> list[container.Packet]:
    with container.GvcReader(path) as r:
        return list(r)


# --------------------------------------------------------------------------------------- version, help


def test_vidcodec_command_prints_version(env):
    exe = Path(sys.executable).with_name("vidcodec")
    if not exe.exists():
        pytest.skip("no vidcodec console script next to this interpreter")
    r = subprocess.run([str(exe), "--version"], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"vidcodec {vidcodec.__version__}"


def test_python_m_vidcodec_prints_version(env):
    r = vidcodec_proc(env, "--version", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"vidcodec {vidcodec.__version__}"
    assert vidcodec.__version__ != "0.0.0+source"  # installed: the version comes from the metadata


def test_top_level_help_exits_0_and_shows_verbs_and_examples(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    for verb in VERBS:
        assert verb in out
        assert f"vidcodec {verb} " in out  # each verb has an example line


@pytest.mark.parametrize("verb, options", [
    ("encode", ["--quality", "--gop", "--coder", "--model", "--frames", "--overwrite", "--quiet", "stdin"]),
    ("decode", ["--overwrite", "--quiet", ".y4m", ".mp4", "stdout"]),
    ("info", ["--json", "input"]),
])
def test_verb_help_exits_0_and_lists_its_options(capsys, verb, options):
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: vidcodec {verb}")
    for option in options:
        assert option in out


def test_no_verb_is_a_usage_error_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("size", ["even", "odd"])
@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".y4m"])
def test_encode_decode_round_trip_keeps_frame_count_size_and_timestamps(capsys, media, tmp_path, ext, size):
    src = media["clip" if size == "even" else "odd"]
    gvc, out = tmp_path / "a.gvc", tmp_path / f"a{ext}"
    assert cli(capsys, "encode", src, gvc, *TINY, "-q")[0] == 0
    assert cli(capsys, "decode", gvc, out, "-q")[0] == 0
    n, w, h, times = read_video(out)
    n0, w0, h0, times0 = read_video(src)
    assert (n, w, h) == (n0, w0, h0) == (FRAMES, *((64, 48) if size == "even" else (63, 47)))
    assert times == times0


def test_info_text_reports_frames_size_and_model(capsys, media):
    code, out, err = cli(capsys, "info", media["gvc"])
    assert code == 0 and err == ""
    assert "width          64" in out and "height         48" in out
    assert "model_name     vaegan-tiny" in out
    assert f"frames: {FRAMES}," in out
    assert "index: present" in out
    assert "truncated" not in out


def test_info_packets_lists_every_packet_as_the_reader_reads_it(capsys, media):
    with container.GvcReader(media["gvc"]) as r:
        packets, tb = list(r), Fraction(*r.header.time_base)
    code, out, _ = cli(capsys, "info", media["gvc"], "--json", "--packets")
    rows = json.loads(out)["packet_list"]
    assert code == 0 and len(rows) == len(packets) == FRAMES
    for row, p in zip(rows, packets, strict=True):
        assert (row["stream"], row["type"], row["pts"], row["size"], row["offset"], row["flags"]) == \
            (p.stream_index, p.kind.name.lower(), p.pts, len(p.payload), p.offset, p.flags)
        assert row["bytes"] == p.header_size + len(p.payload)
        assert row["time"] == pytest.approx(float((p.pts - packets[0].pts) * tb))
    assert sum(row["bytes"] for row in rows) == json.loads(out)["packet_bytes"]
    code, text, _ = cli(capsys, "info", media["gvc"], "--packets")
    table = text.splitlines()[-FRAMES:]
    assert text.splitlines()[-FRAMES - 1].split() == ["stream", "type", "pts", "time", "size", "bytes", "offset",
                                                      "flags"]
    assert [line.split()[:3] for line in table] == [["0", p.kind.name.lower(), str(p.pts)] for p in packets]
    assert "packet_list" not in json.loads(cli(capsys, "info", media["gvc"], "--json")[1])


def test_info_text_says_unknown_values_as_ffprobe_does(capsys, media, tmp_path):
    header_only = tmp_path / "h.gvc"  # no packets: no duration nor bit rate
    header_only.write_bytes(media["gvc"].read_bytes()[:packets(media["gvc"])[0].offset])
    _, out, _ = cli(capsys, "info", header_only)
    size = header_only.stat().st_size
    assert f"duration: N/A s, size: {size} bytes, bit rate: N/A bit/s" in out and "None" not in out
    elias = tmp_path / "e.gvc"  # --coder elias: no sub-pixel table named
    assert cli(capsys, "encode", media["clip"], elias, *TINY, "--coder", "elias", "--frames", "2", "-q")[0] == 0
    _, out, _ = cli(capsys, "info", elias)
    assert re.search(r"subpel_table +none", out) and "None" not in out
    report = container.probe(elias)
    report["header"]["frame_count"] = 0
    assert "frame_count    0 (not recorded" in __import__("vidcodec.cli").cli.format_probe(report)


def test_info_on_a_damaged_stream_counts_the_frames_decode_will_write(capsys, media, tmp_path):
    data = bytearray(media["gvc"].read_bytes())
    third = packets(media["gvc"])[2]
    data[third.offset + 8: third.offset + 12] = b"\xff" * 4  # frames lost to damage
    bad = tmp_path / "bad.gvc"
    bad.write_bytes(bytes(data))
    code, out, _ = cli(capsys, "info", bad)
    found = re.search(rf"frames: (\d+) decodable of {FRAMES} \(decode conceals the rest\)", out)
    assert code != 0 and found and int(found[1]) < FRAMES
    frames = list(vidcodec.frames(bad))
    assert len(frames) == FRAMES and sum(not f.concealed for f in frames) == int(found[1])  # decode's own count


def bytes_path(data: bytes, path: Path) -> Path:
    path.write_bytes(bytes(data))
    return path


def test_info_frames_and_duration_report_what_they_read_of_a_stream_that_goes_on(capsys, media, tmp_path):
    """--frames N / -t TIME: a live stream's report without waiting for its end. The writer below sends
    four frames and keeps its end open: info of three returns (it once waited for the end), with the
    bytes and bit rate of what it read, and says that it stopped (no "writer did not close" claim)."""
    data = media["gvc"].read_bytes()
    ps = packets(media["gvc"])
    read, write = os.pipe()
    os.write(write, data[:ps[4].offset])  # the header and four whole frames
    try:
        with os.fdopen(read, "rb", buffering=0) as src:
            r = container.probe(src, max_frames=3)
    finally:
        os.close(write)
    assert (r["frames"], r["stopped"], r["index_present"]) == (3, True, False)
    assert r["bytes"] == ps[3].offset  # the header and the three packets
    assert r["bit_rate"] == pytest.approx(8 * r["bytes"] / r["duration_seconds"])
    code, out, err = cli(capsys, "info", media["gvc"], "-t", "0.25")
    with container.GvcReader(media["gvc"]) as reader:
        rate = Fraction(*reader.header.frame_rate)
    want = -(-Fraction(1, 4) * rate // 1)  # the frames that begin less than 0.25 s after the first
    assert code == 0 and err == "" and f"frames: {want}," in out
    assert "read: stopped there, as asked" in out and "did not close" not in out
    bad = bytearray(media["gvc"].read_bytes())  # damage in the stretch read: "of" the frames found there
    bad[ps[2].offset + ps[2].header_size] ^= 0xFF  # a payload: its CRC fails, the packets after it read
    code, out, _ = cli(capsys, "info", bytes_path(bad, tmp_path / "bad.gvc"),
                       "--frames", "4")
    assert "frames: 2 decodable of 4 (decode conceals the rest)" in out and "read: stopped there" in out, out
    code, out, _ = cli(capsys, "info", media["gvc"], "--frames", FRAMES + 5)  # more than it has: all of it
    assert code == 0 and f"frames: {FRAMES}," in out and "index: present" in out
    assert cli(capsys, "info", media["gvc"], "--frames", "0")[0] == 2


def test_info_of_a_stream_cut_at_a_packets_end_says_how_many_frames_its_header_announced(capsys, media, tmp_path):
    """An encoder killed between two packets leaves whole packets and no index: info once said only "index:
    absent" and nothing on stderr; now the frames line and a warning give the header's count (exit 0, as
    decode's: a stream still being written looks the same)."""
    ps = packets(media["gvc"])
    cut = tmp_path / "killed.gvc"
    cut.write_bytes(media["gvc"].read_bytes()[:ps[5].offset])
    code, out, err = cli(capsys, "info", cut)
    assert code == 0 and f"frames: 5 (of the {FRAMES} its header announces)" in out
    assert f"after 5 of the {FRAMES} frames its header announces" in err and "vidcodec remux" in err
    code, out, err = cli(capsys, "info", media["gvc"])
    assert "announces" not in out + err
    # a late joiner's header counts the frames before it joined: no comparison with them
    report = container.probe(cut)
    report["joined_at"] = 100
    assert "announces" not in __import__("vidcodec.cli").cli.format_probe(report)


def test_info_json_parses_and_reports_frames_size_and_model(capsys, media):
    code, out, _ = cli(capsys, "info", media["gvc"], "--json")
    assert code == 0
    r = json.loads(out)
    assert r["frames"] == r["packet_count"] == r["header"]["frame_count"] == FRAMES
    assert (r["header"]["width"], r["header"]["height"]) == (64, 48)
    assert r["header"]["model_name"] == "vaegan-tiny"
    assert r["header"]["quality"] == 2
    assert r["truncated"] is None and r["damaged"] == [] and r["index_present"]
    # the whole file over the duration, as ffprobe's format bit rate (and encode's summary) count it
    size = media["gvc"].stat().st_size
    assert r["bytes"] == size and r["bit_rate"] == pytest.approx(8 * size / r["duration_seconds"])


def test_frames_option_stops_after_n_frames_and_header_says_so(capsys, media, tmp_path):
    gvc = tmp_path / "five.gvc"
    assert cli(capsys, "encode", media["clip"], gvc, *TINY, "--frames", 5, "-q")[0] == 0
    r = container.probe(gvc)
    assert r["frames"] == r["header"]["frame_count"] == 5


def test_encode_reads_an_image_sequence_as_ffmpeg_does_at_the_fps_given(capsys, media, tmp_path):
    with av.open(str(media["clip"])) as c:
        for i, f in enumerate(c.decode(video=0)):
            f.to_image().save(tmp_path / f"img{i + 1:03d}.png")  # starts at 1, as cameras and ffmpeg -i x.mp4 %03d.png do
    assert cli(capsys, "encode", tmp_path / "img%03d.png", tmp_path / "s.gvc", *TINY, "--fps", "30000/1001", "-q")[0] == 0
    r = container.probe(tmp_path / "s.gvc")
    assert r["frames"] == FRAMES and r["header"]["frame_rate"] in ("30000/1001", [30000, 1001], (30000, 1001))
    code, _, err = cli(capsys, "encode", media["clip"], tmp_path / "x.gvc", *TINY, "--fps", "30")
    assert_one_line_error(code, err, "encode", "--fps", "image sequence")
    code, _, err = cli(capsys, "encode", tmp_path / "img%04d.png", tmp_path / "x.gvc", *TINY)
    assert_one_line_error(code, err, "encode", "no such file", "image sequence")
    code, _, err = cli(capsys, "encode", tmp_path / "img%04d.png", tmp_path / "x.gvc", *TINY, "--fps", "30")
    assert_one_line_error(code, err, "encode", "no such file", "image sequence")
    code, _, err = cli(capsys, "encode", tmp_path / "img%03d.png", tmp_path / "x.gvc", *TINY, "--pix-fmt", "rgb24")
    assert_one_line_error(code, err, "encode", "--pix-fmt describes raw input; an image sequence's files")
    assert not (tmp_path / "x.gvc").exists()


def test_decode_writes_jpeg_and_webp_thumbnails_and_sequences(capsys, media, tmp_path):
    """ffmpeg's habit `ffmpeg -ss 5 -i in -frames:v 1 thumb.jpg`: once "cannot write '.jpg' files". Lossy at
    quality 95: close to the decoded frame, not equal to it."""
    import cv2

    frames = [f.rgb for f in vidcodec.frames(media["gvc"])]
    assert cli(capsys, "decode", media["gvc"], tmp_path / "thumb.jpg", "--frames", "1", "-q")[0] == 0
    assert cli(capsys, "decode", media["gvc"], tmp_path / "t%02d.webp", "--frames", "3", "-q")[0] == 0
    thumb = cv2.imread(str(tmp_path / "thumb.jpg"))[..., ::-1]
    assert (tmp_path / "thumb.jpg").read_bytes()[:2] == b"\xff\xd8" and thumb.shape == frames[0].shape
    assert 30 < 10 * np.log10(255**2 / np.mean((thumb.astype(float) - frames[0]) ** 2))
    assert sorted(p.name for p in tmp_path.glob("t*.webp")) == ["t01.webp", "t02.webp", "t03.webp"]
    assert (tmp_path / "t01.webp").read_bytes()[8:12] == b"WEBP"


def test_decode_to_an_image_sequence_writes_the_decoded_rgb_exactly_from_1(capsys, caplog, media, tmp_path):
    import cv2

    out = tmp_path / "f"
    out.mkdir()
    assert cli(capsys, "decode", media["gvc"], out / "%03d.png", "-q")[0] == 0
    frames = [f.rgb for f in vidcodec.frames(media["gvc"])]
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"{i:03d}.png" for i in range(1, len(frames) + 1)]
    assert all(np.array_equal(cv2.imread(str(f))[..., ::-1], rgb) for f, rgb in zip(files, frames, strict=True))
    code, _, err = cli(capsys, "decode", media["gvc"], out / "%03d.png")  # exists: -y, as for any output
    assert_one_line_error(code, err, "decode", "files of this sequence exist", "001.png", "-y")
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        assert cli(capsys, "decode", media["gvc"], out / "%03d.png", "-y", "--frames", "2", "-q")[0] == 0
    assert "003.png and the files after it are from an earlier output: 2 frames were written" in caplog.text
    code, _, err = cli(capsys, "decode", media["gvc"], out / "%03d.png", "-y", "--pix-fmt", "yuv420p")
    assert_one_line_error(code, err, "decode", "--pix-fmt is for video outputs")
    code, _, err = cli(capsys, "decode", media["gvc"], out / "one.png", "-y")
    assert_one_line_error(code, err, "decode", "name an image sequence with one frame number", "one%04d.png")
    assert not (out / "one.png").exists()
    # `vidcodec decode out.gvc frames/%04d.png` in a fresh folder (--help's example): frames/ is made;
    # a deeper missing path is more likely a typo
    assert cli(capsys, "decode", media["gvc"], out / "made" / "%04d.png", "-q")[0] == 0
    assert len(list((out / "made").glob("*.png"))) == FRAMES
    code, _, err = cli(capsys, "decode", media["gvc"], out / "none" / "%04d.png", "--start", "100")
    assert code == 2 and not (out / "none").exists()  # no frame written: the folder made for them goes again
    code, _, err = cli(capsys, "decode", media["gvc"], out / "no" / "such" / "%04d.png")
    assert_one_line_error(code, err, "decode", "such does not exist")
    assert cli(capsys, "decode", media["gvc"], out / "%4d.bmp", "-q", "--frames", "1")[0] == 0
    assert (out / "0001.bmp").exists()  # zero-padded, as FFmpeg writes %4d (and reads it back)
    # one picture, as `ffmpeg -ss T -i IN -frames:v 1 thumb.png`: --frames 1 (and --start to choose it)
    code, _, err = cli(capsys, "decode", media["gvc"], out / "thumb.png", "--frames", "1", "--start", "0.1")
    assert code == 0 and "decoded 1 frame -> " in err
    (third,) = [f.rgb for f, _ in zip(vidcodec.frames(media["gvc"], start=0.1), range(1))]
    assert np.array_equal(cv2.imread(str(out / "thumb.png"))[..., ::-1], third)
    assert not any(p.name.startswith("thumb") and p.name != "thumb.png" for p in out.iterdir())
    # a stream of one frame (an encoded picture) goes to one picture without --frames 1, as with ffmpeg
    assert cli(capsys, "encode", media["clip"], out / "one.gvc", "--frames", "1", *TINY)[0] == 0
    code, _, err = cli(capsys, "decode", out / "one.gvc", out / "single.png")
    assert code == 0 and "decoded 1 frame -> " in err
    assert np.array_equal(cv2.imread(str(out / "single.png"))[..., ::-1], next(iter(vidcodec.frames(out / "one.gvc"))).rgb)
    code, _, err = cli(capsys, "decode", media["gvc"], out / "%04d_%d.png", "-y")
    assert_one_line_error(code, err, "decode", "an image sequence's name takes one frame number")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a device that is always full)")
def test_a_full_disk_is_one_line_naming_the_output(capsys, media, tmp_path):
    code, _, err = cli(capsys, "encode", media["clip"], "/dev/full", "-y", *TINY)
    assert_one_line_error(code, err, "encode", "cannot write /dev/full: No space left on device", exit_code=1)
    code, _, err = cli(capsys, "decode", media["gvc"], tmp_path / "missing" / "x.y4m")
    assert_one_line_error(code, err, "decode", "does not exist")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a device that is always full)")
def test_a_report_to_a_full_disk_says_where_it_went(env, media):
    # `vidcodec info x.gvc --packets > report.txt` on a full disk had said only "No space left on device"
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "vidcodec", "info", str(media["gvc"]), "--packets"], env=env,
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert r.returncode == 1
    assert r.stderr == "vidcodec info: error: cannot write the report to stdout: No space left on device\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a device that is always full)")
@pytest.mark.parametrize("unbuffered", [False, True])
def test_a_stream_to_a_full_stdout_names_stdout(env, media, tmp_path, unbuffered):
    # (> /dev/full): NUT said a bare "No space left on device" where a frame reached stdout before the
    # trailer (PYTHONUNBUFFERED=1, or frames larger than the buffer); it named stdout at the trailer
    big = tmp_path / "big.gvc"
    vidcodec.encode(write_testsrc(tmp_path / "big.mp4", frames=3, size=(160, 120)), big, model="vaegan-tiny")
    env = {**env, "PYTHONUNBUFFERED": "1"} if unbuffered else env
    for argv in (["decode", big, "-f", "nut", "-"], ["decode", media["gvc"], "-f", "nut", "-"],
                 ["decode", media["gvc"], "-f", "y4m", "-"],
                 ["remux", media["gvc"], "-"], ["encode", media["clip"], "-", *TINY]):
        with open("/dev/full", "w") as full:
            r = subprocess.run([sys.executable, "-m", "vidcodec", *map(str, argv), "-q"], env=env, stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=120, check=False)
        assert r.returncode == 1 and r.stderr == f"vidcodec {argv[0]}: error: stdout: No space left on device\n", (
            argv, r.stderr)


def test_encode_reads_a_url_as_ffmpeg_does_and_says_what_went_wrong(capsys, media, tmp_path):
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # not on the test's stderr
            pass

    handler = functools.partial(Quiet, directory=str(media["dir"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert cli(capsys, "encode", f"{base}/clip.y4m", tmp_path / "u.gvc", *TINY, "-q")[0] == 0
        assert container.probe(tmp_path / "u.gvc")["frames"] == FRAMES
        code, _, err = cli(capsys, "encode", f"{base}/none.y4m", tmp_path / "x.gvc", *TINY)
        assert_one_line_error(code, err, "encode", f"cannot open {base}/none.y4m", "404", "check the address")
    finally:
        server.shutdown()
        server.server_close()
    code, _, err = cli(capsys, "encode", f"{base}/clip.y4m", tmp_path / "x.gvc", *TINY)  # nothing listens now
    assert_one_line_error(code, err, "encode", f"cannot open {base}/clip.y4m", "check the address")
    assert not (tmp_path / "x.gvc").exists()


@pytest.mark.parametrize(("verb", "args", "says"), [
    ("decode", ["http://cdn/x.gvc", "o.mp4"], "curl -s http://cdn/x.gvc | vidcodec decode -"),
    ("info", ["rtmp://h/live"], "nc or socat"),
    ("eval", ["rtsp://cam/1"], "measures video files, not URLs; download rtsp://cam/1 first"),
    ("bench", ["http://h/c.mkv"], "measures video files, not URLs"),
])
def test_verbs_that_read_files_say_what_to_do_with_a_url(capsys, verb, args, says):
    code, _, err = cli(capsys, verb, *args)
    assert_one_line_error(code, err, verb, says)


def test_os_errors_read_as_ffmpeg_writes_them():
    import argparse

    from vidcodec.cli import _os_error_text

    a = argparse.Namespace(output="out.gvc")
    assert _os_error_text(PermissionError(13, "Permission denied", "in.mp4"), a) == "in.mp4: Permission denied"
    assert _os_error_text(OSError(18, "Invalid cross-device link", "a", None, "b"), a) == \
        "a -> b: Invalid cross-device link"
    assert _os_error_text(OSError(28, "No space left on device"), a) == "cannot write out.gvc: No space left on device"
    assert _os_error_text(OSError(5, "Input/output error"), a) == "Input/output error"  # not blamed on the output
    err = av.InvalidDataError(1094995529, "Invalid data found when processing input", "avcodec_send_packet()")
    assert _os_error_text(err, a) == "Invalid data found when processing input (avcodec_send_packet())"


def test_duration_codes_and_writes_that_long_as_ffmpeg_t(capsys, media, tmp_path):
    # the clips run at 10 fps: 0.5 s are the frames at 0.0 ... 0.4 s
    assert cli(capsys, "encode", media["clip"], tmp_path / "d.gvc", *TINY, "-t", "0.5", "-q")[0] == 0
    r = container.probe(tmp_path / "d.gvc")
    # the header says "unknown" rather than the container's 12 (a pipe's header is never rewritten;
    # a decode of a damaged stream conceals up to the count it announces)
    assert r["frames"] == 5 and r["header"]["frame_count"] == 0
    assert cli(capsys, "encode", media["clip"], tmp_path / "s.gvc", *TINY, "--start", "0.3", "--duration",
               "0:00.4", "-q")[0] == 0
    assert container.probe(tmp_path / "s.gvc")["frames"] == 4  # 0.3 ... 0.6 s
    assert cli(capsys, "decode", media["gvc"], tmp_path / "d.y4m", "-t", "0.35", "-q")[0] == 0
    assert read_video(tmp_path / "d.y4m")[0] == 4
    assert cli(capsys, "decode", media["gvc"], tmp_path / "e.y4m", "--start", "0.5", "-t", "100", "-q")[0] == 0
    assert read_video(tmp_path / "e.y4m")[0] == FRAMES - 5
    for verb, out in (("encode", "x.gvc"), ("decode", "x.y4m")):
        src = media["clip"] if verb == "encode" else media["gvc"]
        code, _, err = cli(capsys, verb, src, tmp_path / out, *(TINY if verb == "encode" else ()), "-t", "0")
        assert_one_line_error(code, err, verb, "must be a time above 0")
        assert not (tmp_path / out).exists()


def test_frames_option_below_1_is_refused(capsys, media, tmp_path):
    code, _, err = cli(capsys, "encode", media["clip"], tmp_path / "x.gvc", *TINY, "--frames", 0)
    assert_one_line_error(code, err, "encode", "--frames")
    assert not (tmp_path / "x.gvc").exists()


def test_same_input_and_model_give_byte_identical_streams(capsys, media, tmp_path):
    a, b = tmp_path / "a.gvc", tmp_path / "b.gvc"
    assert cli(capsys, "encode", media["clip"], a, *TINY, "-q")[0] == 0
    assert cli(capsys, "encode", media["clip"], b, *TINY, "-q")[0] == 0
    assert a.read_bytes() == b.read_bytes() == media["gvc"].read_bytes()


def test_elias_coder_round_trips_and_differs_from_ans(capsys, media, tmp_path):
    elias, y4m = tmp_path / "elias.gvc", tmp_path / "elias.y4m"
    assert cli(capsys, "encode", media["clip"], elias, *TINY, "--coder", "elias", "-q")[0] == 0
    assert container.probe(elias)["header"]["coder"] == "elias"
    assert elias.read_bytes() != media["gvc"].read_bytes()
    assert cli(capsys, "decode", elias, y4m, "-q")[0] == 0
    assert read_video(y4m)[:3] == (FRAMES, 64, 48)


def test_elias_keyframes_are_larger_than_ans(capsys, media, tmp_path):
    # Intra only: on 64x48 delta packets of ~10 bytes ANS's fixed flush cost can outweigh its gain.
    sizes = {}
    for coder in ("ans", "elias"):
        out = tmp_path / f"{coder}.gvc"
        assert cli(capsys, "encode", media["clip"], out, *TINY, "--gop", 1, "--coder", coder, "-q")[0] == 0
        sizes[coder] = out.stat().st_size
    assert sizes["elias"] > sizes["ans"]


def test_quiet_encode_and_decode_print_nothing(capsys, media, tmp_path):
    assert cli(capsys, "encode", media["clip"], tmp_path / "a.gvc", *TINY, "-q") == (0, "", "")
    assert cli(capsys, "decode", tmp_path / "a.gvc", tmp_path / "a.y4m", "-q") == (0, "", "")


def test_encode_without_quiet_prints_a_summary_with_bpp(capsys, media, tmp_path):
    code, out, err = cli(capsys, "encode", media["clip"], tmp_path / "a.gvc", *TINY)
    assert code == 0 and out == ""
    summary = err.strip().splitlines()[-1]
    assert summary.startswith(f"encoded {FRAMES} frames")
    assert " bpp" in summary and "64x48" in summary
    code, _, err = cli(capsys, "decode", tmp_path / "a.gvc", tmp_path / "a.y4m")
    assert code == 0 and f"decoded {FRAMES} frames" in err


# ------------------------------------------------------------------------------------- stdin and stdout


def test_encode_reads_y4m_from_a_stdin_pipe(env, media, tmp_path):
    out = tmp_path / "stdin.gvc"
    r = vidcodec_proc(env, "encode", "-", out, *TINY, "-q", input=media["y4m"].read_bytes(),
                      capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr == b""
    assert container.probe(out)["frames"] == FRAMES
    assert len(list(api.frames(out))) == FRAMES


def test_encode_spools_mp4_from_a_stdin_pipe(env, media, tmp_path):
    out = tmp_path / "stdin.gvc"
    # --backend ort, --preset medium: on a CPU with AMX the default encodes in bfloat16, and on one without
    # with the fast preset; this process does neither (conftest)
    r = vidcodec_proc(env, "encode", "-", out, *TINY, "--backend", "ort", "--preset", "medium", "-q",
                      input=media["clip"].read_bytes(), capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    assert out.read_bytes() == media["gvc"].read_bytes()  # same stream as from the path


def test_encode_of_garbage_on_stdin_says_what_ffmpeg_found_in_plain_words(env, tmp_path):
    garbage = np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    r = vidcodec_proc(env, "encode", "-", tmp_path / "g.gvc", *TINY, "-q", input=garbage, capture_output=True)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "cannot open stdin as media: Invalid data found when processing input; pipe a video file" in err
    assert "Errno" not in err and "'" not in err  # not FFmpeg's errno nor the pipe's file name ('3')


def test_encode_writes_the_stream_to_stdout(env, media, tmp_path):
    out = tmp_path / "stdout.gvc"
    with out.open("wb") as f:
        r = vidcodec_proc(env, "encode", media["clip"], "-", *TINY, "--backend", "ort", "--preset", "medium", "-q", stdout=f,
                          stderr=subprocess.PIPE)  # ort: as the media fixture's stream in this process
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr == b""
    assert out.read_bytes() == media["gvc"].read_bytes()


def test_a_raw_h264_stream_keeps_its_rate_through_encode_and_decode(capsys, tmp_path, tiny_model_dir):
    """A raw .h264 (no timestamps) of 29.97 fps was timed at the raw demuxer's default 25 fps; the H.264
    that decode writes said its fine time base as its rate in its SPS (30000 fps once copied out raw)."""
    import av

    clip = write_testsrc(tmp_path / "c.mp4", frames=6, rate=Fraction(30000, 1001))
    raw = tmp_path / "c.h264"

    def copy_out(src: Path, dst: Path) -> None:  # ffmpeg -i src -c copy -f h264 dst
        with av.open(str(src)) as i, av.open(str(dst), "w", format="h264") as o:
            s = o.add_stream_from_template(i.streams.video[0])
            for p in i.demux(i.streams.video[0]):
                if p.size:
                    p.stream = s
                    o.mux(p)

    copy_out(clip, raw)
    assert cli(capsys, "encode", raw, tmp_path / "c.gvc", "--model", "vaegan-tiny", "-q")[0] == 0
    assert cli(capsys, "decode", tmp_path / "c.gvc", tmp_path / "d.mp4", "-q")[0] == 0
    with av.open(str(tmp_path / "d.mp4")) as c:
        v = c.streams.video[0]
        assert v.guessed_rate == Fraction(30000, 1001)
        assert [f.time for f in c.decode(v)] == pytest.approx([i * 1001 / 30000 for i in range(6)], abs=1e-4)
    copy_out(tmp_path / "d.mp4", tmp_path / "d.h264")
    with av.open(str(tmp_path / "d.h264")) as c:  # the SPS's timing: 29.97 fps
        assert c.streams.video[0].guessed_rate == Fraction(30000, 1001)


def test_decode_writes_y4m_to_a_stdout_pipe(env, media):
    r = vidcodec_proc(env, "decode", media["gvc"], "-", "-q", capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.startswith(b"YUV4MPEG2 W64 H48 F10:1 ")
    assert r.stdout.count(b"FRAME\n") == FRAMES
    assert read_video(r.stdout)[:3] == (FRAMES, 64, 48)


def test_decode_to_dev_null_decodes_every_frame_and_writes_nothing(capsys, media, monkeypatch, tmp_path):
    """ffmpeg's `-f null -`, the usual way to time or check a decoder: `null has no extension` before.
    No -y is needed for the null device; --format is taken; stdout gets nothing."""
    import os

    from vidcodec import media as media_mod

    written = []
    real = media_mod._Y4mSink.write

    def write(self, *a, **k):
        written.append(self)
        return real(self, *a, **k)

    monkeypatch.setattr(media_mod._Y4mSink, "write", write)
    code, out, err = cli(capsys, "decode", media["gvc"], os.devnull)
    assert code == 0 and out == "" and f"decoded {FRAMES} frames -> {os.devnull}" in err
    assert len(written) == FRAMES
    code, out, err = cli(capsys, "decode", media["gvc"], "-f", "nut", os.devnull, "-q")
    assert code == 0 and out == "" and err == ""
    code, _, err = cli(capsys, "decode", media["gvc"], "-f", "nut", tmp_path / "x.mkv")
    assert code == 2 and f"is for stdout ('-') and {os.devnull}" in err


def test_decode_takes_ffmpegs_names_for_its_stdout_formats(capsys, media, tmp_path):
    # `-f yuv4mpegpipe` (ffmpeg's name for y4m) had been "invalid choice"
    code, _, err = cli(capsys, "decode", media["gvc"], "-f", "yuv4mpegpipe", tmp_path / "x.y4m")
    assert code == 2 and f"is for stdout ('-') and {os.devnull}" in err  # taken as y4m: a file's name says it
    code, out, err = cli(capsys, "decode", media["gvc"], "-f", "YUV4MPEGPIPE", os.devnull, "-q")
    assert code == 0 and out == "" and err == ""
    with pytest.raises(SystemExit) as e:
        main(["decode", str(media["gvc"]), "-f", "mp4", "-"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "invalid choice: 'mp4'" in err, err


def test_pix_fmt_choices_are_the_sinks():
    from vidcodec import cli, media

    assert cli.PIX_FMTS == media.PIX_FMTS


def test_decode_writes_420_y4m_when_asked(env, media):
    """--pix-fmt yuv420p: a C420jpeg header, half the bytes of 4:4:4 per frame, and the same pictures
    (within chroma subsampling) as the default 4:4:4 output."""
    r = vidcodec_proc(env, "decode", media["gvc"], "-", "-q", "--pix-fmt", "yuv420p", capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    header, _, rest = r.stdout.partition(b"\n")
    assert b" C420jpeg " in header + b" "
    assert len(rest) == FRAMES * (len(b"FRAME\n") + 64 * 48 * 3 // 2)
    full = vidcodec_proc(env, "decode", media["gvc"], "-", "-q", capture_output=True).stdout
    with av.open(io.BytesIO(r.stdout), format="yuv4mpegpipe") as a, av.open(io.BytesIO(full), format="yuv4mpegpipe") as b:
        assert a.streams.video[0].format.name == "yuv420p"
        for fa, fb in zip(a.decode(video=0), b.decode(video=0), strict=True):
            ya, yb = fa.to_ndarray(format="gray"), fb.to_ndarray(format="gray")
            assert np.abs(ya.astype(int) - yb).max() <= 1  # the same luma


def _shell_pipe_status(env: dict[str, str], left: list[object], right: str) -> subprocess.CompletedProcess:
    """Run ``python -m vidcodec LEFT | RIGHT`` in bash; the result's returncode is vidcodec's status."""
    cmd = shlex.join([sys.executable, "-m", "vidcodec", *map(str, left)])
    script = f'{cmd} | {right} > /dev/null; exit "${{PIPESTATUS[0]}}"'
    return subprocess.run(["bash", "-c", script], check=False, env=env, capture_output=True, text=True, timeout=120)


def test_decode_into_a_pipe_closed_early_exits_0_quietly(env, media):
    # 12 frames of 64x48 4:4:4 y4m (110 kB) overflow the pipe buffer once head has gone.
    r = _shell_pipe_status(env, ["decode", media["gvc"], "-"], "head -c 100")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    assert "error" not in r.stderr.lower()


def test_decode_in_nut_into_a_pipe_closed_early_exits_0_quietly(env, media):
    r = _shell_pipe_status(env, ["decode", media["gvc"], "-f", "nut", "-"], "head -c 100")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    assert "error" not in r.stderr.lower() and "output pipe closed by its reader" in r.stderr


def test_encode_into_a_pipe_closed_early_exits_0_quietly(env, media):
    r = _shell_pipe_status(env, ["encode", media["clip"], "-", *TINY], "head -c 10")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    assert "error" not in r.stderr.lower()
    # the header's 10 bytes are read long before the frames are coded: said, as decode says it (once silent)
    assert "output pipe closed by its reader" in r.stderr


def test_info_into_a_pipe_closed_early_exits_0_quietly(env, media):
    r = _shell_pipe_status(env, ["info", media["gvc"], "--json"], "true")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    assert r.stderr == ""  # `| head` asked for no more: nothing to say, as ffprobe (it said the pipe closed)


def test_a_file_name_starting_with_a_dash_is_named_with_how_to_give_it(tmp_path, monkeypatch, capsys):
    # `encode -x.mp4 o.gvc` had said "the following arguments are required: output", and `decode x.gvc
    # -y.mkv` "argument -y/--overwrite: ignored explicit argument '.mkv'", neither naming the file
    monkeypatch.chdir(tmp_path)
    Path("-x.mp4").write_bytes(b"")
    for args, name in ((["encode", "-x.mp4", "o.gvc"], "-x.mp4"), (["decode", "x.gvc", "-y.mkv"], "-y.mkv")):
        with pytest.raises(SystemExit) as e:
            main(args)
        err = capsys.readouterr().err
        assert e.value.code == 2 and f"{name} is a file name read as options: give it as ./{name}" in err, err
    with pytest.raises(SystemExit):
        main(["encode", "in.mp4", "o.gvc", "-vframes", "5"])  # an option, not a file: no such hint
    assert "file name" not in capsys.readouterr().err
    with pytest.raises(SystemExit):  # after --, a name is a name (the error is another's)
        main(["encode", "--bogus", "--", "-x.mp4", "o.gvc"])
    assert "file name" not in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["encode", "-x.mp4", "-y.gvc"])
    assert "-x.mp4, -y.gvc are file names read as options: give them as ./-x.mp4, ./-y.gvc" in capsys.readouterr().err


def test_ffmpeg_habits_get_vidcodecs_own_option_named(capsys):
    """-i, -vframes (argparse once read it as -v with an argument), -b:v and -g: the error names what to
    type instead; a bitrate takes ffmpeg's k and M suffixes."""
    def parse_error(*args: str) -> str:
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main(list(args))
        assert e.value.code == 2
        return capsys.readouterr().err

    err = parse_error("encode", "-i", "in.mp4", "out.gvc")
    assert "-i -> give the input without -i" in err
    err = parse_error("encode", "in.mp4", "out.gvc", "-vframes", "5", "-b:v", "500k", "-g", "50")
    assert "-vframes -> --frames N" in err and "-b:v -> --bitrate" in err and "-g -> --gop N" in err
    assert err.count("\n") == 1
    err = parse_error("encode", "in.mp4", "out.gvc", "-vframes", "5")  # alone: not "-v ... ignored explicit argument"
    assert "ignored explicit argument" not in err and "unrecognized arguments: -vframes; " in err
    from vidcodec.cli import _kbits

    assert _kbits("500") == _kbits("500k") == _kbits("0.5M") == 500.0
    assert "not a number of kbit" in parse_error("encode", "in.mp4", "out.gvc", "--bitrate", "5x")


@pytest.mark.parametrize(("args", "wanted", "not_wanted"), [
    # each verb's own meaning: decode and remux have no --quality, info's input is not "IN OUT"
    (["decode", "x.gvc", "o.mp4", "-crf", "18"], "-crf -> nothing: a stream is decoded as it was coded", "-crf -> --quality"),
    (["decode", "x.gvc", "o.mp4", "-r", "30"], "-r -> nothing: the stream's timestamps are kept", "--fps"),
    (["decode", "-i", "x.gvc", "o.mp4"], "(vidcodec decode IN OUT)", "vidcodec encode IN OUT"),
    (["remux", "a.gvc", "b.gvc", "-b:v", "100k"], "-b:v -> nothing: remux copies the packets", "--bitrate"),
    (["info", "-i", "x.gvc"], "(vidcodec info IN)", "IN OUT"),
    (["info", "x.gvc", "-show_packets"], "-show_packets -> --packets", None),
    (["info", "x.gvc", "-of", "json"], "-of -> --json", None),
    # options argparse read as a short one with the rest glued on: no noise about the rest
    (["encode", "in.mp4", "o.gvc", "-threads", "2"], "unrecognized arguments: -threads; ", "'hreads'"),
    (["encode", "in.mp4", "o.gvc", "-tune", "zerolatency"], "-tune -> nothing (live streams: --gop 50)", "'une'"),
    (["encode", "in.mp4", "o.gvc", "-q:v", "3"], "-q:v -> --quality 1..8", "ignored explicit"),
    (["encode", "in.mp4", "o.gvc", "-vn"], "-vn -> nothing", "ignored explicit"),
    (["encode", "in.mp4", "o.gvc", "-v", "error"], "-v error -> -q (quiet) or -v", None),
    (["encode", "in.mp4", "o.gvc", "-preset", "fast", "-re"], "-preset -> --preset auto|medium|fast; -re -> --re", None),
    (["encode", "-framerate", "30", "f%04d.png", "o.gvc"], "-framerate -> --fps FPS", None),
    (["decode", "x.gvc", "-", "-crf", "3", "-f", "nut"], "-crf -> nothing", "-f -> "),  # decode has -f itself
    (["decode", "x.gvc", "o.y4m", "-vframes", "10"], "unrecognized arguments: -vframes; ", "'rames'"),  # -v -f 'rames'
    (["decode", "x.gvc", "o.y4m", "-vf", "scale=320:180"], "unrecognized arguments: -vf; ", "invalid choice"),
    (["decode", "x.gvc", "-", "-f", "null"], "-f null -> decode to /dev/null", None),
    (["play", "x.gvc", "-f", "null"], "-f -> nothing: play shows a window", "/dev/null"),
    (["info", "x.gvc", "-f", "json"], "machine-readable output: --json", "--format"),
    (["info", "x.gvc", "-ss", "3"], "unrecognized arguments: -ss 3 (see", "--start"),  # info has no --start
    (["encode", "-f", "rawvideo", "-i", "-", "o.gvc"], "-f -> nothing: the input's format is found", "decode's"),
    (["remux", "x.gvc", "o.gvc", "-f", "gvc"], "-f -> nothing: remux reads and writes .gvc", "raw frames"),
])
def test_ffmpeg_habits_are_named_for_the_verb_used(capsys, args, wanted, not_wanted):
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and wanted in err, err
    assert not_wanted is None or not_wanted not in err, err


def test_pipe_names_are_stdin_and_stdout(capsys, media, tmp_path, monkeypatch):
    """ffmpeg's pipe:0 / pipe:1 once made a file named pipe:1, or were not found."""
    monkeypatch.chdir(tmp_path)
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(media["gvc"].read_bytes())))
    assert main(["decode", "pipe:0", "pipe:1", "-q"]) == 0
    sys.stdout.flush()
    assert out.getvalue().startswith(b"YUV4MPEG2 ") and not list(tmp_path.iterdir())


def test_errors_in_a_real_process_exit_2_with_one_line_and_no_traceback(env, tmp_path):
    r = vidcodec_proc(env, "encode", tmp_path / "missing.mp4", tmp_path / "x.gvc", *TINY,
                      capture_output=True, text=True)
    assert_one_line_error(r.returncode, r.stderr, "encode", "missing.mp4", "no such file")
    assert r.stdout == ""


# ------------------------------------------------------------------------------------------ input errors


def test_encode_says_a_missing_input_before_an_existing_output_and_a_media_name_before_both(capsys, tmp_path,
                                                                                            tiny_model_dir):
    """As ffmpeg checks its inputs first: a missing input was once reported only after -y was added for an
    output that exists. A .mp4 output name (a .gvc would not play there) comes first of all."""
    (tmp_path / "keep.gvc").write_bytes(b"keep")
    code, _, err = cli(capsys, "encode", tmp_path / "missing.mp4", tmp_path / "keep.gvc", *TINY)
    assert_one_line_error(code, err, "encode", "missing.mp4", "no such file")
    code, _, err = cli(capsys, "encode", tmp_path / "missing.mp4", tmp_path / "out.webm", *TINY)
    assert_one_line_error(code, err, "encode", "not .webm", "vidcodec decode")
    assert (tmp_path / "keep.gvc").read_bytes() == b"keep"


@pytest.mark.parametrize("verb", VERBS)
def test_missing_input_path_is_an_input_error(capsys, tmp_path, tiny_model_dir, verb):
    missing = tmp_path / "missing.file"
    extra = {"encode": [tmp_path / "x.gvc", *TINY], "decode": [tmp_path / "x.y4m"], "info": []}[verb]
    code, out, err = cli(capsys, verb, missing, *extra)
    assert_one_line_error(code, err, verb, "missing.file")
    assert "no such file" in err.lower()
    assert out == "" and not (tmp_path / "x.gvc").exists() and not (tmp_path / "x.y4m").exists()


@pytest.mark.parametrize("verb", VERBS)
def test_directory_as_input_is_an_input_error(capsys, tmp_path, tiny_model_dir, verb):
    extra = {"encode": [tmp_path / "x.gvc", *TINY], "decode": [tmp_path / "x.y4m"], "info": []}[verb]
    code, _, err = cli(capsys, verb, tmp_path, *extra)
    assert_one_line_error(code, err, verb, str(tmp_path))
    assert "directory" in err.lower()


def test_file_without_video_stream_is_an_input_error(capsys, media, tmp_path):
    code, _, err = cli(capsys, "encode", media["audio"], tmp_path / "x.gvc", *TINY)
    assert_one_line_error(code, err, "encode", "audio.wav", "no video stream", "audio")
    assert not (tmp_path / "x.gvc").exists()


@pytest.mark.parametrize("verb", ["decode", "info"])
def test_non_gvc_input_to_decode_and_info_is_a_format_error(capsys, media, tmp_path, verb):
    extra = [tmp_path / "x.y4m"] if verb == "decode" else []
    code, out, err = cli(capsys, verb, media["clip"], *extra)
    assert_one_line_error(code, err, verb, "not a .gvc file", "MP4")
    assert out == "" and not (tmp_path / "x.y4m").exists()


@pytest.mark.parametrize("quality", [0, 99])
def test_out_of_range_quality_names_the_valid_range(capsys, media, tmp_path, quality):
    code, _, err = cli(capsys, "encode", media["clip"], tmp_path / "x.gvc", "--model", "vaegan-tiny",
                       "--quality", quality)
    assert_one_line_error(code, err, "encode", "--quality", "between 1 and 3", f"got {quality}")
    assert not (tmp_path / "x.gvc").exists()


@pytest.mark.parametrize(("args", "verb", "message"), [
    (["--quality", "high"], "encode", "argument --quality: invalid int value: 'high'"),
    (["--bogus"], "encode", "unrecognized arguments: --bogus"),  # the verb's error, not vidcodec's
    (["--backend", "tf"], "encode", "argument --backend: invalid choice: 'tf'"),
])
def test_argument_errors_are_one_line_naming_the_verb(capsys, media, tmp_path, args, verb, message):
    with pytest.raises(SystemExit) as e:
        main([verb, str(media["clip"]), str(tmp_path / "x.gvc"), *args])
    assert e.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()  # no usage block before it
    assert line.startswith(f"vidcodec {verb}: error: {message}") and line.endswith(f"(see 'vidcodec {verb} --help')")


@pytest.mark.parametrize(("args", "message"), [
    (["--fps", "30"], "not raw frames: drop --fps (it describes headerless input"),  # not "give --size" (then refused)
    (["--pix-fmt", "rgb24"], "not raw frames: drop --pix-fmt (it describes"),
    (["--fps", "30", "--pix-fmt", "rgb24"], "not raw frames: drop --fps and --pix-fmt (they describe"),
    (["--bufsize", "100"], "it needs --bitrate"),
    (["--bitrate", "100", "--quality", "3"], "not both"),
    (["--bitrate", "inf"], "--bitrate must be a positive number"),
    (["--bitrate", "100", "--bufsize", "nan"], "--bufsize must be a positive number"),
    (["--latent-bits", "6"], "--latent-bits sets the QSGD bits"),
])
def test_encode_options_that_would_do_nothing_are_usage_errors(capsys, media, tmp_path, args, message):
    code, _, err = cli(capsys, "encode", media["clip"], tmp_path / "x.gvc", "--model", "vaegan-tiny", *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.gvc").exists()


@pytest.mark.parametrize("ext", [".y4m", ".mp4"])
def test_start_past_the_end_or_not_a_number_is_a_usage_error(capsys, media, tmp_path, ext):
    out = tmp_path / f"o{ext}"
    code, _, err = cli(capsys, "decode", media["gvc"], out, "--start", "100")
    assert code == 2 and "past the end of the stream" in err and not out.exists()
    for bad in ("nan", "inf", "1:75", "1:2:3:4", "x"):
        with pytest.raises(SystemExit) as e:
            cli(capsys, "decode", media["gvc"], out, "--start", bad)
        err = capsys.readouterr().err
        assert e.value.code == 2 and f"'{bad}' is not a time: give seconds (90, 1.5) or [HH:]MM:SS[.frac]" in err
    code, _, err = cli(capsys, "decode", media["gvc"], out, "--follow", "--follow-timeout", "nan")
    assert code == 2 and "--follow-timeout must be" in err
    code, _, err = cli(capsys, "decode", media["gvc"], out, "--follow-timeout", "5")  # would do nothing
    assert_one_line_error(code, err, "decode", "--follow-timeout is for --follow")


def test_small_input_and_output_mistakes_are_named_as_they_are(capsys, media, tmp_path, monkeypatch, caplog):
    empty = tmp_path / "empty.gvc"
    empty.write_bytes(b"")
    code, _, err = cli(capsys, "decode", empty, tmp_path / "o.y4m")
    assert_one_line_error(code, err, "decode", "the stream is empty (0 bytes)")
    a_file = tmp_path / "file.gvc"
    a_file.write_bytes(b"x")
    code, _, err = cli(capsys, "encode", media["clip"], a_file / "x.gvc", *TINY)
    assert_one_line_error(code, err, "encode", f"{a_file} is not a directory")
    monkeypatch.setenv("VIDCODEC_LANES", "two")
    from vidcodec import runtime

    monkeypatch.setattr(runtime, "_warned_env", set())
    caplog.clear()
    with caplog.at_level("WARNING", logger="vidcodec"):
        assert runtime._env_lanes() is None and runtime._env_lanes() is None  # warned once
    assert [r.getMessage() for r in caplog.records] == ["VIDCODEC_LANES='two' is not a whole number above 0: ignored"]


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("1.5", Fraction(3, 2)), ("1:30", 90), ("00:01:30.5", Fraction(181, 2)), ("1:02:03", 3723),
    ("0:0.25", Fraction(1, 4)), ("-1", -1),
])
def test_start_takes_seconds_or_clock_time(text, seconds):
    from vidcodec.cli import _time

    assert _time(text) == seconds


def test_start_as_clock_time_on_each_verb(capsys, media, tmp_path):
    code, _, _ = cli(capsys, "decode", media["gvc"], tmp_path / "a.y4m", "--start", "0.5")
    assert code == 0
    code, _, _ = cli(capsys, "decode", media["gvc"], tmp_path / "b.y4m", "--start", "00:00:00.5")
    assert code == 0 and (tmp_path / "a.y4m").read_bytes() == (tmp_path / "b.y4m").read_bytes()
    code, _, _ = cli(capsys, "play", media["gvc"], "--to", tmp_path / "c.y4m", "--start", "0:00.5")
    assert code == 0 and (tmp_path / "c.y4m").read_bytes() == (tmp_path / "a.y4m").read_bytes()
    code, _, _ = cli(capsys, "encode", media["clip"], tmp_path / "d.gvc", "--model", "vaegan-tiny", "--start", "0:0.5")
    assert code == 0 and container.probe(tmp_path / "d.gvc")["frames"] == 7  # 12 frames at 10 fps, from 0.5 s


def test_anamorphic_pixels_keep_their_shape(capsys, tmp_path, tiny_model_dir):
    # a 16:9 picture stored as 64×48 with wide pixels (4:3 storage), e.g. a PAL DVD's 720×576 at 64:45
    src = tmp_path / "wide.mkv"
    with av.open(str(src), "w") as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        st.codec_context.sample_aspect_ratio = Fraction(4, 3)
        for i in range(3):
            out.mux(st.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), "rgb24")))
        out.mux(st.encode(None))
    gvc = tmp_path / "w.gvc"
    api.encode(src, gvc, model="vaegan-tiny", quality=2)
    with container.GvcReader(gvc) as r:
        assert r.header.version >= (9, 1) and container.sample_aspect(r.header) == Fraction(4, 3)
    code, out, _ = cli(capsys, "info", gvc)
    assert code == 0 and "sample_aspect_ratio 4:3" in out
    for ext in ("mp4", "mkv"):
        api.decode(gvc, tmp_path / f"o.{ext}")
        with av.open(str(tmp_path / f"o.{ext}")) as c:
            assert c.streams.video[0].display_aspect_ratio == Fraction(16, 9)
    api.decode(gvc, tmp_path / "o.y4m")
    assert b" A4:3 " in (tmp_path / "o.y4m").read_bytes()[:80]
    square = tmp_path / "s.gvc"
    api.encode(write_testsrc(tmp_path / "sq.mp4", frames=2), square, model="vaegan-tiny", quality=2)
    with container.GvcReader(square) as r:  # square pixels: no entry
        assert container.EXT_SAMPLE_ASPECT not in r.header.extensions and container.sample_aspect(r.header) is None


def test_unknown_model_name_says_how_to_install_it(capsys, media, tmp_path):
    code, _, err = cli(capsys, "encode", media["clip"], tmp_path / "x.gvc", "--model", "vaegan-nope")
    assert_one_line_error(code, err, "encode", "vaegan-nope", "not installed", "VIDCODEC_MODEL_PATH")
    assert not (tmp_path / "x.gvc").exists()


# ----------------------------------------------------------------------------------------- output errors


@pytest.mark.parametrize("verb", ["encode", "decode"])
def test_existing_output_is_refused_and_left_untouched_unless_y(capsys, media, tmp_path, verb):
    out = tmp_path / ("out.gvc" if verb == "encode" else "out.y4m")
    out.write_bytes(b"precious")
    args = [verb, media["clip"] if verb == "encode" else media["gvc"], out] + (TINY if verb == "encode" else [])
    code, _, err = cli(capsys, *args, "-q")
    assert_one_line_error(code, err, verb, str(out), "exists", "-y")
    assert out.read_bytes() == b"precious"
    assert cli(capsys, *args, "-q", "-y")[0] == 0
    assert out.read_bytes() != b"precious" and out.stat().st_size > 100


@pytest.mark.parametrize("name", ["out.avi", "out.gvc", "out"])
def test_decode_to_an_unknown_extension_lists_the_supported_ones(capsys, media, tmp_path, name):
    code, _, err = cli(capsys, "decode", media["gvc"], tmp_path / name)
    assert_one_line_error(code, err, "decode", ".mp4", ".mkv", ".y4m")
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("verb", ["encode", "decode"])
def test_output_in_a_missing_directory_is_a_usage_error(capsys, media, tmp_path, verb):
    out = tmp_path / "nodir" / ("x.gvc" if verb == "encode" else "x.y4m")
    args = [media["clip"], out, *TINY] if verb == "encode" else [media["gvc"], out]
    code, _, err = cli(capsys, verb, *args)
    assert_one_line_error(code, err, verb, "does not exist")


def test_directory_as_output_is_a_usage_error(capsys, media, tmp_path):
    code, _, err = cli(capsys, "encode", media["clip"], tmp_path, *TINY, "-y")
    assert_one_line_error(code, err, "encode", "is a directory")


def test_encode_refuses_to_overwrite_its_own_input(capsys, media, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(media["clip"].read_bytes())
    code, _, err = cli(capsys, "encode", clip, clip, *TINY, "-y")
    assert_one_line_error(code, err, "encode", "also the input")
    assert clip.read_bytes() == media["clip"].read_bytes()


@pytest.mark.parametrize("name", ["same.mp4", "same.y4m"])
def test_decode_and_play_refuse_to_overwrite_their_own_input(capsys, media, tmp_path, name):
    """A .gvc given an output's name (or an output named as the stream) was replaced by its own
    decode under -y: the stream lost, or read back while being written."""
    stream = tmp_path / name
    stream.write_bytes(media["gvc"].read_bytes())
    code, _, err = cli(capsys, "decode", stream, stream, "-y")
    assert_one_line_error(code, err, "decode", "also the input")
    if name.endswith(".y4m"):
        code, _, err = cli(capsys, "play", stream, "--to", stream, "-y")
        assert_one_line_error(code, err, "play", "also the input")
    assert stream.read_bytes() == media["gvc"].read_bytes()


def test_encode_refuses_to_write_its_stream_to_a_terminal(capsys, media, monkeypatch):
    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(Terminal()))
    code = main(["encode", str(media["clip"]), "-", *TINY])
    err = capsys.readouterr().err
    assert_one_line_error(code, err, "encode", "refusing to write a .gvc stream to a terminal")
    with pytest.raises(UsageError, match="binary mode"):  # not a TypeError at the first packet
        api.encode(media["clip"], io.StringIO(), model="vaegan-tiny")


# ----------------------------------------------------------------------------------------- stream errors


def test_stream_whose_model_hash_is_not_installed_names_the_model(capsys, media, tmp_path):
    with container.GvcReader(media["gvc"]) as r:
        header, pkts = r.header, list(r)
    other = dataclasses.replace(header, model_hash=bytes(range(32)))
    gvc = tmp_path / "other-model.gvc"
    with container.GvcWriter(gvc, other) as w:
        for p in pkts:
            w.write_packet(p.kind, p.pts, p.payload, flags=p.flags)
    code, _, err = cli(capsys, "decode", gvc, tmp_path / "x.y4m", "-q")
    assert_one_line_error(code, err, "decode", f"vaegan-tiny@{bytes(range(32)).hex()[:12]}", "not installed",
                          "VIDCODEC_MODEL_PATH")
    assert not (tmp_path / "x.y4m").exists()  # no empty output left behind
    code, out, _ = cli(capsys, "info", gvc, "--json")  # info needs no model
    assert code == 0 and json.loads(out)["header"]["model_hash"] == bytes(range(32)).hex()


@pytest.mark.parametrize("name", ["x.mp4", "x.mkv", "%04d.png", "still.png"])
def test_an_output_the_system_refuses_is_one_line_naming_the_file(capfd, media, tmp_path, name):
    """FFmpeg opens an mp4 at its first packet and OpenCV only returns False (after a warning of its
    own on stderr): the error still names the file and the system's reason, on one line."""
    folder = Path("/sys/kernel")  # exists; no one may create files in it, root included
    try:
        (folder / "vidcodec-probe").touch()
    except OSError:
        pass
    else:
        (folder / "vidcodec-probe").unlink()
        pytest.skip("no folder here that refuses new files")
    extra = ["--frames", "1"] if name == "still.png" else []
    code = main(["decode", str(media["gvc"]), str(folder / name), "-q", *extra])
    err = capfd.readouterr().err
    assert_one_line_error(code, err, "decode", str(folder / name.replace("%04d", "0001")), exit_code=1)


def test_progress_is_a_line_now_and_then_where_stderr_is_no_terminal(capsys, media, tmp_path, monkeypatch, caplog):
    """2>log, nohup, CI: no bar (tqdm would draw none, or fill the log with carriage returns) but a
    log line every LOG_EVERY_S seconds; -q: nothing."""
    import logging

    from vidcodec import progress

    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)  # a line at every frame
    with caplog.at_level(logging.INFO, logger="vidcodec"):
        assert cli(capsys, "decode", media["gvc"], tmp_path / "x.y4m")[0] == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("decode: ")]
    assert lines and lines[-1].startswith(f"decode: {FRAMES} of {FRAMES} frames (100 %), ") and "fps" in lines[-1]
    assert "\r" not in capsys.readouterr().err
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vidcodec"):
        assert cli(capsys, "encode", media["clip"], tmp_path / "x.gvc", "--frames", "3", "-q")[0] == 0
    assert not [r for r in caplog.records if r.getMessage().startswith("encode: ")]
    monkeypatch.setattr(progress, "_terminal", lambda: True)  # on a terminal: tqdm's bar
    assert isinstance(progress.bar(5, "encode", True), progress.tqdm)
    assert isinstance(progress.bar(5, "encode", True), progress.tqdm) and progress.bar(5, "x", False).disable


def test_progress_asked_for_by_a_library_call_shows_without_logging_set_up(capsys, monkeypatch):
    """vidcodec.encode(..., progress=True) in a notebook or a service (stderr no terminal, logging not
    configured): the lines go to stderr, where INFO log lines would have been dropped."""
    import logging

    from vidcodec import progress

    bare = logging.getLogger("vidcodec-test-bare")  # no handlers, none above: a fresh interpreter's
    monkeypatch.setattr(bare, "propagate", False)
    monkeypatch.setattr(bare, "handlers", [])
    monkeypatch.setattr(progress, "log", bare)
    lines = progress.LogLines(4, "encode", "frame", every=0.0)
    lines.update()
    assert capsys.readouterr().err.startswith("vidcodec: encode: 1 of 4 frames (25 %), ")
    bare.addHandler(logging.NullHandler())  # logging set up, at WARNING: still shown, on stderr
    bare.setLevel(logging.WARNING)
    lines.update()
    assert "encode: 2 of 4 frames" in capsys.readouterr().err
    bare.setLevel(logging.INFO)  # set up to show INFO: the log has it, not stderr
    lines.update()
    assert capsys.readouterr().err == ""


def test_quieted_drops_only_its_own_threads_records_and_leaves_the_level(caplog):
    """Two remuxes in two threads quieted the container's logger by setting its level: the second
    restored the first's CRITICAL, and the container's warnings were gone for good; int8's quieting of
    the root logger dropped an application's warnings from its other threads."""
    import logging
    import threading

    from vidcodec.progress import quieted

    name = "vidcodec.container"
    logger, app = logging.getLogger(name), logging.getLogger("vidcodec-test-app")
    before = logger.level
    inside, go_on = threading.Event(), threading.Event()

    def other() -> None:
        with quieted(name, logging.CRITICAL):
            inside.set()
            go_on.wait(10)
            logger.warning("quieted in the other thread")

    caplog.set_level(logging.INFO)
    t = threading.Thread(target=other)
    with quieted(name, logging.CRITICAL):  # opened before the other's, closed while it is open
        t.start()
        assert inside.wait(10)
        logger.warning("quieted here")
    logger.warning("this thread's, after its block")
    with quieted(None):  # the root: a module's own logging.warning(), and no other thread's record
        logging.warning("root, quieted")  # noqa: LOG015 - what ONNX Runtime's quantizer does
        logging.error("root, an error: kept")  # noqa: LOG015
        app.warning("the application's own logger")  # it inherits the root's level, which stays
        done = threading.Thread(target=lambda: (logging.warning("root, from another thread"),  # noqa: LOG015
                                                    app.info("app info")))
        done.start()
        done.join()
    go_on.set()
    t.join()
    logger.warning("after both")
    assert logger.level == before
    said = [r.getMessage() for r in caplog.records]
    assert said == ["this thread's, after its block", "root, an error: kept", "the application's own logger",
                    "root, from another thread", "app info", "after both"], said
    with quieted(name, logging.WARNING), quieted(name, logging.ERROR):  # nested: the stricter holds
        logger.warning("nested")
        logger.error("nested error")
    assert [r.getMessage() for r in caplog.records][-1] == "nested error"
    caplog.clear()
    with pytest.MonkeyPatch.context() as mp, quieted(name, logging.CRITICAL):
        mp.setattr(logging, "logThreads", False)  # records without their thread: still this thread's
        logger.warning("without logThreads")
    assert not caplog.records


def test_info_describes_the_audio_track(capsys, tmp_path, tiny_model_dir):
    import av

    clip = tmp_path / "av.mkv"
    with av.open(str(clip), "w") as out:
        v = out.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=44100)
        a.layout = "stereo"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            out.mux(v.encode(frame.reformat(format="yuv420p")))
        for i in range(20):
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 2 * 1024), np.float32), format="flt", layout="stereo")
            samples.sample_rate, samples.pts = 44100, i * 1024
            out.mux(a.encode(samples))
        out.mux(v.encode(None))
        out.mux(a.encode(None))
    assert cli(capsys, "encode", clip, tmp_path / "av.gvc", *TINY, "-q")[0] == 0
    code, out, _ = cli(capsys, "info", tmp_path / "av.gvc")
    assert code == 0 and "audio: aac, 44100 Hz, stereo" in out and "audio track (" in out
    code, out, _ = cli(capsys, "info", tmp_path / "av.gvc", "--json")
    assert json.loads(out)["audio"] == {"codec": "aac", "sample_rate": 44100, "channels": 2, "layout": "stereo"}
    assert cli(capsys, "encode", clip, tmp_path / "mute.gvc", *TINY, "--no-audio", "-q")[0] == 0
    code, out, _ = cli(capsys, "info", tmp_path / "mute.gvc", "--json")
    assert "audio" not in json.loads(out) and "audio:" not in cli(capsys, "info", tmp_path / "mute.gvc")[1]


def test_colour_primaries_and_transfer_go_from_the_source_to_the_decoded_video(capsys, tmp_path, tiny_model_dir,
                                                                                 caplog):
    """A source tagged BT.709 primaries with the SMPTE 170M transfer: the stream says so (header
    tag 5, format 14.1) and a decode to mp4 is tagged the same; an untagged source gets no entry."""
    import av

    clip = tmp_path / "tagged.mp4"
    with av.open(str(clip), "w") as out:
        v = out.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        ctx = v.codec_context
        ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range = 1, 6, 1, 1
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 60 * i, np.uint8), format="rgb24")
            out.mux(v.encode(frame.reformat(format="yuv420p")))
        out.mux(v.encode(None))
    gvc = tmp_path / "tagged.gvc"
    assert cli(capsys, "encode", clip, gvc, *TINY, "-q")[0] == 0
    with container.GvcReader(gvc) as r:
        assert r.version == container.FORMAT_VERSION and container.colour_description(r.header) == (1, 6)
    _code, out, _ = cli(capsys, "info", gvc, "--json")
    hdr = json.loads(out)["header"]
    assert (hdr["colour_primaries"], hdr["colour_transfer"], hdr["colour_matrix"]) == ("bt709", "smpte170m", "bt709")
    assert cli(capsys, "decode", gvc, tmp_path / "back.mp4", "-q")[0] == 0
    with av.open(str(tmp_path / "back.mp4")) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.color_primaries, ctx.color_trc, ctx.colorspace) == (1, 6, 1)
    plain = tmp_path / "plain.gvc"  # testsrc2 through libx264 says none of them
    assert cli(capsys, "encode", write_testsrc(tmp_path / "plain.mp4", frames=2), plain, *TINY, "-q")[0] == 0
    with container.GvcReader(plain) as r:
        assert container.EXT_COLOUR not in r.header.extensions
    # an entry a decoder cannot use only loses the tags, with a warning
    with container.GvcReader(gvc) as r:
        header = r.header
    for bad in (b"\x02\x02", b"\x63\x01", b"\x01"):
        with caplog.at_level("WARNING"):
            odd = dataclasses.replace(header, extensions={**header.extensions, container.EXT_COLOUR: bad})
            assert container.colour_description(odd) is None
        assert "colour description entry is damaged" in caplog.text
        caplog.clear()


def test_usage_messages_a_user_met(capsys, media, tmp_path):
    """Each says what is wrong with what was given, and what to give."""
    code, _, err = cli(capsys, "decode", media["gvc"], tmp_path / "o")
    assert_one_line_error(code, err, "decode", "o has no extension to tell the format; use one of", ".y4m")
    code, _, err = cli(capsys, "decode", media["gvc"], tmp_path / "o.xyz")
    assert_one_line_error(code, err, "decode", "cannot write '.xyz' files; use one of")
    code, _, err = cli(capsys, "encode", media["clip"], tmp_path / "x.gvc", "--gop", str(1 << 70))
    assert_one_line_error(code, err, "encode", "--gop must be 1 to 4294967295 frames")
    (tmp_path / "notes.txt").write_text("hello\n")
    code, _, err = cli(capsys, "info", tmp_path / "notes.txt")
    assert_one_line_error(code, err, "info", "not a .gvc file", "to make one from a video, `vidcodec encode` it")
    code, _, err = cli(capsys, "encode", media["clip"], tmp_path / "one.gvc", *TINY, "--frames", "1")
    assert code == 0 and "encoded 1 frame (1 key)" in err


def test_export_names_an_unknown_model_before_an_existing_export(capsys, tmp_path):
    for name in ("analysis.onnx", "synthesis.onnx", "manifest.json"):
        (tmp_path / name).write_text("")
    code, _, err = cli(capsys, "export", "--out", tmp_path, "--model", "nosuch")
    assert_one_line_error(code, err, "export", "nosuch", "not installed")


def test_a_header_without_a_frame_count_takes_the_index_count(capsys, media, tmp_path, monkeypatch):
    """A writer reading a pipe cannot put the count in the header; the index it ends with has it:
    info says so, and decode's progress gets its total from it."""
    from vidcodec import api

    with container.GvcReader(media["gvc"]) as r:
        header, pkts = r.header, list(r)
    gvc = tmp_path / "uncounted.gvc"
    with container.GvcWriter(gvc, dataclasses.replace(header, frame_count=0)) as w:
        for p in pkts:
            w.write_packet(p.kind, p.pts, p.payload, flags=p.flags)
    frames = sum(p.kind in (container.PacketType.KEY, container.PacketType.DELTA) for p in pkts)
    code, out, _ = cli(capsys, "info", gvc)
    assert code == 0 and f"the index counts {frames})" in out
    totals = []
    real = api.progress_bar

    def recording(total, desc, enabled):
        totals.append(total)
        return real(total, desc, enabled)

    monkeypatch.setattr(api, "progress_bar", recording)
    assert cli(capsys, "decode", gvc, tmp_path / "x.y4m")[0] == 0
    assert totals == [frames]
    with container.GvcReader(gvc) as r:  # what the reader itself says is left as it is
        assert r.header.frame_count == 0 and api._with_frame_count(r, follow=False).frame_count == frames


def test_a_model_name_with_control_characters_is_printed_escaped(capsys, media, tmp_path):
    """A stream's model name is its writer's text: NUL, an escape sequence or a line break in it reach
    the terminal escaped (info's text and decode's error; --json escapes by itself)."""
    with container.GvcReader(media["gvc"]) as r:
        header, pkts = r.header, list(r)
    name = "evil\x00\x1b[2J\nname"
    gvc = tmp_path / "odd-name.gvc"
    with container.GvcWriter(gvc, dataclasses.replace(header, model_name=name)) as w:
        for p in pkts:
            w.write_packet(p.kind, p.pts, p.payload, flags=p.flags)
    code, out, _ = cli(capsys, "info", gvc)
    assert code == 0 and "\x1b" not in out and "\x00" not in out
    assert "evil\\x00\\x1b[2J\\nname" in out
    code, out, _ = cli(capsys, "info", gvc, "--json")
    assert json.loads(out)["header"]["model_name"] == name
    code, _, err = cli(capsys, "decode", gvc, tmp_path / "x.y4m", "-q")
    assert_one_line_error(code, err, "decode", "model evil\\x00\\x1b[2J\\nname@", "not installed")


@pytest.mark.parametrize("verb", ["decode", "info"])
def test_unknown_major_version_names_the_supported_version(capsys, media, tmp_path, verb):
    data = bytearray(media["gvc"].read_bytes())
    future = container.FORMAT_VERSION[0] + 1
    data[8:10] = future.to_bytes(2, "little")  # major version only; the header CRC is left stale on purpose
    gvc = tmp_path / "future.gvc"
    gvc.write_bytes(bytes(data))
    extra = [tmp_path / "x.y4m"] if verb == "decode" else []
    code, out, err = cli(capsys, verb, gvc, *extra)
    readable = ", ".join(f"{m}.x" for m in container.READABLE_MAJOR_VERSIONS)
    assert_one_line_error(code, err, verb, f"version {future}.{container.FORMAT_VERSION[1]}", readable)
    assert out == "" and not (tmp_path / "x.y4m").exists()


@pytest.fixture
def truncated(media, tmp_path) -> tuple[Path, int, int]:
    """The clip's stream cut in the middle of the payload of packet 5: (path, cut offset, complete packets)."""
    p = packets(media["gvc"])[5]
    cut = p.offset + p.header_size + len(p.payload) // 2
    path = tmp_path / "cut.gvc"
    path.write_bytes(media["gvc"].read_bytes()[:cut])
    return path, cut, 5


@pytest.mark.parametrize("ext", [".y4m", ".mp4"])
def test_decode_of_truncated_stream_writes_every_complete_frame_then_fails(capsys, truncated, tmp_path, ext):
    path, cut, complete = truncated
    out = tmp_path / f"cut{ext}"
    code, _, err = cli(capsys, "decode", path, out, "-q")
    assert_one_line_error(code, err, "decode", f"truncated at byte offset {cut}",
                          f"{complete} complete packet(s)")
    assert read_video(out)[0] == complete  # and the output file is finished (mp4 trailer written)


@pytest.mark.parametrize("ext", [".y4m", ".mp4"])
def test_a_truncated_stream_says_which_frames_are_kept_or_leaves_no_output(capsys, caplog, media, tmp_path, ext):
    data = media["gvc"].read_bytes()
    first, fifth = packets(media["gvc"])[0], packets(media["gvc"])[5]
    for cut, kept in ((first.offset + first.header_size + len(first.payload) // 2, 0),
                      (fifth.offset + fifth.header_size + len(fifth.payload) // 2, 5)):
        path, out = tmp_path / f"cut{cut}.gvc", tmp_path / f"cut{cut}{ext}"
        path.write_bytes(data[:cut])
        caplog.clear()
        code, _, err = cli(capsys, "decode", path, out)  # not -q: the warning is said
        assert code == 2 and f"truncated at byte offset {cut}" in err
        if kept:
            assert f"{out}: the {kept} frames decoded before the error below are kept" in caplog.text
            assert read_video(out)[0] == kept
        else:  # cut inside the first packet: no frame, no output (a y4m header alone is none)
            assert "kept" not in caplog.text and not out.exists()


def test_decode_progress_counts_the_frames_from_start_on(media, tmp_path, monkeypatch):
    import vidcodec.api as api_mod

    totals = []

    class Bar:
        def __init__(self, total, desc, enabled):
            totals.append(total)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            pass

    monkeypatch.setattr(api_mod, "progress_bar", Bar)
    hdr = container.probe(media["gvc"])["header"]
    rate = Fraction(*hdr["frame_rate"]) if isinstance(hdr["frame_rate"], list) else Fraction(hdr["frame_rate"])
    start = float(3 / rate)  # the 4th frame on
    s = vidcodec.decode(media["gvc"], tmp_path / "a.y4m", start=start)
    vidcodec.decode(media["gvc"], tmp_path / "b.y4m", start=start, max_frames=2)
    vidcodec.decode(media["gvc"], tmp_path / "c.y4m")
    assert totals == [FRAMES - 3, 2, FRAMES] and s.frames == FRAMES - 3


@pytest.mark.parametrize("ext", [".y4m", ".mp4"])
def test_decode_of_a_stream_without_frames_fails_and_leaves_no_output(capsys, media, tmp_path, ext):
    # a stream stopped before its first packet: no output file, and with -y no earlier one left behind
    header_only = tmp_path / "empty.gvc"
    header_only.write_bytes(media["gvc"].read_bytes()[:packets(media["gvc"])[0].offset])
    out = tmp_path / f"out{ext}"
    out.write_bytes(b"an earlier output")
    code, _, err = cli(capsys, "decode", header_only, out, "-y")
    assert_one_line_error(code, err, "decode", "holds no frames", "nothing written")
    assert not out.exists()


def test_elias_refuses_the_delta_options_it_would_ignore_and_v_names_the_backend(capsys, caplog, media, tmp_path):
    for extra in (["--preset", "fast"], ["--subpel", "bilinear"]):
        code, _, err = cli(capsys, "encode", media["clip"], tmp_path / "e.gvc", *TINY, "--coder", "elias", *extra)
        assert_one_line_error(code, err, "encode", "--coder elias codes every frame as a keyframe")
    caplog.set_level(logging.DEBUG, logger="vidcodec")
    assert cli(capsys, "encode", media["clip"], tmp_path / "v.gvc", *TINY, "--frames", "2", "-v")[0] == 0
    (said,) = [r for r in caplog.records if "encoding with model vaegan-tiny" in r.getMessage()]
    assert "backend ort (auto), preset medium (auto)" in said.getMessage() and said.levelno == logging.DEBUG  # -v only
    # medium, the default before auto, is still taken where a preset changes nothing; elias names none
    caplog.clear()
    assert cli(capsys, "encode", media["clip"], tmp_path / "m.gvc", *TINY, "--coder", "elias", "--preset", "medium",
               "--frames", "2", "-v")[0] == 0
    (said,) = [r for r in caplog.records if "encoding with model vaegan-tiny" in r.getMessage()]
    assert "preset" not in said.getMessage()


def test_encode_takes_any_frame_limit_and_refuses_ans_in_gan_mode(capsys, media, tmp_path):
    out = tmp_path / "x.gvc"
    code, _, _ = cli(capsys, "encode", media["clip"], out, *TINY, "--frames", 10**20)
    assert code == 0 and container.probe(out)["frames"] == FRAMES  # "all of them", not a traceback
    code, _, err = cli(capsys, "encode", media["clip"], tmp_path / "g.gvc", "--mode", "gan", "--coder", "ans")
    assert_one_line_error(code, err, "encode", "--coder ans is for --mode vaegan")


def test_info_reports_the_truncation(capsys, truncated):
    path, cut, complete = truncated
    code, out, err = cli(capsys, "info", path)
    assert code == 2  # as decode's exit for the same stream
    assert f"frames: {complete}," in out
    assert f"truncated: stream truncated at byte offset {cut}" in out
    # and says so on stderr, as decode does (an exit code of 1 with a silent stderr told a script nothing)
    assert err.strip().splitlines() == [f"vidcodec info: error: stream truncated at byte offset {cut}"
                                        + out.split(f"byte offset {cut}", 1)[1].splitlines()[0]]
    code, out, err = cli(capsys, "info", path, "--json")
    r = json.loads(out)
    assert code == 2 and r["frames"] == complete and r["truncated"]["offset"] == cut and not r["index_present"]
    assert err.startswith("vidcodec info: error: stream truncated")


def test_frames_api_yields_complete_frames_then_raises_on_truncation(truncated):
    path, _, complete = truncated
    got = []
    with pytest.raises(TruncatedStreamError):
        for f in api.frames(path):
            got.append(f.index)
    assert got == list(range(complete))


# ------------------------------------------------------------------------------------ interrupted encodes


def test_encode_that_dies_midway_leaves_a_valid_stream_of_the_frames_before(capsys, media, tmp_path,
                                                                             monkeypatch):
    calls, die_at = [0], 5
    real = FrameEncoder.encode_latent

    def dying(self, y, x=None):
        calls[0] += 1
        if calls[0] == die_at:
            raise RuntimeError("simulated crash")
        return real(self, y, x)

    monkeypatch.setattr(FrameEncoder, "encode_latent", dying)
    gvc = tmp_path / "died.gvc"
    with pytest.raises(RuntimeError, match="simulated crash"):
        api.encode(media["clip"], gvc, model="vaegan-tiny", quality=2)
    monkeypatch.undo()
    r = container.probe(gvc)
    assert r["frames"] == die_at - 1
    assert r["truncated"] is None and r["damaged"] == []
    assert r["index_present"] and r["index_frame_count"] == die_at - 1
    assert [f.index for f in api.frames(gvc)] == list(range(die_at - 1))
    # The frames written are the same as those of an encode that ran to the end.
    full = packets(media["gvc"])[: die_at - 1]
    assert [(p.kind, p.pts, p.payload) for p in packets(gvc)] == [(p.kind, p.pts, p.payload) for p in full]
    assert cli(capsys, "decode", gvc, tmp_path / "died.y4m", "-q")[0] == 0
    assert read_video(tmp_path / "died.y4m")[0] == die_at - 1


def _stop_a_live_encode(env, gvc: Path, sig: int) -> tuple[int, str]:
    """Feed y4m to ``vidcodec encode - GVC`` through a pipe left open (the encoder then waits for more),
    send ``sig`` once it has written 3 packets; its exit code and stderr."""
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (72, 64), dtype=np.uint8)
    proc = subprocess.Popen([sys.executable, "-m", "vidcodec", "encode", "-", str(gvc), *TINY, "-q"], env=env,
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(_y4m([np.roll(base, i, axis=1) for i in range(40)], 64, 48))
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        have = 0
        while have < 3:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the encoder wrote no packets"
            time.sleep(0.05)
            try:
                have = len(packets(gvc)) if gvc.exists() else 0
            except container.FormatError:  # mid-write: a cut header or packet
                have = 0
        proc.send_signal(sig)
        proc.wait(timeout=60)
        return proc.returncode, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stderr.close()


@pytest.mark.parametrize(("sig", "code", "said"), [(signal.SIGTERM, 143, "terminated"),
                                                   (signal.SIGINT, 130, "interrupted")])
def test_an_encode_stopped_before_its_first_frame_leaves_no_lone_header(env, tmp_path, sig, code, said):
    """Stopped while the keyframe waits for the prefilter's next frames (3 of 8 came): the .gvc it had
    opened holds its header alone; that had stayed, and a first Ctrl-C printed "encoded 0 frames ...
    1472.0000 bpp". Now it is removed, and the one line says why."""
    gvc = tmp_path / "early.gvc"
    rng = np.random.default_rng(2)
    with reaped(subprocess.Popen([sys.executable, "-m", "vidcodec", "encode", "-", str(gvc), *TINY], env=env,
                                 stdin=subprocess.PIPE, stderr=subprocess.PIPE)) as proc:
        proc.stdin.write(_y4m([rng.integers(0, 256, (72, 64), dtype=np.uint8) for _ in range(3)], 64, 48))
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while not (gvc.exists() and gvc.stat().st_size):  # the header is written: the model is loaded
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        err = proc.stderr.read().decode()
    assert proc.returncode == code and not gvc.exists(), err
    assert err.strip().splitlines()[-1] == f"vidcodec encode: {said} before the first frame: nothing encoded"
    assert "encoded 0 frames" not in err


def test_sigkilled_encode_leaves_a_decodable_prefix(env, tmp_path, capsys, caplog):
    # What the encoder has written before it is killed (flushed packet by packet) must decode.
    gvc = tmp_path / "killed.gvc"
    assert _stop_a_live_encode(env, gvc, signal.SIGKILL)[0] == -signal.SIGKILL
    r = container.probe(gvc)
    assert r["frames"] >= 3 and not r["index_present"] and r["damaged"] == []
    decoded = []
    try:
        decoded.extend(f.index for f in api.frames(gvc))
    except TruncatedStreamError:  # killed inside a packet write: still every complete one decodes
        assert r["truncated"] is not None
    assert decoded == list(range(r["frames"]))
    caplog.clear()
    code, _, _ = cli(capsys, "decode", gvc, tmp_path / "killed.y4m")
    assert code == (0 if r["truncated"] is None else 2)
    assert read_video(tmp_path / "killed.y4m")[0] == r["frames"]
    if r["truncated"] is None:  # every packet whole: only the missing index tells that the writer died
        assert "ends without the index its writer appends on closing" in caplog.text
        assert "the writer did not close the stream" in cli(capsys, "info", gvc)[1]


def test_a_stream_without_its_index_read_from_a_seek_does_not_count_the_frames_before_it(tmp_path, caplog,
                                                                                           tiny_model_dir):
    """Said after a seek (play's arrow keys, --start), "its 18 complete frames are all here" counted the
    frames read from the seek on, of a 73-frame stream."""
    clip = write_testsrc(tmp_path / "c.mp4", frames=24, size=(64, 48), rate=10)
    whole = tmp_path / "w.gvc"
    api.encode(clip, whole, model="vaegan-tiny", quality=2, gop=8)
    with container.GvcReader(whole) as r:
        last = list(r)[-1]
    cut = tmp_path / "cut.gvc"  # every packet whole, the index and footer gone: an encoder killed there
    cut.write_bytes(whole.read_bytes()[: last.offset + last.header_size + len(last.payload)])
    caplog.clear()
    assert len(list(api.frames(cut))) == 24
    assert "its 24 complete frames are all here" in caplog.text
    caplog.clear()
    assert len(list(api.frames(cut, start=1.7))) == 24 - 17
    assert "its complete frames are all there" in caplog.text and "its 7 complete" not in caplog.text


@pytest.mark.parametrize(("sig", "code", "said"), [(signal.SIGTERM, 143, "terminated"),
                                                   (signal.SIGINT, 130, "interrupted")])
def test_a_stopped_live_encode_finishes_its_stream(env, tmp_path, caplog, sig, code, said):
    """kill / a container's stop, or Ctrl-C, while the encoder waits on its pipe: the stream gets its
    index and footer, one line on stderr and exit 143 or 130 (the wait on stdin had aborted the
    process at Python's shutdown, exit -6)."""
    gvc = tmp_path / "stopped.gvc"
    returncode, err = _stop_a_live_encode(env, gvc, sig)
    assert returncode == code and err.strip().splitlines() == [f"vidcodec encode: {said}"]
    r = container.probe(gvc)
    assert r["frames"] >= 3 and r["index_present"] and r["truncated"] is None
    with caplog.at_level("WARNING", logger="vidcodec"):
        assert [f.index for f in api.frames(gvc)] == list(range(r["frames"]))
    assert "ends without the index" not in caplog.text  # closed: nothing to warn about


def test_the_readmes_filter_pipe_scales_and_keeps_the_sound(tmp_path, env):
    """README: vidcodec applies no filters; `ffmpeg -i in.mp4 -vf scale=-2:720 -c:v rawvideo -c:a copy -f nut
    - | vidcodec encode - out.gvc` scales, and the sound comes through the pipe (it had been dropped)."""
    import subprocess

    from test_audio import write_av_clip

    clip = write_av_clip(tmp_path / "in.mp4", frames=10, size=(96, 64))
    out = tmp_path / "out.gvc"
    r = subprocess.run(f"ffmpeg -v error -i {clip} -vf scale=-2:32 -c:v rawvideo -c:a copy -f nut - | "
                       f"{sys.executable} -m vidcodec encode - {out} {' '.join(TINY)}", shell=True, env=env,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    with container.GvcReader(out) as g:
        assert (g.header.width, g.header.height) == (48, 32)
        assert sum(p.stream_index == 1 for p in g) > 5  # the audio's packets


def test_a_stream_copied_cut_is_not_called_truncated(caplog, tmp_path, tiny_model_dir):
    """`ffmpeg -ss 1.3 -i in.mp4 -c copy cut.mp4`: the cut keeps the GOP before 1.3 s and an edit list
    hides it; the container counts those frames, its duration does not."""
    import subprocess

    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"  # 4 s at 10 fps, one GOP
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "4",
                    "-c:v", "libx264", "-g", "50", "-pix_fmt", "yuv420p", str(whole)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-ss", "1.3", "-i", str(whole), "-c", "copy", str(cut)], check=True)
    with av.open(str(cut)) as c:
        shown = sum(1 for _ in c.decode(video=0))  # what ffmpeg's decoder gives
        assert c.streams.video[0].frames == 40 and shown < 35
    assert main(["encode", str(cut), str(tmp_path / "cut.gvc"), "--model", "vaegan-tiny"]) == 0
    assert "ended after" not in caplog.text
    assert len(list(vidcodec.frames(tmp_path / "cut.gvc"))) == shown


def test_an_input_that_ends_before_its_announced_frames_is_reported_and_the_header_tells_the_truth(
        caplog, tmp_path, tiny_model_dir):
    whole = write_testsrc(tmp_path / "whole.avi", frames=40, codec="mpeg4")  # AVI's header counts 40
    data = whole.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])  # a download broken off
    out = tmp_path / "cut.gvc"
    assert main(["encode", str(cut), str(out), "--model", "vaegan-tiny"]) == 0
    err = caplog.text
    caplog.clear()
    frames = len(list(vidcodec.frames(out)))
    assert 0 < frames < 30
    assert f"ended after {frames} of the 40 frames its container announces" in err
    with container.GvcReader(out) as r:
        assert r.header.frame_count == frames  # not the 40 the input claimed
    # the whole file: no warning
    assert main(["encode", str(whole), str(tmp_path / "whole.gvc"), "--model", "vaegan-tiny"]) == 0
    assert "ended after" not in caplog.text
    # nor for an AVI that dropped frames: its header counts the empty chunks in their place
    dropped = tmp_path / "dropped.avi"
    with av.open(str(dropped), "w") as o:
        s = o.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in [i for i in range(40) if i % 10 < 6]:  # 24 frames over 40 frames' time
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 6, np.uint8), format="rgb24")
            f.pts = i
            o.mux(s.encode(f.reformat(format="yuv420p")))
        o.mux(s.encode(None))
    with av.open(str(dropped)) as c:
        assert c.streams.video[0].frames > 30  # (the empty chunks)
    assert main(["encode", str(dropped), str(tmp_path / "dropped.gvc"), "--model", "vaegan-tiny"]) == 0
    assert "ended after" not in caplog.text
    assert len(list(vidcodec.frames(tmp_path / "dropped.gvc"))) == 24
    # but a variable-rate MP4 cut in a burst of frames near its end is a cut one (its count is of real
    # frames): 10 frames 2 s apart, then 40 at 60 fps; cut after 20 of those, its time nearly all there
    burst = tmp_path / "burst.mp4"
    with av.open(str(burst), "w", options={"movflags": "faststart"}) as o:  # (the index first, as phones write)
        s = o.add_stream("libx264", rate=60)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.time_base = Fraction(1, 60)
        s.options = {"preset": "ultrafast", "bframes": "0"}
        for pts in [i * 120 for i in range(10)] + [1200 + i for i in range(40)]:
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), pts % 200, np.uint8), format="rgb24")
            f.pts, f.time_base = pts, Fraction(1, 60)
            o.mux(s.encode(f.reformat(format="yuv420p")))
        o.mux(s.encode(None))
    with av.open(str(burst)) as c:
        offsets = [p.pos for p in c.demux(video=0) if p.size]
    (tmp_path / "cut_burst.mp4").write_bytes(burst.read_bytes()[:offsets[30]])
    assert main(["encode", str(tmp_path / "cut_burst.mp4"), str(tmp_path / "b.gvc"), "--model", "vaegan-tiny"]) == 0
    assert "ended after 30 of the 50 frames its container announces" in caplog.text


def test_an_output_folder_that_is_a_file_is_refused_before_any_work(capsys, tmp_path, tiny_model_dir):
    afile = tmp_path / "afile"
    afile.write_text("x")
    clip = write_testsrc(tmp_path / "c.mp4", frames=3)
    for argv in (["eval", str(clip), "--frames", "2", "--codecs", "vidcodec", "--out", str(afile)],
                 ["eval", str(clip), "--frames", "2", "--codecs", "vidcodec", "--json", str(tmp_path / "no" / "x.json")],
                 ["export", "--model", "vaegan-tiny", "--out", str(afile)],
                 ["train", "--data", str(clip), "--out", str(afile)],
                 ["train-gan", "--data", str(clip), "--out", str(afile)]):
        capsys.readouterr()
        assert main([*argv, "-q"]) == 2, argv
        err = capsys.readouterr().err
        assert ("is a file: give a folder" in err or "does not exist: create it" in err) and "Errno" not in err, err


def test_the_python_api_says_what_it_takes_instead_of_a_type_error(tmp_path, tiny_model_dir):
    clip = write_testsrc(tmp_path / "c.mp4", frames=2)
    with pytest.raises(UsageError, match="encode reads a path, '-' for stdin .*or frames as arrays, not a BytesIO"):
        vidcodec.encode(io.BytesIO(clip.read_bytes()), io.BytesIO())
    stream = io.BytesIO()
    vidcodec.encode(clip, stream, model="vaegan-tiny")  # a file object is fine as the output
    with pytest.raises(UsageError, match="decode writes to a path"):
        vidcodec.decode(io.BytesIO(stream.getvalue()), io.BytesIO())
    with pytest.raises(UsageError, match=r"wrap them: io.BytesIO\(data\)"):
        list(vidcodec.frames(stream.getvalue()))
    for call in (lambda p: list(vidcodec.frames(p)), lambda p: vidcodec.decode(p, tmp_path / "d.y4m")):
        with pytest.raises(UsageError, match=r"path as a str or a Path \(os.fsdecode\(\) .*not bytes \(b'/tmp/x.gvc'\)"):
            call(b"/tmp/x.gvc")  # a path as bytes is not a stream's bytes
    for flags in ({"overwrite": "no"}, {"progress": 1}, {"realtime": "yes"}):  # "no" is true: it replaced a file
        with pytest.raises(UsageError, match=f"{next(iter(flags))} must be True or False"):
            vidcodec.encode(clip, tmp_path / "kept.gvc", model="vaegan-tiny", **flags)
        assert not (tmp_path / "kept.gvc").exists()
    with pytest.raises(UsageError, match="overwrite must be True or False"):
        vidcodec.decode(io.BytesIO(stream.getvalue()), tmp_path / "d.y4m", overwrite="no")
    with pytest.raises(UsageError, match="progress must be True or False"):
        vidcodec.remux(io.BytesIO(stream.getvalue()), tmp_path / "r.gvc", progress="no")
    vidcodec.decode(io.BytesIO(stream.getvalue()), tmp_path / "d.y4m", overwrite=np.bool_(True))  # numpy's bool
    assert len(list(vidcodec.frames(io.BytesIO(stream.getvalue())))) == 2
    with pytest.raises(UsageError, match="got '3'"):
        vidcodec.encode(clip, io.BytesIO(), model="vaegan-tiny", quality="3")
    with pytest.raises(UsageError, match="--bufsize must be a positive number of kbit "):
        vidcodec.encode(clip, io.BytesIO(), model="vaegan-tiny", bitrate=10, bufsize=0)


def test_ctrl_c_while_the_command_loads_is_an_interrupt_not_a_traceback(capsys, monkeypatch, media):
    # during the CLI's own imports (the entry point catches it) ...
    import importlib.abc

    from vidcodec import _entry
    from vidcodec import cli as cli_module

    class Interrupting(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "vidcodec.cli":
                raise KeyboardInterrupt

    monkeypatch.delitem(sys.modules, "vidcodec.cli")
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    assert _entry.main() == 130
    assert capsys.readouterr().err == "vidcodec: interrupted\n"
    monkeypatch.undo()
    # ... while it builds its parser (which imports the training options' module) ...
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "build_parser", interrupted)
    assert _entry.main() == 130
    assert capsys.readouterr().err == "vidcodec: interrupted\n"
    monkeypatch.undo()
    # ... and inside a library's import, which some (onnxruntime) turn into an ImportError of theirs
    def loading(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise ImportError("initialization failed") from e

    monkeypatch.setattr(cli_module, "_cmd_info", loading)
    assert cli_module.main(["info", str(media["gvc"])]) == 130
    assert capsys.readouterr().err == "vidcodec info: interrupted\n"
    monkeypatch.setattr(cli_module, "_cmd_info", lambda args: (_ for _ in ()).throw(ImportError("no such module")))
    with pytest.raises(ImportError, match="no such module"):  # a real import failure stays one
        cli_module.main(["info", str(media["gvc"])])


@pytest.mark.parametrize("verb", ["decode", "info"])
def test_a_gvc_input_of_dash_from_a_terminal_is_refused_not_awaited(capsys, monkeypatch, tmp_path, verb):
    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(Terminal()))
    extra = [tmp_path / "x.y4m"] if verb == "decode" else []
    code, out, err = cli(capsys, verb, "-", *extra)
    assert out == ""
    assert_one_line_error(code, err, verb, "stdin is a terminal", "pipe a .gvc stream")
    assert not (tmp_path / "x.y4m").exists()


def test_a_stop_ends_the_input_and_codes_every_frame_already_read(media, tmp_path):
    # vidcodec encode's first Ctrl-C: the input ends where it is, and what was read is coded, the
    # keyframe that waited for the prefilter's lookahead included (it was lost before)
    class StopAfter(threading.Event):
        def __init__(self, frames: int) -> None:
            super().__init__()
            self.left = frames

        def is_set(self) -> bool:  # asked before each frame is read
            self.left -= 1
            return self.left < 0

    out = tmp_path / "stopped.gvc"
    s = api.encode(media["clip"], out, model="vaegan-tiny", quality=2, stop=StopAfter(5))
    r = container.probe(out)
    assert s.frames == r["frames"] == 5 and s.keyframes == 1 and r["index_present"]
    assert [f.index for f in api.frames(out)] == list(range(5))


@pytest.mark.parametrize("where", ["footer", "index"])
def test_a_damaged_index_or_footer_is_called_damage_not_an_unclosed_writer(capsys, caplog, media, tmp_path, where):
    data = bytearray(media["gvc"].read_bytes())
    data[-10 if where == "footer" else data.rfind(container.INDEX_MARKER) + 30] ^= 0xFF
    gvc = tmp_path / f"bad-{where}.gvc"
    gvc.write_bytes(bytes(data))
    code, out, err = cli(capsys, "info", gvc)
    assert code == 1 and "index: damaged (ignored" in out and "did not close" not in out
    assert err.strip().splitlines()[-1].startswith("vidcodec info: error:")
    assert cli(capsys, "info", gvc, "--json")[1].count('"index_damaged": true') == 1
    caplog.clear()
    code, _, _ = cli(capsys, "decode", gvc, tmp_path / "x.y4m", "-q")
    assert code == 0 and read_video(tmp_path / "x.y4m")[0] == FRAMES  # every packet is whole
    assert "stopped, crashed or was cut off" not in caplog.text


@pytest.mark.parametrize(("kwargs", "said"), [
    ({"coder": "elias", "latent_bits": 0}, "--latent-bits must be 2 to 16"),
    ({"latent_bits": 6}, "sets the QSGD bits of --coder elias"),
    ({"stop": True}, "stop must be a threading.Event"),
    ({"quality": 2.0}, "quality must be a whole number"),
    ({"coder": "huff"}, "coder must be 'ans' or 'elias'"),
    ({"model": 3}, "model must be an installed model's name"),
    ({"gop": "10"}, "gop must be a whole number"),
    ({"refine": None}, "refine must be a whole number (got None"),  # options whose default is a number
    ({"refine": -1}, "--refine must be >= 0"),
    ({"refine": -1, "src": "missing.mp4"}, "--refine must be >= 0"),  # before the input is opened
    ({"mode": "gan", "gop_batch": None}, "gop_batch must be a whole number (got None"),
    ({"mode": "gan", "key_bits": None}, "key_bits must be a whole number (got None"),
    ({"mode": "gan", "search_iters": None}, "search_iters must be a whole number (got None"),
    ({"mode": "gan", "coeffs": None}, "coeffs must be a whole number (got None"),
])
def test_a_bad_api_argument_is_a_usage_error_before_the_output_is_touched(media, tmp_path, kwargs, said):
    out = tmp_path / "kept.gvc"
    out.write_bytes(media["gvc"].read_bytes())
    with pytest.raises(UsageError, match=re.escape(said)):
        api.encode(kwargs.get("src", media["clip"]), out, overwrite=True,
                   **{"model": "vaegan-tiny", **{k: v for k, v in kwargs.items() if k != "src"}})
    assert out.read_bytes() == media["gvc"].read_bytes()


def test_api_arguments_take_numpy_numbers_and_refuse_what_cannot_be_read_or_written(media, tmp_path):
    s = api.encode(media["clip"], tmp_path / "n.gvc", model="vaegan-tiny", quality=np.int64(2),
                   max_frames=np.int32(4), start=np.float64(0.0))
    assert s.frames == 4
    for bad in (5, io.StringIO(), open(media["gvc"], "rb")):  # noqa: SIM115 - closed below
        with pytest.raises(UsageError, match="binary file object open for writing|binary mode"):
            api.encode(media["clip"], bad, model="vaegan-tiny")
        if hasattr(bad, "close"):
            bad.close()
    with open(tmp_path / "a.gvc", "ab") as appending, pytest.raises(UsageError, match="appending"):
        api.encode(media["clip"], appending, model="vaegan-tiny")
    for bad in (3, None, io.StringIO("text")):
        with pytest.raises(UsageError, match="read from a path or a binary file object"):
            api.frames(bad)  # at the call, before any frame is asked for


def test_api_writers_without_flush_are_written_and_one_that_takes_nothing_is_an_error(media, tmp_path):
    class Collect:  # write() and nothing else: it had passed the check, then failed on flush()
        def __init__(self) -> None:
            self.data = bytearray()

        def write(self, b) -> int:
            self.data += b
            return len(b)

    class TakesHalf(io.RawIOBase):  # a raw writer: 0 for a 1-byte view, which had been asked for ever
        def writable(self) -> bool:
            return True

        def write(self, b) -> int:
            return len(b) // 2

    ref = api.encode(media["clip"], tmp_path / "r.gvc", model="vaegan-tiny", max_frames=3)
    out = Collect()
    assert api.encode(media["clip"], out, model="vaegan-tiny", max_frames=3).bytes == ref.bytes
    assert bytes(out.data) == (tmp_path / "r.gvc").read_bytes()
    with pytest.raises(OSError, match="took none of 1 bytes"):
        api.encode(media["clip"], TakesHalf(), model="vaegan-tiny", max_frames=3)
    y4m = Collect()  # decode's stdout= likewise: no isatty(), no flush()
    assert api.decode(media["gvc"], "-", stdout=y4m, max_frames=2).frames == 2 and bytes(y4m.data[:9]) == b"YUV4MPEG2"


def test_api_arguments_that_would_be_ignored_are_refused_at_the_call(media, tmp_path):
    with pytest.raises(UsageError, match="stdin= is read when the input is '-'"):
        api.encode(media["clip"], tmp_path / "a.gvc", model="vaegan-tiny", stdin=io.BytesIO(b"x"))
    with pytest.raises(UsageError, match="stdout= is written when the output is '-'"):
        api.decode(media["gvc"], tmp_path / "a.y4m", stdout=io.BytesIO())
    assert not (tmp_path / "a.gvc").exists() and not (tmp_path / "a.y4m").exists()
    with pytest.raises(UsageError, match="follow= needs a file path"):
        api.frames(io.BytesIO(media["gvc"].read_bytes()), follow=True)  # at the call, not at next()


def test_decoded_frames_say_their_time_in_seconds(media):
    got = list(api.frames(media["gvc"]))
    assert [f.time for f in got] == pytest.approx([i / 10 for i in range(FRAMES)])  # the 10 fps clip
    assert all(f.time == float(f.pts * f.time_base) for f in got) and "time=0.1," in repr(got[1])
    assert next(iter(api.frames(media["gvc"], start=0.5))).time == pytest.approx(0.5)


def test_api_file_objects_paths_and_times_as_users_give_them(media, tmp_path):
    from pathlib import PurePosixPath

    tiny = {"model": "vaegan-tiny", "quality": 2}
    closed = open(tmp_path / "c.gvc", "wb")  # noqa: SIM115
    closed.close()
    with open(tmp_path / "w.bin", "wb") as write_only:
        for kw, said in (({"stdin": 3}, "stdin= takes a binary file object open for reading"),
                         ({"stdin": str(media["clip"])}, "got str"),
                         ({"stdin": write_only}, "open for writing only"),
                         ({"stdin": closed}, "stdin= is a closed file")):
            with pytest.raises(UsageError, match=re.escape(said)):
                api.encode("-", io.BytesIO(), max_frames=2, **kw, **tiny)
        with pytest.raises(UsageError, match="open for writing only"):
            api.frames(write_only)
    with pytest.raises(UsageError, match="cannot write to a closed file"):
        api.encode(media["clip"], closed, **tiny)
    for bad in (1, closed):
        with pytest.raises(UsageError, match="stdout="):
            api.decode(media["gvc"], "-", stdout=bad)
    # any os.PathLike is a path, as the reader's own GvcReader takes it
    buf = io.BytesIO()
    assert api.encode(PurePosixPath(media["clip"]), buf, max_frames=3, **tiny).frames == 3
    assert len(list(api.frames(PurePosixPath(media["gvc"])))) == FRAMES
    # times as the CLI takes them, and numbers of any numeric type
    assert api.encode(media["clip"], io.BytesIO(), start="0:00.3", duration="00:00:00.4", **tiny).frames == 4
    assert api.encode(media["clip"], io.BytesIO(), bitrate=np.int32(300), max_frames=2, model="vaegan-tiny").frames == 2
    for kw, said in (({"bitrate": True}, "--bitrate must be a positive number"), ({"start": True}, "--start")):
        with pytest.raises(UsageError, match=re.escape(said)):
            api.encode(media["clip"], io.BytesIO(), model="vaegan-tiny", **kw)


def test_a_reused_file_object_is_cut_where_the_stream_ends(media, tmp_path):
    old = os.urandom(50_000)
    for out in (io.BytesIO(old), open(tmp_path / "old.bin", "w+b")):  # noqa: SIM115 - closed below
        if not isinstance(out, io.BytesIO):
            out.write(old)
        out.seek(0)
        s = api.encode(media["clip"], out, model="vaegan-tiny", quality=2, max_frames=4)
        out.seek(0, io.SEEK_END)
        assert out.tell() == s.bytes < len(old)
        out.seek(0)
        assert container.probe(out)["index_present"]
        out.seek(0)
        assert len(list(api.frames(out))) == 4
        out.close()


def test_a_start_past_any_file_is_an_input_error_not_a_traceback(media):
    with pytest.raises(InputError, match="no video at or after --start"):
        api.encode(media["clip"], io.BytesIO(), model="vaegan-tiny", start=1e15)


def test_reading_a_file_object_not_rewound_says_so(media):
    data = io.BytesIO(media["gvc"].read_bytes())
    data.seek(0, io.SEEK_END)  # written to, not rewound
    with pytest.raises(TruncatedStreamError, match=r"seek\(0\)"):
        next(iter(api.frames(data)))
    data.seek(0)
    assert len(list(api.frames(data))) == FRAMES


def test_importing_vidcodec_loads_neither_numpy_nor_torch_and_has_its_errors():
    code = ("import sys, vidcodec; "
            "assert vidcodec.errors.UsageError.__mro__[1] is vidcodec.VidcodecError; "
            "assert 'numpy' not in sys.modules and 'torch' not in sys.modules and 'av' not in sys.modules, "
            "sorted(m for m in sys.modules if m in ('numpy', 'torch', 'av'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert (Path(vidcodec.__file__).parent / "py.typed").exists()  # type checkers read the hints (PEP 561)


def test_a_ctrl_c_that_also_ends_the_reader_of_stdout_exits_130(monkeypatch, capsys, media):
    import vidcodec.cli as cli_mod
    from vidcodec import pipeline

    joins = []

    def interrupted_then_broken_pipe(a):
        cli_mod._stopping()  # what the first Ctrl-C (or SIGTERM) does
        joins.append(pipeline.JOIN_TIMEOUT_S)
        raise BrokenPipeError

    monkeypatch.setattr(cli_mod, "_cmd_info", interrupted_then_broken_pipe)
    assert main(["info", str(media["gvc"])]) == 130 and "interrupted" in capsys.readouterr().err
    assert joins == [pipeline.STOPPING_JOIN_S]  # stuck readers were not waited for long
    assert pipeline.JOIN_TIMEOUT_S == pipeline.DEFAULT_JOIN_TIMEOUT_S  # and the caller's process is as it was

    def broken_pipe(a):
        raise BrokenPipeError

    monkeypatch.setattr(cli_mod, "_cmd_info", broken_pipe)  # `| head`: a quiet, normal end
    assert main(["info", str(media["gvc"])]) == 0 and pipeline.JOIN_TIMEOUT_S == 5.0


def test_frames_is_a_context_manager_that_ends_its_decode(media):
    def decoding() -> set[str]:
        return {t.name for t in threading.enumerate() if t.name.startswith("vidcodec-") and t.is_alive()
                and not t.name.startswith("vidcodec-delta")}

    before = decoding()
    with api.frames(media["gvc"]) as frames:
        first = next(frames)
        assert decoding() - before  # its stages run while it is open
    assert first.rgb.shape == (48, 64, 3)
    assert repr(first).endswith("rgb=<48x64x3 uint8>)") and len(repr(first)) < 120  # not the pixels
    deadline = time.monotonic() + 5
    while decoding() - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not decoding() - before
    with pytest.raises(StopIteration):
        next(frames)  # closed: nothing more
    assert len(list(api.frames(media["gvc"]))) == FRAMES  # and a plain loop as before


def test_review_regressions_stay_fixed(media, tmp_path, capsys):
    """Behaviours a review of session 49's changes found broken, each kept working."""
    # a reader that is io.RawIOBase (readable() False by default, no writable()) is a reader
    class Raw(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readinto(self, b) -> int:
            chunk = self._data.read(len(b))
            b[: len(chunk)] = chunk
            return len(chunk)

    assert len(list(api.frames(Raw(media["gvc"].read_bytes())))) == FRAMES
    # decode's y4m to stdout= may append (the y4m writer never seeks back)
    with open(tmp_path / "a.y4m", "ab") as appending:
        assert api.decode(media["gvc"], "-", stdout=appending, max_frames=2).frames == 2
    assert read_video(tmp_path / "a.y4m")[0] == 2
    # a frame rate "a:b" is not read as minutes:seconds
    with pytest.raises(UsageError):
        api.frame_rate("2:1")
    # the time in a message as the user gave it
    code, _, err = cli(capsys, "decode", media["gvc"], tmp_path / "z.y4m", "-t", "0")
    assert "(got 0)" in err and code == 2
    # one picture takes no --pix-fmt (as an image sequence does not)
    code, _, err = cli(capsys, "decode", media["gvc"], tmp_path / "t.png", "--frames", "1", "--pix-fmt", "yuv420p")
    assert_one_line_error(code, err, "decode", "--pix-fmt is for video outputs")
    # a bytes path object is a path
    (entry,) = [e for e in os.scandir(os.fsencode(media["gvc"].parent)) if e.name == os.fsencode(media["gvc"].name)]
    assert len(list(api.frames(entry))) == FRAMES


def test_the_first_ctrl_c_of_an_encode_finishes_and_gan_mode_waits_for_the_second(monkeypatch):
    """A GAN search takes about a second a frame (--gop-batch: GOPs at once), so the finishing of the
    frames already read is not cut off after FINISH_GRACE_S there: only a second Ctrl-C stops it."""
    import threading
    import time

    from vidcodec import cli as cli_mod

    monkeypatch.setattr(cli_mod, "_stopping", lambda: None)  # the pipeline's join timeout stays as it is
    for grace in (0.05, None):
        stop, waited = threading.Event(), []
        with pytest.raises(KeyboardInterrupt), cli_mod._finish_on_interrupt(stop, grace):
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:  # the grace timer interrupts this wait, or nothing does
                time.sleep(0.01)
            waited.append(stop.is_set())  # still finishing after 0.5 s
            os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C
            time.sleep(0.5)
        assert waited == ([] if grace else [True])


@pytest.mark.parametrize("verb", ["decode", "play"])
def test_ctrl_c_while_following_a_stream_that_stopped_growing_exits_130_at_once(env, tmp_path, media, verb):
    """`decode --follow` / `play --follow` of a stream whose writer has gone quiet, to a file, then
    Ctrl-C: a traceback ("generator already executing", after a 5 s wait) and exit 1; now one line,
    130, without waiting, and the frames read are all in the output, which that line names."""
    whole = media["gvc"].read_bytes()
    cut = tmp_path / "growing.gvc"  # every packet, no index or footer: a writer still at work
    cut.write_bytes(whole[: struct.unpack_from("<Q", whole, len(whole) - 20)[0]])  # up to the footer's index offset
    out = tmp_path / "out.y4m"
    args = ["decode", str(cut), str(out)] if verb == "decode" else ["play", str(cut), "--to", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "vidcodec", *args, "--follow", "--follow-timeout", "60", "-q"],
                            env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_bytes().count(b"FRAME\n") == len(packets(media["gvc"]))):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "nothing decoded"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        t = time.monotonic()
        proc.wait(timeout=30)
        took = time.monotonic() - t
        err = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    n = len(packets(media["gvc"]))  # what it kept is said on its one line
    assert proc.returncode == 130 and err.strip().splitlines() == [
        f"vidcodec {verb}: interrupted ({n} frames decoded before it, in {out})"], err
    assert took < 3.0  # not the stage's 5-s join of a thread stuck waiting for the file to grow


def test_a_hang_up_finishes_an_mp4_output(env, tmp_path, media):
    """SIGHUP (the terminal or ssh session went away) while `decode --follow` waits for a growing
    stream: its default had killed the process, leaving an .mp4 without its index that no player
    opens; now it ends as SIGTERM does: the file finished, one line, exit 129."""
    gvc = tmp_path / "long.gvc"  # more frames than x264's lookahead in the sink: the .mp4 is written to
    api.encode(write_testsrc(tmp_path / "c.mp4", frames=60), gvc, model="vaegan-tiny", quality=2)
    whole = gvc.read_bytes()
    cut = tmp_path / "growing.gvc"  # every packet, no index or footer: a writer still at work
    cut.write_bytes(whole[: struct.unpack_from("<Q", whole, len(whole) - 20)[0]])
    out = tmp_path / "out.mp4"
    with reaped(subprocess.Popen([sys.executable, "-m", "vidcodec", "decode", str(cut), str(out), "--follow",
                                  "--follow-timeout", "60", "-q"], env=env, stderr=subprocess.PIPE)) as proc:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.stat().st_size):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
            time.sleep(0.05)
        time.sleep(1.0)  # (the tiny stream's other frames)
        proc.send_signal(signal.SIGHUP)
        proc.wait(timeout=30)
        err = proc.stderr.read().decode()
    said = re.fullmatch(rf"vidcodec decode: hung up \((\d+) frames? decoded before it, in {re.escape(str(out))}\)",
                        err.strip())
    assert proc.returncode == 129 and said, err
    assert read_video(out)[0] == int(said[1]) > 0


def test_an_interrupt_during_an_h264_write_counts_the_frame_the_file_holds(tmp_path, tiny_model_dir, monkeypatch):
    """A signal held while the encoder and muxer take a frame is raised after them: the frame is in the
    .mp4, and the interrupt's line said one frame fewer than the file held."""
    gvc = tmp_path / "s.gvc"
    from vidcodec import media as media_mod

    api.encode(write_testsrc(tmp_path / "c.mp4", frames=12), gvc, model="vaegan-tiny", quality=2)
    real, calls = media_mod._EncodedSink.write, [0]

    def write(self, rgb, pts):
        real(self, rgb, pts)
        calls[0] += 1
        if calls[0] == 5:
            raise KeyboardInterrupt  # as whole() raises a signal it held during the write

    monkeypatch.setattr(media_mod._EncodedSink, "write", write)
    out = tmp_path / "o.mp4"
    with pytest.raises(KeyboardInterrupt) as caught:
        api.decode(gvc, out)
    assert caught.value.__notes__ == [f"(5 frames decoded before it, in {out})"]
    assert read_video(out)[0] == 5
    calls[0] = 4  # during the first frame: the file holds it, and is kept
    with pytest.raises(KeyboardInterrupt) as caught:
        api.decode(gvc, out, overwrite=True)
    assert caught.value.__notes__ == [f"(1 frame decoded before it, in {out})"] and read_video(out)[0] == 1


@pytest.mark.parametrize(("verb", "unbuffered", "sig"), [("decode", True, signal.SIGINT), ("play", True, signal.SIGINT),
                                                  ("decode", False, signal.SIGINT), ("decode", True, signal.SIGTERM)])
def test_ctrl_c_while_the_pipe_is_full_leaves_whole_frames_on_stdout(env, tmp_path, verb, unbuffered, sig):
    """y4m to a pipe whose reader has not read yet: with PYTHONUNBUFFERED=1 (as Docker images of Python
    set it) stdout is a raw FileIO, whose write of the frame that filled the pipe returned what went
    through when Ctrl-C came, and the rest was dropped: the reader got half a frame. Now the frame is
    finished first, then one line and 130."""
    env = {**env, "PYTHONUNBUFFERED": "1"} if unbuffered else env
    long = tmp_path / "long.gvc"  # frames of 461 kB as y4m: the first one's write fills the pipe (64 KiB) several times
    api.encode(write_testsrc(tmp_path / "big.mp4", frames=4, size=(640, 480)), long, model="vaegan-tiny", quality=2)
    args = ["decode", str(long), "-"] if verb == "decode" else ["play", str(long), "--to", "-"]
    proc = subprocess.Popen([sys.executable, "-m", "vidcodec", *args, "-q"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not _blocked_writing(proc.pid):  # in the write of a frame the pipe has no room for
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    head, _, body = out.partition(b"\n")
    frame = len(b"FRAME\n") + (640 * 480 * 3 // 2 if b" C420" in head else 640 * 480 * 3)  # the source's 4:2:0
    said = "interrupted" if sig == signal.SIGINT else "terminated"
    assert proc.returncode == 128 + sig and err.decode().strip().splitlines() == [f"vidcodec {verb}: {said}"]
    assert head.startswith(b"YUV4MPEG2 W640 H480") and body and len(body) % frame == 0 and len(body) // frame < 4


def _blocked_writing(pid: int) -> bool:
    """Whether a thread of process ``pid`` sleeps in a write to a pipe (Linux's /proc)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            wchan = (task / "wchan").read_text()  # pipe_write, anon_pipe_write, pipe_wait_writable
            if "pipe" in wchan and "writ" in wchan:
                return True
        except OSError:
            continue
    return False


def test_info_of_two_streams_joined_reports_the_first_as_decode_reads_it(capsys, media, tmp_path):
    """`cat a.gvc b.gvc`: decode reads the first stream and exits 0; info said the index or footer was
    damaged and exited 1, with the size and bit rate of both."""
    whole = media["gvc"].read_bytes()
    joined = tmp_path / "joined.gvc"
    joined.write_bytes(whole + whole)
    code, out, err = cli(capsys, "info", joined)
    assert code == 0 and f"size: {len(whole)} bytes" in out and "index: present" in out  # as from a pipe
    assert err.strip().splitlines()[-1] == (f"vidcodec info: warning: the stream ends at byte {len(whole)} and other "
                                            "data follows (streams joined with cat?); this reports the first stream, "
                                            "which decode reads (vidcodec remux joins streams: vidcodec remux a.gvc "
                                            "b.gvc ab.gvc)")
    assert cli(capsys, "decode", joined, tmp_path / "x.y4m", "-q")[0] == 0


def test_info_from_a_pipe_counts_the_bytes_a_file_would(media, monkeypatch):
    """From stdin the index and footer were left out of the size and the bit rate."""
    from test_live import Pipe  # a non-seekable source

    want = container.probe(media["gvc"])
    got = container.probe(io.BufferedReader(Pipe(media["gvc"].read_bytes())))
    assert got["bytes"] == want["bytes"] == media["gvc"].stat().st_size and got["bit_rate"] == want["bit_rate"]


def test_info_of_a_file_cut_inside_its_footer_does_not_blame_the_writer(capsys, media, tmp_path):
    """Cut 5 bytes before its end, a stream has its whole index and a broken footer: info said the
    writer did not close it, where the writer had (and a cut one byte earlier, inside the index, is
    a truncation)."""
    cut = tmp_path / "cut.gvc"
    cut.write_bytes(media["gvc"].read_bytes()[:-5])
    code, out, _ = cli(capsys, "info", cut)
    assert code == 0 and "did not close" not in out
    assert "index: read at the stream's end, but the footer after it is missing or cut off" in out


def test_cli_errors_name_options_not_the_python_apis_keywords(capsys, media, tmp_path):
    """The library's errors name both ("max_frames (--frames)", "(overwrite=True from Python)"); the
    command line says its own."""
    code, _, err = cli(capsys, "encode", media["clip"], tmp_path / "x.gvc", *TINY, "--frames", "0")
    assert code == 2 and "--frames must be at least 1" in err and "max_frames" not in err
    (tmp_path / "old.y4m").write_bytes(b"keep")
    code, _, err = cli(capsys, "decode", media["gvc"], tmp_path / "old.y4m")
    assert code == 2 and err.rstrip().endswith("exists; use -y to overwrite it") and "Python" not in err


def test_raw_options_without_size_on_a_missing_input_ask_for_size(capsys, tmp_path):
    code, _, err = cli(capsys, "encode", tmp_path / "frames.yuv", tmp_path / "x.gvc", "--fps", "30")
    assert code == 2 and "give --size WxH too" in err


def test_an_output_format_never_written_is_said_before_a_missing_folder(capsys, media, tmp_path):
    """frames/%03d.gif in a missing folder said the folder did not exist: made, the .gif would still be
    refused. What cannot be written at all is said first; a writable kind in a missing folder says so."""
    code, _, err = cli(capsys, "decode", media["gvc"], tmp_path / "newdir" / "%03d.gif")
    assert code == 2 and "cannot write '.gif' files" in err and "does not exist" not in err
    code, _, err = cli(capsys, "decode", media["gvc"], tmp_path / "newdir" / "x.mp4")
    assert code == 2 and "newdir does not exist" in err
    assert not (tmp_path / "newdir").exists()


@pytest.mark.parametrize("args", [
    ["encode", "in.mp4", "o.gvc", "--fr", "2"],  # was --frames
    ["encode", "in.mp4", "o.gvc", "--ref", "1"],  # was --refine: a 0.1 fps encode, silently
    ["encode", "in.mp4", "o.gvc", "--time", "5"],  # was --timeout, which then said "is for URL inputs"
    ["decode", "x.gvc", "o.y4m", "--frame", "2"],
])
def test_abbreviated_options_are_not_taken_for_others(capsys, args):
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"unrecognized arguments: {args[3]}" in err, err


def test_export_refuses_stdout_as_its_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--model", "vaegan-tiny", "--out", "-"]) == 2
    assert "names a folder" in capsys.readouterr().err
    assert not (tmp_path / "-").exists()


def test_unwritable_outputs_are_usage_errors_for_every_verb(capsys, media, tmp_path, monkeypatch):
    """encode and remux said a bare OSError with exit 1 where decode said 'permission denied' with 2."""
    import vidcodec.media as vmedia

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(vmedia.os, "access", lambda p, mode, *a, **k: (
        False if mode == os.W_OK and Path(p) == locked else real(p, mode, *a, **k)))
    cases = [["encode", media["clip"], locked / "o.gvc"], ["remux", media["gvc"], locked / "r.gvc"],
             ["remux", media["gvc"], locked / "s%03d.gvc", "--segment-time", "1"],
             ["decode", media["gvc"], locked / "o.y4m"], ["decode", media["gvc"], locked / "f%03d.png"],
             ["decode", media["gvc"], locked / "new" / "f%03d.png"]]  # the folder it would make, in locked
    for args in cases:
        capsys.readouterr()
        assert main([str(a) for a in args] + ["-q"]) == 2, args
        err = capsys.readouterr().err
        assert "permission denied" in err and err.count("\n") == 1, (args, err)
    assert not any(locked.iterdir())


def test_remux_of_a_folder_says_so(capsys, tmp_path):
    assert main(["remux", str(tmp_path), str(tmp_path / "r.gvc")]) == 2
    err = capsys.readouterr().err
    assert "Is a directory; give a .gvc file" in err, err


def test_remux_refuses_a_terminal_stdout(capsys, media, monkeypatch):
    class Tty(io.BytesIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(tty))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert main(["remux", str(media["gvc"]), "-"]) == 2
    assert "refusing to write a .gvc stream to a terminal" in capsys.readouterr().err
    assert tty.getvalue() == b""
    from vidcodec import streamcopy

    with pytest.raises(UsageError, match="to a terminal"):  # a terminal given as a file object
        streamcopy.remux(media["gvc"], tty)
    assert tty.getvalue() == b""


def test_small_usage_messages(capsys, media, tmp_path):
    """An empty output name (an unset shell variable) was taken as '.', 'a directory'; a non-.gvc input's
    error did not name it; eval and bench took - for a missing file."""
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    if hasattr(os, "mkfifo"):  # (a pipe is read once: eval's second read of it had waited for ever)
        os.mkfifo(tmp_path / "fifo")
    for args, wanted in [(["encode", media["clip"], ""], "the output name is empty"),
                         (["decode", media["gvc"], ""], "the output name is empty"),
                         (["remux", media["gvc"], ""], "the output name is empty"),
                         (["decode", text, tmp_path / "o.y4m"], f"{text}: not a .gvc file"),
                         (["info", text], f"{text}: not a .gvc file"),
                         (["remux", text, tmp_path / "r.gvc"], f"{text}: not a .gvc file"),
                         (["eval", "-"], "not - (stdin)"), (["bench", "-"], "not - (stdin)"),
                         *([(["eval", tmp_path / "fifo"], "(a pipe or device)")] if hasattr(os, "mkfifo") else []),
                         (["info", media["gvc"], "-t", "-1"], "--duration (-t) must be a time above 0")]:
        capsys.readouterr()
        assert main([str(a) for a in args]) == 2, args
        err = capsys.readouterr().err
        assert wanted in err and err.count("\n") == 1, (args, err)


def test_a_program_that_leaves_a_decode_of_a_quiet_stdin_pipe_exits_cleanly(env, media):
    """vidcodec.frames("-") left (sys.exit from the loop) while the pipe's writer is quiet: CPython's
    shutdown had aborted the process (SIGABRT, "could not acquire lock ... at interpreter shutdown": the
    parsing thread held sys.stdin.buffer's lock in its read), after the 5 s a stage waits for its thread."""
    with container.GvcReader(media["gvc"]) as r:  # its first six frames, then nothing for a while
        sixth = [p for p in r if p.stream_index == 0][5]
    head = media["gvc"].read_bytes()[:sixth.offset + sixth.header_size + len(sixth.payload)]
    script = ("import sys, time, vidcodec\n"
              "for i, f in enumerate(vidcodec.frames('-')):\n"
              "    if i == 3:\n"
              "        time.sleep(0.5)  # the parsing thread has read all there is, and waits for more\n"
              "        sys.exit(3)\n")
    p = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        p.stdin.write(head)
        p.stdin.flush()
        t0 = time.monotonic()
        rc = p.wait(timeout=30)
        took = time.monotonic() - t0
        err = p.stderr.read().decode()
    finally:
        p.stdin.close()
        p.kill()
    assert rc == 3 and "Fatal Python error" not in err, (rc, err)
    assert took < 4, took  # (5 s of waiting for the parsing thread before)


def test_a_decode_in_a_thread_the_main_thread_left_finishes(env, media, tmp_path):
    """A non-daemon thread's decode or encode when the main thread had ended: 'cannot schedule new
    futures after interpreter shutdown' from the thread pools, and a truncated output."""
    script = ("import sys, threading, time, vidcodec\n"
              "def work():\n"
              "    s = vidcodec.decode(sys.argv[1], sys.argv[2], overwrite=True)\n"
              "    e = vidcodec.encode(sys.argv[3], sys.argv[4], overwrite=True, model='vaegan-tiny', quality=2)\n"
              "    print('done', s.frames, e.frames, flush=True)\n"
              "vidcodec.frames(sys.argv[1])  # (imports made here)\n"
              "threading.Thread(target=work).start()\n"
              "time.sleep(0.05)\n")
    r = subprocess.run([sys.executable, "-c", script, str(media["gvc"]), str(tmp_path / "o.y4m"), str(media["clip"]),
                        str(tmp_path / "o.gvc")], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0 and f"done {FRAMES} {FRAMES}" in r.stdout, r.stderr
