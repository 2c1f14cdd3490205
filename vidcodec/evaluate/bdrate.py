"""Bjøntegaard delta rate (VCEG-M33): the average bitrate difference at equal quality.

Each codec's curve is fitted as log(rate) = cubic polynomial of quality; the difference of the
two fits is averaged over the quality interval both codecs cover. A negative BD-rate means the
test codec needs fewer bits than the reference for the same quality.
"""

from __future__ import annotations

import math

import numpy as np


def ms_ssim_db(v: float) -> float:
    """MS-SSIM on a dB scale, -10·log10(1 - MS-SSIM): spreads the values near 1 for curve fitting."""
    return -10.0 * math.log10(max(1e-10, 1.0 - v))


def bd_rate(ref: list[tuple[float, float]], test: list[tuple[float, float]],
            span: tuple[float, float] | None = None) -> float | None:
    """BD-rate in percent of ``test`` against ``ref``, each a list of (rate, quality) points, averaged
    over the curves' common quality range, or over ``span`` (low, high) when given (to score several
    curves on one range).

    None when either curve has fewer than 4 distinct quality values (a cubic through fewer is not
    determined: 4 points at 2 qualities gave +34 % or -2 % for nearly the same points) or the
    quality ranges do not overlap.
    """
    curves = []
    for pts in (ref, test):
        pts = sorted({(float(r), float(q)) for r, q in pts if r > 0 and math.isfinite(q)}, key=lambda p: p[1])
        if len({q for _, q in pts}) < 4:
            return None
        curves.append((np.log([p[0] for p in pts]), np.array([p[1] for p in pts])))
    (lr1, q1), (lr2, q2) = curves
    lo, hi = span if span is not None else (max(q1.min(), q2.min()), min(q1.max(), q2.max()))
    if not hi > lo:
        return None
    p1, p2 = np.polyfit(q1, lr1, 3), np.polyfit(q2, lr2, 3)
    i1, i2 = np.polyint(p1), np.polyint(p2)
    avg1 = (np.polyval(i1, hi) - np.polyval(i1, lo)) / (hi - lo)
    avg2 = (np.polyval(i2, hi) - np.polyval(i2, lo)) / (hi - lo)
    return float((math.exp(avg2 - avg1) - 1.0) * 100.0)
