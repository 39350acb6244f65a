"""The pages' server side through FastAPI's test client (renders run inline): the approval
list and its filters, approve/reject/edit as form posts and as JSON, "rendering…" until a
new revision is rendered, bulk approval of what was looked at, and the operator page's
state, card strokes, event stream, buttons and printed sheets."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from cards.formats import card_format
from jobs import plotqueue
from jobs.db import StationCommand, Transition
from jobs.pages import WebConfig
from jobs.stationpage import station_events, station_state
from plotter.gcode import read_strokes
from plotter.profile import load_profile
from tests.web.conftest import BODY

JSON = {"Accept": "application/json"}


def post(client, url: str, **fields):
    """A JSON post as the pages' scripts send it."""
    return client.post(url, json=fields, headers={**JSON, "X-CSRF-Token": client.csrf})


def audit(store, job_id: str) -> list[tuple[str, str, str | None]]:
    with store.session() as s:
        return [(t.to_state, t.actor, t.reason) for t in s.scalars(
            select(Transition).where(Transition.job_id == job_id).order_by(Transition.id))]


# ---------------------------------------------------------------- approval


def test_home_sends_each_person_to_their_page(as_user, client, web):
    _, store = web
    assert client.get("/", follow_redirects=False).headers["location"] == "/login?next=/"
    assert as_user("ann").get("/", follow_redirects=False).headers["location"] == "/approve"
    olaf = as_user("olaf")
    assert olaf.get("/", follow_redirects=False).headers["location"] == "/stations"
    plotqueue.register_station(store, "S1", profile="grbl-servo", port="sim")
    assert olaf.get("/", follow_redirects=False).headers["location"] == "/station/S1"
    assert "/login?next=/approve%3Fshop%3Dx" in client.get(
        "/approve?shop=x", follow_redirects=False).headers["location"]


