"""The card gateway's bodies (purchase v1 and the transaction status), in the document's names and shapes."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta, Struct, field

from chalicelib.ledger.changes import MAX_AMOUNT

Url = Annotated[str, Meta(max_length=255, pattern=r"^https?://[^\s]+$", description="An http(s) URL.")]
Text = Annotated[str, Meta(max_length=255)]
Amount = Annotated[
    int | Annotated[str, Meta(pattern=r"^[0-9]{1,13}$")],
    Meta(
        description=f"Minor units of `currency` (JPY has none: yen), 1 to {MAX_AMOUNT}, as a JSON integer or a string"
        ' of digits (`1000` or `"1000"`).',
        examples=["1000"],
    ),
]


class CardBody(Struct):
    number: Annotated[str, Meta(pattern=r"^[0-9]{12,19}$", description="The card number, digits only.")]
    expiry_month: Annotated[str, Meta(pattern=r"^[0-9]{2}$", description="`01` to `12`.")]
    expiry_year: Annotated[str, Meta(pattern=r"^[0-9]{2}$", description="Two digits: `30` for 2030.")]
    cvc: Annotated[str, Meta(pattern=r"^[0-9]{3,4}$", description="3 digits (4 for Amex). Never stored or echoed.")]
    name: Annotated[str, Meta(min_length=1, max_length=255, description="The card holder's name.")]


class ReturnUrl(Struct):
    webhook_url: Url | None = None
    success_url: Url | None = None
    decline_url: Url | None = None


class Address(Struct):
    country: Annotated[str, Meta(pattern=r"^[A-Z]{2}$")] | None = None
    email: Annotated[str, Meta(max_length=45)] | None = None
    phone_number: Annotated[str, Meta(max_length=20)] | None = None
    address1: Annotated[str, Meta(max_length=199)] | None = None
    address2: Annotated[str, Meta(max_length=199)] | None = None
    city: Annotated[str, Meta(max_length=65)] | None = None
    state: Annotated[str, Meta(max_length=65)] | None = None
    postal_code: Annotated[str, Meta(max_length=45)] | None = None


CardToken = Annotated[
    str, Meta(min_length=1, max_length=128, description="A token of `POST /api/v1/tokens`, in place of `card`.")
]


class PaymentMethod(Struct):
    type: Annotated[str, Meta(pattern="^scheme$", description="`scheme`: a card.")]
    store_payment_method: Annotated[
        bool, Meta(description="With `card` (or `card_token`): keep the card for later payments.")
    ] = False
    store_payment_method_id: (
        Annotated[str, Meta(min_length=1, max_length=128, description="A stored card to pay with, in place of `card`.")]
        | None
    ) = None


class PaymentRequest(Struct):
    amount: Amount
    currency: Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217; `JPY` (the ledger keeps yen).")]
    merchant_txn_ref: Annotated[
        str, Meta(min_length=1, max_length=45, description="The merchant's own reference: unique per merchant.")
    ]
    card: Annotated[CardBody, Meta(description="The card; or `card_token` in its place.")] | None = None
    card_token: CardToken | None = None
    payment_method: PaymentMethod | None = None
    customer_ip: Annotated[str, Meta(max_length=45)] | None = None
    merchant_id: Annotated[str, Meta(max_length=128, description="If given, the authenticated merchant's.")] | None = (
        None
    )
    return_url: ReturnUrl | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    browser_info: dict[str, Any] | None = None
    time_zone: Annotated[str, Meta(max_length=128)] | None = None


TransactionId = Annotated[str, Meta(min_length=1, max_length=64, description="The payment's `transaction_details.id`.")]
Notes = Annotated[str, Meta(max_length=255, description="Free text, kept with the request only.")]
MerchantId = Annotated[str, Meta(max_length=128, description="If given, the authenticated merchant's.")]


class CaptureRequest(Struct):
    """A capture (of an authorisation) or a refund (of a captured payment)."""

    transactionId: TransactionId  # the document's name
    amount: Amount | None = None  # none: all of it (what is left, for a refund)
    merchant_id: MerchantId | None = None
    notes: Notes | None = None


class VoidRequest(Struct):
    transactionId: TransactionId  # the document's name
    merchant_id: MerchantId | None = None
    notes: Notes | None = None


class CardTokenRequest(Struct):
    card: CardBody


class TokenCard(Struct, forbid_unknown_fields=True):
    number: Annotated[str, Meta(description="Masked: the first 6 and last 4 digits.")]
    brand: Annotated[str, Meta(description="`VISA`, `MASTERCARD`, `JCB`, `AMEX`, `DINERS`, `DISCOVER`.")]
    expiry_month: str
    expiry_year: str


class CardTokenResponse(Struct, forbid_unknown_fields=True):
    token: Annotated[str, Meta(description="Pays once, as `card_token`, for this merchant only.")]
    card: TokenCard
    expires_at: Annotated[int, Meta(description="Unix seconds; 30 minutes after it was made (configurable).")]


class TransactionPath(Struct):
    transactionId: Annotated[str, Meta(min_length=1, max_length=64, description="A transaction's `id`.")]


class GatewayResponse(Struct, forbid_unknown_fields=True):
    version: str
    type: Annotated[str, Meta(description="`INFO` on success, `ERROR` otherwise.")]
    message: str
    code: Annotated[str, Meta(description="`INFO0000` on success; the error's code otherwise.")]


class CardShown(Struct, forbid_unknown_fields=True):
    name: str
    number: Annotated[str, Meta(pattern=r"^[0-9]{6}\*+[0-9]{4}$", description="Masked: the first 6 and last 4 digits.")]
    exp_month: str
    exp_year: str


class PaymentDetails(Struct, forbid_unknown_fields=True):
    amount: int
    response_code: Annotated[int, Meta(description="0: approved.")]
    auth_code: str
    currency: str
    payment_method: str
    scheme: str
    card: CardShown
    additional_data: dict[str, Any]
    responseDescription: str | None = None  # the document's name (transaction status)


class TransactionDetails(Struct, forbid_unknown_fields=True):
    id: str
    ref: int
    timestamp: Annotated[str, Meta(extra_json_schema={"format": "date-time"})]
    merchant_txn_ref: str
    stored_payment_method_id: str | None


class RiskDetails(Struct, forbid_unknown_fields=True):
    risk_score: int | None


class PaymentResponse(Struct, forbid_unknown_fields=True):
    """A transaction, as purchase (201) and the status (200) answer it."""

    success: bool
    status_code: int
    is_live: Annotated[bool, Meta(description="Always false: no real card network is reached.")]
    transaction_type: Annotated[str, Meta(description="`CAPTURE` for a purchase.")]
    gateway_response: GatewayResponse
    merchant_details: dict[str, Any]
    payment_details: PaymentDetails
    transaction_details: TransactionDetails
    risk_details: RiskDetails = field(name="risk-details")


class ThreeDSRedirect(Struct, forbid_unknown_fields=True):
    """Purchase v2's answer for a card that asks for 3-D Secure: nothing is paid until the challenge completes."""

    url: Annotated[str, Meta(description="The challenge page (the same as `redirect_url`).")]
    redirect_url: Annotated[
        str, Meta(description="Where to send the shopper's browser: the 3-D Secure challenge page, live 15 minutes.")
    ]
    statusCode: Annotated[int, Meta(description="200.")]  # the document's name
    success: bool


