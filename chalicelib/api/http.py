"""HTTP plumbing shared by the APIs: JSON bodies in, JSON responses out, bearer credentials."""

from __future__ import annotations

import json
from typing import Any

from chalice import Response
from chalice.app import Request

JSON_HEADERS = {"Content-Type": "application/json"}
# Routes read their body as JSON (or take none) whatever Content-Type says; Chalice would answer 415.
ANY_CONTENT_TYPE = ["*/*"]
MAX_BODY_BYTES = 64 * 1024


class MalformedRequest(Exception):
    """The body is not a JSON object we can read."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_object(request: Request) -> dict[str, Any]:
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise MalformedRequest()
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedRequest() from None
    if not isinstance(body, dict):
        raise MalformedRequest()
    return body


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers={**JSON_HEADERS, **(headers or {})},
    )


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
    """Unicode text: no lone surrogate (JSON's `\\ud800` escapes can carry one; no store or hash takes it)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def strict_int(value: Any) -> int | None:
    """An integer from JSON, refusing booleans and floats (1.0 is not an amount of yen)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None
