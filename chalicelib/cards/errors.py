"""What a card payment can answer besides success: the acquirer's response codes (the vendor's table)."""

from __future__ import annotations

DO_NOT_HONOUR = 5
INVALID_AMOUNT = 13
INSUFFICIENT_FUNDS = 51
EXPIRED_CARD = 54
WRONG_CVC = 580
CHECK_DIGIT_FAILED = 586

DESCRIPTIONS = {
    DO_NOT_HONOUR: "Do not honour",
    INVALID_AMOUNT: "Invalid amount",
    INSUFFICIENT_FUNDS: "Insufficient funds",
    EXPIRED_CARD: "Expired card",
    WRONG_CVC: "Security Code is incorrect",
    CHECK_DIGIT_FAILED: "MOD 10 check failed",
}


class CardError(Exception):
    """A payment refused; nothing moved."""


class CardDeclined(CardError):
    """The issuer (this bank, or the network for other cards) refused the card."""

    def __init__(self, response_code: int) -> None:
        super().__init__(DESCRIPTIONS[response_code])
        self.response_code = response_code


class CardInvalid(CardError):
    """The card or the amount cannot be right, before any issuer is asked (Luhn, expiry, CVC length...)."""

    def __init__(self, field: str, message: str, response_code: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.response_code = response_code


class UnknownMerchant(CardError):
    """Missing or wrong merchant credentials."""


class DuplicateReference(CardError):
    """The merchant already made a payment with this merchant_txn_ref."""


class TransactionNotFound(CardError):
    """No transaction with this id among the merchant's."""


class PaymentConflict(CardError):
    """The operation no longer fits the payment's state: the loser of a race, or a repeat."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


ALREADY_CAPTURED = "already_captured"
ALREADY_VOIDED = "already_voided"
NOT_AN_AUTHORISATION = "not_an_authorisation"
NOT_CAPTURED = "not_captured"
REFUND_EXCEEDS_CAPTURE = "refund_exceeds_capture"
AUTHORISATION_EXPIRED = "authorisation_expired"
