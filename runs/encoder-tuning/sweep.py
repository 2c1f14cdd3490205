"""BD-rate of encoder settings against a baseline: vidcodec only, same frames, every level.

    python runs/encoder-tuning/sweep.py FRAMES GOP PARAM BASE VALUE[,VALUE...] CLIP...

PARAM is a keyword of ``FrameEncoder`` (e.g. ``key_rdoq_lambda``) or a module constant named with
its module (e.g. ``vidcodec.codec.colour.COST_FACTOR``: ``... 40 250 vidcodec.codec.colour.COST_FACTOR
0 1,2 CLIPS``, the colour cost rule, 2026-12-03; ``vidcodec.codec.colour.MEAN_SHIFT inf 0.01,0.03``,
the fade refits; ``vidcodec.api.COLOUR_REFRESH 12 6``; their numbers are in the constants'
comments); each VALUE's streams are compared with BASE's (PSNR / MS-SSIM BD-rate, negative = fewer bits). How keyframe RDOQ's λ was
chosen (2026-12-02): ``... 6 1 key_rdoq_lambda 0 0.01,0.02,0.03,0.05 CLIPS`` (intra) and
``... 20 250 key_rdoq_lambda 0 0.03,0.05 CLIPS`` (video) on training clips. Re-checked over 100 frames
(2026-12-05, ``... 100 250 key_rdoq_lambda 0.03 0,0.015`` and ``0.05,0.08`` on carphone, motion.mov,
wannaworktogether): 0 -0.12/+2.18, +0.66/+0.97, +0.06/+0.04 %; 0.015 +1.05/+1.95, -0.58/+1.01,
+0.03/+0.08 %; 0.05 +0.88/+0.31, -2.20/-1.66, +0.36/+0.90 %; 0.08 +1.77/+0.04, -1.48/-1.80,
-0.05/+1.23 %: mixed, 0.03 kept. The dead zone re-checked
with format 8.0 (2026-12-02): ``... 20 250 dead_zone 0.4 0.3,0.5`` on carphone, motion.mov,
wannaworktogether, movie-hello: 0.3 -0.29/-0.58, +0.14/-0.25, +0.82/+0.33, -0.10/-0.09 %; 0.5
+0.01/+0.64, -0.42/+0.12, +0.45/-0.73, -0.01/-0.01 % (PSNR / MS-SSIM): 0.4 kept. Re-checked over
100 frames with vaegan-i (2026-12-04, whether longer GOPs, where held-out clips lose more to
x264, want a smaller dead zone: ``... 100 250 dead_zone 0.4 0.3``): carphone -0.78/-1.15, motion.mov
+0.72/+0.26, bigbuckbunny -0.76/-2.37, wannaworktogether +0.91/+0.32, movie-hello -0.30/-0.44 %
(means -0.04 / -0.68 %, two clips of five worse): mixed as over 20 frames, 0.4 kept. The per-channel
choice likewise, ``... 20 250 channel_lambda 0.2 0.15,0.3`` (also RDOQ's λ): 0.15 +0.32/-0.64,
+1.50/+1.45, +1.17/-0.49, +0.17/+0.16 %; 0.3 +0.62/+2.40, -0.30/+0.14, -0.80/+2.23, -0.17/-0.13 %:
0.2 kept.

With format 10.0's learned prediction (2026-12-02): ``... 20 250 motion_block 8 4,2`` on the
held-out clips: vtest 4: -0.26/-0.22, 2: -0.24/-0.21 %; bikes 4: -1.76/+0.79, 2: +6.98/+11.83 %;
diver 4: +5.00/+3.76, 2: +11.93/+8.26 % (8 kept: smaller blocks pay more in vectors than they save,
and vtest's gap to x264 is not in the motion). ``... 20 250 motion_lambda 1 0.3,3`` on training
clips: bigbuckbunny 0.3: +0.73/+0.55, 3: -0.54/-0.50 %; motion.mov 0.3: -0.06/+0.09, 3:
-0.09/+0.28 %; wannaworktogether 0.3: -0.11/+0.20, 3: +0.45/-0.12 % (1 kept).

The delta lambda cascade (2026-12-02, ``vaegan.DELTA_LAMBDAS``; a tuple is written with ``+``, and
``1+1`` is no cascade):
``... 40 250 delta_lambdas 1+1 0.6+1.25+1.25+1.25,1+1.6+1.6+1.6 CLIPS`` on carphone, motion.mov,
wannaworktogether: -2.80/-3.34, -0.56/+0.27, +0.06/-8.27 %; -1.98/-1.61, -1.75/-1.98, +18.73/+38.14 %.
``... 0.5+1.25+1.25+1.25,0.6+1.4+1.2+1.4,0.5+1.3+1.1+1.3+0.8+1.3+1.1+1.3``: -3.31/-4.03, +0.08/+0.89,
-0.17/-10.54 %; -2.54/-3.00, -0.97/-0.02, +2.06/+3.56 %; -3.60/-3.97, -1.34/-0.42, -1.46/-6.33 %
(the last, better on all three). On the held-out clips it did not hold (``vidcodec eval
samples/bikes.mp4 samples/vtest.mp4 DATA/videos/diver.mov --codecs vidcodec x264-medium
x264-veryfast-zl --out docs/eval/cascade``, 50 frames, against format11's points): bikes -2.56/-1.54,
vtest +1.76/+0.21, diver +3.65/+3.12 %; so no cascade is the default.

A coarser residual unit for deltas (an experiment, not in the format: a delta's residuals sent as
multiples of 2 or 3 symbols, the keyframe at full precision; 50 frames, PSNR / MS-SSIM against
unit 1): carphone 2: +9.18/+16.10, 3: +13.19/+19.33 %; motion.mov -3.13/-0.76, -4.95/-4.74 %;
wannaworktogether +22.71/+23.09, +30.99/+8.05 %. Chosen per delta by the encoder's cost (units 1
or 2): carphone +0.30/+0.50, motion.mov -0.68/-0.54 %. Dropped: it would have needed a format
change for little or nothing on most content (the code: delta-step.patch, against 4de83de).

A long-term reference (2026-12-03; an experiment, not in the format: it would have been 12.0): a
delta's squares of U latent pixels predicted from the GOP's keyframe symbols instead of the previous
frame where that has the lower squared error, for what moving people uncover in a still scene; one
bit per square and the square side in the motion section (the code: long-term.patch, against
3f19d66). vtest, 60 frames, file bytes against no long-term squares: default level U=4 -0.69 %
(2 of 59 deltas chose it), U=4 with a margin of 20 -0.63 %, U=2 -0.46 %; quality 2 no delta chose it
(0.00 %); quality 7 U=4 with the margin -0.55 %, U=2 -0.24 %. Per motion block (8 latent pixels) with vectors searched on the
keyframe no delta chose it. Dropped: the uncovered background is not where vtest's gap to x264 is.

A second motion block size per delta (2026-12-03; the format allows any block side per delta; an
encoder experiment, candidates with blocks of 4 or 16 latent pixels beside the default 8, the
cheapest by the encoder's cost coded): ``... 30 250 alt_blocks + 4+,16+`` on motion.mov 4: +0.03 /
+0.02, 16: -0.14 / -0.01 %; bigbuckbunny -0.88 / -0.73, +0.10 / +0.08 %; carphone +1.47 / +1.80,
+0.02 / +0.01 %. Dropped (the latent cost that ranks the candidates favours 4 where the pictures
lose; ``+`` is the empty tuple, ``4+`` the tuple (4,)).

Scene cuts by rate-distortion cost (2026-12-03; an experiment, the code: cut-cost.patch against
997d329): a keyframe when the delta's squared error + λ·bits (the delta's λ) exceeds κ times the
keyframe's, instead of when the delta's bytes exceed 0.7 of the keyframe's. It was prompted by a
bikes cut (frame 138 of 300, quality 4) that the size rule coded as a delta of 0.67 of the key's
bytes at twice the key's error, its GOP then about 1.5 dB under the next one. ``... 150 250
cut_cost 0 0.7,0.85,1.0`` on training clips: wannaworktogether +3.63 / +6.93, -0.02 / -0.22,
+0.64 / +0.10 %; carphone +0.83 / +1.00, 0.00 / 0.00, 0.00 / 0.00 % (PSNR / MS-SSIM). Dropped: no
gain where the size rule already finds the cuts, and no training clip with a cut it misses.
"""
import dataclasses
import importlib
import sys
import tempfile
from pathlib import Path

