"""Fit and score temporal table shifts on what collect.py saw.

    python runs/temporal/fit.py [--groups anchor|activity|moved] TRAIN.npz [TRAIN.npz ...] --test HELD.npz [HELD.npz ...]

A position's table is ``clamp(selector + SHIFTS[ctx] + T[t, g], 1, R-1)`` where t buckets the
temporal map (``same`` or ``all``) and g is a group of the spatial context: anchor or not
(default), or with ``--groups activity`` also whether the earlier channels changed around it.
T is fitted by coordinate descent on the training bits (real table costs, escapes included);
selectors are re-chosen per channel for every candidate (as the encoder would). Prints the bits
with T = 0 and with the fitted T on training and test data, per file.
"""
import sys

import numpy as np

from vidcodec.codec import context, vaegan
from vidcodec.coding.tables import residual_tables

args = sys.argv[1:]
GROUPS = "anchor"
if args[0] == "--groups":
    GROUPS, args = args[1], args[2:]
split = args.index("--test")
train, test = args[:split], args[split + 1 :]
cost = vaegan._delta_cost_matrix(residual_tables())  # (R, 129)
R, W = cost.shape[0], vaegan._WINDOW


def load(path, key, edges):
    z = np.load(path)
    sizes = z["sizes"]
    rec = np.repeat(np.arange(len(sizes)), sizes)
    t = np.searchsorted(edges, z[key].astype(np.int64), side="right")
    ctx = z["ctx"].astype(np.int64)
    other = ctx >= context.N_ANCHOR
    a = np.where(other, (ctx - context.N_ANCHOR) // context.N_NEIGH, ctx) // context.N_PRED  # activity bucket
    g = other.astype(np.int64) if GROUPS == "anchor" else other * 2 + (a > 0)
    return {"rec": rec, "n": len(sizes), "sel": z["sel"], "shift": context.SHIFTS[ctx], "v": z["d"].astype(np.int64) + W,
            "t": t, "g": g}


def bits(data, T, reselect=True):
    """Total bits, each channel with its best selector under shifts T (n_t, n_g)."""
    extra = T[data["t"], data["g"]]
    if not reselect:
        rows = np.clip(data["sel"][data["rec"]] + data["shift"] + extra, 1, R - 1)
        return cost[rows, data["v"]].sum()
    best = np.full(data["n"], np.inf)
    for s in range(1, R):
        rows = np.clip(s + data["shift"] + extra, 1, R - 1)
        per = np.bincount(data["rec"], weights=cost[rows, data["v"]], minlength=data["n"])
        best = np.minimum(best, per)
    return best.sum()


def fit(datas, n_t, n_g):
    T = np.zeros((n_t, n_g), dtype=np.int64)
    total = sum(bits(d, T) for d in datas)
    for _ in range(3):
        changed = False
        for i in range(n_t):
            for j in range(n_g):
                for step in (-1, 1):
                    while True:
                        T[i, j] += step
                        b = sum(bits(d, T) for d in datas)
                        if b < total - 1e-6:
                            total, changed = b, True
                        else:
                            T[i, j] -= step
                            break
        if not changed:
            break
    return T, total


CONFIGS = [("same", np.array([1, 3, 9])), ("all", np.array([1, 4, 16, 64])), ("same", np.array([1, 2, 4, 8, 16]))]
if GROUPS == "activity":
    CONFIGS = CONFIGS[:1]
elif GROUPS == "moved":  # the shipped groups on the motion-compensated map, the two-delta one, the plain one
    GROUPS, CONFIGS = "activity", [(k, np.array([1, 3, 9])) for k in ("moved", "two", "same")]
for key, edges in CONFIGS:
    tr = [load(p, key, edges) for p in train]
    te = [load(p, key, edges) for p in test]
    n_t = len(edges) + 1
    T, _ = fit(tr, n_t, 2 if GROUPS == "anchor" else 4)
    zero = np.zeros_like(T)
    print(f"temporal map {key!r}, edges {edges.tolist()}: T (anchor, other) = {T.T.tolist()}")
    for name, ds, paths in (("train", tr, train), ("test", te, test)):
        for d, p in zip(ds, paths):
            b0, b1 = bits(d, zero), bits(d, T)
            counts = np.bincount(d["t"], minlength=n_t)
            print(f"  {name} {p}: {b0 / 8:.0f} -> {b1 / 8:.0f} B ({100 * (b1 / b0 - 1):+.2f} %), "
                  f"buckets {counts.tolist()}")
