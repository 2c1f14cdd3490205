"""Simulation of learned sub-pel motion prediction (runs/subpel/A.npz from fit.py): patches
motion.predict (exact int64 arithmetic, weights per level = gains · A / gains, 16 fractional bits) and
refines each block of the C++ search over the 16 phases of the 2×2 integer positions around it.

    python runs/subpel/sim.py OUT.json FRAMES CLIP...   # then runs/overhead/points.py --bd BASE.json OUT.json
"""
import numpy as np
from common import CUR, F, install, run, taps, weights

from vidcodec.codec import motion
from vidcodec.coding import elias


def predict(prev, vectors, block, channels=None):
    c, h, w = prev.shape
    K = c if channels is None else min(int(channels), c)
    W = {p: w.astype(np.int64) for p, w in weights(K)[0].items()}
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
    K = CUR["K"]  # the level's channels, and its whole previous latent (the search sees only k)
    W = weights(K)[1]
    padded = motion._pad(CUR["prev"][:K].astype(np.float64))
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
                            dx, dy = 4 * (bx + ox) + fx, 4 * (by + oy) + fy
                            if max(abs(dx), abs(dy)) > motion.MAX_VECTOR: continue
                            iy, fy_ = divmod(dy, 4); ix, fx_ = divmod(dx, 4)
                            y0, x0 = y + iy + motion.MARGIN, x + ix + motion.MARGIN
                            if fx_ == 0 and fy_ == 0:
                                p = padded[:k, y0:y0+bh, x0:x0+bw]
                            else:
                                p = (W[(fx_, fy_)][:k] @ taps(padded, y0, x0, bh, bw, K)).reshape(k, bh, bw)
                            e = float(((tb - p) ** 2).sum()) + lam * int(elias.gamma_bits((int(dx), int(dy))).sum())
                            if best is None or e < best:
                                best, bestv = e, (dx, dy)
            out[r, cc] = bestv
    return out


install(predict, search)
run()
