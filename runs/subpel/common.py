"""What sim.py and sim16.py share: the model, the fitted quarter phases (runs/subpel/A.npz from
fit.py, else the shipped vidcodec/weights/vaegan-g.subpel.safetensors), their weights at a level, the 2×2 taps, the hook that shows the search the encoder's level
and previous latent, and the run over clips (every level, RD points as JSON)."""
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from vidcodec.codec import motion, vaegan
from vidcodec.evaluate import rd
from vidcodec.models import zoo

m = zoo.load("vaegan-g")
# The fitted phases: fit.py's runs/subpel/A.npz, or the shipped table (the same fit, float32, [fy, fx])
if Path("runs/subpel/A.npz").exists():
    _Z = np.load("runs/subpel/A.npz")
    A = {(int(k[0]), int(k[1])): _Z[k] for k in _Z.files}  # (fx, fy) quarter phase -> (C, 4C) map
else:
    from safetensors.numpy import load_file

    _T = load_file("vidcodec/weights/vaegan-g.subpel.safetensors")["phases"].astype(np.float64)
    A = {(fx, fy): _T[fy, fx] for fy in range(4) for fx in range(4) if (fx, fy) != (0, 0)}
F = 16  # fractional bits of the integer weights
C = 96
SEARCH = 16  # channels the search compares (motion.SEARCH_CHANNELS)
_cache = {}


def weights(K):
    """At the level coding K channels: the integer weights (2**F scale, integer-valued float64) for K
    output channels, and the unrounded unscaled ones of the first SEARCH outputs (for the search)."""
    lv = next(level for level in range(m.levels) if m.level_channels[level] == K)
    if lv not in _cache:
        g = m.gains[lv].astype(np.float64)
        g4 = np.tile(g, 4)
        mask = np.concatenate([np.arange(K) + t * C for t in range(4)])
        exact = {p: np.rint((g[:K, None] * a[:K][:, mask]) / g4[None, mask] * 2**F) for p, a in A.items()}
        search = {p: (g[:SEARCH, None] * a[:SEARCH][:, mask]) / g4[None, mask] for p, a in A.items()}
        _cache[lv] = exact, search
    return _cache[lv]


def taps(padded, y0, x0, bh, bw, K):
    """The (4K, bh·bw) 2×2 neighbourhoods of a block at (y0, x0) of the padded latent."""
    a = padded[:K, y0:y0 + bh, x0:x0 + bw]
    b = padded[:K, y0:y0 + bh, x0 + 1:x0 + 1 + bw]
    c = padded[:K, y0 + 1:y0 + 1 + bh, x0:x0 + bw]
    d = padded[:K, y0 + 1:y0 + 1 + bh, x0 + 1:x0 + 1 + bw]
    return np.concatenate([a, b, c, d]).reshape(4 * K, -1)


CUR = {}  # the encoder's channel count and previous latent, for the search


def install(predict, search):
    """Route the codec's motion prediction and search through ``predict`` and ``search``."""
    original = vaegan.FrameEncoder._motion

    def _motion(self, ys):
        CUR["K"] = self.channels
        CUR["prev"] = self._prev
        return original(self, ys)

    vaegan.FrameEncoder._motion = _motion
    motion.search = search
    motion.predict = predict


def run():
    """``OUT.json FRAMES CLIP...`` from the command line: every level of each clip, as points.py does."""
    out, frames, clips = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    result = {}
    for clip in clips:
        ref, rate = rd.read_frames(Path(clip), frames)
        with tempfile.TemporaryDirectory() as d:
            result[Path(clip).name] = [dataclasses.asdict(p) for p in
                                       rd.vidcodec_points(Path(clip), ref, rate, 250, Path(d), range(1, 9))]
        out.write_text(json.dumps(result))
        print(clip, "done", flush=True)
