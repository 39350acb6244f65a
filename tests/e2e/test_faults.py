"""Faults on the real parts (PostgreSQL, Redis, RabbitMQ, the processes `penpost serve`,
`penpost worker`, `penpost station` and `penpost simulate`), each followed by a check of
the invariants: nothing acknowledged with 201 is lost, every job is rendered exactly once
(one received → rendered row per revision in its audit trail) with whole artifacts, a card
stopped mid-plot is interrupted (pen lifted) and never plotted or retried by itself, and a
request the database dropped is a 503 that stored nothing.

Processes die by ``SIGKILL`` to their whole process group, as in a power cut or an OOM
kill; waiting is polling with deadlines. The webhook receiver being down for an hour is in
``tests/jobs/test_webhooks.py``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, text
from sqlalchemy import select as sql_select

from jobs import plotqueue
from jobs.db import Job, Transition
from jobs.render import render_companions, render_job
from jobs.schema import parse_job
from jobs.settings import Settings
from jobs.store import Store
from jobs.tasks import render_stored_job
from tests.conftest import need_tool
from tests.e2e.test_service import _rabbit_vhost, free_port, rabbitmq_available, redis_available

pytestmark = pytest.mark.slow

DEADLINE_S = 90
RENDER_STALE_S = 5  # the sweeper re-sends a render not done after this long
REDIS_DB = 7  # a Redis database of our own (the service e2e test uses 5, the bench 6)
DB_DOWN_MESSAGE = ("the job database cannot be reached; nothing was stored by this request, "
                   "try again shortly")
BODY = {"greeting": "Liebe Frau Schröder,", "font": "tech", "card": "a6-landscape",
        "message": "es tut uns leid, dass Ihre Bestellung zu spät kam. Als kleines Dankeschön "
                   "legen wir einen Gutschein über 10 € bei.", "closing": "Herzliche Grüße",
        "signature": "Ihr Team vom Blumenladen"}
ARTIFACTS = ("preview.pdf", "preview.png", "card.gcode", "card.svg")
# the download name of each artifact and the file the render wrote for it
RENDERED_FILE = {"preview.pdf": "preview.pdf", "preview.png": "card.png",
                 "card.gcode": "card.gcode", "card.svg": "card.svg"}


def wait_until(check: Callable[[], Any], what: str, *, deadline_s: float = DEADLINE_S,
               every_s: float = 0.1) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what`` after the
    deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {deadline_s:g} s waiting for {what}")


def kill9(process: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started (its session's process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


class Cluster:
    """One penpost installation on PostgreSQL and a broker: a data directory, settings
    in the environment, the processes started so far (each logging to a file), and a
    store of its own on the same database to look at the truth."""

    def __init__(self, tmp_path: Path, database_url: str, broker_url: str,
                 **settings: str) -> None:
        self.tmp = tmp_path
        self.data = tmp_path / "data"
        self.env = {**os.environ, "PENPOST_DATA_DIR": str(self.data),
                    "PENPOST_DATABASE_URL": database_url, "PENPOST_BROKER_URL": broker_url,
                    "PENPOST_SWEEP_INTERVAL_S": "1",
                    "PENPOST_RENDER_STALE_S": str(RENDER_STALE_S),
                    "PENPOST_RATE_LIMIT_PER_MINUTE": "100000"}
        self.env.update({f"PENPOST_{k.upper()}": v for k, v in settings.items()})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        self.store = Store(Settings(data_dir=self.data, database_url=database_url))
        self.store.migrate()  # before any process starts, so that none races another

    def start(self, *args: str) -> subprocess.Popen:
        log = self.tmp / f"{len(self.logs):02d}-{args[0]}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "jobs.cli", *args], env=self.env,
                                       stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        self.logs.append(log)
        return process

    def serve(self) -> subprocess.Popen:
        """The API with its sweeper (no worker beside it), once it answers."""
        process = self.start("serve", "--port", str(self.port), "--no-worker")
        wait_until(lambda: self._healthy(process), "the API to answer")
        return process

    def _healthy(self, process: subprocess.Popen) -> bool:
        assert process.poll() is None, f"the API ended:\n{self.log_tail()}"
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def worker(self, concurrency: int = 2) -> subprocess.Popen:
        return self.start("worker", "--concurrency", str(concurrency))

    def client(self, shop: str = "Blumenladen", timeout: float = 30) -> httpx.Client:
        """An HTTP client with the API key of a new shop."""
        key = self.store.create_shop(shop)[1]
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"},
                            timeout=timeout)

    def states(self) -> Counter[str]:
        """How many jobs are in each state (straight from the database)."""
        with self.store.session() as s:
            return Counter(dict(s.execute(sql_select(Job.state, func.count())
                                          .group_by(Job.state)).all()))

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for log in self.logs:
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill9(process)
        self.store.engine.dispose()


@pytest.fixture
def redis_url() -> str:
    need_tool(redis_available(), "Redis is not reachable at 127.0.0.1:6379")
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()
    return f"redis://127.0.0.1:6379/{REDIS_DB}"


@pytest.fixture
def rabbitmq_url(request: pytest.FixtureRequest) -> str:
    need_tool(rabbitmq_available(), "RabbitMQ is not reachable at 127.0.0.1:5672")
    return f"amqp://guest:guest@127.0.0.1:5672/{_rabbit_vhost(request)}"


@pytest.fixture
def make_cluster(tmp_path: Path, pg_database: str) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(broker_url: str, **settings: str) -> Cluster:
        cluster = Cluster(tmp_path, pg_database, broker_url, **settings)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.close()


# ---------------------------------------------------------------- the invariants


def transitions(api: httpx.Client, job_id: str) -> list[tuple[str | None, str, int]]:
    r = api.get(f"/v1/jobs/{job_id}/events")
    assert r.status_code == 200, r.text
    return [(t["from_state"], t["to_state"], t["revision"]) for t in r.json()["transitions"]]


def assert_rendered_once(api: httpx.Client, job_ids: list[str]) -> None:
    """Every job is rendered, with exactly one received → rendered transition (and one
    'received' at its start): the render ran once as far as the world can tell."""
    for job_id in job_ids:
        job = api.get(f"/v1/jobs/{job_id}").json()
        assert job["state"] == "rendered", job
        moves = transitions(api, job_id)
        assert moves == [(None, "received", 1), ("received", "rendered", 1)], (job_id, moves)


def assert_artifacts_whole(api: httpx.Client, job_ids: list[str], *, dpi: int) -> None:
    """Every artifact downloads with the sha256 the store recorded (the ETag), and is the
    very bytes a fresh render of the job gives (a revision and its seed, same bytes)."""
    for job_id in job_ids:
        job = api.get(f"/v1/jobs/{job_id}").json()
        rendered = render_job(parse_job(job["request"]), dpi=dpi, profile="grbl-servo")
        files = {**rendered.files, **render_companions(rendered, profile="grbl-servo")}
        for name in ARTIFACTS:
            r = api.get(f"/v1/jobs/{job_id}/{name}")
            assert r.status_code == 200, (job_id, name, r.text)
            digest = hashlib.sha256(r.content).hexdigest()
            assert r.headers["etag"] == f'"{digest}"', (job_id, name, "not whole")
            assert r.content == files[RENDERED_FILE[name]], (job_id, name, "not deterministic")


def submit(api: httpx.Client, n: int, *, seed0: int = 1, body: dict | None = None) -> list[str]:
    ids = []
    for i in range(n):
        r = api.post("/v1/jobs", json={**(body or BODY), "seed": seed0 + i})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def kill_worker_among_renders(cluster: Cluster, api: httpx.Client, jobs: int,
                              first: int) -> tuple[list[str], int]:
    """Submit ``jobs`` jobs, start a worker and ``kill -9`` it once ``first`` are rendered
    (300 dpi previews: a render takes ~0.3 s, so the kill lands among the renders).
    Returns the job ids and how many were rendered before the kill."""
    ids = submit(api, jobs)
    worker = cluster.worker(concurrency=2)
    wait_until(lambda: cluster.states()["rendered"] >= first, "the first renders",
               every_s=0.02)
    kill9(worker)
    rendered = cluster.states()["rendered"]
    assert rendered < len(ids), "the worker finished everything before the kill"
    return ids, rendered


# ---------------------------------------------------------------- 1. a render worker dies


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def test_a_render_worker_killed_mid_render_leaves_every_job_rendered_once(make_cluster,
                                                                         broker_url):
    cluster = make_cluster(broker_url, preview_dpi="300")
    cluster.serve()
    api = cluster.client()
    ids, rendered = kill_worker_among_renders(cluster, api, 18, first=3)
    # RabbitMQ hands the dead worker's unacknowledged messages to the next one at once;
    # Redis keeps them for its visibility timeout (an hour), and the API's sweeper sends
    # those renders again after RENDER_STALE_S
    cluster.worker(concurrency=2)
    wait_until(lambda: cluster.states() == Counter(rendered=len(ids)),
               f"all {len(ids)} jobs rendered after the kill ({rendered} were before)")
    assert_rendered_once(api, ids)
    assert_artifacts_whole(api, ids, dpi=300)


# ---------------------------------------------------------------- 2. the API dies


def test_the_api_killed_right_after_a_201_loses_no_job(make_cluster, redis_url):
    cluster = make_cluster(redis_url)
    api_process = cluster.serve()
    api = cluster.client()
    single = api.post("/v1/jobs", json={**BODY, "seed": 1})
    assert single.status_code == 201, single.text
    batch = api.post("/v1/batches", json={"jobs": [{**BODY, "seed": 2}, {**BODY, "seed": 3}]})
    assert batch.status_code == 201, batch.text
    kill9(api_process)  # right after the 201, with no worker running yet
    ids = [single.json()["id"]] + [j["id"] for j in batch.json()["jobs"]]

    cluster.serve()
    for job_id in ids:
        r = api.get(f"/v1/jobs/{job_id}")
        assert r.status_code == 200 and r.json()["state"] == "received", r.text
    cluster.worker(concurrency=1)
    wait_until(lambda: cluster.states() == Counter(rendered=len(ids)), "the jobs rendered")
    assert_rendered_once(api, ids)
    assert_artifacts_whole(api, ids, dpi=150)


# ---------------------------------------------------------------- 3. a station dies


def test_a_station_killed_mid_card_leaves_the_card_interrupted_pen_up(make_cluster):
    cluster = make_cluster("memory://")  # stations need no broker
    store = cluster.store  # no dispatcher: renders run right here
    shop = store.create_shop("Laden")[0]

    def approved(seed: int) -> str:
        job_id = store.submit(shop, {**BODY, "seed": seed}).job.id
        assert render_stored_job(store, job_id, 1) == "rendered"
        store.approve(shop.id, job_id, "approver")
        return job_id

    job_id = approved(7)
    # the controller is a process of its own, so it outlives the station; at this time
    # scale the card (about 125 simulated seconds) takes some 12 s
    simulator = cluster.start("simulate", "--profile", "grbl-servo", "--time-scale", "0.1")
    port = _pty_path(cluster.logs[-1], simulator)

    def station() -> subprocess.Popen:
        return cluster.start("station", "--name", "S1", "--port", port, "--no-terminal")

    def status() -> str | None:
        return plotqueue.station(store, "S1").status if plotqueue.stations(store) else None

    first = station()
    wait_until(lambda: status() == "waiting_load", "the load prompt")
    plotqueue.post_command(store, "S1", "load_done", "operator")

    def writing() -> bool:
        progress = plotqueue.station(store, "S1").progress or {}
        return store.job(None, job_id).state == "plotting" and progress.get("strokes_done", 0) >= 3

    wait_until(writing, "the pen to be writing", every_s=0.05)
    kill9(first)
    assert store.job(None, job_id).state == "plotting"  # nobody was left to say otherwise
    assert (plotqueue.station(store, "S1").progress or {}).get("outcome") is None

    second = station()  # on the same controller, which kept running
    wait_until(lambda: store.job(None, job_id).state == "interrupted", "the card interrupted")
    job = store.job(None, job_id)
    assert "pen lifted on restart" in job.error, job.error  # the controller confirmed the lift
    moves = _moves(store, job_id)
    assert moves[-2:] == [("queued", "plotting", "plotting on S1"),
                          ("plotting", "interrupted", job.error)]
    assert "restart" in moves[-1][2]
    assert status() == "interrupted"

    # the station goes on with the next card, not with the interrupted one
    next_id = approved(8)
    wait_until(lambda: status() == "waiting_load"
               and plotqueue.station(store, "S1").current_job_id == next_id,
               "the load prompt for the next card")
    assert store.job(None, job_id).state == "interrupted"
    assert job_id not in [j.id for j in plotqueue.queue_of(store, "S1")]

    # the operator takes the spoiled card out and says so: a reprint, first in line
    plotqueue.post_command(store, "S1", "spoiled", "operator")
    wait_until(lambda: store.job(None, job_id).state == "queued", "the reprint queued")
    assert _moves(store, job_id)[-1] == ("interrupted", "queued",
                                         "spoiled card: queued again as a reprint")
    os.killpg(second.pid, signal.SIGTERM)  # a clean stop: the next card was not started
    assert second.wait(timeout=30) == 0, cluster.log_tail()
    assert [j.id for j in plotqueue.queue_of(store, "S1")] == [job_id, next_id]
    for card in (job_id, next_id):  # neither was ever reported plotted
        assert "plotted" not in [to for _, to, _ in _moves(store, card)]
    assert simulator.poll() is None


def test_cards_queued_on_a_station_killed_for_good_are_plotted_by_another(make_cluster):
    # PENPOST_STATION_STALE_S: the setting the fix is expected to read (3 s here)
    cluster = make_cluster("memory://", station_stale_s="3")
    store = cluster.store
    shop = store.create_shop("Laden")[0]
    ids = []
    for seed in (1, 2):
        ids.append(store.submit(shop, {**BODY, "seed": seed}).job.id)
        assert render_stored_job(store, ids[-1], 1) == "rendered"
    stations = {name: cluster.start("station", "--name", name, "--simulate",
                                    "--time-scale", "0", "--no-terminal")
                for name in ("S1", "S2")}

    def status(name: str) -> tuple[str, str | None] | None:
        rows = {row.name: row for row in plotqueue.stations(store)}
        return (rows[name].status, rows[name].current_job_id) if name in rows else None

    wait_until(lambda: status("S1") and status("S2"), "both stations online")
    for job_id in ids:  # least queued plot time: the first to S1, the second to S2
        store.approve(shop.id, job_id, "approver")
    assert [store.job(None, j).station for j in ids] == ["S1", "S2"]
    wait_until(lambda: status("S1") == ("waiting_load", ids[0]), "S1 asking for stock")
    kill9(stations["S1"])  # and it never comes back

    wait_until(lambda: status("S2") == ("waiting_load", ids[1]), "S2 asking for stock")
    plotqueue.post_command(store, "S2", "load_done", "operator")
    wait_until(lambda: store.job(None, ids[1]).state == "plotted", "S2's own card plotted")
    # S1's card must not wait for S1 for ever: S2 takes it once S1 is seen to be gone
    wait_until(lambda: status("S2") == ("waiting_load", ids[0]),
               "S2 to take the card of the dead S1", deadline_s=20)
    plotqueue.post_command(store, "S2", "load_done", "operator")
    wait_until(lambda: store.job(None, ids[0]).state == "plotted", "S1's card plotted on S2")


def _pty_path(log: Path, process: subprocess.Popen) -> str:
    def path() -> str | None:
        assert process.poll() is None, log.read_text(errors="replace")
        found = re.search(r"^(/dev/\S+)$", log.read_text(errors="replace"), re.MULTILINE)
        return found.group(1) if found else None

    return wait_until(path, "the simulator's pty path", deadline_s=60)


def _moves(store: Store, job_id: str) -> list[tuple[str | None, str, str | None]]:
    with store.session() as s:
        rows = s.scalars(sql_select(Transition).where(Transition.job_id == job_id)
                         .order_by(Transition.id))
        return [(r.from_state, r.to_state, r.reason) for r in rows]


# ---------------------------------------------------------------- 4. the broker restarts


class Broker:
    """Stops and starts a broker server. Redis: a private ``redis-server`` of the test's
    own on a free port (stopped with SIGKILL, started again on the same port), so the
    machine's shared Redis is never shut down; RabbitMQ: ``rabbitmqctl stop_app`` /
    ``start_app``, which keeps the node itself running."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.ctl = shutil.which("rabbitmqctl") if kind == "rabbitmq" else None
        self.port = free_port() if kind == "redis" else 5672
        self.dir = tmp_path / "redis"
        self.process: subprocess.Popen | None = None
        if kind == "redis":
            self.dir.mkdir()
            self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.kind == "redis":
            if self.process is not None:
                self.process.kill()  # as a crash would: no goodbye to the clients
                self.process.wait(timeout=20)
                self.process = None
            wait_until(lambda: not _port_open(self.port), "Redis to stop")
        else:
            subprocess.run([self.ctl, "stop_app"], check=True, capture_output=True, timeout=120)
            wait_until(lambda: not _port_open(5672), "RabbitMQ to stop listening")

    def start(self) -> None:
        if self.kind == "redis":
            if self.process is None:
                self.process = subprocess.Popen(
                    ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
                     "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_until(lambda: _port_open(self.port), "Redis to answer")
        else:
            subprocess.run([self.ctl, "start_app"], check=True, capture_output=True, timeout=120)
            wait_until(lambda: _port_open(5672), "RabbitMQ to listen")

    def close(self) -> None:
        """Leave the machine as it was: the private Redis gone, RabbitMQ running."""
        if self.kind == "redis":
            if self.process is not None:
                self.process.kill()
                self.process.wait(timeout=20)
        else:
            self.start()


def _port_open(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Broker, str]]:
    if request.param == "redis":
        if shutil.which("redis-server") is None:
            need_tool(False, "redis-server is not on PATH: cannot run a Redis to restart")
        server = Broker("redis", tmp_path)
        url = server.url
    else:
        url = request.getfixturevalue("rabbitmq_url")
        if shutil.which("rabbitmqctl") is None or url.endswith("/"):
            need_tool(False, "rabbitmqctl is not usable: cannot restart RabbitMQ")
        server = Broker("rabbitmq", tmp_path)
    try:
        yield server, url
    finally:
        server.close()


