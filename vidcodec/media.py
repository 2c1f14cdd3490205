"""All video input and output of the codec, through PyAV.

Input: :func:`open_source` decodes anything FFmpeg can demux (mp4, mkv, avi, mov, webm, y4m, ...) from a
path or from stdin into 8-bit RGB :class:`VideoFrame` records, keeping each frame's pts.

Output: :func:`open_sink` writes RGB frames to .mp4/.mkv/.mov (libx264, CRF 14, 4:2:0, or 4:4:4 when a
dimension is odd since 4:2:0 needs even sizes) or to YUV4MPEG2 (.y4m, or ``-`` for stdout; C444 by
default, limited range, so any size works and the round trip to RGB is within 2 levels). ``pix_fmt``
asks for one of :data:`PIX_FMTS` instead (4:2:0 y4m halves a pipe's bytes and suits tools that take
4:2:0 only; 4:4:4 H.264 keeps full chroma).

Colour: YUV is converted with the matrix and range the frame is tagged with; untagged video is read as
limited range and BT.601 below 720 lines, BT.709 from 720 lines up (what players do). Matrices and
ranges are H.273 codes throughout (see the ``MATRIX_*`` and ``RANGE_*`` constants).

Decoding errors: a packet that fails to decode is logged and skipped (like ffmpeg does); more than
``MAX_CONSECUTIVE_DECODE_ERRORS`` in a row, or a demuxing error, raises :class:`InputError`.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import heapq
import io
import itertools
import logging
import math
import numbers
import os
import re
import select
import shutil
import stat
import struct
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NoReturn

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation, VideoReformatter

from .container import take_buffered
from .errors import NO_ROOM, InputError, OutputExistsError, Stopped, UsageError, VidcodecError, naming
from .outputs import flush, whole, write_all
from .timespec import steady_rate
from .urls import is_url

if TYPE_CHECKING:
    from typing import Self

log = logging.getLogger("vidcodec.media")

MATRIX_RGB = 0
MATRIX_BT709 = 1
MATRIX_UNSPECIFIED = 2
MATRIX_FCC = 4
MATRIX_BT601 = 6
MATRIX_SMPTE240M = 7
MATRIX_BT2020 = 9
RANGE_UNSPECIFIED = 0
RANGE_LIMITED = 1
RANGE_FULL = 2

# H.273 matrix_coefficients -> swscale colourspace; 5 (BT.470BG) is BT.601 too, 10 (BT.2020 CL) has
# no swscale equivalent and is read as BT.2020 NCL.
_SWS_MATRIX = {
    MATRIX_BT709: Colorspace.ITU709,
    MATRIX_FCC: Colorspace.FCC,
    MATRIX_BT601: Colorspace.ITU601,
    MATRIX_SMPTE240M: Colorspace.SMPTE240M,
    MATRIX_BT2020: Colorspace.BT2020,
}
_MATRIX_ALIASES = {5: MATRIX_BT601, 10: MATRIX_BT2020}
# Accurate rounding and full chroma interpolation: about 4x less error than swscale's fast path.
_SWS_FLAGS = Interpolation.BILINEAR | Interpolation.FULL_CHR_H_INT | Interpolation.ACCURATE_RND

MAX_CONSECUTIVE_DECODE_ERRORS = 25
NETWORK_TIMEOUT_S = 15  # a network input that sends nothing this long ends (--timeout)
X264_CRF = 14
X264_PRESET = "medium"
OUTPUT_EXTENSIONS = (".mkv", ".mov", ".mp4", ".y4m")
# Image-sequence outputs (frames/%04d.png): the decoder's RGB frames exactly, one file a frame
STDOUT_FORMATS = ("y4m", "nut")  # what "-" writes: y4m (video only), or NUT (uncompressed video and the audio)
IMAGE_EXTENSIONS = (".png", ".bmp", ".ppm", ".tif", ".tiff", ".jpg", ".jpeg", ".webp")
LOSSY_IMAGE_QUALITY = 95  # JPEG and WebP outputs (thumbnails): the others are the decoded RGB exactly
PIX_FMTS = ("yuv420p", "yuv444p")  # what an output can be asked for (None: each sink's default)
_Y4M_CHROMA = {"yuv444p": "C444", "yuv420p": "C420jpeg XYSCSS=420JPEG"}  # as FFmpeg writes them
_STDIN_PEEK = 4096
_SPOOL_CHUNK = 1 << 20


def default_pix_fmt(chroma: tuple[int, int] | None, width: int, height: int) -> str | None:
    """The output pixel format that keeps the source's chroma (the stream header's, format 11.1), as
    FFmpeg keeps its input's: yuv420p for a 4:2:0 source of even size, yuv444p for 4:4:4 or RGB; None
    (the sink's own default) when the stream does not say, for other subsamplings, or an odd size."""
    if chroma == (1, 1) and width % 2 == 0 and height % 2 == 0:
        return "yuv420p"
    if chroma == (0, 0):
        return "yuv444p"
    return None


def check_pix_fmt(pix_fmt: str | None, width: int | None = None, height: int | None = None) -> None:
    """Refuse a pixel format outside :data:`PIX_FMTS`, and 4:2:0 for a picture with an odd side."""
    if pix_fmt is None:
        return
    if pix_fmt not in PIX_FMTS:
        raise UsageError(f"--pix-fmt must be one of {', '.join(PIX_FMTS)} (got {pix_fmt!r})")
    if pix_fmt == "yuv420p" and width is not None and height is not None and (width % 2 or height % 2):
        raise UsageError(f"{width}x{height} has an odd side and yuv420p needs even sizes; "
                         "use --pix-fmt yuv444p (or leave it out)")


def _chroma_shifts(pix_fmt: str) -> tuple[int, int] | None:
    """log2 of a pixel format's horizontal and vertical chroma subsampling: (1, 1) for 4:2:0, (0, 0)
    for 4:4:4, RGB and palette (a colour per pixel: a GIF or a PNG of 256 colours); None for grey and
    other one-plane formats."""
    fmt = av.VideoFormat(pix_fmt, 64, 64)
    comps = fmt.components
    if fmt.has_palette:
        return 0, 0
    if len(comps) < 3:
        return None
    shifts = ((64 // max(1, comps[1].width)).bit_length() - 1, (64 // max(1, comps[1].height)).bit_length() - 1)
    return shifts if max(shifts) <= 2 else None


class SinkClosed(VidcodecError):
    """The reader of the output pipe went away; stop writing and exit quietly."""

    exit_code = 0


def normalize_matrix(code: int) -> int:
    """An H.273 matrix code as this module names it: BT.470BG becomes BT.601, unknown ones unspecified."""
    code = _MATRIX_ALIASES.get(code, code)
    return code if code in _SWS_MATRIX or code == MATRIX_RGB else MATRIX_UNSPECIFIED


def resolve_color(matrix: int, color_range: int, height: int) -> tuple[int, int]:
    """The (matrix, range) to convert with: given tags, unspecified ones defaulted by picture height."""
    matrix = normalize_matrix(matrix)
    if matrix not in _SWS_MATRIX:
        matrix = MATRIX_BT601 if height < 720 else MATRIX_BT709
    if color_range not in (RANGE_LIMITED, RANGE_FULL):
        color_range = RANGE_LIMITED
    return matrix, color_range


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: H×W×3 uint8 RGB, its pts in the stream time base, and its 0-based index."""

    rgb: np.ndarray
    pts: int
    index: int


@dataclass(frozen=True)
class AudioInfo:
    """The first audio stream of a source (described, not decoded)."""

    codec: str
    sample_rate: int
    channels: int
    time_base: Fraction | None


@dataclass(frozen=True)
class AudioTrack:
    """An audio stream to carry through untouched: its time base and its codec parameters.

    ``params`` is a tiny Matroska file holding the stream's codec parameters and its first packet;
    FFmpeg writes it at encode time and reads it back at decode time, so every parameter FFmpeg
    needs to mux the stream (codec, rate, layout, extradata such as AAC's AudioSpecificConfig)
    survives without vidcodec interpreting any of it.
    """

    time_base: Fraction
    params: bytes

    def to_bytes(self) -> bytes:
        """The ``.gvc`` header extension payload (tag 1): u32 tb num, u32 tb den, u32 size, params."""
        tb = self.time_base
        return struct.pack("<III", tb.numerator, tb.denominator, len(self.params)) + self.params

    @classmethod
    def from_bytes(cls, data: bytes) -> AudioTrack:
        if len(data) < 12:
            raise InputError("the stream's audio description is damaged (too short)")
        num, den, size = struct.unpack_from("<III", data)
        if num == 0 or den == 0 or size != len(data) - 12:
            raise InputError("the stream's audio description is damaged")
        return cls(Fraction(num, den), bytes(data[12:]))

    def template(self) -> av.audio.stream.AudioStream:
        """An FFmpeg audio stream with these parameters, to add to an output with add_stream_from_template."""
        try:
            return av.open(io.BytesIO(self.params)).streams.audio[0]
        except (av.FFmpegError, IndexError) as exc:  # damaged, or a codec this FFmpeg lacks
            raise InputError(f"the stream's audio description cannot be read ({_reason(exc)})") from exc


@dataclass(frozen=True)
class AudioPacket:
    """One compressed audio packet, as it was in the input (pts and duration in the track's time base)."""

    data: bytes
    pts: int
    duration: int


def audio_goes_back(pts: int, data: bytes, last_pts: int | None, last_data: bytes, strict: bool = False) -> bool:
    """Whether an audio packet (``pts``, ``data``) cannot follow the last one kept (``last_pts``,
    ``last_data``; None: none yet): it starts before it (a join's overlap, damage: a muxer refuses it), or
    at its time where ``strict`` (MP4, MOV and NUT, whose decoding times must increase; a joined stream's
    first packet, which overlaps the last one) or with its bytes (a repeat). At the same time with other
    bytes it follows: TrueHD's 0.83 ms packets in Matroska's 1 ms times share one time in six."""
    return last_pts is not None and (pts < last_pts or (pts == last_pts and (strict or data == last_data)))


class HeldAudio:
    """Audio packets held back until the video written reaches their start: encode and decode write
    a packet once a frame whose span covers its start is out, so output cut after a frame (--frames)
    ends its audio with that frame instead of the half second demuxing had read ahead."""

    def __init__(self, time_base: Fraction) -> None:
        self.time_base = time_base  # of the packets' pts
        self._held: collections.deque[AudioPacket] = collections.deque()

    def hold(self, packets: Iterable[AudioPacket]) -> None:
        self._held.extend(packets)

    def earliest(self) -> int | None:
        """The smallest pts held (None: none held)."""
        return min((ap.pts for ap in self._held), default=None)

    def upto(self, video_end: Fraction) -> Iterator[AudioPacket]:
        """Release, in order, the held packets that start before ``video_end`` (seconds)."""
        while self._held and self._held[0].pts * self.time_base < video_end:
            yield self._held.popleft()


def _audio_track(path: str | BinaryIO, index: int, timeout: float = NETWORK_TIMEOUT_S) -> AudioTrack | None:
    """Describe audio stream ``index`` of a (re-openable) input, or None if it has no packets; a URL is
    read with ``timeout`` (seconds; 0: none)."""
    try:
        with (_interruptible(lambda: av.open(path, timeout=timeout or None), str(path)) if is_url(path)
              else av.open(ffmpeg_name(path))) as inp:
            stream = inp.streams.audio[index]
            first = next((p for p in inp.demux(stream) if p.size), None)
            return None if first is None else _describe_audio(stream, first)
    except (av.FFmpegError, OSError, ValueError) as exc:
        log.warning("cannot carry the audio of this input (%s); encoding video only", exc)
        return None


def _describe_audio(stream: av.audio.stream.AudioStream, first: av.Packet) -> AudioTrack:
    """The description of an audio stream, from its first packet (which this muxes: it is not to be used
    again): FFmpeg's Matroska header for it (its codec, rate, layout, extradata) and that packet."""
    buf = io.BytesIO()
    # bitexact: no random segment UID or muxing date, so the same input gives the same stream bytes.
    with av.open(buf, "w", format="matroska", options={"fflags": "+bitexact"}) as out:
        tmpl = out.add_stream_from_template(stream)
        first.stream = tmpl
        out.mux(first)
    return AudioTrack(stream.time_base or Fraction(1, 90000), buf.getvalue())


def _transparent(frame: av.VideoFrame) -> bool:
    """Whether a frame with an alpha channel has a pixel that is not opaque (an RGBA screenshot is
    opaque all over: said nothing)."""
    try:
        rgba = frame.reformat(format="rgba").to_ndarray()
    except (av.FFmpegError, ValueError):
        return False
    return bool((rgba[..., 3] < 255).any())


# Decoders that make no picture of a packet the input's end cut short, but fail it in their frame threads
# at the final flush, where PyAV drops the pictures the threads still hold (VideoSource._cut_tail_dropped;
# measured on faststart MP4s cut at 100 points: with the packet decoded, H.264 lost frames at 101 of them,
# HEVC 93, AV1 81; MJPEG, MPEG-4 and ProRes none, VP9 10 and 85 with it dropped)
_CUT_PACKET_FAILS = frozenset({"h264", "hevc", "libdav1d", "av1", "libaom-av1"})

# Decoders whose frames' side data can carry metadata (the ICC profile of a PNG with an iCCP chunk names
# itself), which PyAV (18.1 at least) frees twice once it has wrapped it: the process crashed (SIGSEGV)
_SIDE_DATA_WITH_METADATA = frozenset({"png", "apng"})


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def names_its_icc_profile(packet: bytes) -> bool:
    """Whether a PNG's bytes hold an iCCP chunk before its image data (its chunks walked by their lengths:
    a text chunk may hold the bytes "IDAT"), whose decoded frame carries side data that PyAV cannot read
    safely (:data:`_SIDE_DATA_WITH_METADATA`). Bytes that are no PNG file: whether "iCCP" is anywhere."""
    if not packet.startswith(_PNG_SIGNATURE):
        return b"iCCP" in packet
    at = len(_PNG_SIGNATURE)
    while at + 8 <= len(packet):
        length, kind = int.from_bytes(packet[at:at + 4], "big"), packet[at + 4:at + 8]
        if kind == b"iCCP":
            return True
        if kind == b"IDAT":
            return False
        at += 12 + length
    return False


def display_orientation(frame: av.VideoFrame, safe: bool = True) -> tuple[bool, bool, bool]:
    """(transpose, flip rows, flip columns), in that order, that put a decoded picture upright as its
    display matrix asks (FFmpeg's: ``x' = a·x + c·y``, ``y' = b·x + d·y``), as ffmpeg's autorotate and
    PIL's ``exif_transpose`` do: quarter turns and mirrors (the eight EXIF orientations; an angle
    between them goes to the nearest quarter turn). PyAV's ``frame.rotation`` gives the angle alone,
    which took a mirrored photo (EXIF 2, 4, 5, 7) for a turned one: upside down. Where the frame's side
    data is not ``safe`` to read (:func:`names_its_icc_profile`), the angle is what there is."""
    m = None
    if safe:
        try:
            data = frame.side_data.get(av.sidedata.sidedata.Type.DISPLAYMATRIX)
            m = np.frombuffer(bytes(data), dtype="<i4") if data is not None else None
        except (AttributeError, ValueError, TypeError):
            m = None
    if m is None or m.size < 5:
        quarter = round(getattr(frame, "rotation", 0) / 90) % 4  # counter-clockwise quarter turns
        return ((False, False, False), (True, True, False), (False, True, True), (True, False, True))[quarter]
    a, b, c, d = (int(v) for v in (m[0], m[1], m[3], m[4]))
    if abs(a) + abs(d) >= abs(b) + abs(c):  # x' = ±x, y' = ±y
        return False, d < 0, a < 0
    return True, b < 0, c < 0  # x' = ±y, y' = ±x: the transpose, then its flips


AVFMT_NOTIMESTAMPS = 0x0080  # libavformat's flag of a format whose packets carry no timestamps (raw H.264)


def nominal_rate(average: Fraction | None, guessed: Fraction | None) -> Fraction | None:
    """A video stream's frame rate as the header records it: the demuxer's average rate, unless the
    rate it guesses from the stream's timing (FFmpeg's ``av_guess_frame_rate``, what ``ffmpeg`` gives
    its outputs) is within 1 % of it. An MP4 of 30000/1001 fps often averages 243090000/8111111 from
    its durations, and one whose edit list trims a frame of 250 averages 2500/83 at 30 fps (0.4 %
    off); the nominal rate keeps y4m headers readable and right (ffmpeg writes 30:1 there) and lets
    12.0+ packet headers count frames (a whole 3003 units a frame in a 1/90000 time base:
    `container.pts_step`). A variable rate further from it keeps its average."""
    if average and guessed and abs(guessed / average - 1) < Fraction(1, 100):
        return guessed
    return average or guessed or None


def timed_rate(pts: list[int], time_base: Fraction, announced: Fraction | None) -> Fraction | None:
    """The rate frames at ``pts`` (in ``time_base``) come at: ``announced`` unless the pace of five or
    more frames (:func:`timespec.steady_rate`: pauses left out) is more than 1 % off it (a variable-rate
    Matroska file announces its DefaultDuration's rate, say 25, where its frames come at 12.5); then
    that pace (to a denominator of at most 1001·1000)."""
    if len(pts) < 5:  # (2 or 3 frames of 60 fps in Matroska's milliseconds: 1000/17 fps)
        return announced
    pace = steady_rate([(b - a) * time_base for a, b in itertools.pairwise(pts)])
    if pace is None or (announced and abs(pace / announced - 1) <= Fraction(1, 100)):
        return announced
    return Fraction(pace).limit_denominator(1001 * 1000)


def grid_rate(average: Fraction | None, guessed: Fraction | None) -> Fraction | None:
    """The frame rate a stream's header records: :func:`nominal_rate`, except that a variable rate whose
    guessed rate is higher than its average records the guessed one, the finest grid its timestamps
    fall on (FFmpeg's ``r_frame_rate``, bounded as ``av_guess_frame_rate`` bounds it): the rate FFmpeg
    gives its constant-rate outputs. A y4m decode puts frames on the header's grid, and an MP4 whose
    frames run at 30 fps with a gap of one frame in ten averages 27.55: on that grid 3 frames of 45 were
    dropped, on 30's every frame is kept (as ``ffmpeg -i in.mp4 out.y4m`` keeps them), and frames on a
    whole grid count their pts in steps. The average stays what an encode counts with (the rate
    controller's bits a frame, frame estimates)."""
    nominal = nominal_rate(average, guessed)
    if nominal and guessed and guessed > nominal:
        return guessed
    return nominal


def _frames_from_duration(stream: av.video.stream.VideoStream, container: av.container.InputContainer,
                          rate: Fraction | None) -> int:
    """Frames in ``stream`` by its duration (the stream's, else the container's) at ``rate``; 0 when
    either is unknown. Exact for y4m (FFmpeg counts its fixed-size frames), within a frame or two
    for Matroska and WebM, which record a duration and no count."""
    if not rate:
        return 0
    if stream.duration and stream.time_base:
        seconds = stream.duration * stream.time_base
    elif container.duration and container.duration > 0:
        seconds = Fraction(container.duration, av.time_base)
    else:
        return 0
    return max(0, round(seconds * rate))


class VideoSource:
    """An opened video input: iterate it (once) for :class:`VideoFrame` records; close it when done.

    With an audio stream, ``audio_track`` describes it and the compressed audio packets met while
    demuxing collect in a queue that :meth:`take_audio` empties (thread-safe). The description is read
    from ``audio_from`` (the input opened a second time); with ``audio_inline`` (an input that can be
    read only once), from the first audio packet the demuxing meets, the packets before it held for
    it (:data:`AUDIO_WAIT_S`, :data:`AUDIO_WAIT_BYTES`).
    """

    def __init__(self, container: av.container.InputContainer, name: str, spool: BinaryIO | None,
                 audio_from: str | BinaryIO | None = None, start: float | Fraction | None = None,
                 seekable: bool = True, read_timeout: float = 0, live: bool = False,
                 audio_inline: bool = False, packet_limit: int | None = None, sequence_first: int = 0) -> None:
        self.name = name
        self._sequence_first = sequence_first  # (an image sequence) the number of its first picture's file
        # (an image sequence: its pictures up to the first gap in their numbers, one a packet; FFmpeg's
        # image2 reader knows only where to start)
        self._packet_limit = packet_limit
        self.network = is_url(name)  # a network input: a read that times out or fails may end it
        self.read_timeout = read_timeout  # (seconds) what open_source opened a URL with; 0: none
        self.live = live  # a live network input (a camera, a broadcast: open_source tells): ends quietly
        self._container = container
        self._spool = spool
        streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not streams:
            found = ", ".join(sorted({"cover art" if s.type == "video" else s.type for s in container.streams}))
            found = found or "no streams"
            raise InputError(f"{name} has no video stream (found: {found}); give a video file")
        # as ffmpeg picks it: a stream marked default before one that is not (a Matroska file can hold its
        # cover first with no attached-picture flag: a one-frame MJPEG track), then the largest (an
        # MPEG-TS marks none), then the first
        self._stream = stream = max(streams, key=lambda s: (bool(s.disposition & av.stream.Disposition.default),
                                                            (s.width or 0) * (s.height or 0)))
        if len(streams) > 1:  # said, as ffmpeg's "Stream #0:1 -> #0:0" says it
            log.info("%s has %d video streams; coding stream %d (%dx%d)", name, len(streams), stream.index,
                     stream.width or 0, stream.height or 0)
        # (an image sequence: a picture at a time, without frame threads, so that one that does not decode
        # is skipped where it comes; held in the threads, it failed the final flush, and PyAV's flush then
        # dropped the good pictures held with it)
        stream.thread_type = "AUTO" if packet_limit is None else "SLICE"
        self.time_base: Fraction = stream.time_base or Fraction(1, 90000)
        average = stream.average_rate
        if int(getattr(container.format, "flags", 0) or 0) & AVFMT_NOTIMESTAMPS and stream.guessed_rate:
            # a raw H.264/HEVC/MPEG-2 stream: its frames have no timestamps, and its "average" is the
            # demuxer's -framerate default (25), not the stream's; the rate its timing info gives is
            # what its frames are timed at, as ffmpeg times them (a 29.97 fps .h264 was coded at 25)
            average = stream.guessed_rate
        self.frame_rate: Fraction | None = nominal_rate(average, stream.guessed_rate)
        self.grid_rate: Fraction | None = grid_rate(average, stream.guessed_rate)  # the header's
        self.frame_count: int = stream.frames or 0
        # What the frame count would be from the stream's duration when the container gives no count
        # (y4m, Matroska/WebM): an estimate for progress bars and rate control, never a promise
        # (not the stream header's frame count, not the truncation warning). 0: unknown.
        # The frames the stream's duration makes (0: unknown): fewer than the container's count where an
        # edit list (a stream-copied cut) hides frames the count includes
        # (not a fragmented MP4 read as it comes: its duration is its first fragment's)
        self.frames_by_duration: int = (0 if not seekable and container.format.name.startswith("mov")
                                        else _frames_from_duration(stream, container, self.frame_rate))
        self.estimated_frames: int = self.frame_count or self.frames_by_duration
        if packet_limit is not None:  # (image2 counts the files past a gap it found)
            self.frame_count = min(self.frame_count, packet_limit) if self.frame_count else 0
            self.estimated_frames = min(self.estimated_frames or packet_limit, packet_limit)
        # AVI's count includes the frames it dropped (empty chunks in their place, a variable rate): fewer
        # frames than it announces is no sign of a cut there when they reach its end
        self.counts_dropped_frames: bool = container.format.name == "avi"
        self.audio: AudioInfo | None = None
        self.audio_track: AudioTrack | None = None
        self._audio_stream = None
        # (where it was demuxed: the decoding time of the video packet before it, None: none; packet)
        self._audio_queue: collections.deque[tuple[int | None, AudioPacket]] = collections.deque()
        # Audio packets not to be heard that come before the first that is: flagged discard by the demuxer
        # (an edit list's cut, decoded only to warm the decoder up) or before a --start. The last of them
        # are kept for that warm-up (_warm_up: AAC's priming), the rest dropped, as a decode would take them
        # for sound that starts before the picture
        self._unheard: collections.deque[tuple[int | None, AudioPacket]] = collections.deque(
            maxlen=KEPT_DISCARDED_AUDIO)
        self._audio_presented = False  # a packet to be heard has come
        self._last_audio_in: int | None = None  # the pts of the last audio packet queued (after the warm-up)
        self._last_audio_data = b""  # ... and its bytes
        self._frames_out = 0
        self._video_dts: int | None = None  # the decoding time of the last video packet demuxed
        # (index, decoding time FFmpeg gives it) of the frames handed out, with audio to go beside them
        self._marks: collections.deque[tuple[int, int | None]] = collections.deque()
        self._mark: int | None = None  # the latest of those times that take_audio has reached
        # read_audio_to: the audio pts (on the output's clock) up to which the demuxing reads on (None: not),
        # and the most video packets it reads for it
        self._drain_to: int | None = None
        self._drain_packets = 0
        # the input was read to its end (not stopped early: --frames, -t, Ctrl-C; read_audio_to may reach it)
        self.ended = False
        self._seekable = seekable  # False: a pipe (a --start decodes up to it)
        self._shift = 0  # with a start time: subtracted from every pts (the kept frame's from the first's)
        self._audio_cut: int | None = None  # with a start time: audio packets before this pts are dropped
        self._audio_shift = 0  # ... and the others moved back by this much (the video's shift, in audio units)
        a = container.streams.audio[0] if container.streams.audio else None
        if a is not None and a.codec_context is None:  # a codec this FFmpeg does not know (no decoder at all)
            if audio_from is not None or audio_inline:
                log.warning("%s: its audio is in a codec this FFmpeg does not know: coding the video without it", name)
        elif a is not None:
            self.audio = AudioInfo(a.codec_context.name, a.rate or 0, a.channels or 0, a.time_base)
            if audio_from is not None:
                self.audio_track = _audio_track(audio_from, 0, read_timeout)
                if self.audio_track is not None:
                    self._audio_stream = a
            elif audio_inline:
                self._audio_stream = a  # demuxed with the video; described by its first packet (_held_for_audio)
        self._describing = self._audio_stream is not None and self.audio_track is None
        self._pts_step = max(1, round(1 / (self.frame_rate * self.time_base))) if self.frame_rate else 1
        self._last_pts: int | None = None
        self._last_source_pts: int | None = None  # the latest pts the source gave (_late)
        self._gap: tuple[int, int] | None = None  # the last jump ahead of the source's pts (_late)
        self._warned: set[str] = set()
        # MPEG-TS, PS, HLS, live FLV: timestamps that jump (files joined with cat, a capture's clock reset) are
        # mended
        self._jumps = (TimestampJumps(self.name, {stream.index: 1 / self.frame_rate if self.frame_rate else 0})
                       if container.format.flags & av.format.Flags.ts_discont.value else None)
        self._reformatter = VideoReformatter()  # one scaler context for the stream, not one per frame
        self._icc_named = False  # a picture before the first frame named its ICC profile (a PNG's iCCP)
        self._frames = self._demuxed()
        first = next(self._frames, None)
        if first is None:
            if stream.codec_context.name == "webp":  # FFmpeg's WebP decoder reads still pictures only
                raise InputError(f"{name}: FFmpeg decodes no frame of this WebP: an animated WebP is not read by "
                                 "FFmpeg; convert it first (e.g. to a GIF or PNG frames with Pillow or ImageMagick)")
            raise InputError(f"{name}: the video stream has no decodable frames; is the file complete?")
        self._first: av.VideoFrame | None = first
        fmt = first.format
        self.pix_fmt: str = fmt.name
        # The first frame's (pix_fmt follows mid-stream changes; the stream header records this)
        self.chroma_subsampling: tuple[int, int] | None = _chroma_shifts(fmt.name)
        self.color_matrix: int = normalize_matrix(
            _tag(first.colorspace, stream.codec_context.colorspace, MATRIX_UNSPECIFIED)
        )
        self.color_range: int = _tag(first.color_range, stream.codec_context.color_range, RANGE_UNSPECIFIED)
        # Colour primaries and transfer (H.273 code points; 2 = unspecified): carried to the stream
        # header (extension tag 5) for a decoder to tag its output with, as the matrix is
        self.color_primaries: int = _tag(first.color_primaries, stream.codec_context.color_primaries, 2)
        self.color_trc: int = _tag(first.color_trc, stream.codec_context.color_trc, 2)
        # (transpose, flip rows, flip columns): upright as its display matrix says (a phone's rotation,
        # an EXIF orientation, mirrors included)
        self._orient = display_orientation(first, safe=not self._icc_named)
        self._coded_size = (first.width, first.height)
        self.width, self.height = first.width, first.height
        # Sample (pixel) aspect ratio, None for square pixels: anamorphic video (a 720×576 16:9 DVD
        # picture has 64:45) keeps its display shape. Rotating a quarter turn turns it over.
        sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
        self.sample_aspect: Fraction | None = Fraction(sar) if sar and sar > 0 and sar != 1 else None
        if self._orient[0]:  # a quarter turn (the transpose): width and height swap
            self.width, self.height = self.height, self.width
            if self.sample_aspect is not None:
                self.sample_aspect = 1 / self.sample_aspect
        self.start_pts: int = self._pts(first)
        self._reformat_args = self._color_args(fmt)
        # the tags the conversion follows (matrix, range), from each frame that has its own: a stream whose
        # range or matrix changes (full-range H.264 joined to limited) is converted by each part's own
        self._converting = (self.color_matrix, self.color_range)
        if max(c.bits for c in fmt.components) > 8:
            log.info("%s is %s (more than 8 bits); converting to 8-bit RGB", name, fmt.name)
        transfer = _tag(first.color_trc, stream.codec_context.color_trc, 2)
        if transfer in _HDR_TRANSFERS:
            log.warning("%s is HDR (%s): vidcodec codes 8-bit SDR and does not tone-map, so it will look "
                        "washed out; tone-map it to SDR first (e.g. ffmpeg's zscale + tonemap)", name,
                        _HDR_TRANSFERS[transfer])
        if (fmt.has_palette or any(c.is_alpha for c in fmt.components)) and _transparent(first):
            log.warning("%s has transparent pixels (%s): vidcodec codes RGB only, so the alpha channel is dropped "
                        "and the colours under it show; flatten it onto a background first (e.g. ffmpeg's "
                        "-filter_complex with overlay on a color source)", name, fmt.name)
        if first.interlaced_frame:
            log.warning("%s is interlaced: it is coded as progressive frames (combing on motion); "
                        "deinterlace it first for better pictures (e.g. ffmpeg -vf bwdif)", name)
        if start is not None:  # 0 too: the first frame, and the audio that begins before it dropped (as decode's)
            self._start_at(Fraction(start))

    def _cut_tail_dropped(self, packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
        """``packets`` without a video packet that the input's end cut short (FFmpeg flags it corrupt, and
        only flush packets follow it), said, for decoders that never make a picture of one
        (:data:`_CUT_PACKET_FAILS`). Decoded, its error came out of the frame threads at the flush, where
        PyAV then drops the pictures they still held: the last good frames of a cut file (as many as the
        decoder's threads) were lost without a word. Other decoders make a picture of it (MJPEG, MPEG-4,
        often VP9), as ffmpeg shows it: it is decoded."""
        if self._stream.codec_context.name not in _CUT_PACKET_FAILS:
            yield from packets
            return
        held = None
        earlier = False  # a video packet went to the decoder before (a cut first packet is decoded: none to lose)
        for packet in packets:
            if held is not None:
                if not packet.size:  # the end: the held packet was the last data
                    log.warning("%s: the input ends inside a frame (%d bytes of it): that partial frame is dropped",
                                self.name, held.size)
                else:
                    yield held
                held = None
            if packet.size and packet.stream is self._stream:
                if packet.is_corrupt and earlier:
                    held = packet
                    continue
                earlier = True
            yield packet
        if held is not None:  # (a demuxer that gives no flush packets)
            yield held

    def _held_for_audio(self, packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
        """``packets``, the audio described from its first packet before any is handed on (an input read
        once: ``audio_inline``): the packets before it are read and held, for at most :data:`AUDIO_WAIT_S`
        (:data:`AUDIO_WAIT_FRAGMENT_S` in MP4) of video in decoding order and :data:`AUDIO_WAIT_BYTES` of
        its packets; none by then: video only, said (none at all in the whole input: said by nothing, as
        a file's audio stream without packets). A read error while holding comes after the packets held."""
        held: list[av.Packet] = []
        size, first, error = 0, None, None
        gave_up = ""
        ended = False  # the input ran out while holding
        wait = self._audio_wait_s()
        try:
            for packet in packets:
                held.append(packet)
                if packet.stream is not self._stream:
                    if packet.size and packet.pts is not None:
                        self._describe(packet)
                        break
                    continue
                size += packet.size
                # decoding order (dts): with B-frames a packet's pts runs ahead of the audio beside it
                at = packet.dts if packet.dts is not None else packet.pts
                if at is not None and packet.time_base:
                    first = at if first is None else first
                    if (at - first) * packet.time_base >= wait:
                        gave_up = f"{float((at - first) * packet.time_base):.2f} s"
                        break
                if size > AUDIO_WAIT_BYTES:
                    gave_up = f"{size >> 20} MB"
                    break
            else:
                ended = True
        except (av.FFmpegError, OSError) as exc:  # (the demuxing loop says what it means, after these packets)
            error = exc
        self._describing = False
        if self.audio_track is None:
            if gave_up:
                log.warning("%s: no audio packet came within the first %s of video (read once, the input's "
                            "audio is described by its first packet); encoding video only", self.name, gave_up)
            self._audio_stream = None
        yield from held
        if error is not None:
            raise error
        if not ended:  # (a generator run to its end raises StopIteration when iterated again)
            yield from packets

    def _audio_wait_s(self) -> int:
        """How far into the video (seconds, in decoding order) its audio may be stored: a fragmented MP4
        read in order gives a fragment's video, then its audio, and a fragment is a GOP."""
        return AUDIO_WAIT_FRAGMENT_S if self._container.format.name.startswith("mov") else AUDIO_WAIT_S

    def _describe(self, packet: av.Packet) -> None:
        """Describe the audio from its first packet (an input read once: :data:`audio_inline`), through a
        copy of it: the packet itself goes on to the demuxing loop."""
        copy = av.Packet(bytes(packet))
        copy.pts, copy.dts, copy.duration, copy.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
        copy.is_keyframe = packet.is_keyframe
        for side in packet.iter_sidedata():
            copy.set_sidedata(side)
        try:
            self.audio_track = _describe_audio(packet.stream, copy)
        except (av.FFmpegError, OSError, ValueError) as exc:
            log.warning("cannot carry the audio of %s (%s); encoding video only", self.name, exc)

    def _start_at(self, start: Fraction) -> None:
        """Begin at the first frame ``start`` seconds or more after the first frame (as FFmpeg's input
        ``-ss``): seek to the keyframe before it where the input can seek, then decode and drop the
        frames before it. Its pts becomes the input's first pts, the later frames' and the audio's
        move back by as much; audio packets that begin before it are dropped. Raises InputError when
        the video ends first."""
        if start < 0:
            raise UsageError(f"--start must be 0 or more seconds, got {float(start):g}")
        target = self.start_pts + start / self.time_base  # in pts units (a fraction)
        if self._packet_limit is not None and target - self.start_pts >= self._packet_limit:  # past a gap
            raise InputError(f"{self.name}: no video at or after --start {float(start):g} s (the sequence ends at "
                             f"its first gap, picture {self._packet_limit} of it); give an earlier start")
        first, origin = self._first, self.start_pts
        pts = origin  # the first frame's, already read
        sought = False
        if self._seekable and target > origin:
            try:
                self._container.seek(int(target), backward=True, any_frame=False, stream=self._stream)
            except (av.FFmpegError, OSError, ValueError, OverflowError) as exc:  # Overflow: a start past any file
                log.debug("%s: cannot seek (%s); decoding up to the start", self.name, exc)
            else:
                sought = True
                self._restart()
                first = next(self._frames, None)
                # An inexact index: the seek landed after the start, or at the end of the file with no
                # frame at all (MPEG-TS, whose seeks go by byte position, on short files)
                if first is None or (first.pts is not None and first.pts > target):
                    log.debug("%s: the seek landed after the start; decoding from the beginning", self.name)
                    self._rewind()
                    first = next(self._frames, None)
                if first is not None:
                    pts = self._pts(first)

        def up_to_target(first: av.VideoFrame | None, pts: int) -> tuple[av.VideoFrame | None, int]:
            while first is not None and pts < target:
                first = next(self._frames, None)
                while first is not None and self._late(first):  # a stray is never the first frame kept
                    first = next(self._frames, None)
                if first is not None:
                    pts = self._pts(first)
            return first, pts

        first, pts = up_to_target(first, pts)
        if first is None and sought and self._jumps is not None and self._jumps.jumps:
            # files joined (MPEG-TS): the start is on the mended clock, which the part the seek landed
            # in does not know (an input that has shown no jump is not read again for a start past its end)
            log.debug("%s: no frame at the start after the seek; decoding from the beginning", self.name)
            self._rewind()
            first = next(self._frames, None)
            first, pts = up_to_target(first, self._pts(first) if first is not None else pts)
        if first is None:
            raise InputError(f"{self.name}: no video at or after --start {float(start):g} s (the video is "
                             f"shorter); give an earlier start")
        self._first = first
        self._shift = shift = pts - origin
        skipped = shift * self.time_base * self.frame_rate if self.frame_rate else 0
        if self.frame_count:
            self.frame_count = max(1, self.frame_count - round(skipped))
        if self.estimated_frames:
            self.estimated_frames = max(1, self.estimated_frames - round(skipped))
        # Audio from the kept frame's time on, moved back by the same time (to the audio's tick).
        if self._audio_stream is not None:
            atb = self._audio_stream.time_base or Fraction(1, 90000)
            self._audio_cut = math.ceil(pts * self.time_base / atb)
            self._audio_shift = round(shift * self.time_base / atb)
            # what was demuxed up to the kept frame, sorted again: before the cut (the last of it kept to warm
            # the decoder up) or after it
            queued = [*self._unheard, *self._audio_queue] if not self._audio_presented else [*self._audio_queue]
            self._audio_queue.clear()
            self._unheard.clear()
            self._audio_presented = False
            self._last_audio_in = None
            for at, ap in queued:
                self._queue_audio((at, replace(ap, pts=ap.pts - self._audio_shift)),
                                  self._before_cut(ap.pts, ap.duration), atb)
        self._frames_out = 1  # the kept frame is the first one out (the live checks count from it)

    def _demuxed(self) -> Iterator[av.VideoFrame]:
        """The decoded frames from the container's position on (AVI's put in display order)."""
        frames = self._decoded()
        return _display_order_pts(frames) if self._container.format.name == "avi" else frames

    def _rewind(self) -> None:
        """Back to the input's start (a seek that went wrong), or InputError where it cannot go back."""
        try:
            self._container.seek(0, backward=True, stream=self._stream)
        except (av.FFmpegError, OSError, ValueError) as exc:  # (OSError: av's BrokenPipeError, not stdout's)
            raise InputError(f"{self.name}: cannot go back to its start after a seek that missed --start "
                             f"({_reason(exc)}); give the input as a file, or cut it with ffmpeg first") from None
        self._restart()

    def _restart(self) -> None:
        """After a seek: a fresh demuxing generator, no queued audio, no pts history, not at its end."""
        self.ended = False
        self._frames.close()
        self._frames = self._demuxed()
        self._audio_queue.clear()
        self._unheard.clear()
        self._audio_presented = False
        self._last_audio_in = None
        self._video_dts = None
        if self._jumps is not None:
            self._jumps = self._jumps.restarted()
        self._last_pts = self._last_source_pts = self._gap = None

    def _color_args(self, fmt: av.video.format.VideoFormat, tags: tuple[int, int] | None = None) -> dict[str, object]:
        """Keyword arguments for ``reformat`` that convert this source's frames to full-range RGB (``tags``:
        the (matrix, range) to follow, the first frame's by default)."""
        args: dict[str, object] = {"format": "rgb24", "dst_color_range": ColorRange.JPEG}
        if fmt.is_rgb or fmt.has_palette:
            return args
        tagged_matrix, tagged_range = tags if tags is not None else (self.color_matrix, self.color_range)
        color_range = tagged_range
        if color_range == RANGE_UNSPECIFIED and fmt.name.startswith("yuvj"):
            color_range = RANGE_FULL
        matrix, color_range = resolve_color(tagged_matrix, color_range, self._coded_size[1])
        args["src_color_range"] = ColorRange(color_range)
        if len(fmt.components) >= 3:
            args["src_colorspace"] = _SWS_MATRIX[matrix]
        if (matrix, color_range) != (tagged_matrix, tagged_range):
            log.debug("%s: converting with matrix %d, range %d (tagged %d, %d)", self.name, matrix,
                      color_range, tagged_matrix, tagged_range)
        return args

    def _decoded(self) -> Iterator[av.VideoFrame]:
        """Decoded PyAV frames; undecodable packets are logged and skipped."""
        streams = [self._stream] + ([self._audio_stream] if self._audio_stream is not None else [])
        packets = self._cut_tail_dropped(self._container.demux(*streams))
        if self._describing:
            packets = self._held_for_audio(packets)
        failures = 0
        joining = False  # a network input's packets that do not decode before its first frame
        last = time.monotonic()  # when the last packet came
        drained = drained_bytes = 0  # read_audio_to: the video packets (and their bytes) read past the last frame
        last_picture = None  # (packet_limit) the number, from 0, of the last picture read
        while True:
            if self._packet_limit is not None and last_picture is not None and last_picture + 1 >= self._packet_limit:
                for frame in self._drained():  # the decoder's held frames
                    self._frames_out += 1
                    yield frame
                self.ended = True
                return
            try:
                packet = next(packets, None)
                if packet is None:
                    _reraise_held(self._container)  # (a signal, not the input's end)
            except av.FFmpegError as exc:
                _reraise_held(self._container)
                if not self.network:
                    if not self._frames_out or self._drain_to is not None:  # (read_audio_to: the video is done,
                        # and its caller says this at debug level)
                        raise InputError(f"{self.name}: cannot read the file past this point: {exc}") from exc
                    # damage that stops the demuxer after frames came (ffmpeg keeps them too): the frames
                    # before it are the input's, as a truncated file's are (its count is said by the caller)
                    log.warning("%s: cannot read the file past this point (%s): the input ends here", self.name,
                                exc.strerror or exc)
                    # (not ``ended``, as a live input's end: the audio goes as far as the video, as it does
                    # after --frames or -t, whose frames the decoder may have been reading ahead for)
                else:
                    quiet = self.read_timeout and time.monotonic() - last >= self.read_timeout
                    why = (f"nothing received for {self.read_timeout:g} s"
                           if quiet or isinstance(exc, (av.ExitError, av.TimeoutError)) else exc.strerror or str(exc))
                    if not self.live or not self._frames_out:  # a file on a server cut short, or nothing came
                        raise InputError(f"{self.name}: {why}"
                                         + (" before its first frame" if not self._frames_out else "")) from exc
                    # a live stream that stopped: its sender gone quiet, the connection dropped or closed;
                    # the decoder's held frames are the stream's last ones
                    log.warning("%s: %s: the input ends here", self.name, why)
                try:
                    held = self._stream.codec_context.decode(None)
                except av.FFmpegError:
                    held = []
                for frame in held:
                    self._frames_out += 1
                    yield frame
                return
            last = time.monotonic()
            if packet is None:
                self.ended = True
                if self._packet_limit is not None and (last_picture is None or last_picture + 1 < self._packet_limit):
                    self._say_sequence_cut(0 if last_picture is None else last_picture + 1)
                return
            if self._jumps is not None:
                self._jumps.mend(packet)
            if packet.stream is not self._stream:
                if self._audio_stream is None:  # (an input read once whose audio was not described)
                    continue
                if packet.size and packet.pts is not None:
                    before_cut = self._before_cut(packet.pts, packet.duration or 0)
                    if before_cut and self._audio_presented:
                        continue  # (late, out of order)
                    ap = AudioPacket(bytes(packet), packet.pts - self._audio_shift, packet.duration or 0)
                    self._queue_audio((self._video_dts, ap), before_cut or packet.is_discard, packet.time_base)
                    if self._drain_to is not None and ap.pts >= self._drain_to:
                        return
                continue
            if packet.size and self._packet_limit is not None:
                if packet.pts is not None and packet.pts >= self._packet_limit:  # (a seek past the gap)
                    last_picture = packet.pts
                    continue
                last_picture = packet.pts if packet.pts is not None else (last_picture or 0) + 1
            if packet.size and packet.dts is not None:
                self._video_dts = packet.dts
            if self._drain_to is not None:  # (read_audio_to: the video is not wanted)
                drained += 1
                drained_bytes += packet.size
                if drained > self._drain_packets or drained_bytes > AUDIO_WAIT_BYTES:
                    return
                continue
            if not self._frames_out and packet.size and self._stream.codec_context.name in _SIDE_DATA_WITH_METADATA:
                # (an APNG's header chunks, its iCCP among them, are the stream's extradata)
                self._icc_named = self._icc_named or names_its_icc_profile(bytes(packet)) or (
                    self._stream.codec_context.name == "apng")
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                if self.live and self._frames_out == 0:  # a live stream joined between its keyframes
                    if not joining:
                        log.info("%s: waiting for a keyframe (the stream was joined after its last one)", self.name)
                    joining = True
                    continue
                failures += 1
                if self._stream.codec_context.name == "rawvideo":  # frames of one size: a short one is the last
                    log.warning("%s: the input ends inside a frame (%d bytes of it): that partial frame is "
                                "dropped", self.name, packet.size)
                else:
                    log.warning("%s: skipping a packet that does not decode (pts %s): %s", self.name, packet.pts,
                                exc)
                if failures > MAX_CONSECUTIVE_DECODE_ERRORS:
                    raise InputError(f"{self.name}: too many decoding errors in a row; the file is corrupt "
                                     f"or its codec is unsupported ({exc})") from exc
                continue
            failures = 0
            for frame in frames:
                self._frames_out += 1
                yield frame

    def _say_sequence_cut(self, picture: int) -> None:
        """An image sequence whose reading FFmpeg ended at ``picture`` (from 0) before its last file: the
        file there is empty, or its first bytes could not be read (image2 takes that for the end)."""
        number = self._sequence_first + picture
        try:
            name = str(frame_name(Path(self.name), number))
        except (UsageError, ValueError, TypeError):
            name = f"frame {number}"
        after = self._packet_limit - picture - 1 if self._packet_limit is not None else 0
        if not after:
            log.warning("%s: %s, its last file, is empty or cannot be read: the sequence ends before it", self.name,
                        name)
            return
        log.warning("%s: %s is empty or cannot be read: the sequence ends before it, and the %d file%s after it "
                    "%s not read (as FFmpeg does; replace or remove it to read them)", self.name, name, after,
                    "" if after == 1 else "s", "is" if after == 1 else "are")

    def _drained(self) -> Iterator[av.VideoFrame]:
        """The frames the decoder still holds at the input's end (none for an image sequence, decoded
        without frame threads: see ``__init__``); one that does not decode is said, not raised."""
        try:
            yield from self._stream.codec_context.decode(None)
        except av.FFmpegError as exc:
            log.warning("%s: skipping a picture that does not decode: %s", self.name, exc)

    def _before_cut(self, pts: int, duration: int) -> bool:
        """Whether an audio packet (its source pts, duration) ends by a --start's cut: wholly before it (the
        packet the start falls in is heard, from the start on)."""
        return self._audio_cut is not None and pts + max(duration, 1) <= self._audio_cut

    def _queue_audio(self, item: tuple[int | None, AudioPacket], unheard: bool, time_base: Fraction | None) -> None:
        """Queue an audio packet; one ``unheard`` (flagged discard, or before a --start) that comes before the
        first to be heard is held, and only the last of those go ahead of it (:func:`_warm_up`)."""
        if self._audio_presented:
            if audio_goes_back(item[1].pts, item[1].data, self._last_audio_in, self._last_audio_data):
                # a join's overlap (the next file's sound starts a little before its picture), or damage:
                # a muxer refuses it, and a decode took it for a damaged stream
                if "audio order" not in self._warned:
                    self._warned.add("audio order")
                    log.info("%s: audio that does not come after the audio before it is left out (at pts %d)",
                             self.name, item[1].pts)
                return
            self._last_audio_in, self._last_audio_data = item[1].pts, item[1].data
            self._audio_queue.append(item)
        elif unheard:
            if len(self._unheard) == self._unheard.maxlen and "unheard" not in self._warned:
                self._warned.add("unheard")
                log.debug("%s: leaving out the audio before its start (an edit list's cut or --start) but for "
                         "the last packets, which warm a player's decoder up", self.name)
            self._unheard.append(item)
        else:
            self._audio_presented = True
            self._audio_queue.extend(_warm_up(self._unheard, time_base or Fraction(1, 90000)))
            self._unheard.clear()
            self._last_audio_in, self._last_audio_data = item[1].pts, item[1].data
            self._audio_queue.append(item)

    def _pts(self, frame: av.VideoFrame) -> int:
        """The frame's pts; previous + one frame when missing or not increasing."""
        pts = frame.pts
        if pts is not None:
            latest = self._last_source_pts
            if latest is None or pts > latest:
                if latest is not None and pts - latest > LATE_GAP_FRAMES * self._pts_step:
                    self._gap = (latest, pts)
                self._last_source_pts = pts
        if self._last_pts is None:
            pts = pts if pts is not None else (self._stream.start_time or 0)
        elif pts is None or pts <= self._last_pts:
            if pts is not None:
                self._warn_once("pts", "%s: pts %d does not increase; using %d", self.name, pts,
                                self._last_pts + self._pts_step)
            pts = self._last_pts + self._pts_step
        self._last_pts = pts
        return pts

    def _warn_once(self, key: str, msg: str, *args: object) -> None:
        """Log a warning the first time ``key`` comes up."""
        if key not in self._warned:
            self._warned.add(key)
            log.warning(msg, *args)

    def _rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """The frame as contiguous H×W×3 uint8 RGB, upright, at the size of the first frame."""
        # a frame's own tags, where it has them, else those followed so far (a tag that comes and goes
        # is not a change)
        matrix = normalize_matrix(frame.colorspace if frame.colorspace is not None else MATRIX_UNSPECIFIED)
        tags = (matrix if matrix != MATRIX_UNSPECIFIED else self._converting[0],
                _tag(frame.color_range, self._converting[1], RANGE_UNSPECIFIED))
        if frame.format.name != self.pix_fmt or tags != self._converting:
            if frame.format.name != self.pix_fmt:
                self._warn_once("format", "%s: pixel format changes to %s mid-stream", self.name, frame.format.name)
            else:
                log.debug("%s: the colour tags change mid-stream (matrix %d, range %d): converting by them",
                          self.name, *tags)
            self._reformat_args = self._color_args(frame.format, tags)
            self.pix_fmt = frame.format.name
            self._converting = tags
        w, h = self._coded_size
        if (frame.width, frame.height) != (w, h):
            self._warn_once("size", "%s: frame size changes mid-stream; scaling to %dx%d", self.name, w, h)
        rgb = self._reformatter.reformat(frame, width=w, height=h, interpolation=_SWS_FLAGS,
                                         **self._reformat_args).to_ndarray()
        transpose, flip_rows, flip_columns = self._orient
        if transpose:
            rgb = rgb.transpose(1, 0, 2)
        if flip_rows:
            rgb = rgb[::-1]
        if flip_columns:
            rgb = rgb[:, ::-1]
        return np.ascontiguousarray(rgb)

    def __iter__(self) -> Iterator[VideoFrame]:
        """Frames in presentation order; a source can be iterated once."""
        if self._first is None:
            raise UsageError(f"{self.name}: a VideoSource can only be iterated once")
        first, self._first = self._first, None
        marking = self._audio_stream is not None  # (take_audio)
        if marking:
            self._marks.append((0, first.dts))
        yield VideoFrame(self._rgb(first), self.start_pts, 0)
        for index, frame in enumerate(self._frames, start=1):
            if self._late(frame):
                continue
            if marking:
                self._marks.append((index, frame.dts))
            yield VideoFrame(self._rgb(frame), self._pts(frame) - self._shift, index)

    def _late(self, frame: av.VideoFrame) -> bool:
        """Whether ``frame`` is a stray that a damaged stream's decoder returns late: the source's times
        jumped ahead (frames lost) by more than LATE_GAP_FRAMES and this one falls in that gap, at most
        LATE_FRAME_S behind the latest (a TS at 25 fps: 1.80, 2.20, 1.84, 2.24 s). Dropped, as ffmpeg's output drops it: given the next frame's time,
        every frame after it would be a frame late. Other frames that do not increase keep the old rule
        (_pts: one frame after the last): a repeated or missing pts, a muxer that stored decode-order
        times (B-frames: 0, 2, 3, 4, 1), streams joined end to end (the clock restarts)."""
        latest, gap = self._last_source_pts, self._gap
        if frame.pts is None or latest is None or frame.pts >= latest:
            return False
        if (latest - frame.pts) * self.time_base > LATE_FRAME_S:
            self._last_source_pts, self._gap = frame.pts, None  # the clock went back: a new timeline
            return False
        if gap is None or not gap[0] < frame.pts < gap[1]:
            return False
        self._warn_once("late", "%s: a frame at pts %d comes after one at %d, in the gap before it (a damaged "
                        "input?); dropping it, as ffmpeg does", self.name, frame.pts, latest)
        return True

    def take_audio(self, before: int | None = None) -> list[AudioPacket]:
        """The audio packets demuxed since the last call, in order; with ``before`` (the index of a frame
        this source has handed out), only those that come before that frame's place in the file: before
        the video packet whose decoding time FFmpeg gives the frame (``pkt_dts``; the same frames get
        the same times whatever the decoder's threads, which hold frames back by as many packets). Those
        have all been demuxed by the time the frame is handed out, however far the demuxing ran ahead,
        so the same input always gives the same packets here: the writer, which holds each until the
        video it has written reaches its start (:class:`HeldAudio`), then interleaves audio and video
        the same way on every machine. A frame without that time goes by the last one's; an input
        whose packets carry none hands out all it has (that depends on the demuxing's pace)."""
        if before is not None:
            while self._marks and self._marks[0][0] <= before:
                dts = self._marks.popleft()[1]
                if dts is not None:
                    self._mark = dts
        out = []
        while self._audio_queue:
            at, packet = self._audio_queue[0]
            if before is not None and at is not None and self._mark is not None and at >= self._mark:
                break
            out.append(packet)
            self._audio_queue.popleft()
        return out

    def read_audio_to(self, video_end: Fraction) -> None:
        """After the last frame wanted (--frames, -t): read on, without decoding the video, until an
        audio packet that starts at ``video_end`` (seconds on the output's clock) or later has been
        demuxed, for at most as much video as an input read once waits for its first audio packet
        (:data:`AUDIO_WAIT_S`, :data:`AUDIO_WAIT_FRAGMENT_S` in MP4, in packets at the frame rate;
        :data:`AUDIO_WAIT_BYTES`), or to the input's end. The audio that goes with the last frames then
        does not depend on how far the demuxing had run ahead when they came out. Not for a live network
        input, nor once the input ended; a read that fails ends it (the video is all there). A pipe is
        waited for at most :data:`AUDIO_TAIL_WAIT_S` in all (its writer may keep it open without
        writing); what came by then goes."""
        if (self._audio_stream is None or self.ended or self.live or getattr(self._frames, "gi_running", False)
                or self._first is not None):
            return
        atb = self._audio_stream.time_base or Fraction(1, 90000)
        end = math.ceil(video_end / atb)
        if self._last_audio_in is not None and self._last_audio_in >= end:
            return
        self._drain_packets = math.ceil(self._audio_wait_s() * (self.frame_rate or 60))
        self._drain_to = end
        reader = _read_once_reader(self._container)
        if reader is not None:  # a pipe: its writer may hold it open without writing
            reader.deadline = time.monotonic() + AUDIO_TAIL_WAIT_S
        try:
            for _ in self._frames:
                pass
        except (InputError, av.FFmpegError, OSError) as exc:
            log.debug("%s: reading on for the audio: %s", self.name, exc)
        finally:
            self._drain_to = None
            if reader is not None:
                reader.deadline = None

    def close(self) -> None:
        """Close the container and delete the stdin spool file, if any. Not while another thread is
        inside the demuxing (an interrupt while it waits for a live pipe): that thread keeps the
        container, and the process that is stopping leaves it to the end."""
        if getattr(self._frames, "gi_running", False):
            log.debug("%s: still being read by another thread; not closed", self.name)
            return
        self._frames.close()
        self._container.close()
        if self._spool is not None:
            self._spool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TimestampJumps:
    """FFmpeg's mending of timestamp discontinuities in the formats that allow them (``AVFMT_TS_DISCONT``:
    MPEG-TS, MPEG-PS, HLS, live FLV), as the ``ffmpeg`` command does it, but only where the clock of the
    whole input jumps: a packet whose dts is more than :data:`JUMP_S` past every stream's latest, or more
    than a tenth of a second before every stream's latest, moves, with every packet of every stream
    after it, so that its stream goes on from where it was due. Two TS files joined with ``cat`` had kept
    the second one's clock: a jump back (which FFmpeg's 33-bit wrap correction makes 26 hours ahead) or
    of an hour ahead, a still frame for a minute then a hole in the output. A gap in one stream alone (a
    video that pauses while its sound goes on, an audio dropout) is not a jump of the clock and stays
    (ffmpeg's own mending takes it for one, and loses the sync); in a file of one stream it cannot be told
    from one, and is mended as ffmpeg does."""

    def __init__(self, name: str, steps: dict[int, Fraction], jumps: int = 0) -> None:
        self.name = name
        self.steps = steps  # a video stream's frame duration (seconds), for packets that carry none
        # seconds added to the timestamps of each part met so far (the latest last): a demuxer hands over
        # a stream's last packets of one part after the next part's first packets of another stream
        self.offsets = [Fraction(0)]
        self.due: dict[int, Fraction] = {}  # each stream's next dts (seconds, mended)
        self.latest: dict[int, Fraction] = {}  # each stream's last dts
        self.jumps = jumps  # mended so far (said once)

    def restarted(self) -> TimestampJumps:
        """The state for reading again after a seek (nothing known; the jumps already met are not)."""
        return TimestampJumps(self.name, self.steps, self.jumps)

    def _fits(self, dts: Fraction, index: int) -> bool:
        """Whether ``dts`` (mended) goes on from where its stream was: not back, and at most JUMP_S on."""
        return dts + Fraction(1, 10) >= self.latest[index] and dts - self.due[index] <= JUMP_S

    def mend(self, packet: av.Packet) -> None:
        tb = packet.time_base
        if not tb or packet.dts is None:
            if tb and self.offsets[-1] and packet.pts is not None:
                packet.pts += round(self.offsets[-1] / tb)
            return
        raw, index = packet.dts * tb, packet.stream.index
        offset = self.offsets[-1]
        if index in self.due:
            # the part it belongs to: the latest, unless it goes on from its stream's last packet only on an
            # earlier part's clock (a stream's last packets of a part come after the next part's first
            # packets of another stream), or the whole clock jumps here
            due = self.due[index]
            late = [o for o in self.offsets[:-1] if self._fits(raw + o, index) and raw + o - due <= STRAGGLER_S]
            if late and not (self._fits(raw + offset, index) and raw + offset - due <= STRAGGLER_S):
                offset = min(late, key=lambda o: abs(raw + o - due))  # a packet of an earlier part, handed late
            elif not self._fits(raw + offset, index) and (
                    raw + offset > max(self.latest.values()) + JUMP_S or \
                    raw + offset + Fraction(1, 10) < min(self.latest.values())):
                # the whole input's clock jumped: the new part goes on after everything of the last one
                end = max(self.due.values())
                offset = end - raw
                self.offsets.append(offset)
                self.jumps += 1
                (log.warning if self.jumps == 1 else log.info)(
                    "%s: its timestamps jump by %.3f s (a discontinuity: files joined, a clock reset); it goes "
                    "on from where it was, as ffmpeg does", self.name, float(raw + self.offsets[-2] - end))
        if offset:
            move = round(offset / tb)
            packet.dts += move
            packet.pts = None if packet.pts is None else packet.pts + move
        dts = packet.dts * tb
        self.due[index] = max(self.due.get(index, dts), dts + (packet.duration * tb if packet.duration
                                                              else self.steps.get(index, 0)))
        self.latest[index] = max(self.latest.get(index, dts), dts)


# A jump of a discontinuous format's timestamps by more than this (seconds) is mended (ffmpeg's
# -dts_delta_threshold)
JUMP_S = 10
# ... and a packet after a jump that goes on from its stream's last one on the clock before it, within
# this (seconds), is one of that part's, which the demuxer handed over late
STRAGGLER_S = 1

# A stray frame this many seconds or less before the latest one is dropped as late (VideoSource._late); further
# back, the source's clock went back (streams joined end to end) and the frames follow on one frame apart.
LATE_FRAME_S = 1
# ... and only where the frame before it jumped ahead by more than this many frames: a muxer that stored
# decode-order times with B-frames makes smaller jumps (x264's pyramid of 3: 0, 3, 2, 4, 1).
LATE_GAP_FRAMES = 8

# Audio packets flagged discard ahead of the first one that is not, kept for the decoder's warm-up: AAC's
# priming is 1024 to 2112 samples, one or two 1024-sample packets wholly before the start (the packet
# the start falls in is not flagged); a decode to MP4 or MOV hides them (api.LEADING_AUDIO_S)
KEPT_DISCARDED_AUDIO = 2
# ... and at most this long together (seconds): with the packet the start falls in they stay under the lead
# a decode takes for sound that starts before the picture (api.LEADING_AUDIO_S) at any rate (8 kHz AAC: one)
KEPT_DISCARDED_AUDIO_S = Fraction(3, 20)
# An input read once (a pipe, a streamed stdin, a live URL) has its audio described from the first
# audio packet its demuxing meets; the packets before it are held (not decoded), for at most this long
# (seconds of the video's time from its first packet; the muxers interleave the two streams much closer:
# ffmpeg's MPEG-TS within 0.7 s, Matroska and NUT by their timestamps) ...
AUDIO_WAIT_S = 2
# ... but a fragmented MP4 (the only MP4 read as it comes) gives each fragment's video, then its audio, and
# ffmpeg makes a fragment of each GOP (x264's 250 frames: 10 s at 25 fps): there, this long
AUDIO_WAIT_FRAGMENT_S = 30
# ... and this many bytes of video packets (2 s of raw 1080p at 30 fps in NUT is 190 MB): decided by the
# input's bytes alone, in the order the demuxer gives them, so the same input gives the same stream on
# every machine
AUDIO_WAIT_BYTES = 256 << 20
# A pipe read on after the last frame of a cut encode for the audio beside it (read_audio_to): its writer
# may hold it open without writing (a live source, `(cat f; sleep 60) |`)
AUDIO_TAIL_WAIT_S = 1.0


def _warm_up(unheard: Iterable[tuple[int | None, AudioPacket]],
             time_base: Fraction) -> list[tuple[int | None, AudioPacket]]:
    """The last of the packets that come before the first to be heard: at most KEPT_DISCARDED_AUDIO of
    them, together at most KEPT_DISCARDED_AUDIO_S long (a packet of unknown duration is not kept)."""
    kept: list[tuple[int | None, AudioPacket]] = []
    total = Fraction(0)
    for item in reversed(list(unheard)):
        total += item[1].duration * time_base
        if len(kept) == KEPT_DISCARDED_AUDIO or item[1].duration <= 0 or total > KEPT_DISCARDED_AUDIO_S:
            break
        kept.append(item)
    return kept[::-1]

_HDR_TRANSFERS = {16: "PQ, SMPTE ST 2084", 18: "HLG, ARIB STD-B67"}  # FFmpeg's AVColorTransferCharacteristic
AVI_REORDER_DEPTH = 16  # frames a decoder may hold back to reorder (H.264 needs at most 16)


def _display_order_pts(frames: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
    """AVI frames with their timestamps put in display order. AVI stores one timestamp per packet in
    decode order (an empty packet, "repeat the previous frame", still takes one), so a codec that
    reorders (B-frames) hands out a frame with another frame's timestamp; the set is right, the order
    is not. Each frame gets the smallest timestamp among itself and the next AVI_REORDER_DEPTH frames
    not yet given out: the k-th frame shown gets the k-th smallest timestamp, and the gaps that
    empty packets leave (frames shown for longer) stay. A frame without a timestamp keeps none (the
    reader then continues at the frame rate)."""
    pending: collections.deque[av.VideoFrame] = collections.deque()
    stamps: list[int] = []
    for frame in frames:
        pending.append(frame)
        if frame.pts is not None:
            heapq.heappush(stamps, frame.pts)
        if len(pending) > AVI_REORDER_DEPTH:
            yield _restamped(pending.popleft(), stamps)
    while pending:
        yield _restamped(pending.popleft(), stamps)


def _restamped(frame: av.VideoFrame, stamps: list[int]) -> av.VideoFrame:
    if frame.pts is not None:
        frame.pts = heapq.heappop(stamps)
    return frame


def _tag(frame_value: int, stream_value: int, unspecified: int) -> int:
    """The frame's colour tag, or the stream's when the frame has none."""
    return frame_value if frame_value not in (unspecified, None) else stream_value


class _PrefixedReader:
    """A non-seekable reader that replays bytes already read from ``rest`` before reading on."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest
        self.held: BaseException | None = None  # a signal's exception met inside FFmpeg's read (see read)
        # (time.monotonic) a read that would wait past this ends the input (read_by); None: reads wait
        self.deadline: float | None = None
        self._fd: int | None = None  # read_by: the pipe's descriptor, read below its BufferedReader

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes: those already there (``read1``), so that a live pipe's packets reach the
        demuxer as they arrive instead of once FFmpeg's whole buffer is filled (a Matroska pipe's first
        packet 3.15 -> 1.12 s, MPEG-TS 1.78 -> 0.98 s, NUT 2.20 -> 1.00 s; the median delay behind the
        source 1.72 -> 0.84, 1.02 -> 0.23, 1.03 -> 0.14 s, 2026-12-05)."""
        try:
            below = self.deadline is not None and self._fd_below() is not None  # (what it holds joins the head)
            if self._head:
                out, self._head = self._head[:size], self._head[size:]
                return out
            if self.held is not None:
                return b""
            if below:
                return self._read_by(size)
            if isinstance(self._rest, io.BufferedReader):  # (a custom reader's inherited read1 may only raise)
                return self._rest.read1(size)
            return self._rest.read(size)
        except Exception:
            raise
        except BaseException as exc:  # noqa: BLE001 - held, and raised again by reraise()
            # Ctrl-C or the CLI's SIGTERM while a stalled pipe is read inside FFmpeg's call (its probing, the
            # first frames): PyAV printed and dropped it, and FFmpeg read again, for ever. Held, the input
            # ends here, and whoever called FFmpeg raises it (reraise)
            self.held = exc
            return b""

    def _fd_below(self) -> int | None:
        """The pipe's file descriptor, once what its BufferedReader holds is taken (into ``_head``); None
        for any other reader (one in memory never waits; a decompressor's or an HTTP response's
        descriptor is not the bytes it gives) and where the system cannot wait on one (no ``poll``)."""
        if self._fd is None:
            if type(self._rest) not in (io.BufferedReader, io.FileIO) or not hasattr(select, "poll"):
                return None
            try:
                fd = self._rest.fileno()
            except (OSError, ValueError, io.UnsupportedOperation):
                return None
            if isinstance(self._rest, io.BufferedReader):
                self._head += take_buffered(self._rest, fd)
            self._fd = fd
        return self._fd

    def _read_by(self, size: int) -> bytes:
        """Up to ``size`` bytes from the pipe if they come by :attr:`deadline`, else none (its end, to
        FFmpeg); from the descriptor (what its BufferedReader held went first, as the head), holding no lock."""
        waiting = select.poll()  # (not select(): no descriptor above 1023)
        waiting.register(self._fd, select.POLLIN)
        if not waiting.poll(max(0, round(1000 * (self.deadline - time.monotonic())))):
            return b""
        return os.read(self._fd, size)

    def reraise(self) -> None:
        """Raise the signal's exception a read held (see read)."""
        if self.held is not None:
            raise self.held


def _read_once_reader(container: av.container.InputContainer | None) -> _PrefixedReader | None:
    """The :class:`_PrefixedReader` that ``container`` reads (a pipe read once), else None."""
    reader = getattr(getattr(container, "file", None), "file", None)
    return reader if isinstance(reader, _PrefixedReader) else None


def _reraise_held(container: av.container.InputContainer | None) -> None:
    """Raise the signal's exception that the reader of ``container`` (a :class:`_PrefixedReader`) held."""
    reader = _read_once_reader(container)
    if reader is not None:
        reader.reraise()


def _open_read_once(reader: _PrefixedReader) -> av.container.InputContainer:
    """``av.open`` of a pipe's reader; a signal met in its reads is raised (not FFmpeg's error)."""
    try:
        container = av.open(reader)
    except av.FFmpegError:
        reader.reraise()
        raise
    if reader.held is not None:
        container.close()
        reader.reraise()
    return container


# Formats FFmpeg reads only from a file, as it seeks in them: MP4/MOV/3GP (ISO base media), whose index
# (moov) may come last, unless in fragments (each with its own index: a live fMP4, CMAF); and AVI, whose
# index comes last. A pipe in one of them is spooled to a temporary file first; anything else goes to
# FFmpeg as it comes (y4m, Matroska/WebM, NUT, MPEG-TS, FLV, Ogg, elementary streams...), so a live
# source should come in one of those. (Until 2026-12-07 everything but y4m, Matroska/WebM, NUT, FLV, Ogg,
# GIF, JPEG, PNG, start codes and MPEG-TS beginning on its sync byte was spooled: a fragmented MP4 gave no
# output until its source ended, and random bytes filled the disk.)
_ISO_BOXES = frozenset((b"ftyp", b"styp", b"moov", b"moof", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid",
                        b"sidx", b"prft", b"meta", b"pdin", b"emsg"))


def _needs_a_file(head: bytes) -> bool:
    """Whether the first bytes of a pipe start a format FFmpeg reads only from a file (see above): AVI, or
    ISO base media whose top-level boxes in ``head`` reach no ``moof`` (fragment) before an ``mdat`` or
    the end of ``head`` (where it cannot be told, the file is the safe side)."""
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    pos = 0
    while pos + 8 <= len(head):
        size, kind = int.from_bytes(head[pos:pos + 4], "big"), head[pos + 4:pos + 8]
        if kind not in _ISO_BOXES:
            return pos > 0  # not ISO base media at all; or a box it does not know: the safe side
        if kind == b"moof":
            return False
        if kind == b"mdat" or size == 0:  # (0: the box runs to the end of the file)
            return True
        if size == 1:  # a 64-bit size follows the type
            if pos + 16 > len(head):
                return True
            size = int.from_bytes(head[pos + 8:pos + 16], "big")
        if size < 8:
            return True
        pos += size
    return pos > 0


def _read_head(f: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes from ``f``, fewer only at end of file."""
    chunks: list[bytes] = []
    got = 0
    while got < size:
        chunk = f.read(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _file_behind(stream: BinaryIO) -> str | None:
    """The path of the regular file a file object reads (stdin redirected from a file), where the system
    names it (Linux's /proc/self/fd): opened again, it reads from the start without moving ``stream``."""
    try:
        fd = stream.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        path = os.path.realpath(f"/proc/self/fd/{fd}")
        return path if os.path.isfile(path) and os.path.samefile(path, f"/proc/self/fd/{fd}") else None
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _open_stdin(stdin: BinaryIO, name: str = "-") -> tuple[av.container.InputContainer, BinaryIO | None]:
    """Open stdin (or the named pipe ``name``, opened as ``stdin``): directly if seekable or streamable,
    else after spooling it to a temporary file (returned, for the caller to close after the container)."""
    what = "stdin" if name == "-" else name
    if stdin.isatty():
        raise InputError("stdin is a terminal; pipe a video into it (e.g. `< clip.mp4`) or give a path")
    head = _read_head(stdin, _STDIN_PEEK)
    if not head:
        raise InputError(f"{what} is empty; pipe a video into it or give a path" if name == "-" else
                         f"{what} is empty (its writer closed it without writing); give a video")
    _refuse_gvc_head(head, name)
    if _seekable(stdin):
        start = stdin.seek(-len(head), os.SEEK_CUR)
        # FFmpeg seeks to offsets from the media's start: one that starts further in is read through a
        # reader that counts from there
        return av.open(_Borrowed(stdin, start) if start else stdin), None
    if not _needs_a_file(head):
        return _open_read_once(_PrefixedReader(head, stdin)), None
    spool = tempfile.TemporaryFile(prefix="vidcodec-stdin-")  # noqa: SIM115 - VideoSource closes it
    try:
        try:
            spool.write(head)
            shutil.copyfileobj(stdin, spool, _SPOOL_CHUNK)
        except OSError as exc:
            if exc.errno not in NO_ROOM:
                raise
            raise InputError(f"cannot keep {what} in a temporary file in {tempfile.gettempdir()} (this format is "
                             f"read from a file): {exc.strerror}; set TMPDIR to a folder with room") from exc
        size = spool.tell()
        spool.seek(0)
        opened = av.open(spool)  # said once FFmpeg has read it as media (not for data that is none)
        log.info("%s is in a format read from a file (MP4/MOV, AVI); spooled %s to a temporary file", what,
                 f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB")
        return opened, spool
    except BaseException:
        spool.close()
        raise


def _open_fifo(path: Path) -> tuple[av.container.InputContainer, BinaryIO, bool]:
    """Open a named pipe (a FIFO, ``<(...)``, ``/dev/stdin`` of a pipe) as a piped stdin is opened
    (:func:`_open_stdin`: its first bytes looked at, a .gvc stream refused with what to do, a format
    FFmpeg reads only from a file spooled to one): the container, what the caller closes after it (the
    pipe, or the spool), and whether that is the spool (a file, which seeks)."""
    f = path.open("rb")
    try:
        container, spool = _open_stdin(f, str(path))
    except BaseException:
        f.close()
        raise
    if spool is None:
        return container, f, False
    f.close()  # (read to its end)
    return container, spool, True


class _Borrowed(io.RawIOBase):
    """A second reader over a seekable file object (stdin's spool, an in-memory stdin) that another
    reader (the video's demuxer) also reads: its own position, counted from ``base``; each read puts the object's position back, so
    the other reader, which runs only before or after it, never sees it move."""

    def __init__(self, f: BinaryIO, base: int) -> None:
        self._f, self._base, self._pos = f, base, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        keep = self._f.tell()
        try:
            self._f.seek(self._base + self._pos)
            data = self._f.read(len(buf))
        finally:
            self._f.seek(keep)
        n = len(data)
        buf[:n] = data
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            keep = self._f.tell()
            try:
                self._pos = self._f.seek(0, io.SEEK_END) - self._base + offset
            finally:
                self._f.seek(keep)
        return self._pos

    def tell(self) -> int:
        return self._pos


def _position(f: BinaryIO) -> int | None:
    """``f``'s position if it can seek, else None."""
    try:
        return f.tell() if f.seekable() else None
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None


def _seekable(f: BinaryIO) -> bool:
    """Whether ``f`` can seek (a redirected regular file, not a pipe)."""
    try:
        return f.seekable()
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class RawFormat:
    """Headerless frames (FFmpeg's rawvideo): what the bytes are, since they do not say it themselves."""

    width: int
    height: int
    fps: Fraction
    pix_fmt: str = "yuv420p"

    def __post_init__(self) -> None:
        if not all(isinstance(v, numbers.Integral) and v > 0 for v in (self.width, self.height)):
            raise UsageError(f"raw frames need a width and height above 0 (got {self.width}x{self.height})")
        try:
            fps = Fraction(self.fps)
        except (TypeError, ValueError, ZeroDivisionError):
            fps = Fraction(0)
        if fps <= 0:
            raise UsageError(f"raw frames need a frame rate above 0 (got {self.fps!r})")
        try:
            av.VideoFormat(self.pix_fmt)
        except (ValueError, TypeError):
            raise UsageError(f"{self.pix_fmt!r} is not a pixel format FFmpeg knows (e.g. yuv420p, yuv422p, "
                             "yuv444p, nv12, rgb24, bgr24, gray; `ffmpeg -pix_fmts` lists them all)") from None

    def options(self) -> dict[str, str]:
        return {"video_size": f"{self.width}x{self.height}", "framerate": str(self.fps),
                "pixel_format": self.pix_fmt}


def ffmpeg_name(path: str | os.PathLike[str] | BinaryIO) -> str | BinaryIO:
    """A local file's name as FFmpeg must be given it: ``file:`` before a name with a colon before its
    first ``/`` (``12:30.mp4``, ``./clip:1.mkv`` as Path writes it), which FFmpeg takes for a protocol
    (ffmpeg itself opens ``./12:30.mp4``; Python's paths drop the ``./``). A file object as it is."""
    if not isinstance(path, (str, os.PathLike)):
        return path
    name = os.fspath(path)
    return f"file:{name}" if os.name != "nt" and ":" in name.split("/", 1)[0] else name


def _open_raw(target: str | BinaryIO, raw: RawFormat, name: str) -> av.container.InputContainer:
    try:
        return av.open(target, format="rawvideo", options=raw.options())
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"cannot read {name} as raw {raw.pix_fmt} {raw.width}x{raw.height} frames: {exc}") from exc


def _refuse_gvc(path: Path) -> None:
    """A .gvc stream given as a video input: say what to do with it."""
    with path.open("rb") as f:
        _refuse_gvc_head(f.read(16), str(path))


def _refuse_gvc_head(head: bytes, name: str) -> None:
    """Raise InputError when an input's first bytes ``head`` are a .gvc stream's (a file, or stdin: ``-``)."""
    from .container import FILE_MAGIC  # (container imports this module)

    if head.startswith(FILE_MAGIC):
        # (a named pipe has given its bytes away: the command for what fed it)
        what, example = (("stdin", "- out.y4m") if name == "-" else (name, f"{name} out.y4m") if os.path.isfile(name)
                         else (f"{name} (a pipe)", "IN out.y4m"))
        raise InputError(f"{what} is a vidcodec stream already; to re-encode it, decode it first "
                         f"(vidcodec decode {example}) and encode that")


def refuse_container_as_raw(path: Path, given: str = "--size, --fps and --pix-fmt", hint: str = "") -> None:
    """Raise UsageError when ``path`` is a video container, which raw options (``given``, named in the
    message, with ``hint`` after it) would read as garbage.

    Raw frames have no header, so FFmpeg does not recognise them; a file it opens with a video
    stream of a known size (mp4, mov, y4m, ...) was given raw options by mistake. (FFmpeg's image2
    takes a ``.raw`` or ``.y`` name for one raw picture of no size: that is raw frames.)
    """
    try:
        with av.open(ffmpeg_name(path)) as probe:
            fmt = probe.format.name
            video = [s for s in probe.streams.video if s.codec_context.width and s.codec_context.height]
            described = (f"{video[0].codec_context.width}x{video[0].codec_context.height} "
                         f"{video[0].codec_context.name}") if video else ""
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return
    if video:
        they = "they describe" if " and " in given else "it describes"
        raise UsageError(f"{path} is a {fmt} file with {described} video, not raw frames: drop {given} "
                         f"({they} headerless input; this file says what it holds{hint})")


_NUMBER = re.compile(r"%0?(\d*)d")  # printf's %d, %4d, %04d: a frame number in an image sequence's name
IMAGE_RATE = Fraction(25)  # an image sequence's frame rate unless given (FFmpeg's -framerate default)
# What image sequences are read from (FFmpeg's image2 demuxer reads these and more)
IMAGE_INPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".pnm", ".tif", ".tiff", ".webp",
                          ".tga", ".dpx", ".exr")
# Names of other media files: a .gvc written under one of them would not play there (encode and remux refuse)
NOT_GVC_EXTENSIONS = (*OUTPUT_EXTENSIONS, *IMAGE_INPUT_EXTENSIONS, ".avi", ".webm", ".ts", ".mpg", ".mpeg", ".flv",
                      ".gif", ".264", ".h264", ".265", ".hevc", ".m4v", ".nut", ".ogv")


def refuse_media_name(dst: str | Path, what: str, note: str = "") -> None:
    """UsageError where the output of a .gvc stream (``what`` writes it) has another media file's name
    (out.mp4): it would not play there. ``note`` follows the name refused."""
    suffix = Path(dst).suffix
    if suffix.lower() in NOT_GVC_EXTENSIONS:
        raise UsageError(f"{what}, not {suffix}{note}; to make a {suffix} file, use `vidcodec decode STREAM.gvc {dst}`")


def check_input_file(path: Path) -> None:
    """InputError unless ``path`` names a file that can be read (what a video file path must pass)."""
    if not path.exists():
        hint = (" (an image sequence's name has one %d or %04d, %% for a percent sign, an image extension, "
                "and a file it names must exist)" if "%" in path.name else "")
        raise InputError(f"{path}: no such file; check the path{hint}")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give a video file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied; check the file's permissions")


def check_input_first(src: object) -> None:
    """The input checks that need nothing opened, made before an output is looked at (as ffmpeg checks its
    inputs before it asks about an output): a file path that does not exist or cannot be read."""
    if not isinstance(src, (str, Path)) or str(src) == "-" or is_url(src) or image_sequence(src) is not None:
        return
    check_input_file(Path(src))


def frame_pattern(path: str | Path, extensions: tuple[str, ...] = IMAGE_INPUT_EXTENSIONS) -> tuple[str, int] | None:
    """An image sequence's name as FFmpeg's image2 spells it, checked: (the text around the number,
    the number's width) when the file name (not its folder) holds exactly one ``%d`` (``%4d``,
    ``%04d``: zero-padded to that width either way, as FFmpeg writes them), every other ``%`` is
    ``%%``, and the extension is an image's; else None. The text has ``{}`` where the number goes."""
    path = Path(path)
    if str(path) == "-" or path.suffix.lower() not in extensions:
        return None
    parts = re.split(r"(%%|%0?\d*d)", path.name)
    numbers = [p for p in parts if _NUMBER.fullmatch(p)]
    rest = [p for p in parts if p != "%%" and not _NUMBER.fullmatch(p)]
    if len(numbers) != 1 or any("%" in p or "{" in p or "}" in p for p in rest):
        return None
    width = int(_NUMBER.fullmatch(numbers[0]).group(1) or 0)
    text = "".join("%" if p == "%%" else "{}" if _NUMBER.fullmatch(p) else p for p in parts)
    return text, width


def frame_name(path: Path, number: int) -> Path:
    """The file of frame ``number`` of the image sequence ``path`` (a :func:`frame_pattern` name)."""
    text, width = frame_pattern(path, (path.suffix.lower(),))
    return path.with_name(text.format(f"{number:0{width}d}"))


def image_sequence(path: str | Path, extensions: tuple[str, ...] = IMAGE_INPUT_EXTENSIONS,
                   warn: bool = False) -> tuple[Path, int] | None:
    """``path`` as an image sequence that is there: (the pattern, the lowest frame number of a file it
    names exactly), or None when ``path`` names a file itself, is no :func:`frame_pattern` or names no
    file. FFmpeg starts only at numbers 0 to 4 unless told; this finds where the sequence starts (and
    with ``warn``, logs a gap in its numbers: what follows the gap is not read, as with FFmpeg)."""
    path = Path(path)
    found = _sequence_numbers(path, extensions)
    if not found:
        return None
    run = _run_length(found)
    if run < len(found) and warn:
        log.warning("%s: frame %d is missing, so the sequence ends at frame %d (%d more files after the gap are "
                    "not read, as FFmpeg does)", path, found[0] + run, found[0] + run - 1, len(found) - run)
    return path, found[0]


def sequence_length(path: str | Path, extensions: tuple[str, ...] = IMAGE_INPUT_EXTENSIONS) -> int:
    """How many files an image sequence's pattern names from its lowest number up to its first gap
    (0: none); FFmpeg's image2 reader, told where to start but not where to stop, looks past a gap for
    the last file by doubling its step, and failed on the missing one (1-3 and 5-6: it found 5)."""
    found = _sequence_numbers(Path(path), extensions)
    return _run_length(found) if found else 0


def _sequence_numbers(path: Path, extensions: tuple[str, ...]) -> list[int] | None:
    """The frame numbers, sorted, of the files that the pattern ``path`` names exactly (None: no
    pattern, a file of that very name, or a folder that cannot be read)."""
    spec = frame_pattern(path, extensions)
    if spec is None or path.exists():
        return None
    text, width = spec
    head, tail = text.split("{}")
    named = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))
    try:
        return sorted(int(m.group(1)) for entry in os.scandir(path.parent)
                      if (m := named.fullmatch(entry.name)) and m.group(1) == f"{int(m.group(1)):0{width}d}")
    except OSError:
        return None


def _run_length(found: list[int]) -> int:
    """How many of the sorted numbers ``found`` follow on from the first without a gap."""
    return next((i for i, n in enumerate(found) if n != found[0] + i), len(found))


# URLs of files: read again for the audio's description, and seekable for --start; the others are
# live (a second connection to a camera or a broadcast for the audio would be another stream)
_FILE_SCHEMES = ("http", "https", "ftp", "sftp", "file")


def _interruptible(opener: Callable[[], av.container.InputContainer], name: str,
                   stop: threading.Event | None = None) -> av.container.InputContainer:
    """``opener()`` in a thread that this one waits for, so that Ctrl-C (KeyboardInterrupt here) or
    ``stop`` ends the wait (FFmpeg's network opens block without checking for either; ``stop`` raises
    :class:`Stopped`). An open given up on is left to finish on its own thread, which then closes
    what it opened."""
    lock = threading.Lock()
    result: list = []
    abandoned = [False]

    def run() -> None:
        try:
            outcome = (True, opener())
        except BaseException as exc:  # noqa: BLE001 -- handed to the waiting thread
            outcome = (False, exc)
        with lock:
            if not abandoned[0]:
                result.append(outcome)
                return
        if outcome[0]:
            outcome[1].close()

    worker = threading.Thread(target=run, name="vidcodec-open", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
            if stop is not None and stop.is_set():
                raise Stopped(f"{name}: stopped while waiting for it to send")
    except BaseException:
        with lock:
            abandoned[0] = True
            late = result[:]
        if late and late[0][0]:
            late[0][1].close()
        raise
    ok, value = result[0]
    if not ok:
        raise value
    return value


def _reason(exc: BaseException) -> object:
    """An open's failure in FFmpeg's words, without its errno and file name ("[Errno 1094995529] ...")."""
    return getattr(exc, "strerror", None) or exc


def _ffmpeg_pattern(path: Path) -> str:
    """``path`` as FFmpeg's image2 reads a pattern: a ``%`` in its folders doubled (only the file name
    holds the number)."""
    return str(Path(str(path.parent).replace("%", "%%")) / path.name)


def open_source(src: str | Path, *, stdin: BinaryIO | None = None, raw: RawFormat | None = None,
                audio: bool = False, start: float | Fraction | None = None,
                framerate: Fraction | None = None, timeout: float | None = None,
                stop: threading.Event | None = None) -> VideoSource:
    """Open a video file, or stdin for ``"-"``, for decoding to RGB; raise InputError if it cannot be.

    ``raw`` reads headerless frames of that size, rate and pixel format (a live pipe of raw frames).
    A path with ``%d`` (``%04d``...) that names no file itself is an image sequence, as FFmpeg reads
    it (:func:`image_sequence`), at ``framerate`` frames a second (default :data:`IMAGE_RATE`);
    ``framerate`` is refused for other inputs (a file carries its own rate; raw frames, ``raw``'s).
    A URL (``rtsp://``, ``udp://``, ``http://``...) is read through FFmpeg's protocols: the open waits
    for the sender; then a read that gets nothing for ``timeout`` seconds (default
    :data:`NETWORK_TIMEOUT_S`; 0: wait for ever) ends a live input with the frames so far (a file on
    a server cut short is an error, as a file is). ``stop`` (set from another thread) ends the wait
    for a sender with :class:`Stopped`.
    ``audio`` also collects the first audio stream's packets (see :class:`VideoSource`); an input
    that can be read only once (a pipe, a streamed stdin, a live URL) has its audio described from its
    first audio packet as the demuxing meets it.
    ``start`` (seconds): begin at the first frame that far after the first one, as FFmpeg's input
    ``-ss`` does (a seek where the input allows it; a pipe is decoded up to it).
    """
    spool = base = None
    packet_limit = None  # (an image sequence's pictures up to its first gap)
    seekable = str(src) != "-"
    piped = False  # a local input that is not a regular file (a FIFO, /dev/stdin, <(...))
    live = False  # a live network input (set when a URL is opened)
    if raw is not None and not isinstance(raw, RawFormat):
        raise UsageError(f"raw describes headerless frames as vidcodec.media.RawFormat(width, height, fps, "
                         f"pix_fmt), not a {type(raw).__name__}")
    if timeout is not None and not is_url(src):
        raise UsageError("--timeout (network_timeout=) is for URL inputs (rtsp://, udp://, http://...); this "
                         "input is not one")
    if timeout is not None and not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
                                    and 0 <= timeout < math.inf):
        raise UsageError(f"the network timeout must be a number of seconds >= 0 (0: wait for ever), got {timeout!r}")
    read_timeout = NETWORK_TIMEOUT_S if timeout is None else timeout
    sequence = image_sequence(src, warn=True) if raw is None else None
    if framerate is not None and raw is not None:
        raise UsageError("raw frames take their rate from their RawFormat; framerate is for image sequences")
    if framerate is not None and sequence is None and frame_pattern(src) is None:
        raise UsageError("a frame rate is given only to raw frames (with their size), to an image sequence "
                         "(a name with %d, e.g. frames/%04d.png) or to frames given as arrays (the Python API); this "
                         "input carries its own")
    if raw is not None and str(src) == "-":
        stream_in = stdin if stdin is not None else sys.stdin.buffer
        if stream_in.isatty():
            raise InputError("stdin is a terminal; pipe raw frames into it or give a path")
        container, name = _open_raw(stream_in, raw, "stdin"), "<stdin>"
    elif str(src) == "-":
        name = "<stdin>"
        try:
            stream_in = stdin if stdin is not None else sys.stdin.buffer
            base = _position(stream_in)  # where a seekable stdin's media starts, for the audio's second reader
            container, spool = _open_stdin(stream_in)
            seekable = spool is not None or _seekable(stream_in)
        except av.FFmpegError as exc:
            raise InputError(f"cannot open stdin as media: {_reason(exc)}; pipe a video file into it (raw "
                             "frames need their --size WxH, --pix-fmt and --fps)") from exc
    elif is_url(src):
        name = str(src)
        scheme = name.split("://", 1)[0].lower()
        options = raw.options() if raw is not None else {}
        try:
            # As ffmpeg: a receiver may start before its sender (udp://@:1234) and waits for it; once
            # open, a read that gets nothing for read_timeout seconds ends the input. Ctrl-C works in both.
            container = _interruptible(lambda: av.open(name, format="rawvideo" if raw is not None else None,
                                                       options=options, timeout=(None, read_timeout or None)),
                                       name, stop)
        except (av.FFmpegError, OSError) as exc:
            raise InputError(f"cannot open {name}: {_reason(exc)}; check the address and that it serves a video") from exc
        # a file on a server has a length; a camera or a broadcast has none, a live HLS playlist no duration
        live = (container.size or 0) <= 0 or (container.format.name == "hls" and container.duration is None)
        seekable = scheme in _FILE_SCHEMES and not live
    elif sequence is not None:
        pattern, first = sequence
        name = str(pattern)
        rate = IMAGE_RATE if framerate is None else framerate
        try:
            container = av.open(ffmpeg_name(_ffmpeg_pattern(pattern)), format="image2",
                                options={"framerate": str(rate), "start_number": str(first)})
        except (av.FFmpegError, OSError) as exc:
            raise InputError(f"cannot read {pattern} as an image sequence: {_reason(exc)}") from exc
        packet_limit = sequence_length(pattern) or None  # (one picture a packet) up to the first gap
    else:
        path = Path(src)
        name = str(path)
        check_input_file(path)
        mode = path.stat()
        if stat.S_ISREG(mode.st_mode) and mode.st_size == 0:
            raise InputError(f"{path} is empty; give a video file")
        # a FIFO, /dev/stdin or <(...): read once, in order (a look at it, or a second reader, takes its bytes)
        piped = stat.S_ISFIFO(mode.st_mode) or stat.S_ISCHR(mode.st_mode) or stat.S_ISSOCK(mode.st_mode)
        seekable = not piped
        if raw is not None and not piped:
            refuse_container_as_raw(path)
        if stat.S_ISREG(mode.st_mode):
            _refuse_gvc(path)
        try:
            if raw is not None:
                container = _open_raw(ffmpeg_name(path), raw, str(path))
            elif stat.S_ISFIFO(mode.st_mode):  # read once: its first bytes looked at, then given to FFmpeg
                container, spool, spooled = _open_fifo(path)
                seekable, piped = spooled, not spooled  # (a spool seeks: a --start, the audio's second reader)
            elif _NUMBER.search(str(path)) and path.suffix.lower() in IMAGE_INPUT_EXTENSIONS:
                # a picture named "shot%d.png" (or in a folder "take%d") itself: that file, not shot0.png
                # (only there: image2 takes the decoder from the name, not the bytes, and reads one APNG frame)
                container = av.open(ffmpeg_name(path), format="image2", options={"pattern_type": "none"})
            else:
                container = av.open(ffmpeg_name(path))
        except (av.FFmpegError, OSError) as exc:
            raise InputError(f"cannot open {path} as media: {_reason(exc)}; is it a video file?") from exc
        if container.format.name == "tty":  # FFmpeg renders .txt/.ans files as ANSI-art video
            container.close()
            if spool is not None:
                spool.close()
            raise InputError(f"{path} is a text file, not a video; give a video file")
    audio_from: str | BinaryIO | None = None
    inline = False  # an input read once: its audio described from the packets as they come (VideoSource)
    if audio and raw is None and container.streams.audio:
        # a live URL or a pipe opened a second time for its audio gives other bytes (the pipe's video bytes,
        # or a hang on a named FIFO)
        if live or piped:
            inline = True
        elif spool is not None:  # stdin or a named pipe kept in a temporary file: read there a second time
            audio_from = _Borrowed(spool, 0)
        elif str(src) != "-":
            audio_from = str(src)
        elif not base and (again := _file_behind(stream_in)) is not None:  # `< clip.mp4`: the file, reopened
            audio_from = again
        elif seekable and base is not None:  # in memory, or media starting further in: the same object, twice
            audio_from = _Borrowed(stream_in, base)
        else:  # a streamed stdin
            inline = True
    try:
        return VideoSource(container, name, spool, audio_from, start=start, seekable=seekable,
                           read_timeout=read_timeout if is_url(src) else 0, live=live, audio_inline=inline,
                           packet_limit=packet_limit, sequence_first=sequence[1] if sequence is not None else 0)
    except BaseException:
        container.close()
        if spool is not None:
            spool.close()
        raise


def rgb_to_yuv(reformatter: VideoReformatter, rgb: np.ndarray, pix_fmt: str, matrix: int,
               color_range: int) -> av.VideoFrame:
    """An H×W×3 uint8 RGB frame as a PyAV frame in ``pix_fmt`` with this matrix and range, converted
    as every output of vidcodec is (accurate rounding, full chroma interpolation): the inverse of how
    :class:`VideoSource` reads a frame so tagged."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    return reformatter.reformat(frame, format=pix_fmt, dst_colorspace=_SWS_MATRIX[matrix],
                                dst_color_range=ColorRange(color_range), interpolation=_SWS_FLAGS)


def center_chroma(encoder: str, options: dict[str, str]) -> dict[str, str]:
    """``options`` for an x264 or x265 encoder, plus the chroma siting :func:`rgb_to_yuv` gives 4:2:0
    (centred between the luma samples, as JPEG's): without it H.264/HEVC imply left siting, and
    FFmpeg's readers convert back with chroma a quarter of a pixel off (a frame round trip through
    lossless x264 then differs from the same frames through a y4m file by up to 85 levels)."""
    key = {"libx264": "x264-params", "libx265": "x265-params"}.get(encoder)
    if key is None:
        return dict(options)
    params = options.get(key)
    return {**options, key: f"{params}:chromaloc=1" if params else "chromaloc=1"}


# What x264 checks before it uses its AVX-512 functions (F, CD, BW, DQ, VL; Linux lists them only where the
# OS saves the registers too, as x264's own test asks).
X264_AVX512_FLAGS = frozenset({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"})


def steady_x264(encoder: str, options: dict[str, str], flags: AbstractSet[str] | None = None) -> dict[str, str]:
    """``options`` for an encoder, plus, for libx264 on a CPU with AVX-512, its functions up to AVX2 only.

    With its AVX-512 functions, the x264 that PyAV ships (core 165) gives different streams for the same
    frames from run to run wherever its macroblock tree is on (x264's default): its output depends on
    whatever the memory it was given held before. Measured on a 2-core AVX-512 VM, 2026-12-06 (crf 14,
    preset medium, 20-100 frames of a real clip, the heap filled with random bytes to different depths
    before each run): 176×144, 320×240, 426×240, 480×270, 854×480 and 960×540 gave 2-4 different
    files in 4 runs (176×144 at one thread too, its rows' padding filled or not), and the same file
    each time with ``asm=AVX2`` (or ``mbtree=0``); 352×288, 640×360, 1280×720 and 1920×1080 did not
    vary. AVX2 and SSE4.2 give the same stream; AVX-512 on fresh memory another. So a decode to .mp4
    and eval's x264 references are the same bytes from run to run. ``flags``: the CPU's (default
    :func:`runtime.cpu_flags`; where they cannot be read x264 is left as it is). ``vidcodec bench`` times x264
    as it runs by default, without this.
    """
    if flags is None:
        from .runtime import cpu_flags

        flags = cpu_flags()
    if encoder != "libx264" or not X264_AVX512_FLAGS <= flags:
        return dict(options)
    params = options.get("x264-params")
    return {**options, "x264-params": f"{params}:asm=AVX2" if params else "asm=AVX2"}


class VideoSink(ABC):
    """An output for RGB frames; use as a context manager so the file is finished even on Ctrl-C."""

    audio_unreadable = False  # the stream's sound was given, but its description is not one FFmpeg reads

    def __init__(self, width: int, height: int, time_base: Fraction, matrix: int, color_range: int) -> None:
        self.width = width
        self.height = height
        self.time_base = time_base
        self.color_matrix = matrix
        self.color_range = color_range
        self._last_pts: int | None = None
        self._reformatter = VideoReformatter()  # one scaler context for the stream, not one per frame

    def _check(self, rgb: np.ndarray, pts: int) -> None:
        """Refuse a frame of another size or type, or a pts that does not increase."""
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise UsageError(f"frame is {rgb.dtype} {rgb.shape}; this sink takes uint8 "
                             f"({self.height}, {self.width}, 3) RGB")
        if self._last_pts is not None and pts <= self._last_pts:
            raise UsageError(f"pts {pts} does not increase (previous {self._last_pts})")
        self._last_pts = pts

    def _yuv(self, rgb: np.ndarray, pts: int, pix_fmt: str) -> av.VideoFrame:
        """Check the frame and its pts, and convert it to ``pix_fmt`` with this sink's matrix and range."""
        self._check(rgb, pts)
        return rgb_to_yuv(self._reformatter, rgb, pix_fmt, self.color_matrix, self.color_range)

    @abstractmethod
    def write(self, rgb: np.ndarray, pts: int) -> None:
        """Write one H×W×3 uint8 RGB frame with its pts (in ``time_base``; must increase)."""

    def write_audio(self, packet: AudioPacket) -> None:
        """Mux one compressed audio packet (sinks without audio drop it)."""

    @abstractmethod
    def close(self) -> None:
        """Finish the output; safe to call twice and from a ``finally`` after Ctrl-C."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# FFmpeg's muxer for each video output (a named pipe's is written through Python, and named)
_MUXERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
# Audio codecs each output container holds (FFmpeg's muxers; Matroska takes any). A stream whose
# audio is not listed is refused before decoding rather than failing at the trailer.
AUDIO_IN_CONTAINER = {
    ".mp4": {"aac", "mp3", "mp2", "opus", "flac", "alac", "ac3", "eac3"},
    ".mov": {"aac", "mp3", "mp2", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be",
             "pcm_s32le", "pcm_s32be", "pcm_f32le", "pcm_f32be", "pcm_u8", "pcm_alaw", "pcm_mulaw"},
}


def _audio_refused(path: Path, codec: str, detail: str = "") -> UsageError:
    detail = f" {detail}" if detail else ""
    also = [ext for ext, codecs in AUDIO_IN_CONTAINER.items() if codec in codecs and ext != path.suffix.lower()]
    return UsageError(f"{codec} audio cannot go into {path.suffix}{detail}: decode to .mkv"
                      f"{''.join(f' or {ext}' for ext in also)}, or with --no-audio")


class _WholeWrites:
    """A binary output whose every write goes out whole (:func:`vidcodec.outputs.write_all`): FFmpeg's
    muxer, writing through PyAV, takes a raw stdout's short write (a signal, a non-blocking pipe) for a
    whole one and never writes the rest."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.held: BaseException | None = None

    def write(self, data: bytes) -> int:
        if self.held is not None:  # stopping: the muxer's further writes go nowhere
            return len(data)
        try:
            write_all(self.out, data)
        except Exception:
            raise  # PyAV raises it again once FFmpeg's call returns (a closed pipe's BrokenPipeError)
        except BaseException as exc:  # noqa: BLE001 - held and raised again, by reraise()
            # a signal's handler (a second Ctrl-C, the CLI's SIGTERM) raised here, inside FFmpeg's call:
            # PyAV would print and drop it, and the decode ran on; raised by reraise() after the call
            self.held = exc
        return len(data)

    def reraise(self) -> None:
        """Raise what a write held (see write)."""
        if self.held is not None:
            raise self.held

    def flush(self) -> None:
        flush(self.out)

    def fileno(self) -> int:
        return self.out.fileno()


def is_named_pipe(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a named pipe (FIFO) or a socket (not a regular file, or one not made yet)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _EncodedSink(VideoSink):
    """H.264 (libx264) in mp4/mkv/mov, keeping every frame's pts; or, with ``raw``, uncompressed video in
    NUT on a pipe (``path`` a binary file object), its audio beside it: what a player reads from stdin
    with the sound, as ``ffmpeg -f nut -c:v rawvideo -`` gives it."""

    def __init__(self, path: Path | BinaryIO, width: int, height: int, time_base: Fraction,
                 frame_rate: Fraction | None, matrix: int, color_range: int, audio: AudioTrack | None = None,
                 sample_aspect: Fraction | None = None, pix_fmt: str | None = None,
                 colour_description: tuple[int, int] | None = None, raw: bool = False) -> None:
        super().__init__(width, height, time_base, matrix, color_range)
        self._owned: BinaryIO | None = None  # a named pipe's file, opened here (closed after the container)
        self._write_failed = False  # the muxer failed to write the file: nothing more goes into it
        named = path if isinstance(path, Path) else None  # the output's name (None: stdout)
        muxer = None
        self._acodec = ""
        template = None
        if audio is not None:
            try:
                template = audio.template()  # (each call opens the track's description with FFmpeg)
            except InputError as e:  # a codec this FFmpeg was built without: the pictures all the same
                log.warning("%s; decoding video only", e)
                audio = None
                self.audio_unreadable = True
        if audio is not None:
            # the codec's name, not its decoder's (MP3 is decoded by "mp3float")
            self._acodec = template.codec_context.codec.canonical_name
            allowed = AUDIO_IN_CONTAINER.get(named.suffix.lower()) if named is not None else None
            if allowed is not None and self._acodec not in allowed:
                raise _audio_refused(named, self._acodec)
            rate = template.codec_context.sample_rate or 0
            if named is not None and named.suffix.lower() == ".mp4" and self._acodec == "mp3" and 0 < rate < 16000:
                # FFmpeg's MP4 muxer refuses it at the first packet ("not standard"): the output was left empty
                raise _audio_refused(named, self._acodec, f"at {rate} Hz (below MP4's 16 kHz for MP3)")
        if named is not None and not raw and is_named_pipe(named):
            # a named pipe is written through Python: its reader's going away is then a BrokenPipeError
            # (FFmpeg's own writes to it failed without a word, and the decode ran on to its end)
            muxer = _MUXERS[named.suffix.lower()]
            # unbuffered: nothing left to flush into a stalled pipe at close (a signal then waited for a third)
            self._owned = open(named, "wb", buffering=0)  # noqa: SIM115 - closed by close() (waits for a reader)
            path = _WholeWrites(self._owned)
            log.info("%s is a pipe: writing %s", named, "Matroska" if muxer == "matroska"
                     else "fragmented " + named.suffix.lstrip(".").upper())
        self._named = named
        self._path = path
        self._raw = raw
        self._audio = audio
        self._astream = None
        self._adts = False  # AAC packets to strip of their ADTS header (set with the audio stream)
        self._last_audio_pts: int | None = None
        self._last_audio_data = b""
        # MP4, MOV and NUT take no two audio packets at one time (audio_goes_back)
        self._strict_audio = raw or (named is not None and named.suffix.lower() in (".mp4", ".mov"))
        self._audio_dropped = False  # a packet out of order was (said once)
        self._pix_fmt = pix_fmt or ("yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p")
        if self._pix_fmt == "yuv444p" and pix_fmt is None and not raw:
            log.info("%dx%d has an odd side; writing H.264 4:4:4 (High 4:4:4 profile)", width, height)
        # NUT on a pipe: each packet written as it comes (they come in time order), not held in the muxer's
        # interleaving queue until the other stream has one (a frame held until the audio catches up, up
        # to 10 s of raw frames, a --follow decode's newest frame held back)
        options = None
        if str(path).lower().endswith(".mkv") or muxer == "matroska":
            # Matroska: no random segment UID or muxing date, so a decode gives the same bytes on every run
            options = {"fflags": "+bitexact"}
        elif muxer is not None:
            # MP4 and MOV write their index last, where a pipe cannot go back to: fragments, each with its
            # own index, as ``ffmpeg -movflags frag_keyframe+empty_moov`` writes them to a pipe, and at
            # least one a second (a reader, a player, gets the pictures as they come, not a GOP at a time)
            options = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "1000000"}
        try:
            self._container: av.container.OutputContainer | None = (
                av.open(ffmpeg_name(path), "w", format="nut", options={"max_interleave_delta": "1"}) if raw
                else av.open(ffmpeg_name(path), "w", format=muxer, options=options))
        except BaseException:
            self._close_owned()
            raise
        try:
            x264 = center_chroma("libx264", {"crf": str(X264_CRF), "preset": X264_PRESET})
            if frame_rate:
                # the SPS's timing is the frame rate, as ffmpeg's own transcode writes it, not the fine
                # time base (1/30000 said 30000 fps: the stream copied out as .h264 played at that);
                # the timestamps stay as they are
                x264["x264-params"] += ":force-cfr=1"
            stream = (self._container.add_stream("rawvideo") if raw else self._container.add_stream(
                "libx264", options=steady_x264("libx264", x264)))
            stream.width, stream.height, stream.pix_fmt = width, height, self._pix_fmt
            stream.time_base = time_base
            ctx = stream.codec_context
            ctx.time_base = time_base
            ctx.framerate = frame_rate or Fraction(0, 1)  # 0: variable, no rate written to the container
            ctx.colorspace = matrix
            ctx.color_range = color_range
            if colour_description is not None:
                ctx.color_primaries, ctx.color_trc = colour_description
            if sample_aspect is not None:
                ctx.sample_aspect_ratio = sample_aspect
            if template is not None:
                self._astream = self._container.add_stream_from_template(template)
                # AAC from an MPEG-TS source is stored in its ADTS framing, while the track's description
                # carries the decoder config; Matroska's muxer then built the config a second time
                # into the track header (a corrupt file, ffprobe: "exceeds containing master element")
                self._adts = self._acodec == "aac" and bool(self._astream.codec_context.extradata)
        except BaseException as exc:
            self._container.close()
            self._close_owned()
            if isinstance(path, Path):
                path.unlink(missing_ok=True)
            if audio is not None and raw and isinstance(exc, (av.FFmpegError, ValueError)):
                raise UsageError(f"{self._acodec} audio cannot go into NUT ({exc}): decode to .mkv, or to - with "
                                 "--no-audio") from exc
            if audio is not None and isinstance(exc, av.FFmpegError) and named is not None:
                raise _audio_refused(named, self._acodec, f"({exc})") from exc
            raise
        self._stream = stream
        # libx264 drops frame durations, and mp4 cuts a last frame of duration 0 from its edit list: keep
        # each frame's duration (the interval before it, the frame rate's for the first) to put on packets.
        self._durations: dict[int, int] = {}
        self.frames_in = 0  # frames the encoder has taken (a decode interrupted says how many the file holds)
        self._first_duration = max(1, round(1 / ((frame_rate or Fraction(25)) * time_base)))

    def write(self, rgb: np.ndarray, pts: int) -> None:
        """Encode one frame."""
        if self._container is None:
            raise UsageError("write() after close()")
        previous = self._last_pts
        frame = self._yuv(rgb, pts, self._pix_fmt)
        frame.pts = pts
        frame.time_base = self.time_base
        # A frame lasts until the next one: its duration is settled when the next frame comes (the
        # encoder holds packets back for its lookahead); until then, and for the last frame, it is
        # the interval before it (the frame rate's for the first). Matroska writes these durations.
        if previous is not None:
            if previous in self._durations:
                self._durations[previous] = pts - previous
            self._durations[pts] = pts - previous
        else:
            self._durations[pts] = self._first_duration
        with whole():  # a signal between the encoder's packets and the muxer lost a frame mid-stream
            self._mux(self._container, self._stream.encode(frame))
            self.frames_in += 1  # (in the file once it closes: a signal held here comes after it)

    def _reraise(self) -> None:
        """A signal's exception held by a pipe's writes during FFmpeg's call (_WholeWrites), raised now."""
        if isinstance(self._path, _WholeWrites):
            self._path.reraise()

    def _closed_pipe(self) -> SinkClosed:
        """The reader of the pipe went away: said, stdout silenced, the container let go."""
        log.info("output pipe closed by its reader; stopping")
        _silence(getattr(self._path, "out", self._path))
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()
        return SinkClosed("output pipe closed by its reader")

    @staticmethod
    def _raw_aac(data: bytes) -> bytes:
        """An AAC packet without its ADTS header (MPEG-TS framing) when it has one and holds one raw
        frame, as FFmpeg's aac_adtstoasc gives it; else as it is."""
        if len(data) < 9 or data[0] != 0xFF or data[1] & 0xF6 != 0xF0:
            return data
        size = ((data[3] & 0x03) << 11) | (data[4] << 3) | (data[5] >> 5)
        if size != len(data) or data[6] & 0x03:  # several frames, or several raw blocks: left to the muxer
            return data
        return data[7 if data[1] & 0x01 else 9:]

    def write_audio(self, packet: AudioPacket) -> None:
        """Mux one audio packet as it was in the input (AAC without its ADTS header)."""
        if self._container is None or self._astream is None:
            return
        if audio_goes_back(packet.pts, packet.data, self._last_audio_pts, self._last_audio_data, self._strict_audio):
            # a damaged stream's audio out of order: the muxer would refuse it (and the whole output with it)
            log.log(logging.DEBUG if self._audio_dropped else logging.WARNING, "audio packet at pts %d does not "
                    "come after the one before (%d): the stream is damaged; dropped (and any more such)",
                    packet.pts, self._last_audio_pts)
            self._audio_dropped = True
            return
        p = av.Packet(self._raw_aac(packet.data) if self._adts else packet.data)
        p.stream = self._astream
        p.pts = p.dts = packet.pts
        p.duration = packet.duration
        p.time_base = self._audio.time_base
        try:
            with whole():  # the muxer may write a video frame held for this packet: not to be cut by Ctrl-C
                self._container.mux(p)
                self._reraise()
        except BrokenPipeError:
            raise self._closed_pipe() from None
        except av.FFmpegError as exc:  # the codec went in at the start: this packet is what the muxer refuses
            if isinstance(exc, OSError):  # not the packet: the file, which FFmpeg opens at the first packet
                self._file_error(exc)  # (audio where it leads the video), or a full disk
            if self._raw and packet.pts < 0 and exc.errno == errno.EINVAL:
                # NUT takes no timestamp below 0 once its first packets have set the shift: audio that leads
                # the first frame but comes after frames in the stream (an MPEG-TS or Ogg source's priming)
                # was refused, and all the audio after it lost with it
                log.debug("audio packet at pts %d starts before the first frame: not in the NUT output", packet.pts)
                return
            log.warning("the audio could not be written on from pts %d (%s): the rest of the video is written "
                        "without it", packet.pts, exc)
            self._astream = None
            return
        self._last_audio_pts, self._last_audio_data = packet.pts, packet.data

    def _file_error(self, e: OSError) -> NoReturn:
        """Raise a muxer's OSError naming the output file (FFmpeg opens it at the first packet: its error
        names no file). The container is not muxed into again: after a failed first write (its header)
        FFmpeg's MP4 muxer crashed the process at the next packet."""
        self._write_failed = True
        if not isinstance(self._path, Path):  # a pipe's (stdout): named where no file is, as the trailer names it
            if e.filename is None and e.errno in NO_ROOM:
                raise naming(e, self._named or "stdout") from e
            raise e
        if e.filename is not None or e.errno is None:
            raise e
        raise naming(e, self._path) from e

    def _mux(self, container: av.container.OutputContainer, packets: list[av.Packet]) -> None:
        """Mux encoded packets, restoring their durations."""
        for packet in packets:
            packet.duration = self._durations.pop(packet.pts, 0)
        try:
            container.mux(packets)
        except BrokenPipeError:
            if isinstance(self._path, Path):
                raise
            raise self._closed_pipe() from None
        except OSError as e:
            self._file_error(e)
        except av.FFmpegError as e:  # e.g. MP4's 32-bit durations: a gap of 13 hours at 1/90000 s
            raise VidcodecError(f"{self._path}: the muxer refuses a frame ({e.strerror or e}); a stream whose "
                                "timestamps jump by hours (an MP4 holds up to 13 h between two frames at "
                                "1/90000 s) can be decoded to .mkv or .y4m") from e
        self._reraise()

    def close(self) -> None:
        """Flush the encoder and write the trailer (moov atom / cues) so the file is playable."""
        container, self._container = self._container, None
        if container is None:
            self._close_owned()
            return
        try:
            if not self._write_failed:
                with whole():
                    self._mux(container, self._stream.encode(None))
        except SinkClosed:
            return
        finally:
            self._finish(container)

    def _close_owned(self) -> None:
        """Close the named pipe's file this sink opened (a reader gone: nothing to say)."""
        owned, self._owned = self._owned, None
        if owned is not None:
            try:
                owned.close()
            except BrokenPipeError:
                _silence(owned)
                with contextlib.suppress(OSError):
                    owned.close()

    def _finish(self, container: av.container.OutputContainer) -> None:
        """Write the trailer and close the container (then a named pipe's file)."""
        try:
            self._trailer(container)
        finally:
            self._close_owned()

    def _trailer(self, container: av.container.OutputContainer) -> None:
        """Write the trailer (moov, cues) and close the container: an output that cannot be finished is
        not left behind, and its error says why."""
        finished = False
        try:
            try:
                with whole():  # the trailer, and any frames still queued
                    container.close()
                    finished = not self._write_failed  # (a write failed before: its error on its way)
                    self._reraise()
            finally:  # a file not finished is not one to play, whatever comes (a signal held during the
                # trailer, the errors below)
                if not finished and isinstance(self._path, Path):
                    self._path.unlink(missing_ok=True)
        except BrokenPipeError:
            if isinstance(self._path, Path):
                raise
            log.info("output pipe closed by its reader before the stream's end was written")
            _silence(getattr(self._path, "out", self._path))
        except OSError as exc:  # the trailer not written (a full disk): the output is not playable
            if exc.errno is None:
                raise
            if not isinstance(self._path, Path):  # a pipe's: named as the output it is
                if exc.filename is not None:
                    raise
                raise naming(exc, self._named or "stdout") from exc
            # (FFmpeg's error names no file, and had been taken for the audio's refusal by the muxer)
            raise OSError(exc.errno, os.strerror(exc.errno), str(self._path)) from exc
        except av.FFmpegError as exc:  # the trailer: the output is not playable, do not leave it
            if not isinstance(self._path, Path):
                cause = exc.__context__  # PyAV's callback error: the pipe's own write failed (a full disk)
                if isinstance(cause, OSError) and not isinstance(cause, av.FFmpegError) and cause.errno:
                    raise naming(cause, self._named or "stdout") from cause
                raise VidcodecError(f"could not finish the stream on {self._named or 'stdout'}: {exc}") from exc
            if self._astream is not None:
                raise _audio_refused(self._path, self._acodec, f"({exc})") from exc
            raise VidcodecError(f"could not finish {self._path}: {exc}") from exc


# A y4m output holds its time over gaps of at most this many seconds by repeating a frame.
Y4M_MAX_REPEAT_S = 60


_REPEATS_AT_ONCE = 16  # frames a y4m sink repeats per write where the stream has a gap


class _Y4mSink(VideoSink):
    """YUV4MPEG2 (C444 or, with ``pix_fmt="yuv420p"``, C420jpeg; limited range) to a file or a pipe;
    frame timing is the constant header rate. With a frame rate, frames are placed on its grid by
    their pts, as FFmpeg's constant-rate outputs do: a frame whose slot an earlier one took is
    dropped and a gap is filled by repeating the frame before it, so that a variable-rate source
    plays at its own pace (a stream from a phone's camera; 20 frames over 3.84 s were 0.8 s of y4m)."""

    def __init__(self, out: BinaryIO, owned: bool, width: int, height: int, time_base: Fraction,
                 frame_rate: Fraction | None, matrix: int, color_range: int,
                 sample_aspect: Fraction | None = None, pix_fmt: str | None = None, name: object = None) -> None:
        super().__init__(width, height, time_base, matrix, color_range)
        self._out: BinaryIO | None = out
        self._owned = owned
        self._name = name  # what a full disk's error names: the file, or "stdout"
        self._pix_fmt = pix_fmt or "yuv444p"
        rate = frame_rate or 1 / time_base
        self._slot_of = (lambda pts: round(pts * time_base * frame_rate)) if frame_rate else None
        self._origin: int | None = None  # the first frame's pts
        self._next = 0  # the next slot of the grid
        self._max_repeat = round(Y4M_MAX_REPEAT_S * rate)
        self._warned = False  # about repeated or dropped frames
        self._last = b""  # the last frame written, as written
        self.pictures = 0  # FRAME records written: frames given, but for those dropped or repeated on the grid
        sar = sample_aspect or Fraction(1)
        self._header: bytes | None = (f"YUV4MPEG2 W{width} H{height} F{rate.numerator}:{rate.denominator} "
                                      f"Ip A{sar.numerator}:{sar.denominator} {_Y4M_CHROMA[self._pix_fmt]} XCOLORRANGE=LIMITED\n"
                                      ).encode("ascii")

    def _send(self, data: bytes) -> None:
        """Write and flush ``data``; raise SinkClosed if the reader has gone away."""
        if self._out is None:
            raise UsageError("write() after close()")
        header, self._header = self._header or b"", None
        try:
            with whole():  # Ctrl-C: this frame is finished first, a second one stops at once
                write_all(self._out, header + data)
                flush(self._out)
        except BrokenPipeError:
            log.info("output pipe closed by its reader; stopping")
            _silence(self._out)
            self._out = None
            raise SinkClosed("output pipe closed by its reader") from None
        except OSError as e:
            if e.filename is not None or e.errno not in NO_ROOM or self._name is None:
                raise
            raise naming(e, self._name) from e

    def write(self, rgb: np.ndarray, pts: int) -> None:
        """Write one frame, on the frame rate's grid by its pts (y4m has no timestamps)."""
        repeats = 0  # of the frame before
        if self._slot_of is not None:
            if self._origin is None:
                self._origin = pts
            slot = self._slot_of(pts - self._origin)
            if slot < self._next:  # an earlier frame holds its slot
                self._warn_timing()
                return
            repeats = min(slot - self._next, self._max_repeat)  # a longer gap: the time is not held
            self._next = slot + 1
            if repeats:
                self._warn_timing()
        planes = self._yuv(rgb, pts, self._pix_fmt).to_ndarray()  # the planes one after the other
        frame = b"FRAME\n" + planes.tobytes()
        for done in range(0, repeats, _REPEATS_AT_ONCE):  # a gap of a minute: not one buffer of it all
            self._send(self._last * min(_REPEATS_AT_ONCE, repeats - done))
        self._send(frame)
        self._last = frame
        self.pictures += repeats + 1

    def _warn_timing(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning("the stream's frames are not evenly spaced (a variable frame rate): y4m has one rate, so "
                        "frames are repeated or dropped to keep their times; .mkv or .mp4 keep the timestamps")

    def close(self) -> None:
        """Write the header if no frame was, flush, and close the file if this sink opened it."""
        out, self._out = self._out, None
        if out is None:
            return
        try:
            if self._header is not None:
                out.write(self._header)
            flush(out)
        except BrokenPipeError:
            _silence(out)
        finally:
            if self._owned:
                out.close()


def picture_path(path: str | Path) -> bool:
    """Whether ``path`` names one image file (``thumb.png``: an image extension, no frame number), which
    :func:`open_sink` writes a single frame to (``one_frame``)."""
    return str(path) != "-" and Path(path).suffix.lower() in IMAGE_EXTENSIONS and "%" not in Path(path).name


def image_output(path: str | Path) -> bool:
    """Whether ``path`` names an image-sequence output (:func:`frame_pattern` with an extension of
    :data:`IMAGE_EXTENSIONS`)."""
    return frame_pattern(path, IMAGE_EXTENSIONS) is not None


class _ImageSink(VideoSink):
    """One image file a frame (PNG, BMP, PPM or TIFF by the extension: the decoded RGB exactly, no colour
    conversion, for comparing frames; JPEG or WebP at :data:`LOSSY_IMAGE_QUALITY`, for thumbnails),
    numbered from 1 as FFmpeg's image2 muxer numbers them. Images carry no time: each frame is written
    once, in order, whatever its pts."""

    def __init__(self, pattern: Path, width: int, height: int, time_base: Fraction, single: bool = False) -> None:
        super().__init__(width, height, time_base, MATRIX_UNSPECIFIED, RANGE_FULL)
        self._pattern = pattern
        self._single = single  # ``pattern`` is the one picture's file
        self._count = 0

    def write(self, rgb: np.ndarray, pts: int) -> None:
        import cv2  # opencv-python(-headless): only image outputs need it

        self._check(rgb, pts)
        if self._single and self._count:
            raise UsageError(f"{self._pattern} holds one picture: a second frame has no file")
        self._count += 1
        path = self._pattern if self._single else frame_name(self._pattern, self._count)
        # encoded here and written by Python: a failed write is an OSError naming the file and the
        # system's reason (cv2.imwrite only returns False, after a warning of its own on stderr)
        suffix = Path(path).suffix.lower()
        params = ([cv2.IMWRITE_JPEG_QUALITY, LOSSY_IMAGE_QUALITY] if suffix in (".jpg", ".jpeg") else
                  [cv2.IMWRITE_WEBP_QUALITY, LOSSY_IMAGE_QUALITY] if suffix == ".webp" else [])
        ok, data = cv2.imencode(suffix, np.ascontiguousarray(rgb[..., ::-1]), params)
        if not ok:
            raise VidcodecError(f"OpenCV could not encode a {rgb.shape[1]}x{rgb.shape[0]} picture as "
                                f"{Path(path).suffix} for {path}")
        try:
            Path(path).write_bytes(data.tobytes())
        except OSError:  # (a full disk): no picture cut short left behind, looking like a frame
            Path(path).unlink(missing_ok=True)
            raise

    def close(self) -> None:
        if self._single:
            return
        after = frame_name(self._pattern, self._count + 1)
        if self._count and after.exists():
            log.warning("%s and the files after it are from an earlier output: %d frames were written",
                        after, self._count)
            self._count = 0  # (said once)


def _silence(out: BinaryIO) -> None:
    """Point ``out``'s descriptor at /dev/null so flushing it again (e.g. at exit) cannot fail."""
    try:
        fd = out.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def folder_to_make(path: Path) -> bool:
    """Whether ``path`` is an image sequence (``frames/%04d.png``) whose own folder is missing in one that
    exists: :func:`open_sink` makes it (a deeper missing path is more likely a typo, and is refused)."""
    return image_output(path) and not path.parent.exists() and path.parent.parent.is_dir()


def check_output_path(path: Path, overwrite: bool) -> None:
    """Refuse an output that is a directory, in a missing directory, or exists (unless ``overwrite``)."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give an output file name")
    if not path.parent.is_dir() and not folder_to_make(path):
        what = "is not a directory" if path.parent.exists() else "does not exist"
        raise UsageError(f"cannot create {path}: {path.parent} {what}")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; use -y to overwrite it (overwrite=True from Python)")
    if image_output(path) and not overwrite and (found := image_sequence(path, IMAGE_EXTENSIONS)) is not None:
        first = frame_name(path, found[1])
        raise OutputExistsError(f"{path}: files of this sequence exist ({first}); use -y to overwrite them "
                                "(overwrite=True from Python)")
    # where the file will be written: itself, its folder, or the folder its missing folder goes in
    target = path if path.exists() else path.parent.parent if folder_to_make(path) else path.parent
    if not os.access(target, os.W_OK):
        raise UsageError(f"cannot write {path}: permission denied"
                         + (f" (in {target})" if target != path and target != path.parent else ""))


def check_output_kind(path: Path) -> None:
    """UsageError for a decode output whose name says no format written here (a video file, an image
    sequence or picture): said before anything about its folder (frames/%03d.gif in a missing folder)."""
    ext = path.suffix.lower()
    if ext in OUTPUT_EXTENSIONS or ext in IMAGE_EXTENSIONS or image_output(path):
        return
    what = f"cannot write '{ext}' files" if ext else f"{path.name} has no extension to tell the format"
    raise UsageError(f"{what}; use one of {', '.join(OUTPUT_EXTENSIONS)}, an image sequence (frames/%04d.png), "
                     f"or - for y4m on stdout")


def open_sink(dst: str | Path, *, width: int, height: int, time_base: Fraction, frame_rate: Fraction | None,
              color_matrix: int = MATRIX_UNSPECIFIED, color_range: int = RANGE_UNSPECIFIED,
              overwrite: bool = False, stdout: BinaryIO | None = None, audio: AudioTrack | None = None,
              sample_aspect: Fraction | None = None, pix_fmt: str | None = None,
              one_frame: bool = False, colour_description: tuple[int, int] | None = None,
              stdout_format: str = "y4m") -> VideoSink:
    """Open an output for RGB frames, its kind chosen by extension (``-`` is y4m on stdout, or with
    ``stdout_format="nut"`` uncompressed video and the audio in NUT, for a player with sound).

    ``one_frame``: the caller writes a single frame, so an image path that names no sequence
    (``thumb.png``) is that picture, as ``ffmpeg -frames:v 1 thumb.png`` writes it.

    ``audio``: an audio track to mux alongside (mp4/mkv/mov; y4m has no audio and drops it).
    ``sample_aspect``: the pixels' aspect ratio, written to the output (None: square).
    ``pix_fmt``: one of :data:`PIX_FMTS` (None: y4m 4:4:4, H.264 4:2:0 or 4:4:4 for odd sides).
    ``colour_description``: (primaries, transfer) H.273 code points to tag mp4/mkv/mov with (2: not
    said); y4m and pictures cannot hold them.
    """
    if width <= 0 or height <= 0:
        raise UsageError(f"output size {width}x{height} is invalid; both sides must be positive")
    check_pix_fmt(pix_fmt, width, height)
    if time_base <= 0 or (frame_rate is not None and frame_rate <= 0):
        raise UsageError(f"time base {time_base} and frame rate {frame_rate} must be positive")
    matrix, color_range = resolve_color(color_matrix, color_range, height)
    # y4m cannot name a matrix: write what readers assume for untagged video of this height.
    y4m_matrix, _ = resolve_color(MATRIX_UNSPECIFIED, RANGE_LIMITED, height)
    if str(dst) == "-":
        out = stdout if stdout is not None else sys.stdout.buffer
        if callable(getattr(out, "isatty", None)) and out.isatty():
            raise UsageError("refusing to write video to a terminal; pipe stdout (e.g. `| ffplay -`) "
                             "or give an output file")
        if stdout_format not in STDOUT_FORMATS:
            raise UsageError(f"stdout takes {' or '.join(STDOUT_FORMATS)}, not {stdout_format!r}")
        if stdout_format == "nut":
            if sample_aspect is not None and sample_aspect != 1:  # (NUT keeps a stream's, which PyAV cannot set)
                log.warning("NUT on stdout cannot carry the stream's sample aspect ratio (%d:%d) from here: a player "
                            "shows the picture squeezed; give it the ratio (ffplay -vf setsar=%d/%d), or write y4m "
                            "(-f y4m), which carries it", sample_aspect.numerator, sample_aspect.denominator,
                            sample_aspect.numerator, sample_aspect.denominator)
            # untagged in NUT, as y4m: what players assume for the height (not the stream's own matrix)
            return _EncodedSink(_WholeWrites(out), width, height, time_base, frame_rate, y4m_matrix, RANGE_LIMITED,
                                audio, sample_aspect, pix_fmt, None, raw=True)
        return _Y4mSink(out, False, width, height, time_base, frame_rate, y4m_matrix, RANGE_LIMITED, sample_aspect,
                        pix_fmt, name="stdout")
    path = Path(dst)
    ext = path.suffix.lower()
    if image_output(path):
        if pix_fmt is not None:
            raise UsageError(f"{ext} frames are written as the decoder's RGB; --pix-fmt is for video outputs")
        check_output_path(path, overwrite)
        if folder_to_make(path):
            try:
                path.parent.mkdir()
            except OSError as exc:
                raise UsageError(f"cannot create the folder {path.parent}: {exc.strerror}") from exc
            log.info("created the folder %s", path.parent)
        return _ImageSink(path, width, height, time_base)
    if one_frame and picture_path(path):
        if pix_fmt is not None:
            raise UsageError(f"a {ext} picture is written as the decoder's RGB; --pix-fmt is for video outputs")
        check_output_path(path, overwrite)
        return _ImageSink(path, width, height, time_base, single=True)
    if ext in IMAGE_EXTENSIONS:
        if "%" in path.name:
            raise UsageError(f"{path.name}: an image sequence's name takes one frame number (%d, %04d; %% for a "
                             "percent sign), e.g. frames/%04d.png")
        example = path.with_name(path.stem + "%04d" + path.suffix)
        raise UsageError(f"cannot write one {ext} file for a video; name an image sequence with one frame number "
                         f"(%d, %04d), e.g. {example}, or give --frames 1 for one picture (--start chooses it)")
    check_output_kind(path)
    check_output_path(path, overwrite)
    if ext == ".y4m":
        try:
            f = open(path, "wb" if overwrite else "xb")  # noqa: SIM115 - the sink owns and closes it
        except FileExistsError:
            raise OutputExistsError(f"{path} exists; use -y to overwrite it (overwrite=True from Python)") from None
        return _Y4mSink(f, True, width, height, time_base, frame_rate, y4m_matrix, RANGE_LIMITED, sample_aspect,
                        pix_fmt)
    if "libx264" not in av.codecs_available:
        raise UsageError(f"this PyAV build has no libx264 encoder, so it cannot write {ext}; write .y4m instead")
    return _EncodedSink(path, width, height, time_base, frame_rate, matrix, color_range, audio, sample_aspect,
                        pix_fmt, colour_description)
