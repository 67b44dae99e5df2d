"""The card registration API: an organisation's member registers (`POST`), reads (`GET`) and removes (`DELETE`)
its payment card at `/api/payment/credit`, with a one-time token of the card gateway. The README's "Card
registration" section is the reference.

Auth: `Authorization: Bearer <personal access token>` of a member (`org create`, `org member add`). Every answer
is the Laravel-style envelope `{"result", "errors", "data"}`: 200 with `result: true`; a card the gateway refuses
is 200 too, `{"result": false, "errors": ["..."], "data": ""}`; a validation failure 422 with `errors` per field
(messages joined with `|`); no payment settings 409; other failures their status, `errors` a list.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import msgspec
from chalice import Blueprint, Response

from chalicelib.api.contract import ApiError, Operation
from chalicelib.api.http import MAX_BODY_BYTES, bearer_credential, json_response
from chalicelib.api.models.registration import CardRegistrationRequest, RegistrationAnswer, RegistrationError
from chalicelib.ledger.errors import Busy
from chalicelib.observability import count, logger
from chalicelib.registration.cards import CardMismatch, CardRefused, NoPaymentSettings, RegisteredCard
from chalicelib.registration.organisations import Member, UnknownMember
from chalicelib.registration.validation import CardForm, validate
from chalicelib.services import Services

PATH = "/api/payment/credit"
TAG = "CardRegistration"

MALFORMED = ApiError(
    400, "リクエストの形式が正しくありません。", description="the body is not a JSON object (or over 64 KiB)"
)
UNAUTHENTICATED = ApiError(
    401, "Unauthenticated.", description="no `Authorization: Bearer <access token>` of a member, or a revoked one"
)
NO_SETTINGS = ApiError(
    409,
    "お支払い設定が登録されていません。",
    description="the organisation has no payment settings (`org settings create`): nothing was written, the token"
    " not spent",
)
INVALID = ApiError(
    422,
    "validation",
    description="fields failed their rules, or disagree with the token's card: `errors` maps each to its messages,"
    " joined with `|`",
)
METHOD_NOT_ALLOWED = ApiError(
    405,
    "このメソッドは使えません。",
    component="RegistrationMethodNotAllowed",
    description="The path exists but not with this method; `Allow` lists the methods it has.",
    headers=("Allow",),
)
SERVER_ERROR = ApiError(
    500,
    "サーバーエラーが発生しました。",
    component="RegistrationServerError",
    description="An unexpected error (logged with the request id).",
)
BUSY = ApiError(
    503,
    "ただいま混み合っています。しばらくしてからお試しください。",
    component="RegistrationBusy",
    description="DynamoDB kept conflicting or throttling after the retries; nothing was written. Retry after"
    " `Retry-After` seconds.",
    headers=("Retry-After",),
)
FRAMEWORK_ERRORS = {405: METHOD_NOT_ALLOWED, 415: MALFORMED, 500: SERVER_ERROR}
COMMON = (UNAUTHENTICATED, METHOD_NOT_ALLOWED, SERVER_ERROR, BUSY)
EXAMPLE = {
    "credit_card_type": 1,
    "credit_card_number": "424242******4242",
    "credit_card_nominee": "TARO YAMADA",
    "credit_card_effective_month": "12",
    "credit_card_effective_year": "30",
    "credit_card_token": "tok_...",
}

REGISTER = Operation(
    "POST",
    PATH,
    "registerCard",
    TAG,
    summary="Register or replace the organisation's payment card",
    description="The card page tokenises the card with the gateway (`POST /api/v1/tokens`, the organisation's"
    " publishable key) and posts the token with the card's masked number here: the full number and the CVC never"
    " come here. The fields are validated (422 per field), must agree with the token's card, and the card is checked"
    " as the gateway checks a purchase's (the test cards' outcomes; a card of this bank), moving no money. A refused"
    " token or card is **200** with `result: false`. The card is then kept as a stored payment method of the"
    " service's merchant, replacing (and detaching) the one registered before, only if the organisation has payment"
    " settings (409 otherwise, nothing written). The token is spent.",
    request=CardRegistrationRequest,
    request_examples={"card": ("A Visa, tokenised", EXAMPLE)},
    security="memberToken",
    ok="Registered (`result: true`), or refused by the card check (`result: false`, `errors` a list).",
    ok_body=RegistrationAnswer,
    error_body=RegistrationError,
    errors=(MALFORMED, NO_SETTINGS, INVALID, *COMMON),
)
CURRENT = Operation(
    "GET",
    PATH,
    "registeredCard",
    TAG,
    summary="The organisation's registered card, masked",
    description="`data` is the card (number masked: first 6 and last 4 digits), or `{}` when none is registered.",
    security="memberToken",
    ok="The card.",
    ok_body=RegistrationAnswer,
    ok_example={"result": True, "errors": "", "data": {k: v for k, v in EXAMPLE.items() if k != "credit_card_token"}},
    error_body=RegistrationError,
    errors=(NO_SETTINGS, *COMMON),
)
REMOVE = Operation(
    "DELETE",
    PATH,
    "removeCard",
    TAG,
    summary="Remove the organisation's card",
    description="Its stored payment method is detached (it can pay no more). Without a card: 200 all the same.",
    security="memberToken",
    ok="Removed (or there was none).",
    ok_body=RegistrationAnswer,
    error_body=RegistrationError,
    errors=(NO_SETTINGS, *COMMON),
)
OPERATIONS = (REGISTER, CURRENT, REMOVE)


def error_response(error: ApiError, errors: dict[str, str] | list[str] | None = None) -> Response:
    body = RegistrationError(result=False, errors=[error.message] if errors is None else errors, data="")
    headers = {"Retry-After": "1"} if error.status == 503 else {}
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return json_response(error.status, body, headers)


def framework_error(status: int) -> Response:
    return error_response(FRAMEWORK_ERRORS.get(status, MALFORMED))


def _ok(data: dict[str, Any]) -> RegistrationAnswer:
    return RegistrationAnswer(result=True, errors="", data=data)


def _shown(card: RegisteredCard) -> dict[str, Any]:
    return {
        "credit_card_type": card.card_type,
        "credit_card_number": card.masked_number,
        "credit_card_nominee": card.nominee,
        "credit_card_effective_month": card.expiry_month,
        "credit_card_effective_year": card.expiry_year,
    }


class _Malformed(Exception):
    pass


def blueprint(services: Services) -> Blueprint:
    bp = Blueprint(__name__)

    def member() -> Member:
        credential = bearer_credential(bp.current_request, ("bearer",))
        found = services.organisations.authenticate(credential or "")
        logger.thread_safe_append_keys(org_id=found.org_id)
        return found

    def answered(handler: Callable[[Member], RegistrationAnswer]) -> Callable[[], Response]:
        @functools.wraps(handler)
        def route() -> Response:
            try:
                return json_response(200, handler(member()))
            except UnknownMember:
                return error_response(UNAUTHENTICATED)
            except _Malformed:
                return error_response(MALFORMED)
            except NoPaymentSettings:
                return error_response(NO_SETTINGS)
            except CardMismatch as mismatch:
                return error_response(INVALID, mismatch.errors)
            except CardRefused as refused:
                count("CardRegistrationsRefused")
                return json_response(200, RegistrationAnswer(result=False, errors=refused.messages, data=""))
            except Busy:
                return error_response(BUSY)

        return route

    def form() -> CardForm | dict[str, str]:
        raw = bp.current_request.raw_body or b""
        if len(raw) > MAX_BODY_BYTES:
            raise _Malformed()
        try:
            body = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise _Malformed() from None
        if not isinstance(body, dict):
            raise _Malformed()
        return validate(body, services.card_registrations.today())

    @REGISTER.route(bp)
    @answered
    def register(caller: Member) -> RegistrationAnswer:
        valid = form()
        if isinstance(valid, dict):
            raise CardMismatch(valid)  # the same 422 as a disagreement with the token's card
        services.card_registrations.register(caller, valid)
        count("CardsRegistered")
        return _ok({})

    @CURRENT.route(bp)
    @answered
    def current(caller: Member) -> RegistrationAnswer:
        card = services.card_registrations.current(caller.org_id)
        return _ok({} if card is None else _shown(card))

    @REMOVE.route(bp)
    @answered
    def remove(caller: Member) -> RegistrationAnswer:
        services.card_registrations.remove(caller.org_id)
        return _ok({})

    return bp
