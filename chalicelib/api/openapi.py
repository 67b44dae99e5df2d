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

from chalicelib.api import (
    bank,
    card_page,
    card_registration,
    challenge_page,
    docs,
    gateway,
    isubank,
    isubank_compat,
    login_page,
)
from chalicelib.api.contract import ApiError, Operation
from chalicelib.api.models.common import Error
from chalicelib.api.models.gateway import GatewayError
from chalicelib.api.models.registration import RegistrationError
from chalicelib.cards.errors import DESCRIPTIONS

OPERATIONS: tuple[Operation, ...] = (
    *isubank.OPERATIONS,
    *isubank_compat.OPERATIONS,
    *bank.OPERATIONS,
    *login_page.OPERATIONS,
    *gateway.OPERATIONS,
    *challenge_page.OPERATIONS,
    *card_registration.OPERATIONS,
    *card_page.OPERATIONS,
    *docs.OPERATIONS,
)

INFO = {
    "title": "Bank API",
    "version": "1.3.0",
    "summary": "One bank, one ledger: ISUBANK, the bank common API, the card gateway and card registration.",
    "description": "One bank, one ledger. This release serves ISUBANK (`/check`, `/reserve`, `/commit`, `/cancel`),"
    " the bank common API (`/auth/*`, `/branches`, `/accounts`, `/transactions`, `/balances`) and the card gateway"
    " (`/api/v1/server-to-server-interface/*`, `/api/v1/tokens`, the 3-D Secure page `/3ds/challenge/*`) and card"
    " registration (`/api/payment/credit`, the card page `/payment/card`).\n\n"
    '- **ISUBANK**: success bodies are `{}` except reserve\'s `{"reserve_id": N}`; errors are `{"error":'
    ' "<message>"}` with the messages each response lists (`paramater` is the contest bank\'s spelling, kept for'
    ' its clients). Integers are JSON integers: `1.0`, `"1"`, `true` and `null` are `paramater invalid`.\n'
    '- **Bank common API**: errors are `{"error": "<code>", "error_description": "<text>"}` with OAuth'
    " 2.0 codes; every answer has `Cache-Control: no-store`. The login page (`GET /auth/login`) is HTML.\n"
    '- **Card registration**: the envelope `{"result", "errors", "data"}`; a validation failure is 422 with'
    " `errors` per field (messages joined with `|`), a card the gateway refuses 200 with `result: false`.\n"
    '- **Card gateway**: refusals are `{"success": false, "status_code", "is_live", "gateway_response": {"version",'
    ' "type": "ERROR", "message", "code"}}` (with `payment_details.response_code` for a card\'s outcome, `errors`'
    " for a validation error); card numbers are always masked, a CVC never echoed. `paymentv2`'s 3-D Secure"
    " challenge page (`/3ds/challenge/*`) is HTML.\n"
    "- Request bodies are read as JSON whatever the `Content-Type` says (but the HTML forms').\n"
    '- An unknown path is 404 `{"error": "not found"}` (deployed with `make package`, API Gateway answers so'
    " too); a known path with another method is 405 with `Allow` on the local server, and 404 on API Gateway.\n"
    "- Operations marked `x-contest-compat: true` exist only on stages with `BANK_CONTEST_COMPAT` on.",
}
TAGS = {
    isubank.TAG: "For apps holding an app id: check, hold and settle a user's funds.",
    isubank_compat.TAG: "The contest bank's operator routes, without credentials; only with `BANK_CONTEST_COMPAT` on.",
    bank.AUTH_TAG: "Bank common API: the client's own token (client credentials).",
    bank.USER_AUTH_TAG: "Bank common API: end users sign in; their access and refresh tokens.",
    "BankInfo": "Bank common API: the bank and its branches.",
    "AccountInfo": "Bank common API: the end user's accounts.",
    "TransactionInfo": "Bank common API: an account's transactions and daily balances.",
    gateway.TAG: "Card gateway (server to server): purchases and their status, for merchants.",
    card_registration.TAG: "Card registration: an organisation's payment card, registered with a gateway token.",
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
    "systemToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "system token",
        "description": "Bank common API, `/auth/token`: `Authorization: Bearer <access_token>` from `POST"
        " /auth/system_token`, issued to the same `api_key` as the body's.",
    },
    "accessToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "access token",
        "description": "Bank common API, data endpoints: `Authorization: Bearer <access_token>`, an end user's from"
        " `POST /auth/token` (or a system token, for `/branches` only), with the `read` grant.",
    },
    "basicAuth": {
        "type": "http",
        "scheme": "basic",
        "description": "Card gateway: `Authorization: Basic <api key>`, the merchant's API key as written (as the"
        " vendor's document shows) or HTTP Basic's base64 of `<api key>:` (Swagger UI's: the key as user name,"
        " no password); together with `x-api-key`, the same key.",
    },
    "publishableKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "publishable key",
        "description": "Card gateway, `POST /api/v1/tokens`: `Authorization: Bearer <publishable key>`, the"
        " merchant's key for browsers (`merchant create` prints it).",
    },
    "memberToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "personal access token",
        "description": "Card registration: `Authorization: Bearer <token_id>|<secret>`, a member's personal access"
        " token (`org create`, `org member add`), as Laravel Sanctum issues them.",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "Card gateway: the merchant's API key (`merchant create`), together with `Authorization:"
        " Basic`.",
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
        "schema": {"type": "integer", "minimum": 1},
    },
    "Cache-Control": {
        "description": "`no-store`: tokens and account data are never cached on the way.",
        "required": True,
        "schema": {"type": "string", "const": "no-store"},
    },
    "Pragma": {
        "description": "`no-cache`, for HTTP/1.0 caches (RFC 6749 section 5.1).",
        "required": True,
        "schema": {"type": "string", "const": "no-cache"},
    },
    "Location": {
        "description": "Where the browser goes next. The login form: the app's `redirect_uri` with `auth_token` (and"
        " `state`) added to its query. The 3-D Secure challenge: the merchant's `success_url` (with `transaction_id`"
        " and `merchant_txn_ref`) or `decline_url` (with `merchant_txn_ref`), or the challenge's result page.",
        "required": True,
        "schema": {"type": "string", "format": "uri"},
    },
    "Content-Security-Policy": {
        "description": "No external resource, no framing, no inline script; the form posts only here (and its"
        " redirect goes only to the app's, or the merchant's, origin). The card page runs its one script from this"
        " app, which calls this app only, and posts no form.",
        "required": True,
        "schema": {"type": "string", "pattern": "frame-ancestors 'none'"},
    },
    "Set-Cookie": {
        "description": "The page's CSRF cookie, `__Host-bank-login-csrf` (the login page) or `__Host-bank-3ds-csrf`"
        " (the 3-D Secure challenge page): Secure, HttpOnly, SameSite=Strict.",
        "required": True,
        "schema": {"type": "string", "pattern": "^__Host-bank-(login|3ds)-csrf="},
    },
    "WWW-Authenticate": {
        "description": 'The bearer challenge (RFC 6750): `Bearer realm="bank", error="<the error code>"`; on a 403'
        ' `error="insufficient_scope", scope="read"`.',
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer realm="},
    },
}
REQUEST_BODY = (
    "A JSON object. The body is read as JSON whatever the `Content-Type` says (so `curl -d` works); members not"
    " listed are ignored."
)
FORM_BODY = "An HTML form's fields (`application/x-www-form-urlencoded`), each at most once."
SCHEMA_REF = "#/components/schemas/{name}"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _header_component(name: str) -> str:
    return name.replace("-", "")


