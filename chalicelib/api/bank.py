"""The bank common API: client and end-user auth (`/auth/*`) and the read API on the one ledger
(`/branches`, `/accounts`, `/transactions`, `/balances`).

The README's "Bank common API" section is the reference. Every error is `{"error": <code>,
"error_description": <text>}` with OAuth 2.0 codes (RFC 6749 section 5.2, RFC 6750 section 3.1); every
response carries `Cache-Control: no-store` (tokens and account data must not be cached on the way).
The login page (`GET /auth/login`) is in `login_page.py`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, time
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.contract import ApiError, Operation
from chalicelib.api.http import MalformedRequest, bearer_credential, json_response
from chalicelib.api.models.bank import Account as AccountBody
from chalicelib.api.models.bank import (
    AccountsResponse,
    AuthTokenResponse,
    BalancesResponse,
    BranchesResponse,
    LoginRequest,
    OAuthError,
    PageParams,
    PageQuery,
    RefreshRequest,
    StatementParams,
    StatementQuery,
    SystemTokenRequest,
    SystemTokenResponse,
    TokenRequest,
    TokenResponse,
    TransactionsResponse,
)
from chalicelib.api.models.bank import Branch as BranchBody
from chalicelib.api.models.bank import DailyBalance as DailyBalanceBody
from chalicelib.api.models.bank import Transaction as TransactionBody
from chalicelib.api.models.common import Empty
from chalicelib.auth.clients import Client, parse_grants
from chalicelib.auth.errors import (
    AuthError,
    InsufficientGrant,
    InvalidClient,
    InvalidGrant,
    InvalidRedirect,
    InvalidScope,
    InvalidToken,
    PasswordLoginDisabled,
    SignInFailed,
    SignInLocked,
)
from chalicelib.auth.tokens import Bearer, TokenPair
from chalicelib.clock import JST
from chalicelib.ledger.errors import AccountNotFound, Busy, InvalidRequest
from chalicelib.ledger.statements import PAGE_SIZE
from chalicelib.observability import count, logger
from chalicelib.services import Services

REALM = "bank"
READ = "read"  # the grant every data endpoint needs
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# The API's whole error vocabulary.
INVALID_REQUEST = ApiError(400, "invalid_request", description="malformed JSON, a missing or mistyped member")
INVALID_GRANT = ApiError(400, "invalid_grant")
INVALID_SCOPE = ApiError(400, "invalid_scope", description="a grant asked by name that the client may not have")
INVALID_CLIENT = ApiError(
    401, "invalid_client", description="unknown `api_key` or wrong `password`", headers=("WWW-Authenticate",)
)
INVALID_TOKEN = ApiError(
    401,
    "invalid_token",
    component="OAuthInvalidToken",
    description="`Authorization: Bearer <token>` missing, or the token unknown, expired or revoked.",
    headers=("WWW-Authenticate",),
)
INSUFFICIENT_SCOPE = ApiError(
    403,
    "insufficient_scope",
    component="OAuthInsufficientScope",
    description="The token lacks the grant the endpoint needs (`read`), or is a system token on an end user's data.",
    headers=("WWW-Authenticate",),
)
NOT_FOUND = ApiError(404, "not_found")
SIGN_IN_FAILED = ApiError(400, "invalid_grant", description="wrong login `id` or `password`")
SIGN_IN_LOCKED = ApiError(
    429,
    "too_many_attempts",
    description="too many failed sign-ins for this login id: refused, even with the right password, for 15"
    " minutes (`Retry-After` says how long)",
    headers=("Retry-After",),
)
TEMPORARILY_UNAVAILABLE = ApiError(
    503,
    "temporarily_unavailable",
    component="OAuthTemporarilyUnavailable",
    description="DynamoDB kept conflicting or throttling after the retries; nothing was written. Retry after"
    " `Retry-After` seconds.",
    headers=("Retry-After",),
)
ERRORS: dict[type[Exception], ApiError] = {
    MalformedRequest: INVALID_REQUEST,
    InvalidRequest: INVALID_REQUEST,
    InvalidGrant: INVALID_GRANT,
    InvalidScope: INVALID_SCOPE,
    InvalidRedirect: INVALID_REQUEST,
    InvalidClient: INVALID_CLIENT,
    InvalidToken: INVALID_TOKEN,
    InsufficientGrant: INSUFFICIENT_SCOPE,
    PasswordLoginDisabled: NOT_FOUND,
    AccountNotFound: NOT_FOUND,
    SignInFailed: SIGN_IN_FAILED,
    SignInLocked: SIGN_IN_LOCKED,
    Busy: TEMPORARILY_UNAVAILABLE,
}
METHOD_NOT_ALLOWED = ApiError(
    405,
    "method_not_allowed",
    component="OAuthMethodNotAllowed",
    description="The path exists but not with this method; `Allow` lists the methods it has.",
    headers=("Allow",),
)
SERVER_ERROR = ApiError(
    500, "server_error", component="OAuthServerError", description="An unexpected error (logged with the request id)."
)
# What the framework answers by itself on this API's paths, in this API's shape.
FRAMEWORK_ERRORS = {
    405: METHOD_NOT_ALLOWED,
    415: ApiError(415, "invalid_request", description="unsupported media type"),
    500: SERVER_ERROR,
}
COMMON_ERRORS = (METHOD_NOT_ALLOWED, SERVER_ERROR, TEMPORARILY_UNAVAILABLE)
CLIENT_TOKEN_REFUSED = INVALID_TOKEN.when(
    "`Authorization: Bearer <system token>` missing, or not a valid system token issued to this `api_key`"
)
AUTH_TAG = "SystemAuth"
USER_AUTH_TAG = "UserAuth"
CLIENT_BEARER = (
    "\n\nAuthenticated twice, as the document marks it: `Authorization: Bearer <system token>` issued to this same"
    " `api_key` (from `POST /auth/system_token`; missing, expired or another client's: 401), so a leaked token"
    " alone cannot be used."
)


def _error_body(error: ApiError, description: str) -> dict[str, str]:
    return {"error": error.message, "error_description": description}


def error_response(error: ApiError, description: str, refusal: Exception | None = None) -> Response:
    headers = dict(NO_STORE)
    if error.status == 401:
        headers["WWW-Authenticate"] = f'Bearer realm="{REALM}", error="{error.message}"'
    elif error is INSUFFICIENT_SCOPE:
        needed = refusal.needed if isinstance(refusal, InsufficientGrant) else "read"
        headers["WWW-Authenticate"] = f'Bearer realm="{REALM}", error="insufficient_scope", scope="{needed}"'
    elif isinstance(refusal, SignInLocked):
        headers["Retry-After"] = str(refusal.retry_after_seconds)
    elif error.status == 503:
        headers["Retry-After"] = "1"
    return json_response(error.status, _error_body(error, description), headers)


def framework_error(status: int) -> Response:
    error = FRAMEWORK_ERRORS.get(status, INVALID_REQUEST)
    return error_response(error, error.description)


def answer(handler: Callable[[], Any]) -> Callable[[], Response]:
    """Run a route body; map the refusals it raises to the API's errors."""

    @functools.wraps(handler)
    def route() -> Response:
        try:
            return json_response(200, handler(), NO_STORE)
        except tuple(ERRORS) as refusal:
            error = ERRORS[type(refusal)]
            if isinstance(refusal, AuthError):
                description = refusal.description
            elif isinstance(refusal, AccountNotFound):
                description = "no such account among the user's"
            else:
                description = str(refusal) or error.description
            return error_response(error, description or error.message, refusal)

    return route


