"""Elias-gamma and Elias-delta coding of signed integer arrays (wraps the C++ ``vidcodec._native``).

Each int64 ``v`` is coded as the natural number ``n = zigzag(v) + 1``::

    n = 2*v + 1   for v >= 0      0 -> 1, 1 -> 3, 2 -> 5, ..., INT64_MAX -> 2**64 - 1
    n = -2*v      for v < 0      -1 -> 2, -2 -> 4, ...,      INT64_MIN -> 2**64

so every int64 is codable (the C++ coder handles the 65-bit ``n = 2**64``). With
``N = floor(log2(n))``:

* gamma(n): N zero bits, then the N + 1 bits of n: ``2N + 1`` bits (at most 129);
* delta(n): gamma(N + 1), then the N bits of n below its leading one:
  ``N + 2*floor(log2(N + 1)) + 1`` bits (at most 77).

The codes are concatenated most-significant bit first and the last byte is zero-padded. The
bitstream does not store the number of values: :func:`decode` is told it, and the data must end
right after the last code (plus at most 7 zero padding bits). Anything else (garbage, truncation,
trailing bytes, prefixes too long for a 64-bit value) raises :class:`~vidcodec.errors.CoderError`;
each canonical bitstream thus decodes to exactly one array and re-encodes to the same bytes.
"""

from __future__ import annotations

import operator

import numpy as np
import numpy.typing as npt

from ..errors import CoderError, UsageError
from ..native import core as _native

__all__ = ["KINDS", "decode", "decode_prefix", "encode", "gamma_bits"]

KINDS = ("gamma", "delta")
_INT64_MAX = np.iinfo(np.int64).max


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UsageError(f"unknown Elias code kind {kind!r}: choose 'gamma' or 'delta'")


def _as_int64(values: npt.ArrayLike) -> np.ndarray:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise UsageError(f"Elias coding needs an integer array, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.max() > _INT64_MAX:
        raise UsageError("Elias coding takes int64 values; this uint64 array holds values above 2**63 - 1")
    return np.ascontiguousarray(arr, dtype=np.int64).ravel()


def gamma_bits(values: npt.ArrayLike) -> np.ndarray:
    """Length in bits of each value's gamma code (``2N + 1``, as above): the encoders' cost estimates for
    motion vectors. Exact for |values| < 2**47; past that float64's log2 rounds up just below a power of
    two (2**48 - 1 counts 99 bits for its 97)."""
    v = np.asarray(values, dtype=np.int64)
    n = np.where(v >= 0, 2 * v + 1, -2 * v)
    return 2 * np.floor(np.log2(n)).astype(np.int64) + 1


def encode(values: npt.ArrayLike, kind: str = "gamma") -> bytes:
    """Elias-code an integer array (any shape, flattened in C order; the shape is not stored).

    ``kind`` is ``"gamma"`` or ``"delta"``. Any integer dtype is accepted as long as the values fit
    in int64; an empty input of any dtype gives ``b""``.
    """
    _check_kind(kind)
    return _native.elias_encode(_as_int64(values), kind)


def decode(data: bytes | bytearray | memoryview, count: int, kind: str = "gamma") -> np.ndarray:
    """Decode exactly ``count`` values written by :func:`encode` with the same ``kind``.

    Returns a 1-D int64 array. Raises :class:`CoderError` when ``data`` is not exactly the code of
    ``count`` values, and :class:`UsageError` for a bad ``kind`` or ``count``.
    """
    _check_kind(kind)
    try:
        count = operator.index(count)
    except TypeError:
        raise UsageError(f"count must be an integer, not {type(count).__name__}") from None
    if count < 0:
        raise UsageError(f"count must be >= 0, got {count}")
    try:
        buf = bytes(memoryview(data))
    except TypeError:
        raise UsageError(f"data must be bytes-like, not {type(data).__name__}") from None
    if count > 8 * len(buf):
        raise CoderError(
            f"Elias-{kind} data of {len(buf)} bytes cannot hold {count} values (each takes at least one "
            "bit): the data is truncated or the count is wrong"
        )
    try:
        return _native.elias_decode(buf, count, kind)
    except ValueError as e:
        raise CoderError(
            f"malformed Elias-{kind} data ({len(buf)} bytes, {count} values expected): {e}; "
            "the data is damaged or truncated, or was written with another kind or count"
        ) from e


def decode_prefix(data: bytes | bytearray | memoryview, count: int) -> tuple[np.ndarray, int]:
    """Decode ``count`` Elias-gamma values from the start of ``data``, which may go on past them (a
    self-delimiting section followed by others): the values and the number of bytes their codes take,
    the last one zero-padded as :func:`encode` writes it. Raises :class:`CoderError` when ``data``
    ends first, a prefix is too long for a 64-bit value, or the padding bits are not zero."""
    buf = bytes(memoryview(data))
    if count < 0:
        raise UsageError(f"count must be >= 0, got {count}")
    if count == 0:
        return np.zeros(0, np.int64), 0
    # A code is N zero bits and N + 1 bits starting with a one, so each code's leading one is the
    # first one at or after its start; at most 129 bits a code.
    window = buf[: min(len(buf), (129 * count + 7) // 8)]
    bits = np.unpackbits(np.frombuffer(window, np.uint8))
    ones = np.flatnonzero(bits)
    pos = 0
    for _ in range(count):
        i = int(np.searchsorted(ones, pos))
        if i == ones.size:
            raise CoderError(f"Elias-gamma section cut short: {count} values do not fit in {len(buf)} bytes")
        zeros = int(ones[i]) - pos
        if zeros > 64:
            raise CoderError("malformed Elias-gamma data: a prefix too long for a 64-bit value")
        pos = int(ones[i]) + zeros + 1
        if pos > bits.size:
            raise CoderError(f"Elias-gamma section cut short: {count} values do not fit in {len(buf)} bytes")
    span = (pos + 7) // 8
    return decode(buf[:span], count, "gamma"), span
