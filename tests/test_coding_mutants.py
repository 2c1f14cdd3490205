"""Gaps in the entropy-coding tests found by mutation testing (vidcodec/coding): each test here fails on a
plausible one-token bug in vidcodec/coding/{entropy,varint,tables,qsgd,elias}.py that the rest of the
suite let through. The expectations come from docs/FORMAT.md and the modules' docstrings."""

from __future__ import annotations

import struct

import constriction
import numpy as np
import pytest

from vidcodec.coding import elias, qsgd, varint
from vidcodec.coding.entropy import SymbolReader, SymbolWriter
from vidcodec.coding.tables import TOTAL, IntTables, laplace_tables, quantize_pmf, residual_tables
from vidcodec.errors import CoderError, UsageError


def _tables() -> IntTables:
    return laplace_tables(np.array([0.3, 1.0, 4.0]))


def _legacy_escape_count(section: bytes) -> int:
    """``n_escapes`` of a pre-7.0 ANS section (u32 n_words | words | u32 n_escapes | ...)."""
    n_words = struct.unpack_from("<I", section, 0)[0]
    return struct.unpack_from("<I", section, 4 + 4 * n_words)[0]


# ------------------------------------------------------------------ ANS sections: what is escaped


@pytest.mark.parametrize("tables", [_tables(), residual_tables()], ids=["laplace", "residual"])
def test_every_symbol_in_a_tables_range_is_coded_without_an_escape(tables):
    # FORMAT.md: a table of n entries covers symbols offset ... offset+n-2; entry n-1 is the escape. Only
    # the values outside that range go to the escape list (both ends of the range are in it).
    for row in range(len(tables)):
        lo = int(tables.offsets[row])
        hi = lo + int(tables.sizes[row]) - 2
        inside = np.arange(lo, hi + 1)
        w = SymbolWriter("ans")
        w.put(tables, row, inside)
        section = w.finish()
        assert _legacy_escape_count(section) == 0, (row, lo, hi)
        np.testing.assert_array_equal(SymbolReader(section, "ans").get(tables, row, inside.size), inside)
        outside = np.array([lo - 1, hi + 1, lo, hi])
        w = SymbolWriter("ans")
        w.put(tables, row, outside)
        section = w.finish()
        assert _legacy_escape_count(section) == 2, (row, lo, hi)
        np.testing.assert_array_equal(SymbolReader(section, "ans").get(tables, row, 4), outside)


# ------------------------------------------------------------------ ANS sections: damage


def test_a_pre_7_section_whose_last_word_is_zero_is_refused_when_opened():
    # constriction never ends its words with a zero word; a forged one is damage, found by the reader as
    # soon as it opens the section (as a 7.0 section ending in a zero byte is).
    for words in ([0], [5, 0]):
        section = struct.pack(f"<I{len(words)}II", len(words), *words, 0)
        with pytest.raises(CoderError, match="invalid ANS data"):
            SymbolReader(section, "ans")


def _lean_section(escapes: list[int]) -> bytes:
    """A 12.0 section forged as the format describes it: the flag, the count and the zigzagged escaped
    values, each as a *number*, and no other symbol."""
    from vidcodec.coding.entropy import _ESCAPE_FLAG, _freqs_model, _push_number

    ans = constriction.stream.stack.AnsCoder()
    for value in reversed(escapes):
        _push_number(ans, varint.zigzag(value))
    _push_number(ans, len(escapes))
    ans.encode_reverse(np.array([1], np.int32), _freqs_model(_ESCAPE_FLAG))
    return ans.get_compressed().astype("<u4").tobytes().rstrip(b"\0")


def test_lean_escaped_values_beyond_the_cap_are_damage_and_the_cap_itself_is_not():
    cap = 1 << 24
    assert SymbolReader(_lean_section([cap, -cap, 0]), "ans", lean=True)._escapes.tolist() == [cap, -cap, 0]
    for value in (cap + 1, -cap - 1):
        with pytest.raises(CoderError, match="beyond"):
            SymbolReader(_lean_section([1, value]), "ans", lean=True, most_symbols=100)


