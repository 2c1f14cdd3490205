"""Training: config files, determinism, resume, DDP with two processes, the losses' parts."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import write_testsrc

import vidcodec
from vidcodec.cli import main as cli_main
from vidcodec.errors import UsageError
from vidcodec.models.discriminator import PairDiscriminator
from vidcodec.models.layers import FactorizedDensity, stacked_likelihood
from vidcodec.models.vaegan import VAEGAN, VAEGANConfig
from vidcodec.train import checkpoint, losses
from vidcodec.train.config import GanTrainConfig, TrainConfig
from vidcodec.train.saliency import spectral_residual, weight_map
from vidcodec.train.vaegan import init_from, train

TINY = ["--enc-channels", "8", "--dec-channels", "8", "--latent-channels", "8", "--lambdas", "8", "32", "128",
        "--level-channels", "2", "4", "8", "--batch", "6", "--crop", "32", "--val-crops", "2", "--val-every",
        "3", "--log-every", "1", "--threads", "1", "--frames-per-video", "4", "--val-every-nth", "3",
        "--disc-channels", "4"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A folder with a few natural-ish images (noise blobs) and a short testsrc2 video."""
    d = tmp_path_factory.mktemp("traindata")
    rng = np.random.default_rng(1)
    for i in range(6):
        img = cv2.GaussianBlur(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8), (0, 0), 1 + i % 3)
        cv2.imwrite(str(d / f"img{i}.png"), img)
    write_testsrc(d / "clip.mp4", frames=8, size=(96, 64))
    return d


def _cfg(data: Path, out: Path, *extra: str) -> TrainConfig:
    import argparse

    from vidcodec.train.cli_args import add_arguments
    from vidcodec.train.vaegan import config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    return config_from_args(p.parse_args(["--data", str(data), "--out", str(out), *TINY, *extra]))


def _digest(out: Path) -> str:
    return json.loads((out / "ranks.json").read_text())["digests"][0]


def test_same_seed_same_run_and_artifacts(data, tmp_path):
    a = train(_cfg(data, tmp_path / "a", "--steps", "4", "--seed", "3"), progress=False)
    train(_cfg(data, tmp_path / "b", "--steps", "4", "--seed", "3"), progress=False)
    train(_cfg(data, tmp_path / "c", "--steps", "4", "--seed", "4"), progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    run = tmp_path / "a"
    assert a == run / "best.safetensors" and a.exists()
    for name in ("last.safetensors", "last.toml", "best.toml", "config.toml", "log.csv", "val.csv",
                 "curves.png", "disc.safetensors", "sources.json"):
        assert (run / name).exists(), name
    assert len((run / "log.csv").read_text().splitlines()) == 1 + 4
    cfg = TrainConfig.load(run / "last.toml")
    assert cfg.steps == 4 and cfg.level_channels == [2, 4, 8] and cfg.seed == 3
    meta = json.loads((run / "last.json").read_text())
    assert meta["step"] == 4 and len(meta["val"]["bpp"]) == 3


def test_a_batch_smaller_than_the_ladder_trains_every_level_in_turn(data, tmp_path):
    # batch 2, three levels: sample i had trained level i for ever, the third level's gains and
    # density never moved, and the package shipped them untrained
    from safetensors.numpy import load_file

    def gains(step: int) -> np.ndarray:
        return next(v for k, v in load_file(tmp_path / f"s{step}.safetensors").items() if k.endswith("log_gain"))

    out = tmp_path / "b"
    flags = ("--batch", "2", "--adv-weight", "0", "--saliency-floor", "0")
    for steps in (1, 3):
        train(_cfg(data, out, "--steps", str(steps), *flags, *(["--resume"] if steps > 1 else [])), progress=False)
        (tmp_path / f"s{steps}.safetensors").write_bytes((out / "last.safetensors").read_bytes())
    first, later = gains(1), gains(3)
    assert first.shape[0] == 3 and np.all(np.abs(later - first).max(axis=tuple(range(1, first.ndim))) > 0)


def test_clip_0_trains_without_clipping(data, tmp_path):
    from safetensors.numpy import load_file

    out, flags = tmp_path / "c", ("--clip", "0", "--adv-weight", "0", "--saliency-floor", "0")
    train(_cfg(data, out, "--steps", "1", *flags), progress=False)
    first = load_file(out / "last.safetensors")
    train(_cfg(data, out, "--steps", "3", "--resume", *flags), progress=False)
    later = load_file(out / "last.safetensors")
    moved = [k for k in first if k.startswith("model.") and not np.array_equal(first[k], later[k])]
    assert len(moved) > len([k for k in first if k.startswith("model.")]) // 2  # gradients clipped to 0 froze all


def test_resume_continues_and_refuses_to_overwrite(data, tmp_path):
    out = tmp_path / "r"
    train(_cfg(data, out, "--steps", "3", "--adv-weight", "0", "--saliency-floor", "0"), progress=False)
    with pytest.raises(UsageError, match="--resume"):
        _cfg(data, out, "--steps", "5")
    with pytest.raises(UsageError, match="holds no run to resume"):  # had started a new run from step 0
        _cfg(data, tmp_path / "typo", "--steps", "5", "--resume")
    # --config RUN/last.toml --resume from another folder: last.toml's relative out leads nowhere from
    # there, and the run is the one beside the settings file
    import argparse

    from vidcodec.train.cli_args import add_arguments
    from vidcodec.train.vaegan import config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    here = os.getcwd()
    try:
        os.chdir(elsewhere)
        moved = TrainConfig.load(out / "last.toml")
        moved.out = "runs/r"  # as a run started from its repository's root records it
        moved.save(out / "last.toml")
        cfg = config_from_args(p.parse_args(["--config", str(out / "last.toml"), "--resume", "--steps", "4"]))
        assert Path(cfg.out) == out
    finally:
        os.chdir(here)
    train(_cfg(data, out, "--steps", "5", "--resume", "--adv-weight", "0", "--saliency-floor", "0"), progress=False)
    assert json.loads((out / "last.json").read_text())["step"] == 5
    rows = [line.split(",") for line in (out / "log.csv").read_text().splitlines()[1:]]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    times = [float(r[1]) for r in rows]
    assert times == sorted(times)  # the resumed run's clock goes on from the first run's


def test_a_resumed_run_is_the_run_that_was_not_stopped(data, tmp_path):
    """Stopping after 2 steps and resuming to 5 gives the weights (and the discriminator's, and the
    losses logged) of 5 steps in one go: every step's crops, dropout and noise come from its number."""
    from safetensors.torch import load_file

    whole, halves = tmp_path / "whole", tmp_path / "halves"
    train(_cfg(data, whole, "--steps", "5", "--nested-dropout", "0.5"), progress=False)
    train(_cfg(data, halves, "--steps", "2", "--nested-dropout", "0.5"), progress=False)
    train(_cfg(data, halves, "--steps", "5", "--nested-dropout", "0.5", "--resume"), progress=False)
    for name in ("last.safetensors", "disc.safetensors"):
        a, b = load_file(str(whole / name)), load_file(str(halves / name))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert _digest(whole) == _digest(halves)

    def losses(run):  # log.csv without its time column
        return [r.split(",")[:1] + r.split(",")[2:] for r in (run / "log.csv").read_text().splitlines()[1:]]

    assert losses(whole) == losses(halves) and len(losses(whole)) == 5
    # and a run that was never stopped differs with another seed (the check can fail)
    train(_cfg(data, tmp_path / "seed9", "--steps", "5", "--nested-dropout", "0.5", "--seed", "9"), progress=False)
    assert _digest(tmp_path / "seed9") != _digest(whole)


def test_a_run_resumed_between_log_lines_logs_the_rows_of_the_run_that_was_not_stopped(data, tmp_path):
    # a log line averages the steps since the one before; after a resume it had averaged those since the
    # resume only (1.11739 against 1.11231), and the skipped column had started from 0 again
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    train(_cfg(data, whole, "--steps", "6", "--log-every", "3", "--val-every", "4"), progress=False)
    train(_cfg(data, halves, "--steps", "2", "--log-every", "3", "--val-every", "4"), progress=False)
    assert len(json.loads((halves / "last.json").read_text())["unlogged"]) == 2  # steps 1 and 2, on to step 3's row
    train(_cfg(data, halves, "--steps", "6", "--log-every", "3", "--val-every", "4", "--resume"), progress=False)

    def rows(run):  # log.csv without its time column
        return [r.split(",")[:1] + r.split(",")[2:] for r in (run / "log.csv").read_text().splitlines()[1:]]

    assert [r[0] for r in rows(whole)] == ["3", "6"] and [r[0] for r in rows(halves)] == ["2", "3", "6"]
    assert rows(halves)[1:] == rows(whole)


def test_a_skipped_step_draws_a_new_batch_and_a_resume_goes_on_from_the_draws(data, tmp_path, monkeypatch):
    """A step whose loss is not finite is taken again with the next batch (the same batch and noise
    would fail again), and the checkpoint remembers how many were drawn."""
    import vidcodec.train.vaegan as tv

    keys, real_seed, real_finite = [], tv._seed_step, tv._finite_everywhere
    calls = []

    def recording(gen, seed, rank, draw):
        keys.append(draw)
        real_seed(gen, seed, rank, draw)

    def first_fails(loss, world):
        calls.append(1)
        return len(calls) != 1 and real_finite(loss, world)

    monkeypatch.setattr(tv, "_seed_step", recording)
    monkeypatch.setattr(tv, "_finite_everywhere", first_fails)
    out = tmp_path / "skip"
    train(_cfg(data, out, "--steps", "3", "--adv-weight", "0"), progress=False)
    assert keys == [0, 1, 2, 3]  # the skipped draw 0, then steps 0-2 on draws 1-3
    meta = json.loads((out / "last.json").read_text())
    assert (meta["step"], meta["draws"]) == (3, 4)
    assert (out / "log.csv").read_text().splitlines()[-1].split(",")[-1] == "1"  # one step skipped
    keys.clear()
    train(_cfg(data, out, "--steps", "5", "--adv-weight", "0", "--resume"), progress=False)
    assert keys == [4, 5]


def test_ctrl_c_inside_a_step_stops_after_it_and_the_resumed_run_is_the_whole_run(data, tmp_path, monkeypatch):
    """A real SIGINT while the discriminator takes its step (after the autoencoder has taken its own):
    the run finishes that step, saves it, and resuming it ends where a run never stopped ends."""
    import signal

    from conftest import ctrl_c_at_call
    from safetensors.torch import load_file

    import vidcodec.train.vaegan as tv

    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    train(_cfg(data, whole, "--steps", "5"), progress=False)
    real = tv.d_loss
    monkeypatch.setattr(tv, "d_loss", ctrl_c_at_call(real, 3))  # in the third discriminator step
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(data, stopped, "--steps", "5"), progress=False)
    assert signal.getsignal(signal.SIGINT) is before  # the run's handler is gone with it
    meta = json.loads((stopped / "last.json").read_text())
    assert meta["step"] == 3 and meta["interrupted"]  # the third step, whole
    monkeypatch.setattr(tv, "d_loss", real)
    train(_cfg(data, stopped, "--steps", "5", "--resume"), progress=False)
    for name in ("last.safetensors", "disc.safetensors"):
        a, b = load_file(str(whole / name)), load_file(str(stopped / name))
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_a_second_ctrl_c_interrupts_at_once(data, tmp_path, monkeypatch):
    import os
    import signal

    import vidcodec.train.vaegan as tv

    real, calls = tv.d_loss, []

    def ctrl_c_twice(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            pytest.fail("the second Ctrl-C did not interrupt")
        return real(*a, **k)

    monkeypatch.setattr(tv, "d_loss", ctrl_c_twice)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(data, tmp_path / "twice", "--steps", "5"), progress=False)
    assert len(calls) == 2


