"""Transaction conflicts and throttling (which neither emulator produces) are sent again as they were, with the same
client request token, then decided again on a fresh read with backoff, then answered Busy; an unknown outcome
(a 500) is only ever sent again as it was."""

from __future__ import annotations

import pytest
from pynamodb.connection.base import Connection
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError

from chalicelib.ledger import errors
from chalicelib.store import transactions
from chalicelib.store.transactions import RESENDS, OutcomeUnknown
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


class FailingWrites(list):
    """The errors the next transactions fail with (or `always`), and the client request token of each send."""

    always: TransactWriteError | None = None
    tokens: list[str]
    pauses: list[float]


@pytest.fixture
def failing_writes(monkeypatch):
    """Make the next transactions fail with the given errors, then let them through."""
    pending = FailingWrites()
    pending.tokens, pending.pauses = [], []
    original = Connection.transact_write_items

    def transact_write_items(self, *args, **kwargs):
        pending.tokens.append(kwargs["client_request_token"])
        if pending.always is not None:
            raise pending.always
        if pending:
            raise pending.pop(0)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "transact_write_items", transact_write_items)
    monkeypatch.setattr(transactions.time, "sleep", pending.pauses.append)  # the resends' pauses
    return pending


@pytest.mark.parametrize("failure", [lambda: cancelled("TransactionConflict"), throttled])
def test_commit_is_sent_again_with_its_token_then_succeeds_once(bank, failing_writes, failure):
    rid = bank.holds.reserve("alice", -100, "k", "App")
    failing_writes.tokens.clear()
    failing_writes.extend(failure() for _ in range(3))
    bank.holds.commit([rid])
    assert bank.accounts.balance("alice").balance == 900
    assert len(set(failing_writes.tokens)) == 1 and len(failing_writes.tokens) == 4  # one transaction, 4 sends
    assert len(failing_writes.pauses) == 3 and all(0 <= s <= 0.2 for s in failing_writes.pauses)
    assert bank.retrier.retries == 0  # never decided again


def test_past_its_resends_a_transaction_is_decided_again_with_backoff(bank, failing_writes):
    rid = bank.holds.reserve("alice", -100, "k", "App")
    failing_writes.tokens.clear()
    failing_writes.extend(cancelled("TransactionConflict") for _ in range(RESENDS + 2))
    bank.holds.commit([rid])
    assert bank.retrier.retries == 1 and len(bank.sleeps) == 1
    assert len(set(failing_writes.tokens)) == 2  # the first transaction's sends, then the new decision's
    assert bank.accounts.balance("alice").balance == 900


def test_reserve_conflicting_on_every_try_is_busy_and_writes_nothing(bank, failing_writes):
    failing_writes.always = cancelled("TransactionConflict")
    with pytest.raises(errors.Busy):
        bank.holds.reserve("alice", -100, "k", "App")
    failing_writes.always = None
    assert bank.accounts.balance("alice").available == 1000
    assert bank.retrier.retries == bank.retrier.attempts - 1


def test_backoff_grows_and_is_capped(bank, failing_writes, monkeypatch):
    monkeypatch.setattr("chalicelib.store.transactions.random.uniform", lambda low, high: high)
    rid = bank.holds.reserve("alice", -100, "k", "App")
    failing_writes.extend(cancelled("TransactionConflict") for _ in range(7 * (RESENDS + 1)))
    bank.holds.commit([rid])
    assert bank.sleeps == [0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.25]
    assert failing_writes.pauses[:RESENDS] == [0.02, 0.04, 0.08, 0.16]  # before the first new decision


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


def internal_error() -> TransactWriteError:
    cause = VerboseClientError({"Error": {"Code": "InternalServerError"}}, "TransactWriteItems")
    return TransactWriteError("Failed to write transaction items", cause)


def test_an_internal_error_is_sent_again_as_it_was_never_decided_again(bank, failing_writes):
    """DynamoDB may have applied the write: only the same request (its token) may be sent again."""
    rid = bank.holds.reserve("alice", -100, "k", "App")
    failing_writes.tokens.clear()
    failing_writes.extend([internal_error(), throttled(), internal_error()])
    bank.holds.commit([rid])
    assert len(set(failing_writes.tokens)) == 1 and bank.retrier.retries == 0
    assert bank.accounts.balance("alice").balance == 900


def test_an_outcome_unknown_after_every_resend_is_an_error_not_a_new_decision(bank, failing_writes):
    rid = bank.holds.reserve("alice", -100, "k", "App")
    failing_writes.tokens.clear()
    failing_writes.extend([internal_error()] + [throttled() for _ in range(RESENDS)])
    with pytest.raises(OutcomeUnknown):
        bank.holds.commit([rid])
    assert len(failing_writes.tokens) == RESENDS + 1 and len(set(failing_writes.tokens)) == 1
    assert bank.retrier.retries == 0
