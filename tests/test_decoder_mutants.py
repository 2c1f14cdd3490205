"""Tests from a mutation-testing pass over the frame decoders (vaegan.FrameDecoder and the helpers it
calls, gan.GanFrameDecoder and its payload parsing, colour's parsing and the correction in force):
each holds a rule of docs/FORMAT.md that a changed decoder broke without any other test noticing.
Damaged or forged payloads must raise CoderError (the caller conceals), never IndexError, ValueError
or struct.error, and must not decode silently to something else."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from conftest import DATA

from vidcodec import container
from vidcodec.api import _colour_section
from vidcodec.codec import context, gan, motion
from vidcodec.codec.vaegan import FrameDecoder
from vidcodec.coding import qsgd
from vidcodec.coding.entropy import SymbolWriter
from vidcodec.errors import CoderError, CorruptPacketError, UsageError
from vidcodec.models import zoo


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return zoo.load("vaegan-tiny")


def _golden(name: str) -> tuple[container.StreamHeader, list[tuple[str, bytes]]]:
    """A golden stream's header and its (kind, frame payload) pairs, colour sections taken off."""
    with container.GvcReader(DATA / f"{name}.gvc") as r:
        h = r.header
        packets = [("key" if p.kind == container.PacketType.KEY else "delta", bytes(_colour_section(p, h)[1]))
                   for p in r]
    return h, packets


def _decoder(m, h: container.StreamHeader, predictor: bool | None = None) -> FrameDecoder:
    """A decoder for golden stream header ``h`` (with the predictor table the stream names, or as told)."""
    if predictor is None:
        predictor = h.version[0] >= 10 and container.subpel_table(h) is not None
    return FrameDecoder(m, h.latent_shape, major=h.version[0], predictor=m.subpel if predictor else None)


def _zero_selectors(m, h: container.StreamHeader, level: int | None = None) -> bytes:
    """A 7.0-11.x delta symbol section whose K selectors are all 0 (no residuals)."""
    w = SymbolWriter("ans", compact=True)
    w.put_freqs(context.SELECTOR_FREQS, np.zeros(m.level_channels[h.quality - 1 if level is None else level], np.int64))
    return w.finish()


# --- FrameDecoder's construction -------------------------------------------------------------------

def test_a_latent_shape_with_other_channels_than_the_models_is_refused(tiny):
    c = tiny.latent_channels
    FrameDecoder(tiny, (c, 3, 4))
    for channels in (c - 1, c + 1):
        with pytest.raises(CorruptPacketError, match="latent channels"):
            FrameDecoder(tiny, (channels, 3, 4))


def test_only_majors_1_to_15_are_read(tiny):
    FrameDecoder(tiny, (tiny.latent_channels, 3, 4), major=1)
    FrameDecoder(tiny, (tiny.latent_channels, 3, 4), major=15)
    for major in (0, 16):
        with pytest.raises(UsageError, match="format major version"):
            FrameDecoder(tiny, (tiny.latent_channels, 3, 4), major=major)


# --- decode_symbols: what every payload is checked for ---------------------------------------------

def test_a_packet_kind_other_than_key_or_delta_is_damage(tiny):
    for name in ("golden_compact", "golden_exact"):
        h, packets = _golden(name)
        dec = _decoder(tiny, h)
        state, _ = dec.decode_symbols(*packets[0])
        for kind in ("parameters", "KEY", ""):
            with pytest.raises(CoderError, match="unknown packet kind"):  # a key's bytes: a valid level
                dec.decode_symbols(kind, packets[0][1])
        np.testing.assert_array_equal(dec.decode_symbols(*packets[0])[0], state)


@pytest.mark.parametrize("name", ["golden_compact", "golden_exact"])
def test_a_key_level_past_the_models_last_is_damage(tiny, name):
    # 0 <= level < L (FORMAT.md, key payload); from 12.0 bits 0-6 of the first byte, bit 7 the context flag
    h, packets = _golden(name)
    key = packets[0][1]
    for level in (tiny.levels, tiny.levels + 1, 0x7F):
        forged = bytes([(key[0] & 0x80) | level]) + key[1:] if h.version[0] >= 12 else bytes([level]) + key[1:]
        with pytest.raises(CoderError, match="level"):
            _decoder(tiny, h).decode_symbols("key", forged)
    last = bytes([(key[0] & 0x80) | (tiny.levels - 1)]) + key[1:] if h.version[0] >= 12 else \
        bytes([tiny.levels - 1]) + key[1:]
    try:  # the last level is a level: whatever the symbols, not refused for it
        _decoder(tiny, h).decode_symbols("key", last)
    except CoderError as e:
        assert "level" not in str(e)


