"""JSON for what the framework answers by itself: unknown paths, wrong methods, unexpected errors.

Chalice renders those as {"Code", "Message"}; the APIs promise their own shape on every response.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.isubank import error_response

NOT_FOUND = (404, "not found")
_FRAMEWORK_MESSAGES = {
    405: "method not allowed",
    415: "unsupported media type",
    500: "internal server error",
}


def not_found() -> Response:
    return error_response(*NOT_FOUND)


def _is_framework_error(response: Response) -> bool:
    return isinstance(response.body, dict) and set(response.body) == {"Code", "Message"}


def blueprint() -> Blueprint:
    bp = Blueprint(__name__)

    @bp.middleware("http")
    def framework_errors_as_json(event: Any, get_response: Callable[[Any], Response]) -> Response:
        response = get_response(event)
        if not _is_framework_error(response):
            return response
        status = response.status_code
        message = _FRAMEWORK_MESSAGES.get(status, "bad request")
        answer = error_response(status, message)
        if "Allow" in response.headers:
            answer.headers["Allow"] = response.headers["Allow"]
        return answer

    return bp
