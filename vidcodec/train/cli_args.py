"""The training flags, shared by ``vidcodec train`` and ``python -m vidcodec.train.vaegan``.

Kept apart from the training code so that building the command line does not import torch.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict
from pathlib import Path

from ..errors import UsageError
from .config import DEFAULT_EXCLUDE, DISTORTIONS, GanTrainConfig, TrainConfig, header


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The training flags (shared by ``vidcodec train`` and ``python -m vidcodec.train.vaegan``)."""
    d = TrainConfig()
    p.add_argument("--config", metavar="TOML", help="read settings from this file (flags given override it)")
    p.add_argument("--data", nargs="+", help="folders or files of images and videos (videos are read with PyAV, "
                   "--frames-per-video frames sampled from each)")
    p.add_argument("--out", help=f"run folder: checkpoints, TOML configs, log.csv, val.csv, curves.png "
                   f"(default {d.out})")
    p.add_argument("--name", help=f"model name written into the checkpoints (default {d.name})")
    p.add_argument("--init", metavar="CKPT", help="start from this checkpoint's weights (fine-tuning)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT from its last.safetensors (refused when there is none)")
    g = p.add_argument_group("architecture")
    g.add_argument("--enc-channels", type=int, help=f"width of the analysis's hidden layers (default {d.enc_channels})")
    g.add_argument("--dec-channels", type=int,
                   help="width of the synthesis's first two hidden layers; with --init from a narrower model "
                   f"the new channels start without effect on the output (function-preserving widening; "
                   f"default {d.dec_channels})")
    g.add_argument("--dec-last-channels", type=int, metavar="N",
                   help="width of the synthesis's last hidden layer, at half the output resolution (0 = "
                   "--dec-channels); most of the decoding time is spent there. With --init from a wider "
                   "model, its least important channels are pruned; from a narrower one, widened as above")
    g.add_argument("--latent-channels", type=int,
                   help=f"channels of the latent, the most the ladder can code (default {d.latent_channels})")
    g.add_argument("--lambdas", nargs="+", type=float,
                   help=f"rate-distortion trade-off of each quality level (default {d.lambdas})")
    g.add_argument("--level-channels", nargs="*", type=int,
                   help=f"latent channels coded at each level, a non-decreasing ladder; none = all channels at "
                   f"every level (default {d.level_channels})")
    g = p.add_argument_group("losses")
    g.add_argument("--distortion", choices=DISTORTIONS, help=f"default {d.distortion}")
    g.add_argument("--ssim-weight", type=float, help=f"alpha in alpha*(1-SSIM)+(1-alpha)*L1 (default {d.ssim_weight})")
    g.add_argument("--saliency-floor", type=float,
                   help=f"weight the distortion by spectral-residual saliency, lowest relative weight this; "
                   f"0 = off (default {d.saliency_floor})")
    g.add_argument("--adv-weight", type=float,
                   help=f"weight beta of the (image, latent)-pair adversarial term; 0 = off (default {d.adv_weight})")
    g.add_argument("--adv-start", type=int, help=f"step at which the adversarial term starts (default {d.adv_start})")
    g.add_argument("--nested-dropout", type=float,
                   help=f"probability of training a sample on a random channel prefix (default {d.nested_dropout})")
    g = p.add_argument_group("optimisation")
    for name, typ, what in (
            ("steps", int, "training steps in all (a resumed run goes on to this step)"),
            ("batch", int, ("crops a step (per process under torchrun); sample i trains level i mod L, in turn "
                            "when the batch is not a multiple of the L levels")),
            ("crop", int, "side of the square training crops, a multiple of 16"),
            ("lr", float, "the autoencoder's learning rate (Adam)"),
            ("warmup", int, "steps over which the learning rate rises from 0 (a fresh optimizer's first moves)"),
            ("density-lr-scale", float, "the entropy models' and gains' learning rate, as a multiple of --lr"),
            ("clip", float, "clip each step's gradient to this norm (autoencoder and discriminator); 0 = no clipping"),
            ("seed", int, "seed of every random draw: the same seed and data give the same run"),
            ("threads", int, "torch threads (on a shared or 2-core CPU, 1 can be faster)"),
            ("frames-per-video", int, "frames sampled from each video, spread over it"),
            ("val-every", int, "validate (and save best.safetensors when it improves) every N steps"),
            ("val-crops", int, "validation crops, from the held-out files"),
            ("val-every-nth", int, "hold out every Nth file for validation"),
            ("log-every", int, "a line in log.csv (and the log) every N steps"),
            ("disc-lr", float, "the discriminator's learning rate"),
            ("disc-channels", int, "the discriminator's width")):
        g.add_argument(f"--{name}", type=typ, help=f"{what} (default {getattr(d, name.replace('-', '_'))})")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default auto (CUDA when available)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile each step's forward pass and losses: fused kernels, for GPUs, where a "
                   "step of this small model is bound by the kernels it launches; costs a minute or so of "
                   "compiling at the start, and falls back to eager if compiling fails (default off)")
    g.add_argument("--max-minutes", type=float, metavar="M",
                   help="stop after M minutes of wall-clock time, with a last validation and checkpoint "
                   "(for time-limited machines; --resume continues), 0 = no limit (default 0)")
    g.add_argument("--exclude", nargs="*", help=f"file names to leave out of the data (default {DEFAULT_EXCLUDE})")


