"""Rate–distortion(–adversarial) training of the VAE-GAN at every quality level at once.

Each batch mixes the levels (sample i trains level (i + o) mod L, with o = 0 when the batch is a
multiple of L; otherwise o moves on with every batch drawn, on every rank, so that a batch smaller
than L still trains every level in turn). The autoencoder minimises

    bpp + λ[level] · (d_s(x, x̂) + β · adv(x̂, ŷ))

where d_s is the distortion (SSIM/MS-SSIM + L1, or MSE) weighted per pixel by a spectral-residual
saliency map with a floor (never transmitted), and adv is the non-saturating GAN loss of a
discriminator that sees (image, latent) pairs: the original with its quantized latent versus the
reconstruction with the same latent. Discriminator and autoencoder steps alternate. With a channel
ladder, a fraction of samples code a random shorter prefix of the latent channels (nested
dropout), which orders the channels so that any prefix decodes.

Guards from experience on these machines: a low learning rate, gradient clipping, skipping
non-finite steps, and keeping the checkpoint with the best validation loss rather than the last.
Multi-process training: run under ``torchrun`` (DistributedDataParallel; gloo on CPU, nccl on
GPU); rank 0 validates and writes, and every rank's final weights are compared at the end.

    vidcodec train --data DATA/photos DATA/videos --out runs/vaegan
    torchrun --nproc-per-node 2 -m vidcodec train --config runs/vaegan/last.toml --resume
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import itertools
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ..errors import UsageError, VidcodecError, first_line
from ..models.discriminator import PairDiscriminator
from ..models.layers import GDN
from ..models.vaegan import VAEGAN, VAEGANConfig, _deconv
from . import checkpoint, plot, runlog
from .checkpoint import SafetensorError
from .cli_args import config_file, run_folder
from .config import DEFAULT_LAMBDAS, TrainConfig
from .data import CropSampler, load_pool, seeds
from .interrupts import Held
from .losses import bits_per_pixel, d_loss, distortion, g_loss, psnr
from .saliency import weight_map

log = logging.getLogger("vidcodec.train")

LOG_COLUMNS = "step,time,loss,bpp,dist,psnr,adv_g,adv_d,skipped\n"
# Steps skipped in a row (loss or gradient not finite) after which a run stops as diverged: a skipped
# step changes nothing, so the next batch is the only thing that could help, and a run whose every
# step is skipped never reached its next log line and hung without a word
MAX_SKIPPED_IN_A_ROW = 50


def model_config(cfg: TrainConfig) -> VAEGANConfig:
    return VAEGANConfig(name=cfg.name, enc_channels=cfg.enc_channels, dec_channels=cfg.dec_channels,
                        dec_last_channels=cfg.dec_last_channels or None, latent_channels=cfg.latent_channels, levels=len(cfg.lambdas),
                        level_channels=list(cfg.level_channels) or None)


# The model's settings (VAEGANConfig's fields) as the flags that set them
MODEL_FLAGS = {"enc_channels": "--enc-channels", "dec_channels": "--dec-channels",
               "dec_last_channels": "--dec-last-channels", "latent_channels": "--latent-channels",
               "levels": "--lambdas (their count)", "level_channels": "--level-channels"}


def model_changes(cfg: TrainConfig, ckpt: Path) -> list[str]:
    """The model settings of ``cfg`` that differ from those checkpoint ``ckpt`` was trained with, as
    "--flag NEW (the run's: OLD)"; empty when its .json cannot tell."""
    try:
        saved = json.loads(ckpt.with_suffix(".json").read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    now = asdict(model_config(cfg))
    return [f"{flag} {_flag_value(now[k])} (the run's: {_flag_value(saved.get(k))})"
            for k, flag in MODEL_FLAGS.items() if k in saved and saved[k] != now[k]]


def _flag_value(v: object) -> str:
    return " ".join(map(str, v)) if isinstance(v, list | tuple) else str(v)


@torch.no_grad()
def validate(model: VAEGAN, val: torch.Tensor, lambdas: list[float], cfg: TrainConfig) -> dict:
    """Per-level bpp (likelihoods of rounded symbols), PSNR, and the mean rate–distortion loss."""
    model.eval()
    out = {"bpp": [], "psnr": [], "loss": 0.0}
    y = model.analysis(val)
    pixels = val.shape[2] * val.shape[3]
    weights = weight_map(val, cfg.saliency_floor) if cfg.saliency_floor > 0 else None
    for level, lam in enumerate(lambdas):
        k = model.config.channels(level)
        sym = torch.round(y * model.gain(level))
        sym[:, k:] = 0
        lik = model.densities[level].likelihood(sym)[:, :k]
        x_hat = model.synthesis(sym / model.gain(level))
        bpp = bits_per_pixel(lik, pixels).mean().item()
        d = distortion(val, x_hat, cfg.distortion, cfg.ssim_weight, weights).mean().item()
        out["bpp"].append(round(bpp, 4))
        out["psnr"].append(round(psnr(val, x_hat).mean().item(), 3))
        out["loss"] += (bpp + lam * d) / len(lambdas)
    model.train()
    return out


def _channel_entropy(model: VAEGAN, level: int) -> torch.Tensor:
    """Entropy (bits) of each latent channel's density at ``level`` over the integers: an importance order."""
    dens = model.densities[level]
    k = torch.arange(-256, 257, dtype=torch.float32)
    lo = dens.cdf_logits((k - 0.5).expand(dens.channels, -1))
    hi = dens.cdf_logits((k + 0.5).expand(dens.channels, -1))
    p = (torch.sigmoid(hi) - torch.sigmoid(lo)).clamp_min(1e-12)
    p = p / p.sum(dim=1, keepdim=True)
    return -(p * torch.log2(p)).sum(dim=1)


