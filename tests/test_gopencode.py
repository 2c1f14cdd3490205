"""GOP-parallel encoding (encode --workers): chunks of --gop frames coded in worker processes give
the sequential encoder's stream when no scene cut moves a keyframe, and the same stream for any
number of workers when one does."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest
from conftest import write_testsrc

from vidcodec import api, container
from vidcodec.cli import main
from vidcodec.codec import colour
from vidcodec.errors import UsageError
from vidcodec.evaluate.rd import write_y4m_clip


def _keys(path) -> list[int]:
    with container.GvcReader(path) as r:
        return [i for i, p in enumerate(r) if p.kind is container.PacketType.KEY]


def _flags(path) -> list[int]:
    with container.GvcReader(path) as r:
        return [p.flags for p in r]


@pytest.mark.parametrize("refresh, coder", [(12, "ans"), (2, "ans"), (2, "elias")])
def test_workers_give_the_sequential_stream_without_scene_cuts(tmp_path, tiny_model_dir, monkeypatch, refresh, coder):
    """Colour corrections included: the workers send back the decoded latents the fitter here wants
    (keyframes; with refresh 2 every other delta as well) and it fits them as one encode does (the
    Elias coder's are floats: cast to integers they fitted the corrections to truncated latents)."""
    monkeypatch.setattr(colour, "COST_FACTOR", 0.0)  # the tiny model's packets are a few bytes: let them pay
    monkeypatch.setattr(colour, "MIN_GAIN", -1.0)  # and (nearly) every fit send its correction
    monkeypatch.setattr(api, "COLOUR_REFRESH", refresh)
    clip = write_testsrc(tmp_path / "c.mp4", frames=14)
    paths = {}
    for w in (1, 2, 3):
        paths[w] = tmp_path / f"w{w}.gvc"
        s = api.encode(clip, paths[w], model="vaegan-tiny", quality=2, gop=4, workers=w, coder=coder)
        assert s.frames == 14
    flagged = [i for i, f in enumerate(_flags(paths[1])) if f & colour.FLAG]
    if coder == "elias":  # (the tiny model's Elias-coded frames are all keyframes here)
        assert len(flagged) > 4 and paths[2].read_bytes() == paths[1].read_bytes() == paths[3].read_bytes()
        return
    assert _keys(paths[1]) == [0, 4, 8, 12]
    # keyframes, and with refresh 2 refits of deltas 2 frames after them (those that fit the tiny
    # model's near-flat pictures no worse than the correction in force)
    assert {0, 4, 8, 12} <= set(flagged) <= ({0, 4, 8, 12} if refresh == 12 else {0, 2, 4, 6, 8, 10, 12})
    assert (len(flagged) > 4) == (refresh == 2)
    assert paths[2].read_bytes() == paths[1].read_bytes() == paths[3].read_bytes()
    plain = tmp_path / "plain.gvc"
    api.encode(clip, plain, model="vaegan-tiny", quality=2, gop=4, workers=2, colour=False)
    assert not any(f & colour.FLAG for f in _flags(plain))


def test_after_a_scene_cut_keyframes_stay_on_the_chunk_grid(tmp_path, tiny_model_dir):
    # two still scenes of smooth random content: deltas cost next to nothing except at the cut
    rng = np.random.default_rng(5)
    a, b = (cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (64, 48), interpolation=cv2.INTER_CUBIC)
            for _ in range(2))
    frames = [a] * 6 + [b] * 8
    clip = tmp_path / "cut.y4m"
    write_y4m_clip(frames, Fraction(10), clip)
    one, two, three = (tmp_path / f"{n}.gvc" for n in ("one", "two", "three"))
    api.encode(clip, one, model="vaegan-tiny", quality=2, gop=4)
    api.encode(clip, two, model="vaegan-tiny", quality=2, gop=4, workers=2)
    api.encode(clip, three, model="vaegan-tiny", quality=2, gop=4, workers=3)
    assert 6 in _keys(one) and _keys(one)[-1] == 10  # the cut, then 4 frames on from it
    assert _keys(two) == [0, 4, 6, 8, 12]  # the cut, and the chunks' starts
    assert two.read_bytes() == three.read_bytes()
    got = [f.rgb for f in api.frames(two)]
    assert len(got) == len(frames)


def test_encode_cli_workers_and_usage_errors(tmp_path, tiny_model_dir, capsys):
    clip = write_testsrc(tmp_path / "c.mp4", frames=6)
    out = tmp_path / "o.gvc"
    assert main(["encode", str(clip), str(out), "--model", "vaegan-tiny", "--gop", "2", "--workers", "2", "-q"]) == 0
    assert _keys(out) == [0, 2, 4]
    for extra in (["--bitrate", "50"], ["--refine", "2"], ["--workers", "0"]):
        args = ["encode", str(clip), str(tmp_path / "x.gvc"), "--model", "vaegan-tiny", "-q", "-y"]
        assert main(args + (["--workers", "2"] if "--workers" not in extra else []) + extra) == 2
    assert "--workers" in capsys.readouterr().err
    with pytest.raises(UsageError, match="--gop-batch"):
        api.encode(clip, tmp_path / "g.gvc", mode="gan", model="pgan-tiny", workers=2)


def _prediction_threads() -> int:
    from vidcodec.codec import subpel

    return subpel.predict_threads()


def test_worker_processes_share_the_prediction_threads(monkeypatch):
    """GOP workers split the learned prediction's threads among them instead of each taking the
    one-process share (15 workers x 8 threads on 16 cores)."""
    from vidcodec import gopdecode, gopencode
    from vidcodec.codec import subpel

    monkeypatch.delenv("VIDCODEC_SUBPEL_THREADS", raising=False)
    monkeypatch.setattr("vidcodec.runtime.usable_cpus", lambda: 16)
    assert subpel.predict_threads() == 8
    hdr = container.StreamHeader(width=32, height=32, time_base=(1, 25), model_name="vaegan-tiny",
                                 model_hash=bytes(32), quality=1, latent_shape=(8, 2, 2), gop=10)
    with gopencode.ChunkEncoder(lambda: None, 10, 4) as chunks:
        assert chunks.pool.submit(_prediction_threads).result() == 2
    monkeypatch.setattr(api, "_stream_model", lambda header, backend: None)
    with gopdecode.RunDecoder(hdr, 15, "ort") as runs:
        assert runs.pool.submit(_prediction_threads).result() == 1
    assert subpel.predict_threads() == 8  # this process keeps its own
    monkeypatch.setenv("VIDCODEC_SUBPEL_THREADS", "3")
    with gopencode.ChunkEncoder(lambda: None, 10, 4) as chunks:
        assert chunks.pool.submit(_prediction_threads).result() == 3  # the user's choice stands
