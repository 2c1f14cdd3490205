"""Oracle estimate: what would bidirectional (B) deltas save in vidcodec's latent-domain coder?

Not a format: it reuses the format-13 FrameEncoder's pieces (motion search, learned sub-pixel
prediction, residual plan, RDOQ, payload writer) on two frame structures of the same clip and level:

* P: the shipped encoder, every frame a delta from the one before (frame 0 a key);
* B: even frames a P chain on their own (each predicted from two frames back), each odd frame t coded
  from the decoded frames t-1 and t+1: forward, backward, or their average (floor((f+b)/2)), the
  cheapest of the three by the encoder's own cost (squared error + lambda * bits), and, as a fourth
  candidate, a per-block choice among them by squared error (charged 2 bits a block). Odd frames
  are never references. Their lambda can be scaled (--b-lambda) as B frames are coded coarser in
  x264 (pbratio).

Rate = payload bytes (no container), distortion = PSNR / MS-SSIM of the synthesized frames.
Prints per level and the BD-rate of B against P.

    python runs/bframes/oracle.py samples/bikes.mp4 --frames 41
"""
from __future__ import annotations

import argparse
import copy

import numpy as np

from vidcodec.codec import motion
from vidcodec.codec.vaegan import FrameEncoder, to_tensor
from vidcodec.evaluate import metrics, rd
from vidcodec.evaluate.bdrate import bd_rate, ms_ssim_db
from vidcodec.models import zoo


def picture(m, sym, level, w, h):
    return m.picture((sym.astype(np.float32) / m.gains[level][:, None, None])[None], w, h)


def moved(enc, ys, prev):
    """Prediction of ys from prev (integer symbols) with the encoder's search: (pred, vectors bytes)."""
    e = copy.copy(enc)
    e._prev = prev
    q = e._search(ys)
    mv = e._moved(ys, q)
    if mv is None:
        return prev, b""
    return mv[0], motion.encode_vectors(mv[1])


def code_with(enc, ys, pred, vectors, lam_scale):
    e = copy.copy(enc)
    e.channel_lambda = enc.channel_lambda * lam_scale
    e.rdoq_lambda = enc.rdoq_lambda * lam_scale
    cand = e._candidate(ys, pred, enc.motion_block if vectors else 0, vectors)
    pred, d, plan, block, vectors = e._rdoq_winner(ys, *cand[1:])
    payload = e._delta_payload(d, plan, block, vectors, pred)
    return cand[0], len(payload), pred + d


def run(clip, frames, levels, b_lambda, avg="floor"):
    m = zoo.load("vaegan-g")
    ref, _ = rd.read_frames(clip, frames)
    h, w = ref[0].shape[:2]
    ys_all = [m.analyze(to_tensor(f))[0] for f in ref]
    out = {"P": [], "B": []}
    for level in levels:
        # P: the shipped encoder
        enc = FrameEncoder(m, level, predictor=m.subpel)
        nbytes, pics = 0, []
        for y in ys_all:
            nbytes += len(enc.encode_latent(y).payload)
            pics.append(picture(m, enc._prev, level, w, h))
        out["P"].append((nbytes, pics))
        # B: even frames as a P chain, odd frames bidirectional
        enc = FrameEncoder(m, level, predictor=m.subpel)
        dec, states, nbytes = {}, {}, 0
        for t in range(0, len(ys_all), 2):
            nbytes += len(enc.encode_latent(ys_all[t]).payload)
            dec[t] = enc._prev.copy()
            states[t] = copy.copy(enc)  # the state after frame t: odd frame t+1 is coded from it
        pics = [None] * len(ys_all)
        for t, sym in dec.items():
            pics[t] = picture(m, sym, level, w, h)
        modes = {"f": 0, "b": 0, "bi": 0, "blk": 0}
        for t in range(1, len(ys_all), 2):
            e = states[t - 1]
            ys = e._scaled(ys_all[t], level)
            if t + 1 not in dec:  # last frame: forward only
                pf, vf = moved(e, ys, dec[t - 1])
                _, n, sym = code_with(e, ys, pf, vf, b_lambda)
                nbytes += n
                pics[t] = picture(m, sym, level, w, h)
                continue
            pf, vf = moved(e, ys, dec[t - 1])
            pb, vb = moved(e, ys, dec[t + 1])
            tot = pf.astype(np.int64) + pb
            pbi = tot // 2 if avg == "floor" else np.sign(tot) * (np.abs(tot) // 2)  # trunc: toward zero
            cands = {"f": (pf, vf), "b": (pb, vb), "bi": (pbi.astype(pf.dtype), vf + vb)}
            # per-block choice by squared error of the coded channels
            k, B = e.channels, e.motion_block
            err = np.stack([((ys[:k] - p[:k]) ** 2) for p, _ in cands.values()])  # (3,k,h,w)
            lh, lw = ys.shape[1:]
            blk = np.empty_like(pf)
            n_blocks = 0
            for by in range(0, lh, B):
                for bx in range(0, lw, B):
                    s = err[:, :, by:by + B, bx:bx + B].sum(axis=(1, 2, 3))
                    p = list(cands.values())[int(np.argmin(s))][0]
                    blk[:, by:by + B, bx:bx + B] = p[:, by:by + B, bx:bx + B]
                    n_blocks += 1
            cands["blk"] = (blk, vf + vb + bytes((2 * n_blocks + 7) // 8))
            best = None
            for name, (p, v) in cands.items():
                cost, n, sym = code_with(e, ys, p, v, b_lambda)
                if best is None or cost < best[0]:
                    best = (cost, n, sym, name)
            nbytes += best[1] + 1  # one byte for the mode
            modes[best[3]] += 1
            pics[t] = picture(m, best[2], level, w, h)
        out["B"].append((nbytes, pics))
        print(f"level {level + 1}: modes {modes}", flush=True)
    rows = {}
    for scheme, items in out.items():
        rows[scheme] = []
        for nbytes, pics in items:
            bpp = 8 * nbytes / (len(ref) * w * h)
            psnr = float(np.mean([metrics.psnr(a, b) for a, b in zip(ref, pics)]))
            ms = float(np.mean([metrics.ms_ssim_rgb(a, b) for a, b in zip(ref, pics)]))
            rows[scheme].append((bpp, psnr, ms))
    for (p, b), level in zip(zip(rows["P"], rows["B"]), levels):
        print(f"level {level + 1}: P {p[0]:.4f} bpp {p[1]:.2f} dB {p[2]:.4f} | B {b[0]:.4f} bpp {b[1]:.2f} dB {b[2]:.4f}")
    bdp = bd_rate([(r[0], r[1]) for r in rows["P"]], [(r[0], r[1]) for r in rows["B"]])
    bdm = bd_rate([(r[0], ms_ssim_db(r[2])) for r in rows["P"]], [(r[0], ms_ssim_db(r[2])) for r in rows["B"]])
    print(f"{clip}: B against P, BD-rate PSNR {bdp:+.2f} %, MS-SSIM {bdm:+.2f} %")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("--frames", type=int, default=41)
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 3, 5, 7])
    ap.add_argument("--b-lambda", type=float, default=1.0)
    ap.add_argument("--avg", choices=["floor", "trunc"], default="floor",
                    help="how the bidirectional average of two integer predictions rounds")
    a = ap.parse_args()
    run(a.clip, a.frames, [lv - 1 for lv in a.levels], a.b_lambda, a.avg)
