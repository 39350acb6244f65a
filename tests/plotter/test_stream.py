"""The GRBL streamer against the simulated controller over a real pty: whole cards for
every GRBL profile, flow control, settings in a card, pause/resume, abort, error, alarm,
disconnect, reply timeout and lost replies (each ends interrupted with the line named and
the pen up); and the exit status of ``penpost plot`` when no controller is reached."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.plotcli import EXIT_NOT_CONNECTED, plot_command
from plotter.drawing import Drawing
from plotter.gcode import read_program, write_gcode
from plotter.planner import plan
from plotter.profile import load_profile
from plotter.simulator import Faults, SimulatedGrbl
from plotter.stream import GrblError, GrblStreamer, StreamEvent, parse_status, program_lines
from plotter.transform import card_to_machine, machine_to_card

CARD_W, CARD_H = 148.0, 105.0
GRBL_PROFILES = ["grbl-servo", "grbl-z", "grbl-servo-r90"]  # Marlin does not speak GRBL


def random_drawing(seed: int, n: int = 300, points: int = 12) -> Drawing:
    """``n`` random-walk strokes (dots included) on an A6 card, mm."""
    rng = np.random.default_rng(seed)
    strokes = []
    for _ in range(n):
        k = int(rng.integers(1, points))
        p0 = rng.uniform([10, 10], [CARD_W - 10, CARD_H - 10])
        strokes.append(p0 + np.cumsum(rng.normal(0, 0.5, (k, 2)), axis=0))
    return Drawing(tuple(strokes), CARD_W, CARD_H)


def expected_strokes(drawing: Drawing, profile) -> list[np.ndarray]:
    """What G-code can show of a drawing: points on the µm grid, repeats dropped."""
    out = []
    for stroke in drawing.strokes:
        grid = np.round(card_to_machine(stroke, profile, CARD_W, CARD_H) * 1000)
        keep = np.ones(len(stroke), dtype=bool)
        keep[1:] = np.any(grid[1:] != grid[:-1], axis=1)
        out.append(stroke[keep])
    return out


def assert_drawn(sim: SimulatedGrbl, drawing: Drawing, profile) -> None:
    drawn = [machine_to_card(s, profile, CARD_W, CARD_H) for s in sim.strokes()]
    want = expected_strokes(drawing, profile)
    assert len(drawn) == len(want)
    for got, exp in zip(drawn, want, strict=True):
        assert got.shape == exp.shape
        np.testing.assert_allclose(got, exp, atol=0.01)


@pytest.fixture
def plot():
    """Factory: a simulator and a connected streamer for a profile; events collected."""
    made = []

    def make(profile_name: str = "grbl-servo", faults: Faults | None = None,
             on_event=None, sim_options: dict | None = None, **options):
        profile = load_profile(profile_name)
        sim = SimulatedGrbl(profile, faults=faults, **(sim_options or {})).start()
        events: list[StreamEvent] = []

        def collect(event: StreamEvent) -> None:
            events.append(event)
            if on_event is not None:
                on_event(event)

        options.setdefault("reply_timeout_s", 3.0)
        streamer = GrblStreamer(sim.port, profile, on_event=collect, **options)
        made.append((sim, streamer))
        streamer.connect()
        return sim, streamer, events, profile

    yield make
    for sim, streamer in made:
        streamer.close()
        sim.stop()


def file_line(text: str, k: int) -> int:
    """The file line number of the K-th line the streamer sends."""
    return program_lines(text)[k - 1][0]


@pytest.mark.parametrize("name", GRBL_PROFILES)
def test_card_streams_to_the_end_and_draws_the_drawing(plot, name):
    sim, streamer, events, profile = plot(name)
    drawing = random_drawing(1)
    text = write_gcode(drawing, profile)
    result = streamer.stream(text)
    assert result.finished and result.outcome == "plotted"
    assert result.acked == result.total == len(program_lines(text))
    assert_drawn(sim, drawing, profile)
    assert sim.log.overflow_bytes == 0
    assert streamer.max_unacked_bytes <= 127
    assert sim.log.max_rx_used <= 127
    assert not sim.pen_down
    acks = [e for e in events if e.kind == "ack"]
    assert len(acks) == result.total
    assert events[-1].kind == "finished" and events[-1].seconds_left == 0.0


@pytest.mark.parametrize("name", GRBL_PROFILES)
def test_seconds_left_counts_from_the_block_under_the_pen(plot, name):
    """The answers run ahead of the pen by the planner buffer; the time left shown to the
    operator counts from the block the status report says is running, so it is more
    than the estimate after the last answered line and falls as the card goes on."""
    sim, streamer, events, profile = plot(name, status_interval_s=0.002)
    text = write_gcode(random_drawing(5, n=60), profile)
    assert streamer.stream(text).finished
    card = plan(read_program(text, profile), profile)
    lines = program_lines(text)
    busy = [e for e in events if e.kind == "status" and 0 < e.acked < e.total
            and e.status.planner_free < profile.planner_blocks - 2]
    assert len(busy) >= 5
    for e in busy:
        assert e.seconds_left > card.seconds_left(lines[e.acked - 1][0])
    left = [e.seconds_left for e in busy]
    assert left[0] <= card.total_s
    assert all(b <= a + 0.5 for a, b in zip(left, left[1:], strict=False))


def test_marlin_is_refused():
    with pytest.raises(ValueError, match="GRBL only"):
        GrblStreamer("loop://", load_profile("marlin-servo"))


def test_settings_that_differ_from_the_profile_are_warned(plot):
    sim, streamer, events, _ = plot(sim_options={"settings": {110: 5000, 121: 500, 12: 0.01}})
    warnings = [e.text for e in events if e.kind == "warning"]
    assert len(warnings) == 3
    assert "$110=5000" in warnings[0] and "$121=500" in warnings[1]
    assert "$12=0.01 mm (arc tolerance) differs from profile grbl-servo's 0.002 mm" in warnings[2]


def test_a_port_that_cannot_be_opened_is_a_clear_error(tmp_path):
    with pytest.raises(GrblError, match="cannot open"):
        GrblStreamer(str(tmp_path / "nope"), load_profile("grbl-servo")).connect()


def test_no_banner_is_a_clear_error():
    """``loop://`` opens and echoes what is written, but no GRBL greets on it."""
    streamer = GrblStreamer("loop://", load_profile("grbl-servo"), connect_timeout_s=0.2)
    with streamer, pytest.raises(GrblError, match=r"no GRBL banner within 0.2 s"):
        streamer.connect()


