"""Finding installed models by name and weights hash."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from vidcodec.errors import ModelNotFoundError
from vidcodec.models import zoo


def _install(folder, stem, name, payload: bytes):
    (folder / f"{stem}.safetensors").write_bytes(payload)
    (folder / f"{stem}.json").write_text(json.dumps({"name": name}))
    return zoo.file_sha256(folder / f"{stem}.safetensors")


def test_name_alone_finds_the_file_named_after_it_and_older_weights_by_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", str(tmp_path))
    old = _install(tmp_path, "m@0123456789ab", "m", b"old weights")  # sorts before m.json
    new = _install(tmp_path, "m", "m", b"new weights")
    assert zoo.find("m").sha256 == new
    assert zoo.find("m", old).sha256 == old and zoo.find("m", new).sha256 == new
    with pytest.raises(ModelNotFoundError, match="m@"):
        zoo.find("m", "f" * 64)
    # NAME@PREFIX, as the error lists them: a prefix of the hash picks the weights
    assert zoo.find(f"m@{old[:12]}").sha256 == old and zoo.find(f"m@{new[:12].upper()}").sha256 == new
    with pytest.raises(ModelNotFoundError, match=f"m@{'f' * 12} is not installed"):
        zoo.find(f"m@{'f' * 12}")
    if old[0] == new[0]:  # hashes sharing a prefix: ambiguous
        with pytest.raises(ModelNotFoundError, match="give more of the hash"):
            zoo.find(f"m@{old[0]}")
    (tmp_path / "m.json").unlink()
    assert zoo.find("m").sha256 == old  # without the canonical file, any weights of that name


def test_models_on_the_path_come_before_the_shipped_ones(tmp_path, monkeypatch):
    shipped = zoo.find("vaegan-n")
    shutil.copy(shipped.weights, tmp_path / "mine.safetensors")
    (tmp_path / "mine.json").write_text(json.dumps(shipped.meta))
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", str(tmp_path))
    assert zoo.find("vaegan-n").weights.parent == tmp_path
    assert zoo.find("vaegan-n", shipped.sha256).weights.parent == tmp_path


def test_a_model_on_the_path_named_like_a_shipped_one_is_used_and_said(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", str(tmp_path))
    monkeypatch.setattr(zoo, "_warned", set())
    mine = _install(tmp_path, "vaegan-n", "vaegan-n", b"retrained weights")
    with caplog.at_level("WARNING", logger="vidcodec"):
        assert zoo.find("vaegan-n").sha256 == mine and zoo.find("vaegan-n").sha256 == mine
    said = [r.getMessage() for r in caplog.records if "not the one vidcodec ships" in r.getMessage()]
    assert len(said) == 1 and str(tmp_path) in said[0]  # once, naming the file used


def test_every_shipped_card_names_its_own_weights_and_the_default_is_complete(monkeypatch):
    """Streams name a model by name and SHA-256: each shipped card must agree with its file, and the
    default must carry its sub-pixel table and int8 ranges (a release that shipped a model half
    packaged, or edited weights without repackaging, fails here)."""
    monkeypatch.delenv("VIDCODEC_MODEL_PATH", raising=False)
    checked = 0
    for weights in sorted(zoo.PACKAGE_WEIGHTS.glob("*.safetensors")):
        card = weights.with_suffix(".json")
        if not card.is_file():  # side files: sub-pixel tables
            continue
        meta, digest = json.loads(card.read_text()), zoo.file_sha256(weights)
        assert meta.get("sha256", digest) == digest, card.name
        if "@" in weights.stem:  # an earlier version kept by hash: NAME@<first 12 hex digits>
            assert digest.startswith(weights.stem.split("@")[1]), weights.name
        assert zoo.find(meta["name"], digest).weights == weights
        checked += 1
    assert checked >= 7
    default = zoo.find(zoo.DEFAULT_MODEL)
    assert default.weights.parent == zoo.PACKAGE_WEIGHTS
    for side in (".subpel.safetensors", ".int8.json"):
        assert (zoo.PACKAGE_WEIGHTS / f"{zoo.DEFAULT_MODEL}{side}").is_file(), side


def test_a_damaged_weights_file_and_a_path_given_as_a_model_are_errors_that_say_so(tmp_path, monkeypatch,
                                                                                    tiny_model_dir):
    from vidcodec.errors import InputError

    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_model_dir / f"vaegan-tiny{suffix}", tmp_path / f"vaegan-tiny{suffix}")
    (tmp_path / "vaegan-tiny.safetensors").write_bytes((tmp_path / "vaegan-tiny.safetensors").read_bytes()[:300])
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", os.pathsep.join([str(tmp_path), os.environ["VIDCODEC_MODEL_PATH"]]))
    with pytest.raises(InputError, match=r"model vaegan-tiny: its weights .* cannot be read .*damaged or cut short"):
        zoo.load("vaegan-tiny")
    with pytest.raises(ModelNotFoundError, match="--model takes an installed model's name, not a path"):
        zoo.find("my-weights/mine.safetensors")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.json").write_text(json.dumps({"step": 10, "config": {}}))
    with pytest.raises(ModelNotFoundError, match=r"is a training checkpoint, not a packaged model: package it"):
        zoo.find(str(tmp_path / "run" / "best.safetensors"))
    with pytest.raises(ModelNotFoundError, match="your own: put its .safetensors and .json in a folder"):
        zoo.find("mine")


@pytest.mark.parametrize("edit, message", [
    (lambda card: card["config"].update(dec_channels=card["config"]["dec_channels"] * 2),
     r"its synthesis weights do not fit the widths its card gives"),
    (lambda card: card["config"].update(latent_channels=card["config"]["latent_channels"] * 2),
     r"its card says 3 levels of 16 channels, its weights hold log-gains of shape \(3, 8\)"),
    (lambda card: card.pop("config"), r"its card has no usable config"),
])
def test_a_card_that_does_not_describe_its_weights_is_an_error_that_says_so(tmp_path, monkeypatch, tiny_model_dir,
                                                                            edit, message):
    # an edited card, or one copied from another model: torch's size mismatch or a KeyError had come out
    # as a traceback (the stream's hash covers the weights file alone)
    from vidcodec.errors import InputError

    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_model_dir / f"vaegan-tiny{suffix}", tmp_path / f"vaegan-tiny{suffix}")
    card = json.loads((tmp_path / "vaegan-tiny.json").read_text())
    edit(card)
    (tmp_path / "vaegan-tiny.json").write_text(json.dumps(card))
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", str(tmp_path))
    zoo._load.cache_clear()
    try:
        with pytest.raises(InputError, match=message + r".*vaegan-tiny.json does not describe its weights"):
            zoo.load("vaegan-tiny", backend="torch")._torch_modules()
    finally:
        zoo._load.cache_clear()


def test_a_training_run_on_the_model_path_is_named_as_not_yet_packaged(tmp_path, monkeypatch):
    # VIDCODEC_MODEL_PATH given the run's folder: "put its .safetensors and .json in a folder named in
    # VIDCODEC_MODEL_PATH" had been advice the user had followed
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.safetensors").write_bytes(b"")
    (run / "best.json").write_text(json.dumps({"step": 10, "config": {"name": "mine"}}))
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", str(run))
    with pytest.raises(ModelNotFoundError, match=r"model mine is not installed: .*best.safetensors is a training "
                                                 r"checkpoint of it.*vidcodec.train.package"):
        zoo.find("mine")
    with pytest.raises(ModelNotFoundError, match=r"model other is not installed \(installed:"):
        zoo.find("other")
    # a stream's model (its hash): that checkpoint is other weights, not the stream's
    with pytest.raises(ModelNotFoundError, match=r"model mine@abababababab is not installed \(installed:"):
        zoo.find("mine", "ab" * 32)
    with pytest.raises(ModelNotFoundError, match=r"model mine@abab is not installed \(installed:"):
        zoo.find("mine@abab")
