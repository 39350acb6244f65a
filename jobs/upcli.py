"""``penpost up``: a whole local cluster for trying penpost out — the API with its render
worker and N plotter stations (simulated controllers with ``--simulate``), all on the same
settings, stopped together with Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from rich.console import Console

from jobs.servicecli import api_answers, migrated_store
from jobs.settings import load_settings

console = Console(soft_wrap=True)


def up_command(stations: int, simulate: bool, ports: list[str], port: int, profile: str,
               time_scale: float, workers: int) -> int:
    """Start the cluster and wait; returns the exit status once everything has stopped."""
    if not simulate and len(ports) != stations:
        console.print(f"[red]error:[/] give --simulate or one --serial per station "
                      f"({stations} stations, {len(ports)} ports)")
        return 2
    settings = load_settings()
    migrated_store(settings)
    python = [sys.executable, "-m", "jobs.cli"]
    env = os.environ.copy()
    processes: list[tuple[str, subprocess.Popen]] = []

    def spawn(name: str, args: list[str]) -> None:
        processes.append((name, subprocess.Popen(python + args, env=env,
                                                 stdin=subprocess.DEVNULL,
                                                 start_new_session=True)))

    spawn("api", ["serve", "--port", str(port), "--concurrency", str(workers)])
    url = f"http://127.0.0.1:{port}"
    for index in range(stations):
        name = f"S{index + 1}"
        args = ["station", "--name", name, "--profile", profile, "--no-terminal"]
        args += (["--simulate", "--time-scale", str(time_scale)] if simulate
                 else ["--port", ports[index]])
        spawn(name, args)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    deadline = time.monotonic() + 60
    while not api_answers(url) and time.monotonic() < deadline and not stopping:
        time.sleep(0.2)
    console.print(f"penpost cluster up: API {url}/v1 (docs {url}/docs), pages {url}/login, "
                  f"{stations} station(s) S1…S{stations}"
                  + (" on simulated plotters" if simulate else "")
                  + f"; data in {settings.data_dir}. Ctrl-C stops everything.", highlight=False)
    console.print("Create a shop (`penpost shops create NAME`) and an operator "
                  "(`penpost users create NAME --role operator`) with the same settings.",
                  highlight=False)
    status = 0
    while not stopping:
        for name, process in processes:
            if process.poll() is not None:
                console.print(f"[red]{name} ended with status {process.returncode}; "
                              "stopping the cluster[/]", highlight=False)
                stopping, status = True, 1
                break
        time.sleep(0.2)
    for _, process in reversed(processes):  # stations first: they hand their cards back
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for _, process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    console.print("penpost cluster stopped")
    return status
