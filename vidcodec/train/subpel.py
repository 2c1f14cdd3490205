"""Fit a model's sub-pixel predictor table (format 10.0 motion, :mod:`vidcodec.codec.subpel`).

For each quarter phase (fx, fy) ≠ (0, 0), a least-squares linear map from the 2×2 neighbourhood of
all channels of a picture's latent to each channel of the latent of the picture moved by
(4·fx, 4·fy) pixels, in the unscaled latent domain (the codec scales it per level). Data: two
random 256² crops of every picture at least 296 pixels on each side; every fourth picture is held
out and reported on (error per value of the scaled latent at three levels, against bilinear
interpolation and against no motion). The shipped table of ``vaegan-g``:

    python -m vidcodec.train.subpel vaegan-g data/photos vidcodec/weights/vaegan-g.subpel.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..codec import vaegan
from ..codec.subpel import TENSOR
from ..models import zoo
from ..outputs import usual_mode

CROP = 256
PHASES = [(fx, fy) for fy in range(4) for fx in range(4) if (fx, fy) != (0, 0)]


def _latent(model: zoo.CodecModel, img: np.ndarray) -> np.ndarray:
    x = vaegan.to_tensor(img)
    return model.analyze(x if x.ndim == 4 else x[None])[0].astype(np.float64)


def _taps(y: np.ndarray) -> np.ndarray:
    """(4C, N): 2×2 neighbourhoods at the interior positions (a 2-sample border skipped)."""
    return np.concatenate([y[:, 2 + b:y.shape[1] - 2 + b, 2 + a:y.shape[2] - 2 + a]
                           for b in (0, 1) for a in (0, 1)]).reshape(4 * y.shape[0], -1)


def _target(y: np.ndarray) -> np.ndarray:
    return y[:, 2:-2, 2:-2].reshape(y.shape[0], -1)


def samples(model: zoo.CodecModel, pictures: list[Path], seed: int = 1) -> dict:
    """Per phase, (picture index, latent, moved latent) of two random crops of each picture."""
    import cv2

    rng = np.random.default_rng(seed)
    data: dict = {p: [] for p in PHASES}
    for i, path in enumerate(pictures):
        img = cv2.imread(str(path))
        if img is None:
            continue
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        h, w = img.shape[:2]
        if h < CROP + 40 or w < CROP + 40:
            continue
        for _ in range(2):
            y, x = rng.integers(0, h - CROP - 20), rng.integers(0, w - CROP - 20)
            y0 = _latent(model, np.ascontiguousarray(img[y:y + CROP, x:x + CROP]))
            for fx, fy in PHASES:
                dx, dy = 4 * fx, 4 * fy
                y1 = _latent(model, np.ascontiguousarray(img[y + dy:y + dy + CROP, x + dx:x + dx + CROP]))
                data[(fx, fy)].append((i, y0, y1))
    return data


def fit(data: dict, channels: int) -> np.ndarray:
    """The (4, 4, C, 4C) float32 table from the training pictures (index not divisible by 4)."""
    table = np.zeros((4, 4, channels, 4 * channels), dtype=np.float32)
    for (fx, fy), items in data.items():
        x = np.concatenate([_taps(a) for i, a, _ in items if i % 4], 1)
        y = np.concatenate([_target(b) for i, _, b in items if i % 4], 1)
        xtx = x @ x.T
        xtx += 1e-6 * np.trace(xtx) / len(xtx) * np.eye(len(xtx))
        table[fy, fx] = np.linalg.solve(xtx, x @ y.T).T
    return table


def report(model: zoo.CodecModel, data: dict, table: np.ndarray) -> list[str]:
    """Held-out error per value (scaled latent, quantized inputs) of no motion, bilinear and the table."""
    lines = []
    c = model.latent_channels
    for level in sorted({1, model.levels // 2, model.levels - 1}):
        g = model.gains[level].astype(np.float64)
        k = model.level_channels[level]
        cols = np.concatenate([np.arange(k) + t * c for t in range(4)])
        parts = []
        for fx, fy in [(1, 0), (2, 0), (1, 1), (3, 2)]:
            w = g[:k, None] * table[fy, fx][:k][:, cols].astype(np.float64) / np.tile(g[:k], 4)[None, :]
            bx, by = fx / 4, fy / 4
            e = np.zeros(3)
            n = 0
            for i, a, b in data[(fx, fy)]:
                if i % 4:
                    continue
                q = np.round(a * g[:, None, None])[:k]
                t = _target(b * g[:, None, None])[:k]
                x = _taps(q)
                bil = ((1 - by) * (1 - bx) * x[:k] + (1 - by) * bx * x[k:2 * k] + by * (1 - bx) * x[2 * k:3 * k]
                       + by * bx * x[3 * k:])
                e += [np.sum((t - x[:k]) ** 2), np.sum((t - bil) ** 2), np.sum((t - w @ x) ** 2)]
                n += t.size
            parts.append(f"{(fx, fy)} none {e[0] / n:.3f} bilinear {e[1] / n:.3f} learned {e[2] / n:.3f}")
        lines.append(f"level {level} ({k} channels): " + "; ".join(parts))
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vidcodec.train.subpel", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="installed model name (its default weights)")
    p.add_argument("pictures", type=Path, help="folder of pictures (PNG/JPEG)")
    p.add_argument("out", type=Path, help="the table to write (NAME.subpel.safetensors beside the weights)")
    a = p.parse_args(argv)
    from safetensors.numpy import save_file

    model = zoo.load(a.model)
    pictures = sorted(q for q in a.pictures.iterdir() if q.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
    data = samples(model, pictures)
    used = {i for i, _, _ in data[(1, 0)]}
    print(f"{len(used)} of {len(pictures)} pictures used", flush=True)
    if not any(i % 4 for i in used) or not any(i % 4 == 0 for i in used):  # (positions in name order, every
        # picture counted: the shipped table's held-out pictures stay those it was reported on)
        raise SystemExit(f"error: {a.pictures}: the fit needs pictures of at least {CROP + 40}x{CROP + 40} pixels "
                         "that OpenCV reads, both held out (the 1st, 5th, 9th... in name order) and not (the "
                         f"others); of those it reads, {len(used)} are large enough")
    table = fit(data, model.latent_channels)
    save_file({TENSOR: table}, str(a.out))
    usual_mode(a.out)
    for line in report(model, data, table):
        print(line, flush=True)


if __name__ == "__main__":
    main()
