"""``vidcodec play``: watch a .gvc stream in a window, paced by its timestamps.

The player decodes in the background pipeline (parse + entropy decoding in a thread, synthesis
of the next frames in as many threads as the model has lanes) and paces frames by their pts
against a monotonic clock. When it falls behind by more than one frame duration it *drops*
frames: their latents are entropy-decoded (the next delta needs them), but while it is behind
they are neither synthesized nor shown; it catches up at the cost of those frames and says how
many it dropped. Keys: space pauses, ←/→ seek to the previous/next keyframe (by the index, else
±5 s), ``o`` toggles the on-screen line (fps, bitrate, dropped), ``q`` or Esc quits.

The window is OpenCV's (``cv2.imshow``); the OpenCV calls are the only window layer, so tests
replace exactly those. Without a display use ``--to out.y4m`` or ``--to -`` (y4m on stdout, e.g.
``vidcodec play x.gvc --to - | ffplay -``).

OpenCV is imported *before* PyAV (through :mod:`vidcodec.api`): with opencv-python's Qt GUI,
``cv2.namedWindow`` hangs forever in a process that loaded PyAV's bundled libraries first (seen
under Xvfb with opencv-python 5.0 and av 18). A program that imports ``vidcodec.api`` itself
should import ``cv2`` (or ``vidcodec.play``) first.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import cv2  # before PyAV, see above
import numpy as np

from . import api, container
from .errors import UsageError

log = logging.getLogger("vidcodec")

# cv2.waitKeyEx codes: GTK/Qt on Linux, then Windows, for ← and →.
LEFT_KEYS = {65361, 2424832, 81}
RIGHT_KEYS = {65363, 2555904, 83}
QUIT_KEYS = {ord("q"), ord("Q"), 27}
SEEK_FALLBACK_S = 5.0


@dataclass
class PlayStats:
    """What a playback showed."""

    shown: int = 0
    dropped: int = 0  # late frames not shown, to catch up
    concealed: int = 0
    seeks: int = 0
    quit: bool = False  # the viewer quit (q, Esc, closed window) before the end


def _first_sentence(e: Exception) -> str:
    """OpenCV's reason without its path and code: "OpenCV(4.x) .../window.cpp:1255: error: (-2:Unspecified
    error) The function is not implemented. Rebuild ..." gives "The function is not implemented."."""
    text = " ".join(str(e).split())
    reason = text.split("error) ", 1)[1] if "error) " in text else text
    return reason.split(". ")[0].rstrip(".") + "."


class CvWindow:
    """The window layer: the only place OpenCV's GUI is called."""

    def __init__(self, title: str) -> None:
        self.cv2 = cv2
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE)
        except cv2.error as e:
            raise UsageError(
                "cannot open a window (no display, or an OpenCV without GUI support such as "
                "opencv-python-headless): use --to out.y4m, or `vidcodec play FILE --to - | ffplay -`; "
                f"for a window install opencv-python instead of opencv-python-headless (OpenCV: {_first_sentence(e)})"
            ) from None

    def show(self, rgb: np.ndarray) -> None:
        self.cv2.imshow(self.title, rgb[:, :, ::-1])

    def key(self, wait_ms: int) -> int:
        """The key pressed within ``wait_ms`` milliseconds (at least 1), or -1."""
        return self.cv2.waitKeyEx(max(1, int(wait_ms)))

    def closed(self) -> bool:
        try:
            return self.cv2.getWindowProperty(self.title, self.cv2.WND_PROP_VISIBLE) < 1
        except self.cv2.error:
            return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.cv2.destroyWindow(self.title)


