"""The station over a real pty with the simulated GRBL: cards plotted in queue order after
the operator loads stock, abort mid-card (interrupted, pen up, never plotted), spoiled and
reprinted, pen changes, a lost controller, stations going offline, and the terminal
station driven through a pseudo-terminal."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from sqlalchemy import select as sql_select

from cards.formats import card_format
from jobs import plotqueue
from jobs.db import StationCommand, Transition
from jobs.station import Station, StationConfig, stroke_end_lines, terminal_commands
from plotter.gcode import read_strokes
from plotter.profile import load_profile
from plotter.simulator import Faults, SimulatedGrbl
from plotter.transform import machine_to_card

BODY = {"message": "Es tut uns leid.", "font": "tech", "card": "a6-landscape"}
DEADLINE_S = 60


def wait_until(check, what: str):
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def approved(make_store):
    """A store with a shop; ``approve(n, **body)`` submits, renders and approves n jobs."""
    store = make_store()
    shop = store.create_shop("Laden")[0]

    def approve(n: int = 1, **body) -> list[str]:
        ids = []
        for i in range(n):
            job = store.submit(shop, {**BODY, "seed": len(ids) + i + 1, **body}).job
            store.approve(shop.id, job.id, "approver")
            ids.append(job.id)
        return ids

    return store, approve


def moves(store, job_id: str) -> list[tuple[str, str]]:
    with store.session() as s:
        rows = s.scalars(sql_select(Transition).where(Transition.job_id == job_id)
                         .order_by(Transition.id))
        return [(r.from_state, r.to_state) for r in rows][4:]  # after received…queued


def start(station: Station, **run) -> threading.Thread:
    station.connect()
    thread = threading.Thread(target=station.run, kwargs=run, daemon=True)
    thread.start()
    return thread


def test_cards_are_plotted_in_queue_order_after_loading(approved):
    store, approve = approved
    ids = approve(2)
    sim = SimulatedGrbl(load_profile("grbl-servo")).start()
    station = Station(store, StationConfig("S1", simulate=True), say=lambda _: None,
                      simulator=sim)
    thread = start(station, cards=2)
    wait_until(lambda: plotqueue.station(store, "S1").status == "waiting_load", "load prompt")
    assert plotqueue.station(store, "S1").current_job_id == ids[0]
    assert store.job(None, ids[0]).state == "queued"  # nothing moves before the stock is in
    plotqueue.post_command(store, "S1", "load_done", "operator")
    wait_until(lambda: plotqueue.station(store, "S1").current_job_id == ids[1]
               and plotqueue.station(store, "S1").status == "waiting_load", "the second prompt")
    assert store.job(None, ids[0]).state == "plotted"
    plotqueue.post_command(store, "S1", "load_done", "operator")
    thread.join(DEADLINE_S)
    assert [store.job(None, j).state for j in ids] == ["plotted", "plotted"]
    for job_id in ids:
        assert moves(store, job_id) == [("queued", "plotting"), ("plotting", "plotted")]
    # the paper holds exactly the strokes of the two cards' G-code
    card = card_format("a6-landscape")
    profile = load_profile("grbl-servo")
    expected = []
    for job_id in ids:
        job = store.job(None, job_id)
        gcode = store.artifact_path(store.artifacts(job)["card.gcode"]).read_text()
        expected += read_strokes(gcode, profile, card.width_mm, card.height_mm).strokes
    drawn = [machine_to_card(s[:, :2], profile, card.width_mm, card.height_mm)
             for s in sim.strokes()]
    assert len(drawn) == len(expected)
    assert max(float(np.abs(a - b).max()) for a, b in zip(drawn, expected, strict=True)) < 0.01
    row = plotqueue.station(store, "S1")
    assert row.progress["outcome"] == "plotted"
    assert row.progress["strokes_done"] == row.progress["strokes_total"] > 10
    ink = sum(store.job(None, j).ink_mm for j in ids)
    assert row.ink_used_mm == pytest.approx(ink)
    station.close()
    assert plotqueue.station(store, "S1").status == "offline"


def slow_station(store) -> tuple[SimulatedGrbl, Station]:
    """Station S1 on a simulated GRBL whose line 100 answers only after 30 s: a card on
    it cannot end in a test's time unless it is aborted."""
    sim = SimulatedGrbl(load_profile("grbl-servo"), faults=Faults(slow_reply_s={100: 30.0}))
    sim.start()
    station = Station(store, StationConfig("S1", simulate=True, reply_timeout_s=60),
                      say=lambda _: None, simulator=sim)
    return sim, station


