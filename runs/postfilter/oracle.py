"""The same filter with an oracle choosing per frame among off and four (a, s) by the frame's MS-SSIM
against the source (what an encoder-signalled filter could at best get), and the filter's time.

    python runs/postfilter/oracle.py OUT.pkl Q,Q,...
"""
import pickle
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from vidcodec.evaluate import metrics

d = pickle.loads(Path(sys.argv[1]).read_bytes())
ref = d["ref"]; qs = [int(q) for q in sys.argv[2].split(",")]
variants = [(0.5, 6.0), (0.5, 12.0), (0.8, 12.0), (0.5, 24.0)]
dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
def gray(x): return cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)
def q8(x): return np.clip(x + 0.5, 0, 255).astype(np.uint8)
def mss(r, o): return metrics.ms_ssim_rgb(r, o)
tt = []
for q in qs:
    dec = d["dec"][q]
    h, w = dec[0].shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    prev = dec[0].astype(np.float32)
    base = [mss(ref[0], dec[0])]; got = [base[0]]; picks = []
    pb = [metrics.psnr(ref[0], dec[0])]; pg = [pb[0]]
    for i, f in enumerate(dec[1:], 1):
        t = time.perf_counter()
        cur = f.astype(np.float32)
        flow = dis.calc(gray(f), gray(q8(prev)), None)
        warped = cv2.remap(prev, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        diff = np.abs(cv2.GaussianBlur(warped - cur, (5, 5), 0)).max(axis=2, keepdims=True)
        tt.append(time.perf_counter() - t)
        cands = [cur] + [cur + a * np.exp(-(diff / s) ** 2) * (warped - cur) for a, s in variants]
        scores = [mss(ref[i], q8(c)) for c in cands]
        k = int(np.argmax(scores)); picks.append(k)
        prev = cands[k]
        base.append(scores[0]); got.append(scores[k])
        pb.append(metrics.psnr(ref[i], f)); pg.append(metrics.psnr(ref[i], q8(prev)))
    print(f"q{q}: ms-ssim {np.mean(base):.5f} -> {np.mean(got):.5f} ({1e4*(np.mean(got)-np.mean(base)):+.1f}e-4) psnr {np.mean(pb):.3f} -> {np.mean(pg):.3f} picks {np.bincount(picks, minlength=5)}", flush=True)
print(f"filter ms/frame median {1e3*np.median(tt):.1f}")
