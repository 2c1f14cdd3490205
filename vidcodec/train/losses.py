"""Terms of the training objective: rate, (saliency-weighted) distortion, adversarial.

``distortion(x, x_hat, kind, weights)`` is per sample (B,):

* ``ssim+l1`` (default): ``alpha * (1 - SSIM) + (1 - alpha) * L1``
* ``ms-ssim+l1``: the same with MS-SSIM (as many of the 5 scales as the crop allows)
* ``mse``: mean squared error

``weights`` (B,1,H,W), e.g. from :func:`vidcodec.train.saliency.weight_map`, multiplies the
per-pixel L1 / squared error and the SSIM map (at full resolution; MS-SSIM's coarser scales
are unweighted).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import DISTORTIONS

_MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_C1, _C2 = 0.01**2, 0.03**2


def _window(device: torch.device, dtype: torch.dtype, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    t = torch.arange(size, dtype=dtype, device=device) - size // 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return (g / g.sum()).view(1, 1, 1, -1)


def _filter(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    x = F.conv2d(x, win.expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, win.transpose(2, 3).expand(c, 1, -1, 1), groups=c)


def ssim_maps(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SSIM and contrast-structure maps (B,C,H-10,W-10) of images in [0, 1] (Gaussian window 11, σ 1.5)."""
    win = _window(x.device, x.dtype)
    mu_x, mu_y = _filter(x, win), _filter(y, win)
    sxx = _filter(x * x, win) - mu_x**2
    syy = _filter(y * y, win) - mu_y**2
    sxy = _filter(x * y, win) - mu_x * mu_y
    cs = (2 * sxy + _C2) / (sxx + syy + _C2)
    return (2 * mu_x * mu_y + _C1) / (mu_x**2 + mu_y**2 + _C1) * cs, cs


def _crop_like(w: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    dh, dw = (w.shape[2] - m.shape[2]) // 2, (w.shape[3] - m.shape[3]) // 2
    return w[:, :, dh : dh + m.shape[2], dw : dw + m.shape[3]]


def ssim(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample (weighted) mean SSIM (B,)."""
    s, _ = ssim_maps(x, y)
    if weights is None:
        return s.mean(dim=(1, 2, 3))
    w = _crop_like(weights, s)
    return (s * w).mean(dim=(1, 2, 3)) / w.mean(dim=(1, 2, 3))


def ms_ssim(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample MS-SSIM (B,) over as many scales as fit (weights renormalised); saliency at scale 1 only."""
    side = min(x.shape[2:])
    scales = 5
    while scales > 1 and side < 11 * 2 ** (scales - 1):
        scales -= 1
    w = torch.tensor(_MS_WEIGHTS[:scales], dtype=x.dtype, device=x.device)
    w = w / w.sum()
    out = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    for i in range(scales):
        s, cs = ssim_maps(x, y)
        m = s if i == scales - 1 else cs
        if i == 0 and weights is not None:
            ww = _crop_like(weights, m)
            v = (m * ww).mean(dim=(1, 2, 3)) / ww.mean(dim=(1, 2, 3))
        else:
            v = m.mean(dim=(1, 2, 3))
        out = out * v.clamp_min(1e-6) ** w[i]
        if i < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return out


def distortion(
    x: torch.Tensor, x_hat: torch.Tensor, kind: str = "ssim+l1", alpha: float = 0.4,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-sample distortion (B,); see the module docstring."""
    if kind not in DISTORTIONS:
        raise ValueError(f"unknown distortion {kind!r}: use one of {', '.join(DISTORTIONS)}")
    err = x - x_hat
    if kind == "mse":
        e = err**2
        return (e if weights is None else e * weights).mean(dim=(1, 2, 3))
    e = err.abs()
    l1 = (e if weights is None else e * weights).mean(dim=(1, 2, 3))
    clamped = x_hat.clamp(0, 1)
    s = ssim(x, clamped, weights) if kind == "ssim+l1" else ms_ssim(x, clamped, weights)
    return alpha * (1.0 - s) + (1.0 - alpha) * l1


def bits_per_pixel(likelihoods: torch.Tensor, pixels: int) -> torch.Tensor:
    """Per-sample rate in bits per pixel (B,) from symbol likelihoods (B,C,h,w)."""
    return -torch.log2(likelihoods).sum(dim=(1, 2, 3)) / pixels


def psnr(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-sample PSNR in dB of images in [0, 1]."""
    mse = ((x - x_hat.clamp(0, 1)) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return -10.0 * torch.log10(mse)


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating discriminator loss (scalar): real pairs → 1, reconstructed pairs → 0."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss per sample (B,): make reconstructed pairs look real."""
    return F.softplus(-fake_logits).mean(dim=(1, 2, 3))
