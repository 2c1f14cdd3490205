"""The committed golden stream keeps decoding to the same symbols and frames.

If this fails after a change, the change altered the bitstream or its decoding: bump the format
version on purpose (docs/FORMAT.md) and keep old streams decodable, rather than regenerating the
golden files.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
from conftest import DATA

import vidcodec
from vidcodec import container
from vidcodec.api import _colour_section
from vidcodec.codec import colour, motion
from vidcodec.codec.vaegan import FrameDecoder
from vidcodec.coding import varint
from vidcodec.errors import CoderError
from vidcodec.models import zoo

SYMBOLS_SHA256 = "b6f4497a389b789e18136f3c1872ce3de91d1146d33a7055d9fe9c52d11febb1"


def test_golden_header_is_version_1_and_names_the_tiny_model_by_hash(tiny_model_dir):
    with container.GvcReader(DATA / "golden.gvc") as r:
        h = r.header
        assert r.version == (1, 0)
    assert (h.width, h.height, h.latent_shape, h.gop, h.quality) == (62, 46, (8, 3, 4), 3, 2)
    assert h.model_hash.hex() == zoo.file_sha256(DATA / "vaegan-tiny.safetensors")


def test_golden_stream_decodes_to_the_same_integer_symbols(tiny_model_dir):
    digest = hashlib.sha256()
    with container.GvcReader(DATA / "golden.gvc") as r:
        h = r.header
        dec = FrameDecoder(zoo.load(h.model_name, h.model_hash.hex()), h.latent_shape, major=1)
        kinds = []
        for p in r:
            kinds.append(p.kind)
            symbols, _ = dec.decode_symbols("key" if p.kind == container.PacketType.KEY else "delta", p.payload)
            digest.update(symbols.astype("<i8").tobytes())
    assert kinds == [1, 2, 2, 1, 2, 2]
    assert digest.hexdigest() == SYMBOLS_SHA256


def test_golden_stream_decodes_to_the_same_frames(tiny_model_dir):
    want = np.load(DATA / "golden_frames.npz")
    got = list(vidcodec.frames(DATA / "golden.gvc"))
    assert [f.pts for f in got] == want["pts"].tolist()
    assert [f.key for f in got] == want["key"].tolist()
    rgb = np.stack([f.rgb for f in got]).astype(int)
    # Symbols are exact; only the synthesis transform's float arithmetic may differ across CPUs.
    assert np.abs(rgb - want["rgb"]).max() <= 2
    assert np.abs(rgb - want["rgb"]).mean() < 0.05


def _golden_pan_packets(name: str, version: tuple[int, int]) -> list:
    """A golden pan stream's packets (one key, five deltas), after checking its format version."""
    with container.GvcReader(DATA / f"golden_{name}.gvc") as r:
        assert r.version == version and r.header.version == version
        packets = list(r)
    assert [p.kind for p in packets] == [1, 2, 2, 2, 2, 2]
    return packets


def test_golden_motion_stream_is_version_2_with_motion_in_every_delta(tiny_model_dir):
    packets = _golden_pan_packets("motion", (2, 0))
    assert all(p.payload[1] > 0 for p in packets[1:])  # a motion section in every delta


def _check_golden_pan(name: str, major: int, want_name: str | None = None) -> None:
    """A golden pan stream (tests/tiny_model.py) decodes to its committed symbols and frames (those of
    ``want_name``'s stream when given: the same pictures in another format)."""
    want = np.load(DATA / f"golden_{want_name or name}.npz")
    with container.GvcReader(DATA / f"golden_{name}.gvc") as r:
        h = r.header
        m = zoo.load(h.model_name, h.model_hash.hex())
        predictor = m.subpel if container.subpel_table(h) else None
        dec = FrameDecoder(m, h.latent_shape, major=major, predictor=predictor)
        symbols = [dec.decode_symbols("key" if p.kind == container.PacketType.KEY else "delta",
                                      _colour_section(p, h)[1])[0] for p in r]
    np.testing.assert_array_equal(np.stack(symbols), want["symbols"])
    rgb = np.stack([f.rgb for f in vidcodec.frames(DATA / f"golden_{name}.gvc")]).astype(int)
    assert np.abs(rgb - want["rgb"]).max() <= 2 and np.abs(rgb - want["rgb"]).mean() < 0.05


