"""Latent motion compensation (format 2.0 delta frames): integer prediction, vector coding, the
encoder's search, and the closed loop through FrameEncoder/FrameDecoder."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from vidcodec.codec import motion
from vidcodec.codec.vaegan import DELTA, FORMAT_MAJOR, KEY, FrameDecoder, FrameEncoder
from vidcodec.coding import elias
from vidcodec.errors import CoderError, UsageError
from vidcodec.models import zoo


def _reference_shift(prev: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The FORMAT.md formula, written out pixel by pixel with Python integers."""
    c, h, w = prev.shape
    ix, fx = dx // 4, dx % 4
    iy, fy = dy // 4, dy % 4

    def s(ch: int, u: int, v: int) -> int:
        return int(prev[ch, min(max(v, 0), h - 1), min(max(u, 0), w - 1)])

    out = np.empty_like(prev)
    for ch in range(c):
        for y in range(h):
            for x in range(w):
                a = (4 - fx) * s(ch, x + ix, y + iy) + fx * s(ch, x + ix + 1, y + iy)
                b = (4 - fx) * s(ch, x + ix, y + iy + 1) + fx * s(ch, x + ix + 1, y + iy + 1)
                out[ch, y, x] = ((4 - fy) * a + fy * b + 8) // 16
    return out


@pytest.mark.parametrize("dx, dy", [(0, 0), (4, 0), (-8, 4), (1, 0), (0, -3), (-5, 7), (9, -2), (-64, 64)])
def test_shift_matches_the_documented_integer_formula(dx, dy):
    prev = np.random.default_rng(abs(dx * 131 + dy)).integers(-40, 40, (3, 5, 7))
    np.testing.assert_array_equal(motion.shift(prev, dx, dy), _reference_shift(prev, dx, dy))


def test_whole_pixel_vectors_move_the_latent_exactly():
    prev = np.arange(2 * 6 * 8).reshape(2, 6, 8)
    moved = motion.shift(prev, 8, -4)  # 2 latent pixels right, 1 up
    np.testing.assert_array_equal(moved[:, 1:, :6], prev[:, :5, 2:])


def test_prediction_uses_each_blocks_vector_and_covers_ragged_edges():
    rng = np.random.default_rng(1)
    prev = rng.integers(-9, 9, (4, 7, 10))
    vectors = rng.integers(-12, 13, (*motion.grid(7, 10, 3), 2))  # 3x4 blocks, last row/column 1 wide
    pred = motion.predict(prev, vectors, 3)
    for r in range(3):
        for c in range(4):
            region = (slice(None), slice(3 * r, 3 * r + 3), slice(3 * c, 3 * c + 3))
            want = motion.shift(prev, *map(int, vectors[r, c]))
            np.testing.assert_array_equal(pred[region], want[region])
    part = motion.predict(prev, vectors, 3, channels=2)  # a level's ladder: the rest are zero
    np.testing.assert_array_equal(part[:2], pred[:2])
    assert not part[2:].any()
    with pytest.raises(ValueError, match="do not cover"):  # a field for another size is a bug, not garbage
        motion.predict(prev, vectors[:2], 3)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (4, 1), (3, 6)])
def test_vectors_round_trip_through_their_elias_codes(shape):
    vectors = np.random.default_rng(sum(shape)).integers(-64, 65, (*shape, 2))
    data = motion.encode_vectors(vectors)
    np.testing.assert_array_equal(motion.decode_vectors(data, *shape), vectors)


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (2, 1), (2, 2), (3, 6), (5, 3)])
def test_the_encoders_predictors_at_once_are_the_raster_order_ones(shape):
    # encode_vectors forms every block's median predictor at once; the decoder's is block by block
    vectors = np.random.default_rng(sum(shape) + 3).integers(-64, 65, (*shape, 2))
    want = np.stack([np.stack([motion._predictor(vectors, r, c) for c in range(shape[1])])
                     for r in range(shape[0])])
    np.testing.assert_array_equal(motion.predictors(vectors), want)


def test_a_smooth_field_codes_in_about_two_bits_per_block():
    vectors = np.tile(np.array([5, -3]), (6, 10, 1))  # one global motion: predicted from neighbours
    assert len(motion.encode_vectors(vectors)) <= (2 * 60 + 16) // 8 + 1


def test_out_of_range_or_damaged_vectors_are_refused():
    with pytest.raises(CoderError, match="out of range"):
        motion.decode_vectors(motion.encode_vectors(np.array([[[65, 0]]])), 1, 1)
    data = motion.encode_vectors(np.array([[[3, -1], [0, 2]]]))
    with pytest.raises(CoderError):
        motion.decode_vectors(data[:-1] if len(data) > 1 else b"", 1, 2)
    with pytest.raises(CoderError):
        motion.decode_vectors(data + b"\xff", 1, 2)


