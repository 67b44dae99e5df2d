"""Idempotency keys of the card gateway: a merchant's retry of a request with the same `Idempotency-Key`
gets the first answer again (declines included), instead of a second payment.

- The first request with a key claims it (a conditional put) before it runs, and stores its answer after.
- The same key with another request (method, path or body): IdempotencyMismatch; while the first is still
  running: IdempotencyInFlight. A request that failed unexpectedly (5xx) gives its key back, so a retry
  runs anew; one that died mid-way frees it after IN_FLIGHT_LIFETIME.
- A claim carries the id of the transaction the request makes, and a retry that takes over a key given back
  gets the same id: if the failed try did make its transaction after all (its outcome unknown), the retry
  finds it by that id, and cannot make it twice (a transaction is written on condition its id is new).
- A key lives KEY_LIFETIME (24 hours) on the injected clock, whatever TTL has deleted.

Not Powertools' idempotency utility: it reads the wall clock (expiry tests would have to sleep), needs a
Lambda context to expire an in-flight record (without one it warns on every call, a line that is no log
record), and keeps its records through a client and schema of its own, beside the pynamodb models that
infra/ is generated from.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from msgspec import Struct
from pynamodb.exceptions import PutError, UpdateError

from chalicelib.clock import Clock, epoch_ms
from chalicelib.observability import logger
from chalicelib.store.models import IdempotencyRecord
from chalicelib.store.transactions import Retrier

KEY_LIFETIME = timedelta(hours=24)
IN_FLIGHT_LIFETIME = timedelta(seconds=30)
MAX_KEY_LENGTH = 255
IN_FLIGHT, DONE = "in_flight", "done"
_CONDITION_FAILED = "ConditionalCheckFailedException"


class IdempotencyMismatch(Exception):
    """The key was used with another request."""


class IdempotencyInFlight(Exception):
    """The first request with this key is still running."""


class Claimed(Struct, frozen=True):
    transaction_id: str  # of the transaction the request makes
    resumed: bool = False  # taken over from a try that gave the key back: it may have made that transaction


class Replay(Struct, frozen=True):
    status: int
    body: str  # the JSON answered


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class Idempotency:
    def __init__(self, clock: Clock, retrier: Retrier) -> None:
        self.clock = clock
        self.retrier = retrier

    def begin(self, merchant_id: str, key: str, fingerprint: str) -> Claimed | Replay:
        """Claim the key for this request (go on, with the id its transaction takes), or the first answer."""
        now_ms = epoch_ms(self.clock.now())
        record = IdempotencyRecord(
            f"{merchant_id}#{key}",
            request_hash=fingerprint,
            state=IN_FLIGHT,
            in_flight_until_ms=now_ms + int(IN_FLIGHT_LIFETIME.total_seconds() * 1000),
            expires_at_ms=now_ms + int(KEY_LIFETIME.total_seconds() * 1000),
            operation_id=str(uuid.uuid4()),
            purge_at=self.clock.now() + KEY_LIFETIME + timedelta(days=1),
        )
        new_or_expired = IdempotencyRecord.key.does_not_exist() | (IdempotencyRecord.expires_at_ms <= now_ms)
        try:
            self.retrier.run(lambda: record.save(condition=new_or_expired))
            return Claimed(record.operation_id)
        except PutError as error:
            if error.cause_response_code != _CONDITION_FAILED:
                raise
        held = self.retrier.run(lambda: IdempotencyRecord.get(record.key, consistent_read=True))
        if held.request_hash != fingerprint:
            raise IdempotencyMismatch()
        if held.state == DONE:
            return Replay(int(held.status), held.body)
        if int(held.in_flight_until_ms) > now_ms:
            raise IdempotencyInFlight()
        # Given back, or its request died mid-way: this retry takes it over, with the transaction id it had.
        operation_id = held.operation_id or record.operation_id
        try:
            self.retrier.run(
                lambda: held.update(
                    actions=[
                        IdempotencyRecord.in_flight_until_ms.set(record.in_flight_until_ms),
                        IdempotencyRecord.operation_id.set(operation_id),
                    ],
                    condition=(IdempotencyRecord.state == IN_FLIGHT)
                    & (IdempotencyRecord.in_flight_until_ms == int(held.in_flight_until_ms)),
                )
            )
        except UpdateError as error:
            if error.cause_response_code != _CONDITION_FAILED:
                raise
            raise IdempotencyInFlight() from None  # another retry took it over first
        return Claimed(operation_id, resumed=True)

    def finish(self, merchant_id: str, key: str, fingerprint: str, answer: Replay) -> None:
        """Keep the answer for the key's retries."""
        record = IdempotencyRecord(f"{merchant_id}#{key}")
        try:
            self.retrier.run(
                lambda: record.update(
                    actions=[
                        IdempotencyRecord.state.set(DONE),
                        IdempotencyRecord.status.set(answer.status),
                        IdempotencyRecord.body.set(answer.body),
                    ],
                    condition=(IdempotencyRecord.request_hash == fingerprint) & (IdempotencyRecord.state == IN_FLIGHT),
                )
            )
        except UpdateError:
            # The answer stands (the payment is made); only its replay is lost: a retry after the in-flight
            # lifetime runs again, and a repeated merchant_txn_ref refuses it.
            logger.warning("idempotency answer not kept", exc_info=True)

    def abandon(self, merchant_id: str, key: str, fingerprint: str) -> None:
        """Give the key back (the request failed unexpectedly: a retry must run anew), keeping the id of the
        transaction it may have made."""
        record = IdempotencyRecord(f"{merchant_id}#{key}")
        try:
            record.update(
                actions=[IdempotencyRecord.in_flight_until_ms.set(0)],
                condition=(IdempotencyRecord.request_hash == fingerprint) & (IdempotencyRecord.state == IN_FLIGHT),
            )
        except UpdateError as error:
            if error.cause_response_code != _CONDITION_FAILED:
                raise