def test_golden_motion_stream_decodes_to_the_same_symbols_and_frames(tiny_model_dir):
    _check_golden_pan("motion", major=2)


def test_golden_context_stream_is_version_3_with_context_coded_deltas(tiny_model_dir):
    packets = _golden_pan_packets("context", (3, 0))
    flags = []
    for p in packets[1:]:
        block = p.payload[1]
        flags.append(p.payload[2 + (4 + int.from_bytes(p.payload[2:6], "little") if block else 0)])
    assert flags == [1] * 5  # every delta context-coded
    assert packets[1].payload[1] > 0  # and one with motion vectors


def test_golden_context_stream_decodes_to_the_same_symbols_and_frames(tiny_model_dir):
    _check_golden_pan("context", major=3)


def test_golden_keycontext_stream_is_version_4_with_a_context_coded_key(tiny_model_dir):
    packets = _golden_pan_packets("keycontext", (4, 0))
    assert packets[0].payload[1] == 1  # the key's context flag


def test_golden_keycontext_stream_decodes_to_the_same_symbols_and_frames(tiny_model_dir):
    _check_golden_pan("keycontext", major=4)


def test_golden_residual_stream_is_version_5_and_decodes_to_the_same_symbols_and_frames(tiny_model_dir):
    # Its deltas use the format's residual tables: a decoder that used the model's delta tables (the
    # 2.x-4.x rule) would pop different symbols from the same bytes.
    _golden_pan_packets("residual", (5, 0))
    _check_golden_pan("residual", major=5)


def test_golden_compact_stream_is_version_7_and_decodes_to_the_same_symbols_and_frames(tiny_model_dir):
    # Varint lengths (packet headers, ANS sections, motion sections) and coded delta selectors: a 6.x reading of the same bytes takes the first ANS
    # bytes for a u32 length and fails, or pops other symbols.
    packets = _golden_pan_packets("compact", (7, 0))
    assert all(p.header_size < container.PACKET_HEADER_SIZE for p in packets)  # varint packet headers too
    for p in packets[1:]:
        block = p.payload[1]
        n_mv, at = (varint.decode(p.payload, 2) if block else (0, 2))
        assert p.payload[at + n_mv] in (0, 1)  # the context flag, right after the vectors
    _check_golden_pan("compact", major=7)
    want = np.load(DATA / "golden_compact.npz")["symbols"]
    with container.GvcReader(DATA / "golden_compact.gvc") as r:
        h = r.header
        old = FrameDecoder(zoo.load(h.model_name, h.model_hash.hex()), h.latent_shape, major=6)
        try:
            got = [old.decode_symbols("key" if p.kind == container.PacketType.KEY else "delta", p.payload)[0]
                   for p in r]
        except CoderError:
            got = None
    assert got is None or not np.array_equal(np.stack(got), want)


def _check_context_coded_golden_read_wrong_by_the_previous_major(name: str, major: int) -> None:
    """Golden stream ``name`` is version ``major``.0 with at least three context-coded deltas and decodes
    to its symbols and frames; read as ``major − 1`` it gives the key alike but then other symbols (or
    fails)."""
    packets = _golden_pan_packets(name, (major, 0))
    flags = []
    for p in packets[1:]:
        block = p.payload[1]
        n_mv, at = (varint.decode(p.payload, 2) if block else (0, 2))
        flags.append(p.payload[at + n_mv])
    assert flags.count(1) >= 3  # context-coded deltas, where the new rule applies
    _check_golden_pan(name, major=major)
    with container.GvcReader(DATA / f"golden_{name}.gvc") as r:
        h = r.header
    old = FrameDecoder(zoo.load(h.model_name, h.model_hash.hex()), h.latent_shape, major=major - 1)
    _assert_read_otherwise(name, packets, old)


