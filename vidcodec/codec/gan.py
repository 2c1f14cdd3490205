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

**Feature space** (``layer`` N, format 6.0; the stream's latent shape is the generator's N × N
feature map ``(C, N, N)``): a frame's state is that feature map, and the decoder runs only the rest
of the generator on it. The search first finds the keyframe's latent as above; the state is then
``features(ẑ) + correction`` at a keyframe and ``previous state + correction`` at every other frame,
a correction changing at most ``coeffs`` values (``KEY_COEFFS_FACTOR ×`` at keyframes), chosen by
:func:`vidcodec.codec.gansearch.sparse_correction` and QSGD-quantized with ``latent_bits``::

    key:   u32 n | n bytes: the latent's payload as above (key_bits) | correction
    delta: correction
    correction: u8 bits | qsgd.pack_sparse (u8 Elias kind | f32 norm | u32 count | gaps, levels)

An N × N map holds far more of a picture than the latent does (on carphone's held-out frames,
SSIM 0.80 against 0.72 at the same search budget) and frame-to-frame changes in it are local.
``features(ẑ)`` is computed by the decoder's generator: unlike a latent, a keyframe's state then
depends on float arithmetic (as any neural decoder's picture does), but not the parsing.

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
from ..models.gan import GanModel, worker_threads
from ..train import losses
from . import (
    DEFAULT_GAN_COEFFS,
    DEFAULT_GAN_GOP,
    DEFAULT_GAN_LAYER,
    DEFAULT_KEY_BITS,
    DEFAULT_SEARCH_ITERS,
    gan_latent_bits,
    gansearch,
)

KEY, DELTA = "key", "delta"
LATENT_BITS = (4, 6, 8)  # the CLI's choices for deltas; the format takes 2..16
KEY_ITERS_FACTOR = 4  # keyframes may search this many times longer than deltas
KEY_COEFFS_FACTOR = 3  # feature space: a keyframe's correction may change this many times more values
# A scene cut: the previous frame's decoded picture is this many times further (in the search's
# distortion) from the new frame than it was from its own. Measured with pgan-carphone: 0.99-1.61
# on carphone's 30 held-out frames and on 7 of them before a cut, 15.2 at the cut (to bikes): a
# keyframe there gave 22.8-27.2 dB where the deltas climbed from 9.5 dB over eight frames.
CUT_RATIO = 3.0
_LENGTH = struct.Struct("<I")
FEATURES_MAJOR = 6  # the format version that introduced feature-space streams
# A feature-space state whose magnitude passes this is damage (a correction's norm forged or flipped with its
# CRC intact): coded streams stay under 6 (pgan-carphone, 70 streams of every size and layer), pixel-normed
# features under the square root of their channels, and the generator's float32 overflows from about 1e19
STATE_LIMIT = 1e4


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
    # PSNR of the keyframe's latent alone (before a feature-space correction): how well the
    # generator's own latent space reaches the frame, what a card's in-domain PSNR measures.
    latent_psnr: float = 0.0
    latent: np.ndarray = field(default=None, repr=False)  # the decoded latent (float32)


def payload(bits: int, v: np.ndarray, frame_index: int, stream_seed: int) -> tuple[bytes, np.ndarray]:
    """QSGD-quantize ``v`` and pack it: (payload bytes, the value the decoder will see)."""
    norm, q = qsgd.quantize(v, bits, stream_seed, frame_index)
    packed = min((qsgd.pack(norm, q, kind) for kind in ("gamma", "delta")), key=len)
    return struct.pack("<B", bits) + packed, qsgd.dequantize(norm, q, bits)


def _bits(data: bytes, what: str) -> int:
    """The QSGD bit depth that opens a latent payload or a correction (CoderError when damaged)."""
    if len(data) < 1:
        raise CoderError(f"empty {what}")
    bits = data[0]
    if not qsgd.MIN_BITS <= bits <= qsgd.MAX_BITS:
        raise CoderError(f"invalid QSGD bit depth {bits}: the packet is damaged")
    return bits


def unpack_payload(data: bytes, latent: int) -> np.ndarray:
    """The float32 value (latent,) of a GAN payload (CoderError when damaged)."""
    bits = _bits(data, "GAN payload")
    norm, q = qsgd.unpack(memoryview(data)[1:], latent)
    return qsgd.dequantize(norm, q, bits)


def correction_payload(bits: int, v: np.ndarray, frame_index: int, stream_seed: int) -> tuple[bytes, np.ndarray]:
    """QSGD-quantize a sparse correction ``v`` (any shape) and pack it by its non-zero levels:
    (payload bytes, the value the decoder will see, shaped as ``v``). The dither is seeded apart
    from the latent's (frame index + 2⁴⁰) so that a keyframe's two vectors draw independently."""
    norm, q = qsgd.quantize(v, bits, stream_seed, frame_index + (1 << 40))
    packed = min((qsgd.pack_sparse(norm, q, kind) for kind in ("gamma", "delta")), key=len)
    return struct.pack("<B", bits) + packed, qsgd.dequantize(norm, q, bits)


def unpack_correction(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """The float32 value (``shape``) of a correction (CoderError when damaged)."""
    bits = _bits(data, "GAN correction")
    norm, q = qsgd.unpack_sparse(memoryview(data)[1:], math.prod(shape))
    return qsgd.dequantize(norm, q, bits).reshape(shape)


def split_key(data: bytes) -> tuple[bytes, bytes]:
    """A feature-space key payload → (latent payload, correction)."""
    if len(data) < _LENGTH.size:
        raise CoderError("GAN key payload shorter than its length field")
    (n,) = _LENGTH.unpack_from(data)
    if n > len(data) - _LENGTH.size:
        raise CoderError(f"GAN key payload announces a {n}-byte latent in {len(data) - _LENGTH.size} bytes")
    return data[_LENGTH.size:_LENGTH.size + n], data[_LENGTH.size + n:]


def key_base(model: GanModel, z: np.ndarray, layer: int) -> np.ndarray:
    """``features(z)`` at ``layer``, float32 (C, N, N): a keyframe's state before its correction.
    Encoder and decoder both call this, one latent at a time."""
    with torch.no_grad(), model.lock:
        return model.features(torch.from_numpy(np.asarray(z, np.float32).reshape(1, -1)), layer)[0] \
            .cpu().numpy().astype(np.float32)


def next_latent(prev: np.ndarray | None, value: np.ndarray) -> np.ndarray:
    """A frame's latent from its payload's value: the value itself for a key (``prev`` None), else
    the previous latent plus it, in float32. Encoder and decoder both call this: closed loop."""
    return value if prev is None else (prev + value).astype(np.float32)


class GanFrameEncoder:
    """Per-stream GAN-mode encoder: keyframes every ``gop`` frames, and at scene cuts (:data:`CUT_RATIO`)
    in between, which leave the next one where it was."""

    def __init__(self, model: GanModel, *, gop: int = DEFAULT_GAN_GOP, latent_bits: int | None = None,
                 key_bits: int = DEFAULT_KEY_BITS, search_iters: int = DEFAULT_SEARCH_ITERS,
                 distortion: str = "ssim+l1", stream_seed: int = 0,
                 lr: float = 0.01, tol: float = 1e-3, patience: int = 20,
                 layer: int | None = DEFAULT_GAN_LAYER, coeffs: int = DEFAULT_GAN_COEFFS,
                 scene_cut: float = CUT_RATIO) -> None:
        if gop < 1:
            raise UsageError("--gop must be at least 1 (1 = every frame is a keyframe)")
        if latent_bits is None:
            latent_bits = gan_latent_bits(layer)
        for name, b in (("--latent-bits", latent_bits), ("--key-bits", key_bits)):
            if not qsgd.MIN_BITS <= b <= qsgd.MAX_BITS:
                raise UsageError(f"{name} must be between {qsgd.MIN_BITS} and {qsgd.MAX_BITS} (got {b})")
        if search_iters < 1:
            raise UsageError(f"--search-iters must be at least 1 (got {search_iters})")
        if coeffs < 0:
            raise UsageError(f"--coeffs must be at least 0 (got {coeffs})")
        if layer is not None:
            try:
                model.state_shape(layer)
            except ValueError as e:
                raise UsageError(f"--gan-layer {layer}: {e}; use z or one of its scales") from None
        self.layer, self.coeffs, self.scene_cut = layer, coeffs, scene_cut
        self.state_shape = model.state_shape(layer)
        values = math.prod(self.state_shape)
        if layer is not None and coeffs != DEFAULT_GAN_COEFFS and coeffs > values:  # the default: all there is
            raise UsageError(f"--coeffs {coeffs}: the {layer}x{layer} feature map has {values} values to correct")
        self.model, self.gop = model, gop
        self.latent_bits, self.key_bits = latent_bits, key_bits
        self.search_iters, self.distortion = search_iters, distortion
        self.stream_seed, self.lr, self.tol, self.patience = stream_seed, lr, tol, patience
        self.frame = 0  # index of the next frame in the stream (seeds the QSGD dither)
        self._prev: np.ndarray | None = None  # decoded latent of the previous frame
        self._prev_loss = math.inf  # its distortion against its own frame
        self._since_key = 0

    def encode(self, rgb: np.ndarray) -> GanFrame:
        """Code the next frame of the stream (H×W×3 uint8)."""
        if self._prev is None or self._since_key >= self.gop:
            self._since_key = 0
        (frame,) = self._step([(rgb, self._prev if self._since_key else None)], [self.frame], [self._prev_loss])
        # a scene cut's keyframe leaves the GOPs where they were (every ``gop`` frames), so that
        # encode_gops, whose lanes start on that grid, writes the same stream
        self._prev, self._prev_loss = frame.latent, frame.loss
        self.frame, self._since_key = self.frame + 1, self._since_key + 1
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
        prev_loss = {g: math.inf for g in range(len(gops))}
        for t in range(self.gop):
            lanes = [g for g, idx in enumerate(gops) if t < len(idx)]
            if not lanes:
                break
            coded = self._step([(frames[gops[g][t]], prev[g]) for g in lanes],
                               [self.frame + gops[g][t] for g in lanes], [prev_loss[g] for g in lanes])
            for g, f in zip(lanes, coded):
                out[gops[g][t]] = f
                prev[g], prev_loss[g] = f.latent, f.loss
        self.frame += len(frames)
        if frames:
            last = out[-1]
            self._prev, self._prev_loss = last.latent, last.loss
            self._since_key = len(gops[-1])
        return out

    def _step(self, work: list[tuple[np.ndarray, np.ndarray | None]], indices: list[int],
              prev_losses: list[float]) -> list[GanFrame]:
        """Search and code one frame per lane; a lane whose previous latent is None is a keyframe, and
        so is one at a scene cut (its previous state's distortion against the new frame over
        ``scene_cut`` (:data:`CUT_RATIO`) times ``prev_losses``, that state's own)."""
        worker_threads()
        m = self.model
        target = torch.cat([m.squash(rgb) for rgb, _ in work])
        later = [i for i, (_, prev) in enumerate(work) if prev is not None and math.isfinite(prev_losses[i])]
        if later:
            with torch.no_grad(), m.lock:
                start = gansearch.frame_distortion(m.render(torch.from_numpy(np.stack([work[i][1] for i in later]))),
                                                   target[later], self.distortion).cpu().tolist()
            cuts = {i for i, d in zip(later, start) if d > self.scene_cut * prev_losses[i]}
            work = [(rgb, None) if i in cuts else (rgb, prev) for i, (rgb, prev) in enumerate(work)]
        keys = [prev is None for _, prev in work]
        z0 = torch.empty(len(work), m.latent)
        guess = m.guess(target) if any(keys) else None
        for i, (_, prev) in enumerate(work):
            if prev is not None:
                if self.layer is None:
                    z0[i] = torch.from_numpy(prev)
            elif guess is not None:
                z0[i] = guess[i]
            else:
                z0[i] = gansearch.cold_start(m.latent)[0]
        if self.layer is not None:
            return self._step_features(target, work, indices, z0, keys)
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
        return self._measured(target, out, losses_too=False)

    def _step_features(self, target: torch.Tensor, work: list, indices: list[int], z0: torch.Tensor,
                       keys: list[bool]) -> list[GanFrame]:
        """Feature space: keyframes' latents first (searched and quantized as in latent space), then
        one sparse correction per lane from its base (features of the decoded latent, or the
        previous state)."""
        m = self.model
        base = np.empty((len(work), *self.state_shape), np.float32)
        heads: dict[int, bytes] = {}
        iters = np.zeros(len(work), np.int64)
        start = np.zeros(len(work))
        k = [i for i, key in enumerate(keys) if key]
        if k:
            with m.lock:
                res = gansearch.search(m.generator, target[k], z0[k].to(m.device),
                                       max_iters=self.search_iters * KEY_ITERS_FACTOR, lr=self.lr, tol=self.tol,
                                       patience=self.patience, kind=self.distortion)
            for j, i in enumerate(k):
                data, zq = payload(self.key_bits, res.z[j].numpy().astype(np.float32), indices[i], self.stream_seed)
                heads[i] = _LENGTH.pack(len(data)) + data
                base[i] = key_base(m, zq, self.layer)
                iters[i], start[i] = int(res.iters[j]), float(res.start_losses[j])
        for i, (_, prev) in enumerate(work):
            if prev is not None:
                base[i] = prev
        counts = [self.coeffs * (KEY_COEFFS_FACTOR if key else 1) for key in keys]
        steps = self.search_iters * (2 if any(keys) else 1)
        b = torch.from_numpy(base).to(m.device)
        with m.lock:
            d, base_losses = gansearch.sparse_correction(m.generator.synthesize, target, b, counts, max_iters=steps,
                                                         lr=self.lr, tol=self.tol, patience=self.patience,
                                                         kind=self.distortion)
        # a delta's search starts at the previous state; a key's at its latent search's start
        start = np.where(keys, start, base_losses.numpy())
        latent_psnr = np.zeros(len(work))
        if k:
            with torch.no_grad(), m.lock:
                latent_psnr[k] = losses.psnr(target[k], m.render(b[k])).cpu().numpy()
        out = []
        for i, key in enumerate(keys):
            data, value = correction_payload(self.latent_bits, d[i].numpy(), indices[i], self.stream_seed)
            state = (base[i] + value).astype(np.float32)
            out.append(GanFrame(KEY if key else DELTA, heads.get(i, b"") + data, 0, int(iters[i]) + steps, 0.0,
                                float(start[i]), latent=state, latent_psnr=float(latent_psnr[i])))
        return self._measured(target, out)

    def _measured(self, target: torch.Tensor, out: list[GanFrame], losses_too: bool = True) -> list[GanFrame]:
        """Fill each frame's PSNR (and with ``losses_too`` its loss) of its decoded state against the
        squashed frame."""
        m = self.model
        with torch.no_grad(), m.lock:
            states = torch.from_numpy(np.stack([f.latent for f in out]))
            img = m.render(states)
            psnr = losses.psnr(target, img)
            loss = gansearch.frame_distortion(img, target, self.distortion)
        for f, p, lo in zip(out, psnr.cpu().tolist(), loss.cpu().tolist()):
            f.psnr = p if math.isfinite(p) else 100.0
            if losses_too:
                f.loss = lo
            else:  # latent space: the state is the latent
                f.latent_psnr = f.psnr
        return out


class GanFrameDecoder:
    """Per-stream GAN-mode decoder: payloads → latents (the pictures come from :meth:`GanModel.picture`)."""

    def __init__(self, model: GanModel, latent_shape: tuple[int, int, int], major: int = FEATURES_MAJOR) -> None:
        shape = tuple(int(v) for v in latent_shape)
        try:
            self.layer = model.layer_of(shape)
            known = self.layer is None or major >= FEATURES_MAJOR
        except ValueError:
            known = False
        if not known:
            raise CorruptPacketError(
                f"stream has latent shape {shape} but GAN model {model.name} has a latent of {model.latent} values"
                + (f" and feature maps {', '.join(str(model.state_shape(4 << k)) for k in range(len(model.config.depths)))}"
                   f" (from format {FEATURES_MAJOR}.0 on)" if major >= FEATURES_MAJOR else ""))
        self.model, self.shape = model, shape
        self._prev: np.ndarray | None = None

    def decode_symbols(self, kind: str, data: bytes) -> tuple[np.ndarray, int]:
        """The frame's state (a latent (latent,) or a feature map (C, N, N), float32) and level 0;
        a delta needs the previous frame."""
        if kind not in (KEY, DELTA):
            raise CoderError(f"unknown packet kind {kind!r}")
        if kind == DELTA and self._prev is None:
            raise CoderError("delta packet without its reference frame (join at a keyframe)")
        if self.layer is None:
            state = next_latent(self._prev if kind == DELTA else None, unpack_payload(data, self.model.latent))
        elif kind == KEY:
            head, rest = split_key(data)
            z = unpack_payload(head, self.model.latent)
            if not np.isfinite(z).all():
                raise CoderError("GAN latent is not finite: the packet is damaged")
            state = (key_base(self.model, z, self.layer) + unpack_correction(rest, self.shape)).astype(np.float32)
        else:
            state = (self._prev + unpack_correction(data, self.shape)).astype(np.float32)
        if not np.isfinite(state).all():
            raise CoderError("GAN latent is not finite: the packet is damaged")
        if self.layer is not None and np.abs(state).max(initial=0) > STATE_LIMIT:
            # finite, but past what the generator's float32 arithmetic survives (pixel norm squares it)
            raise CoderError(f"GAN feature map out of range (beyond ±{STATE_LIMIT:g}): the packet is damaged")
        self._prev = state
        return state, 0

    def latent(self, state: np.ndarray, level: int) -> np.ndarray:
        return state