def _smooth_latent(rng: np.random.Generator, c: int, h: int, w: int) -> np.ndarray:
    base = rng.normal(0, 1, (c, h + 8, w + 8))
    for _ in range(3):  # a few box blurs: latents of natural images are spatially correlated
        base = (base + np.roll(base, 1, 1) + np.roll(base, 1, 2) + np.roll(base, (1, 1), (1, 2))) / 4
    return 12 * base


def test_search_finds_a_known_shift():
    rng = np.random.default_rng(3)
    prev = np.rint(_smooth_latent(rng, 6, 16, 24)).astype(np.int64)
    target = motion.shift(prev, 6, -4).astype(np.float32) + rng.normal(0, 0.1, prev.shape).astype(np.float32)
    vectors = motion.search(target, prev, 4, lam=1.0)
    inner = vectors[1:-1, 1:-1].reshape(-1, 2)  # edge blocks see clamped samples
    assert (inner == (6, -4)).all(axis=1).mean() >= 0.9


@pytest.fixture
def tiny(tiny_model_dir):
    return zoo.load("vaegan-tiny")


def _block_cost(target, prev, block, lam, r, k, dx, dy):
    """Squared error of block (r, k) moved by (dx, dy) (float64 bilinear, edge samples past the
    borders) plus lam times the vector's Elias-gamma bits."""
    _, h, w = prev.shape
    pad = motion.MARGIN
    p = np.pad(prev.astype(np.float64), ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    y0, x0 = r * block, k * block
    bh, bw = min(block, h - y0), min(block, w - x0)
    iy, fy = divmod(dy, 4)
    ix, fx = divmod(dx, 4)
    ys, xs = y0 + iy + pad, x0 + ix + pad
    a, b = p[:, ys : ys + bh, xs : xs + bw], p[:, ys : ys + bh, xs + 1 : xs + 1 + bw]
    c, d = p[:, ys + 1 : ys + 1 + bh, xs : xs + bw], p[:, ys + 1 : ys + 1 + bh, xs + 1 : xs + 1 + bw]
    pred = (a * (1 - fx / 4) + b * fx / 4) * (1 - fy / 4) + (c * (1 - fx / 4) + d * fx / 4) * fy / 4
    e = target[:, y0 : y0 + bh, x0 : x0 + bw].astype(np.float64) - pred
    return float((e * e).sum()) + lam * int(elias.gamma_bits((dx, dy)).sum())


def _reference_search(target, prev, block, lam, radius=2):
    """motion.search as its docstring states it, block by block: zero, then integer shifts row by
    row, then the eight half-step and the eight quarter-step neighbours of the best so far; a
    candidate wins only when strictly cheaper."""
    rows, cols = motion.grid(*prev.shape[1:], block)
    out = np.zeros((rows, cols, 2), dtype=np.int64)
    for r in range(rows):
        for k in range(cols):
            cost = functools.partial(_block_cost, target, prev, block, lam, r, k)
            best, v = cost(0, 0), (0, 0)
            for dy in range(-4 * radius, 4 * radius + 1, 4):
                for dx in range(-4 * radius, 4 * radius + 1, 4):
                    if (dx or dy) and (e := cost(dx, dy)) < best:
                        best, v = e, (dx, dy)
            for step in (2, 1):
                cx, cy = v
                for oy in (-step, 0, step):
                    for ox in (-step, 0, step):
                        u = (cx + ox, cy + oy)
                        if (ox or oy) and max(map(abs, u)) <= motion.MAX_VECTOR and (e := cost(*u)) < best:
                            best, v = e, u
            out[r, k] = v
    return out


@pytest.mark.parametrize("shape, block", [((3, 9, 13), 4), ((2, 1, 7), 2), ((4, 12, 12), 3), ((16, 10, 17), 4)])
def test_search_is_the_documented_per_block_search(shape, block):
    rng = np.random.default_rng(shape[2] * block)
    prev = rng.integers(-20, 21, shape)
    # prev moved by a fractional shift plus noise, so that sub-pixel vectors win somewhere.
    target = (motion.shift(prev, 5, -3) + rng.normal(0, 1.5, shape)).astype(np.float32)
    got = motion.search(target, prev, block, lam=2.0)
    want = _reference_search(target, prev, block, 2.0)
    assert got.shape == want.shape and (want != 0).any()
    # The core sums in float32 per position: where it chose differently, only as a near-tie.
    for r, k in zip(*np.nonzero((got != want).any(axis=2))):
        costs = [_block_cost(target, prev, block, 2.0, r, k, *map(int, v)) for v in (got[r, k], want[r, k])]
        assert costs[0] == pytest.approx(costs[1], rel=1e-5)


def test_panning_latents_code_smaller_with_motion_and_decode_in_step(tiny):
    # Latents fed straight to the encoder: a smooth field panning by one latent pixel per frame.
    rng = np.random.default_rng(5)
    c = tiny.latent_channels
    field = _smooth_latent(rng, c, 12, 40) / tiny.gains[2][:, None, None]
    latents = [np.ascontiguousarray(field[:, :, 2 * i : 2 * i + 16]).astype(np.float32) for i in range(6)]
    sizes = {}
    for block in (0, 4):
        enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0, motion_block=block)
        dec = FrameDecoder(tiny, latents[0].shape)
        coded = []
        for y in latents:
            coded.append(enc.encode_latent(y))
            state, _ = dec.decode_symbols(coded[-1].kind, coded[-1].payload)
            np.testing.assert_array_equal(state, enc._prev)
        assert [e.kind for e in coded] == [KEY] + [DELTA] * 5
        sizes[block] = sum(len(e.payload) for e in coded[1:])
        # 12.0: a delta's first byte is its block side (bits 0-5) and context flag (bit 6)
        if block:
            assert all(e.payload[0] & 0x3F == block for e in coded[1:])  # every delta carries vectors
        else:
            assert all(e.payload[0] & 0x3F == 0 for e in coded[1:])
    assert sizes[4] < 0.6 * sizes[0]


