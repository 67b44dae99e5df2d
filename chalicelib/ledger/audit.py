"""The ledger proves its books: every account's postings, holds and card transactions against its balances, read
once, table by table.

For every account (or the ones asked for):
- its postings are numbered 1..posting_seq, none missing, none repeated;
- each posting's balance_after is the sum of its amount and all before it (so an edited one is named alone);
- its balance is the last posting's balance_after (the sum of its postings);
- available is balance + credit_limit - held, and each held bucket is the sum of the pending debit holds that
  expire in its second (an expired bucket may be gone: the next write that read the account pruned it);
- a committed hold has exactly one posting, on its account; a posting that names a hold names a committed one;
- every posting says what it is: a deposit, an external one (a settled ISUBANK reserve, naming its hold) or a
  card leg (naming its card transaction).
For every card payment: refunds never exceed the capture, and captured minus refunded is what the funding account
(the card's, or the network's clearing shard) paid and what the merchant's shard received; its authorisation's
hold is pending, committed or cancelled as the payment is authorised, captured or voided.
Across the bank: the sum of all balances is the sum of deposits and external postings (card legs net to zero).

Each table is read once with DynamoDB's parallel scan (`segments` at a time, the tables at once), so the audit's
cost grows linearly with the data. A finding names the item's key, what was expected and what was found.
Writes in flight while the tables are read can look like a finding: one is reported only if a second pass, made
when the first found anything, finds it again identically.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from msgspec import Struct

from chalicelib.clock import Clock, epoch_ms
from chalicelib.ledger.changes import bucket_expired, expiry_bucket
from chalicelib.ledger.holds import CANCELLED, COMMITTED, PENDING
from chalicelib.store.models import CARD_LEG, DEPOSIT, EXTERNAL, Account, CardTransaction, Hold, Posting
from chalicelib.store.transactions import Retrier

# Card transaction types and payment states (chalicelib.cards.payments names them; the ledger does not import it).
_CAPTURE, _REFUND, _PRE_AUTH = "CAPTURE", "REFUND", "PRE_AUTH"
_HOLD_OF_PAYMENT = {"authorised": PENDING, "captured": COMMITTED, "voided": CANCELLED}
# The tables the audit reads, each once a pass.
AUDITED = (Account, Posting, Hold, CardTransaction)


class Finding(Struct, frozen=True):
    check: str
    key: dict[str, Any]
    expected: Any
    found: Any


class Totals(Struct, frozen=True):
    """Bank-wide sums (of the accounts read): balances == deposits + external when the books hold."""

    balances: int
    deposits: int
    external: int


class Report(Struct, frozen=True):
    accounts: int
    postings: int
    holds: int
    card_transactions: int
    totals: Totals
    findings: list[Finding]


def _scan(model: type, segments: int, retrier: Retrier, progress: Callable[[int], None]) -> list[Any]:
    """Every item of the model's table, read by `segments` parallel scans."""

    def segment(number: int) -> list[Any]:
        items = retrier.run(lambda: list(model.scan(segment=number, total_segments=segments)))
        progress(len(items))
        return items

    with ThreadPoolExecutor(max_workers=segments) as pool:
        return [item for items in pool.map(segment, range(segments)) for item in items]


