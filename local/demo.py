"""Demo data for the local server, seeded idempotently on every start.

alice and bob get about three months of back-dated deposits (salary, ATM, transfers) ending yesterday,
so that statements and daily balances have something to show; their balances still end at DEMO_USERS.
History is made only when an account is first opened, so a restart adds nothing.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from pynamodb.exceptions import PutError

from chalicelib.auth.clients import ClientExists
from chalicelib.cards.issuer import BIN, IssuedCard, complete_number
from chalicelib.clock import JST
from chalicelib.ledger.errors import AccountExists, BranchExists
from chalicelib.services import Services
from chalicelib.store import tables
from chalicelib.store.transactions import ConditionFailed

# Local demo credentials only: printed by `make run` and quoted in the README.
DEMO_APP_ID = "demo-app-id"
DEMO_USERS = {"alice": 100_000, "bob": 50_000, "carol": 0}
# The bank common API's demo client; each demo user signs in with "<bank_id>-password".
DEMO_API_KEY = "demo-api-key"
DEMO_CLIENT_PASSWORD = "demo-client-password"  # noqa: S105 local demo credentials, printed by `make run`
DEMO_REDIRECT_URI = "http://localhost:3000/callback"
# The card gateway's demo merchant, and a card of this bank for alice.
DEMO_MERCHANT_ID = "mch_demo"
DEMO_MERCHANT_KEY = "demo-merchant-key"
DEMO_PUBLISHABLE_KEY = "demo-publishable-key"
# Fixed, so `python -m local.webhook_receiver --secret ...` verifies the demo merchant's webhooks.
DEMO_WEBHOOK_SECRET = "whsec_ZGVtby13ZWJob29rLXNlY3JldC1ub3QtYS1zZWNyZXQ="  # noqa: S105 demo data
# The card registration API's demo organisation (its card page: /payment/card#access_token=...&publishable_key=...).
DEMO_ORG_ID = "org_demo"
DEMO_ORG_TOKEN = "demo|demo-org-access-token"  # noqa: S105 demo data
DEMO_ORG_PUBLISHABLE_KEY = "demo-org-publishable-key"
DEMO_SERVICE_KEY = "demo-subscriptions-key"  # the service's merchant: it charges the registered cards
DEMO_CARD_SERIAL = "000000001"
DEMO_CARD_LIMIT = 200_000
# code, name, name_kana, address_code (団体コード), tel
DEMO_BRANCHES = [
    ("001", "本店", "ホンテン", "131016", "0332123456"),
    ("002", "秋葉原支店", "アキハバラ", "131016", "0332570001"),
    ("003", "札幌支店", "サッポロ", "011002", "0112310002"),
    ("004", "大阪支店", "オオサカ", "271004", "0662030003"),
]
DEMO_BRANCH_OF = {"alice": "001", "bob": "002", "carol": "003"}
HISTORY_DAYS = 91
# description, weight: the share of the history's total each deposit of that kind gets
DEPOSITS = [("ATM入金", 2), ("振込 カ)フィンテック", 3), ("振込 ヤマダ タロウ", 1), ("現金入金", 1)]
SALARY = ("給与", 12)


def history(bank_id: str, total: int, today: datetime) -> list[tuple[datetime, int, str]]:
    """Deposits on about half the days of the last HISTORY_DAYS (a salary every 30 days), summing to
    `total`; the same for a bank_id whatever the day, but for their dates."""
    rng = random.Random(bank_id)  # noqa: S311 demo data, reproducible by design
    kinds = []
    for days_ago in range(HISTORY_DAYS, 0, -1):
        if days_ago % 30 == 25:
            kinds.append((days_ago, SALARY))
        elif rng.random() < 0.5:
            kinds.append((days_ago, rng.choice(DEPOSITS)))
    weights = sum(weight for _, (_, weight) in kinds)
    deposits = []
    for days_ago, (description, weight) in kinds:
        at = today - timedelta(days=days_ago, hours=-rng.randint(9, 19), minutes=-rng.randint(0, 59))
        deposits.append((at, total * weight // weights // 100 * 100, description))
    at, amount, description = deposits[-1]
    deposits[-1] = (at, amount + total - sum(amount for _, amount, _ in deposits), description)
    return deposits


def seed(services: Services) -> None:
    tables.create_tables()
    try:
        services.apps.create("Demo App", app_id=DEMO_APP_ID)
    except PutError:
        pass  # already there
    try:
        services.clients.create(
            "デモ家計簿アプリ",
            [DEMO_REDIRECT_URI],
            api_key=DEMO_API_KEY,
            password=DEMO_CLIENT_PASSWORD,
            password_login=True,
        )
    except ClientExists:
        pass
    try:
        services.merchants.create(
            "デモ商店",
            merchant_id=DEMO_MERCHANT_ID,
            api_key=DEMO_MERCHANT_KEY,
            publishable_key=DEMO_PUBLISHABLE_KEY,
            webhook_secret=DEMO_WEBHOOK_SECRET,
        )
    except ConditionFailed:
        pass  # already there
    if not services.organisations.exists(DEMO_ORG_ID):
        services.merchants.create(
            "デモ定額サービス", merchant_id=services.settings.registration_merchant_id, api_key=DEMO_SERVICE_KEY
        )
        services.organisations.create(
            "デモ株式会社", org_id=DEMO_ORG_ID, access_token=DEMO_ORG_TOKEN, publishable_key=DEMO_ORG_PUBLISHABLE_KEY
        )
    for branch in DEMO_BRANCHES:
        try:
            services.branches.create(*branch)
        except BranchExists:
            pass
    today = services.clock.now().astimezone(JST).replace(hour=0, minute=0, second=0, microsecond=0)
    for bank_id, balance in DEMO_USERS.items():
        try:
            services.accounts.open(bank_id, bank_id.capitalize(), DEMO_BRANCH_OF[bank_id])
        except AccountExists:
            continue
        services.logins.set_password(bank_id, f"{bank_id}-password")
        if bank_id == "alice":
            services.issuer.issue(bank_id, DEMO_CARD_LIMIT, serial=DEMO_CARD_SERIAL)
        if balance:
            for at, amount, description in history(bank_id, balance, today):
                services.accounts.deposit(bank_id, amount, description, at=at)


def demo_card(services: Services) -> IssuedCard:
    """alice's demo card, as it was issued (its CVC derived again)."""
    number = complete_number(BIN + DEMO_CARD_SERIAL)
    card = services.issuer.find(number)
    assert card is not None, "seeded with alice's account"
    cvc = services.issuer.cvc(number, card.expiry_month, card.expiry_year)
    return IssuedCard(card.account_id, number, card.expiry_month, card.expiry_year, cvc)
