"""Bounded-queue stages in threads: demuxing, the networks and entropy coding overlap.

PyAV, ONNX Runtime, torch and constriction release the GIL in their heavy calls, so a stage per
thread keeps both cores of a small machine busy: while frame *n* is entropy-coded, frame *n+1*
goes through the network and frame *n+2* is being demuxed. Queues are bounded (a few frames),
so memory does not grow with the video's length.

``stage(iterable, fn)`` runs ``iterable`` (and ``fn`` on each item) in a worker thread and
yields the results in order; ``parallel(iterable, fn, workers)`` runs ``fn`` on up to ``workers``
items at once (frames through the networks, which hold no state between frames), still yielding
in order. Errors raised in the worker are re-raised in the consumer after the
items produced before them, and closing the consumer (``break``, an exception) stops the worker
at its next item.

Work that holds the GIL between its numpy calls (the delta coder, the symbol decoder) does not gain
from threads; :class:`ProcessWorkers` is the pool of worker processes that GOP-parallel coding
(:mod:`vidcodec.gopencode`, :mod:`vidcodec.gopdecode`) runs on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Self

from .errors import UsageError, VidcodecError

DEPTH = 3  # items a stage may run ahead of its consumer
# How long a closed stage waits for its thread to end; the CLI shortens it once Ctrl-C or SIGTERM has
# asked to stop (a thread stuck reading a stalled pipe never ends: waiting 5 s made a Ctrl-C take 8)
DEFAULT_JOIN_TIMEOUT_S = 5.0
JOIN_TIMEOUT_S = DEFAULT_JOIN_TIMEOUT_S
STOPPING_JOIN_S = 0.2  # the wait for a stage's thread once Ctrl-C unwinds through it


@contextlib.contextmanager
def closing(gen: Iterator[Any]) -> Iterator[Iterator[Any]]:
    """contextlib.closing for a generator that another thread may be running when the block ends
    (a stage's generator that a later stage's thread iterates, stuck in a read when Ctrl-C came):
    closing it there raised "generator already executing" over the KeyboardInterrupt. A generator
    running elsewhere is left to that thread, which closes it (:func:`stage`) when it ends."""
    try:
        yield gen
    finally:
        with contextlib.suppress(ValueError):  # "generator already executing": it started since the check
            if not getattr(gen, "gi_running", False):
                gen.close()
_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def lower_priority(nice: int) -> None:
    """Make the calling thread ``nice`` steps nicer (up to 19) on Linux, where a thread has its own
    nice value; elsewhere nothing (setpriority would renice the whole process)."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:  # not allowed here (a sandbox): the thread keeps its priority
        pass


def stage(iterable: Iterable[Any], fn: Callable[[Any], Any] | None = None, depth: int = DEPTH,
          name: str = "vidcodec-stage", nice: int = 0) -> Iterator[Any]:
    """Iterate ``iterable`` in a worker thread (applying ``fn``), at most ``depth`` items ahead;
    ``nice``: that thread's priority lowered by as much (:func:`lower_priority`)."""
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
        lower_priority(nice)
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
        # Ctrl-C unwinding through here: the thread may be stuck in a read (a followed file that is
        # not growing), so wait for it no longer than a command that was asked to stop does.
        error = sys.exc_info()[0]
        interrupted = error is not None and issubclass(error, KeyboardInterrupt)  # the CLI's SIGTERM's too
        thread.join(timeout=min(JOIN_TIMEOUT_S, STOPPING_JOIN_S) if interrupted else JOIN_TIMEOUT_S)


