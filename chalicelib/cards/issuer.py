"""Cards this bank issues: JCB numbers on the bank's own BIN, each drawing on a card account (`cc`) with a
credit line in the one ledger.

A card's number is shown once, at issue; the bank keeps only its HMAC (to find the card) and its masked
form. Its CVC is derived from number and expiry under the card key, as real issuers derive CVVs, so it is
never stored either: checking one derives it again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from msgspec import Struct

from chalicelib.cards.errors import EXPIRED_CARD, WRONG_CVC, CardDeclined
from chalicelib.cards.numbers import luhn_valid, mask
from chalicelib.clock import JST, Clock
from chalicelib.ledger.changes import MAX_AMOUNT, read_account
from chalicelib.ledger.errors import InvalidRequest
from chalicelib.store.models import CARD, Account, Card
from chalicelib.store.transactions import Retrier, write_transaction

BIN = "356999"  # a JCB range: the bank's own
NUMBER_LENGTH = 16
VALID_YEARS = 5


class IssuedCard(Struct, frozen=True):
    account_id: str
    number: str  # in clear, this once
    expiry_month: str  # "MM"
    expiry_year: str  # "YY"
    cvc: str


class CardKeyMissing(Exception):
    """The stage has no card key (BANK_CARD_KEY): it cannot issue or check cards of its own."""


def complete_number(partial: str) -> str:
    """The number with its Luhn check digit appended."""
    for digit in "0123456789":
        if luhn_valid(partial + digit):
            return partial + digit
    raise AssertionError("unreachable: one digit always completes a Luhn number")


def expired(expiry_month: str, expiry_year: str, clock: Clock) -> bool:
    """Whether a card of that expiry (2-digit year) has expired: it is valid to the end of its month, JST."""
    today = clock.now().astimezone(JST)
    return (2000 + int(expiry_year), int(expiry_month)) < (today.year, today.month)


class Issuer:
    def __init__(self, clock: Clock, retrier: Retrier, card_key: str) -> None:
        self.clock = clock
        self.retrier = retrier
        self._key = card_key.encode("utf-8")

    def _mac(self, purpose: str, text: str) -> bytes:
        if not self._key:
            raise CardKeyMissing()
        return hmac.new(self._key, f"{purpose}|{text}".encode(), hashlib.sha256).digest()

    def fingerprint(self, number: str) -> str:
        return self._mac("number", number).hex()

    def cvc(self, number: str, expiry_month: str, expiry_year: str) -> str:
        digest = self._mac("cvc", f"{number}|{expiry_month}{expiry_year}")
        return f"{int.from_bytes(digest[:8], 'big') % 1000:03d}"

    def issue(self, customer_id: str, credit_limit: int, serial: str | None = None) -> IssuedCard:
        """A new card for a bank user, and its card account, in the user's branch. `serial` (the 9 digits
        after the BIN) may be given (demo data); otherwise it is random."""
        if not 0 < credit_limit <= MAX_AMOUNT:
            raise InvalidRequest(f"credit limit: 1 to {MAX_AMOUNT}")
        ordinary = self.retrier.run(lambda: read_account(customer_id))
        now = self.clock.now()
        serial = serial or "".join(secrets.choice("0123456789") for _ in range(NUMBER_LENGTH - len(BIN) - 1))
        number = complete_number(BIN + serial)
        today = now.astimezone(JST)
        expiry_month, expiry_year = f"{today.month:02d}", f"{(today.year + VALID_YEARS) % 100:02d}"
        account = Account(
            f"cc-{secrets.token_hex(8)}",
            customer_id=customer_id,
            account_number=mask(number),
            branch_code=ordinary.branch_code,
            kind=CARD,
            credit_limit=credit_limit,
            balance=0,
            available=credit_limit,
            held={},
            posting_seq=0,
            last_posted_ms=0,
            created_at=now,
        )
        card = Card(
            self.fingerprint(number),
            account_id=account.account_id,
            masked_number=mask(number),
            expiry_month=expiry_month,
            expiry_year=expiry_year,
            created_at=now,
        )

        def build(transaction) -> None:
            transaction.save(account, condition=Account.account_id.does_not_exist())
            transaction.save(card, condition=Card.fingerprint.does_not_exist())

        write_transaction(build)
        return IssuedCard(
            account.account_id, number, expiry_month, expiry_year, self.cvc(number, expiry_month, expiry_year)
        )

    def find(self, number: str) -> Card | None:
        """The card, if this bank issued it (a stage without a card key has issued none)."""
        if not self._key or not number.startswith(BIN):
            return None
        try:
            return self.retrier.run(lambda: Card.get(self.fingerprint(number), consistent_read=True))
        except Card.DoesNotExist:
            return None

    def verify(self, card: Card, number: str, expiry_month: str, expiry_year: str, cvc: str) -> None:
        """Decline unless the expiry is the card's and the CVC the one derived for it."""
        if (expiry_month, expiry_year) != (card.expiry_month, card.expiry_year):
            raise CardDeclined(EXPIRED_CARD)
        if not hmac.compare_digest(self.cvc(number, expiry_month, expiry_year), cvc):
            raise CardDeclined(WRONG_CVC)
