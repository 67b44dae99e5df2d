"""Card payments: a purchase authorises and captures at once, moving the money in one DynamoDB
transaction: the card's account (or the network's clearing shard) pays, one of the merchant's shards is
paid, and the transaction and its merchant_txn_ref are written, all or nothing.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC
from typing import Any

from msgspec import Struct

from chalicelib.cards import network
from chalicelib.cards.errors import (
    CHECK_DIGIT_FAILED,
    EXPIRED_CARD,
    INSUFFICIENT_FUNDS,
    INVALID_AMOUNT,
    CardDeclined,
    CardInvalid,
    DuplicateReference,
    TransactionNotFound,
)
from chalicelib.cards.issuer import Issuer, expired
from chalicelib.cards.merchants import MerchantIdentity, clearing_account
from chalicelib.cards.numbers import brand_of, luhn_valid, mask
from chalicelib.clock import Clock
from chalicelib.ledger.changes import MAX_AMOUNT, AccountChange, read_account
from chalicelib.store.models import CARD, CLEARING, MERCHANT, CardTransaction, MerchantReference
from chalicelib.store.transactions import Retrier, write_transaction

CAPTURE = "CAPTURE"
CURRENCIES = ("JPY",)  # the ledger keeps yen; JPY has no minor unit


class CardDetails(Struct, frozen=True):
    number: str
    expiry_month: str
    expiry_year: str
    cvc: str
    name: str


class Purchase(Struct, frozen=True):
    amount: int
    currency: str
    card: CardDetails
    merchant_txn_ref: str
    echo: dict[str, Any]  # what the answer repeats of the request: addresses, IPs


def check_card(card: CardDetails, clock: Clock) -> None:
    """What any card must be before an issuer is asked; CardInvalid names the field."""
    brand = brand_of(card.number)
    if brand is None:
        raise CardInvalid("card.number", "not a card number of a supported brand (Visa, Mastercard, JCB, Amex, Diners)")
    if not luhn_valid(card.number):
        raise CardInvalid("card.number", "the card number fails its check digit (MOD 10)", CHECK_DIGIT_FAILED)
    if not 1 <= int(card.expiry_month) <= 12:
        raise CardInvalid("card.expiry_month", "the expiry month is 01 to 12")
    if expired(card.expiry_month, card.expiry_year, clock):
        raise CardInvalid("card.expiry_year", "the card has expired", EXPIRED_CARD)
    if len(card.cvc) != brand.cvc_length:
        raise CardInvalid("card.cvc", f"a {brand.scheme} security code has {brand.cvc_length} digits")


def check_amount(amount: int, currency: str) -> None:
    if currency not in CURRENCIES:
        raise CardInvalid("currency", f"currencies accepted: {', '.join(CURRENCIES)}")
    if not 0 < amount <= MAX_AMOUNT:
        raise CardInvalid("amount", f"the amount is 1 to {MAX_AMOUNT} (minor units)", INVALID_AMOUNT)


class Payments:
    def __init__(self, clock: Clock, retrier: Retrier, issuer: Issuer) -> None:
        self.clock = clock
        self.retrier = retrier
        self.issuer = issuer

    def purchase(self, merchant: MerchantIdentity, purchase: Purchase) -> dict[str, Any]:
        """Authorise and capture at once; returns the answer (also kept as the transaction's)."""
        check_amount(purchase.amount, purchase.currency)
        card = purchase.card
        check_card(card, self.clock)
        issued = self.issuer.find(card.number)
        if issued is not None:
            self.issuer.verify(issued, card.number, card.expiry_month, card.expiry_year, card.cvc)
        else:
            network.authorise(card.number)
        transaction_id = str(uuid.uuid4())
        retried = False

        def attempt() -> dict[str, Any]:
            nonlocal retried
            if retried and MerchantReference.count(
                merchant.merchant_id, MerchantReference.merchant_txn_ref == purchase.merchant_txn_ref
            ):
                raise DuplicateReference()
            retried = True
            now = self.clock.now()
            funding_id = issued.account_id if issued is not None else clearing_account()
            funding = read_account(funding_id, kind=CARD if issued is not None else CLEARING)
            paid_id = merchant.shard_account()
            paid = read_account(paid_id, kind=MERCHANT)
            pays = AccountChange(funding_id, now, read=funding)
            if pays.available < purchase.amount:
                raise CardDeclined(INSUFFICIENT_FUNDS)  # over the card's credit line
            pays.post(-purchase.amount, merchant.name)
            paid_change = AccountChange(paid_id, now, read=paid)
            paid_change.post(purchase.amount, f"カード売上 {mask(card.number)}")
            answer = self._answer(merchant, purchase, transaction_id, now)
            item = CardTransaction(
                transaction_id,
                merchant_id=merchant.merchant_id,
                transaction_type=CAPTURE,
                amount=purchase.amount,
                funding_account_id=funding_id,
                merchant_account_id=paid_id,
                response=json.dumps(answer, ensure_ascii=False),
                created_at=now,
            )
            reference = MerchantReference(
                merchant.merchant_id, purchase.merchant_txn_ref, transaction_id=transaction_id
            )

            def build(transaction) -> None:
                pays.add_to(transaction)
                paid_change.add_to(transaction)
                transaction.save(item, condition=CardTransaction.transaction_id.does_not_exist())
                transaction.save(reference, condition=MerchantReference.merchant_txn_ref.does_not_exist())

            write_transaction(build)
            return answer

        return self.retrier.run(attempt)

    def _answer(self, merchant: MerchantIdentity, purchase: Purchase, transaction_id: str, now) -> dict[str, Any]:
        card = purchase.card
        brand = brand_of(card.number)
        assert brand is not None
        return {
            "success": True,
            "status_code": 201,
            "is_live": False,
            "transaction_type": CAPTURE,
            "gateway_response": {"version": "1", "type": "INFO", "message": "Payment Successful.", "code": "INFO0000"},
            "merchant_details": {
                "legal_name": merchant.name,
                "mid": merchant.merchant_id,
                "merchant_txn_ref": purchase.merchant_txn_ref,
                **purchase.echo,
            },
            "payment_details": {
                "amount": purchase.amount,
                "response_code": 0,
                "auth_code": f"{secrets.randbelow(10**6):06d}",
                "currency": purchase.currency,
                "payment_method": brand.payment_method,
                "scheme": brand.scheme,
                "card": {
                    "name": card.name,
                    "number": mask(card.number),
                    "exp_month": card.expiry_month,
                    "exp_year": card.expiry_year,
                },
                "additional_data": {"payment_data_source": {"type": "card"}},
            },
            "transaction_details": {
                "id": transaction_id,
                "ref": secrets.randbelow(10**9),
                "timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
                "merchant_txn_ref": purchase.merchant_txn_ref,
                "stored_payment_method_id": None,
            },
            "risk-details": {"risk_score": None},
        }

    def status(self, merchant: MerchantIdentity, transaction_id: str) -> dict[str, Any]:
        """The transaction's answer, for its own merchant only."""
        try:
            item = self.retrier.run(lambda: CardTransaction.get(transaction_id, consistent_read=True))
        except CardTransaction.DoesNotExist:
            raise TransactionNotFound() from None
        if item.merchant_id != merchant.merchant_id:
            raise TransactionNotFound()  # another merchant's: as if there were none
        answer = json.loads(item.response)
        answer["status_code"] = 200
        answer["payment_details"]["responseDescription"] = "The transaction was completed successfully."
        return answer