def test_a_command_right_after_the_awaited_one_is_not_lost(approved):
    """The operator presses Enter (card loaded) and at once abort: the station takes both
    in one batch, starts the card on the first and still acts on the second."""
    store, approve = approved
    (job_id,) = approve(1)
    sim, station = slow_station(store)
    thread = start(station, cards=1)
    wait_until(lambda: plotqueue.station(store, "S1").status == "waiting_load", "load prompt")
    with store.session() as s:  # one transaction: the station cannot take one alone
        s.add_all([StationCommand(station="S1", command="load_done", actor="operator"),
                   StationCommand(station="S1", command="abort", actor="operator")])
    thread.join(DEADLINE_S)
    assert store.job(None, job_id).state == "interrupted"
    assert "abort" in store.job(None, job_id).error
    assert not sim.pen_down


def test_abort_mid_card_interrupts_lifts_the_pen_and_spoiled_cards_are_reprinted(approved):
    store, approve = approved
    (job_id,) = approve(1)
    sim, station = slow_station(store)  # surely mid-way when the abort comes
    thread = start(station, cards=2)
    plotqueue.post_command(store, "S1", "load_done", "operator")
    wait_until(lambda: (plotqueue.station(store, "S1").progress or {}).get("acked", 0) > 40,
               "the plot to get going")
    assert store.job(None, job_id).state == "plotting"
    plotqueue.post_command(store, "S1", "abort", "operator")
    wait_until(lambda: store.job(None, job_id).state == "interrupted", "the abort")
    assert not sim.pen_down
    row = wait_until(lambda: (r := plotqueue.station(store, "S1")).status == "interrupted" and r,
                     "the station to show the interruption")
    assert "mark it spoiled" in row.message and row.current_job_id == job_id
    assert "abort" in store.job(None, job_id).error
    # the pen wrote what the controller took before the abort: that ink is counted
    job = store.job(None, job_id)
    full = job.ink_mm
    gcode = store.artifact_path(store.artifacts(job)["card.gcode"]).read_text()
    card = card_format("a6-landscape")
    written = read_strokes(gcode, load_profile("grbl-servo"), card.width_mm, card.height_mm)
    partial = row.ink_used_mm
    assert 0 < partial <= written.ink_length_mm() + 1e-6
    # never retried by itself: the station waits for other cards, the job stays interrupted
    assert plotqueue.queue_of(store, "S1") == []
    plotqueue.post_command(store, "S1", "spoiled", "operator", job_id)
    wait_until(lambda: store.job(None, job_id).state == "queued", "the reprint to be queued")
    plotqueue.post_command(store, "S1", "load_done", "operator")
    thread.join(DEADLINE_S)
    assert store.job(None, job_id).state == "plotted"
    assert moves(store, job_id) == [("queued", "plotting"), ("plotting", "interrupted"),
                                    ("interrupted", "queued"), ("queued", "plotting"),
                                    ("plotting", "plotted")]
    assert plotqueue.station(store, "S1").ink_used_mm == pytest.approx(partial + full)
    station.close()


