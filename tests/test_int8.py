"""--backend int8: the analysis with 8-bit convolutions from shipped activation ranges (vidcodec/int8.py)."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from conftest import DATA
from onnx import numpy_helper

import vidcodec
from vidcodec import int8, runtime
from vidcodec.cli import main
from vidcodec.codec.vaegan import to_tensor
from vidcodec.errors import UsageError
from vidcodec.models import zoo


@pytest.fixture
def model_dir(tmp_path, monkeypatch) -> Path:
    """A copy of the tiny model in a folder of its own (its ranges are written beside it)."""
    folder = tmp_path / "models"
    folder.mkdir()
    for suffix in (".json", ".safetensors", ".subpel.safetensors"):
        shutil.copy(DATA / f"vaegan-tiny{suffix}", folder / f"vaegan-tiny{suffix}")
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", str(folder))
    zoo._load.cache_clear()
    yield folder
    zoo._load.cache_clear()


def _pictures(folder: Path, n: int = 5) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        # smooth random pictures: blurred noise, not flat, not white noise
        img = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (0, 0), 3)
        cv2.imwrite(str(folder / f"p{i}.png"), img)
    return folder


def test_int8_backend_without_ranges_says_how_to_make_them(model_dir):
    with pytest.raises(UsageError, match=r"python -m vidcodec\.int8 vaegan-tiny"):
        zoo.load("vaegan-tiny", backend="int8")


def test_a_read_only_cache_without_the_8bit_graph_builds_it_in_the_users_folder(model_dir, tmp_path, monkeypatch,
                                                                               caplog):
    # a cache filled by another user (the float export only) and read-only: the 8-bit graph had failed
    # to build there on every run, and the encoder fell back to float32 (other bytes, its speed lost)
    assert int8.main(["vaegan-tiny", str(_pictures(tmp_path / "pics")), "--count", "2"]) == 0
    f = zoo.load("vaegan-tiny", backend="ort")
    paths = runtime.cached_export(f)
    folder = paths["analysis"].parent
    writable = runtime._writable
    monkeypatch.setattr(runtime, "_writable", lambda p: Path(p) != folder and writable(p))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        built = runtime.cached_int8_analysis(f, paths)
    assert "cannot write the ONNX cache" in caplog.text
    assert built.is_relative_to(tmp_path / "tmp") and built.exists()
    assert not list(folder.glob("analysis-int8-*.onnx"))
    caplog.clear()
    assert runtime.cached_int8_analysis(f, paths) == built  # found there the next time
    q = zoo.load("vaegan-tiny", backend="int8")
    assert q.backend == "int8" and q.ort is not None


def test_calibrated_int8_analysis_is_close_to_float_and_its_streams_decode(model_dir, tmp_path, clip, capsys):
    assert int8.main(["vaegan-tiny", str(_pictures(tmp_path / "pics")), "--count", "4"]) == 0
    ranges = model_dir / "vaegan-tiny.int8.json"
    assert ranges.exists() and "4 pictures" in capsys.readouterr().out

    q, f = zoo.load("vaegan-tiny", backend="int8"), zoo.load("vaegan-tiny", backend="ort")
    q.ort  # noqa: B018 - the sessions, the 8-bit graph built for them
    cached = list(Path(runtime.cached_export(f)["analysis"]).parent.glob("analysis-int8-*.onnx"))
    assert len(cached) == 1
    graph = onnx.load(str(cached[0]))
    ops = {n.op_type for n in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    before = cached[0].stat().st_mtime_ns

    rng = np.random.default_rng(1)
    x = to_tensor(cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), (0, 0), 2))
    yq, yf = q.analyze(x), f.analyze(x)
    assert yq.shape == yf.shape and not np.array_equal(yq, yf)  # quantized, really
    assert np.abs(yq - yf).max() < 0.1 * np.abs(yf).max()
    top = f.gains[-1][:, None, None]
    assert (np.rint(yq[0] * top) == np.rint(yf[0] * top)).mean() > 0.8
    # the synthesis is the float one: decoding does not change
    assert np.array_equal(q.synthesize(yf), f.synthesize(yf))

    a, b = tmp_path / "q.gvc", tmp_path / "f.gvc"
    vidcodec.encode(clip, a, model="vaegan-tiny", quality=2, max_frames=4, backend="int8")
    vidcodec.encode(clip, b, model="vaegan-tiny", quality=2, max_frames=4, backend="ort")
    assert a.read_bytes() != b.read_bytes()
    assert vidcodec.decode(a, tmp_path / "q.y4m").frames == 4
    zoo._load.cache_clear()
    assert main(["encode", str(clip), str(tmp_path / "c.gvc"), "--backend", "int8", "--frames", "2",
                 "--model", "vaegan-tiny", "-q"]) == 0
    assert cached[0].stat().st_mtime_ns == before  # built once, then taken from the cache


def test_the_8bit_graphs_gdn_abs_is_a_leaky_relu_with_the_same_latents(model_dir, tmp_path):
    import onnxruntime as ort

    assert int8.main(["vaegan-tiny", str(_pictures(tmp_path / "pics")), "--count", "3"]) == 0
    zoo.load("vaegan-tiny", backend="int8").ort  # noqa: B018 - builds the graph
    folder = Path(runtime.cached_export(zoo.load("vaegan-tiny"))["analysis"]).parent
    graph = onnx.load(str(next(folder.glob("analysis-int8-*.onnx"))))
    made_by = {out: n.op_type for n in graph.graph.node for out in n.output}
    leaky = [n for n in graph.graph.node if n.op_type == "LeakyRelu"]
    assert leaky and all(made_by.get(n.input[0]) == "DequantizeLinear" for n in leaky)
    assert all(a.f == -1.0 for n in leaky for a in n.attribute if a.name == "alpha")
    # no |x| of an 8-bit tensor is left in float32 (the GDNs' |beta| of constants stays)
    assert not [n for n in graph.graph.node if n.op_type == "Abs" and made_by.get(n.input[0]) == "DequantizeLinear"]
    # the graph with Abs back computes the same latents
    with_abs = onnx.load(str(next(folder.glob("analysis-int8-*.onnx"))))
    for n in with_abs.graph.node:
        if n.op_type == "LeakyRelu":
            n.op_type = "Abs"
            del n.attribute[:]
    assert int8.abs_as_leaky_relu(with_abs) == len(leaky)  # and the rewrite finds them again
    for n in with_abs.graph.node:
        if n.op_type == "LeakyRelu":
            n.op_type = "Abs"
            del n.attribute[:]
    x = to_tensor(cv2.GaussianBlur(np.random.default_rng(2).integers(0, 256, (64, 96, 3), dtype=np.uint8), (0, 0), 2))
    runs = []
    for model in (graph, with_abs):
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        runs.append(session.run(None, {session.get_inputs()[0].name: x})[0])
    np.testing.assert_array_equal(runs[0], runs[1])


def test_new_ranges_make_a_new_quantized_graph(model_dir, tmp_path):
    pics = _pictures(tmp_path / "pics")
    assert int8.main(["vaegan-tiny", str(pics), "--count", "2", "--out", str(tmp_path / "a.json")]) == 0
    assert int8.main(["vaegan-tiny", str(pics), "--count", "2"]) == 0
    assert (tmp_path / "a.json").read_bytes() == (model_dir / "vaegan-tiny.int8.json").read_bytes()  # reproducible
    zoo.load("vaegan-tiny", backend="int8").ort  # noqa: B018 - builds the graph
    folder = Path(runtime.cached_export(zoo.load("vaegan-tiny"))["analysis"]).parent
    first = list(folder.glob("analysis-int8-*.onnx"))
    assert int8.main(["vaegan-tiny", str(pics), "--count", "5"]) == 0
    zoo._load.cache_clear()
    zoo.load("vaegan-tiny", backend="int8").ort  # noqa: B018
    second = list(folder.glob("analysis-int8-*.onnx"))
    assert len(first) == len(second) == 1 and first != second  # the old one is removed


def test_calibration_errors(model_dir, tmp_path, capsys):
    assert int8.main(["vaegan-tiny", str(tmp_path / "nowhere")]) == 2
    assert "no such picture or folder" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    assert int8.main(["vaegan-tiny", str(tmp_path / "bad.png")]) == 2
    assert "not a picture" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert int8.main(["vaegan-tiny", str(empty)]) == 2
    assert "at least one picture" in capsys.readouterr().err


def test_the_default_model_ships_percentile_ranges_and_equalizing_scales():
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorsData

    info = zoo.find(zoo.DEFAULT_MODEL)
    shipped = json.loads(int8.ranges_path(info.weights).read_text())
    assert shipped["recipe"] == int8.RECIPE
    data = TensorsData.from_dict(shipped["ranges"])
    assert data.calibration_method == CalibrationMethod.Percentile
    names = set(data.data)
    assert any(n.endswith("Conv_output_0") for n in names) and len(names) >= 8
    assert data.data["x"].range_value == (0.0, 1.0)  # the frame's own 8-bit steps
    assert len(shipped["scales"]) == 3 and all(1 <= v <= int8.MAX_SCALE for s in shipped["scales"].values() for v in s)


def _outputs(model, names: list[str], x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names if n != "y")
    return ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"]).run(names, {"x": x})


def test_prepared_graph_is_the_float_analysis(model_dir, tmp_path):
    """The input's border and the equalizing scales change nothing in float32, border pixels included,
    with γ not diagonal and the first convolution's padding lopsided; each GDN stage's output is
    scaled by its scales, channel by channel."""
    m = zoo.load("vaegan-tiny")
    graph = onnx.load(str(runtime.cached_export(m)["analysis"]))
    rng = np.random.default_rng(5)
    inits = {i.name: i for i in graph.graph.initializer}
    made = {o: n for n in graph.graph.node for o in n.output}
    for div in (n for n in graph.graph.node if n.op_type == "Div"):
        gamma = inits[made[made[div.input[1]].input[1]].input[0]]
        g = numpy_helper.to_array(gamma)
        gamma.CopyFrom(numpy_helper.from_array((g + rng.uniform(0, 0.05, g.shape)).astype(np.float32), gamma.name))
    first = next(n for n in graph.graph.node if n.op_type == "Conv")
    pads = next(a for a in first.attribute if a.name == "pads")
    pads.ClearField("ints")
    pads.ints.extend([1, 2, 3, 0])  # top, left, bottom, right
    path = tmp_path / "float.onnx"
    onnx.save(graph, str(path))
    x = to_tensor(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    plain = int8.prepared(path)
    stages = int8._stages(plain.graph)
    assert len(stages) == 3
    scales = {div.output[0]: list(rng.uniform(1, int8.MAX_SCALE, _channels(plain, g))) for _, g, _, div in stages}
    divs = [div.output[0] for *_, div in stages]
    want = _outputs(graph, ["y", *divs], x)
    for model in (plain, int8.prepared(path, scales)):
        got = _outputs(model, ["y", *divs], x)
        assert np.allclose(got[0], want[0], atol=1e-4 * np.abs(want[0]).max()), np.abs(got[0] - want[0]).max()
    for d, w, g in zip(divs, want[1:], got[1:]):
        s = np.asarray(scales[d], np.float32)[None, :, None, None]
        assert np.allclose(g, w * s, atol=1e-4 * np.abs(w * s).max())
    ops = [n.op_type for n in plain.graph.node]
    assert "Pad" in ops and "Sub" not in ops
    with pytest.raises(UsageError, match="scales name stages"):
        int8.prepared(path, {"nowhere": [1.0]})
    with pytest.raises(UsageError, match="do not fit"):
        int8.prepared(path, {d: [1.0] for d in divs})


def _channels(model, abs_node) -> int:
    return len(next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == abs_node.input[0]))


def test_ranges_from_an_older_recipe_are_refused_with_what_to_do(model_dir, tmp_path):
    pics = _pictures(tmp_path / "pics")
    assert int8.main(["vaegan-tiny", str(pics), "--count", "2"]) == 0
    path = model_dir / "vaegan-tiny.int8.json"
    path.write_text(json.dumps(json.loads(path.read_text())["ranges"]))  # v1: the calibration cache alone
    zoo._load.cache_clear()
    with pytest.raises(UsageError, match=r"another vidcodec.*python -m vidcodec\.int8 vaegan-tiny"):
        zoo.load("vaegan-tiny", backend="int8")


@pytest.mark.parametrize("damage", ["scales", "a range", "a null range"])
def test_ranges_damaged_past_the_recipe_check_are_refused_with_what_to_do(model_dir, tmp_path, damage):
    # a file with the recipe and both tables that do not fit the graph had failed inside ONNX Runtime's
    # quantization with a traceback (KeyError 'calibration_method'; "Quantization parameters are not
    # specified"), and auto had fallen back to float32 saying only ('calibration_method')
    pics = _pictures(tmp_path / "pics")
    assert int8.main(["vaegan-tiny", str(pics), "--count", "2"]) == 0
    path = model_dir / "vaegan-tiny.int8.json"
    data = json.loads(path.read_text())
    if damage == "scales":
        data["scales"], data["ranges"] = {}, {}
    elif damage == "a range":
        del data["ranges"]["data"][next(iter(data["ranges"]["data"]))]
    else:  # (ONNX Runtime's AttributeError, with a traceback)
        data["ranges"]["data"][next(iter(data["ranges"]["data"]))] = None
    path.write_text(json.dumps(data))
    zoo._load.cache_clear()
    with pytest.raises(UsageError, match=r"vaegan-tiny\.int8\.json(: its scales or ranges do not fit the model| is "
                                         r"damaged).*python -m vidcodec\.int8 vaegan-tiny"):
        zoo.load("vaegan-tiny", backend="int8").analyze(to_tensor(np.zeros((64, 64, 3), np.uint8)))


def test_eval_measures_the_int8_analysis_against_the_float_one(model_dir, tmp_path, capsys):
    from conftest import write_testsrc

    from vidcodec.evaluate import rd

    clip = write_testsrc(tmp_path / "c.mp4", frames=3, size=(64, 48))
    with pytest.raises(UsageError, match=r"python -m vidcodec\.int8 vaegan-tiny"):  # before any work
        rd.evaluate_clip(clip, frames=3, codecs=["vidcodec", "vidcodec-int8"], model="vaegan-tiny")
    assert main(["eval", str(clip), "--codecs", "vidcodec-int8", "--model", "vaegan-tiny", "-q"]) == 2
    assert "python -m vidcodec.int8 vaegan-tiny" in capsys.readouterr().err
    assert int8.main(["vaegan-tiny", str(_pictures(tmp_path / "pics")), "--count", "3"]) == 0
    zoo._load.cache_clear()
    points = rd.evaluate_clip(clip, frames=3, codecs=["vidcodec-ort", "vidcodec-int8"], model="vaegan-tiny")
    by = {}
    for p in points:
        by.setdefault(p.codec, []).append(p)
    assert [p.setting for p in by["vidcodec-int8"]] == [p.setting for p in by["vidcodec-ort"]]
    assert [p.bytes for p in by["vidcodec-int8"]] != [p.bytes for p in by["vidcodec-ort"]]  # other latents, really
    rows = rd.all_bd_rates(points)  # without plain vidcodec, the tables are vidcodec-ort's
    assert [(r["test"], r["reference"]) for r in rows] == [("vidcodec-ort", "vidcodec-int8")]
    assert len(rd.summarize(points)) == 3 and rd.summarize(points)[0]["what"].startswith("vidcodec-ort q=1")


def test_auto_encodes_in_8_bits_only_where_it_pays_and_decodes_as_ort(model_dir, tmp_path, clip, monkeypatch):
    info = zoo.find("vaegan-tiny")
    monkeypatch.setattr(runtime, "int8_pays", lambda: True)
    assert zoo.resolve_backend("auto", info) == "ort"  # no ranges shipped: float32, no error
    assert int8.main(["vaegan-tiny", str(_pictures(tmp_path / "pics")), "--count", "2"]) == 0
    assert zoo.resolve_backend("auto", info) == "int8" and zoo.resolve_backend("torch", info) == "torch"
    zoo._load.cache_clear()
    paths = {b: tmp_path / f"{b}.gvc" for b in ("auto", "int8", "ort")}
    for b, path in paths.items():
        vidcodec.encode(clip, path, model="vaegan-tiny", quality=2, max_frames=3, **({} if b == "auto" else {"backend": b}))
    assert paths["auto"].read_bytes() == paths["int8"].read_bytes() != paths["ort"].read_bytes()
    folder = Path(runtime.cached_export(zoo.load("vaegan-tiny"))["analysis"]).parent
    for old in folder.glob("analysis-int8-*.onnx"):
        old.unlink()
    zoo._load.cache_clear()
    assert main(["decode", str(paths["auto"]), str(tmp_path / "a.y4m"), "-q"]) == 0
    assert not list(folder.glob("analysis-int8-*.onnx"))  # --backend auto decodes as ort: no 8-bit graph
    # an 8-bit graph that cannot be built: a warning, and the float32 encoder's bytes
    zoo._load.cache_clear()
    quantize = int8.quantize
    monkeypatch.setattr(int8, "quantize", lambda *a: (_ for _ in ()).throw(RuntimeError("no luck")))
    vidcodec.encode(clip, tmp_path / "f.gvc", model="vaegan-tiny", quality=2, max_frames=3)
    assert (tmp_path / "f.gvc").read_bytes() == paths["ort"].read_bytes()
    monkeypatch.setattr(int8, "quantize", quantize)
    zoo._load.cache_clear()
    monkeypatch.setattr(runtime, "int8_pays", lambda: False)
    assert zoo.resolve_backend("auto", info) == "ort"  # a GPU, or a CPU without 8-bit dot products
    vidcodec.encode(clip, tmp_path / "x.gvc", model="vaegan-tiny", quality=2, max_frames=3)
    assert (tmp_path / "x.gvc").read_bytes() == paths["ort"].read_bytes()


def test_int8_pays_on_a_vnni_cpu_without_cuda(monkeypatch):
    runtime.int8_pays.cache_clear()
    try:
        monkeypatch.setattr(runtime, "default_providers", lambda: ["CPUExecutionProvider"])
        monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2", "avx512_vnni"})
        assert runtime.int8_pays()
        runtime.int8_pays.cache_clear()
        monkeypatch.setattr(runtime, "ort_version", lambda: (1, 30, 2))  # no graph from a calibration cache
        assert not runtime.int8_pays()
        monkeypatch.setattr(runtime, "ort_version", lambda: (1, 31))
        runtime.int8_pays.cache_clear()
        monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2", "fma"})
        assert not runtime.int8_pays()
        runtime.int8_pays.cache_clear()
        monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx_vnni"})
        monkeypatch.setattr(runtime, "default_providers", lambda: [runtime.CUDA, "CPUExecutionProvider"])
        assert not runtime.int8_pays()
    finally:
        runtime.int8_pays.cache_clear()
