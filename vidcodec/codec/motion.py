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


def _gamma_bits(v: tuple[int, int]) -> int:
    """Elias-gamma bits of a vector's two components (signed mapping as the codes use)."""
    return sum(2 * (2 * x + 1 if x >= 0 else -2 * x).bit_length() - 1 for x in v)


def search(target: np.ndarray, prev: np.ndarray, block: int, lam: float, radius: int = 2) -> np.ndarray:
    """Encoder's choice of (rows, cols, 2) vectors: integer shifts within ``radius`` latent pixels,
    then half- and quarter-pixel refinement around each block's best, each block minimising squared
    error + ``lam``·bits (the vector's own bits, as if its predictor were zero, so that blocks are
    searched together). The error uses float bilinear samples, the prediction's unrounded value.

    Integer shifts are scored on the whole latent (every block tries each); a refinement candidate
    only on the blocks around the same centre (the bounding box of the blocks that share a vector),
    which took the search from about 55 to 30 ms a 1080p frame (same vectors)."""
    _, h, w = prev.shape
    rows, cols = grid(h, w, block)
    row_starts, col_starts = np.arange(0, h, block), np.arange(0, w, block)
    target = target.astype(np.float32)
    padded = _pad(prev).astype(np.float32)
    s = SUBPEL

    def rd(v: tuple[int, int], r0: int = 0, r1: int = rows, c0: int = 0, c1: int = cols) -> np.ndarray:
        """Costs (r1 - r0, c1 - c0) of blocks r0..r1-1 × c0..c1-1 moved by ``v``."""
        y0, y1, x0, x1 = r0 * block, min(h, r1 * block), c0 * block, min(w, c1 * block)
        iy, fy = divmod(v[1], s)
        ix, fx = divmod(v[0], s)
        p = padded[:, y0 + iy + MARGIN : y1 + iy + MARGIN + 1, x0 + ix + MARGIN : x1 + ix + MARGIN + 1]
        if fx:
            p = p[:, :, :-1] * np.float32(1 - fx / s) + p[:, :, 1:] * np.float32(fx / s)
        else:
            p = p[:, :, :-1]
        if fy:
            p = p[:, :-1] * np.float32(1 - fy / s) + p[:, 1:] * np.float32(fy / s)
        else:
            p = p[:, :-1]
        e = target[:, y0:y1, x0:x1] - p
        e = np.einsum("chw,chw->hw", e, e)
        # Per-block sums, ragged last row/column included (padding each map cost 13 ms a 1080p frame).
        e = np.add.reduceat(np.add.reduceat(e, row_starts[r0:r1] - y0, axis=0), col_starts[c0:c1] - x0, axis=1)
        return e + np.float64(lam * _gamma_bits(v))  # float64, as the costs always were

    best = np.zeros((rows, cols, 2), dtype=np.int64)
    best_cost = rd((0, 0))
    span = range(-radius * s, radius * s + 1, s)
    for dy in span:
        for dx in span:
            if dx or dy:
                cost = rd((dx, dy))
                better = cost < best_cost
                best[better] = (dx, dy)
                best_cost = np.where(better, cost, best_cost)
    for step in (s // 2, s // 4):
        centres = []
        for v in np.unique(best.reshape(-1, 2), axis=0):
            mask = (best == v).all(axis=2)
            r, c = np.nonzero(mask)
            r0, r1, c0, c1 = r.min(), r.max() + 1, c.min(), c.max() + 1
            centres.append((tuple(map(int, v)), mask[r0:r1, c0:c1], (r0, r1, c0, c1)))
        for oy in (-step, 0, step):
            for ox in (-step, 0, step):
                if not (ox or oy):
                    continue
                for (vx, vy), mask, (r0, r1, c0, c1) in centres:
                    u = (vx + ox, vy + oy)
                    if max(abs(u[0]), abs(u[1])) > MAX_VECTOR:
                        continue
                    cost = rd(u, r0, r1, c0, c1)
                    window = best_cost[r0:r1, c0:c1]  # views: updated in place
                    better = mask & (cost < window)
                    best[r0:r1, c0:c1][better] = u
                    window[better] = cost[better]
    return best
