"""The public Python API: encode and decode files or pipes, read frames from a .gvc stream.

    >>> import vidcodec
    >>> vidcodec.encode("in.mp4", "out.gvc", quality=4)
    >>> for frame in vidcodec.frames("out.gvc"):
    ...     frame.rgb, frame.pts
    >>> vidcodec.decode("out.gvc", "out.mp4")
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import io
import itertools
import logging
import math
import multiprocessing
import numbers
import operator
import os
import stat
import struct
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Self

import numpy as np

from . import arrays, container, gopdecode, media, network, outputs, pipeline
from .codec import (
    AUTO_PRESET,
    DEFAULT_GAN_COEFFS,
    DEFAULT_GAN_LAYER,
    DEFAULT_GAN_MODEL,
    DEFAULT_KEY_BITS,
    DEFAULT_SEARCH_ITERS,
    PRESETS,
    SUBPEL_MODES,
    default_gop,
    gan_latent_bits,
    resolve_preset,
)
from .codec import colour as colour_mod
from .codec import prefilter as prefilter_mod
from .codec.ratecontrol import RateController
from .codec.vaegan import DELTA, KEY, EncodedFrame, FrameDecoder, FrameEncoder, to_tensor
from .coding import qsgd
from .errors import CoderError, CorruptPacketError, InputError, ModelNotFoundError, UsageError, VidcodecError
from .models import zoo
from .models.card import DOWNSCALE
from .progress import bar as progress_bar
from .timespec import FORMS, parse_time
from .urls import is_url

if TYPE_CHECKING:  # torch loads only for GAN mode, --refine and the torch backend
    from .codec import gan
    from .models.gan import GanModel

log = logging.getLogger("vidcodec")

MODES = ("vaegan", "gan")
_KIND_TO_TYPE = {KEY: container.PacketType.KEY, DELTA: container.PacketType.DELTA}
_TYPE_TO_KIND = {v: k for k, v in _KIND_TO_TYPE.items()}


def quality_range(model: str = zoo.DEFAULT_MODEL) -> range:
    """Valid ``quality`` values of an installed model (1 = lowest rate)."""
    return range(1, zoo.load(model).levels + 1)


@dataclass
class EncodeStats:
    """What an encode produced; ``bytes`` is the real size of the written stream."""

    frames: int
    keyframes: int
    bytes: int
    width: int
    height: int
    seconds: float
    duration: float
    qualities: dict[int, int] = field(default_factory=dict)  # quality level → frames coded at it
    gops: list[tuple[int, int, int]] = field(default_factory=list)  # with --bitrate: (quality, frames, bits)
    audio_bytes: int = 0  # of ``bytes``, the audio packets' (with their framing) and the headers' audio description

    @property
    def video_bytes(self) -> int:
        """The stream's bytes less its audio (packets and the headers' description of it): video
        packets, the rest of the headers, the index."""
        return self.bytes - self.audio_bytes

    @property
    def bpp(self) -> float:
        """Bits per pixel of the video (the stream's size less its audio)."""
        return 8 * self.video_bytes / max(1, self.frames * self.width * self.height)

    @property
    def kbps(self) -> float:
        """Average bitrate of the whole stream, audio included, over its duration (0 when unknown)."""
        return 8 * self.bytes / self.duration / 1000 if self.duration > 0 else 0.0

    @property
    def video_kbps(self) -> float:
        """Average bitrate of the video alone (what ``--bitrate`` holds); 0 when the duration is unknown."""
        return 8 * self.video_bytes / self.duration / 1000 if self.duration > 0 else 0.0

    @property
    def fps(self) -> float:
        """Frames coded per wall-clock second."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class DecodedFrame:
    """A frame out of a .gvc stream."""

    rgb: np.ndarray
    pts: int
    index: int  # position in the decoded output (0 = the first frame yielded)
    key: bool
    concealed: bool = False  # lost to damage: a repeat of the previous frame (mid-grey when none)
    time_base: Fraction | None = None  # seconds per pts unit: the stream's (header) time base

    @property
    def time(self) -> float | None:
        """The frame's timestamp in seconds (``pts × time_base``, as PyAV's ``frame.time``); the stream's
        clock may start anywhere (an MPEG-TS source's at 1.4 s): ``start=`` counts from its first frame."""
        return None if self.time_base is None else float(self.pts * self.time_base)

    def __repr__(self) -> str:  # the picture's shape, not its pixels
        shape = "x".join(map(str, self.rgb.shape))
        time = "" if self.time is None else f", time={self.time:.6g}"
        return (f"DecodedFrame(index={self.index}, pts={self.pts}{time}, key={self.key}, "
                f"concealed={self.concealed}, rgb=<{shape} {self.rgb.dtype}>)")


def check_quality(quality: object, m: zoo.CodecModel) -> None:
    """UsageError unless ``quality`` is one of the model's levels, 1 to L (an int: 4.0 is not a level)."""
    if isinstance(quality, bool) or not isinstance(quality, int) or quality not in range(1, m.levels + 1):
        raise UsageError(f"--quality must be between 1 and {m.levels} (got {quality!r})")


def _whole(name: str, value: object) -> int | None:
    """``value`` as an int (numpy's integers too; None stays None); UsageError for anything else."""
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise UsageError(f"{name} must be a whole number (got {value!r})") from None


def _count(name: str, value: object) -> int:
    """``_whole`` for an option that has no "not given" (its default is a number): None is refused too."""
    if value is None:
        raise UsageError(f"{name} must be a whole number (got None; leave it out for its default)")
    whole = _whole(name, value)
    assert whole is not None
    return whole


def check_flags(**flags: object) -> None:
    """Yes-or-no arguments must be bools (numpy's too): ``overwrite="no"`` is true, and replaced a file."""
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise UsageError(f"{name} must be True or False (got {value!r})")


def _as_path(value: object) -> object:
    """An ``os.PathLike`` (a PurePath, or a library's own path type) as a Path; anything else as given."""
    return Path(os.fsdecode(value)) if isinstance(value, os.PathLike) and not isinstance(value, Path) else value


def _binary_input(stdin: object, name: str = "stdin=") -> BinaryIO:
    """``stdin`` if it is a binary file object open for reading; UsageError for anything else."""
    if isinstance(stdin, io.TextIOBase):
        raise UsageError(f"{name} takes a binary file object (sys.stdin.buffer, open(..., 'rb')), not text")
    if getattr(stdin, "closed", False):
        raise UsageError(f"{name} is a closed file: give one open for reading")
    write_only = container.write_only(stdin)
    if not callable(getattr(stdin, "read", None)) or write_only:
        raise UsageError(f"{name} takes a binary file object open for reading (sys.stdin.buffer, open(..., 'rb'), "
                         f"io.BytesIO(data)); got {type(stdin).__name__}" + (" open for writing only" if write_only else ""))
    return stdin  # type: ignore[return-value]


def _binary_output(dst: object, verb: str = "encode") -> BinaryIO:
    """``dst`` if it is a file object a stream can be written to; UsageError for anything else."""
    if isinstance(dst, io.TextIOBase):
        raise UsageError(f"{verb} writes bytes: give a file opened in binary mode ('wb'), a path, or '-'")
    if getattr(dst, "closed", False):
        raise UsageError(f"{verb} cannot write to a closed file: give one open for writing ('wb')")
    writable = getattr(dst, "writable", None)
    if not callable(getattr(dst, "write", None)) or (callable(writable) and not writable()):
        raise UsageError(f"{verb} writes to a path, '-' for stdout, or a binary file object open for writing "
                         f"(got {type(dst).__name__})")
    if verb == "encode" and "a" in str(getattr(dst, "mode", "")):
        raise UsageError("the output file is opened for appending ('ab'): the writer seeks back to finish the "
                         "header, which appending cannot; open it with 'wb'")
    return dst  # type: ignore[return-value]


def refuse_terminal(out: object) -> None:
    """UsageError where a .gvc stream's output (a file object; paths and URLs are not) is a terminal."""
    if not isinstance(out, (str, Path)) and getattr(out, "isatty", lambda: False)():
        raise UsageError("refusing to write a .gvc stream to a terminal; pipe stdout (e.g. "
                         "`| vidcodec decode - out.y4m`) or give an output file")


def _check_named(dst: str | Path) -> None:
    if isinstance(dst, str) and not dst:  # an unset shell variable: Path("") would be "."
        raise UsageError("the output name is empty: give a file name, or - for stdout")
    if isinstance(dst, str) and dst.endswith(("/", os.sep)) and not is_url(dst):
        # Path() drops the slash: `decode x.gvc out.mp4/` had written a file out.mp4
        raise UsageError(f"{dst} ends with a slash, as a folder does: give an output file name")


def _check_output(dst: str | Path, overwrite: bool) -> None:
    _check_named(dst)
    if str(dst) != "-":
        media.check_output_path(Path(dst), overwrite)


def check_decode_output(dst: str | Path, overwrite: bool) -> None:
    """UsageError (OutputExistsError) for a decode's output path: a kind never written, said before where
    (a missing folder), or an existing file without ``overwrite``; nothing for '-' (stdout)."""
    _check_named(dst)
    if str(dst) != "-":
        media.check_output_kind(Path(dst))
        media.check_output_path(Path(dst), overwrite)


def _is_fifo(path: str | Path) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:  # not there (yet): --follow waits for it
        return False


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return str(a) != "-" and str(b) != "-" and Path(a).samefile(b)
    except OSError:  # one of them does not exist
        return False


# How long an encode of a pipe or URL waits for its input before importing torch meanwhile (zoo.warm_bf16)
WARM_AFTER_S = 0.3


def encode(
    src: str | Path | Iterable[np.ndarray],
    dst: str | Path | BinaryIO,
    *,
    quality: int | None = None,
    gop: int | None = None,
    coder: str | None = None,
    latent_bits: int | None = None,
    model: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
    max_frames: int | None = None,
    stdin: BinaryIO | None = None,
    backend: str = "auto",
    bitrate: float | None = None,
    bufsize: float | None = None,
    repeat_header: bool | None = None,
    raw: media.RawFormat | None = None,
    audio: bool = True,
    refine: int = 0,
    mode: str = "vaegan",
    search_iters: int = DEFAULT_SEARCH_ITERS,
    key_bits: int = DEFAULT_KEY_BITS,
    gop_batch: int = 1,
    gan_layer: int | str | None = DEFAULT_GAN_LAYER,
    coeffs: int = DEFAULT_GAN_COEFFS,
    subpel: str = "learned",
    workers: int = 1,
    preset: str = AUTO_PRESET,
    colour: bool = True,
    prefilter: bool = True,
    start: float | Fraction | None = None,
    stop: threading.Event | None = None,
    framerate: float | Fraction | str | None = None,
    network_timeout: float | None = None,
    duration: float | Fraction | None = None,
    realtime: bool = False,
) -> EncodeStats:
    """Encode a video file (or ``"-"`` for stdin, or frames given as arrays) into a .gvc stream at ``dst``
    (path, ``"-"`` or file object).

    Returns :class:`EncodeStats` (frames, bytes, bpp, kbps...). ``src="-"`` reads ``stdin`` (a binary
    file object; default ``sys.stdin.buffer``), ``dst="-"`` writes ``sys.stdout.buffer``; a file object
    as ``dst`` needs ``write()`` (``flush()`` and ``seek()`` are used where it has them). ``model``: an
    installed model's name (default :data:`vidcodec.codec.DEFAULT_MODEL`); ``overwrite``: replace
    an existing ``dst`` (else :class:`~vidcodec.errors.OutputExistsError`); ``max_frames``: code at
    most that many frames; ``progress``: a bar on a terminal, else a line every 10 s (to the
    ``vidcodec`` logger, or to stderr when logging is not set up to show INFO). ``coder``: ``"ans"``
    (the default) or ``"elias"`` (the seed's QSGD + Elias-gamma, ``latent_bits`` bits a value).

    ``gop``: a keyframe at least every ``gop`` frames (and at scene cuts); by default
    :data:`vidcodec.codec.DEFAULT_GOP` (250, x264's; with ``bitrate`` too), 32 with ``mode="gan"``.
    ``backend`` runs the transforms with ONNX Runtime (``"ort"``; ``"int8"``: the analysis with 8-bit
    convolutions, see :mod:`vidcodec.int8`) or torch (``"torch"``; ``"bf16"``: in bfloat16); the default
    ``"auto"`` is ``"bf16"`` on a CPU with AMX and no CUDA (unless the input is known to have fewer than
    :data:`~vidcodec.models.zoo.BF16_MIN_FRAMES` frames, which would not repay torch's import), else ``"int8"`` where that pays (a CPU with
    8-bit dot products, a model with int8 ranges), else ``"ort"``
    (:func:`vidcodec.models.zoo.resolve_backend`).
    ``quality`` defaults to the model's own default level. ``bitrate`` (kbit/s) replaces the fixed ``quality`` by a level chosen per GOP and a
    lambda factor steered per delta frame to hold that average rate, with a buffer of ``bufsize`` kbit (see :mod:`vidcodec.codec.ratecontrol`).
    ``repeat_header`` writes the stream header again (a parameters packet) before every keyframe so
    that a reader can join mid-stream; by default it does so when ``dst`` is a pipe or stdout.
    ``raw`` describes headerless input frames (size, rate, pixel format), e.g. a live pipe.
    ``src`` may be frames as arrays (:mod:`vidcodec.arrays`): an iterable (a list, a generator) of H×W×3
    uint8 RGB arrays (or H×W grey, H×W×4 with its alpha dropped, PIL images, :class:`DecodedFrame`), or
    one N×H×W×3 array, timed at ``framerate`` frames a second (default 25); the first frame sets the
    size. A generator is read as the encode goes (``stop`` ends it as it ends a live input).
    ``src`` may be an image sequence as FFmpeg names one (``"frames/%04d.png"``: one ``%d`` for the
    number; it starts at the lowest number there), read at ``framerate`` frames a second (default 25;
    refused for inputs that carry their own rate). ``src`` may also be a URL FFmpeg reads (``rtsp://``, ``udp://``,
    ``http://``...): the encode waits for its sender, and once it has begun, a live input that sends
    nothing for ``network_timeout`` seconds (default 15; 0: wait for ever) or drops its connection ends
    there, its frames coded.
    ``audio``: carry the input's first audio stream through untouched (its packets as stream 1).
    ``refine``: gradient steps on each frame's latent before quantizing (slower encode, fewer bits
    for the same quality; see :mod:`vidcodec.codec.refine`).
    ``subpel``: ``"learned"`` predicts moving deltas with the model's learned sub-pixel predictor
    where it has one (format 10.0, :mod:`vidcodec.codec.subpel`), ``"bilinear"`` with quarter
    vectors and bilinear interpolation only (less encoding and decoding time, more bits where the
    camera pans).
    ``preset``: ``"auto"`` (the default: :func:`~vidcodec.codec.resolve_preset`, ``"medium"`` where a
    GPU or a CPU with AMX makes its pictures cheaply, else ``"fast"``), ``"medium"``, or ``"fast"``,
    which never weighs keeping the learned prediction's fraction (format 14.0's fine deltas, chosen by
    synthesizing two pictures): a third to a half less CPU time where the camera moves, for a few
    per cent more bits there (:data:`PRESETS`).
    ``colour``: fit a colour correction on each keyframe and again every :data:`COLOUR_REFRESH`
    frames, which the decoder applies after the synthesis (format 11.0, :mod:`vidcodec.codec.colour`;
    one more synthesis each time). With ``workers`` > 1 they are fitted in this process on the
    latents the workers send back: the same stream as one process codes.
    ``start`` (seconds): begin at the first frame that far after the input's first, as FFmpeg's input
    ``-ss`` does (the input seeks where it can; a pipe is decoded up to it): its timestamp becomes the
    input's first one, and audio that begins before it is dropped. ``duration`` (seconds): code the
    frames that begin less than this long after the first one coded, as FFmpeg's ``-t``.
    ``prefilter``: code each keyframe of the ``gop`` grid (VAE-GAN mode, ``gop`` > 1) from a copy whose
    still pixels are averaged with the next frames' (:mod:`vidcodec.codec.prefilter`; holds
    :data:`~vidcodec.codec.prefilter.LOOKAHEAD` frames back at each keyframe: latency that a live
    stream may rather not have).
    ``stop``: once it is set, the input ends before its next frame is read, as if it had ended there:
    the frames already read are coded and written (a keyframe's prefilter lookahead included) and the
    stream is finished; a read already waiting on a live pipe ends first (when the next frame comes or
    the pipe closes). ``vidcodec encode`` sets it at the first Ctrl-C (and interrupts 3 s later).
    ``workers`` > 1: GOPs entropy-coded side by side in that many worker processes (for machines with
    cores to spare; not with ``bitrate``, ``refine`` or ``mode="gan"``): keyframes stay on multiples of
    ``gop``, scene cuts included, and the workers never keep a learned prediction's fraction (format
    14.0's fine deltas, which need the synthesis only this process has), so with ``preset="medium"``
    the stream is a little larger than one process writes (the same with ``preset="fast"``, scene cuts
    aside).

    ``mode="gan"`` codes each frame as the latent of a generator found by search
    (:mod:`vidcodec.codec.gan`; ``model`` defaults to the shipped generator): ``search_iters`` caps
    each delta frame's search (keyframes: 4×), ``latent_bits`` quantizes the deltas and
    ``key_bits`` the keyframes' latents, ``gop_batch`` searches that many GOPs side by side.
    ``gan_layer``: ``"z"`` (or None) searches the generator's input latent (the seed's method, format 5.0
    streams); ``N`` its N × N feature map, each frame a sparse correction of at most ``coeffs``
    values (keyframes 3×) on the previous one (format 6.0; better pictures, more bytes).
    A warning is logged when a keyframe is far outside the generator's domain.

    ``dst`` may also be a ``tcp://`` or ``udp://`` URL (:mod:`vidcodec.network`; the stream header is
    then repeated before every keyframe). ``realtime``: read the input at its own pace, each frame when
    its time has come counted from the first (ffmpeg's ``-re``: a file served to receivers as if live).
    """
    zoo.check_backend(backend)
    check_flags(realtime=realtime, overwrite=overwrite, progress=progress)
    src, dst = _as_path(src), _as_path(dst)
    given_frames = arrays.is_frames(src)
    if not isinstance(src, (str, Path)) and not given_frames:
        raise UsageError(f"encode reads a path, '-' for stdin (stdin= takes a binary file object), or frames as "
                         f"arrays, not a {type(src).__name__}")
    if given_frames:
        arrays.check_frames(src)
        refused = [name for name, given in (("stdin=", stdin is not None), ("raw=", raw is not None),
                                            ("network_timeout=", network_timeout is not None)) if given]
        if refused:
            raise UsageError(f"{', '.join(refused)}: for an input read from stdin, a pipe or a URL; frames given "
                             "as arrays take framerate= (and start=) only")
    # Every argument is checked before the output is opened: a bad one must not cost an existing file.
    quality, gop, max_frames = _whole("quality", quality), _whole("gop", gop), _whole("max_frames", max_frames)
    workers, refine, gop_batch = _whole("workers", workers), _count("refine", refine), _count("gop_batch", gop_batch)
    latent_bits, key_bits = _whole("latent_bits", latent_bits), _count("key_bits", key_bits)
    search_iters, coeffs = _count("search_iters", search_iters), _count("coeffs", coeffs)
    if coder not in (None, "ans", "elias"):
        raise UsageError(f"coder must be 'ans' or 'elias' (got {coder!r})")
    if model is not None and not isinstance(model, str):
        raise UsageError(f"model must be an installed model's name (got {model!r})")
    if stdin is not None:
        stdin = _binary_input(stdin)
        if str(src) != "-":
            raise UsageError(f"stdin= is read when the input is '-'; the input here is {src}: give '-' to read "
                             f"stdin=, or leave stdin= out")
    if not given_frames and str(src) == "-" and stdin is None:
        stdin = container.std_bytes("stdin")
    if stop is not None and not callable(getattr(stop, "is_set", None)):
        raise UsageError(f"stop must be a threading.Event (got {type(stop).__name__})")
    if latent_bits is not None:
        if coder != "elias" and mode != "gan":
            raise UsageError("--latent-bits sets the QSGD bits of --coder elias or --mode gan; the default coder "
                             "quantizes by --quality")
        if not qsgd.MIN_BITS <= latent_bits <= qsgd.MAX_BITS:
            raise UsageError(f"--latent-bits must be {qsgd.MIN_BITS} to {qsgd.MAX_BITS} (got {latent_bits})")
    if subpel not in SUBPEL_MODES:
        raise UsageError(f"--subpel must be one of {', '.join(SUBPEL_MODES)} (got {subpel!r})")
    if preset not in PRESETS:
        raise UsageError(f"--preset must be one of {', '.join(PRESETS)} (got {preset!r})")
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)} (got {mode!r})")
    if model is None:
        model = DEFAULT_GAN_MODEL if mode == "gan" else zoo.DEFAULT_MODEL
    layer = parse_gan_layer(gan_layer)
    if latent_bits is None:
        latent_bits = gan_latent_bits(layer) if mode == "gan" else 4
    # medium, the default until auto (2026-12-07), stays accepted where a preset changes nothing
    named_preset = preset not in (AUTO_PRESET, "medium")
    if coder == "elias" and (subpel != SUBPEL_MODES[0] or named_preset):
        raise UsageError("--subpel and --preset set how deltas are predicted and weighed: --coder elias codes every "
                         "frame as a keyframe (QSGD), so they would change nothing")
    if mode == "gan" and coder == "ans":
        raise UsageError("--mode gan codes its latents with Elias codes (QSGD): --coder ans is for --mode vaegan")
    if coder is None:
        coder = "ans"  # vaegan's default; the GAN mode always codes with Elias codes
    if mode == "gan" and (bitrate is not None or refine):
        raise UsageError("--mode gan takes neither --bitrate nor --refine (its rate is set by --latent-bits, "
                         "--key-bits, --gan-layer, --coeffs and --gop)")
    # Options of the other mode would be ignored without a word: refused instead.
    if mode == "gan":
        other = [flag for flag, given in (("--quality", quality is not None), ("--subpel", subpel != SUBPEL_MODES[0]),
                                          ("--preset", named_preset),
                                          ("--no-colour", not colour), ("--no-prefilter", not prefilter)) if given]
        if other:
            raise UsageError(f"{', '.join(other)}: for --mode vaegan only (--mode gan's rate is set by "
                             "--latent-bits, --key-bits, --gan-layer, --coeffs and --gop)")
        if layer is None and coeffs != DEFAULT_GAN_COEFFS:  # the latent alone is coded: no feature map to correct
            raise UsageError("--coeffs is the sparse correction of a --gan-layer feature map: not with --gan-layer z")
        if backend not in (zoo.AUTO, "torch"):  # the generator is searched through torch: there is no other
            raise UsageError(f"--backend {backend}: --mode gan runs its generator in torch (its search needs "
                             "gradients); leave --backend out")
    else:
        other = [flag for flag, given in (("--search-iters", search_iters != DEFAULT_SEARCH_ITERS),
                                          ("--key-bits", key_bits != DEFAULT_KEY_BITS),
                                          ("--gan-layer", layer != parse_gan_layer(DEFAULT_GAN_LAYER)),
                                          ("--coeffs", coeffs != DEFAULT_GAN_COEFFS), ("--gop-batch", gop_batch != 1))
                 if given]
        if other:
            raise UsageError(f"{', '.join(other)}: for --mode gan only")
    if gop is not None and not 1 <= gop <= container.MAX_GOP:
        raise UsageError(f"--gop must be 1 to {container.MAX_GOP} frames (1 = every frame is a keyframe; got {gop})")
    if gop_batch < 1:
        raise UsageError(f"--gop-batch must be at least 1 (got {gop_batch})")
    if refine < 0:
        raise UsageError(f"--refine must be >= 0 (got {refine})")
    check_workers(workers)
    if workers > 1 and (bitrate is not None or refine or mode == "gan"):
        raise UsageError("--workers codes GOPs side by side: not with --bitrate (its buffer runs across GOPs), "
                         "--refine or --mode gan (use --gop-batch there)")
    if bitrate is not None and coder != "ans":
        raise UsageError("--bitrate works with the default coder (ans), not --coder elias")
    for name, value, unit in (("--bitrate", bitrate, "kbit/s"), ("--bufsize", bufsize, "kbit")):
        if value is not None and not (isinstance(value, numbers.Real) and not isinstance(value, bool)
                                      and value > 0 and math.isfinite(value)):
            raise UsageError(f"{name} must be a positive number of {unit} (got {value!r})")
    bitrate = None if bitrate is None else float(bitrate)
    bufsize = None if bufsize is None else float(bufsize)
    if bitrate is not None and quality is not None:
        raise UsageError("give --quality or --bitrate, not both: with --bitrate the quality is chosen per GOP")
    if bufsize is not None and bitrate is None:
        raise UsageError("--bufsize is the rate control's buffer: it needs --bitrate")
    max_frames = _max_frames(max_frames)
    if max_frames is not None:
        max_frames = min(max_frames, sys.maxsize)  # any more is "all of them" (islice's limit)
    start = _seconds(start)
    duration = _duration(duration)
    framerate = frame_rate(framerate)
    send_to = None  # a tcp:// or udp:// output, opened once the input is
    network.refuse_other_url(dst, "encode")
    if isinstance(dst, str) and network.is_network_url(dst):
        network.check_output(dst, repeat_header)  # the caller's error, before anything is opened
        send_to, dst, repeat_header = dst, None, True
    elif isinstance(dst, (str, Path)):
        if not given_frames and _same_file(src, dst):  # overwriting would truncate the input while it is being read
            raise UsageError(f"{dst} is also the input; give a different output path")
        media.refuse_media_name(dst, "encode writes a .gvc stream")
        if not given_frames:
            media.check_input_first(src)  # a missing input is said before an output that exists
        _check_output(dst, overwrite)
        if str(dst) == "-":
            dst = container.std_bytes("stdout")
    dst = _binary_output(dst) if not isinstance(dst, (str, Path)) and send_to is None else dst
    refuse_terminal(dst)
    t0 = time.perf_counter()
    writers: list[container.GvcWriter] = []  # the output's, once opened
    warm = None
    if (backend == zoo.AUTO and mode == "vaegan" and not given_frames and (str(src) == "-" or is_url(src))
            and duration is None
            and (max_frames is None or max_frames >= zoo.BF16_MIN_FRAMES)):
        # A pipe or a live URL that keeps the encoder waiting for its first frame: torch's import for
        # bfloat16 (auto's choice for an input of unknown length) goes on meanwhile; one whose frames
        # come at once, or that fails, never starts it
        warm = threading.Timer(WARM_AFTER_S, zoo.warm_bf16)
        warm.daemon = True
        warm.start()
    with contextlib.ExitStack() as stack:
        stack.push(lambda kind, err, tb: _drop_frameless(dst, writers, err, stop))
        try:
            source = stack.enter_context(
                arrays.ArraySource(src, framerate, start) if given_frames
                else media.open_source(src, stdin=stdin, raw=raw, audio=audio, start=start, framerate=framerate,
                                       timeout=network_timeout, stop=stop))
        finally:
            if warm is not None:
                warm.cancel()
        if send_to is not None:  # a listening one waits here for its first receiver
            dst = stack.enter_context(network.open_output(send_to, stop=stop))
        total = _expected_frames(source, max_frames, duration)
        m = zoo.load(model, backend=backend, frames=total)  # auto: not bf16 for a few frames (its import)
        if m.kind != "pgan":
            chosen, preset = preset, resolve_preset(preset)
            weighs = "" if coder == "elias" else f", preset {preset}{' (auto)' if chosen == AUTO_PRESET else ''}"
            log.debug("encoding with model %s (%s), backend %s%s%s", m.name, m.sha256[:12], m.backend,
                      " (auto)" if backend == zoo.AUTO else "", weighs)
        if (m.kind == "pgan") != (mode == "gan"):
            raise UsageError(f"model {m.name} is a {'GAN generator' if m.kind == 'pgan' else 'VAE-GAN model'}: "
                             f"use it with --mode {'gan' if m.kind == 'pgan' else 'vaegan'}")
        if gop is None:
            gop = default_gop(mode)
        if mode == "gan":
            return _encode_gan(source, dst, m, t0, stop, writers, gop=gop, latent_bits=latent_bits, key_bits=key_bits,
                               search_iters=search_iters, gop_batch=gop_batch, max_frames=max_frames,
                               progress=progress, repeat_header=repeat_header, gan_layer=layer, coeffs=coeffs,
                               duration=duration, realtime=realtime)
        if quality is None:
            quality = m.default_quality
        if bitrate is not None:
            quality = 1  # the rate controller chooses the level of every GOP, the first one included
        else:
            check_quality(quality, m)
        rate = None
        if bitrate is not None:
            fps = float(source.frame_rate) if source.frame_rate else 0.0
            rate = RateController(bitrate, fps, gop, m.levels, bufsize, frames=total)
        refiner = None
        if refine:
            from .codec.refine import Refiner

            refiner = Refiner(m, refine)
        # Format 10.0: deltas move the latent with the model's learned sub-pixel predictor when it has one
        # (the header names its table); otherwise with quarter vectors and bilinear prediction.
        predictor = m.subpel if coder == "ans" and subpel == "learned" else None
        # Format 11.0 colour corrections: fitted on each keyframe and refitted every COLOUR_REFRESH frames
        # (with --workers, here on the latents the workers send back: vidcodec.gopencode).
        fitter = (colour_mod.Fitter(m.synthesize, source.width, source.height, refresh=COLOUR_REFRESH)
                  if colour else None)
        encoder = FrameEncoder(m, quality - 1, coder=coder, gop=gop, latent_bits=latent_bits, rate=rate,
                               refiner=refiner, predictor=predictor, colour=fitter, fine=preset != "fast")
        c, h, w = m.latent_channels, -(-source.height // m.downscale), -(-source.width // m.downscale)
        header = _header(source, m, max_frames=max_frames, coder=container.Coder[coder.upper()],
                         mode=container.Mode.VAEGAN, quality=quality, latent_shape=(c, h, w), gop=gop,
                         duration=duration)
        if predictor is not None:
            header.extensions[container.EXT_SUBPEL] = predictor.tag
        tally = _Tally()
        levels: dict[int, int] = {}
        chunks = None
        if workers > 1:  # the worker processes are forked now, before the threads below start
            from .gopencode import ChunkEncoder

            def make() -> FrameEncoder:
                return FrameEncoder(m, quality - 1, coder=coder, gop=gop, latent_bits=latent_bits,
                                    predictor=predictor)

            chunks = stack.enter_context(ChunkEncoder(make, gop, workers, COLOUR_REFRESH if fitter else None))
        # Threads: demux, colour conversion + the analysis network (m.frame_lanes frames at once), then
        # coding and writing here (or, with workers, in worker processes a GOP at a time).
        frames_in = _within(_until(source, stop, source.time_base if realtime else None), duration,
                            source.time_base)
        if max_frames is not None:
            frames_in = itertools.islice(frames_in, max_frames)
        if prefilter:
            frames_in = prefilter_mod.keyframes(frames_in, gop)
        # encode_latent's x: for --refine, the colour fits and (format 14.0, with the learned predictor)
        # the choice of fine deltas, which weighs synthesized pictures against it
        keep = chunks is None and (refiner is not None or fitter is not None or encoder.unit > 1)
        analysed = pipeline.parallel(pipeline.stage(frames_in, name="vidcodec-demux"),
                                     lambda f: _analyse(m, f, keep),
                                     m.frame_lanes(source.width, source.height), name="vidcodec-analysis",
                                     nice=ANALYSIS_NICE)
        if repeat_header is None:
            repeat_header = _is_live(dst)
        if chunks is not None:
            coded_frames = _chunk_coded(chunks, analysed, encoder)
        else:
            coded_frames = (((f.pts, f.index), *_coded(encoder.encode_latent(y, x))) for f, x, y in analysed)
        with contextlib.closing(analysed), _writer(dst, header, repeat_header, writers) as writer, \
                progress_bar(total, "encode", progress) as bar:
            audio = _AudioGate(writer, source)
            tally.audio_bytes += _audio_description_bytes(header)  # the file header's
            if rate is not None:  # the file's own bytes count against the target, as the summary counts them
                rate.spend(8 * (writer.bytes_written - _audio_description_bytes(header)
                                + container.INDEX_HEADER_SIZE + container.FOOTER_SIZE))
            for (pts, index), kind, payload, level, flags in coded_frames:
                tally.audio_bytes += audio.write(source.take_audio(before=index), tally)
                video = _write_video(writer, _KIND_TO_TYPE[kind], pts, payload, flags, tally)
                if rate is not None:  # (a keyframe's index entry with it) at the frame's time
                    rate.update(8 * (video + (container.INDEX_ENTRY_SIZE if kind == KEY else 0)),
                                float(pts * source.time_base))
                tally.add(pts, kind == KEY)
                levels[level + 1] = levels.get(level + 1, 0) + 1
                bar.update(1)
            tally.audio_bytes += audio.finish(tally, stop)
        # A container's count may include a frame or two that its edit list hides (motion.mov, movie-hello):
        # only a larger shortfall is worth a warning.
        # (with --duration, what the container announces is not what was asked for)
        announced = (total if source.frame_count and duration is None and not (stop is not None and stop.is_set())
                     else None)
        # (the edited length, where the duration says less: a stream-copied cut's edit list hides a GOP's start)
        least = min(announced, source.frames_by_duration or announced) if announced else None
        # (in an AVI, the frames the time from the first to the end of the last holds: its count includes
        # the frames it dropped, empty chunks, so a variable rate there has fewer frames but reaches its end;
        # not elsewhere, where a variable rate cut in a burst of frames can still reach near its end)
        spanned = (round(tally.duration(source) * source.frame_rate)
                   if source.frame_rate and getattr(source, "counts_dropped_frames", False) else tally.frames)
        if least and max(tally.frames, spanned) < least - max(2, least // 100):
            log.warning("%s ended after %d of the %d frames its container announces (a truncated or damaged "
                        "file?); the stream holds the %d", source.name, tally.frames, announced, tally.frames)
        size = writer.bytes_written
        if encoder.unit > 1 and chunks is None:
            log.debug("fine predictions (format 14.0): %d of the %d deltas weighed by their pictures",
                      encoder.fine_choices[1], sum(encoder.fine_choices))
        if rate is not None:
            rate.finish()
    return EncodeStats(tally.frames, tally.keys, size, source.width, source.height, _coding_time(t0, dst),
                       tally.duration(source), dict(sorted(levels.items())),
                       [(lv + 1, n, int(b)) for lv, n, b in rate.history] if rate else [], tally.audio_bytes)


# Frames between colour refits. 250 frames at quality 5 of two training clips, PSNR against no
# correction: wannaworktogether (fades, new shots inside a GOP) keyframes only -0.96 dB, every 10 /
# 25 / 50 frames +0.25 / +0.32 / -0.11 dB; motion.mov +0.35 dB, every 10 / 25 +0.73 / +0.56 dB
# (24 bytes each time a refit pays). With the rate rule (colour.COST_FACTOR), 40 frames, every level,
# PSNR / MS-SSIM BD-rate of 6 against 12: motion.mov -0.7 / +0.0 %, carphone +0.1 / -0.1 %, bikes
# -0.5 / +0.1 %, wannaworktogether -55 / -41 % (a fade-in from black in the first GOP, which the
# refit on the source's colour drift, colour.MEAN_SHIFT, now catches at 12).
COLOUR_REFRESH = 12
# The analysis threads run this much nicer than the rest: they are a few frames ahead of the coder,
# whose one thread (deltas, the fine-delta pictures) sets the pace once they are fast enough, and it
# got their core when both wanted it. 351 frames of diver at 640x360, two alternating rounds, the same
# bytes: --backend int8 19.5 / 20.5 -> 22.8 / 22.5 fps, ort 17.0 / 17.0 -> 17.6 / 17.7 (nice 10).
ANALYSIS_NICE = 10


def _coded(coded) -> tuple[str, bytes, int, int]:
    return coded.kind, coded.payload, coded.level, coded.flags


def parse_gan_layer(value: int | str | None) -> int | None:
    """``"z"`` (or None) → None; ``"8"`` or 8 → 8 (UsageError otherwise)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "z"):
        return None
    try:  # a whole number: 8.5 had become 8
        n = int(value) if isinstance(value, str) else operator.index(value)  # type: ignore[arg-type]
        if isinstance(value, bool):
            raise TypeError
    except (TypeError, ValueError):
        raise UsageError(f"--gan-layer must be z or a feature-map size such as 8 (got {value!r})") from None
    if n < 4 or n & (n - 1):
        raise UsageError(f"--gan-layer must be z or a power of two from 4 up to the generator's size (got {n})")
    return n


def _header(source: media.VideoSource, m, *, max_frames: int | None, coder: container.Coder, mode: container.Mode,
            quality: int, latent_shape: tuple[int, int, int], gop: int,
            duration: Fraction | None = None) -> container.StreamHeader:
    """The stream header of an encode of ``source`` with model ``m``; with a ``duration`` its frame count
    is unknown (0) until the writer knows it: a count estimated from the rate could be wrong (variable
    frame rates), and a pipe's header is not rewritten."""
    count = min(source.frame_count, max_frames) if max_frames is not None else source.frame_count
    return container.StreamHeader(
        width=source.width,
        height=source.height,
        time_base=_ratio(source.time_base),
        frame_rate=_ratio(source.grid_rate) if source.grid_rate else (0, 0),
        frame_count=0 if duration is not None else count,
        model_name=m.name,
        model_hash=bytes.fromhex(m.sha256),
        coder=coder,
        mode=mode,
        quality=quality,
        latent_shape=latent_shape,
        gop=gop,
        colour_matrix=source.color_matrix,
        colour_range=source.color_range,
        extensions=_extensions(source),
    )


def sample_aspect_terms(sar: Fraction) -> Fraction:
    """The nearest ratio of terms 1 ... 65535 (the format's) to ``sar`` (halving both terms of 70000:1 had
    made it 35000:1)."""
    sar = min(max(sar, Fraction(1, 65535)), Fraction(65535))
    return sar.limit_denominator(65535) if sar <= 1 else 1 / (1 / sar).limit_denominator(65535)


def _extensions(source: media.VideoSource) -> dict[int, bytes]:
    """Header extensions of an encode: the audio track, the pixels' aspect ratio (when not square;
    a ratio past u16 terms is brought within them), the source's chroma subsampling (what a decode
    writes by default), its colour primaries and transfer when it says either (what a decode tags)."""
    out = {}
    chroma = source.chroma_subsampling
    if chroma is not None:
        out[container.EXT_CHROMA] = bytes(chroma)
    primaries, transfer = getattr(source, "color_primaries", 2), getattr(source, "color_trc", 2)
    if primaries in container.PRIMARIES and transfer in container.TRANSFERS and (primaries, transfer) != (2, 2):
        out[container.EXT_COLOUR] = bytes((primaries, transfer))  # one or both said (and known code points)
    if source.audio_track is not None:
        out[container.EXT_AUDIO] = source.audio_track.to_bytes()
    if source.sample_aspect is not None:
        sar = sample_aspect_terms(source.sample_aspect)
        out[container.EXT_SAMPLE_ASPECT] = struct.pack("<II", sar.numerator, sar.denominator)
    return out


DOMAIN_MARGIN_DB = 6.0  # GAN mode: warn when a keyframe is this far below the generator's in-domain PSNR


def _encode_gan(source: media.VideoSource, dst, m, t0: float, stop: threading.Event | None,
                writers: list[container.GvcWriter], *, gop: int,
                latent_bits: int, key_bits: int,
                search_iters: int, gop_batch: int, max_frames: int | None, progress: bool,
                repeat_header: bool | None, gan_layer: int | None, coeffs: int,
                duration: Fraction | None = None, realtime: bool = False) -> EncodeStats:
    """The GAN-mode encode loop (see :func:`encode`)."""
    from .codec import gan

    encoder = gan.GanFrameEncoder(m, gop=gop, latent_bits=latent_bits, key_bits=key_bits,
                                  search_iters=search_iters, layer=gan_layer, coeffs=coeffs)
    header = _header(source, m, max_frames=max_frames, coder=container.Coder.ELIAS, mode=container.Mode.GAN,
                     quality=1, latent_shape=encoder.state_shape, gop=gop, duration=duration)
    total = _expected_frames(source, max_frames, duration)
    frames_in = _within(_until(source, stop, source.time_base if realtime else None), duration, source.time_base)
    if max_frames is not None:
        frames_in = itertools.islice(frames_in, max_frames)
    if gop_batch > 1:  # whole GOPs searched side by side: packets come out a batch of GOPs at a time
        def code(chunk: list[media.VideoFrame]) -> tuple[list[media.VideoFrame], list[gan.GanFrame]]:
            return chunk, encoder.encode_gops([f.rgb for f in chunk])
    else:  # frame by frame: every packet is written as soon as its frame is coded (live streams)
        def code(chunk: list[media.VideoFrame]) -> tuple[list[media.VideoFrame], list[gan.GanFrame]]:
            return chunk, [encoder.encode(chunk[0].rgb)]
    batches = pipeline.stage(_chunks(pipeline.stage(frames_in, name="vidcodec-demux"), min(gop * gop_batch, sys.maxsize)
                                     if gop_batch > 1 else 1), code, name="vidcodec-search", depth=1)
    if repeat_header is None:
        repeat_header = _is_live(dst)
    tally = _Tally()
    warned = False
    with contextlib.closing(batches), _writer(dst, header, repeat_header, writers) as writer, \
            progress_bar(total, "encode (gan)", progress) as bar:
        audio = _AudioGate(writer, source)
        tally.audio_bytes += _audio_description_bytes(header)
        for chunk, coded in batches:
            for frame, c in zip(chunk, coded):
                tally.audio_bytes += audio.write(source.take_audio(before=frame.index), tally)
                _write_video(writer, _KIND_TO_TYPE[c.kind], frame.pts, c.payload, 0, tally)
                tally.add(frame.pts, c.kind == KEY)
                if c.kind == KEY and not warned and m.domain_psnr and c.latent_psnr < m.domain_psnr - DOMAIN_MARGIN_DB:
                    warned = True
                    log.warning("frame %d looks far outside the domain of generator %s (%s): its latent reaches "
                                "PSNR %.1f dB at %d×%d, where frames of its domain reach about %.1f dB; expect a "
                                "poor picture, or encode with --mode vaegan", tally.frames - 1, m.name, m.domain,
                                c.latent_psnr,
                                m.resolution, m.resolution, m.domain_psnr)
                bar.update(1)
        tally.audio_bytes += audio.finish(tally, stop)
    return EncodeStats(tally.frames, tally.keys, writer.bytes_written, source.width, source.height,
                       _coding_time(t0, dst), tally.duration(source), {1: tally.frames},
                       audio_bytes=tally.audio_bytes)


def _audio_description_bytes(header: container.StreamHeader) -> int:
    """Bytes of a stream header (or of a parameters packet repeating it) that describe the audio
    track: counted as audio, not against the video's --bitrate (a PCM track's description alone can
    be kilobytes, repeated before every keyframe of a live stream)."""
    data = header.extensions.get(container.EXT_AUDIO)
    return 0 if data is None else len(data) + container.EXTENSION_HEADER_SIZE


def _write_video(writer: container.GvcWriter, kind: container.PacketType, pts: int, payload: bytes, flags: int,
                 tally: _Tally) -> int:
    """Write a video packet; return its bytes, with those of the parameters packet written before it
    (``repeat_header``) less their audio description, which ``tally`` counts as audio."""
    before = writer.bytes_written
    offset = writer.write_packet(kind, pts, payload, flags=flags)
    audio = _audio_description_bytes(writer.header) if offset > before else 0
    tally.audio_bytes += audio
    return writer.bytes_written - before - audio


def _coding_time(t0: float, dst: object) -> float:
    """Seconds since ``t0`` but the time a listening network output waited for its first receiver (the
    summary's fps is the encoder's, not the audience's)."""
    return time.perf_counter() - t0 - getattr(dst, "waited", 0.0)


def _within(frames: Iterable[media.VideoFrame], duration: Fraction | None,
            time_base: Fraction) -> Iterator[media.VideoFrame]:
    """``frames`` that begin less than ``duration`` seconds after the first (None: all); the frame
    after the last is read to know, as FFmpeg's ``-t`` does."""
    if duration is None:
        yield from frames
        return
    first = None
    for frame in frames:
        first = frame.pts if first is None else first
        if (frame.pts - first) * time_base >= duration:
            return
        yield frame


def _duration(value: float | Fraction | str | None) -> Fraction | None:
    """A ``-t`` duration in seconds as an exact fraction, above 0 (None: no limit)."""
    if value is None:
        return None
    try:
        t = _time_value(value)
    except (ValueError, OverflowError, TypeError):  # as _seconds refuses them
        t = None
    if not t or t < 0:
        raise UsageError(f"--duration (-t, duration=) must be a time above 0, {FORMS} (got {_start_text(value)})")
    return t


def _until(frames: Iterable[media.VideoFrame], stop: threading.Event | None,
           pace: Fraction | None = None) -> Iterator[media.VideoFrame]:
    """``frames`` until ``stop`` is set (checked before each frame is read; None: all of them); with
    ``pace`` (the frames' time base), each one when its time has come, counted from the first (as
    ffmpeg's ``-re``: :class:`vidcodec.network.Pacer`; a wait ends early when ``stop`` is set)."""
    if stop is None and pace is None:
        yield from frames
        return
    it = iter(frames)
    pacer = network.Pacer(pace, stop) if pace is not None else None
    while stop is None or not stop.is_set():
        try:
            frame = next(it)
        except StopIteration:
            return
        if pacer is not None:
            pacer.wait(frame.pts)
        yield frame


def _chunks(items: Iterator, n: int) -> Iterator[list]:
    """Consecutive lists of ``n`` items (the last one shorter)."""
    it = iter(items)
    while chunk := list(itertools.islice(it, n)):
        yield chunk


def _analyse(m: zoo.CodecModel, f: media.VideoFrame, keep: bool = True,
             ) -> tuple[media.VideoFrame, np.ndarray | None, np.ndarray]:
    """The frame, the float frame the analysis took (``keep``: for a refiner or a colour fitter;
    else None, and the torch backend converts the frame on its device), and its latent."""
    if not keep:
        return f, None, m.analyze_rgb(f.rgb)
    x = to_tensor(f.rgb, m.downscale)
    return f, x, m.analyze(x)[0]


def _chunk_coded(chunks, analysed: Iterator[tuple[media.VideoFrame, np.ndarray | None, np.ndarray]],
                 encoder: FrameEncoder) -> Iterator[tuple[tuple, str, bytes, int, int]]:
    """((pts, index), kind, payload, level, flags) of each analysed frame, coded by the worker
    processes of ``chunks`` (a :class:`vidcodec.gopencode.ChunkEncoder`); with the ``encoder``'s
    colour fitter, the corrections are fitted here, on the samples of the frames kept until their
    chunk comes back, as one encode fits them."""
    fitter = encoder.colour

    def frames() -> Iterator[tuple[tuple, np.ndarray, np.ndarray | None]]:
        for f, _, y in analysed:
            sample = fitter.sample_rgb(f.rgb) if fitter is not None else None
            # the workers are sent the level's channels only (the others are not coded): at the
            # default level 56 of 96, 1.8 instead of 3.1 MB a 1080p frame to pickle, pipe and keep
            # in flight
            yield (((f.pts, f.index), sample), y[: encoder.channels].copy(),
                   colour_mod.source_mean(sample) if sample is not None else None)

    for (tag, sample), kind, payload, level, flags, decoded in chunks.code(frames()):
        if fitter is not None:
            def latent(decoded=decoded) -> np.ndarray:
                if decoded is None:
                    raise AssertionError("a worker's colour schedule and the fitter's disagree")
                return decoded

            coded = encoder.corrected(EncodedFrame(kind, payload, level, flags), latent, sample)
            kind, payload, level, flags = coded.kind, coded.payload, coded.level, coded.flags
        yield tag, kind, payload, level, flags


def _expected_frames(source: media.VideoSource, max_frames: int | None,
                     duration: Fraction | None = None) -> int | None:
    """Frames an encode will code, for the progress bar and the rate controller (None when unknown):
    the container's count, or an estimate from its duration (:attr:`media.VideoSource.estimated_frames`)."""
    total = source.estimated_frames or None  # the container's count where it has one
    if duration is not None and source.frame_rate:
        within = max(1, math.ceil(duration * source.frame_rate))
        total = min(total or within, within)
    if max_frames is not None:
        total = min(total or max_frames, max_frames)
    return total


class _AudioGate:
    """The input's audio packets written as the video reaches their time (:class:`media.HeldAudio`):
    before each frame is written, those that the video written so far reaches among the packets that
    come before that frame in the input (:meth:`media.VideoSource.take_audio`); after the last frame,
    all the rest when the input was read to its end (a song behind a still picture, as ffmpeg keeps
    it), else (--frames, -t, Ctrl-C) only those that start before the video ends."""

    def __init__(self, writer: container.GvcWriter, source: media.VideoSource) -> None:
        self.writer, self.source = writer, source
        track = source.audio_track
        self._held = media.HeldAudio(track.time_base) if track is not None else None
        self._step = 1 / source.frame_rate if source.frame_rate else Fraction(0)

    def write(self, packets: list[media.AudioPacket], tally: _Tally, rest: bool = False) -> int:
        """Hold ``packets``, then write those the video written so far covers (``rest``: all of them,
        the input having ended); the bytes written."""
        if self._held is None:
            return 0
        self._held.hold(packets)
        if tally.last_pts is None:
            return 0
        end = math.inf if rest else self._video_end(tally)
        return sum(_write_audio(self.writer, ap) for ap in self._held.upto(end))

    def _video_end(self, tally: _Tally) -> Fraction:
        return tally.last_pts * self.source.time_base + self._step

    def finish(self, tally: _Tally, stop: threading.Event | None) -> int:
        """After the last frame: the rest of the audio (all of it when the input was read to its end);
        the bytes written. Stopped early by --frames or -t, the input is first read on for the audio
        that starts before the video's end (:meth:`media.VideoSource.read_audio_to`), so that that
        audio does not depend on how far the demuxing had run ahead of the last frame."""
        ended = self.source.ended
        if self._held is not None and tally.last_pts is not None and not ended and not (stop and stop.is_set()):
            self.source.read_audio_to(self._video_end(tally))
        return self.write(self.source.take_audio(), tally, rest=ended)


def _writer(dst: str | Path | BinaryIO, header: container.StreamHeader, repeat_header: bool,
            writers: list[container.GvcWriter]) -> container.GvcWriter:
    """The encode's output stream, kept in ``writers`` (:func:`_drop_frameless`)."""
    writers.append(container.GvcWriter(dst, header, repeat_header=repeat_header))
    return writers[-1]


NOTHING_ENCODED = "before the first frame: nothing encoded"  # an interrupt's note (_drop_frameless)


def _drop_frameless(dst: str | Path | BinaryIO | None, writers: list[container.GvcWriter],
                    err: BaseException | None, stop: threading.Event | None) -> bool:
    """After an encode that wrote no frame (interrupted before its first, its first Ctrl-C included, or
    failed there): its output file, a lone header, is removed (not a named pipe: its reader's), and an
    interrupt says so. One that failed after writing frames to a file (a full disk) says that they are
    kept, as decode does. Returns False (an exception goes on)."""
    if not writers or (err is None and not (stop is not None and stop.is_set())):
        return False
    if writers[0].frames_written:
        kept = writers[0].frames_written
        if (isinstance(err, (VidcodecError, OSError)) and isinstance(dst, (str, Path)) and str(dst) != "-"
                and Path(dst).is_file()):
            outputs.say_kept(dst, kept, "encoded")
        return False
    if isinstance(dst, (str, Path)) and str(dst) != "-" and Path(dst).is_file():
        Path(dst).unlink()
    if isinstance(err, KeyboardInterrupt):
        err.add_note(NOTHING_ENCODED)
    return False


def _write_audio(writer: container.GvcWriter, ap: media.AudioPacket) -> int:
    """Write one audio packet; the bytes it took (container framing included)."""
    before = writer.bytes_written
    writer.write_packet(container.PacketType.KEY, ap.pts, struct.pack("<I", ap.duration) + ap.data,
                        stream_index=container.AUDIO_STREAM)
    return writer.bytes_written - before


def _is_live(dst: str | Path | BinaryIO) -> bool:
    """Whether ``dst`` is a pipe, socket or terminal (not a regular file or an in-memory buffer), a
    named pipe (FIFO) given by its path included."""
    if isinstance(dst, (str, Path)):
        return media.is_named_pipe(dst)  # (not there yet: a file this encode makes)
    try:
        return not stat.S_ISREG(os.fstat(dst.fileno()).st_mode)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


@dataclass
class _Tally:
    """What an encode has written so far: frames, keyframes, and the first and last pts."""

    frames: int = 0
    keys: int = 0
    first_pts: int | None = None
    last_pts: int | None = None
    audio_bytes: int = 0

    def add(self, pts: int, key: bool) -> None:
        self.frames += 1
        self.keys += key
        self.first_pts = pts if self.first_pts is None else self.first_pts
        self.last_pts = pts

    def duration(self, source: media.VideoSource) -> float:
        """Seconds from the first frame to the end of the last (its duration from the frame rate,
        else the mean frame spacing)."""
        first, last, tb = self.first_pts, self.last_pts, source.time_base
        if self.frames == 0 or first is None or last is None:
            return 0.0
        step = float(1 / source.frame_rate) if source.frame_rate else float((last - first) * tb) / max(1, self.frames - 1)
        return float((last - first) * tb) + step


def _ratio(x: Fraction) -> tuple[int, int]:
    return x.numerator, x.denominator


def _fraction(pair: tuple[int, int]) -> Fraction | None:
    return Fraction(*pair) if pair[1] else None


def _frame_decoder(m: zoo.CodecModel | GanModel, hdr: container.StreamHeader) -> FrameDecoder | gan.GanFrameDecoder:
    """The payload decoder for a stream, after checking that its mode and coder suit the model."""
    if hdr.mode == container.Mode.GAN:
        if m.kind != "pgan" or hdr.coder != container.Coder.ELIAS:
            raise CorruptPacketError(f"GAN-mode stream names model {m.name}, which is not a GAN generator, or a "
                                     f"coder other than Elias: the header is inconsistent")
        from .codec import gan

        return gan.GanFrameDecoder(m, tuple(hdr.latent_shape), major=hdr.version[0])
    if m.kind != "vaegan":
        raise CorruptPacketError(f"VAE-GAN-mode stream names model {m.name}, which is a GAN generator: "
                                 f"the header is inconsistent")
    stride = DOWNSCALE  # the analysis's: frames are padded up to its multiples
    want = (-(-hdr.height // stride), -(-hdr.width // stride))
    if tuple(hdr.latent_shape[1:]) != want:  # before any buffer is sized from either
        raise CorruptPacketError(f"the header is inconsistent: {hdr.width}x{hdr.height} frames have a "
                                 f"{want[0]}x{want[1]} latent, the header says {hdr.latent_shape[1]}x"
                                 f"{hdr.latent_shape[2]}; the stream is damaged")
    return FrameDecoder(m, tuple(hdr.latent_shape), coder=hdr.coder.name.lower(), major=hdr.version[0],
                        predictor=_stream_predictor(m, hdr))


def _stream_predictor(m: zoo.CodecModel, hdr: container.StreamHeader):
    """The learned sub-pixel predictor a format 10.0 stream names (None when it names none); the
    model's table must be the one the stream was made with."""
    wanted = container.subpel_table(hdr)
    if wanted is None:
        return None
    have = m.subpel
    if have is None or have.tag.hex() != wanted:
        found = f"its table is {have.sha256[:12]}" if have is not None else "it has none"
        raise ModelNotFoundError(
            f"the stream predicts motion with sub-pixel predictor table {wanted[:12]} of model {m.name}, but "
            f"{found} ({_subpel_path(m)}). Install the vidcodec version that made the stream, or put that "
            f"table beside the model's weights.")
    return have


def _subpel_path(m: zoo.CodecModel) -> str:
    """Where model ``m``'s predictor table belongs."""
    from .codec.subpel import table_path

    return str(table_path(m.info.weights))


def _stream_model(hdr: container.StreamHeader, backend: str = "ort", frames: int | None = None,
                  soon: bool = False) -> zoo.CodecModel | zoo.Handover:
    """The installed model a stream names (ModelNotFoundError if absent), to decode with: ``"auto"``
    is bfloat16 on a CPU with AMX and no CUDA for a stream not known to hold fewer than
    :data:`zoo.BF16_MIN_DECODE_PIXELS` pixels, or with AVX512-BF16 alone and fewer than
    :data:`zoo.BF16_MIN_DECODE_PIXELS_AVX512` (:func:`zoo.resolve_backend`), else ONNX Runtime (what ``int8``
    decodes with too); a stream of unknown length (``frames`` None: a pipe, a live stream) where auto
    would take bfloat16 gets a :class:`zoo.Handover`, ONNX Runtime's model handing over to bfloat16
    once the stream is long, and so does a long one with ``soon`` (a player's, whose first picture
    should not wait for torch's import; nor does any later one: bfloat16 takes over when it is ready). A GAN-mode stream's generator runs in torch whatever ``backend`` says (a
    warning when it names another)."""
    if hdr.mode == container.Mode.GAN and backend not in (zoo.AUTO, "ort", "torch"):
        log.warning("--backend %s: a GAN-mode stream decodes with its generator in torch; ignored", backend)
    if backend != zoo.AUTO:
        return zoo.load(hdr.model_name, hdr.model_hash.hex(), backend="ort" if backend == zoo.INT8 else backend)
    info = zoo.find(hdr.model_name, hdr.model_hash.hex())
    short = zoo.short_decode(frames, hdr.width, hdr.height)
    if (frames is None or (soon and not short)) and (pixels := zoo.decode_handover_pixels(info)) is not None:
        # not known (a pipe, a live stream), or a player's: ONNX Runtime first, bfloat16 once the stream is long
        handover = zoo.Handover(zoo.load(hdr.model_name, hdr.model_hash.hex(), backend="ort"), pixels, wait=not soon)
        log.debug("decoding with model %s, backend ort (auto), bf16 from %d pixels on (%s)", hdr.model_name,
                  handover.switch_at, "the stream's length is not known" if frames is None else "a player's")
        return handover
    # ``frames``: the frames to synthesize, where known
    resolved = zoo.resolve_backend(backend, info, short=short, decode=True)
    try:
        return zoo.load(hdr.model_name, hdr.model_hash.hex(), backend=resolved)
    except (UsageError, ImportError, RuntimeError, OSError) as e:  # auto's choice, not the user's: say, go on
        if resolved == "ort":
            raise
        log.warning("decoding with ONNX Runtime: the %s synthesis could not be set up (%s)", resolved, e)
        return zoo.load(hdr.model_name, hdr.model_hash.hex(), backend="ort")


@dataclass
class _Pending:
    """A frame parsed and entropy-decoded, not yet synthesized.

    ``latent`` is the frame's latent, or for a concealed frame the last good latent (None if there
    was none yet), which :func:`_render` uses only when no frame has been output before.
    """

    pts: int
    key: bool
    concealed: bool
    latent: np.ndarray | None
    size: int = 0  # payload bytes of the packet (0 for concealed frames)
    colour: colour_mod.Correction | None = None  # the colour correction in force for ``latent`` (format 11.0)


class Renderer:
    """Turns parsed frames into pictures: synthesizes decoded latents, and conceals lost frames by
    repeating the last picture (else the last good latent, synthesized, else mid-grey)."""

    def __init__(self, m: zoo.CodecModel, width: int, height: int) -> None:
        self.m, self.width, self.height = m, width, height
        self.last: np.ndarray | None = None  # the last picture returned

    def __call__(self, p: _Pending, picture: np.ndarray | None = None) -> np.ndarray:
        """The frame's picture; ``picture``: its synthesis when already made (see :func:`_render`)."""
        if not p.concealed:
            self.last = picture if picture is not None else self.m.picture(p.latent, self.width, self.height,
                                                                            p.colour)
        elif self.last is None:
            self.last = (np.full((self.height, self.width, 3), 128, np.uint8) if p.latent is None
                         else self.m.picture(p.latent, self.width, self.height, p.colour))
        return self.last


def synthesized(pending: Iterator[_Pending | media.AudioPacket], m: zoo.CodecModel, width: int, height: int,
                skip: Callable[[_Pending], bool] | None = None,
                ) -> Iterator[tuple[_Pending | media.AudioPacket, np.ndarray | None]]:
    """(item, picture) for each parsed item, in order: the synthesized picture of each frame that has
    a latent of its own, None for concealed frames, audio packets, and frames for which ``skip``
    (asked in a worker thread just before synthesis) says yes. Frames go through the network
    ``m.frame_lanes`` at a time, in worker threads (a frame's picture depends on its latent alone).
    ``m`` may be a :class:`zoo.Handover`, whose ONNX Runtime model hands over to bfloat16 part way."""
    pick = m.picker(width, height) if isinstance(m, zoo.Handover) else None

    def chosen() -> Iterator[tuple[_Pending | media.AudioPacket, zoo.CodecModel]]:
        for p in pending:  # in stream order: which model synthesizes a frame depends on the stream alone
            yield p, (pick() if pick is not None and isinstance(p, _Pending) else m)

    def synthesize(item: tuple[_Pending | media.AudioPacket, zoo.CodecModel],
                   ) -> tuple[_Pending | media.AudioPacket, np.ndarray | None]:
        p, model = item
        wanted = isinstance(p, _Pending) and not p.concealed and not (skip is not None and skip(p))
        return p, (model.picture(p.latent, width, height, p.colour) if wanted else None)

    lanes = m.frame_lanes(width, height)
    return pipeline.parallel(chosen(), synthesize, lanes, name="vidcodec-synthesis")


def _render(pending: Iterator[_Pending | media.AudioPacket], m: zoo.CodecModel, width: int,
            height: int, time_base: Fraction | None = None) -> Iterator[DecodedFrame | media.AudioPacket]:
    """DecodedFrames of the parsed frames (see :class:`Renderer`); audio packets pass through.

    Frames are synthesized ahead, ``m.frame_lanes`` at a time (:func:`synthesized`); concealment, which
    repeats the previous picture, runs here, in order."""
    render = Renderer(m, width, height)
    index = 0
    with contextlib.closing(synthesized(pending, m, width, height)) as pictures:
        for p, picture in pictures:
            if isinstance(p, media.AudioPacket):
                yield p
                continue
            rgb = render(p, picture)
            yield DecodedFrame(rgb.copy() if p.concealed else rgb, p.pts, index, p.key, p.concealed, time_base)
            index += 1


MAX_GAP_FRAMES = 10_000  # at most this many concealed frames fill one pts gap left by damage


@dataclass
class _Counts:
    """Running totals of a decode: damaged regions met (the concealed frames are counted where they are
    written: the parser also meets frames before --start and past --frames)."""

    damaged: int = 0


# A decode to MP4 or MOV starts at the audio where it leads the first frame by this much or more (seconds):
# less is an encoder's priming (AAC's 1024-2112 samples, 0.26 s at 8 kHz) or the packets an encode keeps
# ahead of its start to warm a decoder up (media.KEPT_DISCARDED_AUDIO_S), which those files hide.
LEADING_AUDIO_S = Fraction(3, 10)


def _audio_before_first_frame(decoded: Iterator[DecodedFrame | media.AudioPacket], held: list[media.HeldAudio],
                              clock: list[tuple[Fraction, Fraction]]) -> Iterator[DecodedFrame | media.AudioPacket]:
    """``decoded`` with the audio packets that follow its first frame in the stream but start before it
    moved ahead of it (an encoder writes a stream's leading audio after its first frame), so that the
    decode knows, at its first frame, where the audio begins."""
    for item in decoded:
        if isinstance(item, media.AudioPacket):
            yield item
            continue
        after = None
        for nxt in decoded:
            if isinstance(nxt, media.AudioPacket) and held and \
                    nxt.pts * held[0].time_base < item.pts * clock[0][0]:
                yield nxt
                continue
            after = nxt
            break
        yield item
        if after is not None:
            yield after
        yield from decoded
        return


def _frame_step(hdr: container.StreamHeader) -> Fraction | None:
    """One frame's duration in pts units from the header's frame rate (None when unknown)."""
    (rn, rd), (tn, td) = hdr.frame_rate, hdr.time_base
    return Fraction(rd * td, rn * tn) if rn and rd else None


def _exact(value: float | Fraction | str) -> Fraction:
    """``value`` as an exact fraction, floats (numpy's too) by their shortest repr: 0.3 is 3/10.
    Raises what Fraction raises for what is not a finite number (TypeError for a bool)."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a number")
    if isinstance(value, numbers.Integral):  # numpy's too: Fraction(np.int64(30)) keeps numpy's numerator
        value = int(value)
    elif isinstance(value, numbers.Rational):  # Fraction(np.int64(30000), np.int64(1001)) too
        value = Fraction(int(value.numerator), int(value.denominator))
    elif isinstance(value, numbers.Real):
        value = float(value)
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def _time_value(value: float | Fraction | str) -> Fraction:
    """A time as :func:`_exact` reads a number, or a string as ``[HH:]MM:SS[.frac]`` too
    (:func:`vidcodec.timespec.parse_time`; not for frame rates, whose "a:b" is a ratio)."""
    if isinstance(value, str) and ":" in value:
        return parse_time(value.strip())
    return _exact(value)


def _seconds(value: float | Fraction | str | None) -> Fraction | None:
    """A time in seconds as an exact fraction (floats by their shortest repr: 0.3 is 3/10)."""
    if value is None:
        return None
    try:
        t = _time_value(value)
    except (ValueError, OverflowError, TypeError):  # nan, inf, or not a number
        raise UsageError(f"--start (start=) must be {FORMS} (got {_start_text(value)})") from None
    if t < 0:
        raise UsageError(f"--start must not be negative (got {_start_text(value)})")
    return t


def frame_rate(value: float | Fraction | str | None) -> Fraction | None:
    """A frame rate as given (``"30000/1001"``, 25, 23.976) as an exact fraction, checked (above 0, at
    most 1000); None stays None. What ``--fps`` and ``framerate=`` take."""
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        rate = _exact(value)
    except (ValueError, OverflowError, TypeError, ZeroDivisionError):
        rate = Fraction(0)
    if not 0 < rate <= 1000:
        raise UsageError(f"the frame rate (--fps, framerate=) must be above 0 and up to 1000, as 25 or 30000/1001 "
                         f"(got {value!r})")
    return rate


def _start_text(value: float | Fraction | str | None) -> str:
    """A --start value as a user typed it: seconds in decimal (the CLI hands over exact fractions)."""
    return f"{float(value):g}" if isinstance(value, Fraction) else str(value)


def _source_name(src: object) -> str:
    """A stream's name for a message: its path, "stdin" for "-", else "the stream"."""
    if isinstance(src, (str, Path)):
        return "stdin" if str(src) == "-" else str(src)
    return "the stream"


def _decode_packets(
    reader: container.GvcReader,
    m: zoo.CodecModel,
    *,
    start: Fraction | None = None,
    origin: int | None = None,
    counts: _Counts | None = None,
    from_beginning: bool = True,
    audio: media.AudioTrack | None = None,
    runs: gopdecode.RunDecoder | None = None,
    check_end: bool = True,
    networked: bool = False,
    video_from: int | None = None,
) -> Iterator[_Pending | media.AudioPacket]:
    """Parse, entropy-decode and conceal: every frame of the stream yields a _Pending for :func:`_render`.

    ``reader`` must resync. A ``Damaged`` item, a payload that does not decode, or a delta whose
    reference was lost makes the decoder drop deltas until the next key packet; each dropped or
    undecodable packet yields a concealed repeat of the last output frame (mid-grey before the
    first one) with that packet's pts. Frames lost inside a damaged byte range leave no trace but a
    pts gap: when the header's frame rate is known the gap is filled with concealed repeats at that
    rate (at most MAX_GAP_FRAMES per gap); damage before the first frame is filled from pts 0 when the
    stream is read from its start (``from_beginning``: not after a seek, not a pipe joined mid-way), and
    damage at the end up to the frame count of the index (or header), after a seek counting the frames
    before the keyframe sought at the frame rate. Frames less than ``start`` seconds after the first
    frame (at pts ``origin``; None: the first one met) are decoded as needed but neither synthesized
    nor yielded. With ``audio`` (the stream's audio track) its packets are yielded too, in stream order:
    with ``start``, those that end after it, the last one or two that end within
    KEPT_DISCARDED_AUDIO_S before it first (they warm a player's decoder up).
    With ``video_from`` (a keyframe's pts) the stream-0 packets before it are left out: read only for
    the audio among them. With ``runs`` the packets' symbols come from worker processes, several GOPs at a time
    (:mod:`vidcodec.gopdecode`); the frames are the same. ``check_end``: warn when the stream ends
    without the index its writer appends on closing (a writer killed or crashed: every complete frame
    is there, but the stream may stop short of its source's end).
    """

    def audio_end(pts: int, duration: int) -> Fraction | None:
        """Where an audio packet ends, in seconds from the first frame; None before that frame is met (a
        pipe: the audio is at its own time 0)."""
        return None if origin is None else (pts + max(duration, 1)) * audio.time_base - origin * tb

    # (start) the last audio packets that end by it: they go ahead of the first one heard, to warm a
    # player's decoder up (an AAC decoder's first packet after a cut decodes wrong), as encode --start keeps them
    warm_up: collections.deque[media.AudioPacket] = collections.deque(maxlen=media.KEPT_DISCARDED_AUDIO)

    hdr = reader.header
    sought = origin  # after a seek, the stream's first frame (the frames before the seek are not read)
    counts = counts if counts is not None else _Counts()
    decoder = _frame_decoder(m, hdr)
    tb = Fraction(*hdr.time_base)
    step = _frame_step(hdr)
    last_latent: tuple[np.ndarray, int] | None = None  # symbols and level of the last good frame
    correction: colour_mod.Correction | None = None  # the colour correction in force (format 11.0)
    last_float: np.ndarray | None = None  # its latent for synthesis, computed once when first needed
    last_pts: int | None = None
    last_payload: bytes | memoryview | None = None  # the last stream-0 frame's packet's (a repeat of it is harmless)
    behind = False  # packets are being skipped for pts not after the last frame's (said once per run of them)
    need_key = False  # after damage: deltas are dropped until a key packet
    frames_lost = False  # damage where stream-0 frames may have been (not one audio packet, not the index)
    gap: str | None = None  # damage since the last frame: "fill" its pts gap at the frame rate, or "skip"
    seen = 0  # stream-0 frames accounted for (decoded, concealed or filled)
    first_pts: int | None = None  # the first of them (after a seek: at or after the keyframe sought)
    started = start is None

    def wanted(pts: int) -> bool:
        nonlocal started, origin
        if origin is None:
            origin = pts
        started = started or (pts - origin) * tb >= start
        return started

    def emit(pts: int, key: bool, concealed: bool, size: int = 0) -> Iterator[_Pending]:
        nonlocal last_pts, seen, last_float, first_pts
        last_pts, seen = pts, seen + 1
        first_pts = pts if first_pts is None else first_pts
        if not wanted(pts):
            return
        if last_float is None and last_latent is not None:
            last_float = decoder.latent(*last_latent)
        yield _Pending(pts, key, concealed, last_float, size, correction)

    def fill(until: int | None, frames: int | None = None) -> Iterator[_Pending]:
        """Concealed repeats at the frame rate between the last pts and ``until`` (or ``frames`` of them)."""
        if step is None:
            return
        base, first = (last_pts, 1) if last_pts is not None else (0, 0)  # lost first packet: from pts 0
        if frames is None:
            frames = round((until - base) / step) - first
        n = min(max(0, frames), MAX_GAP_FRAMES)
        if n and frames > MAX_GAP_FRAMES:
            log.warning("a damaged stretch hides %d frames; concealing only %d", frames, n)
        for k in range(first, first + n):
            pts = base + round(k * step)
            if (last_pts is not None and pts <= last_pts) or (until is not None and pts >= until):
                break
            yield from emit(pts, False, True)

    read = reader if video_from is None else _video_from(reader, video_from)
    items = ((item, None, -1) for item in read) if runs is None else runs.results(iter(read))
    for item, run, index in items:
        if isinstance(item, container.Damaged):
            counts.damaged += 1
            if not item.loses_frames:
                continue  # one packet of another stream (audio) or the index: no frame was lost
            frames_lost = True
            need_key = True
            if gap is None:
                # before the first frame of a stream read from its start (after its header, and any
                # parameters or audio packets before the first keyframe): the frames lost count from pts 0
                gap = "fill" if last_pts is not None or from_beginning else "skip"
            continue
        if item.stream_index == container.AUDIO_STREAM and audio:
            if len(item.payload) >= 4:
                (duration,) = struct.unpack_from("<I", item.payload)
                packet = media.AudioPacket(item.payload[4:], item.pts, duration)
                end = audio_end(item.pts, duration) if start is not None else None
                if start is None or (start <= 0 if end is None else end > start):  # heard (from the start on)
                    yield from warm_up
                    warm_up.clear()
                    yield packet
                elif end is not None and end > start - media.KEPT_DISCARDED_AUDIO_S:
                    warm_up.append(packet)  # (just before the start: not a packet from further back)
            continue
        if item.stream_index != 0 or item.kind not in _TYPE_TO_KIND:
            continue
        kind = _TYPE_TO_KIND[item.kind]
        order = container.frame_order(item.pts, item.payload, last_pts, last_payload)
        if order != "next":  # a packet repeated or out of order: not applied twice
            counts.damaged += 1
            if order == "repeat":
                log.warning("packet at offset %d has pts %d, not after the previous frame's: it repeats that frame's "
                            "packet (the stream is damaged); skipped", item.offset, item.pts)
                continue
            # Not the frame before it again (a stream restarted inside this one, packets out of order): the
            # deltas after it were coded against it, and their pts count from it, so they cannot be placed
            # either. They are dropped up to the next keyframe, and the frames missing before it concealed.
            (log.debug if behind else log.warning)(
                "packet at offset %d has pts %d, not after the previous frame's %d: the stream is damaged (packets "
                "out of order, or a stream restarted inside it); skipped, and the frames up to the next keyframe "
                "concealed", item.offset, item.pts, last_pts)
            need_key = frames_lost = behind = True
            gap = gap or "fill"
            continue
        last_payload, behind = item.payload, False
        if gap == "fill":
            yield from fill(item.pts)
        gap = None
        if kind == DELTA and need_key:
            yield from emit(item.pts, False, True)
            continue
        try:
            found, body = _colour_section(item, hdr)
            last_latent, last_float = (decoder.decode_symbols(kind, body) if run is None
                                       else gopdecode.result(run, index)), None
        except CoderError as err:
            log.warning("packet at offset %d (pts %d) does not decode: %s; concealing until the next keyframe",
                        item.offset, item.pts, err)
            counts.damaged += 1
            need_key = True
            yield from emit(item.pts, kind == KEY, True)
            continue
        need_key = False
        correction = colour_mod.in_force(correction, found, kind == KEY)
        yield from emit(item.pts, kind == KEY, False, len(item.payload))
    # frames lost in damage at the end too; after a seek, the frames before the keyframe sought count at
    # the frame rate, as a decode from the beginning fills them (a pipe's, which reads them, gets the same)
    if frames_lost and last_pts is not None and (from_beginning or (step is not None and sought is not None)):
        index = reader.index()
        expected = index.frame_count if index is not None else hdr.frame_count
        before = 0 if from_beginning else round((first_pts - sought) / step)
        if expected > seen + before:
            yield from fill(None, expected - seen - before)
    stopped = networked and reader.source.raw.ended_by == "stopped"  # by our side (stop_network_input_first)
    if check_end and not reader.closed_cleanly and seen and not reader.index_damaged and not stopped:
        # (the frames read: the stream's own where the reading began at its start, not after a seek)
        kept = (f"its {seen} complete frames received are all here" if networked else  # (joined mid-way too)
                f"its {seen} complete frames are all here" if from_beginning else "its complete frames are all there")
        if networked:
            log.warning("the stream ends without the index its writer appends on closing: the sender stopped, "
                        "started again or was cut off before the end (%s)", kept)
        else:
            log.warning("the stream ends without the index its writer appends on closing: the encoder was "
                        "stopped, crashed or was cut off before the end (%s), or it is still writing (--follow "
                        "waits for the rest)", kept)


def _colour_section(item: container.Packet, hdr: container.StreamHeader
                    ) -> tuple[colour_mod.Correction | None, bytes | memoryview]:
    """A video packet's colour correction (format 11.0 VAE-GAN packets flagged colour.FLAG; else
    None) and the rest of its payload, which the frame decoder reads. CoderError if it is cut short."""
    if item.flags & colour_mod.FLAG and hdr.version[0] >= 11 and hdr.mode == container.Mode.VAEGAN:
        return colour_mod.split(item.payload)
    return None, item.payload


def frames(
    src: str | Path | BinaryIO,
    *,
    start: float | Fraction | None = None,
    backend: str = "ort",
    follow: bool = False,
    follow_timeout: float = 10.0,
    workers: int = 1,
    max_frames: int | None = None,
    duration: float | Fraction | None = None,
) -> Iterator[DecodedFrame]:
    """Decode a .gvc stream (path, ``"-"`` for stdin, or file object) frame by frame.

    Damage does not stop decoding: lost frames are concealed (``DecodedFrame.concealed``; see
    ``_decode_packets``). A stream cut off inside a packet yields every complete frame, then raises
    :class:`~vidcodec.errors.TruncatedStreamError`. ``start`` (seconds): begin at the first frame that
    far or further after the stream's first frame (as ffmpeg's ``-ss`` and :func:`encode`'s
    ``start`` count), seeking to the keyframe before it in a seekable file (index, else a scan),
    decoding and discarding on a pipe; one past the last frame yields nothing (and logs a
    warning). ``max_frames``: at most that many frames; ``duration`` (seconds): the frames that begin
    less than that long after the first one yielded (as :func:`decode`'s, FFmpeg's ``-t``).
    ``follow``: ``src`` is a path of a file still being written,
    read to its end as :mod:`vidcodec.follow` describes: at its end the decode waits for more until
    the writer closes the stream or it has not grown for ``follow_timeout`` seconds. ``backend``: ``"ort"``, ``"torch"``, ``"bf16"``, ``"int8"`` (decodes as ``"ort"``) or ``"auto"`` (``"bf16"`` on a CPU with AMX and no CUDA for a stream known to hold 40 million pixels or more, about 175 frames at 640x360, or on one with AVX512-BF16 alone 100 million, about 430 frames; a stream of unknown length, a pipe's, starts in ``"ort"`` there and goes on in ``"bf16"`` from the frame where three quarters of those pixels have been decoded; else ``"ort"``); the
    stream's symbols are the same for both, the frames differ by float rounding only. ``workers``
    > 1: the symbols of that many GOPs are decoded side by side in worker processes (files only;
    the same frames; see :mod:`vidcodec.gopdecode`). The arguments are checked at the call (a
    UsageError then), the stream when the first frame is asked for. The iterator is also a context
    manager: ``with vidcodec.frames(p) as frames:`` closes the decode (its threads, its file) at the
    block's end, however the loop left it. A decode of a network URL or of ``"-"`` on a pipe stops its
    wait for data when it is closed; one of a file object of your own (a pipe whose writer has gone
    quiet) cannot be woken: the close waits up to 5 s for its reading thread, which then stays in its
    read until the writer sends more or closes.
    """
    first = _seconds(start)
    zoo.check_backend(backend)
    _check_decode_args(follow_timeout, workers)
    max_frames, duration = _max_frames(max_frames), _duration(duration)
    src = _as_path(src)
    if not isinstance(src, (str, Path)):
        container.check_source(src)
    if follow and (not isinstance(src, (str, Path)) or str(src) == "-"):
        raise UsageError("follow= needs a file path (a pipe or a file object is read as it arrives already)")
    return FrameIterator(_frames_of(src, first, start, backend, follow, follow_timeout, workers, max_frames,
                                    duration))


def _max_frames(value: object) -> int | None:
    """A ``max_frames`` (``--frames``) checked: a whole number, at least 1 (None: no limit)."""
    value = _whole("max_frames", value)
    if value is not None and value < 1:
        raise UsageError(f"max_frames (--frames) must be at least 1 (got {value})")
    return value


class FrameIterator(Iterator[DecodedFrame]):
    """What :func:`frames` returns: an iterator of :class:`DecodedFrame` that is also a context
    manager; :meth:`close` ends the decode early (as a generator's close does)."""

    def __init__(self, frames: Iterator[DecodedFrame]) -> None:
        self._frames = frames

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> DecodedFrame:
        return next(self._frames)

    def close(self) -> None:
        """Stop decoding: the threads end and the stream is closed; later calls do nothing."""
        self._frames.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _frames_of(src: str | Path | BinaryIO, first: Fraction | None, start: object, backend: str, follow: bool,
               follow_timeout: float, workers: int, max_frames: int | None = None,
               duration: Fraction | None = None) -> Iterator[DecodedFrame]:
    """:func:`frames`' generator, once its arguments are checked."""
    decoding = _frames(src, start=first, backend=backend, follow=follow, follow_timeout=follow_timeout,
                       workers=workers, max_frames=max_frames, duration=duration)
    _OPEN_DECODES.add(decoding)
    yielded, origin = 0, None
    try:
        for frame in decoding:
            origin = frame.pts if origin is None else origin
            if duration is not None and (frame.pts - origin) * frame.time_base >= duration:
                return
            yielded += 1
            yield frame
            if max_frames is not None and yielded >= max_frames:
                return
    finally:
        decoding.close()  # the decode's threads end now, not when the generator is collected
    if first is not None and not yielded:  # an empty loop, but not without a word (decode() refuses it)
        log.warning("start %s is past the end of the stream: no frame at or after it", start)


# Decodes still open when the interpreter exits (a script that stopped reading frames() without
# closing it) are closed before Python stops their threads: left to the interpreter's teardown,
# closing a stage still "running" in a stopped thread raised "generator already executing", and
# native code still running there could abort the process ("terminate called ...").
_OPEN_DECODES: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_decodes() -> None:
    for decoding in list(_OPEN_DECODES):
        with contextlib.suppress(Exception):
            decoding.close()


def _with_frame_count(reader: container.GvcReader, follow: bool) -> container.StreamHeader:
    """The stream's header, its frame count taken from the keyframe index where the header has none
    (0: a writer that did not know it, as one reading a pipe), so that a decode's progress has a total."""
    hdr = reader.header
    if hdr.frame_count == 0 and reader.seekable and not follow:
        index = reader.index()
        if index is not None and index.frame_count:
            return dataclasses.replace(hdr, frame_count=index.frame_count)
    return hdr


def _frames(
    src: str | Path | BinaryIO,
    *,
    start: Fraction | None,
    backend: str,
    follow: bool,
    follow_timeout: float,
    counts: _Counts | None = None,
    on_header: Callable[[container.StreamHeader, media.AudioTrack | None, bool], None] | None = None,
    audio: bool = False,
    workers: int = 1,
    max_frames: int | None = None,
    duration: Fraction | None = None,
) -> Iterator[DecodedFrame | media.AudioPacket]:
    """frames(), with totals kept in ``counts`` and ``on_header(header, audio track, joined mid-way)`` called once the
    model is loaded; ``audio`` also yields the stream's audio packets (:class:`vidcodec.media.AudioPacket`).
    Its callers (:func:`frames`, :func:`decode`) have checked the arguments."""
    with contextlib.ExitStack() as stack:
        reader, m, pending, track = open_pending(stack, src, start=start, backend=backend, follow=follow,
                                                 follow_timeout=follow_timeout, counts=counts, audio=audio,
                                                 workers=workers, max_frames=max_frames, duration=duration)
        if on_header is not None:
            on_header(_with_frame_count(reader, follow), track, reader.joined_at is not None)
        # Threads: parsing + entropy decoding, the synthesis network (m.frame_lanes frames at once), the consumer.
        hdr = reader.header
        rendered = stack.enter_context(contextlib.closing(_render(pending, m, hdr.width, hdr.height,
                                                                  Fraction(*hdr.time_base))))
        stop_network_input_first(stack, reader)
        # not `yield from`, which would close `rendered` before the stack's first callback
        for item in rendered:  # noqa: UP028
            yield item


def _frames_wanted(hdr: container.StreamHeader, start: Fraction | None, max_frames: int | None,
                   duration: Fraction | None) -> int | None:
    """How many frames a decode will synthesize, as far as it is known before it begins (None: not
    known, a pipe's or live stream's): the stream's count (the index's where the header has none)
    from ``start`` on, at most ``max_frames`` and ``duration`` of them. What ``auto`` weighs."""
    rate = _fraction(hdr.frame_rate)
    known = [n for n in (max_frames, math.ceil(duration * rate) if duration is not None and rate else None)
             if n is not None]
    if hdr.frame_count and (start is None or rate):  # a start time counts in frames only with a rate
        known.append(max(hdr.frame_count - (math.ceil(start * rate) if start is not None else 0), 0))
    return min(known) if known else None


def _check_decode_args(follow_timeout: object, workers: object) -> None:
    """UsageError unless ``follow_timeout`` is a number of seconds (0 or more) and ``workers`` valid."""
    if (isinstance(follow_timeout, bool) or not isinstance(follow_timeout, (int, float))
            or not 0 <= follow_timeout < float("inf")):  # NaN too; follow.FollowedFile says the same
        raise UsageError(f"--follow-timeout must be a number of seconds, 0 or more (got {follow_timeout!r})")
    check_workers(workers)


def audio_track(hdr: container.StreamHeader) -> media.AudioTrack | None:
    """The audio track a stream carries (None if none, or if its description is damaged: logged)."""
    data = hdr.extensions.get(container.EXT_AUDIO)
    if data is None:
        return None
    try:
        return media.AudioTrack.from_bytes(data)
    except InputError as e:
        log.warning("%s; decoding video only", e)
        return None


def _resuming(parsed: Iterator[_Pending | media.AudioPacket], raw: network._Input,
              ) -> Iterator[_Pending | media.AudioPacket]:
    """``parsed``, the network input made readable again (an abort of :func:`stop_network_input_first`
    undone) once the parsing has stopped, in the parsing thread itself: the input is the caller's, who
    may read on (another ``frames()`` of it joins at its next keyframe)."""
    try:
        yield from parsed
    finally:
        raw.resume()


def stop_network_input_first(stack: contextlib.ExitStack, reader: container.GvcReader) -> None:
    """Where ``reader`` reads a network input or a pipe on stdin, end its wait for data first when
    ``stack`` exits (enter this after the stages that consume the parsed frames): their threads, waiting
    on the parsing thread, which waits for a silent sender, would otherwise each be waited for up to
    :data:`pipeline.JOIN_TIMEOUT_S`, and the input's close for as long as the sender stays silent. Once
    the parsing has stopped, a network input is readable again, as it was (:func:`_resuming`)."""
    raw = getattr(reader.source, "raw", None)
    if isinstance(raw, network._Input):
        stack.callback(raw.abort)
    elif isinstance(reader.source, container.PipeOnStdin):  # ended for good (a later "-" reads on from the fd)
        stack.callback(reader.source.abort)


def open_pending(
    stack: contextlib.ExitStack,
    src: str | Path | BinaryIO,
    *,
    start: Fraction | None = None,
    backend: str = "ort",
    follow: bool = False,
    follow_timeout: float = 10.0,
    counts: _Counts | None = None,
    audio: bool = False,
    workers: int = 1,
    max_frames: int | None = None,
    duration: Fraction | None = None,
    soon: bool = False,
) -> tuple[container.GvcReader, zoo.CodecModel, Iterator[_Pending | media.AudioPacket], media.AudioTrack | None]:
    """Open a stream (seeking to the keyframe before ``start``) and return its reader, its model, the
    parsed, entropy-decoded frames (a pipeline stage, closed by ``stack``), ready to synthesize, and
    with ``audio`` the stream's audio track (whose packets are then among the parsed items).
    ``workers`` > 1: the symbols of that many GOPs at a time are decoded in worker processes
    (:mod:`vidcodec.gopdecode`; VAE-GAN streams in files only, not pipes or ``follow``). ``soon``: the
    first picture is wanted at once (a player), so a long stream that ``auto`` would decode in bfloat16
    starts in ONNX Runtime as one of unknown length does (:class:`zoo.Handover`)."""
    zoo.check_backend(backend)
    check_workers(workers)
    source = _stdin_if_dash(src)
    if isinstance(src, str) and network.is_network_url(src):  # tcp:// or udp:// (vidcodec.network)
        if follow:
            raise UsageError("follow= is for a file still being written; a network input is read as it arrives")
        source = stack.enter_context(network.open_input(src))
    elif follow and isinstance(src, (str, Path)) and str(src) != "-" and _is_fifo(src):
        log.info("%s is a named pipe, which waits for its writer by itself: read as it is, without --follow", src)
        follow = False
    if follow:
        if not isinstance(src, (str, Path)) or str(src) == "-":
            raise UsageError("--follow needs a file path (a pipe already waits for its writer)")
        from .follow import FollowedFile

        source = stack.enter_context(FollowedFile(src, timeout=follow_timeout))
    reader = stack.enter_context(container.GvcReader(source, resync=True))
    m = _stream_model(reader.header, backend, _frames_wanted(_with_frame_count(reader, follow), start, max_frames,
                                                            duration), soon=soon)
    from_beginning = reader.joined_at is None  # a pipe joined mid-way: what came before it is unknown
    origin = None  # the first frame's pts, which --start counts from (a pipe's: the first one read)
    video_from = None  # (a seek for --start read from an earlier keyframe for the audio) where the video begins
    track = audio_track(reader.header) if audio else None  # (read once: a damaged one is said once)
    if start is not None and reader.seekable:
        tb = Fraction(*reader.header.time_base)
        # the last keyframe at or before the first frame wanted
        entry = reader.seek_to_keyframe(-(-start // tb), from_first=True)
        origin = reader.first_key_pts
        from_beginning = entry.offset == reader.header_size
        log.debug("seeking to the keyframe at pts %d (offset %d)", entry.pts, entry.offset)
        if (track is not None and not from_beginning and reader.index() is not None
                and (entry.pts - origin) * tb > start - AUDIO_BEFORE_START_S):
            # the audio that goes just before the first frame (the packet the start falls in, the warm-up
            # before it) may be stored before this keyframe: read from the one before, its video left out
            # (not in a stream without its index, which each seek scans whole)
            earlier = reader.seek_to_keyframe(entry.pts - 1)
            video_from = entry.pts if earlier.pts < entry.pts else None
    runs = None
    if workers > 1:
        if follow or not reader.seekable or reader.header.mode != container.Mode.VAEGAN:
            log.info("--workers %d ignored: GOPs are decoded side by side for VAE-GAN streams in files only",
                     workers)
        elif reader.header.gop > gopdecode.MAX_RUN_FRAMES:
            log.info("--workers %d ignored: the stream's GOPs may be %d frames long (at most %d are decoded "
                     "side by side)", workers, reader.header.gop, gopdecode.MAX_RUN_FRAMES)
        else:
            runs = stack.enter_context(gopdecode.RunDecoder(reader.header, workers, backend))
    networked = isinstance(getattr(source, "raw", None), network._Input)
    parsed = _decode_packets(reader, m, start=start, origin=origin, counts=counts, from_beginning=from_beginning,
                             audio=track, runs=runs, check_end=not follow,  # --follow says so itself
                             networked=networked, video_from=video_from)
    pending = pipeline.stage(_resuming(parsed, source.raw) if networked else parsed, name="vidcodec-parse")
    stack.enter_context(pipeline.closing(pending))
    return reader, m, pending, track


MAX_WORKERS = 64
# A decode from --start reads the audio stored up to this long before the keyframe it starts from (the
# packet the start falls in and the warm-up before it, media.KEPT_DISCARDED_AUDIO_S)
AUDIO_BEFORE_START_S = Fraction(1, 4)


def _video_from(reader: Iterable[container.Packet | container.Damaged],
                pts: int) -> Iterator[container.Packet | container.Damaged]:
    """``reader``'s items without its stream-0 packets (nor damage) before the first stream-0 packet at
    ``pts`` or later: read for the audio among them only."""
    before = True
    for item in reader:
        if before:
            if isinstance(item, container.Damaged) or (item.stream_index == 0 and item.pts < pts):
                continue
            before = item.stream_index != 0
        yield item


def check_workers(workers: int) -> None:
    """UsageError unless ``workers`` is 1 (decode in-process) to MAX_WORKERS, and 1 in a process that
    may not start others (a multiprocessing pool's worker)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"--workers must be 1 to {MAX_WORKERS} (got {workers!r})")
    if workers > 1 and multiprocessing.current_process().daemon:
        raise UsageError("workers > 1 starts worker processes, which a daemonic process (a multiprocessing "
                         "pool's worker) may not: use workers=1 there")


def _stdin_if_dash(src: str | Path | BinaryIO) -> str | Path | BinaryIO:
    """stdin's bytes for ``"-"`` (InputError when it is a terminal: nothing would ever come), else ``src``."""
    return container.stdin_stream() if isinstance(src, str) and src == "-" else src


@dataclass
class DecodeStats:
    """What a decode wrote: frames (concealed ones included), and how many were concealed after damage."""

    frames: int
    seconds: float
    concealed: int = 0
    damaged: int = 0  # damaged byte ranges skipped plus packets that did not decode
    pictures: int | None = None  # y4m: the pictures written on its one frame rate (frames repeated or dropped)

    @property
    def fps(self) -> float:
        """Frames decoded per wall-clock second."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def decode(
    src: str | Path | BinaryIO,
    dst: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = False,
    stdout: BinaryIO | None = None,
    backend: str = "ort",
    start: float | Fraction | None = None,
    max_frames: int | None = None,
    follow: bool = False,
    follow_timeout: float = 10.0,
    duration: float | Fraction | None = None,
    audio: bool = True,
    workers: int = 1,
    pix_fmt: str | None = None,
    stdout_format: str | None = None,
) -> DecodeStats:
    """Decode a .gvc stream to mp4/mkv/mov (x264) or y4m by ``dst``'s extension, ``"-"`` = y4m on stdout
    (``stdout_format="nut"``: NUT, the frames uncompressed and the stream's audio, for a player with sound;
    ``"y4m"`` or None: y4m),
    or to an image sequence named as FFmpeg names one (``"frames/%04d.png"``; .png, .bmp, .ppm, .tif):
    one file a frame, numbered from 1, the decoded RGB exactly (``pix_fmt`` does not apply).

    Returns :class:`DecodeStats`. ``src``: a path, ``"-"`` for stdin, or a binary file object.
    ``stdout``: where ``dst="-"`` writes (default ``sys.stdout.buffer``). ``overwrite``: replace an
    existing ``dst``; ``progress``: as for :func:`encode`; ``follow_timeout``: with ``follow``, the
    seconds a file may stop growing before the decode ends (see :func:`frames`).

    Audio the stream carries is muxed back into mp4/mkv/mov untouched (``audio=False`` drops it; y4m
    cannot hold it).

    Every complete frame is written before an error about the stream is raised. Damaged stretches are
    concealed (``DecodeStats.concealed`` frames repeat the previous one). ``start`` (seconds),
    ``duration`` (seconds from the first frame written, as FFmpeg's ``-t``) and ``max_frames`` select
    the frames written, ``follow`` reads a file still being written (see
    :func:`frames`). ``backend``: ``"ort"`` (ONNX Runtime; ``"int8"`` decodes with it), ``"torch"``, ``"bf16"`` or ``"auto"`` (as :func:`frames` says). ``workers`` > 1 decodes
    the symbols of that many GOPs side by side in worker processes (same frames; for machines with
    cores to spare, see :mod:`vidcodec.gopdecode`). ``pix_fmt``: the output's pixel format, one of
    :data:`vidcodec.media.PIX_FMTS` (None: the source's where the stream records it, format 11.1, see
    :func:`vidcodec.media.default_pix_fmt`; else y4m 4:4:4, H.264 4:2:0, or 4:4:4 for odd sizes).
    """
    zoo.check_backend(backend)
    src, dst = _as_path(src), _as_path(dst)
    # the null device (ffmpeg's `-f null -`): a decode timed or checked, its pictures written as to stdout and
    # dropped; no -y needed, a --format taken
    null = isinstance(dst, (str, Path)) and str(dst) == os.devnull and stdout is None
    if null:
        dst = "-"
    _check_decode_args(follow_timeout, workers)
    media.check_pix_fmt(pix_fmt)
    if stdout_format is not None and stdout_format not in media.STDOUT_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(media.STDOUT_FORMATS)} (got {stdout_format!r})")
    if stdout_format is not None and str(dst) != "-":
        raise UsageError(f"--format {stdout_format} is for stdout ('-') and {os.devnull}; a file's name gives its "
                         f"format: {dst}")
    stdout_format = stdout_format or "y4m"
    check_flags(overwrite=overwrite, progress=progress)
    max_frames = _max_frames(max_frames)
    first = _seconds(start)
    duration = _duration(duration)
    if not isinstance(dst, (str, Path)):
        raise UsageError(f"decode writes to a path (.mp4, .mkv, .mov, .y4m, frames/%04d.png) or '-' for stdout, not a "
                         f"{type(dst).__name__}; for frames in memory use vidcodec.frames()")
    check_decode_output(dst, overwrite)
    # one picture (thumb.png with --frames 1), or an image sequence: the decoder's RGB, no pix_fmt, no audio
    picture = media.picture_path(dst)  # thumb.png: one picture, with --frames 1 or of a one-frame stream
    one_picture = max_frames == 1 and picture
    images = one_picture or media.image_output(dst)  # (open_sink refuses a pix_fmt for them)
    if str(dst) != "-" and stdout is not None:
        raise UsageError(f"stdout= is written when the output is '-'; the output here is {dst}: give '-' to "
                         f"write to stdout=, or leave stdout= out")
    if str(dst) == "-" and not null:
        if isinstance(stdout, io.TextIOBase):
            raise UsageError("stdout= takes a binary file object (sys.stdout.buffer, open(..., 'wb')), not text")
        stdout = container.std_bytes("stdout") if stdout is None else _binary_output(stdout, "stdout=")
    if isinstance(src, (str, Path)) and _same_file(src, dst):  # -y would truncate the stream being read
        raise UsageError(f"{dst} is also the input; give a different output path")
    # an image sequence's folder that open_sink makes (frames/%04d.png): removed again if no frame comes
    made = str(dst) != "-" and media.folder_to_make(Path(dst))

    def drop_made_folder() -> None:
        if made and Path(dst).parent.is_dir() and not any(Path(dst).parent.iterdir()):
            Path(dst).parent.rmdir()

    t0 = time.perf_counter()
    n = 0
    concealed = 0  # concealed frames written (the decode reads past --frames and before --start)
    counts = _Counts()
    with contextlib.ExitStack() as stack:
        if null:
            stdout = stack.enter_context(open(os.devnull, "wb"))
        bar: list = []  # the progress bar, once the header is read
        sinks: list[media.VideoSink] = []

        def on_error(kind: type[BaseException] | None, err: BaseException | None, tb: object) -> bool:
            # runs last, after the output is closed: a lone y4m header is not an output; frames are kept
            if kind is not None and n == 0:
                drop_made_folder()
            if isinstance(err, VidcodecError) and err.exit_code == 0:  # (a pipe's reader gone: a quiet end)
                return False
            if kind is not None and issubclass(kind, (VidcodecError, OSError)) and sinks and str(dst) != "-":
                if n == 0 and Path(dst).is_file():  # (a named pipe stays: its reader's)
                    Path(dst).unlink()
                elif n and (Path(dst).exists() or media.image_output(Path(dst))):  # (not an output removed)
                    outputs.say_kept(dst, n, "decoded")
            elif isinstance(err, KeyboardInterrupt) and str(dst) != "-" and not media.is_named_pipe(dst):
                # Ctrl-C, SIGTERM (also --follow's usual end): said on the interrupt's one line
                # (an H.264 output's encoder took the frame the signal came during: the file holds it)
                kept = max(n, getattr(sinks[0], "frames_in", 0)) if sinks else n
                if kept == 0 and sinks and Path(dst).is_file():  # a lone y4m header
                    Path(dst).unlink()
                    err.add_note("before the first frame: nothing decoded")
                elif kept and (Path(dst).is_file() or media.image_output(Path(dst))):
                    err.add_note(f"({kept} frame{'' if kept == 1 else 's'} decoded before it, in {dst})")
            return False

        stack.push(on_error)

        clock: list[tuple[Fraction, Fraction]] = []  # the video's time base and frame step
        # Audio is held until the video written reaches its time, so that a decode cut by --frames
        # ends its audio with its last frame (what was demuxed ahead of it is dropped).
        held: list[media.HeldAudio] = []  # one, with audio

        def open_sink(hdr: container.StreamHeader, track: media.AudioTrack | None, joined: bool) -> None:
            clock.append((Fraction(*hdr.time_base), _frame_step(hdr) or Fraction(0)))
            # a stream of one frame (by its header or index) to thumb.png needs no --frames 1, as with ffmpeg
            single = bool(one_picture or (picture and first is None and hdr.frame_count == 1))
            if audio and not want_audio and not null and container.EXT_AUDIO in hdr.extensions:
                log.info("the stream's audio is not written: %s holds video only (decode to .mp4, .mkv or .mov "
                         "to keep it%s)", "a picture" if picture else "an image sequence" if images else "y4m",
                         ", or to - with --format nut for a player" if str(dst) == "-" else "")
            # after the model is found: a missing model must not leave an empty output file
            sinks.append(stack.enter_context(media.open_sink(
                dst, width=hdr.width, height=hdr.height, time_base=Fraction(*hdr.time_base),
                frame_rate=_fraction(hdr.frame_rate), color_matrix=int(hdr.colour_matrix),
                color_range=int(hdr.colour_range), overwrite=overwrite, stdout=stdout,
                audio=track, sample_aspect=container.sample_aspect(hdr),
                pix_fmt=pix_fmt if images or single else (pix_fmt or media.default_pix_fmt(
                    container.source_chroma(hdr), hdr.width, hdr.height)),
                one_frame=single, colour_description=container.colour_description(hdr), stdout_format=stdout_format,
            )))
            if track is not None and not getattr(sinks[-1], "audio_unreadable", False):  # (no sound to lead the
                held.append(media.HeldAudio(track.time_base))  # video where the output could not take it)
            # 0: a bar without a total; so for a stream joined mid-way (a late receiver of a live one), whose
            # header counts all of its frames (a total of them read "8 of 12 frames" at its end)
            total = _frames_wanted(dataclasses.replace(hdr, frame_count=0) if joined else hdr, first, max_frames,
                                   duration) or None
            bar.append(stack.enter_context(progress_bar(total, "decode", progress)))

        want_audio = audio and (stdout_format == "nut" if str(dst) == "-" else
                                Path(dst).suffix.lower() != ".y4m" and not images and not picture)
        decoded = _frames(src, start=first, backend=backend, follow=follow, follow_timeout=follow_timeout,
                          counts=counts, on_header=open_sink, audio=want_audio, workers=workers,
                          max_frames=max_frames, duration=duration)
        stack.enter_context(contextlib.closing(decoded))
        # MP4 and MOV hide audio before the first frame (an edit list starting at it): where the audio
        # leads by LEADING_AUDIO_S or more, the output starts at the audio instead, as ffmpeg's does
        lead_in = want_audio and first is None and str(dst) != "-" and Path(dst).suffix.lower() in (".mp4", ".mov")
        if lead_in:
            decoded = _audio_before_first_frame(decoded, held, clock)
        # With --start the output's timeline starts at its first frame, as ffmpeg's -ss gives: audio
        # that ends by that frame is left out, but for the last packet or two (media._warm_up: an AAC
        # decoder's first packet after a cut decodes wrong, 23 ms); the packet the frame falls in is kept.
        shift = [0, 0]  # pts subtracted from the video, and from the audio
        # (--start) the last audio packets that end by the first frame
        before_start: collections.deque[tuple[None, media.AudioPacket]] = collections.deque(
            maxlen=media.KEPT_DISCARDED_AUDIO)

        def write_audio_upto(video_end: Fraction) -> None:
            for ap in held[0].upto(video_end):
                # moved with the video; without --start what begins before it (AAC's priming) stays before 0
                if first is not None and ap.pts + max(ap.duration, 1) <= shift[1]:
                    before_start.append((None, ap))
                    continue
                for _, warm in media._warm_up(before_start, held[0].time_base):
                    sinks[0].write_audio(dataclasses.replace(warm, pts=warm.pts - shift[1]))
                before_start.clear()
                sinks[0].write_audio(dataclasses.replace(ap, pts=ap.pts - shift[1]))

        end = None
        origin = 0  # the first written frame's pts (set with it)
        for f in decoded:
            if isinstance(f, media.AudioPacket):
                if held:  # (none where the output could not take the sound)
                    held[0].hold([f])
                    if end is not None:
                        write_audio_upto(end)
                continue
            if n == 0:
                origin = f.pts  # the first frame written: --duration counts from it
            elif duration is not None and (f.pts - origin) * clock[0][0] >= duration:
                break  # (the audio up to the last frame's end came before this frame in the stream)
            if n == 0:
                # the output's timeline starts at its first frame, as ffmpeg's outputs do (an MPEG-TS
                # source's clock starts at 1.4 s, or at hours): video and audio move together
                shift[0] = f.pts
                if held:
                    shift[1] = math.ceil(f.pts * clock[0][0] / held[0].time_base)
                    if lead_in and (early := held[0].earliest()) is not None and \
                            f.pts * clock[0][0] - early * held[0].time_base >= LEADING_AUDIO_S:
                        shift[1] = early
                        shift[0] = f.pts - math.floor((f.pts * clock[0][0] - early * held[0].time_base) / clock[0][0])
            sinks[0].write(f.rgb, f.pts - shift[0])
            n += 1
            concealed += f.concealed
            bar[0].update(1)
            end = (f.pts + clock[0][1]) * clock[0][0]  # the frame's end in seconds (the step is in pts units)
            if held:
                write_audio_upto(end)
            if max_frames is not None and n >= max_frames:
                for g in decoded:  # the audio of the last frame's span follows it in the stream
                    if not isinstance(g, media.AudioPacket):
                        break
                    held[0].hold([g])
                break
        else:  # the stream's end, not --frames or --duration: its audio to the end, past the last frame
            end = math.inf if end is not None else None
        if end is not None and held:
            write_audio_upto(end)
    if n == 0:
        # An empty file (or a lone y4m header) is not an output, and with -y an earlier file of that
        # name must not stay behind looking like one (mp4/mkv/mov are opened at the first frame).
        if str(dst) != "-" and Path(dst).is_file():  # (a named pipe stays: its reader's)
            Path(dst).unlink()
        drop_made_folder()
        if counts.damaged:  # e.g. the first keyframe's packet header: skipped, and nothing before it to repeat
            raise CorruptPacketError(f"{_source_name(src)} is damaged ({counts.damaged} damaged region(s) skipped) "
                                     "and no frame in it could be decoded: nothing written")
        if first is not None:
            raise UsageError(f"--start {_start_text(start)} is past the end of the stream: no frame at or after it")
        raise InputError(f"{_source_name(src)} holds no frames (a stream stopped before its first frame?): "
                         f"nothing written")
    return DecodeStats(n, time.perf_counter() - t0, concealed, counts.damaged,
                       getattr(sinks[0], "pictures", None) if sinks else None)
