"""Unusual environments a real codec meets: inputs that are FIFOs or names with a colon, a closed
stdout, memory and descriptor limits, odd environment variables, outputs named like folders."""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import write_testsrc

import vidcodec
from vidcodec import runtime
from vidcodec.cli import _out_of_memory
from vidcodec.cli import main as cli_main
from vidcodec.errors import UsageError

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="FIFOs, rlimits and /proc: Linux")


@contextlib.contextmanager
def _deadline(seconds: int = 120):
    """A pipe test that regresses into a blocked open() ends the test run with the stacks printed,
    instead of hanging CI."""
    faulthandler.dump_traceback_later(seconds, exit=True, file=sys.__stderr__)  # (not capsys's, which has no fd)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@linux
def test_a_fifo_is_read_as_its_stream_not_sniffed_first(tmp_path, tiny_model_dir):
    # `vidcodec encode <(ffmpeg ... -f yuv4mpegpipe -)`, /dev/stdin, a mkfifo: the look for a .gvc
    # stream's magic read the y4m header away ("Invalid data found when processing input")
    y4m = tmp_path / "c.y4m"
    write_testsrc(y4m, frames=4, size=(64, 48), codec="rawvideo")
    fifo = tmp_path / "in"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(y4m.read_bytes()), daemon=True)
    writer.start()
    with _deadline():
        s = vidcodec.encode(fifo, tmp_path / "o.gvc", model="vaegan-tiny", quality=1)
    writer.join(30)
    assert s.frames == 4


