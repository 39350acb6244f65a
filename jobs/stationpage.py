"""The operator's pages: ``/stations`` and ``/station/{name}``, the card on the plotter
drawn live over server-sent events (the server looks at the database a few times a
second and sends the station's state when it changed, so pages and station processes
meet only in the database), the buttons that become station commands, the run's label
and coupon sheets, and marking plotted cards shipped (packed and posted)."""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from jobs import accounts, plotqueue
from jobs.accounts import COOKIE, Staff
from jobs.db import Job, Shop, Station, Transition, utcnow
from jobs.pages import Operator, WebConfig, answer_error, page, request_fields, wants_json
from jobs.schema import JobError, parse_job
from jobs.states import State, TransitionError
from jobs.store import ConflictError, NotFoundError, Store

STATION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
RETRY_MS = 1000  # EventSource waits this long before it reconnects
RUN_WINDOW = timedelta(hours=12)  # plotted cards of the last shift belong to the run


def check_station_name(name: str) -> str:
    if not STATION_NAME.match(name):
        raise NotFoundError(f"no station {name!r}")
    return name


def card_summary(job: Job, shop_name: str, reprints: set[str]) -> dict[str, Any]:
    """A card as the operator page lists it."""
    request = job.request
    return {"id": job.id, "state": job.state, "revision": job.revision, "shop": shop_name,
            "recipient": (request.get("recipient") or {}).get("name"),
            "card": request.get("card"), "ink": request.get("ink", "blue-black"),
            "envelope": request.get("delivery") == "envelope",
            "coupon": bool(request.get("coupon")), "plot_seconds": job.plot_seconds,
            "reprint": job.id in reprints, "error": job.error}


def station_state(store: Store, name: str) -> dict[str, Any]:
    """Everything the operator page shows, as JSON-ready data: the station, the card on
    the plotter (or about to be), its progress, the queue and the last cards."""
    with store.session() as s:
        found = s.get(Station, name)
    queue = plotqueue.queue_of(store, name, limit=200)
    last_interrupted = plotqueue.last_interrupted(store, name)
    progress = dict(found.progress or {}) if found else {}
    current_id = found.current_job_id if found else None
    # the drawing shows the card last under the pen, which stays on the plotter until the
    # next one is loaded; a spoiled card's reprint starts from a blank card
    drawn_id, what = progress.get("job_id"), progress.get("what", "card")
    status = found.status if found else "offline"
    if not drawn_id or (drawn_id == current_id and progress.get("outcome") == "interrupted"
                        and status in ("waiting_load", "pen_change")):
        drawn_id, what, progress = current_id, "card", {}
    with store.session() as s:
        ids = {i for i in (current_id, drawn_id, last_interrupted) if i} | {
            j.id for j in queue[:10]}
        rows = {job.id: (job, shop) for job, shop in s.execute(
            select(Job, Shop.name).join(Shop, Shop.id == Job.shop_id).where(Job.id.in_(ids)))}
        reprints = set(s.scalars(select(Transition.job_id).where(
            Transition.job_id.in_(ids), Transition.from_state == State.INTERRUPTED.value,
            Transition.to_state == State.QUEUED.value)))
        recent = list(s.execute(
            select(Job, Shop.name).join(Shop, Shop.id == Job.shop_id)
            .where(Job.station == name, Job.state.in_([State.PLOTTED.value,
                                                       State.INTERRUPTED.value,
                                                       State.SHIPPED.value]))
            .order_by(Job.updated_at.desc()).limit(5)))
        to_ship = s.scalar(select(func.count()).select_from(Job).where(
            Job.station == name, Job.state == State.PLOTTED.value))

    def summary(job_id: str | None) -> dict[str, Any] | None:
        if not job_id or job_id not in rows:
            return None
        return card_summary(*rows[job_id], reprints)

    drawn = summary(drawn_id)
    return {
        "name": name, "known": found is not None,
        "online": bool(found and found.online),
        "status": status,
        "message": found.message if found else f"Station {name} has not started yet: run "
                                                f"'penpost station --name {name}'.",
        "current_job_id": current_id,
        "current": summary(current_id),
        # the card "spoiled" is for: the station may have claimed the next one meanwhile
        "last_interrupted_id": last_interrupted,
        "last_interrupted": summary(last_interrupted),
        "pen_colour": found.pen_colour if found else None,
        "ink_used_m": round(found.ink_used_mm / 1000, 1) if found else None,
        "ink_capacity_m": round(found.ink_capacity_mm / 1000, 1) if found else None,
        "progress": progress or None,
        "drawn": drawn,
        "card_key": f"{drawn['id']}:{drawn['revision']}:{what}" if drawn else None,
        "drawn_what": what,
        "queue": [summary(j.id) for j in queue[:10] if j.id != current_id],
        "queue_count": len([j for j in queue if j.id != current_id]),
        "queue_seconds": round(sum(j.plot_seconds or 0.0 for j in queue
                                   if j.id != current_id)),
        "recent": [card_summary(job, shop, set()) for job, shop in recent],
        "to_ship": to_ship or 0,
    }


