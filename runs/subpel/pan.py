"""What a slow pan costs: one real picture panned by S pixels a frame (6 frames, 704×512 cut from
it), coded at level 5 (quality 6) frame by frame; per frame the packet bytes and the decoded
PSNR, for the shipped predictor table and, if /tmp/subpel3.npy exists (support3_bdrate.py makes
it, after `git apply runs/subpel/support3.patch`), for the 3×3 one.

    python runs/subpel/pan.py CLIP SKIP S...      (e.g. OpenCV's Megamind.avi 120 1 4)
"""
import sys
from pathlib import Path

import numpy as np

from vidcodec.codec.vaegan import FrameEncoder, to_tensor
from vidcodec.evaluate import rd
from vidcodec.models import zoo

ref, _ = rd.read_frames(Path(sys.argv[1]), 1, int(sys.argv[2]))
H, W, LEVEL = 512, 704, 5
m = zoo.load()
tables = [("2x2", m.subpel)]
if Path("/tmp/subpel3.npy").exists():
    from vidcodec.codec.subpel import Predictor
    from vidcodec.errors import ModelNotFoundError

    try:  # only with support3.patch applied
        tables.append(("3x3", Predictor(np.load("/tmp/subpel3.npy"), m.gains, m.level_channels, "0" * 64)))
    except ModelNotFoundError:
        print("(the 3x3 table needs `git apply runs/subpel/support3.patch`)")
padded = np.pad(ref[0], ((0, 0), (0, 200), (0, 0)), mode="edge")
g = m.gains[LEVEL][:, None, None]


def picture(symbols: np.ndarray) -> np.ndarray:
    return m.synthesize((symbols / np.where(g == 0, 1, g)).astype(np.float32)[None])[0]


for step in (int(a) for a in sys.argv[3:]):
    for name, predictor in tables:
        enc = FrameEncoder(m, LEVEL, predictor=predictor)
        sizes, psnr = [], []
        for i in range(6):
            x = to_tensor(np.ascontiguousarray(padded[8:8 + H, i * step:i * step + W]))
            sizes.append(len(enc.encode_latent(m.analyze(x)[0]).payload))
            psnr.append(round(float(10 * np.log10(1 / np.mean((picture(enc._prev) - x[0]) ** 2))), 2))
        print(f"pan {step} px/frame, {name} table: bytes {sizes}, PSNR {psnr}", flush=True)
