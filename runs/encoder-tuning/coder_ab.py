"""The delta coder of an older vaegan.py against the working tree's, in one process: the CPU time
(all threads) of every delta frame of a clip's latents, rounds alternating between the two, and
whether the two write the same bytes.

    git show 4a744eb:vidcodec/codec/vaegan.py > /tmp/vaegan_old.py
    LD_PRELOAD=libtcmalloc_minimal.so.4 python runs/encoder-tuning/coder_ab.py /tmp/vaegan_old.py \\
        DATA/videos/diver.mov 640x360 30 --qualities 2 5 8 --rounds 3

The latents come from the default model's analysis of the clip's first FRAMES frames scaled to WxH
(computed once per run; the analysis is not timed). The old module runs against the installed C++
core, which only ever gains functions.

Measured 2026-12-04 (late), 4a744eb's coder against the C++ residual and context-pricing kernels
(a66fe15), medians of 3 rounds, CPU ms per delta (old -> new): diver 640x360 q2/5/8 9.8 -> 6.6,
18.1 -> 12.2, 71.0 -> 36.2 (1.48 / 1.49 / 1.96x); bikes scaled to 1080p (20 frames) 58.7 -> 39.2,
103.6 -> 83.0, 175.3 -> 115.9 (1.50 / 1.25 / 1.51x); the same bytes at every level. The same
bytes too on bikes and vtest at 640x360 (30 frames, q 2/5/8).
"""

import argparse
import hashlib
import importlib.util
import statistics
import sys
import time

import av

from vidcodec.codec import vaegan as new
from vidcodec.codec.vaegan import to_tensor
from vidcodec.models import zoo


def latents(m, clip: str, width: int, height: int, frames: int) -> list:
    out = []
    with av.open(clip) as c:
        for fr in c.decode(video=0):
            out.append(m.analyze(to_tensor(fr.reformat(width=width, height=height, format="rgb24").to_ndarray(),
                                           m.downscale))[0])
            if len(out) >= frames:
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", help="an older vidcodec/codec/vaegan.py")
    ap.add_argument("clip")
    ap.add_argument("size", help="WxH")
    ap.add_argument("frames", type=int)
    ap.add_argument("--qualities", type=int, nargs="+", default=[5])
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("vidcodec.codec.vaegan_old", a.old)  # its relative imports
    old = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = old  # dataclasses look their module up
    spec.loader.exec_module(old)
    m = zoo.load(zoo.DEFAULT_MODEL)
    width, height = (int(v) for v in a.size.split("x"))
    ys = latents(m, a.clip, width, height, a.frames)
    for q in a.qualities:
        seconds, digests = {"old": [], "new": []}, {}
        for _ in range(a.rounds):
            for name, mod in (("old", old), ("new", new)):
                enc = mod.FrameEncoder(m, q - 1, gop=250, predictor=m.subpel)
                enc.encode_latent(ys[0])  # the keyframe, not timed
                h, t = hashlib.sha256(), time.process_time()
                for y in ys[1:]:
                    h.update(enc.encode_latent(y).payload)
                seconds[name].append((time.process_time() - t) / (len(ys) - 1))
                digests[name] = h.hexdigest()
        o, n = statistics.median(seconds["old"]), statistics.median(seconds["new"])
        print(f"{a.clip} {a.size} q{q}: CPU ms per delta old {1e3 * o:.1f} new {1e3 * n:.1f} ({o / n:.2f}x); "
              f"same bytes: {digests['old'] == digests['new']}", flush=True)


if __name__ == "__main__":
    main()