def test_the_list_shows_rendered_cards_with_previews_filtered_by_shop_and_batch(
        as_user, submit, web):
    _, store = web
    job = submit()
    other_shop = store.create_shop("Buchhandlung Seitenweise")[0]
    batch, batch_jobs, _ = store.submit_batch(other_shop, [{**BODY, "seed": 1},
                                                           {**BODY, "seed": 2}])
    ann = as_user("ann")
    page = ann.get("/approve").text
    for job_id in (job, *(j.id for j in batch_jobs)):
        assert f'id="job-{job_id}"' in page
        assert f"/staff/jobs/{job_id}/preview.png?rev=1" in page
    assert "Erika Mustermann" in page and "Liebe Frau Weiß," in page
    by_shop = ann.get("/approve", params={"shop": other_shop.id}).text
    assert f"job-{job}" not in by_shop and f"job-{batch_jobs[0].id}" in by_shop
    by_batch = ann.get("/approve", params={"batch": batch.id}).text
    assert f"job-{job}" not in by_batch and by_batch.count('class="job ') == 2
    assert f'href="/approve/batch/{batch.id}"' in by_batch  # the bulk review link
    png = ann.get(f"/staff/jobs/{job}/preview.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_cards_that_come_in_later_are_fetched_without_a_reload(as_user, submit, web):
    """The page asks for cards after its newest one: it gets them as its own markup,
    only those its filters show, and a card it has is never sent twice."""
    _, store = web
    first = submit(seed=1)
    ann = as_user("ann")
    page = ann.get("/approve").text
    newest = int(page.split('data-newest="')[1].split('"')[0])
    assert newest > 0
    empty = ann.get("/approve/new.json", params={"after": newest}, headers=JSON).json()
    assert empty == {"cards": [], "newest": newest}
    later = submit(seed=2)
    other_shop = store.create_shop("Buchhandlung Seitenweise")[0]
    batch, batch_jobs, _ = store.submit_batch(other_shop, [{**BODY, "seed": 3}])
    got = ann.get("/approve/new.json", params={"after": newest}, headers=JSON).json()
    assert len(got["cards"]) == 2 and got["newest"] > newest
    assert f'id="job-{later}"' in got["cards"][0] and f"job-{first}" not in "".join(got["cards"])
    assert f'action="/approve/{later}/approve"' in got["cards"][0]
    assert f'value="{ann.csrf}"' in got["cards"][0]  # the forms work as they are
    again = ann.get("/approve/new.json", params={"after": got["newest"]}, headers=JSON).json()
    assert again["cards"] == []
    by_batch = ann.get("/approve/new.json", params={"after": newest, "batch": batch.id},
                       headers=JSON).json()
    assert [f'id="job-{batch_jobs[0].id}"' in c for c in by_batch["cards"]] == [True]
    by_shop = ann.get("/approve/new.json", params={"after": 0, "shop": other_shop.id},
                      headers=JSON).json()
    assert len(by_shop["cards"]) == 1
    assert as_user("olaf").get("/approve/new.json", params={"after": 0},
                               headers=JSON).status_code == 403


def test_approve_by_form_and_by_json(as_user, submit, web):
    _, store = web
    first, second = submit(seed=1), submit(seed=2)
    ann = as_user("ann")
    answer = ann.post(f"/approve/{first}/approve",
                      data={"csrf_token": ann.csrf, "back": "/approve?shop=&batch="},
                      follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/approve?shop=&batch="
    assert store.job(None, first).state == "queued"
    answer = post(ann, f"/approve/{second}/approve")
    assert answer.status_code == 200 and answer.json()["state"] == "queued"
    assert ("approved", "user:ann", "approved") in audit(store, second)
    again = post(ann, f"/approve/{second}/approve")
    assert again.status_code == 409 and "the job is queued" in again.json()["message"]
    assert post(ann, "/approve/job_nothing/approve").status_code == 404
    # the plain form answer for a refusal is a page naming the problem
    page = ann.post(f"/approve/{second}/approve", data={"csrf_token": ann.csrf})
    assert page.status_code == 409 and "the job is queued" in page.text


def test_reject_needs_a_reason(as_user, submit, web):
    _, store = web
    job = submit()
    ann = as_user("ann")
    empty = post(ann, f"/approve/{job}/reject", reason="  ")
    assert empty.status_code == 422 and "reason" in empty.json()["message"]
    answer = post(ann, f"/approve/{job}/reject", reason="Name falsch geschrieben")
    assert answer.json()["state"] == "rejected"
    assert ("rejected", "user:ann", "Name falsch geschrieben") in audit(store, job)


def test_an_edit_is_rendering_until_the_new_revision_is_rendered(as_user, submit, web):
    _, store = web
    job = submit()
    ann = as_user("ann")
    store.dispatcher.run = False  # the render worker is slow today
    answer = post(ann, f"/approve/{job}/edit", greeting="Liebe Frau Weiss,",
                  message="Es tut uns sehr leid.", closing="Herzliche Grüße", signature="")
    view = answer.json()
    assert (view["state"], view["revision"], view["preview_url"]) == ("received", 2, None)
    assert store.job(None, job).request["greeting"] == "Liebe Frau Weiss,"
    page = ann.get("/approve").text
    assert 'class="job state-received"' in page and "rendering…" in page
    polled = ann.get(f"/staff/jobs/{job}.json").json()
    assert polled["state"] == "received"
    assert ann.get(f"/staff/jobs/{job}/preview.png").status_code == 404  # no preview yet
    from jobs.tasks import render_stored_job

    render_stored_job(store, job, 2)  # the worker gets to it
    polled = ann.get(f"/staff/jobs/{job}.json").json()
    assert polled["state"] == "rendered" and polled["revision"] == 2
    assert polled["preview_url"] == f"/staff/jobs/{job}/preview.png?rev=2"
    assert polled["texts"]["message"] == "Es tut uns sehr leid."
    assert ("received", "user:ann", "edited: revision 2") in audit(store, job)


def test_edit_refusals_name_the_problem(as_user, submit):
    job = submit()
    ann = as_user("ann")
    same = post(ann, f"/approve/{job}/edit", message=BODY["message"])
    assert same.status_code == 422 and "nothing was changed" in same.json()["message"]
    too_long = post(ann, f"/approve/{job}/edit", message="Sehr lang. " * 350)
    assert too_long.status_code == 422 and "too long" in too_long.json()["message"]


def test_editing_a_template_job_writes_out_its_merge_fields(as_user, web, shop):
    _, store = web
    job = store.submit(shop[0], {"template": "Es tut uns leid, {{ name }}.",
                                 "greeting": "Hallo {{ name }},", "fields": {"name": "Erika"},
                                 "font": "tech", "seed": 3}).job.id
    ann = as_user("ann")
    page = ann.get("/approve").text
    assert "Es tut uns leid, Erika." in page and "{{" not in page
    answer = post(ann, f"/approve/{job}/edit", message="Es tut uns so leid, Erika.")
    assert answer.status_code == 200
    request = store.job(None, job).request
    assert request["message"] == "Es tut uns so leid, Erika."
    assert request["greeting"] == "Hallo Erika," and "template" not in request


def test_bulk_approve_takes_only_the_cards_looked_at(as_user, web, shop):
    _, store = web
    batch, jobs, _ = store.submit_batch(shop[0], [{**BODY, "seed": i} for i in range(3)])
    ann = as_user("ann")
    review = ann.get(f"/approve/batch/{batch.id}").text
    entries = [f"{j.id}:1" for j in jobs]
    for entry in entries:
        assert f'name="job" value="{entry}"' in review
    assert "Approve these 3 cards <kbd>a</kbd>" in review
    assert '<script src="/static/batch.js" defer></script>' in review
    assert "bulk.requestSubmit()" in ann.get("/static/batch.js").text
    # someone edits the last card after the review page was opened
    store.edit(None, jobs[2].id, {"message": "Anders."}, "user:ada")
    answer = ann.post(f"/approve/batch/{batch.id}",
                      data={"csrf_token": ann.csrf, "job": entries}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/approve?batch={batch.id}&approved=2&skipped=1"
    assert [store.job(None, j.id).state for j in jobs] == ["queued", "queued", "rendered"]
    assert "Approved 2 card(s) of the batch; 1 left alone" in ann.get(
        answer.headers["location"]).text
    # as JSON, with the reason for what was left
    answer = post(ann, f"/approve/batch/{batch.id}", jobs=[f"{jobs[2].id}:1"])
    assert answer.json()["approved"] == []
    assert "revision 2" in answer.json()["skipped"][0]["why"]
    answer = post(ann, f"/approve/batch/{batch.id}", jobs=[f"{jobs[2].id}:2"])
    assert answer.json()["approved"] == [jobs[2].id]


# ---------------------------------------------------------------- the operator page


@pytest.fixture
def station(web, submit):
    """Station S1 registered, with two approved cards: the first claimed and waiting for
    its stock. Returns (store, [job ids])."""
    _, store = web
    ids = [submit(seed=1), submit(seed=2)]
    for job_id in ids:
        store.approve(None, job_id, "user:ann")
    plotqueue.register_station(store, "S1", profile="grbl-servo", port="sim")
    claimed = plotqueue.claim_next(store, "S1")
    assert claimed.id == ids[0]
    plotqueue.update_station(store, "S1", status="waiting_load",
                             message=f"Load a card for {ids[0]}")
    return store, ids


def test_a_station_that_has_not_started_yet(as_user):
    olaf = as_user("olaf")
    page = olaf.get("/station/S9")
    assert page.status_code == 200 and "penpost station --name S9" in page.text
    assert olaf.get("/station/S9/state.json").json()["status"] == "offline"
    assert olaf.get("/station/no%20such", headers=JSON).status_code == 404


def test_station_state_shows_the_card_to_load_and_the_queue(as_user, station):
    store, ids = station
    state = as_user("olaf").get("/station/S1/state.json").json()
    assert (state["status"], state["current_job_id"]) == ("waiting_load", ids[0])
    assert state["drawn"]["id"] == ids[0] and state["progress"] is None
    assert state["card_key"] == f"{ids[0]}:1:card"
    assert [card["id"] for card in state["queue"]] == [ids[1]]
    assert state["queue"][0]["recipient"] == "Erika Mustermann"
    assert state["queue_count"] == 1 and state["queue_seconds"] > 0
    page = as_user("olaf").get("/station/S1").text
    assert f"Load a card for {ids[0]}" in page and 'id="initial-state"' in page


def test_the_finished_card_stays_drawn_until_the_next_one_starts(station):
    store, ids = station
    plotqueue.start_plot(store, ids[0], "S1", "station:S1")
    plotqueue.finish_plot(store, ids[0], "S1", plotted=True, reason="ok", actor="station:S1")
    progress = {"job_id": ids[0], "what": "card", "strokes_done": 14, "strokes_total": 14,
                "outcome": "plotted"}
    plotqueue.update_station(store, "S1", progress=progress, status="idle",
                             current_job_id=None)
    assert plotqueue.claim_next(store, "S1").id == ids[1]
    plotqueue.update_station(store, "S1", status="waiting_load")
    state = station_state(store, "S1")
    assert state["drawn"]["id"] == ids[0] and state["progress"]["outcome"] == "plotted"
    assert state["current"]["id"] == ids[1] and state["queue"] == []
    assert [card["id"] for card in state["recent"]] == [ids[0]]


def test_card_json_holds_the_strokes_of_the_gcode_in_plotting_order(as_user, station):
    store, ids = station
    body = as_user("olaf").get("/station/S1/card.json", params={"job": ids[0]}).json()
    job = store.job(None, ids[0])
    gcode = store.artifact_path(store.artifacts(job)["card.gcode"]).read_text()
    card = card_format("a6-landscape")
    expected = read_strokes(gcode, load_profile("grbl-servo"), card.width_mm, card.height_mm)
    assert (body["width_mm"], body["height_mm"]) == (card.width_mm, card.height_mm)
    assert len(body["strokes"]) == len(expected.strokes) > 5
    for got, want in zip(body["strokes"], expected.strokes, strict=True):
        assert len(got) == len(want)
        assert max(abs(a - b) for p, q in zip(got, want.tolist(), strict=True)
                   for a, b in zip(p, q[:2], strict=True)) <= 0.006
    default = as_user("olaf").get("/station/S1/card.json").json()
    assert default["job_id"] == ids[0]


def test_buttons_send_commands_only_when_they_mean_something(as_user, station):
    store, ids = station
    olaf = as_user("olaf")
    stale = post(olaf, "/station/S1/commands/load_done", job=ids[1])
    assert stale.status_code == 409 and f"now asks for {ids[0]}" in stale.json()["message"]
    assert post(olaf, "/station/S1/commands/pause").status_code == 409
    answer = post(olaf, "/station/S1/commands/load_done", job=ids[0])
    assert answer.status_code == 200 and answer.json()["ok"]
    plotqueue.update_station(store, "S1", status="plotting")
    assert post(olaf, "/station/S1/commands/load_done").status_code == 409
    assert post(olaf, "/station/S1/commands/pause").status_code == 200
    assert post(olaf, "/station/S1/commands/abort").status_code == 200
    assert post(olaf, "/station/S1/commands/fly").status_code == 404
    with store.session() as s:
        rows = list(s.scalars(select(StationCommand).order_by(StationCommand.id)))
    assert [(r.command, r.job_id, r.actor) for r in rows] == [
        ("load_done", ids[0], "user:olaf"), ("pause", ids[0], "user:olaf"),
        ("abort", ids[0], "user:olaf")]
    # a plain form post answers by going back to the page
    plotqueue.update_station(store, "S1", status="paused")
    form = olaf.post("/station/S1/commands/resume", data={"csrf_token": olaf.csrf},
                     follow_redirects=False)
    assert form.status_code == 303 and form.headers["location"] == "/station/S1"


def test_spoiled_reprints_only_an_interrupted_card(as_user, station):
    store, ids = station
    olaf = as_user("olaf")
    refused = post(olaf, "/station/S1/commands/spoiled")
    assert refused.status_code == 409 and "no interrupted card" in refused.json()["message"]
    refused = post(olaf, "/station/S1/commands/spoiled", job=ids[0])
    assert refused.status_code == 409 and "not interrupted" in refused.json()["message"]
    plotqueue.start_plot(store, ids[0], "S1", "station:S1")
    plotqueue.finish_plot(store, ids[0], "S1", plotted=False, reason="aborted by the operator",
                          actor="station:S1")
    plotqueue.update_station(store, "S1", status="interrupted", current_job_id=ids[0],
                             progress={"job_id": ids[0], "outcome": "interrupted",
                                       "strokes_done": 3, "strokes_total": 14})
    state = station_state(store, "S1")
    assert state["drawn"]["id"] == ids[0] and state["progress"]["strokes_done"] == 3
    answer = post(olaf, "/station/S1/commands/spoiled")
    assert answer.status_code == 200 and "reprint" in answer.json()["message"]
    assert store.job(None, ids[0]).state == "queued"
    assert audit(store, ids[0])[-1] == ("queued", "user:olaf",
                                        "spoiled card: queued again as a reprint")
    # first in line again, marked as a reprint; the page starts it on a blank card
    assert [j.id for j in plotqueue.queue_of(store, "S1")] == ids
    plotqueue.claim_next(store, "S1")
    plotqueue.update_station(store, "S1", status="waiting_load")
    state = station_state(store, "S1")
    assert state["current"]["reprint"] and state["progress"] is None


def test_spoiled_from_the_page_after_the_station_moved_on_to_the_next_card(as_user, station):
    store, ids = station
    olaf = as_user("olaf")
    plotqueue.start_plot(store, ids[0], "S1", "station:S1")
    plotqueue.finish_plot(store, ids[0], "S1", plotted=False, reason="aborted by the operator",
                          actor="station:S1")
    # within a poll the station claims the next card and asks for its stock
    assert plotqueue.claim_next(store, "S1").id == ids[1]
    plotqueue.update_station(store, "S1", status="waiting_load",
                             message=f"Load a card for {ids[1]}")
    state = as_user("olaf").get("/station/S1/state.json").json()
    assert state["current_job_id"] == ids[1]
    assert state["last_interrupted_id"] == ids[0]
    assert state["last_interrupted"]["state"] == "interrupted"
    # the page sends the interrupted card's id (station.js jobFor), and a plain form post
    # carries it in its hidden field
    assert f'"last_interrupted_id": "{ids[0]}"' in olaf.get("/station/S1").text
    answer = post(olaf, "/station/S1/commands/spoiled", job=state["last_interrupted_id"])
    assert answer.status_code == 200, answer.text
    assert store.job(None, ids[0]).state == "queued"
    assert store.job(None, ids[1]).state == "queued"  # the card the station waits for
    assert audit(store, ids[0])[-1] == ("queued", "user:olaf",
                                        "spoiled card: queued again as a reprint")
    assert station_state(store, "S1")["last_interrupted_id"] is None


def test_spoiled_without_a_card_means_the_newest_interrupted_one_of_the_station(
        as_user, station, submit):
    store, ids = station
    olaf = as_user("olaf")
    plotqueue.start_plot(store, ids[0], "S1", "station:S1")
    plotqueue.finish_plot(store, ids[0], "S1", plotted=False, reason="aborted",
                          actor="station:S1")
    plotqueue.claim_next(store, "S1")
    plotqueue.update_station(store, "S1", status="waiting_load")
    answer = post(olaf, "/station/S1/commands/spoiled")  # the form without its script
    assert answer.status_code == 200 and ids[0] in answer.json()["message"]
    assert store.job(None, ids[0]).state == "queued"
    # a card interrupted on another station is marked spoiled there, not here
    other = submit(seed=3)
    store.approve(None, other, "user:ann")
    plotqueue.register_station(store, "S2", profile="grbl-servo", port="sim")
    plotqueue.go_offline(store, "S1")
    assert plotqueue.claim_next(store, "S2").id == ids[0]
    plotqueue.start_plot(store, ids[0], "S2", "station:S2")
    plotqueue.finish_plot(store, ids[0], "S2", plotted=False, reason="aborted",
                          actor="station:S2")
    refused = post(olaf, "/station/S1/commands/spoiled", job=ids[0])
    assert refused.status_code == 409 and "station S2" in refused.json()["message"]
    assert station_state(store, "S2")["last_interrupted_id"] == ids[0]
    assert station_state(store, "S1")["last_interrupted_id"] is None


def test_the_page_shows_progress_and_remaining_time(as_user, station):
    store, ids = station
    plotqueue.start_plot(store, ids[0], "S1", "station:S1")
    plotqueue.update_station(store, "S1", status="plotting", progress={
        "job_id": ids[0], "what": "card", "strokes_done": 3, "strokes_total": 14,
        "acked": 40, "total": 200, "elapsed_s": 12.4, "remaining_s": 83.2, "outcome": None})
    page = as_user("olaf").get("/station/S1").text
    assert '<dd id="remaining">1:23</dd>' in page
    assert '<dd id="elapsed">0:12</dd>' in page and '<dd id="strokes-count">3 / 14</dd>' in page
    plotqueue.finish_plot(store, ids[0], "S1", plotted=True, reason="ok", actor="station:S1")
    plotqueue.update_station(store, "S1", status="idle", progress={
        "job_id": ids[0], "what": "card", "strokes_done": 14, "strokes_total": 14,
        "elapsed_s": 95, "remaining_s": 0, "outcome": "plotted"})
    page = as_user("olaf").get("/station/S1").text
    assert '<dd id="remaining">0:00</dd>' in page and '<dd id="elapsed">1:35</dd>' in page


def test_event_stream_sends_the_state_when_it_changes(web, station):
    app, _ = web
    store, ids = station

    async def first_events(count: int) -> list[tuple[str, dict]]:
        events: list[tuple[str, dict]] = []
        config = WebConfig(sse_poll_s=0.02, sse_max_s=5, sse_auth_s=1000)
        stream = station_events(store, "S1", config, token=None)
        assert await anext(stream) == "retry: 1000\n\n"
        async for chunk in stream:
            if chunk.startswith("event: state"):
                data = json.loads(chunk.split("data: ", 1)[1])
                events.append(("state", data))
                if len(events) == 1:
                    await asyncio.to_thread(plotqueue.update_station, store, "S1",
                                            status="plotting", progress={"job_id": ids[0],
                                                                         "strokes_done": 2})
            if len(events) == count:
                await stream.aclose()
                return events
        return events

    events = asyncio.run(first_events(2))
    assert [e[1]["status"] for e in events] == ["waiting_load", "plotting"]
    assert events[1][1]["progress"]["strokes_done"] == 2


def test_event_stream_ends_with_the_session(web, station):
    store, _ = station

    async def run() -> list[str]:
        config = WebConfig(sse_poll_s=0.01, sse_max_s=5, sse_auth_s=0)
        return [chunk async for chunk in station_events(store, "S1", config, "gone")]

    chunks = asyncio.run(run())
    assert chunks[-1] == "event: logout\ndata: {}\n\n"


def test_event_stream_over_http(as_user, web, station):
    app, _ = web
    app.state.web = WebConfig(sse_poll_s=0.05, sse_max_s=0.3)  # ends soon: the client reads all
    answer = as_user("olaf").get("/station/S1/events")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text.startswith("retry: 1000")
    states = [line for line in answer.text.splitlines() if line.startswith("data: ")]
    assert len(states) == 1 and json.loads(states[0][6:])["status"] == "waiting_load"


def test_label_and_coupon_sheets_of_the_run(as_user, station, web, shop):
    store, ids = station
    plain = store.submit(shop[0], {"message": "Entschuldigung.", "font": "tech",
                                   "seed": 9}).job.id  # no recipient, no coupon
    store.approve(None, plain, "user:ann")
    olaf = as_user("olaf")
    labels = olaf.get("/station/S1/labels.pdf")
    assert labels.status_code == 200 and labels.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(labels.content)).pages[0].extract_text()
    assert text.count("Erika Mustermann") == 2
    assert "1/3" in text and "2/3" in text and "3/3" not in text  # marks count every card
    coupons = olaf.get("/station/S1/coupons.pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(coupons.content)).pages)
    assert "Blumenladen Sonnenschein" in text
    # a run without coupons: a page that says so
    for job_id in ids:
        store.cancel(None, job_id, "user:ann", None)
    nothing = olaf.get("/station/S1/coupons.pdf")
    assert nothing.status_code == 409 and "none of these cards has a coupon" in nothing.text


def test_the_list_of_stations(as_user, web):
    _, store = web
    olaf = as_user("olaf")
    assert "No station has started yet" in olaf.get("/stations").text
    for name in ("S1", "S2"):
        plotqueue.register_station(store, name, profile="grbl-servo", port="sim")
    plotqueue.update_station(store, "S2", status="waiting_load", message="Load a card")
    page = olaf.get("/stations").text
    assert 'href="/station/S1"' in page and 'href="/station/S2"' in page
    assert "status-waiting_load" in page and "Load a card" in page


def test_plotted_cards_are_marked_shipped(as_user, station):
    """The operator posts the run's plotted cards: each goes plotted → shipped with an
    audit row; the button means nothing while none is plotted."""
    store, ids = station
    olaf = as_user("olaf")
    refused = post(olaf, "/station/S1/commands/shipped")
    assert refused.status_code == 409 and "nothing to mark shipped" in refused.json()["message"]
    assert station_state(store, "S1")["to_ship"] == 0
    plotqueue.start_plot(store, ids[0], "S1", "station:S1")
    plotqueue.finish_plot(store, ids[0], "S1", plotted=True, reason="ok", actor="station:S1")
    assert station_state(store, "S1")["to_ship"] == 1
    not_plotted = post(olaf, "/station/S1/commands/shipped", job=ids[1])
    assert not_plotted.status_code == 409 and ids[1] in not_plotted.json()["message"]
    answer = post(olaf, "/station/S1/commands/shipped")
    assert answer.status_code == 200 and answer.json()["message"] == "1 card marked shipped"
    assert store.job(None, ids[0]).state == "shipped"
    assert audit(store, ids[0])[-1] == ("shipped", "user:olaf", "shipped")
    state = station_state(store, "S1")
    assert state["to_ship"] == 0 and state["recent"][0]["state"] == "shipped"
