"""The shipped model's quality ceiling: each frame's latent through the synthesis unquantized, and
rounded at the highest level (no entropy coding, no colour correction), against the source.

    python runs/diagnostics/ceiling.py CLIP...      (first 3 frames of each)

2026-12-03, vaegan-g, PSNR / MS-SSIM (unquantized → rounded at level 8):
bikes 44.09 / 0.9984 → 42.03 / 0.9932; vtest 32.50 / 0.9914 → 31.86 / 0.9837;
diver 37.66 / 0.9916 → 36.32 / 0.9836. x264 medium on the same clips reaches 42.3, 39.7 and
41.4 dB (crf 20, docs/eval/format11): on vtest no quantization step of this model can follow it
past 32.5 dB, which caps vtest's curve (its level 8 video: 31.15 dB at 0.0445 bpp, where x264
gives 33.9 dB at 0.037). On bikes the ceiling is high; there the deltas set the gap (levels 4–5:
video 31.3 / 33.5 dB against 34.5 / 36.4 dB for the same level's keyframes, docs/eval/intra-x264).
"""
import sys
from pathlib import Path

import numpy as np

from vidcodec.codec.vaegan import to_rgb, to_tensor
from vidcodec.evaluate import metrics, rd
from vidcodec.models import zoo

m = zoo.load()
g = m.gains[-1][None, :, None, None]
for clip in sys.argv[1:]:
    frames, _ = rd.read_frames(Path(clip), 3)
    out = []
    for f in frames:
        h, w = f.shape[:2]
        y = m.analyze(to_tensor(f))
        a = to_rgb(m.synthesize(y.astype(np.float32)), w, h)
        b = to_rgb(m.synthesize((np.rint(y * g) / g).astype(np.float32)), w, h)
        out.append((metrics.psnr(f, a), metrics.ms_ssim_rgb(f, a), metrics.psnr(f, b), metrics.ms_ssim_rgb(f, b)))
    pa, sa, pb, sb = np.mean(out, axis=0)
    print(f"{clip}: unquantized {pa:.2f} dB / {sa:.4f}, rounded at the top level {pb:.2f} dB / {sb:.4f}")
