"""A check-in file's batches read and typed on a thread of their own (issue 16, branch e29-checkins:
``checkins._ReadAhead``): the consumer gets every item in order, an error of the reading is raised where it
came (after the items before it), and a consumer that stops early leaves no thread reading the file."""

from __future__ import annotations

import threading

import pytest

from covidsync.ingest.checkins import _ReadAhead


def _items(n, fail_at=None, log=None):
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"bad chunk {i}")
        if log is not None:
            log.append((i, threading.current_thread().name))
        yield i


@pytest.mark.parametrize("enabled", [True, False])
def test_every_item_in_order(enabled):
    log: list = []
    with _ReadAhead(_items(50, log=log), enabled) as read:
        assert list(read) == list(range(50))
    threads = {name for _, name in log}
    assert threads == ({"checkin-read"} if enabled else {threading.current_thread().name})


@pytest.mark.parametrize("enabled", [True, False])
def test_an_error_of_the_reading_is_raised_after_the_items_before_it(enabled):
    got = []
    with pytest.raises(ValueError, match="bad chunk 7"):
        with _ReadAhead(_items(20, fail_at=7), enabled) as read:
            for item in read:
                got.append(item)
    assert got == list(range(7))


def test_a_consumer_that_stops_early_stops_the_reading_thread():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    before = threading.active_count()
    with pytest.raises(RuntimeError):
        with _ReadAhead(endless()) as read:
            for item in read:
                if item == 3:
                    raise RuntimeError("the main thread failed")
    assert closed.wait(5)  # the generator was closed (its file released) by the reading thread
    assert threading.active_count() == before
