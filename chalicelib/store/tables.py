"""Binding the models to a stage's tables, creating them, and describing them for CloudFormation.

The models are the one source of truth: `infra/tables.json` is generated from them
(`python -m chalicelib.store.tables > infra/tables.json`) and a test checks it is up to date.
"""

from __future__ import annotations

import json

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib.settings import Settings
from chalicelib.store.models import ALL_MODELS, reset_connections

_BASE_NAMES = {model: model.Meta.table_name for model in ALL_MODELS}


def configure(settings: Settings) -> None:
    """Point every model at this stage's tables. Cheap: no network until first use."""
    for model, base in _BASE_NAMES.items():
        model.Meta.table_name = settings.table_prefix + base
        model.Meta.region = settings.region
    reset_connections()


def create_tables() -> list[str]:
    """Create the missing tables (idempotent); returns the names created."""
    created = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(wait=True)
            created.append(model.Meta.table_name)
    return created


def _ttl_attribute(model: type[Model]) -> str | None:
    names = [name for name, attr in model.get_attributes().items() if isinstance(attr, TTLAttribute)]
    return names[0] if names else None


def _logical_id(base: str) -> str:
    return "".join(part.capitalize() for part in base.split("_")) + "Table"


def cloudformation_template() -> dict:
    """The tables as a CloudFormation template to merge into `chalice package` output."""
    resources = {}
    for model, base in _BASE_NAMES.items():
        schema = model._get_schema()
        properties = {
            "TableName": {"Fn::Sub": "bank-${BankStage}-" + base},
            "BillingMode": "PAY_PER_REQUEST",
            # pynamodb's schema is already in CloudFormation's words (AttributeName, KeyType, ...).
            "AttributeDefinitions": schema["attribute_definitions"],
            "KeySchema": schema["key_schema"],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "DeletionProtectionEnabled": True,
        }
        ttl = _ttl_attribute(model)
        if ttl:
            properties["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
        resources[_logical_id(base)] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": properties,
        }
    return {
        "Parameters": {"BankStage": {"Type": "String", "Default": "prod", "AllowedPattern": "[a-z0-9-]+"}},
        "Resources": resources,
    }


if __name__ == "__main__":
    print(json.dumps(cloudformation_template(), indent=2, ensure_ascii=False))
