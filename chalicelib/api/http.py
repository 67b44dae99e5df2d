"""HTTP plumbing shared by the APIs: JSON responses, the `{"error": ...}` body, bearer credentials."""

from __future__ import annotations

from typing import Any

import msgspec
from chalice import Response
from chalice.app import Request

JSON_HEADERS = {"Content-Type": "application/json"}
# Routes read their body as JSON (or take none) whatever Content-Type says; Chalice would answer 415.
ANY_CONTENT_TYPE = ["*/*"]
MAX_BODY_BYTES = 64 * 1024


class MalformedRequest(Exception):
    """The body or the query is not what the operation's model declares."""


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response; `body` is a model or plain JSON data."""
    return Response(
        body=msgspec.json.encode(body).decode("utf-8"),
        status_code=status,
        headers={**JSON_HEADERS, **(headers or {})},
    )


def error_response(status: int, message: str) -> Response:
    """`{"error": message}`: the error body of ISUBANK and of what the framework answers by itself."""
    headers = {"Retry-After": "1"} if status == 503 else None
    return json_response(status, {"error": message}, headers)


def bearer_credential(request: Request, schemes: tuple[str, ...]) -> str | None:
    """The credential of `Authorization: <scheme> <credential>` for one of `schemes` (any case)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() not in schemes or not is_text(parts[1]):
        return None
    return parts[1]


def is_text(value: str) -> bool:
    """Unicode text: no lone surrogate (no store or hash takes one)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
