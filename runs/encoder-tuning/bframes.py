"""What bidirectional (B) frames would save: an estimate from the encoder's own pieces, no format.

    python runs/encoder-tuning/bframes.py FRAMES LAMBDA_FACTOR CLIP...

Arm P: the shipped encoder's order (I P P P ...), no colour corrections, no prefilter. Arm B: frames
coded in the order 0 2 1 4 3 ..., each even frame a delta from the even frame before it (two frames
away), each odd frame a non-reference "B" delta whose prediction is, per motion block, the previous
frame's (vectors as usual), the next frame's, or their rounded mean, whichever has the lowest squared
error (what a B frame would carry: both vector sets and log2(3) bits per block, counted). B frames
weigh bits with LAMBDA_FACTOR times the usual lambda (they are never referenced). The file size is
estimated as the sum of payloads (+ the extra vectors and mode bits); quality from the synthesis of
each frame's decoded latent. Prints BD-rate (PSNR / MS-SSIM) of B against P over all levels.
The B frames' candidates: the previous frame unmoved or moved (as a P frame's), and the per-block
mix of both neighbours unmoved or moved. NO_TEMPORAL=1 in the environment codes B frames without
the temporal residual context (it made them 3-8 % larger on vtest: the context is kept).

Measured (2026-12-03, shipped vaegan-g, 24 frames, ``... 24 1.5 samples/bikes.mp4
samples/vtest.mp4``): bikes -4.99 / -1.10 %, vtest +1.23 / -0.92 % (PSNR / MS-SSIM). At the default
level on vtest (12 frames) the B frames cost 230-290 bytes against the P order's 290-340, but the
even frames, now predicted from two frames back, 380-480: the pair costs about what two P frames do.
On bikes B frames save 2-9 % of the bytes from level 2 up but lose 0.1-0.4 dB. Not worth a format
with reordered frames (and a frame more of latency for live streams) for about 1 % on MS-SSIM:
dropped. The estimate is optimistic (no mode coding cost beyond log2(3) bits per block, the second
vector set at its P size).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np

from vidcodec.codec import context, motion, vaegan
from vidcodec.evaluate import rd
from vidcodec.models import zoo

frames, factor, clips = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
m = zoo.load(zoo.DEFAULT_MODEL)
NO_TEMPORAL = os.environ.get("NO_TEMPORAL") == "1"


def picture(symbols: np.ndarray, level: int, w: int, h: int) -> np.ndarray:
    return m.picture((symbols.astype(np.float32) / m.gains[level][:, None, None])[None], w, h)


def arm_p(ys_list, level):
    enc = vaegan.FrameEncoder(m, level, predictor=m.subpel)
    size, recon = 0, []
    for y in ys_list:
        size += len(enc.encode_latent(y).payload)
        recon.append(enc._prev.copy())
    return size, recon


def moved(enc, ys, ref):
    """(prediction, vectors bytes) from ``ref`` with the encoder's search and learned predictor."""
    enc._prev = ref
    v = enc._moved(ys, enc._search(ys))
    return (ref, b"") if v is None else (v[0], motion.encode_vectors(v[1]))


