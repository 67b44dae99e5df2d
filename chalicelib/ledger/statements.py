"""Statements of an account: its postings over a JST date range, and its closing balance day by day.

Both are read through the account's DailyBalance items (one per JST day it posted on, written in the
posting's own transaction): a date range becomes a seq range of postings, and a day's closing balance
needs no posting at all. So every page costs the same few calls, whichever page and however long the
history.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Generic, TypeVar

from msgspec import Struct

from chalicelib.clock import JST, Clock
from chalicelib.ledger.changes import read_account
from chalicelib.ledger.errors import AccountNotFound, InvalidRequest
from chalicelib.store.models import Account, DailyBalance, Posting
from chalicelib.store.transactions import Retrier

PAGE_SIZE = 200
MAX_RANGE_DAYS = 366  # a range over a year is refused
MAX_PAGE = 10**6

T = TypeVar("T")


class StatementLine(Struct, frozen=True):
    """One posting. `id` is f"{account_id}-{seq}": unique across the bank (seq, the part after the last
    "-", is digits only) and stable (a posting never changes)."""

    id: str
    posted_at: datetime  # aware
    amount: int  # signed: credit > 0, debit < 0
    description: str
    balance: int  # balance after it


class DayBalance(Struct, frozen=True):
    day: date  # the JST calendar day
    balance: int  # closing balance of that day


class Page(Struct, Generic[T], frozen=True):
    items: list[T]
    page: int
    next_page: int  # 0 when there is no next page


def _check_range(start: date, end: date, page: int) -> None:
    if end < start:
        raise InvalidRequest("the range ends before it starts")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidRequest(f"the range is over {MAX_RANGE_DAYS} days")
    if not 1 <= page <= MAX_PAGE:
        raise InvalidRequest(f"page: 1 to {MAX_PAGE}")


def _one(query) -> DailyBalance | None:
    return next(iter(query), None)


class Statements:
    def __init__(self, clock: Clock, retrier: Retrier) -> None:
        self.clock = clock
        self.retrier = retrier

    def _account(self, customer_id: str, account_id: str) -> Account:
        account = self.retrier.run(lambda: read_account(account_id, kind=None))  # a bank or a card account
        if account.customer_id != customer_id:
            raise AccountNotFound()  # someone else's account: as if there were none
        return account

    def transactions(self, customer_id: str, account_id: str, start: date, end: date, page: int) -> Page[StatementLine]:
        """The postings of the JST days start..end (inclusive), oldest first, PAGE_SIZE a page.

        Four calls whatever the page: the account (ownership), the first and the last DailyBalance of the
        range (its seq range), and the page's postings, a key range. Reads are consistent, so a posting
        just committed shows.
        """
        _check_range(start, end, page)
        self._account(customer_id, account_id)
        days = DailyBalance.day.between(start.isoformat(), end.isoformat())
        first = _one(DailyBalance.query(account_id, days, consistent_read=True, limit=1))
        last = _one(DailyBalance.query(account_id, days, consistent_read=True, limit=1, scan_index_forward=False))
        if first is None or last is None:
            return Page([], page, 0)
        lo = int(first.first_seq) + PAGE_SIZE * (page - 1)
        hi = min(int(last.last_seq), lo + PAGE_SIZE - 1)
        if lo > hi:
            return Page([], page, 0)
        lines = [
            StatementLine(
                id=f"{account_id}-{int(posting.seq)}",
                posted_at=posting.posted_at.astimezone(JST),
                amount=int(posting.amount),
                description=posting.description,
                balance=int(posting.balance_after),
            )
            for posting in Posting.query(account_id, Posting.seq.between(lo, hi), consistent_read=True)
        ]
        return Page(lines, page, page + 1 if hi < int(last.last_seq) else 0)

    def balances(self, customer_id: str, account_id: str, start: date, end: date, page: int) -> Page[DayBalance]:
        """The closing balance of each JST day from start to end (inclusive), PAGE_SIZE days a page.

        Days after today (JST) are not listed: they have no balance yet. A day without postings has the
        closing balance of the last day before it that had some, and 0 before the first posting.
        Three calls whatever the page: the account (ownership), the page's DailyBalance items, and the last
        one before the page (the balance carried into it). Postings are never read.
        """
        _check_range(start, end, page)
        self._account(customer_id, account_id)
        last_day = min(end, self.clock.now().astimezone(JST).date())
        skipped = PAGE_SIZE * (page - 1)
        # Compared as day counts: `start + skipped days` may lie past the last date Python has.
        if skipped > (last_day - start).days:
            return Page([], page, 0)
        first_day = start + timedelta(days=skipped)
        window_end = min(last_day, first_day + timedelta(days=PAGE_SIZE - 1))
        before = _one(
            DailyBalance.query(
                account_id,
                DailyBalance.day < first_day.isoformat(),
                consistent_read=True,
                limit=1,
                scan_index_forward=False,
            )
        )
        window = DailyBalance.day.between(first_day.isoformat(), window_end.isoformat())
        closing_of = {
            item.day: int(item.closing) for item in DailyBalance.query(account_id, window, consistent_read=True)
        }
        balance = int(before.closing) if before is not None else 0
        items = []
        for offset in range((window_end - first_day).days + 1):
            day = first_day + timedelta(days=offset)
            balance = closing_of.get(day.isoformat(), balance)
            items.append(DayBalance(day, balance))
        return Page(items, page, page + 1 if window_end < last_day else 0)
