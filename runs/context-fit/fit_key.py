"""Fit vidcodec.codec.context.KEY_SHIFTS on key symbols, with the format's exact tables and contexts.

    python runs/context-fit/fit_key.py LATENTS.pkl

LATENTS.pkl from collect_key.py. Fits on the training clips and photosA at all levels (coordinate
descent, integer shifts -8 … 8, up to four rounds), then prints the saving of key bits against the
model's per-channel key tables on the held-out clips and photosB, and the shifts.
"""
import pickle
import sys

import numpy as np

from vidcodec.codec import context
from vidcodec.codec.vaegan import _WINDOW, _delta_cost_matrix
from vidcodec.models import zoo

TRAIN = ["carphone.mp4", "motion.mov", "wannaworktogether.mp4", "movie-hello.mp4", "bigbuckbunny.mp4", "photosA"]
TEST = ["diver.mov", "bikes.mp4", "vtest.avi", "photosB"]
m = zoo.load("vaegan-g")
COST = _delta_cost_matrix(m.delta_tables).astype(np.float32)
R, V, NB = len(COST), 2 * _WINDOW + 1, context.N_KEY_CONTEXTS
with open(sys.argv[1], "rb") as fh:
    latents = pickle.load(fh)


def prep(clips, levels):
    """Per coded channel: bits of its symbols in each context with each table (N, NB, R), the bits
    with the model's key table (N,), and (clip, level) tags."""
    g, plain, tags = [], [], []
    for clip in clips:
        for y in latents[clip]:
            for level in levels:
                k = m.level_channels[level]
                s = np.rint(y * m.gains[level][:, None, None]).astype(np.int64)[:k]
                plain += [m.key_tables[level].bits(c, s[c]) for c in range(k)]
                ctx = context.key_contexts(s).reshape(k, -1)
                v = np.clip(s.reshape(k, -1), -_WINDOW, _WINDOW) + _WINDOW
                idx = (ctx * V + v + NB * V * np.arange(k)[:, None]).ravel()
                hist = np.bincount(idx, minlength=k * NB * V).reshape(k, NB, V).astype(np.float32)
                g.append(hist @ COST.T)
                tags += [(clip, level)] * k
    return np.concatenate(g), np.array(plain), tags


def channel_bits(g, shifts):
    rows = np.clip(np.arange(R)[:, None] + shifts[None, :], 0, R - 1)
    return np.stack([g[:, np.arange(NB), rows[s]].sum(1) for s in range(R)], 1).min(1) + np.log2(R)


def fit(g):
    shifts = np.zeros(NB, dtype=int)
    best = channel_bits(g, shifts).sum()
    for _ in range(4):
        changed = False
        for k in range(NB):
            for d in range(-8, 9):
                trial = shifts.copy()
                trial[k] = d
                bits = channel_bits(g, trial).sum()
                if bits < best - 1e-3:
                    best, shifts, changed = bits, trial, True
        if not changed:
            break
    return shifts


g_train, plain_train, _ = prep(TRAIN, range(m.levels))
g_test, plain_test, tags = prep(TEST, [0, 1, 3, 5, 7])
shifts = fit(g_train)
train_bits, test_bits = channel_bits(g_train, shifts), channel_bits(g_test, shifts)
print(f"saving: train {100 * (1 - train_bits.sum() / plain_train.sum()):.1f} %, "
      f"held-out {100 * (1 - test_bits.sum() / plain_test.sum()):.1f} %")
per = {}
for bits, plain, tag in zip(test_bits, plain_test, tags):
    a, b = per.get(tag, (0.0, 0.0))
    per[tag] = (a + bits, b + plain)
print(" ".join(f"{clip}@{level}:{100 * (1 - min(a, b) / b):.1f}" for (clip, level), (a, b) in per.items()))
print("KEY_SHIFTS", shifts.tolist())
