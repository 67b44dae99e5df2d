"""Customers and their accounts: opening, balances, and operator deposits."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.clock import Clock, epoch_ms
from chalicelib.ids import IdGenerator
from chalicelib.ledger.changes import AccountChange, live_available, read_account, validate_amount
from chalicelib.ledger.errors import AccountExists, InsufficientFunds, InvalidRequest
from chalicelib.store.models import Account, Customer
from chalicelib.store.transactions import ConditionFailed, Retrier, write_transaction


@dataclass(frozen=True)
class Balance:
    account_id: str
    balance: int  # committed
    available: int  # committed minus live debit holds

    @property
    def held(self) -> int:
        return self.balance - self.available


class Accounts:
    def __init__(self, clock: Clock, ids: IdGenerator, retrier: Retrier) -> None:
        self.clock = clock
        self.ids = ids
        self.retrier = retrier

    def open(self, customer_id: str, name: str) -> Account:
        """A new customer with one ordinary account whose id is the customer's id (ISUBANK's bank_id)."""
        now = self.clock.now()
        customer = Customer(customer_id, name=name, created_at=now)
        account = Account(
            customer_id,
            customer_id=customer_id,
            account_number=self.ids.account_number(),
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

    def check(self, account_id: str, amount: int) -> None:
        """Refuse unless the committed balance covers `amount` (holds are not counted)."""
        validate_amount(amount)
        if amount < 0:
            raise InvalidRequest()
        if int(self.retrier.run(lambda: read_account(account_id)).balance) < amount:
            raise InsufficientFunds()

    def balance(self, account_id: str) -> Balance:
        account = self.retrier.run(lambda: read_account(account_id))
        available = live_available(account, epoch_ms(self.clock.now()))
        return Balance(account_id, int(account.balance), available)

    def deposit(self, account_id: str, amount: int, description: str) -> Balance:
        """Credit the account at once (an operator's deposit)."""
        validate_amount(amount)
        if amount <= 0:
            raise InvalidRequest()
        now = self.clock.now()

        def attempt() -> Balance:
            account = read_account(account_id)
            change = AccountChange(account_id, now, read=account)
            change.post(amount, description)
            write_transaction(change.add_to)
            return Balance(account_id, int(account.balance) + amount, change.available)

        return self.retrier.run(attempt)
