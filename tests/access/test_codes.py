"""Single-use, short-lived codes from ``POST /session/<stream>`` to the upgrade."""

from __future__ import annotations

from access.codes import CodeBook
from access.grants import READ, Grant


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


GRANT = Grant(frozenset({READ}), stream="spin30-log")


def test_a_code_is_good_once_for_its_stream():
    book = CodeBook(clock=Clock())
    code = book.issue(GRANT)
    assert book.redeem(code, "spin30-log") == GRANT
    assert book.redeem(code, "spin30-log") is None


def test_a_code_for_another_stream_is_refused_and_spent():
    book = CodeBook(clock=Clock())
    code = book.issue(GRANT)
    assert book.redeem(code, "spin31-log") is None
    assert book.redeem(code, "spin30-log") is None


def test_a_code_expires():
    clock = Clock()
    book = CodeBook(ttl_s=60, clock=clock)
    code = book.issue(GRANT)
    clock.now += 60
    assert book.redeem(code, "spin30-log") is None


def test_unknown_and_empty_codes_grant_nothing():
    book = CodeBook(clock=Clock())
    book.issue(GRANT)
    assert book.redeem("guess", "spin30-log") is None
    assert book.redeem("", "spin30-log") is None
    assert book.redeem(None, "spin30-log") is None


def test_the_book_is_bounded_and_drops_the_oldest():
    clock = Clock()
    book = CodeBook(max_codes=3, clock=clock)
    codes = [book.issue(GRANT) for _ in range(5)]
    assert len(book) == 3
    assert book.redeem(codes[0], "spin30-log") is None
    assert book.redeem(codes[4], "spin30-log") == GRANT


def test_expired_codes_leave_the_book_when_new_ones_come():
    clock = Clock()
    book = CodeBook(ttl_s=10, clock=clock)
    for _ in range(100):
        book.issue(GRANT)
    clock.now += 11
    book.issue(GRANT)
    assert len(book) == 1


def test_codes_are_unguessable():
    book = CodeBook(clock=Clock())
    codes = {book.issue(GRANT) for _ in range(1000)}
    assert len(codes) == 1000
    assert all(len(code) >= 21 for code in codes)  # 16 bytes, base64url
