"""The plot queue and the stations: which card goes under which pen, and what each
station is doing. The station process and the pages meet here, in the database, so they
work across processes and machines alike.

A card approved goes on the queue (state queued) in approval order. A station claims the
next card that is its own or nobody's (row lock, ``SKIP LOCKED`` on PostgreSQL, so two
stations never claim one card), asks for stock, and moves it queued → plotting → plotted,
or interrupted when the plot stopped mid-card. An interrupted card is spoiled: it goes back
on the queue only when the operator marks it so (a reprint, with its audit row), and never
by itself on the same stock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from jobs.db import Job, Station, StationCommand, Transition, utcnow
from jobs.states import State, TransitionError
from jobs.store import NotFoundError, Store

COMMANDS = ("load_done", "pause", "resume", "abort", "spoiled", "pen_changed", "skip_load")
STATION_STATES = ("offline", "idle", "pen_change", "waiting_load", "plotting", "paused",
                  "interrupted")


class StationError(Exception):
    """A station request that cannot be done (unknown station, unknown command)."""


def register_station(store: Store, name: str, *, profile: str, port: str,
                     pen_colour: str | None = None, ink_capacity_mm: float | None = None
                     ) -> Station:
    """Create or update station ``name`` and mark it online and idle. ``pen_colour`` and
    ``ink_capacity_mm`` given on a restart replace the stored ones (another colour is
    another pen: its ink count starts at 0); left out, the station keeps its pen."""
    if not name or len(name) > 60 or not name.replace("-", "").replace("_", "").isalnum():
        raise StationError(f"station name {name!r}: letters, digits, - and _ only (max 60)")
    with store.session() as s:
        station = s.get(Station, name)
        if station is None:
            station = Station(name=name, profile=profile, port=port,
                              pen_colour=pen_colour or "blue-black",
                              ink_capacity_mm=ink_capacity_mm or 500_000.0, ink_used_mm=0.0)
            s.add(station)
        if pen_colour is not None and pen_colour != station.pen_colour:
            station.pen_colour, station.ink_used_mm = pen_colour, 0.0
        if ink_capacity_mm is not None:
            station.ink_capacity_mm = ink_capacity_mm
        station.profile, station.port = profile, port
        station.online, station.status, station.message = True, "idle", None
        station.current_job_id, station.progress = None, None
        station.last_seen_at = station.updated_at = utcnow()
        return station


def station(store: Store, name: str) -> Station:
    with store.session() as s:
        found = s.get(Station, name)
        if found is None:
            raise NotFoundError(f"no station {name!r}")
        return found


def stations(store: Store) -> list[Station]:
    with store.session() as s:
        return list(s.scalars(select(Station).order_by(Station.name)))


def update_station(store: Store, name: str, **values: Any) -> Station:
    """Set the station's status, message, current job, progress or pen fields."""
    with store.session() as s:
        found = s.get(Station, name)
        if found is None:
            raise NotFoundError(f"no station {name!r}")
        for key, value in values.items():
            setattr(found, key, value)
        found.last_seen_at = found.updated_at = utcnow()
        return found


def go_offline(store: Store, name: str) -> int:
    """Mark the station offline and hand its queued cards back to the shared queue;
    returns how many were handed back."""
    with store.session() as s:
        found = s.get(Station, name)
        if found is None:
            return 0
        found.online, found.status, found.message = False, "offline", None
        found.current_job_id = None
        found.updated_at = utcnow()
        jobs = list(s.scalars(select(Job).where(Job.station == name,
                                                Job.state == State.QUEUED.value)
                              .with_for_update()))
        for job in jobs:
            job.station = None
            store.transition(s, job, State.QUEUED, f"station:{name}",
                             f"station {name} went offline: handed back to the queue")
    store._after_commit_deliveries()
    return len(jobs)


def queue_of(store: Store, name: str, limit: int = 50) -> list[Job]:
    """The cards station ``name`` would plot next, in order (its own and unassigned)."""
    with store.session() as s:
        return list(s.scalars(select(Job).where(
            Job.state == State.QUEUED.value,
            or_(Job.station == name, Job.station.is_(None)))
            .order_by(Job.queue_seq, Job.seq).limit(limit)))


POLICIES = ("least-time", "round-robin", "shared")


def choose_station(s: Session, policy: str) -> str | None:
    """The online station a newly queued card goes to, by ``policy``:

    - ``least-time``: the station with the least plot time queued on it (the planner's
      estimates of its queued and plotting cards), so every plotter finishes about together;
    - ``round-robin``: the station after the one the last card went to, by name;
    - ``shared``: none; the first station that is free takes it.

    None also when no station is online: any station that comes online claims it."""
    if policy == "shared":
        return None
    online = list(s.scalars(select(Station.name).where(Station.online.is_(True),
                                                       Station.last_seen_at >= _heard_since(s))
                            .order_by(Station.name)))
    if not online:
        return None
    if policy == "round-robin":
        last = s.scalar(select(Job.station).where(Job.station.is_not(None),
                                                  Job.queue_seq.is_not(None))
                        .order_by(Job.queue_seq.desc()).limit(1))
        if last in online:
            return online[(online.index(last) + 1) % len(online)]
        return online[0]
    loads = dict(s.execute(
        select(Job.station, func.coalesce(func.sum(Job.plot_seconds), 0.0))
        .where(Job.station.in_(online),
               Job.state.in_([State.QUEUED.value, State.PLOTTING.value]))
        .group_by(Job.station)).all())
    return min(online, key=lambda name: (float(loads.get(name, 0.0)), name))