def clock(seconds: float | None) -> str:
    """Seconds as the operator page shows them (as station.js does), "–" when unknown.

    >>> clock(83), clock(3725), clock(None)
    ('1:23', '1:02:05', '–')
    """
    if seconds is None:
        return "–"
    whole = max(0, round(seconds))
    hours, minutes, rest = whole // 3600, whole % 3600 // 60, whole % 60
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def progress_numbers(state: dict[str, Any]) -> dict[str, str]:
    """The strokes, elapsed and remaining time of the card on the plotter, as text: the
    page shows them before its script takes over (and without it)."""
    progress = state["progress"] or {}
    outcome = progress.get("outcome")
    total = progress.get("strokes_total") or 0
    done = total if outcome == "plotted" else (progress.get("strokes_done") or 0)
    remaining = (clock(0) if outcome == "plotted" else
                 "–" if outcome else clock(progress.get("remaining_s")))
    return {"strokes": f"{done} / {total}" if total else "–",
            "elapsed": clock(progress.get("elapsed_s")), "remaining": remaining}


@functools.lru_cache(maxsize=16)
def _strokes_json(path: str, sha256: str, profile: str, width_mm: float, height_mm: float
                  ) -> bytes:
    """The strokes of a G-code file in card mm, in plotting order (cached by content)."""
    from plotter.gcode import read_strokes
    from plotter.profile import load_profile

    text = Path(path).read_text(encoding="ascii")
    drawing = read_strokes(text, load_profile(profile), width_mm, height_mm)
    strokes = [[[round(float(x), 2), round(float(y), 2)] for x, y in stroke]
               for stroke in drawing.strokes]
    return json.dumps({"width_mm": width_mm, "height_mm": height_mm,
                       "strokes": strokes}, separators=(",", ":")).encode("utf-8")


def card_strokes(store: Store, name: str, job_id: str, what: str) -> bytes:
    """The JSON of the strokes of a job's card (or envelope) as station ``name`` plots
    them: ``read_strokes`` of its G-code with the station's machine profile."""
    from cards.envelope import envelope_format
    from cards.formats import card_format

    job = store.job(None, job_id)
    with store.session() as s:
        found = s.get(Station, name)
    profile = found.profile if found else store.settings.profile
    artifact = store.artifacts(job).get("envelope.gcode" if what == "envelope"
                                        else "card.gcode")
    if artifact is None:
        raise NotFoundError(f"job {job_id} has no {what} G-code (revision {job.revision})")
    size = (envelope_format(job.request.get("envelope", "c6")) if what == "envelope"
            else card_format(job.request["card"]))
    body = json.loads(_strokes_json(str(store.artifact_path(artifact)), artifact.sha256,
                                    profile, size.width_mm, size.height_mm))
    body.update(job_id=job.id, revision=job.revision, what=what,
                ink=job.request.get("ink", "blue-black"))
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def run_cards(store: Store, name: str) -> list[tuple[Job, str]]:
    """The station's run in card order, for the label and coupon sheets: cards it
    plotted in the last shift (posted since or not) in the order they came off the
    plotter, the card on it, then its queue. Each with its shop's name."""
    since = utcnow() - RUN_WINDOW
    with store.session() as s:
        found = s.get(Station, name)
        plotted_at = (select(Transition.job_id, func.max(Transition.at).label("at"))
                      .where(Transition.to_state == State.PLOTTED.value,
                             Transition.at >= since)
                      .group_by(Transition.job_id).subquery())
        done = list(s.execute(
            select(Job, Shop.name).join(Shop, Shop.id == Job.shop_id)
            .join(plotted_at, plotted_at.c.job_id == Job.id)
            .where(Job.station == name,
                   Job.state.in_([State.PLOTTED.value, State.SHIPPED.value]))
            .order_by(plotted_at.c.at, Job.id)))
        current = None
        if found is not None and found.current_job_id:
            current = s.execute(select(Job, Shop.name).join(Shop, Shop.id == Job.shop_id)
                                .where(Job.id == found.current_job_id,
                                       Job.state == State.PLOTTING.value)).first()
        names = {shop_id: shop for shop_id, shop in s.execute(select(Shop.id, Shop.name))}
    cards = [(job, shop) for job, shop in done]
    if current is not None:
        cards.append((current[0], current[1]))
    seen = {job.id for job, _ in cards}
    cards += [(job, names.get(job.shop_id, job.shop_id)) for job in
              plotqueue.queue_of(store, name, limit=500) if job.id not in seen]
    return cards


