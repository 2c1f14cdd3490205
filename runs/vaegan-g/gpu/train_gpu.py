"""vidcodec train on a machine without PyAV, from make_pack.py's pack (VIDCODEC_PACK, default .gpu/data):
video frames come from the pack's frames/ folder instead of the (placeholder) video files."""
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from vidcodec.train import data

FRAMES = Path(os.environ.get("VIDCODEC_PACK", ".gpu/data")) / "frames"


def frames_from_pack(path: Path, count: int) -> list[np.ndarray]:
    files = sorted(f for f in (FRAMES / path.name).iterdir() if f.suffix in (".jpg", ".webp"))
    imgs = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    rep = max(1, round(count / len(imgs)))  # a pack thinned to every 2nd frame: each one twice
    return [im for im in imgs for _ in range(rep)][:count]


data.sample_video_frames = frames_from_pack
from vidcodec.train.vaegan import main

sys.exit(main(sys.argv[1:]))  # vidcodec train's exit status (2 usage, 1 failure, 130/143 stopped)
