"""The OpenAPI 3.1 document, generated from every API's operation declarations and body models.

    python -m chalicelib.api.openapi > chalicelib/api/openapi.json     # `make openapi`

The prose that belongs to no single operation (the document's introduction, tags, security schemes and
shared headers) is here; each operation's own prose is declared with it. A test regenerates the document
and compares it with the served file, so the file is always what the code says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from chalicelib.api import docs, isubank, isubank_compat
from chalicelib.api.contract import ApiError, Operation
from chalicelib.api.models.common import Error

OPERATIONS: tuple[Operation, ...] = (*isubank.OPERATIONS, *isubank_compat.OPERATIONS, *docs.OPERATIONS)

INFO = {
    "title": "Bank API",
    "version": "1.0.0",
    "summary": "ISUBANK: check, hold and settle a bank user's funds.",
    "description": "One bank, one ledger. This release serves ISUBANK (`/check`, `/reserve`, `/commit`, `/cancel`);"
    " the bank common API, card purchase and card registration follow.\n\n"
    "- Every response is JSON except `/docs` and its files. Success bodies are `{}` except reserve's"
    ' `{"reserve_id": N}`; errors are `{"error": "<message>"}` with the messages each response lists (`paramater`'
    " is the contest bank's spelling, kept for its clients).\n"
    '- Request bodies are read as JSON whatever the `Content-Type` says. Integers are JSON integers: `1.0`, `"1"`,'
    " `true` and `null` are `paramater invalid`.\n"
    '- An unknown path is 404 `{"error": "not found"}` (deployed with `make package`, API Gateway answers so'
    ' too); a known path with another method is 405 `{"error": "method not allowed"}` with `Allow` on the local'
    " server, and 404 on API Gateway.\n"
    "- Operations marked `x-contest-compat: true` exist only on stages with `BANK_CONTEST_COMPAT` on.",
}
TAGS = {
    isubank.TAG: "For apps holding an app id: check, hold and settle a user's funds.",
    isubank_compat.TAG: "The contest bank's operator routes, without credentials; only with `BANK_CONTEST_COMPAT` on.",
    docs.TAG: "This document, as JSON and as an interactive page (Swagger UI) to read it and try its operations.",
}
SECURITY_SCHEMES = {
    "appId": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "app id",
        "description": "ISUBANK: `Authorization: Bearer <app_id>`, an app id issued by an operator (`python -m"
        " chalicelib.cli app create`). The scheme word `app_id` is accepted too (`Authorization: app_id <app_id>`),"
        " as older clients send it; the scheme word is case-insensitive.",
    },
    "accessToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "access token",
        "description": "Bank common API (coming): `Authorization: Bearer <access_token>` from `/auth/system_token`"
        " or `/auth/token`. No operation uses it yet.",
    },
    "basicAuth": {
        "type": "http",
        "scheme": "basic",
        "description": "Card purchase (coming): `Authorization: Basic <api key>`, together with `x-api-key`. No"
        " operation uses it yet.",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "Card purchase (coming): the merchant's API key, together with `Authorization: Basic`. No"
        " operation uses it yet.",
    },
}
HEADERS = {
    "X-Request-Id": {
        "description": "The request's id (API Gateway's, or a fresh one locally), as in the logs. On every response.",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    },
    "Allow": {
        "description": "The methods the path has, comma separated.",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "integer", "const": 1},
    },
}
REQUEST_BODY = (
    "A JSON object. The body is read as JSON whatever the `Content-Type` says (so `curl -d` works); members not"
    " listed are ignored."
)
SCHEMA_REF = "#/components/schemas/{name}"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _header_component(name: str) -> str:
    return name.replace("-", "")


def _headers(names: Iterable[str]) -> dict[str, Any]:
    return {name: _ref("headers", _header_component(name)) for name in ("X-Request-Id", *names)}


def _error_response(errors: list[ApiError]) -> dict[str, Any]:
    headers = [name for error in errors for name in error.headers]
    messages = list(dict.fromkeys(error.message for error in errors))
    return {
        "description": " ".join(f"`{error.message}`: {error.description}." for error in errors),
        "headers": _headers(dict.fromkeys(headers)),
        "content": {
            "application/json": {
                "schema": {"allOf": [_ref("schemas", "Error"), {"properties": {"error": {"enum": messages}}}]},
                "examples": {
                    re.sub(r"\W+", "_", message).strip("_"): {"summary": message, "value": {"error": message}}
                    for message in messages
                },
            }
        },
    }


class _Builder:
    def __init__(self, operations: tuple[Operation, ...]) -> None:
        self.operations = operations
        self.responses: dict[str, Any] = {}

    def document(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for operation in self.operations:
            paths.setdefault(operation.path, {})[operation.method.lower()] = self.operation(operation)
        models = {Error}
        for operation in self.operations:
            models |= {model for model in (operation.request, operation.ok_body) if model is not None}
        _, schemas = msgspec.json.schema_components(sorted(models, key=lambda m: m.__name__), ref_template=SCHEMA_REF)
        return {
            "openapi": "3.1.0",
            "info": INFO,
            "tags": [{"name": name, "description": description} for name, description in TAGS.items()],
            "paths": paths,
            "components": {
                "schemas": schemas,
                "responses": dict(sorted(self.responses.items())),
                "headers": {_header_component(name): header for name, header in HEADERS.items()},
                "securitySchemes": SECURITY_SCHEMES,
            },
        }

    def operation(self, operation: Operation) -> dict[str, Any]:
        result: dict[str, Any] = {"tags": [operation.tag], "operationId": operation.operation_id}
        if operation.contest_compat:
            result["x-contest-compat"] = True
        result["summary"] = operation.summary
        result["description"] = operation.description
        result["security"] = [{operation.security: []}] if operation.security else []
        parameters = [
            *(self.parameters(operation.path_params, "path") if operation.path_params else ()),
            *(self.parameters(operation.query, "query") if operation.query else ()),
        ]
        if parameters:
            result["parameters"] = parameters
        if operation.request is not None:
            media: dict[str, Any] = {"schema": _ref("schemas", operation.request.__name__)}
            if operation.request_examples:
                media["examples"] = {
                    name: {"summary": summary, "value": value}
                    for name, (summary, value) in operation.request_examples.items()
                }
            result["requestBody"] = {
                "required": True,
                "description": REQUEST_BODY,
                "content": {"application/json": media},
            }
        result["responses"] = self.operation_responses(operation)
        return result

    def parameters(self, model: type[msgspec.Struct], location: str) -> list[dict[str, Any]]:
        _, components = msgspec.json.schema_components([model], ref_template=SCHEMA_REF)
        schema = components[model.__name__]
        parameters = []
        for name, prop in schema["properties"].items():
            prop = dict(prop)
            # A path parameter is always required (OpenAPI), a query parameter when its field has no default.
            required = location == "path" or name in schema.get("required", [])
            parameter = {"name": name, "in": location, "required": required}
            if "description" in prop:
                parameter["description"] = prop.pop("description")
            parameter["schema"] = prop
            parameters.append(parameter)
        return parameters

    def operation_responses(self, operation: Operation) -> dict[str, Any]:
        ok_schema = _ref("schemas", operation.ok_body.__name__) if operation.ok_body else {"type": "string"}
        ok_media: dict[str, Any] = {"schema": ok_schema}
        if operation.ok_example is not None:
            ok_media["example"] = operation.ok_example
        content = {media_type: ok_media for media_type in operation.ok_media}
        responses: dict[str, Any] = {"200": {"description": operation.ok, "headers": _headers(()), "content": content}}
        by_status: dict[int, list[ApiError]] = {}
        for error in operation.errors:
            by_status.setdefault(error.status, []).append(error)
        for status, errors in sorted(by_status.items()):
            if len(errors) == 1 and errors[0].component:
                error = errors[0]
                self.responses[error.component] = {**_error_response(errors), "description": error.description}
                responses[str(status)] = _ref("responses", error.component)
            else:
                assert not any(error.component for error in errors), f"shared {status} mixed with others"
                responses[str(status)] = _error_response(errors)
        return responses


def build() -> dict[str, Any]:
    return _Builder(OPERATIONS).document()


def render(document: dict[str, Any]) -> str:
    """The document as the served file holds it."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(build()), end="")
