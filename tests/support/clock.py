"""A clock the tests move by hand, so expiry is tested without sleeping."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta


class ManualClock:
    def __init__(self, start: datetime) -> None:
        assert start.tzinfo is not None
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **parts: float) -> None:
        """Move forward by `delta`, or by timedelta's keywords (`minutes=3`)."""
        with self._lock:
            self._now += (delta or timedelta()) + timedelta(**parts)
