"""ONNX Runtime as the inference path: export, check, cache, providers, torch/ORT agreement.

Everything runs the real ONNX Runtime on CPU with one thread and the tiny model; the ONNX cache
is a temporary folder (conftest sets VIDCODEC_CACHE, the ``cache`` fixture a fresh one per test).
"""

from __future__ import annotations

import ast
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import REAL_BF16_DECODE_PAYS, REAL_BF16_PAYS

import vidcodec
from vidcodec import api, container, runtime
from vidcodec.cli import main
from vidcodec.codec.vaegan import FrameDecoder, to_tensor
from vidcodec.errors import UsageError
from vidcodec.evaluate.metrics import psnr
from vidcodec.models import zoo

ROOT = Path(__file__).resolve().parent.parent
CUDA, CPU, TRT = "CUDAExecutionProvider", "CPUExecutionProvider", "TensorrtExecutionProvider"


@pytest.fixture(scope="module")
def tiny_torch(tiny_model_dir) -> zoo.CodecModel:
    return zoo.load("vaegan-tiny", backend="torch")


def _fresh(backend: str = "ort") -> zoo.CodecModel:
    """A new model object (zoo.load caches them), so that its ONNX sessions are made anew."""
    return zoo.CodecModel(zoo.find("vaegan-tiny"), backend)


