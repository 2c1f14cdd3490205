"""Issue 4's 1080p rates on a GPU machine, with and without GOP-parallel workers.

    python runs/gpu-speed/speed.py STREAM.gvc OUT.json [--workers 1,8] [--backend torch] [--runs N]
        [--repeat R] [--analysis host,device] [--subpel learned,bilinear] [--encode-gop 20,16]

STREAM is a 1080p stream made here (runs/gpu-speed/prepare.sh). With ``--repeat R`` (default 1) the
stream's packets are written R times over into one longer stream (each copy starts with a keyframe;
timestamps go on) and its frames are encoded R times over: 240 frames in GOPs of 20 leave a GOP
worker pool filling and draining for much of a run (the last chunk of 20 frames is coded alone at
the end, about 2.4 s at 1080p), so longer input shows the rate a long video gets.

Decode: ``api.frames`` (the decoder's whole pipeline to RGB frames, no file written) with each
worker count, after one warm-up pass. Encode: the decoded frames go through the analysis network in
``m.lanes`` threads (as ``vidcodec encode`` does) and the delta coder, in-process or in
``--workers`` processes a GOP at a time; only PyAV's demuxing and the container writing are left
out (the GPU machine has no PyAV: see avstub/). ``--analysis``: how frames reach the network,
``host`` (``to_tensor`` on the CPU, floats uploaded: what the encoder does when a colour fitter
needs the float frame) and/or ``device`` (``analyze_rgb``: the bytes uploaded and converted on the
device, as encodes with ``--workers`` or ``--no-colour`` do). ``--colour on,off``: with colour
corrections (the default, as `vidcodec encode`; the 2026-12-04 GPU runs had none) and without.
``--encode-gop``: the encodes' keyframe intervals (default the stream's). GOP-parallel encoding runs in
waves of one GOP per worker, so its end-to-end rate depends on how the GOPs fill the last wave: the
2026-12-04 H200 run (960 frames, GOPs of 20, 15 workers at 0.213 s a frame each) took 4 waves
(48 GOPs = 3.2 waves) = 17.0 s, which is exactly its 56.6 fps; GOPs of 16 (60 = 4 full waves) would
take 13.6 s, about 70 fps, if that model holds (`--encode-gop 20,16` measures it).
For each: frames per second (total, and steady: from the first frame out to the last), the first
frame's latency, and the milliseconds per frame the main process spends in the network stage
(analysis or picture).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import vidcodec  # noqa: F401  (numpy's BLAS threads set before numpy loads)
from vidcodec import api, container, gopencode, pipeline
from vidcodec.codec import colour as colour_mod
from vidcodec.codec.vaegan import FrameEncoder, to_tensor
from vidcodec.models import zoo


class Clock:
    """Total and steady rates of one pass: ``tick()`` once per frame out."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.first = self.last = None
        self.n = 0

    def tick(self) -> None:
        self.last = time.perf_counter()
        if self.first is None:
            self.first = self.last
        self.n += 1

    def result(self, stage_s: float) -> dict:
        total = self.last - self.t0
        steady = (self.n - 1) / (self.last - self.first) if self.n > 1 and self.last > self.first else 0.0
        return {"fps": self.n / total, "steady_fps": steady, "first_s": self.first - self.t0,
                "stage_ms": 1000 * stage_s / max(self.n, 1)}


def repeated(src: str, dst: str, times: int) -> None:
    """``src``'s packets ``times`` over into ``dst``, timestamps going on (each copy starts with a keyframe)."""
    with container.GvcReader(src) as r:
        hdr, packets = r.header, [p for p in r if p.stream_index == 0]
    if packets[0].kind != container.PacketType.KEY:
        raise SystemExit(f"{src} does not start with a keyframe")
    span = packets[-1].pts - packets[0].pts + (packets[1].pts - packets[0].pts)
    with container.GvcWriter(dst, hdr) as w:
        for k in range(times):
            for p in packets:
                w.write_packet(p.kind, p.pts + k * span, bytes(p.payload), flags=p.flags)


def decode(path: str, workers: int, m, keep: bool = False) -> tuple[dict, list]:
    stage = [0.0]
    real = m.picture

    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            stage[0] += time.perf_counter() - t

    m.picture = timed  # the loaded model is cached: api.frames uses this instance
    clock, frames = Clock(), []
    try:
        for f in api.frames(path, backend=m.backend, workers=workers):
            clock.tick()
            if keep:
                frames.append(f.rgb)
    finally:
        del m.picture
    return clock.result(stage[0]), frames