def test_static_latents_send_no_motion_section(tiny):
    y = np.random.default_rng(2).normal(0, 3, (tiny.latent_channels, 6, 8)).astype(np.float32)
    enc = FrameEncoder(tiny, 2, gop=100)
    enc.encode_latent(y)
    delta = enc.encode_latent(y)
    assert delta.kind == DELTA and delta.payload[0] & 0x3F == 0


def test_1x_streams_decode_without_a_motion_section(tiny):
    # A 1.x delta payload is the level byte then the symbol section; 2.0 adds the block byte, 3.0 the
    # context flag (0: the 2.x symbol section); 4.0 a context flag in key payloads (0: the 3.x layout);
    # 5.0 codes residuals with the format's tables instead of the model's delta tables; 7.0 has varint
    # lengths and coded selectors (compact=False writes the layouts before it).
    y = np.random.default_rng(4).normal(0, 3, (tiny.latent_channels, 6, 8)).astype(np.float32)
    enc = FrameEncoder(tiny, 1, gop=100, motion_block=0, context_coding=False, residuals=tiny.delta_tables,
                       major=6)
    key = enc.encode_latent(y)
    delta = enc.encode_latent(y + 1.5)
    assert delta.payload[1:3] == b"\0\0"
    v2 = bytes(delta.payload[:2]) + bytes(delta.payload[3:])
    v1 = bytes(delta.payload[:1]) + bytes(delta.payload[3:])
    assert key.payload[1] == 0
    key3 = bytes(key.payload[:1]) + bytes(key.payload[2:])
    for major, payload, key_payload in ((4, delta.payload, key.payload), (3, delta.payload, key3), (2, v2, key3),
                                        (1, v1, key3)):
        dec = FrameDecoder(tiny, y.shape, major=major)
        dec.decode_symbols(KEY, key_payload)
        np.testing.assert_array_equal(dec.decode_symbols(DELTA, payload)[0], enc._prev)


