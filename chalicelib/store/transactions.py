"""Running DynamoDB write transactions and telling their failures apart.

A cancelled transaction means one of two things to the ledger: a condition it wrote no longer holds
(re-read and decide again), or DynamoDB could not serialise it right now (try again).
A transaction is always tried again as it was sent, with its client request token: DynamoDB applies a token's
transaction at most once (for ten minutes), so a repeat of one that was applied answers success and changes
nothing. That matters because an earlier send may have been applied without our knowing (a 500, a timeout,
even one that botocore retried into a throttling error): deciding again on a fresh read could then apply it
twice (a deposit) or refuse what was done (a commit "already committed", a purchase "duplicate reference").
Only when the resends run out is the caller told to decide again, and never after an unknown outcome.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.observability import count
from chalicelib.store.models import Account, shared_connection

T = TypeVar("T")

# Reasons and error codes that say "not now, and nothing was written". An InternalServerError is not
# one of them: the write may have been applied, so it is not retried with a new request.
_TRANSIENT_CODES = frozenset(
    {
        "TransactionConflict",
        "TransactionConflictException",
        "ThrottlingError",
        "ThrottlingException",
        "ProvisionedThroughputExceeded",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
    }
)


# After botocore's own retries (which keep the token too): how many more sends, and the first pause's bound.
RESENDS = 4
RESEND_PAUSE_SECONDS = 0.02


# Answers after which a transaction may have been applied: None is no answer at all (a timeout, a reset);
# TransactionInProgress answers a resend that came while the first send was still being applied.
_UNKNOWN_OUTCOME_CODES = frozenset(
    {None, "InternalServerError", "InternalFailure", "ServiceUnavailable", "TransactionInProgressException"}
)


class ConditionFailed(Exception):
    """A condition of the transaction did not hold: state changed since it was read."""


class TransientFailure(Exception):
    """DynamoDB refused for now (conflict, throttling): retrying later can succeed."""


class OutcomeUnknown(Exception):
    """Applied or not, nobody can tell: sent again as it was until the resends ran out. Never retried with a new
    decision; the API answers 500 and a client retries (a card operation with its Idempotency-Key)."""


class Busy(Exception):
    """Still conflicting or throttled after every retry; the caller should try again later."""


def is_transient(error: PynamoDBException) -> bool:
    return error.cause_response_code in _TRANSIENT_CODES


def write_transaction(build: Callable[[TransactWrite], None]) -> None:
    """Run one transaction whose items `build` adds (a pure function: it is called again for a resend); raise
    ConditionFailed, TransientFailure or OutcomeUnknown."""
    token = str(uuid.uuid4())
    uncertain = False  # a send of it may have been applied
    for resend in range(RESENDS + 1):
        try:
            with TransactWrite(connection=shared_connection(Account.Meta.region), client_request_token=token) as t:
                build(t)
            return
        except TransactWriteError as error:
            codes = {reason.code for reason in error.cancellation_reasons if reason is not None}
            if "ConditionalCheckFailed" in codes:
                count("ConditionalCheckFailures")
                raise ConditionFailed() from error
            transient = bool(codes & _TRANSIENT_CODES) or is_transient(error)
            unknown = not transient and error.cause_response_code in _UNKNOWN_OUTCOME_CODES
            if not (transient or unknown):
                raise
            uncertain = uncertain or unknown
            if resend == RESENDS:
                if uncertain:
                    raise OutcomeUnknown() from error
                raise TransientFailure() from error
            count("TransactionResends")
            time.sleep(random.uniform(0, RESEND_PAUSE_SECONDS * 2**resend))  # noqa: S311 jitter


class Retrier:
    """Bounded retries with exponential backoff and full jitter; counts what it did."""

    def __init__(
        self,
        attempts: int = 20,
        base_delay: float = 0.01,
        max_delay: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.retries = 0  # across calls and threads: for metrics and the benchmark
        self._lock = threading.Lock()

    def run(self, attempt: Callable[[], T]) -> T:
        """Call `attempt` until it returns; a failed condition or a transient error means try again."""
        for number in range(self.attempts):
            try:
                return attempt()
            except (ConditionFailed, TransientFailure):
                pass
            except PynamoDBException as error:
                if not is_transient(error):
                    raise
            if number < self.attempts - 1:
                with self._lock:
                    self.retries += 1
                count("TransactionRetries")
                self.sleep(random.uniform(0, min(self.max_delay, self.base_delay * 2**number)))  # noqa: S311 jitter
        raise Busy()
