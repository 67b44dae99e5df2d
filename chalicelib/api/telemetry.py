"""Per request: a request id (echoed in `X-Request-Id`), one JSON log line and the request's metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response

from chalicelib.observability import count, logger, request_metrics

REQUEST_ID_HEADER = "X-Request-Id"


def blueprint() -> Blueprint:
    bp = Blueprint(__name__)

    @bp.middleware("http")
    def telemetry(event: Any, get_response: Callable[[Any], Response]) -> Response:
        started = time.perf_counter()
        context = event.context or {}
        # API Gateway's id, so our logs join its access logs; the local gateway gives none.
        request_id = context.get("requestId") or uuid.uuid4().hex
        logger.thread_safe_append_keys(request_id=request_id, route=context.get("resourcePath"), method=event.method)
        try:
            with request_metrics() as metrics:
                response = get_response(event)
                response.headers[REQUEST_ID_HEADER] = request_id
                metrics.status = response.status_code
                count("Requests")
                if response.status_code >= 400:
                    count("Errors")
            latency_ms = round((time.perf_counter() - started) * 1000, 1)
            logger.info("request", status=response.status_code, latency_ms=latency_ms)
            return response
        finally:
            logger.thread_safe_clear_keys()

    return bp
