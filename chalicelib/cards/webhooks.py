"""Webhooks: after each payment, authorisation, capture, refund and void, its merchant's webhook URL receives
the transaction, signed as the Standard Webhooks specification says (`webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`), so that a merchant verifies it
with an off-the-shelf library (`standardwebhooks`, which signs here too).

Delivery is at least once. The event is written in the transaction's own DynamoDB transaction (an outbox),
then queued; an attempt claims the event (a lease, by a conditional write), posts it signed afresh, and
records the outcome: delivered on a 2xx, otherwise the next attempt after the next of `delays` (about a
day in all), or failed after the last. Whatever queued an event (the API after its write, a retry, the
sweep of events whose message was lost), `deliver` does the same: nothing happens twice unless a merchant's
2xx is lost on the way back, which is why merchants deduplicate on `webhook-id`.
"""

from __future__ import annotations

import json
import secrets
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pynamodb.exceptions import UpdateError

from chalicelib.cards.errors import TransactionNotFound
from chalicelib.cards.merchants import Merchants
from chalicelib.cards.webhook_delivery import Outcome, post
from chalicelib.clock import Clock, epoch_ms, utc_timestamp
from chalicelib.observability import count, logger
from chalicelib.store.models import CardTransaction, WebhookAttemptRecord, WebhookEvent
from chalicelib.store.transactions import Retrier

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
EVENT_TYPES = {
    "CAPTURE": "transaction.capture",
    "PRE_AUTH": "transaction.pre_auth",
    "REFUND": "transaction.refund",
    "VOID": "transaction.void",
}
DUE_SHARDS = 4
LEASE = timedelta(seconds=30)  # longer than an attempt can take (connect and read timeouts)
KEPT = timedelta(days=30)  # events and their attempts stay listable this long (TTL)
# A queued event not attempted this long after it was due lost its message: the sweep queues it again.
SWEEP_GRACE = timedelta(minutes=2)
SWEEP_BATCH = 100


class Queue(Protocol):
    def send(self, transaction_id: str, delay_seconds: int = 0) -> None: ...


def _shard(transaction_id: str) -> str:
    return f"due-{zlib.crc32(transaction_id.encode('utf-8')) % DUE_SHARDS}"