def test_a_checkpoint_resumes_into_the_fused_adam_of_gpu_training(tmp_path):
    torch.manual_seed(0)
    m = VAEGAN(VAEGANConfig(enc_channels=8, dec_channels=8, latent_channels=8, levels=2))
    x, levels = torch.rand(2, 3, 32, 32), torch.tensor([0, 1])

    def step(opt):
        opt.zero_grad()
        res = m(x, levels)
        (losses.bits_per_pixel(res.likelihoods, 32 * 32) + (x - res.x_hat).abs().mean()).mean().backward()
        opt.step()

    plain = torch.optim.Adam(m.parameters(), lr=1e-3)
    step(plain)
    step(plain)
    checkpoint.save(tmp_path / "c.safetensors", m, {"step": 2}, plain)
    m.to(memory_format=torch.channels_last)  # as training lays the convolutions out; the fused kernel wants
    fused = torch.optim.Adam(m.parameters(), lr=1e-3, fused=True)  # moments with their parameter's strides
    checkpoint.load(tmp_path / "c.safetensors", m, fused)
    p = m.log_gain
    assert torch.equal(fused.state[p]["exp_avg_sq"], plain.state[p]["exp_avg_sq"])
    conv = next(q for q in m.parameters() if q.dim() == 4)
    assert fused.state[conv]["exp_avg"].stride() == conv.stride()
    before = p.detach().clone()
    step(fused)
    assert fused.state[p]["step"].item() == 3 and not torch.equal(p, before)


def test_a_compacted_checkpoint_keeps_its_weights_and_resumes_with_rounded_moments(tmp_path):
    torch.manual_seed(0)
    m = VAEGAN(VAEGANConfig(enc_channels=8, dec_channels=8, latent_channels=8, levels=2))
    x, levels = torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(2):
        opt.zero_grad()
        res = m(x, levels)
        (losses.bits_per_pixel(res.likelihoods, 32 * 32) + (x - res.x_hat).abs().mean()).mean().backward()
        opt.step()
    path = tmp_path / "c.safetensors"
    checkpoint.save(path, m, {"step": 2}, opt)
    meta = path.with_suffix(".json").read_text()
    before, after = checkpoint.compact(path)
    assert after < 0.8 * before and path.with_suffix(".json").read_text() == meta
    m2 = VAEGAN(VAEGANConfig(enc_channels=8, dec_channels=8, latent_channels=8, levels=2))
    opt2 = torch.optim.Adam(m2.parameters(), lr=1e-3)
    checkpoint.load(path, m2, opt2)
    for (name, p), p2 in zip(m.named_parameters(), m2.parameters()):
        assert torch.equal(p, p2), name  # weights exactly
        for field in ("exp_avg", "exp_avg_sq"):
            got, want = opt2.state[p2][field], opt.state[p][field]
            assert got.dtype == torch.float32 and torch.allclose(got, want, rtol=1 / 128, atol=0), (name, field)
        assert torch.equal(opt2.state[p2]["step"], opt.state[p]["step"])
    checkpoint.main(["compact", str(path)])  # the CLI; compacting again changes nothing
    assert path.stat().st_size == after


