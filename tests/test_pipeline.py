"""Pipeline stages: order, bounded look-ahead, errors in order, early stop."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from vidcodec.pipeline import ProcessWorkers, parallel, stage


def test_results_in_order_through_chained_stages():
    out = list(stage(stage(range(50), lambda x: x * 2), lambda x: x + 1))
    assert out == [2 * i + 1 for i in range(50)]


def test_look_ahead_is_bounded():
    produced = []

    def gen():
        for i in range(100):
            produced.append(i)
            yield i

    it = stage(gen(), depth=3)
    assert next(it) == 0
    time.sleep(0.3)
    assert len(produced) <= 1 + 3 + 1  # the item taken, a full queue, and one waiting to be put
    it.close()


def test_worker_error_comes_after_the_items_before_it():
    def gen():
        yield 1
        yield 2
        raise ValueError("boom")

    it = stage(gen())
    assert next(it) == 1 and next(it) == 2
    with pytest.raises(ValueError, match="boom"):
        next(it)


def _endless(closed: threading.Event):
    """0, 1, 2, ... that sets ``closed`` when closed."""
    try:
        yield from range(10**9)
    finally:
        closed.set()


def test_closing_the_consumer_stops_and_closes_the_worker():
    closed = threading.Event()
    for i in stage(_endless(closed)):
        if i == 5:
            break
    assert closed.wait(2.0)


# ---------------------------------------------------------------------------------------- parallel


def test_parallel_keeps_the_order_of_its_input():
    def slow_on_evens(x):
        time.sleep(0.01 if x % 2 == 0 else 0.0)  # later items finish first
        return x * x

    assert list(parallel(range(40), slow_on_evens, workers=3)) == [x * x for x in range(40)]


def test_parallel_really_runs_items_at_once():
    both = threading.Barrier(2, timeout=5.0)  # breaks (BrokenBarrierError) unless two items meet

    def meet(x):
        both.wait()
        return x

    assert list(parallel(range(6), meet, workers=2)) == list(range(6))


def test_parallel_with_one_worker_is_a_stage():
    names = set()

    def which(x):
        names.add(threading.current_thread().name)
        return x

    assert list(parallel(range(5), which, workers=1, name="one")) == list(range(5))
    assert names == {"one"}


def test_parallel_error_comes_at_its_items_place():
    def fail_on_3(x):
        if x == 3:
            raise ValueError("item 3")
        return x

    it = parallel(range(10), fail_on_3, workers=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="item 3"):
        next(it)


def test_parallel_look_ahead_is_bounded_and_closing_stops_it():
    started = []
    closed = threading.Event()

    def record(x):
        started.append(x)
        return x

    it = parallel(_endless(closed), record, workers=2, depth=2)
    assert next(it) == 0
    time.sleep(0.3)
    assert len(started) <= 1 + 2 + 2 + 1  # the item taken, the queue, the running pair, one being put
    it.close()
    assert closed.wait(2.0)
    n = len(started)
    time.sleep(0.2)
    assert len(started) == n  # nothing runs after the consumer has gone


def _ignores_sigint() -> bool:
    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def _nothing() -> None:
    pass


def test_interrupted_worker_processes_are_stopped_not_waited_for():
    """Ctrl-C reaches the workers too: they leave it to the main process (a worker that raised
    KeyboardInterrupt printed its own traceback and broke the pool), which stops them at once."""
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt), ProcessWorkers(2, _nothing, ()) as workers:
        assert workers.pool.submit(_ignores_sigint).result() is True
        processes = list(workers.pool._processes.values())
        workers.pool.submit(time.sleep, 60)
        time.sleep(0.2)  # the sleep has started: shutting down would wait a minute for it
        raise KeyboardInterrupt
    assert all(p.exitcode == -signal.SIGKILL for p in processes)
    assert time.perf_counter() - t0 < 30


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
@pytest.mark.parametrize("workers", [1, 2])
def test_nice_lowers_the_workers_priority_not_the_callers(workers):
    def priority(_):
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = priority(None)
    assert list(parallel(range(4), priority, workers, nice=3)) == [min(19, mine + 3)] * 4
    assert list(parallel(range(2), priority, workers)) == [mine] * 2  # by default, as the caller
    assert priority(None) == mine


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_nice_does_not_reach_the_thread_that_pulls_the_items():
    """With one worker too: the items' source (a demuxer, with threads of its own) keeps its priority."""
    def priority(_=None):
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = priority()

    def source():
        for _ in range(3):
            yield priority()

    assert list(parallel(source(), lambda p: (p, priority()), 1, nice=2)) == [(mine, min(19, mine + 2))] * 3


