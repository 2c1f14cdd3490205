"""GAN inversion: the search lowers the distortion, and the warm start from the previous frame's latent
starts lower and stops sooner than the cold start from the mean latent, on a real clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vidcodec import media
from vidcodec.codec.gansearch import cold_start, frame_distortion, resize_to, search, to_unit
from vidcodec.models.pgan import Generator

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "vtest.mp4"


def _frames(n: int, res: int) -> list[torch.Tensor]:
    with media.open_source(SAMPLE) as src:
        rgb = [f.rgb for _, f in zip(range(n), src)]
    x = torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).float() / 255
    return list(resize_to(x, res).split(1))


def test_search_improves_and_warm_start_is_used():
    torch.manual_seed(0)
    g = Generator(16, 32)
    for d in (32, 16):
        g.add_scale(d)  # a 16x16 generator, untrained: inversion still has something to find
    g.eval()
    frames = _frames(3, g.resolution)
    mean = cold_start(16)
    first = search(g, frames[0], mean, max_iters=60)
    assert first.loss < first.start_loss
    cold = search(g, frames[1], mean, max_iters=60)
    warm = search(g, frames[1], first.z, max_iters=60)
    assert warm.start_loss < cold.start_loss  # the previous frame's latent is a better start
    assert warm.loss <= cold.loss * 1.05
    with torch.no_grad():  # the reported loss is the loss of the returned latent
        assert abs(float(frame_distortion(to_unit(g(warm.z)), frames[1]).mean()) - warm.loss) < 1e-5
