"""The bank common API's data endpoints over HTTP, on moto: branches, accounts, transactions, balances."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from chalicelib.api import build_app
from chalicelib.auth.logins import LoginRequest
from chalicelib.clock import JST
from tests.conftest import make_services

API_KEY = "data-api-key"
PASSWORD = "client-password"


@pytest.fixture
def bank(moto_db, clock):
    services = make_services(clock)
    services.clients.create("Data App", ["https://app.example/cb"], api_key=API_KEY, password=PASSWORD)
    services.clients.create("Writer", ["https://app.example/cb"], grants=["write"], api_key="writer", password=PASSWORD)
    services.branches.create("001", "本店", "ホンテン", "131016", "0311112222")
    services.branches.create("900", "秋葉原支店", "アキハバラ", "131016", "0322223333")
    services.accounts.open("alice", "Alice", branch_code="900")
    services.accounts.open("bob", "Bob")
    for user in ("alice", "bob"):
        services.logins.set_password(user, f"{user}-password")
    services.apps.create("ISUBANK app", app_id="isubank-app-id")
    return services


@pytest.fixture
def client(bank, tmp_path):
    with Client(build_app(bank), project_dir=str(tmp_path)) as client:
        yield client


def get(client, path, token, **query):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.http.get(path + ("?" + urlencode(query) if query else ""), headers=headers)
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, json.loads(response.body), response.headers


def access_token(bank, user="alice", api_key=API_KEY):
    """An end user's access token, through the same sign-in as the login page's."""
    client = bank.clients.find(api_key)
    auth = bank.logins.sign_in(LoginRequest(client, None, client.grants), user, f"{user}-password")
    return bank.tokens.exchange(client, auth.token).access.token


def system_token(bank, api_key=API_KEY):
    client = bank.clients.find(api_key)
    return bank.tokens.issue_system(client, client.grants).token


def test_branches_with_a_system_token_or_a_users(client, bank):
    for token in (system_token(bank), access_token(bank)):
        status, body, _ = get(client, "/branches", token)
        assert status == 200
        assert body["bank_code"] == "9999" and body["bank_name"] == bank.settings.bank_name
        assert body["branches"][1] == {
            "id": "900",
            "branch_code": "900",
            "branch_name": "秋葉原支店",
            "branch_name_kana": "アキハバラ",
            "address_code": "131016",
            "tel": "0322223333",
        }
        assert body["params"] == {"page": 1, "next_page": 0}
    assert get(client, "/branches", system_token(bank), page=2)[1]["branches"] == []


def test_accounts_are_the_users_own(client, bank):
    status, body, _ = get(client, "/accounts", access_token(bank))
    assert status == 200
    account_number = bank.accounts.of_customer("alice")[0].account_number
    assert body["accounts"] == [
        {
            "id": "alice",
            "account_number": account_number,
            "owner_type": "p",
            "account_type1": "bank",
            "account_type2": "普通",
            "account_type3": "",
            "branch_code": "900",
            "branch_name": "秋葉原支店",
        }
    ]
    assert body["params"] == {"page": 1, "next_page": 0}
    assert [a["id"] for a in get(client, "/accounts", access_token(bank, "bob"))[1]["accounts"]] == ["bob"]


@pytest.mark.parametrize("path", ["/accounts", "/transactions", "/balances"])
def test_user_data_refuses_a_system_token_and_a_token_without_read(client, bank, path):
    query = {"account_id": "alice", "start_date": "2026-11-01", "end_date": "2026-11-30"}
    for token in (system_token(bank), access_token(bank, api_key="writer")):
        status, body, headers = get(client, path, token, **query)
        assert (status, body["error"]) == (403, "insufficient_scope")
        assert headers["WWW-Authenticate"] == 'Bearer realm="bank", error="insufficient_scope", scope="read"'


@pytest.mark.parametrize("path", ["/branches", "/accounts", "/transactions", "/balances"])
def test_missing_unknown_expired_or_revoked_tokens_are_401(client, bank, clock, path):
    query = {"account_id": "alice", "start_date": "2026-11-01", "end_date": "2026-11-30"}
    expired = access_token(bank)
    clock.advance(minutes=60)
    revoked = access_token(bank)
    access_token(bank)  # a new sign-in revokes the previous pair
    for token in (None, "unknown", expired, revoked):
        status, body, headers = get(client, path, token, **query)
        assert (status, body["error"]) == (401, "invalid_token"), token
        assert set(body) == {"error", "error_description"}
        assert headers["WWW-Authenticate"].startswith('Bearer realm="bank"')


def test_an_isubank_commit_and_a_deposit_show_in_transactions_and_balances(client, bank, clock):
    bank.accounts.deposit("alice", 10_000, "給与")
    clock.advance(hours=1)
    reserve_id = bank.holds.reserve("alice", -3_000, "app", "ISUBANK app")
    cancelled = bank.holds.reserve("alice", -500, "app", "ISUBANK app")
    bank.holds.commit([reserve_id])
    bank.holds.cancel([cancelled])
    token = access_token(bank)
    today = clock.now().astimezone(JST).date().isoformat()
    status, body, _ = get(client, "/transactions", token, account_id="alice", start_date=today, end_date=today)
    assert status == 200
    assert [(t["amount"], t["balance"], t["description"]) for t in body["transactions"]] == [
        (10_000, 10_000, "給与"),
        (-3_000, 7_000, "ISUBANK app"),
    ]
    assert body["transactions"][1]["date"] == "2026-11-23T13:00:00+09:00"
    assert body["params"] == {"account_id": "alice", "start_date": today, "end_date": today, "page": 1, "next_page": 0}
    start = (clock.now().astimezone(JST) - timedelta(days=2)).date().isoformat()
    status, body, _ = get(client, "/balances", token, account_id="alice", start_date=start, end_date=today)
    assert status == 200
    assert body["balances"] == [
        {"date": "2026-11-21T00:00:00+09:00", "balance": 0},
        {"date": "2026-11-22T00:00:00+09:00", "balance": 0},
        {"date": "2026-11-23T00:00:00+09:00", "balance": 7_000},
    ]


def test_pages_of_transactions_across_months(client, bank, clock):
    start = datetime(2026, 9, 1, 9, 0, tzinfo=JST)
    instants = [start + timedelta(minutes=250 * i) for i in range(450)]  # September to mid-November
    for i, instant in enumerate(instants):
        bank.accounts.deposit("alice", 1, f"入金 {i}", at=instant)
    token = access_token(bank)
    query = {"account_id": "alice", "start_date": "2026-09-01", "end_date": "2026-11-30"}
    pages = []
    for page in (1, 2, 3):
        status, body, _ = get(client, "/transactions", token, page=page, **query)
        assert status == 200
        pages.append(body)
    assert [len(p["transactions"]) for p in pages] == [200, 200, 50]
    assert [p["params"]["next_page"] for p in pages] == [2, 3, 0]
    balances = [t["balance"] for p in pages for t in p["transactions"]]
    assert balances == list(range(1, 451))
    october = get(client, "/transactions", token, account_id="alice", start_date="2026-10-01", end_date="2026-10-31")[1]
    dates = [t["date"][:7] for t in october["transactions"]]
    assert set(dates) == {"2026-10"} and len(dates) == sum(instant.month == 10 for instant in instants)


@pytest.mark.parametrize(
    "query",
    [
        {"account_id": "alice", "start_date": "2026-11-30", "end_date": "2026-11-01"},
        {"account_id": "alice", "start_date": "2025-01-01", "end_date": "2026-11-01"},
        {"account_id": "alice", "start_date": "2026-11-01", "end_date": "2026-11-31"},
        {"account_id": "alice", "start_date": "yesterday", "end_date": "2026-11-01"},
        {"account_id": "alice", "start_date": "2026-11-01"},
        {"account_id": "alice", "start_date": "2026-11-01", "end_date": "2026-11-02", "page": "0"},
        {"account_id": "alice", "start_date": "2026-11-01", "end_date": "2026-11-02", "page": "x"},
        {"account_id": "alice", "start_date": "2026-11-01", "end_date": "2026-11-02", "page": "1.5"},
    ],
)
@pytest.mark.parametrize("path", ["/transactions", "/balances"])
def test_bad_ranges_and_pages_are_400(client, bank, path, query):
    status, body, _ = get(client, path, access_token(bank), **query)
    assert (status, body["error"]) == (400, "invalid_request")


@pytest.mark.parametrize("path", ["/transactions", "/balances"])
def test_another_users_or_an_unknown_account_is_404(client, bank, path):
    token = access_token(bank)
    for account_id in ("bob", "nobody"):
        status, body, _ = get(
            client, path, token, account_id=account_id, start_date="2026-11-01", end_date="2026-11-02"
        )
        assert (status, body["error"]) == (404, "not_found")


def test_a_framework_error_on_this_apis_path_has_its_shape(client):
    response = client.http.post("/branches", body="{}")
    assert response.status_code == 405
    body = json.loads(response.body)
    assert body["error"] == "method_not_allowed" and body["error_description"]
