"""The ledger proves its books: every account's postings against its balance, read once, table by table.

For every account (or the ones asked for):
- its postings are numbered 1..posting_seq, none missing, none repeated;
- each posting's balance_after is the sum of its amount and all before it (so an edited one is named alone);
- its balance is the last posting's balance_after (the sum of its postings);
- a posting that names a hold names a committed one of the same account.

Each table is read once with DynamoDB's parallel scan (`segments` at a time), so the audit's cost grows
linearly with the data. A finding names the item's key, what was expected and what was found.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from msgspec import Struct

from chalicelib.clock import Clock
from chalicelib.ledger.holds import COMMITTED
from chalicelib.store.models import Account, CardTransaction, Hold, Posting
from chalicelib.store.transactions import Retrier


class Finding(Struct, frozen=True):
    check: str
    key: dict[str, Any]
    expected: Any
    found: Any


class Report(Struct, frozen=True):
    accounts: int
    postings: int
    holds: int
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
        """The report of the accounts named (all of them if None)."""
        wanted = None if account_ids is None else set(account_ids)
        accounts = [
            a for a in _scan(Account, segments, self.retrier, progress) if wanted is None or a.account_id in wanted
        ]
        postings = [
            p for p in _scan(Posting, segments, self.retrier, progress) if wanted is None or p.account_id in wanted
        ]
        holds = {int(hold.reserve_id): hold for hold in _scan(Hold, segments, self.retrier, progress)}
        _scan(CardTransaction, segments, self.retrier, progress)  # read for the card transactions' checks, to come
        by_account: dict[str, list[Posting]] = defaultdict(list)
        for posting in postings:
            by_account[posting.account_id].append(posting)
        findings: list[Finding] = []
        for account in accounts:
            findings += _account_findings(account, sorted(by_account[account.account_id], key=lambda p: int(p.seq)))
        known = {account.account_id for account in accounts}
        for account_id in sorted(set(by_account) - known):
            findings.append(Finding("posting_without_account", {"account_id": account_id}, "an account", None))
        for posting in postings:
            findings += _hold_findings(posting, holds)
        holds_read = len(holds) if wanted is None else sum(h.account_id in wanted for h in holds.values())
        return Report(len(accounts), len(postings), holds_read, findings)


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
    return findings


def _hold_findings(posting: Posting, holds: dict[int, Hold]) -> list[Finding]:
    if posting.reserve_id is None:
        return []
    key = {"account_id": posting.account_id, "seq": int(posting.seq)}
    hold = holds.get(int(posting.reserve_id))
    if hold is None or hold.account_id != posting.account_id:
        return [Finding("posting_names_no_hold", key, int(posting.reserve_id), None)]
    if hold.status != COMMITTED:
        return [Finding("posting_of_an_uncommitted_hold", key, COMMITTED, hold.status)]
    return []
