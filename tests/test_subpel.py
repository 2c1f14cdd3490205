"""Learned sub-pixel prediction (format 10.0 deltas): the integer formula, the encoder's refinement,
the closed loop, and streams naming their predictor table."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil

import numpy as np
import pytest
from conftest import DATA, write_testsrc

import vidcodec
from vidcodec import container
from vidcodec.codec import motion, subpel
from vidcodec.codec.subpel import Predictor
from vidcodec.codec.vaegan import DELTA, FrameDecoder, FrameEncoder
from vidcodec.coding import elias
from vidcodec.errors import CoderError, ModelNotFoundError, UsageError
from vidcodec.models import zoo


def _predictor(c: int = 3, levels: int = 2, seed: int = 0) -> Predictor:
    rng = np.random.default_rng(seed)
    phases = (rng.normal(0, 0.4, (4, 4, c, 4 * c))).astype(np.float32)
    log_gain = np.log(rng.uniform(0.5, 8, (levels, c))).astype(np.float32)
    return Predictor(phases, log_gain, [max(1, c - 1), c][:levels], "0" * 64)


def _reference(p: Predictor, prev: np.ndarray, dx: int, dy: int, level: int) -> np.ndarray:
    """The module docstring's formula, with Python integers, sample by sample (whole latent moved)."""
    c, h, w = prev.shape
    k = p.level_channels[level]
    g = p.gains[level].astype(np.float64)

    def weight(fx, fy, i, t, j):
        v = round(float(np.rint(g[i] * np.float64(p.phases[fy, fx, i, t * c + j]) / g[j] * 65536.0)))
        return max(-(1 << 24), min(1 << 24, v))

    def s(ch, u, v):
        val = int(prev[ch, min(max(v, 0), h - 1), min(max(u, 0), w - 1)])
        return max(-(1 << 15), min(1 << 15, val))

    def q(i, y, x, qx, qy):
        iy, fy = divmod(qy, 4)
        ix, fx = divmod(qx, 4)
        if fx == 0 and fy == 0:
            return 65536 * s(i, x + ix, y + iy)
        taps = [(0, 0), (1, 0), (0, 1), (1, 1)]
        return sum(weight(fx, fy, i, t, j) * s(j, x + ix + a, y + iy + b)
                   for t, (a, b) in enumerate(taps) for j in range(k))

    qx, rx = divmod(dx, 4)
    qy, ry = divmod(dy, 4)
    out = np.zeros_like(prev)
    for i in range(k):
        for y in range(h):
            for x in range(w):
                total = ((4 - rx) * (4 - ry) * q(i, y, x, qx, qy) + rx * (4 - ry) * q(i, y, x, qx + 1, qy)
                         + (4 - rx) * ry * q(i, y, x, qx, qy + 1) + rx * ry * q(i, y, x, qx + 1, qy + 1))
                out[i, y, x] = (total + (1 << 19)) >> 20
    return out


@pytest.mark.parametrize("dx, dy, level", [(0, 0, 1), (5, 0, 1), (-3, 7, 0), (16, -32, 1), (4, 4, 1),
                                           (-37, 18, 1), (256, -256, 0), (2, 15, 0), (15, 14, 1),
                                           (-1, -1, 1), (13, 3, 0), (3, -13, 1)])
def test_prediction_matches_the_documented_integer_formula(dx, dy, level):
    p = _predictor()
    prev = np.random.default_rng(abs(dx * 7 + dy)).integers(-60, 60, (3, 5, 6))
    got = p.predict(prev, np.array([[[dx, dy]]]), 6, level)
    np.testing.assert_array_equal(got, _reference(p, prev, dx, dy, level))
    assert not got[p.level_channels[level]:].any()  # channels past the level's ladder step are zero


def test_blocks_use_their_own_vectors_and_huge_samples_are_clipped():
    p = _predictor(seed=3)
    rng = np.random.default_rng(2)
    prev = rng.integers(-50, 50, (3, 7, 9))
    vectors = rng.integers(-40, 41, (3, 3, 2))  # blocks of 3, the last row a single sample high
    got = p.predict(prev, vectors, 3, 1)
    for r in range(3):
        for c in range(3):
            want = _reference(p, prev, int(vectors[r, c, 0]), int(vectors[r, c, 1]), 1)
            np.testing.assert_array_equal(got[:, 3 * r:3 * r + 3, 3 * c:3 * c + 3], want[:, 3 * r:3 * r + 3, 3 * c:3 * c + 3])
    big = prev.copy()
    big[0, 0, 0] = 10**12  # a damaged stream's symbol: clipped to 2^15, no float rounding, same everywhere
    clipped = prev.copy()
    clipped[0, 0, 0] = 1 << 15
    np.testing.assert_array_equal(p.predict(big, vectors, 3, 1), p.predict(clipped, vectors, 3, 1))


