"""The ledger against a plain model of it, on moto and on DynamoDB Local: random runs of deposits,
reserves, commits, cancels, checks and moving time (by seconds, milliseconds, and to just around an
expiry). After every step, every account's committed balance and available funds equal the model's,
and every refusal is the one the model expects."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from chalicelib.clock import epoch_ms
from chalicelib.ledger import errors
from chalicelib.store.models import Posting
from tests.conftest import make_services

LIFETIME_MS = 300_000
runs = itertools.count()


@dataclass
class ModelHold:
    account: str
    amount: int
    expires_ms: int
    status: str = "pending"


@pytest.fixture
def bank(any_db, clock):
    return make_services(clock)


def test_ledger_matches_its_model(bank, clock):
    class LedgerMachine(RuleBasedStateMachine):
        holds = Bundle("holds")

        def __init__(self):
            super().__init__()
            # Fresh accounts for each run, on the same tables.
            run = next(runs)
            self.accounts = [f"m{run}-{name}" for name in ("a", "b", "c")]
            self.balance = {}
            self.model_holds: dict[int, ModelHold] = {}
            for account in self.accounts:
                bank.accounts.open(account, account)
                self.balance[account] = 0

        def now_ms(self) -> int:
            return epoch_ms(clock.now())

        def live_held(self, account: str) -> int:
            return sum(
                -h.amount
                for h in self.model_holds.values()
                if h.account == account and h.status == "pending" and h.amount < 0 and self.now_ms() < h.expires_ms
            )

        @rule(index=st.integers(0, 2), amount=st.integers(1, 1000))
        def deposit(self, index, amount):
            account = self.accounts[index]
            bank.accounts.deposit(account, amount, "入金")
            self.balance[account] += amount

        @rule(target=holds, index=st.integers(0, 2), amount=st.integers(-1500, 1500).filter(bool))
        def reserve(self, index, amount):
            account = self.accounts[index]
            enough = amount > 0 or self.balance[account] - self.live_held(account) >= -amount
            if not enough:
                with pytest.raises(errors.InsufficientFunds):
                    bank.holds.reserve(account, amount, "k", "Model")
                return 0  # an id that never exists
            reserve_id = bank.holds.reserve(account, amount, "k", "Model")
            expires_ms = self.now_ms() + LIFETIME_MS
            self.model_holds[reserve_id] = ModelHold(account, amount, -(-expires_ms // 1000) * 1000)
            return reserve_id

        def expected_refusal(self, ids):
            if any(i not in self.model_holds for i in ids):
                return errors.HoldNotFound
            chosen = [self.model_holds[i] for i in ids]
            if any(h.status != "pending" for h in chosen):
                return errors.HoldAlreadyResolved
            if any(self.now_ms() >= h.expires_ms for h in chosen):
                return errors.HoldExpired
            return None

        @rule(ids=st.lists(holds, min_size=1, max_size=3, unique=True), commit=st.booleans())
        def resolve(self, ids, commit):
            ids = [i if i else 1 for i in ids]  # 1: a reserve id nobody holds
            if len(set(ids)) != len(ids):
                return
            action = bank.holds.commit if commit else bank.holds.cancel
            refusal = self.expected_refusal(ids)
            if refusal:
                with pytest.raises(refusal):
                    action(ids)
                return
            action(ids)
            for i in ids:
                hold = self.model_holds[i]
                hold.status = "committed" if commit else "cancelled"
                if commit:
                    self.balance[hold.account] += hold.amount

        @rule(seconds=st.integers(0, 200), milliseconds=st.integers(0, 999))
        def advance(self, seconds, milliseconds):
            clock.advance(seconds=seconds, milliseconds=milliseconds)

        @rule(hold=holds, offset_ms=st.sampled_from([-1, 0, 1]))
        def advance_to_an_expiry(self, hold, offset_ms):
            """Land right around a hold's expiry instant, where off-by-one-millisecond bugs live."""
            if hold in self.model_holds:
                target = self.model_holds[hold].expires_ms + offset_ms
                if target > self.now_ms():
                    clock.advance(milliseconds=target - self.now_ms())

        @rule(index=st.integers(0, 2), price=st.integers(0, 3000))
        def check(self, index, price):
            account = self.accounts[index]
            if self.balance[account] >= price:
                bank.accounts.check(account, price)
            else:
                with pytest.raises(errors.InsufficientFunds):
                    bank.accounts.check(account, price)

        @invariant()
        def balances_match(self):
            for account in self.accounts:
                result = bank.accounts.balance(account)
                assert result.balance == self.balance[account]
                assert result.available == self.balance[account] - self.live_held(account)
                assert result.available >= 0

        def teardown(self):
            for account in self.accounts:
                running = 0
                for posting in Posting.query(account):
                    running += int(posting.amount)
                    assert int(posting.balance_after) == running
                assert running == self.balance[account]

    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
