"""Collect every delta's selectors with the previous delta's (or -1 after a key): rows (clip, level, channel, sel, prev)."""
import sys
import tempfile
from pathlib import Path

import numpy as np

from vidcodec import api
from vidcodec.codec import vaegan

frames, out, clips = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
rows = []
orig = vaegan.FrameEncoder._delta_payload
orig_commit = vaegan.FrameEncoder._commit
state = {}
def hooked(self, d, plan, *a, **k):
    state["cand"] = plan[2].copy()
    return orig(self, d, plan, *a, **k)
def commit(self, key, symbols):
    state["prev"] = None
    return orig_commit(self, key, symbols)
orig_enc = vaegan.FrameEncoder._encode_latent
def enc(self, y, x):
    f = orig_enc(self, y, x)
    if f.kind == "delta":
        sel = state["cand"]; prev = state.get("prev")
        for c in range(self.channels):
            rows.append((state["clip"], self.level, c, int(sel[c]), -1 if prev is None else int(prev[c])))
        state["prev"] = sel.copy()
    return f
vaegan.FrameEncoder._delta_payload = hooked
vaegan.FrameEncoder._commit = commit
vaegan.FrameEncoder._encode_latent = enc
for i, clip in enumerate(clips):
    for q in range(1, 9):
        state.clear(); state["clip"] = i
        with tempfile.TemporaryDirectory() as tmp:
            api.encode(clip, Path(tmp) / "o.gvc", quality=q, max_frames=frames, overwrite=True)
        print(clip, q, len(rows), flush=True)
np.save(out, np.array(rows))
