"""The analysis transform with 8-bit convolutions in ONNX Runtime (``--backend int8``): the encoder's side only.

The float32 export's convolutions get QuantizeLinear/DequantizeLinear pairs (the QDQ format),
which ONNX Runtime's CPU provider fuses into integer convolutions: weights per output channel
(int8, symmetric), activations per tensor (uint8) over the ranges they took on real pictures. Three
changes to the float graph first, each exact in float32 (recipe v2, :func:`prepared`):

- the input: ``x - 0.5`` becomes a border of 0.5 around ``x`` and a bias folded into the first
  convolution, so that the 8-bit input is the frame's own 8-bit values (scale 1/255, no rounding;
  only the border's 0.5 becomes 128/255);
- the channels: each GDN stage's channels are scaled up by up to :data:`MAX_SCALE` where their range
  is small, and the next convolution's weights scaled down by as much (cross-layer equalization, with
  GDN's γ divided to match), so that per-tensor 8-bit steps fit every channel;
- the last convolution, whose output is the latent itself, stays in float32 (its input is a
  1/16-scale picture: a sixth of the analysis's time in float).

After quantization each GDN's |x| between a dequantization and a quantization becomes a LeakyRelu of
slope −1 (:func:`abs_as_leaky_relu`), the same function, which ONNX Runtime runs on the 8-bit values
through a table (QLinearLeakyRelu) instead of in float32: the same latents, about a tenth of the
analysis's time saved.

The scales and the ranges are measured once per model and shipped beside its weights as
``NAME.int8.json``: ``python -m vidcodec.int8 NAME IMAGE_OR_FOLDER...`` makes it. The quantized graph
is built from the cached float export and that file on first use and cached beside it
(:func:`vidcodec.runtime.cached_int8_analysis`).

Only the encoder's latents change, so streams made this way are ordinary streams that any backend
decodes, and decoding with ``--backend int8`` is decoding with ONNX Runtime in float32. The speed and
the rate-distortion cost are in runs/int8-analysis (README.md) and docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .errors import UsageError
from .progress import quieted

CALIBRATION_SIZE = (384, 256)  # width, height: pictures are scaled to this to measure the ranges
# Ranges: ONNX Runtime's percentile calibration (99.999 % of each activation's histogram), which on
# vaegan-g changed fewer of a 640x360 frame's top-level symbols than min/max (2.7 against 3.2 %)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
FORMAT_TAG = b"int8-qdq-conv-percentile-v2-leaky-abs"  # what the quantized graph is: part of its cache key
RECIPE = "vidcodec-int8-v2"  # what NAME.int8.json holds (equalizing scales and ONNX Runtime's ranges)
MAX_SCALE = 8.0  # the most a channel is scaled up by the equalization
CHANNEL_PERCENTILE = 99.99  # of a channel's |values|: its range, for the equalization
PADDED = "int8_x_bordered"  # the input with its border of 0.5, what the first convolution reads
BIAS = "int8_first_bias"  # a zero bias given to a first convolution without one, to fold -0.5 · Σw into
AGAIN = "make it again with `python -m vidcodec.int8 NAME FOLDER_OF_PICTURES`, or use --backend ort"


def ranges_path(weights: Path) -> Path:
    """Where a model's activation ranges live: ``NAME.int8.json`` beside ``NAME.safetensors``."""
    return weights.with_name(weights.stem + ".int8.json")


def existing_ranges(name: str, weights: Path) -> Path:
    """The activation ranges of model ``name`` (weights at ``weights``); a UsageError saying how to
    make them when there are none or an older recipe made them."""
    path = ranges_path(weights)
    if not path.exists():
        raise UsageError(f"--backend int8 needs the activation ranges of model {name} ({path} is missing): make "
                         f"them with `python -m vidcodec.int8 {name} FOLDER_OF_PICTURES`, or use --backend ort")
    _read(path, name)
    return path


def cache_key(float_sha256: str, ranges: Path) -> str:
    """A name for the quantized graph: it changes with the float export (``float_sha256``, its file's
    SHA-256 as the export's manifest records it), the ranges and this module's recipe."""
    h = hashlib.sha256(FORMAT_TAG)
    h.update(bytes.fromhex(float_sha256))
    h.update(hashlib.sha256(ranges.read_bytes()).digest())
    return h.hexdigest()[:16]


