"""What the ledger can answer besides success. Each API maps these to its own error vocabulary."""

from chalicelib.store.transactions import Busy


class LedgerError(Exception):
    """A request the ledger refuses; nothing was written."""


class InvalidRequest(LedgerError):
    """An amount, a list of holds or a range the ledger cannot act on (zero amount, empty or repeated ids,
    a reversed date range...). Its message, when it has one, says which input and why."""


class AccountNotFound(LedgerError):
    pass


class AccountExists(LedgerError):
    pass


class InsufficientFunds(LedgerError):
    pass


class HoldNotFound(LedgerError):
    pass


class HoldExpired(LedgerError):
    pass


class HoldAlreadyResolved(LedgerError):
    """Already committed or cancelled."""


class BranchNotFound(LedgerError):
    pass


class BranchExists(LedgerError):
    pass


class TooManyItems(LedgerError):
    """The request would need a DynamoDB transaction of more than 100 items."""


__all__ = [
    "AccountExists",
    "AccountNotFound",
    "BranchExists",
    "BranchNotFound",
    "Busy",
    "HoldAlreadyResolved",
    "HoldExpired",
    "HoldNotFound",
    "InsufficientFunds",
    "InvalidRequest",
    "LedgerError",
    "TooManyItems",
]
