"""vidcodec play: the window code driven with OpenCV's GUI calls replaced, and the headless y4m path."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import late_copy, write_testsrc

import vidcodec
from vidcodec import play
from vidcodec.cli import main as cli_main
from vidcodec.errors import UsageError


class FakeGui:
    """Stands in for cv2.namedWindow/imshow/waitKeyEx/getWindowProperty/destroyWindow, with a fake clock."""

    def __init__(self, keys: dict[int, list[int]] | None = None, decode_cost: float = 0.0) -> None:
        self.now = 0.0
        self.shown: list[np.ndarray] = []
        self.keys = keys or {}  # frame number shown -> keys pressed after it
        self.decode_cost = decode_cost
        self.destroyed = False

    def install(self, monkeypatch) -> None:
        monkeypatch.setattr(cv2, "namedWindow", lambda *a, **k: None)
        monkeypatch.setattr(cv2, "imshow", self.imshow)
        monkeypatch.setattr(cv2, "waitKeyEx", self.wait)
        monkeypatch.setattr(cv2, "getWindowProperty", lambda *a: 1.0)
        monkeypatch.setattr(cv2, "destroyWindow", lambda *a: setattr(self, "destroyed", True))

    def clock(self) -> float:
        return self.now

    def imshow(self, title, bgr) -> None:
        self.shown.append(bgr.copy())
        self.now += self.decode_cost

    def wait(self, ms: int) -> int:
        pending = self.keys.get(len(self.shown), [])
        key = pending.pop(0) if pending else -1
        if key == -1:  # nothing pressed: the whole wait passes
            self.now += ms / 1000
        return key


@pytest.fixture
def stream(tmp_path, tiny_model_dir):
    clip = write_testsrc(tmp_path / "c.mp4", frames=20, size=(64, 48), rate=10)
    vidcodec.encode(clip, tmp_path / "s.gvc", model="vaegan-tiny", quality=2, gop=5)
    return tmp_path / "s.gvc"


def _player(stream, gui, monkeypatch, **kw):
    gui.install(monkeypatch)
    return play.Player(stream, play.CvWindow("t"), clock=gui.clock, **kw)


def test_plays_every_frame_in_real_time_with_the_info_line(stream, monkeypatch):
    gui = FakeGui()
    stats = _player(stream, gui, monkeypatch).run()
    assert stats.shown == 20 and stats.dropped == 0 and not stats.quit
    assert gui.now == pytest.approx(2.0, abs=0.15)  # 20 frames at 10 fps take 2 s of (fake) wall clock
    assert gui.shown[0].shape == (48, 64, 3)
    assert gui.shown[0][:20].mean() < gui.shown[0][20:].mean()  # the dark band of the info line


def test_slow_decoding_drops_late_frames_but_not_keyframes(stream, monkeypatch):
    gui = FakeGui(decode_cost=0.25)  # each shown frame costs 2.5 frame durations
    stats = _player(stream, gui, monkeypatch, show_info=False).run()
    assert stats.dropped > 5 and stats.shown + stats.dropped == 20
    assert stats.shown >= 4  # the 4 keyframes are always shown


def test_keys_quit_pause_toggle_and_seek(stream, monkeypatch):
    gui = FakeGui(keys={3: [ord("q")]})
    stats = _player(stream, gui, monkeypatch).run()
    assert stats.quit and stats.shown == 3

    gui = FakeGui(keys={2: [ord(" ")], 3: []})
    gui.keys[2].extend([-1] * 10 + [ord(" ")])  # paused for 10 polls of 50 ms, then resumed
    stats = _player(stream, gui, monkeypatch).run()
    assert stats.shown == 20 and gui.now == pytest.approx(2.5, abs=0.2)

    right = next(iter(play.RIGHT_KEYS))
    gui = FakeGui(keys={1: [right]})  # from the first GOP to the keyframe at 0.5 s
    stats = _player(stream, gui, monkeypatch, show_info=False).run()
    assert stats.seeks == 1 and stats.shown == 1 + 15

    left = next(iter(play.LEFT_KEYS))
    gui = FakeGui(keys={12: [left]})  # in the GOP starting at 1.0 s: back to the one at 0.5 s
    stats = _player(stream, gui, monkeypatch, show_info=False).run()
    assert stats.seeks == 1 and stats.shown == 12 + 15

    # a stream whose clock starts at 10:00:00: the seeks and --start count from its first frame
    late_copy(stream, stream.with_name("late.gvc"), 10 * 3600)
    gui = FakeGui(keys={12: [left]})
    stats = _player(stream.with_name("late.gvc"), gui, monkeypatch, show_info=False).run()
    assert stats.seeks == 1 and stats.shown == 12 + 15
    gui = FakeGui(keys={1: [right]})
    stats = _player(stream.with_name("late.gvc"), gui, monkeypatch, show_info=False, start=0.5).run()
    assert stats.seeks == 1 and stats.shown == 1 + 10  # from 0.5 s, then to the keyframe at 1.0 s

    gui = FakeGui(keys={1: [ord("o")]})
    p = _player(stream, gui, monkeypatch)
    p.run()
    assert not p.show_info


def test_headless_play_writes_y4m(stream, tmp_path, capsys):
    out = tmp_path / "o.y4m"
    assert cli_main(["play", str(stream), "--to", str(out), "-q"]) == 0
    with open(out, "rb") as f:
        assert f.read(10) == b"YUV4MPEG2 "
    assert len(list(vidcodec.frames(stream))) == 20
    assert cli_main(["play", str(stream), "--to", str(tmp_path / "o.mp4"), "-q"]) == 2
    assert "y4m" in capsys.readouterr().err
    assert cli_main(["play", str(stream), "--to", str(tmp_path / "o420.y4m"), "--pix-fmt", "yuv420p", "-q"]) == 0
    assert b" C420jpeg " in (tmp_path / "o420.y4m").read_bytes().split(b"\n", 1)[0]
    assert cli_main(["play", str(stream), "--pix-fmt", "yuv420p", "-q"]) == 2  # the window shows RGB
    assert "--to" in capsys.readouterr().err


def test_no_gui_gives_a_clear_error(stream, monkeypatch):
    def no_gui(*a, **k):  # what opencv-python-headless raises
        raise cv2.error("OpenCV(4.10.0) /io/opencv/modules/highgui/src/window.cpp:1301: error: (-2:Unspecified "
                        "error) The function is not implemented. Rebuild the library with Windows, GTK+ 2.x or "
                        "Cocoa support. If you are on Ubuntu or Debian, install libgtk2.0-dev")

    monkeypatch.setattr(cv2, "namedWindow", no_gui)
    with pytest.raises(UsageError, match="--to") as e:
        play.play(stream)
    assert str(e.value).endswith("(OpenCV: The function is not implemented.)")  # not cut mid-word


def test_opencv_is_loaded_before_pyav():
    """With opencv-python's Qt GUI, cv2.namedWindow hangs in a process that loaded PyAV first (seen
    under Xvfb), so the player module imports cv2 before anything imports av."""
    import subprocess
    import sys

    code = "import sys, vidcodec.play; m = list(sys.modules); print(m.index('cv2') < m.index('av'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_the_input_is_checked_before_the_window_is_opened(tmp_path, monkeypatch):
    from vidcodec.errors import FormatError, InputError

    def no_window(*a, **k):
        raise AssertionError("the window was opened before the input was checked")

    monkeypatch.setattr(cv2, "namedWindow", no_window)
    with pytest.raises(InputError, match="missing.gvc"):
        play.play(tmp_path / "missing.gvc")
    clip = write_testsrc(tmp_path / "c.mp4", frames=2, size=(32, 32))
    with pytest.raises(FormatError, match="not a .gvc file"):
        play.play(clip)


def test_a_named_pipe_or_a_followed_file_is_not_opened_before_the_player(tmp_path, monkeypatch):
    import os
    import threading

    fifo = tmp_path / "p.gvc"
    os.mkfifo(fifo)
    done = threading.Event()
    t = threading.Thread(target=lambda: (play._check_input(fifo), done.set()), daemon=True)
    t.start()
    t.join(3)
    assert done.is_set(), "the check opened the named pipe (it would have read the stream's start)"

    class WindowOpened(Exception):
        pass

    def window(*a, **k):
        raise WindowOpened

    monkeypatch.setattr(cv2, "namedWindow", window)
    with pytest.raises(WindowOpened):  # --follow waits for a file that is not there yet: no InputError first
        play.play(tmp_path / "later.gvc", follow=True)


def test_auto_plays_a_long_file_from_onnx_runtime_without_waiting_for_torch(stream, monkeypatch):
    """A player's first picture waited for torch's import where auto decodes a long file in bfloat16;
    it now starts in ONNX Runtime and hands over (zoo.Handover), as a pipe's decode does. A file too
    short for bfloat16 plays in ONNX Runtime throughout, as it decodes."""
    from vidcodec import api, runtime
    from vidcodec.models import zoo

    monkeypatch.setattr(runtime, "bf16_decode_pays", lambda: True)
    monkeypatch.setattr(zoo, "cpu_has_bf16", lambda: True)
    models = []
    real = api.Renderer.__init__
    monkeypatch.setattr(api.Renderer, "__init__", lambda self, m, w, h: models.append(m) or real(self, m, w, h))
    monkeypatch.setattr(zoo.Handover, "_load", lambda self, w, h: None)  # bfloat16 "cannot be set up": ort on
    for least, handed in ((20 * 64 * 48, True), (21 * 64 * 48, False)):  # the stream's 20 frames: long, short
        monkeypatch.setattr(zoo, "BF16_MIN_DECODE_PIXELS_AVX512", least)
        gui = FakeGui()
        assert _player(stream, gui, monkeypatch, backend="auto").run().shown == 20
        assert isinstance(models[-1], zoo.Handover) is handed
        if handed:
            assert not models[-1].wait  # a player never waits for bfloat16
        else:
            assert models[-1].backend == "ort"
