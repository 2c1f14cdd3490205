"""Record every delta's (residuals, prediction) of real encodes with the current encoder.

    python runs/context-fit/collect_delta.py CLIP OUT.pkl FRAMES QUALITIES

e.g. ``data/videos/carphone.mp4 /tmp/keyctx/d_carphone.mp4.pkl 40 2,4,6``: OUT maps each quality to
a list of (level, residuals, prediction) of the first FRAMES frames' deltas (coded channels only).
"""
import io
import pickle
import sys

from vidcodec import api
from vidcodec.codec import vaegan as V

rec = []
orig_enc = V.FrameEncoder.encode_latent
orig_dp = V.FrameEncoder._delta_payload
def dp(self, d, plan, block=0, vectors=b""):
    self._last_d = d.copy()
    return orig_dp(self, d, plan, block, vectors)
def enc(self, y, x=None):
    self._last_d = None
    f = orig_enc(self, y, x)
    if f.kind == "delta":
        d = self._last_d
        rec.append((f.level, d[:self.channels].astype(int), (self._prev - d)[:self.channels].astype(int)))
    return f
V.FrameEncoder.encode_latent = enc
V.FrameEncoder._delta_payload = dp
clip, out, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = {}
for q in [int(a) for a in sys.argv[4].split(",")]:
    rec.clear()
    api.encode(clip, io.BytesIO(), quality=q, max_frames=frames, audio=False)
    data[q] = list(rec)
with open(out, "wb") as fh:
    pickle.dump(data, fh)
print(clip, {q: len(v) for q, v in data.items()})
