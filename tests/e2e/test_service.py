"""The whole service over HTTP: `penpost serve` (uvicorn) with a real Celery worker, on the
embedded default (SQLite + file broker) and on PostgreSQL + Redis. Submit, render, approve,
edit and re-approve, reject, cancel, idempotent retry, shop isolation, signed webhooks, and
the preview PDF drawing the G-code's strokes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from cards.formats import card_format
from cards.preview import pdf_strokes
from jobs.cli import example_jobs
from jobs.servicecli import api_answers, free_port, stop_processes
from plotter.gcode import read_strokes
from plotter.profile import load_profile
from tests.conftest import need_tool, postgres_available
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.slow
DEADLINE_S = 90


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2).ping())
    except Exception:  # noqa: BLE001
        return False


def penpost(*args: str, env: dict[str, str], **kw) -> subprocess.Popen | str:
    command = [sys.executable, "-m", "jobs.cli", *args]
    if kw.get("background"):
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_for(check: Callable[[], object], what: str) -> object:
    """Poll ``check`` until it returns something true, or fail after DEADLINE_S."""
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen) -> None:
    stop_processes([process])


class Service:
    """A running penpost service (API + worker processes) and its settings."""

    def __init__(self, env: dict[str, str], port: int, processes: list[subprocess.Popen]):
        self.env, self.port, self.processes = env, port, processes
        self.url = f"http://127.0.0.1:{port}"

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"},
                            timeout=30)

    def create_shop(self, name: str) -> str:
        out = penpost("shops", "create", name, env=self.env)
        assert isinstance(out, str)
        return re.search(r"API key \(shown once, store it now\): (\S+)", out).group(1)


def rabbitmq_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(params=["embedded", "postgresql+redis", "postgresql+rabbitmq"])
def service(request, tmp_path: Path) -> Iterator[Service]:
    env = {**os.environ, "PENPOST_DATA_DIR": str(tmp_path / "data"),
           "PENPOST_SWEEP_INTERVAL_S": "1", "PENPOST_RENDER_STALE_S": "10"}
    port = free_port()
    processes = []
    if request.param == "embedded":
        processes.append(penpost("serve", "--port", str(port), "--concurrency", "1",
                                 env=env, background=True))
    else:
        need_tool(postgres_available(), "PostgreSQL is not reachable at 127.0.0.1:5432")
        if request.param.endswith("redis"):
            need_tool(redis_available(), "Redis is not reachable at 127.0.0.1:6379")
            import redis

            redis.Redis(host="127.0.0.1", port=6379, db=5).flushdb()
            broker = "redis://127.0.0.1:6379/5"
        else:
            need_tool(rabbitmq_available(), "RabbitMQ is not reachable at 127.0.0.1:5672")
            vhost = _rabbit_vhost(request)
            broker = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        database = request.getfixturevalue("pg_database")
        env.update(PENPOST_DATABASE_URL=database, PENPOST_BROKER_URL=broker)
        processes.append(penpost("serve", "--port", str(port), "--no-worker", env=env,
                                 background=True))
        processes.append(penpost("worker", "--concurrency", "2", env=env, background=True))
    service = Service(env, port, processes)
    try:
        try:
            wait_for(lambda: api_answers(service.url), "the API to answer")
        except AssertionError:  # say why: the processes' last words
            for process in processes:
                stop(process)
            raise AssertionError("the API did not answer; " + " | ".join(
                f"{p.args[3:5]} exit {p.returncode}: "
                f"{p.stderr.read()[-1500:].decode(errors='replace')}" for p in processes)) from None
        yield service
    finally:
        for process in processes:
            stop(process)


def _rabbit_vhost(request) -> str:
    """A fresh RabbitMQ virtual host for one test (deleted afterwards), so no message of
    another run is consumed; the default vhost when rabbitmqctl is not at hand."""
    import shutil

    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return ""
    name = f"penpost-{os.getpid()}-{int(time.monotonic() * 1000)}"
    made = subprocess.run([ctl, "add_vhost", name], capture_output=True, timeout=60)
    if made.returncode != 0:
        return ""
    subprocess.run([ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                   capture_output=True, timeout=60, check=True)
    request.addfinalizer(lambda: subprocess.run([ctl, "delete_vhost", name],
                                                capture_output=True, timeout=60))
    return name


def wait_state(client: httpx.Client, job_id: str, state: str, revision: int = 1) -> dict:
    def check() -> dict | None:
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["state"] != "failed", job["error"]
        return job if job["state"] == state and job["revision"] == revision else None

    return wait_for(check, f"job {job_id} to be {state} at revision {revision}")


def test_the_way_of_a_job_over_http(service: Service):
    receiver = Receiver()
    try:
        key = service.create_shop("Blumenladen Sonnenschein")
        other_key = service.create_shop("Konkurrenz")
        api = service.client(key)
        shop = api.patch("/v1/shop", json={"webhook_url": receiver.url}).json()
        receiver.secret = shop["webhook_secret"]

        bodies = [Path(p).read_text(encoding="utf-8") for p in example_jobs()]
        ids = []
        for number, body in enumerate(bodies):
            r = api.post("/v1/jobs", content=body.encode(), headers={
                "Content-Type": "application/json", "Idempotency-Key": f"order-{number}"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        # an idempotent retry (a client that lost the 201) gets the same job
        retry = api.post("/v1/jobs", content=bodies[0].encode(), headers={
            "Content-Type": "application/json", "Idempotency-Key": "order-0"})
        assert retry.status_code == 200 and retry.json()["id"] == ids[0]

        jobs = [wait_state(api, job_id, "rendered") for job_id in ids]

        # what you approve is what is plotted: preview PDF strokes == G-code strokes
        first = jobs[0]
        card = card_format(first["request"]["card"])
        gcode = api.get(first["links"]["gcode"]).text
        planned = read_strokes(gcode, load_profile("grbl-servo"), card.width_mm, card.height_mm)
        previewed = pdf_strokes(api.get(first["links"]["preview_pdf"]).content)
        assert len(previewed) == len(planned.strokes)
        assert max(float(np.abs(a - b).max()) for a, b in zip(previewed, planned.strokes,
                                                               strict=True)) < 0.01

        # approve one; edit another and approve its new revision; reject; cancel
        assert api.post(f"/v1/jobs/{ids[0]}/approve").json()["state"] == "queued"
        edited = api.patch(f"/v1/jobs/{ids[1]}", json={"closing": "Mit herzlichen Grüßen"})
        assert edited.status_code == 200 and edited.json()["revision"] == 2
        wait_state(api, ids[1], "rendered", revision=2)
        assert api.post(f"/v1/jobs/{ids[1]}/approve").json()["state"] == "queued"
        rejected = api.post(f"/v1/jobs/{ids[2]}/reject", json={"reason": "zu förmlich"})
        assert rejected.json()["state"] == "rejected"
        assert api.post(f"/v1/jobs/{ids[3]}/cancel").json()["state"] == "cancelled"
        r = api.post(f"/v1/jobs/{ids[3]}/approve")
        assert r.status_code == 409 and r.json()["state"] == "cancelled"

        # another shop sees none of it
        other = service.client(other_key)
        assert other.get(f"/v1/jobs/{ids[0]}").status_code == 404
        assert other.get(f"/v1/jobs/{ids[0]}/preview.pdf").status_code == 404
        assert other.get("/v1/jobs").json()["jobs"] == []

        # every state change reached the shop, signed (the receiver verified each)
        expected = {(ids[0], "job.queued"), (ids[1], "job.queued"), (ids[2], "job.rejected"),
                    (ids[3], "job.cancelled")}
        wait_for(lambda: expected <= {(e["job"]["id"], e["event"]) for e in receiver.received},
                 "webhooks")
        events = api.get(f"/v1/jobs/{ids[1]}/events").json()
        assert [t["to_state"] for t in events["transitions"]] == [
            "received", "rendered", "received", "rendered", "approved", "queued"]
        assert {d["status"] for d in events["deliveries"]} <= {"delivered", "pending"}
    finally:
        receiver.close()
