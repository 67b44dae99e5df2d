"""infra/ and the pynamodb models describe the same tables; the packaged template adds what the API needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cfnlint.api import lint_file

from chalicelib.store.models import ALL_MODELS
from chalicelib.store.tables import AWS_STAGES, package_template, tables_template

ROOT = Path(__file__).resolve().parents[2]
TABLES = ROOT / "infra" / "tables.json"
PACKAGE = ROOT / "infra" / "template.json"
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())


@pytest.mark.parametrize(("path", "generate"), [(TABLES, tables_template), (PACKAGE, package_template)])
def test_infra_is_generated_from_the_models(path, generate):
    assert json.loads(path.read_text()) == generate(), "run `make infra` and commit the result"


def test_every_model_has_a_durable_on_demand_table():
    every = json.loads(TABLES.read_text())["Resources"]
    resources = {name: r for name, r in every.items() if r["Type"] == "AWS::DynamoDB::Table"}
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
        assert props["SSESpecification"] == {"SSEEnabled": True}
        assert props["DeletionProtectionEnabled"] is True
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_the_webhook_queue_is_the_stages_and_outlasts_its_function():
    (queue,) = [r for r in json.loads(TABLES.read_text())["Resources"].values() if r["Type"] == "AWS::SQS::Queue"]
    properties = queue["Properties"]
    # The name the stage's functions are configured with, and the SQS event source's queue.
    assert properties["QueueName"] == {"Fn::Sub": "bank-${BankStage}-webhooks"}
    for stage in AWS_STAGES:
        config = CONFIG["stages"][stage]
        assert config["environment_variables"]["BANK_WEBHOOK_QUEUE"] == f"bank-{stage}-webhooks"
        assert properties["VisibilityTimeout"] >= 6 * config["lambda_functions"]["deliver_webhooks"]["lambda_timeout"]
    assert properties["SqsManagedSseEnabled"] is True


def test_holds_expire_through_ttl_on_purge_at():
    resources = json.loads(TABLES.read_text())["Resources"]
    assert resources["HoldsTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "purge_at",
        "Enabled": True,
    }


def test_stage_parameter_allows_exactly_the_stages_with_a_policy():
    with_policy = {name for name, stage in CONFIG["stages"].items() if "iam_policy_file" in stage}
    assert set(AWS_STAGES) == with_policy
    for path in (TABLES, PACKAGE):
        parameter = json.loads(path.read_text())["Parameters"]["BankStage"]
        assert parameter["AllowedValues"] == list(AWS_STAGES) and parameter["Default"] == "prod"


def test_packaged_template_holds_the_tables_and_points_the_function_at_them():
    tables = json.loads(TABLES.read_text())
    package = json.loads(PACKAGE.read_text())
    assert tables["Resources"].items() <= package["Resources"].items()
    # The names `chalice deploy` uses too (functions <app>-<stage>[-<name>], tables <prefix><table>), per stage.
    for logical_id, suffix in (
        ("APIHandler", ""),
        ("DeliverWebhooks", "-deliver_webhooks"),
        ("SweepWebhooks", "-sweep_webhooks"),
        ("AuditLedger", "-audit_ledger"),
    ):
        function = package["Resources"][logical_id]["Properties"]
        assert function["FunctionName"] == {"Fn::Sub": CONFIG["app_name"] + "-${BankStage}" + suffix}
        assert function["Environment"]["Variables"] == {
            "BANK_STAGE": {"Ref": "BankStage"},
            "BANK_TABLE_PREFIX": {"Fn::Sub": "bank-${BankStage}-"},
            "BANK_WEBHOOK_QUEUE": {"Fn::Sub": "bank-${BankStage}-webhooks"},
        }
    for stage in AWS_STAGES:
        assert CONFIG["stages"][stage]["environment_variables"]["BANK_TABLE_PREFIX"] == f"bank-{stage}-"


def test_api_gateway_answers_in_the_apps_json():
    responses = json.loads(PACKAGE.read_text())["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == "404"
    assert json.loads(missing["ResponseTemplates"]["application/json"]) == {"error": "not found"}
    server_error = responses["DEFAULT_5XX"]
    assert "StatusCode" not in server_error  # 502, 504... keep their status
    assert json.loads(server_error["ResponseTemplates"]["application/json"]) == {"error": "internal server error"}


def test_tables_template_passes_cfn_lint():
    # The packaged template, tables included, is linted by tests/unit/test_packaging.py.
    assert [str(match) for match in lint_file(TABLES)] == []
