"""Fixtures of the page tests: the job service's store factory (SQLite under tmp_path,
renders inline), an app with the pages, users of each role and logged-in clients."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from jobs.accounts import hash_password
from jobs.api import create_app
from jobs.db import User
from tests.jobs import conftest as _jobs

# the job service's fixtures: a migrated store on SQLite under tmp_path, renders inline
make_store = _jobs.make_store
InlineDispatcher = _jobs.InlineDispatcher

PASSWORD = "correct horse battery"
# the users of the fixtures get a cheap hash (scrypt N = 2**10) so that logins are quick;
# the real cost is tested with create_user
CHEAP_HASH = hash_password(PASSWORD, log2_n=10)
BODY = {"message": "Es tut uns leid, dass Ihr Paket zu spät kam.", "greeting": "Liebe Frau Weiß,",
        "closing": "Herzliche Grüße", "font": "tech", "seed": 11,
        "recipient": {"name": "Erika Mustermann", "street_lines": ["Heidestraße 17"],
                      "postcode": "51147", "city": "Köln", "country": "DE"},
        "coupon": {"kind": "amount", "amount": "10.00", "currency": "EUR"}}


@pytest.fixture
def web(make_store):
    """(app, store) with a user of each role: ann (approver), olaf (operator), ada (admin),
    all with the password ``PASSWORD``."""
    store = make_store(rate_limit_per_minute=10_000)
    with store.session() as s:
        for name, role in (("ann", "approver"), ("olaf", "operator"), ("ada", "admin")):
            s.add(User(username=name, password_hash=CHEAP_HASH, role=role))
    return create_app(store.settings, store=store), store


@pytest.fixture
def client(web):
    """A browser without a session."""
    app, _ = web
    with TestClient(app) as c:
        yield c


def form_csrf(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD):
    """Log in through the login form; returns the answer of the form post."""
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": form_csrf(page.text), "next": "/"},
                       follow_redirects=False)


@pytest.fixture
def as_user(web):
    """Factory: a client logged in as ``username``, with ``.csrf`` (its session's token)."""
    app, _ = web
    clients = []

    def make(username: str) -> TestClient:
        c = TestClient(app)
        c.__enter__()
        clients.append(c)
        answer = log_in(c, username)
        assert answer.status_code == 303, answer.text
        c.csrf = form_csrf(c.get("/logout").text)  # type: ignore[attr-defined]
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def shop(web):
    """A shop of the store: (Shop, API key)."""
    _, store = web
    return store.create_shop("Blumenladen Sonnenschein")


@pytest.fixture
def submit(web, shop):
    """Factory: submit (and render, inline) a job of the shop; returns its id."""
    _, store = web

    def make(**changes) -> str:
        return store.submit(shop[0], {**BODY, **changes}).job.id

    return make
