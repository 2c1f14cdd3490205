"""Median FrameEncoder.encode_latent time of 12 deltas of bikes at 1920x1080, quality 5 (three rounds).

    python docs/eval/bench-threads/time_1080p.py new     # this checkout
    python docs/eval/bench-threads/time_1080p.py old     # a worktree of an earlier commit at /tmp/base
"""
import sys
import time
from pathlib import Path

if sys.argv[1] == "old":
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, "/tmp/base")

import cv2
import numpy as np

from vidcodec.codec import vaegan
from vidcodec.evaluate import rd
from vidcodec.models import zoo

print(vaegan.__file__)
m = zoo.load("vaegan-g")
ref, rate = rd.read_frames(Path(__file__).parents[3] / "samples" / "bikes.mp4", 14)
ys = []
for f in ref:
    f = cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    x = vaegan.to_tensor(f)
    ys.append(m.analyze(x if x.ndim == 4 else x[None])[0])
for _ in range(3):
    enc = vaegan.FrameEncoder(m, 4)
    enc.encode_latent(ys[0])
    enc.encode_latent(ys[1])
    t = []
    for y in ys[2:]:
        t0 = time.perf_counter()
        enc.encode_latent(y)
        t.append(time.perf_counter() - t0)
    print(sys.argv[1], "median ms", round(1000 * float(np.median(t)), 1), flush=True)
