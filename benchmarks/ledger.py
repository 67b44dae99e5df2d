"""Figures for the ledger and ISUBANK (a script that prints, never a timed test).

    make bench                           # all sections
    make bench BENCH_ARGS="--sections 4 --profile"
    .venv/bin/python -m benchmarks.ledger --seconds 5 --threads 8 --cycles 300 --profile

1. DynamoDB calls and consumed capacity per endpoint, app-id lookup included, on a warm process;
2. import time of app.py against a bare Chalice app that imports boto3 (ratio, one run);
3. reserve+commit cycles per second through the app over HTTP, on one hot account and spread over many
   accounts, and where a cycle's time goes (conflicts, backoff, DynamoDB calls, the rest);
4. CPU per reserve+commit cycle in process, the app called as Lambda calls it, against a bare boto3
   handler making the same DynamoDB calls (benchmarks/bare.py), on a fresh and on a busy account
   (`--profile`: the whole cycle by package, then our layers alone, DynamoDB answered from memory);
5. sequential /check latency through the local server, on one kept-alive connection and on a new
   connection per request;
6. the bank common API over HTTP, on a warm process: DynamoDB calls, consumed capacity (read and write
   units) and latency of each auth call and of /transactions (pages 1 and 5 of a 1,000-posting month),
   /balances (that month), /accounts and /branches, and how much of that is DynamoDB and Argon2id;
7. the card gateway over HTTP: DynamoDB calls and capacity of each operation (another bank's card and
   this bank's), and purchases per second paid to one merchant against the same load spread over 50;
8. the ledger audit: items read per second, by parallel scan segments, over what the sections before left
   and 100 more accounts of 200 postings each.

It prints a header and its figures, nothing else: the app's JSON logs (Powertools, service bank-api)
and the local server's access log are turned down to warnings, metrics are off
(POWERTOOLS_METRICS_DISABLED; section 4 turns logs and metrics on, into /dev/null, to count their CPU),
and DynamoDB Local's output goes nowhere (local/dynamodb_local.py). Whatever the app still prints on
stdout is dropped, and counted on stderr at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import http.client
import io
import itertools
import json
import logging
import os
import platform
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from unittest import mock
from urllib.parse import urlencode

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP_ID = "bench-app-id"
TABLE_PREFIX = "bench-"
FIGURES = sys.stdout


def say(text: str = "") -> None:
    print(text, file=FIGURES, flush=True)


class StrayOutput(io.TextIOBase):
    """sys.stdout while the benchmark runs: the app should print nothing there, and what it does print
    (Powertools metrics that ignore POWERTOOLS_METRICS_DISABLED) is counted, not shown."""

    def __init__(self) -> None:
        self.lines = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return len(text)


def quiet_logs() -> None:
    """The app logs a JSON line per request (Powertools, service bank-api); warnings and errors still show."""
    from chalicelib.observability import logger

    logger.setLevel(logging.WARNING)
    for name in ("chalice.local", "bank.access", "local.server"):
        logging.getLogger(name).setLevel(logging.WARNING)


def quiet_server(port: int, app):
    """The local server (local.server.build_server) serving on a daemon thread. Its access log (`bank.access`)
    is quiet by `quiet_logs`; and LocalDevServer.serve_forever would print "Serving on ..." from its own
    thread, in the middle of our lines, so the socket server is served directly."""
    from local.server import build_server

    server = build_server(port, app)
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    return server


def post(connection, path, body, keep_alive: bool = True):
    headers = {"Authorization": f"Bearer {APP_ID}", "Connection": "keep-alive" if keep_alive else "close"}
    connection.request("POST", path, body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def dynamodb_client(services):
    from chalicelib.store.models import shared_connection

    return shared_connection(services.settings.region).client


# --- 1. calls per endpoint ------------------------------------------------------------------------

# DynamoDB Local answers ReturnConsumedCapacity with CapacityUnits only: read or write units by operation.
READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


@dataclass
class Call:
    operation: str
    tables: tuple[str, ...]
    capacity: float = 0.0
    round_trip_s: float = 0.0  # botocore's before-send to before-parse

    @property
    def app_lookup(self) -> bool:
        return self.tables == ("apps",)

    @property
    def reads(self) -> bool:
        return self.operation in READ_OPERATIONS

    def __str__(self) -> str:
        return f"{self.operation}({','.join(self.tables)})"


def _tables(params: dict) -> tuple[str, ...]:
    if "TableName" in params:
        names = [params["TableName"]]
    elif "RequestItems" in params:
        names = list(params["RequestItems"])
    else:
        names = [op["TableName"] for item in params.get("TransactItems", []) for op in item.values()]
    return tuple(sorted({name.removeprefix(TABLE_PREFIX) for name in names}))


class CallRecorder:
    """The DynamoDB calls a client makes during `measure(action)`, through botocore's event hooks. One
    request at a time: the round trip is timed across hooks without telling threads apart."""

    def __init__(self, client) -> None:
        self.events = client.meta.events
        self.calls: list[Call] = []
        self.recording = False
        self.sent = 0.0
        self.hooks = {
            "provide-client-params.dynamodb.*": self._on_params,
            "before-send.dynamodb.*": self._on_send,
            "before-parse.dynamodb.*": self._on_answer,
            "after-call.dynamodb.*": self._on_result,
        }

    def __enter__(self) -> CallRecorder:
        for event, hook in self.hooks.items():
            self.events.register(event, hook)
        return self

    def __exit__(self, *exc) -> None:
        for event, hook in self.hooks.items():
            self.events.unregister(event, hook)

    def _on_params(self, params, model, **kwargs):
        if self.recording:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
            self.calls.append(Call(model.name, _tables(params)))

    def _on_send(self, **kwargs):
        self.sent = time.perf_counter()

    def _on_answer(self, **kwargs):
        if self.recording:
            self.calls[-1].round_trip_s += time.perf_counter() - self.sent

    def _on_result(self, parsed, **kwargs):
        if self.recording:
            consumed = parsed.get("ConsumedCapacity") or []
            consumed = [consumed] if isinstance(consumed, dict) else consumed
            self.calls[-1].capacity = sum(c.get("CapacityUnits", 0) for c in consumed)

    def measure(self, action) -> list[Call]:
        self.calls, self.recording = [], True
        try:
            action()
        finally:
            self.recording = False
        return self.calls


def calls_per_endpoint(services, port: int) -> None:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
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

    reserve(-1)  # warm-up: the process has served this app before, so its caches are warm
    rows = []
    with CallRecorder(dynamodb_client(services)) as recorder:
        rows.append(("check", recorder.measure(lambda: post(client, "/check", {"bank_id": "calls-a", "price": 1}))))
        rows.append(("reserve (debit)", recorder.measure(lambda: reserve(-1))))
        rows.append(("reserve (credit)", recorder.measure(lambda: reserve(1))))
        one = reserve(-1)
        rows.append(("commit 1 hold", recorder.measure(lambda: post(client, "/commit", {"reserve_ids": [one]}))))
        pair = [reserve(-1), reserve(1, "calls-b")]
        rows.append(
            ("commit 2 holds, 2 users", recorder.measure(lambda: post(client, "/commit", {"reserve_ids": pair})))
        )
        ten = [reserve(-1) for _ in range(10)]
        rows.append(
            ("commit 10 holds, 1 user", recorder.measure(lambda: post(client, "/commit", {"reserve_ids": ten})))
        )
        gone = reserve(-1)
        rows.append(("cancel 1 hold", recorder.measure(lambda: post(client, "/cancel", {"reserve_ids": [gone]}))))
    client.close()
    say("\n1. DynamoDB calls per endpoint, app-id lookup included, after a warm-up request")
    say("   (account with 100 postings and 50 live holds)")
    say(f"   {'endpoint':24} {'all calls':>9} {'app lookups':>11} {'capacity':>8}  operations")
    for name, calls in rows:
        lookups = sum(call.app_lookup for call in calls)
        capacity = sum(call.capacity for call in calls)
        say(f"   {name:24} {len(calls):>9} {lookups:>11} {capacity:>8.1f}  {' + '.join(map(str, calls))}")


# --- 2. import time -------------------------------------------------------------------------------


def import_time_ratio(runs: int = 9) -> None:
    """Both sides import from cached bytecode: a fresh PYTHONPYCACHEPREFIX, filled by one import of each
    first. Otherwise the figure depends on the shell: with PYTHONDONTWRITEBYTECODE set, our own sources
    are compiled in every process while the packages' .pyc files, written by pip, are read."""
    cache = tempfile.mkdtemp(prefix="bench-pycache-")
    bare = Path(cache) / "bare_app.py"
    bare.write_text("import boto3\nfrom chalice import Chalice\napp = Chalice(app_name='bare')\n")
    env = {**os.environ, "BANK_STAGE": "prod", "BANK_TABLE_PREFIX": "bench-", "BANK_CONTEST_COMPAT": "0"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache

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

    ours_code, bare_code = "import app", f"import runpy; runpy.run_path({str(bare)!r})"
    timed(ours_code), timed(bare_code)  # fill the bytecode cache
    ours, theirs = [], []
    for _ in range(runs):  # alternated, so that a busy moment weighs on both
        ours.append(timed(ours_code))
        theirs.append(timed(bare_code))
    shutil.rmtree(cache)
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    say(f"\n2. Import time (median of {runs} fresh processes each, bytecode cached for both)")
    say(
        f"   app.py {ours_s * 1000:.0f} ms; bare Chalice app importing boto3 {theirs_s * 1000:.0f} ms;"
        f" ratio {ours_s / theirs_s:.2f}"
    )


# --- 3. throughput over HTTP ----------------------------------------------------------------------


class ContentionProbe:
    """Where the server's time goes, per reserve+commit cycle: the retrier's backoff sleeps, DynamoDB
    round trips (botocore's before-send to before-parse) and cancelled transactions by reason.

    Everything is counted on the server thread that serves the request; each client keeps one
    connection, so one server thread sees one client's cycles in order.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.totals: Counter = Counter()

    def _cycle(self) -> Counter:
        if not hasattr(self._local, "cycle"):
            self._local.cycle = Counter()
        return self._local.cycle

    def sleep(self, seconds: float) -> None:
        """The ledger Retrier's sleep."""
        started = time.perf_counter()
        time.sleep(seconds)
        self._cycle().update(backoff_s=time.perf_counter() - started, retries=1)

    def hooks(self) -> dict:
        return {
            "before-send.dynamodb.*": self._sent,
            "before-parse.dynamodb.*": self._answered,
            "after-call.dynamodb.*": self._parsed,
        }

    def _sent(self, **kwargs):
        self._local.sent = time.perf_counter()

    def _answered(self, **kwargs):
        self._cycle().update(dynamodb_s=time.perf_counter() - self._local.sent, calls=1)

    def _parsed(self, parsed, **kwargs):
        reasons = [r.get("Code") for r in parsed.get("CancellationReasons") or [] if r.get("Code") != "None"]
        if parsed.get("CancellationReasons"):
            self._cycle().update(cancelled=1, **Counter(reasons))

    def middleware(self, event, get_response):
        """Chalice middleware on the benchmark's app: a cycle starts with its reserve, ends with its commit."""
        if event.path == "/reserve":
            self._local.cycle = Counter()
        started = time.perf_counter()
        response = get_response(event)
        self._cycle()["route_s"] += time.perf_counter() - started
        if event.path == "/commit":
            cycle = self._local.cycle
            cycle["cycles"] = 1
            cycle["retried"] = int(cycle["cancelled"] > 0 or cycle["retries"] > 0)
            with self._lock:
                self.totals.update(cycle)
        return response

    def take(self) -> Counter:
        with self._lock:
            totals, self.totals = self.totals, Counter()
        return totals


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
        connection.close()

    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return counts, time.monotonic() - started


def breakdown(probe: Counter, cycle_ms: float) -> str:
    """One line: how many cycles were retried, why, and what a cycle's time was spent on."""
    n = max(probe["cycles"], 1)
    per = {key: value / n for key, value in probe.items()}
    backoff, dynamodb, route = (per.get(key, 0) * 1000 for key in ("backoff_s", "dynamodb_s", "route_s"))
    return (
        f"{per.get('retried', 0):.0%} of cycles retried; a cycle: {per.get('cancelled', 0):.2f} cancelled"
        f" transactions ({per.get('ConditionalCheckFailed', 0):.2f} items ConditionalCheckFailed,"
        f" {per.get('TransactionConflict', 0):.2f} TransactionConflict), {per.get('retries', 0):.2f} backoffs,"
        f" {per.get('calls', 0):.1f} DynamoDB calls; {cycle_ms:.0f} ms = {backoff:.0f} backoff + {dynamodb:.0f}"
        f" DynamoDB + {route - backoff - dynamodb:.0f} Python in routes + {cycle_ms - route:.0f} outside routes"
        " (HTTP, server, telemetry)"
    )


def throughput(services, probe: ContentionProbe, port: int, seconds: float, threads: int) -> None:
    accounts = [f"spread{n}" for n in range(200)]
    for bank_id in ["hot", *accounts]:
        services.accounts.open(bank_id, bank_id)
        services.accounts.deposit(bank_id, 10**11, "入金")
    say(f"\n3. reserve+commit cycles through the app over HTTP ({threads} client threads, {seconds:.0f} s each)")
    events = dynamodb_client(services).meta.events
    for event, hook in probe.hooks().items():
        events.register(event, hook)
    rates = {}
    for label, pick in (("one hot account", lambda rng: "hot"), ("200 accounts", lambda rng: rng.choice(accounts))):
        retries_before = services.retrier.retries
        probe.take()
        counts, elapsed = run_cycles(port, pick, seconds, threads)
        retries = services.retrier.retries - retries_before
        others = ", ".join(f"{k}: {v}" for k, v in counts.items() if k != "cycles") or "no errors"
        rates[label] = counts["cycles"] / elapsed
        say(
            f"   {label:16} {rates[label]:7.1f} cycles/s  ({counts['cycles']} cycles,"
            f" {retries} ledger retries, {retries / max(counts['cycles'], 1):.2f} per cycle; {others})"
        )
        say(f"   {'':16} {breakdown(probe.take(), threads * elapsed * 1000 / max(counts['cycles'], 1))}")
    for event, hook in probe.hooks().items():
        events.unregister(event, hook)
    say(f"   hot / spread: {rates['one hot account'] / rates['200 accounts']:.2f}x")


# --- 4. CPU per cycle, in process -----------------------------------------------------------------

LAMBDA_CONTEXT = SimpleNamespace(
    function_name="bank-bench",
    memory_limit_in_mb=1024,
    aws_request_id="bench",
    get_remaining_time_in_millis=lambda: 10000,
)
_request_ids = itertools.count()


def lambda_event(path: str, body: dict) -> dict:
    """An API Gateway (REST, proxy integration) event, as Lambda hands it to the app."""
    request_id = f"bench-{next(_request_ids)}"
    headers = {"Authorization": f"Bearer {APP_ID}", "Content-Type": "application/json", "Host": "bench"}
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": "POST", "requestId": request_id, "stage": "api"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def reserve_commit(handler, bank_id: str) -> None:
    reserved = handler(lambda_event("/reserve", {"bank_id": bank_id, "price": -1}))
    committed = handler(lambda_event("/commit", {"reserve_ids": [json.loads(reserved["body"])["reserve_id"]]}))
    assert committed["statusCode"] == 200, committed


OURS = "ours, app(event, context): Chalice, middleware, ledger, pynamodb"
BARE = "bare boto3 handler, the same calls"
UNVALIDATED = "the same, parameter validation off as pynamodb"
BUSY_BUCKETS = 300
BLOCKS = 20


@contextlib.contextmanager
def production_telemetry():
    """Logs at INFO and metrics on, as in production, written to /dev/null: their CPU counts, their lines
    don't show (the JSON log line goes to the Powertools handler's stream, EMF metrics are print()ed)."""
    from chalicelib.observability import logger

    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        stream = logger.registered_handler.setStream(sink)
        logger.setLevel(logging.INFO)
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"
        try:
            yield
        finally:
            os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
            logger.setLevel(logging.WARNING)
            logger.registered_handler.setStream(stream)


def open_busy_account(services, bank_id: str) -> None:
    """An account as one taking a hold every second has: a held bucket for each of the next 300 seconds
    (at 0, their holds settled, so the balance is untouched; they expire and are pruned as it runs)."""
    from chalicelib.store.models import Account

    services.accounts.open(bank_id, bank_id)
    services.accounts.deposit(bank_id, 10**11, "入金")
    now = int(time.time())
    Account(bank_id).update(actions=[Account.held.set({str(now + s): 0 for s in range(1, BUSY_BUCKETS + 1)})])


def same_calls(services, sides: dict, bare_handlers: list) -> tuple[list[str], list[str]]:
    """Ours' calls in one warm cycle, and the calls of any bare handler that makes others (once told
    whether ours looks the app up on every request)."""
    with CallRecorder(dynamodb_client(services)) as recorder:
        ours = [str(call) for call in recorder.measure(sides[OURS])]
        app_lookups = any(call.app_lookup for call in recorder.calls)
    differing = []
    for label, handler in bare_handlers:
        handler.app_lookups = app_lookups
        for _ in range(20):
            sides[label]()
        with CallRecorder(handler.client) as recorder:
            if [str(call) for call in recorder.measure(sides[label])] != ours:
                differing.append(", ".join(map(str, recorder.calls)))
    return ours, differing


def cpu_per_cycle(services, cycles: int, profile: bool) -> None:
    from botocore.config import Config

    from benchmarks.bare import BareHandler
    from chalicelib.api import build_app

    app = build_app(services)
    services.accounts.open("cpu", "CPU")
    services.accounts.deposit("cpu", 10**11, "入金")
    open_busy_account(services, "cpu-busy")
    bare = BareHandler(TABLE_PREFIX, services.settings.region)
    # pynamodb turns botocore's parameter validation off; the same handler with the same client setting
    # isolates what our layers cost.
    unvalidated = BareHandler(TABLE_PREFIX, services.settings.region, Config(parameter_validation=False))
    ours_handler = functools.partial(app, context=LAMBDA_CONTEXT)
    sides = {
        OURS: functools.partial(reserve_commit, ours_handler, "cpu"),
        BARE: functools.partial(reserve_commit, bare.handler, "cpu"),
        UNVALIDATED: functools.partial(reserve_commit, unvalidated.handler, "cpu"),
        "ours busy": functools.partial(reserve_commit, ours_handler, "cpu-busy"),
        "bare busy": functools.partial(reserve_commit, bare.handler, "cpu-busy"),
    }
    with production_telemetry():
        for _ in range(20):
            sides[OURS]()
        calls, differing = same_calls(services, sides, [(BARE, bare), (UNVALIDATED, unvalidated)])
        # Blocks of cycles, the sides taking turns, and the median block: a busy moment of the machine
        # lands on every side, and only in some blocks.
        blocks: dict[str, list[float]] = {label: [] for label in sides}
        for _ in range(BLOCKS):
            for label, cycle in sides.items():
                blocks[label].append(cpu_ms(cycle, cycles // BLOCKS))
        ms = {label: statistics.median(values) for label, values in blocks.items()}
        if profile:
            whole = profile_cycles(sides[OURS], cycles)
            clients = (dynamodb_client(services), bare.client)
            with canned_dynamodb(clients[0], sides[OURS]), canned_dynamodb(clients[1], sides[BARE]):
                in_memory = [cpu_ms(sides[OURS], cycles * 3), cpu_ms(sides[BARE], cycles * 3)]
                layers = profile_cycles(sides[OURS], cycles * 3)

    say(f"\n4. CPU per reserve+commit cycle in process, one thread ({cycles} cycles each after warm-up, in {BLOCKS}")
    say("   blocks taking turns, median block; logs and metrics on, to /dev/null; process_time of this process,")
    say("   so not DynamoDB Local's JVM)")
    say(f"   {OURS:66} {ms[OURS]:5.1f} ms")
    for label in (BARE, UNVALIDATED):
        say(f"   {label:66} {ms[label]:5.1f} ms  ours / this: {ms[OURS] / ms[label]:.2f}")
    say(
        f"   on a busy account ({BUSY_BUCKETS} live held buckets): ours {ms['ours busy']:.1f} ms, bare"
        f" {ms['bare busy']:.1f} ms, ratio {ms['ours busy'] / ms['bare busy']:.2f}"
    )
    say(f"   calls a cycle, each side: {', '.join(calls)}")
    for other in differing:
        say(f"   A BARE HANDLER MADE OTHER CALLS: {other}")
    if profile:
        say(
            f"   with DynamoDB answered from memory at botocore's _make_api_call (no botocore, no HTTP): ours"
            f" {in_memory[0]:.2f} ms, bare {in_memory[1]:.2f} ms"
        )
        print_packages(whole, cycles)
        print_profile(layers, cycles * 3)


def cpu_ms(cycle, cycles: int) -> float:
    started = time.process_time()
    for _ in range(cycles):
        cycle()
    return (time.process_time() - started) * 1000 / cycles


@contextlib.contextmanager
def canned_dynamodb(client, cycle):
    """The client answers from the responses it got in one real `cycle`, replayed in order: what is left
    of a cycle's CPU is the handler's own, above botocore."""
    real, answers = client._make_api_call, []

    def recording(operation, params):
        answers.append(real(operation, params))
        return answers[-1]

    client._make_api_call = recording
    cycle()
    replies = itertools.cycle(answers)
    client._make_api_call = lambda operation, params: next(replies)
    try:
        yield
    finally:
        del client._make_api_call  # back to the class's method


def profile_cycles(cycle, cycles: int) -> dict:
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(lambda: [cycle() for _ in range(cycles)])
    return pstats.Stats(profiler).stats  # {(file, line, function): (calls, ncalls, tottime, cumtime, callers)}


SITE_PACKAGES = f"{PROJECT_DIR}/.venv/lib/python3.11/site-packages/"


def _where(file: str) -> str:
    for prefix in (SITE_PACKAGES, f"{PROJECT_DIR}/", sys.base_prefix):
        file = file.removeprefix(prefix)
    return file


def print_packages(stats: dict, cycles: int) -> None:
    """Own time of the whole cycle by package (the standard library by module; builtins apart)."""
    packages: Counter = Counter()
    for (file, _, _), (_, _, tottime, _, _) in stats.items():
        where = _where(file)
        if file == "~":
            package = "builtins (str.join, dict.get...)"
        elif where.startswith(("chalicelib/", "benchmarks/")):
            package = "/".join(where.split("/")[:2])
        elif file.startswith(SITE_PACKAGES):
            package = where.split("/")[0]
        else:
            module = Path(where)
            package = "stdlib " + (module.parent.name if module.stem == "__init__" else module.stem)
        packages[package] += tottime
    total = sum(packages.values())
    say(
        f"\n   Profile of ours, the whole cycle (cProfile on CPU time, {total * 1000 / cycles:.1f} ms a cycle):"
        " own time by package"
    )
    shares = [f"{package} {seconds / total:.0%}" for package, seconds in packages.most_common(12)]
    for start in range(0, len(shares), 6):
        say("     " + ", ".join(shares[start : start + 6]))


def print_profile(stats: dict, cycles: int, top: int = 25) -> None:
    """Our layers alone (DynamoDB answered from memory): by cumulative and by own time, in ms a cycle as
    cProfile sees them (inflated by it several times; compare rows, not with the figures above)."""
    total = sum(tottime for _, _, tottime, _, _ in stats.values())

    def name(key) -> str:
        file, line, function = key
        return f"{_where(file)}:{line}({function})" if line else function

    rows = {key: value for key, value in stats.items() if "benchmarks/" not in key[0]}
    say(f"\n   Profile of ours, DynamoDB answered from memory: {total * 1000 / cycles:.2f} ms a cycle profiled")
    for title, column in (("by cumulative", 3), ("by own time", 2)):
        say(f"   {title + ':':16} cum ms   own ms  calls/cycle  function")
        ranked = sorted(rows.items(), key=lambda row: row[1][column], reverse=True)
        for key, (_, ncalls, tottime, cumtime, _) in ranked[:top]:
            cum, own = cumtime * 1000 / cycles, tottime * 1000 / cycles
            say(f"   {'':14}{cum:7.3f}  {own:7.3f}  {ncalls / cycles:11.1f}  {name(key)}")


# --- 5. keep-alive latency ------------------------------------------------------------------------


def keep_alive_latency(services, port: int, requests: int = 200) -> None:
    from local.latency import sequential_latency

    services.accounts.open("latency", "Latency")
    body = json.dumps({"bank_id": "latency", "price": 0}).encode()
    headers = {"Authorization": f"Bearer {APP_ID}"}
    latency = sequential_latency(f"http://127.0.0.1:{port}", "POST", "/check", body, headers, requests)
    say(f"\n5. Sequential /check latency through the local server (median of {requests} requests)")
    say(
        f"   one kept-alive connection {latency.kept_alive_ms:.1f} ms; a new connection per request"
        f" {latency.new_connection_ms:.1f} ms; ratio {latency.kept_alive_ms / latency.new_connection_ms:.2f}"
    )


# --- 6. the bank common API ----------------------------------------------------------------------

BANK_API_KEY = "bench-api-key"
BANK_PASSWORD = "bench-client-password"
BANK_USER = "bench-user"
USER_PASSWORD = "bench-user-password"
HISTORY_POSTINGS = 1000


def bank_request(connection, method: str, path: str, token: str | None, body: dict | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = connection.getresponse()
    answer = json.loads(response.read())
    assert response.status == 200, (method, path, response.status, answer)
    return answer


def last_month(now: datetime) -> tuple[date, date]:
    """The JST calendar month before now's: wholly past, so back-dated postings may fill it."""
    from chalicelib.clock import JST

    end = now.astimezone(JST).date().replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def post_month(services, account_id: str, start: date, end: date, postings: int) -> None:
    """`postings` deposits of 1 spread evenly over the JST days start..end, oldest first (a back-dated
    posting may not precede the account's last)."""
    from chalicelib.clock import JST

    first = datetime(start.year, start.month, start.day, tzinfo=JST)
    step = (datetime(end.year, end.month, end.day, tzinfo=JST) + timedelta(days=1) - first) / postings
    for n in range(postings):
        services.accounts.deposit(account_id, 1, "入金", at=first + n * step)


@contextlib.contextmanager
def timed_password_checks(spent: list[float]):
    """Appends to `spent` the seconds of each password check (Argon2id) of the app, client's or user's."""
    from chalicelib.auth import clients, logins
    from chalicelib.auth.passwords import verify_password

    def timed(stored_hash, password):
        started = time.perf_counter()
        try:
            return verify_password(stored_hash, password)
        finally:
            spent.append(time.perf_counter() - started)

    with mock.patch.object(clients, "verify_password", timed), mock.patch.object(logins, "verify_password", timed):
        yield


def bank_common_api(services, port: int) -> None:
    services.clients.create(
        "Bench App", ["https://bench.example/cb"], api_key=BANK_API_KEY, password=BANK_PASSWORD, password_login=True
    )
    services.branches.create("001", "本店", "ホンテン", "131016", "0311112222")
    services.accounts.open(BANK_USER, "Bench User")
    services.logins.set_password(BANK_USER, USER_PASSWORD)
    start, end = last_month(services.clock.now())
    started = time.perf_counter()
    post_month(services, BANK_USER, start, end, HISTORY_POSTINGS)
    built_s = time.perf_counter() - started
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    statement = {"account_id": BANK_USER, "start_date": start.isoformat(), "end_date": end.isoformat()}
    client = {"api_key": BANK_API_KEY, "password": BANK_PASSWORD}

    def session(call) -> None:
        """Each call once, in an app's order: `call(row name, method, path, token, body)` answers the body."""
        system = call("POST /auth/system_token", "POST", "/auth/system_token", None, client)["access_token"]
        login = {"api_key": BANK_API_KEY, "id": BANK_USER, "password": USER_PASSWORD}
        auth = call("POST /auth/login (sign-in)", "POST", "/auth/login", None, login)["auth_token"]
        pair = call("POST /auth/token (exchange)", "POST", "/auth/token", system, {**client, "auth_token": auth})
        access = pair["access_token"]
        for page in (1, 5):
            query = urlencode({**statement, "page": page})
            call(f"GET /transactions page {page}", "GET", f"/transactions?{query}", access)
        call("GET /balances (the month)", "GET", f"/balances?{urlencode(statement)}", access)
        call("GET /accounts", "GET", "/accounts", access)
        call("GET /branches", "GET", "/branches?page=1", system)
        refresh = {"api_key": BANK_API_KEY, "refresh_token": pair["refresh_token"]}
        rotated = call("PUT /auth/token (rotate)", "PUT", "/auth/token", system, refresh)
        refresh = {"api_key": BANK_API_KEY, "refresh_token": rotated["refresh_token"]}
        call("DELETE /auth/token (revoke)", "DELETE", "/auth/token", system, refresh)

    session(lambda name, *request: bank_request(connection, *request))  # warm-up
    rows: dict[str, tuple[list[Call], float, float]] = {}  # calls, ms over HTTP, ms of Argon2id
    checks: list[float] = []
    with CallRecorder(dynamodb_client(services)) as recorder, timed_password_checks(checks):

        def record(name, *request):
            answer, checked = [], len(checks)
            started = time.perf_counter()
            calls = recorder.measure(lambda: answer.append(bank_request(connection, *request)))
            rows[name] = calls, (time.perf_counter() - started) * 1000, sum(checks[checked:]) * 1000
            return answer[0]

        session(record)
    connection.close()

    say("\n6. The bank common API over HTTP: DynamoDB calls, consumed capacity and latency of one call each, after")
    say(
        f"   a warm-up round (an account with {HISTORY_POSTINGS} postings over {start:%Y-%m}, JST; built in"
        f" {built_s:.1f} s)"
    )
    say(f"   {'':28} {'':5} {'read':>5} {'write':>5} {'ms over':>7} {'of which':>17}")
    say(
        f"   {'call':28} {'calls':>5} {'units':>5} {'units':>5} {'HTTP':>7} {'DynamoDB':>8} {'Argon2id':>8}  operations"
    )
    for name, (calls, ms, argon2_ms) in rows.items():
        reads = sum(call.capacity for call in calls if call.reads)
        writes = sum(call.capacity for call in calls if not call.reads)
        dynamodb_ms = sum(call.round_trip_s for call in calls) * 1000
        say(
            f"   {name:28} {len(calls):>5} {reads:>5.1f} {writes:>5.1f} {ms:>7.1f} {dynamodb_ms:>8.1f}"
            f" {argon2_ms:>8.1f}  {' + '.join(map(str, calls))}"
        )
    (first, *_), (fifth, *_) = rows["GET /transactions page 1"], rows["GET /transactions page 5"]
    same = [str(call) for call in first] == [str(call) for call in fifth]
    units = [sum(call.capacity for call in calls) for calls in (first, fifth)]
    say(
        f"   page 5 / page 1: {'the same' if same else 'OTHER'} calls, {units[1]:.1f} / {units[0]:.1f} capacity units"
        " (a page is a seq range; daily_balances bound it)"
    )
    calls, sign_in_ms, argon2_ms = rows["POST /auth/login (sign-in)"]
    dynamodb_ms = sum(call.round_trip_s for call in calls) * 1000
    say(
        f"   one sign-in {sign_in_ms:.1f} ms: Argon2id (OWASP's 19 MiB, 2 passes) {argon2_ms / sign_in_ms:.0%},"
        f" {len(calls)} DynamoDB round trips {dynamodb_ms / sign_in_ms:.0%}, the rest"
    )
    say(
        f"   (HTTP, Python) {1 - (argon2_ms + dynamodb_ms) / sign_in_ms:.0%}; system_token and the exchange check"
        " the client's password with Argon2id too"
    )


# --- 7. the card gateway ---------------------------------------------------------------------------

GATEWAY = "/api/v1/server-to-server-interface"
TEST_CARD = {"number": "4242424242424242", "expiry_month": "12", "expiry_year": "30", "cvc": "123", "name": "Bench"}


def gateway_request(connection, key: str, path: str, body: dict, method: str = "POST") -> tuple[int, dict]:
    headers = {"Authorization": f"Basic {key}", "x-api-key": key, "Content-Type": "application/json"}
    connection.request(method, path, body=None if method == "GET" else json.dumps(body), headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def purchases_per_second(port: int, keys: list[str], seconds: float, threads: int) -> tuple[float, Counter]:
    """Client threads paying with the test card, each payment to a merchant picked from `keys`."""
    counts: Counter = Counter()
    deadline = time.monotonic() + seconds
    refs = itertools.count()

    def client(index: int) -> None:
        rng = random.Random(index)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            body = {"amount": 1, "currency": "JPY", "card": TEST_CARD, "merchant_txn_ref": f"bench-{next(refs)}"}
            status, _ = gateway_request(connection, rng.choice(keys), f"{GATEWAY}/payment", body)
            counts["purchases" if status == 201 else f"status {status}"] += 1
        connection.close()

    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return counts["purchases"] / (time.monotonic() - started), counts


def card_gateway(services, port: int, seconds: float, threads: int) -> None:
    hot = services.merchants.create("Hot shop")
    spread = [services.merchants.create(f"Shop {n}") for n in range(50)]
    services.accounts.open("card-holder", "Card Holder")
    card = services.issuer.issue("card-holder", credit_limit=10**11)
    own = {**TEST_CARD, "number": card.number, "expiry_month": card.expiry_month, "expiry_year": card.expiry_year}
    own["cvc"] = card.cvc
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    key = hot.api_key
    refs = itertools.count()

    def paid(path: str, card_body: dict, extra: dict | None = None) -> str:
        body = {"amount": 100, "currency": "JPY", "card": card_body, "merchant_txn_ref": f"op-{next(refs)}"}
        body.update(extra or {})
        status, answer = gateway_request(connection, key, f"{GATEWAY}/{path}", body)
        assert status == 201, answer
        return answer["transaction_details"]["id"]

    rows: dict[str, list[Call]] = {}
    paid("payment", TEST_CARD)  # warm-up
    with CallRecorder(dynamodb_client(services)) as recorder:
        for label, card_body in (("another bank's card", TEST_CARD), ("this bank's card", own)):
            rows[f"payment, {label}"] = recorder.measure(lambda card_body=card_body: paid("payment", card_body))
            authorised: list[str] = []
            rows[f"authorization, {label}"] = recorder.measure(
                lambda card_body=card_body, authorised=authorised: authorised.append(paid("authorization", card_body))
            )
            follow = {"transactionId": authorised[0]}
            rows[f"capture, {label}"] = recorder.measure(
                lambda follow=follow: gateway_request(connection, key, f"{GATEWAY}/capture", follow)
            )
            rows[f"refund, {label}"] = recorder.measure(
                lambda follow=follow: gateway_request(connection, key, f"{GATEWAY}/refund", {**follow, "amount": 10})
            )
        voided = {"transactionId": paid("authorization", own)}
        rows["void, this bank's card"] = recorder.measure(
            lambda: gateway_request(connection, key, f"{GATEWAY}/void", voided)
        )
        status_path = f"{GATEWAY}/transaction/status/{voided['transactionId']}"
        rows["transaction/status"] = recorder.measure(
            lambda: gateway_request(connection, key, status_path, {}, method="GET")
        )
        challenge = {"amount": 100, "currency": "JPY", "card": {**TEST_CARD, "number": "4000002500003155"}}
        rows["paymentv2, a 3-D Secure card"] = recorder.measure(
            lambda: gateway_request(connection, key, f"{GATEWAY}/paymentv2", {**challenge, "merchant_txn_ref": "v2"})
        )
        hook = {"return_url": {"webhook_url": "http://127.0.0.1:9/hooks"}}
        hooked: list[str] = []
        rows["payment with a webhook URL"] = recorder.measure(lambda: hooked.append(paid("payment", TEST_CARD, hook)))
        rows["one webhook attempt (worker)"] = recorder.measure(lambda: services.webhooks.deliver(hooked[0]))
        webhooks_path = f"{GATEWAY}/transaction/{hooked[0]}/webhooks"
        rows["transaction/{id}/webhooks"] = recorder.measure(
            lambda: gateway_request(connection, key, webhooks_path, {}, method="GET")
        )
    connection.close()
    say("\n7. The card gateway over HTTP: DynamoDB calls and consumed capacity of one call each (warm)")
    for name, calls in rows.items():
        units = sum(call.capacity for call in calls)
        say(f"   {name:34} {len(calls):>2} calls {units:>5.1f} units  {' + '.join(map(str, calls))}")
    hot_rate, hot_counts = purchases_per_second(port, [hot.api_key], seconds, threads)
    spread_rate, spread_counts = purchases_per_second(port, [m.api_key for m in spread], seconds, threads)
    say(f"   purchases over HTTP ({threads} client threads, {seconds:.0f} s each):")
    for label, rate, counts in (("one merchant", hot_rate, hot_counts), ("50 merchants", spread_rate, spread_counts)):
        others = ", ".join(f"{k}: {v}" for k, v in counts.items() if k != "purchases") or "no errors"
        say(f"   {label:16} {rate:7.1f} purchases/s ({counts['purchases']} purchases; {others})")
    say(
        f"   one merchant / 50 merchants: {hot_rate / spread_rate:.2f}x (a merchant is paid into 8 shard accounts,"
        " the network's clearing into 8: captures of one merchant spread over them)"
    )


# --- 8. the ledger audit ---------------------------------------------------------------------------


def audit_speed(services, accounts: int = 100, postings: int = 200) -> None:
    """The ledger the sections before left, plus `accounts` accounts of `postings` deposits of 1 each (written in
    batches, their books consistent), audited with 1, 4 and 8 parallel scan segments per table."""
    from chalicelib.clock import epoch_ms
    from chalicelib.ledger.audit import Audit
    from chalicelib.store.models import DEPOSIT, Account, Posting

    now = services.clock.now()
    with Account.batch_write() as account_batch, Posting.batch_write() as posting_batch:
        for n in range(accounts):
            account_id = f"bench-audit-{n:03d}"
            account_batch.save(
                Account(
                    account_id,
                    account_number=f"9{n:06d}",
                    balance=postings,
                    available=postings,
                    held={},
                    posting_seq=postings,
                    last_posted_ms=epoch_ms(now),
                    created_at=now,
                )
            )
            for seq in range(1, postings + 1):
                posting_batch.save(
                    Posting(
                        account_id,
                        seq,
                        amount=1,
                        balance_after=seq,
                        description="入金",
                        posted_at=now,
                        posted_ms=epoch_ms(now),
                        kind=DEPOSIT,
                    )
                )
    say()
    say("8. The ledger audit (accounts, postings, holds and card transactions, each table scanned once)")
    for segments in (1, 4, 8):
        read: list[int] = []
        started = time.perf_counter()
        report = Audit(services.clock, services.retrier).run(segments=segments, progress=read.append)
        elapsed = time.perf_counter() - started
        say(
            f"   {segments} segment(s): {sum(read):,} items in {elapsed:.2f} s, {sum(read) / elapsed:,.0f} items/s"
            f" ({report.accounts:,} accounts, {report.postings:,} postings, {report.holds:,} holds;"
            f" {len(report.findings)} findings)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput run")
    parser.add_argument("--threads", type=int, default=8, help="client threads of the throughput runs")
    parser.add_argument("--cycles", type=int, default=300, help="cycles of the CPU section, each side")
    parser.add_argument("--profile", action="store_true", help="print the top of the profile of our cycle")
    parser.add_argument("--sections", default="12345678", help="which sections to run, e.g. 4 (default: all)")
    args = parser.parse_args()

    sys.path.insert(0, str(PROJECT_DIR))
    from local.dynamodb_local import DynamoDBLocal, free_port

    stray = StrayOutput()
    try:
        with DynamoDBLocal() as database:
            os.environ.update(
                AWS_ENDPOINT_URL_DYNAMODB=database.endpoint,
                AWS_ACCESS_KEY_ID="bench",
                AWS_SECRET_ACCESS_KEY="bench",
                AWS_DEFAULT_REGION="ap-northeast-1",
                BANK_TABLE_PREFIX=TABLE_PREFIX,
                BANK_CONTEST_COMPAT="0",
                POWERTOOLS_METRICS_DISABLED="true",
                BANK_CARD_KEY="bench-card-key",
            )
            from chalicelib.api import build_app
            from chalicelib.services import Services
            from chalicelib.settings import Settings
            from chalicelib.store import tables
            from chalicelib.store.transactions import Retrier

            quiet_logs()
            # After the imports: the Powertools logger keeps the real stdout, so its warnings still show.
            sys.stdout = stray
            probe = ContentionProbe()
            services = Services(Settings.from_env(), retrier=Retrier(sleep=probe.sleep))
            tables.create_tables()
            services.apps.create("bench", app_id=APP_ID)
            app = build_app(services)
            app.register_middleware(probe.middleware, "http")
            port = free_port()
            server = quiet_server(port, app)
            say(
                f"Ledger and ISUBANK benchmarks: one run on {os.cpu_count()} CPUs, Python {platform.python_version()},"
                " DynamoDB Local in memory"
            )
            sections = {
                "1": lambda: calls_per_endpoint(services, port),
                "2": import_time_ratio,
                "3": lambda: throughput(services, probe, port, args.seconds, args.threads),
                "4": lambda: cpu_per_cycle(services, args.cycles, args.profile),
                "5": lambda: keep_alive_latency(services, port),
                "6": lambda: bank_common_api(services, port),
                "7": lambda: card_gateway(services, port, args.seconds, args.threads),
                "8": lambda: audit_speed(services),
            }
            for number in args.sections:
                sections[number]()
            server.shutdown()
    finally:
        sys.stdout = FIGURES
    if stray.lines:
        print(f"(the app printed {stray.lines} lines on stdout despite the settings above; dropped)", file=sys.stderr)


if __name__ == "__main__":
    main()
