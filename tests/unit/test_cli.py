"""The operator CLI prints JSON and works on the stage's tables."""

from __future__ import annotations

import hashlib
import json

import pytest

from chalicelib import cli
from chalicelib.store.models import App


@pytest.fixture
def run_cli(moto_db, monkeypatch, capsys):
    config = json.loads((cli.PROJECT_DIR / ".chalice" / "config.json").read_text())
    for name in config["stages"]["local"]["environment_variables"]:
        # setenv first records the variable's state, so what the CLI sets is undone after the test.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    # The shell's variables win over the stage's: here, no endpoint (moto) and a table prefix of our own.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "")
    monkeypatch.setenv("BANK_TABLE_PREFIX", "cli-test-")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def run(*argv):
        code = cli.main(["--stage", "local", *argv])
        out, err = capsys.readouterr()
        return code, json.loads(out or err)

    assert run("tables", "create")[0] == 0
    return run


def test_operator_flow(run_cli):
    code, app = run_cli("app", "create", "--name", "Exchange")
    assert code == 0 and len(app["app_id"]) >= 40
    assert App.get(hashlib.sha256(app["app_id"].encode()).hexdigest()).name == "Exchange"
    assert run_cli("user", "create", "--bank-id", "erin")[0] == 0
    assert run_cli("credit", "add", "--bank-id", "erin", "--amount", "1200") == (
        0,
        {"bank_id": "erin", "balance": 1200, "available": 1200},
    )
    assert run_cli("balance", "--bank-id", "erin") == (
        0,
        {"bank_id": "erin", "balance": 1200, "available": 1200, "held": 0},
    )


def test_errors_are_json_with_a_failing_exit_code(run_cli):
    assert run_cli("balance", "--bank-id", "nobody") == (1, {"error": "AccountNotFound"})
    assert run_cli("credit", "add", "--bank-id", "nobody", "--amount", "-5") == (1, {"error": "InvalidRequest"})
