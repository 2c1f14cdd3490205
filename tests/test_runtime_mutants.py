"""vidcodec/runtime.py behaviour that mutation testing found unpinned by tests/test_runtime.py.

No GPU and no CUDA libraries are needed: the CUDA path (provider choice, the quiet probe, IOBinding)
runs against stand-ins for the driver and for ONNX Runtime's sessions, which run on the CPU. Real
ONNX Runtime and the tiny model are used for the export cache.
"""

from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import stat
import sys
import tempfile
import threading
import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnxruntime as real_ort
import pytest

from vidcodec import runtime
from vidcodec.models import zoo

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


@pytest.fixture(scope="module")
def tiny(tiny_model_dir) -> zoo.CodecModel:
    return zoo.CodecModel(zoo.find("vaegan-tiny"), "torch")


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory) -> dict[str, Path]:
    return runtime.export_onnx(tiny, tmp_path_factory.mktemp("onnx"))


@pytest.fixture
def probe_cache():
    """cuda_loads is probed once per process: cleared around a test that replaces what it asks."""
    runtime.cuda_loads.cache_clear()
    yield
    runtime.cuda_loads.cache_clear()


# ---------------------------------------------------------------- which providers are asked for


class _ProbeOrt:
    """A stand-in for the onnxruntime module as cuda_loads uses it; records what is asked."""

    def __init__(self, session_providers=None, fails=False):
        self.calls, self.severity = [], []
        self._providers, self._fails = session_providers, fails
        self.SessionOptions = real_ort.SessionOptions

    def set_default_logger_severity(self, level):
        self.severity.append(level)

    def get_available_providers(self):
        return ["TensorrtExecutionProvider", CUDA, CPU]

    def preload_dlls(self):
        self.calls.append("preload_dlls")

    def InferenceSession(self, model, so, providers):
        self.calls.append(("session", providers, so.log_severity_level, self.severity[-1]))
        if self._fails:
            raise RuntimeError("libcudnn.so.9: cannot open shared object file")
        return types.SimpleNamespace(get_providers=lambda: list(self._providers))


def test_without_a_cuda_device_the_cuda_provider_is_never_asked_for(monkeypatch, probe_cache):
    """onnxruntime-gpu offers CUDA on any machine; without a driver and device the probe stops before
    ONNX Runtime is asked for a CUDA session (which would print provider-loading errors)."""
    fake = _ProbeOrt([CUDA, CPU])
    monkeypatch.setattr(runtime, "_ort", lambda: fake)
    monkeypatch.setattr(runtime, "_cuda_device_present", lambda: False)
    assert runtime.default_providers() == [CPU]
    assert runtime.cuda_loads() is False
    assert fake.calls == []


@pytest.mark.parametrize("providers, fails, loads", [([CUDA, CPU], False, True), ([CPU], False, False),
                                                     (None, True, False)])
def test_the_cuda_probe_asks_for_cuda_quietly_and_believes_the_session(monkeypatch, probe_cache, providers,
                                                                        fails, loads):
    fake = _ProbeOrt(providers, fails)
    monkeypatch.setattr(runtime, "_ort", lambda: fake)
    monkeypatch.setattr(runtime, "_cuda_device_present", lambda: True)
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # torch loads the CUDA libraries itself
    assert runtime.cuda_loads() is loads
    # one session, CUDA then CPU, with its log and the default logger silenced; then errors-only again
    silent = runtime._ORT_LOG_SILENT
    assert fake.calls == ["preload_dlls", ("session", [CUDA, CPU], silent, silent)]
    assert fake.severity == [runtime._ORT_LOG_SILENT, runtime.ORT_LOG_ERRORS_ONLY]
    assert runtime.default_providers() == ([CUDA, CPU] if loads else [CPU])
    assert len(fake.calls) == 2  # probed once per process


def test_the_cuda_probe_leaves_the_dll_preloading_to_torch_when_torch_is_imported(monkeypatch, probe_cache):
    fake = _ProbeOrt([CUDA, CPU])
    monkeypatch.setattr(runtime, "_ort", lambda: fake)
    monkeypatch.setattr(runtime, "_cuda_device_present", lambda: True)
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
    assert runtime.cuda_loads()
    assert [c[0] for c in fake.calls] == ["session"]


class _Driver:
    def __init__(self, init=0, count=1, status=0):
        self.init, self.count, self.status = init, count, status

    def cuInit(self, flags):
        return self.init

    def cuDeviceGetCount(self, ref):
        ref._obj.value = self.count
        return self.status


