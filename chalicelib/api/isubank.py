"""ISUBANK: /check, /reserve, /commit, /cancel for apps holding a Bearer app id.

The README's "ISUBANK" section is the reference; each operation below is declared once (route, bodies,
errors, prose) and the OpenAPI document is generated from these declarations.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.contract import ApiError, Operation
from chalicelib.api.fallback import COMMON_FRAMEWORK_ERRORS
from chalicelib.api.http import MalformedRequest, bearer_credential, error_response, json_response
from chalicelib.api.models.common import Empty
from chalicelib.api.models.isubank import (
    MAX_CANCEL_RESERVES,
    MAX_COMMIT_RESERVES,
    CancelRequest,
    CheckRequest,
    CommitRequest,
    ReserveRequest,
    ReserveResponse,
)
from chalicelib.auth.apps import AppIdentity, UnknownApp
from chalicelib.ledger.errors import (
    AccountExists,
    AccountNotFound,
    Busy,
    HoldAlreadyResolved,
    HoldExpired,
    HoldNotFound,
    InsufficientFunds,
    InvalidRequest,
    TooManyItems,
)
from chalicelib.observability import count, logger
from chalicelib.services import Services

# The API's whole error vocabulary ("paramater" is the contest bank's spelling, kept for its clients).
PARAMETER_INVALID = ApiError(400, "paramater invalid")
CREDIT_INSUFFICIENT = ApiError(400, "credit is insufficient")
RESERVE_EXPIRED = ApiError(400, "reserve is already expired")
RESERVE_RESOLVED = ApiError(400, "reserve is already committed")
BANK_ID_EXISTS = ApiError(400, "bank_id already exists")
APP_ID_NOT_FOUND = ApiError(
    401,
    "app_id not found",
    component="AppIdNotFound",
    description="`Authorization` missing, not `Bearer <app_id>` (or `app_id <app_id>`), or an unknown app id. With"
    " `BANK_CONTEST_COMPAT` on, an unknown app id is admitted instead (registered on first use), so only a missing"
    " or malformed header is 401.",
)
BANK_ID_NOT_FOUND = ApiError(404, "bank_id not found")
RESERVE_ID_NOT_FOUND = ApiError(404, "reserve_id not found")
BUSY = ApiError(
    503,
    "service is busy, please retry",
    component="Busy",
    description="DynamoDB kept conflicting or throttling after the retries; nothing was written. Retry the call"
    " (after `Retry-After` seconds).",
    headers=("Retry-After",),
)
ERRORS: dict[type[Exception], ApiError] = {
    MalformedRequest: PARAMETER_INVALID,
    InvalidRequest: PARAMETER_INVALID,
    TooManyItems: PARAMETER_INVALID,
    InsufficientFunds: CREDIT_INSUFFICIENT,
    HoldExpired: RESERVE_EXPIRED,
    HoldAlreadyResolved: RESERVE_RESOLVED,
    AccountExists: BANK_ID_EXISTS,
    UnknownApp: APP_ID_NOT_FOUND,
    AccountNotFound: BANK_ID_NOT_FOUND,
    HoldNotFound: RESERVE_ID_NOT_FOUND,
    Busy: BUSY,
}
# What every operation may answer besides its own errors.
COMMON_ERRORS = (*COMMON_FRAMEWORK_ERRORS, BUSY)
AUTH_SCHEMES = ("bearer", "app_id")
TAG = "ISUBANK"
AUTH_FIRST = "\n\nThe app id is checked first: a bad `Authorization` is 401 whatever the body."
RESOLVE_ERRORS = (
    PARAMETER_INVALID.when(
        "malformed JSON, `reserve_ids` missing, empty, with a duplicate, a non-integer or an id outside 1..2^63-1,"
        " or more reserves than one DynamoDB transaction takes"
    ),
    RESERVE_EXPIRED.when("a listed reserve is at or past its fifth minute"),
    RESERVE_RESOLVED.when("a listed reserve was already committed or cancelled"),
    APP_ID_NOT_FOUND,
    RESERVE_ID_NOT_FOUND.when("a listed reserve does not exist (or was purged 30 days after it ended)"),
    *COMMON_ERRORS,
)

CHECK = Operation(
    "POST",
    "/check",
    "check",
    TAG,
    summary="Does the user's committed balance cover `price`?",
    description="200 if the committed balance of `bank_id` is at least `price`. Holds are not taken into account."
    " `price: 0` checks that the user exists." + AUTH_FIRST,
    request=CheckRequest,
    request_examples={
        "enough": ("Is there 5,000 yen?", {"bank_id": "alice", "price": 5000}),
        "exists": ("Does the user exist?", {"bank_id": "alice", "price": 0}),
    },
    security="appId",
    ok="The balance covers `price`.",
    ok_body=Empty,
    ok_example={},
    errors=(
        PARAMETER_INVALID.when(
            "malformed JSON, a wrong type, `bank_id` empty or over 128 characters, `price` negative or over 10^12"
        ),
        CREDIT_INSUFFICIENT.when("the committed balance is below `price`"),
        APP_ID_NOT_FOUND,
        BANK_ID_NOT_FOUND.when("no user has this `bank_id`"),
        *COMMON_ERRORS,
    ),
)
RESERVE = Operation(
    "POST",
    "/reserve",
    "reserve",
    TAG,
    summary="Hold funds (`price < 0`) or announce a credit (`price > 0`) for five minutes",
    description="`price < 0` holds `-price` yen of the user's funds, atomically: accepted only while `committed"
    " balance - live debit holds + price >= 0`, so concurrent reserves never overdraw. `price > 0` announces a credit"
    " (always accepted; it counts for nothing until committed). The reserve lives five minutes exactly: until then"
    " it commits or cancels; from then on it is expired and its hold ends by itself." + AUTH_FIRST,
    request=ReserveRequest,
    request_examples={
        "debit": ("Hold 1,000 yen", {"bank_id": "alice", "price": -1000}),
        "credit": ("Announce a credit of 500 yen", {"bank_id": "bob", "price": 500}),
    },
    security="appId",
    ok="The reserve is made.",
    ok_body=ReserveResponse,
    ok_example={"reserve_id": 320846195721},
    errors=(
        PARAMETER_INVALID.when(
            "malformed JSON, a wrong type, `bank_id` empty or over 128 characters, `price` zero or `|price|` over 10^12"
        ),
        CREDIT_INSUFFICIENT.when("a debit beyond the committed balance less the live debit holds"),
        APP_ID_NOT_FOUND,
        BANK_ID_NOT_FOUND.when("no user has this `bank_id`"),
        *COMMON_ERRORS,
    ),
)
COMMIT = Operation(
    "POST",
    "/commit",
    "commit",
    TAG,
    summary="Settle reserves, all or nothing, exactly once",
    description="Settles every listed reserve, all or nothing; the ids may belong to different users. A debit's held"
    " funds leave the balance, a credit's amount joins it. Until its fifth minute a reserve commits (retry on 5xx: a"
    " reserve commits at most once).\n\nA commit writes each reserve and its posting plus each account once, and a"
    f" DynamoDB transaction holds at most 100 items: at most {MAX_COMMIT_RESERVES} reserves (33 if each belongs to a"
    " different user); more is `paramater invalid`." + AUTH_FIRST,
    request=CommitRequest,
    request_examples={"one": ("Settle one reserve", {"reserve_ids": [320846195721]})},
    security="appId",
    ok="Every listed reserve is committed.",
    ok_body=Empty,
    ok_example={},
    errors=RESOLVE_ERRORS,
)
CANCEL = Operation(
    "POST",
    "/cancel",
    "cancel",
    TAG,
    summary="Release reserves, all or nothing",
    description="Releases every listed reserve, all or nothing: a debit's held funds are available again. An expired"
    " reserve can neither commit nor cancel.\n\nA cancel writes each reserve and each account once: at most"
    f" {MAX_CANCEL_RESERVES} reserves (50 if each belongs to a different user); more is `paramater invalid`."
    + AUTH_FIRST,
    request=CancelRequest,
    request_examples={"one": ("Release one reserve", {"reserve_ids": [320846195721]})},
    security="appId",
    ok="Every listed reserve is cancelled.",
    ok_body=Empty,
    ok_example={},
    errors=RESOLVE_ERRORS,
)
OPERATIONS = (CHECK, RESERVE, COMMIT, CANCEL)


def answer(handler: Callable[[], Any]) -> Callable[[], Response]:
    """Run a route body; map the refusals it raises to the API's errors."""

    @functools.wraps(handler)
    def route() -> Response:
        try:
            return json_response(200, handler())
        except tuple(ERRORS) as refusal:
            error = ERRORS[type(refusal)]
            return error_response(error.status, error.message)

    return route


