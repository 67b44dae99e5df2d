"""Each stage's IAM policies grant the API function, the webhook functions and the audit function exactly the
DynamoDB and SQS calls their code makes.

The actions are not listed by hand: a representative workload goes through every route of the app (built
with the stage's contest switch) on moto while a botocore hook on the shared DynamoDB client records each
call as the IAM actions it needs on the tables it touches (and a hook on boto3's SQS clients, the queue). The
webhook functions (`deliver_webhooks`, `sweep_webhooks`) have their own policy, checked against their own
workload, and so has the daily audit (`audit_ledger`), which must only read. A transaction needs, per item,
the action of that item (Put -> PutItem, Update -> UpdateItem, ...) on that item's table. The policy must
grant those pairs and no others: the test fails when code starts making a call the policy lacks, and when
the policy keeps granting one the code no longer makes.

Creating tables (CreateTable, UpdateTimeToLive) is the operator's job (infra/ or the CLI), and so are
opening accounts and registering apps outside the contest routes: that set-up runs before recording.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import msgspec
import pytest
from chalice import Chalice
from chalice.local import RouteMatcher
from chalice.test import Client

from chalicelib.api import audit_job, build_app, webhook_jobs
from chalicelib.services import Services
from chalicelib.settings import Settings
from chalicelib.store.models import shared_connection
from chalicelib.store.tables import AWS_STAGES, tables_template
from chalicelib.store.transactions import Retrier
from tests.conftest import make_services

CHALICE_DIR = Path(__file__).resolve().parents[2] / ".chalice"
CONFIG = json.loads((CHALICE_DIR / "config.json").read_text())
APP_ID = "iam-test-app-id-0123456789"
API_KEY = "iam-test-api-key"
REDIRECT = "https://app.example/cb"
MERCHANT_KEY = "iam-merchant-key"
MERCHANT_KEYS: dict[str, str] = {}  # the publishable key the set-up made
ISSUED_CARD: dict[str, str] = {}  # alice's card, issued by the set-up

# The IAM action each item of a TransactWriteItems needs on its table.
TRANSACT_WRITE_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
WEBHOOK_FUNCTIONS = webhook_jobs.FUNCTIONS
AUDIT_FUNCTIONS = audit_job.FUNCTIONS
# What a read-only role may do with a table: none of these changes an item.
READ_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:DescribeTable",
}
# What Lambda's SQS event source mapping calls with the function's role, which no code of ours makes.
EVENT_SOURCE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# Routes that read no table (/docs/swagger-ui.css stands for /docs/{asset}).
DOCUMENT_PATHS = ("/openapi.json", "/docs", "/docs/swagger-ui.css", "/payment/card", "/payment/card.js")
LOG_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}


def stage_settings(stage: str) -> Settings:
    env = {**CONFIG.get("environment_variables", {}), **CONFIG["stages"][stage].get("environment_variables", {})}
    return Settings.from_env(env)


def policy(stage: str, function: str | None = None) -> dict[str, Any]:
    """The policy of the stage's API function, or of one of its other functions."""
    config = CONFIG["stages"][stage]
    name = config["lambda_functions"][function]["iam_policy_file"] if function else config["iam_policy_file"]
    return json.loads((CHALICE_DIR / name).read_text())


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# --- what the code calls -----------------------------------------------------------------------------


