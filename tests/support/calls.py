"""Counting the DynamoDB calls the app makes and the items they read, through botocore's events on the shared
client."""

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


@contextmanager
def dynamodb_reads(region: str = "ap-northeast-1") -> Iterator[list[int]]:
    """The number of items each DynamoDB read inside the block returned, in order (GetItem 0 or 1, Query and
    Scan their Count): what a read costs, whatever the emulator says of capacity."""
    reads: list[int] = []
    events = shared_connection(region).client.meta.events

    def record(model, parsed, **kwargs) -> None:
        if model.name == "GetItem":
            reads.append(1 if "Item" in parsed else 0)
        elif model.name in ("Query", "Scan"):
            reads.append(parsed["Count"])

    events.register("after-call.dynamodb", record)
    try:
        yield reads
    finally:
        events.unregister("after-call.dynamodb", record)
