"""Progressive GAN training for the GAN mode (``vidcodec train-gan``).

The generator grows from 4×4 to ``4·2^(len(depths)−1)`` pixels, one scale at a time; each new
scale fades in over the first ``fade`` fraction of its steps (alpha 1 → 0, the zoo's convention),
real images being blended the same way. Losses are PGAN's: WGAN-GP for the discriminator (gradient
penalty 10, drift 1e-3), −D(G(z)) for the generator, Adam(0, 0.99).

The codec inverts the generator (a latent is searched per frame), so it matters more that every
frame of the domain *has* a good latent than that random samples look good. With ``rec_weight > 0``
(the default) an encoder with the discriminator's architecture grows alongside (progressively
growing inference, PIONEER) and generator + encoder also minimise the L1 + (1 − SSIM)
reconstruction error of real frames through ``G(E(x))`` plus a latent cycle term on samples. The
encoder is shipped with the generator: it gives keyframes their starting latent.

Frames are squashed to the generator's square resolution (the decoder stretches the output back
to the stream's size), from images and video frames; ``holdout`` keeps the last fraction of every
video's frames out of training for validation (reconstruction PSNR through the encoder at the
current scale; the best checkpoint at the final scale is kept, not the last).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from .. import figures
from ..errors import UsageError, first_line
from ..models.pgan import Discriminator, Encoder, Generator, PGANConfig, pixel_norm
from ..outputs import usual_mode
from . import runlog
from .checkpoint import atomic_save_file, damaged_resume, metadata_in_order
from .config import GanTrainConfig
from .data import expand_sources, kind_of, load_image, no_media, readable, sample_video_frames, seeds
from .interrupts import Held
from .losses import psnr, ssim

log = logging.getLogger("vidcodec.train")


# ------------------------------------------------------------------ data


def load_frames(cfg: GanTrainConfig) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """(training images, held-out video frames, files used), full size RGB uint8."""
    train, val, used = [], [], []
    sources = [Path(d) for d in cfg.data]
    for f in expand_sources(sources, Path(cfg.out)):
        kind = kind_of(f, set(sources))
        if kind == "image":
            image = readable(f, load_image)
            if image is None:
                continue
            train.append(image)
        elif kind == "video":
            frames = readable(f, lambda p: sample_video_frames(p, cfg.max_frames))
            if not frames:
                continue
            cut = len(frames) - round(len(frames) * cfg.holdout)
            train.extend(frames[:cut])
            val.extend(frames[cut:])
        else:
            continue
        used.append(str(f))
    if not train:
        raise no_media(sources)
    return train, val, used


def squash(img: np.ndarray, res: int) -> np.ndarray:
    """An RGB image resized (area filter, aspect not kept) to res × res."""
    return cv2.resize(img, (res, res), interpolation=cv2.INTER_AREA)


class FrameSampler:
    """Batches of squashed frames at the final resolution, with small random crops (and flips)."""

    def __init__(self, images: list[np.ndarray], res: int, jitter: float, flip: bool, seed: int) -> None:
        self.images, self.res, self.jitter, self.flip = images, res, jitter, flip
        self.rng = np.random.default_rng(seed)

    def one(self) -> np.ndarray:
        img = self.images[self.rng.integers(len(self.images))]
        h, w = img.shape[:2]
        if self.jitter:
            s = 1 - self.rng.uniform(0, self.jitter)
            ch, cw = max(1, round(h * s)), max(1, round(w * s))
            y, x = self.rng.integers(0, h - ch + 1), self.rng.integers(0, w - cw + 1)
            img = img[y : y + ch, x : x + cw]
        out = squash(img, self.res)
        if self.flip and self.rng.random() < 0.5:
            out = out[:, ::-1]
        return out

    def batch(self, n: int) -> torch.Tensor:
        """(n, 3, res, res) in [−1, 1]."""
        b = np.stack([self.one() for _ in range(n)]).transpose(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(b)).float() / 127.5 - 1.0


def at_scale(x: torch.Tensor, res: int, alpha: float) -> torch.Tensor:
    """Real images at resolution ``res``, blended with their 2× coarser version while a scale fades in."""
    if x.shape[-1] != res:
        x = F.adaptive_avg_pool2d(x, res)
    if alpha > 0:
        coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
        x = alpha * coarse + (1 - alpha) * x
    return x


# ------------------------------------------------------------------ training


@dataclass
class _Nets:
    g: Generator
    d: Discriminator
    e: Encoder | None
    ema: Generator

    def modules(self) -> dict[str, torch.nn.Module]:
        out = {"g": self.g, "d": self.d, "ema": self.ema}
        if self.e is not None:
            out["e"] = self.e
        return out

    def set_alpha(self, alpha: float) -> None:
        for m in self.modules().values():
            m.alpha = alpha


def model_config(cfg: GanTrainConfig) -> PGANConfig:
    return PGANConfig(name=cfg.name, latent=cfg.latent, depths=list(cfg.depths))


def _build(cfg: GanTrainConfig, scales: int, device: torch.device) -> _Nets:
    """Networks grown to ``scales`` scales (1 = 4×4)."""
    mc = model_config(cfg)
    part = PGANConfig(name=mc.name, latent=mc.latent, depths=mc.depths[:scales])
    g, d = Generator.from_config(part), Discriminator.from_config(part)
    e = Encoder.from_config(part) if cfg.rec_weight > 0 else None
    ema = Generator.from_config(part)
    ema.load_state_dict(g.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    nets = _Nets(g.to(device), d.to(device), e.to(device) if e is not None else None, ema.to(device))
    return nets


def _grow(nets: _Nets, depth: int) -> None:
    device = next(nets.g.parameters()).device
    for m in nets.modules().values():
        m.add_scale(depth)
        m.to(device)
    nets.ema.scaleLayers[-1].load_state_dict(nets.g.scaleLayers[-1].state_dict())
    nets.ema.toRGBLayers[-1].load_state_dict(nets.g.toRGBLayers[-1].state_dict())
    for p in nets.ema.parameters():
        p.requires_grad_(False)


_OPTIMIZERS = {"opt_g": ("g", "e"), "opt_d": ("d",)}  # checkpoint prefix → the networks it optimizes


def _optimized(nets: _Nets, opt_name: str) -> dict[str, torch.nn.Parameter]:
    """The parameters one optimizer holds, by checkpoint name (``g.…``, ``e.…``, ``d.…``)."""
    mods = nets.modules()
    return {f"{mn}.{n}": p for mn in _OPTIMIZERS[opt_name] if mn in mods for n, p in mods[mn].named_parameters()}


def _optimizers(nets: _Nets, lr: float) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for generator + encoder, and for the discriminator (in :data:`_OPTIMIZERS` order)."""
    return tuple(torch.optim.Adam(list(_optimized(nets, name).values()), lr=lr, betas=(0.0, 0.99), eps=1e-8)
                 for name in _OPTIMIZERS)


