"""The fields of a card registration (`POST /api/payment/credit`): what a valid body becomes, or every failing
field's messages, worded as the Laravel/GMO-style API words them.

The card itself arrives as GMO's one-time token; the number only masked, as GMO's `getToken` returns it. A full
number is refused, and no message ever repeats what was sent.
"""

from __future__ import annotations

import re
from datetime import date

import msgspec

from chalicelib.cards.numbers import AMEX, DINERS, JCB, MASTERCARD, VISA, Brand, brand_of_prefix

REQUIRED = "必須項目です"
TOO_FEW_DIGITS = "桁数が足りません"
TOO_MANY_DIGITS = "桁数が多すぎます"
NOT_A_NUMBER = "有効な数字ではありません"
NOT_A_MONTH = "有効な月ではありません"
EXPIRED = "有効期限が切れています"
NOT_A_CARD_TYPE = "有効なカード種類ではありません"
TYPE_DISAGREES = "カード種類とカード番号が一致しません"
NOT_MASKED = "カード番号はマスクして送信してください"
NOMINEE_TOO_LONG = "50文字以内で入力してください"
NOT_HALF_WIDTH = "半角英字で入力してください"
NOT_A_STRING = "有効な文字列ではありません"

TYPE = "credit_card_type"
NUMBER = "credit_card_number"
NOMINEE = "credit_card_nominee"
MONTH = "credit_card_effective_month"
YEAR = "credit_card_effective_year"
TOKEN = "credit_card_token"  # noqa: S105 (a field's name)
FIELDS = (TYPE, NUMBER, NOMINEE, MONTH, YEAR, TOKEN)

CARD_TYPES: dict[int, Brand] = {1: VISA, 2: MASTERCARD, 3: JCB, 4: AMEX, 5: DINERS}
# GMO registers 16 digits but for these (the brand table also knows 16-digit Diners numbers: GMO's are 14)
_NUMBER_LENGTHS = {AMEX.scheme: 15, DINERS.scheme: 14}
_DEFAULT_NUMBER_LENGTH = 16
NOMINEE_MAX_LENGTH = 50

_DIGITS = re.compile(r"[0-9]+")
_NUMBER_CHARACTERS = re.compile(r"[0-9*]+")
_LEADING_DIGITS = re.compile(r"[0-9]*")
# at most the first six and the last four shown, as `numbers.mask` shows them: what the characters are is
# another rule's concern
_MASKED = re.compile(r"[^*]{0,6}\*+[^*]{0,4}")
_NOMINEE = re.compile(r"[A-Za-z .'/-]+")  # GMO's HolderName: half-width
_TOKEN = re.compile(r"[\x20-\x7e]{1,128}")  # printable ASCII


class CardForm(msgspec.Struct, frozen=True):
    """A valid registration body."""

    card_type: int  # a key of CARD_TYPES
    masked_number: str
    nominee: str
    expiry_month: str  # "MM"
    expiry_year: str  # "YY"
    token: str


def validate(body: object, today: date) -> CardForm | dict[str, str]:
    """The form, or `{field: "message|message"}` for every failing field. `today` is the date in JST."""
    values = {name: _present(body, name) for name in FIELDS}
    errors = {name: [REQUIRED] for name, value in values.items() if value is None}
    card_type = None
    if TYPE not in errors:
        card_type, errors[TYPE] = _card_type(values[TYPE])
    if NUMBER not in errors:
        errors[NUMBER] = _card_number(values[NUMBER], card_type)
        if card_type is not None and not errors[NUMBER] and _brand_shown(values[NUMBER]) != CARD_TYPES[card_type]:
            errors[TYPE].append(TYPE_DISAGREES)
    if NOMINEE not in errors:
        errors[NOMINEE] = _nominee(values[NOMINEE])
    if MONTH not in errors:
        errors[MONTH] = _two_digits(values[MONTH]) or ([] if 1 <= int(values[MONTH]) <= 12 else [NOT_A_MONTH])
    if YEAR not in errors:
        errors[YEAR] = _two_digits(values[YEAR])
        # valid through the last day of its month
        if not errors[YEAR] and not errors[MONTH]:
            if (2000 + int(values[YEAR]), int(values[MONTH])) < (today.year, today.month):
                errors[YEAR].append(EXPIRED)
    if TOKEN not in errors:
        token = values[TOKEN]
        errors[TOKEN] = [] if isinstance(token, str) and _TOKEN.fullmatch(token) else [NOT_A_STRING]
    failing = {name: "|".join(errors[name]) for name in FIELDS if errors[name]}
    if failing:
        return failing
    return CardForm(
        card_type=card_type,
        masked_number=values[NUMBER],
        nominee=values[NOMINEE],
        expiry_month=values[MONTH],
        expiry_year=values[YEAR],
        token=values[TOKEN],
    )


def agrees(masked_number: str, full_number: str) -> bool:
    """Whether a full number is one the masked number could show: same length, every shown digit the same."""
    return (
        len(masked_number) == len(full_number)
        and _DIGITS.fullmatch(full_number) is not None
        and all(shown in ("*", digit) for shown, digit in zip(masked_number, full_number, strict=True))
    )


def _brand_shown(number: str) -> Brand | None:
    return brand_of_prefix(_LEADING_DIGITS.match(number).group())


def _present(body: object, name: str) -> object:
    """The member trimmed (as Laravel trims every string), or None when missing, null or blank."""
    value = body.get(name) if isinstance(body, dict) else None
    if isinstance(value, str):
        return value.strip() or None
    return value


def _card_type(value: object) -> tuple[int | None, list[str]]:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value) if len(value) <= 9 else 0  # `int` refuses thousands of digits; so long is no type
    if isinstance(value, bool) or not isinstance(value, int):
        return None, [NOT_A_NUMBER]
    if value not in CARD_TYPES:
        return None, [NOT_A_CARD_TYPE]
    return value, []


def _card_number(value: object, card_type: int | None) -> list[str]:
    if not isinstance(value, str):
        return [NOT_A_STRING]
    errors = [] if _NUMBER_CHARACTERS.fullmatch(value) else [NOT_A_NUMBER]
    brand = CARD_TYPES[card_type] if card_type is not None else _brand_shown(value)
    length = _NUMBER_LENGTHS.get(brand.scheme, _DEFAULT_NUMBER_LENGTH) if brand else _DEFAULT_NUMBER_LENGTH
    if len(value) != length:
        errors.append(TOO_FEW_DIGITS if len(value) < length else TOO_MANY_DIGITS)
    if not _MASKED.fullmatch(value):
        errors.append(NOT_MASKED)
    return errors


def _nominee(value: object) -> list[str]:
    if not isinstance(value, str):
        return [NOT_A_STRING]
    errors = [] if len(value) <= NOMINEE_MAX_LENGTH else [NOMINEE_TOO_LONG]
    if not _NOMINEE.fullmatch(value):
        errors.append(NOT_HALF_WIDTH)
    return errors


def _two_digits(value: object) -> list[str]:
    if not isinstance(value, str):
        return [NOT_A_STRING]
    errors = [] if _DIGITS.fullmatch(value) else [NOT_A_NUMBER]
    if len(value) != 2:
        errors.append(TOO_FEW_DIGITS if len(value) < 2 else TOO_MANY_DIGITS)
    return errors
