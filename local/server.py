"""`make run`: DynamoDB Local with data on disk, tables and demo data, and the app on a local server.

The server is Chalice's own local gateway (the same routing as `chalice local`) on the classes of
`local/http_server.py`. Every line it writes is one record (`local/output.py`): a JSON log line or an
access-log line, after the startup text.

It starts DynamoDB Local on the stage's endpoint (AWS_ENDPOINT_URL_DYNAMODB, 127.0.0.1:8001) unless
something already serves it, which it then uses and says so. Ctrl-C, SIGTERM and SIGHUP stop it, and
the DynamoDB Local it started, with exit status 0. BANK_LOCAL_DATA_DIR moves DynamoDB Local's data
(default .local/dynamodb), so that tests leave the developer's data alone.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from pathlib import Path
from urllib.parse import quote, urlparse

from chalice import Chalice
from chalice.cli.factory import CLIFactory
from chalice.local import CustomLocalChalice, LocalChalice, LocalDevServer

from chalicelib.cli import PROJECT_DIR, load_stage_environment
from local import output, webhook_worker
from local.dynamodb_local import DynamoDBLocal, is_serving, listening_pid

STAGE = "local"


def data_dir() -> Path:
    """Where DynamoDB Local keeps its data: BANK_LOCAL_DATA_DIR, or .local/dynamodb in the project."""
    return Path(os.environ.get("BANK_LOCAL_DATA_DIR", PROJECT_DIR / ".local" / "dynamodb"))


def ensure_database() -> DynamoDBLocal | None:
    """Use the stage's DynamoDB endpoint if something serves it, and say so; otherwise start DynamoDB
    Local there."""
    endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    url = urlparse(endpoint)
    if not is_serving(endpoint):
        return DynamoDBLocal(port=url.port, data_dir=str(data_dir())).start()
    pid = listening_pid(url.port) if url.hostname in ("127.0.0.1", "localhost") else None
    print(
        f"DynamoDB endpoint {endpoint} is already served by another process{f' (pid {pid})' if pid else ''}: "
        "using it; stop it to let `make run` start its own",
        flush=True,
    )
    return None


def build_server(port: int, app: Chalice | None = None) -> LocalDevServer:
    """The app (by default app.py's, for the local stage) on our server and handler classes."""
    from local.http_server import LocalHTTPServer, LocalRequestHandler

    config = CLIFactory(str(PROJECT_DIR)).create_config_obj(chalice_stage_name=STAGE)
    app = app or config.chalice_app
    # As chalice.local.create_local_server does: a thread-local current_request per request thread.
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, "127.0.0.1", port, handler_cls=LocalRequestHandler, server_cls=LocalHTTPServer)


def serve(port: int) -> None:
    load_stage_environment(STAGE)
    from chalicelib.observability import logger  # once the stage's environment, which it reads, is in place

    output.log_libraries_as_json(logger)
    try:
        server = build_server(port)  # before DynamoDB Local: a port in use fails at once
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        raise SystemExit(
            f"port {port} is already in use on 127.0.0.1: stop what serves it, or choose another (PORT=8080 make run)"
        ) from None
    database = None
    try:
        from chalicelib.services import Services
        from chalicelib.store.tables import StaleTable
        from local.demo import (
            DEMO_API_KEY,
            DEMO_APP_ID,
            DEMO_CLIENT_PASSWORD,
            DEMO_MERCHANT_KEY,
            DEMO_ORG_PUBLISHABLE_KEY,
            DEMO_ORG_TOKEN,
            DEMO_PUBLISHABLE_KEY,
            DEMO_REDIRECT_URI,
            DEMO_USERS,
            DEMO_WEBHOOK_SECRET,
            demo_card,
            seed,
        )

        database = ensure_database()
        services = Services.from_env()
        try:
            seed(services)
        except StaleTable as error:
            raise SystemExit(f"bank: {error}, or start the local database afresh: rm -rf {data_dir()}") from None
        card = demo_card(services)
        stop_worker = webhook_worker.start(services)
        users = ", ".join(f"{bank_id} ({amount} yen)" for bank_id, amount in DEMO_USERS.items())
        storage = f"DynamoDB Local, data in {data_dir()}" if database else "not started by this server"
        print(
            f"""
Bank local server (stage {STAGE})
  API            http://127.0.0.1:{port}
  DynamoDB       {os.environ["AWS_ENDPOINT_URL_DYNAMODB"]} ({storage})
  Demo app id    {DEMO_APP_ID}      (Authorization: Bearer {DEMO_APP_ID})
  Demo bank_ids  {users}
  Try            curl -s -X POST http://127.0.0.1:{port}/reserve -H 'Authorization: Bearer {DEMO_APP_ID}' \\
                   -d '{{"bank_id": "alice", "price": -1000}}'
  Demo client    api_key {DEMO_API_KEY}, password {DEMO_CLIENT_PASSWORD} (bank common API)
  Login page     http://127.0.0.1:{port}/auth/login?api_key={DEMO_API_KEY}&redirect_uri={DEMO_REDIRECT_URI}
                   sign in as alice / alice-password (bob-password, carol-password)
  Demo merchant  api key {DEMO_MERCHANT_KEY} (card gateway: Authorization: Basic {DEMO_MERCHANT_KEY}, x-api-key),
                   publishable key {DEMO_PUBLISHABLE_KEY} (POST /api/v1/tokens: Authorization: Bearer ...)
  Webhooks       signed with {DEMO_WEBHOOK_SECRET}; receive and verify them:
                   .venv/bin/python -m local.webhook_receiver --secret {DEMO_WEBHOOK_SECRET}
                   then pay with "return_url": {{"webhook_url": "http://127.0.0.1:9000/webhooks"}}
  Demo cards     4242424242424242 (any future expiry, any 3-digit CVC) approves; alice's card of this bank
                   {card.number} {card.expiry_month}/{card.expiry_year} CVC {card.cvc} (credit line 200000 yen)
                   4000002500003155 asks for 3-D Secure on paymentv2 (open its redirect_url in a browser)
  Card page      http://127.0.0.1:{port}/payment/card#access_token={quote(DEMO_ORG_TOKEN)}&publishable_key={DEMO_ORG_PUBLISHABLE_KEY}
                   (card registration: the demo organisation's member, Authorization: Bearer {DEMO_ORG_TOKEN})
  API docs       http://127.0.0.1:{port}/docs
  Operator CLI   .venv/bin/python -m chalicelib.cli balance --bank-id alice
""",
            flush=True,
        )
        try:
            server.server.serve_forever()  # not LocalDevServer's, which prints a line of its own
        finally:
            stop_worker.set()
    finally:
        server.server.server_close()
        if database:
            database.stop()


def main() -> None:
    output.install()  # first: the app's logger keeps the sys.stdout it finds when it is made
    # Stopped by a supervisor or `kill` (SIGTERM), or its terminal gone (SIGHUP): as by Ctrl-C, so that
    # the DynamoDB Local it started stops too instead of living on, re-parented, on its port. A signal
    # ignored from the start (nohup) stays ignored, as Python leaves an ignored SIGINT.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, signal.default_int_handler)
    sys.path.insert(0, str(Path(PROJECT_DIR)))
    try:
        serve(int(os.environ.get("PORT", "8000")))
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP: a normal stop
        pass


if __name__ == "__main__":
    main()
