"""/docs in headless Chromium: Swagger UI renders the whole document from the app's own files, under the page's
Content-Security-Policy, and its Authorize and Try it out reach the API."""

from __future__ import annotations

import json

import pytest
from moto import mock_aws

from chalicelib.api import build_app, docs
from chalicelib.clock import SystemClock
from tests.conftest import make_services
from tests.support.local_server import in_process

APP_ID = "docs-browser-app-id"


@pytest.fixture(scope="module")
def server():
    """The ISUBANK stage (an unknown app id is 401) on the local server, in process, on moto."""
    with mock_aws():
        services = make_services(SystemClock())
        services.apps.create("docs", app_id=APP_ID)
        services.accounts.open("alice", "alice")
        services.accounts.deposit("alice", 10_000, "入金")
        with in_process(build_app(services)) as base:
            yield base


@pytest.fixture(scope="module")
def doc():
    return json.loads(docs.DOCUMENT_PATH.read_text(encoding="utf-8"))


def open_docs(page, server):
    page.goto(f"{server}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)


def test_every_operation_renders_from_the_app_alone(page, page_log, server, doc):
    open_docs(page, server)
    for path, item in doc["paths"].items():
        for method in item:
            block = page.locator(f".opblock-{method}:has(.opblock-summary-path[data-path='{path}'])")
            assert block.count() == 1, (method, path)
    assert page.locator(".opblock-summary-path[data-path='/reserve']").inner_text() == "/reserve"
    assert page.locator(".info .title").inner_text().startswith(doc["info"]["title"])
    assert page_log.requests and all(url.startswith(f"{server}/") for url in page_log.requests), page_log.requests
    assert f"{server}/openapi.json" in page_log.requests
    assert page_log.errors == []


def test_authorize_lists_the_security_schemes_and_try_it_out_sends_the_app_id(page, page_log, server, doc):
    open_docs(page, server)
    page.click("button.authorize")
    dialog = page.locator(".dialog-ux .modal-ux")
    for name in doc["components"]["securitySchemes"]:
        assert dialog.locator(f".auth-container h4:has-text('{name}')").count() == 1, name
    app_id = dialog.locator(".auth-container:has(h4:has-text('appId'))")
    app_id.locator("input").fill(APP_ID)
    app_id.locator("button.authorize").click()
    dialog.locator("button.close-modal").click()

    check = page.locator(".opblock-post:has(.opblock-summary-path[data-path='/check'])")
    check.locator(".opblock-summary").click()
    check.locator("textarea.body-param__text").fill(json.dumps({"bank_id": "alice", "price": 100}))
    with page.expect_response(f"{server}/check") as answer:
        check.locator("button.execute").click()
    assert answer.value.status == 200  # without the app id: 401
    assert answer.value.request.headers["authorization"] == f"Bearer {APP_ID}"
    assert check.locator(".live-responses-table tbody .response-col_status").inner_text().strip() == "200"
    assert page_log.errors == []
