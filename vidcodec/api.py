"""The public Python API: encode and decode files or pipes, read frames from a .gvc stream.

    >>> import vidcodec
    >>> vidcodec.encode("in.mp4", "out.gvc", quality=4)
    >>> for frame in vidcodec.frames("out.gvc"):
    ...     frame.rgb, frame.pts
    >>> vidcodec.decode("out.gvc", "out.mp4")
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np
from tqdm import tqdm

from . import container, media
from .codec import DEFAULT_GOP, DEFAULT_QUALITY
from .codec.vaegan import DELTA, KEY, FrameDecoder, FrameEncoder, to_rgb, to_tensor
from .errors import UsageError
from .models import zoo

log = logging.getLogger("vidcodec")

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

    @property
    def bpp(self) -> float:
        """Bits per pixel from the stream's size."""
        return 8 * self.bytes / max(1, self.frames * self.width * self.height)

    @property
    def kbps(self) -> float:
        """Average bitrate over the stream's duration (0 when unknown)."""
        return 8 * self.bytes / self.duration / 1000 if self.duration > 0 else 0.0

    @property
    def fps(self) -> float:
        """Frames coded per wall-clock second."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class DecodedFrame:
    """A frame out of a .gvc stream."""

    rgb: np.ndarray
    pts: int
    index: int
    key: bool


def _check_output(dst: str | Path, overwrite: bool) -> None:
    if str(dst) != "-":
        media.check_output_path(Path(dst), overwrite)


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return str(a) != "-" and str(b) != "-" and Path(a).samefile(b)
    except OSError:  # one of them does not exist
        return False


def encode(
    src: str | Path,
    dst: str | Path | BinaryIO,
    *,
    quality: int = DEFAULT_QUALITY,
    gop: int = DEFAULT_GOP,
    coder: str = "ans",
    latent_bits: int = 4,
    model: str = zoo.DEFAULT_MODEL,
    overwrite: bool = False,
    progress: bool = False,
    max_frames: int | None = None,
    stdin: BinaryIO | None = None,
    backend: str = "ort",
) -> EncodeStats:
    """Encode a video file (or ``"-"`` for stdin) into a .gvc stream at ``dst`` (path, ``"-"`` or file object).

    ``backend`` runs the transforms with ONNX Runtime (``"ort"``) or torch (``"torch"``).
    """
    zoo.check_backend(backend)
    if max_frames is not None and max_frames < 1:
        raise UsageError(f"--frames must be at least 1 (got {max_frames})")
    if isinstance(dst, (str, Path)):
        _check_output(dst, overwrite)
        if _same_file(src, dst):  # overwriting would truncate the input while it is being read
            raise UsageError(f"{dst} is also the input; give a different output path")
        if Path(dst).suffix.lower() in media.OUTPUT_EXTENSIONS:
            raise UsageError(f"encode writes a .gvc stream, not {Path(dst).suffix}; to make a "
                             f"{Path(dst).suffix} file, use `vidcodec decode STREAM.gvc {dst}`")
        if str(dst) == "-":
            dst = sys.stdout.buffer
    t0 = time.perf_counter()
    with media.open_source(src, stdin=stdin) as source:
        m = zoo.load(model, backend=backend)
        if quality not in range(1, m.levels + 1):
            raise UsageError(f"--quality must be between 1 and {m.levels} (got {quality})")
        encoder = FrameEncoder(m, quality - 1, coder=coder, gop=gop, latent_bits=latent_bits)
        c, h, w = m.latent_channels, -(-source.height // m.downscale), -(-source.width // m.downscale)
        header = container.StreamHeader(
            width=source.width,
            height=source.height,
            time_base=_ratio(source.time_base),
            frame_rate=_ratio(source.frame_rate) if source.frame_rate else (0, 0),
            frame_count=min(source.frame_count, max_frames) if max_frames is not None else source.frame_count,
            model_name=m.name,
            model_hash=bytes.fromhex(m.sha256),
            coder=container.Coder[coder.upper()],
            mode=container.Mode.VAEGAN,
            quality=quality,
            latent_shape=(c, h, w),
            gop=gop,
            colour_matrix=source.color_matrix,
            colour_range=source.color_range,
        )
        total = source.frame_count or None
        if max_frames is not None:
            total = min(total or max_frames, max_frames)
        frames = keys = 0
        first_pts = last_pts = None
        with container.GvcWriter(dst, header) as writer, tqdm(
            total=total, unit="frame", desc="encode", disable=None if progress else True, leave=False
        ) as bar:
            for frame in source:
                if max_frames is not None and frames >= max_frames:
                    break
                y = m.analyze(to_tensor(frame.rgb, m.downscale))[0]
                coded = encoder.encode_latent(y)
                writer.write_packet(_KIND_TO_TYPE[coded.kind], frame.pts, coded.payload)
                frames += 1
                keys += coded.kind == KEY
                first_pts = frame.pts if first_pts is None else first_pts
                last_pts = frame.pts
                bar.update(1)
        size = writer.bytes_written
        duration = _duration(first_pts, last_pts, frames, source.time_base, source.frame_rate)
    return EncodeStats(frames, keys, size, source.width, source.height, time.perf_counter() - t0, duration)


def _duration(first: int | None, last: int | None, frames: int, tb: Fraction, rate: Fraction | None) -> float:
    if frames == 0 or first is None or last is None:
        return 0.0
    step = float(1 / rate) if rate else (float((last - first) * tb) / max(1, frames - 1))
    return float((last - first) * tb) + step


def _ratio(x: Fraction) -> tuple[int, int]:
    return x.numerator, x.denominator


def _fraction(pair: tuple[int, int]) -> Fraction | None:
    return Fraction(*pair) if pair[1] else None


def _stream_model(hdr: container.StreamHeader, backend: str = "ort") -> zoo.CodecModel:
    """The installed model a stream names (ModelNotFoundError if absent)."""
    return zoo.load(hdr.model_name, hdr.model_hash.hex(), backend=backend)


def _decode_packets(reader: container.GvcReader, m: zoo.CodecModel) -> Iterator[DecodedFrame]:
    hdr = reader.header
    decoder = FrameDecoder(m, tuple(hdr.latent_shape), coder=hdr.coder.name.lower())
    index = 0
    for packet in reader:
        if packet.stream_index != 0 or packet.kind not in _TYPE_TO_KIND:
            continue
        kind = _TYPE_TO_KIND[packet.kind]
        symbols, level = decoder.decode_symbols(kind, packet.payload)
        x = m.synthesize(decoder.latent(symbols, level))
        yield DecodedFrame(to_rgb(x, hdr.width, hdr.height), packet.pts, index, kind == KEY)
        index += 1


def frames(src: str | Path | BinaryIO, *, backend: str = "ort") -> Iterator[DecodedFrame]:
    """Decode a .gvc stream (path, ``"-"`` for stdin, or file object) frame by frame.

    A stream cut off inside a packet yields every complete frame, then raises
    :class:`~vidcodec.errors.TruncatedStreamError`. ``backend``: ``"ort"`` or ``"torch"``; the
    stream's symbols are the same for both, the frames differ by float rounding only.
    """
    zoo.check_backend(backend)
    with container.GvcReader(_stdin_if_dash(src)) as reader:
        yield from _decode_packets(reader, _stream_model(reader.header, backend))


def _stdin_if_dash(src: str | Path | BinaryIO) -> str | Path | BinaryIO:
    return sys.stdin.buffer if isinstance(src, str) and src == "-" else src


@dataclass
class DecodeStats:
    """What a decode wrote."""

    frames: int
    seconds: float

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
) -> DecodeStats:
    """Decode a .gvc stream to mp4/mkv/mov (x264) or y4m by ``dst``'s extension, ``"-"`` = y4m on stdout.

    Every complete frame is written before an error about the stream is raised. ``backend``:
    ``"ort"`` (ONNX Runtime) or ``"torch"``.
    """
    zoo.check_backend(backend)
    _check_output(dst, overwrite)
    t0 = time.perf_counter()
    n = 0
    with container.GvcReader(_stdin_if_dash(src)) as reader:
        hdr = reader.header
        m = _stream_model(hdr, backend)  # before the sink: a missing model must not leave an empty output file
        sink = media.open_sink(
            dst, width=hdr.width, height=hdr.height, time_base=Fraction(*hdr.time_base),
            frame_rate=_fraction(hdr.frame_rate), color_matrix=int(hdr.colour_matrix),
            color_range=int(hdr.colour_range), overwrite=overwrite, stdout=stdout,
        )
        with sink, tqdm(total=hdr.frame_count or None, unit="frame", desc="decode", disable=None if progress else True,
                        leave=False) as bar:
            for f in _decode_packets(reader, m):
                sink.write(f.rgb, f.pts)
                n += 1
                bar.update(1)
    return DecodeStats(n, time.perf_counter() - t0)