def _headers(names: Iterable[str]) -> dict[str, Any]:
    return {name: _ref("headers", _header_component(name)) for name in ("X-Request-Id", *names)}


def _error_example(error: ApiError, body: type) -> dict[str, Any]:
    description = error.description.rstrip(".").replace("`", "")
    if body is Error:
        return {"error": error.message}
    if body is RegistrationError:
        errors = {"credit_card_number": "桁数が足りません"} if error.status == 422 else [error.message]
        return {"result": False, "errors": errors, "data": ""}
    if body is GatewayError:
        example: dict[str, Any] = {
            "success": False,
            "status_code": error.status,
            "is_live": False,
            "gateway_response": {"version": "1", "type": "ERROR", "message": description, "code": error.message},
        }
        if error.message[3:].isdigit() and int(error.message[3:]) in DESCRIPTIONS:
            code = int(error.message[3:])
            example["payment_details"] = {"response_code": code, "responseDescription": DESCRIPTIONS[code]}
        return example
    return {"error": error.message, "error_description": description}


def _error_schema(body: type, messages: list[str]) -> dict[str, Any]:
    """The API's error body, with the codes this response can carry (the card registration's has none)."""
    if body is RegistrationError:
        return {"allOf": [_ref("schemas", body.__name__)]}
    if body is GatewayError:
        codes = {"properties": {"gateway_response": {"properties": {"code": {"enum": messages}}}}}
        return {"allOf": [_ref("schemas", body.__name__), codes]}
    return {"allOf": [_ref("schemas", body.__name__), {"properties": {"error": {"enum": messages}}}]}


