"""The OpenAPI document: valid OpenAPI 3.1, one operation per route of the app, served as JSON and in Swagger UI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema_rs
import pytest
import schemathesis
from chalice.test import Client

from chalicelib.api import build_app, card_registration, docs, gateway
from chalicelib.api.http import is_text
from tests.conftest import make_services

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ISUBANK = {("/check", "POST"), ("/reserve", "POST"), ("/commit", "POST"), ("/cancel", "POST")}
COMPAT = {("/register", "POST"), ("/add_credit", "POST"), ("/credit", "GET")}
CLIENT_TOKEN = {("/auth/token", "POST"), ("/auth/token", "PUT"), ("/auth/token", "DELETE")}
BANK_DATA = {("/branches", "GET"), ("/accounts", "GET"), ("/transactions", "GET"), ("/balances", "GET")}
LOGIN_PAGE = {("/auth/login", "GET"), ("/auth/login/form", "POST")}
BANK = {("/auth/system_token", "POST"), ("/auth/login", "POST"), *CLIENT_TOKEN, *BANK_DATA}
GATEWAY_PREFIX = "/api/v1/server-to-server-interface"
GATEWAY_POSTS = {
    (f"{GATEWAY_PREFIX}/{name}", "POST")
    for name in ("payment", "paymentv2", "authorization", "capture", "refund", "void")
}
CARD_TOKENS = ("/api/v1/tokens", "POST")
GATEWAY = {(operation.path, operation.method) for operation in gateway.OPERATIONS}
REGISTRATION = {(operation.path, operation.method) for operation in card_registration.OPERATIONS}
CHALLENGE = "/3ds/challenge/{challengeId}"
CHALLENGE_PAGES = {(CHALLENGE, "GET"), (CHALLENGE, "POST"), (f"{CHALLENGE}/result", "GET")}


@pytest.fixture(scope="module")
def doc():
    with open(docs.DOCUMENT_PATH, encoding="utf-8") as file:
        return json.load(file)


def operations(doc):
    return {
        (path, method.upper()): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def walk(node, where=""):
    """Every (location, dict) in the document."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{where}/{index}")


def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    target = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(target, dict) and part in target, f"unresolvable $ref {ref}"
        target = target[part]
    return target


def schema_objects(doc):
    """Every JSON Schema in the document: components.schemas and each `schema` member."""
    yield from (("#/components/schemas/" + name, schema) for name, schema in doc["components"]["schemas"].items())
    for where, node in walk(doc["paths"]):
        if isinstance(node.get("schema"), dict):
            yield where + "/schema", node["schema"]
    for where, node in walk(doc["components"], "#/components"):
        if isinstance(node.get("schema"), dict):
            yield where + "/schema", node["schema"]


# --- (a) a valid OpenAPI 3.1 document --------------------------------------------------------------


