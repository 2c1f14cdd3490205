"""A loaded GAN-mode model: a PGAN generator (and, optionally, its encoder) ready to code with.

Installed like the VAE-GAN models (``NAME.safetensors`` + ``NAME.json`` in a weights folder, found
by name and SHA-256), with ``"kind": "pgan"`` in the JSON card. The weights file holds the
generator as ``generator.*`` and the encoder as ``encoder.*`` (see
:func:`vidcodec.train.pgan.export_generator`); a generator converted from a pytorch_GAN_zoo
checkpoint (:func:`vidcodec.models.pgan.convert_zoo_checkpoint`) has unprefixed keys and no
encoder, and works too (keyframes then start from a fixed latent).

The generator works at its own square resolution ``R``; frames are squashed to R × R for the
search (area filter) and the decoder stretches ``G(z)`` back to the stream's size (bicubic).
The networks run on the first CUDA device when torch sees one (``VIDCODEC_DEVICE=cpu`` to
refuse it), else on the CPU; latents enter and leave as CPU tensors or arrays.
"""

from __future__ import annotations

import os
import threading

import cv2
import numpy as np
import torch
from safetensors.torch import load_file

from . import zoo
from .card import GAN_KIND as KIND
from .pgan import Encoder, Generator, PGANConfig

_worker = threading.local()


def worker_threads() -> None:
    """Run this thread's torch work on one core when it is not the main thread.

    The GAN networks are small (64×64, one frame at a time). Called from a worker thread (the
    encoder's search stage, the decoder's synthesis lanes), torch's two-thread OpenMP team made
    them 2–3× *slower* on this 2-core VM than one thread (a delta's search 1.7–2.4 s instead of
    0.9 s, decoding 98 instead of 288 fps), while in the main thread two threads are as fast as
    one. OpenMP's thread count is per thread, so this changes nothing for other threads."""
    if not getattr(_worker, "done", False):
        _worker.done = True
        if threading.current_thread() is not threading.main_thread():
            torch.set_num_threads(1)


class GanModel:
    """Generator (+ encoder) of an installed GAN-mode model; torch only (the search needs gradients)."""

    kind = KIND
    lanes = 1  # frames decoded at once: the generator runs in torch, which threads each call

    def __init__(self, info, backend: str = "torch") -> None:
        self.info = info
        self.name = info.name
        self.sha256 = info.sha256
        self.backend = backend  # decoding always runs the generator with torch
        meta = info.meta
        self.config = PGANConfig.from_dict(meta["config"])
        tensors = zoo.read_weights(info, load_file)
        prefixed = any(k.startswith("generator.") for k in tensors)
        g_state = {k[len("generator."):]: v for k, v in tensors.items() if k.startswith("generator.")} \
            if prefixed else dict(tensors)
        self.device = torch.device("cuda" if torch.cuda.is_available()
                                   and os.environ.get("VIDCODEC_DEVICE", "auto") != "cpu" else "cpu")
        self.generator = Generator.from_config(self.config)
        self.generator.load_state_dict(g_state, strict=True)
        self.generator.to(self.device)
        self.generator.alpha = float(meta.get("alpha", 0.0))
        self.generator.eval().requires_grad_(False)
        e_state = {k[len("encoder."):]: v for k, v in tensors.items() if k.startswith("encoder.")}
        self.encoder: Encoder | None = None
        if e_state:
            self.encoder = Encoder.from_config(self.config)
            self.encoder.load_state_dict(e_state, strict=True)
            self.encoder.eval().requires_grad_(False).to(self.device)
        self.latent = self.config.latent
        self.resolution = self.config.resolution
        self.domain = str(meta.get("domain", "") or "unspecified")
        # Held-out PSNR of the encoder's guess at R × R when trained; the search does better.
        self.domain_psnr = meta.get("val_psnr")
        self.levels = 1
        self.default_quality = 1
        self.lock = threading.Lock()  # torch modules are shared between the threads of a pipeline

    def frame_lanes(self, width: int, height: int) -> int:
        """Frames decoded at once at any size: :attr:`lanes` (as the VAE-GAN models' method)."""
        return self.lanes

    def squash(self, rgb: np.ndarray) -> torch.Tensor:
        """H×W×3 uint8 → (1,3,R,R) float32 in [0,1] on the model's device (area filter, aspect not kept)."""
        small = cv2.resize(rgb, (self.resolution, self.resolution), interpolation=cv2.INTER_AREA)
        return torch.from_numpy(small.transpose(2, 0, 1)[None].astype(np.float32) / 255.0).to(self.device)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent) → (B,3,R,R) in [0,1] on the model's device (with gradients if z requires them)."""
        return ((self.generator(z.to(self.device)) + 1) * 0.5).clamp(0, 1)

    def state_shape(self, layer: int | None) -> tuple[int, int, int]:
        """The coded state of a frame: ``(latent, 1, 1)`` for ``layer`` None (the input latent z),
        else the generator's feature map ``(C, layer, layer)``."""
        return (self.latent, 1, 1) if layer is None else self.generator.feature_shape(layer)

    def layer_of(self, shape: tuple[int, int, int]) -> int | None:
        """Inverse of :meth:`state_shape` (ValueError when the generator has no such state)."""
        shape = tuple(int(v) for v in shape)
        if shape == (self.latent, 1, 1):
            return None
        _, h, w = shape
        if h != w or self.generator.feature_shape(h) != shape:  # feature_shape raises for unknown sizes
            raise ValueError(f"generator {self.name} has no state of shape {shape}")
        return h

    def features(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        """(B, latent) → the feature map (B, C, layer, layer) on the model's device."""
        return self.generator.features(z.to(self.device), layer)

    def render(self, state: torch.Tensor) -> torch.Tensor:
        """A batch of states (B, latent) or (B, C, h, w) → (B,3,R,R) in [0,1] on the model's device."""
        state = state.to(self.device)
        if state.dim() == 2:
            return self.generate(state)
        return ((self.generator.synthesize(state) + 1) * 0.5).clamp(0, 1)

    @torch.no_grad()
    def guess(self, target: torch.Tensor) -> torch.Tensor | None:
        """The encoder's latent (B, latent) on the CPU for (B,3,R,R) images in [0,1], or None without an encoder."""
        if self.encoder is None:
            return None
        return self.encoder(target.to(self.device) * 2 - 1).cpu()

    def picture(self, z: np.ndarray, width: int, height: int, colour: None = None) -> np.ndarray:
        """Decoded state → H×W×3 uint8 at the stream's size: a latent (latent,) or (1, latent), or a
        feature map (C, h, w) of the generator (see :meth:`state_shape`), float32. ``colour``: always
        None (GAN-mode streams carry no colour correction; the argument is the VAE-GAN models')."""
        worker_threads()
        z = np.asarray(z, np.float32)
        state = torch.from_numpy(z[None] if z.ndim == 3 else z.reshape(1, -1))
        with torch.no_grad(), self.lock:
            img = self.render(state)[0].cpu()
        small = np.rint(img.numpy().transpose(1, 2, 0) * 255.0).astype(np.uint8)
        if (width, height) == (self.resolution, self.resolution):
            return np.ascontiguousarray(small)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
