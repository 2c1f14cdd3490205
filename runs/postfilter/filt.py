"""A decoder-side motion-compensated temporal filter with fixed settings on collect.py's frames: each
decoded frame blended with the previous output warped onto it (OpenCV DIS flow), by a
weight a * exp(-(d/s)^2) of their smoothed difference d; prints the change of mean PSNR and
MS-SSIM (x 1e-4) per quality for six (a, s).

    python runs/postfilter/filt.py OUT.pkl
"""
import pickle
import sys
from pathlib import Path

import cv2
import numpy as np

from vidcodec.evaluate import metrics

d = pickle.loads(Path(sys.argv[1]).read_bytes())
ref = d["ref"]
variants = [(a, s) for a in (0.5, 0.8) for s in (3.0, 6.0, 12.0)]
dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
def gray(x): return cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)
def run(dec, a, s):
    outs = [dec[0]]
    prev = dec[0].astype(np.float32)
    h, w = dec[0].shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    for f in dec[1:]:
        cur = f.astype(np.float32)
        flow = dis.calc(gray(f), gray(np.clip(prev + 0.5, 0, 255).astype(np.uint8)), None)
        warped = cv2.remap(prev, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        diff = np.abs(cv2.GaussianBlur(warped - cur, (5, 5), 0)).max(axis=2, keepdims=True)
        wgt = a * np.exp(-(diff / s) ** 2)
        prev = cur + wgt * (warped - cur)
        outs.append(np.clip(prev + 0.5, 0, 255).astype(np.uint8))
    return outs
def score(outs):
    return np.mean([metrics.psnr(r, o) for r, o in zip(ref, outs)]), np.mean([metrics.ms_ssim_rgb(r, o) for r, o in zip(ref, outs)])
for q, dec in d["dec"].items():
    p0, m0 = score(dec)
    line = f"q{q} {d['size'][q]:7d} base {p0:.3f} {m0:.5f} |"
    for a, s in variants:
        p, m = score(run(dec, a, s))
        line += f" a{a}s{s}: {p - p0:+.3f} {1e4*(m - m0):+.1f}"
    print(line, flush=True)
