"""GAN mode end to end: train-gan, keyframe/delta GAN packets through the container, closed-loop
latents, batched GOP search, the golden GAN stream, the out-of-domain warning, and the CLI."""

from __future__ import annotations

import io
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import vidcodec
from vidcodec import container, media
from vidcodec.cli import main
from vidcodec.codec import gan
from vidcodec.coding import qsgd
from vidcodec.errors import CoderError, CorruptPacketError, UsageError
from vidcodec.models import zoo
from vidcodec.train.config import GanTrainConfig
from vidcodec.train.pgan import _schedule, export_generator, train

DATA = Path(__file__).parent / "data"
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "vtest.mp4"


def _frames(path: Path, n: int) -> list[np.ndarray]:
    with media.open_source(path) as src:
        return [f.rgb for _, f in zip(range(n), src)]


def _tiny_cfg(out: Path, **kw) -> GanTrainConfig:
    base = {"data": [str(SAMPLE)], "out": str(out), "name": "pgan-t", "latent": 8, "depths": [4, 4],
            "steps_per_scale": 4, "final_steps": 6, "log_every": 2, "val_every": 4, "threads": 1, "batch": 4}
    base.update(kw)
    return GanTrainConfig(**base)


# ------------------------------------------------------------------ training


def test_schedule_grows_and_fades_in():
    cfg = GanTrainConfig(data=["x"], depths=[8, 8, 8], steps_per_scale=10, final_steps=20, fade=0.5)
    assert cfg.total_steps == 40
    assert _schedule(cfg, 0) == (1, 0.0)  # the first scale has nothing to fade from
    assert _schedule(cfg, 10) == (2, 1.0)  # a new scale starts as the old one (alpha 1)...
    assert _schedule(cfg, 12) == (2, pytest.approx(0.6))
    assert _schedule(cfg, 15) == (2, 0.0)  # ...and is alone after the fade
    assert _schedule(cfg, 39) == (3, 0.0)