def _frame(h: int = 46, w: int = 62, seed: int = 0) -> np.ndarray:
    """A smooth gradient with some noise: H×W×3 uint8, sizes not multiples of 16 (padding is used)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------ export and check


def test_export_writes_opset_17_graphs_with_dynamic_axes_and_the_weights_hash(tiny_torch, tmp_path):
    paths = runtime.export_onnx(tiny_torch, tmp_path / "onnx")
    assert paths == {"analysis": tmp_path / "onnx" / "analysis.onnx", "synthesis": tmp_path / "onnx" / "synthesis.onnx"}
    for part, path in paths.items():
        proto = onnx.load(str(path))
        assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
        for value in (proto.graph.input[0], proto.graph.output[0]):
            dims = value.type.tensor_type.shape.dim
            assert dims[0].dim_param == "batch" and dims[2].dim_param and dims[3].dim_param
        meta = {p.key: p.value for p in proto.metadata_props}
        assert meta["vidcodec.weights_sha256"] == tiny_torch.sha256 and meta["vidcodec.part"] == part
    manifest = json.loads((tmp_path / "onnx" / "manifest.json").read_text())
    assert manifest["weights_sha256"] == tiny_torch.sha256 and manifest["opset"] >= 17
    assert not list((tmp_path / "onnx").glob(".*"))  # no temporary files left behind


def test_check_export_on_a_tiny_frame_agrees_with_torch(tiny_torch, tmp_path):
    paths = runtime.export_onnx(tiny_torch, tmp_path)
    r = runtime.check_export(tiny_torch, paths, [_frame(), _frame(seed=1)], threads=1)
    assert r["latent_max_abs_error"] <= 1e-4
    assert r["decode_psnr_db"] > 50
    assert r["image_max_abs_error"] < 1e-4
    assert r["symbols_total"] == 2 * tiny_torch.levels * 8 * 3 * 4  # 2 frames, every level, 8x3x4 latents
    assert r["symbol_mismatch_fraction"] <= 0.01
    assert r["ok"] and r["providers"][-1] == CPU
    json.dumps(r)
    assert "ok" in runtime.format_check(r)


@pytest.mark.parametrize("io_binding", [False, True])
def test_sessions_take_any_batch_and_size(tiny_torch, tmp_path, io_binding):
    rt = runtime.OrtTransforms(runtime.export_onnx(tiny_torch, tmp_path), providers=[CPU], threads=1,
                               io_binding=io_binding)
    rng = np.random.default_rng(0)
    for b, h, w in ((1, 16, 16), (3, 48, 80), (2, 96, 32)):
        x = rng.random((b, 3, h, w), dtype=np.float32)
        y = rt.analyze(x)
        assert y.shape == (b, 8, h // 16, w // 16) and y.dtype == np.float32
        np.testing.assert_allclose(y, tiny_torch.analyze(x), atol=1e-5)
        np.testing.assert_allclose(np.clip(rt.synthesize(y), 0, 1), tiny_torch.synthesize(y), atol=1e-5)


# ------------------------------------------------------------------------------------------- cache


def test_cache_is_exported_on_first_use_then_reused(tiny_model_dir, cache, monkeypatch):
    x = to_tensor(_frame())
    first = _fresh()
    y = first.analyze(x)
    folder = cache / "onnx" / first.sha256
    assert runtime.onnx_cache_dir(first.sha256) == folder
    assert sorted(p.name for p in folder.iterdir()) == ["analysis.onnx", "manifest.json", "synthesis.onnx"]
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(runtime, "export_onnx", no_export)
    again = _fresh()
    np.testing.assert_array_equal(again.analyze(x), y)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes


def test_cache_is_keyed_by_the_weights_hash(tiny_model_dir, cache):
    x = to_tensor(_frame())
    a, b = _fresh(), _fresh()
    b.sha256 = "0" * 64  # as if the weights had changed
    np.testing.assert_array_equal(a.analyze(x), b.analyze(x))
    assert sorted(p.name for p in (cache / "onnx").iterdir()) == sorted([a.sha256, b.sha256])
    for m in (a, b):
        assert json.loads((cache / "onnx" / m.sha256 / "manifest.json").read_text())["weights_sha256"] == m.sha256
    assert runtime.onnx_cache_dir("a" * 64) != runtime.onnx_cache_dir("b" * 64)


@pytest.mark.parametrize("damage", ["truncated model", "garbage model", "missing model", "bad manifest",
                                    "manifest of other weights"])
def test_damaged_cache_is_exported_again(tiny_model_dir, cache, monkeypatch, damage):
    x = to_tensor(_frame())
    model = _fresh()
    y = model.analyze(x)
    folder = cache / "onnx" / model.sha256
    target = folder / "analysis.onnx"
    good = target.read_bytes()
    if damage == "truncated model":
        target.write_bytes(good[: len(good) // 2])
    elif damage == "garbage model":
        target.write_bytes(b"\0" * len(good))
    elif damage == "missing model":
        target.unlink()
    elif damage == "bad manifest":
        (folder / "manifest.json").write_text('{"export_version": ')
    else:
        manifest = json.loads((folder / "manifest.json").read_text())
        (folder / "manifest.json").write_text(json.dumps({**manifest, "weights_sha256": "f" * 64}))
    calls = []
    real = runtime.export_onnx
    monkeypatch.setattr(runtime, "export_onnx", lambda *a, **k: calls.append(a) or real(*a, **k))
    np.testing.assert_array_equal(_fresh().analyze(x), y)
    assert len(calls) == 1
    assert target.read_bytes() == good
    assert runtime.verified_export(folder, model.sha256) is not None


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    for name in ("VIDCODEC_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert runtime.cache_root() == tmp_path / ".cache" / "vidcodec"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert runtime.cache_root() == tmp_path / "xdg" / "vidcodec"
    monkeypatch.setenv("XDG_CACHE_HOME", "relcache")  # relative: ignored, as the XDG specification says
    assert runtime.cache_root() == tmp_path / ".cache" / "vidcodec"
    monkeypatch.setenv("VIDCODEC_CACHE", str(tmp_path / "mine"))
    assert runtime.cache_root() == tmp_path / "mine"
    monkeypatch.delenv("VIDCODEC_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "")  # empty: not the root folder (Path.home() gives /)
    root = runtime.cache_root()
    assert root.is_absolute() and root != Path("/.cache/vidcodec")
    if sys.platform != "win32":
        import pwd

        assert root == Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "vidcodec"


def test_unwritable_cache_falls_back_to_a_temporary_folder_with_a_warning(tiny_model_dir, tmp_path, monkeypatch,
                                                                         caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("VIDCODEC_CACHE", str(blocker / "cache"))  # cannot be made, not even by root
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    model = _fresh()
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        y = model.analyze(to_tensor(_frame()))
    assert "cannot write the ONNX cache" in caplog.text
    [folder] = (tmp_path / "tmp").glob(f"vidcodec-*/onnx/{model.sha256}")
    assert runtime.verified_export(folder, model.sha256) is not None
    assert y.shape == (1, 8, 3, 4)


# --------------------------------------------------------------------------------------- providers


@pytest.mark.parametrize("available, cuda_ok, want, probed", [
    ([CPU], True, [CPU], False),
    ([CUDA, CPU], False, [CPU], True),
    ([CUDA, CPU], True, [CUDA, CPU], True),
    ([TRT, CUDA, CPU], True, [CUDA, CPU], True),
    ([TRT, CUDA, CPU], False, [CPU], True),
])
def test_provider_selection(available, cuda_ok, want, probed):
    calls = []

    def probe() -> bool:
        calls.append(1)
        return cuda_ok

    assert runtime.select_providers(available, probe) == want
    assert bool(calls) == probed  # the CUDA probe runs only when ONNX Runtime offers CUDA


def test_cuda_probe_and_default_providers_print_nothing(tiny_model_dir):
    # The probe's second half (a CUDA session) is forced here even without a driver: on a machine
    # without the CUDA libraries ONNX Runtime would print errors unless silenced.
    code = ("from vidcodec import runtime; print(runtime.default_providers()); "
            "runtime._cuda_device_present = lambda: True; runtime.cuda_loads.cache_clear(); "
            "print(runtime.cuda_loads())")
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    providers, forced = (ast.literal_eval(line) for line in r.stdout.split())
    assert providers[-1] == CPU and set(providers) <= {CUDA, CPU}
    assert isinstance(forced, bool)


def test_onnx_runtime_is_quiet_with_an_unwritable_home(tmp_path):
    home = tmp_path / "a-file"
    home.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("VIDCODEC_CACHE", "ORT_DISABLE_TELEMETRY")}
    code = "from vidcodec import runtime; runtime._ort(); print(runtime.default_providers())"
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                       env={**env, "HOME": str(home), "XDG_CACHE_HOME": "", "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_thread_settings(monkeypatch):
    monkeypatch.delenv("VIDCODEC_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert 1 <= runtime.default_threads() == runtime.physical_cores() <= (os.cpu_count() or 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert runtime.default_threads() == 3
    monkeypatch.setenv("VIDCODEC_THREADS", "2")
    assert runtime.default_threads() == 2
    so = runtime.session_options(1)
    assert (so.intra_op_num_threads, so.inter_op_num_threads) == (1, 1)
    assert so.execution_mode.name == "ORT_SEQUENTIAL"
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert not so.enable_cpu_mem_arena  # an arena per lane held each session's peak (4K: 9.1 GB -> 5.1)


def test_lanes_default_to_one_single_threaded_session_per_thread_on_cpu(monkeypatch):
    monkeypatch.delenv("VIDCODEC_LANES", raising=False)
    assert runtime.default_lanes([CPU], threads=2) == 2
    assert runtime.default_lanes([CUDA, CPU], threads=8) == 1  # a GPU runs one frame at a time
    monkeypatch.setenv("VIDCODEC_LANES", "1")
    assert runtime.default_lanes([CPU], threads=2) == 1


def test_lanes_are_cut_to_what_the_available_memory_holds(monkeypatch):
    monkeypatch.delenv("VIDCODEC_LANES", raising=False)
    uhd = runtime.LANE_BYTES_PER_PIXEL * 3840 * 2160  # one 4K frame in flight
    assert runtime.frame_lanes(16, 3840, 2160, available=int(6 * uhd / runtime.MEMORY_SHARE)) == 6
    assert runtime.frame_lanes(16, 3840, 2160, available=uhd) == 1  # never fewer than one
    assert runtime.frame_lanes(2, 640, 368, available=int(64 * uhd / runtime.MEMORY_SHARE)) == 2  # never more
    monkeypatch.setattr(runtime, "available_memory", lambda: None)
    assert runtime.frame_lanes(16, 3840, 2160) == 16  # memory unknown: as they were
    monkeypatch.setattr(runtime, "available_memory", lambda: uhd)
    assert runtime.frame_lanes(16, 3840, 2160) == 1
    monkeypatch.setenv("VIDCODEC_LANES", "16")
    assert runtime.frame_lanes(16, 3840, 2160) == 16  # the user's setting stands
    monkeypatch.setenv("VIDCODEC_LANES", "0")  # not a setting (default_lanes ignores it too)
    assert runtime.frame_lanes(16, 3840, 2160) == 1


def test_available_memory_reads_the_kernels_figure():
    free = runtime.available_memory()
    if Path("/proc/meminfo").exists():
        assert free is not None and 0 < free < 1 << 50
    else:
        assert free is None


def test_streams_coded_with_lanes_cut_for_memory_are_the_same(tiny_model_dir, clip, tmp_path, monkeypatch, caplog):
    """Two lanes cut to one because the memory is short: logged, and the same bytes and pictures."""
    monkeypatch.setenv("VIDCODEC_THREADS", "2")
    monkeypatch.setenv("VIDCODEC_LANES", "2")
    zoo._load.cache_clear()
    m = zoo.load("vaegan-tiny")
    monkeypatch.delenv("VIDCODEC_LANES")
    out = {}
    for short in (False, True):
        if short:
            monkeypatch.setattr(runtime, "available_memory", lambda: 1)
        assert m.frame_lanes(64, 48) == (1 if short else 2)
        path = tmp_path / f"{short}.gvc"
        with caplog.at_level(logging.INFO, logger="vidcodec"):
            vidcodec.encode(clip, path, model="vaegan-tiny", quality=3, gop=4)
            out[short] = path.read_bytes(), np.stack([f.rgb for f in vidcodec.frames(path)])
        assert ("instead of 2, for memory" in caplog.text) == short
    zoo._load.cache_clear()
    assert out[False][0] == out[True][0]
    np.testing.assert_array_equal(out[False][1], out[True][1])


def test_lanes_run_side_by_side_and_agree_with_one_session(tiny_torch, tmp_path):
    paths = runtime.export_onnx(tiny_torch, tmp_path)
    one = runtime.OrtTransforms(paths, providers=[CPU], threads=1, lanes=1)
    two = runtime.OrtTransforms(paths, providers=[CPU], threads=2, lanes=2)
    assert two.sessions["synthesis"].get_session_options().intra_op_num_threads == 1
    assert not two.sessions["synthesis"].get_session_options().enable_cpu_mem_arena
    assert two._lanes["synthesis"]._made == 1  # the second session is made when two calls overlap
    rng = np.random.default_rng(0)
    ys = [rng.normal(0, 3, (1, 8, 3, 4)).astype(np.float32) for _ in range(12)]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(two.synthesize, ys))
    for y, out in zip(ys, together):
        np.testing.assert_array_equal(out, one.synthesize(y))  # one thread per session either way
    assert 1 <= two._lanes["synthesis"]._made <= 2


# ------------------------------------------------------------------------------ backends on streams


def _decoded_symbols(path: Path) -> np.ndarray:
    with container.GvcReader(path) as r:
        h = r.header
        dec = FrameDecoder(zoo.load(h.model_name, h.model_hash.hex(), backend="torch"), h.latent_shape,
                           coder=h.coder.name.lower())
        kind = {container.PacketType.KEY: "key", container.PacketType.DELTA: "delta"}
        return np.stack([dec.decode_symbols(kind[p.kind], api._colour_section(p, h)[1])[0] for p in r])


# The float backends; int8 changes the encoder's latents on purpose and needs ranges (tests/test_int8.py)
FLOAT_BACKENDS = [b for b in zoo.BACKENDS if b != zoo.INT8]


def test_both_backends_decode_a_stream_to_nearly_the_same_frames(tiny_model_dir, clip, tmp_path):
    out = tmp_path / "a.gvc"
    vidcodec.encode(clip, out, model="vaegan-tiny", quality=2, gop=4, backend="torch")
    frames = {b: np.stack([f.rgb for f in vidcodec.frames(out, backend=b)]).astype(int) for b in FLOAT_BACKENDS}
    diff = np.abs(frames["ort"] - frames["torch"])
    assert diff.max() <= 2 and diff.mean() < 0.1  # 8-bit levels; float rounding only


def test_both_backends_encode_nearly_the_same_symbols(tiny_model_dir, clip, tmp_path, record_property):
    symbols = {}
    for backend in FLOAT_BACKENDS:
        out = tmp_path / f"{backend}.gvc"
        vidcodec.encode(clip, out, model="vaegan-tiny", quality=3, gop=4, backend=backend)
        symbols[backend] = _decoded_symbols(out)
    assert symbols["ort"].shape == symbols["torch"].shape
    mismatch = float(np.mean(symbols["ort"] != symbols["torch"]))
    record_property("symbol_mismatch_fraction", mismatch)
    assert mismatch <= 0.01  # a latent within ~1e-7 of a .5 boundary may round either way


def test_frames_in_parallel_lanes_give_the_stream_and_pictures_of_one_lane(tiny_model_dir, clip, tmp_path,
                                                                          monkeypatch):
    """Two single-threaded sessions running frames side by side (the default on a 2-core machine)
    write the same bytes and decode the same pictures as one single-threaded session."""
    out = {}
    for lanes in (1, 2):
        monkeypatch.setenv("VIDCODEC_THREADS", str(lanes))  # one intra-op thread per session either way
        monkeypatch.setenv("VIDCODEC_LANES", str(lanes))
        zoo._load.cache_clear()  # new sessions for the new settings
        assert zoo.load("vaegan-tiny").lanes == lanes
        path = tmp_path / f"{lanes}.gvc"
        vidcodec.encode(clip, path, model="vaegan-tiny", quality=3, gop=4)
        out[lanes] = path.read_bytes(), np.stack([f.rgb for f in vidcodec.frames(path)])
    zoo._load.cache_clear()
    assert out[1][0] == out[2][0]
    np.testing.assert_array_equal(out[1][1], out[2][1])


def test_backend_is_checked(tiny_model_dir, clip, tmp_path):
    with pytest.raises(UsageError, match="backend"):
        zoo.load("vaegan-tiny", backend="tensorflow")
    with pytest.raises(UsageError, match="backend"):
        vidcodec.encode(clip, tmp_path / "a.gvc", model="vaegan-tiny", backend="onnx")
    assert not (tmp_path / "a.gvc").exists()


# ------------------------------------------------------------------------------------------- the CLI


def test_cli_encode_and_decode_take_a_backend(tiny_model_dir, clip, tmp_path, capsys):
    gvc, y4m = tmp_path / "a.gvc", tmp_path / "a.y4m"
    assert main(["encode", str(clip), str(gvc), "--model", "vaegan-tiny", "--quality", "2", "--backend", "torch",
                 "-q"]) == 0
    assert main(["decode", str(gvc), str(y4m), "--backend", "ort", "-q"]) == 0
    assert y4m.stat().st_size > 0
    with pytest.raises(SystemExit) as e:
        main(["decode", str(gvc), str(tmp_path / "b.y4m"), "--backend", "tf"])
    assert e.value.code == 2


def test_cli_export_writes_and_checks(tiny_model_dir, clip, tmp_path, capsys):
    out = tmp_path / "onnx"
    code = main(["export", "--model", "vaegan-tiny", "--out", str(out), "--check", str(clip), "--frames", "3"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert f"analysis: {out / 'analysis.onnx'}" in text and "3 frames" in text and "ok (" in text
    assert runtime.verified_export(out, zoo.find("vaegan-tiny").sha256) is not None
    before = (out / "analysis.onnx").stat().st_mtime_ns
    assert main(["export", "--model", "vaegan-tiny", "--out", str(out)]) == 2  # there already: -y, as for any output
    assert "already holds an export (analysis.onnx, synthesis.onnx, manifest.json); pass -y" in capsys.readouterr().err
    assert (out / "analysis.onnx").stat().st_mtime_ns == before
    assert main(["export", "--model", "vaegan-tiny", "--out", str(out), "-y"]) == 0


def test_cli_export_fills_the_cache_and_reports_json(tiny_model_dir, cache, clip, capsys):
    assert main(["export", "--model", "vaegan-tiny", "--json", "--check", str(clip), "--frames", "2"]) == 0
    r = json.loads(capsys.readouterr().out)
    sha = zoo.find("vaegan-tiny").sha256
    assert r["paths"]["synthesis"] == str(cache / "onnx" / sha / "synthesis.onnx")
    assert r["check"]["ok"] and r["check"]["frames"] == 2


@pytest.mark.parametrize("args, message", [
    (["--model", "no-such-model"], "not installed"),
    (["--model", "vaegan-tiny", "--frames", "0", "--check", "x.mp4"], "--frames"),
    (["--model", "vaegan-tiny", "--check", "missing.mp4"], "no such file"),
    (["--model", "pgan-tiny"], "pgan-tiny is a GAN generator"),  # not an AttributeError
    (["--model", "vaegan-tiny", "--frames", "3"], "give --check CLIP with it"),  # not ignored without a word
    (["--model", "vaegan-tiny", "--out", ""], "--out is empty"),  # it filled the cache instead
])
def test_cli_export_input_errors_exit_2(tiny_model_dir, cache, tmp_path, capsys, args, message):
    assert main(["export", "--out", str(tmp_path / "o"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_export_script_runs_from_the_source_tree(tiny_model_dir, tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "export" / "onnx_export.py"), "--model", "vaegan-tiny",
                        "--out", str(tmp_path / "o")], check=False, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert runtime.verified_export(tmp_path / "o", zoo.find("vaegan-tiny").sha256) is not None


def test_decoding_with_onnx_runtime_never_imports_torch(tiny_model_dir, clip, tmp_path):
    # Start-up: torch takes seconds to import, and an ORT decode with the export cached needs none of it.
    stream = tmp_path / "a.gvc"
    vidcodec.encode(clip, stream, model="vaegan-tiny", quality=2, max_frames=3)  # also fills the ONNX cache
    code = ("import sys, vidcodec; s = vidcodec.decode(sys.argv[1], sys.argv[2]); "
            "print(s.frames, sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))")
    r = subprocess.run([sys.executable, "-c", code, str(stream), str(tmp_path / "a.y4m")], check=False,
                       capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(maxsplit=1) == ["3", "[]\n"]


def test_torch_backend_picture_matches_the_numpy_conversion(tiny_model_dir):
    """The torch backend rounds and crops on its device (the GPU when present); same pixels as to_rgb."""
    from vidcodec.codec.vaegan import to_rgb

    m = _fresh("torch")
    y = m.analyze(to_tensor(_frame(46, 62)))
    assert np.array_equal(m.picture(y, 62, 46), to_rgb(m.synthesize(y), 62, 46))


@pytest.mark.parametrize("backend", ["torch", "ort"])
def test_analysis_of_bytes_matches_the_numpy_conversion(tiny_model_dir, backend):
    """analyze_rgb (torch: the frame's bytes padded and scaled on the device) gives the latent of
    analyze(to_tensor(...)), bit for bit, padding included."""
    m = _fresh(backend)
    for h, w in ((46, 62), (48, 64)):
        f = _frame(h, w)
        assert np.array_equal(m.analyze_rgb(f), m.analyze(to_tensor(f))[0])


def test_encodes_without_a_colour_fitter_analyse_bytes_and_give_the_same_stream(tiny_model_dir, clip, tmp_path,
                                                                                 monkeypatch):
    """With no colour fitter, refiner nor learned predictor (whose fine deltas, format 14.0, weigh the
    synthesized pictures against the frames) the encoder asks the model for latents of the frames'
    bytes; the stream is the one the float frames give."""
    calls = []
    real = zoo.CodecModel.analyze_rgb
    monkeypatch.setattr(zoo.CodecModel, "analyze_rgb", lambda self, rgb: calls.append(1) or real(self, rgb))
    a, b = tmp_path / "a.gvc", tmp_path / "b.gvc"
    vidcodec.encode(clip, a, model="vaegan-tiny", quality=2, max_frames=3, colour=False, backend="torch",
                    subpel="bilinear")
    assert len(calls) == 3
    monkeypatch.setattr(zoo.CodecModel, "analyze_rgb", lambda self, rgb: self.analyze(to_tensor(rgb))[0])
    vidcodec.encode(clip, b, model="vaegan-tiny", quality=2, max_frames=3, colour=False, backend="torch",
                    subpel="bilinear")
    assert a.read_bytes() == b.read_bytes()


def test_torch_device_choice_and_override(monkeypatch):
    import torch

    zoo.torch_device.cache_clear()
    try:
        monkeypatch.setenv("VIDCODEC_TORCH_DEVICE", "cpu")
        assert zoo.torch_device() == torch.device("cpu")
        zoo.torch_device.cache_clear()
        monkeypatch.setenv("VIDCODEC_TORCH_DEVICE", "potato")
        with pytest.raises(UsageError, match="VIDCODEC_TORCH_DEVICE"):
            zoo.torch_device()
        if not torch.cuda.is_available():
            zoo.torch_device.cache_clear()
            monkeypatch.setenv("VIDCODEC_TORCH_DEVICE", "cuda")
            with pytest.raises(UsageError, match="no CUDA device"):
                zoo.torch_device()
        zoo.torch_device.cache_clear()
        monkeypatch.delenv("VIDCODEC_TORCH_DEVICE")
        assert zoo.torch_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    finally:
        zoo.torch_device.cache_clear()


def test_numpy_blas_runs_one_thread_even_when_numpy_came_first():
    # A program that imports numpy before vidcodec: its OpenBLAS has already started a thread per
    # core, which the package then limits (GOP-parallel workers slowed 6x without it)
    import os
    import subprocess
    import sys

    code = ("import numpy, threadpoolctl, vidcodec; "
            "print([i['num_threads'] for i in threadpoolctl.threadpool_info() if 'numpy' in i['filepath']])")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[1]"
    env["OPENBLAS_NUM_THREADS"] = "2"  # the user's choice stands
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[2]"


# ------------------------------------------------------------------------------------ the bf16 backend
@pytest.fixture
def torch_threads():
    """Restores torch's thread count, which the bf16 backend sets to one on a CPU with lanes."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _bf16_here() -> bool:
    return zoo.torch_device().type == "cuda" or zoo.cpu_has_bf16()


@pytest.mark.skipif(not _bf16_here(), reason="no native bfloat16 on this machine")
def test_bf16_backend_decodes_any_stream_close_to_float32(tiny_model_dir, clip, tmp_path, torch_threads):
    """The bf16 backend runs the transforms in bfloat16: the stream's symbols fix the latents, the pictures
    differ from float32's by rounding only; its encoder writes streams that float32 decodes."""
    import torch

    key = tmp_path / "ort.gvc"
    vidcodec.encode(clip, key, model="vaegan-tiny", quality=3, gop=4)
    ref = np.stack([f.rgb for f in vidcodec.frames(key)])
    m = _fresh("bf16")
    assert m.lanes == runtime.default_lanes(())
    pictures = np.stack([m.picture(y, 64, 48) for y in [m.analyze(to_tensor(f.rgb)) for f in vidcodec.frames(key)]])
    assert pictures.shape == ref.shape
    assert next(m._run_modules()[1].parameters()).dtype == torch.bfloat16
    assert next(m.synthesis.parameters()).dtype == torch.float32  # the refiner's and training's modules
    zoo._load.cache_clear()
    try:
        bf = np.stack([f.rgb for f in vidcodec.frames(key, backend="bf16")])
        assert 40 < psnr(bf, ref) < float("inf")  # rounded differently, not another picture
        own = tmp_path / "bf16.gvc"
        vidcodec.encode(clip, own, model="vaegan-tiny", quality=3, gop=4, backend="bf16")
    finally:
        zoo._load.cache_clear()
    mine = np.stack([f.rgb for f in vidcodec.frames(own)])  # decoded by ONNX Runtime
    assert mine.shape == ref.shape
    assert psnr(mine, ref) > 30  # a few symbols may round the other way, the pictures stay close


def test_bf16_is_refused_where_it_would_be_emulated(tiny_model_dir, clip, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(zoo, "cpu_has_bf16", lambda: False)
    monkeypatch.setenv("VIDCODEC_TORCH_DEVICE", "cpu")
    zoo.torch_device.cache_clear()
    zoo._load.cache_clear()
    try:
        out = tmp_path / "a.gvc"
        assert main(["encode", str(clip), str(out), "--model", "vaegan-tiny", "--backend", "bf16", "-q"]) == 2
        assert "AVX512-BF16 or AMX" in capsys.readouterr().err
        assert not out.exists()
    finally:
        zoo.torch_device.cache_clear()
        zoo._load.cache_clear()


def test_bf16_pays_on_an_amx_cpu_without_cuda(monkeypatch):
    real = REAL_BF16_PAYS  # the suite pins runtime.bf16_pays to False; this test asks the real one
    real.cache_clear()
    try:
        monkeypatch.setattr(runtime, "default_providers", lambda: [runtime.CPU])
        monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
        assert real()
        for flags, providers in (({"avx512f", "avx512_bf16"}, [runtime.CPU]),  # AVX512-BF16 alone (AMD Zen 4)
                                 ({"avx2", "avx_vnni"}, [runtime.CPU]),
                                 ({"amx_bf16"}, [runtime.CUDA, runtime.CPU])):  # a GPU runs the networks
            real.cache_clear()
            monkeypatch.setattr(runtime, "cpu_flags", lambda flags=flags: flags)
            monkeypatch.setattr(runtime, "default_providers", lambda providers=providers: providers)
            assert not real(), flags
    finally:
        real.cache_clear()


def test_bf16_decode_pays_with_avx512_bf16_alone_and_from_more_pixels(tiny_model_dir, monkeypatch):
    real = REAL_BF16_DECODE_PAYS  # the suite pins it to False; this test asks the real one
    try:
        for flags, providers, pays in (({"avx512f", "avx512_bf16"}, [runtime.CPU], True),  # AMD Zen 4
                                       ({"amx_bf16", "avx512_bf16"}, [runtime.CPU], True),
                                       ({"avx2", "avx_vnni"}, [runtime.CPU], False),
                                       ({"avx512_bf16"}, [runtime.CUDA, runtime.CPU], False)):
            real.cache_clear()
            monkeypatch.setattr(runtime, "cpu_flags", lambda flags=flags: flags)
            monkeypatch.setattr(runtime, "default_providers", lambda providers=providers: providers)
            assert real() is pays, flags
    finally:
        real.cache_clear()
    info = zoo.find("vaegan-tiny")
    monkeypatch.setattr(zoo, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(runtime, "int8_pays", lambda: False)
    monkeypatch.setattr(runtime, "bf16_decode_pays", lambda: True)  # AVX512-BF16, no AMX: bf16_pays False
    # a long decode takes bfloat16, an encode does not; "long" counts more pixels than with AMX
    assert zoo.resolve_backend("auto", info, decode=True) == "bf16"
    assert zoo.resolve_backend("auto", info) == "ort"
    assert zoo.resolve_backend("auto", info, short=True, decode=True) == "ort"
    n = zoo.BF16_MIN_DECODE_PIXELS_AVX512 // (640 * 360)
    assert zoo.short_decode(n, 640, 360) and not zoo.short_decode(n + 1, 640, 360)
    assert not zoo.short_decode(None, 640, 360)  # a live stream: long
    monkeypatch.setattr(runtime, "bf16_pays", lambda: True)  # with AMX, from fewer
    n = zoo.BF16_MIN_DECODE_PIXELS // (640 * 360)
    assert zoo.short_decode(n, 640, 360) and not zoo.short_decode(n + 1, 640, 360)
    monkeypatch.setattr(runtime, "bf16_pays", lambda: False)
    monkeypatch.setattr(runtime, "bf16_decode_pays", lambda: False)
    assert zoo.resolve_backend("auto", info, decode=True) == "ort"


def test_auto_encodes_and_decodes_in_bfloat16_where_it_pays(tiny_model_dir, clip, tmp_path, monkeypatch,
                                                             torch_threads):
    info = zoo.find("vaegan-tiny")
    native = _bf16_here()  # asked before cpu_has_bf16 is replaced below
    monkeypatch.setattr(runtime, "bf16_pays", lambda: True)
    monkeypatch.setattr(runtime, "int8_pays", lambda: True)
    monkeypatch.setattr(zoo, "cpu_has_bf16", lambda: True)
    assert zoo.resolve_backend("auto", info) == "bf16"  # before int8, whose ranges the tiny model lacks anyway
    assert zoo.resolve_backend("auto", info, decode=True) == "bf16"
    assert zoo.resolve_backend("ort", info) == "ort" and zoo.resolve_backend("int8", info) == "int8"
    monkeypatch.setattr(zoo, "cpu_has_bf16", lambda: False)  # the flags say so, oneDNN does not
    assert zoo.resolve_backend("auto", info) == "ort"

    def no_torch():
        raise ImportError("libtorch_cpu.so: cannot open shared object file")

    monkeypatch.setattr(zoo, "cpu_has_bf16", no_torch)  # a broken torch: as without AMX, no error
    assert zoo.resolve_backend("auto", info) == "ort"
    monkeypatch.setattr(runtime, "bf16_pays", lambda: False)
    monkeypatch.setattr(zoo, "cpu_has_bf16", lambda: True)
    assert zoo.resolve_backend("auto", info) == "ort"
    monkeypatch.setattr(runtime, "int8_pays", lambda: True)
    assert zoo.resolve_backend("auto", info, decode=True) == "ort"  # the 8-bit analysis is the encoder's only
    monkeypatch.setattr(runtime, "bf16_pays", lambda: True)

    def not_asked():
        raise AssertionError("a short encode must not import torch to ask oneDNN")

    monkeypatch.setattr(zoo, "cpu_has_bf16", not_asked)  # a short input never takes bf16, nor asks torch
    assert zoo.resolve_backend("auto", info, short=True) == "ort"
    assert zoo.resolve_backend("bf16", info, short=True) == "bf16"  # a backend asked for is kept
    if not native:
        return
    monkeypatch.setattr(runtime, "bf16_pays", lambda: True)
    monkeypatch.setenv("VIDCODEC_TORCH_DEVICE", "cpu")
    zoo.torch_device.cache_clear()
    zoo._load.cache_clear()
    monkeypatch.setattr(zoo, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(zoo, "BF16_MIN_FRAMES", 3)  # so that the 12-frame clip is long and 2 frames short
    monkeypatch.setattr(zoo, "BF16_MIN_DECODE_PIXELS", 3 * 64 * 48)  # and likewise for decoding
    try:
        paths = {b: tmp_path / f"{b}.gvc" for b in ("auto", "bf16", "auto-short", "ort-short", "bf16-short")}
        for b, path in paths.items():
            vidcodec.encode(clip, path, model="vaegan-tiny", quality=2, max_frames=2 if "short" in b else 3,
                            backend=b.split("-")[0])
        assert paths["auto"].read_bytes() == paths["bf16"].read_bytes()
        # two frames would not repay torch's import: auto encodes them as without AMX (ort: no int8 ranges)
        assert paths["auto-short"].read_bytes() == paths["ort-short"].read_bytes()
        assert paths["auto-short"].read_bytes() != paths["bf16-short"].read_bytes()
        assert zoo.load("vaegan-tiny", backend="auto").backend == "bf16"
        assert zoo.load("vaegan-tiny", backend="auto", frames=3).backend == "bf16"
        assert zoo.load("vaegan-tiny", backend="auto", frames=2).backend == "ort"
        assert zoo.load("vaegan-tiny", backend="bf16", frames=2).backend == "bf16"
        assert zoo.load("vaegan-tiny", backend="ort").backend == "ort"
        # decoding with auto: bfloat16 for a stream not known to be short, ONNX Runtime for one that is;
        # the API's default is ONNX Runtime
        def rgb(path, backend):
            return np.stack([f.rgb for f in vidcodec.frames(path, backend=backend)])

        np.testing.assert_array_equal(rgb(paths["auto"], "auto"), rgb(paths["auto"], "bf16"))
        np.testing.assert_array_equal(rgb(paths["auto-short"], "auto"), rgb(paths["auto-short"], "ort"))
        np.testing.assert_array_equal(np.stack([f.rgb for f in vidcodec.frames(paths["auto"])]),
                                      rgb(paths["auto"], "ort"))
    finally:
        zoo.torch_device.cache_clear()
        zoo._load.cache_clear()


@pytest.mark.parametrize(("platform", "machine", "wanted"), [
    ("linux", "x86_64", "onnxruntime-gpu"), ("win32", "AMD64", "onnxruntime-gpu"),
    ("linux", "aarch64", "onnxruntime"), ("darwin", "arm64", "onnxruntime"), ("darwin", "x86_64", "onnxruntime"),
    ("win32", "ARM64", "onnxruntime"),
])
def test_each_platform_installs_one_onnx_runtime_that_exists_there(platform, machine, wanted):
    """onnxruntime-gpu has wheels for x86-64 Linux and Windows only: a hard requirement made pip fail
    on macOS and ARM Linux. Exactly one of the two builds (the same module) applies on each."""
    import tomllib

    from packaging.requirements import Requirement

    deps = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    env = {"sys_platform": platform, "platform_machine": machine}
    applying = [r.name for r in map(Requirement, deps) if r.name.startswith("onnxruntime")
                and (r.marker is None or r.marker.evaluate(env))]
    assert applying == [wanted]


def test_auto_decoding_weighs_the_index_frame_count_of_a_stream_written_from_a_pipe(tiny_model_dir, clip, tmp_path,
                                                                                    monkeypatch):
    """A stream encoded from a pipe (or a y4m) has no frame count in its header, only in its index: auto
    took it for a long stream and decoded 100 frames of 640x360 in bfloat16, slower for torch's import."""
    y4m, gvc = tmp_path / "c.y4m", tmp_path / "piped.gvc"  # y4m says no frame count either
    frame = b"FRAME\n" + bytes(64 * 48) + bytes([128]) * (64 * 48 // 2)
    y4m.write_bytes(b"YUV4MPEG2 W64 H48 F10:1 Ip A1:1 C420jpeg\n" + frame * 5)
    vidcodec.encode(y4m, gvc, model="vaegan-tiny", quality=2)
    assert container.probe(gvc)["header"]["frame_count"] == 0  # the header did not know it
    seen = []
    real = zoo.resolve_backend
    monkeypatch.setattr(zoo, "resolve_backend",
                        lambda *a, **k: (k.get("decode") and seen.append(k.get("short"))) or real(*a, **k))
    for least in ("BF16_MIN_DECODE_PIXELS", "BF16_MIN_DECODE_PIXELS_AVX512"):  # with AMX or without
        monkeypatch.setattr(zoo, least, 6 * 64 * 48)
    assert len(list(vidcodec.frames(gvc, backend="auto"))) == 5 and seen[-1] is True  # 5 frames: short
    for least in ("BF16_MIN_DECODE_PIXELS", "BF16_MIN_DECODE_PIXELS_AVX512"):
        monkeypatch.setattr(zoo, least, 5 * 64 * 48)
    assert len(list(vidcodec.frames(gvc, backend="auto"))) == 5 and seen[-1] is False


def test_auto_decoding_weighs_the_frames_a_decode_will_make(tiny_model_dir, clip, tmp_path, monkeypatch, caplog):
    """A thumbnail (--frames 1), a --start near the end or a -t of a long stream paid torch's import
    for a frame or two; and a bfloat16 model that cannot be set up (a CUDA device asked for, none
    there) failed a decode that ONNX Runtime could do."""
    from fractions import Fraction

    gvc = tmp_path / "c.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2)  # 12 frames at 10 fps
    hdr = container.probe(gvc)
    with container.GvcReader(gvc) as r:
        h = r.header
    assert hdr["header"]["frame_count"] == 12
    assert api._frames_wanted(h, None, None, None) == 12
    assert api._frames_wanted(h, None, 1, None) == 1
    assert api._frames_wanted(h, Fraction(2, 5), None, None) == 8  # from 0.4 s on: 12 - 4
    assert api._frames_wanted(h, None, None, Fraction(1, 5)) == 2
    import dataclasses

    assert api._frames_wanted(dataclasses.replace(h, frame_count=0), None, None, None) is None  # not known: long
    assert api._frames_wanted(dataclasses.replace(h, frame_count=0), None, 3, None) == 3
    monkeypatch.setattr(zoo, "resolve_backend", lambda backend, info, **k: "bf16" if backend == "auto" else backend)
    real_load = zoo.load

    def load(name, sha256=None, backend="ort", frames=None):
        if backend == "bf16":
            raise UsageError("--backend bf16: torch sees no CUDA device")
        return real_load(name, sha256, backend=backend, frames=frames)

    monkeypatch.setattr(zoo, "load", load)
    assert api._stream_model(h, "auto", 12).backend == "ort" and "decoding with ONNX Runtime" in caplog.text
    with pytest.raises(UsageError, match="no CUDA device"):
        api._stream_model(h, "bf16", 12)  # asked for by name: the error stands


class _Later:
    """A stand-in for the bfloat16 model a Handover loads: counts its warm-up and can be slow or fail."""

    latent_channels = 4

    def __init__(self, delay: float = 0.0, error: Exception | None = None) -> None:
        self.delay, self.error, self.warmed = delay, error, []

    def picture(self, y, width, height, colour=None):
        import time

        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.warmed.append((y.shape, width, height))
        return np.zeros((height, width, 3), np.uint8)


@pytest.mark.parametrize("delay", [0.0, 0.3])
def test_handover_switches_at_a_frame_the_stream_alone_fixes(tiny_model_dir, monkeypatch, delay):
    """A pipe's decode starts in ONNX Runtime and hands over to bfloat16 at the frame where the pixels
    decoded reach 3/4 of the threshold, the load started at half; a slow load is waited for there
    (never a later frame: the pictures must not depend on timing)."""
    first = zoo.load("vaegan-tiny", backend="ort")
    later = _Later(delay)
    asked = []
    monkeypatch.setattr(zoo, "load", lambda name, sha256=None, backend="ort", frames=None:
                        asked.append((name, sha256, backend)) or later)
    h = zoo.Handover(first, 8 * 64 * 48)  # load from frame 4, switch at frame 6
    assert h.name == first.name and h.delta_tables is first.delta_tables  # the parser's: first's
    pick = h.picker(64, 48)
    assert [pick() for _ in range(3)] == [first] * 3 and not asked  # frames 1-3: nothing loaded
    assert pick() is first  # frame 4: the load starts on a thread
    assert pick() is first
    assert [pick() for _ in range(5)] == [later] * 5  # from frame 6 on, however long the load took
    assert asked == [(first.name, first.sha256, "bf16")]  # once
    assert later.warmed == [((1, 4, 3, 4), 64, 48)]  # warmed up on the stream's size, off the decode's path


def test_a_players_handover_never_waits_and_its_loader_is_no_daemon(tiny_model_dir, monkeypatch):
    """A player's pictures are shown, not kept: bfloat16 takes over on the first frame after it is
    loaded, never waited for (a window froze at the switch while torch imported). The loader is not a
    daemon although the feeder thread that starts it is: an exit waits for it rather than stop it in
    torch's import. A Handover copies without recursing through its delegation."""
    import copy
    import threading

    first = zoo.load("vaegan-tiny", backend="ort")
    later = _Later(0.3)
    monkeypatch.setattr(zoo, "load", lambda *a, **k: later)
    h = zoo.Handover(first, 8 * 64 * 48, wait=False)
    assert copy.copy(h).first is first
    daemons = []

    def feeder():
        pick = h.picker(64, 48)
        daemons.append([pick() for _ in range(8)])

    t = threading.Thread(target=feeder, daemon=True)
    t.start()
    t.join()
    assert daemons[0] == [first] * 8  # the load (0.3 s) had not finished: never waited for
    assert h._thread is not None and not h._thread.daemon
    h._thread.join()
    assert h.picker(64, 48)() is later  # loaded: from the next frame on
    # where torch is imported already (a seek), the load starts at the first frame
    h2 = zoo.Handover(first, 8 * 64 * 48, wait=False)
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch") or object())
    later.delay = 0.0
    pick = h2.picker(64, 48)
    pick()
    h2._thread.join()
    assert pick() is later


def test_handover_goes_on_in_onnx_runtime_where_bfloat16_cannot_be_set_up(tiny_model_dir, monkeypatch, caplog):
    first = zoo.load("vaegan-tiny", backend="ort")
    later = _Later(error=ValueError("a broken torch install"))  # any error: ONNX Runtime goes on, no traceback
    loads = []
    monkeypatch.setattr(zoo, "load", lambda *a, **k: loads.append(a) or later)
    pick = zoo.Handover(first, 4 * 64 * 48).picker(64, 48)
    with caplog.at_level(logging.INFO, logger="vidcodec"):
        assert [pick() for _ in range(6)] == [first] * 6
    assert len(loads) == 1 and "decoding on with ONNX Runtime" in caplog.text and "broken torch" in caplog.text


class _Unseekable(io.BytesIO):
    """A stream's bytes as a pipe gives them: no seeking, so no index and no frame count."""

    def seekable(self) -> bool:
        return False


def test_auto_decodes_a_pipe_in_onnx_runtime_then_in_bfloat16(tiny_model_dir, clip, tmp_path, monkeypatch,
                                                              torch_threads):
    """A stream of unknown length (a pipe, a live stream) paid torch's import before its first picture
    where auto takes bfloat16 (a 12-frame pipe decoded in 2.8 s instead of 0.5 on the AMD EPYC VM): now
    ONNX Runtime decodes its first frames and bfloat16 the rest, from a frame fixed by the stream."""
    import av

    with av.open(str(clip)) as c:
        pictures = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    pipe = _Unseekable()
    # 12 frames from an iterator, into a pipe: the header has no count, nor is there an index
    vidcodec.encode(iter(pictures), pipe, model="vaegan-tiny", quality=2, framerate=10)
    data = pipe.getvalue()
    assert container.GvcReader(_Unseekable(data)).header.frame_count == 0
    monkeypatch.setattr(runtime, "bf16_decode_pays", lambda: True)  # AVX512-BF16, no AMX
    monkeypatch.setattr(zoo, "BF16_MIN_DECODE_PIXELS_AVX512", 8 * 64 * 48)  # load from frame 4, switch at 6
    seen = []
    real = zoo.Handover.picker

    def picker(self, width, height):
        pick = real(self, width, height)

        def spied():
            model = pick()
            seen.append(model.backend)
            return model

        return spied

    monkeypatch.setattr(zoo.Handover, "picker", picker)
    # the later model asked of zoo.load: bfloat16 where this CPU runs it, else torch in float32 (the
    # same hand-over, pictures that differ from ONNX Runtime's by rounding)
    native = _bf16_here()
    real_load = zoo.load
    monkeypatch.setattr(zoo, "load", lambda name, sha256=None, backend="ort", frames=None: real_load(
        name, sha256, backend="torch" if backend == "bf16" and not native else backend, frames=frames))
    later = "bf16" if native else "torch"
    handed = np.stack([f.rgb for f in vidcodec.frames(_Unseekable(data), backend="auto")])
    assert seen == ["ort"] * 5 + [later] * 7
    ort = np.stack([f.rgb for f in vidcodec.frames(_Unseekable(data), backend="ort")])
    np.testing.assert_array_equal(handed[:5], ort[:5])
    np.testing.assert_array_equal(handed[5:], np.stack([f.rgb for f in vidcodec.frames(_Unseekable(data),
                                                                                          backend=later)])[5:])
    # the same stream from a file, whose index counts its 12 frames: the choice made up front, as before
    path = tmp_path / "c.gvc"
    path.write_bytes(data)
    seen.clear()
    assert len(list(vidcodec.frames(path, backend="auto"))) == 12 and not seen
