"""Wiring: the one place the domain objects are built from settings, clock and id generator."""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.auth.apps import AppRegistry
from chalicelib.auth.clients import Clients
from chalicelib.auth.logins import Logins
from chalicelib.auth.tokens import Tokens
from chalicelib.clock import Clock, SystemClock
from chalicelib.ids import IdGenerator
from chalicelib.ledger.accounts import Accounts
from chalicelib.ledger.branches import Branches
from chalicelib.ledger.holds import Holds
from chalicelib.ledger.statements import Statements
from chalicelib.settings import Settings
from chalicelib.store import tables
from chalicelib.store.transactions import Retrier


@dataclass
class Services:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    ids: IdGenerator = field(default_factory=IdGenerator)
    retrier: Retrier = field(default_factory=Retrier)

    def __post_init__(self) -> None:
        tables.configure(self.settings)
        self.branches = Branches(self.clock, self.settings.bank_code)
        self.accounts = Accounts(self.clock, self.ids, self.retrier, self.branches)
        self.holds = Holds(self.clock, self.ids, self.retrier)
        self.statements = Statements(self.clock, self.retrier)
        self.apps = AppRegistry(self.clock, self.ids, self.retrier)
        self.clients = Clients(self.clock, self.ids, self.retrier)
        self.tokens = Tokens(self.clock, self.ids, self.retrier)
        self.logins = Logins(self.clock, self.clients, self.tokens, self.retrier)

    @classmethod
    def from_env(cls) -> Services:
        return cls(Settings.from_env())
