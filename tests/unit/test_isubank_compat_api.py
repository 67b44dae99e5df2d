"""The contest-compatibility switch: operator routes and admission of unknown app ids."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client

from chalicelib.api import build_app
from chalicelib.store.models import App
from tests.conftest import make_services


@pytest.fixture
def client(moto_db, clock, tmp_path):
    services = make_services(clock, contest_compat=True)
    with Client(build_app(services), project_dir=str(tmp_path)) as client:
        yield client


def post(client, path, body, headers=None):
    response = client.http.post(path, headers=headers or {}, body=json.dumps(body))
    return response.status_code, json.loads(response.body)


def test_register_add_credit_and_read_credit(client):
    assert post(client, "/register", {"bank_id": "dave"}) == (200, {})
    assert post(client, "/register", {"bank_id": "dave"}) == (400, {"error": "bank_id already exists"})
    assert post(client, "/add_credit", {"bank_id": "dave", "price": 500}) == (200, {})
    response = client.http.get("/credit?bank_id=dave")
    assert (response.status_code, json.loads(response.body)) == (200, {"credit": 500})


@pytest.mark.parametrize("price", [0, -1, "5", 1.5, None, True, 10**13])
def test_add_credit_refuses_bad_prices(client, price):
    post(client, "/register", {"bank_id": "dave"})
    assert post(client, "/add_credit", {"bank_id": "dave", "price": price}) == (400, {"error": "paramater invalid"})


def test_unknown_bank_id(client):
    assert post(client, "/add_credit", {"bank_id": "nobody", "price": 1}) == (404, {"error": "bank_id not found"})
    response = client.http.get("/credit?bank_id=nobody")
    assert (response.status_code, json.loads(response.body)) == (404, {"error": "bank_id not found"})
    response = client.http.get("/credit")
    assert (response.status_code, json.loads(response.body)) == (400, {"error": "paramater invalid"})


@pytest.mark.parametrize("query", ["bank_id=", "bank_id=" + "x" * 129, "other=alice"])
def test_credit_refuses_a_bad_bank_id(client, query):
    response = client.http.get(f"/credit?{query}")
    assert (response.status_code, json.loads(response.body)) == (400, {"error": "paramater invalid"})


def test_credit_reads_a_bank_id_of_the_longest_length(client):
    response = client.http.get("/credit?bank_id=" + "x" * 128)
    assert (response.status_code, json.loads(response.body)) == (404, {"error": "bank_id not found"})


def test_unknown_app_id_is_registered_on_first_use(client):
    post(client, "/register", {"bank_id": "dave"})
    headers = {"Authorization": "Bearer brand-new-app"}
    assert post(client, "/check", {"bank_id": "dave", "price": 0}, headers) == (200, {})
    assert post(client, "/check", {"bank_id": "dave", "price": 0}, headers) == (200, {})
    apps = list(App.scan())
    assert len(apps) == 1 and apps[0].auto_registered
    assert "brand-new-app" not in json.dumps([a.attribute_values for a in apps], default=str)


def test_missing_app_id_is_still_refused(client):
    assert post(client, "/check", {"bank_id": "dave", "price": 0}) == (401, {"error": "app_id not found"})