# What each ``vidcodec train-gan`` flag does (its default is added to the help).
GAN_HELP = {
    "data": "images and/or videos of the generator's domain, files or folders (videos read with PyAV)",
    "out": "run folder: last/best checkpoints, config.toml, log.csv, curves.png",
    "name": "model name written into the checkpoints and the installed model",
    "domain": "what the generator represents, written into the model card (e.g. 'talking head')",
    "latent": "size of the latent the encoder searches per frame",
    "depths": "feature counts per scale, 4x4 first; N counts give a 4*2^(N-1) pixel square",
    "steps_per_scale": "steps at each scale before the last, its fade-in included",
    "final_steps": "steps at the last scale, its fade-in included",
    "fade": "fraction of each new scale's steps spent fading it in",
    "batch": "frames per step",
    "lr": "Adam's learning rate (betas 0, 0.99) for all networks",
    "gp_weight": "WGAN-GP gradient penalty on the discriminator",
    "drift": "penalty on the discriminator's squared scores of real frames",
    "rec_weight": "weight of the encoder's reconstruction error, L1 + (1 - SSIM) of G(E(x)); 0: a plain PGAN, "
                  "no encoder",
    "cycle_weight": "weight of the latent cycle term E(G(z)) = z on random samples",
    "ssim_weight": "share of (1 - SSIM) in the reconstruction error, the rest L1",
    "ema": "decay of the generator's moving average (kept beside it; --install ships the generator itself)",
    "holdout": "last fraction of every video's frames kept out of training, for validation (best.safetensors)",
    "max_frames": "frames sampled per video, evenly spaced: only these are held in memory (W*H*3 bytes each)",
    "flip": "random horizontal flips",
    "jitter": "random crops of (1 - jitter ... 1) of each side before squashing",
    "seed": "the same seed and settings give the same run",
    "threads": "CPU threads for torch",
    "device": "auto (CUDA when present), cpu or cuda",
    "log_every": "steps between log.csv rows (and progress lines when stderr is not a terminal)",
    "val_every": "steps between validations (PSNR of held-out frames through the encoder) and resume points",
}


def add_gan_arguments(p: argparse.ArgumentParser) -> None:
    """The ``vidcodec train-gan`` flags (every GanTrainConfig field; the flag overrides --config)."""
    d = GanTrainConfig()
    p.add_argument("--config", metavar="TOML", help="read settings from this file (flags given override it)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT from its last.safetensors (refused when there is none)")
    p.add_argument("--install", metavar="DIR",
                   help="after training, write the shipped generator (NAME.safetensors + NAME.json) to DIR; "
                   "put DIR in VIDCODEC_MODEL_PATH to encode with it")
    for f in d.__dataclass_fields__.values():
        flag = "--" + f.name.replace("_", "-")
        default = getattr(d, f.name)
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        what = f"{GAN_HELP[f.name]} (default {shown})" if default not in ([], "") else GAN_HELP[f.name]
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=what)
        elif isinstance(default, list):
            typ = int if f.name == "depths" else str
            p.add_argument(flag, nargs="+", type=typ, metavar="N" if typ is int else "PATH", help=what)
        elif f.name == "device":
            p.add_argument(flag, choices=("auto", "cpu", "cuda"), help=what)
        else:
            metavar = {int: "N", float: "X"}.get(type(default), {"out": "DIR"}.get(f.name, f.name.upper()))
            p.add_argument(flag, type=type(default), metavar=metavar, help=what)


