"""Context-adaptive delta residuals (format 3.0): the neighbourhood sums and buckets as documented,
the decoder's incremental contexts equal to the encoder's whole-frame ones, and the closed loop
through FrameEncoder/FrameDecoder."""

from __future__ import annotations

import numpy as np
import pytest

from vidcodec.codec import context
from vidcodec.codec.vaegan import DELTA, KEY, FrameDecoder, FrameEncoder
from vidcodec.errors import CoderError
from vidcodec.models import zoo


@pytest.fixture
def tiny(tiny_model_dir):
    return zoo.load("vaegan-tiny")


def _naive_sums(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3×3 and 4-neighbour sums, position by position, zero outside (the FORMAT.md definitions)."""
    h, w = a.shape

    def at(y: int, x: int) -> int:
        return int(a[y, x]) if 0 <= y < h and 0 <= x < w else 0

    box = np.array([[sum(at(y + i, x + j) for i in (-1, 0, 1) for j in (-1, 0, 1)) for x in range(w)]
                    for y in range(h)])
    cross = np.array([[at(y - 1, x) + at(y + 1, x) + at(y, x - 1) + at(y, x + 1) for x in range(w)]
                      for y in range(h)])
    return box, cross


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (4, 1), (5, 7)])
def test_neighbourhood_sums_match_their_definition(shape):
    a = np.random.default_rng(1).integers(0, 9, shape)
    box, cross = _naive_sums(a)
    np.testing.assert_array_equal(context.box3(a), box)
    np.testing.assert_array_equal(context.cross4(a), cross)
    stacked = np.stack([a, 2 * a])  # leading axes are independent
    np.testing.assert_array_equal(context.box3(stacked)[1], 2 * box)


def test_buckets_count_the_edges_a_value_reaches():
    for edges in (context.ACT_EDGES, context.PRED_EDGES, context.NEIGH_EDGES):
        values = np.arange(0, 40)
        want = [sum(int(v) >= e for e in edges) for v in values]
        np.testing.assert_array_equal(context._bucket(edges, values), want)


def test_rows_stay_inside_the_ladder():
    ctx = np.arange(context.N_CONTEXTS)
    for selector in (1, 7, 14):
        r = context.rows(selector, ctx, 15)
        assert r.min() >= 1 and r.max() <= 14
        np.testing.assert_array_equal(r, np.clip(selector + context.SHIFTS, 1, 14))
    assert context.SHIFTS.shape == (context.N_CONTEXTS,)


def _sparse_residuals(rng, k: int, h: int, w: int) -> np.ndarray:
    # Changes clustered in a patch, as where something moves, plus a few isolated ones.
    d = np.zeros((k, h, w), dtype=np.int64)
    d[:, 2:6, 3:8] = rng.integers(-6, 7, (k, 4, 5))
    d[rng.random((k, h, w)) < 0.05] = 1
    return d


def test_the_decoders_contexts_equal_the_encoders():
    rng = np.random.default_rng(3)
    k, h, w, n_rows = 6, 9, 11, 15
    d = _sparse_residuals(rng, k, h, w)
    pred = rng.integers(-12, 13, (k, h, w))
    ctx = context.contexts(d, pred)
    assert ctx.min() >= 0 and ctx.max() < context.N_CONTEXTS
    selectors = [1, 3, 5, 8, 11, 14]
    queue: list[tuple[int, np.ndarray]] = []
    for ch in range(k):
        context.code_channel(lambda row, values: queue.append((row, values)), selectors[ch], d[ch], ctx[ch], n_rows)
    assert len({row for row, _ in queue}) > 3  # the contexts really move the tables around

    def get(row: int, count: int) -> np.ndarray:
        want_row, values = queue.pop(0)
        assert (row, count) == (want_row, values.size)
        return values

    activity = np.zeros((h, w), dtype=np.int64)
    for ch in range(k):
        got = context.decode_channel(get, selectors[ch], activity, pred[ch], n_rows)
        np.testing.assert_array_equal(got, d[ch])
        activity += context.box3(np.abs(got))
    assert not queue


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 1, 6), (2, 5, 1), (5, 2, 2), (7, 9, 11), (12, 23, 40)])
@pytest.mark.parametrize("temporal", ["none", "scalar", "plane"])
@pytest.mark.parametrize("oriented", [False, True])
def test_the_decoders_channels_in_the_core_read_what_the_numpy_definition_reads(shape, temporal, oriented):
    """decode_channel_into (the C++ core's passes) asks for the same rows and counts in the same order as
    decode_channel (the numpy definition), places the values alike and leaves the same activity, with
    huge magnitudes, zeros and both signs among the values, the predictions and the earlier channels."""
    rng = np.random.default_rng(sum(shape) + 7 * oriented + len(temporal))
    k, h, w = shape
    n_rows = 15
    values = rng.laplace(0, 3, shape).round().astype(np.int64)
    values[rng.random(shape) < 0.02] = 1_000_000
    values[rng.random(shape) < 0.3] = 0
    values[rng.random(shape) < 0.02] = -1_000_000
    pred = rng.laplace(0, 6, shape).round().astype(np.int64) * rng.choice([-1, 1], shape)
    previous = np.roll(values, 1, axis=-1)
    selectors = rng.integers(1, n_rows, k)

    def reader(log: list):
        def get(row: int, count: int) -> np.ndarray:
            assert 1 <= row < (2 * n_rows if oriented else n_rows)
            log.append((row, count))
            return rng_values.integers(-9, 10, count) * (1 + (row % 3) * 40_000)
        return get

    def offsets(ch: int):
        if temporal == "none":
            return None
        return np.int32(context.N_CONTEXTS) if temporal == "scalar" else context.temporal_offsets(previous[ch])

    logs, outs, activities = [], [], []
    for into in (False, True):
        rng_values = np.random.default_rng(99)
        log: list = []
        get = reader(log)
        activity = np.zeros((h, w), dtype=np.int64)
        activity += context.box3(np.abs(values[0]))  # an earlier channel's residuals
        out = np.zeros(shape, dtype=np.int64)
        for ch in range(k):
            if into:
                context.decode_channel_into(out[ch], get, int(selectors[ch]), activity, pred[ch], n_rows,
                                            offsets(ch), oriented)
            else:
                out[ch] = context.decode_channel(get, int(selectors[ch]), activity, pred[ch], n_rows, offsets(ch),
                                                 oriented)
                activity += context.box3(np.abs(out[ch]))
        logs.append(log)
        outs.append(out)
        activities.append(activity)
    assert logs[0] == logs[1] and len(logs[0]) >= 2 * k - 1
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(activities[0], activities[1])


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 1, 6), (2, 5, 1), (7, 9, 11), (96, 4, 5)])
def test_the_cores_contexts_equal_the_numpy_definition(shape):
    rng = np.random.default_rng(sum(shape))
    # Magnitudes past every edge and at the escape cap, zeros, both signs; predictions likewise.
    d = rng.laplace(0, 3, shape).round().astype(np.int64)
    d[rng.random(shape) < 0.02] = 1_000_000
    d[rng.random(shape) < 0.3] = 0
    pred = rng.laplace(0, 6, shape).round().astype(np.int64) * rng.choice([-1, 1], shape)
    got = context.contexts(d, pred)
    assert got.dtype == np.int32 and got.shape == shape
    np.testing.assert_array_equal(got, context.contexts_numpy(d, pred))
    # With the previous delta's residuals (format 8.0): the same contexts, moved past N_CONTEXTS.
    offsets = context.temporal_offsets(np.roll(d, 1, axis=-1))
    temporal = context.contexts(d, pred, offsets)
    np.testing.assert_array_equal(temporal, context.contexts_numpy(d, pred, offsets))
    assert (temporal >= context.N_CONTEXTS).all() and (temporal % context.N_CONTEXTS == got).all()
    # Views (non-contiguous) and other integer types are taken as values, not memory.
    np.testing.assert_array_equal(context.contexts(d[:, :, ::-1], pred[:, :, ::-1]),
                                  context.contexts_numpy(d[:, :, ::-1], pred[:, :, ::-1]))
    small = np.clip(d, -300, 300)
    np.testing.assert_array_equal(context.contexts(small.astype(np.int16), pred.astype(np.int32)),
                                  context.contexts_numpy(small, pred))


def test_the_cores_histograms_count_clipped_values_per_row_and_context():
    from vidcodec.native import core

    rng = np.random.default_rng(5)
    values = rng.integers(-40, 41, (4, 300))
    ctx = rng.integers(0, 7, (4, 300)).astype(np.int32)
    got = core.histograms(values, ctx, 7, 16)
    want = np.zeros((4, 7, 33), dtype=np.int64)
    for row in range(4):
        np.add.at(want[row], (ctx[row], np.clip(values[row], -16, 16) + 16), 1)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(core.histograms(values, None, 1, 16)[:, 0], want.sum(axis=1))
    with pytest.raises(ValueError, match="outside"):  # an index past the histogram is refused, not written
        core.histograms(values, np.full((4, 300), 7, dtype=np.int32), 7, 16)
    with pytest.raises(ValueError, match="shape"):
        core.histograms(values, ctx[:, :10], 7, 16)


def test_temporal_contexts_follow_their_definition():
    # t buckets the 3×3 sum of the previous residual magnitudes (capped at 16) of the same channel.
    prev = np.zeros((2, 5, 6), dtype=np.int64)
    prev[0, 2, 2] = 2  # channel 0: a 3×3 patch of sum 2 (t = 1)
    prev[1, 0, 0] = 100  # channel 1: capped to 16 (t = 3) around the corner
    offsets = context.temporal_offsets(prev)
    want = np.zeros((2, 5, 6), dtype=np.int64)
    want[0, 1:4, 1:4] = 1
    want[1, :2, :2] = 3
    np.testing.assert_array_equal(offsets, context.N_CONTEXTS * (1 + want))
    # A temporal context's shift is its spatial context's plus the group's temporal shift.
    for ctx in (0, 7, context.N_ANCHOR, context.N_CONTEXTS - 1):
        for t in range(context.N_TEMPORAL):
            shift = context.ALL_SHIFTS[ctx + context.N_CONTEXTS * (1 + t)]
            assert shift == context.SHIFTS[ctx] + context.TEMPORAL_SHIFTS[t, context._temporal_group(np.array(ctx))]
    assert (context.ALL_SHIFTS[: context.N_CONTEXTS] == context.SHIFTS).all()  # 3.x-7.x contexts unchanged


def _changing_frames(tiny, rng, deltas: int, region: tuple[slice, slice], sigma: float) -> list[np.ndarray]:
    """A keyframe's latent, then ``deltas`` latents in which ``region`` keeps changing (noise of
    ``sigma`` symbols at level 2 added to the frame before)."""
    y, _ = _key_and_change(tiny, rng)
    frames = [y]
    rows, cols = region
    for _ in range(deltas):
        nxt = frames[-1].copy()
        shape = (tiny.latent_channels, rows.stop - rows.start, cols.stop - cols.start)
        nxt[:, rows, cols] += rng.normal(0, sigma, shape) / tiny.gains[2][:, None, None]
        frames.append(nxt.astype(np.float32))
    return frames


def test_temporal_contexts_track_the_previous_delta_and_decode_in_step(tiny):
    # A region that keeps changing: from the second delta on, its residuals see the previous ones.
    frames = _changing_frames(tiny, np.random.default_rng(11), 4, (slice(3, 8), slice(4, 10)), 6)
    y = frames[0]
    sizes = {}
    for major in (8, 7):
        enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0, major=major)
        dec = FrameDecoder(tiny, y.shape, major=major)
        coded = [enc.encode_latent(f) for f in frames]
        assert [c.kind for c in coded] == [KEY] + [DELTA] * 4
        for c in coded:
            dec.decode_symbols(c.kind, c.payload)
        np.testing.assert_array_equal(dec._prev, enc._prev)
        sizes[major] = coded
    # Same decisions until the contexts differ, then other bytes: an 8.0 delta read as 7.0 goes wrong.
    assert any(a.payload != b.payload for a, b in zip(sizes[8][2:], sizes[7][2:]))
    old = FrameDecoder(tiny, y.shape, major=7)
    try:
        got = [old.decode_symbols(c.kind, c.payload)[0] for c in sizes[8]]
        assert not np.array_equal(got[-1], _decoded_symbols(tiny, y.shape, sizes[8])[-1])
    except CoderError:
        pass


def _decoded_symbols(tiny, shape, coded, major=8):
    dec = FrameDecoder(tiny, shape, major=major)
    return [dec.decode_symbols(c.kind, c.payload)[0] for c in coded]


def test_the_cores_context_bits_price_each_value_by_its_context_and_selector():
    from vidcodec.codec.vaegan import _context_bits
    from vidcodec.native import core

    rng = np.random.default_rng(8)
    window = 16
    cost = rng.random((5, 7, 2 * window + 1)) * 20
    # Values past the window (priced as its edge), repeats of (context, value) pairs, an empty row.
    values = np.concatenate([rng.integers(-40, 41, (3, 300)), np.zeros((1, 300), np.int64)])
    ctx = rng.integers(0, 7, (4, 300)).astype(np.int32)
    want = np.array([[cost[s, ctx[i], np.clip(values[i], -window, window) + window].sum() for s in range(5)]
                     for i in range(4)])
    got = _context_bits(values, ctx, cost)
    assert got.shape == (4, 5)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # The sums run in a fixed order: the positions' order does not change a bit of the result.
    order = rng.permutation(300)
    np.testing.assert_array_equal(_context_bits(values[:, order], ctx[:, order], cost), got)
    # Some rows only, and values oriented by a prediction (format 9.0) first.
    np.testing.assert_array_equal(_context_bits(values, ctx, cost, np.array([2, 0])), got[[2, 0]])
    pred = rng.integers(-3, 4, values.shape)
    np.testing.assert_array_equal(_context_bits(values, ctx, cost, prediction=pred),
                                  _context_bits(context.orient(values, pred), ctx, cost))
    rows = np.arange(4)
    with pytest.raises(ValueError, match="outside"):  # an index past the tables is refused, not read
        core.context_bits(values, np.full((4, 300), 7, dtype=np.int32), cost, rows, None)
    with pytest.raises(ValueError, match="outside"):
        core.context_bits(values, ctx, cost, np.array([4]), None)
    with pytest.raises(ValueError, match="shape"):
        core.context_bits(values, ctx[:, :10], cost, rows, None)


def test_the_cores_delta_residuals_equal_the_numpy_definition():
    from vidcodec.codec.vaegan import MAX_ESCAPE, residuals_numpy
    from vidcodec.native import core

    rng = np.random.default_rng(9)
    pred = rng.integers(-50, 51, (6, 9, 11))
    ys = (pred + rng.laplace(0, 1.5, pred.shape)).astype(np.float32)
    ys.flat[:8] = pred.flat[:8] + np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.9, -0.9, 0.0], np.float32)  # ties: even
    ys.flat[8] = 3e7  # past the cap: clamped
    ys[2] = pred[2]  # a channel without a change
    for threshold in (0.5, 0.9, 2.0):
        d, sq_r, sq_kept, nonzero = core.delta_residuals(ys, pred, threshold, MAX_ESCAPE)
        want = residuals_numpy(ys, pred, threshold)
        np.testing.assert_array_equal(d, want[0])
        np.testing.assert_allclose(sq_r, want[1], rtol=1e-12)
        np.testing.assert_allclose(sq_kept, want[2], rtol=1e-12)
        np.testing.assert_array_equal(nonzero, want[3])
        assert nonzero[2] == 0 and sq_r[2] == 0
    assert d.flat[8] == MAX_ESCAPE
    np.testing.assert_array_equal(core.delta_residuals(ys, pred, 0.5, MAX_ESCAPE)[0].flat[:8], [0, 2, 2, 0, -2, 1, -1, 0])
    with pytest.raises(ValueError, match="shape"):
        core.delta_residuals(ys[:, :3], pred, 0.5, MAX_ESCAPE)


def test_orientation_follows_the_prediction_bucket_of_each_context():
    # ORIENTED is "q > 0" (the prediction is not zero) for every context, spatial or temporal.
    for ctx in range(context.N_ALL_CONTEXTS):
        k = ctx % context.N_CONTEXTS
        q = k % context.N_PRED if k < context.N_ANCHOR else ((k - context.N_ANCHOR) // context.N_NEIGH) % context.N_PRED
        assert context.ORIENTED[ctx] == (q > 0)
    rng = np.random.default_rng(3)
    d = rng.integers(-3, 4, (4, 9, 11))
    pred = rng.integers(-12, 13, (4, 9, 11))
    ctx = context.contexts(d, pred)
    np.testing.assert_array_equal(context.ORIENTED[ctx], pred != 0)
    np.testing.assert_array_equal(context.orientation(pred), np.where(pred > 0, -1, 1))
    np.testing.assert_array_equal(context.orient(d, pred), d * context.orientation(pred))
    np.testing.assert_array_equal(context.orient(context.orient(d, pred), pred), d)  # its own inverse
    rows = context.rows(5, ctx, 15, oriented=True)
    np.testing.assert_array_equal(rows, context.rows(5, ctx, 15) + 15 * (pred != 0))


def test_oriented_residuals_round_trip_and_cost_less_when_latents_fall_back_toward_zero(tiny):
    # Latents that decay toward zero (each frame 0.6x the last, plus a little noise): residuals mostly
    # take the opposite sign of their prediction, which format 9.0 codes with the oriented tables.
    rng = np.random.default_rng(5)
    c = tiny.latent_channels
    y = (rng.normal(0, 8, (c, 12, 16)) / tiny.gains[2][:, None, None]).astype(np.float32)
    frames = [y]
    for _ in range(4):
        nxt = 0.6 * frames[-1] + rng.normal(0, 0.3, y.shape) / tiny.gains[2][:, None, None]
        frames.append(nxt.astype(np.float32))
    coded = {}
    for major in (9, 8):
        enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0, motion_block=0, major=major)
        dec = FrameDecoder(tiny, y.shape, major=major)
        coded[major] = [enc.encode_latent(f) for f in frames]
        assert [e.kind for e in coded[major]] == [KEY] + [DELTA] * 4
        for e in coded[major]:
            dec.decode_symbols(e.kind, e.payload)
        np.testing.assert_array_equal(dec._prev, enc._prev)
    assert all(_flag_compact(e.payload) == 1 for e in coded[9][1:])  # context-coded, so oriented
    assert sum(len(e.payload) for e in coded[9][1:]) < 0.97 * sum(len(e.payload) for e in coded[8][1:])
    # An 8.x reading of 9.0 deltas pops other symbols (or fails).
    try:
        got = _decoded_symbols(tiny, y.shape, coded[9], 8)
        assert not np.array_equal(got[-1], _decoded_symbols(tiny, y.shape, coded[9], 9)[-1])
    except CoderError:
        pass


def _flag_compact(payload: bytes) -> int:
    assert payload[1] == 0  # no motion section
    return payload[2]


def _key_and_change(tiny, rng):
    c = tiny.latent_channels
    y = (rng.normal(0, 4, (c, 12, 16)) / tiny.gains[2][:, None, None]).astype(np.float32)
    moved = y.copy()
    moved[:, 3:8, 4:10] += (rng.normal(0, 6, (c, 5, 6)) / tiny.gains[2][:, None, None]).astype(np.float32)
    return y, moved


def _flag(payload: bytes) -> int:
    """A 12.0 delta's context flag: bit 6 of its first (block) byte."""
    return payload[0] >> 6 & 1


def test_clustered_changes_code_smaller_with_contexts_and_decode_in_step(tiny):
    y, moved = _key_and_change(tiny, np.random.default_rng(8))
    sizes = {}
    for use in (False, True):
        enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0, context_coding=use)
        dec = FrameDecoder(tiny, y.shape)
        for frame in (y, moved, moved + 0.01):
            coded = enc.encode_latent(frame)
            state, _ = dec.decode_symbols(coded.kind, coded.payload)
            np.testing.assert_array_equal(state, enc._prev)
            if coded.kind == DELTA and frame is moved:
                sizes[use] = len(coded.payload)
                assert _flag(coded.payload) == use
    assert sizes[True] < 0.9 * sizes[False]


