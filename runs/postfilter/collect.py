"""Encode a clip's first N frames at some qualities (float32 encoder) and keep the source and decoded frames.

    python runs/postfilter/collect.py CLIP N Q,Q,... OUT.pkl
"""
import pickle
import sys
import tempfile
from pathlib import Path

from vidcodec import api
from vidcodec.evaluate import rd

clip, n = Path(sys.argv[1]), int(sys.argv[2]); qs = [int(q) for q in sys.argv[3].split(",")]
ref, rate = rd.read_frames(clip, n)
tmp = Path(tempfile.mkdtemp())
rd.write_y4m_clip(ref, rate, tmp / "r.y4m")
out = {"ref": ref, "dec": {}, "size": {}}
for q in qs:
    api.encode(tmp / "r.y4m", tmp / "a.gvc", quality=q, overwrite=True, backend="ort")
    out["size"][q] = (tmp / "a.gvc").stat().st_size
    out["dec"][q] = [f.rgb for f in api.frames(tmp / "a.gvc")]
    print(q, out["size"][q], flush=True)
Path(sys.argv[4]).write_bytes(pickle.dumps(out))
