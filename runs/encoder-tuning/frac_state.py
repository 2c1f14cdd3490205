"""Fractional prediction, simulated: a delta's learned sub-pixel prediction kept in sixteenths of a
symbol instead of rounded to whole symbols, so the decoder's latent state (prediction + integer
residuals) carries the prediction's fraction from frame to frame.

Why: on a slow pan the learned predictor finds the right vector, but its prediction, rounded to
integers, is ±1 off in a few per cent of the symbols, which the dead zone leaves unsent; the delta
loses 3-4 dB to a keyframe of the same level (runs/subpel/README.md). The unrounded prediction is
closer to the new frame's latent, and the synthesis takes any real latent.

What changes (encoder and, were it built, decoder; a format change): the state is float, in exact
multiples of 1/16 (the predictor's fixed-point sum shifted by FRACTION_BITS instead of
FRACTION_BITS + 4); residuals are whole symbols against the fractional prediction (rounded half to
even, dead zone as shipped); the residual contexts and orientation use the prediction rounded to
whole symbols; the motion search, the vector refinement and the quarter vectors' bilinear candidate
see the state rounded to whole symbols (the bilinear candidate predicts whole symbols, as now).
Keyframes are unchanged. Bytes: the real payloads of this encoder; quality: the synthesis of its
decoded state.

    python runs/encoder-tuning/frac_state.py FRAMES CLIP[:SKIP]...

Per clip, PSNR / MS-SSIM BD-rate against the shipped encoder (both frame by frame from the model's
latents, no prefilter, no colour corrections), every level, one keyframe. ``FRAC=n``: fractional
bits (default 4); ``ZERO=t``: prediction values under t snap to 0; ``CHOICE=1``: each candidate
also weighed rounded to whole symbols (a per-delta choice, a byte a delta counted).

Measured 2026-12-04 (session 37; vaegan-i; 20 or 30 frames), PSNR / MS-SSIM BD-rate against whole
symbols, FRAC 4:
- camera motion gains: OpenCV's Megamind (frames 120-139) -10.41 / -17.25 %, cityCC0 (the unseen
  0.25-px pan, 20 frames) -6.82 / -3.94 %, cockatoo (unseen, handheld) -6.30 / -7.33 %, bikes from
  frame 30 (its moving shot) -7.81 / -6.53 %, diver -0.56 / -1.14 %;
- losses where motion is local or absent: carphone (talking head) +15.16 / +12.09 %, OpenCV's tree
  (foliage) +4.26 / +15.34 %, vtest +1.46 / +1.05 %, motion.mov +0.61 / -0.94 %, bikes' static
  first 20 frames +1.26 / -1.76 %.
- CHOICE=1 as first written (fractional or the fraction rounded, the lower latent-domain cost, per
  delta, a byte a delta): carphone +19.74 / +15.83,
  tree +7.64 / +17.81 %: the latent's squared error prefers the fraction even where the pictures
  lose (its errors are smooth, blur-like; whole-symbol rounding's are not), so that cost cannot
  make the choice.
- ZERO=0.5: carphone +11.39 / +7.06 %, tree +0.93 / +7.74 %, bikes from frame 30 -1.59 / -3.30 %:
  less loss, less gain.
- GLOBAL=0.75 (the fraction only when one non-zero vector moves three quarters of the blocks, a
  rule the decoder could apply to the vectors): carphone +14.01 / +9.85 %, tree +0.88 / +2.33 %,
  Megamind +0.08 / +0.52 %, bikes from frame 30 -0.41 / -0.48 %: the gains go (real camera motion
  is not one vector a frame) and carphone's loss stays, so it does not come from its moved blocks
  alone (not yet explained: the next thing to look at, per frame, is which candidate wins there).
- balle-jbart (unseen, fixed camera), FRAC 4: -2.10 / -1.51 %.
- MOVING=0.75 (the fraction only when three quarters of the blocks move, another rule on the
  vectors): carphone +13.44 / +9.41 %, tree +0.87 / +6.04 %, Megamind -5.86 / -10.93 %, bikes from
  frame 30 -7.66 / -6.48 %: most of the pans' gain kept, tree's loss cut, carphone's not (its head
  and window fill the 176×144 frame: every block moves).
- CHOICE=1 PENALTY=0.5 or 1.0 FLAG_BYTE=0 (the fraction's squared error counted 1.5 or 2 times;
  the whole alternative being the predictor's own rounding): carphone and Megamind 0.00 / 0.00 %,
  the fraction never chosen. Per frame (carphone, level 4) the two candidates' latent errors are
  within a third of each other while their pictures differ by up to 0.5 dB, against the fraction
  on carphone and for it on the pans (where its gain builds up over the frames that follow). A
  choice that works has to look at the pictures (a synthesis per candidate) or at the frames ahead.
Not built: the gain is real on camera motion, the commonest motion of real footage, but the
losses on local motion are as large. What would make it a format (fixed-point state, prediction
in sixteenths) worth building is a choice that sees the pictures: e.g. per motion block, fraction
only where the block's vector is the frame's global one, or weighed by the synthesis's error.
"""
import os
import sys

