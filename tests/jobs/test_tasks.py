"""Celery's set-up for each broker (a visibility timeout on Redis only, tasks cancelled on a
lost connection), and the sweeper on a real broker with no worker: it sends no render
again while the render queue still holds a message for every waiting job, and only as
many as were lost when it does not (the embedded filesystem broker, Redis, RabbitMQ)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import select

from jobs.db import Job, utcnow
from jobs.settings import Settings
from jobs.store import Store
from jobs.tasks import RENDER_QUEUE, CeleryDispatcher, configure
from tests.conftest import need_tool
from tests.e2e.test_service import _rabbit_vhost, rabbitmq_available, redis_available

REDIS_DB = 8  # a Redis database of our own (service e2e 5, bench 6, faults 7)
BODY = {"message": "Es tut uns leid.", "font": "tech", "card": "a6-landscape"}


# ---------------------------------------------------------------- configure()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache:6380/1",
                                 "sentinel://127.0.0.1:26379"])
def test_redis_gets_a_visibility_timeout_of_minutes(tmp_path: Path, url: str):
    settings = Settings(data_dir=tmp_path, broker_url=url, broker_visibility_timeout_s=420)
    conf = configure(settings, Celery("test")).conf
    assert conf.broker_transport_options == {"visibility_timeout": 420}
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True
    assert conf.task_acks_late is True  # what makes cancelling safe: the message comes back


@pytest.mark.parametrize("url", ["amqp://guest:guest@127.0.0.1:5672//", "pyamqp://rabbit//",
                                 "filesystem://", "memory://"])
def test_other_brokers_get_no_visibility_timeout(tmp_path: Path, url: str):
    conf = configure(Settings(data_dir=tmp_path, broker_url=url), Celery("test")).conf
    assert "visibility_timeout" not in conf.broker_transport_options
    # cancelling on a lost connection is right on every broker (RabbitMQ hands the
    # unacknowledged message to another worker at once)
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True


def test_the_default_visibility_timeout_outlasts_the_sweepers_backoff(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    # above the sweeper's last re-send (4 × render_stale_s), far below Celery's hour
    assert 4 * settings.render_stale_s < settings.broker_visibility_timeout_s <= 600


def test_configure_leaves_the_module_app_alone_when_given_another(tmp_path: Path):
    from jobs.tasks import app

    before = app.conf.broker_url
    configure(Settings(data_dir=tmp_path, broker_url="redis://elsewhere:6379/3"),
              Celery("test"))
    assert app.conf.broker_url == before


# ---------------------------------------------------------------- the sweeper and the queue


@pytest.fixture(params=["filesystem", "redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "filesystem":
        yield "filesystem://"
    elif request.param == "redis":
        need_tool(redis_available(), "Redis is not reachable at 127.0.0.1:6379")
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
        client.flushdb()
        yield f"redis://127.0.0.1:6379/{REDIS_DB}"
        client.flushdb()
    else:
        need_tool(rabbitmq_available(), "RabbitMQ is not reachable at 127.0.0.1:5672")
        vhost = _rabbit_vhost(request)
        if not vhost:
            pytest.skip("rabbitmqctl cannot make a virtual host of our own")
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"


@pytest.fixture
def queued(tmp_path: Path, broker_url: str) -> Iterator[tuple[Store, CeleryDispatcher]]:
    """A store that hands renders to a real broker, with no worker to take them."""
    settings = Settings(data_dir=tmp_path / "data", broker_url=broker_url)
    dispatcher = CeleryDispatcher(configure(settings, Celery("test")))
    store = Store(settings, dispatcher)
    store.migrate()
    yield store, dispatcher
    lose(dispatcher)
    store.engine.dispose()


def lose(dispatcher: CeleryDispatcher, n: int | None = None) -> None:
    """Take the ``n`` oldest render messages off the queue (all with None), unrendered:
    the broker lost them."""
    with dispatcher.celery.connection_for_write() as connection:
        channel = connection.channel()
        if n is None:
            channel.queue_purge(RENDER_QUEUE)
        for _ in range(n or 0):
            assert channel.basic_get(RENDER_QUEUE, no_ack=True) is not None
        channel.close()


def sends(store: Store, ids: list[str]) -> list[int]:
    with store.session() as s:
        by_id = dict(s.execute(select(Job.id, Job.render_sends).where(Job.id.in_(ids))).all())
    return [by_id[i] for i in ids]


def test_the_sweeper_sends_again_only_what_the_queue_lost(queued):
    store, dispatcher = queued
    shop = store.create_shop("Laden")[0]
    ids = [store.submit(shop, {**BODY, "seed": seed}).job.id for seed in range(1, 6)]
    assert dispatcher.render_queue_depth() == 5  # no worker: every message waits
    stale_s = store.settings.render_stale_s
    later = utcnow() + timedelta(seconds=10 * stale_s)
    # long past render_stale_s, but only queued behind the others: nothing is sent again
    assert store.sweep(now=later) == (0, 0)
    assert dispatcher.render_queue_depth() == 5 and sends(store, ids) == [0] * 5
    # two messages lost: two are sent again, of the jobs sent longest ago (first in line)
    lose(dispatcher, 2)
    assert store.sweep(now=later) == (2, 0)
    assert dispatcher.render_queue_depth() == 5 and sends(store, ids) == [1, 1, 0, 0, 0]
    # the whole queue lost: everything is sent again, each job after its own backoff
    lose(dispatcher)
    assert store.sweep(now=later) == (3, 0)
    assert store.sweep(now=later + timedelta(seconds=2 * stale_s + 1)) == (2, 0)
    assert dispatcher.render_queue_depth() == 5 and sends(store, ids) == [2, 2, 1, 1, 1]


class BlindDispatcher:
    """Cannot tell how deep the queue is (the broker does not answer)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []

    def render(self, job_id: str, revision: int) -> None:
        self.sent.append((job_id, revision))

    def deliver(self, delivery_id: int) -> None:
        pass

    def render_queue_depth(self) -> int:
        raise ConnectionError("the broker does not answer")


def test_a_queue_of_unknown_depth_is_swept_as_before(tmp_path: Path):
    dispatcher = BlindDispatcher()
    store = Store(Settings(data_dir=tmp_path), dispatcher)
    store.migrate()
    shop = store.create_shop("Laden")[0]
    ids = [store.submit(shop, {**BODY, "seed": seed}).job.id for seed in (1, 2)]
    later = utcnow() + timedelta(seconds=10 * store.settings.render_stale_s)
    assert store.sweep(now=later) == (2, 0)
    assert [job_id for job_id, _ in dispatcher.sent[2:]] == ids
    store.engine.dispose()
