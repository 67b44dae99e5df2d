"""App ids: authentication and the in-process cache of authenticated identities."""

from __future__ import annotations

import threading

import pytest

from chalicelib.auth.apps import IDENTITY_LIFETIME, AppIdentity, IdentityCache, UnknownApp, _hash
from chalicelib.store.models import App
from tests.conftest import make_services
from tests.support.calls import dynamodb_calls

APP_ID = "cached-app-id-0123456789"


@pytest.fixture
def apps(moto_db, clock):
    return make_services(clock).apps


def test_an_authenticated_app_is_looked_up_once_within_its_lifetime(apps, clock):
    _, created = apps.create("Cached", app_id=APP_ID)
    with dynamodb_calls() as calls:
        assert apps.authenticate(APP_ID) == created
        clock.advance(seconds=IDENTITY_LIFETIME.total_seconds() - 1)
        assert apps.authenticate(APP_ID) == created
    assert calls == ["GetItem"]
    clock.advance(seconds=1)
    with dynamodb_calls() as calls:
        assert apps.authenticate(APP_ID) == created
    assert calls == ["GetItem"]


def test_a_deleted_app_stops_working_within_the_lifetime(apps, clock):
    apps.create("Doomed", app_id=APP_ID)
    apps.authenticate(APP_ID)
    App.get(_hash(APP_ID)).delete()
    apps.authenticate(APP_ID)  # still cached
    clock.advance(seconds=IDENTITY_LIFETIME.total_seconds())
    with pytest.raises(UnknownApp):
        apps.authenticate(APP_ID)


def test_a_refusal_is_never_cached(apps):
    with pytest.raises(UnknownApp):
        apps.authenticate(APP_ID)
    _, created = apps.create("Late", app_id=APP_ID)
    assert apps.authenticate(APP_ID) == created


def test_an_app_registered_on_first_use_is_cached(moto_db, clock):
    apps = make_services(clock, contest_compat=True).apps
    with dynamodb_calls() as calls:
        first = apps.authenticate(APP_ID, admit_unknown=True)
        assert apps.authenticate(APP_ID, admit_unknown=True) == first
    assert calls == ["GetItem", "PutItem"]
    assert App.get(_hash(APP_ID)).auto_registered


def test_the_cache_is_a_bounded_lru(clock):
    cache = IdentityCache(clock, size=2)
    a, b, c = (AppIdentity(app_key=key, name=key) for key in "abc")
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") == a  # a is now the most recently used
    cache.put("c", c)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (a, None, c)


def test_the_cache_is_thread_safe(clock):
    cache = IdentityCache(clock, size=64)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def hammer(worker: int) -> None:
        barrier.wait()
        try:
            for n in range(5000):
                key = f"{worker}-{n % 100}"
                identity = AppIdentity(app_key=key, name=key)
                cache.put(key, identity)
                assert cache.get(key) in (identity, None)  # evicted by another thread at most
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache._entries) <= 64
