"""Hybrid enhancement-layer measurement: vidcodec base + x264-coded pixel residual vs x264 alone.

usage: hybrid.py CLIP OUT.json [--frames 50] [--qualities 1 3 5 7] [--crfs ...] [--x264-crfs ...] [--work DIR]

Everything is measured as `vidcodec eval` measures it: source = rd.read_frames (RGB, first N frames);
x264 alone = rd.reference_points(x264-medium, gop 250, raw .h264 bytes without SEI);
vidcodec = api.encode(preset medium, gop 250, eval's backend) from the same lossless y4m;
metrics = rd.score's definitions (RGB PSNR, BT.601 luma PSNR-Y, RGB MS-SSIM, mean over frames; SSIM skipped, MS-SSIM batched).
Hybrid: source and base both go to yuv420p with media.rgb_to_yuv (limited range, the matrix for the
height: what x264-alone gets), residual r = clip(src - base + 128) per plane, coded with x264 medium
(same options as the reference, gop 250), decoded to planes, recon = clip(base + r' - 128), converted
back to RGB as every decoded file is read (media's swscale flags), scored against the source RGB.
Total rate = .gvc bytes + residual .h264 bytes.
"""
from __future__ import annotations

import argparse
import io
import json
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from av.video.reformatter import ColorRange, VideoReformatter
from pytorch_msssim import ms_ssim

from vidcodec import api, media
from vidcodec.evaluate import metrics, rd
from vidcodec.media import _SWS_FLAGS, _SWS_MATRIX

REF = VideoReformatter()


def to_planes(rgb: np.ndarray, matrix: int, crange: int) -> np.ndarray:
    """RGB -> yuv420p as an (H*3/2, W) uint8 array (media.rgb_to_yuv, the x264-alone conversion)."""
    return media.rgb_to_yuv(REF, rd.even_pad(rgb), "yuv420p", matrix, crange).to_ndarray()


def to_rgb(planes: np.ndarray, matrix: int, crange: int, like: np.ndarray) -> np.ndarray:
    """yuv420p planes -> RGB as VideoSource reads a file tagged (matrix, range)."""
    f = av.VideoFrame.from_ndarray(np.ascontiguousarray(planes), format="yuv420p")
    h, w = like.shape[:2]
    rgb = REF.reformat(f, format="rgb24", dst_color_range=ColorRange.JPEG, src_color_range=ColorRange(crange),
                       src_colorspace=_SWS_MATRIX[matrix], interpolation=_SWS_FLAGS).to_ndarray()
    return np.ascontiguousarray(rgb[:h, :w])


def x264_planes(planes: list[np.ndarray], rate: Fraction, crf: int, path: Path, extra: dict | None = None) -> list[np.ndarray]:
    """Code yuv420p plane arrays with x264 medium (the reference's options), write the elementary stream
    (SEI dropped, as eval) to path, return the decoded planes."""
    H, W = planes[0].shape
    h = H * 2 // 3
    buf = io.BytesIO()
    with av.open(buf, "w", format="h264") as out:
        s = out.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = W, h, "yuv420p"
        s.thread_type = "AUTO"
        opts = {"g": "250", "preset": "medium", "crf": str(crf), **(extra or {})}
        s.options = media.steady_x264("libx264", opts)
        for p in planes:
            for pk in s.encode(av.VideoFrame.from_ndarray(p, format="yuv420p")):
                out.mux(pk)
        for pk in s.encode():
            out.mux(pk)
    path.write_bytes(rd.without_nal_units(buf.getvalue(), (6,)))
    with av.open(str(path)) as c:
        dec = [fr.to_ndarray(format="yuv420p") for fr in c.decode(video=0)]
    assert len(dec) == len(planes), (len(dec), len(planes))
    return dec


class P:  # an RD point, the fields rd.score gives (less SSIM), same definitions
    def __init__(self, codec, setting, ref, out, size, rate, msssim=True):
        assert len(out) == len(ref) and out[0].shape == ref[0].shape
        h, w = ref[0].shape[:2]
        self.codec, self.setting, self.frames, self.bytes = codec, setting, len(out), size
        self.bpp = 8 * size / (len(ref) * w * h)
        self.kbps = 8 * size * float(rate) / len(ref) / 1000
        self.psnr = float(np.mean([metrics.psnr(a, b) for a, b in zip(ref, out)]))
        self.psnr_y = float(np.mean([metrics.psnr_y(a, b) for a, b in zip(ref, out)]))
        self.ms_ssim = msssim_mean(ref, out) if msssim else float("nan")


def msssim_mean(ref, out, chunk=10) -> float:
    """Mean over frames of pytorch-msssim's RGB MS-SSIM (= metrics.ms_ssim_rgb per frame), batched."""
    T = lambda L: torch.from_numpy(np.ascontiguousarray(np.stack(L).transpose(0, 3, 1, 2))).float()
    vals = []
    with torch.no_grad():
        for i in range(0, len(ref), chunk):
            vals.append(ms_ssim(T(ref[i:i + chunk]), T(out[i:i + chunk]), data_range=255.0, size_average=False))
    return float(torch.cat(vals).mean())