def _page_error_response(errors: list[ApiError]) -> dict[str, Any]:
    return {
        "description": " ".join(f"{error.description}." for error in errors),
        "headers": _headers(()),
        "content": {"text/html": {"schema": {"type": "string"}}},
    }


def _error_response(errors: list[ApiError], body: type) -> dict[str, Any]:
    headers = [name for error in errors for name in error.headers]
    messages = list(dict.fromkeys(error.message for error in errors))
    examples = {}
    for error in errors:
        name = re.sub(r"\W+", "_", f"{error.message} {error.description if body is not Error else ''}")
        examples.setdefault(name.strip("_")[:60], {"summary": error.message, "value": _error_example(error, body)})
    return {
        "description": " ".join(f"`{error.message}`: {error.description.rstrip('.')}." for error in errors),
        "headers": _headers(dict.fromkeys(headers)),
        "content": {
            "application/json": {
                "schema": _error_schema(body, messages),
                "examples": examples,
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
            bodies = (operation.request, operation.ok_body, operation.error_body, *(a.body for a in operation.other_ok))
            models |= {model for model in bodies if model is not None}
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
        names = (operation.security,) if isinstance(operation.security, str) else operation.security or ()
        result["security"] = [{name: [] for name in names}] if names else []
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
                "description": REQUEST_BODY if operation.request_media == "application/json" else FORM_BODY,
                "content": {operation.request_media: media},
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
        ok: dict[str, Any] = {"description": operation.ok, "headers": _headers(operation.ok_headers)}
        if operation.ok_status != 303:
            ok["content"] = {media_type: ok_media for media_type in operation.ok_media}
        responses: dict[str, Any] = {str(operation.ok_status): ok}
        for other in operation.other_ok:
            responses[str(other.status)] = {
                "description": other.description,
                "headers": _headers(()),
                "content": {"application/json": {"schema": _ref("schemas", other.body.__name__)}},
            }
        error_body = operation.error_body or Error
        by_status: dict[int, list[ApiError]] = {}
        for error in operation.errors:
            by_status.setdefault(error.status, []).append(error)
        for status, errors in sorted(by_status.items()):
            if len(errors) == 1 and errors[0].component:
                error = errors[0]
                shared = {**_error_response(errors, error_body), "description": error.description}
                assert self.responses.setdefault(error.component, shared) == shared, f"{error.component} differs"
                responses[str(status)] = _ref("responses", error.component)
            elif operation.error_media == "text/html":
                responses[str(status)] = _page_error_response(errors)
            else:
                assert not any(error.component for error in errors), f"shared {status} mixed with others"
                responses[str(status)] = _error_response(errors, error_body)
        return dict(sorted(responses.items()))


def build() -> dict[str, Any]:
    return _Builder(OPERATIONS).document()


def render(document: dict[str, Any]) -> str:
    """The document as the served file holds it."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(build()), end="")
