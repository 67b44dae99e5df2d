"""Schemathesis against the real app: every operation of chalicelib/api/openapi.json, over HTTP, on DynamoDB Local.

Two in-process servers share one set of tables: the ISUBANK stage (contest compatibility off, so an
unknown app id is 401 as the document says) and a contest-compatibility stage for the operations marked
`x-contest-compat`. Each response must be documented: status code, content type, body schema and
headers; no 5xx at all. Deterministic (fixed seed, derandomized Hypothesis); `FUZZ_EXAMPLES` (default 25)
bounds the fuzzing phase's examples per operation (`make fuzz` runs 500).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
import zlib
from collections import Counter
from typing import Any

import msgspec
import pytest
import schemathesis
from schemathesis.core.parameters import ParameterLocation

from chalicelib.api import build_app, docs
from chalicelib.auth.logins import LoginRequest
from chalicelib.cards.payments import CardDetails, Purchase
from chalicelib.clock import SystemClock
from chalicelib.services import Services
from local.dynamodb_local import free_port
from local.server import build_server
from tests.conftest import make_services

pytestmark = pytest.mark.dynamodb_local

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SEED = 20261123
APP_ID = "fuzz-app-id-0123456789"
BALANCES = {"alice": 10**12, "bob": 50_000, "carol": 0}
# The bank common API: a client whose api_key the fuzzer's `/auth/*` bodies are steered to, and another
# whose end-user token reads the data endpoints (so that the fuzzer's sign-ins never revoke it).
CLIENT_KEY, READER_KEY, CLIENT_PASSWORD = "fuzz-client", "fuzz-reader", "fuzz-client-password"
REDIRECT_URI = "https://app.example/callback"
MERCHANT_KEY = "fuzz-merchant-key"  # the card gateway's merchant
THREE_D_SECURE = "4000002500003155"  # the network's test card that asks for 3-D Secure on paymentv2

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {
            # The coverage phase also sends each path the methods it lacks and expects 405 + Allow. Not
            # TRACE or QUERY: API Gateway takes neither, and the local server's HTTP layer answers them 501
            # before the app sees them. (OPTIONS is the gateway's CORS preflight, skipped by the check.)
            "coverage": {"unexpected-methods": ["get", "put", "post", "delete", "patch", "options"]},
        },
        "checks": {
            # Valid requests may still be refused by the ledger: ISUBANK answers its business refusals
            # (credit is insufficient, reserve is already committed or expired) with 400, and unknown ids
            # with 404. `valid_requests_are_never_called_invalid` below checks that none is a parse error.
            # The bank common API adds 403 (a token without the grant), 429 (a locked login id) and 303 (the
            # login form's way back to the app); the card gateway 402 (a decline), 409 (a merchant_txn_ref
            # already used) and 422 (what a schema cannot say: a check digit, an expiry passed); its 3-D Secure
            # challenge page 410 (a challenge finished or expired) and 409 (a result not there yet).
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "303", "400", "401", "402", "403", "404", "409", "410", "422", "429"]
            },
        },
    }
)
schema = schemathesis.openapi.from_path(docs.DOCUMENT_PATH, config=CONFIG)


def no_server_error_at_all(ctx, response, case):
    """Stricter than `not_a_server_error`: not even the documented 503 may happen here."""
    assert response.status_code < 500, f"{response.status_code} {response.text[:300]}"


def integral_floats(body: Any) -> bool:
    """`1.0` where an integer goes: JSON Schema counts it as an integer, the API does not."""
    if not isinstance(body, dict):
        return False
    values = [body.get("price"), *(body.get("reserve_ids") if isinstance(body.get("reserve_ids"), list) else [])]
    return any(isinstance(value, float) for value in values)


def valid_requests_are_never_called_invalid(ctx, response, case):
    """A request the document calls valid is never `paramater invalid`: the schema is the parser.

    Two rules a schema cannot state: `price: 1.0` (an integral float) is valid JSON Schema `integer` but
    the API refuses any float, as the descriptions say, so such a request must be exactly `paramater
    invalid`; and a commit or cancel over many users' reserves may exceed one DynamoDB transaction (the
    reserves here belong to at most three users, so that cannot happen).
    """
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code == 401:
        return None
    try:
        body = json.loads(response.text)
    except ValueError:  # a page (the login page's errors)
        body = None
    invalid = response.status_code == 400 and body == {"error": "paramater invalid"}
    if integral_floats(case.body):
        assert invalid, f"an integral float was accepted: {response.status_code} {response.text[:200]}"
    else:
        assert not invalid, f"valid request refused as invalid: {case.body!r} {case.query!r}"
    return None


@dataclasses.dataclass
class Bank:
    services: Services
    isubank_url: str
    compat_url: str
    system_token: str = ""  # of CLIENT_KEY: authenticates the client at /auth/token
    reader_token: str = ""  # alice's access token through READER_KEY
    shop: Any = None  # the card gateway's merchant of MERCHANT_KEY
    publishable_key: str = ""  # its key for browsers (POST /api/v1/tokens)
    organisation: Any = None  # of the card registration API: its member's token, its publishable key
    resolved: list[int] = dataclasses.field(default_factory=list)
    calls: Counter = dataclasses.field(default_factory=Counter)
    statuses: Counter = dataclasses.field(default_factory=Counter)
    kinds: Counter = dataclasses.field(default_factory=Counter)


@pytest.fixture(scope="module")
def bank(dynamodb_local, request):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local.endpoint)
        services = make_services(SystemClock(), contest_compat=False, sleep=time.sleep)
        # The same tables, with the contest-compatibility switch on.
        compat = Services(
            msgspec.structs.replace(services.settings, contest_compat=True),
            clock=services.clock,
            retrier=services.retrier,
        )
        services.apps.create("fuzz", app_id=APP_ID)
        for bank_id, amount in BALANCES.items():
            services.accounts.open(bank_id, bank_id)
            services.logins.set_password(bank_id, f"{bank_id}-password")
            if amount:
                services.accounts.deposit(bank_id, amount, "入金")
        services.branches.create("001", "本店", "ホンテン", "131016", "0311112222")
        shop = services.merchants.create("fuzz shop", api_key=MERCHANT_KEY)
        for api_key in (CLIENT_KEY, READER_KEY):
            services.clients.create(
                api_key, [REDIRECT_URI], api_key=api_key, password=CLIENT_PASSWORD, password_login=True
            )
        servers = []
        for app_services in (services, compat):
            server = build_server(free_port(), build_app(app_services))
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
        isubank, contest = (f"http://127.0.0.1:{server.server.server_port}" for server in servers)
        client = services.clients.find(CLIENT_KEY)
        reader = services.clients.find(READER_KEY)
        sign_in = services.logins.sign_in(LoginRequest(reader, None, reader.grants), "alice", "alice-password")
        state = Bank(
            services,
            isubank,
            contest,
            system_token=services.tokens.issue_system(client, client.grants).token,
            reader_token=services.tokens.exchange(reader, sign_in.token).access.token,
            shop=shop.identity,
            publishable_key=shop.publishable_key,
            organisation=services.organisations.create("fuzz org"),
        )
        yield state
        for server in servers:
            server.shutdown()
            server.server.server_close()
    # The counts, past pytest's capture: what this run covered (shown however quiet the run).
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nschemathesis: {len(state.calls)} operations, up to {EXAMPLES} fuzzed examples each (plus the "
                f"examples and coverage phases), {sum(state.calls.values())} cases: "
                + ", ".join(f"{label} {count}" for label, count in sorted(state.calls.items()))
            )
            reporter.write_line("by phase: " + ", ".join(f"{key} {n}" for key, n in sorted(state.kinds.items())))
            reporter.write_line("statuses: " + ", ".join(f"{key} {n}" for key, n in sorted(state.statuses.items())))


def pick(value: Any, salt: str) -> int:
    """A deterministic choice from the generated data itself."""
    return zlib.crc32(f"{salt}:{value!r}".encode())


def credential(case, bank: Bank) -> str:
    """The valid credential of the operation's security scheme."""
    path = case.operation.path
    if path == "/auth/token":
        return bank.system_token
    if path == "/api/v1/tokens":
        return bank.publishable_key
    if path == "/api/payment/credit":
        return bank.organisation.access_token
    if path.startswith("/auth/") or path in ("/check", "/reserve", "/commit", "/cancel"):
        return APP_ID
    return bank.reader_token


