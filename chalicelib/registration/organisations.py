"""Organisations of the subscription service, their members' personal access tokens and their payment settings.

A member authenticates with `Authorization: Bearer <token_id>|<secret>`, as Laravel Sanctum issues personal
access tokens: the token id finds the item, the secret's SHA-256 is compared in constant time; the secret
itself is never stored. Deleting the item revokes the token. Every organisation's card page tokenises with
its own publishable key of the service's merchant (a merchant of the card gateway): the service keeps its
customers' cards as that merchant's stored payment methods.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from msgspec import Struct
from pynamodb.exceptions import PutError

from chalicelib.cards.merchants import Merchants, NewMerchant
from chalicelib.clock import Clock
from chalicelib.store.models import MemberToken, Organisation, PaymentSettings
from chalicelib.store.transactions import ConditionFailed, Retrier, write_transaction

MAX_NAME_LENGTH = 255
MAX_TOKEN_LENGTH = 128
SERVICE_MERCHANT_NAME = "カード登録サービス"


class UnknownMember(Exception):
    """No token, a malformed one, an unknown or revoked one."""


class UnknownOrganisation(Exception):
    pass


class SettingsExist(Exception):
    pass


class Member(Struct, frozen=True):
    org_id: str
    name: str
    merchant_id: str  # the service's merchant


class NewOrganisation(Struct, frozen=True):
    org_id: str
    access_token: str  # the first member's, in clear this once
    publishable_key: str  # what its card page tokenises with
    service_merchant: NewMerchant | None  # made with the first organisation: its keys, shown this once


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"a name has 1 to {MAX_NAME_LENGTH} characters")


class Organisations:
    def __init__(self, clock: Clock, retrier: Retrier, merchants: Merchants, service_merchant_id: str) -> None:
        self.clock = clock
        self.retrier = retrier
        self.merchants = merchants
        self.service_merchant_id = service_merchant_id

    def create(
        self,
        name: str,
        payment_settings: bool = True,
        first_member: str = "owner",
        org_id: str | None = None,
        access_token: str | None = None,
        publishable_key: str | None = None,
    ) -> NewOrganisation:
        """An organisation, its first member's token and its publishable key; its payment settings unless told
        not to. The service's merchant is made with the first organisation. The id and the keys may be given
        (demo data); otherwise they are generated."""
        _check_name(name)
        service = self._service_merchant()
        org_id = org_id or f"org_{secrets.token_hex(8)}"
        now = self.clock.now()
        organisation = Organisation(org_id, name=name, merchant_id=self.service_merchant_id, created_at=now)
        token, member = self._new_token(org_id, first_member, access_token)

        def build(transaction) -> None:
            transaction.save(organisation, condition=Organisation.org_id.does_not_exist())
            transaction.save(member, condition=MemberToken.token_id.does_not_exist())
            if payment_settings:
                settings = PaymentSettings(org_id, created_at=now)
                transaction.save(settings, condition=PaymentSettings.org_id.does_not_exist())

        write_transaction(build)  # new ids: nothing to conflict with
        publishable_key = self.merchants.add_publishable_key(self.service_merchant_id, publishable_key)
        return NewOrganisation(org_id, token, publishable_key, service)

    def _service_merchant(self) -> NewMerchant | None:
        """The service's merchant, made if it is not there yet (then returned, with its keys)."""
        try:
            return self.merchants.create(SERVICE_MERCHANT_NAME, merchant_id=self.service_merchant_id)
        except ConditionFailed:  # it exists: its keys were shown when it was made
            return None

    def _new_token(self, org_id: str, member_name: str, given: str | None = None) -> tuple[str, MemberToken]:
        _check_name(member_name)
        token_id, _, secret = (given or f"{secrets.token_hex(8)}|{secrets.token_urlsafe(30)}").partition("|")
        item = MemberToken(
            token_id, secret_hash=_hash(secret), org_id=org_id, member_name=member_name, created_at=self.clock.now()
        )
        return f"{token_id}|{secret}", item

    def add_member(self, org_id: str, name: str) -> str:
        """A new member's access token, in clear this once."""
        self._organisation(org_id)
        token, item = self._new_token(org_id, name)
        self.retrier.run(lambda: item.save(condition=MemberToken.token_id.does_not_exist()))
        return token

    def revoke(self, access_token: str) -> None:
        """The member's token no longer authenticates (idempotent)."""
        token_id = access_token.split("|", 1)[0]
        self.retrier.run(lambda: MemberToken(token_id).delete())

    def create_settings(self, org_id: str) -> None:
        self._organisation(org_id)
        settings = PaymentSettings(org_id, created_at=self.clock.now())
        try:
            self.retrier.run(lambda: settings.save(condition=PaymentSettings.org_id.does_not_exist()))
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise SettingsExist() from None
            raise

    def exists(self, org_id: str) -> bool:
        try:
            self._organisation(org_id)
        except UnknownOrganisation:
            return False
        return True

    def _organisation(self, org_id: str) -> Organisation:
        try:
            return self.retrier.run(lambda: Organisation.get(org_id))
        except Organisation.DoesNotExist:
            raise UnknownOrganisation() from None

    def authenticate(self, access_token: str) -> Member:
        token_id, _, secret = access_token.partition("|")
        if not token_id or not secret or len(access_token) > MAX_TOKEN_LENGTH or not access_token.isascii():
            raise UnknownMember()
        try:
            item = self.retrier.run(lambda: MemberToken.get(token_id))
        except MemberToken.DoesNotExist:
            raise UnknownMember() from None
        if not hmac.compare_digest(item.secret_hash, _hash(secret)):
            raise UnknownMember()
        organisation = self._organisation(item.org_id)
        return Member(organisation.org_id, item.member_name, organisation.merchant_id)
