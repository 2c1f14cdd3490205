"""Pixel-precision (1/16 latent pixel) motion vectors, each prediction blended bilinearly from the learned
quarter-phase predictions around it (runs/subpel/A.npz from fit.py; exact: float64 sums of integers
under 2**53). The C++ quarter search, then a refinement over the 9×9 sixteenths around its choice.

    python runs/subpel/sim16.py OUT.json FRAMES CLIP...   # then runs/overhead/points.py --bd BASE.json OUT.json
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
motion.MAX_VECTOR = 256
motion.MARGIN = 256 // 16 + 2
WL = {}
def weights(K):
    lv = next(l for l in range(m.levels) if m.level_channels[l] == K)
    if lv not in WL:
        g = m.gains[lv].astype(np.float64); g4 = np.tile(g, 4)
        mask = np.concatenate([np.arange(K) + t * C for t in range(4)])
        WL[lv] = {p: np.rint((g[:K, None] * a[:K][:, mask]) / g4[None, mask] * 2**F) for p, a in A.items()}
    return WL[lv]
def taps(padded, y0, x0, bh, bw, K):
    a = padded[:K, y0:y0+bh, x0:x0+bw]; b = padded[:K, y0:y0+bh, x0+1:x0+1+bw]
    c = padded[:K, y0+1:y0+1+bh, x0:x0+bw]; d = padded[:K, y0+1:y0+1+bh, x0+1:x0+1+bw]
    return np.concatenate([a, b, c, d]).reshape(4 * K, -1)
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
    W = weights(K)
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
CUR = {}
def search(target, prev, block, lam, radius=2):
    motion.MAX_VECTOR = 64
    v = orig_search(target, prev, block, lam, radius) * 4  # quarter -> 1/16 units
    motion.MAX_VECTOR = 256
    k, h, w = target.shape
    K = CUR["K"]; W = weights(K)
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
                    e = float(((tb - p / 16) ** 2).sum()) + lam * motion._gamma_bits((dx, dy)) / 2
                    if best is None or e < best:
                        best, bv = e, (dx, dy)
            out[r, cc] = bv
    return out
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
