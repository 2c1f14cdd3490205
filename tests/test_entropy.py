"""Integer tables and the ANS/Elias symbol coder."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidcodec.coding.entropy import SymbolReader, SymbolWriter
from vidcodec.coding.tables import TOTAL, IntTables, from_pmfs, laplace_tables, quantize_pmf
from vidcodec.errors import CoderError, UsageError


def _tables() -> IntTables:
    return laplace_tables(np.array([0.3, 1.0, 4.0]))


def test_quantized_pmf_sums_to_total_and_keeps_every_symbol_codable():
    f = quantize_pmf(np.array([0.9, 0.1, 0.0, 1e-12]))
    assert f.sum() == TOTAL
    assert f.min() >= 1
    assert f[0] > f[1] > f[2] - 1


def test_tables_reject_rows_that_do_not_sum_to_the_total():
    with pytest.raises(ValueError):
        IntTables(np.zeros(1, np.int32), np.array([2], np.int32), np.array([[1, 2]], np.int32))


@pytest.mark.parametrize("coder", ["ans", "elias"])
def test_round_trip_with_values_far_outside_the_tables(coder):
    t = _tables()
    rng = np.random.default_rng(0)
    arrays = [rng.laplace(0, s, size=500).round().astype(np.int64) for s in (0.3, 1.0, 4.0)]
    # Escapes are never clipped: up to the format's cap with ANS, any int64 with Elias (QSGD levels).
    big = [2**24, -(2**24), 2**24 - 1] if coder == "ans" else [10**9, -(10**12), 2**40]
    arrays[2][::50] = [big[0], big[1], 77, -77, big[2], 0, 1, -1, 5, 6]
    w = SymbolWriter(coder)
    w.put_uniform(7, np.array([3, 0, 6]))
    for row, a in enumerate(arrays):
        w.put(t, row, a)
    data = w.finish()
    r = SymbolReader(data, coder)
    assert r.get_uniform(7, 3).tolist() == [3, 0, 6]
    for row, a in enumerate(arrays):
        np.testing.assert_array_equal(r.get(t, row, a.size), a)


def test_escapes_beyond_the_cap_are_refused_by_the_writer_and_a_damaged_packet_to_the_reader(monkeypatch):
    from vidcodec.coding import entropy

    t = _tables()
    with pytest.raises(ValueError, match="clamp"):
        SymbolWriter("ans").put(t, 0, np.array([0, 2**24 + 1]))
    monkeypatch.setattr(entropy, "MAX_ESCAPE", 2**40)  # forge a section with a value past the real cap
    w = SymbolWriter("ans")
    w.put(t, 0, np.array([0, -(2**30), 1]))
    data = w.finish()
    monkeypatch.undo()
    with pytest.raises(CoderError, match="beyond"):
        SymbolReader(data, "ans")


def test_ans_beats_elias_on_peaked_data_and_matches_the_table_cost():
    t = _tables()
    a = np.random.default_rng(1).laplace(0, 0.3, size=20000).round().astype(np.int64)
    sizes = {}
    for coder in ("ans", "elias"):
        w = SymbolWriter(coder)
        w.put(t, 0, a)
        sizes[coder] = len(w.finish())
    ideal_bytes = t.bits(0, a) / 8
    assert sizes["ans"] < sizes["elias"]
    assert ideal_bytes <= sizes["ans"] <= ideal_bytes * 1.01 + 16


def test_identical_input_gives_identical_bytes():
    t = _tables()
    a = np.arange(-300, 300) % 17 - 8
    outs = []
    for _ in range(2):
        w = SymbolWriter("ans")
        w.put(t, 1, a)
        outs.append(hashlib.sha256(w.finish()).hexdigest())
    assert outs[0] == outs[1]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_payloads_raise_coder_errors_only(data):
    t = _tables()
    try:
        r = SymbolReader(data, "ans")
        r.get_uniform(5, 3)
        r.get(t, 2, 64)
    except CoderError:
        pass


def test_unknown_coder_is_a_usage_error():
    with pytest.raises(UsageError, match="ans, elias"):
        SymbolWriter("huffman")


def test_from_pmfs_puts_the_tail_mass_on_the_escape_symbol():
    t = from_pmfs([-1], [np.array([0.25, 0.5, 0.24])], [0.01])
    assert t.sizes[0] == 4
    assert t.freqs[0, 3] == pytest.approx(0.01 * TOTAL, rel=0.05)


def test_the_residual_tables_are_the_ones_format_md_names():
    from pathlib import Path

    from vidcodec.coding.tables import RESIDUAL_TABLES_SHA256, residual_tables, table_digest

    t = residual_tables()
    assert len(t) == 15 and table_digest(t) == RESIDUAL_TABLES_SHA256
    doc = (Path(__file__).parents[1] / "docs" / "FORMAT.md").read_text(encoding="utf-8")
    assert RESIDUAL_TABLES_SHA256 in doc
    # Every row is centred on zero and (up to the integer rounding) symmetric, as they were fitted.
    for row in range(len(t)):
        freqs = t.freqs[row, : t.sizes[row] - 1]
        assert len(freqs) == 1 - 2 * t.offsets[row]
        assert np.abs(freqs - freqs[::-1]).max() <= 8


def test_the_oriented_tables_are_the_ones_format_md_names_and_favour_positive_values():
    from pathlib import Path

    from vidcodec.coding.tables import (
        ORIENTED_TABLES_SHA256,
        oriented_tables,
        residual_tables,
        signed_residual_tables,
        table_digest,
    )

    o, r = oriented_tables(), residual_tables()
    assert table_digest(o) == ORIENTED_TABLES_SHA256
    assert ORIENTED_TABLES_SHA256 in (Path(__file__).parents[1] / "docs" / "FORMAT.md").read_text(encoding="utf-8")
    np.testing.assert_array_equal(o.offsets, r.offsets)
    np.testing.assert_array_equal(o.sizes, r.sizes)
    for row in range(len(o)):
        half = -int(o.offsets[row])
        f, g = o.freqs[row, : 2 * half + 1], r.freqs[row, : 2 * half + 1]
        assert abs(int(f[half]) - int(g[half])) <= 32  # zero keeps its probability (up to rounding)
        pos, neg = f[half + 1 :], f[:half][::-1]  # +m and −m for m = 1 … half
        share = pos / (pos + neg)
        big = g[half + 1 :] > 200  # magnitudes with enough mass for the split to survive rounding
        assert (share[big] > 0.69).all() and (share[big] < 0.8).all()
    both = signed_residual_tables()
    assert len(both) == 30
    np.testing.assert_array_equal(both.freqs[17, : o.sizes[2]], o.freqs[2, : o.sizes[2]])
    np.testing.assert_array_equal(both.freqs[2, : r.sizes[2]], r.freqs[2, : r.sizes[2]])


# ------------------------------------------------------------------ format 7.0: compact sections


@given(st.integers(0, 2**32 - 1))
def test_varints_round_trip_in_their_shortest_form(value):
    from vidcodec.coding import varint

    code = varint.encode(value)
    assert len(code) == max(1, -(-value.bit_length() // 7))
    assert varint.decode(b"\x99" + code + b"\x01", 1) == (value, 1 + len(code))


@pytest.mark.parametrize("code, what", [(b"", "cut short"), (b"\x80", "cut short"), (b"\x80\x00", "not a valid"),
                                        (b"\xff\xff\xff\xff\x10", "not a valid"),
                                        (b"\x80\x80\x80\x80\x80\x01", "longer than 5")])
def test_damaged_varints_are_coder_errors(code, what):
    from vidcodec.coding import varint

    with pytest.raises(CoderError, match=what):
        varint.decode(code)
    with pytest.raises(ValueError):
        varint.encode(2**32)


def test_compact_sections_round_trip_and_save_the_fixed_lengths():
    from vidcodec.coding import varint

    t = _tables()
    freqs = np.array([60000, 3000, 2000, 536])
    sel = np.array([0, 0, 3, 1, 0, 2, 0, 0])
    values = np.random.default_rng(1).laplace(0, 4.0, 300).round().astype(np.int64)
    values[7] = 1000  # an escape
    sections = {}
    for compact in (False, True):
        w = SymbolWriter("ans", compact=compact)
        w.put_freqs(freqs, sel)
        w.put(t, 2, values)
        sections[compact] = data = w.finish()
        r = SymbolReader(data, "ans", compact=compact)
        assert r.get_freqs(freqs, sel.size).tolist() == sel.tolist()
        np.testing.assert_array_equal(r.get(t, 2, values.size), values)
    # u32 n_words and n_escapes (8 bytes) became one varint byte each, and the zero bytes that end the
    # last (most significant) word are not stored; the words are otherwise the same.
    n = int.from_bytes(sections[False][:4], "little")
    words = sections[False][4 : 4 + 4 * n]
    kept = words.rstrip(b"\0")
    n_bytes, start = varint.decode(sections[True], 0)
    assert len(words) - len(kept) <= 3 and n_bytes == len(kept) and sections[True][start : start + n_bytes] == kept
    assert len(sections[False]) - len(sections[True]) == 8 - start - 1 + len(words) - len(kept)
    # A reader refuses the bytes of a section that end in a zero byte (a writer never leaves one).
    forged = varint.encode(n_bytes + 1) + kept + b"\0" + sections[True][start + n_bytes :]
    with pytest.raises(CoderError, match="zero byte"):
        SymbolReader(forged, "ans", compact=True)
    with pytest.raises(ValueError, match="frequency table"):
        SymbolWriter("ans", compact=True).put_freqs(freqs, np.array([4]))
    # A compact section cut inside its word count, words or escape count is a damaged packet.
    for cut in (0, 1, 5, len(sections[True]) - 3):
        with pytest.raises(CoderError):
            r = SymbolReader(sections[True][:cut], "ans", compact=True)
            r.get_freqs(freqs, sel.size)
            r.get(t, 2, values.size)


def test_a_skewed_selector_table_costs_less_than_uniform_for_mostly_zero_selectors():
    from vidcodec.codec.context import SELECTOR_FREQS

    assert SELECTOR_FREQS.sum() == TOTAL and SELECTOR_FREQS.min() >= 1 and SELECTOR_FREQS.argmax() == 0
    sel = np.zeros(96, np.int64)
    sel[[0, 1, 3, 7]] = [4, 5, 4, 3]
    values = np.random.default_rng(2).laplace(0, 4.0, 200).round().astype(np.int64)
    sizes = []
    for code in ("freqs", "uniform", "none"):
        w = SymbolWriter("ans", compact=True)
        if code == "freqs":
            w.put_freqs(SELECTOR_FREQS, sel)
        elif code == "uniform":
            w.put_uniform(len(SELECTOR_FREQS), sel)
        # Symbols after the selectors, as in a delta (ANS codes the last ones first, from an empty
        # state where zeros are free: selectors alone would cost nothing either way).
        w.put(_tables(), 2, values)
        sizes.append(len(w.finish()))
    assert (sizes[0] - sizes[2]) * 3 < sizes[1] - sizes[2]


def test_lean_sections_are_the_ans_bytes_alone_with_the_escapes_inside():
    # Format 12.0: no byte count and no escape section; the escaped values are popped first from the
    # ANS stream (a flag that costs nothing without escapes, then count and values).
    from vidcodec.coding import varint

    t = _tables()
    values = np.random.default_rng(3).laplace(0, 4.0, 300).round().astype(np.int64)
    plain = values.copy()
    values[[7, 100, 101]] = [1000, -999, 1 << 24]  # escapes, one at the cap
    sizes = {}
    for lean, data_values in ((False, values), (True, values), (True, plain)):
        w = SymbolWriter("ans", compact=True, lean=lean)
        w.put(t, 2, data_values)
        data = w.finish()
        np.testing.assert_array_equal(SymbolReader(data, "ans", compact=True, lean=lean).get(t, 2, values.size),
                                      data_values)
        sizes[lean, data_values is plain] = len(data)
    n_bytes = varint.decode(_compact(t, plain), 0)[0]
    assert sizes[True, True] == n_bytes  # without escapes: exactly the compact section's ANS bytes
    # With escapes: the flag (16 bits), the count and the values (lengths of log2(27) bits and 45 bits
    # below the leading ones, about 81 bits) in place of the two varints and 93 bits of Elias codes.
    assert sizes[False, False] - sizes[True, False] == 5
    lean = SymbolWriter("ans", lean=True)
    lean.put(t, 2, values)
    data = lean.finish()
    with pytest.raises(CoderError, match="zero byte"):
        SymbolReader(data + b"\0", "ans", lean=True)
    for cut in range(1, len(data)):  # cut anywhere: other values, or a CoderError
        try:
            got = SymbolReader(data[:cut], "ans", lean=True).get(t, 2, values.size)
            assert not np.array_equal(got, values)
        except CoderError:
            pass
    with pytest.raises(ValueError, match="clamp"):
        SymbolWriter("ans", lean=True).put(t, 2, np.array([(1 << 24) + 1]))


def _compact(t, values) -> bytes:
    w = SymbolWriter("ans", compact=True)
    w.put(t, 2, values)
    return w.finish()


def test_lean_escape_numbers_round_trip_at_every_length():
    import constriction

    from vidcodec.coding.entropy import _pop_number, _push_number

    numbers = [0, 1, 2, 3, 65535, 65536, 65537, (1 << 17) + 5, (1 << 25) + 1, (1 << 26) - 1]
    ans = constriction.stream.stack.AnsCoder()
    for n in reversed(numbers):
        _push_number(ans, n)
    assert [_pop_number(ans) for _ in numbers] == numbers
    with pytest.raises(ValueError, match="too large"):
        _push_number(ans, 1 << 26)


def test_lean_escape_counts_outside_their_bounds_are_damage():
    # Flag set with a count of 0 (a second encoding of "no escapes"), or more escapes than the section
    # codes symbols: CoderError, before any value is popped.
    import constriction

    from vidcodec.coding.entropy import _ESCAPE_FLAG, _freqs_model, _push_number

    def section(count: int) -> bytes:
        ans = constriction.stream.stack.AnsCoder()
        for _ in range(count):
            _push_number(ans, 3)
        _push_number(ans, count)
        ans.encode_reverse(np.array([1], np.int32), _freqs_model(_ESCAPE_FLAG))
        return ans.get_compressed().astype("<u4").tobytes().rstrip(b"\0")

    with pytest.raises(CoderError, match="0 escapes"):
        SymbolReader(section(0), "ans", lean=True)
    assert SymbolReader(section(5), "ans", lean=True, most_symbols=5)._escapes.tolist() == [-2] * 5
    with pytest.raises(CoderError, match="5 escapes"):
        SymbolReader(section(5), "ans", lean=True, most_symbols=4)
