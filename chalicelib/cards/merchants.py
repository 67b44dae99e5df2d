"""Merchants of the card gateway: their keys, and the accounts they are paid into.

A popular merchant is a hot account: every capture credits it. So a merchant is paid into `SHARDS`
accounts of the ledger (`merchant-<id>-<n>`), a capture picking one at random, and its balance is their
sum; captures of one merchant then serialise on one shard in `SHARDS`, not on one item. The card network's
clearing accounts, which fund the payments of cards other banks issued, are sharded the same way.
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets

from msgspec import Struct
from pynamodb.exceptions import PutError

from chalicelib.auth.apps import IdentityCache
from chalicelib.cards.errors import UnknownMerchant
from chalicelib.cards.sealing import Sealer
from chalicelib.cards.webhook_delivery import check_url
from chalicelib.clock import Clock
from chalicelib.store.models import CLEARING, MERCHANT, Account, Merchant, MerchantKey
from chalicelib.store.transactions import Retrier, write_transaction

SHARDS = 8
CLEARING_SHARDS = 8
# The network's clearing accounts may run this far below zero (what the schemes owe the bank).
CLEARING_LINE = 10**15
MAX_KEY_LENGTH = 128
SECRET, PUBLISHABLE = "secret", "publishable"
WEBHOOK_SECRET_BYTES = 32


class MerchantIdentity(Struct, frozen=True):
    merchant_id: str
    name: str
    shards: int
    webhook_url: str | None = None

    def shard_account(self) -> str:
        return f"merchant-{self.merchant_id}-{random.randrange(self.shards)}"  # noqa: S311 load spreading


class NewMerchant(Struct, frozen=True):
    identity: MerchantIdentity
    api_key: str  # in clear, this once
    publishable_key: str
    webhook_secret: str  # `whsec_<base64>`, as Standard Webhooks libraries take it


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode("ascii")


def clearing_account() -> str:
    return f"card-network-{random.randrange(CLEARING_SHARDS)}"  # noqa: S311 load spreading


def _ledger_account(account_id: str, kind: str, credit_line: int, now) -> Account:
    return Account(
        account_id,
        account_number=account_id,
        kind=kind,
        credit_limit=credit_line,
        balance=0,
        available=credit_line,
        held={},
        posting_seq=0,
        last_posted_ms=0,
        created_at=now,
    )


class Merchants:
    def __init__(self, clock: Clock, retrier: Retrier, card_key: str) -> None:
        self.clock = clock
        self.retrier = retrier
        self._sealer = Sealer(card_key, b"webhook-secret-encryption")
        # A merchant's calls would otherwise spend two reads (its key, its record) of every payment's five.
        self.cache: IdentityCache[MerchantIdentity] = IdentityCache(clock)

    def create(
        self,
        name: str,
        webhook_url: str | None = None,
        merchant_id: str | None = None,
        api_key: str | None = None,
        publishable_key: str | None = None,
        webhook_secret: str | None = None,
    ) -> NewMerchant:
        """A merchant, its keys (returned in clear this once) and its shard accounts. `merchant_id` and the
        keys may be given (demo data); otherwise they are generated."""
        if not name or len(name) > 255:
            raise ValueError("a merchant needs a name of 1 to 255 characters")
        if webhook_url is not None:
            check_url(webhook_url)
        now = self.clock.now()
        self._open_clearing(now)
        merchant_id = merchant_id or f"mch_{secrets.token_hex(8)}"
        api_key = api_key or f"sk_{secrets.token_urlsafe(24)}"
        publishable_key = publishable_key or f"pk_{secrets.token_urlsafe(24)}"
        webhook_secret = webhook_secret or new_webhook_secret()
        merchant = Merchant(
            merchant_id,
            name=name,
            webhook_url=webhook_url,
            sealed_webhook_secret=self._sealer.seal(webhook_secret.encode("ascii"), merchant_id),
            shards=SHARDS,
            created_at=now,
        )

        def build(transaction) -> None:
            transaction.save(merchant, condition=Merchant.merchant_id.does_not_exist())
            for key, kind in ((api_key, SECRET), (publishable_key, PUBLISHABLE)):
                item = MerchantKey(_hash(key), merchant_id=merchant.merchant_id, kind=kind, created_at=now)
                transaction.save(item, condition=MerchantKey.key_hash.does_not_exist())
            for shard in range(SHARDS):
                account = _ledger_account(f"merchant-{merchant.merchant_id}-{shard}", MERCHANT, 0, now)
                transaction.save(account, condition=Account.account_id.does_not_exist())

        write_transaction(build)
        identity = MerchantIdentity(merchant.merchant_id, name, SHARDS, webhook_url)
        return NewMerchant(identity, api_key, publishable_key, webhook_secret)

    def _open_clearing(self, now) -> None:
        """The network's clearing accounts, once (idempotent)."""
        for shard in range(CLEARING_SHARDS):
            account = _ledger_account(f"card-network-{shard}", CLEARING, CLEARING_LINE, now)
            try:
                account.save(condition=Account.account_id.does_not_exist())
            except PutError as error:
                if error.cause_response_code != "ConditionalCheckFailedException":
                    raise

    def authenticate(self, api_key: str, kind: str = SECRET) -> MerchantIdentity:
        """The merchant of a key of `kind`; remembered IDENTITY_LIFETIME (a refusal never is)."""
        if not api_key or len(api_key) > MAX_KEY_LENGTH:
            raise UnknownMerchant()
        cache_key = f"{kind}:{_hash(api_key)}"
        identity = self.cache.get(cache_key)
        if identity is not None:
            return identity
        try:
            key = self.retrier.run(lambda: MerchantKey.get(_hash(api_key)))
            if key.kind != kind:
                raise UnknownMerchant()
            merchant = self.retrier.run(lambda: Merchant.get(key.merchant_id))
        except (MerchantKey.DoesNotExist, Merchant.DoesNotExist):
            raise UnknownMerchant() from None
        identity = MerchantIdentity(merchant.merchant_id, merchant.name, int(merchant.shards), merchant.webhook_url)
        self.cache.put(cache_key, identity)
        return identity

    def add_publishable_key(self, merchant_id: str, key: str | None = None) -> str:
        """Another publishable key of an existing merchant (each of a service's customers gets its own), in clear
        this once; UnknownMerchant if there is none. The key may be given (demo data)."""
        self.identity(merchant_id)
        key = key or f"pk_{secrets.token_urlsafe(24)}"
        item = MerchantKey(_hash(key), merchant_id=merchant_id, kind=PUBLISHABLE, created_at=self.clock.now())
        self.retrier.run(lambda: item.save(condition=MerchantKey.key_hash.does_not_exist()))
        return key

    def identity(self, merchant_id: str) -> MerchantIdentity:
        """A merchant by its id (a payment made on its behalf, with no key to authenticate: a 3-D Secure
        challenge's); UnknownMerchant if there is none."""
        try:
            merchant = self.retrier.run(lambda: Merchant.get(merchant_id))
        except Merchant.DoesNotExist:
            raise UnknownMerchant() from None
        return MerchantIdentity(merchant.merchant_id, merchant.name, int(merchant.shards), merchant.webhook_url)

    def webhook_secret(self, merchant_id: str) -> str:
        """The secret the merchant's webhooks are signed with, in clear (to sign, never to show)."""
        merchant = self.retrier.run(lambda: Merchant.get(merchant_id))
        return self._sealer.unseal(merchant.sealed_webhook_secret, merchant_id).decode("ascii")

    def balance(self, merchant_id: str) -> int:
        """What the merchant has been paid: the sum of its shards."""
        keys = [f"merchant-{merchant_id}-{shard}" for shard in range(SHARDS)]
        return sum(int(account.balance) for account in Account.batch_get(keys))
