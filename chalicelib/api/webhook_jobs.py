"""The card gateway's webhook functions on AWS (no HTTP): `deliver_webhooks` drains the SQS queue, one event
per message; `sweep_webhooks`, every few minutes, queues again the events whose message was lost (the API
died between its write and its send). The local server runs neither: its worker thread does their job.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from chalicelib.cards.webhook_queue import transaction_of
from chalicelib.observability import logger
from chalicelib.services import Services

SWEEP_MINUTES = 5


FUNCTIONS = ("deliver_webhooks", "sweep_webhooks")


def blueprint(services: Services) -> Blueprint:
    # Lambda runs an event handler as `<module>.<name>`: app.py exposes them (see FUNCTIONS), hence "app".
    bp = Blueprint("app")

    # One message per invocation: a message that fails (DynamoDB unreachable) is retried alone by SQS.
    @bp.on_sqs_message(queue=services.settings.webhook_queue, batch_size=1)
    def deliver_webhooks(event: Any) -> None:
        for record in event:
            transaction_id = transaction_of(record.body)
            if transaction_id is None:
                logger.warning("webhook queue: a message that is not ours, dropped")
                continue
            services.webhooks.attempt_queued(transaction_id)

    @bp.schedule(Rate(SWEEP_MINUTES, unit=Rate.MINUTES))
    def sweep_webhooks(event: Any) -> None:
        queued = services.webhooks.sweep()
        if queued:
            logger.warning("webhook events queued again by the sweep", extra={"queued": queued})

    return bp
