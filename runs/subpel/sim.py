"""Simulation of learned sub-pel motion prediction (runs/subpel/A.npz from fit.py): patches
motion.predict (exact int64 arithmetic, weights per level = gains · A / gains, 16 fractional bits) and
refines each block of the C++ search over the 16 phases of the 2×2 integer positions around it.

    python runs/subpel/sim.py OUT.json FRAMES CLIP...   # then runs/overhead/points.py --bd BASE.json OUT.json
"""
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from vidcodec.codec import motion, vaegan
from vidcodec.evaluate import rd
from vidcodec.models import zoo

m = zoo.load("vaegan-g")
Z = np.load("runs/subpel/A.npz")
A = {(int(k[0]), int(k[1])): Z[k] for k in Z.files}
F = 16
C = 96
WL = {}
def weights(K):
    lv = next(l for l in range(m.levels) if m.level_channels[l] == K)
    if lv not in WL:
        g = m.gains[lv].astype(np.float64); g4 = np.tile(g, 4)
        mask = np.concatenate([np.arange(K) + t * C for t in range(4)])
        WL[lv] = {p: np.rint((g[:K, None] * a[:K][:, mask]) / g4[None, mask] * 2**F).astype(np.int64) for p, a in A.items()}
        WL[lv]["f"] = {p: (g[:16, None] * a[:16][:, mask]) / g4[None, mask] for p, a in A.items()}
    return WL[lv]
def taps(padded, y0, x0, bh, bw, K):
    a = padded[:K, y0:y0+bh, x0:x0+bw]; b = padded[:K, y0:y0+bh, x0+1:x0+1+bw]
    c = padded[:K, y0+1:y0+1+bh, x0:x0+bw]; d = padded[:K, y0+1:y0+1+bh, x0+1:x0+1+bw]
    return np.concatenate([a, b, c, d]).reshape(4 * K, -1)
def predict(prev, vectors, block, channels=None):
    c, h, w = prev.shape
    K = c if channels is None else min(int(channels), c)
    W = weights(K)
    padded = motion._pad(np.clip(prev, -2**15, 2**15).astype(np.int64))
    out = np.zeros_like(prev, dtype=np.int64)
    rows, cols = vectors.shape[:2]
    for r in range(rows):
        for cc in range(cols):
            y, x = r * block, cc * block
            bh, bw = min(block, h - y), min(block, w - x)
            dx, dy = int(vectors[r, cc, 0]), int(vectors[r, cc, 1])
            iy, fy = divmod(dy, 4); ix, fx = divmod(dx, 4)
            y0, x0 = y + iy + motion.MARGIN, x + ix + motion.MARGIN
            if fx == 0 and fy == 0:
                out[:K, y:y+bh, x:x+bw] = padded[:K, y0:y0+bh, x0:x0+bw]
            else:
                t = taps(padded, y0, x0, bh, bw, K)
                out[:K, y:y+bh, x:x+bw] = ((W[(fx, fy)] @ t + 2**(F-1)) >> F).reshape(K, bh, bw)
    return out
orig_search = motion.search
def search(target, prev, block, lam, radius=2):
    v = orig_search(target, prev, block, lam, radius)
    k, h, w = target.shape
    # the level: channels with nonzero prev ≤ K; find K from encoder via global hack
    W = weights(CUR["K"])["f"]
    K = CUR["K"]
    padded = motion._pad(prev.astype(np.float64)) if prev.shape[0] == K else None
    full = CUR["prev"]
    padded = motion._pad(full[:K].astype(np.float64))
    rows, cols = v.shape[:2]
    out = v.copy()
    for r in range(rows):
        for cc in range(cols):
            y, x = r * block, cc * block
            bh, bw = min(block, h - y), min(block, w - x)
            tb = target[:, y:y+bh, x:x+bw].astype(np.float64)
            best, bestv = None, None
            bx, by = (int(t) for t in v[r, cc] // 4)
            for oy in (-1, 0):
                for ox in (-1, 0):
                    for fy in range(4):
                        for fx in range(4):
                            if (fx, fy) == (0, 0) and (ox, oy) != (0, 0):
                                pass
                            dx, dy = 4 * (bx + ox) + fx, 4 * (by + oy) + fy
                            if max(abs(dx), abs(dy)) > motion.MAX_VECTOR: continue
                            iy, fy_ = divmod(dy, 4); ix, fx_ = divmod(dx, 4)
                            y0, x0 = y + iy + motion.MARGIN, x + ix + motion.MARGIN
                            if fx_ == 0 and fy_ == 0:
                                p = padded[:k, y0:y0+bh, x0:x0+bw]
                            else:
                                p = (W[(fx_, fy_)][:k] @ taps(padded, y0, x0, bh, bw, K)).reshape(k, bh, bw)
                            e = float(((tb - p) ** 2).sum()) + lam * motion._gamma_bits((int(dx), int(dy)))
                            if best is None or e < best:
                                best, bestv = e, (dx, dy)
            out[r, cc] = bestv
    return out
CUR = {}
orig_motion = vaegan.FrameEncoder._motion
def _motion(self, ys):
    CUR["K"] = self.channels; CUR["prev"] = self._prev
    return orig_motion(self, ys)
vaegan.FrameEncoder._motion = _motion
motion.search = search
motion.predict = predict
out, frames, clips = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
result = {}
for clip in clips:
    ref, rate = rd.read_frames(Path(clip), frames)
    with tempfile.TemporaryDirectory() as d:
        result[Path(clip).name] = [dataclasses.asdict(p) for p in rd.vidcodec_points(Path(clip), ref, rate, 250, Path(d), range(1, 9))]
    out.write_text(json.dumps(result)); print(clip, "done", flush=True)
