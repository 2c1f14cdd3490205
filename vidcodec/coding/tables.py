"""Integer coding tables: the only probabilities the entropy coder ever sees.

A table set holds, for each of its distributions, a symbol offset (the smallest symbol in
range), a size (symbols in range plus one escape symbol, always last) and integer
frequencies summing to ``2**PRECISION``. Tables are computed once from floats when a model
is exported and stored as integers with its weights; decoding never recomputes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

PRECISION = 16
TOTAL = 1 << PRECISION


@dataclass(frozen=True)
class IntTables:
    """A set of integer probability tables (one row per distribution), each ending in an escape symbol."""

    offsets: np.ndarray  # (N,) int32: symbol value of index 0
    sizes: np.ndarray  # (N,) int32: symbols in range + 1 (escape)
    freqs: np.ndarray  # (N, max_size) int32, rows zero-padded past their size

    def __post_init__(self) -> None:
        n = len(self.offsets)
        if self.sizes.shape != (n,) or self.freqs.ndim != 2 or self.freqs.shape[0] != n:
            raise ValueError("inconsistent table shapes")
        for i in range(n):
            row = self.freqs[i, : self.sizes[i]]
            if row.sum() != TOTAL or row.min() < 1 or self.freqs[i, self.sizes[i] :].any():
                raise ValueError(f"table {i} is not a valid {PRECISION}-bit frequency table")

    def __len__(self) -> int:
        return len(self.offsets)

    def _index(self, rows: int | np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """Each symbol's column in table ``rows`` (broadcast against ``symbols``): its index, or the
        escape for values outside the table's range."""
        idx = symbols.astype(np.int64) - self.offsets[rows].astype(np.int64)
        esc = self.sizes[rows].astype(np.int64) - 1
        return np.where((idx < 0) | (idx >= esc), esc, idx)

    @cached_property
    def _costs(self) -> np.ndarray:
        """Bits of every column of every table (the escape as its marker only; padding unused)."""
        return PRECISION - np.log2(np.maximum(self.freqs, 1).astype(np.float64))

    def row_bits(self, symbols: np.ndarray) -> float:
        """Cost in bits of ``symbols`` (n, ...) whose i-th slice is coded with table i, all at once
        (:meth:`bits` per row, summed in another order): escapes counted as their marker only."""
        n = len(symbols)
        idx = self._index(np.arange(n)[:, None], symbols.reshape(n, -1))
        return float(np.take_along_axis(self._costs[:n], idx, axis=1).sum())

    @cached_property
    def _floor_costs(self) -> tuple[np.ndarray, np.ndarray]:
        """Per table: the bits of symbol 0 and the fewest bits any other symbol can take (escapes as
        their marker only), what :meth:`floor_bits` counts."""
        n = len(self)
        rows = np.arange(n)
        zero_col = self._index(rows, np.zeros(n, np.int64))
        zero = self._costs[rows, zero_col]
        others = np.where(np.arange(self._costs.shape[1])[None, :] < self.sizes[:, None], self._costs, np.inf)
        others[rows, zero_col] = np.inf
        # a value other than 0 takes another column, or 0's when that is the escape (0 out of range)
        return zero, np.minimum(others.min(axis=1), zero)

    def floor_bits(self, symbols: np.ndarray) -> float:
        """A lower bound of :meth:`row_bits` (``symbols`` (n, ...), the i-th slice with table i) from
        the count of non-zero symbols of each slice alone: every zero at its table's cost of 0, every
        other symbol at the cheapest cost of a non-zero; a hair under, so that float rounding of the
        two sums cannot lift it over the exact count."""
        n = len(symbols)
        flat = symbols.reshape(n, -1)
        nonzero = np.count_nonzero(flat, axis=1)
        zero, other = self._floor_costs
        return float(((flat.shape[1] - nonzero) * zero[:n] + nonzero * other[:n]).sum()) * (1 - 1e-9)

    def bits(self, row: int, symbols: np.ndarray) -> float:
        """Exact cost in bits of coding ``symbols`` with table ``row``, escapes counted as their marker only."""
        idx = self._index(row, symbols)
        esc = int(self.sizes[row]) - 1
        counts = np.bincount(idx.ravel(), minlength=esc + 1)
        used = counts > 0
        f = self.freqs[row, : esc + 1][used].astype(np.float64)
        return float((counts[used] * (PRECISION - np.log2(f))).sum())


def quantize_pmf(pmf: np.ndarray, precision: int = PRECISION) -> np.ndarray:
    """Integer frequencies summing to ``2**precision``, every symbol at least 1, close to ``pmf``."""
    pmf = np.asarray(pmf, dtype=np.float64)
    if pmf.ndim != 1 or len(pmf) == 0 or not np.all(np.isfinite(pmf)) or (pmf < 0).any():
        raise ValueError("pmf must be a non-empty 1-D array of finite non-negative numbers")
    total = 1 << precision
    n = len(pmf)
    if n > total:
        raise ValueError(f"{n} symbols cannot each get a frequency of at least 1 out of {total}")
    pmf = pmf / pmf.sum() if pmf.sum() > 0 else np.full(n, 1.0 / n)
    freqs = np.maximum(1, np.floor(pmf * (total - n)).astype(np.int64) + 1)
    # Hand out (or take back) the remainder where it changes the expected code length least.
    diff = total - int(freqs.sum())
    while diff != 0:
        step = 1 if diff > 0 else -1
        if step > 0:
            gain = pmf * (np.log2(freqs + 1) - np.log2(freqs))
            i = int(np.argmax(gain))
        else:
            loss = np.where(freqs > 1, pmf * (np.log2(freqs) - np.log2(np.maximum(freqs - 1, 1))), np.inf)
            i = int(np.argmin(loss))
        freqs[i] += step
        diff -= step
    return freqs


