"""Per-key rate limits counted in the database: two API apps on one database (as two
``penpost serve`` processes) share one limit on SQLite and PostgreSQL, concurrent
requests never get past it, requests come back in as their seconds leave the sliding
minute, the sweeper deletes old counts, and the migrations make the models' tables."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import select

from jobs.api import create_app
from jobs.db import Base, RateCount
from jobs.store import rate_retry_after

T0 = 1_800_000_000.0  # a whole minute in unix seconds, for counts at chosen times


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_id(store, key: str) -> int:
    found = store.authenticate_key(key)
    assert found is not None
    return found[1]


def test_two_api_apps_on_one_database_share_a_keys_limit(make_store, backend):
    first = make_store(backend, rate_limit_per_minute=4)
    second = make_store(backend, rate_limit_per_minute=4)  # another process: its own store
    busy = first.create_shop("Busy")[1]
    quiet = first.create_shop("Quiet")[1]
    with (TestClient(create_app(first.settings, store=first)) as a,
          TestClient(create_app(second.settings, store=second)) as b):
        codes = [api.get("/v1/jobs", headers=auth(busy)).status_code
                 for api in (a, b, a, b, a, b)]
        assert codes == [200, 200, 200, 200, 429, 429]
        r = b.get("/v1/jobs", headers=auth(busy))
        assert r.status_code == 429 and r.json()["error"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 61
        assert f"retry in {r.headers['retry-after']} s" in r.json()["message"]
        # another key has a limit of its own, on either app
        assert [api.get("/v1/jobs", headers=auth(quiet)).status_code
                for api in (a, b)] == [200, 200]


def test_concurrent_requests_on_two_stores_never_pass_the_limit(make_store, backend):
    stores = [make_store(backend), make_store(backend)]
    key = key_id(stores[0], stores[0].create_shop("Rush")[1])
    with ThreadPoolExecutor(max_workers=8) as pool:
        waits = list(pool.map(lambda i: stores[i % 2].count_request(key, 10, T0 + 5.5),
                              range(40)))
    assert waits.count(0) == 10
    assert all(wait == 60 for wait in waits if wait)  # this second's requests leave at T0+65


def test_requests_come_back_in_as_their_seconds_leave_the_minute(store):
    key = key_id(store, store.create_shop("Steady")[1])
    assert [store.count_request(key, 3, T0 + 0.2) for _ in range(2)] == [0, 0]
    assert store.count_request(key, 3, T0 + 30.5) == 0
    assert store.count_request(key, 3, T0 + 31.0) == 29  # the two of T0 leave at T0+60
    assert store.count_request(key, 3, T0 + 59.9) == 1
    # a new minute begins for the counter, not for the limit: T0+30's request still counts
    assert [store.count_request(key, 3, T0 + 60.0) for _ in range(3)] == [0, 0, 30]
    assert store.count_request(key, 3, T0 + 90.0) == 0


def test_the_sweeper_deletes_counts_that_left_the_minute(store):
    key = key_id(store, store.create_shop("Old")[1])
    for offset in (0.0, 30.0, 59.0):
        assert store.count_request(key, 100, T0 + offset) == 0
    store.sweep(now=datetime.fromtimestamp(T0 + 60.5, UTC))
    with store.session() as s:
        left = list(s.scalars(select(RateCount.second).order_by(RateCount.second)))
    assert left == [int(T0) + 30, int(T0) + 59]


def test_rate_retry_after_waits_for_enough_seconds_to_leave():
    assert rate_retry_after(3, {100: 3}, 100.5) == 60  # one more fits at 160
    assert rate_retry_after(3, {100: 1, 120: 1, 150: 1}, 150.0) == 10
    assert rate_retry_after(3, {100: 2, 150: 1}, 150.0) == 10  # both of 100 leave at 160
    assert rate_retry_after(5, {100: 2, 150: 1}, 150.0) == 1  # room now
    assert rate_retry_after(1, {}, 150.0) == 1


def test_the_migrations_make_the_tables_of_the_models(store):
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
