"""Holds: reserve, commit and cancel (ISUBANK's two-phase movements of money).

A debit reserve takes funds out of `available` at once; commit turns the hold into a posting; cancel
gives the funds back. A hold is live for five minutes, exactly: from its expiry instant it no longer
counts against the account and can neither commit nor cancel, whether or not anything has tidied it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from chalicelib.clock import Clock, epoch_ms
from chalicelib.ids import IdGenerator
from chalicelib.ledger.changes import (
    MAX_TRANSACTION_ITEMS,
    AccountChange,
    expiry_bucket,
    read_account,
    read_accounts,
    validate_amount,
)
from chalicelib.ledger.errors import (
    HoldAlreadyResolved,
    HoldExpired,
    HoldNotFound,
    InsufficientFunds,
    InvalidRequest,
    TooManyItems,
)
from chalicelib.store.models import EXTERNAL, Hold
from chalicelib.store.transactions import ConditionFailed, Retrier, TransientFailure, write_transaction

HOLD_LIFETIME = timedelta(minutes=5)
# How long a resolved or expired hold is kept, so late calls get "expired"/"committed", not "not found".
HOLD_RETENTION = timedelta(days=30)

PENDING, COMMITTED, CANCELLED = "pending", "committed", "cancelled"
_NEW_HOLD = Hold.reserve_id.does_not_exist()
_STILL_PENDING = Hold.status == PENDING


class Holds:
    def __init__(self, clock: Clock, ids: IdGenerator, retrier: Retrier) -> None:
        self.clock = clock
        self.ids = ids
        self.retrier = retrier

    # --- reserve ----------------------------------------------------------------------------------

    def reserve(self, account_id: str, amount: int, app_key: str, description: str) -> int:
        """Hold `-amount` (amount < 0) or announce a credit of `amount` (> 0); returns the reserve id."""
        validate_amount(amount)
        if amount == 0:
            raise InvalidRequest()
        now = self.clock.now()

        def write(hold: Hold, change: AccountChange) -> int:
            hold_funds(change, hold)

            def build(transaction):
                change.add_to(transaction)
                transaction.save(hold, condition=_NEW_HOLD)

            write_transaction(build)
            return hold.reserve_id

        def new() -> Hold:
            return new_hold(self.ids, account_id, amount, app_key, description, now)

        # Fast path, one transaction and no read: conditions alone refuse what must be refused. It can
        # also refuse too much (expired buckets not yet pruned, or a reserve id collision), and then
        # the account is read and the decision made exactly.
        try:
            return write(new(), AccountChange(account_id, now))
        except (ConditionFailed, TransientFailure):
            pass

        def on_read_account() -> int:
            account = read_account(account_id)
            change = AccountChange(account_id, now, read=account)
            if amount < 0 and change.available < -amount:
                raise InsufficientFunds()
            return write(new(), change)

        return self.retrier.run(on_read_account)

    # --- commit and cancel ------------------------------------------------------------------------

    def commit(self, reserve_ids: Sequence[int]) -> None:
        """Settle every listed hold, all or nothing."""
        self._resolve(reserve_ids, COMMITTED)

    def cancel(self, reserve_ids: Sequence[int]) -> None:
        """Release every listed hold, all or nothing."""
        self._resolve(reserve_ids, CANCELLED)

    def _resolve(self, reserve_ids: Sequence[int], outcome: str) -> None:
        if not reserve_ids or len(set(reserve_ids)) != len(reserve_ids):
            raise InvalidRequest()
        # Each hold is an item, so is its account and, on commit, its posting and its day's balance. The
        # fewest items are all the holds on one account: refuse early what cannot fit even so.
        fewest = len(reserve_ids) + 1 + (len(reserve_ids) + 1 if outcome == COMMITTED else 0)
        if fewest > MAX_TRANSACTION_ITEMS:
            raise TooManyItems()
        now = self.clock.now()
        now_ms = epoch_ms(now)

        def attempt() -> None:
            holds = _live_holds(reserve_ids, now_ms)
            by_account: dict[str, list[Hold]] = defaultdict(list)
            for hold in sorted(holds, key=lambda h: h.reserve_id):
                by_account[hold.account_id].append(hold)
            changes = [
                AccountChange(account.account_id, now, read=account) for account in read_accounts(by_account.keys())
            ]
            for change in changes:
                for hold in by_account[change.account_id]:
                    release_live(change, hold, now_ms)
                    if outcome == COMMITTED:
                        change.post(int(hold.amount), hold.description, EXTERNAL, int(hold.reserve_id))
            if len(holds) + sum(change.item_count for change in changes) > MAX_TRANSACTION_ITEMS:
                raise TooManyItems()

            def build(transaction):
                for hold in holds:
                    settle(transaction, hold, outcome, now)
                for change in changes:
                    change.add_to(transaction)

            write_transaction(build)

        self.retrier.run(attempt)


def new_hold(
    ids: IdGenerator,
    account_id: str,
    amount: int,
    app_key: str,
    description: str,
    now: datetime,
    lifetime: timedelta = HOLD_LIFETIME,
) -> Hold:
    """A pending hold of `amount` (signed) that lives `lifetime` from `now`."""
    # Rounded up to the whole second: a hold then stops counting (its expiry bucket) at the very instant
    # it stops being committable, and lives at least its lifetime.
    expires_at_ms = -(-epoch_ms(now + lifetime) // 1000) * 1000
    expires_at = datetime.fromtimestamp(expires_at_ms / 1000, UTC)
    return Hold(
        ids.reserve_id(),
        account_id=account_id,
        amount=amount,
        status=PENDING,
        app_key=app_key,
        description=description,
        created_at=now,
        expires_at_ms=expires_at_ms,
        purge_at=expires_at + HOLD_RETENTION,
    )


def hold_funds(change: AccountChange, hold: Hold) -> None:
    """A debit hold takes its funds out of the account's available ones, in its expiry bucket."""
    if int(hold.amount) < 0:
        change.hold(expiry_bucket(int(hold.expires_at_ms)), -int(hold.amount))


def release_live(change: AccountChange, hold: Hold, now_ms: int) -> None:
    """The funds a live debit hold took, available again (to post, or not), as the account read says."""
    if int(hold.amount) < 0:
        bucket = expiry_bucket(int(hold.expires_at_ms))
        if change.held_in(bucket) < -int(hold.amount):
            # Resolved since we read it, or pruned by a writer whose clock runs ahead.
            _live_holds([hold.reserve_id], now_ms)
            raise HoldExpired()
        change.release(bucket, -int(hold.amount))


def settle(transaction, hold: Hold, outcome: str, now: datetime) -> None:
    """End a hold (committed or cancelled), on condition it is still pending and live."""
    transaction.update(
        hold,
        actions=[Hold.status.set(outcome), Hold.resolved_at.set(now)],
        condition=_STILL_PENDING & (Hold.expires_at_ms > epoch_ms(now)),
        add_version_condition=False,
    )


def _live_holds(reserve_ids: Sequence[int], now_ms: int) -> list[Hold]:
    """Read the holds; refuse unless every one exists, is pending and has not expired."""
    holds = list(Hold.batch_get(list(reserve_ids), consistent_read=True))
    if len(holds) != len(reserve_ids):
        raise HoldNotFound()
    if any(hold.status != PENDING for hold in holds):
        raise HoldAlreadyResolved()
    if any(int(hold.expires_at_ms) <= now_ms for hold in holds):
        raise HoldExpired()
    return holds