def test_lean_escape_counts_up_to_twice_the_section_bytes_are_valid():
    # FORMAT.md: 1 <= n <= 2 x the section's bytes (and n <= the symbols it codes). An escaped 1 (the
    # number 2: its length, then one bit) takes log2(27) + 1 bits, so 64 of them fit in fewer than 64 bytes.
    data = _lean_section([1] * 64)
    assert len(data) < 64 <= 2 * len(data)
    for most in (None, 64, 1000):
        assert SymbolReader(data, "ans", lean=True, most_symbols=most)._escapes.tolist() == [1] * 64
    with pytest.raises(CoderError, match="64 escapes"):
        SymbolReader(data, "ans", lean=True, most_symbols=63)


# ------------------------------------------------------------------ Elias sections (coder 1)


def test_elias_sections_at_their_smallest_sizes_round_trip():
    # u32 n_values | u32 n_bytes | Elias-gamma codes: an empty section is 8 bytes, and 8 zeros (1 bit each)
    # fill exactly one byte.
    empty = SymbolWriter("elias").finish()
    assert empty == struct.pack("<II", 0, 0)
    r = SymbolReader(empty, "elias")
    assert r.consumed == 8 and r.get(None, 0, 0).size == 0
    w = SymbolWriter("elias")
    w.put(None, 0, np.zeros(8, np.int64))
    full = w.finish()
    assert full == struct.pack("<II", 8, 1) + b"\xff"
    r = SymbolReader(full, "elias")
    assert r.consumed == 9 and r.get(None, 0, 8).tolist() == [0] * 8


def test_damaged_elias_sections_are_coder_errors():
    w = SymbolWriter("elias")
    w.put(None, 0, np.array([3, -1, 0, 7]))
    data = w.finish()
    for cut in range(8):  # inside the two u32 lengths: never a struct.error
        with pytest.raises(CoderError):
            SymbolReader(data[:cut], "elias")
    n, nbytes = struct.unpack_from("<II", data)
    # n_bytes past the end of the data (the codes themselves intact): the section's size is a lie
    with pytest.raises(CoderError, match="longer than the payload"):
        SymbolReader(struct.pack("<II", n, nbytes + 1) + data[8:], "elias")


def test_an_elias_reader_never_reads_past_its_values():
    w = SymbolWriter("elias")
    w.put(None, 0, np.array([3, -1, 0]))
    data = w.finish()
    r = SymbolReader(data, "elias")
    with pytest.raises(CoderError, match="fewer values"):
        r.get(None, 0, 4)
    r = SymbolReader(data, "elias")
    assert r.get(None, 0, 2).tolist() == [3, -1]
    with pytest.raises(CoderError, match="fewer values"):
        r.get_uniform(5, 2)


@pytest.mark.parametrize("value", [-1, 5, 6])
def test_elias_side_information_outside_its_range_is_damage(value):
    # A uniform symbol of [0, 5) or a frequency-table symbol (4 entries) read from an Elias section that
    # holds another value: the Elias coder writes them as plain values, so the reader checks the range.
    w = SymbolWriter("elias")
    w.put(None, 0, np.array([0, 4, value]))  # the writer's own put_uniform would refuse the value
    data = w.finish()
    with pytest.raises(CoderError, match="out of range"):
        SymbolReader(data, "elias").get_uniform(5, 3)
    w = SymbolWriter("elias")
    w.put(None, 0, np.array([value - 1]))
    with pytest.raises(CoderError, match="out of range"):
        SymbolReader(w.finish(), "elias").get_freqs(np.array([60000, 3000, 2000, 536]), 1)
    w = SymbolWriter("elias")
    w.put(None, 0, np.array([0, 4]))
    assert SymbolReader(w.finish(), "elias").get_uniform(5, 2).tolist() == [0, 4]


# ------------------------------------------------------------------ varints


def test_a_pts_varint_holds_at_most_2_pow_64_minus_1():
    # FORMAT.md Conventions: a varint is at most 2**32 - 1, except a packet header's pts (at most 10 bytes
    # and 2**64 - 1, the zigzag of any i64); a larger value makes the packet undecodable.
    top = (1 << 64) - 1
    code = varint.encode(top, varint.MAX_U64)
    assert code == b"\xff" * 9 + b"\x01"
    assert varint.decode(code, 0, "pts", varint.MAX_U64) == (top, 10)
    assert varint.unzigzag(top) == -(1 << 63) and varint.unzigzag(top - 1) == (1 << 63) - 1
    for value in (1 << 64, (1 << 64) + 1, (1 << 70) - 1):
        code = bytes([(value >> (7 * i)) & 0x7F | (0x80 if i < 9 else 0) for i in range(10)])
        with pytest.raises(CoderError, match="not a valid varint"):
            varint.decode(code, 0, "pts", varint.MAX_U64)
        with pytest.raises(ValueError):
            varint.encode(value, varint.MAX_U64)


