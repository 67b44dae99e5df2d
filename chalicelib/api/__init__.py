"""The HTTP APIs: one module per public API, each a Chalice blueprint."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.api import docs, fallback, isubank, isubank_compat, telemetry
from chalicelib.observability import logger
from chalicelib.services import Services

APP_NAME = "bank"


def build_app(services: Services) -> Chalice:
    app = Chalice(app_name=APP_NAME, configure_logs=False)
    # What Chalice logs itself (an unexpected exception and its traceback) is JSON like every other line.
    app.log = logger
    app.register_blueprint(telemetry.blueprint())
    app.register_blueprint(fallback.blueprint())
    app.register_blueprint(isubank.blueprint(services))
    app.register_blueprint(docs.blueprint())
    if services.settings.contest_compat:
        app.register_blueprint(isubank_compat.blueprint(services))
    return app
