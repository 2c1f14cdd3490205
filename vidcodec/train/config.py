"""Training configuration: one dataclass, read from and written to TOML.

Every checkpoint gets a ``NAME.toml`` beside it with the exact configuration that produced it, so
a run can be repeated with ``vidcodec train --config runs/x/last.toml``.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import UsageError
from ..models.card import check_name
from ..outputs import writable_folder

DISTORTIONS = ("ssim+l1", "ms-ssim+l1", "mse")
DEFAULT_LAMBDAS = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
DEFAULT_LEVEL_CHANNELS = [8, 12, 24, 40, 56, 72, 88, 96]
# Clips kept out of training: the shipped samples are cut from the first two, the third is held out for eval.
DEFAULT_EXCLUDE = ["bikes.mp4", "vtest.avi", "diver.mov"]


def header(command: str) -> str:
    """The first line of a settings file written for ``vidcodec COMMAND`` (it names the trainer)."""
    return f"# vidcodec training configuration (vidcodec {command} --config THIS_FILE)"


class TomlConfig:
    """Flat dataclass configurations written to and read from TOML (unknown keys are refused)."""

    # Settings of one session, not of the run: a run's saved settings hold their defaults, so that a
    # resume from them (--resume, --config RUN/last.toml) is not stopped by an earlier trial's time limit.
    SESSION_ONLY: tuple[str, ...] = ()

    def to_toml(self) -> str:
        """The configuration as TOML text (flat table of strings, numbers, booleans and lists); the
        :attr:`SESSION_ONLY` settings at their defaults."""
        lines = [header(self.COMMAND)]
        defaults = type(self)()
        for k, v in asdict(self).items():
            v = getattr(defaults, k) if k in self.SESSION_ONLY else v
            lines.append(f"{k} = {_toml_value(v)}")
        return "\n".join(lines) + "\n"

    def save(self, path: Path) -> None:
        path.write_text(self.to_toml())

    @classmethod
    def load(cls, path: str | Path):
        """Read a TOML file; unknown keys are an error (a typo must not silently change nothing)."""
        try:
            d = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"config file {path} does not exist") from None
        except IsADirectoryError:
            raise UsageError(f"config file {path} is a folder: give the run's .toml file") from None
        except UnicodeDecodeError:
            raise UsageError(f"config file {path} is not text (a TOML file such as a run's last.toml)") from None
        except tomllib.TOMLDecodeError as e:
            raise UsageError(f"config file {path} is not valid TOML: {e}") from None
        return cls.from_dict(d, where=str(path))

    @classmethod
    def from_dict(cls, d: dict, where: str = "config"):
        """The configuration of a dict of settings; unknown keys and values of the wrong type are a
        UsageError (a list of strings may be given as one string)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UsageError(f"{where}: unknown setting(s) {', '.join(unknown)}")
        defaults = asdict(cls())
        return cls(**{k: _checked(k, v, defaults[k], where) for k, v in d.items()})


