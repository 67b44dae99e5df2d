"""Logs and metrics for every layer: Powertools' JSON Logger and CloudWatch EMF metrics.

Nothing here reads a request: callers add only what is safe to log (ids, routes, statuses, app keys),
never headers or bodies, which carry app ids, tokens, passwords and card data.

Metrics are per request. `request_metrics()` opens a scope for one request (a context variable, so the
local server's threads never share one); `count()` anywhere below adds to the current scope; closing it
publishes exactly that request's metrics as one EMF line, before the response leaves. On Lambda nothing
then waits in a buffer for a container that may be frozen or recycled, and each blob carries its own
timestamp. A function with no request (the scheduled audit) opens the scope around its invocation.
Counts made outside a scope (the CLI, demo seeding) are not published.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from msgspec import Struct, field

# Not "bank": Chalice's own logger is named after the app.
SERVICE = "bank-api"
NAMESPACE = "Bank"

logger = Logger(service=SERVICE)


# One EMF provider per thread, cleared after each request: building one costs more than a request's
# metrics themselves.
_providers = threading.local()


def _provider() -> AmazonCloudWatchEMFProvider:
    provider = getattr(_providers, "provider", None)
    if provider is None:
        provider = _providers.provider = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE)
    return provider


class RequestMetrics(Struct):
    counts: Counter[str] = field(default_factory=Counter)
    status: int | None = None  # the response's, once known: a dimension of every metric

    def emf(self) -> dict:
        """One EMF document: every metric under `service`, and under `service` + `status` when the status
        is known (so `Requests` and `Errors` split by status code)."""
        provider = _provider()
        try:
            for name, value in self.counts.items():
                provider.add_metric(name=name, unit=MetricUnit.Count, value=value)
            if self.status is not None:
                provider.add_dimensions(service=SERVICE, status=str(self.status))
            return provider.serialize_metric_set()
        finally:
            provider.clear_metrics()


_current: ContextVar[RequestMetrics | None] = ContextVar("request_metrics", default=None)


def count(name: str, value: int = 1) -> None:
    """Add to a metric of the current request."""
    metrics = _current.get()
    if metrics is not None:
        metrics.counts[name] += value


@contextmanager
def request_metrics() -> Iterator[RequestMetrics]:
    """The metrics of one request, published as one EMF line when the block ends, unless
    POWERTOOLS_METRICS_DISABLED (or POWERTOOLS_DEV) turns metrics off."""
    metrics = RequestMetrics()
    token = _current.set(metrics)
    try:
        yield metrics
    finally:
        _current.reset(token)
        if metrics.counts and not is_metrics_disabled():
            write_line(json.dumps(metrics.emf(), separators=(",", ":")))


def write_line(line: str) -> None:
    """Write one complete line to the log stream under the logger handler's lock, so that a JSON log
    record and a metrics line never interleave, whatever the threads."""
    handler = logger.registered_handler
    handler.acquire()
    try:
        handler.stream.write(line + "\n")
        handler.flush()
    finally:
        handler.release()
