"""Fine-tune a VAE-GAN so that a frame moved by a fraction of a latent pixel has a predictable latent.

    python runs/equivariance/finetune.py CKPT OUT_DIR [--minutes M] [--weight W] [--batch B] [--lr LR]

A delta is predicted from the previous latent moved block by block (format 10.0's learned sub-pixel
predictor between whole latent pixels). The model was trained on single pictures only, so nothing
asked the analysis for latents that move with the picture: a shift of a few pixels can change a
latent far more than interpolating it predicts, and the delta pays for the difference. This adds to
the model's own training loss (rate + λ·(distortion + adversarial term), levels one per sample, nested
dropout, the (image, latent) discriminator trained alternately) a *temporal rate* term: each training
crop (144² of the corpus's photos and training-clip frames) gives x = its top-left 128² and x' = the
128² window moved by (sx, sy) pixels (0, 4, 8 or 12 each: quarter latent pixels; with sensor-like
noise half the time); the latent of x' is predicted from the crop's latent as the codec predicts a
delta, with the learned sub-pixel table (``--phases``, vaegan-g's: a fixed linear map per quarter
phase, refitted for the new model afterwards), and the residual r (symbol units at the sample's level, its coded channels, latent pixels away from the
crop's edges) costs ``2·log2(1 + |r|)`` bits; ``--weight`` times these bits per pixel join the loss.
The gains are held out of that term (it could otherwise buy smaller residuals with coarser steps).
OUT_DIR gets ``last.safetensors`` (+ .json, as vidcodec.train.checkpoint writes, so
``python -m vidcodec.train.package`` takes it) every 250 steps and ``log.csv``.
"""
import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from vidcodec.models.discriminator import PairDiscriminator
from vidcodec.models.layers import stacked_likelihood
from vidcodec.models.vaegan import VAEGAN, VAEGANConfig
from vidcodec.train import checkpoint
from vidcodec.train.data import CropSampler, load_pool
from vidcodec.train.losses import bits_per_pixel, d_loss, distortion, g_loss, psnr
from vidcodec.train.saliency import weight_map

HELD_OUT = {"bikes.mp4", "vtest.avi", "diver.mov"}
SIZE, SHIFT = 128, 16


def load_phases(path: Path) -> torch.Tensor:
    """The learned sub-pixel predictor's float table (4, 4, C, 4C) (vidcodec.codec.subpel's format)."""
    from safetensors.torch import load_file

    return load_file(str(path))["phases"].float()


