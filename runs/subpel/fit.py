"""Fit cross-channel 2x2 linear predictors of the latent after a shift of a quarter latent pixel (one per
phase), in the unscaled latent domain, from 256² crops of the corpus photos; evaluate them on quantized
inputs at three levels against bilinear interpolation. Writes runs/subpel/A.npz (run from the repo root)."""
import glob

import cv2
import numpy as np

from vidcodec.codec import vaegan
from vidcodec.models import zoo

m = zoo.load("vaegan-g")
photos = sorted(glob.glob("data/photos/*"))
rng = np.random.default_rng(1)
S = 256
def lat(img):
    x = vaegan.to_tensor(img); return m.analyze(x if x.ndim == 4 else x[None])[0].astype(np.float64)
phases = [(fx, fy) for fy in range(4) for fx in range(4) if (fx, fy) != (0, 0)]
data = {p: [] for p in phases}  # (photo, y0, y1)
for i, p in enumerate(photos):
    im = cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB)
    h, w = im.shape[:2]
    if h < S + 40 or w < S + 40: continue
    for rep in range(2):
        y, x = rng.integers(0, h - S - 20), rng.integers(0, w - S - 20)
        y0 = lat(np.ascontiguousarray(im[y:y+S, x:x+S]))
        for (fx, fy) in phases:
            dx, dy = 4 * fx, 4 * fy
            y1 = lat(np.ascontiguousarray(im[y+dy:y+dy+S, x+dx:x+dx+S]))
            data[(fx, fy)].append((i, y0, y1))
print("photos used", len({i for i, _, _ in data[(1, 0)]}), flush=True)
def taps(y0):  # (4C, N) the 2x2 support, interior positions (skip 2-px border)
    a = y0[:, 2:-2, 2:-2]; b = y0[:, 2:-2, 3:-1]; c = y0[:, 3:-1, 2:-2]; d = y0[:, 3:-1, 3:-1]
    return np.concatenate([a, b, c, d]).reshape(4 * y0.shape[0], -1)
def tgt(y1): return y1[:, 2:-2, 2:-2].reshape(y1.shape[0], -1)
A = {}
for ph, lst in data.items():
    X = np.concatenate([taps(a) for i, a, b in lst if i % 4], 1); Y = np.concatenate([tgt(b) for i, a, b in lst if i % 4], 1)
    XtX = X @ X.T; XtX += 1e-6 * np.trace(XtX) / len(XtX) * np.eye(len(XtX))
    A[ph] = np.linalg.solve(XtX, X @ Y.T).T  # (C, 4C)
np.savez("runs/subpel/A.npz", **{f"{fx}{fy}": A[(fx, fy)] for fx, fy in A})
for level in (1, 4, 7):
    g = m.gains[level].astype(np.float64); K = m.level_channels[level]
    g4 = np.tile(g, 4)
    res = []
    for ph in [(1, 0), (2, 0), (1, 1), (3, 2)]:
        fx, fy = ph[0] / 4, ph[1] / 4
        W = (g[:, None] * A[ph]) / g4[None, :]
        mask = np.zeros(4 * len(g), bool)
        for t in range(4): mask[t * len(g): t * len(g) + K] = True
        e0 = e1 = e2 = n = 0
        for i, a, b in data[ph]:
            if i % 4: continue
            q0 = np.round(a * g[:, None, None]); q0[K:] = 0
            t = tgt(b * g[:, None, None])[:K]
            X = taps(q0)
            bil = ((1-fy)*(1-fx)) * X[:96] + ((1-fy)*fx) * X[96:192] + (fy*(1-fx)) * X[192:288] + (fy*fx) * X[288:]
            lin = W[:K][:, mask] @ X[mask]
            e0 += np.sum((t - X[:96][:K]) ** 2); e1 += np.sum((t - bil[:K]) ** 2); e2 += np.sum((t - lin) ** 2); n += t.size
        res.append(f"{ph}: zero {e0/n:.3f} bil {e1/n:.3f} learned {e2/n:.3f}")
    print("level", level, "K", K, "; ".join(res), flush=True)