def b_frame(enc, y, ref0, ref1):
    """Size and decoded symbols of a non-reference B delta between ``ref0`` and ``ref1``."""
    ys = enc._scaled(y, enc.level)
    saved = enc._prev, enc._temporal, enc.channel_lambda, enc.rdoq_lambda
    enc.channel_lambda *= factor
    enc.rdoq_lambda *= factor
    if NO_TEMPORAL:
        enc._temporal = np.int32(context.N_CONTEXTS)  # t = 0: no delta before this one
    try:
        p0, v0 = moved(enc, ys, ref0)
        p1, v1 = moved(enc, ys, ref1)
        b = enc.motion_block
        k = enc.channels
        _, h, w = ys.shape
        hb, wb = -(-h // b), -(-w // b)
        mode_bytes = math.ceil(hb * wb * math.log2(3) / 8)

        def mix(a: np.ndarray, z: np.ndarray) -> np.ndarray:
            """Per block the lowest squared error (coded channels) of a, z and their rounded mean."""
            bi = np.floor((a.astype(np.int32) + z + 1) / 2).astype(a.dtype)
            err = []
            for p in (a, z, bi):
                e = ((ys[:k] - p[:k]) ** 2).sum(0)
                e = np.pad(e, ((0, hb * b - h), (0, wb * b - w)))
                err.append(e.reshape(hb, b, wb, b).sum((1, 3)))
            full = np.repeat(np.repeat(np.argmin(np.stack(err), 0), b, 0), b, 1)[:h, :w]
            return np.where(full == 0, a, np.where(full == 1, z, bi))

        cands = [(enc._candidate(ys, ref0, 0, b""), 0),
                 (enc._candidate(ys, mix(ref0, ref1), 0, b""), mode_bytes)]
        if v0:
            cands.append((enc._candidate(ys, p0, b, v0), 0))
        if v0 or v1:
            cands.append((enc._candidate(ys, mix(p0, p1), b, v0 + v1), mode_bytes + len(v1)))
        (_, pred, r, plan, block, vectors), add = min(cands, key=lambda c: c[0][0] + enc._lam()
                                                          * enc.channel_lambda * 8 * c[1])
        pred, d, plan, block, vectors = enc._rdoq_winner(ys, pred, r, plan, block, vectors)
        if add and len(vectors) > len(v0):
            vectors = v0  # the second set is counted in ``add``
        payload = enc._delta_payload(d, plan, block, vectors, pred)
        return len(payload) + add, pred + d, bool(add)
    finally:
        enc._prev, enc._temporal, enc.channel_lambda, enc.rdoq_lambda = saved


def arm_b(ys_list, level):
    enc = vaegan.FrameEncoder(m, level, predictor=m.subpel)
    n = len(ys_list)
    recon = [None] * n
    size = 0
    size += len(enc.encode_latent(ys_list[0]).payload)
    recon[0] = enc._prev.copy()
    bi_used = 0
    for t in range(2, n + 1, 2):
        last = min(t, n - 1)
        if recon[last] is None:
            size += len(enc.encode_latent(ys_list[last]).payload)
            recon[last] = enc._prev.copy()
        for s in range(t - 1, last):  # the frame between (none when the clip ends on it)
            bytes_, rec, used = b_frame(enc, ys_list[s], recon[s - 1], recon[last])
            size += bytes_
            recon[s] = rec
            bi_used += used
    return size, recon, bi_used


for clip in clips:
    ref, rate = rd.read_frames(Path(clip), frames)
    h, w = ref[0].shape[:2]
    ys_list = [m.analyze(vaegan.to_tensor(f, m.downscale))[0] for f in ref]
    curves = {"P": [], "B": []}
    for level in range(m.levels):
        sp, rp = arm_p(ys_list, level)
        sb, rb, used = arm_b(ys_list, level)
        for name, size, rec in (("P", sp, rp), ("B", sb, rb)):
            out = [picture(s, level, w, h) for s in rec]
            curves[name].append(rd.score(Path(clip).name, name, f"q={level + 1}", ref, out, size, rate))
        p, b = curves["P"][-1], curves["B"][-1]
        print(f"  level {level + 1}: P {sp} B {sb} bytes ({100 * (sb / sp - 1):+.1f} %), PSNR {p.psnr:.2f} "
              f"{b.psnr:.2f}, MS-SSIM {p.ms_ssim:.4f} {b.ms_ssim:.4f}, bi chosen {used}", flush=True)
    psnr = rd.bd_rate([(p.bpp, p.psnr) for p in curves["P"]], [(p.bpp, p.psnr) for p in curves["B"]])
    ms = rd.bd_rate([(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in curves["P"]],
                    [(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in curves["B"]])
    print(f"{Path(clip).name} {frames} frames, B lambda x{factor}: B against P {psnr:+.2f} / {ms:+.2f} %",
          flush=True)
