"""Apps that call ISUBANK with `Authorization: Bearer <app_id>`.

The app id is a bearer secret: only its SHA-256 is stored, and logs name an app by `app_key`, a short
prefix of that hash. A SHA-256 (not a slow KDF) is right here: app ids are 256-bit random values, and the
hash is the table key, looked up on every request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pynamodb.exceptions import PutError

from chalicelib.clock import Clock
from chalicelib.ids import IdGenerator
from chalicelib.observability import logger
from chalicelib.store.models import App
from chalicelib.store.transactions import Retrier

MAX_APP_ID_LENGTH = 256


class UnknownApp(Exception):
    pass


@dataclass(frozen=True)
class AppIdentity:
    app_key: str  # safe to log
    name: str


def _hash(app_id: str) -> str:
    return hashlib.sha256(app_id.encode("utf-8")).hexdigest()


def _identity(app: App) -> AppIdentity:
    return AppIdentity(app_key=app.key_hash[:16], name=app.name)


class AppRegistry:
    def __init__(self, clock: Clock, ids: IdGenerator, retrier: Retrier) -> None:
        self.clock = clock
        self.ids = ids
        self.retrier = retrier

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
