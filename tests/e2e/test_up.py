"""`penpost up --stations 2 --simulate`: a local cluster that plots an approved card and
stops cleanly (stations offline, nothing left running)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from jobs import plotqueue
from jobs.settings import Settings
from jobs.store import Store
from tests.e2e.test_service import free_port, wait_for

pytestmark = pytest.mark.slow


def test_up_starts_a_cluster_that_plots_and_stops(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "PENPOST_DATA_DIR": str(data)}
    store = Store(Settings(data_dir=data))
    store.migrate()
    shop, key = store.create_shop("Cluster shop")
    port = free_port()
    log = tmp_path / "up.log"
    process = subprocess.Popen([sys.executable, "-m", "jobs.cli", "up", "--stations", "2",
                                "--simulate", "--time-scale", "0", "--port", str(port)],
                               env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        wait_for(lambda: {s.name for s in plotqueue.stations(store) if s.online} == {"S1", "S2"},
                 "both stations online")
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                           headers={"Authorization": f"Bearer {key}"}, timeout=30)
        wait_for(lambda: _answers(api), "the API")
        job = api.post("/v1/jobs", json={"message": "Entschuldigung!", "font": "tech"}).json()
        wait_for(lambda: api.get(f"/v1/jobs/{job['id']}").json()["state"] == "rendered",
                 "the render")
        queued = api.post(f"/v1/jobs/{job['id']}/approve").json()
        assert queued["state"] == "queued"
        station = store.job(None, job["id"]).station
        assert station in ("S1", "S2")  # least queued plot time: both empty, S1 by name
        wait_for(lambda: plotqueue.station(store, station).status == "waiting_load", "prompt")
        plotqueue.post_command(store, station, "load_done", "test")
        wait_for(lambda: api.get(f"/v1/jobs/{job['id']}").json()["state"] == "plotted",
                 "the card to be plotted")
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=90)
    output = log.read_text(errors="replace")
    assert process.returncode == 0, output
    assert "penpost cluster up" in output and "penpost cluster stopped" in output
    assert {s.status for s in plotqueue.stations(store)} == {"offline"}


def _answers(api: httpx.Client) -> bool:
    try:
        return api.get("/v1/jobs").status_code == 200
    except httpx.HTTPError:
        time.sleep(0.1)
        return False