def test_a_card_in_another_colour_asks_for_a_pen_change(approved):
    store, approve = approved
    (job_id,) = approve(1, ink="red")
    said: list[str] = []
    station = Station(store, StationConfig("S1", simulate=True, time_scale=0.0),
                      say=said.append)
    thread = start(station, cards=1)
    row = wait_until(lambda: (r := plotqueue.station(store, "S1")).status == "pen_change" and r,
                     "the pen change prompt")
    assert "red" in row.message
    # each interface names its own key: the page's button (P), the terminal's c
    assert row.message.endswith("then press Pen changed (P).")
    assert any("red" in line and line.endswith("then press c.") for line in said), said
    plotqueue.post_command(store, "S1", "load_done", "operator")  # ignored until the pen is in
    plotqueue.post_command(store, "S1", "pen_changed", "operator")
    wait_until(lambda: plotqueue.station(store, "S1").status == "waiting_load", "load prompt")
    plotqueue.post_command(store, "S1", "load_done", "operator")
    thread.join(DEADLINE_S)
    assert store.job(None, job_id).state == "plotted"
    assert plotqueue.station(store, "S1").pen_colour == "red"
    station.close()


def test_a_nearly_dry_pen_is_changed_before_the_card(approved):
    store, approve = approved
    (job_id,) = approve(1)
    ink = store.job(None, job_id).ink_mm
    station = Station(store, StationConfig("S1", simulate=True, time_scale=0.0,
                                           ink_capacity_m=ink / 1000 * 1.5),
                      say=lambda _: None)
    station.connect()
    plotqueue.update_station(store, "S1", ink_used_mm=ink)
    thread = threading.Thread(target=station.run, kwargs={"cards": 1}, daemon=True)
    thread.start()
    row = wait_until(lambda: (r := plotqueue.station(store, "S1")).status == "pen_change" and r,
                     "the pen change prompt")
    assert "the pen has written" in row.message
    plotqueue.post_command(store, "S1", "pen_changed", "operator")
    wait_until(lambda: plotqueue.station(store, "S1").status == "waiting_load", "load prompt")
    plotqueue.post_command(store, "S1", "load_done", "operator")
    thread.join(DEADLINE_S)
    assert plotqueue.station(store, "S1").ink_used_mm == pytest.approx(ink)
    station.close()


def test_a_lost_controller_interrupts_the_card_and_keeps_the_queue(approved):
    store, approve = approved
    ids = approve(2)
    sim = SimulatedGrbl(load_profile("grbl-servo"),
                        faults=Faults(disconnect_after_lines=60)).start()
    station = Station(store, StationConfig("S1", simulate=True, reply_timeout_s=2),
                      say=lambda _: None, simulator=sim)
    thread = start(station, cards=2)
    plotqueue.post_command(store, "S1", "load_done", "operator")
    wait_until(lambda: plotqueue.station(store, "S1").status == "offline", "the lost plotter")
    job = store.job(None, ids[0])
    assert job.state == "interrupted" and "disconnected" in job.error
    assert [j.id for j in plotqueue.queue_of(store, "S1")] == [ids[1]]  # the queue stays
    station.stop.set()
    thread.join(DEADLINE_S)
    station.close()
    assert store.job(None, ids[1]).state == "queued" and store.job(None, ids[1]).station is None


def test_two_stations_never_claim_one_card_and_offline_hands_back(approved):
    store, approve = approved
    ids = approve(3)
    for name in ("S1", "S2"):
        plotqueue.register_station(store, name, profile="grbl-servo", port="none")
    first = plotqueue.claim_next(store, "S1")
    second = plotqueue.claim_next(store, "S2")
    assert (first.id, second.id) == (ids[0], ids[1])
    assert plotqueue.claim_next(store, "S1").id == ids[0]  # its own claim comes first again
    assert plotqueue.go_offline(store, "S1") == 1
    assert store.job(None, ids[0]).station is None
    assert moves(store, ids[0])[-1] == ("queued", "queued")


def test_stroke_end_lines_count_the_strokes_of_the_gcode(approved):
    store, approve = approved
    (job_id,) = approve(1)
    job = store.job(None, job_id)
    gcode = store.artifact_path(store.artifacts(job)["card.gcode"]).read_text()
    for name in ("grbl-servo", "grbl-z"):
        profile = load_profile(name)
        if name == "grbl-z":
            from jobs.render import plotter_output
            from plotter.svgread import read_svg

            drawing = read_svg(store.artifact_path(store.artifacts(job)["card.svg"]))
            gcode = plotter_output(drawing, profile)[1]
        ends = stroke_end_lines(gcode, profile)
        card = card_format("a6-landscape")
        assert len(ends) == len(read_strokes(gcode, profile, card.width_mm, card.height_mm).strokes)
        assert ends == sorted(ends)


