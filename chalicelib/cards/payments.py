"""Card payments: a purchase authorises and captures at once, moving the money in one DynamoDB
transaction: the card's account (or the network's clearing shard) pays, one of the merchant's shards is
paid, and the transaction and its merchant_txn_ref are written, all or nothing.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from msgspec import Struct

from chalicelib.cards import network
from chalicelib.cards.errors import (
    ALREADY_CAPTURED,
    ALREADY_VOIDED,
    AUTHORISATION_EXPIRED,
    CHECK_DIGIT_FAILED,
    EXPIRED_CARD,
    INSUFFICIENT_FUNDS,
    INVALID_AMOUNT,
    NOT_AN_AUTHORISATION,
    NOT_CAPTURED,
    REFUND_EXCEEDS_CAPTURE,
    CardDeclined,
    CardError,
    CardInvalid,
    DuplicateReference,
    PaymentConflict,
    TransactionNotFound,
)
from chalicelib.cards.idempotency import Claimed
from chalicelib.cards.issuer import Issuer, expired
from chalicelib.cards.merchants import MerchantIdentity, clearing_account
from chalicelib.cards.numbers import brand_of, luhn_valid, mask
from chalicelib.cards.tokens import CardTokens, IssuedToken, TokenisedCard, spend
from chalicelib.cards.webhooks import Webhooks
from chalicelib.clock import Clock, epoch_ms, utc_timestamp
from chalicelib.ids import IdGenerator
from chalicelib.ledger.changes import MAX_AMOUNT, AccountChange, read_account
from chalicelib.ledger.errors import HoldAlreadyResolved, HoldExpired
from chalicelib.ledger.holds import CANCELLED, COMMITTED, PENDING, hold_funds, new_hold, release_live, settle
from chalicelib.store.models import (
    CARD,
    CARD_LEG,
    CLEARING,
    MERCHANT,
    Card,
    CardToken,
    CardTransaction,
    Hold,
    MerchantReference,
    StoredCard,
    WebhookEvent,
)
from chalicelib.store.transactions import ConditionFailed, Retrier, write_transaction

CAPTURE, PRE_AUTH, REFUND, VOID = "CAPTURE", "PRE_AUTH", "REFUND", "VOID"
AUTHORISED, CAPTURED, VOIDED = "authorised", "captured", "voided"
AUTHORISATION_LIFETIME = timedelta(days=7)
OPERATION_RESULTS = {
    CAPTURE: ("INFO0001", "Amount successfully captured."),
    REFUND: ("INFO0002", "Amount successfully refunded."),
    VOID: ("INFO0003", "Authorization Successfully Cancelled."),
}
_NEW_TRANSACTION = CardTransaction.transaction_id.does_not_exist()
_AUTHORISED = CardTransaction.status == AUTHORISED
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
    card: CardDetails | None  # None: the card of `card_token`, or of `stored_method_id`
    merchant_txn_ref: str
    echo: dict[str, Any]  # what the answer repeats of the request: addresses, IPs
    card_token: str | None = None
    stored_method_id: str | None = None  # a stored payment method of the merchant's
    store: bool = False  # keep the card as a stored payment method
    webhook_url: str | None = None  # this payment's (else the merchant's default)


class Alongside(Protocol):
    """Writes that go into a payment's own transaction, on conditions of their own (a 3-D Secure challenge
    completed by the payment it asked for)."""

    def recheck(self) -> None:
        """Before the payment is tried again: raise if they can no longer be written."""

    def add_to(self, transaction: Any, now: datetime, transaction_id: str) -> None: ...


def _end_authorisation(
    parent: CardTransaction,
    ends: list,
    hold: Hold | None,
    outcome: str,
    changes: list[AccountChange],
    child: CardTransaction,
    event: WebhookEvent | None,
    now: datetime,
) -> None:
    """One transaction: the authorisation ended (on condition it is still authorised), its hold settled,
    the accounts changed, the capture's or void's own transaction (and its webhook event) written."""

    def build(transaction) -> None:
        transaction.update(parent, actions=ends, condition=_AUTHORISED, add_version_condition=False)
        if hold is not None:
            settle(transaction, hold, outcome, now)
        for change in changes:
            change.add_to(transaction)
        transaction.save(child, condition=_NEW_TRANSACTION)
        _save_event(transaction, event)

    write_transaction(build)


def _save_event(transaction, event: WebhookEvent | None) -> None:
    if event is not None:
        transaction.save(event, condition=WebhookEvent.transaction_id.does_not_exist())


def _release(change: AccountChange, hold: Hold, now: datetime) -> None:
    """Release an authorisation's hold; if it ended since it was read (a concurrent capture or void won),
    start over: the payment read again says what happened."""
    try:
        release_live(change, hold, epoch_ms(now))
    except (HoldAlreadyResolved, HoldExpired):
        raise ConditionFailed() from None


def _funding_kind(account_id: str) -> str:
    return CARD if account_id.startswith("cc-") else CLEARING


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
    def __init__(
        self, clock: Clock, ids: IdGenerator, retrier: Retrier, issuer: Issuer, tokens: CardTokens, webhooks: Webhooks
    ) -> None:
        self.clock = clock
        self.ids = ids
        self.retrier = retrier
        self.issuer = issuer
        self.tokens = tokens
        self.webhooks = webhooks

    def purchase(
        self,
        merchant: MerchantIdentity,
        purchase: Purchase,
        alongside: Alongside | None = None,
        keyed: Claimed | None = None,
    ) -> dict[str, Any]:
        """Authorise and capture at once; returns the answer (also kept as the transaction's). `alongside`:
        writes that succeed or fail with the payment's. `keyed`: the claim of the request's Idempotency-Key, which
        names the transaction's id, as for every operation below."""
        return self._pay(merchant, purchase, capture=True, alongside=alongside, keyed=keyed)

    def authorise(self, merchant: MerchantIdentity, purchase: Purchase, keyed: Claimed | None = None) -> dict[str, Any]:
        """Hold the amount for AUTHORISATION_LIFETIME (on a card of this bank, a hold of its account), to
        capture or void later."""
        return self._pay(merchant, purchase, capture=False, keyed=keyed)

    def card_to_charge(self, merchant: MerchantIdentity, purchase: Purchase) -> tuple[CardDetails, CardToken | None]:
        """The card to charge, checked (a token's or a stored card was checked when it was tokenised or stored,
        CVC included)."""
        if purchase.stored_method_id is not None:
            stored = self.tokens.stored(merchant, purchase.stored_method_id)
            if expired(stored.expiry_month, stored.expiry_year, self.clock):
                raise CardInvalid("payment_method.store_payment_method_id", "the card has expired", EXPIRED_CARD)
            return CardDetails(stored.number, stored.expiry_month, stored.expiry_year, "", stored.name), None
        if purchase.card_token is None:
            assert purchase.card is not None
            card = purchase.card
            check_card(card, self.clock)
            return card, None
        item, tokenised = self.tokens.open(merchant, purchase.card_token)
        if expired(tokenised.expiry_month, tokenised.expiry_year, self.clock):
            raise CardInvalid("card_token", "the card has expired", EXPIRED_CARD)
        card = CardDetails(tokenised.number, tokenised.expiry_month, tokenised.expiry_year, "", tokenised.name)
        return card, item

    def reference_used(self, merchant: MerchantIdentity, merchant_txn_ref: str) -> bool:
        return bool(
            self.retrier.run(
                lambda: MerchantReference.count(
                    merchant.merchant_id,
                    MerchantReference.merchant_txn_ref == merchant_txn_ref,
                    consistent_read=True,
                )
            )
        )

    def tokenise(self, merchant: MerchantIdentity, card: CardDetails) -> IssuedToken:
        """A one-time token for a card, checked as a payment checks it (a card of this bank: its CVC too)."""
        check_card(card, self.clock)
        issued = self.issuer.find(card.number)
        if issued is not None:
            self.issuer.verify(issued, card.number, card.expiry_month, card.expiry_year, card.cvc)
        return self.tokens.issue(merchant, card.number, card.expiry_month, card.expiry_year, card.name)

    def ask_issuer(self, card: CardDetails, cvc_checked: bool) -> Card | None:
        """The issuer's answer for a checked card (CardDeclined if it refuses), moving no money: this bank's own
        card (its expiry and CVC, unless checked when it was tokenised or stored), or the network's. This
        bank's card record, if it is one."""
        issued = self.issuer.find(card.number)
        if issued is not None and not cvc_checked:
            self.issuer.verify(issued, card.number, card.expiry_month, card.expiry_year, card.cvc)
        elif issued is None:
            network.authorise(card.number)
        return issued

    def _pay(
        self,
        merchant: MerchantIdentity,
        purchase: Purchase,
        capture: bool,
        alongside: Alongside | None = None,
        keyed: Claimed | None = None,
    ) -> dict[str, Any]:
        check_amount(purchase.amount, purchase.currency)
        try:
            card, token = self.card_to_charge(merchant, purchase)
            issued = self.ask_issuer(card, cvc_checked=token is not None or purchase.stored_method_id is not None)
        except CardError:
            made = self._made(merchant, keyed)  # its card token spent by the try that made it, say
            if made is None:
                raise
            return made
        transaction_id = keyed.transaction_id if keyed is not None else str(uuid.uuid4())
        kind = CAPTURE if capture else PRE_AUTH
        retried = False

        def attempt() -> tuple[dict[str, Any], WebhookEvent | None]:
            nonlocal retried
            if retried and alongside is not None:
                alongside.recheck()
            if retried and MerchantReference.count(
                merchant.merchant_id, MerchantReference.merchant_txn_ref == purchase.merchant_txn_ref
            ):
                raise DuplicateReference()
            if retried and token is not None:
                self.tokens.open(merchant, purchase.card_token or "")  # spent by a concurrent payment?
            retried = True
            now = self.clock.now()
            changes: list[AccountChange] = []
            hold = None
            funding_id = issued.account_id if issued is not None else (clearing_account() if capture else "")
            if funding_id:
                pays = AccountChange(funding_id, now, read=read_account(funding_id, _funding_kind(funding_id)))
                if pays.available < purchase.amount:
                    raise CardDeclined(INSUFFICIENT_FUNDS)  # over the card's credit line
                if capture:
                    pays.post(-purchase.amount, merchant.name, CARD_LEG, card_transaction_id=transaction_id)
                else:
                    hold = new_hold(
                        self.ids,
                        funding_id,
                        -purchase.amount,
                        merchant.merchant_id,
                        merchant.name,
                        now,
                        AUTHORISATION_LIFETIME,
                    )
                    hold_funds(pays, hold)
                changes.append(pays)
            paid_id = merchant.shard_account()
            if capture:
                changes.append(self._pay_merchant(paid_id, purchase.amount, mask(card.number), now, transaction_id))
            stored = None
            if purchase.store:
                kept = TokenisedCard(card.number, card.expiry_month, card.expiry_year, card.name)
                stored = self.tokens.to_store(merchant, kept, now)
            answer = self._answer(merchant, purchase, card, transaction_id, kind, now)
            if stored is not None:
                answer["transaction_details"]["stored_payment_method_id"] = stored.method_id
            item = CardTransaction(
                transaction_id,
                merchant_id=merchant.merchant_id,
                transaction_type=kind,
                amount=purchase.amount,
                funding_account_id=funding_id,
                merchant_account_id=paid_id,
                status=CAPTURED if capture else AUTHORISED,
                captured_amount=purchase.amount if capture else 0,
                refunded_amount=0,
                reserve_id=hold.reserve_id if hold is not None else None,
                webhook_url=purchase.webhook_url or merchant.webhook_url,
                response=json.dumps(answer, ensure_ascii=False),
                created_at=now,
            )
            event = self.webhooks.event(item, answer, now)
            reference = MerchantReference(
                merchant.merchant_id, purchase.merchant_txn_ref, transaction_id=transaction_id
            )

            def build(transaction) -> None:
                for change in changes:
                    change.add_to(transaction)
                if hold is not None:
                    transaction.save(hold, condition=Hold.reserve_id.does_not_exist())
                if token is not None:
                    spend(transaction, token, now)
                if stored is not None:
                    transaction.save(stored, condition=StoredCard.method_id.does_not_exist())
                transaction.save(item, condition=_NEW_TRANSACTION)
                transaction.save(reference, condition=MerchantReference.merchant_txn_ref.does_not_exist())
                _save_event(transaction, event)
                if alongside is not None:
                    alongside.add_to(transaction, now, transaction_id)

            write_transaction(build)
            return answer, event

        return self._once(merchant, keyed, attempt)

    def _once(
        self,
        merchant: MerchantIdentity,
        keyed: Claimed | None,
        attempt: Callable[[], tuple[dict[str, Any], WebhookEvent | None]],
    ) -> dict[str, Any]:
        """Run `attempt` until it is done, and queue its webhook event. For a keyed request resumed from a try that
        gave its key back, a refusal or a try after the first may mean that try made its transaction after all
        (its outcome unknown): that transaction, if there is one, is then the answer."""
        tries = 0

        def once() -> tuple[dict[str, Any], WebhookEvent | None]:
            nonlocal tries
            tries += 1
            made = self._made(merchant, keyed) if tries > 1 else None
            if made is not None:
                return made, None
            try:
                return attempt()
            except CardError:
                made = self._made(merchant, keyed)
                if made is None:
                    raise
                return made, None

        return self._announced(self.retrier.run(once))

    def _made(self, merchant: MerchantIdentity, keyed: Claimed | None) -> dict[str, Any] | None:
        """The answer of the transaction a resumed keyed request's earlier try made, if it made it (a fresh claim's
        id is new: nothing to look for)."""
        if keyed is None or not keyed.resumed:
            return None
        try:
            made = CardTransaction.get(keyed.transaction_id, consistent_read=True)
        except CardTransaction.DoesNotExist:
            return None
        return json.loads(made.response) if made.merchant_id == merchant.merchant_id else None

    def _announced(self, written: tuple[dict[str, Any], WebhookEvent | None]) -> dict[str, Any]:
        """The answer of a transaction written with its webhook event, which is queued now."""
        answer, event = written
        self.webhooks.queued(event)
        return answer

    def _pay_merchant(self, shard: str, amount: int, masked: str, now: datetime, transaction_id: str) -> AccountChange:
        paid = AccountChange(shard, now, read=read_account(shard, MERCHANT))
        paid.post(amount, f"カード売上 {masked}", CARD_LEG, card_transaction_id=transaction_id)
        return paid

    # --- later operations on a payment -------------------------------------------------------------

    def capture(
        self, merchant: MerchantIdentity, transaction_id: str, amount: int | None, keyed: Claimed | None = None
    ) -> dict[str, Any]:
        """Capture an authorisation, once, for at most its amount; a smaller capture releases the rest."""

        def attempt() -> tuple[dict[str, Any], WebhookEvent | None]:
            parent = self._own(merchant, transaction_id)
            self._still_authorised(parent)
            captured = int(parent.amount) if amount is None else amount
            if not 0 < captured <= int(parent.amount):
                raise CardInvalid("amount", f"a capture is 1 to the authorised {int(parent.amount)}")
            now = self.clock.now()
            masked = json.loads(parent.response)["payment_details"]["card"]["number"]
            child, answer, event = self._child(parent, CAPTURE, captured, now, keyed)
            changes = [self._pay_merchant(parent.merchant_account_id, captured, masked, now, child.transaction_id)]
            hold = self._live_hold(parent, now)
            funding_id = parent.funding_account_id or clearing_account()
            pays = AccountChange(funding_id, now, read=read_account(funding_id, _funding_kind(funding_id)))
            reserve_id = None
            if hold is not None:
                _release(pays, hold, now)
                reserve_id = int(hold.reserve_id)
            pays.post(-captured, merchant.name, CARD_LEG, reserve_id, child.transaction_id)
            changes.append(pays)

            ends = [
                CardTransaction.status.set(CAPTURED),
                CardTransaction.captured_amount.set(captured),
                CardTransaction.funding_account_id.set(funding_id),
            ]
            _end_authorisation(parent, ends, hold, COMMITTED, changes, child, event, now)
            return answer, event

        return self._once(merchant, keyed, attempt)

    def void(self, merchant: MerchantIdentity, transaction_id: str, keyed: Claimed | None = None) -> dict[str, Any]:
        """Cancel an uncaptured authorisation: its held funds are available again."""

        def attempt() -> tuple[dict[str, Any], WebhookEvent | None]:
            parent = self._own(merchant, transaction_id)
            self._still_authorised(parent)
            now = self.clock.now()
            hold = self._live_hold(parent, now)
            changes = []
            if hold is not None:
                releases = AccountChange(hold.account_id, now, read=read_account(hold.account_id, CARD))
                _release(releases, hold, now)
                changes.append(releases)
            child, answer, event = self._child(parent, VOID, int(parent.amount), now, keyed)

            voided = [CardTransaction.status.set(VOIDED)]
            _end_authorisation(parent, voided, hold, CANCELLED, changes, child, event, now)
            return answer, event

        return self._once(merchant, keyed, attempt)

    def refund(
        self, merchant: MerchantIdentity, transaction_id: str, amount: int | None, keyed: Claimed | None = None
    ) -> dict[str, Any]:
        """Pay back part or all of a captured payment; refunds never add up to more than the capture."""

        def attempt() -> tuple[dict[str, Any], WebhookEvent | None]:
            parent = self._own(merchant, transaction_id)
            if parent.status != CAPTURED:
                raise PaymentConflict(NOT_CAPTURED, "only a captured payment is refunded")
            left = int(parent.captured_amount) - int(parent.refunded_amount)
            refunded = left if amount is None else amount
            if refunded <= 0 or refunded > left:
                raise PaymentConflict(REFUND_EXCEEDS_CAPTURE, f"refunds would exceed the capture ({left} left)")
            now = self.clock.now()
            shard = parent.merchant_account_id
            takes = AccountChange(shard, now, read=read_account(shard, MERCHANT))
            if takes.available < refunded:
                raise PaymentConflict(REFUND_EXCEEDS_CAPTURE, "the merchant's account cannot pay the refund")
            child, answer, event = self._child(parent, REFUND, refunded, now, keyed)
            takes.post(-refunded, f"返金 {transaction_id}", CARD_LEG, card_transaction_id=child.transaction_id)
            funding_id = parent.funding_account_id
            gets = AccountChange(funding_id, now, read=read_account(funding_id, _funding_kind(funding_id)))
            gets.post(refunded, f"返金 {merchant.name}", CARD_LEG, card_transaction_id=child.transaction_id)
            limit = int(parent.captured_amount) - refunded

            def build(transaction) -> None:
                transaction.update(
                    parent,
                    actions=[CardTransaction.refunded_amount.add(refunded)],
                    condition=(CardTransaction.status == CAPTURED) & (CardTransaction.refunded_amount <= limit),
                    add_version_condition=False,
                )
                takes.add_to(transaction)
                gets.add_to(transaction)
                transaction.save(child, condition=_NEW_TRANSACTION)
                _save_event(transaction, event)

            write_transaction(build)
            return answer, event

        return self._once(merchant, keyed, attempt)

    def _own(self, merchant: MerchantIdentity, transaction_id: str) -> CardTransaction:
        try:
            item = CardTransaction.get(transaction_id, consistent_read=True)
        except CardTransaction.DoesNotExist:
            raise TransactionNotFound() from None
        if item.merchant_id != merchant.merchant_id:
            raise TransactionNotFound()  # another merchant's: as if there were none
        return item

    def _still_authorised(self, parent: CardTransaction) -> None:
        if parent.transaction_type != PRE_AUTH:
            raise PaymentConflict(NOT_AN_AUTHORISATION, "only an authorisation is captured or voided")
        if parent.status == CAPTURED:
            raise PaymentConflict(ALREADY_CAPTURED, "the authorisation was already captured")
        if parent.status == VOIDED:
            raise PaymentConflict(ALREADY_VOIDED, "the authorisation was already voided")
        if parent.created_at + AUTHORISATION_LIFETIME <= self.clock.now():
            raise PaymentConflict(AUTHORISATION_EXPIRED, "the authorisation has expired (7 days)")

    def _live_hold(self, parent: CardTransaction, now: datetime) -> Hold | None:
        """An authorisation's hold on a card of this bank (None for another bank's card)."""
        if parent.reserve_id is None:
            return None
        hold = Hold.get(int(parent.reserve_id), consistent_read=True)
        if hold.status != PENDING or int(hold.expires_at_ms) <= epoch_ms(now):
            raise PaymentConflict(AUTHORISATION_EXPIRED, "the authorisation has expired (7 days)")
        return hold

    def _child(
        self, parent: CardTransaction, kind: str, amount: int, now: datetime, keyed: Claimed | None
    ) -> tuple[CardTransaction, dict, WebhookEvent | None]:
        """A capture's, refund's or void's own transaction, answered in its payment's shape, and its event."""
        answer = json.loads(parent.response)
        code, message = OPERATION_RESULTS[kind]
        transaction_id = keyed.transaction_id if keyed is not None else str(uuid.uuid4())
        answer["transaction_type"] = kind
        answer["gateway_response"] = {"version": "1", "type": "INFO", "message": message, "code": code}
        answer["payment_details"]["amount"] = amount
        answer["transaction_details"].update(
            id=transaction_id, ref=secrets.randbelow(10**9), timestamp=utc_timestamp(now)
        )
        child = CardTransaction(
            transaction_id,
            merchant_id=parent.merchant_id,
            transaction_type=kind,
            amount=amount,
            funding_account_id=parent.funding_account_id,
            merchant_account_id=parent.merchant_account_id,
            parent_id=parent.transaction_id,
            webhook_url=parent.webhook_url,
            response=json.dumps(answer, ensure_ascii=False),
            created_at=now,
        )
        return child, answer, self.webhooks.event(child, answer, now)

    def _answer(
        self,
        merchant: MerchantIdentity,
        purchase: Purchase,
        card: CardDetails,
        transaction_id: str,
        kind: str,
        now: datetime,
    ) -> dict[str, Any]:
        brand = brand_of(card.number)
        assert brand is not None
        return {
            "success": True,
            "status_code": 201,
            "is_live": False,
            "transaction_type": kind,
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
                "timestamp": utc_timestamp(now),
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
