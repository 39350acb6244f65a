"""Accounts of the pages: scrypt hashes, users, sessions (cookie flags, expiry, renewal,
logout), the login form, CSRF refusal on every state-changing route, roles, and a shop's
API key that opens no page."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from jobs import accounts
from jobs.accounts import (
    AccountError,
    create_user,
    end_session,
    hash_password,
    session_staff,
    start_session,
    verify_login,
    verify_password,
)
from jobs.cli import app as cli
from jobs.db import User, WebSession
from jobs.store import ConflictError
from tests.web.conftest import PASSWORD, form_csrf, log_in

# ---------------------------------------------------------------- hashes


def test_hash_is_salted_scrypt_with_its_parameters():
    first, second = hash_password("geheimes Passwort"), hash_password("geheimes Passwort")
    assert first != second  # a salt of its own each time
    scheme, log2_n, r, p, salt, key = first.split("$")
    assert (scheme, log2_n, r, p) == ("scrypt", "15", "8", "1")
    assert len(salt) >= 20 and len(key) >= 40
    assert verify_password("geheimes Passwort", first)
    assert verify_password("geheimes Passwort", second)
    assert not verify_password("geheimes passwort", first)


def test_cheaper_parameters_are_read_from_the_hash():
    stored = hash_password("kurz und gut", log2_n=10)
    assert stored.startswith("scrypt$10$")
    assert verify_password("kurz und gut", stored)


@pytest.mark.parametrize("stored", [
    "", "scrypt$", "plain-text-password", "bcrypt$15$8$1$c2FsdA==$a2V5",
    "scrypt$15$8$1$not base64!$a2V5", "scrypt$40$8$1$c2FsdA==$a2V5",  # N too large: refused
    "scrypt$x$8$1$c2FsdA==$a2V5", "scrypt$15$8$1$c2FsdA==$a2V5$extra"])
def test_malformed_hashes_never_match(stored):
    assert not verify_password("anything at all", stored)


# ---------------------------------------------------------------- users


def test_create_user_checks_name_role_and_password(web):
    _, store = web
    with pytest.raises(AccountError, match="role 'boss'"):
        create_user(store, "bea", PASSWORD, "boss")
    with pytest.raises(AccountError, match="at least 10 characters"):
        create_user(store, "bea", "short", "approver")
    with pytest.raises(AccountError, match="username"):
        create_user(store, "bea smith", PASSWORD, "approver")
    with pytest.raises(ConflictError, match="'ann' exists"):
        create_user(store, "ann", PASSWORD, "approver")
    user = create_user(store, "bea", PASSWORD, "operator")
    with store.session() as s:
        row = s.get(User, user.id)
        assert row.password_hash.startswith("scrypt$") and PASSWORD not in row.password_hash


def test_verify_login(web):
    _, store = web
    assert verify_login(store, "ann", PASSWORD).role == "approver"
    assert verify_login(store, "ann", PASSWORD + "!") is None
    assert verify_login(store, "nobody", PASSWORD) is None


# ---------------------------------------------------------------- sessions


def test_session_token_is_stored_only_hashed(web):
    _, store = web
    user = verify_login(store, "ann", PASSWORD)
    token, csrf = start_session(store, user)
    with store.session() as s:
        rows = list(s.scalars(select(WebSession)))
    assert [r.token_sha256 for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in rows[0].token_sha256
    staff = session_staff(store, token)
    assert (staff.username, staff.role, staff.csrf_token) == ("ann", "approver", csrf)
    assert session_staff(store, token[:-1] + "x") is None
    assert session_staff(store, None) is None


def test_session_expires_and_is_renewed_while_used(web):
    _, store = web
    token, _ = start_session(store, verify_login(store, "olaf", PASSWORD))
    life = timedelta(seconds=accounts.SESSION_S)
    with store.session() as s:
        started = s.scalar(select(WebSession)).expires_at - life
    # used after 7 of 12 hours: renewed for another 12 from then
    later = started + timedelta(hours=7)
    assert session_staff(store, token, now=later) is not None
    with store.session() as s:
        assert s.scalar(select(WebSession)).expires_at == later + life
    # unused for longer than its life: gone
    assert session_staff(store, token, now=later + life + timedelta(seconds=1)) is None
    with store.session() as s:
        assert s.scalar(select(WebSession)) is None


def test_end_session(web):
    _, store = web
    token, _ = start_session(store, verify_login(store, "olaf", PASSWORD))
    end_session(store, token)
    assert session_staff(store, token) is None
    end_session(store, "never-issued")  # no error


# ---------------------------------------------------------------- the login form


def test_login_sets_a_strict_httponly_cookie(client):
    answer = log_in(client, "ann")
    assert answer.status_code == 303 and answer.headers["location"] == "/approve"
    cookie = next(c for c in answer.headers.get_list("set-cookie")
                  if c.startswith(accounts.COOKIE + "="))
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "secure" not in flags  # plain http (a local station PC): the browser would drop it


def test_cookie_is_secure_over_https(web):
    app, _ = web
    with TestClient(app, base_url="https://penpost.example") as client:
        answer = log_in(client, "ann")
    cookie = next(c for c in answer.headers.get_list("set-cookie")
                  if c.startswith(accounts.COOKIE + "="))
    assert "secure" in cookie.lower()


def test_login_refusals(client, web):
    app, _ = web
    wrong = log_in(client, "ann", PASSWORD + "?")
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
    assert accounts.COOKIE not in client.cookies
    unknown = log_in(client, "mallory")
    assert unknown.status_code == 401 and "Wrong name or password" in unknown.text
    # the login form has its own CSRF token (no logging a victim into another account)
    forged = client.post("/login", data={"username": "ann", "password": PASSWORD,
                                         "csrf_token": "guessed"}, follow_redirects=False)
    assert forged.status_code == 403 and accounts.COOKIE not in client.cookies


def test_failed_logins_are_throttled(client):
    for _ in range(10):
        assert log_in(client, "ann", "wrong password").status_code == 401
    blocked = log_in(client, "ann")  # even the right password now
    assert blocked.status_code == 429 and "Too many failed logins" in blocked.text


@pytest.mark.parametrize("target,expected", [
    ("/station/S1", "/station/S1"), ("//evil.example/", "/approve"),
    ("https://evil.example/", "/approve"), ("/\\evil.example", "/approve")])
def test_login_goes_back_only_to_a_local_page(client, target, expected):
    form = client.get("/login", params={"next": target})
    answer = client.post("/login", data={"username": "ann", "password": PASSWORD,
                                         "csrf_token": form_csrf(form.text), "next": target},
                         follow_redirects=False)
    assert answer.headers["location"] == expected


def test_logout_ends_the_session(as_user, web):
    app, _ = web
    ann = as_user("ann")
    token = ann.cookies[accounts.COOKIE]
    assert ann.post("/logout", follow_redirects=False).status_code == 403  # no CSRF token
    answer = ann.post("/logout", data={"csrf_token": ann.csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    with TestClient(app, cookies={accounts.COOKIE: token}) as replay:
        assert replay.get("/approve", follow_redirects=False).status_code == 303


def test_pages_send_security_headers(as_user):
    answer = as_user("ann").get("/approve")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"


# ---------------------------------------------------------------- CSRF and roles


def test_state_changes_need_the_csrf_token(as_user, submit, web):
    _, store = web
    job = submit()
    ann = as_user("ann")
    url = f"/approve/{job}/approve"
    json_ = {"Accept": "application/json"}
    assert ann.post(url, headers=json_).status_code == 403
    refused = ann.post(url, headers={**json_, "X-CSRF-Token": "not-the-token"})
    assert refused.status_code == 403 and refused.json()["error"] == "csrf"
    assert ann.post(url, data={"csrf_token": "wrong"}, follow_redirects=False).status_code == 403
    assert store.job(None, job).state == "rendered"
    # another person's token is no good either
    olaf_token = as_user("olaf").csrf
    assert ann.post(url, headers={**json_, "X-CSRF-Token": olaf_token}).status_code == 403
    done = ann.post(url, data={"csrf_token": ann.csrf}, follow_redirects=False)
    assert done.status_code == 303 and store.job(None, job).state == "queued"


STATE_CHANGES = ["/approve/{job}/approve", "/approve/{job}/reject", "/approve/{job}/edit",
                 "/approve/batch/{batch}", "/station/S1/commands/load_done",
                 "/station/S1/commands/spoiled", "/logout"]


@pytest.mark.parametrize("route", STATE_CHANGES)
def test_every_state_change_refuses_a_missing_token(as_user, route):
    admin = as_user("ada")
    answer = admin.post(route.format(job="job_x", batch="batch_x"),
                        json={"reason": "x"}, headers={"Accept": "application/json"})
    assert answer.status_code == 403 and answer.json()["error"] == "csrf"


def test_roles(as_user):
    ann, olaf, ada = as_user("ann"), as_user("olaf"), as_user("ada")
    assert ann.get("/approve").status_code == 200
    assert olaf.get("/approve").status_code == 403
    assert ann.get("/station/S1").status_code == 403
    assert olaf.get("/station/S1").status_code == 200
    assert ada.get("/approve").status_code == 200 and ada.get("/station/S1").status_code == 200
    refused = olaf.post("/approve/job_x/approve",
                        headers={"X-CSRF-Token": olaf.csrf, "Accept": "application/json"})
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"


# ---------------------------------------------------------------- a shop's key opens nothing


PAGES = ["/", "/approve", "/approve/batch/{batch}", "/staff/jobs/{job}.json",
         "/staff/jobs/{job}/preview.png", "/stations", "/station/S1", "/station/S1/state.json",
         "/station/S1/card.json", "/station/S1/events", "/station/S1/labels.pdf",
         "/station/S1/coupons.pdf"]


@pytest.mark.parametrize("route", PAGES)
def test_a_shop_key_cannot_reach_the_pages(client, web, shop, submit, route):
    job = submit()
    key = shop[1]
    url = route.format(job=job, batch="batch_x")
    as_page = client.get(url, headers={"Authorization": f"Bearer {key}"},
                         follow_redirects=False)
    assert as_page.status_code == 303 and as_page.headers["location"].startswith("/login?next=")
    as_api = client.get(url, headers={"Authorization": f"Bearer {key}",
                                      "Accept": "application/json"}, follow_redirects=False)
    assert as_api.status_code == 401
    # nor does the key in the session cookie's place
    with TestClient(web[0], cookies={accounts.COOKIE: key}) as forged:
        as_cookie = forged.get(url, headers={"Accept": "application/json"},
                               follow_redirects=False)
    assert as_cookie.status_code == 401


def test_a_shop_key_cannot_approve_through_the_pages(client, shop, submit, web):
    _, store = web
    job = submit()
    answer = client.post(f"/approve/{job}/approve",
                         headers={"Authorization": f"Bearer {shop[1]}",
                                  "Accept": "application/json"})
    assert answer.status_code == 401 and store.job(None, job).state == "rendered"


def test_a_session_cookie_opens_no_shop_api(as_user):
    answer = as_user("ada").get("/v1/jobs")
    assert answer.status_code == 401


# ---------------------------------------------------------------- penpost users


def test_users_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("PENPOST_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    made = runner.invoke(cli, ["users", "create", "ann", "--role", "approver",
                               "--password", PASSWORD])
    assert made.exit_code == 0, made.output
    assert "user ann (approver) created" in made.output and PASSWORD not in made.output
    prompted = runner.invoke(cli, ["users", "create", "olaf", "--role", "operator"],
                             input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output  # asked for without echo
    bad = runner.invoke(cli, ["users", "create", "bea", "--role", "boss", "--password", PASSWORD])
    assert bad.exit_code == 2 and "operator, approver, admin" in bad.output
    short = runner.invoke(cli, ["users", "create", "bea", "--role", "admin", "--password", "x"])
    assert short.exit_code == 2 and "at least 10" in short.output
    again = runner.invoke(cli, ["users", "create", "ann", "--role", "admin",
                                "--password", PASSWORD])
    assert again.exit_code == 2 and "exists already" in again.output
    listed = runner.invoke(cli, ["users", "list"])
    assert re.search(r"ann\s+approver", listed.output)
    assert re.search(r"olaf\s+operator", listed.output)
    assert runner.invoke(cli, ["users", "delete", "olaf"]).exit_code == 0
    assert runner.invoke(cli, ["users", "delete", "olaf"]).exit_code == 2
    assert "olaf" not in runner.invoke(cli, ["users", "list"]).output


def test_sessions_expire_in_the_database_not_the_browser(client):
    answer = log_in(client, "olaf")
    cookie = next(c for c in answer.headers.get_list("set-cookie")
                  if c.startswith(accounts.COOKIE + "="))
    assert "max-age" not in cookie.lower() and "expires" not in cookie.lower()


def test_the_cli_knows_the_same_roles():
    from jobs import webcli

    assert webcli.ROLES == accounts.ROLES


def test_a_form_sent_after_the_session_ended_goes_to_the_login(as_user, web):
    _, store = web
    ann = as_user("ann")
    end_session(store, ann.cookies[accounts.COOKIE])
    answer = ann.post("/approve/job_x/approve", data={"csrf_token": ann.csrf},
                      headers={"Referer": "http://testserver/approve?batch=b"},
                      follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/approve"