def steer(case, bank: Bank) -> None:
    """Point some valid requests at seeded users, the app id, tokens and live reserves, so that success
    paths and the ledger's refusals are reached too, not only 401 and 404."""
    header_is_the_test = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    gateway = case.operation.path.startswith("/api/v1/server-to-server-interface/")
    if gateway and case.headers and not header_is_the_test and pick(case.headers, "merchant") % 5:
        case.headers = {**case.headers, "Authorization": f"Basic {MERCHANT_KEY}", "x-api-key": MERCHANT_KEY}
    elif case.headers and "Authorization" in case.headers and not header_is_the_test:
        if pick(case.headers["Authorization"], "auth") % 5:  # else the generated (unknown) credential: 401
            case.headers["Authorization"] = f"Bearer {credential(case, bank)}"
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    body = case.body if isinstance(case.body, dict) else None
    steer_bank_api(case, body)
    if body is not None and isinstance(body.get("transactionId"), str) and pick(body, "transactionId") % 2:
        # A live authorisation of the merchant's: captures, refunds and voids that succeed, or conflict.
        card = CardDetails("4242424242424242", "12", "99", "123", "fuzz")
        payment = Purchase(1000, "JPY", card, f"fuzz-{pick(body, 'ref')}-{time.monotonic_ns()}", {})
        authorised = bank.services.payments.authorise(bank.shop, payment)
        case.body = {**body, "transactionId": authorised["transaction_details"]["id"]}
    if body is not None and isinstance(body.get("credit_card_token"), str) and pick(body, "registration") % 2:
        # A live token of the organisation's, and the form that names its card: registrations that succeed.
        card = CardDetails("4242424242424242", "12", "99", "123", "fuzz")
        service = bank.services.merchants.identity(bank.services.settings.registration_merchant_id)
        issued = bank.services.payments.tokenise(service, card)
        case.body = {
            **body,
            "credit_card_type": 1,
            "credit_card_number": issued.masked_number,
            "credit_card_nominee": "FUZZ",
            "credit_card_effective_month": "12",
            "credit_card_effective_year": "99",
            "credit_card_token": issued.token,
        }
    if body is not None and isinstance(body.get("card"), dict) and pick(body, "card") % 2:
        # A test card the network knows, valid till 2099: approvals, declines and (paymentv2) 3-D Secure
        # challenges, not only 422.
        numbers = ("4242424242424242", "4000000000000002", "4000000000009995", "5200000000001005", THREE_D_SECURE)
        card = {**body["card"], "number": numbers[pick(body, "number") % 5], "expiry_month": "12", "expiry_year": "99"}
        case.body = {**case.body, "card": {**card, "cvc": "123"}, "currency": "JPY"}
    steer_challenge_page(case, bank, body)
    if body is not None and isinstance(body.get("bank_id"), str) and pick(body, "bank_id") % 3:
        case.body = {**body, "bank_id": list(BALANCES)[pick(body, "which") % len(BALANCES)]}
    if case.query and "bank_id" in case.query and pick(case.query, "bank_id") % 3:
        case.query = {**case.query, "bank_id": list(BALANCES)[pick(case.query, "which") % len(BALANCES)]}
    if body is not None and isinstance(body.get("reserve_ids"), list) and pick(body, "reserve_ids") % 2:
        ids = [reserve(bank, n) for n in range(min(len(body["reserve_ids"]), 3))]
        if bank.resolved and pick(body, "resolved") % 4 == 0:
            ids[-1] = bank.resolved[pick(body, "which") % len(bank.resolved)]  # already committed or cancelled
        case.body = {**body, "reserve_ids": ids}


