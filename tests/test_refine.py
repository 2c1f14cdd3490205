"""--refine: gradient steps on the latent lower the frame's rate-distortion loss; streams stay decodable."""

from __future__ import annotations

import numpy as np
import pytest

import vidcodec
from vidcodec import media
from vidcodec.codec.refine import Refiner
from vidcodec.codec.vaegan import FrameEncoder, to_tensor
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
    prev = np.rint(ys * 0.5).astype(np.float32)  # a delta frame's prediction
    assert r.loss(x, r.refine(x, ys, 1, prev), 1, prev) <= r.loss(x, ys, 1, prev)
    # as the encoder calls it: its dead zone, and each channel's residual-table costs from its plan
    enc = FrameEncoder(m, 1)
    enc.encode_latent(m.analyze(x)[0])  # a keyframe, so that the next frame is a delta
    pred = enc._prediction(ys)
    costs = enc._refine_costs(ys, pred)
    assert costs.shape == (ys.shape[0], 2 * 64 + 1) and (costs > 0).all()
    assert np.argmin(costs[0]) == 64  # zero is the cheapest residual
    # the objective is piecewise constant (it scores the rounded, dead-zoned values): steps big
    # enough to cross rounding boundaries find a strictly better latent on this frame
    big = Refiner(m, 15, lr=0.3)
    refined = big.refine(x, ys, 1, pred.astype(np.float32), enc.dead_zone, costs)
    assert big.loss(x, refined, 1, pred, enc.dead_zone, costs) < big.loss(x, ys, 1, pred, enc.dead_zone, costs)
    s = vidcodec.encode(clip, tmp_path / "r.gvc", model="vaegan-tiny", quality=2, gop=4, refine=3)
    assert s.frames == 12 and len(list(vidcodec.frames(tmp_path / "r.gvc"))) == 12
    with pytest.raises(UsageError):
        vidcodec.encode(clip, tmp_path / "x.gvc", model="vaegan-tiny", quality=2, refine=-1)


@pytest.mark.parametrize("backend", ["torch", "bf16"])
def test_refining_after_the_torch_backends_analysis_has_gradients(clip, tiny_model_dir, backend):
    # The torch backends analyze in inference mode; the modules built there first once had inference
    # tensors as parameters, and the refiner's backward pass through the synthesis failed.
    if backend == "bf16" and not zoo.cpu_has_bf16():
        pytest.skip("no native bfloat16 on this CPU")
    m = zoo.CodecModel(zoo.find("vaegan-tiny"), backend)  # a fresh model: its modules not built yet
    with media.open_source(clip) as src:
        x = to_tensor(next(iter(src)).rgb)
    ys = m.analyze(x)[0] * m.gains[1][:, None, None]  # builds the modules, in inference mode
    r = Refiner(m, 5)
    assert r.loss(x, r.refine(x, ys, 1), 1) <= r.loss(x, ys, 1)