def _heard_since(s: Session) -> datetime:
    """Stations not heard of since this moment are gone (``station_stale_s``)."""
    stale_s = s.info.get("station_stale_s", 30.0)
    return utcnow() - timedelta(seconds=stale_s)


def _gone_stations(name: str, since: datetime):  # noqa: ANN202 - a select
    """Stations other than ``name`` that are offline or have not been heard of since
    ``since``: their queued cards may be taken by any station."""
    return select(Station.name).where(Station.name != name, or_(
        Station.online.is_(False), Station.last_seen_at < since))


def plotting_on(store: Store, name: str) -> list[str]:
    """Ids of the cards in state plotting on station ``name``."""
    with store.session() as s:
        return list(s.scalars(select(Job.id).where(Job.state == State.PLOTTING.value,
                                                   Job.station == name)))


def claim_next(store: Store, name: str) -> Job | None:
    """Reserve the next queued card for station ``name`` (it stays queued until the
    stock is loaded); None when the queue is empty."""
    with store.session() as s:
        since = utcnow() - timedelta(seconds=store.settings.station_stale_s)
        query = (select(Job).where(Job.state == State.QUEUED.value,
                                   or_(Job.station == name, Job.station.is_(None),
                                       Job.station.in_(_gone_stations(name, since))))
                 .order_by(Job.queue_seq, Job.seq).limit(1)
                 .with_for_update(skip_locked=True))
        job = s.scalar(query)
        if job is None:
            return None
        job.station = name
        s.execute(update(Station).where(Station.name == name)
                  .values(current_job_id=job.id, updated_at=utcnow()))
        return job


def start_plot(store: Store, job_id: str, name: str, actor: str) -> Job:
    """The stock is loaded: queued → plotting on station ``name``."""
    with store.session() as s:
        job = store._job(s, None, job_id, lock=True)
        if job.station != name:
            raise StationError(f"job {job_id} is not claimed by station {name}")
        store.transition(s, job, State.PLOTTING, actor, f"plotting on {name}", "start plotting")
    store._after_commit_deliveries()
    return job


def finish_plot(store: Store, job_id: str, name: str, *, plotted: bool, reason: str,
                actor: str, ink_mm: float = 0.0) -> Job:
    """plotting → plotted (and the pen's ink counted), or → interrupted with ``reason``."""
    with store.session() as s:
        job = store._job(s, None, job_id, lock=True)
        target = State.PLOTTED if plotted else State.INTERRUPTED
        if not plotted:
            job.error = reason
        store.transition(s, job, target, actor, reason)
        found = s.get(Station, name)
        if found is not None and ink_mm:
            found.ink_used_mm += ink_mm
    store._after_commit_deliveries()
    return job


def add_ink(store: Store, name: str, ink_mm: float) -> None:
    """Count ``ink_mm`` of line more on the station's pen (an envelope, a part-card)."""
    if ink_mm <= 0:
        return
    with store.session() as s:
        s.execute(update(Station).where(Station.name == name)
                  .values(ink_used_mm=Station.ink_used_mm + ink_mm, updated_at=utcnow()))


def last_interrupted(store: Store, name: str) -> str | None:
    """The newest card interrupted on station ``name`` and not yet marked spoiled (the
    one "spoiled" means when no card is named), or None."""
    with store.session() as s:
        return s.scalar(select(Job.id).where(Job.station == name,
                                             Job.state == State.INTERRUPTED.value)
                        .order_by(Job.updated_at.desc(), Job.seq.desc()).limit(1))


def note_envelope_interrupted(store: Store, job_id: str, name: str, reason: str,
                              actor: str) -> None:
    """The envelope of a plotted card stopped mid-way: an audit row on the job (plotted
    → plotted, with the reason); the card itself stays plotted, no webhook is sent."""
    with store.session() as s:
        job = store._job(s, None, job_id)
        s.add(Transition(job_id=job.id, actor=actor, from_state=job.state,
                         to_state=job.state, revision=job.revision,
                         reason=f"envelope interrupted on {name}: {reason}", at=utcnow()))


def mark_spoiled(store: Store, job_id: str, actor: str) -> Job:
    """The operator threw an interrupted card away: queue it again as a reprint, first in
    line (it keeps its place on the queue), on any station."""
    with store.session() as s:
        job = store._job(s, None, job_id, lock=True)
        if job.state != State.INTERRUPTED.value:  # only a spoiled card is reprinted
            raise TransitionError(State(job.state), State.QUEUED, "mark spoiled and reprint")
        job.error = None
        job.station = None
        store.transition(s, job, State.QUEUED, actor, "spoiled card: queued again as a reprint",
                         "reprint")
    store._after_commit_deliveries()
    return job


def post_command(store: Store, name: str, command: str, actor: str,
                 job_id: str | None = None) -> StationCommand:
    """An operator's command for station ``name`` (taken by the station process)."""
    if command not in COMMANDS:
        raise StationError(f"unknown command {command!r}; one of {', '.join(COMMANDS)}")
    with store.session() as s:
        if s.get(Station, name) is None:
            raise NotFoundError(f"no station {name!r}")
        row = StationCommand(station=name, command=command, actor=actor, job_id=job_id)
        s.add(row)
        return row


def take_commands(store: Store, name: str) -> list[StationCommand]:
    """The station's new commands, oldest first, each returned once."""
    with store.session() as s:
        rows = list(s.scalars(select(StationCommand).where(
            StationCommand.station == name, StationCommand.taken_at.is_(None))
            .order_by(StationCommand.id).with_for_update(skip_locked=True)))
        now = utcnow()
        for row in rows:
            row.taken_at = now
        return rows
