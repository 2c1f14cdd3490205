"""The temporal filter of filt.py restricted to what a decoder alone knows: the blend only where the
delta's latent residuals are zero in every channel (the stream's own prediction carried the frame
there), that map moved to pixels (x16, smoothed by a 31x31 Gaussian); keyframes unblended. Prints the
change of mean MS-SSIM (x 1e-4) with and without the map ("M") for two (a, s).

    LD_PRELOAD=libtcmalloc_minimal.so.4 python runs/postfilter/masked.py CLIP N Q,Q,...
"""
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from vidcodec import api
from vidcodec.codec import vaegan
from vidcodec.evaluate import metrics, rd

clip, n = Path(sys.argv[1]), int(sys.argv[2]); qs = [int(q) for q in sys.argv[3].split(",")]
ref, rate = rd.read_frames(clip, n)
tmp = Path(tempfile.mkdtemp()); rd.write_y4m_clip(ref, rate, tmp / "r.y4m")
resid = []
orig = vaegan.FrameDecoder.decode_symbols
def hook(self, kind, payload):
    out = orig(self, kind, payload)
    r = self._prev_residual if kind == vaegan.DELTA else None
    resid.append(None if r is None else (np.abs(r).sum(axis=0) == 0))
    return out
vaegan.FrameDecoder.decode_symbols = hook
dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
def gray(x): return cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)
def q8(x): return np.clip(x + 0.5, 0, 255).astype(np.uint8)
def run(dec, a, s, masks, use_mask):
    outs = [dec[0]]; prev = dec[0].astype(np.float32)
    h, w = dec[0].shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    for f, m in zip(dec[1:], masks[1:]):
        cur = f.astype(np.float32)
        flow = dis.calc(gray(f), gray(q8(prev)), None)
        warped = cv2.remap(prev, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        diff = np.abs(cv2.GaussianBlur(warped - cur, (5, 5), 0)).max(axis=2, keepdims=True)
        wgt = a * np.exp(-(diff / s) ** 2)
        if use_mask:
            if m is None: mm = np.zeros((h, w), np.float32)
            else:
                mm = cv2.resize(m.astype(np.float32), None, fx=16, fy=16, interpolation=cv2.INTER_NEAREST)[:h, :w]
                mm = cv2.GaussianBlur(mm, (31, 31), 0)
            wgt = wgt * mm[..., None]
        prev = cur + wgt * (warped - cur)
        outs.append(q8(prev))
    return outs
for q in qs:
    resid.clear()
    api.encode(tmp / "r.y4m", tmp / "a.gvc", quality=q, overwrite=True, backend="ort")
    dec = [f.rgb for f in api.frames(tmp / "a.gvc")]
    masks = list(resid)
    zero = np.mean([m.mean() for m in masks if m is not None])
    base = np.mean([metrics.ms_ssim_rgb(r, o) for r, o in zip(ref, dec)])
    line = f"q{q} zero-residual share {zero:.2f} base {base:.5f} |"
    for a, s in ((0.5, 12.0), (0.8, 12.0)):
        for um in (False, True):
            o = run(dec, a, s, masks, um)
            line += f" a{a}s{s}{'M' if um else ''}: {1e4*(np.mean([metrics.ms_ssim_rgb(r, x) for r, x in zip(ref, o)]) - base):+.1f}"
    print(line, flush=True)
