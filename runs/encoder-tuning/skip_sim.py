"""Pixel-domain skip blocks, simulated: a delta's decoded picture takes, block by block, either the
synthesis of its latent (as now) or the previous *output* picture moved by one global sub-pixel
vector (x264's P_SKIP with a global vector). The latent chain and its bytes are the shipped
encoder's, unchanged; the side information is one vector a delta (16 bits) and the block flags
(their order-0 entropy). The pixel chain moves decoded pictures exactly (no analysis transform
in the loop), which is what the latent prediction cannot do below the analysis's 16-pixel stride.

    python runs/encoder-tuning/skip_sim.py FRAMES BLOCK CLIP[:SKIP]...

Per clip, PSNR / MS-SSIM BD-rate of the mixed pictures (bytes + side information) against the
shipped encoder's, every level, gop as shipped.

Measured 2026-12-04 (session 37), eighth-pel vector from phase correlation refined over its 3×3
eighths on the previous output, bicubic: cityCC0 (the unseen 0.25-px-a-frame pan, 24 frames)
block 32 +0.27 / -1.18 %, block 64 -1.55 / -2.14 % (12 frames, block 16: +5.80 / +2.89 %);
bikes block 32 +18.58 / +23.23 %, block 64 +5.05 / +7.50 %. A third of the delta blocks take the
moved picture, but it is barely better than the synthesis there (+0.05-0.3 dB: the previous output
is no better than this frame's synthesis), and the flags cost more than that on low-rate deltas.
Dropped: the pan's gap to x264 (runs/subpel/README.md) is detail x264 accumulates with residuals
on top of its moved picture; a skip on top of the latent chain does not add it. Only an encoder
that stops spending latent bits where the moved picture is kept could gain, i.e. conditional
coding in the pixel domain: a model change, not this.
"""
import sys
from pathlib import Path

import cv2
import numpy as np

from vidcodec.codec.vaegan import FrameEncoder, to_rgb, to_tensor
from vidcodec.evaluate import bdrate, metrics, rd
from vidcodec.models import zoo

frames, block, specs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
m = zoo.load(zoo.DEFAULT_MODEL)


def shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """img moved by (dx, dy) pixels (content at x goes to x + dx), bicubic, edges replicated."""
    a = np.float32([[1, 0, dx], [0, 1, dy]])
    out = cv2.warpAffine(img.astype(np.float32), a, (img.shape[1], img.shape[0]), flags=cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REPLICATE)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)


def best_shift(prev_out: np.ndarray, prev_src: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, float, float]:
    (dx, dy), _ = cv2.phaseCorrelate(gray(prev_src), gray(src))
    cands = {(0.0, 0.0)}
    q = 8  # eighth-pel
    cx, cy = round(dx * q) / q, round(dy * q) / q
    for ox in (-1, 0, 1):
        for oy in (-1, 0, 1):
            cands.add((cx + ox / q, cy + oy / q))
    best = None
    for vx, vy in cands:
        w = shift(prev_out, vx, vy)
        e = float(np.mean((w.astype(np.float32) - src) ** 2))
        if best is None or e < best[0]:
            best = (e, w, vx, vy)
    return best[1], best[2], best[3]


def block_sse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    e = ((a.astype(np.float32) - b.astype(np.float32)) ** 2).sum(axis=2)
    hb, wb = -(-h // block), -(-w // block)
    e = np.pad(e, ((0, hb * block - h), (0, wb * block - w)))
    return e.reshape(hb, block, wb, block).sum(axis=(1, 3))


def entropy_bits(flags: np.ndarray) -> float:
    p = flags.mean()
    if p in (0.0, 1.0):
        return 1.0
    return float(flags.size * -(p * np.log2(p) + (1 - p) * np.log2(1 - p)))


def curve(ref, ys, skip: bool):
    points, used = [], []
    for level in range(m.levels):
        enc = FrameEncoder(m, level, predictor=m.subpel)
        size, psnr, msssim = 0.0, [], []
        prev = None
        for t, (frame, y) in enumerate(zip(ref, ys)):
            ef = enc.encode_latent(y)
            size += len(ef.payload)
            lat = (enc._prev.astype(np.float32) / m.gains[enc.level][:, None, None])[None]
            out = to_rgb(m.synthesize(lat), frame.shape[1], frame.shape[0])
            if skip and ef.kind != "key" and prev is not None:
                w, _, _ = best_shift(prev, ref[t - 1], frame)
                take = block_sse(w, frame) < block_sse(out, frame)
                mask = np.kron(take, np.ones((block, block), bool))[:frame.shape[0], :frame.shape[1]]
                out = np.where(mask[..., None], w, out)
                size += (16 + entropy_bits(take)) / 8
                used.append(take.mean())
            prev = out
            psnr.append(metrics.psnr(frame, out))
            msssim.append(metrics.ms_ssim_rgb(frame, out))
        bpp = 8 * size / (len(ref) * ref[0].shape[0] * ref[0].shape[1])
        points.append((bpp, float(np.mean(psnr)), float(np.mean(msssim))))
    return points, (float(np.mean(used)) if used else 0.0)


for spec in specs:
    clip, _, skip_frames = spec.partition(":")
    ref, _ = rd.read_frames(Path(clip), frames, int(skip_frames or 0))
    ys = [m.analyze(to_tensor(f, m.downscale))[0] for f in ref]
    base, _ = curve(ref, ys, False)
    test, used = curve(ref, ys, True)
    p = bdrate.bd_rate([(b, q) for b, q, _ in base], [(b, q) for b, q, _ in test])
    s = bdrate.bd_rate([(b, bdrate.ms_ssim_db(q)) for b, _, q in base], [(b, bdrate.ms_ssim_db(q)) for b, _, q in test])
    print(f"{Path(clip).name}:{skip_frames or 0} {frames} frames, block {block}: PSNR / MS-SSIM BD-rate {p:+.2f} / "
          f"{s:+.2f} %, skip blocks {100 * used:.1f} % of delta blocks", flush=True)
    for (b0, p0, s0), (b1, p1, s1) in zip(base, test):
        print(f"   {b0:.4f} bpp {p0:.2f} dB {s0:.4f} -> {b1:.4f} bpp {p1:.2f} dB {s1:.4f}", flush=True)
