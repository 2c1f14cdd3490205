"""vidcodec RD points (every level) of the code on PYTHONPATH, as JSON, for A/B across code versions.

    python runs/overhead/points.py OUT.json FRAMES GOP [nosel] [nosubpel] CLIP...
    python runs/overhead/points.py --bd A.json B.json      # BD-rate of B against A per clip

``nosel``: format 7.0 streams whose encoder ignores the selector's bits when it drops channels.
``nosubpel``: without the model's learned sub-pixel predictor (format 10.0 quarter vectors, bilinear).
"""
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

# The code of another checkout on PYTHONPATH, not the editable install's (whose import hook comes
# first); that checkout needs the built C++ core copied beside it (vidcodec/_native*.so).
_first = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
if _first and (Path(_first) / "vidcodec").is_dir() and Path(_first).resolve() != Path(__file__).resolve().parents[2]:
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]

from vidcodec.evaluate import rd

if sys.argv[1] == "--bd":
    a, b = (json.loads(Path(p).read_text()) for p in sys.argv[2:4])
    for clip in [c for c in a if c in b]:
        pa, pb = a[clip], b[clip]
        psnr = rd.bd_rate([(p["bpp"], p["psnr"]) for p in pa], [(p["bpp"], p["psnr"]) for p in pb])
        ms = rd.bd_rate([(p["bpp"], rd.ms_ssim_db(p["ms_ssim"])) for p in pa],
                        [(p["bpp"], rd.ms_ssim_db(p["ms_ssim"])) for p in pb])
        rate = " ".join(f"{q['bytes'] / p['bytes'] - 1:+.1%}" for p, q in zip(pa, pb))
        print(f"{clip}: PSNR {psnr:+.2f} %, MS-SSIM {ms:+.2f} %; bytes per level {rate}")
    sys.exit()
out, frames, gop, rest = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
if rest[0] == "nosel":
    from vidcodec.codec import vaegan

    original = vaegan.FrameEncoder.__init__

    def init(self, *a, **k):
        original(self, *a, **k)
        self._selector_bits[:] = 0

    vaegan.FrameEncoder.__init__ = init
    rest = rest[1:]
if rest[0] == "nosubpel":  # format 10.0 streams without the learned sub-pixel predictor (quarter bilinear)
    from vidcodec.models import zoo

    zoo.CodecModel.subpel = property(lambda self: None)
    rest = rest[1:]
print("vidcodec from", rd.__file__, flush=True)
result = {}
for clip in rest:
    ref, rate = rd.read_frames(Path(clip), frames)
    with tempfile.TemporaryDirectory() as d:
        result[Path(clip).name] = [dataclasses.asdict(p) for p in
                                   rd.vidcodec_points(Path(clip), ref, rate, gop, Path(d), range(1, 9))]
    out.write_text(json.dumps(result))
    print(clip, "done", flush=True)