@torch.no_grad()
def init_from(model: VAEGAN, path: Path, lambdas: list[float]) -> dict:
    """Start from another run's weights (fine-tuning): same transforms, levels mapped by nearest λ.

    When the new model has a channel ladder and the old one had none, the latent channels are
    first reordered by decreasing entropy at the old top level (the same network, relabelled), so
    that nested dropout starts from a sensible order.
    """
    old, meta = checkpoint.load_vaegan(path, "--init")
    old_cfg = old.config
    old_last = old_cfg.dec_last_channels or old_cfg.dec_channels
    new_last = model.config.dec_last_channels or model.config.dec_channels
    if (old_cfg.enc_channels, old_cfg.latent_channels) != (model.config.enc_channels, model.config.latent_channels) \
            or model.config.dec_channels < old_cfg.dec_channels:
        raise UsageError(f"--init {path}: its transforms have other channel counts than this configuration "
                         "(the synthesis may be wider, --dec-channels and --dec-last-channels, and its last "
                         "hidden layer narrower, --dec-last-channels; the rest must match)")
    if new_last < old_last:
        _prune_last_hidden(old.synthesis, new_last)
    if model.config.dec_channels > old_cfg.dec_channels or new_last > old_last:
        _widen_synthesis(old.synthesis, model.config.dec_channels, new_last)
    if model.config.level_channels and not old_cfg.level_channels:
        order = torch.argsort(_channel_entropy(old, old_cfg.levels - 1), descending=True)
        last = old.analysis.net[-1]
        last.weight.copy_(last.weight[order])
        last.bias.copy_(last.bias[order])
        first = old.synthesis.net[0]
        first.weight.copy_(first.weight[order])  # ConvTranspose2d weight: (in, out, k, k)
        old.log_gain.copy_(old.log_gain[:, order])
        for dens in old.densities:
            for plist in (dens.matrices, dens.biases, dens.factors):
                for p in plist:
                    p.copy_(p[order])
    model.analysis.load_state_dict(old.analysis.state_dict())
    model.synthesis.load_state_dict(old.synthesis.state_dict())
    old_l = np.log(meta.get("lambdas", DEFAULT_LAMBDAS[: old_cfg.levels]))
    for i, lam in enumerate(lambdas):
        j = int(np.argmin(np.abs(old_l - np.log(lam))))
        # Gains grow roughly as λ^0.4 between neighbouring levels of the trained model.
        model.log_gain[i].copy_(old.log_gain[j] + 0.4 * (np.log(lam) - old_l[j]))
        model.densities[i].load_state_dict(old.densities[j].state_dict())
    return meta


@torch.no_grad()
def _widen_synthesis(synthesis: torch.nn.Module, width: int, last: int, scale: float = 0.1,
                     coupling: float = 1e-3) -> None:
    """Widen the synthesis's hidden layers to ``width`` (the first two) and ``last`` (the last), in place,
    keeping its function (to within ``coupling``, see below): more capacity to fine-tune from a trained
    model instead of from scratch.

    A new channel's input weights are random, ``scale`` times the spread of the layer's trained ones
    (zero bias), and the weights it feeds are zero, so the output does not change; those output
    weights get gradients at once (the channel is not zero) and it learns from there. In the inverse
    GDN the new channel has the initial ``beta`` and own ``gamma`` (as a fresh layer has) and its
    couplings with the other channels are ``coupling``, not zero: the layer takes ``|gamma|``, whose
    gradient at zero is zero, so a zero coupling would stay zero forever.
    """
    layers = synthesis.net
    widths = [width, width, last]
    for hidden, (up_i, gdn_i, down_i) in enumerate(((0, 1, 2), (2, 3, 4), (4, 5, 6))):
        up, gdn, down = layers[up_i], layers[gdn_i], layers[down_i]
        old, new = up.out_channels, widths[hidden]
        if new < old:
            raise ValueError(f"cannot widen hidden layer {hidden} from {old} to {new} channels")
        if new == old:
            continue
        grown = _deconv(up.in_channels, new)
        grown.weight.zero_()
        grown.weight[:, :old] = up.weight
        grown.weight[:, old:] = torch.randn_like(grown.weight[:, old:]) * (scale * up.weight.std())
        grown.bias.zero_()
        grown.bias[:old] = up.bias
        layers[up_i] = grown
        fresh = GDN(new - old, inverse=True)  # the new channels' own offsets and gains, as a new layer's
        beta = torch.cat([gdn.beta, fresh.beta])
        gamma = torch.full((new, new, 1, 1), coupling)
        gamma[:old, :old] = gdn.gamma
        gamma[old:, old:] = fresh.gamma + coupling * (1 - torch.eye(new - old).view(new - old, new - old, 1, 1))
        gdn.beta = torch.nn.Parameter(beta)
        gdn.gamma = torch.nn.Parameter(gamma)
        fed = _deconv(new, down.out_channels)
        fed.weight.zero_()
        fed.weight[:old] = down.weight
        fed.bias.copy_(down.bias)
        layers[down_i] = fed


