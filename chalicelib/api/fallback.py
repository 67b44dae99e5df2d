"""JSON for what the framework answers by itself: unknown paths, wrong methods, unexpected errors.

Chalice renders those as {"Code", "Message"}; the APIs promise their own shape on every response.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.contract import ApiError
from chalicelib.api.http import error_response

NOT_FOUND = ApiError(404, "not found")
METHOD_NOT_ALLOWED = ApiError(
    405,
    "method not allowed",
    component="MethodNotAllowed",
    description="The path exists but not with this method; `Allow` lists the methods it has.",
    headers=("Allow",),
)
UNSUPPORTED_MEDIA_TYPE = ApiError(415, "unsupported media type")
INTERNAL_SERVER_ERROR = ApiError(
    500,
    "internal server error",
    component="InternalServerError",
    description="An unexpected error (logged with the request id).",
)
# What any operation may answer whatever it does.
COMMON_FRAMEWORK_ERRORS = (METHOD_NOT_ALLOWED, INTERNAL_SERVER_ERROR)
BAD_REQUEST = ApiError(400, "bad request")  # any other status Chalice makes up by itself
FRAMEWORK_ERRORS = {
    error.status: error for error in (METHOD_NOT_ALLOWED, UNSUPPORTED_MEDIA_TYPE, INTERNAL_SERVER_ERROR)
}


def not_found() -> Response:
    return error_response(NOT_FOUND.status, NOT_FOUND.message)


def _is_framework_error(response: Response) -> bool:
    return isinstance(response.body, dict) and set(response.body) == {"Code", "Message"}


def _shared_shape(status: int) -> Response:
    return error_response(status, FRAMEWORK_ERRORS.get(status, BAD_REQUEST).message)


def blueprint(shapes: Mapping[str, Callable[[int], Response]]) -> Blueprint:
    """`shapes`: for the paths of an API with an error shape of its own, how to render a status in it."""
    bp = Blueprint(__name__)

    @bp.middleware("http")
    def framework_errors_as_json(event: Any, get_response: Callable[[Any], Response]) -> Response:
        response = get_response(event)
        if not _is_framework_error(response):
            return response
        render = shapes.get((event.context or {}).get("resourcePath"), _shared_shape)
        answer = render(response.status_code)
        if "Allow" in response.headers:
            answer.headers["Allow"] = response.headers["Allow"]
        return answer

    return bp
