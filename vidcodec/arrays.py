"""Frames given as arrays: the input of ``vidcodec.encode(frames, "out.gvc", framerate=30)`` when the
frames come from a program (a camera loop, a renderer, a simulation, ``vidcodec.frames`` of another
stream) instead of a file.

Each frame is an H×W×3 ``uint8`` RGB array (anything :func:`numpy.asarray` makes one of, e.g. a PIL
image; a frame object with an ``rgb`` array, as :class:`vidcodec.DecodedFrame`; H×W grey; H×W×4, the
alpha dropped, as FFmpeg drops it for a format without one). The frames are timed at a constant
rate, frame *i* at *i* / ``framerate`` seconds. :class:`ArraySource` gives the encoder what
:class:`vidcodec.media.VideoSource` gives it for a file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from fractions import Fraction
from typing import Self

import cv2
import numpy as np

from .errors import InputError, UsageError
from .media import IMAGE_RATE, MATRIX_UNSPECIFIED, RANGE_UNSPECIFIED, VideoFrame

log = logging.getLogger("vidcodec")

NAME = "<arrays>"  # how messages name the input
_END = object()  # next()'s default: the frames have ended (None may be a frame, a wrong one)


def check_frames(src: object) -> None:
    """UsageError for one array that is a single frame, not frames (iterating it would give its rows)."""
    if isinstance(src, np.ndarray) and (src.ndim == 2 or (src.ndim == 3 and src.shape[2] in (3, 4))):
        raise UsageError(f"the frames are one {'×'.join(map(str, src.shape))} array, a single picture: give "
                         "[frame] for a stream of one frame, or an N×H×W×3 array (or a list) of frames")
    if isinstance(src, np.ndarray) and src.ndim not in (3, 4):
        raise UsageError(f"the frames are one array of shape {src.shape}: give N×H×W×3 (or N×H×W grey), "
                         "or a list of H×W×3 frames")


def is_frames(src: object) -> bool:
    """Whether ``src`` is frames given as arrays (an array, or an iterable that is not a path, text,
    bytes or a file object) rather than something :func:`vidcodec.media.open_source` opens."""
    if isinstance(src, np.ndarray):
        return True
    if isinstance(src, (str, bytes, bytearray, memoryview, Mapping, AbstractSet)) or hasattr(src, "read") \
            or hasattr(src, "__fspath__"):
        return False  # a mapping's keys and a set's members have no frame order
    return isinstance(src, Iterable)


def _hint(a: np.ndarray) -> str:
    """How to make an array of the wrong type an 8-bit one."""
    if a.dtype.kind == "f":
        return "; scale floats in [0, 1] with (a * 255).round().clip(0, 255).astype(np.uint8)"
    if a.dtype == np.uint16:
        return "; bring 16-bit samples to 8 bits with (a >> 8).astype(np.uint8)"
    if a.dtype.kind in "iu":
        return "; values already 0-255 convert with a.astype(np.uint8)"
    if a.dtype.kind == "b":
        return "; make a mask a picture with a.astype(np.uint8) * 255"
    return ""


def to_rgb(item: object, index: int) -> np.ndarray:
    """Frame ``index`` as a contiguous H×W×3 uint8 RGB array; InputError when it cannot be one."""
    item = getattr(item, "rgb", item)  # DecodedFrame, media.VideoFrame
    if getattr(item, "mode", None) not in (None, "RGB", "RGBA", "L") and callable(getattr(item, "convert", None)):
        item = item.convert("RGB")  # a PIL image with a palette (GIF frames), CMYK, YCbCr...: its colours
    if hasattr(item, "detach") and hasattr(item, "cpu"):  # a torch tensor: its layout and range are a guess
        raise InputError(f"frame {index} is a torch tensor: give H×W×3 uint8 RGB numpy arrays, e.g. "
                         "(t.permute(1, 2, 0) * 255).round().clamp(0, 255).byte().cpu().numpy() for a "
                         "3×H×W tensor in [0, 1]")
    try:
        a = np.asarray(item)
    except (ValueError, TypeError) as exc:  # a ragged list, an object numpy cannot take
        raise InputError(f"frame {index} is a {type(item).__name__}, not an array ({exc})") from exc
    if a.dtype.kind in "OUSV" or a.ndim == 0:
        raise InputError(f"frame {index} is a {type(item).__name__}, not an array of numbers")
    if a.dtype != np.uint8:
        raise InputError(f"frame {index} is {a.dtype}: give uint8 RGB (0-255){_hint(a)}")
    if a.ndim == 3 and a.shape[0] in (3, 4) and a.shape[2] not in (3, 4):
        raise InputError(f"frame {index} has shape {a.shape}, channels first: give H×W×3 "
                         f"(channels last), e.g. a.transpose(1, 2, 0)")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    elif not (a.ndim == 3 and a.shape[2] == 3):
        raise InputError(f"frame {index} has shape {a.shape}: give H×W×3 RGB (or H×W grey)")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError(f"frame {index} has shape {a.shape}: a frame needs at least one pixel")
    return np.ascontiguousarray(a)


class ArraySource:
    """Frames given as arrays, as the encoder reads a :class:`vidcodec.media.VideoSource`: iterate it
    once for :class:`vidcodec.media.VideoFrame` records, frame *i*'s pts *i* in a time base of one
    frame (1 / ``framerate``). The first frame is read at once and sets the size; a later frame of
    another size is scaled to it, with a warning (as a file's is). ``start`` (seconds) leaves out
    the frames before it, the first kept at pts 0 (as FFmpeg's input ``-ss``).

    The frames are RGB: OpenCV's are BGR (``frame[..., ::-1]`` turns them round). Nothing here
    says what the colours' matrix or range were; the stream records them as unspecified.
    """

    network = False
    live = False
    read_timeout = 0
    audio = None
    audio_track = None
    sample_aspect = None
    color_matrix = MATRIX_UNSPECIFIED
    color_range = RANGE_UNSPECIFIED
    color_primaries = 2  # unspecified (H.273)
    color_trc = 2
    chroma_subsampling = (0, 0)  # RGB: a decode writes 4:4:4 by default
    pix_fmt = "rgb24"
    frames_by_duration = 0
    start_pts = 0

    def __init__(self, frames: Iterable[object], framerate: Fraction | None = None,
                 start: Fraction | None = None, name: str = NAME) -> None:
        self.name = name
        self.frame_rate: Fraction = IMAGE_RATE if framerate is None else Fraction(framerate)
        self.grid_rate: Fraction = self.frame_rate  # what the header records (media.VideoSource's)
        self.time_base = 1 / self.frame_rate
        skip = 0 if not start else int(-(-start * self.frame_rate // 1))  # frames before `start` s
        try:
            count = len(frames)  # type: ignore[arg-type]
        except TypeError:  # a generator: not known
            count = 0
        self.frame_count = max(0, count - skip)
        self.estimated_frames = self.frame_count
        self.ended = False
        self._items = iter(frames)
        try:
            for index in range(skip):
                if next(self._items, _END) is _END:
                    raise InputError(f"{name}: start= {float(start):g} s is past the last of its {index} frames")
            self._index = skip
            first = next(self._items, _END)
            if first is _END:
                self.ended = True
                raise InputError(f"{name}: start= {float(start):g} s is past the last of its {skip} frames" if skip
                                 else f"{name}: no frames were given")
            self._first: np.ndarray | None = to_rgb(first, skip)
        except BaseException:
            self.close()  # a generator's clean-up (a camera released) runs now
            raise
        self.height, self.width = self._first.shape[:2]
        self._warned = False

    def __iter__(self) -> Iterator[VideoFrame]:
        if self._first is None:
            raise UsageError(f"{self.name}: an ArraySource can only be iterated once")
        first, self._first = self._first, None
        yield VideoFrame(first, 0, 0)
        for pts, item in enumerate(self._items, start=1):
            rgb = to_rgb(item, self._index + pts)
            if rgb.shape[:2] != (self.height, self.width):
                if not self._warned:
                    self._warned = True
                    log.warning("%s: frame %d is %dx%d where the first was %dx%d; scaling to %dx%d", self.name,
                                self._index + pts, rgb.shape[1], rgb.shape[0], self.width, self.height,
                                self.width, self.height)
                rgb = cv2.resize(rgb, (self.width, self.height), interpolation=cv2.INTER_AREA)
            yield VideoFrame(rgb, pts, pts)
        self.ended = True

    def take_audio(self, before: int | None = None) -> list:
        """No audio comes with arrays."""
        return []

    def read_audio_to(self, video_end: object) -> None:
        """No audio comes with arrays."""

    def close(self) -> None:
        """Close the frames' generator, if they came from one (its ``finally`` runs now); not while the
        demuxing thread is inside it (a Ctrl-C while a camera loop waits for its next frame: a
        generator cannot be closed from another thread while it runs; it is left to that thread)."""
        if getattr(self._items, "gi_running", False):
            log.debug("%s: still being read by another thread; not closed", self.name)
            return
        close = getattr(self._items, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
