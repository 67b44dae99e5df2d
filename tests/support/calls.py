"""Counting the DynamoDB calls the app makes, through botocore's events on the shared client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chalicelib.store.models import shared_connection


@contextmanager
def dynamodb_calls(region: str = "ap-northeast-1") -> Iterator[list[str]]:
    """The operation names of every DynamoDB call made inside the block, in order."""
    calls: list[str] = []
    events = shared_connection(region).client.meta.events

    def record(model, **kwargs) -> None:
        calls.append(model.name)

    events.register("before-call.dynamodb", record)
    try:
        yield calls
    finally:
        events.unregister("before-call.dynamodb", record)
