"""The people's pages in a real browser: Playwright driving Debian's chromium against a
running service (``penpost serve`` with its render worker) and a simulated plotter station
(``penpost station --simulate``). An approver logs in and approves cards with the keys
(and edits one, watching it render again); an operator loads stock, watches cards being
drawn and finished, pauses, aborts one mid-card (pen up, interrupted) while another is
queued, marks it spoiled after the station has moved on to that one, and watches both
finish, the reprint last; then marks the run posted. A card submitted while the
approval page is open joins it without a reload. Screenshots of each page go to
tests/artifacts/browser/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import need_tool
from tests.e2e.test_service import free_port, penpost, stop, wait_for

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"
WAIT_MS = 90_000
PASSWORD = "correct horse battery"
RECIPIENT = {"name": "Erika Mustermann", "street_lines": ["Heidestraße 17"], "postcode": "51147",
             "city": "Köln", "country": "DE"}
SHORT = {"message": "Es tut uns leid.", "font": "tech", "card": "a6-landscape",
         "recipient": RECIPIENT, "coupon": {"kind": "amount", "amount": "5.00"}}
SORRY = ("Es tut uns sehr leid, dass Ihre Bestellung so spät ankam. Wir haben Ihnen einen "
         "Gutschein beigelegt und hoffen, Sie bald wieder bei uns begrüßen zu dürfen. ")
LONG = {"message": SORRY * 4, "font": "hershey-script", "card": "a6-landscape", "ink": "red",
        "recipient": {**RECIPIENT, "name": "Max Mustermann"}}


@pytest.fixture
def browser() -> Iterator[object]:
    need_tool(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need_tool(False, "the playwright package is not installed (make dev)")
        return
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Running:
    """The service and the station, as processes, with the shop's key."""

    def __init__(self, url: str, key: str, env: dict[str, str]) -> None:
        self.url, self.key, self.env = url, key, env
        self.processes: list[subprocess.Popen] = []

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {self.key}"})

    def job(self, job_id: str) -> dict:
        with self.api() as api:
            return api.get(f"/v1/jobs/{job_id}").json()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    env = {**os.environ, "PENPOST_DATA_DIR": str(tmp_path / "data"),
           "PENPOST_SWEEP_INTERVAL_S": "1", "PENPOST_RENDER_STALE_S": "10"}
    penpost("users", "create", "ann", "--role", "approver", "--password", PASSWORD, env=env)
    penpost("users", "create", "olaf", "--role", "operator", "--password", PASSWORD, env=env)
    out = penpost("shops", "create", "Blumenladen Sonnenschein", env=env)
    key = re.search(r"API key \(shown once, store it now\): (\S+)", str(out)).group(1)
    port = free_port()
    service = Running(f"http://127.0.0.1:{port}", key, env)
    try:
        service.processes.append(penpost("serve", "--port", str(port), "--concurrency", "1",
                                         env=env, background=True))

        def healthy() -> bool:
            try:
                return httpx.get(f"{service.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, "the service to answer")
        yield service
    finally:
        for process in reversed(service.processes):
            stop(process)


def start_station(service: Running) -> None:
    station = subprocess.Popen(
        [*penpost_command(), "station", "--name", "S1", "--simulate", "--time-scale", "0.05",
         "--no-terminal"], env=service.env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    service.processes.append(station)


def penpost_command() -> list[str]:
    return [sys.executable, "-m", "jobs.cli"]


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page, username: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("form[action='/login']")).to_be_visible()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    shot(page, f"login-{username}")
    page.click("button[type=submit]")


def test_approve_then_plot_abort_and_reprint(running: Running, browser) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    with running.api() as api:
        batch = api.post("/v1/batches", json={"jobs": [{**SHORT, "seed": 1}, {**SHORT, "seed": 2}]})
        assert batch.status_code == 201, batch.text
        first, second = (job["id"] for job in batch.json()["jobs"])
        third = api.post("/v1/jobs", json={**LONG, "seed": 3}).json()["id"]
        fourth = api.post("/v1/jobs", json={**SHORT, "ink": "red", "seed": 4}).json()["id"]
    start_station(running)

    # the approver: two cards approved with the 'a' key, the third edited and approved,
    # the fourth approved
    approver = browser.new_context(base_url=running.url, viewport={"width": 1400, "height": 1000})
    page = approver.new_page()
    page.goto("/approve")
    log_in(page, "ann")
    expect(page).to_have_url(re.compile(r"/approve"))
    expect(page.locator(".job[data-state=rendered]")).to_have_count(4)
    expect(page.locator(f"#job-{first} .preview img")).to_have_js_property("complete", True)
    shot(page, "approve")
    expect(page.locator(f"#job-{first}")).to_have_class(re.compile("selected"))
    page.keyboard.press("a")
    expect(page.locator(f"#job-{first}")).to_have_attribute("data-state", "queued")
    expect(page.locator(f"#job-{second}")).to_have_class(re.compile("selected"))
    page.keyboard.press("a")
    expect(page.locator(f"#job-{second}")).to_have_attribute("data-state", "queued")
    card = page.locator(f"#job-{third}")
    expect(card).to_have_class(re.compile("selected"))
    page.keyboard.press("e")
    textarea = card.locator("textarea[name=message]")
    expect(textarea).to_be_focused()
    textarea.fill(SORRY * 4 + "Ihr Team vom Blumenladen.")
    textarea.press("Control+Enter")
    expect(card).to_have_attribute("data-revision", "2")
    expect(card).to_have_attribute("data-state", "rendered")
    expect(card.locator(".t-message")).to_contain_text("Ihr Team vom Blumenladen.")
    expect(card.locator(".preview img")).to_have_attribute("src", re.compile(r"rev=2"))
    shot(page, "approve-edited")
    page.keyboard.press("a")
    expect(card).to_have_attribute("data-state", "queued")
    assert running.job(third)["revision"] == 2
    expect(page.locator(f"#job-{fourth}")).to_have_class(re.compile("selected"))
    page.keyboard.press("a")
    expect(page.locator(f"#job-{fourth}")).to_have_attribute("data-state", "queued")
    approver.close()

    # the operator: load, watch two cards finish, change the pen, abort the third mid-card
    operator = browser.new_context(base_url=running.url, viewport={"width": 1400, "height": 1000})
    page = operator.new_page()
    page.goto("/station/S1")
    log_in(page, "olaf")
    expect(page).to_have_url(re.compile(r"/station/S1$"))
    station = page.locator("#station")
    svg = page.locator("#card")
    expect(page.locator("#conn")).to_have_text("live")

    def finished(job_id: str) -> None:
        """The page shows card ``job_id`` plotted, every one of its strokes drawn."""
        expect(page.locator("#card-info")).to_contain_text(job_id)
        expect(svg).to_have_attribute("data-job", f"{job_id}:card")  # card.json is in
        expect(page.locator("#outcome")).to_have_text("PLOTTED")
        strokes = int(svg.get_attribute("data-strokes") or 0)
        assert strokes > 0
        expect(svg).to_have_attribute("data-done", str(strokes))
        expect(svg.locator("polyline.done")).to_have_count(strokes)

    for job_id in (first, second):
        expect(station).to_have_attribute("data-status", "waiting_load")
        expect(page.locator("#message")).to_contain_text(job_id)
        if job_id == first:
            shot(page, "station-waiting-load")
        page.keyboard.press("Enter" if job_id == first else "l")
        finished(job_id)
        if job_id == first:
            shot(page, "station-plotted")
    assert running.job(first)["state"] == "plotted"

    expect(station).to_have_attribute("data-status", "pen_change")
    expect(page.locator("#message")).to_contain_text("red")
    expect(page.locator("#message")).to_contain_text("press Pen changed (P)")
    page.keyboard.press("p")
    expect(station).to_have_attribute("data-status", "waiting_load")
    expect(page.locator("#message")).to_contain_text(third)
    page.keyboard.press("Enter")
    # pause at once: the card cannot end before the pause (it plots for ~15 s)
    expect(station).to_have_attribute("data-status", "plotting")
    page.keyboard.press(" ")
    expect(station).to_have_attribute("data-status", "paused")
    expect(page.locator("#btn-resume")).to_be_visible()
    shot(page, "station-paused")
    page.keyboard.press(" ")
    expect(station).to_have_attribute("data-status", "plotting")
    # the strokes coloured are those of the card being plotted, not of the last one
    expect(svg).to_have_attribute("data-job", f"{third}:card")
    expect(svg).to_have_attribute("data-done", re.compile(r"^([3-9]|\d\d+)$"))
    expect(page.locator("#pen")).to_have_attribute("visibility", "visible")
    expect(page.locator("#remaining")).to_have_text(re.compile(r"^\d+:\d\d$"))
    shot(page, "station-plotting")
    # abort from a pause, so the card cannot finish first on a slow machine
    page.keyboard.press(" ")
    expect(station).to_have_attribute("data-status", "paused")
    page.keyboard.press("a")
    expect(page.locator("#outcome")).to_have_text("INTERRUPTED · pen up")
    # the station moves on to the fourth card at once; the third can still be spoiled
    expect(station).to_have_attribute("data-status", "waiting_load")
    expect(page.locator("#message")).to_contain_text(fourth)
    expect(page.locator("#interrupted-note")).to_contain_text(third)
    expect(page.locator("#btn-spoiled")).to_be_enabled()
    expect(svg).to_have_attribute("data-job", f"{third}:card")
    done = int(svg.get_attribute("data-done") or 0)
    assert 0 < done < int(svg.get_attribute("data-strokes") or 0), "aborted mid-card"
    assert running.job(third)["state"] == "interrupted"
    shot(page, "station-interrupted")

    # spoiled: the card is queued again and plotted as a reprint, after the fourth
    page.keyboard.press("s")
    expect(page.locator("#btn-spoiled")).to_be_disabled()
    expect(page.locator("#interrupted-note")).to_have_text("")
    assert running.job(third)["state"] == "queued"
    expect(page.locator("#message")).to_contain_text(fourth)
    page.keyboard.press("Enter")
    finished(fourth)
    expect(station).to_have_attribute("data-status", "waiting_load")
    expect(page.locator("#message")).to_contain_text(third)
    expect(page.locator("#up-next")).to_contain_text("REPRINT")
    page.keyboard.press("Enter")
    expect(page.locator("#card-info")).to_contain_text("REPRINT")
    finished(third)
    shot(page, "station-reprint-plotted")
    assert running.job(third)["state"] == "plotted"
    with running.api() as api:
        moves = [(t["from_state"], t["to_state"])
                 for t in api.get(f"/v1/jobs/{third}/events").json()["transitions"]]
    assert ("plotting", "interrupted") in moves and ("interrupted", "queued") in moves
    assert moves[-1] == ("plotting", "plotted")

    # the run's label and coupon sheets, then the cards are posted
    for key, sheet in (("e", "labels"), ("c", "coupons")):
        with operator.expect_page() as opened:
            page.keyboard.press(key)
        assert opened.value.url.endswith(f"/station/S1/{sheet}.pdf"), opened.value.url
        opened.value.close()
        answer = page.request.get(f"/station/S1/{sheet}.pdf")
        assert answer.status == 200 and answer.body().startswith(b"%PDF"), sheet
    shipped = page.locator("#btn-shipped")
    expect(shipped).to_contain_text("4 plotted cards posted")
    page.keyboard.press("h")
    expect(shipped).to_be_disabled()
    expect(page.locator("#recent .badge.shipped")).to_have_count(4)
    assert {running.job(j)["state"] for j in (first, second, third, fourth)} == {"shipped"}
    shot(page, "station-shipped")
    page.goto("/stations")
    expect(page.locator("body")).to_contain_text("S1")
    shot(page, "stations")
    page.goto("/logout")
    shot(page, "logout")
    page.click("form[action='/logout'] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/login$"))
    operator.close()


