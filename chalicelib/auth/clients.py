"""API clients of the bank common API (fintech apps), registered by an operator, and the grants they
may ask for.

A client is an `api_key` (public: it travels in login URLs), a generated password (shown once, stored as
an Argon2 hash), the exact redirect URIs its login page may send users back to, and its grants.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from msgspec import Struct
from pynamodb.exceptions import PutError

from chalicelib.auth.errors import InvalidClient, InvalidScope
from chalicelib.auth.passwords import hash_password, verify_password
from chalicelib.clock import Clock
from chalicelib.ids import IdGenerator
from chalicelib.store.models import ApiClient
from chalicelib.store.transactions import Retrier

GRANTS = ("read", "write")
WILDCARD = "*"
MAX_API_KEY_LENGTH = 128
MAX_REDIRECT_URI_LENGTH = 2048
# http only for a loopback address (a developer's machine), as RFC 9700 allows for native apps.
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


class Client(Struct, frozen=True):
    api_key: str
    name: str
    redirect_uris: tuple[str, ...]
    grants: frozenset[str]
    password_login: bool


class ClientExists(Exception):
    pass


def parse_grants(requested: str | None, allowed: Iterable[str]) -> frozenset[str]:
    """The grants a request asks for: no grants, an empty list or `*` mean all of the client's own.

    A grant asked by name that the client may not have is refused, never silently dropped: the
    responses have no field that would tell the app what it really got.
    """
    allowed = frozenset(allowed)
    names = {name.strip() for name in (requested or "").split(",")} - {""}
    if not names or WILDCARD in names:
        return allowed
    refused = names - allowed
    if refused:
        raise InvalidScope(f"grants not allowed for this client: {','.join(sorted(refused))}")
    return frozenset(names)


def validate_redirect_uri(uri: str) -> None:
    """An absolute https URI without a fragment (or http on a loopback host); raises ValueError."""
    parts = urlsplit(uri)
    if len(uri) > MAX_REDIRECT_URI_LENGTH or not parts.netloc or parts.fragment or "#" in uri:
        raise ValueError(f"not an absolute URI without a fragment: {uri}")
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS):
        raise ValueError(f"redirect URIs are https (http only on localhost): {uri}")
    if parts.username or parts.password:
        raise ValueError(f"a redirect URI carries no user info: {uri}")


def _client(item: ApiClient) -> Client:
    return Client(
        api_key=item.api_key,
        name=item.name,
        redirect_uris=tuple(item.redirect_uris),
        grants=frozenset(item.grants),
        password_login=bool(item.password_login),
    )


class Clients:
    def __init__(self, clock: Clock, ids: IdGenerator, retrier: Retrier) -> None:
        self.clock = clock
        self.ids = ids
        self.retrier = retrier

    def create(
        self,
        name: str,
        redirect_uris: Iterable[str],
        grants: Iterable[str] = GRANTS,
        password_login: bool = False,
        api_key: str | None = None,
        password: str | None = None,
    ) -> tuple[Client, str]:
        """Register a client; returns it and its password, in clear this once. `api_key` and `password`
        may be given (demo data); otherwise they are generated."""
        uris = list(dict.fromkeys(redirect_uris))
        if not uris:
            raise ValueError("a client needs at least one redirect URI")
        for uri in uris:
            validate_redirect_uri(uri)
        grants = set(grants)
        if not grants or not grants <= set(GRANTS):
            raise ValueError(f"grants are some of {','.join(GRANTS)}")
        if not name or (api_key is not None and not 0 < len(api_key) <= MAX_API_KEY_LENGTH):
            raise ValueError("a client needs a name, and an api_key of 1 to 128 characters")
        password = password or self.ids.secret()
        item = ApiClient(
            api_key or self.ids.api_key(),
            name=name,
            password_hash=hash_password(password),
            redirect_uris=uris,
            grants=grants,
            password_login=password_login,
            created_at=self.clock.now(),
        )
        try:
            item.save(condition=ApiClient.api_key.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise ClientExists() from None
            raise
        return _client(item), password

    def find(self, api_key: str) -> Client | None:
        if not api_key or len(api_key) > MAX_API_KEY_LENGTH:
            return None
        try:
            return _client(self.retrier.run(lambda: ApiClient.get(api_key)))
        except ApiClient.DoesNotExist:
            return None

    def authenticate(self, api_key: str, password: str) -> Client:
        """The client if the password is its own; InvalidClient otherwise (in the same time)."""
        item = None
        if api_key and len(api_key) <= MAX_API_KEY_LENGTH:
            try:
                item = self.retrier.run(lambda: ApiClient.get(api_key))
            except ApiClient.DoesNotExist:
                pass
        if not verify_password(item.password_hash if item else None, password) or item is None:
            raise InvalidClient("unknown api_key or wrong password")
        return _client(item)
