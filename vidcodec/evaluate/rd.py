"""Rate–distortion of vidcodec against x264, x265 and per-frame JPEG on the same frames, in one run.

Every rate is a real file size: the .gvc stream (header, packets, index), the x264/x265 elementary
stream (Annex B, parameter sets and start codes included; the encoders' informational SEI messages,
their version and settings as text, left out, as the .gvc carries no such text), the sum of the
JPEG files (optimised Huffman tables).
Every codec sees the same decoded RGB frames (the first ``frames`` of the clip) and is scored on
the same metrics: PSNR (RGB and BT.601 luma), SSIM, MS-SSIM, bits per pixel, kbit/s and the
compression ratio against 24-bit RGB.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from .. import api, container, figures, media
from ..codec import DEFAULT_GOP, default_gop
from ..errors import UsageError
from ..models import zoo
from ..outputs import write_file
from ..train.data import VIDEO_EXTS  # the files of a folder given to eval that it measures (not .gvc streams)
from . import metrics
from .bdrate import bd_rate, ms_ssim_db

log = logging.getLogger(__name__)

CRFS = (20, 24, 28, 32, 36, 40, 44, 48)
JPEG_QUALITIES = (1, 3, 5, 8, 12, 18, 25, 35, 50, 70, 90)
# name → (PyAV encoder, options); x265 only where this PyAV build has libx265.
REFERENCES = {
    "x264-medium": ("libx264", {"preset": "medium"}),
    "x264-veryfast-zl": ("libx264", {"preset": "veryfast", "tune": "zerolatency"}),
    "x265-medium": ("libx265", {"preset": "medium", "x265-params": "log-level=error"}),
    # Every frame a keyframe (its own -g, whatever the eval's), for vidcodec-intra's comparison: with
    # x264-medium's video points beside it, it shows whether a gap is in the keyframes or in the deltas.
    "x264-intra": ("libx264", {"preset": "medium", "g": "1"}),
}
# vidcodec: `vidcodec encode --preset medium` on every machine (encode's default, auto, is fast on a
# CPU without AMX or GPU: codec.resolve_preset), so that its rates do not depend on where eval ran;
# vidcodec-fast: `vidcodec encode --preset fast`; vidcodec-int8, vidcodec-ort and vidcodec-bf16:
# `--backend int8`, `ort` and `bf16` (the default, auto, is one of them: zoo.resolve_backend). Not in
# eval's default list: another full sweep of levels each; with one the table has vidcodec's BD-rate
# against it, what the default preset buys or what the 8-bit or bfloat16 networks cost.
VARIANTS = {"vidcodec": {}, "vidcodec-ort": {"backend": "ort"}, "vidcodec-int8": {"backend": "int8"},
            "vidcodec-bf16": {"backend": "bf16"},
            "vidcodec-fast": {"preset": "fast"}}  # encode's settings of each, in main_codec's order
CODECS = ("vidcodec", "vidcodec-intra", "vidcodec-fast", "vidcodec-int8", "vidcodec-ort", "vidcodec-bf16",
          *REFERENCES, "jpeg")
INTRA_CODECS = ("x264-intra", "jpeg")  # what vidcodec-intra's BD-rates are taken against


@dataclass
class RDPoint:
    """One codec setting measured on one clip."""

    clip: str
    codec: str
    setting: str
    frames: int
    width: int
    height: int
    bytes: int
    bpp: float
    kbps: float
    ratio: float  # compression ratio against 24-bit RGB
    psnr: float
    psnr_y: float
    ssim: float
    ms_ssim: float
    channels: int | None = None  # vidcodec: latent channels coded at this level

    def as_dict(self) -> dict:
        return asdict(self)


def expand_clips(paths: Iterable[str | Path]) -> list[Path]:
    """Video files from files and folders (folders: their video files, sorted, not recursive; .gvc
    streams are not video to measure). UsageError for two clips of one file name."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in VIDEO_EXTS and f.is_file())
            if not found:
                raise UsageError(f"{p} holds no video files")
            out += found
        elif p.is_file():
            out.append(p)
        elif str(p) == "-":
            raise UsageError("eval reads each clip once a codec: give files or folders, not - (stdin)")
        elif p.exists():  # a FIFO, <(...): read once, the second read had waited for ever
            raise UsageError(f"eval reads each clip once a codec: give files or folders, not {p} (a pipe or device)")
        else:
            raise UsageError(f"{p} does not exist")
    names: dict[str, list[Path]] = {}
    for clip in out:
        names.setdefault(clip.name, []).append(clip)
    same = next((paths for paths in names.values() if len(paths) > 1), None)
    if same is not None:  # the report keys a clip's points by its file name: they would be pooled
        raise UsageError(f"{len(same)} clips are named {same[0].name} ({', '.join(map(str, same))}): the report names "
                         "clips by file name, so give each once, under a name of its own (rename or link one)")
    return out


