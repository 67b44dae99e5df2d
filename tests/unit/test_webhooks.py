"""Webhooks on moto: events written with their transactions, delivered to a real local HTTP receiver that
verifies them with `standardwebhooks`, retried on the moved clock, listed, refused for private addresses on
AWS, and queued through SQS (moto) to the Chalice SQS handler."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import boto3
import msgspec
import pytest
from chalice.test import Client
from standardwebhooks.webhooks import Webhook

from chalicelib.api import build_app
from chalicelib.cards import webhooks as webhooks_module
from chalicelib.cards.webhook_delivery import _public, check_url
from chalicelib.services import Services
from chalicelib.store.models import WebhookEvent
from local.webhook_receiver import running
from tests.conftest import settings_for_test
from tests.support.clock import ManualClock

PATH = "/api/v1/server-to-server-interface"
CARD = {"number": "4242424242424242", "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "T"}
DELAYS = (60, 300)


@pytest.fixture
def clock():
    # standardwebhooks checks `webhook-timestamp` against the wall clock (5 minutes either way).
    return ManualClock(datetime.now(UTC))


def make(clock, **settings):
    options = {"webhook_retry_delays": DELAYS, "webhook_private_targets": True, **settings}
    base = msgspec.structs.replace(settings_for_test(), **options)
    services = Services(base, clock=clock)
    from chalicelib.store.tables import create_tables

    create_tables()
    return services


@pytest.fixture
def bank(moto_db, clock):
    return make(clock)


@pytest.fixture
def client(bank, tmp_path):
    with Client(build_app(bank), project_dir=str(tmp_path)) as client:
        yield client


def auth(merchant):
    return {"Authorization": f"Basic {merchant.api_key}", "x-api-key": merchant.api_key}


def call(client, merchant, method, path, body=None):
    send = getattr(client.http, method.lower())
    headers = {**auth(merchant), "Content-Type": "application/json"}
    response = send(f"{PATH}/{path}", headers=headers, body=None if body is None else json.dumps(body))
    return response.status_code, json.loads(response.body)


def pay(client, merchant, ref="order-1", path="payment", **extra):
    return call(
        client,
        merchant,
        "POST",
        path,
        {"amount": 1000, "currency": "JPY", "card": CARD, "merchant_txn_ref": ref, **extra},
    )


def test_a_payment_is_delivered_signed_and_retried_after_a_500_each_attempt_signed_afresh(bank, client, clock):
    with running("whsec_" + base64.b64encode(b"k" * 32).decode(), fail_first=1) as receiver:
        merchant = bank.merchants.create("Shop", webhook_url="http://unused.example/hook")
        secret = merchant.webhook_secret
        receiver.verifier = Webhook(secret)  # the merchant's secret, as `merchant create` printed it
        status, paid = pay(client, merchant, return_url={"webhook_url": receiver.url})  # the payment's own URL
        assert status == 201
        transaction_id = paid["transaction_details"]["id"]
        assert bank.webhooks.due() == [transaction_id]
        assert call(client, merchant, "GET", f"transaction/{transaction_id}/webhooks") == (200, {"attempts": []})

        assert bank.webhooks.deliver(transaction_id) == DELAYS[0]
        first = receiver.wait_for(1, timeout=5)[0]
        assert first["verified"] and first["status"] == 500
        assert bank.webhooks.deliver(transaction_id) == DELAYS[0]  # not due yet: nothing sent
        assert len(receiver.deliveries) == 1
        clock.advance(seconds=DELAYS[0])
        assert bank.webhooks.deliver(transaction_id) is None  # delivered
        first, second = receiver.wait_for(2, timeout=5)
        assert second["verified"] and second["status"] == 200

    # One event: the same id and body every time, its own timestamp each attempt.
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert first["body"] == second["body"]
    assert int(second["headers"]["webhook-timestamp"]) - int(first["headers"]["webhook-timestamp"]) == DELAYS[0]
    assert first["headers"]["webhook-signature"] != second["headers"]["webhook-signature"]
    assert second["event"]["type"] == "transaction.capture"
    assert second["event"]["data"] == paid
    assert "cvc" not in second["body"].decode() and CARD["number"] not in second["body"].decode()

    status, listed = call(client, merchant, "GET", f"transaction/{transaction_id}/webhooks")
    assert status == 200
    failed, delivered = listed["attempts"]
    assert failed["status_code"] == 500 and delivered["status_code"] == 200
    assert failed["event_id"] == delivered["event_id"] == first["headers"]["webhook-id"]
    assert failed["next_attempt_at"] == delivered["attempted_at"] and delivered["next_attempt_at"] is None
    assert bank.webhooks.due() == [] and bank.webhooks.deliver(transaction_id) is None  # nothing more


def test_captures_refunds_and_voids_each_send_their_own_event_to_the_payments_url(bank, client, clock):
    with running("whsec_" + base64.b64encode(b"k" * 32).decode()) as receiver:
        merchant = bank.merchants.create("Shop", webhook_url=receiver.url)  # the merchant's default URL
        receiver.verifier = Webhook(merchant.webhook_secret)
        _, authorised = pay(client, merchant, "a-1", path="authorization")
        _, captured = call(
            client, merchant, "POST", "capture", {"transactionId": authorised["transaction_details"]["id"]}
        )
        _, refunded = call(
            client,
            merchant,
            "POST",
            "refund",
            {"transactionId": authorised["transaction_details"]["id"], "amount": 100},
        )
        _, other = pay(client, merchant, "a-2", path="authorization")
        _, voided = call(client, merchant, "POST", "void", {"transactionId": other["transaction_details"]["id"]})
        ids = [answer["transaction_details"]["id"] for answer in (authorised, captured, refunded, other, voided)]
        assert sorted(bank.webhooks.due()) == sorted(ids)
        for transaction_id in ids:
            assert bank.webhooks.deliver(transaction_id) is None
        deliveries = receiver.wait_for(5, timeout=5)
    assert all(delivery["verified"] for delivery in deliveries)
    assert [delivery["event"]["type"] for delivery in deliveries] == [
        "transaction.pre_auth",
        "transaction.capture",
        "transaction.refund",
        "transaction.pre_auth",
        "transaction.void",
    ]
    assert [delivery["event"]["data"]["transaction_details"]["id"] for delivery in deliveries] == ids
    assert len({delivery["headers"]["webhook-id"] for delivery in deliveries}) == 5


def test_no_webhook_url_no_event_and_the_listing_is_the_merchants_own(bank, client):
    merchant = bank.merchants.create("Shop")
    other = bank.merchants.create("Other")
    _, paid = pay(client, merchant)
    transaction_id = paid["transaction_details"]["id"]
    assert bank.webhooks.due() == [] and WebhookEvent.count() == 0
    assert call(client, merchant, "GET", f"transaction/{transaction_id}/webhooks") == (200, {"attempts": []})
    for who, path in ((other, transaction_id), (merchant, "no-such-id"), (merchant, "x" * 65)):
        status, body = call(client, who, "GET", f"transaction/{path}/webhooks")
        assert status == 404 and body["gateway_response"]["code"] == "ERR0404"
    response = client.http.get(f"{PATH}/transaction/{transaction_id}/webhooks")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "url", ["ftp://shop.example/hook", "http://", "https://shop.example:99999/hook", "javascript:alert(1)"]
)
def test_a_webhook_url_that_is_not_http_is_refused_with_the_payment(bank, client, url):
    merchant = bank.merchants.create("Shop")
    status, body = pay(client, merchant, return_url={"webhook_url": url})
    assert status == 422 and body["errors"][0]["field"] == "return_url.webhook_url"
    with pytest.raises(ValueError):
        check_url(url)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # instance metadata
        ("100.64.0.1", False),  # shared address space
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
    ],
)
def test_which_addresses_count_as_public(address, public):
    assert _public(address) is public


def test_on_aws_a_private_address_is_never_contacted(moto_db, clock, tmp_path):
    bank = make(clock, webhook_private_targets=False)  # as on AWS
    with running("whsec_" + base64.b64encode(b"k" * 32).decode()) as receiver:
        merchant = bank.merchants.create("Shop", webhook_url=receiver.url)  # 127.0.0.1
        with Client(build_app(bank), project_dir=str(tmp_path)) as client:
            _, paid = pay(client, merchant)
            transaction_id = paid["transaction_details"]["id"]
            assert bank.webhooks.deliver(transaction_id) == DELAYS[0]
            _, listed = call(client, merchant, "GET", f"transaction/{transaction_id}/webhooks")
        assert receiver.deliveries == []
    (attempt,) = listed["attempts"]
    assert attempt["status_code"] is None and attempt["next_attempt_at"] is not None
    assert "private" in WebhookEvent.get(transaction_id).attempts[0].error


def test_after_the_last_attempt_the_event_has_failed(bank, client, clock):
    merchant = bank.merchants.create("Shop", webhook_url="http://127.0.0.1:9/closed")  # nothing listens
    _, paid = pay(client, merchant)
    transaction_id = paid["transaction_details"]["id"]
    for delay in DELAYS:
        assert bank.webhooks.deliver(transaction_id) == delay
        clock.advance(seconds=delay)
    assert bank.webhooks.deliver(transaction_id) is None  # the last attempt
    event = WebhookEvent.get(transaction_id)
    assert event.state == "failed" and event.due_shard is None and len(event.attempts) == len(DELAYS) + 1
    assert bank.webhooks.due() == []
    clock.advance(days=2)
    assert bank.webhooks.deliver(transaction_id) is None  # nothing more, ever
    assert len(WebhookEvent.get(transaction_id).attempts) == len(DELAYS) + 1


def test_an_attempt_in_progress_holds_the_event(bank, client, clock):
    merchant = bank.merchants.create("Shop", webhook_url="http://127.0.0.1:9/closed")
    _, paid = pay(client, merchant)
    transaction_id = paid["transaction_details"]["id"]
    event = WebhookEvent.get(transaction_id)
    assert bank.webhooks._claim(event, 0, clock.now())  # another worker claimed it
    assert not bank.webhooks._claim(event, 0, clock.now())  # so no one else can
    assert bank.webhooks.deliver(transaction_id) == webhooks_module.LEASE.seconds  # look again after the lease
    assert WebhookEvent.get(transaction_id).attempts == []


# --- through SQS (moto) ----------------------------------------------------------------------------------


QUEUE = "bank-test-webhooks"


@pytest.fixture
def queued(moto_db, clock):
    sqs = boto3.client("sqs", region_name="ap-northeast-1")
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    return make(clock, webhook_queue=QUEUE), sqs, url


def received(sqs, url):
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [message["Body"] for message in messages]


def delayed(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"])


def test_the_api_queues_the_event_and_the_sqs_function_delivers_it(queued, tmp_path):
    bank, sqs, url = queued
    app = build_app(bank)
    with running("whsec_" + base64.b64encode(b"k" * 32).decode(), fail_first=1) as receiver:
        merchant = bank.merchants.create("Shop", webhook_url=receiver.url)
        receiver.verifier = Webhook(merchant.webhook_secret)
        with Client(app, project_dir=str(tmp_path)) as client:
            _, paid = pay(client, merchant)
            transaction_id = paid["transaction_details"]["id"]
            (body,) = received(sqs, url)
            assert json.loads(body) == {"transaction_id": transaction_id}
            event = client.events.generate_sqs_event(message_bodies=[body], queue_name=QUEUE)
            client.lambda_.invoke("deliver_webhooks", event)
            assert receiver.wait_for(1, timeout=5)[0]["status"] == 500
            # The retry is queued again, delayed (SQS holds it; the function checks it is due when it comes).
            assert delayed(sqs, url) == 1
            client.lambda_.invoke("deliver_webhooks", client.events.generate_sqs_event([body], queue_name=QUEUE))
            assert len(receiver.deliveries) == 1  # came early: queued again, nothing sent
            client.lambda_.invoke("deliver_webhooks", client.events.generate_sqs_event(["not json"], queue_name=QUEUE))


def test_an_event_whose_message_was_lost_is_queued_again_by_the_sweep(queued, clock, tmp_path):
    bank, sqs, url = queued
    merchant = bank.merchants.create("Shop", webhook_url="http://127.0.0.1:9/closed")
    real_send = bank.webhooks.queue.send
    bank.webhooks.queue.send = lambda *args: (_ for _ in ()).throw(ConnectionError("SQS unreachable"))
    app = build_app(bank)
    with Client(app, project_dir=str(tmp_path)) as client:
        status, paid = pay(client, merchant)
        assert status == 201  # the payment stands; its event waits in the table
        bank.webhooks.queue.send = real_send
        assert received(sqs, url) == []
        client.lambda_.invoke("sweep_webhooks", client.events.generate_cw_event("Scheduled Event", "", {}, []))
        assert received(sqs, url) == []  # not overdue yet: its message may still come
        clock.advance(webhooks_module.SWEEP_GRACE + timedelta(seconds=1))
        client.lambda_.invoke("sweep_webhooks", client.events.generate_cw_event("Scheduled Event", "", {}, []))
    assert received(sqs, url) == [json.dumps({"transaction_id": paid["transaction_details"]["id"]})]


def test_a_3ds_payment_announces_itself_when_its_challenge_completes_not_before(bank, client):
    merchant = bank.merchants.create("Shop")
    asks = {**CARD, "number": "4000002500003155"}
    hook = {"webhook_url": "http://127.0.0.1:9/hooks"}
    body = {"amount": 800, "currency": "JPY", "card": asks, "merchant_txn_ref": "3ds-1", "return_url": hook}
    status, challenge = call(client, merchant, "POST", "paymentv2", body)
    assert status == 200 and WebhookEvent.count() == 0  # nothing paid, nothing to announce
    bank.challenges.complete(challenge["redirect_url"].rsplit("/", 1)[-1])
    (event,) = WebhookEvent.scan()
    assert event.url == hook["webhook_url"] and event.event_type == "transaction.capture"
    assert json.loads(event.payload)["data"]["payment_details"]["amount"] == 800
