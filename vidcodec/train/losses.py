"""Distortion and rate terms of the training objective."""

from __future__ import annotations

import torch
from pytorch_msssim import ssim


def distortion(x: torch.Tensor, x_hat: torch.Tensor, kind: str = "ssim+l1", alpha: float = 0.4) -> torch.Tensor:
    """Per-sample distortion (B,): ``alpha * (1 - SSIM) + (1 - alpha) * L1``, or plain ``mse``."""
    if kind == "mse":
        return ((x - x_hat) ** 2).mean(dim=(1, 2, 3))
    if kind != "ssim+l1":
        raise ValueError(f"unknown distortion {kind!r}: use 'ssim+l1' or 'mse'")
    l1 = (x - x_hat).abs().mean(dim=(1, 2, 3))
    s = ssim(x, x_hat.clamp(0, 1), data_range=1.0, size_average=False)
    return alpha * (1.0 - s) + (1.0 - alpha) * l1


def bits_per_pixel(likelihoods: torch.Tensor, pixels: int) -> torch.Tensor:
    """Per-sample rate in bits per pixel (B,) from symbol likelihoods (B,C,h,w)."""
    return -torch.log2(likelihoods).sum(dim=(1, 2, 3)) / pixels


def psnr(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-sample PSNR in dB of images in [0, 1]."""
    mse = ((x - x_hat.clamp(0, 1)) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return -10.0 * torch.log10(mse)
