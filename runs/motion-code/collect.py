"""Collect the motion vectors of every coded delta: python collect.py FRAMES OUT.npz CLIP...

Each winning delta with vectors gives (clip, level, bilinear, rows, cols, vectors): bilinear deltas carry
quarter vectors (format 10.0 bit 7 of the block byte), the others sixteenths for the learned predictor."""
import pickle
import sys
import tempfile
from pathlib import Path

from vidcodec import api
from vidcodec.codec import motion, subpel, vaegan

frames, out, clips = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
seen, rows, state = {}, [], {}
orig_enc = motion.encode_vectors


def encode_vectors(v):
    b = orig_enc(v)
    seen[b] = v.copy()
    return b


orig_payload = vaegan.FrameEncoder._delta_payload


def payload(self, d, plan, block=0, vectors=b"", pred=None):
    if block:
        rows.append((state["clip"], self.level, bool(block & subpel.BILINEAR), seen[vectors]))
    return orig_payload(self, d, plan, block, vectors, pred)


motion.encode_vectors = encode_vectors
vaegan.FrameEncoder._delta_payload = payload
for clip in clips:
    for q in range(1, 9):
        state["clip"] = Path(clip).stem
        seen.clear()
        with tempfile.TemporaryDirectory() as tmp:
            api.encode(clip, Path(tmp) / "o.gvc", quality=q, max_frames=frames, overwrite=True)
        print(clip, q, len(rows), flush=True)
with open(out, "wb") as f:
    pickle.dump(rows, f)
