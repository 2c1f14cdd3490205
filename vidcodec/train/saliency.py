"""Saliency maps that steer the training distortion (never transmitted).

Spectral residual saliency (Hou & Zhang, CVPR 2007): the log-amplitude spectrum of a natural
image is close to its local average; what sticks out (the *residual*), transformed back with the
original phase, marks the parts of the image that are unexpected, i.e. that draw the eye. It needs
no learned weights (nothing is downloaded), costs two small FFTs per crop, and is differentiable
(though it is only ever used as a constant weight here).

The distortion weight is ``floor + (1 - floor) * saliency``, rescaled to mean 1 per image so that
the rate–distortion trade-off λ keeps its meaning: salient regions get up to ``1/floor`` times
the weight of the least salient ones, and no region is ignored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

WORK_SIDE = 64  # the spectral residual is computed at this resolution (the original paper's choice)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, round(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).view(1, 1, 1, -1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.transpose(2, 3))


@torch.no_grad()
def spectral_residual(x: torch.Tensor) -> torch.Tensor:
    """Saliency (B,1,H,W) in [0, 1] of images (B,3,H,W) in [0, 1]."""
    _, _, h, w = x.shape
    gray = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    s = WORK_SIDE / max(h, w)
    small = F.interpolate(gray, size=(max(8, round(h * s)), max(8, round(w * s))), mode="area")
    spec = torch.fft.fft2(small.squeeze(1).double())
    amp = spec.abs()
    # A floor relative to the mean amplitude: exact spectral zeros (flat synthetic images) must not dominate.
    log_amp = torch.log(amp + 1e-3 * amp.mean(dim=(1, 2), keepdim=True) + 1e-8)
    phase = torch.angle(spec)
    avg = F.avg_pool2d(F.pad(log_amp.unsqueeze(1), (1, 1, 1, 1), mode="replicate"), 3, stride=1).squeeze(1)
    residual = torch.exp(log_amp - avg)
    sal = torch.fft.ifft2(residual * torch.exp(1j * phase)).abs() ** 2
    sal = _gaussian_blur(sal.unsqueeze(1).float(), sigma=2.5)
    # Scaled by the maximum, not stretched min-to-max: a featureless crop stays uniform (weights 1).
    sal = sal / sal.amax(dim=(2, 3), keepdim=True).clamp_min(1e-30)
    # Featureless crops (black borders, flat sky): nothing stands out, so everything is equally salient.
    flat = small.flatten(1).std(dim=1) < 1e-3
    sal = torch.where(flat[:, None, None, None], torch.ones_like(sal), sal)
    return F.interpolate(sal, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)


def weight_map(x: torch.Tensor, floor: float = 0.3) -> torch.Tensor:
    """Per-pixel distortion weights (B,1,H,W): ``floor + (1 - floor) * saliency``, mean 1 per image."""
    if not 0.0 < floor <= 1.0:
        raise ValueError(f"saliency floor must be in (0, 1] (got {floor})")
    w = floor + (1.0 - floor) * spectral_residual(x)
    return w / w.mean(dim=(2, 3), keepdim=True)
