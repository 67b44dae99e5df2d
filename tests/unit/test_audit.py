"""The ledger audit: a clean ledger (deposits, reserves committed and cancelled, card purchases and refunds) has no
finding; each corruption of the books is named, with the item's key."""

from __future__ import annotations

import pytest

from chalicelib.cards.payments import CardDetails, Purchase
from chalicelib.ledger.audit import Audit
from chalicelib.store.models import Account, Hold, Posting
from tests.conftest import make_services


@pytest.fixture
def bank(any_db, clock):
    services = make_services(clock)
    for bank_id in ("alice", "bob"):
        services.accounts.open(bank_id, bank_id)
        services.accounts.deposit(bank_id, 10_000, "入金")
    debit = services.holds.reserve("alice", -1_500, "app", "購入")
    credit = services.holds.reserve("bob", 700, "app", "売上")
    services.holds.commit([debit, credit])
    services.holds.cancel([services.holds.reserve("alice", -300, "app", "取消")])
    shop = services.merchants.create("監査商店")
    card = CardDetails("4242424242424242", "12", "30", "123", "A")
    paid = services.payments.purchase(shop.identity, Purchase(2_000, "JPY", card, "audit-1", {}))
    services.payments.refund(shop.identity, paid["transaction_details"]["id"], 500)
    return services


def audit(bank, accounts=None):
    return Audit(bank.clock, bank.retrier).run(accounts, segments=3)


def test_a_clean_ledger_has_no_finding(bank):
    report = audit(bank)
    assert report.findings == []
    assert report.accounts >= 2 + 8 + 8  # the users, the merchant's shards, the network's clearing shards
    assert report.postings >= 2 + 2 + 4 and report.holds == 3


def test_a_removed_posting_breaks_the_sequence_and_the_balance(bank):
    Posting("alice", 2).delete()  # the reserve's commit
    findings = {finding.check: finding for finding in audit(bank).findings}
    assert set(findings) == {"posting_sequence", "balance"}
    assert findings["posting_sequence"].key == {"account_id": "alice"}
    assert findings["posting_sequence"].found["missing"] == [2]
    assert (findings["balance"].expected, findings["balance"].found) == (10_000, 8_500)


def test_an_edited_balance_is_named(bank):
    Account("bob").update(actions=[Account.balance.add(1)])
    (finding,) = audit(bank).findings
    assert (finding.check, finding.key, finding.expected, finding.found) == (
        "balance",
        {"account_id": "bob"},
        10_700,
        10_701,
    )


def test_a_broken_chain_is_one_finding_at_its_posting(bank):
    Posting("alice", 1).update(actions=[Posting.balance_after.set(9_999)])
    (finding,) = audit(bank).findings
    assert (finding.check, finding.key, finding.expected) == (
        "balance_after",
        {"account_id": "alice", "seq": 1},
        10_000,
    )


def test_a_posting_of_a_hold_that_is_not_committed_is_named(bank):
    (posting,) = [p for p in Posting.query("alice") if p.reserve_id is not None]
    Hold(int(posting.reserve_id)).update(actions=[Hold.status.set("cancelled")])
    (finding,) = audit(bank).findings
    assert finding.check == "posting_of_an_uncommitted_hold" and finding.key == {"account_id": "alice", "seq": 2}


def test_one_account_is_audited_alone(bank):
    Account("bob").update(actions=[Account.balance.add(1)])
    report = audit(bank, ["alice"])
    assert (report.accounts, report.findings) == (1, [])
    assert len(audit(bank, ["bob"]).findings) == 1