# ------------------------------------------------------------------ tables


def _cost(tables: IntTables, row: int, column: int) -> float:
    return 16 - np.log2(float(tables.freqs[row, column]))


@pytest.mark.parametrize("tables", [_tables(), residual_tables()], ids=["laplace", "residual"])
def test_table_costs_price_each_symbol_at_its_own_column_and_escapes_at_the_marker(tables):
    # bits / row_bits: -log2(f / 2**16) of the symbol's column; symbols outside offset ... offset+size-2 at
    # the escape's (the last column), both ends of the range at their own.
    for row in range(len(tables)):
        lo, size = int(tables.offsets[row]), int(tables.sizes[row])
        hi, esc = lo + size - 2, size - 1
        cases = {lo: _cost(tables, row, 0), hi: _cost(tables, row, size - 2), 0: _cost(tables, row, -lo),
                 lo - 1: _cost(tables, row, esc), hi + 1: _cost(tables, row, esc),
                 lo - 1000: _cost(tables, row, esc)}
        for value, bits in cases.items():
            assert tables.bits(row, np.array([value])) == pytest.approx(bits, abs=1e-9), (row, value)
        values = np.array(list(cases))
        assert tables.bits(row, values) == pytest.approx(sum(cases.values()), abs=1e-9)
    # row_bits: slice i with table i, the same costs summed
    n = len(tables)
    symbols = np.stack([np.array([int(tables.offsets[i]), int(tables.offsets[i]) - 1, 0]) for i in range(n)])
    expected = sum(tables.bits(i, symbols[i]) for i in range(n))
    assert tables.row_bits(symbols) == pytest.approx(expected, abs=1e-6)


def test_tables_with_inconsistent_shapes_are_refused():
    # A weights file's tables are validated when read (from_tensors): one offset, size and frequency row
    # per table.
    t = _tables()
    good = {"t.offsets": t.offsets, "t.sizes": t.sizes, "t.freqs": t.freqs}
    from vidcodec.coding.tables import from_tensors

    assert len(from_tensors("t", good)) == 3
    for key, value in (("t.sizes", t.sizes[:2]), ("t.sizes", np.append(t.sizes, t.sizes[0])),
                       ("t.freqs", t.freqs[:2]), ("t.freqs", t.freqs[0])):
        with pytest.raises(ValueError):
            from_tensors("t", {**good, key: value})


def test_the_format_tables_are_checked_against_their_digest():
    from vidcodec.coding import tables

    with pytest.raises(RuntimeError, match="damaged"):
        tables._format_tables("residual", "0" * 64)
    assert tables.table_digest(tables._format_tables("residual", tables.RESIDUAL_TABLES_SHA256)) == \
        tables.RESIDUAL_TABLES_SHA256


