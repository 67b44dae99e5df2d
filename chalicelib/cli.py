"""The operator CLI: `python -m chalicelib.cli [--stage STAGE] COMMAND ...`, printing JSON.

It reads the stage's environment from .chalice/config.json (the shell's own variables win), so it works
against the local database (`--stage local`, the default) or a deployed stage's tables on AWS with the
usual AWS credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent


def load_stage_environment(stage: str, project_dir: Path = PROJECT_DIR) -> None:
    """Apply a stage's environment variables from .chalice/config.json, as `chalice local` would."""
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    if stage not in config.get("stages", {}):
        raise SystemExit(f"unknown stage {stage!r}: see .chalice/config.json")
    variables = {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}
    for name, value in variables.items():
        os.environ.setdefault(name, value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local", help="stage in .chalice/config.json (default: local)")
    commands = parser.add_subparsers(dest="command", required=True)

    app = commands.add_parser("app", help="ISUBANK apps").add_subparsers(dest="action", required=True)
    app_create = app.add_parser("create", help="issue an app id (printed once; only its hash is stored)")
    app_create.add_argument("--name", required=True)

    user = commands.add_parser("user", help="bank users").add_subparsers(dest="action", required=True)
    user_create = user.add_parser("create", help="a bank user with an ordinary account whose id is the bank_id")
    user_create.add_argument("--bank-id", required=True)
    user_create.add_argument("--name", help="display name (default: the bank_id)")

    credit = commands.add_parser("credit", help="deposits").add_subparsers(dest="action", required=True)
    credit_add = credit.add_parser("add", help="credit an account at once")
    credit_add.add_argument("--bank-id", required=True)
    credit_add.add_argument("--amount", required=True, type=int)
    credit_add.add_argument("--description", default="入金")

    balance = commands.add_parser("balance", help="committed balance, live holds and available funds")
    balance.add_argument("--bank-id", required=True)

    tables = commands.add_parser("tables", help="DynamoDB tables").add_subparsers(dest="action", required=True)
    tables.add_parser("create", help="create the stage's missing tables (local use; AWS uses infra/)")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    # Imported here so that the stage environment is in place before anything reads it.
    from chalicelib.services import Services
    from chalicelib.store import tables

    services = Services.from_env()
    if args.command == "app":
        app_id, identity = services.apps.create(args.name)
        return {"app_id": app_id, "name": identity.name, "app_key": identity.app_key}
    if args.command == "user":
        account = services.accounts.open(args.bank_id, args.name or args.bank_id)
        return {"bank_id": account.account_id, "account_number": account.account_number}
    if args.command == "credit":
        result = services.accounts.deposit(args.bank_id, args.amount, args.description)
        return {"bank_id": args.bank_id, "balance": result.balance, "available": result.available}
    if args.command == "balance":
        result = services.accounts.balance(args.bank_id)
        return {"bank_id": args.bank_id, "balance": result.balance, "available": result.available, "held": result.held}
    return {"created": tables.create_tables()}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    load_stage_environment(args.stage)
    from chalicelib.ledger.errors import LedgerError

    try:
        result = run(args)
    except LedgerError as error:
        print(json.dumps({"error": type(error).__name__}), file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
