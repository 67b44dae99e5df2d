"""The card gateway over HTTP (Chalice's local gateway), on moto: purchase v1, status, auth, the error shape."""

from __future__ import annotations

import base64
import json

import pytest
from chalice.test import Client

from chalicelib.api import build_app
from chalicelib.cards.idempotency import Claimed, request_hash
from chalicelib.store.models import Account, CardToken, StoredCard
from tests.conftest import make_services
from tests.support.calls import dynamodb_calls

PAYMENT = "/api/v1/server-to-server-interface/payment"
TEST = {"number": "4242424242424242", "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "T"}
STATUS = "/api/v1/server-to-server-interface/transaction/status/"


@pytest.fixture
def bank(moto_db, clock):
    services = make_services(clock)
    services.accounts.open("alice", "Alice")
    return services


@pytest.fixture
def merchant(bank):
    return bank.merchants.create("Tink15 Factory")


@pytest.fixture
def client(bank, tmp_path):
    with Client(build_app(bank), project_dir=str(tmp_path)) as client:
        yield client


def headers(merchant, encoded=False):
    key = merchant.api_key
    basic = base64.b64encode(f"{key}:".encode()).decode() if encoded else key
    return {"Authorization": f"Basic {basic}", "x-api-key": key, "Content-Type": "application/json"}


def body(number="4242424242424242", amount="1000", ref="order-1", **card):
    return {
        "amount": amount,
        "currency": "JPY",
        "card": {"number": number, "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "John Doe", **card},
        "merchant_txn_ref": ref,
        "customer_ip": "127.0.0.1",
        "billing_address": {"country": "JP", "city": "Shinjuku-ku"},
    }


def pay(client, merchant, payload, raw=None, **kwargs):
    response = client.http.post(
        PAYMENT, headers=headers(merchant, **kwargs), body=raw if raw is not None else json.dumps(payload)
    )
    assert response.headers["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.body)


def test_a_purchase_answers_201_capture_masked_and_its_status_200(client, merchant):
    status, answer = pay(client, merchant, body())
    assert status == 201
    assert (answer["success"], answer["status_code"], answer["transaction_type"]) == (True, 201, "CAPTURE")
    assert answer["gateway_response"] == {
        "version": "1",
        "type": "INFO",
        "message": "Payment Successful.",
        "code": "INFO0000",
    }
    assert answer["payment_details"]["card"] == {
        "name": "John Doe",
        "number": "424242******4242",
        "exp_month": "12",
        "exp_year": "30",
    }
    assert answer["payment_details"]["amount"] == 1000 and answer["payment_details"]["scheme"] == "VISA"
    assert answer["merchant_details"]["mid"] == merchant.identity.merchant_id
    assert answer["merchant_details"]["billing_details"]["billing_address"]["city"] == "Shinjuku-ku"
    assert "risk-details" in answer and "123" not in json.dumps(answer["payment_details"])
    transaction_id = answer["transaction_details"]["id"]
    response = client.http.get(STATUS + transaction_id, headers=headers(merchant))
    status = json.loads(response.body)
    assert response.status_code == 200 and status["status_code"] == 200
    assert status["transaction_details"]["id"] == transaction_id


def test_both_basic_forms_are_accepted(client, merchant):
    assert pay(client, merchant, body(ref="a"), encoded=True)[0] == 201
    assert pay(client, merchant, body(ref="b"))[0] == 201


@pytest.mark.parametrize(
    "auth",
    [
        {},
        {"Authorization": "Basic wrong", "x-api-key": "wrong"},
        {"Authorization": "Bearer KEY", "x-api-key": "KEY"},
        {"Authorization": "Basic KEY"},
        {"Authorization": "Basic KEY", "x-api-key": "other"},
    ],
)
def test_wrong_credentials_are_401_in_the_gateway_shape(client, merchant, auth):
    auth = {name: value.replace("KEY", merchant.api_key) for name, value in auth.items()}
    response = client.http.post(PAYMENT, headers={**auth, "Content-Type": "application/json"}, body=json.dumps(body()))
    answer = json.loads(response.body)
    assert response.status_code == 401
    assert answer["success"] is False and answer["gateway_response"]["code"] == "ERR0401"


@pytest.mark.parametrize(
    ("number", "status", "code", "response_code"),
    [
        ("4000000000000002", 402, "ERR0005", 5),
        ("4000000000009995", 402, "ERR0051", 51),
        ("4000000000000069", 402, "ERR0054", 54),
        ("4000000000000127", 402, "ERR0580", 580),
        ("4242424242424241", 422, "ERR0586", 586),
    ],
)
def test_declines_and_card_checks(client, merchant, number, status, code, response_code):
    got, answer = pay(client, merchant, body(number))
    assert (got, answer["status_code"], answer["gateway_response"]["code"]) == (status, status, code)
    assert answer["payment_details"]["response_code"] == response_code


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body(amount="0"), "amount"),
        (body(amount="-5"), "amount"),
        (body(amount=1.5), "amount"),
        (body(amount="10000000000000"), "amount"),
        ({**body(), "currency": "USD"}, "currency"),
        (body(expiry_month="13"), "card.expiry_month"),
        (body(expiry_year="20"), "card.expiry_year"),
        (body(cvc="12"), "card.cvc"),
        (body(number="12345"), "card.number"),
        ({k: v for k, v in body().items() if k != "card"}, "card"),
        ({**body(), "merchant_id": "someone-else"}, "merchant_id"),
        ({**body(), "return_url": {"webhook_url": "ftp://x"}}, "return_url.webhook_url"),
    ],
)
def test_validation_errors_are_422_with_the_field(client, merchant, payload, field):
    status, answer = pay(client, merchant, payload)
    assert status == 422 and answer["success"] is False
    assert answer["errors"][0]["field"] == field, answer


