"""The card page's script in headless Chromium, against each answer of the registration API (`/api/payment/credit`,
stubbed in the browser with `page.route`: what its contract says it answers) and the app's own card gateway
(`POST /api/v1/tokens`, a merchant's publishable key). What the page shows of each, and what it sends. Through the
local server, in this process, on moto."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from moto import mock_aws

from chalicelib.api import build_app
from chalicelib.clock import SystemClock
from tests.conftest import make_services
from tests.support.local_server import in_process

ACCESS_TOKEN = "member-access-token"  # the stub takes any value
NO_CARD = (200, {"result": True, "errors": "", "data": {}})
REGISTERED = (200, {"result": True, "errors": "", "data": {}})


@pytest.fixture(scope="module")
def shop():
    with mock_aws():
        services = make_services(SystemClock())
        merchant = services.merchants.create("カード登録のお店", api_key="card-page-merchant-key")
        with in_process(build_app(services)) as base:
            yield base, merchant.publishable_key


class Registration:
    """The registration API as its contract says, in the browser: each method's answer, and what was sent."""

    def __init__(self, page, base: str, get=NO_CARD, post=REGISTERED) -> None:
        self.answers = {"GET": get, "POST": post}
        self.calls: list[tuple[str, str | None, object]] = []
        page.route(f"{base}/api/payment/credit", self.answer)

    def answer(self, route) -> None:
        request = route.request
        self.calls.append((request.method, request.headers.get("authorization"), request.post_data_json))
        status, body = self.answers[request.method]
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body, ensure_ascii=False))

    def posted(self) -> list:
        return [body for method, _, body in self.calls if method == "POST"]


def open_page(page, base: str, publishable_key: str) -> None:
    fragment = f"access_token={quote(ACCESS_TOKEN)}&publishable_key={quote(publishable_key)}"
    assert page.goto(f"{base}/payment/card#{fragment}").status == 200


def submit(page, number: str = "4242424242424242", name: str = "TARO YAMADA") -> None:
    page.fill("#card-number", number)
    page.fill("#expiry-month", "12")
    page.fill("#expiry-year", "30")
    page.fill("#cvc", "123")
    page.fill("#card-name", name)
    page.click("#register")


def outcome(page) -> tuple[str, str]:
    """The status area once the page is done: its class (`ok` or `error`) and its text."""
    page.locator("#result.ok, #result.error").wait_for()
    return page.get_attribute("#result", "class"), page.inner_text("[role=status]")


def test_a_registered_card_shows_its_masked_number_and_the_token_is_what_is_registered(page, page_log, shop):
    base, publishable_key = shop
    registration = Registration(page, base)
    open_page(page, base, publishable_key)
    page.locator("#current-card", has_text="登録済みのカードはありません").wait_for()
    assert page.url == f"{base}/payment/card"  # the credentials left the address bar and the history entry
    submit(page)
    assert outcome(page) == ("ok", "カードを登録しました\n\nVISA 424242******4242")
    (body,) = registration.posted()
    assert body == {
        "credit_card_type": 1,
        "credit_card_number": "424242******4242",
        "credit_card_nominee": "TARO YAMADA",
        "credit_card_effective_month": "12",
        "credit_card_effective_year": "30",
        "credit_card_token": body["credit_card_token"],
    }
    assert body["credit_card_token"].startswith("tok_")
    assert {authorization for _, authorization, _ in registration.calls} == {f"Bearer {ACCESS_TOKEN}"}
    assert [method for method, _, _ in registration.calls] == ["GET", "POST", "GET"]  # on load, and read back
    assert page.input_value("#card-number") == "" and page.input_value("#cvc") == ""
    assert page.input_value("#card-name") == "TARO YAMADA"
    assert page_log.errors == []


def test_the_registered_card_is_shown_on_load(page, page_log, shop):
    base, publishable_key = shop
    card = {
        "credit_card_type": 3,
        "credit_card_number": "353011******0000",
        "credit_card_nominee": "HANAKO <b>SATO</b>",
        "credit_card_effective_month": "07",
        "credit_card_effective_year": "29",
    }
    Registration(page, base, get=(200, {"result": True, "errors": "", "data": card}))
    open_page(page, base, publishable_key)
    current = page.locator("#current-card", has_text="353011******0000")
    current.wait_for()
    assert current.inner_text() == "登録済みのカード: JCB 353011******0000 HANAKO <b>SATO</b> (有効期限 07/29)"
    assert page.locator("#current-card b").count() == 0  # text, never markup
    assert page_log.errors == []


@pytest.mark.parametrize(
    ("status", "body", "shown"),
    [
        (
            422,
            {
                "result": False,
                "errors": {"credit_card_nominee": "半角英字で入力してください|50文字以内で入力してください"},
                "data": "",
            },
            "カード名義: 半角英字で入力してください\nカード名義: 50文字以内で入力してください",
        ),
        (200, {"result": False, "errors": ["カードが利用できません。", "<i>別のカード</i>"], "data": ""}, None),
        (409, {"result": False, "errors": ["お支払い設定が登録されていません。"], "data": ""}, None),
        (401, {"result": False, "errors": ["Unauthenticated."], "data": ""}, None),
        (500, {"message": "Server Error"}, "カードを登録できませんでした (HTTP 500)。"),
    ],
    ids=["422", "refused", "409", "401", "unknown"],
)
def test_each_refusal_of_the_registration_shows_its_messages(page, page_log, shop, status, body, shown):
    base, publishable_key = shop
    Registration(page, base, post=(status, body))
    open_page(page, base, publishable_key)
    submit(page)
    expected = shown if shown is not None else "\n".join(body["errors"])
    assert outcome(page) == ("error", expected)
    assert page.locator("#result i").count() == 0
    # Chromium reports a fetch's 4xx or 5xx as a console error of its own; nothing else may be there.
    assert [error for error in page_log.errors if f"status of {status}" not in error] == []


def test_a_card_the_gateway_refuses_is_never_registered(page, page_log, shop):
    base, publishable_key = shop
    registration = Registration(page, base)
    open_page(page, base, publishable_key)
    submit(page, number="4242424242424241")  # a wrong check digit
    kind, text = outcome(page)
    assert kind == "error" and "カード番号: " in text, text  # the gateway's message and its field error
    assert registration.posted() == []
    assert page.input_value("#card-number") == "4242424242424241"  # not a token: kept, to be corrected
    assert [error for error in page_log.errors if "status of 422" not in error] == []


def test_without_the_fragment_the_page_asks_for_the_credentials(page, page_log, shop):
    base, publishable_key = shop
    registration = Registration(page, base)
    assert page.goto(f"{base}/payment/card").status == 200
    assert page.is_visible("#access-token") and page.is_visible("#publishable-key")
    assert "アクセストークンを入力すると" in page.inner_text("#current-card")
    submit(page)
    assert outcome(page) == ("error", "アクセストークンと公開可能キーを入力してください。")
    page.fill("#access-token", ACCESS_TOKEN)
    page.fill("#publishable-key", publishable_key)
    page.locator("#access-token").dispatch_event("change")
    page.locator("#current-card", has_text="登録済みのカードはありません").wait_for()
    submit(page)
    assert outcome(page)[0] == "ok"
    assert len(registration.posted()) == 1
    assert page_log.errors == []