def _unix(instant) -> int:
    return int(instant.timestamp())


def _token_response(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access.token,
        created_at=_unix(pair.access.created_at),
        expired_at=_unix(pair.access.expires_at),
        refresh_token=pair.refresh.token,
    )


def _operation(*declared: Any, **more: Any) -> Operation:
    """An operation of this API: its error body, and `Cache-Control: no-store` on its answers."""
    return Operation(*declared, **more, ok_headers=("Cache-Control", "Pragma"), error_body=OAuthError)


SYSTEM_TOKEN = _operation(
    "POST",
    "/auth/system_token",
    "issueSystemToken",
    AUTH_TAG,
    summary="A system token for the client",
    description="Client credentials (`api_key`, `password`) for a system token bound to the client and to the"
    " grants asked for (`*` or none: all of the client's). Valid 60 minutes; the client's other tokens stay valid."
    " A system token reads `/branches` and authenticates the client at `/auth/token`.",
    request=SystemTokenRequest,
    request_examples={
        "all": ("All of the client's grants", {"api_key": "demo-api-key", "password": "demo-password", "grants": "*"})
    },
    ok="The system token.",
    ok_body=SystemTokenResponse,
    ok_example={"access_token": "c2Vjc...", "created_at": 1798675200, "expired_at": 1798678800},
    errors=(INVALID_REQUEST, INVALID_SCOPE, INVALID_CLIENT, *COMMON_ERRORS),
)
REST_LOGIN = _operation(
    "POST",
    "/auth/login",
    "signIn",
    USER_AUTH_TAG,
    summary="The REST sign-in: an end user's id and password for an auth token",
    description="The login page's sign-in as a JSON call, with the same checks and the same lockout. It is the"
    " password grant that RFC 9700 forbids (the app sees the user's password), so it is on only for clients"
    ' registered with `--password-login`; for the others it answers 404, the document\'s "not implemented".',
    request=LoginRequest,
    request_examples={
        "alice": ("Alice signs in", {"api_key": "demo-api-key", "id": "alice", "password": "alice-password"})
    },
    ok="The auth token: single use, valid 3 minutes.",
    ok_body=AuthTokenResponse,
    ok_example={"auth_token": "R2lLc3..."},
    errors=(
        INVALID_REQUEST,
        SIGN_IN_FAILED,
        INVALID_SCOPE,
        NOT_FOUND.when("the REST login is not enabled for this client (or the `api_key` is unknown)"),
        SIGN_IN_LOCKED,
        *COMMON_ERRORS,
    ),
)
ISSUE_TOKENS = _operation(
    "POST",
    "/auth/token",
    "issueTokens",
    USER_AUTH_TAG,
    summary="An access and refresh token for an auth token",
    description="Exchanges the auth token of a sign-in (single use) for an access token (60 minutes) and a refresh"
    " token (180 days). The user's previous tokens for this client stop working at once. A replayed auth token is"
    " refused and revokes what it was exchanged for." + CLIENT_BEARER,
    request=TokenRequest,
    security="systemToken",
    ok="The new token pair.",
    ok_body=TokenResponse,
    errors=(
        INVALID_REQUEST,
        INVALID_GRANT.when("the auth token is unknown, expired, already used, or was issued to another client"),
        INVALID_CLIENT,
        CLIENT_TOKEN_REFUSED,
        *COMMON_ERRORS,
    ),
)
ROTATE_TOKENS = _operation(
    "PUT",
    "/auth/token",
    "rotateTokens",
    USER_AUTH_TAG,
    summary="A new token pair for a refresh token",
    description="Rotates: the refresh token is spent and the old access token stops working. Presenting a spent"
    " refresh token again (a replay: one of its holders is not the app) is refused and revokes the live pair"
    " descended from the same sign-in, so the user signs in again. There is no grace window: a client that lost"
    " the response signs the user in again." + CLIENT_BEARER,
    request=RefreshRequest,
    security="systemToken",
    ok="The new token pair.",
    ok_body=TokenResponse,
    errors=(
        INVALID_REQUEST,
        INVALID_GRANT.when("the refresh token is unknown, expired, revoked, spent, or was issued to another client"),
        CLIENT_TOKEN_REFUSED,
        *COMMON_ERRORS,
    ),
)
REVOKE_TOKENS = _operation(
    "DELETE",
    "/auth/token",
    "revokeTokens",
    USER_AUTH_TAG,
    summary="Revoke a user's tokens",
    description="The access and refresh tokens descended from the refresh token's sign-in stop working. An unknown"
    " or already revoked token is 200 too (RFC 7009); another client's token is refused and revokes nothing."
    + CLIENT_BEARER,
    request=RefreshRequest,
    security="systemToken",
    ok="Revoked (or nothing to revoke).",
    ok_body=Empty,
    ok_example={},
    errors=(
        INVALID_REQUEST,
        INVALID_GRANT.when("the refresh token was issued to another client"),
        CLIENT_TOKEN_REFUSED,
        *COMMON_ERRORS,
    ),
)
READ_ERRORS = (INVALID_TOKEN, INSUFFICIENT_SCOPE)
STATEMENT_ERRORS = (
    INVALID_REQUEST.when(
        "a missing or malformed parameter (dates are `YYYY-MM-DD`), `end_date` before `start_date`, a range over"
        " 366 days, or `page` outside 1..1000000"
    ),
    *READ_ERRORS,
    NOT_FOUND.when("no account with this `account_id` among the user's (another user's account is not found too)"),
    *COMMON_ERRORS,
)
END_USER_ONLY = (
    "\n\n`Authorization: Bearer <access_token>` of the end user, with the `read` grant. The user sees only their own"
    " accounts; a system token is 403."
)
BRANCHES = _operation(
    "GET",
    "/branches",
    "listBranches",
    "BankInfo",
    summary="The bank's branches",
    description="Every branch, by branch code, 200 a page. `Authorization: Bearer <token>`: a system token or an end"
    " user's access token, with the `read` grant.",
    query=PageQuery,
    security="accessToken",
    ok="A page of branches.",
    ok_body=BranchesResponse,
    errors=(INVALID_REQUEST.when("`page` is not an integer in 1..1000000"), *READ_ERRORS, *COMMON_ERRORS),
)
ACCOUNTS = _operation(
    "GET",
    "/accounts",
    "listAccounts",
    "AccountInfo",
    summary="The end user's accounts",
    description="The user's accounts, 200 a page: the ordinary account that ISUBANK reserves and commits on (`id` is"
    " the user's `bank_id`), and card accounts (`account_type1: cc`)." + END_USER_ONLY,
    query=PageQuery,
    security="accessToken",
    ok="A page of accounts.",
    ok_body=AccountsResponse,
    errors=(INVALID_REQUEST.when("`page` is not an integer in 1..1000000"), *READ_ERRORS, *COMMON_ERRORS),
)
TRANSACTIONS = _operation(
    "GET",
    "/transactions",
    "listTransactions",
    "TransactionInfo",
    summary="An account's transactions over a range of days",
    description="The postings of the account whose Japan-time day is within `start_date`..`end_date` (inclusive),"
    " oldest first, 200 a page: ISUBANK commits, deposits and card movements. `amount` is signed, `balance` is the"
    " balance after it, `date` the instant it was posted. Cancelled reserves never posted, so they are not listed."
    + END_USER_ONLY,
    query=StatementQuery,
    security="accessToken",
    ok="A page of transactions.",
    ok_body=TransactionsResponse,
    errors=STATEMENT_ERRORS,
)
BALANCES = _operation(
    "GET",
    "/balances",
    "listBalances",
    "TransactionInfo",
    summary="An account's closing balance, day by day",
    description="One entry per Japan-time calendar day of `start_date`..`end_date` (inclusive) up to today, 200 a"
    " page: the balance after the day's last posting; a day without postings carries the day before's; days before"
    " the account's first posting are 0. `date` is the day's first instant, `YYYY-MM-DDT00:00:00+09:00`; today's"
    " entry is the balance so far." + END_USER_ONLY,
    query=StatementQuery,
    security="accessToken",
    ok="A page of daily balances.",
    ok_body=BalancesResponse,
    errors=STATEMENT_ERRORS,
)
OPERATIONS = (
    SYSTEM_TOKEN,
    REST_LOGIN,
    ISSUE_TOKENS,
    ROTATE_TOKENS,
    REVOKE_TOKENS,
    BRANCHES,
    ACCOUNTS,
    TRANSACTIONS,
    BALANCES,
)


