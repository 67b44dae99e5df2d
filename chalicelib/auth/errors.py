"""What the bank common API's auth can refuse. Each carries a description safe to show the caller;
the API maps the classes to its OAuth-style error codes."""

from __future__ import annotations


class AuthError(Exception):
    """A refused auth request; nothing was issued or changed."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidClient(AuthError):
    """Unknown api_key or wrong client password."""


class InvalidRedirect(AuthError):
    """A redirect_uri not registered for the client: never redirected to."""


class InvalidScope(AuthError):
    """Grants asked by name that the client may not have."""


class InvalidGrant(AuthError):
    """An auth or refresh token that is unknown, expired, spent, revoked or another client's."""


class SignInFailed(AuthError):
    """Wrong login id or password (one message for both, so that ids cannot be probed)."""


class SignInLocked(AuthError):
    """Too many failed sign-ins for this login id; refused, even with the right password, for a while."""

    def __init__(self, description: str, retry_after_seconds: int) -> None:
        super().__init__(description)
        self.retry_after_seconds = retry_after_seconds


class PasswordLoginDisabled(AuthError):
    """The REST login is off for this client (the document's "not implemented")."""


class InvalidToken(AuthError):
    """A bearer token that is missing, unknown, expired or revoked."""


class InsufficientGrant(AuthError):
    """A valid token without the grant (or of a kind) the endpoint needs."""

    def __init__(self, description: str, needed: str) -> None:
        super().__init__(description)
        self.needed = needed
