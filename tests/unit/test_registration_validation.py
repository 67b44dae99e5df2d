"""The fields of a card registration (`POST /api/payment/credit`): every rule of every field, its message,
and the order messages join in."""

from __future__ import annotations

from datetime import date

import pytest

from chalicelib.registration.validation import (
    EXPIRED,
    MONTH,
    NOMINEE,
    NOMINEE_TOO_LONG,
    NOT_A_CARD_TYPE,
    NOT_A_MONTH,
    NOT_A_NUMBER,
    NOT_A_STRING,
    NOT_HALF_WIDTH,
    NOT_MASKED,
    NUMBER,
    REQUIRED,
    TOKEN,
    TOO_FEW_DIGITS,
    TOO_MANY_DIGITS,
    TYPE,
    TYPE_DISAGREES,
    YEAR,
    CardForm,
    agrees,
    validate,
)

TODAY = date(2025, 6, 15)  # before the sample card's 2025-10

ALL_FIELDS = (TYPE, NUMBER, NOMINEE, MONTH, YEAR, TOKEN)


def sample(**members):
    """The document's sample body, with members replaced (or removed, given `...`)."""
    body = {
        "credit_card_type": 1,
        "credit_card_number": "41111********111",
        "credit_card_nominee": "MASATOSHI KUMAGAI",
        "credit_card_effective_month": "10",
        "credit_card_effective_year": "25",
        "credit_card_token": "b2a3b6f0c1d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0",
    }
    body.update(members)
    return {name: value for name, value in body.items() if value is not ...}


def full_width(text):
    """The full-width forms of ASCII letters and digits, as a Japanese keyboard types them."""
    return "".join(chr(ord(character) + 0xFEE0) for character in text)


def errors_of(body, today=TODAY):
    result = validate(body, today)
    assert isinstance(result, dict), result
    return result


def test_the_documents_sample_is_valid():
    assert validate(sample(), TODAY) == CardForm(
        card_type=1,
        masked_number="41111********111",
        nominee="MASATOSHI KUMAGAI",
        expiry_month="10",
        expiry_year="25",
        token=sample()[TOKEN],
    )


def test_strings_are_kept_as_sent_trimmed_and_extra_members_ignored():
    body = sample(credit_card_nominee="  Masatoshi Kumagai ", credit_card_secure_number="123", extra=[1])
    form = validate(body, TODAY)
    assert isinstance(form, CardForm) and form.nominee == "Masatoshi Kumagai"
    failing = errors_of({**body, TOKEN: None})
    assert failing == {TOKEN: REQUIRED} and "123" not in str(failing)


@pytest.mark.parametrize("field", ALL_FIELDS)
@pytest.mark.parametrize("value", [..., None, "", "   ", "\t\n"])
def test_missing_null_or_blank_is_only_required(field, value):
    assert errors_of(sample(**{field: value})) == {field: REQUIRED}


@pytest.mark.parametrize("body", [None, [], [sample()], "body", "", 1, 1.5, True, {}])
def test_a_body_not_an_object_fails_every_field_as_required(body):
    assert errors_of(body) == dict.fromkeys(ALL_FIELDS, REQUIRED)


@pytest.mark.parametrize(("value", "card_type"), [(1, 1), ("1", 1), (" 1 ", 1), ("01", 1), (2, 2), ("5", 5)], ids=repr)
def test_card_type_is_an_integer_or_a_string_of_digits(value, card_type):
    numbers = {1: "41111********111", 2: "555555******4444", 5: "305693****5904"}
    form = validate(sample(credit_card_type=value, credit_card_number=numbers[card_type]), TODAY)
    assert isinstance(form, CardForm) and form.card_type == card_type


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, NOT_A_NUMBER),
        (False, NOT_A_NUMBER),
        (1.5, NOT_A_NUMBER),
        (1.0, NOT_A_NUMBER),
        ("x", NOT_A_NUMBER),
        ("-1", NOT_A_NUMBER),
        ("1.0", NOT_A_NUMBER),
        (full_width("1"), NOT_A_NUMBER),
        ([1], NOT_A_NUMBER),
        ({"type": 1}, NOT_A_NUMBER),
        (0, NOT_A_CARD_TYPE),
        (6, NOT_A_CARD_TYPE),
        (-1, NOT_A_CARD_TYPE),
        ("6", NOT_A_CARD_TYPE),
        ("0" * 5000 + "1", NOT_A_CARD_TYPE),
        (10**30, NOT_A_CARD_TYPE),
    ],
    ids=lambda value: repr(value)[:20],
)
def test_card_type_refusals(value, message):
    # the number passes its own rules by its leading digits: no agreement check, no number error
    assert errors_of(sample(credit_card_type=value)) == {TYPE: message}


