"""Purchase v2 and its 3-D Secure challenge page, over Chalice's local gateway, on moto: no money moves until the
page completes the challenge, and then once."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from chalice.test import Client

from chalicelib.api import build_app
from chalicelib.api.challenge_page import CSRF_COOKIE, with_query
from chalicelib.cards.challenges import ChallengeFinished
from chalicelib.store.models import CardToken, CardTransaction, ThreeDSChallenge
from tests.conftest import make_services

PREFIX = "/api/v1/server-to-server-interface"
THREE_D_SECURE = "4000002500003155"
HOST = "bank.example:8443"
SUCCESS = "https://shop.example/paid?order=7#top"
DECLINE = "https://shop.example/declined"


@pytest.fixture
def bank(moto_db, clock):
    services = make_services(clock)
    services.accounts.open("alice", "Alice")
    return services


@pytest.fixture
def merchant(bank):
    return bank.merchants.create("3DS <Shop>")


@pytest.fixture
def client(bank, tmp_path):
    with Client(build_app(bank), project_dir=str(tmp_path)) as client:
        yield client


def headers(merchant, **extra):
    return {"Authorization": f"Basic {merchant.api_key}", "x-api-key": merchant.api_key, "Host": HOST, **extra}


def body(number=THREE_D_SECURE, ref="order-1", urls=True, card=None, **extra):
    payload = {
        "amount": "1500",
        "currency": "JPY",
        "card": {
            "number": number,
            "expiry_month": "12",
            "expiry_year": "30",
            "cvc": "123",
            "name": "John Doe",
            **(card or {}),
        },
        "merchant_txn_ref": ref,
        **extra,
    }
    if urls:
        payload["return_url"] = {"success_url": SUCCESS, "decline_url": DECLINE}
    return payload


def call(client, merchant, operation, payload, **extra):
    response = client.http.post(f"{PREFIX}/{operation}", headers=headers(merchant, **extra), body=json.dumps(payload))
    assert response.headers["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.body)


def page_path(url):
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == f"http://{HOST}"
    return parts.path


def open_page(client, url):
    response = client.http.get(page_path(url))
    return response, response.body.decode()


def submit(client, url, outcome, shown=None, cookie=True, token=None, **extra):
    shown = shown or client.http.get(page_path(url))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', shown.body.decode()).group(1)
    request_headers = {"Content-Type": "application/x-www-form-urlencoded", "Host": HOST, **extra}
    if cookie:
        request_headers["Cookie"] = f"{CSRF_COOKIE}={csrf}"
    form = urlencode({"outcome": outcome, "csrf_token": token if token is not None else csrf})
    return client.http.post(page_path(url), headers=request_headers, body=form)


def started(client, merchant, payload=None, **extra):
    status, answer = call(client, merchant, "paymentv2", payload or body(), **extra)
    assert status == 200, answer
    return answer["redirect_url"]


def nothing_paid(bank, merchant):
    return bank.merchants.balance(merchant.identity.merchant_id) == 0 and CardTransaction.count() == 0


def test_a_frictionless_card_pays_at_once_as_v1(client, bank, merchant):
    status, answer = call(client, merchant, "paymentv2", body("4242424242424242"))
    assert (status, answer["status_code"], answer["transaction_type"]) == (201, 201, "CAPTURE")
    assert bank.merchants.balance(merchant.identity.merchant_id) == 1500


def test_v1_still_approves_the_3ds_card(client, bank, merchant):
    status, answer = call(client, merchant, "payment", body())
    assert (status, answer["transaction_type"]) == (201, "CAPTURE")
    assert bank.merchants.balance(merchant.identity.merchant_id) == 1500


def test_the_3ds_card_answers_a_challenge_and_moves_no_money(client, bank, merchant):
    status, answer = call(client, merchant, "paymentv2", body())
    assert status == 200
    assert set(answer) == {"url", "redirect_url", "statusCode", "success"}
    assert answer["statusCode"] == 200 and answer["success"] is True and answer["url"] == answer["redirect_url"]
    assert re.fullmatch(rf"http://{HOST}/3ds/challenge/[A-Za-z0-9_-]{{43}}", answer["url"])
    assert nothing_paid(bank, merchant)
    # The card is kept sealed in a card token (no CVC), the challenge keeps no card number at all.
    kept = json.dumps([item.attribute_values for item in (*CardToken.scan(), *ThreeDSChallenge.scan())], default=str)
    assert THREE_D_SECURE not in kept and '"cvc"' not in kept
    challenge_id = answer["url"].rsplit("/", 1)[1]
    assert challenge_id not in kept  # only its hash is the key

    response, html = open_page(client, answer["url"])
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "400000******3155" in html and THREE_D_SECURE not in html
    assert "3DS &lt;Shop&gt;" in html and "1,500 JPY" in html
    assert "Authenticate" in html and "Fail authentication" in html
    assert not re.search(r"<script|(src|href)=", html)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "form-action 'self' https://shop.example" in csp
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=") and all(a in cookie for a in ("Secure", "HttpOnly", "SameSite=Strict"))
    assert f'action="/3ds/challenge/{challenge_id}"' in html
    assert nothing_paid(bank, merchant)


def test_completing_pays_once_and_redirects_to_the_success_url(client, bank, merchant):
    url = started(client, merchant)
    shown = client.http.get(page_path(url))
    response = submit(client, url, "complete", shown)
    assert response.status_code == 303 and response.headers["Cache-Control"] == "no-store"
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path, location.fragment) == (
        "https",
        "shop.example",
        "/paid",
        "top",
    )
    query = parse_qs(location.query)
    assert query["order"] == ["7"] and query["merchant_txn_ref"] == ["order-1"]
    transaction_id = query["transaction_id"][0]
    status = client.http.get(f"{PREFIX}/transaction/status/{transaction_id}", headers=headers(merchant))
    answer = json.loads(status.body)
    assert status.status_code == 200 and answer["transaction_type"] == "CAPTURE"
    assert answer["payment_details"]["card"]["number"] == "400000******3155"
    assert answer["merchant_details"]["merchant_txn_ref"] == "order-1"
    assert bank.merchants.balance(merchant.identity.merchant_id) == 1500

    again = submit(client, url, "complete", shown)  # a double submit of the same page
    assert again.status_code == 410 and "すでに終わっています" in again.body.decode()
    assert submit(client, url, "fail", shown).status_code == 410
    assert client.http.get(page_path(url)).status_code == 410
    assert bank.merchants.balance(merchant.identity.merchant_id) == 1500 and CardTransaction.count() == 1
    # The same reference again: refused before any challenge.
    assert call(client, merchant, "paymentv2", body())[0] == 409


def test_another_merchant_never_sees_the_payment(client, bank, merchant):
    url = started(client, merchant)
    transaction_id = parse_qs(urlsplit(submit(client, url, "complete").headers["Location"]).query)["transaction_id"][0]
    other = bank.merchants.create("Other")
    response = client.http.get(f"{PREFIX}/transaction/status/{transaction_id}", headers=headers(other))
    assert response.status_code == 404


def test_failing_pays_nothing_and_redirects_to_the_decline_url(client, bank, merchant):
    url = started(client, merchant)
    shown = client.http.get(page_path(url))
    response = submit(client, url, "fail", shown)
    assert response.status_code == 303
    assert response.headers["Location"] == f"{DECLINE}?merchant_txn_ref=order-1"
    assert nothing_paid(bank, merchant)
    assert submit(client, url, "complete", shown).status_code == 410
    assert nothing_paid(bank, merchant)


def test_without_return_urls_the_result_page_says_what_happened(client, bank, merchant):
    for ref, outcome, said in (
        ("r-paid", "complete", "お支払いが完了しました"),
        ("r-not", "fail", "行われませんでした"),
    ):
        url = started(client, merchant, body(ref=ref, urls=False))
        response = submit(client, url, outcome)
        assert response.status_code == 303
        location = response.headers["Location"]
        assert location == url + "/result"
        result, html = open_page(client, location)
        assert result.status_code == 200 and said in html and "400000******3155" in html
    assert bank.merchants.balance(merchant.identity.merchant_id) == 1500


def test_a_challenge_expires_after_15_minutes(client, bank, clock, merchant):
    url = started(client, merchant)
    shown = client.http.get(page_path(url))
    assert client.http.get(page_path(url + "/result")).status_code == 409  # not finished yet
    clock.advance(minutes=15)
    response, html = open_page(client, url)
    assert response.status_code == 410 and "有効期限が切れました" in html
    assert submit(client, url, "complete", shown).status_code == 410
    assert client.http.get(page_path(url + "/result")).status_code == 410
    assert nothing_paid(bank, merchant)


def test_the_csrf_token_and_cookie_must_match(client, bank, merchant):
    url = started(client, merchant)
    assert submit(client, url, "complete", cookie=False).status_code == 403
    forged = submit(client, url, "complete", token="forged")
    assert forged.status_code == 403 and "Authenticate" in forged.body.decode()
    assert submit(client, url, "complete", **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert nothing_paid(bank, merchant)
    assert submit(client, url, "complete").status_code == 303  # the page still works


@pytest.mark.parametrize("form", [b"", b"outcome=maybe&csrf_token=x", b"outcome=fail&outcome=complete", b"\xff"])
def test_malformed_forms_are_400(client, bank, merchant, form):
    url = started(client, merchant)
    response = client.http.post(
        page_path(url), headers={"Content-Type": "application/x-www-form-urlencoded"}, body=form
    )
    assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/html")
    assert nothing_paid(bank, merchant)


@pytest.mark.parametrize("path", ["/3ds/challenge/nope", "/3ds/challenge/" + "x" * 200, "/3ds/challenge/nope/result"])
def test_an_unknown_challenge_is_a_404_page(client, path):
    response = client.http.get(path)
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")
    form = client.http.post(path.removesuffix("/result"), body="outcome=complete&csrf_token=x")
    assert form.status_code == 404


def test_framework_errors_on_the_pages_are_in_the_gateways_shape(client):
    response = client.http.put("/3ds/challenge/nope")
    answer = json.loads(response.body)
    assert response.status_code == 405 and response.headers["Allow"]
    assert answer["gateway_response"]["code"] == "ERR0405"


def test_an_idempotent_replay_answers_the_same_challenge(client, bank, merchant):
    first = call(client, merchant, "paymentv2", body(), **{"Idempotency-Key": "v2-key"})
    again = call(client, merchant, "paymentv2", body(), **{"Idempotency-Key": "v2-key"})
    assert first == again and first[0] == 200
    assert ThreeDSChallenge.count() == 1


def test_the_url_follows_the_scheme_and_stage_it_was_called_by(client, merchant):
    url = started(client, merchant, **{"X-Forwarded-Proto": "https"})
    assert url.startswith(f"https://{HOST}/3ds/challenge/")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (body(amount="0"), 422, "ERR0013"),
        ({**body(), "currency": "USD"}, 422, "ERR0422"),
        (body(card={"cvc": "12"}), 422, "ERR0422"),
        (body(card={"expiry_year": "20"}), 422, "ERR0054"),
        (body(number="4000002500003156"), 422, "ERR0586"),
        ({**body(), "return_url": {"success_url": "javascript:alert(1)"}}, 422, "ERR0422"),
        ({**body(), "card_token": "tok_x"}, 422, "ERR0422"),
        ({k: v for k, v in body().items() if k != "card"} | {"card_token": "tok_unknown"}, 422, "ERR0432"),
    ],
)
def test_bad_input_on_v2_is_the_gateways_error_shape(client, bank, merchant, payload, status, code):
    got, answer = call(client, merchant, "paymentv2", payload)
    assert (got, answer["success"], answer["gateway_response"]["code"]) == (status, False, code)
    assert ThreeDSChallenge.count() == 0


def test_malformed_json_and_bad_credentials_on_v2(client, merchant):
    response = client.http.post(f"{PREFIX}/paymentv2", headers=headers(merchant), body="{nope")
    assert (response.status_code, json.loads(response.body)["gateway_response"]["code"]) == (400, "ERR0400")
    response = client.http.post(f"{PREFIX}/paymentv2", headers={"x-api-key": "x"}, body=json.dumps(body()))
    assert response.status_code == 401


def tokenise(client, merchant, number=THREE_D_SECURE):
    card = {"number": number, "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "John Doe"}
    response = client.http.post(
        "/api/v1/tokens",
        headers={"Authorization": f"Bearer {merchant.publishable_key}"},
        body=json.dumps({"card": card}),
    )
    return json.loads(response.body)["token"]


def test_a_card_token_of_the_3ds_card_is_challenged_and_spent(client, bank, merchant):
    token = tokenise(client, merchant)
    payload = {"amount": 700, "currency": "JPY", "card_token": token, "merchant_txn_ref": "t-1"}
    payload["return_url"] = {"success_url": SUCCESS}
    url = started(client, merchant, {**payload, "payment_method": {"type": "scheme", "store_payment_method": True}})
    assert nothing_paid(bank, merchant)
    status, answer = call(client, merchant, "payment", {**payload, "merchant_txn_ref": "t-2"})
    assert (status, answer["gateway_response"]["code"]) == (422, "ERR0432")  # spent by the challenge
    location = submit(client, url, "complete").headers["Location"]
    transaction_id = parse_qs(urlsplit(location).query)["transaction_id"][0]
    paid = json.loads(client.http.get(f"{PREFIX}/transaction/status/{transaction_id}", headers=headers(merchant)).body)
    method_id = paid["transaction_details"]["stored_payment_method_id"]
    assert method_id.startswith("spm_") and bank.merchants.balance(merchant.identity.merchant_id) == 700
    # The stored card asks for 3-D Secure again on v2 (and pays at once on v1).
    stored = {"amount": 300, "currency": "JPY", "merchant_txn_ref": "t-3"}
    stored["payment_method"] = {"type": "scheme", "store_payment_method_id": method_id}
    url = started(client, merchant, stored)
    assert bank.merchants.balance(merchant.identity.merchant_id) == 700
    assert submit(client, url, "complete").status_code == 303
    assert bank.merchants.balance(merchant.identity.merchant_id) == 1000
    assert call(client, merchant, "payment", {**stored, "merchant_txn_ref": "t-4"})[0] == 201


def test_a_card_of_this_bank_never_asks_for_3ds(client, bank, merchant):
    card = bank.issuer.issue("alice", credit_limit=5000)
    mine = {"number": card.number, "expiry_month": card.expiry_month, "expiry_year": card.expiry_year, "cvc": card.cvc}
    status, answer = call(client, merchant, "paymentv2", {**body(), "card": {**mine, "name": "A"}})
    assert (status, answer["transaction_type"]) == (201, "CAPTURE")


def test_a_reference_used_meanwhile_fails_the_challenge_and_pays_once(client, bank, merchant):
    url = started(client, merchant)
    shown = client.http.get(page_path(url))
    assert call(client, merchant, "payment", body("4242424242424242"))[0] == 201  # the same ref, meanwhile
    response = submit(client, url, "complete", shown)
    assert response.status_code == 303 and response.headers["Location"] == f"{DECLINE}?merchant_txn_ref=order-1"
    assert bank.merchants.balance(merchant.identity.merchant_id) == 1500 and CardTransaction.count() == 1
    assert submit(client, url, "complete", shown).status_code == 410


def test_with_query_keeps_the_query_and_the_fragment():
    assert with_query("https://a.example/p", x="1") == "https://a.example/p?x=1"
    assert with_query("https://a.example/p?y=2&z=#f", x="a b&c") == "https://a.example/p?y=2&z=&x=a+b%26c#f"


def test_basic_credentials_in_base64_work_on_v2_too(client, merchant):
    basic = base64.b64encode(f"{merchant.api_key}:".encode()).decode()
    response = client.http.post(
        f"{PREFIX}/paymentv2",
        headers={"Authorization": f"Basic {basic}", "x-api-key": merchant.api_key},
        body=json.dumps(body()),
    )
    assert response.status_code == 200
    assert json.loads(response.body)["url"].startswith("http://localhost/3ds/challenge/")  # no Host: localhost


def test_a_fail_that_wins_a_race_with_complete_leaves_nothing_paid(client, bank, merchant, monkeypatch):
    """Complete reads the challenge pending; a fail lands before its payment's transaction: the transaction's
    condition on the challenge refuses the payment, and its retry sees the challenge failed."""
    url = started(client, merchant)
    challenge_id = url.rsplit("/", 1)[1]
    challenges = bank.challenges
    real_pending = type(challenges).pending
    raced = []

    def pending_then_failed(self, challenge_id):
        item = real_pending(self, challenge_id)
        if not raced:
            raced.append(True)
            challenges.fail(challenge_id)  # the other tab's submit, between our read and our write
        return item

    monkeypatch.setattr(type(challenges), "pending", pending_then_failed)
    with pytest.raises(ChallengeFinished) as finished:
        challenges.complete(challenge_id)
    assert finished.value.challenge.status == "failed"
    assert nothing_paid(bank, merchant)


def test_two_completes_pay_once(client, bank, merchant, monkeypatch):
    url = started(client, merchant)
    challenge_id = url.rsplit("/", 1)[1]
    challenges = bank.challenges
    real_pending = type(challenges).pending
    first = []

    def pending_then_completed(self, challenge_id):
        item = real_pending(self, challenge_id)
        if not first:
            first.append(None)
            first[0] = challenges.complete(challenge_id)  # the other submit wins
        return item

    monkeypatch.setattr(type(challenges), "pending", pending_then_completed)
    with pytest.raises(ChallengeFinished):
        challenges.complete(challenge_id)
    assert first[0].status == "completed"
    assert bank.merchants.balance(merchant.identity.merchant_id) == 1500 and CardTransaction.count() == 1
