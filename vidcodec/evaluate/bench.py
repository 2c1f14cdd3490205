"""``vidcodec bench``: where the time goes, end-to-end frame rates, and x264 in the same run.

Per-stage times are measured one frame at a time without pipelining (so they add up to the work
per frame); the end-to-end rates go through :func:`vidcodec.encode` / :func:`vidcodec.decode`
exactly as the command line does (pipelined, with file I/O). x264 encodes and decodes the same
frames in the same process, so ratios are comparable on a noisy shared machine.
"""

from __future__ import annotations

import io
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import api, container
from ..codec import AUTO_PRESET, DEFAULT_GOP, PRESETS, SUBPEL_MODES, colour, resolve_preset
from ..codec.vaegan import FrameDecoder, FrameEncoder, to_rgb, to_tensor
from ..errors import UsageError
from ..models import zoo
from ..models.card import GAN_KIND
from .rd import decode_rgb, encode_reference, read_frames, write_y4m_clip

log = logging.getLogger(__name__)

# The sample measured when no clip is given: in an installed package vidcodec/samples/ (CMakeLists.txt
# installs it there), in a source checkout the repository's samples/.
BUNDLED_PLACES = (Path(__file__).resolve().parents[1] / "samples" / "bikes.mp4",
                  Path(__file__).resolve().parents[2] / "samples" / "bikes.mp4")


def bundled_sample() -> Path:
    """The bundled sample clip's path: the first of BUNDLED_PLACES that exists, else the first."""
    return next((p for p in BUNDLED_PLACES if p.exists()), BUNDLED_PLACES[0])


def machine() -> dict:
    """CPU, threads, GPU, ONNX Runtime providers and the allocator in use."""
    import onnxruntime as ort
    import torch

    from .. import runtime

    cpu = runtime.cpuinfo("model name") or platform.processor() or platform.machine()
    providers = runtime.default_providers()
    return {
        "cpu": cpu, "cores": runtime.usable_cpus(), "cpu_quota": runtime.cgroup_cpus(),
        "ort_threads": runtime.default_threads(),
        "ort_lanes": runtime.default_lanes(providers),
        "torch_threads": torch.get_num_threads(),
        "cpu_bf16": zoo.cpu_has_bf16(),  # --backend bf16 runs natively on this CPU
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "onnxruntime": ort.__version__, "providers": providers,
        "allocator": allocator(),
        "python": platform.python_version(),
    }


def allocator(maps: str | None = None) -> str:
    """The malloc this process runs with: tcmalloc or jemalloc when loaded (Linux's /proc/self/maps,
    ``maps``; a preload the loader ignored, e.g. a mistyped name, is not counted), else glibc's; where
    there is no /proc, what LD_PRELOAD names."""
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text()
        except OSError:
            maps = os.environ.get("LD_PRELOAD", "")
    return "tcmalloc" if "libtcmalloc" in maps else "jemalloc" if "libjemalloc" in maps else "glibc malloc"