def test_malformed_json_is_400(client, merchant):
    status, answer = pay(client, merchant, None, raw="{nope")
    assert (status, answer["gateway_response"]["code"]) == (400, "ERR0400")


def test_a_repeated_merchant_txn_ref_is_409(client, merchant):
    assert pay(client, merchant, body(ref="same"))[0] == 201
    status, answer = pay(client, merchant, body(ref="same"))
    assert (status, answer["gateway_response"]["code"]) == (409, "ERR0409")


def test_another_merchants_transaction_is_404(client, bank, merchant):
    _, answer = pay(client, merchant, body())
    other = bank.merchants.create("Other")
    for transaction_id in (answer["transaction_details"]["id"], "nope", "x" * 300):
        response = client.http.get(STATUS + transaction_id, headers=headers(other))
        assert response.status_code == 404
        assert json.loads(response.body)["gateway_response"]["code"] == "ERR0404"


def test_a_card_of_this_bank_over_its_line_declines_51_and_shows_in_the_users_statement(client, bank, merchant):
    card = bank.issuer.issue("alice", credit_limit=1500)
    mine = {"expiry_month": card.expiry_month, "expiry_year": card.expiry_year, "cvc": card.cvc}
    assert pay(client, merchant, body(card.number, "1000", "a", **mine))[0] == 201
    status, answer = pay(client, merchant, body(card.number, "501", "b", **mine))
    assert (status, answer["payment_details"]["response_code"]) == (402, 51)
    assert int(Account.get(card.account_id).balance) == -1000
    accounts = {info.account_id: info.account_type1 for info in bank.accounts.of_customer("alice")}
    assert accounts == {"alice": "bank", card.account_id: "cc"}
    today = bank.clock.now().date()
    lines = bank.statements.transactions("alice", card.account_id, today, today, 1).items
    assert [(line.amount, line.balance, line.description) for line in lines] == [(-1000, -1000, "Tink15 Factory")]


def operate(client, merchant, operation, payload):
    path = f"/api/v1/server-to-server-interface/{operation}"
    response = client.http.post(path, headers=headers(merchant), body=json.dumps(payload))
    return response.status_code, json.loads(response.body)


@pytest.fixture
def own_card(bank):
    card = bank.issuer.issue("alice", credit_limit=10_000)
    return card, {"expiry_month": card.expiry_month, "expiry_year": card.expiry_year, "cvc": card.cvc}


