"""Tests from a mutation-testing pass over ratecontrol.py, motion.py and context.py: behaviour the
existing tests let change unnoticed (the lambda factor's direction, the cut when a GOP runs far over
budget, the buffer's default size, the encoder's default search range, ...)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from vidcodec.codec import motion
from vidcodec.codec.ratecontrol import RateController

# --- rate control -------------------------------------------------------------------------------

LO, HI = 0.4, 2.5  # the lambda factors' range: module docstring, docs/DESIGN.md ("0.4–2.5×")


def _long_gop(rc: RateController, keys: list[int], ratio: float) -> tuple[int | None, list[float]]:
    """One GOP of ``rc.gop`` frames whose deltas cost ``ratio`` × the per-frame target at factor 1 (and
    ``lam ** -0.5`` that at factor ``lam``): (the frame at which the controller asked for a new GOP, or
    None, and the factors it set)."""
    rc.choose(keys)
    rc.update(keys[rc.level])
    lams = []
    for k in range(1, rc.gop):
        if rc.wants_new_gop():
            return k, lams
        rc.update(int(ratio * rc.target * rc.lam**-0.5))
        lams.append(rc.lam)
    return None, lams


@pytest.mark.parametrize("ratio", [1.4, 0.7])
def test_in_one_long_gop_the_lambda_factor_alone_holds_the_rate(ratio):
    # A GOP of 250 frames at one level: the deltas' lambda factor pays the keyframe and any excess back
    # (content dearer than the target: factors above 1; cheaper: below), no cut needed.
    rc = RateController(100.0, fps=25, gop=250, levels=8, frames=250)
    keys = [int(4 * rc.target * 1.3**lvl) for lvl in range(8)]
    cut, lams = _long_gop(rc, keys, ratio)
    rc.finish()
    assert cut is None and len(rc.history) == 1
    achieved = rc.history[0][2] / 250 * 25 / 1000
    assert achieved == pytest.approx(100.0, rel=0.02)
    assert all(LO <= lam <= HI for lam in lams)
    assert (np.median(lams) > 1.0) == (ratio > 1.0)


def test_lambda_factor_reaches_exactly_the_documented_ends_of_its_range():
    rc = RateController(100.0, fps=25, gop=250, levels=8)
    keys = [int(4 * rc.target * 1.3**lvl) for lvl in range(8)]
    _, lams = _long_gop(rc, keys, 0.05)  # nearly free deltas: the smallest factor
    assert min(lams) == LO
    rc = RateController(100.0, fps=25, gop=250, levels=8)
    rc.choose(keys)
    rc.update(keys[rc.level])
    for _ in range(5):
        rc.update(int(5 * rc.target))  # far dearer than the target: the largest factor
    assert rc.lam == HI


def test_an_excess_that_takes_exactly_the_rest_of_the_gops_budget_gives_the_largest_factor():
    # After the keyframe the excess is exactly what the GOP's other 249 frames may spend: the wanted
    # delta size is 0 bits, which takes the largest factor (no division by zero mid-encode).
    rc = RateController(100.0, fps=25, gop=250, levels=8)
    rc.choose([int(4 * rc.target * 1.3**lvl) for lvl in range(8)])
    rc.update(int(rc.target * 250))  # fullness = 249 frames' budget
    assert rc.fullness == 249 * rc.target
    assert rc.lam == HI


def _cut_at_first_measured_frame(rc: RateController, keys: list[int], ratio: float) -> tuple[int | None, float]:
    """A first GOP on budget, then a GOP whose deltas cost ``ratio`` × the target at factor 1: (when the
    second GOP was cut, where the stream would stand at its end, in buffers, projected at the largest
    factor from the first frame the rule may look, after half a second: 13 frames at 25 fps)."""
    assert _long_gop(rc, keys, 1.0)[0] is None
    rc.choose(keys)
    rc.update(keys[rc.level])
    projected = None
    for k in range(1, rc.gop):
        if k == 13:
            projected = (rc.fullness + (ratio * rc.target * HI**-0.5 - rc.target) * (rc.gop - k)) / rc.bufsize
        if rc.wants_new_gop():
            return k, projected
        rc.update(int(ratio * rc.target * rc.lam**-0.5))
    return None, projected


@pytest.mark.parametrize("ratio", [1.6, 1.7, 1.74, 1.765, 1.79, 1.8, 1.85, 1.95])  # 0.13 ... 0.86 buffers
def test_gop_far_over_budget_at_the_largest_factor_is_cut_before_the_buffer_overflows(ratio):
    # Module docstring: a GOP is cut when, at the largest factor, its deltas would leave the stream more
    # than half a buffer over budget by the GOP's expected end (after half a second of it).
    rc = RateController(100.0, fps=25, gop=250, levels=8)
    keys = [int(4 * rc.target * 1.3**lvl) for lvl in range(8)]
    cut, projected = _cut_at_first_measured_frame(rc, keys, ratio)
    assert rc.level > 0 and rc.lam == HI
    if projected > 0.51:  # 1.79 and up
        assert cut == 13 and rc.fullness < rc.bufsize  # long before the buffer overflows
        level = rc.level
        assert rc.choose(keys) < level  # and the next GOP takes a lower level
    elif projected < 0.49:
        assert cut is None


@pytest.mark.parametrize("ratio", np.linspace(0.45, 0.7, 11))
def test_gop_is_cut_for_running_under_only_when_even_the_smallest_factor_leaves_it_half_a_buffer_under(ratio):
    rc = RateController(100.0, fps=25, gop=250, levels=8)
    keys = [int(4 * rc.target * 1.3**lvl) for lvl in range(8)]
    assert _long_gop(rc, keys, 1.0)[0] is None
    rc.choose(keys)
    rc.update(keys[rc.level])
    for k in range(1, rc.gop):
        # where the stream would end the GOP with its deltas at the smallest factor, in buffers
        projected = (rc.fullness + (ratio * rc.target * LO**-0.5 - rc.target) * (rc.gop - k)) / rc.bufsize
        lam = rc.lam
        if rc.wants_new_gop():
            assert k >= 13 and lam == LO and projected < -0.49
            return
        rc.update(int(ratio * rc.target * rc.lam**-0.5))
    assert ratio > 0.5  # deltas this cheap must be cut


def test_default_buffer_is_two_seconds_or_one_and_a_half_gops_of_up_to_two_seconds():
    # --bufsize's help: "default: 2 s of the bitrate, up to 3 s for GOPs of 1.3-2 s" (1.5 GOPs, GOPs
    # counted up to 2 s long: the default GOP of 250 frames gets 3 s).
    for gop, seconds in ((10, 2.0), (25, 2.0), (40, 2.4), (50, 3.0), (250, 3.0)):
        rc = RateController(100.0, fps=25, gop=gop, levels=8)
        assert rc.bufsize == pytest.approx(seconds * 100_000), gop
    assert RateController(100.0, fps=25, gop=250, levels=8, bufsize_kbits=70).bufsize == 70_000


def test_inputs_of_less_than_one_frame_a_second_have_a_frame_rate():
    rc = RateController(100.0, fps=0.5, gop=10, levels=8)  # a slide show
    assert rc.target == 200_000


def test_expected_gop_length_follows_a_short_first_gop():
    # A scene cut ends the first GOP after 50 of its 250 frames: the next GOP is expected shorter.
    rc = RateController(100.0, fps=25, gop=250, levels=8)
    keys = [int(4 * rc.target * 1.3**lvl) for lvl in range(8)]
    rc.choose(keys)
    for _ in range(50):
        rc.update(int(rc.target))
    rc.choose(keys)  # the encoder's scene cut
    assert 50 < rc.run < 250


def test_level_climbs_to_the_next_level_above_the_cap_that_a_steep_growth_still_fits():
    # The one-level climb from level 0 caps at 1; level 2 fits even if the delta ratio grows 1.7x a
    # level (deltas nearly free), level 3 does not fit at all: the controller goes to 2.
    rc = RateController(10.0, fps=25, gop=25, levels=8)
    rc.history.append((0, 25, 10_000.0))  # not the first GOP
    rc.delta_base, rc.level = 1e-4, 0
    rc.fullness = -0.5 * rc.gop * rc.target  # behind, but less than a GOP: a one-level climb
    keys = [int(4000 * 1.6**lvl) for lvl in range(8)]
    budget = rc.run * rc.target - 0.5 * rc.fullness
    assert keys[2] * (1 + 1e-4 * 1.7**2 * 24) <= budget < keys[3]
    assert rc.choose(keys) == 2


def test_delta_ratio_model_is_the_documented_guess_then_base_times_1_2_per_level():
    rc = RateController(100.0, fps=25, gop=25, levels=8)
    assert [rc.ratio(lvl) for lvl in (0, 3)] == pytest.approx([0.08, 0.08 * 1.2**3])  # _FIRST_BASE · 1.2^l
    keys = [10_000 * (lvl + 1) for lvl in range(8)]
    level = rc.choose(keys)
    rc.update(keys[level])
    lam = rc.lam
    rc.update(1_000)  # the first delta: 1000 bits at factor lam, 1000·lam^0.5 at factor 1
    assert rc.ratio(level) == pytest.approx(1_000 * lam**0.5 / keys[level])
    assert rc.ratio(level + 1) == pytest.approx(1.2 * rc.ratio(level))


def test_finish_warns_when_most_not_all_frames_ran_at_the_top_level(caplog):
    rc = RateController(1000.0, fps=25, gop=100, levels=8)
    rc.history += [(6, 40, 40 * 10_000.0), (7, 60, 60 * 10_000.0)]  # 250 kbit/s: far under, 60 % at the top
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        rc.finish()
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "above what the highest quality spends" in warned[0] and "60 of its 100" in warned[0]


@pytest.mark.parametrize("over, takes_it", [(0.48, True), (0.52, False)])
def test_next_level_up_is_taken_only_within_half_the_buffer(over, takes_it):
    # Module docstring: the highest level under the budget, or the next one up when that leaves the
    # stream nearer its budget and within half the buffer. Deltas measured free here (ratio 0): a GOP
    # costs its keyframe; level 0 leaves the stream 90 kbit under, level 1 ``over`` buffers over.
    rc = RateController(100.0, fps=25, gop=25, levels=8, bufsize_kbits=100)
    rc.delta_base = 0.0
    budget = rc.run * rc.target  # 100 kbit
    keys = [10_000, int(budget + over * rc.bufsize)] + [10**7] * 6
    assert rc.choose(keys) == (1 if takes_it else 0)


@pytest.mark.parametrize("over, warns", [(1.105, True), (1.095, False)])
def test_finish_warns_when_mostly_at_the_lowest_level_more_than_ten_percent_over(caplog, over, warns):
    rc = RateController(100.0, fps=25, gop=100, levels=8)
    per_frame = over * rc.target
    rc.history += [(0, 100, 100 * per_frame)] * 3  # three GOPs: no warning about too few of them
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        rc.finish()
    warned = [r.getMessage() for r in caplog.records if "below what the lowest quality needs" in r.getMessage()]
    assert len(warned) == (1 if warns else 0) and len(caplog.records) == len(warned)


# --- motion -------------------------------------------------------------------------------------


def _smooth_symbols() -> np.ndarray:
    """A smooth 6 x 24 x 32 integer latent (random values, box-filtered three times): a search finds shifts in it."""
    rng = np.random.default_rng(7)
    base = rng.normal(0, 1, (6, 24, 32))
    for _ in range(3):
        base = (base + np.roll(base, 1, 1) + np.roll(base, 1, 2) + np.roll(base, (1, 1), (1, 2))) / 4
    return np.rint(12 * base).astype(np.int64)


def test_default_search_reaches_two_latent_pixels():
    # The encoder calls search() with its default radius: 2 latent pixels of integer shifts, then the
    # half and quarter refinements (docstring). A pan of 2 latent pixels (8 quarters) is found.
    prev = _smooth_symbols()
    target = motion.shift(prev, 8, -8).astype(np.float32)
    vectors = motion.search(target, prev, 4, lam=1.0)
    inner = vectors[2:-2, 2:-2].reshape(-1, 2)  # blocks whose samples stay inside the latent
    assert (inner == (8, -8)).all(axis=1).mean() >= 0.9


def test_search_radius_zero_refines_around_the_zero_vector_only():
    # search()'s range is 0..16 latent pixels: with radius 0 no integer shift is tried, only the half
    # and quarter refinements around (0, 0), which reach 3 quarters.
    prev = _smooth_symbols()
    near = motion.search(motion.shift(prev, 3, -2).astype(np.float32), prev, 4, lam=1.0, radius=0)
    assert (near[1:-1, 1:-1].reshape(-1, 2) == (3, -2)).all()
    far = motion.search(motion.shift(prev, 8, -8).astype(np.float32), prev, 4, lam=1.0, radius=0)
    assert np.abs(far).max() <= 3
