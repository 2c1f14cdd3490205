"""Issue 4's 1080p rates on a GPU machine, with and without GOP-parallel workers.

    python runs/gpu-speed/speed.py STREAM.gvc OUT.json [--workers 1,8] [--backend torch] [--runs N]

STREAM is a 1080p stream made here (runs/gpu-speed/prepare.sh). Decode: ``api.frames`` (the
decoder's whole pipeline to RGB frames, no file written) with each worker count, after one warm-up
pass. Encode: the decoded frames go through the analysis network in ``m.lanes`` threads (as
``vidcodec encode`` does) and the delta coder, in-process or in ``--workers`` processes a GOP at a
time; only PyAV's demuxing and the container writing are left out (the GPU machine has no PyAV:
see avstub/). Prints and writes frames per second for each, the machine, and per-stage timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import vidcodec  # noqa: F401  (numpy's BLAS threads set before numpy loads)
from vidcodec import api, container, gopencode, pipeline
from vidcodec.codec.vaegan import FrameEncoder, to_tensor
from vidcodec.models import zoo


def decode(path: str, workers: int, backend: str, keep: bool = False) -> tuple[float, list]:
    t = time.perf_counter()
    frames = []
    n = 0
    for f in api.frames(path, backend=backend, workers=workers):
        n += 1
        if keep:
            frames.append(f.rgb)
    return n / (time.perf_counter() - t), frames


def encode(frames: list, m, quality: int, gop: int, workers: int) -> tuple[float, int]:
    """Frames per second of analysis + delta coding as `vidcodec encode` pipelines them; bytes."""
    make = lambda: FrameEncoder(m, quality - 1, gop=gop, predictor=m.subpel)
    chunks = gopencode.ChunkEncoder(make, gop, workers) if workers > 1 else None  # forks before threads
    t = time.perf_counter()
    analysed = pipeline.parallel(iter(frames), lambda f: m.analyze(to_tensor(f, m.downscale))[0], m.lanes,
                                 name="speed-analysis")
    size = 0
    try:
        if chunks is None:
            enc = make()
            for y in analysed:
                size += len(enc.encode_latent(y).payload)
        else:
            for _, _, payload, *_ in chunks.code(((i, 0), y) for i, y in enumerate(analysed)):
                size += len(payload)
    finally:
        if chunks is not None:
            chunks.close()
    return len(frames) / (time.perf_counter() - t), size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("stream")
    ap.add_argument("out")
    ap.add_argument("--workers", default="1,8")
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args()
    workers = [int(w) for w in a.workers.split(",")]
    with container.GvcReader(a.stream) as r:
        hdr = r.header
    m = zoo.load(hdr.model_name, hdr.model_hash.hex(), backend=a.backend)
    report: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                "lanes": m.lanes, "gpu": None},
                    "stream": {"width": hdr.width, "height": hdr.height, "gop": hdr.gop, "quality": hdr.quality,
                               "model": m.name}, "decode_fps": {}, "encode_fps": {}}
    try:
        import torch

        if torch.cuda.is_available():
            report["machine"]["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    print(report["machine"], report["stream"], flush=True)
    _, frames = decode(a.stream, 1, a.backend, keep=True)  # warm-up (sessions, kernels) and the frames
    report["frames"] = len(frames)
    for w in workers:
        runs = [decode(a.stream, w, a.backend)[0] for _ in range(a.runs)]
        report["decode_fps"][str(w)] = [round(v, 1) for v in runs]
        print(f"decode, {w} worker(s): {statistics.median(runs):.1f} fps {runs}", flush=True)
    for w in workers:
        runs = [encode(frames, m, hdr.quality, hdr.gop, w) for _ in range(a.runs)]
        report["encode_fps"][str(w)] = [round(v, 1) for v, _ in runs]
        report.setdefault("encode_bytes", {})[str(w)] = runs[0][1]
        print(f"encode, {w} worker(s): {statistics.median(v for v, _ in runs):.1f} fps", flush=True)
    with open(a.out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
