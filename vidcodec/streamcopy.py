"""Stream copy: a new .gvc stream from the packets of others, none of them re-coded (``vidcodec remux``).

What ``ffmpeg -c copy`` does for other formats: cut a stretch out at keyframes (``start``, ``duration``,
``max_frames``), join streams of the same kind end to end, and rewrite a stream whose encoder was
killed (no keyframe index, the header's frame count unset) or that was damaged, so that it seeks and
reports its frame count again. Packets are copied byte for byte: the pictures are exactly the input's,
and a whole clean stream remuxed on its own gives the same bytes back.

The rules (docs/FORMAT.md's, applied without decoding a frame):

* A cut begins at the last keyframe at or before ``start`` (a delta needs the frames before it back to
  its keyframe), so the output can begin a little before the time asked; ``duration`` counts from
  ``start`` (from the first frame without it), as ``ffmpeg -ss S -t D -c copy`` does: frames that begin
  that long after it or later are left out.
* After damage the deltas up to the next keyframe are dropped (they could only decode wrong), as are damaged
  audio packets; damaged bytes and a damaged index are skipped. ``RemuxStats.damaged`` and ``.dropped``
  count what was lost where the copy was asked for (the CLI then exits 1). An input that ends inside a packet
  (cut off) keeps every complete packet before it: that is the repair of a killed encode, and not an
  error; a stream whose file header cuts it off (an encode restarted into the same file) is read on from
  there as a joined stream (its header checked). A file is split into its streams first (a valid file
  header that no intact packet holds begins one), so it is found wherever the cut is; from a pipe only
  where its header lies inside the bytes of the packet cut off (a pipe's bytes are not kept). Frames
  that go back in time are dropped as damage.
* Joined audio only goes forward: a joined stream's audio packets that would begin before the last one
  written (an audio track that outlasts its video) are left out.
* The streams of one input made with ``cat a.gvc b.gvc`` (a file or a pipe) are read one after the other,
  as if they had been given one by one.
* Streams are joined when they share every field a decoder reads (size, model, coder, mode, time base,
  format version, the header extensions; the audio track's codec parameters): each one's timestamps are
  kept where its first frame comes after the last one before it (segments of one recording, a gap
  included), else moved so that its first frame follows that last frame by one frame (by the frame rate,
  else the last frames' spacing, else 1/25 s), its audio with it.
* Parameters packets are not copied; like encode, the writer repeats the header before every keyframe when
  the output is a pipe, a socket or a terminal (``repeat_header``).
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import enum
import io
import logging
import math
import os
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

from . import api, container, media, network, outputs
from .container import FILE_MAGIC, GvcReader, GvcWriter, Packet, PacketType, StreamHeader
from .errors import (
    CorruptPacketError,
    FormatError,
    InputError,
    TruncatedStreamError,
    UsageError,
    VidcodecError,
    naming,
)
from .progress import bar as progress_bar
from .progress import quieted
from .urls import missing_file_hint

try:
    import fcntl  # POSIX: whether stdout was opened for appending
except ImportError:  # pragma: no cover (Windows)
    fcntl = None

log = logging.getLogger("vidcodec")

# the header fields that may differ between streams joined end to end (informative, or the writer's own)
_INFORMATIVE = {"frame_count": 0, "quality": 0, "gop": 0}
_TAGS = {container.EXT_SAMPLE_ASPECT: "sample aspect ratio", container.EXT_SUBPEL: "sub-pixel table",
         container.EXT_CHROMA: "source chroma", container.EXT_COLOUR: "colour description"}


@dataclass
class RemuxStats:
    """What a remux wrote: ``frames`` (``keyframes`` of them), ``audio_packets``, the output's ``bytes``;
    ``start``: where the output begins, in seconds from the (first) input's first frame; ``dropped``: delta
    packets left out after damage; ``damaged``: damaged stretches skipped; ``truncated``: inputs that ended
    inside a packet (an encode that was killed; their complete packets were copied); ``segments``: the files
    written with ``segment_time``."""

    frames: int
    keyframes: int
    audio_packets: int
    bytes: int
    start: float
    seconds: float
    dropped: int = 0
    damaged: int = 0
    truncated: int = 0
    segments: list[str] = dataclasses.field(default_factory=list)


def remux(
    sources: str | Path | BinaryIO | list[str | Path | BinaryIO],
    dst: str | Path | BinaryIO,
    *,
    start: float | Fraction | str | None = None,
    duration: float | Fraction | str | None = None,
    max_frames: int | None = None,
    segment_time: float | Fraction | str | None = None,
    audio: bool = True,
    overwrite: bool = False,
    repeat_header: bool | None = None,
    progress: bool = False,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    realtime: bool = False,
) -> RemuxStats:
    """Copy the packets of one .gvc stream, or of several joined end to end, into a new one (module docstring).

    ``sources``: a path, ``"-"`` for stdin (``stdin=`` to give it as a binary file object), a binary file
    object, or a list of them (joined in that order). ``dst``: a path, ``"-"`` for stdout (``stdout=``), or
    a binary file object. ``start`` (seconds or ``"[HH:]MM:SS[.frac]"``, from the first frame),
    ``duration`` and ``max_frames`` select a stretch; ``audio=False`` leaves the audio out;
    ``repeat_header`` as for :func:`vidcodec.encode`. ``segment_time`` (seconds) splits the output into
    files of about that length, each a whole stream of its own that begins at a keyframe (the first
    keyframe at least that long after the segment's first frame starts the next), named by ``dst``'s
    number (``seg%03d.gvc``: seg000.gvc, seg001.gvc, ..., from 0 as ffmpeg's segment muxer);
    ``RemuxStats.segments`` lists them. Raises :class:`~vidcodec.errors.UsageError` when nothing falls
    in the stretch asked and :class:`~vidcodec.errors.InputError` for streams that cannot be joined; a
    damaged or cut-off input is copied as far as it can be (``RemuxStats``).
    """
    srcs = [api._as_path(s) for s in (sources if isinstance(sources, (list, tuple)) else [sources])]
    if not srcs:
        raise UsageError("remux needs at least one input stream")
    if sum(1 for s in srcs if not isinstance(s, (str, Path)) or str(s) == "-" or network.is_network_url(s)) > 1:
        raise UsageError("only one input can be stdin, a network URL or a file object; give the others as paths")
    first = api._seconds(start)
    length = api._duration(duration)
    max_frames = api._whole("max_frames", max_frames)
    if max_frames is not None and max_frames < 1:
        raise UsageError(f"max_frames (--frames) must be at least 1 (got {max_frames})")
    dst = api._as_path(dst)
    every = _segment_time(segment_time, dst)
    api.check_flags(realtime=realtime, overwrite=overwrite, progress=progress)
    network.refuse_other_url(dst, "remux")
    if isinstance(dst, str) and network.is_network_url(dst):
        network.check_output(dst, repeat_header)
        repeat_header = True
    elif isinstance(dst, (str, Path)):
        if str(dst) != "-" and stdout is not None:
            raise UsageError(f"stdout= is written when the output is '-'; the output here is {dst}")
        check_output_name(dst)
        _not_an_input(srcs, dst, stdin, stdout)
        if every is None:
            api._check_output(dst, overwrite)
        if str(dst) == "-":
            api.refuse_terminal(stdout if stdout is not None else sys.stdout)
    else:
        api._binary_output(dst, "remux")
        _not_an_input(srcs, dst, stdin, stdout)
        api.refuse_terminal(dst)
    t0 = time.perf_counter()
    copier = _Copier(first, length, max_frames, audio)
    if len(srcs) > 1:  # streams that cannot be joined are refused before anything is written
        for src in srcs:
            if isinstance(src, (str, Path)) and str(src) != "-" and not network.is_network_url(src):
                with GvcReader(src) as reader:
                    copier.check(reader.header, _source_name(src))
    output = _Output(dst, every, overwrite, repeat_header, stdout, srcs, stdin, realtime)
    try:
        with progress_bar(None, "remux", progress) as bar:
            joined = False
            for src in srcs:
                source = (api._binary_input(stdin) if stdin is not None else api._stdin_if_dash(src)) \
                    if isinstance(src, str) and src == "-" else src
                if isinstance(source, str) and network.is_network_url(source):  # closed with the streams
                    source = network.open_input(source)
                if not isinstance(source, (str, Path)):
                    api._binary_input(source, "an input")
                with contextlib.closing(source) if src is not source and isinstance(src, str) and src != "-" \
                        else contextlib.nullcontext(), \
                        contextlib.closing(_streams(source, _source_name(src), copier)) as streams:
                    for reader, name in streams:
                        copier.begin(reader, name, joined=joined)
                        joined = True
                        for packet in copier.packets(reader):
                            output.write(packet, copier)
                            if packet.stream_index == 0:
                                bar.update(1)
                            elif packet.stream_index == container.AUDIO_STREAM:
                                copier.audio_packets += 1
                        if copier.done:
                            break
                if copier.done:
                    break
    except VidcodecError:
        output.close(remove=True)  # an input that cannot follow, or is not a stream: no half-joined output
        raise
    except BaseException as err:
        kept = output.writer.frames_written if output.writer is not None else 0
        try:
            output.close()  # what was copied stays readable (as an interrupted encode's output)
        finally:
            path = output.files[-1] if output.files else output.dst
            if kept and isinstance(err, OSError) and isinstance(path, (str, Path)) and Path(path).is_file():
                # (a full disk: said as encode and decode say it)
                outputs.say_kept(path, kept, "copied")
        raise
    copier.say_pending()
    copier.say_unindexed()
    if not output.files and output.writer is None:
        if copier.frames_seen == 0 and not (copier.damaged or copier.dropped):
            raise InputError(f"{_source_name(srcs[0])} holds no frames: nothing written")
        if first is None or copier.damaged or copier.dropped or copier.trailing_damage or copier.end_seen >= first:
            raise CorruptPacketError(f"{_source_name(srcs[0])} is damaged where it was to be copied: no frame of "
                                     "it decodes (nothing written)")
        raise UsageError(f"--start {api._start_text(start)} is past the end of the input "
                         f"({float(copier.end_seen):g} s): no frame at or after it")
    output.close()
    c = copier
    return RemuxStats(c.frames, c.keys, c.audio_packets, output.bytes, float(c.began or 0),
                      time.perf_counter() - t0, c.dropped, c.damaged, c.truncated,
                      [str(f) for f in output.files] if every is not None else [])


def _segment_time(value: object, dst: object) -> Fraction | None:
    """``segment_time`` in seconds (None: one output), checked with the output's name."""
    if value is None:
        return None
    try:
        every = api._duration(value)
    except UsageError:
        raise UsageError(f"--segment-time must be a time above 0, in seconds or [HH:]MM:SS[.frac] (got "
                         f"{api._start_text(value)})") from None
    if network.is_network_url(dst):
        raise UsageError("--segment-time writes .gvc files; a network output is one stream (record it with "
                         "`vidcodec remux URL seg%03d.gvc --segment-time T` on the receiving side)")
    if not isinstance(dst, (str, Path)) or str(dst) == "-" or media.frame_pattern(dst, (".gvc",)) is None:
        raise UsageError("--segment-time writes one .gvc file a segment: give the output a number as ffmpeg's "
                         "segment muxer takes one, e.g. seg%03d.gvc (seg000.gvc, seg001.gvc, ...)")
    return every


class _Output:
    """Where the packets go: one writer, opened at the first packet, or one a segment (``every`` seconds)."""

    def __init__(self, dst, every: Fraction | None, overwrite: bool, repeat_header: bool | None,
                 stdout: BinaryIO | None, srcs: list, stdin: BinaryIO | None, realtime: bool = False) -> None:
        self.dst, self.every, self.overwrite, self.repeat_header = dst, every, overwrite, repeat_header
        self.realtime = realtime
        self.pacer: network.Pacer | None = None  # with realtime: each frame out when its time has come
        self.sink: network._Output | None = None  # a tcp:// or udp:// output, open
        self.stdout, self.srcs, self.stdin = stdout, srcs, stdin
        self.writer: GvcWriter | None = None
        self.opened = False
        self.copier: _Copier | None = None
        self.files: list[Path] = []  # the segments written (with ``every``), the open one last
        self.bytes = 0  # in the writers closed
        self.began = 0  # the open segment's first frame's pts

    def write(self, packet: Packet, copier: _Copier) -> None:
        self.copier = copier
        if (self.writer is not None and self.every is not None and packet.stream_index == 0
                and packet.kind is PacketType.KEY and (packet.pts - self.began) * copier.tb >= self.every):
            self._finish()
        if self.writer is None:
            with self._named():
                self._open(copier)
            self.began = packet.pts
        if self.realtime and packet.stream_index == 0 and packet.kind in (PacketType.KEY, PacketType.DELTA):
            # ffmpeg's -re: a stored stream sent as live, each frame when its time has come
            self.pacer = self.pacer or network.Pacer(copier.tb)
            self.pacer.wait(packet.pts)
        with self._named():
            self.writer.write_packet(packet.kind, packet.pts, packet.payload, packet.stream_index, packet.flags)

    @contextlib.contextmanager
    def _named(self) -> Iterator[None]:
        """A write's OSError that names no file (a full disk) names the segment's: the error would name
        the output's pattern (seg%03d.gvc) where one of its files (seg007.gvc) could not be written."""
        try:
            yield
        except OSError as e:
            if e.filename is not None or e.errno is None or self.every is None or not self.files:
                raise
            raise naming(e, self.files[-1]) from e

    def _open(self, copier: _Copier) -> None:
        out = self.dst
        if isinstance(out, str) and network.is_network_url(out):
            if self.sink is None:  # a listening one waits here for its first receiver
                self.sink = network.open_output(out)
            out = self.sink
        elif self.every is not None:
            out = media.frame_name(Path(self.dst), len(self.files))
            if any(_same_file(s, out, self.stdin) for s in self.srcs):
                raise UsageError(f"{out} is also an input; give the segments another name")
            api._check_output(out, self.overwrite)
            self.files.append(out)
        elif str(out) == "-":
            out = container.std_bytes("stdout") if self.stdout is None else api._binary_output(self.stdout, "stdout=")
        live = api._is_live(out) if self.repeat_header is None else self.repeat_header
        seekable = _seekable(out)
        count = copier.repeated_count(whole=len(self.srcs) == 1 and self.every is None) if live else None
        header = copier.out_header(seekable)
        if live and not seekable:  # nothing rewritten at close: the count the parameters packets have
            header = dataclasses.replace(header, frame_count=count)
        self.writer = GvcWriter(out, header, repeat_header=live, parameters_frame_count=count)
        self.opened = True
        if self.every is not None:
            log.debug("segment %s", out)

    def _finish(self) -> None:
        if self.writer.header.gop != self.copier.gop:  # a stream found after the header was out (cat, stdin)
            self.writer.revise(gop=self.copier.gop)
        with self._named():
            self.writer.close()
        self.bytes += self.writer.bytes_written
        self.writer = None

    def close(self, remove: bool = False) -> None:
        """Finish the open writer (``remove``: and delete the file it wrote, a path's)."""
        try:
            if self.writer is not None:
                self._finish()
        finally:
            if self.sink is not None:
                self.sink.close()
        if remove:  # every file this copy wrote (all its segments)
            for path in self.files or ([self.dst] if self.opened else []):
                if isinstance(path, (str, Path)) and str(path) != "-" and not network.is_network_url(path):
                    Path(path).unlink(missing_ok=True)


def check_output_name(dst: str | Path) -> None:
    """UsageError for an output named as a media file (out.mp4): remux writes .gvc streams."""
    media.refuse_media_name(dst, "remux copies .gvc streams into a .gvc stream", " (as ffmpeg -c copy keeps the codec)")


def _streams(source, name: str, copier: _Copier) -> Iterator[tuple[GvcReader, str]]:
    """The streams of one input: its own, then each whole stream that follows its footer (``cat a.gvc b.gvc``),
    or that cut it off (an encode restarted into the same file). A file is split where its streams begin
    (:func:`_pieces`); a pipe's are found as they come (the reader's ``chained`` mode: after a footer, or
    a header inside the bytes of a packet cut off). Each reader is closed when the next is asked for;
    closing the generator closes the last one and the files it opened."""
    if isinstance(source, (str, Path)):
        try:
            mode = os.stat(source).st_mode
        except OSError as err:
            raise InputError(f"cannot open {source}: {err.strerror or err}{missing_file_hint(source)}") from None
        if stat.S_ISDIR(mode):
            raise InputError(f"cannot open {source}: Is a directory; give a .gvc file")
        regular = stat.S_ISREG(mode)
        if not regular:  # a named pipe, /dev/stdin, <(...): read as it comes
            with open(source, "rb") as f:
                yield from _streams(f, name, copier)
            return
    if isinstance(source, (str, Path)) or _seekable_input(source):
        yield from _file_streams(source, name, copier)
        return
    reader = GvcReader(source, resync=True, chained=True)
    try:
        yield reader, name
        n = 1
        base = 0  # where the stream now read begins in the pipe's bytes (its reader counts from there)
        while not copier.done and (following := reader.following()) is not None:
            if reader.cut_by_stream is not None:  # said at the byte where the other stream begins, as a file's
                copier.cut_off(f"{name} (stream {n})" if n > 1 else name,
                               base + (reader.cut_by_stream if reader.trailing_at is None else reader.trailing_at))
            # where the next bytes begin: after the footer (trailing_at is None where they came late)
            base += reader.trailing_at if reader.trailing_at is not None else reader.position + container.FOOTER_SIZE
            reader.close()
            nxt, skipped = _next_header(following)
            base += skipped
            if skipped:
                log.warning("%s: %d byte(s) after its stream %d are no .gvc stream: skipped", name, skipped, n)
                copier.lost()
            if nxt is None:
                return
            reader = GvcReader(nxt, resync=True, join=False, chained=True)
            n += 1
            yield reader, f"{name} (stream {n})"
    finally:
        reader.close()


def _next_header(f: BinaryIO) -> tuple[BinaryIO | None, int]:
    """The next valid file header in a pipe's bytes: a file object reading from it on, and how many bytes
    before it were skipped (None at the pipe's end)."""
    buf, skipped = b"", 0
    while True:
        i = buf.find(FILE_MAGIC)
        if i < 0:
            keep = len(FILE_MAGIC) - 1
            skipped += max(0, len(buf) - keep)
            buf = buf[-keep:] if len(buf) > keep else buf
        else:
            skipped += i
            buf = buf[i:]
            while len(buf) < 16 and (more := container.read_some(f, 1 << 16)):
                buf += more
            try:
                size = container._check_prefix(buf[:16])[2]
                while len(buf) < size and (more := container.read_some(f, 1 << 16)):
                    buf += more
                container.decode_header(buf[:size])
                return container._Chained(buf, f), skipped
            except VidcodecError:
                buf, skipped = buf[1:], skipped + 1
                continue
        more = container.read_some(f, 1 << 16)
        if not more:
            return None, skipped + len(buf)
        buf += more


def _seekable_input(f: object) -> bool:
    try:
        return bool(f.seekable())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


class _Slice(io.RawIOBase):
    """Bytes ``start`` to ``end`` (None: the end) of a seekable file, read as a file of their own."""

    def __init__(self, f: BinaryIO, start: int, end: int | None) -> None:
        super().__init__()
        self._f, self._start, self._end, self._pos = f, start, end, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _size(self) -> int:
        end = self._f.seek(0, os.SEEK_END) if self._end is None else self._end
        return end - self._start

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size()}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, b) -> int:
        n = len(b) if self._end is None else max(0, min(len(b), self._end - self._start - self._pos))
        self._f.seek(self._start + self._pos)
        data = self._f.read(n)
        b[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _headers(f: BinaryIO, start: int) -> list[int]:
    """The offsets after ``start`` where a valid file header (magic, prefix, CRC) begins in the file."""
    found, at, keep = [], start + 1, len(FILE_MAGIC) - 1
    while True:
        f.seek(at)
        chunk = f.read(1 << 20)
        i = chunk.find(FILE_MAGIC)
        while i >= 0:
            f.seek(at + i)
            try:
                prefix = f.read(16)
                size = container._check_prefix(prefix)[2]
                container.decode_header(prefix + f.read(size - 16))
                found.append(at + i)
            except VidcodecError:
                pass
            i = chunk.find(FILE_MAGIC, i + 1)
        if len(chunk) < (1 << 20):
            return found
        at += len(chunk) - keep


def _boundary(f: BinaryIO, start: int, later: list[int], join: bool) -> tuple[int | None, str]:
    """Where the stream that begins at ``start`` ends because another begins (a header of ``later``):
    inside a stretch the reader finds damaged or cut off, or after its index (``cat``); and how: "cut"
    (cut off there), "gap" (it had ended, and bytes that are no stream came between), "ended". (None, _)
    where none of them does. Read quietly: the copy reads the stream again and reports its damage."""
    with quieted("vidcodec.container", logging.CRITICAL):
        return _find_boundary(f, start, later, join)


def _find_boundary(f: BinaryIO, start: int, later: list[int], join: bool) -> tuple[int | None, str]:
    own = None  # this stream's header bytes: a repeated one (a parameters packet's) inside damage is no new stream
    with contextlib.suppress(VidcodecError):
        own = _header_at(f, start)
    last_end, last_pts, maybe = start, None, None
    try:
        with GvcReader(_Slice(f, start, None), resync=True, join=join, trailing_ok=True) as reader:
            for item in reader:
                if isinstance(item, container.Damaged):
                    lo, hi = start + item.offset, start + item.offset + item.size
                    lo_i = bisect.bisect_left(later, lo)
                    hit = later[lo_i] if lo_i < len(later) and later[lo_i] < hi else None
                    if hit is not None:
                        if own is None or _header_at(f, hit) != own:
                            return hit, "cut"
                        maybe = maybe or hit  # decided by the next frame: back in time, a restarted stream
                    last_end = hi
                    continue
                last_end = start + item.offset + item.header_size + len(item.payload)
                if item.stream_index == 0 and item.kind is not PacketType.PARAMETERS:
                    if maybe is not None and (last_pts is None or item.pts <= last_pts):
                        return maybe, "cut"
                    maybe, last_pts = None, item.pts
            if maybe is not None:
                return maybe, "cut"
            if reader.closed_cleanly:  # the stream's index was read: what follows is not it
                index_end = start + (reader.trailing_at - container.FOOTER_SIZE if reader.trailing_at is not None
                                     else reader.position)
                k = bisect.bisect_left(later, index_end)
                hit = later[k] if k < len(later) else None
                # (a footer cut short by the next stream's header is no loss: the index was whole)
                return hit, "ended" if hit is None or hit <= index_end + container.FOOTER_SIZE else "gap"
            return None, "ended"
    except TruncatedStreamError:
        k = bisect.bisect_left(later, last_end)
        return (later[k] if k < len(later) else maybe), "cut"
    except VidcodecError:
        return None, "ended"


def _header_at(f: BinaryIO, at: int) -> bytes | None:
    """The file header's bytes at ``at`` (FormatError where none begins there)."""
    f.seek(at)
    prefix = f.read(16)
    return prefix + f.read(container._check_prefix(prefix)[2] - 16)


def _file_streams(source, name: str, copier: _Copier) -> Iterator[tuple[GvcReader, str]]:
    """The streams of a file (a path, or a seekable file object from where it stands), each read within its
    own bytes: a header that no intact packet holds (a parameters packet's is) begins the next."""
    try:
        f = open(source, "rb") if isinstance(source, (str, Path)) else source  # noqa: SIM115 (closed below)
    except OSError as err:
        raise InputError(f"cannot open {source}: {err.strerror or err}; give a .gvc file") from None
    reader = None
    try:
        start = f.tell()
        later = _headers(f, start)
        n = 0
        while True:
            # the first stream may begin mid-way (a live stream joined): read from its next parameters packet
            after = later[bisect.bisect_right(later, start):]
            end, how = _boundary(f, start, after, n == 0) if after else (None, "ended")
            if n == 0:
                copier.single = end is None  # one stream, all of the file
            reader = GvcReader(_Slice(f, start, end), resync=True, join=n == 0, trailing_ok=True)
            copier.cut_ahead = how == "cut"
            n += 1
            yield reader, name if n == 1 else f"{name} (stream {n})"
            reader.close()
            left = _Slice(f, start, None).seek(0, os.SEEK_END) - reader.position - container.FOOTER_SIZE
            if end is None and reader.closed_cleanly and left > 0 and not copier.done:
                log.warning("%s: %d byte(s) after its stream %d are no .gvc stream: skipped", name, left, n)
                copier.lost()
            if end is None or copier.done:
                return
            if how == "cut":
                copier.cut_off(name if n == 1 else f"{name} (stream {n})", end)
            elif how == "gap":
                log.warning("%s: bytes after its stream %d are no .gvc stream, up to byte %d: skipped", name, n, end)
                copier.lost()
            start = end
    except VidcodecError as err:
        if n == 0:
            if isinstance(err, FormatError) and str(err).startswith("not a .gvc file"):  # named, as decode's
                raise FormatError(f"{name}: {err}") from None
            raise
        log.warning("%s: what follows its stream %d is not a .gvc stream (%s): not copied", name, n, err)
        copier.lost()
    finally:
        if reader is not None:
            reader.close()
        if f is not source:
            f.close()


def _not_an_input(srcs: list, dst: object, stdin: BinaryIO | None, stdout: BinaryIO | None) -> None:
    """UsageError when the output (a path, stdout for "-", or a file object) is one of the inputs' files: the
    copy would cut its input short or read its own output (``vidcodec remux - x.gvc -y < x.gvc``)."""
    out = dst
    if str(dst) == "-":
        out = stdout if stdout is not None else sys.stdout
    for src in srcs:
        if _same_file(src, out, stdin):
            raise UsageError(f"the output ({'stdout' if str(dst) == '-' else dst}) is also an input"
                             f"{' (stdin)' if isinstance(src, str) and src == '-' else ''}; give a different output")


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
    """Whether the writer can go back to the header (then it corrects the frame count there at close): a
    path, or a seekable file object not opened for appending (``>> f.gvc``: writes land at the end)."""
    if isinstance(out, (str, Path)):  # a file made or replaced; not a named pipe or a device (/dev/stdout)
        try:
            return stat.S_ISREG(os.stat(out).st_mode)
        except OSError:
            return True
    try:
        if fcntl is not None and fcntl.fcntl(out.fileno(), fcntl.F_GETFL) & os.O_APPEND:
            return False
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    return container._is_seekable(out)  # type: ignore[arg-type]


def _same_file(src: object, dst: object, stdin: BinaryIO | None) -> bool:
    """Whether the input ``src`` (a path, "-" for stdin, or a file object) and the output ``dst`` (a path
    or a file object) are one file."""
    def ident(f: object) -> tuple[int, int] | None:
        try:
            st = os.stat(f) if isinstance(f, (str, Path)) else os.fstat(f.fileno())  # type: ignore[attr-defined]
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return None
        return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None

    if isinstance(src, str) and src == "-":
        src = stdin if stdin is not None else sys.stdin
    if isinstance(dst, str) and dst == "-":
        return False
    a, b = ident(src), ident(dst)
    return a is not None and a == b


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
    try:
        s = track.template()
    except InputError:  # a codec this FFmpeg lacks: the packets are copied all the same, and streams join
        return (track.time_base, bytes(track.params))  # when their descriptions are the same bytes
    cc = s.codec_context
    layout = getattr(getattr(cc, "layout", None), "name", None)
    fmt = getattr(getattr(cc, "format", None), "name", None)
    return (track.time_base, cc.name, cc.sample_rate, layout, fmt, bytes(cc.extradata or b""))


class _Copier:
    """The selection and the timestamp moves of a remux, fed one input (stream) after the other."""

    def __init__(self, start: Fraction | None, length: Fraction | None, max_frames: int | None, audio: bool):
        self.start, self.length, self.max_frames, self.audio = start, length, max_frames, audio
        self.single = False  # the input is one stream, all of its file (_file_streams; a pipe's: not known)
        self.indexed_count: int | None = None  # the first stream's frame count by its index (begin)
        self.header: StreamHeader | None = None  # the first input's
        self.gops: set[int] = set()  # the keyframe intervals of the streams checked
        self.frames = self.keys = self.audio_packets = self.dropped = self.damaged = self.truncated = 0
        self.audio_dropped = 0
        self.frames_seen = 0
        self.done = False
        self.began: Fraction | None = None  # seconds from the first input's first frame to the output's first
        self.until: Fraction | None = None  # where the output ends (seconds from that first frame; -t)
        self.end_seen = Fraction(0)  # seconds from the first frame to the last frame read (for an error)
        self.origin: int | None = None  # the first input's first frame's pts (in the joined timeline)
        self.shift = 0  # added to this input's video pts
        self.audio_shift = 0  # added to this input's audio pts
        self.placing = False  # a joined input whose first frame (which places its timeline) is still to come
        self.lead: list[Packet] = []  # a joined input's audio before its first frame (its move not known yet)
        self.preroll: list[Packet] = []  # audio before the first frame (kept when there is no --start)
        self.last_pts: int | None = None  # the last frame read (joined timeline)
        self.last_payload: bytes | None = None  # its packet's (a repeat of it right after it is left out alone)
        self.last_audio: int | None = None  # the last audio packet's pts written (joined timeline)
        self.last_audio_payload = b""  # ... and its payload
        self.spacing: int | None = None  # the last two frames' distance (pts)
        self.out_first: int | None = None  # the output's first frame's pts
        self.pending: list[Packet] = []  # from the last keyframe, while before start
        self.wait_key = False  # after damage: deltas are dropped up to the next keyframe
        self.unplaced_damage = False  # damage met before the output began: counted if the next frame is wanted
        self.trailing_damage = False  # damage after the last frame read, with nothing copied (an error's cause)
        # the stream before was cut off by the one now read: (name, offset, header, its truncation held)
        self.cut: tuple | None = None
        self.cut_ahead = False  # the stream now read ends where another's header begins (a file's: its bytes end)
        self.held: str | None = None  # its truncation, said with the cut (or alone where it is no cut)
        self.stream_frames = 0  # frames read of the stream now read
        self.stream_first = 0  # frames copied before it
        self.unindexed: tuple[str, int, int] | None = None  # the last stream ended without its index: said later
        self.stream_header: StreamHeader | None = None
        self.first_name = ""
        self.name = ""

    # ---- the inputs

    def check(self, h: StreamHeader, name: str) -> None:
        """InputError unless a stream of header ``h`` can follow the first input's (the first sets the rules)."""
        self.gops.add(h.gop)
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
                tags = sorted(t for t in set(h.extensions) | set(first.extensions) if t != container.EXT_AUDIO
                              and h.extensions.get(t) != first.extensions.get(t))
                diff = ["header extension " + ", ".join(f"{t} ({_TAGS.get(t, 'unknown')})" for t in tags)]
            raise InputError(f"{name} cannot follow {self.first_name}, it differs: {'; '.join(diff)} "
                             "(streams are joined only when a decoder reads them alike; decode and re-encode "
                             "to join others)")
        if self.has_audio != (self.audio and container.EXT_AUDIO in h.extensions) or (
                self.has_audio and _audio_params(h) != self.audio_ref):
            raise InputError(f"the audio of {name} differs from {self.first_name}'s (one has none, or its codec "
                             "parameters differ): remux with --no-audio to join the video alone")

    def begin(self, reader: GvcReader, name: str, joined: bool) -> None:
        """Take the next input (stream): check it can follow the first; a joined one's timeline is placed
        by its first frame."""
        h = reader.header
        self.name = name
        self.stream_frames = 0
        self.stream_first = self.frames  # the copy's frames before this stream's
        self.stream_header = h
        if not joined:
            self.header = None
            self.indexed_count = None
            if reader.seekable:  # time counts from the first keyframe, by the index where it is whole (as decode)
                with quieted("vidcodec.container", logging.CRITICAL):
                    index = reader.index()
                if index is not None and index.entries:
                    self.origin = min(e.pts for e in index.entries)
                    self.indexed_count = index.frame_count
        self.check(h, name)
        if joined:
            self.placing = True
            self.lead = []
            self.wait_key = False

    def cut_off(self, name: str, offset: int) -> None:
        """The stream just read was cut off at ``offset`` by another stream's header (a restarted encode):
        said when the next stream's first frame shows it is not this stream's own header repeated (the
        same header, and its frames go on)."""
        self._say_pending_cut()  # a cut before this one that no frame came to show
        self.cut = (name, offset, self.stream_header, self.held)  # with the truncation it made, if held
        self.held = None
        self.unindexed = None  # the cut is what is said about it

    def _cut_said(self, p: Packet) -> None:
        name, offset, before, held = self.cut
        self.cut = None
        if before is not None and before == self.stream_header and self.last_pts is not None and \
                p.pts > self.last_pts:
            if held is not None:  # a parameters packet's header, found inside damage: the same stream goes on,
                self._say_truncation(held)  # the stream before it cut short there
            return
        self._say_cut(name, offset)  # (what cut it short: said once, counted once)

    def _say_cut(self, name: str, offset: int) -> None:
        self._say_truncation(f"{name} is cut off at byte {offset}, where another stream begins (an encode "
                             "restarted into the same file?): its complete packets are copied, then that stream's")

    def _say_truncation(self, said: str) -> None:
        self.truncated += 1
        log.warning("%s", said)

    def _say_pending_cut(self) -> None:
        """Say a cut that no frame of the stream after it came to show (it had none)."""
        if self.cut is not None:
            name, offset = self.cut[:2]
            self.cut = None
            self._say_cut(name, offset)

    def say_pending(self) -> None:
        """Say a cut that no frame came to show, or a truncation held for a cut that no stream turned out
        to make."""
        self._say_pending_cut()
        self.say_held()

    def lost(self) -> None:
        """Bytes that are no stream follow one: frames may be lost there, if the copy had not ended."""
        if not self.done:
            self.unplaced_damage = True
            self._settle_damage(None)

    @property
    def gop(self) -> int:
        """The output's keyframe interval: the largest of the streams', 0 (not fixed) if one says so."""
        return 0 if 0 in self.gops else max(self.gops, default=0)

    def _frame_pts(self) -> int:
        """One frame's duration in pts units: by the frame rate, else the last two frames' spacing, else
        1/25 s (a stream of one frame with no frame rate)."""
        if self.step:
            return max(1, round(self.step))
        return self.spacing or max(1, round(Fraction(1, 25) / self.tb))

    def _time(self, pts: int) -> Fraction:
        """Seconds from the first input's first frame to ``pts`` (joined timeline)."""
        if self.origin is None:
            self.origin = pts
        return (pts - self.origin) * self.tb

    def _past_end(self, t: Fraction) -> bool:
        """Whether a frame at ``t`` is past the stretch asked (then nothing more is copied)."""
        if (self.max_frames is not None and self.frames >= self.max_frames) or (
                self.until is not None and t >= self.until):
            self.done = True
        return self.done

    def say_held(self) -> None:
        """Say a truncation held for the cut that no stream turned out to make."""
        if self.held is not None:
            self._say_truncation(self.held)
            self.held = None

    def say_unindexed(self) -> None:
        """Warn about the last stream read if it ended without its index (and no other stream cut it off)."""
        if self.unindexed is not None:
            name, frames, announced = self.unindexed
            self.unindexed = None
            log.warning("%s ends without the index its writer appends on closing (an encoder stopped, killed or "
                        "cut off at a packet's end): %d frames%s are copied from it, and indexed", name, frames,
                        f" (its header announces {announced})" if announced > frames else "")

    def packets(self, reader: GvcReader) -> Iterator[Packet]:
        """The packets of this input to write, timestamps moved, in order."""
        self.say_unindexed()
        own = False  # an audio packet of this stream was written (its first at the last one's time overlaps it)
        try:
            for item in reader:
                if isinstance(item, container.Damaged):
                    self._damage(item)
                else:
                    for p in self._take(item):
                        if p.stream_index == container.AUDIO_STREAM:
                            if media.audio_goes_back(p.pts, p.payload, self.last_audio, self.last_audio_payload,
                                                     strict=not own):  # (a joined stream's first: an overlap)
                                if not self.audio_dropped:
                                    log.warning("%s: its audio begins before the audio before it ends: the audio "
                                                "packets that would go back in time are left out", self.name)
                                self.audio_dropped += 1
                                continue
                            self.last_audio, self.last_audio_payload, own = p.pts, p.payload, True
                        yield p
                if self.done:
                    return
        except TruncatedStreamError as err:
            said = f"{self.name} is cut off ({err}): its complete packets are copied"
            if self.cut_ahead:  # by the next stream's header, most likely: said with the cut (_cut_said)
                self.say_held()
                self.held = said
            else:
                self._say_truncation(said)
        else:
            copied = self.frames - self.stream_first
            if not self.done and not reader.closed_cleanly and reader.trailing_at is None and copied:
                # said once the next stream shows it was not cut off by it (cut_off says that instead); a
                # stream joined mid-way (a late receiver) has a header that counts the frames before it
                self.unindexed = (self.name, copied, 0 if reader.joined_at is not None else reader.header.frame_count)
        if self.unplaced_damage:  # damage at the very end: frames after the last one read may be lost
            if self.stream_header.frame_count and self.stream_frames >= self.stream_header.frame_count:
                self.unplaced_damage = False  # (the stream's header counts no more frames than were read)
            else:
                self._settle_damage(None)

    def _damage(self, d: container.Damaged) -> None:
        """A damaged stretch: deltas wait for the next keyframe; it counts where frames asked for are lost."""
        if not d.loses_frames:  # one audio packet, or the index: no frame lost
            return
        self.wait_key = True
        if d.pts is not None and not self.placing:  # one packet whose header is whole: its frame is known
            t = self._time(d.pts + self.shift)
            if not self._past_end(t) and (self.start is None or t >= self.start):
                self.damaged += 1
            return
        self.unplaced_damage = True  # frames between the frame before and the next one read

    def _settle_damage(self, t: Fraction | None, pts: int | None = None) -> None:
        """Count damage met since the last frame read, now that the next frame (at ``t``; None: none came) is
        read: its lost frames lay before ``t``, so they were asked for if ``t`` is past the start."""
        self.unplaced_damage = False
        if self.done:
            return
        if pts is not None and self.step and self.last_pts is not None and pts - self.last_pts <= self.step:
            return  # the next frame is the one after the last by the frame rate: none was lost (a parameters packet)
        if t is not None and self.start is not None and t <= self.start:
            return
        if self.max_frames is not None and self.frames >= self.max_frames:
            return  # every frame asked for was copied before it
        if self.until is not None and self.last_pts is not None and self.origin is not None and \
                self._time(self.last_pts) + self._frame_pts() * self.tb >= self.until:
            return  # the frame before it was the last one asked for
        if self.out_first is None and t is None and self.start is not None and self.end_seen < self.start:
            self.trailing_damage = True  # all after the last frame read: the frames asked for may be in it
            return
        self.damaged += 1

    def _take(self, p: Packet) -> Iterator[Packet]:
        if p.kind is PacketType.PARAMETERS:
            return
        if p.stream_index != 0:
            if p.stream_index != container.AUDIO_STREAM:
                yield from self._other(p)
            elif not self.has_audio:
                return
            elif self.placing:  # a joined input's audio before its first frame: moved with it
                self.lead.append(p)
            else:
                yield from self._other(dataclasses.replace(p, pts=p.pts + self.audio_shift))
            return
        if self.placing:  # the first frame of a joined input: its timeline follows the last
            if self.cut is not None:
                self._cut_said(p)
            self.placing = False
            step = self._frame_pts()
            # timestamps that already go on from the last frame (segments of one recording) stay as they are
            self.shift = 0 if self.last_pts is None or p.pts > self.last_pts else self.last_pts + step - p.pts
            self.audio_shift = math.floor(self.shift * self.tb / self.audio_ref[0]) if self.has_audio else 0
            lead, self.lead = self.lead, []
            for q in lead:
                yield from self._other(dataclasses.replace(q, pts=q.pts + self.audio_shift))
        p = dataclasses.replace(p, pts=p.pts + self.shift)
        t = self._time(p.pts)
        order = container.frame_order(p.pts, p.payload, self.last_pts, self.last_payload)
        if order != "next":
            if order == "repeat":  # a key packet twice: nothing lost
                log.warning("packet at offset %d repeats the frame before it (pts %d): left out", p.offset, p.pts)
                return
            # not this timeline's order: packets of another stream whose header was lost in damage
            self.wait_key = True
            self._drop(t)
            return
        if self.unplaced_damage:
            self._settle_damage(t, p.pts)
        if self.last_pts is not None:
            self.spacing = p.pts - self.last_pts
        self.last_pts, self.last_payload = p.pts, p.payload
        self.frames_seen += 1
        self.stream_frames += 1
        self.end_seen = max(self.end_seen, t)
        if self.done:
            return
        if p.kind is PacketType.KEY:
            self.wait_key = False
        elif self.wait_key:
            self._drop(t)
            return
        if self.out_first is None:  # before the start: hold the GOP from its keyframe
            if p.kind is PacketType.KEY and self.pending and self.start is not None and t > self.start:
                yield from self._begin()  # the GOP before this keyframe holds the start: the copy begins there
                if self.done:
                    return
            else:
                if p.kind is PacketType.KEY:
                    self.pending = [p]
                elif self.pending:
                    self.pending.append(p)
                else:
                    return
                if self.start is None or t >= self.start:
                    yield from self._begin()
                return
        if self._past_end(t):
            return
        self._count(p)
        yield p

    def _begin(self) -> Iterator[Packet]:
        """The copy begins: the GOP held from its keyframe (and audio before the first frame), up to the end."""
        held, self.pending, self.preroll = self.preroll + self.pending, [], []
        first = next(q for q in held if q.stream_index == 0)
        self.out_first = first.pts
        self.began = self._time(first.pts)
        if self.length is not None:  # -t counts from --start (as ffmpeg's -ss -t), else the first frame
            self.until = (self.start if self.start is not None else self.began) + self.length
        for q in held:
            if q.stream_index == 0:
                if self._past_end(self._time(q.pts)):
                    return
                self._count(q)
            yield q

    def _other(self, p: Packet) -> Iterator[Packet]:
        """A packet of another stream (audio): held with the GOP before the start, kept before the first
        frame when the copy starts there (no --start), else written."""
        if self.pending:
            self.pending.append(p)
        elif self.out_first is not None:
            yield p
        elif self.start is None and self.frames_seen == 0:  # before the first frame: part of the copy
            self.preroll.append(p)

    def _drop(self, t: Fraction) -> None:
        """Leave out a delta that cannot decode (after damage); counted where it was asked for."""
        if self._past_end(t):
            return
        if self.out_first is not None or self.start is None or t >= self.start:
            self.dropped += 1

    def _count(self, p: Packet) -> None:
        self.frames += 1
        self.keys += p.kind is PacketType.KEY

    def out_header(self, seekable: bool) -> StreamHeader:
        """The first input's header for the output, without the audio tag when the audio is left out, with
        the largest keyframe interval of the streams joined. Its frame count is set at close where the
        output can seek back to it (1 until then), and unknown (0) where it cannot."""
        h = self.header
        ext = h.extensions if self.has_audio else {k: v for k, v in h.extensions.items() if k != container.EXT_AUDIO}
        return dataclasses.replace(h, frame_count=1 if seekable else 0, extensions=ext, gop=self.gop)

    def repeated_count(self, whole: bool) -> int:
        """The frame count of the headers repeated in parameters packets, which are never rewritten: the
        input's where the copy is all of one stream that is all of its file (``whole``: one input, no
        segments; no range; its index confirms the count), so that a clean stream comes back byte for
        byte; else unknown (0), which a reader joining there takes as such."""
        uncut = whole and self.single and self.start is None and self.length is None and self.max_frames is None
        return self.header.frame_count if uncut and self.indexed_count == self.header.frame_count else 0
