"""The job store: shops and keys, jobs and their transitions, artifacts, webhook outbox.

Every state change goes through :meth:`Store.transition`, which checks the table in
:mod:`jobs.states`, writes the audit row and the webhook outbox rows in the same
transaction. Work for other processes (a render, a webhook delivery) is handed to the
dispatcher only after the commit; if that hand-over is lost (broker down, a crash right
after the commit), :meth:`Store.sweep` finds the work again from the database, so a job
acknowledged with 201 is never lost.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jobs.db import (
    ApiKey,
    Artifact,
    Batch,
    CouponCode,
    Job,
    RateCount,
    Shop,
    Template,
    Transition,
    WebhookDelivery,
    make_engine,
    make_sessionmaker,
    utcnow,
)
from jobs.render import choose_seed, validate_job
from jobs.schema import JobError, JobSpec, check_template, parse_job
from jobs.settings import Settings
from jobs.states import EDITABLE, State, TransitionError, check_transition

KEY_PREFIX = "pp_"
RATE_WINDOW_S = 60  # the rate limit counts requests per API key in a sliding minute
TEMPLATE_KEYS = ("greeting", "template", "closing", "signature", "card", "font", "language")


class NotFoundError(LookupError):
    """No such object for this shop (a shop never learns of another shop's objects)."""


class ConflictError(Exception):
    """A request that contradicts the stored state (HTTP 409)."""


class Dispatcher(Protocol):
    """Hands work to other processes (Celery in the service; a list in some tests).

    One that can also tell how many render messages wait on the queue offers
    ``render_queue_depth() -> int``; the sweeper then sends again only what the queue
    cannot be holding (:meth:`Store.sweep`)."""

    def render(self, job_id: str, revision: int) -> None: ...

    def deliver(self, delivery_id: int) -> None: ...


class NullDispatcher:
    """Hands nothing over: the sweeper will find the work (used by the CLI)."""

    def render(self, job_id: str, revision: int) -> None:
        pass

    def deliver(self, delivery_id: int) -> None:
        pass


def hash_key(key: str) -> str:
    """The stored form of an API key (keys are 256-bit random, so SHA-256 suffices)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_id(prefix: str) -> str:
    """A public id such as ``job_3f9c…`` (random, so ids leak no counts)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def canonical_sha256(data: Any) -> str:
    """SHA-256 of ``data`` as canonical JSON (sorted keys): equal bodies, equal hashes."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position a cursor stands for; a malformed cursor is a :class:`JobError`."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("s"):
            raise ValueError
        return int(text[1:])
    except ValueError:
        raise JobError(f"cursor: {cursor!r} is not a cursor this API returned") from None


def rate_retry_after(per_minute: int, counts: dict[int, int], now: float) -> int:
    """Whole seconds (at least 1) until one more request fits in the sliding minute:
    ``counts`` are the requests of the minute before ``now`` by unix second; the requests
    of second ``s`` leave the minute at ``s + 60``.

    >>> rate_retry_after(3, {100: 2, 130: 1}, 130.5)  # the two of second 100 must leave
    30
    >>> rate_retry_after(3, {100: 1, 130: 2}, 130.5)  # one of them is enough
    30
    >>> rate_retry_after(4, {100: 1, 130: 2}, 130.5)  # there is room now
    1
    """
    total = sum(counts.values())
    leaves = now
    for second in sorted(counts):
        if total + 1 <= per_minute:
            break
        total -= counts[second]
        leaves = second + RATE_WINDOW_S
    return max(1, math.ceil(leaves - now))


@dataclass(frozen=True)
class Submitted:
    """A job as stored, and whether this request created it (False: an idempotent replay)."""

    job: Job
    created: bool


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if need be) for the block;
    other processes wait. ``fcntl.flock``: the kernel lets go if the process dies. None:
    no lock."""
    if path is None:
        yield
        return
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _row_named(index: int) -> Iterator[None]:
    """Re-raise a :class:`JobError` of batch row ``index`` with the row named on each
    line (``jobs[3].recipient.city: …``)."""
    try:
        yield
    except JobError as error:
        lines = str(error).splitlines()
        raise JobError("\n".join(f"jobs[{index}].{line}" for line in lines)) from None


class Store:
    """The database edge of the service. One per process; thread-safe (a session per call)."""

    def __init__(self, settings: Settings, dispatcher: Dispatcher | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url, settings.database_pool_size,
                                  settings.database_pool_overflow)
        self.sessions = make_sessionmaker(self.engine)
        self.dispatcher: Dispatcher = dispatcher or NullDispatcher()
        self._local = threading.local()

    # ------------------------------------------------------------ set-up

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (safe to run every start, and
        from many processes at once: one migrates, the others wait and find it done)."""
        lock_file = None
        if self.settings.database_url.startswith("sqlite"):
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            database = self.engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                lock_file = Path(database).absolute().with_name(
                    Path(database).name + ".migrate-lock")
        config = Config()
        config.set_main_option("script_location", "jobs:migrations")
        # API, workers and stations start together on a fresh database: one migrates,
        # the others wait and then find the schema at head. SQLite has no advisory lock
        # and two "CREATE TABLE"s would race: a lock file beside the database instead
        with _file_lock(lock_file), self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(727364)"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error (and
        then no webhook written in it is handed over)."""
        try:
            with self.sessions() as session, session.begin():
                yield session
        except BaseException:
            self._local.deliveries = []
            raise

    # ------------------------------------------------------------ shops and keys

    def create_shop(self, name: str, *, webhook_url: str | None = None,
                    sender: dict[str, Any] | None = None) -> tuple[Shop, str]:
        """A new shop and its first API key (returned once, stored only hashed)."""
        from cards import printfont

        name = name.strip()
        if not name:
            raise JobError("name: a shop needs a name")
        # the name is printed on its coupon inserts, in bold
        missing = printfont.missing(name, (printfont.REGULAR, printfont.BOLD))
        if missing:
            raise JobError(f"name: the coupon inserts cannot print {printfont.describe(missing)}")
        with self.session() as s:
            if s.scalar(select(Shop).where(Shop.name == name)) is not None:
                raise ConflictError(f"a shop named {name!r} exists already")
            shop = Shop(id=new_id("shop"), name=name, webhook_url=webhook_url,
                        webhook_secret="whsec_" + secrets.token_urlsafe(24), sender=sender)
            s.add(shop)
            s.flush()
            key = self._new_key(s, shop.id)
        return shop, key

    def _new_key(self, s: Session, shop_id: str) -> str:
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        s.add(ApiKey(shop_id=shop_id, prefix=key[:10], key_sha256=hash_key(key)))
        return key

    def create_key(self, shop_id: str) -> str:
        """Another API key for a shop (for rotation); shown once."""
        with self.session() as s:
            self._shop(s, shop_id)
            return self._new_key(s, shop_id)

    def revoke_key(self, shop_id: str, prefix: str) -> int:
        """Revoke the shop's keys starting with ``prefix``; returns how many."""
        with self.session() as s:
            result = s.execute(update(ApiKey).where(
                ApiKey.shop_id == shop_id, ApiKey.prefix == prefix[:10],
                ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow()))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def authenticate(self, key: str) -> Shop | None:
        """The shop owning an unrevoked ``key``, or None."""
        found = self.authenticate_key(key)
        return found[0] if found is not None else None

    def authenticate_key(self, key: str) -> tuple[Shop, int] | None:
        """The shop owning an unrevoked ``key`` and the key's id (its rate is counted by
        key), or None."""
        if not key.startswith(KEY_PREFIX):
            return None
        with self.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_sha256 == hash_key(key),
                                                ApiKey.revoked_at.is_(None)))
            shop = s.get(Shop, row.shop_id) if row is not None else None
            return (shop, row.id) if shop is not None and row is not None else None

    def count_request(self, key_id: int, per_minute: int, now: float | None = None) -> int:
        """Count a request of API key ``key_id`` against ``per_minute`` in the sliding
        minute before ``now`` (unix s): 0 when it may go ahead (it is counted), else the
        seconds to wait (it is not counted).

        The counts live in the database, one row per key and second, so every API process
        counts against the same limit. The seconds gone by are closed; this second's count
        is upserted and incremented in one statement, only while the minute has room
        (atomic on SQLite and PostgreSQL: INSERT … ON CONFLICT DO UPDATE … WHERE …
        RETURNING)."""
        now = time.time() if now is None else now
        second = int(now)
        with self.session() as s:
            past = dict(s.execute(select(RateCount.second, RateCount.requests).where(
                RateCount.key_id == key_id, RateCount.second > second - RATE_WINDOW_S,
                RateCount.second < second)).all())
            room = per_minute - sum(past.values())  # what this second may still hold
            if room > 0:
                dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
                upsert = dialect.insert(RateCount).values(key_id=key_id, second=second,
                                                          requests=1)
                upsert = upsert.on_conflict_do_update(
                    index_elements=[RateCount.key_id, RateCount.second],
                    set_={"requests": RateCount.requests + 1},
                    where=RateCount.requests < room).returning(RateCount.requests)
                if s.execute(upsert).first() is not None:
                    return 0
            past[second] = s.scalar(select(RateCount.requests).where(
                RateCount.key_id == key_id, RateCount.second == second)) or 0
        return rate_retry_after(per_minute, past, now)

    def shop_by_name(self, name: str) -> Shop | None:
        with self.session() as s:
            return s.scalar(select(Shop).where(Shop.name == name))

    def update_shop(self, shop_id: str, changes: dict[str, Any]) -> Shop:
        """Change a shop's webhook URL, sender address or default font and card."""
        allowed = {"webhook_url", "sender", "default_font", "default_card"}
        with self.session() as s:
            shop = self._shop(s, shop_id)
            for name, value in changes.items():
                if name not in allowed:
                    raise JobError(f"{name}: not a shop setting (one of {', '.join(sorted(allowed))})")
                setattr(shop, name, value)
            return shop

    def _shop(self, s: Session, shop_id: str) -> Shop:
        shop = s.get(Shop, shop_id)
        if shop is None:
            raise NotFoundError(f"no shop {shop_id}")
        return shop

    # ------------------------------------------------------------ templates

    def put_template(self, shop_id: str, name: str, body: dict[str, Any]) -> Template:
        """Store (or replace) a named template of the shop; checked like a job."""
        unknown = set(body) - set(TEMPLATE_KEYS)
        if unknown:
            raise JobError(f"{sorted(unknown)[0]}: not a template field "
                           f"(one of {', '.join(TEMPLATE_KEYS)})")
        if not str(body.get("template", "")).strip():
            raise JobError("template: a stored template needs its 'template' text")
        for key in ("template", "greeting", "closing", "signature"):
            if isinstance(body.get(key), str):
                check_template(body[key], key)
        with self.session() as s:
            row = s.scalar(select(Template).where(Template.shop_id == shop_id,
                                                  Template.name == name))
            if row is None:
                row = Template(shop_id=shop_id, name=name, body=body)
                s.add(row)
            else:
                row.body, row.updated_at = body, utcnow()
            return row

    def templates(self, shop_id: str) -> list[Template]:
        with self.session() as s:
            return list(s.scalars(select(Template).where(Template.shop_id == shop_id)
                                  .order_by(Template.name)))

    def _template(self, s: Session, shop_id: str, name: str) -> Template:
        row = s.scalar(select(Template).where(Template.shop_id == shop_id,
                                              Template.name == name))
        if row is None:
            raise NotFoundError(f"no template named {name!r}")
        return row

    def template(self, shop_id: str, name: str) -> Template:
        with self.session() as s:
            return self._template(s, shop_id, name)

    def delete_template(self, shop_id: str, name: str) -> None:
        with self.session() as s:
            s.delete(self._template(s, shop_id, name))

    # ------------------------------------------------------------ jobs

    def resolve_spec(self, s: Session, shop: Shop, body: dict[str, Any]) -> JobSpec:
        """The job spec of a request body: a stored template and the shop's defaults
        filled in, validated, and checked to render (:func:`jobs.render.validate_job`)."""
        return self._checked_spec(self._filled_body(s, shop, body))

    def _filled_body(self, s: Session, shop: Shop, body: dict[str, Any]) -> dict[str, Any]:
        """A request body with its stored template and the shop's defaults filled in."""
        data = dict(body)
        name = data.pop("template_name", None)
        if name is not None:
            row = s.scalar(select(Template).where(Template.shop_id == shop.id,
                                                  Template.name == str(name)))
            if row is None:
                raise JobError(f"template_name: no template named {name!r}")
            data = {**row.body, **{k: v for k, v in data.items() if k != "message"}}
        if "font" not in data and shop.default_font:
            data["font"] = shop.default_font
        if "card" not in data and shop.default_card:
            data["card"] = shop.default_card
        if "sender" not in data and shop.sender:
            data["sender"] = shop.sender
        return data

    @staticmethod
    def _checked_spec(data: dict[str, Any]) -> JobSpec:
        """The validated job spec of a filled-in body, checked to render, with a seed."""
        spec = parse_job(data)
        validate_job(spec)
        if spec.seed is None:
            spec = spec.model_copy(update={"seed": choose_seed()})
        return spec

    def submit(self, shop: Shop, body: dict[str, Any], *, idempotency_key: str | None = None,
               actor: str = "api") -> Submitted:
        """Store a new job in state received and send it to be rendered.

        The same ``idempotency_key`` with the same body returns the stored job; with
        another body it is a :class:`ConflictError`. Bad bodies raise :class:`JobError`
        before anything is stored."""
        digest = canonical_sha256(body)
        with self.session() as s:
            if idempotency_key is not None:
                found = self._by_idempotency(s, shop.id, idempotency_key, digest)
                if found is not None:
                    return Submitted(found, False)
            data = self._filled_body(s, shop, body)
        # checked with no connection held: the first job in a font loads it (a second or
        # so), and a transaction left open that long is one a database restart cuts off
        spec = self._checked_spec(data)
        try:
            with self.session() as s:
                if idempotency_key is not None:  # the same request may be stored meanwhile
                    found = self._by_idempotency(s, shop.id, idempotency_key, digest)
                    if found is not None:
                        return Submitted(found, False)
                job = self._new_job(s, shop, spec, digest, idempotency_key, actor)
        except IntegrityError:
            # a concurrent request with the same key stored its job between our look-up
            # and our insert: the unique (shop, key) refused ours, theirs is the answer
            found = self._stored_after_race(shop.id, idempotency_key, digest)
            if found is None:
                self._coupon_code_race(shop.id, [spec], batch=False)
                raise
            return Submitted(found, False)
        self._after_commit_render([job])
        return Submitted(job, True)

    def _stored_after_race(self, shop_id: str, idempotency_key: str | None,
                           digest: str) -> Job | None:
        """After an insert refused by a unique constraint: the job stored under
        ``idempotency_key`` (:class:`ConflictError` if with another body), or None when
        there is no key or no such job (the constraint was another one)."""
        if idempotency_key is None:
            return None
        with self.session() as s:
            return self._by_idempotency(s, shop_id, idempotency_key, digest)

    def _coupon_code_race(self, shop_id: str, specs: list[JobSpec], *, batch: bool) -> None:
        """After an insert refused by a unique constraint: the :class:`JobError` (422) for
        a coupon code the shop gave that a concurrent request took meanwhile; nothing when
        none was taken (the constraint was another one)."""
        from cards.codes import normalize_code

        with self.session() as s:
            for index, spec in enumerate(specs):
                code = spec.coupon.code if spec.coupon is not None else None
                if not code:
                    continue
                owner = s.scalar(select(CouponCode.job_id).where(
                    CouponCode.shop_id == shop_id, CouponCode.code == normalize_code(code)))
                if owner is not None:
                    with _row_named(index) if batch else nullcontext():
                        raise JobError(f"coupon.code: {code!r} is already used by job {owner}")

    def _by_idempotency(self, s: Session, shop_id: str, key: str, digest: str) -> Job | None:
        job = s.scalar(select(Job).where(Job.shop_id == shop_id, Job.idempotency_key == key))
        if job is not None and job.request_sha256 != digest:
            raise ConflictError(f"Idempotency-Key {key!r} was used with another body "
                                f"(job {job.id})")
        return job

    def _new_job(self, s: Session, shop: Shop, spec: JobSpec, digest: str,
                 idempotency_key: str | None, actor: str, batch_id: str | None = None,
                 batch_index: int | None = None) -> Job:
        assert spec.seed is not None
        now = utcnow()
        job_id = new_id("job")
        spec, code = self._assign_coupon(s, shop.id, spec, job_id)
        job = Job(id=job_id, shop_id=shop.id, batch_id=batch_id, batch_index=batch_index,
                  revision=1, seed=spec.seed, state=State.RECEIVED.value,
                  request=spec.model_dump(mode="json", exclude_none=True), request_sha256=digest,
                  idempotency_key=idempotency_key, created_at=now, updated_at=now,
                  render_sent_at=now)
        s.add(job)
        s.flush()
        if code is not None:
            s.add(code)
        self._audit(s, job, None, State.RECEIVED, actor, "submitted")
        return job

    def _assign_coupon(self, s: Session, shop_id: str, spec: JobSpec, job_id: str
                       ) -> tuple[JobSpec, CouponCode | None]:
        """Give the job's coupon its code: the shop's own (checked, and not used by another
        of its jobs) or a new generated one, unique within the shop. Recorded in the
        coupon_codes table (a unique constraint there guards against races); the caller
        adds the returned row once the job row exists."""
        if spec.coupon is None:
            return spec, None
        import random

        from cards.codes import CouponCodeError, generate_code, normalize_code, validate_shop_code

        code = spec.coupon.code
        if code:
            try:
                code = validate_shop_code(code)
            except CouponCodeError as error:
                raise JobError(f"coupon.code: {error}") from None
            owner = s.scalar(select(CouponCode.job_id).where(
                CouponCode.shop_id == shop_id, CouponCode.code == normalize_code(code)))
            if owner is not None and owner != job_id:
                raise JobError(f"coupon.code: {code!r} is already used by job {owner}")
            if owner == job_id:
                return spec, None
        else:
            rng = random.SystemRandom()
            while True:
                code = generate_code(rng)
                taken = s.scalar(select(CouponCode.id).where(
                    CouponCode.shop_id == shop_id, CouponCode.code == normalize_code(code)))
                if taken is None:
                    break
        row = CouponCode(shop_id=shop_id, code=normalize_code(code), job_id=job_id)
        coupon = spec.coupon.model_copy(update={"code": code})
        return spec.model_copy(update={"coupon": coupon}), row

    def submit_batch(self, shop: Shop, bodies: Sequence[dict[str, Any]], *,
                     idempotency_key: str | None = None, actor: str = "api"
                     ) -> tuple[Batch, list[Job], bool]:
        """Store many jobs as one batch, all or none: a bad body is a :class:`JobError`
        naming its index (``jobs[3].recipient.city: …``) and nothing is stored."""
        if not bodies:
            raise JobError("jobs: a batch needs at least one job")
        if len(bodies) > self.settings.max_batch_jobs:
            raise JobError(f"jobs: a batch holds at most {self.settings.max_batch_jobs} jobs, "
                           f"got {len(bodies)}")
        digest = canonical_sha256(list(bodies))
        with self.session() as s:
            stored = self._stored_batch(s, shop.id, idempotency_key, digest)
            if stored is not None:
                return (*stored, False)
            filled = []
            for index, body in enumerate(bodies):
                with _row_named(index):
                    filled.append(self._filled_body(s, shop, body))
        # checked with no connection held: a thousand rows take a second or more
        specs = []
        for index, data in enumerate(filled):
            with _row_named(index):
                specs.append(self._checked_spec(data))
        try:
            with self.session() as s:
                stored = self._stored_batch(s, shop.id, idempotency_key, digest)
                if stored is not None:  # the same request stored meanwhile
                    return (*stored, False)
                batch = Batch(id=new_id("batch"), shop_id=shop.id, size=len(specs))
                s.add(batch)
                s.flush()
                jobs = [self._new_job(s, shop, spec,
                                      digest if i == 0 else canonical_sha256(bodies[i]),
                                      idempotency_key if i == 0 else None, actor, batch.id, i)
                        for i, spec in enumerate(specs)]
        except IntegrityError:
            # a concurrent request with the same key stored its batch first (see submit)
            with self.session() as s:
                stored = self._stored_batch(s, shop.id, idempotency_key, digest)
            if stored is None:
                self._coupon_code_race(shop.id, specs, batch=True)
                raise
            return (*stored, False)
        self._after_commit_render(jobs)
        return batch, jobs, True

    def _stored_batch(self, s: Session, shop_id: str, idempotency_key: str | None,
                      digest: str) -> tuple[Batch, list[Job]] | None:
        """The batch already stored under ``idempotency_key`` with this body, if any."""
        if idempotency_key is None:
            return None
        first = self._by_idempotency(s, shop_id, idempotency_key, digest)
        if first is None or first.batch_id is None:
            return None
        batch = s.get(Batch, first.batch_id)
        assert batch is not None
        jobs = list(s.scalars(select(Job).where(Job.batch_id == batch.id)
                              .order_by(Job.batch_index)))
        return batch, jobs

    def job(self, shop_id: str | None, job_id: str) -> Job:
        """A job of ``shop_id`` (None: of any shop, for staff pages and workers)."""
        with self.session() as s:
            return self._job(s, shop_id, job_id)

    def _job(self, s: Session, shop_id: str | None, job_id: str, lock: bool = False) -> Job:
        query = select(Job).where(Job.id == job_id)
        if shop_id is not None:
            query = query.where(Job.shop_id == shop_id)
        if lock:
            query = query.with_for_update()
        job = s.scalar(query)
        if job is None:
            raise NotFoundError(f"no job {job_id}")
        return job

    def list_jobs(self, shop_id: str, *, state: str | None = None, batch_id: str | None = None,
                  cursor: str | None = None, limit: int = 50) -> tuple[list[Job], str | None]:
        """Jobs of a shop, oldest first, ``limit`` at a time; returns the next cursor."""
        query = select(Job).where(Job.shop_id == shop_id)
        if state is not None:
            query = query.where(Job.state == State(state).value)
        if batch_id is not None:
            query = query.where(Job.batch_id == batch_id)
        if cursor:
            query = query.where(Job.seq > decode_cursor(cursor))
        with self.session() as s:
            rows = list(s.scalars(query.order_by(Job.seq).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_cursor(rows[-1].seq) if more and rows else None)

    def batch(self, shop_id: str, batch_id: str) -> Batch:
        with self.session() as s:
            batch = s.scalar(select(Batch).where(Batch.id == batch_id, Batch.shop_id == shop_id))
            if batch is None:
                raise NotFoundError(f"no batch {batch_id}")
            return batch

    def batch_jobs(self, shop_id: str, batch_id: str) -> list[Job]:
        """The jobs of a batch in card order."""
        self.batch(shop_id, batch_id)
        with self.session() as s:
            return list(s.scalars(select(Job).where(Job.batch_id == batch_id)
                                  .order_by(Job.batch_index)))

    # ------------------------------------------------------------ transitions

    def transition(self, s: Session, job: Job, target: State, actor: str,
                   reason: str | None = None, action: str = "") -> None:
        """Move ``job`` to ``target`` if the table allows it: audit row and webhook
        outbox rows in the caller's transaction. :class:`TransitionError` otherwise."""
        current = State(job.state)
        check_transition(current, target, action)
        job.state = target.value
        job.updated_at = utcnow()
        self._audit(s, job, current, target, actor, reason)

    def _audit(self, s: Session, job: Job, current: State | None, target: State, actor: str,
               reason: str | None) -> None:
        row = Transition(job_id=job.id, actor=actor, from_state=current.value if current else None,
                         to_state=target.value, revision=job.revision, reason=reason, at=utcnow())
        s.add(row)
        s.flush()
        shop = s.get(Shop, job.shop_id)
        if shop is not None and shop.webhook_url:
            from jobs.webhooks import event_payload

            delivery = WebhookDelivery(job_id=job.id, shop_id=shop.id,
                                       event=f"job.{target.value}",
                                       payload=event_payload(job, row), url=shop.webhook_url,
                                       next_attempt_at=row.at)
            s.add(delivery)
            s.flush()
            self._new_deliveries().append(delivery.id)

    def act(self, shop_id: str | None, job_id: str, target: State, actor: str,
            reason: str | None = None, action: str = "") -> Job:
        """One transition of one job, in its own transaction, under a row lock."""
        with self.session() as s:
            job = self._job(s, shop_id, job_id, lock=True)
            self.transition(s, job, target, actor, reason, action)
            if target is State.APPROVED:
                # approval puts the card on the plot queue, in approval order
                from jobs.plotqueue import choose_station

                job.queue_seq = self._next_queue_seq(s)
                s.info["station_stale_s"] = self.settings.station_stale_s
                job.station = choose_station(s, self.settings.plot_policy)
                where = f"station {job.station}" if job.station else "the shared queue"
                self.transition(s, job, State.QUEUED, actor, f"approved: on the plot queue "
                                f"({where}, policy {self.settings.plot_policy})")
        self._after_commit_deliveries()
        return job

    def _next_queue_seq(self, s: Session) -> int:
        # microseconds of the approval: approval order without a shared counter to contend
        # for (ties, if ever, fall back to submission order)
        return time.time_ns() // 1000

    def approve(self, shop_id: str | None, job_id: str, actor: str) -> Job:
        return self.act(shop_id, job_id, State.APPROVED, actor, "approved", "approve")

    def reject(self, shop_id: str | None, job_id: str, actor: str, reason: str) -> Job:
        return self.act(shop_id, job_id, State.REJECTED, actor, reason, "reject")

    def cancel(self, shop_id: str | None, job_id: str, actor: str, reason: str | None) -> Job:
        return self.act(shop_id, job_id, State.CANCELLED, actor, reason or "cancelled", "cancel")

    def ship(self, shop_id: str | None, job_id: str, actor: str) -> Job:
        """A plotted card has left (packed and posted): plotted → shipped, the last state;
        the shop hears of it by webhook like every change."""
        return self.act(shop_id, job_id, State.SHIPPED, actor, "shipped", "mark shipped")

    def edit(self, shop_id: str | None, job_id: str, changes: dict[str, Any], actor: str) -> Job:
        """A new revision with ``changes`` applied to the job's request (text, font, card,
        …): checked like a new job, then rendered again; approval starts over."""
        if not changes:
            raise JobError("body: nothing to change")
        if "seed" in changes:
            raise JobError("seed: the seed of a job is fixed; submit a new job for another one")
        with self.session() as s:
            job = self._job(s, shop_id, job_id, lock=True)
            if State(job.state) not in EDITABLE:
                raise TransitionError(State(job.state), State.RECEIVED, "edit")
            shop = self._shop(s, job.shop_id)
            data = {**job.request, **changes}
            if "message" in changes:
                data.pop("template", None)
                data.pop("fields", None)
            if "template" in changes:
                data.pop("message", None)
            data = {k: v for k, v in data.items() if v is not None}
            spec, code = self._assign_coupon(s, shop.id, self.resolve_spec(s, shop, data), job.id)
            if code is not None:
                s.add(code)
            job.revision += 1
            job.request = spec.model_dump(mode="json", exclude_none=True)
            job.error = None
            job.plot_seconds = None
            job.queue_seq = None
            job.render_sent_at, job.render_sends = utcnow(), 0
            self.transition(s, job, State.RECEIVED, actor,
                            f"edited: revision {job.revision}", "edit")
        self._after_commit_render([job])
        return job

    def events(self, shop_id: str | None, job_id: str
               ) -> tuple[list[Transition], list[WebhookDelivery]]:
        """The audit trail and the webhook deliveries of a job, oldest first."""
        with self.session() as s:
            self._job(s, shop_id, job_id)
            transitions = list(s.scalars(select(Transition).where(Transition.job_id == job_id)
                                         .order_by(Transition.id)))
            deliveries = list(s.scalars(select(WebhookDelivery)
                                        .where(WebhookDelivery.job_id == job_id)
                                        .order_by(WebhookDelivery.id)))
            return transitions, deliveries

    # ------------------------------------------------------------ rendering

    def artifacts(self, job: Job) -> dict[str, Artifact]:
        """The artifacts of the job's current revision by name."""
        with self.session() as s:
            rows = s.scalars(select(Artifact).where(Artifact.job_id == job.id,
                                                    Artifact.revision == job.revision))
            return {row.name: row for row in rows}

    def artifact_path(self, artifact: Artifact) -> Path:
        """The file of an artifact, proven to lie inside the artifacts directory."""
        root = self.settings.artifacts_dir.resolve()
        path = (root / artifact.path).resolve()
        if not path.is_relative_to(root):
            raise NotFoundError(f"artifact {artifact.name} is outside the data directory")
        return path

    def finish_render(self, job_id: str, revision: int, files: dict[str, Path],
                      plot_seconds: float, ink_mm: float) -> bool:
        """Record a finished render of ``revision`` (files already written) and move the
        job to rendered. False when the job moved on meanwhile (edited, cancelled): the
        render is stale and nothing changes."""
        root = self.settings.artifacts_dir.resolve()
        with self.session() as s:
            job = self._job(s, None, job_id, lock=True)
            if job.revision != revision or job.state != State.RECEIVED.value:
                return False
            for old in s.scalars(select(Artifact).where(Artifact.job_id == job_id,
                                                        Artifact.revision == revision)):
                s.delete(old)
            s.flush()
            for name, path in files.items():
                content = path.read_bytes()
                s.add(Artifact(job_id=job_id, revision=revision, name=name,
                               path=str(path.resolve().relative_to(root)),
                               sha256=hashlib.sha256(content).hexdigest(), size=len(content)))
            job.plot_seconds = plot_seconds
            job.ink_mm = ink_mm
            self.transition(s, job, State.RENDERED, "render-worker",
                            f"rendered revision {revision}")
        self._after_commit_deliveries()
        return True

    def fail_render(self, job_id: str, revision: int, reason: str) -> bool:
        """Move the job to failed with ``reason`` (if it is still at ``revision``)."""
        with self.session() as s:
            job = self._job(s, None, job_id, lock=True)
            if job.revision != revision or job.state != State.RECEIVED.value:
                return False
            job.error = reason
            self.transition(s, job, State.FAILED, "render-worker", reason)
        self._after_commit_deliveries()
        return True

    # ------------------------------------------------------------ hand-over and sweep

    def _render_queue_depth(self) -> int | None:
        """Messages waiting on the render queue, where the dispatcher can tell (None:
        unknown, or the broker did not answer)."""
        depth = getattr(self.dispatcher, "render_queue_depth", None)
        if depth is None:
            return None
        try:
            return depth()
        except Exception:  # noqa: BLE001 - unknown: re-send as if there were no queue
            return None

    def _after_commit_render(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            try:
                self.dispatcher.render(job.id, job.revision)
            except Exception:  # noqa: BLE001 - the sweeper sends it again
                pass
        self._after_commit_deliveries()

    def _new_deliveries(self) -> list[int]:
        """Deliveries written by this thread's transaction, to hand over after commit."""
        if not hasattr(self._local, "deliveries"):
            self._local.deliveries = []
        return self._local.deliveries

    def _after_commit_deliveries(self) -> None:
        ids, self._local.deliveries = self._new_deliveries(), []
        for delivery_id in ids:
            try:
                self.dispatcher.deliver(delivery_id)
            except Exception:  # noqa: BLE001 - the sweeper sends it again
                pass

    def sweep(self, now: datetime | None = None) -> tuple[int, int]:
        """Send again what was lost on the way: renders of jobs still received after
        ``render_stale_s`` and webhook deliveries that are due. Returns the counts.

        Where the dispatcher tells the render queue's depth, a job is sent again only if
        the queue is shorter than the jobs waiting: behind a long backlog the messages are
        queued, not lost. Old rate-limit counts are deleted on the way."""
        now = now or utcnow()
        base = self.settings.render_stale_s
        stale = now - timedelta(seconds=base)
        with self.session() as s:
            # a render message may be lost, or only waiting behind a long queue: send it
            # again after render_stale_s, then after 2 and from then on 4 times that
            rows = s.execute(select(Job.id, Job.revision, Job.render_sent_at, Job.render_sends)
                             .where(Job.state == State.RECEIVED.value,
                                    Job.render_sent_at < stale)
                             .order_by(Job.render_sent_at).limit(5000)).all()
            jobs = [(job_id, revision) for job_id, revision, sent, sends in rows
                    if sent is None or sent < now - timedelta(
                        seconds=base * 2 ** min(int(sends or 0), 2))]
            waiting = (s.scalar(select(func.count()).select_from(Job)
                                .where(Job.state == State.RECEIVED.value)) or 0) if jobs else 0
            s.execute(delete(RateCount).where(
                RateCount.second <= int(now.timestamp()) - RATE_WINDOW_S))
        depth = self._render_queue_depth() if jobs else None
        if depth is not None:
            # the queue is first in, first out and holds the newest `depth` sends: only
            # the `waiting - depth` jobs sent longest ago can have lost their message (or
            # are being rendered right now); none when the queue holds one for every job
            jobs = jobs[:max(0, waiting - depth)]
        jobs = jobs[:1000]
        with self.session() as s:
            if jobs:
                s.execute(update(Job).where(Job.id.in_([j for j, _ in jobs]),
                                            Job.state == State.RECEIVED.value)
                          .values(render_sent_at=now,
                                  render_sends=func.coalesce(Job.render_sends, 0) + 1)
                          .execution_options(synchronize_session=False))
            deliveries = list(s.scalars(select(WebhookDelivery.id).where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now).limit(1000)))
        for job_id, revision in jobs:
            try:
                self.dispatcher.render(job_id, revision)
            except Exception:  # noqa: BLE001 - next sweep
                pass
        for delivery_id in deliveries:
            try:
                self.dispatcher.deliver(delivery_id)
            except Exception:  # noqa: BLE001 - next sweep
                pass
        return len(jobs), len(deliveries)