def temporal_bits(phases, yb, y2, gain, sx, sy, keep):
    """Bits per pixel (B,) of x′'s latent against the learned sub-pixel prediction from the crop's
    latent moved by (sx, sy) pixels (multiples of 4: quarter latent pixels), in symbol units."""
    qx, qy = sx // 4, sy // 4
    h, w = y2.shape[2:]
    mask = (torch.arange(yb.shape[1])[None, :] < keep[:, None]).to(yb.dtype)[:, :, None, None]
    yb = yb * mask  # the channels a level does not code are zero in the decoder's latent
    if qx == 0 and qy == 0:
        pred = yb[:, :, :h, :w]
    else:
        taps = torch.cat([yb[:, :, b:b + h, a:a + w] for b in (0, 1) for a in (0, 1)], dim=1)
        pred = torch.einsum("ij,bjhw->bihw", phases[qy, qx], taps)
    r = ((y2 - pred) * gain)[:, :, 1:-1, 1:-1]
    bits = (2 * torch.log2(1 + r.abs()) * mask).sum(dim=(1, 2, 3))
    return bits / ((h - 2) * (w - 2) * 256)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("ckpt", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--minutes", type=float, default=50)
    p.add_argument("--weight", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--phases", type=Path, default=Path("vidcodec/weights/vaegan-g.subpel.safetensors"))
    p.add_argument("--data", nargs="+", default=["data/photos", "data/videos"])
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    meta = json.loads(a.ckpt.with_suffix(".json").read_text())
    model = VAEGAN(VAEGANConfig.from_dict(meta["config"]))
    checkpoint.load(a.ckpt, model)
    disc = PairDiscriminator(model.config.latent_channels, 32)
    disc_path = a.ckpt.parent / "disc.safetensors"
    if disc_path.exists():
        checkpoint.load(disc_path, disc)
    lambdas = torch.tensor(meta["lambdas"])
    phases = load_phases(a.phases)
    fast = [q for n, q in model.named_parameters() if n.startswith(("densities.", "log_gain"))]
    slow = [q for n, q in model.named_parameters() if not n.startswith(("densities.", "log_gain"))]
    opt = torch.optim.Adam([{"params": slow, "lr": a.lr}, {"params": fast, "lr": a.lr * 10}])
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-4, betas=(0.5, 0.999))
    photos, frames, _ = load_pool([Path(d) for d in a.data], HELD_OUT, 120)
    sampler = CropSampler(photos, frames, SIZE + SHIFT, seed=4242)
    a.out.mkdir(parents=True, exist_ok=True)
    log = (a.out / "log.csv").open("a")
    log.write("step,seconds,loss,bpp,dist,psnr,temporal_bpp,adv,disc\n")
    levels = torch.arange(a.batch) % len(lambdas)
    lam = lambdas[levels]
    full = model.level_channels(levels)
    gen = torch.Generator().manual_seed(1)
    t0, step, acc = time.time(), int(meta.get("step", 0)), []
    start = step
    while time.time() - t0 < a.minutes * 60:
        xb = torch.from_numpy(sampler.batch(a.batch))
        sx, sy = (4 * int(v) for v in torch.randint(0, 4, (2,), generator=gen))
        x2 = xb[:, :, sy:sy + SIZE, sx:sx + SIZE]
        if torch.rand((), generator=gen) < 0.5:
            sigma = float(torch.rand((), generator=gen)) * 3 / 255
            x2 = (x2 + sigma * torch.randn(x2.shape, generator=gen)).clamp(0, 1)
        trunc = torch.rand(a.batch, generator=gen) < 0.25
        keep = torch.where(trunc, (torch.rand(a.batch, generator=gen) * full.float()).long() + 1, full)
        gain = model.gain(levels)
        yraw = model.analysis(xb)
        y = yraw * gain
        mask = (torch.arange(y.shape[1])[None, :] < keep[:, None]).to(y.dtype)[:, :, None, None]
        noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        lik = stacked_likelihood(model.densities, noisy, levels)
        lik = torch.where(mask > 0, lik, torch.ones_like(lik))
        rounded = (y + (torch.round(y) - y).detach()) * mask
        x_hat = model.synthesis(rounded / gain)
        bpp = bits_per_pixel(lik, xb.shape[2] * xb.shape[3])
        d = distortion(xb, x_hat, "ssim+l1", 0.4, weight_map(xb, 0.3))
        latent = (rounded / gain).detach()
        disc.requires_grad_(False)
        adv = g_loss(disc(x_hat, latent))
        disc.requires_grad_(True)
        g = gain.detach()
        tb = temporal_bits(phases, yraw, model.analysis(x2), g, sx, sy, keep)
        loss = (bpp + lam * (d + 0.01 * adv)).mean() + a.weight * tb.mean()
        opt.zero_grad(set_to_none=True)
        if not math.isfinite(loss.item()):
            continue
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if not torch.isfinite(gn):
            opt.zero_grad(set_to_none=True)
            continue
        opt.step()
        real, fake = disc(torch.cat([xb, x_hat.detach()]), torch.cat([latent, latent])).chunk(2)
        ld = d_loss(real, fake)
        opt_d.zero_grad(set_to_none=True)
        if math.isfinite(ld.item()):
            ld.backward()
            torch.nn.utils.clip_grad_norm_(disc.parameters(), 1.0)
            opt_d.step()
        step += 1
        acc.append([loss.item(), bpp.mean().item(), d.mean().item(), psnr(xb, x_hat.detach()).mean().item(),
                    tb.mean().item(), adv.mean().item(), ld.item()])
        if step % 50 == 0:
            m = np.mean(acc, axis=0)
            acc = []
            log.write(f"{step},{time.time() - t0:.0f}," + ",".join(f"{v:.5f}" for v in m) + "\n")
            log.flush()
            print(step, f"{(time.time() - t0) / (step - start):.2f} s/step", " ".join(f"{v:.4f}" for v in m), flush=True)
        if step % 250 == 0:
            out_meta = {**meta, "step": step, "equivariance": {"weight": a.weight, "from": str(a.ckpt)}}
            checkpoint.save(a.out / "last.safetensors", model, out_meta)
            checkpoint.save(a.out / "disc.safetensors", disc, {"step": step})
    out_meta = {**meta, "step": step, "equivariance": {"weight": a.weight, "from": str(a.ckpt)}}
    checkpoint.save(a.out / "last.safetensors", model, out_meta)


if __name__ == "__main__":
    main()
