"""Context-adaptive coding of VAE-GAN delta residuals (format 3.0).

A format 2.x delta codes every residual of a channel with one table, the channel's *selector*
(a Laplace scale of the model's delta ladder). But residuals cluster: where earlier channels
changed, or where the prediction is large, this channel changes too; where nothing moves, it is
zero. Format 3.0 keeps the selector as the channel's base scale and moves it, position by
position, by a shift looked up from what the decoder already holds, like the context
initialisation tables of H.264's CABAC:

* ``a``: the sum of |residual| of the channels before this one over the 3×3 neighbourhood
  (zero outside the latent), bucketed by :data:`ACT_EDGES`;
* ``p``: |prediction| of this channel at the position, bucketed by :data:`PRED_EDGES`;
* the positions are coded in two passes, a checkerboard: first the *anchors* (``x + y`` even),
  then the others, which also see ``n``: the sum of |residual| of the four anchor neighbours of
  this channel, bucketed by :data:`NEIGH_EDGES`.

A position's table is ``clamp(selector + SHIFTS[context], 1, R - 1)``. So that the decoder pops
whole arrays instead of one symbol at a time, a pass codes its positions grouped by table
(tables in increasing order, raster order within a table).

Everything is integer arithmetic on decoded symbols: the decoder's tables never depend on float.
:data:`SHIFTS` is part of the format (docs/FORMAT.md). It was fitted once (coordinate descent
on the bits of 293 delta frames, every second one of 585 from five training clips at three
levels, vaegan-g) for the 15-row Laplace ladder every shipped model uses; it is valid, if less
apt, for any ladder. One context (a = 1, q = 4, n = 3) occurred twice in those frames and was
fitted to -10; it was set to its neighbours' 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache

import numpy as np

from ..native import core as _native

ACT_EDGES = np.array([1, 2, 4, 8, 16])  # bucket = how many edges the value reaches (0..5)
PRED_EDGES = np.array([1, 2, 4, 8])  # 0..4
NEIGH_EDGES = np.array([1, 2, 4])  # 0..3
_CAP = int(ACT_EDGES[-1])  # a residual magnitude past every edge counts the same in any sum below
N_ACT, N_PRED, N_NEIGH = len(ACT_EDGES) + 1, len(PRED_EDGES) + 1, len(NEIGH_EDGES) + 1
N_ANCHOR = N_ACT * N_PRED  # contexts of the first pass; the second pass's follow them
N_CONTEXTS = N_ANCHOR * (1 + N_NEIGH)

# Table shift per context: index a·5 + p for anchors, 30 + (a·5 + p)·4 + n for the others.
# fmt: off
SHIFTS = np.array([
    # anchors: a = 0 … 5 (rows), q = 0 … 4
     -3,  -2,  -1,  -1,  -1,
     -3,  -1,  -1,  -1,  -1,
     -2,  -1,  -1,  -1,  -1,
     -2,   0,   0,   0,   0,
     -2,   0,   1,   1,   1,
     -1,   2,   3,   3,   4,
    # others: (a, q) = (0, 0), (0, 1) … (5, 4) (rows), n = 0 … 3
     -4,  -2,  -1,   3,
     -2,  -1,   0,   3,
     -2,  -1,   0,   3,
     -2,  -2,  -1,   2,
     -3,  -2,  -1,   3,
     -3,  -2,  -1,   1,
     -1,  -1,   0,   1,
     -1,  -1,   0,   1,
     -1,  -1,   0,   3,
     -1,  -1,   0,   1,
     -3,  -2,  -1,   0,
     -1,  -1,   0,   1,
     -1,  -1,   0,   1,
     -1,  -1,   0,   1,
     -1,  -1,   0,   1,
     -2,  -1,  -1,   0,
     -1,   0,   0,   1,
     -1,   0,   0,   1,
     -1,   0,   0,   1,
     -1,  -1,   0,   2,
     -2,  -1,  -1,   1,
      0,   0,   1,   2,
      0,   0,   1,   2,
      0,   1,   1,   2,
      0,   1,   1,   2,
     -2,   0,   0,   2,
      1,   1,   2,   3,
      2,   2,   2,   4,
      1,   2,   3,   5,
      1,   2,   2,   6,
], dtype=np.int64)
# fmt: on

# Format 7.0: the frequencies (of 2**16) with which a delta's K channel selectors are coded, selector
# 0 (channel unchanged) first. Fitted once on the selectors of 1150 deltas (five training clips,
# 30 frames, every level, vaegan-g; runs/overhead/selector_stats.py): counts + 1, quantized.
# 1.15 bits a selector on those frames instead of log2(15) = 3.9. Part of the format (docs/FORMAT.md).
SELECTOR_FREQS = np.array([52081, 136, 518, 3327, 5882, 2930, 432, 67, 117, 7, 10, 3, 12, 2, 12], dtype=np.int64)
SELECTOR_FREQS.setflags(write=False)

# Format 13.0: a delta's selectors are coded with the row of this table that the same channel's
# selector in the previous delta picks (row = that selector + 1; row 0 in the first delta after a
# keyframe), channels grouped by row in increasing row order (see selector_groups). A channel unchanged
# in the last delta is likely unchanged again, one that changed is likely to change by about as much.
# Fitted once on every coded delta's selectors at every level of five training clips (30 frames,
# vaegan-g, 57 304 selectors; runs/context-fit/fit_selectors.py): counts + 1/2, quantized to 2**16,
# none zero. 0.81 bits a selector on those frames against SELECTOR_FREQS' 1.11; on the held-out clips
# 1.03 against 1.47 (-30 %). Part of the format (docs/FORMAT.md).
# fmt: off
SELECTOR_FREQS_AFTER = np.array([
    [57760, 15, 79, 616, 3211, 2546, 648, 237, 15, 174, 47, 15, 79, 47, 47],
    [60238, 28, 25, 169, 1576, 2377, 985, 122, 10, 1, 1, 1, 1, 1, 1],
    [23078, 923, 923, 2769, 19383, 6461, 4615, 923, 923, 923, 923, 923, 923, 923, 923],
    [19703, 322, 2905, 12590, 12590, 13236, 1614, 322, 322, 322, 322, 322, 322, 322, 322],
    [20893, 153, 1385, 13805, 15139, 11136, 2412, 51, 256, 51, 51, 51, 51, 51, 51],
    [24245, 145, 706, 2893, 25261, 11024, 1151, 9, 48, 9, 9, 9, 9, 9, 9],
    [22293, 23, 242, 2652, 10462, 26059, 3529, 133, 101, 7, 7, 7, 7, 7, 7],
    [25931, 76, 383, 1816, 6934, 14407, 13844, 1612, 281, 76, 76, 25, 25, 25, 25],
    [15314, 137, 137, 413, 689, 6760, 10623, 28848, 1793, 137, 137, 137, 137, 137, 137],
    [12136, 809, 809, 809, 5663, 7281, 10518, 16994, 2427, 809, 809, 809, 4045, 809, 809],
    [2427, 2427, 2427, 2427, 2427, 12141, 12136, 7281, 7281, 2427, 2427, 2427, 2427, 2427, 2427],
    [6779, 2259, 2259, 2259, 2259, 2259, 6779, 2259, 2259, 2259, 15830, 11299, 2259, 2259, 2259],
    [11566, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855],
    [2849, 2849, 2849, 2849, 2849, 2849, 8548, 2849, 19951, 2849, 2849, 2849, 2849, 2849, 2849],
    [3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 11566, 3855, 3855, 3855, 3855],
    [3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 3855, 11566, 3855, 3855, 3855, 3855],
], dtype=np.int64)
# fmt: on
SELECTOR_FREQS_AFTER.setflags(write=False)


def selector_rows(previous: np.ndarray | None, channels: int) -> np.ndarray:
    """The row of SELECTOR_FREQS_AFTER each of a 13.0 delta's ``channels`` selectors is coded with: the
    channel's selector in the previous delta + 1 (``previous`` None: the first delta after a keyframe,
    row 0 for all)."""
    return np.zeros(channels, dtype=np.int64) if previous is None else np.asarray(previous[:channels]) + 1


def selector_groups(previous: np.ndarray | None, channels: int) -> list[tuple[int, np.ndarray]]:
    """(row of SELECTOR_FREQS_AFTER, the channels coded with it, in channel order) for a 13.0 delta's
    ``channels`` selectors, in increasing row order (rows: :func:`selector_rows`)."""
    rows = selector_rows(previous, channels)
    return [(int(row), np.flatnonzero(rows == row)) for row in np.unique(rows)]


# Format 8.0: a temporal context. A residual's table also moves with how much the same channel
# changed around the same position in the previous delta (its 3×3 sum of |residual|, magnitudes
# capped as for ``a``; zero in the first delta after a keyframe), bucketed by TEMPORAL_EDGES into
# ``t``: the context index becomes ``context + N_CONTEXTS · (1 + t)`` and its shift
# ``SHIFTS[context] + TEMPORAL_SHIFTS[t, g]``, where the group g is 2 · (second pass) + (a > 0).
# Indices below N_CONTEXTS are the 3.x-7.x contexts. Fitted (runs/temporal: coordinate descent on
# the bits of the residuals of five training clips at three levels, selectors re-chosen).
TEMPORAL_EDGES = np.array([1, 3, 9])  # t = 0..3
N_TEMPORAL = len(TEMPORAL_EDGES) + 1
# fmt: off
TEMPORAL_SHIFTS = np.array([
    # g: anchor a = 0, anchor a > 0, other a = 0, other a > 0
    [-2, -1, -1, -1],  # t = 0: nothing changed here last time
    [-1,  0,  0,  0],
    [ 1,  0,  0,  0],
    [ 5,  2,  1,  1],  # t = 3: much changed
], dtype=np.int64)
# fmt: on


def _parts(ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(second pass, a, q) of spatial contexts ``ctx`` (< N_CONTEXTS): the inverse of ``k = 5a + q`` for
    anchors and ``k = 30 + 4(5a + q) + n`` for the others."""
    other = ctx >= N_ANCHOR
    base = np.where(other, (ctx - N_ANCHOR) // N_NEIGH, ctx)
    return other, base // N_PRED, base % N_PRED


def _temporal_group(ctx: np.ndarray) -> np.ndarray:
    """The group g of spatial contexts ``ctx`` (< N_CONTEXTS) that TEMPORAL_SHIFTS distinguishes."""
    other, activity, _ = _parts(ctx)
    return 2 * other + (activity > 0)


N_ALL_CONTEXTS = N_CONTEXTS * (1 + N_TEMPORAL)
ALL_SHIFTS = np.concatenate(
    [SHIFTS] + [SHIFTS + TEMPORAL_SHIFTS[t, _temporal_group(np.arange(N_CONTEXTS))] for t in range(N_TEMPORAL)])
ALL_SHIFTS.setflags(write=False)


# Format 9.0: oriented residuals. Where a context-coded residual's prediction is not zero (q > 0, which
# its context index tells), it is coded as u = −sign(prediction)·residual with the oriented row of
# its table (coding.tables.oriented_tables: u > 0, back toward zero, about three times in four);
# ORIENTED says which contexts (of N_ALL_CONTEXTS) that is.
ORIENTED = _parts(np.arange(N_ALL_CONTEXTS) % N_CONTEXTS)[2] > 0  # q > 0, temporal part or not
ORIENTED.setflags(write=False)


def orientation(prediction: np.ndarray) -> np.ndarray:
    """The factor (−1 or 1, int64) that turns residuals into what format 9.0 codes: −sign(prediction)
    where the prediction is not zero, 1 where it is (such positions are coded as they are). The
    coder uses :func:`orient`; this stays for encoders of earlier commits run against this module
    (runs/encoder-tuning/coder_ab.py's A/B)."""
    return np.where(prediction > 0, -1, 1).astype(np.int64)


def orient(values: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """``values · orientation(prediction)`` without the factor's array (its own self-inverse: it also
    turns coded values back into residuals)."""
    return np.where(prediction > 0, -values, values)


def _lookup(edges: np.ndarray) -> np.ndarray:
    return np.searchsorted(edges, np.arange(edges[-1] + 1), side="right").astype(np.int32)


_LUTS = {id(e): _lookup(e) for e in (ACT_EDGES, PRED_EDGES, NEIGH_EDGES, TEMPORAL_EDGES)}


def _bucket(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """How many of ``edges`` each non-negative value reaches (a table lookup: 10x a searchsorted)."""
    return _LUTS[id(edges)][np.minimum(values, edges[-1])]


def box3(a: np.ndarray) -> np.ndarray:
    """Sum over each position's 3×3 neighbourhood of the last two axes (zero outside)."""
    v = a.copy()
    v[..., 1:, :] += a[..., :-1, :]
    v[..., :-1, :] += a[..., 1:, :]
    out = v.copy()
    out[..., 1:] += v[..., :-1]
    out[..., :-1] += v[..., 1:]
    return out


def cross4(a: np.ndarray) -> np.ndarray:
    """Sum of each position's four edge neighbours over the last two axes (zero outside)."""
    out = np.zeros_like(a)
    out[..., 1:, :] += a[..., :-1, :]
    out[..., :-1, :] += a[..., 1:, :]
    out[..., 1:] += a[..., :-1]
    out[..., :-1] += a[..., 1:]
    return out


@lru_cache(maxsize=16)
def anchors(h: int, w: int) -> np.ndarray:
    """The first pass's positions: ``x + y`` even (read-only; one array per latent size, shared by
    every channel of every frame)."""
    mask = (np.add.outer(np.arange(h), np.arange(w)) % 2) == 0
    mask.setflags(write=False)
    return mask


def _base(activity: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    return _bucket(ACT_EDGES, activity) * N_PRED + _bucket(PRED_EDGES, np.abs(prediction))


def contexts(residuals: np.ndarray, prediction: np.ndarray, temporal: np.ndarray | None = None) -> np.ndarray:
    """Context index (int32) of every residual of channels (K,h,w) at once (the encoder's view); with
    ``temporal``, the :func:`temporal_offsets` of the previous delta's residuals of the same channels
    (format 8.0), the temporal context too. The C++ core computes it in one pass
    (``_native.delta_contexts``, the encoder's hottest step in numpy); :func:`contexts_numpy` is the
    same definition in numpy, which the tests hold it to."""
    offsets = None if temporal is None else np.ascontiguousarray(np.broadcast_to(temporal, residuals.shape),
                                                                 dtype=np.int32)
    return _native.delta_contexts(np.ascontiguousarray(residuals, dtype=np.int64),
                                  np.ascontiguousarray(prediction, dtype=np.int64), offsets,
                                  _LUTS[id(ACT_EDGES)], _LUTS[id(PRED_EDGES)], _LUTS[id(NEIGH_EDGES)],
                                  N_PRED, N_NEIGH, N_ANCHOR, _CAP)


def temporal_offsets(previous: np.ndarray) -> np.ndarray:
    """What the temporal context (format 8.0) adds to the context indices of residuals whose previous
    delta's residuals (same channels, (..., h, w); zero after a keyframe) are ``previous``:
    ``N_CONTEXTS · (1 + t)``, int32."""
    t = _bucket(TEMPORAL_EDGES, box3(np.minimum(np.abs(previous), _CAP).astype(np.int32)))
    return (N_CONTEXTS * (1 + t)).astype(np.int32)


def contexts_numpy(residuals: np.ndarray, prediction: np.ndarray, temporal: np.ndarray | None = None) -> np.ndarray:
    """:func:`contexts` in numpy: the definition, kept as the reference the C++ core is tested against."""
    # Magnitudes capped past the last edge (the buckets cannot tell) in 32 bits: the sums below stay
    # under 96 channels · 9 positions · 16.
    a = np.minimum(np.abs(residuals), _CAP).astype(np.int32)
    before = np.cumsum(a, axis=0, dtype=np.int32) - a  # residual magnitude of the earlier channels
    base = _base(box3(before), prediction)
    anchor = anchors(*a.shape[1:])
    n = _bucket(NEIGH_EDGES, cross4(a * anchor))
    ctx = np.where(anchor, base, N_ANCHOR + base * N_NEIGH + n)
    return ctx if temporal is None else ctx + temporal


def rows(selector: int | np.ndarray, context: np.ndarray, n_rows: int, oriented: bool = False) -> np.ndarray:
    """Delta-table row of each position: the selector moved by its context's shift (contexts with or
    without the temporal part), ``1 … n_rows − 1``; with ``oriented`` (format 9.0), ``n_rows`` more
    where the context's prediction is not zero (the row of the oriented tables that follow)."""
    out = np.clip(selector + ALL_SHIFTS[context], 1, n_rows - 1)
    return out + n_rows * ORIENTED[context] if oriented else out


def cost_tables(cost: np.ndarray, oriented: bool = False) -> np.ndarray:
    """(R-1, N_ALL_CONTEXTS, V) bits of each residual value for selector 1 … R-1 and each context,
    from the (R, V) bits of each value under each delta table; with ``oriented``, ``cost`` has 2R
    rows (the oriented tables after the others) and the values are the oriented ones."""
    n_rows = cost.shape[0] // 2 if oriented else cost.shape[0]
    sel = np.arange(1, n_rows)[:, None]
    return cost[rows(sel, np.arange(N_ALL_CONTEXTS)[None, :], n_rows, oriented)]


def _by_table(rows_: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """The coding order of one pass: each table in use, in increasing order, with the indices (into
    the pass's positions) of the positions coded with it, in raster order."""
    order = np.argsort(rows_, kind="stable")
    counts = np.bincount(rows_)
    ends = np.cumsum(counts)
    for row in np.flatnonzero(counts):
        yield int(row), order[ends[row] - counts[row] : ends[row]]


def code_channel(put: Callable[[int, np.ndarray], None], selector: int, residual: np.ndarray,
                 context: np.ndarray, n_rows: int, prediction: np.ndarray | None = None) -> None:
    """Queue one channel's (h,w) residuals, whose contexts (:func:`contexts`) are ``context``, in the
    two passes; ``put(row, values)`` writes. With the channel's ``prediction`` (format 9.0), the
    residuals are oriented and the rows of :func:`rows` with ``oriented``."""
    oriented = prediction is not None
    values = orient(residual, prediction) if oriented else residual
    _code_passes(put, lambda ctx: rows(selector, ctx, n_rows, oriented), values, context)


def _code_passes(put: Callable[[int, np.ndarray], None], table_rows: Callable[[np.ndarray], np.ndarray],
                 values: np.ndarray, context: np.ndarray) -> None:
    """Queue one channel's (h,w) values in the two passes, each grouped by the tables that
    ``table_rows`` gives their contexts."""
    anchor = anchors(*values.shape)
    for mask in (anchor, ~anchor):
        chosen = values[mask]
        for row, at in _by_table(table_rows(context[mask])):
            put(row, chosen[at])


def _decode_passes(get: Callable[[int, int], np.ndarray], table_rows: Callable[[np.ndarray], np.ndarray],
                   first: np.ndarray, second: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Pop one channel's two passes: the anchors with contexts ``first`` (h,w), then the others with
    contexts ``second(anchors so far)``; ``table_rows`` maps contexts to tables."""
    out = np.zeros(first.shape, dtype=np.int64)
    anchor = anchors(*first.shape)

    def decode_pass(mask: np.ndarray, ctx: np.ndarray) -> None:
        values = np.empty(ctx.size, dtype=np.int64)
        for row, at in _by_table(table_rows(ctx)):
            values[at] = get(row, at.size)
        out[mask] = values

    decode_pass(anchor, first[anchor])
    decode_pass(~anchor, second(out)[~anchor])  # only the anchors are filled yet
    return out


def decode_channel_into(out: np.ndarray, get: Callable[[int, int], np.ndarray], selector: int, activity: np.ndarray,
                        prediction: np.ndarray, n_rows: int, temporal: np.ndarray | None = None,
                        oriented: bool = False) -> None:
    """:func:`decode_channel` into ``out`` ((h,w) int64, C-contiguous), adding :func:`box3` of the
    residuals' magnitudes to ``activity`` ((h,w) int64, C-contiguous: the next channel's), with each
    pass's contexts, rows and coding order worked out by the C++ core (``_native.delta_channel_pass``:
    at 640x360 the numpy definition's 4 ms a frame of per-call work, half a delta's entropy decoding)."""
    for name, a in (("out", out), ("activity", activity)):  # written in place: no copy may stand in
        if a.dtype != np.int64 or not a.flags.c_contiguous or not a.flags.writeable:
            raise ValueError(f"{name} must be a writable C-contiguous int64 array")
    prediction = np.ascontiguousarray(prediction, dtype=np.int64)
    temporal = None if temporal is None else np.asarray(temporal)
    plane = (None if temporal is None or temporal.ndim == 0
             else np.ascontiguousarray(np.broadcast_to(temporal, out.shape), dtype=np.int32))
    scalar = 0 if temporal is None or plane is not None else int(temporal)
    # Within the format's range (escapes up to MAX_ESCAPE) the core and decode_channel agree exactly
    # (tested); values near 2**62, which no stream can give, overflow numpy's sums and not the core's.
    out[...] = 0
    flat = out.reshape(-1)
    for second in (False, True):
        order, groups = _native.delta_channel_pass(
            second, activity, prediction, plane, scalar, out, selector, n_rows, oriented, _LUTS[id(ACT_EDGES)],
            _LUTS[id(PRED_EDGES)], _LUTS[id(NEIGH_EDGES)], N_PRED, N_NEIGH, N_ANCHOR, ALL_SHIFTS, ORIENTED)
        if len(groups) == 1:
            flat[order] = get(*groups[0])
        elif groups:
            flat[order] = np.concatenate([get(row, count) for row, count in groups])
    _native.delta_channel_finish(out, prediction, oriented, activity)


def decode_channel(get: Callable[[int, int], np.ndarray], selector: int, activity: np.ndarray,
                   prediction: np.ndarray, n_rows: int, temporal: np.ndarray | None = None,
                   oriented: bool = False) -> np.ndarray:
    """Pop one channel's (h,w) residuals, the mirror of :func:`code_channel`; ``get(row, count)`` reads;
    ``temporal``: the channel's :func:`temporal_offsets` (format 8.0), None without; ``oriented``:
    format 9.0's oriented residuals (``get`` then reads rows up to ``2·n_rows − 1``). The definition in
    numpy; the decoder runs :func:`decode_channel_into`, which the tests hold to it."""
    base = _base(activity, prediction)
    if temporal is None:
        temporal = np.zeros((), dtype=np.int32)

    def second(out: np.ndarray) -> np.ndarray:  # magnitudes only: the same for oriented values
        return N_ANCHOR + base * N_NEIGH + _bucket(NEIGH_EDGES, cross4(np.abs(out))) + temporal

    out = _decode_passes(get, lambda ctx: rows(selector, ctx, n_rows, oriented), base + temporal, second)
    return orient(out, prediction) if oriented else out


# --- Keyframes (format 4.0) -------------------------------------------------------------------
#
# A key channel's symbols are coded with the same Laplace ladder (the model's delta tables, row 0
# included: a key channel is never "unchanged"), from a selector moved per position by
# KEY_SHIFTS[k]. The context: ``p``, the 3×3 sum of |symbols| of the two channels just before (the
# ladder orders channels by importance, so neighbours in order carry similar structure), and for
# the second pass of the checkerboard ``n``, as for deltas, from the four anchor neighbours.
# KEY_SHIFTS was fitted once (coordinate descent, runs/context-fit/fit_key.py) on the key symbols of
# 10 frames of each of five training clips and 26 photos, at all eight levels of vaegan-g.

KEY_PREV_EDGES = np.array([1, 2, 4, 8, 16, 32])  # p = 0..6
KEY_NEIGH_EDGES = np.array([1, 2, 4, 8])  # n = 0..4
N_KEY_PREV, N_KEY_NEIGH = len(KEY_PREV_EDGES) + 1, len(KEY_NEIGH_EDGES) + 1
N_KEY_CONTEXTS = N_KEY_PREV * (1 + N_KEY_NEIGH)
_LUTS.update({id(e): _lookup(e) for e in (KEY_PREV_EDGES, KEY_NEIGH_EDGES)})

# Table shift per key context: index p for anchors, 7 + 5p + n for the others.
# fmt: off
KEY_SHIFTS = np.array([
    # anchors: p = 0 … 6
     -2,  -1,  -1,   0,   1,   2,   2,
    # others: p = 0 … 6 (rows), n = 0 … 4
     -3,  -1,   0,   0,   0,
     -2,  -1,   0,   1,   2,
     -1,  -1,   0,   2,   3,
     -1,   0,   1,   2,   3,
      0,   1,   1,   2,   3,
      0,   1,   2,   2,   3,
     -2,   0,   1,   2,   3,
], dtype=np.int64)
# fmt: on


def key_contexts(symbols: np.ndarray) -> np.ndarray:
    """Context index (0 … N_KEY_CONTEXTS-1) of every symbol of a keyframe's channels (K,h,w)."""
    a = np.abs(symbols)
    before = np.zeros_like(a)
    before[1:] = a[:-1]
    before[2:] += a[:-2]
    p = _bucket(KEY_PREV_EDGES, box3(before))
    anchor = anchors(*a.shape[1:])
    n = _bucket(KEY_NEIGH_EDGES, cross4(a * anchor))
    return np.where(anchor, p, N_KEY_PREV + p * N_KEY_NEIGH + n)


def key_rows(selector: int | np.ndarray, context: np.ndarray, n_rows: int) -> np.ndarray:
    """Table row of each key symbol: the selector moved by its context's shift (rows 0 … R-1)."""
    return np.clip(selector + KEY_SHIFTS[context], 0, n_rows - 1)


def key_cost_tables(cost: np.ndarray) -> np.ndarray:
    """(R, N_KEY_CONTEXTS, V) bits of each symbol value for selector 0 … R-1 and each key context."""
    n_rows = cost.shape[0]
    return cost[key_rows(np.arange(n_rows)[:, None], np.arange(N_KEY_CONTEXTS)[None, :], n_rows)]


def code_key_channel(put: Callable[[int, np.ndarray], None], selector: int, symbols: np.ndarray,
                     context: np.ndarray, n_rows: int) -> None:
    """Queue one key channel's (h,w) symbols, whose contexts (:func:`key_contexts`) are ``context``."""
    _code_passes(put, lambda ctx: key_rows(selector, ctx, n_rows), symbols, context)


def decode_key_channel(get: Callable[[int, int], np.ndarray], selector: int, before: np.ndarray,
                       n_rows: int) -> np.ndarray:
    """Pop one key channel's (h,w) symbols; ``before``: the sum of |symbols| of the two channels before
    it (zero where there are none)."""
    p = _bucket(KEY_PREV_EDGES, box3(before))

    def second(out: np.ndarray) -> np.ndarray:
        return N_KEY_PREV + p * N_KEY_NEIGH + _bucket(KEY_NEIGH_EDGES, cross4(np.abs(out)))

    return _decode_passes(get, lambda ctx: key_rows(selector, ctx, n_rows), p, second)