def test_damaged_motion_sections_are_coder_errors(tiny):
    y = np.random.default_rng(6).normal(0, 3, (tiny.latent_channels, 6, 8)).astype(np.float32)
    # 12.0: the vectors (here 2 x 2 blocks of 4, 8 codes) delimit themselves, the section follows them.
    dec = FrameDecoder(tiny, y.shape)
    dec.decode_symbols(KEY, FrameEncoder(tiny, 1, gop=100).encode_latent(y).payload)
    for payload, match in ((bytes([4]), "cut short"), (bytes([4, 0xFE]), "cut short"),
                           (bytes([0x84, 0xFF]), "bilinear flag"),  # bit 7 without a predictor table
                           (bytes([4]) + bytes(9) + b"\xff", "prefix too long"),
                           (bytes([4, 0xFE, 0xE0]), "malformed"),  # seven 1-bit codes, a 3-bit one, padding not zero
                           (bytes([4, 0x01, 0x07, 0xFC]), "out of range")):  # a first vector of 65 quarters
        with pytest.raises(CoderError, match=match):
            dec.decode_symbols(DELTA, payload)
    # 7.0 to 11.x: a level byte, the block byte and the section's length as a varint.
    dec = FrameDecoder(tiny, y.shape, major=11)
    enc = FrameEncoder(tiny, 1, gop=100, major=11)
    dec.decode_symbols(KEY, enc.encode_latent(y).payload)
    for payload, match in ((bytes([1]), "motion block"), (bytes([1, 4]), "motion section length cut short"),
                           (bytes([1, 4, 0x80]), "motion section length cut short"),
                           (bytes([1, 4, 0x80, 0]), "motion section length is not a valid varint"),
                           (bytes([1, 4, 9]), "overruns"), (bytes([1, 4, 0xE8, 0x07, 0x80]), "overruns")):
        with pytest.raises(CoderError, match=match):
            dec.decode_symbols(DELTA, payload)
    # Before 7.0 the length was a u32.
    old = FrameDecoder(tiny, y.shape, major=6)
    old.decode_symbols(KEY, FrameEncoder(tiny, 1, gop=100, major=6).encode_latent(y).payload)
    for payload, match in ((bytes([1, 4, 9]), "motion section"),
                           (bytes([1, 4]) + (1000).to_bytes(4, "little") + b"\x80", "overruns")):
        with pytest.raises(CoderError, match=match):
            old.decode_symbols(DELTA, payload)


def test_format_7_deltas_drop_the_fixed_overhead_and_6x_layouts_still_decode(tiny):
    # 7.0 codes a delta's selectors (nearly all zero when little changes) with the selector table and
    # its lengths as varints; the 6.x layout spends K·log2(15) bits on selectors and u32 lengths.
    rng = np.random.default_rng(8)
    y = rng.normal(0, 3, (tiny.latent_channels, 12, 16)).astype(np.float32)
    y2 = np.roll(y, 1, axis=2)  # a pan: the delta carries vectors
    sizes = {}
    for major in (7, 6):
        enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0, motion_block=4, major=major)
        dec = FrameDecoder(tiny, y.shape, major=major)
        coded = []
        for v in (y, y2, y2):  # key, a delta with vectors, an unchanged frame
            coded.append(enc.encode_latent(v))
            np.testing.assert_array_equal(dec.decode_symbols(coded[-1].kind, coded[-1].payload)[0], enc._prev)
        assert [e.kind for e in coded] == [KEY, DELTA, DELTA] and coded[1].payload[1] == 4
        sizes[major] = [len(e.payload) for e in coded]
    # The key: its two lengths shrank (8 bytes to 2 or 3) and its last word lost any zero bytes (0-3).
    assert 5 <= sizes[6][0] - sizes[7][0] <= 9
    assert sizes[7][1] < sizes[6][1] - 6  # u32 motion and section lengths (12 bytes) became varints
    # Nothing changed: every selector 0 and no residual after them, so ANS writes no word at all (the
    # stack's empty state codes the most probable symbols for free): level, block, context and two
    # one-byte lengths, against 3 + 4 + 4 bytes.
    assert (sizes[7][2], sizes[6][2]) == (5, 11)


def test_motion_block_out_of_range_is_a_usage_error(tiny):
    with pytest.raises(UsageError, match="motion block"):
        FrameEncoder(tiny, 1, motion_block=256)
    with pytest.raises(UsageError, match=f"5 to {FORMAT_MAJOR}"):  # layouts before 5.0 are read, not written
        FrameEncoder(tiny, 1, major=4)
    with pytest.raises(UsageError, match="0 to 31 latent pixels"):  # 14.0's block byte holds 5 bits of it
        FrameEncoder(tiny, 1, motion_block=32)
    with pytest.raises(UsageError, match="0 to 63 latent pixels"):  # 12.0's 6 bits
        FrameEncoder(tiny, 1, motion_block=64, major=13)
    FrameEncoder(tiny, 1, motion_block=63, major=13)
    FrameEncoder(tiny, 1, motion_block=64, major=11)