def _assert_read_otherwise(name: str, packets: list, decoder: FrameDecoder) -> None:
    """``decoder`` (an older rule) reads golden stream ``name``'s key alike but then other symbols, or
    fails."""
    want = np.load(DATA / f"golden_{name}.npz")["symbols"]
    got = []
    try:
        for p in packets:
            got.append(decoder.decode_symbols("key" if p.kind == container.PacketType.KEY else "delta", p.payload)[0])
    except CoderError:
        pass
    assert np.array_equal(got[0], want[0])  # the key is read alike
    assert len(got) < len(want) or not np.array_equal(np.stack(got), want)


def test_golden_temporal_stream_is_version_8_and_decodes_to_the_same_symbols_and_frames(tiny_model_dir):
    # Its context-coded deltas move their tables with the previous delta's residuals: a 7.x reading of
    # the same bytes pops other symbols (or fails) from the second delta on.
    _check_context_coded_golden_read_wrong_by_the_previous_major("temporal", 8)


def test_golden_oriented_stream_is_version_9_and_decodes_to_the_same_symbols_and_frames(tiny_model_dir):
    # Its context-coded residuals whose prediction is not zero are coded oriented (−sign(prediction) ·
    # residual, with the oriented tables): an 8.x reading of the same bytes pops other symbols (or fails).
    _check_context_coded_golden_read_wrong_by_the_previous_major("oriented", 9)


def test_golden_subpel_stream_is_version_10_and_decodes_to_the_same_symbols_and_frames(tiny_model_dir):
    # Its header names vaegan-tiny's predictor table; three deltas carry vectors in sixteenths (some
    # not multiples of 4) for the learned prediction, two are flagged bilinear (block byte bit 7,
    # quarter vectors): the encoder weighed both. A reading by the 9.x rule (quarter vectors,
    # bilinear, no flag) of the same bytes gives other symbols or fails.
    packets = _golden_pan_packets("subpel", (10, 0))
    with container.GvcReader(DATA / "golden_subpel.gvc") as r:
        h = r.header
    m = zoo.load(h.model_name, h.model_hash.hex())
    assert container.subpel_table(h) == m.subpel.tag.hex() == m.subpel.sha256[:16]
    fine, flagged = 0, 0
    for p in packets[1:]:
        block = p.payload[1]
        flagged += bool(block & 0x80)
        if block and not block & 0x80:
            n_mv, at = varint.decode(p.payload, 2)
            rows, cols = motion.grid(h.latent_shape[1], h.latent_shape[2], block)
            fine += int((motion.decode_vectors(p.payload[at:at + n_mv], rows, cols, 256) % 4).any())
    assert fine >= 2 and flagged >= 1
    _check_golden_pan("subpel", major=10)
    _assert_read_otherwise("subpel", packets, FrameDecoder(m, h.latent_shape, major=10))  # no predictor: 9.x


def test_golden_colour_stream_is_version_11_with_a_colour_corrected_key(tiny_model_dir):
    # Its keyframe carries a colour correction (packet flag bit 0, 24 bytes ahead of the payload) that
    # the decoder applies to every frame of the GOP after the synthesis. A 10.x reading of the same
    # bytes takes the correction for the level and context bytes: other symbols, or a failure.
    packets = _golden_pan_packets("colour", (11, 0))
    assert [p.flags for p in packets] == [colour.FLAG, 0, 0, 0, 0, 0]
    want = np.load(DATA / "golden_colour.npz")
    with container.GvcReader(DATA / "golden_colour.gvc") as r:
        h = r.header
    correction, _ = _colour_section(packets[0], h)
    np.testing.assert_array_equal(correction.terms, want["colour"][0])
    assert np.abs(correction.terms - colour.ONE * colour.IDENTITY).max() > 200  # far from no correction
    _check_golden_pan("colour", major=11)
    m = zoo.load(h.model_name, h.model_hash.hex())
    try:  # the key's bytes read as a 10.x key payload
        misread = FrameDecoder(m, h.latent_shape, major=11, predictor=m.subpel).decode_symbols("key", packets[0].payload)
        assert not np.array_equal(misread[0], want["symbols"][0])
    except CoderError:
        pass
    # Without the correction the same symbols give other pictures: the decoder applied it to all six.
    plain = np.stack([m.picture(m_latent, h.width, h.height) for m_latent in _latents(m, h, want["symbols"])])
    assert np.abs(plain.astype(int) - want["rgb"]).mean() > 1.0