class DeclineDetails(Struct, forbid_unknown_fields=True):
    response_code: Annotated[int, Meta(description="The acquirer's code: 5, 13, 51, 54, 580, 586...")]
    responseDescription: str  # the document's name


class FieldError(Struct, forbid_unknown_fields=True):
    field: Annotated[str, Meta(description="The member, as a path: `card.number`, `amount`...")]
    message: str


class GatewayError(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Every refusal of the card gateway: a decline, a validation error, bad credentials, an unknown id."""

    success: bool
    status_code: int
    is_live: bool
    gateway_response: GatewayResponse
    payment_details: DeclineDetails | None = None
    errors: list[FieldError] | None = None


class WebhookAttempt(Struct, forbid_unknown_fields=True):
    event_id: Annotated[str, Meta(description="The `webhook-id` header: the same on every attempt of an event.")]
    event_type: Annotated[
        str,
        Meta(description="`transaction.capture`, `transaction.pre_auth`, `transaction.refund` or `transaction.void`."),
    ]
    attempted_at: Annotated[str, Meta(description="When the attempt was made (UTC).")]
    status_code: Annotated[
        int | None, Meta(description="The merchant's HTTP status; null: no answer (timeout, refused address...).")
    ]
    next_attempt_at: Annotated[
        str | None, Meta(description="When the next attempt is due; null: delivered (2xx), or the last attempt.")
    ]


class WebhookAttempts(Struct, forbid_unknown_fields=True):
    attempts: Annotated[list[WebhookAttempt], Meta(description="Oldest first; empty before the first attempt.")]
