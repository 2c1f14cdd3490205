"""What an entropy code other than Elias-gamma would save on the motion vectors (2026-12-03; measured,
not built). Input: pickles of ``collect.py``.

    python runs/motion-code/collect.py 30 /tmp/train.pkl DATA/videos/{carphone.mp4,motion.mov,wannaworktogether.mp4,bigbuckbunny.mp4,movie-hello.mp4}
    python runs/motion-code/collect.py 30 /tmp/held.pkl samples/bikes.mp4 samples/vtest.mp4 DATA/videos/diver.mov
    python runs/motion-code/analyse.py /tmp/train.pkl /tmp/held.pkl

Every level, 30 frames, format 13.0 encoder defaults. Printed per clip: Elias-gamma bits per vector
component as coded now and the order-0 entropy of the differences, for five predictors (the format's
spatial median; the same block's vector in the previous delta; the temporal one for the first block
only; temporal on the first row and column; median of left, top and temporal); then the bits of a
table code (values within ±11 in a table, the rest escaped to Elias-gamma) fitted on the training
clips with a few contexts, on the held-out clips.

Measured (bits per component, Elias / order-0 entropy with the format's predictor): bikes 2.68 / 2.38
(10.4 bytes of vectors a delta, 29 of 29 deltas with vectors above quality 1), diver 5.68 / 4.66,
vtest 1.51 / 1.01 (3 deltas in 240 have vectors: a fixed camera), training clips 1.98 / 1.78. No other
predictor is better on both moving held-out clips (temporal: bikes 2.27 / 2.09, diver 6.78 / 5.20).
Table codes fitted on the training clips do *worse* than Elias on the held-out clips (bikes 2.78-2.94,
diver 6.2-6.7 bits, by context), and even fitted on the held-out clips themselves reach 2.54-2.82 on
bikes: Elias-gamma is close to these heavy-tailed differences already, and an ANS table would save at
most the order-0 gap (11 % on bikes, a byte a delta). Not worth a format change.
"""
import collections
import pickle
import sys
from pathlib import Path

import numpy as np

from vidcodec.codec import motion
from vidcodec.coding import elias

K = 12  # table range ±(K-1), index 2K is the escape


def med(a, b, c):
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def predictor(scheme, v, pv, r, c):
    s, t = motion._predictor(v, r, c), pv[r, c]
    if scheme == "spatial":
        return s
    if scheme == "temporal":
        return t
    if scheme == "first-temporal":
        return t if (r, c) == (0, 0) else s
    if scheme == "edges-temporal":
        if r == 0 and c == 0:
            return t
        if r == 0:
            return med(v[0, c - 1], t, pv[0, c])
        return med(v[r - 1, 0], t, t) if c == 0 else s
    # median of left, top and temporal
    if r == 0 and c == 0:
        return t
    if r == 0:
        return med(v[0, c - 1], t, v[0, c - 1])
    if c == 0:
        return med(v[r - 1, 0], t, v[r - 1, 0])
    return med(v[r, c - 1], v[r - 1, c], t)


def entropy(values):
    counts = collections.Counter(values)
    n = sum(counts.values())
    return -sum(k * np.log2(k / n) for k in counts.values())


def differences(rows, scheme):
    out, prev, key = [], None, None
    for clip, level, _, v in rows:
        if (clip, level) != key:
            prev, key = None, (clip, level)
        pv = prev if prev is not None and prev.shape == v.shape else np.zeros_like(v)
        for r in range(v.shape[0]):
            for c in range(v.shape[1]):
                out.extend(int(x) for x in v[r, c] - predictor(scheme, v, pv, r, c))
        prev = v
    return np.array(out)


CONTEXTS = {
    "none": lambda d, r, c, k, b: 0,
    "component": lambda d, r, c, k, b: k,
    "neighbours": lambda d, r, c, k, b: (k, (c > 0 and d[r, c - 1].any()) + (r > 0 and d[r - 1, c].any())),
    "neighbours+x": lambda d, r, c, k, b: (k, (c > 0 and d[r, c - 1].any()) + (r > 0 and d[r - 1, c].any()),
                                           k == 1 and d[r, c, 0] != 0),
    "neighbours+x+bilinear": lambda d, r, c, k, b: (k, (c > 0 and d[r, c - 1].any()) + (r > 0 and d[r - 1, c].any()),
                                                    k == 1 and d[r, c, 0] != 0, b),
}


def contexted(rows, ctx):
    out = []
    for clip, _, bilinear, v in rows:
        d = np.zeros_like(v)
        for r in range(v.shape[0]):
            for c in range(v.shape[1]):
                d[r, c] = v[r, c] - motion._predictor(v, r, c)
        for r in range(v.shape[0]):
            for c in range(v.shape[1]):
                for k in range(2):
                    out.append((ctx(d, r, c, k, bilinear), int(d[r, c, k]), clip))
    return out


def fit(items):
    tables = collections.defaultdict(lambda: np.full(2 * K + 1, 0.5))
    for ctx, value, _ in items:
        tables[ctx][value + K if abs(value) < K else 2 * K] += 1
    return {k: t / t.sum() for k, t in tables.items()}


def table_bits(value, probs):
    if abs(value) < K:
        return -np.log2(probs[value + K])
    return -np.log2(probs[2 * K]) + float(elias.gamma_bits(np.array([abs(value) - K])).sum()) + 1


train, held = (pickle.loads(Path(p).read_bytes()) for p in sys.argv[1:3])
for name, rows in (("train", train), ("held-out", held)):
    for clip in sorted({r[0] for r in rows}):
        sub = [r for r in rows if r[0] == clip]
        cols = []
        for scheme in ("spatial", "temporal", "first-temporal", "edges-temporal", "median-temporal"):
            d = differences(sub, scheme)
            cols.append(f"{scheme} {elias.gamma_bits(d).sum() / d.size:.2f}/{entropy(d.tolist()) / d.size:.2f}")
        print(f"{name} {clip} ({len(sub)} deltas): " + "  ".join(cols))
for name, ctx in CONTEXTS.items():
    tables = fit(contexted(train, ctx))
    items = contexted(held, ctx)
    out = []
    for clip in ("bikes", "diver"):
        mine = [(c, v) for c, v, cl in items if cl == clip]
        uniform = np.full(2 * K + 1, 1 / (2 * K + 1))
        bits = sum(table_bits(v, tables.get(c, uniform)) for c, v in mine)
        gamma = sum(float(elias.gamma_bits(np.array([v])).sum()) for _, v in mine)
        out.append(f"{clip} {bits / len(mine):.2f} (Elias {gamma / len(mine):.2f})")
    print(f"table, context {name}: " + "  ".join(out))