def test_authorise_holds_then_a_smaller_capture_releases_the_rest(client, bank, merchant, own_card):
    card, mine = own_card
    status, auth = operate(client, merchant, "authorization", body(card.number, "4000", "a", **mine))
    assert (status, auth["transaction_type"]) == (201, "PRE_AUTH")
    balance = bank.accounts.balance(card.account_id, kind=None)
    assert (balance.balance, balance.available, balance.held) == (0, 6000, 4000)
    assert bank.merchants.balance(merchant.identity.merchant_id) == 0
    transaction_id = auth["transaction_details"]["id"]
    status, captured = operate(client, merchant, "capture", {"transactionId": transaction_id, "amount": 2500})
    assert (status, captured["transaction_type"], captured["gateway_response"]["code"]) == (201, "CAPTURE", "INFO0001")
    assert captured["transaction_details"]["id"] != transaction_id and captured["payment_details"]["amount"] == 2500
    balance = bank.accounts.balance(card.account_id, kind=None)
    assert (balance.balance, balance.available, balance.held) == (-2500, 7500, 0)
    assert bank.merchants.balance(merchant.identity.merchant_id) == 2500
    status, again = operate(client, merchant, "capture", {"transactionId": transaction_id})
    assert (status, again["gateway_response"]["code"]) == (409, "ERR1001")
    status, voided = operate(client, merchant, "void", {"transactionId": transaction_id})
    assert (status, voided["gateway_response"]["code"]) == (409, "ERR1001")
    for any_id in (transaction_id, captured["transaction_details"]["id"]):
        assert client.http.get(STATUS + any_id, headers=headers(merchant)).status_code == 200


def test_void_releases_an_authorisation_and_then_nothing_captures(client, bank, merchant, own_card):
    card, mine = own_card
    _, auth = operate(client, merchant, "authorization", body(card.number, "4000", "a", **mine))
    transaction_id = auth["transaction_details"]["id"]
    status, voided = operate(client, merchant, "void", {"transactionId": transaction_id})
    assert (status, voided["transaction_type"], voided["gateway_response"]["code"]) == (201, "VOID", "INFO0003")
    assert bank.accounts.balance(card.account_id, kind=None).available == 10_000
    assert (
        operate(client, merchant, "capture", {"transactionId": transaction_id})[1]["gateway_response"]["code"]
        == "ERR1002"
    )
    assert (
        operate(client, merchant, "void", {"transactionId": transaction_id})[1]["gateway_response"]["code"] == "ERR1002"
    )


def test_refunds_never_exceed_the_capture(client, bank, merchant, own_card):
    card, mine = own_card
    _, paid = operate(client, merchant, "payment", body(card.number, "3000", "a", **mine))
    transaction_id = paid["transaction_details"]["id"]
    status, refunded = operate(client, merchant, "refund", {"transactionId": transaction_id, "amount": "1000"})
    assert (status, refunded["transaction_type"], refunded["gateway_response"]["code"]) == (201, "REFUND", "INFO0002")
    assert bank.accounts.balance(card.account_id, kind=None).balance == -2000
    status, over = operate(client, merchant, "refund", {"transactionId": transaction_id, "amount": 2001})
    assert (status, over["gateway_response"]["code"]) == (409, "ERR1003")
    assert operate(client, merchant, "refund", {"transactionId": transaction_id})[0] == 201  # the rest
    assert bank.accounts.balance(card.account_id, kind=None).balance == 0
    assert bank.merchants.balance(merchant.identity.merchant_id) == 0
    assert operate(client, merchant, "refund", {"transactionId": transaction_id, "amount": 1})[0] == 409


def test_an_authorisation_lives_seven_days(client, bank, clock, merchant, own_card):
    card, mine = own_card
    _, auth = operate(client, merchant, "authorization", body(card.number, "4000", "a", **mine))
    clock.advance(days=7)
    status, late = operate(client, merchant, "capture", {"transactionId": auth["transaction_details"]["id"]})
    assert (status, late["gateway_response"]["code"]) == (409, "ERR1004")
    assert bank.accounts.balance(card.account_id, kind=None).available == 10_000  # the hold ended by itself


def test_another_banks_card_authorises_and_captures_through_the_network(client, bank, merchant):
    _, auth = operate(client, merchant, "authorization", body(ref="x"))
    transaction_id = auth["transaction_details"]["id"]
    assert bank.merchants.balance(merchant.identity.merchant_id) == 0
    assert operate(client, merchant, "capture", {"transactionId": transaction_id})[0] == 201
    assert bank.merchants.balance(merchant.identity.merchant_id) == 1000
    assert operate(client, merchant, "refund", {"transactionId": transaction_id, "amount": 400})[0] == 201
    assert bank.merchants.balance(merchant.identity.merchant_id) == 600


