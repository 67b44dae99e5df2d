"""Purchase v2's 3-D Secure challenge in headless Chromium: the merchant's server calls paymentv2 over HTTP, the
shopper's browser opens the challenge page, clicks a button and follows the 303; the transaction status then
shows what happened. Through the local server, in this process, on moto."""

from __future__ import annotations

import pytest
import requests
from moto import mock_aws

from chalicelib.api import build_app
from chalicelib.clock import SystemClock
from tests.conftest import make_services
from tests.support.local_server import in_process

MERCHANT_KEY = "browser-merchant-key"
GATEWAY = "/api/v1/server-to-server-interface"
AUTH = {"Authorization": f"Basic {MERCHANT_KEY}", "x-api-key": MERCHANT_KEY}


@pytest.fixture(scope="module")
def shop():
    with mock_aws():
        services = make_services(SystemClock())
        merchant = services.merchants.create("ブラウザ商店", api_key=MERCHANT_KEY)
        with in_process(build_app(services)) as base:
            yield base, services, merchant.identity.merchant_id


def pay_v2(server: str, ref: str, **extra) -> dict:
    card = {"number": "4000002500003155", "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "A"}
    body = {"amount": 2500, "currency": "JPY", "card": card, "merchant_txn_ref": ref, **extra}
    response = requests.post(f"{server}{GATEWAY}/paymentv2", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["statusCode"] == 200 and answer["success"] is True and answer["url"] == answer["redirect_url"]
    assert answer["redirect_url"].startswith(f"{server}/3ds/challenge/")
    return answer


def test_authenticate_pays_and_lands_on_the_result_page(page, page_log, shop):
    server, services, merchant_id = shop
    before = services.merchants.balance(merchant_id)
    answer = pay_v2(server, "browser-1")
    assert services.merchants.balance(merchant_id) == before  # nothing paid yet
    response = page.goto(answer["redirect_url"])
    assert response.status == 200
    assert "ブラウザ商店" in page.inner_text("#merchant") and page.inner_text("#amount") == "2,500 JPY"
    assert page.inner_text("#card") == "VISA 400000******3155"
    with page.expect_navigation(url=f"{answer['redirect_url']}/result"):
        page.click("button[value=complete]")
    assert "お支払いが完了しました" in page.inner_text("[role=status]")
    transaction_id = page.inner_text("#transaction-id")
    status = requests.get(f"{server}{GATEWAY}/transaction/status/{transaction_id}", headers=AUTH, timeout=10)
    assert status.status_code == 200 and status.json()["transaction_type"] == "CAPTURE"
    assert status.json()["merchant_details"]["merchant_txn_ref"] == "browser-1"
    assert services.merchants.balance(merchant_id) == before + 2500
    assert [url for url in page_log.requests if not url.startswith(server)] == []
    assert page_log.errors == []  # no script error, no CSP violation
    # The challenge page again: finished (410, which Chromium reports as a failed load), never a second payment.
    response = page.goto(answer["redirect_url"])
    assert response.status == 410 and "すでに終わっています" in page.inner_text("[role=alert]")
    assert services.merchants.balance(merchant_id) == before + 2500
    assert [error for error in page_log.errors if "status of 410" not in error] == []


def test_fail_authentication_pays_nothing(page, page_log, shop):
    server, services, merchant_id = shop
    before = services.merchants.balance(merchant_id)
    answer = pay_v2(server, "browser-2")
    page.goto(answer["redirect_url"])
    with page.expect_navigation(url=f"{answer['redirect_url']}/result"):
        page.click("button[value=fail]")
    assert "お支払いは行われませんでした" in page.inner_text("[role=status]")
    assert page.query_selector("#transaction-id") is None
    assert services.merchants.balance(merchant_id) == before
    assert page_log.errors == []
