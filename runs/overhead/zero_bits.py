"""Where a delta frame's residual bits go: positions whose residuals are zero in every coded channel.

    python runs/overhead/zero_bits.py FRAMES QUALITY CLIP...

Per clip: delta payload bytes, the estimated bits of all-zero positions under the current coding,
and the ideal cost of a per-position skip map (binary, adaptive, contexts: left and top skip).
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

from vidcodec import api
from vidcodec.codec import context, vaegan

frames, quality, clips = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
stats = []
orig = vaegan.FrameEncoder._delta_payload


def hooked(self, d, plan, block=0, vectors=b""):
    payload = orig(self, d, plan, block, vectors)
    bits_total, ctx, sel = plan
    k = self.channels
    coded = np.flatnonzero(sel)
    h, w = d.shape[1:]
    per_pos = np.zeros((h, w))
    for ch in coded:
        rows = context.rows(int(sel[ch]), ctx[ch].ravel(), len(self.residuals)) if ctx is not None \
            else np.full(h * w, int(sel[ch]))
        v = np.clip(d[ch].ravel(), -vaegan._WINDOW, vaegan._WINDOW) + vaegan._WINDOW
        per_pos += self._delta_cost[rows, v].reshape(h, w)
    zero = ~d[:k].any(axis=0)
    # ideal adaptive binary coding of the skip map with 4 contexts (left, top skip)
    left = np.pad(zero, ((0, 0), (1, 0)), constant_values=True)[:, :-1]
    top = np.pad(zero, ((1, 0), (0, 0)), constant_values=True)[:-1]
    c = left.astype(int) + 2 * top.astype(int)
    mapbits = 0.0
    for i in range(4):
        z = zero[c == i]
        if z.size:
            p = (z.sum() + 0.5) / (z.size + 1)
            mapbits += -(z.sum() * np.log2(p) + (z.size - z.sum()) * np.log2(1 - p))
    stats.append((len(payload), len(vectors), bits_total / 8, per_pos[zero].sum() / 8, mapbits / 8,
                  zero.mean(), len(coded), k))
    return payload


vaegan.FrameEncoder._delta_payload = hooked
for clip in clips:
    stats.clear()
    with tempfile.TemporaryDirectory() as tmp:
        st = api.encode(clip, Path(tmp) / "o.gvc", quality=quality, max_frames=frames, overwrite=True)
    s = np.array(stats)
    print(f"{Path(clip).name} q{quality}: {len(s)} deltas, payload {s[:, 0].mean():.0f} B (mv {s[:, 1].mean():.0f}), "
          f"est {s[:, 2].mean():.0f} B, zero positions {100 * s[:, 5].mean():.0f} % costing {s[:, 3].mean():.1f} B, "
          f"skip map {s[:, 4].mean():.1f} B; coded channels {s[:, 6].mean():.1f}/{s[0, 7]:.0f}", flush=True)
