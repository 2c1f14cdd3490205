"""The delta coder of another source tree against this one, process by process: CPU (or wall) ms per
delta frame and whether the two write the same bytes (encoder-only speed work must leave the bytes alone).

    git worktree add /tmp/base BASE_COMMIT
    cp $(python -c 'import vidcodec._native as n; print(n.__file__)') /tmp/base/vidcodec/   # that tree's C++
    #   core, when BASE's src/ is the same; else build it there
    LD_PRELOAD=libtcmalloc_minimal.so.4 python runs/encoder-tuning/tree_ab.py /tmp/base 3 \\
        samples/bikes.mp4:1920x1080:20 DATA/videos/diver.mov:640x360:30 [--wall] [--qualities 2 5 8]

Each round runs the base tree, then this one, each in a fresh process (a tree's modules, C++ core
included, cannot share a process with another's) on the same latents: the default model's analysis of
the clip's first N frames scaled to WxH, made once and cached in the system's temporary folder. CPU time
(all threads: the delta coder weighs a candidate on a second thread) is what GOP-parallel workers pay
for; ``--wall``, what one encode waits. Medians over the rounds.

Measured 2026-12-05 (session 44, base 2e476b4, 2-core VM, quiet machine; CPU ms per delta, base -> this
tree, the same bytes at every level): see docs/RESULTS.md "Session 44".
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _child(root: str, specs: list[str], qualities: list[int], wall: bool) -> None:
    """In a fresh process: this tree's (root empty) or ``root``'s coder on each clip and level."""
    if root:  # the editable install's import hook would bring the installed tree back: drop it
        sys.meta_path[:] = [f for f in sys.meta_path if "Redirecting" not in type(f).__name__]
        sys.path.insert(0, root)
    import av

    from vidcodec.codec.vaegan import FrameEncoder, to_tensor
    from vidcodec.models import zoo

    clock = time.perf_counter if wall else time.process_time
    m = zoo.load(zoo.DEFAULT_MODEL)
    for spec in specs:
        clip, size, frames = spec.rsplit(":", 2)
        w, h = (int(v) for v in size.split("x"))
        cache = Path(tempfile.gettempdir()) / f"tree_ab_{Path(clip).name}_{size}_{frames}.pkl"
        if cache.exists():
            ys = pickle.loads(cache.read_bytes())
        else:
            ys = []
            with av.open(clip) as c:
                for fr in c.decode(video=0):
                    rgb = fr.reformat(width=w, height=h, format="rgb24").to_ndarray()
                    ys.append(m.analyze(to_tensor(rgb, m.downscale))[0])
                    if len(ys) >= int(frames):
                        break
            cache.write_bytes(pickle.dumps(ys))
        for q in qualities:
            enc = FrameEncoder(m, q - 1, gop=250, predictor=m.subpel)
            enc.encode_latent(ys[0])  # the keyframe, not timed
            digest, t = hashlib.sha256(), clock()
            for y in ys[1:]:
                digest.update(enc.encode_latent(y).payload)
            ms = 1e3 * (clock() - t) / (len(ys) - 1)
            print(f"{Path(clip).name} {size} q{q} {digest.hexdigest()[:16]} {ms:.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", help="the other source tree (its vidcodec/ with a built _native module)")
    ap.add_argument("rounds", type=int)
    ap.add_argument("clips", nargs="+", metavar="CLIP:WxH:FRAMES")
    ap.add_argument("--qualities", type=int, nargs="+", default=[2, 5, 8])
    ap.add_argument("--wall", action="store_true", help="wall-clock time instead of CPU time")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child is not None:
        _child(a.child, a.clips, a.qualities, a.wall)
        return
    times: dict[tuple, list[float]] = collections.defaultdict(list)
    digests: dict[tuple, set[str]] = collections.defaultdict(set)
    for _ in range(a.rounds):
        for tag, root in (("base", a.base), ("this", "")):
            cmd = [sys.executable, __file__, a.base, "1", *a.clips, "--qualities", *map(str, a.qualities),
                   "--child", root] + (["--wall"] if a.wall else [])
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ).stdout
            for line in out.splitlines():
                clip, size, q, digest, ms = line.split()
                times[(clip, size, q, tag)].append(float(ms))
                digests[(clip, size, q)].add(digest)
    for key in sorted(digests):
        b, n = statistics.median(times[(*key, "base")]), statistics.median(times[(*key, "this")])
        same = "same bytes" if len(digests[key]) == 1 else "DIFFERENT BYTES"
        print(f"{' '.join(key)}: base {b:.1f} ms, this {n:.1f} ms ({b / n:.2f}x); {same}")


if __name__ == "__main__":
    main()
