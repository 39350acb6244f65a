"""The job service benchmark: jobs per second from submit to rendered, and the latency of
``POST /v1/jobs``, on the embedded default (SQLite + file broker, the worker `penpost serve`
starts) and on PostgreSQL + Redis with two render workers, side by side."""

from __future__ import annotations

import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich import box
from rich.table import Table

from jobs.servicecli import api_answers, free_port, stop_processes

JOBS = 80
CLIENTS = 8
BODY = {"greeting": "Liebe Frau Schröder,", "font": "tech", "card": "a6-landscape",
        "message": "es tut uns leid, dass Ihre Bestellung zu spät kam. Als kleines Dankeschön "
                   "legen wir einen Gutschein über 10 € bei.", "closing": "Herzliche Grüße",
        "signature": "Ihr Team vom Blumenladen"}


@dataclass(frozen=True)
class ServiceRow:
    setup: str
    jobs: int
    submit_per_s: float
    rendered_per_s: float
    p50_ms: float
    p99_ms: float


def _penpost(args: list[str], env: dict[str, str], background: bool = False):  # noqa: ANN202
    command = [sys.executable, "-m", "jobs.cli", *args]
    if background:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout


def _wait(check, seconds: float = 300) -> None:  # noqa: ANN001
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out")


def _run(setup: str, env: dict[str, str], workers: list[list[str]], serve_args: list[str]
         ) -> ServiceRow:
    out = _penpost(["shops", "create", f"bench-{secrets.token_hex(3)}"], env)
    key = re.search(r"store it now\): (\S+)", out).group(1)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    processes = [_penpost(["serve", "--port", str(port), *serve_args], env, background=True)]
    processes += [_penpost(args, env, background=True) for args in workers]
    try:
        _wait(lambda: api_answers(url), 60)
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                              timeout=60)
        client.post("/v1/jobs", json={**BODY, "seed": 0})  # warm: fonts loaded in the API

        def submit(i: int) -> tuple[float, str]:
            start = time.perf_counter()
            r = client.post("/v1/jobs", json={**BODY, "seed": i + 1})
            assert r.status_code == 201, r.text
            return time.perf_counter() - start, r.json()["id"]

        t0 = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(submit, range(JOBS)))
        submitted = time.perf_counter() - t0

        def all_rendered() -> bool:
            page = client.get("/v1/jobs", params={"state": "received", "limit": 1}).json()
            return not page["jobs"]

        _wait(all_rendered)
        rendered = time.perf_counter() - t0
        latencies = sorted(r[0] * 1000 for r in results)
        return ServiceRow(setup, JOBS, JOBS / submitted, JOBS / rendered,
                          statistics.median(latencies),
                          latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))])
    finally:
        stop_processes(processes)


def measure_service() -> list[ServiceRow]:
    """Both setups, one after the other (each gets the machine's two cores)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PENPOST_DATA_DIR": str(Path(tmp) / "embedded"),
               "PENPOST_RATE_LIMIT_PER_MINUTE": "100000"}
        env.pop("PENPOST_DATABASE_URL", None)
        env.pop("PENPOST_BROKER_URL", None)
        rows.append(_run("embedded: SQLite + file broker, 1 worker x 2", env, [],
                         ["--concurrency", "2"]))
        try:
            import psycopg
            import redis

            redis.Redis(host="127.0.0.1", port=6379, db=6).flushdb()
            name = f"penpost_bench_{secrets.token_hex(4)}"
            admin = "host=127.0.0.1 port=5432 user=postgres dbname=test"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except Exception as error:  # noqa: BLE001
            print(f"PostgreSQL/Redis not reachable ({error}); scale-out row skipped")
            return rows
        try:
            env = {**env, "PENPOST_DATA_DIR": str(Path(tmp) / "scale"),
                   "PENPOST_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
                   "PENPOST_BROKER_URL": "redis://127.0.0.1:6379/6"}
            worker = ["worker", "--concurrency", "1"]
            rows.append(_run("PostgreSQL + Redis, 2 workers x 1", env, [worker, worker],
                             ["--no-worker"]))
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return rows


def service_table(rows: list[ServiceRow]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=f"job service: {JOBS} jobs from {CLIENTS} clients "
                  "over HTTP, submit to rendered")
    for column in ("setup", "jobs", "submitted/s", "rendered/s", "POST p50 ms", "POST p99 ms"):
        table.add_column(column, justify="left" if column == "setup" else "right")
    for r in rows:
        table.add_row(r.setup, str(r.jobs), f"{r.submit_per_s:.1f}", f"{r.rendered_per_s:.1f}",
                      f"{r.p50_ms:.0f}", f"{r.p99_ms:.0f}")
    return table
