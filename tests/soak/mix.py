"""The soak's clients: a seeded random concurrent mix of every way money moves, over HTTP to the app on the local
server in this process (so time is the test's clock and faults are injected at the app's DynamoDB client), and
the model of what the bank acknowledged.

Clients behave as real ones do: a 5xx or a dropped connection is retried (a card operation with the same
Idempotency-Key; a 409 "still in flight" waits and retries), a decline or a refusal is an answer; and some
card operations are sent twice, as by a client that lost the first answer: the second must be its replay. An operation
whose outcome stays unknown after every retry is counted as such and leaves its accounts out of the exact checks.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from chalicelib.services import Services

APP_ID = "soak-app-id-0123456789abcdef"
GATEWAY = "/api/v1/server-to-server-interface"
OTHER_BANKS_CARD = {"number": "4242424242424242", "expiry_month": "12", "expiry_year": "30", "cvc": "123"}
CLIENT_RETRIES = 12
REPLAYED = 0.15  # of card operations, sent twice with the same Idempotency-Key
# The operations and how often each is drawn.
MIX = {
    "deposit": 2,
    "reserve": 6,
    "reserve_many": 2,
    "purchase": 4,
    "authorise": 3,
    "refund": 2,
    "move_time": 1,
}


class LongMoves:
    """A replay runs while the clock moves by minutes, never while it moves past the Idempotency-Keys' lifetime
    (a day): a client that retries a week later makes a new request, not a replay. Replays share it; a long
    move waits for them and holds it alone."""

    def __init__(self) -> None:
        self._free = threading.Condition()
        self._replays = 0

    @contextlib.contextmanager
    def replay(self) -> Iterator[None]:
        with self._free:
            self._replays += 1
        try:
            yield
        finally:
            with self._free:
                self._replays -= 1
                self._free.notify_all()

    @contextlib.contextmanager
    def move(self) -> Iterator[None]:
        with self._free:
            self._free.wait_for(lambda: self._replays == 0)
            yield


class Unknown(Exception):
    """No definite answer after every retry."""


@dataclass
class Ledger:
    """What the bank acknowledged, by account (yen moved), and what each payment became."""

    moved: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    merchant_moved: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unsure: set[str] = field(default_factory=set)  # accounts (and merchants) an unknown outcome touched
    reserves: dict[int, str] = field(default_factory=dict)  # reserve id -> its final status as acknowledged
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # transaction id -> what it became
    outcomes: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    long_moves: LongMoves = field(default_factory=LongMoves)

    def add(self, account_id: str, amount: int) -> None:
        with self.lock:
            self.moved[account_id] += amount


@dataclass
class Bank:
    users: list[str]
    cards: dict[str, dict[str, str]]  # card account id -> card details
    merchants: list[Any]  # NewMerchant


class Client:
    def __init__(self, base: str, bank: Bank, ledger: Ledger, services: Services, clock: Any, rng: random.Random):
        self.base = base
        self.bank = bank
        self.ledger = ledger
        self.services = services
        self.clock = clock
        self.random = rng
        self.http = requests.Session()
        self.retried = False

    # --- HTTP, as a real client retries it -------------------------------------------------------------

    def _send(self, path: str, body: dict, headers: dict[str, str]) -> tuple[int, dict]:
        self.retried = False  # whether an earlier try of this request failed with its outcome unknown
        for attempt in range(CLIENT_RETRIES):
            try:
                response = self.http.post(self.base + path, data=json.dumps(body), headers=headers, timeout=30)
            except requests.ConnectionError:
                self.ledger.outcomes["client_retry"] += 1
                time.sleep(0.01 * 2 ** min(attempt, 5))
                continue
            answer = response.json()
            in_flight = response.status_code == 409 and _code(answer) == "ERR2002"
            if response.status_code < 500 and not in_flight:
                return response.status_code, answer
            self.ledger.outcomes["client_retry"] += 1
            self.retried = True
            time.sleep(0.01 * 2 ** min(attempt, 5))
        raise Unknown(path)

    def isubank(self, path: str, body: dict) -> tuple[int, dict]:
        return self._send(path, body, {"Authorization": f"Bearer {APP_ID}", "Content-Type": "application/json"})

    def gateway(self, merchant: Any, operation: str, body: dict) -> tuple[int, dict]:
        headers = {
            "Authorization": f"Basic {merchant.api_key}",
            "x-api-key": merchant.api_key,
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),  # one per operation: every retry of it sends the same
        }
        if self.random.random() >= REPLAYED:
            return self._send(f"{GATEWAY}/{operation}", body, headers)
        with self.ledger.long_moves.replay():  # the answer was lost on the way: the client sends it again
            answer = self._send(f"{GATEWAY}/{operation}", body, headers)
            assert self._send(f"{GATEWAY}/{operation}", body, headers) == answer, "a replay differs"
        self.ledger.outcomes["idempotent_replays"] += 1
        return answer

    # --- the operations --------------------------------------------------------------------------------

    def run(self, operations: int) -> None:
        names, weights = list(MIX), list(MIX.values())
        for _ in range(operations):
            name = self.random.choices(names, weights)[0]
            try:
                getattr(self, name)()
                self.ledger.outcomes[name] += 1
            except Unknown:
                self.ledger.outcomes[f"{name}_unknown"] += 1

    def deposit(self) -> None:
        user = self.random.choice(self.bank.users)
        amount = self.random.randint(1, 5_000)
        try:
            self.services.accounts.deposit(user, amount, "入金")
        except Exception:
            with self.ledger.lock:
                self.ledger.unsure.add(user)
            raise Unknown("deposit") from None
        self.ledger.add(user, amount)

    def _reserve(self, user: str) -> tuple[int, int] | None:
        amount = self.random.choice([-1, -1, -1, 1]) * self.random.randint(1, 8_000)
        try:
            status, answer = self.isubank("/reserve", {"bank_id": user, "price": amount})
        except Unknown:
            with self.ledger.lock:
                self.ledger.unsure.add(user)
            raise
        if status != 200:
            assert answer == {"error": "credit is insufficient"}, (status, answer)
            self.ledger.outcomes["reserve_refused"] += 1
            return None
        with self.ledger.lock:
            self.ledger.reserves[answer["reserve_id"]] = "pending"
        return answer["reserve_id"], amount

    def _resolve(self, held: list[tuple[int, int]], users: list[str]) -> None:
        ids = [reserve_id for reserve_id, _ in held]
        outcome = self.random.choices(["commit", "cancel", "leave"], [6, 3, 1])[0]
        if outcome == "leave":
            return
        try:
            status, answer = self.isubank(f"/{outcome}", {"reserve_ids": ids})
        except Unknown:
            with self.ledger.lock:
                self.ledger.unsure.update(users)
            raise
        resolved_before = self.retried and answer == {"error": "reserve is already committed"}
        if resolved_before:  # as a client reads it: its own first try, whose answer was a 5xx, did it
            self.ledger.outcomes[f"{outcome}_done_by_a_try_answered_5xx"] += 1
        elif status != 200:
            assert answer == {"error": "reserve is already expired"}, (status, answer)  # the clock moved
            self.ledger.outcomes[f"{outcome}_expired"] += 1
            return
        with self.ledger.lock:
            for reserve_id, _ in held:
                self.ledger.reserves[reserve_id] = "committed" if outcome == "commit" else "cancelled"
        if outcome == "commit":
            for (_, amount), user in zip(held, users, strict=True):
                self.ledger.add(user, amount)

    def reserve(self) -> None:
        user = self.random.choice(self.bank.users)
        held = self._reserve(user)
        if held is not None:
            self._resolve([held], [user])

    def reserve_many(self) -> None:
        users = self.random.sample(self.bank.users, self.random.randint(2, 3))
        held = [(self._reserve(user), user) for user in users]
        kept = [(reserve, user) for reserve, user in held if reserve is not None]
        if kept:
            self._resolve([reserve for reserve, _ in kept], [user for _, user in kept])

    def _card(self) -> tuple[str | None, dict]:
        """A card of this bank (its account) or another bank's (None)."""
        if self.random.random() < 0.3:
            return None, OTHER_BANKS_CARD
        account_id = self.random.choice(list(self.bank.cards))
        return account_id, self.bank.cards[account_id]

    def _pay(self, operation: str) -> tuple[Any, str | None, int, str | None]:
        """A purchase or an authorisation: (the merchant, the card's account, the amount, the payment's id if made)."""
        merchant = self.random.choice(self.bank.merchants)
        account_id, card = self._card()
        amount = self.random.randint(100, 20_000)
        body = {
            "amount": str(amount),
            "currency": "JPY",
            "card": {**card, "name": "Soak Tester"},
            "merchant_txn_ref": str(uuid.uuid4()),
        }
        try:
            status, answer = self.gateway(merchant, operation, body)
        except Unknown:
            self._unsure(merchant, account_id)
            raise
        if status != 201:
            assert status == 402 and answer["payment_details"]["response_code"] == 51, (status, answer)
            self.ledger.outcomes[f"{operation}_declined"] += 1  # over the card's line
            return merchant, account_id, amount, None
        transaction_id = answer["transaction_details"]["id"]
        with self.ledger.lock:
            self.ledger.payments[transaction_id] = {
                "merchant": merchant,
                "account_id": account_id,
                "captured": 0,
                "refunded": 0,
                "status": "captured" if operation == "payment" else "authorised",
            }
        return merchant, account_id, amount, transaction_id

    def _unsure(self, merchant: Any, account_id: str | None) -> None:
        with self.ledger.lock:
            self.ledger.unsure.update({merchant.identity.merchant_id, account_id or "clearing"})

    def _paid(self, merchant: Any, account_id: str | None, transaction_id: str, amount: int) -> None:
        with self.ledger.lock:
            self.ledger.moved[account_id or "clearing"] -= amount
            self.ledger.merchant_moved[merchant.identity.merchant_id] += amount
            payment = self.ledger.payments[transaction_id]
            payment.update(captured=payment["captured"] + amount)

    def purchase(self) -> None:
        merchant, account_id, amount, transaction_id = self._pay("payment")
        if transaction_id is not None:
            self._paid(merchant, account_id, transaction_id, amount)

    def authorise(self) -> None:
        merchant, account_id, amount, transaction_id = self._pay("authorization")
        if transaction_id is None:
            return
        outcome = self.random.choices(["capture", "void", "leave"], [6, 3, 1])[0]
        if outcome == "leave":
            return
        body: dict[str, Any] = {"transactionId": transaction_id}
        captured = self.random.randint(1, amount) if outcome == "capture" else 0
        if outcome == "capture":
            body["amount"] = str(captured)
        try:
            status, answer = self.gateway(merchant, outcome, body)
        except Unknown:
            self._unsure(merchant, account_id)
            raise
        if status != 201:
            assert status == 409 and _code(answer), (status, answer)  # expired: the clock moved 7 days
            self.ledger.outcomes[f"{outcome}_refused"] += 1
            return
        with self.ledger.lock:
            self.ledger.payments[transaction_id]["status"] = "captured" if outcome == "capture" else "voided"
        if outcome == "capture":
            self._paid(merchant, account_id, transaction_id, captured)

    def refund(self) -> None:
        with self.ledger.lock:
            captured = [(tid, p) for tid, p in self.ledger.payments.items() if p["status"] == "captured"]
        if not captured:
            return
        transaction_id, payment = self.random.choice(captured)
        amount = self.random.randint(1, max(1, payment["captured"] // 2))
        merchant, account_id = payment["merchant"], payment["account_id"]
        try:
            status, answer = self.gateway(merchant, "refund", {"transactionId": transaction_id, "amount": str(amount)})
        except Unknown:
            self._unsure(merchant, account_id)
            raise
        if status != 201:
            assert status == 409, (status, answer)  # refunds would exceed the capture (racing refunds)
            self.ledger.outcomes["refund_refused"] += 1
            return
        with self.ledger.lock:
            payment["refunded"] += amount
            self.ledger.moved[account_id or "clearing"] += amount
            self.ledger.merchant_moved[merchant.identity.merchant_id] -= amount

    def move_time(self) -> None:
        # Mostly past ISUBANK's five minutes; now and then past a card authorisation's seven days.
        if self.random.random() < 0.05:
            with self.ledger.long_moves.move():
                self.clock.advance(days=7, seconds=1)
        else:
            self.clock.advance(seconds=self.random.randint(30, 400))


def _code(answer: dict) -> str | None:
    return (answer.get("gateway_response") or {}).get("code")
