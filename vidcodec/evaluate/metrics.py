"""Frame quality metrics on uint8 RGB frames: PSNR (RGB and Y), SSIM/MS-SSIM on RGB."""

from __future__ import annotations

import numpy as np
import torch
from pytorch_msssim import ms_ssim, ssim

MAX_PSNR = 100.0  # dB: a frame's PSNR is capped here (identical frames would make a clip's mean infinite)


def _db(mse: float) -> float:
    return MAX_PSNR if mse == 0 else min(float(10 * np.log10(255.0**2 / mse)), MAX_PSNR)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images, at most :data:`MAX_PSNR` (a black frame that a codec
    reproduces exactly had made the clip's mean PSNR, and with it its BD-rates, infinite)."""
    return _db(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 full-range luma of an RGB uint8 image, as float64."""
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of the BT.601 full-range luma of two RGB images (not a coded Y plane: the limited
    range's 219 levels make that read about 1.3 dB higher for the same error), at most :data:`MAX_PSNR`."""
    return _db(np.mean((luma(a) - luma(b)) ** 2))


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()[None]


def ssim_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Gaussian window 11, sigma 1.5) averaged over RGB channels."""
    return float(ssim(_t(a), _t(b), data_range=255.0))


def ms_ssim_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM over RGB (pytorch-msssim, 5 scales); frames too small for 5 scales (a side of 160 or
    less, e.g. QCIF) use as many scales as fit, with the weights renormalised."""
    if min(a.shape[:2]) > 160:
        return float(ms_ssim(_t(a), _t(b), data_range=255.0))
    from ..train.losses import ms_ssim as ms_ssim_scales

    # one channel a sample: each channel's MS-SSIM, then their mean, as pytorch-msssim (and ssim_rgb) pool them
    return float(ms_ssim_scales(_t(a).transpose(0, 1) / 255.0, _t(b).transpose(0, 1) / 255.0).mean())