def test_checkpoints_get_the_usual_file_mode_not_safetensors_private_one(tmp_path):
    """safetensors writes 0600; checkpoints are shared like any file the user makes (0666 less the umask)."""
    old = os.umask(0o027)
    try:
        path = tmp_path / "c.safetensors"
        checkpoint.save(path, torch.nn.Linear(2, 2), {"step": 1})
        assert path.stat().st_mode & 0o777 == 0o640
        checkpoint.compact(path)
        assert path.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_time_limit_stops_with_a_checkpoint_that_resumes(data, tmp_path):
    out = tmp_path / "t"
    fast = ("--adv-weight", "0", "--saliency-floor", "0", "--log-every", "2", "--val-every", "1000")
    # A limit already reached: the run stops at the first logging step, validated and saved.
    train(_cfg(data, out, "--steps", "50", "--max-minutes", "1e-9", *fast), progress=False)
    meta = json.loads((out / "last.json").read_text())
    assert meta["step"] == 2 and len(meta["val"]["bpp"]) == 3
    assert (out / "best.safetensors").exists()
    train(_cfg(data, out, "--steps", "6", "--max-minutes", "0", "--resume", *fast), progress=False)
    assert json.loads((out / "last.json").read_text())["step"] == 6
    with pytest.raises(UsageError, match="--max-minutes"):
        _cfg(data, tmp_path / "u", "--max-minutes", "-1").check()


def test_resume_drops_the_rows_logged_after_the_checkpoint(data, tmp_path):
    out = tmp_path / "r"
    fast = ("--adv-weight", "0", "--saliency-floor", "0", "--val-every", "2")
    train(_cfg(data, out, "--steps", "2", *fast), progress=False)
    # a crash after the save at step 2 left rows of steps 3 and 4 (one cut short) that were never saved
    for name in ("log.csv", "val.csv"):
        rows = (out / name).read_text().splitlines()
        (out / name).write_text("\n".join([*rows, "3" + rows[-1][1:], "4" + rows[-1][1:], "5,0.1"]) + "\n")
    train(_cfg(data, out, "--steps", "4", "--resume", *fast), progress=False)
    steps = [int(r.split(",")[0]) for r in (out / "log.csv").read_text().splitlines()[1:]]
    assert steps == [1, 2, 3, 4]
    assert [int(r.split(",")[0]) for r in (out / "val.csv").read_text().splitlines()[1:]] == [2, 4]


