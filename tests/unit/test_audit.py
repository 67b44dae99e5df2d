"""The ledger audit: a clean ledger (deposits; reserves committed, cancelled, pending and expired; card purchases,
authorisations captured, voided and pending, refunds) has no finding; each corruption of the books is named, with
the item's key."""

from __future__ import annotations

import pytest

from chalicelib.cards.payments import CardDetails, Purchase
from chalicelib.ledger.audit import Audit
from chalicelib.ledger.changes import expiry_bucket
from chalicelib.store.models import DEPOSIT, Account, CardTransaction, Hold, Posting
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
    services.holds.reserve("alice", -200, "app", "期限切れ")  # left to expire
    clock.advance(seconds=301)
    services.holds.reserve("alice", -400, "app", "保留")  # still pending
    shop = services.merchants.create("監査商店")
    card = CardDetails("4242424242424242", "12", "30", "123", "A")
    paid = services.payments.purchase(shop.identity, Purchase(2_000, "JPY", card, "audit-1", {}))
    services.payments.refund(shop.identity, paid["transaction_details"]["id"], 500)
    issued = services.issuer.issue("bob", credit_limit=50_000)
    own = CardDetails(issued.number, issued.expiry_month, issued.expiry_year, issued.cvc, "Bob")
    ids = {}
    for ref in ("captured", "voided", "pending"):
        answer = services.payments.authorise(shop.identity, Purchase(3_000, "JPY", own, ref, {}))
        ids[ref] = answer["transaction_details"]["id"]
    services.payments.capture(shop.identity, ids["captured"], 2_500)
    services.payments.refund(shop.identity, ids["captured"], 1_000)
    services.payments.void(shop.identity, ids["voided"])
    services.card_account = issued.account_id
    services.authorisations = ids
    services.purchase = paid["transaction_details"]["id"]
    return services


def audit(bank, accounts=None):
    return Audit(bank.clock, bank.retrier).run(accounts, segments=3)


def pending_hold(account_id):
    (hold,) = [h for h in Hold.scan() if h.account_id == account_id and h.status == "pending" and h.amount == -400]
    return hold


def test_a_clean_ledger_has_no_finding(bank):
    report = audit(bank)
    assert report.findings == []
    assert report.accounts >= 2 + 1 + 8 + 8  # the users, bob's card, the merchant's shards, the clearing shards
    assert report.postings >= 2 + 2 + 4 + 4 and report.holds == 5 + 3
    assert report.card_transactions == 4
    assert report.totals.balances == report.totals.deposits + report.totals.external == 20_000 - 1_500 + 700


def test_a_removed_posting_is_named_in_every_book_it_breaks(bank):
    Posting("alice", 2).delete()  # the reserve's commit
    findings = {finding.check: finding for finding in audit(bank).findings}
    assert set(findings) == {"posting_sequence", "balance", "committed_hold_postings", "conservation"}
    assert findings["posting_sequence"].key == {"account_id": "alice"}
    assert findings["posting_sequence"].found["missing"] == [2]
    assert (findings["balance"].expected, findings["balance"].found) == (10_000, 8_500)
    assert findings["committed_hold_postings"].found == 0


def test_an_edited_balance_is_named(bank):
    Account("bob").update(actions=[Account.balance.add(1), Account.available.add(1)])
    findings = audit(bank).findings
    assert [(f.check, f.key, f.expected, f.found) for f in findings] == [
        ("balance", {"account_id": "bob"}, 10_700, 10_701),
        ("conservation", {}, 19_200, 19_201),
    ]


def test_an_edited_available_is_named(bank):
    Account("alice").update(actions=[Account.available.add(1)])
    (finding,) = audit(bank).findings
    # 10,000 - 1,500 committed, minus 400 pending and 200 expired but not yet pruned
    assert (finding.check, finding.key, finding.expected) == ("available", {"account_id": "alice"}, 7_900)


def test_a_changed_bucket_is_named_even_when_available_agrees(bank):
    bucket = expiry_bucket(int(pending_hold("alice").expires_at_ms))
    Account("alice").update(actions=[Account.held[bucket].set(Account.held[bucket] + 50), Account.available.add(-50)])
    (finding,) = audit(bank).findings
    assert (finding.check, finding.key, finding.expected, finding.found) == (
        "held_bucket",
        {"account_id": "alice", "bucket": bucket},
        400,
        450,
    )


def test_a_live_bucket_missing_is_named_and_an_expired_one_may_be_pruned(bank):
    (expired,) = [h for h in Hold.scan() if h.amount == -200]
    Account("alice").update(actions=[Account.held[expiry_bucket(int(expired.expires_at_ms))].remove()])
    Account("alice").update(actions=[Account.available.add(200)])  # as a pruning write leaves it: no finding
    assert audit(bank).findings == []
    bucket = expiry_bucket(int(pending_hold("alice").expires_at_ms))
    Account("alice").update(actions=[Account.held[bucket].remove(), Account.available.add(400)])
    (finding,) = audit(bank).findings
    assert (finding.check, finding.expected, finding.found) == ("held_bucket", 400, None)


