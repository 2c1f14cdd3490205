"""Context coding on vs off: same model, same frames, vidcodec only; BD-rate of on against off."""
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

from vidcodec.codec import vaegan as V
from vidcodec.evaluate import rd

frames = int(sys.argv[1]); out = sys.argv[2]; clips = sys.argv[3:]
orig = V.FrameEncoder.__init__
res = {}
allpts = []
for clip in clips:
    ref, rate = rd.read_frames(Path(clip), frames)
    pts = []
    for on in (True, False):
        def init(self, *a, on=on, **k):
            k["context_coding"] = on; orig(self, *a, **k)
        V.FrameEncoder.__init__ = init
        with tempfile.TemporaryDirectory() as d:
            p = rd.vidcodec_points(Path(clip), ref, rate, 250, Path(d), range(1, 9))
        for x in p:
            pts.append(dataclasses.replace(x, codec="vidcodec" if on else "no-context"))
    V.FrameEncoder.__init__ = orig
    bd = rd.bd_rates(pts)
    print(clip, [(b["reference"], round(b["bd_rate_psnr"], 1), round(b["bd_rate_ms_ssim"], 1)) for b in bd], flush=True)
    for x in pts:
        if x.codec == "vidcodec":
            y = next(z for z in pts if z.codec == "no-context" and z.setting == x.setting)
            print("   ", x.setting, f"bytes {y.bpp:.0f} -> {x.bpp:.0f} ({100 * (x.bpp / y.bpp - 1):.1f}%)", f"psnr {y.psnr:.2f} {x.psnr:.2f}")
    allpts += [dataclasses.asdict(x) for x in pts]
with open(out, "w") as fh:
    json.dump(allpts, fh)
