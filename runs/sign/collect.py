"""Record (table row, residual, sign and magnitude of the prediction) of every context-coded delta position.

    python runs/sign/collect.py OUT.npz FRAMES QUALITIES CLIP...     (e.g. 30 2,4,6,8 data/videos/*.mp4)

The numbers in README.md came from the format 8.0 encoder (commit 1f70144, whose ``_delta_payload``
has no ``pred`` argument; the hook passes it on when there is one). At later commits it records
what the current encoder decides, whose residuals are the same kind of thing.
"""
import io
import sys

import numpy as np

from vidcodec import api
from vidcodec.codec import context, vaegan

out, frames, quals, clips = sys.argv[1], int(sys.argv[2]), [int(q) for q in sys.argv[3].split(",")], sys.argv[4:]
rec = {"clip": [], "q": [], "row": [], "v": [], "sp": [], "ap": []}
preds = {}
oc = vaegan.FrameEncoder._candidate
def cand(self, ys, pred, block, vectors):
    preds[block] = pred
    return oc(self, ys, pred, block, vectors)
op = vaegan.FrameEncoder._delta_payload
cur = {}
def payload(self, d, plan, block=0, vectors=b"", *rest):
    _, ctx, sel = plan
    if ctx is not None:
        pred = preds[block]
        n_rows = len(self.residuals)
        for ch in np.flatnonzero(sel):
            rows = context.rows(int(sel[ch]), ctx[ch].ravel(), n_rows)
            rec["row"].append(rows.astype(np.int8)); rec["v"].append(d[ch].ravel().astype(np.int16))
            p = pred[ch].ravel()
            rec["sp"].append(np.sign(p).astype(np.int8)); rec["ap"].append(np.minimum(np.abs(p), 127).astype(np.int8))
            rec["clip"].append(np.full(rows.size, cur["clip"], np.int8)); rec["q"].append(np.full(rows.size, cur["q"], np.int8))
    return op(self, d, plan, block, vectors, *rest)
vaegan.FrameEncoder._candidate = cand
vaegan.FrameEncoder._delta_payload = payload
for i, clip in enumerate(clips):
    for q in quals:
        cur.update(clip=i, q=q)
        api.encode(clip, io.BytesIO(), quality=q, max_frames=frames, progress=False)
        print(clip, q, sum(len(r) for r in rec["row"]), flush=True)
np.savez_compressed(out, **{k: np.concatenate(v) for k, v in rec.items()}, clips=np.array(clips))
