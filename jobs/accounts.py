"""Accounts of the people at the pages (operators, approvers, admins), separate from the
shops' API keys: scrypt password hashes, browser sessions and CSRF tokens.

A session is a random token in an HttpOnly, SameSite=Strict cookie (Secure over https);
the database keeps only its SHA-256, with an expiry that slides while the page is used, so
an operator's page stays logged in for a whole shift. Every state-changing request carries
the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``). Only the
cookie authenticates: an ``Authorization`` header (a shop's key) is never looked at here.

>>> check = hash_password("correct horse", log2_n=10)
>>> check.startswith("scrypt$10$8$1$"), verify_password("correct horse", check)
(True, True)
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import delete, select

from jobs.db import User, WebSession, utcnow
from jobs.store import ConflictError, Store

ROLES = ("operator", "approver", "admin")
COOKIE = "penpost_session"
LOGIN_COOKIE = "penpost_login"  # the login form's own CSRF token (double submit)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_S = 12 * 3600  # a shift and then some; renewed while the pages are used
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")
MIN_PASSWORD = 10
# scrypt cost: N = 2**15, r = 8 takes 32 MiB and ~0.1 s, the OWASP floor for logins
LOG2_N, BLOCK_R, PARALLEL_P = 15, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AccountError(ValueError):
    """A user that cannot be created as asked (name, role or password); names the problem."""


class NotLoggedIn(Exception):
    """No valid session cookie on a request that needs one."""


class Forbidden(Exception):
    """A logged-in user whose role may not do this."""


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token."""


# ---------------------------------------------------------------- passwords


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    # scrypt needs 128 * r * N bytes; leave room above that for its bookkeeping
    maxmem = 128 * r * (2**log2_n) * p + 16 * 2**20
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**log2_n, r=r, p=p,
                          maxmem=maxmem, dklen=KEY_BYTES)