def _latents(m, h, symbols: np.ndarray) -> list[np.ndarray]:
    decoder = FrameDecoder(m, h.latent_shape, major=11)
    return [decoder.latent(s, h.quality - 1) for s in symbols]


def test_golden_lean_stream_is_version_12_and_decodes_to_the_same_symbols_and_frames(tiny_model_dir):
    # Made from a Matroska file (time base 1/1000, 25 fps): every packet header has the packet byte
    # (type, flags, stepped pts), no sync marker on deltas, and counts its pts in 40-unit frames
    # (zigzag n: one byte each); the
    # key (colour-corrected) starts with its level and context flag in one byte, each delta with its
    # block byte (bilinear bit 7, context bit 6, side 8) and no level. An 11.x reading of the same
    # payloads takes those bytes for other fields: other symbols, or a failure.
    packets = _golden_pan_packets("lean", (12, 0))
    with container.GvcReader(DATA / "golden_lean.gvc") as r:
        h = r.header
    assert container.pts_step(h) == 40 and [p.pts for p in packets] == [40 * i for i in range(6)]
    # sync 4 (the key only: deltas have none), packet byte, pts 1, size 2, CRCs 6
    assert [p.header_size for p in packets] == [14] + [10] * 5
    data = (DATA / "golden_lean.gvc").read_bytes()
    assert [data[p.offset + 4 * (p.kind == container.PacketType.KEY)] for p in packets] == [
        0x25, 0x22, 0x22, 0x26, 0x22, 0x22]
    heads = [_colour_section(p, h)[1][0] for p in packets]
    assert heads[0] == 0x80 | (h.quality - 1) and {b & 0x3F for b in heads[1:]} == {8}
    assert any(b & 0x80 for b in heads[1:]) and any(not b & 0x80 for b in heads[1:])  # both predictions
    assert all(b & 0x40 for b in heads[1:])  # context-coded residuals
    _check_golden_pan("lean", major=12)
    _assert_misread_as(packets, h, major=11)


def _assert_misread_as(packets: list, h: container.StreamHeader, major: int) -> None:
    """The golden pan's packets read with an older major's payload layout give other symbols than
    golden_lean's, or fail."""
    m = zoo.load(h.model_name, h.model_hash.hex())
    old = FrameDecoder(m, h.latent_shape, major=major, predictor=m.subpel)
    want = np.load(DATA / "golden_lean.npz")["symbols"]
    got = []
    try:
        for p in packets:
            got.append(old.decode_symbols("key" if p.kind == container.PacketType.KEY else "delta",
                                          _colour_section(p, h)[1])[0])
    except CoderError:
        pass
    assert len(got) < len(want) or not np.array_equal(np.stack(got), want)