@pytest.mark.parametrize("driver, present", [
    (_Driver(), True), (_Driver(count=2), True), (_Driver(count=0), False), (_Driver(init=100), False),
    (_Driver(status=3), False), (types.SimpleNamespace(), False),  # a library without the driver API
])
def test_cuda_device_present_asks_the_driver_for_a_device(monkeypatch, driver, present):
    tried = []

    def cdll(name):
        tried.append(name)
        if name == "libcuda.so.1":
            raise OSError(f"{name}: cannot open shared object file")
        return driver

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(ctypes, "CDLL", cdll)
    assert runtime._cuda_device_present() is present
    assert tried == ["libcuda.so.1", "libcuda.so"]


def test_cuda_device_absent_when_no_driver_library_loads(monkeypatch):
    tried = []

    def cdll(name):
        tried.append(name)
        raise OSError(name)

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(ctypes, "CDLL", cdll)
    assert runtime._cuda_device_present() is False
    assert tried == ["libcuda.so.1", "libcuda.so"]
    monkeypatch.setattr(sys, "platform", "win32")
    tried.clear()
    assert runtime._cuda_device_present() is False
    assert tried == ["nvcuda.dll"]


def test_onnx_runtime_logs_errors_only(monkeypatch):
    levels = []
    fake = types.SimpleNamespace(set_default_logger_severity=levels.append)
    monkeypatch.setitem(sys.modules, "onnxruntime", fake)
    monkeypatch.delattr(runtime._ort, "_quiet", raising=False)  # as in a fresh process
    assert runtime._ort() is fake and runtime._ort() is fake
    assert levels == [runtime.ORT_LOG_ERRORS_ONLY] == [3]  # set once: 3 is "error" in ONNX Runtime's scale


def test_the_cuda_probes_graph_runs():
    """The probe's one-node graph is a model ONNX Runtime loads and runs (on the CPU here): were it not,
    every probe would fail and a machine with CUDA would never use it."""
    session = real_ort.InferenceSession(runtime._identity_model(), providers=[CPU])
    np.testing.assert_array_equal(session.run(None, {"x": np.array([1.5], np.float32)})[0], [1.5])


# ---------------------------------------------------------------- sessions: threads, lanes, IOBinding


class _Session:
    """A real CPU session that reports the providers it was asked for and records how it is run."""

    log: ClassVar[list] = []

    def __init__(self, path, so, providers):
        self.real = real_ort.InferenceSession(path, so, providers=[CPU])
        self.providers, self.options = providers, so
        _Session.log.append(("made", providers))

    def get_providers(self):
        return list(self.providers)

    def get_inputs(self):
        return self.real.get_inputs()

    def get_outputs(self):
        return self.real.get_outputs()

    def run(self, names, feeds):
        _Session.log.append("run")
        return self.real.run(names, feeds)

    def io_binding(self):
        _Session.log.append("io_binding")
        return self.real.io_binding()

    def run_with_iobinding(self, binding):
        _Session.log.append("run_with_iobinding")
        self.real.run_with_iobinding(binding)


@pytest.fixture
def fake_sessions(monkeypatch):
    fake = types.SimpleNamespace(InferenceSession=_Session, SessionOptions=real_ort.SessionOptions,
                                 ExecutionMode=real_ort.ExecutionMode,
                                 GraphOptimizationLevel=real_ort.GraphOptimizationLevel)
    monkeypatch.setattr(runtime, "_ort", lambda: fake)
    monkeypatch.delenv("VIDCODEC_LANES", raising=False)
    _Session.log = []
    return _Session.log


def test_sessions_on_cuda_are_one_lane_with_every_thread_and_use_io_binding(exported, fake_sessions,
                                                                            monkeypatch):
    monkeypatch.setattr(runtime, "default_providers", lambda: [CUDA, CPU])
    rt = runtime.OrtTransforms(exported, threads=4)
    assert rt.providers == [CUDA, CPU] and rt.lanes == 1 and rt.io_binding
    assert fake_sessions == [("made", [CUDA, CPU])] * 2
    assert rt.sessions["analysis"].options.intra_op_num_threads == 4
    x = np.random.default_rng(0).random((1, 3, 32, 48), dtype=np.float32)
    fake_sessions.clear()
    y = rt.analyze(x)
    assert fake_sessions == ["io_binding", "run_with_iobinding"]
    np.testing.assert_array_equal(y, rt.sessions["analysis"].real.run(None, {"x": x})[0])
    assert rt.synthesize(y).shape == (1, 3, 32, 48)


