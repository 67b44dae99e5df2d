"""The local server's HTTP layer, in process over real sockets: how responses and errors go out.

Not timed (benchmarks print figures; `local.latency` measures this one): a response sent in two small
writes waits ~40 ms for the client's delayed ACK on a kept-alive connection, so the tests count the
writes on the server's side of each connection and check Nagle's algorithm is off.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading

import pytest

from chalicelib.api import build_app
from chalicelib.observability import logger
from chalicelib.services import Services
from local.dynamodb_local import free_port
from local.http_server import LocalHTTPServer, LocalRequestHandler
from local.latency import sequential_latency
from local.server import build_server
from tests.conftest import settings_for_test


class RecordingSocket(socket.socket):
    """The server's side of a connection, recording the size of each write."""

    def send(self, data, *flags):
        self.writes.append(len(data))
        return super().send(data, *flags)

    def sendall(self, data, *flags):
        self.writes.append(len(data))
        return super().sendall(data, *flags)


@pytest.fixture
def server(monkeypatch):
    connections = []
    accept = LocalHTTPServer.get_request

    def get_request(self):
        sock, address = accept(self)
        recording = RecordingSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        recording.writes = []
        connections.append(recording)
        return recording, address

    monkeypatch.setattr(LocalHTTPServer, "get_request", get_request)
    local = build_server(free_port(), build_app(Services(settings_for_test())))
    thread = threading.Thread(target=local.server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield local.port, connections
    local.shutdown()
    local.server.server_close()
    thread.join(timeout=10)


def test_each_response_leaves_in_one_write_with_nagle_off(server):
    port, connections = server
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    statuses = []
    # Answered by our handler (unknown path), by the app (wrong method), by the app after parsing (401).
    for method, path in [("GET", "/no/such/path"), ("GET", "/check"), ("POST", "/check")]:
        client.request(method, path, b'{"bank_id": "alice", "price": 1}' if method == "POST" else None)
        response = client.getresponse()
        response.read()
        statuses.append(response.status)
    [connection] = connections  # kept alive
    # Asked while the connection is open: once the client closes, the server closes its side too.
    assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    client.close()
    assert statuses == [404, 405, 401]
    assert len(connection.writes) == len(statuses), (
        f"one write per response, headers and body together: {connection.writes}"
    )


def test_a_client_expecting_100_continue_gets_it_before_sending_the_body(server):
    port, _ = server
    body = b'{"bank_id": "alice", "price": 1}'
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /check HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n"), "the interim response is not held back"
        sock.sendall(body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 401 ")


def test_the_latency_figure_measures_both_ways_of_connecting(server):
    port, connections = server
    latency = sequential_latency(f"http://127.0.0.1:{port}", "GET", "/no/such/path", requests=3)
    assert latency.kept_alive_ms > 0 and latency.new_connection_ms > 0
    assert [len(connection.writes) for connection in connections] == [4, 1, 1, 1, 1], "warm-up included"


def test_an_unexpected_error_is_one_json_line_with_its_traceback_inside(server, monkeypatch, capsys):
    port, _ = server
    logs = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", logs)

    def broken(self):
        raise RuntimeError("the HTTP layer broke")

    monkeypatch.setattr(LocalRequestHandler, "_parse_payload", broken)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /check HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536) == b"", "no answer: the connection is closed once the error is logged"
    [record] = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert (record["level"], record["message"]) == ("ERROR", "unexpected error in the HTTP server")
    assert "Traceback" in record["exception"] and "RuntimeError: the HTTP layer broke" in record["exception"]
    assert capsys.readouterr().err == ""
