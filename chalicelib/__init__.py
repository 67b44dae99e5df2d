"""The bank: ledger, app credentials and the HTTP APIs that expose them."""
