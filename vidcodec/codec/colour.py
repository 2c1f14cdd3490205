"""Colour correction (format 11.0): an affine colour transform the encoder fits and the decoder applies.

The synthesis transform's colours are not the mean-square-optimal ones for a given picture: trained
on SSIM + L1 with an adversarial term, at low levels it desaturates and mixes channels, and where it
does so depends on the content (measured on vaegan-g, one frame's fit: the matrix is near identity
on vtest at level 5 but mixes a third of another channel into green on bikes). So the encoder fits,
on each keyframe and again every few frames (:class:`Fitter`), the 3 × 4 affine map
``out = M · rgb + o`` from the frame as the decoder will synthesize it to the source frame (least
squares, drawn toward the identity), and sends it in 24 bytes ahead of the payload (``FLAG``) when
it pays; the decoder applies the one in force (:func:`in_force`) to every frame after the
synthesis, before rounding to 8 bits. It is a post-filter: references are latents, so nothing
drifts, and a decoder that skipped it would still decode every frame (only less exactly).

Measured before it was built (vaegan-g, 20 frames, every level, key-fitted matrix, BD-rate PSNR /
MS-SSIM against no correction): bikes −8.9 / −3.1 %, vtest −5.2 / −1.1 %, diver −5.0 / 0.0 %.

Layout (little-endian): three rows ``M[r][0..2]``, ``o[r]`` (a 3 × 4 row-major i16 array) in units of 1/4096 (``o`` in units of
full scale: 4096 = 255 in 8-bit terms).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import CoderError

FLAG = 0x01  # packet flags bit (mode 0, format 11.0 on): the payload starts with a colour correction
SIZE = 24  # bytes of a colour correction
ONE = 4096  # fixed-point unit of its terms
RIDGE = 1e-6  # draw toward the identity, per pixel: a flat frame gets the identity, not a singular fit
MIN_GAIN = 0.005  # sent only when it lowers the frame's squared error by at least this fraction
# ... and by at least COST_FACTOR · (its 8·SIZE bits) / (the bits of the `refresh` frames it covers):
# at low rates 24 bytes are a large share of a frame. The rule: a relative gain g in squared error is
# 4.34·g dB, and along the codec's curve (about 5.4 dB per unit of ln rate on bikes at its lowest
# levels) that is a rate saving of 0.8·g over the frames the correction covers; so it pays from
# g = 1.25 · 8·SIZE / those frames' bits. Measured (40 frames, every level, PSNR / MS-SSIM BD-rate
# against MIN_GAIN alone): factor 1 / 2 on training clips motion.mov -2.5 / -2.8 and -2.9 / -3.2 %,
# carphone -2.0 / -2.1 and -2.1 / -2.2 %, wannaworktogether -0.5 / +0.6 % both, movie-hello 0 / 0
# both; held out bikes -0.2 / -0.2 and -0.3 / -0.4 %, diver +0.1 / -0.0 and +0.6 / -0.0 %, vtest
# (factor 2) +0.1 / +0.0 %. Factor 4 held out: bikes -0.7 / -0.3, vtest +0.1 / 0.0, diver +0.9 / -0.0 %.
COST_FACTOR = 2.0
# A delta is also refitted, before `refresh` frames have passed, when its source's mean colour has
# moved by more than MEAN_SHIFT (of full scale, in any of R, G, B) since the last fit, at most every
# MIN_REFIT_GAP frames: in a fade the colours drift between the regular refits (a keyframe on the
# black first frame of a fade-in had its correction fitted on black until the refit at frame 12).
# 40 frames, every level, PSNR / MS-SSIM BD-rate against no such refits: wannaworktogether (a
# fade-in) 0.03 -66.8 / -63.8 %, 0.01 -66.9 / -63.8 %; 0.01 on motion.mov -0.0 / +0.1 %, bikes -0.3 /
# +0.1 %. Fits in 120 frames (each one synthesis), none / 0.01 / 0.03: bikes 11 / 33 / 17, diver
# 10 / 32 / 16, wannaworktogether 11 / 16 / 14; vtest and movie-hello 9 and 10 with or without.
# MIN_REFIT_GAP 1 (every drifted delta refits) against 2 (2026-12-07, `sweep.py 40 250
# vidcodec.codec.colour.MIN_REFIT_GAP 2 1`, PSNR / MS-SSIM BD-rate): wannaworktogether (a 5-frame
# fade-in, whose first delta decoded near black, mean 2 against 22) -17.6 / -19.9 %; the held-out
# clips with a fade-in over 15 frames and a fade-out over 15 (ffmpeg's fade filter) bikes -6.4 /
# -11.0 %, vtest -10.6 / -4.9 %, diver -17.7 / -6.5 %; bikes, vtest, diver, carphone, motion.mov,
# bigbuckbunny and movie-hello as they are 0.00 / 0.00 % (no refit there). With it, MEAN_SHIFT 0.015
# against 0.03 (same command): the faded bikes -0.62 / +0.26 %, vtest 0.00 / 0.00, diver -2.04 / +0.04,
# wannaworktogether -0.49 / -0.44, bikes and diver as they are -0.24 / -0.01 and -0.38 / -0.30 % (refits
# there, a synthesis each): too little for the syntheses; 0.03 kept.
MEAN_SHIFT = 0.03
MIN_REFIT_GAP = 1
IDENTITY = np.concatenate([np.eye(3), np.zeros((3, 1))], axis=1)


@dataclass(frozen=True)
class Correction:
    """A decoded colour correction: ``terms`` (3, 4) int16, the matrix then the offset column."""

    terms: np.ndarray

    def to_bytes(self) -> bytes:
        return self.terms.astype("<i2").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> Correction:
        if len(data) < SIZE:
            raise CoderError(f"colour correction of {len(data)} bytes, {SIZE} expected: the packet is damaged")
        return cls(np.frombuffer(bytes(data[:SIZE]), dtype="<i2").reshape(3, 4).astype(np.int16))

    def affine(self, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(M (3,3), o (3,)) float32 for pictures in [0, 1] mapped to [0, ``scale``]."""
        t = self.terms.astype(np.float64) * (scale / ONE)
        return t[:, :3].astype(np.float32), t[:, 3].astype(np.float32)

    def apply(self, x: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Pictures (3,H,W) float32 in [0,1] → corrected (3,H,W) float32, clipped to [0, ``scale``]."""
        m, o = self.affine(scale)
        flat = x.reshape(3, -1)
        out = m @ flat  # one BLAS product: 640x360 in about a millisecond
        out += o[:, None]
        np.clip(out, 0.0, scale, out=out)
        return out.reshape(x.shape)


def split(payload: bytes | memoryview) -> tuple[Correction, memoryview]:
    """A flagged payload's correction and the rest of the payload."""
    view = memoryview(payload)
    return Correction.from_bytes(view), view[SIZE:]


def in_force(current: Correction | None, found: Correction | None, key: bool) -> Correction | None:
    """The correction in force after a decoded packet that carried ``found`` (None: no flag): a
    keyframe sets it (to none without one), a flagged delta replaces it, another delta keeps it."""
    return found if key or found is not None else current


def fit(decoded: np.ndarray, source: np.ndarray) -> Correction:
    """The quantized correction that brings ``decoded`` (3,H,W) closest to ``source`` (3,H,W), both in
    [0,1]: ridge least squares toward the identity, terms rounded to 1/4096 and clipped to int16."""
    d = decoded.reshape(3, -1).astype(np.float64)
    s = source.reshape(3, -1).astype(np.float64)
    n = d.shape[1]
    x = np.concatenate([d, np.ones((1, n))])
    gram = x @ x.T + RIDGE * n * np.eye(4)
    rhs = s @ x.T + RIDGE * n * IDENTITY
    terms = np.linalg.solve(gram, rhs.T).T  # (3, 4): the Gram matrix is symmetric
    q = np.clip(np.rint(terms * ONE), -32768, 32767).astype(np.int16)
    return Correction(q)


def squared_error(picture: np.ndarray, source: np.ndarray, correction: Correction | None) -> float:
    """Sum of squared differences (0..1 scale) of ``picture``, corrected if given, against ``source``."""
    out = picture if correction is None else correction.apply(picture)
    diff = out.astype(np.float64) - source
    return float(np.einsum("ij,ij->", diff.reshape(3, -1), diff.reshape(3, -1)))


SAMPLES = 1 << 15  # the fit sees the frame on a grid of about this many pixels (at least; every pixel of small frames)


def sample_stride(width: int, height: int) -> int:
    """The step of the grid the fitter samples a ``width`` × ``height`` frame on: 1 up to about 360×180,
    2 at 640×360, 7 at 1920×1080 (about 42 000 pixels: twelve terms are fitted)."""
    return max(1, math.isqrt(width * height // SAMPLES))


def source_mean(sample: np.ndarray) -> np.ndarray:
    """The mean colour (3,) float64 of a sampled source frame (3,h,w)."""
    return sample.mean(axis=(1, 2), dtype=np.float64)


class Schedule:
    """When the fitter fits: on every keyframe, on every ``refresh``-th delta after the last fit
    (never, ``refresh`` 0), and on a delta whose source's mean colour has moved by more than
    MEAN_SHIFT since the last fit (from MIN_REFIT_GAP frames after it). It depends on the frames'
    kinds and their sources' means alone, so a worker process coding a GOP can tell which decoded
    latents the fitter in the main process will want (:mod:`vidcodec.gopencode`)."""

    def __init__(self, refresh: int = 0) -> None:
        self.refresh = refresh
        self._since = 0  # frames since the last fit
        self._mean: np.ndarray | None = None  # the source's mean colour at the last fit

    def due(self, key: bool, mean: np.ndarray) -> bool:
        """Whether the next frame (a keyframe if ``key``; its source's mean colour ``mean``) is fitted."""
        if not key:
            self._since += 1
            if not self.refresh:
                return False
            drifted = (self._mean is not None and self._since >= MIN_REFIT_GAP
                       and bool(np.abs(mean - self._mean).max() > MEAN_SHIFT))
            if self._since < self.refresh and not drifted:
                return False
        self._since, self._mean = 0, mean
        return True


class Fitter:
    """The encoder's side: fits a correction on each keyframe as the decoder will synthesize it.

    ``synthesize`` maps a latent (1,C,h,w) float32 to the picture (1,3,H',W') float32 in [0,1];
    ``width`` × ``height`` is the frame inside the padded picture. A correction is sent only when it
    lowers the frame's squared error by :data:`MIN_GAIN` or more against the one in force (a
    keyframe's: against none), and, when the caller gives the stream's recent bits per frame, by
    :data:`COST_FACTOR` times its bits over those of the ``refresh`` frames it covers.
    ``refresh`` > 0: every ``refresh`` frames after a keyframe a delta is fitted too, and carries a
    new correction when it pays (one more synthesis each time, unless the caller gives the picture it
    already made: the encoder's weighed deltas, whose picture may be its bfloat16 judge's, about 60 dB
    from the synthesis's; see FrameEncoder._fine_or_whole); see :class:`Schedule`.

    The fit, its gain and the mean colour are measured on the pixels of a grid
    (:func:`sample_stride`; ``source`` arguments are the frame as given to the analysis,
    (1,3,H',W'), or its :meth:`sample`): the 12 terms need no more, and a worker-process encode
    keeps only the samples of the frames in flight. Measured 2026-12-04 (30 frames, every level,
    PSNR / MS-SSIM BD-rate of the grid against every pixel): bikes (stride 2) -0.02 / -0.02 %, diver
    (3) +0.02 / +0.02 %, motion.mov (2) +0.27 / +0.06 %, wannaworktogether (2, a fade) -0.00 /
    -0.83 %; the CLI encode of 351 frames of diver at 640×360 took 14.7 s instead of 15.7 (the
    means and fits on a quarter of the pixels)."""

    def __init__(self, synthesize: Callable[[np.ndarray], np.ndarray], width: int, height: int,
                 refresh: int = 0) -> None:
        self.synthesize, self.width, self.height = synthesize, width, height
        self.stride = sample_stride(width, height)
        self.schedule = Schedule(refresh)
        self.current: Correction | None = None  # the correction the decoder holds

    @property
    def refresh(self) -> int:
        """Deltas between regular refits (0: keyframes only): the schedule's."""
        return self.schedule.refresh

    def sample(self, x: np.ndarray) -> np.ndarray:
        """The grid's pixels (3,h,w) float32 of a frame (1,3,H',W') as given to the analysis (a sample
        passes through)."""
        if x.ndim == 3:
            return x
        s = self.stride
        return np.ascontiguousarray(x[0, :, : self.height : s, : self.width : s])

    def sample_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """:meth:`sample` of ``to_tensor(rgb)`` (the same values) from the H×W×3 uint8 frame itself."""
        s = self.stride
        grid = rgb[: self.height : s, : self.width : s].transpose(2, 0, 1)
        return np.ascontiguousarray(grid.astype(np.float32) * np.float32(1.0 / 255.0))

    def key(self, latent: np.ndarray, source: np.ndarray, frame_bits: float | None = None) -> Correction | None:
        """The correction for a keyframe decoding to ``latent`` whose source is ``source``;
        ``frame_bits``: the stream's recent bits per frame (None: unknown, MIN_GAIN alone decides)."""
        sample = self.sample(source)
        self.current = None
        self.schedule.due(True, source_mean(sample))
        return self._fit(latent, sample, frame_bits)

    def delta(self, latent: Callable[[], np.ndarray], source: np.ndarray,
              frame_bits: float | None = None, picture: np.ndarray | None = None) -> Correction | None:
        """A new correction for a delta frame, when one is due (:class:`Schedule`) and pays; else None.
        ``latent()`` gives the frame's decoded latent (made only when a fit is due); ``picture``, if
        given, is its picture (1,3,H',W') as the encoder synthesized it already (then none is made)."""
        sample = self.sample(source)
        if not self.schedule.due(False, source_mean(sample)):
            return None
        return self._fit(latent() if picture is None else None, sample, frame_bits, picture)

    def min_gain(self, frame_bits: float | None) -> float:
        """The fraction of a frame's squared error a new correction must save to be sent."""
        if not frame_bits or frame_bits <= 0:
            return MIN_GAIN
        return max(MIN_GAIN, COST_FACTOR * 8 * SIZE / (max(self.refresh, 1) * frame_bits))

    def _fit(self, latent: np.ndarray | None, sample: np.ndarray, frame_bits: float | None,
             picture: np.ndarray | None = None) -> Correction | None:
        s = self.stride
        if picture is None:
            picture = self.synthesize(latent)
        picture = np.ascontiguousarray(picture[0, :, : self.height : s, : self.width : s])
        source = sample.astype(np.float64)
        correction = fit(picture, source)
        before = squared_error(picture, source, self.current)
        after = squared_error(picture, source, correction)
        if after < (1.0 - self.min_gain(frame_bits)) * before:
            self.current = correction
            return correction
        return None