def test_the_encoder_codes_without_contexts_when_they_do_not_pay(tiny, monkeypatch):
    y, moved = _key_and_change(tiny, np.random.default_rng(9))
    # Every context at the narrowest table: changes would cost far more than with one table per channel.
    monkeypatch.setattr(context, "ALL_SHIFTS", np.full(context.N_ALL_CONTEXTS, -20))
    enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0)
    dec = FrameDecoder(tiny, y.shape)
    dec.decode_symbols(KEY, enc.encode_latent(y).payload)
    delta = enc.encode_latent(moved)
    assert delta.kind == DELTA and _flag(delta.payload) == 0
    np.testing.assert_array_equal(dec.decode_symbols(DELTA, delta.payload)[0], enc._prev)


def test_damaged_context_flags_are_coder_errors(tiny):
    # Formats 3.0 to 11.x give the flag a byte of its own: a value other than 0 and 1, or none, is damage.
    y, moved = _key_and_change(tiny, np.random.default_rng(10))
    enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0, motion_block=0, major=11)
    key = enc.encode_latent(y)
    delta = enc.encode_latent(moved).payload
    for bad in (delta[:2] + b"\x02" + delta[3:], delta[:2]):
        dec = FrameDecoder(tiny, y.shape, major=11)
        dec.decode_symbols(KEY, key.payload)
        with pytest.raises(CoderError, match="context flag"):
            dec.decode_symbols(DELTA, bad)


