"""Format 14.0: with a learned predictor the decoder's state counts sixteenths of a symbol, and a
delta may keep its learned prediction's fraction (bit 5 of its head), which the encoder chooses by
the synthesized pictures."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA, REAL_JUDGE_PAYS, write_testsrc

import vidcodec
from vidcodec import runtime
from vidcodec.codec import resolve_preset, subpel
from vidcodec.codec.vaegan import (
    DELTA,
    FINE_BIT,
    FINE_KAPPA,
    FINE_MARGIN,
    KEY,
    FrameDecoder,
    FrameEncoder,
    PictureErrors,
    picture_errors,
    picture_errors_numpy,
    to_tensor,
)
from vidcodec.errors import CoderError, UsageError
from vidcodec.models import zoo


def _pan(model, frames: int = 6, w: int = 256, h: int = 192, step: int = 12) -> list[tuple[np.ndarray, np.ndarray]]:
    """(frame as the analysis takes it, its latent) of a window panning ``step`` pixels a frame across
    a real picture: 3/4 of a latent pixel, where learned prediction has fractions."""
    import av

    with av.open(str(DATA.parents[1] / "samples" / "bikes.mp4")) as c:
        big = next(c.decode(video=0)).to_ndarray(format="rgb24")
    out = []
    for i in range(frames):
        x = to_tensor(np.ascontiguousarray(big[100:100 + h, 200 + step * i:200 + step * i + w]))
        out.append((x, model.analyze(x)[0]))
    return out


def _code(enc: FrameEncoder, dec: FrameDecoder, frames, with_pictures: bool = True) -> list:
    """Code ``frames``, checking that the decoder holds the encoder's state after each; the payloads."""
    payloads = []
    for x, y in frames:
        coded = enc.encode_latent(y, x if with_pictures else None)
        state, level = dec.decode_symbols(coded.kind, coded.payload)
        np.testing.assert_array_equal(state, enc._prev)
        np.testing.assert_array_equal(dec.latent(state, level),
                                      (enc._prev.astype(np.float32) / (16 * enc.model.gains[level][:, None, None]))[None])
        payloads.append((coded.kind, coded.payload))
    return payloads


def test_fine_deltas_keep_encoder_and_decoder_in_step(tiny_model_dir, monkeypatch):
    m = zoo.load("vaegan-tiny")
    monkeypatch.setattr(FrameEncoder, "_fine_or_whole", lambda self, ys, x, fine, whole: fine)
    enc = FrameEncoder(m, 1, gop=10, predictor=m.subpel)
    frames = _pan(m)
    dec = FrameDecoder(m, frames[0][1].shape, predictor=m.subpel)
    assert enc.unit == dec.unit == 16
    payloads = _code(enc, dec, frames)
    fine = [p for kind, p in payloads if kind == DELTA and p[0] & FINE_BIT]
    assert fine and all(not p[0] & subpel.BILINEAR and p[0] & 0x1F == enc.motion_block for p in fine)
    assert np.any(enc._prev % 16)  # the state holds fractions
    # The same bytes read as 13.0 payloads (bit 5 a part of the block side): other symbols or a failure.
    old = FrameDecoder(m, frames[0][1].shape, major=13, predictor=m.subpel)
    try:
        states = [old.decode_symbols(kind, p)[0] for kind, p in payloads]
        assert not np.array_equal(states[-1] * 16, enc._prev)
    except CoderError:
        pass


def test_without_the_frames_the_encoder_keeps_whole_predictions(tiny_model_dir):
    m = zoo.load("vaegan-tiny")
    enc = FrameEncoder(m, 1, gop=10, predictor=m.subpel)
    frames = _pan(m)
    payloads = _code(enc, FrameDecoder(m, frames[0][1].shape, predictor=m.subpel), frames, with_pictures=False)
    assert not any(kind == DELTA and p[0] & FINE_BIT for kind, p in payloads)
    assert not np.any(enc._prev % 16) and enc.fine_choices == [0, 0]


