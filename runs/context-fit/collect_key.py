"""Collect analysis latents of real frames for fitting the keyframe contexts (format 4.0).

    python runs/context-fit/collect_key.py OUT.pkl CLIP... [--photos DIR]

For each clip, 10 frames evenly spaced over its length; with --photos, every second photo of DIR
(sorted by name), scaled down to 640 pixels on the long side. Latents are stored unquantized, so
the fit can quantize them at every level.
"""
import argparse
import glob
import pickle

import av
import cv2
import numpy as np

from vidcodec.codec.vaegan import to_tensor
from vidcodec.models import zoo

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("clips", nargs="*")
ap.add_argument("--photos")
ap.add_argument("--model", default="vaegan-g")
args = ap.parse_args()
m = zoo.load(args.model, backend="torch")
out = {}
for clip in args.clips:
    with av.open(clip) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    idx = np.linspace(0, len(frames) - 1, 10).astype(int)
    out[clip.rsplit("/", 1)[-1]] = [m.analyze(to_tensor(frames[i]))[0].astype(np.float32) for i in idx]
    print(clip, len(frames), frames[0].shape, flush=True)
if args.photos:
    ys = []
    for f in sorted(glob.glob(f"{args.photos}/*"))[::2]:
        im = cv2.imread(f)
        if im is None:
            continue
        im = cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
        h, w = im.shape[:2]
        s = 640 / max(h, w)
        if s < 1:
            im = cv2.resize(im, (int(w * s) // 2 * 2, int(h * s) // 2 * 2), interpolation=cv2.INTER_AREA)
        ys.append(m.analyze(to_tensor(im))[0].astype(np.float32))
    out["photosA"], out["photosB"] = ys[0::2], ys[1::2]  # fit on A, check on B
    print("photos", len(ys))
with open(args.out, "wb") as fh:
    pickle.dump(out, fh)