def steer_bank_api(case, body: dict | None) -> None:
    """The bank common API: its clients' credentials and users in bodies, alice's account in queries."""
    if body is not None and "api_key" in body and pick(body, "api_key") % 3:
        body = {**body, "api_key": CLIENT_KEY}
        if isinstance(body.get("password"), str) and pick(body, "password") % 2:
            body["password"] = CLIENT_PASSWORD
        if isinstance(body.get("id"), str) and pick(body, "id") % 2:
            body["id"] = "bob"
            body["password"] = "bob-password" if pick(body, "bob") % 2 else "wrong"
        if isinstance(body.get("redirect_uri"), str):
            body["redirect_uri"] = REDIRECT_URI
        case.body = body
    if case.query and "account_id" in case.query and pick(case.query, "account_id") % 3:
        case.query = {**case.query, "account_id": "alice"}
    if case.query and "api_key" in case.query and pick(case.query, "api_key") % 3:
        case.query = {**case.query, "api_key": CLIENT_KEY, "redirect_uri": REDIRECT_URI}


def steer_challenge_page(case, bank: Bank, body: dict | None) -> None:
    """The 3-D Secure challenge page: a live challenge of the merchant's (shown, completed, failed, its result),
    and, for its form, the CSRF cookie matching the hidden token (else every submit is 403)."""
    params = case.path_parameters or {}
    if not case.operation.path.startswith("/3ds/challenge/") or not isinstance(params.get("challengeId"), str):
        return
    if pick(params, "challenge") % 3:
        card = CardDetails(THREE_D_SECURE, "12", "99", "123", "fuzz")
        payment = Purchase(1000, "JPY", card, f"fuzz-3ds-{pick(params, 'ref')}-{time.monotonic_ns()}", {})
        challenge_id = bank.services.challenges.begin(bank.shop, payment, None, None)
        case.path_parameters = {**params, "challengeId": challenge_id}
    if body is not None and isinstance(body.get("csrf_token"), str) and pick(body, "csrf") % 2:
        case.body = {**body, "csrf_token": "fuzz-csrf-token"}
        case.headers = {**(case.headers or {}), "Cookie": "__Host-bank-3ds-csrf=fuzz-csrf-token"}


def reserve(bank: Bank, n: int) -> int:
    # A debit on alice (rich), a credit on bob: commits and cancels over two users.
    bank_id, price = ("alice", -1) if n % 2 == 0 else ("bob", 1)
    return bank.services.holds.reserve(bank_id, price, "fuzz", "fuzz")


@schema.parametrize()
def test_api_conforms_to_openapi(case, bank):
    compat = bool(case.operation.definition.raw.get("x-contest-compat"))
    steer(case, bank)
    response = case.call_and_validate(
        base_url=bank.compat_url if compat else bank.isubank_url,
        additional_checks=[no_server_error_at_all, valid_requests_are_never_called_invalid],
    )
    bank.calls[case.operation.label] += 1
    bank.statuses[f"{case.operation.label} {response.status_code}"] += 1
    if case.meta is not None:
        bank.kinds[f"{case.meta.phase.name.value} {case.meta.generation.mode.value}"] += 1
    if case.operation.path in ("/commit", "/cancel") and response.status_code == 200:
        bank.resolved.extend(case.body["reserve_ids"])
