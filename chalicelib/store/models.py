"""The DynamoDB items of the bank, one model per table.

Table names are bare here; `tables.configure` prefixes them per stage.
"""

from __future__ import annotations

from collections.abc import Mapping

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection, TableConnection
from pynamodb.constants import MAP, NUMBER
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

_shared: dict[str, Connection] = {}
# Threads of the local server and of the tests share the client; Lambda uses one connection at a time.
MAX_POOL_CONNECTIONS = 64
# Well inside the Lambda timeout (10 s), so a stuck call ends in our own 503, not a killed invocation.
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5


def shared_connection(region: str) -> Connection:
    """One botocore client for every table: pynamodb would otherwise build one per model, and each
    costs tens of milliseconds on a cold start."""
    if region not in _shared:
        _shared[region] = Connection(
            region=region,
            max_pool_connections=MAX_POOL_CONNECTIONS,
            connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
            read_timeout_seconds=READ_TIMEOUT_SECONDS,
        )
    return _shared[region]


def reset_connections() -> None:
    """Forget every client, so the next call picks up a changed endpoint or region."""
    _shared.clear()
    for model in ALL_MODELS:
        model._connection = None


class _BankModel(Model):
    class Meta:
        abstract = True
        billing_mode = "PAY_PER_REQUEST"

    @classmethod
    def _get_connection(cls) -> TableConnection:
        connection = super()._get_connection()
        connection.connection._client = shared_connection(cls.Meta.region).client
        return connection


class AmountMap(Attribute[dict[str, int]]):
    """A DynamoDB map of integers, read and written as a plain dict.

    Stored as a raw MapAttribute stores such a dict ({"M": {key: {"N": "12"}}}), and `attr[key]` is the
    same document path; but a raw MapAttribute is rebuilt key by key, through its attribute machinery,
    whenever an item is read (a few microseconds a key), and an account's `held` has a key per second
    of live holds: up to ~300 on a busy account, read by every commit.
    """

    attr_type = MAP

    def serialize(self, value: Mapping[str, int]) -> dict[str, dict[str, str]]:
        return {key: {NUMBER: str(amount)} for key, amount in value.items()}

    def deserialize(self, value: Mapping[str, Mapping[str, str]]) -> dict[str, int]:
        return {key: int(amount[NUMBER]) for key, amount in value.items()}


class Customer(_BankModel):
    """A bank user; ISUBANK calls their id `bank_id`."""

    class Meta(_BankModel.Meta):
        table_name = "customers"

    customer_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    # The end user's login (the bank common API); an Argon2 hash, absent for a user without one.
    password_hash = UnicodeAttribute(null=True)


# Every account opened so far belongs to the head office unless told otherwise.
HEAD_OFFICE = "001"
# Kinds of account: an end user's ordinary account (ISUBANK's, by bank_id) and card accounts; the card
# gateway's merchant and card-network clearing accounts, which belong to no end user.
BANK, CARD, MERCHANT, CLEARING = "bank", "cc", "merchant", "clearing"


class AccountsByCustomer(GlobalSecondaryIndex["Account"]):
    """A customer's accounts, by account id. It projects only attributes that never change after opening,
    so the writes of reserves and commits (balance, held, ...) do not write the index too."""

    class Meta:
        index_name = "by_customer"
        projection = IncludeProjection(["account_number", "branch_code", "kind"])

    customer_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute(range_key=True)


class Account(_BankModel):
    """An account and its balances.

    Invariant, kept by every write: available == balance + credit_limit - sum(held.values()). The credit
    limit is a card account's line (its balance goes negative as it is spent) and the clearing accounts'
    room; an ordinary account has none.
    `held` maps an expiry second (epoch seconds, as a string) to the debit holds expiring in it, so the
    item stays small however many holds there are; a bucket whose second has passed no longer counts
    and is pruned by the next write that reads the account.
    """

    class Meta(_BankModel.Meta):
        table_name = "accounts"

    account_id = UnicodeAttribute(hash_key=True)
    # None for the gateway's own accounts: the by_customer index is sparse, so no end user lists them.
    customer_id = UnicodeAttribute(null=True)
    account_number = UnicodeAttribute()
    branch_code = UnicodeAttribute(default=HEAD_OFFICE)
    kind = UnicodeAttribute(default=BANK)
    credit_limit = NumberAttribute(default=0)
    balance = NumberAttribute(default=0)
    available = NumberAttribute(default=0)
    held = AmountMap(default=dict)
    # Every posting increments posting_seq; a posting write is conditional on the seq it read, which
    # makes each posting's balance_after exact.
    posting_seq = NumberAttribute(default=0)
    last_posted_ms = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    by_customer = AccountsByCustomer()