@linux
@pytest.mark.parametrize("kind", ["mkv with sound", "raw frames"])
def test_a_fifo_with_sound_or_of_raw_frames_keeps_every_frame(tmp_path, tiny_model_dir, caplog, kind):
    # the sound's second open of the pipe took the video's bytes (9 of 40 frames, exit 0) or hung on a
    # named FIFO; raw frames lost theirs to the look for a container
    import av
    import numpy as np

    src = tmp_path / ("c.mkv" if kind == "mkv with sound" else "c.yuv")
    frames = 6
    if kind == "mkv with sound":
        with av.open(str(src), "w") as out:
            v, a = out.add_stream("libx264", rate=10), out.add_stream("aac", rate=8000)
            v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
            for i in range(frames):
                f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
                f.pts = i
                for p in v.encode(f):
                    out.mux(p)
            for i in range(5):
                af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                af.sample_rate, af.pts = 8000, 1024 * i
                for p in a.encode(af):
                    out.mux(p)
            for p in (*v.encode(), *a.encode()):
                out.mux(p)
        raw = None
    else:
        src.write_bytes(np.random.default_rng(0).integers(0, 256, frames * 64 * 48 * 3 // 2, np.uint8).tobytes())
        from vidcodec.media import RawFormat

        raw = RawFormat(64, 48, 10, "yuv420p")
    fifo = tmp_path / "in"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "wb") as w:
            w.write(src.read_bytes())

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    with caplog.at_level("WARNING", logger="vidcodec"), _deadline():
        s = vidcodec.encode(fifo, tmp_path / "o.gvc", model="vaegan-tiny", quality=1, raw=raw)
    writer.join(30)
    assert s.frames == frames
    if kind == "mkv with sound":  # its sound comes through too, described from the pipe's own packets
        assert s.audio_bytes > 0 and "audio" not in caplog.text
        by_name = vidcodec.encode(src, tmp_path / "n.gvc", model="vaegan-tiny", quality=1)
        assert (tmp_path / "o.gvc").read_bytes() == (tmp_path / "n.gvc").read_bytes() and by_name.audio_bytes


def _fed_fifo(tmp_path: Path, data: bytes) -> tuple[Path, threading.Thread]:
    fifo = tmp_path / "in"
    os.mkfifo(fifo)

    def feed():
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as w:
            w.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    return fifo, writer


@linux
def test_a_fifo_or_stdin_holding_a_gvc_stream_is_told_to_decode_it_and_an_mp4_is_spooled(tmp_path, tiny_model_dir):
    # `vidcodec encode - o.gvc < x.gvc`, `<(cat x.gvc)`: FFmpeg's "Invalid data found" had been all it said
    import io

    from vidcodec.errors import InputError

    clip = write_testsrc(tmp_path / "c.mp4", frames=40, size=(160, 120))  # its index at its end
    gvc = tmp_path / "x.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=1)
    with _deadline():
        fifo, writer = _fed_fifo(tmp_path, gvc.read_bytes())
        with pytest.raises(InputError, match=r"in \(a pipe\) is a vidcodec stream already; to re-encode it, decode "
                           r"it first \(vidcodec decode IN out\.y4m\)"):
            vidcodec.encode(fifo, tmp_path / "o.gvc", model="vaegan-tiny")
        writer.join(30)
        for stdin in (open(gvc, "rb"), io.BytesIO(gvc.read_bytes())):  # noqa: SIM115 - closed by the with below
            with stdin, pytest.raises(InputError, match=r"^stdin is a vidcodec stream already.*decode - out\.y4m"):
                vidcodec.encode("-", tmp_path / "o.gvc", model="vaegan-tiny", stdin=stdin)
        fifo.unlink()
        fifo, writer = _fed_fifo(tmp_path, b"")
        with pytest.raises(InputError, match="in is empty"):
            vidcodec.encode(fifo, tmp_path / "o.gvc", model="vaegan-tiny")
        writer.join(30)
        # an MP4 whose index comes last, as stdin's, is kept in a temporary file and read from there: the same
        # stream as by name
        fifo.unlink()
        fifo, writer = _fed_fifo(tmp_path, clip.read_bytes())
        s = vidcodec.encode(fifo, tmp_path / "f.gvc", model="vaegan-tiny", quality=1)
        writer.join(30)
    vidcodec.encode(clip, tmp_path / "n.gvc", model="vaegan-tiny", quality=1)
    assert s.frames == 40 and (tmp_path / "f.gvc").read_bytes() == (tmp_path / "n.gvc").read_bytes()


@linux
@pytest.mark.parametrize("ext", [".mp4", ".mov"])
def test_a_decode_to_a_named_pipe_in_mp4_writes_fragments(tmp_path, tiny_model_dir, ext):
    # MP4 writes its index last, where a pipe cannot go back to: the muxer's refusal had been blamed on
    # timestamps ("a stream whose timestamps jump by hours"), exit 1
    import av

    gvc = tmp_path / "x.gvc"
    vidcodec.encode(write_testsrc(tmp_path / "c.mp4", frames=7), gvc, model="vaegan-tiny", quality=1)
    fifo = tmp_path / ("out" + ext)
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    with _deadline():
        assert vidcodec.decode(gvc, fifo, overwrite=True).frames == 7
        reader.join(30)
    (tmp_path / ("got" + ext)).write_bytes(got[0])
    with av.open(str(tmp_path / ("got" + ext))) as c:
        assert len(list(c.decode(video=0))) == 7


@linux
@linux
@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".y4m"])
def test_a_decode_to_a_named_pipe_stops_when_its_reader_goes(tmp_path, tiny_model_dir, capsys, caplog, ext):
    # FFmpeg's own writes to a FIFO whose reader had gone failed without a word: the decode ran on to the
    # stream's end and said it had written every frame (mp4, mkv); y4m stopped but said its frames were kept
    gvc = tmp_path / "x.gvc"
    vidcodec.encode(write_testsrc(tmp_path / "c.mp4", frames=100, size=(320, 240)), gvc, model="vaegan-tiny",
                    quality=1, gop=10)  # (outputs well over a pipe's 64 kB buffer)
    fifo = tmp_path / ("out" + ext)
    os.mkfifo(fifo)

    def read_a_little():
        with open(fifo, "rb") as r:
            r.read(3000)

    reader = threading.Thread(target=read_a_little, daemon=True)
    reader.start()
    with _deadline(), caplog.at_level("INFO", logger="vidcodec"):
        assert cli_main(["decode", str(gvc), str(fifo), "-y"]) == 0
        reader.join(30)
    err = capsys.readouterr().err + caplog.text
    assert "output pipe closed by its reader; stopping" in err and "kept" not in err and "decoded 100" not in err
    # a decode that fails before its first frame leaves the pipe (its reader's), as it removes a file it made
    from vidcodec import container

    with container.GvcReader(gvc) as r:
        header = r.header_size
    cut = tmp_path / "cut.gvc"
    cut.write_bytes(gvc.read_bytes()[:header + 30])  # (its header, then the first packet cut off)
    reader = threading.Thread(target=read_a_little, daemon=True)
    reader.start()
    with _deadline():
        assert cli_main(["decode", str(cut), str(fifo), "-y"]) != 0
        reader.join(30)
    assert fifo.exists()


