"""Time of the keyframe prefilter's weighted mean (a frame and 8 later ones) in the C++ core against
its numpy specification, at 640x360 and 1080p (frames of samples/bikes.mp4 resized), and whether
the two give the same bytes. Medians of 5 calls.

    LD_PRELOAD=libtcmalloc_minimal.so.4 python runs/encoder-tuning/denoise_speed.py

2026-12-02, 2-core VM, two runs: native 15.8 / 17.2 ms and 141 / 153 ms, numpy 46.7 / 57.1 ms and
569 / 553 ms; identical bytes.
"""
import time
from pathlib import Path

import cv2
import numpy as np

from vidcodec.codec import prefilter as pf
from vidcodec.evaluate import rd

ref, _ = rd.read_frames(Path("samples/bikes.mp4"), 9)
for size in ((640, 360), (1920, 1080)):
    fr = [cv2.resize(f, size) for f in ref]
    res = {}
    for name, fn in (("native", pf.blend), ("numpy", pf.blend_reference)):
        ts = []
        for _ in range(5):
            t = time.perf_counter(); out = fn(fr[0], fr[1:], 10.0); ts.append(time.perf_counter() - t)
        res[name] = (np.median(ts) * 1000, out)
    print(size, f"native {res['native'][0]:.1f} ms, numpy {res['numpy'][0]:.1f} ms, identical {np.array_equal(res['native'][1], res['numpy'][1])}")