def test_plot_exit_status_when_no_controller_is_reached(tmp_path, capsys, monkeypatch):
    """``penpost plot``: a port that cannot be opened, a port with no GRBL on it and
    Ctrl-C while connecting each exit with status 4 and one clear line, no traceback."""
    profile = load_profile("grbl-servo")
    path = tmp_path / "card.gcode"
    path.write_text(write_gcode(random_drawing(1, n=3), profile))
    assert plot_command(path, str(tmp_path / "nope"), "grbl-servo", False,
                        quiet=True) == EXIT_NOT_CONNECTED
    assert "cannot open" in capsys.readouterr().err
    assert plot_command(path, "loop://", "grbl-servo", False, connect_timeout_s=0.2,
                        quiet=True) == EXIT_NOT_CONNECTED
    assert "no GRBL banner" in capsys.readouterr().err

    def ctrl_c(self, **options):
        self.open()
        raise KeyboardInterrupt

    monkeypatch.setattr(GrblStreamer, "connect", ctrl_c)
    try:
        status = plot_command(path, "loop://", "grbl-servo", False, quiet=True)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C while connecting escaped penpost plot")
    assert status == EXIT_NOT_CONNECTED
    err = capsys.readouterr().err
    assert "cancelled while connecting to loop://" in err and "Traceback" not in err


def test_parse_status_with_work_offset():
    s = parse_status("<Run|WPos:1.000,2.000,3.000|Bf:3,40|FS:1500,0|WCO:10.000,0.000,0.000"
                     "|Pn:XZ|Ln:99>")
    assert s.state == "Run" and s.wpos == (1.0, 2.0, 3.0) and s.mpos == (11.0, 2.0, 3.0)
    assert s.pins == "XZ" and s.line == 99 and s.feed_mm_min == 1500.0
    later = parse_status("<Idle|WPos:0.000,0.000,0.000|FS:0,0>", s.wco)
    assert later.mpos == (10.0, 0.0, 0.0)


def _hold_events(events: list[StreamEvent]) -> list[StreamEvent]:
    return [e for e in events if e.kind in ("paused", "resumed", "finished", "interrupted")]


