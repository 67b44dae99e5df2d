"""What each operation promises, declared once: its route, its bodies (msgspec models), its errors and its
prose. The routes are registered from these declarations, requests are decoded with their models, and the
OpenAPI document is generated from them (`chalicelib.api.openapi`), so the three cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from chalice import Blueprint
from chalice.app import Request
from msgspec import Struct, field

from chalicelib.api.http import ANY_CONTENT_TYPE, MAX_BODY_BYTES, MalformedRequest, is_text


class ApiError(Struct, frozen=True):
    """One error of an API's vocabulary: its status and message, and optionally a shared description
    (`component`: the document declares it once, under components.responses)."""

    status: int
    message: str
    component: str | None = None
    description: str = ""
    headers: tuple[str, ...] = ()  # names in the document's components.headers, besides X-Request-Id

    def when(self, description: str) -> ApiError:
        """This error as one operation answers it, with what causes it there."""
        return ApiError(self.status, self.message, None, description, self.headers)


class Answer(Struct, frozen=True):
    """A success an operation may give instead of its usual one (`Operation.other_ok`)."""

    status: int
    description: str
    body: type  # its JSON body's model


class Operation(Struct, frozen=True):
    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    description: str
    ok: str  # what a 200 means
    ok_body: type | None  # the 200 body's model; None for a non-JSON answer (`ok_media`)
    errors: tuple[ApiError, ...]
    request: type[msgspec.Struct] | None = None  # a JSON body
    query: type[msgspec.Struct] | None = None  # query parameters, one per field
    path_params: type[msgspec.Struct] | None = None  # the path's `{name}` parameters, one per field
    # The security scheme's name in the document; several names: all of them at once.
    security: str | tuple[str, ...] | None = None
    request_examples: dict[str, tuple[str, Any]] = field(default_factory=dict)  # name -> (summary, value)
    ok_example: Any = None
    ok_media: tuple[str, ...] = ("application/json",)  # the success's content types, one per kind of answer
    ok_status: int = 200
    ok_headers: tuple[str, ...] = ()  # names in the document's components.headers, besides X-Request-Id
    other_ok: tuple[Answer, ...] = ()  # other successes, each with its own status and JSON body
    error_body: type[msgspec.Struct] | None = None  # the API's error model; None: `{"error": ...}`
    error_media: str = "application/json"  # text/html: the errors are pages
    request_media: str = "application/json"
    contest_compat: bool = False
    cors: bool = False  # called from browsers of any origin (Chalice answers the preflight)
    # Read the body whatever Content-Type says (so `curl -d` works); off, Chalice answers 415 to a
    # Content-Type other than application/json.
    any_content_type: bool = True

    def route(self, bp: Blueprint) -> Callable[[Callable], Callable]:
        """Chalice's route decorator for this operation."""
        options: dict[str, Any] = {"cors": True} if self.cors else {}
        if self.any_content_type:
            options["content_types"] = ANY_CONTENT_TYPE
        return bp.route(self.path, methods=[self.method], **options)

    def body(self, request: Request) -> Any:
        """The request body decoded with the operation's model; MalformedRequest if it does not fit."""
        assert self.request is not None
        raw = request.raw_body or b""
        if len(raw) > MAX_BODY_BYTES:
            raise MalformedRequest()
        try:
            # Decoded first: msgspec skips the members a model does not name without checking their UTF-8.
            # A lone surrogate escape is a DecodeError.
            return msgspec.json.decode(raw.decode("utf-8"), type=self.request)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise MalformedRequest() from None

    def params(self, request: Request) -> Any:
        """The query parameters decoded with the operation's model (strings converted as the model says)."""
        assert self.query is not None
        params = dict(request.query_params or {})
        if not all(is_text(value) for value in params.values()):
            raise MalformedRequest()
        try:
            return msgspec.convert(params, self.query, strict=False)
        except msgspec.ValidationError:
            raise MalformedRequest() from None
