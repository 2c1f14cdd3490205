"""BD-rates (PSNR, MS-SSIM) of an eval run's vidcodec points against another run's x265 points, same
clips and frames (vidcodec's encoder is deterministic, so its points do not depend on the run):

    vidcodec eval CLIPS --frames 50 --codecs x265-medium --out X265_OUT
    python runs/diagnostics/x265_against_run.py VIDCODEC_POINTS.json X265_POINTS.json
"""

import json
import sys
from pathlib import Path

from vidcodec.evaluate import rd

v = [rd.RDPoint(**p) for p in json.loads(Path(sys.argv[1]).read_text())]
x = [rd.RDPoint(**p) for p in json.loads(Path(sys.argv[2]).read_text())]
for c in sorted({p.clip for p in x}):
    a = [p for p in x if p.clip == c]
    b = [p for p in v if p.clip == c and p.codec == "vidcodec"]
    print(c, [round(t, 2) if t is not None else None for t in rd.bd_rate_pair(a, b)])