def config_file(a: argparse.Namespace, default_out: str, run_file: str) -> str | Path | None:
    """The settings file a run starts from: ``--config``, else with ``--resume`` the run's own
    ``run_file`` in its folder (``--out``, else ``default_out``) when there is one."""
    run_config = Path(a.out or default_out, run_file)
    if a.resume and not a.config:
        _refuse_other_kind(run_config.parent, RUN_FILES[run_file])
    if a.resume and not a.config and run_config.exists():
        logging.getLogger("vidcodec").info("resuming with the settings of %s (flags given override them)", run_config)
        return run_config
    return a.config


# Each trainer's settings file in its run folder, and the command that resumes such a run.
RUN_FILES = {"last.toml": "train", "config.toml": "train-gan"}


def run_folder(a: argparse.Namespace, out: str, run_file: str = "last.toml") -> str:
    """The run's folder, checked (:func:`refuse_overwrite`): ``out``, unless ``--resume`` is given with a
    ``--config`` naming a run's own settings file (``RUN/last.toml``, without ``--out``): then the folder
    of ``--config``, whatever its ``out`` says (the folder a copied run was copied from, or a relative
    path from the folder it was started in). A ``--resume`` without ``--config`` or ``--data`` needs the
    run's ``run_file`` (else the settings would be the defaults: no data)."""
    if a.resume and a.config and not a.out:
        folder = Path(a.config).parent
        if (folder / "last.safetensors").exists() and not _same_folder(folder, Path(out)):
            logging.getLogger("vidcodec").info("resuming the run in %s, the folder of --config (its out names %s: "
                                               "the folder it was started from, or the run it was copied from, "
                                               "which is left as it is)", folder, out)
            out = str(folder)
    refuse_overwrite(a, out)
    if a.resume and not a.config and not getattr(a, "data", None) and not Path(out, run_file).exists():
        raise UsageError(f"--resume: {out} has last.safetensors but not its settings ({run_file}); give them with "
                         f"--config FILE (a copy of the run's {run_file}), or as flags (--data ... and the rest)")
    return out


def run_kind(folder: Path) -> str | None:
    """Which trainer made the run in ``folder`` ("train" or "train-gan"; None: neither can tell): only
    ``vidcodec train`` writes last.toml; both write config.toml, whose first line names the command."""
    if (folder / "last.toml").exists():
        return "train"
    try:
        with (folder / "config.toml").open(encoding="utf-8", errors="replace") as f:
            first = f.readline()
    except OSError:
        return None
    return next((cmd for cmd in ("train-gan", "train") if first.rstrip("\n") == header(cmd)), None)


def _refuse_other_kind(folder: Path, command: str) -> None:
    """A --resume of ``folder`` by ``command`` when the other trainer made the run there: said, with
    the command that resumes it (its settings would be refused key by key, or be no settings at all)."""
    kind = run_kind(folder)
    if kind is not None and kind != command and (folder / "last.safetensors").exists():
        raise UsageError(f"{folder} is a `vidcodec {kind}` run: resume it with vidcodec {kind} --out {folder} --resume")


def _same_folder(a: Path, b: Path) -> bool:
    """Whether two paths name the same folder (False when either does not exist)."""
    try:
        return a.samefile(b)
    except OSError:
        return False


def refuse_overwrite(a: argparse.Namespace, out: str) -> None:
    """A new run (no ``--resume``) must not start over the one in ``out``."""
    if not a.resume and Path(out, "last.safetensors").exists():
        raise UsageError(f"{out} already holds a run: add --resume to continue it, or choose another --out")
    if a.resume and not Path(out, "last.safetensors").exists():
        where = "" if Path(out).is_absolute() else f" (a relative --out is taken from the current folder, {Path.cwd()})"
        raise UsageError(f"--resume: {out} holds no run to resume (no last.safetensors){where}; check --out, or "
                         f"leave --resume out to start a new run")


def gan_config_from_args(a: argparse.Namespace) -> GanTrainConfig:
    """A GanTrainConfig from ``--config`` (with ``--resume`` and no ``--config``: the run's own
    ``config.toml``), overridden by the flags that were given. Refuses to start a new run over an
    existing one."""
    config = config_file(a, GanTrainConfig().out, "config.toml")
    base = asdict(GanTrainConfig.load(config)) if config else {}
    for name in GanTrainConfig.__dataclass_fields__:
        v = getattr(a, name, None)
        if v is not None:
            base[name] = v
    cfg = GanTrainConfig.from_dict(base)
    cfg.out = run_folder(a, cfg.out, "config.toml")  # before check(): a run that is not there is the error to say
    return cfg.check()
