"""How tests/data/vaegan-tiny.* was made: a tiny VAE-GAN (8 channels, 3 levels) trained for a minute.

    python -m vidcodec.train.vaegan --data DATA/photos --out /tmp/tinyrun --name vaegan-tiny \\
        --enc-channels 8 --dec-channels 8 --latent-channels 8 --lambdas 8 32 128 --steps 600 \\
        --batch 6 --crop 64 --lr 1e-3 --val-every 300 --val-crops 4 --threads 1
    python -m vidcodec.train.package /tmp/tinyrun/best.safetensors tests/data

(DATA is the corpus of ../shared/data/fetch.sh.) The committed files are what the golden
stream tests/data/golden.gvc names by hash: regenerating them breaks that test on purpose.

The golden stream and its expected frames were made with :func:`make_golden` (``python
tests/tiny_model.py``), once, with format version 1.0.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"


def make_golden() -> None:
    """Encode a 6-frame testsrc2 clip with vaegan-tiny into tests/data/golden.gvc + golden_frames.npz."""
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ["VIDCODEC_MODEL_PATH"] = str(DATA)
    from conftest import write_testsrc

    import vidcodec

    with tempfile.TemporaryDirectory() as d:
        clip = write_testsrc(Path(d) / "src.mp4", frames=6, size=(62, 46))
        vidcodec.encode(clip, DATA / "golden.gvc", model="vaegan-tiny", quality=2, gop=3, overwrite=True)
    frames = list(vidcodec.frames(DATA / "golden.gvc"))
    np.savez_compressed(DATA / "golden_frames.npz", rgb=np.stack([f.rgb for f in frames]),
                        pts=np.array([f.pts for f in frames]), key=np.array([f.key for f in frames]))


if __name__ == "__main__":
    make_golden()
