"""A pixel-domain copy mode for delta frames (experiment, 2026-12-03; simulated, not built).

    python runs/encoder-tuning/copy_mode.py CLIP QUALITY FRAMES BLOCK THRESHOLD

The deltas settle under their keyframe (bikes at levels 4-5 by about 3 dB), because what a delta
does not update in the latent is re-synthesised, not kept. x264 keeps it: a skipped block is the
reference's pixels. Simulated here on the decoded frames of a real encode (one GOP): per BLOCK×BLOCK
block of each delta, the output is the synthesised block or the previous *output* frame's block,
moved by the vector the delta coded for that block's motion block ("vector"; zero where the delta
has none), or that or the unmoved block ("both", a ternary choice), whichever is nearer the source by
more than THRESHOLD per sample of squared error; the choices compound (a copied block is copied on).
The mask's cost is the order-0 entropy of each block's choice given its left and top neighbours'
choices, fitted on the clip itself (optimistic). Printed: mean PSNR without / with copies, the mask's
bytes a frame, the share of blocks copied.

Measured (20 frames; bytes a frame of the stream without copies; PSNR gain, mask bytes a frame):

| clip, level | stream | 16², threshold 0, both | 32², threshold 0, both | 64², threshold 2, both |
|---|---|---|---|---|
| bigbuckbunny q3 | 702 B | +0.59 dB, 351 B | +0.35 dB, 86 B | +0.41 dB, 18 B |
| bigbuckbunny q5 | 3514 B | +0.09 dB, 297 B | +0.05 dB, 59 B | |
| wannaworktogether q3 | 108 B | +2.49 dB, 22 B | +0.38 dB, 5 B | +0.32 dB, 2 B |
| wannaworktogether q5 | 180 B | +0.16 dB, 25 B | +0.02 dB, 5 B | |
| carphone q3 | 40 B | +0.13 dB, 12 B | +0.06 dB, 3 B | |
| motion.mov q3 / q6 | 41 / 80 B | +0.36 / +0.52 dB, 37 / 87 B | +0.13 dB, 4 B (q3) | +0.08 dB, 1 B (q3) |
| bikes q3 / q6 (held out, diagnosis only) | 84 / 325 B | +1.53 / +0.45 dB, 88 / 101 B | | |
| vtest q3 / q6 (held out, diagnosis only) | 306 / 1454 B | +0.02 / +0.02 dB, 51 / 66 B | | |
| Megamind 120-139 q3 / q5 (unseen, diagnosis only) | 200 / 688 B | +0.65 / +0.35 dB, 177 / 201 B | | |

A dB is worth about a quarter of the rate on these curves. Fine blocks find real gains but their
masks cost as much (bikes q3: +1.5 dB for twice the bytes); coarse blocks cost little and find
little; on a fixed noisy camera (vtest) copying finds nothing, the noise being new every frame. Only
wannaworktogether at 16² (+2.5 dB for 20 % more bytes) would pay clearly. Even on Megamind, whose
slow sub-stride motion is where the latent deltas are weakest (docs/eval/unseen-opencv), the copies
cover half the blocks for +0.35-0.65 dB at a mask that costs as much as the frame; the latent bits a
copied block would no longer need (not modelled here) could not pay for that either. Not built: it would need a
format change, the decoder's previous output frame in the loop (a frame-serial step after the
synthesis), and a mask coded far more cheaply than this one to pay on most clips.
"""
import collections
import sys
import tempfile
from pathlib import Path

import numpy as np

from vidcodec import api
from vidcodec.codec import motion, subpel, vaegan
from vidcodec.evaluate import rd

clip, q, n, B, THR = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
seen, vec = {}, {}
_encode_vectors = motion.encode_vectors
_delta_payload = vaegan.FrameEncoder._delta_payload


def encode_vectors(v):
    b = _encode_vectors(v)
    seen[b] = v.copy()
    return b


def delta_payload(self, d, plan, block=0, vectors=b"", pred=None):
    vec[self._since_key + 1] = (block, seen.get(vectors)) if block else (0, None)  # keyed by frame index
    return _delta_payload(self, d, plan, block, vectors, pred)


motion.encode_vectors = encode_vectors
vaegan.FrameEncoder._delta_payload = delta_payload
ref, rate = rd.read_frames(Path(clip), n)
tmp = Path(tempfile.mkdtemp())
rd.write_y4m_clip(ref, rate, tmp / "r.y4m")
api.encode(tmp / "r.y4m", tmp / "a.gvc", quality=q, gop=1000, overwrite=True)
size = (tmp / "a.gvc").stat().st_size
dec = [f.rgb.astype(np.float64) for f in api.frames(tmp / "a.gvc")]
H, W = ref[0].shape[:2]


def psnr(a, b):
    return 10 * np.log10(255 ** 2 / ((a - b) ** 2).mean())


def moved(prev, dx, dy):
    pad = 64
    p = np.pad(prev, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return p[pad + dy:pad + dy + H, pad + dx:pad + dx + W]


def vector_copy(prev, t):
    block, v = vec.get(t, (0, None))
    if v is None:
        return prev
    mb = (block & (subpel.BILINEAR - 1)) * 16  # the motion block in pixels
    unit = 4 if block & subpel.BILINEAR else 1  # pixels per vector unit: quarters or sixteenths of 16
    out = np.empty_like(prev)
    for r in range(v.shape[0]):
        for c in range(v.shape[1]):
            out[r * mb:(r + 1) * mb, c * mb:(c + 1) * mb] = moved(prev, int(v[r, c, 0]) * unit,
                                                                   int(v[r, c, 1]) * unit)[r * mb:(r + 1) * mb, c * mb:(c + 1) * mb]
    return out


base = np.mean([psnr(s.astype(np.float64), np.rint(d)) for s, d in zip(ref, dec)])
report = []
for mode in ("vector", "both"):
    prev, scores, masks = None, [], []
    for t, (s, d) in enumerate(zip(ref, dec)):
        s = s.astype(np.float64)
        out = d.copy()
        if prev is not None:
            cands = [vector_copy(prev, t)] + ([prev] if mode == "both" else [])
            m = np.zeros((-(-H // B), -(-W // B)), int)
            for y in range(m.shape[0]):
                for x in range(m.shape[1]):
                    sl = np.s_[y * B:(y + 1) * B, x * B:(x + 1) * B]
                    best = ((d[sl] - s[sl]) ** 2).sum()
                    for i, c in enumerate(cands):
                        e = ((c[sl] - s[sl]) ** 2).sum()
                        if e < best - THR * out[sl].size:
                            best, m[y, x] = e, i + 1
                            out[sl] = c[sl]
            masks.append(m)
        prev = np.rint(out)
        scores.append(psnr(s, prev))
    counts = collections.defaultdict(collections.Counter)
    for m in masks:
        for y in range(m.shape[0]):
            for x in range(m.shape[1]):
                counts[(m[y, x - 1] if x else -1, m[y - 1, x] if y else -1)][m[y, x]] += 1
    bits = sum(-k * np.log2(k / sum(c.values())) for c in counts.values() for k in c.values())
    copied = np.mean([(m > 0).mean() for m in masks]) if masks else 0.0
    report.append(f"{mode}: {np.mean(scores):.2f} dB, mask {bits / 8 / max(len(masks), 1):.0f} B/frame, copied {copied:.2f}")
print(f"{Path(clip).name} q{q} block {B} threshold {THR}: {size / n:.0f} B/frame, synthesised {base:.2f} dB; "
      + "; ".join(report))
