"""A decoder-side spatial filter (experiment, 2026-12-03, dropped): per 12 frames, the least-squares
3x3 filter from the three decoded colour planes to each source plane (28 taps per plane, 168 bytes
were it sent), fitted on the frame it is applied to first, on top of format 11.0's colour map.

    python runs/encoder-tuning/wiener.py CLIP FRAMES QUALITY RADIUS

24 frames, radius 1: bikes q3 30.287 -> 30.288 dB (MS-SSIM 0.92512 -> 0.92528), q6 36.815 -> 36.764;
vtest q3 24.339 -> 24.363, q6 29.189 -> 29.275 dB, for 336 bytes of side information (1-16 % of
the streams). The synthesis's output is already close to the best linear map of itself: an
adaptive loop filter in the manner of VVC's has nothing to take here.
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

from vidcodec import api
from vidcodec.evaluate import metrics, rd

clip, n, q, rad = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ref, rate = rd.read_frames(clip, n)
tmp = Path(tempfile.mkdtemp())
rd.write_y4m_clip(ref, rate, tmp / "r.y4m")
api.encode(tmp / "r.y4m", tmp / "a.gvc", quality=q, overwrite=True)
size = (tmp / "a.gvc").stat().st_size
dec = [f.rgb for f in api.frames(tmp / "a.gvc")]
def feats(img):
    x = img.astype(np.float64) / 255
    h, w, _ = x.shape
    p = np.pad(x, ((rad, rad), (rad, rad), (0, 0)), mode="edge")
    cols = [p[dy:dy + h, dx:dx + w, c] for c in range(3) for dy in range(2 * rad + 1) for dx in range(2 * rad + 1)]
    return np.stack(cols + [np.ones((h, w))], -1).reshape(h * w, -1)
def fit(d, r):
    A = feats(d); b = r.reshape(-1, 3).astype(np.float64) / 255
    AtA = A.T @ A + 1e-3 * np.eye(A.shape[1]); return np.linalg.solve(AtA, A.T @ b)
def apply(d, M):
    return np.clip(np.rint(feats(d) @ M * 255), 0, 255).astype(np.uint8).reshape(d.shape)
M = fit(dec[0], ref[0])

base_p = np.mean([metrics.psnr(a, b) for a, b in zip(ref, dec)]); base_s = np.mean([metrics.ms_ssim_rgb(a, b) for a, b in zip(ref, dec)])
outs = []
for i in range(n):
    if i % 12 == 0:
        M = fit(dec[i], ref[i])
    outs.append(apply(dec[i], M))
p = np.mean([metrics.psnr(a, b) for a, b in zip(ref, outs)]); s = np.mean([metrics.ms_ssim_rgb(a, b) for a, b in zip(ref, outs)])
ncoef = 3 * (3 * (2 * rad + 1) ** 2 + 1)
side = ncoef * 2 * len(range(0, n, 12))
print(f"{clip.name} q{q} r{rad}: bytes {size} (+{side} side, {100*side/size:.1f} %), PSNR {base_p:.3f} -> {p:.3f}, MS-SSIM {base_s:.5f} -> {s:.5f}")