@pytest.mark.parametrize("kappa", [0.0, FINE_KAPPA])
def test_the_pictures_choose_between_fine_and_whole(tiny_model_dir, monkeypatch, kappa):
    # Fine where dE/E + kappa * dbits/R < -margin for both picture errors E (squared error, 1 - SSIM),
    # dbits the candidates' estimated bits and R the mean bits a frame since the keyframe (at least
    # the whole candidate's); with kappa and margin 0: where both errors are the lower. Each choice, re-measured,
    # says so; and picture_errors is what it says.
    m = zoo.load("vaegan-tiny")
    choose = FrameEncoder._fine_or_whole
    seen = []

    def error(self, candidate, x):
        state = candidate[0] + candidate[1] * 16
        out = m.synthesize((state.astype(np.float32) / (16 * m.gains[self.level][:, None, None]))[None])
        mse, structure = picture_errors(out, x)
        assert mse == pytest.approx(float(np.mean((out - x) ** 2)), rel=1e-4, abs=1e-9)
        return mse, structure

    def bits(candidate):
        return candidate[2][0] + 8 * len(candidate[4]) + 8  # residuals, vectors, head byte

    def spy(self, ys, x, fine, whole):
        got = choose(self, ys, x, fine, whole)
        (mf, sf), (mw, sw) = error(self, fine, x), error(self, whole, x)
        mean = max(self._gop_bits / self._since_key, bits(whole))
        rate = kappa * (bits(fine) - bits(whole)) / mean
        margin = self.fine_margin
        seen.append((got is fine, (mf - mw) / mw + rate < -margin and (sf - sw) / sw + rate < -margin))
        return got

    monkeypatch.setattr(FrameEncoder, "_fine_or_whole", spy)
    enc = FrameEncoder(m, 1, gop=10, predictor=m.subpel)
    enc.fine_kappa = kappa
    enc.fine_margin = 0.0 if kappa == 0 else max(FINE_MARGIN, 0.02)
    frames = _pan(m, frames=8)
    _code(enc, FrameDecoder(m, frames[0][1].shape, predictor=m.subpel), frames)
    assert seen and all(took == rule for took, rule in seen)
    if kappa == 0:  # both outcomes seen (with the margin the tiny model's pan never gains enough)
        assert any(took for took, _ in seen) and not all(took for took, _ in seen)
    assert sum(enc.fine_choices) == len(seen)


def test_a_fine_flag_without_learned_prediction_is_damage(tiny_model_dir):
    m = zoo.load("vaegan-tiny")
    frames = _pan(m, frames=1)
    key = FrameEncoder(m, 1, predictor=m.subpel).encode_latent(frames[0][1]).payload
    for head in (FINE_BIT, FINE_BIT | subpel.BILINEAR | 2):  # no motion section; bilinear vectors
        dec = FrameDecoder(m, frames[0][1].shape, predictor=m.subpel)
        dec.decode_symbols(KEY, key)
        with pytest.raises(CoderError, match="fine flag"):
            dec.decode_symbols(DELTA, bytes([head, 0, 0, 0]))
    plain = FrameDecoder(m, frames[0][1].shape)  # a 14.0 stream without a predictor table
    plain.decode_symbols(KEY, key)
    with pytest.raises(CoderError, match="fine flag"):
        plain.decode_symbols(DELTA, bytes([FINE_BIT | 2, 0, 0, 0]))


def test_picture_errors_are_mse_and_one_minus_ssim():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (1, 3, 32, 48)).astype(np.float32)
    mse, structure = picture_errors(x, x)
    assert mse < 1e-9 and structure < 1e-6
    noisy = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    flat = np.full_like(x, 0.5)
    m1, s1 = picture_errors(noisy, x)
    _, s2 = picture_errors(flat, x)
    assert m1 == pytest.approx(float(np.mean((noisy - x) ** 2)), rel=1e-5)
    assert 0 < s1 < s2 <= 1.0 + 1e-6  # a flat picture has none of the structure
    assert picture_errors(np.pad(x, ((0, 0), (0, 0), (0, 16), (0, 16))), x) == picture_errors(x, x)  # common size


