"""Webhooks: signatures, and deliveries to a real HTTP receiver that is down for an hour
of simulated time and then comes back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobs.db import utcnow
from jobs.webhooks import deliver, sign, verify_signature
from tests.webhook_receiver import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_signature_round_trip_and_refusals():
    body = b'{"event":"job.rendered"}'
    header = sign("whsec_x", body, 1_800_000_000)
    assert verify_signature("whsec_x", header, body, now=1_800_000_100)
    assert not verify_signature("whsec_y", header, body, now=1_800_000_100)  # other secret
    assert not verify_signature("whsec_x", header, body + b" ", now=1_800_000_100)  # changed
    assert not verify_signature("whsec_x", header, body, now=1_800_000_000 + 301)  # replayed
    assert not verify_signature("whsec_x", "garbage", body)


def test_every_transition_is_delivered_signed_in_order(make_store, receiver):
    store = make_store()
    shop = store.create_shop("Hooked", webhook_url=receiver.url)[0]
    receiver.secret = shop.webhook_secret
    job = store.submit(shop, {"message": "Entschuldigung!", "font": "tech", "seed": 1}).job
    store.approve(shop.id, job.id, "approver")
    events = [e["event"] for e in receiver.received]
    assert events == ["job.received", "job.rendered", "job.approved", "job.queued"]
    ids = [int(e["event_id"].split("_")[1]) for e in receiver.received]
    assert ids == sorted(ids)
    assert receiver.received[1]["job"]["id"] == job.id
    _, deliveries = store.events(shop.id, job.id)
    assert [d.status for d in deliveries] == ["delivered"] * 4
    assert all(d.attempts == 1 and d.last_status_code == 204 for d in deliveries)


def test_receiver_down_for_an_hour_gets_it_later_with_backoff(make_store, receiver):
    store = make_store(webhook_backoff_s=[10, 60, 300, 900, 1800, 3600])
    shop = store.create_shop("Flaky", webhook_url=receiver.url)[0]
    receiver.secret = shop.webhook_secret
    receiver.up = False
    store.dispatcher.run = False
    job = store.submit(shop, {"message": "Entschuldigung!", "font": "tech", "seed": 1}).job
    _, (delivery,) = store.events(shop.id, job.id)
    start = utcnow()
    now, attempts_at = start, []
    while now < start + timedelta(hours=1):  # an hour of simulated time, 5 s at a time
        deliver(store, delivery.id, now=now)
        _, (row,) = store.events(shop.id, job.id)
        if row.attempts > len(attempts_at):
            attempts_at.append((now - start).total_seconds())
        now += timedelta(seconds=5)
    _, (row,) = store.events(shop.id, job.id)
    assert row.status == "pending" and row.last_status_code == 503
    gaps = [b - a for a, b in zip(attempts_at, attempts_at[1:], strict=False)]
    assert gaps == pytest.approx([10, 60, 300, 900, 1800], abs=5)  # backoff, not hammering
    assert receiver.refused == len(attempts_at) == 6
    receiver.up = True
    while True:
        receiver.now = now.timestamp()  # sender and receiver share the simulated clock
        if deliver(store, delivery.id, now=now) != "pending":
            break
        now += timedelta(seconds=60)
    _, (row,) = store.events(shop.id, job.id)
    assert row.status == "delivered" and len(receiver.received) == 1
    assert receiver.received[0]["event"] == "job.received"
    assert deliver(store, delivery.id, now=now + timedelta(hours=2)) == "delivered"
    assert len(receiver.received) == 1  # delivered once


def test_a_delivery_gives_up_after_the_last_retry(make_store):
    store = make_store(webhook_backoff_s=[1, 1])
    shop = store.create_shop("Gone", webhook_url="http://127.0.0.1:9/nowhere")[0]
    store.dispatcher.run = False
    job = store.submit(shop, {"message": "Entschuldigung!", "font": "tech", "seed": 1}).job
    _, (delivery,) = store.events(shop.id, job.id)
    now = utcnow()
    statuses = []
    for _ in range(4):
        statuses.append(deliver(store, delivery.id, now=now))
        now += timedelta(seconds=2)
    assert statuses == ["pending", "pending", "failed", "failed"]
    _, (row,) = store.events(shop.id, job.id)
    assert row.attempts == 3 and "ConnectError" in row.last_error