def test_the_payload_layouts_are_the_containers_format_version():
    # FrameEncoder writes, and FrameDecoder reads by default, the delta layout of FORMAT_MAJOR; the
    # container writes FORMAT_VERSION into every header: the two must not drift apart.
    from vidcodec import container
    from vidcodec.codec.vaegan import FORMAT_MAJOR

    assert container.FORMAT_VERSION[0] == FORMAT_MAJOR
    assert FORMAT_MAJOR in container.READABLE_MAJOR_VERSIONS


# --- keyframes (format 4.0) ---


def _key_flag(payload: bytes) -> int:
    """A 12.0 key's context flag: bit 7 of its first byte (the level is bits 0-6)."""
    return payload[0] >> 7


def _clustered_key(tiny, rng, h: int = 12, w: int = 16) -> np.ndarray:
    # Latent activity in one region (an object on a flat background), as in real keyframes.
    c = tiny.latent_channels
    s = np.zeros((c, h, w))
    s[:, 2:8, 3:11] = rng.normal(0, 5, (c, 6, 8))
    s[rng.random((c, h, w)) < 0.03] = 1.0
    return (s / tiny.gains[2][:, None, None]).astype(np.float32)


def test_key_contexts_match_their_definition():
    rng = np.random.default_rng(11)
    k, h, w = 5, 6, 7
    s = rng.integers(-9, 10, (k, h, w)) * (rng.random((k, h, w)) < 0.5)
    ctx = context.key_contexts(s)
    a = np.abs(s)
    for c in range(k):
        before = sum(a[c - i] for i in (1, 2) if c - i >= 0) if c else np.zeros((h, w), int)
        box, _ = _naive_sums(before)
        _, cross = _naive_sums(a[c] * context.anchors(h, w))
        for y in range(h):
            for x in range(w):
                p = sum(int(box[y, x]) >= e for e in context.KEY_PREV_EDGES)
                n = sum(int(cross[y, x]) >= e for e in context.KEY_NEIGH_EDGES)
                want = p if (x + y) % 2 == 0 else context.N_KEY_PREV + p * context.N_KEY_NEIGH + n
                assert ctx[c, y, x] == want


