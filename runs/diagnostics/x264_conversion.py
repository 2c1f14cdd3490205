"""x264 medium through the old (swscale's default, fast) colour conversion, on the frames of an eval run.

    python runs/diagnostics/x264_conversion.py EVAL_OUT FRAMES CLIP...

For each clip: the BD-rates (PSNR, MS-SSIM) of the run's vidcodec points against x264 medium
encoded and read back as eval did before session 50, and against the run's own x264 points
(accurate conversion), then each CRF's bits and quality both ways (docs/eval/x264-accurate-50).
"""

import json
import sys
import tempfile
from pathlib import Path

import av

from vidcodec.evaluate import rd


def old_enc(frames, rate, path, options):
    h, w = rd.even_crop(frames[0]).shape[:2]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=rate); s.width, s.height, s.pix_fmt = w, h, "yuv420p"; s.options = options
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(rd.even_crop(f), "rgb24")): out.mux(p)
        for p in s.encode(): out.mux(p)

def old_dec(path):
    with av.open(str(path)) as inp: return [fr.to_ndarray(format="rgb24") for fr in inp.decode(video=0)]

run = Path(sys.argv[1]); frames_n = int(sys.argv[2]); clips = sys.argv[3:]
pts = [rd.RDPoint(**p) for p in json.loads((run / "points.json").read_text())]
tmp = Path(tempfile.mkdtemp())
for clip in clips:
    clip = Path(clip)
    ref, rate = rd.read_frames(clip, frames_n)
    cropped = [rd.even_crop(f) for f in ref]
    old = []
    for crf in rd.CRFS:
        p = tmp / f"{crf}.mp4"
        old_enc(cropped, rate, p, {"preset": "medium", "g": str(rd.DEFAULT_GOP), "crf": str(crf)})
        old.append(rd.score(clip.name, "x264-medium-old", f"crf={crf}", cropped, old_dec(p), p.stat().st_size, rate))
    vid = [p for p in pts if p.clip == clip.name and p.codec == "vidcodec"]
    new = [p for p in pts if p.clip == clip.name and p.codec == "x264-medium"]
    print(clip.name, "vs old conversion (PSNR, MS-SSIM):", rd.bd_rate_pair(old, vid),
          " vs accurate:", rd.bd_rate_pair(new, vid), flush=True)
    for a, b in zip(old, new):
        print(f"   {a.setting}: old {a.bpp:.4f} bpp {a.psnr:.2f} dB {a.ms_ssim:.4f} | new {b.bpp:.4f} bpp {b.psnr:.2f} dB {b.ms_ssim:.4f}")