def test_a_decode_that_runs_out_of_room_says_so_and_leaves_no_unplayable_output(tmp_path, tiny_model_dir):
    # a full disk (here the file-size limit, EFBIG, one of the same errors) at the MP4/MKV trailer had been
    # "aac audio cannot go into .mkv (No space left on device)", exit 2, after "the frames decoded before
    # the error below are kept" of a file it had removed; a y4m or a picture cut short was left behind; at
    # the first packet, the audio that leads the video (where FFmpeg writes the header), the file had been
    # "the audio could not be written on" before the error, and the encoder's flush into an MP4 whose
    # header had failed crashed the process (SIGSEGV)
    import signal

    from test_audio import write_av_clip

    gvc, leading = tmp_path / "x.gvc", tmp_path / "lead.gvc"
    vidcodec.encode(write_av_clip(tmp_path / "c.mp4", frames=6, size=(96, 64)), gvc, model="vaegan-tiny", quality=1)
    vidcodec.encode(write_av_clip(tmp_path / "b.mkv", frames=6, size=(96, 64), bframes=2), leading,  # video from
                    model="vaegan-tiny", quality=1)  # its first B frame's delay, the sound from 0
    silent = tmp_path / "silent.gvc"
    vidcodec.encode(tmp_path / "c.mp4", silent, model="vaegan-tiny", quality=1, audio=False)

    def small_files(limit: int):
        def limited():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), not the process
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return limited

    for stream, name, limit in ((gvc, "o.mkv", 4000), (gvc, "o.mp4", 4000), (gvc, "o.y4m", 4000),
                                (gvc, "f%03d.png", 100), (leading, "o.mkv", 1), (leading, "o.mp4", 1),
                                (gvc, "o.mp4", 1), (silent, "o.mp4", 1)):  # (a crash; a 1-byte o.mp4 left)
        r = subprocess.run([sys.executable, "-m", "vidcodec", "decode", str(stream), str(tmp_path / name), "-q"],
                           check=False, stderr=subprocess.PIPE, text=True, preexec_fn=small_files(limit),
                           env=_env(), timeout=300)
        assert r.returncode == 1 and "File too large" in r.stderr and "audio" not in r.stderr, (name, r.stderr)
        assert "kept" not in r.stderr and "Traceback" not in r.stderr
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(("o.", "f0"))], name