import latent_curve
import numpy as np

from vidcodec.codec import motion, subpel, vaegan
from vidcodec.codec.vaegan import FrameEncoder
from vidcodec.evaluate import bdrate
from vidcodec.models import zoo

m = zoo.load(zoo.DEFAULT_MODEL)
FRAC = int(os.environ.get("FRAC", "4"))  # fractional bits of the state
ZERO = float(os.environ.get("ZERO", "0"))  # |prediction| under this is 0 (whole-symbol rounding's near 0)
GLOBAL = float(os.environ.get("GLOBAL", "0"))  # fraction only where one non-zero vector covers this share
PENALTY = float(os.environ.get("PENALTY", "0"))  # CHOICE: a fractional candidate's cost counts (1 + this) times
FLAG_BYTE = os.environ.get("FLAG_BYTE", "1") == "1"  # CHOICE: count a byte a delta for the choice (0: a spare bit)
MOVING = float(os.environ.get("MOVING", "0"))  # fraction only when this share of the blocks move
CHOICE = os.environ.get("CHOICE", "0") == "1"  # FracChoice: fractional or whole prediction per delta


def frac_predict(pr: subpel.Predictor, prev: np.ndarray, vectors: np.ndarray, block: int, level: int) -> np.ndarray:
    """Predictor.predict with the result in multiples of 2**-FRAC (prev may hold such values)."""
    c, h, w = prev.shape
    k = min(pr.level_channels[level], c)
    padded = subpel._pad(prev[:k])
    out = np.zeros((c, h, w), dtype=np.float64)
    for r in range(vectors.shape[0]):
        for col in range(vectors.shape[1]):
            y, x = r * block, col * block
            bh, bw = min(block, h - y), min(block, w - x)
            dx, dy = int(vectors[r, col, 0]), int(vectors[r, col, 1])
            if dx % subpel.UNITS == 0 and dy % subpel.UNITS == 0:
                y0, x0 = y + dy // subpel.UNITS + subpel.MARGIN, x + dx // subpel.UNITS + subpel.MARGIN
                out[:k, y:y + bh, x:x + bw] = padded[:, y0:y0 + bh, x0:x0 + bw]
                continue
            (ox, oy, nx, ny), combined = pr._combined(level, dx % subpel.UNITS, dy % subpel.UNITS)
            y0, x0 = y + dy // subpel.UNITS + oy + subpel.MARGIN, x + dx // subpel.UNITS + ox + subpel.MARGIN
            taps = np.concatenate([padded[:, y0 + b:y0 + b + bh, x0 + a:x0 + a + bw]
                                   for b in range(ny) for a in range(nx)]).reshape(nx * ny * k, -1)
            s = combined @ taps  # in units of 2**-(FRACTION_BITS + 4)
            scale = 2.0 ** (subpel.FRACTION_BITS + 4 - FRAC)
            out[:k, y:y + bh, x:x + bw] = (np.rint(s / scale) / 2.0**FRAC).reshape(k, bh, bw)
    if ZERO > 0:  # values near zero snap to it, as rounding does
        out[np.abs(out) < ZERO] = 0.0
    return out


_orig_motion_predict = motion.predict


