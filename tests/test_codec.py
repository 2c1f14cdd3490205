"""Frame ↔ packet coding: keyframe/delta bookkeeping, closed loop, identity, round trips."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest

import vidcodec
from vidcodec.codec.vaegan import DELTA, KEY, FrameDecoder, FrameEncoder, to_rgb, to_tensor
from vidcodec.coding.tables import IntTables
from vidcodec.errors import CoderError, UsageError
from vidcodec.models import zoo


@pytest.fixture
def tiny(tiny_model_dir):
    return zoo.load("vaegan-tiny")


def _encode_frames(model, frames, **kw):
    enc = FrameEncoder(model, kw.pop("level", 1), **kw)
    coded = []
    for f in frames:
        y = model.analyze(to_tensor(f))[0]
        coded.append(enc.encode_latent(y))
        coded[-1].state = enc._prev.copy()
    return coded


def test_padding_round_trips_odd_sizes():
    rgb = np.random.default_rng(0).integers(0, 256, (47, 63, 3), dtype=np.uint8)
    x = to_tensor(rgb)
    assert x.shape == (1, 3, 48, 64)
    np.testing.assert_array_equal(to_rgb(x, 63, 47), rgb)


def test_decoder_reaches_the_encoders_integer_latent_at_every_frame(tiny, static_frames):
    moving = [np.roll(f, 3 * i, axis=1) for i, f in enumerate(static_frames)]
    coded = _encode_frames(tiny, moving, gop=100, scene_cut=10.0)
    dec = FrameDecoder(tiny, coded[0].state.shape)
    for c in coded:
        symbols, level = dec.decode_symbols(c.kind, c.payload)
        np.testing.assert_array_equal(symbols, c.state)
        assert level == 1
    assert [c.kind for c in coded] == [KEY] + [DELTA] * (len(coded) - 1)


def test_channel_rd_choice_leaves_cheap_changes_unsent_and_stays_in_step(tiny, static_frames):
    moving = [np.roll(f, 2 * i, axis=1) for i, f in enumerate(static_frames)]
    # Without motion compensation, so that "every channel unchanged" means the first frame's latent.
    kw = {"gop": 100, "scene_cut": 10.0, "motion_block": 0}
    plain = _encode_frames(tiny, moving, channel_lambda=0.0, **kw)
    rdo = _encode_frames(tiny, moving, channel_lambda=0.2, **kw)
    frozen = _encode_frames(tiny, moving, channel_lambda=1e9, **kw)
    size = [sum(len(c.payload) for c in coded[1:]) for coded in (plain, rdo, frozen)]
    assert size[0] > size[1] > size[2]
    assert all(np.array_equal(c.state, frozen[0].state) for c in frozen)  # every channel "unchanged"
    dec = FrameDecoder(tiny, rdo[0].state.shape)
    for c in rdo:
        np.testing.assert_array_equal(dec.decode_symbols(c.kind, c.payload)[0], c.state)


def test_delta_lambdas_cycle_from_the_keyframe(tiny, static_frames):
    # Factor 0 sends every residual past the dead zone, 1e9 none: with the cycle (1e9, 0) the deltas
    # 1, 3, 5 ... after a keyframe change the latent and 2, 4 ... leave it as it was.
    moving = [np.roll(f, 2 * i, axis=1) for i, f in enumerate(static_frames)]
    kw = {"gop": 100, "scene_cut": 10.0, "motion_block": 0}
    coded = _encode_frames(tiny, moving, delta_lambdas=(1e9, 0.0), **kw)
    assert [c.kind for c in coded] == [KEY] + [DELTA] * (len(coded) - 1)
    changed = [not np.array_equal(a.state, b.state) for a, b in itertools.pairwise(coded)]
    assert changed == [n % 2 == 1 for n in range(1, len(coded))]
    # a cycle of equal factors is one factor; a cascade changes what the encoder sends
    one = _encode_frames(tiny, moving, delta_lambdas=(1.0,), **kw)
    assert [c.payload for c in _encode_frames(tiny, moving, delta_lambdas=(1.0, 1.0, 1.0), **kw)] == [
        c.payload for c in one]
    cascade = _encode_frames(tiny, moving, delta_lambdas=(0.5, 1.3, 1.1, 1.3), **kw)
    assert [c.payload for c in cascade] != [c.payload for c in one]
    dec = FrameDecoder(tiny, coded[0].state.shape)
    for c in coded:
        np.testing.assert_array_equal(dec.decode_symbols(c.kind, c.payload)[0], c.state)


@pytest.mark.parametrize("factors", [(), (1.0, -0.5), (float("nan"),)])
def test_delta_lambdas_must_be_numbers_at_least_zero(tiny, factors):
    with pytest.raises(UsageError, match="delta lambda"):
        FrameEncoder(tiny, 1, delta_lambdas=factors)


def test_static_content_codes_deltas_much_smaller_than_keyframes(tiny, static_frames):
    coded = _encode_frames(tiny, static_frames, gop=32)
    key = len(coded[0].payload)
    deltas = [len(c.payload) for c in coded[1:]]
    assert coded[0].kind == KEY and all(c.kind == DELTA for c in coded[1:])
    assert max(deltas) < key / 3


@pytest.mark.parametrize("gop, keys", [(1, list(range(10))), (4, [0, 4, 8]), (32, [0])])
def test_keyframe_every_gop_frames(tiny, static_frames, gop, keys):
    coded = _encode_frames(tiny, static_frames, gop=gop)
    assert [i for i, c in enumerate(coded) if c.kind == KEY] == keys


def test_scene_cut_starts_a_keyframe(tiny, static_frames):
    # Textured frames, then a cut to an unrelated texture: no motion predicts it, a fresh key is cheaper.
    other = np.random.default_rng(7).integers(0, 256, static_frames[0].shape, dtype=np.uint8)
    coded = _encode_frames(tiny, static_frames[:4] + [other] * 3, gop=100)
    assert coded[4].kind == KEY


@pytest.mark.parametrize("scene_cut", [0.7, 0.5, 0.4])
def test_scene_cut_choices_are_the_ones_exact_key_sizes_make(tiny, static_frames, scene_cut, monkeypatch):
    # The encoder codes a keyframe only when its delta nears a bound from the key tables' bits; with
    # the bound at zero every frame's keyframe is coded and compared: the streams must be the same.
    rng = np.random.default_rng(3)
    other = rng.integers(0, 256, static_frames[0].shape, dtype=np.uint8)
    noisy = [np.clip(other.astype(int) + rng.integers(-a, a + 1, other.shape), 0, 255).astype(np.uint8)
             for a in (4, 16, 32, 64, 8, 96)]
    frames = static_frames[:4] + [other] * 2 + noisy
    lazy = _encode_frames(tiny, frames, gop=100, scene_cut=scene_cut)
    monkeypatch.setattr(FrameEncoder, "_near_key_bound", lambda self, delta_bytes, symbols: True)
    exact = _encode_frames(tiny, frames, gop=100, scene_cut=scene_cut)
    assert [(c.kind, c.payload) for c in lazy] == [(c.kind, c.payload) for c in exact]
    assert KEY in [c.kind for c in lazy[1:]] and DELTA in [c.kind for c in lazy]


def test_delta_without_reference_is_refused(tiny, static_frames):
    coded = _encode_frames(tiny, static_frames[:2])
    dec = FrameDecoder(tiny, coded[0].state.shape)
    with pytest.raises(CoderError, match="keyframe"):
        dec.decode_symbols(coded[1].kind, coded[1].payload)


def test_level_out_of_range_is_a_usage_error(tiny):
    with pytest.raises(UsageError, match="0..2"):
        FrameEncoder(tiny, 3)


def test_api_round_trip_keeps_count_size_and_pts(tiny_model_dir, clip, tmp_path):
    out = tmp_path / "a.gvc"
    stats = vidcodec.encode(clip, out, model="vaegan-tiny", quality=2, gop=4)
    assert stats.frames == 12 and stats.bytes == out.stat().st_size
    assert stats.keyframes >= 3
    frames = list(vidcodec.frames(out))
    assert len(frames) == 12
    assert frames[0].rgb.shape == (48, 64, 3)
    assert [f.pts for f in frames] == sorted({f.pts for f in frames})
    assert [f.key for f in frames][:5] == [True, False, False, False, True]


def test_same_input_and_model_give_identical_bytes(tiny_model_dir, clip, tmp_path):
    digests = set()
    for name in ("a.gvc", "b.gvc"):
        vidcodec.encode(clip, tmp_path / name, model="vaegan-tiny", quality=2)
        digests.add(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert len(digests) == 1


def test_elias_mode_decoder_tracks_the_encoders_qsgd_latent_exactly(tiny, static_frames):
    moving = [np.roll(f, 2 * i, axis=1) for i, f in enumerate(static_frames)]
    coded = _encode_frames(tiny, moving, coder="elias", latent_bits=6, gop=4)
    dec = FrameDecoder(tiny, coded[0].state.shape, coder="elias")
    for c in coded:
        state, _ = dec.decode_symbols(c.kind, c.payload)
        np.testing.assert_array_equal(state, c.state)  # closed loop: bit-identical float32 latents
    assert coded[0].kind == KEY


def test_an_elias_payload_with_another_value_count_or_bytes_after_its_levels_is_damage(tiny, static_frames):
    """n_values must be K.h.w (a forged count was unpacked, up to 8 values a byte of the section) and the
    levels end the payload (bytes after them were ignored): both are damage, found by an independent
    reader written from docs/FORMAT.md."""
    import struct

    coded = _encode_frames(tiny, static_frames[:1], coder="elias", latent_bits=4, gop=4)[0]
    payload = coded.payload
    k = tiny.level_channels[payload[0]]
    at = 2 + 4 * k  # n_values
    n = struct.unpack_from("<I", payload, at)[0]
    dec = FrameDecoder(tiny, coded.state.shape, coder="elias")
    np.testing.assert_array_equal(dec.decode_symbols(KEY, payload)[0], coded.state)
    more = payload[:at] + struct.pack("<I", n + 8) + payload[at + 4:]
    for bad, said in ((more, f"counts {n + 8} values where its level codes K.h.w = {n}"),
                      (payload + b"\x00", "bytes after an Elias payload's levels")):
        with pytest.raises(CoderError, match=said):
            FrameDecoder(tiny, coded.state.shape, coder="elias").decode_symbols(KEY, bad)


def test_elias_mode_is_reproducible_and_close_to_ans(tiny_model_dir, clip, tmp_path):
    decoded, digests = {}, set()
    for name, coder in (("ans", "ans"), ("elias", "elias"), ("elias2", "elias")):
        out = tmp_path / f"{name}.gvc"
        vidcodec.encode(clip, out, model="vaegan-tiny", quality=2, coder=coder,
                        latent_bits=6 if coder == "elias" else None)  # ans quantizes by quality
        decoded[name] = np.stack([f.rgb for f in vidcodec.frames(out)]).astype(float)
        if coder == "elias":
            digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
    assert len(digests) == 1  # stochastic rounding is seeded by stream and frame: same bytes
    mse = np.mean((decoded["ans"] - decoded["elias"]) ** 2)
    assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 25


def test_higher_quality_spends_more_bits(tiny_model_dir, clip, tmp_path):
    sizes = [vidcodec.encode(clip, tmp_path / f"q{q}.gvc", model="vaegan-tiny", quality=q).bytes
             for q in (1, 2, 3)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[2]


def test_to_rgb_rounds_half_to_even_and_matches_the_plain_formula():
    rng = np.random.default_rng(5)
    x = rng.random((1, 3, 48, 80), dtype=np.float32)
    x[0, :, 0, :6] = np.array([0.5, 1.5, 2.5, 127.5, 254.5, 255.0], dtype=np.float32) / np.float32(255.0)
    out = to_rgb(x, 70, 45)
    want = np.rint(x[0, :, :45, :70] * np.float32(255.0)).astype(np.uint8).transpose(1, 2, 0)
    assert out.shape == (45, 70, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, want)


def test_key_table_floor_bounds_the_exact_bits_from_below(tiny):
    # The scene-cut check's shortcut: the bound from non-zero counts never exceeds the exact bits (zeros
    # alone reach it but for the hair it is lowered by), whatever mix of zeros, small values and escapes.
    rng = np.random.default_rng(11)
    for level in range(tiny.levels):
        tables, k = tiny.key_tables[level], tiny.level_channels[level]
        assert tables.floor_bits(np.zeros((k, 5, 6), np.int64)) == pytest.approx(
            tables.row_bits(np.zeros((k, 5, 6), np.int64)), rel=1e-8)
        for spread in (1, 3, 40):
            symbols = rng.integers(-spread, spread + 1, (k, 5, 6)) * (rng.random((k, 5, 6)) < 0.4)
            floor, exact = tables.floor_bits(symbols), tables.row_bits(symbols)
            assert 0 < floor <= exact
    # a table whose range leaves 0 out (0 takes the escape, which values out of range share) and one
    # where 0 has a cheap column of its own
    t = IntTables(np.array([1, -1], np.int32), np.array([3, 4], np.int32),
                  np.array([[5000, 536, 60000, 0], [100, 200, 65000, 236]], np.int32))
    for symbols in ([[0, 0, 1], [5, -3, -2]], [[2, 9, 0], [0, 0, 0]], [[1, 1, 1], [-1, 7, -8]]):
        symbols = np.array(symbols)
        assert t.floor_bits(symbols) <= t.row_bits(symbols)


def test_key_table_bits_of_all_channels_at_once_match_the_tables_one_by_one(tiny):
    rng = np.random.default_rng(8)
    enc = FrameEncoder(tiny, 2)
    k = tiny.level_channels[2]
    symbols = rng.integers(-40, 40, (k, 6, 7))  # escapes on both sides of most tables too
    tables = tiny.key_tables[2]
    want = sum(tables.bits(c, symbols[c]) for c in range(k))
    assert enc._key_table_bits(symbols, 2) == pytest.approx(want, rel=1e-12)
