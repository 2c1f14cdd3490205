"""Known answers for the numbers behind every quality claim: BD-rate, PSNR, SSIM, MS-SSIM and the RD
points' arithmetic, each checked against an independent computation (written here, or scikit-image's),
not against the code under test (found by mutation testing of vidcodec.evaluate)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import convolve2d

from vidcodec.evaluate import metrics, rd
from vidcodec.evaluate.bdrate import bd_rate, ms_ssim_db


def _bjontegaard(r1, q1, r2, q2) -> float:
    """VCEG-M33 written independently: least-squares cubic of log10(rate) on quality (a Vandermonde
    solve), the fits' difference averaged over the common quality range by the trapezoid rule."""
    def fit(q, r):
        return np.linalg.lstsq(np.vander(np.asarray(q, float), 4), np.log10(r), rcond=None)[0]

    lo, hi = max(min(q1), min(q2)), min(max(q1), max(q2))
    x = np.linspace(lo, hi, 20001)
    return (10 ** (np.trapezoid(np.vander(x, 4) @ (fit(q2, r2) - fit(q1, r1)), x) / (hi - lo)) - 1) * 100


# Two RD curves of four points each (rates in kbit/s, PSNR in dB), the example of the widely copied
# VCEG-M33 Python script: test needs about 30 % more bits
R1, P1 = [686.76, 309.58, 157.11, 85.95], [40.28, 37.18, 34.24, 31.42]
R2, P2 = [893.34, 407.8, 204.93, 112.75], [40.39, 37.21, 34.17, 31.24]


def test_bd_rate_is_the_bjontegaard_rate_of_an_independent_implementation():
    got = bd_rate(list(zip(R1, P1)), list(zip(R2, P2)))
    assert got == pytest.approx(_bjontegaard(R1, P1, R2, P2), abs=1e-6)
    assert got == pytest.approx(31.3974, abs=1e-4)
    # unsorted input, and the quality ranges overlapping in part (test: 31.24 .. 40.39)
    assert bd_rate(list(zip(R1, P1))[::-1], list(zip(R2, P2))[1::2] + list(zip(R2, P2))[::2]) == pytest.approx(got)


def test_bd_rate_averages_a_varying_rate_ratio_over_the_common_quality_range():
    """ref: ln(rate) = q/3; test: the same plus 0.01 (q - 36)² (a quadratic, so the cubic fits it exactly).
    The BD-rate is exp(mean of 0.01 (q - 36)² over the overlap) - 1: 0.12 over 30..42, 0.09 over 33..42."""
    q = np.arange(30.0, 43.0, 3.0)
    ref = [(math.exp(x / 3), x) for x in q]

    def test(qs):
        return [(math.exp(x / 3 + 0.01 * (x - 36) ** 2), x) for x in qs]

    assert bd_rate(ref, test(q)) == pytest.approx((math.exp(0.12) - 1) * 100, abs=1e-6)
    assert bd_rate(ref, test(q + 3)) == pytest.approx((math.exp(0.09) - 1) * 100, abs=1e-6)
    # over a span: mean of 0.01 (q - 36)² over 36..39 is 0.03, whatever the curves' own ranges
    assert bd_rate(ref, test(q), span=(36.0, 39.0)) == pytest.approx((math.exp(0.03) - 1) * 100, abs=1e-6)


def test_bd_rate_of_the_curves_swapped_is_the_inverse_rate_ratio():
    a, b = list(zip(R1, P1)), list(zip(R2, P2))
    there, back = bd_rate(a, b), bd_rate(b, a)
    assert (1 + there / 100) * (1 + back / 100) == pytest.approx(1.0, abs=1e-12)
    assert back < 0 < there


def test_bd_rate_ignores_points_without_a_rate_or_a_finite_quality():
    ref, test = list(zip(R1, P1)), list(zip(R2, P2))
    want = bd_rate(ref, test)
    junk = [(0, 35.0), (-5.0, 33.0), (300.0, float("nan")), (300.0, float("inf")), (300.0, float("-inf"))]
    assert bd_rate(ref + junk, test + junk[::-1]) == pytest.approx(want, abs=1e-9)
    assert bd_rate(ref + ref, test + [test[0]]) == pytest.approx(want, abs=1e-9)  # repeated points: once
    # four points of which one has no finite quality leaves three: no cubic, no BD-rate
    assert bd_rate(ref, test[:3] + [(500.0, float("nan"))]) is None
    assert bd_rate(ref, test[:3] + [(0.0, 42.0)]) is None