from vidcodec.codec import vaegan
from vidcodec.evaluate import rd

frames, gop, param = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def number(s: str) -> bool | int | float | tuple[float, ...]:
    if s in ("True", "False"):  # e.g. long_term False True
        return s == "True"
    if "+" in s:  # a tuple, e.g. delta_lambdas 0.5+1.3+1.1+1.3 (alt_blocks 4+ for the tuple (4,))
        return tuple(number(x) for x in s.split("+") if x)
    return int(s) if s.lstrip("-").isdigit() else float(s)  # motion_block wants an int


base, values, clips = number(sys.argv[4]), [number(v) for v in sys.argv[5].split(",")], sys.argv[6:]
original = vaegan.FrameEncoder.__init__
module_name, _, constant = param.rpartition(".")
module = importlib.import_module(module_name) if module_name else None
coded = getattr(module, constant) if module is not None else None  # the constant as the code has it


def use(value) -> None:
    """Encode from now on with PARAM = ``value`` (None: as the code has it)."""
    if module is not None:
        setattr(module, constant, coded if value is None else value)
        return

    def init(self, *a, **k):
        original(self, *a, **{**k, param: value})
    vaegan.FrameEncoder.__init__ = original if value is None else init


for clip in clips:
    ref, rate = rd.read_frames(Path(clip), frames)
    curves = {}
    for value in [base, *values]:
        use(value)
        with tempfile.TemporaryDirectory() as d:
            curves[value] = [dataclasses.replace(p, codec=f"{param}={value}")
                             for p in rd.vidcodec_points(Path(clip), ref, rate, gop, Path(d), range(1, 9))]
        use(None)
    cells = []
    for value in values:
        psnr = rd.bd_rate([(p.bpp, p.psnr) for p in curves[base]], [(p.bpp, p.psnr) for p in curves[value]])
        msssim = rd.bd_rate([(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in curves[base]],
                            [(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in curves[value]])
        cells.append(f"{value}: {psnr:+.2f} / {msssim:+.2f} %")
    print(f"{Path(clip).name} gop {gop} ({param} against {base}, PSNR / MS-SSIM): " + "; ".join(cells), flush=True)
