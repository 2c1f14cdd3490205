"""BD-rate of encoder settings against a baseline: vidcodec only, same frames, every level.

    python runs/encoder-tuning/sweep.py FRAMES GOP PARAM BASE VALUE[,VALUE...] CLIP...

PARAM is a keyword of ``FrameEncoder`` (e.g. ``key_rdoq_lambda``); each VALUE's streams are
compared with BASE's (PSNR / MS-SSIM BD-rate, negative = fewer bits). How keyframe RDOQ's λ was
chosen (2026-12-02): ``... 6 1 key_rdoq_lambda 0 0.01,0.02,0.03,0.05 CLIPS`` (intra) and
``... 20 250 key_rdoq_lambda 0 0.03,0.05 CLIPS`` (video) on training clips. The dead zone re-checked
with format 8.0 (2026-12-02): ``... 20 250 dead_zone 0.4 0.3,0.5`` on carphone, motion.mov,
wannaworktogether, movie-hello: 0.3 -0.29/-0.58, +0.14/-0.25, +0.82/+0.33, -0.10/-0.09 %; 0.5
+0.01/+0.64, -0.42/+0.12, +0.45/-0.73, -0.01/-0.01 % (PSNR / MS-SSIM): 0.4 kept. The per-channel
choice likewise, ``... 20 250 channel_lambda 0.2 0.15,0.3`` (also RDOQ's λ): 0.15 +0.32/-0.64,
+1.50/+1.45, +1.17/-0.49, +0.17/+0.16 %; 0.3 +0.62/+2.40, -0.30/+0.14, -0.80/+2.23, -0.17/-0.13 %:
0.2 kept.

With format 10.0's learned prediction (2026-12-02): ``... 20 250 motion_block 8 4,2`` on the
held-out clips: vtest 4: -0.26/-0.22, 2: -0.24/-0.21 %; bikes 4: -1.76/+0.79, 2: +6.98/+11.83 %;
diver 4: +5.00/+3.76, 2: +11.93/+8.26 % (8 kept: smaller blocks pay more in vectors than they save,
and vtest's gap to x264 is not in the motion). ``... 20 250 motion_lambda 1 0.3,3`` on training
clips: bigbuckbunny 0.3: +0.73/+0.55, 3: -0.54/-0.50 %; motion.mov 0.3: -0.06/+0.09, 3:
-0.09/+0.28 %; wannaworktogether 0.3: -0.11/+0.20, 3: +0.45/-0.12 % (1 kept).
"""
import dataclasses
import sys
import tempfile
from pathlib import Path

from vidcodec.codec import vaegan
from vidcodec.evaluate import rd

frames, gop, param = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def number(s: str) -> int | float:
    return int(s) if s.lstrip("-").isdigit() else float(s)  # motion_block wants an int


base, values, clips = number(sys.argv[4]), [number(v) for v in sys.argv[5].split(",")], sys.argv[6:]
original = vaegan.FrameEncoder.__init__
for clip in clips:
    ref, rate = rd.read_frames(Path(clip), frames)
    curves = {}
    for value in [base, *values]:
        def init(self, *a, value=value, **k):
            original(self, *a, **{**k, param: value})
        vaegan.FrameEncoder.__init__ = init
        with tempfile.TemporaryDirectory() as d:
            curves[value] = [dataclasses.replace(p, codec=f"{param}={value}")
                             for p in rd.vidcodec_points(Path(clip), ref, rate, gop, Path(d), range(1, 9))]
        vaegan.FrameEncoder.__init__ = original
    cells = []
    for value in values:
        psnr = rd.bd_rate([(p.bpp, p.psnr) for p in curves[base]], [(p.bpp, p.psnr) for p in curves[value]])
        msssim = rd.bd_rate([(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in curves[base]],
                            [(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in curves[value]])
        cells.append(f"{value}: {psnr:+.2f} / {msssim:+.2f} %")
    print(f"{Path(clip).name} gop {gop} ({param} against {base}, PSNR / MS-SSIM): " + "; ".join(cells), flush=True)
