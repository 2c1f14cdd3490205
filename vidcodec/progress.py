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


@contextlib.contextmanager
def quieted(name: str | None, level: int = logging.ERROR) -> Iterator[None]:
    """Log records of logger ``name`` (None: the root) under ``level`` are dropped while in the block: a
    second pass over what a first reports, a library's advice nobody can act on."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)
