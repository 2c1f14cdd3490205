"""The analysis transform's time per 640x360 frame with --backend ort and int8 (ONNX Runtime threads
and lanes as the codec sets them), medians of 8 calls in 3 alternating rounds, and how many of the
frame's quantized symbols the 8-bit analysis changes at levels 2, 5 and 8.

    python runs/int8-analysis/speed.py [CLIP]
"""

import sys
import time

import numpy as np

from vidcodec.codec.vaegan import to_tensor
from vidcodec.evaluate.bench import load_frames
from vidcodec.models import zoo

frames, _, _ = load_frames(sys.argv[1] if len(sys.argv) > 1 else "samples/bikes.mp4", 4, (640, 360))
xs = [to_tensor(f, 16) for f in frames]
models = {b: zoo.load("vaegan-g", backend=b) for b in ("ort", "int8")}
for m in models.values():
    m.analyze(xs[0])  # sessions made, warmed
for rnd in range(3):
    for b, m in models.items():
        ts = []
        for i in range(8):
            t = time.perf_counter()
            m.analyze(xs[i % len(xs)])
            ts.append(time.perf_counter() - t)
        print(f"round {rnd + 1}: {b:4s} analysis {1000 * float(np.median(ts)):.1f} ms", flush=True)
m = models["ort"]
for lv in (1, 4, 7):
    g, k = m.gains[lv][:, None, None], m.level_channels[lv]
    diff = [np.mean(np.rint(models["ort"].analyze(x)[0, :k] * g[:k]) != np.rint(models["int8"].analyze(x)[0, :k] * g[:k]))
            for x in xs]
    print(f"level {lv + 1}: {100 * float(np.mean(diff)):.2f} % of the symbols differ")
