"""The organisation's card page in headless Chromium, end to end: the member's browser opens `/payment/card` with
both credentials in the URL fragment, types a card and submits; the page tokenises the card at the card gateway
(`POST /api/v1/tokens`) and registers only the masked number and the token (`POST /api/payment/credit`).
Every request the browser makes is recorded, to show that the full number went to the gateway only. Through the
local server, in this process, on moto."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import pytest
from moto import mock_aws

from chalicelib.api import build_app
from chalicelib.clock import SystemClock
from tests.conftest import make_services
from tests.support.local_server import in_process

ORGANISATION = "ブラウザ株式会社"
FULL_NUMBER = "4242424242424242"
MASKED_NUMBER = "424242******4242"
DECLINED_NUMBER = "4000000000000002"  # the network's test card that is always declined
CVC = "123"
TOKENS, CREDIT = "/api/v1/tokens", "/api/payment/credit"
REGISTRATION_FIELDS = {
    "credit_card_type",
    "credit_card_number",
    "credit_card_nominee",
    "credit_card_effective_month",
    "credit_card_effective_year",
    "credit_card_token",
}


@pytest.fixture(scope="module")
def bank():
    with mock_aws():
        services = make_services(SystemClock())
        with in_process(build_app(services)) as base:
            yield base, services


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    body: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


def record(page) -> list[Sent]:
    """Every request the page makes, from now on: its method, URL and body."""
    sent: list[Sent] = []
    page.on("request", lambda request: sent.append(Sent(request.method, request.url, request.post_data or "")))
    return sent


def open_card_page(page, base: str, organisation) -> None:
    fragment = f"access_token={quote(organisation.access_token)}&publishable_key={quote(organisation.publishable_key)}"
    response = page.goto(f"{base}/payment/card#{fragment}")
    assert response.status == 200
    assert page.is_hidden("#credentials")  # both came in the fragment: the page does not ask for them


def submit_card(page, number: str) -> None:
    page.fill("#card-number", number)
    page.fill("#expiry-month", "12")
    page.fill("#expiry-year", "30")
    page.fill("#cvc", CVC)
    page.fill("#card-name", "TARO YAMADA")
    page.click("#register")


def test_registering_a_card_sends_its_number_to_the_card_gateway_only(page, page_log, bank):
    base, services = bank
    organisation = services.organisations.create(ORGANISATION)
    sent = record(page)
    open_card_page(page, base, organisation)
    submit_card(page, FULL_NUMBER)
    page.get_by_role("status").get_by_text("カードを登録しました").wait_for()
    assert MASKED_NUMBER in page.inner_text("[role=status]")
    page.locator("#current-card", has_text=MASKED_NUMBER).wait_for()  # read back from GET /api/payment/credit
    registration = services.card_registrations.current(organisation.org_id)
    assert registration is not None and registration.masked_number == MASKED_NUMBER
    # The number and CVC left the page once they were a token.
    assert page.input_value("#card-number") == "" and page.input_value("#cvc") == ""

    (registered,) = [request for request in sent if (request.method, request.path) == ("POST", CREDIT)]
    body = json.loads(registered.body)
    assert FULL_NUMBER not in registered.body
    assert set(body) == REGISTRATION_FIELDS  # no CVC member, nothing but the registration's fields
    assert body["credit_card_number"] == MASKED_NUMBER and body["credit_card_type"] == 1  # VISA
    assert body["credit_card_token"].startswith("tok_")
    assert (body["credit_card_effective_month"], body["credit_card_effective_year"]) == ("12", "30")
    assert body["credit_card_nominee"] == "TARO YAMADA"
    carrying_the_number = [request for request in sent if FULL_NUMBER in request.url or FULL_NUMBER in request.body]
    assert [(request.method, request.path) for request in carrying_the_number] == [("POST", TOKENS)]
    assert [request.url for request in sent if not request.url.startswith(base)] == []
    assert page_log.errors == []  # no script error, no CSP violation


def test_a_declined_card_shows_the_refusal_and_registers_nothing(page, page_log, bank):
    base, services = bank
    organisation = services.organisations.create(ORGANISATION)
    sent = record(page)
    open_card_page(page, base, organisation)

    def is_registration(response) -> bool:
        return urlsplit(response.url).path == CREDIT and response.request.method == "POST"

    with page.expect_response(is_registration) as answer:
        submit_card(page, DECLINED_NUMBER)
    refusal = answer.value.json()
    assert answer.value.status == 200 and refusal["result"] is False
    assert isinstance(refusal["errors"], list) and refusal["errors"]
    page.locator("[role=status].error").wait_for()
    shown = page.inner_text("[role=status]")
    assert all(message in shown for message in refusal["errors"]), shown
    assert "カードを登録しました" not in shown
    assert services.card_registrations.current(organisation.org_id) is None
    assert [request.path for request in sent if DECLINED_NUMBER in request.body] == [TOKENS]
    assert page_log.errors == []
