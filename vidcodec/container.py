"""The .gvc container: file header, CRC-protected packets, keyframe index and footer.

This is the only module that knows byte layouts; docs/FORMAT.md specifies every byte.
Readers work on non-seekable sources (pipes) by counting their own read position;
writers never call ``tell``/``seek`` and flush after every packet, so a stream cut off
at any point is a valid prefix.
"""

from __future__ import annotations

import contextlib
import enum
import io
import logging
import os
import select
import stat
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO

from .coding import varint
from .errors import (
    NO_ROOM,
    CoderError,
    CorruptPacketError,
    FormatError,
    InputError,
    Stopped,
    TruncatedStreamError,
    UnsupportedVersionError,
    UsageError,
    VidcodecError,
    naming,
)
from .outputs import flush, whole, write_all
from .urls import missing_file_hint

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "FORMAT_VERSION",
    "READABLE_MAJOR_VERSIONS",
    "Coder",
    "ColourMatrix",
    "ColourRange",
    "Damaged",
    "GvcReader",
    "GvcWriter",
    "IndexEntry",
    "KeyframeIndex",
    "Mode",
    "Packet",
    "PacketType",
    "StreamHeader",
    "colour_description",
    "decode_header",
    "encode_header",
    "probe",
    "sample_aspect",
    "source_chroma",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION: tuple[int, int] = (15, 0)
READABLE_MAJOR_VERSIONS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
EXT_AUDIO = 1  # header extension tag: the audio track carried as stream 1 (vidcodec.media.AudioTrack)
EXT_SAMPLE_ASPECT = 2  # header extension tag (9.1): u32 numerator, u32 denominator of the pixels' aspect ratio
EXT_SUBPEL = 3  # header extension tag (10.0): the model's sub-pixel predictor table, by the first 8 bytes of its SHA-256
EXT_CHROMA = 4  # header extension tag (11.1): u8, u8 log2 of the source's horizontal, vertical chroma subsampling
EXT_COLOUR = 5  # header extension tag (14.1): u8 colour primaries, u8 transfer characteristics (H.273 code points)
# The H.273 (ISO/IEC 23091-2) code points a colour description may hold (2: unspecified, for one of the
# two; a source that says neither gets no entry)
PRIMARIES = {2: "unspecified", 1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film", 9: "bt2020",
             10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}
