"""The int8 analysis recipe's parts, one at a time (runs/int8-analysis/README.md, "Recipe v2"): each
variant calibrated on the same 24 corpus photos as `python -m vidcodec.int8` takes, then the
analysis's time on one thread (median of 8 calls at 640x360) and how far its latents are from the
float32 ones on 12 frames of bikes, vtest, diver and Megamind: the share of symbols that differ
and the RMS error in symbol units at levels 2, 5 and 8.

    python runs/int8-analysis/recipe.py [MODEL]
"""

import contextlib
import glob
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from vidcodec import int8, runtime
from vidcodec.codec.vaegan import to_tensor
from vidcodec.evaluate.bench import load_frames
from vidcodec.models import zoo

m = zoo.load(sys.argv[1] if len(sys.argv) > 1 else zoo.DEFAULT_MODEL)
src = runtime.cached_export(m)["analysis"]
photos = sorted(glob.glob("data/photos/*.jpg"))
pics = [cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB) for i, f in enumerate(photos) if i % 12][:24]
feed = [{"x": to_tensor(cv2.resize(p, int8.CALIBRATION_SIZE, interpolation=cv2.INTER_AREA), 16)} for p in pics]
O = "/work/ocv/x/usr/share/doc/opencv-doc/examples/data"
xs = []
for clip in ("samples/bikes.mp4", "samples/vtest.mp4", "data/videos/diver.mov", f"{O}/Megamind.avi"):
    frames, _, _ = load_frames(clip, 3, (640, 360))
    xs += [to_tensor(f, 16) for f in frames]


def session(model):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model if isinstance(model, str) else model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def quantized(model, exclude=(), exact_input=False) -> str:
    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(feed)

        def get_next(self):
            return next(self.items, None)

    tmp = tempfile.mkdtemp()
    onnx.save(model, f"{tmp}/f.onnx")
    kw = {"quant_format": QuantFormat.QDQ, "per_channel": True, "activation_type": QuantType.QUInt8,
              "weight_type": QuantType.QInt8, "op_types_to_quantize": ["Conv"], "nodes_to_exclude": list(exclude),
              "calibrate_method": CalibrationMethod.Percentile, "calibration_cache_path": f"{tmp}/r.json"}
    with contextlib.redirect_stdout(io.StringIO()):
        quantize_static(f"{tmp}/f.onnx", f"{tmp}/q.onnx", Reader(), **kw)
    if exact_input:  # the frame's own 8-bit steps, as int8.calibrate sets them
        r = json.loads(Path(f"{tmp}/r.json").read_text())
        for t in ("x", int8.PADDED):
            r["data"][t] = {"CLS": "TensorData", "bins": 0, "hist": 0, "lowest": 0.0, "highest": 1.0}
        Path(f"{tmp}/r.json").write_text(json.dumps(r))
        quantize_static(f"{tmp}/f.onnx", f"{tmp}/q.onnx", None, **kw)
    return f"{tmp}/q.onnx"


ref = session(str(src))
want = [ref.run(None, {"x": x})[0] for x in xs]


def score(name, path):
    s = session(path)
    got = [s.run(None, {"x": x})[0] for x in xs]
    ts = []
    for i in range(8):
        t = time.perf_counter()
        s.run(None, {"x": xs[i % len(xs)]})
        ts.append(time.perf_counter() - t)
    cells = []
    for lv in (1, 4, 7):
        g, k = m.gains[lv][:, None, None], m.level_channels[lv]
        differ = np.mean([np.mean(np.rint(a[0, :k] * g[:k]) != np.rint(b[0, :k] * g[:k])) for a, b in zip(want, got)])
        rms = np.mean([np.sqrt(np.mean(((a[0, :k] - b[0, :k]) * g[:k]) ** 2)) for a, b in zip(want, got)])
        cells.append(f"L{lv + 1} {100 * differ:.2f} % {rms:.3f}")
    print(f"{name:34s} {1000 * float(np.median(ts)):5.1f} ms   " + "   ".join(cells), flush=True)


plain = onnx.load(str(src))
last = int8.last_convolution(plain)
padded = int8.prepared(src)
scaled = int8.prepared(src, int8.equalizing_scales(padded, feed))
score("float32", str(src))
score("v1: every convolution", quantized(plain))
score("exact 8-bit input", quantized(padded, exact_input=True))
score("last convolution in float32", quantized(plain, [last]))
score("both", quantized(padded, [last], exact_input=True))
score("both + equalized GDN stages (v2)", quantized(scaled, [int8.last_convolution(scaled)], exact_input=True))
