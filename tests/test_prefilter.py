"""Temporal prefilter of keyframes: what it averages, what it keeps, when frames pass, the encoder."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from conftest import write_testsrc

from vidcodec import api, container
from vidcodec.codec import prefilter
from vidcodec.evaluate import rd
from vidcodec.media import VideoFrame


def _noisy(n: int, seed: int = 0, size: tuple[int, int] = (24, 32)) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 216, (*size, 3)).astype(np.float32)
    return base, [np.clip(np.rint(base + rng.normal(0, 3, base.shape)), 0, 255).astype(np.uint8) for _ in range(n)]


def test_still_pixels_move_toward_their_mean_over_time():
    base, frames = _noisy(9)
    out = prefilter.denoise(frames[0], frames[1:])
    before = np.mean((frames[0] - base) ** 2)
    after = np.mean((out - base) ** 2)
    assert after < before / 3  # nine frames of independent noise: about 1/9 of it is left, plus rounding
    np.testing.assert_array_equal(prefilter.denoise(frames[0], []), frames[0])


def test_pixels_that_change_keep_their_own_value():
    _, frames = _noisy(5)
    moved = [np.clip(f.astype(int) + 120, 0, 255).astype(np.uint8) for f in frames[1:]]
    out = prefilter.denoise(frames[0], moved)
    assert np.abs(out.astype(int) - frames[0]).max() <= 1


def test_a_fade_ends_the_lookahead():
    _, frames = _noisy(6)
    black = np.zeros_like(frames[0])
    fade = [np.clip(f.astype(int) * k // 10, 0, 255).astype(np.uint8) for k, f in enumerate(frames[1:], 1)]
    np.testing.assert_array_equal(prefilter.denoise(black, fade), black)  # the first step is past MAX_SHIFT
    lit = [np.clip(f.astype(int) + 3, 0, 255).astype(np.uint8) for f in frames[1:]]  # exposure drift: kept
    assert not np.array_equal(prefilter.denoise(frames[0], lit), frames[0])


@pytest.mark.parametrize("sigma", [2.0, 10.0, 40.0])
def test_the_cpp_mean_gives_the_bytes_of_its_numpy_specification(sigma):
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)  # every difference, 0 and 255 included
    near = [np.clip(frame.astype(int) + rng.integers(-12, 13, frame.shape), 0, 255).astype(np.uint8)
            for _ in range(5)]
    far = [rng.integers(0, 256, frame.shape, dtype=np.uint8) for _ in range(3)]
    for others in (near, far, near[:1], near + far):
        np.testing.assert_array_equal(prefilter.blend(frame, others, sigma),
                                      prefilter.blend_reference(frame, others, sigma))
    # halves: two frames differing by one level everywhere with equal weights round to the even value
    odd = np.full((4, 4, 3), 3, np.uint8)
    table = prefilter.weights(sigma)
    assert table[0] == 1.0 and np.all(np.diff(table) <= 0)
    half = prefilter.blend(odd, [odd + 1], 1e6)  # weight exp(-tiny) rounds to 1.0 in float32: (3 + 4) / 2
    np.testing.assert_array_equal(half, np.full_like(odd, 4))
    np.testing.assert_array_equal(prefilter.blend_reference(odd, [odd + 1], 1e6), half)


def test_the_cpp_mean_rejects_what_it_cannot_average():
    frame = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="differs in shape"):
        prefilter.blend(frame, [np.zeros((4, 6, 3), np.uint8)], 10.0)
    with pytest.raises(ValueError, match="H x W x 3"):
        prefilter.blend(np.zeros((4, 5, 4), np.uint8), [np.zeros((4, 5, 4), np.uint8)], 10.0)
    with pytest.raises(ValueError, match="sigma"):
        prefilter.weights(0.0)
    assert prefilter.blend(frame, [], 10.0) is frame


def _frames(n: int) -> list[VideoFrame]:
    _, rgb = _noisy(n, seed=1)
    return [VideoFrame(f, 100 * i, i) for i, f in enumerate(rgb)]


def test_keyframes_on_the_gop_grid_are_filtered_and_the_others_pass_as_they_are():
    frames = _frames(12)
    out = list(prefilter.keyframes(frames, gop=5, lookahead=3))
    assert [(f.index, f.pts) for f in out] == [(f.index, f.pts) for f in frames]
    for f, g in zip(frames, out):
        if f.index % 5:
            assert g is f
        else:
            later = [h.rgb for h in frames[f.index + 1 : f.index + 4]]
            np.testing.assert_array_equal(g.rgb, prefilter.denoise(f.rgb, later))
            assert not np.array_equal(g.rgb, f.rgb)


def test_a_keyframe_waits_for_its_lookahead_and_nothing_else_does():
    frames, pulled = _frames(10), []

    def source():
        for f in frames:
            pulled.append(f.index)
            yield f

    it = prefilter.keyframes(source(), gop=4, lookahead=2)
    assert next(it).index == 0 and pulled == [0, 1, 2]  # key 0 needed frames 1 and 2
    assert [next(it).index for _ in range(3)] == [1, 2, 3] and pulled == [0, 1, 2, 3]
    assert next(it).index == 4 and pulled[-1] == 6
    assert [f.index for f in it] == list(range(5, 10))


@pytest.mark.parametrize("gop, lookahead", [(1, 8), (5, 0)])
def test_nothing_is_filtered_with_gop_1_or_no_lookahead(gop, lookahead):
    frames = _frames(6)
    assert all(a is b for a, b in zip(frames, prefilter.keyframes(frames, gop, lookahead), strict=True))


def test_a_short_input_filters_its_keyframe_with_what_there_is():
    frames = _frames(3)
    out = list(prefilter.keyframes(frames, gop=250))
    np.testing.assert_array_equal(out[0].rgb, prefilter.denoise(frames[0].rgb, [f.rgb for f in frames[1:]]))
    assert out[1:] == frames[1:]


def test_encode_codes_the_denoised_keyframe_unless_told_not_to(tmp_path, tiny_model_dir):
    _, rgb = _noisy(8, size=(48, 64))
    src = tmp_path / "still.y4m"
    rd.write_y4m_clip(rgb, Fraction(10), src)
    outs = {}
    for on in (True, False):
        outs[on] = tmp_path / f"{on}.gvc"
        api.encode(src, outs[on], model="vaegan-tiny", quality=2, gop=100, prefilter=on)
    with container.GvcReader(outs[True]) as a, container.GvcReader(outs[False]) as b:
        pa, pb = list(a), list(b)
    assert pa[0].kind is container.PacketType.KEY and pa[0].payload != pb[0].payload
    assert len(list(api.frames(outs[True]))) == len(rgb)
    # every frame a keyframe: nothing to filter, the same stream
    intra = [tmp_path / "i1.gvc", tmp_path / "i2.gvc"]
    for path, on in zip(intra, (True, False)):
        api.encode(src, path, model="vaegan-tiny", quality=2, gop=1, prefilter=on)
    assert intra[0].read_bytes() == intra[1].read_bytes()


def test_cli_no_prefilter(tmp_path, tiny_model_dir):
    from vidcodec.cli import main

    clip = write_testsrc(tmp_path / "c.mp4", frames=4)
    assert main(["encode", str(clip), str(tmp_path / "c.gvc"), "--model", "vaegan-tiny", "--no-prefilter", "-q"]) == 0
    assert len(list(api.frames(tmp_path / "c.gvc"))) == 4


def test_stdin_gets_the_same_stream_as_the_path(tmp_path, tiny_model_dir):
    _, rgb = _noisy(6, size=(48, 64))
    src = tmp_path / "still.y4m"
    rd.write_y4m_clip(rgb, Fraction(10), src)
    keys = {}
    api.encode(src, tmp_path / "file.gvc", model="vaegan-tiny", quality=2)
    api.encode(src, tmp_path / "off.gvc", model="vaegan-tiny", quality=2, prefilter=False)
    with open(src, "rb") as f:
        api.encode("-", tmp_path / "stdin.gvc", model="vaegan-tiny", quality=2, stdin=f)
    for name in ("file", "off", "stdin"):
        with container.GvcReader(tmp_path / f"{name}.gvc") as r:
            keys[name] = next(iter(r)).payload
    assert keys["stdin"] == keys["file"] != keys["off"]
