"""Card numbers: the Luhn check, the brand from the leading digits, and masking.

Brands by their issuer identification ranges (the five schemes card holders in Japan carry, and Discover):
an in-house table is shorter to audit than a package's over-broad prefixes.
"""

from __future__ import annotations

from msgspec import Struct


class Brand(Struct, frozen=True):
    scheme: str  # as payment_details.scheme says it
    payment_method: str  # as payment_details.payment_method says it
    lengths: tuple[int, ...]
    cvc_length: int


VISA = Brand("VISA", "VISA-SSL", (13, 16, 19), 3)
MASTERCARD = Brand("MASTERCARD", "ECMC-SSL", (16,), 3)
AMEX = Brand("AMEX", "AMEX-SSL", (15,), 4)
JCB = Brand("JCB", "JCB-SSL", (16, 17, 18, 19), 3)
DINERS = Brand("DINERS", "DINERS-SSL", (14, 16), 3)
DISCOVER = Brand("DISCOVER", "DISCOVER-SSL", (16,), 3)

# (first digits as an inclusive range of 6-digit prefixes, brand)
_RANGES = (
    (400000, 499999, VISA),
    (510000, 559999, MASTERCARD),
    (222100, 272099, MASTERCARD),
    (340000, 349999, AMEX),
    (370000, 379999, AMEX),
    (352800, 358999, JCB),
    (300000, 305999, DINERS),
    (309500, 309599, DINERS),
    (360000, 369999, DINERS),
    (380000, 399999, DINERS),
    (601100, 601199, DISCOVER),
    (644000, 659999, DISCOVER),
)
MIN_LENGTH, MAX_LENGTH = 12, 19


def luhn_valid(number: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def brand_of(number: str) -> Brand | None:
    """The brand of a number of digits, if its prefix and length are one's."""
    if len(number) < 6:
        return None
    prefix = int(number[:6])
    for low, high, brand in _RANGES:
        if low <= prefix <= high and len(number) in brand.lengths:
            return brand
    return None


def brand_of_prefix(digits: str) -> Brand | None:
    """The brand every number starting with these leading digits (the first six count) belongs to, if one:
    what a masked number's visible digits say."""
    digits = digits[:6]
    if not digits:
        return None
    width = 10 ** (6 - len(digits))
    first = int(digits) * width
    last = first + width - 1
    for low, high, brand in _RANGES:
        if low <= first and last <= high:
            return brand
    return None


def mask(number: str) -> str:
    """The first six and last four digits, `*` between: all a response or a log may show."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:]
