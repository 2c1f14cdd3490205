"""Live streaming: parameters packets before keyframes, joining mid-stream, raw frames from a pipe."""

from __future__ import annotations

import io
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from conftest import write_testsrc

import vidcodec
from vidcodec import api, container, media
from vidcodec.errors import FormatError


class Pipe(io.RawIOBase):
    """A non-seekable byte source, like a socket or a pipe."""

    def __init__(self, data: bytes) -> None:
        self._b = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        chunk = self._b.read(len(buf))
        buf[: len(chunk)] = chunk
        return len(chunk)


@pytest.fixture
def live(tmp_path, tiny_model_dir):
    clip = write_testsrc(tmp_path / "c.mp4", frames=12, size=(64, 48), rate=10)
    out = io.BytesIO()
    vidcodec.encode(clip, out, model="vaegan-tiny", quality=2, gop=4, repeat_header=True)
    plain = tmp_path / "plain.gvc"
    vidcodec.encode(clip, plain, model="vaegan-tiny", quality=2, gop=4)
    return out.getvalue(), plain


def _packets(data: bytes) -> list[container.Packet]:
    with container.GvcReader(io.BytesIO(data)) as r:
        return list(r)


def test_parameters_packet_precedes_every_keyframe_and_decoders_skip_it(live, tmp_path):
    data, plain = live
    with container.GvcReader(io.BytesIO(data)) as r:
        assert r.version == container.FORMAT_VERSION == (15, 0)
        kinds = [p.kind for p in r]
    assert kinds == [3, 1, 2, 2, 2] * 3
    with container.GvcReader(io.BytesIO(data)) as r:
        params = [p for p in r if p.kind == container.PacketType.PARAMETERS]
    assert all(p.payload == container.encode_header(container.decode_header(p.payload)) for p in params)
    (tmp_path / "live.gvc").write_bytes(data)
    a = [f.rgb for f in vidcodec.frames(tmp_path / "live.gvc")]
    b = [f.rgb for f in vidcodec.frames(plain)]
    assert len(a) == 12 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert plain.stat().st_size < len(data)  # files get no repeated headers by default


@pytest.mark.parametrize("cut_into", ["header", "gop1_delta", "gop2_params"])
def test_a_reader_joins_mid_stream_at_the_next_keyframe(live, tmp_path, cut_into):
    data, _ = live
    offsets = [p.offset for p in _packets(data)]
    cut = {"header": 10, "gop1_delta": offsets[2] + 5, "gop2_params": offsets[5] + 3}[cut_into]
    tail = data[cut:]
    with container.GvcReader(Pipe(tail)) as r:
        assert r.joined_at is not None and not r.seekable
        got = [p for p in r]
    assert got[0].kind == container.PacketType.KEY
    first_key = {"header": 0, "gop1_delta": 4, "gop2_params": 8}[cut_into]  # frame number
    full = list(vidcodec.frames(io.BytesIO(data)))
    assert got[0].pts == full[first_key].pts
    joined = list(vidcodec.frames(Pipe(tail)))
    assert [f.pts for f in joined] == [f.pts for f in full[first_key:]]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(joined, full[first_key:]))
    assert not any(f.concealed for f in joined)
    # info's header is the parameters packet it joined at, not the bytes skipped before it too
    r = container.probe(Pipe(tail))
    params = next(p for p in _packets(data) if p.kind == container.PacketType.PARAMETERS and p.offset >= cut)
    assert (r["joined_at"], r["header_size"]) == (params.offset - cut, params.header_size + len(params.payload))
    assert r["bytes"] == len(tail) - r["joined_at"]  # the stream from there, not the bytes skipped before it


def test_a_late_joiners_progress_has_no_total_from_the_whole_stream(live, tmp_path, monkeypatch, capsys):
    """The header's frame count is the whole stream's: a receiver that joined at frame 4 of 12 once read
    "8 of 12 frames" at its end. Joined mid-way, the count is unknown; from the start it is the header's."""
    from vidcodec import progress

    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)  # a progress line at every frame
    monkeypatch.setattr(progress, "_terminal", lambda: False)
    data, _ = live
    offsets = [p.offset for p in _packets(data)]
    vidcodec.decode(Pipe(data[offsets[5]:]), tmp_path / "late.y4m", progress=True)
    late = capsys.readouterr().err
    vidcodec.decode(Pipe(data), tmp_path / "all.y4m", progress=True)
    whole = capsys.readouterr().err
    assert "decode: 8 frames," in late and " of 12 " not in late
    assert "decode: 12 of 12 frames" in whole
    # only the total: a one-frame stream joined at its parameters packet still makes one picture unasked
    clip = write_testsrc(tmp_path / "one.mp4", frames=1, size=(64, 48), rate=10)
    one = io.BytesIO()
    vidcodec.encode(clip, one, model="vaegan-tiny", quality=2, repeat_header=True)
    joined = one.getvalue()[_packets(one.getvalue())[0].offset:]
    assert vidcodec.decode(Pipe(joined), tmp_path / "thumb.png").frames == 1


