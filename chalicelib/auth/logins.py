"""End users signing in to a client: the login page's checks, the REST variant's, and the lockout both
share.

A sign-in proves the user's login id (the ISUBANK `bank_id`) and password and yields an auth token
bound to the client and to the grants the page showed. Failures count per login id, whether or not such
a user exists (so a lock says nothing about which ids exist): `FAILURE_LIMIT` failures within
`FAILURE_WINDOW` lock the id for `LOCK_DURATION`, during which even the right password is refused.
"""

from __future__ import annotations

from datetime import timedelta

from msgspec import Struct

from chalicelib.auth.clients import Client, Clients, parse_grants
from chalicelib.auth.errors import InvalidClient, InvalidRedirect, PasswordLoginDisabled, SignInFailed, SignInLocked
from chalicelib.auth.passwords import hash_password, verify_password
from chalicelib.auth.tokens import IssuedToken, Tokens
from chalicelib.clock import Clock, epoch_ms
from chalicelib.store.models import Customer, LoginThrottle
from chalicelib.store.transactions import Retrier, write_transaction

FAILURE_LIMIT = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
MAX_LOGIN_ID_LENGTH = 128
SIGN_IN_FAILED = "wrong login id or password"


class LoginRequest(Struct, frozen=True):
    """What a login page asks for on a client's behalf, checked."""

    client: Client
    redirect_uri: str | None  # None for the REST variant
    grants: frozenset[str]


class Logins:
    def __init__(self, clock: Clock, clients: Clients, tokens: Tokens, retrier: Retrier) -> None:
        self.clock = clock
        self.clients = clients
        self.tokens = tokens
        self.retrier = retrier

    def set_password(self, customer_id: str, password: str) -> None:
        """Give a bank user a login (or a new password)."""
        if not password:
            raise ValueError("an empty password")
        Customer(customer_id).update(
            actions=[Customer.password_hash.set(hash_password(password))],
            condition=Customer.customer_id.exists(),
        )

    def request(self, api_key: str, redirect_uri: str, grants: str | None) -> LoginRequest:
        """The login page's request, if the client exists and `redirect_uri` is one of its own, exactly."""
        client = self.clients.find(api_key)
        if client is None:
            raise InvalidClient("unknown api_key")
        if redirect_uri not in client.redirect_uris:
            raise InvalidRedirect("redirect_uri is not registered for this client")
        return LoginRequest(client, redirect_uri, parse_grants(grants, client.grants))

    def rest_request(self, api_key: str, grants: str | None) -> LoginRequest:
        """The REST login's request: only for clients registered with it."""
        client = self.clients.find(api_key)
        if client is None or not client.password_login:
            raise PasswordLoginDisabled("the REST login is not enabled for this client")
        return LoginRequest(client, None, parse_grants(grants, client.grants))

    def sign_in(self, request: LoginRequest, login_id: str, password: str) -> IssuedToken:
        """An auth token if the password is the user's and the id is not locked."""
        if not login_id or len(login_id) > MAX_LOGIN_ID_LENGTH:
            raise SignInFailed(SIGN_IN_FAILED)
        now_ms = epoch_ms(self.clock.now())
        throttle = _throttle(login_id)
        if throttle is not None and int(throttle.locked_until_ms) > now_ms:
            raise _locked(int(throttle.locked_until_ms) - now_ms)
        customer = _customer(login_id)
        if not verify_password(customer.password_hash if customer else None, password) or customer is None:
            self._count_failure(login_id)
            raise SignInFailed(SIGN_IN_FAILED)
        if throttle is not None and int(throttle.failures):
            LoginThrottle(login_id).delete()
        return self.tokens.issue_auth(request.client, customer.customer_id, request.grants)

    def _count_failure(self, login_id: str) -> None:
        def attempt() -> None:
            now = self.clock.now()
            now_ms = epoch_ms(now)
            read = _throttle(login_id)
            recent = read is not None and now_ms - int(read.last_failure_ms) < FAILURE_WINDOW.total_seconds() * 1000
            failures = (int(read.failures) if recent and read else 0) + 1
            locks = failures >= FAILURE_LIMIT
            item = LoginThrottle(
                login_id,
                failures=0 if locks else failures,
                last_failure_ms=now_ms,
                locked_until_ms=now_ms + int(LOCK_DURATION.total_seconds() * 1000) if locks else 0,
                purge_at=now + FAILURE_WINDOW + LOCK_DURATION,
            )
            if read is None:
                condition = LoginThrottle.login_id.does_not_exist()
            else:
                condition = (LoginThrottle.failures == int(read.failures)) & (
                    LoginThrottle.last_failure_ms == int(read.last_failure_ms)
                )
            write_transaction(lambda transaction: transaction.save(item, condition=condition))
            if locks:
                raise _locked(int(item.locked_until_ms) - now_ms)

        self.retrier.run(attempt)


def _locked(remaining_ms: int) -> SignInLocked:
    return SignInLocked("too many failed sign-ins for this login id; try again later", -(-remaining_ms // 1000))


def _throttle(login_id: str) -> LoginThrottle | None:
    try:
        return LoginThrottle.get(login_id, consistent_read=True)
    except LoginThrottle.DoesNotExist:
        return None


def _customer(login_id: str) -> Customer | None:
    try:
        return Customer.get(login_id, consistent_read=True)
    except Customer.DoesNotExist:
        return None