def test_the_shipped_tables_integer_weights_are_pinned():
    # The decoder derives each level's integer weights from the float32 table with IEEE float64
    # operations: a change here changes every format 10.0 stream's prediction. From 15.0 the gains
    # they start from are exact (subpel.format_gains); 10.0-14.x streams keep numpy's float32 exp.
    m = zoo.load("vaegan-g")
    assert m.subpel is not None and m.subpel.exact
    assert m.subpel.sha256 == hashlib.sha256(subpel.table_path(m.info.weights).read_bytes()).hexdigest()
    for major, pinned in ((15, WEIGHTS_LEVEL4_SHA256), (14, WEIGHTS_LEVEL4_SHA256_14), (10, WEIGHTS_LEVEL4_SHA256_14)):
        digest = hashlib.sha256(m.subpel.for_major(major).weights(4).astype("<i8").tobytes()).hexdigest()
        assert digest == pinned, major


WEIGHTS_LEVEL4_SHA256 = "9f15436c6fcf4f906c3c1ce59971ba0b728dfc91920e8ca9cbec99c931e149ef"
WEIGHTS_LEVEL4_SHA256_14 = "5e66e3fd66e5c29d65e9a518d94cd20b100e7733494d966dd9f2191127d86049"


def test_format_gains_are_exp_rounded_to_binary64_then_binary32_on_every_machine():
    """numpy's float32 exp is not correctly rounded and differs between its SIMD paths (296 of
    vaegan-i's 768 gains by an ulp between x86-64's AVX2 path and its baseline), so two machines
    derived different integer weights; 15.0's gains are defined without it."""
    import decimal
    import math

    log_gain = zoo.load("vaegan-i").log_gain
    exact = subpel.format_gains(log_gain)
    fine = decimal.Context(prec=80)
    for v, g in zip(log_gain.ravel()[::7], exact.ravel()[::7], strict=True):
        assert g == np.float32(float(fine.exp(decimal.Decimal(float(v)))))
        assert g == np.float32(math.exp(float(v)))  # glibc's binary64 exp agrees here
    legacy = subpel.legacy_gains(log_gain)
    assert 0 < int((legacy != exact).sum()) and np.all(np.abs(legacy.view(np.int32) - exact.view(np.int32)) <= 2)
    # and a stream's decoder and encoder take the weights of the stream's major
    m = zoo.load("vaegan-i")
    assert FrameDecoder(m, (96, 4, 4), major=14, predictor=m.subpel).predictor.exact is False
    assert FrameDecoder(m, (96, 4, 4), predictor=m.subpel).predictor.exact is True
    assert FrameEncoder(m, 4, predictor=m.subpel, major=14).predictor is m.subpel.for_major(14)
    assert not np.array_equal(m.subpel.weights(4), m.subpel.for_major(14).weights(4))


def test_refinement_searches_sixteenths_around_the_quarter_choice_and_finds_a_true_shift():
    p = _predictor(c=4, seed=5)
    rng = np.random.default_rng(4)
    prev = rng.integers(-30, 30, (4, 8, 8))
    truth = np.array([[[6, -3]]])  # sixteenths
    target = p.predict(prev, truth, 8, 1).astype(np.float32)
    quarters = np.array([[[1, -1]]])  # the quarter search's guess near it
    got = p.refine(target[:2], prev, quarters, 8, 0.0, 1)
    np.testing.assert_array_equal(got, truth)
    far = p.refine(target[:2], prev, np.array([[[-20, 20]]]), 8, 0.0, 1)
    assert np.abs(far - np.array([[[-80, 80]]])).max() <= 4  # only the 9x9 sixteenths around the guess


