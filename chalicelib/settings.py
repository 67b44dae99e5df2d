"""Configuration, read once from the environment (set per stage in .chalice/config.json)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from msgspec import Struct

_TRUE = {"1", "true", "yes", "on"}


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
        )
