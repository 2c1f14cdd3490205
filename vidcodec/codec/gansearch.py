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
    """Per sample: the state found (B, ...: a latent, or a feature map), its loss, the loss it started from, and the
    iterations it used (its search stopped then; the others may have gone on)."""

    z: torch.Tensor
    losses: torch.Tensor
    start_losses: torch.Tensor
    iters: torch.Tensor

    @property
    def loss(self) -> float:
        return float(self.losses.mean())

    @property
    def start_loss(self) -> float:
        return float(self.start_losses.mean())


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


def search(generator, target: torch.Tensor, z0: torch.Tensor, *, max_iters: int = 200,
           lr: float = 0.05, tol: float = 1e-3, patience: int = 10, kind: str = "ssim+l1") -> SearchResult:
    """Minimise the distortion of ``to_unit(G(z))`` to ``target`` (B,3,R,R in [0,1]) from ``z0`` (B, ...).

    ``generator`` is the generator (``z0``: latents (B, latent)) or any differentiable function of
    the searched tensor with the generator's output range, e.g. the rest of the generator from a
    feature map (:func:`sparse_correction`).

    The samples are independent searches run side by side: the loss minimised is the *sum* of the
    per-sample losses (so each latent's gradient, and with Adam its every step, is what it would
    be alone), each sample keeps its own best latent and stops on its own (no improvement by a
    relative ``tol`` for ``patience`` iterations, or ``max_iters``); the batch ends when all have.
    """
    if isinstance(generator, torch.nn.Module):
        for p in generator.parameters():
            p.requires_grad_(False)
    n = z0.shape[0]
    z = z0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    best_z = z.detach().clone()
    dev = z.device
    best = torch.full((n,), float("inf"), device=dev)
    start = torch.full((n,), float("nan"), device=dev)
    since = torch.zeros(n, dtype=torch.long, device=dev)
    iters = torch.zeros(n, dtype=torch.long, device=dev)
    active = torch.ones(n, dtype=torch.bool, device=dev)
    for it in range(1, max_iters + 1):
        losses = frame_distortion(to_unit(generator(z)), target, kind)
        values = losses.detach()
        finite = torch.isfinite(values)
        active &= finite
        if it == 1:
            start = torch.where(finite, values, start)
        improved = active & (values < best * (1 - tol))
        better = active & (values < best)
        best_z[better] = z.detach()[better]
        best = torch.where(better, values, best)
        since = torch.where(improved, torch.zeros_like(since), since + active.long())
        iters = torch.where(active, torch.full_like(iters, it), iters)
        active &= since < patience
        if not active.any() or it == max_iters:
            break
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        opt.step()
    never = ~torch.isfinite(best)
    best = torch.where(never, start, best)
    start = torch.where(torch.isnan(start), best, start)
    return SearchResult(best_z.cpu(), best.cpu(), start.cpu(), iters.cpu())


def sparse_correction(synthesize, target: torch.Tensor, base: torch.Tensor, counts: list[int], *,
                      max_iters: int, lr: float = 0.01, tol: float = 1e-3, patience: int = 20,
                      kind: str = "ssim+l1") -> tuple[torch.Tensor, torch.Tensor]:
    """A correction ``d`` of feature maps ``base`` (B,C,h,w) with at most ``counts[b]`` non-zero
    values per sample, found so that ``synthesize(base + d)`` matches ``target``.

    Two searches: every value free for ``max_iters`` iterations; then only the ``counts[b]`` values
    that moved most, again from where they got to, for ``max_iters // 2`` more (the support of a
    sparse correction, then its values). Returns ``d`` and each sample's distortion of ``base``
    itself (where the first search started), both on the CPU.
    """
    base = base.detach()
    first = search(lambda d: synthesize(base + d), target, torch.zeros_like(base), max_iters=max_iters, lr=lr,
                   tol=tol, patience=patience, kind=kind)
    dense = first.z.to(base.device)
    mask = torch.zeros_like(base)
    flat = mask.view(mask.shape[0], -1)
    for b, k in enumerate(counts):
        k = min(int(k), flat.shape[1])
        if k > 0:
            flat[b, dense[b].abs().flatten().topk(k).indices] = 1.0
    if max_iters // 2 > 0:
        refined = search(lambda d: synthesize(base + d * mask), target, dense * mask,
                         max_iters=max(1, max_iters // 2), lr=lr, tol=tol, patience=patience, kind=kind).z
        return refined * mask.cpu(), first.start_losses
    return (dense * mask).cpu(), first.start_losses


def cold_start(latent: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """The fixed starting latent of keyframes without a guess: a seeded N(0, I) draw.

    (A PGAN normalises z per pixel, so the literal mean latent 0 has no direction and no useful
    gradient; a fixed draw is the decoder-independent stand-in.)
    """
    return torch.randn(batch, latent, generator=torch.Generator().manual_seed(seed))


def resize_to(frame: torch.Tensor, resolution: int) -> torch.Tensor:
    """(B,3,H,W) in [0,1] → (B,3,R,R) with area filtering (the GAN works at its own resolution)."""
    return F.interpolate(frame, size=(resolution, resolution), mode="area")
