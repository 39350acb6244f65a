"""Redis hands a killed worker's messages out again after ``broker_visibility_timeout_s``
(not Celery's default hour), with the sweeper out of the way: PostgreSQL, Redis and the
processes ``penpost serve`` and ``penpost worker``, the worker killed by ``SIGKILL``."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need_tool
from tests.e2e.test_faults import (
    Cluster,
    assert_rendered_once,
    kill_worker_among_renders,
    wait_until,
)
from tests.e2e.test_service import redis_available

pytestmark = pytest.mark.slow

REDIS_DB = 9  # a Redis database of our own (service 5, bench 6, faults 7, tests/jobs 8)
VISIBILITY_S = 3


@pytest.fixture
def cluster(tmp_path: Path, pg_database: str) -> Iterator[Cluster]:
    need_tool(redis_available(), "Redis is not reachable at 127.0.0.1:6379")
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    client.flushdb()
    # the sweeper would send lost renders again after an hour: only Redis brings them back
    made = Cluster(tmp_path, pg_database, f"redis://127.0.0.1:6379/{REDIS_DB}",
                   render_stale_s="3600", broker_visibility_timeout_s=str(VISIBILITY_S),
                   preview_dpi="300")
    yield made
    made.close()
    client.flushdb()


def test_a_killed_workers_renders_come_back_after_the_visibility_timeout(cluster):
    cluster.serve()
    api = cluster.client()
    ids, rendered = kill_worker_among_renders(cluster, api, 12, first=2)
    # the dead worker's taken messages are hidden for VISIBILITY_S; a worker starting
    # after that looks for them at once (and then every 100 s, kombu's default)
    time.sleep(VISIBILITY_S + 1)
    cluster.worker(concurrency=2)
    wait_until(lambda: cluster.states() == Counter(rendered=len(ids)),
               f"all {len(ids)} jobs rendered after the kill ({rendered} were before)",
               deadline_s=60)
    assert_rendered_once(api, ids)
