"""Ctrl-C, SIGTERM and SIGHUP held until a training step ends.

A training step updates several things one after another (the autoencoder, then the discriminator;
train-gan's discriminator, then its generator and their average). An interrupt that landed between
two of them would leave a checkpoint holding half a step under the number of the step before, and
the resumed run would take that step again on weights it had already moved. :class:`Held` takes
the first Ctrl-C, SIGTERM or SIGHUP of a run and raises it where the loop calls :meth:`Held.check`, between
steps; a second one interrupts at once, as before.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from ..outputs import HELD_SIGNALS

log = logging.getLogger("vidcodec.train")

SIGNALS = HELD_SIGNALS  # those a write of a packet or frame holds too


class Held:
    """Installs its handlers for :data:`SIGNALS` when made (in the main thread, and only for a signal
    whose handler is a Python function: Ctrl-C's KeyboardInterrupt, the command line's SIGTERM; a
    signal left to the system's default, or made elsewhere than the main thread, is not touched);
    :meth:`restore` puts the previous ones back."""

    def __init__(self) -> None:
        self.previous: dict[int, object] = {}
        self.held: tuple[int, FrameType | None] | None = None
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in SIGNALS:
            handler = signal.getsignal(signum)
            if callable(handler):
                self.previous[signum] = handler
                signal.signal(signum, self._hold)

    def _hold(self, signum: int, frame: FrameType | None) -> None:
        if self.held is not None:  # a second one: at once
            self._deliver(signum, frame)
            return
        self.held = (signum, frame)
        what = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        log.warning("%s: stopping when this step ends, with a checkpoint (%s again to stop at once)", what, what)

    def _deliver(self, signum: int, frame: FrameType | None) -> None:
        handler = self.previous[signum]
        handler(signum, frame)  # type: ignore[operator]  # raises KeyboardInterrupt (or the CLI's SIGTERM kind)

    def check(self) -> None:
        """Between two steps: the interrupt that came during the last one, if one did, raised now."""
        if self.held is not None:
            signum, frame = self.held
            self.held = None
            self._deliver(signum, frame)

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self.previous = {}
