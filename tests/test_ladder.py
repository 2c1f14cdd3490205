"""Channel ladder models: a level codes only a prefix of the latent channels, in every coder."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest
from conftest import write_testsrc

import vidcodec
from vidcodec.codec.vaegan import DELTA, KEY, FrameDecoder, FrameEncoder, to_tensor
from vidcodec.models import zoo
from vidcodec.outputs import _umask
from vidcodec.train.cli_args import add_arguments
from vidcodec.train.package import package
from vidcodec.train.vaegan import config_from_args, train

_BEST: list = []  # the ladder run's best checkpoint


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    """A tiny 3-level model with the ladder 2/4/8 channels, trained for 2 steps and packaged."""
    tmp = tmp_path_factory.mktemp("ladder")
    data = tmp / "data"
    data.mkdir()
    write_testsrc(data / "clip.mp4", frames=8, size=(96, 64))
    p = argparse.ArgumentParser()
    add_arguments(p)
    cfg = config_from_args(p.parse_args([
        "--data", str(data), "--out", str(tmp / "run"), "--name", "tiny-ladder", "--enc-channels", "8",
        "--dec-channels", "8", "--latent-channels", "8", "--lambdas", "8", "32", "128", "--level-channels", "2",
        "4", "8", "--steps", "2", "--batch", "3", "--crop", "32", "--val-crops", "1", "--threads", "1",
        "--frames-per-video", "4", "--val-every-nth", "4", "--adv-weight", "0"]))
    best = train(cfg, progress=False)
    _BEST[:] = [best]
    package(best, tmp / "weights", default_quality=2)
    old = os.environ.get("VIDCODEC_MODEL_PATH")
    os.environ["VIDCODEC_MODEL_PATH"] = str(tmp / "weights")
    yield zoo.load("tiny-ladder")
    if old is None:
        os.environ.pop("VIDCODEC_MODEL_PATH", None)
    else:
        os.environ["VIDCODEC_MODEL_PATH"] = old


def test_model_card_carries_the_ladder_and_default(ladder, tmp_path, capsys):
    assert ladder.level_channels == [2, 4, 8]
    assert ladder.default_quality == 2
    assert ladder.info.weights.stat().st_mode & 0o777 == 0o666 & ~_umask()  # not safetensors' 0600
    from vidcodec.errors import UsageError
    from vidcodec.train.package import main

    with pytest.raises(SystemExit) as e:  # one line and exit 2, not a traceback about nosuch.json
        main([str(tmp_path / "nosuch.safetensors"), str(tmp_path / "w")])
    assert e.value.code == 2 and "nosuch.safetensors does not exist" in capsys.readouterr().err
    with pytest.raises(UsageError, match="cannot name a model"):  # not a file outside the models folder
        package(_BEST[0], tmp_path / "w", name="../x")
    with pytest.raises(UsageError, match="is a packaged model"):  # a shipped model given back to package
        package(ladder.info.weights, tmp_path / "w")
    (tmp_path / "cut.safetensors").write_bytes(b"\0" * 16)
    (tmp_path / "cut.json").write_text(_BEST[0].with_suffix(".json").read_text())
    with pytest.raises(UsageError, match="cut.safetensors cannot be read as the model its .json describes"):
        package(tmp_path / "cut.safetensors", tmp_path / "w")
    with pytest.raises(UsageError, match="--default-quality must be in 1..3"):
        package(_BEST[0], tmp_path / "w", default_quality=5)
    assert not (tmp_path / "w").exists()  # nothing written


def test_packaging_over_other_weights_keeps_them_and_a_run_folder_is_no_model_folder(ladder, tmp_path, capsys,
                                                                                        monkeypatch):
    import json

    from vidcodec.errors import ModelNotFoundError, UsageError
    from vidcodec.train.package import main

    w = tmp_path / "w"
    w.mkdir()
    (w / "tiny-ladder.safetensors").write_bytes(b"earlier weights")  # streams made with them name this hash
    (w / "tiny-ladder.json").write_text(json.dumps({"name": "tiny-ladder"}))
    earlier = zoo.file_sha256(w / "tiny-ladder.safetensors")
    package(_BEST[0], w)
    assert (w / f"tiny-ladder@{earlier[:12]}.safetensors").read_bytes() == b"earlier weights"
    assert json.loads((w / f"tiny-ladder@{earlier[:12]}.json").read_text())["name"] == "tiny-ladder"
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", str(w))
    assert zoo.find("tiny-ladder", earlier).weights.name == f"tiny-ladder@{earlier[:12]}.safetensors"
    assert zoo.find("tiny-ladder").weights == w / "tiny-ladder.safetensors"
    package(_BEST[0], w)  # the same weights again: nothing more kept
    assert len(list(w.glob("*.safetensors"))) == 2
    # outputs that are not folders: said, nothing made
    with pytest.raises(UsageError, match="give the folder to write into"):
        package(_BEST[0], tmp_path / "m.safetensors")
    (tmp_path / "f").write_text("")
    with pytest.raises(UsageError, match="is a file; give the folder"):
        package(_BEST[0], tmp_path / "f")
    with pytest.raises(SystemExit) as e:  # one line, not an OSError's traceback
        main([str(_BEST[0]), "/proc/no/such"])
    assert e.value.code == 1 and "cannot write the model into /proc/no/such" in capsys.readouterr().err
    # a training run's folder on the path: its checkpoints are not models, and asking for one says so
    run = _BEST[0].parent
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", str(run))
    assert not [m for m in zoo.installed() if m.weights.parent == run]
    with pytest.raises(ModelNotFoundError, match="best.safetensors is a training checkpoint, not a packaged model"):
        zoo.find("best")


@pytest.mark.parametrize("coder", ["ans", "elias"])
@pytest.mark.parametrize("level", [0, 1, 2])
def test_only_the_levels_prefix_is_coded(ladder, coder, level):
    rng = np.random.default_rng(level)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)]
    frames.append(np.clip(frames[0].astype(int) + rng.integers(-20, 21, frames[0].shape), 0, 255).astype(np.uint8))
    enc = FrameEncoder(ladder, level, coder=coder, gop=8, scene_cut=100.0)
    ys = [ladder.analyze(to_tensor(f))[0] for f in frames]
    dec = FrameDecoder(ladder, ys[0].shape, coder=coder)
    k = ladder.level_channels[level]
    kinds = []
    for y in ys:
        coded = enc.encode_latent(y)
        kinds.append(coded.kind)
        state, lvl = dec.decode_symbols(coded.kind, coded.payload)
        assert lvl == level
        assert np.all(state[k:] == 0)  # the channels above the ladder step are not sent
        np.testing.assert_array_equal(state, enc._prev)  # closed loop, bit-exact
    assert kinds == [KEY, DELTA]
    if coder == "elias":  # u8 level, u8 bits, then K (not C) float32 norms before the symbol section
        norms = np.frombuffer(coded.payload, dtype="<f4", count=k, offset=2)
        assert np.all(np.isfinite(norms)) and np.all(norms >= 0)


def test_ladder_stream_round_trip_and_rate_control(ladder, tmp_path):
    clip = write_testsrc(tmp_path / "c.mp4", frames=12, size=(64, 48), rate=25)
    s = vidcodec.encode(clip, tmp_path / "d.gvc", model="tiny-ladder", gop=4)
    assert s.qualities == {2: 12}  # the model's default quality
    assert len(list(vidcodec.frames(tmp_path / "d.gvc"))) == 12
    s = vidcodec.encode(clip, tmp_path / "r.gvc", model="tiny-ladder", gop=4, bitrate=40.0)
    assert sum(s.qualities.values()) == 12
    assert len(list(vidcodec.frames(tmp_path / "r.gvc"))) == 12