class Hold(_BankModel):
    """A reserve: funds held (debit) or announced (credit) until committed, cancelled or expired."""

    class Meta(_BankModel.Meta):
        table_name = "holds"

    reserve_id = NumberAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    amount = NumberAttribute()  # signed: > 0 credits the account, < 0 debits it
    status = UnicodeAttribute()  # pending | committed | cancelled
    app_key = UnicodeAttribute()
    description = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at_ms = NumberAttribute()  # exact expiry; a pending hold is live while now < this
    resolved_at = UTCDateTimeAttribute(null=True)
    # TTL deletion is lazy and only tidies up: set long after expiry so that a late commit is still
    # answered "expired" rather than "not found".
    purge_at = TTLAttribute()


# What a posting is, so the audit can prove that money is only created by a deposit: an operator's deposit (money
# enters the bank), a settled ISUBANK reserve (the other side is outside the bank), or one leg of a card movement
# (its other leg, on another account of this bank, is written in the same transaction).
DEPOSIT, EXTERNAL, CARD_LEG = "deposit", "external", "card"


class Posting(_BankModel):
    """A committed movement of money on one account, with the balance after it.

    Keyed by the account's posting sequence (1, 2, 3... with no gaps): posting times never go backwards
    on an account, so seq order is time order, and a page of a statement is a seq range.
    """

    class Meta(_BankModel.Meta):
        table_name = "postings"

    account_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    amount = NumberAttribute()
    balance_after = NumberAttribute()
    description = UnicodeAttribute()
    posted_at = UTCDateTimeAttribute()
    posted_ms = NumberAttribute()
    kind = UnicodeAttribute(null=True)  # DEPOSIT | EXTERNAL | CARD_LEG (None only on postings older than kinds)
    reserve_id = NumberAttribute(null=True)  # the hold it settles
    card_transaction_id = UnicodeAttribute(null=True)  # a card leg's CardTransaction (a purchase, capture, refund)


class DailyBalance(_BankModel):
    """An account's postings of one JST calendar day: the seq range and the balance after the last one.

    Written in the transaction of each posting, so date ranges map to seq ranges and daily balances need
    no read of postings.
    """

    class Meta(_BankModel.Meta):
        table_name = "daily_balances"

    account_id = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)  # "YYYY-MM-DD" in JST: sorts as dates
    closing = NumberAttribute()
    first_seq = NumberAttribute()
    last_seq = NumberAttribute()


class Branch(_BankModel):
    """A branch of the bank; accounts name theirs by branch_code."""

    class Meta(_BankModel.Meta):
        table_name = "branches"

    bank_code = UnicodeAttribute(hash_key=True)
    branch_code = UnicodeAttribute(range_key=True)  # 3 digits
    name = UnicodeAttribute()
    name_kana = UnicodeAttribute()
    address_code = UnicodeAttribute()  # 6 digits: a local government code with its check digit
    tel = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class App(_BankModel):
    """An app allowed to call ISUBANK. Only the SHA-256 of its app id is stored."""

    class Meta(_BankModel.Meta):
        table_name = "apps"

    key_hash = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    auto_registered = BooleanAttribute(default=False)


class ApiClient(_BankModel):
    """A fintech app registered for the bank common API. Its api_key is public (it travels in login
    URLs); its password is stored only as an Argon2 hash."""

    class Meta(_BankModel.Meta):
        table_name = "clients"

    api_key = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    redirect_uris = ListAttribute(of=UnicodeAttribute)  # compared by exact string match
    grants = UnicodeSetAttribute()
    password_login = BooleanAttribute(default=False)  # may use the REST login (`POST /auth/login`)
    created_at = UTCDateTimeAttribute()


