"""Figures for the ledger and ISUBANK (a script that prints, never a timed test).

    make bench            # or: .venv/bin/python -m benchmarks.ledger --seconds 5 --threads 8

1. DynamoDB calls and consumed capacity per endpoint, app-id lookup aside, on DynamoDB Local;
2. import time of app.py against a bare Chalice app that imports boto3 (ratio, one run);
3. reserve+commit cycles per second through the app over HTTP, on one hot account and spread over
   many accounts, with the retries the ledger made.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP_ID = "bench-app-id"


class CallRecorder:
    """Counts DynamoDB operations and their consumed capacity through botocore's event hooks."""

    def __init__(self, client) -> None:
        self.calls: list[tuple[str, float]] = []
        self.recording = False
        client.meta.events.register("provide-client-params.dynamodb.*", self._ask_for_capacity)
        client.meta.events.register("after-call.dynamodb.*", self._record)

    def _ask_for_capacity(self, params, **kwargs):
        params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _record(self, http_response, parsed, model, **kwargs):
        consumed = parsed.get("ConsumedCapacity") or []
        if isinstance(consumed, dict):
            consumed = [consumed]
        app_lookup = [c.get("TableName", "").endswith("-apps") for c in consumed] == [True]
        if self.recording and not app_lookup:
            self.calls.append((model.name, sum(c.get("CapacityUnits", 0) for c in consumed)))

    def measure(self, action) -> list[tuple[str, float]]:
        self.calls, self.recording = [], True
        try:
            action()
        finally:
            self.recording = False
        return self.calls


def post(connection, path, body):
    connection.request(
        "POST", path, body=json.dumps(body), headers={"Authorization": f"Bearer {APP_ID}", "Connection": "keep-alive"}
    )
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def calls_per_endpoint(services, client) -> None:
    from chalicelib.store.models import shared_connection

    recorder = CallRecorder(shared_connection(services.settings.region).client)
    services.accounts.open("calls-a", "A")
    services.accounts.open("calls-b", "B")
    services.accounts.deposit("calls-a", 10**9, "入金")
    # History and live holds must not change the count: give the account both.
    for _ in range(100):
        services.holds.commit([services.holds.reserve("calls-a", -1, "k", "bench")])
    for _ in range(50):
        services.holds.reserve("calls-a", -1, "k", "bench")

    def reserve(price, bank_id="calls-a"):
        return post(client, "/reserve", {"bank_id": bank_id, "price": price})[1]["reserve_id"]

    rows = []
    rows.append(("check", recorder.measure(lambda: post(client, "/check", {"bank_id": "calls-a", "price": 1}))))
    rows.append(("reserve (debit)", recorder.measure(lambda: reserve(-1))))
    rows.append(("reserve (credit)", recorder.measure(lambda: reserve(1))))
    one = reserve(-1)
    rows.append(("commit 1 hold", recorder.measure(lambda: post(client, "/commit", {"reserve_ids": [one]}))))
    pair = [reserve(-1), reserve(1, "calls-b")]
    rows.append(("commit 2 holds, 2 users", recorder.measure(lambda: post(client, "/commit", {"reserve_ids": pair}))))
    ten = [reserve(-1) for _ in range(10)]
    rows.append(("commit 10 holds, 1 user", recorder.measure(lambda: post(client, "/commit", {"reserve_ids": ten}))))
    gone = reserve(-1)
    rows.append(("cancel 1 hold", recorder.measure(lambda: post(client, "/cancel", {"reserve_ids": [gone]}))))
    print("\n1. DynamoDB calls per endpoint (app-id lookup aside; account with 100 postings and 50 live holds)")
    print(f"   {'endpoint':26} {'calls':>5}  {'capacity units':>14}  operations")
    for name, calls in rows:
        operations = " + ".join(f"{op}" for op, _ in calls)
        print(f"   {name:26} {len(calls):>5}  {sum(c for _, c in calls):>14.1f}  {operations}")


def import_time_ratio(runs: int = 7) -> None:
    bare = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    bare.write("import boto3\nfrom chalice import Chalice\napp = Chalice(app_name='bare')\n")
    bare.close()
    env = {**os.environ, "BANK_STAGE": "prod", "BANK_TABLE_PREFIX": "bench-", "BANK_CONTEST_COMPAT": "0"}

    def timed(code: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"],
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return float(out.stdout.strip())

    ours = statistics.median(timed("import app") for _ in range(runs))
    theirs = statistics.median(timed(f"import runpy; runpy.run_path({bare.name!r})") for _ in range(runs))
    os.unlink(bare.name)
    print(f"\n2. Import time (median of {runs} fresh processes)")
    print(
        f"   app.py {ours * 1000:.0f} ms; bare Chalice app importing boto3 {theirs * 1000:.0f} ms;"
        f" ratio {ours / theirs:.2f}"
    )


def run_cycles(port: int, pick, seconds: float, threads: int) -> tuple[Counter, float]:
    """Client threads looping reserve+commit until the deadline; returns outcome counts and elapsed time."""
    counts: Counter = Counter()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        rng = random.Random(index)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            status, body = post(connection, "/reserve", {"bank_id": pick(rng), "price": -1})
            if status != 200:
                counts[f"reserve {status}"] += 1
                continue
            status, _ = post(connection, "/commit", {"reserve_ids": [body["reserve_id"]]})
            counts["cycles" if status == 200 else f"commit {status}"] += 1

    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return counts, time.monotonic() - started


def throughput(services, port: int, seconds: float, threads: int) -> None:
    accounts = [f"spread{n}" for n in range(200)]
    for bank_id in ["hot", *accounts]:
        services.accounts.open(bank_id, bank_id)
        services.accounts.deposit(bank_id, 10**11, "入金")
    print(f"\n3. reserve+commit cycles through the app over HTTP ({threads} client threads, {seconds:.0f} s each)")
    for label, pick in (("one hot account", lambda rng: "hot"), ("200 accounts", lambda rng: rng.choice(accounts))):
        retries_before = services.retrier.retries
        counts, elapsed = run_cycles(port, pick, seconds, threads)
        retries = services.retrier.retries - retries_before
        others = ", ".join(f"{k}: {v}" for k, v in counts.items() if k != "cycles") or "no errors"
        print(
            f"   {label:16} {counts['cycles'] / elapsed:7.1f} cycles/s  ({counts['cycles']} cycles,"
            f" {retries} ledger retries, {retries / max(counts['cycles'], 1):.2f} per cycle; {others})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    sys.path.insert(0, str(PROJECT_DIR))
    from local.dynamodb_local import DynamoDBLocal, free_port

    with DynamoDBLocal() as database:
        os.environ.update(
            AWS_ENDPOINT_URL_DYNAMODB=database.endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="ap-northeast-1",
            BANK_TABLE_PREFIX="bench-",
            BANK_CONTEST_COMPAT="0",
        )
        from chalicelib.api import build_app
        from chalicelib.services import Services
        from chalicelib.store import tables
        from local.server import build_server

        logging.getLogger("bank.access").setLevel(logging.WARNING)  # a line per request would drown the figures

        services = Services.from_env()
        tables.create_tables()
        services.apps.create("bench", app_id=APP_ID)
        port = free_port()
        server = build_server(port, build_app(services))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        print(f"DynamoDB Local {database.endpoint}; app on http://127.0.0.1:{port}")
        calls_per_endpoint(services, client)
        import_time_ratio()
        throughput(services, port, args.seconds, args.threads)
        server.shutdown()


if __name__ == "__main__":
    main()