def test_a_stream_joined_after_its_last_parameters_packet_is_named_as_such(live):
    """Not 'bad magic ... did you mean encode': the bytes are .gvc packets, with no header to come."""
    data, plain = live
    last_params = [p.offset for p in _packets(data) if p.kind == container.PacketType.PARAMETERS][-1]
    for tail in (data[last_params + 3:], plain.read_bytes()[40:]):  # a file's stream repeats no header
        with pytest.raises(FormatError, match="joined mid-way, but no stream header .* follows"):
            container.GvcReader(Pipe(tail))


def test_garbage_is_still_not_a_gvc_stream():
    with pytest.raises(FormatError, match="not a .gvc"):
        container.GvcReader(io.BytesIO(b"\x00\x01 definitely not a stream" * 100))


def test_cli_live_pipe_of_raw_frames_to_stdout_and_a_late_joiner(tmp_path, tiny_model_dir):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    frames = [base] * 9  # a still scene: deltas are cheap, so keyframes come only every --gop frames
    raw = b"".join(f.tobytes() for f in frames)
    enc = subprocess.run(
        [sys.executable, "-m", "vidcodec", "encode", "-", "-", "--size", "64x48", "--fps", "10", "--pix-fmt",
         "rgb24", "--model", "vaegan-tiny", "--quality", "3", "--gop", "3", "-q"],
        input=raw, capture_output=True, timeout=120, check=False)
    assert enc.returncode == 0, enc.stderr.decode()
    data = enc.stdout
    kinds = [p.kind for p in _packets(data)]
    assert kinds.count(container.PacketType.PARAMETERS) == kinds.count(container.PacketType.KEY) == 3
    offsets = [p.offset for p in _packets(data)]
    dec = subprocess.run([sys.executable, "-m", "vidcodec", "decode", "-", str(tmp_path / "j.y4m"), "-q"],
                         input=data[offsets[2]:], capture_output=True, timeout=120, check=False)
    assert dec.returncode == 0, dec.stderr.decode()
    assert len(list(media.open_source(tmp_path / "j.y4m"))) == 6  # joined at the second keyframe


def test_raw_input_that_ends_inside_a_frame_says_so(tmp_path, tiny_model_dir, caplog):
    raw = media.RawFormat(64, 48, Fraction(25), "rgb24")
    data = np.full((3, 48, 64, 3), 90, np.uint8).tobytes() + bytes(1000)  # 3 frames and part of a 4th
    s = vidcodec.encode("-", tmp_path / "r.gvc", stdin=io.BytesIO(data), raw=raw, model="vaegan-tiny", quality=1)
    assert s.frames == 3
    assert "the input ends inside a frame (1000 bytes of it): that partial frame is dropped" in caplog.text
    assert "avcodec_send_packet" not in caplog.text


def test_raw_frames_in_the_api_and_their_errors(tmp_path, tiny_model_dir):
    raw = media.RawFormat(64, 48, Fraction(25), "rgb24")
    data = np.full((3, 48, 64, 3), 90, np.uint8).tobytes()
    s = vidcodec.encode("-", tmp_path / "r.gvc", stdin=io.BytesIO(data), raw=raw, model="vaegan-tiny", quality=1)
    assert (s.frames, s.width, s.height) == (3, 64, 48)
    h = container.probe(tmp_path / "r.gvc")["header"]
    assert h["frame_rate"] in ("25/1", [25, 1], (25, 1))
    from vidcodec.cli import main as cli_main

    assert cli_main(["encode", "-", str(tmp_path / "x.gvc"), "--size", "64x48", "--fps", "0", "-q"]) == 2


