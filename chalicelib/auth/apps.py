"""Apps that call ISUBANK with `Authorization: Bearer <app_id>`.

The app id is a bearer secret: only its SHA-256 is stored, and logs name an app by `app_key`, a short
prefix of that hash. A SHA-256 (not a slow KDF) is right here: app ids are 256-bit random values, and the
hash is the table key.

Authenticated identities are cached in the process (`IdentityCache`): a warm Lambda serves thousands of
requests for a handful of apps, and the cache saves each of them the app's GetItem. An entry lives
`IDENTITY_LIFETIME` (60 s), so a deleted app stops working within a minute; a refusal is never cached,
so a newly created app works at once.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from typing import Generic, TypeVar

from cachetools import TTLCache
from msgspec import Struct
from pynamodb.exceptions import PutError

from chalicelib.clock import Clock
from chalicelib.ids import IdGenerator
from chalicelib.observability import logger
from chalicelib.store.models import App
from chalicelib.store.transactions import Retrier

MAX_APP_ID_LENGTH = 256
IDENTITY_LIFETIME = timedelta(seconds=60)
# Far more apps than one function instance sees; bounds memory if many ids are tried.
IDENTITY_CACHE_SIZE = 1024


Identity = TypeVar("Identity")


class UnknownApp(Exception):
    pass


class AppIdentity(Struct, frozen=True):
    app_key: str  # safe to log
    name: str


def _hash(app_id: str) -> str:
    return hashlib.sha256(app_id.encode("utf-8")).hexdigest()


def _identity(app: App) -> AppIdentity:
    return AppIdentity(app_key=app.key_hash[:16], name=app.name)


class IdentityCache(Generic[Identity]):
    """A bounded LRU of authenticated identities by key hash (an app id's, a merchant key's), each kept for
    a lifetime on the injected clock; shared by the local server's threads."""

    def __init__(self, clock: Clock, lifetime: timedelta = IDENTITY_LIFETIME, size: int = IDENTITY_CACHE_SIZE) -> None:
        self._entries: TTLCache[str, Identity] = TTLCache(
            maxsize=size, ttl=lifetime.total_seconds(), timer=lambda: clock.now().timestamp()
        )
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Identity | None:
        with self._lock:
            return self._entries.get(key_hash)

    def put(self, key_hash: str, identity: Identity) -> None:
        with self._lock:
            self._entries[key_hash] = identity


class AppRegistry:
    def __init__(self, clock: Clock, ids: IdGenerator, retrier: Retrier) -> None:
        self.clock = clock
        self.ids = ids
        self.retrier = retrier
        self.cache: IdentityCache[AppIdentity] = IdentityCache(clock)

    def create(self, name: str, app_id: str | None = None) -> tuple[str, AppIdentity]:
        """Issue a new app id (or register a given one, for demo data); returns it once, in clear."""
        app_id = app_id or self.ids.secret()
        app = App(_hash(app_id), name=name, created_at=self.clock.now())
        app.save(condition=App.key_hash.does_not_exist())
        return app_id, _identity(app)

    def authenticate(self, app_id: str, admit_unknown: bool = False) -> AppIdentity:
        if not app_id or len(app_id) > MAX_APP_ID_LENGTH:
            raise UnknownApp()
        key_hash = _hash(app_id)
        identity = self.cache.get(key_hash)
        if identity is None:
            identity = self._look_up(key_hash, admit_unknown)
            self.cache.put(key_hash, identity)
        return identity

    def _look_up(self, key_hash: str, admit_unknown: bool) -> AppIdentity:
        try:
            return _identity(self.retrier.run(lambda: App.get(key_hash)))
        except App.DoesNotExist:
            if not admit_unknown:
                raise UnknownApp() from None
        # Contest compatibility: the contest's apps make up a fresh app id every run.
        app = App(key_hash, name=f"auto-{key_hash[:8]}", created_at=self.clock.now(), auto_registered=True)
        try:
            app.save(condition=App.key_hash.does_not_exist())
            logger.info("registered unknown app on first use", registered_app_key=key_hash[:16])
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
        return _identity(app)