BRANDS = [  # (type, a masked number of that brand)
    (1, "41111********111"),
    (1, "424242******4242"),
    (1, "4***************"),  # one digit shown names VISA already
    (2, "555555******4444"),
    (2, "222100******0000"),
    (3, "353011******0000"),
    (4, "378282*****0005"),
    (4, "34*************"),
    (5, "305693****5904"),
    (5, "36************"),
]


@pytest.mark.parametrize(("card_type", "number"), BRANDS)
def test_card_type_agrees_with_the_numbers_brand(card_type, number):
    form = validate(sample(credit_card_type=card_type, credit_card_number=number), TODAY)
    assert isinstance(form, CardForm) and (form.card_type, form.masked_number) == (card_type, number)


@pytest.mark.parametrize(
    ("card_type", "number"),
    [
        (2, "41111********111"),
        (3, "424242******4242"),
        (1, "555555******4444"),
        (1, "353011******0000"),
        (2, "353011******0000"),
        (2, "378282******0005"),  # AMEX digits, a 16-digit length
        (1, "305693******5904"),
        (1, "601111******1117"),  # DISCOVER: no type of its own
        (1, "999999******9999"),  # no brand
        (1, "************1111"),  # no digit shown
        (4, "3**************"),  # AMEX, JCB or DINERS: "3" names none
        (3, "35************00"),  # "35" is partly JCB only
    ],
)
def test_card_type_disagreeing_with_the_numbers_brand(card_type, number):
    assert errors_of(sample(credit_card_type=card_type, credit_card_number=number)) == {TYPE: TYPE_DISAGREES}


@pytest.mark.parametrize(
    ("card_type", "number", "failing"),
    [
        # the length is the valid type's, and a failing number is not checked against the type
        (1, "378282*****0005", {NUMBER: TOO_FEW_DIGITS}),
        (4, "41111********111", {NUMBER: TOO_MANY_DIGITS}),
        (3, "305693****5904", {NUMBER: TOO_FEW_DIGITS}),
        # an invalid type: the length is the shown brand's, else 16; and no agreement check
        (9, "378282*****0005", {TYPE: NOT_A_CARD_TYPE}),
        (9, "305693****5904", {TYPE: NOT_A_CARD_TYPE}),
        ("x", "378282******0005", {TYPE: NOT_A_NUMBER, NUMBER: TOO_MANY_DIGITS}),
        (9, "999999*****9999", {TYPE: NOT_A_CARD_TYPE, NUMBER: TOO_FEW_DIGITS}),
        (9, "601111******1117", {TYPE: NOT_A_CARD_TYPE}),
        (None, "305693****5904", {TYPE: REQUIRED}),
        (None, "305693******5904", {TYPE: REQUIRED, NUMBER: TOO_MANY_DIGITS}),
    ],
)
def test_the_numbers_length_is_its_brands(card_type, number, failing):
    assert errors_of(sample(credit_card_type=card_type, credit_card_number=number)) == failing


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("12ab", f"{NOT_A_NUMBER}|{TOO_FEW_DIGITS}|{NOT_MASKED}"),
        ("x" * 100, f"{NOT_A_NUMBER}|{TOO_MANY_DIGITS}|{NOT_MASKED}"),
        ("4111-1******1111", NOT_A_NUMBER),
        (full_width("41111") + "********111", NOT_A_NUMBER),
        ("41111 ********111", f"{NOT_A_NUMBER}|{TOO_MANY_DIGITS}"),
        ("4111********111", TOO_FEW_DIGITS),
        ("41111*********1111", TOO_MANY_DIGITS),
        ("4242424242424242", NOT_MASKED),  # a full number
        ("4111111*********", NOT_MASKED),  # seven shown first
        ("411111*****11111", NOT_MASKED),  # five shown last
        ("41**11******1111", NOT_MASKED),  # stars in two runs
        ("4242424242424", f"{TOO_FEW_DIGITS}|{NOT_MASKED}"),
        ("42424242424242424242", f"{TOO_MANY_DIGITS}|{NOT_MASKED}"),
        (4111111111111111, NOT_A_STRING),
        (["41111********111"], NOT_A_STRING),
        ({"number": "41111********111"}, NOT_A_STRING),
        (True, NOT_A_STRING),
    ],
    ids=lambda value: repr(value)[:24],
)
def test_card_number_refusals_join_in_order(number, message):
    assert errors_of(sample(credit_card_number=number)) == {NUMBER: message}


