"""Keyframe prefilter lookahead (vidcodec/codec/prefilter.py LOOKAHEAD) 16 against the shipped 8.

    python runs/encoder-tuning/lookahead.py FRAMES VALUES CLIP[:SKIP]...

BD-rate (PSNR / MS-SSIM) of each lookahead in VALUES against 8, every level, gop 250, measured
2026-12-04 with vaegan-g (format 13.0). Training clips, 40 frames: carphone 0.00 / 0.00, motion.mov
-1.26 / -2.50, movie-hello -0.40 / -0.68, bigbuckbunny -1.44 / -0.78 %. Held-out, 50 frames: vtest
-0.20 / -0.76, bikes +0.64 / -0.19, diver +0.60 / +0.42, Megamind:120 +0.15 / -0.35, tree -1.41 /
-1.59 % (means -0.04 / -0.49 %). Within a percent either way on the held-out clips, for twice the
latency at each keyframe (16 frames) and twice the frames held: 8 kept.
"""
import sys
import tempfile
from pathlib import Path

from vidcodec.codec import prefilter
from vidcodec.evaluate import rd

frames = int(sys.argv[1])
values = [int(v) for v in sys.argv[2].split(",")]
for spec in sys.argv[3:]:
    clip, _, skip = spec.partition(":")
    ref, rate = rd.read_frames(Path(clip), frames, int(skip or 0))
    curves = {}
    for la in [8] + values:
        prefilter.keyframes.__defaults__ = (la, prefilter.SIGMA)
        with tempfile.TemporaryDirectory() as d:
            curves[la] = list(rd.vidcodec_points(Path(clip), ref, rate, 250, Path(d), range(1, 9)))
    prefilter.keyframes.__defaults__ = (prefilter.LOOKAHEAD, prefilter.SIGMA)  # the shipped value again
    cells = []
    for v in values:
        ps, ms = rd.bd_rate_pair(curves[8], curves[v])
        cells.append(f"{v}: {ps:+.2f} / {ms:+.2f} %")
    print(Path(clip).name, skip, "lookahead vs 8:", "; ".join(cells), flush=True)
