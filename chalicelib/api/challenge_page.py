"""The 3-D Secure challenge page that purchase v2 sends the shopper's browser to (`paymentv2`'s `redirect_url`):
`GET /3ds/challenge/{challengeId}` shows it, its form posts back to the same path, and
`GET /3ds/challenge/{challengeId}/result` says what came of it.

The page shows the merchant, the amount and the card masked, with two buttons: "Authenticate" pays (once,
`Challenges.complete`) and "Fail authentication" pays nothing. Then a 303: to the merchant's
`return_url.success_url` (with `transaction_id` and `merchant_txn_ref` added to its query) or `decline_url`
(with `merchant_txn_ref`), or, without one, to the result page. An unknown challenge is 404, an expired or
finished one 410 (a second submit too: it never pays twice). Pages as the login page's (`api/pages.py`): no
script, a strict CSP, a CSRF cookie and hidden token; framework errors (405, 500) in the gateway's JSON shape.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from chalice import Blueprint, Response
from msgspec import Meta, Struct

from chalicelib.api import pages
from chalicelib.api.contract import ApiError, Operation
from chalicelib.api.gateway import METHOD_NOT_ALLOWED, SERVER_ERROR, TAG
from chalicelib.api.http import MalformedRequest
from chalicelib.api.models.gateway import GatewayError
from chalicelib.cards.challenges import (
    CHALLENGE_LIFETIME,
    COMPLETED,
    PENDING,
    ChallengeExpired,
    ChallengeFinished,
    ChallengeUnknown,
    ChallengeView,
)
from chalicelib.ledger.errors import Busy
from chalicelib.observability import count
from chalicelib.services import Services

CSRF_COOKIE = "__Host-bank-3ds-csrf"
RESULT_PATH = pages.CHALLENGE_PATH + "/result"
COMPLETE, FAIL = "complete", "fail"
MESSAGES = {
    "bad_request": "認証ページへの要求が正しくありません。",
    "unknown": "この認証ページは存在しません。",
    "expired": "この認証ページの有効期限が切れました。お店に戻り、もう一度お支払いください。",
    "finished": "この認証はすでに終わっています。",
    "pending": "この認証はまだ終わっていません。",
    "csrf": "ページの有効期限が切れました。もう一度お試しください。",
    "busy": "ただいま混み合っています。しばらくしてからもう一度お試しください。",
    "completed": "お支払いが完了しました。",
    "failed": "本人認証に失敗したため、お支払いは行われませんでした。",
}


class ChallengePath(Struct):
    challengeId: Annotated[
        str,
        Meta(min_length=1, max_length=128, description="The challenge's id, as `paymentv2`'s `redirect_url` has it."),
    ]


class ChallengeForm(Struct):
    """The challenge page's form (`application/x-www-form-urlencoded`): which button was pressed."""

    outcome: Annotated[
        str, Meta(pattern="^(complete|fail)$", description="`complete` (Authenticate) pays; `fail` pays nothing.")
    ]
    csrf_token: Annotated[str, Meta(max_length=128, description="The page's hidden CSRF token (and its cookie).")]


PAGE_BAD_REQUEST = ApiError(400, "bad_request", description="the form is missing a field, or has a wrong one")
UNKNOWN = ApiError(404, "unknown", description="no challenge with this id")
GONE = ApiError(
    410,
    "expired",
    description="the challenge expired (15 minutes) or is finished: a second submit never pays again",
)
BUSY_PAGE = ApiError(503, "busy", description="DynamoDB kept conflicting or throttling; nothing was written")
COMMON_PAGE_ERRORS = (METHOD_NOT_ALLOWED, SERVER_ERROR)

CHALLENGE_PAGE = Operation(
    "GET",
    pages.CHALLENGE_PATH,
    "threeDSChallengePage",
    TAG,
    summary="The 3-D Secure challenge page (for the shopper's browser)",
    description="An HTML page of this bank, where `paymentv2` sends the shopper: the merchant, the amount and the card"
    " (masked), and two buttons, **Authenticate** and **Fail authentication**, whose form posts to the same path."
    " Live 15 minutes from the `paymentv2` that made it; nothing is paid until it is completed.",
    path_params=ChallengePath,
    ok="The challenge page.",
    ok_body=None,
    ok_media=("text/html",),
    ok_headers=("Cache-Control", "Content-Security-Policy", "Set-Cookie"),
    error_media="text/html",
    error_body=GatewayError,  # of the framework's errors (405, 500): the rest are pages
    errors=(UNKNOWN, GONE, BUSY_PAGE, *COMMON_PAGE_ERRORS),
)
CHALLENGE_FORM = Operation(
    "POST",
    pages.CHALLENGE_PATH,
    "threeDSChallengeForm",
    TAG,
    summary="The challenge page's form: authenticate (pay) or fail",
    description="`outcome=complete` pays the purchase, once (the challenge is completed in the payment's own"
    " transaction), and answers 303 to the merchant's `return_url.success_url` with `transaction_id` and"
    " `merchant_txn_ref` added to its query; `outcome=fail` pays nothing and answers 303 to `decline_url` with"
    " `merchant_txn_ref`. Without those URLs, and when the purchase declines at that point, 303 to the result"
    " page. A finished challenge is 410 (a double submit never pays twice). Needs the page's CSRF cookie and"
    " hidden token (403 otherwise: the page is shown anew).",
    path_params=ChallengePath,
    request=ChallengeForm,
    request_media="application/x-www-form-urlencoded",
    ok="Finished: on to the merchant's page, or to the result page.",
    ok_status=303,
    ok_body=None,
    ok_headers=("Location", "Cache-Control"),
    error_media="text/html",
    error_body=GatewayError,
    errors=(
        PAGE_BAD_REQUEST,
        ApiError(
            403,
            "csrf",
            description="the CSRF cookie or hidden token is missing or differs, or the POST came from another"
            " site: the page again, nothing paid",
        ),
        UNKNOWN,
        GONE,
        BUSY_PAGE,
        *COMMON_PAGE_ERRORS,
    ),
)
RESULT_PAGE = Operation(
    "GET",
    RESULT_PATH,
    "threeDSChallengeResult",
    TAG,
    summary="What came of a 3-D Secure challenge",
    description="An HTML page: paid (with the transaction id) or not paid, where the challenge page sends the"
    " browser when the merchant gave no `return_url`. Shown for a day after the challenge's expiry; a challenge"
    " not finished yet is 409.",
    path_params=ChallengePath,
    ok="The result page.",
    ok_body=None,
    ok_media=("text/html",),
    ok_headers=("Cache-Control", "Content-Security-Policy"),
    error_media="text/html",
    error_body=GatewayError,
    errors=(
        UNKNOWN,
        ApiError(409, "pending", description="the challenge is not finished yet"),
        ApiError(410, "expired", description="the challenge expired unfinished, or its result is over a day old"),
        BUSY_PAGE,
        *COMMON_PAGE_ERRORS,
    ),
)
OPERATIONS = (CHALLENGE_PAGE, CHALLENGE_FORM, RESULT_PAGE)


