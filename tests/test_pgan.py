"""PGAN: the pytorch_GAN_zoo checkpoint layout loads key for key, without pickle; equalized LR, growth, stddev."""

from __future__ import annotations

import math
import pickle
import sys
import types

import pytest
import torch
import torch.nn.functional as F

from vidcodec.models import pgan

Z, DEPTHS = 12, [16, 16, 8]


def zoo_generator_keys(latent: int, depths: list[int], channels: int = 3) -> dict[str, tuple[int, ...]]:
    """The zoo's GNet state-dict keys and shapes, written out from its documented layout."""
    d0 = depths[0]
    keys = {"formatLayer.module.weight": (16 * d0, latent), "formatLayer.module.bias": (16 * d0,),
            "groupScale0.0.module.weight": (d0, d0, 3, 3), "groupScale0.0.module.bias": (d0,)}
    for i, d in enumerate(depths):
        keys[f"toRGBLayers.{i}.module.weight"] = (channels, d, 1, 1)
        keys[f"toRGBLayers.{i}.module.bias"] = (channels,)
        if i:
            keys[f"scaleLayers.{i - 1}.0.module.weight"] = (d, depths[i - 1], 3, 3)
            keys[f"scaleLayers.{i - 1}.0.module.bias"] = (d,)
            keys[f"scaleLayers.{i - 1}.1.module.weight"] = (d, d, 3, 3)
            keys[f"scaleLayers.{i - 1}.1.module.bias"] = (d,)
    return keys


def save_zoo_checkpoint(path, tensors: dict[str, torch.Tensor], old_keys: bool = False) -> None:
    """torch.save a dict shaped like the zoo's (config object of class models.utils.config.BaseConfig)."""
    mods = {name: types.ModuleType(name) for name in ("models", "models.utils", "models.utils.config")}
    base = type("BaseConfig", (), {"__module__": "models.utils.config"})
    mods["models.utils.config"].BaseConfig = base
    cfg = base()
    cfg.alpha, cfg.latentVectorDim, cfg.depthScale0 = 0.0, Z, DEPTHS[0]
    sd = {k.replace(".module.", ".") if old_keys else k: v for k, v in tensors.items()}
    sys.modules.update(mods)
    try:
        torch.save({"config": cfg, "netG": sd, "netD": {}, "avgG": sd}, path)
    finally:
        for name in mods:
            sys.modules.pop(name, None)


@pytest.mark.parametrize("old_keys", [False, True])
def test_zoo_layout_loads_every_key_without_pickle(tmp_path, old_keys):
    torch.manual_seed(0)
    spec = zoo_generator_keys(Z, DEPTHS)
    tensors = {k: torch.randn(shape) for k, shape in spec.items()}
    path = tmp_path / "zoo.pth"
    save_zoo_checkpoint(path, tensors, old_keys)
    g, cfg, zoo_cfg = pgan.load_zoo_checkpoint(str(path))
    assert cfg.latent == Z and cfg.depths == DEPTHS and cfg.resolution == 16
    assert zoo_cfg["latentVectorDim"] == Z
    assert set(g.state_dict()) == set(spec)  # strict load: every key mapped, none left over
    for k, v in g.state_dict().items():
        assert torch.equal(v, tensors[k])
    out = pgan.convert_zoo_checkpoint(str(path), str(tmp_path / "g.safetensors"))
    from safetensors.torch import load_file

    assert set(load_file(out)) == set(spec)