def test_train_gan_writes_a_run_resumes_and_is_reproducible(tmp_path):
    best = train(_tiny_cfg(tmp_path / "a"), progress=False)
    run = tmp_path / "a"
    for name in ("config.toml", "log.csv", "curves.png", "last.safetensors", "last.json"):
        assert (run / name).exists(), name
    assert best.exists()
    assert GanTrainConfig.load(run / "config.toml") == _tiny_cfg(tmp_path / "a")
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and rows[-1].startswith("10,")
    assert json.loads((run / "last.json").read_text())["scales"] == 2

    train(_tiny_cfg(tmp_path / "b"), progress=False)
    a, b = load_file(str(run / "last.safetensors")), load_file(str(tmp_path / "b" / "last.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # same seed, same weights

    train(_tiny_cfg(run, final_steps=8), progress=False, resume=True)  # two more steps
    assert (run / "log.csv").read_text().splitlines()[-1].startswith("12,")

    out = export_generator(best, tmp_path / "w" / "pgan-t.safetensors")
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["kind"] == "pgan" and card["encoder"] and card["config"]["latent"] == 8
    assert not any("/" in name for name in card["train"]["data"])  # file names only, no machine paths
    keys = load_file(str(out)).keys()
    assert any(k.startswith("generator.") for k in keys) and any(k.startswith("encoder.") for k in keys)


def test_train_gan_refuses_bad_settings(tmp_path):
    with pytest.raises(UsageError, match="no training data"):
        GanTrainConfig().check()
    with pytest.raises(UsageError, match="depths"):
        _tiny_cfg(tmp_path, depths=[4]).check()
    with pytest.raises(UsageError, match="does not exist"):
        train(_tiny_cfg(tmp_path, data=[str(tmp_path / "nothing.mp4")]), progress=False)


# ------------------------------------------------------------------ payloads and the closed loop


@pytest.fixture
def tiny_gan(tiny_model_dir):
    return zoo.load("pgan-tiny")


def test_payload_round_trip_and_damage():
    v = np.random.default_rng(0).normal(size=16).astype(np.float32)
    data, value = gan.payload(6, v, frame_index=3, stream_seed=0)
    assert np.array_equal(gan.unpack_payload(data, 16), value)
    assert np.abs(value - v).max() <= np.linalg.norm(v) / 63 + 1e-6  # one QSGD step at most
    with pytest.raises(CoderError):
        gan.unpack_payload(data[:-1] + b"\xff", 16)
    with pytest.raises(CoderError, match="bit depth"):
        gan.unpack_payload(b"\x00" + data[1:], 16)
    with pytest.raises(CoderError):
        gan.unpack_payload(b"", 16)


def test_packets_round_trip_through_the_container_with_identical_latents(tiny_gan):
    frames = _frames(SAMPLE, 7)
    enc = gan.GanFrameEncoder(tiny_gan, gop=3, latent_bits=4, search_iters=8)
    coded = [enc.encode(f) for f in frames]
    assert [c.kind for c in coded] == ["key", "delta", "delta", "key", "delta", "delta", "key"]
    buf = io.BytesIO()
    hdr = container.StreamHeader(width=frames[0].shape[1], height=frames[0].shape[0], time_base=(1, 10),
                                 frame_rate=(10, 1), frame_count=7, model_name="pgan-tiny",
                                 model_hash=bytes.fromhex(tiny_gan.sha256), coder=container.Coder.ELIAS,
                                 mode=container.Mode.GAN, quality=1, latent_shape=(16, 1, 1), gop=3)
    with container.GvcWriter(buf, hdr) as w:
        for i, c in enumerate(coded):
            w.write_packet(container.PacketType.KEY if c.kind == "key" else container.PacketType.DELTA, i, c.payload)
    buf.seek(0)
    reader = container.GvcReader(buf)
    dec = gan.GanFrameDecoder(tiny_gan, tuple(reader.header.latent_shape))
    for c, p in zip(coded, reader, strict=True):
        z, _ = dec.decode_symbols("key" if p.kind == container.PacketType.KEY else "delta", p.payload)
        assert np.array_equal(z, c.latent)  # the decoder holds exactly the encoder's latent: no drift
    assert all(c.iters >= 1 for c in coded)


def test_delta_needs_its_reference_and_shape_must_match(tiny_gan):
    enc = gan.GanFrameEncoder(tiny_gan, gop=4, search_iters=2)
    frames = _frames(SAMPLE, 2)
    key, delta = enc.encode(frames[0]), enc.encode(frames[1])
    dec = gan.GanFrameDecoder(tiny_gan, (16, 1, 1))
    with pytest.raises(CoderError, match="reference"):
        dec.decode_symbols("delta", delta.payload)
    dec.decode_symbols("key", key.payload)
    dec.decode_symbols("delta", delta.payload)
    with pytest.raises(CorruptPacketError, match="latent"):
        gan.GanFrameDecoder(tiny_gan, (32, 1, 1))


def test_gops_searched_side_by_side_match_one_at_a_time(tiny_gan):
    frames = _frames(SAMPLE, 8)
    one = gan.GanFrameEncoder(tiny_gan, gop=3, search_iters=6)
    seq = [one.encode(f) for f in frames]
    both = gan.GanFrameEncoder(tiny_gan, gop=3, search_iters=6)
    batched = both.encode_gops(frames)
    assert [c.kind for c in batched] == [c.kind for c in seq]
    # Each GOP's search is the same computation as alone; batched arithmetic rounds differently and
    # Adam turns near-zero gradients into full steps, so the latents are close, not identical.
    assert batched[0].start_loss == pytest.approx(seq[0].start_loss, rel=1e-4)
    for a, b in zip(seq, batched):
        assert b.loss == pytest.approx(a.loss, rel=0.1)
    # the stream goes on from the last frame either way (frame 8 ends the third GOP, 9 starts one)
    assert [c.kind for c in (one.encode(frames[0]), both.encode(frames[0]))] == ["delta", "delta"]
    assert [c.kind for c in (one.encode(frames[1]), both.encode(frames[1]))] == ["key", "key"]


def test_warm_start_is_used_by_the_encoder(tiny_gan):
    """Delta frames start their search at the previous decoded latent: lower start loss than a keyframe's."""
    frames = _frames(SAMPLE, 4)
    enc = gan.GanFrameEncoder(tiny_gan, gop=100, search_iters=20)
    coded = [enc.encode(f) for f in frames]
    assert all(c.start_loss < coded[0].start_loss for c in coded[1:])


# ------------------------------------------------------------------ the API, golden stream, CLI


def test_golden_gan_stream_decodes_to_the_recorded_latents(tiny_gan):
    with open(DATA / "golden_gan.gvc", "rb") as f:
        reader = container.GvcReader(f)
        assert reader.header.mode == container.Mode.GAN and reader.header.coder == container.Coder.ELIAS
        dec = gan.GanFrameDecoder(tiny_gan, tuple(reader.header.latent_shape))
        z = [dec.decode_symbols("key" if p.kind == container.PacketType.KEY else "delta", p.payload)[0]
             for p in reader]
    assert np.array_equal(np.stack(z), np.load(DATA / "golden_gan_latents.npz")["z"])
    frames = list(vidcodec.frames(DATA / "golden_gan.gvc"))
    assert len(frames) == 6 and [f.key for f in frames] == [True, False, False, True, False, False]
    assert frames[0].rgb.shape == (46, 62, 3)


def test_encode_decode_gan_mode_through_the_api_and_cli(tiny_gan, clip, tmp_path, capsys):
    out = tmp_path / "g.gvc"
    s = vidcodec.encode(clip, out, mode="gan", model="pgan-tiny", gop=4, search_iters=4, gop_batch=2)
    assert s.frames == 12 and s.keyframes == 3 and s.bytes == out.stat().st_size
    frames = list(vidcodec.frames(out))
    assert len(frames) == 12 and frames[0].rgb.shape == (48, 64, 3)
    assert main(["encode", str(clip), str(tmp_path / "c.gvc"), "--mode", "gan", "--model", "pgan-tiny",
                 "--search-iters", "3", "--latent-bits", "4", "--frames", "5", "-q"]) == 0
    assert main(["decode", str(tmp_path / "c.gvc"), str(tmp_path / "c.y4m"), "-q"]) == 0
    assert main(["info", str(tmp_path / "c.gvc")]) == 0
    assert "gan" in capsys.readouterr().out


def test_mode_and_model_must_agree(tiny_gan, clip, tmp_path):
    with pytest.raises(UsageError, match="--mode gan"):
        vidcodec.encode(clip, tmp_path / "a.gvc", model="pgan-tiny")
    with pytest.raises(UsageError, match="--mode vaegan"):
        vidcodec.encode(clip, tmp_path / "b.gvc", mode="gan", model="vaegan-tiny")
    with pytest.raises(UsageError, match="--bitrate"):
        vidcodec.encode(clip, tmp_path / "c.gvc", mode="gan", model="pgan-tiny", bitrate=100)
    with pytest.raises(UsageError, match="--search-iters"):
        vidcodec.encode(clip, tmp_path / "d.gvc", mode="gan", model="pgan-tiny", search_iters=0)
    with pytest.raises(UsageError, match="--latent-bits"):
        vidcodec.encode(clip, tmp_path / "e.gvc", mode="gan", model="pgan-tiny", latent_bits=1)


def test_out_of_domain_warning(tmp_path, clip, caplog, monkeypatch):
    """The warning names the measured PSNR when keyframes fall far below the card's in-domain PSNR."""
    folder = tmp_path / "models"
    folder.mkdir()
    for ext in (".safetensors", ".json"):
        shutil.copy(DATA / f"pgan-tiny{ext}", folder / f"pgan-picky{ext}")
    card = json.loads((folder / "pgan-picky.json").read_text())
    card.update(name="pgan-picky", val_psnr=60.0)
    (folder / "pgan-picky.json").write_text(json.dumps(card))
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", str(folder))
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        vidcodec.encode(clip, tmp_path / "a.gvc", mode="gan", model="pgan-picky", gop=4, search_iters=2)
    warnings = [r.getMessage() for r in caplog.records if "outside the domain" in r.getMessage()]
    assert len(warnings) == 1 and "dB" in warnings[0]
    card["val_psnr"] = 1.0
    (folder / "pgan-picky.json").write_text(json.dumps(card))
    zoo._load.cache_clear()
    zoo._load_gan.cache_clear()  # models are cached per process by name and weights hash
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        vidcodec.encode(clip, tmp_path / "b.gvc", mode="gan", model="pgan-picky", gop=4, search_iters=2)
    assert not [r for r in caplog.records if "outside the domain" in r.getMessage()]


def test_qsgd_levels_of_a_delta_stay_within_bits(tiny_gan):
    enc = gan.GanFrameEncoder(tiny_gan, gop=10, latent_bits=4, search_iters=3)
    frames = _frames(SAMPLE, 3)
    coded = [enc.encode(f) for f in frames]
    for c in coded[1:]:
        assert c.payload[0] == 4
        _, q = qsgd.unpack(c.payload[1:], 16)
        assert np.abs(q).max() <= 15


def test_eval_gan_mode_reports_the_seed_table_and_the_warm_start_study(tiny_gan, tmp_path, capsys):
    assert main(["eval", "--mode", "gan", "--model", "pgan-tiny", str(SAMPLE), "--frames", "3",
                 "--search-iters", "2", "--out", str(tmp_path), "-q"]) == 0
    text = capsys.readouterr().out
    for row in ("GAN (16-bit latent, ~float)", "GAN lossy 8 bits", "GAN lossy 6 bits", "GAN lossy 4 bits", "JPEG q=1",
                "warm_iters_median", "cold_iters_median"):
        assert row in text
    report = json.loads((tmp_path / "gan.json").read_text())
    study = report["warm_start"][0]
    assert study["frames"] == 2 and 0 <= study["warm_iters_median"] <= study["cap"] + 1
    table = {r["method"]: r for r in report["table"]}
    assert table["GAN lossy 4 bits"]["CR"] > table["JPEG q=1"]["CR"] > 1  # a 16-value latent vs a JPEG
