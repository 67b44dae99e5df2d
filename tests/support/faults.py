"""Faults injected at the DynamoDB client, as DynamoDB answers them: a botocore `before-send` hook on the shared
client answers some requests itself instead of DynamoDB.

- throttling (any call): a ThrottlingException, nothing done;
- a transaction conflict (TransactWriteItems): TransactionCanceledException with a TransactionConflict reason,
  nothing done;
- an InternalServerError after the fact (TransactWriteItems): the request IS sent to DynamoDB and applied, and
  its answer replaced by a 500, the outcome a client cannot know. It comes in a burst: the next 0 to
  MAX_BURST sends of the same transaction (its client request token) are answered 500 too, so that some
  outlast botocore's own retries.

Each fault is drawn from a seeded random generator (one lock for every thread), so a run is repeatable up to
the threads' interleaving; or scripted, for the next transactions. botocore's own retries go through the hook
too, each attempt drawn afresh.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import threading
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

import urllib3
from botocore.awsrequest import AWSResponse

from chalicelib.store.models import Account, shared_connection

THROTTLING, CONFLICT, APPLIED_THEN_500 = "throttling", "transaction_conflict", "applied_then_internal_error"
_PREFIX = "com.amazonaws.dynamodb.v20120810#"
MAX_BURST = 6


class _Body(io.BytesIO):
    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.read()


def _answer(request: Any, status: int, body: dict) -> AWSResponse:
    raw = _Body(json.dumps(body).encode())
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault-injected"}
    return AWSResponse(request.url, status, headers, raw)


class Faults:
    def __init__(self, seed: int, throttling: float = 0.0, conflict: float = 0.0, applied_then_500: float = 0.0):
        self.random = random.Random(seed)
        self.rates = {THROTTLING: throttling, CONFLICT: conflict, APPLIED_THEN_500: applied_then_500}
        self.injected: Counter[str] = Counter()
        self.calls = 0
        self.scripted: deque[str | None] = deque()  # the faults of the next TransactWriteItems sends, in order
        self._bursts: dict[str, int] = {}  # client request token -> sends of it still to answer 500
        self._lock = threading.Lock()
        self._http = urllib3.PoolManager(maxsize=64)

    def _draw(self, operation: str, token: str | None) -> str | None:
        with self._lock:
            self.calls += 1
            if self._bursts.get(token or ""):
                self._bursts[token or ""] -= 1
                self.injected[APPLIED_THEN_500] += 1
                return APPLIED_THEN_500
            if self.scripted and operation == "TransactWriteItems":
                fault = self.scripted.popleft()
                if fault is not None:
                    self.injected[fault] += 1
                return fault
            roll = self.random.random()
            for fault in (THROTTLING, CONFLICT, APPLIED_THEN_500):
                if fault != THROTTLING and operation != "TransactWriteItems":
                    continue
                if roll < self.rates[fault]:
                    self.injected[fault] += 1
                    if fault == APPLIED_THEN_500 and token is not None:
                        self._bursts[token] = self.random.randint(0, MAX_BURST)
                    return fault
                roll -= self.rates[fault]
        return None

    def _before_send(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        operation = request.headers.get("X-Amz-Target", b"")
        operation = (operation.decode() if isinstance(operation, bytes) else operation).rpartition(".")[2]
        token = json.loads(request.body).get("ClientRequestToken") if operation == "TransactWriteItems" else None
        fault = self._draw(operation, token)
        if fault == THROTTLING:
            return _answer(request, 400, {"__type": _PREFIX + "ThrottlingException", "message": "Rate exceeded"})
        if fault == CONFLICT:
            items = len(json.loads(request.body)["TransactItems"])
            reasons = [{"Code": "None"}] * (items - 1) + [
                {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
            ]
            message = "Transaction cancelled, please refer cancellation reasons for specific reasons"
            body = {"__type": _PREFIX + "TransactionCanceledException", "message": message}
            return _answer(request, 400, body | {"CancellationReasons": reasons})
        if fault == APPLIED_THEN_500:
            sent = self._http.request(request.method, request.url, body=request.body, headers=dict(request.headers))
            if sent.status != 200:  # refused (a condition): nothing was applied, its answer stands
                return AWSResponse(request.url, sent.status, dict(sent.headers), _Body(sent.data))
            return _answer(request, 500, {"__type": _PREFIX + "InternalServerError", "message": "Internal error"})
        return None

    @contextlib.contextmanager
    def installed(self) -> Iterator[Faults]:
        """On the shared client of the tables (every model's calls) for the block."""
        events = shared_connection(Account.Meta.region).client.meta.events
        events.register_first("before-send.dynamodb", self._before_send, unique_id="fault-injection")
        try:
            yield self
        finally:
            events.unregister("before-send.dynamodb", unique_id="fault-injection")
