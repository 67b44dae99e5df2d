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
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Back-dated postings are demo and test data: never on prod.
BACK_DATING_STAGES = ("local", "dev")


def load_stage_environment(stage: str, project_dir: Path = PROJECT_DIR) -> None:
    """Apply a stage's environment variables from .chalice/config.json, as `chalice local` would."""
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    if stage not in config.get("stages", {}):
        raise SystemExit(f"unknown stage {stage!r}: see .chalice/config.json")
    variables = {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}
    for name, value in variables.items():
        os.environ.setdefault(name, value)


def _instant(text: str) -> datetime:
    """ISO 8601; without an offset it is the bank's time, JST."""
    from chalicelib.clock import JST

    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=JST)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local", help="stage in .chalice/config.json (default: local)")
    commands = parser.add_subparsers(dest="command", required=True)

    app = commands.add_parser("app", help="ISUBANK apps").add_subparsers(dest="action", required=True)
    app_create = app.add_parser("create", help="issue an app id (printed once; only its hash is stored)")
    app_create.add_argument("--name", required=True)

    client = commands.add_parser("client", help="bank common API clients (fintech apps)").add_subparsers(
        dest="action", required=True
    )
    client_create = client.add_parser("create", help="register a client (its password is printed once)")
    client_create.add_argument("--name", required=True, help="shown to users on the login page")
    client_create.add_argument(
        "--redirect-uri", required=True, action="append", help="an exact redirect URI (repeat for more)"
    )
    client_create.add_argument("--grants", default="read,write", help="comma separated, of read,write (default both)")
    client_create.add_argument(
        "--password-login", action="store_true", help="allow the REST sign-in, POST /auth/login (off by default)"
    )

    merchant = commands.add_parser("merchant", help="card gateway merchants").add_subparsers(
        dest="action", required=True
    )
    merchant_create = merchant.add_parser("create", help="register a merchant (its keys are printed once)")
    merchant_create.add_argument("--name", required=True, help="its legal name, as answers show it")
    merchant_create.add_argument(
        "--webhook-url", help="where its webhooks go unless a payment names its own (http or https)"
    )

    org = commands.add_parser("org", help="organisations of the card registration API").add_subparsers(
        dest="action", required=True
    )
    org_create = org.add_parser("create", help="an organisation, its first member's access token, its publishable key")
    org_create.add_argument("--name", required=True)
    org_create.add_argument(
        "--no-payment-settings", action="store_true", help="without payment settings: no card can be registered yet"
    )
    org_member = org.add_parser("member", help="members' access tokens").add_subparsers(dest="member", required=True)
    member_add = org_member.add_parser("add", help="a new member's access token (printed once)")
    member_add.add_argument("--org-id", required=True)
    member_add.add_argument("--name", required=True)
    member_revoke = org_member.add_parser("revoke", help="an access token authenticates no more")
    member_revoke.add_argument("--access-token", required=True)
    org_settings = org.add_parser("settings", help="payment settings").add_subparsers(dest="settings", required=True)
    settings_create = org_settings.add_parser("create", help="add the organisation's payment settings")
    settings_create.add_argument("--org-id", required=True)

    card = commands.add_parser("card", help="cards this bank issues").add_subparsers(dest="action", required=True)
    card_issue = card.add_parser("issue", help="issue a card on a new card account (the card is printed once)")
    card_issue.add_argument("--bank-id", required=True)
    card_issue.add_argument("--credit-limit", required=True, type=int, help="yen")

    branch = commands.add_parser("branch", help="the bank's branches").add_subparsers(dest="action", required=True)
    branch_create = branch.add_parser("create", help="register a branch")
    branch_create.add_argument("--code", required=True, help="3 digits")
    branch_create.add_argument("--name", required=True, help="e.g. 秋葉原支店")
    branch_create.add_argument("--name-kana", required=True, help="full-width katakana, e.g. アキハバラ")
    branch_create.add_argument("--address-code", required=True, help="6-digit local government code (団体コード)")
    branch_create.add_argument("--tel", required=True, help="10 or 11 digits, no hyphens")

    user = commands.add_parser("user", help="bank users").add_subparsers(dest="action", required=True)
    user_create = user.add_parser("create", help="a bank user with an ordinary account whose id is the bank_id")
    user_create.add_argument("--bank-id", required=True)
    user_create.add_argument("--name", help="display name (default: the bank_id)")
    user_create.add_argument("--branch", help="code of a registered branch (default: the head office, 001)")
    user_create.add_argument("--password", help="give the user a login for the bank common API")

    credit = commands.add_parser("credit", help="deposits").add_subparsers(dest="action", required=True)
    credit_add = credit.add_parser("add", help="credit an account at once")
    credit_add.add_argument("--bank-id", required=True)
    credit_add.add_argument("--amount", required=True, type=int)
    credit_add.add_argument("--description", default="入金")
    credit_add.add_argument(
        "--at",
        type=_instant,
        help="back-date the deposit (local and dev stages only): ISO 8601, JST without an offset; not before "
        "the account's last posting, not in the future",
    )

    balance = commands.add_parser("balance", help="committed balance, live holds and available funds")
    whose = balance.add_mutually_exclusive_group(required=True)
    whose.add_argument("--bank-id", help="a bank user's ordinary account")
    whose.add_argument("--account-id", help="any account: a card's (cc-...), a merchant's shard, ...")

    audit = commands.add_parser("audit", help="check the ledger's books (a JSON report; exit 2 on any finding)")
    audited = audit.add_mutually_exclusive_group()
    audited.add_argument("--bank-id", help="a bank user's accounts only")
    audited.add_argument("--account-id", help="one account only")
    audit.add_argument("--segments", type=int, default=4, help="parallel scan segments per table (default 4)")

    tables = commands.add_parser("tables", help="DynamoDB tables").add_subparsers(dest="action", required=True)
    tables.add_parser("create", help="create the stage's missing tables (local use; AWS uses infra/)")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    # Imported here so that the stage environment is in place before anything reads it.
    from chalicelib.ledger.errors import BranchNotFound, InvalidRequest
    from chalicelib.services import Services
    from chalicelib.store import tables
    from chalicelib.store.models import HEAD_OFFICE

    services = Services.from_env()
    if args.command == "app":
        app_id, identity = services.apps.create(args.name)
        return {"app_id": app_id, "name": identity.name, "app_key": identity.app_key}
    if args.command == "client":
        grants = {grant.strip() for grant in args.grants.split(",")} - {""}
        registered, password = services.clients.create(
            args.name, args.redirect_uri, grants=grants, password_login=args.password_login
        )
        return {"api_key": registered.api_key, "password": password}
    if args.command == "branch":
        branch = services.branches.create(args.code, args.name, args.name_kana, args.address_code, args.tel)
        return {"bank_code": services.settings.bank_code, **msgspec.structs.asdict(branch)}
    if args.command == "user":
        # The head office by default, registered or not, as ISUBANK's /register opens accounts.
        if args.branch is not None and not services.branches.get_many([args.branch]):
            raise BranchNotFound(args.branch)
        account = services.accounts.open(args.bank_id, args.name or args.bank_id, args.branch or HEAD_OFFICE)
        if args.password is not None:
            services.logins.set_password(account.account_id, args.password)
        return {
            "bank_id": account.account_id,
            "account_number": account.account_number,
            "branch": account.branch_code,
            "login": args.password is not None,
        }
    if args.command == "credit":
        if args.at is not None and services.settings.stage not in BACK_DATING_STAGES:
            raise InvalidRequest(f"--at is for the {' and '.join(BACK_DATING_STAGES)} stages only")
        result = services.accounts.deposit(args.bank_id, args.amount, args.description, at=args.at)
        return {"bank_id": args.bank_id, "balance": result.balance, "available": result.available}
    if args.command == "merchant":
        created = services.merchants.create(args.name, args.webhook_url)
        return {
            "merchant_id": created.identity.merchant_id,
            "api_key": created.api_key,
            "publishable_key": created.publishable_key,
            "webhook_secret": created.webhook_secret,
        }
    if args.command == "org":
        return _org(services, args)
    if args.command == "card":
        issued = services.issuer.issue(args.bank_id, args.credit_limit)
        return msgspec.structs.asdict(issued)
    if args.command == "balance":
        if args.bank_id is not None:
            result = services.accounts.balance(args.bank_id)
            return {
                "bank_id": args.bank_id,
                "balance": result.balance,
                "available": result.available,
                "held": result.held,
            }
        result = services.accounts.balance(args.account_id, kind=None)
        return {
            "account_id": args.account_id,
            "balance": result.balance,
            "available": result.available,
            "held": result.held,
            "credit_limit": result.credit_limit,
        }
    if args.command == "audit":
        return _audit(services, args)
    return {"created": tables.create_tables()}