def run_labels_pdf(cards: list[tuple[Job, str]], *, sheet: str, start: int) -> bytes:
    """The run's label sheet, in card order (see :func:`jobs.companions.labels_for`)."""
    from jobs.companions import labels_for

    return labels_for([(job.id, parse_job(job.request)) for job, _ in cards],
                      sheet=sheet, start=start)


def run_coupons_pdf(cards: list[tuple[Job, str]], *, size: str) -> bytes:
    """The run's coupon inserts in card order, each with its own shop's name."""
    from jobs.companions import coupons_for

    return coupons_for([(job.id, parse_job(job.request)) for job, _ in cards],
                       shop_name=[shop for _, shop in cards], size=size)


# what each button may do, by the station's status
COMMAND_WHEN = {
    "load_done": ("waiting_load",),
    "pause": ("plotting",),
    "resume": ("paused",),
    "abort": ("plotting", "paused", "waiting_load"),
    "pen_changed": ("idle", "pen_change", "waiting_load", "interrupted"),
}


def station_command(store: Store, name: str, command: str, job_id: str | None,
                    actor: str) -> str:
    """Carry out an operator's button: a command for the station process, or (spoiled)
    the reprint of an interrupted card. Returns what was done; :class:`ConflictError`
    when the station is not in a state where the button means anything."""
    if command == "shipped":
        return ship_plotted(store, name, job_id, actor)
    found = plotqueue.station(store, name)
    if command == "spoiled":
        # the newest card interrupted here, whatever the station has claimed since
        target = job_id or plotqueue.last_interrupted(store, name)
        if not target:
            raise ConflictError(f"station {name} has no interrupted card to mark spoiled")
        job = store.job(None, target)
        if job.state != State.INTERRUPTED.value:
            raise ConflictError(f"card {target} is {job.state}, not interrupted: only an "
                                "interrupted card is marked spoiled")
        if job.station != name:
            raise ConflictError(f"card {target} was interrupted on station {job.station}, "
                                f"not {name}: mark it spoiled there")
        plotqueue.mark_spoiled(store, target, actor)
        return f"{target} marked spoiled: queued again as a reprint"
    if command not in COMMAND_WHEN:
        raise NotFoundError(f"no button {command!r}")
    if not found.online or found.status not in COMMAND_WHEN[command]:
        raise ConflictError(f"station {name} is {found.status}: "
                            f"{command.replace('_', ' ')} is not possible now")
    if command == "load_done" and job_id and job_id != found.current_job_id:
        raise ConflictError(f"the station now asks for {found.current_job_id}, not {job_id}: "
                            "look at the page again")
    plotqueue.post_command(store, name, command, actor, job_id=found.current_job_id)
    return f"{command.replace('_', ' ')} sent to {name}"


def ship_plotted(store: Store, name: str, job_id: str | None, actor: str) -> str:
    """Mark the station's plotted cards shipped (packed and posted), or only ``job_id``;
    each gets its audit row and webhook. :class:`ConflictError` when there is none."""
    with store.session() as s:
        query = select(Job.id).where(Job.station == name, Job.state == State.PLOTTED.value)
        if job_id:
            query = query.where(Job.id == job_id)
        ids = list(s.scalars(query.order_by(Job.updated_at)))
    if not ids:
        what = f"card {job_id} is not a plotted card of" if job_id else "no plotted card on"
        raise ConflictError(f"{what} station {name}: nothing to mark shipped")
    for found in ids:
        store.ship(None, found, actor)
    return f"{len(ids)} card{'' if len(ids) == 1 else 's'} marked shipped"