def test_the_encoder_runs_its_analysis_nicer(monkeypatch, tmp_path, clip, tiny_model_dir):
    import vidcodec
    from vidcodec import api, pipeline

    asked = []
    real = pipeline.lower_priority
    monkeypatch.setattr(pipeline, "lower_priority", lambda nice: (asked.append(nice), real(nice)))
    vidcodec.encode(clip, tmp_path / "a.gvc", model="vaegan-tiny", max_frames=2)
    assert api.ANALYSIS_NICE in asked


def test_write_all_writes_what_a_raw_writer_took_only_part_of():
    """stdout as an unbuffered FileIO takes part of a frame when a signal interrupts a write to a pipe;
    the y4m sink dropped the rest (a reader got half a frame)."""
    from vidcodec.outputs import write_all

    class Halves:
        def __init__(self):
            self.got = bytearray()

        def write(self, data):
            n = max(1, len(data) // 2)
            self.got += bytes(data[:n])
            return n

    out = Halves()
    write_all(out, bytes(range(256)) * 37)
    assert bytes(out.got) == bytes(range(256)) * 37

    class Stuck:
        def write(self, data):
            return 0

    with pytest.raises(OSError, match="took none of 5 bytes"):
        write_all(Stuck(), b"12345")


def test_a_ctrl_c_inside_a_whole_write_takes_effect_after_it_and_a_second_at_once():
    import os
    import signal

    from vidcodec.outputs import whole

    done = []
    with pytest.raises(KeyboardInterrupt), whole():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the block ran on")
    assert done == ["the block ran on"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt), whole():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        done.append("not reached")
    assert done == ["the block ran on"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_hang_up_inside_a_whole_write_takes_effect_after_it():
    """SIGHUP, which the CLI handles as SIGTERM, is held as they are: one that landed between a .gvc
    packet's header and payload had left the stream without its index (review)."""
    import os
    import signal

    from vidcodec.outputs import whole

    class HungUp(Exception):
        pass

    def hung_up(signum, frame):
        raise HungUp

    previous = signal.signal(signal.SIGHUP, hung_up)
    done = []
    try:
        with pytest.raises(HungUp), whole():
            os.kill(os.getpid(), signal.SIGHUP)
            done.append("the block ran on")
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert done == ["the block ran on"]


def test_write_all_waits_for_a_non_blocking_pipe_instead_of_dropping_the_rest():
    """A raw file in non-blocking mode returns None when the pipe is full: that was read as 'wrote
    everything' and the rest of the frame dropped."""
    import os
    import threading

    from vidcodec.outputs import write_all

    r, w = os.pipe()
    os.set_blocking(w, False)
    data = bytes(range(256)) * 1000  # 256 kB: four pipes' worth
    got = bytearray()

    def drain():
        with open(r, "rb", buffering=0) as f:
            while chunk := f.read(65536):
                got.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    with open(w, "wb", buffering=0) as out:
        write_all(out, data)
    reader.join(timeout=30)
    assert bytes(got) == data


def test_a_ctrl_c_held_in_a_whole_write_that_then_fails_still_interrupts():
    """Ctrl-C to a whole pipeline (`vidcodec decode x - | reader`): the writer held it, the reader died, the
    write failed with EPIPE, and the held Ctrl-C was dropped: exit 0 instead of 130."""
    import os
    import signal

    from vidcodec.outputs import whole

    with pytest.raises(KeyboardInterrupt) as e, whole():
        os.kill(os.getpid(), signal.SIGINT)
        raise BrokenPipeError
    assert isinstance(e.value.__context__, BrokenPipeError)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_in_a_whole_write_delivers_both_to_a_handler_that_counts_them():
    """The CLI's encode handler sets ``stop`` at a first Ctrl-C and raises at a second. Held by a write
    stuck on a receiver that stopped reading, the first was dropped when the second came: the handler
    saw one (stop set, the write still stuck) and a third Ctrl-C was needed."""
    import os
    import signal

    from vidcodec.outputs import whole

    seen = []

    def handler(signum, frame):
        seen.append(signum)
        if len(seen) == 2:
            raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, handler)
    try:
        with pytest.raises(KeyboardInterrupt), whole():
            os.kill(os.getpid(), signal.SIGINT)
            assert seen == []  # held
            os.kill(os.getpid(), signal.SIGINT)
        assert seen == [signal.SIGINT, signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, old)
