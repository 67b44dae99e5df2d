"""Tokens of the bank common API: system tokens for clients, auth tokens from a sign-in, and the access
and refresh token pair an auth token is exchanged for.

- Every token is 256 random bits; only its SHA-256 is stored (the item's key), so a table dump yields no
  usable token, and looking one up by its hash is no timing oracle.
- A token is valid while now < its exact expiry and it is neither spent nor revoked. Its TTL attribute
  only tidies the table, later (DynamoDB deletes lazily); no check depends on it.
- One live pair per (client, end user): issuing a pair revokes the previous one in the same transaction.
  Every pair descends from one sign-in (its family). Replaying a spent auth token or a rotated refresh
  token revokes the family's live pair (RFC 6749 section 4.1.2, RFC 9700 section 4.14.2): one of the two
  parties holding it is an attacker, and the server cannot tell which.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta

from msgspec import Struct
from pynamodb.transactions import TransactWrite

from chalicelib.auth.clients import Client
from chalicelib.auth.errors import InvalidGrant, InvalidToken
from chalicelib.clock import Clock, epoch_ms
from chalicelib.ids import IdGenerator
from chalicelib.store.models import Token, UserGrant
from chalicelib.store.transactions import Retrier, write_transaction

SYSTEM, AUTH, ACCESS, REFRESH = "system", "auth", "access", "refresh"
LIFETIMES = {
    SYSTEM: timedelta(minutes=60),
    AUTH: timedelta(minutes=3),
    ACCESS: timedelta(minutes=60),
    REFRESH: timedelta(days=180),
}
# TTL deletes an item some time after this; until then a late replay is still recognised as one.
PURGE_AFTER_EXPIRY = timedelta(days=1)
MAX_TOKEN_LENGTH = 256

_NEW_TOKEN = Token.token_hash.does_not_exist()
_UNSPENT = Token.spent_at.does_not_exist() & Token.revoked_at.does_not_exist()
_TOKEN_EXISTS = Token.token_hash.exists()
_NO_GRANT = UserGrant.api_key.does_not_exist()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class IssuedToken(Struct, frozen=True):
    token: str  # in clear, this once
    created_at: datetime
    expires_at: datetime


class TokenPair(Struct, frozen=True):
    access: IssuedToken
    refresh: IssuedToken


class Bearer(Struct, frozen=True):
    """Who a valid access or system token speaks for."""

    kind: str  # system | access
    api_key: str
    customer_id: str | None  # None for a system token
    grants: frozenset[str]


class Tokens:
    def __init__(self, clock: Clock, ids: IdGenerator, retrier: Retrier) -> None:
        self.clock = clock
        self.ids = ids
        self.retrier = retrier

    # --- issuing ------------------------------------------------------------------------------------

    def _new(
        self,
        kind: str,
        now: datetime,
        api_key: str,
        grants: Iterable[str],
        customer_id: str | None = None,
        family_id: str | None = None,
    ) -> tuple[IssuedToken, Token]:
        token = self.ids.secret()
        expires_at = now + LIFETIMES[kind]
        item = Token(
            token_hash(token),
            kind=kind,
            api_key=api_key,
            customer_id=customer_id,
            grants=set(grants),
            family_id=family_id,
            created_at=now,
            expires_at_ms=epoch_ms(expires_at),
            purge_at=expires_at + PURGE_AFTER_EXPIRY,
        )
        return IssuedToken(token, now, expires_at), item

    def issue_system(self, client: Client, grants: frozenset[str]) -> IssuedToken:
        """A system token of the client; the client's other tokens stay valid."""
        issued, item = self._new(SYSTEM, self.clock.now(), client.api_key, grants)
        item.save(condition=_NEW_TOKEN)
        return issued

    def issue_auth(self, client: Client, customer_id: str, grants: frozenset[str]) -> IssuedToken:
        """The single-use proof of an end user's sign-in, exchanged by the client for a pair."""
        issued, item = self._new(AUTH, self.clock.now(), client.api_key, grants, customer_id=customer_id)
        item.save(condition=_NEW_TOKEN)
        return issued

    def exchange(self, client: Client, auth_token: str) -> TokenPair:
        """An access and refresh token pair for the sign-in behind `auth_token` (once)."""
        return self._replace_pair(client, auth_token, AUTH)

    def rotate(self, client: Client, refresh_token: str) -> TokenPair:
        """A new pair for a refresh token; the old pair stops working."""
        return self._replace_pair(client, refresh_token, REFRESH)

    def _replace_pair(self, client: Client, presented: str, kind: str) -> TokenPair:
        def attempt() -> TokenPair:
            now = self.clock.now()
            spent = self._presented(client, presented, kind, now)
            assert spent.customer_id is not None
            family_id = self.ids.secret() if kind == AUTH else spent.family_id
            grants = set(spent.grants)
            access, access_item = self._new(ACCESS, now, client.api_key, grants, spent.customer_id, family_id)
            refresh, refresh_item = self._new(REFRESH, now, client.api_key, grants, spent.customer_id, family_id)
            current = _user_grant(client.api_key, spent.customer_id)
            grant = UserGrant(
                client.api_key,
                spent.customer_id,
                family_id=family_id,
                access_hash=access_item.token_hash,
                access_expires_at_ms=access_item.expires_at_ms,
                refresh_hash=refresh_item.token_hash,
                refresh_expires_at_ms=refresh_item.expires_at_ms,
                updated_at=now,
                purge_at=refresh.expires_at + PURGE_AFTER_EXPIRY,
            )

            def build(transaction: TransactWrite) -> None:
                actions = [Token.spent_at.set(now)]
                if kind == AUTH:
                    actions.append(Token.family_id.set(family_id))
                transaction.update(spent, actions=actions, condition=_UNSPENT, add_version_condition=False)
                transaction.save(access_item, condition=_NEW_TOKEN)
                transaction.save(refresh_item, condition=_NEW_TOKEN)
                _revoke_live(transaction, current, now, keep=spent.token_hash)
                transaction.save(grant, condition=_unchanged(current))

            write_transaction(build)
            return TokenPair(access, refresh)

        return self.retrier.run(attempt)

    def _presented(self, client: Client, presented: str, kind: str, now: datetime) -> Token:
        """The presented auth or refresh token, if it may be spent now; replays revoke their family."""
        what = "auth token" if kind == AUTH else "refresh token"
        item = _read(presented)
        if item is None or item.kind != kind:
            raise InvalidGrant(f"unknown {what}")
        if item.api_key != client.api_key:
            raise InvalidGrant(f"the {what} was issued to another client")
        if item.revoked_at is not None:
            raise InvalidGrant(f"the {what} was revoked")
        if item.spent_at is not None:
            if item.family_id is not None:
                self._revoke_family(item.api_key, item.customer_id, item.family_id)
            raise InvalidGrant(f"the {what} was already used; the tokens issued from it are revoked")
        if int(item.expires_at_ms) <= epoch_ms(now):
            raise InvalidGrant(f"the {what} has expired")
        return item

    # --- revoking -----------------------------------------------------------------------------------

    def revoke(self, client: Client, refresh_token: str) -> None:
        """Revoke the pair a refresh (or access) token belongs to. An unknown token is no error
        (RFC 7009 section 2.2); another client's is refused and changes nothing."""
        item = _read(refresh_token)
        if item is None or item.kind not in (ACCESS, REFRESH):
            return
        if item.api_key != client.api_key:
            raise InvalidGrant("the refresh token was issued to another client")
        if item.family_id is not None:
            self._revoke_family(item.api_key, item.customer_id, item.family_id)

    def _revoke_family(self, api_key: str, customer_id: str | None, family_id: str) -> None:
        """End the live pair of a family, if the family still has it."""
        if customer_id is None:
            return

        def attempt() -> None:
            now = self.clock.now()
            current = _user_grant(api_key, customer_id)
            if current is None or current.family_id != family_id:
                return  # a later sign-in replaced it: nothing of this family is live

            def build(transaction: TransactWrite) -> None:
                _revoke_live(transaction, current, now)
                transaction.delete(current, condition=_unchanged(current))

            write_transaction(build)

        self.retrier.run(attempt)

    # --- checking -----------------------------------------------------------------------------------

    def authenticate(self, token: str) -> Bearer:
        """Who a bearer access or system token speaks for; InvalidToken unless it is valid now."""
        item = _read(token)
        if (
            item is None
            or item.kind not in (ACCESS, SYSTEM)
            or item.revoked_at is not None
            or int(item.expires_at_ms) <= epoch_ms(self.clock.now())
        ):
            raise InvalidToken("the access token is unknown, expired or revoked")
        return Bearer(item.kind, item.api_key, item.customer_id, frozenset(item.grants))

    def authenticate_client(self, token: str, api_key: str) -> Bearer:
        """A valid system token issued to `api_key`: how /auth/token knows the calling client."""
        bearer = self.authenticate(token)
        if bearer.kind != SYSTEM or bearer.api_key != api_key:
            raise InvalidToken("a system token issued to this api_key is needed")
        return bearer


def _read(token: str) -> Token | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        return Token.get(token_hash(token), consistent_read=True)
    except Token.DoesNotExist:
        return None


def _user_grant(api_key: str, customer_id: str) -> UserGrant | None:
    try:
        return UserGrant.get(api_key, customer_id, consistent_read=True)
    except UserGrant.DoesNotExist:
        return None


def _unchanged(current: UserGrant | None):
    """The user grant is still what was read (or still absent)."""
    if current is None:
        return _NO_GRANT
    return (UserGrant.family_id == current.family_id) & (UserGrant.refresh_hash == current.refresh_hash)


def _revoke_live(transaction: TransactWrite, current: UserGrant | None, now: datetime, keep: str = "") -> None:
    """Revoke the still-unexpired tokens of a user grant's pair (an expired one may already be purged)."""
    if current is None:
        return
    now_ms = epoch_ms(now)
    for hash_, expires_ms in (
        (current.access_hash, current.access_expires_at_ms),
        (current.refresh_hash, current.refresh_expires_at_ms),
    ):
        if int(expires_ms) > now_ms and hash_ != keep:
            transaction.update(
                Token(hash_),
                actions=[Token.revoked_at.set(now)],
                condition=_TOKEN_EXISTS,
                add_version_condition=False,
            )
