"""`python -m local.server` as a process: what it writes, how it answers on a connection, how it stops."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest

from local.demo import DEMO_APP_ID
from local.dynamodb_local import free_port, is_serving, listening_pid
from tests.support.local_server import launch

pytestmark = pytest.mark.dynamodb_local

# BaseHTTPRequestHandler's access log: client, date, request line (control characters escaped), status.
ACCESS_LOG_LINE = re.compile(
    r'127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4} \d{2}:\d{2}:\d{2}\] "[^\x00-\x1f]*" \d{3} -',
)
AUTHORIZATION = {"Authorization": f"Bearer {DEMO_APP_ID}"}
RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, zero timeout: close() sends RST, not FIN


@pytest.fixture
def start(tmp_path):
    """`launch` into tmp_path; whatever a failing test leaves running is killed at the end."""
    with ExitStack() as servers:
        yield lambda **options: servers.enter_context(launch(tmp_path, **options))


def call(connection, method, path, body=None, headers=None):
    connection.request(method, path, json.dumps(body) if body is not None else None, headers or {})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def records(text):
    """Each line of `text` as a JSON object or an access-log match; anything else is malformed."""
    parsed, malformed = [], []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = ACCESS_LOG_LINE.fullmatch(line)
        (parsed if isinstance(record, dict | re.Match) else malformed).append(record or line)
    return parsed, malformed


def test_every_line_is_one_record_under_load_and_client_resets(dynamodb_local, start):
    # Metrics on, so that their EMF lines share stdout with the request log.
    server = start(AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local.endpoint, POWERTOOLS_METRICS_DISABLED="false")
    server.wait_until_serving()
    clients, resetters, malformed_requests = 50, 10, (b"GARBAGE\r\n\r\n", b"TRACE / HTTP/1.1\r\n\r\n")
    barrier = threading.Barrier(clients + resetters + len(malformed_requests))

    def client(index):
        bank_id = f"load-{index}"
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        barrier.wait()
        assert call(connection, "POST", "/register", {"bank_id": bank_id})[0] == 200
        assert call(connection, "POST", "/add_credit", {"bank_id": bank_id, "price": 10})[0] == 200
        status, body = call(connection, "POST", "/reserve", {"bank_id": bank_id, "price": -1}, AUTHORIZATION)
        assert status == 200, body
        assert call(connection, "POST", "/commit", {"reserve_ids": [body["reserve_id"]]}, AUTHORIZATION)[0] == 200
        assert call(connection, "GET", f"/credit?bank_id={bank_id}") == (200, {"credit": 9})
        connection.close()

    def resetter(index):
        """Resets a kept-alive connection: between requests (even) or in the middle of a body (odd)."""
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.connect()
        connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        client_port = connection.sock.getsockname()[1]
        barrier.wait()
        if index % 2 == 0:
            assert call(connection, "GET", "/credit?bank_id=alice")[0] == 200
        else:
            connection.putrequest("POST", "/reserve")
            connection.putheader("Content-Length", "100")
            connection.endheaders(b'{"bank_id": ')
        connection.close()
        return client_port if index % 2 == 0 else None

    def malformed(request):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            barrier.wait()
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            return b"".join(iter(lambda: sock.recv(65536), b""))

    with ThreadPoolExecutor(max_workers=clients + resetters + len(malformed_requests)) as pool:
        loads = [pool.submit(client, index) for index in range(clients)]
        resets = [pool.submit(resetter, index) for index in range(resetters)]
        refused = [pool.submit(malformed, request) for request in malformed_requests]
        for future in loads:
            future.result()
        assert b"400" in refused[0].result() and b"501" in refused[1].result()
        reset_between_requests = {future.result() for future in resets} - {None}
    assert server.stop() == 0

    # The startup banner is the one text that is not a record: it ends with a blank line.
    stdout = server.stdout()
    out, malformed_out = records(stdout[stdout.index("\n\n", stdout.index("  Operator CLI")) + 2 :])
    err, malformed_err = records(server.stderr())
    assert (malformed_out, malformed_err) == ([], [])
    logs = [record for record in out + err if isinstance(record, dict) and "message" in record]
    # One access-log line per answered request; `GET /` is the readiness probe's, answered outside the app.
    access = [record for record in out + err if isinstance(record, re.Match) and '"GET / HTTP' not in record[0]]
    requests = [record for record in logs if record["message"] == "request"]
    assert len(requests) == len(access) - len(malformed_requests) == clients * 5 + len(reset_between_requests)
    assert any("_aws" in record for record in out if isinstance(record, dict)), "EMF metrics are on stdout"
    closed = [record for record in logs if record["message"] == "client closed the connection"]
    assert all(record["level"] == "INFO" and "exception" not in record for record in closed)
    assert reset_between_requests <= {int(record["client"].rsplit(":", 1)[1]) for record in closed}
    assert len(closed) <= resetters
    bad = [record for record in logs if record["level"] != "INFO"]
    assert [(record["level"], record["message"]) for record in bad] == [("WARNING", "bad HTTP request")] * 2
    assert all("exception" not in record for record in logs)


@pytest.fixture
def free_endpoint():
    """A DynamoDB endpoint nothing serves, so that the server starts its own DynamoDB Local there."""
    port = free_port()
    yield f"http://127.0.0.1:{port}"
    pid = listening_pid(port)
    if pid:  # what a failing test left behind
        os.kill(pid, signal.SIGKILL)


def own_database_server(start, tmp_path, endpoint):
    server = start(AWS_ENDPOINT_URL_DYNAMODB=endpoint, BANK_LOCAL_DATA_DIR=str(tmp_path / "dynamodb"))
    server.wait_until_serving(timeout=120)
    assert is_serving(endpoint)
    assert list((tmp_path / "dynamodb").iterdir()), "DynamoDB Local keeps its data in BANK_LOCAL_DATA_DIR"
    return server


def test_sigterm_stops_the_server_and_the_dynamodb_local_it_started(start, tmp_path, free_endpoint):
    server = own_database_server(start, tmp_path, free_endpoint)
    assert server.stop(signal.SIGTERM, timeout=30) == 0
    assert not is_serving(free_endpoint)


def test_killed_hard_the_server_leaves_no_dynamodb_local_behind(start, tmp_path, free_endpoint):
    server = own_database_server(start, tmp_path, free_endpoint)
    server.process.kill()
    server.process.wait(timeout=10)
    deadline = time.monotonic() + 30
    while is_serving(free_endpoint):  # DynamoDB Local gets SIGTERM when its parent dies, and shuts down
        assert time.monotonic() < deadline, "DynamoDB Local outlived the server"
        time.sleep(0.1)


def test_a_dynamodb_it_did_not_start_is_reported_used_and_left_running_on_sighup(dynamodb_local, start):
    server = start(AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local.endpoint).wait_until_serving()
    notice = re.search(
        rf"DynamoDB endpoint {dynamodb_local.endpoint} is already served by another process \(pid (\d+)\): using it; "
        r"stop it to let `make run` start its own",
        server.stdout(),
    )
    assert notice, server.stdout()
    assert "DynamoDBLocal.jar" in Path(f"/proc/{notice[1]}/cmdline").read_text()
    assert server.stop(signal.SIGHUP) == 0
    assert is_serving(dynamodb_local.endpoint)


def test_under_nohup_sighup_stays_ignored(dynamodb_local, start):
    server = start(wrapper=("nohup",), AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local.endpoint)
    server.wait_until_serving()
    server.process.send_signal(signal.SIGHUP)
    assert is_serving(server.base), "still answering after the hangup"
    assert server.stop(signal.SIGTERM) == 0


def test_an_http_port_in_use_is_one_line_and_no_traceback(dynamodb_local, start):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = start(port=port, AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local.endpoint)
        assert server.process.wait(timeout=60) == 1
    assert server.stderr().splitlines() == [
        f"port {port} is already in use on 127.0.0.1: stop what serves it, or choose another (PORT=8080 make run)"
    ]