class Audit:
    def __init__(self, clock: Clock, retrier: Retrier) -> None:
        self.clock = clock
        self.retrier = retrier

    def run(
        self,
        account_ids: Iterable[str] | None = None,
        segments: int = 4,
        progress: Callable[[int], None] = lambda items: None,
    ) -> Report:
        """The report of the accounts named (all of them if None), confirmed by a second pass if it finds any."""
        wanted = None if account_ids is None else set(account_ids)
        first = self._pass(wanted, segments, progress)
        if not first.findings:
            return first
        second = self._pass(wanted, segments, progress)
        return Report(
            second.accounts,
            second.postings,
            second.holds,
            second.card_transactions,
            second.totals,
            [finding for finding in second.findings if finding in first.findings],
        )

    def _pass(self, wanted: set[str] | None, segments: int, progress: Callable[[int], None]) -> Report:
        def read(model: type) -> list[Any]:
            return _scan(model, segments, self.retrier, progress)

        with ThreadPoolExecutor(max_workers=4) as pool:
            scans = [pool.submit(read, model) for model in AUDITED]
            all_accounts, all_postings, all_holds, card_transactions = (scan.result() for scan in scans)
        now_ms = epoch_ms(self.clock.now())

        def ours(account_id: str) -> bool:
            return wanted is None or account_id in wanted

        accounts = [account for account in all_accounts if ours(account.account_id)]
        postings = [posting for posting in all_postings if ours(posting.account_id)]
        holds = {int(hold.reserve_id): hold for hold in all_holds}
        by_account: dict[str, list[Posting]] = defaultdict(list)
        for posting in postings:
            by_account[posting.account_id].append(posting)
        holds_of: dict[str, list[Hold]] = defaultdict(list)
        for hold in holds.values():
            holds_of[hold.account_id].append(hold)
        findings: list[Finding] = []
        for account in accounts:
            own = sorted(by_account[account.account_id], key=lambda p: int(p.seq))
            findings += _account_findings(account, own)
            findings += _bucket_findings(account, holds_of[account.account_id], now_ms)
        known = {account.account_id for account in accounts}
        for account_id in sorted(set(by_account) - known):
            findings.append(Finding("posting_without_account", {"account_id": account_id}, "an account", None))
        cards = {item.transaction_id: item for item in card_transactions}
        for posting in postings:
            findings += _posting_findings(posting, holds, cards)
        findings += _committed_hold_findings([h for h in holds.values() if ours(h.account_id)], postings)
        # A payment is a purchase (a CAPTURE of its own) or an authorisation; captures, refunds and voids name theirs.
        payments = [item for item in card_transactions if item.parent_id is None]
        touched = [p for p in payments if ours(p.funding_account_id) or ours(p.merchant_account_id)]
        findings += _card_findings(touched, card_transactions, postings, holds, ours)
        totals = Totals(
            balances=sum(int(account.balance) for account in accounts),
            deposits=sum(int(p.amount) for p in postings if p.kind == DEPOSIT),
            external=sum(int(p.amount) for p in postings if p.kind == EXTERNAL),
        )
        if wanted is None and totals.balances != totals.deposits + totals.external:
            findings.append(Finding("conservation", {}, totals.deposits + totals.external, totals.balances))
        return Report(
            len(accounts),
            len(postings),
            sum(ours(h.account_id) for h in holds.values()),
            len(touched),
            totals,
            findings,
        )


def _account_findings(account: Account, postings: list[Posting]) -> list[Finding]:
    key = {"account_id": account.account_id}
    findings = []
    seqs = [int(posting.seq) for posting in postings]
    if seqs != list(range(1, int(account.posting_seq) + 1)):
        missing = sorted(set(range(1, int(account.posting_seq) + 1)) - set(seqs))
        extra = sorted(seq for seq in seqs if seq > int(account.posting_seq))
        findings.append(
            Finding("posting_sequence", key, f"1..{int(account.posting_seq)}", {"missing": missing, "beyond": extra})
        )
    running = 0
    for posting in postings:
        running += int(posting.amount)
        if int(posting.balance_after) != running:
            posting_key = {"account_id": account.account_id, "seq": int(posting.seq)}
            findings.append(Finding("balance_after", posting_key, running, int(posting.balance_after)))
    total = sum(int(posting.amount) for posting in postings)
    if int(account.balance) != total:
        findings.append(Finding("balance", key, total, int(account.balance)))
    available = int(account.balance) + int(account.credit_limit) - sum(account.held.values())
    if int(account.available) != available:
        findings.append(Finding("available", key, available, int(account.available)))
    return findings


def _bucket_findings(account: Account, holds: list[Hold], now_ms: int) -> list[Finding]:
    """Each held bucket against the pending debit holds expiring in its second."""
    pending: dict[str, int] = defaultdict(int)
    for hold in holds:
        if hold.status == PENDING and int(hold.amount) < 0:
            pending[expiry_bucket(int(hold.expires_at_ms))] -= int(hold.amount)
    findings = []
    for bucket in sorted(set(pending) | set(account.held)):
        held = account.held.get(bucket)
        pruned = held is None and bucket_expired(bucket, now_ms)
        if not pruned and (held or 0) != pending.get(bucket, 0):
            key = {"account_id": account.account_id, "bucket": bucket}
            findings.append(Finding("held_bucket", key, pending.get(bucket, 0), held))
    return findings


