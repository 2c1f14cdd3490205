"""Fractional prediction (frac_state.py) chosen per delta by its pictures, simulated.

frac_state.py showed a latent state that keeps the learned prediction's fraction (in sixteenths)
gaining 6-17 % on camera motion and losing 4-15 % on local motion, and that the latent-domain cost
cannot tell the two apart. Here the encoder codes each delta twice, fractional prediction and the
shipped whole-symbol one (both from the same state), synthesizes both decoded states and keeps the
lower picture cost MSE + LAMBDA_SCALE * lambda * bits, lambda the slope of the clip's own
whole-symbol RD curve at the level (a choice the decoder learns from one flag a delta, counted as a
byte unless FLAG_BYTE=0). Costs an encoder one synthesis per candidate per delta.

    python runs/encoder-tuning/frac_pick.py FRAMES CLIP[:SKIP]...

Env as frac_state.py (FRAC, ZERO, MOVING, ...) plus LAMBDA_SCALE (default 1; 0 = lower MSE wins)
and KAPPA (> 0: the relative rule format 14.0's encoder uses, dMSE/MSE + KAPPA dbits/bits < 0).
Both encoders are format 13.0 ones (whole-symbol state), the fraction simulated as in frac_state.py.

Measured 2026-12-04 (session 38; vaegan-i; 20 frames, every level, one keyframe, no prefilter nor
colour corrections), PSNR / MS-SSIM BD-rate against whole symbols:
- FLAG_BYTE=1 (a byte a delta), LAMBDA_SCALE=1: carphone +5.52 / +4.48 % (the byte is 18 % of its
  lowest level's deltas), Megamind 120- -10.10 / -16.65 %; FLAG_BYTE=0: carphone +2.04 / +1.35 %.
- FLAG_BYTE=0, LAMBDA_SCALE=0 / 0.5: carphone -2.08 / -0.57 and -3.29 / -2.61, tree -0.90 / +3.36
  and -0.87 / +3.26, Megamind -4.92 / -7.07 and -9.62 / -15.15, cityCC0 -0.66 / -0.33 and
  -5.01 / -3.05, bikes from 30 -4.49 / -2.66 and -8.41 / -5.51, vtest +0.78 / +0.52 and
  +0.75 / +0.46, diver +0.09 / -0.59 and -1.92 / -1.08, motion.mov -1.14 / -0.37 and -1.41 / +1.23,
  balle-jbart -4.44 / -6.36 and -2.48 / +3.29, cockatoo -4.02 / -4.56 and -6.85 / -7.85 %.
- KAPPA=0.25: carphone -3.09 / -2.26, tree -0.45 / +3.57 %; KAPPA=0.15 alike.
So the pictures keep most of the pans' gain and turn the local-motion losses of frac_state.py
(carphone +15 %) into gains; tree's MS-SSIM loss stays (fixed in the built rule by also weighing
1 - SSIM: fine_ab.py).
"""
import os
import sys
from typing import ClassVar

import frac_state
import latent_curve
import numpy as np

from vidcodec.codec import vaegan
from vidcodec.codec.vaegan import FrameEncoder, to_rgb
from vidcodec.evaluate import bdrate

m = frac_state.m
LAMBDA_SCALE = float(os.environ.get("LAMBDA_SCALE", "1"))
KAPPA = float(os.environ.get("KAPPA", "0"))  # > 0: fraction if dMSE/MSE + KAPPA dbits/bits < 0
FLAG_BYTE = os.environ.get("FLAG_BYTE", "1") == "1"
STATE = ("_prev", "_prev_selectors", "_temporal", "_since_key", "_frame")


def slopes(points: list[tuple[float, float, float]], pixels: int) -> list[float]:
    """MSE per bit of a frame at each level, from a curve's (bpp, PSNR) points (central differences)."""
    bits = [b * pixels for b, _, _ in points]
    mse = [255.0**2 * 10 ** (-p / 10) for _, p, _ in points]
    out = []
    for i in range(len(points)):
        lo, hi = max(i - 1, 0), min(i + 1, len(points) - 1)
        out.append(max((mse[lo] - mse[hi]) / max(bits[hi] - bits[lo], 1e-9), 0.0))
    return out


