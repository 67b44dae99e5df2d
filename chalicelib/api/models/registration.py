"""The card registration API's bodies, in its Laravel-style envelope: `{"result", "errors", "data"}`."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta, Struct


class CardRegistrationRequest(Struct):
    """As the card page sends it (validated field by field, each failing rule named: see the 422 answer)."""

    credit_card_type: Annotated[
        int | str, Meta(description="1 VISA, 2 MASTER, 3 JCB, 4 AMEX, 5 DINERS; a string of digits is accepted.")
    ]
    credit_card_number: Annotated[
        str,
        Meta(
            description="The card number MASKED, as the gateway's token answer shows it (`424242******4242`): digits"
            " and `*`, at most the first 6 and last 4 digits visible; 16 characters (AMEX 15, DINERS 14). A full"
            " number is refused."
        ),
    ]
    credit_card_nominee: Annotated[str, Meta(description="The holder's name: half-width letters, 50 at most.")]
    credit_card_effective_month: Annotated[str, Meta(description="`01` to `12`.")]
    credit_card_effective_year: Annotated[str, Meta(description="Two digits: `30` for 2030.")]
    credit_card_token: Annotated[
        str,
        Meta(description="A one-time token of `POST /api/v1/tokens`, made with the organisation's publishable key."),
    ]


class RegistrationAnswer(Struct, forbid_unknown_fields=True):
    """A 200: `{"result": true, "errors": "", "data": {...}}`, or a card the gateway refused (POST only):
    `{"result": false, "errors": ["..."], "data": ""}`."""

    result: bool
    errors: Annotated[str | list[str], Meta(description="`\"\"`; or the refusal's messages, in GMO's words.")]
    data: Annotated[
        dict[str, Any] | str,
        Meta(
            description="`{}` after a registration or a removal, or with no card; for a GET the card, masked:"
            " `credit_card_type`, `credit_card_number` (first 6 and last 4 digits), `credit_card_nominee`,"
            ' `credit_card_effective_month`, `credit_card_effective_year`. `""` with a refusal.'
        ),
    ]


class RegistrationError(Struct, forbid_unknown_fields=True):
    result: Annotated[bool, Meta(description="`false`.")]
    errors: Annotated[
        dict[str, str] | list[str],
        Meta(
            description="A validation failure (422): each failing field's messages, joined with `|`. Otherwise a list"
            " of messages (the card refused, no payment settings, credentials)."
        ),
    ]
    data: Annotated[str, Meta(description='`""`.')]