def _posting_findings(posting: Posting, holds: dict[int, Hold], cards: dict[str, CardTransaction]) -> list[Finding]:
    key = {"account_id": posting.account_id, "seq": int(posting.seq)}
    findings = []
    if posting.kind not in (DEPOSIT, EXTERNAL, CARD_LEG):
        findings.append(Finding("posting_kind", key, [DEPOSIT, EXTERNAL, CARD_LEG], posting.kind))
    if posting.kind == EXTERNAL and posting.reserve_id is None:
        findings.append(Finding("external_posting_without_hold", key, "a reserve id", None))
    if posting.kind == CARD_LEG and posting.card_transaction_id not in cards:
        findings.append(Finding("posting_names_no_card_transaction", key, "a card transaction", None))
    if posting.reserve_id is not None:
        hold = holds.get(int(posting.reserve_id))
        if hold is None or hold.account_id != posting.account_id:
            findings.append(Finding("posting_names_no_hold", key, int(posting.reserve_id), None))
        elif hold.status != COMMITTED:
            findings.append(Finding("posting_of_an_uncommitted_hold", key, COMMITTED, hold.status))
        elif posting.kind == EXTERNAL and int(posting.amount) != int(hold.amount):
            findings.append(Finding("posting_amount", key, int(hold.amount), int(posting.amount)))
    return findings


def _committed_hold_findings(holds: list[Hold], postings: list[Posting]) -> list[Finding]:
    """A committed hold settled exactly once: one posting names it, on its account."""
    named: dict[int, int] = defaultdict(int)
    for posting in postings:
        if posting.reserve_id is not None:
            named[int(posting.reserve_id)] += 1
    return [
        Finding("committed_hold_postings", {"reserve_id": int(hold.reserve_id)}, 1, named[int(hold.reserve_id)])
        for hold in holds
        if hold.status == COMMITTED and named[int(hold.reserve_id)] != 1
    ]


def _card_findings(
    payments: list[CardTransaction],
    card_transactions: list[CardTransaction],
    postings: list[Posting],
    holds: dict[int, Hold],
    ours: Callable[[str], bool],
) -> list[Finding]:
    """Each payment's captures and refunds against its own amounts and its legs in the ledger."""
    children: dict[str, list[CardTransaction]] = defaultdict(list)
    for item in card_transactions:
        if item.parent_id is not None:
            children[item.parent_id].append(item)
    legs: dict[str, list[Posting]] = defaultdict(list)
    for posting in postings:
        if posting.card_transaction_id is not None:
            legs[posting.card_transaction_id].append(posting)
    findings = []
    for payment in payments:
        key = {"transaction_id": payment.transaction_id}
        captured, refunded = int(payment.captured_amount), int(payment.refunded_amount)
        kids = children[payment.transaction_id]
        if refunded > captured:
            findings.append(Finding("refund_exceeds_capture", key, f"<= {captured}", refunded))
        refunds = sum(int(kid.amount) for kid in kids if kid.transaction_type == _REFUND)
        if refunds != refunded:
            findings.append(Finding("refunds", key, refunded, refunds))
        if payment.transaction_type == _PRE_AUTH:
            captures = sum(int(kid.amount) for kid in kids if kid.transaction_type == _CAPTURE)
            if captures != captured:
                findings.append(Finding("captures", key, captured, captures))
            hold = holds.get(int(payment.reserve_id)) if payment.reserve_id is not None else None
            if payment.reserve_id is not None and (hold is None or hold.status != _HOLD_OF_PAYMENT.get(payment.status)):
                found = None if hold is None else hold.status
                findings.append(Finding("authorisation_hold", key, _HOLD_OF_PAYMENT.get(payment.status), found))
        elif captured != int(payment.amount):
            findings.append(Finding("captures", key, int(payment.amount), captured))
        family = [payment.transaction_id] + [kid.transaction_id for kid in kids]
        moved: dict[str, int] = defaultdict(int)
        for transaction_id in family:
            for posting in legs[transaction_id]:
                moved[posting.account_id] += int(posting.amount)
        net = captured - refunded
        expected = {payment.funding_account_id: -net, payment.merchant_account_id: net}
        for account_id in sorted(set(moved) | {a for a, amount in expected.items() if amount}):
            if ours(account_id) and moved.get(account_id, 0) != expected.get(account_id, 0):
                leg_key = key | {"account_id": account_id}
                findings.append(Finding("card_legs", leg_key, expected.get(account_id, 0), moved.get(account_id, 0)))
    return findings