@pytest.mark.parametrize(
    ("card_type", "full_number"),
    [(1, "4242424242424242"), (2, "5555555555554444"), (3, "3530111333300000"), (4, "378282246310005"),
     (5, "30569309025904"), (1, "4111111111111111")],
)  # fmt: skip
def test_a_full_number_is_refused_and_never_repeated(card_type, full_number):
    body = sample(credit_card_type=card_type, credit_card_number=full_number, credit_card_secure_number="123")
    for failing in (errors_of(body), errors_of({**body, NOMINEE: "熊谷", MONTH: "13", TOKEN: 1})):
        assert failing[NUMBER] == NOT_MASKED and TYPE not in failing
        assert full_number not in str(failing) and full_number[:6] not in str(failing) and "123" not in str(failing)


@pytest.mark.parametrize(
    ("nominee", "message"),
    [
        ("MASATOSHI KUMAGAI", None),
        ("O'Brien J.-P./Smith", None),
        ("masatoshi kumagai", None),
        ("A" * 50, None),
        ("A" * 51, NOMINEE_TOO_LONG),
        ("熊谷 正敏", NOT_HALF_WIDTH),
        (full_width("MASATOSHI"), NOT_HALF_WIDTH),
        ("ﾏｻﾄｼ", NOT_HALF_WIDTH),  # half-width kana
        ("KUMAGAI 2", NOT_HALF_WIDTH),
        ("KUMAGAI,M", NOT_HALF_WIDTH),
        ("A\tB", NOT_HALF_WIDTH),
        ("Émile", NOT_HALF_WIDTH),
        ("く" * 51, f"{NOMINEE_TOO_LONG}|{NOT_HALF_WIDTH}"),
        (123, NOT_A_STRING),
        (["MASATOSHI"], NOT_A_STRING),
    ],
    ids=lambda value: repr(value)[:24],
)
def test_nominee(nominee, message):
    result = validate(sample(credit_card_nominee=nominee), TODAY)
    if message is None:
        assert isinstance(result, CardForm) and result.nominee == nominee
    else:
        assert result == {NOMINEE: message}


TWO_DIGITS = [
    ("1", TOO_FEW_DIGITS),
    ("123", TOO_MANY_DIGITS),
    ("2025", TOO_MANY_DIGITS),
    ("ab", NOT_A_NUMBER),
    ("a", f"{NOT_A_NUMBER}|{TOO_FEW_DIGITS}"),
    ("1a3", f"{NOT_A_NUMBER}|{TOO_MANY_DIGITS}"),
    ("-1", NOT_A_NUMBER),
    (full_width("12"), NOT_A_NUMBER),
    (10, NOT_A_STRING),
    (10.0, NOT_A_STRING),
    (True, NOT_A_STRING),
    (["10"], NOT_A_STRING),
]


@pytest.mark.parametrize(
    ("month", "message"), [*TWO_DIGITS, ("00", NOT_A_MONTH), ("13", NOT_A_MONTH), ("99", NOT_A_MONTH)], ids=repr
)
def test_effective_month_refusals(month, message):
    assert errors_of(sample(credit_card_effective_month=month)) == {MONTH: message}


@pytest.mark.parametrize("month", ["01", "06", "12", " 12 "])
def test_effective_month_valid(month):
    form = validate(sample(credit_card_effective_month=month, credit_card_effective_year="30"), TODAY)
    assert isinstance(form, CardForm) and form.expiry_month == month.strip()