@pytest.mark.parametrize("h, w", [(368, 640), (33, 17), (3, 5), (1, 9), (9, 1), (8, 8)])
def test_the_cores_picture_errors_are_the_numpy_definitions(h, w):
    rng = np.random.default_rng(h * 1000 + w)
    x = rng.uniform(0, 1, (1, 3, h, w)).astype(np.float32)
    # a picture near the frame (small differences: the structure term near 0), one far from it
    for noise in (0.01, 0.3):
        out = np.clip(x + rng.normal(0, noise, x.shape), 0, 1).astype(np.float32)
        mse, structure = picture_errors(out, x)
        m0, s0 = picture_errors_numpy(out, x)
        # (1 - SSIM near 0 keeps float32's absolute rounding of the mean SSIM, a few 1e-7)
        assert mse == pytest.approx(m0, rel=1e-5) and structure == pytest.approx(s0, rel=1e-4, abs=5e-7)


def test_picture_errors_take_views_other_types_and_a_larger_picture():
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (1, 3, 48, 64)).astype(np.float32)
    out = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype(np.float32)
    against = PictureErrors(x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2))  # a channels-last view
    want = picture_errors_numpy(out, x)
    assert against(out) == pytest.approx(want, rel=1e-5)
    assert against(out.astype(np.float64)) == pytest.approx(want, rel=1e-5)
    assert against(np.asfortranarray(out)) == pytest.approx(want, rel=1e-5)
    larger = np.pad(out, ((0, 0), (0, 0), (0, 16), (0, 16)), constant_values=1.0)
    assert against(larger) == against(out)  # over the frame's size
    smaller = out[:, :, :40, :56]
    assert against(smaller) == pytest.approx(picture_errors_numpy(smaller, x), rel=1e-5)  # the common size


def test_the_cores_picture_errors_refuse_what_they_cannot_read():
    from vidcodec.native import core

    x = np.zeros((3, 8, 8), np.float32)
    ref = core.ssim_reference(x, 8, 8)
    with pytest.raises(ValueError, match="3 x H x W"):
        core.picture_errors(np.zeros((3, 4, 8), np.float32), x, ref)  # smaller than the reference
    with pytest.raises(ValueError, match="contiguous"):
        core.picture_errors(np.zeros((3, 8, 16), np.float32)[:, :, ::2], x, ref)
    with pytest.raises(ValueError, match="positive"):
        core.ssim_reference(x, 0, 8)
    with pytest.raises(ValueError, match="3 x H x W"):
        core.ssim_reference(np.zeros((1, 8, 8), np.float32), 8, 8)


def test_the_fast_preset_codes_what_whole_choices_code_without_making_pictures(tiny_model_dir, monkeypatch):
    m = zoo.load("vaegan-tiny")
    frames = _pan(m)
    decided = FrameEncoder(m, 1, gop=10, predictor=m.subpel)
    weighed = []
    monkeypatch.setattr(FrameEncoder, "_fine_or_whole", lambda self, ys, x, fine, whole: weighed.append(1) or whole)
    whole = _code(decided, FrameDecoder(m, frames[0][1].shape, predictor=m.subpel), frames)
    assert weighed  # the medium preset weighs this pan's deltas

    def never(self, *args):
        raise AssertionError("the fast preset weighed a fine delta")

    monkeypatch.setattr(FrameEncoder, "_fine_or_whole", never)
    monkeypatch.setattr(m, "synthesize", lambda y: never(None))
    fast = FrameEncoder(m, 1, gop=10, predictor=m.subpel, fine=False)
    payloads = _code(fast, FrameDecoder(m, frames[0][1].shape, predictor=m.subpel), frames)
    assert payloads == whole and sum(kind == DELTA for kind, _ in payloads) == len(frames) - 1
    assert not any(kind == DELTA and p[0] & FINE_BIT for kind, p in payloads) and fast.fine_choices == [0, 0]


