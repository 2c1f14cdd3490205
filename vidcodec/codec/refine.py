"""Latent refinement (``--refine N``): a few gradient steps on rate + λ·distortion per frame.

The analysis transform is amortised: one forward pass guesses the latent for every image. For
one particular frame, N steps of Adam on the scaled latent ``u`` itself (through the synthesis
transform) find a latent that codes that frame better, at the cost of encode time only: the
stream format and the decoder do not change. The objective models what the encoder will send:

* keyframe: the symbols are ``round(u)`` (straight-through), their rate the exact bits under the
  level's integer key tables, with the gradient of the costs linearly interpolated between integers;
* delta frame: the residual ``r = u − pred`` against the prediction the encoder will use (the
  previous decoded latent, moved by the motion vectors found for the unrefined latent) is sent
  through the encoder's dead zone (``round(r)`` where ``|r| ≥ 0.5 + dead_zone``, else 0;
  straight-through), the decoder's latent is ``pred`` plus what is sent, and the rate is each
  channel's bits under the residual table the encoder's plan chose for the unrefined latent
  (``costs``; contexts not modelled), exact on what is sent, interpolated between integers for
  the gradient (without ``costs``: ``2·log2(1 + |r|)`` bits);
* distortion: the model's training distortion (SSIM + L1 by default) with its λ for the level.

Each search starts from the encoder's own latent and keeps the best iterate, so refinement never
makes a frame's objective worse.
"""

from __future__ import annotations

import numpy as np
import torch

from ..coding.tables import PRECISION
from ..models.zoo import CodecModel
from ..train.losses import distortion

_DELTA_BITS = 2.0  # bits per unit of log2(1 + |residual|): the slope of the Laplace tables' cost


