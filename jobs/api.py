"""The HTTP API for shops (FastAPI, under ``/v1``; OpenAPI at ``/docs``).

Routes are short: authenticate, parse, call the store, answer. Every failure a client can
cause gets a 4xx naming the problem; the database being unreachable is a 503 that says
nothing was stored. Nothing answers 500 on bad input.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobs.db import Job, Shop
from jobs.schema import Address, JobError, JobSpec
from jobs.settings import Settings
from jobs.states import State, TransitionError
from jobs.store import ConflictError, Dispatcher, NotFoundError, Store
from jobs.web import mount_web

API_PREFIX = "/v1"
CSV_RESERVED = {"recipient_name", "recipient_company", "recipient_street", "recipient_street_2",
                "recipient_postcode", "recipient_city", "recipient_region", "recipient_country"}


# ---------------------------------------------------------------- request and answer models


class JobRequest(JobSpec):
    """A job as a shop submits it: a :class:`JobSpec`, or a stored template by name
    (``template_name``) with ``fields``. Font, card and sender default to the shop's."""

    template_name: str | None = Field(default=None, max_length=80,
                                      description="a template stored with PUT /v1/templates")

    @model_validator(mode="after")
    def _message_or_template(self) -> JobRequest:  # replaces JobSpec's check
        given = [n for n in ("message", "template", "template_name") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("give exactly one of 'message', 'template' or 'template_name'")
        if self.fields and self.message is not None:
            raise ValueError("'fields' are only used with a template")
        if self.delivery == "envelope" and self.recipient is None:
            raise ValueError("delivery 'envelope' needs a 'recipient' to write on it")
        return self


class JobPatch(BaseModel):
    """Changes to a job: a new revision is rendered and approval starts over."""

    model_config = ConfigDict(extra="forbid")

    card: str | None = None
    font: str | None = None
    language: Literal["de", "en", "de-at", "de-ch", "en-gb", "en-us"] | None = None
    greeting: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, max_length=4000)
    template: str | None = Field(default=None, max_length=4000)
    fields: dict[str, str | int | float] | None = None
    closing: str | None = Field(default=None, max_length=200)
    signature: str | None = Field(default=None, max_length=200)
    variation: float | None = Field(default=None, ge=0.0, le=3.0)
    x_height_mm: float | None = Field(default=None, gt=0.5, le=10.0)
    recipient: Address | None = None
    sender: Address | None = None
    ink: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,39}$")
    delivery: Literal["label", "envelope", "none"] | None = None
    envelope: str | None = Field(default=None, max_length=20)


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class OptionalReason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


class BatchRequest(BaseModel):
    """Many jobs at once, in card order: all are stored, or none."""

    model_config = ConfigDict(extra="forbid")
    jobs: list[JobRequest] = Field(min_length=1)


class TemplateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = Field(min_length=1, max_length=4000)
    greeting: str | None = Field(default=None, max_length=200)
    closing: str | None = Field(default=None, max_length=200)
    signature: str | None = Field(default=None, max_length=200)
    card: str | None = None
    font: str | None = None
    language: Literal["de", "en", "de-at", "de-ch", "en-gb", "en-us"] | None = None


class ShopPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    webhook_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    sender: Address | None = None
    default_font: str | None = None
    default_card: str | None = None


class JobOut(BaseModel):
    id: str
    state: str
    revision: int
    seed: int
    batch_id: str | None
    batch_index: int | None
    created_at: datetime
    updated_at: datetime
    error: str | None
    plot_seconds: float | None
    request: dict[str, Any]
    links: dict[str, str]


class JobList(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None


class BatchOut(BaseModel):
    id: str
    size: int
    created_at: datetime
    states: dict[str, int]
    jobs: list[JobOut]


class TransitionOut(BaseModel):
    at: datetime
    actor: str
    from_state: str | None
    to_state: str
    revision: int
    reason: str | None


class DeliveryOut(BaseModel):
    id: int
    event: str
    url: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None


class EventsOut(BaseModel):
    transitions: list[TransitionOut]
    deliveries: list[DeliveryOut]


class TemplateOut(BaseModel):
    name: str
    body: dict[str, Any]


class ShopOut(BaseModel):
    id: str
    name: str
    webhook_url: str | None
    webhook_secret: str
    sender: dict[str, Any] | None
    default_font: str | None
    default_card: str | None


class Problem(BaseModel):
    """Every error answer: a code and a message naming the problem (one per line)."""

    error: str
    message: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (400, 401, 404, 409, 413, 422, 429, 503)}


