"""Two other predictions for a delta's latent, measured on what the encoder codes (experiment,
2026-12-03, both dropped; format 11.0, vaegan-g, 30 frames, gop 250).

    python runs/encoder-tuning/prediction_modes.py collect OUT.pkl FRAMES CLIP...   (qualities 2, 4, 6)
    python runs/encoder-tuning/prediction_modes.py analyse TRAIN.pkl HELD.pkl

``collect`` hooks the encoder and keeps, for every delta, the scaled latent ``ys`` and the winning
prediction ``p`` (its coded channels). ``analyse`` compares, per clip and level, the squared error
and a bit proxy (2·log2(1 + |r|) + [r ≠ 0] per rounded residual r) of ``ys − p`` with:

* **zero prediction per 4 × 4 latent block** (an "intra block" as x264 has in P frames: where
  motion compensation fails, code the symbols themselves), the cheaper of the two per block by the
  proxy. Held out, q 2 / 4 / 6: blocks where zero wins bikes 6.3 / 2.5 / 0.1 %, proxy bits −4.1 /
  −0.7 / −0.0 %; vtest −0.4 / −0.5 / −0.5 %; diver 0.0 / −0.0 / −0.1 %, before a flag is paid
  (training clips: wannaworktogether −8.1 / −2.5 / −1.1 %, the others under 0.3 %). The latents of
  new content cost about as much against zero as against a poor prediction; only the lowest levels
  of fast motion would gain, a percent or two of a clip's BD-rate at best.
* **a prediction filter**: per channel a scalar α (least squares, fitted on the training clips per
  level: α 0.39–0.99, median 0.72–0.81) or a 3 × 3 spatial filter, applied to ``p``. Squared error
  held out −0.4 … −12 %, but the bit proxy bikes −1.2 … −5.3 %, diver −3.9 … +1.2 %, vtest +9.6 …
  +25.5 %, training clips up to +118 % (movie-hello): shrinking breaks the exact copies of still
  regions, whose residuals are zero. An encoder-signalled choice per channel would at best take
  the few percent on bikes. Training clips carphone, motion.mov, wannaworktogether, bigbuckbunny,
  movie-hello; held out bikes, vtest, diver.
"""
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np

from vidcodec import api
from vidcodec.codec import vaegan

QUALITIES = (2, 4, 6)
BLOCK = 4


def collect(out: str, frames: int, clips: list[str]) -> None:
    caps = []
    orig = vaegan.FrameEncoder._rdoq_winner

    def hook(self, ys, pred, r, plan, block, vectors):
        won = orig(self, ys, pred, r, plan, block, vectors)
        caps.append((ys[: self.channels].astype(np.float32), pred[: self.channels].astype(np.float32)))
        return won

    vaegan.FrameEncoder._rdoq_winner = hook
    res = {}
    for clip in clips:
        for q in QUALITIES:
            caps.clear()
            with tempfile.TemporaryDirectory() as t:
                api.encode(clip, Path(t) / "o.gvc", quality=q, max_frames=frames, overwrite=True)
            res[(Path(clip).name, q)] = list(caps)
    with open(out, "wb") as f:
        pickle.dump(res, f)


def bits(r: np.ndarray) -> float:
    a = np.abs(np.rint(r))
    return float((np.log2(1 + a) * 2 + (a > 0)).sum())


def shifts(p: np.ndarray) -> np.ndarray:
    """(k, h, w, 9): each sample's 3 × 3 neighbourhood (edges repeated)."""
    pp = np.pad(p, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = p.shape[1:]
    return np.stack([pp[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], -1)


def analyse(train_path: str, held_path: str) -> None:
    with open(train_path, "rb") as f:
        train = pickle.load(f)
    with open(held_path, "rb") as f:
        held = pickle.load(f)
    for q in QUALITIES:
        gram, rhs = {}, {}
        for (_, qq), caps in train.items():
            if qq != q:
                continue
            for ys, pred in caps:
                s = shifts(pred)
                for c in range(ys.shape[0]):
                    x = s[c].reshape(-1, 9).astype(np.float64)
                    gram[c] = gram.get(c, 0) + x.T @ x
                    rhs[c] = rhs.get(c, 0) + x.T @ ys[c].reshape(-1)
        filt = {c: np.linalg.solve(gram[c] + 1e-3 * np.eye(9), rhs[c]) for c in gram}
        alpha = {c: rhs[c][4] / gram[c][4, 4] for c in gram}
        print(q, "alpha quartiles", np.percentile(list(alpha.values()), [0, 25, 50, 75, 100]).round(3))
        for name, data in (("train", train), ("held", held)):
            for clip in sorted({c for c, qq in data if qq == q}):
                e = np.zeros(3)
                b = np.zeros(3)
                zero = best = base = 0.0
                won = blocks = 0
                for ys, pred in data[(clip, q)]:
                    s = shifts(pred)
                    for c in range(ys.shape[0]):
                        for i, r in enumerate((ys[c] - pred[c], ys[c] - alpha[c] * pred[c], ys[c] - s[c] @ filt[c])):
                            e[i] += float((r**2).sum())
                            b[i] += bits(r)
                    h, w = ys.shape[1:]
                    for y0 in range(0, h, BLOCK):
                        for x0 in range(0, w, BLOCK):
                            a = ys[:, y0:y0 + BLOCK, x0:x0 + BLOCK]
                            mc, z = bits(a - pred[:, y0:y0 + BLOCK, x0:x0 + BLOCK]), bits(a)
                            base += mc
                            zero += z
                            best += min(mc, z)
                            won += z < mc
                            blocks += 1
                print(f"{q} {name} {clip}: filter energy {e[1] / e[0] - 1:+.1%} (scalar) {e[2] / e[0] - 1:+.1%} (3x3), "
                      f"bits {b[1] / b[0] - 1:+.1%} {b[2] / b[0] - 1:+.1%}; zero-prediction blocks win "
                      f"{won / blocks:.1%}, bits {best / base - 1:+.1%}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "collect":
        collect(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
    else:
        analyse(sys.argv[2], sys.argv[3])
