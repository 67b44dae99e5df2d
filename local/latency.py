"""Sequential latency of a running server: on one kept-alive connection, and on a new connection per request.

A figure for `benchmarks/`, never a timed assertion. The two should be close: a kept-alive connection
that is much slower means a response leaving in several small writes, the last one held back by Nagle's
algorithm until the client's delayed ACK (~40 ms on Linux).
"""

from __future__ import annotations

import http.client
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse


@dataclass(frozen=True)
class Latency:
    """Median milliseconds of one request, from sending it to having read the whole response."""

    kept_alive_ms: float
    new_connection_ms: float  # connecting included


def sequential_latency(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    requests: int = 100,
) -> Latency:
    """`requests` requests one after the other on one kept-alive connection, then as many on a new
    connection each; one more of each first, untimed, warms the server up."""
    url = urlparse(base_url)

    def timed(connection: http.client.HTTPConnection) -> float:
        started = time.perf_counter()
        connection.request(method, path, body, dict(headers or {}))  # http.client sends headers and body at once
        connection.getresponse().read()
        return (time.perf_counter() - started) * 1000

    def connection() -> http.client.HTTPConnection:
        return http.client.HTTPConnection(url.hostname, url.port, timeout=30)

    kept_alive = connection()
    try:
        kept_alive_ms = [timed(kept_alive) for _ in range(requests + 1)][1:]
    finally:
        kept_alive.close()
    new_connection_ms = []
    for _ in range(requests + 1):
        fresh = connection()
        try:
            new_connection_ms.append(timed(fresh))
        finally:
            fresh.close()
    return Latency(round(statistics.median(kept_alive_ms), 1), round(statistics.median(new_connection_ms[1:]), 1))
