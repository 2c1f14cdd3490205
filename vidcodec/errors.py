"""Exceptions raised by vidcodec; each message says what to do next.

The CLI maps ``exit_code`` to the process exit status: 2 for usage and input
errors, 1 for runtime failures.
"""

from __future__ import annotations

import errno
import os

# What an OSError's errno says when a write found no room: the disk full, the quota used, the file too large
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def naming(e: OSError, name: object) -> OSError:
    """``e`` (a system error that names no file: a full disk met by FFmpeg or by a buffered write) as
    the same error naming ``name``, the file (or "stdout") it was writing; raise it ``from e``."""
    return OSError(e.errno, e.strerror or os.strerror(e.errno), str(name))


def first_line(e: BaseException, limit: int | None = 160) -> str:
    """The first line of an exception's message, cut to ``limit`` characters (None: whole), for one-line
    errors that quote a library's (torch's size mismatches run to pages); its type's name when empty."""
    lines = str(e).splitlines()
    return (lines[0][:limit] if lines else "") or type(e).__name__


def shown(text: str) -> str:
    """``text`` (a name read from a stream or a file) safe to print on a terminal: characters that are
    not printable (NUL, escape sequences, line breaks) as Python writes them in a string, ``\\x00``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class VidcodecError(Exception):
    """Base class of every error vidcodec raises on purpose."""

    exit_code = 1


class UsageError(VidcodecError):
    """A command-line argument or API parameter is invalid."""

    exit_code = 2


class InputError(VidcodecError):
    """An input cannot be read: missing path, no video stream, undecodable media."""

    exit_code = 2


class OutputExistsError(UsageError):
    """The output path exists and overwriting was not allowed."""


class FormatError(VidcodecError):
    """A file is not a valid .gvc stream (bad magic, bad header, bad CRC)."""

    exit_code = 2


class UnsupportedVersionError(FormatError):
    """The stream was written with a format version this package cannot read."""


class TruncatedStreamError(FormatError):
    """The stream ends inside a packet or header; everything before it was readable."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class CorruptPacketError(FormatError):
    """A packet failed its CRC or its payload could not be parsed."""


class ModelNotFoundError(VidcodecError):
    """The stream names a model (name + hash) that is not installed."""

    exit_code = 2


class CoderError(VidcodecError):
    """An entropy/Elias payload is malformed (garbage or truncated bits)."""

    exit_code = 2


class Stopped(InputError):
    """The caller's stop (the first Ctrl-C of ``vidcodec encode``) ended a wait for the input before it
    sent anything."""

    exit_code = 130


class BuildError(VidcodecError, ImportError):
    """The package's C++ core (``vidcodec._native``) is not built, or was built from other sources than
    the checkout holds."""


class NetworkError(VidcodecError):
    """A ``tcp://`` or ``udp://`` peer cannot be reached or listened for, or went away mid-stream."""
