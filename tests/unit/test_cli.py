"""The operator CLI prints JSON and works on the stage's tables."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from datetime import datetime

import pytest

from chalicelib import cli
from chalicelib.clock import JST
from chalicelib.store.models import (
    Account,
    ApiClient,
    App,
    Branch,
    Customer,
    MemberToken,
    Merchant,
    MerchantKey,
    Posting,
)


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


def test_branches_and_users_on_them(run_cli):
    akihabara = ["--code", "123", "--name", "秋葉原支店", "--name-kana", "アキハバラ"]
    assert run_cli("branch", "create", *akihabara, "--address-code", "131016", "--tel", "0311112222") == (
        0,
        {
            "bank_code": "9999",
            "code": "123",
            "name": "秋葉原支店",
            "name_kana": "アキハバラ",
            "address_code": "131016",
            "tel": "0311112222",
        },
    )
    assert Branch.get("9999", "123").name == "秋葉原支店"
    assert run_cli("branch", "create", *akihabara, "--address-code", "131016", "--tel", "0311112222") == (
        1,
        {"error": "BranchExists"},
    )
    hiragana = ["--code", "124", "--name", "秋葉原支店", "--name-kana", "あきはばら"]
    code, refused = run_cli("branch", "create", *hiragana, "--address-code", "131016", "--tel", "0311112222")
    assert code == 1 and refused["error"] == "InvalidRequest" and "name_kana" in refused["detail"]
    code, user = run_cli("user", "create", "--bank-id", "erin", "--branch", "123")
    assert code == 0 and user["branch"] == "123" and Account.get("erin").branch_code == "123"
    assert run_cli("user", "create", "--bank-id", "frank", "--branch", "124") == (
        1,
        {"error": "BranchNotFound", "detail": "124"},
    )
    assert run_cli("user", "create", "--bank-id", "gina")[1]["branch"] == "001"  # the head office


def test_back_dated_credit(run_cli, monkeypatch):
    run_cli("user", "create", "--bank-id", "erin")
    assert run_cli("credit", "add", "--bank-id", "erin", "--amount", "100", "--at", "2026-01-05T09:00:00")[0] == 0
    assert run_cli("credit", "add", "--bank-id", "erin", "--amount", "100", "--at", "2026-01-05T01:00:00Z")[0] == 0
    assert [p.posted_at for p in Posting.query("erin")] == [
        datetime(2026, 1, 5, 9, tzinfo=JST),  # naive: JST
        datetime(2026, 1, 5, 10, tzinfo=JST),
    ]
    # Before the last posting, or in the future: refused.
    for at in ("2026-01-05T09:59:59+09:00", "2999-01-01T00:00:00+09:00"):
        assert run_cli("credit", "add", "--bank-id", "erin", "--amount", "1", "--at", at) == (
            1,
            {"error": "InvalidRequest"},
        )
    monkeypatch.setenv("BANK_STAGE", "prod")
    code, refused = run_cli("credit", "add", "--bank-id", "erin", "--amount", "1", "--at", "2026-02-01T00:00:00")
    assert code == 1 and refused["error"] == "InvalidRequest" and "local and dev" in refused["detail"]
    assert run_cli("balance", "--bank-id", "erin")[1]["balance"] == 200


def test_client_create_prints_the_password_once_and_stores_its_hash(run_cli):
    code, client = run_cli(
        "client",
        "create",
        "--name",
        "家計簿",
        "--redirect-uri",
        "https://a.example/cb",
        "--redirect-uri",
        "http://localhost:3000/cb",
        "--grants",
        "read",
        "--password-login",
    )
    assert code == 0 and set(client) == {"api_key", "password"}
    stored = ApiClient.get(client["api_key"])
    assert stored.redirect_uris == ["https://a.example/cb", "http://localhost:3000/cb"]
    assert stored.grants == {"read"} and stored.password_login
    assert client["password"] not in stored.password_hash and stored.password_hash.startswith("$argon2id$")
    assert (
        run_cli("client", "create", "--name", "x", "--redirect-uri", "http://evil.example/cb")[1]["error"]
        == "ValueError"
    )
    assert run_cli("client", "create", "--name", "x", "--redirect-uri", "https://a.example/#f")[0] == 1
    assert (
        run_cli("client", "create", "--name", "x", "--redirect-uri", "https://a.example/", "--grants", "admin")[0] == 1
    )


def test_user_create_with_a_password_gives_a_login(run_cli):
    code, user = run_cli("user", "create", "--bank-id", "erin", "--password", "erin-password")
    assert code == 0 and user["login"] is True
    assert Customer.get("erin").password_hash.startswith("$argon2id$")
    assert run_cli("user", "create", "--bank-id", "fay")[1]["login"] is False
    assert Customer.get("fay").password_hash is None


def test_merchant_create_card_issue_and_any_accounts_balance(run_cli):
    code, merchant = run_cli("merchant", "create", "--name", "Tink15 Factory")
    assert code == 0 and set(merchant) == {"merchant_id", "api_key", "publishable_key", "webhook_secret"}
    assert merchant["api_key"] not in json.dumps([key.attribute_values for key in MerchantKey.scan()], default=str)
    # The webhook secret, as Standard Webhooks libraries take it, is kept sealed: never in clear.
    assert merchant["webhook_secret"].startswith("whsec_")
    stored = json.dumps([item.attribute_values for item in Merchant.scan()], default=str)
    assert merchant["webhook_secret"] not in stored and merchant["webhook_secret"][6:] not in stored
    wrong = run_cli("merchant", "create", "--name", "X", "--webhook-url", "ftp://files.example/hook")
    assert wrong[0] != 0 and "http(s)" in wrong[1]["detail"]
    run_cli("user", "create", "--bank-id", "gail")
    code, card = run_cli("card", "issue", "--bank-id", "gail", "--credit-limit", "50000")
    assert code == 0 and set(card) == {"account_id", "number", "expiry_month", "expiry_year", "cvc"}
    assert card["number"].startswith("356999") and len(card["cvc"]) == 3
    code, balance = run_cli("balance", "--account-id", card["account_id"])
    assert (code, balance["balance"], balance["available"], balance["held"], balance["credit_limit"]) == (
        0,
        0,
        50000,
        0,
        50000,
    )
    assert run_cli("card", "issue", "--bank-id", "nobody", "--credit-limit", "5")[1]["error"] == "AccountNotFound"
    assert run_cli("balance", "--bank-id", card["account_id"])[1]["error"] == "AccountNotFound"  # not a bank_id


def test_org_create_member_add_and_settings_create(run_cli):
    code, org = run_cli("org", "create", "--name", "株式会社CLI")
    assert code == 0 and {"org_id", "access_token", "publishable_key"} <= set(org)
    # The first organisation made the service's merchant: its keys, this once.
    assert set(org["service_merchant"]) == {"merchant_id", "api_key", "webhook_secret"}
    code, other = run_cli("org", "create", "--name", "設定なし", "--no-payment-settings")
    assert code == 0 and "service_merchant" not in other and other["publishable_key"] != org["publishable_key"]
    code, member = run_cli("org", "member", "add", "--org-id", org["org_id"], "--name", "経理")
    assert code == 0 and member["access_token"].count("|") == 1
    stored = json.dumps([item.attribute_values for item in MemberToken.scan()], default=str)
    assert member["access_token"].split("|")[1] not in stored  # only its hash
    assert run_cli("org", "settings", "create", "--org-id", other["org_id"]) == (
        0,
        {"org_id": other["org_id"], "payment_settings": True},
    )
    assert run_cli("org", "settings", "create", "--org-id", other["org_id"])[1]["error"] == "SettingsExist"
    assert run_cli("org", "member", "add", "--org-id", "org_nope", "--name", "x")[1]["error"] == "UnknownOrganisation"
    assert run_cli("org", "member", "revoke", "--access-token", member["access_token"]) == (0, {"revoked": True})


def test_audit_reports_as_json_and_exits_2_on_a_finding(run_cli):
    run_cli("user", "create", "--bank-id", "hana")
    run_cli("credit", "add", "--bank-id", "hana", "--amount", "900")
    code, report = run_cli("audit", "--segments", "2")
    assert code == 0 and report["findings"] == [] and report["postings"] == 1
    assert run_cli("audit", "--bank-id", "hana")[1]["accounts"] == 1
    Account("hana").update(actions=[Account.balance.add(5), Account.available.add(5)])
    code, report = run_cli("audit", "--account-id", "hana")
    assert code == 2
    assert report["findings"] == [{"check": "balance", "key": {"account_id": "hana"}, "expected": 900, "found": 905}]
    assert run_cli("audit", "--segments", "0")[1]["error"] == "ValueError"
    assert run_cli("audit", "--segments", "65")[1]["error"] == "ValueError"


def test_audit_shows_a_progress_bar_on_a_terminal_only(run_cli, monkeypatch, capsys):
    run_cli("user", "create", "--bank-id", "kai")
    run_cli("credit", "add", "--bank-id", "kai", "--amount", "300")
    terminal = io.StringIO()
    terminal.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(["--stage", "local", "audit"]) == 0
    report = json.loads(capsys.readouterr().out)
    # The bar ends at the tables' item counts (DynamoDB's): here exactly what was read.
    assert report["findings"] == [] and "audit: 100%" in terminal.getvalue() and " items" in terminal.getvalue()
