"""The ledger under DynamoDB's failures, injected at the client (tests/support/faults.py) on DynamoDB Local: a
throttled or conflicting transaction is tried again; one applied but answered 500 is sent again with its client
request token and so applied exactly once, never decided again on a fresh read."""

from __future__ import annotations

import pytest

from chalicelib.cards.payments import CardDetails, Purchase
from chalicelib.store.models import Hold
from tests.conftest import make_services
from tests.support.faults import APPLIED_THEN_500, CONFLICT, THROTTLING, Faults

pytestmark = pytest.mark.dynamodb_local
# botocore's own attempts of one send (pynamodb's default: 1 + 3 retries), all of which keep the token.
BOTOCORE_ATTEMPTS = 4


@pytest.fixture
def bank(local_db, clock):
    services = make_services(clock)
    services.accounts.open("alice", "Alice")
    services.accounts.deposit("alice", 1_000, "入金")
    return services


@pytest.fixture
def faults():
    with Faults(seed=0).installed() as faults:
        yield faults


@pytest.mark.parametrize("answered_500", [1, BOTOCORE_ATTEMPTS, BOTOCORE_ATTEMPTS + 2])
def test_a_deposit_applied_but_answered_500_is_applied_once(bank, faults, answered_500):
    """Past botocore's attempts, write_transaction sends it again itself: with the same token."""
    faults.scripted.extend([APPLIED_THEN_500] * answered_500)
    assert bank.accounts.deposit("alice", 500, "入金").balance == 1_500
    assert faults.injected[APPLIED_THEN_500] == answered_500 and not faults.scripted
    balance = bank.accounts.balance("alice")
    assert (balance.balance, balance.available) == (1_500, 1_500)


def test_a_commit_applied_but_answered_500_is_a_commit_not_already_committed(bank, faults):
    reserve_id = bank.holds.reserve("alice", -300, "app", "購入")
    faults.scripted.extend([APPLIED_THEN_500] * (BOTOCORE_ATTEMPTS + 1))
    bank.holds.commit([reserve_id])
    assert Hold.get(reserve_id).status == "committed"
    assert bank.accounts.balance("alice").balance == 700


def test_conflicts_and_throttling_are_tried_again_and_apply_once(bank, faults):
    faults.scripted.extend([CONFLICT, THROTTLING, CONFLICT])
    reserve_id = bank.holds.reserve("alice", -300, "app", "購入")
    faults.scripted.extend([THROTTLING] * (BOTOCORE_ATTEMPTS + 1) + [CONFLICT])
    bank.holds.commit([reserve_id])
    assert faults.injected == {CONFLICT: 3, THROTTLING: BOTOCORE_ATTEMPTS + 2}
    assert len([h for h in Hold.scan() if h.account_id == "alice"]) == 1  # the fast path's one, not a second
    assert bank.accounts.balance("alice").balance == 700


def test_a_commit_applied_then_throttled_past_botocores_retries_is_not_decided_again(bank, faults):
    """botocore retried the 500 into throttling: the last error says "not now", yet the first send was applied.
    Decided again on a fresh read, the commit would answer "already committed"."""
    reserve_id = bank.holds.reserve("alice", -300, "app", "購入")
    faults.scripted.extend([APPLIED_THEN_500] + [THROTTLING] * (BOTOCORE_ATTEMPTS - 1))
    bank.holds.commit([reserve_id])
    assert not faults.scripted and Hold.get(reserve_id).status == "committed"
    assert bank.accounts.balance("alice").balance == 700


def test_a_purchase_applied_then_conflicting_is_one_purchase_not_a_duplicate_reference(bank, faults):
    shop = bank.merchants.create("Fault shop")
    card = CardDetails("4242424242424242", "12", "30", "123", "A")
    faults.scripted.extend([APPLIED_THEN_500, CONFLICT])
    answer = bank.payments.purchase(shop.identity, Purchase(1_200, "JPY", card, "fault-1", {}))
    assert not faults.scripted and answer["payment_details"]["amount"] == 1_200
    assert bank.merchants.balance(shop.identity.merchant_id) == 1_200
