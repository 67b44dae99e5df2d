"""The Chalice application: every API of the bank, built from the stage's environment."""

from chalicelib.api import build_app
from chalicelib.services import Services

app = build_app(Services.from_env())
