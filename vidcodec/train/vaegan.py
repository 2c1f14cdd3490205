"""Rate–distortion training of the VAE-GAN transforms at every quality level at once.

Each batch mixes all levels (sample i trains level i mod L); the loss is
``bpp + lambda[level] * distortion``. Guards from experience on these machines: a low
learning rate, gradient clipping, skipping non-finite steps, and keeping the checkpoint
with the best validation loss rather than the last one.

    python -m vidcodec.train.vaegan --data ../data/photos ../data/videos --out runs/vaegan-s
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from ..models.vaegan import VAEGAN, VAEGANConfig
from . import checkpoint
from .data import CropSampler, load_pool
from .losses import bits_per_pixel, distortion, psnr

log = logging.getLogger("vidcodec.train")

DEFAULT_LAMBDAS = (6.0, 12.0, 24.0, 48.0, 96.0, 192.0)
# Clips kept out of training: the shipped samples are cut from the first two, the third is held out for eval.
DEFAULT_EXCLUDE = ("bikes.mp4", "vtest.avi", "diver.mov")


def _validation_set(photos: list[np.ndarray], frames: list[np.ndarray], n: int, size: int) -> torch.Tensor:
    sampler = CropSampler(photos, frames, size, seed=12345)
    return torch.from_numpy(sampler.batch(n))


@torch.no_grad()
def validate(model: VAEGAN, val: torch.Tensor, lambdas: tuple[float, ...], kind: str) -> dict:
    """Per-level bpp (from likelihoods of rounded symbols), PSNR and the mean loss."""
    model.eval()
    out = {"bpp": [], "psnr": [], "loss": 0.0}
    y = model.analysis(val)
    pixels = val.shape[2] * val.shape[3]
    for level, lam in enumerate(lambdas):
        sym = torch.round(y * model.gain(level))
        lik = model.densities[level].likelihood(sym)
        x_hat = model.synthesis(sym / model.gain(level))
        bpp = bits_per_pixel(lik, pixels).mean().item()
        d = distortion(val, x_hat, kind).mean().item()
        out["bpp"].append(round(bpp, 4))
        out["psnr"].append(round(psnr(val, x_hat).mean().item(), 3))
        out["loss"] += (bpp + lam * d) / len(lambdas)
    model.train()
    return out


def train(args: argparse.Namespace) -> Path:
    """Train (or resume) and return the path of the best checkpoint."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lambdas = tuple(args.lambdas)
    config = VAEGANConfig(name=args.name, enc_channels=args.enc_channels, dec_channels=args.dec_channels,
                          latent_channels=args.latent_channels, levels=len(lambdas))
    model = VAEGAN(config).to(memory_format=torch.channels_last)  # ~15 % faster convolutions on CPU
    # The densities and gains are few parameters that must track the transforms quickly.
    fast = [p for n, p in model.named_parameters() if n.startswith(("densities.", "log_gain"))]
    slow = [p for n, p in model.named_parameters() if not n.startswith(("densities.", "log_gain"))]
    opt = torch.optim.Adam([{"params": slow}, {"params": fast, "lr_scale": args.density_lr_scale}], lr=args.lr)
    step, best = 0, math.inf
    last = out / "last.safetensors"
    if args.resume and last.exists():
        meta = checkpoint.load(last, model, opt)
        step, best = meta["step"], meta.get("best_val", math.inf)
        log.info("resumed from %s at step %d (best val %.4f)", last, step, best)
    for group in opt.param_groups:
        group["lr"] = args.lr * group.get("lr_scale", 1.0)

    photos, frames, used = load_pool([Path(p) for p in args.data], set(args.exclude), args.frames_per_video)
    val_photos = photos[:: args.val_every_nth]  # every n-th photo is held out for model selection
    train_photos = [p for i, p in enumerate(photos) if i % args.val_every_nth]
    val = _validation_set(val_photos, [], args.val_crops, 256)
    sampler = CropSampler(train_photos, frames, args.crop, seed=args.seed + step)
    (out / "sources.json").write_text(json.dumps({"files": used, "exclude": args.exclude}, indent=1))

    levels = torch.arange(args.batch) % len(lambdas)
    lam = torch.tensor(lambdas)[levels]
    log_path = out / "log.csv"
    if not log_path.exists():
        log_path.write_text("step,time,loss,bpp,dist,skipped\n")
    t0, start, skipped, acc = time.time(), step, 0, []
    while step < args.steps:
        x = torch.from_numpy(sampler.batch(args.batch)).contiguous(memory_format=torch.channels_last)
        res = model(x, levels)
        bpp = bits_per_pixel(res.likelihoods, x.shape[2] * x.shape[3])
        d = distortion(x, res.x_hat, args.distortion)
        loss = (bpp + lam * d).mean()
        opt.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            skipped += 1
            continue
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        if not torch.isfinite(gnorm):
            skipped += 1
            opt.zero_grad(set_to_none=True)
            continue
        opt.step()
        step += 1
        acc.append((loss.item(), bpp.mean().item(), d.mean().item()))
        if step % args.log_every == 0:
            m = np.mean(acc, axis=0)
            acc = []
            with log_path.open("a") as f:
                f.write(f"{step},{time.time() - t0:.1f},{m[0]:.5f},{m[1]:.5f},{m[2]:.5f},{skipped}\n")
            log.info("step %d loss %.4f bpp %.4f dist %.4f (%.0f ms/step)", step, *m,
                     1000 * (time.time() - t0) / max(1, step - start))
        if step % args.val_every == 0 or step == args.steps:
            v = validate(model, val, lambdas, args.distortion)
            log.info("val step %d loss %.4f bpp %s psnr %s", step, v["loss"], v["bpp"], v["psnr"])
            meta = {"step": step, "config": config.to_dict(), "lambdas": list(lambdas),
                    "distortion": args.distortion, "val": v, "best_val": min(best, v["loss"])}
            if math.isfinite(v["loss"]) and v["loss"] < best:
                best = v["loss"]
                checkpoint.save(out / "best.safetensors", model, meta)
            checkpoint.save(last, model, meta, opt)
    return out / "best.safetensors"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vidcodec.train.vaegan", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="folders or files of photos and videos")
    p.add_argument("--out", required=True, help="run folder: checkpoints, log.csv")
    p.add_argument("--name", default="vaegan-s")
    p.add_argument("--enc-channels", type=int, default=VAEGANConfig.enc_channels)
    p.add_argument("--dec-channels", type=int, default=VAEGANConfig.dec_channels)
    p.add_argument("--latent-channels", type=int, default=VAEGANConfig.latent_channels)
    p.add_argument("--exclude", nargs="*", default=list(DEFAULT_EXCLUDE), help="file names to leave out")
    p.add_argument("--lambdas", nargs="+", type=float, default=list(DEFAULT_LAMBDAS))
    p.add_argument("--distortion", default="ssim+l1", choices=["ssim+l1", "mse"])
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--density-lr-scale", type=float, default=10.0,
                   help="learning-rate multiplier of the entropy model and gains")
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frames-per-video", type=int, default=120)
    p.add_argument("--val-every-nth", type=int, default=12, help="hold out every n-th photo for validation")
    p.add_argument("--val-crops", type=int, default=12)
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--resume", action="store_true")
    return p


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