def _form(raw: bytes) -> ChallengeForm:
    return pages.form(raw, ChallengeForm)


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query (any it has kept, its fragment too)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def blueprint(services: Services) -> Blueprint:
    bp = Blueprint(__name__)
    bank_name = services.settings.bank_name

    def message_page(status: int, code: str, challenge: ChallengeView | None = None) -> Response:
        return pages.render(
            "challenge_message.html", status, bank_name, message=MESSAGES[code], code=code, challenge=challenge
        )

    def refused(error: Exception) -> Response:
        if isinstance(error, ChallengeUnknown):
            return message_page(404, "unknown")
        if isinstance(error, ChallengeFinished):
            return message_page(410, "finished", error.challenge)
        if isinstance(error, ChallengeExpired):
            return message_page(410, "expired")
        assert isinstance(error, Busy)
        response = message_page(503, "busy")
        response.headers["Retry-After"] = "1"
        return response

    def challenge_page(challenge_id: str, challenge: ChallengeView, status: int, error: str | None = None) -> Response:
        csrf_token = secrets.token_urlsafe(32)
        response = pages.render(
            "challenge.html",
            status,
            bank_name,
            (challenge.success_url, challenge.decline_url),
            challenge=challenge,
            action=pages.stage_prefix(bp.current_request) + pages.CHALLENGE_PATH.format(challengeId=challenge_id),
            csrf_token=csrf_token,
            minutes=int(CHALLENGE_LIFETIME.total_seconds() // 60),
            error=MESSAGES[error] if error else None,
        )
        response.headers["Set-Cookie"] = pages.csrf_cookie(CSRF_COOKIE, csrf_token)
        return response

    @CHALLENGE_PAGE.route(bp)
    def show(challengeId: str) -> Response:
        try:
            challenge = services.challenges.view(challengeId)
        except (ChallengeUnknown, ChallengeFinished, ChallengeExpired, Busy) as error:
            return refused(error)
        return challenge_page(challengeId, challenge, 200)

    @CHALLENGE_FORM.route(bp)
    def submit(challengeId: str) -> Response:
        http = bp.current_request
        try:
            form = _form(http.raw_body or b"")
        except MalformedRequest:
            return message_page(400, "bad_request")
        try:
            challenge = services.challenges.view(challengeId)
            if not pages.csrf_ok(http, CSRF_COOKIE, form.csrf_token):
                return challenge_page(challengeId, challenge, 403, "csrf")
            if form.outcome == COMPLETE:
                finished = services.challenges.complete(challengeId)
            else:
                finished = services.challenges.fail(challengeId)
        except (ChallengeUnknown, ChallengeFinished, ChallengeExpired, Busy) as error:
            return refused(error)
        count("ChallengePaid" if finished.status == COMPLETED else "ChallengeNotPaid")
        if finished.status == COMPLETED and finished.success_url:
            assert finished.transaction_id is not None
            location = with_query(
                finished.success_url,
                transaction_id=finished.transaction_id,
                merchant_txn_ref=finished.merchant_txn_ref,
            )
        elif finished.status != COMPLETED and finished.decline_url:
            location = with_query(finished.decline_url, merchant_txn_ref=finished.merchant_txn_ref)
        else:
            location = pages.absolute_url(http, RESULT_PATH.format(challengeId=challengeId))
        return Response(body="", status_code=303, headers={"Location": location, "Cache-Control": "no-store"})

    @RESULT_PAGE.route(bp)
    def result(challengeId: str) -> Response:
        try:
            challenge = services.challenges.result(challengeId)
        except (ChallengeUnknown, ChallengeExpired, Busy) as error:
            return refused(error)
        if challenge.status == PENDING:
            return message_page(409, "pending", challenge)
        return message_page(200, challenge.status, challenge)

    return bp