def test_pause_and_resume(plot):
    ref: list[GrblStreamer] = []
    seen_paused: list[bool] = []

    def on_event(event: StreamEvent) -> None:
        if event.kind == "ack" and event.acked == 300:
            ref[0].pause()
        if event.kind == "paused":
            seen_paused.append(ref[0].paused)
            ref[0].resume()

    sim, streamer, events, profile = plot("grbl-servo", on_event=on_event,
                                         status_interval_s=0.02)
    ref.append(streamer)
    drawing = random_drawing(2, n=100)
    result = streamer.stream(write_gcode(drawing, profile))
    assert result.finished
    paused, resumed, finished = _hold_events(events)
    assert [paused.kind, resumed.kind, finished.kind] == ["paused", "resumed", "finished"]
    assert paused.text == "feed hold" and paused.status.state == "Hold"
    assert paused.acked >= 300 and seen_paused == [True]
    assert resumed.status.state in ("Run", "Idle") and resumed.acked >= paused.acked
    # the card went on after the resume: lines were answered after it
    assert any(e.kind == "ack" for e in events[events.index(resumed):])
    assert not streamer.paused
    assert_drawn(sim, drawing, profile)
    assert sim.log.overflow_bytes == 0


def test_hold_button_on_the_machine_is_reported(plot):
    """A hold the streamer did not ask for (the machine's button) is reported paused, and
    the machine's cycle start resumed; the card still ends with the same strokes."""
    ref: list[tuple[SimulatedGrbl, GrblStreamer]] = []

    def on_event(event: StreamEvent) -> None:
        if event.kind == "ack" and event.acked == 200:
            ref[0][0].press_feed_hold()
        if event.kind == "paused":
            sim, streamer = ref[0]
            assert streamer.paused  # so the CLI's space key resumes
            sim.press_cycle_start()

    sim, streamer, events, profile = plot("grbl-z", on_event=on_event, status_interval_s=0.02)
    ref.append((sim, streamer))
    drawing = random_drawing(4, n=80)
    result = streamer.stream(write_gcode(drawing, profile))
    assert result.finished
    assert [e.kind for e in _hold_events(events)] == ["paused", "resumed", "finished"]
    paused = _hold_events(events)[0]
    assert "not asked for" in paused.text and paused.acked >= 200
    assert not streamer.paused
    assert_drawn(sim, drawing, profile)


def test_abort_while_paused_is_interrupted_not_resumed(plot):
    ref: list[GrblStreamer] = []

    def on_event(event: StreamEvent) -> None:
        if event.kind == "ack" and event.acked == 150:
            ref[0].pause()
        if event.kind == "paused":
            ref[0].abort()

    sim, streamer, events, profile = plot("grbl-servo", on_event=on_event,
                                         status_interval_s=0.02)
    ref.append(streamer)
    result = streamer.stream(write_gcode(random_drawing(5, n=100), profile))
    assert not result.finished and "aborted" in result.reason
    assert [e.kind for e in _hold_events(events)] == ["paused", "interrupted"]
    assert result.pen_up and not sim.pen_down and not streamer.paused


def _interrupting(plot, profile_name="grbl-servo", faults=None, at_ack=None, **options):
    ref: list[GrblStreamer] = []

    def on_event(event: StreamEvent) -> None:
        if at_ack is not None and event.kind == "ack" and event.acked == at_ack:
            ref[0].abort()

    sim, streamer, events, profile = plot(profile_name, faults=faults, on_event=on_event,
                                         **options)
    ref.append(streamer)
    text = write_gcode(random_drawing(3, n=120), profile)
    result = streamer.stream(text)
    assert not result.finished and result.outcome == "interrupted"
    assert events[-1].kind == "interrupted" and events[-1].reason == result.reason
    return sim, result, text


@pytest.mark.parametrize("name", ["grbl-servo", "grbl-z"])
def test_abort_mid_card_lifts_the_pen(plot, name):
    sim, result, text = _interrupting(plot, name, at_ack=400)
    assert "aborted" in result.reason
    assert result.line is not None and result.pen_up
    assert f"at line {result.line} ({result.gcode!r})" in result.reason
    assert not sim.pen_down
    assert sim.state == "Idle" or sim.state == "Run"  # unlocked; a Z pen may still rise


