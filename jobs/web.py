"""The people's pages of the service: the approver's ``/approve`` and the operator's
``/station/{name}``, server-rendered (Jinja2 templates in ``jobs/templates``, a little
vanilla JS and CSS in ``jobs/static``; no build step, nothing from a CDN).

Only a session cookie opens these pages (see :mod:`jobs.accounts`); a shop's API key
does not. Routes are short: check the person, call the store or the plot queue, answer
HTML for a browser's form post or JSON for the pages' scripts (``Accept:
application/json``). The operator page follows its station over server-sent events: the
server looks at the database a few times a second and sends the station's state when it
changed, so pages and station processes meet only in the database.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from jobs import accounts, plotqueue
from jobs.accounts import COOKIE, LOGIN_COOKIE, CsrfRefused, Forbidden, NotLoggedIn, Staff
from jobs.db import Batch, Job, Shop, Station, Transition, utcnow
from jobs.schema import JobError, JobSpec, parse_job
from jobs.states import State, TransitionError
from jobs.store import ConflictError, NotFoundError, Store

HERE = Path(__file__).parent
STATION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
RETRY_MS = 1000  # EventSource waits this long before it reconnects
REVIEW_STATES = (State.RECEIVED.value, State.RENDERED.value, State.FAILED.value)
TEXT_FIELDS = ("greeting", "message", "closing", "signature")
RUN_WINDOW = timedelta(hours=12)  # plotted cards of the last shift belong to the run
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Approver = Annotated[Staff, Depends(accounts.staff_with("approver"))]
Operator = Annotated[Staff, Depends(accounts.staff_with("operator"))]
AnyStaff = Annotated[Staff, Depends(accounts.staff_with("operator", "approver"))]


@dataclass
class WebConfig:
    """Timing of the live pages (tests shorten ``sse_max_s``)."""

    sse_poll_s: float = 0.25  # how often the event stream looks at the database
    sse_ping_s: float = 15.0  # a comment line this often keeps proxies from closing it
    # then the stream ends and EventSource reconnects at once; this also bounds how long a
    # graceful shutdown of uvicorn waits for an open page
    sse_max_s: float = 60.0
    sse_auth_s: float = 30.0  # how often a stream checks its session is still valid


def mount_web(app: FastAPI, store: Store) -> None:
    """Add the login, approval and station pages, and ``/static``, to ``app``."""
    templates = Jinja2Templates(directory=HERE / "templates")
    app.state.web = WebConfig()
    app.state.login_throttle = accounts.LoginThrottle()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _error_handlers(app, templates)
    router = APIRouter(include_in_schema=False)
    _login_routes(router, store, templates)
    _approve_routes(router, store, templates)
    _station_routes(router, store, templates)
    app.include_router(router)


# ---------------------------------------------------------------- answers


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def page(templates: Jinja2Templates, request: Request, template: str, status: int = 200, /,
         **context: Any) -> Response:
    """A rendered template with the pages' security headers."""
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(PAGE_HEADERS)
    return response


def answer_error(templates: Jinja2Templates, request: Request, status: int, error: str,
                 message: str, staff: Staff | None = None) -> Response:
    """An error as JSON (``{"error", "message"}``) for scripts, as a page for browsers."""
    if wants_json(request) or request.method not in ("GET", "POST"):
        return JSONResponse({"error": error, "message": message}, status_code=status,
                            headers={"Cache-Control": "no-store"})
    back = safe_next(urlsplit(request.headers.get("referer", "")).path)
    return page(templates, request, "error.html", status, staff=staff, message=message,
                back=back)


