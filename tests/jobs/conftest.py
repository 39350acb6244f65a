"""Fixtures of the job service: a migrated store on SQLite and on PostgreSQL, shops with
keys, and a dispatcher that runs renders and deliveries in the calling thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.settings import Settings
from jobs.store import Store
from jobs.tasks import render_stored_job
from jobs.webhooks import deliver


class InlineDispatcher:
    """Runs the render and webhook tasks' bodies at once, in this thread (the code Celery
    runs, without a broker); ``sent`` records what was handed over."""

    def __init__(self) -> None:
        self.store: Store | None = None
        self.sent: list[tuple[str, object]] = []
        self.run = True

    def render(self, job_id: str, revision: int) -> None:
        self.sent.append(("render", (job_id, revision)))
        if self.run and self.store is not None:
            render_stored_job(self.store, job_id, revision)

    def deliver(self, delivery_id: int) -> None:
        self.sent.append(("deliver", delivery_id))
        if self.run and self.store is not None:
            deliver(self.store, delivery_id)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: SQLite under tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'penpost.db'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def make_store(tmp_path: Path):
    """Factory: a migrated store on ``url`` with an inline dispatcher."""
    made: list[Store] = []

    def make(url: str | None = None, **settings: object) -> Store:
        dispatcher = InlineDispatcher()
        config = Settings(data_dir=tmp_path / "data", database_url=url or "", **settings)
        store = Store(config, dispatcher)
        dispatcher.store = store
        store.migrate()
        made.append(store)
        return store

    yield make
    for store in made:
        store.engine.dispose()


@pytest.fixture
def store(make_store, backend: str) -> Store:
    return make_store(backend)
