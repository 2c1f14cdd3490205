"""BD-rates over one quality range for three curves (x264 medium, vaegan-g, vaegan-m): the range all three
cover, so that a longer ladder does not move the range it is scored on (each pair's own overlap is
what `vidcodec eval` uses), with `vidcodec.evaluate.bdrate.bd_rate(..., span=)`.

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
from pathlib import Path

from vidcodec.evaluate.bdrate import bd_rate, ms_ssim_db


def curve(points: list[dict], metric: str) -> list[tuple[float, float]]:
    """(bpp, quality) points; MS-SSIM in dB."""
    return [(p["bpp"], ms_ssim_db(p["ms_ssim"]) if metric == "MS-SSIM" else p["psnr"]) for p in points]


def load(path: str) -> list[dict]:
    return json.loads(Path(path).read_text())


m, g, x = (load(f"docs/eval/{d}/points.json") for d in ("vaegan-m", "fade-refits", "format11"))
for clip in ("bikes.mp4", "vtest.mp4", "diver.mov"):
    for metric in ("PSNR", "MS-SSIM"):
        X = curve([p for p in x if p["clip"] == clip and p["codec"] == "x264-medium"], metric)
        G = curve([p for p in g if p["clip"] == clip and p["codec"] == "vidcodec"], metric)
        M = curve([p for p in m if p["clip"] == clip and p["codec"] == "vidcodec"], metric)
        span = max(min(q for _, q in c) for c in (X, G, M)), min(max(q for _, q in c) for c in (X, G, M))
        print(f"{clip.split('.')[0]} {metric} {span[0]:.2f}-{span[1]:.2f} dB: g vs x264 {bd_rate(X, G, span):+.1f} %, "
              f"m vs x264 {bd_rate(X, M, span):+.1f} %, m vs g {bd_rate(G, M, span):+.1f} %")