class Token(_BankModel):
    """An issued token of the bank common API: system, auth, access or refresh. Only its SHA-256 is
    stored. A token is valid while now < expires_at_ms and it is neither spent nor revoked, whatever
    TTL has or has not deleted."""

    class Meta(_BankModel.Meta):
        table_name = "tokens"

    token_hash = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # system | auth | access | refresh
    api_key = UnicodeAttribute()
    customer_id = UnicodeAttribute(null=True)  # the end user (all but system tokens)
    grants = UnicodeSetAttribute()
    # Access and refresh tokens: the sign-in they descend from. An auth token: the family its exchange
    # started (so that a replayed auth token can revoke what it was exchanged for).
    family_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    expires_at_ms = NumberAttribute()
    spent_at = UTCDateTimeAttribute(null=True)  # an auth token exchanged, a refresh token rotated
    revoked_at = UTCDateTimeAttribute(null=True)
    purge_at = TTLAttribute()


class UserGrant(_BankModel):
    """What one end user has granted one client: the one live access and refresh token pair.

    Issuing a pair replaces the previous one and revokes it in the same transaction, so a token is
    checked with one read of its own item."""

    class Meta(_BankModel.Meta):
        table_name = "user_grants"

    api_key = UnicodeAttribute(hash_key=True)
    customer_id = UnicodeAttribute(range_key=True)
    family_id = UnicodeAttribute()
    access_hash = UnicodeAttribute()
    access_expires_at_ms = NumberAttribute()
    refresh_hash = UnicodeAttribute()
    refresh_expires_at_ms = NumberAttribute()
    updated_at = UTCDateTimeAttribute()
    purge_at = TTLAttribute()


class LoginThrottle(_BankModel):
    """Failed sign-ins of one login id (whether or not such a user exists), and its lock."""

    class Meta(_BankModel.Meta):
        table_name = "login_throttles"

    login_id = UnicodeAttribute(hash_key=True)
    failures = NumberAttribute(default=0)
    last_failure_ms = NumberAttribute(default=0)
    locked_until_ms = NumberAttribute(default=0)
    purge_at = TTLAttribute()


class Card(_BankModel):
    """A card this bank issued. Keyed by an HMAC of its number under the card key (configuration), so the
    number is never stored; nor is its CVC, which is derived from number and expiry under the same key."""

    class Meta(_BankModel.Meta):
        table_name = "cards"

    fingerprint = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    masked_number = UnicodeAttribute()
    expiry_month = UnicodeAttribute()  # "MM"
    expiry_year = UnicodeAttribute()  # "YY"
    created_at = UTCDateTimeAttribute()


class Merchant(_BankModel):
    """A merchant of the card gateway; paid into sharded merchant accounts (`shards` of them)."""

    class Meta(_BankModel.Meta):
        table_name = "merchants"

    merchant_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    webhook_url = UnicodeAttribute(null=True)  # the default of its payments' `return_url.webhook_url`
    # The secret its webhooks are signed with (`whsec_...`), sealed: the gateway must read it back to sign.
    sealed_webhook_secret = UnicodeAttribute()
    shards = NumberAttribute()
    created_at = UTCDateTimeAttribute()


class MerchantKey(_BankModel):
    """A merchant's API key (`secret`) or publishable key: only its SHA-256 is stored."""

    class Meta(_BankModel.Meta):
        table_name = "merchant_keys"

    key_hash = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # secret | publishable
    created_at = UTCDateTimeAttribute()