def test_operations_refuse_the_wrong_kind_and_another_merchants(client, bank, merchant):
    _, paid = operate(client, merchant, "payment", body(ref="p"))
    transaction_id = paid["transaction_details"]["id"]
    assert (
        operate(client, merchant, "capture", {"transactionId": transaction_id})[1]["gateway_response"]["code"]
        == "ERR1005"
    )
    assert (
        operate(client, merchant, "void", {"transactionId": transaction_id})[1]["gateway_response"]["code"] == "ERR1005"
    )
    _, auth = operate(client, merchant, "authorization", body(ref="q"))
    assert (
        operate(client, merchant, "refund", {"transactionId": auth["transaction_details"]["id"]})[1][
            "gateway_response"
        ]["code"]
        == "ERR1006"
    )
    other = bank.merchants.create("Other")
    for operation in ("capture", "refund", "void"):
        assert operate(client, other, operation, {"transactionId": transaction_id})[0] == 404
    assert (
        operate(client, merchant, "capture", {"transactionId": auth["transaction_details"]["id"], "amount": 1001})[0]
        == 422
    )
    assert operate(client, merchant, "capture", {"amount": 1})[0] == 422  # no transactionId


def keyed(client, merchant, payload, key, operation="payment"):
    path = f"/api/v1/server-to-server-interface/{operation}"
    response = client.http.post(path, headers={**headers(merchant), "Idempotency-Key": key}, body=json.dumps(payload))
    return response.status_code, json.loads(response.body), response.headers


def test_a_retry_with_the_same_idempotency_key_answers_the_first_answer(client, bank, merchant):
    first = keyed(client, merchant, body(ref="k1"), "key-1")
    again = keyed(client, merchant, body(ref="k1"), "key-1")
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert again[2]["Idempotent-Replayed"] == "true"
    assert bank.merchants.balance(merchant.identity.merchant_id) == 1000  # paid once


def test_a_decline_is_replayed_too(client, bank, merchant):
    first = keyed(client, merchant, body("4000000000000002", ref="k2"), "key-2")
    again = keyed(client, merchant, body("4000000000000002", ref="k2"), "key-2")
    assert first[0] == again[0] == 402 and first[1] == again[1]


def test_the_same_key_with_another_request_is_422(client, merchant):
    keyed(client, merchant, body(ref="k3"), "key-3")
    status, answer, _ = keyed(client, merchant, body(ref="k3", amount="999"), "key-3")
    assert (status, answer["gateway_response"]["code"]) == (422, "ERR2001")
    status, answer, _ = keyed(client, merchant, {"transactionId": "x"}, "key-3", operation="void")
    assert (status, answer["gateway_response"]["code"]) == (422, "ERR2001")


def test_keys_are_the_merchants_own_and_live_a_day(client, bank, clock, merchant):
    other = bank.merchants.create("Other")
    assert keyed(client, merchant, body(ref="k4"), "shared")[0] == 201
    assert keyed(client, other, body(ref="k4"), "shared")[0] == 201  # another merchant's key space
    clock.advance(hours=24)
    status, answer, replayed = keyed(client, merchant, body(ref="k4"), "shared")
    assert (status, answer["gateway_response"]["code"]) == (409, "ERR0409")  # ran again: the reference repeats
    assert "Idempotent-Replayed" not in replayed


def test_a_key_in_flight_is_409_until_it_is_given_back(client, bank, clock, merchant):
    fingerprint = request_hash(
        "POST", "/api/v1/server-to-server-interface/payment", json.dumps(body(ref="k5")).encode()
    )
    claim = bank.idempotency.begin(merchant.identity.merchant_id, "key-5", fingerprint)  # a request still running
    assert isinstance(claim, Claimed)
    response = client.http.post(
        "/api/v1/server-to-server-interface/payment",
        headers={**headers(merchant), "Idempotency-Key": "key-5"},
        body=json.dumps(body(ref="k5")),
    )
    assert (response.status_code, json.loads(response.body)["gateway_response"]["code"]) == (409, "ERR2002")
    clock.advance(seconds=30)  # the first died: its key is free again
    assert keyed(client, merchant, body(ref="k5"), "key-5")[0] == 201