def job_out(job: Job) -> JobOut:
    base = f"{API_PREFIX}/jobs/{job.id}"
    links = {"self": base, "events": f"{base}/events"}
    if job.state not in (State.RECEIVED.value, State.FAILED.value):
        links.update(preview_pdf=f"{base}/preview.pdf", preview_png=f"{base}/preview.png",
                     gcode=f"{base}/card.gcode", svg=f"{base}/card.svg")
    if job.state == State.RENDERED.value:
        links.update(approve=f"{base}/approve", reject=f"{base}/reject")
    return JobOut(id=job.id, state=job.state, revision=job.revision, seed=job.seed,
                  batch_id=job.batch_id, batch_index=job.batch_index, created_at=job.created_at,
                  updated_at=job.updated_at, error=job.error, plot_seconds=job.plot_seconds,
                  request=job.request, links=links)


# ---------------------------------------------------------------- limits


def problem(status: int, error: str, message: str, headers: dict[str, str] | None = None
            ) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes is a 413, whether announced by
    Content-Length or streamed in chunks.

    The body is read here, before the app sees the request, and handed on whole: a limit
    hit while the app reads would surface inside FastAPI's body parsing, which turns any
    error there into a 400. Every route reads its whole body anyway, and none is larger
    than ``limit``."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_big = problem(413, "body_too_large", f"the request body is larger than the limit of "
                          f"{self.limit} bytes")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await too_big(scope, receive, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body was whole: no one to answer
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await too_big(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message | None = {"type": "http.request", "body": b"".join(chunks),
                                 "more_body": False}

        async def replay() -> Message:
            nonlocal whole
            if whole is not None:
                message, whole = whole, None
                return message
            return await receive()  # after the body: http.disconnect, when it comes

        await self.app(scope, replay, send)


class RateLimiter:
    """A sliding one-minute window of requests per API key, counted in the database
    (:meth:`Store.count_request`): every API process on it shares the one limit."""

    def __init__(self, store: Store, per_minute: int) -> None:
        self.store = store
        self.per_minute = per_minute

    def retry_after(self, key_id: int, now: float | None = None) -> int:
        """0 when the call may go ahead (and counts it), else seconds to wait."""
        return self.store.count_request(key_id, self.per_minute, now)


class RateLimited(Exception):
    def __init__(self, seconds: int) -> None:
        self.seconds = seconds


# ---------------------------------------------------------------- the app


def shop_of(request: Request, authorization: Annotated[str | None, Header()] = None) -> Shop:
    """The shop of the request's bearer key (401 without one, 429 over its rate)."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send 'Authorization: Bearer <API key>'")
    found = request.app.state.store.authenticate_key(key.strip())
    if found is None:
        raise Unauthorized("the API key is unknown or revoked")
    shop, key_id = found
    wait = request.app.state.limiter.retry_after(key_id)
    if wait:
        raise RateLimited(wait)
    return shop


ShopDep = Annotated[Shop, Depends(shop_of)]


def create_app(settings: Settings, *, dispatcher: Dispatcher | None = None,
               store: Store | None = None, sweep: bool = False) -> FastAPI:
    """The API app on ``settings``' store; with ``sweep``, a background thread re-sends
    lost renders and due webhooks every ``sweep_interval_s``."""
    store = store or Store(settings, dispatcher)
    limiter = RateLimiter(store, settings.rate_limit_per_minute)
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        thread = None
        if sweep:
            thread = threading.Thread(target=_sweeper, args=(store, stop), daemon=True,
                                      name="penpost-sweeper")
            thread.start()
        yield
        stop.set()
        if thread is not None:
            thread.join(timeout=5)

    app = FastAPI(title="penpost", version="1.0",
                  description="Handwritten apology cards: submit, preview, approve, track.",
                  lifespan=lifespan)
    app.state.store = store
    app.state.limiter = limiter
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    _handlers(app)

    v1 = API_PREFIX

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        with store.session() as s:
            s.execute(__import__("sqlalchemy").text("SELECT 1"))
        return {"status": "ok"}

    @app.post(f"{v1}/jobs", status_code=201, response_model=JobOut, responses=ERRORS)
    def submit_job(body: JobRequest, shop: ShopDep,
                   idempotency_key: Annotated[str | None, Header(max_length=200)] = None
                   ) -> JSONResponse:
        """Submit one card. 201 means it is stored and can be rendered."""
        data = body.model_dump(mode="json", exclude_unset=True)
        result = store.submit(shop, data, idempotency_key=idempotency_key)
        return JSONResponse(job_out(result.job).model_dump(mode="json"),
                            status_code=201 if result.created else 200)

    @app.post(f"{v1}/batches", status_code=201, response_model=BatchOut, responses=ERRORS,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}},
                  "text/csv": {"schema": {"type": "string"}}}}})
    async def submit_batch(request: Request, shop: ShopDep,
                           idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
                           template_name: Annotated[str | None, Query(max_length=80)] = None,
                           card: Annotated[str | None, Query(max_length=60)] = None,
                           font: Annotated[str | None, Query(max_length=60)] = None,
                           language: Annotated[str | None, Query(max_length=8)] = None,
                           ) -> JSONResponse:
        """Many cards in one request: JSON ``{"jobs": [...]}``, or CSV (``text/csv``,
        one row a recipient, columns as merge fields, ``recipient_*`` columns for the
        address) with ``template_name`` naming a stored template."""
        raw = await request.body()
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "text/csv":
            bodies = csv_jobs(raw, template_name=template_name, card=card, font=font,
                              language=language)
        else:
            try:
                parsed = BatchRequest.model_validate_json(raw or b"{}")
            except ValueError as error:
                raise RequestValidationError(getattr(error, "errors", lambda: [])()) from None
            bodies = [j.model_dump(mode="json", exclude_unset=True) for j in parsed.jobs]
        batch, jobs, created = store.submit_batch(shop, bodies, idempotency_key=idempotency_key)
        return JSONResponse(batch_out(batch, jobs).model_dump(mode="json"),
                            status_code=201 if created else 200)

    def batch_out(batch: Any, jobs: list[Job]) -> BatchOut:
        states: dict[str, int] = defaultdict(int)
        for job in jobs:
            states[job.state] += 1
        return BatchOut(id=batch.id, size=batch.size, created_at=batch.created_at,
                        states=dict(states), jobs=[job_out(j) for j in jobs])

    @app.get(f"{v1}/batches/{{batch_id}}", response_model=BatchOut, responses=ERRORS)
    def get_batch(batch_id: str, shop: ShopDep) -> BatchOut:
        """A batch with its jobs in card order and a count per state."""
        return batch_out(store.batch(shop.id, batch_id), store.batch_jobs(shop.id, batch_id))

    def batch_cards(shop: Shop, batch_id: str) -> list[tuple[str, JobSpec]]:
        from jobs.schema import parse_job

        return [(job.id, parse_job(job.request)) for job in store.batch_jobs(shop.id, batch_id)
                if job.state not in (State.CANCELLED.value, State.REJECTED.value)]

    @app.get(f"{v1}/batches/{{batch_id}}/labels.pdf", response_class=Response,
             responses={200: {"content": {"application/pdf": {}}}, **ERRORS})
    def batch_labels(batch_id: str, shop: ShopDep,
                     start: Annotated[int, Query(ge=1, le=100)] = 1,
                     sheet: Annotated[str, Query(max_length=40)] = "zweckform-3475") -> Response:
        """Recipient labels of the batch in card order (cancelled and rejected cards left
        out), from label cell ``start`` of the first sheet."""
        from jobs.companions import labels_for

        pdf = labels_for(batch_cards(shop, batch_id), sheet=sheet, start=start)
        return Response(pdf, media_type="application/pdf")

    @app.get(f"{v1}/batches/{{batch_id}}/coupons.pdf", response_class=Response,
             responses={200: {"content": {"application/pdf": {}}}, **ERRORS})
    def batch_coupons(batch_id: str, shop: ShopDep,
                      size: Annotated[str, Query(max_length=40)] = "a7") -> Response:
        """Coupon inserts of the batch's cards, in card order, with crop marks."""
        from jobs.companions import coupons_for

        pdf = coupons_for(batch_cards(shop, batch_id), shop_name=shop.name, size=size)
        return Response(pdf, media_type="application/pdf")

    @app.get(f"{v1}/batches/{{batch_id}}/packing-list.csv", response_class=Response,
             responses={200: {"content": {"text/csv": {}}}, **ERRORS})
    def batch_packing_list(batch_id: str, shop: ShopDep) -> Response:
        """Order mark, job id, recipient and coupon code of every card, in card order."""
        from jobs.companions import packing_list

        return Response(packing_list(batch_cards(shop, batch_id)),
                        media_type="text/csv; charset=utf-8")

    @app.get(f"{v1}/jobs", response_model=JobList, responses=ERRORS)
    def list_jobs(shop: ShopDep, state: State | None = None,
                  batch_id: Annotated[str | None, Query(max_length=40)] = None,
                  cursor: Annotated[str | None, Query(max_length=100)] = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> JobList:
        """The shop's jobs, oldest first; pass ``next_cursor`` back for the next page."""
        jobs, next_cursor = store.list_jobs(shop.id, state=state.value if state else None,
                                            batch_id=batch_id, cursor=cursor, limit=limit)
        return JobList(jobs=[job_out(j) for j in jobs], next_cursor=next_cursor)

    @app.get(f"{v1}/jobs/{{job_id}}", response_model=JobOut, responses=ERRORS)
    def get_job(job_id: str, shop: ShopDep) -> JobOut:
        return job_out(store.job(shop.id, job_id))

    @app.patch(f"{v1}/jobs/{{job_id}}", response_model=JobOut, responses=ERRORS)
    def edit_job(job_id: str, body: JobPatch, shop: ShopDep) -> JobOut:
        """Edit text, font, card…: a new revision is rendered; approval starts over."""
        changes = body.model_dump(mode="json", exclude_unset=True)
        return job_out(store.edit(shop.id, job_id, changes, actor=f"shop:{shop.name}"))

    @app.post(f"{v1}/jobs/{{job_id}}/approve", response_model=JobOut, responses=ERRORS)
    def approve(job_id: str, shop: ShopDep) -> JobOut:
        """Approve the rendered preview: the card goes on the plot queue."""
        return job_out(store.approve(shop.id, job_id, actor=f"shop:{shop.name}"))

    @app.post(f"{v1}/jobs/{{job_id}}/reject", response_model=JobOut, responses=ERRORS)
    def reject(job_id: str, body: Reason, shop: ShopDep) -> JobOut:
        return job_out(store.reject(shop.id, job_id, f"shop:{shop.name}", body.reason))

    @app.post(f"{v1}/jobs/{{job_id}}/cancel", response_model=JobOut, responses=ERRORS)
    def cancel(job_id: str, shop: ShopDep,
               body: Annotated[OptionalReason | None, Body()] = None) -> JobOut:
        return job_out(store.cancel(shop.id, job_id, f"shop:{shop.name}",
                                    body.reason if body else None))

    @app.get(f"{v1}/jobs/{{job_id}}/events", response_model=EventsOut, responses=ERRORS)
    def events(job_id: str, shop: ShopDep) -> EventsOut:
        """The job's audit trail and its webhook deliveries."""
        transitions, deliveries = store.events(shop.id, job_id)
        return EventsOut(
            transitions=[TransitionOut(at=t.at, actor=t.actor, from_state=t.from_state,
                                       to_state=t.to_state, revision=t.revision, reason=t.reason)
                         for t in transitions],
            deliveries=[DeliveryOut(id=d.id, event=d.event, url=d.url, status=d.status,
                                    attempts=d.attempts, last_status_code=d.last_status_code,
                                    last_error=d.last_error, next_attempt_at=d.next_attempt_at,
                                    delivered_at=d.delivered_at) for d in deliveries])

    files = {"preview.pdf": ("preview.pdf", "application/pdf"),
             "preview.png": ("card.png", "image/png"),
             "card.gcode": ("card.gcode", "text/x-gcode"),
             "card.svg": ("card.svg", "image/svg+xml")}

    def artifact(job_id: str, shop: Shop, name: str) -> FileResponse:
        job = store.job(shop.id, job_id)
        stored, media = files[name]
        found = store.artifacts(job).get(stored)
        if found is None:
            raise ConflictError(f"the job is {job.state}: revision {job.revision} has no "
                                f"{name} yet" + (f" ({job.error})" if job.error else ""))
        return FileResponse(store.artifact_path(found), media_type=media,
                            headers={"ETag": f'"{found.sha256}"',
                                     "X-Penpost-Revision": str(job.revision)})

    def artifact_route(name: str) -> Any:
        def route(job_id: str, shop: ShopDep) -> FileResponse:
            return artifact(job_id, shop, name)

        return route

    for name in files:
        app.get(f"{v1}/jobs/{{job_id}}/{name}", responses={200: {"content": {
            files[name][1]: {}}}, **ERRORS}, response_class=FileResponse,
            name=f"job_{name.replace('.', '_')}",
            summary=f"The {name} of the job's current revision")(artifact_route(name))

    @app.put(f"{v1}/templates/{{name}}", response_model=TemplateOut, responses=ERRORS)
    def put_template(name: Annotated[str, Path(max_length=80, pattern=r"^[\w.-]+$")],
                     body: TemplateBody, shop: ShopDep) -> TemplateOut:
        """Store a named template with merge fields (``Liebe {{ vorname }}, …``)."""
        data = body.model_dump(exclude_none=True)
        row = store.put_template(shop.id, name, data)
        return TemplateOut(name=row.name, body=row.body)

    @app.get(f"{v1}/templates", response_model=list[TemplateOut], responses=ERRORS)
    def list_templates(shop: ShopDep) -> list[TemplateOut]:
        return [TemplateOut(name=t.name, body=t.body) for t in store.templates(shop.id)]

    @app.get(f"{v1}/templates/{{name}}", response_model=TemplateOut, responses=ERRORS)
    def get_template(name: str, shop: ShopDep) -> TemplateOut:
        row = store.template(shop.id, name)
        return TemplateOut(name=row.name, body=row.body)

    @app.delete(f"{v1}/templates/{{name}}", status_code=204, responses=ERRORS)
    def delete_template(name: str, shop: ShopDep) -> None:
        store.delete_template(shop.id, name)

    @app.get(f"{v1}/shop", response_model=ShopOut, responses=ERRORS)
    def get_shop(shop: ShopDep) -> ShopOut:
        """The shop of the key, with its webhook secret (to verify signatures)."""
        return shop_out(shop)

    @app.patch(f"{v1}/shop", response_model=ShopOut, responses=ERRORS)
    def patch_shop(body: ShopPatch, shop: ShopDep) -> ShopOut:
        """Set the webhook URL, the default sender address, font and card."""
        changes = body.model_dump(mode="json", exclude_unset=True)
        for name in ("default_font", "default_card"):
            if changes.get(name):
                check = {"font": changes[name]} if name == "default_font" else {"card": changes[name]}
                _check_font_or_card(check)
        return shop_out(store.update_shop(shop.id, changes))

    mount_web(app, store)
    return app


def shop_out(shop: Shop) -> ShopOut:
    return ShopOut(id=shop.id, name=shop.name, webhook_url=shop.webhook_url,
                   webhook_secret=shop.webhook_secret, sender=shop.sender,
                   default_font=shop.default_font, default_card=shop.default_card)


def _check_font_or_card(which: dict[str, str]) -> None:
    from cards.formats import UnknownCardFormatError, card_format
    from fonts.catalog import UnknownFontError, font_names

    try:
        if "font" in which and which["font"] not in font_names():
            raise UnknownFontError(f"unknown font {which['font']!r}; known fonts: "
                                   f"{', '.join(font_names())}")
        if "card" in which:
            card_format(which["card"])
    except (UnknownFontError, UnknownCardFormatError) as error:
        raise JobError(str(error)) from None


def csv_jobs(raw: bytes, *, template_name: str | None, card: str | None, font: str | None,
             language: str | None) -> list[dict[str, Any]]:
    """Job bodies from a CSV upload: one row a recipient; ``recipient_*`` columns make
    the address, every other column is a merge field of the template."""
    if not template_name:
        raise JobError("template_name: a CSV batch needs the name of a stored template "
                       "(query parameter template_name)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise JobError(f"csv: not UTF-8 text (byte {error.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise JobError("csv: no header row")
    bodies = []
    for number, row in enumerate(reader, start=2):
        if None in row:
            raise JobError(f"csv line {number}: more values than columns")
        values = {k.strip(): (v or "").strip() for k, v in row.items()}
        body: dict[str, Any] = {"template_name": template_name}
        for key, value in (("card", card), ("font", font), ("language", language)):
            if value:
                body[key] = value
        if values.get("recipient_name"):
            street = [values[k] for k in ("recipient_street", "recipient_street_2") if values.get(k)]
            body["recipient"] = {k: v for k, v in {
                "name": values["recipient_name"], "company": values.get("recipient_company") or None,
                "street_lines": street, "postcode": values.get("recipient_postcode", ""),
                "city": values.get("recipient_city", ""),
                "region": values.get("recipient_region") or None,
                "country": values.get("recipient_country") or "DE"}.items() if v is not None}
        fields = {k: v for k, v in values.items() if k not in CSV_RESERVED}
        bad = [k for k in fields if not k.isidentifier()]
        if bad:
            raise JobError(f"csv: column {bad[0]!r} is not a valid merge field name")
        body["fields"] = fields
        bodies.append(body)
    if not bodies:
        raise JobError("csv: no rows after the header")
    return bodies


class Unauthorized(Exception):
    pass


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(JobError)
    async def _job_error(_: Request, error: JobError) -> JSONResponse:
        return problem(422, "invalid_job", str(error))

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, error: NotFoundError) -> JSONResponse:
        return problem(404, "not_found", str(error.args[0]) if error.args else "not found")

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, error: ConflictError) -> JSONResponse:
        return problem(409, "conflict", str(error))

    @app.exception_handler(TransitionError)
    async def _transition(_: Request, error: TransitionError) -> JSONResponse:
        return JSONResponse({"error": "invalid_transition", "message": str(error),
                             "state": error.current.value}, status_code=409)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, error: Unauthorized) -> JSONResponse:
        return problem(401, "unauthorized", str(error), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RateLimited)
    async def _rate(_: Request, error: RateLimited) -> JSONResponse:
        return problem(429, "rate_limited", f"too many requests for this key; retry in "
                       f"{error.seconds} s", {"Retry-After": str(error.seconds)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        lines = []
        for item in error.errors():
            loc = [str(p) for p in item.get("loc", ()) if p not in ("body",)]
            message = str(item.get("msg", "invalid"))
            message = message.removeprefix("Value error, ")
            lines.append(f"{'.'.join(loc) or 'body'}: {message}")
        return problem(422, "invalid_request", "\n".join(lines) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        message = str(error.detail)
        if error.status_code == 400 and "parsing the body" in message:
            message = "the request body cannot be read: send JSON (UTF-8) as the schema says"
        return problem(error.status_code, "http_error", message, dict(error.headers or {}))

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _database(_: Request, error: Exception) -> JSONResponse:
        return problem(503, "database_unavailable", "the job database cannot be reached; "
                       "nothing was stored by this request, try again shortly",
                       {"Retry-After": "5"})


def _sweeper(store: Store, stop: threading.Event) -> None:
    """Re-send lost renders and due webhooks until ``stop`` is set."""
    while not stop.wait(store.settings.sweep_interval_s):
        try:
            store.sweep()
        except Exception:  # noqa: BLE001 - the database may be away; try next round
            pass