@pytest.mark.slow
def test_terminal_station_through_a_pseudo_terminal(approved, tmp_path):
    """The operator's whole flow with the terminal's keys: a card paused (p) and aborted
    (a) mid-card, marked spoiled (s) while the station asks for a pen for the next card
    (c), that card plotted, then the reprint after another pen change."""
    store, approve = approved
    # about 60 s of plotting at 0.1 wall s per s: the pause surely comes mid-card
    (first,) = approve(1, message="Es tut uns wirklich sehr leid. " * 3)
    (second,) = approve(1, ink="red")
    env = {**os.environ, "PENPOST_DATA_DIR": str(store.settings.data_dir)}
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "station", "--name", "T1", "--simulate",
         "--time-scale", "0.1", "--cards", "3"], stdin=follower, stdout=follower,
        stderr=follower, env=env, close_fds=True)
    os.close(follower)
    seen = b""
    mark = 0  # what the test has read so far: each expect looks after it

    def expect(text: str) -> None:
        nonlocal seen, mark
        wanted = text.encode()
        end = time.monotonic() + DEADLINE_S
        while wanted not in seen[mark:]:
            assert time.monotonic() < end, (
                f"no {text!r} in {seen[mark:].decode(errors='replace')}")
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(leader, 4096)
                except OSError:
                    break
        mark = seen.index(wanted, mark) + len(wanted)

    def key(text: str) -> None:
        os.write(leader, text.encode() + b"\n")

    try:
        expect(f"({first}), then press Enter.")
        key("")
        expect(f"{first}: plotting the card")
        key("p")  # pause: the station's row says it is plotting
        wait_until(lambda: plotqueue.station(store, "T1").status == "paused", "the pause")
        assert store.job(None, first).state == "plotting"
        key("a")
        expect(f"{first}: INTERRUPTED")
        expect("press s to mark it spoiled")
        # the station moves on at once: the next card wants a red pen
        expect("fresh red pen (this card is written in red), then press c.")
        key("s")  # still the interrupted card, not the one asked for now
        expect(f"{first}: marked spoiled, queued again as a reprint")
        key("c")
        expect(f"({second}), then press Enter.")
        key("")
        expect(f"{second}: plotted in")
        # the reprint: blue-black again
        expect("fresh blue-black pen (this card is written in blue-black), then press c.")
        key("c")
        expect(f"({first}), then press Enter.")
        key("")
        expect(f"{first}: plotted in")
        assert process.wait(timeout=DEADLINE_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    job = store.job(None, first)
    assert job.state == "plotted"
    assert moves(store, first) == [("queued", "plotting"), ("plotting", "interrupted"),
                                   ("interrupted", "queued"), ("queued", "plotting"),
                                   ("plotting", "plotted")]
    with store.session() as s:
        rows = {(t.to_state, t.actor): t.reason for t in s.scalars(
            sql_select(Transition).where(Transition.job_id == first))}
    interrupted = rows[("interrupted", "station:T1")]
    assert "aborted by the operator" in interrupted and "not confirmed" not in interrupted
    assert ("queued", "terminal:T1") in rows  # the spoiled key's reprint
    assert store.job(None, second).state == "plotted"
    assert moves(store, second) == [("queued", "plotting"), ("plotting", "plotted")]
    assert plotqueue.station(store, "T1").pen_colour == "blue-black"


def test_the_envelope_follows_its_card_with_its_own_prompt(approved):
    store, approve = approved
    recipient = {"name": "Erika Müller", "street_lines": ["Hauptstraße 12"],
                 "postcode": "10115", "city": "Berlin"}
    (job_id,) = approve(1, recipient=recipient, delivery="envelope")
    sim = SimulatedGrbl(load_profile("grbl-servo")).start()
    station = Station(store, StationConfig("S1", simulate=True), say=lambda _: None,
                      simulator=sim)
    thread = start(station, cards=1)
    wait_until(lambda: plotqueue.station(store, "S1").status == "waiting_load", "card prompt")
    plotqueue.post_command(store, "S1", "load_done", "operator")
    row = wait_until(lambda: (r := plotqueue.station(store, "S1")).status == "waiting_load"
                     and "envelope" in (r.message or "") and r, "the envelope prompt")
    assert "envelope (c6)" in row.message
    assert store.job(None, job_id).state == "plotted"
    plotqueue.post_command(store, "S1", "load_done", "operator")
    thread.join(DEADLINE_S)
    job = store.job(None, job_id)
    card = card_format("a6-landscape")
    profile = load_profile("grbl-servo")
    card_strokes = read_strokes(store.artifact_path(store.artifacts(job)["card.gcode"]).read_text(),
                                profile, card.width_mm, card.height_mm).strokes
    assert len(sim.strokes()) > len(card_strokes)  # the envelope was written after the card
    row = plotqueue.station(store, "S1")
    assert row.progress["what"] == "envelope"
    # the pen wrote both
    assert row.ink_used_mm == pytest.approx(job.ink_mm + envelope_ink_mm(store, job_id),
                                            rel=1e-3)
    station.close()


def test_a_restarted_station_interrupts_the_card_its_predecessor_left(approved):
    store, approve = approved
    (job_id,) = approve(1)
    plotqueue.register_station(store, "S1", profile="grbl-servo", port="gone")
    assert plotqueue.claim_next(store, "S1").id == job_id
    plotqueue.start_plot(store, job_id, "S1", "station:S1")  # …and then the process died
    sim = SimulatedGrbl(load_profile("grbl-servo")).start()
    sim_port = sim.port
    station = Station(store, StationConfig("S1", simulate=True), say=lambda _: None,
                      simulator=sim)
    station.connect()
    job = store.job(None, job_id)
    assert job.state == "interrupted" and "pen lifted on restart" in job.error
    assert not sim.pen_down and sim_port
    assert plotqueue.station(store, "S1").status == "interrupted"
    assert plotqueue.queue_of(store, "S1") == []  # not retried by itself
    station.close()


@pytest.mark.parametrize("policy", ["least-time", "round-robin", "shared"])
def test_cards_are_spread_over_the_stations_by_the_policy(make_store, policy):
    store = make_store(plot_policy=policy)
    shop = store.create_shop("Laden")[0]
    for name in ("S1", "S2", "S3"):
        plotqueue.register_station(store, name, profile="grbl-servo", port="none")
    plotqueue.go_offline(store, "S3")
    long_text = {**BODY, "message": "Es tut uns wirklich sehr leid. " * 6}
    ids = []
    for i, body in enumerate([long_text, BODY, BODY, BODY]):
        job = store.submit(shop, {**body, "seed": i}).job
        ids.append(store.approve(shop.id, job.id, "approver").id)
    stations = [store.job(None, j).station for j in ids]
    times = [store.job(None, j).plot_seconds for j in ids]
    if policy == "shared":
        assert stations == [None] * 4
    elif policy == "round-robin":
        assert stations == ["S1", "S2", "S1", "S2"]
    else:  # the long card on S1, then S2 gets short ones until it has as much queued
        assert stations[0] == "S1" and stations[1] == "S2"
        queued = {name: sum(t for s, t in zip(stations, times, strict=True) if s == name)
                  for name in ("S1", "S2")}
        assert abs(queued["S1"] - queued["S2"]) <= max(times)
    assert "S3" not in stations  # offline stations get nothing
    assert plotqueue.go_offline(store, "S1") == stations.count("S1")
    assert all(store.job(None, j).station in (None, "S2") for j in ids)


def test_terminal_p_pauses_or_resumes_by_the_station_row(approved):
    store, _ = approved
    plotqueue.register_station(store, "S1", profile="grbl-servo", port="none")
    said: list[str] = []
    station = Station(store, StationConfig("S1"), say=said.append)

    def posted(keys: str) -> list[str]:
        before = len(taken)
        terminal_commands(store, "S1", io.StringIO(keys), station)
        taken.extend(c.command for c in plotqueue.take_commands(store, "S1"))
        return taken[before:]

    taken: list[str] = []
    plotqueue.update_station(store, "S1", status="plotting")
    assert posted("p\n") == ["pause"]
    # paused meanwhile from the page (or the machine's hold button): p goes on
    plotqueue.update_station(store, "S1", status="paused")
    assert posted("p\n") == ["resume"]
    assert posted("p\n") == ["resume"]  # the row has not moved on: still a resume
    plotqueue.update_station(store, "S1", status="plotting")
    assert posted("p\nc\ns\n\na\n") == ["pause", "pen_changed", "spoiled", "load_done",
                                         "abort"]
    assert posted("x\n") == [] and "unknown key 'x'" in said[-1]


def test_register_station_takes_a_pen_given_on_restart(make_store):
    store = make_store()
    first = plotqueue.register_station(store, "S1", profile="grbl-servo", port="a")
    assert (first.pen_colour, first.ink_capacity_mm) == ("blue-black", 500_000.0)
    plotqueue.add_ink(store, "S1", 1234.5)
    # a restart that names no pen keeps the pen and its ink count
    again = plotqueue.register_station(store, "S1", profile="grbl-servo", port="b")
    assert (again.pen_colour, again.ink_used_mm, again.port) == ("blue-black", 1234.5, "b")
    # the same colour with another capacity: the same pen, counted against the new capacity
    again = plotqueue.register_station(store, "S1", profile="grbl-servo", port="b",
                                       pen_colour="blue-black", ink_capacity_mm=300_000.0)
    assert (again.ink_capacity_mm, again.ink_used_mm) == (300_000.0, 1234.5)
    # another colour is another pen, with all its ink
    again = plotqueue.register_station(store, "S1", profile="grbl-servo", port="b",
                                       pen_colour="red", ink_capacity_mm=200_000.0)
    assert (again.pen_colour, again.ink_capacity_mm, again.ink_used_mm) == (
        "red", 200_000.0, 0.0)
    # through the station: StationConfig leaves the pen alone unless it names one
    station = Station(store, StationConfig("S1", simulate=True, time_scale=0.0),
                      say=lambda _: None)
    station.connect()
    row = plotqueue.station(store, "S1")
    assert (row.pen_colour, row.ink_capacity_mm) == ("red", 200_000.0)
    station.close()
    station = Station(store, StationConfig("S1", simulate=True, time_scale=0.0,
                                           pen_colour="green", ink_capacity_m=100),
                      say=lambda _: None)
    station.connect()
    row = plotqueue.station(store, "S1")
    assert (row.pen_colour, row.ink_capacity_mm) == ("green", 100_000.0)
    station.close()


ENVELOPE = {"recipient": {"name": "Erika Müller", "street_lines": ["Hauptstraße 12"],
                          "postcode": "10115", "city": "Berlin"}, "delivery": "envelope"}


def envelope_ink_mm(store, job_id: str) -> float:
    """The envelope's ink from its G-code, in card mm (lengths as on paper)."""
    from cards.envelope import envelope_format

    job = store.job(None, job_id)
    size = envelope_format(job.request.get("envelope", "c6"))
    gcode = store.artifact_path(store.artifacts(job)["envelope.gcode"]).read_text()
    return read_strokes(gcode, load_profile("grbl-servo"), size.width_mm,
                        size.height_mm).ink_length_mm()


def test_the_pen_check_counts_the_envelope_too(approved):
    store, approve = approved
    (job_id,) = approve(1, **ENVELOPE)
    card_ink, envelope_ink = store.job(None, job_id).ink_mm, envelope_ink_mm(store, job_id)
    assert envelope_ink > 100
    # a pen that would last for the card alone, not for card and envelope
    capacity_m = (card_ink + envelope_ink / 2) / 0.95 / 1000
    station = Station(store, StationConfig("S1", simulate=True, time_scale=0.0,
                                           ink_capacity_m=capacity_m), say=lambda _: None)
    thread = start(station, cards=1)
    row = wait_until(lambda: (r := plotqueue.station(store, "S1")).status in
                     ("pen_change", "waiting_load") and r, "the first prompt")
    assert row.status == "pen_change"
    station.stop.set()
    thread.join(DEADLINE_S)
    station.close()


def envelope_prompt(store, station: Station, sim: SimulatedGrbl) -> threading.Thread:
    """Start the station on an enveloped card, load the card, wait for the envelope's
    prompt."""
    thread = start(station, cards=1)
    wait_until(lambda: plotqueue.station(store, "S1").status == "waiting_load", "card prompt")
    plotqueue.post_command(store, "S1", "load_done", "operator")
    wait_until(lambda: "envelope" in (plotqueue.station(store, "S1").message or ""),
               "the envelope prompt")
    return thread


def test_an_aborted_envelope_is_told_recorded_and_its_ink_counted(approved):
    store, approve = approved
    (job_id,) = approve(1, **ENVELOPE)
    sim = SimulatedGrbl(load_profile("grbl-servo")).start()
    said: list[str] = []
    station = Station(store, StationConfig("S1", simulate=True, reply_timeout_s=60),
                      say=said.append, simulator=sim)
    thread = envelope_prompt(store, station, sim)
    card_ink = plotqueue.station(store, "S1").ink_used_mm
    assert card_ink == pytest.approx(store.job(None, job_id).ink_mm)
    # the 40th line of the envelope answers only after 30 s: surely mid-way at the abort
    sim.faults.slow_reply_s[sim.log.lines_received + 40] = 30.0
    plotqueue.post_command(store, "S1", "load_done", "operator")
    wait_until(lambda: (p := plotqueue.station(store, "S1").progress or {}).get("what")
               == "envelope" and p.get("acked", 0) > 20, "the envelope to get going")
    plotqueue.post_command(store, "S1", "abort", "operator")
    thread.join(DEADLINE_S)
    assert not sim.pen_down
    row = plotqueue.station(store, "S1")
    assert row.status == "interrupted" and f"The envelope of {job_id} was not written" in \
        row.message and "abort" in row.message
    assert any("ENVELOPE INTERRUPTED" in line for line in said), said
    job = store.job(None, job_id)
    assert job.state == "plotted"  # the card is good
    with store.session() as s:
        last = s.scalars(sql_select(Transition).where(Transition.job_id == job_id)
                         .order_by(Transition.id.desc())).first()
    assert (last.from_state, last.to_state) == ("plotted", "plotted")
    assert last.reason.startswith("envelope interrupted on S1: aborted by the operator")
    assert 0 < row.ink_used_mm - card_ink < envelope_ink_mm(store, job_id)
    station.close()


def test_a_lost_controller_during_the_envelope_reconnects(approved):
    store, approve = approved
    (job_id,) = approve(1, **ENVELOPE)
    sim = SimulatedGrbl(load_profile("grbl-servo")).start()
    station = Station(store, StationConfig("S1", simulate=True, reply_timeout_s=2),
                      say=lambda _: None, simulator=sim)
    thread = envelope_prompt(store, station, sim)
    sim.faults.disconnect_after_lines = sim.log.lines_received + 40
    plotqueue.post_command(store, "S1", "load_done", "operator")
    wait_until(lambda: plotqueue.station(store, "S1").status == "offline", "the lost plotter")
    assert store.job(None, job_id).state == "plotted"
    station.stop.set()
    thread.join(DEADLINE_S)
    with store.session() as s:
        reasons = [t.reason for t in s.scalars(sql_select(Transition)
                                               .where(Transition.job_id == job_id))]
    assert any(r and r.startswith("envelope interrupted") and "disconnected" in r
               for r in reasons), reasons
    station.close()