def test_format_12_payloads_drop_their_lengths_and_the_deltas_level(tiny):
    # The same frames as 11.x and 12.0: the same symbols, and 12.0's key without its context byte and
    # section length, its deltas without level, context byte, motion and section lengths.
    rng = np.random.default_rng(8)
    y = rng.normal(0, 3, (tiny.latent_channels, 12, 16)).astype(np.float32)
    y2 = np.roll(y, 1, axis=2)  # a pan: the delta carries vectors
    sizes, states = {}, {}
    for major in (12, 11):
        enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0, motion_block=4, major=major)
        dec = FrameDecoder(tiny, y.shape, major=major)
        coded, states[major] = [], []
        for v in (y, y2, y2):  # key, a delta with vectors, an unchanged frame
            coded.append(enc.encode_latent(v))
            states[major].append(dec.decode_symbols(coded[-1].kind, coded[-1].payload)[0])
            np.testing.assert_array_equal(states[major][-1], enc._prev)
        assert [e.kind for e in coded] == [KEY, DELTA, DELTA]
        sizes[major] = [len(e.payload) for e in coded]
    np.testing.assert_array_equal(np.stack(states[12]), np.stack(states[11]))
    # The key loses its context byte and its section's lengths, the delta its level, context byte,
    # motion and section lengths; both carry their escapes (many here: latents not scaled down) in the
    # ANS stream, in fewer bits than Elias codes.
    assert sizes[11][0] - sizes[12][0] >= 3 and sizes[11][1] - sizes[12][1] >= 5
    # Nothing changed: the block byte alone (context flag set), no ANS byte at all, against level,
    # block, context and two one-byte lengths.
    assert (sizes[12][2], sizes[11][2]) == (1, 5)


def test_search_radius_stays_inside_the_vector_range():
    prev = np.zeros((2, 8, 8), dtype=np.int64)
    motion.search(prev.astype(np.float32), prev, 4, 1.0, radius=motion.MAX_VECTOR // motion.SUBPEL)
    with pytest.raises(ValueError, match="radius"):  # candidates past the padding would read stray memory
        motion.search(prev.astype(np.float32), prev, 4, 1.0, radius=motion.MAX_VECTOR // motion.SUBPEL + 1)


def test_the_encoder_keeps_the_plain_prediction_when_motion_does_not_pay(tiny, monkeypatch):
    # A search that proposes a wrong shift on static latents: the frame-level choice refuses it.
    y = _smooth_latent(np.random.default_rng(8), tiny.latent_channels, 12, 16).astype(np.float32)
    y /= tiny.gains[2][:, None, None]
    monkeypatch.setattr(motion, "search", lambda t, p, block, lam: np.full((*motion.grid(*y.shape[1:], block), 2), 8))
    enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0)
    dec = FrameDecoder(tiny, y.shape)
    for latent in (y, y + 0.01, y - 0.01):
        coded = enc.encode_latent(latent)
        np.testing.assert_array_equal(dec.decode_symbols(coded.kind, coded.payload)[0], enc._prev)
        if coded.kind == DELTA:
            assert coded.payload[0] & 0x3F == 0  # 12.0: no motion section (block side 0)


@pytest.mark.parametrize("block", [0, 4])
def test_rdoq_trades_squared_error_for_bits_and_stays_in_step(tiny, block):
    # Small scattered changes just past the dead zone: sending them costs many bits each, so the
    # rate-distortion choice steps some toward zero; the decoder follows whatever is sent. With
    # motion on, the candidates are weighed before RDOQ and the winner gets it.
    rng = np.random.default_rng(21)
    y = rng.normal(0, 3, (tiny.latent_channels, 12, 16)).astype(np.float32) / tiny.gains[2][:, None, None]
    step = np.where(rng.random(y.shape) < 0.2, rng.choice([-1.0, 1.0], y.shape) * rng.uniform(0.9, 2.6, y.shape), 0.0)
    moved = (y + step / tiny.gains[2][:, None, None]).astype(np.float32)
    out = {}
    for rdoq in (False, True):
        enc = FrameEncoder(tiny, 2, gop=100, scene_cut=10.0, motion_block=block, rdoq=rdoq)
        dec = FrameDecoder(tiny, y.shape)
        dec.decode_symbols(KEY, enc.encode_latent(y).payload)
        key_state = enc._prev.copy()
        delta = enc.encode_latent(moved)
        assert delta.kind == DELTA
        np.testing.assert_array_equal(dec.decode_symbols(DELTA, delta.payload)[0], enc._prev)
        target = moved * tiny.gains[2][:, None, None]
        err = float(((target - enc._prev)[: enc.channels] ** 2).sum())
        out[rdoq] = (8 * len(delta.payload), err, np.abs(enc._prev - key_state).sum())
    (bits_off, err_off, sent_off), (bits_on, err_on, sent_on) = out[False], out[True]
    assert bits_on < bits_off and err_on > err_off and sent_on < sent_off
    # It only takes steps worth their bits: the total cost at the encoder's lambda does not rise.
    assert err_on + 0.2 * bits_on <= err_off + 0.2 * bits_off