# --- a keyframe starts afresh ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["golden_temporal", "golden_oriented", "golden_lean", "golden_exact"])
def test_a_key_resets_every_state_a_delta_leaves(tiny, name):
    # After a key, context-coded residuals have temporal context 0 everywhere (8.0 on: no previous
    # delta's residuals) and 13.0 selectors are coded with row 0: a decoder that meets the key again
    # after a GOP of deltas decodes what follows as a decoder that joins there does.
    h, packets = _golden(name)
    dec = _decoder(tiny, h)
    first = [dec.decode_symbols(*p)[0] for p in packets]
    again = [dec.decode_symbols(*p)[0] for p in packets[:3]]
    for a, b in zip(first[:3], again, strict=True):
        np.testing.assert_array_equal(a, b)


# --- 12.0 on: the delta head byte and the motion vectors -------------------------------------------

def _after_key(m, name: str, predictor: bool | None = None) -> tuple[FrameDecoder, np.ndarray]:
    """A decoder of golden stream ``name`` (with or without a predictor table) that has decoded its key."""
    h, packets = _golden(name)
    dec = _decoder(m, h, predictor)
    return dec, dec.decode_symbols(*packets[0])[0]


def test_the_bilinear_flag_in_a_stream_without_a_predictor_table_is_damage(tiny):
    # (test_motion holds this with a payload that fails anyway; here the payload decodes but for the flag)
    # FORMAT.md, 12.0 delta head: bit 7 "in streams without header tag 3 it must be 0, else the packet
    # is undecodable"; B = 16 (one block) or 0, a zero vector, an empty section: decodable but for the flag
    for name in ("golden_lean", "golden_exact"):
        dec, key = _after_key(tiny, name, predictor=False)
        block = 16  # a side covering the 12x16 latent in one block
        zero = motion.encode_vectors(np.zeros((1, 1, 2), np.int64))
        np.testing.assert_array_equal(dec.decode_symbols("delta", bytes([block]) + zero)[0], key)
        for forged in (bytes([0x80 | block]) + zero, b"\x80" + zero, b"\xc0" + zero, b"\x80"):
            with pytest.raises(CoderError, match="bilinear flag"):
                dec.decode_symbols("delta", forged)


@pytest.mark.parametrize("name", ["golden_lean", "golden_terse"])
def test_before_14_bit_5_of_the_head_is_part_of_the_block_side(tiny, name):
    # 12.0/13.0: bits 0-5 the block side (1 ... 63); the fine flag is 14.0's. B = 32 and B = 63 both
    # cut the 12x16 latent into one block: one zero vector, an empty section, the same state.
    for predictor in (True, False):
        dec, _ = _after_key(tiny, name, predictor)
        zero = motion.encode_vectors(np.zeros((1, 1, 2), np.int64))
        got = [dec.decode_symbols("delta", bytes([block]) + zero)[0] for block in (32, 63, 32 | 0x40)]
        for g in got[1:]:
            np.testing.assert_array_equal(g, got[0])


@pytest.mark.parametrize("name,predictor,bilinear_bit", [("golden_compact", False, 0), ("golden_exact", False, 0),
                                                          ("golden_exact", True, 0x80)])
def test_bilinear_vectors_past_64_quarters_are_damage(tiny, name, predictor, bilinear_bit):
    # Motion vectors in quarters: |dx|, |dy| <= 64, "a larger value makes the packet undecodable"
    # (the learned predictor's sixteenths go to 256; a bilinear delta's quarters do not, also the
    # bit-7 deltas of a stream with a predictor table); 7.0 and 15.0 layouts, at the bound and past it
    h, packets = _golden(name)
    lean = h.version[0] >= 12
    block = 8
    rows, cols = motion.grid(h.latent_shape[1], h.latent_shape[2], block)
    for v, ok in ((64, True), (-64, True), (65, False), (-65, False), (256, False)):
        dec = _decoder(tiny, h, predictor)
        dec.decode_symbols(*packets[0])
        for axis in (0, 1):
            vectors = np.zeros((rows, cols, 2), np.int64)
            vectors[..., axis] = v
            codes = motion.encode_vectors(vectors)
            if lean:
                payload = bytes([bilinear_bit | block]) + codes  # an empty section: no residuals
            else:  # 7.0: level, block, varint n_mv, vectors, context flag, a section of K zero selectors
                payload = bytes([packets[1][1][0], block, len(codes)]) + codes + b"\x00" + _zero_selectors(tiny, h)
            if ok:
                dec.decode_symbols("delta", payload)
            else:
                with pytest.raises(CoderError, match="out of range"):
                    dec.decode_symbols("delta", payload)


