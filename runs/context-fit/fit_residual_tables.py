"""Fit the format's residual tables (format 5.0, vidcodec/coding/residual_tables.npz).

    python runs/context-fit/fit_residual_tables.py DIR [OUT.npz]

DIR holds collect_delta.py's d_<clip>.pkl for the training and held-out clips. Starting from the
Laplace ladder of vaegan-g's delta tables, three rounds of: choose each coded channel's selector
(with the format's contexts and SHIFTS) under the current tables, count the values each table row
codes on the training clips, and make each row the smoothed histogram of its values (30 pseudo-counts
of the Laplace row; range: the smallest that leaves at most 1e-4 of the mass to the escape). Prints
the saving of delta bits on the held-out clips against the Laplace ladder, and writes the tables.
A zero-inflated Laplace per row (two parameters) saved 4.5 % instead of 5.3 %; the raw histogram 5.2 %.
"""
import pickle
import sys

import numpy as np

from vidcodec.codec import context
from vidcodec.codec.vaegan import _WINDOW, _delta_cost_matrix
from vidcodec.coding.tables import from_pmfs, to_tensors
from vidcodec.models import zoo

TRAIN = ["carphone.mp4", "motion.mov", "wannaworktogether.mp4", "bigbuckbunny.mp4", "movie-hello.mp4"]
TEST = ["diver.mov", "bikes.mp4", "vtest.avi"]
LAPLACE = zoo.load("vaegan-g").delta_tables
R, W = len(LAPLACE), _WINDOW
V = 2 * W + 1


def laplace_pmf(row):
    p = np.zeros(V)
    off, n = int(LAPLACE.offsets[row]), int(LAPLACE.sizes[row]) - 1
    p[off + W : off + W + n] = LAPLACE.freqs[row, :n]
    return p / p.sum()


def channels(names):
    out = []
    for name in names:
        with open(f"{sys.argv[1]}/d_{name}.pkl", "rb") as fh:
            recs = pickle.load(fh)
        for level_recs in recs.values():
            for _, r, p in level_recs:
                k = r.shape[0]
                coded = r.reshape(k, -1).any(1)
                if coded.any():
                    ctx = context.contexts(r, p)
                    out += [(name, np.clip(r[c].ravel(), -W, W) + W, ctx[c].ravel()) for c in np.flatnonzero(coded)]
    return out


def assign(items, cost):
    """Histogram of the values each row codes, total bits and bits per clip, selectors chosen by cost."""
    hist, per = np.zeros((R, V)), {}
    for name, v, ctx in items:
        bits = [cost[context.rows(s, ctx, R), v].sum() for s in range(1, R)]
        best = int(np.argmin(bits))
        per[name] = per.get(name, 0.0) + bits[best]
        np.add.at(hist, (context.rows(best + 1, ctx, R), v), 1)
    return hist, per


def tables(hist, alpha=30.0, tail=1e-4):
    hist = hist.copy()
    hist[:, [0, -1]] = 0  # values clipped to ±64: escapes, not a peak at the edge
    hist = 0.5 * (hist + hist[:, ::-1])  # residuals are sign-symmetric (measured: 0.1 point better)
    offsets, pmfs, tails = [], [], []
    for row in range(R):
        p = hist[row] + alpha * laplace_pmf(row)
        p /= p.sum()
        w = 1
        while w < W and p[: W - w].sum() + p[W + w + 1 :].sum() > tail:
            w += 1
        offsets.append(-w)
        pmfs.append(p[W - w : W + w + 1])
        tails.append(p[: W - w].sum() + p[W + w + 1 :].sum())
    return from_pmfs(offsets, pmfs, tails)


train, test = channels(TRAIN), channels(TEST)
cost = _delta_cost_matrix(LAPLACE)
_, before = assign(test, cost)
for _ in range(3):
    hist, _ = assign(train, cost)
    fitted = tables(hist)
    cost = _delta_cost_matrix(fitted)
    _, after = assign(test, cost)
    print(f"held-out delta bits: {100 * (1 - sum(after.values()) / sum(before.values())):.1f} % fewer",
          {k: f"{100 * (1 - after[k] / before[k]):.1f} %" for k in after}, flush=True)
if len(sys.argv) > 2:
    np.savez(sys.argv[2], **to_tensors("residual", fitted))