def pt(p, **kw) -> dict:
    d = {k: getattr(p, k) for k in ("codec", "setting", "frames", "bytes", "bpp", "kbps", "psnr", "psnr_y", "ms_ssim")}
    d.update(kw)
    return d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("out")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--qualities", type=int, nargs="+", default=[1, 3, 5, 7])
    ap.add_argument("--crfs", type=int, nargs="+", default=[18, 24, 30, 36, 42])
    ap.add_argument("--x264-crfs", type=int, nargs="+", default=[17, 20, 23, 26, 30, 34, 38, 42, 46])
    ap.add_argument("--work", default="/tmp/hybrid/work")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tune", default=None, help="x264 --tune for both x264 alone and the residual (e.g. psnr)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    clip = Path(a.clip)
    tmp = Path(a.work) / clip.stem
    tmp.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    ref, rate = rd.read_frames(clip, a.frames)
    h, w = ref[0].shape[:2]
    matrix, crange = media.resolve_color(media.MATRIX_UNSPECIFIED, media.RANGE_LIMITED, rd.even_pad(ref[0]).shape[0])
    res: dict = {"tune": a.tune, "clip": clip.name, "frames": len(ref), "size": [w, h], "rate": str(rate), "x264": [], "base": [], "hybrid": []}
    print(f"{clip.name}: {len(ref)} frames {w}x{h} @ {rate}", flush=True)

    # x264 alone, exactly eval's reference
    for crf in a.x264_crfs:  # as rd.reference_points (encode_reference: gop 250, medium, raw .h264 less SEI)
        sfx = f"_tune-{a.tune}" if a.tune else ""
        path = tmp / f"x264-medium_{crf}{sfx}.h264"
        if not path.exists():
            rd.encode_reference(ref, rate, "libx264", {"g": "250", "preset": "medium", "crf": str(crf), **({"tune": a.tune} if a.tune else {})}, path)
        p = P("x264-medium", f"crf={crf}", ref, rd.decode_rgb_cropped(path, ref[0]), path.stat().st_size, rate)
        res["x264"].append(pt(p))
        print("x264", p.setting, p.bytes, f"{p.psnr:.2f} {p.psnr_y:.2f} {p.ms_ssim:.5f}", flush=True)

    # sanity: the yuv round trip of the source itself (the ceiling of any 4:2:0 coder)
    src_planes = [to_planes(f, matrix, crange) for f in ref]
    rt = P("src-yuv420-roundtrip", "", ref, [to_rgb(p, matrix, crange, f) for p, f in zip(src_planes, ref)], 1, rate)
    res["src_roundtrip"] = pt(rt)
    print("src yuv420 round trip", f"{rt.psnr:.2f} {rt.psnr_y:.2f} {rt.ms_ssim:.5f}", flush=True)

    src_y4m = tmp / "ref.y4m"
    if not src_y4m.exists():
        rd.write_y4m_clip(ref, rate, src_y4m)
    backend = rd.long_clip_backend("vaegan-i") if hasattr(rd, "long_clip_backend") else "auto"
    for q in a.qualities:
        gvc = tmp / f"q{q}.gvc"
        if not gvc.exists():
            te = time.time()
            api.encode(src_y4m, gvc, quality=q, gop=250, overwrite=True, preset="medium", backend=backend)
            print(f"  encoded q{q} in {time.time() - te:.0f}s", flush=True)
        base = [f.rgb for f in api.frames(gvc)]
        assert len(base) == len(ref) and base[0].shape == ref[0].shape, (len(base), base[0].shape, ref[0].shape)
        gbytes = gvc.stat().st_size
        bp = P("vidcodec", f"q={q}", ref, base, gbytes, rate)
        # base after the yuv420 round trip (what the hybrid adds its residual to)
        base_planes = [to_planes(f, matrix, crange) for f in base]
        # residual and its clipping
        diffs = [p.astype(np.int16) - b.astype(np.int16) for p, b in zip(src_planes, base_planes)]
        clipped = float(np.mean([np.mean((d < -128) | (d > 127)) for d in diffs]))
        resid = [np.clip(d + 128, 0, 255).astype(np.uint8) for d in diffs]
        lossless = [np.clip(b.astype(np.int16) + r - 128, 0, 255).astype(np.uint8) for b, r in zip(base_planes, resid)]
        lp = P("hybrid-lossless-residual", f"q={q}", ref, [to_rgb(p, matrix, crange, f) for p, f in zip(lossless, ref)], 1, rate, msssim=False)
        plane_err = float(np.mean([np.mean(np.abs(l.astype(int) - s)) for l, s in zip(lossless, src_planes)]))
        res["base"].append(pt(bp, q=q, clipped_frac=clipped, lossless_residual=pt(lp), lossless_plane_mae=plane_err))
        print(f"base q{q}: {gbytes} B  {bp.psnr:.2f} {bp.psnr_y:.2f} {bp.ms_ssim:.5f} | clipped {clipped*100:.4f}% "
              f"lossless-residual recon {lp.psnr:.2f} dB (src round trip {rt.psnr:.2f})", flush=True)
        for crf in a.crfs:
            path = tmp / f"res_q{q}_crf{crf}{sfx}.h264"
            dec = x264_planes(resid, rate, crf, path, {"tune": a.tune} if a.tune else None)
            rb = path.stat().st_size
            rec = [np.clip(b.astype(np.int16) + r.astype(np.int16) - 128, 0, 255).astype(np.uint8) for b, r in zip(base_planes, dec)]
            hp = P("hybrid", f"q={q} crf={crf}", ref, [to_rgb(p, matrix, crange, f) for p, f in zip(rec, ref)], gbytes + rb, rate)
            res["hybrid"].append(pt(hp, q=q, crf=crf, base_bytes=gbytes, res_bytes=rb))
            print(f"  hybrid q{q} crf{crf}: {gbytes}+{rb}={gbytes + rb} B  {hp.psnr:.2f} {hp.psnr_y:.2f} {hp.ms_ssim:.5f}", flush=True)
        Path(a.out).write_text(json.dumps(res, indent=1))
    res["seconds"] = time.time() - t0
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(f"done in {res['seconds']:.0f}s", flush=True)


if __name__ == "__main__":
    main()