def test_error_at_line_k(plot):
    sim, result, text = _interrupting(plot, faults=Faults(error_at_line={250: 20}))
    assert result.line == file_line(text, 250)
    assert f"error:20 at line {result.line}" in result.reason
    assert result.reason.count(f"line {result.line}") == 1  # named once
    assert "Unsupported command" in result.reason
    assert result.gcode == program_lines(text)[249][1]
    assert result.pen_up and not sim.pen_down


def test_alarm_mid_card(plot):
    sim, result, text = _interrupting(plot, faults=Faults(alarm_at_line={300: 1}))
    assert "ALARM:1" in result.reason and "Hard limit" in result.reason
    assert result.line == file_line(text, 300)
    assert result.gcode == program_lines(text)[299][1]
    assert f"at line {result.line} ({result.gcode!r})" in result.reason
    assert result.pen_up and not sim.pen_down


def test_soft_limit_alarm_from_the_gcode(plot):
    sim, streamer, events, profile = plot()
    text = "G21G90F3000\nG0X10Y10\nM3S1000\nG91G1X5\nG90G1X900\nM5\nM2\n"
    result = streamer.stream(text)
    assert not result.finished
    assert "ALARM:2" in result.reason and "Soft limit" in result.reason
    assert not sim.pen_down


def test_disconnect(plot):
    sim, result, text = _interrupting(plot, faults=Faults(disconnect_after_lines=200))
    assert "disconnected" in result.reason
    assert result.line is not None
    assert f"at line {result.line} ({result.gcode!r})" in result.reason
    assert not result.pen_up and "lift it by hand" in result.reason
    assert not sim.pen_down  # the servo lost its signal with the controller


@pytest.mark.parametrize("faults", [Faults(drop_reply_at_line={150}),
                                    Faults(slow_reply_s={150: 5.0})])
def test_reply_timeout(plot, faults):
    """In virtual time the card streams as fast as the host sends, so status reports
    seldom come twice with no reply between: a dropped reply is found at the end, when
    the controller is idle with empty buffers (see the lost-reply tests below for the
    earlier stop)."""
    sim, result, text = _interrupting(plot, faults=faults, reply_timeout_s=0.5)
    assert "no reply within 0.5 s" in result.reason
    assert f"at line {result.line} ({result.gcode!r})" in result.reason
    if faults.slow_reply_s:
        assert result.line == file_line(text, 150)
    else:
        # the ok after the lost one was counted against line 150, and so on: only the
        # buffers tell that the controller read every line
        assert "1 reply was lost" in result.reason
        assert result.line == len(text.splitlines())
        assert result.acked == result.total - 1
    assert result.pen_up and not sim.pen_down


def _stream_with_guard(streamer: GrblStreamer, text: str, guard_s: float = 30.0):
    """Stream, aborting after ``guard_s`` so that a stream that would never end fails."""
    guard = threading.Timer(guard_s, streamer.abort)
    guard.start()
    try:
        return streamer.stream(text)
    finally:
        guard.cancel()


def test_a_lost_reply_times_out_whatever_the_status_traffic(plot):
    """Status reports are no replies: a lost reply times out however densely reports
    come. Polled at 20 Hz, the streamer waits up to 50 ms for input; a controller that
    also reports unasked every 2 ms (``auto_report_s``, as FluidNC's
    ``$Report/Interval``) never lets that wait come back empty, and the timeout used to
    be checked only then. (GRBL itself answers one report per ``?``, so the wait
    outlasts the gap and the old check ran by luck.) Reports that come unasked cannot be
    matched to our ``?``, so the lost-reply watch stands aside and the timeout finds the
    lost reply."""
    sim, streamer, events, profile = plot(faults=Faults(drop_reply_at_line={150}),
                                         reply_timeout_s=0.5, status_interval_s=0.05,
                                         sim_options={"auto_report_s": 0.002})
    text = write_gcode(random_drawing(3, n=40), profile)
    result = _stream_with_guard(streamer, text, guard_s=10.0)  # about 1 s here
    assert not result.finished and "aborted" not in result.reason
    assert "no reply within 0.5 s" in result.reason and "1 reply was lost" in result.reason
    assert f"at line {result.line} ({result.gcode!r})" in result.reason
    assert result.pen_up and not sim.pen_down


