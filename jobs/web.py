"""The people's pages of the service: login and logout here, the approver's
``/approve`` (:mod:`jobs.approvepage`) and the operator's ``/station/{name}``
(:mod:`jobs.stationpage`), server-rendered (Jinja2 templates in ``jobs/templates``, a
little vanilla JS and CSS in ``jobs/static``; no build step, nothing from a CDN).

Only a session cookie opens these pages (see :mod:`jobs.accounts`); a shop's API key
does not. Routes are short: check the person, call the store or the plot queue, answer
HTML for a browser's form post or JSON for the pages' scripts (``Accept:
application/json``).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from jobs import accounts, plotqueue
from jobs.accounts import COOKIE, LOGIN_COOKIE, CsrfRefused, Forbidden, NotLoggedIn, Staff
from jobs.approvepage import approve_routes
from jobs.pages import (
    HERE,
    AnyStaff,
    WebConfig,
    answer_error,
    page,
    request_fields,
    safe_next,
    wants_json,
)
from jobs.stationpage import station_routes
from jobs.store import Store


def mount_web(app: FastAPI, store: Store) -> None:
    """Add the login, approval and station pages, and ``/static``, to ``app``."""
    templates = Jinja2Templates(directory=HERE / "templates")
    app.state.web = WebConfig()
    app.state.login_throttle = accounts.LoginThrottle()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _error_handlers(app, templates)
    router = APIRouter(include_in_schema=False)
    _login_routes(router, store, templates)
    approve_routes(router, store, templates)
    station_routes(router, store, templates)
    app.include_router(router)


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


def staff_home(staff: Staff, store: Store) -> str:
    """Where a person starts: approvers (and admins) at /approve, operators at their
    station (or the list of stations)."""
    if staff.may("approver"):
        return "/approve"
    known = plotqueue.stations(store)
    return f"/station/{known[0].name}" if len(known) == 1 else "/stations"


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
