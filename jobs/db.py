"""The store's tables (SQLAlchemy 2) and the engine for a database URL.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout,
so the API and a worker process share it; PostgreSQL is used as it is. The schema is
created and changed only by the Alembic migrations in ``jobs/migrations``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that comes back timezone-aware on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret: Mapped[str] = mapped_column(String(100))
    sender: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    default_font: Mapped[str | None] = mapped_column(String(60))
    default_card: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(20))  # shown in listings; not a secret
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RateCount(Base):
    """Requests of one API key in one second: the per-key rate limit counts the last 60
    of them, kept here so that every API process counts against the same limit. Seconds
    out of the minute are deleted by the sweeper."""

    __tablename__ = "rate_counts"

    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    second: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # unix time, whole s
    requests: Mapped[int] = mapped_column(Integer, default=0)


class Template(Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id"))
    name: Mapped[str] = mapped_column(String(80))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # greeting/template/closing/signature…
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id"), index=True)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("shop_id", "idempotency_key"),
        UniqueConstraint("batch_id", "batch_index"),
        Index("ix_jobs_shop_state_seq", "shop_id", "state", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                     primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id"))
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"))
    batch_index: Mapped[int | None] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    seed: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20), index=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # the job spec, seed included
    request_sha256: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    plot_seconds: Mapped[float | None] = mapped_column(Float)
    ink_mm: Mapped[float | None] = mapped_column(Float)
    queue_seq: Mapped[int | None] = mapped_column(BigInteger)  # place on the plot queue
    station: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    render_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    render_sends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # optimistic locking: an UPDATE that lost a race fails instead of overwriting
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Transition(Base):
    """The audit trail: one row per state change."""

    __tablename__ = "transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    revision: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("job_id", "revision", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(60))
    path: Mapped[str] = mapped_column(String(500))  # relative to the artifacts directory
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)


class WebhookDelivery(Base):
    """One webhook event for one job, with its delivery attempts (an outbox row)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id"))
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body that is signed
    url: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 5) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout. A server
    database gets a small pool per process (``pool_size`` + ``max_overflow`` connections):
    API, every render process and every station hold one each, and PostgreSQL allows
    100 connections by default."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    """Sessions that keep loaded values after commit (answers are built after it)."""
    return sessionmaker(engine, expire_on_commit=False)


class Station(Base):
    """A plotter station: its machine, its pen and what it is doing (written by the
    station process, read by the operator page)."""

    __tablename__ = "stations"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    profile: Mapped[str] = mapped_column(String(200))
    port: Mapped[str] = mapped_column(String(300))
    online: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(30), default="offline")
    message: Mapped[str | None] = mapped_column(Text)  # what the operator is asked to do
    current_job_id: Mapped[str | None] = mapped_column(String(40))
    pen_colour: Mapped[str] = mapped_column(String(40), default="blue-black")
    ink_capacity_mm: Mapped[float] = mapped_column(Float, default=500_000.0)
    ink_used_mm: Mapped[float] = mapped_column(Float, default=0.0)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StationCommand(Base):
    """An operator's command to a station (load done, pause, abort, …), taken once."""

    __tablename__ = "station_commands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station: Mapped[str] = mapped_column(ForeignKey("stations.name"), index=True)
    command: Mapped[str] = mapped_column(String(30))
    job_id: Mapped[str | None] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class User(Base):
    """A person at the pages (operator or approver); not a shop's API key."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))  # operator, approver or admin
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebSession(Base):
    """A logged-in browser: the cookie's token stored hashed, with its CSRF token."""

    __tablename__ = "web_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CouponCode(Base):
    """A coupon code handed out by a shop: unique within the shop."""

    __tablename__ = "coupon_codes"
    __table_args__ = (UniqueConstraint("shop_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id"))
    code: Mapped[str] = mapped_column(String(40))  # normalised: no dashes, upper case
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
