"""Build the format 9.0 oriented residual tables (vidcodec/coding/oriented_tables.npz).

    python runs/sign/make_oriented.py vidcodec/coding/oriented_tables.npz

A context-coded residual whose prediction is not zero is coded *oriented*: ``u = −sign(p)·v``, so
that ``u > 0`` means "back toward zero". Row ``t`` of the oriented tables is row ``t`` of the format
5.0 residual tables with the probability of each non-zero magnitude ``m`` split between ``+m`` and
``−m`` as ``POSITIVE[min(m, 3) − 1]`` and its complement (zero and the escape keep theirs), then
quantized to 16 bits. POSITIVE is the share of oriented non-zero residuals that were positive on the
five training clips (runs/sign/collect.py, 30 frames at qualities 2/4/6/8; the median over the clips
of each clip's share, so that one long clip does not set it): 0.708 / 0.747 / 0.776 for magnitudes
1 / 2 / ≥3 (per clip 0.665-0.723, 0.695-0.780, 0.697-0.815).
"""
import sys

import numpy as np

from vidcodec.coding.tables import TOTAL, from_pmfs, residual_tables, table_digest, to_tensors

POSITIVE = (0.71, 0.75, 0.78)

base = residual_tables()
offsets, pmfs, tails = [], [], []
for row in range(len(base)):
    size, offset = int(base.sizes[row]), int(base.offsets[row])
    f = base.freqs[row, :size].astype(np.float64) / TOTAL
    values = offset + np.arange(size - 1)
    share = np.array(POSITIVE)[np.minimum(np.abs(values), 3) - 1]
    pmf = f[:-1] * np.where(values > 0, 2 * share, np.where(values < 0, 2 * (1 - share), 1.0))
    offsets.append(offset)
    pmfs.append(pmf)
    tails.append(f[-1])
oriented = from_pmfs(offsets, pmfs, tails)
assert (oriented.sizes == base.sizes).all() and (oriented.offsets == base.offsets).all()
np.savez(sys.argv[1], **to_tensors("oriented", oriented))
print("sha256", table_digest(oriented))
