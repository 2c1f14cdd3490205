"""Static int8 quantization of vaegan-g's analysis network with ONNX Runtime (experiment,
2026-12-02): writes /tmp/a_q8.onnx, times it against fp32 on one thread and prints the latent's
relative RMS error. bdrate.py then measures what it costs in rate-distortion.

    python runs/int8-analysis/quantize.py ANALYSIS.onnx CLIP_640x360.mp4

Result on the 2-core VM: 49.1 -> 31.6 ms a 640x360 frame, relative RMS error 5.2 % of the latent;
BD-rate (bdrate.py, 20 frames, every level, PSNR / MS-SSIM): bikes +31.9 / +29.7 %, bigbuckbunny
+49.6 / +6.8 %. Not usable as it is (per-tensor activation scales after the GDN-like layers, 8
calibration frames); quantization-aware fine-tuning or fp16 on a GPU are the ways left.
"""
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)

src = sys.argv[1]  # the analysis ONNX in the export cache, e.g. ~/.cache/vidcodec/onnx/<weights sha256>/analysis.onnx
m = onnx.load(src)
print([n.op_type for n in m.graph.node][:40])
inp = m.graph.input[0].name
from vidcodec.codec.vaegan import to_tensor
from vidcodec.evaluate.bench import load_frames

frames, rate, _ = load_frames(sys.argv[2], 40, None)  # calibration and timing clip
xs = [to_tensor(f, 16) for f in frames]
class R(CalibrationDataReader):
    def __init__(self): self.it = iter([{inp: x} for x in xs[:8]])
    def get_next(self): return next(self.it, None)
from onnxruntime.quantization.shape_inference import quant_pre_process

quant_pre_process(src, "/tmp/a_pre.onnx", skip_symbolic_shape=True)
quantize_static("/tmp/a_pre.onnx", "/tmp/a_q8.onnx", R(), quant_format=QuantFormat.QOperator, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
def sess(p):
    so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(p, so, providers=["CPUExecutionProvider"])
for p in (src, "/tmp/a_q8.onnx"):
    s = sess(p); s.run(None, {inp: xs[0]})
    t = time.perf_counter()
    ys = [s.run(None, {inp: x})[0] for x in xs[8:28]]
    print(p[-12:], "%.1f ms" % ((time.perf_counter() - t) / 20 * 1e3))
    if p == src: ref = ys
    else:
        d = np.concatenate([(a - b).ravel() for a, b in zip(ys, ref)]); r = np.concatenate([b.ravel() for b in ref])
        print("rel rms err", np.sqrt((d**2).mean()) / np.sqrt((r**2).mean()), "max abs", np.abs(d).max())