# The SSIM window (pytorch-msssim's and train.losses'): a frame needs at least this many pixels a side
METRIC_MIN_SIDE = 11


def check_clips(clips: Iterable[Path]) -> None:
    """UsageError now, before the first clip's minutes of work, for a clip that does not open as a
    video or is too small for the metrics (a side under :data:`METRIC_MIN_SIDE` pixels)."""
    for clip in clips:
        with media.open_source(clip) as src:  # InputError (exit 2) for what is not a video
            w, h = src.width, src.height
        check_metric_size(f"{clip} is {w}x{h}", w, h)


def check_metric_size(what: str, w: int, h: int) -> None:
    """UsageError (``what`` first) for frames too small for the metrics' window (:data:`METRIC_MIN_SIDE`)."""
    if min(w, h) < METRIC_MIN_SIDE:
        raise UsageError(f"{what}: eval measures SSIM and MS-SSIM, whose {METRIC_MIN_SIDE}-pixel window needs at "
                         f"least {METRIC_MIN_SIDE}x{METRIC_MIN_SIDE}")


def read_frames(clip: Path, limit: int, skip: int = 0,
                size: tuple[int, int] | None = None) -> tuple[list[np.ndarray], Fraction]:
    """RGB frames ``skip … skip+limit−1`` of a clip (the first ``limit`` by default) and its frame rate;
    with ``size`` (W, H), each scaled to it first (area interpolation, as ``bench --size``): every codec
    is then measured on the scaled frames."""
    with media.open_source(clip) as src:
        kept = [f for i, f in zip(range(skip + limit), src) if i >= skip]
        # the frames' own rate where it is not the announced one (a variable-rate Matroska file): the
        # kbps column, x264's rate and the peak over 2 s had gone by the announced one
        rate = media.timed_rate([f.pts for f in kept], src.time_base, src.frame_rate) or Fraction(25)
        frames = [f.rgb for f in kept]
    if not frames:
        raise UsageError(f"{clip} has no video frames" + (f" after the first {skip}" if skip else ""))
    if size is not None and size != (frames[0].shape[1], frames[0].shape[0]):
        frames = [np.ascontiguousarray(cv2.resize(f, size, interpolation=cv2.INTER_AREA)) for f in frames]
    return frames, rate


def score(clip: str, codec: str, setting: str, ref: list[np.ndarray], out: list[np.ndarray], size: int,
          rate: Fraction, channels: int | None = None) -> RDPoint:
    """Metrics of decoded frames ``out`` against ``ref`` for a stream of ``size`` bytes."""
    n = min(len(ref), len(out))
    if n < len(ref):
        log.warning("%s %s decoded %d of %d frames", codec, setting, n, len(ref))
    h, w = ref[0].shape[:2]
    bpp = 8 * size / (len(ref) * w * h)
    pairs = list(zip(ref, out))
    return RDPoint(
        clip=clip, codec=codec, setting=setting, frames=n, width=w, height=h, bytes=size,
        bpp=bpp, kbps=8 * size * float(rate) / len(ref) / 1000, ratio=24.0 / bpp if bpp else float("inf"),
        psnr=float(np.mean([metrics.psnr(a, b) for a, b in pairs])),
        psnr_y=float(np.mean([metrics.psnr_y(a, b) for a, b in pairs])),
        ssim=float(np.mean([metrics.ssim_rgb(a, b) for a, b in pairs])),
        ms_ssim=float(np.mean([metrics.ms_ssim_rgb(a, b) for a, b in pairs])),
        channels=channels,
    )


def write_y4m_clip(frames: list[np.ndarray], rate: Fraction, path: Path) -> None:
    """RGB frames as a lossless y4m clip at ``rate`` (the copy every codec of a comparison reads)."""
    with media.open_sink(path, width=frames[0].shape[1], height=frames[0].shape[0], time_base=1 / rate,
                         frame_rate=rate, overwrite=True) as sink:
        for i, f in enumerate(frames):
            sink.write(f, i)


