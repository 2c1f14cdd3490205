"""Read a .gvc file that is still being written, like ``tail -f``.

:class:`FollowedFile` is a read-only, non-seekable file object over a path: a read at the end of
the file waits (polling) for the writer to append more, and reports end of file only when the
file ends with a valid footer (the writer closed it cleanly) or has not grown for ``timeout``
seconds. :class:`~vidcodec.container.GvcReader` reads it as it reads a pipe.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import time
import zlib

from .container import FOOTER_MAGIC, FOOTER_SIZE, INDEX_HEADER_SIZE
from .errors import InputError, UsageError

log = logging.getLogger("vidcodec")
_FOOTER = struct.Struct("<QII")  # index offset, entry count, footer CRC (then the magic); docs/FORMAT.md
_ENTRY_SIZE = 16


def ends_with_footer(f: io.BufferedReader | io.FileIO) -> bool:
    """Whether the file ends with a footer that validates and fits the file's size (checks bytes only)."""
    size = os.fstat(f.fileno()).st_size
    if size < INDEX_HEADER_SIZE + FOOTER_SIZE:
        return False
    footer = os.pread(f.fileno(), FOOTER_SIZE, size - FOOTER_SIZE)
    if len(footer) != FOOTER_SIZE or footer[-len(FOOTER_MAGIC):] != FOOTER_MAGIC:
        return False
    offset, count, crc = _FOOTER.unpack_from(footer)
    return zlib.crc32(footer[:12]) == crc and offset + INDEX_HEADER_SIZE + _ENTRY_SIZE * count + FOOTER_SIZE == size


class FollowedFile(io.RawIOBase):
    """A growing file read to its real end: reads at EOF wait until it grows, is closed cleanly, or times out."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0, poll: float = 0.1) -> None:
        super().__init__()
        if not 0 <= timeout < float("inf"):  # NaN too
            raise UsageError(f"--follow-timeout must be a number of seconds, 0 or more (got {timeout})")
        # A follower started just before its writer: wait (up to the timeout) for the file to appear.
        deadline = time.monotonic() + timeout
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(poll)
        try:
            self._f = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        except FileNotFoundError:
            raise InputError(f"{os.fspath(path)} did not appear within --follow-timeout {timeout:g} s; "
                             "start the writer, or check the path") from None
        except OSError as err:
            raise InputError(f"cannot open {os.fspath(path)}: {err.strerror or err}; give a .gvc file") from None
        self.timeout = timeout
        self.poll = poll
        self._last_growth = time.monotonic()
        self.finished = False  # set once EOF was reported: "closed" (footer seen) or "timeout"
        self.reason: str | None = None

    def readable(self) -> bool:
        """True."""
        return True

    def seekable(self) -> bool:
        """False: the reader must treat this as a stream."""
        return False

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Read what is there; at EOF wait for more until the footer appears or the timeout passes."""
        if self.finished:
            return 0
        while True:
            n = self._f.readinto(buffer)
            if n:
                self._last_growth = time.monotonic()
                return n
            if ends_with_footer(self._f):  # closed cleanly; read once more: it may have grown since
                n = self._f.readinto(buffer)
                if n:
                    return n
                self._finish("closed")
                return 0
            if time.monotonic() - self._last_growth >= self.timeout:
                self._finish("timeout")
                log.warning("%s has not grown for %g s and was not closed (no index and footer): stopped "
                            "following; its writer may have died, and what was read may be the stream's "
                            "beginning only (a longer --follow-timeout waits longer)", self._f.name, self.timeout)
                return 0
            time.sleep(self.poll)

    def _finish(self, reason: str) -> None:
        self.finished = True
        self.reason = reason

    def close(self) -> None:
        """Close the underlying file."""
        if not self.closed:
            self._f.close()
        super().close()
