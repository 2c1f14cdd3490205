"""GAN mode: frames ↔ key/delta packet payloads through a generator's latent space.

Every frame is squashed to the generator's R × R and its latent is *searched*
(:func:`vidcodec.codec.gansearch.search`: Adam on L1 + SSIM, early stopping, an iteration cap):

* a **keyframe** starts from the encoder's guess (or a fixed seeded latent for generators
  without one) and carries its whole latent, QSGD-quantized with ``key_bits``;
* every **other frame** starts from the previous frame's *decoded* latent (warm start, closed
  loop) and carries the QSGD-quantized difference to it with ``latent_bits``.

The decoder adds the differences to its own previous latent, so encoder and decoder hold the same
latent at every frame (float32 additions of values decoded from integers: the same on every
machine), and stretches ``G(ẑ)`` to the stream's size.

Payload (key and delta alike)::

    u8 bits (2..16) | u8 Elias kind (0 gamma, 1 delta) | f32 norm | Elias codes of the latent-size levels

(the last three fields are :func:`vidcodec.coding.qsgd.pack`; the encoder keeps whichever Elias
kind is shorter). The value is ``float32(q · norm / (2^bits − 1))``; a key's value is the latent,
a delta's is added to the previous latent.

GOPs are independent, so :meth:`GanFrameEncoder.encode_gops` searches several GOPs in lock-step,
one batched generator call per step — the batching that makes a GPU worth it. Each sample's search
is the computation it would be alone (sum of per-sample losses, element-wise Adam, its own early
stop); batched arithmetic only rounds differently, which Adam can amplify where a gradient is
near zero, so the latents found are as good, not bit-identical.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np
import torch

from ..coding import qsgd
from ..errors import CoderError, CorruptPacketError, UsageError
from ..models.gan import GanModel
from ..train import losses
from . import DEFAULT_GAN_GOP, DEFAULT_KEY_BITS, DEFAULT_LATENT_BITS, DEFAULT_SEARCH_ITERS, gansearch

KEY, DELTA = "key", "delta"
LATENT_BITS = (4, 6, 8)  # the CLI's choices for deltas; the format takes 2..16
KEY_ITERS_FACTOR = 4  # keyframes may search this many times longer than deltas


@dataclass
class GanFrame:
    """One coded frame and what its search did."""

    kind: str
    payload: bytes
    level: int = 0
    iters: int = 0
    loss: float = 0.0
    start_loss: float = 0.0
    psnr: float = 0.0  # of G(decoded latent) against the squashed frame, at R × R
    latent: np.ndarray = field(default=None, repr=False)  # the decoded latent (float32)


def payload(bits: int, v: np.ndarray, frame_index: int, stream_seed: int) -> tuple[bytes, np.ndarray]:
    """QSGD-quantize ``v`` and pack it: (payload bytes, the value the decoder will see)."""
    norm, q = qsgd.quantize(v, bits, stream_seed, frame_index)
    packed = min((qsgd.pack(norm, q, kind) for kind in ("gamma", "delta")), key=len)
    return struct.pack("<B", bits) + packed, qsgd.dequantize(norm, q, bits)


def unpack_payload(data: bytes, latent: int) -> np.ndarray:
    """The float32 value (latent,) of a GAN payload (CoderError when damaged)."""
    if len(data) < 1:
        raise CoderError("empty GAN payload")
    bits = data[0]
    if not qsgd.MIN_BITS <= bits <= qsgd.MAX_BITS:
        raise CoderError(f"invalid QSGD bit depth {bits}: the packet is damaged")
    norm, q = qsgd.unpack(memoryview(data)[1:], latent)
    return qsgd.dequantize(norm, q, bits)


def next_latent(prev: np.ndarray | None, value: np.ndarray) -> np.ndarray:
    """A frame's latent from its payload's value: the value itself for a key (``prev`` None), else
    the previous latent plus it, in float32. Encoder and decoder both call this: closed loop."""
    return value if prev is None else (prev + value).astype(np.float32)


class GanFrameEncoder:
    """Per-stream GAN-mode encoder (keyframes every ``gop`` frames)."""

    def __init__(self, model: GanModel, *, gop: int = DEFAULT_GAN_GOP, latent_bits: int = DEFAULT_LATENT_BITS,
                 key_bits: int = DEFAULT_KEY_BITS, search_iters: int = DEFAULT_SEARCH_ITERS,
                 distortion: str = "ssim+l1", stream_seed: int = 0,
                 lr: float = 0.01, tol: float = 1e-3, patience: int = 20) -> None:
        if gop < 1:
            raise UsageError("--gop must be at least 1 (1 = every frame is a keyframe)")
        for name, b in (("--latent-bits", latent_bits), ("--key-bits", key_bits)):
            if not qsgd.MIN_BITS <= b <= qsgd.MAX_BITS:
                raise UsageError(f"{name} must be between {qsgd.MIN_BITS} and {qsgd.MAX_BITS} (got {b})")
        if search_iters < 1:
            raise UsageError(f"--search-iters must be at least 1 (got {search_iters})")
        self.model, self.gop = model, gop
        self.latent_bits, self.key_bits = latent_bits, key_bits
        self.search_iters, self.distortion = search_iters, distortion
        self.stream_seed, self.lr, self.tol, self.patience = stream_seed, lr, tol, patience
        self.frame = 0  # index of the next frame in the stream (seeds the QSGD dither)
        self._prev: np.ndarray | None = None  # decoded latent of the previous frame
        self._since_key = 0

    def encode(self, rgb: np.ndarray) -> GanFrame:
        """Code the next frame of the stream (H×W×3 uint8)."""
        if self._prev is None or self._since_key >= self.gop:
            self._since_key = 0
        (frame,) = self._step([(rgb, self._prev if self._since_key else None)], [self.frame])
        self._prev, self.frame, self._since_key = frame.latent, self.frame + 1, self._since_key + 1
        return frame

    def encode_gops(self, frames: list[np.ndarray]) -> list[GanFrame]:
        """Code the next ``len(frames)`` frames, searching their GOPs side by side (batched).

        GOPs start every ``gop`` frames from the current position; the stream's state after the
        call is that of the last frame. Only call it at a GOP boundary (or on a fresh encoder).
        """
        if self._since_key not in (0, self.gop) and self._prev is not None:
            raise UsageError("encode_gops must start at a GOP boundary")
        gops = [list(range(i, min(i + self.gop, len(frames)))) for i in range(0, len(frames), self.gop)]
        out: list[GanFrame | None] = [None] * len(frames)
        prev: dict[int, np.ndarray | None] = {g: None for g in range(len(gops))}
        for t in range(self.gop):
            lanes = [g for g, idx in enumerate(gops) if t < len(idx)]
            if not lanes:
                break
            coded = self._step([(frames[gops[g][t]], prev[g]) for g in lanes],
                               [self.frame + gops[g][t] for g in lanes])
            for g, f in zip(lanes, coded):
                out[gops[g][t]] = f
                prev[g] = f.latent
        self.frame += len(frames)
        if frames:
            last = out[-1]
            self._prev = last.latent
            self._since_key = len(gops[-1])
        return out

    def _step(self, work: list[tuple[np.ndarray, np.ndarray | None]], indices: list[int]) -> list[GanFrame]:
        """Search and code one frame per lane; a lane whose previous latent is None is a keyframe."""
        m = self.model
        target = torch.cat([m.squash(rgb) for rgb, _ in work])
        keys = [prev is None for _, prev in work]
        z0 = torch.empty(len(work), m.latent)
        guess = m.guess(target) if any(keys) else None
        for i, (_, prev) in enumerate(work):
            if prev is not None:
                z0[i] = torch.from_numpy(prev)
            elif guess is not None:
                z0[i] = guess[i]
            else:
                z0[i] = gansearch.cold_start(m.latent)[0]
        iters = self.search_iters * (KEY_ITERS_FACTOR if any(keys) else 1)
        with m.lock:
            res = gansearch.search(m.generator, target, z0.to(m.device), max_iters=iters, lr=self.lr, tol=self.tol,
                                   patience=self.patience, kind=self.distortion)
        out = []
        for i, (_, prev) in enumerate(work):
            z = res.z[i].numpy().astype(np.float32)
            data, value = payload(self.key_bits if prev is None else self.latent_bits, z if prev is None else z - prev,
                                  indices[i], self.stream_seed)
            out.append(GanFrame(KEY if prev is None else DELTA, data, 0, int(res.iters[i]), float(res.losses[i]),
                                float(res.start_losses[i]), latent=next_latent(prev, value)))
        with torch.no_grad(), m.lock:
            psnr = losses.psnr(target, m.generate(torch.from_numpy(np.stack([f.latent for f in out]))))
        for f, p in zip(out, psnr.cpu().tolist()):
            f.psnr = p if math.isfinite(p) else 100.0
        return out


class GanFrameDecoder:
    """Per-stream GAN-mode decoder: payloads → latents (the pictures come from :meth:`GanModel.picture`)."""

    def __init__(self, model: GanModel, latent_shape: tuple[int, int, int]) -> None:
        if tuple(latent_shape) != (model.latent, 1, 1):
            raise CorruptPacketError(f"stream has latent shape {tuple(latent_shape)} but GAN model {model.name} "
                                     f"has a latent of {model.latent} values")
        self.model = model
        self._prev: np.ndarray | None = None

    def decode_symbols(self, kind: str, data: bytes) -> tuple[np.ndarray, int]:
        """The frame's latent (latent,) float32 and level 0; a delta needs the previous frame."""
        if kind not in (KEY, DELTA):
            raise CoderError(f"unknown packet kind {kind!r}")
        if kind == DELTA and self._prev is None:
            raise CoderError("delta packet without its reference frame (join at a keyframe)")
        state = next_latent(self._prev if kind == DELTA else None, unpack_payload(data, self.model.latent))
        if not np.isfinite(state).all():
            raise CoderError("GAN latent is not finite: the packet is damaged")
        self._prev = state
        return state, 0

    def latent(self, state: np.ndarray, level: int) -> np.ndarray:
        return state