def test_sessions_on_cpu_run_without_io_binding_one_thread_per_lane(exported, fake_sessions, monkeypatch):
    monkeypatch.setattr(runtime, "default_providers", lambda: [CPU])
    rt = runtime.OrtTransforms(exported, threads=3)
    assert rt.providers == [CPU] and rt.lanes == 3 and not rt.io_binding
    assert rt.sessions["synthesis"].options.intra_op_num_threads == 1
    assert fake_sessions == [("made", [CPU])] * 2  # the other lanes' sessions when calls overlap
    fake_sessions.clear()
    rt.analyze(np.zeros((1, 3, 16, 16), np.float32))
    assert fake_sessions == ["run"]
    monkeypatch.setenv("VIDCODEC_THREADS", "4")  # what a session left to its default would take
    two = runtime.OrtTransforms(exported, threads=1, lanes=2)  # more lanes than threads: one thread each
    assert two.lanes == 2 and two.sessions["analysis"].options.intra_op_num_threads == 1
    assert runtime.OrtTransforms(exported, threads=2, lanes=0).lanes == 1
    # any float array, contiguous or not, runs as float32
    x = np.random.default_rng(1).random((1, 16, 32, 3))
    want = rt.analyze(np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32))
    np.testing.assert_array_equal(rt.analyze(x.transpose(0, 3, 1, 2)), want)
    # asked for: io_binding on a CPU session, or not on a CUDA one
    assert runtime.OrtTransforms(exported, threads=1, io_binding=True).io_binding
    assert not runtime.OrtTransforms(exported, providers=[CUDA, CPU], threads=1, io_binding=False).io_binding


def test_lanes_never_make_more_sessions_than_their_count():
    made = []
    lanes = runtime._Lanes(lambda: made.append(1) or len(made), 2)
    with lanes.session() as a, lanes.session() as b:
        assert (a, b) == (1, 2)
    with lanes.session() as a, lanes.session() as b:
        assert {a, b} == {1, 2}
    assert len(made) == 2 and lanes._made == 2
    # a third call while both are lent waits for one of them rather than making a third
    got = []

    def third():
        with lanes.session() as s:
            got.append(s)

    with lanes.session(), lanes.session():
        waiter = threading.Thread(target=third)
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive() and len(made) == 2
    waiter.join(5)
    assert not waiter.is_alive() and got[0] in (1, 2) and len(made) == 2


def test_session_options_optimize_fully_and_log_errors_only(monkeypatch):
    monkeypatch.setenv("VIDCODEC_THREADS", "5")
    so = runtime.session_options()
    assert so.intra_op_num_threads == 5 and so.inter_op_num_threads == 1
    assert so.graph_optimization_level == real_ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert so.execution_mode == real_ort.ExecutionMode.ORT_SEQUENTIAL
    assert so.log_severity_level == runtime.ORT_LOG_ERRORS_ONLY


@pytest.mark.parametrize("value, count, warned", [
    ("4", 4, False), (" 2 ", 2, False), ("0", None, True), ("-1", None, True), ("two", None, True),
    ("", None, False), ("1.5", None, True), ("²", None, True),  # a digit to str.isdigit, not to int()
])
def test_thread_and_lane_counts_from_the_environment(monkeypatch, caplog, value, count, warned):
    monkeypatch.setattr(runtime, "_warned_env", set())
    monkeypatch.setenv("VIDCODEC_THREADS", value)
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    monkeypatch.setenv("VIDCODEC_LANES", value)
    monkeypatch.setattr(runtime, "physical_cores", lambda: 7)
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        assert runtime.default_threads() == (count or 7)
        assert runtime._env_lanes() == count
        assert runtime.default_lanes([CPU], threads=6) == (count or 6)
        runtime.default_threads()
    # each of VIDCODEC_THREADS and VIDCODEC_LANES warned once; OpenMP's own syntax ("4,2") never
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ([f"{v}={value!r} is not a whole number above 0: ignored"
                         for v in ("VIDCODEC_THREADS", "VIDCODEC_LANES")] if warned else [])


def test_omp_num_threads_counts_when_vidcodec_threads_is_unset(monkeypatch):
    monkeypatch.delenv("VIDCODEC_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")
    monkeypatch.setattr(runtime, "physical_cores", lambda: 7)
    assert runtime.default_threads() == 7
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert runtime.default_threads() == 3


# ---------------------------------------------------------------- the export cache


