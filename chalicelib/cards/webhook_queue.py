"""Where a webhook event waits for its next attempt: an SQS queue on AWS (drained by the `deliver_webhooks`
function), or, in the local server, a nudge to its worker thread, which polls the due events itself.

A message carries only the transaction id; the event item is the truth (its state, its next attempt), so a
message lost, late or delivered twice changes nothing but timing.
"""

from __future__ import annotations

import json
import threading
from typing import Any

# SQS delays a message 15 minutes at most; a longer wait is re-queued by the function when it comes early.
MAX_SQS_DELAY_SECONDS = 900


def message(transaction_id: str) -> str:
    return json.dumps({"transaction_id": transaction_id})


def transaction_of(body: str) -> str | None:
    """The transaction id of a message, None for a body no code of ours sent."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    transaction_id = parsed.get("transaction_id") if isinstance(parsed, dict) else None
    return transaction_id if isinstance(transaction_id, str) and 0 < len(transaction_id) <= 64 else None


class SqsQueue:
    def __init__(self, queue_name: str, region: str) -> None:
        self.queue_name = queue_name
        self.region = region
        self._client: Any = None
        self._url: str | None = None

    def send(self, transaction_id: str, delay_seconds: int = 0) -> None:
        if self._client is None:
            import boto3  # on first use: cold starts

            self._client = boto3.client("sqs", region_name=self.region)
            self._url = self._client.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        self._client.send_message(
            QueueUrl=self._url,
            MessageBody=message(transaction_id),
            DelaySeconds=max(0, min(delay_seconds, MAX_SQS_DELAY_SECONDS)),
        )


# The local server's worker waits on this between its polls; one per process, as the worker and the app's
# services are built apart.
local_wake = threading.Event()


class LocalQueue:
    """The local server's: its worker finds due events in the table itself; a send only wakes it early."""

    def send(self, transaction_id: str, delay_seconds: int = 0) -> None:
        if delay_seconds <= 0:
            local_wake.set()
