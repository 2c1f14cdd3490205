"""A 3×3-support predictor table against the shipped 2×2 one (2026-12-04; measured, not adopted).

Needs the generalised predictor first (tables of shape (4, 4, C, S·S·C), S = 2 or 3; the 3×3 taps
start one sample up and left):

    git apply runs/subpel/support3.patch
    python runs/subpel/support3_bdrate.py 20 samples/bikes.mp4 DATA/videos/diver.mov CLIP[:SKIP] ...

Fits the 3×3 table as `python -m vidcodec.train.subpel` fits the shipped one (same photos, crops and
held-out quarter; samples cached in /tmp/subpel_data.pkl, the table in /tmp/subpel3.npy), prints its
held-out report, then codes FRAMES frames of each clip at every level with either table (gop 250,
the default encoder) and prints the BD-rate of 3×3 against 2×2. Numbers in README.md.
"""
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np

from vidcodec.codec.subpel import Predictor
from vidcodec.evaluate import rd
from vidcodec.models import zoo
from vidcodec.train import subpel as sp

m = zoo.load()
old = m.subpel
tab, cache = Path("/tmp/subpel3.npy"), Path("/tmp/subpel_data.pkl")
if not tab.exists():
    if cache.exists():
        data = pickle.loads(cache.read_bytes())
    else:
        pictures = sorted(q for q in Path("data/photos").iterdir() if q.suffix.lower() in (".png", ".jpg", ".jpeg"))
        data = sp.samples(m, pictures)
        cache.write_bytes(pickle.dumps(data))
    table = sp.fit(data, m.latent_channels, 3)
    np.save(tab, table)
    for line in sp.report(m, data, table):
        print(line, flush=True)
new = Predictor(np.load(tab), m.gains, m.level_channels, "0" * 64)
frames = int(sys.argv[1])
for spec in sys.argv[2:]:
    clip, _, skip = spec.partition(":")
    ref, rate = rd.read_frames(Path(clip), frames, int(skip or 0))
    curves = {}
    for name, predictor in (("2x2", old), ("3x3", new)):
        m._subpel = predictor  # the cached model the encoder loads
        with tempfile.TemporaryDirectory() as d:
            curves[name] = list(rd.vidcodec_points(Path(clip), ref, rate, 250, Path(d), range(1, 9)))
    m._subpel = old
    a, b = curves["2x2"], curves["3x3"]
    ps, ms = rd.bd_rate_pair(a, b)
    print(f"{Path(clip).name}{':' + skip if skip else ''} 3x3 against 2x2, PSNR / MS-SSIM BD-rate: {ps:+.2f} / {ms:+.2f} %",
          flush=True)