@pytest.mark.parametrize("env, want", [
    ({"VIDCODEC_CACHE": "/c/v", "XDG_CACHE_HOME": "/c/x"}, "/c/v"),
    ({"VIDCODEC_CACHE": "", "XDG_CACHE_HOME": "/c/x"}, "/c/x/vidcodec"),
    ({"XDG_CACHE_HOME": "/c/x"}, "/c/x/vidcodec"),
    ({"XDG_CACHE_HOME": ""}, "HOME/.cache/vidcodec"),
    ({}, "HOME/.cache/vidcodec"),
])
def test_cache_root(monkeypatch, tmp_path, env, want):
    monkeypatch.delenv("VIDCODEC_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert runtime.cache_root() == Path(want.replace("HOME", str(tmp_path)))
    assert runtime.onnx_cache_dir("ab" * 32) == runtime.cache_root() / "onnx" / ("ab" * 32)


def test_exported_files_are_readable_by_everyone(exported):
    """mkstemp makes files only their owner reads: a cache shared between users needs 0644."""
    for path in [*exported.values(), exported["analysis"].parent / runtime.MANIFEST]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def _counting_export(monkeypatch) -> list:
    calls = []
    real = runtime.export_onnx
    monkeypatch.setattr(runtime, "export_onnx", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    return calls


def test_a_valid_graph_that_is_not_the_one_exported_is_not_used(tiny, cache, monkeypatch):
    """A file that ONNX Runtime loads but whose hash is not the manifest's (another export, edited) is
    found by its hash, not by a session failing: exported again before any session runs it."""
    paths = runtime.cached_export(tiny)
    good = paths["analysis"].read_bytes()
    paths["analysis"].write_bytes(paths["synthesis"].read_bytes())  # loads fine: a wrong transform
    assert runtime.verified_export(paths["analysis"].parent, tiny.sha256) is None
    calls = _counting_export(monkeypatch)
    again = runtime.cached_export(tiny)
    assert again == paths and calls == [paths["analysis"].parent]
    assert paths["analysis"].read_bytes() == good


@pytest.mark.parametrize("change", ["export_version", "files", "no files"])
def test_manifests_of_another_export_are_not_trusted(tiny, tmp_path, change):
    folder = tmp_path / "e"
    runtime.export_onnx(tiny, folder)
    manifest = json.loads((folder / runtime.MANIFEST).read_text())
    assert runtime.verified_export(folder, tiny.sha256) == {p: folder / f"{p}.onnx" for p in runtime.PARTS}
    if change == "export_version":
        manifest["export_version"] = runtime.EXPORT_VERSION + 1  # graphs of another exporter, same weights
    elif change == "files":
        manifest["files"]["synthesis.onnx"] = "0" * 64
    else:
        del manifest["files"]
    (folder / runtime.MANIFEST).write_text(json.dumps(manifest))
    assert runtime.verified_export(folder, tiny.sha256) is None
    assert runtime.verified_export(tmp_path / "nothing here", tiny.sha256) is None


def test_refresh_exports_again_over_a_valid_cache(tiny, cache, monkeypatch):
    paths = runtime.cached_export(tiny)
    calls = _counting_export(monkeypatch)
    assert runtime.cached_export(tiny) == paths and calls == []
    assert runtime.cached_export(tiny, refresh=True) == paths and calls == [paths["analysis"].parent]


def test_the_fallback_cache_is_reused_and_a_stale_one_there_redone(tiny, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("VIDCODEC_CACHE", str(blocker / "cache"))
    monkeypatch.setattr(runtime, "_fallback_root", lambda: tmp_path / "fallback")
    calls = _counting_export(monkeypatch)
    folder = tmp_path / "fallback" / "onnx" / tiny.sha256
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        assert runtime.cached_export(tiny)["analysis"] == folder / "analysis.onnx"
        assert runtime.cached_export(tiny)["analysis"] == folder / "analysis.onnx"
    assert calls == [folder]  # the second time from the fallback, not exported again
    assert caplog.text.count("cannot write the ONNX cache") == 2
    assert {r.name for r in caplog.records} == {"vidcodec"}  # the package's logger, which users configure
    (folder / "synthesis.onnx").write_bytes(b"")
    runtime.cached_export(tiny)
    assert calls == [folder, folder] and runtime.verified_export(folder, tiny.sha256)
    runtime.cached_export(tiny, refresh=True)
    assert len(calls) == 3


def test_a_cache_folder_that_cannot_hold_files_is_not_writable(tmp_path, monkeypatch):
    assert runtime._writable(tmp_path / "new" / "folder") and (tmp_path / "new" / "folder").is_dir()
    assert list((tmp_path / "new" / "folder").iterdir()) == []  # the test file is gone
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert runtime._writable(blocker / "x") is False
    ro, real = tmp_path / "ro", tempfile.TemporaryFile

    def read_only(*args, dir=None, **kwargs):  # a read-only mount there (root writes anywhere else)
        if Path(dir) == ro:
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(runtime.tempfile, "TemporaryFile", read_only)
    ro.mkdir()
    assert runtime._writable(ro) is False  # it exists, but nothing can be written in it
    assert runtime._writable(tmp_path / "rw")


def test_fallback_root_is_the_users_own(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime.tempfile, "tempdir", str(tmp_path))
    uid = os.getuid()
    mine = runtime._fallback_root()
    assert mine == tmp_path / f"vidcodec-{uid}" and stat.S_IMODE(mine.stat().st_mode) == 0o700
    assert runtime._fallback_root() == mine  # the same folder next time: its exports are reused
    monkeypatch.setattr(os, "getuid", lambda: uid + 1)  # the folder of that name belongs to someone else
    (tmp_path / f"vidcodec-{uid + 1}").mkdir()
    other = runtime._fallback_root()
    assert other.parent == tmp_path and other.name.startswith("vidcodec-")
    assert other != tmp_path / f"vidcodec-{uid + 1}"


def test_fallback_root_where_there_are_no_user_ids(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime.tempfile, "tempdir", str(tmp_path))
    monkeypatch.delattr(os, "getuid")  # Windows
    assert runtime._fallback_root() == tmp_path / "vidcodec-cache"


def test_exported_graphs_say_what_they_are(exported, tiny):
    import onnx

    for part, path in exported.items():
        proto = onnx.load(str(path))
        assert {p.key: p.value for p in proto.metadata_props} == {
            "vidcodec.model": tiny.name, "vidcodec.weights_sha256": tiny.sha256, "vidcodec.part": part,
            "vidcodec.export_version": str(runtime.EXPORT_VERSION)}
        assert proto.doc_string == f"vidcodec {tiny.name} {part} transform"


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "analysis.onnx"
    target.write_bytes(b"old")
    runtime._atomic_write(target, b"new")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["analysis.onnx"]

    def no_rename(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runtime.os, "replace", no_rename)
    with pytest.raises(OSError, match="No space"):
        runtime._atomic_write(target, b"newer")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["analysis.onnx"]


def test_the_manifest_records_the_export(exported, tiny):
    import onnx
    import torch

    folder = exported["analysis"].parent
    manifest = json.loads((folder / runtime.MANIFEST).read_text())
    assert manifest == {"format": "vidcodec-onnx", "export_version": runtime.EXPORT_VERSION,
                        "model": tiny.name, "weights_sha256": tiny.sha256, "opset": runtime.OPSET,
                        "torch": torch.__version__,
                        "files": {p.name: runtime._sha256_file(p) for p in exported.values()}}
    for path in exported.values():
        assert runtime.export_file_hash(path) == manifest["files"][path.name]
        graph = onnx.load(str(path))
        opsets = [o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")]
        assert opsets == [runtime.OPSET] == [17]  # the documented opset, not the exporter's default


@pytest.mark.parametrize("text", ["[]", '"manifest"', "null",
                                  '{"export_version": 1, "weights_sha256": "S", "files": null}',
                                  '{"export_version": 1, "weights_sha256": "S", "files": []}'])
def test_manifests_of_the_wrong_shape_are_not_trusted(exported, tiny, tmp_path, text):
    import shutil

    folder = tmp_path / "e"
    shutil.copytree(exported["analysis"].parent, folder)
    (folder / runtime.MANIFEST).write_text(text.replace('"S"', json.dumps(tiny.sha256)))
    assert runtime.verified_export(folder, tiny.sha256) is None


def test_a_cached_graph_onnx_runtime_cannot_load_is_exported_again(tiny_model_dir, cache, monkeypatch):
    """A file that matches its manifest but that ONNX Runtime refuses (damaged after its hash was
    recorded, or written by another exporter): the sessions fail once, the export is redone, used."""
    model = zoo.CodecModel(zoo.find("vaegan-tiny"), "ort")
    paths = runtime.cached_export(model)
    good = paths["synthesis"].read_bytes()
    paths["synthesis"].write_bytes(good[: len(good) // 3])
    manifest = json.loads((paths["synthesis"].parent / runtime.MANIFEST).read_text())
    manifest["files"]["synthesis.onnx"] = runtime._sha256_file(paths["synthesis"])
    (paths["synthesis"].parent / runtime.MANIFEST).write_text(json.dumps(manifest))
    calls = _counting_export(monkeypatch)
    rt = runtime.load_transforms(model)
    assert isinstance(rt, runtime.OrtTransforms) and calls == [paths["synthesis"].parent]
    assert paths["synthesis"].read_bytes() == good
    assert rt.synthesize(np.zeros((1, 8, 2, 2), np.float32)).shape == (1, 3, 32, 32)


def test_the_8bit_analysis_is_built_once_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    import shutil

    import cv2
    from conftest import DATA

    from vidcodec import int8

    folder = tmp_path / "models"
    folder.mkdir()
    for suffix in (".json", ".safetensors"):
        shutil.copy(DATA / f"vaegan-tiny{suffix}", folder / f"vaegan-tiny{suffix}")
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", str(folder))
    monkeypatch.setenv("VIDCODEC_CACHE", str(tmp_path / "cache"))
    (tmp_path / "pics").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(tmp_path / "pics" / f"p{i}.png"),
                    cv2.GaussianBlur(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8), (0, 0), 3))
    assert int8.main(["vaegan-tiny", str(tmp_path / "pics"), "--count", "2"]) == 0
    model = zoo.CodecModel(zoo.find("vaegan-tiny"), "int8")
    built = []
    real = int8.quantize
    monkeypatch.setattr(int8, "quantize", lambda *a: built.append(a[2]) or real(*a))
    paths = runtime.cached_export(model)
    stale = paths["analysis"].with_name("analysis-int8-0123.onnx")  # of other ranges or another float graph
    stale.write_bytes(b"old")
    path = runtime.cached_int8_analysis(model, paths)
    assert built == [path] and path.exists() and not stale.exists()
    assert runtime.cached_int8_analysis(model, paths) == path and built == [path]  # cached
    good = path.read_bytes()
    path.write_bytes(good[:100])  # damaged: only its name says what it is, so ONNX Runtime finds out
    rt = runtime.load_transforms(model, int8=True)
    assert built == [path, path] and path.read_bytes() == good
    assert rt.analyze(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 8, 2, 2)
    assert runtime.cached_int8_analysis(model, paths, refresh=True) == path and len(built) == 3


# ---------------------------------------------------------------- the machine, the check, the script


CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: fpu sse2 avx512_vnni amx_bf16
bugs\t\t:

processor\t: 1
model name\t: another
flags\t\t: fpu
"""


def test_cpuinfo_reads_the_first_value_of_a_field(monkeypatch):
    import io

    def fake_open(path, *args, **kwargs):
        assert path == "/proc/cpuinfo"
        return io.StringIO(CPUINFO)

    monkeypatch.setattr(runtime, "open", fake_open, raising=False)
    assert runtime.cpuinfo("model name") == "Intel(R) Xeon(R) Platinum 8488C"
    assert runtime.cpu_flags() == {"fpu", "sse2", "avx512_vnni", "amx_bf16"}
    assert runtime.cpuinfo("bugs") == "" and runtime.cpuinfo("microcode") is None

    def unreadable(path, *args, **kwargs):
        raise PermissionError(path)

    monkeypatch.setattr(runtime, "open", unreadable, raising=False)
    assert runtime.cpuinfo("flags") is None and runtime.cpu_flags() == set()


class _SysPath(str):
    """A stand-in for pathlib.Path over a dict of /sys files."""

    files: ClassVar[dict] = {}

    def __truediv__(self, other):
        return _SysPath(f"{self}/{other}")

    def read_text(self):
        if self not in self.files:
            raise FileNotFoundError(self)
        return self.files[self]


def test_physical_cores_count_cores_not_hyperthreads(monkeypatch):
    topo = "/sys/devices/system/cpu/cpu{}/topology/{}"
    # 5 logical CPUs: two cores of package 0 with two hyperthreads each, and core 0 of package 1
    layout = {0: ("0", "0"), 1: ("0", "1"), 2: ("0", "0"), 3: ("0", "1"), 4: ("1", "0")}
    _SysPath.files = {topo.format(c, f): v + "\n" for c, (p, k) in layout.items()
                      for f, v in (("physical_package_id", p), ("core_id", k))}
    monkeypatch.setattr(runtime, "Path", _SysPath)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert runtime.physical_cores() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2}, raising=False)
    assert runtime.physical_cores() == 1  # two hyperthreads of one core
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4}, raising=False)
    assert runtime.physical_cores() == 3  # core 0 of each package
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    assert runtime.physical_cores() == 6  # cpu5's topology is unknown: logical CPUs
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # not Linux
    _SysPath.files = {}
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert runtime.physical_cores() == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert runtime.physical_cores() == 1


@pytest.mark.parametrize("meminfo, available", [
    ("MemTotal:       16000000 kB\nMemAvailable:    8000000 kB\n", 8000000 * 1024),
    ("MemTotal:       16000000 kB\n", None), ("MemAvailable:\n", None), ("MemAvailable: lots kB\n", None),
    (None, None),
])
def test_available_memory_from_meminfo(monkeypatch, meminfo, available):
    _SysPath.files = {} if meminfo is None else {"/proc/meminfo": meminfo}
    monkeypatch.setattr(runtime, "Path", _SysPath)
    assert runtime.available_memory() == available


def test_check_export_is_ok_only_within_every_mark(exported, tiny, monkeypatch):
    frames = [np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)]
    r = runtime.check_export(tiny, exported, frames, threads=1)
    assert r["ok"] and r["model"] == tiny.name and r["weights_sha256"] == tiny.sha256 and r["frames"] == 1
    assert 0 < r["decode_psnr_db"] <= 200 and 0 <= r["latent_max_abs_error"] <= r["latent_max_abs"]
    if r["image_max_abs_error"] > 0:  # the mean squared error is at least the largest error's share
        assert r["decode_psnr_db"] <= 10 * np.log10(3 * 40 * 56 / r["image_max_abs_error"] ** 2)
    text = runtime.format_check(r)
    assert [line.split()[0] for line in text.splitlines()] == ["torch", "latents", "symbols", "decodes", "ok"]
    assert "1 frames" in text and f"PSNR {r['decode_psnr_db']:.1f} dB" in text
    # each mark on its own turns it down; a value exactly at a mark passes
    for mark, at, beyond in (("CHECK_LATENT_TOL", r["latent_max_abs_error"], -1.0),
                             ("CHECK_PSNR_DB", r["decode_psnr_db"], 1e9),
                             ("CHECK_SYMBOL_MISMATCH", r["symbol_mismatch_fraction"], -1.0)):
        with monkeypatch.context() as m:
            m.setattr(runtime, mark, at)
            assert runtime.check_export(tiny, exported, frames, threads=1)["ok"], mark
            m.setattr(runtime, mark, beyond)
            assert not runtime.check_export(tiny, exported, frames, threads=1)["ok"], mark
            assert "NOT OK" in runtime.format_check(runtime.check_export(tiny, exported, frames, threads=1))


def test_the_export_script_passes_on_the_commands_exit_status(tiny_model_dir, tmp_path):
    import subprocess

    script = Path(__file__).resolve().parent.parent / "export" / "onnx_export.py"
    r = subprocess.run([sys.executable, str(script), "--model", "no-such-model", "--out",
                        str(tmp_path / "o")], check=False, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 2 and "not installed" in r.stderr
    assert not (tmp_path / "o").exists()


V2_CONTAINER = "0::/\n"
V1_DOCKER = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n"


@pytest.mark.parametrize("cgroup, files, cpus", [
    (V2_CONTAINER, {"/sys/fs/cgroup/cpu.max": "150000 100000\n"}, 2),  # docker --cpus 1.5: rounded up
    (V2_CONTAINER, {"/sys/fs/cgroup/cpu.max": "max 100000\n"}, None),  # no quota
    (V2_CONTAINER, {"/sys/fs/cgroup/cpu.max": "0 100000\n"}, None),
    ("0::/a/b\n", {"/sys/fs/cgroup/a/b/cpu.max": "max 100000\n", "/sys/fs/cgroup/a/cpu.max": "300000 100000\n",
                   "/sys/fs/cgroup/cpu.max": "800000 100000\n"}, 3),  # a parent's quota holds; the smallest
    ("0::/outside/view\n", {"/sys/fs/cgroup/cpu.max": "100000 100000\n"}, 1),  # no cgroup namespace
    (V1_DOCKER, {"/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "50000\n", "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"}, 1),
    (V1_DOCKER, {"/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us": "400000\n",
                 "/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us": "100000\n"}, 4),
    (V1_DOCKER, {"/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n", "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"}, None),
    (V1_DOCKER, {"/sys/fs/cgroup/memory/cpu.cfs_quota_us": "100000\n",  # another controller's hierarchy
                 "/sys/fs/cgroup/memory/cpu.cfs_period_us": "100000\n"}, None),
    (V2_CONTAINER, {"/sys/fs/cgroup/cpu.max": "many 100000\n"}, None),
    (None, {"/sys/fs/cgroup/cpu.max": "100000 100000\n"}, None),  # no /proc/self/cgroup (not Linux)
])
def test_a_cgroups_cpu_quota_bounds_the_threads(monkeypatch, cgroup, files, cpus):
    # In a container limited to a few CPUs of a big machine, the affinity still shows every core
    topo = "/sys/devices/system/cpu/cpu{}/topology/{}"
    _SysPath.files = {**files, **({} if cgroup is None else {"/proc/self/cgroup": cgroup}),
                      **{topo.format(c, f): f"{c}\n" for c in range(8) for f in ("physical_package_id", "core_id")}}
    monkeypatch.setattr(runtime, "Path", _SysPath)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    for var in ("VIDCODEC_THREADS", "OMP_NUM_THREADS", "VIDCODEC_SUBPEL_THREADS"):
        monkeypatch.delenv(var, raising=False)
    assert runtime.cgroup_cpus() == cpus
    assert runtime.usable_cpus() == runtime.physical_cores() == runtime.default_threads() == (cpus or 8)
    from vidcodec.codec import subpel

    assert subpel.predict_threads() == (1 if (cpus or 8) <= 4 else 4)


@pytest.mark.parametrize("cgroup, files, free", [
    (V2_CONTAINER, {"/sys/fs/cgroup/memory.max": "1073741824\n", "/sys/fs/cgroup/memory.current": "536870912\n",
                    "/sys/fs/cgroup/memory.stat": "anon 1\ninactive_file 268435456\nactive_file 9\n"}, 768 << 20),
    (V2_CONTAINER, {"/sys/fs/cgroup/memory.max": "1073741824\n", "/sys/fs/cgroup/memory.current": "2147483648\n"}, 0),
    (V2_CONTAINER, {"/sys/fs/cgroup/memory.max": "max\n", "/sys/fs/cgroup/memory.current": "1\n"}, None),
    ("0::/a\n", {"/sys/fs/cgroup/a/memory.max": "4294967296\n", "/sys/fs/cgroup/a/memory.current": "0\n",
                 "/sys/fs/cgroup/memory.max": "1073741824\n", "/sys/fs/cgroup/memory.current": "0\n"}, 1 << 30),
    (V1_DOCKER, {"/sys/fs/cgroup/memory/memory.limit_in_bytes": "2147483648\n",
                 "/sys/fs/cgroup/memory/memory.usage_in_bytes": "1073741824\n",
                 "/sys/fs/cgroup/memory/memory.stat": "cache 5\ntotal_inactive_file 536870912\n"}, 1536 << 20),
    (V1_DOCKER, {"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",  # v1's "no limit"
                 "/sys/fs/cgroup/memory/memory.usage_in_bytes": "1073741824\n"}, None),
    (V2_CONTAINER, {"/sys/fs/cgroup/memory.max": "1073741824\n"}, None),  # no usage: not read as a limit
])
def test_a_cgroups_memory_limit_bounds_the_lanes(monkeypatch, cgroup, files, free):
    meminfo = "MemTotal:       64000000 kB\nMemAvailable:   60000000 kB\n"
    _SysPath.files = {**files, "/proc/self/cgroup": cgroup, "/proc/meminfo": meminfo}
    monkeypatch.setattr(runtime, "Path", _SysPath)
    monkeypatch.delenv("VIDCODEC_LANES", raising=False)
    assert runtime.cgroup_available_memory() == free
    assert runtime.available_memory() == (60000000 * 1024 if free is None else free)
    # 16 lanes of 1920x1080 want 10 GB: the machine's 60 GB hold them, what the container may take may not
    want = 16 if free is None else max(1, int(runtime.MEMORY_SHARE * free) // (runtime.LANE_BYTES_PER_PIXEL * 1920 * 1080))
    assert runtime.frame_lanes(16, 1920, 1080) == min(16, want)
    del _SysPath.files["/proc/meminfo"]
    assert runtime.available_memory() == free  # the cgroup's figure alone


def test_torch_threads_are_cut_to_the_codecs_never_raised(monkeypatch):
    import torch

    threads = {"n": 8}
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads["n"])
    monkeypatch.setattr(torch, "set_num_threads", lambda n: threads.update(n=n))
    monkeypatch.setattr(runtime, "default_threads", lambda: 2)
    runtime.cap_torch_threads()
    assert threads["n"] == 2
    threads["n"] = 1  # the caller's own smaller setting
    runtime.cap_torch_threads()
    assert threads["n"] == 1


def test_a_cgroup_name_that_is_not_utf8_reads_as_no_limit(monkeypatch):
    class Unreadable(_SysPath):
        def read_text(self):
            if self == "/proc/self/cgroup":
                raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
            return super().read_text()

    _SysPath.files = {"/sys/fs/cgroup/cpu.max": "100000 100000\n"}
    monkeypatch.setattr(runtime, "Path", Unreadable)
    assert runtime.cgroup_cpus() is None and runtime.cgroup_available_memory() is None
    assert runtime.usable_cpus() >= 1


def test_the_cpu_quota_is_read_once_a_while(monkeypatch):
    # the learned prediction asks for its threads each frame: the files are read once in CGROUP_CPUS_TTL_S
    _SysPath.files = {"/proc/self/cgroup": V2_CONTAINER, "/sys/fs/cgroup/cpu.max": "200000 100000\n"}
    monkeypatch.setattr(runtime, "Path", _SysPath)
    clock = [100.0]
    monkeypatch.setattr(runtime.time, "monotonic", lambda: clock[0])
    assert runtime.cgroup_cpus() == 2
    _SysPath.files["/sys/fs/cgroup/cpu.max"] = "300000 100000\n"
    clock[0] += runtime.CGROUP_CPUS_TTL_S / 2
    assert runtime.cgroup_cpus() == 2  # the read stands
    clock[0] += runtime.CGROUP_CPUS_TTL_S
    assert runtime.cgroup_cpus() == 3  # read again
    _SysPath.files["/sys/fs/cgroup/cpu.max"] = "max 100000\n"
    runtime.forget_cgroup_cpus()
    assert runtime.cgroup_cpus() is None


def test_this_machines_cgroup_reads_without_error():
    cpus, free = runtime.cgroup_cpus(), runtime.cgroup_available_memory()
    assert cpus is None or cpus >= 1
    assert free is None or free >= 0
    assert 1 <= runtime.usable_cpus() <= (os.cpu_count() or 1)