def hash_password(password: str, *, log2_n: int = LOG2_N) -> str:
    """``scrypt$log2N$r$p$salt$key`` (base64): salted, with its cost parameters, so the
    cost can be raised later without breaking stored hashes."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, log2_n, BLOCK_R, PARALLEL_P)
    return f"scrypt${log2_n}${BLOCK_R}${PARALLEL_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time compare; a malformed or
    foreign hash string is simply no match)."""
    try:
        scheme, log2_n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt" or not (1 <= int(log2_n) <= 20 and 1 <= int(r) <= 32
                                      and 1 <= int(p) <= 16):
            return False
        expected = base64.b64decode(key, validate=True)
        got = _scrypt(password, base64.b64decode(salt, validate=True), int(log2_n), int(r),
                      int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing, checked when the user is unknown so the answer takes as long."""
    return hash_password(secrets.token_urlsafe(16))


# ---------------------------------------------------------------- users


def create_user(store: Store, username: str, password: str, role: str) -> User:
    """A new user; :class:`AccountError` for a bad name, role or short password,
    :class:`ConflictError` when the name is taken."""
    if not USERNAME.match(username):
        raise AccountError(f"username {username!r}: letters, digits and . _ @ - only, "
                           "starting with a letter or digit, at most 80")
    if role not in ROLES:
        raise AccountError(f"role {role!r}: one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters, got {len(password)}")
    with store.session() as s:
        if s.scalar(select(User).where(User.username == username)) is not None:
            raise ConflictError(f"a user named {username!r} exists already")
        user = User(username=username, password_hash=hash_password(password), role=role)
        s.add(user)
    return user


def users(store: Store) -> list[User]:
    """Every user, by name."""
    with store.session() as s:
        return list(s.scalars(select(User).order_by(User.username)))


def delete_user(store: Store, username: str) -> bool:
    """Remove a user and end their sessions; False when there is no such user."""
    with store.session() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            return False
        s.execute(delete(WebSession).where(WebSession.user_id == user.id))
        s.delete(user)
    return True


def verify_login(store: Store, username: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else None (an unknown name takes as long)."""
    with store.session() as s:
        user = s.scalar(select(User).where(User.username == username))
    if user is None:
        verify_password(password, _dummy_hash())
        return None
    return user if verify_password(password, user.password_hash) else None


class LoginThrottle:
    """At most ``limit`` failed logins per user name in ``window_s`` (per process)."""

    def __init__(self, limit: int = 10, window_s: float = 600.0) -> None:
        self.limit, self.window_s = limit, window_s
        self.failures: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def blocked(self, username: str) -> bool:
        now = time.monotonic()
        with self.lock:
            window = self.failures[username.lower()]
            while window and window[0] <= now - self.window_s:
                window.popleft()
            if not window:
                del self.failures[username.lower()]  # keep only names with failures
                return False
            return len(window) >= self.limit

    def failed(self, username: str) -> None:
        with self.lock:
            self.failures[username.lower()].append(time.monotonic())


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Staff:
    """The logged-in person of a request."""

    user_id: int
    username: str
    role: str
    csrf_token: str

    def may(self, *roles: str) -> bool:
        """Whether this person has one of ``roles`` (an admin may do everything)."""
        return self.role == "admin" or self.role in roles


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(store: Store, user: User) -> tuple[str, str]:
    """A new session for ``user``: returns (cookie token, CSRF token); only the token's
    hash is stored."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    with store.session() as s:
        s.execute(delete(WebSession).where(WebSession.expires_at < now))  # tidy up
        s.add(WebSession(token_sha256=token_sha256(token), user_id=user.id, csrf_token=csrf,
                         created_at=now, expires_at=now + timedelta(seconds=SESSION_S)))
    return token, csrf


def session_staff(store: Store, token: str | None, now: datetime | None = None
                  ) -> Staff | None:
    """The person of a session token, or None (unknown or expired). A session past half
    its life is renewed, so a page in use stays logged in."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    with store.session() as s:
        row = s.get(WebSession, token_sha256(token))
        if row is None:
            return None
        if row.expires_at <= now:
            s.delete(row)
            return None
        user = s.get(User, row.user_id)
        if user is None:
            return None
        if row.expires_at - now < timedelta(seconds=SESSION_S / 2):
            row.expires_at = now + timedelta(seconds=SESSION_S)
        return Staff(user.id, user.username, user.role, row.csrf_token)


def end_session(store: Store, token: str | None) -> None:
    """Forget a session (logout); nothing happens for an unknown token."""
    if token:
        with store.session() as s:
            s.execute(delete(WebSession).where(WebSession.token_sha256 == token_sha256(token)))


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str,
               max_age: int) -> None:
    """An HttpOnly, SameSite=Strict cookie for the whole site, Secure over https."""
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite="strict", secure=is_https(request))


# ---------------------------------------------------------------- request checks


def request_staff(request: Request) -> Staff:
    """The person behind the request's session cookie; :class:`NotLoggedIn` without one.
    Never reads the Authorization header: a shop's API key opens no page."""
    staff = session_staff(request.app.state.store, request.cookies.get(COOKIE))
    if staff is None:
        raise NotLoggedIn
    return staff


async def check_csrf(request: Request, staff: Staff) -> None:
    """:class:`CsrfRefused` unless a state-changing request carries the session's CSRF
    token (header, or form field of a form post)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        kind = request.headers.get("content-type", "")
        if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # cached by Starlette for the route's Form fields
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), staff.csrf_token.encode()):
        raise CsrfRefused


def staff_with(*roles: str):
    """A FastAPI dependency: the logged-in person, who must have one of ``roles``
    (admins always do), with the CSRF token checked on state-changing requests."""

    async def dependency(request: Request) -> Staff:
        staff = await run_in_threadpool(request_staff, request)  # the database is sync
        if not staff.may(*roles):
            raise Forbidden(f"this page is for {' or '.join(roles)}s; you are "
                            f"{staff.username} ({staff.role})")
        await check_csrf(request, staff)
        return staff

    return dependency
