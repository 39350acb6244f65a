"""A bounded load test on the scale-out setup: 300 jobs submitted over HTTP by 20
concurrent clients against PostgreSQL + RabbitMQ with two render workers. Every 201 is
rendered; none is lost or duplicated (the shop's job list, paged with its cursor, holds
each id once, and each job has exactly one received → rendered transition). And a backlog
that outlasts ``render_stale_s`` must not flood the broker with re-sent renders. The
full-size figures (10 000 jobs, 50 clients, 1 and 2 workers) are
``python -m tests.bench load``."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import need_tool
from tests.e2e.test_faults import BODY, Cluster, transitions, wait_until
from tests.e2e.test_service import _rabbit_vhost, rabbitmq_available

pytestmark = pytest.mark.slow

JOBS = 300
CLIENTS = 20
PAGE = 40  # small pages, so that the cursor is used a few times


@pytest.fixture
def rabbitmq_url(request: pytest.FixtureRequest) -> str:
    need_tool(rabbitmq_available(), "RabbitMQ is not reachable at 127.0.0.1:5672")
    return f"amqp://guest:guest@127.0.0.1:5672/{_rabbit_vhost(request)}"


def test_300_jobs_from_20_clients_are_each_rendered_exactly_once(tmp_path: Path,
                                                                 pg_database: str,
                                                                 rabbitmq_url: str):
    cluster = Cluster(tmp_path, pg_database, rabbitmq_url)
    try:
        cluster.serve()
        for _ in range(2):
            cluster.worker(concurrency=1)
        api = cluster.client()

        def post(i: int) -> httpx.Response:
            return api.post("/v1/jobs", json={**BODY, "seed": i + 1})

        with ThreadPoolExecutor(CLIENTS) as pool:  # httpx.Client is safe across threads
            answers = list(pool.map(post, range(JOBS)))
        assert Counter(r.status_code for r in answers) == Counter({201: JOBS})
        created = [r.json()["id"] for r in answers]
        assert len(set(created)) == JOBS

        wait_until(lambda: cluster.states() == Counter(rendered=JOBS),
                   f"all {JOBS} jobs rendered", deadline_s=150, every_s=0.5)

        listed, cursor, pages = [], None, 0
        while True:
            params = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
            page = api.get("/v1/jobs", params=params).json()
            listed += [job["id"] for job in page["jobs"]]
            assert {job["state"] for job in page["jobs"]} <= {"rendered"}
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == -(-JOBS // PAGE)
        assert len(listed) == len(set(listed)) == JOBS  # nothing listed twice
        assert set(listed) == set(created)  # nothing lost, nothing extra

        def rendered_moves(job_id: str) -> int:
            return sum(1 for m in transitions(api, job_id) if m == ("received", "rendered", 1))

        with ThreadPoolExecutor(8) as pool:
            counts = Counter(pool.map(rendered_moves, created))
        assert counts == Counter({1: JOBS}), counts  # each rendered exactly once
    finally:
        cluster.close()


def test_a_backlog_longer_than_render_stale_s_is_not_flooded_with_re_sends(
        tmp_path: Path, pg_database: str, rabbitmq_url: str):
    stale_s = 1.0
    cluster = Cluster(tmp_path, pg_database, rabbitmq_url, render_stale_s=str(stale_s),
                      sweep_interval_s="0.25")
    try:
        cluster.serve()  # and no worker: the jobs wait in the queue, as behind a backlog
        api = cluster.client()
        jobs = 20
        for i in range(jobs):
            assert api.post("/v1/jobs", json={**BODY, "seed": i + 1}).status_code == 201
        from kombu import Connection

        with Connection(rabbitmq_url) as broker:
            channel = broker.default_channel

            def queued() -> int:
                return channel.queue_declare("render", passive=True).message_count

            # a job waiting 8 x render_stale_s may be sent again a few times (a backoff:
            # after 1, 2 and 4 x render_stale_s), not once every render_stale_s
            allowed = jobs * 4
            end = time.monotonic() + 8 * stale_s
            while time.monotonic() < end:
                assert queued() <= allowed, (
                    f"{queued()} render messages for {jobs} waiting jobs")
                time.sleep(0.1)
            assert cluster.states() == Counter(received=jobs)
    finally:
        cluster.close()
