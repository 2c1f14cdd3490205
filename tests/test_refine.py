"""--refine: gradient steps on the latent lower the frame's rate-distortion loss; streams stay decodable."""

from __future__ import annotations

import numpy as np
import pytest

import vidcodec
from vidcodec import media
from vidcodec.codec.refine import Refiner
from vidcodec.codec.vaegan import to_tensor
from vidcodec.errors import UsageError
from vidcodec.models import zoo


def test_refined_latent_has_lower_loss_and_round_trips(clip, tmp_path, tiny_model_dir):
    m = zoo.load("vaegan-tiny")
    with media.open_source(clip) as src:
        rgb = next(iter(src)).rgb
    x = to_tensor(rgb)
    ys = m.analyze(x)[0] * m.gains[1][:, None, None]
    r = Refiner(m, 15)
    before = r.loss(x, ys, 1)
    refined = r.refine(x, ys, 1)
    assert r.loss(x, refined, 1) <= before  # never worse: the best iterate is kept
    assert refined.shape == ys.shape and refined.dtype == np.float32
    prev = np.rint(ys * 0.5).astype(np.float32)  # a delta frame: starts from the previous decoded latent
    assert r.loss(x, r.refine(x, ys, 1, prev), 1, prev) <= r.loss(x, ys, 1, prev)
    s = vidcodec.encode(clip, tmp_path / "r.gvc", model="vaegan-tiny", quality=2, gop=4, refine=3)
    assert s.frames == 12 and len(list(vidcodec.frames(tmp_path / "r.gvc"))) == 12
    with pytest.raises(UsageError):
        vidcodec.encode(clip, tmp_path / "x.gvc", model="vaegan-tiny", quality=2, refine=-1)
