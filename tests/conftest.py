"""Shared fixtures: a tiny model on the model search path, small synthetic clips."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vidcodec import runtime as _runtime

DATA = Path(__file__).parent / "data"


REAL_BF16_PAYS = _runtime.bf16_pays  # before the session fixture below replaces it
REAL_JUDGE_PAYS = _runtime.judge_pays  # likewise
REAL_BF16_DECODE_PAYS = _runtime.bf16_decode_pays


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache_and_threads(tmp_path_factory) -> None:
    """ONNX exports go to a temporary cache, never the home folder; ONNX Runtime and torch use one thread.

    The tiny test model is ~50x slower with two threads fighting over two busy cores.
    """
    saved = {k: os.environ.get(k) for k in ("VIDCODEC_CACHE", "VIDCODEC_THREADS")}
    os.environ["VIDCODEC_CACHE"] = str(tmp_path_factory.mktemp("vidcodec-cache"))
    os.environ.setdefault("VIDCODEC_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _cgroup_read_fresh() -> None:
    """The CPU quota read afresh in each test (the runtime keeps a read for seconds; tests make up cgroups)."""
    _runtime.forget_cgroup_cpus()
    yield
    _runtime.forget_cgroup_cpus()


@pytest.fixture(scope="session", autouse=True)
def _ctrl_c_raises() -> None:
    """Tests send this process a real SIGINT and expect KeyboardInterrupt; a job a shell started in the
    background (`pytest &`, nohup) begins with SIGINT ignored, where Python installs no handler and the
    signal did nothing (test_container's signal test failed there): Python's own handler, as in a terminal."""
    import signal

    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture(scope="session", autouse=True)
def _default_backend_the_same_on_every_cpu() -> None:
    """``auto`` encodes in bfloat16 on a CPU with AMX (runtime.bf16_pays): in this process it does not,
    from before any module's fixtures, so that tests comparing the default encoder's bytes or machine
    line with ONNX Runtime's mean the same on every CPU. Tests of that choice set it themselves
    (the real one: REAL_BF16_PAYS); ``vidcodec`` subprocesses whose bytes are compared with this
    process's say ``--backend ort``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_runtime, "bf16_pays", lambda: False)
        mp.setattr(_runtime, "bf16_decode_pays", lambda: False)  # nor decodes in it on AVX512-BF16 alone
        yield


@pytest.fixture(scope="session", autouse=True)
def _default_preset_the_same_on_every_cpu() -> None:
    """``--preset auto`` is medium where a GPU or an AMX CPU makes its pictures cheaply, else fast
    (codec.resolve_preset): in this process it is medium everywhere, so that tests of the default
    encoder's bytes mean the same on every CPU. Tests of that choice set runtime.judge_pays themselves
    (the real one: REAL_JUDGE_PAYS); ``vidcodec`` subprocesses whose bytes are compared with this
    process's say ``--preset medium``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_runtime, "judge_pays", lambda: True)
        yield


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The folder of the tiny test model (see tests/tiny_model.py), on VIDCODEC_MODEL_PATH for the session."""
    old = os.environ.get("VIDCODEC_MODEL_PATH")
    os.environ["VIDCODEC_MODEL_PATH"] = os.pathsep.join([str(DATA)] + ([old] if old else []))
    yield DATA
    if old is None:
        os.environ.pop("VIDCODEC_MODEL_PATH", None)
    else:
        os.environ["VIDCODEC_MODEL_PATH"] = old


def write_testsrc(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48), rate: int = 10,
                  codec: str = "libx264", pattern: str = "testsrc2") -> Path:
    """A small clip rendered by lavfi (``testsrc2``/``mandelbrot``), encoded with ``codec``."""
    w, h = size
    graph = av.filter.Graph()
    src = graph.add(pattern, f"size={w}x{h}:rate={rate}")
    sink = graph.add("buffersink")
    src.link_to(sink)
    graph.configure()
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=rate)
        s.width, s.height = w, h
        s.pix_fmt = "yuv444p" if codec == "libx264" and (w % 2 or h % 2) else "yuv420p"
        if codec == "libx264":
            s.options = {"crf": "10", "preset": "ultrafast"}
        for i in range(frames):
            frame = sink.pull()
            frame.pts = i
            frame = frame.reformat(format=s.pix_fmt)
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def ctrl_c_at_call(real, n: int):
    """``real`` wrapped to send this process a real SIGINT (Ctrl-C) when called the ``n``-th time,
    then to go on as ``real``: an interrupt landing at a chosen point inside a training step."""
    import signal

    calls = []

    def wrapped(*a, **k):
        calls.append(1)
        if len(calls) == n:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*a, **k)

    return wrapped


def tiny_stream(d: Path, frames: int, gop: int, size: tuple[int, int] = (64, 48), quality: int = 2) -> dict:
    """A ``frames``-frame testsrc clip in ``d`` (``size``) coded with the tiny model (``quality``, a keyframe at
    least every ``gop`` frames): its path, bytes, packets, header, keyframe packet numbers and
    decoded frames."""
    from vidcodec import api, container

    clip = write_testsrc(d / "clip.mp4", frames=frames, size=size)
    path = d / "clip.gvc"
    api.encode(clip, path, model="vaegan-tiny", quality=quality, gop=gop)
    with container.GvcReader(path) as r:
        packets = list(r)
        header = r.header
    return {"dir": d, "path": path, "data": path.read_bytes(), "packets": packets, "header": header,
            "frames": list(api.frames(path)),
            "keys": [i for i, p in enumerate(packets) if p.kind is container.PacketType.KEY]}


def late_copy(src: Path, dst: Path, seconds: float) -> int:
    """A copy of the .gvc ``src`` at ``dst`` whose packets are ``seconds`` later (a stream cut from a
    film, or an MPEG-TS source's clock); returns the pts added."""
    from fractions import Fraction

    from vidcodec import container

    with container.GvcReader(src) as r:
        header, packets = r.header, list(r)
    late = int(Fraction(seconds) / Fraction(*header.time_base))
    with container.GvcWriter(dst, header) as w:
        for p in packets:
            w.write_packet(p.kind, p.pts + late, p.payload, p.stream_index, p.flags)
    return late


@pytest.fixture
def clip(tmp_path) -> Path:
    """A 12-frame 64x48 testsrc2 clip in mp4."""
    return write_testsrc(tmp_path / "clip.mp4")


@pytest.fixture
def static_frames() -> list[np.ndarray]:
    """Ten identical frames with a little noise, as from a fixed camera."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    return [np.clip(base.astype(int) + rng.integers(-2, 3, base.shape), 0, 255).astype(np.uint8)
            for _ in range(10)]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty ONNX cache for one test (VIDCODEC_CACHE)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("VIDCODEC_CACHE", str(folder))
    return folder


@contextlib.contextmanager
def reaped(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """``proc``; on leaving, killed if it still runs, and its pipes closed."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
