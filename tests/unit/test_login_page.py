"""The login page (`GET /auth/login`) and its form, over Chalice's local gateway, on moto."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from chalice.test import Client

from chalicelib.api import build_app
from chalicelib.api.login_page import CSRF_COOKIE
from tests.conftest import make_services

API_KEY = "page-api-key"
REDIRECT = "https://app.example/callback?from=bank"


@pytest.fixture
def bank(moto_db, clock):
    services = make_services(clock)
    services.clients.create("家計簿アプリ <b>", [REDIRECT, "http://localhost:3000/cb"], api_key=API_KEY, password="pw")
    services.accounts.open("alice", "Alice")
    services.logins.set_password("alice", "alice-password")
    return services


@pytest.fixture
def client(bank, tmp_path):
    with Client(build_app(bank), project_dir=str(tmp_path)) as client:
        yield client


class Form(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str]] = {}
        self.form: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        if tag == "input":
            self.inputs[attrs["name"]] = attrs
        if tag == "form":
            self.form = attrs


def page(client, **query):
    params = {"api_key": API_KEY, "redirect_uri": REDIRECT, **query}
    return client.http.get("/auth/login?" + urlencode({k: v for k, v in params.items() if v is not None}))


def submit(client, response, cookie=True, **fields):
    form = Form(response.body.decode())
    values = {name: attrs.get("value", "") for name, attrs in form.inputs.items()}
    values.update(fields)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    token = re.search(rf"{CSRF_COOKIE}=([^;]+)", response.headers["Set-Cookie"]).group(1)
    if cookie:
        headers["Cookie"] = f"{CSRF_COOKIE}={token}"
    return client.http.post("/auth/login/form", headers=headers, body=urlencode(values))


def test_the_page_shows_the_app_the_grants_and_a_form(client):
    response = page(client, grants="read", state="xyz")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    html = response.body.decode()
    form = Form(html)
    assert form.form == {"method": "post", "action": "/auth/login/form"}
    assert form.inputs["id"]["type"] == "text" and form.inputs["password"]["type"] == "password"
    assert {name for name, attrs in form.inputs.items() if attrs["type"] == "hidden"} == {
        "api_key",
        "redirect_uri",
        "grants",
        "state",
        "csrf_token",
    }
    assert "家計簿アプリ &lt;b&gt;" in html  # autoescaped
    assert "(<code>read</code>)" in html and "<code>write</code>" not in html
    assert not re.search(r"(src|href)=", html)  # no external (or any) resource
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'self' https://app.example" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=") and all(a in cookie for a in ("Secure", "HttpOnly", "SameSite=Strict"))


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example/callback",  # the query differs
        "https://app.example/callback?from=bank&x=1",
        "https://APP.example/callback?from=bank",
        "http://app.example/callback?from=bank",
        "https://app.example/callback?from=bank#frag",
        "https://app.example@evil.example/callback?from=bank",
        "https://evil.example/",
    ],
)
def test_an_unregistered_redirect_uri_is_401_and_never_redirected_to(client, redirect_uri):
    response = page(client, redirect_uri=redirect_uri)
    assert response.status_code == 401
    assert "Location" not in response.headers
    assert "登録されていない戻り先" in response.body.decode()


def test_bad_requests(client):
    assert page(client, api_key="nobody").status_code == 401
    assert page(client, grants="admin").status_code == 400
    assert client.http.get("/auth/login").status_code == 400
    assert page(client, grants="*").status_code == 200


def test_signing_in_redirects_with_a_single_use_auth_token_and_the_state(client, bank):
    response = submit(client, page(client, grants="read", state="s t&ate"), id="alice", password="alice-password")
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://app.example/callback"
    query = parse_qs(location.query)
    assert query["from"] == ["bank"] and query["state"] == ["s t&ate"]
    client_ = bank.clients.find(API_KEY)
    pair = bank.tokens.exchange(client_, query["auth_token"][0])
    assert bank.tokens.authenticate(pair.access.token).grants == {"read"}


def test_no_state_means_none_on_the_redirect(client):
    response = submit(client, page(client), id="alice", password="alice-password")
    assert "state" not in parse_qs(urlsplit(response.headers["Location"]).query)


def test_wrong_credentials_show_the_form_again_with_an_error(client):
    shown = page(client)
    response = submit(client, shown, id="alice", password="wrong")
    assert response.status_code == 401
    html = response.body.decode()
    assert "ログインIDまたはパスワードが違います" in html
    assert Form(html).inputs["id"]["value"] == "alice" and "value" not in Form(html).inputs["password"]

    # An unknown id reads the same, to the byte (but for the id echoed and the style's nonce).
    def normal(body: bytes) -> str:
        return re.sub(r'nonce="[^"]+"', "", body.decode())

    unknown = submit(client, shown, id="nobody", password="x")
    assert (unknown.status_code, normal(unknown.body)) == (401, normal(response.body).replace('"alice"', '"nobody"'))


def test_csrf_cookie_and_token_must_match(client, bank):
    shown = page(client)
    assert submit(client, shown, cookie=False, id="alice", password="alice-password").status_code == 403
    response = submit(client, shown, csrf_token="forged", id="alice", password="alice-password")
    assert response.status_code == 403
    assert "有効期限が切れました" in response.body.decode()


def test_a_cross_site_post_is_refused(client):
    shown = page(client)
    form = Form(shown.body.decode())
    values = {name: attrs.get("value", "") for name, attrs in form.inputs.items()} | {
        "id": "alice",
        "password": "alice-password",
    }
    token = values["csrf_token"]
    response = client.http.post(
        "/auth/login/form",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"{CSRF_COOKIE}={token}",
            "Sec-Fetch-Site": "cross-site",
        },
        body=urlencode(values),
    )
    assert response.status_code == 403


def test_the_form_rechecks_the_redirect_uri(client):
    response = submit(client, page(client), redirect_uri="https://evil.example/", id="alice", password="alice-password")
    assert response.status_code == 401 and "Location" not in response.headers


def test_repeated_failures_lock_the_login_id(client, clock):
    shown = page(client)
    for _ in range(4):
        assert submit(client, shown, id="alice", password="wrong").status_code == 401
    assert submit(client, shown, id="alice", password="wrong").status_code == 429
    response = submit(client, shown, id="alice", password="alice-password")
    assert response.status_code == 429 and "しばらくログインできません" in response.body.decode()
    clock.advance(timedelta(minutes=15))
    assert submit(client, shown, id="alice", password="alice-password").status_code == 303


@pytest.mark.parametrize("body", [b"", b"id=a&id=b", b"\xff\xfe", b"api_key=" + b"k" * 70000])
def test_malformed_forms_are_400(client, body):
    response = client.http.post(
        "/auth/login/form", headers={"Content-Type": "application/x-www-form-urlencoded"}, body=body
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