def peak_rss_mib() -> float | None:
    """This process's peak resident memory in MiB (getrusage's ru_maxrss is KiB on Linux, bytes on
    macOS; not that of ``--workers``' processes); None where there is no getrusage (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20 if sys.platform == "darwin" else 1 << 10)


def _stats(ms: list[float]) -> dict:
    return {"median_ms": round(statistics.median(ms), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2)}


def load_frames(clip: str | Path | None, frames: int, size: tuple[int, int] | None) -> tuple[list[np.ndarray], Fraction,
                                                                                               str]:
    """Frames of ``clip`` (default: the bundled sample), resized to ``size`` (W, H) if given."""
    if str(clip) == "-":
        raise UsageError("bench reads its clip several times: give a file, not - (stdin)")
    path = Path(clip) if clip else bundled_sample()
    if not path.exists():
        raise UsageError(f"{path} does not exist" + ("" if clip else ": the bundled sample is missing from this "
                                                                      "installation; give a clip"))
    ref, rate = read_frames(path, frames, size=size)
    return ref, rate, path.name


def stage_times(frames: list[np.ndarray], model: zoo.CodecModel, quality: int, gop: int,
                subpel: str = "learned", preset: str = AUTO_PRESET, decoder: zoo.CodecModel | None = None) -> dict:
    """Per-stage milliseconds per frame for encoding and decoding, one frame at a time (``subpel``:
    the delta prediction, as ``vidcodec encode --subpel``; ``preset``: as ``--preset``; ``decoder``:
    the same model loaded for the decoder's backend, when it differs from the encoder's)."""
    h, w = frames[0].shape[:2]
    predictor = model.subpel if subpel == "learned" else None
    enc = FrameEncoder(model, quality - 1, gop=gop, predictor=predictor,  # as `vidcodec encode` codes
                       colour=colour.Fitter(model.synthesize, w, h, refresh=api.COLOUR_REFRESH),
                       fine=resolve_preset(preset) != "fast")
    t: dict[str, list[float]] = {k: [] for k in ("convert", "analysis", "entropy coding", "container write",
                                               "container parse", "entropy decoding", "synthesis", "to rgb")}
    buf = io.BytesIO()
    c, lh, lw = model.latent_channels, -(-h // model.downscale), -(-w // model.downscale)
    header = container.StreamHeader(width=w, height=h, time_base=(1, 25), frame_rate=(25, 1), frame_count=0,
                                    model_name=model.name, model_hash=bytes.fromhex(model.sha256),
                                    coder=container.Coder.ANS, mode=container.Mode.VAEGAN, quality=quality,
                                    latent_shape=(c, lh, lw), gop=gop)
    if predictor is not None:
        header.extensions[container.EXT_SUBPEL] = predictor.tag
    kinds = {"key": container.PacketType.KEY, "delta": container.PacketType.DELTA}
    with container.GvcWriter(buf, header) as writer:
        for i, f in enumerate(frames):
            t0 = time.perf_counter()
            x = to_tensor(f, model.downscale)
            t1 = time.perf_counter()
            y = model.analyze(x)[0]
            t2 = time.perf_counter()
            coded = enc.encode_latent(y, x)
            t3 = time.perf_counter()
            writer.write_packet(kinds[coded.kind], i, coded.payload, flags=coded.flags)
            t4 = time.perf_counter()
            for k, a, b in (("convert", t0, t1), ("analysis", t1, t2), ("entropy coding", t2, t3),
                            ("container write", t3, t4)):
                t[k].append(1000 * (b - a))
    buf.seek(0)
    model = decoder or model
    dec = FrameDecoder(model, (c, lh, lw), predictor=predictor)
    reader = container.GvcReader(buf)
    correction = None
    it = iter(reader)
    while True:
        t0 = time.perf_counter()
        pkt = next(it, None)
        t1 = time.perf_counter()
        if pkt is None:
            break
        kind = "key" if pkt.kind == container.PacketType.KEY else "delta"
        found, body = api._colour_section(pkt, header)
        correction = colour.in_force(correction, found, kind == "key")
        sym, level = dec.decode_symbols(kind, body)
        t2 = time.perf_counter()
        img = model.synthesize(dec.latent(sym, level))
        t3 = time.perf_counter()
        to_rgb(img, w, h, correction)
        t4 = time.perf_counter()
        for k, a, b in (("container parse", t0, t1), ("entropy decoding", t1, t2), ("synthesis", t2, t3),
                        ("to rgb", t3, t4)):
            t[k].append(1000 * (b - a))
    return {k: _stats(v) for k, v in t.items()}


def _x264(frames: list[np.ndarray], rate: Fraction, preset: str, tmp: Path) -> tuple[float, float]:
    """x264 (crf 23, yuv420p) encode and decode frames per second on these frames (RGB in and out), with
    frame threads as the ffmpeg command line runs it (:func:`encode_reference`), with all its SIMD
    functions (AVX-512 where the CPU has it)."""
    path = tmp / f"x264-{preset}.h264"
    t0 = time.perf_counter()
    encode_reference(frames, rate, "libx264", {"preset": preset, "crf": "23"}, path, steady=False)
    t1 = time.perf_counter()
    n = len(decode_rgb(path))
    t2 = time.perf_counter()
    return len(frames) / (t1 - t0), n / (t2 - t1)


def bench(clip: str | Path | None = None, size: tuple[int, int] | None = None, frames: int = 100,
          backend: str = "auto", model: str = zoo.DEFAULT_MODEL, quality: int | None = None, gop: int = DEFAULT_GOP,
          runs: int = 3, subpel: str = "learned", workers: int = 1, preset: str = AUTO_PRESET) -> dict:
    """Everything ``vidcodec bench`` prints, as a dict (medians over ``runs``); ``subpel``: the
    delta prediction (``"learned"`` or ``"bilinear"``, as ``vidcodec encode --subpel``); ``workers``:
    GOPs coded side by side in worker processes in the end-to-end encode and decode, as
    ``vidcodec encode/decode --workers``; ``preset``: the encoder's, as ``vidcodec encode --preset``
    (``"auto"``: the one it resolves to here, named in the report)."""
    if frames < 2 or runs < 1:
        raise UsageError("--frames must be at least 2 and --runs at least 1")
    api.check_workers(workers)
    if gop < 1:
        raise UsageError(f"--gop must be at least 1 (got {gop})")
    if subpel not in SUBPEL_MODES:
        raise UsageError(f"--subpel must be {' or '.join(SUBPEL_MODES)}, not {subpel!r}")
    if preset not in PRESETS:
        raise UsageError(f"--preset must be {' or '.join(PRESETS)}, not {preset!r}")
    asked, preset = preset, resolve_preset(preset)
    ref, rate, name = load_frames(clip, frames, size)
    if len(ref) < 2:
        raise UsageError(f"{name} has {len(ref)} frame: bench needs at least 2 (a keyframe and a delta)")
    if len(ref) < frames:
        log.warning("%s has %d frames, fewer than --frames %d: timed on those %d", name, len(ref), frames, len(ref))
    if min(ref[0].shape[:2]) < 2:  # a side of one pixel: not a picture to time x264 on
        raise UsageError(f"bench times x264 beside vidcodec, which needs at least 2x2 pixels (the frames are "
                         f"{ref[0].shape[1]}x{ref[0].shape[0]}): give --size 2x2 or more")
    info = zoo.find(model)
    if info.meta.get("kind") == GAN_KIND:
        raise UsageError(f"{info.name} is a GAN generator: bench times the default (VAE-GAN) codec; time the GAN "
                         "mode with `vidcodec encode --mode gan` (its progress line gives frames a second)")
    # auto as the commands resolve it: the encode knows this many frames are coming, the decode this many
    # pixels
    short_decode = zoo.short_decode(len(ref), ref[0].shape[1], ref[0].shape[0])
    backend, dec_backend = (zoo.resolve_backend(backend, info, short=len(ref) < zoo.BF16_MIN_FRAMES),
                            zoo.resolve_backend(backend, info, short=short_decode, decode=True)
                            if backend == zoo.AUTO else backend)
    m = zoo.load(model, backend=backend)
    md = m if dec_backend == backend else zoo.load(model, backend=dec_backend)
    quality = m.default_quality if quality is None else quality
    api.check_quality(quality, m)
    h, w = ref[0].shape[:2]
    t_start = time.perf_counter()
    y = m.analyze(to_tensor(ref[0], m.downscale))  # sessions made and warmed before timing
    m.synthesize(y)
    if md is not m:
        md.synthesize(y)
    startup = time.perf_counter() - t_start
    log.info("bench: each stage on its own, %d frames", len(ref))
    stages = stage_times(ref, m, quality, gop, subpel, preset, decoder=md)
    enc_fps, dec_fps, x264 = [], [], {"veryfast": ([], []), "medium": ([], [])}
    with tempfile.TemporaryDirectory(prefix="vidcodec-bench-") as d:
        tmp = Path(d)
        src = tmp / "src.y4m"
        write_y4m_clip(ref, rate, src)
        for run in range(runs):
            log.info("bench: run %d of %d: vidcodec encode and decode, x264 veryfast and medium", run + 1, runs)
            s = api.encode(src, tmp / "b.gvc", quality=quality, gop=gop, overwrite=True, model=model,
                           backend=backend, subpel=subpel, workers=workers, preset=preset)
            enc_fps.append(s.fps)
            ds = api.decode(tmp / "b.gvc", tmp / "out.y4m", overwrite=True, backend=dec_backend, workers=workers)
            dec_fps.append(ds.fps)
            for x264_preset, (e, dd) in x264.items():
                a, b = _x264(ref, rate, x264_preset, tmp)
                e.append(a)
                dd.append(b)
        size_bytes = (tmp / "b.gvc").stat().st_size
        api.encode(src, tmp / "one.gvc", quality=quality, overwrite=True, model=model, max_frames=1)
        cli_startup = statistics.median(_cli_decode_seconds(tmp / "one.gvc", tmp / "one.y4m", dec_backend)
                                        for _ in range(runs))
    enc, dec = statistics.median(enc_fps), statistics.median(dec_fps)
    report = {
        "machine": machine(), "clip": name, "width": w, "height": h, "frames": len(ref), "runs": runs,
        "backend": m.backend, "decode_backend": md.backend, "lanes": m.lanes, "model": m.name, "quality": quality,
        "subpel": subpel if m.subpel is not None else "bilinear (the model has no table)", "gop": gop,
        "workers": workers, "preset": preset, "preset_auto": asked == AUTO_PRESET,
        "startup_s": round(startup, 4),  # a tiny model warm in the cache starts in under a millisecond
        "cli_startup_s": round(cli_startup, 3),
        "stages": stages,
        # One frame through the stages with nothing queued before it: what a live viewer waits.
        "latency_ms": {
            "capture_to_packet": round(sum(stages[k]["median_ms"] for k in ("convert", "analysis", "entropy coding",
                                                                           "container write")), 1),
            "packet_to_frame": round(sum(stages[k]["median_ms"] for k in ("container parse", "entropy decoding",
                                                                         "synthesis", "to rgb")), 1),
        },
        "vidcodec": {"encode_fps": round(enc, 2), "decode_fps": round(dec, 2),
                     "bpp": round(8 * size_bytes / (len(ref) * w * h), 4)},
        "x264": {}, "peak_rss_mib": None if (peak := peak_rss_mib()) is None else round(peak, 1),
    }
    for x264_preset, (e, dd) in x264.items():
        ef, df = statistics.median(e), statistics.median(dd)
        report["x264"][x264_preset] = {"encode_fps": round(ef, 2), "decode_fps": round(df, 2),
                                  "vidcodec_encode_ratio": round(enc / ef, 4),
                                  "vidcodec_decode_ratio": round(dec / df, 4)}
    return report


def _cli_decode_seconds(stream: Path, out: Path, backend: str) -> float:
    """Wall time of ``vidcodec decode`` of a one-frame stream in a new process: what a user waits
    before the first picture (interpreter, imports, model, sessions, one frame, exit)."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "vidcodec", "decode", str(stream), str(out), "-y", "-q",
                        "--backend", backend], capture_output=True, text=True, check=False)
    if r.returncode:
        raise RuntimeError(f"vidcodec decode failed while timing start-up: {r.stderr.strip()}")
    return time.perf_counter() - t


