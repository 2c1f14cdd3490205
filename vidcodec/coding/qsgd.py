"""QSGD stochastic quantization (Alistarh et al., 2017) of float vectors, and its wire format.

A vector ``v`` becomes its L2 norm (sent as float32) and signed integer levels::

    s   = 2**bits - 1                                   (bits in 2..16)
    l_i = floor(s * |v_i| / norm + u_i),  u_i ~ U[0, 1)
    q_i = sign(v_i) * l_i                               (|q_i| <= s)

so that ``E[norm * q / s] = v``: :func:`dequantize` is unbiased. ``norm`` is the float32 of
``||v||_2`` rounded *up*, and the levels are computed with that transmitted value, so the
expectation is exact with respect to what the decoder sees and ``|v_i| <= norm`` always holds.

The dither ``u`` is ``Generator(PCG64(SeedSequence([stream_seed, frame_index]))).random(v.size)``
(float64, in C order): the same (stream seed, frame) always gives the same levels, different frames
give independent draws.

Wire format of :func:`pack` / :func:`unpack`::

    u8 kind (0 = Elias-gamma, 1 = Elias-delta) | f32 norm, little-endian | Elias codes of q

The number of values is not stored: the caller knows the vector size.

Sparse vectors (most levels zero, e.g. a few hundred changed values of a feature map) use the
coding of the QSGD paper instead, positions as gaps between non-zero levels
(:func:`pack_sparse` / :func:`unpack_sparse`)::

    u8 kind | f32 norm | u32 n (non-zero levels) | Elias codes of the n gaps, then of the n levels

A gap ``g >= 0`` (zeros skipped before the next non-zero level, in C order) is coded as the
natural number ``g + 1``; a non-zero level ``q`` as ``2|q| - 1`` when ``q > 0`` and ``2|q|`` when
``q < 0`` (through :mod:`elias`, whose signed codes are these naturals for the values that
:func:`_natural_to_signed` gives).
"""

from __future__ import annotations

import operator
import struct

import numpy as np
import numpy.typing as npt

from ..errors import CoderError, UsageError
from . import elias

__all__ = ["MAX_BITS", "MIN_BITS", "dequantize", "dequantize_rows", "pack", "pack_sparse", "quantize", "quantize_rows",
           "unpack", "unpack_sparse"]