def test_preset_reaches_the_encoder_and_a_bad_one_is_a_usage_error(tiny_model_dir, tmp_path, monkeypatch):
    clip = write_testsrc(tmp_path / "in.mp4", frames=3, size=(96, 64))
    made = []
    init = FrameEncoder.__init__

    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(self.fine)

    monkeypatch.setattr(FrameEncoder, "__init__", spy)
    # auto (the default) is medium where the pictures are cheap (runtime.judge_pays), else fast; the
    # named presets are what they say on any machine
    for preset, cheap, fine in (("fast", True, False), ("medium", False, True), ("auto", True, True),
                                ("auto", False, False), (None, False, False), (None, True, True)):
        made.clear()
        monkeypatch.setattr(runtime, "judge_pays", lambda cheap=cheap: cheap)
        out = tmp_path / f"{preset}-{cheap}.gvc"
        vidcodec.encode(clip, out, model="vaegan-tiny", quality=2, **({} if preset is None else {"preset": preset}))
        assert made == [fine]
        assert len(list(vidcodec.frames(out))) == 3
    with pytest.raises(UsageError, match="--preset"):
        vidcodec.encode(clip, tmp_path / "x.gvc", model="vaegan-tiny", preset="slow")


def test_the_models_judge_makes_the_pictures_from_a_fixed_weighed_delta(tiny_model_dir, monkeypatch):
    # The first JUDGE_AFTER weighed deltas' pictures come from the synthesis, the judge being built from
    # the JUDGE_START-th on, the later ones from the judge: where it switches depends on the frames
    # alone, never on how fast the judge was built.
    from vidcodec.codec import vaegan

    monkeypatch.setattr(vaegan, "JUDGE_START", 2)
    monkeypatch.setattr(vaegan, "JUDGE_AFTER", 2)
    m = zoo.load("vaegan-tiny")
    calls = []
    monkeypatch.setattr(m, "prepare_judge", lambda: calls.append("prepare"))
    synthesize = m.synthesize
    monkeypatch.setattr(m, "judge", lambda y: calls.append("judge") or synthesize(y))
    monkeypatch.setattr(m, "synthesize", lambda y: calls.append("synthesis") or synthesize(y))
    enc = FrameEncoder(m, 1, gop=20, predictor=m.subpel)
    frames = _pan(m, frames=8)
    dec = FrameDecoder(m, frames[0][1].shape, predictor=m.subpel)
    _code(enc, dec, frames[:1])
    assert calls == []  # nothing weighed yet: a GOP worker is forked after its encoder is made
    _code(enc, dec, frames[1:])
    weighed = enc._weighed
    assert weighed >= 3  # the tiny model's pan weighs its deltas
    # two pictures a weighed delta: weighed deltas 1 and 2 by the synthesis, from the 3rd the judge
    assert calls == ["synthesis"] * 2 + ["prepare"] + ["synthesis"] * 2 + ["judge"] * (2 * weighed - 4)


def test_encoders_that_never_weigh_never_build_the_judge(tiny_model_dir, monkeypatch):
    m = zoo.load("vaegan-tiny")
    monkeypatch.setattr(m, "prepare_judge", lambda: pytest.fail("the judge was built"))
    frames = _pan(m, frames=4)
    for enc, x in ((FrameEncoder(m, 1, gop=20, predictor=m.subpel, fine=False), True),  # the fast preset
                   (FrameEncoder(m, 1, gop=20), True),  # no learned predictor: no fractions to weigh
                   (FrameEncoder(m, 1, gop=20, predictor=m.subpel), False)):  # no frames (GOP workers)
        for frame, latent in frames:
            enc.encode_latent(latent, frame if x else None)
        assert enc._weighed == 0
    # nor one that weighs fewer than JUDGE_START deltas (a still camera)
    from vidcodec.codec import vaegan

    monkeypatch.setattr(vaegan, "JUDGE_START", 100)
    enc = FrameEncoder(m, 1, gop=20, predictor=m.subpel)
    _code(enc, FrameDecoder(m, frames[0][1].shape, predictor=m.subpel), frames)
    assert enc._weighed >= 1


