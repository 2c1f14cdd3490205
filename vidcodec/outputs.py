"""Where outputs can go: checked before long work starts, not when its results are written."""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import naming

log = logging.getLogger("vidcodec")


def flush(out: object) -> None:
    """Flush a file object if it buffers (one with write() alone writes as it is called)."""
    method = getattr(out, "flush", None)
    if callable(method):
        method()


# what whole() holds (SIGHUP where the system has it: a closed terminal, which the CLI handles as SIGTERM)
HELD_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


@contextlib.contextmanager
def whole() -> Iterator[None]:
    """A Ctrl-C, SIGTERM or SIGHUP inside the block takes effect when the block ends, so that a write of a frame
    to a pipe is not cut in the middle (a y4m reader would get half a frame: the interrupted write had
    sent its first 64 KiB); a second one takes effect at once (a reader that has stopped reading),
    the held one first.
    The handler in force (Python's KeyboardInterrupt, the CLI's, the default action) is what then runs.
    Only in the main thread; signals that are ignored stay ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, object] = {}
    pending: list[int] = []

    def act(signum: int) -> None:
        handler = previous[signum]
        if callable(handler):
            handler(signum, None)
        else:  # SIG_DFL: the default action (SIGTERM ends the process), as if the signal came now
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def later(signum, frame) -> None:
        if pending:  # the second: at once, after the one held, so that the handler sees both (the CLI's
            # encode handler finishes the stream at a first Ctrl-C and interrupts at a second: acting on
            # this one alone had left a write stuck on a reader that stopped reading for a third)
            act(pending.pop())
            act(signum)
        else:
            pending.append(signum)

    for signum in HELD_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is signal.SIG_IGN or handler is None or (handler is signal.SIG_DFL and signum == signal.SIGINT):
            continue
        previous[signum] = handler
        signal.signal(signum, later)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        # also when the block failed: a Ctrl-C to a whole pipeline ends its reader too, and the write
        # then fails (EPIPE), but the command was still interrupted (130, not a quiet 0)
        if pending:
            act(pending.pop())


def write_all(out: object, data: bytes | bytearray | memoryview) -> None:
    """Write all of ``data`` to ``out``: a raw file object (stdout as an unbuffered FileIO) may take part
    of it (a write to a pipe that a signal interrupts returns what went through), so the rest is
    written again, and a raw one in non-blocking mode may take none (None: it would block), so it is
    waited for; a writer that reports taking 0 bytes is an OSError (asked again, it would spin for
    ever), and one that reports no count (not a raw file) is taken to have written everything."""
    view = memoryview(data)
    while view:
        written = out.write(view)  # type: ignore[attr-defined]
        if written is None:
            if not isinstance(out, io.RawIOBase):  # file objects that report no count write everything
                return
            # a raw file in non-blocking mode (a pipe someone set O_NONBLOCK on) took nothing: wait a
            # moment (select would not take a pipe on Windows, nor a descriptor past 1023)
            time.sleep(0.002)
            continue
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


def write_file(path: str | Path, data: bytes | str) -> Path:
    """Write a result (a report, a table, a plot) whole or not at all: through a temporary file beside
    it and a rename. A full disk leaves no truncated file (the one there before, if any, stays) and its
    error names the file: ``OSError(errno, reason, path)``. A file there before keeps its permissions
    (a new one gets the usual ones); a link, a named pipe or /dev/stdout is written through, and so is a
    file in a folder where no other file can be made."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    try:
        if path.is_symlink() or (path.exists() and not path.is_file()):  # a link (/dev/stdout: the shell's
            with open(path, "wb") as f:  # file, which the rest of the output goes to), a named pipe
                f.write(raw)
            return path
        mode = path.stat().st_mode & 0o7777 if path.exists() else None
        if mode is not None and not os.access(path, os.W_OK):
            open(path, "r+b").close()  # its own error (a read-only file, or file system)
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except PermissionError:
            if mode is None:
                raise
            with open(path, "wb") as f:  # a folder of others' (the file is writable, the folder is not)
                f.write(raw)
            return path
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
            if mode is None:
                usual_mode(tmp)
            else:
                os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        if e.errno is None or e.filename == str(path):
            raise
        raise naming(e, path) from e
    return path


def say_kept(path: object, frames: int, done: str) -> None:
    """Say that an output an error stopped keeps the ``frames`` frames ``done`` (encoded, decoded, copied)
    before it: said before the error itself, as ffmpeg's output stays."""
    log.warning("%s: the %d frame%s %s before the error below %s kept", path, frames, "" if frames == 1 else "s",
                done, "is" if frames == 1 else "are")
