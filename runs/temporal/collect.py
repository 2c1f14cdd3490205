"""Collect what a temporal context for delta residuals would see (encoder hook, format 7.0).

    python runs/temporal/collect.py OUT.npz FRAMES QUALITY CLIP...

For every channel a context-coded delta codes: its selector, the spatial contexts (format 3.0),
its residuals, and two candidate temporal maps from the previous delta (zero after a keyframe):
the same channel's |residual| summed over 3x3 (``same``), the same moved by the delta's motion
vectors (``moved``; ``same`` when it has none), every coded channel's (``all``), and the same
channel's over the last two deltas, the older one halved (``two``).
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

from vidcodec import api
from vidcodec.codec import context, motion, vaegan

out, frames, quality, clips = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rec = {k: [] for k in ("clip", "sel", "ctx", "d", "same", "moved", "all", "two")}
state: dict = {}
orig_payload, orig_commit = vaegan.FrameEncoder._delta_payload, vaegan.FrameEncoder._commit


def payload(self, d, plan, block=0, vectors=b""):
    _, ctx, sel = plan
    k = self.channels
    prev, prev2 = state.get("prev"), state.get("prev2")
    if prev is None or prev.shape != d[:k].shape:
        prev = np.zeros_like(d[:k])
    if prev2 is None or prev2.shape != d[:k].shape:
        prev2 = np.zeros_like(d[:k])
    if ctx is not None:
        a = np.minimum(np.abs(prev), 16)
        same = context.box3(a)
        moved = same
        if block:
            rows, cols = motion.grid(*a.shape[1:], block)
            moved = context.box3(motion.predict(a, motion.decode_vectors(vectors, rows, cols), block))
        every = context.box3(a.sum(axis=0))
        two = context.box3(a + np.minimum(np.abs(prev2), 16) // 2)
        for ch in np.flatnonzero(sel):
            rec["clip"].append(state["clip"])
            rec["sel"].append(int(sel[ch]))
            rec["ctx"].append((ctx[ch] % context.N_CONTEXTS).astype(np.int16))  # the spatial part
            rec["d"].append(np.clip(d[ch], -64, 64).astype(np.int16))
            rec["same"].append(same[ch].astype(np.int16))
            rec["moved"].append(moved[ch].astype(np.int16))
            rec["two"].append(two[ch].astype(np.int16))
            rec["all"].append(np.minimum(every, 32000).astype(np.int16))
    state["prev2"], state["prev"] = state.get("prev"), d[:k].copy()
    return orig_payload(self, d, plan, block, vectors)


def commit(self, key, symbols):
    state["prev"] = state["prev2"] = None
    return orig_commit(self, key, symbols)


vaegan.FrameEncoder._delta_payload = payload
vaegan.FrameEncoder._commit = commit
for i, clip in enumerate(clips):
    state.clear()
    state["clip"] = i
    with tempfile.TemporaryDirectory() as tmp:
        api.encode(clip, Path(tmp) / "o.gvc", quality=quality, max_frames=frames, overwrite=True)
    print(clip, len(rec["sel"]), flush=True)
np.savez_compressed(out, clip=np.array(rec["clip"]), sel=np.array(rec["sel"]),
                    **{k: np.concatenate([x.ravel() for x in rec[k]]) for k in ("ctx", "d", "same", "moved", "all", "two")},
                    sizes=np.array([x.size for x in rec["d"]]), clips=np.array(clips))
