"""The HTTP APIs: one module per public API, each a Chalice blueprint."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.api import (
    audit_job,
    bank,
    card_page,
    card_registration,
    challenge_page,
    docs,
    fallback,
    gateway,
    isubank,
    isubank_compat,
    login_page,
    telemetry,
    webhook_jobs,
)
from chalicelib.observability import logger
from chalicelib.services import Services

APP_NAME = "bank"


def build_app(services: Services) -> Chalice:
    app = Chalice(app_name=APP_NAME, configure_logs=False)
    # What Chalice logs itself (an unexpected exception and its traceback) is JSON like every other line.
    app.log = logger
    app.register_blueprint(telemetry.blueprint())
    # The bank common API's paths answer the framework's errors in its own shape.
    bank_paths = {operation.path for operation in (*bank.OPERATIONS, *login_page.OPERATIONS)}
    shapes = dict.fromkeys(bank_paths, bank.framework_error)
    # The challenge page is the gateway's: its framework errors (405, 500) are in the gateway's shape.
    gateway_paths = {operation.path for operation in (*gateway.OPERATIONS, *challenge_page.OPERATIONS)}
    shapes.update(dict.fromkeys(gateway_paths, gateway.framework_error))
    shapes.update({operation.path: card_registration.framework_error for operation in card_registration.OPERATIONS})
    app.register_blueprint(fallback.blueprint(shapes))
    app.register_blueprint(isubank.blueprint(services))
    app.register_blueprint(bank.blueprint(services))
    app.register_blueprint(login_page.blueprint(services))
    app.register_blueprint(gateway.blueprint(services))
    app.register_blueprint(challenge_page.blueprint(services))
    app.register_blueprint(card_page.blueprint(services))
    app.register_blueprint(card_registration.blueprint(services))
    app.register_blueprint(docs.blueprint())
    if services.settings.webhook_queue:  # on AWS; locally the server's worker delivers webhooks, the CLI audits
        app.register_blueprint(webhook_jobs.blueprint(services))
        app.register_blueprint(audit_job.blueprint(services))
    if services.settings.contest_compat:
        app.register_blueprint(isubank_compat.blueprint(services))
    return app
