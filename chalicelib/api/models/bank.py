"""The bank common API's bodies and query parameters, in the document's names and shapes."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from msgspec import Meta, Struct

from chalicelib.auth.clients import MAX_API_KEY_LENGTH
from chalicelib.auth.logins import MAX_LOGIN_ID_LENGTH
from chalicelib.auth.passwords import MAX_PASSWORD_LENGTH
from chalicelib.auth.tokens import MAX_TOKEN_LENGTH

MAX_PAGE = 10**6

ApiKey = Annotated[str, Meta(min_length=1, max_length=MAX_API_KEY_LENGTH, description="The client's API key.")]
Password = Annotated[str, Meta(max_length=MAX_PASSWORD_LENGTH)]
Grants = Annotated[
    str,
    Meta(
        max_length=256,
        description="Grants asked for, comma separated: `read`, `write`. `*`, an empty string or no `grants` ask"
        " for all of the client's own grants (never refused); a grant asked by name that the client may not have"
        " is 400 `invalid_scope`.",
        examples=["read,write"],
    ),
]
TokenValue = Annotated[str, Meta(min_length=1, max_length=MAX_TOKEN_LENGTH)]
UnixSeconds = Annotated[int, Meta(ge=0, description="Unix time, seconds.")]
Page = Annotated[int, Meta(ge=1, le=MAX_PAGE, description="The page, from 1 (the default); 200 items a page.")]
NextPage = Annotated[int, Meta(ge=0, description="The next page's number; 0 when this is the last page.")]
AccountId = Annotated[str, Meta(min_length=1, max_length=128, description="An account's `id` from `/accounts`.")]
Day = Annotated[date, Meta(description="A calendar day, `YYYY-MM-DD`, in Japan time.")]


class OAuthError(Struct, forbid_unknown_fields=True):
    """Every error of the bank common API: an OAuth 2.0 style code and a sentence for people."""

    error: Annotated[str, Meta(description="The code; each response lists its own.")]
    error_description: Annotated[str, Meta(description="What went wrong, in words.")]


class SystemTokenRequest(Struct):
    api_key: ApiKey
    password: Password
    grants: Grants | None = None


class SystemTokenResponse(Struct, forbid_unknown_fields=True):
    access_token: Annotated[
        str, Meta(description="The system token (a bearer token for `/auth/token` and `/branches`).")
    ]
    created_at: UnixSeconds
    expired_at: UnixSeconds


class LoginRequest(Struct):
    api_key: ApiKey
    id: Annotated[str, Meta(max_length=MAX_LOGIN_ID_LENGTH, description="The login id (the ISUBANK `bank_id`).")]
    password: Password
    grants: Grants | None = None


class AuthTokenResponse(Struct, forbid_unknown_fields=True):
    auth_token: Annotated[str, Meta(description="Single use, valid 3 minutes: exchange it at `POST /auth/token`.")]


class TokenRequest(Struct):
    api_key: ApiKey
    password: Password
    auth_token: TokenValue


class RefreshRequest(Struct):
    api_key: ApiKey
    refresh_token: TokenValue


class TokenResponse(Struct, forbid_unknown_fields=True):
    access_token: Annotated[str, Meta(description="Valid 60 minutes.")]
    created_at: UnixSeconds
    expired_at: Annotated[int, Meta(ge=0, description="When the access token expires, Unix time, seconds.")]
    refresh_token: Annotated[str, Meta(description="Valid 180 days; single use (`PUT /auth/token`).")]


class PageQuery(Struct):
    page: Page = 1


class StatementQuery(Struct):
    account_id: AccountId
    start_date: Day
    end_date: Day
    page: Page = 1


class PageParams(Struct, forbid_unknown_fields=True):
    page: Page
    next_page: NextPage


class Branch(Struct, forbid_unknown_fields=True):
    id: str
    branch_code: str
    branch_name: str
    branch_name_kana: str
    address_code: Annotated[str, Meta(pattern=r"^\d{6}$", description="The branch's local government code.")]
    tel: str


class BranchesResponse(Struct, forbid_unknown_fields=True):
    bank_code: str
    bank_name: str
    branches: list[Branch]
    params: PageParams


class Account(Struct, forbid_unknown_fields=True):
    id: str
    account_number: str
    owner_type: Annotated[str, Meta(description="`p`: a person, `c`: a company.")]
    account_type1: Annotated[str, Meta(description="`bank`: a bank account, `cc`: a credit card's account.")]
    account_type2: Annotated[str, Meta(description="`普通` (ordinary deposit), ...")]
    account_type3: Annotated[str, Meta(description="Reserved: always empty.")]
    branch_code: str
    branch_name: str


class AccountsResponse(Struct, forbid_unknown_fields=True):
    bank_code: str
    bank_name: str
    accounts: list[Account]
    params: PageParams


class StatementParams(Struct, forbid_unknown_fields=True):
    account_id: str
    start_date: Annotated[str, Meta(extra_json_schema={"format": "date"})]
    end_date: Annotated[str, Meta(extra_json_schema={"format": "date"})]
    page: Page
    next_page: NextPage


class Transaction(Struct, forbid_unknown_fields=True):
    id: str
    date: Annotated[
        str, Meta(extra_json_schema={"format": "date-time"}, description="The instant of the posting, `+09:00`.")
    ]
    amount: Annotated[int, Meta(description="Signed: a credit is positive, a debit negative.")]
    description: str
    balance: Annotated[int, Meta(description="The account's balance after this transaction.")]


class TransactionsResponse(Struct, forbid_unknown_fields=True):
    transactions: list[Transaction]
    params: StatementParams


class DailyBalance(Struct, forbid_unknown_fields=True):
    date: Annotated[
        str,
        Meta(
            extra_json_schema={"format": "date-time"}, description="The day, as its first instant: `T00:00:00+09:00`."
        ),
    ]
    balance: Annotated[int, Meta(description="The balance after the day's last transaction.")]


class BalancesResponse(Struct, forbid_unknown_fields=True):
    balances: list[DailyBalance]
    params: StatementParams
