"""Binding the models to a stage's tables, creating them, and describing them for CloudFormation.

The models are the one source of truth for infra/ (`make infra`; a test checks both files are current):
- `infra/tables.json`: the tables alone, a stack of their own (for `chalice deploy`);
- `infra/template.json`: the tables and what the API needs besides, merged into `chalice package`'s SAM
  template by `make package`.
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


class StaleTable(Exception):
    """A table exists with another key than its model's (made by an older release)."""


def _keys(schema: dict) -> list[tuple[str, str]]:
    return sorted((key["AttributeName"], key["KeyType"]) for key in schema)


def create_tables() -> list[str]:
    """Create the missing tables (idempotent); returns the names created. An existing table whose key
    differs from its model's is StaleTable: writing to it would fail on every call."""
    created = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(wait=True)
            created.append(model.Meta.table_name)
            continue
        existing, wanted = (
            _keys(model._get_connection().describe_table()["KeySchema"]),
            _keys(model._get_schema()["key_schema"]),
        )
        if existing != wanted:
            raise StaleTable(
                f"table {model.Meta.table_name} has the key {existing}, not {wanted} (made by an older release):"
                " delete it"
            )
    return created


def _ttl_attribute(model: type[Model]) -> str | None:
    names = [name for name, attr in model.get_attributes().items() if isinstance(attr, TTLAttribute)]
    return names[0] if names else None


def _logical_id(base: str) -> str:
    return "".join(part.capitalize() for part in base.split("_")) + "Table"


# The stages that have an IAM policy (.chalice/policy-<stage>.json) naming their tables.
AWS_STAGES = ("dev", "prod")
# Logical ids of `chalice package`'s API function and REST API.
API_FUNCTION = "APIHandler"
WEBHOOK_DELIVERY_FUNCTION, WEBHOOK_SWEEP_FUNCTION = "DeliverWebhooks", "SweepWebhooks"
AUDIT_FUNCTION = "AuditLedger"
REST_API = "RestAPI"


# The queue webhook deliveries wait in (`webhook_jobs.deliver_webhooks` drains it). Its visibility timeout
# outlasts that function's timeout six times over, as AWS advises for SQS event sources.
WEBHOOK_QUEUE = {
    "Type": "AWS::SQS::Queue",
    "Properties": {
        "QueueName": {"Fn::Sub": "bank-${BankStage}-webhooks"},
        "VisibilityTimeout": 180,
        "MessageRetentionPeriod": 4 * 24 * 3600,
        "SqsManagedSseEnabled": True,
    },
}


def tables_template() -> dict:
    """The tables, named `bank-<BankStage>-<table>`, and the webhook queue, as a CloudFormation template."""
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
        if schema["global_secondary_indexes"]:
            properties["GlobalSecondaryIndexes"] = [
                {"IndexName": index["index_name"], "KeySchema": index["key_schema"], "Projection": index["projection"]}
                for index in schema["global_secondary_indexes"]
            ]
        ttl = _ttl_attribute(model)
        if ttl:
            properties["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
        resources[_logical_id(base)] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": properties,
        }
    resources["WebhookQueue"] = WEBHOOK_QUEUE
    stage = {
        "Type": "String",
        "Default": "prod",
        "AllowedValues": list(AWS_STAGES),
        "Description": "Stage: names the tables bank-<stage>-* (and, packaged, the function bank-<stage>)",
    }
    return {"Parameters": {"BankStage": stage}, "Resources": resources}


# API Gateway's own answers carry its request id too, as the app's do (X-Request-Id).
REQUEST_ID = {"Headers": {"X-Request-Id": "context.requestId"}}


def _json_error(message: str) -> dict:
    return {"application/json": json.dumps({"error": message})}


def package_template() -> dict:
    """The template `make package` has `chalice package` deep-merge into its SAM template: the tables and

    - the API function's name, `bank-<BankStage>` (as `chalice deploy` names it), so that its IAM policy
      can name its own log group; and its stage, table prefix and webhook queue from BankStage, so that it
      uses the tables of its own stack. The webhook and audit functions likewise (`bank-<BankStage>-<name>`).
      BankStage must be the stage packaged: another stage's policy names other
      tables, and every call would be denied;
    - API Gateway's own answers in the app's JSON: a path or method without a route is 404
      `{"error": "not found"}` instead of 403 "Missing Authentication Token", and its own 5xx (the
      function crashed or timed out) keep their status with `{"error": "internal server error"}`. They
      are the SAM API's `GatewayResponses`, so part of its definition: standalone
      AWS::ApiGateway::GatewayResponse resources are dropped whenever SAM redeploys the definition
      (aws/serverless-application-model#390, #623).
    """
    template = tables_template()
    environment = {
        "Variables": {
            "BANK_STAGE": {"Ref": "BankStage"},
            "BANK_TABLE_PREFIX": {"Fn::Sub": "bank-${BankStage}-"},
            "BANK_WEBHOOK_QUEUE": {"Fn::Sub": "bank-${BankStage}-webhooks"},
        }
    }
    template["Resources"] = {
        API_FUNCTION: {"Properties": {"FunctionName": {"Fn::Sub": "bank-${BankStage}"}, "Environment": environment}},
        WEBHOOK_DELIVERY_FUNCTION: {
            # Its SQS event source names the queue by ARN: without this, CloudFormation could make it first.
            "DependsOn": ["WebhookQueue"],
            "Properties": {
                "FunctionName": {"Fn::Sub": "bank-${BankStage}-deliver_webhooks"},
                "Environment": environment,
            },
        },
        WEBHOOK_SWEEP_FUNCTION: {
            "Properties": {"FunctionName": {"Fn::Sub": "bank-${BankStage}-sweep_webhooks"}, "Environment": environment}
        },
        AUDIT_FUNCTION: {
            "Properties": {"FunctionName": {"Fn::Sub": "bank-${BankStage}-audit_ledger"}, "Environment": environment}
        },
        REST_API: {
            "Properties": {
                "GatewayResponses": {
                    "MISSING_AUTHENTICATION_TOKEN": {
                        "StatusCode": "404",
                        "ResponseParameters": REQUEST_ID,
                        "ResponseTemplates": _json_error("not found"),
                    },
                    "DEFAULT_5XX": {
                        "ResponseParameters": REQUEST_ID,
                        "ResponseTemplates": _json_error("internal server error"),
                    },
                }
            }
        },
        **template["Resources"],
    }
    return template


TEMPLATES = {"tables": tables_template, "package": package_template}


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2 or sys.argv[1] not in TEMPLATES:
        sys.exit("usage: python -m chalicelib.store.tables {tables|package}")
    print(json.dumps(TEMPLATES[sys.argv[1]](), indent=2, ensure_ascii=False))
