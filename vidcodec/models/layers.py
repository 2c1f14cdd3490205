"""Building blocks of the VAE-GAN transforms: simplified GDN and the factorized entropy model."""

from __future__ import annotations

import math
from collections.abc import Sequence

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
        return _cdf_logits(_transformed(self), x.unsqueeze(1)).squeeze(1)

    def likelihood(self, y: torch.Tensor) -> torch.Tensor:
        """Probability of the unit-width bin centred on each element of ``y`` (B, C, H, W)."""
        return stacked_likelihood([self], y, torch.zeros(y.shape[0], dtype=torch.long, device=y.device))


def _transformed(density: FactorizedDensity) -> list[list[torch.Tensor]]:
    """The density's parameters as the cumulative uses them: softplus(matrices), biases, tanh(factors)."""
    return [[F.softplus(m) for m in density.matrices], list(density.biases),
            [torch.tanh(f) for f in density.factors]]


def _cdf_logits(params: list[list[torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
    """The cumulative's logits at ``x`` (..., C, 1, N) with (transformed) parameters broadcasting as
    (..., C, out, in) matrices and (..., C, out, 1) biases and factors; returns (..., C, 1, N)."""
    matrices, biases, factors = params
    logits = x
    for i, matrix in enumerate(matrices):
        logits = torch.matmul(matrix, logits) + biases[i]
        if i < len(factors):
            logits = logits + factors[i] * torch.tanh(logits)
    return logits


def stacked_likelihood(densities: Sequence[FactorizedDensity], y: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Likelihoods (B, C, H, W) of ``y`` (B, C, H, W), sample ``b`` under ``densities[index[b]]``.

    One pass for every sample and density (the parameters are stacked and gathered per sample),
    with the bin's two edges evaluated together: a training step used to run a separate pass per
    quality level and edge, some 1,800 small operations of its ~4,000, which bound a GPU step by
    dispatch rather than arithmetic."""
    b, c, h, w = y.shape
    per = [_transformed(d) for d in densities]
    params = [[torch.stack([p[k][i] for p in per])[index] for i in range(len(per[0][k]))] for k in range(3)]
    flat = y.reshape(b, c, 1, h * w)
    edges = _cdf_logits(params, torch.cat([flat - 0.5, flat + 0.5], dim=3))
    lower, upper = edges[..., : h * w], edges[..., h * w :]
    # Evaluate in the tail where sigmoid is accurate (sign trick from the paper).
    sign = -torch.sign(lower + upper).detach()
    lik = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
    return lik.clamp_min(1e-9).reshape(b, c, h, w)
