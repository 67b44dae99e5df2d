"""The one source of time. Everything that needs "now" is handed a Clock, so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

JST = timezone(timedelta(hours=9), "JST")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def epoch_ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def utc_timestamp(instant: datetime) -> str:
    """`2026-11-23T03:00:00.000Z`: the card gateway's timestamps."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
