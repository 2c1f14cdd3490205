"""Elias-gamma/delta coder: exact bit layout, round trips, and hostile input."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidcodec import _native
from vidcodec.coding import elias
from vidcodec.errors import CoderError, UsageError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
KINDS = ("gamma", "delta")
EXTREMES = [INT64_MIN, INT64_MIN + 1, INT64_MAX - 1, INT64_MAX, 0, -1, 1, -(2**62), 2**62, 2**32, -(2**32)]

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

int64s = st.one_of(
    st.integers(INT64_MIN, INT64_MAX),
    st.integers(-300, 300),
    st.sampled_from(EXTREMES),
    # every magnitude class: +-2**k and its neighbours
    st.builds(
        lambda k, d, neg: (-1) ** neg * (2**k) + d, st.integers(0, 62), st.integers(-1, 1), st.booleans()
    ),
)


# --- an independent pure-Python model of the documented format -----------------------------------


def natural(v: int) -> int:
    """The documented mapping: zigzag, then +1."""
    return 2 * v + 1 if v >= 0 else -2 * v


def code_bits(v: int, kind: str) -> int:
    """Theoretical Elias code length of v, from the formulas (not from a bit string)."""
    big_n = natural(v).bit_length() - 1  # floor(log2 n)
    if kind == "gamma":
        return 2 * big_n + 1
    return big_n + 2 * ((big_n + 1).bit_length() - 1) + 1


def reference_code(v: int, kind: str) -> str:
    n = natural(v)
    binary = format(n, "b")
    if kind == "gamma":
        return "0" * (len(binary) - 1) + binary
    length = format(len(binary), "b")
    return "0" * (len(length) - 1) + length + binary[1:]


def reference_encode(values: list[int], kind: str) -> bytes:
    bits = "".join(reference_code(v, kind) for v in values)
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


def bits_to_bytes(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


# --- exact layout -----------------------------------------------------------------------------------


def test_mapping_pinned_by_single_values():
    # n = 1, 2, 3, 4, 5 -> gamma "1", "010", "011", "00100", "00101"
    assert [natural(v) for v in (0, -1, 1, -2, 2)] == [1, 2, 3, 4, 5]
    assert [elias.encode([v]) for v in (0, -1, 1, -2, 2)] == [b"\x80", b"\x40", b"\x60", b"\x20", b"\x28"]


def test_hand_computed_bytes():
    values = [0, -1, 1, -2, 2]
    # gamma: 1 010 011 00100 00101 (+7 padding zeros) = 10100110 01000010 10000000
    assert elias.encode(values, "gamma") == bytes([0b10100110, 0b01000010, 0b10000000])
    # delta: 1 0100 0101 01100 01101 (+5 padding zeros) = 10100010 10110001 10100000
    assert elias.encode(values, "delta") == bytes([0b10100010, 0b10110001, 0b10100000])


def test_extremes_exact_bytes():
    # INT64_MIN -> n = 2**64: 64 zeros, a one, 64 zeros (129 bits, the longest gamma code).
    assert elias.encode([INT64_MIN], "gamma") == bytes(8) + b"\x80" + bytes(8)
    # INT64_MAX -> n = 2**64 - 1: 63 zeros, then 64 ones, then a padding zero.
    assert elias.encode([INT64_MAX], "gamma") == bytes(7) + b"\x01" + b"\xff" * 7 + b"\xfe"
    # delta of 2**64: gamma(65) = 000000 1000001, then 64 zeros (77 bits).
    assert elias.encode([INT64_MIN], "delta") == b"\x02\x08" + bytes(8)
    # delta of 2**64 - 1: gamma(64) = 000000 1000000, then 63 ones.
    assert elias.encode([INT64_MAX], "delta") == bits_to_bytes("0000001000000" + "1" * 63)
    for kind in KINDS:
        extremes = np.array(EXTREMES, dtype=np.int64)
        np.testing.assert_array_equal(
            elias.decode(elias.encode(extremes, kind), len(extremes), kind), extremes
        )


@pytest.mark.parametrize("kind", KINDS)
def test_empty(kind):
    assert elias.encode(np.zeros(0, np.int64), kind) == b""
    assert elias.encode([], kind) == b""
    out = elias.decode(b"", 0, kind)
    assert out.dtype == np.int64 and out.shape == (0,)


# --- round trips ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(values=st.lists(int64s, max_size=120))
def test_round_trip_and_length(kind, values):
    data = elias.encode(np.array(values, dtype=np.int64), kind)
    assert len(data) == (sum(code_bits(v, kind) for v in values) + 7) // 8
    assert data == reference_encode(values, kind)
    out = elias.decode(data, len(values), kind)
    assert out.dtype == np.int64
    assert out.tolist() == values


@pytest.mark.parametrize("kind", KINDS)
def test_large_random_array(kind):
    rng = np.random.default_rng(1234)
    size = 200_000
    values = rng.integers(INT64_MIN, INT64_MAX, size=size, dtype=np.int64, endpoint=True)
    values >>= rng.integers(0, 64, size=size)  # every magnitude
    data = elias.encode(values, kind)
    np.testing.assert_array_equal(elias.decode(data, size, kind), values)


@pytest.mark.parametrize(
    "dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]
)
def test_any_integer_dtype(dtype):
    info = np.iinfo(dtype)
    values = np.array([info.min, 0, 1, min(info.max, INT64_MAX)], dtype=dtype)
    expected = values.astype(np.int64)
    assert elias.encode(values) == elias.encode(expected)


def test_arrays_are_flattened_in_c_order():
    grid = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    expected = elias.encode(grid.ravel().tolist())
    assert elias.encode(grid) == expected
    assert elias.encode(np.asfortranarray(grid)) == expected
    wide = np.arange(-12, 12, dtype=np.int64)
    assert elias.encode(wide[::2]) == elias.encode(wide[::2].copy())


def test_decode_accepts_bytes_like():
    data = elias.encode([5, -7, 9], "delta")
    for view in (bytearray(data), memoryview(data), np.frombuffer(data, np.uint8)):
        assert elias.decode(view, 3, "delta").tolist() == [5, -7, 9]


def test_threads_share_the_coder():
    rng = np.random.default_rng(7)
    arrays = [rng.integers(-(10**12), 10**12, size=50_000) for _ in range(4)]
    results: list[bool] = [False] * len(arrays)

    def work(i: int) -> None:
        for kind in KINDS:
            data = elias.encode(arrays[i], kind)
            results[i] = bool(np.array_equal(elias.decode(data, arrays[i].size, kind), arrays[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(arrays))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results)


# --- bad parameters ---------------------------------------------------------------------------------


def test_bad_kind_is_usage_error():
    with pytest.raises(UsageError, match="gamma"):
        elias.encode([1, 2], "rice")
    with pytest.raises(UsageError):
        elias.decode(b"\x80", 1, "Gamma")
    with pytest.raises(ValueError):  # the binding itself refuses too
        _native.elias_encode(np.zeros(1, np.int64), "rice")


@pytest.mark.parametrize(
    "values",
    [np.array([1.5]), np.array([True]), np.array([2**63], dtype=np.uint64), [2**64], ["a"]],
)
def test_non_int64_values_are_usage_errors(values):
    with pytest.raises(UsageError):
        elias.encode(values)


@pytest.mark.parametrize("count", [-1, 1.0, "3", None])
def test_bad_count_is_usage_error(count):
    with pytest.raises(UsageError):
        elias.decode(b"\x80", count)


def test_non_bytes_data_is_usage_error():
    with pytest.raises(UsageError):
        elias.decode("\x80", 1)
    with pytest.raises(UsageError):
        elias.decode(8, 1)  # bytes(8) would silently be 8 zero bytes


# --- malformed input --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [1, 2, 7, 8, 9, 16, 17, 40])
def test_all_zero_bytes(kind, size):
    for count in (1, size, 8 * size):
        with pytest.raises(CoderError):
            elias.decode(bytes(size), count, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_huge_zero_buffer_fails_fast(kind):
    data = bytes(1 << 20)
    start = time.perf_counter()
    for count in (1, 8 * len(data)):
        with pytest.raises(CoderError, match="prefix"):
            elias.decode(data, count, kind)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("count", [9, 10**6, 10**18, 2**64, 2**70])
def test_count_larger_than_the_buffer_can_hold(kind, count):
    with pytest.raises(CoderError, match="cannot hold"):
        elias.decode(b"\xff", count, kind)


@pytest.mark.parametrize("count", [9, 10**12, 2**64 - 1])
def test_native_rejects_impossible_count_before_allocating(count):
    with pytest.raises(_native.EliasDecodeError, match="exceeds"):
        _native.elias_decode(b"\xff", count, "gamma")
    assert issubclass(_native.EliasDecodeError, ValueError)


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(values=st.lists(int64s, min_size=1, max_size=40))
def test_truncated_or_extended_data(kind, values):
    data = elias.encode(values, kind)
    for cut in range(len(data)):
        with pytest.raises(CoderError):
            elias.decode(data[:cut], len(values), kind)
    with pytest.raises(CoderError, match="trailing"):
        elias.decode(data + b"\x00", len(values), kind)
    with pytest.raises(CoderError):
        elias.decode(data, len(values) + 1, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_fewer_values_than_the_data_holds(kind):
    data = elias.encode([3, 4, 5, 6, 7, 8, 9, 10], kind)
    with pytest.raises(CoderError, match="trailing"):
        elias.decode(data, 7, kind)


def test_nonzero_padding_is_rejected():
    assert elias.encode([0]) == b"\x80"  # "1" + 7 padding zeros
    for padded in (b"\x81", b"\xc0", b"\xff"):
        with pytest.raises(CoderError):
            elias.decode(padded, 1)


def test_gamma_prefix_longer_than_64_zeros():
    with pytest.raises(CoderError, match="more than 64 zero"):
        elias.decode(bits_to_bytes("0" * 65 + "1" + "0" * 65), 1, "gamma")


def test_gamma_value_above_2_pow_64():
    with pytest.raises(CoderError, match="2\\^64"):
        elias.decode(bits_to_bytes("0" * 64 + "1" + "0" * 63 + "1"), 1, "gamma")


def test_delta_prefix_longer_than_6_zeros():
    with pytest.raises(CoderError, match="more than 6 zero"):
        elias.decode(bits_to_bytes("0" * 7 + "1" + "0" * 80), 1, "delta")


def test_delta_length_field_above_65():
    # gamma(66) = 000000 1000010, then 65 mantissa bits
    with pytest.raises(CoderError, match="length field"):
        elias.decode(bits_to_bytes("0000001000010" + "0" * 65), 1, "delta")


def test_delta_value_above_2_pow_64():
    with pytest.raises(CoderError, match="2\\^64"):
        elias.decode(bits_to_bytes("0000001000001" + "0" * 63 + "1"), 1, "delta")


def test_error_message_locates_the_problem():
    data = elias.encode([1, 2, 3])
    with pytest.raises(CoderError, match="value 2 of 3") as info:
        elias.decode(data[:-1], 3)
    assert "gamma" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=48), count=st.integers(0, 400))
def test_random_bytes_are_rejected_or_canonical(kind, data, count):
    try:
        out = elias.decode(data, count, kind)
    except CoderError:
        return
    # Accepted input must be exactly the canonical code of what it decoded to.
    assert out.shape == (count,)
    assert elias.encode(out, kind) == data


def test_gamma_bits_is_the_length_of_the_codes():
    """The encoders' vector costs (``gamma_bits``) are the bits the gamma coder writes: eight copies of
    a value fill whole bytes, so the byte count gives the exact code length."""
    values = np.concatenate([np.arange(-1100, 1101), [2**20, -(2**20), 2**20 - 1, -(2**40) - 3]])
    bits = elias.gamma_bits(values)
    for v, b in zip(values, bits, strict=True):
        assert len(elias.encode(np.full(8, v))) == b, v
    assert elias.gamma_bits((3, -2)).tolist() == [5, 5]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=40), st.binary(max_size=6))
def test_decode_prefix_finds_where_the_codes_end(values, tail):
    # Format 12.0's self-delimiting sections: the codes of a known count of values, then other bytes.
    code = elias.encode(np.array(values, np.int64))
    got, span = elias.decode_prefix(code + tail, len(values))
    assert got.tolist() == values and span == len(code)


def test_decode_prefix_errors_are_coder_errors():
    code = elias.encode(np.array([5, -3, 0, 70000]))
    for cut in range(len(code)):
        with pytest.raises(CoderError, match="cut short"):
            elias.decode_prefix(code[:cut], 4)
    with pytest.raises(CoderError, match="prefix too long"):
        elias.decode_prefix(bytes(9) + b"\xff", 1)
    with pytest.raises(CoderError, match="malformed"):  # seven 1-bit codes and a 3-bit one, a one in the padding
        elias.decode_prefix(bytes([0xFE, 0xE0]), 8)
    assert elias.decode_prefix(b"\x80\x01", 1)[1] == 1 and elias.decode_prefix(b"", 0)[1] == 0