def format_report(r: dict) -> str:
    m = r["machine"]
    if r.get("backend", "ort") in zoo.ORT_BACKENDS or r.get("decode_backend", "ort") in zoo.ORT_BACKENDS:
        nets = f"ORT threads {m['ort_threads']} in {m.get('ort_lanes', 1)} lane(s), torch threads {m['torch_threads']}"
    else:  # the torch modules run the networks: their lanes, each call on torch's threads
        nets = f"ORT unused, torch threads {m['torch_threads']} in {r.get('lanes', 1)} lane(s)"
    quota = f" (a cgroup quota of {m['cpu_quota']} CPUs)" if m.get("cpu_quota") else ""
    head = (f"machine: {m['cpu']}, {m['cores']} logical cores{quota}, {nets}, GPU {m['gpu'] or 'none'}, providers {', '.join(m['providers'])}, "
            f"allocator {m['allocator']}, CPU bfloat16 {'native (--backend bf16)' if m.get('cpu_bf16') else 'no'}")
    clip = (f"clip: {r['clip']} {r['width']}x{r['height']}, {r['frames']} frames, {r['runs']} run(s); model "
            f"{r['model']} q{r['quality']}, {r.get('subpel', 'learned')} prediction, preset {r.get('preset', 'medium')}{' (auto)' if r.get('preset_auto') else ''}, backend {r['backend']}"
            f"{'' if r.get('decode_backend', r['backend']) == r['backend'] else ' (decoding ' + r['decode_backend'] + ')'}; "
            f"start-up: sessions and first frame {r['startup_s']} s, "
            f"'vidcodec decode' of one frame in a new process {r.get('cli_startup_s', '?')} s")
    lines = [head, clip, "", f"{'stage (one frame at a time)':<30} {'median ms':>10} {'p95 ms':>10}"]
    for k, v in r["stages"].items():
        lines.append(f"  {k:<28} {v['median_ms']:>10.2f} {v['p95_ms']:>10.2f}")
    lat = r["latency_ms"]
    lines.append(f"  latency, one frame, nothing queued: capture -> packet {lat['capture_to_packet']} ms, "
                 f"packet -> frame {lat['packet_to_frame']} ms")
    v = r["vidcodec"]
    e2e = (f"end to end (pipelined, as the CLI): encode {v['encode_fps']:.1f} fps, decode {v['decode_fps']:.1f} fps, "
           f"{v['bpp']} bpp")
    lines += ["", e2e]
    for preset, x in r["x264"].items():
        lines.append(f"x264 {preset:<9} encode {x['encode_fps']:7.1f} fps (vidcodec/x264 {x['vidcodec_encode_ratio']:.3f}), "
                     f"decode {x['decode_fps']:7.1f} fps (vidcodec/x264 {x['vidcodec_decode_ratio']:.3f})")
    lines.append(f"peak memory (RSS): {r['peak_rss_mib']} MiB" if r["peak_rss_mib"] is not None
                 else "peak memory (RSS): not known on this system")
    return "\n".join(lines)
