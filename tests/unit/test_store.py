"""The storage layer's own attribute types keep the stored format of the pynamodb types they replace."""

from __future__ import annotations

import boto3
import pytest
from pynamodb.attributes import MapAttribute
from pynamodb.expressions.condition import size

from chalicelib.store import tables
from chalicelib.store.models import Account, AmountMap, Posting
from tests.conftest import make_services

HELD = {"1795403100": 300, "1795403102": 0, "1795403161": 1_000_000_000_000}


def test_amount_map_is_stored_as_a_raw_map_attribute_stores_it():
    assert AmountMap().serialize(HELD) == MapAttribute().serialize(HELD)
    assert AmountMap().serialize({}) == MapAttribute().serialize({}) == {}


def test_amount_map_reads_back_what_a_raw_map_attribute_reads():
    stored = MapAttribute().serialize(HELD)
    assert AmountMap().deserialize(stored) == MapAttribute().deserialize(stored) == HELD
    assert all(type(amount) is int for amount in AmountMap().deserialize(stored).values())


def test_a_held_bucket_is_a_document_path_into_the_map():
    names: dict = {}
    values: dict = {}
    condition = (Account.held["1795403100"] >= 5) & (size(Account.held) < 400)
    assert condition.serialize(names, values) == "(#0.#1 >= :0 AND size (#0) < :1)"
    assert names == {"held": "#0", "1795403100": "#1"}
    assert values == {":0": {"N": "5"}, ":1": {"N": "400"}}


def test_an_account_without_holds_reads_an_empty_map():
    account = Account.from_raw_data({"account_id": {"S": "a"}, "held": {"M": {}}})
    assert account.held == {}
    assert Account("b").held == {}


def test_a_table_with_an_older_key_is_refused_by_name(moto_db, clock):
    services = make_services(clock)
    Posting.delete_table()
    boto3.client("dynamodb").create_table(
        TableName=Posting.Meta.table_name,
        KeySchema=[
            {"AttributeName": "account_id", "KeyType": "HASH"},
            {"AttributeName": "posting_key", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "account_id", "AttributeType": "S"},
            {"AttributeName": "posting_key", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(tables.StaleTable, match=f"{Posting.Meta.table_name} has the key .*posting_key.*delete it"):
        tables.create_tables()
    assert services.settings.table_prefix in Posting.Meta.table_name
