"""GAN inversion: find the latent whose generated image matches a frame, by gradient descent.

For video, consecutive frames are close, and so are their best latents: the search for frame
*t* starts from frame *t−1*'s *decoded* latent (what the decoder has; closed loop) instead of
the mean latent, and needs far fewer iterations. Distortion is ``alpha·(1 − SSIM) + (1 − alpha)·L1``
(or MSE) at the generator's resolution; Adam; stop at ``max_iters`` or when the loss has not
improved by ``tol`` (relative) over ``patience`` iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..train.losses import ssim


@dataclass
class SearchResult:
    """The latent found, its loss, the loss it started from, and the iterations used."""

    z: torch.Tensor
    loss: float
    start_loss: float
    iters: int


def frame_distortion(x: torch.Tensor, target: torch.Tensor, kind: str = "ssim+l1", alpha: float = 0.4) -> torch.Tensor:
    """Per-sample distortion between images in [0, 1] (B,)."""
    if kind == "mse":
        return ((x - target) ** 2).mean(dim=(1, 2, 3))
    l1 = (x - target).abs().mean(dim=(1, 2, 3))
    if min(x.shape[2:]) < 11:  # too small for the SSIM window
        return l1
    return alpha * (1 - ssim(x, target)) + (1 - alpha) * l1


def to_unit(g_out: torch.Tensor) -> torch.Tensor:
    """Generator output in about [−1, 1] → images in [0, 1]."""
    return ((g_out + 1) * 0.5).clamp(0, 1)


def search(generator: torch.nn.Module, target: torch.Tensor, z0: torch.Tensor, *, max_iters: int = 200,
           lr: float = 0.05, tol: float = 1e-3, patience: int = 10, kind: str = "ssim+l1") -> SearchResult:
    """Minimise the distortion of ``to_unit(G(z))`` to ``target`` (B,3,R,R in [0,1]) starting at ``z0``."""
    for p in generator.parameters():
        p.requires_grad_(False)
    z = z0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    best_z, best, start = z.detach().clone(), float("inf"), None
    since = 0
    it = 0
    for it in range(1, max_iters + 1):
        loss = frame_distortion(to_unit(generator(z)), target, kind).mean()
        value = float(loss.detach())
        if not torch.isfinite(loss):
            break
        if start is None:
            start = value
        if value < best * (1 - tol):
            best, best_z, since = value, z.detach().clone(), 0
        else:
            if value < best:
                best, best_z = value, z.detach().clone()
            since += 1
            if since >= patience:
                break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return SearchResult(best_z, best, start if start is not None else best, it)


def cold_start(latent: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """The fixed starting latent of keyframes without a guess: a seeded N(0, I) draw.

    (A PGAN normalises z per pixel, so the literal mean latent 0 has no direction and no useful
    gradient; a fixed draw is the decoder-independent stand-in.)
    """
    return torch.randn(batch, latent, generator=torch.Generator().manual_seed(seed))


def resize_to(frame: torch.Tensor, resolution: int) -> torch.Tensor:
    """(B,3,H,W) in [0,1] → (B,3,R,R) with area filtering (the GAN works at its own resolution)."""
    return F.interpolate(frame, size=(resolution, resolution), mode="area")
