"""A merchant's webhook endpoint, for trying webhooks locally (and for the tests): it verifies each delivery
with the `standardwebhooks` package, as a merchant's server would, and prints one JSON line per delivery.

    .venv/bin/python -m local.webhook_receiver --secret whsec_... [--port 9000] [--fail-first N]

`--fail-first N` answers 500 to the first N deliveries, to watch the retries.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY_BYTES = 1024 * 1024


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, secret: str, port: int = 0, fail_first: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.verifier = Webhook(secret)
        self.fail_first = fail_first
        self.deliveries: list[dict[str, Any]] = []  # every request: headers, body, verified, status answered
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/webhooks"

    def wait_for(self, count: int, timeout: float) -> list[dict[str, Any]]:
        """The deliveries once there are `count` of them (or as many as came within `timeout` seconds)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.deliveries) >= count, timeout)
            return list(self.deliveries)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_BODY_BYTES))
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            event = self.server.verifier.verify(body, headers)
        except WebhookVerificationError as error:
            event, verified, problem = None, False, str(error)
        else:
            verified, problem = True, None
        with self.server.arrived:
            failing = len(self.server.deliveries) < self.server.fail_first
            status = 400 if not verified else 500 if failing else 200
            delivery = {"headers": headers, "body": body, "event": event, "verified": verified, "status": status}
            self.server.deliveries.append(delivery)
            self.server.arrived.notify_all()
        print(
            json.dumps(
                {
                    "webhook_id": headers.get("webhook-id"),
                    "type": event["type"] if event else None,
                    "verified": verified,
                    "problem": problem,
                    "answered": status,
                }
            ),
            flush=True,
        )
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the JSON line above says it all."""


@contextmanager
def running(secret: str, fail_first: int = 0) -> Iterator[Receiver]:
    """A receiver on a free port, in a thread, for the length of the block."""
    receiver = Receiver(secret, fail_first=fail_first)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secret", required=True, help="the merchant's webhook_secret (whsec_...)")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--fail-first", type=int, default=0, help="answer 500 to the first N deliveries")
    args = parser.parse_args()
    receiver = Receiver(args.secret, args.port, args.fail_first)
    print(json.dumps({"listening": receiver.url}), flush=True)
    try:
        receiver.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
