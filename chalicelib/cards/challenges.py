"""3-D Secure challenges of purchase v2: no money moves until the card holder completes one.

A purchase v2 of a card the network has authenticated first (`network.asks_for_challenge`) is checked as a
purchase is checked (amount, card, `merchant_txn_ref` not used yet), then kept for CHALLENGE_LIFETIME: the
card as a card token (sealed as every kept card is, never the CVC; a `card_token` the merchant sent is spent
in its place), the rest of the purchase in a ThreeDSChallenge item keyed by the SHA-256 of a random challenge
id. The kept token is derived from the challenge id under the card key: only this module can name it, so no
merchant can pay with it around the challenge.

The card holder's browser opens the challenge page. `complete` pays through `Payments.purchase` with the kept
token, and the challenge goes pending -> completed in the payment's own DynamoDB transaction, on condition it
is still pending and live: however many submits race, one payment at most. `fail` (or a purchase that
declines) goes pending -> failed under the same condition, and nothing is paid.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

import msgspec
from msgspec import Struct

from chalicelib.cards import network
from chalicelib.cards.errors import CardError, DuplicateReference
from chalicelib.cards.merchants import MerchantIdentity, Merchants
from chalicelib.cards.numbers import brand_of, mask
from chalicelib.cards.payments import Payments, Purchase, check_amount
from chalicelib.cards.tokens import CardTokens, TokenisedCard, TokenRefused, spend
from chalicelib.clock import Clock, epoch_ms
from chalicelib.observability import count
from chalicelib.store.models import CardToken, ThreeDSChallenge
from chalicelib.store.transactions import Retrier, write_transaction

CHALLENGE_LIFETIME = timedelta(minutes=15)
# How long a finished challenge's result page is shown, from the challenge's expiry.
RESULT_LIFETIME = timedelta(days=1)
PENDING, COMPLETED, FAILED = "pending", "completed", "failed"
MAX_CHALLENGE_ID_LENGTH = 128


class ChallengeView(Struct, frozen=True):
    """A challenge as its pages show it (the card masked)."""

    merchant_name: str
    amount: int
    currency: str
    masked_number: str
    scheme: str
    merchant_txn_ref: str
    status: str  # pending | completed | failed
    expires_at: datetime
    transaction_id: str | None  # the payment, once completed
    success_url: str | None
    decline_url: str | None


class ChallengeUnknown(Exception):
    """No challenge with this id."""


class ChallengeExpired(Exception):
    """Not finished within CHALLENGE_LIFETIME (or its result is past RESULT_LIFETIME)."""


class ChallengeFinished(Exception):
    """Completed or failed already: a second submit, or the loser of a race."""

    def __init__(self, challenge: ChallengeView) -> None:
        super().__init__(challenge.status)
        self.challenge = challenge


def _hash(challenge_id: str) -> str:
    return hashlib.sha256(challenge_id.encode("utf-8", "surrogatepass")).hexdigest()


def _still_pending(now: datetime) -> Any:
    return (ThreeDSChallenge.status == PENDING) & (ThreeDSChallenge.expires_at_ms > epoch_ms(now))


def _view(item: ThreeDSChallenge) -> ChallengeView:
    return ChallengeView(
        merchant_name=item.merchant_name,
        amount=int(item.amount),
        currency=item.currency,
        masked_number=item.masked_number,
        scheme=item.scheme,
        merchant_txn_ref=item.merchant_txn_ref,
        status=item.status,
        expires_at=datetime.fromtimestamp(int(item.expires_at_ms) / 1000, tz=item.created_at.tzinfo),
        transaction_id=item.transaction_id,
        success_url=item.success_url,
        decline_url=item.decline_url,
    )


class _Completion:
    """The challenge completed, in the transaction of the payment it asked for (payments.Alongside)."""

    def __init__(self, challenges: Challenges, challenge_id: str, item: ThreeDSChallenge) -> None:
        self.challenges = challenges
        self.challenge_id = challenge_id
        self.item = item

    def recheck(self) -> None:
        self.challenges.pending(self.challenge_id)

    def add_to(self, transaction: Any, now: datetime, transaction_id: str) -> None:
        actions = [
            ThreeDSChallenge.status.set(COMPLETED),
            ThreeDSChallenge.transaction_id.set(transaction_id),
            ThreeDSChallenge.finished_at.set(now),
        ]
        transaction.update(self.item, actions=actions, condition=_still_pending(now), add_version_condition=False)


class Challenges:
    def __init__(
        self,
        clock: Clock,
        retrier: Retrier,
        payments: Payments,
        tokens: CardTokens,
        merchants: Merchants,
        card_key: str,
    ) -> None:
        self.clock = clock
        self.retrier = retrier
        self.payments = payments
        self.tokens = tokens
        self.merchants = merchants
        self._key = hmac.new(card_key.encode("utf-8"), b"3ds-challenge-card-token", hashlib.sha256).digest()

    def _token(self, challenge_id: str) -> str:
        """The kept card's token: only this module, holding the card key, can name it."""
        return "tok_" + hmac.new(self._key, challenge_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def begin(
        self, merchant: MerchantIdentity, purchase: Purchase, success_url: str | None, decline_url: str | None
    ) -> str | None:
        """The id of a new challenge if the purchase's card asks for one (nothing is paid), else None: the
        purchase runs as v1's. Refuses what a purchase refuses before it pays."""
        if purchase.card is not None and not network.asks_for_challenge(purchase.card.number):
            return None  # decided without a read: the purchase checks the rest
        check_amount(purchase.amount, purchase.currency)
        card, given_token = self.payments.card_to_charge(merchant, purchase)
        if not network.asks_for_challenge(card.number):
            return None
        if self.payments.reference_used(merchant, purchase.merchant_txn_ref):
            raise DuplicateReference()
        brand = brand_of(card.number)
        assert brand is not None, "checked before"
        challenge_id = secrets.token_urlsafe(32)
        now = self.clock.now()
        expires_at = now + CHALLENGE_LIFETIME
        kept_card = TokenisedCard(card.number, card.expiry_month, card.expiry_year, card.name)
        kept = self.tokens.to_keep(merchant, kept_card, self._token(challenge_id), now, CHALLENGE_LIFETIME)
        item = ThreeDSChallenge(
            _hash(challenge_id),
            merchant_id=merchant.merchant_id,
            merchant_name=merchant.name,
            amount=purchase.amount,
            currency=purchase.currency,
            merchant_txn_ref=purchase.merchant_txn_ref,
            echo=json.dumps(purchase.echo, ensure_ascii=False),
            store=purchase.store,
            masked_number=mask(card.number),
            scheme=brand.scheme,
            success_url=success_url,
            decline_url=decline_url,
            webhook_url=purchase.webhook_url,
            status=PENDING,
            created_at=now,
            expires_at_ms=epoch_ms(expires_at),
            purge_at=expires_at + RESULT_LIFETIME,
        )
        retried = False

        def attempt() -> None:
            nonlocal retried
            if retried and given_token is not None:
                self.tokens.open(merchant, purchase.card_token or "")  # spent by a concurrent payment?
            retried = True

            def build(transaction) -> None:
                transaction.save(kept, condition=CardToken.token_hash.does_not_exist())
                transaction.save(item, condition=ThreeDSChallenge.challenge_hash.does_not_exist())
                if given_token is not None:
                    spend(transaction, given_token, now)

            write_transaction(build)

        self.retrier.run(attempt)
        count("Challenges")
        return challenge_id

    def _item(self, challenge_id: str) -> ThreeDSChallenge:
        if not challenge_id or len(challenge_id) > MAX_CHALLENGE_ID_LENGTH:
            raise ChallengeUnknown()
        try:
            return self.retrier.run(lambda: ThreeDSChallenge.get(_hash(challenge_id), consistent_read=True))
        except ThreeDSChallenge.DoesNotExist:
            raise ChallengeUnknown() from None

    def pending(self, challenge_id: str) -> ThreeDSChallenge:
        """The challenge, if it may still be completed or failed now."""
        item = self._item(challenge_id)
        if item.status != PENDING:
            raise ChallengeFinished(_view(item))
        if int(item.expires_at_ms) <= epoch_ms(self.clock.now()):
            raise ChallengeExpired()
        return item

    def view(self, challenge_id: str) -> ChallengeView:
        """A pending challenge, as its page shows it."""
        return _view(self.pending(challenge_id))

    def result(self, challenge_id: str) -> ChallengeView:
        """A challenge's outcome (or that it is still pending), for RESULT_LIFETIME after its expiry."""
        item = self._item(challenge_id)
        now_ms = epoch_ms(self.clock.now())
        if item.status == PENDING and int(item.expires_at_ms) <= now_ms:
            raise ChallengeExpired()
        if epoch_ms(item.purge_at) <= now_ms:
            raise ChallengeExpired()  # TTL deletes it some time after: not to be waited for
        return _view(item)

    def complete(self, challenge_id: str) -> ChallengeView:
        """The card holder authenticated: pay, once. A purchase that declines now (a race made the reference
        used, the card expired) fails the challenge instead."""
        item = self.pending(challenge_id)
        purchase = Purchase(
            amount=int(item.amount),
            currency=item.currency,
            card=None,
            merchant_txn_ref=item.merchant_txn_ref,
            echo=json.loads(item.echo),
            card_token=self._token(challenge_id),
            store=bool(item.store),
            webhook_url=item.webhook_url,
        )
        try:
            merchant = self.merchants.identity(item.merchant_id)
            answer = self.payments.purchase(merchant, purchase, _Completion(self, challenge_id, item))
        except (CardError, TokenRefused):
            return self._fail(challenge_id, item)
        count("ChallengesCompleted")
        transaction_id = answer["transaction_details"]["id"]
        return msgspec.structs.replace(_view(item), status=COMPLETED, transaction_id=transaction_id)

    def fail(self, challenge_id: str) -> ChallengeView:
        """The card holder failed authentication: nothing is paid."""
        return self._fail(challenge_id, self.pending(challenge_id))

    def _fail(self, challenge_id: str, item: ThreeDSChallenge) -> ChallengeView:
        retried = False

        def attempt() -> None:
            nonlocal retried
            if retried:
                self.pending(challenge_id)  # raises what it has become
            retried = True
            now = self.clock.now()
            actions = [ThreeDSChallenge.status.set(FAILED), ThreeDSChallenge.finished_at.set(now)]

            def build(transaction) -> None:
                transaction.update(item, actions=actions, condition=_still_pending(now), add_version_condition=False)

            write_transaction(build)

        self.retrier.run(attempt)
        count("ChallengesFailed")
        return msgspec.structs.replace(_view(item), status=FAILED)