def _stages(graph) -> list[tuple]:
    """The analysis graph's GDN stages as the float export writes them: (convolution, the Abs node
    reading GDN's γ, the convolution after the GDN, the Div) for each ``Div(conv, Conv(|conv|, |γ|, ·))``."""
    made = {o: n for n in graph.node for o in n.output}
    users: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    inits = {i.name: i for i in graph.initializer}
    stages = []
    for div in (n for n in graph.node if n.op_type == "Div"):
        conv, norm = made.get(div.input[0]), made.get(div.input[1])
        nxt = users.get(div.output[0], [])
        if conv is None or norm is None or conv.op_type != "Conv" or norm.op_type != "Conv":
            continue
        gamma = made.get(norm.input[1])
        if gamma is None or gamma.op_type != "Abs" or gamma.input[0] not in inits or len(users[gamma.output[0]]) != 1:
            continue
        if len(nxt) != 1 or nxt[0].op_type != "Conv" or nxt[0].input[0] != div.output[0]:
            continue
        stages.append((conv, gamma, nxt[0], div))
    return stages


def prepared(float_analysis: Path | str, scales: dict[str, list[float]] | None = None):
    """The float analysis graph made ready for 8 bits, the same function in float32 (module
    docstring): the input's ``- 0.5`` as a border of 0.5 and a bias, and each GDN stage's channels
    scaled by ``scales`` (keyed by the stage's Div output; none: unscaled). Returns the ONNX model."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(float_analysis))
    g = model.graph
    for i, n in enumerate(g.node):
        n.name = n.name or f"node{i}"  # _replace names copies after their node
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in g.node
              if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    x = g.input[0].name
    sub = next((n for n in g.node if n.op_type == "Sub" and n.input[0] == x), None)
    first = next((n for n in g.node if sub is not None and n.op_type == "Conv" and n.input[0] == sub.output[0]), None)
    half = None if sub is None else consts.get(sub.input[1], inits.get(sub.input[1]))
    pads = None if first is None else next((a for a in first.attribute if a.name == "pads"), None)
    only = sub is not None and sum(sub.output[0] in n.input for n in g.node) == 1
    if half is None or half.size != 1 or half.item() != 0.5 or pads is None or not only or first.input[1] not in inits:
        raise UsageError(f"{float_analysis}: not an analysis graph this module knows (x - 0.5 read only by a "
                         "padded convolution); use --backend ort")
    w = inits[first.input[1]]
    if len(first.input) < 3:  # no bias: a zero one to fold into
        inits[BIAS] = np.zeros(w.shape[0], np.float32)
        first.input.append(BIAS)
    _replace(g, first, 2, inits, inits[first.input[2]] - 0.5 * w.sum(axis=(1, 2, 3)))
    p = list(pads.ints)  # top, left, bottom, right
    pads.ClearField("ints")
    pads.ints.extend([0, 0, 0, 0])
    g.initializer.extend([numpy_helper.from_array(np.array([0, 0, p[0], p[1], 0, 0, p[2], p[3]], np.int64), "int8_border"),
                          numpy_helper.from_array(np.array(0.5, np.float32), "int8_border_value")])
    first.input[0] = PADDED
    at = list(g.node).index(sub)
    g.node.remove(sub)
    g.node.insert(at, helper.make_node("Pad", [x, "int8_border", "int8_border_value"], [PADDED], mode="constant",
                                       name="int8_border"))
    stages = _stages(g) if scales else []
    if scales and sorted(scales) != sorted(div.output[0] for *_, div in stages):
        raise UsageError(f"the channel scales name stages ({', '.join(sorted(scales))}) that {float_analysis} does "
                         f"not have: {AGAIN}")
    for conv, gamma, nxt, div in stages:
        s = np.asarray(scales[div.output[0]], np.float32)
        if s.shape != (inits[conv.input[1]].shape[0],) or not (s > 0).all():
            raise UsageError(f"the channel scales of {div.output[0]} do not fit {float_analysis}: {AGAIN}")
        _scale(g, conv, 1, inits, s[:, None, None, None])
        if len(conv.input) > 2:
            _scale(g, conv, 2, inits, s)
        _scale(g, gamma, 0, inits, 1 / s[None, :, None, None])
        _scale(g, nxt, 1, inits, 1 / s[None, :, None, None])
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for n in [n for n in g.node if n.op_type == "Constant" and n.output[0] not in used]:
        g.node.remove(n)
    for i in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(i)
    return model


def _replace(graph, node, index: int, inits: dict[str, np.ndarray], value: np.ndarray) -> None:
    """Make the initializer that ``node`` reads as input ``index`` ``value``, in a copy of its own
    (the exporter shares equal initializers between nodes: the tiny test model's GDNs); ``inits``
    (name: array) follows."""
    from onnx import numpy_helper

    name = node.input[index]
    own = f"int8:{node.name}:{index}"
    value = value.astype(np.float32)
    if name == own:  # already this node's own: change it
        for init in graph.initializer:
            if init.name == own:
                init.CopyFrom(numpy_helper.from_array(value, own))
    else:
        graph.initializer.append(numpy_helper.from_array(value, own))
        node.input[index] = own
    inits[own] = value


def _scale(graph, node, index: int, inits: dict[str, np.ndarray], factor: np.ndarray) -> None:
    _replace(graph, node, index, inits, inits[node.input[index]] * factor)


def last_convolution(model) -> str:
    """The name of the convolution whose output is the graph's (the latent): it stays in float32."""
    out = model.graph.output[0].name
    node = next((n for n in model.graph.node if out in n.output), None)
    if node is None or node.op_type != "Conv":
        raise UsageError("the analysis graph does not end in a convolution; use --backend ort")
    return node.name


def _quantize_static(model, out: Path | str, reader, ranges: Path) -> None:
    """ONNX Runtime's static quantization as this module does it (QDQ, weights int8 per channel,
    activations uint8, convolutions but the last, percentile ranges) of the :func:`prepared` graph
    ``model``: with a ``reader`` it measures the ranges and writes them (ONNX Runtime's calibration
    cache) to ``ranges``; without one it reads them from there."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    with tempfile.TemporaryDirectory() as tmp, quieted(None):  # ORT's quantization tools' advice (root logger)
        src = Path(tmp) / "prepared.onnx"
        onnx.save(model, str(src))
        args = {"quant_format": QuantFormat.QDQ, "per_channel": True, "activation_type": QuantType.QUInt8,
                "weight_type": QuantType.QInt8, "op_types_to_quantize": ["Conv"],
                "nodes_to_exclude": [last_convolution(model)], "calibrate_method": CalibrationMethod.Percentile}
        try:
            quantize_static(str(src), str(out), reader, calibration_cache_path=str(ranges), **args)
        except TypeError as e:  # an onnxruntime without calibration_cache_path (before 1.31)
            if "calibration_cache_path" not in str(e):
                raise
            raise UsageError(f"--backend int8 needs onnxruntime >= 1.31 (quantize_static's calibration_cache_path; "
                             f"{e}); use --backend ort") from None


def _read(ranges: Path, name: str = "NAME") -> dict:
    """NAME.int8.json's content; a UsageError for a file another recipe made, or a damaged one."""
    again = AGAIN.replace("NAME", name)
    try:
        data = json.loads(ranges.read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"{ranges}: unreadable ({e}); {again}") from None
    if not isinstance(data, dict) or data.get("recipe") != RECIPE:
        raise UsageError(f"{ranges} was made by another vidcodec (not recipe {RECIPE}): {again}")
    if not isinstance(data.get("scales"), dict) or not isinstance(data.get("ranges"), dict):
        raise UsageError(f"{ranges} lacks its channel scales or ranges: {again}")
    tensors = data["ranges"].get("data")
    if not isinstance(tensors, dict) or not all(isinstance(t, dict) for t in tensors.values()) or not all(
            isinstance(v, list) for v in data["scales"].values()):
        raise UsageError(f"{ranges} is damaged (its scales or ranges are not tables of numbers): {again}")
    return data


def quantize(float_analysis: Path, ranges: Path, out: Path) -> Path:
    """Write the 8-bit analysis graph for ``float_analysis`` with the scales and activation ranges
    ``ranges`` (NAME.int8.json) to ``out`` (atomically). Raises UsageError when this ONNX Runtime
    cannot build it from a calibration cache."""
    name = ranges.name.removesuffix(".int8.json")
    data = _read(ranges, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name, suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        try:
            model = prepared(float_analysis, data["scales"])
            with tempfile.TemporaryDirectory() as d:
                cache = Path(d) / "ranges.json"
                cache.write_text(json.dumps(data["ranges"]))
                _quantize_static(model, tmp, None, cache)
        except (KeyError, ValueError, IndexError) as e:  # damaged, or edited by hand (an ONNX Runtime whose
            # API moved, a TypeError or AttributeError, is not the file's fault: raised as it is)
            raise UsageError(f"{ranges}: its scales or ranges do not fit the model ({type(e).__name__}: {e}); "
                             f"{AGAIN.replace('NAME', name)}") from None
        import onnx

        graph = onnx.load(tmp)
        abs_as_leaky_relu(graph)
        onnx.save(graph, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def abs_as_leaky_relu(model) -> int:
    """Rewrite in place each Abs of a quantized graph that reads a DequantizeLinear and feeds only
    QuantizeLinear nodes (a GDN's |x| of an 8-bit tensor) as LeakyRelu with alpha −1: the same
    function in float32 (x, or −1·x, exactly), which ONNX Runtime's CPU provider fuses with the two
    into QLinearLeakyRelu, a 256-entry table over the 8-bit values, instead of dequantizing, taking
    |x| and quantizing again in float32. vaegan-i at 640×368, one thread (2026-12-05): in ONNX
    Runtime's profile those steps took about 6.5 of the analysis's 39 ms and QLinearLeakyRelu 1.7;
    the analysis 35.7 -> 32.2 ms (the fastest of 15 interleaved runs; medians 48.8 -> 43.5 on a busy
    VM); the same latents (tests/test_int8.py). The number rewritten."""
    from onnx import helper

    made_by = {out: n for n in model.graph.node for out in n.output}
    readers: dict[str, list] = {}
    for n in model.graph.node:
        for name in n.input:
            readers.setdefault(name, []).append(n)
    count = 0
    for n in model.graph.node:
        if n.op_type != "Abs" or len(n.input) != 1:
            continue
        source = made_by.get(n.input[0])
        users = readers.get(n.output[0], [])
        if source is None or source.op_type != "DequantizeLinear" or not users:
            continue
        if any(u.op_type != "QuantizeLinear" for u in users):
            continue
        if any(o.name == n.output[0] for o in model.graph.output):
            continue
        n.op_type = "LeakyRelu"
        del n.attribute[:]
        n.attribute.append(helper.make_attribute("alpha", -1.0))
        count += 1
    return count


def _pictures(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            files.append(p)
        else:
            raise UsageError(f"{p}: no such picture or folder")
    return files


def _channel_ranges(model, feed: list[dict]) -> dict[str, np.ndarray]:
    """Per channel, the CHANNEL_PERCENTILE of |values| over ``feed`` of every tensor a GDN stage
    reads or writes (its convolution's output and its Div's), keyed by tensor name."""
    import onnx
    import onnxruntime as ort

    from . import runtime

    names = [t for conv, _, _, div in _stages(model.graph) for t in (conv.output[0], div.output[0])]
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    session = ort.InferenceSession(probe.SerializeToString(), runtime.session_options(),
                                   providers=["CPUExecutionProvider"])
    values: dict[str, list] = {n: [] for n in names}
    for item in feed:
        for n, v in zip(names, session.run(names, item)):
            values[n].append(np.abs(v[0]).reshape(v.shape[1], -1))
    return {n: np.percentile(np.concatenate(v, axis=1), CHANNEL_PERCENTILE, axis=1) for n, v in values.items()}


def equalizing_scales(model, feed: list[dict]) -> dict[str, list[float]]:
    """Each GDN stage's channel scales: as much as lifts a channel's range to the largest one, for
    its convolution's output and its GDN's output alike, between 1 and MAX_SCALE; keyed by the
    stage's Div output. ``model``: the :func:`prepared` graph without scales."""
    r = _channel_ranges(model, feed)
    scales = {}
    for conv, _, _, div in _stages(model.graph):
        a, b = r[conv.output[0]], r[div.output[0]]
        s = np.minimum(a.max() / np.maximum(a, 1e-12), b.max() / np.maximum(b, 1e-12))
        scales[div.output[0]] = [float(v) for v in np.clip(s, 1.0, MAX_SCALE).astype(np.float32)]
    return scales


def calibrate(model, pictures: Sequence[np.ndarray], out: Path) -> Path:
    """Measure the analysis graph's equalizing scales and activation ranges (percentiles) on
    ``pictures`` (H×W×3 uint8 RGB, scaled to :data:`CALIBRATION_SIZE`) and write them to ``out``
    (NAME.int8.json: the recipe, the scales, ONNX Runtime's calibration cache). ``model``: a loaded
    VAE-GAN :class:`vidcodec.models.zoo.CodecModel`."""
    import cv2
    from onnxruntime.quantization import CalibrationDataReader

    from . import runtime
    from .codec.vaegan import to_tensor

    if not pictures:
        raise UsageError("calibration needs at least one picture")
    analysis = runtime.cached_export(model)["analysis"]
    name = runtime.ANALYSIS_IO[0]
    feed = [{name: to_tensor(cv2.resize(rgb, CALIBRATION_SIZE, interpolation=cv2.INTER_AREA), model.downscale)}
            for rgb in pictures]
    scales = equalizing_scales(prepared(analysis), feed)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(feed)

        def get_next(self) -> dict | None:
            return next(self.items, None)

    # the ranges are the product, the graph is thrown away; the histogram collector prints its sizes
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        cache = Path(tmp) / "ranges.json"
        _quantize_static(prepared(analysis, scales), Path(tmp) / "q.onnx", Reader(), cache)
        ranges = json.loads(cache.read_text())
    # the input and its border are the frame's 8-bit values: [0, 1] in steps of 1/255, exactly
    for tensor in (name, PADDED):
        ranges["data"][tensor] = {"CLS": "TensorData", "bins": 0, "hist": 0, "lowest": 0.0, "highest": 1.0}
    out.parent.mkdir(parents=True, exist_ok=True)
    # ONNX Runtime writes the tensors in set order: sorted, the same pictures give the same bytes
    out.write_text(json.dumps({"recipe": RECIPE, "scales": scales, "ranges": ranges}, sort_keys=True))
    out.chmod(0o644)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m vidcodec.int8",
        description="Measure a model's activation ranges for --backend int8 (the analysis transform with 8-bit "
        "convolutions) on real pictures, and write NAME.int8.json beside its weights (or to --out).",
        epilog="Example: python -m vidcodec.int8 vaegan-g data/photos --count 24 --skip-every 12 "
        "(every 12th photo is held out of training; leave those out here too)")
    p.add_argument("model", help="installed model name")
    p.add_argument("pictures", nargs="+", type=Path, help="picture files or folders of them (jpg, png, webp)")
    p.add_argument("--count", type=int, default=24, help="pictures to use, in name order (default 24)")
    p.add_argument("--skip-every", type=int, default=0, metavar="N",
                   help="leave out every Nth picture (index 0, N, 2N...) of the list (default: none)")
    p.add_argument("--out", type=Path, help="where to write the ranges (default: beside the model's weights)")
    a = p.parse_args(argv)
    import cv2

    from .models import zoo

    try:
        m = zoo.load(a.model)
        files = [f for i, f in enumerate(_pictures(a.pictures)) if not (a.skip_every and i % a.skip_every == 0)]
        files = files[:a.count]
        pics = []
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise UsageError(f"{f}: not a picture OpenCV can read")
            pics.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        out = calibrate(m, pics, a.out or ranges_path(m.info.weights))
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{out}: activation ranges of {a.model} from {len(pics)} pictures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
