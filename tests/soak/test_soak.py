"""The soak: a seeded random concurrent mix of every way money moves (ISUBANK reserves committed, cancelled and left
to expire, on one user or several; deposits; card purchases, authorisations captured, voided and left, refunds;
the clock moved past expiries) over HTTP on DynamoDB Local, with faults injected at the app's DynamoDB client
(throttling, transaction conflicts, InternalServerError after the write was applied). Then the audit must find
nothing, and the books must hold what the clients were told: every acknowledged operation there, no money made
or lost, no overdraft, no hold settled twice.

`make test` runs a short fixed seed; `make soak` a long one (SOAK_OPERATIONS, SOAK_THREADS, SOAK_SEED), printing
its figures.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from datetime import datetime
from pathlib import Path

import msgspec
import pytest

from chalicelib.api import build_app
from chalicelib.clock import JST
from chalicelib.ledger.audit import Audit
from chalicelib.store.models import CLEARING, Account, CardTransaction, Hold
from tests.conftest import make_services
from tests.soak.mix import APP_ID, Bank, Client, Ledger
from tests.support.clock import ManualClock
from tests.support.faults import Faults
from tests.support.local_server import in_process

pytestmark = pytest.mark.dynamodb_local

OPERATIONS = int(os.environ.get("SOAK_OPERATIONS", "240"))  # per run: split between the threads
THREADS = int(os.environ.get("SOAK_THREADS", "8"))
SEED = int(os.environ.get("SOAK_SEED", "20261202"))
FAULT_RATE = float(os.environ.get("SOAK_FAULT_RATE", "0.03"))  # of each kind, per DynamoDB call
USERS, CARDS, MERCHANTS = 12, 6, 3


@pytest.fixture
def clock() -> ManualClock:
    """From the real now: DynamoDB Local deletes items past their TTL by its own clock, and an idempotency key
    purged under a retry would run the retry anew."""
    return ManualClock(datetime.now(JST))


@pytest.fixture
def bank(local_db, clock):
    services = make_services(clock, sleep=time.sleep)
    services.apps.create("Soak", app_id=APP_ID)
    users = [f"soak-user-{n}" for n in range(USERS)]
    for user in users:
        services.accounts.open(user, user)
        services.accounts.deposit(user, 50_000, "入金")
    cards = {}
    for user in users[:CARDS]:
        card = services.issuer.issue(user, credit_limit=100_000)
        cards[card.account_id] = {
            "number": card.number,
            "expiry_month": card.expiry_month,
            "expiry_year": card.expiry_year,
            "cvc": card.cvc,
        }
    merchants = [services.merchants.create(f"Soak shop {n}") for n in range(MERCHANTS)]
    return services, Bank(users, cards, merchants)


def test_the_books_hold_under_a_concurrent_mix_with_faults(bank, clock):
    services, accounts = bank
    before = {account.account_id: int(account.balance) for account in Account.scan()}
    ledger = Ledger()
    faults = Faults(SEED, throttling=FAULT_RATE, conflict=FAULT_RATE, applied_then_500=FAULT_RATE)
    errors: list[BaseException] = []
    started = time.monotonic()
    with in_process(build_app(services)) as base, faults.installed():

        def client(number: int) -> None:
            try:
                rng = random.Random(SEED * 1000 + number)
                Client(base, accounts, ledger, services, clock, rng).run(OPERATIONS // THREADS)
            except BaseException as error:  # reported below (pytest shows the thread's traceback too)
                errors.append(error)
                raise

        threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    seconds = time.monotonic() - started
    assert not errors, "\n".join(map(repr, errors))

    report = Audit(services.clock, services.retrier).run(segments=4)
    figures = {
        "seed": SEED,
        "threads": THREADS,
        "seconds": round(seconds, 1),
        "operations": {name: count for name, count in sorted(ledger.outcomes.items())},
        "dynamodb_calls": faults.calls,
        "faults_injected": dict(faults.injected),
        "unknown_outcomes": sum(count for name, count in ledger.outcomes.items() if name.endswith("_unknown")),
        "audit": {"accounts": report.accounts, "postings": report.postings, "holds": report.holds},
        "findings": msgspec.to_builtins(report.findings),
    }
    print("soak:", json.dumps(figures, ensure_ascii=False))
    if os.environ.get("SOAK_REPORT"):  # make soak prints it, passed or failed
        Path(os.environ["SOAK_REPORT"]).write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n")
    assert report.findings == []
    assert sum(faults.injected.values()) > 0

    after = {account.account_id: account for account in Account.scan()}
    clearing = sum(int(a.balance) - before[a.account_id] for a in after.values() if a.kind == CLEARING)
    for account_id, moved in ledger.moved.items():
        if account_id in ledger.unsure:
            continue
        found = clearing if account_id == "clearing" else int(after[account_id].balance) - before[account_id]
        assert found == moved, (account_id, found, moved)
    for merchant in accounts.merchants:
        merchant_id = merchant.identity.merchant_id
        if merchant_id not in ledger.unsure:
            assert services.merchants.balance(merchant_id) == ledger.merchant_moved[merchant_id], merchant_id
    for account in after.values():  # no overdraft, whatever the outcome
        assert int(account.available) >= 0, account.account_id
        assert int(account.balance) >= -int(account.credit_limit), account.account_id

    holds = {int(hold.reserve_id): hold for hold in Hold.scan()}
    for reserve_id, status in ledger.reserves.items():
        assert reserve_id in holds
        if status != "pending":
            assert holds[reserve_id].status == status, reserve_id
    transactions = {item.transaction_id: item for item in CardTransaction.scan()}
    for transaction_id, payment in ledger.payments.items():
        item = transactions[transaction_id]
        if not {payment["merchant"].identity.merchant_id, payment["account_id"] or "clearing"} & ledger.unsure:
            found = (item.status, int(item.captured_amount), int(item.refunded_amount))
            assert found == (payment["status"], payment["captured"], payment["refunded"]), transaction_id