@dataclass
class TrainConfig(TomlConfig):
    """Everything that determines a training run (paths included)."""

    COMMAND = "train"

    data: list[str] = field(default_factory=list)  # folders or files of images and videos
    out: str = "runs/vaegan"
    name: str = "vaegan"
    init: str = ""  # start from this checkpoint's weights (fine-tuning), unless resuming
    # architecture
    enc_channels: int = 64
    dec_channels: int = 48
    dec_last_channels: int = 0  # width of the synthesis's last hidden layer; 0 = dec_channels
    latent_channels: int = 96
    lambdas: list[float] = field(default_factory=lambda: list(DEFAULT_LAMBDAS))
    level_channels: list[int] = field(default_factory=lambda: list(DEFAULT_LEVEL_CHANNELS))  # [] = all
    # losses
    distortion: str = "ssim+l1"
    ssim_weight: float = 0.4  # alpha of alpha * (1 - SSIM) + (1 - alpha) * L1
    nested_dropout: float = 0.25  # probability that a sample codes a random shorter channel prefix
    saliency_floor: float = 0.3  # 0 = no saliency weighting; else the lowest relative weight
    adv_weight: float = 0.01  # 0 = no adversarial term; else beta in lambda * (d + beta * adv)
    adv_start: int = 0  # step at which the discriminator starts to train and the term is added
    disc_channels: int = 32
    disc_lr: float = 1e-4
    # optimisation
    steps: int = 200_000
    batch: int = 12
    crop: int = 128
    lr: float = 1e-4
    warmup: int = 0  # the learning rate rises linearly over the run's first N steps (fine-tuning with fresh Adam moments)
    density_lr_scale: float = 10.0
    clip: float = 1.0
    seed: int = 0
    threads: int = 2
    device: str = "auto"  # auto | cpu | cuda
    compile: bool = False  # torch.compile the step's forward and losses (fewer, fused kernels on a GPU)
    # data
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    frames_per_video: int = 120
    val_every_nth: int = 12
    val_crops: int = 12
    val_size: int = 256
    # bookkeeping
    val_every: int = 500
    log_every: int = 50
    max_minutes: float = 0.0  # stop (validated and saved) after this much wall-clock time; 0 = no limit
    SESSION_ONLY = ("max_minutes",)  # a time limit is this session's (the machine's), not the run's

    def check(self) -> TrainConfig:
        """Raise UsageError for settings that cannot work; return self."""
        _finite(self)
        if not self.data:
            raise UsageError("no training data: give folders or files of images and videos (--data)")
        _check_out(self.out)
        check_name(self.name)
        if self.distortion not in DISTORTIONS:
            raise UsageError(f"--distortion must be one of {', '.join(DISTORTIONS)}")
        ladder = f"the ladder {self.level_channels}"  # the default one, when the user gave none
        fix = ("; give --level-channels with one count per level, or --level-channels with no value to code "
               "every channel at every level")
        if self.level_channels and len(self.level_channels) != len(self.lambdas):
            raise UsageError(f"--level-channels needs one count per level ({len(self.lambdas)} lambdas), "
                             f"{ladder} has {len(self.level_channels)}{fix}")
        if self.level_channels and (max(self.level_channels) > self.latent_channels
                                    or self.level_channels != sorted(self.level_channels)):
            raise UsageError(f"--level-channels must be non-decreasing and at most --latent-channels "
                             f"({self.latent_channels}): {ladder} is not{fix}")
        if self.dec_last_channels < 0:
            raise UsageError("--dec-last-channels must be >= 1 (or 0 for --dec-channels)")
        if not 0 <= self.nested_dropout <= 1:
            raise UsageError("--nested-dropout is a probability in [0, 1]")
        if not 0 <= self.saliency_floor <= 1:
            raise UsageError("--saliency-floor must be in [0, 1] (0 disables saliency weighting)")
        if self.adv_weight < 0:
            raise UsageError("--adv-weight must be >= 0 (0 disables the adversarial term)")
        if self.crop % 16:
            raise UsageError(f"--crop must be a multiple of 16 (got {self.crop})")
        if self.val_size < 16 or self.val_size % 16:
            raise UsageError(f"val_size (the config file's validation crop side) must be a positive multiple of 16 "
                             f"(got {self.val_size})")
        _at_least(1, crop=self.crop, batch=self.batch, enc_channels=self.enc_channels,
                  dec_channels=self.dec_channels, latent_channels=self.latent_channels,
                  disc_channels=self.disc_channels, threads=self.threads, frames_per_video=self.frames_per_video,
                  val_every_nth=self.val_every_nth, val_crops=self.val_crops, val_every=self.val_every,
                  log_every=self.log_every)
        _at_least(0, steps=self.steps, warmup=self.warmup, adv_start=self.adv_start, max_minutes=self.max_minutes,
                  clip=self.clip)
        _above_0(lr=self.lr, disc_lr=self.disc_lr, density_lr_scale=self.density_lr_scale)
        if not 0 <= self.ssim_weight <= 1:
            raise UsageError(f"--ssim-weight is a mix in [0, 1] (got {self.ssim_weight:g})")
        if not self.lambdas or any(not lam > 0 for lam in self.lambdas):
            raise UsageError(f"--lambdas must be numbers above 0, one per quality level (got {self.lambdas})")
        if self.level_channels and min(self.level_channels) < 1:
            raise UsageError("--level-channels must be at least 1 each")
        _check_seed_and_device(self)
        return self

