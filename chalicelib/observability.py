"""Logs and metrics for every layer: Powertools' JSON Logger and CloudWatch EMF Metrics.

Nothing here reads a request: callers add only what is safe to log (ids, routes, statuses, app keys),
never headers or bodies, which carry app ids, tokens, passwords and card data.
"""

from __future__ import annotations

import threading

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

# Not "bank": Chalice's own logger is named after the app.
SERVICE = "bank-api"
NAMESPACE = "Bank"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# Powertools keeps one metric set per process; the local server serves requests on threads.
_metrics_lock = threading.Lock()


def count(name: str, value: int = 1) -> None:
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_error(status: int) -> None:
    """Errors by status code: a metric with a `status` dimension, emitted at once."""
    with _metrics_lock, single_metric(name="Errors", unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension("service", SERVICE)
        metric.add_dimension("status", str(status))


def flush_metrics() -> None:
    with _metrics_lock:
        if metrics.metric_set:
            metrics.flush_metrics()
