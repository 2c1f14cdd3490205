"""Persistence-weighted distortion (an encoder experiment in the spirit of x264's macroblock tree):
a latent value that the next frames will not change stays on screen for those frames, so its error
counts once per frame it stays. Each element of a frame's scaled latent gets the weight 1 + α·p,
p the number of consecutive lookahead frames (at most N) whose scaled latent stays within the dead
zone of this one's at that element (where no residual would be sent); the delta's dead zone becomes
0.5 + dz / w, and the channel choice, the RDOQ and the candidates' costs weigh squared errors by w,
the keyframe's RDOQ likewise. The format does not change: only the encoder's choices.

    python runs/encoder-tuning/persistence.py FRAMES ALPHA[,ALPHA...] LOOKAHEAD CLIP...

Each stream is coded frame by frame from the model's latents (no prefilter, no colour corrections,
in both arms); quality from the synthesis of the encoder's own decoded latents (what the decoder
holds), bytes the payloads' sizes; BD-rate over the 8 levels against α = 0 (the shipped rules).
``DEAD_ZONE=0`` keeps the dead zone as shipped (only the RD choices weighted).

Measured 2026-12-04 (late), training clips, lookahead 8, PSNR / MS-SSIM BD-rate against α 0:
with the dead zone weighted too, carphone (12 frames) α 1 +21.5 / +13.2 %: a persistent element's
dead zone near 0.54 is the dead zone 0 that costs 30-46 % everywhere (the target's stillness is
common: latents of a still background move by less than the dead zone from frame to frame).
``DEAD_ZONE=0``, 30 frames: carphone α 0.1 / 0.25 / 0.5 -0.40 / -0.93, +3.12 / +1.29, +11.11 /
+8.62 %; motion.mov +4.88 / +3.78, +12.10 / +12.76, +19.06 / +25.67 %; wannaworktogether -1.03 /
-3.69, -0.30 / -2.80, +0.48 / -1.97 %. Dropped: the latent's squared error weighted by how long it
stays buys bits where the pictures do not show them, and loses on camera motion (motion.mov).
"""

import os
import sys
from pathlib import Path

import latent_curve
import numpy as np

from vidcodec.codec import vaegan
from vidcodec.codec.vaegan import FrameEncoder, to_tensor
from vidcodec.evaluate import bdrate, rd
from vidcodec.models import zoo

frames, alphas, lookahead, clips = int(sys.argv[1]), [float(a) for a in sys.argv[2].split(",")], int(sys.argv[3]), sys.argv[4:]
m = zoo.load(zoo.DEFAULT_MODEL)
WEIGH_DEAD_ZONE = os.environ.get("DEAD_ZONE", "1") == "1"  # DEAD_ZONE=0: the dead zone as shipped


class Weighted(FrameEncoder):
    """FrameEncoder whose squared errors are weighted by each element's persistence."""

    def __init__(self, *a, latents=None, alpha=0.0, **k):
        super().__init__(*a, **k)
        self.latents, self.alpha = latents, alpha
        self.w = None

    def _encode_latent(self, y, x):
        t = self._frame  # the index of this frame (incremented inside)
        ys = self._scaled(y, self.level)
        future = [self._scaled(f, self.level) for f in self.latents[t + 1:t + 1 + lookahead]]
        if future and self.alpha > 0:
            stay = np.abs(np.stack(future) - ys[None]) < 0.5 + self.dead_zone
            self.w = 1.0 + self.alpha * np.cumprod(stay, axis=0).sum(axis=0)
        else:
            self.w = None
        return super()._encode_latent(y, x)

    def _residuals(self, ys, pred):
        if self.w is None:
            return super()._residuals(ys, pred)
        w = self.w
        r = ys.astype(np.float64) - pred
        d = np.rint(np.clip(r, -vaegan.MAX_ESCAPE, vaegan.MAX_ESCAPE)).astype(np.int64)
        d[np.abs(r) < 0.5 + self.dead_zone / (w if WEIGH_DEAD_ZONE else 1.0)] = 0
        k = r.shape[0]
        sq_r = (w * r * r).reshape(k, -1).sum(axis=1)
        sq_kept = (w * (r - d) ** 2).reshape(k, -1).sum(axis=1)
        return self._choose_channels(d, sq_r, sq_kept, np.count_nonzero(d.reshape(k, -1), axis=1))

    def _error_weights(self, channel, at):
        if self.w is None:
            return 1.0
        return self.w[:at] if channel is None else self.w[channel].ravel()[at]


def curve(ref, ys, alpha):
    return latent_curve.curve(m, lambda level: Weighted(m, level, latents=ys, alpha=alpha, predictor=m.subpel),
                              ref, ys)


for clip in clips:
    ref, _ = rd.read_frames(Path(clip), frames)
    ys = [m.analyze(to_tensor(f, m.downscale))[0] for f in ref]
    base = curve(ref, ys, 0.0)
    cells = []
    for alpha in alphas:
        test = curve(ref, ys, alpha)
        p = bdrate.bd_rate([(b, q) for b, q, _ in base], [(b, q) for b, q, _ in test])
        s = bdrate.bd_rate([(b, bdrate.ms_ssim_db(q)) for b, _, q in base], [(b, bdrate.ms_ssim_db(q)) for b, _, q in test])
        cells.append(f"α {alpha}: {p:+.2f} / {s:+.2f} %")
    print(f"{clip} {frames} frames, lookahead {lookahead} (PSNR / MS-SSIM BD-rate against α 0): " + "; ".join(cells),
          flush=True)
