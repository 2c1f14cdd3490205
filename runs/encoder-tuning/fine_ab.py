"""Format 14.0's fine prediction (the learned prediction's fraction kept, chosen by the pictures)
against the same encoder never choosing it (the 13.0 stream's decisions, in 14.0's layout): the
whole pipeline (prefilter, colour corrections, files written and decoded), every quality level.

    python runs/encoder-tuning/fine_ab.py FRAMES CLIP[:SKIP]...

Per clip: PSNR / MS-SSIM BD-rate of fine against whole, the deltas the pictures chose fine, and
the encode seconds of both (summed over the levels).
"""
import sys
import tempfile
import time
from pathlib import Path

from vidcodec.codec import vaegan
from vidcodec.evaluate import rd
from vidcodec.models import zoo

_fine_or_whole = vaegan.FrameEncoder._fine_or_whole
chosen = [0, 0]


def counting(self, ys, x, fine, whole):
    got = _fine_or_whole(self, ys, x, fine, whole)
    chosen[got is fine] += 1
    return got


def never(self, ys, x, fine, whole):
    return whole


if __name__ == "__main__":
    n = int(sys.argv[1])
    levels = range(1, zoo.load(zoo.DEFAULT_MODEL).levels + 1)
    for spec in sys.argv[2:]:
        clip, _, skip = spec.partition(":")
        ref, rate = rd.read_frames(Path(clip), n, int(skip or 0))
        curves, seconds = {}, {}
        for name, fn in (("whole", never), ("fine", counting)):
            vaegan.FrameEncoder._fine_or_whole = fn
            chosen[:] = [0, 0]
            spent: list[float] = []
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                curves[name] = rd.vidcodec_points(Path(clip), ref, rate, 250, Path(tmp), levels, seconds=spent)
            seconds[name] = sum(spent)
        vaegan.FrameEncoder._fine_or_whole = _fine_or_whole
        p, s = rd.bd_rate_pair(curves["whole"], curves["fine"])
        print(f"{Path(clip).name}:{skip or 0} {n} frames: fine against whole, PSNR / MS-SSIM BD-rate {p:+.2f} / "
              f"{s:+.2f} %; pictures chose fine in {chosen[1]} of {sum(chosen)} deltas; encode "
              f"{seconds['whole']:.1f} -> {seconds['fine']:.1f} s", flush=True)
        for a, b in zip(curves["whole"], curves["fine"]):
            print(f"   {a.setting}: {a.bpp:.4f} bpp {a.psnr:.2f} dB {a.ms_ssim:.4f} -> "
                  f"{b.bpp:.4f} bpp {b.psnr:.2f} dB {b.ms_ssim:.4f}", flush=True)
