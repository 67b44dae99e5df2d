"""An organisation's payment card: registered with a one-time token of the card gateway, checked as the gateway
checks a purchase's card, kept as a stored payment method of the service's merchant (usable for later charges),
replaced by the next registration and removed on request.

One DynamoDB transaction registers a card: the token is spent, the stored payment method written, the
organisation's payment settings updated (on condition they exist and still name the card that was read, so two
registrations racing end with one card) and the card they named before detached. The token, the full number
and the CVC are never stored here (the number stays sealed in the stored payment method, as the gateway keeps
it); nothing is written when the settings are missing or anything is refused.
"""

from __future__ import annotations

from datetime import date, datetime

from msgspec import Struct

from chalicelib.cards.errors import DO_NOT_HONOUR, EXPIRED_CARD, INSUFFICIENT_FUNDS, WRONG_CVC, CardDeclined
from chalicelib.cards.issuer import expired
from chalicelib.cards.merchants import MerchantIdentity, Merchants
from chalicelib.cards.numbers import brand_of
from chalicelib.cards.payments import CardDetails, Payments
from chalicelib.cards.tokens import CardTokens, TokenisedCard, TokenRefused, spend
from chalicelib.clock import JST, Clock
from chalicelib.registration.organisations import Member
from chalicelib.registration.validation import CARD_TYPES, MONTH, NUMBER, TYPE, YEAR, CardForm, agrees
from chalicelib.store.models import PaymentSettings, StoredCard
from chalicelib.store.transactions import ConditionFailed, Retrier, write_transaction

# The refusals GMO's card check answers, in its words (the answer's `errors`).
TOKEN_REFUSED = "カードトークンが無効です。有効期限切れ、使用済み、または存在しないトークンです。"  # noqa: S105 a message
CARD_REFUSALS = {
    DO_NOT_HONOUR: "このカードでは取引をする事が出来ません。",
    INSUFFICIENT_FUNDS: "カード残高が不足しているために、決済を完了する事が出来ませんでした。",
    EXPIRED_CARD: "カードの有効期限が切れています。",
    WRONG_CVC: "セキュリティーコードが誤っています。",
}
MISMATCH = {
    NUMBER: "カード番号がカードトークンのカードと一致しません",
    TYPE: "カード種類とカード番号が一致しません",
    MONTH: "有効期限がカードトークンのカードと一致しません",
    YEAR: "有効期限がカードトークンのカードと一致しません",
}


class NoPaymentSettings(Exception):
    """The organisation has no payment settings: no card is kept for it."""


class CardRefused(Exception):
    """The token or the card was refused: messages in GMO's words."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__(messages[0])
        self.messages = messages


class CardMismatch(Exception):
    """The form disagrees with the token's card: field errors, as validation's."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


class RegisteredCard(Struct, frozen=True):
    card_type: int
    masked_number: str
    nominee: str
    expiry_month: str
    expiry_year: str
    registered_at: datetime


def _card_type_of(number: str) -> int | None:
    brand = brand_of(number)
    return next((card_type for card_type, known in CARD_TYPES.items() if known == brand), None)