def test_a_server_error_gives_the_key_back(client, bank, merchant, monkeypatch):
    def explode(*args):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(bank.payments, "purchase", explode)
    assert keyed(client, merchant, body(ref="k6"), "key-6")[0] == 500
    monkeypatch.undo()
    assert keyed(client, merchant, body(ref="k6"), "key-6")[0] == 201


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\\there"])
def test_a_malformed_key_is_422(client, merchant, key):
    status, answer, _ = keyed(client, merchant, body(ref="k7"), key.replace("\\t", "\t"))
    assert status == 422 and answer["errors"][0]["field"] == "Idempotency-Key"


def tokenise(client, merchant, **card):
    payload = {
        "card": {
            "number": "4242424242424242",
            "expiry_month": "12",
            "expiry_year": "30",
            "cvc": "123",
            "name": "John Doe",
            **card,
        }
    }
    response = client.http.post(
        "/api/v1/tokens",
        headers={"Authorization": f"Bearer {merchant.publishable_key}", "Content-Type": "application/json"},
        body=json.dumps(payload),
    )
    return response.status_code, json.loads(response.body)


def with_token(token, ref="t"):
    return {"amount": 1000, "currency": "JPY", "card_token": token, "merchant_txn_ref": ref}


def test_a_card_token_pays_once_for_its_merchant(client, bank, merchant):
    status, token = tokenise(client, merchant)
    assert status == 201
    assert token["card"] == {"number": "424242******4242", "brand": "VISA", "expiry_month": "12", "expiry_year": "30"}
    assert token["token"].startswith("tok_") and token["expires_at"] - int(bank.clock.now().timestamp()) == 30 * 60
    other = bank.merchants.create("Other")
    status, answer = pay(client, other, with_token(token["token"]))
    assert (status, answer["gateway_response"]["code"]) == (422, "ERR0432")  # not its token
    status, answer = pay(client, merchant, with_token(token["token"]))
    assert status == 201 and answer["payment_details"]["card"]["number"] == "424242******4242"
    status, answer = pay(client, merchant, with_token(token["token"], ref="again"))
    assert (status, answer["errors"][0]["field"]) == (422, "card_token")  # spent


def test_a_card_token_expires(client, clock, merchant):
    _, token = tokenise(client, merchant)
    clock.advance(minutes=30)
    assert pay(client, merchant, with_token(token["token"]))[0] == 422


def test_tokenising_checks_the_card_and_never_keeps_it_in_clear(client, bank, merchant):
    assert tokenise(client, merchant, number="4242424242424241")[1]["gateway_response"]["code"] == "ERR0586"
    card = bank.issuer.issue("alice", credit_limit=5000)
    status, answer = tokenise(
        client,
        merchant,
        number=card.number,
        expiry_month=card.expiry_month,
        expiry_year=card.expiry_year,
        cvc="000" if card.cvc != "000" else "001",
    )
    assert (status, answer["payment_details"]["response_code"]) == (402, 580)
    status, token = tokenise(
        client, merchant, number=card.number, expiry_month=card.expiry_month, expiry_year=card.expiry_year, cvc=card.cvc
    )
    assert status == 201
    items = [item.attribute_values for item in CardToken.scan()]
    assert card.number not in json.dumps(items, default=str)
    # No CVC kept: no such attribute, and no attribute holding it (hex may hold any 3 digits by chance).
    assert all("cvc" not in name and value != card.cvc for item in items for name, value in item.items())
    assert pay(client, merchant, with_token(token["token"]))[0] == 201
    assert int(Account.get(card.account_id).balance) == -1000


def test_the_tokens_endpoint_takes_the_publishable_key_only(client, merchant):
    for auth in ({}, {"Authorization": f"Bearer {merchant.api_key}"}, {"Authorization": "Bearer pk_unknown"}):
        response = client.http.post("/api/v1/tokens", headers={**auth, "Content-Type": "application/json"}, body="{}")
        assert response.status_code == 401
    assert (
        client.http.post(
            PAYMENT,
            headers={"Authorization": f"Basic {merchant.publishable_key}", "x-api-key": merchant.publishable_key},
            body="{}",
        ).status_code
        == 401
    )