def test_key_rows_stay_inside_the_ladder():
    ctx = np.arange(context.N_KEY_CONTEXTS)
    assert context.KEY_SHIFTS.shape == (context.N_KEY_CONTEXTS,)
    for selector in (0, 7, 14):
        r = context.key_rows(selector, ctx, 15)
        np.testing.assert_array_equal(r, np.clip(selector + context.KEY_SHIFTS, 0, 14))


def test_key_symbols_code_smaller_with_contexts_and_decode_to_the_same_symbols(tiny):
    y = _clustered_key(tiny, np.random.default_rng(12))
    sizes, states = {}, {}
    for use in (False, True):
        enc = FrameEncoder(tiny, 2, context_coding=use, key_rdoq_lambda=0.0)  # the same symbols both ways
        key = enc.encode_latent(y)
        assert key.kind == KEY and _key_flag(key.payload) == use
        state, level = FrameDecoder(tiny, y.shape).decode_symbols(KEY, key.payload)
        np.testing.assert_array_equal(state, enc._prev)
        assert level == 2
        sizes[use], states[use] = len(key.payload), state
    np.testing.assert_array_equal(states[True], states[False])  # only the bytes change
    assert sizes[True] < 0.9 * sizes[False]


def test_key_rdoq_steps_symbols_toward_zero_for_fewer_bytes(tiny):
    y = _clustered_key(tiny, np.random.default_rng(12))
    plain, rdo = FrameEncoder(tiny, 2, key_rdoq_lambda=0.0), FrameEncoder(tiny, 2, key_rdoq_lambda=0.5)
    a, b = plain.encode_latent(y), rdo.encode_latent(y)
    moved = plain._prev != rdo._prev
    assert moved.any() and len(b.payload) < len(a.payload)
    # Only non-zero symbols move, one step, toward zero.
    np.testing.assert_array_equal(np.abs(rdo._prev[moved]), np.abs(plain._prev[moved]) - 1)
    assert np.all(np.sign(rdo._prev[moved]) * np.sign(plain._prev[moved]) >= 0)
    np.testing.assert_array_equal(FrameDecoder(tiny, y.shape).decode_symbols(KEY, b.payload)[0], rdo._prev)


