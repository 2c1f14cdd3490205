"""Per-channel sensitivity of the synthesis: the pixel squared error (RGB in [0, 1], summed) that one
unit of symbol error in channel c causes, at each level, averaged over frames of training clips.

    python runs/encoder-tuning/sensitivity.py OUT.npz CLIP[:FRAME]...

Each frame is analysed, rounded at the level (channels past its ladder step zero), synthesized; then
for each coded channel 40 random positions get ±1 and the frame is synthesized again. OUT holds
``level{L}`` (K,) float64 arrays, the mean over the clips.

Used once (2026-12-03) for an encoder experiment that was dropped: the encoder's squared errors of the
scaled latent (delta candidates' cost, RDOQ, the per-channel choice, keyframe RDOQ) weighted per
channel by sensitivity**alpha, normalised to mean 1 over the level's channels (the code:
channel-weights.patch against 23ddc9b, $VIDCODEC_SENS=OUT.npz:alpha). Table from carphone,
motion.mov, bigbuckbunny:50, wannaworktogether:30, movie-hello:40: per level the most sensitive
channel is 1.7-3.5x the median, the least 0.67-0.87x. 30 frames, gop 250, every level, PSNR /
MS-SSIM BD-rate against no weights: alpha 1 carphone +4.23 / +3.03 %, motion.mov +3.82 / +3.93 %;
alpha 0.5 +1.00 / +0.32 %, +2.41 / +2.63 %; alpha -0.5 -0.49 / +0.53 %, -1.18 / -0.96 %. The
unweighted error of the scaled latent is already what the learned gains balance; weighting the
sensitive channels up loses.
"""
import sys
from pathlib import Path

import numpy as np

from vidcodec.codec.vaegan import to_tensor
from vidcodec.evaluate import rd
from vidcodec.models import zoo

m = zoo.load()
rng = np.random.default_rng(0)
out_path, specs = sys.argv[1], sys.argv[2:]
latents = []
for spec in specs:
    clip, _, frame = spec.partition(":")
    ref, _ = rd.read_frames(Path(clip), 1, int(frame or 0))
    latents.append(m.analyze(to_tensor(ref[0], m.downscale))[0])
table = {}
for level in range(m.levels):
    g = m.gains[level][:, None, None].astype(np.float64)
    k = m.level_channels[level]
    sums = np.zeros(k)
    for y in latents:
        s = np.rint(y * g)
        s[k:] = 0
        base = m.synthesize((s / g)[None].astype(np.float32))
        n = 40
        pos = rng.choice(s[0].size, n, replace=False)
        for c in range(k):
            t = s.copy()
            t[c].reshape(-1)[pos] += rng.choice([-1.0, 1.0], n)
            img = m.synthesize((t / g)[None].astype(np.float32))
            sums[c] += float(((img.astype(np.float64) - base) ** 2).sum()) / n
    table[f"level{level}"] = sums / len(latents)
    w = table[f"level{level}"]
    print(f"level {level}: K={k}, max/median {w.max() / np.median(w):.2f}, min/median {w.min() / np.median(w):.2f}",
          flush=True)
np.savez(out_path, **table)