@dataclass
class GanTrainConfig(TomlConfig):
    """Everything that determines a GAN training run."""

    COMMAND = "train-gan"

    data: list[str] = field(default_factory=list)  # images and/or videos (files or folders)
    out: str = "runs/pgan"
    name: str = "pgan"
    domain: str = ""  # what the generator is meant to represent (written to the model card)
    latent: int = 256
    depths: list[int] = field(default_factory=lambda: [64, 64, 64, 32, 16])  # 4×4 … 64×64
    steps_per_scale: int = 2000
    final_steps: int = 4000  # steps at the last scale, its fade-in included
    fade: float = 0.5  # fraction of each new scale's steps spent fading it in
    batch: int = 8
    lr: float = 1e-3
    gp_weight: float = 10.0
    drift: float = 1e-3
    rec_weight: float = 1.0  # 0 = plain PGAN (no encoder)
    cycle_weight: float = 0.1
    ssim_weight: float = 0.4
    ema: float = 0.999
    holdout: float = 0.25  # last fraction of each video's frames kept for validation
    max_frames: int = 3000  # per video (evenly spaced when longer)
    flip: bool = False
    jitter: float = 0.08  # random crops of (1 − jitter … 1) of each side
    seed: int = 0
    threads: int = 2
    device: str = "auto"
    log_every: int = 50
    val_every: int = 500

    def check(self) -> GanTrainConfig:
        _finite(self)
        if not self.data:
            raise UsageError("no training data: give images and/or videos of the generator's domain (--data)")
        _check_out(self.out)
        check_name(self.name)
        if len(self.depths) < 2 or any(d < 1 for d in self.depths):
            raise UsageError("--depths needs at least two positive feature counts (4×4 and 8×8)")
        if self.steps_per_scale < 1 or self.final_steps < 1 or self.batch < 2:
            raise UsageError("--steps-per-scale and --final-steps must be >= 1, --batch >= 2")
        if not 0 <= self.fade < 1 or not 0 <= self.holdout < 1 or not 0 <= self.jitter < 0.5:
            raise UsageError("--fade and --holdout must be in [0, 1), --jitter in [0, 0.5)")
        _at_least(1, latent=self.latent, max_frames=self.max_frames, threads=self.threads, log_every=self.log_every,
                  val_every=self.val_every)
        _at_least(0, gp_weight=self.gp_weight, drift=self.drift, rec_weight=self.rec_weight,
                  cycle_weight=self.cycle_weight)
        _above_0(lr=self.lr)
        if not 0 <= self.ema < 1 or not 0 <= self.ssim_weight <= 1:
            raise UsageError("--ema must be in [0, 1) and --ssim-weight in [0, 1]")
        _check_seed_and_device(self)
        return self

    @property
    def resolution(self) -> int:
        return 4 * 2 ** (len(self.depths) - 1)

    @property
    def total_steps(self) -> int:
        return self.steps_per_scale * (len(self.depths) - 1) + self.final_steps


DEVICES = ("auto", "cpu", "cuda")


def _check_seed_and_device(cfg: TrainConfig | GanTrainConfig) -> None:
    """UsageError for a seed numpy and torch cannot take, or a device that is not one of DEVICES (a
    config file's "tpu" had trained on the CPU without a word, and was written into the run's config)."""
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or not 0 <= cfg.seed < 2**63:
        raise UsageError(f"--seed must be a whole number from 0 to 2**63 - 1 (got {cfg.seed})")
    if cfg.device not in DEVICES:
        raise UsageError(f"--device must be one of {', '.join(DEVICES)} (got {cfg.device!r})")


def _finite(cfg: object) -> None:
    """UsageError naming the first setting that is infinite or not a number (a run with one would
    only ever skip its steps)."""
    for f in fields(cfg):  # type: ignore[arg-type]
        value = getattr(cfg, f.name)
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise UsageError(f"--{f.name.replace('_', '-')} must be a finite number (got {value})")


def _at_least(low: float, **values: float) -> None:
    """UsageError naming the first setting below ``low`` (as its option, --like-this)."""
    for name, value in values.items():
        if value < low:
            raise UsageError(f"--{name.replace('_', '-')} must be at least {low:g} (got {value:g})")


def _above_0(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be above 0 (got {value:g})")


def _check_out(out: str) -> None:
    if Path(out).exists() and not Path(out).is_dir():
        raise UsageError(f"--out {out} is a file: give a folder (new or existing) for the run")
    if writable_folder(out) is None:
        raise UsageError(f"--out {out}: cannot write there; give a folder you can write to")


def _checked(name: str, value: object, default: object, where: str) -> object:
    """``value`` of setting ``name`` if it has the type of the setting's ``default`` (an int for a
    float, a string for a list of strings), else UsageError."""
    def fits(v: object, d: object) -> bool:
        if isinstance(d, bool):
            return isinstance(v, bool)
        if isinstance(d, int):
            return isinstance(v, int) and not isinstance(v, bool)
        if isinstance(d, float):
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        return isinstance(v, type(d))

    if isinstance(default, list):
        item = {"lambdas": 0.0, "depths": 0, "level_channels": 0}.get(name, default[0] if default else "")
        if isinstance(item, str) and isinstance(value, str):
            value = [value]
        if isinstance(value, list) and all(fits(v, item) for v in value):
            return [float(v) for v in value] if isinstance(item, float) else value
        kind = {str: "strings", int: "integers", float: "numbers"}[type(item)]
        raise UsageError(f"{where}: {name} must be a list of {kind}, got {value!r}")
    if fits(value, default):
        return float(value) if isinstance(default, float) else value
    kind = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[type(default)]
    raise UsageError(f"{where}: {name} must be {kind}, got {value!r}")


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")
