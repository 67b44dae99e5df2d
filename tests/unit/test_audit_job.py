"""The daily audit function on moto, invoked as Lambda's schedule calls it: its report as one JSON log record and
its `AuditFindings` metric as one EMF line, 0 on a clean ledger."""

from __future__ import annotations

import io
import json

import msgspec
import pytest
from chalice.test import Client

from chalicelib.api import audit_job, build_app
from chalicelib.observability import logger
from chalicelib.services import Services
from chalicelib.store.models import Account, Posting
from tests.conftest import make_services


@pytest.fixture
def ledger(moto_db, clock):
    operator = make_services(clock)
    for bank_id in ("alice", "bob"):
        operator.accounts.open(bank_id, bank_id)
        operator.accounts.deposit(bank_id, 10_000, "入金")
    debit = operator.holds.reserve("alice", -1_500, "app", "購入")
    credit = operator.holds.reserve("bob", 700, "app", "売上")
    operator.holds.commit([debit, credit])
    # The function as on AWS, where the app has its scheduled functions (a stage with a webhook queue).
    return Services(msgspec.structs.replace(operator.settings, webhook_queue="bank-test-webhooks"), clock=clock)


@pytest.fixture
def written(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    return stream


def run(services, tmp_path, written):
    """The lines the scheduled invocation wrote: (its log records, its EMF blobs)."""
    app = build_app(services)
    with Client(app, project_dir=str(tmp_path)) as client:
        client.lambda_.invoke("audit_ledger", client.events.generate_cw_event("Scheduled Event", "", {}, []))
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    return [line for line in lines if "_aws" not in line], [line for line in lines if "_aws" in line]


def test_a_clean_ledger_logs_no_finding_and_publishes_0(ledger, tmp_path, written):
    (record,), (blob,) = run(ledger, tmp_path, written)
    assert (record["message"], record["level"], record["service"]) == ("ledger audit", "INFO", "bank-api")
    assert record["findings"] == [] and record["findings_total"] == 0
    assert record["accounts"] >= 2 and record["postings"] == 4 and record["holds"] == 2
    assert blob[audit_job.METRIC] == [0]  # as Powertools writes a value: a list of the invocation's one
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Bank" and directive["Metrics"] == [{"Name": "AuditFindings", "Unit": "Count"}]
    assert directive["Dimensions"] == [["service"]] and blob["service"] == "bank-api"


def test_a_corrupted_ledger_logs_its_findings_and_publishes_their_count(ledger, tmp_path, written):
    Account("bob").update(actions=[Account.balance.add(1), Account.available.add(1)])
    (record,), (blob,) = run(ledger, tmp_path, written)
    assert (record["message"], record["level"], record["findings_total"]) == ("ledger audit", "ERROR", 2)
    assert record["findings"] == [
        {"check": "balance", "key": {"account_id": "bob"}, "expected": 10_700, "found": 10_701},
        {"check": "conservation", "key": {}, "expected": 19_200, "found": 19_201},
    ]
    assert blob[audit_job.METRIC] == [2]


def test_the_log_record_keeps_the_first_findings_and_counts_them_all(ledger, tmp_path, written, monkeypatch):
    monkeypatch.setattr(audit_job, "FINDINGS_LOGGED", 2)
    for seq in (1, 2):
        Posting("alice", seq).update(actions=[Posting.balance_after.add(1)])
    Account("bob").update(actions=[Account.balance.add(1), Account.available.add(1)])
    (record,), (blob,) = run(ledger, tmp_path, written)
    assert record["findings_total"] == 4 and blob[audit_job.METRIC] == [4]  # 2 balance_after, balance, conservation
    assert len(record["findings"]) == 2


def test_the_function_is_on_aws_stages_only(moto_db, clock):
    local = make_services(clock)
    assert "audit_ledger" not in build_app(local).handler_map
    aws = Services(msgspec.structs.replace(local.settings, webhook_queue="bank-test-webhooks"), clock=clock)
    (schedule,) = [source for source in build_app(aws).event_sources if source.name in audit_job.FUNCTIONS]
    assert schedule.schedule_expression.to_string() == "cron(0 18 * * ? *)"  # daily, 03:00 JST