class Frac(FrameEncoder):
    def _rounded_state(self) -> np.ndarray:
        return np.rint(self._prev).astype(np.int64)

    def _search(self, ys):
        if not self.motion_block:
            return None
        k = self._search_channels
        return motion.search(ys[:k], self._rounded_state()[:k], self.motion_block, self.motion_lambda)

    def _moved(self, ys, v):
        if v is None:
            return None
        k = self._search_channels
        v = self.predictor.refine(ys[:k], self._rounded_state(), v, self.motion_block, self.motion_lambda, self.level)
        if not v.any():
            return None
        pred = frac_predict(self.predictor, self._prev, v, self.motion_block, self.level)
        # the shipped prediction (whole symbols, the predictor's own rounding) from the state rounded
        self._frac_pred = pred
        self._whole_pred = self.predictor.predict(self._rounded_state(), v, self.motion_block, self.level)
        if MOVING and np.mean(v.reshape(-1, 2).any(axis=1)) < MOVING:  # the fraction only when most blocks move
            pred = self._whole_pred
        if GLOBAL:  # the fraction only when one vector moves most of the frame (a rule on the vectors)
            vecs, counts = np.unique(v.reshape(-1, 2), axis=0, return_counts=True)
            top = counts.argmax()
            if not (vecs[top].any() and counts[top] >= GLOBAL * len(v.reshape(-1, 2))):
                pred = np.rint(pred).astype(np.int64)
        return pred, v

    def _residuals(self, ys, pred):
        d, sq_r, sq_kept, nonzero = vaegan.residuals_numpy(ys, pred, 0.5 + self.dead_zone)
        return self._choose_channels(d, sq_r, sq_kept, nonzero)

    def _delta_plan(self, d, pred, nonzero=None, plain=None):
        return super()._delta_plan(d, np.rint(pred).astype(np.int64), nonzero, plain)

    def _delta_payload(self, d, plan, block, vectors, pred):
        return super()._delta_payload(d, plan, block, vectors, np.rint(pred).astype(np.int64))


class FracChoice(Frac):
    """Frac, but each candidate prediction is weighed as it is and rounded to whole symbols (the
    shipped prediction), the cheaper kept: a per-delta choice (one more byte a delta counted)."""

    def _candidate(self, ys, pred, block, vectors):
        got = super()._candidate(ys, pred, block, vectors)
        if pred.dtype.kind == "f" and np.any(pred != np.rint(pred)):
            # a fractional prediction's squared error counts (1 + PENALTY) times: at equal latent error
            # its pictures are worse (carphone, level 4: 24.33 against 24.87 dB at 0.096 a value)
            error = got[0] - self._lam() * self.channel_lambda * (got[3][0] + 8 * len(vectors))
            got = (got[0] + PENALTY * error,) + got[1:]
            exact = getattr(self, "_frac_pred", None) is pred
            whole = super()._candidate(ys, self._whole_pred if exact else np.rint(pred).astype(np.int64), block,
                                       vectors)
            if whole[0] <= got[0]:
                return whole
        return got

    def encode_latent(self, y, x=None):
        coded = super().encode_latent(y, x)
        extra = b"\0" if coded.kind == vaegan.DELTA and FLAG_BYTE else b""
        return vaegan.EncodedFrame(coded.kind, coded.payload + extra, coded.level, coded.flags)


def whole_state_predict(prev, *a, **k):  # the bilinear candidate: whole symbols from the rounded state
    return _orig_motion_predict(np.rint(prev).astype(np.int64), *a, **k)


def curve(cls, ref, ys):
    return latent_curve.curve(m, lambda level: cls(m, level, gop=10**6, predictor=m.subpel, major=13), ref, ys)


if __name__ == "__main__":
    frames = int(sys.argv[1])
    for spec in sys.argv[2:]:
        name, ref, ys = latent_curve.clip_latents(m, spec, frames)
        base = curve(FrameEncoder, ref, ys)
        vaegan.motion.predict = whole_state_predict
        try:
            test = curve(FracChoice if CHOICE else Frac, ref, ys)
        finally:
            vaegan.motion.predict = _orig_motion_predict
        p = bdrate.bd_rate([(b, q) for b, q, _ in base], [(b, q) for b, q, _ in test])
        s = bdrate.bd_rate([(b, bdrate.ms_ssim_db(q)) for b, _, q in base],
                           [(b, bdrate.ms_ssim_db(q)) for b, _, q in test])
        print(f"{name} {frames} frames: fractional state against whole symbols, PSNR / MS-SSIM "
              f"BD-rate {p:+.2f} / {s:+.2f} %", flush=True)
        for (b0, p0, s0), (b1, p1, s1) in zip(base, test):
            print(f"   {b0:.4f} bpp {p0:.2f} dB {s0:.4f} -> {b1:.4f} bpp {p1:.2f} dB {s1:.4f}", flush=True)
