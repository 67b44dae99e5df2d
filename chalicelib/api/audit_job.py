"""The ledger audit on AWS (no HTTP): `audit_ledger`, once a day, reads the whole ledger (chalicelib/ledger/audit.py,
as the CLI's `audit` does) under a read-only role, logs its report as one JSON record and publishes the number
of findings as the `AuditFindings` metric, 0 included, for an alarm to watch. The local stage has no
schedule: there the CLI audits.
"""

from __future__ import annotations

from typing import Any

import msgspec
from chalice import Blueprint, Cron

from chalicelib.observability import count, logger, request_metrics
from chalicelib.services import Services

# 18:00 UTC is 03:00 JST: the scans run when customers use the tables least.
SCHEDULE = Cron(0, 18, "*", "*", "?", "*")
# A log record stays well below CloudWatch Logs' 256 KiB per event: the report's first findings, and their total.
FINDINGS_LOGGED = 100
METRIC = "AuditFindings"


FUNCTIONS = ("audit_ledger",)


def blueprint(services: Services) -> Blueprint:
    # Lambda runs an event handler as `<module>.<name>`: app.py exposes it (see FUNCTIONS), hence "app".
    bp = Blueprint("app")

    @bp.schedule(SCHEDULE)
    def audit_ledger(event: Any) -> None:
        # Imported here: every function of the app (the API's too) imports this module on its cold start.
        from chalicelib.ledger.audit import Audit

        # No request: the invocation is the metrics' scope, published as one EMF line when it ends. A run that
        # fails publishes nothing, which the alarm should treat as breaching.
        with request_metrics():
            report = Audit(services.clock, services.retrier).run()
            count(METRIC, len(report.findings))
        record = msgspec.to_builtins(report)
        record.update(findings_total=len(report.findings), findings=record["findings"][:FINDINGS_LOGGED])
        # One message whatever the outcome, so that one filter finds every run; a finding is an error.
        (logger.error if report.findings else logger.info)("ledger audit", extra=record)

    return bp
