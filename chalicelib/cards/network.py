"""The card network beyond this bank: the outcome of a card another bank issued.

There is no real network here. Stripe's test numbers, which integrators know, give deterministic
outcomes; any other valid number is declined (do not honour). The money of an approved payment comes
from the network's clearing accounts (`chalicelib.cards.merchants.CLEARING_SHARDS`), as a real acquirer
is paid by the scheme.
"""

from __future__ import annotations

from chalicelib.cards.errors import DO_NOT_HONOUR, EXPIRED_CARD, INSUFFICIENT_FUNDS, WRONG_CVC, CardDeclined

APPROVE = 0
THREE_D_SECURE = -1  # approves on purchase v1; asks for a challenge on v2
VISA_APPROVED = "4242424242424242"  # the one card number examples show
THREE_D_SECURE_CARD = "4000002500003155"
TEST_CARDS = {
    VISA_APPROVED: APPROVE,
    "5555555555554444": APPROVE,
    "5200000000001005": APPROVE,  # the document's sample (a Mastercard)
    "4000000000000002": DO_NOT_HONOUR,
    "4000000000009995": INSUFFICIENT_FUNDS,
    "4000000000000069": EXPIRED_CARD,
    "4000000000000127": WRONG_CVC,
    THREE_D_SECURE_CARD: THREE_D_SECURE,
}


def authorise(number: str) -> None:
    """Approve or raise CardDeclined, as the network answers for a card this bank did not issue."""
    outcome = TEST_CARDS.get(number, DO_NOT_HONOUR)
    if outcome > 0:
        raise CardDeclined(outcome)


def asks_for_challenge(number: str) -> bool:
    """Whether the network has the card holder authenticated (3-D Secure) before a purchase v2 pays."""
    return TEST_CARDS.get(number) == THREE_D_SECURE