def test_reject_with_a_reason_and_approve_a_batch_after_looking_through_it(
        running: Running, browser) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    with running.api() as api:
        batch = api.post("/v1/batches", json={"jobs": [{**SHORT, "seed": i} for i in range(3)]})
        assert batch.status_code == 201, batch.text
        batch_id = batch.json()["id"]
        single = api.post("/v1/jobs", json={**SHORT, "seed": 9}).json()["id"]
    context = browser.new_context(base_url=running.url, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto("/approve")
    log_in(page, "ann")
    expect(page.locator(".job[data-state=rendered]")).to_have_count(4)
    for _ in range(3):
        page.keyboard.press("j")
    card = page.locator(f"#job-{single}")
    expect(card).to_have_class(re.compile("selected"))
    page.keyboard.press("r")
    reason = card.locator("input[name=reason]")
    expect(reason).to_be_focused()
    reason.fill("Der Name ist falsch geschrieben")
    reason.press("Enter")
    expect(card).to_have_attribute("data-state", "rejected")
    assert running.job(single)["state"] == "rejected"

    # a card that comes in while the page is open joins the list without a reload
    with running.api() as api:
        late = api.post("/v1/jobs", json={**SHORT, "seed": 10}).json()["id"]
    expect(page.locator(f"#job-{late}")).to_have_attribute("data-state", "rendered")
    expect(page.locator("h1 .count")).to_have_text("5")
    expect(page.locator(f"#job-{late} .preview img")).to_have_js_property("complete", True)
    shot(page, "approve-new-card")

    page.select_option("select[name=batch]", batch_id)
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(f"batch={batch_id}"))
    expect(page.locator("#jobs .job")).to_have_count(3)
    page.keyboard.press("b")
    expect(page).to_have_url(re.compile(f"/approve/batch/{batch_id}$"))
    confirm = page.locator("#bulk-confirm button")
    expect(confirm).to_have_text("Approve these 3 cards a")
    expect(page.locator("#jobs .job img")).to_have_count(3)
    shot(page, "approve-batch-review")
    page.keyboard.press("a")  # the button's key
    expect(page.locator(".notice")).to_contain_text("Approved 3 card(s) of the batch")
    with running.api() as api:
        states = api.get(f"/v1/batches/{batch_id}").json()["states"]
    assert states == {"queued": 3}
    context.close()
