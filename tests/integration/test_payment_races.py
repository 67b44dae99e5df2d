"""Card payments raced by real threads on DynamoDB Local: exactly the allowed operations succeed, the
losers are told what happened, and the money adds up."""

from __future__ import annotations

import time

import pytest

from chalicelib.cards.errors import PaymentConflict
from chalicelib.cards.payments import CardDetails, Purchase
from tests.conftest import make_services
from tests.integration.test_concurrency import kinds, run_together

pytestmark = pytest.mark.dynamodb_local


@pytest.fixture
def bank(local_db, clock):
    services = make_services(clock, sleep=time.sleep)
    services.accounts.open("alice", "Alice")
    return services


@pytest.fixture
def shop(bank):
    return bank.merchants.create("Race shop").identity


def authorised(bank, shop, amount, ref):
    card = bank.issuer.issue("alice", credit_limit=100_000)
    details = CardDetails(card.number, card.expiry_month, card.expiry_year, card.cvc, "Alice")
    answer = bank.payments.authorise(shop, Purchase(amount, "JPY", details, ref, {}))
    return card, answer["transaction_details"]["id"]


def test_four_captures_of_one_authorisation_capture_once(bank, shop):
    card, transaction_id = authorised(bank, shop, 5000, "a")
    results = run_together(4, lambda i: bank.payments.capture(shop, transaction_id, None))
    assert kinds(results)["ok"] == 1 and set(kinds(results)) <= {"ok", "PaymentConflict"}
    assert bank.accounts.balance(card.account_id, kind=None).balance == -5000
    assert bank.merchants.balance(shop.merchant_id) == 5000


def test_a_capture_racing_a_void_one_wins(bank, shop):
    card, transaction_id = authorised(bank, shop, 5000, "b")
    operations = [
        lambda: bank.payments.capture(shop, transaction_id, None),
        lambda: bank.payments.void(shop, transaction_id),
    ]
    results = run_together(2, lambda i: operations[i]())
    assert kinds(results)["ok"] == 1, results
    assert all(isinstance(result, PaymentConflict) for result in results if isinstance(result, Exception))
    balance = bank.accounts.balance(card.account_id, kind=None)
    paid = bank.merchants.balance(shop.merchant_id)
    assert (balance.balance, balance.held, paid) in ((-5000, 0, 5000), (0, 0, 0))


def test_parallel_refunds_never_exceed_the_capture(bank, shop):
    card, transaction_id = authorised(bank, shop, 5000, "c")
    bank.payments.capture(shop, transaction_id, None)
    results = run_together(6, lambda i: bank.payments.refund(shop, transaction_id, 2000))
    assert kinds(results)["ok"] == 2 and set(kinds(results)) <= {"ok", "PaymentConflict"}
    assert bank.accounts.balance(card.account_id, kind=None).balance == -1000
    assert bank.merchants.balance(shop.merchant_id) == 1000