@pytest.mark.parametrize("name", ["grbl-servo", "grbl-z"])
def test_a_lost_reply_stops_the_card_at_once(plot, name):
    """With the machine running in (scaled) real time and a fast poll, the status
    reports' receive-buffer figure shows the controller done with a line whose ``ok``
    never came: the card stops within a few lines, pen up, and the message gives the
    lines the lost reply can have answered (GRBL's replies name no line), the dropped
    one among them, and names the first."""
    sim, streamer, events, profile = plot(name, faults=Faults(drop_reply_at_line={150}),
                                         status_interval_s=0.002,
                                         sim_options={"time_scale": 0.05})
    text = write_gcode(random_drawing(3, n=120), profile)
    result = _stream_with_guard(streamer, text)
    assert not result.finished and "a reply was lost" in result.reason
    assert result.acked < file_line(text, 150) + 40 < result.total  # stopped mid-card
    match = re.search(r"one of lines (\d+) to (\d+); the first candidate is line (\d+) "
                      r"\((.*)\)$", result.reason)
    assert match, result.reason
    first, last, named = (int(match.group(k)) for k in (1, 2, 3))
    assert first == named == result.line and match.group(4) == repr(result.gcode)
    assert first <= file_line(text, 150) <= last
    assert result.pen_up and not sim.pen_down


@pytest.mark.parametrize(("name", "sim_options"), [
    ("grbl-servo", {"time_scale": 0.05, "reply_latency_s": 0.016}),
    ("grbl-z", {"time_scale": 0.05}),
    ("grbl-servo-r90", {"reply_latency_s": 0.004}),
])
def test_no_lost_reply_is_seen_where_none_was_lost(plot, name, sim_options):
    """The lost-reply watch under load: a '?' every millisecond, replies in flight
    through a USB adapter's latency, cards run to the end."""
    sim, streamer, events, profile = plot(name, status_interval_s=0.001,
                                         sim_options=sim_options)
    drawing = random_drawing(9, n=60)
    result = _stream_with_guard(streamer, write_gcode(drawing, profile))
    assert result.finished, result.reason
    assert_drawn(sim, drawing, profile)


def test_settings_in_a_card_wait_for_rest_and_for_their_ok(plot):
    """A ``$`` setting in the G-code goes once the machine is at rest (GRBL answers
    error:8 while it runs), and nothing follows it until its ok (GRBL reads no serial
    bytes while it writes EEPROM): one setting right behind a move, one behind a G4P0
    (idle at once), both mid-stroke."""
    sim, streamer, events, profile = plot(status_interval_s=0.002)
    drawing = random_drawing(8, n=20)
    body = write_gcode(drawing, profile).splitlines()
    moves = [i for i, line in enumerate(body) if line.startswith("X")]  # mid-stroke
    a, b = moves[len(moves) // 3], moves[2 * len(moves) // 3]
    rate = f"{profile.max_rate_x_mm_min:g}"
    text = "\n".join(body[:a + 1] + [f"$110={rate}"] + body[a + 1:b + 1]
                     + ["G4P0", f"$110={rate}"] + body[b + 1:]) + "\n"
    result = streamer.stream(text)
    assert result.finished, result.reason
    assert sim.log.errors == [] and sim.log.eeprom_lost_bytes == 0
    assert_drawn(sim, drawing, profile)
    assert not sim.pen_down


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 40),
       name=st.sampled_from(GRBL_PROFILES))
def test_random_drawings_stream_to_the_same_strokes(plot, seed, n, name):
    sim, streamer, events, profile = plot(name)
    drawing = random_drawing(seed, n=n)
    result = streamer.stream(write_gcode(drawing, profile))
    assert result.finished
    assert_drawn(sim, drawing, profile)
    assert sim.log.overflow_bytes == 0


def test_character_counting_hides_the_adapter_latency(plot):
    """With an FTDI adapter's default 16 ms on every reply, the receive buffer still
    holds enough lines: no starvation, and the plot takes the planner's estimate."""
    sim, streamer, events, profile = plot(sim_options={"reply_latency_s": 0.016})
    drawing = random_drawing(6, n=150, points=20)
    text = write_gcode(drawing, profile)
    result = streamer.stream(text)
    assert result.finished
    assert sim.log.starvations == []
    assert sim.log.plot_s == pytest.approx(plan(read_program(text, profile), profile).total_s,
                                           rel=0.005)
    assert_drawn(sim, drawing, profile)
