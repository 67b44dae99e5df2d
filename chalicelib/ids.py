"""The one generator of identifiers and secrets."""

from __future__ import annotations

import secrets

# Reserve ids stay below 2**53 so that JavaScript clients read them exactly.
MAX_RESERVE_ID = 2**53 - 1


class IdGenerator:
    def reserve_id(self) -> int:
        # Random over the whole range: collisions are rare and caught by a conditional put.
        return secrets.randbelow(MAX_RESERVE_ID) + 1

    def secret(self) -> str:
        return secrets.token_urlsafe(32)

    def api_key(self) -> str:
        return secrets.token_hex(16)

    def account_number(self) -> str:
        return f"{secrets.randbelow(10**7):07d}"