def long_clip_backend(model: str) -> str:
    """The backend ``auto`` encodes a long clip with here: eval's vidcodec rows use it whatever --frames
    says (auto keeps int8 for a few frames, and a row must not change backend with the frames measured)."""
    return zoo.load(model, backend=zoo.AUTO).backend


def vidcodec_points(clip: Path, ref: list[np.ndarray], rate: Fraction, gop: int, tmp: Path,
                    qualities: Iterable[int], model: str = zoo.DEFAULT_MODEL, *, refine: int = 0,
                    seconds: list[float] | None = None, preset: str = "medium",
                    backend: str = "auto") -> list[RDPoint]:
    """vidcodec at each quality, from a lossless y4m copy of the reference frames (``refine``: the
    encoder's --refine steps; ``preset``: its --preset (medium by default on every machine, where
    encode's default is the machine's), "fast" named vidcodec-fast; ``backend``: its
    --backend, "int8" named vidcodec-int8, "ort" vidcodec-ort, "bf16" vidcodec-bf16; each encode's wall
    seconds are appended to ``seconds`` if given)."""
    src = tmp / "ref.y4m"
    if not src.exists():
        write_y4m_clip(ref, rate, src)
    m = zoo.load(model)
    run = long_clip_backend(model) if backend == zoo.AUTO else backend
    points = []
    qualities = list(qualities)
    for i, q in enumerate(qualities):
        log.info("%s: quality %d (%d of %d)", clip.name, q, i + 1, len(qualities))
        out = tmp / f"q{q}_g{gop}_{preset}_{backend}.gvc"
        t0 = time.perf_counter()
        api.encode(src, out, quality=q, gop=gop, overwrite=True, model=model, refine=refine, preset=preset,
                   backend=run)
        if seconds is not None:
            seconds.append(time.perf_counter() - t0)
        dec = [f.rgb for f in api.frames(out)]
        name = "vidcodec" + "".join(f"-{v}" for v in (preset, backend) if v not in ("medium", "auto"))
        name = name if gop > 1 else "vidcodec-intra"
        points.append(score(clip.name, name, f"q={q}" + (f" gop={gop}" if gop > 1 else ""), ref, dec,
                            out.stat().st_size, rate, channels=m.level_channels[q - 1]))
    return points


def available(codec: str) -> bool:
    """Whether this PyAV build can encode with a reference codec's encoder."""
    try:
        av.codec.Codec(REFERENCES[codec][0], "w")
        return True
    except Exception:  # noqa: BLE001 - PyAV raises several types for a missing encoder
        return False


