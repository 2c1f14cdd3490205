"""Build the data pack that vaegan-g was trained from on a lent GPU machine (run here, carry the result).

The GPU machine has no PyAV and takes at most 64 MiB per call, so the training pool is written as
JPEG (quality 90): every photo as the loader sees it (at most 1600 px on its long side), and the
same 120 frames per training video that ``vidcodec train`` samples, bigbuckbunny (720p, 132
frames) thinned to every second frame (``train_gpu.py`` uses each of those twice). The held-out
clips (bikes, vtest, diver) are left out as in every run. About 43 MB.

    python runs/vaegan-g/gpu/make_pack.py data .gpu/data
"""

import sys
from pathlib import Path

import cv2

from vidcodec.train.config import DEFAULT_EXCLUDE
from vidcodec.train.data import IMAGE_EXTS, VIDEO_EXTS, expand_sources, load_image, sample_video_frames

src, out = Path(sys.argv[1]), Path(sys.argv[2])
jpeg = [cv2.IMWRITE_JPEG_QUALITY, 90]
(out / "photos").mkdir(parents=True, exist_ok=True)
(out / "videos").mkdir(parents=True, exist_ok=True)
for f in expand_sources([src / "photos", src / "videos"]):
    if f.name in DEFAULT_EXCLUDE:
        continue
    if f.suffix.lower() in IMAGE_EXTS:
        cv2.imwrite(str(out / "photos" / (f.stem + ".jpg")), cv2.cvtColor(load_image(f), cv2.COLOR_RGB2BGR), jpeg)
    elif f.suffix.lower() in VIDEO_EXTS:
        (out / "videos" / f.name).touch()  # a placeholder: train_gpu.py reads the frames below
        d = out / "frames" / f.name
        d.mkdir(parents=True, exist_ok=True)
        keep = 2 if f.name == "bigbuckbunny.mp4" else 1
        for i, frame in enumerate(sample_video_frames(f, 120)):
            if i % keep == 0:
                cv2.imwrite(str(d / f"{i:04d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), jpeg)