def _table_bits(table: torch.Tensor, pos: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """Bits of symbols under per-row cost tables (rows, values): the value is the exact cost at the
    integer positions ``at`` (what is coded), the gradient that of the costs linearly interpolated
    at the real positions ``pos`` (rows, n; within the table)."""
    lo = pos.detach().floor().long()
    frac = pos - lo
    hi = (lo + 1).clamp(max=table.shape[1] - 1)
    smooth = ((1 - frac) * torch.gather(table, 1, lo) + frac * torch.gather(table, 1, hi)).sum()
    exact = torch.gather(table, 1, at).sum()
    return smooth + (exact - smooth).detach()


class Refiner:
    """Refines scaled latents of one model at one level; see the module docstring."""

    def __init__(self, model: CodecModel, steps: int, lr: float = 0.02) -> None:
        if steps < 0:
            raise ValueError("--refine takes a number of steps >= 0")
        self.model = model
        self.steps = steps
        self.lr = lr
        training = model.info.meta.get("training", {})
        self.lambdas = training.get("lambdas") or [2.0 ** (i - 1) for i in range(model.levels)]
        self.kind = training.get("distortion", "ssim+l1")
        self._costs: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for p in model.synthesis.parameters():
            p.requires_grad_(False)
        self.device = next(model.synthesis.parameters()).device  # the torch backend's (CUDA when present)

    def _key_costs(self, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per channel: (offset, bits per symbol over the table's range) as tensors."""
        if level not in self._costs:
            t = self.model.key_tables[level]
            width = int(t.sizes.max()) - 1
            bits = np.full((len(t), width), 32.0)
            for c in range(len(t)):
                n = int(t.sizes[c]) - 1
                bits[c, :n] = PRECISION - np.log2(t.freqs[c, :n].astype(np.float64))
            self._costs[level] = (torch.from_numpy(t.offsets.astype(np.int64)).to(self.device),
                                  torch.from_numpy(bits).float().to(self.device))
        return self._costs[level]

    def _key_rate(self, u: torch.Tensor, level: int, k: int) -> torch.Tensor:
        offsets, bits = self._key_costs(level)
        pos = (u[:k].reshape(k, -1) - offsets[:k, None]).clamp(0, bits.shape[1] - 1.001)
        return _table_bits(bits[:k], pos, pos.detach().round().long())

    @torch.no_grad()
    def loss(self, x: np.ndarray, ys: np.ndarray, level: int, prev: np.ndarray | None = None,
             dead_zone: float = 0.0, costs: np.ndarray | None = None) -> float:
        """The objective ``bits/pixel + λ·distortion`` of coding ``ys`` (what refine lowers); ``prev``:
        the prediction of a delta frame; ``dead_zone`` and ``costs`` as for :meth:`refine`."""
        u = torch.from_numpy(np.asarray(ys, dtype=np.float32)).to(self.device)
        cost = None if costs is None else torch.from_numpy(np.asarray(costs, dtype=np.float32)).to(self.device)
        return float(self._objective(torch.from_numpy(x).to(self.device), u, level, prev, dead_zone, cost))

    def _objective(self, target: torch.Tensor, u: torch.Tensor, level: int, prev: np.ndarray | torch.Tensor | None,
                   dead_zone: float = 0.0, costs: torch.Tensor | None = None) -> torch.Tensor:
        m = self.model
        k = m.level_channels[level]
        gain = torch.from_numpy(m.gains[level])[:, None, None].to(u.device)
        mask = torch.zeros(u.shape[0], 1, 1, device=u.device)
        mask[:k] = 1
        if prev is None:
            q = (u + (torch.round(u) - u).detach()) * mask
            rate = self._key_rate(u, level, k)
        else:
            pred = torch.as_tensor(prev, dtype=torch.float32, device=u.device)
            r = (u - pred) * mask
            sent = torch.where(r.abs() >= 0.5 + dead_zone, torch.round(r), torch.zeros_like(r))
            rs = r + (sent - r).detach()  # the value the decoder gets; the gradient of r
            q = pred * mask + rs
            if costs is None:
                smooth = _DELTA_BITS * torch.log2(1 + r.abs()).sum()
                exact = _DELTA_BITS * torch.log2(1 + sent.abs()).sum()
                rate = smooth + (exact - smooth).detach()
            else:  # (C, 2W+1) bits of the values -W..W of each channel
                w = (costs.shape[1] - 1) // 2
                pos = (r[:k].reshape(k, -1) + w).clamp(0, 2 * w - 0.001)
                rate = _table_bits(costs[:k], pos, (sent[:k].reshape(k, -1) + w).clamp(0, 2 * w).long())
        d = distortion(target, m.synthesis((q / gain)[None]), self.kind)[0]
        return rate / (target.shape[2] * target.shape[3]) + float(self.lambdas[level]) * d

    def refine(self, x: np.ndarray, ys: np.ndarray, level: int, prev: np.ndarray | None = None,
               dead_zone: float = 0.0, costs: np.ndarray | None = None) -> np.ndarray:
        """A better scaled latent (C,h,w) for frame ``x`` (1,3,H,W) at ``level``; ``prev``: the
        prediction of a delta frame (None for a keyframe), ``dead_zone``: the encoder's, ``costs``:
        per channel, the bits of residual values −W..W (C, 2W+1)."""
        if self.steps == 0:
            return ys
        k = self.model.level_channels[level]
        target = torch.from_numpy(x).to(self.device)
        pred = None if prev is None else torch.from_numpy(np.asarray(prev, dtype=np.float32)).to(self.device)
        cost = None if costs is None else torch.from_numpy(np.asarray(costs, dtype=np.float32)).to(self.device)
        best_u = torch.from_numpy(np.array(ys, dtype=np.float32)).to(self.device)
        u = best_u.clone().requires_grad_(True)
        opt = torch.optim.Adam([u], lr=self.lr)
        best = np.inf
        with torch.enable_grad():
            for _ in range(self.steps + 1):
                loss = self._objective(target, u, level, pred, dead_zone, cost)
                value = float(loss.detach())
                if value < best:
                    best, best_u = value, u.detach().clone()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        out = best_u.cpu().numpy().astype(np.float32)
        out[k:] = 0.0
        return out