class CardTransaction(_BankModel):
    """A transaction of the card gateway, as its merchant sees it: the response it answered (card number
    masked, never a CVC) and the amounts that move with later operations."""

    class Meta(_BankModel.Meta):
        table_name = "card_transactions"

    transaction_id = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    transaction_type = UnicodeAttribute()  # CAPTURE | PRE_AUTH | REFUND | VOID
    amount = NumberAttribute()
    funding_account_id = UnicodeAttribute()  # the card's account, or the network's clearing shard
    merchant_account_id = UnicodeAttribute()  # the merchant's shard that was (or will be) paid
    # A payment's state (a purchase, or an authorisation): authorised -> captured | voided. Changed only
    # by conditional writes, so two captures, or a capture and a void, cannot both succeed.
    status = UnicodeAttribute(null=True)
    captured_amount = NumberAttribute(default=0)
    refunded_amount = NumberAttribute(default=0)  # never above captured_amount (a write's condition)
    reserve_id = NumberAttribute(null=True)  # an authorisation's hold on a card of this bank
    parent_id = UnicodeAttribute(null=True)  # a capture's, refund's or void's payment
    webhook_url = UnicodeAttribute(null=True)  # where this payment's events (its own, its captures...) go
    response = UnicodeAttribute()  # the answer's JSON
    created_at = UTCDateTimeAttribute()


class MerchantReference(_BankModel):
    """A merchant_txn_ref in use: written with its payment, so a repeated one is refused atomically."""

    class Meta(_BankModel.Meta):
        table_name = "merchant_references"

    merchant_id = UnicodeAttribute(hash_key=True)
    merchant_txn_ref = UnicodeAttribute(range_key=True)
    transaction_id = UnicodeAttribute()


class CardToken(_BankModel):
    """A one-time card token: only its SHA-256 is the key; the card number is sealed (AES-GCM), the CVC
    never kept."""

    class Meta(_BankModel.Meta):
        table_name = "card_tokens"

    token_hash = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    sealed_card = UnicodeAttribute()  # hex: nonce + AES-GCM of the number and name, bound to the merchant
    masked_number = UnicodeAttribute()
    expiry_month = UnicodeAttribute()
    expiry_year = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at_ms = NumberAttribute()
    spent_at = UTCDateTimeAttribute(null=True)
    purge_at = TTLAttribute()


class StoredCard(_BankModel):
    """A card a merchant keeps for later payments (`store_payment_method`): sealed like a token's, no CVC."""

    class Meta(_BankModel.Meta):
        table_name = "stored_cards"

    method_id = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    sealed_card = UnicodeAttribute()
    masked_number = UnicodeAttribute()
    expiry_month = UnicodeAttribute()
    expiry_year = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class ThreeDSChallenge(_BankModel):
    """A purchase v2 waiting for its 3-D Secure challenge: only the SHA-256 of the challenge id (which the page's
    URL carries) is the key. The card is kept by a card token (sealed, no CVC), never here; this keeps what the
    purchase needs besides, and the challenge's state: pending -> completed | failed, by conditional writes."""

    class Meta(_BankModel.Meta):
        table_name = "three_ds_challenges"

    challenge_hash = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    merchant_name = UnicodeAttribute()  # as the page shows it
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    merchant_txn_ref = UnicodeAttribute()
    echo = UnicodeAttribute()  # JSON: what the answer repeats of the request
    store = BooleanAttribute()  # keep the card as a stored payment method when paid
    masked_number = UnicodeAttribute()
    scheme = UnicodeAttribute()
    success_url = UnicodeAttribute(null=True)
    decline_url = UnicodeAttribute(null=True)
    webhook_url = UnicodeAttribute(null=True)  # the payment's own, when it is made
    status = UnicodeAttribute()  # pending | completed | failed
    transaction_id = UnicodeAttribute(null=True)  # the payment, once completed
    created_at = UTCDateTimeAttribute()
    expires_at_ms = NumberAttribute()  # pending no more from then: read paths compare, never wait for TTL
    finished_at = UTCDateTimeAttribute(null=True)
    purge_at = TTLAttribute()


class IdempotencyRecord(_BankModel):
    """A merchant's Idempotency-Key: the request it was first used with, and the answer to replay."""

    class Meta(_BankModel.Meta):
        table_name = "idempotency_keys"

    key = UnicodeAttribute(hash_key=True)  # "<merchant_id>#<Idempotency-Key>"
    request_hash = UnicodeAttribute()
    state = UnicodeAttribute()  # in_flight | done
    in_flight_until_ms = NumberAttribute()  # a request that died mid-way frees its key then
    expires_at_ms = NumberAttribute()  # the key may be used for another request from then
    # The id of the transaction the request makes: kept when a failed try gives the key back (see idempotency.py).
    operation_id = UnicodeAttribute(null=True)
    status = NumberAttribute(null=True)
    body = UnicodeAttribute(null=True)
    purge_at = TTLAttribute()


