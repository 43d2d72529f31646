"""``read_ahead``: same items in order, errors raised in the caller, bounded look-ahead, early close."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from mailwarden.mailbox.reading import read_ahead


class Pages:
    """An iterator of ``n`` items that records how far it has been read and whether it was closed."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.produced = 0
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[int]:
        try:
            for i in range(self.n):
                if i == self.fail_at:
                    raise LookupError(f"item {i} is gone")
                self.produced += 1
                yield i
        finally:
            self.closed.set()


def test_yields_every_item_in_order_including_a_short_last_chunk() -> None:
    assert list(read_ahead(Pages(23), chunk=5)) == list(range(23))
    assert list(read_ahead(Pages(0), chunk=5)) == []
    assert list(read_ahead(Pages(10), chunk=5)) == list(range(10))


def test_an_error_of_the_source_is_raised_in_the_caller_after_the_items_before_it() -> None:
    got: list[int] = []
    with pytest.raises(LookupError, match="item 12 is gone"):
        for item in read_ahead(Pages(30, fail_at=12), chunk=5):
            got.append(item)
    assert got == list(range(10))  # the chunk holding the failure is not handed over


def test_look_ahead_is_bounded_while_the_caller_works() -> None:
    src = Pages(1000)
    it = read_ahead(src, chunk=10)
    assert next(it) == 0
    for _ in range(50):  # give the reader every chance to run ahead
        threading.Event().wait(0.002)
    assert src.produced <= 40  # the chunk in hand, one handed over, one being read (+ islice's pull)
    assert list(it) == list(range(1, 1000))


def test_closing_early_stops_the_reader_and_closes_the_source() -> None:
    src = Pages(10_000)
    it = read_ahead(src, chunk=10)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    assert src.closed.wait(5)
    assert src.produced < 100
