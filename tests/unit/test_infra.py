"""infra/ and the pynamodb models describe the same tables."""

from __future__ import annotations

import json
from pathlib import Path

from chalicelib.store.models import ALL_MODELS
from chalicelib.store.tables import cloudformation_template

INFRA = Path(__file__).resolve().parents[2] / "infra" / "tables.json"


def test_infra_tables_are_generated_from_the_models():
    assert json.loads(INFRA.read_text()) == cloudformation_template(), "run `make infra` and commit the result"


def test_every_model_has_a_durable_on_demand_table():
    resources = json.loads(INFRA.read_text())["Resources"]
    assert len(resources) == len(ALL_MODELS)
    for model in ALL_MODELS:
        name = model.Meta.table_name.split("-")[-1]
        table = next(r for r in resources.values() if r["Properties"]["TableName"]["Fn::Sub"].endswith("-" + name))
        props = table["Properties"]
        keys = {k["AttributeName"]: k["KeyType"] for k in props["KeySchema"]}
        assert keys == {
            attr.attr_name: "HASH" if attr.is_hash_key else "RANGE"
            for attr in model.get_attributes().values()
            if attr.is_hash_key or attr.is_range_key
        }
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionPolicy"] == "Retain"


def test_holds_expire_through_ttl_on_purge_at():
    resources = json.loads(INFRA.read_text())["Resources"]
    assert resources["HoldsTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "purge_at",
        "Enabled": True,
    }
