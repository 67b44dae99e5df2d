"""Card payments on the one ledger (domain level, on moto): cards this bank issued, the network's test
cards, merchants paid into shards, and the refusals."""

from __future__ import annotations

import pytest

from chalicelib.cards import errors
from chalicelib.cards.numbers import brand_of, luhn_valid, mask
from chalicelib.cards.payments import CardDetails, Purchase
from chalicelib.ledger import errors as ledger_errors
from chalicelib.store.models import Account, Card
from tests.conftest import make_services


@pytest.fixture
def bank(moto_db, clock):
    services = make_services(clock)
    services.accounts.open("alice", "Alice")
    services.accounts.deposit("alice", 10_000, "入金")
    return services


@pytest.fixture
def merchant(bank):
    return bank.merchants.create("Tink15 Factory").identity


def purchase(number="4242424242424242", amount=1000, ref="order-1", month="12", year="30", cvc="123"):
    card = CardDetails(number=number, expiry_month=month, expiry_year=year, cvc=cvc, name="Alice")
    return Purchase(amount=amount, currency="JPY", card=card, merchant_txn_ref=ref, echo={})


def test_numbers():
    assert luhn_valid("4242424242424242") and not luhn_valid("4242424242424241")
    assert brand_of("5200000000001005").scheme == "MASTERCARD" and brand_of("3569990000000000").scheme == "JCB"
    assert brand_of("378282246310005").cvc_length == 4 and brand_of("1234567890123456") is None
    assert mask("4242424242424242") == "424242******4242" and mask("378282246310005") == "378282*****0005"


def test_a_card_of_this_bank_draws_on_its_credit_line_and_pays_the_merchant(bank, merchant):
    card = bank.issuer.issue("alice", credit_limit=5000)
    assert card.number.startswith("356999") and luhn_valid(card.number) and len(card.cvc) == 3
    stored = Card.scan().next()
    assert card.number not in str(stored.attribute_values) and card.cvc not in str(stored.attribute_values)
    answer = bank.payments.purchase(
        merchant, purchase(card.number, 3000, month=card.expiry_month, year=card.expiry_year, cvc=card.cvc)
    )
    assert answer["transaction_type"] == "CAPTURE" and answer["payment_details"]["card"]["number"] == mask(card.number)
    account = Account.get(card.account_id)
    assert (int(account.balance), int(account.available)) == (-3000, 2000)
    assert bank.merchants.balance(merchant.merchant_id) == 3000
    with pytest.raises(errors.CardDeclined) as declined:
        bank.payments.purchase(
            merchant, purchase(card.number, 2001, "order-2", card.expiry_month, card.expiry_year, card.cvc)
        )
    assert declined.value.response_code == errors.INSUFFICIENT_FUNDS
    with pytest.raises(errors.CardDeclined) as declined:
        bank.payments.purchase(
            merchant,
            purchase(
                card.number, 1, "order-3", card.expiry_month, card.expiry_year, "000" if card.cvc != "000" else "001"
            ),
        )
    assert declined.value.response_code == errors.WRONG_CVC


def test_the_networks_test_cards(bank, merchant):
    bank.payments.purchase(merchant, purchase("5200000000001005", ref="a"))
    for number, code in (
        ("4000000000000002", 5),
        ("4000000000009995", 51),
        ("4000000000000069", 54),
        ("4000000000000127", 580),
        ("4111111111111111", 5),
    ):
        with pytest.raises(errors.CardDeclined) as declined:
            bank.payments.purchase(merchant, purchase(number, ref=number))
        assert declined.value.response_code == code
    assert bank.merchants.balance(merchant.merchant_id) == 1000


def test_card_checks_before_any_issuer(bank, merchant):
    for card, field in (
        (purchase("4242424242424241"), "card.number"),
        (purchase(month="13"), "card.expiry_month"),
        (purchase(year="20"), "card.expiry_year"),
        (purchase(cvc="12"), "card.cvc"),
        (purchase("378282246310005", cvc="123"), "card.cvc"),
        (purchase(amount=0), "amount"),
    ):
        with pytest.raises(errors.CardInvalid) as invalid:
            bank.payments.purchase(merchant, card)
        assert invalid.value.field == field


def test_a_repeated_merchant_txn_ref_is_refused(bank, merchant):
    bank.payments.purchase(merchant, purchase(ref="same"))
    with pytest.raises(errors.DuplicateReference):
        bank.payments.purchase(merchant, purchase(ref="same"))
    other = bank.merchants.create("Other").identity
    bank.payments.purchase(other, purchase(ref="same"))  # per merchant


def test_isubank_never_reaches_a_card_or_a_merchant_account(bank, merchant):
    card = bank.issuer.issue("alice", credit_limit=5000)
    for account_id in (card.account_id, f"merchant-{merchant.merchant_id}-0", "card-network-0"):
        with pytest.raises(ledger_errors.AccountNotFound):
            bank.holds.reserve(account_id, -1, "app", "App")
        with pytest.raises(ledger_errors.AccountNotFound):
            bank.accounts.check(account_id, 0)


def test_status_is_the_merchants_own(bank, merchant):
    answer = bank.payments.purchase(merchant, purchase())
    transaction_id = answer["transaction_details"]["id"]
    assert bank.payments.status(merchant, transaction_id)["status_code"] == 200
    other = bank.merchants.create("Other").identity
    with pytest.raises(errors.TransactionNotFound):
        bank.payments.status(other, transaction_id)