def test_code_in_a_checkpoint_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pth"
    torch.save({"netG": {}, "config": Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        pgan.load_zoo_checkpoint(str(path))


def reference_forward(t: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """The documented GNet computation, written out layer by layer (two scales, alpha 0)."""
    def pn(x):
        return x / torch.sqrt((x * x).mean(dim=1, keepdim=True) + 1e-8)

    def eq(name, x, conv_pad=None):
        w, b = t[f"{name}.module.weight"], t[f"{name}.module.bias"]
        c = math.sqrt(2.0 / math.prod(w.shape[1:]))
        y = F.linear(x, w, b) if conv_pad is None else F.conv2d(x, w, b, padding=conv_pad)
        return c * y  # the constant scales the bias too

    x = F.leaky_relu(eq("formatLayer", pn(z)), 0.2).view(len(z), DEPTHS[0], 4, 4)
    x = pn(F.leaky_relu(eq("groupScale0.0", pn(x), 1), 0.2))
    for i in range(len(DEPTHS) - 1):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = pn(F.leaky_relu(eq(f"scaleLayers.{i}.0", x, 1), 0.2))
        x = pn(F.leaky_relu(eq(f"scaleLayers.{i}.1", x, 1), 0.2))
    return eq(f"toRGBLayers.{len(DEPTHS) - 1}", x, 0)


def test_generator_computes_the_documented_network():
    torch.manual_seed(1)
    g = pgan.Generator.from_config(pgan.PGANConfig(latent=Z, depths=DEPTHS))
    z = torch.randn(3, Z)
    with torch.no_grad():
        assert torch.allclose(g(z), reference_forward(g.state_dict(), z), atol=1e-5)
    # equalized LR: raw weights ~ N(0, 1), biases 0 at init
    w = g.scaleLayers[0][0].module.weight.detach()
    assert abs(float(w.std()) - 1) < 0.1 and torch.all(g.scaleLayers[0][0].module.bias == 0)


def test_growing_fades_the_new_scale_in():
    torch.manual_seed(2)
    g = pgan.Generator(Z, 16)
    z = torch.randn(2, Z)
    assert g(z).shape == (2, 3, 4, 4)
    g.add_scale(8)
    assert g.resolution == 8 and g(z).shape == (2, 3, 8, 8)
    with torch.no_grad():
        g.alpha = 1.0  # only the previous scale, upsampled
        old = g.toRGBLayers[0]
        x = pgan.pixel_norm(F.leaky_relu(g.formatLayer(pgan.pixel_norm(z)), 0.2).view(2, 16, 4, 4))
        x = pgan.pixel_norm(F.leaky_relu(g.groupScale0[0](x), 0.2))
        assert torch.allclose(g(z), F.interpolate(old(x), scale_factor=2, mode="nearest"), atol=1e-6)


def test_minibatch_stddev_and_discriminator_shapes():
    torch.manual_seed(3)
    x = torch.randn(8, 5, 4, 4)
    y = pgan.minibatch_stddev(x)
    assert y.shape == (8, 6, 4, 4)
    expect = torch.sqrt(x[:4].var(dim=0, unbiased=True) + 1e-8).mean()
    assert torch.allclose(y[0, 5], expect.expand(4, 4)) and torch.allclose(y[3, 5], y[0, 5])
    assert not torch.allclose(y[4, 5], y[0, 5])  # the second group has its own value
    d = pgan.Discriminator(16)
    for depth in (16, 8):
        d.add_scale(depth)
    for alpha in (0.0, 0.5):
        d.alpha = alpha
        assert d(torch.randn(4, 3, 16, 16)).shape == (4, 1)


def test_a_converted_zoo_generator_codes_video(tmp_path, monkeypatch, clip):
    """A zoo checkpoint, converted, is an installed GAN-mode model (no encoder: keyframes start from
    the fixed latent) that encodes and decodes a clip."""
    import vidcodec

    torch.manual_seed(0)
    path = tmp_path / "zoo.pth"
    save_zoo_checkpoint(path, {k: torch.randn(s) * 0.1 for k, s in zoo_generator_keys(Z, DEPTHS).items()})
    (tmp_path / "models").mkdir()
    pgan.convert_zoo_checkpoint(str(path), str(tmp_path / "models" / "zoo-test.safetensors"), name="zoo-test")
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", str(tmp_path / "models"))
    s = vidcodec.encode(clip, tmp_path / "z.gvc", mode="gan", model="zoo-test", search_iters=2, max_frames=3)
    assert s.frames == 3
    frames = list(vidcodec.frames(tmp_path / "z.gvc"))
    assert len(frames) == 3 and frames[0].rgb.shape == (48, 64, 3)


def test_features_then_synthesize_is_the_generator():
    """The feature-space GAN mode splits the generator at any scale; both halves compose to it."""
    torch.manual_seed(3)
    g = pgan.Generator.from_config(pgan.PGANConfig(latent=Z, depths=DEPTHS))
    z = torch.randn(2, Z)
    with torch.no_grad():
        for k in range(len(DEPTHS)):
            r = 4 << k
            x = g.features(z, r)
            assert x.shape == (2, *g.feature_shape(r)) == (2, DEPTHS[k], r, r)
            assert torch.allclose(g.synthesize(x), g(z), atol=1e-6)
    with pytest.raises(ValueError, match="no 6x6"):
        g.feature_shape(6)
