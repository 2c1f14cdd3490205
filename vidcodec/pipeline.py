"""Bounded-queue stages in threads: demuxing, the networks and entropy coding overlap.

PyAV, ONNX Runtime, torch and constriction release the GIL in their heavy calls, so a stage per
thread keeps both cores of a small machine busy: while frame *n* is entropy-coded, frame *n+1*
goes through the network and frame *n+2* is being demuxed. Queues are bounded (a few frames),
so memory does not grow with the video's length.

``stage(iterable, fn)`` runs ``iterable`` (and ``fn`` on each item) in a worker thread and
yields the results in order. Errors raised in the worker are re-raised in the consumer after the
items produced before them, and closing the consumer (``break``, an exception) stops the worker
at its next item.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

DEPTH = 3  # items a stage may run ahead of its consumer
_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def stage(iterable: Iterable[Any], fn: Callable[[Any], Any] | None = None, depth: int = DEPTH,
          name: str = "vidcodec-stage") -> Iterator[Any]:
    """Iterate ``iterable`` in a worker thread (applying ``fn``), at most ``depth`` items ahead."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        it = iter(iterable)
        try:
            for item in it:
                if not put(fn(item) if fn is not None else item):
                    break
            put(_DONE)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(_Failure(e))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join(timeout=5.0)