@pytest.mark.parametrize(("year", "message"), TWO_DIGITS, ids=repr)
def test_effective_year_refusals(year, message):
    assert errors_of(sample(credit_card_effective_year=year)) == {YEAR: message}


@pytest.mark.parametrize(
    ("today", "month", "year", "expired"),
    [
        (date(2025, 10, 1), "10", "25", False),  # this month
        (date(2025, 10, 31), "10", "25", False),  # through its last day
        (date(2025, 11, 1), "10", "25", True),  # last month
        (date(2025, 11, 1), "11", "25", False),
        (date(2026, 1, 1), "12", "25", True),  # last year's December
        (date(2026, 1, 31), "01", "26", False),
        (date(2026, 1, 1), "01", "25", True),
        (date(2026, 1, 1), "12", "24", True),
        (date(2025, 6, 15), "01", "99", False),
        (date(2025, 6, 15), "05", "00", True),
    ],
)
def test_expiry(today, month, year, expired):
    result = validate(sample(credit_card_effective_month=month, credit_card_effective_year=year), today)
    assert result == {YEAR: EXPIRED} if expired else isinstance(result, CardForm)


@pytest.mark.parametrize(
    ("month", "year", "failing"),
    [
        ("13", "20", {MONTH: NOT_A_MONTH}),
        ("1", "20", {MONTH: TOO_FEW_DIGITS}),
        (None, "20", {MONTH: REQUIRED}),
        ("05", "200", {YEAR: TOO_MANY_DIGITS}),
    ],
)
def test_expiry_is_checked_only_when_month_and_year_are_valid(month, year, failing):
    body = sample(credit_card_effective_month=month, credit_card_effective_year=year)
    assert errors_of(body, date(2025, 6, 15)) == failing


@pytest.mark.parametrize("token", ["t", "tok_0123-ABCD.efgh", "a" * 128, "a b", "!~{}"])
def test_token_valid(token):
    form = validate(sample(credit_card_token=token), TODAY)
    assert isinstance(form, CardForm) and form.token == token


@pytest.mark.parametrize(
    "token", ["a" * 129, "トークン", "tok\x00en", "tok\x7fen", "tok\nen", "tokén", 123, ["tok"], {"t": 1}, True]
)
def test_token_refusals(token):
    assert errors_of(sample(credit_card_token=token)) == {TOKEN: NOT_A_STRING}


def test_every_failing_field_in_field_order():
    body = {
        "credit_card_token": 42,
        "credit_card_effective_year": "2x",
        "credit_card_effective_month": "00",
        "credit_card_nominee": "熊" * 60,
        "credit_card_number": "4242 4242",
        "credit_card_type": "VISA",
        "credit_card_secure_number": "123",
    }
    failing = errors_of(body)
    assert failing == {
        TYPE: NOT_A_NUMBER,
        NUMBER: f"{NOT_A_NUMBER}|{TOO_FEW_DIGITS}|{NOT_MASKED}",
        NOMINEE: f"{NOMINEE_TOO_LONG}|{NOT_HALF_WIDTH}",
        MONTH: NOT_A_MONTH,
        YEAR: NOT_A_NUMBER,
        TOKEN: NOT_A_STRING,
    }
    assert list(failing) == list(ALL_FIELDS)
    assert all(len(set(messages.split("|"))) == len(messages.split("|")) for messages in failing.values())


@pytest.mark.parametrize(
    ("masked", "full", "expected"),
    [
        ("41111********111", "4111111111111111", True),
        ("424242******4242", "4242424242424242", True),
        ("378282*****0005", "378282246310005", True),
        ("4***************", "4242424242424242", True),  # fewer digits shown
        ("************4242", "4242424242424242", True),
        ("****************", "4242424242424242", True),
        ("424242******4242", "424242424242424", False),  # a digit short
        ("424242******4242", "42424242424242420", False),  # a digit long
        ("424242******4242", "4242424342424242", True),  # a hidden digit differs
        ("424242******4242", "4242424242424243", False),  # a shown digit differs
        ("524242******4242", "4242424242424242", False),
        ("41111********111", "4111111111111112", False),
        ("", "", False),
        ("424242******4242", "424242abcdef4242", False),  # not a number
    ],
)
def test_agrees(masked, full, expected):
    assert agrees(masked, full) is expected
