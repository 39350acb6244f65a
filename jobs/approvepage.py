"""The approver's pages: ``/approve`` lists the cards waiting for a decision with their
previews (filterable by shop and batch, new cards appear without a reload), one key
each to approve, reject with a reason or edit the text; ``/approve/batch/{id}`` looks
through a whole batch and approves it in one go."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from jobs.accounts import Staff
from jobs.db import Batch, Job, Shop
from jobs.pages import AnyStaff, Approver, answer_error, page, request_fields, wants_json
from jobs.schema import JobError, JobSpec, parse_job
from jobs.states import State, TransitionError
from jobs.store import ConflictError, NotFoundError, Store

REVIEW_STATES = (State.RECEIVED.value, State.RENDERED.value, State.FAILED.value)
TEXT_FIELDS = ("greeting", "message", "closing", "signature")


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
        "id": job.id, "seq": job.seq, "state": job.state, "revision": job.revision,
        "error": job.error,
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


def review_jobs(store: Store, shop_id: str | None, limit: int = 500, *,
                batch_id: str | None = None, after_seq: int | None = None
                ) -> list[tuple[Job, str, int | None]]:
    """Jobs waiting for an approver (rendering, rendered, failed), oldest first, with
    their shop's name and batch size; only those of ``batch_id``, and only those that
    came in after job number ``after_seq``, when given."""
    query = (select(Job, Shop.name, Batch.size).join(Shop, Shop.id == Job.shop_id)
             .outerjoin(Batch, Batch.id == Job.batch_id)
             .where(Job.state.in_(REVIEW_STATES)).order_by(Job.seq).limit(limit))
    if shop_id:
        query = query.where(Job.shop_id == shop_id)
    if batch_id:
        query = query.where(Job.batch_id == batch_id)
    if after_seq is not None:
        query = query.where(Job.seq > after_seq)
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


def approve_routes(router: APIRouter, store: Store, templates: Jinja2Templates) -> None:
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
        newest = max((view["seq"] for view in views), default=0)
        return page(templates, request, "approve.html", staff=staff, jobs=views, shops=shops,
                    batches=batches, shop=shop or "", batch=batch or "", back=back,
                    actions=True, approved=approved, skipped=skipped, newest=newest)

    @router.get("/approve/new.json")
    def new_cards(request: Request, staff: Approver,
                  after: Annotated[int, Query(ge=0)],
                  shop: Annotated[str | None, Query(max_length=40)] = None,
                  batch: Annotated[str | None, Query(max_length=40)] = None) -> JSONResponse:
        """Cards waiting for approval that came in after job number ``after`` (the
        page's ``data-newest``: its newest card), as the page's own markup, so the list
        grows without a reload; ``newest`` is the number to ask after next time."""
        rows = review_jobs(store, shop, 100, batch_id=batch, after_seq=after)
        back = "/approve?" + urlencode({"shop": shop or "", "batch": batch or ""})
        card = templates.get_template("_job.html")
        html = [card.render(job=job_view(job, name, size), staff=staff, back=back,
                            actions=True) for job, name, size in rows]
        newest = max([after] + [job.seq for job, _, _ in rows])
        return JSONResponse({"cards": html, "newest": newest},
                            headers={"Cache-Control": "no-store"})

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