def test_a_pipes_bytes_reach_the_demuxer_as_they_arrive():
    """The streamable-stdin reader hands over what the pipe holds (read1), not a full buffer: with
    read(), a live Matroska pipe's first packet came 2 s later."""
    import os
    import threading

    r, w = os.pipe()
    with open(r, "rb") as pipe, open(w, "wb", buffering=0) as sender:
        sender.write(b"x" * 100)  # far less than FFmpeg asks for, and the sender stays open
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(media._PrefixedReader(b"head", pipe).read(4)
                                                            + media._PrefixedReader(b"", pipe).read(65536)))
        reader.daemon = True
        reader.start()
        reader.join(5)
        assert not reader.is_alive(), "the read waited for a full buffer"
        assert got == [b"head" + b"x" * 100]


def test_a_named_pipe_output_counts_as_live(tmp_path):
    import os

    fifo = tmp_path / "f.gvc"
    os.mkfifo(fifo)
    assert api._is_live(fifo) and api._is_live(str(fifo))
    (tmp_path / "file.gvc").write_bytes(b"")
    assert not api._is_live(tmp_path / "file.gvc") and not api._is_live(tmp_path / "new.gvc")


def test_torch_is_imported_while_a_pipe_or_url_keeps_the_encoder_waiting(tiny_model_dir, tmp_path, monkeypatch):
    from vidcodec.models import zoo

    calls = []
    monkeypatch.setattr(zoo, "warm_bf16", lambda: calls.append(1))
    monkeypatch.setattr(api, "WARM_AFTER_S", 0.05)  # far less than the pipe below waits: no race on a busy VM
    clip = write_testsrc(tmp_path / "c.mp4", frames=3)
    mkv = tmp_path / "c.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-c", "copy", str(mkv)], check=True)
    kw = {"model": "vaegan-tiny", "quality": 2}

    def late_pipe(**extra):  # a pipe whose sender starts 1 s after the encoder
        import os
        import threading
        import time

        r, w = os.pipe()

        def send():
            time.sleep(1.0)
            with open(w, "wb") as sender:
                sender.write(mkv.read_bytes())

        sending = threading.Thread(target=send)
        sending.start()
        with open(r, "rb") as pipe:
            vidcodec.encode("-", io.BytesIO(), stdin=pipe, **kw, **extra)
        sending.join()

    late_pipe()
    assert calls == [1]
    vidcodec.encode(clip, io.BytesIO(), **kw)  # a file: its length is known, nothing to wait for
    late_pipe(max_frames=10)  # int8 anyway
    late_pipe(backend="ort")
    assert calls == [1]


def test_a_pipe_read_against_a_deadline_ends_there_holds_a_signal_and_loses_no_byte():
    """read_audio_to's wait on a pipe (reader.deadline): what the BufferedReader holds comes first, then
    the pipe below it until the deadline, then its end; a signal met in the wait is held as in any read
    (review: one raised there went into PyAV's callback, which dropped it, and the encode exited 0); a
    reader that is not the pipe itself (a decompressor) is read through, never below."""
    import os
    import signal
    import time

    r, w = os.pipe()
    os.write(w, b"0123456789")
    with os.fdopen(r, "rb") as pipe:
        assert pipe.read(2) == b"01"  # the BufferedReader now holds 8 bytes, the pipe none
        reader = media._PrefixedReader(b"", pipe)
        reader.deadline = time.monotonic() + 0.3
        assert reader.read(100) == b"23456789"
        t = time.monotonic()
        assert reader.read(100) == b"" and 0.2 < time.monotonic() - t < 2  # the deadline: its end
        reader.deadline = time.monotonic() + 10

        def interrupt(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGALRM, interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            assert reader.read(100) == b"" and isinstance(reader.held, KeyboardInterrupt)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    os.close(w)

    class Inflating(io.RawIOBase):  # e.g. lzma.open(pipe): its descriptor's bytes are not what it gives
        def __init__(self, fd: int) -> None:
            self._fd = fd

        def readable(self) -> bool:
            return True

        def fileno(self) -> int:
            return self._fd

        def read(self, n: int = -1) -> bytes:
            return b"media"

    r, w = os.pipe()
    os.write(w, b"compressed")
    try:
        reader = media._PrefixedReader(b"", Inflating(r))
        reader.deadline = time.monotonic() + 1
        assert reader.read(100) == b"media"
    finally:
        os.close(r)
        os.close(w)


def test_the_stdin_reader_takes_custom_readers_as_they_are(tmp_path):
    class Buffered(io.BufferedIOBase):  # read only: its inherited read1 raises
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            return self._data.read(n)

    assert media._PrefixedReader(b"ab", Buffered(b"cdef")).read(2) == b"ab"
    assert media._PrefixedReader(b"", Buffered(b"cdef")).read(10) == b"cdef"
