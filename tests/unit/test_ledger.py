"""The ledger's rules, run on moto and on DynamoDB Local alike."""

from __future__ import annotations

import pytest

from chalicelib.ledger import errors
from chalicelib.store.models import Account, Hold, Posting
from tests.conftest import make_services


@pytest.fixture
def bank(any_db, clock):
    services = make_services(clock)
    services.accounts.open("alice", "Alice")
    services.accounts.open("bob", "Bob")
    services.accounts.deposit("alice", 1000, "入金")
    return services


def reserve(bank, account_id, price):
    return bank.holds.reserve(account_id, price, "app-key", "Demo App")


def postings(account_id):
    return list(Posting.query(account_id))


def test_debit_reserve_holds_funds_until_commit(bank):
    rid = reserve(bank, "alice", -300)
    assert bank.accounts.balance("alice").available == 700
    assert bank.accounts.balance("alice").balance == 1000
    bank.holds.commit([rid])
    balance = bank.accounts.balance("alice")
    assert (balance.balance, balance.available, balance.held) == (700, 700, 0)
    assert [(p.amount, p.balance_after, p.description) for p in postings("alice")] == [
        (1000, 1000, "入金"),
        (-300, 700, "Demo App"),
    ]


def test_debit_beyond_available_is_refused(bank):
    reserve(bank, "alice", -600)
    with pytest.raises(errors.InsufficientFunds):
        reserve(bank, "alice", -401)
    reserve(bank, "alice", -400)
    assert bank.accounts.balance("alice").available == 0


def test_credit_reserve_counts_for_nothing_until_committed(bank):
    rid = reserve(bank, "bob", 500)
    assert bank.accounts.balance("bob").available == 0
    with pytest.raises(errors.InsufficientFunds):
        bank.accounts.check("bob", 1)
    bank.holds.commit([rid])
    assert bank.accounts.balance("bob").balance == 500
    bank.accounts.check("bob", 500)


def test_check_ignores_holds(bank):
    reserve(bank, "alice", -1000)
    bank.accounts.check("alice", 1000)
    with pytest.raises(errors.InsufficientFunds):
        bank.accounts.check("alice", 1001)


def test_unknown_account(bank):
    with pytest.raises(errors.AccountNotFound):
        reserve(bank, "nobody", -1)
    with pytest.raises(errors.AccountNotFound):
        reserve(bank, "nobody", 1)
    with pytest.raises(errors.AccountNotFound):
        bank.accounts.check("nobody", 0)


def test_zero_and_absurd_amounts_are_invalid(bank):
    for price in (0, 10**12 + 1, -(10**12) - 1):
        with pytest.raises(errors.InvalidRequest):
            reserve(bank, "alice", price)
    with pytest.raises(errors.InvalidRequest):
        bank.accounts.check("alice", -1)


def test_commit_of_several_accounts_is_all_or_nothing(bank):
    debit = reserve(bank, "alice", -100)
    credit = reserve(bank, "bob", 100)
    cancelled = reserve(bank, "alice", -50)
    bank.holds.cancel([cancelled])
    with pytest.raises(errors.HoldAlreadyResolved):
        bank.holds.commit([debit, credit, cancelled])
    assert bank.accounts.balance("alice").balance == 1000
    assert bank.accounts.balance("bob").balance == 0
    bank.holds.commit([debit, credit])
    assert bank.accounts.balance("alice").balance == 900
    assert bank.accounts.balance("bob").balance == 100


def test_a_hold_resolves_once(bank):
    rid = reserve(bank, "alice", -100)
    bank.holds.commit([rid])
    with pytest.raises(errors.HoldAlreadyResolved):
        bank.holds.commit([rid])
    with pytest.raises(errors.HoldAlreadyResolved):
        bank.holds.cancel([rid])
    assert bank.accounts.balance("alice").balance == 900


def test_cancel_releases_the_funds(bank):
    rid = reserve(bank, "alice", -1000)
    bank.holds.cancel([rid])
    assert bank.accounts.balance("alice").available == 1000
    assert len(postings("alice")) == 1  # cancelled holds post nothing


def test_unknown_reserve_id(bank):
    rid = reserve(bank, "alice", -1)
    with pytest.raises(errors.HoldNotFound):
        bank.holds.commit([rid, 12345])
    with pytest.raises(errors.HoldNotFound):
        bank.holds.cancel([12345])


def test_live_hold_commits_at_4_59(bank, clock):
    rid = reserve(bank, "alice", -100)
    clock.advance(minutes=4, seconds=59)
    bank.holds.commit([rid])
    assert bank.accounts.balance("alice").balance == 900


def test_hold_refuses_at_5_00_and_stops_counting(bank, clock):
    rid = reserve(bank, "alice", -1000)
    clock.advance(minutes=4, seconds=59, milliseconds=999)
    assert bank.accounts.balance("alice").available == 0
    clock.advance(milliseconds=1)
    assert bank.accounts.balance("alice").available == 1000
    with pytest.raises(errors.HoldExpired):
        bank.holds.commit([rid])
    with pytest.raises(errors.HoldExpired):
        bank.holds.cancel([rid])
    # No job ran, yet the expired hold no longer counts against a new reserve.
    reserve(bank, "alice", -1000)
    assert bank.accounts.balance("alice").available == 0


def test_expired_holds_are_answered_long_after(bank, clock):
    rid = reserve(bank, "alice", -10)
    clock.advance(days=29)
    with pytest.raises(errors.HoldExpired):
        bank.holds.commit([rid])
    assert Hold.get(rid).purge_at > clock.now()


def test_expired_buckets_are_pruned_by_the_next_reading_write(bank, clock):
    reserve(bank, "alice", -10)
    clock.advance(seconds=1)
    reserve(bank, "alice", -20)
    clock.advance(minutes=10)
    assert len(Account.get("alice").held) == 2
    bank.accounts.deposit("alice", 1, "入金")
    account = Account.get("alice")
    assert account.held == {}
    assert (account.balance, account.available) == (1001, 1001)


def test_commit_and_cancel_refuse_more_items_than_a_transaction_takes(bank):
    with pytest.raises(errors.TooManyItems):
        bank.holds.commit(list(range(1, 51)))
    with pytest.raises(errors.TooManyItems):
        bank.holds.cancel(list(range(1, 101)))
    # 25 holds on 25 accounts need 100 items to commit (hold, account, posting, day's balance): it fits.
    ids = []
    for n in range(25):
        bank.accounts.open(f"user{n}", "User")
        ids.append(reserve(bank, f"user{n}", 1))
    bank.holds.commit(ids)
    # 26 holds on 26 accounts would need 104.
    more = []
    for n in range(26):
        more.append(reserve(bank, f"user{n}" if n < 25 else "bob", 1))
    with pytest.raises(errors.TooManyItems):
        bank.holds.commit(more)


def test_many_holds_of_one_account_commit_in_one_transaction(bank):
    ids = [reserve(bank, "alice", -10) for _ in range(49)]
    bank.holds.commit(ids)
    assert bank.accounts.balance("alice").balance == 510
    assert [p.balance_after for p in postings("alice")][-1] == 510
    assert [p.seq for p in postings("alice")] == list(range(1, 51))


def test_reserve_id_collision_gets_a_fresh_id(bank):
    first = reserve(bank, "alice", -1)
    ids = iter([first, first + 1])
    bank.ids.reserve_id = lambda: next(ids)
    assert reserve(bank, "alice", -1) == first + 1
    assert bank.accounts.balance("alice").available == 998


def test_opening_an_existing_account_is_refused(bank):
    with pytest.raises(errors.AccountExists):
        bank.accounts.open("alice", "Again")
