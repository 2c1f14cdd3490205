"""What a delta costs when a still frame moves: one frame of a clip, coded as a keyframe at quality 5,
then the same frame changed (noise of ±1, +2 brightness, shifted 1, 4 or 16 pixels down with the
top row repeated) coded as the next frame.

    python docs/eval/unseen-opencv/shift.py CLIP FRAME

2026-12-02, vaegan-g, format 9.0 (delta bytes as a share of the keyframe's):
Megamind.avi frame 130: same 0 %, noise 0 %, brightness 0 %, 1 px 4 %, 4 px 33 %, 16 px 3 %;
samples/vtest.mp4 frame 0: 0 %, 0 %, 0 %, 4 %, 40 %, 1 %.
A whole latent pixel (16 frame pixels) is an integer shift of the symbols, which the motion
vectors carry almost for free; a quarter of one is not: the analysis transform is not shift
equivariant below its stride, so the bilinear prediction misses and the residual is a third of a
keyframe.
"""
import sys
from pathlib import Path

import numpy as np

from vidcodec.codec import vaegan
from vidcodec.evaluate import rd
from vidcodec.models import zoo

m = zoo.load("vaegan-g")
ref, rate = rd.read_frames(Path(sys.argv[1]), 1, int(sys.argv[2]))
f = ref[0]
def lat(img):
    x = vaegan.to_tensor(img); return m.analyze(x if x.ndim == 4 else x[None])[0]
y0 = lat(f)
for name, g in [("same", f), ("noise1", np.clip(f.astype(int) + np.random.default_rng(0).integers(-1, 2, f.shape), 0, 255).astype(np.uint8)),
                ("bright+2", np.clip(f.astype(int) + 2, 0, 255).astype(np.uint8)),
                ("shift1", np.pad(f, ((0,0),(1,0),(0,0)), mode="edge")[:, :-1]),
                ("shift4", np.pad(f, ((0,0),(4,0),(0,0)), mode="edge")[:, :-4]),
                ("shift16", np.pad(f, ((0,0),(16,0),(0,0)), mode="edge")[:, :-16])]:
    enc = vaegan.FrameEncoder(m, 4)
    k = enc.encode_latent(y0)
    d = enc.encode_latent(lat(g))
    print(f"{name:9s} key {len(k.payload):6d} B  next: {d.kind} {len(d.payload):6d} B ({len(d.payload)/len(k.payload):.0%})")
