"""The local server's webhook worker: what the `deliver_webhooks` and `sweep_webhooks` functions do on AWS, in
a thread. It attempts every due event each second (at once when the API queues one), on the local stage's
compressed schedule (BANK_WEBHOOK_RETRY_DELAYS in .chalice/config.json: the first retry after 5 s).
"""

from __future__ import annotations

import threading

from chalicelib.cards.webhook_queue import local_wake
from chalicelib.observability import logger
from chalicelib.services import Services

POLL_SECONDS = 1.0


def start(services: Services) -> threading.Event:
    """Run the worker in a daemon thread until the returned event is set."""
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            local_wake.wait(POLL_SECONDS)
            local_wake.clear()
            try:
                for transaction_id in services.webhooks.due():
                    services.webhooks.deliver(transaction_id)
            except Exception:  # one bad round must not end deliveries
                logger.exception("webhook worker: a round failed; trying again")

    threading.Thread(target=work, name="webhook-worker", daemon=True).start()
    return stop
