"""What mutation testing of subpel.py, colour.py, refine.py and prefilter.py found unpinned: known
answers from docs/FORMAT.md and the modules' documented rules, written here independently of the code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vidcodec.codec import colour, motion, subpel
from vidcodec.codec.subpel import Predictor
from vidcodec.errors import ModelNotFoundError, UsageError

# ---------------------------------------------------------------------------------------------------
# subpel: the integer weights and samples (docs/FORMAT.md, "Learned sub-pixel prediction")


def _unit_gain_predictor(phases: np.ndarray, levels: int = 1) -> Predictor:
    """A table whose gains are exactly 1 (exp(0)): W = clamp(rint(A · 65536), ±2^24)."""
    c = phases.shape[2]
    return Predictor(phases.astype(np.float32), np.zeros((levels, c), np.float32), [c] * levels, "0" * 64)


def test_weights_are_clamped_to_2_24_and_rounded_half_to_even():
    phases = np.zeros((4, 4, 2, 8), np.float32)
    phases[0, 1, 0, 0] = 1000.0  # 1000 · 65536 > 2^24: clamped
    phases[0, 1, 0, 1] = -1000.0
    phases[0, 1, 1, 2] = 256.0  # exactly 2^24: kept
    phases[0, 1, 1, 3] = 2.5 / 65536  # halves: to even
    phases[0, 1, 1, 4] = 3.5 / 65536
    phases[0, 1, 1, 5] = -0.5 / 65536
    phases[1, 0, 0, 6] = 0.25
    w = _unit_gain_predictor(phases).weights(0)
    assert w.shape == (4, 4, 2, 8)
    assert w[0, 1, 0, 0] == 1 << 24 and w[0, 1, 0, 1] == -(1 << 24) and w[0, 1, 1, 2] == 1 << 24
    assert (w[0, 1, 1, 3], w[0, 1, 1, 4], w[0, 1, 1, 5]) == (2.0, 4.0, 0.0)
    assert w[1, 0, 0, 6] == 16384.0
    assert not w[0, 0].any()  # phase (0, 0) is unused


def test_a_clamped_weight_predicts_with_2_24():
    # one channel, phase (fx, fy) = (1, 0): Q = W_t0·S(x, y) + W_t1·S(x+1, y) + ...; vector (4, 0) has
    # rx = ry = 0, so T = 16·Q and the prediction is floor((16·Q + 2^19) / 2^20)
    phases = np.zeros((4, 4, 1, 4), np.float32)
    phases[0, 1, 0, 0] = 300.0  # clamped: 2^24 = 256·65536
    phases[0, 1, 0, 1] = -0.5  # the right neighbour at -32768
    p = _unit_gain_predictor(phases)
    prev = np.array([[[3, 5]]])
    got = p.predict(prev, np.array([[[4, 0]]]), 2, 0)
    # x = 0: 256·3 - 0.5·5 = 765.5; x = 1 (its right neighbour is itself at the edge): 256·5 - 2.5
    want = [math.floor((16 * (2**24 * 3 - 32768 * 5) + 2**19) / 2**20),
            math.floor((16 * (2**24 * 5 - 32768 * 5) + 2**19) / 2**20)]
    np.testing.assert_array_equal(got[0, 0], want)
    assert want == [766, 1278]  # 765.5 rounds up, 1277.5 too (floor(T/2^20 + 1/2))


@pytest.mark.parametrize("vector", [(0, 0), (16, 0), (-16, 5), (5, 3), (-3, -3), (7, 0)])
def test_samples_are_clamped_to_plus_minus_32768(vector):
    """S(u, v) is clamped to [-32768, 32768] (2^15 itself included) before any product. With every
    phase copying its first tap (W = 65536 there, 0 elsewhere) each quarter position is
    Q(qx, qy) = 65536 · S(x + ⌊qx/4⌋, y + ⌊qy/4⌋), so the prediction is a blend of clamped samples."""
    phases = np.zeros((4, 4, 1, 4), np.float32)
    phases[:, :, 0, 0] = 1.0
    phases[0, 0] = 0.0
    p = _unit_gain_predictor(phases)
    raw = [40000, -40000, 32768, -32768, 32767, -70000, 10**12]
    prev = np.array([[raw]])
    got = p.predict(prev, np.array([[list(vector)]]), len(raw), 0)

    def s(u):  # one row: v is clamped to 0; u to the row, the value to ±2^15
        return max(-32768, min(32768, raw[max(0, min(len(raw) - 1, u))]))

    qx, rx = divmod(vector[0], 4)
    ry = vector[1] % 4  # one row: every tap row clamps to it
    want = []
    for x in range(len(raw)):
        t = sum(wt * 65536 * s(x + (qx + a) // 4)
                for a, b, wt in ((0, 0, (4 - rx) * (4 - ry)), (1, 0, rx * (4 - ry)), (0, 1, (4 - rx) * ry),
                                 (1, 1, rx * ry)))
        want.append((t + (1 << 19)) >> 20)
    np.testing.assert_array_equal(got[0, 0], want)
    if vector == (0, 0):
        assert want == [32768, -32768, 32768, -32768, 32767, -32768, 32768]


# ---------------------------------------------------------------------------------------------------
# subpel: the encoder's refinement (what it may choose; how it prices a vector)


def test_refinement_never_chooses_a_vector_past_the_range_in_y_alone():
    """A quarter guess at the range's edge in y only (x well inside): offsets past ±256 sixteenths in
    y would make the delta undecodable (docs/FORMAT.md: |dx|, |dy| ≤ 256), so they are never chosen,
    even where the picture would favour them."""
    rng = np.random.default_rng(21)
    c = 3
    phases = rng.normal(0, 0.4, (4, 4, c, 4 * c)).astype(np.float32)
    p = Predictor(phases, np.zeros((1, c), np.float32), [c], "0" * 64)
    prev = rng.integers(-40, 40, (c, 8, 8))
    for quarter, past in (((3, 64), (12, 260)), ((-2, -64), (-8, -260)), ((64, 1), (260, 4))):
        target = p.predict(prev, np.array([[list(past)]]), 8, 0).astype(np.float32)  # exactly the vector past the range
        got = p.refine(target, prev, np.array([[list(quarter)]]), 8, 0.0, 0)
        assert np.abs(got).max() <= subpel.MAX_VECTOR, (quarter, got)
        assert abs(int(got[0, 0, 0]) - 4 * quarter[0]) <= 4 and abs(int(got[0, 0, 1]) - 4 * quarter[1]) <= 4


def _gamma_bits(v: int) -> int:
    """docs/FORMAT.md: the signed mapping n = 2v + 1 (v ≥ 0), −2v otherwise, then Elias gamma: 2⌊log2 n⌋ + 1."""
    n = 2 * v + 1 if v >= 0 else -2 * v
    return 2 * (n.bit_length() - 1) + 1


def _spec_predictor(vectors: list[list[tuple[int, int]]], r: int, c: int, cols: int) -> tuple[int, int]:
    """docs/FORMAT.md, "Motion vectors": first row the left vector ((0, 0) first), first column the one
    above, else the component-wise median of left, above and above-right (above-left in the last column)."""
    if r == 0:
        return vectors[0][c - 1] if c else (0, 0)
    if c == 0:
        return vectors[r - 1][0]
    third = vectors[r - 1][c + 1] if c + 1 < cols else vectors[r - 1][c - 1]
    trio = (vectors[r][c - 1], vectors[r - 1][c], third)
    return tuple(sorted(v[i] for v in trio)[1] for i in range(2))


@pytest.mark.parametrize("rows, cols", [(3, 4), (4, 1), (1, 3)])
def test_on_a_flat_picture_the_refinement_picks_the_cheapest_codes(rows, cols):
    """Where every candidate predicts the same (all-zero samples, all-zero target), the squared errors
    tie and the price decides: the offset whose codes against the median predictor are shortest, the
    first such in raster order of the offsets (ddy major). Written from the format's predictor rule and
    gamma lengths; it pins how the refinement prices both components."""
    rng = np.random.default_rng(rows * 10 + cols)
    c, block = 2, 2
    phases = rng.normal(0, 0.4, (4, 4, c, 4 * c)).astype(np.float32)
    p = Predictor(phases, np.zeros((1, c), np.float32), [c], "0" * 64)
    prev = np.zeros((c, rows * block, cols * block), np.int64)
    quarters = rng.integers(-12, 13, (rows, cols, 2))
    quarters[0, 0] = (64, -63)  # at the range's edge
    got = p.refine(np.zeros(prev.shape, np.float32), prev, quarters, block, 1.0, 0)
    want: list[list[tuple[int, int]]] = [[] for _ in range(rows)]
    for r in range(rows):
        for col in range(cols):
            px, py = _spec_predictor(want, r, col, cols)
            best = None
            for ddy in range(-4, 5):
                for ddx in range(-4, 5):
                    dx, dy = 4 * int(quarters[r, col, 0]) + ddx, 4 * int(quarters[r, col, 1]) + ddy
                    if max(abs(dx), abs(dy)) > subpel.MAX_VECTOR:
                        continue
                    bits = _gamma_bits(dx - px) + _gamma_bits(dy - py)
                    if best is None or bits < best[0]:
                        best = (bits, (dx, dy))
            want[r].append(best[1])
    np.testing.assert_array_equal(got, np.array(want).reshape(rows, cols, 2))


def test_the_refinements_median_predictor_is_the_formats():
    rng = np.random.default_rng(5)
    for rows, cols in ((1, 1), (1, 5), (5, 1), (3, 2), (4, 6)):
        v = rng.integers(-256, 257, (rows, cols, 2))
        chosen = [[tuple(int(a) for a in v[r, c]) for c in range(cols)] for r in range(rows)]
        for r in range(rows):
            for c in range(cols):
                so_far = [row[:] for row in chosen[:r]] + [chosen[r][:c]]
                got = subpel._median_predictor(so_far, r, c, cols)
                assert got == _spec_predictor(chosen, r, c, cols) == tuple(int(a) for a in motion._predictor(v, r, c))


# ---------------------------------------------------------------------------------------------------
# subpel: threads, and the pinned 14.x gains file


def test_prediction_threads_follow_the_documented_rule(monkeypatch):
    monkeypatch.setattr(subpel, "_sharing", 1)
    monkeypatch.delenv("VIDCODEC_SUBPEL_THREADS", raising=False)
    for cores, want in ((1, 1), (2, 1), (4, 1), (5, 2), (6, 3), (9, 4), (16, 8), (64, 8)):
        monkeypatch.setattr(subpel.runtime, "usable_cpus", lambda cores=cores: cores)
        got = subpel.predict_threads()
        assert got == want and type(got) is int, cores
    monkeypatch.setattr(subpel.runtime, "usable_cpus", lambda: 16)
    subpel.share_cores(3)  # three GOP workers share the 8
    assert subpel.predict_threads() == 2
    subpel.share_cores(16)
    assert subpel.predict_threads() == 1
    subpel.share_cores(0)  # not a count of processes: as one
    assert subpel.predict_threads() == 8
    for env, want in (("3", 3), ("1", 1), ("0", 1), ("-2", 1)):
        monkeypatch.setenv("VIDCODEC_SUBPEL_THREADS", env)
        assert subpel.predict_threads() == want, env
    from vidcodec import runtime

    monkeypatch.setattr(runtime, "usable_cpus", lambda: 2)
    monkeypatch.setenv("VIDCODEC_SUBPEL_THREADS", "100000")  # capped as the other thread counts are
    assert subpel.predict_threads() == 2 * runtime.MAX_THREADS_PER_CPU
    monkeypatch.setenv("VIDCODEC_SUBPEL_THREADS", "many")
    with pytest.raises(UsageError, match="VIDCODEC_SUBPEL_THREADS"):
        subpel.predict_threads()
    monkeypatch.setenv("VIDCODEC_SUBPEL_THREADS", "0")  # and the prediction still runs
    p = _unit_gain_predictor(np.full((4, 4, 1, 4), 0.25, np.float32))
    prev = np.arange(16).reshape(1, 4, 4)
    serial = p.predict(prev, np.full((2, 2, 2), 3), 2, 0, threads=1)
    np.testing.assert_array_equal(p.predict(prev, np.full((2, 2, 2), 3), 2, 0), serial)
    np.testing.assert_array_equal(p.predict(prev, np.full((2, 2, 2), 3), 2, 0, threads=0), serial)  # as 1


def test_pinned_14x_gains_are_checked_against_the_model():
    """NAME.gains14.npy holds numpy's float32 exp of this model's log_gain: within a few ulps of the
    exact gains, same shape, float32; anything else is another model's file or a damaged one."""
    log_gain = np.log(np.random.default_rng(16).uniform(0.5, 8, (2, 3))).astype(np.float32)
    exact = subpel.format_gains(log_gain)
    near = (exact.view(np.int32) + np.array([[1, -1, 2], [-2, 0, 4]], np.int32)).view(np.float32)
    assert subpel.legacy_gains(log_gain, near) is near  # numpy's SIMD paths: an ulp or two away, kept as is
    for ulps in (5, -5, 1000, -1000):
        off = exact.copy()
        off.view(np.int32)[1, 2] += ulps  # one gain of another model
        with pytest.raises(ModelNotFoundError, match="not this model"):
            subpel.legacy_gains(log_gain, off)
    for bad in (exact[:1], exact.reshape(3, 2), exact.astype(np.float64)):
        with pytest.raises(ModelNotFoundError, match="damaged"):
            subpel.legacy_gains(log_gain, bad)
    np.testing.assert_array_equal(subpel.legacy_gains(log_gain), np.exp(log_gain))  # none pinned: this numpy's


