"""The Chalice application: every API of the bank, built from the stage's environment."""

from chalicelib.api import build_app
from chalicelib.services import Services

app = build_app(Services.from_env())
# The webhook and audit functions' entry points, as Lambda calls them (`app.deliver_webhooks`); None where the
# stage has no webhook queue (local).
deliver_webhooks = app.handler_map.get("deliver_webhooks")
sweep_webhooks = app.handler_map.get("sweep_webhooks")
audit_ledger = app.handler_map.get("audit_ledger")