def blueprint(services: Services) -> Blueprint:
    bp = Blueprint(__name__)

    def caller() -> AppIdentity:
        app_id = bearer_credential(bp.current_request, AUTH_SCHEMES)
        if app_id is None:
            raise UnknownApp()
        app = services.apps.authenticate(app_id, admit_unknown=services.settings.contest_compat)
        logger.thread_safe_append_keys(app_key=app.app_key)
        return app

    @CHECK.route(bp)
    @answer
    def check() -> Empty:
        caller()
        body: CheckRequest = CHECK.body(bp.current_request)
        services.accounts.check(body.bank_id, body.price)
        return Empty()

    @RESERVE.route(bp)
    @answer
    def reserve() -> ReserveResponse:
        app = caller()
        body: ReserveRequest = RESERVE.body(bp.current_request)
        reserve_id = services.holds.reserve(body.bank_id, body.price, app.app_key, app.name)
        count("Reserves")
        return ReserveResponse(reserve_id=reserve_id)

    @COMMIT.route(bp)
    @answer
    def commit() -> Empty:
        caller()
        body: CommitRequest = COMMIT.body(bp.current_request)
        services.holds.commit(body.reserve_ids)
        count("Commits", len(body.reserve_ids))
        return Empty()

    @CANCEL.route(bp)
    @answer
    def cancel() -> Empty:
        caller()
        body: CancelRequest = CANCEL.body(bp.current_request)
        services.holds.cancel(body.reserve_ids)
        count("Cancels", len(body.reserve_ids))
        return Empty()

    return bp
