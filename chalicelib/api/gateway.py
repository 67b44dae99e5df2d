"""The card gateway, server to server: `POST /api/v1/server-to-server-interface/payment` (purchase v1:
authorise and capture at once), `POST .../paymentv2` (the same, or a 3-D Secure challenge first: see
`cards/challenges.py` and `api/challenge_page.py`), and `GET .../transaction/status/{transactionId}`.

The README's "Card gateway" section is the reference. Merchants authenticate with `Authorization: Basic
<api key>` (the key as written, or HTTP Basic's base64 of `<api key>:`) and `x-api-key: <api key>`, both
required and the same key. Every refusal has one shape (`GatewayError`): `success: false`, the HTTP status
in `status_code`, `gateway_response.type: ERROR` with a code, and for a card the acquirer's
`payment_details.response_code`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from chalice import Blueprint, Response

from chalicelib.api import pages
from chalicelib.api.contract import Answer, ApiError, Operation
from chalicelib.api.http import MAX_BODY_BYTES, MalformedRequest, bearer_credential, is_text, json_response
from chalicelib.api.models.gateway import (
    CaptureRequest,
    CardBody,
    CardTokenRequest,
    CardTokenResponse,
    DeclineDetails,
    FieldError,
    GatewayError,
    GatewayResponse,
    PaymentRequest,
    PaymentResponse,
    ReturnUrl,
    ThreeDSRedirect,
    TokenCard,
    TransactionPath,
    VoidRequest,
    WebhookAttempt,
    WebhookAttempts,
)
from chalicelib.cards.errors import (
    ALREADY_CAPTURED,
    ALREADY_VOIDED,
    AUTHORISATION_EXPIRED,
    CHECK_DIGIT_FAILED,
    DESCRIPTIONS,
    DO_NOT_HONOUR,
    EXPIRED_CARD,
    INSUFFICIENT_FUNDS,
    INVALID_AMOUNT,
    NOT_AN_AUTHORISATION,
    NOT_CAPTURED,
    REFUND_EXCEEDS_CAPTURE,
    WRONG_CVC,
    CardDeclined,
    CardInvalid,
    DuplicateReference,
    PaymentConflict,
    TransactionNotFound,
    UnknownMerchant,
)
from chalicelib.cards.idempotency import (
    MAX_KEY_LENGTH,
    Claimed,
    IdempotencyInFlight,
    IdempotencyMismatch,
    Replay,
    request_hash,
)
from chalicelib.cards.merchants import PUBLISHABLE, MerchantIdentity
from chalicelib.cards.network import THREE_D_SECURE_CARD, VISA_APPROVED
from chalicelib.cards.payments import CardDetails, Purchase
from chalicelib.cards.tokens import StoredCardUnknown, TokenRefused
from chalicelib.cards.webhook_delivery import check_url
from chalicelib.ledger.changes import MAX_AMOUNT
from chalicelib.ledger.errors import Busy, HoldExpired
from chalicelib.observability import count, logger
from chalicelib.services import Services

T = TypeVar("T")
PREFIX = "/api/v1/server-to-server-interface"
TAG = "CardGateway"

MALFORMED = ApiError(400, "ERR0400", description="the body is not JSON (or over 64 KiB, or not UTF-8)")
UNAUTHORIZED = ApiError(
    401,
    "ERR0401",
    description="`Authorization: Basic <api key>` and `x-api-key: <api key>` missing, different, or not a"
    " merchant's key",
)
DECLINES = {
    code: ApiError(402, f"ERR{code:04d}", description=f"declined: {DESCRIPTIONS[code].lower()}")
    for code in (DO_NOT_HONOUR, INSUFFICIENT_FUNDS, EXPIRED_CARD, WRONG_CVC)
}
NOT_FOUND = ApiError(404, "ERR0404", description="no transaction with this id among the merchant's")
DUPLICATE = ApiError(409, "ERR0409", description="the merchant already made a payment with this `merchant_txn_ref`")
CONFLICTS = {
    ALREADY_CAPTURED: ApiError(409, "ERR1001", description="the authorisation was already captured"),
    ALREADY_VOIDED: ApiError(409, "ERR1002", description="the authorisation was already voided"),
    REFUND_EXCEEDS_CAPTURE: ApiError(409, "ERR1003", description="refunds would exceed the capture"),
    AUTHORISATION_EXPIRED: ApiError(409, "ERR1004", description="the authorisation has expired (7 days)"),
    NOT_AN_AUTHORISATION: ApiError(409, "ERR1005", description="the transaction is not an authorisation"),
    NOT_CAPTURED: ApiError(409, "ERR1006", description="the transaction is not a captured payment"),
}
TOKEN_UNUSABLE = ApiError(
    422, "ERR0432", description="`card_token` unknown, already used, expired, or another merchant's"
)
STORED_CARD_UNKNOWN = ApiError(422, "ERR0433", description="no stored payment method with this id among the merchant's")
PUBLISHABLE_KEY_REFUSED = ApiError(
    401, "ERR0401", description="`Authorization: Bearer <publishable key>` missing or not a merchant's publishable key"
)
KEY_REUSED = ApiError(422, "ERR2001", description="the `Idempotency-Key` was used with another request")
KEY_IN_FLIGHT = ApiError(409, "ERR2002", description="the first request with this `Idempotency-Key` is still running")
INVALID = ApiError(422, "ERR0422", description="a member missing, mistyped or out of its bounds (see `errors`)")
CARD_CHECKS = {
    CHECK_DIGIT_FAILED: ApiError(422, "ERR0586", description="the card number fails its check digit (MOD 10)"),
    EXPIRED_CARD: ApiError(422, "ERR0054", description="the card's expiry has passed"),
    INVALID_AMOUNT: ApiError(422, "ERR0013", description="the amount is 0 or over 10^12"),
}
METHOD_NOT_ALLOWED = ApiError(
    405,
    "ERR0405",
    component="GatewayMethodNotAllowed",
    description="The path exists but not with this method; `Allow` lists the methods it has.",
    headers=("Allow",),
)
SERVER_ERROR = ApiError(
    500, "ERR0500", component="GatewayServerError", description="An unexpected error (logged with the request id)."
)
BUSY = ApiError(
    503,
    "ERR0503",
    component="GatewayBusy",
    description="DynamoDB kept conflicting or throttling after the retries; nothing was written. Retry after"
    " `Retry-After` seconds.",
    headers=("Retry-After",),
)
FRAMEWORK_ERRORS = {405: METHOD_NOT_ALLOWED, 415: INVALID, 500: SERVER_ERROR}
COMMON_ERRORS = (METHOD_NOT_ALLOWED, SERVER_ERROR, BUSY)
_PATH = re.compile(r"at `\$\.?([^`]*)`")


def error_response(
    error: ApiError, message: str, response_code: int | None = None, errors: list[FieldError] | None = None
) -> Response:
    body = GatewayError(
        success=False,
        status_code=error.status,
        is_live=False,
        gateway_response=GatewayResponse(version="1", type="ERROR", message=message, code=error.message),
        payment_details=DeclineDetails(response_code, DESCRIPTIONS[response_code]) if response_code else None,
        errors=errors,
    )
    headers = {"Retry-After": "1"} if error.status == 503 else None
    return json_response(error.status, body, headers)


def framework_error(status: int) -> Response:
    error = FRAMEWORK_ERRORS.get(status, MALFORMED)
    return error_response(error, error.description)


class Invalid(Exception):
    """A body that is JSON but not a valid request: the field and what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def answer(status: int, handler: Callable[[], Any]) -> Callable[[], Response]:
    """Run a route body; map the refusals it raises to the gateway's errors."""

    @functools.wraps(handler)
    def route(*args: Any, **kwargs: Any) -> Response:
        try:
            result = handler(*args, **kwargs)
            return result if isinstance(result, Response) else json_response(status, result)
        except MalformedRequest:
            return error_response(MALFORMED, "Malformed request body.")
        except UnknownMerchant:
            return error_response(UNAUTHORIZED, "Unauthorized.")
        except Invalid as invalid:
            return error_response(INVALID, "Invalid request.", errors=[FieldError(invalid.field, str(invalid))])
        except CardInvalid as invalid:
            error = CARD_CHECKS.get(invalid.response_code, INVALID)
            errors = [FieldError(invalid.field, str(invalid))]
            return error_response(
                error, "Invalid card." if invalid.response_code else "Invalid request.", invalid.response_code, errors
            )
        except CardDeclined as declined:
            count("Declines")
            error = DECLINES[declined.response_code]
            return error_response(error, f"Payment declined: {str(declined).lower()}.", declined.response_code)
        except DuplicateReference:
            return error_response(DUPLICATE, "Duplicate merchant_txn_ref.")
        except PaymentConflict as conflict:
            return error_response(CONFLICTS[conflict.reason], str(conflict).capitalize() + ".")
        except HoldExpired:  # the hold ended between our reads
            return error_response(CONFLICTS[AUTHORISATION_EXPIRED], "The authorisation has expired.")
        except TransactionNotFound:
            return error_response(NOT_FOUND, "Transaction not found.")
        except StoredCardUnknown:
            errors = [FieldError("payment_method.store_payment_method_id", "no such stored card of the merchant's")]
            return error_response(STORED_CARD_UNKNOWN, "Unknown stored payment method.", errors=errors)
        except TokenRefused:
            errors = [FieldError("card_token", "unknown, already used, expired, or another merchant's")]
            return error_response(TOKEN_UNUSABLE, "Invalid card token.", errors=errors)
        except Busy:
            return error_response(BUSY, "Busy: retry.")

    return route


