"""`make package` builds a prod stack that passes cfn-lint: the app, the tables, the JSON gateway responses,
and the API function's role carrying exactly .chalice/policy-prod.json.

`chalice package` downloads the Lambda wheels from PyPI the first time (then it reuses the package it
cached in .chalice/deployments/), hence the `packaging` marker: `-m "not packaging"` skips it offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chalicelib.store.tables import tables_template

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
PROD = CONFIG["stages"]["prod"]
MIB = 1024 * 1024

pytestmark = pytest.mark.packaging


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("package") / "prod"
    # As `make package` does (the region only picks the partition; conftest sets ap-northeast-1).
    command = [
        str(BIN / "chalice"),
        "package",
        "--stage",
        "prod",
        "--merge-template",
        str(ROOT / "infra" / "template.json"),
        str(out),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def template(packaged) -> dict:
    return json.loads((packaged / "sam.json").read_text())


def test_cfn_lint_passes(packaged):
    # No rule is ignored: any finding, error, warning or informational, fails.
    result = subprocess.run(
        [str(BIN / "cfn-lint"), str(packaged / "sam.json")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_tables_are_in_the_stack(template):
    resources = template["Resources"]
    for logical_id, resource in tables_template()["Resources"].items():
        assert resources[logical_id] == resource  # the tables, and the webhook queue
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        props = resources[logical_id]["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}
        assert props["DeletionProtectionEnabled"] is True
        assert resources[logical_id]["DeletionPolicy"] == resources[logical_id]["UpdateReplacePolicy"] == "Retain"
    assert resources["HoldsTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "purge_at",
        "Enabled": True,
    }
    assert template["Parameters"]["BankStage"]["Default"] == "prod"


def test_api_gateway_answers_json_for_paths_without_a_route(template):
    api = template["Resources"]["RestAPI"]
    # SAM turns GatewayResponses into the definition's x-amazon-apigateway-gateway-responses: inline only.
    assert api["Type"] == "AWS::Serverless::Api" and "DefinitionBody" in api["Properties"]
    responses = api["Properties"]["GatewayResponses"]
    request_id = {"Headers": {"X-Request-Id": "context.requestId"}}
    assert responses["MISSING_AUTHENTICATION_TOKEN"] == {
        "StatusCode": "404",
        "ResponseParameters": request_id,
        "ResponseTemplates": {"application/json": '{"error": "not found"}'},
    }
    assert responses["DEFAULT_5XX"] == {
        "ResponseParameters": request_id,
        "ResponseTemplates": {"application/json": '{"error": "internal server error"}'},
    }


ENVIRONMENT = {
    "BANK_STAGE": {"Ref": "BankStage"},
    "BANK_TABLE_PREFIX": {"Fn::Sub": "bank-${BankStage}-"},
    "BANK_WEBHOOK_QUEUE": {"Fn::Sub": "bank-${BankStage}-webhooks"},
    "BANK_CONTEST_COMPAT": "0",
}


def test_the_api_function(template):
    functions = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert sorted(functions) == ["APIHandler", "AuditLedger", "DeliverWebhooks", "SweepWebhooks"]
    props = functions["APIHandler"]["Properties"]
    # Chalice deploys on the Python it runs on.
    assert props["Runtime"] == f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert props["Handler"] == "app.app"
    assert props["MemorySize"] == PROD["lambda_memory_size"] >= 512
    # Below API Gateway's 29 s integration timeout: the function answers (or stops) before the gateway gives up.
    assert props["Timeout"] == PROD["lambda_timeout"] < 29
    assert props["FunctionName"] == {"Fn::Sub": "bank-${BankStage}"}
    assert props["Environment"]["Variables"] == ENVIRONMENT


def test_the_webhook_functions(template):
    resources = template["Resources"]
    for logical_id, name in (("DeliverWebhooks", "deliver_webhooks"), ("SweepWebhooks", "sweep_webhooks")):
        props = resources[logical_id]["Properties"]
        # Lambda imports app.py and calls this name of it: it must be there, on the stage packaged.
        assert props["Handler"] == f"app.{name}"
        assert props["FunctionName"] == {"Fn::Sub": f"bank-${{BankStage}}-{name}"}
        assert props["Environment"]["Variables"] == ENVIRONMENT
        assert props["Timeout"] == PROD["lambda_functions"][name]["lambda_timeout"]
    (source,) = resources["DeliverWebhooks"]["Properties"]["Events"].values()
    queue_arn = "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:bank-prod-webhooks"
    assert source["Type"] == "SQS" and source["Properties"]["Queue"] == {"Fn::Sub": queue_arn}
    assert resources["DeliverWebhooks"]["DependsOn"] == ["WebhookQueue"]
    assert source["Properties"]["BatchSize"] == 1
    (schedule,) = resources["SweepWebhooks"]["Properties"]["Events"].values()
    assert schedule["Type"] == "Schedule"
    assert resources["WebhookQueue"]["Properties"]["QueueName"] == {"Fn::Sub": "bank-${BankStage}-webhooks"}


def test_the_audit_function(template):
    props = template["Resources"]["AuditLedger"]["Properties"]
    config = PROD["lambda_functions"]["audit_ledger"]
    assert props["Handler"] == "app.audit_ledger"
    assert props["FunctionName"] == {"Fn::Sub": "bank-${BankStage}-audit_ledger"}
    assert props["Environment"]["Variables"] == ENVIRONMENT
    # The whole ledger read in one run: Lambda's longest timeout, and a full vCPU for the checks.
    assert props["Timeout"] == config["lambda_timeout"] == 900
    assert props["MemorySize"] == config["lambda_memory_size"]
    (schedule,) = props["Events"].values()
    assert schedule["Type"] == "Schedule" and schedule["Properties"]["Schedule"] == "cron(0 18 * * ? *)"


def test_every_function_exists_in_app_py_on_the_packaged_stage(monkeypatch):
    import importlib

    monkeypatch.setenv("BANK_WEBHOOK_QUEUE", "bank-prod-webhooks")
    module = importlib.reload(importlib.import_module("app"))
    assert callable(module.deliver_webhooks) and callable(module.sweep_webhooks) and callable(module.audit_ledger)


@pytest.mark.parametrize(
    ("function", "role", "policy_file"),
    [
        ("APIHandler", "ApiHandlerRole", PROD["iam_policy_file"]),
        ("DeliverWebhooks", "DeliverWebhooksRole", PROD["lambda_functions"]["deliver_webhooks"]["iam_policy_file"]),
        ("SweepWebhooks", "SweepWebhooksRole", PROD["lambda_functions"]["sweep_webhooks"]["iam_policy_file"]),
        ("AuditLedger", "AuditLedgerRole", PROD["lambda_functions"]["audit_ledger"]["iam_policy_file"]),
    ],
)
def test_each_functions_role_carries_its_prod_policy(template, function, role, policy_file):
    roles = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    # With autogen_policy false, Chalice makes one role per function, named after it (no DefaultRole).
    assert sorted(roles) == ["ApiHandlerRole", "AuditLedgerRole", "DeliverWebhooksRole", "SweepWebhooksRole"]
    assert template["Resources"][function]["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}
    policy = json.loads((ROOT / ".chalice" / policy_file).read_text())
    assert roles[role]["Properties"]["Policies"] == [{"PolicyName": f"{role}Policy", "PolicyDocument": policy}]
    assert roles[role]["Properties"].keys() == {"AssumeRolePolicyDocument", "Policies"}


def test_the_deployment_package(packaged):
    path = packaged / "deployment.zip"
    with zipfile.ZipFile(path) as package:
        names = package.namelist()
        unzipped = sum(info.file_size for info in package.infolist())
    assert "app.py" in names and "chalicelib/store/tables.py" in names
    assert not [name for name in names if name.startswith(("tests/", "local/", "benchmarks/", ".chalice/"))]
    # `chalice deploy` uploads the zip directly (50 MB at most); Lambda takes 250 MB unzipped.
    assert path.stat().st_size < 50 * MIB and unzipped < 250 * MIB