def test_bd_rate_is_none_when_the_curves_meet_at_one_quality_only():
    q = [30.0, 32.0, 34.0, 36.0]
    low = [(100 * 2 ** (x / 3), x) for x in q]
    high = [(100 * 2 ** (x / 3), x + 6) for x in q]  # 36 .. 42: its lowest is low's highest
    assert bd_rate(low, high) is None and bd_rate(high, low) is None
    assert bd_rate(low, low, span=(33.0, 33.0)) is None and bd_rate(low, low, span=(34.0, 33.0)) is None


def test_ms_ssim_db_known_values():
    assert ms_ssim_db(0.9) == pytest.approx(10.0)
    assert ms_ssim_db(0.999) == pytest.approx(30.0)
    assert ms_ssim_db(1.0) == pytest.approx(100.0)  # identical frames: capped, not a math error
    assert ms_ssim_db(1.0 + 1e-7) == pytest.approx(100.0)


# --- PSNR -----------------------------------------------------------------------------------------


def test_psnr_known_errors():
    from skimage.metrics import peak_signal_noise_ratio

    a = np.full((8, 8, 3), 100, np.uint8)
    assert metrics.psnr(a, a + 5) == pytest.approx(10 * math.log10(255**2 / 25))  # 34.15 dB
    assert metrics.psnr(a, a + 5) == pytest.approx(34.1514, abs=1e-4)
    assert metrics.psnr(a, a + 1) == pytest.approx(20 * math.log10(255))  # MSE 1: 48.13 dB
    r = a.copy()
    r[..., 0] += 5  # one channel of three: a third of the MSE
    assert metrics.psnr(a, r) == pytest.approx(10 * math.log10(3 * 255**2 / 25))
    assert metrics.psnr(r, a) == metrics.psnr(a, r)
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 256, (2, 24, 20, 3), dtype=np.uint8)  # errors of both signs, no uint8 wrap
    assert metrics.psnr(x, y) == pytest.approx(peak_signal_noise_ratio(x, y, data_range=255))