def test_the_encoder_codes_keys_without_contexts_when_they_do_not_pay(tiny, monkeypatch):
    y = _clustered_key(tiny, np.random.default_rng(13))
    # Every context at the widest table: zeros would cost several bits each.
    monkeypatch.setattr(context, "KEY_SHIFTS", np.full(context.N_KEY_CONTEXTS, 20))
    enc = FrameEncoder(tiny, 2)
    key = enc.encode_latent(y)
    assert _key_flag(key.payload) == 0
    np.testing.assert_array_equal(FrameDecoder(tiny, y.shape).decode_symbols(KEY, key.payload)[0], enc._prev)


def test_damaged_key_context_flags_are_coder_errors(tiny):
    key = FrameEncoder(tiny, 2, major=11).encode_latent(_clustered_key(tiny, np.random.default_rng(14))).payload
    for bad in (key[:1] + b"\x02" + key[2:], key[:1]):
        with pytest.raises(CoderError, match="context flag"):
            FrameDecoder(tiny, (tiny.latent_channels, 12, 16), major=11).decode_symbols(KEY, bad)


def test_12x_flags_share_a_byte_and_a_flipped_one_misreads_or_fails(tiny):
    # 12.0: a key's context flag is bit 7 of its level byte, a delta's bit 6 of its block byte (its level
    # is the previous frame's). Flipping a flag reads the same section with other tables: other symbols
    # or a CoderError, never a crash; a delta's level comes from the frame before it.
    y, moved = _key_and_change(tiny, np.random.default_rng(10))
    enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0, motion_block=0)
    key, delta = enc.encode_latent(y).payload, enc.encode_latent(moved).payload
    assert key[0] & 0x7F == 2 and _key_flag(key) == 1 and delta[0] & ~0x40 == 0 and _flag(delta) == 1
    want = FrameDecoder(tiny, y.shape).decode_symbols(KEY, key)[0]
    for bad_key, bad_delta in ((bytes([key[0] ^ 0x80]) + key[1:], delta), (key, bytes([delta[0] ^ 0x40]) + delta[1:])):
        dec = FrameDecoder(tiny, y.shape)
        try:
            got, level = dec.decode_symbols(KEY, bad_key)
            assert level == 2
            got = dec.decode_symbols(DELTA, bad_delta)[0]
        except CoderError:
            continue
        assert not np.array_equal(got, want if bad_key is not key else enc._prev)
    with pytest.raises(CoderError, match="level 9"):
        FrameDecoder(tiny, y.shape).decode_symbols(KEY, bytes([9]) + key[1:])
    with pytest.raises(CoderError, match="reference frame"):
        FrameDecoder(tiny, y.shape).decode_symbols(DELTA, delta)