def _schedule(cfg: GanTrainConfig, step: int) -> tuple[int, float]:
    """(scales grown, alpha) at a global step."""
    scale = min(step // cfg.steps_per_scale, len(cfg.depths) - 1)
    within = step - scale * cfg.steps_per_scale
    fade_steps = int(cfg.fade * cfg.steps_per_scale)
    alpha = 1.0 - within / fade_steps if scale > 0 and within < fade_steps else 0.0
    return scale + 1, alpha


def reconstruction_loss(x: torch.Tensor, y: torch.Tensor, ssim_weight: float) -> torch.Tensor:
    """L1 (+ SSIM from 16 px up) between images in [−1, 1]."""
    l1 = (x - y).abs().mean()
    if ssim_weight <= 0 or x.shape[-1] < 16:
        return l1
    s = ssim((x + 1) / 2, (y + 1) / 2).mean()
    return (1 - ssim_weight) * l1 + ssim_weight * (1 - s)


def _gradient_penalty(d: Discriminator, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(mix).sum(), mix, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


@torch.no_grad()
def validate(nets: _Nets, val: list[np.ndarray], res: int) -> float:
    """Mean PSNR (dB) of G(E(x)) on held-out frames at resolution ``res`` (nan without encoder/frames).

    G, not its moving average: the encoder is trained against G, and the average lags far behind
    G for thousands of steps after every growth (measured: 10.9 dB through the average vs 20.6 dB
    through G in the middle of the 32×32 fade-in)."""
    if nets.e is None or not val:
        return float("nan")
    nets.e.eval()
    x = torch.from_numpy(np.stack([squash(f, res) for f in val]).transpose(0, 3, 1, 2).copy()).float()
    x = (x / 127.5 - 1).to(next(nets.g.parameters()).device)
    psnrs = []
    for chunk in x.split(32):
        psnrs.append(psnr((chunk + 1) / 2, (nets.g(nets.e(chunk)) + 1) / 2))
    nets.e.train()
    return float(torch.cat(psnrs).mean())


def _save(path: Path, nets: _Nets, opts: tuple[torch.optim.Optimizer, ...] | None, meta: dict) -> None:
    tensors = {}
    for name, m in nets.modules().items():
        tensors.update({f"{name}.{k}": v.detach().contiguous().cpu() for k, v in m.state_dict().items()})
    if opts is not None:
        for oname, opt in zip(_OPTIMIZERS, opts):
            names = {id(p): k for k, p in _optimized(nets, oname).items()}
            for group in opt.param_groups:
                for p in group["params"]:
                    for key, value in opt.state.get(p, {}).items():
                        tensors[f"{oname}.{names[id(p)]}.{key}"] = torch.as_tensor(value).detach().contiguous().cpu()
    atomic_save_file(path, tensors)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def _load(path: Path, nets: _Nets, opts: tuple[torch.optim.Optimizer, ...]) -> dict:
    tensors = load_file(str(path))
    for name, m in nets.modules().items():
        m.load_state_dict({k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(name + ".")})
    for oname, opt in zip(_OPTIMIZERS, opts):
        params = _optimized(nets, oname)
        for k, v in tensors.items():
            if k.startswith(oname + "."):
                pname, fieldname = k[len(oname) + 1 :].rsplit(".", 1)
                opt.state[params[pname]][fieldname] = v.to(params[pname].device)
    return json.loads(path.with_suffix(".json").read_text())


def model_card(cfg: GanTrainConfig, nets: _Nets, step: int, val_psnr: float, used: list[str]) -> dict:
    return {"name": cfg.name, "kind": "pgan", "config": model_config(cfg).to_dict(), "encoder": nets.e is not None,
            "domain": cfg.domain, "val_psnr": round(val_psnr, 3) if math.isfinite(val_psnr) else None,
            "train": {"step": step, "data": [Path(u).name for u in used], "holdout": cfg.holdout,
                      "config": {k: v for k, v in asdict(cfg).items() if k not in ("data", "out")}}}


def export_generator(ckpt: Path, out: Path, which: str = "g") -> Path:
    """Write the shipped form of a training checkpoint: ``out`` (.safetensors: the generator as
    ``generator.*`` and the encoder as ``encoder.*``) and its JSON model card.

    ``which``: ``"g"``, the generator the encoder was trained with (the codec inverts it, so the
    encoder's guesses fit it), or ``"ema"``, its moving average (smoother random samples)."""
    if which not in ("g", "ema"):
        raise UsageError(f"which must be 'g' or 'ema' (got {which!r})")
    tensors = load_file(str(ckpt))
    meta = json.loads(ckpt.with_suffix(".json").read_text())
    card = {**meta["card"], "generator": "moving average" if which == "ema" else "trained"}
    keep = {"generator." + k[len(which) + 1 :]: v for k, v in tensors.items() if k.startswith(which + ".")}
    keep.update({"encoder." + k[2:]: v for k, v in tensors.items() if k.startswith("e.")})
    from ..models.zoo import file_sha256
    from .package import keep_earlier

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    metadata = {"name": card["name"], "kind": "pgan"}
    save_file(keep, str(tmp), metadata=metadata)
    metadata_in_order(tmp, metadata)  # the same bytes, so the same hash, on every run
    usual_mode(tmp)
    keep_earlier(out, file_sha256(tmp))  # another generator of this name: kept as NAME@HASH, its streams decode
    os.replace(tmp, out)
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return out


def train(cfg: GanTrainConfig, progress: bool = True, resume: bool = False) -> Path:
    """Run (or resume) a GAN training; return the path of the best checkpoint at the final scale
    (the last one when there is no validation data)."""
    cfg.check()
    out = Path(cfg.out)
    torch.set_num_threads(max(1, cfg.threads))
    device = torch.device("cuda" if cfg.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
    if cfg.device == "cuda" and device.type != "cuda":
        raise UsageError("--device cuda: no CUDA device is available")
    torch.manual_seed(cfg.seed)
    images, val, used = load_frames(cfg)
    out.mkdir(parents=True, exist_ok=True)  # after the data is found: a failed start leaves no folder
    res = cfg.resolution
    sampler = FrameSampler(images, res, cfg.jitter, cfg.flip, cfg.seed)
    log.info("GAN training: %d frames for training, %d held out, %d×%d, %s", len(images), len(val), res, res, device)
    if not val:
        why, fix = (("--holdout is 0", "give --holdout above 0") if not cfg.holdout else
                    ("they are cut from videos; the data has none", "add a video of the domain to --data"))
        log.warning("no held-out frames (%s): no validation, and the last checkpoint is the one installed; %s to "
                    "validate", why, fix)

    last = out / "last.safetensors"
    step, best = 0, -math.inf
    scales = 1
    if resume and last.exists():
        try:
            meta = json.loads(last.with_suffix(".json").read_text())
            step, best, scales = meta["step"], meta.get("best", -math.inf), meta["scales"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise damaged_resume(last.with_suffix(".json"), e, out) from None
        nets = _build(cfg, scales, device)
        opts = _optimizers(nets, cfg.lr)
        try:
            _load(last, nets, opts)
        except (KeyError, RuntimeError) as e:  # missing tensors (--rec-weight 0: no encoder), other sizes
            raise UsageError(f"{last} does not fit this configuration's networks ({first_line(e, 120)}): "
                             f"resume with the run's own settings (--resume alone takes {out / 'config.toml'})") from None
        except (SafetensorError, OSError, ValueError) as e:  # a damaged file
            raise damaged_resume(last, e, out) from None
        log.info("resumed %s at step %d (%d scales)", out, step, scales)
    else:
        nets = _build(cfg, 1, device)
        opts = _optimizers(nets, cfg.lr)
    cfg.save(out / "config.toml")
    log_path = out / "log.csv"
    new_log = not log_path.exists() or not resume
    if not new_log:
        runlog.keep_until(log_path, step)  # what an interrupted run logged after its last save
    logf = log_path.open("w" if new_log else "a", newline="")
    writer = csv.writer(logf)
    if new_log:
        writer.writerow(["step", "time", "resolution", "alpha", "d_loss", "g_loss", "rec", "val_psnr"])
    best_path = out / "best.safetensors"
    # a bar on a terminal; redirected, one log line per --log-every steps instead of \r-separated bars
    bar = tqdm(total=cfg.total_steps, initial=step, unit="step", desc="train-gan",
               disable=None if progress else True, dynamic_ncols=True)
    t0 = time.time()
    sums = np.zeros(3)
    count = 0
    first_step = step
    held = Held()  # a Ctrl-C or SIGTERM stops the run between two steps, not inside one
    try:
        while step < cfg.total_steps:
            held.check()
            # every random draw of a step (its crops, z, the penalty's mix, a new scale's weights) is
            # seeded by the step's number: a resumed run takes the steps the whole run would have
            sampler.rng = np.random.default_rng([cfg.seed, step])
            torch.manual_seed(seeds((cfg.seed, step), 1)[0])
            want, alpha = _schedule(cfg, step)
            while scales < want:
                _grow(nets, cfg.depths[scales])
                scales += 1
                opts = _optimizers(nets, cfg.lr)
            nets.set_alpha(alpha)
            r = 4 * 2 ** (scales - 1)
            opt_g, opt_d = opts
            real = at_scale(sampler.batch(cfg.batch).to(device), r, alpha)
            z = torch.randn(cfg.batch, cfg.latent, device=device)
            # discriminator: WGAN-GP + drift
            with torch.no_grad():
                fake = nets.g(z)
            d_real, d_fake = nets.d(real), nets.d(fake)
            loss_d = (d_fake.mean() - d_real.mean() + cfg.gp_weight * _gradient_penalty(nets.d, real, fake)
                      + cfg.drift * (d_real ** 2).mean())
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            if torch.isfinite(loss_d):
                opt_d.step()
            # generator (+ encoder), against the updated discriminator
            for p in nets.d.parameters():
                p.requires_grad_(False)
            loss_g = -nets.d(nets.g(z)).mean()
            rec = torch.zeros((), device=device)
            if nets.e is not None:
                rec = reconstruction_loss(nets.g(nets.e(real)), real, cfg.ssim_weight)
                cycle = ((pixel_norm(nets.e(nets.g(z).detach())) - pixel_norm(z)) ** 2).mean()
                loss_g = loss_g + cfg.rec_weight * rec + cfg.cycle_weight * cycle
            for p in nets.d.parameters():
                p.requires_grad_(True)
            if torch.isfinite(loss_g):
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                with torch.no_grad():
                    for pe, pg in zip(nets.ema.parameters(), nets.g.parameters()):
                        pe.lerp_(pg, 1 - cfg.ema)
            if not (torch.isfinite(loss_d) and torch.isfinite(loss_g)):
                log.warning("step %d: non-finite loss, update skipped", step)
            step += 1
            sums += (float(loss_d.detach()), float(loss_g.detach()), float(rec.detach()))
            count += 1
            bar.update(1)
            validating = step % cfg.val_every == 0 or step == cfg.total_steps
            if step % cfg.log_every == 0 or validating:  # a row at every validation, whatever --log-every is
                v = validate(nets, val, r) if validating else float("nan")
                m = sums / max(1, count)
                writer.writerow([step, round(time.time() - t0, 1), r, round(alpha, 3), *np.round(m, 5),
                                 "" if math.isnan(v) else round(v, 3)])
                logf.flush()
                bar.set_postfix(res=r, d=f"{m[0]:.3f}", g=f"{m[1]:.3f}", rec=f"{m[2]:.4f}",
                                **({"val": f"{v:.2f}dB"} if not math.isnan(v) else {}))
                if bar.disable and progress:
                    log.info("step %d res %d d %.3f g %.3f rec %.4f%s", step, r, m[0], m[1], m[2],
                             "" if math.isnan(v) else f" val {v:.2f} dB")
                sums[:] = 0
                count = 0
                final = scales == len(cfg.depths) and alpha == 0
                meta = {"step": step, "scales": scales, "best": best, "card": model_card(cfg, nets, step, v, used)}
                if final and not math.isnan(v) and v > best:
                    best = v
                    meta["best"] = best
                    _save(best_path, nets, None, meta)
                if validating:
                    _save(last, nets, opts, meta)
        held.check()
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM through the command line): keep what was trained
        if step > first_step:
            meta = {"step": step, "scales": scales, "best": best,
                    "card": model_card(cfg, nets, step, float("nan"), used)}
            _save(last, nets, opts, meta)
            log.warning("interrupted at step %d: saved %s (--resume continues from it)", step, last)
        raise
    finally:
        held.restore()
        bar.close()
        logf.close()
    _plot(out)
    return best_path if best_path.exists() else last


def _plot(out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    with (out / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    step = [int(r["step"]) for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for ax, key in zip(axes, ("d_loss", "g_loss", "rec")):
        ax.plot(step, [float(r[key]) for r in rows], lw=0.8)
        ax.set_title(key)
        ax.set_xlabel("step")
    vs = [(s, float(r["val_psnr"])) for s, r in zip(step, rows) if r["val_psnr"]]
    if vs:
        ax2 = axes[2].twinx()
        ax2.plot(*zip(*vs), "r.-", lw=0.8)
        ax2.set_ylabel("held-out PSNR via encoder (dB)", color="r")
    fig.tight_layout()
    figures.save_png(fig, out / "curves.png", dpi=100)
    plt.close(fig)
