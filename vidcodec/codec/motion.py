"""Block motion compensation of integer latents (VAE-GAN delta frames, format 2.0).

A delta frame predicts its symbols from the previous decoded symbols shifted, block by block,
by a motion vector in quarter latent pixels (a latent pixel is 16 frame pixels, so the vectors
have 4-pixel precision). Prediction is pure integer arithmetic (bilinear weights that sum to 16,
rounded by a floor division), so encoder and decoder hold the same latent on every machine.

Vectors are coded as their difference to a predictor (the median of the left, top and top-right
blocks' vectors, with simpler rules on the first row and column), as signed Elias-gamma codes
(the C++ core).

The encoder's search (``search``) is free to change without touching the format: integer
shifts first, then half and quarter refinement around each block's best, minimising the
squared error of the scaled latent plus ``lam`` times the vector's bits.
"""

from __future__ import annotations

import numpy as np

from ..coding import elias
from ..errors import CoderError

SUBPEL = 4  # vector units per latent pixel
MAX_VECTOR = 64  # |component| cap, in vector units (16 latent pixels); larger is a damaged stream
SEARCH_CHANNELS = 16  # the encoder's search compares this many leading channels
MARGIN = MAX_VECTOR // SUBPEL + 2  # edge padding that every in-range vector stays inside


def _pad(prev: np.ndarray) -> np.ndarray:
    """``prev`` with MARGIN samples of edge padding: sampling outside takes the nearest edge sample."""
    return np.pad(prev, ((0, 0), (MARGIN, MARGIN), (MARGIN, MARGIN)), mode="edge")


