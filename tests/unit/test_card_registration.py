"""The card registration API over HTTP (Chalice's local gateway), on moto: register with a gateway token, read,
replace, remove; every token failure, the card check's refusals, no payment settings, tenancy, auth, bad input.
(Every field rule and message: tests/unit/test_registration_validation.py.)"""

from __future__ import annotations

import json
import logging

import pytest
from chalice.test import Client

from chalicelib.api import build_app
from chalicelib.registration.cards import CARD_REFUSALS, TOKEN_REFUSED
from chalicelib.store.models import CardToken, PaymentSettings, StoredCard
from tests.conftest import make_services

PATH = "/api/payment/credit"
VISA = "4242424242424242"


@pytest.fixture
def bank(moto_db, clock):
    return make_services(clock)


@pytest.fixture
def org(bank):
    return bank.organisations.create("株式会社テスト")


@pytest.fixture
def client(bank, tmp_path):
    with Client(build_app(bank), project_dir=str(tmp_path)) as client:
        yield client


def tokenise(client, publishable_key, number=VISA, month="12", year="30", cvc="123"):
    card = {"number": number, "expiry_month": month, "expiry_year": year, "cvc": cvc, "name": "TARO YAMADA"}
    response = client.http.post(
        "/api/v1/tokens",
        headers={"Authorization": f"Bearer {publishable_key}", "Content-Type": "application/json"},
        body=json.dumps({"card": card}),
    )
    assert response.status_code == 201, response.body
    return json.loads(response.body)


def form(token, **fields):
    body = {
        "credit_card_type": {"VISA": 1, "MASTERCARD": 2, "JCB": 3, "AMEX": 4, "DINERS": 5}[token["card"]["brand"]],
        "credit_card_number": token["card"]["number"],
        "credit_card_nominee": "TARO YAMADA",
        "credit_card_effective_month": token["card"]["expiry_month"],
        "credit_card_effective_year": token["card"]["expiry_year"],
        "credit_card_token": token["token"],
    }
    return {**body, **fields}


def call(client, method, access_token, body=None, raw=None):
    headers = {"Content-Type": "application/json"}
    if access_token is not None:
        headers["Authorization"] = f"Bearer {access_token}"
    payload = raw if raw is not None else (None if body is None else json.dumps(body))
    response = getattr(client.http, method.lower())(PATH, headers=headers, body=payload)
    return response.status_code, json.loads(response.body), response.headers


def register(client, org, **card):
    token = tokenise(client, org.publishable_key, **card)
    return call(client, "POST", org.access_token, form(token))[:2]


def test_a_card_is_registered_with_a_token_read_back_masked_and_kept_for_later_charges(bank, client, org):
    token = tokenise(client, org.publishable_key)
    assert call(client, "GET", org.access_token)[:2] == (200, {"result": True, "errors": "", "data": {}})
    status, body, _ = call(client, "POST", org.access_token, form(token))
    assert (status, body) == (200, {"result": True, "errors": "", "data": {}})
    assert call(client, "GET", org.access_token)[:2] == (
        200,
        {
            "result": True,
            "errors": "",
            "data": {
                "credit_card_type": 1,
                "credit_card_number": "424242******4242",
                "credit_card_nominee": "TARO YAMADA",
                "credit_card_effective_month": "12",
                "credit_card_effective_year": "30",
            },
        },
    )
    # A stored payment method of the service's merchant: the service charges it with its own key later.
    settings = PaymentSettings.get(org.org_id)
    (stored,) = StoredCard.scan()
    assert (
        stored.method_id == settings.stored_method_id and stored.merchant_id == bank.settings.registration_merchant_id
    )
    service = bank.merchants.identity(bank.settings.registration_merchant_id)
    assert bank.card_tokens.stored(service, stored.method_id).number == VISA
    # Nothing in clear: no full number, no token, no CVC in any table this API writes.
    written = json.dumps([settings.attribute_values, stored.attribute_values], default=str)
    assert VISA not in written and token["token"] not in written and "cvc" not in written
    # The token is spent: it registers nothing again.
    assert call(client, "POST", org.access_token, form(token))[:2] == (
        200,
        {"result": False, "errors": [TOKEN_REFUSED], "data": ""},
    )


def test_registering_again_replaces_the_card_and_detaches_the_old_one(bank, client, org):
    register(client, org)
    first = PaymentSettings.get(org.org_id).stored_method_id
    assert register(client, org, number="5555555555554444", month="11", year="31")[0] == 200
    settings = PaymentSettings.get(org.org_id)
    assert settings.stored_method_id != first and settings.masked_number == "555555******4444"
    assert [item.method_id for item in StoredCard.scan()] == [settings.stored_method_id]  # the old one is gone
    assert call(client, "GET", org.access_token)[1]["data"]["credit_card_type"] == 2