def test_document_is_valid_openapi_3_1(doc):
    # openapi_spec_validator is not installed; schemathesis validates against the OpenAPI 3.1 meta-schema
    # (OAI's schemas/v3.1/schema.yaml), with jsonschema_rs.
    assert doc["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(json.loads(json.dumps(doc))).validate()


def test_every_schema_is_valid_json_schema(doc):
    for where, schema in schema_objects(doc):
        assert jsonschema_rs.meta.is_valid(schema), where


def test_every_ref_resolves(doc):
    refs = [(where, node["$ref"]) for where, node in walk(doc) if "$ref" in node]
    assert refs
    for where, ref in refs:
        assert isinstance(resolve(doc, ref), dict), where


def test_every_operation_documents_its_responses(doc):
    for (path, method), operation in operations(doc).items():
        responses = operation.get("responses")
        success = "303" if (path, method) in {("/auth/login/form", "POST"), (CHALLENGE, "POST")} else "200"
        success = "201" if (path, method) in {*GATEWAY_POSTS, CARD_TOKENS} else success
        assert responses and success in responses, (path, method)
        for status, response in responses.items():
            response = resolve(doc, response["$ref"]) if "$ref" in response else response
            assert response["description"], (path, method, status)
            if status == success:
                continue
            content = response["content"]
            if (path, method) == (f"{GATEWAY_PREFIX}/paymentv2", "POST") and status == "200":
                # The other success: a 3-D Secure challenge to send the shopper to.
                assert content == {"application/json": {"schema": {"$ref": "#/components/schemas/ThreeDSRedirect"}}}
                continue
            if (path, method) in LOGIN_PAGE | CHALLENGE_PAGES and status not in ("405", "500"):
                assert set(content) == {"text/html"}, (path, method, status)  # the page's errors are pages
                continue
            # Every error is the API's error object with one of the listed codes, through its shared schema:
            # {"error"} for ISUBANK and the documents, {"error", "error_description"} for the bank common API.
            # The card gateway's, `{"success": false, "gateway_response": {"code", ...}, ...}`.
            body = "OAuthError" if (path, method) in BANK | LOGIN_PAGE else "Error"
            body = "GatewayError" if (path, method) in GATEWAY | CHALLENGE_PAGES else body
            schema = content["application/json"]["schema"]
            if (path, method) in REGISTRATION:  # `{"result": false, "errors", "data"}`: messages, no codes
                assert schema["allOf"] == [{"$ref": "#/components/schemas/RegistrationError"}], (path, method, status)
                continue
            assert {"$ref": f"#/components/schemas/{body}"} in schema["allOf"], (path, method, status)
            codes = schema["allOf"][1]["properties"]
            codes = codes["gateway_response"]["properties"]["code"] if body == "GatewayError" else codes["error"]
            assert codes["enum"], (path, method, status)


def test_error_schema_is_declared_once(doc):
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error"] and error["additionalProperties"] is False
    inline = [where for where, node in walk(doc["paths"]) if node.get("required") == ["error"]]
    assert inline == []


def test_security(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["appId"] == {**schemes["appId"], "type": "http", "scheme": "bearer"}
    assert "app_id" in schemes["appId"]["description"]
    assert schemes["accessToken"]["scheme"] == "bearer" and schemes["basicAuth"]["scheme"] == "basic"
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "x-api-key"}
    assert "security" not in doc  # each operation says its own
    assert schemes["systemToken"]["scheme"] == "bearer"
    for key, operation in operations(doc).items():
        if key in ISUBANK:
            expected = [{"appId": []}]
        elif key in CLIENT_TOKEN:
            expected = [{"systemToken": []}]
        elif key in BANK_DATA:
            expected = [{"accessToken": []}]
        elif key == CARD_TOKENS:
            expected = [{"publishableKey": []}]
        elif key in GATEWAY:
            expected = [{"basicAuth": [], "apiKey": []}]
        elif key in REGISTRATION:
            expected = [{"memberToken": []}]
        else:
            expected = []
        assert operation["security"] == expected, key
        assert bool(operation.get("x-contest-compat")) == (key in COMPAT), key


def test_the_served_document_is_the_one_the_declarations_generate():
    """`make openapi` regenerates it; run it after changing an operation or a model."""
    from chalicelib.api import openapi

    assert docs.DOCUMENT_PATH.read_text(encoding="utf-8") == openapi.render(openapi.build())


def test_documented_messages_are_the_api_s(doc):
    from chalicelib.api import bank, fallback, isubank

    code = {error.message for error in isubank.ERRORS.values()}
    code |= {error.message for error in fallback.FRAMEWORK_ERRORS.values()} | {fallback.NOT_FOUND.message}
    code |= {error.message for error in (*bank.ERRORS.values(), *bank.FRAMEWORK_ERRORS.values())}
    documented = {
        message for where, node in walk(doc) if where.endswith("/properties/error") for message in node.get("enum", [])
    }
    assert documented == code


def test_documented_gateway_codes_are_the_gateway_s(doc):
    from chalicelib.api import gateway

    code = {gateway.MALFORMED, gateway.UNAUTHORIZED, gateway.NOT_FOUND, gateway.DUPLICATE, gateway.INVALID}
    code |= {gateway.KEY_REUSED, gateway.KEY_IN_FLIGHT, gateway.TOKEN_UNUSABLE, gateway.STORED_CARD_UNKNOWN}
    code |= {*gateway.DECLINES.values(), *gateway.CARD_CHECKS.values(), *gateway.CONFLICTS.values()}
    code |= set(gateway.COMMON_ERRORS)
    documented = {
        message
        for where, node in walk(doc)
        if where.endswith("/gateway_response/properties/code")
        for message in node.get("enum", [])
    }
    assert documented == {error.message for error in code}


# --- (b) the document and the app have the same routes -----------------------------------------------


def app_routes(app):
    return {(path, method.upper()) for path, methods in app.routes.items() for method in methods}


def test_every_route_is_documented_and_every_operation_routed(moto_db, clock, doc):
    app = build_app(make_services(clock, contest_compat=True))
    routes, documented = app_routes(app), set(operations(doc))
    assert routes - documented == set(), "routes missing from openapi.json"
    assert documented - routes == set(), "operations in openapi.json that the app does not have"


def test_without_contest_compat_only_its_operations_are_missing(moto_db, clock, doc):
    app = build_app(make_services(clock, contest_compat=False))
    assert set(operations(doc)) - app_routes(app) == COMPAT


# --- (c) served ----------------------------------------------------------------------------------------


@pytest.fixture
def client(moto_db, clock, tmp_path):
    with Client(build_app(make_services(clock, contest_compat=True)), project_dir=str(tmp_path)) as client:
        yield client


def test_openapi_json_is_served(client, doc):
    response = client.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == doc


def test_docs_page_is_swagger_ui_on_the_app_s_own_files(client, doc):
    response = client.http.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == docs.CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in docs.CONTENT_SECURITY_POLICY and "unsafe-eval" not in docs.CONTENT_SECURITY_POLICY
    page = response.body.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert f"<title>{doc['info']['title']}</title>" in page
    # No inline script (the CSP would refuse it), and nothing fetched from anywhere but the app: every src and
    # href is a relative path the app serves (relative, so the page works under an API Gateway stage too).
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 2 and all(body.strip() == "" for body in scripts)
    urls = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert set(urls) == {"data:,", "docs/swagger-ui.css", "docs/swagger-ui-bundle.js", "docs/swagger-initializer.js"}
    for url in urls:
        if url != "data:,":  # the empty icon, so that the browser does not ask for /favicon.ico
            assert client.http.get(f"/{url}").status_code == 200, url
    initializer = client.http.get("/docs/swagger-initializer.js").body.decode("utf-8")
    assert 'url: "openapi.json"' in initializer and "persistAuthorization: true" in initializer


def test_docs_page_escapes_the_document_s_title(monkeypatch):
    monkeypatch.setattr(docs, "document", lambda: {"info": {"title": "<script>alert(1)</script>"}})
    page = docs.docs_html.__wrapped__()
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>" in page and "<script>alert" not in page


@pytest.mark.parametrize(
    ("asset", "media_type", "snippet"),
    [
        ("swagger-ui.css", "text/css", ".swagger-ui"),
        ("swagger-ui-bundle.js", "text/javascript", "SwaggerUIBundle"),
        ("swagger-initializer.js", "text/javascript", "SwaggerUIBundle({"),
    ],
)
def test_docs_assets_are_served_from_the_app(client, asset, media_type, snippet):
    response = client.http.get(f"/docs/{asset}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == f"{media_type}; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    assert snippet in response.body.decode("utf-8")


@pytest.mark.parametrize(
    "asset", ["index.html", "oauth2-redirect.html", "swagger-ui.js", "swagger-initializer.js.map", "..", "docs.html"]
)
def test_docs_assets_are_an_allow_list(client, asset):
    response = client.http.get(f"/docs/{asset}")
    assert (response.status_code, json.loads(response.body)) == (404, {"error": "not found"})


def test_the_document_lists_the_asset_names(doc):
    (parameter,) = doc["paths"]["/docs/{asset}"]["get"]["parameters"]
    assert parameter["in"] == "path" and parameter["required"] is True
    assert set(parameter["schema"]["enum"]) == set(docs.ASSET_MEDIA_TYPES)


def test_importing_the_app_reads_no_page_file():
    """Cold starts: the template engine and Swagger UI's package load on the first /docs request only."""
    code = "import sys, app; print(sorted({'jinja2', 'swagger_ui_bundle'} & set(sys.modules)))"
    project = Path(__file__).resolve().parents[2]
    answer = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, check=True)
    assert answer.stdout == "[]\n"


def test_wrong_method_on_docs_routes_is_json_405(client):
    for path in ("/openapi.json", "/docs", "/docs/swagger-ui.css"):
        response = client.http.post(path, body="{}")
        assert (response.status_code, json.loads(response.body)) == (405, {"error": "method not allowed"})


# --- (d) the request schemas are the parsers ----------------------------------------------------------

APP_ID = "openapi-test-app-id"
BANK_IDS = ["", "a", "x" * 128, "x" * 129, "é" * 128, "😀" * 128, "😀" * 129, "a\x00b", "\ud800", "a\udfff"]
BANK_IDS += [1, None, True, ["a"], {"id": "a"}]
PRICES = [-(10**12) - 1, -(10**12), -1, 0, 1, 10**12, 10**12 + 1, 1.0, -1.0, 1.5, True, "1", None, [1]]
RESERVE_IDS = [[], [1], [0], [-1], [2**63 - 1], [2**63], [1, 1], [1, 2], [1.0], [True], ["1"], [None], "1", 1, None]
RESERVE_IDS += [list(range(1, 50)), list(range(1, 51)), list(range(1, 100)), list(range(1, 101))]
CASES = [
    *(("/check", {"bank_id": bank_id, "price": 0}) for bank_id in BANK_IDS),
    *(("/check", {"bank_id": "alice", "price": price}) for price in PRICES),
    *(("/reserve", {"bank_id": bank_id, "price": 1}) for bank_id in BANK_IDS),
    *(("/reserve", {"bank_id": "alice", "price": price}) for price in PRICES),
    ("/reserve", {"price": 1}),
    ("/reserve", {"bank_id": "alice"}),
    *(("/commit", {"reserve_ids": ids}) for ids in RESERVE_IDS),
    *(("/cancel", {"reserve_ids": ids}) for ids in RESERVE_IDS),
    ("/cancel", {}),
    *(("/register", {"bank_id": bank_id}) for bank_id in BANK_IDS),
    *(("/add_credit", {"bank_id": "alice", "price": price}) for price in PRICES),
    *(("/add_credit", {"bank_id": bank_id, "price": 1}) for bank_id in BANK_IDS),
]


def documented_valid(doc, path, body) -> bool:
    """What the document calls a valid body, with the two rules JSON Schema cannot state (see the fuzz test):
    no float where an integer goes (JSON Schema counts 1.0 as an integer), no lone surrogate in a string."""
    values = [*body.values(), *(body.get("reserve_ids") if isinstance(body.get("reserve_ids"), list) else [])]
    if any(isinstance(value, float) for value in values):
        return False
    if any(isinstance(value, str) and not is_text(value) for value in values):
        return False
    ref = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return jsonschema_rs.validator_for({"$ref": ref, "components": doc["components"]}).is_valid(body)


def test_paramater_invalid_exactly_when_the_document_says_invalid(client, doc):
    headers = {"Authorization": f"Bearer {APP_ID}"}
    wrong = []
    for path, body in CASES:
        response = client.http.post(path, headers=headers, body=json.dumps(body))
        refused = (response.status_code, json.loads(response.body)) == (400, {"error": "paramater invalid"})
        if refused == documented_valid(doc, path, body):
            wrong.append((path, body, response.status_code, response.body))
    assert wrong == []


def test_an_authorization_that_is_not_text_is_401(client):
    response = client.http.post("/check", headers={"Authorization": "Bearer \udc80"}, body="{}")
    assert (response.status_code, json.loads(response.body)) == (401, {"error": "app_id not found"})
