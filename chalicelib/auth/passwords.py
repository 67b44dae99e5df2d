"""Password hashing: Argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane: ~30 ms).

Used for client passwords and end-user passwords. Only the encoded hash is stored; verifying an unknown
user runs the same KDF against a fixed hash, so the answer's timing does not tell which ids exist.
"""

from __future__ import annotations

import functools
from typing import Any

MAX_PASSWORD_LENGTH = 1024  # Argon2 takes any length; this bounds the work one request can ask for


@functools.cache
def _hasher() -> Any:
    # Imported on first use: most requests (ISUBANK, the data endpoints) never hash a password.
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


@functools.cache
def _decoy_hash() -> str:
    # Made on first use, not at import: hashing costs ~30 ms.
    return hash_password("decoy password never matched")


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True if `password` matches; with no stored hash, spends the same time and answers False."""
    from argon2.exceptions import InvalidHashError, VerificationError

    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher().verify(stored_hash or _decoy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False
