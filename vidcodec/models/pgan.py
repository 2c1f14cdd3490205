"""Progressive GAN (Karras et al., 2018): generator and discriminator for the GAN mode.

The layout follows the conventions of facebookresearch/pytorch_GAN_zoo's PGAN so that a user
with their published weights (celebAHQ-256/512, ...) can load them offline, by path
(:func:`load_zoo_checkpoint`); the code here is written independently from the paper and that
project's documented behaviour:

* **Equalized learning rate.** Every convolution and linear layer keeps its weight drawn from
  N(0, 1) and multiplies its *output* (bias included) by the He constant ``sqrt(2 / fan_in)``,
  ``fan_in`` being the product of the weight's dimensions after the first. The wrapped layer is
  the submodule ``module`` (state-dict keys ``*.module.weight`` / ``*.module.bias``).
* **Pixel norm** ``x / sqrt(mean_c(x²) + 1e-8)`` on the latent and after every convolution of G.
* **Generator**: pixel-normed z → linear to 16·d0 → LeakyReLU(0.2) → (d0, 4, 4) → pixel norm →
  3×3 conv block at 4×4 → per added scale: nearest 2× upsample, two 3×3 conv blocks → 1×1 toRGB.
  While a scale fades in, ``alpha`` blends the upsampled toRGB of the previous scale:
  ``out = alpha · previous + (1 − alpha) · new`` (alpha = 0: the new scale only). Output is
  linear, images in about [−1, 1].
* **Discriminator**: fromRGB (1×1) → per scale (reversed): two 3×3 convs and 2× average
  pooling → minibatch standard deviation (groups of up to 4) as an extra channel at 4×4 → 3×3
  conv → linear 16·d0 → d0 → decision.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

LEAK = 0.2


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each pixel's feature vector to unit mean square (dim 1)."""
    return x * torch.rsqrt((x * x).mean(dim=1, keepdim=True) + eps)