INTERRUPTED_TRAILER = """
import contextlib, os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from vidcodec import media
from vidcodec.cli import main
real = media.whole
@contextlib.contextmanager
def whole():  # Ctrl-C while the trailer is written: held to the end of its block
    with real():
        try:
            yield
        finally:
            if sys._getframe(2).f_code.co_name == "_trailer":
                os.kill(os.getpid(), signal.SIGINT)
media.whole = whole
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("limit", [1, 3000, 10**9])
def test_an_interrupt_while_a_failed_output_is_closed_leaves_no_unplayable_file(tmp_path, tiny_model_dir, limit):
    # the file had been left (1 byte; 3000 bytes of an MP4 without its moov) with "(N frames decoded
    # before it, in o.mp4)"; with room, the finished file stays and is said
    gvc = tmp_path / "x.gvc"
    vidcodec.encode(write_testsrc(tmp_path / "c.mp4", frames=40, size=(96, 64)), gvc, model="vaegan-tiny", quality=1)
    out = tmp_path / "o.mp4"
    r = subprocess.run([sys.executable, "-c", INTERRUPTED_TRAILER, str(limit), "decode", str(gvc), str(out), "-y"],
                       check=False, stderr=subprocess.PIPE, text=True, env=_env(), timeout=300)
    assert r.returncode == 130 and "Traceback" not in r.stderr, r.stderr
    if limit == 10**9:
        assert "40 frames decoded before it, in" in r.stderr and out.stat().st_size > 3000
    else:
        assert not out.exists() and "decoded before it" not in r.stderr, r.stderr


@pytest.mark.parametrize("limit", [1, 500])
def test_a_gvc_whose_header_cannot_be_written_is_not_left_behind(tmp_path, tiny_model_dir, limit):
    # close() after the failed header write flushed the same bytes again and failed again, before the
    # file was handed to what removes it: a 1-byte or 500-byte o.gvc (or seg000.gvc) stayed
    import signal

    from test_audio import write_av_clip

    clip = write_av_clip(tmp_path / "c.mp4", frames=6, size=(96, 64))
    gvc = tmp_path / "x.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=1)

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    for argv, out in ((["encode", str(clip), "--model", "vaegan-tiny"], "o.gvc"), (["remux", str(gvc)], "o.gvc"),
                      (["remux", str(gvc), "--segment-time", "0.1"], "seg%03d.gvc")):
        r = subprocess.run([sys.executable, "-m", "vidcodec", *argv, str(tmp_path / out), "-q"], check=False,
                           stderr=subprocess.PIPE, text=True, preexec_fn=limited, env=_env(), timeout=300)
        assert r.returncode == 1 and "File too large" in r.stderr and "Traceback" not in r.stderr, (argv, r.stderr)
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(("o.", "seg"))], (argv, r.stderr)


@pytest.mark.parametrize(("fmt", "room"), [("nut", 100_000), ("nut", -1), ("y4m", 100_000), ("y4m", -1)])
def test_a_full_disk_under_stdout_is_said_as_that(tmp_path, tiny_model_dir, fmt, room):
    # the error had been "could not finish the stream on stdout: [Errno 1447131472] Error in PyAV
    # callback: '<none>'" (the pipe's own EFBIG, sticky in FFmpeg's I/O, surfaced at the trailer)
    import signal

    gvc = tmp_path / "x.gvc"
    vidcodec.encode(write_testsrc(tmp_path / "c.mp4", frames=30, size=(96, 64)), gvc, model="vaegan-tiny", quality=1)

    if room < 0:  # one byte short of the whole output: the trailer's write fails
        room = len(subprocess.run([sys.executable, "-m", "vidcodec", "decode", str(gvc), "-f", fmt, "-", "-q"],
                                  check=True, stdout=subprocess.PIPE, env=_env(), timeout=300).stdout) - 1

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))

    with open(tmp_path / "o.out", "wb") as f:
        r = subprocess.run([sys.executable, "-m", "vidcodec", "decode", str(gvc), "-f", fmt, "-", "-q"],
                           check=False, stdout=f, stderr=subprocess.PIPE, text=True, preexec_fn=limited,
                           env=_env(), timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().endswith("stdout: File too large"), r.stderr


def test_a_gvc_stream_that_runs_out_of_room_names_stdout_or_keeps_its_frames(tmp_path, tiny_model_dir):
    # encode and remux to - on a full disk had said only "File too large"; to a file they kept the cut-off
    # stream without a word (decode says how many frames it keeps), with a second "could not finish" line
    import signal

    from vidcodec.errors import TruncatedStreamError

    clip = write_testsrc(tmp_path / "c.mp4", frames=30, size=(96, 64))
    gvc = tmp_path / "x.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=1)

    room = gvc.stat().st_size // 2

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))

    for verb, args in (("encode", [str(clip), "--model", "vaegan-tiny", "--quality", "1"]), ("remux", [str(gvc)])):
        with open(tmp_path / "o.out", "wb") as f:
            r = subprocess.run([sys.executable, "-m", "vidcodec", verb, *args, "-", "-q"], check=False, stdout=f,
                               stderr=subprocess.PIPE, text=True, preexec_fn=limited, env=_env(), timeout=300)
        assert r.returncode == 1 and r.stderr == f"vidcodec {verb}: error: stdout: File too large\n", r.stderr
        out = tmp_path / f"{verb}.gvc"
        r = subprocess.run([sys.executable, "-m", "vidcodec", verb, *args, str(out)], check=False,
                           stderr=subprocess.PIPE, text=True, preexec_fn=limited, env=_env(), timeout=300)
        lines = r.stderr.splitlines()
        assert r.returncode == 1 and len(lines) == 2, r.stderr
        assert lines[1] == f"vidcodec {verb}: error: cannot write {out}: File too large", r.stderr
        said = int(lines[0].split(" the ")[1].split()[0])
        assert lines[0] == (f"vidcodec: {out}: the {said} frames {'encoded' if verb == 'encode' else 'copied'} "
                            "before the error below are kept"), r.stderr
        decoded = 0
        with pytest.raises(TruncatedStreamError):
            for _ in vidcodec.frames(out):
                decoded += 1
        assert 0 < said == decoded < 30


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="--workers forks on Linux only")
def test_workers_that_cannot_make_their_locks_say_so(tmp_path, tiny_model_dir):
    # a file-size limit of 0 (or a full or missing /dev/shm) fails multiprocessing's locks: the error
    # had been a bare "vidcodec encode: error: File too large" on a stream to stdout
    import signal

    clip = write_testsrc(tmp_path / "c.mp4", frames=4, size=(64, 48))

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    r = subprocess.run([sys.executable, "-m", "vidcodec", "encode", str(clip), "-", "--model", "vaegan-tiny",
                        "--workers", "2", "--gop", "2"], check=False, capture_output=True,
                       text=True, preexec_fn=limited, env=_env(), timeout=300)
    assert r.returncode == 1 and r.stdout == "", r.stderr
    assert r.stderr == ("vidcodec encode: error: --workers 2: the worker processes' shared locks could not be made "
                        "(File too large; on Linux they are files in /dev/shm): give /dev/shm room, or leave "
                        "--workers out to code in this process\n"), r.stderr


def test_a_report_that_runs_out_of_room_leaves_the_old_one_and_names_the_file(tmp_path):
    # eval's points.json, bdrate.csv, summary.csv and --json had been left truncated (0 or 4096 bytes) and
    # the error named no file ("No space left on device")
    report = tmp_path / "points.json"
    report.write_text("old\n")
    script = ("import resource, signal, sys\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
              "from vidcodec.outputs import write_file\n"
              "try:\n"
              "    write_file(sys.argv[1], 'x' * 10000)\n"
              "except OSError as e:\n"
              "    print(e.errno, e.filename)\n")
    r = subprocess.run([sys.executable, "-c", script, str(report)], check=True, stdout=subprocess.PIPE, text=True,
                       env=_env(), timeout=120)
    assert r.stdout.split() == [str(errno.EFBIG), str(report)]
    assert report.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["points.json"]
    from vidcodec.outputs import _umask, write_file

    report.chmod(0o600)
    write_file(report, "new\n")  # its permissions kept; a new file gets the usual ones
    assert report.read_text() == "new\n" and report.stat().st_mode & 0o777 == 0o600
    assert write_file(tmp_path / "fresh.csv", "a\n").stat().st_mode & 0o777 == 0o666 & ~_umask()
    with pytest.raises(FileNotFoundError) as e:  # named as given, not by its temporary file
        write_file(tmp_path / "nope" / "a.json", "x")
    assert e.value.filename == str(tmp_path / "nope" / "a.json")
    (tmp_path / "fresh.csv").unlink()
    link = tmp_path / "link.json"
    link.symlink_to(report)
    write_file(link, "linked\n")  # written through: the link stays (/dev/stdout's file is the shell's)
    assert link.is_symlink() and report.read_text() == "linked\n"
    to_stdout = "from vidcodec.outputs import write_file; write_file('/dev/stdout', 'to stdout')"
    r = subprocess.run([sys.executable, "-c", to_stdout], check=True, stdout=subprocess.PIPE, text=True, env=_env(),
                       timeout=120)
    assert r.stdout == "to stdout" and Path("/dev/stdout").is_symlink()


def test_a_segment_that_runs_out_of_room_is_named(tmp_path, tiny_model_dir):
    # the error had named the pattern ("cannot write seg%02d.gvc: File too large"), not the file
    import signal

    gvc = tmp_path / "x.gvc"
    vidcodec.encode(write_testsrc(tmp_path / "c.mp4", frames=12), gvc, model="vaegan-tiny", quality=1, gop=4)

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (gvc.stat().st_size // 2, gvc.stat().st_size // 2))

    r = subprocess.run([sys.executable, "-m", "vidcodec", "remux", str(gvc), str(tmp_path / "seg%02d.gvc"),
                        "--segment-time", "0.1", "-q"], check=False, stderr=subprocess.PIPE, text=True,
                       preexec_fn=limited, env=_env(), timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"{tmp_path / 'seg00.gvc'}: File too large" in r.stderr, r.stderr


@linux
def test_a_named_pipe_is_read_as_stdin_is_start_and_sound_included(tmp_path, tiny_model_dir, caplog):
    # a FIFO had been taken for a seekable file: --start sought in it (exit 0 with no output in NUT, other
    # frames in MPEG-TS and FLV); one spooled (an MP4 whose index comes last) described its sound from the
    # first 2 s, where the spool can be read again as stdin's is; random bytes were spooled to a full disk
    from test_audio import _audio_from, remuxed, write_av_clip

    clip = write_av_clip(tmp_path / "c.mp4", frames=30)
    for fmt, start in (("nut", 1), ("mpegts", 1.3)):
        src = remuxed(clip, tmp_path / f"c.{fmt}", fmt)
        with _deadline():
            fifo, writer = _fed_fifo(tmp_path, src.read_bytes())
            piped = vidcodec.encode(fifo, tmp_path / "f.gvc", model="vaegan-tiny", quality=1, start=start,
                                    overwrite=True)
            writer.join(30)
            fifo.unlink()
        named = vidcodec.encode(src, tmp_path / "n.gvc", model="vaegan-tiny", quality=1, start=start, overwrite=True)
        assert piped.frames == named.frames and piped.audio_bytes == named.audio_bytes > 0, fmt
        assert (tmp_path / "f.gvc").read_bytes() == (tmp_path / "n.gvc").read_bytes(), fmt
    late = _audio_from(write_av_clip(tmp_path / "l.mkv", frames=40), tmp_path / "late.mkv", 3)
    remuxed(late, tmp_path / "late.mp4")  # (its index last)
    with _deadline():
        fifo, writer = _fed_fifo(tmp_path, (tmp_path / "late.mp4").read_bytes())
        piped = vidcodec.encode(fifo, tmp_path / "f.gvc", model="vaegan-tiny", quality=1, overwrite=True)
        writer.join(30)
        fifo.unlink()
        named = vidcodec.encode(tmp_path / "late.mp4", tmp_path / "n.gvc", model="vaegan-tiny", quality=1,
                                overwrite=True)
        assert piped.audio_bytes == named.audio_bytes > 0
        assert (tmp_path / "f.gvc").read_bytes() == (tmp_path / "n.gvc").read_bytes()
        fifo, writer = _fed_fifo(tmp_path, os.urandom(1 << 20) * 8)
        with caplog.at_level("INFO", logger="vidcodec"), pytest.raises(vidcodec.errors.InputError, match="cannot open"):
            vidcodec.encode(fifo, tmp_path / "g.gvc", model="vaegan-tiny")
        assert "spooled" not in caplog.text
        fifo.unlink()  # (its writer ends with a broken pipe)


def test_a_start_whose_seek_lands_at_the_end_is_not_the_inputs_end(tmp_path, tiny_model_dir):
    # MPEG-TS seeks by bytes: on a short file the seek for --start can land at its end; read again from its
    # start, the input was still marked ended, and -t then wrote all the rest of its sound after the video
    import subprocess

    ts = tmp_path / "c.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=4", "-f",
                    "lavfi", "-i", "sine=frequency=440:duration=4", "-c:v", "libx264", "-g", "100", "-c:a", "aac",
                    "-f", "mpegts", str(ts)], check=True)
    import io

    from test_live import Pipe

    named = vidcodec.encode(ts, tmp_path / "n.gvc", model="vaegan-tiny", quality=1, start=0.5, duration=1)
    piped = vidcodec.encode("-", tmp_path / "p.gvc", model="vaegan-tiny", quality=1, start=0.5, duration=1,
                            stdin=io.BufferedReader(Pipe(ts.read_bytes())))
    assert named.frames == piped.frames == 25 and named.audio_bytes == piped.audio_bytes
    assert (tmp_path / "n.gvc").read_bytes() == (tmp_path / "p.gvc").read_bytes()


@linux
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_pipe_that_stalls_while_ffmpeg_probes_it_can_be_stopped(tmp_path, tiny_model_dir, sig):
    # the signal's exception was raised inside PyAV's read of the pipe: printed ("Exception ignored in
    # pyio_read_gil") and dropped, and FFmpeg read again, for ever; only SIGKILL ended it
    import signal
    import time

    from test_audio import _audio_from, write_av_clip

    # probing waits for the audio, which the part sent does not reach
    late = _audio_from(write_av_clip(tmp_path / "c.mkv", frames=150, size=(160, 120)), tmp_path / "late.mkv", 10)
    proc = subprocess.Popen([sys.executable, "-m", "vidcodec", "encode", "-", str(tmp_path / "o.gvc"),
                             "--model", "vaegan-tiny"], stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        proc.stdin.write(late.read_bytes()[:len(late.read_bytes()) // 5])  # 3 s, then nothing (the pipe held open)
        proc.stdin.flush()
        time.sleep(3)  # (the import, then FFmpeg's probing waits on the pipe)
        proc.send_signal(getattr(signal, sig))
        code = proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.stdin.close()
    err = proc.stderr.read().decode()
    assert code == {"SIGINT": 130, "SIGTERM": 143}[sig], err
    assert "Exception ignored" not in err and "Traceback" not in err


def test_a_local_name_with_a_colon_is_not_taken_for_a_protocol(tmp_path, tiny_model_dir, monkeypatch):
    # ffmpeg opens ./12:30.mp4; Path drops the ./ and FFmpeg took "12" for a protocol
    monkeypatch.chdir(tmp_path)
    write_testsrc(Path("c.mp4"), frames=3, size=(64, 48)).rename("12:30.mp4")
    assert vidcodec.encode("./12:30.mp4", "a:b.gvc", model="vaegan-tiny", quality=1).frames == 3
    assert vidcodec.decode("a:b.gvc", "./1:2.mkv").frames == 3
    assert vidcodec.decode("a:b.gvc", "1:2.y4m").frames == 3
    from vidcodec.media import ffmpeg_name

    assert ffmpeg_name("12:30.mp4") == "file:12:30.mp4" and ffmpeg_name("/a/12:30.mp4") == "/a/12:30.mp4"
    assert ffmpeg_name("sub/1:2.mkv") == "sub/1:2.mkv" and ffmpeg_name(Path("clip.mp4")) == "clip.mp4"
    # an image sequence, and a training run's video reader
    vidcodec.decode("a:b.gvc", "1:2_%03d.png")
    assert vidcodec.encode("1:2_%03d.png", "seq.gvc", model="vaegan-tiny", quality=1).frames == 3
    from vidcodec.train.data import sample_video_frames

    assert len(sample_video_frames(Path("12:30.mp4"), 2)) == 2


@linux
def test_a_closed_stdout_is_nowhere_for_text_and_an_error_for_a_pipe(tmp_path, tiny_model_dir):
    # `>&-` (cron, daemons): the summary's flush had been a traceback, exit 1, after the work was done
    clip = write_testsrc(tmp_path / "c.mp4", frames=2, size=(64, 48))
    run = [sys.executable, "-m", "vidcodec"]
    r = subprocess.run([*run, "encode", str(clip), str(tmp_path / "o.gvc"), "--model", "vaegan-tiny"], check=False,
                       capture_output=False, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.close(1),
                       env=_env(), timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr and (tmp_path / "o.gvc").exists()
    r = subprocess.run([*run, "info", str(tmp_path / "o.gvc")], check=False, stderr=subprocess.PIPE, text=True,
                       preexec_fn=lambda: os.close(1), env=_env(), timeout=300)
    assert r.returncode == 0 and r.stderr == ""
    r = subprocess.run([*run, "encode", str(clip), "-", "--model", "vaegan-tiny"], check=False,
                       stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.close(1), env=_env(), timeout=300)
    assert r.returncode == 2 and "stdout is closed (>&-): give an output file" in r.stderr
    # a caller's second main([...]) in that process: "-" is still refused (it had gone to /dev/null)
    code = ("import sys; from vidcodec.cli import main; a = main(['info', sys.argv[1]]); "
            "b = main(['encode', sys.argv[2], '-', '--model', 'vaegan-tiny']); sys.stderr.write(f'{a} {b}')")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "o.gvc"), str(clip)], check=False,
                       stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.close(1), env=_env(), timeout=300)
    assert r.stderr.endswith("0 2") and "stdout is closed" in r.stderr


@linux
def test_workers_that_fail_to_start_do_not_hang_the_exit(tmp_path, tiny_model_dir):
    # few descriptors (ulimit -n 15): "Too many open files", then the exit joined the started workers for ever
    clip = write_testsrc(tmp_path / "c.mp4", frames=4, size=(64, 48))

    def few_descriptors():
        resource.setrlimit(resource.RLIMIT_NOFILE, (15, 15))

    r = subprocess.run([sys.executable, "-m", "vidcodec", "encode", str(clip), str(tmp_path / "o.gvc"), "--model",
                        "vaegan-tiny", "--workers", "2", "--gop", "2"], check=False, capture_output=True, text=True,
                       preexec_fn=few_descriptors, env=_env(), timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_running_out_of_memory_is_one_line(capsys, monkeypatch, tmp_path):
    assert _out_of_memory(MemoryError()) and not _out_of_memory(RuntimeError("shape mismatch"))
    assert _out_of_memory(RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : ... std::bad_alloc"))
    assert _out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert _out_of_memory(type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory. Tried to allocate 2 GiB"))
    assert _out_of_memory(RuntimeError("[ONNXRuntimeError] : 1 : FAIL : CUDA failure 2: out of memory ; GPU=0"))
    from vidcodec import cli

    def starved(args):
        raise MemoryError("Unable to allocate 12.5 GiB")

    monkeypatch.setattr(cli, "_cmd_info", starved)
    gvc = tmp_path / "x.gvc"
    gvc.write_bytes(b"")
    assert cli_main(["info", str(gvc)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vidcodec info: error: out of memory:") and err.count("\n") == 1


def test_thread_counts_from_the_environment_are_capped(monkeypatch):
    # VIDCODEC_THREADS=100000 made 32000 threads and 17 GB; 3e9 overflowed ONNX Runtime's int
    monkeypatch.setattr(runtime, "_warned_env", set())
    monkeypatch.setenv("VIDCODEC_THREADS", "100000")
    most = runtime.MAX_THREADS_PER_CPU * runtime.usable_cpus()
    assert runtime.default_threads() == most
    monkeypatch.setenv("VIDCODEC_THREADS", "3000000000")
    assert runtime.default_threads() == most
    monkeypatch.setenv("VIDCODEC_THREADS", "1")
    assert runtime.default_threads() == 1


@pytest.mark.parametrize("name", ["mps", "xpu", "meta"])
def test_a_torch_device_vidcodec_cannot_use_is_a_usage_error(monkeypatch, name):
    from vidcodec.models import zoo

    monkeypatch.setenv("VIDCODEC_TORCH_DEVICE", name)
    zoo.torch_device.cache_clear()  # (read once a process)
    try:
        with pytest.raises(UsageError, match=rf"VIDCODEC_TORCH_DEVICE={name}: vidcodec runs its networks on cpu or cuda"):
            zoo.torch_device()
    finally:
        monkeypatch.delenv("VIDCODEC_TORCH_DEVICE")
        zoo.torch_device.cache_clear()


def test_torchrun_variables_that_are_not_numbers_are_usage_errors(monkeypatch):
    from vidcodec.train.vaegan import _launcher_int

    monkeypatch.setenv("WORLD_SIZE", "abc")
    with pytest.raises(UsageError, match=r"WORLD_SIZE='abc': torchrun sets it to a whole number"):
        _launcher_int("WORLD_SIZE", 1)
    monkeypatch.delenv("WORLD_SIZE")
    assert _launcher_int("WORLD_SIZE", 1) == 1
    monkeypatch.setenv("RANK", "3")
    assert _launcher_int("RANK", 0) == 3


def test_a_checkpoint_on_a_full_disk_is_an_os_error_naming_it(tmp_path, monkeypatch):
    import torch
    from safetensors import SafetensorError

    from vidcodec.train import checkpoint

    def full(*a, **k):
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull })")

    monkeypatch.setattr(checkpoint, "save_file", full)
    with pytest.raises(OSError, match=r"cannot write .*last.safetensors: Error while serializing"):
        checkpoint.atomic_save_file(tmp_path / "last.safetensors", {"a": torch.zeros(1)})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("verb", ["decode", "remux"])
def test_an_output_named_like_a_folder_is_refused(tmp_path, tiny_model_dir, capsys, verb):
    # Path() drops the slash: `decode x.gvc out.mp4/` had written a file out.mp4
    clip = write_testsrc(tmp_path / "c.mp4", frames=2, size=(64, 48))
    vidcodec.encode(clip, tmp_path / "x.gvc", model="vaegan-tiny", quality=1)
    out = f"{tmp_path}/{'out.mp4' if verb == 'decode' else 'out.gvc'}/"
    assert cli_main([verb, str(tmp_path / "x.gvc"), out]) == 2
    assert "ends with a slash, as a folder does" in capsys.readouterr().err
    assert not Path(out).exists()
