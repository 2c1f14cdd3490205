"""How much x264 medium owes to its B frames on the held-out clips: x264 medium (3 B frames, its
default) against the same with ``bf=0``, CRF 24-40, the eval's keyframe interval, BD-rate of the
P-only stream against the default one (positive: B frames save that much).

    python runs/bframes/x264_bframes.py --frames 60
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from vidcodec.evaluate import rd
from vidcodec.evaluate.bdrate import bd_rate, ms_ssim_db

CLIPS = ("data/videos/diver.mov", "samples/bikes.mp4", "samples/vtest.mp4")

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    a = ap.parse_args()
    rd.REFERENCES["x264-medium-nob"] = ("libx264", {"preset": "medium", "bf": "0"})
    with tempfile.TemporaryDirectory() as tmp:
        for clip in map(Path, CLIPS):
            ref, rate = rd.read_frames(clip, a.frames)
            pts = {k: rd.reference_points(clip, ref, rate, Path(tmp), k, crfs=(24, 28, 32, 36, 40))
                   for k in ("x264-medium", "x264-medium-nob")}
            b, p = pts["x264-medium"], pts["x264-medium-nob"]
            bdp = bd_rate([(x.bpp, x.psnr) for x in b], [(x.bpp, x.psnr) for x in p])
            bdm = bd_rate([(x.bpp, ms_ssim_db(x.ms_ssim)) for x in b], [(x.bpp, ms_ssim_db(x.ms_ssim)) for x in p])
            print(f"{clip.name}: bf=0 against medium, BD-rate PSNR {bdp:+.2f} %, MS-SSIM {bdm:+.2f} %", flush=True)