@torch.no_grad()
def _prune_last_hidden(synthesis: torch.nn.Module, keep: int) -> None:
    """Narrow the synthesis's last hidden layer to its ``keep`` most important channels, in place.

    A channel's importance is the norm of the output weights it feeds times its inverse-GDN
    offset (the gain it has where the normalisation is small); the kept channels' IGDN keeps
    only their own coupling terms. A starting point for fine-tuning, not a substitute for it.
    """
    up, igdn, out = synthesis.net[4], synthesis.net[5], synthesis.net[6]
    score = out.weight.flatten(1).norm(dim=1) * igdn.beta.abs()
    idx = torch.sort(torch.argsort(score, descending=True)[:keep]).values
    new_up = _deconv(up.in_channels, keep)
    new_up.weight.copy_(up.weight[:, idx])
    new_up.bias.copy_(up.bias[idx])
    igdn.beta = torch.nn.Parameter(igdn.beta[idx].clone())
    igdn.gamma = torch.nn.Parameter(igdn.gamma[idx][:, idx].clone())
    new_out = _deconv(keep, 3)
    new_out.weight.copy_(out.weight[idx])
    new_out.bias.copy_(out.bias)
    synthesis.net[4], synthesis.net[6] = new_up, new_out


def _finite_everywhere(value: torch.Tensor, world: int) -> bool:
    """Whether ``value`` is finite on every process (one all-reduce under DDP, so all ranks agree)."""
    ok = torch.isfinite(value.detach()).all()
    if world > 1:
        flag = ok.to(torch.float32).reshape(1)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        ok = flag[0] > 0
    return bool(ok)


def _params_digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _launcher_int(var: str, default: int) -> int:
    """``$var`` as torchrun sets it (a whole number), ``default`` when unset; a UsageError for anything
    else (a traceback of int() before)."""
    value = os.environ.get(var)
    if value is None:
        return default
    if not value.strip().isdecimal():
        raise UsageError(f"{var}={value!r}: torchrun sets it to a whole number; unset it to train in one process")
    return int(value)


