"""CLI commands of the service: ``penpost serve``, ``penpost worker``, ``penpost shops``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import typer
from rich.console import Console

from jobs.settings import Settings, load_settings
from jobs.store import ConflictError, Store

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
shops_app = typer.Typer(help="Shops and their API keys.", no_args_is_help=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for a local API)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_answers(url: str) -> bool:
    """True when the penpost API at ``url`` answers its health check."""
    import httpx

    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_processes(processes: list[subprocess.Popen], timeout_s: float = 30.0) -> None:
    """SIGTERM each process's group, wait, and SIGKILL the groups that do not end."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def migrated_store(settings: Settings) -> Store:
    """The store of ``settings`` with its schema brought up to date."""
    store = Store(settings)
    store.migrate()
    return store


@shops_app.command("create")
def shops_create(name: str = typer.Argument(..., help="the shop's name"),
                 webhook_url: str | None = typer.Option(None, help="where state changes are POSTed")
                 ) -> None:
    """Create a shop and print its API key (shown only this once)."""
    from jobs.schema import JobError

    store = migrated_store(load_settings())
    try:
        shop, key = store.create_shop(name, webhook_url=webhook_url)
    except (ConflictError, JobError) as error:
        err.print(f"[bold red]error:[/] {error}", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"shop {shop.name} ({shop.id})", highlight=False)
    console.print(f"API key (shown once, store it now): {key}", highlight=False)
    console.print(f"webhook secret: {shop.webhook_secret}", highlight=False)


@shops_app.command("key")
def shops_key(name: str = typer.Argument(..., help="the shop's name")) -> None:
    """Issue another API key for a shop (for rotation); printed once."""
    store = migrated_store(load_settings())
    shop = store.shop_by_name(name)
    if shop is None:
        err.print(f"[bold red]error:[/] no shop named {name!r}", highlight=False)
        raise typer.Exit(2)
    console.print(f"API key (shown once): {store.create_key(shop.id)}", highlight=False)


@shops_app.command("revoke")
def shops_revoke(name: str = typer.Argument(...),
                 prefix: str = typer.Argument(..., help="the first 10 characters of the key")
                 ) -> None:
    """Revoke a shop's API key by its first characters."""
    store = migrated_store(load_settings())
    shop = store.shop_by_name(name)
    count = store.revoke_key(shop.id, prefix) if shop is not None else 0
    if not count:
        err.print(f"[bold red]error:[/] no active key {prefix!r} for {name!r}", highlight=False)
        raise typer.Exit(2)
    console.print(f"revoked {count} key(s)")


def worker_command(concurrency: int, queues: str) -> int:
    """Run a Celery render/webhook worker on the settings' broker (blocks)."""
    from jobs.tasks import app, configure

    settings = load_settings()
    migrated_store(settings)
    configure(settings)
    argv = ["worker", "--loglevel=WARNING", f"--concurrency={concurrency}", f"--queues={queues}",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            f"--hostname=penpost-{os.getpid()}@%h"]
    app.worker_main(argv)
    return 0


def serve_command(host: str, port: int, worker: bool, concurrency: int) -> int:
    """Run the API (and, with ``worker``, a render worker beside it) until interrupted."""
    import uvicorn

    from jobs.api import create_app
    from jobs.tasks import CeleryDispatcher, app, configure

    settings = load_settings()
    migrated_store(settings)
    configure(settings)
    child = None
    if worker:
        # its own process group, so a signal to ours reaches Celery's main process only
        # through us (it then stops its pool in order), and it dies with us (PDEATHSIG)
        child = subprocess.Popen([sys.executable, "-m", "jobs.cli", "worker",
                                  "--concurrency", str(concurrency)], env=os.environ.copy(),
                                 start_new_session=True, preexec_fn=_die_with_parent)
    try:
        api = create_app(settings, dispatcher=CeleryDispatcher(app), sweep=True)
        console.print(f"penpost API on http://{host}:{port}/v1 (docs at /docs), data in "
                      f"{settings.data_dir}" + (", render worker started" if child else ""),
                      highlight=False)
        # open event streams of the pages must not hold a shutdown up for long
        uvicorn.run(api, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        if child is not None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
    return 0


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to send SIGTERM when the parent dies (even by
    kill -9), so an API process never leaves its render worker running alone."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the worker outlives a killed API
        pass
