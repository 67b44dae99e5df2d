"""ISUBANK: /check, /reserve, /commit, /cancel for apps holding a Bearer app id.

Paths, bodies, status codes and error messages are the document's (../shared/specs/isubank.txt,
read as ../shared/specs/README.md section 1 says).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import (
    ANY_CONTENT_TYPE,
    MalformedRequest,
    bearer_credential,
    is_text,
    json_object,
    json_response,
    strict_int,
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

# The API's whole error vocabulary: what each refusal is called and its status.
PARAMETER_INVALID = (400, "paramater invalid")
ERRORS: dict[type[Exception], tuple[int, str]] = {
    MalformedRequest: PARAMETER_INVALID,
    InvalidRequest: PARAMETER_INVALID,
    TooManyItems: PARAMETER_INVALID,
    InsufficientFunds: (400, "credit is insufficient"),
    HoldExpired: (400, "reserve is already expired"),
    HoldAlreadyResolved: (400, "reserve is already committed"),
    AccountExists: (400, "bank_id already exists"),
    UnknownApp: (401, "app_id not found"),
    AccountNotFound: (404, "bank_id not found"),
    HoldNotFound: (404, "reserve_id not found"),
    Busy: (503, "service is busy, please retry"),
}
AUTH_SCHEMES = ("bearer", "app_id")
MAX_BANK_ID_LENGTH = 128
MAX_RESERVE_ID = 2**63 - 1


def error_response(status: int, message: str) -> Response:
    headers = {"Retry-After": "1"} if status == 503 else None
    return json_response(status, {"error": message}, headers)


def answer(handler: Callable[[], Any]) -> Callable[[], Response]:
    """Run a route body; map the refusals it raises to the document's errors."""

    @functools.wraps(handler)
    def route() -> Response:
        try:
            return json_response(200, handler())
        except tuple(ERRORS) as error:
            return error_response(*ERRORS[type(error)])

    return route


def parse_bank_id(body: dict[str, Any]) -> str:
    bank_id = body.get("bank_id")
    if not isinstance(bank_id, str) or not 0 < len(bank_id) <= MAX_BANK_ID_LENGTH or not is_text(bank_id):
        raise InvalidRequest()
    return bank_id


def parse_price(body: dict[str, Any]) -> int:
    price = strict_int(body.get("price"))
    if price is None:
        raise InvalidRequest()
    return price


def parse_reserve_ids(body: dict[str, Any]) -> list[int]:
    raw = body.get("reserve_ids")
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest()
    reserve_ids = [strict_int(value) for value in raw]
    if any(rid is None or not 0 < rid <= MAX_RESERVE_ID for rid in reserve_ids):
        raise InvalidRequest()
    if len(set(reserve_ids)) != len(reserve_ids):
        raise InvalidRequest()
    return reserve_ids  # type: ignore[return-value]


def blueprint(services: Services) -> Blueprint:
    bp = Blueprint(__name__)

    def caller() -> AppIdentity:
        app_id = bearer_credential(bp.current_request, AUTH_SCHEMES)
        if app_id is None:
            raise UnknownApp()
        app = services.apps.authenticate(app_id, admit_unknown=services.settings.contest_compat)
        logger.thread_safe_append_keys(app_key=app.app_key)
        return app

    @bp.route("/check", methods=["POST"], content_types=ANY_CONTENT_TYPE)
    @answer
    def check() -> dict:
        caller()
        body = json_object(bp.current_request)
        services.accounts.check(parse_bank_id(body), parse_price(body))
        return {}

    @bp.route("/reserve", methods=["POST"], content_types=ANY_CONTENT_TYPE)
    @answer
    def reserve() -> dict:
        app = caller()
        body = json_object(bp.current_request)
        reserve_id = services.holds.reserve(parse_bank_id(body), parse_price(body), app.app_key, app.name)
        count("Reserves")
        return {"reserve_id": reserve_id}

    @bp.route("/commit", methods=["POST"], content_types=ANY_CONTENT_TYPE)
    @answer
    def commit() -> dict:
        caller()
        reserve_ids = parse_reserve_ids(json_object(bp.current_request))
        services.holds.commit(reserve_ids)
        count("Commits", len(reserve_ids))
        return {}

    @bp.route("/cancel", methods=["POST"], content_types=ANY_CONTENT_TYPE)
    @answer
    def cancel() -> dict:
        caller()
        reserve_ids = parse_reserve_ids(json_object(bp.current_request))
        services.holds.cancel(reserve_ids)
        count("Cancels", len(reserve_ids))
        return {}

    return bp
