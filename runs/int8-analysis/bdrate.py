"""BD-rate of --backend int8 (the analysis with 8-bit convolutions, vidcodec/int8.py) against the
float32 ONNX Runtime analysis, every level, gop 250: the same decoder, only the encoder's latents differ.

    python runs/int8-analysis/bdrate.py FRAMES CLIP[:SKIP]...
"""

import functools
import sys
import tempfile
from pathlib import Path

from vidcodec import api
from vidcodec.evaluate import rd

frames = int(sys.argv[1])
encode = api.encode
for spec in sys.argv[2:]:
    clip, _, skip = spec.partition(":")
    ref, rate = rd.read_frames(Path(clip), frames, int(skip or 0))
    curves = {}
    for backend in ("ort", "int8"):
        api.encode = functools.partial(encode, backend=backend)
        with tempfile.TemporaryDirectory() as d:
            curves[backend] = list(rd.vidcodec_points(Path(clip), ref, rate, 250, Path(d), range(1, 9)))
    api.encode = encode
    a, b = curves["ort"], curves["int8"]
    ps, ms = rd.bd_rate_pair(a, b)
    print(f"{Path(clip).name}{':' + skip if skip else ''}: int8 against ort {ps:+.2f} / {ms:+.2f} % "
          "(PSNR / MS-SSIM BD-rate); bpp, PSNR ort -> int8:",
          ", ".join(f"{p.bpp:.4f} {p.psnr:.2f} -> {q.bpp:.4f} {q.psnr:.2f}" for p, q in zip(a, b)), flush=True)