def test_a_broken_chain_is_one_finding_at_its_posting(bank):
    Posting("alice", 1).update(actions=[Posting.balance_after.set(9_999)])
    (finding,) = audit(bank).findings
    assert (finding.check, finding.key, finding.expected) == (
        "balance_after",
        {"account_id": "alice", "seq": 1},
        10_000,
    )


def test_a_pending_hold_flipped_to_committed_has_no_posting_and_leaves_its_bucket(bank):
    hold = pending_hold("alice")
    hold.update(actions=[Hold.status.set("committed")])
    findings = {finding.check: finding for finding in audit(bank).findings}
    assert set(findings) == {"committed_hold_postings", "held_bucket"}
    assert findings["committed_hold_postings"].key == {"reserve_id": int(hold.reserve_id)}


def test_a_hold_settled_twice_is_named(bank):
    (settled,) = [p for p in Posting.query("alice") if p.reserve_id is not None]
    Posting("alice", 1).update(actions=[Posting.reserve_id.set(int(settled.reserve_id))])  # the deposit, now
    findings = [(f.check, f.found) for f in audit(bank).findings]
    assert ("committed_hold_postings", 2) in findings


def test_a_posting_of_a_hold_that_is_not_committed_is_named(bank):
    (posting,) = [p for p in Posting.query("alice") if p.reserve_id is not None]
    Hold(int(posting.reserve_id)).update(actions=[Hold.status.set("cancelled")])
    (finding,) = audit(bank).findings
    assert finding.check == "posting_of_an_uncommitted_hold" and finding.key == {"account_id": "alice", "seq": 2}


def test_one_account_is_audited_alone(bank):
    Account("bob").update(actions=[Account.balance.add(1), Account.available.add(1)])
    report = audit(bank, ["alice"])
    assert (report.accounts, report.findings) == (1, [])
    assert len(audit(bank, ["bob"]).findings) == 1


def test_a_refund_beyond_the_capture_is_named(bank):
    CardTransaction(bank.purchase).update(actions=[CardTransaction.refunded_amount.set(2_001)])
    checks = {finding.check for finding in audit(bank).findings}
    assert {"refund_exceeds_capture", "refunds", "card_legs"} <= checks


def test_a_card_leg_moved_to_another_transaction_is_named_per_account(bank):
    (leg,) = [p for p in Posting.query(bank.card_account) if p.amount == -2_500]
    leg.update(actions=[Posting.card_transaction_id.set(bank.purchase)])
    findings = [(f.check, f.key.get("transaction_id")) for f in audit(bank).findings]
    assert ("card_legs", bank.authorisations["captured"]) in findings and ("card_legs", bank.purchase) in findings


def test_an_authorisation_hold_that_disagrees_with_its_payment_is_named(bank):
    voided = CardTransaction.get(bank.authorisations["voided"])
    Hold(int(voided.reserve_id)).update(actions=[Hold.status.set("pending")])
    findings = {finding.check: finding for finding in audit(bank).findings}
    assert findings["authorisation_hold"].key == {"transaction_id": voided.transaction_id}
    assert (findings["authorisation_hold"].expected, findings["authorisation_hold"].found) == ("cancelled", "pending")


def test_money_made_outside_a_deposit_breaks_conservation(bank):
    """A deposit relabelled as a card leg: the balances no longer add up to the deposits."""
    Posting("bob", 1).update(actions=[Posting.kind.set("card")])
    checks = {finding.check for finding in audit(bank).findings}
    assert checks == {"posting_names_no_card_transaction", "conservation"}


def test_a_posting_without_a_kind_is_named(bank):
    Posting("bob", 1).update(actions=[Posting.kind.remove()])
    assert {finding.check for finding in audit(bank).findings} == {"posting_kind", "conservation"}
    assert Posting.get("alice", 1).kind == DEPOSIT


def test_a_finding_that_a_second_pass_does_not_repeat_was_a_write_in_flight(bank):
    """The first pass sees an account mid-write (here: edited, then mended once every table was read)."""
    Account("bob").update(actions=[Account.balance.add(1), Account.available.add(1)])
    segments_read = []

    def progress(items):
        segments_read.append(items)
        if len(segments_read) == 4 * 3:  # the first pass's last segment of the four tables: mend it
            Account("bob").update(actions=[Account.balance.add(-1), Account.available.add(-1)])

    report = Audit(bank.clock, bank.retrier).run(segments=3, progress=progress)
    assert report.findings == [] and len(segments_read) == 2 * 4 * 3
