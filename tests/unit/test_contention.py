"""Transaction conflicts and throttling (which neither emulator produces) are retried, then answered Busy."""

from __future__ import annotations

import pytest
from pynamodb.connection.base import Connection
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError

from chalicelib.ledger import errors
from tests.conftest import make_services


def cancelled(code: str) -> TransactWriteError:
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=[CancellationReason(code=code), None],
    )
    return TransactWriteError("Failed to write transaction items", cause)


def throttled() -> TransactWriteError:
    cause = VerboseClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "TransactWriteItems"
    )
    return TransactWriteError("Failed to write transaction items", cause)


@pytest.fixture
def bank(moto_db, clock):
    sleeps = []
    services = make_services(clock, sleep=sleeps.append)
    services.accounts.open("alice", "Alice")
    services.accounts.deposit("alice", 1000, "入金")
    services.sleeps = sleeps
    return services


@pytest.fixture
def failing_writes(monkeypatch):
    """Make the next transactions fail with the given errors, then let them through."""
    pending: list[TransactWriteError] = []
    original = Connection.transact_write_items

    def transact_write_items(self, *args, **kwargs):
        if pending:
            raise pending.pop(0)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "transact_write_items", transact_write_items)
    return pending


@pytest.mark.parametrize("failure", [lambda: cancelled("TransactionConflict"), throttled])
def test_commit_retries_with_backoff_then_succeeds_once(bank, failing_writes, failure):
    rid = bank.holds.reserve("alice", -100, "k", "App")
    failing_writes.extend(failure() for _ in range(3))
    bank.holds.commit([rid])
    assert bank.accounts.balance("alice").balance == 900
    assert len(bank.sleeps) == 3 and all(0 <= s <= 0.5 for s in bank.sleeps)
    assert bank.retrier.retries == 3


def test_reserve_conflicting_on_every_try_is_busy_and_writes_nothing(bank, failing_writes):
    failing_writes.extend(cancelled("TransactionConflict") for _ in range(50))
    with pytest.raises(errors.Busy):
        bank.holds.reserve("alice", -100, "k", "App")
    failing_writes.clear()
    assert bank.accounts.balance("alice").available == 1000
    assert bank.retrier.retries == bank.retrier.attempts - 1


def test_backoff_grows_and_is_capped(bank, failing_writes, monkeypatch):
    monkeypatch.setattr("chalicelib.store.transactions.random.uniform", lambda low, high: high)
    rid = bank.holds.reserve("alice", -100, "k", "App")
    failing_writes.extend(cancelled("TransactionConflict") for _ in range(7))
    bank.holds.commit([rid])
    assert bank.sleeps == [0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.25]


def test_throttled_reads_are_retried_then_busy(bank, monkeypatch):
    from pynamodb.exceptions import GetError

    from chalicelib.store.models import Account

    original = Account.get
    failures = iter(range(2))

    def throttled_get(*args, **kwargs):
        if next(failures, None) is not None:
            raise GetError(
                "Failed to get item",
                VerboseClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "GetItem"),
            )
        return original(*args, **kwargs)

    monkeypatch.setattr(Account, "get", throttled_get)
    bank.accounts.check("alice", 1000)
    assert bank.retrier.retries == 2
    failures = iter(range(100))
    with pytest.raises(errors.Busy):
        bank.accounts.check("alice", 1)


def test_an_internal_error_is_not_retried(bank, failing_writes):
    """DynamoDB may have applied the write: retrying with a new request could apply it twice."""
    cause = VerboseClientError({"Error": {"Code": "InternalServerError"}}, "TransactWriteItems")
    rid = bank.holds.reserve("alice", -100, "k", "App")
    failing_writes.append(TransactWriteError("Failed to write transaction items", cause))
    with pytest.raises(TransactWriteError):
        bank.holds.commit([rid])
    assert bank.retrier.retries == 0