def safe_next(target: str | None) -> str:
    """A local path to go to after login (never another site)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _error_handlers(app: FastAPI, templates: Jinja2Templates) -> None:
    @app.exception_handler(NotLoggedIn)
    async def _login(request: Request, _: NotLoggedIn) -> Response:
        # a browser goes to the login form (and back afterwards); scripts get a 401
        if not wants_json(request) and \
                "text/event-stream" not in request.headers.get("accept", ""):
            if request.method == "GET":
                target = request.url.path + (f"?{request.url.query}" if request.url.query
                                             else "")
            else:  # a form sent after the session ended: back to the page it came from
                target = safe_next(urlsplit(request.headers.get("referer", "")).path)
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return JSONResponse({"error": "not_logged_in", "message": "log in at /login first"},
                            status_code=401)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, error: Forbidden) -> Response:
        return answer_error(templates, request, 403, "forbidden", str(error))

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _: CsrfRefused) -> Response:
        return answer_error(templates, request, 403, "csrf", "the form was not sent with this "
                            "session's CSRF token: reload the page and try again")


async def request_fields(request: Request) -> dict[str, Any]:
    """The fields of a JSON object body or a form post (empty for anything else)."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            data = await request.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        return {key: value for key, value in form.items() if isinstance(value, str)}
    return {}


def staff_home(staff: Staff, store: Store) -> str:
    """Where a person starts: approvers (and admins) at /approve, operators at their
    station (or the list of stations)."""
    if staff.may("approver"):
        return "/approve"
    known = plotqueue.stations(store)
    return f"/station/{known[0].name}" if len(known) == 1 else "/stations"


# ---------------------------------------------------------------- login