def parallel(iterable: Iterable[Any], fn: Callable[[Any], Any], workers: int, depth: int = DEPTH,
             name: str = "vidcodec-parallel", nice: int = 0) -> Iterator[Any]:
    """Like :func:`stage` with ``fn``, but ``fn`` runs on up to ``workers`` items at once in a pool
    of threads (each ``nice`` steps nicer); results come out in the order of ``iterable``, at most
    ``workers + depth`` items ahead of the consumer. An error raised by ``fn`` is re-raised at its
    item's place."""
    if workers <= 1 and nice <= 0:
        yield from stage(iterable, fn, depth, name)
        return
    # with ``nice``, always a pool: a stage's thread would also pull ``iterable`` (a demuxer, whose
    # threads would inherit its priority)
    workers = max(1, workers)

    def submitted() -> Iterator[Future]:
        pool = ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=lower_priority, initargs=(nice,))
        try:
            for item in iterable:
                try:
                    future = pool.submit(fn, item)
                except RuntimeError:  # "cannot schedule new futures after (interpreter) shutdown": a call in a
                    future = _run_here(fn, item)  # thread the main thread left running goes on without the pool
                yield future
        except GeneratorExit:  # the consumer stopped: drop what has not started, wait for the rest
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=False)  # the items submitted still run; the threads end after them

    futures = stage(submitted(), depth=workers + depth - 1, name=name)
    try:
        for future in futures:
            yield future.result()
    finally:
        futures.close()


def _run_here(fn: Callable[[Any], Any], item: Any) -> Future:
    """``fn(item)`` run now, in this thread, as a finished Future."""
    future: Future = Future()
    try:
        future.set_result(fn(item))
    except Exception as e:  # noqa: BLE001 - re-raised at its item's place, as the pool's would be
        future.set_exception(e)
    return future


def _alive() -> bool:
    return True


def _worker_start(initializer: Callable, *initargs: Any) -> None:
    """A worker's first act: Ctrl-C, which reaches the whole process group, is the main process's to
    handle (it stops the workers, reports the interrupt and exits 130; a worker that raised
    KeyboardInterrupt too printed a traceback of its own and broke the pool under the main process),
    and SIGTERM ends a worker at once (not the main process's handler, inherited by fork)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    initializer(*initargs)


class ProcessWorkers:
    """Worker processes for work that holds the GIL (GOP-parallel coding), all made at once, here,
    by fork on Linux: the caller makes this before it starts its own threads
    (pipeline stages, ONNX Runtime), so no lock is copied mid-use, and the children inherit what the
    parent loaded. Elsewhere spawn (``fork_only`` refuses: its ``initargs`` would have to pickle,
    and a script then needs the ``if __name__ == "__main__"`` guard). A context manager; closing
    cancels the jobs not started and waits for the running ones."""

    def __init__(self, workers: int, initializer: Callable, initargs: tuple, fork_only: bool = False) -> None:
        # fork on Linux only: elsewhere (macOS) system libraries are not fork-safe, and Python spawns
        fork = sys.platform.startswith("linux")
        if fork_only and not fork:
            raise UsageError("--workers needs Linux (worker processes made by fork); leave it out to code in-process")
        context = multiprocessing.get_context("fork" if fork else "spawn")
        self.workers = workers
        try:
            self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start,
                                            initargs=(initializer, *initargs))
        except OSError as e:  # its queues' locks are files in /dev/shm: full, missing (some containers)
            raise VidcodecError(f"--workers {workers}: the worker processes' shared locks could not be made "
                                f"({e.strerror or e}; on Linux they are files in /dev/shm): give /dev/shm room, "
                                "or leave --workers out to code in this process") from e
        try:  # a pool that forks makes every worker with its first job: now, before the caller's threads
            for f in [self.pool.submit(_alive) for _ in range(workers)]:
                f.result()
        except BaseException:
            # (the workers made so far wait for jobs: not ended, the interpreter's exit joined them for ever)
            self.close(stop=True)
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc) -> None:
        # Interrupted (Ctrl-C, SIGTERM): the running jobs are not waited for (a GOP can take seconds).
        self.close(stop=kind is not None and not issubclass(kind, Exception))

    def close(self, stop: bool = False) -> None:
        """Cancel the jobs not started and wait for the running ones, or with ``stop`` end the workers."""
        if stop:
            processes = getattr(self.pool, "_processes", None) or {}  # the executor's own: no public way
            for process in list(processes.values()):
                process.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)