def _refine_reference(p: Predictor, target: np.ndarray, prev: np.ndarray, quarters: np.ndarray, block: int,
                      lam: float, level: int) -> np.ndarray:
    """The refinement's definition, offset by offset in float64: each of the 81 sixteenth vectors
    around a block's quarter choice predicts the block as the bilinear blend of the quarter positions
    around it (the search maps on the first channels' taps, or the samples themselves at whole
    positions), priced by squared error + lam * the vector codes' Elias-gamma bits against the median
    predictor of the blocks chosen before it; the first best in raster order of the offsets wins."""
    k, h, w = target.shape
    kk = min(p.level_channels[level], prev.shape[0], subpel.REFINE_INPUTS)
    maps = p._search_weights(level, k, kk).astype(np.float64)
    m = subpel.MARGIN
    padded = np.pad(np.clip(prev[:kk], -subpel.SAMPLE_CAP, subpel.SAMPLE_CAP).astype(np.float64), ((0, 0), (m, m), (m, m)),
                    mode="edge")
    out = np.zeros_like(quarters)
    for r in range(quarters.shape[0]):
        for col in range(quarters.shape[1]):
            y, x = r * block, col * block
            bh, bw = min(block, h - y), min(block, w - x)

            def quarter(qx, qy, y=y, x=x, bh=bh, bw=bw):
                ix, fx = divmod(qx, 4)
                iy, fy = divmod(qy, 4)
                y0, x0 = y + iy + m, x + ix + m
                if fx == 0 and fy == 0:
                    return padded[:k, y0:y0 + bh, x0:x0 + bw]
                taps = np.concatenate([padded[:, y0 + b:y0 + b + bh, x0 + a:x0 + a + bw]
                                       for b in (0, 1) for a in (0, 1)]).reshape(4 * kk, -1)
                return (maps[fy, fx] @ taps).reshape(k, bh, bw)

            best, choice = np.inf, None
            px, py = (int(v) for v in motion._predictor(out, r, col))
            for ddy in range(-4, 5):
                for ddx in range(-4, 5):
                    dx, dy = 4 * int(quarters[r, col, 0]) + ddx, 4 * int(quarters[r, col, 1]) + ddy
                    if max(abs(dx), abs(dy)) > subpel.MAX_VECTOR:
                        continue
                    qx, rx = divmod(dx, 4)
                    qy, ry = divmod(dy, 4)
                    pred = sum(wt * quarter(qx + a, qy + b) for a, b, wt in subpel._corners(rx, ry)) / 16
                    bits = sum(int(elias.gamma_bits(np.array([v]))[0]) for v in (dx - px, dy - py))
                    cost = float(((target[:, y:y + bh, x:x + bw] - pred) ** 2).sum()) + lam * subpel.BITS_WEIGHT * bits
                    if cost < best:
                        best, choice = cost, (dx, dy)
            out[r, col] = choice
    return out