def test_a_table_of_another_shape_or_type_is_refused():
    c = 2
    log_gain = np.zeros((1, c), np.float32)
    good = np.zeros((4, 4, c, 4 * c), np.float32)
    Predictor(good, log_gain, [c], "0" * 64)
    for bad in (good.astype(np.float64), good[:, :, :, :-1], np.zeros((4, 4, c + 1, 4 * c + 4), np.float32)):
        with pytest.raises(ModelNotFoundError, match="predictor table has shape"):
            Predictor(bad, log_gain, [c], "0" * 64)
    nan = good.copy()
    nan[1, 2, 0, 3] = np.inf
    with pytest.raises(ModelNotFoundError, match="non-finite"):
        Predictor(nan, log_gain, [c], "0" * 64)


def test_a_pinned_gains_file_is_never_unpickled(tmp_path):
    """NAME.gains14.npy is data beside downloaded weights: numpy's loader must not run a pickle in it."""
    from safetensors.numpy import save_file

    c = 2
    table = tmp_path / "m.subpel.safetensors"
    save_file({subpel.TENSOR: np.zeros((4, 4, c, 4 * c), np.float32)}, str(table))
    pinned = tmp_path / "m.gains14.npy"
    np.save(pinned, np.array([{"not": "gains"}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        Predictor.load(table, np.zeros((1, c), np.float32), [c], pinned)


# ---------------------------------------------------------------------------------------------------
# colour: the correction's arithmetic (docs/FORMAT.md, "colour correction (11.0)") and the encoder's rules


def test_a_correction_maps_each_pixel_to_clamp_m_x_plus_o_in_units_of_1_4096():
    terms = np.array([[4096, 2048, -1024, 410], [-4096, 8192, 0, -205], [100, 200, 300, 4096]], np.int16)
    corr = colour.Correction.from_bytes(terms.astype("<i2").tobytes())
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 1, (3, 5, 7)).astype(np.float32)
    x[:, 0, 0] = (1.0, 1.0, 0.0)  # row 0: 1.5 - 0 + 0.1 > 1; row 1: -1 + 2 - 0.05 ok; row 2 > 1
    x[:, 0, 1] = (0.0, 0.0, 1.0)  # row 0: -0.25 + 0.1 < 0
    want = np.clip(np.einsum("ij,jhw->ihw", terms[:, :3] / 4096.0, x.astype(np.float64))
                   + (terms[:, 3] / 4096.0)[:, None, None], 0.0, 1.0)
    got = corr.apply(x.copy())
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert got[0, 0, 0] == 1.0 and got[2, 0, 0] == 1.0 and got[0, 0, 1] == 0.0
    np.testing.assert_allclose(corr.apply(x.copy(), 255.0), 255.0 * want, atol=1e-4)  # the decoder's 8-bit scale
    m, o = corr.affine(255.0)
    np.testing.assert_allclose(m, terms[:, :3] * (255.0 / 4096), rtol=1e-6)
    np.testing.assert_allclose(o, terms[:, 3] * (255.0 / 4096), rtol=1e-6)


def test_a_fit_saturates_at_the_int16_range_instead_of_wrapping():
    rng = np.random.default_rng(9)
    noise = rng.uniform(-1, 1, (3, 16, 16))
    decoded = (0.5 + 0.05 * noise).astype(np.float32)
    for sign, m_end in ((1, 32767), (-1, -32768)):
        source = 0.5 + sign * 0.5 * noise  # M = ±10 · I: ±40960 units, past int16
        got = colour.fit(decoded, source).terms
        assert got.dtype == np.int16
        assert (np.diag(got[:, :3]) == m_end).all(), got
        # o = 0.5 - (±10)(0.5): -4.5 or +5.5 of full scale (-18432 or 22528 units) fits, unclipped
        want_o = round((0.5 - sign * 10 * 0.5) * 4096)
        assert np.abs(got[:, 3].astype(int) - want_o).max() <= 64, got


def test_a_fit_is_drawn_toward_the_identity():
    # a picture fitted to itself: exactly the identity (M = I, o = 0), also where the fit is singular
    rng = np.random.default_rng(10)
    pic = rng.uniform(0, 1, (3, 8, 8)).astype(np.float32)
    identity = np.concatenate([np.eye(3) * 4096, np.zeros((3, 1))], axis=1)
    np.testing.assert_array_equal(colour.fit(pic, pic).terms, identity)
    flat = np.full((3, 8, 8), 0.5, np.float32)
    np.testing.assert_array_equal(colour.fit(flat, flat).terms, identity)
    # a flat grey 0.5 to 0.45: every term vector v = (M[r], o[r]) with v·(.5, .5, .5, 1) = .45 fits;
    # the ridge picks the one nearest the identity's row e_r: e_r + (-0.05 / |u|²) u, u = (.5, .5, .5, 1)
    u = np.array([0.5, 0.5, 0.5, 1.0])
    want = np.rint((identity / 4096 + (-0.05 / (u @ u)) * u[None, :]) * 4096)
    got = colour.fit(flat, np.full((3, 8, 8), 0.45))
    assert np.abs(got.terms - want).max() <= 1, got.terms


def test_the_schedule_refits_on_a_drift_of_more_than_3_percent_either_way():
    # docs/FORMAT.md: from the frame after the last fit on, whenever the source's mean colour has moved
    # by more than 3 % of full scale in R, G or B (brighter or darker)
    base = np.array([0.5, 0.5, 0.5])
    for channel in range(3):
        for sign in (1, -1):
            for moved, due in ((0.031, True), (0.029, False)):
                s = colour.Schedule(refresh=12)
                assert s.due(True, base)
                mean = base.copy()
                mean[channel] += sign * moved
                got = [s.due(False, mean) for _ in range(3)]
                assert got == [due, False, False], (channel, sign, moved)
    assert not any(colour.Schedule().due(False, base + d) for d in (0.0, 0.5, -0.5))  # default: keys only
    s = colour.Schedule()
    assert s.due(True, base) and s.refresh == 0


def test_the_price_of_a_correction_at_any_positive_rate():
    # it must save COST_FACTOR times its 8·SIZE bits over the bits of the frames it covers: `refresh`
    # of them, or the keyframe alone with refresh 0 (keys only); an unknown or non-positive rate: MIN_GAIN
    bits = 8 * colour.SIZE
    for refresh in (0, 1, 12):
        fitter = colour.Fitter(lambda y: y, 32, 24, refresh=refresh)
        for frame_bits in (0.5, 1.0, 100.0, 1e4):
            want = max(colour.MIN_GAIN, colour.COST_FACTOR * bits / (max(refresh, 1) * frame_bits))
            assert fitter.min_gain(frame_bits) == pytest.approx(want), (refresh, frame_bits)
        for unknown in (None, 0, 0.0, -5.0):
            assert fitter.min_gain(unknown) == colour.MIN_GAIN
    # docs/FORMAT.md: twice the 24 bytes' share of a 12-frame interval's bits: 2 · 192 / (12 · 64) = 0.5
    assert colour.Fitter(lambda y: y, 32, 24, refresh=12).min_gain(64.0) == pytest.approx(0.5)


def test_a_correction_that_gains_nothing_is_not_sent():
    # the sending rule: after < (1 - min_gain) · before, so an exact picture (before = 0) never pays
    rng = np.random.default_rng(12)
    pic = rng.uniform(0.1, 0.9, (3, 24, 32)).astype(np.float32)
    fitter = colour.Fitter(lambda y: pic[None], 32, 24)
    assert fitter.key(None, pic[None]) is None and fitter.current is None
    assert fitter.key(None, (0.5 * pic + 0.2)[None]) is not None  # a large gain: sent
    assert fitter.current is not None
    # the correction in force already brings it as close as a refit could: nothing sent
    fitter2 = colour.Fitter(lambda y: pic[None], 32, 24, refresh=1)
    first = fitter2.key(None, (0.5 * pic + 0.2)[None])
    assert first is not None and fitter2.delta(lambda: None, (0.5 * pic + 0.2)[None]) is None
    assert fitter2.current is first


# ---------------------------------------------------------------------------------------------------
# refine: the objective it lowers, exactly (module docstring of vidcodec.codec.refine)


def test_table_bits_are_exact_at_the_coded_symbols_with_the_interpolated_slope():
    import torch

    from vidcodec.codec.refine import _table_bits

    table = torch.tensor([[1.0, 3.0, 7.0, 15.0], [0.0, 10.0, 20.0, 40.0]])
    pos = torch.tensor([[1.25, 2.5], [0.75, 3.0]], requires_grad=True)
    at = torch.tensor([[1, 3], [1, 3]])
    bits = _table_bits(table, pos, at)
    assert float(bits.detach()) == 3.0 + 15.0 + 10.0 + 40.0  # the exact costs at `at`, whatever pos is
    bits.backward()
    # d/dpos of the linear interpolation: table[lo + 1] - table[lo]; at the table's end the slope is 0
    np.testing.assert_array_equal(pos.grad.numpy(), [[4.0, 8.0], [10.0, 0.0]])


def _tiny_refiner(steps: int = 0):
    from vidcodec.codec.refine import Refiner
    from vidcodec.codec.vaegan import to_tensor
    from vidcodec.models import zoo

    m = zoo.load("vaegan-tiny")
    rgb = np.random.default_rng(13).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return m, Refiner(m, steps), to_tensor(rgb)


def _reference_loss(m, x, q, rate, level):
    import torch

    from vidcodec.train.losses import distortion

    with torch.no_grad():
        gain = m.gains[level][:, None, None]
        picture = m.synthesis(torch.from_numpy((q / gain).astype(np.float32))[None])
        d = float(distortion(torch.from_numpy(x), picture, m.info.meta["training"]["distortion"])[0])
    return rate / (x.shape[2] * x.shape[3]) + m.info.meta["training"]["lambdas"][level] * d


@pytest.mark.usefixtures("tiny_model_dir")
def test_a_keyframes_objective_is_the_key_tables_bits_of_the_rounded_latent_plus_lambda_distortion():
    from vidcodec.coding.tables import PRECISION

    m, r, x = _tiny_refiner()
    level = 1
    t = m.key_tables[level]
    ys = m.analyze(x)[0] * m.gains[level][:, None, None]
    # inside every channel's table (indices 0 .. sizes - 2; the last column is the escape), both ends included
    ys = np.clip(ys * 4, t.offsets[:, None, None], (t.offsets + t.sizes - 2)[:, None, None]).astype(np.float32)
    ys[:, 0, 0] = t.offsets
    ys[:, 0, 1] = t.offsets + t.sizes - 2
    q = np.rint(ys)
    bits = sum(PRECISION - math.log2(int(t.freqs[c, int(v) - int(t.offsets[c])]))
               for c in range(m.level_channels[level]) for v in q[c].ravel())
    assert r.loss(x, ys, level) == pytest.approx(_reference_loss(m, x, q, bits, level), rel=1e-5)


@pytest.mark.usefixtures("tiny_model_dir")
def test_a_deltas_objective_sends_the_dead_zoned_residual_and_prices_it():
    m, r, x = _tiny_refiner()
    level = 1
    c, h, w = m.latent_channels, 3, 4
    rng = np.random.default_rng(14)
    pred = rng.integers(-5, 6, (c, h, w)).astype(np.float32)
    # residuals around the dead zone's edge (0.5 + 0.25) and a half (rounded to even)
    resid = rng.choice(np.array([0.0, 0.6, 0.74, 0.76, -0.8, 1.3, -2.5, 2.5, 3.6, -7.2], np.float32), (c, h, w))
    ys = pred + resid
    sent = np.where(np.abs(ys - pred) >= 0.75, np.rint(ys - pred), 0.0)
    assert {0.0, 1.0, -1.0, 2.0, -2.0}.issubset(set(sent.ravel().tolist()))
    q = pred + sent
    want = _reference_loss(m, x, q, 2.0 * np.log2(1 + np.abs(sent)).sum(), level)
    assert r.loss(x, ys, level, pred, 0.25) == pytest.approx(want, rel=1e-5)
    width = 3  # costs of the values -3..3 per channel; past them, the end values'
    costs = rng.uniform(0.5, 9.0, (c, 2 * width + 1)).astype(np.float32)
    index = (np.clip(sent, -width, width) + width).astype(int)
    bits = float(np.take_along_axis(costs.reshape(c, -1), index.reshape(c, -1), axis=1).sum())
    assert r.loss(x, ys, level, pred, 0.25, costs) == pytest.approx(_reference_loss(m, x, q, bits, level), rel=1e-5)
    # no dead zone: 0.6 is sent as 1
    sent0 = np.where(np.abs(ys - pred) >= 0.5, np.rint(ys - pred), 0.0)
    want0 = _reference_loss(m, x, pred + sent0, 2.0 * np.log2(1 + np.abs(sent0)).sum(), level)
    assert r.loss(x, ys, level, pred) == pytest.approx(want0, rel=1e-5)


@pytest.mark.usefixtures("tiny_model_dir")
def test_refinement_takes_its_steps_keeps_the_best_iterate_and_zero_steps_changes_nothing(monkeypatch):
    m, r, x = _tiny_refiner()
    ys = (m.analyze(x)[0] * m.gains[1][:, None, None]).astype(np.float32)
    assert r.refine(x, ys, 1) is ys  # 0 steps: the encoder's own latent
    with pytest.raises(ValueError, match="refine"):
        _tiny_refiner(-1)
    _, r3, _ = _tiny_refiner(3)
    seen = []
    objective = r3._objective

    def counting(*args, **kwargs):
        value = objective(*args, **kwargs)
        seen.append((float(value.detach()), args[1].detach().clone().numpy()))
        return value

    monkeypatch.setattr(r3, "_objective", counting)
    got = r3.refine(x, ys, 1)
    assert len(seen) == 3 + 1  # the start and each of the 3 steps' results
    best = min(range(len(seen)), key=lambda i: seen[i][0])
    np.testing.assert_array_equal(got, seen[best][1])


# ---------------------------------------------------------------------------------------------------
# prefilter: the weights' formula, the lookahead's rules (module docstring of vidcodec.codec.prefilter)


def test_the_weights_are_a_gaussian_of_the_mean_difference():
    from vidcodec.codec import prefilter

    for sigma in (10.0, 2.0, 0.5):
        table = prefilter.weights(sigma)
        assert table.shape == (766,) and table.dtype == np.float32 and not table.flags.writeable
        for s in (0, 1, 3, 30, 60, 765):
            assert table[s] == np.float32(math.exp(-((s / 3) ** 2) / (2 * sigma * sigma))), (sigma, s)
    # σ = 10 (the default): a mean difference of 10 levels (sum 30) weighs exp(-1/2)
    assert prefilter.weights(prefilter.SIGMA)[30] == np.float32(math.exp(-0.5))
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="sigma"):
            prefilter.weights(bad)


def test_a_neighbour_is_averaged_with_its_weight_and_rounded():
    from vidcodec.codec import prefilter

    frame = np.full((2, 3, 3), 100, np.uint8)
    for level in (101, 104, 110, 130):
        other = np.full_like(frame, level)
        w = math.exp(-((level - 100) ** 2) / (2 * 10.0**2))  # mean difference level - 100
        want = round((100 + w * level) / (1 + w))
        np.testing.assert_array_equal(prefilter.blend(frame, [other], 10.0), np.full_like(frame, want))
        np.testing.assert_array_equal(prefilter.blend(frame, [other] * 2, 10.0)[0, 0],
                                      [round((100 + 2 * w * level) / (1 + 2 * w))] * 3)


def test_the_lookahead_ends_at_a_frame_more_than_max_shift_darker_or_brighter_or_of_another_size():
    from vidcodec.codec import prefilter

    frame = np.full((4, 4, 3), 100, np.uint8)
    assert prefilter.MAX_SHIFT == 4.0
    for shift, kept in ((4, True), (5, False), (-4, True), (-5, False)):
        other = np.full_like(frame, 100 + shift)
        out = prefilter.denoise(frame, [other])
        assert (not np.array_equal(out, frame)) == kept, shift
        # a frame past the shift also ends it for the frames after it
        assert np.array_equal(prefilter.denoise(frame, [np.full_like(frame, 100 + 2 * shift), other]), frame) \
            == (abs(2 * shift) > 4)
    bigger = np.full((4, 5, 3), 100, np.uint8)  # the same mean, another size: ends it, no error
    np.testing.assert_array_equal(prefilter.denoise(frame, [bigger, np.full_like(frame, 103)]), frame)


def test_a_keyframe_is_filtered_with_the_next_8_frames_by_default_and_any_lookahead_from_1():
    from vidcodec.codec import prefilter
    from vidcodec.media import VideoFrame

    rng = np.random.default_rng(15)
    base = rng.integers(60, 200, (6, 8, 3))
    frames = [VideoFrame(np.clip(base + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8), i, i)
              for i in range(12)]
    assert prefilter.LOOKAHEAD == 8
    out = list(prefilter.keyframes(frames, gop=10))
    np.testing.assert_array_equal(out[0].rgb, prefilter.blend_reference(frames[0].rgb, [f.rgb for f in frames[1:9]],
                                                                         prefilter.SIGMA))
    np.testing.assert_array_equal(out[10].rgb, prefilter.blend_reference(frames[10].rgb, [frames[11].rgb],
                                                                          prefilter.SIGMA))
    one = list(prefilter.keyframes(frames, gop=10, lookahead=1))
    np.testing.assert_array_equal(one[0].rgb, prefilter.blend_reference(frames[0].rgb, [frames[1].rgb],
                                                                         prefilter.SIGMA))
    assert not np.array_equal(one[0].rgb, frames[0].rgb) and one[1] is frames[1]
    two = list(prefilter.keyframes(frames, gop=2, lookahead=1))  # a GOP of 2 has keyframes to filter
    for i in (0, 2, 10):
        np.testing.assert_array_equal(two[i].rgb, prefilter.blend_reference(frames[i].rgb, [frames[i + 1].rgb],
                                                                             prefilter.SIGMA))
    assert all(two[i] is frames[i] for i in range(1, 12, 2))