def test_quantize_pmf_gives_unlikely_symbols_the_least_frequency_and_refuses_bad_pmfs():
    # Every symbol gets at least 1 (so it stays codable), and no more than that when its probability is 0;
    # the rest follows the pmf.
    f = quantize_pmf(np.array([0.0, 0.5, 0.5]))
    assert f.sum() == TOTAL and f[0] == 1 and abs(int(f[1]) - int(f[2])) <= 1
    f = quantize_pmf(np.array([0.5, 0.0, 0.0, 0.5]))
    assert f.tolist()[1:3] == [1, 1] and f.sum() == TOTAL
    # all zero: uniform
    assert quantize_pmf(np.zeros(4)).tolist() == [TOTAL // 4] * 4
    # as many symbols as frequencies: one each; one more cannot be coded
    assert quantize_pmf(np.ones(TOTAL)).tolist() == [1] * TOTAL
    with pytest.raises(ValueError, match="cannot each get"):
        quantize_pmf(np.ones(TOTAL + 1))
    for bad in (np.array([]), np.array([0.5, -0.5, 1.0]), np.array([-2.0, 3.0]), np.array([np.nan, 1.0]),
                np.array([np.inf, 1.0]), np.ones((2, 2))):
        with pytest.raises(ValueError, match="pmf must be"):
            quantize_pmf(bad)


# ------------------------------------------------------------------ QSGD norms


def test_qsgd_norm_is_the_smallest_float32_at_or_above_the_l2_norm():
    # Exact float32 norms are sent as they are (rounding *up* only moves a norm that float32 cannot hold).
    for v, norm in (([3.0, 4.0], 5.0), ([0.0, -2.0], 2.0), ([1.0], 1.0), ([0.5, 0.5, 0.5, 0.5], 1.0)):
        got, q = qsgd.quantize(np.array(v), 4, 0, 0)
        assert got == np.float32(norm), (v, got)
        assert qsgd.pack(got, q)[1:5] == struct.pack("<f", norm)
    x = np.array([0.1, 0.2, 0.3])
    got = qsgd.quantize(x, 4, 0, 0)[0]
    exact = float(np.sqrt(np.sum(x * x)))
    assert float(got) >= exact and float(np.nextafter(got, np.float32(0))) < exact
    # the largest float32 is a norm (q = +-s there); anything beyond the float32 range is refused
    big = float(np.finfo(np.float32).max)
    norm, q = qsgd.quantize(np.array([big]), 3, 0, 0)
    assert norm == np.float32(big) and q.tolist() == [7]
    with pytest.raises(UsageError, match="float32 range"):
        qsgd.quantize(np.array([big, big]), 3, 0, 0)


# ------------------------------------------------------------------ QSGD rows and packets


def test_quantize_rows_takes_only_finite_2d_real_arrays():
    for bad in (np.ones(4), np.ones((2, 2, 2)), np.array([[1 + 2j, 0]]), np.array([["a", "b"]])):
        with pytest.raises(UsageError, match="2-D array of real numbers"):
            qsgd.quantize_rows(bad, 4, 0, 0)
    for bad in (np.array([[1.0, np.nan]]), np.array([[0.0], [np.inf]]), np.array([[-np.inf, 1.0]])):
        with pytest.raises(UsageError, match="NaN or infinite"):
            qsgd.quantize_rows(bad, 4, 0, 0)
    norms, q = qsgd.quantize_rows(np.array([[3.0, -4.0], [0.0, 0.0]]), 4, 0, 0)
    assert norms.tolist() == [5.0, 0.0] and q[1].tolist() == [0, 0]


def test_dequantize_rows_needs_exactly_one_norm_per_row():
    q = np.array([[1, -1], [2, 0], [0, 3]])
    np.testing.assert_array_equal(qsgd.dequantize_rows(np.array([3.0, 6.0, 9.0]), q, 2),
                                  np.array([[1, -1], [4, 0], [0, 9]], np.float32))
    for norms, levels in ((np.array([3.0]), q),  # would broadcast one norm over every row
                          (np.array([3.0, 6.0]), q), (np.ones(4), q), (np.array([3.0, 6.0, 9.0]), q.ravel()),
                          (np.array(3.0), q)):
        with pytest.raises(UsageError, match="one norm per row"):
            qsgd.dequantize_rows(norms, levels, 2)


def test_an_empty_dense_qsgd_packet_is_its_header_alone():
    for kind in ("gamma", "delta"):
        data = qsgd.pack(np.float32(0.5), np.zeros(0, np.int64), kind)
        assert len(data) == 5
        norm, q = qsgd.unpack(data, 0)
        assert norm == np.float32(0.5) and q.size == 0
    with pytest.raises(CoderError, match="shorter than its 5-byte header"):
        qsgd.unpack(data[:4], 0)


@pytest.mark.parametrize("data", ["not bytes", 12345, None, [1, 2, 3]])
def test_qsgd_unpack_of_something_not_bytes_is_a_usage_error(data):
    with pytest.raises(UsageError, match="bytes-like"):
        qsgd.unpack(data, 3)


def test_pack_sparse_refuses_an_unknown_kind_even_for_a_zero_vector():
    for q in (np.zeros(5, np.int64), np.array([0, 3, 0])):
        with pytest.raises(UsageError, match="unknown Elias code kind"):
            qsgd.pack_sparse(1.0, q, "huffman")


def _sparse_packet(gaps: list[int], levels: list[int], kind: str = "gamma") -> bytes:
    """A sparse QSGD packet written from FORMAT.md: gap g as the natural g + 1, level q as 2q - 1 (q > 0)
    or -2q (q < 0); an Elias code of the natural m is that of the signed value unzigzag(m - 1)."""
    naturals = [g + 1 for g in gaps] + [2 * q - 1 if q > 0 else -2 * q for q in levels]
    signed = np.array([varint.unzigzag(m - 1) for m in naturals], np.int64)
    return struct.pack("<BfI", {"gamma": 0, "delta": 1}[kind], 1.0, len(gaps)) + elias.encode(signed, kind)


@pytest.mark.parametrize("kind", ["gamma", "delta"])
def test_sparse_levels_beyond_16_bits_are_damage(kind):
    # Levels of at most 16 bits (|q| <= 2**16 - 1): the writer's own packets agree with the hand-made ones.
    top = (1 << qsgd.MAX_BITS) - 1
    for level in (top, -top, 1, -1):
        data = _sparse_packet([2], [level], kind)
        q = np.zeros(4, np.int64)
        q[2] = level
        assert data == qsgd.pack_sparse(1.0, q, kind)
        assert qsgd.unpack_sparse(data, 4)[1].tolist() == q.tolist()
    for level in (top + 1, -top - 1, 3 * top):
        with pytest.raises(CoderError, match="out of range"):
            qsgd.unpack_sparse(_sparse_packet([2], [level], kind), 4)
    # positions: the last one is count - 1
    assert qsgd.unpack_sparse(_sparse_packet([0, 2], [5, -5], kind), 4)[1].tolist() == [5, 0, 0, -5]
    with pytest.raises(CoderError):
        qsgd.unpack_sparse(_sparse_packet([0, 3], [5, -5], kind), 4)


@pytest.mark.parametrize("gap, code", [(np.iinfo(np.int64).min, 0), (1 << 62, 0), (0, np.iinfo(np.int64).min),
                                       (0, 1 << 62)], ids=["gap-INT64_MIN", "gap-2^62", "level-INT64_MIN",
                                                           "level-2^62"])
def test_sparse_elias_values_whose_naturals_overflow_int64_are_damage(gap, code):
    # The raw signed Elias values (every int64 is a valid Elias code): as a gap, INT64_MIN mapped to the
    # natural -1 (a level silently written at position -1, the last one) and 2**62 to -2**63 (IndexError);
    # as a level code, INT64_MIN decoded to a zero "non-zero" level and 2**62 to a level of -(2**62 - 1).
    data = struct.pack("<BfI", 0, 1.0, 1) + elias.encode(np.array([gap, code], np.int64), "gamma")
    with pytest.raises(CoderError):
        qsgd.unpack_sparse(data, 5)


# ------------------------------------------------------------------ Elias codes


def test_gamma_bits_counts_zero_and_large_values():
    # 0 is n = 1: a one-bit code (the commonest motion-vector difference)
    values = np.array([0, -1, 1, -2, 2, 3, -(1 << 40), (1 << 40) - 1, 1 << 40])
    bits = elias.gamma_bits(values)
    assert bits.tolist()[:6] == [1, 3, 3, 5, 5, 5]
    for v, b in zip(values, bits):
        # one value's code is its bits zero-padded to a byte
        assert len(elias.encode(np.array([v]))) == -(-int(b) // 8), v
    assert int(bits.sum()) <= 8 * len(elias.encode(values)) < int(bits.sum()) + 8


def test_decode_prefix_reads_the_longest_gamma_codes():
    # INT64_MIN is n = 2**64: 64 zero bits then 65 bits, the longest code there is (129 bits)
    extremes = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0], np.int64)
    code = elias.encode(extremes, "gamma")
    assert len(code) == -(-(129 + 127 + 1) // 8)
    values, span = elias.decode_prefix(code + b"\x80\x01", 3)
    assert values.tolist() == extremes.tolist() and span == len(code)
    with pytest.raises(CoderError, match="too long"):
        elias.decode_prefix(b"\0" * 8 + b"\x00\x80" + b"\xff" * 8, 1)  # 65 zeros