@pytest.mark.parametrize("shape,block,lam", [((3, 21, 30), 8, 0.0), ((3, 21, 30), 8, 2.0), ((2, 16, 16), 4, 0.5)])
def test_refinement_is_its_definition_block_by_block(shape, block, lam):
    """The search (per block: the 3x3 quarter positions' products once, the 81 offsets' errors from
    their Gram matrix) against the offset-by-offset definition, edge blocks narrower and shorter than
    the rest included."""
    c, h, w = shape
    p = _predictor(c=c, seed=11)
    rng = np.random.default_rng(12)
    prev = rng.integers(-40, 40, (c, h, w))
    rows, cols = -(-h // block), -(-w // block)
    truth = rng.integers(-40, 40, (rows, cols, 2))
    target = p.predict(prev, truth, block, 1).astype(np.float32) + rng.normal(0, 0.3, (c, h, w)).astype(np.float32)
    quarters = np.round(truth / 4).astype(np.int64) + rng.integers(-1, 2, truth.shape)
    quarters[0, 0] = (-64, 63)  # a guess at the range's edge: offsets past MAX_VECTOR are skipped
    k = min(2, c)
    got = p.refine(target[:k], prev, quarters, block, lam, 1)
    np.testing.assert_array_equal(got, _refine_reference(p, target[:k], prev, quarters, block, lam, 1))


def _moving(model: zoo.CodecModel, frames: int = 5, w: int = 128, h: int = 96, step: int = 5) -> list[np.ndarray]:
    """Latents of a window panning ``step`` pixels a frame across a real picture (sub-latent-pixel motion)."""
    import av

    from vidcodec.codec.vaegan import to_tensor

    with av.open(str(DATA.parents[1] / "samples" / "bikes.mp4")) as c:
        big = next(c.decode(video=0)).to_ndarray(format="rgb24")
    out = []
    for i in range(frames):
        crop = np.ascontiguousarray(big[100:100 + h, 200 + step * i:200 + step * i + w])
        out.append(model.analyze(to_tensor(crop))[0])
    return out


def test_closed_loop_encoder_and_decoder_hold_the_same_symbols(tiny_model_dir):
    m = zoo.load("vaegan-tiny")
    assert m.subpel is not None
    latents = _moving(m, 6, 256, 192, 12)  # the golden pan's frames (tests/tiny_model.py): 256x172
    enc = FrameEncoder(m, 1, gop=10, predictor=m.subpel)
    dec = FrameDecoder(m, latents[0].shape, predictor=m.subpel)
    plain = FrameDecoder(m, latents[0].shape)  # a decoder that ignores the table (as a 9.x reader would)
    sixteenths = False
    plain_ok = True
    for y in latents:
        frame = enc.encode_latent(y)
        symbols, _ = dec.decode_symbols(frame.kind, frame.payload)
        np.testing.assert_array_equal(symbols, enc._prev)
        if plain_ok:
            try:
                other, _ = plain.decode_symbols(frame.kind, frame.payload)
                plain_ok = np.array_equal(other * 16, symbols)  # 14.0: the learned decoder's state in sixteenths
            except CoderError:
                plain_ok = False
        block = frame.payload[0] & ~0x40  # 12.0: the block byte leads, bit 6 is the context flag
        if frame.kind == DELTA and block and not block & subpel.BILINEAR:
            sixteenths = True
    assert sixteenths  # deltas with learned prediction
    assert not plain_ok  # which mean something else to a decoder without the predictor


def test_a_delta_flagged_bilinear_decodes_as_quarter_vectors_would(tiny_model_dir):
    # Bit 7 of the block byte: this delta's vectors are quarters with bilinear prediction, in a
    # stream that otherwise predicts with the table. Deltas of an encoder without the table, so
    # flagged, decode alike by a decoder with it.
    m = zoo.load("vaegan-tiny")
    enc = FrameEncoder(m, 2, gop=10, motion_block=2)
    plain = FrameDecoder(m, (8, 6, 8))
    learned = FrameDecoder(m, (8, 6, 8), predictor=m.subpel)
    flagged = 0
    for y in _moving(m):
        frame = enc.encode_latent(y)
        payload = bytearray(frame.payload)
        if frame.kind == DELTA and payload[0] & 0x1F:  # 14.0: block side in bits 0-4 of the first byte
            payload[0] |= subpel.BILINEAR
            flagged += 1
        want, _ = plain.decode_symbols(frame.kind, frame.payload)
        got, _ = learned.decode_symbols(frame.kind, bytes(payload))
        np.testing.assert_array_equal(got, want * 16)  # 14.0 with a predictor: the state in sixteenths
    assert flagged
    with pytest.raises(CoderError, match="bilinear flag"):
        learned.decode_symbols(DELTA, bytes([subpel.BILINEAR, 0, 0]))


def test_the_predictor_needs_format_10_the_ans_coder_and_motion(tiny_model_dir):
    m = zoo.load("vaegan-tiny")
    for kwargs in ({"major": 9}, {"coder": "elias"}, {"motion_block": 0}, {"motion_block": 128}):
        with pytest.raises(UsageError):
            FrameEncoder(m, 1, predictor=m.subpel, **kwargs)
    with pytest.raises(UsageError):
        FrameDecoder(m, (8, 6, 8), major=9, predictor=m.subpel)


def test_stream_names_its_table_and_decodes_only_with_it(tiny_model_dir, tmp_path, monkeypatch):
    clip = write_testsrc(tmp_path / "in.mp4", frames=6, size=(96, 64))
    out = tmp_path / "a.gvc"
    vidcodec.encode(clip, out, model="vaegan-tiny", quality=2)
    hdr = container.probe(out)
    table = zoo.load("vaegan-tiny").subpel.sha256
    assert hdr["version"] == "15.0" and hdr["header"]["subpel_table"] == table[:16]
    assert len(list(vidcodec.frames(out))) == 6
    # The same model without its table (or with another): a clear error, not wrong pictures.
    folder = tmp_path / "models"
    folder.mkdir()
    for suffix in (".json", ".safetensors"):
        shutil.copy(DATA / f"vaegan-tiny{suffix}", folder / f"vaegan-tiny{suffix}")
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", str(folder))
    with pytest.raises(ModelNotFoundError, match="predictor table"):
        list(vidcodec.frames(out))
    other = _predictor(c=8, levels=3)
    from safetensors.numpy import save_file

    save_file({subpel.TENSOR: other.phases}, str(folder / "vaegan-tiny.subpel.safetensors"))
    with pytest.raises(ModelNotFoundError, match=table[:12]):
        list(vidcodec.frames(out))


def test_a_damaged_table_entry_or_vector_is_reported():
    hdr = container.StreamHeader(width=16, height=16, time_base=(1, 25), frame_rate=(25, 1), frame_count=1,
                                 model_name="m", model_hash=bytes(32), coder=container.Coder.ANS,
                                 mode=container.Mode.VAEGAN, quality=1, latent_shape=(8, 1, 1), gop=1,
                                 extensions={container.EXT_SUBPEL: b"short"})
    with pytest.raises(container.CorruptPacketError):
        container.subpel_table(hdr)
    old = dataclasses.replace(hdr, version=(9, 1))
    assert container.subpel_table(old) is None  # 9.x readers ignore unknown tags: so does a 10.x one for them
    data = motion.encode_vectors(np.array([[[257, 0]]]))
    with pytest.raises(CoderError, match="out of range"):
        motion.decode_vectors(data, 1, 1, subpel.MAX_VECTOR)
    np.testing.assert_array_equal(motion.decode_vectors(motion.encode_vectors(np.array([[[256, -256]]])), 1, 1,
                                                        subpel.MAX_VECTOR), [[[256, -256]]])


def test_subpel_bilinear_writes_no_table_entry_and_a_bad_value_is_a_usage_error(tiny_model_dir, tmp_path):
    clip = write_testsrc(tmp_path / "in.mp4", frames=4, size=(96, 64))
    out = tmp_path / "b.gvc"
    vidcodec.encode(clip, out, model="vaegan-tiny", quality=2, subpel="bilinear")
    hdr = container.probe(out)
    assert hdr["version"] == "15.0" and hdr["header"]["subpel_table"] is None
    assert len(list(vidcodec.frames(out))) == 4
    with pytest.raises(UsageError, match="--subpel"):
        vidcodec.encode(clip, tmp_path / "c.gvc", model="vaegan-tiny", subpel="cubic")


def test_threaded_prediction_is_the_same_integers():
    p = _predictor(c=6, seed=9)
    rng = np.random.default_rng(11)
    prev = rng.integers(-80, 80, (6, 13, 17))
    vectors = rng.integers(-60, 61, (5, 6, 2))  # blocks of 3: 30 blocks, most moving by a fraction
    serial = p.predict(prev, vectors, 3, 1, threads=1)
    np.testing.assert_array_equal(p.predict(prev, vectors, 3, 1, threads=4), serial)
    # (serial's blocks are checked against the formula in test_blocks_use_their_own_vectors...)


def _pool_runs_a_job() -> int:
    return subpel._pool(2).submit(int, 7).result(timeout=20)


def test_a_forked_child_gets_pools_of_its_own():
    # GOP-parallel coding forks workers from a process whose predictor pools already have threads:
    # the child's copies of those pools would never run a job
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    assert subpel._pool(2).submit(int, 3).result() == 3  # the parent's pool, with its threads
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as ex:
        assert ex.submit(_pool_runs_a_job).result(timeout=60) == 7


def test_a_large_state_is_predicted_by_the_weights_of_its_streams_format(tiny_model_dir):
    """Where the two gain definitions give other integer weights, a large state's prediction differs:
    a 15.0 decoder must use the exact gains, a 14.x decoder numpy's (as its streams were made)."""
    m = zoo.load("vaegan-tiny")
    rng = np.random.default_rng(0)
    prev = np.zeros((m.latent_channels, 6, 8), np.int64)
    prev[: m.level_channels[1]] = rng.integers(-32768, 32768, (m.level_channels[1], 6, 8))
    vectors = rng.integers(-20, 21, (2, 2, 2))
    new, old = (FrameDecoder(m, prev.shape, major=major, predictor=m.subpel).predictor for major in (15, 14))
    exact, legacy = new.predict(prev, vectors, 4, 1), old.predict(prev, vectors, 4, 1)
    assert not np.array_equal(exact, legacy)
    assert new.exact and not old.exact


def test_the_models_whose_streams_used_numpy_gains_ship_them(tiny_model_dir):
    """A 14.x stream's weights came from numpy's float32 exp on the encoder's x86-64 (AVX2 or
    AVX-512); on another CPU numpy's exp differs (its baseline path: 295 of vaegan-i's 768 gains), so
    the models ship those values (NAME.gains14.npy) and a 14.x decoder takes them."""
    for name in ("vaegan-g", "vaegan-h", "vaegan-i", "vaegan-tiny"):
        m = zoo.load(name)
        pinned = np.load(subpel.legacy_path(m.info.weights))
        assert pinned.dtype == np.float32 and pinned.shape == m.log_gain.shape
        exact = subpel.format_gains(m.log_gain)
        assert np.all(np.abs(pinned.view(np.int32) - exact.view(np.int32)) <= 2)
        assert m.subpel.for_major(14).gains is m.subpel.pinned and np.array_equal(m.subpel.for_major(14).gains, pinned)


def test_package_keeps_an_earlier_models_side_files_with_its_weights(tmp_path):
    """`package` over weights of the same name moved them to NAME@HASH12 but left their predictor
    table, int8 ranges and 14.x gains under NAME: the earlier model's streams could not decode."""
    from vidcodec.train.package import keep_earlier

    weights = tmp_path / "m.safetensors"
    weights.write_bytes(b"old weights")
    for side in (subpel.table_path, subpel.legacy_path):
        side(weights).write_bytes(b"side")
    (tmp_path / "m.int8.json").write_text("{}")
    keep_earlier(weights, "0" * 64)
    kept = sorted(p.name for p in tmp_path.iterdir())
    old = hashlib.sha256(b"old weights").hexdigest()[:12]
    assert kept == sorted(f"m@{old}{s}" for s in (".safetensors", ".subpel.safetensors", ".gains14.npy", ".int8.json"))


def test_fitting_a_table_gives_one_the_model_loads_that_beats_no_motion_on_held_out_pictures(
        tiny_model_dir, tmp_path, capsys):
    # python -m vidcodec.train.subpel, on real frames (the sample clip's, 768x576): pictures 0 and 4
    # are held out, the other six fit the table
    import av

    from vidcodec.train import subpel as fit_subpel

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    with av.open(str(DATA.parents[1] / "samples" / "vtest.mp4")) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i % 7 == 0:
                frame.to_image().save(pictures / f"{i:03d}.png")
            if i >= 7 * 7:
                break
    (pictures / "small.png").write_bytes((pictures / "000.png").read_bytes()[:0])  # unreadable: skipped
    out = tmp_path / "t.subpel.safetensors"
    fit_subpel.main(["vaegan-tiny", str(pictures), str(out)])
    said = capsys.readouterr().out.splitlines()
    assert said[0] == "8 of 9 pictures used"
    m = zoo.load("vaegan-tiny")
    p = Predictor.load(out, m.log_gain, m.level_channels)
    assert p.phases.shape == (4, 4, m.latent_channels, 4 * m.latent_channels) and not p.phases[0, 0].any()
    errors = [[float(v) for v in re.findall(r"none ([\d.]+) bilinear ([\d.]+) learned ([\d.]+)", line)[k]]
              for line in said[1:] for k in range(4)]
    assert len(errors) == 4 * len(said[1:]) >= 4
    assert all(learned < none for none, _, learned in errors), said


def test_fitting_a_table_from_too_few_usable_pictures_says_what_it_needs(tiny_model_dir, tmp_path):
    from PIL import Image

    from vidcodec.train import subpel as fit_subpel

    Image.new("RGB", (200, 200)).save(tmp_path / "a.png")  # under 296 pixels a side
    with pytest.raises(SystemExit, match="needs pictures of at least 296x296 pixels"):
        fit_subpel.main(["vaegan-tiny", str(tmp_path), str(tmp_path / "t.safetensors")])
    Image.new("RGB", (320, 320)).save(tmp_path / "b.png")
    Image.new("RGB", (320, 320)).save(tmp_path / "c.png")  # two large enough, neither held out (a.png is)
    with pytest.raises(SystemExit, match=r"both held out \(the 1st, 5th, 9th... in name order\) and not .* 2 are"):
        fit_subpel.main(["vaegan-tiny", str(tmp_path), str(tmp_path / "t.safetensors")])
    assert not (tmp_path / "t.safetensors").exists()
