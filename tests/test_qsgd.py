"""QSGD quantizer: unbiasedness, determinism, level bounds, and the packed format."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vidcodec.coding import elias, qsgd
from vidcodec.errors import CoderError, UsageError

SETTINGS = settings(max_examples=100, deadline=None)

vectors = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=24),
    elements=st.floats(-(2.0**100), 2.0**100, allow_nan=False, allow_infinity=False, width=32),
)


def test_unbiased_in_expectation():
    bits, s = 2, 3
    v = np.random.default_rng(0).standard_normal(24)
    v[0], v[1] = 0.0, -np.abs(v).max() * 1.5
    draws = 4000
    qs = np.empty((draws, v.size))
    deq = np.empty((draws, v.size))
    for frame in range(draws):
        norm, q = qsgd.quantize(v, bits, stream_seed=99, frame_index=frame)
        qs[frame] = q
        deq[frame] = qsgd.dequantize(norm, q, bits)
    x = s * v / float(norm)  # the norm is the same for every frame
    # Each level is floor(x) or ceil(x): its standard deviation is at most 1/2.
    tolerance = 5 * 0.5 / math.sqrt(draws)
    np.testing.assert_array_less(np.abs(qs.mean(axis=0) - x), tolerance)
    np.testing.assert_array_less(np.abs(deq.mean(axis=0) - v), tolerance * float(norm) / s + 1e-6)
    # ...and a biased rule (rounding to nearest) would be caught at this tolerance.
    assert np.abs(np.round(x) - x).max() > 10 * tolerance


@SETTINGS
@given(
    v=vectors,
    bits=st.integers(qsgd.MIN_BITS, qsgd.MAX_BITS),
    seed=st.integers(0, 2**64),
    frame=st.integers(0, 10**9),
)
def test_levels_are_floor_or_ceil(v, bits, seed, frame):
    s = 2**bits - 1
    norm, q = qsgd.quantize(v, bits, seed, frame)
    assert isinstance(norm, np.float32)
    assert q.dtype == np.int64 and q.shape == v.shape
    x64 = v.astype(np.float64)
    true_norm = math.hypot(*x64.ravel())
    if true_norm == 0:
        assert norm == 0 and not q.any()
        return
    # norm is the smallest float32 >= ||v|| (up to the rounding of the reference norm)
    assert float(norm) >= true_norm * (1 - 1e-15)
    assert float(np.nextafter(norm, np.float32(0))) < true_norm * (1 + 1e-15)
    assert np.all(np.abs(q) <= s)
    ideal = s * np.abs(x64) / float(norm)
    assert np.all(np.floor(ideal * (1 - 1e-12)) <= np.abs(q))
    assert np.all(np.abs(q) <= np.ceil(ideal * (1 + 1e-12)))
    assert np.all(np.sign(q) * np.sign(x64) >= 0)
    # dequantize is within one quantization step of v
    error = np.abs(qsgd.dequantize(norm, q, bits) - x64)
    assert np.all(error <= float(norm) / s * (1 + 1e-6) + np.abs(x64) * 1e-6 + 1e-44)


def test_seed_derivation_is_pinned():
    v = np.linspace(-1.0, 2.0, 50)
    norm, q = qsgd.quantize(v, 4, stream_seed=12345, frame_index=67)
    u = np.random.Generator(np.random.PCG64(np.random.SeedSequence([12345, 67]))).random(v.size)
    expected = np.sign(v) * np.floor(15 * np.abs(v) / float(norm) + u)
    np.testing.assert_array_equal(q, expected.astype(np.int64))


def test_reproducible_and_frame_dependent():
    v = np.random.default_rng(3).standard_normal(1000).astype(np.float32)
    norm, q = qsgd.quantize(v, 3, 5, 10)
    norm2, q2 = qsgd.quantize(v.copy(), 3, 5, 10)
    assert norm == norm2
    np.testing.assert_array_equal(q, q2)
    assert not np.array_equal(q, qsgd.quantize(v, 3, 5, 11)[1])
    assert not np.array_equal(q, qsgd.quantize(v, 3, 6, 10)[1])


def test_zero_vector():
    norm, q = qsgd.quantize(np.zeros((4, 5), np.float32), 8, 1, 2)
    assert isinstance(norm, np.float32) and norm == 0
    assert q.dtype == np.int64 and q.shape == (4, 5) and not q.any()
    out = qsgd.dequantize(norm, q, 8)
    assert out.dtype == np.float32 and out.shape == (4, 5) and not out.any()
    norm2, q2 = qsgd.unpack(qsgd.pack(norm, q), q.size)
    assert norm2 == 0 and not q2.any()
    assert qsgd.quantize([], 4, 0, 0)[1].shape == (0,)


def test_tiny_norm_is_rounded_up_not_to_zero():
    v = np.array([1e-46, -1e-46, 0.0])
    norm, q = qsgd.quantize(v, 2, 0, 0)
    assert norm > 0 and float(norm) >= np.linalg.norm(v)
    assert np.all(np.abs(q) <= 3)


def test_sixteen_bits():
    v = np.array([1.0, -0.5, 0.25])
    norm, q = qsgd.quantize(v, 16, 0, 0)
    assert np.abs(q).max() <= 65535
    np.testing.assert_allclose(qsgd.dequantize(norm, q, 16), v, atol=float(norm) / 65535)


@pytest.mark.parametrize("bits", [0, 1, 17, 64, -2, 2.0, True, "4", None])
def test_bits_out_of_range(bits):
    with pytest.raises(UsageError, match="bits"):
        qsgd.quantize([1.0, 2.0], bits, 0, 0)
    with pytest.raises(UsageError, match="bits"):
        qsgd.dequantize(1.0, [1, 0], bits)


@pytest.mark.parametrize(
    "v", [[1.0, np.nan], [np.inf, 0.0], np.array([1 + 2j]), np.array([True, False]), ["a"], [1e39, 1e39]]
)
def test_bad_vectors(v):
    with pytest.raises(UsageError):
        qsgd.quantize(v, 4, 0, 0)


@pytest.mark.parametrize("seed, frame", [(-1, 0), (0, -1), (1.5, 0), (0, "1"), (True, 0)])
def test_bad_seeds(seed, frame):
    with pytest.raises(UsageError):
        qsgd.quantize([1.0, 2.0], 4, seed, frame)


@pytest.mark.parametrize("norm", [-1.0, float("nan"), float("inf")])
def test_dequantize_rejects_bad_norm(norm):
    with pytest.raises(CoderError):
        qsgd.dequantize(norm, [1, 0], 4)


def test_dequantize_rejects_levels_beyond_s():
    qsgd.dequantize(1.0, [15, -15], 4)
    for q in ([16], [-16], [np.iinfo(np.int64).min]):
        with pytest.raises(CoderError, match="level"):
            qsgd.dequantize(1.0, q, 4)
    with pytest.raises(UsageError):
        qsgd.dequantize(1.0, [0.5], 4)


# --- packed format ----------------------------------------------------------------------------------


def test_pack_layout_pinned():
    q = [0, -1, 1, -2, 2]
    assert qsgd.pack(np.float32(1.0), q, "gamma") == b"\x00" + b"\x00\x00\x80\x3f" + bytes.fromhex("a64280")
    assert qsgd.pack(1.0, q) == b"\x01" + struct.pack("<f", 1.0) + elias.encode(q, "delta")


@pytest.mark.parametrize("kind", ["gamma", "delta"])
@SETTINGS
@given(v=vectors, bits=st.integers(2, 16), frame=st.integers(0, 2**32))
def test_pack_unpack_round_trip(kind, v, bits, frame):
    norm, q = qsgd.quantize(v, bits, 2024, frame)
    norm2, q2 = qsgd.unpack(qsgd.pack(norm, q, kind), q.size)
    assert isinstance(norm2, np.float32)
    assert norm2.tobytes() == norm.tobytes()
    assert q2.dtype == np.int64
    np.testing.assert_array_equal(q2, q.ravel())
    np.testing.assert_array_equal(qsgd.dequantize(norm2, q2, bits), qsgd.dequantize(norm, q, bits).ravel())


def test_pack_rejects_bad_parameters():
    with pytest.raises(UsageError):
        qsgd.pack(1.0, [1], "rice")
    for norm in (-1.0, float("nan"), float("inf"), 1e39):
        with pytest.raises(UsageError):
            qsgd.pack(norm, [1])


def _damaged(good: bytes, header: int) -> list[bytes]:
    """Damage any QSGD packet (kind byte, f32 norm, ...) with a ``header``-byte header may suffer."""
    return [
        b"",
        good[: header - 1],  # shorter than the header
        good[:-1],  # truncated codes
        good + b"\x00",  # trailing data
        b"\x02" + good[1:],  # unknown kind
        good[:1] + struct.pack("<f", float("nan")) + good[5:],
    ]


def test_unpack_malformed():
    good = qsgd.pack(2.0, [3, -3, 0, 1], "delta")
    assert qsgd.unpack(good, 4)[1].tolist() == [3, -3, 0, 1]
    cases = [
        *_damaged(good, 5),
        b"\xff" + good[1:],
        good[:1] + struct.pack("<f", float("inf")) + good[5:],
        good[:1] + struct.pack("<f", -2.0) + good[5:],
        good[:5] + bytes(8),  # all-zero codes
    ]
    for data in cases:
        with pytest.raises(CoderError):
            qsgd.unpack(data, 4)
    with pytest.raises(CoderError):
        qsgd.unpack(good, 5)
    with pytest.raises(CoderError):
        qsgd.unpack(good, 10**12)
    with pytest.raises(UsageError):
        qsgd.unpack(good, -1)


@pytest.mark.parametrize("unpack", [qsgd.unpack, qsgd.unpack_sparse], ids=["dense", "sparse"])
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=40), count=st.integers(0, 200))
def test_unpack_random_bytes_never_crashes(unpack, data, count):
    try:
        norm, q = unpack(data, count)
    except CoderError:
        return
    assert np.isfinite(norm) and norm >= 0 and q.shape == (count,)


def test_row_quantization_is_unbiased_per_row_with_one_norm_each():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(4, 50)) * np.array([[0.01], [1.0], [100.0], [0.0]])
    est = np.mean([qsgd.dequantize_rows(*qsgd.quantize_rows(v, 3, 7, k), 3) for k in range(3000)], axis=0)
    norms, q = qsgd.quantize_rows(v, 3, 7, 0)
    assert norms.dtype == np.float32 and norms.shape == (4,) and norms[3] == 0 and not q[3].any()
    assert np.abs(q).max() <= 7
    for r in range(3):
        assert np.abs(est[r] - v[r]).max() < 0.1 * norms[r]


def test_row_dequantization_rejects_damaged_levels():
    with pytest.raises(CoderError):
        qsgd.dequantize_rows(np.ones(1, np.float32), np.array([[8]]), 3)


# --- sparse packed format (positions as gaps) --------------------------------------------------------


def test_pack_sparse_layout_pinned():
    q = [0, 0, 3, 0, -1]  # gaps 2, 1; levels 3 -> natural 5, -1 -> natural 2
    naturals = [3, 2, 5, 2]  # gap + 1, then 2|q| - 1 or 2|q|
    signed = [(n - 1) // 2 if (n - 1) % 2 == 0 else -n // 2 for n in naturals]  # Elias codes zigzag(v) + 1
    assert qsgd.pack_sparse(np.float32(2.0), q, "gamma") == (
        b"\x00" + struct.pack("<f", 2.0) + struct.pack("<I", 2) + elias.encode(signed, "gamma"))
    assert qsgd.pack_sparse(1.0, [0, 0, 0]) == b"\x00" + struct.pack("<fI", 1.0, 0)


@pytest.mark.parametrize("kind", ["gamma", "delta"])
@SETTINGS
@given(v=vectors, bits=st.integers(2, 16), frame=st.integers(0, 2**32), keep=st.floats(0, 1))
def test_pack_sparse_round_trip(kind, v, bits, frame, keep):
    v = np.where(np.random.default_rng(frame).random(v.shape) < keep, v, 0)
    norm, q = qsgd.quantize(v, bits, 7, frame)
    norm2, q2 = qsgd.unpack_sparse(qsgd.pack_sparse(norm, q, kind), q.size)
    assert norm2.tobytes() == norm.tobytes()
    np.testing.assert_array_equal(q2, q.ravel())


def test_sparse_is_smaller_than_dense_for_sparse_vectors():
    q = np.zeros(4096, np.int64)
    q[np.random.default_rng(0).choice(4096, 100, replace=False)] = 5
    assert len(qsgd.pack_sparse(1.0, q)) < len(qsgd.pack(1.0, q)) / 2


def test_unpack_sparse_malformed():
    good = qsgd.pack_sparse(2.0, [0, 3, 0, -3, 1], "delta")
    assert qsgd.unpack_sparse(good, 5)[1].tolist() == [0, 3, 0, -3, 1]
    cases = [
        *_damaged(good, 9),
        good[:5] + struct.pack("<I", 6) + good[9:],  # more non-zero levels than values
        good[:5] + struct.pack("<I", 2) + good[9:],  # count disagrees with the codes
        qsgd.pack_sparse(2.0, [0, 0, 0]) + b"\x80",  # no levels, yet codes follow
    ]
    for data in cases:
        with pytest.raises(CoderError):
            qsgd.unpack_sparse(data, 5)
    with pytest.raises(CoderError, match="past"):
        qsgd.unpack_sparse(good, 4)  # the last level lies beyond a 4-value vector
