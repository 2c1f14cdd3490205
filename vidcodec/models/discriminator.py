"""The VAE-GAN discriminator: it judges (image, latent) pairs.

Following the seed (and HiFiC), the discriminator is conditioned on the quantized latent: it sees
the original image with its latent versus the reconstruction with *the same* latent, so it can only
tell them apart by what the decoder failed to reproduce, not by content the latent does not carry.

::

    image (B,3,H,W) ─ 4 × [conv 4×4 stride 2, LeakyReLU] ─► (B,2n,H/16,W/16) ─┐
    latent (B,M,H/16,W/16) ─ conv 1×1, LeakyReLU ─────────► (B,2n,H/16,W/16) ─┴─ concat
        ─ conv 3×3, LeakyReLU ─ conv 1×1 ─► patch logits (B,1,H/16,W/16)

Spectral normalisation on every convolution keeps the game stable at small batch sizes.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _sn(conv: nn.Conv2d) -> nn.Module:
    return spectral_norm(conv)


class PairDiscriminator(nn.Module):
    """Patch discriminator on (image, latent) pairs; returns logits at the latent's resolution."""

    def __init__(self, latent_channels: int, channels: int = 32) -> None:
        super().__init__()
        n = channels
        act = nn.LeakyReLU(0.2)
        self.image = nn.Sequential(
            _sn(nn.Conv2d(3, n, 4, 2, 1)), act,
            _sn(nn.Conv2d(n, 2 * n, 4, 2, 1)), act,
            _sn(nn.Conv2d(2 * n, 2 * n, 4, 2, 1)), act,
            _sn(nn.Conv2d(2 * n, 2 * n, 4, 2, 1)), act,
        )
        self.latent = nn.Sequential(_sn(nn.Conv2d(latent_channels, 2 * n, 1)), act)
        self.head = nn.Sequential(_sn(nn.Conv2d(4 * n, 2 * n, 3, 1, 1)), act, _sn(nn.Conv2d(2 * n, 1, 1)))

    def forward(self, image: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.image(image - 0.5), self.latent(latent)], dim=1))
