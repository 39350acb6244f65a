"""What the people's pages share: the security headers, answers as a page or as JSON,
form fields, the roles a route needs, and the live pages' timing. The pages themselves
are :mod:`jobs.web` (login, mounting), :mod:`jobs.approvepage` and :mod:`jobs.stationpage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from jobs import accounts
from jobs.accounts import Staff

HERE = Path(__file__).parent
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
