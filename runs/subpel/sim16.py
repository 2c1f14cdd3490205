"""Pixel-precision (1/16 latent pixel) motion vectors, each prediction blended bilinearly from the learned
quarter-phase predictions around it (runs/subpel/A.npz from fit.py; exact: float64 sums of integers
under 2**53). The C++ quarter search, then a refinement over the 9×9 sixteenths around its choice.

    python runs/subpel/sim16.py OUT.json FRAMES CLIP...   # then runs/overhead/points.py --bd BASE.json OUT.json
"""
import numpy as np
from common import CUR, F, install, run, taps, weights

from vidcodec.codec import motion
from vidcodec.coding import elias

motion.MAX_VECTOR = 256  # vectors in sixteenths of a latent pixel (the C++ search still gets quarters)
motion.MARGIN = 256 // 16 + 2
def quarter(padded, W, y, x, bh, bw, K, qx, qy):  # qx, qy in quarter units (any integer)
    iy, fy = divmod(qy, 4); ix, fx = divmod(qx, 4)
    y0, x0 = y + iy + motion.MARGIN, x + ix + motion.MARGIN
    if fx == 0 and fy == 0:
        return padded[:K, y0:y0+bh, x0:x0+bw].reshape(K, -1) * 2.0**F
    return W[(fx, fy)] @ taps(padded, y0, x0, bh, bw, K)  # exact in float64 (|values| < 2**53)
def block_pred(padded, W, y, x, bh, bw, K, dx, dy):  # dx, dy in 1/16 units; returns floor(.../2**F/16)
    qx, rx = divmod(dx, 4); qy, ry = divmod(dy, 4)
    acc = (4 - rx) * (4 - ry) * quarter(padded, W, y, x, bh, bw, K, qx, qy)
    if rx: acc = acc + rx * (4 - ry) * quarter(padded, W, y, x, bh, bw, K, qx + 1, qy)
    if ry: acc = acc + (4 - rx) * ry * quarter(padded, W, y, x, bh, bw, K, qx, qy + 1)
    if rx and ry: acc = acc + rx * ry * quarter(padded, W, y, x, bh, bw, K, qx + 1, qy + 1)
    return acc  # scaled by 2**F * 16
def predict(prev, vectors, block, channels=None):
    c, h, w = prev.shape
    K = c if channels is None else min(int(channels), c)
    W = weights(K)[0]
    padded = motion._pad(np.clip(prev, -2**15, 2**15).astype(np.float64))
    out = np.zeros_like(prev, dtype=np.int64)
    for r in range(vectors.shape[0]):
        for cc in range(vectors.shape[1]):
            y, x = r * block, cc * block
            bh, bw = min(block, h - y), min(block, w - x)
            acc = block_pred(padded, W, y, x, bh, bw, K, int(vectors[r, cc, 0]), int(vectors[r, cc, 1]))
            out[:K, y:y+bh, x:x+bw] = np.floor((acc + 2.0**(F + 3)) / 2.0**(F + 4)).astype(np.int64).reshape(K, bh, bw)
    return out
orig_search = motion.search
def search(target, prev, block, lam, radius=2):
    motion.MAX_VECTOR = 64
    v = orig_search(target, prev, block, lam, radius) * 4  # quarter -> 1/16 units
    motion.MAX_VECTOR = 256
    k, h, w = target.shape
    K = CUR["K"]; W = weights(K)[0]
    Wk = {p: a[:k] for p, a in W.items()}
    padded = motion._pad(np.clip(CUR["prev"][:K], -2**15, 2**15).astype(np.float64))
    out = v.copy()
    for r in range(v.shape[0]):
        for cc in range(v.shape[1]):
            y, x = r * block, cc * block
            bh, bw = min(block, h - y), min(block, w - x)
            tb = target[:, y:y+bh, x:x+bw].reshape(k, -1).astype(np.float64)
            best = None
            for ddy in range(-4, 5, 1):
                for ddx in range(-4, 5, 1):
                    dx, dy = int(v[r, cc, 0]) + ddx, int(v[r, cc, 1]) + ddy
                    # first k output channels only
                    def qk(qx, qy, y=y, x=x, bh=bh, bw=bw):
                        iy, fy = divmod(qy, 4); ix, fx = divmod(qx, 4)
                        y0, x0 = y + iy + motion.MARGIN, x + ix + motion.MARGIN
                        if fx == 0 and fy == 0:
                            return padded[:k, y0:y0+bh, x0:x0+bw].reshape(k, -1)
                        return Wk[(fx, fy)] @ taps(padded, y0, x0, bh, bw, K) / 2.0**F
                    qx, rx = divmod(dx, 4); qy, ry = divmod(dy, 4)
                    p = (4 - rx) * (4 - ry) * qk(qx, qy)
                    if rx: p = p + rx * (4 - ry) * qk(qx + 1, qy)
                    if ry: p = p + (4 - rx) * ry * qk(qx, qy + 1)
                    if rx and ry: p = p + rx * ry * qk(qx + 1, qy + 1)
                    e = float(((tb - p / 16) ** 2).sum()) + lam * int(elias.gamma_bits((dx, dy)).sum()) / 2
                    if best is None or e < best:
                        best, bv = e, (dx, dy)
            out[r, cc] = bv
    return out

install(predict, search)
run()
