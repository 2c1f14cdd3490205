"""BD-rates of a `vidcodec eval` run's vidcodec points against other runs' points of the same frames.

    python runs/vaegan-m/bd.py NEW/points.json docs/eval/format11/points.json docs/eval/fade-refits/points.json

Each later file's codecs are references (a codec named in several files: the first file's); the new
run's `vidcodec` and `vidcodec-intra` are tested against each (PSNR / MS-SSIM in dB, as `vidcodec
eval` computes them). vidcodec points of a reference file are named `vidcodec@DIR`.
"""
import json
import sys
from pathlib import Path

from vidcodec.evaluate.bdrate import bd_rate, ms_ssim_db


def load(path: str, rename: bool) -> list[dict]:
    pts = json.loads(Path(path).read_text())
    if rename:
        for p in pts:
            if p["codec"].startswith("vidcodec"):
                p["codec"] = f"{p['codec']}@{Path(path).parent.name}"
    return pts


new = load(sys.argv[1], False)
pool = list(new)  # the new run's own points first; another file's only for (clip, codec) not yet there
for path in sys.argv[2:]:
    have = {(p["clip"], p["codec"]) for p in pool}
    pool += [p for p in load(path, True) if (p["clip"], p["codec"]) not in have]
print("clip,test,reference,bd_rate_psnr,bd_rate_ms_ssim")
for clip in dict.fromkeys(p["clip"] for p in new):
    for test in ("vidcodec", "vidcodec-intra"):
        mine = [p for p in new if p["clip"] == clip and p["codec"] == test]
        if not mine:
            continue
        for ref in dict.fromkeys(p["codec"] for p in pool if p["clip"] == clip and p["codec"] != test):
            if ref in ("vidcodec", "vidcodec-intra"):
                continue
            other = [p for p in pool if p["clip"] == clip and p["codec"] == ref]
            if (test == "vidcodec-intra") != ("intra" in ref or ref == "jpeg"):
                continue
            a = bd_rate([(p["bpp"], p["psnr"]) for p in other], [(p["bpp"], p["psnr"]) for p in mine])
            b = bd_rate([(p["bpp"], ms_ssim_db(p["ms_ssim"])) for p in other],
                        [(p["bpp"], ms_ssim_db(p["ms_ssim"])) for p in mine])
            fmt = lambda v: "" if v is None else f"{v:+.1f}"
            print(f"{clip},{test},{ref},{fmt(a)},{fmt(b)}")
