"""Statements: postings over JST date ranges and daily closing balances, read through DailyBalance items."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from chalicelib.clock import JST
from chalicelib.ledger import errors
from chalicelib.ledger.changes import AccountChange, read_account
from chalicelib.ledger.statements import MAX_RANGE_DAYS, PAGE_SIZE, DayBalance
from chalicelib.store.models import DEPOSIT, DailyBalance
from chalicelib.store.transactions import write_transaction
from tests.conftest import make_services
from tests.support.calls import dynamodb_calls, dynamodb_reads

# A month of history ending before the clock fixture's now (2026-11-23 12:00 JST).
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))


def open_accounts(clock):
    services = make_services(clock)
    services.accounts.open("alice", "Alice")
    services.accounts.open("bob", "Bob")
    return services


@pytest.fixture
def bank(any_db, clock):
    return open_accounts(clock)


def post_history(account_id: str, times: list[datetime], amount: int = 100) -> None:
    """Deposits back-dated to `times` (ascending, none in the future) through AccountChange, many a
    transaction so that long histories are quick to build."""
    for start in range(0, len(times), 80):
        account = read_account(account_id)
        change = AccountChange(account_id, max(times[start : start + 80]), read=account)
        for at in times[start : start + 80]:
            change.post(amount, f"入金 {at:%m/%d %H:%M}", DEPOSIT, at=at)
        write_transaction(change.add_to)


def every(start: datetime, step: timedelta, count: int) -> list[datetime]:
    return [start + step * n for n in range(count)]


def test_a_committed_debit_is_a_negative_line_and_sets_the_closing_balance(bank):
    bank.accounts.deposit("alice", 1000, "給与")
    rid = bank.holds.reserve("alice", -300, "app-key", "Demo App")
    bank.holds.commit([rid])
    today = date(2026, 11, 23)
    page = bank.statements.transactions("alice", "alice", today, today, 1)
    assert [(line.id, line.amount, line.description, line.balance) for line in page.items] == [
        ("alice-1", 1000, "給与", 1000),
        ("alice-2", -300, "Demo App", 700),
    ]
    assert page.items[0].posted_at == datetime(2026, 11, 23, 12, tzinfo=JST)
    assert (page.page, page.next_page) == (1, 0)
    daily = DailyBalance.get("alice", "2026-11-23")
    assert (daily.closing, daily.first_seq, daily.last_seq) == (700, 1, 2)
    assert bank.statements.balances("alice", "alice", today, today, 1).items == [DayBalance(today, 700)]


def test_transactions_page_through_more_than_400_postings_across_a_month_boundary(bank):
    # 450 postings every 3 hours from 2026-09-20: into October.
    times = every(datetime(2026, 9, 20, tzinfo=JST), timedelta(hours=3), 450)
    post_history("alice", times)
    start, end = date(2026, 9, 25), date(2026, 11, 30)
    in_range = [t for t in times if t.date() >= start]
    pages = [bank.statements.transactions("alice", "alice", start, end, n) for n in (1, 2, 3)]
    assert [len(p.items) for p in pages] == [200, 200, len(in_range) - 400]
    assert [p.next_page for p in pages] == [2, 3, 0]
    lines = [line for p in pages for line in p.items]
    assert [line.posted_at for line in lines] == in_range
    assert [line.balance for line in lines] == [100 * (times.index(t) + 1) for t in in_range]
    assert len({line.id for line in lines}) == len(lines)
    past_the_end = bank.statements.transactions("alice", "alice", start, end, 4)
    assert (past_the_end.items, past_the_end.next_page) == ([], 0)


def test_jst_day_boundaries(bank):
    late, midnight = datetime(2026, 11, 1, 23, 59, 59, tzinfo=JST), datetime(2026, 11, 2, tzinfo=JST)
    post_history("alice", [late, midnight])
    first, second = date(2026, 11, 1), date(2026, 11, 2)
    assert [line.posted_at for line in bank.statements.transactions("alice", "alice", first, first, 1).items] == [late]
    assert [line.posted_at for line in bank.statements.transactions("alice", "alice", second, second, 1).items] == [
        midnight
    ]
    assert bank.statements.balances("alice", "alice", first, second, 1).items == [
        DayBalance(first, 100),
        DayBalance(second, 200),
    ]


def test_balances_carry_forward_start_at_zero_and_stop_at_today(bank, clock):
    post_history("alice", [datetime(2026, 11, 10, 9, tzinfo=JST), datetime(2026, 11, 12, 18, tzinfo=JST)])
    page = bank.statements.balances("alice", "alice", date(2026, 11, 8), date(2026, 12, 31), 1)
    assert [b.balance for b in page.items] == [0, 0, 100, 100, 200] + [200] * 11  # 8th .. 23rd (today)
    assert page.items[-1].day == date(2026, 11, 23) and page.next_page == 0
    # Starting after the first posting: the balance carried in is that of the last day before.
    later = bank.statements.balances("alice", "alice", date(2026, 11, 11), date(2026, 11, 11), 1)
    assert later.items == [DayBalance(date(2026, 11, 11), 100)]
    assert bank.statements.balances("alice", "alice", date(2026, 12, 1), date(2026, 12, 5), 1).items == []
    # Days pass: tomorrow is listed once it is today (JST).
    clock.advance(hours=12)  # 2026-11-24 00:00 JST
    assert bank.statements.balances("alice", "alice", date(2026, 11, 24), date(2026, 12, 5), 1).items == [
        DayBalance(date(2026, 11, 24), 200)
    ]


def test_balances_page_by_200_days(bank):
    post_history("alice", [datetime(2026, 1, 1, 10, tzinfo=JST), datetime(2026, 9, 1, 10, tzinfo=JST)])
    start, end = date(2025, 12, 1), date(2026, 11, 30)
    first, second = (bank.statements.balances("alice", "alice", start, end, n) for n in (1, 2))
    assert (len(first.items), first.next_page) == (PAGE_SIZE, 2)
    assert first.items[0] == DayBalance(start, 0) and first.items[31] == DayBalance(date(2026, 1, 1), 100)
    assert second.items[0] == DayBalance(start + timedelta(days=PAGE_SIZE), 100)  # carried into the page
    assert second.items[-1] == DayBalance(date(2026, 11, 23), 200) and second.next_page == 0
    assert bank.statements.balances("alice", "alice", start, end, 3).items == []


def test_an_account_without_postings(bank):
    day = date(2026, 11, 23)
    assert bank.statements.transactions("bob", "bob", day, day, 1).items == []
    assert bank.statements.balances("bob", "bob", day, day, 1).items == [DayBalance(day, 0)]


@pytest.mark.parametrize("read", ["transactions", "balances"])
def test_unknown_and_foreign_accounts_are_not_found(bank, read):
    day = date(2026, 11, 23)
    statement = getattr(bank.statements, read)
    for customer_id, account_id in (("alice", "nobody"), ("bob", "alice"), ("nobody", "alice")):
        with pytest.raises(errors.AccountNotFound):
            statement(customer_id, account_id, day, day, 1)


@pytest.mark.parametrize("read", ["transactions", "balances"])
def test_bad_ranges_and_pages_are_invalid(bank, read):
    statement = getattr(bank.statements, read)
    day = date(2026, 11, 23)
    statement("alice", "alice", day - timedelta(days=MAX_RANGE_DAYS - 1), day, 1)  # a year, a leap one too
    for start, end, page in (
        (day, day - timedelta(days=1), 1),
        (day - timedelta(days=MAX_RANGE_DAYS), day, 1),
        (day, day, 0),
        (day, day, -1),
        (day, day, 10**6 + 1),
    ):
        with pytest.raises(errors.InvalidRequest):
            statement("alice", "alice", start, end, page)


@pytest.mark.parametrize("read", ["transactions", "balances"])
def test_far_pages_and_the_calendars_ends_are_empty_pages_not_errors(bank, read):
    statement = getattr(bank.statements, read)
    for start, end in ((date.max - timedelta(days=10), date.max), (date.min, date.min + timedelta(days=10))):
        page = statement("alice", "alice", start, end, 10**6)
        assert (page.items, page.next_page) == ([], 0)


# On DynamoDB Local only: moto copies its tables in every transaction, so 1,000 postings take it ~15 s.
@pytest.mark.dynamodb_local
def test_a_page_costs_the_same_whichever_page_it_is(local_db, clock):
    bank = open_accounts(clock)
    # 1,000 postings in October, every 40 minutes.
    post_history("alice", every(datetime(2026, 10, 1, tzinfo=JST), timedelta(minutes=40), 1000))
    costs = {}
    for page in (1, 5):
        with dynamodb_calls() as calls, dynamodb_reads() as reads:
            result = bank.statements.transactions("alice", "alice", *OCTOBER, page)
        assert len(result.items) == PAGE_SIZE
        assert calls == ["GetItem", "Query", "Query", "Query"]
        costs[page] = reads
    assert costs[1] == costs[5] == [1, 1, 1, PAGE_SIZE]  # items read: account, first day, last day, the page
    assert bank.statements.transactions("alice", "alice", *OCTOBER, 5).next_page == 0
    with dynamodb_calls() as calls, dynamodb_reads() as reads:
        month = bank.statements.balances("alice", "alice", *OCTOBER, 1)
    assert len(month.items) == 31 and month.items[-1].balance == 100_000
    assert calls == ["GetItem", "Query", "Query"]
    assert reads == [1, 0, 28]  # the account, nothing before October, its 28 days with postings


def test_back_dated_deposits(bank, clock):
    now = clock.now()
    bank.accounts.deposit("alice", 100, "ATM入金", at=now - timedelta(days=30))
    bank.accounts.deposit("alice", 100, "ATM入金", at=now - timedelta(days=30))  # the same instant: fine
    bank.accounts.deposit("alice", 100, "給与", at=now - timedelta(days=2))
    for at in (now - timedelta(days=3), now + timedelta(seconds=1)):
        with pytest.raises(errors.InvalidRequest):
            bank.accounts.deposit("alice", 100, "入金", at=at)
    bank.accounts.deposit("alice", 100, "入金")
    with pytest.raises(errors.InvalidRequest):  # before the last posting, made just now
        bank.accounts.deposit("alice", 100, "入金", at=now - timedelta(seconds=1))
    page = bank.statements.transactions("alice", "alice", date(2026, 10, 1), date(2026, 11, 30), 1)
    assert [line.posted_at for line in page.items] == [now - timedelta(days=30)] * 2 + [now - timedelta(days=2), now]
    assert bank.accounts.balance("alice").balance == 400


def test_posting_times_never_go_backwards_nor_do_days(bank, clock):
    # A writer whose clock lags the account's last posting posts at that posting's time, on its day.
    clock.advance(hours=12, seconds=1)  # 2026-11-24 00:00:01 JST
    bank.accounts.deposit("alice", 100, "入金")
    ahead = clock.now()
    clock.advance(seconds=-2)  # 2026-11-23 23:59:59 JST
    bank.accounts.deposit("alice", 100, "入金")
    day = date(2026, 11, 24)
    assert [line.posted_at for line in bank.statements.transactions("alice", "alice", day, day, 1).items] == [ahead] * 2
    assert DailyBalance.count("alice") == 1
