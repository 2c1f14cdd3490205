"""The VAE-GAN transform pair: analysis (encoder) and synthesis (decoder/generator).

::

    x (B,3,H,W) in [0,1]
      │ analysis: 4 × [conv5x5 stride 2, GDN]      (H and W multiples of 16)
      ▼
    y (B,M,H/16,W/16)
      │ × gain[level]  (per-channel quantization step = 1/gain)
      ▼
    round → integer symbols  ──── entropy model density[level] gives their probability
      │ ÷ gain[level]
      ▼
    synthesis: 4 × [IGDN, transposed conv5x5 stride 2] → x̂

One network serves every quality level: each level has its own learned per-channel gain
vector and its own factorized density (so its own coding tables). With a channel ladder
(``level_channels``) the latent channels are *ordered*: level ``l`` codes only the first
``level_channels[l]`` channels and the decoder sets the others to zero. Training with random
channel truncation (nested dropout) makes every prefix of channels decodable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .card import DOWNSCALE, VAEGANConfig
from .layers import GDN, FactorizedDensity, stacked_likelihood

__all__ = ["DOWNSCALE", "VAEGAN", "Analysis", "ForwardResult", "Synthesis", "VAEGANConfig"]


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def _deconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


class Analysis(nn.Module):
    """Image (B,3,H,W) in [0,1] → latent (B,M,H/16,W/16)."""

    def __init__(self, n: int, m: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _conv(3, n), GDN(n), _conv(n, n), GDN(n), _conv(n, n), GDN(n), _conv(n, m)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x - 0.5)


class Synthesis(nn.Module):
    """Latent (B,M,h,w) → image (B,3,16h,16w), not clamped.

    ``last`` (default ``n``) is the width of the last hidden layer, at half the output resolution:
    about 60 % of the multiply-adds at n = last = 48, so it sets the decoding speed.
    """

    def __init__(self, n: int, m: int, last: int | None = None) -> None:
        super().__init__()
        last = last or n
        self.net = nn.Sequential(
            _deconv(m, n), GDN(n, inverse=True), _deconv(n, n), GDN(n, inverse=True),
            _deconv(n, last), GDN(last, inverse=True), _deconv(last, 3),
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y) + 0.5


@dataclass
class ForwardResult:
    """What a training forward pass returns."""

    x_hat: torch.Tensor
    likelihoods: torch.Tensor
    symbols: torch.Tensor = field(repr=False)


class VAEGAN(nn.Module):
    """Analysis + synthesis + per-level gains and factorized densities."""

    def __init__(self, config: VAEGANConfig | None = None) -> None:
        super().__init__()
        self.config = config or VAEGANConfig()
        c = self.config
        self.analysis = Analysis(c.enc_channels, c.latent_channels)
        self.synthesis = Synthesis(c.dec_channels, c.latent_channels, c.dec_last_channels)
        # Initial gains span a factor 16 from the lowest to the highest level.
        init = torch.linspace(-1.0, 1.77, c.levels).unsqueeze(1).repeat(1, c.latent_channels)
        self.log_gain = nn.Parameter(init)
        self.densities = nn.ModuleList(FactorizedDensity(c.latent_channels) for _ in range(c.levels))

    def gain(self, level: int | torch.Tensor) -> torch.Tensor:
        """Per-channel gains (1/quantization step) of a level, shaped to broadcast over (B,M,h,w)."""
        g = torch.exp(self.log_gain[level])
        return g.view(-1, self.config.latent_channels, 1, 1)

    def level_channels(self, levels: torch.Tensor) -> torch.Tensor:
        """Channels coded at each of ``levels`` (B,) as a tensor (B,)."""
        c = self.config
        table = torch.tensor([c.channels(i) for i in range(c.levels)], device=levels.device)
        return table[levels]

    def forward(self, x: torch.Tensor, levels: torch.Tensor, keep: torch.Tensor | None = None) -> ForwardResult:
        """Training pass: noisy latents for the rate, rounded ones (straight-through) for the decoder.

        ``keep`` (B,) is how many leading latent channels each sample codes (default: its level's
        count); the others are zeroed before synthesis and cost no bits (nested dropout).
        """
        y = self.analysis(x) * self.gain(levels)
        if keep is None:
            keep = self.level_channels(levels)
        mask = (torch.arange(y.shape[1], device=y.device)[None, :] < keep[:, None]).to(y.dtype)[:, :, None, None]
        noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        lik = stacked_likelihood(self.densities, noisy, levels)
        lik = torch.where(mask > 0, lik, torch.ones_like(lik))  # truncated channels are not sent
        rounded = (y + (torch.round(y) - y).detach()) * mask
        x_hat = self.synthesis(rounded / self.gain(levels))
        return ForwardResult(x_hat=x_hat, likelihoods=lik, symbols=rounded)
