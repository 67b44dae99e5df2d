"""The organisation's card page (`GET /payment/card`) and its script (`GET /payment/card.js`), over Chalice's
local gateway, on moto."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.api import build_app, card_page
from tests.conftest import make_services

ACCESS_TOKEN = "member-access-token-not-for-the-server"
PUBLISHABLE_KEY = "pk_test_not_for_the_server"


@pytest.fixture
def client(moto_db, clock, tmp_path):
    with Client(build_app(make_services(clock)), project_dir=str(tmp_path)) as client:
        yield client


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of each script element."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def by_id(self, element_id: str) -> tuple[str, dict[str, str | None]]:
        (found,) = [(name, attrs) for name, attrs in self.tags if attrs.get("id") == element_id]
        return found


def directives(csp: str) -> dict[str, str]:
    return {name: value.strip() for name, _, value in (part.strip().partition(" ") for part in csp.split(";"))}


def without_nonce(html: str) -> str:
    return re.sub(r'nonce="[^"]*"', 'nonce=""', html)


def test_the_page_is_html_with_the_pages_security_headers(client):
    response = client.http.get("/payment/card")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response.headers  # no form to protect: nothing posts it


def test_the_csp_allows_the_app_s_own_script_and_calls_only(client):
    response = client.http.get("/payment/card")
    csp = directives(response.headers["Content-Security-Policy"])
    page = Elements(response.body.decode("utf-8"))
    (style,) = page.all("style")
    assert csp == {
        "default-src": "'none'",
        "script-src": "'self'",
        "connect-src": "'self'",
        "style-src": f"'nonce-{style['nonce']}'",
        "form-action": "'none'",  # the fields go by fetch: not even a broken page may submit them in a URL
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
    }
    second = directives(client.http.get("/payment/card").headers["Content-Security-Policy"])
    assert second["style-src"] != csp["style-src"]  # a fresh nonce each time


def test_the_page_has_one_script_the_app_s_file_and_no_inline_code(client):
    html = client.http.get("/payment/card").body.decode("utf-8")
    page = Elements(html)
    (script,) = page.all("script")
    assert script["src"] == card_page.SCRIPT_PATH == "/payment/card.js"
    assert script["data-api-base"] == ""  # the local server: no stage prefix
    assert page.scripts == [""]
    assert not re.search(r"\son[a-z]+\s*=", html, flags=re.I)  # no inline event handler
    assert "javascript:" not in html.lower()
    # Nothing loaded from elsewhere: the only URL is the script's, a path of this app.
    assert re.findall(r'(?:src|href|action)="([^"]*)"', html) == ["/payment/card.js"]


def test_under_api_gateway_s_stage_the_script_and_its_calls_are_under_the_stage_s_path(moto_db, clock):
    app = build_app(make_services(clock))
    event = {
        "resource": "/payment/card",
        "path": "/payment/card",
        "httpMethod": "GET",
        "headers": {"Host": "abc.execute-api.ap-northeast-1.amazonaws.com", "X-Forwarded-Proto": "https"},
        "multiValueHeaders": None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "path": "/api/payment/card",
            "resourcePath": "/payment/card",
            "httpMethod": "GET",
            "stage": "api",
        },
    }
    context = types.SimpleNamespace(
        aws_request_id="stage-request",
        function_name="api_handler",
        memory_limit_in_mb=128,
        invoked_function_arn="arn:aws:lambda:ap-northeast-1:123456789012:function:api_handler",
        get_remaining_time_in_millis=lambda: 1000,
    )
    answer = app(event, context)
    assert answer["statusCode"] == 200
    (script,) = Elements(answer["body"]).all("script")
    assert (script["src"], script["data-api-base"]) == ("/api/payment/card.js", "/api")


def test_the_page_has_the_card_fields_a_status_area_and_the_credentials_inputs(client):
    page = Elements(client.http.get("/payment/card").body.decode("utf-8"))
    fields = {
        "card-number": "cc-number",
        "expiry-month": "cc-exp-month",
        "expiry-year": "cc-exp-year",
        "cvc": "cc-csc",
        "card-name": "cc-name",
    }
    for element_id, autocomplete in fields.items():
        tag, attrs = page.by_id(element_id)
        assert tag == "input" and attrs["autocomplete"] == autocomplete and "required" in attrs, element_id
    for element_id in ("access-token", "publishable-key"):
        tag, attrs = page.by_id(element_id)
        assert tag == "input" and attrs["type"] == "password", element_id
    assert "hidden" in page.by_id("credentials")[1]  # shown by the script when the fragment lacks them
    assert page.by_id("result")[1]["role"] == "status"
    assert page.by_id("register") == ("button", {"type": "submit", "id": "register"})
    # No field has a name: a form submission, were it ever possible, would carry nothing.
    assert [attrs for attrs in page.all("input") if "name" in attrs] == []
    (form,) = page.all("form")
    assert "action" not in form and "method" not in form


def test_the_page_never_includes_a_credential(client):
    # The credentials belong in the fragment, which browsers never send; even sent another way, never echoed.
    response = client.http.get(
        f"/payment/card?access_token={ACCESS_TOKEN}&publishable_key={PUBLISHABLE_KEY}",
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}", "Cookie": f"publishable_key={PUBLISHABLE_KEY}"},
    )
    assert response.status_code == 200
    html = response.body.decode("utf-8")
    assert ACCESS_TOKEN not in html and PUBLISHABLE_KEY not in html
    plain = client.http.get("/payment/card").body.decode("utf-8")
    assert without_nonce(html) == without_nonce(plain)  # the same page for everyone
    page = Elements(html)
    assert [attrs for attrs in page.all("input") if attrs.get("value")] == []
    assert "pk_" not in html and "tok_" not in html


def test_the_script_is_served_as_javascript_briefly_cacheable(client):
    response = client.http.get("/payment/card.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    script = response.body.decode("utf-8")
    assert script == card_page.SCRIPT_FILE.read_text(encoding="utf-8")
    assert "/api/v1/tokens" in script and "/api/payment/credit" in script


def test_the_script_never_logs_and_writes_text_only(client):
    script = client.http.get("/payment/card.js").body.decode("utf-8")
    assert "console." not in script
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    assert "textContent" in script


def test_wrong_methods_are_json_405(client):
    for path in ("/payment/card", "/payment/card.js"):
        response = client.http.post(path, body="{}")
        assert (response.status_code, json.loads(response.body)) == (405, {"error": "method not allowed"})
        assert response.headers["Allow"] == "GET"


def test_importing_the_app_reads_no_script_file():
    """Cold starts: the script is read on its first request only."""
    code = "import app; from chalicelib.api import card_page; print(card_page.script_text.cache_info().currsize)"
    project = Path(__file__).resolve().parents[2]
    answer = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, check=True)
    assert answer.stdout == "0\n"
