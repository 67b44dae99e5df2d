"""The login page in headless Chromium: open it as an app sends its user there, sign in, follow the 303 back to
the app, exchange the auth token and read the user's accounts, over HTTP through the local server."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from moto import mock_aws

from chalicelib.api import build_app
from chalicelib.clock import SystemClock
from local.dynamodb_local import free_port
from tests.conftest import make_services
from tests.support.local_server import in_process

API_KEY = "browser-api-key"
PASSWORD = "browser-client-password"
CALLBACK_PORT = free_port()
CALLBACK = f"http://localhost:{CALLBACK_PORT}/callback"  # the app's page, served by `app_callback`


@pytest.fixture(scope="module")
def server():
    with mock_aws():
        services = make_services(SystemClock())
        services.clients.create("ブラウザ家計簿", [CALLBACK], api_key=API_KEY, password=PASSWORD)
        services.accounts.open("alice", "Alice")
        services.accounts.deposit("alice", 12_345, "入金")
        services.logins.set_password("alice", "alice-password")
        with in_process(build_app(services)) as base:
            yield base


def login_url(server: str, **extra: str) -> str:
    return f"{server}/auth/login?" + urlencode({"api_key": API_KEY, "redirect_uri": CALLBACK, **extra})


@pytest.fixture
def app_callback():
    """The app's callback page, a server of its own (a browser's redirect is not for Playwright's routes to
    answer); the URLs it was called with."""
    calls: list[str] = []

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/callback"):  # not the browser's /favicon.ico
                calls.append(f"http://localhost:{CALLBACK_PORT}{self.path}")
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<p>signed in</p>")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", CALLBACK_PORT), Callback)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield calls
    server.shutdown()
    server.server_close()


def sign_in(page, password: str) -> None:
    page.fill("input[name=id]", "alice")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_sign_in_follow_the_redirect_exchange_and_read_the_accounts(page, page_log, server, app_callback):
    page.goto(login_url(server, grants="read", state="opaque-123"))
    assert "ブラウザ家計簿" in page.inner_text("h1")
    with page.expect_navigation(url=f"{CALLBACK}*"):
        sign_in(page, "alice-password")
    (called,) = app_callback
    query = parse_qs(urlsplit(called).query)
    assert query["state"] == ["opaque-123"] and len(query["auth_token"][0]) >= 43
    # No script, nothing from elsewhere, no CSP violation on the way.
    assert [url for url in page_log.requests if not url.startswith((server, CALLBACK))] == []
    assert page_log.errors == []

    system = requests.post(f"{server}/auth/system_token", json={"api_key": API_KEY, "password": PASSWORD}, timeout=10)
    exchange = requests.post(
        f"{server}/auth/token",
        json={"api_key": API_KEY, "password": PASSWORD, "auth_token": query["auth_token"][0]},
        headers={"Authorization": f"Bearer {system.json()['access_token']}"},
        timeout=10,
    )
    assert exchange.status_code == 200, exchange.text
    accounts = requests.get(
        f"{server}/accounts", headers={"Authorization": f"Bearer {exchange.json()['access_token']}"}, timeout=10
    )
    assert accounts.status_code == 200
    assert [account["id"] for account in accounts.json()["accounts"]] == ["alice"]


def test_a_wrong_password_shows_the_form_again_and_then_signs_in(page, page_log, server, app_callback):
    page.goto(login_url(server))
    sign_in(page, "wrong")
    assert "ログインIDまたはパスワードが違います" in page.inner_text("[role=alert]")
    assert page.input_value("input[name=id]") == "alice" and page.input_value("input[name=password]") == ""
    with page.expect_navigation(url=f"{CALLBACK}*"):
        sign_in(page, "alice-password")  # the re-shown form carries its CSRF token: this one goes through
    assert len(app_callback) == 1 and "state" not in parse_qs(urlsplit(app_callback[0]).query)


def test_an_unregistered_redirect_uri_is_an_error_page_and_no_redirect(page, server, app_callback):
    response = page.goto(
        f"{server}/auth/login?" + urlencode({"api_key": API_KEY, "redirect_uri": "https://evil.example/"})
    )
    assert response.status == 401
    assert "登録されていない戻り先" in page.inner_text("[role=alert]")
    assert page.url.startswith(server) and app_callback == []
