"""Real threads against DynamoDB Local (moto is not safe for this: its transactions are not atomic across threads)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.ledger import errors
from chalicelib.store.models import Account, Hold, Posting
from tests.conftest import make_services

pytestmark = pytest.mark.dynamodb_local


@pytest.fixture
def bank(local_db, clock):
    return make_services(clock, sleep=time.sleep)


def run_together(count, action):
    """Start `count` threads at once; returns each one's result or the exception it raised."""
    barrier = threading.Barrier(count)

    def one(index):
        barrier.wait()
        try:
            return action(index)
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def kinds(results):
    return Counter("ok" if not isinstance(r, Exception) else type(r).__name__ for r in results)


def test_50_parallel_debits_of_100_on_1000_accept_exactly_10(bank):
    bank.accounts.open("alice", "Alice")
    bank.accounts.deposit("alice", 1000, "入金")
    results = run_together(50, lambda i: bank.holds.reserve("alice", -100, "k", "App"))
    assert kinds(results) == {"ok": 10, "InsufficientFunds": 40}
    balance = bank.accounts.balance("alice")
    assert (balance.balance, balance.available, balance.held) == (1000, 0, 1000)
    ids = [r for r in results if not isinstance(r, Exception)]
    bank.holds.commit(ids[:5])
    bank.holds.cancel(ids[5:])
    assert bank.accounts.balance("alice").balance == 500
    assert bank.accounts.balance("alice").available == 500


def test_20_parallel_commits_of_one_reserve_settle_it_once(bank):
    bank.accounts.open("alice", "Alice")
    bank.accounts.deposit("alice", 1000, "入金")
    rid = bank.holds.reserve("alice", -300, "k", "App")
    results = run_together(20, lambda i: bank.holds.commit([rid]))
    assert kinds(results) == {"ok": 1, "HoldAlreadyResolved": 19}
    assert bank.accounts.balance("alice").balance == 700
    assert [p.amount for p in Posting.query("alice")] == [1000, -300]


@pytest.mark.parametrize("round_", range(5))
def test_parallel_commit_and_cancel_exactly_one_wins(bank, round_):
    bank.accounts.open("alice", "Alice")
    bank.accounts.deposit("alice", 1000, "入金")
    rid = bank.holds.reserve("alice", -250, "k", "App")
    actions = [bank.holds.commit, bank.holds.cancel] * 5
    results = run_together(len(actions), lambda i: (actions[i]([rid]), actions[i].__name__)[1])
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, errors.HoldAlreadyResolved) for r in results if isinstance(r, Exception))
    expected = 750 if winners == ["commit"] else 1000
    balance = bank.accounts.balance("alice")
    assert (balance.balance, balance.available) == (expected, expected)
    assert Hold.get(rid).status == ("committed" if winners == ["commit"] else "cancelled")


def test_money_is_conserved_under_a_random_concurrent_mix(bank, clock):
    users = [f"user{n}" for n in range(6)]
    for user in users:
        bank.accounts.open(user, user)
        bank.accounts.deposit(user, 5_000, "入金")
    committed = Counter()
    lock = threading.Lock()

    def worker(index):
        rng = random.Random(index)
        for _ in range(12):
            # A transfer: a debit on one account and a credit on another, committed (or cancelled) together.
            source, target = rng.sample(users, 2)
            amount = rng.randint(1, 2_000)
            try:
                debit = bank.holds.reserve(source, -amount, "k", "App")
            except errors.InsufficientFunds:
                continue
            credit = bank.holds.reserve(target, amount, "k", "App")
            if rng.random() < 0.7:
                bank.holds.commit([debit, credit])
                with lock:
                    committed[source] -= amount
                    committed[target] += amount
            else:
                bank.holds.cancel([debit, credit])

    results = run_together(8, worker)
    assert [r for r in results if isinstance(r, Exception)] == []
    total = 0
    for user in users:
        account = Account.get(user, consistent_read=True)
        assert int(account.balance) == 5_000 + committed[user]
        assert int(account.balance) >= 0
        assert int(account.available) == int(account.balance)  # nothing left held
        postings = list(Posting.query(user))
        assert [int(p.seq) for p in postings] == list(range(1, len(postings) + 1))
        running = 0
        for posting in postings:
            running += int(posting.amount)
            assert int(posting.balance_after) == running
        total += int(account.balance)
    assert total == 5_000 * len(users)