def test_a_broker_restart_loses_no_job_and_workers_reconnect(make_cluster, broker):
    server, url = broker
    cluster = make_cluster(url)
    cluster.serve()
    worker = cluster.worker(concurrency=2)
    api = cluster.client()
    before = submit(api, 6, seed0=1)
    wait_until(lambda: cluster.states()["rendered"] >= 1, "the worker to render")
    server.stop()
    during, slowest = [], 0.0
    for i in range(4):  # the hand-over fails and is swallowed: still 201, the job is stored
        start = time.monotonic()
        r = api.post("/v1/jobs", json={**BODY, "seed": 100 + i}, timeout=20)
        slowest = max(slowest, time.monotonic() - start)
        assert r.status_code == 201, r.text
        during.append(r.json()["id"])
    server.start()
    after = submit(api, 4, seed0=200)
    ids = before + during + after
    wait_until(lambda: cluster.states() == Counter(rendered=len(ids)),
               f"all {len(ids)} jobs rendered after the broker restart", deadline_s=120)
    assert worker.poll() is None, "the worker did not survive the broker restart"
    assert_rendered_once(api, ids)
    assert slowest < 15, f"a POST took {slowest:.1f} s while the broker was down"


# ---------------------------------------------------------------- 5. the database drops us


def test_database_connections_lost_mid_request_give_503_and_no_half_made_job(
        make_cluster, redis_url):
    cluster = make_cluster(redis_url)
    cluster.serve()  # no worker: this is about the API's requests
    api = cluster.client()
    # one request first: the API's first job loads its font (about a second), and this
    # test is about requests cut off by the database, not about a cold start
    assert api.post("/v1/jobs", json={**BODY, "seed": 0}).status_code == 201
    database = cluster.store.engine.url.database
    answers: list[tuple[str, int, dict]] = []  # idempotency key, status, body
    stop = threading.Event()
    lock = threading.Lock()

    def client(number: int) -> None:
        with httpx.Client(base_url=api.base_url, headers=api.headers, timeout=30) as own:
            i = 0
            while not stop.is_set():
                key = f"c{number}-{i}"
                r = own.post("/v1/jobs", json={**BODY, "seed": number * 1000 + i},
                             headers={"Idempotency-Key": key})
                with lock:
                    answers.append((key, r.status_code, r.json()))
                i += 1

    killed = 0

    def terminate_backends() -> None:
        nonlocal killed
        with cluster.store.engine.connect() as conn:
            killed += len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}).all())

    clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in clients:
        thread.start()
    try:
        for _ in range(12):
            time.sleep(0.35)  # let requests get under way, then cut them off
            terminate_backends()
    finally:
        stop.set()
        for thread in clients:
            thread.join(60)

    statuses = Counter(status for _, status, _ in answers)
    assert set(statuses) <= {201, 503}, statuses
    assert statuses[503] >= 1, f"no request was cut off ({killed} backends ended): {statuses}"
    assert statuses[201] >= 10, statuses
    for _, status, body in answers:
        if status == 503:
            assert body == {"error": "database_unavailable", "message": DB_DOWN_MESSAGE}

    created = {key: body["id"] for key, status, body in answers if status == 201}
    refused = {key for key, status, _ in answers if status == 503}
    with cluster.store.session() as s:
        stored = dict(s.execute(sql_select(Job.idempotency_key, Job.id)).all())
        received = set(s.scalars(sql_select(Transition.job_id)
                                 .where(Transition.to_state == "received")))
    assert {k: stored.get(k) for k in created} == created  # every 201 is there
    assert not refused & set(stored), "a 503 said nothing was stored, but a job was"
    assert set(stored.values()) <= received  # no job without its 'received' audit row
    assert cluster.states() == Counter(received=len(stored))
    # the API's connection pool recovered: the next request is served as usual
    again = api.post("/v1/jobs", json={**BODY, "seed": 1})
    assert again.status_code == 201, again.text
    assert api.get(f"/v1/jobs/{again.json()['id']}").status_code == 200
