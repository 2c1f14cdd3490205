"""Pipeline stages: order, bounded look-ahead, errors in order, early stop."""

from __future__ import annotations

import threading
import time

import pytest

from vidcodec.pipeline import stage


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


def test_closing_the_consumer_stops_and_closes_the_worker():
    closed = threading.Event()

    def gen():
        try:
            yield from range(10**9)
        finally:
            closed.set()

    for i in stage(gen()):
        if i == 5:
            break
    assert closed.wait(2.0)
