"""Temporal prefilter of keyframes (encoder only: the format and the decoder do not know it).

A keyframe's latent stays in the decoder's reference until a delta changes it, and deltas leave
small changes unsent (the dead zone), so where the picture is still, every frame of the GOP shows
the keyframe. Sensor noise in the keyframe's source is then coded once, costs bits, and matches no
later frame. The encoder therefore codes each scheduled keyframe (index a multiple of the GOP)
from a temporally denoised copy: each pixel averaged with the same pixel of the next
:data:`LOOKAHEAD` source frames, each weighted by ``exp(−d² / 2σ²)`` where ``d`` is their
difference (mean over R, G, B). Still pixels move toward their mean over time, the value
that is closest to all of the frames that will show them; moving ones, whose differences are
large, keep their own value. No motion compensation: under camera motion it does little. The
filtering that video coders' reference encoders apply before their intra frames (VTM's MCTF)
works the same way, with motion.

Measured (every level, PSNR / MS-SSIM BD-rate against the same encoder without it): training
clips, 30 frames (``runs/encoder-tuning/prefilter.py``): carphone −4.2 / −4.6 %, motion.mov
−2.5 / −2.2 %, wannaworktogether 0.0 / 0.0 % (a black first frame, then a fade-in: MAX_SHIFT ends
the lookahead at once); lookahead 4 and σ 6 gained less on both of the first two, σ 14 more, but
held out σ 14 lost to σ 10 (bikes +0.5 / +0.3 %, diver +0.7 / +1.2 %, vtest −0.1 / −0.1 %). Held-out clips,
50 frames (``vidcodec eval``, docs/eval/prefilter): bikes −1.0 / −0.9 %, vtest (a fixed, noisy
camera) −2.9 / −8.0 %, diver −0.7 / +0.2 %; OpenCV's unseen Megamind (frames 120–169) −1.6 / −2.6 %,
tree −4.4 / −5.0 %. The weighted mean is the C++ core's ``temporal_denoise``
(float32, the same bytes as :func:`blend_reference`, which specifies it, without the GIL): a
keyframe and 8 later frames take 16 ms at 640×360 and 0.15 s at 1080p on the 2-core VM, against
47–60 ms and 0.55–0.65 s in numpy (medians of 5, two runs; ``runs/encoder-tuning/denoise_speed.py``).

Tried and not adopted (2026-12-02, ``runs/encoder-tuning/prefilter.py``): filtering every
frame, each delta with the two frames before and after it (σ 14) besides the keyframes as above.
On the training clips (30 frames, against no filter) it gained carphone −10.0 / −9.6 %, motion.mov
−5.1 / −5.6 % (−8.1 / −7.0 % with 8 after and 4 before), but held out (30 frames) it lost on bikes
(+0.7 / +3.2 %) and diver (+26 / +44 %: moving particles under water are averaged away) and gained
only on vtest (−3.7 / −8.8 %, about what the keyframe filter alone gives). Warping the neighbours
by DIS optical flow first gained less on the training clips (−4.1 / −4.2 %, −3.8 / −3.1 %).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from functools import lru_cache

import numpy as np

from ..media import VideoFrame
from ..native import core as _native

LOOKAHEAD = 8  # later frames averaged into a keyframe's source (frames of latency at each keyframe)
SIGMA = 10.0  # difference (8-bit levels) at which a later frame's weight falls to exp(-1/2)
# A later frame whose mean differs from the keyframe's by more than this (8-bit levels) ends the
# lookahead: a fade or a cut, not noise. Without it the black first frame of a fade-in took on
# the faint picture of the frames after it (wannaworktogether: +68 % MS-SSIM BD-rate). Exposure
# drift and motion move the first 9 frames' means of the corpus clips by at most 3.4.
MAX_SHIFT = 4.0


@lru_cache(maxsize=16)
def weights(sigma: float) -> np.ndarray:
    """The 766 float32 weights of a neighbour by the absolute sum ``s`` of its R, G, B differences
    (0..765): ``exp(−(s/3)² / 2σ²)``."""
    if not sigma > 0:
        raise ValueError(f"sigma must be positive (got {sigma})")
    table = np.exp(-((np.arange(766) / 3.0) ** 2) / (2.0 * sigma * sigma)).astype(np.float32)
    table.flags.writeable = False
    return table


def blend(frame: np.ndarray, others: Sequence[np.ndarray], sigma: float) -> np.ndarray:
    """``frame`` (H×W×3 uint8) averaged per pixel with ``others`` (same size), each weighted by
    :func:`weights` of its difference, the frame itself by 1; uint8, rounded half to even."""
    if not others:
        return frame
    return _native.temporal_denoise(np.ascontiguousarray(frame),
                                    [np.ascontiguousarray(o) for o in others], weights(sigma))


def blend_reference(frame: np.ndarray, others: Sequence[np.ndarray], sigma: float) -> np.ndarray:
    """:func:`blend` in numpy: its specification (float32, neighbours added in order)."""
    table = weights(sigma)
    x = frame.astype(np.int16)
    total = frame.astype(np.float32)
    weight = np.ones(frame.shape[:2] + (1,), np.float32)
    for other in others:
        w = table[np.abs((other.astype(np.int16) - x).sum(axis=2, keepdims=True))]
        total += w * other.astype(np.float32)
        weight += w
    return np.clip(np.rint(total / weight), 0, 255).astype(np.uint8)


def denoise(frame: np.ndarray, later: Iterable[np.ndarray], sigma: float = SIGMA) -> np.ndarray:
    """``frame`` (H×W×3 uint8) averaged per pixel with ``later`` frames of the same size (:func:`blend`),
    up to the first one of another size or whose mean differs by more than :data:`MAX_SHIFT`; uint8."""
    mean = float(frame.mean())
    kept = []
    for other in later:
        if other.shape != frame.shape or abs(float(other.mean()) - mean) > MAX_SHIFT:
            break
        kept.append(other)
    return blend(frame, kept, sigma)


def keyframes(frames: Iterable[VideoFrame], gop: int, lookahead: int = LOOKAHEAD,
              sigma: float = SIGMA) -> Iterator[VideoFrame]:
    """The frames in order, those whose index is a multiple of ``gop`` (> 1) denoised with the next
    ``lookahead`` frames (fewer at the end of the input); a frame is held back only while a
    keyframe before it waits for its lookahead. With ``gop`` 1 (every frame a keyframe) or
    ``lookahead`` 0 the frames pass unchanged."""
    if gop <= 1 or lookahead <= 0:
        yield from frames
        return
    held: deque[VideoFrame] = deque()

    def out(frame: VideoFrame) -> VideoFrame:
        if frame.index % gop:
            return frame
        later = [f.rgb for f in list(held)[:lookahead] if f.rgb.shape == frame.rgb.shape]
        return replace(frame, rgb=denoise(frame.rgb, later, sigma)) if later else frame

    for frame in frames:
        held.append(frame)
        while held and (held[0].index % gop or len(held) > lookahead):
            yield out(held.popleft())
    while held:
        yield out(held.popleft())
