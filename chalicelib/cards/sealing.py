"""Secrets the gateway must read back (a token's card, a stored card, a merchant's webhook secret) are kept
sealed: AES-GCM under a key derived from the card key (configuration) for one purpose, and bound to the item
they belong to (its associated data), so a sealed value copied onto another item does not open.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from chalicelib.cards.issuer import CardKeyMissing

NONCE_BYTES = 12


class Sealer:
    def __init__(self, card_key: str, purpose: bytes) -> None:
        self._key = hmac.new(card_key.encode("utf-8"), purpose, hashlib.sha256).digest()
        self._has_key = bool(card_key)

    def _cipher(self):
        if not self._has_key:
            raise CardKeyMissing()
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # on first use: cold starts

        return AESGCM(self._key)

    def seal(self, plain: bytes, bound_to: str) -> str:
        """Hex of nonce + ciphertext."""
        nonce = os.urandom(NONCE_BYTES)
        return (nonce + self._cipher().encrypt(nonce, plain, bound_to.encode("utf-8"))).hex()

    def unseal(self, sealed_hex: str, bound_to: str) -> bytes:
        sealed = bytes.fromhex(sealed_hex)
        return self._cipher().decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], bound_to.encode("utf-8"))
