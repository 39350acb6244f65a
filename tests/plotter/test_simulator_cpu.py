"""The simulated GRBL controller's CPU (``planner_blocks_per_s``) over a real pty: every
planner block, a G1 line's move or a chord of a G2 arc, takes ``1 / planner_blocks_per_s``
simulated seconds to parse and plan, while the machine runs what is buffered.

An 8-bit GRBL plans some 400-500 blocks a second (gnea/grbl#264); 450 here. Long blocks
keep the planner full whatever the CPU; short ones drain it. The planner plans its last
block to a stop, so with ``k`` blocks of ``L`` mm buffered the machine goes no faster than
``sqrt(2 a k L)``: it slows until it uses blocks as fast as the CPU makes them, at
``k = R² L / (2 a)`` blocks buffered for a rate of ``R`` blocks/s. With the grbl-servo
profile's 1000 mm/s² that is 2 blocks of 0.02 mm (the look-ahead shrinks, the machine
crawls, the planner never runs dry) and under 1 block for blocks shorter than about
0.01 mm (the planner runs empty at every block: a stop and a starvation each).

Virtual time throughout (the host is infinitely fast, the wire is 115200 baud), except
one test at a time scale. Units: machine mm, mm/min, simulated seconds.
"""

from __future__ import annotations

import dataclasses
import math
from importlib import resources

import numpy as np
import pytest
import serial

from plotter.arcs import segment_count
from plotter.drawing import Drawing
from plotter.gcode import read_program, write_gcode
from plotter.planner import plan
from plotter.profile import MachineProfile, load_profile, parse_profile
from plotter.program import Dwell, Move, Pen
from plotter.simulator import SimulatedGrbl
from plotter.stream import GrblStreamer
from tests.plotter.test_simulator import ask
from tests.plotter.test_stream import assert_drawn, random_drawing

EIGHT_BIT_BLOCKS_PER_S = 450.0  # an ATmega328p GRBL: 400-500 (gnea/grbl#264)
BLOCK_S = 1.0 / EIGHT_BIT_BLOCKS_PER_S  # simulated s of CPU a block


@dataclasses.dataclass(frozen=True)
class Run:
    """What one card streamed to the simulator showed."""

    plot_s: float  # simulated s from the first G-code line to idle
    starvations: list[tuple[float, int]]
    max_blocks_used: int
    sim: SimulatedGrbl


def stream(text: str, profile: MachineProfile, **sim_options: float) -> Run:
    """Stream ``text`` with :class:`GrblStreamer` (character counting) to a simulator of
    ``profile``; the run must finish."""
    with SimulatedGrbl(profile, **sim_options) as sim, \
            GrblStreamer(sim.port, profile, reply_timeout_s=5.0) as streamer:
        streamer.connect()
        assert streamer.stream(text).finished
        log = sim.log
        return Run(log.plot_s, list(log.starvations), log.max_blocks_used, sim)


def limited(profile: MachineProfile, blocks_per_s: float = EIGHT_BIT_BLOCKS_PER_S
            ) -> MachineProfile:
    """``profile`` on a controller that plans ``blocks_per_s`` blocks a second."""
    return dataclasses.replace(profile, planner_blocks_per_s=blocks_per_s)


def straight_stroke(segments: int, step_mm: float, x0: float = 10.0) -> Drawing:
    """One straight pen-down stroke of ``segments`` steps of ``step_mm`` along card x."""
    x = x0 + step_mm * np.arange(segments + 1)
    return Drawing((np.column_stack([x, np.full(segments + 1, 50.0)]),), 148, 105)


def restarts(text: str, profile: MachineProfile) -> int:
    """Moves the parser gets to with the planner empty by design (the first, and the first
    after each sync or dwell): nothing runs while the CPU plans them."""
    count, after_sync = 0, True
    for command in read_program(text, profile):
        if isinstance(command, Move):
            count += after_sync
            after_sync = False
        elif isinstance(command, Dwell) or (isinstance(command, Pen) and command.sync):
            after_sync = True
    return count


