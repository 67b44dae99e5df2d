"""The contest bank's operator routes, only on stages with the contest-compatibility switch on.

They take no credentials, as in the contest; the production stage never registers them.
"""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.contract import Operation
from chalicelib.api.fallback import UNSUPPORTED_MEDIA_TYPE
from chalicelib.api.isubank import (
    BANK_ID_EXISTS,
    BANK_ID_NOT_FOUND,
    COMMON_ERRORS,
    PARAMETER_INVALID,
    answer,
)
from chalicelib.api.models.common import Empty
from chalicelib.api.models.isubank import AddCreditRequest, CreditQuery, CreditResponse, RegisterRequest
from chalicelib.services import Services

TAG = "Contest compatibility"
COMPAT_ONLY = (
    "\n\nA contest-compatibility route: it exists only on stages with `BANK_CONTEST_COMPAT` on (`local`, `dev`);"
    " elsewhere the path is unknown (404 `not found`). No credentials, as in the contest's bank."
)
DEPOSIT_DESCRIPTION = "入金"

REGISTER = Operation(
    "POST",
    "/register",
    "register",
    TAG,
    summary="Open a bank user and account (operator)",
    description="Opens a user whose `bank_id` (and name) is the one given, with an account at 0 yen." + COMPAT_ONLY,
    request=RegisterRequest,
    request_examples={"dave": ("Open dave", {"bank_id": "dave"})},
    ok="The user is opened.",
    ok_body=Empty,
    ok_example={},
    errors=(
        PARAMETER_INVALID.when("malformed JSON or `bank_id` not a string of 1 to 128 characters"),
        BANK_ID_EXISTS.when("the user is already open"),
        *COMMON_ERRORS,
    ),
    contest_compat=True,
)
ADD_CREDIT = Operation(
    "POST",
    "/add_credit",
    "add_credit",
    TAG,
    summary="Deposit into a user's account at once (operator)",
    description=f"Credits `price` yen to the committed balance at once (posted as {DEPOSIT_DESCRIPTION})."
    + COMPAT_ONLY,
    request=AddCreditRequest,
    request_examples={"deposit": ("Deposit 5,000 yen", {"bank_id": "alice", "price": 5000})},
    ok="The deposit is posted.",
    ok_body=Empty,
    ok_example={},
    errors=(
        PARAMETER_INVALID.when(
            "malformed JSON, a wrong type, `bank_id` empty or over 128 characters, `price` below 1 or over 10^12"
        ),
        BANK_ID_NOT_FOUND.when("no user has this `bank_id`"),
        *COMMON_ERRORS,
    ),
    contest_compat=True,
)
CREDIT = Operation(
    "GET",
    "/credit",
    "credit",
    TAG,
    summary="A user's committed balance (operator)",
    description="The committed balance of `bank_id` (holds not deducted)." + COMPAT_ONLY,
    query=CreditQuery,
    ok="The committed balance.",
    ok_body=CreditResponse,
    ok_example={"credit": 100000},
    errors=(
        PARAMETER_INVALID.when("`bank_id` missing, empty or over 128 characters"),
        BANK_ID_NOT_FOUND.when("no user has this `bank_id`"),
        UNSUPPORTED_MEDIA_TYPE.when(
            "a `Content-Type` header other than `application/json` (the route takes no body; send none)"
        ),
        *COMMON_ERRORS,
    ),
    contest_compat=True,
    any_content_type=False,
)
OPERATIONS = (REGISTER, ADD_CREDIT, CREDIT)


def blueprint(services: Services) -> Blueprint:
    bp = Blueprint(__name__)

    @REGISTER.route(bp)
    @answer
    def register() -> Empty:
        body: RegisterRequest = REGISTER.body(bp.current_request)
        services.accounts.open(body.bank_id, name=body.bank_id)
        return Empty()

    @ADD_CREDIT.route(bp)
    @answer
    def add_credit() -> Empty:
        body: AddCreditRequest = ADD_CREDIT.body(bp.current_request)
        services.accounts.deposit(body.bank_id, body.price, DEPOSIT_DESCRIPTION)
        return Empty()

    @CREDIT.route(bp)
    @answer
    def credit() -> CreditResponse:
        query: CreditQuery = CREDIT.params(bp.current_request)
        return CreditResponse(credit=services.accounts.balance(query.bank_id).balance)

    return bp