def _doc_table(lines: list[str], marker: str, skip: int) -> list[int]:
    """The integers of the markdown table after the line starting with ``marker``, without its header
    and separator rows and each row's first ``skip`` cells (labels)."""
    start = next(i for i, line in enumerate(lines) if line.startswith(marker))
    first = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("|"))
    values: list[int] = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        values += [int(c.replace("−", "-")) for c in cells[skip:]]
    return values


def test_format_md_holds_the_shift_tables_the_code_uses():
    from pathlib import Path

    lines = (Path(__file__).parents[1] / "docs" / "FORMAT.md").read_text(encoding="utf-8").splitlines()
    anchors = _doc_table(lines, "Anchors, `SHIFT[5a + q]`", 1)
    others = _doc_table(lines, "Other positions, `SHIFT[30 + 4(5a + q) + n]`", 2)
    np.testing.assert_array_equal(anchors + others, context.SHIFTS)
    key_line = next(line for line in lines if line.startswith("Anchors, `KEY_SHIFT[p]`"))
    key_anchors = [int(v.replace("−", "-")) for v in key_line.split(":")[1].strip(" .").split(",")]
    key_others = _doc_table(lines, "Other positions, `KEY_SHIFT[7 + 5p + n]`", 1)
    np.testing.assert_array_equal(key_anchors + key_others, context.KEY_SHIFTS)
    temporal = _doc_table(lines, "`TSHIFT[τ][g]`", 1)
    np.testing.assert_array_equal(temporal, context.TEMPORAL_SHIFTS.ravel())


