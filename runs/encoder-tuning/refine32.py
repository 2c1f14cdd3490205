"""The sub-pixel refinement's search in float32 (shipped 2026-12-04) against float64 (before):
vectors, time, and BD-rate. The float64 version is the module as it was at commit 20cf7ec.

    python runs/encoder-tuning/refine32.py OLD_SUBPEL_PY FRAMES CLIP...
    (OLD_SUBPEL_PY: git show 20cf7ec:vidcodec/codec/subpel.py > /tmp/subpel_old.py)

Measured 2026-12-04 (20 frames, every level, gop 250): bikes, vtest and diver give the same bytes
at every level (44096, 182265 and 635219 in all, BD-rate 0.00 / 0.00 %); the refinement took 0.75 ->
0.52, 1.55 -> 1.49 and 1.29 -> 1.13 s over the 8 encodes. Alone, on bikes' latents: 5.2 -> 2.9 ms a
frame at 640x360 and 21.6 -> 17.3 ms at 1080p, 99.77 / 99.93 % of the blocks' vectors the same. Kept.
"""

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

from vidcodec.codec import subpel
from vidcodec.evaluate import rd

spec = importlib.util.spec_from_file_location("vidcodec.codec.subpel_old", sys.argv[1])  # its relative imports
old = importlib.util.module_from_spec(spec)
spec.loader.exec_module(old)
versions = {"float64": (old.Predictor.refine, old.Predictor._search_weights),
            "float32": (subpel.Predictor.refine, subpel.Predictor._search_weights)}
frames = int(sys.argv[2])
for clip in sys.argv[3:]:
    ref, rate = rd.read_frames(Path(clip), frames)
    curves, seconds = {}, {}
    for name, (refine, weights) in versions.items():
        subpel.Predictor.refine, subpel.Predictor._search_weights = refine, weights
        spent = [0.0]

        def timed(self, *a, _refine=refine, _spent=spent):
            t = time.perf_counter()
            try:
                return _refine(self, *a)
            finally:
                _spent[0] += time.perf_counter() - t

        subpel.Predictor.refine = timed
        from vidcodec.models import zoo

        zoo._load.cache_clear()
        with tempfile.TemporaryDirectory() as d:
            curves[name] = list(rd.vidcodec_points(Path(clip), ref, rate, 250, Path(d), range(1, 9)))
        seconds[name] = spent[0]
    ps, ms = rd.bd_rate_pair(curves["float64"], curves["float32"])
    print(f"{Path(clip).name}: float32 search against float64 {ps:+.2f} / {ms:+.2f} % (PSNR / MS-SSIM BD-rate); "
          f"refinement {seconds['float64']:.2f} -> {seconds['float32']:.2f} s over 8 encodes; bytes "
          f"{sum(p.bytes for p in curves['float64'])} -> {sum(p.bytes for p in curves['float32'])}", flush=True)
subpel.Predictor.refine, subpel.Predictor._search_weights = versions["float32"]
