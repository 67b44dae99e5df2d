"""`make run`'s server over real HTTP: demo data, JSON everywhere, and 50 concurrent clients."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from chalicelib.clock import JST
from local.demo import (
    DEMO_API_KEY,
    DEMO_APP_ID,
    DEMO_CLIENT_PASSWORD,
    DEMO_MERCHANT_KEY,
    DEMO_ORG_PUBLISHABLE_KEY,
    DEMO_ORG_TOKEN,
    DEMO_WEBHOOK_SECRET,
)
from local.webhook_receiver import running
from tests.support.local_server import launch

pytestmark = pytest.mark.dynamodb_local


@pytest.fixture(scope="module")
def server(dynamodb_local, tmp_path_factory):
    with launch(tmp_path_factory.mktemp("server"), AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local.endpoint) as local:
        yield local.wait_until_serving().base
        local.stop()


def request(base, method, path, body=None, app_id=DEMO_APP_ID):
    headers = {"Authorization": f"Bearer {app_id}"} if app_id else {}
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            answer = response
            payload = response.read()
    except urllib.error.HTTPError as error:
        answer, payload = error, error.read()
    assert len(answer.headers["X-Request-Id"]) == 32, "every response carries a request id"
    return answer.status, answer.headers["Content-Type"], json.loads(payload)


def test_demo_data_and_a_reserve_commit_cycle(server):
    assert request(server, "POST", "/check", {"bank_id": "alice", "price": 100_000})[0] == 200
    status, _, body = request(server, "POST", "/reserve", {"bank_id": "alice", "price": -1})
    assert status == 200
    assert request(server, "POST", "/commit", {"reserve_ids": [body["reserve_id"]]})[0] == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/no/such/path", 404), ("POST", "/", 404), ("GET", "/check", 405), ("DELETE", "/reserve", 405)],
)
def test_every_response_is_json(server, method, path, status):
    code, content_type, body = request(server, method, path)
    assert (code, content_type) == (status, "application/json")
    assert set(body) == {"error"}


def test_compat_routes_are_on_locally(server):
    assert request(server, "POST", "/register", {"bank_id": "zed"}, app_id=None)[0] == 200
    assert request(server, "POST", "/add_credit", {"bank_id": "zed", "price": 5}, app_id=None)[0] == 200
    assert request(server, "GET", "/credit?bank_id=zed", app_id=None) == (200, "application/json", {"credit": 5})


def test_50_concurrent_clients_get_no_resets_or_errors(server):
    barrier = threading.Barrier(50)

    def client(index):
        barrier.wait()
        status, _, body = request(server, "POST", "/reserve", {"bank_id": "bob", "price": -1})
        assert status == 200, body
        status, _, body = request(server, "POST", "/commit", {"reserve_ids": [body["reserve_id"]]})
        assert status == 200, body
        return index

    with ThreadPoolExecutor(max_workers=50) as pool:
        assert sorted(pool.map(client, range(50))) == list(range(50))
    assert request(server, "GET", "/credit?bank_id=bob", app_id=None)[2] == {"credit": 50_000 - 50}


def test_the_bank_common_api_flow_of_the_readme_on_the_demo_data(server):
    """README, "The flow, with curl": the demo client signs alice in and reads her seeded history."""
    status, _, system = request(
        server, "POST", "/auth/system_token", {"api_key": DEMO_API_KEY, "password": DEMO_CLIENT_PASSWORD}, app_id=None
    )
    assert status == 200
    sign_in = {"api_key": DEMO_API_KEY, "id": "alice", "password": "alice-password"}
    status, _, auth = request(server, "POST", "/auth/login", sign_in, app_id=None)
    assert status == 200
    exchange = {"api_key": DEMO_API_KEY, "password": DEMO_CLIENT_PASSWORD, "auth_token": auth["auth_token"]}
    status, _, pair = request(server, "POST", "/auth/token", exchange, app_id=system["access_token"])
    assert status == 200
    token = pair["access_token"]
    _, _, accounts = request(server, "GET", "/accounts", app_id=token)
    listed = [(a["account_type1"], a["branch_name"]) for a in accounts["accounts"]]
    assert sorted(listed) == [("bank", "本店"), ("cc", "本店")]  # her ordinary account and her demo card
    today = datetime.now(JST).date()
    span = f"account_id=alice&start_date={today - timedelta(days=100)}&end_date={today}"
    status, _, statement = request(server, "GET", f"/transactions?{span}", app_id=token)
    assert status == 200 and len(statement["transactions"]) > 20  # three months of demo deposits
    assert all(line["date"].endswith("+09:00") for line in statement["transactions"])
    status, _, balances = request(server, "GET", f"/balances?{span}", app_id=token)
    assert status == 200 and len(balances["balances"]) == 101
    assert balances["balances"][0]["balance"] == 0
    assert balances["balances"][-1]["balance"] == statement["transactions"][-1]["balance"]
    status, _, branches = request(server, "GET", "/branches", app_id=system["access_token"])
    assert [b["branch_code"] for b in branches["branches"]] == ["001", "002", "003", "004"]


def test_the_card_gateway_of_the_readme_with_the_demo_merchant(server):
    body = {
        "amount": "1000",
        "currency": "JPY",
        "merchant_txn_ref": "e2e-order-1",
        "card": {"number": "4242424242424242", "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "J"},
    }
    headers = {"Authorization": f"Basic {DEMO_MERCHANT_KEY}", "x-api-key": DEMO_MERCHANT_KEY}
    req = urllib.request.Request(
        f"{server}/api/v1/server-to-server-interface/payment", data=json.dumps(body).encode(), headers=headers
    )
    with urllib.request.urlopen(req, timeout=30) as response:
        answer = json.loads(response.read())
        assert response.status == 201
    assert answer["transaction_type"] == "CAPTURE" and answer["payment_details"]["card"]["number"] == "424242******4242"


def test_the_workers_webhook_reaches_a_verifying_receiver_and_is_retried_after_a_500(server):
    # The README's try-out: the demo merchant's secret, a receiver that first fails; the local stage's first
    # retry comes 5 seconds later (BANK_WEBHOOK_RETRY_DELAYS).
    with running(DEMO_WEBHOOK_SECRET, fail_first=1) as receiver:
        body = {
            "amount": 700,
            "currency": "JPY",
            "merchant_txn_ref": "e2e-webhook-1",
            "card": {
                "number": "5555555555554444",
                "expiry_month": "12",
                "expiry_year": "30",
                "cvc": "123",
                "name": "J",
            },
            "return_url": {"webhook_url": receiver.url},
        }
        headers = {"Authorization": f"Basic {DEMO_MERCHANT_KEY}", "x-api-key": DEMO_MERCHANT_KEY}
        path = "/api/v1/server-to-server-interface"
        req = urllib.request.Request(f"{server}{path}/payment", data=json.dumps(body).encode(), headers=headers)
        with urllib.request.urlopen(req, timeout=30) as response:
            paid = json.loads(response.read())
        first, second = receiver.wait_for(2, timeout=30)
    assert first["verified"] and second["verified"], "signed with the merchant's secret"
    assert (first["status"], second["status"]) == (500, 200)
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert second["event"]["data"]["transaction_details"]["id"] == paid["transaction_details"]["id"]
    transaction_id = paid["transaction_details"]["id"]
    # The worker records an attempt after the receiver has answered it: wait for the record of the second.
    deadline = time.monotonic() + 10
    while True:
        req = urllib.request.Request(f"{server}{path}/transaction/{transaction_id}/webhooks", headers=headers)
        with urllib.request.urlopen(req, timeout=30) as response:
            attempts = json.loads(response.read())["attempts"]
        if len(attempts) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [attempt["status_code"] for attempt in attempts] == [500, 200]


def test_the_card_registration_of_the_readme_with_the_demo_organisation(server):
    def send(method, path, authorization, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{server}{path}", data=data, method=method, headers={"Authorization": authorization}
        )
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())

    card = {"number": "5555555555554444", "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "TARO"}
    status, token = send("POST", "/api/v1/tokens", f"Bearer {DEMO_ORG_PUBLISHABLE_KEY}", {"card": card})
    assert status == 201
    form = {
        "credit_card_type": 2,
        "credit_card_number": token["card"]["number"],
        "credit_card_nominee": "TARO YAMADA",
        "credit_card_effective_month": "12",
        "credit_card_effective_year": "30",
        "credit_card_token": token["token"],
    }
    member = f"Bearer {DEMO_ORG_TOKEN}"
    assert send("POST", "/api/payment/credit", member, form) == (200, {"result": True, "errors": "", "data": {}})
    status, registered = send("GET", "/api/payment/credit", member)
    assert registered["data"]["credit_card_number"] == "555555******4444"