def test_broken_latents_are_clamped_not_written_as_undecodable_symbols(tiny):
    y = _clustered_key(tiny, np.random.default_rng(15))
    y[0, 0, 0], y[1, 2, 3], y[0, 5, 5] = np.nan, 1e30, -np.inf
    for use in (False, True):
        enc = FrameEncoder(tiny, 2, context_coding=use)
        dec = FrameDecoder(tiny, y.shape)
        for frame in (y, y * 0.5):
            coded = enc.encode_latent(frame)
            np.testing.assert_array_equal(dec.decode_symbols(coded.kind, coded.payload)[0], enc._prev)
        assert np.abs(enc._prev).max() <= 2**24 and enc._prev[0, 0, 0] == 0


def _moving_frames(tiny, n=4):
    rng = np.random.default_rng(8)
    y = (rng.normal(0, 6, (tiny.latent_channels, 12, 16)) / tiny.gains[2][:, None, None]).astype(np.float32)
    return [np.roll(y, i, axis=-1) * (0.9**i) for i in range(n)]


def _payloads(tiny, frames):
    enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0, motion_block=4)
    return [enc.encode_latent(f).payload for f in frames]


def test_delta_candidates_give_the_same_bytes_without_the_worker_thread(tiny, monkeypatch):
    # The no-motion candidate runs on a worker thread; when none can start (the interpreter is shutting
    # down) the encoder weighs it itself, with the same result.
    from vidcodec.codec import vaegan

    frames = _moving_frames(tiny)
    threaded = _payloads(tiny, frames)
    monkeypatch.setattr(vaegan, "_submit", lambda fn, *args: None)
    assert _payloads(tiny, frames) == threaded


