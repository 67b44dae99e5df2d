"""Customers and their accounts: opening, listing, balances, and operator deposits."""

from __future__ import annotations

from datetime import datetime

from msgspec import Struct

from chalicelib.clock import Clock, epoch_ms
from chalicelib.ids import IdGenerator
from chalicelib.ledger.branches import Branches
from chalicelib.ledger.changes import AccountChange, live_available, read_account, validate_amount
from chalicelib.ledger.errors import AccountExists, InsufficientFunds, InvalidRequest
from chalicelib.store.models import BANK, CARD, DEPOSIT, HEAD_OFFICE, Account, Customer
from chalicelib.store.transactions import ConditionFailed, Retrier, write_transaction


class Balance(Struct, frozen=True):
    account_id: str
    balance: int  # committed
    available: int  # committed plus the credit line, minus live debit holds
    credit_limit: int = 0  # a card account's line

    @property
    def held(self) -> int:
        return self.balance + self.credit_limit - self.available


class AccountInfo(Struct, frozen=True):
    account_id: str
    account_number: str
    account_type1: str  # "bank", or "cc" for a card account
    account_type2: str  # "普通"
    branch_code: str
    branch_name: str  # "" if the branch is not registered


# account_type2 of each kind an end user holds: an ordinary deposit, a credit card.
ACCOUNT_TYPE2 = {BANK: "普通", CARD: "クレジットカード"}


class Accounts:
    def __init__(self, clock: Clock, ids: IdGenerator, retrier: Retrier, branches: Branches) -> None:
        self.clock = clock
        self.ids = ids
        self.retrier = retrier
        self.branches = branches

    def open(self, customer_id: str, name: str, branch_code: str = HEAD_OFFICE) -> Account:
        """A new customer with one ordinary account whose id is the customer's id (ISUBANK's bank_id).

        The branch need not be registered (ISUBANK's /register knows none); the operator CLI checks it.
        """
        now = self.clock.now()
        customer = Customer(customer_id, name=name, created_at=now)
        account = Account(
            customer_id,
            customer_id=customer_id,
            account_number=self.ids.account_number(),
            branch_code=branch_code,
            balance=0,
            available=0,
            held={},
            posting_seq=0,
            last_posted_ms=0,
            created_at=now,
        )

        def build(transaction):
            transaction.save(customer, condition=Customer.customer_id.does_not_exist())
            transaction.save(account, condition=Account.account_id.does_not_exist())

        try:
            write_transaction(build)
        except ConditionFailed:
            raise AccountExists() from None
        return account

    def of_customer(self, customer_id: str) -> list[AccountInfo]:
        """The customer's accounts by account id, with their branch names (two calls: the accounts
        index and the branches). The index is eventually consistent: an account opened a moment ago
        may be missing."""
        accounts = list(Account.by_customer.query(customer_id))
        branches = self.branches.get_many(account.branch_code for account in accounts)
        return [
            AccountInfo(
                account_id=account.account_id,
                account_number=account.account_number,
                account_type1=account.kind,
                account_type2=ACCOUNT_TYPE2[account.kind],
                branch_code=account.branch_code,
                branch_name=branches[account.branch_code].name if account.branch_code in branches else "",
            )
            for account in accounts
        ]

    def check(self, account_id: str, amount: int) -> None:
        """Refuse unless the committed balance covers `amount` (holds are not counted)."""
        validate_amount(amount)
        if amount < 0:
            raise InvalidRequest()
        if int(self.retrier.run(lambda: read_account(account_id)).balance) < amount:
            raise InsufficientFunds()

    def balance(self, account_id: str, kind: str | None = BANK) -> Balance:
        """An account's balances; `available` counts a card's credit line (None: an account of any kind)."""
        account = self.retrier.run(lambda: read_account(account_id, kind))
        available = live_available(account, epoch_ms(self.clock.now()))
        return Balance(account_id, int(account.balance), available, int(account.credit_limit))

    def deposit(self, account_id: str, amount: int, description: str, at: datetime | None = None) -> Balance:
        """Credit the account at once (an operator's deposit); `at` back-dates it (demo and test data:
        callers allow it on the local and dev stages only), never before the account's last posting nor
        into the future (InvalidRequest)."""
        validate_amount(amount)
        if amount <= 0:
            raise InvalidRequest()
        now = self.clock.now()

        def attempt() -> Balance:
            account = read_account(account_id)
            change = AccountChange(account_id, now, read=account)
            change.post(amount, description, DEPOSIT, at=at)
            write_transaction(change.add_to)
            return Balance(account_id, int(account.balance) + amount, change.available)

        return self.retrier.run(attempt)