def test_psnr_is_capped_at_max_psnr_for_a_tiny_error():
    a = np.zeros((1000, 1000, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 1  # MSE 1/3e6: 112.9 dB uncapped
    assert metrics.psnr(a, b) == metrics.MAX_PSNR == 100.0
    assert metrics.psnr_y(a, b) == 100.0


def test_psnr_y_weighs_the_channels_as_bt601():
    a = np.full((4, 4, 3), 100, np.uint8)
    for ch, weight in ((0, 0.299), (1, 0.587), (2, 0.114)):
        b = a.copy()
        b[..., ch] = 200  # luma moves by 100 × the channel's BT.601 weight
        assert metrics.psnr_y(a, b) == pytest.approx(20 * math.log10(255 / (100 * weight))), ch
    grey = np.full((4, 4, 3), 7, np.uint8)  # the weights add up to 1: a grey pixel's luma is its value
    np.testing.assert_allclose(metrics.luma(grey), 7.0)


# --- SSIM and MS-SSIM -----------------------------------------------------------------------------

_MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang, Simoncelli, Bovik 2003


def _ssim_cs(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and contrast-structure of one channel (0..255), Gaussian window 11, sigma 1.5, valid part."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    k = np.outer(g, g) / g.sum() ** 2

    def f(v):
        return convolve2d(v, k, mode="valid")

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    return float(((2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs).mean()), float(cs.mean())


def _ms_ssim(a: np.ndarray, b: np.ndarray, scales: int) -> float:
    """MS-SSIM of each channel (its first ``scales`` weights renormalised, 2x2 means between scales; even
    sizes only), averaged over the channels, as SSIM is."""
    w = np.array(_MS_WEIGHTS[:scales]) / sum(_MS_WEIGHTS[:scales])
    per = []
    for c in range(a.shape[2]):
        x, y, v = a[..., c].astype(float), b[..., c].astype(float), 1.0
        for i in range(scales):
            s, cs = _ssim_cs(x, y)
            v *= max(s if i == scales - 1 else cs, 0.0) ** w[i]
            if i < scales - 1:
                x, y = (z.reshape(z.shape[0] // 2, 2, z.shape[1] // 2, 2).mean(axis=(1, 3)) for z in (x, y))
        per.append(v)
    return float(np.mean(per))


def _pair(h: int, w: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A blocky textured frame and a copy with unequal noise per channel (much in R, little in B)."""
    rng = np.random.default_rng(seed)
    a = np.kron(rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)).astype(float), np.ones((8, 8, 1)))[:h, :w]
    a = np.clip(a + rng.normal(0, 12, a.shape), 0, 255)
    b = a.copy()
    b[..., 0] += rng.normal(0, 30, (h, w))
    b[..., 2] += rng.normal(0, 5, (h, w))
    return a.astype(np.uint8), np.clip(b, 0, 255).astype(np.uint8)


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    a, b = _pair(40, 56)
    want = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=255, channel_axis=2)
    assert 0.5 < want < 0.95 and metrics.ssim_rgb(a, b) == pytest.approx(want, abs=1e-5)
    assert metrics.ssim_rgb(a, a) == pytest.approx(1.0)


def test_ms_ssim_of_frames_large_enough_for_five_scales():
    a, b = _pair(176, 176)
    assert metrics.ms_ssim_rgb(a, b) == pytest.approx(_ms_ssim(a, b, 5), abs=2e-6)
    assert metrics.ms_ssim_rgb(a, a) == pytest.approx(1.0)


@pytest.mark.parametrize("side", [161, 168])
def test_ms_ssim_over_160_px_is_pytorch_msssims_five_scales(side):
    from pytorch_msssim import ms_ssim

    a, b = _pair(side, side)  # 161 .. 175 px: five scales (the last 11 px, odd sides padded), not four
    want = float(ms_ssim(metrics._t(a), metrics._t(b), data_range=255.0))
    assert metrics.ms_ssim_rgb(a, b) == pytest.approx(want, abs=1e-7)


@pytest.mark.parametrize("shape", [(176, 96), (96, 176)])  # the smaller side decides: 4 scales
def test_ms_ssim_scales_follow_the_smaller_side(shape):
    a, b = _pair(*shape)
    assert metrics.ms_ssim_rgb(a, b) == pytest.approx(_ms_ssim(a, b, 4), abs=2e-6)


@pytest.mark.parametrize("side, scales", [(160, 4), (96, 4), (48, 3)])
def test_ms_ssim_of_small_frames_is_the_same_metric_over_fewer_scales(side, scales):
    """Frames of 160 px or less: as many scales as fit, weights renormalised, each channel's MS-SSIM
    averaged as for large frames (the channels had been averaged at each scale before the product:
    5e-4 higher here, 0.19 dB of MS-SSIM at 160 px)."""
    a, b = _pair(side, side + 16)
    assert metrics.ms_ssim_rgb(a, b) == pytest.approx(_ms_ssim(a, b, scales), abs=2e-6)
    assert metrics.ms_ssim_rgb(a, a) == pytest.approx(1.0)


# --- RD points and tables -------------------------------------------------------------------------


def _pt(clip: str, codec: str, bpp: float, psnr: float, ms: float = 0.95, setting: str = "", **kw) -> rd.RDPoint:
    return rd.RDPoint(clip=clip, codec=codec, setting=setting, frames=1, width=16, height=16, bytes=1, bpp=bpp,
                      kbps=1.0, ratio=24 / bpp, psnr=psnr, psnr_y=kw.pop("psnr_y", psnr), ssim=0.9, ms_ssim=ms, **kw)


def _curve(clip: str, codec: str, scale: float = 1.0, n: int = 5) -> list[rd.RDPoint]:
    """3 dB and a little MS-SSIM per doubling of the rate; ``scale``: that many times the bits for it."""
    return [_pt(clip, codec, scale * 0.02 * 2**i, 30.0 + 3 * i, 1 - 0.05 / 1.5**i, f"q={i + 1}") for i in range(n)]


def test_score_rates_from_the_file_size_over_every_reference_frame():
    from fractions import Fraction

    ref = [np.full((12, 16, 3), v, np.uint8) for v in (10, 50, 90)]
    out = [ref[0], ref[1] + 5, ref[2] + 5]
    ntsc = Fraction(30000, 1001)
    p = rd.score("c", "x", "s", ref, out, 301, ntsc)
    assert (p.frames, p.width, p.height, p.bytes) == (3, 16, 12, 301)
    assert p.bpp == pytest.approx(2408 / 576)  # 8 × 301 bits over 3 × 16 × 12 pixels
    assert p.kbps == pytest.approx(2408 / 3 * 30000 / 1001 / 1000)  # 24.06 kbit/s: bits a frame × frames a second
    assert p.ratio == pytest.approx(24 / p.bpp)
    assert p.psnr == pytest.approx((100 + 2 * 34.1514) / 3, abs=1e-4)  # the mean of the frames' PSNR
    assert p.psnr_y == pytest.approx(p.psnr) and p.ssim < 1 and p.ms_ssim < 1
    short = rd.score("c", "x", "s", ref, out[:1], 301, ntsc)  # one frame decoded of three: rate over all
    assert short.frames == 1 and short.bpp == p.bpp and short.psnr == 100.0 and short.ssim == pytest.approx(1.0)
    assert rd.score("c", "x", "s", ref, out, 0, 25).ratio == float("inf")


def test_interpolate_is_linear_in_log_rate_inside_the_measured_range():
    pts = [_pt("c", "x", 0.4, 36.0, 0.99), _pt("c", "x", 0.1, 30.0, 0.9), _pt("c", "x", 0.2, 34.0, 0.96)]
    assert rd.interpolate(pts, 0.2) == pytest.approx(34.0)
    assert rd.interpolate(pts, 0.1 * 2**0.5) == pytest.approx(32.0)  # halfway in log rate
    assert rd.interpolate(pts, 0.2 * 2**0.25, "ms_ssim") == pytest.approx(0.9675)
    assert rd.interpolate(pts, 0.1) == pytest.approx(30.0) and rd.interpolate(pts, 0.4) == pytest.approx(36.0)
    assert rd.interpolate(pts, 0.099) is None and rd.interpolate(pts, 0.41) is None
    assert rd.interpolate(pts[:2], 0.2) == pytest.approx(33.0)  # two points are enough
    assert rd.interpolate(pts[1:2], 0.1) is None and rd.interpolate([], 0.1) is None  # one point: no line


def test_bd_rates_per_clip_and_their_mean():
    points = (_curve("a", "vidcodec") + _curve("a", "jpeg", 1.1) + _curve("a", "x264-medium", 0.5)
              + _curve("b", "vidcodec") + _curve("b", "jpeg", 1.3))
    rows = rd.bd_rates(points)
    got = {(r["clip"], r["reference"]): r for r in rows}
    assert list(got) == [("a", "x264-medium"), ("a", "jpeg"), ("b", "jpeg"), ("all clips (mean)", "jpeg")]
    # vidcodec needs 1/1.1 of jpeg's bits on a: -9.09 %; x264 needs half of vidcodec's: +100 %
    for key, want in ((("a", "jpeg"), 100 / 1.1 - 100), (("a", "x264-medium"), 100.0), (("b", "jpeg"), 100 / 1.3 - 100)):
        for k in ("bd_rate_psnr", "bd_rate_psnr_y", "bd_rate_ms_ssim"):
            assert got[key][k] == pytest.approx(want, abs=1e-6), (key, k)
        assert got[key]["test"] == "vidcodec"
    mean = got[("all clips (mean)", "jpeg")]
    assert mean["bd_rate_psnr"] == pytest.approx((100 / 1.1 + 100 / 1.3) / 2 - 100)
    # a clip without a BD-rate leaves the mean without one (not the mean of the others)
    b_short = [p for p in points if not (p.clip == "b" and p.codec == "vidcodec" and p.setting > "q=3")]
    mean = [r for r in rd.bd_rates(b_short) if r["clip"] == "all clips (mean)"]
    assert [r["bd_rate_psnr"] for r in mean] == [None]
    # one clip: no mean row; references given: only those, the test codec never against itself
    assert [r["reference"] for r in rd.bd_rates(points[:15], references=["jpeg", "vidcodec"])] == ["jpeg"]


def test_bd_rates_use_each_metric_of_the_points():
    ref = _curve("a", "jpeg")
    mine = [_pt("a", "vidcodec", p.bpp, p.psnr + 3, p.ms_ssim, psnr_y=p.psnr_y) for p in ref]  # PSNR 3 dB up only
    (row,) = rd.bd_rates(ref + mine)
    assert row["bd_rate_psnr"] == pytest.approx(-50.0, abs=1e-6)
    assert row["bd_rate_psnr_y"] == pytest.approx(0.0, abs=1e-6) and row["bd_rate_ms_ssim"] == pytest.approx(0.0, abs=1e-6)
    assert rd.bd_rate_pair(ref, mine) == pytest.approx((-50.0, 0.0), abs=1e-6)
    assert rd.bd_note([row]) is None and rd.bd_note([{**row, "bd_rate_psnr_y": None}]) == rd.BD_MISSING


def test_main_codec_and_all_bd_rates():
    pts = _curve("a", "vidcodec-int8") + _curve("a", "vidcodec-ort", 2.0) + _curve("a", "jpeg", 2.0)
    assert rd.main_codec(pts) == "vidcodec-ort" and rd.main_codec(pts + _curve("a", "vidcodec")) == "vidcodec"
    assert rd.main_codec([]) == "vidcodec"
    rows = rd.all_bd_rates(pts + _curve("a", "vidcodec-intra") + _curve("a", "x264-intra", 0.5))
    assert [(r["test"], r["reference"]) for r in rows] == [
        ("vidcodec-ort", "vidcodec-intra"), ("vidcodec-ort", "vidcodec-int8"), ("vidcodec-ort", "x264-intra"),
        ("vidcodec-ort", "jpeg"), ("vidcodec-intra", "x264-intra"), ("vidcodec-intra", "jpeg")]
    assert rows[1]["bd_rate_psnr"] == pytest.approx(100.0) and rows[-1]["bd_rate_psnr"] == pytest.approx(-50.0)


def test_summarize_puts_the_references_beside_each_level():
    pts = (_curve("a", "vidcodec") + _curve("a", "x264-medium", 2.0) + _curve("a", "vidcodec-intra")
           + _curve("a", "jpeg", 2.0) + _curve("a", "x264-intra", 4.0))
    rows = rd.summarize(pts)
    levels = rows[:5]
    assert [r["what"] for r in levels] == [f"q={i}" for i in range(1, 6)]
    assert levels[2]["bpp"] == pytest.approx(0.08) and levels[2]["psnr"] == 36.0
    assert levels[2]["x264-medium psnr"] == pytest.approx(33.0)  # x264 needs twice the bits: 3 dB less
    assert levels[0]["x264-medium psnr"] is None  # below x264's lowest rate
    assert levels[2]["x264-medium ms_ssim"] == pytest.approx(1 - 0.05 / 1.5)
    at = {r["what"]: r for r in rows[5:]}
    assert list(at) == ["intra @ 0.1 bpp", "intra @ 0.25 bpp"]
    r = at["intra @ 0.25 bpp"]
    assert r["bpp"] == 0.25 and r["psnr"] == pytest.approx(30 + 3 * math.log2(0.25 / 0.02))
    assert r["jpeg psnr"] == pytest.approx(r["psnr"] - 3) and r["x264-intra psnr"] == pytest.approx(r["psnr"] - 6)
    assert r["jpeg min bpp"] == pytest.approx(0.04) and r["ms_ssim"] > r["jpeg ms_ssim"] > r["x264-intra ms_ssim"]
    (no_jpeg,) = [r for r in rd.summarize(_curve("a", "vidcodec-intra")) if r["what"] == "intra @ 0.25 bpp"]
    assert no_jpeg["jpeg min bpp"] is None and no_jpeg["jpeg psnr"] is None and no_jpeg["psnr"] == r["psnr"]
    other = rd.summarize(_curve("a", "vidcodec-int8"))
    assert [r["what"] for r in other] == [f"vidcodec-int8 q={i}" for i in range(1, 6)]


def test_seed_table_rows():
    pts = [_pt("a", "vidcodec", 0.1, 30.0, setting="q=1", channels=8), _pt("a", "jpeg", 0.5, 25.0, setting="q=1"),
           _pt("a", "jpeg", 0.9, 28.0, setting="q=3"), _pt("a", "x264-medium", 0.1, 35.0, setting="crf=20"),
           _pt("a", "vidcodec-intra", 0.3, 31.0, setting="q=2")]
    assert rd.seed_table(pts) == [
        {"clip": "a", "method": "vidcodec q=1 (8 channels)", "SSIM": 0.9, "PSNR": 30.0, "CR": 240.0, "bpp": 0.1},
        {"clip": "a", "method": "jpeg q=1", "SSIM": 0.9, "PSNR": 25.0, "CR": 48.0, "bpp": 0.5},
        {"clip": "a", "method": "vidcodec-intra q=2", "SSIM": 0.9, "PSNR": 31.0, "CR": 80.0, "bpp": 0.3}]


def test_format_table_cells():
    table = rd.format_table([{"a": 0.12345, "b": 12.345}, {"a": None, "b": 12345.6, "c": "x"}])
    assert table.splitlines() == ["     a      b  c",
                                  "0.1235  12.35  -",
                                  "     -  12346  x"]
    assert rd.format_table([{"v": -0.5}, {"v": 999.999}, {"v": 1.0}, {"v": 1000.0}]).split() == [
        "v", "-0.5000", "1000.00", "1.00", "1000"]


# --- compare --------------------------------------------------------------------------------------


def test_compare_scores_each_model_against_the_first_on_each_clip(monkeypatch):
    from pathlib import Path

    from vidcodec.evaluate import compare

    scale = {("a.mp4", "m0"): 1.0, ("a.mp4", "m1"): 1.1, ("a.mp4", "m2"): 0.8,
             ("b.mp4", "m0"): 2.0, ("b.mp4", "m1"): 1.0, ("b.mp4", "m2"): 3.0}
    calls = []

    def measured(clip, frames, gop, codecs, model, qualities):
        calls.append((clip.name, frames, gop, codecs, model, qualities))
        return _curve(clip.name, "vidcodec", scale[(clip.name, model)])

    monkeypatch.setattr(compare, "evaluate_clip", measured)
    points, rows = compare.compare(["m0", "m1", "m2"], [Path("a.mp4"), Path("b.mp4")], 7, gop=3, qualities=[1, 2])
    assert calls[:2] == [("a.mp4", 7, 3, ["vidcodec"], "m0", [1, 2]), ("a.mp4", 7, 3, ["vidcodec"], "m1", [1, 2])]
    assert len(points) == 30 and [p.codec for p in points[::5]] == ["m0", "m1", "m2"] * 2
    assert [(r["clip"], r["model"], r["against"]) for r in rows] == [
        ("a.mp4", "m1", "m0"), ("a.mp4", "m2", "m0"), ("b.mp4", "m1", "m0"), ("b.mp4", "m2", "m0")]
    for r, want in zip(rows, (10.0, -20.0, -50.0, 50.0)):
        assert r["bd_rate_psnr"] == pytest.approx(want, abs=1e-6) and r["bd_rate_ms_ssim"] == pytest.approx(want, abs=1e-6)
        assert "encode_time_ratio" not in r


def test_compare_with_refinement_runs_the_reference_unrefined_and_times_per_frame(monkeypatch):
    from pathlib import Path

    from vidcodec.evaluate import compare

    monkeypatch.setattr(compare, "read_frames", lambda clip, n: ([np.zeros((4, 4, 3), np.uint8)] * 2, 25))
    monkeypatch.setattr(compare.api, "quality_range", lambda m: range(1, 6))
    calls = []

    def points(clip, ref, rate, gop, tmp, qualities, m, refine, seconds):
        calls.append((clip.name, gop, list(qualities), m, refine))
        base = {"a.mp4": 1.0, "b.mp4": 3.0}[clip.name]
        seconds += [base * (1 + refine) * s for s in (2.0, 4.0, 6.0)]  # per clip, refine=0 and 2 differ
        return _curve(clip.name, "vidcodec", 1.0 if refine == 0 else 1.25)

    monkeypatch.setattr(compare, "vidcodec_points", points)
    pts, rows = compare.compare(["m"], [Path("a.mp4"), Path("b.mp4")], 2, gop=4, refine=2)
    assert calls == [("a.mp4", 4, [1, 2, 3, 4, 5], "m", 0), ("a.mp4", 4, [1, 2, 3, 4, 5], "m", 2),
                     ("b.mp4", 4, [1, 2, 3, 4, 5], "m", 0), ("b.mp4", 4, [1, 2, 3, 4, 5], "m", 2)]
    assert {p.codec for p in pts} == {"m", "m refine=2"}
    assert [(r["clip"], r["model"], r["against"]) for r in rows] == [("a.mp4", "m refine=2", "m"),
                                                                     ("b.mp4", "m refine=2", "m")]
    a, b = rows
    assert a["bd_rate_psnr"] == pytest.approx(25.0, abs=1e-6) and b["bd_rate_ms_ssim"] == pytest.approx(25.0, abs=1e-6)
    # median of 2, 4, 6 s per encode of 2 frames: 2 s a frame; refined 3 times as long
    assert (a["reference_s_per_frame"], a["encode_s_per_frame"], a["encode_time_ratio"]) == pytest.approx((2.0, 6.0, 3.0))
    assert (b["reference_s_per_frame"], b["encode_s_per_frame"], b["encode_time_ratio"]) == pytest.approx((6.0, 18.0, 3.0))


def test_side_by_side_crops_the_box_of_each_models_intra_decode(tmp_path, tiny_model_dir, monkeypatch):
    from conftest import write_testsrc

    from vidcodec import api
    from vidcodec.evaluate import compare

    clip = write_testsrc(tmp_path / "c.mp4", frames=3, size=(64, 48))
    ref = rd.read_frames(clip, 2)[0][1]
    rd.write_y4m_clip([ref], 10, tmp_path / "f.y4m")
    s = api.encode(tmp_path / "f.y4m", tmp_path / "f.gvc", model="vaegan-tiny", quality=3, gop=1)
    dec = next(iter(api.frames(tmp_path / "f.gvc"))).rgb
    tiles = []
    label = compare._label
    monkeypatch.setattr(compare, "_label", lambda img, text: (tiles.append((img.copy(), text)), label(img, text))[1])
    compare.side_by_side(["vaegan-tiny", "vaegan-tiny"], clip, 1, 9, (4, 10, 40, 24), tmp_path / "crop.png")
    assert [t for _, t in tiles] == ["original"] + [
        f"vaegan-tiny q3: {s.bpp:.3f} bpp {metrics.psnr(ref, dec):.1f} dB"] * 2  # quality 9: the model's top, 3
    assert np.array_equal(tiles[0][0], ref[10:34, 4:44]) and np.array_equal(tiles[1][0], dec[10:34, 4:44])
    tiles.clear()
    compare.side_by_side(["vaegan-tiny"], clip, 1, 1, (0, 0, 8, 8), tmp_path / "crop1.png")
    q1 = tiles[1][1]  # quality 1 encoded, not the model's default (its top, 3): fewer bits
    assert q1.startswith("vaegan-tiny q1: ") and float(q1.split()[2]) < s.bpp


def test_vidcodec_points_encode_as_asked_and_score_the_decode(tmp_path, tiny_model_dir, monkeypatch):
    import time

    from conftest import write_testsrc

    from vidcodec import api

    clip = write_testsrc(tmp_path / "c.mp4", frames=2, size=(64, 48))
    ref, rate = rd.read_frames(clip, 2)
    calls, encode = [], api.encode
    monkeypatch.setattr(api, "encode", lambda src, out, **kw: (calls.append(kw), encode(src, out, **kw))[1])
    seconds = []
    t0 = time.perf_counter()
    (p,) = rd.vidcodec_points(clip, ref, rate, 2, tmp_path, iter([2]), "vaegan-tiny", seconds=seconds)
    took = time.perf_counter() - t0
    assert calls == [{"quality": 2, "gop": 2, "overwrite": True, "model": "vaegan-tiny", "refine": 0,
                      "preset": "medium", "backend": rd.long_clip_backend("vaegan-tiny")}]
    assert len(seconds) == 1 and 0 < seconds[0] < took
    assert (p.codec, p.setting, p.channels) == ("vidcodec", "q=2 gop=2", 8)
    dec = [f.rgb for f in api.frames(tmp_path / "q2_g2_medium_auto.gvc")]
    want = rd.score("c.mp4", "vidcodec", "q=2 gop=2", ref, dec, (tmp_path / "q2_g2_medium_auto.gvc").stat().st_size, rate)
    assert p.as_dict() == {**want.as_dict(), "channels": 8}
    calls.clear()
    (q,) = rd.vidcodec_points(clip, ref, rate, 1, tmp_path, [3], "vaegan-tiny", preset="fast", backend="torch", refine=1)
    assert calls[0]["backend"] == "torch" and calls[0]["preset"] == "fast" and calls[0]["refine"] == 1
    assert calls[0]["gop"] == 1 and (q.codec, q.setting) == ("vidcodec-intra", "q=3")
    # the channels are the level's (the tiny model has 8 at every level: a model of 5, 6, 7 here)
    from types import SimpleNamespace

    monkeypatch.setattr(rd, "zoo", SimpleNamespace(AUTO="auto", load=lambda model, backend=None: SimpleNamespace(
        level_channels=(5, 6, 7), backend="torch")))
    assert [p.channels for p in rd.vidcodec_points(clip, ref, rate, 2, tmp_path, [3, 1], "vaegan-tiny")] == [7, 5]


def test_nal_units_of_annex_b_streams():
    # a 3-byte start code at the very start, 4-byte ones after, a trailing zero byte, an empty unit at the end
    stream = b"\x00\x00\x01\x67AB\x00\x00\x00\x01\x68C\x00\x00\x01\x65pic\x00\x00\x00\x01"
    assert rd.nal_units(stream) == [(7, b"\x00\x00\x01\x67AB"), (8, b"\x00\x00\x00\x01\x68C"),
                                    (5, b"\x00\x00\x01\x65pic")]
    assert rd.nal_units(b"\x00\x00\x01\x06sei\x00") == [(6, b"\x00\x00\x01\x06sei\x00")]
    assert rd.nal_units(b"no start code") == []
    # HEVC: the type is bits 1..6 of the first header byte (VPS 32, prefix SEI 39, IDR_W_RADL 19)
    hevc = b"\x00\x00\x00\x01\x40\x01V\x00\x00\x01\x4e\x01S\x00\x00\x01\x26\x01I"
    assert [k for k, _ in rd.nal_units(hevc, hevc=True)] == [32, 39, 19]
    assert [k for k, _ in rd.nal_units(b"\x00\x00\x01\x7e\x01")] == [30]  # H.264: the low 5 bits
    assert [k for k, _ in rd.nal_units(b"\x00\x00\x01\x7e\x01", hevc=True)] == [63]
    assert rd.without_nal_units(hevc, (39, 40), hevc=True) == b"\x00\x00\x00\x01\x40\x01V\x00\x00\x01\x26\x01I"


def test_even_pad_repeats_the_last_row_and_column():
    f = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    p = rd.even_pad(f)
    assert p.shape == (4, 6, 3) and p.flags.c_contiguous
    assert np.array_equal(p[:3, :5], f) and np.array_equal(p[3, :5], f[2]) and np.array_equal(p[:3, 5], f[:, 4])
    assert np.array_equal(p[3, 5], f[2, 4])
    assert np.array_equal(rd.even_crop(f), f[:2, :4]) and rd.even_crop(f).flags.c_contiguous
    assert np.array_equal(rd.even_pad(p), p)  # even already: as it is


def test_check_clips_takes_a_clip_of_exactly_the_ssim_window(tmp_path):
    from conftest import write_testsrc

    from vidcodec.errors import UsageError

    rd.check_clips([write_testsrc(tmp_path / "a.mp4", frames=1, size=(11, 11))])
    with pytest.raises(UsageError, match="11x10"):
        rd.check_clips([write_testsrc(tmp_path / "b.mp4", frames=1, size=(11, 10))])


def test_jpeg_points_rate_is_the_sum_of_the_jpeg_files():
    import cv2

    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (16, 24, 3), dtype=np.uint8) for _ in range(2)]
    (p,) = rd.jpeg_points(rd.Path("c.mp4"), frames, 10, qualities=(30,))
    files = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR),
                          [cv2.IMWRITE_JPEG_QUALITY, 30, cv2.IMWRITE_JPEG_OPTIMIZE, 1])[1] for f in frames]
    assert p.bytes == sum(len(b) for b in files) and (p.codec, p.setting) == ("jpeg", "q=30")


def test_quality_runs_merge_with_the_last_run_only():
    assert rd.quality_runs([(8, 1, 0), (6, 1, 0), (4, 1, 0), (4, 2, 0), (6, 3, 0)]) == "q8:1 q6:1 q4:3 q6:3"


def test_peak_rate_counts_only_the_video_frames(monkeypatch):
    from vidcodec import container

    K, D, P = container.PacketType.KEY, container.PacketType.DELTA, container.PacketType.PARAMETERS

    def packets(sizes):
        class Reader:
            def __init__(self, path):
                pass

            def __enter__(self):
                return iter([container.Packet(s, k, 0, 0, b"x" * n, 0, header_size=4) for s, k, n in sizes])

            def __exit__(self, *exc):
                return False

        monkeypatch.setattr(rd.container, "GvcReader", Reader)

    # video frames of 96, 46, 196, 46 bytes + 4 of header: 800, 400, 1600, 400 bits; audio and parameters not counted
    packets([(0, P, 996), (0, K, 96), (1, K, 5000), (0, D, 46), (1, D, 5000), (0, K, 196), (0, D, 46)])
    assert rd._peak_rate(rd.Path("s.gvc"), 10.0, 0.2) == pytest.approx((400 + 1600) / 0.2 / 1000)
    assert rd._peak_rate(rd.Path("s.gvc"), 10.0, 0.1) == pytest.approx(1600 / 0.1 / 1000)
    assert rd._peak_rate(rd.Path("s.gvc"), 10.0, 2.0) == pytest.approx(3200 / 0.4 / 1000)  # the whole 0.4 s
    packets([(0, K, 96)])  # one frame
    assert rd._peak_rate(rd.Path("s.gvc"), 25.0, 2.0) == pytest.approx(800 * 25 / 1000)
    packets([(1, K, 96)])  # no video frame
    assert rd._peak_rate(rd.Path("s.gvc"), 25.0, 2.0) == 0.0
