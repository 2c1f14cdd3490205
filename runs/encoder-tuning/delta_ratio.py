"""Delta bits per keyframe bit at every level (what the rate controller guesses before it has measured
a delta; vidcodec/codec/ratecontrol.py, _FIRST_BASE).

    python runs/encoder-tuning/delta_ratio.py CLIP...     (training clips; 30 frames, gop 30)

Prints per clip the mean delta packet over the keyframe packet (headers included) at levels 1-8, then
the median over clips and the median divided by 1.2^level (the controller's growth model). Format 7.0,
2026-12-02, five training clips: medians 0.069 0.063 0.081 0.093 0.103 0.134 0.186 0.260, divided by
1.2^l 0.050-0.072; upper quartile of that 0.068-0.087, so _FIRST_BASE = 0.08.
"""
import io
import sys

import numpy as np

from vidcodec import api, container

clips = sys.argv[1:]
res = {}
for clip in clips:
    row = []
    for q in range(1, 9):
        buf = io.BytesIO()
        api.encode(clip, buf, quality=q, max_frames=30, gop=30)
        pk = [p for p in container.GvcReader(io.BytesIO(buf.getvalue())) if p.stream_index == 0 and p.kind in (1, 2)]
        keys = [len(p.payload) + p.header_size for p in pk if p.kind == 1]
        deltas = [len(p.payload) + p.header_size for p in pk if p.kind == 2]
        row.append(np.mean(deltas) / keys[0] if deltas else np.nan)
    res[clip] = row
    print(clip.split('/')[-1], " ".join(f"{r:.3f}" for r in row), flush=True)
a = np.array(list(res.values()))
print("median", " ".join(f"{r:.3f}" for r in np.nanmedian(a, axis=0)))
print("median / 1.2^l", " ".join(f"{r / 1.2**l:.3f}" for l, r in enumerate(np.nanmedian(a, axis=0))))
