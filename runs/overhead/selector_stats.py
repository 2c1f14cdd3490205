"""Statistics of delta selectors (what a coded selector section could save).

    python runs/overhead/selector_stats.py FRAMES CLIP...   (every level; training clips only)
"""
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from vidcodec import api
from vidcodec.codec import vaegan

frames, clips = int(sys.argv[1]), sys.argv[2:]
rows = []  # (level, channel, K, selector, previous selector or -1)
orig = vaegan.FrameEncoder._delta_payload
state = {}


def hooked(self, d, plan, block=0, vectors=b""):
    sel = plan[2]
    prev = state.get("prev")
    for c in range(self.channels):
        rows.append((self.level, c, self.channels, int(sel[c]), -1 if prev is None else int(prev[c])))
    state["prev"] = sel.copy()
    return orig(self, d, plan, block, vectors)


vaegan.FrameEncoder._delta_payload = hooked
for clip in clips:
    for q in range(1, 9):
        state.clear()
        with tempfile.TemporaryDirectory() as tmp:
            api.encode(clip, Path(tmp) / "o.gvc", quality=q, max_frames=frames, overwrite=True)
a = np.array(rows)
np.save("/tmp/selectors.npy", a)


def H(values):
    c = np.array(list(Counter(values).values()), float)
    p = c / c.sum()
    return -(c * np.log2(p)).sum()


n = len(a)
print(f"{n} selectors; uniform {n * np.log2(15) / 8:.0f} B; order-0 {H(a[:, 3]) / 8:.0f} B")
ctx_prev = H(list(zip(a[:, 4], a[:, 3]))) - H(a[:, 4])
print(f"given previous selector: {ctx_prev / 8:.0f} B")
ctx_lvl = H(list(zip(a[:, 0], a[:, 3]))) - H(a[:, 0])
print(f"given level: {ctx_lvl / 8:.0f} B")
band = np.minimum(a[:, 1] // 8, 11)
ctx_both = H(list(zip(a[:, 4], a[:, 0], a[:, 3]))) - H(list(zip(a[:, 4], a[:, 0])))
print(f"given previous selector and level: {ctx_both / 8:.0f} B")
pz = (a[:, 4] > 0).astype(int)
ctx_pz = H(list(zip(pz, a[:, 0], a[:, 3]))) - H(list(zip(pz, a[:, 0])))
print(f"given previous coded? and level: {ctx_pz / 8:.0f} B")
print("selector histogram", np.bincount(a[:, 3], minlength=15))
