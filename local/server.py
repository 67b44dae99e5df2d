"""`make run`: DynamoDB Local with data on disk, tables and demo data, and the app on a local server.

The server is Chalice's own local gateway (the same routing as `chalice local`) on the classes of
`local/http_server.py`. Every line it writes is one record (`local/output.py`): a JSON log line or an
access-log line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from chalice import Chalice
from chalice.cli.factory import CLIFactory
from chalice.local import CustomLocalChalice, LocalChalice, LocalDevServer

from chalicelib.cli import PROJECT_DIR, load_stage_environment
from local import output
from local.dynamodb_local import DynamoDBLocal, is_serving

STAGE = "local"
DATA_DIR = PROJECT_DIR / ".local" / "dynamodb"


def ensure_database() -> DynamoDBLocal | None:
    """Use the stage's DynamoDB endpoint if something serves it; otherwise start DynamoDB Local there."""
    endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    if is_serving(endpoint):
        return None
    port = urlparse(endpoint).port
    return DynamoDBLocal(port=port, data_dir=str(DATA_DIR)).start()


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
    database = ensure_database()
    try:
        from chalicelib.observability import logger
        from chalicelib.services import Services
        from local.demo import DEMO_APP_ID, DEMO_USERS, seed

        output.log_libraries_as_json(logger)
        seed(Services.from_env())
        server = build_server(port)
        users = ", ".join(f"{bank_id} ({amount} yen)" for bank_id, amount in DEMO_USERS.items())
        print(
            f"""
Bank local server (stage {STAGE})
  API            http://127.0.0.1:{port}
  DynamoDB       {os.environ["AWS_ENDPOINT_URL_DYNAMODB"]} (data in {DATA_DIR.relative_to(PROJECT_DIR)})
  Demo app id    {DEMO_APP_ID}      (Authorization: Bearer {DEMO_APP_ID})
  Demo bank_ids  {users}
  Try            curl -s -X POST http://127.0.0.1:{port}/reserve -H 'Authorization: Bearer {DEMO_APP_ID}' \\
                   -d '{{"bank_id": "alice", "price": -1000}}'
  Operator CLI   .venv/bin/python -m chalicelib.cli balance --bank-id alice
""",
            flush=True,
        )
        server.server.serve_forever()  # not LocalDevServer's, which prints a line of its own
    except KeyboardInterrupt:
        pass
    finally:
        if database:
            database.stop()


def main() -> None:
    output.install()  # first: the app's logger keeps the sys.stdout it finds when it is made
    sys.path.insert(0, str(Path(PROJECT_DIR)))
    serve(int(os.environ.get("PORT", "8000")))


if __name__ == "__main__":
    main()