def test_the_judge_is_the_bfloat16_synthesis_only_for_onnx_runtime_on_a_bfloat16_cpu(tiny_model_dir, monkeypatch):
    from vidcodec import runtime

    monkeypatch.setattr(zoo, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(runtime, "default_providers", lambda: [runtime.CPU])  # whether or not torch sees CUDA
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert zoo.judges_in_bf16("ort") and zoo.judges_in_bf16("int8")
    assert not zoo.judges_in_bf16("torch") and not zoo.judges_in_bf16("bf16")  # those judge with their own synthesis
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert zoo.judges_in_bf16("ort")
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2", "avx512f"})
    assert not zoo.judges_in_bf16("ort")  # no bfloat16 instructions: emulated, slower than float32
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setattr(runtime, "default_providers", lambda: [runtime.CUDA, runtime.CPU])
    assert not zoo.judges_in_bf16("ort")  # ONNX Runtime on a GPU synthesizes faster itself
    monkeypatch.setattr(runtime, "default_providers", lambda: [runtime.CPU])
    monkeypatch.setattr(zoo, "cpu_has_bf16", lambda: False)
    assert not zoo.judges_in_bf16("ort")  # the flags say so, oneDNN does not


def test_the_judges_pictures_weigh_as_the_synthesis_does(tiny_model_dir):
    m = zoo.load("vaegan-tiny", backend="ort")
    (x, y), = _pan(m, frames=1, w=128, h=96)
    state = np.rint(y * m.gains[1][:, None, None] * 16).astype(np.int64)
    latent = (state.astype(np.float32) / (16 * m.gains[1][:, None, None]))[None]
    exact = m.synthesize(latent)
    # the bfloat16 synthesis itself (emulated where the CPU lacks bfloat16: slower, the same values)
    for judged in (m._bf16_synthesis()(latent), m.judge(latent)):
        assert judged.shape == exact.shape and judged.dtype == np.float32
        assert 0.0 <= judged.min() and judged.max() <= 1.0
        assert np.abs(judged - exact).max() < 0.05  # bfloat16: 8 significant bits
        (mj, sj), (me, se) = picture_errors(judged, x), picture_errors(exact, x)
        assert mj == pytest.approx(me, rel=0.02) and sj == pytest.approx(se, rel=0.02)
    if not zoo.judges_in_bf16("ort"):
        np.testing.assert_array_equal(m.judge(latent), exact)


def test_an_encoder_writes_the_same_bytes_whether_or_not_the_judge_was_built(tiny_model_dir, monkeypatch):
    from vidcodec.codec import vaegan

    monkeypatch.setattr(vaegan, "JUDGE_START", 1)
    monkeypatch.setattr(vaegan, "JUDGE_AFTER", 1)
    m = zoo.load("vaegan-tiny", backend="ort")
    monkeypatch.setattr(m, "_judge", None)  # models are shared: none built yet
    monkeypatch.setattr(m, "_judge_thread", None)
    frames = _pan(m, frames=6)
    runs = []
    for _ in range(2):  # the first builds the judge while it codes, the second finds it built
        enc = FrameEncoder(m, 1, gop=20, predictor=m.subpel)
        runs.append(_code(enc, FrameDecoder(m, frames[0][1].shape, predictor=m.subpel), frames))
        assert enc._weighed >= 2  # the judge made the pictures of the later ones
    assert runs[0] == runs[1]


def test_a_fork_waits_for_a_judge_being_built(tiny_model_dir, monkeypatch):
    import os
    import threading
    import time

    m = zoo.load("vaegan-tiny", backend="ort")
    monkeypatch.setattr(m, "_judge", None)
    monkeypatch.setattr(m, "_judge_thread", None)
    release = threading.Event()

    def slow():
        release.wait(5)
        time.sleep(0.2)
        m._judge = m.synthesize

    monkeypatch.setattr(m, "_build_judge", slow)
    m.prepare_judge()
    thread = m._judge_thread
    assert thread.is_alive() and not thread.daemon
    release.set()
    pid = os.fork()  # as a GOP-parallel pool forks its workers
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    assert not thread.is_alive()  # joined before the fork


def test_a_judge_that_cannot_be_built_is_the_synthesis_with_a_warning(tiny_model_dir, monkeypatch, caplog):
    m = zoo.load("vaegan-tiny", backend="ort")
    monkeypatch.setattr(zoo, "judges_in_bf16", lambda backend: True)

    def broken():
        raise RuntimeError("no oneDNN here")

    monkeypatch.setattr(m, "_bf16_synthesis", broken)
    monkeypatch.setattr(m, "_judge", None)  # models are shared: as if none were built yet
    monkeypatch.setattr(m, "_judge_thread", None)
    latent = np.zeros((1, m.latent_channels, 2, 3), np.float32)
    with caplog.at_level("WARNING", logger="vidcodec"):
        np.testing.assert_array_equal(m.judge(latent), m.synthesize(latent))
    assert any("no oneDNN here" in r.getMessage() and "float32" in r.getMessage() for r in caplog.records)


def test_a_colour_fit_of_a_weighed_delta_takes_its_picture_instead_of_making_one(tiny_model_dir, monkeypatch):
    from vidcodec.codec import colour

    m = zoo.load("vaegan-tiny", backend="ort")
    frames = _pan(m, frames=5)
    made = []

    def synthesize(y):
        made.append(1)
        return m.synthesize(y)

    def run(reuse: bool) -> tuple[list, int, list, list]:
        if not reuse:  # the fitter makes its own picture of every delta it fits
            delta = colour.Fitter.delta
            monkeypatch.setattr(colour.Fitter, "delta",
                                lambda self, latent, source, bits=None, picture=None: delta(self, latent, source, bits))
        fitter = colour.Fitter(synthesize, 256, 192, refresh=1)  # a fit on every delta
        enc = FrameEncoder(m, 1, gop=10, predictor=m.subpel, colour=fitter)
        fits, fitted = [], []
        solve = colour.fit
        monkeypatch.setattr(colour, "fit", lambda *a: fitted.append(solve(*a)) or fitted[-1])
        fit = fitter._fit
        fitter._fit = lambda *a: fits.append(len(a) > 3 and a[3] is not None) or fit(*a)
        made.clear()
        dec = FrameDecoder(m, frames[0][1].shape, predictor=m.subpel)
        payloads = []
        for x, y in frames:
            coded = enc.encode_latent(y, x)
            payload = colour.split(coded.payload)[1] if coded.flags & colour.FLAG else coded.payload
            state, _ = dec.decode_symbols(coded.kind, payload)
            np.testing.assert_array_equal(state, enc._prev)
            payloads.append((coded.kind, coded.flags, coded.payload))
        monkeypatch.undo()
        return payloads, len(made), fits, [f.terms.tolist() for f in fitted]

    weighed = []
    real = FrameEncoder._fine_or_whole
    monkeypatch.setattr(FrameEncoder, "_fine_or_whole", lambda self, *a: weighed.append(1) or real(self, *a))
    reused, made_reusing, fits, terms = run(True)
    assert weighed and sum(fits) == len(weighed) and len(fits) == len(frames)  # the key's fit makes its picture
    plain, made_plain, _, plain_terms = run(False)
    assert made_plain - made_reusing == len(weighed)
    # before the judge, the delta's pictures are the synthesis's own: the same fits, the same bytes
    assert terms == plain_terms and len(terms) == len(frames) and reused == plain


def test_the_auto_preset_is_medium_where_a_gpu_or_amx_makes_the_pictures(monkeypatch):
    for providers, amx, pays in (([runtime.CUDA, "CPUExecutionProvider"], False, True),
                                 (["CPUExecutionProvider"], True, True), (["CPUExecutionProvider"], False, False)):
        monkeypatch.setattr(runtime, "default_providers", lambda providers=providers: providers)
        monkeypatch.setattr(runtime, "bf16_pays", lambda amx=amx: amx)
        assert REAL_JUDGE_PAYS() is pays
        monkeypatch.setattr(runtime, "judge_pays", REAL_JUDGE_PAYS)
        assert resolve_preset("auto") == ("medium" if pays else "fast")
        assert [resolve_preset(p) for p in ("medium", "fast")] == ["medium", "fast"]
