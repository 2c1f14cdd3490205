"""The GOP-parallel encode's rate with the analysis network taken out: what a GPU encode is left with.

    LD_PRELOAD=libtcmalloc_minimal.so.4 python runs/gpu-speed/coder_rate.py CLIP [--size 1920x1080]
        [--frames 80] [--workers 2] [--gop 20] [--colour off]

On a GPU the networks take about a millisecond a 1080p frame and the delta coder in the ``--workers``
processes sets the rate (docs/RESULTS.md, the H200 runs). This runs ``vidcodec encode --workers``'s
path (api._chunk_coded: the main process feeds the latents to gopencode.ChunkEncoder, fits colour
corrections when ``--colour on``, collects the packets) on latents analysed once beforehand: the
first 20 frames of CLIP scaled to SIZE, repeated to FRAMES. It prints the rate, the main process's
CPU a frame (all its threads) and the workers' CPU a frame: on a machine with C free cores and a GPU,
about C / (workers' CPU a frame) frames a second at most, if the main process keeps up.
With colour corrections the main process also synthesizes a frame in 12 (on the CPU here: seconds at
1080p, so ``--colour off`` is the number that transfers to a GPU).

Measured 2026-12-05 (session 44; bikes at 1080p, 80 frames, GOPs of 20, 2 workers, colour off,
2-core VM, two runs each): see docs/RESULTS.md "Session 44".
"""

from __future__ import annotations

import argparse
import resource
import time
from types import SimpleNamespace

import av

from vidcodec import api, gopencode, pipeline
from vidcodec.codec import colour as colour_mod
from vidcodec.codec.vaegan import FrameEncoder, to_tensor
from vidcodec.models import zoo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--frames", type=int, default=80)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--gop", type=int, default=20)
    ap.add_argument("--colour", choices=["on", "off"], default="off")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    m = zoo.load(zoo.DEFAULT_MODEL)
    rgbs = []
    with av.open(a.clip) as c:
        for fr in c.decode(video=0):
            rgbs.append(fr.reformat(width=w, height=h, format="rgb24").to_ndarray())
            if len(rgbs) >= 20:
                break
    latents = [m.analyze(to_tensor(rgb, m.downscale))[0] for rgb in rgbs]
    q, colour = m.default_quality, a.colour == "on"
    fitter = colour_mod.Fitter(m.synthesize, w, h, refresh=api.COLOUR_REFRESH) if colour else None
    main_encoder = FrameEncoder(m, q - 1, gop=a.gop, predictor=m.subpel, colour=fitter)
    chunks = gopencode.ChunkEncoder(lambda: FrameEncoder(m, q - 1, gop=a.gop, predictor=m.subpel), a.gop,
                                    a.workers, api.COLOUR_REFRESH if colour else None)  # forks before threads

    def analysed(item):  # what the network would give: a copy, as a fresh latent is
        i, rgb = item
        return SimpleNamespace(pts=i, index=i, rgb=rgb), None, latents[i % len(latents)].copy()

    frames = [rgbs[i % len(rgbs)] for i in range(a.frames)]
    t0, c0 = time.perf_counter(), time.process_time()
    size = 0
    try:
        for _, _, payload, *_ in api._chunk_coded(chunks, pipeline.parallel(enumerate(frames), analysed, 1,
                                                                            name="coder-rate"), main_encoder):
            size += len(payload)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        chunks.close()
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"{a.clip} {a.size}, {a.frames} frames, GOPs of {a.gop}, {a.workers} workers, colour {a.colour}: "
          f"{a.frames / wall:.1f} fps; main process {1e3 * cpu / a.frames:.1f} ms CPU a frame, workers "
          f"{1e3 * (workers.ru_utime + workers.ru_stime) / a.frames:.1f} ms CPU a frame; {size} bytes")


if __name__ == "__main__":
    main()
