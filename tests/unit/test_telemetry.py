"""Request ids, JSON log lines, EMF metrics, and no secret in any of them."""

from __future__ import annotations

import io
import json

import pytest
from chalice.test import Client

from chalicelib.api import build_app
from chalicelib.observability import logger
from tests.conftest import make_services

APP_ID = "app-id-that-must-never-be-logged-5f2c"
SECRETS = [
    APP_ID,
    "Bearer-token-never-logged-9a7e",
    "refresh-never-logged-77ab",
    "hunter2-password-never-logged",
    "4111111111111111",
    "5555555555554444",
    "cvc-737-never-logged",
]


@pytest.fixture
def client(moto_db, clock, tmp_path):
    services = make_services(clock, contest_compat=True)
    services.apps.create("Logged App", app_id=APP_ID)
    services.accounts.open("alice", "Alice")
    services.accounts.deposit("alice", 1000, "入金")
    with Client(build_app(services), project_dir=str(tmp_path)) as client:
        yield client, services


@pytest.fixture
def output(monkeypatch, capsys, caplog):
    """Everything written: the JSON log lines, EMF metrics (printed), stderr and other loggers."""
    logs = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", logs)

    def read(other_loggers: bool = True) -> str:
        """What the process wrote; with other_loggers, also records of loggers that are not ours (as
        pytest formats them)."""
        captured = capsys.readouterr()
        return logs.getvalue() + captured.out + captured.err + (caplog.text if other_loggers else "")

    return read


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_each_request_logs_one_json_line_and_returns_its_request_id(client, output):
    client, _ = client
    response = client.http.post(
        "/reserve", headers={"Authorization": f"Bearer {APP_ID}"}, body=json.dumps({"bank_id": "alice", "price": -1})
    )
    request_id = response.headers["X-Request-Id"]
    assert len(request_id) == 32
    logs = [line for line in lines(output()) if line.get("message") == "request"]
    assert len(logs) == 1
    log = logs[0]
    assert (log["request_id"], log["route"], log["method"], log["status"]) == (request_id, "/reserve", "POST", 200)
    assert log["latency_ms"] >= 0 and log["service"] == "bank-api" and log["level"] == "INFO"
    assert len(log["app_key"]) == 16


def emf_blobs(written: str) -> list[dict]:
    return [line for line in lines(written) if "_aws" in line]