def from_pmfs(offsets: list[int], pmfs: list[np.ndarray], tails: list[float]) -> IntTables:
    """Build tables from in-range pmfs plus the probability of escaping the range (``tails``)."""
    rows = [quantize_pmf(np.append(p, max(t, 0.0))) for p, t in zip(pmfs, tails)]
    width = max(len(r) for r in rows)
    freqs = np.zeros((len(rows), width), dtype=np.int32)
    for i, r in enumerate(rows):
        freqs[i, : len(r)] = r
    return IntTables(
        offsets=np.asarray(offsets, dtype=np.int32),
        sizes=np.asarray([len(r) for r in rows], dtype=np.int32),
        freqs=freqs,
    )


def _laplace_cdf(x: np.ndarray, b: float) -> np.ndarray:
    return np.where(x < 0, 0.5 * np.exp(x / b), 1.0 - 0.5 * np.exp(-x / b))


def laplace_tables(scales: np.ndarray, tail: float = 1e-4, max_half_width: int = 64) -> IntTables:
    """Discrete Laplace distributions centred on zero, one table per scale, for temporal residuals."""
    offsets, pmfs, tails = [], [], []
    for b in scales:
        half = int(min(max_half_width, max(1, np.ceil(-b * np.log(tail)))))
        k = np.arange(-half, half + 1, dtype=np.float64)

        pmf = _laplace_cdf(k + 0.5, b) - _laplace_cdf(k - 0.5, b)
        offsets.append(-half)
        pmfs.append(pmf)
        tails.append(max(1.0 - pmf.sum(), 0.0))
    return from_pmfs(offsets, pmfs, tails)


def to_tensors(prefix: str, t: IntTables) -> dict[str, np.ndarray]:
    """Flatten tables for a safetensors file."""
    return {f"{prefix}.offsets": t.offsets, f"{prefix}.sizes": t.sizes, f"{prefix}.freqs": t.freqs}


def from_tensors(prefix: str, d: dict[str, np.ndarray]) -> IntTables:
    """Inverse of :func:`to_tensors`; validates the tables."""
    return IntTables(
        offsets=np.asarray(d[f"{prefix}.offsets"], dtype=np.int32),
        sizes=np.asarray(d[f"{prefix}.sizes"], dtype=np.int32),
        freqs=np.asarray(d[f"{prefix}.freqs"], dtype=np.int32),
    )


RESIDUAL_TABLES_SHA256 = "1a469bc2d21fd6026642d180db64999924cdbf6f0e8f745acb5bdf21cf228d66"


def table_digest(t: IntTables) -> str:
    """SHA-256 of a table set's integers (offsets, sizes, freqs as little-endian int32, in that order)."""
    parts = [np.asarray(a, dtype="<i4").tobytes() for a in (t.offsets, t.sizes, t.freqs)]
    return hashlib.sha256(b"".join(parts)).hexdigest()


@lru_cache(maxsize=1)
def residual_tables() -> IntTables:
    """The format's tables for delta residuals (format 5.0 on; docs/FORMAT.md): the rows of a Laplace
    ladder reshaped to the residuals a dead-zone encoder sends (far more zeros, fewer ±1), fitted once
    on training clips (runs/context-fit/fit_residual_tables.py). Part of the format, not of a model."""
    return _format_tables("residual", RESIDUAL_TABLES_SHA256)


def _format_tables(prefix: str, sha256: str) -> IntTables:
    """The format's tables shipped as ``{prefix}_tables.npz`` beside this module, checked against the
    SHA-256 docs/FORMAT.md names."""
    name = f"{prefix}_tables.npz"
    with np.load(Path(__file__).with_name(name)) as f:
        tables = from_tensors(prefix, {k: f[k] for k in f.files})
    if table_digest(tables) != sha256:
        raise RuntimeError(f"vidcodec/coding/{name} is damaged: reinstall vidcodec")
    return tables


ORIENTED_TABLES_SHA256 = "1c479e9853cf56106f0dfa5b5d1425f0549799298486b9765aa482e494959220"


@lru_cache(maxsize=1)
def oriented_tables() -> IntTables:
    """The format's tables for *oriented* delta residuals (format 9.0; docs/FORMAT.md): a context-coded
    residual whose prediction is not zero is coded as ``u = −sign(prediction)·residual``, which is
    positive (back toward zero) about three times in four. Row ``t`` is row ``t`` of
    :func:`residual_tables` with each magnitude's probability split unevenly between its two signs
    (runs/sign/make_oriented.py). Part of the format, not of a model."""
    return _format_tables("oriented", ORIENTED_TABLES_SHA256)


@lru_cache(maxsize=1)
def signed_residual_tables() -> IntTables:
    """The tables a format 9.0 context-coded delta pops from: rows ``0 … R−1`` the residual tables,
    rows ``R … 2R−1`` the oriented ones (row ``R + t`` is oriented row ``t``)."""
    a, b = residual_tables(), oriented_tables()
    width = max(a.freqs.shape[1], b.freqs.shape[1])
    freqs = np.zeros((len(a) + len(b), width), dtype=np.int32)
    freqs[: len(a), : a.freqs.shape[1]] = a.freqs
    freqs[len(a) :, : b.freqs.shape[1]] = b.freqs
    return IntTables(offsets=np.concatenate([a.offsets, b.offsets]), sizes=np.concatenate([a.sizes, b.sizes]),
                     freqs=freqs)
