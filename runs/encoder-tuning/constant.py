"""BD-rate of values of a module constant against a baseline: vidcodec only, same frames, every level.

    python runs/encoder-tuning/constant.py MODULE.NAME FRAMES BASE VALUE[,VALUE...] CLIP...

e.g. ``vidcodec.codec.colour.COST_FACTOR 40 0 1,2 CLIPS`` (the colour cost rule, 2026-12-03),
``vidcodec.codec.colour.MEAN_SHIFT 40 inf 0.01,0.03 CLIPS`` (the fade refits) or
``vidcodec.api.COLOUR_REFRESH 40 12 6 CLIPS``. The constant is set on its module before each
encode (GOP 250); numbers with their dates are in the constants' comments.
"""
import importlib
import sys
import tempfile
from pathlib import Path

from vidcodec.evaluate import rd

target, frames = sys.argv[1], int(sys.argv[2])
module, name = importlib.import_module(target.rpartition(".")[0]), target.rpartition(".")[2]
kind = type(getattr(module, name))
base, values, clips = kind(float(sys.argv[3])), [kind(float(v)) for v in sys.argv[4].split(",")], sys.argv[5:]
for clip in clips:
    ref, rate = rd.read_frames(Path(clip), frames)
    curves = {}
    for value in [base, *values]:
        setattr(module, name, value)
        with tempfile.TemporaryDirectory() as d:
            curves[value] = list(rd.vidcodec_points(Path(clip), ref, rate, 250, Path(d), range(1, 9)))
    cells = []
    for value in values:
        psnr = rd.bd_rate([(p.bpp, p.psnr) for p in curves[base]], [(p.bpp, p.psnr) for p in curves[value]])
        msssim = rd.bd_rate([(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in curves[base]],
                            [(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in curves[value]])
        cells.append(f"{value}: {psnr:+.2f} / {msssim:+.2f} %")
    print(f"{Path(clip).name} ({name} against {base}, PSNR / MS-SSIM): " + "; ".join(cells), flush=True)
