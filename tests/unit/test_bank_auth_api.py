"""The bank common API's auth over HTTP (Chalice's local gateway), on moto, with the injected clock."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
from chalice.test import Client

from chalicelib.api import build_app
from chalicelib.store.models import Token
from tests.conftest import make_services

API_KEY = "test-api-key"
PASSWORD = "test-client-password"
OTHER_KEY = "other-api-key"
REDIRECT = "https://app.example/callback"


@pytest.fixture
def bank(moto_db, clock):
    services = make_services(clock)
    services.clients.create("Test App", [REDIRECT], api_key=API_KEY, password=PASSWORD, password_login=True)
    services.clients.create("Other App", [REDIRECT], api_key=OTHER_KEY, password=PASSWORD, password_login=True)
    services.clients.create("Reader", [REDIRECT], grants=["read"], api_key="reader", password=PASSWORD)
    for user in ("alice", "bob"):
        services.accounts.open(user, user.capitalize())
        services.logins.set_password(user, f"{user}-password")
    return services


@pytest.fixture
def client(bank, tmp_path):
    with Client(build_app(bank), project_dir=str(tmp_path)) as client:
        yield client


def call(client, method, path, body=None, token=None, raw=None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
    response = getattr(client.http, method.lower())(path, headers=headers, body=payload)
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, json.loads(response.body), response.headers


def system_token(client, api_key=API_KEY, grants="*"):
    status, body, _ = call(
        client, "POST", "/auth/system_token", {"api_key": api_key, "password": PASSWORD, "grants": grants}
    )
    assert status == 200, body
    return body["access_token"]


def auth_token(client, user="alice", api_key=API_KEY, grants=None):
    payload = {"api_key": api_key, "id": user, "password": f"{user}-password"}
    if grants is not None:
        payload["grants"] = grants
    status, body, _ = call(client, "POST", "/auth/login", payload)
    assert status == 200, body
    return body["auth_token"]


def exchange(client, auth, api_key=API_KEY, system=None):
    system = system or system_token(client, api_key)
    return call(client, "POST", "/auth/token", {"api_key": api_key, "password": PASSWORD, "auth_token": auth}, system)


def test_system_token_is_an_hour_and_other_tokens_stay_valid(client, bank, clock):
    status, body, _ = call(
        client, "POST", "/auth/system_token", {"api_key": API_KEY, "password": PASSWORD, "grants": "read"}
    )
    assert status == 200
    assert body["expired_at"] - body["created_at"] == 3600
    assert body["created_at"] == int(clock.now().timestamp())
    first = body["access_token"]
    second = system_token(client)
    assert bank.tokens.authenticate(first).grants == {"read"}
    assert bank.tokens.authenticate(second).grants == {"read", "write"}
    clock.advance(timedelta(minutes=60))
    with pytest.raises(Exception, match="unknown, expired or revoked"):
        bank.tokens.authenticate(first)


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({"api_key": API_KEY, "password": "wrong"}, 401, "invalid_client"),
        ({"api_key": "nobody", "password": PASSWORD}, 401, "invalid_client"),
        ({"api_key": API_KEY, "password": PASSWORD, "grants": "read,admin"}, 400, "invalid_scope"),
        ({"api_key": "reader", "password": PASSWORD, "grants": "write"}, 400, "invalid_scope"),
        ({"api_key": API_KEY}, 400, "invalid_request"),
        ({"api_key": API_KEY, "password": 12}, 400, "invalid_request"),
    ],
)
def test_system_token_refusals(client, payload, status, error):
    got_status, body, _ = call(client, "POST", "/auth/system_token", payload)
    assert (got_status, body["error"]) == (status, error)
    assert set(body) == {"error", "error_description"} and body["error_description"]


def test_wildcard_and_no_grants_mean_all_of_the_clients_own(client, bank):
    for grants in ("*", "", None, "read,*"):
        payload = {"api_key": "reader", "password": PASSWORD}
        if grants is not None:
            payload["grants"] = grants
        status, body, _ = call(client, "POST", "/auth/system_token", payload)
        assert status == 200
        assert bank.tokens.authenticate(body["access_token"]).grants == {"read"}


def test_malformed_json_is_invalid_request(client):
    status, body, _ = call(client, "POST", "/auth/system_token", raw="{not json")
    assert (status, body["error"]) == (400, "invalid_request")


def test_sign_in_exchange_rotate_revoke(client, bank):
    status, pair, headers = exchange(client, auth_token(client))
    assert status == 200 and set(pair) == {"access_token", "refresh_token", "created_at", "expired_at"}
    assert headers["Pragma"] == "no-cache"
    assert pair["expired_at"] - pair["created_at"] == 3600
    assert bank.tokens.authenticate(pair["access_token"]).customer_id == "alice"

    system = system_token(client)
    status, rotated, _ = call(
        client, "PUT", "/auth/token", {"api_key": API_KEY, "refresh_token": pair["refresh_token"]}, system
    )
    assert status == 200
    with pytest.raises(Exception, match="revoked"):
        bank.tokens.authenticate(pair["access_token"])
    assert bank.tokens.authenticate(rotated["access_token"]).customer_id == "alice"

    status, body, _ = call(
        client, "DELETE", "/auth/token", {"api_key": API_KEY, "refresh_token": rotated["refresh_token"]}, system
    )
    assert (status, body) == (200, {})
    with pytest.raises(Exception, match="revoked"):
        bank.tokens.authenticate(rotated["access_token"])
    status, body, _ = call(
        client, "PUT", "/auth/token", {"api_key": API_KEY, "refresh_token": rotated["refresh_token"]}, system
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    # Revoking again, or an unknown token: 200 (RFC 7009).
    for token in (rotated["refresh_token"], "no-such-token"):
        assert call(client, "DELETE", "/auth/token", {"api_key": API_KEY, "refresh_token": token}, system)[0] == 200


def test_a_new_pair_revokes_the_users_previous_pair_for_that_client_only(client, bank):
    _, first, _ = exchange(client, auth_token(client))
    _, other, _ = exchange(client, auth_token(client, api_key=OTHER_KEY), api_key=OTHER_KEY)
    _, second, _ = exchange(client, auth_token(client))
    for token in (first["access_token"], first["refresh_token"]):
        with pytest.raises(Exception, match="unknown, expired or revoked"):
            bank.tokens.authenticate(token)
    assert bank.tokens.authenticate(second["access_token"]).api_key == API_KEY
    assert bank.tokens.authenticate(other["access_token"]).api_key == OTHER_KEY
    system = system_token(client)
    status, body, _ = call(
        client, "PUT", "/auth/token", {"api_key": API_KEY, "refresh_token": first["refresh_token"]}, system
    )
    assert (status, body["error"]) == (400, "invalid_grant")


def test_reusing_a_rotated_refresh_token_revokes_the_whole_chain(client, bank):
    _, pair, _ = exchange(client, auth_token(client))
    system = system_token(client)
    _, rotated, _ = call(
        client, "PUT", "/auth/token", {"api_key": API_KEY, "refresh_token": pair["refresh_token"]}, system
    )
    status, body, _ = call(
        client, "PUT", "/auth/token", {"api_key": API_KEY, "refresh_token": pair["refresh_token"]}, system
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "already used" in body["error_description"]
    with pytest.raises(Exception, match="revoked"):
        bank.tokens.authenticate(rotated["access_token"])
    status, _, _ = call(
        client, "PUT", "/auth/token", {"api_key": API_KEY, "refresh_token": rotated["refresh_token"]}, system
    )
    assert status == 400


def test_a_replayed_auth_token_is_refused_and_revokes_what_it_gave(client, bank):
    auth = auth_token(client)
    _, pair, _ = exchange(client, auth)
    status, body, _ = exchange(client, auth)
    assert (status, body["error"]) == (400, "invalid_grant")
    with pytest.raises(Exception, match="revoked"):
        bank.tokens.authenticate(pair["access_token"])


def test_tokens_are_bound_to_their_client(client, bank):
    auth = auth_token(client)
    status, body, _ = exchange(client, auth, api_key=OTHER_KEY)
    assert (status, body["error"]) == (400, "invalid_grant")
    _, pair, _ = exchange(client, auth)  # the refused attempt changed nothing
    other_system = system_token(client, OTHER_KEY)
    for method in ("PUT", "DELETE"):
        status, body, _ = call(
            client, method, "/auth/token", {"api_key": OTHER_KEY, "refresh_token": pair["refresh_token"]}, other_system
        )
        assert (status, body["error"]) == (400, "invalid_grant")
    assert bank.tokens.authenticate(pair["access_token"]).customer_id == "alice"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_auth_token_endpoints_need_a_system_token_of_the_same_client(client, bank, method):
    body = {"api_key": API_KEY, "password": PASSWORD, "auth_token": "x", "refresh_token": "x"}
    _, pair, _ = exchange(client, auth_token(client))
    for token in (None, "garbage", system_token(client, OTHER_KEY), pair["access_token"]):
        status, answer, headers = call(client, method, "/auth/token", body, token)
        assert (status, answer["error"]) == (401, "invalid_token")
        assert headers["WWW-Authenticate"].startswith('Bearer realm="bank"')


def test_system_token_expires_for_the_token_endpoint(client, clock):
    system = system_token(client)
    auth = auth_token(client)
    clock.advance(timedelta(minutes=60))
    status, body, _ = exchange(client, auth, system=system)
    assert (status, body["error"]) == (401, "invalid_token")


def test_auth_token_lives_three_minutes(client, clock):
    auth = auth_token(client)
    system = system_token(client)
    clock.advance(timedelta(minutes=3) - timedelta(milliseconds=1))
    assert exchange(client, auth, system=system)[0] == 200
    late = auth_token(client)
    clock.advance(timedelta(minutes=3))
    status, body, _ = exchange(client, late, system=system_token(client))
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "expired" in body["error_description"]


def test_access_token_lives_an_hour_and_refresh_token_180_days(client, bank, clock):
    _, pair, _ = exchange(client, auth_token(client))
    clock.advance(timedelta(minutes=59, seconds=59))
    bank.tokens.authenticate(pair["access_token"])
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Exception, match="expired"):
        bank.tokens.authenticate(pair["access_token"])
    clock.advance(timedelta(days=180) - timedelta(minutes=60, seconds=1))
    status, _, _ = call(
        client, "PUT", "/auth/token", {"api_key": API_KEY, "refresh_token": pair["refresh_token"]}, system_token(client)
    )
    assert status == 200
    _, pair, _ = exchange(client, auth_token(client))
    clock.advance(timedelta(days=180))
    status, body, _ = call(
        client, "PUT", "/auth/token", {"api_key": API_KEY, "refresh_token": pair["refresh_token"]}, system_token(client)
    )
    assert (status, body["error"]) == (400, "invalid_grant")


def test_rest_login_refusals_and_lockout(client, clock):
    def login(password, user="alice", api_key=API_KEY):
        return call(client, "POST", "/auth/login", {"api_key": api_key, "id": user, "password": password})

    assert login("alice-password", api_key="reader")[:2] == (
        404,
        {"error": "not_found", "error_description": "the REST login is not enabled for this client"},
    )
    wrong_user = login("whatever", user="nobody")[1]
    wrong_password = login("whatever")[1]
    assert wrong_user == wrong_password == {"error": "invalid_grant", "error_description": "wrong login id or password"}
    for _ in range(3):
        assert login("wrong")[0] == 400
    status, body, headers = login("wrong")
    assert (status, body["error"]) == (429, "too_many_attempts")
    assert int(headers["Retry-After"]) == 15 * 60
    status, _, _ = login("alice-password")
    assert status == 429  # locked even with the right password
    clock.advance(timedelta(minutes=15))
    assert login("alice-password")[0] == 200
    assert login("bob-password", user="bob")[0] == 200  # the lock was alice's alone


def test_failures_long_apart_do_not_lock(client, clock):
    for _ in range(10):
        status, _, _ = call(client, "POST", "/auth/login", {"api_key": API_KEY, "id": "alice", "password": "wrong"})
        assert status == 400
        clock.advance(timedelta(minutes=15))  # the count restarts once 15 minutes pass without a failure


def test_only_hashes_of_tokens_are_stored(client, bank):
    _, pair, _ = exchange(client, auth_token(client))
    items = boto3.client("dynamodb").scan(TableName=Token.Meta.table_name)["Items"]
    stored = json.dumps(items, default=str)
    assert len(items) >= 4
    assert pair["access_token"] not in stored and pair["refresh_token"] not in stored
    assert len(pair["access_token"]) >= 43  # 256 random bits, base64url
