"""Frames given as arrays (vidcodec.arrays): ``vidcodec.encode(frames, out, framerate=...)`` codes
them as the same frames read from a raw file would be, and refuses what is not a frame with a
message that says how to make one."""

import logging
import threading
from fractions import Fraction

import numpy as np
import pytest

from vidcodec import api, arrays, container, media
from vidcodec.errors import InputError, UsageError

W, H = 64, 48


def clip_frames(n: int = 6, seed: int = 0) -> list[np.ndarray]:
    """``n`` frames of a moving textured picture (what a camera loop or a renderer hands over)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(H + 8, W + 8 * n, 3), dtype=np.uint8)
    return [np.ascontiguousarray(base[i % 8:i % 8 + H, 3 * i:3 * i + W]) for i in range(n)]


def packets(path) -> tuple[container.StreamHeader, list[tuple]]:
    with container.GvcReader(path) as r:
        return r.header, [(p.kind, p.pts, p.payload) for p in r]


def encode(src, path, **kw) -> api.EncodeStats:
    return api.encode(src, path, model="vaegan-tiny", quality=2, **kw)


def test_frames_as_arrays_code_as_the_same_frames_in_a_raw_file(tmp_path, tiny_model_dir):
    frames = clip_frames()
    raw = tmp_path / "frames.rgb"
    raw.write_bytes(b"".join(f.tobytes() for f in frames))
    encode(raw, tmp_path / "raw.gvc", raw=media.RawFormat(W, H, Fraction(10), "rgb24"))
    # a generator's length is not known, as a raw file's is not: the whole stream is the same, byte for byte
    stats = encode((f for f in frames), tmp_path / "gen.gvc", framerate=10)
    assert (tmp_path / "gen.gvc").read_bytes() == (tmp_path / "raw.gvc").read_bytes()
    assert stats.frames == 6 and (stats.width, stats.height) == (W, H)
    # a list, and one N×H×W×3 array, say how many frames they hold; the packets are the same
    encode(frames, tmp_path / "list.gvc", framerate=10)
    encode(np.stack(frames), tmp_path / "stack.gvc", framerate=10)
    head, got = packets(tmp_path / "list.gvc")
    assert head.frame_count == 6 and packets(tmp_path / "gen.gvc")[0].frame_count == 0
    assert got == packets(tmp_path / "gen.gvc")[1]
    assert (tmp_path / "stack.gvc").read_bytes() == (tmp_path / "list.gvc").read_bytes()
    for rate in (np.int64(10), np.uint8(10), np.float32(10), Fraction(np.int64(20), np.int64(2))):  # numpy's numbers
        encode(frames, tmp_path / "np.gvc", framerate=rate, overwrite=True)
        assert (tmp_path / "np.gvc").read_bytes() == (tmp_path / "list.gvc").read_bytes(), type(rate)
    assert head.frame_rate == (10, 1) and head.width == W and head.height == H
    decoded = list(api.frames(tmp_path / "list.gvc"))
    assert [f.time for f in decoded] == pytest.approx([i / 10 for i in range(6)])
    assert all(f.rgb.shape == (H, W, 3) for f in decoded)


def test_frames_are_timed_at_25_by_default_and_at_a_given_fractional_rate(tmp_path, tiny_model_dir):
    frames = clip_frames(3)
    encode(frames, tmp_path / "a.gvc")
    assert packets(tmp_path / "a.gvc")[0].frame_rate == (25, 1)
    encode(frames, tmp_path / "b.gvc", framerate="30000/1001")
    decoded = list(api.frames(tmp_path / "b.gvc"))
    assert decoded[2].time == pytest.approx(2 * 1001 / 30000)


def test_grey_rgba_pil_and_decoded_frames_are_taken_as_rgb(tmp_path, tiny_model_dir):
    frames = clip_frames(3)
    encode(frames, tmp_path / "rgb.gvc")
    rgba = [np.dstack([f, np.full((H, W), 7, np.uint8)]) for f in frames]
    encode(rgba, tmp_path / "rgba.gvc")
    assert (tmp_path / "rgba.gvc").read_bytes() == (tmp_path / "rgb.gvc").read_bytes()  # the alpha dropped
    grey = [f[:, :, 1] for f in frames]
    encode(grey, tmp_path / "grey.gvc")
    encode([np.repeat(g[:, :, None], 3, axis=2) for g in grey], tmp_path / "grey3.gvc")
    assert (tmp_path / "grey.gvc").read_bytes() == (tmp_path / "grey3.gvc").read_bytes()
    Image = pytest.importorskip("PIL.Image")
    encode([Image.fromarray(f) for f in frames], tmp_path / "pil.gvc")
    assert (tmp_path / "pil.gvc").read_bytes() == (tmp_path / "rgb.gvc").read_bytes()
    # a stream's decoded frames (DecodedFrame: their .rgb), re-encoded from Python
    stats = encode(api.frames(tmp_path / "rgb.gvc"), tmp_path / "again.gvc")
    assert stats.frames == 3
    again = list(api.frames(tmp_path / "again.gvc"))
    assert len(again) == 3 and again[0].rgb.shape == (H, W, 3)


def test_start_leaves_out_the_frames_before_it(tmp_path, tiny_model_dir):
    frames = clip_frames(6)
    stats = encode(frames, tmp_path / "cut.gvc", framerate=10, start=0.25)  # frames 3, 4 and 5
    encode(frames[3:], tmp_path / "rest.gvc", framerate=10)
    assert stats.frames == 3
    assert packets(tmp_path / "cut.gvc") == packets(tmp_path / "rest.gvc")
    with pytest.raises(InputError, match="past the last of its 6 frames"):
        encode(frames, tmp_path / "none.gvc", framerate=10, start=1)


def test_a_frame_of_another_size_is_scaled_to_the_first_with_a_warning(tmp_path, tiny_model_dir, caplog):
    frames = clip_frames(3)
    frames[2] = np.ascontiguousarray(frames[2][:24, :32])
    with caplog.at_level(logging.WARNING, logger="vidcodec"):
        stats = encode(frames, tmp_path / "s.gvc")
    assert stats.frames == 3 and (stats.width, stats.height) == (W, H)
    assert "frame 2 is 32x24 where the first was 64x48; scaling to 64x48" in caplog.text


def test_a_generator_is_read_as_the_encode_goes_and_stop_ends_it(tmp_path, tiny_model_dir):
    stop = threading.Event()
    closed = []

    def camera():  # frames for ever, as a capture loop gives them; told to stop after the fifth
        try:
            for i in range(10 ** 6):
                if i == 4:
                    stop.set()
                yield clip_frames(1, seed=i)[0]
        finally:
            closed.append(True)

    stats = encode(camera(), tmp_path / "live.gvc", stop=stop)
    assert 4 <= stats.frames <= 6  # the frames read before stop was seen are coded
    assert closed == [True]  # the generator was closed, its clean-up run
    assert len(list(api.frames(tmp_path / "live.gvc"))) == stats.frames


@pytest.mark.parametrize(("frames", "message"), [
    ([np.zeros((H, W, 3), np.float32)], r"frame 0 is float32: give uint8 RGB .*\(a \* 255\)\.round\(\)"),
    ([np.zeros((H, W, 3), np.uint16)], r"frame 0 is uint16: .*\(a >> 8\)\.astype\(np\.uint8\)"),
    ([np.zeros((H, W, 3), np.int64)], r"frame 0 is int64: .*a\.astype\(np\.uint8\)"),
    ([np.zeros((3, H, W), np.uint8)], r"channels first: give H×W×3 .*a\.transpose\(1, 2, 0\)"),
    ([np.zeros((H, W, 2), np.uint8)], r"frame 0 has shape \(48, 64, 2\): give H×W×3 RGB"),
    ([np.zeros((H, W, 3), np.uint8), np.zeros(5, np.uint8)], r"frame 1 has shape \(5,\)"),
    ([np.zeros((0, W, 3), np.uint8)], "at least one pixel"),
    ([None], "frame 0 is a NoneType, not an array of numbers"),
    (["frame0.png"], "frame 0 is a str, not an array of numbers"),
    ([], "no frames were given"),
    (iter(()), "no frames were given"),
])
def test_what_is_not_a_frame_is_refused_with_what_to_do(tmp_path, tiny_model_dir, frames, message):
    with pytest.raises(InputError, match=message):
        encode(frames, tmp_path / "x.gvc")


def test_a_torch_tensor_gets_the_conversion(tmp_path, tiny_model_dir):
    torch = pytest.importorskip("torch")
    with pytest.raises(InputError, match=r"torch tensor: .*permute\(1, 2, 0\)"):
        encode([torch.zeros(3, H, W)], tmp_path / "x.gvc")


def test_inputs_that_are_not_frames_and_options_for_other_inputs_are_refused(tmp_path, tiny_model_dir):
    frames = clip_frames(2)
    for src in ({"a": frames[0]}, {1, 2}, b"frames", 42):
        with pytest.raises(UsageError, match="encode reads a path, '-' for stdin .*or frames as arrays"):
            encode(src, tmp_path / "x.gvc")
    with pytest.raises(UsageError, match=r"raw=: for an input read from stdin, a pipe or a URL"):
        encode(frames, tmp_path / "x.gvc", raw=media.RawFormat(W, H, Fraction(25), "rgb24"))
    with open(__file__, "rb") as f, pytest.raises(UsageError, match=r"stdin=, network_timeout=: .*framerate="):
        encode(frames, tmp_path / "x.gvc", stdin=f, network_timeout=3)
    assert not (tmp_path / "x.gvc").exists()


def test_is_frames_tells_arrays_from_paths_and_files(tmp_path):
    assert arrays.is_frames(np.zeros((2, H, W, 3), np.uint8))
    assert arrays.is_frames([]) and arrays.is_frames(f for f in ())
    for src in ("clip.mp4", tmp_path, b"x", {"a": 1}, set(), 3):
        assert not arrays.is_frames(src)
    with open(__file__, "rb") as f:
        assert not arrays.is_frames(f)


def test_frames_takes_max_frames_and_duration_as_decode_does(tmp_path, tiny_model_dir, caplog):
    encode(clip_frames(6), tmp_path / "a.gvc", framerate=10)
    every = list(api.frames(tmp_path / "a.gvc"))
    got = list(api.frames(tmp_path / "a.gvc", max_frames=2))
    assert [f.pts for f in got] == [f.pts for f in every[:2]]
    assert np.array_equal(got[1].rgb, every[1].rgb)
    # -t 0.25 from the first frame yielded: frames at 0.1, 0.2 and 0.3 s from start=0.1 on → 3 of them
    got = list(api.frames(tmp_path / "a.gvc", start=0.1, duration=0.25))
    assert [f.time for f in got] == pytest.approx([0.1, 0.2, 0.3])
    assert len(list(api.frames(tmp_path / "a.gvc", max_frames=100))) == 6
    with api.frames(tmp_path / "a.gvc", max_frames=1) as it:
        assert len(list(it)) == 1
    for bad, message in (({"max_frames": 0}, r"max_frames \(--frames\) must be at least 1"),
                         ({"max_frames": 1.5}, "max_frames"), ({"duration": 0}, "must be a time above 0")):
        with pytest.raises(UsageError, match=message):
            api.frames(tmp_path / "a.gvc", **bad)


def test_one_picture_given_as_the_frames_is_refused_not_coded_row_by_row(tmp_path, tiny_model_dir):
    frame = clip_frames(1)[0]
    for src in (frame, frame[:, :, 0], np.zeros((2, 2, 2, 2, 3), np.uint8)):
        with pytest.raises(UsageError, match="give \\[frame\\]|give N×H×W×3"):
            encode(src, tmp_path / "x.gvc")
    # N×H×W grey frames, and H×W×1 frames, are grey frames
    grey = np.stack([f[:, :, 1] for f in clip_frames(3)])
    encode(grey, tmp_path / "g.gvc")
    encode([g[:, :, None] for g in grey], tmp_path / "g1.gvc")
    assert (tmp_path / "g1.gvc").read_bytes() == (tmp_path / "g.gvc").read_bytes()


def test_pil_images_of_other_modes_are_converted_to_rgb():
    Image = pytest.importorskip("PIL.Image")
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    for mode in ("P", "CMYK", "YCbCr", "HSV", "RGBA", "L"):
        got = arrays.to_rgb(Image.fromarray(red).convert(mode), 0)[0, 0]
        want = [76, 76, 76] if mode == "L" else [255, 0, 0]
        assert np.abs(got.astype(int) - want).max() <= 2, (mode, got)


def test_a_start_at_the_end_says_so_and_a_first_frame_refused_closes_the_generator(tmp_path, tiny_model_dir):
    for start in (0.55, 0.6):
        with pytest.raises(InputError, match="past the last of its 6 frames"):
            encode(clip_frames(6), tmp_path / "x.gvc", framerate=10, start=start)
    closed = []

    def bad():
        try:
            yield np.zeros((4, 4), np.float32)
        finally:
            closed.append(True)

    with pytest.raises(InputError, match="float32"):
        encode(bad(), tmp_path / "x.gvc")
    assert closed == [True]


def test_ctrl_c_while_a_generator_waits_for_its_next_frame_is_a_keyboard_interrupt(tmp_path, tiny_model_dir):
    """The generator runs in the demuxing thread: closing it from the main thread while it waits there
    raised ValueError('generator already executing') in place of the KeyboardInterrupt."""
    import os
    import signal
    import time

    frame = clip_frames(1)[0]

    def camera():
        for _ in range(100):
            yield frame
            time.sleep(0.3)

    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            encode(camera(), tmp_path / "cam.gvc")
    finally:
        timer.cancel()