def _needs(operation: str, params: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(IAM action, table name) pairs one DynamoDB call needs."""
    if operation == "TransactWriteItems":
        for item in params["TransactItems"]:
            ((kind, body),) = item.items()
            yield TRANSACT_WRITE_ACTIONS[kind], body["TableName"]
    elif operation == "TransactGetItems":
        for item in params["TransactItems"]:
            yield "dynamodb:GetItem", item["Get"]["TableName"]
    elif operation in ("BatchGetItem", "BatchWriteItem"):
        for table in params["RequestItems"]:
            yield f"dynamodb:{operation}", table
    elif "IndexName" in params:
        # A Query or Scan of an index needs the action on the index's own ARN, <table>/index/<index>.
        yield f"dynamodb:{operation}", f"{params['TableName']}/index/{params['IndexName']}"
    else:
        # GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan, DescribeTable...; "*" for calls on no table.
        yield f"dynamodb:{operation}", params.get("TableName", "*")


class AwsCalls:
    """Botocore `provide-client-params` handlers recording (action, base table or queue name) pairs."""

    def __init__(self, table_prefix: str) -> None:
        self.table_prefix = table_prefix
        self.grants: set[tuple[str, str]] = set()

    def __call__(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        for action, table in _needs(model.name, params):
            self.grants.add((action, table.removeprefix(self.table_prefix)))

    def sqs(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        queue = params.get("QueueName") or params["QueueUrl"].rsplit("/", 1)[-1]
        self.grants.add((f"sqs:{model.name}", queue.removeprefix(self.table_prefix)))

    @contextlib.contextmanager
    def recording(self, services: Services) -> Iterator[None]:
        """Record the calls of `services` (a fresh function process's) until the block ends."""
        dynamodb = shared_connection(services.settings.region).client.meta.events
        dynamodb.register("provide-client-params.dynamodb", self)
        # The SQS client is made on first use, from boto3's default session: it inherits this handler.
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("provide-client-params.sqs", self.sqs)
        try:
            yield
        finally:
            dynamodb.unregister("provide-client-params.dynamodb", self)
            boto3.DEFAULT_SESSION.events.unregister("provide-client-params.sqs", self.sqs)


class Workload:
    """Requests through Chalice's local gateway, remembering which of the app's routes they called."""

    def __init__(self, client: Client, app: Chalice) -> None:
        self.client = client
        self.app = app
        self.routes: set[tuple[str, str]] = set()

    def call(self, *args: Any, **kwargs: Any) -> tuple[int, Any]:
        """(status, body) of `respond`."""
        return self.respond(*args, **kwargs)[:2]

    def respond(
        self,
        method: str,
        path: str,
        body: Any = None,
        app_id: str | None = APP_ID,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """A request; `headers` replace the app id's Authorization, a `str` body is sent as it is."""
        with contextlib.suppress(ValueError):  # no such route
            route = RouteMatcher(list(self.app.routes)).match_route(path.split("?")[0]).route
            if method in self.app.routes[route]:
                self.routes.add((route, method))
        headers = headers if headers is not None else ({"Authorization": f"Bearer {app_id}"} if app_id else {})
        payload = body if isinstance(body, str) or body is None else json.dumps(body)
        response = getattr(self.client.http, method.lower())(path, headers=headers, body=payload)
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
        return response.status_code, json.loads(response.body) if is_json else response.body, response.headers


def run_workload(http: Workload, clock: Any, compat: bool, services: Services) -> None:
    """Every route, and every path through the ledger: fast and slow reserves, debits and credits,
    commit, cancel, expiry (pruning expired holds), refusals; the contest routes where they exist."""
    assert http.call("POST", "/check", {"bank_id": "alice", "price": 1000}) == (200, {})
    assert http.call("POST", "/check", {"bank_id": "nobody", "price": 0})[0] == 404
    # An unknown app id: refused, or registered on first use under the contest switch.
    assert http.call("POST", "/check", {"bank_id": "alice", "price": 0}, app_id="a-new-app")[0] == (
        200 if compat else 401
    )

    _, debit = http.call("POST", "/reserve", {"bank_id": "alice", "price": -400})  # fast path: hold
    _, credit = http.call("POST", "/reserve", {"bank_id": "bob", "price": 300})  # fast path: condition check
    assert http.call("POST", "/commit", {"reserve_ids": [debit["reserve_id"], credit["reserve_id"]]}) == (200, {})
    _, held = http.call("POST", "/reserve", {"bank_id": "alice", "price": -100})
    assert http.call("POST", "/cancel", {"reserve_ids": [held["reserve_id"]]}) == (200, {})
    assert http.call("POST", "/commit", {"reserve_ids": [held["reserve_id"]]})[0] == 400  # already cancelled
    assert http.call("POST", "/cancel", {"reserve_ids": [42]})[0] == 404

    # Hold everything, let it expire: the next debit is refused by the blind condition, reads the
    # account and prunes the expired hold in its write.
    _, everything = http.call("POST", "/reserve", {"bank_id": "alice", "price": -9600})
    clock.advance(minutes=5)
    status, again = http.call("POST", "/reserve", {"bank_id": "alice", "price": -9600})
    assert status == 200, again
    assert http.call("POST", "/commit", {"reserve_ids": [everything["reserve_id"]]})[0] == 400  # expired
    assert http.call("POST", "/reserve", {"bank_id": "alice", "price": -1})[0] == 400  # insufficient, read
    assert http.call("POST", "/commit", {"reserve_ids": [again["reserve_id"]]}) == (200, {})

    # The contest's operator routes: there under the switch, absent without it (Chalice's local gateway
    # then answers 403 as API Gateway does before infra/template.json's gateway responses make it 404).
    expected = {200} if compat else {403, 404}
    assert http.call("POST", "/register", {"bank_id": "carol"})[0] in expected
    assert http.call("POST", "/add_credit", {"bank_id": "carol", "price": 500})[0] in expected
    assert http.call("GET", "/credit?bank_id=carol")[0] in expected
    if compat:
        assert http.call("POST", "/register", {"bank_id": "carol"})[0] == 400  # exists

    assert http.call("GET", "/check")[0] == 405
    run_bank_workload(http, clock)
    run_gateway_workload(http, services)
    run_registration_workload(http)
    # Routes that read no table: called once each, so that they count as exercised.
    for path in DOCUMENT_PATHS:
        assert http.call("GET", path)[0] == 200


def run_bank_workload(http: Workload, clock: Any) -> None:
    """The bank common API: sign-ins (page and REST, failures and a lock), every token call (with a
    replay that revokes a family), and the data endpoints."""
    _, system, _ = http.respond("POST", "/auth/system_token", {"api_key": API_KEY, "password": "pw"}, None)
    client_auth = {"Authorization": f"Bearer {system['access_token']}"}
    _, page, headers = http.respond("GET", f"/auth/login?api_key={API_KEY}&redirect_uri={REDIRECT}", None, None)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.decode()).group(1)
    form = f"api_key={API_KEY}&redirect_uri={REDIRECT}&id=alice&password=alice-pw&csrf_token={csrf}"
    form_headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": headers["Set-Cookie"].split(";")[0]}
    status, _, redirect = http.respond("POST", "/auth/login/form", form, headers=form_headers)
    assert status == 303
    auth_token = redirect["Location"].split("auth_token=")[1]
    exchange = {"api_key": API_KEY, "password": "pw", "auth_token": auth_token}
    status, pair = http.call("POST", "/auth/token", exchange, headers=client_auth)
    assert status == 200, pair
    refresh = {"api_key": API_KEY, "refresh_token": pair["refresh_token"]}
    assert http.call("PUT", "/auth/token", refresh, headers=client_auth)[0] == 200
    assert http.call("PUT", "/auth/token", refresh, headers=client_auth)[0] == 400  # a replay: family revoked
    for password in ("wrong", "wrong", "wrong", "wrong", "wrong", "bob-pw"):  # the fifth locks, the right one too
        sign_in = {"api_key": API_KEY, "id": "bob", "password": password}
        assert http.call("POST", "/auth/login", sign_in, None)[0] in (400, 429)
    clock.advance(minutes=15)
    assert http.call("POST", "/auth/login", {"api_key": API_KEY, "id": "bob", "password": "wrong"}, None)[0] == 400
    _, sign_in = http.call("POST", "/auth/login", {"api_key": API_KEY, "id": "bob", "password": "bob-pw"}, None)
    status, pair = http.call(
        "POST", "/auth/token", {**exchange, "auth_token": sign_in["auth_token"]}, headers=client_auth
    )
    user = {"Authorization": f"Bearer {pair['access_token']}"}
    assert http.call("GET", "/branches", headers=user)[0] == 200
    assert http.call("GET", "/accounts", headers=user)[0] == 200
    for path in ("/transactions", "/balances"):
        assert (
            http.call("GET", f"{path}?account_id=bob&start_date=2026-11-01&end_date=2026-11-30", headers=user)[0] == 200
        )
    assert http.call(
        "DELETE", "/auth/token", {**refresh, "refresh_token": pair["refresh_token"]}, headers=client_auth
    ) == (200, {})


def run_gateway_workload(http: Workload, services: Services) -> None:
    """The card gateway: purchases with a card of this bank and a network test card, a decline, a repeated
    merchant_txn_ref, the status, authorisations captured and voided, a refund; Idempotency-Keys replayed,
    and given back by a request that fails."""
    merchant = {"Authorization": f"Basic {MERCHANT_KEY}", "x-api-key": MERCHANT_KEY}
    keyed = {**merchant, "Idempotency-Key": "iam-key"}
    retry = {
        "amount": 1,
        "currency": "JPY",
        "merchant_txn_ref": "iam-keyed",
        "card": {"number": "4242424242424242", "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "A"},
    }
    path = "/api/v1/server-to-server-interface"
    real_purchase = services.payments.purchase
    services.payments.purchase = lambda *args: (_ for _ in ()).throw(RuntimeError("fails once"))
    assert http.call("POST", f"{path}/payment", retry, headers=keyed)[0] == 500  # the key is given back
    services.payments.purchase = real_purchase
    assert http.call("POST", f"{path}/payment", retry, headers=keyed)[0] == 201
    assert http.call("POST", f"{path}/payment", retry, headers=keyed)[0] == 201  # replayed
    # A card token, made with the publishable key and spent by a payment.
    browser = {"Authorization": f"Bearer {MERCHANT_KEYS['publishable']}"}
    card = {"number": "5555555555554444", "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "A"}
    status, token = http.call("POST", "/api/v1/tokens", {"card": card}, headers=browser)
    assert status == 201, token
    by_token = {"amount": 1, "currency": "JPY", "merchant_txn_ref": "iam-token", "card_token": token["token"]}
    by_token["payment_method"] = {"type": "scheme", "store_payment_method": True}  # and keep the card
    status, stored = http.call("POST", f"{path}/payment", by_token, headers=merchant)
    assert status == 201
    method = {"type": "scheme", "store_payment_method_id": stored["transaction_details"]["stored_payment_method_id"]}
    later = {"amount": 1, "currency": "JPY", "merchant_txn_ref": "iam-stored", "payment_method": method}
    assert http.call("POST", f"{path}/payment", later, headers=merchant)[0] == 201
    card = {"number": "4242424242424242", "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "A"}
    purchase = {"amount": 500, "currency": "JPY", "card": card, "merchant_txn_ref": "iam-1"}
    status, paid = http.call("POST", f"{path}/payment", purchase, headers=merchant)
    assert status == 201, paid
    assert http.call("POST", f"{path}/payment", purchase, headers=merchant)[0] == 409  # the same reference
    own = {**card, **ISSUED_CARD}
    assert (
        http.call("POST", f"{path}/payment", {**purchase, "card": own, "merchant_txn_ref": "iam-2"}, headers=merchant)[
            0
        ]
        == 201
    )
    over = {**purchase, "card": own, "amount": 10**9, "merchant_txn_ref": "iam-3"}
    assert http.call("POST", f"{path}/payment", over, headers=merchant)[0] == 402
    transaction_id = paid["transaction_details"]["id"]
    assert http.call("GET", f"{path}/transaction/status/{transaction_id}", headers=merchant)[0] == 200
    assert http.call("GET", f"{path}/transaction/{transaction_id}/webhooks", headers=merchant)[0] == 200
    WEBHOOK_EVENTS.append(transaction_id)
    assert (
        http.call("POST", f"{path}/refund", {"transactionId": transaction_id, "amount": 100}, headers=merchant)[0]
        == 201
    )
    # Authorisations: this bank's card (a hold) captured, another's voided.
    for ref, card_used, then in (("iam-4", own, "capture"), ("iam-5", card, "void")):
        auth = {**purchase, "card": card_used, "merchant_txn_ref": ref}
        status, authorised = http.call("POST", f"{path}/authorization", auth, headers=merchant)
        assert status == 201, authorised
        follow = {"transactionId": authorised["transaction_details"]["id"]}
        assert http.call("POST", f"{path}/{then}", follow, headers=merchant)[0] == 201
    status, authorised = http.call(
        "POST", f"{path}/authorization", {**purchase, "card": own, "merchant_txn_ref": "iam-6"}, headers=merchant
    )
    follow = {"transactionId": authorised["transaction_details"]["id"]}
    assert http.call("POST", f"{path}/void", follow, headers=merchant)[0] == 201  # this bank's hold released
    run_challenge_workload(http, merchant, token["token"])


def run_challenge_workload(http: Workload, merchant: dict[str, str], spent_token: str) -> None:
    """Purchase v2: a card that pays at once, and 3-D Secure challenges (of a card and of a card token) shown,
    completed (the payment's own transaction completes it), failed, submitted twice, and their result pages."""
    path = "/api/v1/server-to-server-interface/paymentv2"
    card = {"number": "4000002500003155", "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "A"}
    purchase = {"amount": 1, "currency": "JPY", "card": card, "merchant_txn_ref": "iam-v2-0"}
    assert (
        http.call("POST", path, {**purchase, "card": {**card, "number": "4242424242424242"}}, headers=merchant)[0]
        == 201
    )
    browser = {"Authorization": f"Bearer {MERCHANT_KEYS['publishable']}"}
    _, token = http.call("POST", "/api/v1/tokens", {"card": card}, headers=browser)
    by_token = {"amount": 1, "currency": "JPY", "card_token": token["token"], "merchant_txn_ref": "iam-v2-3"}
    assert http.call("POST", path, {**by_token, "card_token": spent_token}, headers=merchant)[0] == 422
    for ref, outcome, payload in (
        ("iam-v2-1", "complete", purchase),
        ("iam-v2-2", "fail", purchase),
        ("iam-v2-3", "complete", by_token),
    ):
        status, challenge = http.call("POST", path, {**payload, "merchant_txn_ref": ref}, headers=merchant)
        assert status == 200, challenge
        page = "/" + challenge["redirect_url"].split("/", 3)[3]
        status, html, headers = http.respond("GET", page, headers={})
        assert status == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', html.decode()).group(1)
        form_headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": headers["Set-Cookie"].split(";")[0],
        }
        form = f"outcome={outcome}&csrf_token={csrf}"
        assert http.call("POST", page, form, headers=form_headers)[0] == 303
        assert http.call("POST", page, form, headers=form_headers)[0] == 410  # finished
        assert http.call("GET", f"{page}/result", headers={})[0] == 200


ORGANISATIONS: dict[str, Any] = {}  # made by the set-up: one with payment settings, one without


def run_registration_workload(http: Workload) -> None:
    """The card registration API: a card registered, read, replaced, removed; a refused card, a spent token;
    an organisation without payment settings."""
    with_settings, without = ORGANISATIONS["with"], ORGANISATIONS["without"]

    def registered(org: Any, number: str) -> tuple[int, Any]:
        card = {"number": number, "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "A"}
        browser = {"Authorization": f"Bearer {org.publishable_key}"}
        status, token = http.call("POST", "/api/v1/tokens", {"card": card}, headers=browser)
        assert status == 201, token
        brand = {"VISA": 1, "MASTERCARD": 2}[token["card"]["brand"]]
        body = {
            "credit_card_type": brand,
            "credit_card_number": token["card"]["number"],
            "credit_card_nominee": "A",
            "credit_card_effective_month": "12",
            "credit_card_effective_year": "30",
            "credit_card_token": token["token"],
        }
        member = {"Authorization": f"Bearer {org.access_token}"}
        return http.call("POST", "/api/payment/credit", body, headers=member)

    member = {"Authorization": f"Bearer {with_settings.access_token}"}
    assert registered(with_settings, "4242424242424242") == (200, {"result": True, "errors": "", "data": {}})
    assert registered(with_settings, "5555555555554444")[0] == 200  # replaces it
    assert registered(with_settings, "4000000000000002")[1]["result"] is False  # refused
    assert http.call("GET", "/api/payment/credit", headers=member)[0] == 200
    assert http.call("DELETE", "/api/payment/credit", headers=member)[0] == 200
    assert registered(without, "4242424242424242")[0] == 409


WEBHOOK_EVENTS: list[str] = []  # a transaction whose event the webhook workload delivers


def run_webhook_workload(app: Chalice, client: Client, clock: Any) -> None:
    """The webhook functions: a queued event attempted (and queued again, the merchant's URL refused), a
    message that came early, one that is not ours; the sweep, with an event overdue."""
    queue = app.event_sources[0].queue
    deliver = client.events.generate_sqs_event(message_bodies=[json.dumps({"transaction_id": WEBHOOK_EVENTS[-1]})])
    client.lambda_.invoke("deliver_webhooks", deliver)
    client.lambda_.invoke("deliver_webhooks", deliver)  # early: queued again
    client.lambda_.invoke("deliver_webhooks", client.events.generate_sqs_event(["?"], queue_name=queue))
    clock.advance(hours=1)
    client.lambda_.invoke("sweep_webhooks", client.events.generate_cw_event("Scheduled Event", "", {}, []))


def run_audit_workload(app: Chalice, client: Client, clock: Any) -> None:
    """The audit function, as its daily schedule calls it, over the ledger the API workload left: accounts,
    postings, holds and card transactions."""
    client.lambda_.invoke("audit_ledger", client.events.generate_cw_event("Scheduled Event", "", {}, []))


# The workload of each function that has a policy of its own.
FUNCTION_WORKLOADS = {"webhooks": run_webhook_workload, "audit": run_audit_workload}


def exercised_grants(stage: str, clock: Any, tmp_path: Path, function: str | None = None) -> set[tuple[str, str]]:
    """What the stage's API function (or its "webhooks" or "audit" functions) calls, as (IAM action, base name)
    pairs."""
    settings = stage_settings(stage)
    operator = make_services(clock, contest_compat=settings.contest_compat)  # creates the tables
    # As on AWS: webhooks go through the stage's queue (made by infra/), never to a private address.
    queue = operator.settings.table_prefix + "webhooks"
    boto3.client("sqs", region_name=operator.settings.region).create_queue(QueueName=queue)
    function_settings = msgspec.structs.replace(operator.settings, webhook_queue=queue, webhook_private_targets=False)
    operator.apps.create("IAM test", app_id=APP_ID)
    operator.accounts.open("alice", "Alice")
    operator.accounts.open("bob", "Bob")
    operator.accounts.deposit("alice", 10_000, "入金")
    operator.branches.create("001", "本店", "ホンテン", "131016", "0311112222")
    operator.clients.create("IAM test", [REDIRECT], api_key=API_KEY, password="pw", password_login=True)
    operator.logins.set_password("alice", "alice-pw")
    operator.logins.set_password("bob", "bob-pw")
    shop = operator.merchants.create("IAM shop", api_key=MERCHANT_KEY, webhook_url="http://127.0.0.1:9/hooks")
    MERCHANT_KEYS["publishable"] = shop.publishable_key
    issued = operator.issuer.issue("alice", 10_000)
    ORGANISATIONS["with"] = operator.organisations.create("IAM org")
    ORGANISATIONS["without"] = operator.organisations.create("IAM org without settings", payment_settings=False)
    ISSUED_CARD.update(
        number=issued.number, expiry_month=issued.expiry_month, expiry_year=issued.expiry_year, cvc=issued.cvc
    )

    # The function as a fresh Lambda process would run it: its own services, new connections.
    services = Services(function_settings, clock=clock, retrier=Retrier(sleep=lambda seconds: None))
    calls = AwsCalls(services.settings.table_prefix)
    app = build_app(services)
    with Client(app, project_dir=str(tmp_path)) as client, calls.recording(services):
        http = Workload(client, app)
        run_workload(http, clock, settings.contest_compat, services)
    every_route = {(path, method) for path, entries in app.routes.items() for method in entries}
    assert every_route <= http.routes, f"extend run_workload to call {sorted(every_route - http.routes)}"
    if function is None:
        return calls.grants

    services = Services(function_settings, clock=clock, retrier=Retrier(sleep=lambda seconds: None))
    calls = AwsCalls(services.settings.table_prefix)
    app = build_app(services)
    assert {source.name for source in app.event_sources} == {*WEBHOOK_FUNCTIONS, *AUDIT_FUNCTIONS}
    with Client(app, project_dir=str(tmp_path)) as client, calls.recording(services):
        FUNCTION_WORKLOADS[function](app, client, clock)
    return calls.grants


# --- what the policies grant -------------------------------------------------------------------------


def granted(stage: str, function: str | None = None) -> set[tuple[str, str]]:
    """(action, base table or queue name) pairs a policy allows; fails on any wildcard."""
    table_arn = re.compile(rf"arn:aws:dynamodb:\*:\*:table/bank-{stage}-([a-z_]+(?:/index/[a-z_]+)?)")
    queue_arn = re.compile(rf"arn:aws:sqs:\*:\*:bank-{stage}-([a-z_]+)")
    grants = set()
    for statement in policy(stage, function)["Statement"]:
        actions = _as_list(statement["Action"])
        if set(actions) <= LOG_ACTIONS:
            continue
        assert statement["Effect"] == "Allow" and set(statement) <= {"Sid", "Effect", "Action", "Resource"}
        for action in actions:
            assert re.fullmatch(r"(dynamodb|sqs):[A-Za-z]+", action), action
            arn = table_arn if action.startswith("dynamodb:") else queue_arn
            for resource in _as_list(statement["Resource"]):
                match = arn.fullmatch(resource)
                assert match, f"{resource} is not one table or queue of stage {stage}"
                grants.add((action, match.group(1)))
    return grants


@pytest.mark.parametrize("stage", AWS_STAGES)
def test_policy_grants_exactly_what_the_code_calls(stage, moto_db, clock, tmp_path):
    needed = exercised_grants(stage, clock, tmp_path)
    allowed = granted(stage)
    assert not needed - allowed, f"policy-{stage}.json lacks {sorted(needed - allowed)}"
    assert not allowed - needed, f"policy-{stage}.json grants what no code calls: {sorted(allowed - needed)}"


@pytest.mark.parametrize("stage", AWS_STAGES)
def test_the_webhook_functions_policy_grants_exactly_what_they_call(stage, moto_db, clock, tmp_path):
    config = CONFIG["stages"][stage]["lambda_functions"]
    assert {config[name]["iam_policy_file"] for name in WEBHOOK_FUNCTIONS} == {f"policy-{stage}-webhooks.json"}
    needed = exercised_grants(stage, clock, tmp_path, function="webhooks")
    needed |= {(action, "webhooks") for action in EVENT_SOURCE_ACTIONS}
    allowed = granted(stage, WEBHOOK_FUNCTIONS[0])
    assert not needed - allowed, f"policy-{stage}-webhooks.json lacks {sorted(needed - allowed)}"
    assert not allowed - needed, f"policy-{stage}-webhooks.json grants what no code calls: {sorted(allowed - needed)}"


@pytest.mark.parametrize("stage", AWS_STAGES)
def test_the_audit_functions_policy_grants_exactly_what_it_reads_and_nothing_it_could_write(
    stage, moto_db, clock, tmp_path
):
    config = CONFIG["stages"][stage]["lambda_functions"]
    assert {config[name]["iam_policy_file"] for name in AUDIT_FUNCTIONS} == {f"policy-{stage}-audit.json"}
    needed = exercised_grants(stage, clock, tmp_path, function="audit")
    allowed = granted(stage, AUDIT_FUNCTIONS[0])
    assert not needed - allowed, f"policy-{stage}-audit.json lacks {sorted(needed - allowed)}"
    assert not allowed - needed, f"policy-{stage}-audit.json grants what no code calls: {sorted(allowed - needed)}"
    assert {action for action, _ in allowed} <= READ_ACTIONS, "the audit's role must only read"
    # The ledger's tables, card transactions included, each read whole.
    scanned = {table for action, table in allowed if action == "dynamodb:Scan"}
    assert scanned >= {"accounts", "postings", "holds", "card_transactions"}


@pytest.mark.parametrize("stage", AWS_STAGES)
@pytest.mark.parametrize("function", (None, *WEBHOOK_FUNCTIONS, *AUDIT_FUNCTIONS))
def test_logs_go_to_the_functions_own_log_groups_only(stage, function):
    # `chalice deploy` names the API function <app>-<stage> (infra/template.json names it the same) and the
    # others <app>-<stage>-<name>: a policy names the log groups of the functions that carry it. In IAM a log
    # group's ARN ends in ":*" (which also covers its streams).
    functions = CONFIG["stages"][stage]["lambda_functions"]
    names = (
        [f"{CONFIG['app_name']}-{stage}"]
        if function is None
        else [
            f"{CONFIG['app_name']}-{stage}-{name}"
            for name, config in functions.items()
            if config["iam_policy_file"] == functions[function]["iam_policy_file"]
        ]
    )
    log_groups = [f"arn:aws:logs:*:*:log-group:/aws/lambda/{name}:*" for name in names]
    (statement,) = [s for s in policy(stage, function)["Statement"] if set(_as_list(s["Action"])) <= LOG_ACTIONS]
    assert statement["Effect"] == "Allow" and set(statement) <= {"Sid", "Effect", "Action", "Resource"}
    assert set(_as_list(statement["Action"])) == LOG_ACTIONS
    assert _as_list(statement["Resource"]) == log_groups


@pytest.mark.parametrize("stage", AWS_STAGES)
def test_stage_names_its_own_tables_and_policy(stage):
    settings = stage_settings(stage)
    assert settings.stage == stage
    assert settings.table_prefix == f"bank-{stage}-"
    assert CONFIG["stages"][stage]["iam_policy_file"] == f"policy-{stage}.json"
    resources = tables_template()["Resources"].values()
    tables = {r["Properties"]["TableName"]["Fn::Sub"] for r in resources if r["Type"] == "AWS::DynamoDB::Table"}
    grants = granted(stage) | granted(stage, WEBHOOK_FUNCTIONS[0]) | granted(stage, AUDIT_FUNCTIONS[0])
    assert {f"bank-${{BankStage}}-{table.split('/')[0]}" for action, table in grants if "dynamodb" in action} <= tables


def test_prod_has_the_contest_switch_off():
    assert not stage_settings("prod").contest_compat
