"""Celery tasks: render a job revision, deliver a webhook. Short: re-fetch, call, record.

Both are idempotent (a render of a revision that moved on is dropped; a render run twice
writes the same bytes, because a revision and its seed give the same files), so they use
``acks_late``: a worker killed mid-task leaves the message to be delivered again, and the
store's sweeper sends again whatever a broker lost.

The broker is chosen by settings: the embedded default keeps messages in files under the
data directory (kombu's filesystem transport, no server), scale-out uses Redis or RabbitMQ.
On Redis a message taken and not acknowledged comes back after
``broker_visibility_timeout_s`` (Redis itself never notices a dead consumer).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from celery import Celery
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from jobs.render import render_companions, render_job, write_outputs
from jobs.schema import JobError, parse_job
from jobs.settings import Settings, load_settings
from jobs.states import State
from jobs.store import NotFoundError, Store
from jobs.webhooks import deliver

RENDER_QUEUE = "render"
# errors of the database and of a lost optimistic-lock race: worth another try
TRANSIENT = (OperationalError, DBAPIError, StaleDataError)
MAX_REASON_CHARS = 1000  # a failed job's reason, as the shop reads it
WEBHOOK_QUEUE = "webhooks"
REDIS_SCHEMES = ("redis", "rediss", "redis+socket", "sentinel")  # kombu's Redis transports

app = Celery("penpost")
log = logging.getLogger(__name__)
_store: Store | None = None
_lock = threading.Lock()


def configure(settings: Settings, celery: Celery | None = None) -> Celery:
    """Point the Celery app (this module's, or ``celery``) at the broker of ``settings``."""
    celery = celery or app
    options: dict[str, object] = {}
    if settings.broker_url.partition("://")[0] in REDIS_SCHEMES:
        options = {"visibility_timeout": settings.broker_visibility_timeout_s}
    if settings.broker_url.startswith("filesystem"):
        folder = settings.broker_dir
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        options = {"data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
                   "processed_folder": str(folder / "processed"), "store_processed": False,
                   "control_folder": str(folder / "control"),
                   "polling_interval": 0.05}
    celery.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # keep reconnecting: a broker restart loses no job
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # a task running when the broker connection drops is cancelled: its message is
        # delivered again (acks_late) and the tasks are idempotent, so nothing is lost;
        # letting it run on would only fail to acknowledge it (and Celery warns)
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=RENDER_QUEUE,
        task_routes={"penpost.deliver": {"queue": WEBHOOK_QUEUE}},
        worker_hijack_root_logger=False,
        task_serializer="json",
        accept_content=["json"],
    )
    celery.conf.penpost_settings = settings
    return celery


class CeleryDispatcher:
    """Hands work to the Celery workers through the broker."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def render(self, job_id: str, revision: int) -> None:
        self.celery.send_task("penpost.render", args=[job_id, revision], queue=RENDER_QUEUE)

    def deliver(self, delivery_id: int) -> None:
        self.celery.send_task("penpost.deliver", args=[delivery_id], queue=WEBHOOK_QUEUE)

    def render_queue_depth(self) -> int:
        """Messages waiting on the render queue, not counting those a worker has taken:
        a passive declare answers the transport's count (RabbitMQ's message_count, the
        length of the Redis list, the files of the filesystem transport)."""
        with self.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            try:
                return int(channel.queue_declare(queue=RENDER_QUEUE, passive=True).message_count)
            except connection.channel_errors:
                return 0  # no such queue (Redis drops an empty list): nothing waits
            finally:
                try:
                    channel.close()
                except Exception:  # noqa: BLE001 - the broker closed it already (404)
                    pass


def worker_store() -> Store:
    """The store of this worker process (built once from the app's settings)."""
    global _store
    with _lock:
        if _store is None:
            settings = app.conf.get("penpost_settings") or load_settings()
            if not app.conf.broker_url:
                configure(settings)
            _store = Store(settings, CeleryDispatcher(app))
        return _store


def render_stored_job(store: Store, job_id: str, revision: int) -> str:
    """Render revision ``revision`` of a stored job into its artifacts and move it to
    rendered (or failed, with the reason). Returns what happened: ``rendered``,
    ``failed`` or ``stale`` (the job moved on; nothing done)."""
    try:
        job = store.job(None, job_id)
    except NotFoundError:  # a message from another database (or a job rolled back)
        return "stale"
    if job.revision != revision or job.state != State.RECEIVED.value:
        return "stale"
    settings = store.settings
    try:
        spec = parse_job(job.request)
        rendered = render_job(spec, dpi=settings.preview_dpi, profile=settings.profile)
        files = {**rendered.files, **render_companions(rendered, profile=settings.profile)}
    except JobError as error:
        store.fail_render(job_id, revision, str(error))
        return "failed"
    except TRANSIENT:
        raise  # the task is retried
    except Exception as error:  # noqa: BLE001 - a bug: the same revision fails every time
        # rendering is pure (the same revision and seed, the same result): sent again by
        # the sweeper it would fail again, forever; failed, the shop hears why
        log.exception("render of %s revision %s failed", job_id, revision)
        reason = f"internal render error: {type(error).__name__}: {error}"
        store.fail_render(job_id, revision, reason[:MAX_REASON_CHARS])
        return "failed"
    out = settings.artifacts_dir / job_id / f"r{revision}"
    paths: dict[str, Path] = {p.name: p for p in write_outputs(files, out)}
    ok = store.finish_render(job_id, revision, paths, rendered.plot_seconds,
                             rendered.drawing.ink_length_mm())
    return "rendered" if ok else "stale"


@app.task(name="penpost.render", bind=True, acks_late=True, max_retries=8,
          autoretry_for=TRANSIENT,
          retry_backoff=True, retry_backoff_max=60)
def render_task(self, job_id: str, revision: int) -> str:  # noqa: ANN001 - celery's self
    """Render a job revision (idempotent)."""
    return render_stored_job(worker_store(), job_id, revision)


@app.task(name="penpost.deliver", acks_late=True, max_retries=8,
          autoretry_for=(OperationalError, DBAPIError), retry_backoff=True)
def deliver_task(delivery_id: int) -> str:
    """Attempt one webhook delivery (the next attempt is scheduled in the database)."""
    return deliver(worker_store(), delivery_id)
