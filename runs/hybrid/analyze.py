"""Envelope, BD-rates and rate splits from hybrid.py's JSON.  usage: analyze.py vtest.json [bikes.json ...]"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from vidcodec.evaluate.bdrate import bd_rate, ms_ssim_db

METRICS = {"psnr": lambda p: p["psnr"], "psnr_y": lambda p: p["psnr_y"], "ms_ssim_db": lambda p: ms_ssim_db(p["ms_ssim"])}


def pareto(pts, f):
    """Points not beaten (less or equal rate, higher quality) by another: best quality per rate."""
    out, best = [], -math.inf
    for p in sorted(pts, key=lambda p: (p["bytes"], -f(p))):
        if f(p) > best:
            out.append(p)
            best = f(p)
    return out


def hull(pts, f):
    """Upper convex hull in (rate, quality) (what time-sharing between points reaches), increasing part."""
    P = pareto(pts, f)
    H = []
    for p in P:
        while len(H) >= 2:
            (x1, y1), (x2, y2) = [(h["bytes"], f(h)) for h in H[-2:]]
            x3, y3 = p["bytes"], f(p)
            if (x2 - x1) * (y3 - y1) - (y2 - y1) * (x3 - x1) >= 0:  # H[-1] below the chord
                H.pop()
            else:
                break
        H.append(p)
    return H


def rate_at(curve, f, quality):
    """Rate (bytes) at a quality by linear interpolation of log rate against quality on a monotone curve."""
    c = pareto(curve, f)
    qs, lr = [f(p) for p in c], [math.log(p["bytes"]) for p in c]
    if not qs or quality < qs[0] or quality > qs[-1]:
        return None
    return math.exp(np.interp(quality, qs, lr))


def in_range(env, ref, f):
    """Envelope points within the reference's quality range, plus the nearest one outside each end
    (a cubic through far-off base-only points at 21 dB is not the curve where the two overlap)."""
    lo, hi = min(f(p) for p in ref), max(f(p) for p in ref)
    env = sorted(env, key=f)
    keep = [i for i, p in enumerate(env) if lo <= f(p) <= hi]
    if not keep:
        return env
    return env[max(0, keep[0] - 1): keep[-1] + 2]


def bd_linear(ref, test, f, n=200):
    """BD-rate (%) with piecewise-linear log-rate against quality (no cubic), over the common range."""
    a, b = pareto(ref, f), pareto(test, f)
    lo, hi = max(f(a[0]), f(b[0])), min(f(a[-1]), f(b[-1]))
    if not hi > lo:
        return None
    qs = np.linspace(lo, hi, n)
    la = np.interp(qs, [f(p) for p in a], [math.log(p["bytes"]) for p in a])
    lb = np.interp(qs, [f(p) for p in b], [math.log(p["bytes"]) for p in b])
    return float((math.exp(np.mean(lb - la)) - 1) * 100)


def main():
    for path in sys.argv[1:]:
        r = json.loads(Path(path).read_text())
        x264, base, hyb = r["x264"], r["base"], r["hybrid"]
        print(f"\n## {r['clip']} ({r['frames']} frames {r['size'][0]}x{r['size'][1]}); src yuv420 round trip "
              f"{r['src_roundtrip']['psnr']:.2f} dB RGB")
        print("base (vidcodec alone): q bytes PSNR PSNR-Y MS-SSIM | clipped% | lossless-residual recon PSNR")
        for b in base:
            print(f"  q{b['q']} {b['bytes']} {b['psnr']:.2f} {b['psnr_y']:.2f} {b['ms_ssim']:.5f} | "
                  f"{100 * b['clipped_frac']:.4f} | {b['lossless_residual']['psnr']:.2f}")
        allh = hyb + [dict(b, crf=None, res_bytes=0, base_bytes=b["bytes"]) for b in base]
        for name, f in METRICS.items():
            ref = [(p["bytes"], f(p)) for p in x264]
            env_p, env_h = pareto(allh, f), hull(allh, f)
            bd_base = bd_rate(ref, [(p["bytes"], f(p)) for p in base])
            bd_p = bd_rate(ref, [(p["bytes"], f(p)) for p in in_range(env_p, x264, f)])
            bd_h = bd_rate(ref, [(p["bytes"], f(p)) for p in in_range(env_h, x264, f)])
            lin_p, lin_base = bd_linear(x264, env_p, f), bd_linear(x264, base, f)
            local = [100 * (p["bytes"] / rate_at(x264, f, f(p)) - 1) for p in env_p if rate_at(x264, f, f(p))]
            localh = [100 * (p["bytes"] / rate_at(x264, f, f(p)) - 1) for p in hyb if rate_at(x264, f, f(p))]
            per_q = {b["q"]: bd_rate(ref, [(p["bytes"], f(p)) for p in hyb if p["q"] == b["q"]]) for b in base}
            fmt = lambda v: "n/a" if v is None else f"{v:+.1f}%"
            print(f"{name}: BD-rate vs x264 medium: base alone {fmt(bd_base)}; hybrid pareto envelope {fmt(bd_p)}; "
                  f"hull {fmt(bd_h)}; piecewise-linear: envelope {fmt(lin_p)}, base {fmt(lin_base)}; "
                  f"best envelope point vs x264 at equal quality {fmt(min(local) if local else None)} (best with a residual {fmt(min(localh) if localh else None)}); per-q hybrid curves " + ", ".join(f"q{q} {fmt(v)}" for q, v in per_q.items()))
            print(f"  pareto envelope ({name}): " + "; ".join(
                f"q{p['q']}{'' if p['crf'] is None else '+crf' + str(p['crf'])} {p['bytes']}B {f(p):.2f}"
                f" (x264 at same quality: {fmt(None if rate_at(x264, f, f(p)) is None else 100 * (p['bytes'] / rate_at(x264, f, f(p)) - 1))})"
                for p in env_p))
        # rate split at matched quality
        for name in ("psnr", "ms_ssim_db"):
            f = METRICS[name]
            qs = sorted(f(p) for p in x264)
            lo = max(min(f(p) for p in allh), qs[0])
            hi = min(max(f(p) for p in allh), qs[-1])
            targets = np.linspace(lo, hi, 5)[1:-1] if hi > lo else []
            print(f"rate split at matched {name} (x264 bytes | per q: total bytes (base%/residual%), +x% vs x264):")
            for t in targets:
                xr = rate_at(x264, f, t)
                cells = []
                for b in base:
                    curve = [p for p in hyb if p["q"] == b["q"]] + [dict(b, res_bytes=0)]
                    tr = rate_at(curve, f, t)
                    if tr is None:
                        cells.append(f"q{b['q']} -")
                        continue
                    cells.append(f"q{b['q']} {tr:.0f} ({100 * b['bytes'] / tr:.0f}/{100 - 100 * b['bytes'] / tr:.0f}) {100 * (tr / xr - 1):+.0f}%")
                print(f"  {t:.2f}: x264 {xr:.0f} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