def test_a_payment_names_a_card_or_a_token_not_both(client, merchant):
    _, token = tokenise(client, merchant)
    for payload in ({**body(), "card_token": token["token"]}, {k: v for k, v in body().items() if k != "card"}):
        status, answer = pay(client, merchant, payload)
        assert (status, answer["errors"][0]["field"]) == (422, "card")


def test_a_warm_merchant_is_not_read_again(client, merchant):
    pay(client, merchant, body(ref="warm"))
    with dynamodb_calls() as calls:
        pay(client, merchant, body(ref="warm-2"))
    assert calls == ["GetItem", "GetItem", "TransactWriteItems"]  # the clearing shard, the merchant's shard


def test_a_wrong_key_is_refused_though_the_right_one_is_remembered(client, merchant):
    pay(client, merchant, body(ref="r1"))
    response = client.http.post(
        PAYMENT, headers={"Authorization": "Basic x", "x-api-key": "x"}, body=json.dumps(body(ref="r2"))
    )
    assert response.status_code == 401
    response = client.http.post(
        "/api/v1/tokens", headers={"Authorization": f"Bearer {merchant.api_key}"}, body=json.dumps({"card": TEST})
    )
    assert response.status_code == 401  # the secret key is no publishable key, cached or not


def test_a_stored_card_pays_later_for_its_merchant_only(client, bank, merchant):
    status, first = pay(
        client, merchant, {**body(ref="s1"), "payment_method": {"type": "scheme", "store_payment_method": True}}
    )
    assert status == 201
    method_id = first["transaction_details"]["stored_payment_method_id"]
    assert method_id.startswith("spm_")
    later = {
        "amount": 500,
        "currency": "JPY",
        "merchant_txn_ref": "s2",
        "payment_method": {"type": "scheme", "store_payment_method_id": method_id},
    }
    status, again = pay(client, merchant, later)
    assert status == 201 and again["payment_details"]["card"]["number"] == "424242******4242"
    assert again["transaction_details"]["stored_payment_method_id"] is None
    other = bank.merchants.create("Other")
    status, answer = pay(client, other, {**later, "merchant_txn_ref": "s3"})
    assert (status, answer["gateway_response"]["code"]) == (422, "ERR0433")
    stored = json.dumps([item.attribute_values for item in StoredCard.scan()], default=str)
    assert "4242424242424242" not in stored and '"cvc"' not in stored


def test_a_stored_card_is_named_alone(client, merchant):
    both = {**body(ref="s4"), "payment_method": {"type": "scheme", "store_payment_method_id": "spm_x"}}
    assert pay(client, merchant, both)[1]["errors"][0]["field"] == "card"
    restore = {
        "amount": 1,
        "currency": "JPY",
        "merchant_txn_ref": "s5",
        "payment_method": {"type": "scheme", "store_payment_method": True, "store_payment_method_id": "spm_x"},
    }
    assert pay(client, merchant, restore)[1]["errors"][0]["field"] == "payment_method.store_payment_method"
    assert pay(client, merchant, {**body(ref="s6"), "payment_method": {"type": "wallet"}})[0] == 422


