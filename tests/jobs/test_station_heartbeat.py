"""A station keeps saying it is alive (``last_seen_at``) in the states that show nothing
new for long, so that other stations never take it for gone (``station_stale_s``) and
take its cards: an interruption on show with the queue empty, and a feed hold mid-card
on a controller that reports nothing while held."""

from __future__ import annotations

import threading
import time

from jobs import plotqueue
from jobs.db import utcnow
from jobs.station import Station, StationConfig
from plotter.profile import load_profile
from plotter.simulator import STATUS, SimulatedGrbl
from tests.jobs.test_station import wait_until

STALE_S = 1.5  # station_stale_s here: a station beats every STALE_S / 3
HOLD_S = 2.5 * STALE_S  # how long each state is held and watched
DEADLINE_S = 60
BODY = {"message": "Es tut uns leid, dass Ihr Paket zu spät kam.", "font": "tech",
        "card": "a6-landscape"}


def oldest_heartbeat_s(store, name: str, status: str, seconds: float) -> float:
    """Watch station ``name`` for ``seconds`` while it shows ``status``: the longest it
    went unheard of (now minus ``last_seen_at``)."""
    oldest = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        row = plotqueue.station(store, name)
        assert row.status == status, f"the station left {status!r} for {row.status!r}"
        oldest = max(oldest, (utcnow() - row.last_seen_at).total_seconds())
        time.sleep(0.05)
    return oldest


class QuietInHold(SimulatedGrbl):
    """A controller whose status reports stop while it is held (a flaky serial link,
    a controller busy with its door switch): the streamer then has nothing to report."""

    def _receive(self, byte: int) -> None:
        if byte == STATUS and self._hold:
            return
        super()._receive(byte)


def test_a_station_showing_an_interruption_with_an_empty_queue_stays_fresh(make_store):
    store = make_store(station_stale_s=STALE_S)
    shop = store.create_shop("Laden")[0]
    job = store.submit(shop, {**BODY, "seed": 1}).job
    store.approve(shop.id, job.id, "approver")
    # the station's previous process died mid-card: on start it interrupts that card
    plotqueue.register_station(store, "S1", profile="grbl-servo", port="gone")
    assert plotqueue.claim_next(store, "S1").id == job.id
    plotqueue.start_plot(store, job.id, "S1", "station:S1")
    station = Station(store, StationConfig("S1", simulate=True), say=lambda _: None,
                      simulator=SimulatedGrbl(load_profile("grbl-servo")).start())
    station.connect()
    thread = threading.Thread(target=station.run, daemon=True)
    thread.start()
    try:
        assert store.job(None, job.id).state == "interrupted"
        assert plotqueue.queue_of(store, "S1") == []
        assert oldest_heartbeat_s(store, "S1", "interrupted", HOLD_S) < STALE_S
        # still a station cards go to: the next approved card is queued on it
        second = store.submit(shop, {**BODY, "seed": 2}).job
        assert store.approve(shop.id, second.id, "approver").station == "S1"
    finally:
        station.stop.set()
        thread.join(DEADLINE_S)
        station.close()


def test_a_station_in_a_long_feed_hold_keeps_its_cards(make_store):
    store = make_store(station_stale_s=STALE_S)
    shop = store.create_shop("Laden")[0]
    # 50 times real time: the card runs for some seconds, so the hold comes mid-card
    sim = QuietInHold(load_profile("grbl-servo"), time_scale=0.02).start()
    station = Station(store, StationConfig("S1", simulate=True, reply_timeout_s=5),
                      say=lambda _: None, simulator=sim)
    station.connect()
    ids = []
    for seed in (1, 2):  # both go to S1, the only station
        job = store.submit(shop, {**BODY, "seed": seed}).job
        ids.append(store.approve(shop.id, job.id, "approver").id)
    assert [store.job(None, i).station for i in ids] == ["S1", "S1"]
    thread = threading.Thread(target=station.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: plotqueue.station(store, "S1").status == "waiting_load",
                   "the load prompt")
        plotqueue.post_command(store, "S1", "load_done", "operator")
        wait_until(lambda: (plotqueue.station(store, "S1").progress or {}).get("acked", 0) > 40,
                   "the plot to get going")
        plotqueue.post_command(store, "S1", "pause", "operator")
        wait_until(lambda: plotqueue.station(store, "S1").status == "paused", "the feed hold")
        assert oldest_heartbeat_s(store, "S1", "paused", HOLD_S) < STALE_S
        assert store.job(None, ids[0]).state == "plotting"
        # another station finds no card to take: S1's second card stays S1's
        plotqueue.register_station(store, "S2", profile="grbl-servo", port="none")
        assert plotqueue.claim_next(store, "S2") is None
        assert store.job(None, ids[1]).station == "S1"
        plotqueue.post_command(store, "S1", "resume", "operator")
        wait_until(lambda: store.job(None, ids[0]).state == "plotted", "the card to finish")
    finally:
        station.stop.set()
        thread.join(DEADLINE_S)
        station.close()