class CardRegistrations:
    def __init__(
        self, clock: Clock, retrier: Retrier, merchants: Merchants, tokens: CardTokens, payments: Payments
    ) -> None:
        self.clock = clock
        self.retrier = retrier
        self.merchants = merchants
        self.tokens = tokens
        self.payments = payments

    def today(self) -> date:
        return self.clock.now().astimezone(JST).date()

    def _settings(self, org_id: str) -> PaymentSettings:
        try:
            return self.retrier.run(lambda: PaymentSettings.get(org_id, consistent_read=True))
        except PaymentSettings.DoesNotExist:
            raise NoPaymentSettings() from None

    def register(self, member: Member, form: CardForm) -> RegisteredCard:
        """Check the token's card and keep it as the organisation's card, replacing the one it had."""
        self._settings(member.org_id)  # before the token is touched: without settings nothing is written
        merchant = self.merchants.identity(member.merchant_id)
        try:
            token, card = self.tokens.open(merchant, form.token)
        except TokenRefused:
            raise CardRefused([TOKEN_REFUSED]) from None
        self._agree(form, card)
        self._check(card)

        def attempt() -> RegisteredCard:
            settings = self._settings(member.org_id)
            now = self.clock.now()
            stored = self.tokens.to_store(merchant, card, now)
            registered = RegisteredCard(
                form.card_type, stored.masked_number, form.nominee, card.expiry_month, card.expiry_year, now
            )
            previous = settings.stored_method_id

            def build(transaction) -> None:
                spend(transaction, token, now)
                transaction.save(stored, condition=StoredCard.method_id.does_not_exist())
                transaction.update(
                    settings,
                    actions=[
                        PaymentSettings.stored_method_id.set(stored.method_id),
                        PaymentSettings.card_type.set(registered.card_type),
                        PaymentSettings.masked_number.set(registered.masked_number),
                        PaymentSettings.nominee.set(registered.nominee),
                        PaymentSettings.expiry_month.set(registered.expiry_month),
                        PaymentSettings.expiry_year.set(registered.expiry_year),
                        PaymentSettings.registered_at.set(now),
                    ],
                    condition=_still_naming(previous),
                )
                if previous is not None:
                    transaction.delete(StoredCard(previous))  # detached: it pays no more

            try:
                write_transaction(build)
            except ConditionFailed:
                self._settings(member.org_id)  # removed meanwhile? then say so
                if not self._token_live(merchant, form.token):
                    raise CardRefused([TOKEN_REFUSED]) from None  # spent by a concurrent registration
                raise
            return registered

        return self.retrier.run(attempt)

    def _token_live(self, merchant: MerchantIdentity, token: str) -> bool:
        try:
            self.tokens.open(merchant, token)
        except TokenRefused:
            return False
        return True

    def _agree(self, form: CardForm, card: TokenisedCard) -> None:
        """The form names the token's card: its masked number, brand and expiry."""
        errors = {}
        if not agrees(form.masked_number, card.number):
            errors[NUMBER] = MISMATCH[NUMBER]
        if _card_type_of(card.number) != form.card_type:
            errors[TYPE] = MISMATCH[TYPE]
        if form.expiry_month != card.expiry_month:
            errors[MONTH] = MISMATCH[MONTH]
        if form.expiry_year != card.expiry_year:
            errors[YEAR] = MISMATCH[YEAR]
        if errors:
            raise CardMismatch(errors)

    def _check(self, card: TokenisedCard) -> None:
        """The gateway's check of a purchase's card, moving no money: the token's card passed the purchase's checks
        (brand, check digit, expiry, CVC) when it was tokenised; its expiry again now, and the issuer's answer."""
        if expired(card.expiry_month, card.expiry_year, self.clock):  # since it was tokenised
            raise CardRefused([CARD_REFUSALS[EXPIRED_CARD]])
        details = CardDetails(card.number, card.expiry_month, card.expiry_year, "", card.name)
        try:
            self.payments.ask_issuer(details, cvc_checked=True)
        except CardDeclined as declined:
            refusal = CARD_REFUSALS.get(declined.response_code, CARD_REFUSALS[DO_NOT_HONOUR])
            raise CardRefused([refusal]) from None

    def current(self, org_id: str) -> RegisteredCard | None:
        settings = self._settings(org_id)
        if settings.stored_method_id is None:
            return None
        return RegisteredCard(
            int(settings.card_type),
            settings.masked_number,
            settings.nominee,
            settings.expiry_month,
            settings.expiry_year,
            settings.registered_at,
        )

    def remove(self, org_id: str) -> bool:
        """Remove the organisation's card and detach its stored payment method; whether there was one."""

        def attempt() -> bool:
            settings = self._settings(org_id)
            previous = settings.stored_method_id
            if previous is None:
                return False

            def build(transaction) -> None:
                transaction.update(
                    settings,
                    actions=[
                        PaymentSettings.stored_method_id.remove(),
                        PaymentSettings.card_type.remove(),
                        PaymentSettings.masked_number.remove(),
                        PaymentSettings.nominee.remove(),
                        PaymentSettings.expiry_month.remove(),
                        PaymentSettings.expiry_year.remove(),
                        PaymentSettings.registered_at.remove(),
                    ],
                    condition=_still_naming(previous),
                )
                transaction.delete(StoredCard(previous))

            write_transaction(build)
            return True

        return self.retrier.run(attempt)


def _still_naming(method_id: str | None):
    """The settings exist and name the card that was read (none: still none)."""
    exists = PaymentSettings.org_id.exists()
    if method_id is None:
        return exists & PaymentSettings.stored_method_id.does_not_exist()
    return exists & (PaymentSettings.stored_method_id == method_id)
