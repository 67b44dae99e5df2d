"""Fixtures for every tier: a movable clock, the ledger on moto or on DynamoDB Local, and a headless browser."""

from __future__ import annotations

import itertools
import os
from datetime import datetime

import pytest

# Tests never reach AWS: fake credentials, a fixed region, no endpoint or profile from the shell.
for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(name, None)
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="ap-northeast-1")

from moto import mock_aws  # noqa: E402

from chalicelib.clock import JST  # noqa: E402
from chalicelib.services import Services  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from chalicelib.store import tables  # noqa: E402
from chalicelib.store.transactions import Retrier  # noqa: E402
from local.dynamodb_local import DynamoDBLocal  # noqa: E402
from tests.support import browser as headless  # noqa: E402
from tests.support.clock import ManualClock  # noqa: E402

_prefixes = itertools.count()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 23, 12, 0, 0, tzinfo=JST))


def settings_for_test(contest_compat: bool = False) -> Settings:
    return Settings(
        stage="test",
        table_prefix=f"t{os.getpid()}-{next(_prefixes)}-",
        region="ap-northeast-1",
        contest_compat=contest_compat,
        card_key="test-card-key-not-a-secret",
    )


@pytest.fixture(autouse=True)
def _chalice_execution_env(monkeypatch):
    """Every `Chalice(...)` appends ` aws-chalice/<version>` to AWS_EXECUTION_ENV, which botocore sends in its
    User-Agent: undone after each test, else the header grows with every app the suite builds until DynamoDB
    Local refuses the requests (431 Request Header Fields Too Large)."""
    monkeypatch.delenv("AWS_EXECUTION_ENV", raising=False)


@pytest.fixture
def moto_db():
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def dynamodb_local():
    with DynamoDBLocal() as server:
        yield server


@pytest.fixture
def local_db(dynamodb_local, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local.endpoint)
    yield


@pytest.fixture(params=["moto", pytest.param("dynamodb_local", marks=pytest.mark.dynamodb_local)])
def any_db(request):
    """Runs a test on both: moto for speed, DynamoDB Local for fidelity."""
    request.getfixturevalue("moto_db" if request.param == "moto" else "local_db")
    yield request.param


def make_services(clock, contest_compat: bool = False, sleep=lambda seconds: None) -> Services:
    services = Services(settings_for_test(contest_compat), clock=clock, retrier=Retrier(sleep=sleep))
    tables.create_tables()
    return services


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium, one for the session (tests/support/browser.py); skips where it is not installed."""
    yield from headless.launch_browser()


@pytest.fixture
def page(browser):
    """A fresh page in a context of its own."""
    yield from headless.new_page(browser)


@pytest.fixture
def page_log(page) -> headless.PageLog:
    """The page's requests, console errors, uncaught errors and CSP violations."""
    return headless.PageLog.attach(page)
