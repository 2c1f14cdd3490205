"""How much a delta residual's table could learn from the previous delta (a temporal context)?

    python runs/overhead/temporal_context.py FRAMES QUALITY CLIP...

For every coded residual: its table row as format 7.0 picks it (selector moved by the spatial
context) and a temporal bucket, the residual magnitude of the same channel in the previous delta
over the 3x3 neighbourhood (0, 1-2, 3-8, 9+). Prints the empirical conditional entropy of the
values given the row, and given row and bucket: the most an ideal per-bucket table could save
(an optimistic bound for both: the tables are fitted to the very values they code).
"""
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from vidcodec import api
from vidcodec.codec import context, vaegan

frames, quality, clips = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
rows_all, buckets_all, values_all = [], [], []
state = {}
orig = vaegan.FrameEncoder._delta_payload


def hooked(self, d, plan, block=0, vectors=b""):
    _, ctx, sel = plan
    prev = state.get("prev")
    k = self.channels
    if prev is not None and ctx is not None:
        act = context.box3(np.abs(prev[:k]))
        bucket = np.searchsorted(np.array([1, 3, 9]), act, side="right")
        for ch in np.flatnonzero(sel):
            rows_all.append(context.rows(int(sel[ch]), ctx[ch].ravel(), len(self.residuals)))
            buckets_all.append(bucket[ch].ravel())
            values_all.append(np.clip(d[ch].ravel(), -64, 64))
    state["prev"] = d.copy()
    return orig(self, d, plan, block, vectors)


vaegan.FrameEncoder._delta_payload = hooked
for clip in clips:
    state.clear()
    with tempfile.TemporaryDirectory() as tmp:
        api.encode(clip, Path(tmp) / "o.gvc", quality=quality, max_frames=frames, overwrite=True)
r, b, v = (np.concatenate(x) for x in (rows_all, buckets_all, values_all))


def H(*cols):
    c = np.array(list(Counter(zip(*cols)).values()), float)
    return -(c * np.log2(c / c.sum())).sum()


base = H(r, v) - H(r)
temporal = H(r, b, v) - H(r, b)
print(f"{len(v)} residuals: {base / 8:.0f} B given the row, {temporal / 8:.0f} B given row and temporal bucket "
      f"({100 * (temporal / base - 1):+.1f} %); buckets {np.bincount(b, minlength=4)}")