class FracPick(frac_state.Frac):
    use_frac = True
    frame: np.ndarray | None = None  # the source frame (the curve sets it before each encode)
    lam: float = 0.0
    picks: ClassVar[list[int]] = [0, 0]  # deltas that differed: [whole, fraction]

    def _moved(self, ys, v):
        got = super()._moved(ys, v)
        if got is None or self.use_frac:
            return got
        return self._whole_pred, got[1]

    def _mse(self, state: np.ndarray) -> float:
        lat = (state.astype(np.float32) / m.gains[self.level][:, None, None])[None]
        h, w = self.frame.shape[:2]
        out = to_rgb(m.synthesize(lat), w, h)
        return float(np.mean((out.astype(np.float64) - self.frame) ** 2))

    def encode_latent(self, y, x=None):
        if self._prev is None or self._since_key >= self.gop:
            return super().encode_latent(y, x)
        snap = {k: getattr(self, k) for k in STATE}
        self.use_frac = True
        a = super().encode_latent(y, x)
        sa = {k: getattr(self, k) for k in STATE}
        for k, v in snap.items():
            setattr(self, k, v)
        self.use_frac = False
        b = super().encode_latent(y, x)
        extra = b"\0" if FLAG_BYTE else b""
        if a.payload == b.payload or a.kind != vaegan.DELTA or b.kind != vaegan.DELTA:
            return vaegan.EncodedFrame(b.kind, b.payload + (extra if b.kind == vaegan.DELTA else b""), b.level)
        ma, mb = self._mse(sa["_prev"]), self._mse(self._prev)
        if KAPPA:  # relative: the frame's own operating point sets the slope
            ja = (ma - mb) / mb + KAPPA * (len(a.payload) - len(b.payload)) / max(len(b.payload), 1)
            jb = 0.0
        else:
            ja = ma + self.lam * 8 * len(a.payload)
            jb = mb + self.lam * 8 * len(b.payload)
        if ja < jb:
            for k, v in sa.items():
                setattr(self, k, v)
            FracPick.picks[1] += 1
            return vaegan.EncodedFrame(a.kind, a.payload + extra, a.level)
        FracPick.picks[0] += 1
        return vaegan.EncodedFrame(b.kind, b.payload + extra, b.level)


def pick_curve(ref, ys, lams):
    frames = iter(ref * m.levels)

    def make(level):
        enc = FracPick(m, level, gop=10**6, predictor=m.subpel, major=13)
        enc.lam = LAMBDA_SCALE * lams[level]
        orig = enc.encode_latent

        def encode(y, x=None):
            enc.frame = next(frames).astype(np.float64)
            return orig(y, x)
        enc.encode_latent = encode
        return enc
    return latent_curve.curve(m, make, ref, ys)


if __name__ == "__main__":
    n = int(sys.argv[1])
    for spec in sys.argv[2:]:
        name, ref, ys = latent_curve.clip_latents(m, spec, n)
        base = frac_state.curve(FrameEncoder, ref, ys)
        lams = slopes(base, ref[0].shape[0] * ref[0].shape[1])
        FracPick.picks = [0, 0]
        vaegan.motion.predict = frac_state.whole_state_predict
        try:
            test = pick_curve(ref, ys, lams)
        finally:
            vaegan.motion.predict = frac_state._orig_motion_predict
        p = bdrate.bd_rate([(b, q) for b, q, _ in base], [(b, q) for b, q, _ in test])
        s = bdrate.bd_rate([(b, bdrate.ms_ssim_db(q)) for b, _, q in base],
                           [(b, bdrate.ms_ssim_db(q)) for b, _, q in test])
        print(f"{name} {n} frames: fraction picked by pictures against whole symbols, "
              f"PSNR / MS-SSIM BD-rate {p:+.2f} / {s:+.2f} % (picked whole {FracPick.picks[0]}, "
              f"fraction {FracPick.picks[1]} of the deltas that differed)", flush=True)
        for (b0, p0, s0), (b1, p1, s1) in zip(base, test):
            print(f"   {b0:.4f} bpp {p0:.2f} dB {s0:.4f} -> {b1:.4f} bpp {p1:.2f} dB {s1:.4f}", flush=True)