@pytest.mark.parametrize(
    ("operation", "payload", "field"),
    [
        ("capture", {}, ""),
        ("capture", {"transactionId": 12}, "transactionId"),
        ("capture", {"transactionId": "x" * 65}, "transactionId"),
        ("capture", {"transactionId": "t", "amount": "ten"}, "amount"),
        ("capture", {"transactionId": "t", "amount": True}, "amount"),
        ("refund", {"transactionId": "t", "amount": "99999999999999"}, "amount"),
        ("refund", {"transactionId": "t", "notes": "n" * 256}, "notes"),
        ("void", {"transactionId": None}, "transactionId"),
        ("void", {"transactionId": "t", "merchant_id": "x" * 129}, "merchant_id"),
    ],
)
def test_operation_bodies_refuse_wrong_types_missing_values_and_absurd_sizes(
    client, merchant, operation, payload, field
):
    status, answer = operate(client, merchant, operation, payload)
    assert (status, answer["gateway_response"]["code"], answer["errors"][0]["field"]) == (422, "ERR0422", field)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"card_token": 5}, "card_token"),
        ({"card_token": "t" * 129}, "card_token"),
        ({"payment_method": "scheme"}, "payment_method"),
        ({"payment_method": {}}, "payment_method"),
        ({"payment_method": {"type": "scheme", "store_payment_method": "yes"}}, "payment_method.store_payment_method"),
        (
            {"payment_method": {"type": "scheme", "store_payment_method_id": "s" * 129}},
            "payment_method.store_payment_method_id",
        ),
    ],
)
def test_payment_methods_and_tokens_refuse_bad_values(client, merchant, extra, field):
    payload = {k: v for k, v in body().items() if k != "card"} | extra
    status, answer = pay(client, merchant, payload)
    assert (status, answer["errors"][0]["field"]) == (422, field)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, ""),
        ({"card": "4242"}, "card"),
        ({"card": {**TEST, "number": "4" * 20}}, "card.number"),
        ({"card": {**TEST, "name": "n" * 256}}, "card.name"),
    ],
)
def test_the_tokens_endpoint_refuses_bad_cards(client, merchant, payload, field):
    response = client.http.post(
        "/api/v1/tokens", headers={"Authorization": f"Bearer {merchant.publishable_key}"}, body=json.dumps(payload)
    )
    answer = json.loads(response.body)
    assert (response.status_code, answer["errors"][0]["field"]) == (422, field)


@pytest.fixture
def fails_after_writing(bank, monkeypatch):
    """The next operation writes its transaction, then fails (as when DynamoDB's answer is lost): a 500."""
    queued = bank.webhooks.queued
    armed = []

    def fail_once(event):
        if armed:
            armed.clear()
            raise RuntimeError("the answer was lost")
        return queued(event)

    monkeypatch.setattr(bank.webhooks, "queued", fail_once)
    return armed


def test_a_retry_after_a_try_that_did_write_is_answered_with_what_it_made(
    client, bank, merchant, own_card, fails_after_writing
):
    """The failed try gives its key back, but its claim's transaction id stays with the key: the retry finds the
    purchase, the capture or the refund it made, instead of a duplicate reference, 'already captured' or a
    second refund."""
    card, details = own_card
    fails_after_writing.append(True)
    assert keyed(client, merchant, body(card.number, amount="3000", ref="lost-1", **details), "p")[0] == 500
    status, paid, _ = keyed(client, merchant, body(card.number, amount="3000", ref="lost-1", **details), "p")
    assert status == 201 and paid["payment_details"]["amount"] == 3000
    payment_id = paid["transaction_details"]["id"]
    fails_after_writing.append(True)
    refund = {"transactionId": payment_id, "amount": "1000"}
    assert keyed(client, merchant, refund, "r", operation="refund")[0] == 500
    status, refunded, _ = keyed(client, merchant, refund, "r", operation="refund")
    assert status == 201 and refunded["transaction_type"] == "REFUND"

    _, authorised, _ = keyed(
        client, merchant, body(card.number, amount="500", ref="lost-2", **details), "a", operation="authorization"
    )
    fails_after_writing.append(True)
    capture = {"transactionId": authorised["transaction_details"]["id"]}
    assert keyed(client, merchant, capture, "c", operation="capture")[0] == 500
    status, captured, _ = keyed(client, merchant, capture, "c", operation="capture")
    assert status == 201 and captured["transaction_type"] == "CAPTURE"

    assert bank.accounts.balance(card.account_id, kind=None).balance == -3000 + 1000 - 500  # each made once
    assert bank.merchants.balance(merchant.identity.merchant_id) == 3000 - 1000 + 500


def test_a_fresh_keys_decline_looks_for_no_earlier_transaction(client, merchant):
    """Only a key taken over from a try that gave it back can have made its transaction already."""
    pay(client, merchant, body(ref="fresh-0"))  # the merchant's credentials cached
    with dynamodb_calls() as calls:
        assert keyed(client, merchant, body("4000000000000002", ref="fresh-1"), "fresh-key")[0] == 402
    assert calls == ["PutItem", "UpdateItem"]  # the claim, the answer kept: no read of card_transactions