def test_golden_terse_stream_is_version_13_with_shorter_headers_and_selectors(tiny_model_dir):
    # The same pan as golden_lean, made the same way (`python tests/tiny_model.py terse`), to the same
    # symbols and frames. 13.0 packet headers are 2 bytes shorter (a 16-bit payload check) and a delta's
    # pts varint holds its distance from the frame before in frames (zigzag 1 = 2), not its frame number;
    # a delta's channel selectors are coded with the rows of context.SELECTOR_FREQS_AFTER that the
    # previous delta's selectors pick: the key payload is 12.0's, the deltas' are shorter. Read as 12.0
    # payloads (one selector table), the deltas give other symbols or fail.
    packets = _golden_pan_packets("terse", (13, 0))
    lean = _golden_pan_packets("lean", (12, 0))
    assert packets[0].payload == lean[0].payload
    assert all(len(p.payload) < len(q.payload) for p, q in zip(packets[1:], lean[1:], strict=True))
    assert [p.pts for p in packets] == [p.pts for p in lean] == [40 * i for i in range(6)]
    assert [p.header_size for p in packets] == [p.header_size - 2 for p in lean] == [12] + [8] * 5
    data = (DATA / "golden_terse.gvc").read_bytes()
    assert all(data[p.offset : p.offset + 2] == bytes([0x22, 2]) for p in packets[1:] if not p.flags)
    for p in packets:  # the payload check is the low half of the payload's CRC-32
        check_at = p.offset + p.header_size - 4
        assert int.from_bytes(data[check_at : check_at + 2], "little") == zlib.crc32(p.payload) & 0xFFFF
    _check_golden_pan("terse", major=13, want_name="lean")
    with container.GvcReader(DATA / "golden_terse.gvc") as r:
        _assert_misread_as(packets, r.header, major=12)


def test_golden_fine_stream_is_version_14_with_a_fine_delta(tiny_model_dir):
    # The same pan as golden_terse, made the same way (`python tests/tiny_model.py fine`). With the
    # predictor table the state counts sixteenths of a symbol (the .npz holds them): the key and the
    # deltas before the fine one are 13.0's bytes (the state is whole symbols times 16 until then);
    # the last delta sets the fine flag (bit 5 of the head byte, block side 8 in bits 0-4) and keeps
    # the learned prediction's fraction, so the state holds fractions after it. Read as 13.0
    # payloads (bit 5 a part of the block side), the stream gives other symbols or fails.
    packets = _golden_pan_packets("fine", (14, 0))
    terse = _golden_pan_packets("terse", (13, 0))
    with container.GvcReader(DATA / "golden_fine.gvc") as r:
        h = r.header
    heads = [_colour_section(p, h)[1][0] for p in packets[1:]]
    fine = [bool(b & 0x20) for b in heads]
    assert fine == [False, False, False, False, True] and {b & 0x1F for b in heads} == {8}
    assert not any(b & 0x80 for b, f in zip(heads, fine, strict=True) if f)  # learned prediction only
    assert [p.payload for p in packets[:5]] == [p.payload for p in terse[:5]]
    _check_golden_pan("fine", major=14)
    want = np.load(DATA / "golden_fine.npz")["symbols"]
    assert not np.any(want[:5] % 16) and np.any(want[5] % 16)
    m = zoo.load(h.model_name, h.model_hash.hex())
    old = FrameDecoder(m, h.latent_shape, major=13, predictor=m.subpel)
    got = []
    try:
        for p in packets:
            got.append(16 * old.decode_symbols("key" if p.kind == container.PacketType.KEY else "delta",
                                               _colour_section(p, h)[1])[0])
    except CoderError:
        pass
    assert len(got) < len(want) or not np.array_equal(np.stack(got), want)


def test_golden_exact_stream_is_version_15_with_fines_payloads(tiny_model_dir):
    # The same pan as golden_fine (`python tests/tiny_model.py exact`). 15.0 derives the learned
    # predictor's integer weights from exactly rounded gains (subpel.format_gains) where 10.0-14.x
    # took numpy's float32 exp, whose last bit depends on the CPU's SIMD path; the tiny model's
    # weights differ in 4 entries, which states this small never reach: the payloads are 14.0's,
    # byte for byte, and decode to its symbols and frames. Large states do reach them (test_subpel).
    packets = _golden_pan_packets("exact", (15, 0))
    assert [p.payload for p in packets] == [p.payload for p in _golden_pan_packets("fine", (14, 0))]
    _check_golden_pan("exact", major=15, want_name="fine")
