"""The one place an account's money changes.

Every write to an account is an AccountChange: one conditional update of the account item, plus the
postings it makes, added to a DynamoDB transaction. Its conditions carry the ledger's invariants:
- available never goes below zero (no debit beyond committed balance minus live debit holds);
- a released hold's bucket still holds its amount (a hold ends at most once);
- postings are written against the posting_seq they read, so each balance_after is exact;
- each JST day an account posts on has its DailyBalance, updated in the posting's own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from pynamodb.expressions.condition import size
from pynamodb.transactions import TransactWrite

from chalicelib.clock import JST, epoch_ms
from chalicelib.ledger.errors import AccountNotFound, InvalidRequest
from chalicelib.store.models import BANK, Account, DailyBalance, Posting

# Holds live five minutes, so at most ~301 one-second buckets are live at once; the cap bounds the item
# size when expired buckets pile up between reads (a write that reads the account prunes them).
MAX_HELD_BUCKETS = 400
MAX_TRANSACTION_ITEMS = 100
# The largest amount one movement may carry (a trillion yen); also keeps JSON numbers exact.
MAX_AMOUNT = 10**12

# Conditions that never change, built once (pynamodb conditions are immutable: `&` makes a new one).
_ACCOUNT_EXISTS = Account.account_id.exists()
_IS_BANK_ACCOUNT = Account.kind == BANK  # exists, and is an ordinary account
_HELD_HAS_ROOM = size(Account.held) < MAX_HELD_BUCKETS
_NEW_POSTING = Posting.seq.does_not_exist()


def validate_amount(amount: int) -> None:
    if not -MAX_AMOUNT <= amount <= MAX_AMOUNT:
        raise InvalidRequest()


def read_account(account_id: str, kind: str | None = BANK) -> Account:
    """The account, if it is of `kind` (None: any kind); AccountNotFound otherwise."""
    try:
        account = Account.get(account_id, consistent_read=True)
    except Account.DoesNotExist:
        raise AccountNotFound() from None
    if kind is not None and account.kind != kind:
        raise AccountNotFound()  # ISUBANK's bank_id never names a card or a merchant's account
    return account


def read_accounts(account_ids: Iterable[str]) -> list[Account]:
    wanted = list(account_ids)
    accounts = list(Account.batch_get(wanted, consistent_read=True))
    if len(accounts) != len(wanted):
        raise AccountNotFound()
    return accounts


def expiry_bucket(expires_at_ms: int) -> str:
    """The held-map key of a hold: its expiry second (holds expire on whole seconds)."""
    return str(-(-expires_at_ms // 1000))


def bucket_expired(bucket: str, now_ms: int) -> bool:
    # Every hold in a bucket expires at or before the bucket's second.
    return int(bucket) * 1000 <= now_ms


def held_buckets(account: Account) -> dict[str, int]:
    return account.held  # the account's own dict: read, never written


def live_available(account: Account, now_ms: int) -> int:
    """Committed balance minus the debit holds still live at now_ms."""
    expired = sum(amount for bucket, amount in held_buckets(account).items() if bucket_expired(bucket, now_ms))
    return int(account.available) + expired


def jst_day(posted_ms: int) -> str:
    """The DailyBalance day of a posting time: its JST calendar day, "YYYY-MM-DD"."""
    return datetime.fromtimestamp(posted_ms / 1000, JST).date().isoformat()


class AccountChange:
    """What one transaction does to one account.

    Built either blind (`read=None`: holds and releases only, guarded by conditions alone; ISUBANK's, on an
    ordinary account) or on an account read consistently just before (needed to post, and used to prune
    expired buckets), whose kind the reader checked.
    """

    def __init__(self, account_id: str, now: datetime, read: Account | None = None) -> None:
        self.account_id = account_id
        self.now = now
        self.now_ms = epoch_ms(now)
        self.read = read
        self._balance_delta = 0
        self._available_delta = 0
        self._held_delta: dict[str, int] = {}
        self._pruned: dict[str, int] = {}
        self._postings: list[Posting] = []
        self._posted_ms = 0
        self._days: dict[str, DailyBalance] = {}
        if read is not None:
            for bucket, amount in held_buckets(read).items():
                if bucket_expired(bucket, self.now_ms):
                    self._pruned[bucket] = amount
                    self._available_delta += amount

    @property
    def available(self) -> int:
        """Available funds after this change (needs the read account)."""
        assert self.read is not None
        return int(self.read.available) + self._available_delta

    def held_in(self, bucket: str) -> int:
        """What the read account still holds in a live bucket, net of this change."""
        assert self.read is not None
        if bucket in self._pruned:
            return 0
        return held_buckets(self.read).get(bucket, 0) + self._held_delta.get(bucket, 0)

    def hold(self, bucket: str, amount: int) -> None:
        self._held_delta[bucket] = self._held_delta.get(bucket, 0) + amount
        self._available_delta -= amount

    def release(self, bucket: str, amount: int) -> None:
        self._held_delta[bucket] = self._held_delta.get(bucket, 0) - amount
        self._available_delta += amount

    def post(
        self,
        amount: int,
        description: str,
        kind: str,
        reserve_id: int | None = None,
        card_transaction_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Post `amount` (a posting of `kind`, naming the hold it settles or its card transaction) now, or
        back-dated to `at`: never before the account's last posting (seq order stays time order) nor after now;
        InvalidRequest otherwise."""
        assert self.read is not None, "posting needs the account's balance and posting_seq"
        last_ms = max(int(self.read.last_posted_ms), self._posted_ms)
        if at is None:
            # Posting times never go backwards on an account, whatever the clocks of concurrent writers.
            posted_ms = max(self.now_ms, last_ms)
            posted_at = self.now if self.now_ms >= last_ms else datetime.fromtimestamp(posted_ms / 1000, UTC)
        else:
            posted_ms = epoch_ms(at)
            if posted_ms < last_ms or at > self.now:
                raise InvalidRequest()
            posted_at = at
        self._balance_delta += amount
        self._available_delta += amount
        self._posted_ms = posted_ms
        seq = int(self.read.posting_seq) + len(self._postings) + 1
        balance_after = int(self.read.balance) + self._balance_delta
        self._postings.append(
            Posting(
                self.account_id,
                seq,
                amount=amount,
                balance_after=balance_after,
                description=description,
                posted_at=posted_at,
                posted_ms=posted_ms,
                kind=kind,
                reserve_id=reserve_id,
                card_transaction_id=card_transaction_id,
            )
        )
        day = jst_day(posted_ms)
        first_seq = self._days[day].first_seq if day in self._days else seq
        self._days[day] = DailyBalance(self.account_id, day, closing=balance_after, first_seq=first_seq, last_seq=seq)

    @property
    def item_count(self) -> int:
        return 1 + len(self._postings) + len(self._days)

    def add_to(self, transaction: TransactWrite) -> None:
        actions = []
        condition = _ACCOUNT_EXISTS if self.read is not None else _IS_BANK_ACCOUNT
        if self._balance_delta:
            actions.append(Account.balance.add(self._balance_delta))
        if self._available_delta:
            actions.append(Account.available.add(self._available_delta))
        if self._available_delta < 0:
            condition &= Account.available >= -self._available_delta
        grows = False
        for bucket, delta in self._held_delta.items():
            path = Account.held[bucket]
            if delta > 0:
                grows = True
                actions.append(path.set((path | 0) + delta))
            elif delta < 0:
                actions.append(path.set(path - (-delta)))
                condition &= path >= -delta
        for bucket, amount in self._pruned.items():
            actions.append(Account.held[bucket].remove())
            condition &= Account.held[bucket] == amount
        if grows and self.read is None:
            condition &= _HELD_HAS_ROOM
        if self._postings:
            assert self.read is not None
            actions.append(Account.posting_seq.set(self._postings[-1].seq))
            actions.append(Account.last_posted_ms.set(self._posted_ms))
            condition &= Account.posting_seq == int(self.read.posting_seq)
        if not actions:
            transaction.condition_check(Account, self.account_id, condition=condition)
            return
        # The update names the item by its key alone: the account read, or a bare key.
        item = self.read if self.read is not None else Account(self.account_id)
        transaction.update(item, actions=actions, condition=condition, add_version_condition=False)
        for posting in self._postings:
            transaction.save(posting, condition=_NEW_POSTING)
        for daily in self._days.values():
            # first_seq stays that of the day's first posting, whichever transaction wrote it.
            day_actions = [
                DailyBalance.closing.set(daily.closing),
                DailyBalance.last_seq.set(daily.last_seq),
                DailyBalance.first_seq.set(DailyBalance.first_seq | daily.first_seq),
            ]
            transaction.update(daily, actions=day_actions, add_version_condition=False)
