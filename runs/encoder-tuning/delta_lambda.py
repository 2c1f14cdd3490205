"""What a delta lambda factor and 1-s GOPs do to the fixed levels' RD curve (2026-12-05, vaegan-i, format 14.0).

    python runs/encoder-tuning/delta_lambda.py 100 samples/vtest.mp4 samples/bikes.mp4 DATA/videos/diver.mov

For each clip: every level at gop 250 and at 1-s GOPs (what ``--bitrate`` used before; "bpp/PSNR/MS-SSIM"
per level), the BD-rate of 1-s GOPs against gop 250 (PSNR %, MS-SSIM %), then levels 3/5/7 with every
delta's lambdas times a factor f (``delta_lambdas`` = (f,)): the rate against f = 1 and the PSNR and
MS-SSIM (dB) against the gop-250 curve interpolated at that rate. The run (about 25 minutes on the
2-core VM) that set ``vidcodec.codec.ratecontrol._LAM_RANGE`` and ``--bitrate``'s default GOP::

    samples/vtest.mp4 levels gop250: 0.0009/20.74/0.6971 0.0015/22.39/0.7646 0.0027/24.07/0.8353 0.0051/25.85/0.8960 0.0086/27.48/0.9345 0.0147/29.07/0.9587 0.0237/30.42/0.9724 0.0382/31.35/0.9800
    samples/vtest.mp4 levels gop1s : 0.0028/21.09/0.7213 0.0054/22.77/0.7840 0.0088/24.32/0.8437 0.0158/26.08/0.9006 0.0261/27.69/0.9392 0.0422/29.29/0.9622 0.0644/30.63/0.9755 0.0934/31.56/0.9828
    BD gop1s vs 250 182.54147769934949 174.57954368478076
      L3 f0.5: bpp 0.0037 (x1.37) psnr 24.41 vs curve 24.95 (-0.54) msssim-dB -0.85
      L3 f2.0: bpp 0.0020 (x0.75) psnr 23.51 vs curve 23.23 (+0.28) msssim-dB +0.40
      L3 f4.0: bpp 0.0015 (x0.57) psnr 22.55 vs curve 22.41 (+0.14) msssim-dB +0.53
      L3 f8.0: bpp 0.0011 (x0.40) psnr 21.14 vs curve 21.26 (-0.12) msssim-dB +0.50
      L5 f0.5: bpp 0.0113 (x1.32) psnr 27.85 vs curve 28.29 (-0.44) msssim-dB -0.81
      L5 f2.0: bpp 0.0061 (x0.71) psnr 26.81 vs curve 26.44 (+0.37) msssim-dB +0.86
      L5 f4.0: bpp 0.0043 (x0.50) psnr 25.79 vs curve 25.41 (+0.38) msssim-dB +1.34
      L5 f8.0: bpp 0.0039 (x0.46) psnr 25.21 vs curve 25.14 (+0.07) msssim-dB +1.09
      L7 f0.5: bpp 0.0310 (x1.31) psnr 30.78 vs curve 30.94 (-0.16) msssim-dB -0.57
      L7 f2.0: bpp 0.0165 (x0.70) psnr 29.62 vs curve 29.40 (+0.22) msssim-dB +0.79
      L7 f4.0: bpp 0.0120 (x0.51) psnr 28.69 vs curve 28.48 (+0.21) msssim-dB +1.22
      L7 f8.0: bpp 0.0095 (x0.40) psnr 27.80 vs curve 27.79 (+0.01) msssim-dB +1.41
    samples/bikes.mp4 levels gop250: 0.0032/23.22/0.7778 0.0049/25.22/0.8363 0.0094/27.95/0.9040 0.0173/30.65/0.9450 0.0289/32.98/0.9664 0.0476/35.12/0.9796 0.0729/37.05/0.9869 0.1096/38.80/0.9915
    samples/bikes.mp4 levels gop1s : 0.0036/23.81/0.7976 0.0056/25.57/0.8461 0.0105/28.29/0.9087 0.0190/30.89/0.9474 0.0299/33.09/0.9671 0.0493/35.20/0.9799 0.0752/37.08/0.9870 0.1131/38.81/0.9915
    BD gop1s vs 250 2.668649900704856 3.2089466065366556
      L3 f0.5: bpp 0.0112 (x1.19) psnr 28.91 vs curve 28.71 (+0.20) msssim-dB -0.03
      L3 f2.0: bpp 0.0063 (x0.67) psnr 25.71 vs curve 26.30 (-0.59) msssim-dB -0.41
      L3 f4.0: bpp 0.0047 (x0.50) psnr 24.17 vs curve 25.12 (-0.95) msssim-dB -0.42
      L3 f8.0: bpp 0.0028 (x0.29) psnr 21.50 vs curve 23.22 (-1.72) msssim-dB -0.68
      L5 f0.5: bpp 0.0335 (x1.16) psnr 33.86 vs curve 33.62 (+0.24) msssim-dB +0.02
      L5 f2.0: bpp 0.0213 (x0.74) psnr 30.79 vs curve 31.58 (-0.79) msssim-dB -0.48
      L5 f4.0: bpp 0.0138 (x0.48) psnr 28.29 vs curve 29.65 (-1.36) msssim-dB -0.95
      L5 f8.0: bpp 0.0092 (x0.32) psnr 25.83 vs curve 27.85 (-2.02) msssim-dB -1.46
      L7 f0.5: bpp 0.0813 (x1.12) psnr 37.86 vs curve 37.52 (+0.34) msssim-dB +0.05
      L7 f2.0: bpp 0.0558 (x0.76) psnr 34.95 vs curve 35.84 (-0.89) msssim-dB -0.50
      L7 f4.0: bpp 0.0389 (x0.53) psnr 32.32 vs curve 34.25 (-1.93) msssim-dB -1.28
      L7 f8.0: bpp 0.0292 (x0.40) psnr 30.26 vs curve 33.03 (-2.77) msssim-dB -1.77
    data/videos/diver.mov levels gop250: 0.0018/24.10/0.5861 0.0031/25.62/0.6536 0.0071/27.39/0.7288 0.0185/29.26/0.8086 0.0429/31.07/0.8756 0.0904/32.94/0.9266 0.1542/34.54/0.9546 0.2905/36.74/0.9773
    data/videos/diver.mov levels gop1s : 0.0023/24.32/0.5882 0.0038/25.79/0.6555 0.0083/27.44/0.7307 0.0205/29.26/0.8105 0.0464/31.09/0.8771 0.0952/32.94/0.9269 0.1607/34.51/0.9542 0.2984/36.70/0.9767
    BD gop1s vs 250 9.340124110386338 8.265489836815455
      L3 f0.5: bpp 0.0094 (x1.33) psnr 27.95 vs curve 27.95 (+0.00) msssim-dB -0.07
      L3 f2.0: bpp 0.0045 (x0.63) psnr 26.29 vs curve 26.41 (-0.12) msssim-dB -0.10
      L3 f4.0: bpp 0.0016 (x0.22) psnr 23.94 vs curve 24.10 (-0.17) msssim-dB -0.03
      L3 f8.0: bpp 0.0010 (x0.14) psnr 22.51 vs curve 24.10 (-1.59) msssim-dB -0.47
      L5 f0.5: bpp 0.0535 (x1.25) psnr 31.52 vs curve 31.62 (-0.10) msssim-dB -0.17
      L5 f2.0: bpp 0.0244 (x0.57) psnr 29.60 vs curve 29.86 (-0.26) msssim-dB -0.15
      L5 f4.0: bpp 0.0116 (x0.27) psnr 27.55 vs curve 28.35 (-0.80) msssim-dB -0.62
      L5 f8.0: bpp 0.0068 (x0.16) psnr 26.21 vs curve 27.31 (-1.09) msssim-dB -0.65
      L7 f0.5: bpp 0.2082 (x1.35) psnr 35.63 vs curve 35.58 (+0.05) msssim-dB +0.06
      L7 f2.0: bpp 0.1091 (x0.71) psnr 33.17 vs curve 33.50 (-0.33) msssim-dB -0.25
      L7 f4.0: bpp 0.0586 (x0.38) psnr 31.11 vs curve 31.85 (-0.74) msssim-dB -0.65
      L7 f8.0: bpp 0.0355 (x0.23) psnr 29.54 vs curve 30.66 (-1.12) msssim-dB -0.78

The optimum factor depends on the content, so a factor of 2 for fixed-quality encodes was not
taken: ``python runs/encoder-tuning/sweep.py 100 250 delta_lambdas 1+ 2+ CLIP`` (every level, PSNR /
MS-SSIM BD-rate of factor 2 against 1): carphone +8.20 / +12.17 %, tree (68 frames) −2.60 / −8.26 %,
motion.mov −3.35 / −5.01 %, Megamind +20.50 / +6.95 %. Beside each, the ratio of a delta's bytes to
the keyframe's at quality 5 (100 frames): vtest 0.033 (gains), motion.mov 0.058 (gains), tree
0.073 (gains), carphone 0.078 (loses), bikes 0.243 and diver 0.247 (lose), Megamind 0.514 (loses),
movie-hello 0.005 (not measured). Content whose frames inherit most of the keyframe wants coarser
deltas (x264's macroblock-tree says the same of its keyframes), but the ratio separates tree from
carphone by too thin a margin for a rule from eight clips.
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

from vidcodec.codec import vaegan
from vidcodec.evaluate import rd

frames = int(sys.argv[1]); clips = sys.argv[2:]
orig = vaegan.FrameEncoder.__init__
def use(f):
    def init(self, *a, **k):
        orig(self, *a, **{**k, "delta_lambdas": (f,)})
    vaegan.FrameEncoder.__init__ = init
for clip in clips:
    ref, rate = rd.read_frames(Path(clip), frames)
    gop = 250
    with tempfile.TemporaryDirectory() as d:
        use(1.0)
        base = rd.vidcodec_points(Path(clip), ref, rate, gop, Path(d), range(1, 9))
        fps = 10 if 'vtest' in clip else 25
        short = rd.vidcodec_points(Path(clip), ref, rate, fps, Path(d), range(1, 9))
        xs = [p.bpp for p in base]
        print(clip, "levels gop250:", " ".join(f"{p.bpp:.4f}/{p.psnr:.2f}/{p.ms_ssim:.4f}" for p in base), flush=True)
        print(clip, "levels gop1s :", " ".join(f"{p.bpp:.4f}/{p.psnr:.2f}/{p.ms_ssim:.4f}" for p in short), flush=True)
        print("BD gop1s vs 250", rd.bd_rate([(p.bpp, p.psnr) for p in base], [(p.bpp, p.psnr) for p in short]),
              rd.bd_rate([(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in base], [(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in short]), flush=True)
        lb = np.log([p.bpp for p in base]); ps = [p.psnr for p in base]; ms = [rd.ms_ssim_db(p.ms_ssim) for p in base]
        for L in (3, 5, 7):
            for f in (0.5, 2.0, 4.0, 8.0):
                use(f)
                p = rd.vidcodec_points(Path(clip), ref, rate, gop, Path(d), [L])[0]
                # quality of the level curve at this rate (interp in log bpp)
                q = np.interp(np.log(p.bpp), lb, ps); qm = np.interp(np.log(p.bpp), lb, ms)
                print(f"  L{L} f{f}: bpp {p.bpp:.4f} (x{p.bpp/base[L-1].bpp:.2f}) psnr {p.psnr:.2f} vs curve {q:.2f} ({p.psnr-q:+.2f}) msssim-dB {rd.ms_ssim_db(p.ms_ssim)-qm:+.2f}", flush=True)
