"""Declarations' batches prepared one ahead on a second thread (issue 24, e30-decl,
:func:`covidsync.ingest.declarations._read_ahead`): in order, an error raised in its place, and a caller that
stops early stops the producer before it goes on (nothing reads the file behind its back)."""

from __future__ import annotations

import threading
import time

import pytest

from covidsync.ingest.declarations import _read_ahead


def test_items_come_in_order_from_another_thread():
    threads = set()

    def items():
        for n in range(50):
            threads.add(threading.current_thread().name)
            yield n

    assert list(_read_ahead(items(), True)) == list(range(50))
    assert threads == {"stage-read"}
    assert list(_read_ahead(iter(range(5)), False)) == list(range(5))


def test_an_error_of_the_producer_is_raised_in_its_place():
    def items():
        yield 1
        yield 2
        raise ValueError("late chunk")

    got = []
    with pytest.raises(ValueError, match="late chunk"):
        for item in _read_ahead(items(), True):
            got.append(item)
    assert got == [1, 2]


def test_a_caller_that_stops_stops_the_producer():
    made, closed = [], []

    def items():
        try:
            for n in range(1000):
                made.append(n)
                yield n
        finally:
            closed.append(threading.current_thread().name)

    reader = _read_ahead(items(), True)
    assert next(reader) == 0
    time.sleep(0.2)  # the producer fills the queue of one and waits
    reader.close()
    assert closed == ["stage-read"]
    assert len(made) <= 3  # the one taken, the one queued, the one waiting to be queued
    assert not any(t.name == "stage-read" for t in threading.enumerate())
