"""Webhooks: a signed JSON body on every state change, retried with backoff.

The signature header is ``X-Penpost-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is
HMAC-SHA256 with the shop's webhook secret over ``"<t>.<body>"``. Signing the timestamp
with the body lets a receiver refuse replays (:func:`verify_signature` allows 5 minutes).

A receiving shop checks it like this::

    from jobs.webhooks import verify_signature
    ok = verify_signature(secret, request.headers["X-Penpost-Signature"], await request.body())
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from jobs.db import Job, Shop, Transition, WebhookDelivery, utcnow

SIGNATURE_HEADER = "X-Penpost-Signature"
TOLERANCE_S = 300


def event_payload(job: Job, transition: Transition) -> str:
    """The JSON body of the event for one transition (compact, keys sorted)."""
    body = {
        "event": f"job.{transition.to_state}",
        "event_id": f"evt_{transition.id}",  # increasing per job: order and deduplicate by it
        "occurred_at": transition.at.isoformat(),
        "job": {"id": job.id, "state": job.state, "revision": job.revision,
                "batch_id": job.batch_id, "error": job.error},
        "transition": {"from": transition.from_state, "to": transition.to_state,
                       "actor": transition.actor, "reason": transition.reason},
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, *, now: float | None = None,
                     tolerance_s: float = TOLERANCE_S) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of now."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


Poster = Callable[[str, bytes, dict[str, str], float], int]


def http_post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """POST ``body`` to ``url``; returns the status code (raises on network errors)."""
    import httpx

    return httpx.post(url, content=body, headers=headers, timeout=timeout_s).status_code


def deliver(store: Any, delivery_id: int, *, post: Poster = http_post,
            now: datetime | None = None) -> str:
    """Attempt one delivery if it is due; returns its status afterwards.

    A 2xx answer delivers it; anything else schedules the next attempt after the
    settings' backoff, and after the last one the delivery is marked failed. The row is
    claimed under a lock (and a version check: ``attempts``), so two workers never send
    the same attempt twice."""
    now = now or utcnow()
    with store.session() as s:
        query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
        row = s.scalar(query)
        if row is None or row.status != "pending" or row.next_attempt_at > now:
            return row.status if row is not None else "missing"
        shop = s.get(Shop, row.shop_id)
        secret = shop.webhook_secret if shop is not None else ""
        url, payload, attempt = row.url, row.payload.encode("utf-8"), row.attempts
        # claim: push the next attempt out so a concurrent sweep does not send it as well
        row.next_attempt_at = now + timedelta(seconds=store.settings.webhook_timeout_s * 3)
    headers = {"Content-Type": "application/json", "User-Agent": "penpost-webhooks/1",
               SIGNATURE_HEADER: sign(secret, payload, int(now.timestamp()))}
    status_code: int | None = None
    error: str | None = None
    try:
        status_code = post(url, payload, headers, store.settings.webhook_timeout_s)
        if not 200 <= status_code < 300:
            error = f"receiver answered {status_code}"
    except Exception as exc:  # noqa: BLE001 - any failure to reach the receiver is retried
        error = f"{type(exc).__name__}: {exc}"
    backoff = store.settings.webhook_backoff_s
    with store.session() as s:
        row = s.get(WebhookDelivery, delivery_id, with_for_update=True)
        if row is None or row.attempts != attempt or row.status != "pending":
            return row.status if row is not None else "missing"
        row.attempts = attempt + 1
        row.last_status_code = status_code
        row.last_error = error
        if error is None:
            row.status, row.delivered_at = "delivered", now
        elif row.attempts > len(backoff):
            row.status = "failed"
        else:
            row.next_attempt_at = now + timedelta(seconds=backoff[row.attempts - 1])
        return row.status
