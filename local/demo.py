"""Demo data for the local server, seeded idempotently on every start."""

from __future__ import annotations

from pynamodb.exceptions import PutError

from chalicelib.ledger.errors import AccountExists
from chalicelib.services import Services
from chalicelib.store import tables

# Local demo credentials only: printed by `make run` and quoted in the README.
DEMO_APP_ID = "demo-app-id"
DEMO_USERS = {"alice": 100_000, "bob": 50_000, "carol": 0}


def seed(services: Services) -> None:
    tables.create_tables()
    try:
        services.apps.create("Demo App", app_id=DEMO_APP_ID)
    except PutError:
        pass  # already there
    for bank_id, opening_balance in DEMO_USERS.items():
        try:
            services.accounts.open(bank_id, bank_id.capitalize())
        except AccountExists:
            continue
        if opening_balance:
            services.accounts.deposit(bank_id, opening_balance, "入金")
