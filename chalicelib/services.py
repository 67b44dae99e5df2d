"""Wiring: the one place the domain objects are built from settings, clock and id generator."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.auth.apps import AppRegistry
from chalicelib.auth.clients import Clients
from chalicelib.auth.logins import Logins
from chalicelib.auth.tokens import Tokens
from chalicelib.cards.challenges import Challenges
from chalicelib.cards.idempotency import Idempotency
from chalicelib.cards.issuer import Issuer
from chalicelib.cards.merchants import Merchants
from chalicelib.cards.payments import Payments
from chalicelib.cards.tokens import CardTokens
from chalicelib.cards.webhook_queue import LocalQueue, SqsQueue
from chalicelib.cards.webhooks import Webhooks
from chalicelib.clock import Clock, SystemClock
from chalicelib.ids import IdGenerator
from chalicelib.ledger.accounts import Accounts
from chalicelib.ledger.branches import Branches
from chalicelib.ledger.holds import Holds
from chalicelib.ledger.statements import Statements
from chalicelib.registration.cards import CardRegistrations
from chalicelib.registration.organisations import Organisations
from chalicelib.settings import Settings
from chalicelib.store import tables
from chalicelib.store.transactions import Retrier


class Services:
    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        retrier: Retrier | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.ids = ids or IdGenerator()
        self.retrier = retrier or Retrier()
        tables.configure(self.settings)
        self.branches = Branches(self.clock, self.settings.bank_code)
        self.accounts = Accounts(self.clock, self.ids, self.retrier, self.branches)
        self.holds = Holds(self.clock, self.ids, self.retrier)
        self.statements = Statements(self.clock, self.retrier)
        self.apps = AppRegistry(self.clock, self.ids, self.retrier)
        self.clients = Clients(self.clock, self.ids, self.retrier)
        self.tokens = Tokens(self.clock, self.ids, self.retrier)
        self.logins = Logins(self.clock, self.clients, self.tokens, self.retrier)
        self.issuer = Issuer(self.clock, self.retrier, self.settings.card_key)
        self.merchants = Merchants(self.clock, self.retrier, self.settings.card_key)
        lifetime = timedelta(minutes=self.settings.card_token_minutes)
        self.card_tokens = CardTokens(self.clock, self.retrier, self.settings.card_key, lifetime)
        queue = SqsQueue(settings.webhook_queue, settings.region) if settings.webhook_queue else LocalQueue()
        self.webhooks = Webhooks(
            self.clock,
            self.retrier,
            self.merchants,
            queue,
            settings.webhook_retry_delays,
            settings.webhook_private_targets,
        )
        self.payments = Payments(self.clock, self.ids, self.retrier, self.issuer, self.card_tokens, self.webhooks)
        self.idempotency = Idempotency(self.clock, self.retrier)
        self.challenges = Challenges(
            self.clock, self.retrier, self.payments, self.card_tokens, self.merchants, self.settings.card_key
        )
        self.organisations = Organisations(self.clock, self.retrier, self.merchants, settings.registration_merchant_id)
        self.card_registrations = CardRegistrations(
            self.clock, self.retrier, self.merchants, self.card_tokens, self.payments
        )

    @classmethod
    def from_env(cls) -> Services:
        return cls(Settings.from_env())