def _login_routes(router: APIRouter, store: Store, templates: Jinja2Templates) -> None:
    def login_page(request: Request, next_: str, status: int = 200, error: str | None = None,
                   username: str = "") -> Response:
        token = secrets.token_urlsafe(24)
        response = page(templates, request, "login.html", status, staff=None, login_csrf=token,
                        next=safe_next(next_), error=error, username=username)
        accounts.set_cookie(response, request, LOGIN_COOKIE, token, max_age=3600)
        return response

    @router.get("/login")
    def login_form(request: Request, next: str = "/") -> Response:
        staff = accounts.session_staff(store, request.cookies.get(COOKIE))
        if staff is not None:
            target = safe_next(next)
            return RedirectResponse(target if target != "/" else staff_home(staff, store),
                                    status_code=303)
        return login_page(request, next)

    @router.post("/login")
    async def login(request: Request) -> Response:
        fields = await request_fields(request)
        username = str(fields.get("username", "")).strip()
        password = str(fields.get("password", ""))
        next_ = str(fields.get("next", "/"))
        expected = request.cookies.get(LOGIN_COOKIE, "")
        sent = str(fields.get(accounts.CSRF_FIELD, ""))
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return login_page(request, next_, 403, "The login form had expired. Please try "
                              "again.", username)
        throttle: accounts.LoginThrottle = request.app.state.login_throttle
        if not accounts.USERNAME.match(username):  # no such user can exist; nothing to count
            return login_page(request, next_, 401, "Wrong name or password.", username[:80])
        if throttle.blocked(username):
            return login_page(request, next_, 429, "Too many failed logins for this name; "
                              "wait a few minutes.", username)
        user = await run_in_threadpool(accounts.verify_login, store, username, password)
        if user is None:
            throttle.failed(username)
            return login_page(request, next_, 401, "Wrong name or password.", username)
        token, _ = await run_in_threadpool(accounts.start_session, store, user)
        staff = Staff(user.id, user.username, user.role, "")
        target = safe_next(next_)
        if target == "/":
            target = staff_home(staff, store)
        response = RedirectResponse(target, status_code=303)
        # no max-age: the browser keeps it for its session; the server's expiry decides
        response.set_cookie(COOKIE, token, path="/", httponly=True, samesite="strict",
                            secure=accounts.is_https(request))
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    @router.get("/logout")
    def logout_form(request: Request) -> Response:
        staff = accounts.session_staff(store, request.cookies.get(COOKIE))
        if staff is None:
            return RedirectResponse("/login", status_code=303)
        return page(templates, request, "logout.html", staff=staff)

    @router.post("/logout")
    def logout(request: Request, staff: AnyStaff) -> Response:
        accounts.end_session(store, request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/")
    def home(request: Request) -> Response:
        staff = accounts.request_staff(request)
        return RedirectResponse(staff_home(staff, store), status_code=303)


# ---------------------------------------------------------------- approval


def job_texts(job: Job) -> tuple[JobSpec, dict[str, str]]:
    """The job's spec and its texts as written (merge fields filled in)."""
    spec = parse_job(job.request)
    texts = spec.texts()
    return spec, {"greeting": texts["greeting"], "message": texts["body"],
                  "closing": texts["closing"], "signature": texts["signature"]}


def job_view(job: Job, shop_name: str, batch_size: int | None = None) -> dict[str, Any]:
    """What the approval page shows of a job (also its JSON for the page's script)."""
    try:
        spec, texts = job_texts(job)
        recipient = spec.recipient.name if spec.recipient else None
    except JobError as error:
        texts, recipient = {"greeting": "", "message": f"({error})", "closing": "",
                            "signature": ""}, None
    request = job.request
    return {
        "id": job.id, "state": job.state, "revision": job.revision, "error": job.error,
        "shop": shop_name, "shop_id": job.shop_id, "batch_id": job.batch_id,
        "batch_index": job.batch_index, "batch_size": batch_size,
        "recipient": recipient, "card": request.get("card"), "font": request.get("font"),
        "ink": request.get("ink", "blue-black"), "template": "template" in request,
        "coupon": bool(request.get("coupon")), "texts": texts,
        "plot_seconds": job.plot_seconds,
        "preview_url": (f"/staff/jobs/{job.id}/preview.png?rev={job.revision}"
                        if job.state not in (State.RECEIVED.value, State.FAILED.value) else None),
    }


def text_changes(job: Job, fields: dict[str, Any]) -> dict[str, str]:
    """The edit to send to the store from the page's text fields. A job made from a
    template becomes a plain message when its text is edited, so its greeting, closing
    and signature go along as written (merge fields filled), not as template syntax."""
    _, texts = job_texts(job)
    new = {name: str(fields[name]).replace("\r\n", "\n") for name in TEXT_FIELDS
           if name in fields}
    changed = {name: value for name, value in new.items() if value != texts[name]}
    if changed and "template" in job.request:
        return {**texts, **new}
    return changed


def review_jobs(store: Store, shop_id: str | None, limit: int = 500
                ) -> list[tuple[Job, str, int | None]]:
    """Jobs waiting for an approver (rendering, rendered, failed), oldest first, with
    their shop's name and batch size."""
    query = (select(Job, Shop.name, Batch.size).join(Shop, Shop.id == Job.shop_id)
             .outerjoin(Batch, Batch.id == Job.batch_id)
             .where(Job.state.in_(REVIEW_STATES)).order_by(Job.seq).limit(limit))
    if shop_id:
        query = query.where(Job.shop_id == shop_id)
    with store.session() as s:
        return [(job, name, size) for job, name, size in s.execute(query)]


def batch_review(store: Store, batch_id: str) -> tuple[Batch, str, list[Job]]:
    with store.session() as s:
        batch = s.get(Batch, batch_id)
        if batch is None:
            raise NotFoundError(f"no batch {batch_id}")
        shop = s.get(Shop, batch.shop_id)
        jobs = list(s.scalars(select(Job).where(Job.batch_id == batch_id)
                              .order_by(Job.batch_index)))
        return batch, shop.name if shop else batch.shop_id, jobs


def shop_name_of(store: Store, shop_id: str) -> str:
    with store.session() as s:
        shop = s.get(Shop, shop_id)
        return shop.name if shop else shop_id


def _approve_routes(router: APIRouter, store: Store, templates: Jinja2Templates) -> None:
    @router.get("/approve")
    def approve_page(request: Request, staff: Approver,
                     shop: Annotated[str | None, Query(max_length=40)] = None,
                     batch: Annotated[str | None, Query(max_length=40)] = None,
                     approved: int | None = None, skipped: int | None = None) -> Response:
        rows = review_jobs(store, shop)
        batches: dict[str, int] = {}
        for job, _, _ in rows:
            if job.batch_id:
                batches[job.batch_id] = batches.get(job.batch_id, 0) + 1
        views = [job_view(job, name, size) for job, name, size in rows
                 if not batch or job.batch_id == batch]
        with store.session() as s:
            shops = list(s.execute(select(Shop.id, Shop.name).order_by(Shop.name)))
        back = "/approve?" + urlencode({"shop": shop or "", "batch": batch or ""})
        return page(templates, request, "approve.html", staff=staff, jobs=views, shops=shops,
                    batches=batches, shop=shop or "", batch=batch or "", back=back,
                    actions=True, approved=approved, skipped=skipped)

    @router.get("/staff/jobs/{job_id}.json")
    def job_json(job_id: str, staff: Approver) -> JSONResponse:
        job = store.job(None, job_id)
        return JSONResponse(job_view(job, shop_name_of(store, job.shop_id)),
                            headers={"Cache-Control": "no-store"})

    @router.get("/staff/jobs/{job_id}/preview.png")
    def preview(job_id: str, staff: AnyStaff) -> Response:
        job = store.job(None, job_id)
        found = store.artifacts(job).get("card.png")
        if found is None:
            return JSONResponse({"error": "not_rendered", "message": f"the job is {job.state}: "
                                 f"revision {job.revision} has no preview yet"}, status_code=404)
        return FileResponse(store.artifact_path(found), media_type="image/png",
                            headers={"Cache-Control": "private, no-cache",
                                     "X-Content-Type-Options": "nosniff"})

    def done(request: Request, job: Job, fields: dict[str, Any]) -> Response:
        if wants_json(request):
            return JSONResponse(job_view(job, shop_name_of(store, job.shop_id)))
        back = str(fields.get("back", "/approve"))
        return RedirectResponse(back if back.startswith("/approve") else "/approve",
                                status_code=303)

    def refused(request: Request, staff: Staff, error: Exception) -> Response:
        if isinstance(error, TransitionError):
            return answer_error(templates, request, 409, "invalid_transition", str(error), staff)
        if isinstance(error, NotFoundError):
            return answer_error(templates, request, 404, "not_found", str(error), staff)
        if isinstance(error, ConflictError):
            return answer_error(templates, request, 409, "conflict", str(error), staff)
        return answer_error(templates, request, 422, "invalid_job", str(error), staff)

    problems = (TransitionError, NotFoundError, ConflictError, JobError)

    @router.post("/approve/{job_id}/approve")
    async def approve(request: Request, job_id: str, staff: Approver) -> Response:
        fields = await request_fields(request)
        try:
            job = await run_in_threadpool(store.approve, None, job_id, f"user:{staff.username}")
        except problems as error:
            return refused(request, staff, error)
        return done(request, job, fields)

    @router.post("/approve/{job_id}/reject")
    async def reject(request: Request, job_id: str, staff: Approver) -> Response:
        fields = await request_fields(request)
        reason = str(fields.get("reason", "")).strip()
        if not reason or len(reason) > 1000:
            return answer_error(templates, request, 422, "invalid_request",
                                "reason: say why the card is rejected (1 to 1000 characters)",
                                staff)
        try:
            job = await run_in_threadpool(store.reject, None, job_id, f"user:{staff.username}",
                                          reason)
        except problems as error:
            return refused(request, staff, error)
        return done(request, job, fields)

    @router.post("/approve/{job_id}/edit")
    async def edit(request: Request, job_id: str, staff: Approver) -> Response:
        fields = await request_fields(request)
        try:
            job = await run_in_threadpool(store.job, None, job_id)
            changes = text_changes(job, fields)
            if not changes:
                return answer_error(templates, request, 422, "invalid_request",
                                    "nothing was changed in the text", staff)
            job = await run_in_threadpool(store.edit, None, job_id, changes,
                                          f"user:{staff.username}")
        except problems as error:
            return refused(request, staff, error)
        return done(request, job, fields)

    @router.get("/approve/batch/{batch_id}")
    def batch_page(request: Request, batch_id: str, staff: Approver) -> Response:
        batch, shop_name, jobs = batch_review(store, batch_id)
        views = [job_view(job, shop_name, batch.size) for job in jobs]
        ready = [v for v in views if v["state"] == State.RENDERED.value]
        return page(templates, request, "batch.html", staff=staff, batch=batch,
                    shop_name=shop_name, jobs=views, ready=ready, actions=False)

    @router.post("/approve/batch/{batch_id}")
    async def batch_approve(request: Request, batch_id: str, staff: Approver) -> Response:
        """Approve the cards of the batch that the approver looked through: each form
        entry ``job_id:revision``; a card edited or moved on since is left alone."""
        if request.headers.get("content-type", "").startswith("application/json"):
            entries = list((await request_fields(request)).get("jobs") or [])
        else:
            entries = (await request.form()).getlist("job")
        approved, skipped = [], []
        for entry in entries:
            job_id, _, revision = str(entry).partition(":")
            try:
                job = await run_in_threadpool(store.job, None, job_id)
                if job.batch_id != batch_id or str(job.revision) != revision \
                        or job.state != State.RENDERED.value:
                    skipped.append({"id": job_id, "why": f"now {job.state}, revision "
                                    f"{job.revision}: look at it again"})
                    continue
                await run_in_threadpool(store.approve, None, job_id, f"user:{staff.username}")
                approved.append(job_id)
            except problems as error:
                skipped.append({"id": job_id, "why": str(error)})
        if wants_json(request):
            return JSONResponse({"approved": approved, "skipped": skipped})
        query = urlencode({"batch": batch_id, "approved": len(approved),
                           "skipped": len(skipped)})
        return RedirectResponse(f"/approve?{query}", status_code=303)


# ---------------------------------------------------------------- stations


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
        ids = {i for i in (current_id, drawn_id) if i} | {j.id for j in queue[:10]}
        rows = {job.id: (job, shop) for job, shop in s.execute(
            select(Job, Shop.name).join(Shop, Shop.id == Job.shop_id).where(Job.id.in_(ids)))}
        reprints = set(s.scalars(select(Transition.job_id).where(
            Transition.job_id.in_(ids), Transition.from_state == State.INTERRUPTED.value,
            Transition.to_state == State.QUEUED.value)))
        recent = list(s.execute(
            select(Job, Shop.name).join(Shop, Shop.id == Job.shop_id)
            .where(Job.station == name, Job.state.in_([State.PLOTTED.value,
                                                       State.INTERRUPTED.value]))
            .order_by(Job.updated_at.desc()).limit(5)))

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
    }


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
    plotted in the last shift (in the order they came off the plotter), the card on it,
    then its queue. Each with its shop's name."""
    since = utcnow() - RUN_WINDOW
    with store.session() as s:
        found = s.get(Station, name)
        done = list(s.execute(
            select(Job, Shop.name).join(Shop, Shop.id == Job.shop_id)
            .where(Job.station == name, Job.state == State.PLOTTED.value,
                   Job.updated_at >= since).order_by(Job.updated_at)))
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
    found = plotqueue.station(store, name)
    if command == "spoiled":
        target = job_id or found.current_job_id
        if not target:
            raise ConflictError("no interrupted card to mark spoiled")
        job = store.job(None, target)
        if job.state != State.INTERRUPTED.value:
            raise ConflictError(f"card {target} is {job.state}, not interrupted: only an "
                                "interrupted card is marked spoiled")
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


def _station_routes(router: APIRouter, store: Store, templates: Jinja2Templates) -> None:
    @router.get("/stations")
    def stations_page(request: Request, staff: Operator) -> Response:
        return page(templates, request, "stations.html", staff=staff,
                    stations=plotqueue.stations(store))

    @router.get("/station/{name}")
    def station_page(request: Request, name: str, staff: Operator) -> Response:
        state = station_state(store, check_station_name(name))
        return page(templates, request, "station.html", staff=staff, name=name, state=state)

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