def metric_names(blob: dict) -> set[str]:
    return {m["Name"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def test_each_request_publishes_exactly_its_own_metrics_once(client, output):
    client, _ = client
    headers = {"Authorization": f"Bearer {APP_ID}"}
    reserve_id = json.loads(
        client.http.post("/reserve", headers=headers, body=json.dumps({"bank_id": "alice", "price": -1})).body
    )["reserve_id"]
    client.http.post("/commit", headers=headers, body=json.dumps({"reserve_ids": [reserve_id]}))
    client.http.post("/commit", headers=headers, body=json.dumps({"reserve_ids": [reserve_id]}))
    reserved, committed, refused = emf_blobs(output())
    # EMF values as Powertools writes them: a list of the request's one value.
    assert (reserved["Requests"], reserved["Reserves"], reserved["status"]) == ([1], [1], "200")
    assert (committed["Requests"], committed["Commits"], committed["status"]) == ([1], [1], "200")
    assert (refused["Requests"], refused["Errors"], refused["status"]) == ([1], [1], "400")
    assert "Errors" not in metric_names(committed) and "Commits" not in metric_names(refused)
    for blob in (reserved, committed, refused):
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Bank" and directive["Dimensions"] == [["service"], ["service", "status"]]
        assert blob["service"] == "bank-api"


def test_no_metrics_are_written_when_they_are_disabled(client, output, monkeypatch):
    client, _ = client
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    headers = {"Authorization": f"Bearer {APP_ID}"}
    for _ in range(120):  # past Powertools' buffer of 100 values, which once printed regardless
        client.http.post("/check", headers=headers, body=json.dumps({"bank_id": "alice", "price": 10**6}))
    written = output()
    assert emf_blobs(written) == []
    assert len([line for line in lines(written) if line.get("message") == "request"]) == 120


def test_concurrent_requests_never_share_metrics(moto_db, clock, output):
    """Threads of the local server, each request's blob carrying its own status and nothing else's."""
    import threading
    import urllib.error
    import urllib.request

    from local.dynamodb_local import free_port
    from local.server import build_server

    services = make_services(clock)
    services.apps.create("Threads", app_id=APP_ID)
    services.accounts.open("alice", "Alice")
    services.accounts.deposit("alice", 1000, "入金")
    server = build_server(free_port(), build_app(services))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server.server_port}"
    # 200 (covered), 400 (insufficient), 404 (unknown user), 401 (unknown app): one per thread, many rounds.
    kinds = [("alice", 1, APP_ID, 200), ("alice", 10**6, APP_ID, 400), ("zed", 1, APP_ID, 404), ("alice", 1, "x", 401)]
    statuses: list[int] = []
    barrier = threading.Barrier(len(kinds) * 4)

    def client_thread(bank_id: str, price: int, app_id: str, expected: int) -> None:
        barrier.wait()
        for _ in range(10):
            body = json.dumps({"bank_id": bank_id, "price": price}).encode()
            req = urllib.request.Request(base + "/check", data=body, headers={"Authorization": f"Bearer {app_id}"})
            try:
                status = urllib.request.urlopen(req, timeout=30).status
            except urllib.error.HTTPError as error:
                status = error.code
            assert status == expected
            statuses.append(status)

    threads = [threading.Thread(target=client_thread, args=kind) for kind in kinds * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.shutdown()
    server.server.server_close()
    blobs = emf_blobs(output())
    assert len(statuses) == 160 and len(blobs) == 160
    assert sorted(int(blob["status"]) for blob in blobs) == sorted(statuses)
    for blob in blobs:
        assert blob["Requests"] == [1]
        assert ("Errors" in blob) == (int(blob["status"]) >= 400) and blob.get("Errors", [1]) == [1]


def test_no_secret_reaches_the_logs(client, output, monkeypatch):
    client, services = client
    body = {
        "bank_id": "alice",
        "price": -1,
        "password": SECRETS[3],
        "card_number": SECRETS[4],
        "cvc": SECRETS[6],
        "refresh_token": SECRETS[2],
    }
    for secret in SECRETS:
        for path in ("/check", "/reserve", "/commit", "/cancel", "/register", "/add_credit", "/nowhere"):
            client.http.post(path, headers={"Authorization": f"Bearer {secret}"}, body=json.dumps(body))
        client.http.post("/reserve", headers={"Authorization": f"Bearer {APP_ID}"}, body=json.dumps(body) + secret)
    client.http.get(f"/credit?bank_id={SECRETS[4]}")
    client.http.post("/check", body=json.dumps(body))  # no credentials: 401

    def explode(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(services.accounts, "check", explode)
    client.http.post("/check", headers={"Authorization": f"Bearer {APP_ID}"}, body=json.dumps({**body, "price": 1}))
    written = output()
    statuses = {line["status"] for line in lines(written) if line.get("message") == "request"}
    assert {200, 400, 401, 404, 500} <= statuses  # the logs saw every kind of answer
    for secret in SECRETS:
        assert secret not in written


def test_an_unexpected_error_is_logged_as_json_with_its_traceback(client, output, monkeypatch):
    client, services = client

    def explode(*args, **kwargs):
        raise RuntimeError("ledger exploded")

    monkeypatch.setattr(services.accounts, "check", explode)
    response = client.http.post(
        "/check", headers={"Authorization": f"Bearer {APP_ID}"}, body=json.dumps({"bank_id": "alice", "price": 1})
    )
    assert response.status_code == 500
    written = output(other_loggers=False)
    errors = [line for line in lines(written) if line.get("level") == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["exception_name"] == "RuntimeError" and "ledger exploded" in errors[0]["exception"]
    assert errors[0]["request_id"] == response.headers["X-Request-Id"]
    assert all(line.startswith("{") for line in written.splitlines() if line.strip())


def test_no_token_or_password_of_the_bank_api_reaches_the_logs(client, output, monkeypatch):
    """The whole flow, with its real secrets: none of them is written, whatever the answer."""
    client, services = client
    client_password, user_password = "client-password-never-logged", "user-password-never-logged"
    services.clients.create(
        "App", ["https://app.example/cb"], api_key="logs-app", password=client_password, password_login=True
    )
    services.logins.set_password("alice", user_password)

    def call(method, path, body=None, token=None, **headers):
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = getattr(client.http, method)(path, headers=headers, body=json.dumps(body) if body else None)
        return json.loads(response.body) if response.headers["Content-Type"] == "application/json" else response

    system = call("post", "/auth/system_token", {"api_key": "logs-app", "password": client_password})["access_token"]
    auth = call("post", "/auth/login", {"api_key": "logs-app", "id": "alice", "password": user_password})["auth_token"]
    page = call("get", "/auth/login?api_key=logs-app&redirect_uri=https://app.example/cb")
    csrf = page.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    form = f"api_key=logs-app&redirect_uri=https://app.example/cb&id=alice&password={user_password}&csrf_token={csrf}"
    client.http.post(
        "/auth/login/form",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"__Host-bank-login-csrf={csrf}"},
        body=form,
    )
    pair = call("post", "/auth/token", {"api_key": "logs-app", "password": client_password, "auth_token": auth}, system)
    rotated = call("put", "/auth/token", {"api_key": "logs-app", "refresh_token": pair["refresh_token"]}, system)
    call("put", "/auth/token", {"api_key": "logs-app", "refresh_token": pair["refresh_token"]}, system)  # replay
    call("get", "/accounts", token=rotated["access_token"])
    call("get", "/transactions?account_id=alice&start_date=2026-11-01&end_date=2026-11-30", token=pair["access_token"])
    call("delete", "/auth/token", {"api_key": "logs-app", "refresh_token": rotated["refresh_token"]}, system)
    call("post", "/auth/system_token", {"api_key": "logs-app", "password": user_password})  # wrong: 401
    secrets = [client_password, user_password, system, auth, csrf, *pair.values(), *rotated.values()]
    written = output()
    statuses = {line["status"] for line in lines(written) if line.get("message") == "request"}
    assert {200, 303, 400, 401} <= statuses
    for secret in secrets:
        if isinstance(secret, str):
            assert secret not in written


def test_no_card_number_or_cvc_of_the_gateway_reaches_the_logs(client, output):
    client, services = client
    merchant = services.merchants.create("Logged shop")
    headers = {"Authorization": f"Basic {merchant.api_key}", "x-api-key": merchant.api_key}
    card = services.issuer.issue("alice", 10_000)
    cards = [
        ("5555555555554444", "12", "30", "123"),
        ("4000000000000002", "12", "30", "123"),  # declined
        ("4242424242424241", "12", "30", "123"),  # fails the check digit
        (card.number, card.expiry_month, card.expiry_year, card.cvc),
    ]
    for index, (number, month, year, cvc) in enumerate(cards):
        body = {
            "amount": 100,
            "currency": "JPY",
            "card": {"number": number, "expiry_month": month, "expiry_year": year, "cvc": cvc, "name": "A"},
            "merchant_txn_ref": f"ref-{index}",
        }
        client.http.post("/api/v1/server-to-server-interface/payment", headers=headers, body=json.dumps(body))
    written = output()
    statuses = {line["status"] for line in lines(written) if line.get("message") == "request"}
    assert {201, 402, 422} <= statuses
    for number, *_ in cards:
        assert number not in written
    assert merchant.api_key not in written and f'"{card.cvc}"' not in written
    assert all("cvc" not in line for line in lines(written))


def test_no_card_number_challenge_id_or_csrf_token_of_3ds_reaches_the_logs(client, output):
    client, services = client
    merchant = services.merchants.create("Logged 3DS shop")
    headers = {"Authorization": f"Basic {merchant.api_key}", "x-api-key": merchant.api_key}
    number = "4000002500003155"
    card = {"number": number, "expiry_month": "12", "expiry_year": "30", "cvc": "737", "name": "A"}
    secrets = [number, merchant.api_key]
    for index, outcome in enumerate(("complete", "fail")):
        body = {"amount": 100, "currency": "JPY", "card": card, "merchant_txn_ref": f"3ds-{index}"}
        response = client.http.post(
            "/api/v1/server-to-server-interface/paymentv2", headers=headers, body=json.dumps(body)
        )
        page = "/" + json.loads(response.body)["redirect_url"].split("/", 3)[3]
        shown = client.http.get(page)
        csrf = shown.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"__Host-bank-3ds-csrf={csrf}"}
        client.http.post(page, headers=form, body=f"outcome={outcome}&csrf_token={csrf}")
        client.http.post(page, headers=form, body=f"outcome={outcome}&csrf_token={csrf}")  # finished: 410
        client.http.post(page, headers=form, body="outcome=complete&csrf_token=forged")
        client.http.get(page + "/result")
        secrets += [page.rsplit("/", 1)[1], csrf]
    written = output()
    statuses = {line["status"] for line in lines(written) if line.get("message") == "request"}
    assert {200, 303, 410} <= statuses
    for secret in secrets:
        assert secret not in written
    assert '"737"' not in written