def even_pad(frame: np.ndarray) -> np.ndarray:
    """The frame grown to even width and height by repeating its last row and column (4:2:0 needs
    them; ``ffmpeg -vf pad`` as a user gives x264 an odd-sized clip), contiguous."""
    h, w = frame.shape[:2]
    return np.ascontiguousarray(np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge"))


def even_crop(frame: np.ndarray) -> np.ndarray:
    """The frame cut to even width and height, contiguous (what eval gave x264 before :func:`even_pad`;
    runs/diagnostics/x264_conversion.py measures that way)."""
    h, w = frame.shape[:2]
    return np.ascontiguousarray(frame[: h - h % 2, : w - w % 2])


def decode_rgb_cropped(path: Path, like: np.ndarray) -> list[np.ndarray]:
    """:func:`decode_rgb`, each frame cut back to ``like``'s size (what :func:`even_pad` added)."""
    h, w = like.shape[:2]
    return [f[:h, :w] for f in decode_rgb(path)]


# A reference encoder's elementary stream format (FFmpeg's raw muxer) and its SEI NAL unit types
ELEMENTARY = {"libx264": ("h264", (6,)), "libx265": ("hevc", (39, 40))}


def reference_suffix(encoder: str) -> str:
    """The file suffix :func:`encode_reference` writes for ``encoder`` (.h264, .hevc)."""
    return "." + ELEMENTARY[encoder][0]


def encode_reference(frames: list[np.ndarray], rate: Fraction, encoder: str, options: dict[str, str],
                     path: Path, steady: bool = True) -> None:
    """Encode RGB frames with x264 or x265 (yuv420p; an odd size padded to even, :func:`even_pad`) into
    ``path``, an elementary stream.

    The frames go to YUV as vidcodec's own outputs do (:func:`media.rgb_to_yuv`: limited range, the
    matrix readers assume for the height, accurate rounding and chroma, centred chroma), tagged so, and
    :func:`decode_rgb` reads them back as the clip itself was read: the reference codec is measured
    through the best conversion, not swscale's default fast one, which alone capped an x264 clip's
    RGB PSNR near 43 dB (and cost 1.6 dB at crf 28, 4.5 dB at crf 20).

    The encoder runs as the ffmpeg command line runs it: frame threads, their number the encoder's
    own choice (PyAV's default asked for slice threads, which split each x264 frame into one slice
    per thread: 5.5 % more bytes on two cores, 17 % with four slices, and a result that depended on
    the machine). The stream is written as is, less its SEI messages (x264's is its version and
    settings as 685 bytes of text, x265's 2-5 kB; none changes a decoded pixel), with no container
    around it: the bytes a decoder needs. ``steady``: x264 kept to the SIMD functions whose streams do
    not vary from run to run (:func:`media.steady_x264`); False runs it as it runs by default (for
    timing it)."""
    fmt, sei = ELEMENTARY[encoder]
    h, w = even_pad(frames[0]).shape[:2]
    matrix, color_range = media.resolve_color(media.MATRIX_UNSPECIFIED, media.RANGE_LIMITED, h)
    reformatter = VideoReformatter()
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        s = out.add_stream(encoder, rate=rate)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.colorspace, s.codec_context.color_range = matrix, color_range
        s.thread_type = "AUTO"  # ffmpeg's default: x264 then uses frame threads, not slices
        chosen = media.center_chroma(encoder, options)
        s.options = media.steady_x264(encoder, chosen) if steady else chosen
        for f in frames:
            for p in s.encode(media.rgb_to_yuv(reformatter, even_pad(f), "yuv420p", matrix, color_range)):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    path.write_bytes(without_nal_units(buf.getvalue(), sei, hevc=fmt == "hevc"))


def nal_units(stream: bytes, hevc: bool = False) -> list[tuple[int, bytes]]:
    """An Annex B stream's NAL units as (type, bytes with their start code), in order."""
    marks = []
    at = stream.find(b"\x00\x00\x01")
    while at >= 0:
        marks.append((at - 1 if at > 0 and stream[at - 1] == 0 else at, at + 3))
        at = stream.find(b"\x00\x00\x01", at + 3)
    units = []
    for i, (start, body) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(stream)
        if body < end:
            kind = (stream[body] >> 1) & 0x3F if hevc else stream[body] & 0x1F
            units.append((kind, stream[start:end]))
    return units


def without_nal_units(stream: bytes, kinds: Iterable[int], hevc: bool = False) -> bytes:
    """An Annex B stream less its NAL units of the given types."""
    drop = set(kinds)
    return b"".join(unit for kind, unit in nal_units(stream, hevc) if kind not in drop)


def decode_rgb(path: Path) -> list[np.ndarray]:
    """Every video frame of a file as RGB, converted as any input clip is (:class:`media.VideoSource`)."""
    with media.open_source(path) as src:
        return [f.rgb for f in src]


def reference_points(clip: Path, ref: list[np.ndarray], rate: Fraction, tmp: Path, codec: str,
                     crfs: tuple[int, ...] = CRFS, gop: int = DEFAULT_GOP) -> list[RDPoint]:
    """x264/x265 (yuv420p) at several CRFs, with the same keyframe interval as vidcodec (``-g``,
    unless the reference sets its own, as x264-intra does; their own scene-cut keyframes stay on, as
    ours do); rate from the elementary stream's size (:func:`encode_reference`)."""
    encoder, options = REFERENCES[codec]
    options = {"g": str(gop), **options}
    points = []
    for crf in crfs:  # (an odd-sized clip is coded padded to even and scored on its own pixels, as vidcodec's)
        path = tmp / f"{codec}_{crf}{reference_suffix(encoder)}"
        encode_reference(ref, rate, encoder, {**options, "crf": str(crf)}, path)
        dec = decode_rgb_cropped(path, ref[0])
        points.append(score(clip.name, codec, f"crf={crf} gop={options['g']}", ref, dec, path.stat().st_size,
                            rate))
    return points


def jpeg_points(clip: Path, ref: list[np.ndarray], rate: Fraction,
                qualities: tuple[int, ...] = JPEG_QUALITIES) -> list[RDPoint]:
    """OpenCV JPEG per frame (4:2:0, libjpeg) at several qualities, with Huffman tables optimised for
    each picture (lossless: the same pixels, the tables' header and codes 2x smaller at low rates
    than the standard tables' 623 bytes a picture); rate from the sum of file sizes."""
    points = []
    for q in qualities:
        size, dec = 0, []
        for f in ref:
            _, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR),
                                  [cv2.IMWRITE_JPEG_QUALITY, q, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
            size += len(buf)
            dec.append(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
        points.append(score(clip.name, "jpeg", f"q={q}", ref, dec, size, rate))
    return points


def measures_vidcodec(codecs: Iterable[str]) -> bool:
    """Whether any of ``codecs`` is one of vidcodec's (which need a model and its quality levels)."""
    return any(c.startswith("vidcodec") for c in codecs)


def check_codecs(codecs: Iterable[str], model: str | None = None) -> None:
    """UsageError unless every name is one of :data:`CODECS` (and, for vidcodec-int8, ``model`` has
    its 8-bit analysis's ranges; for vidcodec-bf16, the machine runs bfloat16 natively)."""
    codecs = list(codecs)
    unknown = [c for c in codecs if c not in CODECS]
    if unknown:
        named = [u for u in unknown if "." in u or "/" in u]  # a clip after --codecs that does not exist
        hint = f" ({', '.join(named)}: a clip? no such file or folder)" if named else ""
        raise UsageError(f"unknown codec(s) {', '.join(unknown)}: choose from {', '.join(CODECS)}{hint}")
    twice = sorted({c for c in codecs if codecs.count(c) > 1})
    if twice:  # their points would be pooled into one curve
        raise UsageError(f"--codecs names {', '.join(twice)} more than once")
    if "vidcodec-int8" in codecs and model is not None:
        from ..int8 import existing_ranges

        info = zoo.find(model)
        existing_ranges(info.name, info.weights)
    if "vidcodec-bf16" in codecs:
        zoo.check_bf16(zoo.torch_device())


def evaluate_clip(clip: Path, frames: int = 50, gop: int = DEFAULT_GOP, codecs: Iterable[str] = CODECS,
                  model: str = zoo.DEFAULT_MODEL, qualities: Iterable[int] | None = None,
                  skip: int = 0, size: tuple[int, int] | None = None) -> list[RDPoint]:
    """Every requested codec on ``frames`` frames of one clip, from frame ``skip`` on (scaled to
    ``size``, W × H, when given)."""
    codecs = list(codecs)
    check_codecs(codecs, model)
    ref, rate = read_frames(clip, frames, skip, size)
    if len(ref) < frames:
        log.warning("%s has %d frames%s, fewer than --frames %d: every codec is measured on those %d",
                    clip.name, len(ref), f" after the {skip} skipped" if skip else "", frames, len(ref))
    qualities = list(qualities or api.quality_range(model)) if measures_vidcodec(codecs) else []  # (no model needed for the others)
    pts: list[RDPoint] = []
    with tempfile.TemporaryDirectory(prefix="vidcodec-eval-") as d:
        tmp = Path(d)
        for codec in codecs:
            log.info("%s: %s", clip.name, codec)
            if codec in VARIANTS:
                pts += vidcodec_points(clip, ref, rate, gop, tmp, qualities, model, **VARIANTS[codec])
            elif codec == "vidcodec-intra":
                pts += vidcodec_points(clip, ref, rate, 1, tmp, qualities, model)
            elif codec == "jpeg":
                pts += jpeg_points(clip, ref, rate)
            elif available(codec):
                pts += reference_points(clip, ref, rate, tmp, codec, gop=gop)
            else:
                log.warning("%s is not available in this PyAV build: skipped", codec)
    return pts


def quality_runs(gops: Iterable[tuple[int, int, int]]) -> str:
    """The qualities of an encode's GOPs in time order, runs of one quality merged, as ``q7:50 q6:125``
    (quality: frames)."""
    runs: list[list[int]] = []
    for quality, frames, _ in gops:
        if runs and runs[-1][0] == quality:
            runs[-1][1] += frames
        else:
            runs.append([quality, frames])
    return " ".join(f"q{q}:{n}" for q, n in runs)


def rate_control_rows(clip: Path, bitrates: Iterable[float], frames: int, gop: int | None = None,
                      model: str = zoo.DEFAULT_MODEL, skip: int = 0, x264: bool = True,
                      size: tuple[int, int] | None = None) -> list[dict]:
    """Encode ``frames`` frames of a clip, from frame ``skip`` on, with ``--bitrate`` at each target
    (``gop``: the encoder's default when None): achieved rate, the largest rate over any 2 s of video
    packets, quality; with ``x264``, x264 medium's one-pass average bitrate mode (``-b:v``, same
    keyframe interval) at the same target beside it, its rate from its file size. ``size``: as for
    :func:`evaluate_clip`."""
    ref, rate = read_frames(clip, frames, skip, size)
    g = gop or default_gop()
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidcodec-rc-") as d:
        src = Path(d) / "ref.y4m"
        write_y4m_clip(ref, rate, src)
        for kbps in bitrates:
            out = Path(d) / "rc.gvc"
            s = api.encode(src, out, gop=g, overwrite=True, model=model, bitrate=kbps,
                           backend=long_clip_backend(model), preset="medium")  # as vidcodec_points
            dec = [f.rgb for f in api.frames(out)]
            p = score(clip.name, "vidcodec", f"bitrate={kbps:g}", ref, dec, out.stat().st_size, rate)
            row = {
                "clip": clip.name, "frames": len(ref), "target kbps": kbps, "achieved kbps": p.kbps,
                "error %": 100 * (p.kbps / kbps - 1),
                "max 2 s kbps/target": _peak_rate(out, float(rate), 2.0) / kbps,
                "keyframes": len(s.gops), "qualities": quality_runs(s.gops),
                "psnr": p.psnr, "ms_ssim": p.ms_ssim,
            }
            if x264:
                encoder, options = REFERENCES["x264-medium"]
                path = Path(d) / f"x264{reference_suffix(encoder)}"
                encode_reference(ref, rate, encoder, {**options, "g": str(g), "b": f"{kbps:g}k"}, path)
                q = score(clip.name, "x264-medium", f"b={kbps:g}k", ref, decode_rgb_cropped(path, ref[0]),
                          path.stat().st_size, rate)
                row.update({"x264 kbps": q.kbps, "x264 psnr": q.psnr, "x264 ms_ssim": q.ms_ssim})
            rows.append(row)
    return rows


def _peak_rate(stream: Path, fps: float, seconds: float) -> float:
    """The largest video rate (kbit/s, packet headers included) over any ``seconds`` of a .gvc stream's frames."""
    sizes = []
    with container.GvcReader(stream) as r:
        for p in r:
            if isinstance(p, container.Packet) and p.stream_index == 0 and p.kind in (container.PacketType.KEY,
                                                                                    container.PacketType.DELTA):
                sizes.append(8 * (len(p.payload) + p.header_size))
    n = max(1, min(len(sizes), round(seconds * fps)))
    window = max(sum(sizes[i:i + n]) for i in range(len(sizes) - n + 1)) if sizes else 0
    return window / (n / fps) / 1000.0


def interpolate(points: list[RDPoint], bpp: float, key: str = "psnr") -> float | None:
    """Quality at ``bpp`` by linear interpolation in log-rate; None outside the measured range."""
    pts = sorted(points, key=lambda p: p.bpp)
    if len(pts) < 2:
        return None
    xs = np.log([p.bpp for p in pts])
    x = np.log(bpp)
    if x < xs[0] or x > xs[-1]:
        return None
    return float(np.interp(x, xs, [getattr(p, key) for p in pts]))


def bd_rates(points: list[RDPoint], test: str = "vidcodec", references: Iterable[str] | None = None) -> list[dict]:
    """Per clip and reference codec (``references``, default every other codec): BD-rate (%) of
    ``test`` on PSNR, PSNR-Y and MS-SSIM (dB)."""
    rows = []
    clips = list(dict.fromkeys(p.clip for p in points))
    refs = [c for c in (CODECS if references is None else references) if c != test]
    for clip in [*clips, "all clips (mean)"]:
        for refc in refs:
            if clip == "all clips (mean)":
                per = [r for r in rows if r["reference"] == refc and r["clip"] != clip]
                if len(per) < 2:
                    continue
                row = {"clip": clip, "test": test, "reference": refc}
                for k in ("bd_rate_psnr", "bd_rate_psnr_y", "bd_rate_ms_ssim"):
                    vals = [r[k] for r in per if r[k] is not None]
                    row[k] = float(np.mean(vals)) if len(vals) == len(per) else None
                rows.append(row)
                continue
            mine = [p for p in points if p.clip == clip and p.codec == test]
            other = [p for p in points if p.clip == clip and p.codec == refc]
            if not mine or not other:
                continue
            rows.append({
                "clip": clip, "test": test, "reference": refc,
                "bd_rate_psnr": bd_rate([(p.bpp, p.psnr) for p in other], [(p.bpp, p.psnr) for p in mine]),
                "bd_rate_psnr_y": bd_rate([(p.bpp, p.psnr_y) for p in other], [(p.bpp, p.psnr_y) for p in mine]),
                "bd_rate_ms_ssim": bd_rate([(p.bpp, ms_ssim_db(p.ms_ssim)) for p in other],
                                           [(p.bpp, ms_ssim_db(p.ms_ssim)) for p in mine]),
            })
    return rows


BD_MISSING = ("-: no BD-rate, as one of the two curves has fewer than 4 points or their qualities do not "
              "overlap (more --qualities, or more frames, give more points)")


def bd_note(rows: list[dict]) -> str | None:
    """The footnote a BD-rate table needs when one of its cells is missing (None)."""
    keys = ("bd_rate_psnr", "bd_rate_psnr_y", "bd_rate_ms_ssim")
    return BD_MISSING if any(k in r and r[k] is None for r in rows for k in keys) else None


def bd_rate_pair(ref: list[RDPoint], test: list[RDPoint]) -> tuple[float | None, float | None]:
    """BD-rates (%) of ``test`` against ``ref``, one codec's curves each: on PSNR and on MS-SSIM in dB
    (what the A/B experiments under runs/ report)."""
    return (bd_rate([(p.bpp, p.psnr) for p in ref], [(p.bpp, p.psnr) for p in test]),
            bd_rate([(p.bpp, ms_ssim_db(p.ms_ssim)) for p in ref], [(p.bpp, ms_ssim_db(p.ms_ssim)) for p in test]))


def main_codec(points: list[RDPoint]) -> str:
    """The vidcodec variant the tables are about: ``vidcodec`` (the default encoder) when it was run,
    else the first of vidcodec-ort, vidcodec-int8, vidcodec-bf16 and vidcodec-fast that was."""
    run = {p.codec for p in points}
    return next((c for c in VARIANTS if c in run), "vidcodec")


def all_bd_rates(points: list[RDPoint]) -> list[dict]:
    """The main vidcodec variant's (:func:`main_codec`) BD-rates against every other codec, then
    vidcodec-intra's against the intra ones (:data:`INTRA_CODECS`): the table ``vidcodec eval``
    prints and writes."""
    return bd_rates(points, main_codec(points)) + bd_rates(points, "vidcodec-intra", INTRA_CODECS)


def summarize(points: list[RDPoint]) -> list[dict]:
    """Per clip: each vidcodec level beside x264 medium at the same bpp, and intra vs JPEG and x264's
    intra at 0.1/0.25 bpp."""
    rows = []
    main = main_codec(points)
    for clip in dict.fromkeys(p.clip for p in points):
        by: dict[str, list[RDPoint]] = {}
        for p in points:
            if p.clip == clip:
                by.setdefault(p.codec, []).append(p)
        for p in by.get(main, []):
            row = {"clip": clip, "what": p.setting if main == "vidcodec" else f"{main} {p.setting}", "bpp": p.bpp, "kbps": p.kbps, "psnr": p.psnr, "ms_ssim": p.ms_ssim}
            if "x264-medium" in by:  # the reference beside each level, when it was run
                row["x264-medium psnr"] = interpolate(by["x264-medium"], p.bpp, "psnr")
                row["x264-medium ms_ssim"] = interpolate(by["x264-medium"], p.bpp, "ms_ssim")
            rows.append(row)
        for bpp in (0.1, 0.25):
            if "vidcodec-intra" not in by:
                continue
            rows.append({
                "clip": clip, "what": f"intra @ {bpp} bpp", "bpp": bpp,
                "psnr": interpolate(by["vidcodec-intra"], bpp, "psnr"),
                "ms_ssim": interpolate(by["vidcodec-intra"], bpp, "ms_ssim"),
                "jpeg psnr": interpolate(by.get("jpeg", []), bpp, "psnr"),
                "jpeg ms_ssim": interpolate(by.get("jpeg", []), bpp, "ms_ssim"),
                "jpeg min bpp": min((p.bpp for p in by.get("jpeg", [])), default=None),
                "x264-intra psnr": interpolate(by.get("x264-intra", []), bpp, "psnr"),
                "x264-intra ms_ssim": interpolate(by.get("x264-intra", []), bpp, "ms_ssim"),
            })
    return rows


def seed_table(points: list[RDPoint]) -> list[dict]:
    """The seed paper's table layout: method (or latent channels) → SSIM, PSNR, compression ratio."""
    rows = []
    for clip in dict.fromkeys(p.clip for p in points):
        for p in points:
            if p.clip != clip or p.codec not in ("vidcodec", "vidcodec-intra", "jpeg"):
                continue
            if p.codec == "jpeg" and p.setting != "q=1":
                continue  # the seed compares against JPEG at quality 1
            method = (f"{p.codec} {p.setting} ({p.channels} channels)" if p.channels else f"{p.codec} {p.setting}")
            rows.append({"clip": clip, "method": method, "SSIM": p.ssim, "PSNR": p.psnr, "CR": p.ratio,
                         "bpp": p.bpp})
    return rows


def format_table(rows: list[dict]) -> str:
    """Plain-text table of dict rows (missing values, e.g. outside a measured range, as '-')."""
    if not rows:
        return "(no rows)"
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def cell(v: object) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    table = [cols] + [[cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in table)


BD_COLUMNS = ["clip", "test", "reference", "bd_rate_psnr", "bd_rate_psnr_y", "bd_rate_ms_ssim"]
SUMMARY_COLUMNS = ["clip", "what", "bpp", "kbps", "psnr", "ms_ssim"]


def write_csv(rows: list[dict], path: Path, columns: list[str] | None = None) -> None:
    """``rows`` as CSV; ``columns`` is the header when there are no rows (default: a point's fields)."""
    cols = list(dict.fromkeys(k for r in rows for k in r)) or columns or [f.name for f in fields(RDPoint)]
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    write_file(path, text.getvalue())  # whole or not at all (a full disk)


def plot(points: list[RDPoint], path: Path) -> Path:
    """PNG: per clip, PSNR and MS-SSIM (dB) against bpp for every codec."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    clips = list(dict.fromkeys(p.clip for p in points))
    fig, axes = plt.subplots(len(clips), 2, figsize=(11, 4 * len(clips)), squeeze=False)
    for row, clip in zip(axes, clips):
        for codec in dict.fromkeys(p.codec for p in points):
            pts = sorted((p for p in points if p.clip == clip and p.codec == codec), key=lambda p: p.bpp)
            if not pts:
                continue
            style = "o-" if codec.startswith("vidcodec") else ".--"
            row[0].plot([p.bpp for p in pts], [p.psnr for p in pts], style, label=codec)
            row[1].plot([p.bpp for p in pts], [ms_ssim_db(p.ms_ssim) for p in pts], style, label=codec)
        for ax, ylabel in zip(row, ("PSNR RGB (dB)", "MS-SSIM (dB)")):
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # 3×10⁻³ 4×10⁻³ ... collided
            ax.set_xlabel("bits per pixel (file size)")
            ax.set_ylabel(ylabel)
            ax.set_title(clip)
            ax.grid(True, which="both", alpha=0.3)
        row[0].legend(fontsize=8)
    fig.tight_layout()
    figures.save_png(fig, path, dpi=90)
    plt.close(fig)
    return path


def save_report(points: list[RDPoint], out_dir: Path) -> dict[str, Path]:
    """Write points.csv/json, bdrate.csv, summary.csv and rd.png into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"points_csv": out_dir / "points.csv", "points_json": out_dir / "points.json",
             "bdrate_csv": out_dir / "bdrate.csv", "summary_csv": out_dir / "summary.csv",
             "plot": out_dir / "rd.png"}
    write_csv([p.as_dict() for p in points], paths["points_csv"])
    write_file(paths["points_json"], json.dumps([p.as_dict() for p in points], indent=1) + "\n")
    write_csv(all_bd_rates(points), paths["bdrate_csv"], BD_COLUMNS)
    write_csv(summarize(points), paths["summary_csv"], SUMMARY_COLUMNS)
    plot(points, paths["plot"])
    return paths