IDEMPOTENT = (
    "\n\n`Idempotency-Key: <key>` (1 to 255 characters, the merchant's own) makes a retry safe: the same key and"
    " request within 24 hours answers the first answer again, declines included (with `Idempotent-Replayed:"
    " true`); the same key with another request is 422 `ERR2001`; while the first still runs, 409 `ERR2002`."
)
PAYMENT = Operation(
    "POST",
    f"{PREFIX}/payment",
    "purchase",
    TAG,
    summary="Purchase v1: authorise and capture at once",
    description="Charges the card and pays the merchant at once, in one DynamoDB transaction on the ledger: a card"
    " this bank issued draws on its card account's credit line (over it: declined, 51); another bank's card is"
    " answered by the network's test numbers (see the README's table) and funded by the network's clearing"
    " accounts. The answer shows the card masked (first 6 and last 4 digits), never the CVC, which is not stored"
    " either. `merchant_txn_ref` is unique per merchant (409 for a repeat)." + IDEMPOTENT,
    request=PaymentRequest,
    request_examples={
        "visa": (
            "A test Visa",
            {
                "amount": "1000",
                "currency": "JPY",
                "card": {
                    "number": VISA_APPROVED,
                    "expiry_month": "12",
                    "expiry_year": "30",
                    "cvc": "123",
                    "name": "John Doe",
                },
                "merchant_txn_ref": "order-1001",
            },
        )
    },
    security=("basicAuth", "apiKey"),
    ok="Paid: the transaction, `transaction_type: CAPTURE`.",
    ok_status=201,
    ok_body=PaymentResponse,
    error_body=GatewayError,
    errors=(
        KEY_REUSED,
        KEY_IN_FLIGHT,
        MALFORMED,
        UNAUTHORIZED,
        TOKEN_UNUSABLE,
        STORED_CARD_UNKNOWN,
        *DECLINES.values(),
        DUPLICATE,
        INVALID,
        *CARD_CHECKS.values(),
        *COMMON_ERRORS,
    ),
)
PAYMENT_ERRORS = PAYMENT.errors
PAYMENT_V2 = Operation(
    "POST",
    f"{PREFIX}/paymentv2",
    "purchaseV2",
    TAG,
    summary="Purchase v2: a purchase, or first a 3-D Secure challenge",
    description="Purchase v1's request, checks and answer (201, `transaction_type: CAPTURE`), but for a card that"
    " asks for 3-D Secure (the network's 3-D Secure test card of the README's table, as `card`, `card_token` or"
    " stored card; never a card of this bank): then nothing is paid yet and the answer is 200 `{url,"
    " redirect_url, statusCode: 200, success: true}`. Send the shopper's browser to `redirect_url` (`url` names"
    " the same page), the"
    " challenge page of this bank, live 15 minutes: completing it pays (once), and the browser goes on with a 303"
    " to `return_url.success_url` with `transaction_id` and `merchant_txn_ref` added to its query; failing it"
    " pays nothing and goes to `return_url.decline_url` with `merchant_txn_ref` (without them: a result page of"
    " this bank). A `card_token` is spent by the challenge's start." + IDEMPOTENT,
    request=PaymentRequest,
    request_examples={
        "threeDSecure": (
            "The test card that asks for 3-D Secure",
            {
                "amount": "1000",
                "currency": "JPY",
                "card": {
                    "number": THREE_D_SECURE_CARD,
                    "expiry_month": "12",
                    "expiry_year": "30",
                    "cvc": "123",
                    "name": "John Doe",
                },
                "merchant_txn_ref": "order-1002",
                "return_url": {
                    "success_url": "https://shop.example/paid",
                    "decline_url": "https://shop.example/declined",
                },
            },
        )
    },
    security=("basicAuth", "apiKey"),
    ok="Paid at once (a card that asks for no challenge): the transaction, `transaction_type: CAPTURE`.",
    ok_status=201,
    ok_body=PaymentResponse,
    other_ok=(
        Answer(
            200,
            "A 3-D Secure challenge: nothing paid yet; send the shopper's browser to `redirect_url`.",
            ThreeDSRedirect,
        ),
    ),
    error_body=GatewayError,
    errors=PAYMENT_ERRORS,
)
AUTHORIZATION = Operation(
    "POST",
    f"{PREFIX}/authorization",
    "authorise",
    TAG,
    summary="Authorise: hold the amount, to capture or void within 7 days",
    description="The purchase's request and checks, without the capture: on a card of this bank, the amount is held"
    " on its card account (a hold of the ledger, live 7 days: the card's available credit falls at once); nothing"
    " is paid yet. Answers `transaction_type: PRE_AUTH`." + IDEMPOTENT,
    request=PaymentRequest,
    security=("basicAuth", "apiKey"),
    ok="Authorised: the transaction, `transaction_type: PRE_AUTH`.",
    ok_status=201,
    ok_body=PaymentResponse,
    error_body=GatewayError,
    errors=PAYMENT_ERRORS,
)
OPERATION_ERRORS = (MALFORMED, UNAUTHORIZED, NOT_FOUND, INVALID, *COMMON_ERRORS)
# What capture and void answer when the authorisation is no longer there to end.
ENDED_AUTHORISATION = tuple(
    CONFLICTS[reason] for reason in (ALREADY_CAPTURED, ALREADY_VOIDED, AUTHORISATION_EXPIRED, NOT_AN_AUTHORISATION)
)
AMOUNT_ERRORS = (*OPERATION_ERRORS, CARD_CHECKS[INVALID_AMOUNT])  # capture and refund take an amount
CAPTURE = Operation(
    "POST",
    f"{PREFIX}/capture",
    "capture",
    TAG,
    summary="Capture an authorisation",
    description="Once, for at most the authorised amount (none: all of it); a smaller capture releases the rest."
    " The card pays and the merchant is paid in one transaction. Answers its own transaction,"
    " `transaction_type: CAPTURE`. A second capture, or one after a void, is 409 (the loser of a race too)."
    + IDEMPOTENT,
    request=CaptureRequest,
    security=("basicAuth", "apiKey"),
    ok="Captured.",
    ok_status=201,
    ok_body=PaymentResponse,
    error_body=GatewayError,
    errors=(
        KEY_REUSED,
        KEY_IN_FLIGHT,
        *AMOUNT_ERRORS,
        *ENDED_AUTHORISATION,
    ),
)
REFUND = Operation(
    "POST",
    f"{PREFIX}/refund",
    "refund",
    TAG,
    summary="Refund a captured payment, partly or fully",
    description="Pays back `amount` (none: what is left) of a purchase or a captured authorisation: the merchant's"
    " account pays, the card's account (or the network's) is paid. Refunds never add up to more than the capture:"
    " one that would is 409, however many race. Answers its own transaction, `transaction_type: REFUND`." + IDEMPOTENT,
    request=CaptureRequest,
    security=("basicAuth", "apiKey"),
    ok="Refunded.",
    ok_status=201,
    ok_body=PaymentResponse,
    error_body=GatewayError,
    errors=(KEY_REUSED, KEY_IN_FLIGHT, *AMOUNT_ERRORS, CONFLICTS[REFUND_EXCEEDS_CAPTURE], CONFLICTS[NOT_CAPTURED]),
)
VOID = Operation(
    "POST",
    f"{PREFIX}/void",
    "void",
    TAG,
    summary="Void an uncaptured authorisation",
    description="Its held funds are available again. Answers its own transaction, `transaction_type: VOID`. A void"
    " after a capture, or a second void, is 409." + IDEMPOTENT,
    request=VoidRequest,
    security=("basicAuth", "apiKey"),
    ok="Voided.",
    ok_status=201,
    ok_body=PaymentResponse,
    error_body=GatewayError,
    errors=(
        KEY_REUSED,
        KEY_IN_FLIGHT,
        *OPERATION_ERRORS,
        *ENDED_AUTHORISATION,
    ),
)
TOKENS = Operation(
    "POST",
    "/api/v1/tokens",
    "createCardToken",
    TAG,
    summary="Turn a card into a one-time token (from a browser)",
    description="What a merchant's web page calls, with the merchant's publishable key (`Authorization: Bearer"
    " <publishable key>`, never the secret key), so that the card number reaches the merchant's server only as a"
    " token: a payment names it as `card_token` in place of `card`. The card is checked as a payment checks it (a"
    " card of this bank: its expiry and CVC too); the token pays once, for this merchant, within 30 minutes. CORS:"
    " any origin. The number is kept encrypted until then, the CVC not at all.",
    request=CardTokenRequest,
    security="publishableKey",
    cors=True,
    ok="The token, and the card as it may be shown.",
    ok_status=201,
    ok_body=CardTokenResponse,
    error_body=GatewayError,
    errors=(
        MALFORMED,
        PUBLISHABLE_KEY_REFUSED,
        DECLINES[EXPIRED_CARD],
        DECLINES[WRONG_CVC],
        INVALID,
        CARD_CHECKS[CHECK_DIGIT_FAILED],
        CARD_CHECKS[EXPIRED_CARD],
        *COMMON_ERRORS,
    ),
)
STATUS = Operation(
    "GET",
    f"{PREFIX}/transaction/status/{{transactionId}}",
    "transactionStatus",
    TAG,
    summary="A transaction, as it stands",
    description="Any transaction id the gateway answered, of the calling merchant only (another's is 404). Shaped"
    " as the purchase's answer, with `status_code: 200` and `payment_details.responseDescription`.",
    path_params=TransactionPath,
    security=("basicAuth", "apiKey"),
    ok="The transaction.",
    ok_body=PaymentResponse,
    error_body=GatewayError,
    errors=(UNAUTHORIZED, NOT_FOUND, *COMMON_ERRORS),
)
WEBHOOKS = Operation(
    "GET",
    f"{PREFIX}/transaction/{{transactionId}}/webhooks",
    "transactionWebhooks",
    TAG,
    summary="The webhook deliveries of a transaction",
    description="Each attempt to deliver the transaction's event to its webhook URL (the payment's"
    " `return_url.webhook_url`, else the merchant's), oldest first: when, the HTTP status the merchant answered,"
    " and when the next attempt is due. A transaction without a webhook URL has none. Of the calling merchant's"
    " transactions only (another's is 404).",
    path_params=TransactionPath,
    security=("basicAuth", "apiKey"),
    ok="The attempts.",
    ok_body=WebhookAttempts,
    error_body=GatewayError,
    errors=(UNAUTHORIZED, NOT_FOUND, *COMMON_ERRORS),
)
OPERATIONS = (PAYMENT, PAYMENT_V2, AUTHORIZATION, CAPTURE, REFUND, VOID, STATUS, WEBHOOKS, TOKENS)