def _setup_distributed(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    world, rank = _launcher_int("WORLD_SIZE", 1), _launcher_int("RANK", 0)
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    if use_cuda:
        local = _launcher_int("LOCAL_RANK", 0)
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return rank, world, device


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train (or resume) as ``cfg`` says; return the path of the best checkpoint."""
    try:
        return _train(cfg, progress)
    finally:
        # The run's objects left in reference cycles (the DistributedDataParallel wrappers, which hold
        # the process group) were otherwise freed at interpreter exit, where gloo's threads were torn
        # down during finalization and a rank could abort ("terminate called without an active
        # exception", SIGABRT) after the run had finished: test_train.py's DDP test with two CPU-bound
        # processes beside it failed 4 times in 16 runs, 0 in 16 with this collection.
        gc.collect()


def _train(cfg: TrainConfig, progress: bool) -> Path:
    cfg.check()
    rank, world, device = _setup_distributed(cfg)
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    lambdas = list(cfg.lambdas)
    config = model_config(cfg)
    torch.manual_seed(cfg.seed)  # every rank starts from the same weights
    model = VAEGAN(config)
    disc = PairDiscriminator(config.latent_channels, cfg.disc_channels) if cfg.adv_weight > 0 else None
    step, best = 0, math.inf
    # the steps since the last log line and the steps skipped so far, kept with the resume point so that
    # a resumed run logs the rows the run never stopped would have
    unlogged: list[list[float | None]] = []
    skipped_before = 0
    draws = 0  # batches drawn: the steps taken plus those skipped (a step whose loss was not finite)
    last = out / "last.safetensors"
    if cfg.init and not (last.exists()):
        init_from(model, Path(cfg.init), lambdas)
        log.info("initialised from %s", cfg.init)
        # and its run's discriminator, when it has one of this shape (the pairs it judges are the same
        # kind; a fresh one would push the fine-tuned model at random until it had learnt something)
        init_disc = Path(cfg.init).with_name("disc.safetensors")
        if disc is not None and init_disc.exists():
            try:
                checkpoint.load(init_disc, disc)
                log.info("discriminator from %s", init_disc)
            except RuntimeError:  # torch's size mismatches: another --disc-channels
                log.info("%s has another shape: the discriminator starts afresh", init_disc)
    model = model.to(device, memory_format=torch.channels_last)  # ~15 % faster convolutions on CPU
    if world > 1:  # 1×1 kernels (GDN's gamma) get their gradients in the plain layout: DDP's buckets want the same
        _lay_out_1x1(model, torch.contiguous_format)
    if disc is not None:
        disc = disc.to(device)
        if world > 1:  # its 1×1 convolutions (the head) get channels-last gradients from channels-last crops
            _lay_out_1x1(disc, torch.channels_last)
    # The densities and gains are few parameters that must track the transforms quickly.
    fast = [p for n, p in model.named_parameters() if n.startswith(("densities.", "log_gain"))]
    slow = [p for n, p in model.named_parameters() if not n.startswith(("densities.", "log_gain"))]
    # On a GPU, one fused Adam kernel instead of a few per parameter tensor (steps there are bound by
    # how many operations they launch, not by arithmetic).
    fused = {"fused": True} if device.type == "cuda" else {}
    opt = torch.optim.Adam([{"params": slow}, {"params": fast, "lr_scale": cfg.density_lr_scale}], lr=cfg.lr, **fused)
    opt_d = (torch.optim.Adam(disc.parameters(), lr=cfg.disc_lr, betas=(0.5, 0.999), **fused)
             if disc is not None else None)
    if last.exists():
        try:
            meta = checkpoint.load(last, model, opt)
        except RuntimeError as e:  # torch's size mismatches
            changes = model_changes(cfg, last)
            raise UsageError(f"{last} does not fit the model these settings build ("
                             + (", ".join(changes) if changes else first_line(e))
                             + f"): leave {'those settings' if changes else 'the model settings'} out to resume the "
                             f"run as it was (its own are in {out / 'last.toml'})") from None
        except (SafetensorError, OSError, ValueError, KeyError, TypeError) as e:  # a damaged file (JSON: ValueError)
            raise checkpoint.damaged_resume(f"{last} (or its .json)", e, out) from None
        if not isinstance(meta, dict) or not isinstance(meta.get("step"), int):
            raise checkpoint.damaged_resume(f"{last} (or its .json)", ValueError("no step in its .json"), out)
        if disc is not None and (out / "disc.safetensors").exists():
            try:
                checkpoint.load(out / "disc.safetensors", disc, opt_d)
            except RuntimeError as e:  # torch's size mismatches: another --disc-channels
                raise UsageError(f"{out / 'disc.safetensors'} does not fit this configuration's discriminator "
                                 f"({first_line(e, None)}...): resume with the run's own --disc-channels (its "
                                 f"settings are in {out / 'last.toml'})") from None
            except (SafetensorError, OSError, ValueError, KeyError) as e:  # a damaged file
                raise UsageError(f"{out / 'disc.safetensors'} cannot be read ({first_line(e)}): delete "
                                 "it to resume with a fresh discriminator") from None
        step, best = meta["step"], meta.get("best_val")
        best = math.inf if best is None else best  # null: no validation yet (JSON has no infinity)
        draws = meta.get("draws", step)
        unlogged, skipped_before = meta.get("unlogged") or [], meta.get("skipped", 0)
        if rank == 0:
            log.info("resumed from %s at step %d (best val %.4f)", last, step, best)
            if step >= cfg.steps:
                log.warning("the run is at step %d already and --steps is %d: nothing to train (give a larger "
                            "--steps to go on)", step, cfg.steps)
    _set_lr(opt, cfg.lr)

    photos, frames, used = load_pool([Path(p) for p in cfg.data], set(cfg.exclude), cfg.frames_per_video,
                                     Path(cfg.out))
    # Every n-th image (photos, else frames) is held out for model selection.
    held = photos if photos else frames
    val_pool = held[:: cfg.val_every_nth]
    train_held = [p for i, p in enumerate(held) if i % cfg.val_every_nth]
    train_photos, train_frames = (train_held, frames) if photos else ([], train_held)
    if not train_photos and not train_frames:
        raise UsageError(f"{len(held)} training image(s): one in every {cfg.val_every_nth} is held out for validation, "
                         "which leaves none to train on; give more images or videos")
    val = torch.from_numpy(CropSampler(val_pool, [], min(cfg.val_size, cfg.crop * 2), seed=12345)
                           .batch(cfg.val_crops)).to(device)
    sampler = CropSampler(train_photos, train_frames, cfg.crop, seed=cfg.seed, warn_small=True)
    if rank == 0:
        log.info("training on %d photos and %d video frames; %d %s held out for validation", len(train_photos),
                 len(train_frames), len(val_pool), "photos" if photos else "video frames")
        out.mkdir(parents=True, exist_ok=True)  # once the data is known to be there
        (out / "sources.json").write_text(json.dumps({"files": used, "exclude": cfg.exclude}, indent=1))
        cfg.save(out / "config.toml")

    ddp_model, ddp_disc = model, disc
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp_model = DDP(model, find_unused_parameters=cfg.batch < len(lambdas))
        if disc is not None:
            ddp_disc = DDP(disc)

    lambda_of = torch.tensor(lambdas, device=device)

    def batch_levels(drawn: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(levels, their λ, their channel counts) of a batch: every level in turn (module docstring)."""
        offset = ((drawn * world + rank) * cfg.batch) % len(lambdas)
        lv = ((torch.arange(cfg.batch) + offset) % len(lambdas)).to(device)
        return lv, lambda_of[lv], model.level_channels(lv)

    levels, lam, full = batch_levels(draws)
    log_path = out / "log.csv"
    if rank == 0:
        if not log_path.exists():
            log_path.write_text(LOG_COLUMNS)
        for path in (log_path, out / "val.csv"):  # what an interrupted run logged after its last save
            runlog.keep_until(path, step)
    gen = torch.Generator()
    t0, start, skipped = time.time(), step, skipped_before
    acc = [torch.tensor([math.nan if v is None else v for v in row], dtype=torch.float32, device=device)
           for row in unlogged]
    streak = 0  # steps skipped in a row (a loss or gradient not finite)
    t_line, step_line = t0, step  # the last log line's time and step
    # log.csv's time column goes on from where a resumed run's log ends
    before = runlog.last_seconds(log_path) if step and rank == 0 else 0.0
    deadline = t0 + 60 * cfg.max_minutes if cfg.max_minutes > 0 else math.inf
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick its fastest kernels once
    batches = (prefetched(sampler, cfg.batch, max(2, min(8, (os.cpu_count() or 2) // 2)), (cfg.seed, rank), draws)
               if device.type == "cuda" else None)
    bar = tqdm(total=cfg.steps, initial=step, unit="step", desc="train",
               disable=None if (progress and rank == 0) else True, dynamic_ncols=True)
    def say(line: str) -> None:
        """A line for the user on stderr: above the bar when there is one, else a log line (none with -q)."""
        if bar.disable:
            log.info("%s", line)
        else:
            bar.write(line, file=sys.stderr)

    def run_meta(**extra) -> dict:
        """A checkpoint's metadata: the step, the model and the run's settings, the best validation loss."""
        return {"step": step, "config": config.to_dict(), "lambdas": lambdas, "distortion": cfg.distortion,
                "best_val": best if math.isfinite(best) else None, "draws": draws, "train": asdict(cfg), **extra}

    def save_last(**extra) -> None:
        """The resume point: weights and moments (and the discriminator's), with the run's settings."""
        # (a step's discriminator loss may be NaN: null in JSON, as the best loss's infinity)
        rows = [[v if math.isfinite(v) else None for v in row] for row in torch.stack(acc).tolist()] if acc else []
        checkpoint.save(last, model, run_meta(unlogged=rows, skipped=skipped, **extra), opt)
        if disc is not None:
            checkpoint.save(out / "disc.safetensors", disc, {"step": step}, opt_d)
        cfg.save(out / "last.toml")

    def validation(note: str = "") -> dict:
        """Validate (on rank 0), log it and add it to val.csv; a new best becomes best.safetensors."""
        nonlocal best
        v = validate(model, val, lambdas, cfg)
        say(f"val step {step}{note}: loss {v['loss']:.4f} bpp {v['bpp']} psnr {v['psnr']}")
        _append_val(out / "val.csv", step, v)
        if math.isfinite(v["loss"]) and v["loss"] < best:
            best = v["loss"]
            checkpoint.save(out / "best.safetensors", model, run_meta(val=v))
            cfg.save(out / "best.toml")
        return v

    def generator_terms(x: torch.Tensor, keep: torch.Tensor, adv_on: bool) -> tuple[torch.Tensor, ...]:
        """One step's forward pass and losses: (loss, bpp, distortion, adversarial term, x_hat, latent)."""
        weights = weight_map(x, cfg.saliency_floor) if cfg.saliency_floor > 0 else None
        res = ddp_model(x, levels, keep)
        bpp = bits_per_pixel(res.likelihoods, x.shape[2] * x.shape[3])
        d = distortion(x, res.x_hat, cfg.distortion, cfg.ssim_weight, weights)
        latent = (res.symbols / model.gain(levels)).detach()
        if adv_on:
            adv = g_loss(disc(res.x_hat, latent))
            loss = (bpp + lam * (d + cfg.adv_weight * adv)).mean()
        else:
            adv = torch.zeros((), device=x.device)
            loss = (bpp + lam * d).mean()
        return loss, bpp, d, adv, res.x_hat, latent

    def disc_terms(x: torch.Tensor, x_hat: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss: real and reconstructed pairs in one pass (half its dispatches)."""
        real, fake = ddp_disc(torch.cat([x, x_hat]), torch.cat([latent, latent])).chunk(2)
        return d_loss(real, fake)

    pending: list[torch.Tensor] = []  # a step's batch taken early (--compile tries the step on it)

    def next_batch() -> torch.Tensor:
        if pending:
            return pending.pop()
        if batches is not None:
            # uint8 NHWC → float NCHW on the GPU: a quarter of the bytes to copy, and NHWC is channels-last.
            return next(batches).to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        crops = sampler.fork(step_key(cfg.seed, rank, draws)).batch(cfg.batch)
        return torch.from_numpy(crops).to(device).contiguous(memory_format=torch.channels_last)

    if cfg.compile and step < cfg.steps:
        # both branches the run will take: without the adversarial term until --adv-start, with it after
        branches = ([False] if disc is None else [False, True] if step < cfg.adv_start else [True])
        pending.append(next_batch())
        generator_terms, disc_terms = _compiled(generator_terms, disc_terms, model, disc, pending[0], full,
                                                branches, rank)
        t_line = time.time()  # the first log line's ms/step: steps, not the compiling

    if rank == 0 and cfg.init and step == 0:
        # Fine-tuning starts from a model that already works: its validation is where the run stands at
        # step 0 (and the best so far, so a run that only gets worse keeps the initial weights as best).
        validation(f" (from {cfg.init})")
    held = Held()  # a Ctrl-C or SIGTERM stops the run between two steps, not inside one
    try:
        while step < cfg.steps:
            _check_together(held, world, device)
            # Every random draw of a step (its crops, nested dropout, quantization noise) comes from
            # the seed, the rank and the number of batches drawn so far (the step's number, plus one
            # for each step skipped, which then draws anew rather than retrying the same batch): a
            # resumed run takes the steps it would have taken, and each rank draws its own.
            _seed_step(gen, cfg.seed, rank, draws)
            if cfg.batch % len(lambdas):  # a batch that is not a multiple of the levels: the next ones
                levels, lam, full = batch_levels(draws)
            x = next_batch()
            draws += 1
            keep = full
            if cfg.nested_dropout > 0 and config.level_channels:
                trunc = torch.rand(cfg.batch, generator=gen) < cfg.nested_dropout
                rand_k = (torch.rand(cfg.batch, generator=gen) * full.cpu().float()).long() + 1
                keep = torch.where(trunc.to(device), rand_k.to(device), full)
            adv_on = disc is not None and step >= cfg.adv_start
            if adv_on:
                disc.requires_grad_(False)
            loss, bpp, d, adv, x_hat, latent = generator_terms(x, keep, adv_on)
            if adv_on:
                disc.requires_grad_(True)
            opt.zero_grad(set_to_none=True)
            if not _finite_everywhere(loss, world):  # skip on every rank together, or DDP's all-reduce hangs
                skipped += 1
                streak = _diverging(streak + 1, step, cfg)
                continue
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip or math.inf)  # 0: no clipping
            if not torch.isfinite(gnorm):
                skipped += 1
                opt.zero_grad(set_to_none=True)
                streak = _diverging(streak + 1, step, cfg)
                continue
            streak = 0
            if step < cfg.warmup:  # step + 1 of warmup: a fresh optimizer's first moves kept small
                _set_lr(opt, cfg.lr, (step + 1) / cfg.warmup)
            opt.step()
            ld = torch.zeros((), device=device)
            if adv_on:
                # Real and reconstructed pairs in one pass (half the discriminator's dispatches).
                ld = disc_terms(x, x_hat.detach(), latent)
                opt_d.zero_grad(set_to_none=True)
                if _finite_everywhere(ld, world):
                    ld.backward()
                    torch.nn.utils.clip_grad_norm_(disc.parameters(), cfg.clip or math.inf)
                    opt_d.step()
            step += 1
            # The time limit is checked at logging steps only, and all ranks stop at the same step.
            final = step == cfg.steps or (step % cfg.log_every == 0 and _all_agree(time.time() >= deadline, world, device))
            # Kept on the device until a logging step: one host sync per log line instead of six per step.
            acc.append(torch.stack([loss.detach(), bpp.detach().mean(), d.detach().mean(),
                                    psnr(x, x_hat.detach()).mean(), adv.detach().mean(), ld.detach()]))
            bar.update(1)
            if step % cfg.log_every == 0 or final:
                m = torch.stack(acc).double().mean(dim=0).tolist()
                if step % cfg.log_every == 0:  # a run's last row (not on the grid) leaves them for a resume
                    acc = []
                bar.set_postfix(loss=f"{m[0]:.3f}", bpp=f"{m[1]:.3f}", psnr=f"{m[3]:.2f}")
                if rank == 0:
                    with log_path.open("a") as f:
                        f.write(f"{step},{before + time.time() - t0:.1f},{m[0]:.5f},{m[1]:.5f},{m[2]:.5f},{m[3]:.3f},"
                                f"{m[4]:.5f},{m[5]:.5f},{skipped}\n")
                    if bar.disable:
                        # since the last line (a compile's minute, or a validation, shows where it fell)
                        log.info("step %d loss %.4f bpp %.4f dist %.4f psnr %.2f (%.0f ms/step)", step, m[0], m[1],
                                 m[2], m[3], 1000 * (time.time() - t_line) / max(1, step - step_line))
                    t_line, step_line = time.time(), step
            if rank == 0 and (step % cfg.val_every == 0 or final):
                v = validation()
                save_last(val=v)
                plot.training_curves(out)
            if final and step < cfg.steps:
                if rank == 0:
                    say(f"stopped at step {step}: --max-minutes {cfg.max_minutes:g} reached "
                              "(--resume continues from last.safetensors)")
                break
        _check_together(held, world, device)
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM through the command line): keep what was trained
        if rank == 0 and step > start:
            save_last(interrupted=True)
            log.warning("interrupted at step %d: saved %s (--resume continues from it)", step, last)
        raise
    finally:
        held.restore()
        bar.close()
    _check_ranks(model, out, rank, world)
    return out / "best.safetensors"


def _compiled(generator_terms, disc_terms, model, disc, x, full, branches, rank) -> tuple:
    """``--compile``: the two loss functions through torch.compile, tried here on a batch for each
    ``branches`` value the run will use (adversarial term off, on; forward and backward, gradients
    cleared after), so that compiling takes its time now, not inside the first logged interval, and a
    failure is caught here. If compiling fails, say so and return them as they were: the run goes on
    eagerly."""
    t0 = time.time()
    gen, dis = torch.compile(generator_terms), torch.compile(disc_terms)
    try:
        for adv_on in branches:
            if disc is not None:
                disc.requires_grad_(not adv_on)
            loss, _, _, _, x_hat, latent = gen(x, full, adv_on)
            if disc is not None:
                disc.requires_grad_(True)
            loss.backward()
            if adv_on:
                dis(x, x_hat.detach(), latent).backward()
    except Exception as e:  # noqa: BLE001 -- any failure of the compiler: train on without it
        if disc is not None:
            disc.requires_grad_(True)
        log.warning("--compile: compiling failed (%s: %s); training on without it", type(e).__name__,
                    str(e).splitlines()[0] if str(e) else "")
        gen, dis = generator_terms, disc_terms
    else:
        if rank == 0:
            log.info("--compile: the step compiled in %.0f s", time.time() - t0)
    for module in (model, disc):
        if module is not None:
            module.zero_grad(set_to_none=True)
    return gen, dis


class TrainingDiverged(VidcodecError):
    """The loss or its gradient stayed infinite or NaN: the run cannot go on at these settings."""


def _diverging(streak: int, step: int, cfg) -> int:
    """``streak`` (steps skipped in a row), or TrainingDiverged once it reaches MAX_SKIPPED_IN_A_ROW."""
    if streak >= MAX_SKIPPED_IN_A_ROW:
        raise TrainingDiverged(f"the loss or its gradient was not finite for {streak} steps in a row at step {step}: "
                               f"the run diverged. Resume from its last checkpoint (--resume) with a lower --lr "
                               f"(now {cfg.lr:g}) or --clip (now {cfg.clip:g})")
    return streak


def _lay_out_1x1(module: torch.nn.Module, layout: torch.memory_format) -> None:
    """Give ``module``'s 1×1 kernels the memory layout their gradients come in (DDP's buckets take a
    parameter's layout, and warn and copy where a gradient has another)."""
    for p in module.parameters():
        if p.dim() == 4 and p.shape[2:] == (1, 1):
            p.data = p.data.clone(memory_format=layout)


def _set_lr(opt: torch.optim.Optimizer, lr: float, factor: float = 1.0) -> None:
    """Every parameter group's learning rate: ``lr`` times the group's ``lr_scale`` (the density models'
    faster rate; 1 where it has none) times ``factor`` (the warm-up's)."""
    for group in opt.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0) * factor


def step_key(seed: int, rank: int, draw: int) -> tuple[int, int, int]:
    """What a step's random draws are seeded with: the run's seed, the process's rank, and the number
    of batches drawn before it (its step's number, plus the steps skipped before it)."""
    return (seed, rank, draw)


def _seed_step(gen: torch.Generator, seed: int, rank: int, draw: int) -> None:
    """Seed torch's generators for the ``draw``-th batch: ``gen`` (nested dropout's draws) and the
    global one (the quantization noise), both from :func:`step_key`."""
    a, b = seeds(step_key(seed, rank, draw), 2)
    torch.manual_seed(a)
    gen.manual_seed(b)


def prefetched(sampler: CropSampler, batch: int, workers: int, key: tuple[int, int], start: int = 0,
               depth: int = 2):
    """The crops of steps ``start``, ``start + 1``, … (pinned uint8 NHWC tensors), made ahead by
    ``workers`` threads.

    For GPU training, where one thread cropping and resizing (~100 ms for 32 crops of 256²)
    would leave the GPU idle most of the time. Step s's crops come from ``sampler`` forked with
    ``(*key, s)`` (``key``: the run's seed and the rank, as :func:`step_key`), worker i makes the
    steps ``start + i``, ``start + i + workers``, … and the batches are taken from the workers in
    turn: the same crops as ``sampler.fork(step_key(seed, rank, s)).crops(batch)`` in the same
    order, whatever the threads' timing or their number."""
    import queue
    import threading

    queues: list[queue.Queue] = [queue.Queue(maxsize=depth) for _ in range(workers)]

    pin = torch.cuda.is_available()

    def work(first: int, q: queue.Queue) -> None:
        try:
            for s in itertools.count(first, workers):
                t = torch.from_numpy(sampler.fork((*key, s)).crops(batch))
                q.put(t.pin_memory() if pin else t)
        except Exception as e:  # noqa: BLE001 - handed to the training loop, which raises it
            q.put(e)

    for i, q in enumerate(queues):
        threading.Thread(target=work, args=(start + i, q), name=f"crops{i}", daemon=True).start()
    while True:
        for q in queues:
            item = q.get()
            if isinstance(item, Exception):
                raise item
            yield item


def _check_together(held: Held, world: int, device: torch.device) -> None:
    """:meth:`Held.check` between two steps, on every rank at once under torchrun: when any rank holds
    an interrupt, all raise KeyboardInterrupt here (Ctrl-C reaches the ranks at different moments;
    one that stopped alone left the others in an all-reduce with a closed peer, a traceback)."""
    if world == 1:
        held.check()
        return
    if not _all_agree(held.held is not None, world, device):
        return  # one that comes after the agreement (the handler runs as the all-reduce returns) waits a step
    if held.held is None:
        raise KeyboardInterrupt
    held.check()


def _all_agree(flag: bool, world: int, device: torch.device) -> bool:
    """``flag`` if any rank raised it (all ranks get the same answer); ``flag`` itself on one process."""
    if world == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _append_val(path: Path, step: int, v: dict) -> None:
    n = len(v["bpp"])
    if not path.exists():
        path.write_text("step,loss," + ",".join(f"bpp{i + 1}" for i in range(n)) + ","
                        + ",".join(f"psnr{i + 1}" for i in range(n)) + "\n")
    with path.open("a") as f:
        f.write(f"{step},{v['loss']:.5f}," + ",".join(map(str, v["bpp"])) + "," + ",".join(map(str, v["psnr"]))
                + "\n")


def _check_ranks(model: VAEGAN, out: Path, rank: int, world: int) -> None:
    """Write every rank's final weight digest to ranks.json (rank 0); they must all be equal."""
    digest = _params_digest(model)
    digests = [digest]
    if world > 1:
        gathered: list[str | None] = [None] * world
        dist.all_gather_object(gathered, digest)
        digests = [str(g) for g in gathered]
    if rank == 0:
        (out / "ranks.json").write_text(json.dumps({"world_size": world, "digests": digests,
                                                    "identical": len(set(digests)) == 1}, indent=1) + "\n")
        if len(set(digests)) != 1:
            log.error("the ranks' weights diverged: %s", digests)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    """A TrainConfig from ``--config`` (with ``--resume`` and no ``--config``: the run's own
    ``last.toml``), overridden by the flags that were given."""
    config = config_file(a, TrainConfig().out, "last.toml")
    cfg = TrainConfig.load(config) if config else TrainConfig()
    d = vars(a)
    for f in asdict(cfg):
        if d.get(f) is not None:
            setattr(cfg, f, d[f])
    cfg.out = run_folder(a, cfg.out)
    return cfg


def main(argv: list[str] | None = None) -> int:
    """``python -m vidcodec.train.vaegan ARGS``: ``vidcodec train ARGS`` (its errors, exit codes, Ctrl-C)."""
    from ..cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
