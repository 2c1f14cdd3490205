"""Progress of a long encode or decode: a bar on a terminal, a line now and then in a log.

tqdm draws its bar only where stderr is a terminal; redirected (``2>log``, ``nohup``, a CI job, a
service) it would either stay silent until the end or fill the log with carriage returns. There
:func:`bar` logs one line every :data:`LOG_EVERY_S` seconds instead (``vidcodec: encode: 250 of 900
frames (28 %), 22.4 fps``), as the training commands do; to stderr itself when logging is not set
up to show it (a library call that asked for progress in a notebook or a service).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, Self

from tqdm import tqdm

log = logging.getLogger("vidcodec")

LOG_EVERY_S = 10.0  # seconds between two progress lines in a log


class LogLines:
    """tqdm's calls that the codec makes (``update``, ``close``, a context manager), as log lines."""

    def __init__(self, total: int | None, desc: str, unit: str, every: float | None = None) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.every = LOG_EVERY_S if every is None else every
        self.n = 0
        self.start = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            done = f"{self.n} of {self.total} {self.unit}s ({100 * self.n / self.total:.0f} %)" if self.total \
                else f"{self.n} {self.unit}s"
            line = f"{self.desc}: {done}, {self.n / max(now - self.start, 1e-9):.1f} fps"
            if log.hasHandlers() and log.isEnabledFor(logging.INFO):
                log.info("%s", line)
            else:  # a library call that asked for progress, with logging not set up to show it
                print(f"vidcodec: {line}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bar(total: int | None, desc: str, enabled: bool, unit: str = "frame") -> Any:
    """A progress bar (tqdm) where stderr is a terminal, log lines where it is not, nothing when not
    ``enabled`` (``-q``, or a library call that asked for none)."""
    if enabled and not _terminal():
        return LogLines(total, desc, unit)
    return tqdm(total=total, unit=unit, desc=desc, disable=None if enabled else True, leave=False)


def _terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return False


class _QuietThreads(logging.Filter):
    """A logger's filter that drops the records under a level that threads in :func:`quieted` blocks
    log there (each thread its own blocks, the strictest level of those it is in)."""

    def __init__(self) -> None:
        super().__init__()
        self.levels: dict[int, list[int]] = {}  # thread ident -> the levels of the blocks it is in

    def filter(self, record: logging.LogRecord) -> bool:
        # (a logger's filters run in the thread that logs; record.thread is None with logThreads off)
        levels = self.levels.get(threading.get_ident())
        return not levels or record.levelno >= max(levels)


_QUIET: dict[str | None, _QuietThreads] = {}
_QUIET_LOCK = threading.Lock()


@contextlib.contextmanager
def quieted(name: str | None, level: int = logging.ERROR) -> Iterator[None]:
    """Log records under ``level`` that this thread logs on logger ``name`` (None: the root; a module's
    own logging.warning() goes there) are dropped while in the block: a second pass over what a first
    reports, a library's advice nobody can act on. Only this thread's, and the logger's level stays
    as it is: setting it (as this did) dropped every thread's records, an application's own in
    loggers that inherit the root's level, and two blocks at once in two threads could leave the
    level set for good (a remux's: the container's warnings were silent for the rest of the process)."""
    with _QUIET_LOCK:
        quiet = _QUIET.get(name)
        if quiet is None:
            quiet = _QUIET[name] = _QuietThreads()
            logging.getLogger(name).addFilter(quiet)
        levels = quiet.levels.setdefault(threading.get_ident(), [])
        levels.append(level)
    try:
        yield
    finally:
        with _QUIET_LOCK:
            levels.pop()
            if not levels:
                del quiet.levels[threading.get_ident()]