def test_delete_removes_the_card_and_its_stored_payment_method(bank, client, org):
    register(client, org)
    assert call(client, "DELETE", org.access_token)[:2] == (200, {"result": True, "errors": "", "data": {}})
    assert call(client, "GET", org.access_token)[1]["data"] == {}
    assert StoredCard.count() == 0 and PaymentSettings.get(org.org_id).masked_number is None
    assert call(client, "DELETE", org.access_token)[:2] == (200, {"result": True, "errors": "", "data": {}})


def test_without_payment_settings_nothing_is_written_and_the_token_is_kept(bank, client):
    org = bank.organisations.create("設定なし株式会社", payment_settings=False)
    token = tokenise(client, org.publishable_key)
    status, body, _ = call(client, "POST", org.access_token, form(token))
    assert (status, body) == (409, {"result": False, "errors": ["お支払い設定が登録されていません。"], "data": ""})
    assert StoredCard.count() == 0 and CardToken.get(next(iter(CardToken.scan())).token_hash).spent_at is None
    assert call(client, "GET", org.access_token)[0] == 409
    assert call(client, "DELETE", org.access_token)[0] == 409
    bank.organisations.create_settings(org.org_id)  # `org settings create`: now the same token registers
    assert call(client, "POST", org.access_token, form(token))[:2] == (200, {"result": True, "errors": "", "data": {}})


@pytest.mark.parametrize(
    ("number", "refusal"),
    [
        ("4000000000000002", CARD_REFUSALS[5]),
        ("4000000000009995", CARD_REFUSALS[51]),
        ("4000000000000069", CARD_REFUSALS[54]),
        ("4000000000000127", CARD_REFUSALS[580]),
        ("4111111111111111", CARD_REFUSALS[5]),  # a valid number no issuer of the network approves
    ],
)
def test_a_card_the_gateway_refuses_answers_200_with_the_refusal(bank, client, org, number, refusal):
    status, body = register(client, org, number=number)
    assert (status, body) == (200, {"result": False, "errors": [refusal], "data": ""})
    assert StoredCard.count() == 0 and call(client, "GET", org.access_token)[1]["data"] == {}


def test_a_card_of_this_bank_registers(bank, client, org):
    bank.accounts.open("dave", "Dave")
    issued = bank.issuer.issue("dave", 50_000)
    status, body = register(
        client, org, number=issued.number, month=issued.expiry_month, year=issued.expiry_year, cvc=issued.cvc
    )
    assert (status, body) == (200, {"result": True, "errors": "", "data": {}})
    assert call(client, "GET", org.access_token)[1]["data"]["credit_card_type"] == 3  # JCB


def test_every_token_failure_answers_the_refusal_shape(bank, client, org, clock):
    shop = bank.merchants.create("他の加盟店")
    others = tokenise(client, shop.publishable_key)  # another merchant's publishable key
    expired = tokenise(client, org.publishable_key)
    clock.advance(minutes=31)
    for token in (others, expired, {**others, "token": "tok_unknown"}, {**others, "token": "x" * 128}):
        status, body, _ = call(client, "POST", org.access_token, form(token))
        assert (status, body) == (200, {"result": False, "errors": [TOKEN_REFUSED], "data": ""})
    assert StoredCard.count() == 0


def test_the_form_must_name_the_tokens_card(client, org):
    token = tokenise(client, org.publishable_key)
    cases = {
        "credit_card_number": form(token, credit_card_number="424242******4243"),
        "credit_card_effective_month": form(token, credit_card_effective_month="11"),
        "credit_card_effective_year": form(token, credit_card_effective_year="31"),
    }
    for field, body in cases.items():
        status, answer, _ = call(client, "POST", org.access_token, body)
        assert status == 422 and set(answer["errors"]) == {field} and answer["data"] == "", (field, answer)
    other = tokenise(client, org.publishable_key, number="5555555555554444")
    body = form(other, credit_card_type=1, credit_card_number="4242424242******")
    status, answer, _ = call(client, "POST", org.access_token, body)
    assert status == 422 and "credit_card_number" in answer["errors"]
    # Fewer visible digits agree, as in the document's `41111********111`.
    assert call(client, "POST", org.access_token, form(token, credit_card_number="42424*******4242"))[0] == 200