def _org(services, args: argparse.Namespace) -> dict:
    organisations = services.organisations
    if args.action == "create":
        created = organisations.create(args.name, payment_settings=not args.no_payment_settings)
        answer = {
            "org_id": created.org_id,
            "access_token": created.access_token,
            "publishable_key": created.publishable_key,
        }
        if created.service_merchant is not None:  # the first organisation made the service's merchant
            merchant = created.service_merchant
            answer["service_merchant"] = {
                "merchant_id": merchant.identity.merchant_id,
                "api_key": merchant.api_key,
                "webhook_secret": merchant.webhook_secret,
            }
        return answer
    if args.action == "member" and args.member == "add":
        return {"org_id": args.org_id, "access_token": organisations.add_member(args.org_id, args.name)}
    if args.action == "member":
        organisations.revoke(args.access_token)
        return {"revoked": True}
    organisations.create_settings(args.org_id)
    return {"org_id": args.org_id, "payment_settings": True}


def _audit(services, args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    from chalicelib.ledger.audit import AUDITED, Audit

    if not 1 <= args.segments <= 64:
        raise ValueError("--segments is 1 to 64")
    accounts = None
    if args.bank_id is not None:
        accounts = [account.account_id for account in services.accounts.of_customer(args.bank_id)]
    elif args.account_id is not None:
        accounts = [args.account_id]
    on_terminal = sys.stderr.isatty()
    # DynamoDB's item counts (refreshed about every six hours on AWS): the bar's end, roughly.
    total = sum(int(model.describe_table()["ItemCount"]) for model in AUDITED) if on_terminal else None
    with tqdm(total=total, unit=" items", desc="audit", file=sys.stderr, disable=not on_terminal) as bar:
        report = Audit(services.clock, services.retrier).run(accounts, segments=args.segments, progress=bar.update)
    return msgspec.to_builtins(report)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    load_stage_environment(args.stage)
    from chalicelib.auth.clients import ClientExists
    from chalicelib.cards.issuer import CardKeyMissing
    from chalicelib.ledger.errors import LedgerError
    from chalicelib.registration.organisations import SettingsExist, UnknownOrganisation

    try:
        result = run(args)
    except (LedgerError, ClientExists, CardKeyMissing, UnknownOrganisation, SettingsExist, ValueError) as error:
        detail = {"detail": str(error)} if str(error) else {}
        print(json.dumps({"error": type(error).__name__, **detail}, ensure_ascii=False), file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 2 if result.get("findings") else 0


if __name__ == "__main__":
    sys.exit(main())