def overlay(rgb: np.ndarray, text: str) -> np.ndarray:
    """A copy of the frame with ``text`` on a dark band at the top."""
    import cv2

    out = rgb.copy()
    band = min(out.shape[0], 20)
    out[:band] = (out[:band] * 0.35).astype(np.uint8)
    cv2.putText(out, text, (4, band - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class Player:
    """Paced playback of one stream into a window (see the module docstring)."""

    def __init__(self, src: str | Path | BinaryIO, window: CvWindow, *, start: float | None = None,
                 max_frames: int | None = None, backend: str = "ort", follow: bool = False,
                 follow_timeout: float = 10.0, show_info: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.src = src
        self.window = window
        self.start = api._seconds(start)
        self.max_frames = max_frames
        self.backend = backend
        self.follow = follow
        self.follow_timeout = follow_timeout
        self.show_info = show_info
        self.clock = clock
        self.stats = PlayStats()
        self.seekable = isinstance(src, (str, Path)) and str(src) != "-" and not follow

    def run(self) -> PlayStats:
        start = self.start
        while True:
            target = self._play_from(start)
            if target is None:
                return self.stats
            start = target
            self.stats.seeks += 1

    def _play_from(self, start: Fraction | None) -> Fraction | None:
        """Play until the end, a quit (None) or a seek (the new start time)."""
        with contextlib.ExitStack() as stack:
            left = None if self.max_frames is None else max(self.max_frames - self.stats.shown, 1)
            reader, m, pending, _ = api.open_pending(stack, self.src, start=start, backend=self.backend,
                                                     follow=self.follow, follow_timeout=self.follow_timeout,
                                                     max_frames=left, soon=True)
            hdr = reader.header
            render = api.Renderer(m, hdr.width, hdr.height)
            tb = Fraction(*hdr.time_base)
            step = float(Fraction(hdr.frame_rate[1], hdr.frame_rate[0])) if hdr.frame_rate[0] else 1 / 25
            index = reader.index() if self.seekable else None
            # --start and the seeks count from the stream's first frame (known after a seek, else the
            # index's first keyframe, else the first frame met)
            base = reader.first_key_pts
            if base is None and index is not None and index.entries:
                base = min(e.pts for e in index.entries)
            keys = [(e.pts - base) * tb for e in index.entries] if index is not None and base is not None else []
            origin: tuple[float, float] | None = None  # (clock, stream time) pairing for pacing
            recent: deque[tuple[float, int]] = deque()  # (clock, bytes) of frames in the last second
            current = start or Fraction(0)
            behind = False  # whether the last frame was late: then frames that may be dropped are not synthesized

            def droppable(p: api._Pending) -> bool:
                return not p.concealed and render.last is not None and not p.key

            pictures = stack.enter_context(contextlib.closing(
                api.synthesized(pending, m, hdr.width, hdr.height, skip=lambda p: behind and droppable(p))))
            api.stop_network_input_first(stack, reader)
            for p, picture in pictures:
                t = float(p.pts * tb)
                if base is None:
                    base = p.pts
                current = (p.pts - base) * tb
                now = self.clock()
                if origin is None:
                    origin = (now, t)
                due = origin[0] + (t - origin[1])
                behind = late = now - due > step
                skipped = picture is None and not p.concealed
                if (late or skipped) and droppable(p):
                    self.stats.dropped += 1  # entropy-decoded (the next delta needs it), not shown
                    continue
                self.stats.concealed += p.concealed
                rgb = render(p, picture)
                recent.append((now, p.size))
                while recent and recent[0][0] < now - 1.0:
                    recent.popleft()
                if self.show_info:
                    kbps = 8 * sum(b for _, b in recent) / 1000
                    rgb = overlay(rgb, f"{t:7.2f} s  {len(recent):3d} fps  {kbps:7.1f} kbit/s  dropped "
                                       f"{self.stats.dropped}{'  concealed ' + str(self.stats.concealed) if self.stats.concealed else ''}")
                self.window.show(rgb)
                self.stats.shown += 1
                if self.max_frames is not None and self.stats.shown >= self.max_frames:
                    return None
                # Wait for this frame's successor to be due, handling keys meanwhile.
                while True:
                    wait = origin[0] + (t + step - origin[1]) - self.clock()
                    k = self.window.key(wait * 1000 if wait > 0 else 1)
                    action = self._key(k, current, keys)
                    if action == "quit":
                        self.stats.quit = True
                        return None
                    if isinstance(action, Fraction):
                        return action
                    if action == "pause":
                        paused_at = self.clock()
                        action = self._paused(current, keys)
                        if action == "quit":
                            self.stats.quit = True
                            return None
                        if isinstance(action, Fraction):
                            return action
                        origin = (origin[0] + self.clock() - paused_at, origin[1])
                        continue
                    if self.window.closed():
                        self.stats.quit = True
                        return None
                    if wait <= 0.001:
                        break
        return None

    def _paused(self, current: Fraction, keys: list[Fraction]) -> str | Fraction | None:
        """Wait while paused: "pause" (resumed), "quit" (or the window closed) or a seek target."""
        while True:
            action = self._key(self.window.key(50), current, keys)
            if action in ("pause", "quit") or isinstance(action, Fraction):
                return action
            if self.window.closed():
                return "quit"

    def _key(self, k: int, current: Fraction, keys: list[Fraction]) -> str | Fraction | None:
        if k in QUIT_KEYS:
            return "quit"
        if k == ord(" "):
            return "pause"
        if k in (ord("o"), ord("O")):
            self.show_info = not self.show_info
            return None
        if k in LEFT_KEYS or k in RIGHT_KEYS:
            if not self.seekable:
                log.warning("seeking needs a file (not a pipe or --follow)")
                return None
            forward = k in RIGHT_KEYS
            if keys:
                # The keyframe before the one we are in (←) or the next one (→).
                before = [x for x in keys if x <= current]
                if forward:
                    after = [x for x in keys if x > current]
                    return after[0] if after else None
                return before[-2] if len(before) >= 2 else (before[0] if before else Fraction(0))
            target = current + Fraction(SEEK_FALLBACK_S) * (1 if forward else -1)
            return max(Fraction(0), target)
        return None


def play(src: str | Path | BinaryIO, *, to: str | None = None, start: float | None = None,
         max_frames: int | None = None, backend: str = "ort", follow: bool = False, follow_timeout: float = 10.0,
         overwrite: bool = False, show_info: bool = True, window: CvWindow | None = None,
         pix_fmt: str | None = None) -> PlayStats:
    """Play ``src`` in a window, or with ``to`` (a .y4m path or ``"-"``) decode it to y4m instead
    (``pix_fmt``: as for :func:`vidcodec.api.decode`; only with ``to``)."""
    if pix_fmt is not None and to is None:
        raise UsageError("--pix-fmt sets the y4m that --to writes; the window shows RGB")
    if to is not None:
        check_to(to)
        s = api.decode(src, to, overwrite=overwrite, backend=backend, start=start, max_frames=max_frames,
                       follow=follow, follow_timeout=follow_timeout, pix_fmt=pix_fmt)
        return PlayStats(shown=s.frames, concealed=s.concealed)
    if window is None and not follow and isinstance(src, (str, Path)) and str(src) != "-":
        _check_input(src)  # what is wrong with the input is said before what the window lacks
    title = f"vidcodec - {src if isinstance(src, (str, Path)) else 'stdin'}"
    win = window or CvWindow(title)
    try:
        return Player(src, win, start=start, max_frames=max_frames, backend=backend, follow=follow,
                      follow_timeout=follow_timeout, show_info=show_info).run()
    finally:
        win.close()


def check_to(to: str | Path) -> None:
    """UsageError unless ``--to`` names a y4m file or - (stdout)."""
    if str(to) != "-" and Path(to).suffix.lower() != ".y4m":
        raise UsageError(f"--to writes y4m: give a .y4m path or - (got {to})")


def _check_input(src: str | Path) -> None:
    """InputError or FormatError for a path that is not there or a regular file that does not start as
    a .gvc stream (a named pipe is not read twice: the player reads it, and says what is wrong)."""
    path = Path(src)
    if path.exists() and not path.is_file():
        return
    with container.GvcReader(path):
        pass