@pytest.mark.parametrize("name", ["golden_motion", "golden_context", "golden_residual"])
def test_a_2_to_6_motion_length_is_a_u32_and_past_the_payload_is_damage(tiny, name):
    # formats 2.x-6.x: level, block B > 0, then n_mv as a u32: a length past the payload's end is damage,
    # and its fourth byte counts (n_mv + 2**24 is not n_mv)
    h, packets = _golden(name)
    delta = packets[1][1]
    assert delta[1] > 0
    n_mv = int.from_bytes(delta[2:6], "little")
    for forged in (len(delta) - 6 + 1, n_mv + (1 << 24), n_mv + (1 << 31), 2**32 - 1):
        dec = _decoder(tiny, h)
        dec.decode_symbols(*packets[0])
        with pytest.raises(CoderError, match="overruns"):
            dec.decode_symbols("delta", delta[:2] + forged.to_bytes(4, "little") + delta[6:])
    dec = _decoder(tiny, h)
    dec.decode_symbols(*packets[0])
    dec.decode_symbols(*packets[1])  # with its own length it decodes


# --- GAN mode --------------------------------------------------------------------------------------

F32_MAX = float(np.finfo(np.float32).max)


@pytest.fixture(scope="module")
def tiny_gan(tiny_model_dir):
    return zoo.load("pgan-tiny")


def _gan_golden(name: str) -> tuple[container.StreamHeader, list[tuple[str, bytes]]]:
    with container.GvcReader(DATA / f"{name}.gvc") as r:
        return r.header, [("key" if p.kind == container.PacketType.KEY else "delta", bytes(p.payload)) for p in r]


def _gan_decoder(m, h: container.StreamHeader) -> gan.GanFrameDecoder:
    return gan.GanFrameDecoder(m, tuple(h.latent_shape), major=h.version[0])


@pytest.mark.parametrize("name", ["golden_gan", "golden_gan_features"])
def test_gan_a_packet_kind_other_than_key_or_delta_is_damage_and_the_level_is_0(tiny_gan, name):
    h, packets = _gan_golden(name)
    dec = _gan_decoder(tiny_gan, h)
    for kind, payload in packets[:2]:
        assert dec.decode_symbols(kind, payload)[1] == 0  # "the frame's state ... and level 0"
    for kind in ("parameters", "KEY", ""):
        with pytest.raises(CoderError, match="unknown packet kind"):
            dec.decode_symbols(kind, packets[0][1])


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_gan_a_latent_that_overflows_float32_is_damage(tiny_gan):
    # Latent space: each value is finite (|value| <= its finite norm), but a delta added to the previous
    # latent can pass float32's range: the state is not finite, the packet is damaged.
    h, _ = _gan_golden("golden_gan")
    bits, n = 8, tiny_gan.latent
    q = np.zeros(n, np.int64)
    q[3] = 2**bits - 1
    big = struct.pack("<B", bits) + qsgd.pack(F32_MAX, q)
    dec = _gan_decoder(tiny_gan, h)
    state, _ = dec.decode_symbols("key", big)
    assert state[3] == np.float32(F32_MAX)
    with pytest.raises(CoderError, match="not finite"):
        dec.decode_symbols("delta", big)
    np.testing.assert_array_equal(dec.decode_symbols("delta", struct.pack("<B", bits) + qsgd.pack(0.0, 0 * q))[0],
                                  state)  # the damaged delta left the state as it was


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_gan_a_feature_map_that_overflows_float32_is_damage(tiny_gan):
    # Feature space: corrections add to the state; two at float32's largest norm pass its range
    h, packets = _gan_golden("golden_gan_features")
    bits = 8
    q = np.zeros(int(np.prod(h.latent_shape)), np.int64)
    q[5] = 2**bits - 1
    big = struct.pack("<B", bits) + qsgd.pack_sparse(F32_MAX, q)
    dec = _gan_decoder(tiny_gan, h)
    dec.decode_symbols(*packets[0])
    # one is finite, but far past what the generator's float32 survives (gan.STATE_LIMIT): damage already
    # (two had been needed, their sum not finite)
    with pytest.raises(CoderError, match="out of range"):
        dec.decode_symbols("delta", big)