class WebhookAttemptRecord(MapAttribute):
    attempted_at = UTCDateTimeAttribute()
    status_code = NumberAttribute(null=True)  # None: no HTTP answer (refused address, timeout, connection)
    error = UnicodeAttribute(null=True)
    next_attempt_at = UTCDateTimeAttribute(null=True)  # None: delivered, or the last attempt failed


class DueWebhooks(GlobalSecondaryIndex["WebhookEvent"]):
    """Events waiting for an attempt, by when it is due: sparse (a finished event leaves it), spread over
    DUE_SHARDS partitions. The sweep that re-queues what a lost queue message left behind reads it."""

    class Meta:
        index_name = "by_due"
        projection = KeysOnlyProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    next_attempt_ms = NumberAttribute(range_key=True)


class WebhookEvent(_BankModel):
    """The webhook event of one card transaction, written in the transaction's own DynamoDB transaction (an
    outbox: the event exists exactly when the transaction does), and its delivery attempts."""

    class Meta(_BankModel.Meta):
        table_name = "webhook_events"

    transaction_id = UnicodeAttribute(hash_key=True)
    event_id = UnicodeAttribute()  # `webhook-id`: the same on every attempt
    event_type = UnicodeAttribute()
    merchant_id = UnicodeAttribute()
    url = UnicodeAttribute()
    payload = UnicodeAttribute()  # the body, fixed when the event is made: every attempt sends these bytes
    state = UnicodeAttribute()  # pending -> delivered | failed
    attempt_count = NumberAttribute(default=0)
    attempts = ListAttribute(of=WebhookAttemptRecord, default=list)
    due_shard = UnicodeAttribute(null=True)
    next_attempt_ms = NumberAttribute(null=True)
    lease_until_ms = NumberAttribute(default=0)  # an attempt in progress holds the event until then
    created_at = UTCDateTimeAttribute()
    purge_at = TTLAttribute()
    by_due = DueWebhooks()


class Organisation(_BankModel):
    """A customer organisation of the subscription service (the card registration API)."""

    class Meta(_BankModel.Meta):
        table_name = "organisations"

    org_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    merchant_id = UnicodeAttribute()  # the service's merchant, whose tokens and stored cards it uses
    created_at = UTCDateTimeAttribute()


class MemberToken(_BankModel):
    """A member's personal access token (`<token_id>|<secret>`, as Laravel Sanctum issues them): only the
    secret's SHA-256 is stored; revoked by deleting the item."""

    class Meta(_BankModel.Meta):
        table_name = "member_tokens"

    token_id = UnicodeAttribute(hash_key=True)
    secret_hash = UnicodeAttribute()
    org_id = UnicodeAttribute()
    member_name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class PaymentSettings(_BankModel):
    """An organisation's payment settings; its card, once registered: a stored payment method of the service's
    merchant, and how it may be shown (masked). A card is written only onto settings that exist."""

    class Meta(_BankModel.Meta):
        table_name = "organisation_payment_settings"

    org_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute()
    stored_method_id = UnicodeAttribute(null=True)
    card_type = NumberAttribute(null=True)
    masked_number = UnicodeAttribute(null=True)
    nominee = UnicodeAttribute(null=True)
    expiry_month = UnicodeAttribute(null=True)
    expiry_year = UnicodeAttribute(null=True)
    registered_at = UTCDateTimeAttribute(null=True)


ALL_MODELS: tuple[type[Model], ...] = (
    Customer,
    Account,
    Hold,
    Posting,
    DailyBalance,
    Branch,
    App,
    ApiClient,
    Token,
    UserGrant,
    LoginThrottle,
    Card,
    Merchant,
    MerchantKey,
    CardTransaction,
    MerchantReference,
    CardToken,
    StoredCard,
    IdempotencyRecord,
    WebhookEvent,
    ThreeDSChallenge,
    Organisation,
    MemberToken,
    PaymentSettings,
)
