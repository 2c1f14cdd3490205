"""Rate–distortion of vidcodec against x264 and per-frame JPEG on the same frames, in one run.

Every rate is a real file size: the .gvc stream, the x264 .mp4, the sum of the JPEG files.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .. import api, media
from . import metrics

log = logging.getLogger(__name__)

X264_CRFS = (20, 24, 28, 32, 36, 40, 44, 48)
JPEG_QUALITIES = (1, 3, 5, 8, 12, 18, 25, 35, 50, 70, 90)


@dataclass
class RDPoint:
    """One codec setting measured on one clip."""

    clip: str
    codec: str
    setting: str
    frames: int
    bytes: int
    bpp: float
    kbps: float
    psnr: float
    psnr_y: float
    ms_ssim: float

    def as_dict(self) -> dict:
        return asdict(self)


def read_frames(clip: Path, limit: int) -> tuple[list[np.ndarray], Fraction]:
    """The first ``limit`` RGB frames of a clip and its frame rate."""
    with media.open_source(clip) as src:
        rate = src.frame_rate or Fraction(25)
        frames = [f.rgb for _, f in zip(range(limit), src)]
    return frames, rate


def _score(clip: str, codec: str, setting: str, ref: list[np.ndarray], out: list[np.ndarray], size: int,
           rate: Fraction) -> RDPoint:
    n = min(len(ref), len(out))
    if n < len(ref):
        log.warning("%s %s decoded %d of %d frames", codec, setting, n, len(ref))
    h, w = ref[0].shape[:2]
    return RDPoint(
        clip=clip, codec=codec, setting=setting, frames=n, bytes=size,
        bpp=8 * size / (len(ref) * w * h), kbps=8 * size * float(rate) / len(ref) / 1000,
        psnr=float(np.mean([metrics.psnr(a, b) for a, b in zip(ref, out)])),
        psnr_y=float(np.mean([metrics.psnr_y(a, b) for a, b in zip(ref, out)])),
        ms_ssim=float(np.mean([metrics.ms_ssim_rgb(a, b) for a, b in zip(ref, out)])),
    )


def _write_y4m_clip(frames: list[np.ndarray], rate: Fraction, path: Path) -> None:
    with media.open_sink(path, width=frames[0].shape[1], height=frames[0].shape[0], time_base=1 / rate,
                         frame_rate=rate, overwrite=True) as sink:
        for i, f in enumerate(frames):
            sink.write(f, i)


def vidcodec_points(clip: Path, ref: list[np.ndarray], rate: Fraction, gop: int, tmp: Path,
                    qualities: range) -> list[RDPoint]:
    """vidcodec at each quality, from a lossless y4m copy of the reference frames."""
    src = tmp / "ref.y4m"
    if not src.exists():
        _write_y4m_clip(ref, rate, src)
    points = []
    for q in qualities:
        out = tmp / f"q{q}_g{gop}.gvc"
        api.encode(src, out, quality=q, gop=gop, overwrite=True)
        dec = [f.rgb for f in api.frames(out)]
        name = "vidcodec" if gop > 1 else "vidcodec-intra"
        points.append(_score(clip.name, name, f"q={q} gop={gop}", ref, dec, out.stat().st_size, rate))
    return points


def x264_points(clip: Path, ref: list[np.ndarray], rate: Fraction, tmp: Path, preset: str = "medium",
                crfs: tuple[int, ...] = X264_CRFS) -> list[RDPoint]:
    """x264 (yuv420p, given preset) at several CRFs; rate from the .mp4 file size."""
    h, w = ref[0].shape[:2]
    points = []
    for crf in crfs:
        path = tmp / f"x264_{preset}_{crf}.mp4"
        with av.open(str(path), "w") as out:
            s = out.add_stream("libx264", rate=rate)
            s.width, s.height, s.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
            s.options = {"crf": str(crf), "preset": preset}
            for f in ref:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: h - h % 2, : w - w % 2]), "rgb24")
                for p in s.encode(frame):
                    out.mux(p)
            for p in s.encode():
                out.mux(p)
        with av.open(str(path)) as inp:
            dec = [fr.to_ndarray(format="rgb24") for fr in inp.decode(video=0)]
        cropped = [f[: h - h % 2, : w - w % 2] for f in ref]
        points.append(_score(clip.name, f"x264-{preset}", f"crf={crf}", cropped, dec, path.stat().st_size, rate))
    return points


def jpeg_points(clip: Path, ref: list[np.ndarray], rate: Fraction,
                qualities: tuple[int, ...] = JPEG_QUALITIES) -> list[RDPoint]:
    """OpenCV JPEG per frame (4:2:0) at several qualities; rate from the sum of file sizes."""
    points = []
    for q in qualities:
        size, dec = 0, []
        for f in ref:
            _, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
            size += len(buf)
            dec.append(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
        points.append(_score(clip.name, "jpeg", f"q={q}", ref, dec, size, rate))
    return points


def interpolate(points: list[RDPoint], bpp: float, key: str = "psnr") -> float | None:
    """Quality at ``bpp`` by linear interpolation in log-rate; None outside the measured range."""
    pts = sorted(points, key=lambda p: p.bpp)
    xs = np.log([p.bpp for p in pts])
    ys = [getattr(p, key) for p in pts]
    x = np.log(bpp)
    if len(pts) < 2 or x < xs[0] or x > xs[-1]:
        return None
    return float(np.interp(x, xs, ys))


def evaluate_clip(clip: Path, frames: int = 50, gop: int = api.DEFAULT_GOP) -> list[RDPoint]:
    """All codecs on the first ``frames`` frames of one clip."""
    ref, rate = read_frames(clip, frames)
    qualities = api.quality_range()
    with tempfile.TemporaryDirectory(prefix="vidcodec-eval-") as d:
        tmp = Path(d)
        pts = vidcodec_points(clip, ref, rate, gop, tmp, qualities)
        pts += vidcodec_points(clip, ref, rate, 1, tmp, qualities)
        pts += x264_points(clip, ref, rate, tmp)
        pts += jpeg_points(clip, ref, rate)
    return pts


def summarize(points: list[RDPoint]) -> list[dict]:
    """Per clip: each vidcodec level beside x264 (interpolated to the same bpp), and intra vs JPEG."""
    rows = []
    for clip in dict.fromkeys(p.clip for p in points):
        mine = [p for p in points if p.clip == clip]
        by = {c: [p for p in mine if p.codec == c] for c in dict.fromkeys(p.codec for p in mine)}
        for p in by.get("vidcodec", []):
            row = {"clip": clip, "what": p.setting, "bpp": p.bpp, "psnr": p.psnr, "ms_ssim": p.ms_ssim}
            for ref in ("x264-medium",):
                row[f"{ref} psnr"] = interpolate(by.get(ref, []), p.bpp, "psnr")
                row[f"{ref} ms_ssim"] = interpolate(by.get(ref, []), p.bpp, "ms_ssim")
            rows.append(row)
        for bpp in (0.1, 0.25):
            rows.append({
                "clip": clip, "what": f"intra @ {bpp} bpp", "bpp": bpp,
                "psnr": interpolate(by.get("vidcodec-intra", []), bpp, "psnr"),
                "ms_ssim": interpolate(by.get("vidcodec-intra", []), bpp, "ms_ssim"),
                "jpeg psnr": interpolate(by.get("jpeg", []), bpp, "psnr"),
                "jpeg ms_ssim": interpolate(by.get("jpeg", []), bpp, "ms_ssim"),
                "jpeg min bpp": min((p.bpp for p in by.get("jpeg", [])), default=None),
            })
    return rows


def format_table(rows: list[dict]) -> str:
    """A plain-text table of :func:`summarize` rows (missing values, outside a measured range, as '-')."""
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def cell(v: object) -> str:
        if v is None:
            return "-"
        return f"{v:.4f}" if isinstance(v, float) and abs(v) < 1 else f"{v:.2f}" if isinstance(v, float) else str(v)

    table = [cols] + [[cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in table)