MIN_BITS = 2
MAX_BITS = 16
_KIND_CODES = {"gamma": 0, "delta": 1}
_KIND_NAMES = {code: kind for kind, code in _KIND_CODES.items()}
_HEADER = struct.Struct("<Bf")
_SPARSE_HEADER = struct.Struct("<BfI")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _levels(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not MIN_BITS <= bits <= MAX_BITS:
        raise UsageError(f"QSGD bits must be an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r}")
    return (1 << int(bits)) - 1


def _seed_part(name: str, value: int) -> int:
    if isinstance(value, bool):
        raise UsageError(f"{name} must be an integer, not bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise UsageError(f"{name} must be an integer, not {type(value).__name__}") from None
    if value < 0:
        raise UsageError(f"{name} must be >= 0, got {value}")
    return value


def _dither(stream_seed: int, frame_index: int, size: int) -> np.ndarray:
    seq = np.random.SeedSequence(
        [_seed_part("stream_seed", stream_seed), _seed_part("frame_index", frame_index)]
    )
    return np.random.Generator(np.random.PCG64(seq)).random(size)


def _norm32_up(x: np.ndarray) -> np.float32:
    """||x||_2 as the smallest float32 >= it (scaled so that squares neither overflow nor underflow)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0:
        return np.float32(0.0)
    norm = peak * float(np.sqrt(np.sum(np.square(x / peak))))
    if norm > _FLOAT32_MAX:
        raise UsageError(f"the vector's L2 norm {norm:g} exceeds the float32 range; scale it down first")
    norm32 = np.float32(norm)
    if float(norm32) < norm:
        norm32 = np.nextafter(norm32, np.float32(np.inf))
    return norm32


def _valid_norm(norm: float, error: type[Exception]) -> np.float32:
    with np.errstate(over="ignore"):  # a norm beyond float32 becomes inf, refused below
        norm32 = np.float32(norm)
    if not (np.isfinite(norm32) and norm32 >= 0):
        raise error(f"QSGD norm must be finite and >= 0, got {norm!r}")
    return norm32


def quantize(
    v: npt.ArrayLike, bits: int, stream_seed: int, frame_index: int
) -> tuple[np.float32, np.ndarray]:
    """Quantize ``v`` to ``2**bits - 1`` levels; returns ``(norm, q)``.

    ``q`` is int64 with the shape of ``v``; ``stream_seed`` and ``frame_index`` are integers >= 0
    that seed the dither. A zero vector gives ``norm == 0`` and ``q == 0``.
    """
    s = _levels(bits)
    arr = np.asarray(v)
    if arr.dtype.kind not in "fiu":
        raise UsageError(f"QSGD quantizes real numbers, got dtype {arr.dtype}")
    x = arr.astype(np.float64).ravel()
    if not np.isfinite(x).all():
        raise UsageError("QSGD input holds NaN or infinite values")
    u = _dither(stream_seed, frame_index, x.size)
    norm = _norm32_up(x)
    if norm == 0:
        return norm, np.zeros(arr.shape, dtype=np.int64)
    levels = np.floor(np.abs(x) / float(norm) * s + u)
    # |x| / norm <= 1, so only float rounding of s + u (u within 2**-53 of 1) can reach s + 1.
    np.minimum(levels, s, out=levels)
    q = np.copysign(levels, x).astype(np.int64)
    return norm, q.reshape(arr.shape)


def dequantize(norm: float, q: npt.ArrayLike, bits: int) -> np.ndarray:
    """``norm * q / s`` as float32, with the shape of ``q``.

    Raises :class:`CoderError` when ``norm`` is negative or not finite, or a level exceeds
    ``s = 2**bits - 1`` (damaged data, or ``bits`` differs from the quantizer's).
    """
    s = _levels(bits)
    norm32 = _valid_norm(norm, CoderError)
    levels = np.asarray(q)
    if levels.size and levels.dtype.kind not in "iu":
        raise UsageError(f"QSGD levels must be integers, got dtype {levels.dtype}")
    if levels.size and (np.any(levels > s) or np.any(levels < -s)):
        raise CoderError(
            f"QSGD level outside -{s}..{s}: the data is damaged or was quantized with more than {bits} bits"
        )
    return (levels.astype(np.float64) * (float(norm32) / s)).astype(np.float32)


def quantize_rows(
    v: npt.ArrayLike, bits: int, stream_seed: int, frame_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise QSGD of a 2-D array (one norm per row, e.g. per latent channel); returns ``(norms, q)``.

    One dither stream per (stream seed, frame) covers the whole array in C order, as in
    :func:`quantize`; ``norms`` is float32 (rows,), ``q`` int64 with the shape of ``v``.
    """
    s = _levels(bits)
    arr = np.asarray(v)
    if arr.ndim != 2 or arr.dtype.kind not in "fiu":
        raise UsageError(f"quantize_rows takes a 2-D array of real numbers, got {arr.ndim}-D {arr.dtype}")
    x = arr.astype(np.float64)
    if not np.isfinite(x).all():
        raise UsageError("QSGD input holds NaN or infinite values")
    u = _dither(stream_seed, frame_index, x.size).reshape(x.shape)
    norms = np.array([_norm32_up(row) for row in x], dtype=np.float32)
    scale = np.where(norms > 0, norms.astype(np.float64), 1.0)[:, None]
    levels = np.floor(np.abs(x) / scale * s + u)
    np.minimum(levels, s, out=levels)
    levels[norms == 0] = 0
    return norms, np.copysign(levels, x).astype(np.int64)


def dequantize_rows(norms: npt.ArrayLike, q: npt.ArrayLike, bits: int) -> np.ndarray:
    """``norms[r] * q[r] / s`` as float32 for each row ``r`` (the inverse of :func:`quantize_rows`)."""
    s = _levels(bits)
    n = np.asarray(norms, dtype=np.float32)
    levels = np.asarray(q)
    if levels.ndim != 2 or n.shape != (levels.shape[0],):
        raise UsageError("dequantize_rows needs one norm per row of q")
    if not (np.isfinite(n).all() and (n >= 0).all()):
        raise CoderError("QSGD norms must be finite and >= 0: the data is damaged")
    if levels.size and (levels.max() > s or levels.min() < -s):
        raise CoderError(
            f"QSGD level outside -{s}..{s}: the data is damaged or was quantized with more than {bits} bits"
        )
    return (levels.astype(np.float64) * (n.astype(np.float64) / s)[:, None]).astype(np.float32)


def pack(norm: float, q: npt.ArrayLike, kind: str = "delta") -> bytes:
    """Serialize ``(norm, q)``: kind byte, float32 norm (little-endian), Elias codes of ``q`` (flattened)."""
    if kind not in _KIND_CODES:
        raise UsageError(f"unknown Elias code kind {kind!r}: choose 'gamma' or 'delta'")
    norm32 = _valid_norm(norm, UsageError)
    return _HEADER.pack(_KIND_CODES[kind], norm32) + elias.encode(q, kind)


def unpack(data: bytes | bytearray | memoryview, count: int) -> tuple[np.float32, np.ndarray]:
    """Read what :func:`pack` wrote for ``count`` levels; returns ``(norm, q)`` with ``q`` 1-D int64.

    Raises :class:`CoderError` on a short or damaged packet.
    """
    try:
        buf = bytes(memoryview(data))
    except TypeError:
        raise UsageError(f"data must be bytes-like, not {type(data).__name__}") from None
    if len(buf) < _HEADER.size:
        raise CoderError(f"QSGD packet of {len(buf)} bytes is shorter than its {_HEADER.size}-byte header")
    code, norm = _HEADER.unpack_from(buf)
    if code not in _KIND_NAMES:
        raise CoderError(f"QSGD packet names unknown Elias code {code}: the data is damaged")
    norm32 = _valid_norm(norm, CoderError)
    return norm32, elias.decode(buf[_HEADER.size :], count, _KIND_NAMES[code])


def _natural_to_signed(n: np.ndarray) -> np.ndarray:
    """The signed values whose Elias code (zigzag + 1) is the natural ``n + 1`` (n >= 0)."""
    return np.where(n % 2 == 0, n // 2, -(n + 1) // 2)


def _signed_to_natural(v: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_natural_to_signed` (2v, or -2v - 1 below 0) as uint64, exact for every int64: any
    int64 is a valid Elias code, and in int64 a forged value from |v| = 2**62 on wrapped past the range checks
    (a gap of INT64_MIN became -1, a level at the vector's last position)."""
    doubled = v.astype(np.uint64) << 1
    return np.where(v >= 0, doubled, ~doubled)


def pack_sparse(norm: float, q: npt.ArrayLike, kind: str = "gamma") -> bytes:
    """Serialize ``(norm, q)`` by its non-zero levels: positions as gaps (see the module docstring)."""
    if kind not in _KIND_CODES:
        raise UsageError(f"unknown Elias code kind {kind!r}: choose 'gamma' or 'delta'")
    norm32 = _valid_norm(norm, UsageError)
    flat = np.asarray(q, dtype=np.int64).ravel()
    nz = np.flatnonzero(flat)
    if nz.size > 0xFFFFFFFF:
        raise UsageError("too many non-zero levels for a sparse QSGD packet")
    gaps = np.diff(nz, prepend=-1) - 1
    levels = flat[nz]
    codes = np.where(levels > 0, 2 * levels - 2, -2 * levels - 1)  # natural numbers minus one
    body = elias.encode(_natural_to_signed(np.concatenate([gaps, codes])), kind) if nz.size else b""
    return _SPARSE_HEADER.pack(_KIND_CODES[kind], norm32, nz.size) + body


def unpack_sparse(data: bytes | bytearray | memoryview, count: int) -> tuple[np.float32, np.ndarray]:
    """Read what :func:`pack_sparse` wrote for a vector of ``count`` levels: ``(norm, q)``, ``q`` 1-D int64.

    Raises :class:`CoderError` when the packet is short or damaged, or places a level past ``count``.
    """
    buf = bytes(memoryview(data))
    if len(buf) < _SPARSE_HEADER.size:
        raise CoderError(f"sparse QSGD packet of {len(buf)} bytes is shorter than its "
                         f"{_SPARSE_HEADER.size}-byte header")
    code, norm, n = _SPARSE_HEADER.unpack_from(buf)
    if code not in _KIND_NAMES:
        raise CoderError(f"QSGD packet names unknown Elias code {code}: the data is damaged")
    norm32 = _valid_norm(norm, CoderError)
    if n > count:
        raise CoderError(f"sparse QSGD packet announces {n} non-zero levels in a vector of {count}: "
                         "the data is damaged")
    body = buf[_SPARSE_HEADER.size:]
    if n == 0:
        if body:
            raise CoderError("sparse QSGD packet without levels has trailing bytes: the data is damaged")
        return norm32, np.zeros(count, dtype=np.int64)
    values = _signed_to_natural(elias.decode(body, 2 * n, _KIND_NAMES[code]))
    gaps, codes = values[:n], values[n:]
    if gaps.max() >= count or codes.max() >= 2 * ((1 << MAX_BITS) - 1):
        raise CoderError("sparse QSGD packet holds a gap or level out of range: the data is damaged")
    gaps, codes = gaps.astype(np.int64), codes.astype(np.int64)  # in range: int64 for the signed levels
    pos = np.cumsum(gaps + 1) - 1
    if pos[-1] >= count:
        raise CoderError(f"sparse QSGD packet places a level past the vector's {count} values: the data is damaged")
    q = np.zeros(count, dtype=np.int64)
    q[pos] = np.where(codes % 2 == 0, codes // 2 + 1, -(codes + 1) // 2)
    return norm32, q