class _Equalized(nn.Module):
    """Runtime He scaling of a wrapped layer: ``y = c · layer(x)`` with c = sqrt(2 / fan_in)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        nn.init.normal_(module.weight, 0.0, 1.0)
        nn.init.zeros_(module.bias)
        self.scale = math.sqrt(2.0 / math.prod(module.weight.shape[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x) * self.scale


def conv(cin: int, cout: int, k: int) -> _Equalized:
    return _Equalized(nn.Conv2d(cin, cout, k, padding=(k - 1) // 2))


def linear(cin: int, cout: int) -> _Equalized:
    return _Equalized(nn.Linear(cin, cout))


@dataclass
class PGANConfig:
    """Architecture: latent size and the feature depth of each scale (4×4 first)."""

    name: str = "pgan"
    latent: int = 128
    depths: list[int] = field(default_factory=lambda: [128, 128, 128, 64, 32])
    channels: int = 3

    @property
    def resolution(self) -> int:
        return 4 * 2 ** (len(self.depths) - 1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PGANConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _upscale(block: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    """One generator scale: nearest 2× upsample, then its convolutions, each with LeakyReLU and pixel norm."""
    x = F.interpolate(x, scale_factor=2, mode="nearest")
    for layer in block:
        x = pixel_norm(F.leaky_relu(layer(x), LEAK))
    return x


def _grown(net, depths: list[int]):
    """``net`` (built at 4×4 with ``depths[0]`` features) grown by one scale per further depth."""
    for d in depths[1:]:
        net.add_scale(d)
    return net


class Generator(nn.Module):
    """PGAN generator grown to ``len(depths)`` scales (see the module docstring)."""

    def __init__(self, latent: int, depth0: int, channels: int = 3) -> None:
        super().__init__()
        self.latent = latent
        self.depths = [depth0]
        self.channels = channels
        self.scaleLayers = nn.ModuleList()
        self.toRGBLayers = nn.ModuleList([conv(depth0, channels, 1)])
        self.formatLayer = linear(latent, 16 * depth0)
        self.groupScale0 = nn.ModuleList([conv(depth0, depth0, 3)])
        self.alpha = 0.0

    @classmethod
    def from_config(cls, c: PGANConfig) -> Generator:
        return _grown(cls(c.latent, c.depths[0], c.channels), c.depths)

    @property
    def resolution(self) -> int:
        return 4 * 2 ** len(self.scaleLayers)

    def add_scale(self, depth: int) -> None:
        """Grow by one scale (twice the resolution) with ``depth`` features; it fades in as alpha goes 1 → 0."""
        prev = self.depths[-1]
        self.scaleLayers.append(nn.ModuleList([conv(prev, depth, 3), conv(depth, depth, 3)]))
        self.toRGBLayers.append(conv(depth, self.channels, 1))
        self.depths.append(depth)

    def feature_shape(self, resolution: int) -> tuple[int, int, int]:
        """(channels, R, R) of the feature map at ``resolution`` (4, 8, ... up to the output's)."""
        k = self.scale_index(resolution)
        return self.depths[k], resolution, resolution

    def scale_index(self, resolution: int) -> int:
        """Index of the scale whose features are ``resolution`` × ``resolution`` (0 = 4×4)."""
        for k in range(len(self.depths)):
            if 4 << k == resolution:
                return k
        raise ValueError(f"generator has no {resolution}x{resolution} feature map "
                         f"(its scales are {', '.join(str(4 << k) for k in range(len(self.depths)))})")

    def features(self, z: torch.Tensor, resolution: int = 4) -> torch.Tensor:
        """The feature map (B, C, R, R) the generator computes from ``z`` at ``resolution``."""
        x = pixel_norm(z.flatten(1))
        x = F.leaky_relu(self.formatLayer(x), LEAK).view(-1, self.depths[0], 4, 4)
        x = pixel_norm(x)
        x = pixel_norm(F.leaky_relu(self.groupScale0[0](x), LEAK))
        for block in self.scaleLayers[: self.scale_index(resolution)]:
            x = _upscale(block, x)
        return x

    def synthesize(self, x: torch.Tensor) -> torch.Tensor:
        """The image from a feature map of any of the generator's scales (the rest of the network;
        the fade-in blend applies when the map is below the last scale)."""
        start = self.scale_index(x.shape[-1])
        previous = None
        for i in range(start, len(self.scaleLayers)):
            if self.alpha > 0 and i == len(self.scaleLayers) - 1:
                previous = F.interpolate(self.toRGBLayers[-2](x), scale_factor=2, mode="nearest")
            x = _upscale(self.scaleLayers[i], x)
        out = self.toRGBLayers[-1](x)
        if previous is not None:
            out = self.alpha * previous + (1.0 - self.alpha) * out
        return out

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesize(self.features(z, 4))


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append one channel: per group of consecutive samples, the mean standard deviation of the features."""
    n, c, h, w = x.shape
    g = min(n, group)
    if n % g:
        g = n
    y = x.view(-1, g, c, h, w)
    std = torch.sqrt(y.var(dim=1, unbiased=g > 1) + 1e-8).mean(dim=(1, 2, 3))
    std = std.view(-1, 1, 1, 1, 1).expand(-1, g, 1, h, w).reshape(n, 1, h, w)
    return torch.cat([x, std], dim=1)


class Discriminator(nn.Module):
    """PGAN discriminator matching :class:`Generator`'s scales."""

    def __init__(self, depth0: int, channels: int = 3, stddev: bool = True, outputs: int = 1) -> None:
        super().__init__()
        self.depths = [depth0]
        self.stddev = stddev
        self.fromRGBLayers = nn.ModuleList([conv(channels, depth0, 1)])
        self.scaleLayers = nn.ModuleList()
        self.groupScaleZero = nn.ModuleList([conv(depth0 + int(stddev), depth0, 3),
                                             linear(16 * depth0, depth0)])
        self.decisionLayer = linear(depth0, outputs)
        self.channels = channels
        self.alpha = 0.0

    @classmethod
    def from_config(cls, c: PGANConfig) -> Discriminator:
        return _grown(cls(c.depths[0], c.channels), c.depths)

    def add_scale(self, depth: int) -> None:
        prev = self.depths[-1]
        self.scaleLayers.append(nn.ModuleList([conv(depth, depth, 3), conv(depth, prev, 3)]))
        self.fromRGBLayers.append(conv(self.channels, depth, 1))
        self.depths.append(depth)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.fromRGBLayers[-1](img), LEAK)
        shortcut = None
        if self.alpha > 0 and len(self.scaleLayers) > 1:
            shortcut = F.leaky_relu(self.fromRGBLayers[-2](F.avg_pool2d(img, 2)), LEAK)
        for i, block in enumerate(reversed(self.scaleLayers)):
            x = F.leaky_relu(block[0](x), LEAK)
            x = F.avg_pool2d(F.leaky_relu(block[1](x), LEAK), 2)
            if i == 0 and shortcut is not None:
                x = self.alpha * shortcut + (1.0 - self.alpha) * x
        if self.stddev:
            x = minibatch_stddev(x)
        x = F.leaky_relu(self.groupScaleZero[0](x), LEAK)
        x = F.leaky_relu(self.groupScaleZero[1](x.flatten(1)), LEAK)
        return self.decisionLayer(x)


