"""Where outputs can go: checked before long work starts, not when its results are written."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path


def flush(out: object) -> None:
    """Flush a file object if it buffers (one with write() alone writes as it is called)."""
    method = getattr(out, "flush", None)
    if callable(method):
        method()


@contextlib.contextmanager
def whole() -> Iterator[None]:
    """A Ctrl-C inside the block takes effect when the block ends, so that a write of a frame to a pipe
    is not cut in the middle (a y4m reader would get half a frame: the interrupted write had sent its
    first 64 KiB); a second Ctrl-C takes effect at once (a reader that has stopped reading). Only in
    the main thread, and only where Ctrl-C raises KeyboardInterrupt (Python's own handler)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    pending: list[int] = []

    def later(signum, frame) -> None:
        if pending:
            raise KeyboardInterrupt
        pending.append(signum)

    signal.signal(signal.SIGINT, later)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if pending:
        raise KeyboardInterrupt


def write_all(out: object, data: bytes | bytearray | memoryview) -> None:
    """Write all of ``data`` to ``out``: a raw file object (stdout as an unbuffered FileIO) may take part
    of it (a write to a pipe that a signal interrupts returns what went through), so the rest is
    written again; a writer that takes nothing is an OSError (asked again, it would spin for ever)."""
    view = memoryview(data)
    while view:
        written = out.write(view)  # type: ignore[attr-defined]
        if written is None:  # file objects that report no count write everything
            return
        if written <= 0:
            raise OSError(errno.EIO, f"the output took none of {len(view)} bytes (its write() returned {written})")
        view = view[written:]


def writable_folder(folder: str | Path) -> Path | None:
    """The folder, or the nearest existing one above it, if a file can be made there (tried: the
    permission bits do not tell, e.g. /sys as root); else None."""
    path = Path(folder).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    try:
        with tempfile.TemporaryFile(dir=existing):
            return existing
    except OSError:
        return None


def _umask() -> int:
    """The process's umask, read without changing it (Linux's /proc; else the usual 022)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def usual_mode(path: str | Path) -> None:
    """Give a file another library made private (safetensors writes 0600) the permissions of a
    file made the usual way (0666 less the umask), so that weights and checkpoints can be shared."""
    os.chmod(path, 0o666 & ~_umask())
