"""ISUBANK's bodies, and those of its contest-compatibility routes."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta, Struct

from chalicelib.ids import MAX_RESERVE_ID as MAX_ISSUED_RESERVE_ID
from chalicelib.ledger.changes import MAX_AMOUNT

MAX_BANK_ID_LENGTH = 128
MAX_RESERVE_ID = 2**63 - 1
# A DynamoDB transaction holds 100 items: a commit writes each reserve and its posting (and each account
# once), a cancel each reserve (and each account once).
MAX_COMMIT_RESERVES = 49
MAX_CANCEL_RESERVES = 99

BankId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_BANK_ID_LENGTH,
        description="A bank user's id: 1 to 128 characters (Unicode code points; a lone surrogate such as"
        " `\\ud800` is `paramater invalid`).",
        examples=["alice"],
    ),
]
ReserveId = Annotated[
    int,
    Meta(
        ge=1,
        le=MAX_RESERVE_ID,
        description="A reserve's id. Accepted in 1..2^63-1; the bank issues random ids below 2^53 (exact in"
        " JavaScript), unique across the bank.",
        examples=[320846195721],
    ),
]
IssuedReserveId = Annotated[int, Meta(ge=1, le=MAX_ISSUED_RESERVE_ID, description="Below 2^53.")]


def _reserve_ids(most: int) -> Any:
    """A list of 1 to `most` distinct reserve ids (distinct: `_DistinctReserveIds` checks it)."""
    return Annotated[
        list[ReserveId],
        Meta(
            min_length=1,
            max_length=most,
            extra_json_schema={"uniqueItems": True},
            description=f"1 to {most} distinct reserve ids.",
        ),
    ]


class _DistinctReserveIds(Struct):
    reserve_ids: list[int]

    def __post_init__(self) -> None:
        if len(set(self.reserve_ids)) != len(self.reserve_ids):
            raise ValueError("reserve_ids has a duplicate")


class CheckRequest(Struct):
    bank_id: BankId
    price: Annotated[
        int,
        Meta(
            ge=0,
            le=MAX_AMOUNT,
            description='Yen, a JSON integer (not `1.0`, `"1"` or `true`); `0` checks that the user exists.',
        ),
    ]


class ReserveRequest(Struct):
    bank_id: BankId
    price: Annotated[
        int,
        Meta(
            ge=-MAX_AMOUNT,
            le=MAX_AMOUNT,
            extra_json_schema={"not": {"const": 0}},
            description="Yen, a non-zero JSON integer with `|price| <= 10^12`: `< 0` holds funds, `> 0` announces"
            " a credit.",
        ),
    ]

    def __post_init__(self) -> None:
        if self.price == 0:
            raise ValueError("price is zero")


class CommitRequest(_DistinctReserveIds):
    reserve_ids: _reserve_ids(MAX_COMMIT_RESERVES)  # type: ignore[valid-type]


class CancelRequest(_DistinctReserveIds):
    reserve_ids: _reserve_ids(MAX_CANCEL_RESERVES)  # type: ignore[valid-type]


class ReserveResponse(Struct, forbid_unknown_fields=True):
    reserve_id: IssuedReserveId


# --- contest compatibility ------------------------------------------------------------------------------


class RegisterRequest(Struct):
    bank_id: BankId


class AddCreditRequest(Struct):
    bank_id: BankId
    price: Annotated[int, Meta(ge=1, le=MAX_AMOUNT, description="Yen, a JSON integer.")]


class CreditQuery(Struct):
    bank_id: Annotated[BankId, Meta(description="The user (when repeated, the last one counts).")]


class CreditResponse(Struct, forbid_unknown_fields=True):
    credit: Annotated[int, Meta(ge=0, description="The committed balance in yen.")]