class Encoder(Discriminator):
    """The generator's inference network: the discriminator's architecture (no minibatch statistics,
    which would couple the samples of a batch) ending in ``latent`` outputs instead of a decision.
    It grows with the generator (progressively growing inference, as in PIONEER, Heljakka et al.
    2018) and gives the GAN mode its first guess of a keyframe's latent."""

    def __init__(self, latent: int, depth0: int, channels: int = 3) -> None:
        super().__init__(depth0, channels, stddev=False, outputs=latent)

    @classmethod
    def from_config(cls, c: PGANConfig) -> Encoder:
        return _grown(cls(c.latent, c.depths[0], c.channels), c.depths)


# ------------------------------------------------------------------ pytorch_GAN_zoo checkpoints


class _ZooConfig:
    """Stand-in for the zoo's ``models.utils.config.BaseConfig`` (a plain attribute bag), so that
    their checkpoints load with ``torch.load(weights_only=True)``: no code from the file runs."""


def _zoo_state(sd: dict) -> dict[str, torch.Tensor]:
    """Keys in the current ``*.module.weight`` form (files from before 2019 lack ``module.``)."""
    out = {}
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            continue
        head, _, leaf = k.rpartition(".")
        if leaf in ("weight", "bias") and not head.endswith(".module") and head:
            k = f"{head}.module.{leaf}"
        out[k] = v.detach().float().cpu()
    return out


def _generator_depths(sd: dict[str, torch.Tensor]) -> tuple[int, int, list[int], int]:
    """Latent size, 16·d0 check, the depth list and output channels, read from tensor shapes."""
    try:
        fmt = sd["formatLayer.module.weight"]
    except KeyError:
        raise ValueError("not a PGAN generator state dict: no formatLayer weight") from None
    latent = fmt.shape[1]
    d0 = fmt.shape[0] // 16
    depths = [d0]
    i = 0
    while f"scaleLayers.{i}.0.module.weight" in sd:
        depths.append(sd[f"scaleLayers.{i}.0.module.weight"].shape[0])
        i += 1
    channels = sd["toRGBLayers.0.module.weight"].shape[0]
    return latent, d0, depths, channels


def generator_from_state(sd: dict[str, torch.Tensor], name: str = "pgan") -> tuple[Generator, PGANConfig]:
    """A Generator with the architecture the tensors imply, loaded strictly (every key must map)."""
    sd = _zoo_state(sd)
    latent, _, depths, channels = _generator_depths(sd)
    cfg = PGANConfig(name=name, latent=latent, depths=depths, channels=channels)
    g = Generator.from_config(cfg)
    g.load_state_dict(sd, strict=True)
    return g.eval(), cfg


def load_zoo_checkpoint(path: str, which: str = "avgG") -> tuple[Generator, PGANConfig, dict]:
    """Load a pytorch_GAN_zoo PGAN checkpoint (``.pth``) without running pickled code.

    ``which``: ``"avgG"`` (the moving-average generator, best for sampling) or ``"netG"``. Returns
    the generator, its config and the file's training config as a plain dict.
    """
    from torch.serialization import safe_globals

    with safe_globals([(_ZooConfig, "models.utils.config.BaseConfig")]):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or not any(k in ckpt for k in ("netG", "avgG")):
        raise ValueError(f"{path}: not a pytorch_GAN_zoo checkpoint (no netG/avgG)")
    sd = ckpt.get(which) or ckpt.get("netG")
    g, cfg = generator_from_state(sd)
    zoo_cfg = dict(vars(ckpt["config"])) if "config" in ckpt and hasattr(ckpt["config"], "__dict__") else {}
    if zoo_cfg.get("alpha"):
        g.alpha = float(zoo_cfg["alpha"])
    return g, cfg, zoo_cfg


def convert_zoo_checkpoint(path: str, out: str, name: str = "pgan-zoo", which: str = "avgG") -> str:
    """Convert a zoo checkpoint to ``out`` (.safetensors, generator only) + a JSON card beside it."""
    import json
    from pathlib import Path

    from safetensors.torch import save_file

    g, cfg, zoo_cfg = load_zoo_checkpoint(path, which)
    cfg.name = name
    save_file({k: v.contiguous() for k, v in g.state_dict().items()}, out, metadata={"name": name})
    card = {"name": name, "kind": "pgan", "config": cfg.to_dict(), "alpha": g.alpha,
            "source": {"file": Path(path).name, "generator": which,
                       "zoo_config": {k: v for k, v in zoo_cfg.items() if isinstance(v, (int, float, str, bool))}}}
    Path(out).with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return out
