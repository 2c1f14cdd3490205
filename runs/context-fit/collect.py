"""Collect key symbols and delta (prediction, residual) pairs from real encodes."""
import io
import sys

from vidcodec import api
from vidcodec.codec import vaegan as V

rec = []
orig_enc = V.FrameEncoder.encode_latent
orig_dp = V.FrameEncoder._delta_payload
orig_kp = V.FrameEncoder._key_payload
def kp(self, symbols, level):
    p = orig_kp(self, symbols, level)
    self._cand_key = (p, symbols.copy())
    return p
def dp(self, d, block=0, vectors=b""):
    p = orig_dp(self, d, block, vectors)
    self._cands.append((p, d.copy(), block))
    return p
def enc(self, y, x=None):
    self._cands = []
    prev = None if self._prev is None else self._prev.copy()
    f = orig_enc(self, y, x)
    if f.kind == "key":
        rec.append(("key", f.level, self._prev.copy(), None))
    else:
        for p, d, block in self._cands:
            if p == f.payload:
                pred = self._prev - d
                rec.append(("delta", f.level, d, pred, block, prev))
                break
        else:
            raise RuntimeError("no match")
    return f
V.FrameEncoder.encode_latent = enc
V.FrameEncoder._delta_payload = dp
V.FrameEncoder._key_payload = kp

clip, out, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
levels = [int(a) for a in sys.argv[4].split(",")]
data = {}
for q in levels:
    rec.clear()
    api.encode(clip, io.BytesIO(), quality=q + 1 if False else q, max_frames=frames, audio=False)
    data[q] = list(rec)
import pickle

with open(out, "wb") as fh:
    pickle.dump(data, fh)
print(clip, {q: (sum(r[0]=="key" for r in v), sum(r[0]=="delta" for r in v), v[0][1]) for q, v in data.items()})
