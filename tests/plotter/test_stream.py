"""The GRBL streamer against the simulated controller over a real pty: whole cards for
every GRBL profile, flow control, pause/resume, abort, error, alarm, disconnect and reply
timeout (each ends interrupted with the line named and the pen up)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    sim, streamer, events, _ = plot(sim_options={"settings": {110: 5000, 121: 500}})
    warnings = [e.text for e in events if e.kind == "warning"]
    assert len(warnings) == 2
    assert "$110=5000" in warnings[0] and "$121=500" in warnings[1]


def test_no_banner_is_a_clear_error(tmp_path):
    with pytest.raises(GrblError, match="cannot open"):
        GrblStreamer(str(tmp_path / "nope"), load_profile("grbl-servo")).connect()


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
    assert result.line is not None and str(result.line) in result.reason
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