class Webhooks:
    def __init__(
        self,
        clock: Clock,
        retrier: Retrier,
        merchants: Merchants,
        queue: Queue,
        delays: tuple[int, ...],
        private_targets: bool,
    ) -> None:
        self.clock = clock
        self.retrier = retrier
        self.merchants = merchants
        self.queue = queue
        self.delays = delays
        self.private_targets = private_targets

    def event(self, item: CardTransaction, answer: dict[str, Any], now: datetime) -> WebhookEvent | None:
        """The event of a transaction about to be written (None without a webhook URL): the caller saves it in
        the same DynamoDB transaction, and calls `queued` once that succeeded."""
        if not item.webhook_url:
            return None
        event_type = EVENT_TYPES[item.transaction_type]
        payload = {"type": event_type, "timestamp": utc_timestamp(now), "data": answer}
        return WebhookEvent(
            item.transaction_id,
            event_id=f"evt_{secrets.token_urlsafe(18)}",
            event_type=event_type,
            merchant_id=item.merchant_id,
            url=item.webhook_url,
            payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
            state=PENDING,
            due_shard=_shard(item.transaction_id),
            next_attempt_ms=epoch_ms(now),
            created_at=now,
            purge_at=now + KEPT,
        )

    def queued(self, event: WebhookEvent | None) -> None:
        """Queue a written event for its first attempt. A failure here loses nothing: the sweep finds it."""
        if event is None:
            return
        try:
            self.queue.send(event.transaction_id)
        except Exception:
            logger.exception("webhook not queued; the sweep will", extra={"transaction_id": event.transaction_id})

    # --- attempts ------------------------------------------------------------------------------------

    def deliver(self, transaction_id: str) -> int | None:
        """Attempt the event if it is due; the seconds until it should be looked at again, None when done."""
        try:
            event = self.retrier.run(lambda: WebhookEvent.get(transaction_id, consistent_read=True))
        except WebhookEvent.DoesNotExist:
            return None
        if event.state != PENDING:
            return None
        now = self.clock.now()
        now_ms = epoch_ms(now)
        wait_ms = max(int(event.next_attempt_ms) - now_ms, int(event.lease_until_ms) - now_ms)
        if wait_ms > 0:
            return -(-wait_ms // 1000)
        number = int(event.attempt_count)
        if not self._claim(event, number, now):
            return None  # another worker has it
        outcome = self._post(event, now)
        return self._record(event, number, outcome, now)

    def attempt_queued(self, transaction_id: str) -> None:
        """What a queue message asks: attempt the event if due, and queue it again for its next attempt."""
        wait = self.deliver(transaction_id)
        if wait is not None:
            self.queue.send(transaction_id, wait)

    def _claim(self, event: WebhookEvent, number: int, now: datetime) -> bool:
        condition = (
            (WebhookEvent.state == PENDING)
            & (WebhookEvent.attempt_count == number)
            & (WebhookEvent.lease_until_ms <= epoch_ms(now))
        )
        try:
            event.update(actions=[WebhookEvent.lease_until_ms.set(epoch_ms(now + LEASE))], condition=condition)
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _post(self, event: WebhookEvent, now: datetime) -> Outcome:
        from standardwebhooks.webhooks import Webhook  # on first delivery: cold starts

        secret = self.merchants.webhook_secret(event.merchant_id)
        signed_at = now.astimezone(UTC)  # the library reads the instant as UTC
        signature = Webhook(secret).sign(event.event_id, signed_at, event.payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "bank-webhooks/1",
            "webhook-id": event.event_id,
            "webhook-timestamp": str(int(signed_at.timestamp())),
            "webhook-signature": signature,
        }
        return post(event.url, event.payload.encode("utf-8"), headers, self.private_targets)

    def _record(self, event: WebhookEvent, number: int, outcome: Outcome, now: datetime) -> int | None:
        delivered = outcome.status_code is not None and 200 <= outcome.status_code < 300
        last = number >= len(self.delays)
        delay = None if delivered or last else self.delays[number]
        next_at = None if delay is None else now + timedelta(seconds=delay)
        attempt = WebhookAttemptRecord(
            attempted_at=now, status_code=outcome.status_code, error=outcome.error, next_attempt_at=next_at
        )
        actions = [
            WebhookEvent.attempts.set(WebhookEvent.attempts.append([attempt])),
            WebhookEvent.attempt_count.set(number + 1),
            WebhookEvent.lease_until_ms.set(0),
        ]
        if next_at is None:
            actions += [
                WebhookEvent.state.set(DELIVERED if delivered else FAILED),
                WebhookEvent.due_shard.remove(),
                WebhookEvent.next_attempt_ms.remove(),
            ]
        else:
            actions.append(WebhookEvent.next_attempt_ms.set(epoch_ms(next_at)))
        self.retrier.run(lambda: event.update(actions=actions, condition=WebhookEvent.attempt_count == number))
        count("WebhooksDelivered" if delivered else "WebhookAttemptsFailed")
        logger.info(
            "webhook attempt",
            extra={
                "transaction_id": event.transaction_id,
                "event_id": event.event_id,
                "attempt": number + 1,
                "status_code": outcome.status_code,
                "error": outcome.error,
            },
        )
        return delay

    # --- what waits -----------------------------------------------------------------------------------

    def due(self, grace: timedelta = timedelta(0)) -> list[str]:
        """Transaction ids of pending events due `grace` ago or earlier."""
        until_ms = epoch_ms(self.clock.now() - grace)
        found: list[str] = []
        for shard in range(DUE_SHARDS):
            query = WebhookEvent.by_due.query(
                f"due-{shard}", WebhookEvent.next_attempt_ms <= until_ms, limit=SWEEP_BATCH
            )
            found += [item.transaction_id for item in query]
        return found

    def sweep(self) -> int:
        """Queue again the events whose message was lost (due more than SWEEP_GRACE ago); how many."""
        overdue = self.due(SWEEP_GRACE)
        for transaction_id in overdue:
            self.queue.send(transaction_id)
        return len(overdue)

    def attempts(self, merchant_id: str, transaction_id: str) -> list[dict[str, Any]]:
        """A transaction's delivery attempts, oldest first, for its own merchant only."""
        try:
            item = self.retrier.run(lambda: CardTransaction.get(transaction_id))
        except CardTransaction.DoesNotExist:
            raise TransactionNotFound() from None
        if item.merchant_id != merchant_id:
            raise TransactionNotFound()  # another merchant's: as if there were none
        try:
            event = self.retrier.run(lambda: WebhookEvent.get(transaction_id, consistent_read=True))
        except WebhookEvent.DoesNotExist:
            return []
        return [
            {
                "event_id": event.event_id,
                "event_type": event.event_type,
                "attempted_at": utc_timestamp(attempt.attempted_at),
                "status_code": None if attempt.status_code is None else int(attempt.status_code),
                "next_attempt_at": None if attempt.next_attempt_at is None else utc_timestamp(attempt.next_attempt_at),
            }
            for attempt in event.attempts
        ]
