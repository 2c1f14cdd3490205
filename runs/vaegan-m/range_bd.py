"""BD-rates over one quality range for three curves (x264 medium, vaegan-g, vaegan-m): the range all three
cover, so that a longer ladder does not move the range it is scored on (each pair's own overlap is
what `vidcodec eval` uses). Same cubic fit of log-rate against quality as vidcodec.evaluate.bdrate.

    python runs/vaegan-m/range_bd.py

Output of 2026-12-03 (docs/eval/vaegan-m):
bikes PSNR 28.47-38.79 dB: g vs x264 +21.8 %, m vs x264 +29.9 %, m vs g +6.6 %
bikes MS-SSIM 9.97-20.20 dB: g vs x264 +4.6 %, m vs x264 -1.1 %, m vs g -5.4 %
vtest PSNR 26.16-30.58 dB: g vs x264 +59.5 %, m vs x264 +126.8 %, m vs g +42.2 %
vtest MS-SSIM 8.83-16.88 dB: g vs x264 +4.2 %, m vs x264 +2.8 %, m vs g -1.4 %
diver PSNR 26.61-35.79 dB: g vs x264 +6.6 %, m vs x264 +8.9 %, m vs g +2.1 %
diver MS-SSIM 4.87-16.98 dB: g vs x264 -3.6 %, m vs x264 -17.3 %, m vs g -14.2 %
"""

import json
import math
from pathlib import Path

import numpy as np

from vidcodec.evaluate.bdrate import ms_ssim_db


def curve(points: list[dict], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(log bpp, quality) sorted by quality; MS-SSIM in dB."""
    pts = sorted({(p["bpp"], ms_ssim_db(p["ms_ssim"]) if metric == "MS-SSIM" else p["psnr"]) for p in points},
                 key=lambda t: t[1])
    return np.log([r for r, _ in pts]), np.array([q for _, q in pts])


def bd(ref: tuple, test: tuple, lo: float, hi: float) -> float:
    """BD-rate (%) of ``test`` against ``ref`` over qualities lo..hi."""
    avg = []
    for log_rate, quality in (ref, test):
        integral = np.polyint(np.polyfit(quality, log_rate, 3))
        avg.append((np.polyval(integral, hi) - np.polyval(integral, lo)) / (hi - lo))
    return (math.exp(avg[1] - avg[0]) - 1) * 100


def load(path: str) -> list[dict]:
    return json.loads(Path(path).read_text())


m, g, x = (load(f"docs/eval/{d}/points.json") for d in ("vaegan-m", "fade-refits", "format11"))
for clip in ("bikes.mp4", "vtest.mp4", "diver.mov"):
    for metric in ("PSNR", "MS-SSIM"):
        X = curve([p for p in x if p["clip"] == clip and p["codec"] == "x264-medium"], metric)
        G = curve([p for p in g if p["clip"] == clip and p["codec"] == "vidcodec"], metric)
        M = curve([p for p in m if p["clip"] == clip and p["codec"] == "vidcodec"], metric)
        lo, hi = max(X[1].min(), G[1].min(), M[1].min()), min(X[1].max(), G[1].max(), M[1].max())
        print(f"{clip.split('.')[0]} {metric} {lo:.2f}-{hi:.2f} dB: g vs x264 {bd(X, G, lo, hi):+.1f} %, "
              f"m vs x264 {bd(X, M, lo, hi):+.1f} %, m vs g {bd(G, M, lo, hi):+.1f} %")
