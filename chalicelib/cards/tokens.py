"""Card tokens: a browser turns a card into a one-time token with the merchant's publishable key, so the
card number reaches the merchant's server only as that token.

Tokenising checks the card as a payment would (brand, check digit, expiry, CVC length; on a card of this
bank, its expiry and CVC), then keeps it for its lifetime (30 minutes unless configured): the number
encrypted (AES-GCM under a key derived from the card key), never the CVC. A payment naming the token
spends it, in the payment's own transaction: a token pays once, for its merchant only.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta

from msgspec import Struct

from chalicelib.cards.merchants import MerchantIdentity
from chalicelib.cards.numbers import brand_of, mask
from chalicelib.cards.sealing import Sealer
from chalicelib.clock import Clock, epoch_ms
from chalicelib.store.models import CardToken, StoredCard
from chalicelib.store.transactions import Retrier

MAX_TOKEN_LENGTH = 128
_SPENDABLE = CardToken.spent_at.does_not_exist()


class TokenRefused(Exception):
    """Unknown, spent, expired, or another merchant's."""


class StoredCardUnknown(Exception):
    """No stored payment method with this id among the merchant's."""


class IssuedToken(Struct, frozen=True):
    token: str
    masked_number: str
    brand: str
    expiry_month: str
    expiry_year: str
    expires_at: datetime


class TokenisedCard(Struct, frozen=True):
    """What a token stands for: the card, without its CVC (checked when it was tokenised)."""

    number: str
    expiry_month: str
    expiry_year: str
    name: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class CardTokens:
    def __init__(self, clock: Clock, retrier: Retrier, card_key: str, lifetime: timedelta) -> None:
        self.clock = clock
        self.retrier = retrier
        self._sealer = Sealer(card_key, b"card-token-encryption")
        self.lifetime = lifetime

    def seal(self, merchant_id: str, number: str, name: str) -> str:
        """The card number and name, encrypted and bound to the merchant."""
        return self._sealer.seal(json.dumps({"number": number, "name": name}).encode("utf-8"), merchant_id)

    def unseal(self, merchant_id: str, sealed_hex: str) -> tuple[str, str]:
        card = json.loads(self._sealer.unseal(sealed_hex, merchant_id))
        return card["number"], card["name"]

    def issue(
        self, merchant: MerchantIdentity, number: str, expiry_month: str, expiry_year: str, name: str
    ) -> IssuedToken:
        """A token for a card already checked (see payments.check_card and Issuer.verify)."""
        now = self.clock.now()
        token = f"tok_{secrets.token_urlsafe(24)}"
        brand = brand_of(number)
        assert brand is not None, "checked before"
        item = self.to_keep(merchant, TokenisedCard(number, expiry_month, expiry_year, name), token, now, self.lifetime)
        self.retrier.run(lambda: item.save(condition=CardToken.token_hash.does_not_exist()))
        return IssuedToken(token, mask(number), brand.scheme, expiry_month, expiry_year, now + self.lifetime)

    def to_keep(
        self, merchant: MerchantIdentity, card: TokenisedCard, token: str, now: datetime, lifetime: timedelta
    ) -> CardToken:
        """The token's item, its card sealed, live `lifetime` (written by `issue`, or by a caller's own
        transaction: a 3-D Secure challenge keeps its card so)."""
        expires_at = now + lifetime
        return CardToken(
            _hash(token),
            merchant_id=merchant.merchant_id,
            sealed_card=self.seal(merchant.merchant_id, card.number, card.name),
            masked_number=mask(card.number),
            expiry_month=card.expiry_month,
            expiry_year=card.expiry_year,
            created_at=now,
            expires_at_ms=epoch_ms(expires_at),
            purge_at=expires_at + timedelta(days=1),
        )

    def open(self, merchant: MerchantIdentity, token: str) -> tuple[CardToken, TokenisedCard]:
        """The token's card, if the token may pay now; spending it is the payment's (`spend_condition`)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenRefused()
        try:
            item = self.retrier.run(lambda: CardToken.get(_hash(token), consistent_read=True))
        except CardToken.DoesNotExist:
            raise TokenRefused() from None
        now_ms = epoch_ms(self.clock.now())
        if item.merchant_id != merchant.merchant_id or item.spent_at is not None or int(item.expires_at_ms) <= now_ms:
            raise TokenRefused()
        number, name = self.unseal(merchant.merchant_id, item.sealed_card)
        return item, TokenisedCard(number, item.expiry_month, item.expiry_year, name)

    def stored(self, merchant: MerchantIdentity, method_id: str) -> TokenisedCard:
        """A stored payment method's card, for its merchant only."""
        if not method_id or len(method_id) > MAX_TOKEN_LENGTH:
            raise StoredCardUnknown()
        try:
            item = self.retrier.run(lambda: StoredCard.get(method_id, consistent_read=True))
        except StoredCard.DoesNotExist:
            raise StoredCardUnknown() from None
        if item.merchant_id != merchant.merchant_id:
            raise StoredCardUnknown()
        number, name = self.unseal(merchant.merchant_id, item.sealed_card)
        return TokenisedCard(number, item.expiry_month, item.expiry_year, name)

    def to_store(self, merchant: MerchantIdentity, card: TokenisedCard, now: datetime) -> StoredCard:
        """A stored payment method of this card (written by the payment that stores it)."""
        return StoredCard(
            f"spm_{secrets.token_urlsafe(18)}",
            merchant_id=merchant.merchant_id,
            sealed_card=self.seal(merchant.merchant_id, card.number, card.name),
            masked_number=mask(card.number),
            expiry_month=card.expiry_month,
            expiry_year=card.expiry_year,
            created_at=now,
        )


def spend(transaction, item: CardToken, now: datetime) -> None:
    """Spend a token in a payment's transaction, on condition it is still unspent and live."""
    transaction.update(
        item,
        actions=[CardToken.spent_at.set(now)],
        condition=_SPENDABLE & (CardToken.expires_at_ms > epoch_ms(now)),
        add_version_condition=False,
    )