def bearer_token(request) -> str:
    token = bearer_credential(request, ("bearer",))
    if token is None:
        raise InvalidToken("`Authorization: Bearer <token>` is missing or malformed")
    return token


def jst_iso(instant: datetime) -> str:
    return instant.astimezone(JST).isoformat(timespec="seconds")


def blueprint(services: Services) -> Blueprint:
    bp = Blueprint(__name__)
    settings = services.settings

    def client_body(operation: Operation) -> tuple[Client, Any]:
        """For `/auth/token`: the body, and the client its system token proves (checked before the body);
        the client's password too when the body has one."""
        token = bearer_token(bp.current_request)
        body = operation.body(bp.current_request)
        services.tokens.authenticate_client(token, body.api_key)
        logger.thread_safe_append_keys(api_key=body.api_key)
        if hasattr(body, "password"):
            return services.clients.authenticate(body.api_key, body.password), body
        client = services.clients.find(body.api_key)
        if client is None:  # its system token was valid a moment ago: the client was just deleted
            raise InvalidToken("the client is no longer registered")
        return client, body

    def reader(end_user: bool) -> Bearer:
        """The bearer of a valid token with the `read` grant (of an end user's access token if `end_user`)."""
        bearer = services.tokens.authenticate(bearer_token(bp.current_request))
        logger.thread_safe_append_keys(api_key=bearer.api_key)
        if READ not in bearer.grants:
            raise InsufficientGrant("the token lacks the `read` grant", READ)
        if end_user and bearer.customer_id is None:
            raise InsufficientGrant("a system token reads only /branches; this needs an end user's access token", READ)
        return bearer

    @BRANCHES.route(bp)
    @answer
    def branches() -> BranchesResponse:
        reader(end_user=False)
        query: PageQuery = BRANCHES.params(bp.current_request)
        page = services.branches.list(query.page)
        return BranchesResponse(
            bank_code=settings.bank_code,
            bank_name=settings.bank_name,
            branches=[
                BranchBody(
                    id=branch.code,
                    branch_code=branch.code,
                    branch_name=branch.name,
                    branch_name_kana=branch.name_kana,
                    address_code=branch.address_code,
                    tel=branch.tel,
                )
                for branch in page.items
            ],
            params=PageParams(page=page.page, next_page=page.next_page),
        )

    @ACCOUNTS.route(bp)
    @answer
    def accounts() -> AccountsResponse:
        bearer = reader(end_user=True)
        query: PageQuery = ACCOUNTS.params(bp.current_request)
        assert bearer.customer_id is not None
        owned = services.accounts.of_customer(bearer.customer_id)
        first = (query.page - 1) * PAGE_SIZE
        return AccountsResponse(
            bank_code=settings.bank_code,
            bank_name=settings.bank_name,
            accounts=[
                AccountBody(
                    id=account.account_id,
                    account_number=account.account_number,
                    owner_type="p",
                    account_type1=account.account_type1,
                    account_type2=account.account_type2,
                    account_type3="",
                    branch_code=account.branch_code,
                    branch_name=account.branch_name,
                )
                for account in owned[first : first + PAGE_SIZE]
            ],
            params=PageParams(page=query.page, next_page=query.page + 1 if len(owned) > first + PAGE_SIZE else 0),
        )

    def statement_params(query: StatementQuery, next_page: int) -> StatementParams:
        return StatementParams(
            account_id=query.account_id,
            start_date=query.start_date.isoformat(),
            end_date=query.end_date.isoformat(),
            page=query.page,
            next_page=next_page,
        )

    @TRANSACTIONS.route(bp)
    @answer
    def transactions() -> TransactionsResponse:
        bearer = reader(end_user=True)
        query: StatementQuery = TRANSACTIONS.params(bp.current_request)
        assert bearer.customer_id is not None
        page = services.statements.transactions(
            bearer.customer_id, query.account_id, query.start_date, query.end_date, query.page
        )
        return TransactionsResponse(
            transactions=[
                TransactionBody(
                    id=line.id,
                    date=jst_iso(line.posted_at),
                    amount=line.amount,
                    description=line.description,
                    balance=line.balance,
                )
                for line in page.items
            ],
            params=statement_params(query, page.next_page),
        )

    @BALANCES.route(bp)
    @answer
    def balances() -> BalancesResponse:
        bearer = reader(end_user=True)
        query: StatementQuery = BALANCES.params(bp.current_request)
        assert bearer.customer_id is not None
        page = services.statements.balances(
            bearer.customer_id, query.account_id, query.start_date, query.end_date, query.page
        )
        return BalancesResponse(
            balances=[
                DailyBalanceBody(date=jst_iso(datetime.combine(day.day, time(), JST)), balance=day.balance)
                for day in page.items
            ],
            params=statement_params(query, page.next_page),
        )

    @SYSTEM_TOKEN.route(bp)
    @answer
    def system_token() -> SystemTokenResponse:
        body: SystemTokenRequest = SYSTEM_TOKEN.body(bp.current_request)
        client = services.clients.authenticate(body.api_key, body.password)
        logger.thread_safe_append_keys(api_key=client.api_key)
        issued = services.tokens.issue_system(client, parse_grants(body.grants, client.grants))
        count("SystemTokens")
        return SystemTokenResponse(
            access_token=issued.token, created_at=_unix(issued.created_at), expired_at=_unix(issued.expires_at)
        )

    @REST_LOGIN.route(bp)
    @answer
    def rest_login() -> AuthTokenResponse:
        body: LoginRequest = REST_LOGIN.body(bp.current_request)
        request = services.logins.rest_request(body.api_key, body.grants)
        issued = services.logins.sign_in(request, body.id, body.password)
        count("SignIns")
        return AuthTokenResponse(auth_token=issued.token)

    @ISSUE_TOKENS.route(bp)
    @answer
    def issue_tokens() -> TokenResponse:
        client, body = client_body(ISSUE_TOKENS)
        pair = services.tokens.exchange(client, body.auth_token)
        count("TokenExchanges")
        return _token_response(pair)

    @ROTATE_TOKENS.route(bp)
    @answer
    def rotate_tokens() -> TokenResponse:
        client, body = client_body(ROTATE_TOKENS)
        pair = services.tokens.rotate(client, body.refresh_token)
        count("TokenRotations")
        return _token_response(pair)

    @REVOKE_TOKENS.route(bp)
    @answer
    def revoke_tokens() -> Empty:
        client, body = client_body(REVOKE_TOKENS)
        services.tokens.revoke(client, body.refresh_token)
        count("TokenRevocations")
        return Empty()

    return bp
