"""One log line per request: route, method, status and latency; never headers or bodies (they carry
app ids, tokens and card data)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response

log = logging.getLogger("bank.access")
log.setLevel(logging.INFO)  # Lambda's root logger stops at WARNING


def blueprint() -> Blueprint:
    bp = Blueprint(__name__)

    @bp.middleware("http")
    def access_log(event: Any, get_response: Callable[[Any], Response]) -> Response:
        started = time.perf_counter()
        response = get_response(event)
        context = event.context or {}
        log.info(
            json.dumps(
                {
                    "request_id": context.get("requestId"),
                    "route": context.get("resourcePath"),
                    "method": event.method,
                    "status": response.status_code,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                }
            )
        )
        return response

    return bp
