"""Rate control rows without x264, with the worst 2-s window: for A/B runs of two checkouts.

    python runs/encoder-tuning/ratecontrol_ab.py FRAMES KBPS[,KBPS] CLIP...

(`vidcodec eval CLIP --bitrate ...` gives the same rows with x264 beside them.) To run an older
checkout OLD with this venv: ``OLD=/path/to/old`` drops the editable install's import hook and puts
OLD first on the path (copy the built ``_native*.so`` into OLD/vidcodec first).
"""
import os as _o
import sys as _s

if _o.environ.get("OLD"):
    _s.meta_path = [f for f in _s.meta_path if "editable" not in type(f).__module__.lower()
                    and "editable" not in getattr(f, "__name__", "").lower()]
    _s.path.insert(0, _o.environ["OLD"])
import sys  # after the OLD path set-up
import tempfile
from pathlib import Path

from vidcodec import api, container
from vidcodec.codec import default_gop
from vidcodec.evaluate import rd

frames, targets = int(sys.argv[1]), [float(x) for x in sys.argv[2].split(",")]
for clip in sys.argv[3:]:
    ref, rate = rd.read_frames(Path(clip), frames)
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "ref.y4m"
        rd.write_y4m_clip(ref, rate, src)
        for kbps in targets:
            out = Path(d) / "rc.gvc"
            g = default_gop(bitrate=kbps, fps=float(rate))
            s = api.encode(src, out, gop=g, overwrite=True, bitrate=kbps)
            with container.GvcReader(out) as r:
                sizes = [8 * (len(p.payload) + p.header_size) for p in r if p.stream_index == 0 and p.kind in (1, 2)]
            w = max(1, min(len(sizes), round(2 * float(rate))))
            win = max(sum(sizes[i:i + w]) for i in range(len(sizes) - w + 1)) / (w / float(rate)) / 1000
            p = rd.score(Path(clip).name, "vidcodec", f"bitrate={kbps:g}", ref, [f.rgb for f in api.frames(out)],
                         out.stat().st_size, rate)
            print(f"{Path(clip).name} {len(ref)}fr target {kbps:g}: achieved {p.kbps:.1f} ({100 * (p.kbps / kbps - 1):+.1f} %) "
                  f"max2s {win / kbps:.2f}x psnr {p.psnr:.2f} msssim {p.ms_ssim:.4f} gop {g} keys {len(s.gops)} "
                  f"q {rd.quality_runs(s.gops)}", flush=True)