def stroke_lines(text: str) -> set[int]:
    """File line numbers (1-based) of the pen-down G1 lines of a one-stroke card."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("G91G1"))
    last = next(i for i, line in enumerate(lines) if i > first and line.startswith("M5"))
    return set(range(first + 1, last + 1))


def test_long_segments_are_planned_faster_than_they_run():
    """100 segments of 2 mm at the draw feed (3000 mm/min): 40 ms each against 2.2 ms of
    planning. The planner fills to its 15 blocks as without the limit, nothing starves,
    and the card takes the same time but for one block's planning at each restart
    after a sync (the travel, the stroke's first move, the park), which nothing runs
    alongside: 3 x 2.2 ms in 7.7 s."""
    profile = load_profile("grbl-servo")
    drawing = straight_stroke(100, 2.0)
    text = write_gcode(drawing, profile)
    free = stream(text, profile)
    slow = stream(text, limited(profile))
    assert free.starvations == slow.starvations == []
    assert free.max_blocks_used == slow.max_blocks_used == profile.planner_blocks
    assert free.plot_s == pytest.approx(plan(read_program(text, profile), profile).total_s,
                                        rel=1e-3)
    assert restarts(text, profile) == 3
    assert slow.plot_s == pytest.approx(free.plot_s + restarts(text, profile) * BLOCK_S,
                                        abs=1e-6)
    assert slow.plot_s == pytest.approx(free.plot_s, rel=1e-3)
    assert_drawn(slow.sim, drawing, profile)


def test_short_segments_run_at_the_pace_of_the_planning():
    """2000 segments of 0.02 mm at 3000 mm/min (2500 blocks/s at the feed; the full
    look-ahead of 0.3 mm allows 24.5 mm/s, 1225 blocks/s). At 450 blocks/s the stroke
    takes at least 2000 blocks' planning, far longer than without the limit; the
    machine slows to the CPU's pace on a look-ahead of a few blocks, so the planner
    never quite runs dry."""
    profile = load_profile("grbl-servo")
    drawing = straight_stroke(2000, 0.02)
    text = write_gcode(drawing, profile)
    free = stream(text, profile)
    slow = stream(text, limited(profile))
    assert free.max_blocks_used == profile.planner_blocks
    assert slow.plot_s >= 2000 * BLOCK_S
    assert slow.plot_s > 1.5 * free.plot_s
    assert slow.max_blocks_used <= 5  # the look-ahead shrank from 15 blocks to a few
    assert free.starvations == slow.starvations == []
    assert_drawn(slow.sim, drawing, profile)


def test_very_short_segments_starve_the_planner_at_every_block():
    """2000 segments of 0.005 mm: even with nothing behind it a block runs faster than
    the next one is planned, so the planner runs empty between blocks and the machine
    stops at each, a starvation named by its stroke line; the stroke takes the 2000
    blocks' planning. Without the limit the look-ahead is full and nothing starves."""
    profile = load_profile("grbl-servo")
    drawing = straight_stroke(2000, 0.005)
    text = write_gcode(drawing, profile)
    free = stream(text, profile)
    slow = stream(text, limited(profile))
    assert free.starvations == []
    assert slow.plot_s >= 2000 * BLOCK_S
    assert slow.plot_s > 1.5 * free.plot_s
    starved = [line for _, line in slow.starvations]
    assert len(starved) >= 0.9 * 2000
    assert set(starved) <= stroke_lines(text)
    assert slow.max_blocks_used <= 2  # the block running and at most one behind it
    assert_drawn(slow.sim, drawing, profile)


CIRCLE = "G21G90F3000\nG0X50Y50\nM3S1000\nG4P.15\nG2X50Y50I5\nM5\nG4P.15\nG0X0Y0\nM2\n"


@pytest.mark.parametrize(("tolerance_mm", "starves"), [(1e-5, False), (1e-6, True)])
def test_an_arc_of_short_chords_is_planned_chord_by_chord(tolerance_mm, starves):
    """A full circle of radius 5 mm on one G2 line, cut by mc_arc into chords of 0.020 mm
    (``$12`` 0.00001 mm: 1570 chords) or 0.0063 mm (0.000001 mm: 4967 chords). Each
    chord costs a block's planning: the circle takes at least that long, far longer
    than without the limit, and the finer chords starve the planner at nearly every
    one of them, all on the G2 line (5)."""
    profile = dataclasses.replace(load_profile("grbl-servo"), arc_tolerance_mm=tolerance_mm)
    chords = segment_count(2 * math.pi, 5.0, tolerance_mm)
    assert chords == (1570 if tolerance_mm == 1e-5 else 4967)
    free = stream(CIRCLE, profile)
    slow = stream(CIRCLE, limited(profile))
    assert free.plot_s == pytest.approx(plan(read_program(CIRCLE, profile), profile).total_s,
                                        rel=1e-3)
    assert free.starvations == []
    assert slow.plot_s >= chords * BLOCK_S
    assert slow.plot_s > 1.5 * free.plot_s
    assert slow.max_blocks_used <= 5
    (circle,) = slow.sim.strokes()
    assert len(circle) - 1 == chords
    starved = [line for _, line in slow.starvations]
    if starves:
        assert len(starved) >= 0.9 * chords and set(starved) == {5}
    else:
        assert starved == []


def test_send_and_wait_pays_the_planning_before_each_ok():
    """GRBL answers a line after planning its block: sent one at a time, each G1 line of
    a long stroke is read its own bytes' time plus a block's planning after the one
    before (the planner never fills: ten 10 mm moves)."""
    lines = [f"G1X{10 * k}Y10" for k in range(1, 11)]
    with SimulatedGrbl(limited(load_profile("grbl-servo")), host_budget_bytes=0) as sim:
        port = serial.serial_for_url(sim.port, timeout=5)
        try:
            for line in ["G21G90F3000", *lines, "G4P0"]:
                assert ask(port, line) == ["ok"]
        finally:
            port.close()
    read_s = np.array([t for t, _, _ in sim.log.levels[1:]])
    wire_s = np.array([(len(line) + 1) * sim.byte_s for line in [*lines, "G4P0"]])
    np.testing.assert_allclose(np.diff(read_s), wire_s[1:] + BLOCK_S, rtol=1e-9)
    assert sim.log.starvations == []


def test_the_limit_holds_at_a_time_scale():
    """In real time (here five times faster) the stroke of 300 blocks of 0.02 mm still
    takes at least their planning in simulated time."""
    profile = load_profile("grbl-servo")
    text = write_gcode(straight_stroke(300, 0.02), profile)
    slow = stream(text, limited(profile), time_scale=0.2)
    assert slow.plot_s >= 300 * BLOCK_S
    assert slow.max_blocks_used <= 6


@pytest.mark.parametrize(("name", "circle"), [("grbl-servo", False), ("grbl-z", False),
                                             ("grbl-servo", True)])
def test_no_limit_changes_nothing(name, circle):
    """The shipped profiles leave the CPU out (0): a card of short random-walk segments,
    or the circle of radius 5 mm in its 111 chords, takes the planner's estimate and
    starves nowhere."""
    profile = load_profile(name)
    assert profile.planner_blocks_per_s == 0.0
    text = CIRCLE if circle else write_gcode(random_drawing(2, n=80, points=20), profile)
    run = stream(text, profile)
    assert run.sim.block_cpu_s == 0.0
    assert run.starvations == []
    assert run.plot_s == pytest.approx(plan(read_program(text, profile), profile).total_s,
                                       rel=0.005)
    if circle:
        assert len(run.sim.strokes()[0]) - 1 == segment_count(2 * math.pi, 5.0, 0.002) == 111


def test_a_negative_rate_is_refused_naming_the_field():
    profile = load_profile("grbl-servo")
    with pytest.raises(ValueError, match=r"profile grbl-servo: planner_blocks_per_s must be >= 0"):
        dataclasses.replace(profile, planner_blocks_per_s=-1.0)
    assert limited(profile, 0.0).planner_blocks_per_s == 0.0


def test_a_profile_file_may_set_the_rate():
    shipped = resources.files("plotter") / "profiles" / "grbl-servo.toml"
    toml = "planner_blocks_per_s = 450.0\n" + shipped.read_text(encoding="utf-8")
    assert parse_profile(toml, "eight-bit").planner_blocks_per_s == 450.0
    with pytest.raises(ValueError, match="profile eight-bit: planner_blocks_per_s"):
        parse_profile(toml.replace("= 450.0", "= -5"), "eight-bit")
