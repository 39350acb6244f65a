"""The load benchmarks of the scale-out issue, on PostgreSQL + RabbitMQ.

(a) Many jobs over HTTP: ``JOBS`` jobs (env ``PENPOST_BENCH_JOBS``) from 50 concurrent
clients to ``penpost serve``; one ``penpost worker`` renders while they are submitted and
until half are rendered, then a second one joins. Printed: submit throughput, POST p50/p99
latency, render throughput with 1 and with 2 workers, the queue depth over time (jobs still
'received', and messages ready in the broker's render queue, sampled every second) and how
many jobs were lost or rendered twice; then how many render messages the backlog left in
the broker and how long a job submitted right after waits. 10 000 jobs take about 45 min
on 2 cores (measured 2026-11-25 with 1 500: 124 submits/s, POST p50 380 ms and p99
741 ms, 2.8 renders/s with one worker and 5.5 with two, none lost or rendered twice). The default is
the issue's 10 000; ``PENPOST_BENCH_JOBS=3000`` runs a shorter load (11 min) and
extrapolates the 10 000-job time from its rates.

(b) A simulated day: 20 stations (``jobs.station.Station`` with simulated controllers at
``DAY_SCALE`` wall seconds per simulated second, in two processes so that both cores
work), plotting approved cards from the queue, with an operator who loads each card the
moment a station asks. Printed per station: cards per hour against the best possible
(3600 / mean planner estimate of the cards), plot time against the estimate, and the share
of the day it stood idle (claiming, asking for stock, recording: wall time that a faster
clock does not shrink, so it is also given at real time, extrapolated). A simulated
station costs about 5 ms of CPU per simulated second (streamer and controller), so 20 of
them run at 10x real time with some headroom on 2 cores, not much faster: the default is
the first half hour of the day (3 min); ``PENPOST_BENCH_DAY_HOURS=8`` runs a whole shift
(48 min).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich import box
from rich.table import Table
from rich.text import Text

from jobs.servicecli import api_answers, free_port, stop_processes
from tests.bench.service import BODY, _penpost, _wait

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
FULL_JOBS = 10_000  # the figure
JOBS = int(os.environ.get("PENPOST_BENCH_JOBS", str(FULL_JOBS)))  # ~45 min on 2 cores
PROBE_CAP_S = 300
CLIENTS = 50
STATIONS = 20
DAY_SCALE = 0.1  # wall seconds per simulated second: ten times real time
DAY_HOURS = float(os.environ.get("PENPOST_BENCH_DAY_HOURS", "0.5"))  # simulated hours run
STATION_PROCESSES = 2
LOAD_POLL_S = 0.02  # the operator's reaction time (wall)
PLOT_S_ESTIMATE = (80, 125, 162)  # the planner's estimates of the three messages' cards
# messages of a few lengths, so the cards' plot times differ as in a real batch
MESSAGES = [
    "es tut uns leid, dass Ihre Bestellung zu spät kam.",
    BODY["message"],
    "es tut uns leid, dass Ihre Bestellung zu spät kam und die Blumen nicht mehr frisch "
    "waren. Als kleines Dankeschön für Ihre Geduld legen wir einen Gutschein über 10 € bei.",
]


# ---------------------------------------------------------------- set-up helpers


@contextmanager
def _fresh_database() -> Iterator[str]:
    """A new PostgreSQL database (dropped afterwards); its URL."""
    import psycopg

    name = f"penpost_load_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _fresh_vhost() -> Iterator[str]:
    """A RabbitMQ URL on a new virtual host (deleted afterwards), so that no message of
    another run is taken; the default vhost when rabbitmqctl is not usable."""
    ctl = shutil.which("rabbitmqctl")
    name = f"penpost-load-{secrets.token_hex(4)}"
    made = ctl is not None and subprocess.run(
        [ctl, "add_vhost", name], capture_output=True, timeout=60).returncode == 0
    try:
        if made:
            subprocess.run([ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                           capture_output=True, timeout=60, check=True)
        yield f"amqp://guest:guest@127.0.0.1:5672/{name if made else ''}"
    finally:
        if made:
            subprocess.run([ctl, "delete_vhost", name], capture_output=True, timeout=60)


# ---------------------------------------------------------------- (a) many jobs


@dataclass
class LoadResult:
    jobs: int
    clients: int
    submit_s: float
    p50_ms: float
    p99_ms: float
    not_201: int
    one_worker_per_s: float
    two_workers_per_s: float
    total_s: float
    lost: int
    duplicated: int
    left_in_broker: int | None  # render messages still queued when the last job was rendered
    probe_s: float | None  # a job submitted then: seconds to rendered (None: over PROBE_CAP_S)
    # (seconds since the first POST, jobs still received, messages ready in the broker)
    depth: list[tuple[float, int, int | None]] = field(default_factory=list)
    second_worker_at_s: float = 0.0
    done_at_s: float = 0.0

    @property
    def submit_per_s(self) -> float:
        return self.jobs / self.submit_s

    def extrapolated_s(self, jobs: int) -> float:
        """Wall time for ``jobs`` at the measured rates: submitted while one worker
        renders, half rendered by one worker, the rest by two."""
        rendered_while_submitting = min(jobs / 2, self.one_worker_per_s * jobs / self.submit_per_s)
        return (jobs / self.submit_per_s
                + (jobs / 2 - rendered_while_submitting) / self.one_worker_per_s
                + jobs / 2 / self.two_workers_per_s)


class _Sampler(threading.Thread):
    """Every second: jobs still 'received' and 'rendered' (SQL), messages ready in the
    render queue (the broker)."""

    def __init__(self, database_url: str, broker_url: str) -> None:
        super().__init__(daemon=True, name="depth-sampler")
        from sqlalchemy import create_engine

        self.engine = create_engine(database_url)
        self.broker_url = broker_url
        self.samples: list[tuple[float, int, int, int | None]] = []  # t, received, rendered, ready
        self.halt = threading.Event()
        self.t0 = time.monotonic()
        self.ready: int | None = None  # the latest broker reading

    def counts(self) -> tuple[int, int]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT state, count(*) FROM jobs GROUP BY state")).all())
        return int(rows.get("received", 0)), int(rows.get("rendered", 0))

    def run(self) -> None:
        from kombu import Connection

        broker = Connection(self.broker_url, connect_timeout=2)
        while not self.halt.is_set():
            t = time.monotonic() - self.t0
            received, rendered = self.counts()
            try:
                ready = broker.default_channel.queue_declare("render", passive=True).message_count
            except Exception:  # noqa: BLE001 - not declared yet, or the broker is busy
                ready = None
            self.ready = ready
            self.samples.append((t, received, rendered, ready))
            self.halt.wait(max(0.0, 1.0 - (time.monotonic() - self.t0 - t)))
        broker.release()
        self.engine.dispose()

    def rendered_at(self, t: float) -> tuple[float, int]:
        """The first sample at or after ``t``: (its time, rendered then)."""
        for when, _, rendered, _ in self.samples:
            if when >= t:
                return when, rendered
        when, _, rendered, _ = self.samples[-1]
        return when, rendered


def measure_load(jobs: int = JOBS, clients: int = CLIENTS) -> LoadResult:
    """Submit ``jobs`` over HTTP from ``clients`` threads and render them all."""
    from sqlalchemy import create_engine, text

    processes: list[subprocess.Popen] = []
    with (_fresh_database() as database_url, _fresh_vhost() as broker_url,
          tempfile.TemporaryDirectory() as tmp):
        env = {**os.environ, "PENPOST_DATA_DIR": str(Path(tmp) / "data"),
               "PENPOST_DATABASE_URL": database_url, "PENPOST_BROKER_URL": broker_url,
               "PENPOST_RATE_LIMIT_PER_MINUTE": "10000000"}
        try:
            out = _penpost(["shops", "create", "bench"], env)  # migrates, before any server
            key = re.search(r"store it now\): (\S+)", out).group(1)
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            processes.append(_penpost(["serve", "--port", str(port), "--no-worker"], env,
                                      background=True))
            _wait(lambda: api_answers(url), 60)
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                                  timeout=120, limits=limits)
            processes.append(_penpost(["worker", "--concurrency", "1"], env, background=True))
            sampler = _Sampler(database_url, broker_url)

            def submit(i: int) -> tuple[float, int, str | None]:
                start = time.perf_counter()
                r = client.post("/v1/jobs", json={**BODY, "seed": i + 1})
                created = r.json()["id"] if r.status_code == 201 else None
                return time.perf_counter() - start, r.status_code, created

            warm = submit(jobs)  # the API loads its fonts on the first job
            sampler.start()
            t0 = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                answers = list(pool.map(submit, range(jobs)))
            submit_s = time.perf_counter() - t0
            submitted_at = time.monotonic() - sampler.t0
            # one worker until half the jobs are rendered, then a second joins
            _wait(lambda: sampler.counts()[1] >= jobs // 2, 3600)
            second_at = time.monotonic() - sampler.t0
            processes.append(_penpost(["worker", "--concurrency", "1"], env, background=True))
            _wait(lambda: sampler.counts()[0] == 0, 3600)
            total_s = time.perf_counter() - t0
            done_at = time.monotonic() - sampler.t0
            time.sleep(1.1)  # one more broker reading
            left = sampler.ready
            # what the backlog leaves behind: how long a job submitted now waits
            probe = submit(jobs + 1)
            probe_t0 = time.perf_counter()
            try:
                _wait(lambda: sampler.counts()[0] == 0, PROBE_CAP_S)
                probe_s: float | None = probe[0] + time.perf_counter() - probe_t0
            except RuntimeError:
                probe_s = None
            sampler.halt.set()
            sampler.join()

            latencies = sorted(a[0] * 1000 for a in answers)
            created = [a[2] for a in [warm, *answers, probe] if a[2] is not None]
            engine = create_engine(database_url)
            with engine.connect() as conn:
                rendered_moves = dict(conn.execute(text(
                    "SELECT j.id, count(t.id) FROM jobs j LEFT JOIN transitions t "
                    "ON t.job_id = j.id AND t.from_state = 'received' AND t.to_state = 'rendered' "
                    "GROUP BY j.id")).all())
            engine.dispose()
            lost = sum(1 for job_id in created if rendered_moves.get(job_id, 0) == 0)
            duplicated = sum(1 for count in rendered_moves.values() if count > 1)

            # 1 worker: from the end of submitting (the API no longer takes a core) to
            # the second worker; 2 workers: from a few seconds after it started (its
            # start-up) to the end
            a_t, a_n = sampler.rendered_at(submitted_at)
            b_t, b_n = sampler.rendered_at(second_at)
            if b_t - a_t < 5:  # hardly any time alone after submitting: use all of it
                a_t, a_n = 0.0, 0
            c_t, c_n = sampler.rendered_at(second_at + 5)
            end_t, end_n = done_at, jobs + 1  # all of them (and the warm-up job)
            return LoadResult(
                jobs=jobs, clients=clients, submit_s=submit_s,
                p50_ms=statistics.median(latencies),
                p99_ms=latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
                not_201=sum(1 for a in answers if a[1] != 201),
                one_worker_per_s=(b_n - a_n) / max(b_t - a_t, 1e-9),
                two_workers_per_s=(end_n - c_n) / max(end_t - c_t, 1e-9),
                total_s=total_s, lost=lost, duplicated=duplicated, left_in_broker=left,
                probe_s=probe_s,
                depth=[(t, rec, ready) for t, rec, _, ready in sampler.samples],
                second_worker_at_s=second_at, done_at_s=done_at)
        finally:
            stop_processes(processes)


def _sparkline(values: list[int], width: int = 60) -> str:
    """``values`` as one line of bars, at most ``width`` wide (the highest of each bucket)."""
    bars = "▁▂▃▄▅▆▇█"
    size = max(1, -(-len(values) // width))
    buckets = [max(values[i:i + size]) for i in range(0, len(values), size)]
    top = max(buckets) or 1
    return "".join(bars[min(len(bars) - 1, int(v / top * (len(bars) - 1) + 0.5))]
                   for v in buckets)


def load_tables(r: LoadResult) -> list[Any]:
    """The figures of (a), the queue depth series, and the 10 000-job extrapolation."""
    table = Table(box=box.SIMPLE_HEAD, title=f"load: {r.jobs} jobs from {r.clients} concurrent "
                  "clients over HTTP, PostgreSQL + RabbitMQ, workers of concurrency 1")
    for column in ("measure", "value"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for name, value in (
        ("submitted/s (1 worker rendering meanwhile)", f"{r.submit_per_s:.0f}"),
        ("POST /v1/jobs p50 ms", f"{r.p50_ms:.0f}"),
        ("POST /v1/jobs p99 ms", f"{r.p99_ms:.0f}"),
        ("answers other than 201", str(r.not_201)),
        ("rendered/s, 1 worker", f"{r.one_worker_per_s:.1f}"),
        ("rendered/s, 2 workers", f"{r.two_workers_per_s:.1f}"),
        ("2 workers / 1 worker", f"{r.two_workers_per_s / r.one_worker_per_s:.2f}x"),
        ("first POST to last render, s", f"{r.total_s:.0f}"),
        ("lost (201 but never rendered)", str(r.lost)),
        ("rendered more than once", str(r.duplicated)),
        ("render messages left in the broker at the last render",
         "—" if r.left_in_broker is None else str(r.left_in_broker)),
        ("a job submitted then: s to rendered",
         f"> {PROBE_CAP_S}" if r.probe_s is None else f"{r.probe_s:.1f}"),
    ):
        table.add_row(name, value)
    out: list[Any] = [table]
    points = 16
    step = max(1, len(r.depth) // points)
    picked = r.depth[::step]
    if picked[-1] is not r.depth[-1]:
        picked.append(r.depth[-1])
    depth = Table(box=box.SIMPLE_HEAD, title="queue depth, sampled every second (shown every "
                  f"{step} s; second worker from {r.second_worker_at_s:.0f} s)")
    depth.add_column("")
    for t, _, _ in picked:
        depth.add_column(f"{t:.0f} s", justify="right")
    depth.add_row("jobs 'received'", *[str(rec) for _, rec, _ in picked])
    depth.add_row("ready in broker", *["—" if ready is None else str(ready)
                                       for _, _, ready in picked])
    out.append(depth)
    out.append(Text("jobs 'received' over time: "
                    + _sparkline([rec for _, rec, _ in r.depth])))
    if r.left_in_broker:
        waited = f"more than {PROBE_CAP_S} s" if r.probe_s is None else f"{r.probe_s:.1f} s"
        out.append(Text(
            f"The {r.left_in_broker} render messages left are the API's sweeper sending "
            "again (after render_stale_s, default 60 s, then after 2, 4, … times that) the "
            "renders of jobs that were only waiting in the queue: it cannot tell a lost "
            "message from a queued one. Each costs a worker a look-up; a job submitted "
            f"right after the backlog waited {waited}."))
    if r.jobs < FULL_JOBS:
        full = r.extrapolated_s(FULL_JOBS)
        out.append(Text(f"{FULL_JOBS} jobs were not run: at these rates they would take about "
                        f"{full / 60:.0f} min (extrapolated; PENPOST_BENCH_JOBS={FULL_JOBS} "
                        "runs them)"))
    return out


# ---------------------------------------------------------------- (b) a simulated day


def _stations_process(names: list[str], database_url: str, data_dir: str, scale: float,
                      ready: Any, go: Any, halt: Any) -> None:
    """A process hosting some of the stations, each in its own thread with its own
    simulated controller; they run between ``go`` and ``halt``."""
    from jobs.settings import Settings
    from jobs.station import Station, StationConfig
    from jobs.store import Store

    store = Store(Settings(data_dir=Path(data_dir), database_url=database_url))
    stations = [Station(store, StationConfig(name, simulate=True, time_scale=scale),
                        say=lambda _: None) for name in names]
    for station in stations:
        station.connect()
    ready.release()
    go.wait()
    threads = [threading.Thread(target=station.run, daemon=True) for station in stations]
    for thread in threads:
        thread.start()
    halt.wait()
    for station in stations:
        station.stop.set()
    for thread in threads:
        thread.join(60)
    for station in stations:
        station.close()
    store.engine.dispose()


_render_store: Any = None


def _render_init(database_url: str, data_dir: str) -> None:
    global _render_store
    from jobs.settings import Settings
    from jobs.store import Store

    _render_store = Store(Settings(data_dir=Path(data_dir), database_url=database_url))


def _render(job_id: str) -> str:
    from jobs.tasks import render_stored_job

    return render_stored_job(_render_store, job_id, 1)


@dataclass(frozen=True)
class StationDay:
    name: str
    cards: int
    cards_per_h: float  # cards finished in the window, per simulated hour
    steady_per_h: float  # 3600 / mean simulated time from one card's start to the next's
    own_best_per_h: float  # 3600 / mean estimate of the cards those cycles plotted
    plot_over_estimate: float  # simulated plot time over the planner's estimate
    idle_share: float
    idle_per_card_wall_s: float


@dataclass
class DayResult:
    stations: list[StationDay]
    hours: float
    scale: float
    wall_s: float
    mean_plot_s: float
    jobs: int
    plotted: int
    interrupted_in_day: int
    double_started: int

    @property
    def best_per_h(self) -> float:
        return 3600 / self.mean_plot_s


def measure_day(stations: int = STATIONS, hours: float = DAY_HOURS, scale: float = DAY_SCALE
                ) -> DayResult:
    """Run ``stations`` simulated stations for ``hours`` simulated hours."""
    from sqlalchemy import select

    from jobs import plotqueue
    from jobs.db import Job, Transition, utcnow
    from jobs.settings import Settings
    from jobs.store import Store

    spawn = multiprocessing.get_context("spawn")
    with _fresh_database() as database_url, tempfile.TemporaryDirectory() as tmp:
        data_dir = str(Path(tmp) / "data")
        store = Store(Settings(data_dir=Path(data_dir), database_url=database_url))
        try:
            store.migrate()
            shop = store.create_shop("day")[0]
            # enough cards that no station runs dry: the policy (least queued plot time)
            # gives each about the same plot time, 15 % more than the day
            mean_s = statistics.fmean(PLOT_S_ESTIMATE)
            count = int(stations * hours * 3600 * 1.15 / mean_s) + stations
            ids = [store.submit(shop, {**BODY, "message": MESSAGES[i % len(MESSAGES)],
                                       "seed": i + 1}).job.id for i in range(count)]
            with spawn.Pool(2, _render_init, (database_url, data_dir)) as pool:
                outcomes = Counter(pool.map(_render, ids, chunksize=8))
            assert outcomes == Counter(rendered=len(ids)), outcomes

            names = [f"S{i + 1:02d}" for i in range(stations)]
            ready, go, halt = spawn.Semaphore(0), spawn.Event(), spawn.Event()
            hosts = [spawn.Process(target=_stations_process,
                                   args=(names[k::STATION_PROCESSES], database_url, data_dir,
                                         scale, ready, go, halt))
                     for k in range(STATION_PROCESSES)]
            for host in hosts:
                host.start()
            for _ in hosts:
                if not ready.acquire(timeout=180):
                    raise RuntimeError("the station processes did not come up")
            for job_id in ids:  # all online: the policy spreads the cards over all of them
                store.approve(shop.id, job_id, "approver")

            operator_halt = threading.Event()

            def operator() -> None:
                """Loads a card the moment a station asks, once per card."""
                loaded: dict[str, str | None] = {}
                while not operator_halt.is_set():
                    for row in plotqueue.stations(store):
                        if row.status == "waiting_load" and loaded.get(row.name) != row.current_job_id:
                            plotqueue.post_command(store, row.name, "load_done", "operator")
                            loaded[row.name] = row.current_job_id
                    operator_halt.wait(LOAD_POLL_S)

            helper = threading.Thread(target=operator, daemon=True, name="operator")
            helper.start()
            day_wall = hours * 3600 * scale
            started = utcnow()  # the audit rows are stamped by the same clock
            t0 = time.monotonic()
            go.set()
            time.sleep(day_wall)  # the day runs
            halt.set()
            wall_s = time.monotonic() - t0
            operator_halt.set()
            for host in hosts:
                host.join(120)
            helper.join(5)

            with store.session() as s:
                jobs = {j.id: j for j in s.scalars(select(Job))}
                moves = list(s.scalars(select(Transition).where(
                    Transition.to_state.in_(["plotting", "plotted", "interrupted"]))
                    .order_by(Transition.id)))
            return _day_figures(names, jobs, moves, started, wall_s, scale)
        finally:
            store.engine.dispose()


def _day_figures(names: list[str], jobs: dict, moves: list, t0: datetime, wall_s: float,
                 scale: float) -> DayResult:
    """Per-station figures from the audit trail, inside the window [t0, t0 + wall_s]."""
    t1 = t0 + timedelta(seconds=wall_s)
    hours = wall_s / scale / 3600  # simulated
    began: dict[str, datetime] = {}
    spans: dict[str, list[tuple[str, datetime, datetime, str]]] = {name: [] for name in names}
    starts: Counter[str] = Counter()
    interrupted = 0
    for m in moves:
        if m.to_state == "plotting":
            began[m.job_id] = m.at
            starts[m.job_id] += 1
        elif m.job_id in began:
            station = jobs[m.job_id].station
            spans.setdefault(station, []).append((m.job_id, began.pop(m.job_id), m.at,
                                                  m.to_state))
            if m.to_state == "interrupted" and m.at < t1 - timedelta(seconds=1):
                interrupted += 1  # before the day ended: not the stop at its end
    rows = []
    for name in names:
        mine = spans.get(name, [])
        done = [(j, a, b) for j, a, b, state in mine if state == "plotted" and b <= t1]
        busy = sum((min(b, t1) - max(a, t0)).total_seconds() for _, a, b, _ in mine
                   if b > t0 and a < t1)
        idle = max(0.0, wall_s - busy)
        ratios = [(b - a).total_seconds() / scale / jobs[j].plot_seconds for j, a, b in done]
        # steady state, free of the window's edges: start to next start, card after card
        ordered = sorted(mine, key=lambda span: span[1])
        cycles = [(j, (nxt[1] - a).total_seconds() / scale)
                  for (j, a, _, state), nxt in zip(ordered, ordered[1:], strict=False)
                  if state == "plotted"]
        steady = 3600 * len(cycles) / sum(c for _, c in cycles) if cycles else float("nan")
        own_best = (3600 / statistics.fmean(jobs[j].plot_seconds for j, _ in cycles)
                    if cycles else float("nan"))
        rows.append(StationDay(
            name=name, cards=len(done), cards_per_h=len(done) / hours,
            steady_per_h=steady, own_best_per_h=own_best,
            plot_over_estimate=statistics.fmean(ratios) if ratios else float("nan"),
            idle_share=idle / wall_s, idle_per_card_wall_s=idle / max(len(done), 1)))
    estimates = [job.plot_seconds for job in jobs.values()]
    return DayResult(stations=rows, hours=hours, scale=scale, wall_s=wall_s,
                     mean_plot_s=statistics.fmean(estimates), jobs=len(jobs),
                     plotted=sum(r.cards for r in rows), interrupted_in_day=interrupted,
                     double_started=sum(1 for c in starts.values() if c > 1))


def day_tables(r: DayResult) -> list[Any]:
    table = Table(box=box.SIMPLE_HEAD, title=(
        f"a simulated day: {len(r.stations)} stations, {r.hours:g} simulated h at "
        f"{1 / r.scale:g}x real time ({r.wall_s:.0f} s wall), operator loads at once; "
        f"best possible {r.best_per_h:.1f} cards/h (3600 / mean estimate {r.mean_plot_s:.0f} s)"))
    for column in ("station", "cards", "cards/h", "of best", "steady cards/h",
                   "of best (its cards)", "plot / estimate", "idle", "idle s/card (wall)",
                   "idle at 1x"):
        table.add_column(column, justify="left" if column == "station" else "right")
    for s in r.stations:
        real_idle = s.idle_per_card_wall_s / (s.idle_per_card_wall_s + r.mean_plot_s)
        table.add_row(s.name, str(s.cards), f"{s.cards_per_h:.1f}",
                      f"{s.cards_per_h / r.best_per_h:.0%}", f"{s.steady_per_h:.1f}",
                      f"{s.steady_per_h / s.own_best_per_h:.0%}", f"{s.plot_over_estimate:.3f}",
                      f"{s.idle_share:.1%}", f"{s.idle_per_card_wall_s:.2f}", f"{real_idle:.1%}")

    def mean(values: list[float]) -> float:
        return statistics.fmean(values)

    rate = mean([s.cards_per_h for s in r.stations])
    steady = mean([s.steady_per_h for s in r.stations])
    table.add_row("all (mean)", str(r.plotted), f"{rate:.1f}", f"{rate / r.best_per_h:.0%}",
                  f"{steady:.1f}",
                  f"{mean([s.steady_per_h / s.own_best_per_h for s in r.stations]):.0%}",
                  f"{mean([s.plot_over_estimate for s in r.stations]):.3f}",
                  f"{mean([s.idle_share for s in r.stations]):.1%}",
                  f"{mean([s.idle_per_card_wall_s for s in r.stations]):.2f}", "",
                  style="bold")
    notes = Text(
        f"{r.jobs} cards approved; {r.plotted} plotted in the day; "
        f"{r.interrupted_in_day} interrupted before its end; {r.double_started} started "
        "twice. cards/h counts cards finished inside the window (the card under the pen "
        "at its end is lost); steady cards/h is from card start to card start. Idle time "
        "is wall time (claiming a card, asking for stock, polling every 0.2 s, recording): "
        "at real time the same seconds are a far smaller share (last column).")
    return [table, notes]