def _sample(padded: np.ndarray, y: int, x: int, bh: int, bw: int, dx: int, dy: int) -> np.ndarray:
    """The (C,bh,bw) integer bilinear prediction of the region at (y, x) moved by (dx, dy)/4."""
    s = SUBPEL
    iy, fy = divmod(dy, s)
    ix, fx = divmod(dx, s)
    y0, x0 = y + iy + MARGIN, x + ix + MARGIN
    a = padded[:, y0 : y0 + bh, x0 : x0 + bw]
    if fx == 0 and fy == 0:
        return a.copy()
    b = padded[:, y0 : y0 + bh, x0 + 1 : x0 + 1 + bw]
    acc = (s - fy) * ((s - fx) * a + fx * b)
    if fy:
        c = padded[:, y0 + 1 : y0 + 1 + bh, x0 : x0 + bw]
        d = padded[:, y0 + 1 : y0 + 1 + bh, x0 + 1 : x0 + 1 + bw]
        acc += fy * ((s - fx) * c + fx * d)
    return (acc + s * s // 2) // (s * s)


def shift(prev: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``prev`` (C,h,w) integers sampled at (x + dx/4, y + dy/4), bilinear in integers."""
    _, h, w = prev.shape
    return _sample(_pad(prev), 0, 0, h, w, dx, dy)


def grid(h: int, w: int, block: int) -> tuple[int, int]:
    """Blocks (rows, columns) covering an h×w latent."""
    return -(-h // block), -(-w // block)


def predict(prev: np.ndarray, vectors: np.ndarray, block: int, channels: int | None = None) -> np.ndarray:
    """Prediction (C,h,w) from ``prev`` and a (rows, cols, 2) field of (dx, dy) vectors; with
    ``channels``, only the first ones are moved and the rest (past a level's ladder step) are zero."""
    if channels is not None:
        out = np.zeros_like(prev)
        out[:channels] = predict(prev[:channels], vectors, block)
        return out
    _, h, w = prev.shape
    rows, cols = vectors.shape[:2]
    if (rows, cols) != grid(h, w, block):
        raise ValueError(f"{rows}×{cols} vectors do not cover a {h}×{w} latent in blocks of {block}")
    padded = _pad(prev)
    out = np.empty_like(prev)
    for r in range(rows):
        y, bh = r * block, min(block, h - r * block)
        for c in range(cols):
            x, bw = c * block, min(block, w - c * block)
            out[:, y : y + bh, x : x + bw] = _sample(padded, y, x, bh, bw, int(vectors[r, c, 0]),
                                                     int(vectors[r, c, 1]))
    return out


def encode_vectors(vectors: np.ndarray) -> bytes:
    """(rows, cols, 2) vectors → Elias-gamma codes of their differences to the median predictors.

    Predictors depend on decoded neighbours, so the decoder recovers vectors in raster order."""
    rows, cols = vectors.shape[:2]
    diffs = np.empty_like(vectors)
    decoded = np.zeros_like(vectors)
    for r in range(rows):
        for c in range(cols):
            pred = _predictor(decoded, r, c)
            diffs[r, c] = vectors[r, c] - pred
            decoded[r, c] = vectors[r, c]
    return elias.encode(diffs.reshape(-1))


def _predictor(decoded: np.ndarray, r: int, c: int) -> np.ndarray:
    """First row: the left vector ((0, 0) for the first block); first column: the top one; else the
    component-wise median of left, top and top-right (top-left in the last column)."""
    if r == 0:
        return decoded[0, c - 1] if c > 0 else np.zeros(2, dtype=np.int64)
    if c == 0:
        return decoded[r - 1, 0]
    left, top = decoded[r, c - 1], decoded[r - 1, c]
    corner = decoded[r - 1, c + 1] if c + 1 < decoded.shape[1] else decoded[r - 1, c - 1]
    return np.maximum(np.minimum(left, top), np.minimum(np.maximum(left, top), corner))


def decode_vectors(data: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Inverse of :func:`encode_vectors`; raises :class:`CoderError` on out-of-range vectors."""
    diffs = elias.decode(data, rows * cols * 2).reshape(rows, cols, 2)
    vectors = np.zeros((rows, cols, 2), dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            vectors[r, c] = diffs[r, c] + _predictor(vectors, r, c)
            if np.abs(vectors[r, c]).max() > MAX_VECTOR:
                raise CoderError(f"motion vector {tuple(vectors[r, c])} out of range: the packet is damaged")
    return vectors


def _gamma_bits(v: np.ndarray) -> np.ndarray:
    n = np.where(v >= 0, 2 * v + 1, -2 * v)
    return 2 * np.floor(np.log2(n)) + 1


def search(target: np.ndarray, prev: np.ndarray, block: int, lam: float, radius: int = 2) -> np.ndarray:
    """Encoder's choice of (rows, cols, 2) vectors: integer shifts within ``radius`` latent pixels,
    then half- and quarter-pixel refinement around each block's best, each block minimising squared
    error + ``lam``·bits (the vector's own bits, as if its predictor were zero, so that blocks are
    searched together). The error uses float bilinear samples, the prediction's unrounded value."""
    _, h, w = prev.shape
    rows, cols = grid(h, w, block)
    row_starts, col_starts = np.arange(0, h, block), np.arange(0, w, block)
    target = target.astype(np.float32)
    padded = _pad(prev).astype(np.float32)
    cache: dict[tuple[int, int], np.ndarray] = {}
    s = SUBPEL

    def rd(v: tuple[int, int]) -> np.ndarray:
        if v not in cache:
            iy, fy = divmod(v[1], s)
            ix, fx = divmod(v[0], s)
            y0, x0 = iy + MARGIN, ix + MARGIN
            p = padded[:, y0 : y0 + h + 1, x0 : x0 + w + 1]
            if fx:
                p = p[:, :, :-1] * np.float32(1 - fx / s) + p[:, :, 1:] * np.float32(fx / s)
            else:
                p = p[:, :, :-1]
            if fy:
                p = p[:, :-1] * np.float32(1 - fy / s) + p[:, 1:] * np.float32(fy / s)
            else:
                p = p[:, :-1]
            e = target - p
            e = np.einsum("chw,chw->hw", e, e)
            # Per-block sums, ragged last row/column included (padding each map cost 13 ms a 1080p frame).
            e = np.add.reduceat(np.add.reduceat(e, row_starts, axis=0), col_starts, axis=1)
            cache[v] = e + lam * _gamma_bits(np.array(v)).sum()
        return cache[v]

    best = np.zeros((rows, cols, 2), dtype=np.int64)
    best_cost = rd((0, 0))

    def consider(cand: np.ndarray) -> None:
        nonlocal best_cost
        for v in {tuple(map(int, x)) for x in cand.reshape(-1, 2)}:
            if max(abs(v[0]), abs(v[1])) > MAX_VECTOR:
                continue
            better = (cand[:, :, 0] == v[0]) & (cand[:, :, 1] == v[1]) & (rd(v) < best_cost)
            best[better] = v
            best_cost = np.where(better, rd(v), best_cost)

    span = range(-radius * s, radius * s + 1, s)
    for dy in span:
        for dx in span:
            consider(np.broadcast_to(np.array((dx, dy)), best.shape))
    for step in (s // 2, s // 4):
        centre = best.copy()
        for oy in (-step, 0, step):
            for ox in (-step, 0, step):
                if ox or oy:
                    consider(centre + (ox, oy))
    return best
