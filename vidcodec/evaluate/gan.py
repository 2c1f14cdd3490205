"""Measurements of the GAN mode (``vidcodec eval --mode gan``).

* :func:`seed_table_points`: the seed's Table 1 layout for a generator on a clip: the codec with
  16-bit latents (as good as float) and lossy 8, 6 and 4 bits (keyframes and deltas alike), the
  encoder's default bits in feature space and in latent space, and JPEG at quality 1 — SSIM, PSNR and compression ratio from real file sizes, at the clip's size,
  with the encode time per frame.
* :func:`warm_start_study`: how many search iterations a frame needs to reach the PSNR of a cold
  search (from the fixed start latent, run to ``cap`` iterations), starting cold, from the encoder's
  guess, and warm from the previous frame's latent (target: warm ≤ 1/5 of cold).
"""

from __future__ import annotations

import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from .. import api
from ..codec import (
    DEFAULT_GAN_COEFFS,
    DEFAULT_GAN_GOP,
    DEFAULT_GAN_LAYER,
    DEFAULT_GAN_MODEL,
    DEFAULT_KEY_BITS,
    DEFAULT_LATENT_BITS,
    DEFAULT_SEARCH_ITERS,
    gan,
    gan_latent_bits,
)
from ..codec.gansearch import cold_start, frame_distortion
from ..errors import UsageError
from ..models import zoo
from ..train import losses
from .rd import RDPoint, jpeg_points, score, write_y4m_clip

BITS = (8, 6, 4)


def seed_table_points(clip: Path, ref: list[np.ndarray], rate: Fraction, *, model: str = DEFAULT_GAN_MODEL,
                      gop: int = DEFAULT_GAN_GOP, search_iters: int = DEFAULT_SEARCH_ITERS,
                      bits: tuple[int, ...] = BITS, gan_layer: int | str = DEFAULT_GAN_LAYER,
                      coeffs: int = DEFAULT_GAN_COEFFS) -> list[tuple[RDPoint, float]]:
    """(point, encode seconds per frame) for 16-bit latents, each of ``bits`` (keyframes and deltas
    alike), the encoder's default bits, the same in latent space (``z``) when ``gan_layer`` is a
    feature map, and JPEG q1."""
    out = []
    layer = api.parse_gan_layer(gan_layer)
    gan.GanFrameEncoder(zoo.load(model), search_iters=2, layer=layer).encode(ref[0])  # warm-up: not timed
    space = "" if layer is None else f" {layer}x{layer} features"
    runs = [(f"GAN{space} (16-bit, ~float)" if b == 16 else f"GAN{space} lossy {b} bits", layer, b, b)
            for b in (16, *bits)]
    runs.append((f"GAN{space} default ({DEFAULT_KEY_BITS}/{gan_latent_bits(layer)} bits)", layer, DEFAULT_KEY_BITS,
                 gan_latent_bits(layer)))
    if layer is not None:
        runs.append((f"GAN latent z default ({DEFAULT_KEY_BITS}/{DEFAULT_LATENT_BITS} bits)", None, DEFAULT_KEY_BITS,
                     DEFAULT_LATENT_BITS))
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "ref.y4m"
        write_y4m_clip(ref, rate, src)
        for i, (name, lay, kb, db) in enumerate(runs):
            path = Path(d) / f"gan{i}.gvc"
            t0 = time.perf_counter()
            api.encode(src, path, mode="gan", model=model, gop=gop, latent_bits=db, key_bits=kb,
                       search_iters=search_iters, overwrite=True, gan_layer=lay,
                       coeffs=coeffs if lay is not None else DEFAULT_GAN_COEFFS)  # (z has no corrections)
            spf = (time.perf_counter() - t0) / len(ref)
            dec = [f.rgb for f in api.frames(path)]
            out.append((score(clip.name, "vidcodec-gan", name, ref, dec, path.stat().st_size, rate), spf))
    out += [(p, 0.0) for p in jpeg_points(clip, ref, rate, qualities=(1,))]
    return out


def seed_table(rows: list[tuple[RDPoint, float]]) -> list[dict]:
    return [{"clip": p.clip, "method": p.setting if p.codec != "jpeg" else "JPEG q=1", "SSIM": p.ssim,
             "PSNR": p.psnr, "CR": p.ratio, "bytes/frame": p.bytes / max(1, p.frames),
             "s/frame": spf or None} for p, spf in rows]


def _trajectory(m, target: torch.Tensor, z0: torch.Tensor, iters: int, lr: float) -> tuple[np.ndarray, torch.Tensor]:
    """PSNR (iters+1, B) of every sample at every iteration of an Adam search, and the final latents."""
    z = z0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    psnr = np.zeros((iters + 1, target.shape[0]))
    for it in range(iters + 1):
        out = m.generate(z)
        psnr[it] = losses.psnr(target, out.detach()).cpu().numpy()
        if it == iters:
            break
        opt.zero_grad(set_to_none=True)
        frame_distortion(out, target).sum().backward()
        opt.step()
    return psnr, z.detach()


def _first_reach(psnr: np.ndarray, target: np.ndarray, tol: float) -> np.ndarray:
    """Per sample, the first iteration whose PSNR is within ``tol`` dB of ``target`` (len(psnr) if never)."""
    ok = psnr >= target[None, :] - tol
    return np.where(ok.any(axis=0), ok.argmax(axis=0), len(psnr))


def warm_start_study(clip: Path, ref: list[np.ndarray], *, model: str = DEFAULT_GAN_MODEL, cap: int = 300,
                     tol: float = 0.1, lr: float = 0.01) -> dict:
    """Iterations to reach the cold search's final PSNR (within ``tol`` dB) from three starts."""
    if len(ref) < 2:
        raise UsageError("the warm-start study needs at least two frames")
    m = zoo.load(model)
    for p in m.generator.parameters():
        p.requires_grad_(False)
    target = torch.cat([m.squash(f) for f in ref])
    with m.lock:
        t0 = time.perf_counter()
        cold, z_cold = _trajectory(m, target, cold_start(m.latent).expand(len(ref), -1).to(m.device), cap, lr)
        per_iter = (time.perf_counter() - t0) / (cap + 1) / len(ref)
        goal = cold[-1]
        guess = m.guess(target)
        enc = _trajectory(m, target, guess.to(m.device), cap, lr)[0] if guess is not None else None
        warm, _ = _trajectory(m, target[1:], z_cold[:-1], cap, lr)  # frame t from frame t−1's latent
    n_cold = _first_reach(cold[:, 1:], goal[1:], tol)
    n_warm = _first_reach(warm, goal[1:], tol)
    out = {"clip": clip.name, "frames": len(ref) - 1, "cap": cap, "tol_db": tol, "resolution": m.resolution,
           "cold_final_psnr": float(np.mean(goal[1:])),
           "cold_iters_median": float(np.median(n_cold)), "cold_iters_mean": float(np.mean(n_cold)),
           "warm_iters_median": float(np.median(n_warm)), "warm_iters_mean": float(np.mean(n_warm)),
           "warm_start_psnr": float(np.mean(warm[0])), "cold_start_psnr": float(np.mean(cold[0, 1:])),
           "warm_never": int(np.sum(n_warm > cap)), "ms_per_iter_per_frame": 1000 * per_iter}
    if enc is not None:
        n_enc = _first_reach(enc[:, 1:], goal[1:], tol)
        out.update(encoder_iters_median=float(np.median(n_enc)), encoder_start_psnr=float(np.mean(enc[0, 1:])))
    out["warm_over_cold"] = out["warm_iters_median"] / max(1.0, out["cold_iters_median"])
    return out
