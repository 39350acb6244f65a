"""``penpost demo``: the whole way of a job on the embedded default.

Starts the service (``penpost serve``: API and a render worker, SQLite and a file broker
under ``OUT/service``), creates a demo shop, submits the bundled example jobs over HTTP,
waits for their previews, approves them, and downloads preview PDF/PNG, SVG and G-code
into ``OUT/<example>/``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

from jobs.servicecli import api_answers, free_port
from jobs.settings import Settings
from jobs.store import Store

console = Console(soft_wrap=True)
DOWNLOADS = {"preview.pdf": "preview_pdf", "card.png": "preview_png", "card.svg": "svg",
             "card.gcode": "gcode"}
WAIT_S = 120.0


def _wait(check, what: str, seconds: float = WAIT_S):  # noqa: ANN001, ANN202
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {seconds:.0f} s waiting for {what}")


def run_demo(out: Path, examples: list[Path]) -> int:
    """Run the demo into ``out``; returns the exit status (0 when every card is approved)."""
    out = out.absolute()
    data = out / "service"
    env = {**os.environ, "PENPOST_DATA_DIR": str(data)}
    env.pop("PENPOST_DATABASE_URL", None)
    env.pop("PENPOST_BROKER_URL", None)
    store = Store(Settings(data_dir=data))
    store.migrate()
    shop = store.shop_by_name("Demo shop")
    key = store.create_key(shop.id) if shop else store.create_shop("Demo shop")[1]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "jobs.cli", "serve", "--port", str(port),
                               "--concurrency", "2"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        console.print(f"started the penpost service at {url} (data in {data})", highlight=False)
        _wait(lambda: server.poll() is None and api_answers(url), "the service to start", 60)
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        submitted = {}
        for example in examples:
            r = api.post("/v1/jobs", content=example.read_bytes(),
                         headers={"Content-Type": "application/json",
                                  "Idempotency-Key": f"demo-{example.stem}"})
            if r.status_code not in (200, 201):
                console.print(f"[red]{example.name}: {r.json()['message']}[/]", highlight=False)
                return 1
            submitted[example.stem] = r.json()["id"]
            console.print(f"submitted {example.stem} over HTTP as {r.json()['id']}",
                          highlight=False)
        for stem, job_id in submitted.items():
            def rendered(job_id: str = job_id) -> dict | None:
                job = api.get(f"/v1/jobs/{job_id}").json()
                if job["state"] == "failed":
                    raise RuntimeError(f"{job_id} failed to render: {job['error']}")
                return job if job["state"] not in ("received",) else None

            job = _wait(rendered, f"the preview of {stem}")
            if job["state"] == "rendered":
                job = api.post(f"/v1/jobs/{job_id}/approve").json()
            target = out / stem
            target.mkdir(parents=True, exist_ok=True)
            for name, link in DOWNLOADS.items():
                (target / name).write_bytes(api.get(job["links"][link]).content)
            minutes, seconds = divmod(round(job["plot_seconds"] or 0), 60)
            console.print(f"[bold]{stem}[/]: {job['state']} (revision {job['revision']}, seed "
                          f"{job['seed']}), estimated plot time {minutes}:{seconds:02d}",
                          highlight=False)
            console.print("  " + "  ".join(str(target / n) for n in DOWNLOADS), highlight=False)
        console.print(f"\nAll outputs are in {out}", highlight=False)
        console.print(f"The service's database, artifacts and broker files are in {data}; "
                      f"run `PENPOST_DATA_DIR={data} penpost serve` to look at it over HTTP.",
                      highlight=False)
        return 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
