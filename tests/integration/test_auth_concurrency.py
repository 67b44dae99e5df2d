"""The bank common API's auth under real threads on DynamoDB Local: a token is spent once, a replay
revokes, failed sign-ins are all counted."""

from __future__ import annotations

import time

import pytest

from chalicelib.auth import errors
from chalicelib.auth.logins import FAILURE_LIMIT, LoginRequest
from chalicelib.store.models import Token
from tests.conftest import make_services
from tests.integration.test_concurrency import kinds, run_together

pytestmark = pytest.mark.dynamodb_local


@pytest.fixture
def bank(local_db, clock):
    services = make_services(clock, sleep=time.sleep)
    services.clients.create("App", ["https://app.example/cb"], api_key="race-app", password="pw")
    services.accounts.open("alice", "Alice")
    services.logins.set_password("alice", "alice-password")
    return services


def sign_in(bank):
    client = bank.clients.find("race-app")
    return client, bank.logins.sign_in(LoginRequest(client, None, client.grants), "alice", "alice-password")


def live_access_tokens(bank) -> int:
    return sum(1 for t in Token.scan() if t.kind == "access" and t.revoked_at is None)


def test_an_auth_token_exchanged_by_4_threads_gives_at_most_one_pair(bank):
    client, auth = sign_in(bank)
    results = run_together(4, lambda i: bank.tokens.exchange(client, auth.token))
    assert kinds(results)["ok"] <= 1
    assert set(kinds(results)) <= {"ok", "InvalidGrant"}
    # A loser's replay revokes what the winner got: no access token of that sign-in is left alive.
    assert live_access_tokens(bank) == 0


def test_a_refresh_token_rotated_by_4_threads_at_once_is_spent_once(bank):
    client, auth = sign_in(bank)
    pair = bank.tokens.exchange(client, auth.token)
    results = run_together(4, lambda i: bank.tokens.rotate(client, pair.refresh.token))
    assert kinds(results)["ok"] <= 1 and set(kinds(results)) <= {"ok", "InvalidGrant"}
    assert live_access_tokens(bank) == 0  # the replays revoked the chain, the winner's pair with it
    with pytest.raises(errors.InvalidToken):
        bank.tokens.authenticate(pair.access.token)


def test_concurrent_failed_sign_ins_are_each_counted(bank):
    client = bank.clients.find("race-app")
    request = LoginRequest(client, None, client.grants)
    results = run_together(FAILURE_LIMIT, lambda i: bank.logins.sign_in(request, "alice", "wrong"))
    assert set(kinds(results)) <= {"SignInFailed", "SignInLocked"} and kinds(results)["SignInLocked"] >= 1
    with pytest.raises(errors.SignInLocked):
        bank.logins.sign_in(request, "alice", "alice-password")
