"""Block motion compensation of integer latents (VAE-GAN delta frames, format 2.0).

From format 10.0 a stream whose header names a predictor table has its vectors in sixteenths and
predicts with the model's learned sub-pixel predictor instead (:mod:`.subpel`); the vector coding
here is the same.

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
from ..native import core as _native

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
    c, h, w = prev.shape
    rows, cols = vectors.shape[:2]
    if (rows, cols) != grid(h, w, block) or vectors.shape[2:] != (2,):
        raise ValueError(f"{rows}×{cols} vectors do not cover a {h}×{w} latent in blocks of {block}")
    # The C++ core computes exactly what _sample does block by block (integer arithmetic, edge
    # samples past the borders); tests/test_motion.py checks it against shift().
    return _native.motion_predict(np.ascontiguousarray(prev, dtype=np.int64),
                                  np.ascontiguousarray(vectors, dtype=np.int64), int(block), SUBPEL,
                                  c if channels is None else min(int(channels), c))


def encode_vectors(vectors: np.ndarray) -> bytes:
    """(rows, cols, 2) vectors → Elias-gamma codes of their differences to the median predictors.

    Predictors depend on decoded neighbours, so the decoder recovers vectors in raster order; the
    encoder has them all and forms every block's :func:`_predictor` at once."""
    return elias.encode((vectors - predictors(vectors)).reshape(-1))


def predictors(vectors: np.ndarray) -> np.ndarray:
    """Every block's :func:`_predictor` from the (rows, cols, 2) vectors around it, at once."""
    pred = np.zeros_like(vectors)
    pred[0, 1:] = vectors[0, :-1]
    pred[1:, 0] = vectors[:-1, 0]
    if vectors.shape[0] > 1 and vectors.shape[1] > 1:
        left, top = vectors[1:, :-1], vectors[:-1, 1:]
        corner = np.empty_like(top)  # top-right; top-left in the last column
        corner[:, :-1] = vectors[:-1, 2:]
        corner[:, -1] = vectors[:-1, -2]
        pred[1:, 1:] = np.maximum(np.minimum(left, top), np.minimum(np.maximum(left, top), corner))
    return pred


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


def decode_vectors(data: bytes | memoryview, rows: int, cols: int, max_vector: int = MAX_VECTOR) -> np.ndarray:
    """Inverse of :func:`encode_vectors`; raises :class:`CoderError` on vectors past ``max_vector``
    (:data:`MAX_VECTOR` quarters, or :data:`.subpel.MAX_VECTOR` sixteenths with a learned predictor)."""
    return _undiff(elias.decode(data, rows * cols * 2), rows, cols, max_vector)


def decode_vectors_prefix(data: bytes | memoryview, rows: int, cols: int,
                          max_vector: int = MAX_VECTOR) -> tuple[np.ndarray, int]:
    """:func:`decode_vectors` of the codes at the start of ``data`` (format 12.0: the motion section
    has no length, its codes delimit themselves): the vectors and the bytes they took."""
    diffs, span = elias.decode_prefix(data, rows * cols * 2)
    return _undiff(diffs, rows, cols, max_vector), span


def _undiff(diffs: np.ndarray, rows: int, cols: int, max_vector: int) -> np.ndarray:
    """Vectors from their coded differences to the predictors, in raster order."""
    diffs = diffs.reshape(rows, cols, 2)
    vectors = np.zeros((rows, cols, 2), dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            vectors[r, c] = diffs[r, c] + _predictor(vectors, r, c)
            if np.abs(vectors[r, c]).max() > max_vector:
                raise CoderError(f"motion vector {tuple(vectors[r, c])} out of range: the packet is damaged")
    return vectors


def search(target: np.ndarray, prev: np.ndarray, block: int, lam: float, radius: int = 2) -> np.ndarray:
    """Encoder's choice of (rows, cols, 2) vectors: integer shifts within ``radius`` latent pixels,
    then half- and quarter-pixel refinement around each block's best, each block minimising squared
    error + ``lam``·bits (the vector's own bits, as if its predictor were zero, so that blocks are
    searched independently). The error uses bilinear samples of ``prev``, the prediction's
    unrounded value (summed over channels in float32 per position, over a block in double); a
    candidate replaces the best only when strictly better, in the order: zero, integer shifts row by
    row, then each refinement's eight neighbours row by row.

    The C++ core does the work (``_native.motion_search``, 2-4x the speed of the numpy version it
    replaced, whose sums ran in another order and so could break near-ties differently)."""
    if target.shape != prev.shape:
        raise ValueError(f"target {target.shape} and previous latent {prev.shape} differ in shape")
    if not 0 <= radius <= MAX_VECTOR // SUBPEL:
        raise ValueError(f"search radius {radius} outside 0..{MAX_VECTOR // SUBPEL} latent pixels")
    return _native.motion_search(np.ascontiguousarray(target, dtype=np.float32),
                                 np.ascontiguousarray(prev, dtype=np.int64), int(block), float(lam), int(radius),
                                 SUBPEL, MAX_VECTOR)
