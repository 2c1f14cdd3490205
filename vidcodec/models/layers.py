"""Building blocks of the VAE-GAN transforms: simplified GDN and the factorized entropy model."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class GDN(nn.Module):
    """Simplified generalized divisive normalization: y = x / (beta + gamma * |x|).

    The L1 form (Johnston et al., 2019) costs one 1x1 convolution and no square root,
    which matters on a 2-core CPU. ``inverse=True`` multiplies instead (IGDN, for synthesis).
    """

    def __init__(self, channels: int, inverse: bool = False, gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(gamma_init * torch.eye(channels).view(channels, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # abs() keeps the normalisation positive; the small floor keeps beta away from zero.
        norm = F.conv2d(x.abs(), self.gamma.abs(), self.beta.abs() + 1e-4)
        return x * norm if self.inverse else x / norm


class FactorizedDensity(nn.Module):
    """A learned, per-channel univariate density (Balle et al. 2018, appendix 6.1).

    ``likelihood(y)`` gives the probability mass of the unit bin around each value of ``y``
    (B, C, H, W); ``cdf_logits(x)`` gives the logit of the cumulative at points ``x`` (C, N),
    which is how integer coding tables are built once, at export time.
    """

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0) -> None:
        super().__init__()
        self.channels = channels
        dims = (1, *filters, 1)
        scale = init_scale ** (1.0 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1.0 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.empty(channels, dims[i + 1], 1).uniform_(-0.5, 0.5)))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def cdf_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logit of the cumulative distribution at ``x`` of shape (C, N); returns (C, N)."""
        logits = x.unsqueeze(1)
        for i, matrix in enumerate(self.matrices):
            logits = torch.matmul(F.softplus(matrix), logits) + self.biases[i]
            if i < len(self.factors):
                logits = logits + torch.tanh(self.factors[i]) * torch.tanh(logits)
        return logits.squeeze(1)

    def likelihood(self, y: torch.Tensor) -> torch.Tensor:
        """Probability of the unit-width bin centred on each element of ``y`` (B, C, H, W)."""
        b, c, h, w = y.shape
        flat = y.permute(1, 0, 2, 3).reshape(c, -1)
        lower = self.cdf_logits(flat - 0.5)
        upper = self.cdf_logits(flat + 0.5)
        # Evaluate in the tail where sigmoid is accurate (sign trick from the paper).
        sign = -torch.sign(lower + upper).detach()
        lik = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        lik = lik.clamp_min(1e-9)
        return lik.reshape(c, b, h, w).permute(1, 0, 2, 3)
