"""Running DynamoDB write transactions and telling their failures apart.

A cancelled transaction means one of two things to the ledger: a condition it wrote no longer holds
(re-read and decide again), or DynamoDB could not serialise it right now (back off and try again).
A transaction whose outcome is unknown (a 500, a timeout: it may have been applied) is sent again exactly as
it was, with its client request token: DynamoDB applies a token's transaction at most once (for ten minutes),
so a repeat of one that was applied answers success and changes nothing. Deciding again on a fresh read
instead could apply it twice (a deposit) or refuse what was done (a commit already committed).
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


# After botocore's own resends (which keep the token too): how many more, and the first pause between them.
UNKNOWN_OUTCOME_RESENDS = 4
UNKNOWN_OUTCOME_PAUSE_SECONDS = 0.05


# Answers after which a transaction may have been applied: None is no answer at all (a timeout, a reset);
# TransactionInProgress answers a resend that came while the first send was still being applied.
_UNKNOWN_OUTCOME_CODES = frozenset(
    {None, "InternalServerError", "InternalFailure", "ServiceUnavailable", "TransactionInProgressException"}
)


class ConditionFailed(Exception):
    """A condition of the transaction did not hold: state changed since it was read."""


class TransientFailure(Exception):
    """DynamoDB refused for now (conflict, throttling): retrying later can succeed."""


class Busy(Exception):
    """Still conflicting or throttled after every retry; the caller should try again later."""


def is_transient(error: PynamoDBException) -> bool:
    return error.cause_response_code in _TRANSIENT_CODES


def write_transaction(build: Callable[[TransactWrite], None]) -> None:
    """Run one transaction whose items `build` adds (a pure function: it is called again for a resend); raise
    ConditionFailed or TransientFailure."""
    token = str(uuid.uuid4())
    for resend in range(UNKNOWN_OUTCOME_RESENDS + 1):
        try:
            with TransactWrite(connection=shared_connection(Account.Meta.region), client_request_token=token) as t:
                build(t)
            return
        except TransactWriteError as error:
            codes = {reason.code for reason in error.cancellation_reasons if reason is not None}
            if "ConditionalCheckFailed" in codes:
                count("ConditionalCheckFailures")
                raise ConditionFailed() from error
            if codes & _TRANSIENT_CODES or is_transient(error):
                raise TransientFailure() from error
            if error.cause_response_code not in _UNKNOWN_OUTCOME_CODES or resend == UNKNOWN_OUTCOME_RESENDS:
                raise
            count("TransactionResends")
            time.sleep(UNKNOWN_OUTCOME_PAUSE_SECONDS * 2**resend)


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
