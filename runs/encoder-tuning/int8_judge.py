"""Could an 8-bit synthesis in ONNX Runtime judge the fine deltas instead of torch's bfloat16 one
(no torch import: 1.2 s of a core, a GIL stall and 0.6 GB)? Quantizes the shipped model's float
synthesis export like the int8 analysis (QDQ, weights per channel, activations by percentile over
frames of three training clips) and times both on bikes' first frame at 640x368, one thread.

    python runs/encoder-tuning/int8_judge.py DATA OUT_DIR

Measured 2026-12-05 (session 47, 2-core VM, ONNX Runtime 1.31.1): float32 25.7 ms, 8-bit 27.7 ms
(its transposed convolutions are not run as integer kernels), the 8-bit picture 39.2 dB from the
float32 one (bfloat16's: about 60 dB). Dropped: no faster, and further from float32 than bfloat16.
"""
import sys
import time
from pathlib import Path

import av
import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from vidcodec import runtime
from vidcodec.codec.vaegan import to_tensor
from vidcodec.models import zoo

DATA, OUT = Path(sys.argv[1]), Path(sys.argv[2])
OUT.mkdir(parents=True, exist_ok=True)
m = zoo.load()
src = str(runtime.cached_export(m)["synthesis"])
# calibration latents: frames of the training clips (not the judged clips)
lat = []
for clip in [DATA / "videos/carphone.mp4", DATA / "videos/motion.mov", DATA / "videos/wannaworktogether.mp4"]:
    with av.open(clip) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 15:
                continue
            if i > 120:
                break
            rgb = f.to_ndarray(format="rgb24", width=384, height=256)
            lat.append(m.analyze(to_tensor(rgb)))
print("calibration latents", len(lat), lat[0].shape)
sess_in = ort.InferenceSession(src, providers=["CPUExecutionProvider"]).get_inputs()[0].name


class Latents(CalibrationDataReader):
    def __init__(self):
        self.it = iter(lat)

    def get_next(self):
        y = next(self.it, None)
        return None if y is None else {sess_in: y.astype(np.float32)}


quant_pre_process(src, str(OUT / "syn_pre.onnx"), skip_symbolic_shape=True)
quantize_static(str(OUT / "syn_pre.onnx"), str(OUT / "syn_q8.onnx"), Latents(), quant_format=QuantFormat.QDQ,
                per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                calibrate_method=CalibrationMethod.Percentile, op_types_to_quantize=["Conv", "ConvTranspose"])
so = ort.SessionOptions()
so.intra_op_num_threads = 1
f32 = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
q8 = ort.InferenceSession(str(OUT / "syn_q8.onnx"), so, providers=["CPUExecutionProvider"])
with av.open(str(Path(__file__).parents[2] / "samples/bikes.mp4")) as c:
    rgb = next(c.decode(video=0)).to_ndarray(format="rgb24", width=640, height=368)
x = to_tensor(rgb)
y = m.analyze(x).astype(np.float32)


def timed(s, n=10):
    s.run(None, {sess_in: y})
    t = time.perf_counter()
    for _ in range(n):
        out = s.run(None, {sess_in: y})[0]
    return (time.perf_counter() - t) / n * 1e3, out


t32, o32 = timed(f32)
t8, o8 = timed(q8)
o32, o8 = np.clip(o32, 0, 1), np.clip(o8, 0, 1)
print(f"f32 {t32:.1f} ms, int8 {t8:.1f} ms; int8 vs f32 {10*np.log10(1/np.mean((o8-o32)**2)):.1f} dB")