def encode(frames: list, m, quality: int, gop: int, workers: int, analysis: str,
           subpel: str = "learned", colour: bool = True) -> tuple[dict, int]:
    """Rates of analysis + delta coding as `vidcodec encode` pipelines them; bytes. ``subpel``:
    the motion prediction, as `vidcodec encode --subpel` (bilinear: no learned predictor);
    ``colour``: with colour corrections, as `vidcodec encode` by default (in one process the
    fitter takes the float frame, made on the CPU whatever ``analysis`` says; with workers they are
    fitted in the main process on the latents the workers send back, as api._chunk_coded does)."""
    predictor = m.subpel if subpel == "learned" else None
    make = lambda: FrameEncoder(m, quality - 1, gop=gop, predictor=predictor)
    h, w = frames[0].shape[:2]
    fitter = colour_mod.Fitter(m.synthesize, w, h, refresh=api.COLOUR_REFRESH) if colour else None
    main_encoder = FrameEncoder(m, quality - 1, gop=gop, predictor=predictor, colour=fitter)
    chunks = (gopencode.ChunkEncoder(make, gop, workers, api.COLOUR_REFRESH if colour else None)
              if workers > 1 else None)  # forks before threads
    stage = [0.0]
    keep = colour and chunks is None  # encode_latent's float frame, as `vidcodec encode` keeps it

    def analyse(item):
        i, f = item
        t = time.perf_counter()
        x = to_tensor(f, m.downscale) if analysis == "host" or keep else None
        y = m.analyze(x)[0] if analysis == "host" else m.analyze_rgb(f)
        stage[0] += time.perf_counter() - t
        return SimpleNamespace(pts=i, index=i, rgb=f), x if keep else None, y

    clock = Clock()
    analysed = pipeline.parallel(enumerate(frames), analyse, m.lanes, name="speed-analysis")
    size = 0
    try:
        if chunks is None:
            for _, x, y in analysed:
                size += len(main_encoder.encode_latent(y, x).payload)
                clock.tick()
        else:
            for _, _, payload, *_ in api._chunk_coded(chunks, analysed, main_encoder):
                size += len(payload)
                clock.tick()
    finally:
        if chunks is not None:
            chunks.close()
    return clock.result(stage[0]), size


def median(results: list[dict]) -> dict:
    return {k: round(statistics.median(r[k] for r in results), 3) for k in results[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("stream")
    ap.add_argument("out")
    ap.add_argument("--workers", default="1,8")
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--analysis", default="host")
    ap.add_argument("--subpel", default="learned", help="the encodes' motion prediction: learned, bilinear "
                    "or both (learned,bilinear), as vidcodec encode --subpel")
    ap.add_argument("--colour", default="on", help="the encodes' colour corrections: on (as vidcodec encode by "
                    "default), off (--no-colour) or both (on,off)")
    ap.add_argument("--encode-gop", help="the encodes' keyframe intervals, e.g. 20,16 (default: the stream's)")
    a = ap.parse_args()
    workers = [int(w) for w in a.workers.split(",")]
    with container.GvcReader(a.stream) as r:
        hdr = r.header
    m = zoo.load(hdr.model_name, hdr.model_hash.hex(), backend=a.backend)
    report: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                "lanes": m.lanes, "gpu": None},
                    "stream": {"width": hdr.width, "height": hdr.height, "gop": hdr.gop, "quality": hdr.quality,
                               "model": m.name, "repeat": a.repeat}, "decode": {}, "encode": {}}
    try:
        import torch

        if torch.cuda.is_available():
            report["machine"]["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    print(report["machine"], report["stream"], flush=True)
    _, frames = decode(a.stream, 1, m, keep=True)  # warm-up (sessions, kernels) and the frames
    report["frames"] = len(frames) * a.repeat
    with tempfile.TemporaryDirectory() as tmp:
        stream = a.stream
        if a.repeat > 1:
            stream = str(Path(tmp) / "long.gvc")
            repeated(a.stream, stream, a.repeat)
        for w in workers:
            res = median([decode(stream, w, m)[0] for _ in range(a.runs)])
            report["decode"][str(w)] = res
            print(f"decode, {w} worker(s): {res}", flush=True)
    frames = frames * a.repeat
    gops = [int(g) for g in a.encode_gop.split(",")] if a.encode_gop else [hdr.gop]
    for gop in gops:
        for col in a.colour.split(","):
            for sub in a.subpel.split(","):
                for kind in a.analysis.split(","):
                    for w in workers:
                        runs = [encode(frames, m, hdr.quality, gop, w, kind, sub, col == "on") for _ in range(a.runs)]
                        res = median([r for r, _ in runs]) | {"bytes": runs[0][1]}
                        key = (f"{kind}/{w}" + ("" if sub == "learned" else f"/{sub}")
                               + ("" if col == "on" else "/no-colour") + ("" if gop == hdr.gop else f"/gop{gop}"))
                        report["encode"][key] = res
                        print(f"encode ({kind} analysis, {sub} sub-pixel prediction, colour {col}, gop {gop}), "
                              f"{w} worker(s): {res}", flush=True)
    with open(a.out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
