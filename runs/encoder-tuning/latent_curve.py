"""What the encoder experiments here share: a rate-distortion curve of an encoder coding a clip's
latents frame by frame at every level, bytes the payloads' sizes, quality from the synthesis of the
encoder's own decoded latent (what the decoder holds). Imported by the scripts beside it (run as
``python runs/encoder-tuning/SCRIPT.py``, which puts this folder on the path)."""

from collections.abc import Callable
from pathlib import Path

import numpy as np

from vidcodec.codec.vaegan import FrameEncoder, to_rgb, to_tensor
from vidcodec.evaluate import metrics, rd


def clip_latents(m, spec: str, frames: int) -> tuple[str, list[np.ndarray], list[np.ndarray]]:
    """``CLIP[:SKIP]``'s name with its skip, its first ``frames`` RGB frames from SKIP on, and
    their latents from model ``m``."""
    clip, _, skip = spec.partition(":")
    ref, _ = rd.read_frames(Path(clip), frames, int(skip or 0))
    return f"{Path(clip).name}:{skip or 0}", ref, [m.analyze(to_tensor(f, m.downscale))[0] for f in ref]


def curve(m, make: Callable[[int], FrameEncoder], ref: list[np.ndarray],
          ys: list[np.ndarray]) -> list[tuple[float, float, float]]:
    """(bpp, mean PSNR, mean MS-SSIM) at each level of model ``m``, ``make(level)`` giving the encoder."""
    points = []
    for level in range(m.levels):
        enc = make(level)
        size, psnr, msssim = 0, [], []
        for frame, y in zip(ref, ys):
            size += len(enc.encode_latent(y).payload)
            lat = (enc._prev.astype(np.float32) / (enc.unit * m.gains[enc.level][:, None, None]))[None]
            out = to_rgb(m.synthesize(lat), frame.shape[1], frame.shape[0])
            psnr.append(metrics.psnr(frame, out))
            msssim.append(metrics.ms_ssim_rgb(frame, out))
        bpp = 8 * size / (len(ref) * ref[0].shape[0] * ref[0].shape[1])
        points.append((bpp, float(np.mean(psnr)), float(np.mean(msssim))))
    return points