def merchant_key(request: Any) -> str:
    """The API key both headers carry; UnknownMerchant unless they carry the same one."""
    parts = (request.headers.get("authorization") or "").split()
    api_key = request.headers.get("x-api-key") or ""
    if len(parts) != 2 or parts[0].lower() != "basic" or not api_key or not is_text(parts[1] + api_key):
        raise UnknownMerchant()
    written = parts[1]
    try:
        decoded = base64.b64decode(written, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if api_key not in (written, decoded.removesuffix(":")):
        raise UnknownMerchant()
    return api_key


def _amount(amount: int | str) -> int:
    value = int(amount)
    if not 0 < value <= MAX_AMOUNT:
        raise CardInvalid("amount", f"the amount is 1 to {MAX_AMOUNT} (minor units)", INVALID_AMOUNT)
    return value


def _card(card: CardBody) -> CardDetails:
    return CardDetails(card.number, card.expiry_month, card.expiry_year, card.cvc, card.name)


def _purchase(body: PaymentRequest) -> Purchase:
    method = body.payment_method
    stored_id = method.store_payment_method_id if method is not None else None
    if [body.card, body.card_token, stored_id].count(None) != 2:
        raise Invalid("card", "a card, a card_token or a payment_method.store_payment_method_id, one of them")
    store = method is not None and method.store_payment_method
    if store and stored_id is not None:
        raise Invalid("payment_method.store_payment_method", "a stored card is stored already")
    amount = int(body.amount)
    webhook_url = body.return_url.webhook_url if body.return_url is not None else None
    if webhook_url is not None:
        try:
            check_url(webhook_url)
        except ValueError as error:
            raise Invalid("return_url.webhook_url", str(error)) from None
    echo: dict[str, Any] = {}
    if body.billing_address is not None:
        echo["billing_details"] = {"billing_address": msgspec.to_builtins(body.billing_address)}
    if body.customer_ip is not None:
        echo["device_details"] = {"customer_ip": body.customer_ip}
    return Purchase(
        amount=amount,
        currency=body.currency,
        card=None if body.card is None else _card(body.card),
        merchant_txn_ref=body.merchant_txn_ref,
        echo=echo,
        card_token=body.card_token,
        stored_method_id=stored_id,
        store=store,
        webhook_url=webhook_url,
    )


def _decode(raw: bytes, model: type[T]) -> T:
    if len(raw) > MAX_BODY_BYTES:
        raise MalformedRequest()
    try:
        document = msgspec.json.decode(raw.decode("utf-8"))
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise MalformedRequest() from None
    try:
        return msgspec.convert(document, model)
    except msgspec.ValidationError as error:
        where = _PATH.search(str(error))
        raise Invalid(where.group(1) if where else "", str(error).split(" - at ")[0]) from None


def blueprint(services: Services) -> Blueprint:
    bp = Blueprint(__name__)

    # The merchant of each request in flight, authenticated once though both the idempotency check and
    # the route ask.
    callers: weakref.WeakKeyDictionary[Any, MerchantIdentity] = weakref.WeakKeyDictionary()
    # The claim of a keyed request: the id of the transaction it makes, the same for each of its retries.
    claims: weakref.WeakKeyDictionary[Any, Claimed] = weakref.WeakKeyDictionary()

    def keyed() -> Claimed | None:
        return claims.get(bp.current_request)

    def merchant() -> MerchantIdentity:
        request = bp.current_request
        if request not in callers:
            callers[request] = services.merchants.authenticate(merchant_key(request))
            logger.thread_safe_append_keys(merchant_id=callers[request].merchant_id)
        return callers[request]

    def idempotent(route: Callable[[], Response]) -> Callable[[], Response]:
        """With an Idempotency-Key, answer a retry with the first answer (see cards/idempotency.py)."""

        @functools.wraps(route)
        def replayable() -> Response:
            request = bp.current_request
            key = request.headers.get("idempotency-key")
            if key is None:
                return route()
            if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable() or not is_text(key):
                errors = [FieldError("Idempotency-Key", f"1 to {MAX_KEY_LENGTH} printable characters")]
                return error_response(INVALID, "Invalid request.", errors=errors)
            try:
                caller = merchant()
            except UnknownMerchant:
                return error_response(UNAUTHORIZED, "Unauthorized.")
            fingerprint = request_hash(request.method, request.context.get("resourcePath", ""), request.raw_body or b"")
            try:
                claim = services.idempotency.begin(caller.merchant_id, key, fingerprint)
            except IdempotencyMismatch:
                return error_response(KEY_REUSED, "Idempotency-Key already used with another request.")
            except IdempotencyInFlight:
                return error_response(KEY_IN_FLIGHT, "A request with this Idempotency-Key is in progress.")
            if isinstance(claim, Replay):
                headers = {"Content-Type": "application/json", "Idempotent-Replayed": "true"}
                return Response(body=claim.body, status_code=claim.status, headers=headers)
            claims[request] = claim
            try:
                response = route()
            except Exception:
                services.idempotency.abandon(caller.merchant_id, key, fingerprint)
                raise
            if response.status_code >= 500:
                services.idempotency.abandon(caller.merchant_id, key, fingerprint)
            else:
                answer = Replay(response.status_code, response.body)
                services.idempotency.finish(caller.merchant_id, key, fingerprint, answer)
            return response

        return replayable

    def request(model: type[T]) -> tuple[MerchantIdentity, T]:
        """The calling merchant (checked first), and the body."""
        caller = merchant()
        body = _decode(bp.current_request.raw_body or b"", model)
        if body.merchant_id is not None and body.merchant_id != caller.merchant_id:
            raise Invalid("merchant_id", "not the merchant of these credentials")
        return caller, body

    def purchase(v2: bool) -> dict[str, Any] | Response:
        """Purchase v1, or v2: the same, unless the card asks for a 3-D Secure challenge first."""
        caller, body = request(PaymentRequest)
        purchase = _purchase(body)
        if v2:
            urls = body.return_url or ReturnUrl()
            challenge_id = services.challenges.begin(caller, purchase, urls.success_url, urls.decline_url)
            if challenge_id is not None:
                page = pages.absolute_url(bp.current_request, pages.CHALLENGE_PATH.format(challengeId=challenge_id))
                return json_response(200, ThreeDSRedirect(url=page, redirect_url=page, statusCode=200, success=True))
        result = services.payments.purchase(caller, purchase, keyed=keyed())
        count("Purchases")
        return result

    @PAYMENT.route(bp)
    @idempotent
    @functools.partial(answer, 201)
    def payment() -> dict[str, Any] | Response:
        return purchase(v2=False)

    @PAYMENT_V2.route(bp)
    @idempotent
    @functools.partial(answer, 201)
    def payment_v2() -> dict[str, Any] | Response:
        return purchase(v2=True)

    @AUTHORIZATION.route(bp)
    @idempotent
    @functools.partial(answer, 201)
    def authorization() -> dict[str, Any]:
        caller, body = request(PaymentRequest)
        result = services.payments.authorise(caller, _purchase(body), keyed())
        count("Authorisations")
        return result

    def with_amount(operation: Callable[..., dict[str, Any]], metric: str) -> dict[str, Any]:
        """A capture or a refund: an operation on a payment, for an amount (none: all of it)."""
        caller, body = request(CaptureRequest)
        amount = None if body.amount is None else _amount(body.amount)
        result = operation(caller, body.transactionId, amount, keyed())
        count(metric)
        return result

    @CAPTURE.route(bp)
    @idempotent
    @functools.partial(answer, 201)
    def capture() -> dict[str, Any]:
        return with_amount(services.payments.capture, "Captures")

    @REFUND.route(bp)
    @idempotent
    @functools.partial(answer, 201)
    def refund() -> dict[str, Any]:
        return with_amount(services.payments.refund, "Refunds")

    @VOID.route(bp)
    @idempotent
    @functools.partial(answer, 201)
    def void() -> dict[str, Any]:
        caller, body = request(VoidRequest)
        result = services.payments.void(caller, body.transactionId, keyed())
        count("Voids")
        return result

    @TOKENS.route(bp)
    @functools.partial(answer, 201)
    def tokens() -> CardTokenResponse:
        key = bearer_credential(bp.current_request, ("bearer",))
        caller = services.merchants.authenticate(key or "", kind=PUBLISHABLE)
        logger.thread_safe_append_keys(merchant_id=caller.merchant_id)
        body = _decode(bp.current_request.raw_body or b"", CardTokenRequest)
        issued = services.payments.tokenise(caller, _card(body.card))
        count("CardTokens")
        return CardTokenResponse(
            token=issued.token,
            card=TokenCard(issued.masked_number, issued.brand, issued.expiry_month, issued.expiry_year),
            expires_at=int(issued.expires_at.timestamp()),
        )

    def transaction_id(value: str) -> str:
        if len(value) > 64 or not is_text(value):
            raise TransactionNotFound()  # no id the gateway makes is like this
        return value

    @STATUS.route(bp)
    @functools.partial(answer, 200)
    def status(transactionId: str) -> dict[str, Any]:  # the document's name
        caller = merchant()
        return services.payments.status(caller, transaction_id(transactionId))

    @WEBHOOKS.route(bp)
    @functools.partial(answer, 200)
    def webhooks(transactionId: str) -> WebhookAttempts:
        caller = merchant()
        attempts = services.webhooks.attempts(caller.merchant_id, transaction_id(transactionId))
        return WebhookAttempts([WebhookAttempt(**attempt) for attempt in attempts])

    return bp
