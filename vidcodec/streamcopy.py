"""Stream copy: a new .gvc stream from the packets of others, none of them re-coded (``vidcodec remux``).

What ``ffmpeg -c copy`` does for other formats: cut a stretch out at keyframes (``start``, ``duration``,
``max_frames``), join streams of the same kind end to end, and rewrite a stream whose encoder was
killed (no keyframe index, the header's frame count unset) or that was damaged, so that it seeks and
reports its frame count again. Packets are copied byte for byte: the pictures are exactly the input's,
and a whole clean stream remuxed on its own gives the same bytes back.

The rules (docs/FORMAT.md's, applied without decoding a frame):

* A cut begins at the last keyframe at or before ``start`` (a delta needs the frames before it back to
  its keyframe), so the output can begin a little before the time asked; ``duration`` counts from the
  output's first frame, as decode's ``-t`` does, and frames that begin that long after it or later are left out.
* After damage the deltas up to the next keyframe are dropped (they could only decode wrong), as are damaged
  audio packets; damaged bytes and a damaged index are skipped. An input that ends inside a packet (cut
  off) keeps every complete packet before it: that is the repair of a killed encode, and not an error.
* Streams are joined when they share every field a decoder reads (size, model, coder, mode, time base,
  format version, the header extensions; the audio track's codec parameters): each one's timestamps move
  so that its first frame follows the previous stream's last frame by one frame (by the frame rate, else by
  the last frame's spacing), its audio with it.
* Parameters packets are not copied; like encode, the writer repeats the header before every keyframe when
  the output is a pipe, a socket or a terminal (``repeat_header``).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

from . import api, container
from .container import GvcReader, GvcWriter, Packet, PacketType, StreamHeader
from .errors import InputError, TruncatedStreamError, UsageError, VidcodecError
from .progress import bar as progress_bar

log = logging.getLogger("vidcodec")

# the header fields that may differ between streams joined end to end (informative, or the writer's own)
_INFORMATIVE = {"frame_count": 0, "quality": 0, "gop": 0}


@dataclass
class RemuxStats:
    """What a remux wrote: ``frames`` (``keyframes`` of them), ``audio_packets``, the output's ``bytes``;
    ``start``: where the output begins, in seconds from the (first) input's first frame; ``dropped``: delta
    packets left out after damage; ``damaged``: damaged stretches skipped; ``truncated``: inputs that ended
    inside a packet (an encode that was killed; their complete packets were copied)."""

    frames: int
    keyframes: int
    audio_packets: int
    bytes: int
    start: float
    seconds: float
    dropped: int = 0
    damaged: int = 0
    truncated: int = 0


def remux(
    sources: str | Path | BinaryIO | list[str | Path | BinaryIO],
    dst: str | Path | BinaryIO,
    *,
    start: float | Fraction | str | None = None,
    duration: float | Fraction | str | None = None,
    max_frames: int | None = None,
    audio: bool = True,
    overwrite: bool = False,
    repeat_header: bool | None = None,
    progress: bool = False,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> RemuxStats:
    """Copy the packets of one .gvc stream, or of several joined end to end, into a new one (module docstring).

    ``sources``: a path, ``"-"`` for stdin (``stdin=`` to give it as a binary file object), a binary file
    object, or a list of them (joined in that order). ``dst``: a path, ``"-"`` for stdout (``stdout=``), or
    a binary file object. ``start`` (seconds or ``"[HH:]MM:SS[.frac]"``, from the first frame),
    ``duration`` and ``max_frames`` select a stretch; ``audio=False`` leaves the audio out;
    ``repeat_header`` as for :func:`vidcodec.encode`. Raises :class:`~vidcodec.errors.UsageError` when
    nothing falls in the stretch asked and :class:`~vidcodec.errors.InputError` for streams that cannot
    be joined; a damaged or cut-off input is copied as far as it can be (``RemuxStats``).
    """
    srcs = [api._as_path(s) for s in (sources if isinstance(sources, (list, tuple)) else [sources])]
    if not srcs:
        raise UsageError("remux needs at least one input stream")
    if sum(1 for s in srcs if not isinstance(s, (str, Path)) or str(s) == "-") > 1:
        raise UsageError("only one input can be stdin or a file object; give the others as paths")
    first = api._seconds(start)
    length = api._duration(duration)
    max_frames = api._whole("max_frames", max_frames)
    if max_frames is not None and max_frames < 1:
        raise UsageError(f"max_frames (--frames) must be at least 1 (got {max_frames})")
    dst = api._as_path(dst)
    if isinstance(dst, (str, Path)):
        if str(dst) != "-" and stdout is not None:
            raise UsageError(f"stdout= is written when the output is '-'; the output here is {dst}")
        api._check_output(dst, overwrite)
        for s in srcs:
            if isinstance(s, (str, Path)) and api._same_file(s, dst):
                raise UsageError(f"{dst} is also an input; give a different output path")
    else:
        api._binary_output(dst, "remux")
    t0 = time.perf_counter()
    copier = _Copier(first, length, max_frames, audio)
    if len(srcs) > 1:  # streams that cannot be joined are refused before anything is written
        for i, src in enumerate(srcs):
            if isinstance(src, (str, Path)) and str(src) != "-":
                with GvcReader(src) as reader:
                    copier.check(reader.header, _source_name(src))
    writer: GvcWriter | None = None
    try:
        with progress_bar(None, "remux", progress) as bar:
            for i, src in enumerate(srcs):
                source = (api._binary_input(stdin) if stdin is not None else api._stdin_if_dash(src)) \
                    if isinstance(src, str) and src == "-" else src
                if not isinstance(source, (str, Path)):
                    api._binary_input(source, "an input")
                with GvcReader(source, resync=True) as reader:
                    copier.begin(reader, _source_name(src), joined=i > 0)
                    for packet in copier.packets(reader):
                        if writer is None:
                            out = dst
                            if str(dst) == "-":
                                out = container.std_bytes("stdout") if stdout is None else api._binary_output(
                                    stdout, "stdout=")
                            live = api._is_live(out) if repeat_header is None else repeat_header
                            writer = GvcWriter(out, copier.out_header(_seekable(out)), repeat_header=live)
                        writer.write_packet(packet.kind, packet.pts, packet.payload, packet.stream_index,
                                            packet.flags)
                        if packet.stream_index == 0:
                            bar.update(1)
                        elif packet.stream_index == container.AUDIO_STREAM:
                            copier.audio_packets += 1
                if copier.done:
                    break
    except VidcodecError:
        if writer is not None:  # an input that cannot follow, or is not a stream: no half-joined output
            writer.close()
            if isinstance(dst, (str, Path)) and str(dst) != "-":
                Path(dst).unlink(missing_ok=True)
        raise
    except BaseException:
        if writer is not None:
            writer.close()  # what was copied stays readable (as an interrupted encode's output)
        raise
    if writer is None:
        if copier.frames_seen == 0:
            raise InputError(f"{_source_name(srcs[0])} holds no frames: nothing written")
        raise UsageError(f"--start {api._start_text(start)} is past the end of the input "
                         f"({float(copier.end_seen):g} s): no frame at or after it")
    writer.close()
    c = copier
    return RemuxStats(c.frames, c.keys, c.audio_packets, writer.bytes_written, float(c.began or 0),
                      time.perf_counter() - t0, c.dropped, c.damaged, c.truncated)


def _source_name(src: object) -> str:
    if isinstance(src, (str, Path)):
        return "stdin" if str(src) == "-" else str(src)
    return "the input"


def _shown(name: str, value: object) -> str:
    """A header field's value for a message: 640x360 for a shape, 1/25 for a rate, 15.0 for a version."""
    if isinstance(value, bytes):
        return value[:4].hex() + "..."
    if isinstance(value, tuple):
        return {"version": "."}.get(name, "/" if name in ("time_base", "frame_rate") else "x").join(map(str, value))
    return value.name.lower() if isinstance(value, enum.Enum) else str(value)


