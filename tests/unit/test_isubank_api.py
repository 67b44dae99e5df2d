"""ISUBANK over HTTP (through Chalice's local gateway), on moto."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client

from chalicelib.api import build_app
from tests.conftest import make_services

APP_ID = "test-app-id-0123456789"


@pytest.fixture
def bank(moto_db, clock):
    services = make_services(clock)
    services.apps.create("Test App", app_id=APP_ID)
    services.accounts.open("alice", "Alice")
    services.accounts.deposit("alice", 1000, "入金")
    return services


@pytest.fixture
def client(bank, tmp_path):
    # An empty project dir: the test client then patches no stage environment into the process.
    with Client(build_app(bank), project_dir=str(tmp_path)) as client:
        yield client


def call(client, path, body, app_id=APP_ID, scheme="Bearer", raw=None):
    headers = {"Content-Type": "application/json"}
    if app_id is not None:
        headers["Authorization"] = f"{scheme} {app_id}"
    payload = raw if raw is not None else json.dumps(body)
    response = client.http.post(path, headers=headers, body=payload)
    assert response.headers["Content-Type"].startswith("application/json")
    return response.status_code, json.loads(response.body)


def test_reserve_commit_flow(client, bank):
    assert call(client, "/check", {"bank_id": "alice", "price": 1000}) == (200, {})
    status, body = call(client, "/reserve", {"bank_id": "alice", "price": -400})
    assert status == 200 and isinstance(body["reserve_id"], int)
    assert call(client, "/commit", {"reserve_ids": [body["reserve_id"]]}) == (200, {})
    assert bank.accounts.balance("alice").balance == 600
    assert call(client, "/check", {"bank_id": "alice", "price": 601}) == (400, {"error": "credit is insufficient"})


def test_cancel_flow(client, bank):
    _, body = call(client, "/reserve", {"bank_id": "alice", "price": -1000})
    assert call(client, "/reserve", {"bank_id": "alice", "price": -1}) == (400, {"error": "credit is insufficient"})
    assert call(client, "/cancel", {"reserve_ids": [body["reserve_id"]]}) == (200, {})
    assert call(client, "/cancel", {"reserve_ids": [body["reserve_id"]]}) == (
        400,
        {"error": "reserve is already committed"},
    )
    assert bank.accounts.balance("alice").available == 1000


def test_price_zero_checks_existence(client):
    assert call(client, "/check", {"bank_id": "alice", "price": 0}) == (200, {})
    assert call(client, "/check", {"bank_id": "bob", "price": 0}) == (404, {"error": "bank_id not found"})
    assert call(client, "/reserve", {"bank_id": "bob", "price": -1}) == (404, {"error": "bank_id not found"})


def test_expired_reserve(client, clock):
    _, body = call(client, "/reserve", {"bank_id": "alice", "price": -1})
    clock.advance(minutes=5)
    for path in ("/commit", "/cancel"):
        assert call(client, path, {"reserve_ids": [body["reserve_id"]]}) == (
            400,
            {"error": "reserve is already expired"},
        )


def test_unknown_reserve_id(client):
    assert call(client, "/commit", {"reserve_ids": [42]}) == (404, {"error": "reserve_id not found"})
    assert call(client, "/cancel", {"reserve_ids": [42]}) == (404, {"error": "reserve_id not found"})


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "app_id"])
def test_auth_schemes(client, scheme):
    assert call(client, "/check", {"bank_id": "alice", "price": 0}, scheme=scheme) == (200, {})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {APP_ID}"},
        {"Authorization": f"Bearer {APP_ID} extra"},
        {"Authorization": "Bearer unknown-app"},
        {"Authorization": "Bearer " + "x" * 5000},
    ],
)
@pytest.mark.parametrize("path", ["/check", "/reserve", "/commit", "/cancel"])
def test_bad_credentials_are_401(client, path, headers):
    response = client.http.post(path, headers=headers, body=json.dumps({"bank_id": "alice", "price": 0}))
    assert (response.status_code, json.loads(response.body)) == (401, {"error": "app_id not found"})


INVALID = {"error": "paramater invalid"}
BAD_VALUES = ["100", 1.5, 100.0, True, False, None, [1], {"a": 1}, 10**12 + 1, -(10**30), 10**400]


@pytest.mark.parametrize("price", BAD_VALUES)
@pytest.mark.parametrize("path", ["/check", "/reserve"])
def test_bad_price(client, path, price):
    assert call(client, path, {"bank_id": "alice", "price": price}) == (400, INVALID)


@pytest.mark.parametrize("bank_id", [1, None, True, "", "x" * 129, ["alice"], {"id": "alice"}])
@pytest.mark.parametrize("path", ["/check", "/reserve"])
def test_bad_bank_id(client, path, bank_id):
    assert call(client, path, {"bank_id": bank_id, "price": 1}) == (400, INVALID)


def test_price_rules(client):
    assert call(client, "/check", {"bank_id": "alice", "price": -1}) == (400, INVALID)
    assert call(client, "/reserve", {"bank_id": "alice", "price": 0}) == (400, INVALID)
    assert call(client, "/reserve", {"bank_id": "alice"}) == (400, INVALID)
    assert call(client, "/check", {"price": 1}) == (400, INVALID)


@pytest.mark.parametrize(
    "reserve_ids",
    [None, [], "1", 1, [1, 1], ["1"], [1.0], [True], [None], [0], [-5], [2**63]],
)
@pytest.mark.parametrize("path", ["/commit", "/cancel"])
def test_bad_reserve_ids(client, path, reserve_ids):
    assert call(client, path, {"reserve_ids": reserve_ids}) == (400, INVALID)


def test_more_ids_than_a_transaction_takes(client):
    # A commit writes each hold and its posting; a cancel only the hold.
    assert call(client, "/commit", {"reserve_ids": list(range(1, 51))}) == (400, INVALID)
    assert call(client, "/cancel", {"reserve_ids": list(range(1, 101))}) == (400, INVALID)
    assert call(client, "/cancel", {"reserve_ids": list(range(1, 51))}) == (404, {"error": "reserve_id not found"})


@pytest.mark.parametrize(
    "raw", ["", "{", "[]", "null", "42", '"text"', '{"bank_id": "alice", "price": NaN}', "\xff", "[" * 100000]
)
@pytest.mark.parametrize("path", ["/check", "/reserve", "/commit", "/cancel"])
def test_malformed_json(client, path, raw):
    assert call(client, path, None, raw=raw) == (400, INVALID)


VALID_BODIES = {
    "/check": '{"bank_id": "alice", "price": 1}',
    "/reserve": '{"bank_id": "alice", "price": -1}',
    "/commit": '{"reserve_ids": [1]}',
    "/cancel": '{"reserve_ids": [1]}',
}
VALID_ANSWERS = {"/check": 200, "/reserve": 200, "/commit": 404, "/cancel": 404}


@pytest.mark.parametrize("path", list(VALID_BODIES))
def test_bodies_that_are_not_utf8_or_too_large_are_invalid(client, path):
    from chalicelib.api.http import MAX_BODY_BYTES

    body = VALID_BODIES[path]
    # An invalid UTF-8 byte in a member that is otherwise ignored.
    assert call(client, path, None, raw=body[:-1].encode() + b', "note": "\xff"}') == (400, INVALID)
    padding = " " * (MAX_BODY_BYTES - len(body) + 1)  # whitespace is valid JSON: only the size is wrong
    assert call(client, path, None, raw=body + padding) == (400, INVALID)
    assert call(client, path, None, raw=body + padding[1:])[0] == VALID_ANSWERS[path]  # at the limit: read


def test_wrong_method_is_json_405(client):
    response = client.http.get("/reserve")
    assert response.status_code == 405
    assert json.loads(response.body) == {"error": "method not allowed"}
    assert "POST" in response.headers["Allow"]


def test_unexpected_error_is_json_500(client, bank, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(bank.accounts, "check", explode)
    assert call(client, "/check", {"bank_id": "alice", "price": 1}) == (500, {"error": "internal server error"})


def test_busy_is_503_with_retry_after(client, bank, monkeypatch):
    from chalicelib.ledger.errors import Busy

    def busy(*args, **kwargs):
        raise Busy()

    monkeypatch.setattr(bank.holds, "reserve", busy)
    response = client.http.post(
        "/reserve",
        headers={"Authorization": f"Bearer {APP_ID}"},
        body=json.dumps({"bank_id": "alice", "price": -1}),
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "error" in json.loads(response.body)


def test_compat_routes_absent_and_unknown_app_refused_when_off(client):
    for path in ("/register", "/add_credit"):
        assert client.http.post(path, body="{}").status_code in (403, 404)  # the gateway: no such route
    assert call(client, "/check", {"bank_id": "alice", "price": 0}, app_id="fresh-app") == (
        401,
        {"error": "app_id not found"},
    )


def test_warm_requests_make_one_dynamodb_call_per_step_the_ledger_needs(client):
    from tests.support.calls import dynamodb_calls

    call(client, "/check", {"bank_id": "alice", "price": 0})  # warms the app's identity
    with dynamodb_calls() as calls:
        call(client, "/check", {"bank_id": "alice", "price": 1})
    assert calls == ["GetItem"]
    with dynamodb_calls() as calls:
        reserve_ids = [call(client, "/reserve", {"bank_id": "alice", "price": -1})[1]["reserve_id"] for _ in range(2)]
    assert calls == ["TransactWriteItems"] * 2
    for path, reserve_id in zip(("/commit", "/cancel"), reserve_ids, strict=True):
        with dynamodb_calls() as calls:
            assert call(client, path, {"reserve_ids": [reserve_id]}) == (200, {})
        assert calls == ["BatchGetItem", "BatchGetItem", "TransactWriteItems"], path
