"""Colour corrections (format 11.0): the fit, its 24 bytes, the encoder's keyframes, and the decoder's
rules (a flagged packet sets the correction from its frame on, a keyframe without one resets it)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import write_testsrc

import vidcodec
from vidcodec import api, container
from vidcodec.cli import main
from vidcodec.codec import colour
from vidcodec.codec.vaegan import to_tensor
from vidcodec.errors import CoderError
from vidcodec.evaluate.metrics import psnr


def _pictures(rng, n=2, h=24, w=32) -> np.ndarray:
    return rng.uniform(0.1, 0.9, (n, 3, h, w)).astype(np.float32)


def test_fit_recovers_an_affine_colour_map_to_its_fixed_point_step():
    rng = np.random.default_rng(1)
    decoded = _pictures(rng, 1)[0]
    m = np.array([[0.8, 0.15, 0.0], [0.1, 0.7, 0.2], [-0.05, 0.1, 0.9]])
    o = np.array([0.05, -0.02, 0.03])
    source = np.einsum("ij,jhw->ihw", m, decoded) + o[:, None, None]
    got = colour.fit(decoded, source)
    want = np.rint(np.concatenate([m, o[:, None]], axis=1) * colour.ONE)
    assert np.abs(got.terms - want).max() <= 1
    np.testing.assert_allclose(got.apply(decoded), np.clip(source, 0, 1), atol=2e-3)
    np.testing.assert_array_equal(colour.Correction.from_bytes(got.to_bytes()).terms, got.terms)
    assert len(got.to_bytes()) == colour.SIZE


def test_flat_and_exact_pictures_get_sane_corrections_and_the_fitter_sends_only_what_pays():
    flat = np.full((3, 16, 16), 0.5, np.float32)
    corr = colour.fit(flat, flat * 0.9)
    assert np.isfinite(corr.terms).all()
    np.testing.assert_allclose(corr.apply(flat), flat * 0.9, atol=2e-3)  # a flat frame is still matched
    rng = np.random.default_rng(2)
    pic = _pictures(rng, 1)[0]
    fitter = colour.Fitter(lambda y: pic[None], 32, 24)
    assert fitter.key(None, pic[None]) is None  # already exact: nothing to gain, nothing sent
    assert fitter.key(None, (0.8 * pic + 0.1)[None]) is not None


def test_the_fitter_refits_deltas_every_refresh_frames_and_sends_what_pays():
    rng = np.random.default_rng(3)
    pic = _pictures(rng, 1)[0]
    fitter = colour.Fitter(lambda y: pic[None], 32, 24, refresh=3)
    first = (0.8 * pic + 0.1)[None]
    assert fitter.key(None, first) is not None
    calls = []

    def latent():
        calls.append(1)

    # the same colours: refits at frames 3 and 6 find nothing better than the correction in force
    assert [fitter.delta(latent, first) for _ in range(6)] == [None] * 6 and len(calls) == 2
    other = (0.6 * pic[[1, 2, 0]] + 0.3)[None]  # the scene's colours change: its mean colour moves
    got = [fitter.delta(latent, other) for _ in range(3)]
    # refitted at once (MIN_REFIT_GAP 1: a fade's every frame), before the refresh is due; then nothing moves
    assert colour.MIN_REFIT_GAP == 1 and got[0] is not None and got[1] is None and got[2] is None
    assert fitter.current is got[0] and len(calls) == 3
    assert colour.Fitter(lambda y: pic[None], 32, 24).delta(latent, other) is None  # refresh 0: keys only


def test_the_correction_bytes_are_the_layout_format_md_gives():
    # docs/FORMAT.md: 3 rows of i16, one per output channel: M[r][0], M[r][1], M[r][2], then o[r], in
    # units of 1/4096 (o: of full scale). Written here from that table, not from the code.
    m = np.array([[4106, 1, -2], [3, 4091, 4], [-5, 6, 4096]])
    o = np.array([100, -50, 7])
    data = np.concatenate([m, o[:, None]], axis=1).astype("<i2").tobytes()
    got_m, got_o = colour.Correction.from_bytes(data + b"frame payload").affine()
    np.testing.assert_allclose(got_m, m / 4096, rtol=1e-6)
    np.testing.assert_allclose(got_o, o / 4096, rtol=1e-6)
    assert colour.Correction.from_bytes(data).to_bytes() == data


def test_a_short_correction_is_a_coder_error():
    with pytest.raises(CoderError, match="colour correction"):
        colour.split(b"\x00" * (colour.SIZE - 1))


@pytest.fixture
def any_rate_pays(monkeypatch):
    """The tiny model's packets are a few bytes, against which no 24-byte correction would pay
    (COST_FACTOR): these tests of the mechanism let MIN_GAIN alone decide."""
    monkeypatch.setattr(colour, "COST_FACTOR", 0.0)


def _encode(tmp_path, name, **kw):
    clip = write_testsrc(tmp_path / "c.mp4", frames=8, size=(64, 48))
    out = tmp_path / f"{name}.gvc"
    vidcodec.encode(clip, out, model="vaegan-tiny", quality=2, gop=4, **kw)
    return clip, out


def _packets(path):
    with container.GvcReader(path) as r:
        return r.header, list(r)


def _source(clip) -> list[np.ndarray]:
    from vidcodec import media

    with media.open_source(clip) as s:
        return [f.rgb for f in s]


@pytest.mark.usefixtures("any_rate_pays")
def test_encoder_corrects_each_keyframe_and_the_frames_come_closer_to_the_source(tmp_path, tiny_model_dir):
    clip, on = _encode(tmp_path, "on")
    _, off = _encode(tmp_path, "off", colour=False)
    _, packets = _packets(on)
    assert [p.flags for p in packets] == [colour.FLAG, 0, 0, 0, colour.FLAG, 0, 0, 0]
    # the same symbols: each flagged payload is the uncorrected one after its 24 bytes
    _, plain = _packets(off)
    assert all(p.flags == 0 for p in plain)
    assert [bytes(p.payload[colour.SIZE:] if p.flags else p.payload) for p in packets] == [
        bytes(p.payload) for p in plain]
    src = _source(clip)
    with_c = [f.rgb for f in api.frames(on)]
    without = [f.rgb for f in api.frames(off)]
    gain = [psnr(s, a) - psnr(s, b) for s, a, b in zip(src, with_c, without, strict=True)]
    assert gain[0] > 0.05 and gain[4] > 0.05 and np.mean(gain) > 0.02  # fitted on the keys, good for their GOPs


def _rewrite(src, dst, edit):
    """Copy stream ``src`` to ``dst`` with ``edit(i, packet) -> (payload, flags)`` applied."""
    header, packets = _packets(src)
    with container.GvcWriter(dst, header) as w:
        for i, p in enumerate(packets):
            payload, flags = edit(i, p)
            w.write_packet(p.kind, p.pts, payload, flags=flags)


@pytest.mark.usefixtures("any_rate_pays")
def test_a_keyframe_without_a_correction_resets_it_and_a_flagged_delta_sets_one(tmp_path, tiny_model_dir):
    _, on = _encode(tmp_path, "on")
    _, off = _encode(tmp_path, "off", colour=False)
    with_c = [f.rgb for f in api.frames(on)]
    without = [f.rgb for f in api.frames(off)]
    # second key's correction removed: its GOP decodes as the uncorrected stream
    reset = tmp_path / "reset.gvc"
    _rewrite(on, reset, lambda i, p: (p.payload[colour.SIZE:], 0) if i == 4 else (p.payload, p.flags))
    got = [f.rgb for f in api.frames(reset)]
    assert all(np.array_equal(a, b) for a, b in zip(got[:4], with_c[:4], strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(got[4:], without[4:], strict=True))
    # a delta carrying a correction that halves every value: from it on (to the next key), frames are darker
    half = colour.Correction(np.array([[2048, 0, 0, 0], [0, 2048, 0, 0], [0, 0, 2048, 0]], np.int16))
    darker = tmp_path / "darker.gvc"
    _rewrite(off, darker, lambda i, p: (half.to_bytes() + p.payload, colour.FLAG) if i == 2 else (p.payload, p.flags))
    got = [f.rgb.astype(int) for f in api.frames(darker)]
    for i in range(8):
        want = without[i].astype(int) // 2 if i in (2, 3) else without[i].astype(int)
        assert np.abs(got[i] - want).max() <= 1, i


@pytest.mark.usefixtures("any_rate_pays")
def test_a_flagged_packet_cut_short_is_concealed(tmp_path, tiny_model_dir, caplog):
    _, on = _encode(tmp_path, "on", colour=False)
    bad = tmp_path / "bad.gvc"
    _rewrite(on, bad, lambda i, p: (b"\x01" * 5, colour.FLAG) if i == 4 else (p.payload, p.flags))
    got = list(api.frames(bad))
    assert len(got) == 8 and [f.concealed for f in got] == [False] * 4 + [True] * 4
    assert "colour correction of 5 bytes" in caplog.text


@pytest.mark.usefixtures("any_rate_pays")
def test_older_streams_ignore_the_flag_bit(tmp_path, tiny_model_dir):
    # before 11.0 no writer set packet flags on video; a 10.0 header makes the bit meaningless
    _, off = _encode(tmp_path, "off", colour=False)
    header, packets = _packets(off)
    p = packets[0]
    assert api._colour_section(p, header)[1] is p.payload
    flagged = container.Packet(p.stream_index, p.kind, colour.FLAG, p.pts, p.payload, p.offset, p.header_size)
    old = dataclasses.replace(header, version=(10, 0))
    assert api._colour_section(flagged, old) == (None, p.payload)


@pytest.mark.usefixtures("any_rate_pays")
def test_torch_backend_applies_the_same_correction(tmp_path, tiny_model_dir):
    _, on = _encode(tmp_path, "on")
    ort = np.stack([f.rgb for f in api.frames(on)]).astype(int)
    torch = np.stack([f.rgb for f in api.frames(on, backend="torch")]).astype(int)
    assert np.abs(ort - torch).max() <= 2 and np.abs(ort - torch).mean() < 0.05


@pytest.mark.usefixtures("any_rate_pays")
def test_cli_no_colour_sends_none_and_info_counts_them(tmp_path, tiny_model_dir, capsys):
    clip = write_testsrc(tmp_path / "c.mp4", frames=4, size=(64, 48))
    out, on = tmp_path / "n.gvc", tmp_path / "c.gvc"
    assert main(["encode", str(clip), str(out), "--model", "vaegan-tiny", "--no-colour", "-q"]) == 0
    assert all(p.flags == 0 for p in _packets(out)[1])
    assert main(["encode", str(clip), str(on), "--model", "vaegan-tiny", "-q"]) == 0
    capsys.readouterr()
    assert main(["info", str(on)]) == 0 and "flagged packets: 0x01 x1 (colour correction)" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0 and "flagged packets" not in capsys.readouterr().out


def test_at_low_rates_a_correction_must_save_more_to_pay_for_its_bytes():
    rng = np.random.default_rng(4)
    pic = _pictures(rng, 1)[0]
    source = (0.97 * pic + 0.01)[None]  # a small colour error: the fit saves a fixed fraction of it
    before = colour.squared_error(pic, source[0], None)
    after = colour.squared_error(pic, source[0], colour.fit(pic, source[0]))
    g = 1 - after / before
    assert g > colour.MIN_GAIN
    fitter = colour.Fitter(lambda y: pic[None], 32, 24, refresh=12)
    # it pays when its 192 bits, COST_FACTOR times over, are under g of the 12 frames' bits it covers
    even = colour.COST_FACTOR * 8 * colour.SIZE / (12 * g)
    assert fitter.min_gain(None) == colour.MIN_GAIN == fitter.min_gain(1e12)
    assert fitter.min_gain(even) == pytest.approx(g)
    assert fitter.key(None, source, 0.9 * even) is None
    assert fitter.key(None, source, 1.1 * even) is not None
    assert fitter.key(None, source) is not None  # no rate known: MIN_GAIN alone


def test_the_encoder_weighs_a_correction_against_its_stream_rate(tmp_path, tiny_model_dir, monkeypatch):
    # The tiny model's packets are 5-30 bytes: a 24-byte correction does not pay at that rate ...
    _, cheap = _encode(tmp_path, "cheap")
    assert all(p.flags == 0 for p in _packets(cheap)[1])
    # ... where, the rate left out, its gain alone sends one on each keyframe
    monkeypatch.setattr(colour, "COST_FACTOR", 0.0)
    _, free = _encode(tmp_path, "free")
    assert [p.flags for p in _packets(free)[1]][::4] == [colour.FLAG, colour.FLAG]


@pytest.mark.parametrize("size", [(32, 24), (641, 363), (1920, 1080)])
def test_the_fitters_sample_of_the_bytes_is_its_sample_of_the_analysis_input(size):
    """A worker-process encode samples the frames' bytes (vidcodec.api._chunk_coded), one encode the
    float frame the analysis took: the same values, so the same fits."""
    w, h = size
    rgb = np.random.default_rng(7).integers(0, 256, (h, w, 3), dtype=np.uint8)
    fitter = colour.Fitter(lambda y: y, w, h)
    assert fitter.stride == colour.sample_stride(w, h) == {32: 1, 641: 2, 1920: 7}[w]
    got = fitter.sample_rgb(rgb)
    np.testing.assert_array_equal(got, fitter.sample(to_tensor(rgb)))
    assert got.dtype == np.float32 and got.shape == (3, -(-h // fitter.stride), -(-w // fitter.stride))
    assert fitter.sample(got) is got  # a sample passes through


def test_the_schedule_fits_keys_every_refresh_frames_and_on_drifts():
    s = colour.Schedule(refresh=4)
    grey, red = np.full(3, 0.5), np.array([0.6, 0.5, 0.5])
    got = [s.due(True, grey)] + [s.due(False, grey) for _ in range(5)]
    assert got == [True, False, False, False, True, False]
    assert s.due(False, red)  # moved by 0.1 > MEAN_SHIFT, MIN_REFIT_GAP frames after the last fit
    assert s.due(False, grey)  # moved back: refitted on the next frame (a fade's every frame)
    assert not s.due(False, grey)  # not moved since
    assert not any(colour.Schedule(refresh=0).due(False, m) for m in (grey, red))  # keys only