def station_routes(router: APIRouter, store: Store, templates: Jinja2Templates) -> None:
    @router.get("/stations")
    def stations_page(request: Request, staff: Operator) -> Response:
        return page(templates, request, "stations.html", staff=staff,
                    stations=plotqueue.stations(store))

    @router.get("/station/{name}")
    def station_page(request: Request, name: str, staff: Operator) -> Response:
        state = station_state(store, check_station_name(name))
        return page(templates, request, "station.html", staff=staff, name=name, state=state,
                    numbers=progress_numbers(state))

    @router.get("/station/{name}/state.json")
    def state_json(name: str, staff: Operator) -> JSONResponse:
        return JSONResponse(station_state(store, check_station_name(name)),
                            headers={"Cache-Control": "no-store"})

    @router.get("/station/{name}/card.json")
    def card_json(name: str, staff: Operator,
                  job: Annotated[str | None, Query(max_length=40)] = None,
                  what: Annotated[str, Query(pattern="^(card|envelope)$")] = "card"
                  ) -> Response:
        check_station_name(name)
        if job is None:
            state = station_state(store, name)
            if state["drawn"] is None:
                raise NotFoundError(f"station {name} has no card on it")
            job, what = state["drawn"]["id"], state["drawn_what"]
        return Response(card_strokes(store, name, job, what), media_type="application/json",
                        headers={"Cache-Control": "private, max-age=3600"})

    @router.get("/station/{name}/events")
    async def events(request: Request, name: str, staff: Operator) -> Response:
        check_station_name(name)
        config: WebConfig = request.app.state.web
        token = request.cookies.get(COOKIE)
        return StreamingResponse(
            station_events(store, name, config, token, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @router.post("/station/{name}/commands/{command}")
    async def command(request: Request, name: str, command: str, staff: Operator
                      ) -> Response:
        fields = await request_fields(request)
        job_id = str(fields["job"]) if fields.get("job") else None
        try:
            said = await run_in_threadpool(station_command, store, check_station_name(name),
                                           command, job_id, f"user:{staff.username}")
        except NotFoundError as error:
            return answer_error(templates, request, 404, "not_found", str(error), staff)
        except (ConflictError, TransitionError) as error:
            return answer_error(templates, request, 409, "conflict", str(error), staff)
        if wants_json(request):
            return JSONResponse({"ok": True, "message": said})
        return RedirectResponse(f"/station/{name}", status_code=303)

    def pdf_answer(request: Request, staff: Staff, make: Any, filename: str) -> Response:
        try:
            pdf = make()
        except JobError as error:
            return answer_error(templates, request, 409, "nothing_to_print", str(error), staff)
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"})

    @router.get("/station/{name}/labels.pdf")
    def labels(request: Request, name: str, staff: Operator,
               start: Annotated[int, Query(ge=1, le=100)] = 1,
               sheet: Annotated[str, Query(max_length=40)] = "zweckform-3475") -> Response:
        cards = run_cards(store, check_station_name(name))
        return pdf_answer(request, staff, lambda: run_labels_pdf(cards, sheet=sheet,
                                                                 start=start),
                          f"labels-{name}.pdf")

    @router.get("/station/{name}/coupons.pdf")
    def coupons(request: Request, name: str, staff: Operator,
                size: Annotated[str, Query(max_length=40)] = "a7") -> Response:
        cards = run_cards(store, check_station_name(name))
        return pdf_answer(request, staff, lambda: run_coupons_pdf(cards, size=size),
                          f"coupons-{name}.pdf")


async def station_events(store: Store, name: str, config: WebConfig, token: str | None,
                         request: Request | None = None) -> AsyncIterator[str]:
    """Server-sent events: the station's state (``event: state``) whenever it changed,
    a comment line now and then, and ``event: logout`` when the session ended. Ends
    after ``config.sse_max_s``; the browser's EventSource then connects again."""
    loop = asyncio.get_running_loop()
    started = last_sent = last_auth = loop.time()
    last = None
    yield f"retry: {RETRY_MS}\n\n"
    while True:
        if request is not None and await request.is_disconnected():
            return
        now = loop.time()
        if now - last_auth >= config.sse_auth_s:
            last_auth = now
            if await run_in_threadpool(accounts.session_staff, store, token) is None:
                yield "event: logout\ndata: {}\n\n"
                return
        state = await run_in_threadpool(station_state, store, name)
        text = json.dumps(state, sort_keys=True, default=str, separators=(",", ":"))
        if text != last:
            last, last_sent = text, now
            yield f"event: state\ndata: {text}\n\n"
        elif now - last_sent >= config.sse_ping_s:
            last_sent = now
            yield ": ping\n\n"
        if now - started >= config.sse_max_s:
            return
        await asyncio.sleep(config.sse_poll_s)