def test_an_error_in_the_motion_search_is_the_one_raised(tiny, monkeypatch):
    frames = _moving_frames(tiny, 2)
    enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0, motion_block=4)
    enc.encode_latent(frames[0])

    def broken(self, ys):
        raise ValueError("search failed")

    monkeypatch.setattr(FrameEncoder, "_search", broken)
    with pytest.raises(ValueError, match="search failed"):
        enc.encode_latent(frames[1])


def test_a_forked_child_encodes_deltas(tiny):
    # The worker thread does not survive fork(): a child process must make its own instead of waiting
    # for ever on the parent's.
    import multiprocessing

    frames = _moving_frames(tiny)
    want = _payloads(tiny, frames)  # the parent has started its worker thread
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=lambda: results.put(_payloads(tiny, frames)))  # fork: nothing is pickled
    child.start()
    try:
        got = results.get(timeout=60)
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()
    assert got == want


def test_selector_groups_pick_each_channels_row_from_its_previous_selector():
    assert [(row, list(ch)) for row, ch in context.selector_groups(None, 4)] == [(0, [0, 1, 2, 3])]
    prev = np.array([0, 3, 0, 14, 2, 7])
    groups = context.selector_groups(prev, 5)  # channels past the count are not coded
    assert [(row, list(ch)) for row, ch in groups] == [(1, [0, 2]), (3, [4]), (4, [1]), (15, [3])]
    table = context.SELECTOR_FREQS_AFTER
    assert table.shape == (16, 15) and (table.sum(axis=1) == 1 << 16).all() and table.min() >= 1
    # what the table says: a channel unchanged last time is likely unchanged, one that changed likely changes
    assert table[1, 0] > table[0, 0] > table[4, 0] and table[4, 1:].sum() > table[1, 1:].sum()


def test_13x_delta_selectors_are_coded_by_the_previous_deltas_and_decode_in_step(tiny):
    # A region that keeps changing: from the second delta on, each channel's selector is coded with the
    # row its previous selector picks; the decoder follows the encoder's selectors delta by delta.
    frames = _changing_frames(tiny, np.random.default_rng(12), 5, (slice(2, 9), slice(3, 11)), 5)
    y = frames[0]
    coded = {}
    for major in (13, 12):
        enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0, major=major)
        dec = FrameDecoder(tiny, y.shape, major=major)
        coded[major] = []
        for f in frames:
            c = enc.encode_latent(f)
            dec.decode_symbols(c.kind, c.payload)
            np.testing.assert_array_equal(dec._prev, enc._prev)
            if major == 13:
                assert (dec._prev_selectors is None) == (c.kind == KEY)
                if c.kind == DELTA:
                    np.testing.assert_array_equal(dec._prev_selectors, enc._prev_selectors)
                    assert dec._prev_selectors.any()
            coded[major].append(c)
        assert [c.kind for c in coded[major]] == [KEY] + [DELTA] * 5
    # The changing channels change again: their selectors cost less than with 12.0's single table.
    assert sum(len(c.payload) for c in coded[13][2:]) < sum(len(c.payload) for c in coded[12][2:])
    old = FrameDecoder(tiny, y.shape, major=12)
    try:
        got = [old.decode_symbols(c.kind, c.payload)[0] for c in coded[13]]
        assert not np.array_equal(got[-1], _decoded_symbols(tiny, y.shape, coded[13], major=13)[-1])
    except CoderError:
        pass


def test_decode_channel_into_refuses_arrays_it_could_not_write_in_place():
    h, w = 3, 4
    good = np.zeros((h, w), dtype=np.int64)
    pred = np.zeros((h, w), dtype=np.int64)

    def get(row: int, count: int) -> np.ndarray:
        return np.ones(count, dtype=np.int64)

    for out, activity in ((np.zeros((h, 2 * w), dtype=np.int64)[:, ::2], good.copy()),  # a strided view
                          (np.zeros((h, w), dtype=np.int32), good.copy()),
                          (good.copy(), np.zeros((h, w), dtype=np.int64, order="F").T.copy().T)):
        with pytest.raises(ValueError, match="C-contiguous int64"):
            context.decode_channel_into(out, get, 3, activity, pred, 15)
    # a plain int and a broadcastable row for the temporal offsets, as decode_channel takes them
    want = context.decode_channel(get, 3, good, pred, 15, np.int32(context.N_CONTEXTS))
    for temporal in (context.N_CONTEXTS, np.full((1, w), context.N_CONTEXTS, np.int32)):
        out, activity = np.zeros((h, w), dtype=np.int64), good.copy()
        context.decode_channel_into(out, get, 3, activity, pred, 15, temporal)
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(activity, context.box3(np.abs(want)))