TRANSFERS = {2: "unspecified", 1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear", 9: "log100",
             10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1", 14: "bt2020-10",
             15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67"}
SUBPEL_ID_BYTES = 8
AUDIO_STREAM = 1  # stream index of audio packets (type key; payload: u32 duration + the packet's bytes)
INDEX_DAMAGE = -1  # Damaged.stream of a damaged keyframe index chunk: no packet, so no frame, was lost in it
MAX_GOP = (1 << 32) - 1  # the header's GOP field is a u32 (0: not given)
JOIN_SCAN_LIMIT = 64 << 20  # a reader joining mid-stream looks this far for a parameters packet

FILE_MAGIC = b"\x8aGVC\r\n\x1a\n"
PACKET_SYNC = b"\xa7GVP"
INDEX_MARKER = b"\xa7GVI"
FOOTER_MAGIC = b"\xa7GVE"
_MARKER_PREFIX = b"\xa7GV"  # shared by PACKET_SYNC and INDEX_MARKER; what resync searches for

MAX_HEADER_SIZE = 1 << 20
MAX_DIMENSION = 16384
MAX_MODEL_NAME_BYTES = 255
MAX_PAYLOAD_SIZE = 256 << 20
MAX_INDEX_ENTRIES = 1 << 24

_PREFIX = struct.Struct("<8sHHI")  # magic, major, minor, header size
_FIELDS = struct.Struct("<6IQI3H6B32s")  # fixed stream parameters, offsets 16..95
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_EXTENSION = struct.Struct("<HI")  # tag, length
EXTENSION_HEADER_SIZE = _EXTENSION.size
_PACKET = struct.Struct("<4s3BqII")  # sync, stream, type, flags, pts, size, payload CRC (+ header CRC)
_INDEX = struct.Struct("<4sIQI")  # marker, entry count, frame count, entries CRC (+ header CRC)
_ENTRY = struct.Struct("<qQ")  # pts, offset
_FOOTER = struct.Struct("<QI")  # index offset, entry count (+ CRC, magic)

HEADER_FIXED_SIZE = _PREFIX.size + _FIELDS.size
MIN_HEADER_SIZE = HEADER_FIXED_SIZE + 1 + _U16.size + 4
PACKET_HEADER_SIZE = _PACKET.size + 4  # formats 1.x-6.x; 7.x packet headers are 15 to 28 bytes
COMPACT_MAJOR = 7  # from this major on, packet headers carry pts and size as varints and a 16-bit CRC
LEAN_MAJOR = 12  # from this major on, stream, type and flags share a byte and stream 0's pts may count frames
TERSE_MAJOR = 13  # from this major on, a 16-bit payload check and stream-0 deltas timed from the frame before
# Packet header layouts: the 27-byte one (1.x-6.x), compact (7.x-11.x), lean (12.x), terse (13.x on: the
# lean one with the two changes above).
FIXED, COMPACT, LEAN, TERSE = 0, 1, 2, 3
MIN_COMPACT_HEADER_SIZE = len(PACKET_SYNC) + 3 + 1 + 1 + 4 + 2
MAX_COMPACT_HEADER_SIZE = len(PACKET_SYNC) + 3 + varint.max_bytes(varint.MAX_U64) + varint.max_bytes(varint.MAX_VALUE) + 4 + 2
MIN_LEAN_HEADER_SIZE = MIN_COMPACT_HEADER_SIZE - 2
MAX_LEAN_HEADER_SIZE = MAX_COMPACT_HEADER_SIZE + 1
MIN_UNSYNCED_HEADER_SIZE = MIN_LEAN_HEADER_SIZE - len(PACKET_SYNC)  # 12.0 stream-0 deltas carry no sync
MIN_TERSE_HEADER_SIZE = MIN_LEAN_HEADER_SIZE - 2
MAX_TERSE_HEADER_SIZE = MAX_LEAN_HEADER_SIZE - 2
_SMALLEST_HEADER = {FIXED: PACKET_HEADER_SIZE, COMPACT: MIN_COMPACT_HEADER_SIZE, LEAN: MIN_LEAN_HEADER_SIZE,
                    TERSE: MIN_TERSE_HEADER_SIZE}
_LARGEST_HEADER = {COMPACT: MAX_COMPACT_HEADER_SIZE, LEAN: MAX_LEAN_HEADER_SIZE, TERSE: MAX_TERSE_HEADER_SIZE}
# The lean layout's packet byte: type (bits 0-1, 1..3), flags (bits 2-4), pts in steps (bit 5), stream
# (bits 6-7); 0 is the escape to the stream, type and flags bytes of the compact layout.
_LEAN_STEPPED = 0x20
INDEX_HEADER_SIZE = _INDEX.size + 4
INDEX_ENTRY_SIZE = _ENTRY.size  # one per key packet of stream 0
FOOTER_SIZE = _FOOTER.size + 4 + len(FOOTER_MAGIC)

_READ_CHUNK = 1 << 20
TRAILING_WAIT_S = 0.2  # how long a pipe is watched after a stream's footer for more bytes (another stream)
_SCAN_CHUNK = 4096
_U32_MAX = (1 << 32) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1

_FOREIGN_SIGNATURES = (
    (0, b"\x89PNG", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF8", "a GIF image"),
    (4, b"ftyp", "an MP4/MOV video"),
    (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM video"),
    (0, b"RIFF", "a RIFF (AVI/WAV) file"),
    (0, b"YUV4MPEG2", "a Y4M raw video"),
    (0, b"\x00\x00\x01\xba", "an MPEG program stream"),
)


class PacketType(enum.IntEnum):
    """What a packet carries; values 0 and 4..255 are reserved (readers skip them)."""

    KEY = 1
    DELTA = 2
    PARAMETERS = 3


_PACKET_TYPES = frozenset(PacketType)


class Coder(enum.IntEnum):
    """Entropy coder used for the latents."""

    ANS = 0
    ELIAS = 1


class Mode(enum.IntEnum):
    """Which decoder network reconstructs frames."""

    VAEGAN = 0
    GAN = 1


class ColourMatrix(enum.IntEnum):
    """Matrix coefficients, ISO/IEC 23091-2 / ITU-T H.273 code points (3 is reserved there)."""

    IDENTITY = 0
    BT709 = 1
    UNSPECIFIED = 2
    FCC = 4
    BT601_625 = 5
    BT601_525 = 6
    SMPTE240M = 7
    YCGCO = 8
    BT2020_NCL = 9
    BT2020_CL = 10
    SMPTE2085 = 11
    CHROMA_DERIVED_NCL = 12
    CHROMA_DERIVED_CL = 13
    ICTCP = 14


class ColourRange(enum.IntEnum):
    """Sample range of the source video."""

    UNSPECIFIED = 0
    LIMITED = 1
    FULL = 2


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    """Raise UsageError unless value is an int in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise UsageError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")


def _as_enum(cls: type[enum.IntEnum], name: str, value: object) -> enum.IntEnum:
    """Convert value to a member of cls, or raise UsageError listing the valid values."""
    try:
        return cls(value)
    except ValueError:
        valid = ", ".join(f"{m.value} ({m.name.lower()})" for m in cls)
        raise UsageError(f"{name} must be one of {valid}; got {value!r}") from None


def _as_int_tuple(name: str, value: object, length: int) -> tuple[int, ...]:
    """Convert a list/tuple of ints to a tuple of the given length, or raise UsageError."""
    if not isinstance(value, (tuple, list)) or len(value) != length:
        raise UsageError(f"{name} must be a tuple of {length} integers, got {value!r}")
    return tuple(value)


@dataclass(frozen=True, kw_only=True)
class StreamHeader:
    """Stream parameters stored in the file header; validated against the format's caps on creation."""

    width: int
    height: int
    time_base: tuple[int, int]
    model_name: str
    model_hash: bytes
    quality: int
    latent_shape: tuple[int, int, int]
    gop: int
    frame_rate: tuple[int, int] = (0, 0)
    frame_count: int = 0
    coder: Coder = Coder.ANS
    mode: Mode = Mode.VAEGAN
    colour_matrix: ColourMatrix = ColourMatrix.UNSPECIFIED
    colour_range: ColourRange = ColourRange.UNSPECIFIED
    extensions: dict[int, bytes] = field(default_factory=dict)
    # The format version of the stream (the prefix's major, minor): a parsed header keeps its file's,
    # a new one is this package's; payload layouts depend on it (docs/FORMAT.md).
    version: tuple[int, int] = field(default=FORMAT_VERSION, compare=False)

    def __post_init__(self) -> None:
        """Coerce enum/tuple/bytes fields and reject values the format cannot store (UsageError)."""
        coerced: dict[str, object] = {
            "coder": _as_enum(Coder, "coder", self.coder),
            "mode": _as_enum(Mode, "mode", self.mode),
            "colour_matrix": _as_enum(ColourMatrix, "colour_matrix", self.colour_matrix),
            "colour_range": _as_enum(ColourRange, "colour_range", self.colour_range),
            "time_base": _as_int_tuple("time_base", self.time_base, 2),
            "frame_rate": _as_int_tuple("frame_rate", self.frame_rate, 2),
            "latent_shape": _as_int_tuple("latent_shape", self.latent_shape, 3),
            "version": _as_int_tuple("version", self.version, 2),
        }
        if not isinstance(self.model_hash, (bytes, bytearray, memoryview)):
            raise UsageError(f"model_hash must be 32 bytes (SHA-256), got {type(self.model_hash).__name__}")
        coerced["model_hash"] = bytes(self.model_hash)
        for name, value in coerced.items():
            object.__setattr__(self, name, value)
        if self.version[0] not in READABLE_MAJOR_VERSIONS or not 0 <= self.version[1] <= 0xFFFF:
            raise UsageError(f"version must be a format version this package reads (major "
                             f"{', '.join(map(str, READABLE_MAJOR_VERSIONS))}), got {self.version}")
        _check_int("width", self.width, 1, MAX_DIMENSION)
        _check_int("height", self.height, 1, MAX_DIMENSION)
        for i, part in enumerate(self.time_base):
            _check_int(f"time_base[{i}]", part, 1, _U32_MAX)
        for i, part in enumerate(self.frame_rate):
            _check_int(f"frame_rate[{i}]", part, 0, _U32_MAX)
        if (self.frame_rate[0] == 0) != (self.frame_rate[1] == 0):
            raise UsageError(
                f"frame_rate must be (0, 0) when unknown or both non-zero, got {self.frame_rate}"
            )
        _check_int("frame_count", self.frame_count, 0, (1 << 64) - 1)
        _check_int("quality", self.quality, 0, 255)
        _check_int("gop", self.gop, 0, MAX_GOP)
        for i, part in enumerate(self.latent_shape):
            _check_int(f"latent_shape[{i}]", part, 1, 0xFFFF)
        if len(self.model_hash) != 32:
            raise UsageError(f"model_hash must be 32 bytes (SHA-256), got {len(self.model_hash)}")
        if not isinstance(self.model_name, str):
            raise UsageError(f"model_name must be a str, got {type(self.model_name).__name__}")
        try:
            name_size = len(self.model_name.encode("utf-8"))
        except UnicodeEncodeError:
            raise UsageError(f"model_name cannot be encoded as UTF-8: {self.model_name!r}") from None
        if not 1 <= name_size <= MAX_MODEL_NAME_BYTES:
            raise UsageError(
                f"model_name must be 1..{MAX_MODEL_NAME_BYTES} bytes of UTF-8: {self.model_name!r}"
            )
        if not isinstance(self.extensions, dict):
            raise UsageError("extensions must be a dict mapping u16 tags to bytes")
        for tag, data in self.extensions.items():
            _check_int("extension tag", tag, 0, 0xFFFF)
            if not isinstance(data, bytes):
                raise UsageError(f"extension {tag} must be bytes, got {type(data).__name__}")


@dataclass(frozen=True)
class Packet:
    """One packet: its stream, type, codec flags, timestamp, payload, byte offset in the stream and the
    size of its packet header (the packet's bytes end at ``offset + header_size + len(payload)``)."""

    stream_index: int
    kind: PacketType
    flags: int
    pts: int
    payload: bytes = field(repr=False)
    offset: int
    header_size: int = field(default=PACKET_HEADER_SIZE, compare=False)


@dataclass(frozen=True)
class Damaged:
    """A damaged stretch a resyncing reader skipped: where it starts, how many bytes, and why; ``stream``:
    the stream index of the one packet it was, when its header passed its CRC and only its payload
    failed, or :data:`INDEX_DAMAGE` for the keyframe index chunk (None where the damage is not known to
    be one packet: frames of stream 0 may be lost in it)."""

    offset: int
    size: int
    reason: str
    stream: int | None = None
    pts: int | None = None  # the damaged packet's, where its header passed its CRC (only its payload failed)
    kind: int | None = None  # and its type

    @property
    def loses_frames(self) -> bool:
        """Whether stream-0 frames may be lost in it (not one packet of another stream, not the index, not a
        parameters packet: a repeated stream header)."""
        return self.stream is None or (self.stream == 0 and self.kind != PacketType.PARAMETERS)


@dataclass(frozen=True)
class IndexEntry:
    """A key packet of stream 0: its pts and the byte offset of its packet header."""

    pts: int
    offset: int


@dataclass(frozen=True)
class KeyframeIndex:
    """The index chunk written at close: video frame count and every keyframe of stream 0."""

    frame_count: int
    entries: tuple[IndexEntry, ...]


class _Damage(Exception):
    """Internal: a record failed validation at offset; resume is where parsing may go on, if known."""

    def __init__(self, offset: int, message: str, resume: int | None = None, stream: int | None = None,
                 pts: int | None = None, kind: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message
        self.resume = resume
        self.stream = stream  # the packet's stream when only its payload failed (its header is trusted)
        self.pts = pts  # and its pts
        self.kind = kind  # and its type


class _NextStream(Exception):
    """Internal (chained readers): another stream's file header begins inside this one (cut off there)."""


def _bad_magic(data: bytes) -> FormatError:
    """Build the error for data that does not start with FILE_MAGIC, naming the format if recognisable."""
    if data[1:4] == FILE_MAGIC[1:4]:
        return FormatError(
            "damaged .gvc magic (was the file transferred in text mode, which rewrites line endings?)"
        )
    hint = next(
        (
            f"; it looks like {what}"
            for at, sig, what in _FOREIGN_SIGNATURES
            if data[at : at + len(sig)] == sig
        ),
        "",
    )
    return FormatError(f"not a .gvc file (bad magic{hint}): this reads vidcodec streams; to make one from a video, "
                       "`vidcodec encode` it")


def _position(raw: BinaryIO) -> int:
    """Where a seekable file object stands (0 where it cannot tell)."""
    try:
        return raw.tell() if raw.seekable() else 0
    except (AttributeError, OSError, ValueError):
        return 0


def _check_prefix(data: bytes, version: bool = True) -> tuple[int, int, int]:
    """Check magic, version and header size in the first 16 bytes; return (major, minor, header size).
    ``version`` False: an unreadable version is left to :func:`decode_header`, which checks the header's
    CRC first (a version field that fails it may be damage rather than a newer format, and the error
    says both), unless the size is out of range too (a newer format's header may be larger)."""
    if data[: len(FILE_MAGIC)] != FILE_MAGIC[: len(data)]:
        raise _bad_magic(data)
    if not data:
        raise TruncatedStreamError("the stream is empty (0 bytes): not a .gvc stream yet, or a failed write", 0)
    if len(data) < _PREFIX.size:
        raise TruncatedStreamError(
            f"stream truncated at byte offset {len(data)}: it ends inside the file header; 0 packets",
            len(data),
        )
    _, major, minor, size = _PREFIX.unpack_from(data)
    sized = MIN_HEADER_SIZE <= size <= MAX_HEADER_SIZE
    if major not in READABLE_MAJOR_VERSIONS and (version or not sized):
        raise _version_error(major, minor)
    if not sized:
        raise FormatError(
            f"file header size {size} is outside [{MIN_HEADER_SIZE}, {MAX_HEADER_SIZE}]: damaged"
        )
    return major, minor, size


def _readable_versions() -> str:
    return ", ".join(f"{m}.x" for m in READABLE_MAJOR_VERSIONS)


def _version_error(major: int, minor: int) -> UnsupportedVersionError:
    return UnsupportedVersionError(
        f"this stream uses .gvc format version {major}.{minor}, but this vidcodec reads only format "
        f"version {_readable_versions()}; upgrade vidcodec (pip install -U vidcodec) to read it"
    )


def encode_header(header: StreamHeader) -> bytes:
    """Serialise a header to the file-header bytes (also the payload of a PARAMETERS packet)."""
    name = header.model_name.encode("utf-8")
    body = bytearray(
        _FIELDS.pack(
            header.width,
            header.height,
            *header.time_base,
            *header.frame_rate,
            header.frame_count,
            header.gop,
            *header.latent_shape,
            header.coder,
            header.mode,
            header.quality,
            header.colour_matrix,
            header.colour_range,
            len(name),
            header.model_hash,
        )
    )
    body += name
    body += _U16.pack(len(header.extensions))
    for tag in sorted(header.extensions):
        data = header.extensions[tag]
        body += _EXTENSION.pack(tag, len(data)) + data
    size = _PREFIX.size + len(body) + 4
    if size > MAX_HEADER_SIZE:
        raise UsageError(
            f"header would be {size} bytes; the format caps it at {MAX_HEADER_SIZE} (extensions too big)"
        )
    out = _PREFIX.pack(FILE_MAGIC, *header.version, size) + body
    return out + _U32.pack(zlib.crc32(out))


def decode_header(data: bytes) -> StreamHeader:
    """Parse and validate complete file-header bytes (FormatError/UnsupportedVersionError if invalid)."""
    major, minor, size = _check_prefix(data[: _PREFIX.size], version=False)
    if len(data) != size:
        raise FormatError(f"file header declares {size} bytes but {len(data)} were given")
    end = size - 4
    (stored,) = _U32.unpack_from(data, end)
    computed = zlib.crc32(data[:end])
    if stored != computed:
        if major > max(READABLE_MAJOR_VERSIONS):  # a damaged version field, or a newer header checked otherwise
            raise UnsupportedVersionError(
                f"the file header names .gvc format version {major}.{minor}, which this vidcodec does not read "
                f"(it reads {_readable_versions()}), and fails the header CRC of the versions it reads: the header is "
                f"damaged, or a newer vidcodec wrote it (pip install -U vidcodec)")
        raise FormatError(
            f"file header CRC mismatch (stored {stored:08x}, computed {computed:08x}): header damaged"
        )
    if major not in READABLE_MAJOR_VERSIONS:
        raise _version_error(major, minor)
    fields = _FIELDS.unpack_from(data, _PREFIX.size)
    name_len = fields[-2]
    pos = HEADER_FIXED_SIZE + name_len
    if pos + _U16.size > end:
        raise FormatError("file header too short for its model name and extension count")
    name_bytes = data[HEADER_FIXED_SIZE:pos]
    (count,) = _U16.unpack_from(data, pos)
    pos += _U16.size
    extensions: dict[int, bytes] = {}
    for _ in range(count):
        if pos + _EXTENSION.size > end:
            raise FormatError("file header extension list overruns the header")
        tag, length = _EXTENSION.unpack_from(data, pos)
        pos += _EXTENSION.size
        if length > end - pos:
            raise FormatError(f"file header extension {tag} ({length} bytes) overruns the header")
        if tag in extensions:
            raise FormatError(f"file header repeats extension tag {tag}")
        extensions[tag] = bytes(data[pos : pos + length])
        pos += length
    if pos != end:
        raise FormatError(f"file header has {end - pos} unexplained bytes after its extensions")
    try:
        name = name_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("file header model name is not valid UTF-8") from None
    width, height, tb_num, tb_den, fr_num, fr_den, frame_count, gop, lat_c, lat_h, lat_w = fields[:11]
    coder, mode, quality, matrix, colour_range = fields[11:16]
    try:
        return StreamHeader(
            width=width,
            height=height,
            time_base=(tb_num, tb_den),
            frame_rate=(fr_num, fr_den),
            frame_count=frame_count,
            model_name=name,
            model_hash=fields[-1],
            coder=coder,
            mode=mode,
            quality=quality,
            latent_shape=(lat_c, lat_h, lat_w),
            gop=gop,
            colour_matrix=matrix,
            colour_range=colour_range,
            extensions=extensions,
            version=(major, minor),
        )
    except UsageError as err:
        raise FormatError(f"invalid file header: {err}") from None


def _index_header(data: bytes, offset: int) -> tuple[int, int, int]:
    """Validate a 24-byte index chunk header; return (entry count, frame count, entries CRC) or raise _Damage."""
    _, count, frame_count, entries_crc = _INDEX.unpack_from(data)
    (stored,) = _U32.unpack_from(data, _INDEX.size)
    if zlib.crc32(data[: _INDEX.size]) != stored:
        raise _Damage(offset, f"keyframe index header at offset {offset} fails its CRC")
    if count > MAX_INDEX_ENTRIES:
        raise _Damage(
            offset, f"keyframe index at offset {offset} claims {count} entries (cap {MAX_INDEX_ENTRIES})"
        )
    return count, frame_count, entries_crc


def _is_seekable(raw: BinaryIO) -> bool:
    """Whether raw supports seek/tell (objects without a seekable() method count as pipes)."""
    try:
        return bool(raw.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _read_exactly(raw: BinaryIO, n: int) -> bytes:
    """Read up to n bytes, looping over short reads; fewer only at end of file."""
    parts = []
    while n > 0:
        chunk = raw.read(min(n, _READ_CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


class _Input:
    """A read buffer over a binary file object that counts stream offsets itself (never tell/seek)."""

    def __init__(self, raw: BinaryIO, pos: int = 0) -> None:
        self.raw = raw
        self.pos = pos  # stream offset of buf[0]
        self.buf = bytearray()
        self.eof = False

    @property
    def end(self) -> int:
        """Stream offset just past the buffered bytes (the stream size once eof is set)."""
        return self.pos + len(self.buf)

    def fill(self, n: int) -> bool:
        """Buffer at least n bytes unless the source ends first; return whether n bytes are buffered."""
        while len(self.buf) < n and not self.eof:
            chunk = self.raw.read(min(n - len(self.buf), _READ_CHUNK))
            if chunk:
                self.buf += chunk
            else:
                self.eof = True
        return len(self.buf) >= n

    def take(self, n: int) -> bytes:
        """Consume and return n buffered bytes."""
        with memoryview(self.buf) as view:
            data = bytes(view[:n])
        self.skip(n)
        return data

    def skip(self, n: int) -> None:
        """Consume n buffered bytes."""
        del self.buf[:n]
        self.pos += n


class _Chained(io.RawIOBase):
    """A pipe's bytes after a stream's footer: those a reader had buffered, then the pipe's own (a chain of
    them is one: hundreds of streams one after another must not nest hundreds of reads)."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        super().__init__()
        if isinstance(raw, _Chained):
            head, raw = head + raw._head, raw._raw
        self._head, self._raw = head, raw

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n], self._head = self._head[:n], self._head[n:]
            return n
        chunk = read_some(self._raw, len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def frame_order(pts: int, payload: bytes | memoryview, last_pts: int | None,
                last_payload: bytes | memoryview | None) -> str:
    """Where a stream-0 key or delta packet stands against the last frame a reader took (docs/FORMAT.md:
    stream-0 pts increase): "next" (its pts is after it), "repeat" (that frame's packet again, the same pts
    and payload: harmless) or "behind" (packets out of order, a stream restarted inside this one: the
    deltas after it were coded against it and cannot be placed). Decode, info, remux and the GOP workers
    skip what is not "next"."""
    if last_pts is None or pts > last_pts:
        return "next"
    return "repeat" if pts == last_pts and payload == last_payload else "behind"


def _readable(f: BinaryIO, seconds: float) -> bool:
    """Whether a file object with a descriptor (a pipe) can be read without waiting, bytes or its end
    there, waiting up to ``seconds`` for that; False for one without a descriptor."""
    try:
        fd = f.fileno()
        ready, _, _ = select.select([fd], [], [], seconds)
    except (AttributeError, OSError, ValueError):
        return False
    return bool(ready)


def read_some(f: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes of ``f``, what has come (a buffered pipe's read(n) would wait for all ``n``)."""
    read1 = getattr(f, "read1", None)
    return read1(n) if callable(read1) else f.read(n)


def _header_in(data: bytes, at: int) -> bool | None:
    """Whether a valid file header begins at ``data[at]``; None where ``data`` ends before that can be told."""
    if len(data) - at < _PREFIX.size:
        return None if FILE_MAGIC.startswith(data[at:at + len(FILE_MAGIC)]) else False
    try:
        size = _check_prefix(data[at:at + _PREFIX.size])[2]
        return None if len(data) - at < size else decode_header(data[at:at + size]) is not None
    except VidcodecError:
        return False


def _magic_at(payload: bytes) -> list[int]:
    """Where another stream's file header may begin inside a packet's bytes (after its first) that failed
    its check: every file magic, and a start of the magic that the packet's end cuts (the packet's
    claimed length ran into the header: the skip to its end had swallowed the header)."""
    found, j = [], payload.find(FILE_MAGIC)
    while j >= 0:  # every one (a parameters packet's payload begins with its stream's own header)
        found.append(j)
        j = payload.find(FILE_MAGIC, j + 1)
    for k in range(len(FILE_MAGIC) - 1, 0, -1):
        if len(payload) - k > (found[-1] if found else -1) and payload.endswith(FILE_MAGIC[:k]):
            found.append(len(payload) - k)
            break
    return found


class GvcReader:
    """Read a .gvc stream from a path or binary file object (pipes included); iterate to get packets.

    Iteration yields ``Packet`` objects in stream order and stops at end of stream or at the keyframe
    index. A stream cut inside a record raises ``TruncatedStreamError`` after every complete packet was
    yielded. A damaged record raises ``CorruptPacketError``; with ``resync=True`` a ``Damaged`` record is
    yielded in its place instead and reading continues at the next packet whose header CRC validates.
    Bytes after the stream's footer (``cat a.gvc b.gvc``) are not read: :attr:`trailing_at` says where
    they begin, with a warning unless ``chained`` (the caller reads them as a stream of their own) or
    ``trailing_ok``.
    """

    def __init__(self, source: str | os.PathLike[str] | BinaryIO, *, resync: bool = False,
                 join: bool = True, chained: bool = False, trailing_ok: bool = False) -> None:
        self.chained = chained  # the caller reads what follows the stream (`cat a.gvc b.gvc`) itself: no warning
        self.trailing_ok = trailing_ok or chained  # bytes after the footer are the caller's: no warning
        self._starts_as_gvc = False  # the source's first bytes are the magic (a damaged header is not joined past)
        self.cut_by_stream: int | None = None  # chained: the offset where another stream's header cut this one off
        self._following_skip = FOOTER_SIZE  # bytes from trailing_at's buffer position to the next stream
        self._owned = isinstance(source, (str, os.PathLike))
        if not self._owned:
            check_source(source)
        try:
            self._raw: BinaryIO = open(source, "rb") if self._owned else source  # noqa: SIM115 (closed by close())
        except OSError as err:  # missing path, a directory, no permission: an input error, not a crash
            reason = err.strerror or err
            name = os.fspath(source)
            hint = "; give a .gvc file" if os.path.exists(name) else missing_file_hint(name)
            raise InputError(f"cannot open {name}: {reason}{hint}") from None
        self.resync = resync
        self.joined_at: int | None = None  # where a mid-stream join found its parameters packet
        self.first_key_pts: int | None = None  # the first stream-0 key packet's pts, once seek_to_keyframe knows it
        self._packets = 0
        self._layout: int | None = None  # the packet header layout (FIXED, COMPACT, LEAN, TERSE); None: not known yet
        self._step = 1  # stream 0's pts step (12.0 on; pts_step)
        # 13.0: stream 0's deltas are timed from the key or delta before them (from 0 before the first);
        # None where that frame was lost (damage, a join mid-stream, a seek)
        self._last_frame_pts: int | None = None
        self._saw_packets = False  # a mid-stream join met packets (but perhaps no parameters packet)
        self._warned: set[int] = set()  # offsets of damage already reported (a seek re-reads the stream)
        self._footer_seen: tuple[int | None, KeyframeIndex | None] | None = None  # (size, index) from the footer
        try:
            self.seekable = _is_seekable(self._raw)
            self._base = self._raw.tell() if self.seekable else 0
            self._in = _Input(self._raw)
            try:
                self.version, self.header = self._read_header()
            except FormatError as err:
                # Only a stream that does not start with the magic is joined mid-way; a .gvc file whose
                # own header is damaged is reported as such.
                joined = self._join() if join and not self._starts_as_gvc else None
                if joined is None and self._saw_packets and str(err).startswith("not a .gvc file (bad magic)"):
                    raise FormatError(
                        "this looks like a .gvc stream joined mid-way, but no stream header (parameters "
                        f"packet) follows within {JOIN_SCAN_LIMIT >> 20} MiB to start from: writers repeat it "
                        "before every keyframe on pipes or with --repeat-header; read the stream from its "
                        "start, or join it where one is still to come") from None
                if joined is None:
                    if self._owned and str(err).startswith("not a .gvc file"):  # name the file, as other errors do
                        raise FormatError(f"{os.fspath(source)}: {err}") from None
                    raise
                self.version, self.header = joined
        except BaseException:
            self.close()
            raise
        self._layout = layout_of(self.version[0])
        self._step = pts_step(self.header)
        self.header_size = self._in.pos
        self._await_key = self.joined_at is not None
        if not self._await_key:
            self._last_frame_pts = 0
        self._trailer: KeyframeIndex | None = None
        # the stream was closed (it has an index chunk or a footer) but they fail their checks: damage,
        # not a writer that stopped early
        self.index_damaged = False
        self.trailing_at: int | None = None  # where bytes follow the stream's footer (`cat a.gvc b.gvc`), if they do
        self._items = self._generate()

    def __enter__(self) -> Self:
        """Return self."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the source if this reader opened it."""
        self.close()

    def close(self) -> None:
        """Close the source if this reader opened it (file objects passed in stay open)."""
        if self._owned:
            self._raw.close()

    def __iter__(self) -> Iterator[Packet | Damaged]:
        """Return self; the reader is its own iterator."""
        return self

    def __next__(self) -> Packet | Damaged:
        """Return the next packet (or Damaged record when resyncing)."""
        return next(self._items)

    def _read_header(self) -> tuple[tuple[int, int], StreamHeader]:
        """Read and validate the file header, checking sizes before reading what they announce."""
        self._in.fill(_PREFIX.size)
        if not self._in.buf and not self._owned and (at := _position(self._raw)):
            raise TruncatedStreamError("the stream is empty (0 bytes) from where the file object stands, at "
                                       f"byte {at}: seek(0) after writing to it?", 0)
        self._starts_as_gvc = bytes(self._in.buf[: len(FILE_MAGIC)]) == FILE_MAGIC  # (before any is consumed)
        major, minor, size = _check_prefix(bytes(self._in.buf[: _PREFIX.size]), version=False)
        if not self._in.fill(size):
            end = self._in.end
            raise TruncatedStreamError(
                f"stream truncated at byte offset {end}: it ends inside the {size}-byte file header; 0 packets",
                end,
            )
        return (major, minor), decode_header(self._in.take(size))

    def _join(self) -> tuple[tuple[int, int], StreamHeader] | None:
        """Join a live stream mid-way: the first valid PARAMETERS packet within JOIN_SCAN_LIMIT bytes
        gives the header (None if there is none). The reader then treats the source as a plain stream
        (offsets in a footer index would not match) and skips to the first key packet."""
        inp = self._in
        pos = inp.pos
        while pos < JOIN_SCAN_LIMIT:
            found = self._scan(pos)
            if found is None or found >= JOIN_SCAN_LIMIT:
                return None
            if bytes(inp.buf[: len(PACKET_SYNC)]) == PACKET_SYNC:
                # The version is not known yet: either packet header layout may be the stream's, and a
                # header of one layout can pass for the other's, so each is checked to the end
                # without consuming anything.
                for layout in (TERSE, LEAN, COMPACT, FIXED):
                    joined = self._parameters_here(layout)
                    if joined is not None:
                        self.joined_at = found
                        self.seekable = False
                        logger.info("joined the stream at byte %d (parameters packet)", found)
                        return joined
            pos = found + 1
        return None

    def _parameters_here(self, layout: int) -> tuple[tuple[int, int], StreamHeader] | None:
        """Consume and parse the packet at the current position if it is a stream-0 parameters packet in
        header layout ``layout`` whose payload is a valid file header of a version using that layout;
        else leave the input where it is and return None."""
        inp = self._in
        try:
            stream, kind, _, _, size, payload_crc, hsize = self._packet_header_here(layout)
        except (_Damage, TruncatedStreamError):
            return None
        # A parameters payload is a file header: never wait for more than the largest one.
        if kind != PacketType.PARAMETERS or stream != 0 or size > MAX_HEADER_SIZE or not inp.fill(hsize + size):
            return None
        payload = bytes(inp.buf[hsize : hsize + size])
        if _payload_check(payload, layout) != payload_crc:
            return None
        try:
            major, minor, header_size = _check_prefix(payload[: _PREFIX.size])
            header = decode_header(payload)
        except VidcodecError:
            return None
        # A parameters packet is laid out as the stream it describes.
        if header_size != size or layout != layout_of(major):
            return None
        inp.skip(hsize + size)
        return (major, minor), header

    def _truncated(self, start: int, what: str, needed: int) -> TruncatedStreamError:
        """Build the error for a stream that ends inside the record starting at start."""
        end = self._in.end
        return TruncatedStreamError(
            f"stream truncated at byte offset {end}: it ends inside the {what} that starts at offset {start} "
            f"({end - start} of {needed} bytes present); {self._packets} complete packet(s) were read before it",
            end,
        )

    def _generate(self) -> Iterator[Packet | Damaged]:
        """Yield packets until a clean end, turning damage into errors or Damaged records."""
        while True:
            try:
                packet = self._next_record()
            except _NextStream as cut:
                self._stream_cut(cut.args[0])
                return
            except _Damage as damage:
                if not self.resync:
                    raise CorruptPacketError(
                        f"{damage.message}; {self._packets} good packet(s) before it "
                        "(read with resync to skip damaged packets)"
                    ) from None
                if self.chained and damage.resume is None and self._stream_at(damage.offset):
                    self._stream_cut(damage.offset)
                    return
                damaged = self._recover(damage)
                if damaged is None:  # (chained) the scan found another stream's header: this one was cut off
                    return
                yield damaged
                continue
            if packet is None:
                return
            if self._await_key:  # joined mid-stream: decoding can only start at a keyframe
                if packet.stream_index != 0 or packet.kind is not PacketType.KEY:
                    continue
                self._await_key = False
            self._packets += 1
            yield packet

    def _next_record(self) -> Packet | None:
        """Parse the next packet; None at a clean end (end of stream exactly, or a valid index chunk)."""
        inp = self._in
        while True:
            start = inp.pos
            inp.fill(len(PACKET_SYNC))
            head = bytes(inp.buf[: len(PACKET_SYNC)])
            if not head:
                return None
            if head == INDEX_MARKER:
                self._trailer = self._read_index()
                self._check_end()
                return None
            synced = head == PACKET_SYNC
            if self.chained and head == FILE_MAGIC[:len(head)] and self._stream_here():  # an encode restarted
                raise _NextStream(start)  # into the file, at a packet's end (its magic read as a delta's byte)
            if synced or (self._layout >= LEAN and _unsynced_byte(head[0])):  # 12.0 on: a stream-0 delta
                packet = self._read_packet(self._layout, synced)
                if packet is not None:
                    return packet
                continue
            if len(head) < len(PACKET_SYNC) and _MARKER_PREFIX.startswith(head):
                raise self._truncated(start, "packet header", _SMALLEST_HEADER[self._layout])
            raise _Damage(start, f"no packet sync marker at offset {start} (found {head.hex()})")

    def _packet_header_here(self, layout: int, synced: bool = True) -> tuple[int, int, int, int, int, int, int]:
        """The packet header at the current position (not consumed): stream, type, flags, pts, payload
        size, payload CRC and header size, after its CRC and the size cap are checked; ``synced``
        False: a 12.0 stream-0 delta's header, which starts at its packet byte."""
        inp = self._in
        start = inp.pos
        if layout == FIXED:
            if not inp.fill(PACKET_HEADER_SIZE):
                raise self._truncated(start, "packet header", PACKET_HEADER_SIZE)
            head = bytes(inp.buf[:PACKET_HEADER_SIZE])
            _, stream, kind, flags, pts, size, payload_crc = _PACKET.unpack_from(head)
            hsize, crc_ok = PACKET_HEADER_SIZE, zlib.crc32(head[: _PACKET.size]) == _U32.unpack_from(head, _PACKET.size)[0]
            stepped = escaped = False
        else:
            # Never ask the source for more than this header can still need: a live reader (a pipe, a
            # followed file) must get a small packet without waiting for the next one.
            need = _SMALLEST_HEADER[layout] - (0 if synced else len(PACKET_SYNC))
            most = _LARGEST_HEADER[layout]
            check = _check_struct(layout)
            while True:
                present = inp.fill(need)
                head = bytes(inp.buf[:most])
                try:
                    stream, kind, flags, stepped, escaped, pos = _packet_fields(head, layout, start, synced)
                    z, pos = varint.decode(head, pos, "packet pts", varint.MAX_U64)
                    size, pos = varint.decode(head, pos, "packet payload size")
                except varint.CutShort:
                    if not present:
                        raise self._truncated(start, "packet header", need) from None
                    need = len(head) + 1
                    continue
                except CoderError:
                    raise _Damage(start, f"packet header at offset {start} has an invalid varint") from None
                hsize = pos + check.size + 2
                if not inp.fill(hsize):
                    raise self._truncated(start, "packet header", hsize)
                head = bytes(inp.buf[:hsize])
                break
            pts, (payload_crc,) = varint.unzigzag(z), check.unpack_from(head, pos)
            crc_ok = zlib.crc32(head[: pos + check.size]) & 0xFFFF == _U16.unpack_from(head, pos + check.size)[0]
        if not crc_ok:
            raise _Damage(start, f"packet header at offset {start} fails its CRC")
        if escaped and _fits_lean_byte(stream, kind, flags):
            raise _Damage(start, f"packet header at offset {start} escapes fields its packet byte holds")
        if layout >= LEAN and synced == (stream == 0 and kind == PacketType.DELTA and not escaped):
            raise _Damage(start, f"packet header at offset {start} {'has' if synced else 'lacks'} a sync marker "
                          "(12.0 on: stream-0 delta packets have none, every other packet has one)")
        if stepped:
            if stream != 0 or kind == PacketType.PARAMETERS or self._step < 2:
                raise _Damage(start, f"packet header at offset {start} counts its pts in steps the stream lacks")
            pts *= self._step
            if not _I64_MIN <= pts <= _I64_MAX:
                raise _Damage(start, f"packet header at offset {start} has a pts beyond 64 bits")
        if size > MAX_PAYLOAD_SIZE:
            raise _Damage(
                start, f"packet at offset {start} claims a {size}-byte payload (cap {MAX_PAYLOAD_SIZE})"
            )
        return stream, kind, flags, pts, size, payload_crc, hsize

    def _read_packet(self, layout: int, synced: bool = True) -> Packet | None:
        """Read the packet at the current position (header layout ``layout``; ``synced`` False: a 12.0
        stream-0 delta without sync marker); None if its type is reserved (it is skipped)."""
        inp = self._in
        start = inp.pos
        stream, kind, flags, pts, size, payload_crc, hsize = self._packet_header_here(layout, synced)
        if not inp.fill(hsize + size):
            if self.chained:  # cut short by another stream's header? (the packet claims more than the rest)
                held = inp.take(len(inp.buf))
                self._restart_in(held, start)
                inp.buf[0:0] = held  # not one: read as it was
                inp.pos -= len(held)
            raise self._truncated(start, "packet", hsize + size)
        head = bytes(inp.buf[:hsize]) if self.chained else b""  # (a cut may begin in the header)
        inp.skip(hsize)
        payload = inp.take(size)
        if layout == TERSE and not synced:  # 13.0: a stream-0 delta is timed from the frame before it
            if self._last_frame_pts is None and self._await_key:
                return None  # joined mid-stream: skipped until the first keyframe anyway
            if self._last_frame_pts is None:
                raise _Damage(start, f"delta packet at offset {start} is timed from a frame this reader did not "
                              "read (after damage, or joined mid-GOP)", resume=inp.pos)
            pts += self._last_frame_pts
            if not _I64_MIN <= pts <= _I64_MAX:
                raise _Damage(start, f"packet header at offset {start} has a pts beyond 64 bits", resume=inp.pos)
        if stream == 0 and kind in (PacketType.KEY, PacketType.DELTA):
            self._last_frame_pts = pts  # the header is trusted (its CRC passed) even if the payload fails
        if _payload_check(payload, layout) != payload_crc:
            if self.chained:
                self._restart_in(head + payload, start)
            raise _Damage(start, f"payload of the packet at offset {start} fails its CRC", resume=inp.pos,
                          stream=stream, pts=pts if stream == 0 else None, kind=kind)
        if kind not in _PACKET_TYPES:
            logger.debug("skipping packet of reserved type %d at offset %d", kind, start)
            return None
        return Packet(stream, PacketType(kind), flags, pts, payload, start, hsize)

    def _read_index(self) -> KeyframeIndex:
        """Read and validate the index chunk at the current position (sequential path)."""
        inp = self._in
        start = inp.pos
        if not inp.fill(INDEX_HEADER_SIZE):
            raise self._truncated(start, "keyframe index", INDEX_HEADER_SIZE)
        try:
            count, frame_count, entries_crc = _index_header(bytes(inp.buf[:INDEX_HEADER_SIZE]), start)
        except _Damage as damage:
            self.index_damaged = True
            damage.stream = INDEX_DAMAGE
            raise
        total = INDEX_HEADER_SIZE + count * _ENTRY.size
        if not inp.fill(total):
            raise self._truncated(start, "keyframe index", total)
        with memoryview(inp.buf) as view:
            ok = zlib.crc32(view[INDEX_HEADER_SIZE:total]) == entries_crc
        if not ok:
            self.index_damaged = True
            raise _Damage(start, f"keyframe index entries at offset {start} fail their CRC", stream=INDEX_DAMAGE)
        inp.skip(INDEX_HEADER_SIZE)
        entries = tuple(IndexEntry(p, o) for p, o in _ENTRY.iter_unpack(inp.take(total - INDEX_HEADER_SIZE)))
        return KeyframeIndex(frame_count, entries)

    def _check_end(self) -> None:
        """After the index: warn when more than the footer follows (e.g. ``cat a.gvc b.gvc``), which
        the reader does not read."""
        inp = self._in
        self.trailing_at = None
        # The footer (written with the index) is read; past it, a pipe's bytes only where they have come
        # already, or come within TRAILING_WAIT_S (`cat a.gvc b.gvc |`: the second stream's bytes or the
        # pipe's end): a writer that keeps its pipe open after a whole stream must not hold the reader here
        inp.fill(FOOTER_SIZE)
        if not self.seekable and len(inp.buf) <= FOOTER_SIZE and not inp.eof and _readable(inp.raw, TRAILING_WAIT_S):
            chunk = read_some(inp.raw, _READ_CHUNK)
            if chunk:
                inp.buf += chunk
            else:
                inp.eof = True
        cut = self._footer_cut()
        if cut is not None or len(inp.buf) > FOOTER_SIZE or (self.seekable and inp.fill(FOOTER_SIZE + 1)):
            end = FOOTER_SIZE if cut is None else cut
            self._following_skip = end
            after = inp.pos + end
            self.trailing_at = after
            more = "another stream" if cut is not None or bytes(inp.buf[end:end + 1]) == FILE_MAGIC[:1] else "data"
            if self.trailing_ok:
                logger.debug("the stream ends at offset %d and %s follows", after, more)
                return
            logger.warning("the stream ends at offset %d, but %s follows it there (streams joined with cat?), "
                           "which is not read; decode each .gvc on its own, or join them with vidcodec remux a.gvc b.gvc ab.gvc",
                           after, more)

    def _footer_cut(self) -> int | None:
        """Where another stream's valid file header begins inside the footer's bytes (after the index),
        a footer cut short by it (an encode restarted into the file at its very end); None where the
        footer ends with its magic, or no stream begins there."""
        inp = self._in
        footer = bytes(inp.buf[:FOOTER_SIZE])
        if len(footer) == FOOTER_SIZE and footer.endswith(FOOTER_MAGIC):
            return None
        for j in _magic_at(footer):
            while (valid := _header_in(bytes(inp.buf), j)) is None and inp.fill(len(inp.buf) + 1):
                pass
            if valid:
                return j
        return None

    def _recover(self, damage: _Damage) -> Damaged | None:
        """Skip past damage (to its known end, or by scanning for a valid record) and describe it; None
        (chained readers) where the scan found another stream's file header: this one was cut off there."""
        if damage.resume is not None:
            end = damage.resume
        else:
            self._last_frame_pts = None  # frames were lost: the deltas up to the next keyframe cannot be timed
            found = self._scan(damage.offset + 1)
            end = found if found is not None else self._in.pos
            if found is not None and self.chained and self._stream_here():
                self._stream_cut(damage.offset, found)
                return None
        if damage.offset not in self._warned:  # a seek's scan read it already: said once
            self._warned.add(damage.offset)
            logger.warning(
                "%s; skipped %d byte(s), resuming at offset %d", damage.message, end - damage.offset, end
            )
        return Damaged(damage.offset, end - damage.offset, damage.message, damage.stream, damage.pts, damage.kind)

    def _restart_in(self, record: bytes, start: int) -> None:
        """Raise :class:`_NextStream` where another stream's valid file header begins inside ``record``,
        the bytes of the packet at ``start`` just read off the buffer (after its first): an encode
        restarted into the file, its header taken for the end of the packet it cut."""
        inp = self._in
        for j in _magic_at(record[1:]):
            if _header_in(record, 1 + j) is False:  # (told from the bytes held: a payload of many magics
                continue  # costs no copy of the buffer each)
            back = record[1 + j:]
            inp.buf[0:0] = back  # read again, as the next stream's first bytes
            inp.pos -= len(back)
            if self._stream_here():
                raise _NextStream(start)
            inp.skip(len(back))

    def _stream_here(self) -> bool:
        """Whether a valid file header (another stream's) starts at the current position (not consumed)."""
        inp = self._in
        if not inp.fill(_PREFIX.size) or bytes(inp.buf[: len(FILE_MAGIC)]) != FILE_MAGIC:
            return False
        try:
            _, _, size = _check_prefix(bytes(inp.buf[: _PREFIX.size]))
            return inp.fill(size) and decode_header(bytes(inp.buf[:size])) is not None
        except VidcodecError:
            return False

    def _stream_at(self, offset: int) -> bool:
        """Whether another stream's valid file header starts at ``offset`` (the current position or after)."""
        inp = self._in
        if offset != inp.pos:
            return False
        return self._stream_here()

    def _stream_cut(self, cut: int, at: int | None = None) -> None:
        """End this stream: it was cut off at ``cut`` by another stream whose header is at ``at`` (the
        current position; default: ``cut``), read on by :meth:`following`."""
        self.cut_by_stream = cut
        self.trailing_at = self._in.pos if at is None else at
        self._following_skip = 0
        logger.debug("the stream is cut off at offset %d; another stream begins at %d", cut, self.trailing_at)

    def _scan(self, start: int) -> int | None:
        """Move forward byte by byte from start to the next record whose header validates; None at EOF.
        A chained reader also stops at another stream's valid file header."""
        inp = self._in
        inp.skip(start - inp.pos)
        while True:
            i = inp.buf.find(_MARKER_PREFIX)
            if self.chained and 0 <= (m := inp.buf.find(FILE_MAGIC[:4])) and (i < 0 or m < i):
                inp.skip(m)
                if self._stream_here():
                    return inp.pos
                inp.skip(1)
                continue
            if i < 0:
                if inp.eof:
                    inp.skip(len(inp.buf))
                    return None
                inp.skip(max(0, len(inp.buf) - (max(len(_MARKER_PREFIX), 4 if self.chained else 0) - 1)))
                inp.fill(len(inp.buf) + _SCAN_CHUNK)
                continue
            inp.skip(i)
            if self._valid_record_here():
                return inp.pos
            inp.skip(1)

    def _valid_record_here(self) -> bool:
        """Whether a packet header or a whole index chunk starting at the current position validates."""
        inp = self._in
        inp.fill(len(PACKET_SYNC))
        marker = bytes(inp.buf[: len(PACKET_SYNC)])
        if marker == PACKET_SYNC:
            self._saw_packets = True  # for a join's error: a key packet's header may not validate out of context
            # Before a join knows the version, either layout may be the stream's.
            for layout in (TERSE, LEAN, COMPACT, FIXED) if self._layout is None else (self._layout,):
                try:
                    self._packet_header_here(layout)
                    return True
                except (_Damage, TruncatedStreamError):
                    pass
            return False
        if marker != INDEX_MARKER or not inp.fill(INDEX_HEADER_SIZE):
            return False
        try:
            count, _, entries_crc = _index_header(bytes(inp.buf[:INDEX_HEADER_SIZE]), inp.pos)
        except _Damage:
            return False
        total = INDEX_HEADER_SIZE + count * _ENTRY.size
        if not inp.fill(total):
            return False
        with memoryview(inp.buf) as view:
            return zlib.crc32(view[INDEX_HEADER_SIZE:total]) == entries_crc

    def following(self) -> BinaryIO | None:
        """After reading to the end: what follows the stream's footer (``cat a.gvc b.gvc``), as a binary file
        object to read the next stream from, or None when nothing does or the stream did not end with
        its index and footer (or, read ``chained``, where another stream's file header cut it off: an
        encode restarted into the file; :attr:`cut_by_stream`). A file's is the file, positioned there, and the caller closes it (this
        reader no longer will); a pipe's gives the bytes this reader took past the footer, then the
        rest of the pipe (it waits for the pipe's next byte, or its end, to know)."""
        if self._trailer is None and self.cut_by_stream is None:
            return None
        if self.seekable:
            if self.trailing_at is None:
                return None
            self._raw.seek(self._base + self.trailing_at)
            self._owned = False
            return self._raw
        inp = self._in
        if not inp.fill(self._following_skip + 1):
            return None
        return _Chained(bytes(inp.buf[self._following_skip:]), self._raw)

    @property
    def closed_cleanly(self) -> bool:
        """After reading to the end: whether the stream ended with its keyframe index chunk, which a
        writer appends when it closes (False: the writer was killed, crashed or cut off, or it had
        more keyframes than an index holds, :data:`MAX_INDEX_ENTRIES`)."""
        return self._trailer is not None

    @property
    def position(self) -> int:
        """The stream offset of the next byte to read (after a clean end: where the index chunk ended)."""
        return self._in.pos

    @property
    def bytes_seen(self) -> int:
        """The bytes read from the source so far, those buffered included (a pipe read to its end: all of
        them, the index and footer too)."""
        return self._in.end

    def size(self) -> int | None:
        """The source's bytes from the stream's start to its end (seekable sources), else None."""
        if not self.seekable:
            return None
        saved = self._raw.tell()
        try:
            return self._raw.seek(0, os.SEEK_END) - self._base
        finally:
            self._raw.seek(saved)

    @property
    def source(self) -> BinaryIO:
        """The byte stream read (for a path, the file opened here)."""
        return self._raw

    def index(self) -> KeyframeIndex | None:
        """The keyframe index from the footer (seekable sources), else the one met while reading, else None.
        A stream that other data follows (``cat a.gvc b.gvc``, found by reading to its index) has its
        index where it was read: the file's last bytes are not its footer."""
        if not self.seekable or (self._trailer is not None and self.trailing_at is not None):
            return self._trailer
        size = self.size()
        if self._footer_seen is not None and self._footer_seen[0] == size:  # read (and warned about) once
            return self._footer_seen[1]
        saved = self._raw.tell()
        try:
            index = self._footer_index()
        finally:
            self._raw.seek(saved)
        self._footer_seen = (size, index)  # for a file of this size: one that grows is read again
        return index

    def _footer_index(self) -> KeyframeIndex | None:
        """Locate the index through the footer and validate both; None if absent or invalid."""
        raw = self._raw
        size = self.size()
        if size is None or size < self.header_size + INDEX_HEADER_SIZE + FOOTER_SIZE:
            return None
        raw.seek(self._base + size - FOOTER_SIZE)
        footer = _read_exactly(raw, FOOTER_SIZE)
        if len(footer) != FOOTER_SIZE or footer[-len(FOOTER_MAGIC) :] != FOOTER_MAGIC:
            logger.debug("no valid footer: stream not closed cleanly (or still being written)")
            return None
        if zlib.crc32(footer[: _FOOTER.size]) != _U32.unpack_from(footer, _FOOTER.size)[0]:
            logger.warning("the footer fails its CRC; ignoring it and the keyframe index")
            self.index_damaged = True
            return None
        offset, count = _FOOTER.unpack_from(footer)
        total = INDEX_HEADER_SIZE + count * _ENTRY.size
        if count > MAX_INDEX_ENTRIES or offset < self.header_size or offset + total + FOOTER_SIZE != size:
            logger.warning(
                "footer points to an impossible index (offset %d, %d entries); ignoring it", offset, count
            )
            self.index_damaged = True
            return None
        raw.seek(self._base + offset)
        chunk = _read_exactly(raw, total)
        try:
            if len(chunk) != total or chunk[: len(INDEX_MARKER)] != INDEX_MARKER:
                raise _Damage(offset, f"no keyframe index marker at offset {offset}")
            found, frame_count, entries_crc = _index_header(chunk[:INDEX_HEADER_SIZE], offset)
            if found != count or zlib.crc32(chunk[INDEX_HEADER_SIZE:]) != entries_crc:
                raise _Damage(
                    offset, f"keyframe index at offset {offset} disagrees with the footer or its CRC"
                )
        except _Damage as damage:
            logger.warning("%s; ignoring the index", damage.message)
            self.index_damaged = True
            return None
        entries = tuple(IndexEntry(p, o) for p, o in _ENTRY.iter_unpack(chunk[INDEX_HEADER_SIZE:]))
        smallest = _SMALLEST_HEADER[self._layout]
        if any(not self.header_size <= e.offset <= offset - smallest for e in entries):
            logger.warning("keyframe index points outside the packet area; ignoring it")
            self.index_damaged = True
            return None
        return KeyframeIndex(frame_count, entries)

    def seek_to_keyframe(self, pts: int, *, from_first: bool = False) -> IndexEntry:
        """Position at the last stream-0 key packet with pts <= the given pts (the first one if none is);
        with ``from_first`` the pts counts from the first key packet's (as ffmpeg's ``-ss`` counts from
        a file's start time). Sets :attr:`first_key_pts`.

        Uses the footer index when valid, else scans the whole stream. Seekable sources only.
        """
        if not self.seekable:
            raise UsageError(
                "seek_to_keyframe needs a seekable source (a file, not a pipe); read sequentially"
            )
        index = self.index()
        entries = index.entries if index is not None and index.entries else self._scan_keyframes()
        target = self._seek_target(entries, pts, from_first)
        if index is not None and entries is index.entries and not self._key_at(target):
            # a CRC-valid index that does not describe this stream (readers must not depend on it)
            logger.warning("the keyframe index does not match the stream (no key packet of pts %d at offset %d): "
                           "scanning the stream for its keyframes", target.pts, target.offset)
            target = self._seek_target(self._scan_keyframes(), pts, from_first)
        self._reposition(target.offset)
        return target

    def _seek_target(self, entries: tuple[IndexEntry, ...], pts: int, from_first: bool) -> IndexEntry:
        """The entry :meth:`seek_to_keyframe` goes to (and :attr:`first_key_pts` set from ``entries``)."""
        if not entries:
            raise FormatError("the stream has no key packets to seek to")
        self.first_key_pts = min(e.pts for e in entries)
        if from_first:
            pts += self.first_key_pts
        before = [e for e in entries if e.pts <= pts]
        return max(before, key=lambda e: e.pts) if before else min(entries, key=lambda e: e.pts)

    def _key_at(self, entry: IndexEntry) -> bool:
        """Whether a stream-0 key packet of the entry's pts starts at its offset."""
        self._reposition(entry.offset)
        try:
            item = next(self._items, None)
        except FormatError:
            return False
        return (isinstance(item, Packet) and item.kind is PacketType.KEY and item.stream_index == 0
                and item.pts == entry.pts and item.offset == entry.offset)

    def _scan_keyframes(self) -> tuple[IndexEntry, ...]:
        """Read the stream from the first packet and collect stream-0 key packets (no index available)."""
        logger.info("scanning the stream for its key packets")
        self._reposition(self.header_size)
        keys = []
        try:
            for item in self._items:
                if isinstance(item, Packet) and item.kind is PacketType.KEY and item.stream_index == 0:
                    keys.append(IndexEntry(item.pts, item.offset))
        except TruncatedStreamError as err:
            logger.info("scan stopped at a truncated record: %s", err)
        return tuple(keys)

    def _reposition(self, offset: int) -> None:
        """Continue reading at a stream offset (seekable sources)."""
        self._raw.seek(self._base + offset)
        self._last_frame_pts = None
        self._in = _Input(self._raw, offset)
        self._packets = 0
        self._items = self._generate()


def _fits_lean_byte(stream_index: int, kind: int, flags: int) -> bool:
    """Whether a lean packet header holds these fields in its packet byte (else it escapes them)."""
    return stream_index < 4 and PacketType.KEY <= kind <= PacketType.PARAMETERS and flags < 8


def _unsynced_byte(byte: int) -> bool:
    """Whether a 12.0 packet byte can start a header without sync marker (a stream-0 delta's): type 2,
    stream 0. No sync marker or other marker starts with such a byte."""
    return byte & 3 == PacketType.DELTA and not byte >> 6


def _packet_fields(head: bytes, layout: int, start: int, synced: bool = True) -> tuple[int, int, int, bool, bool, int]:
    """Stream, type, flags, whether the pts counts steps, whether the fields were escaped, and where
    the pts varint starts, of a COMPACT, LEAN or TERSE packet header (``varint.CutShort`` when ``head``
    ends first); ``synced`` False: a LEAN or TERSE header without its sync marker."""
    at = len(PACKET_SYNC) if synced else 0
    if layout >= LEAN and len(head) > at and head[at]:
        byte = head[at]
        if not byte & 3:
            raise _Damage(start, f"packet header at offset {start} has packet byte {byte:#04x} (type 0 is the escape, "
                          "which has no other bits)")
        return byte >> 6, byte & 3, (byte >> 2) & 7, bool(byte & _LEAN_STEPPED), False, at + 1
    if layout >= LEAN:
        at += 1  # the escape byte
    if len(head) < at + 3:
        raise varint.CutShort("packet header cut short")
    return head[at], head[at + 1], head[at + 2], False, layout >= LEAN, at + 3


def layout_of(major: int) -> int:
    """The packet header layout of format major ``major``: FIXED, COMPACT, LEAN or TERSE."""
    if major >= TERSE_MAJOR:
        return TERSE
    return LEAN if major >= LEAN_MAJOR else COMPACT if major >= COMPACT_MAJOR else FIXED


def _check_struct(layout: int) -> struct.Struct:
    """How a packet header of ``layout`` stores its payload check: a CRC-32, or its low 16 bits (13.0 on)."""
    return _U16 if layout == TERSE else _U32


def _payload_check(payload: bytes, layout: int) -> int:
    """The payload check a packet header of ``layout`` stores for ``payload``."""
    return zlib.crc32(payload) & (0xFFFF if layout == TERSE else 0xFFFFFFFF)


def pts_step(header: StreamHeader) -> int:
    """Stream 0's pts step in a 12.0 or later stream: the time-base units of one frame at the header's frame rate
    when that is a whole number of at least 2, else 1 (no step). A lean packet header may count its
    pts in steps (docs/FORMAT.md), so a 25 fps clip in a 1/12800 time base codes frame n as n, not 512n."""
    (tb_num, tb_den), (fr_num, fr_den) = header.time_base, header.frame_rate
    if header.version[0] < LEAN_MAJOR or not fr_num or not fr_den:
        return 1
    num, den = tb_den * fr_den, tb_num * fr_num
    return num // den if num % den == 0 and num // den >= 2 else 1


def _lean_byte(stream_index: int, kind: int, flags: int, pts: int, step: int) -> tuple[int, int] | None:
    """A lean packet header's packet byte and the pts value it codes (in steps when stepped), or None
    when the fields do not fit the byte (the header then escapes them)."""
    if not _fits_lean_byte(stream_index, kind, flags):
        return None
    stepped = step > 1 and stream_index == 0 and kind != PacketType.PARAMETERS and pts % step == 0
    byte = kind | flags << 2 | stream_index << 6 | (_LEAN_STEPPED if stepped else 0)
    return byte, pts // step if stepped else pts


def _packet_header(stream_index: int, kind: int, flags: int, pts: int, payload: bytes, layout: int,
                   step: int = 1, last_frame_pts: int = 0) -> bytes:
    """The bytes before a packet's payload: sync, fields, payload CRC, header CRC; 27 bytes before
    format 7.0 (FIXED), 15 to 28 with its varints (COMPACT), 13 to 29 from 12.0 (LEAN; 9 to 22 for a
    stream-0 delta, which has no sync marker; ``step``: the stream's :func:`pts_step`), 11 to 27 from
    13.0 (TERSE: a 16-bit payload check, and a stream-0 delta, 7 to 20 bytes, codes its pts as the
    difference from ``last_frame_pts``, the stream's key or delta before it)."""
    if layout == FIXED:
        head = _PACKET.pack(PACKET_SYNC, stream_index, kind, flags, pts, len(payload), zlib.crc32(payload))
        return head + _U32.pack(zlib.crc32(head))
    # 12.0: a stream-0 delta whose fields fit the packet byte has no sync marker (a reader finds the
    # stream again at the next key or other packet, which a lost delta's GOP needs anyway); 13.0: its pts
    # is coded as the difference from the stream's frame before it
    unsynced = layout >= LEAN and stream_index == 0 and kind == PacketType.DELTA and _fits_lean_byte(0, kind, flags)
    if unsynced and layout == TERSE:
        pts -= last_frame_pts
        if not _I64_MIN <= pts <= _I64_MAX:
            raise UsageError("a delta packet's pts must be within 2**63 of the frame before it")
    lean = _lean_byte(stream_index, kind, flags, pts, step) if layout >= LEAN else None
    if lean is not None:
        fields = bytes([lean[0]]) + varint.encode(varint.zigzag(lean[1]), varint.MAX_U64)
    else:  # the compact fields, after the escape byte in a lean header
        fields = (b"\0" if layout >= LEAN else b"") + bytes([stream_index, kind, flags]) + varint.encode(
            varint.zigzag(pts), varint.MAX_U64)
    sync = b"" if unsynced else PACKET_SYNC
    check = _check_struct(layout).pack(_payload_check(payload, layout))
    head = b"".join([sync, fields, varint.encode(len(payload)), check])
    return head + _U16.pack(zlib.crc32(head) & 0xFFFF)


class GvcWriter:
    """Write a .gvc stream to a path or binary file object (pipes included), flushing after every packet.

    ``close()`` appends the keyframe index and footer. Leaving a ``with`` block by an exception still
    writes them (the file is then complete up to the last packet), unless the exception came from
    writing to the destination itself; then nothing more is written and readers report a truncation.
    File objects passed in are flushed but not closed; paths are opened, and closed by ``close()``.
    """

    def __init__(self, dest: str | os.PathLike[str] | BinaryIO, header: StreamHeader, *,
                 repeat_header: bool = False, parameters_frame_count: int | None = None) -> None:
        data = encode_header(header)
        self.header = header
        self._header_bytes = data
        # what the parameters packets carry (repeat_header): the header, with this frame count if given
        # (a seekable output's header holds a placeholder that close() rewrites; repeated ones stay)
        self._parameters_bytes = data if parameters_frame_count is None else encode_header(
            replace(header, frame_count=parameters_frame_count))
        self._layout = layout_of(header.version[0])
        self._step = pts_step(header)
        self._last_frame_pts = 0  # the pts of stream 0's last key or delta (13.0 deltas count from it)
        self.repeat_header = repeat_header  # a PARAMETERS packet before every key packet (live streams)
        self._owned = isinstance(dest, (str, os.PathLike))
        self._out: BinaryIO = open(dest, "wb") if self._owned else dest  # noqa: SIM115 (closed by close())
        # what a full disk's error names where nothing else would (a path's is named by its caller)
        self._name = "stdout" if dest is getattr(sys.stdout, "buffer", None) else None
        self._offset = 0
        self._keys: list[IndexEntry] = []
        self._frames = 0
        self._closed = False
        self._broken = False
        try:
            # where the header goes, in an output that can seek back to it (close() sets its frame count)
            self._start = self._out.tell() if _is_seekable(self._out) else None
            begin = getattr(self._out, "gvc_begin", None)  # a network server waits for a receiver: not
            if callable(begin):  # inside _emit's signal-holding write, so that one Ctrl-C ends the wait
                begin()
            self._emit(data)
        except BaseException:
            self._closed = True
            if self._owned:
                try:  # (close() flushes the header's bytes again, and fails again)
                    with contextlib.suppress(OSError):
                        self._out.close()
                finally:  # a header cut short is no stream: not left behind (a named pipe, a device stay)
                    with contextlib.suppress(OSError):
                        if stat.S_ISREG(os.stat(dest).st_mode):
                            os.unlink(dest)
            raise

    def __enter__(self) -> Self:
        """Return self."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close; after an exception, a failure to write the index is logged, not raised over it."""
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except OSError as err:  # the original exception matters more
            logger.warning("could not finish the .gvc stream after an error: %s", err)

    @property
    def bytes_written(self) -> int:
        """Bytes written so far (the offset the next packet will have)."""
        return self._offset

    @property
    def frames_written(self) -> int:
        """Video frames (key and delta packets) written so far."""
        return self._frames

    def _emit(self, *parts: bytes) -> None:
        """Write parts fully and flush; any failure marks the stream broken (no index is written after).
        A signal is held until the parts are written (:func:`vidcodec.outputs.whole`): a SIGTERM in the
        middle of a packet to a slow reader had left a cut packet and no index."""
        with whole():  # outside the try: the held signal, raised once the packet is out, breaks nothing
            try:
                for part in parts:
                    write_all(self._out, part)
                    self._offset += len(part)
                flush(self._out)
            except OSError as e:
                self._broken = True
                if self._name is None or e.filename is not None or e.errno not in NO_ROOM:
                    raise
                raise naming(e, self._name) from e
            except BaseException:
                self._broken = True
                raise

    def write_packet(
        self, kind: PacketType | int, pts: int, payload: bytes, stream_index: int = 0, flags: int = 0
    ) -> int:
        """Write and flush one packet; return its byte offset in the stream."""
        if self._broken:
            raise UsageError("an earlier write to this .gvc stream failed; it cannot be continued")
        if self._closed:
            raise UsageError("write_packet() called after close()")
        ptype = _as_enum(PacketType, "packet kind", kind)
        _check_int("pts", pts, _I64_MIN, _I64_MAX)
        _check_int("stream_index", stream_index, 0, 255)
        _check_int("flags", flags, 0, 255)
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise UsageError(f"payload must be bytes, got {type(payload).__name__}")
        data = bytes(payload)
        if len(data) > MAX_PAYLOAD_SIZE:
            raise UsageError(f"payload of {len(data)} bytes exceeds the format's cap of {MAX_PAYLOAD_SIZE}")
        if self.repeat_header and stream_index == 0 and ptype is PacketType.KEY:
            # Late joiners find the stream parameters right before every keyframe: an output that
            # serves several receivers (vidcodec.network's tcp://...?listen) begins new ones there
            join_point = getattr(self._out, "join_point", None)
            if callable(join_point):
                join_point()
            self._emit(_packet_header(0, PacketType.PARAMETERS, 0, pts, self._parameters_bytes, self._layout),
                       self._parameters_bytes)
        offset = self._offset
        self._emit(_packet_header(stream_index, ptype, flags, pts, data, self._layout, self._step,
                                  self._last_frame_pts), data)
        if stream_index == 0 and ptype is PacketType.KEY:
            self._keys.append(IndexEntry(pts, offset))
        if stream_index == 0 and ptype in (PacketType.KEY, PacketType.DELTA):
            self._frames += 1
            self._last_frame_pts = pts
        return offset

    def revise(self, *, gop: int) -> None:
        """Change the header's keyframe interval after the header was written (a remux that met a stream
        with a longer one): rewritten in place at close where the output can seek back to it."""
        self.header = replace(self.header, gop=gop)

    def close(self) -> None:
        """Append the keyframe index and footer (unless a write failed), flush; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if len(self._keys) > MAX_INDEX_ENTRIES:
                logger.warning("%d key packets exceed the index cap; writing no index", len(self._keys))
            elif not self._broken:
                entries = b"".join(_ENTRY.pack(e.pts, e.offset) for e in self._keys)
                head = _INDEX.pack(INDEX_MARKER, len(self._keys), self._frames, zlib.crc32(entries))
                footer = _FOOTER.pack(self._offset, len(self._keys))
                footer += _U32.pack(zlib.crc32(footer)) + FOOTER_MAGIC
                self._emit(head + _U32.pack(zlib.crc32(head)) + entries, footer)
                if self._start is not None:
                    self._set_frame_count()
            if self._start is not None and not self._owned:
                self._cut_what_follows()
        finally:
            if self._owned:
                if self._broken:  # closing flushes the bytes of the write that failed: it fails again, told once
                    with contextlib.suppress(OSError):
                        self._out.close()
                else:
                    self._out.close()

    def _cut_what_follows(self) -> None:
        """End a seekable file object given open (an earlier, longer file reopened 'r+b', a reused
        BytesIO) where the stream ends, as a path opened 'wb' does: the earlier bytes after it would
        read as data joined to the stream."""
        try:
            self._out.truncate(self._out.tell())
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation) as err:
            logger.debug("the output was not cut at the stream's end: %s", err)

    def _set_frame_count(self) -> None:
        """Rewrite the header (same size, its CRC with it) with the frames written where it announced
        another count (from the input's metadata: a truncated input), and with the gop :meth:`revise` set: a
        reader without the index trusts the header's count. A count of 0 (unknown) stays; the index has
        the count."""
        data = encode_header(replace(self.header, frame_count=self._frames if self.header.frame_count else 0))
        if data == self._header_bytes:
            return
        if len(data) != len(self._header_bytes):  # the count is a fixed-width field: cannot happen
            raise AssertionError("a header's size changed with its frame count")
        try:
            end = self._out.tell()
            self._out.seek(self._start)
            self._out.write(data)
            self._out.seek(end)
            flush(self._out)
        except OSError as err:
            logger.warning("could not write the frame count (%d) into the stream header: %s", self._frames, err)


@dataclass
class _SizeStats:
    """Running payload-size statistics of one packet type."""

    count: int = 0
    total: int = 0
    smallest: int | None = None
    largest: int | None = None

    def add(self, size: int) -> None:
        """Account for one payload of the given size."""
        self.count += 1
        self.total += size
        self.smallest = size if self.smallest is None else min(self.smallest, size)
        self.largest = size if self.largest is None else max(self.largest, size)

    def as_dict(self) -> dict[str, Any]:
        """Return count, total/min/max/mean payload bytes."""
        mean = self.total / self.count if self.count else None
        return {
            "count": self.count,
            "total_bytes": self.total,
            "min_bytes": self.smallest,
            "max_bytes": self.largest,
            "mean_bytes": mean,
        }


def sample_aspect(header: StreamHeader) -> Fraction | None:
    """The pixels' aspect ratio (extension tag 2, format 9.1), None for square pixels or an entry that
    does not hold one (a damaged entry is ignored with a warning: the pictures decode, only their
    display shape is lost)."""
    data = header.extensions.get(EXT_SAMPLE_ASPECT)
    if data is None:
        return None
    if len(data) == 8:
        num, den = struct.unpack("<II", data)
        if 0 < num <= 65535 and 0 < den <= 65535:
            return Fraction(num, den)
    logger.warning("the stream's sample aspect ratio entry is damaged; decoding with square pixels")
    return None


def source_chroma(header: StreamHeader) -> tuple[int, int] | None:
    """The source's chroma subsampling as log2 (horizontal, vertical) factors (extension tag 4, 11.1):
    (1, 1) for 4:2:0, (1, 0) for 4:2:2, (0, 0) for 4:4:4 and RGB; None when the stream does not say
    (older streams, grey or palette sources) or the entry is damaged (ignored: it only picks a default
    output pixel format)."""
    data = header.extensions.get(EXT_CHROMA)
    if data is None:
        return None
    if len(data) == 2 and data[0] <= 2 and data[1] <= 2:
        return data[0], data[1]
    logger.warning("the stream's source chroma entry is damaged; ignoring it")
    return None


def colour_description(header: StreamHeader) -> tuple[int, int] | None:
    """The source's colour primaries and transfer characteristics as H.273 code points (extension tag
    5, 14.1), None when the stream does not say (older streams, sources that did not) or the entry is
    not one (ignored with a warning: it only tags a decoder's output; the pictures are coded as RGB)."""
    data = header.extensions.get(EXT_COLOUR)
    if data is None:
        return None
    if len(data) == 2 and data[0] in PRIMARIES and data[1] in TRANSFERS and data != b"\x02\x02":
        return data[0], data[1]
    logger.warning("the stream's colour description entry is damaged or holds unknown values; ignoring it")
    return None


def subpel_table(header: StreamHeader) -> str | None:
    """The first 8 bytes (hex) of the SHA-256 of the sub-pixel predictor table that a format 10.0
    stream's motion vectors use (extension tag 3), None when its deltas predict bilinearly in quarters
    (earlier formats ignore the tag). CorruptPacketError when the entry is not 8 bytes: without it no
    delta decodes."""
    data = header.extensions.get(EXT_SUBPEL)
    if data is None or header.version[0] < 10:
        return None
    if len(data) != SUBPEL_ID_BYTES:
        raise CorruptPacketError(f"the stream's predictor table entry has {len(data)} bytes, not {SUBPEL_ID_BYTES}: the header "
                                 f"is damaged")
    return data.hex()


def _chroma_name(chroma: tuple[int, int] | None) -> str | None:
    """What `vidcodec info` shows of the source chroma entry: 4:2:0, 4:2:2, 4:4:4, ... (None: absent)."""
    if chroma is None:
        return None
    names = {(1, 1): "4:2:0", (1, 0): "4:2:2", (0, 0): "4:4:4", (2, 0): "4:1:1", (2, 2): "4:1:0"}
    return names.get(chroma, f"1/{1 << chroma[0]} x 1/{1 << chroma[1]}")


def _subpel_entry(header: StreamHeader) -> str | None:
    """What `vidcodec info` shows of the predictor table entry (never raises)."""
    try:
        return subpel_table(header)
    except CorruptPacketError:
        return "damaged"


def _header_dict(header: StreamHeader) -> dict[str, Any]:
    """Header fields as JSON-friendly values (enums by name, hash in hex)."""
    return {
        "width": header.width,
        "height": header.height,
        "time_base": f"{header.time_base[0]}/{header.time_base[1]}",
        "frame_rate": f"{header.frame_rate[0]}/{header.frame_rate[1]}",
        "pts_step": step if (step := pts_step(header)) > 1 else None,  # None: the stream has no step
        "frame_count": header.frame_count,
        "model_name": header.model_name,
        "model_hash": header.model_hash.hex(),
        "coder": header.coder.name.lower(),
        "mode": header.mode.name.lower(),
        "quality": header.quality,
        "latent_shape": list(header.latent_shape),
        "gop": header.gop,
        "colour_matrix": header.colour_matrix.name.lower(),
        "colour_range": header.colour_range.name.lower(),
        "sample_aspect_ratio": "{0.numerator}:{0.denominator}".format(sample_aspect(header) or Fraction(1)),
        "subpel_table": _subpel_entry(header),
        "source_chroma": _chroma_name(source_chroma(header)),
        "colour_primaries": PRIMARIES[c[0]] if (c := colour_description(header)) else None,
        "colour_transfer": TRANSFERS[c[1]] if c else None,
        "extensions": {str(tag): data.hex() for tag, data in sorted(header.extensions.items())},
    }


def check_source(source: object) -> None:
    """UsageError unless ``source`` (not a path) is a binary file object open for reading."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if bytes(source[:len(FILE_MAGIC)]) != FILE_MAGIC:  # b"/tmp/x.gvc": a path as bytes, not a stream
            raise UsageError(f"give a .gvc path as a str or a Path (os.fsdecode() turns bytes into one), '-' for "
                             f"stdin, or a binary file object, not bytes ({bytes(source[:40])!r})")
        raise UsageError("give a .gvc path, '-' for stdin, or a binary file object, not the stream's bytes "
                         "(wrap them: io.BytesIO(data))")
    closed = bool(getattr(source, "closed", False))
    if isinstance(source, io.TextIOBase) or not callable(getattr(source, "read", None)) or closed:
        got = "a closed file" if closed else type(source).__name__
        raise UsageError(f"a .gvc stream is read from a path or a binary file object open for reading (got {got})")
    if write_only(source):
        raise UsageError("a .gvc stream is read from a path or a binary file object open for reading (got a "
                         "file open for writing only)")


def write_only(f: object) -> bool:
    """Whether a file object says it is open for writing and not for reading (``open(p, 'wb')``); an
    object whose ``readable()`` is False without saying it writes (io.RawIOBase's default) is not."""
    readable, writable = getattr(f, "readable", None), getattr(f, "writable", None)
    try:
        return callable(readable) and callable(writable) and not readable() and bool(writable())
    except (OSError, ValueError):
        return False


def std_bytes(name: str) -> BinaryIO:
    """sys.stdin's or sys.stdout's bytes (``name``) for ``-``; UsageError where the program replaced them
    with text-only objects (IDLE, a notebook) or has none (pythonw)."""
    stream = getattr(getattr(sys, name), "buffer", None)
    if stream is None:
        raise UsageError(f"'-' means {name}, which is not a byte stream here (a notebook or an IDE?): give a "
                         "path or a file opened in binary mode")
    return stream


def stdin_stream() -> BinaryIO:
    """stdin's bytes, for a .gvc input of ``-``: an InputError, not a silent wait, when it is a terminal.
    A pipe is read through its file descriptor (:class:`PipeOnStdin`)."""
    stream = std_bytes("stdin")
    if stream.isatty():
        raise InputError("stdin is a terminal; pipe a .gvc stream into it (e.g. `< out.gvc`) or give a path")
    if isinstance(stream, io.BufferedReader) and os.name == "posix" and not _is_seekable(stream):
        try:
            stream.fileno()
        except (OSError, ValueError):
            return stream
        return PipeOnStdin(stream)  # type: ignore[return-value]
    return stream


def take_buffered(buffered: io.BufferedReader, fd: int) -> bytes:
    """What a BufferedReader on the pipe ``fd`` holds, else what the pipe has now (or nothing), taken
    out of it without waiting: the pipe can then be read from ``fd`` below it (and waited for with
    ``select``) without losing a byte."""
    try:
        blocking = os.get_blocking(fd)
        os.set_blocking(fd, False)
    except OSError:
        blocking = None
    try:
        head = buffered.peek(1) or b""
    except BlockingIOError:
        head = b""
    finally:
        if blocking is not None:
            os.set_blocking(fd, blocking)
    buffered.read(len(head))
    return head


class PipeOnStdin:
    """A pipe on stdin read below ``sys.stdin.buffer``, from the file descriptor, once the bytes that
    BufferedReader holds are taken: the decode's parsing thread, waiting for a writer that has gone
    quiet, then holds none of its lock. A program that left such a decode (``vidcodec.frames("-")``)
    and exited had been killed by CPython's shutdown, which takes that lock ("Fatal Python error:
    _enter_buffered_busy: could not acquire lock ... at interpreter shutdown", SIGABRT)."""

    closed = False

    def __init__(self, buffered: io.BufferedReader) -> None:
        self._buffered = buffered
        self._fd = buffered.fileno()
        self._head: bytes | None = None  # what the BufferedReader held (None: not taken yet)
        self._aborted = threading.Event()
        self.name = getattr(buffered, "name", "<stdin>")

    def abort(self) -> None:
        """End a wait for data (the decode reading it was left): the read raises Stopped."""
        self._aborted.set()

    def _take_buffered(self) -> bytes:
        """What the BufferedReader holds (a program may have peeked), without waiting for the pipe."""
        return take_buffered(self._buffered, self._fd)

    def read(self, size: int = -1) -> bytes:
        if self._head is None:
            self._head = self._take_buffered()
        if not self._head:  # wait for data (or the end) without any lock, and stop waiting when aborted
            while not select.select([self._fd], [], [], 0.1)[0]:
                if self._aborted.is_set():
                    raise Stopped("stdin: stopped while waiting for it to send")
        if self._head:
            out, self._head = (self._head, b"") if size < 0 else (self._head[:size], self._head[size:])
            return out
        return os.read(self._fd, size if size >= 0 else 1 << 20)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:  # stdin stays open for the program
        pass


def probe(source: str | os.PathLike[str] | BinaryIO, *, packets: bool = False, max_frames: int | None = None,
          duration: Fraction | None = None,
          key_level: Callable[[StreamHeader, tuple[int, int], bytes, int], int | None] | None = None) -> dict[str, Any]:
    """Summarise a stream for `vidcodec info`: header and packet statistics; damage/truncation are reported.
    ``packets``: also list every packet (``packet_list``: stream, type, pts, time in seconds from the first
    frame, payload size, bytes with its header, offset, flags), as ``ffprobe -show_packets``.
    ``max_frames``, ``duration`` (seconds): read no further than that many frames, or than the frames that
    begin less than ``duration`` after the first (a live stream's report without waiting for its end);
    ``stopped`` says whether the reading stopped there, and the report is then of what was read (its
    bytes, its bit rate), the keyframe index left unread.
    ``key_level(header, version, payload, flags)``: the level a key packet was coded at (the codec's
    reading of its payload; None: not known), listed as ``keyframe_qualities`` (level + 1, in stream order).

    Raises only if the file header itself is unreadable (not a .gvc file, unsupported version, ...).
    """
    with GvcReader(source, resync=True) as reader:
        sizes = {kind.name.lower(): _SizeStats() for kind in PacketType}
        sizes["audio"] = _SizeStats()
        streams: dict[int, int] = {}
        frame_pts: list[int] = []
        keyframe_pts: list[int] = []
        key_qualities: list[int] = []
        flagged: dict[int, int] = {}  # video packets (stream 0) per flags value other than 0
        damaged: list[dict[str, Any]] = []
        truncated = None
        packet_bytes = 0
        listed: list[dict[str, Any]] = []
        decodable = 0  # frames decode gives without concealing: not a delta after lost stream-0 data
        need_key = False
        stopped = False  # at max_frames or duration, with the stream read no further
        last_pts: int | None = None  # the last frame's (frame_order)
        last_payload: bytes | None = None
        tb = Fraction(*reader.header.time_base)
        try:
            for item in reader:
                frame = not isinstance(item, Damaged) and item.stream_index == 0 and \
                    item.kind is not PacketType.PARAMETERS
                if frame and ((max_frames is not None and len(frame_pts) >= max_frames) or (
                        duration is not None and frame_pts and (item.pts - frame_pts[0]) * tb >= duration)):
                    stopped = True
                    break
                if isinstance(item, Damaged):
                    index = item.stream == INDEX_DAMAGE
                    damaged.append({"offset": item.offset, "size": item.size, "reason": item.reason, "index": index,
                                    "stream": None if index else item.stream})
                    need_key = need_key or item.loses_frames
                    continue
                sizes["audio" if item.stream_index == AUDIO_STREAM else item.kind.name.lower()].add(len(item.payload))
                streams[item.stream_index] = streams.get(item.stream_index, 0) + 1
                packet_bytes += item.header_size + len(item.payload)
                if packets:
                    listed.append({"stream": item.stream_index, "pts": item.pts,
                                   "type": "audio" if item.stream_index == AUDIO_STREAM else item.kind.name.lower(),
                                   "size": len(item.payload), "bytes": item.header_size + len(item.payload),
                                   "offset": item.offset, "flags": item.flags})
                if frame:
                    order = frame_order(item.pts, item.payload, last_pts, last_payload)
                    if order != "next":
                        # skipped by decode (api._decode_packets): a repeat of the frame before loses nothing;
                        # any other (out of order, a stream restarted inside this one) the deltas after it
                        repeat = order == "repeat"
                        damaged.append({"offset": item.offset, "size": item.header_size + len(item.payload),
                                        "reason": "a packet repeated" if repeat else "a packet out of order",
                                        "index": False, "stream": 0, "repeat": repeat})
                        need_key = need_key or not repeat
                        continue
                    last_pts, last_payload = item.pts, item.payload
                    frame_pts.append(item.pts)
                    need_key = need_key and item.kind is not PacketType.KEY
                    decodable += not need_key
                    if item.flags:
                        flagged[item.flags] = flagged.get(item.flags, 0) + 1
                    if item.kind is PacketType.KEY:
                        keyframe_pts.append(item.pts)
                        level = key_level(reader.header, reader.version, item.payload, item.flags) \
                            if key_level is not None else None
                        if level is not None:
                            key_qualities.append(level + 1)
        except TruncatedStreamError as err:
            truncated = {"offset": err.offset, "message": str(err)}
        index = None if stopped else reader.index()
        index_damaged = reader.index_damaged
        trailing_at = reader.trailing_at
        closed_cleanly = reader.closed_cleanly
        # the whole stream's bytes, as ffprobe's format bit rate counts them: a file's size from the
        # stream's start (header, packets, index, footer); read from a pipe, every byte it gave
        total_bytes = reader.size()
        if total_bytes is None:  # a pipe, read to its end
            total_bytes = reader.bytes_seen
        if reader.trailing_at is not None:  # other data after the stream: not the stream's
            total_bytes = reader.trailing_at
        total_bytes -= reader.joined_at or 0  # joined mid-way: from the parameters packet read
        if stopped:  # what was read: the header and the packets (not a file's size, nor bytes read ahead)
            total_bytes = reader.header_size - (reader.joined_at or 0) + packet_bytes
        header = reader.header
        version = reader.version
        joined_at = reader.joined_at  # joined mid-stream: the header is a parameters packet's, read there
        header_size = reader.header_size - (joined_at or 0)
    duration = None
    if frame_pts:
        duration = (max(frame_pts) - min(frame_pts)) * header.time_base[0] / header.time_base[1]
        if header.frame_rate[0]:
            duration += header.frame_rate[1] / header.frame_rate[0]
    origin = min(frame_pts) if frame_pts else 0
    for row in listed:  # seconds from the first frame, in the stream's time base (audio: the track's)
        tb = audio_tb if row["stream"] == AUDIO_STREAM and (audio_tb := _audio_time_base(header)) else \
            Fraction(*header.time_base)
        row["time"] = float(row["pts"] * tb - origin * Fraction(*header.time_base))
    report = {
        "format": "gvc",
        "version": f"{version[0]}.{version[1]}",
        "header_size": header_size,
        "joined_at": joined_at,
        "header": _header_dict(header),
        "packet_count": sum(streams.values()),
        "packet_bytes": packet_bytes,
        "packets": {kind: stats.as_dict() for kind, stats in sizes.items()},
        "streams": streams,
        "frames": len(frame_pts),
        "decodable_frames": decodable,
        "first_pts": min(frame_pts) if frame_pts else None,
        "last_pts": max(frame_pts) if frame_pts else None,
        "duration_seconds": duration,
        "bytes": total_bytes,
        "bit_rate": total_bytes * 8 / duration if duration else None,
        "keyframe_pts": keyframe_pts,
        "keyframe_qualities": key_qualities,  # what each GOP was coded at (--bitrate chooses per GOP)
        "flagged_packets": {f"0x{k:02x}": n for k, n in sorted(flagged.items())},
        "index_present": index is not None,
        # the index chunk was read at the stream's end, after the last packet (the writer closed it)
        "index_read": closed_cleanly,
        "index_damaged": index_damaged,
        "trailing_at": trailing_at,
        "index_frame_count": index.frame_count if index is not None else None,
        "damaged": damaged,
        "truncated": truncated,
        "stopped": stopped,
    }
    if packets:
        report["packet_list"] = listed
    return report


def _audio_time_base(header: StreamHeader) -> Fraction | None:
    """The time base of the audio track's pts (tag 1's first fields), None without one or when damaged."""
    data = header.extensions.get(EXT_AUDIO)
    if data is None or len(data) < 12:
        return None
    num, den = struct.unpack_from("<II", data)
    return Fraction(num, den) if num and den else None