def _seekable(out: object) -> bool:
    """Whether the writer can go back to the header (then it corrects the frame count there at close)."""
    return isinstance(out, (str, Path)) or container._is_seekable(out)  # type: ignore[arg-type]


def _joinable(a: StreamHeader, b: StreamHeader) -> StreamHeader:
    """``a`` and ``b`` with the fields that may differ set alike and the audio tag left out."""
    ext = {k: v for k, v in b.extensions.items() if k != container.EXT_AUDIO}
    return dataclasses.replace(b, **_INFORMATIVE, extensions=ext)


def _audio_params(header: StreamHeader) -> tuple | None:
    """What FFmpeg needs to mux a stream's audio (time base, codec, rate, layout, format, extradata), or
    None without audio; the description's first packet is not part of it."""
    from . import media

    data = header.extensions.get(container.EXT_AUDIO)
    if data is None:
        return None
    track = media.AudioTrack.from_bytes(data)
    s = track.template()
    cc = s.codec_context
    layout = getattr(getattr(cc, "layout", None), "name", None)
    fmt = getattr(getattr(cc, "format", None), "name", None)
    return (track.time_base, cc.name, cc.sample_rate, layout, fmt, bytes(cc.extradata or b""))


class _Copier:
    """The selection and the timestamp moves of a remux, fed one input after the other."""

    def __init__(self, start: Fraction | None, length: Fraction | None, max_frames: int | None, audio: bool):
        self.start, self.length, self.max_frames, self.audio = start, length, max_frames, audio
        self.header: StreamHeader | None = None  # the first input's
        self.frames = self.keys = self.audio_packets = self.dropped = self.damaged = self.truncated = 0
        self.frames_seen = 0
        self.done = False
        self.began: Fraction | None = None  # seconds from the first input's first frame to the output's first
        self.end_seen = Fraction(0)  # seconds from the first frame to the last frame read (for an error)
        self.origin: int | None = None  # the first input's first frame's pts (in the joined timeline)
        self.shift = 0  # added to this input's video pts
        self.audio_shift = 0  # added to this input's audio pts
        self.next_pts: int | None = None  # where the next input's first frame goes (pts)
        self.last_pts: int | None = None  # the last frame read (joined timeline)
        self.spacing: int | None = None  # the last two frames' distance (pts)
        self.out_first: int | None = None  # the output's first frame's pts
        self.pending: list[Packet] = []  # from the last keyframe, while before start
        self.wait_key = False  # after damage: deltas are dropped up to the next keyframe
        self.first_name = ""

    # ---- the inputs

    def check(self, h: StreamHeader, name: str) -> None:
        """InputError unless a stream of header ``h`` can follow the first input's (the first sets the rules)."""
        if self.header is None:
            self.header, self.first_name = h, name
            self.tb = Fraction(*h.time_base)
            self.step = api._frame_step(h)
            self.has_audio = self.audio and container.EXT_AUDIO in h.extensions
            self.audio_ref = _audio_params(h) if self.has_audio else None
            return
        first = self.header
        if h.version != first.version or _joinable(first, first) != _joinable(first, h):
            diff = [f"{f.name.replace('_', ' ')} {_shown(f.name, getattr(h, f.name))} (not "
                    f"{_shown(f.name, getattr(first, f.name))})"
                    for f in dataclasses.fields(StreamHeader)
                    if f.name not in _INFORMATIVE and f.name != "extensions" and getattr(first, f.name) != getattr(h, f.name)]
            if not diff:
                diff = ["its header extensions"]
            raise InputError(f"{name} cannot follow {self.first_name}, it differs: {'; '.join(diff)} "
                             "(streams are joined only when a decoder reads them alike; decode and re-encode "
                             "to join others)")
        if self.has_audio != (self.audio and container.EXT_AUDIO in h.extensions) or (
                self.has_audio and _audio_params(h) != self.audio_ref):
            raise InputError(f"the audio of {name} differs from {self.first_name}'s (one has none, or its codec "
                             "parameters differ): remux with --no-audio to join the video alone")

    def begin(self, reader: GvcReader, name: str, joined: bool) -> None:
        """Take the next input: check it can follow the first, and set its timestamp moves."""
        h = reader.header
        self.name = name
        if not joined:
            self.header = None
            self.check(h, name)
            if self.start and reader.seekable:  # straight to the keyframe before it, through the index
                target = math.floor(self.start / self.tb)
                try:
                    reader.seek_to_keyframe(target, from_first=True)
                    self.origin = reader.first_key_pts
                except container.FormatError:
                    pass  # no keyframe anywhere: read from the start, which finds nothing to copy
            return
        self.check(h, name)
        self.next_pts = None if self.last_pts is None else self.last_pts + self._frame_pts()
        self.shift = 0
        self.audio_shift = 0
        self.wait_key = False

    def _frame_pts(self) -> int:
        """One frame's duration in pts units: by the frame rate, else the last two frames' spacing, else 1."""
        if self.step:
            return max(1, round(self.step))
        return self.spacing or 1

    def packets(self, reader: GvcReader) -> Iterator[Packet]:
        """The packets of this input to write, timestamps moved, in order."""
        try:
            for item in reader:
                if isinstance(item, container.Damaged):
                    if item.stream != container.INDEX_DAMAGE:
                        self.damaged += 1
                    if item.loses_frames:
                        self.wait_key = True
                    continue
                if self.done:
                    return
                yield from self._take(item)
                if self.done:
                    return
        except TruncatedStreamError as err:
            self.truncated += 1
            log.warning("%s is cut off (%s): its complete packets are copied", self.name, err)

    def _take(self, p: Packet) -> Iterator[Packet]:
        if p.kind is PacketType.PARAMETERS:
            return
        if p.stream_index != 0:
            if p.stream_index == container.AUDIO_STREAM and not self.has_audio:
                return
            p = dataclasses.replace(p, pts=p.pts + self.audio_shift)
            if self.pending:
                self.pending.append(p)
            elif self.out_first is not None:
                yield p
            return
        if self.next_pts is not None:  # the first frame of a joined input: move its timeline
            self.shift = self.next_pts - p.pts
            self.audio_shift = 0
            if self.has_audio:
                a_tb = self.audio_ref[0]
                self.audio_shift = math.floor(self.shift * self.tb / a_tb)
            self.next_pts = None
        p = dataclasses.replace(p, pts=p.pts + self.shift)
        if self.origin is None:
            self.origin = p.pts
        if self.last_pts is not None and p.pts > self.last_pts:
            self.spacing = p.pts - self.last_pts
        self.last_pts = p.pts
        self.frames_seen += 1
        self.end_seen = max(self.end_seen, (p.pts - self.origin) * self.tb)
        if p.kind is PacketType.KEY:
            self.wait_key = False
        elif self.wait_key:
            self.dropped += 1
            return
        if self.out_first is None:  # before the start: hold the GOP from its keyframe
            if p.kind is PacketType.KEY:
                self.pending = [p]
            elif self.pending:
                self.pending.append(p)
            else:
                return
            if self.start is not None and (p.pts - self.origin) * self.tb < self.start:
                return
            held, self.pending = self.pending, []
            self.out_first = held[0].pts
            self.began = (held[0].pts - self.origin) * self.tb
            for q in held:
                if q.stream_index == 0:
                    if self._ends_before(q):
                        return
                    self._count(q)
                yield q
            return
        if self._ends_before(p):
            return
        self._count(p)
        yield p

    def _ends_before(self, p: Packet) -> bool:
        """Whether frame ``p`` is past the stretch asked (then nothing more is copied)."""
        if (self.max_frames is not None and self.frames >= self.max_frames) or (
                self.length is not None and (p.pts - self.out_first) * self.tb >= self.length):
            self.done = True
        return self.done

    def _count(self, p: Packet) -> None:
        self.frames += 1
        self.keys += p.kind is PacketType.KEY

    def out_header(self, seekable: bool) -> StreamHeader:
        """The first input's header for the output, without the audio tag when the audio is left out. Its
        frame count is set at close where the output can seek back to it (1 until then, which the writer
        replaces unless it is right), unknown (0) where it cannot, and stays unknown where the input's was."""
        h = self.header
        ext = h.extensions if self.has_audio else {k: v for k, v in h.extensions.items() if k != container.EXT_AUDIO}
        return dataclasses.replace(h, frame_count=1 if seekable and h.frame_count else 0, extensions=ext)