def test_an_interrupted_run_keeps_a_checkpoint_that_resumes(data, tmp_path, monkeypatch):
    import vidcodec.train.vaegan as tv

    out = tmp_path / "i"
    fast = ("--adv-weight", "0", "--saliency-floor", "0", "--val-every", "1000")
    calls = {"n": 0}
    real = tv.bits_per_pixel

    def interrupted(*a, **k):  # Ctrl-C during the 4th step
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(tv, "bits_per_pixel", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(data, out, "--steps", "50", *fast), progress=False)
    meta = json.loads((out / "last.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert meta["step"] == 3 and meta["interrupted"] and meta["best_val"] is None  # no validation yet
    monkeypatch.setattr(tv, "bits_per_pixel", real)
    train(_cfg(data, out, "--steps", "5", "--resume", *fast), progress=False)
    assert json.loads((out / "last.json").read_text())["step"] == 5


def test_compile_runs_each_step_through_the_compiled_losses_and_falls_back_when_compiling_fails(
        data, tmp_path, monkeypatch, caplog):
    # torch.compile itself takes a minute on this CPU (checked by hand: `vidcodec train ... --compile`);
    # here it is stood in for, to check what the loop does with it
    calls: list[str] = []

    def counting(fn):
        def run(*a):
            calls.append(fn.__name__)
            return fn(*a)
        return run

    monkeypatch.setattr(torch, "compile", counting)
    caplog.set_level(logging.INFO, logger="vidcodec")
    train(_cfg(data, tmp_path / "c", "--steps", "3", "--compile"), progress=False)
    # one trial step at the start, then every step: the generator's terms and the discriminator's
    assert calls == ["generator_terms", "disc_terms"] * 4
    assert "--compile: the step compiled in" in caplog.text
    assert TrainConfig.load(tmp_path / "c" / "last.toml").compile
    calls.clear()  # the adversarial term from step 2: both branches tried before the first step
    train(_cfg(data, tmp_path / "a", "--steps", "3", "--compile", "--adv-start", "2"), progress=False)
    assert calls == ["generator_terms"] * 2 + ["disc_terms"] + ["generator_terms"] * 2 + ["generator_terms", "disc_terms"]

    def failing(fn):
        def run(*a):
            raise RuntimeError("inductor could not\nsecond line")
        return run

    monkeypatch.setattr(torch, "compile", failing)
    caplog.clear()
    train(_cfg(data, tmp_path / "f", "--steps", "3", "--compile"), progress=False)
    assert "--compile: compiling failed (RuntimeError: inductor could not); training on without it" in caplog.text
    assert json.loads((tmp_path / "f" / "last.json").read_text())["step"] == 3


def test_config_toml_round_trip_and_errors(tmp_path):
    cfg = TrainConfig(data=["a b", 'c"d'], lambdas=[0.5, 2.0], level_channels=[3, 9], adv_weight=0.0)
    path = tmp_path / "c.toml"
    cfg.save(path)
    assert TrainConfig.load(path) == cfg
    path.write_text(cfg.to_toml() + "lamdbas = [1.0]\n")
    with pytest.raises(UsageError, match="unknown setting.*lamdbas"):
        TrainConfig.load(path)
    path.write_text("steps = [")
    with pytest.raises(UsageError, match="not valid TOML"):
        TrainConfig.load(path)
    with pytest.raises(UsageError, match="no training data"):
        TrainConfig().check()
    with pytest.raises(UsageError, match="one count per level"):
        TrainConfig(data=["x"], lambdas=[1.0, 2.0], level_channels=[4]).check()
    with pytest.raises(UsageError, match="non-decreasing"):
        TrainConfig(data=["x"], lambdas=[1.0, 2.0], level_channels=[8, 4]).check()
    # --latent-channels or --lambdas alone: the default ladder is what does not fit, and it says so
    with pytest.raises(UsageError, match=r"at most --latent-channels \(8\): the ladder \[8, 12, .*no value"):
        TrainConfig(data=["x"], latent_channels=8).check()
    with pytest.raises(UsageError, match=r"\(2 lambdas\), the ladder \[8, .* has 8; give --level-channels"):
        TrainConfig(data=["x"], lambdas=[1.0, 2.0]).check()
    with pytest.raises(UsageError, match="--crop must be a multiple of 16 \\(got 60\\)"):
        TrainConfig(data=["x"], crop=60).check()
    with pytest.raises(UsageError, match="val_size \\(the config file's"):  # no --val-size flag to name
        TrainConfig(data=["x"], val_size=60).check()
    assert TrainConfig(data=["x"], clip=0.0).check().clip == 0  # 0: no clipping (it had frozen the weights)


@pytest.mark.parametrize(("setting", "message"), [
    ({"crop": 0}, "--crop must be at least 1"), ({"crop": -16}, "--crop must be at least 1"),
    ({"val_every": 0}, "--val-every must be at least 1"), ({"log_every": 0}, "--log-every must be at least 1"),
    ({"frames_per_video": 0}, "--frames-per-video must be at least 1"), ({"threads": 0}, "--threads must be"),
    ({"val_crops": 0}, "--val-crops must be"), ({"enc_channels": 0}, "--enc-channels must be"),
    ({"lr": -1.0}, "--lr must be above 0"), ({"lambdas": [-1.0, 4.0]}, "--lambdas must be numbers above 0"),
    ({"ssim_weight": 2.0}, "--ssim-weight is a mix in"),
    ({"name": "../x"}, "cannot name a model"), ({"name": "a@b"}, "cannot name a model"),
    ({"name": ""}, "cannot name a model"), ({"name": "é" * 128}, "1..255 bytes"),
])
def test_settings_that_cannot_train_are_usage_errors_before_the_run(setting, message):
    """Not a ZeroDivisionError (or a silent run on a negative lambda) once the data is loaded."""
    with pytest.raises(UsageError, match=message):
        TrainConfig(**{"data": ["x"], "lambdas": [1.0, 4.0], "level_channels": [8, 16], **setting}).check()


def test_gan_settings_that_cannot_train_are_usage_errors():
    for setting, message in (({"latent": 0}, "--latent must be at least 1"), ({"lr": 0.0}, "--lr must be above 0"),
                             ({"name": "runs/x"}, "--name 'runs/x' cannot name a model"),
                             ({"ema": 1.0}, "--ema must be in")):
        with pytest.raises(UsageError, match=message):
            GanTrainConfig(data=["x"], **setting).check()


def test_config_values_of_the_wrong_type_are_usage_errors(tmp_path):
    path = tmp_path / "c.toml"
    for text, message in (('steps = "three"', "steps must be an integer, got 'three'"),
                          ("lambdas = 5", "lambdas must be a list of numbers, got 5"),
                          ("lr = true", "lr must be a number"), ("data = [1]", "data must be a list of strings")):
        path.write_text(text + "\n")
        with pytest.raises(UsageError, match=message):
            TrainConfig.load(path)
    path.write_text('data = "photos"\nlr = 1\n')  # one folder as a string, an integer learning rate
    cfg = TrainConfig.load(path)
    assert cfg.data == ["photos"] and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    path.write_text('batch = "two"\n')
    with pytest.raises(UsageError, match="batch must be an integer"):
        GanTrainConfig.load(path)


@pytest.mark.parametrize("cls", [TrainConfig, GanTrainConfig])
@pytest.mark.parametrize("settings, message", [
    ({"seed": -1}, r"--seed must be a whole number from 0 to 2\*\*63 - 1 \(got -1\)"),  # numpy's traceback
    ({"seed": 2**63}, r"--seed must be a whole number"),
    ({"device": "tpu"}, r"--device must be one of auto, cpu, cuda \(got 'tpu'\)"),  # had trained on the CPU
])
def test_seeds_and_devices_that_cannot_work_are_usage_errors(tmp_path, cls, settings, message):
    with pytest.raises(UsageError, match=message):
        cls(data=["d"], out=str(tmp_path / "o"), **settings).check()
    cls(data=["d"], out=str(tmp_path / "o"), seed=2**63 - 1, device="cpu").check()


def test_a_zero_validation_crop_names_the_config_key(tmp_path):
    with pytest.raises(UsageError, match=r"^val_size \(the config file's validation crop side\) must be a positive"):
        TrainConfig(data=["d"], out=str(tmp_path / "o"), val_size=0).check()


def test_resume_takes_the_runs_own_settings(data, tmp_path, caplog):
    out = tmp_path / "own"
    train(_cfg(data, out, "--steps", "2", "--adv-weight", "0", "--saliency-floor", "0"), progress=False)
    import argparse

    from vidcodec.train.cli_args import add_arguments
    from vidcodec.train.vaegan import config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    cfg = config_from_args(p.parse_args(["--out", str(out), "--resume", "--steps", "3"]))  # no --config, no TINY
    assert cfg.latent_channels == 8 and cfg.level_channels == [2, 4, 8] and cfg.steps == 3
    train(cfg, progress=False)
    assert json.loads((out / "last.json").read_text())["step"] == 3
    with caplog.at_level("WARNING", logger="vidcodec"):  # at --steps already: said, not a silent exit 0
        train(config_from_args(p.parse_args(["--out", str(out), "--resume", "--steps", "3"])), progress=False)
    assert "at step 3 already and --steps is 3: nothing to train" in caplog.text
    # other architecture flags than the run's: a usage error naming its settings, not torch's mismatch
    wide = config_from_args(p.parse_args(["--out", str(out), "--resume", "--steps", "4", "--latent-channels", "16",
                                          "--level-channels", "2", "4", "16"]))
    with pytest.raises(UsageError, match=r"does not fit the model these settings build \(--latent-channels 16 \(the run.s: 8\).*last.toml"):
        train(wide, progress=False)


def test_a_run_written_inside_its_data_folder_does_not_train_on_its_own_files(data, tmp_path):
    import shutil

    from vidcodec.train.data import expand_sources, load_pool

    d = tmp_path / "d"
    shutil.copytree(data, d)
    run = d / "run"
    train(_cfg(d, run, "--steps", "2"), progress=False)  # writes curves.png (and checkpoints) into d/run
    assert (run / "curves.png").exists()
    assert not any(f.is_relative_to(run) for f in expand_sources([d], run))
    photos, _, used = load_pool([d], set(), 4, run)
    assert len(photos) == 6 and not any("curves" in u for u in used)  # on resuming it had been 7
    assert any(f.is_relative_to(run) for f in expand_sources([d]))  # the folder as it is
    assert expand_sources([run / "curves.png"], run) == [run / "curves.png"]  # named on purpose: read
    assert expand_sources([run], run)  # the run's own folder given as data: read as given
    inner = run / "frames"
    inner.mkdir()
    (inner / "a.png").write_bytes(b"")
    assert expand_sources([inner], run) == [inner / "a.png"]  # data inside the run's folder
    assert expand_sources([inner], tmp_path) == [inner / "a.png"]  # a run folder above the data (--out .)


def test_missing_empty_unreadable_or_too_little_data(data, tmp_path, caplog):
    with pytest.raises(UsageError, match="training data .*nowhere does not exist"):
        train(_cfg(tmp_path / "nowhere", tmp_path / "o1"), progress=False)
    from vidcodec.train.data import expand_sources

    with pytest.raises(UsageError, match="nowhere does not exist \\(a relative path, taken from the current folder"):
        expand_sources([Path("nowhere")])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("not an image")
    with pytest.raises(UsageError, match="no readable images or videos in"):
        train(_cfg(tmp_path / "notes", tmp_path / "o2"), progress=False)
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()  # no empty run folders left
    one = tmp_path / "one"
    one.mkdir()
    (one / "x.png").write_bytes((data / "img0.png").read_bytes())
    with pytest.raises(UsageError, match="1 training image.*held out for validation"):
        train(_cfg(one, tmp_path / "o3"), progress=False)
    (one / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    (one / "broken.mp4").write_bytes((data / "clip.mp4").read_bytes()[:300])
    import av

    from vidcodec.train.data import load_pool, readable, sample_video_frames

    with av.open(str(one / "tone.mp4"), "w") as out:  # audio only: a video file with no video stream
        a = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        for packet in (*a.encode(frame), *a.encode(None)):
            out.mux(packet)
    photos, frames, used = load_pool([one, data], set(), 4)
    assert len(frames) == 4  # the good clip's
    assert len(photos) == 7 and "broken.png" in caplog.text and "broken.mp4" in caplog.text
    assert "skipping" in caplog.text and "tone.mp4 has no video stream" in caplog.text  # not an IndexError
    assert readable(one / "tone.mp4", lambda p: sample_video_frames(p, 4)) is None  # train-gan's reader too
    assert not any("broken" in u for u in used)
    caplog.clear()
    with caplog.at_level("WARNING", logger="vidcodec"):  # a held-out name given as a file: said so
        load_pool([data / "clip.mp4", data / "img0.png"], {"clip.mp4"}, 4)
    assert "not training on clip.mp4: held out by --exclude" in caplog.text
    with pytest.raises(UsageError, match=r"nothing to train on: every file given is held out by --exclude \(clip.mp4\)"):
        load_pool([data / "clip.mp4"], {"clip.mp4"}, 4)  # not "no readable images or videos"
    # a video of an extension not on the list: tried when named, skipped inside a folder
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "clip.vid").write_bytes((data / "clip.mp4").read_bytes())
    (odd / "x.png").write_bytes((data / "img0.png").read_bytes())
    assert [len(x) for x in load_pool([odd / "clip.vid"], set(), 4)] == [0, 4, 1]
    assert [len(x) for x in load_pool([odd], set(), 4)] == [1, 0, 1]


def test_data_loads_on_a_machine_without_pyav(data, tmp_path, monkeypatch, caplog):
    # the GPU session's machine has no PyAV (its pack's video frames are images): reading, and
    # skipping an unreadable image, must not import it
    import sys

    from vidcodec.train.data import readable

    monkeypatch.setitem(sys.modules, "av", None)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    from vidcodec.train.data import load_image

    assert readable(data / "img0.png", load_image).shape == (80, 96, 3)
    assert readable(bad, load_image) is None and "skipping" in caplog.text


def test_cli_train_flags_override_config_file(data, tmp_path, capsys):
    out = tmp_path / "cli"
    cfg = _cfg(data, out, "--steps", "2", "--adv-weight", "0")
    cfg.save(tmp_path / "base.toml")
    assert cli_main(["train", "--config", str(tmp_path / "base.toml"), "--steps", "1", "--val-every", "1", "-q"]) == 0
    assert TrainConfig.load(out / "last.toml").steps == 1
    assert capsys.readouterr() == ("", "")  # -q: not even the validation line (it went to stdout)
    assert cli_main(["train", "--config", str(tmp_path / "base.toml"), "-q"]) == 2  # exists, no --resume
    assert "--resume" in capsys.readouterr().err
    assert cli_main(["train", "--out", str(tmp_path / "x"), "-q"]) == 2  # no data
    assert cli_main(["train", "--config", str(tmp_path / "missing.toml")]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_keep_identical_weights(data, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), "-m", "vidcodec", "train", "--data", str(data), "--out", str(out),
           *TINY, "--steps", "3"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    # rank 0 speaks for both; DDP's buckets take the 1×1 kernels' gradients without a stride warning
    assert r.stderr.count("held out for validation") == 1 and r.stderr.count("best checkpoint:") == 1, r.stderr[-3000:]
    assert "Grad strides do not match" not in r.stderr
    ranks = json.loads((out / "ranks.json").read_text())
    assert ranks["world_size"] == 2 and len(ranks["digests"]) == 2
    assert ranks["identical"] and ranks["digests"][0] == ranks["digests"][1]
    assert json.loads((out / "last.json").read_text())["step"] == 3


def test_nested_dropout_truncates_channels_and_their_rate():
    torch.manual_seed(0)
    m = VAEGAN(VAEGANConfig(enc_channels=8, dec_channels=8, latent_channels=8, levels=2, level_channels=[4, 8]))
    x = torch.rand(4, 3, 32, 32)
    levels = torch.tensor([0, 1, 0, 1])
    res = m(x, levels, keep=torch.tensor([4, 8, 1, 3]))
    for i, k in enumerate([4, 8, 1, 3]):
        assert torch.all(res.symbols[i, k:] == 0)
        assert torch.all(res.likelihoods[i, k:] == 1)  # costs no bits
        assert torch.all(res.likelihoods[i, :k] < 1)
    default = m(x, levels)
    assert torch.all(default.symbols[0, 4:] == 0) and torch.all(default.likelihoods[1] < 1)
    with pytest.raises(ValueError):
        VAEGANConfig(latent_channels=8, levels=2, level_channels=[8, 4])


def _reference_cdf_logits(d: FactorizedDensity, x: torch.Tensor) -> torch.Tensor:
    """Ballé's cumulative written out channel by channel (C, N) → (C, N), for comparison."""
    rows = []
    for c in range(d.channels):
        v = x[c][None, :]
        for i, m in enumerate(d.matrices):
            v = torch.nn.functional.softplus(m[c]) @ v + d.biases[i][c]
            if i < len(d.factors):
                v = v + torch.tanh(d.factors[i][c]) * torch.tanh(v)
        rows.append(v[0])
    return torch.stack(rows)


def test_stacked_likelihoods_are_each_samples_own_levels_density():
    torch.manual_seed(3)
    dens = [FactorizedDensity(4) for _ in range(3)]
    for d in dens:
        for p in d.parameters():
            p.data.normal_(0, 0.5)
    y = torch.randn(5, 4, 2, 3) * 3
    index = torch.tensor([2, 0, 1, 2, 0])
    got = stacked_likelihood(dens, y, index)
    for b in range(5):
        d, flat = dens[index[b]], y[b].reshape(4, -1)
        want = torch.sigmoid(_reference_cdf_logits(d, flat + 0.5)) - torch.sigmoid(_reference_cdf_logits(d, flat - 0.5))
        assert torch.allclose(got[b].reshape(4, -1), want.clamp_min(1e-9), atol=1e-6)
        assert torch.allclose(d.likelihood(y[b : b + 1])[0], got[b])
    # A distribution over the integers: each channel's bins sum to one.
    k = torch.arange(-400, 401, dtype=torch.float32).expand(1, 4, 1, -1)
    total = stacked_likelihood(dens, k, torch.tensor([1])).sum(dim=3)
    assert torch.allclose(total, torch.ones_like(total), atol=1e-3)


def test_init_from_reorders_channels_without_changing_the_function(data, tmp_path):
    out = tmp_path / "plain"
    train(_cfg(data, out, "--steps", "2", "--level-channels", "--adv-weight", "0"), progress=False)
    meta = json.loads((out / "last.json").read_text())
    from vidcodec.train import checkpoint

    old = VAEGAN(VAEGANConfig.from_dict(meta["config"]))
    checkpoint.load(out / "last.safetensors", old)
    new = VAEGAN(VAEGANConfig(enc_channels=8, dec_channels=8, latent_channels=8, levels=3, level_channels=[8] * 3))
    init_from(new, out / "last.safetensors", meta["lambdas"])
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        for level in range(3):
            a = old.synthesis(torch.round(old.analysis(x) * old.gain(level)) / old.gain(level))
            b = new.synthesis(torch.round(new.analysis(x) * new.gain(level)) / new.gain(level))
            assert torch.allclose(a, b, atol=1e-5)
        # the first channel is now the one with the most entropy at the top level
        ent = [losses_entropy(new, 2, c) for c in range(8)]
        assert ent == sorted(ent, reverse=True)


def losses_entropy(model: VAEGAN, level: int, channel: int) -> float:
    from vidcodec.train.vaegan import _channel_entropy

    return round(float(_channel_entropy(model, level)[channel]), 4)


def test_saliency_marks_the_odd_object_and_keeps_a_floor():
    torch.manual_seed(0)
    texture = 0.1 * torch.nn.functional.interpolate(torch.randn(1, 1, 32, 32), size=(128, 128), mode="bilinear")
    for background in (torch.full((1, 3, 128, 128), 0.5), 0.5 + texture.repeat(1, 3, 1, 1)):
        x = background.clone()
        x[:, :, 40:56, 70:86] = 1.0  # one bright square on a flat or a softly textured background
        s = spectral_residual(x)
        assert s.shape == (1, 1, 128, 128) and 0 <= s.min() and s.max() <= 1
        assert s[0, 0, 40:56, 70:86].mean() > 4 * s.mean()
    w = weight_map(x, floor=0.25)
    assert torch.allclose(w.mean(), torch.tensor(1.0), atol=1e-5)
    assert w.min() > 0 and w.max() / w.min() <= 1 / 0.25 + 1e-4
    with pytest.raises(ValueError):
        weight_map(x, floor=0)
    for value in (0.0, 0.5, 1.0):  # featureless crops (black borders of videos): finite, uniform weights
        w = weight_map(torch.full((2, 3, 64, 64), value))
        assert torch.isfinite(w).all() and torch.allclose(w, torch.ones_like(w), atol=1e-3)


def test_distortions_and_weighting():
    from pytorch_msssim import ms_ssim, ssim

    torch.manual_seed(0)
    x = torch.rand(2, 3, 192, 192)
    y = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    assert torch.allclose(losses.ssim(x, y), ssim(x, y, data_range=1, size_average=False), atol=1e-4)
    assert torch.allclose(losses.ms_ssim(x, y), ms_ssim(x, y, data_range=1, size_average=False), atol=5e-3)
    for kind in ("ssim+l1", "ms-ssim+l1", "mse"):
        assert torch.all(losses.distortion(x, x, kind) < 1e-6)
        assert torch.all(losses.distortion(x, y, kind) > 0)
    # weights concentrated where the error is make the distortion larger than uniform weights
    err_left = x.clone()
    err_left[:, :, :, :96] = y[:, :, :, :96]
    w = torch.ones(2, 1, 192, 192)
    w[:, :, :, :96] = 1.5
    w[:, :, :, 96:] = 0.5
    for kind in ("ssim+l1", "mse"):
        assert torch.all(losses.distortion(x, err_left, kind, weights=w) > losses.distortion(x, err_left, kind))
    with pytest.raises(ValueError):
        losses.distortion(x, y, "psnr")


def test_pair_discriminator_sees_image_and_latent():
    torch.manual_seed(0)
    d = PairDiscriminator(latent_channels=8, channels=4)
    img, lat = torch.rand(2, 3, 64, 64), torch.randn(2, 8, 4, 4)
    out = d(img, lat)
    assert out.shape == (2, 1, 4, 4)
    assert not torch.allclose(out, d(img, torch.randn(2, 8, 4, 4)))  # the latent matters
    assert not torch.allclose(out, d(torch.rand(2, 3, 64, 64), lat))  # and so does the image
    real, fake = torch.full((2, 1, 4, 4), 5.0), torch.full((2, 1, 4, 4), -5.0)
    assert losses.d_loss(real, fake) < 0.02 and losses.d_loss(fake, real) > 9
    assert torch.all(losses.g_loss(real) < losses.g_loss(fake))


def _finite_worker(rank: int, port: int, results) -> None:
    import torch.distributed as dist

    from vidcodec.train.vaegan import _finite_everywhere

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        bad_on_one = torch.tensor(float("nan") if rank == 1 else 1.0)
        results[rank] = (_finite_everywhere(bad_on_one, 2), _finite_everywhere(torch.tensor(2.0), 2))
    finally:
        dist.destroy_process_group()


def test_a_non_finite_loss_on_one_rank_skips_the_step_on_every_rank():
    """Otherwise the rank that skips never joins DDP's gradient all-reduce and the others hang."""
    import torch.multiprocessing as mp

    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_finite_worker, args=(_free_port(), results), nprocs=2, join=True)
        assert dict(results) == {0: (False, True), 1: (False, True)}


def test_pruning_the_last_hidden_layer_drops_the_channels_that_matter_least(data, tmp_path):
    from vidcodec.models.vaegan import Synthesis
    from vidcodec.train.vaegan import _prune_last_hidden

    torch.manual_seed(0)
    syn = Synthesis(8, 8).eval()
    igdn, out = syn.net[5], syn.net[6]
    with torch.no_grad():  # channels 2 and 5 feed nothing: no output weights, no say in the others' IGDN
        for dead in (2, 5):
            out.weight[dead] = 0
            igdn.gamma[:, dead] = 0
    y = torch.randn(1, 8, 3, 4)
    with torch.no_grad():
        before = syn(y)
        _prune_last_hidden(syn, 6)
        after = syn(y)
    assert syn.net[4].weight.shape == (8, 6, 5, 5) and syn.net[6].weight.shape == (6, 3, 5, 5)
    assert igdn.gamma.shape == (6, 6, 1, 1) and igdn.beta.shape == (6,)
    assert torch.allclose(before, after, atol=1e-5)

    # through --init: a narrower model starts from a wider run; a wider one is refused
    run = tmp_path / "wide"
    train(_cfg(data, run, "--steps", "1", "--adv-weight", "0"), progress=False)
    meta = json.loads((run / "last.json").read_text())
    narrow = VAEGAN(VAEGANConfig(enc_channels=8, dec_channels=8, latent_channels=8, levels=3,
                                 level_channels=[2, 4, 8], dec_last_channels=4))
    init_from(narrow, run / "last.safetensors", meta["lambdas"])
    assert narrow.synthesis.net[6].weight.shape == (4, 3, 5, 5)
    other = VAEGAN(VAEGANConfig(enc_channels=8, dec_channels=8, latent_channels=6, levels=3,
                                level_channels=[2, 4, 6]))
    with pytest.raises(UsageError, match="dec-last-channels"):
        init_from(other, run / "last.safetensors", meta["lambdas"])

    # what else a user may give --init: each a usage error saying what it is, not a traceback
    weights = Path(vidcodec.__file__).parent / "weights"
    (tmp_path / "odd.safetensors").write_bytes(b"not safetensors")
    (tmp_path / "odd.json").write_text(json.dumps(meta))  # a training sidecar beside a damaged file
    (tmp_path / "cut.safetensors").write_bytes(b"")
    (tmp_path / "cut.json").write_text('{"config": ')
    (tmp_path / "alien.safetensors").write_bytes(b"")
    (tmp_path / "alien.json").write_text(json.dumps({"config": {"latent_channels": "many"}, "step": 1}))  # another kind of run
    for given, message in [(tmp_path / "alien.safetensors", "alien.safetensors is not a VAE-GAN checkpoint"),
                           (tmp_path / "none.safetensors", "does not exist"), (run, "is a folder.*last.safetensors"),
                           (tmp_path / "cut.safetensors", "cut.json cannot be read"),
                           (weights / "vaegan-g.safetensors", "packaged model"),
                           (weights / "pgan-carphone.safetensors", "GAN-mode"),
                           (tmp_path / "odd.safetensors", "--init .*odd.safetensors cannot be read as the model its .json")]:
        with pytest.raises(UsageError, match=message):
            init_from(narrow, given, meta["lambdas"])
    (tmp_path / "odd.json").unlink()
    with pytest.raises(UsageError, match="no odd.json beside it"):
        init_from(narrow, tmp_path / "odd.safetensors", meta["lambdas"])


def test_widening_the_synthesis_keeps_its_function_and_the_new_channels_learn(data, tmp_path, caplog):
    import logging

    from vidcodec.train import checkpoint

    run = tmp_path / "narrow"
    train(_cfg(data, run, "--steps", "2"), progress=False)
    meta = json.loads((run / "last.json").read_text())
    old = VAEGAN(VAEGANConfig.from_dict(meta["config"]))
    checkpoint.load(run / "last.safetensors", old)
    torch.manual_seed(0)
    wide = VAEGAN(VAEGANConfig(enc_channels=8, dec_channels=12, latent_channels=8, levels=3,
                               level_channels=[2, 4, 8], dec_last_channels=10))
    init_from(wide, run / "last.safetensors", meta["lambdas"])
    net = wide.synthesis.net
    assert [net[i].out_channels for i in (0, 2, 4, 6)] == [12, 12, 10, 3]
    assert net[1].gamma.shape == (12, 12, 1, 1) and net[5].beta.shape == (10,)
    y = torch.randn(2, 8, 3, 4)
    with torch.no_grad():
        before, after = old.synthesis(y), wide.synthesis(y)
    # only the couplings of the new channels in the inverse GDNs (1e-3 each) change anything
    assert 0 < (before - after).abs().max() < 1e-2
    # the weights the new channels feed start at zero and get gradients at once
    wide.synthesis(y).square().mean().backward()
    assert net[2].weight.grad[8:].abs().sum() > 0 and net[6].weight.grad[4:].abs().sum() > 0
    # and through vidcodec train --init: the run trains and saves the wider transform
    wider_run = tmp_path / "wide"
    with caplog.at_level(logging.INFO, logger="vidcodec.train"):
        train(_cfg(data, wider_run, "--steps", "2", "--init", str(run / "last.safetensors"),
                   "--dec-channels", "12", "--dec-last-channels", "10", "--warmup", "4"), progress=False)
    # the initial run's discriminator comes along (the pairs it judges are of the same kind)
    assert f"discriminator from {run / 'disc.safetensors'}" in caplog.text
    wider_meta = json.loads((wider_run / "last.json").read_text())
    assert wider_meta["config"]["dec_channels"] == 12
    # --warmup 4: after 2 steps the learning rate has risen to half the configured one
    assert wider_meta["lr"] == pytest.approx(0.5 * wider_meta["train"]["lr"])
    # a fine-tuning run validates its initial weights first, as step 0
    steps = [line.split(",")[0] for line in (wider_run / "val.csv").read_text().splitlines()[1:]]
    assert steps == ["0", "2"]


def test_prefetched_batches_are_the_steps_own_whatever_the_threads():
    import itertools

    import torch

    from vidcodec.train.data import CropSampler
    from vidcodec.train.vaegan import prefetched, step_key

    imgs = [np.random.default_rng(i).integers(0, 255, (80, 100, 3), dtype=np.uint8) for i in range(4)]
    sampler = CropSampler(imgs, [], 32, seed=1)
    # what the CPU path takes for steps 5..10 of rank 1 of a run seeded 7
    steps = [torch.from_numpy(sampler.fork(step_key(7, 1, s)).crops(3)) for s in range(5, 11)]
    for workers in (1, 2, 3):  # the same batches, in step order, from any number of threads
        got = [b.clone() for b in itertools.islice(prefetched(sampler, 3, workers, (7, 1), start=5), 6)]
        assert all(torch.equal(a, b) for a, b in zip(got, steps, strict=True)), workers
    assert steps[0].shape == (3, 32, 32, 3) and steps[0].dtype == torch.uint8
    assert not torch.equal(steps[0], steps[1])  # each step draws its own crops
    other_rank = torch.from_numpy(sampler.fork(step_key(7, 0, 5)).crops(3))
    assert not torch.equal(steps[0], other_rank)

    class Broken(CropSampler):
        def crops(self, n):
            raise OSError("disk gone")

    broken = Broken(imgs, [], 32, seed=1)
    broken.fork = lambda seed: broken
    with pytest.raises(OSError, match="disk gone"):
        next(prefetched(broken, 3, 2, (0, 0)))


def test_a_diverged_run_stops_with_an_error_instead_of_skipping_for_ever(data, tmp_path, monkeypatch):
    from vidcodec.train import vaegan

    monkeypatch.setattr(vaegan, "MAX_SKIPPED_IN_A_ROW", 5)
    with pytest.raises(vaegan.TrainingDiverged, match="not finite for 5 steps in a row.*lower --lr"):
        train(_cfg(data, tmp_path / "d", "--steps", "40", "--lr", "1e30"), progress=False)
    for name, value in (("lr", math.inf), ("clip", math.nan), ("lambdas", [1.0, math.inf, 4.0])):
        with pytest.raises(UsageError, match=f"--{name} must be a finite number"):
            TrainConfig(data=["x"], **{name: value}).check()


def test_config_files_that_are_not_toml_text_are_usage_errors(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UsageError, match="is not text"):
        TrainConfig.load(tmp_path / "photo.jpg")
    with pytest.raises(UsageError, match="is a folder"):
        TrainConfig.load(tmp_path)


def test_the_closing_line_names_the_last_checkpoint_when_there_is_no_best(tmp_path):
    """A resumed run whose folder has no best.safetensors (every committed run's) trained, wrote
    last.safetensors and said "no checkpoint written (no step was trained)"."""
    from vidcodec.cli import _train_outcome

    best = tmp_path / "best.safetensors"
    assert _train_outcome(best) == "no checkpoint written (no step was trained)"
    (tmp_path / "last.safetensors").write_bytes(b"x")
    assert _train_outcome(best).startswith(f"last checkpoint: {tmp_path / 'last.safetensors'} (no best.safetensors")
    best.write_bytes(b"x")
    assert _train_outcome(best) == f"best checkpoint: {best}"


def test_safetensors_metadata_is_written_in_the_callers_order(tmp_path):
    """safetensors writes metadata entries in a hash map's order: a generator's file (two entries) had
    one of two SHA-256s from run to run, and streams name their model by that hash."""
    import hashlib

    from safetensors.torch import save_file

    from vidcodec.train.checkpoint import metadata_in_order

    tensors = {"w": torch.zeros(3)}
    digests = set()
    for i in range(12):
        path = tmp_path / f"{i}.safetensors"
        save_file(tensors, str(path), metadata={"name": "pgan-x", "kind": "pgan"})
        metadata_in_order(path, {"name": "pgan-x", "kind": "pgan"})
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
        assert b'"__metadata__":{"name":"pgan-x","kind":"pgan"}' in path.read_bytes()
    assert len(digests) == 1
    with pytest.raises(ValueError, match="is not"):
        metadata_in_order(tmp_path / "0.safetensors", {"name": "other", "kind": "pgan"})


# ------------------------------------------------------------------ from a user's trial (2026-12-07)


def _args(*argv: str):
    import argparse

    from vidcodec.train.cli_args import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def test_resuming_a_copied_run_trains_the_copy_not_the_run_it_was_copied_from(data, tmp_path, caplog):
    import shutil

    from vidcodec.train.vaegan import config_from_args

    train(_cfg(data, tmp_path / "a", "--steps", "2", "--adv-weight", "0"), progress=False)
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    with caplog.at_level(logging.INFO, logger="vidcodec"):
        cfg = config_from_args(_args("--config", str(tmp_path / "copy" / "last.toml"), "--resume", "--steps", "3"))
    assert Path(cfg.out) == tmp_path / "copy"  # its last.toml's out names "a"
    assert f"resuming the run in {tmp_path / 'copy'}, the folder of --config (its out names {tmp_path / 'a'}" \
        in caplog.text
    # the run's own config resumes the run itself, without a word about folders
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vidcodec"):
        cfg = config_from_args(_args("--config", str(tmp_path / "a" / "last.toml"), "--resume"))
    assert Path(cfg.out) == tmp_path / "a" and "the folder of --config" not in caplog.text


def test_resume_of_a_folder_without_the_runs_settings_says_so(data, tmp_path):
    from vidcodec.train.vaegan import config_from_args

    gan_run = tmp_path / "gan"
    gan_run.mkdir()
    (gan_run / "last.safetensors").write_text("")
    GanTrainConfig(data=["x"]).save(gan_run / "config.toml")
    with pytest.raises(UsageError, match=r"is a `vidcodec train-gan` run: resume it with vidcodec train-gan --out"):
        config_from_args(_args("--out", str(gan_run), "--resume"))
    TrainConfig(data=["x"]).save(gan_run / "config.toml")  # a train run's config.toml, its last.toml lost
    with pytest.raises(UsageError, match=r"has last.safetensors but not its settings \(last.toml\)"):
        config_from_args(_args("--out", str(gan_run), "--resume"))
    # with the data given as flags, the settings are the flags'
    assert config_from_args(_args("--out", str(gan_run), "--resume", "--data", str(data))).data == [str(data)]


def test_a_resume_that_changes_the_model_names_the_setting_and_a_damaged_one_says_so(data, tmp_path):
    out = tmp_path / "r"
    train(_cfg(data, out, "--steps", "2", "--adv-weight", "0"), progress=False)
    with pytest.raises(UsageError, match=r"does not fit the model these settings build \(--enc-channels 16 \(the "
                                         r"run's: 8\)\): leave those settings out"):
        train(_cfg(data, out, "--steps", "3", "--resume", "--adv-weight", "0", "--enc-channels", "16"), progress=False)
    good = (out / "last.safetensors").read_bytes()
    (out / "last.json").write_text("{}")  # parses, but says nothing
    with pytest.raises(UsageError, match=r"cannot be read \(no step in its .json\).*in another --out"):
        train(_cfg(data, out, "--steps", "3", "--resume", "--adv-weight", "0"), progress=False)
    (out / "last.safetensors").write_bytes(good[:500])
    with pytest.raises(UsageError, match=r"last.safetensors \(or its .json\) cannot be read .*damaged"):
        train(_cfg(data, out, "--steps", "3", "--resume", "--adv-weight", "0"), progress=False)


def test_a_time_limit_is_the_sessions_not_carried_into_the_runs_settings(data, tmp_path):
    out = tmp_path / "t"
    train(_cfg(data, out, "--steps", "2", "--adv-weight", "0", "--max-minutes", "30"), progress=False)
    assert TrainConfig.load(out / "last.toml").max_minutes == 0  # a resume from it is not stopped by this one's
    assert TrainConfig.load(out / "last.toml").steps == 2


def test_exclude_takes_names_stems_and_paths_and_warns_of_one_that_matches_nothing(data, caplog):
    from vidcodec.train.data import excluded_by, load_pool

    clip = data / "clip.mp4"
    for entry in ("clip.mp4", "clip", str(clip), os.path.relpath(clip)):
        assert excluded_by(clip, {entry}) == entry
    assert excluded_by(clip, {"img0.png", "other/clip.mp4", "clip.mkv"}) is None
    with caplog.at_level(logging.INFO, logger="vidcodec"):
        _, frames, used = load_pool([data], {str(clip), "clip", "nothere.mp4", "bikes.mp4"}, 4)
    assert not frames and str(clip) not in used and len(used) == 6
    assert "--exclude nothere.mp4: no file of the data matches" in caplog.text  # the defaults are not named
    assert "bikes.mp4:" not in caplog.text and f"{clip}:" not in caplog.text  # two entries naming one file


def test_a_hang_up_is_held_until_the_step_ends_as_sigterm_is():
    """The CLI handles SIGHUP as SIGTERM: training holds it between steps as it holds that (review: it
    had checkpointed half a step)."""
    from vidcodec.train.interrupts import Held

    def cli_handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGHUP, cli_handler)
    held = Held()
    try:
        os.kill(os.getpid(), signal.SIGHUP)  # mid-step: held
        assert held.held is not None and held.held[0] == signal.SIGHUP
        with pytest.raises(KeyboardInterrupt):
            held.check()  # between steps: delivered
    finally:
        held.restore()
        signal.signal(signal.SIGHUP, previous)


def test_ranks_stop_together_when_any_of_them_is_interrupted(monkeypatch):
    from vidcodec.train import vaegan as tv
    from vidcodec.train.interrupts import Held

    held = Held()
    try:
        monkeypatch.setattr(tv, "_all_agree", lambda flag, world, device: True)  # another rank holds a Ctrl-C
        with pytest.raises(KeyboardInterrupt):
            tv._check_together(held, 2, torch.device("cpu"))
        monkeypatch.setattr(tv, "_all_agree", lambda flag, world, device: flag)
        tv._check_together(held, 2, torch.device("cpu"))  # none does: the step goes on
        tv._check_together(held, 1, torch.device("cpu"))

        def late(flag, world, device):  # this rank's Ctrl-C lands as the all-reduce returns "nobody"
            held.held = (signal.SIGINT, None)
            return flag

        monkeypatch.setattr(tv, "_all_agree", late)
        tv._check_together(held, 2, torch.device("cpu"))  # not raised alone: the others go on to the next step
        monkeypatch.setattr(tv, "_all_agree", lambda flag, world, device: flag)
        with pytest.raises(KeyboardInterrupt):
            tv._check_together(held, 2, torch.device("cpu"))  # there, all of them stop
    finally:
        held.restore()


def test_pictures_far_smaller_than_the_crop_are_said(caplog):
    from vidcodec.train.data import CropSampler

    small, big = np.zeros((12, 20, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        CropSampler([small, big, small], [], 32, seed=0, warn_small=True).crop()
        assert "2 of the training pictures are under half the crop side (32 pixels)" in caplog.text
        caplog.clear()
        CropSampler([big, np.zeros((16, 40, 3), np.uint8)], [], 32, seed=0, warn_small=True)
        CropSampler([small], [], 32, seed=0)  # the validation crops: not said twice
    assert caplog.text == ""
