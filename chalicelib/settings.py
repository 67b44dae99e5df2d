"""Configuration, read once from the environment (set per stage in .chalice/config.json)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from msgspec import Struct

_TRUE = {"1", "true", "yes", "on"}
# Seconds from a failed webhook attempt to the next: 8 attempts over about a day (23.6 h).
WEBHOOK_RETRY_DELAYS = (60, 300, 1800, 7200, 18000, 36000, 21600)


class Settings(Struct, frozen=True):
    stage: str
    table_prefix: str
    region: str
    # The contest's operator routes and admission of unknown app ids (see README, "Contest compatibility").
    contest_compat: bool
    # The bank as its statements and branch lists name it (a Zengin-style 4-digit code).
    bank_code: str = "9999"
    bank_name: str = "いすばんく銀行"
    # The card issuer's key: fingerprints of card numbers and derived CVCs. A stage issues no card without it.
    card_key: str = ""
    # How long a card token may pay (minutes); shorter in tests and `make run` if wanted.
    card_token_minutes: int = 30
    # The SQS queue webhook deliveries go through (AWS); none: the local server's worker delivers them.
    webhook_queue: str = ""
    webhook_retry_delays: tuple[int, ...] = WEBHOOK_RETRY_DELAYS
    # Whether webhooks may go to loopback, private and link-local addresses: only where the receiver runs on
    # this machine (the local stage); on AWS that would let a merchant reach the VPC and instance metadata.
    webhook_private_targets: bool = False
    # The card registration API's subscription service: the gateway merchant its organisations' cards are kept by.
    registration_merchant_id: str = "mch_subscriptions"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        stage = env.get("BANK_STAGE", "local")
        return cls(
            stage=stage,
            table_prefix=env.get("BANK_TABLE_PREFIX", f"bank-{stage}-"),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "ap-northeast-1",
            contest_compat=env.get("BANK_CONTEST_COMPAT", "").strip().lower() in _TRUE,
            bank_code=env.get("BANK_CODE", "9999"),
            bank_name=env.get("BANK_NAME", "いすばんく銀行"),
            card_key=env.get("BANK_CARD_KEY", ""),
            card_token_minutes=int(env.get("BANK_CARD_TOKEN_MINUTES", "30")),
            webhook_queue=env.get("BANK_WEBHOOK_QUEUE", ""),
            webhook_retry_delays=_seconds(env.get("BANK_WEBHOOK_RETRY_DELAYS")) or WEBHOOK_RETRY_DELAYS,
            webhook_private_targets=stage == "local",
            registration_merchant_id=env.get("BANK_REGISTRATION_MERCHANT", "mch_subscriptions"),
        )


def _seconds(listed: str | None) -> tuple[int, ...]:
    """`"5,15,30"` -> (5, 15, 30)."""
    return tuple(int(part) for part in (listed or "").split(",") if part.strip())