def test_validation_failures_are_422_per_field_and_never_echo_a_full_number(client, org):
    token = tokenise(client, org.publishable_key)
    status, body, _ = call(
        client,
        "POST",
        org.access_token,
        {"credit_card_number": VISA, "credit_card_effective_month": "13", "credit_card_token": token["token"]},
    )
    assert status == 422 and body["result"] is False and body["data"] == ""
    assert body["errors"] == {
        "credit_card_type": "必須項目です",
        "credit_card_number": "カード番号はマスクして送信してください",
        "credit_card_nominee": "必須項目です",
        "credit_card_effective_month": "有効な月ではありません",
        "credit_card_effective_year": "必須項目です",
    }
    assert VISA not in json.dumps(body)
    assert CardToken.get(next(iter(CardToken.scan())).token_hash).spent_at is None  # nothing spent


@pytest.mark.parametrize("raw", ["{", "[]", '"x"', "null", "x" * 70_000])
def test_a_body_that_is_not_a_json_object_is_400(client, org, raw):
    status, body, _ = call(client, "POST", org.access_token, raw=raw)
    assert (status, body) == (400, {"result": False, "errors": ["リクエストの形式が正しくありません。"], "data": ""})


@pytest.mark.parametrize("credential", [None, "", "nonsense", "abc|def", "a" * 200, "\uff54oken|x"])
def test_without_a_members_token_it_is_401(client, org, credential):
    for method in ("GET", "POST", "DELETE"):
        status, body, headers = call(client, method, credential, {})
        assert (status, body) == (401, {"result": False, "errors": ["Unauthenticated."], "data": ""})
        assert headers["WWW-Authenticate"] == "Bearer"


def test_a_revoked_token_is_401_and_another_member_of_the_organisation_still_works(bank, client, org):
    other = bank.organisations.add_member(org.org_id, "経理担当")
    bank.organisations.revoke(org.access_token)
    assert call(client, "GET", org.access_token)[0] == 401
    assert call(client, "GET", other)[:2] == (200, {"result": True, "errors": "", "data": {}})
    wrong_secret = org.access_token.split("|")[0] + "|" + "x" * 40
    assert call(client, "GET", wrong_secret)[0] == 401


def test_one_organisation_never_touches_anothers_card(bank, client, org):
    register(client, org)
    rival = bank.organisations.create("別会社")
    assert call(client, "GET", rival.access_token)[1]["data"] == {}
    assert call(client, "DELETE", rival.access_token)[0] == 200
    assert call(client, "GET", org.access_token)[1]["data"]["credit_card_number"] == "424242******4242"
    # A token org's page made is the service merchant's: the rival's member could spend it only by stealing it,
    # and then only onto its own settings; one made with another merchant's key is refused (above).
    assert rival.publishable_key != org.publishable_key


def test_a_wrong_method_is_405_in_the_envelope(client, org):
    response = client.http.put(PATH, headers={"Authorization": f"Bearer {org.access_token}"}, body="{}")
    assert response.status_code == 405
    assert json.loads(response.body) == {"result": False, "errors": ["このメソッドは使えません。"], "data": ""}


def test_no_secret_or_card_number_in_any_log_line(client, org, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    token = tokenise(client, org.publishable_key)
    call(client, "POST", org.access_token, form(token))
    call(client, "POST", org.access_token, {"credit_card_number": VISA})
    logged = capsys.readouterr().out + caplog.text
    for secret in (VISA, token["token"], org.access_token, org.access_token.split("|")[1], org.publishable_key):
        assert secret not in logged


def test_the_service_charges_the_registered_card_with_its_own_key_and_not_after_its_removal(bank, client, org):
    register(client, org)
    method = {"type": "scheme", "store_payment_method_id": PaymentSettings.get(org.org_id).stored_method_id}
    charge = {"amount": 980, "currency": "JPY", "merchant_txn_ref": "monthly-1", "payment_method": method}
    key = org.service_merchant.api_key  # shown when the first organisation made the service's merchant
    headers = {"Authorization": f"Basic {key}", "x-api-key": key, "Content-Type": "application/json"}
    paid = client.http.post("/api/v1/server-to-server-interface/payment", headers=headers, body=json.dumps(charge))
    assert paid.status_code == 201, paid.body
    assert json.loads(paid.body)["payment_details"]["card"]["number"] == "424242******4242"
    call(client, "DELETE", org.access_token)
    again = client.http.post(
        "/api/v1/server-to-server-interface/payment",
        headers=headers,
        body=json.dumps({**charge, "merchant_txn_ref": "monthly-2"}),
    )
    assert again.status_code == 422 and json.loads(again.body)["gateway_response"]["code"] == "ERR0433"
