"""Tests for plotter.planner: hand-computed motion cases, then contracts with hypothesis.

All hand computations use the shipped ``grbl-servo`` profile unless said otherwise:
draw feed 3000 mm/min = 50 mm/s, X/Y max rate 6000 mm/min = 100 mm/s and 1000 mm/s²,
Z max rate 1000 mm/min = 16.667 mm/s and 200 mm/s², junction deviation δ = 0.01 mm,
15 planner blocks. Ramp formulas: t = Δv / a, d = (v² − u²) / 2a.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plotter.planner import (
    Block,
    Planner,
    Step,
    axis_limit,
    estimate_seconds,
    junction_speed_sqr,
    plan,
)
from plotter.profile import MachineProfile, PenSettings, load_profile
from plotter.program import Command, Dwell, Move, Pen

F = 3000.0  # draw feed, mm/min (50 mm/s)


@pytest.fixture(scope="module")
def servo() -> MachineProfile:
    return load_profile("grbl-servo")


@pytest.fixture(scope="module")
def make_profile(servo: MachineProfile) -> Callable[..., MachineProfile]:
    """A grbl-servo profile with some fields replaced."""

    def make(**changes: object) -> MachineProfile:
        return replace(servo, **changes)

    return make


def g1(x: float, y: float, z: float = 0.0, feed: float = F, line: int = 0) -> Move:
    return Move(x, y, z, feed, False, line)


def g0(x: float, y: float, z: float = 0.0, line: int = 0) -> Move:
    return Move(x, y, z, 0.0, True, line)


def standalone_s(length: float, v: float, a: float) -> float:
    """Time of one block from rest to rest, computed independently of the module."""
    if v * v / a <= length:  # trapezoid: two ramps of v/a s, v²/2a mm each
        return 2 * v / a + (length - v * v / a) / v
    return 2 * math.sqrt(a * length) / a  # triangle: v_peak² = a·L


# --- single blocks ---------------------------------------------------------------------


def test_single_long_move_is_a_trapezoid(servo: MachineProfile) -> None:
    # 100 mm at 3000 mm/min = 50 mm/s, a = 1000 mm/s²:
    # accelerate 50/1000 = 0.05 s over 50²/2000 = 1.25 mm, decelerate the same,
    # cruise 100 − 2.5 = 97.5 mm at 50 mm/s = 1.95 s → 0.05 + 1.95 + 0.05 = 2.05 s
    p = plan([g1(100, 0)], servo)
    (block,) = p.blocks
    assert block.entry_mm_s == 0.0 and block.exit_mm_s == 0.0
    assert block.peak_mm_s == pytest.approx(50.0)
    assert block.accel_s == pytest.approx(0.05)
    assert block.decel_s == pytest.approx(0.05)
    assert block.cruise_s == pytest.approx(1.95)
    assert block.accel_mm == pytest.approx(1.25)
    assert block.cruise_mm == pytest.approx(97.5)
    assert p.total_s == pytest.approx(2.05)
    assert estimate_seconds([g1(100, 0)], servo) == pytest.approx(2.05)


def test_short_move_never_cruises(servo: MachineProfile) -> None:
    # 1 mm needs 2.5 mm to reach 50 mm/s and stop again: a triangle.
    # v_peak² = a·L = 1000 → v_peak = 31.623 mm/s, each ramp 0.031623 s → 0.063246 s
    (block,) = plan([g1(1, 0)], servo).blocks
    assert block.cruise_s == 0.0
    assert block.peak_mm_s == pytest.approx(31.6227766)
    assert block.accel_s == pytest.approx(0.0316227766)
    assert block.duration_s == pytest.approx(0.0632455532)
    assert block.accel_mm == pytest.approx(0.5)


def test_block_profile_from_given_speeds() -> None:
    # entry 10, exit 20, nominal 50 mm/s, a = 1000 mm/s², 10 mm:
    # accelerate 0.04 s over (2500 − 100)/2000 = 1.2 mm, decelerate 0.03 s over
    # (2500 − 400)/2000 = 1.05 mm, cruise 7.75 mm / 50 = 0.155 s → 0.225 s
    b = Block((0, 0, 0), (10, 0, 0), 10.0, 50.0, 10.0, 10.0, 20.0, 1000.0)
    assert (b.accel_s, b.cruise_s, b.decel_s) == pytest.approx((0.04, 0.155, 0.03))
    assert b.duration_s == pytest.approx(0.225)
    # samples: after the ramp, mid-cruise, at the end
    assert b.position_at(0.04) == pytest.approx((1.2, 0, 0))
    assert b.position_at(0.04 + 0.1) == pytest.approx((6.2, 0, 0))
    assert b.position_at(b.duration_s) == pytest.approx((10, 0, 0))
    assert b.position_at(99.0) == pytest.approx((10, 0, 0))
    assert b.position_at(-1.0) == (0.0, 0.0, 0.0)
    assert b.speed_at(0.02) == pytest.approx(30.0)
    assert b.speed_at(0.1) == pytest.approx(50.0)
    assert b.speed_at(b.duration_s) == pytest.approx(20.0)


# --- corners ---------------------------------------------------------------------------


def test_axis_limit_along_a_direction() -> None:
    # 3-4-5 direction: X asks 0.6 v, Y 0.8 v → v ≤ min(100/0.6, 100/0.8) = 125
    assert axis_limit((100, 100, 10), (0.6, 0.8, 0.0)) == pytest.approx(125.0)
    assert axis_limit((100, 100, 10), (0.0, 0.0, -1.0)) == pytest.approx(10.0)


def test_square_corners_from_the_junction_formula(servo: MachineProfile) -> None:
    # a 20 mm square at 50 mm/s. At a 90° corner u_prev = (1,0), u_next = (0,1):
    # cos θ = −(u_prev·u_next) = 0, s = sin(θ/2) = √(½) = 0.707107;
    # the junction direction (−1,1)/√2 lets a = min(1000/0.7071, 1000/0.7071) = 1414.21;
    # v² = a·δ·s/(1 − s) = 1414.21 · 0.01 · 0.707107 / 0.292893 = 34.1421
    # → v_junction = 5.84313 mm/s.
    v_j = math.sqrt(34.14213562373095)
    assert junction_speed_sqr((1, 0, 0), (0, 1, 0), (1000, 1000, 200), 0.01) == pytest.approx(
        34.14213562373095
    )
    p = plan([g1(20, 0), g1(20, 20), g1(0, 20), g1(0, 0)], servo)
    assert [b.entry_mm_s for b in p.blocks] == pytest.approx([0, v_j, v_j, v_j])
    assert [b.exit_mm_s for b in p.blocks] == pytest.approx([v_j, v_j, v_j, 0])
    # first side: up 0.05 s (1.25 mm), down (50 − 5.84313)/1000 = 0.0441569 s over
    # (2500 − 34.1421)/2000 = 1.232929 mm, cruise (20 − 2.482929)/50 = 0.350341 s
    # → 0.444498 s; middle sides: two ramps of 0.0441569 s, cruise
    # (20 − 2.465858)/50 = 0.350683 s → 0.438997 s. Total 2·0.444498 + 2·0.438997.
    first = 0.05 + 0.0441568728 + 0.3503414214
    middle = 2 * 0.0441568728 + 0.3506828427
    assert p.blocks[0].duration_s == pytest.approx(first)
    assert p.blocks[1].duration_s == pytest.approx(middle)
    assert p.total_s == pytest.approx(2 * first + 2 * middle)  # 1.766990 s


def test_zigzag_reversal_stops_at_the_tips(servo: MachineProfile) -> None:
    # back and forth along X: cos θ = −(u·(−u)) = 1, a full reversal → 0 mm/s at the
    # tips. Each 10 mm leg from rest to rest: 0.05 + 0.05 + (10 − 2.5)/50 = 0.25 s.
    p = plan([g1(10, 0), g1(0, 0), g1(10, 0)], servo)
    assert [b.entry_mm_s for b in p.blocks] == [0.0, 0.0, 0.0]
    assert [b.exit_mm_s for b in p.blocks] == [0.0, 0.0, 0.0]
    assert p.total_s == pytest.approx(0.75)


def test_zigzag_sharp_corner(servo: MachineProfile) -> None:
    # a "Z": (0,0) → (10,0) → (0,10) → (10,10); at each tip the path turns by 135°.
    # u1 = (1,0), u2 = (−1,1)/√2: cos θ = −(u1·u2) = 0.707107, s = √(½(1 − 0.707107))
    # = 0.382683; junction direction u2 − u1 = (−1.707107, 0.707107)/1.847759 =
    # (−0.923880, 0.382683) → a = min(1000/0.923880, 1000/0.382683) = 1082.392;
    # v² = 1082.392 · 0.01 · 0.382683 / 0.617317 = 6.70986 → 2.590348 mm/s
    p = plan([g1(10, 0), g1(0, 10), g1(10, 10)], servo)
    v_j = 2.590348
    assert [b.exit_mm_s for b in p.blocks] == pytest.approx([v_j, v_j, 0.0], rel=1e-6)
    # the diagonal leg: 14.1421 mm, X and Y each at 50/√2 — nominal stays 50 mm/s,
    # a along it = 1000·√2 = 1414.21 mm/s²
    diagonal = p.blocks[1]
    assert diagonal.nominal_mm_s == pytest.approx(50.0)
    assert diagonal.accel_mm_s2 == pytest.approx(1414.2135624)
    # legs: (50 − v)/1000 s ramp at the tips, 0.05 s ramp from rest
    ramp = (50 - v_j) / 1000
    leg = 0.05 + ramp + (10 - 1.25 - (2500 - v_j**2) / 2000) / 50
    diag = (
        2 * (50 - v_j) / 1414.2135624
        + (math.sqrt(200) - 2 * (2500 - v_j**2) / (2 * 1414.2135624)) / 50
    )
    assert p.total_s == pytest.approx(2 * leg + diag, rel=1e-6)  # 0.809583 s


def test_collinear_moves_do_not_slow_down(servo: MachineProfile) -> None:
    # two 50 mm moves in line run as one 100 mm move: 2.05 s
    p = plan([g1(50, 0), g1(100, 0)], servo)
    assert p.blocks[0].exit_mm_s == pytest.approx(50.0)
    assert p.total_s == pytest.approx(2.05)


# --- stops -----------------------------------------------------------------------------


def test_dwell_and_sync_pen_are_full_stops(servo: MachineProfile) -> None:
    # without the pause 20 mm in line would be 0.05 + 0.05 + 17.5/50 = 0.45 s;
    # a stop at 10 mm makes two 0.25 s legs, plus the 0.15 s dwell → 0.65 s
    commands: list[Command] = [g1(10, 0), Pen(down=True), Dwell(0.15), g1(20, 0)]
    p = plan(commands, servo)
    assert p.blocks[0].exit_mm_s == 0.0 and p.blocks[1].entry_mm_s == 0.0
    assert p.dwell_s == pytest.approx(0.15)
    assert p.total_s == pytest.approx(0.25 + 0.15 + 0.25)
    # a sync pen alone stops too, and takes no time itself
    assert estimate_seconds([g1(10, 0), Pen(down=False), g1(20, 0)], servo) == pytest.approx(0.5)
    # a dwell alone as well
    assert estimate_seconds([g1(10, 0), Dwell(0.0), g1(20, 0)], servo) == pytest.approx(0.5)


def test_non_sync_pen_keeps_moving(servo: MachineProfile) -> None:
    # laser-mode style S change on the move: no stop, 20 mm in line = 0.45 s
    commands: list[Command] = [g1(10, 0), Pen(down=True, sync=False, line=2), g1(20, 0)]
    p = plan(commands, servo)
    assert p.total_s == pytest.approx(0.45)
    assert [type(s).__name__ for s in p.steps] == ["Block", "Pen", "Block"]
    assert p.blocks[1].pen_down and not p.blocks[0].pen_down


def test_draw_travel_dwell_and_lifts(servo: MachineProfile) -> None:
    commands: list[Command] = [
        Pen(down=False),  # already up: not a lift
        g0(10, 0),
        Pen(down=True),
        Dwell(0.15),
        g1(20, 0),
        Pen(down=False),
        Dwell(0.15),
        g0(0, 0),
    ]
    p = plan(commands, servo)
    # rapid 10 mm at 100 mm/s: 2·0.1 s ramps would need 10 mm: exactly a triangle,
    # 0.2 s; drawing 10 mm at 50 mm/s: 0.25 s; rapid 20 mm: 0.2 + 10/100 = 0.3 s
    assert p.pen_lifts == 1
    assert p.draw_s == pytest.approx(0.25)
    assert p.travel_s == pytest.approx(0.2 + 0.3)
    assert p.dwell_s == pytest.approx(0.3)
    assert p.total_s == pytest.approx(p.draw_s + p.travel_s + p.dwell_s)


# --- axes and rates --------------------------------------------------------------------


def test_rapid_runs_at_max_rates(servo: MachineProfile) -> None:
    # G0 100 mm along X: 6000 mm/min = 100 mm/s, ramps 0.1 s over 5 mm each,
    # cruise 90 mm / 100 = 0.9 s → 1.1 s
    assert estimate_seconds([g0(100, 0)], servo) == pytest.approx(1.1)
    # on the diagonal both axes run at 100 mm/s: 141.42 mm/s and 1414.2 mm/s² along it,
    # ramps 0.1 s over 7.0711 mm, cruise (141.42 − 14.142)/141.42 = 0.9 s → 1.1 s
    (block,) = plan([g0(100, 100)], servo).blocks
    assert block.nominal_mm_s == pytest.approx(100 * math.sqrt(2))
    assert block.duration_s == pytest.approx(1.1)
    # a G1 faster than the max rates is capped by them
    assert estimate_seconds([g1(100, 0, feed=20000)], servo) == pytest.approx(1.1)


def test_z_axis_has_its_own_rate_and_acceleration(servo: MachineProfile) -> None:
    # G0 Z5: 1000 mm/min = 16.6667 mm/s, 200 mm/s²: ramps 0.083333 s over 0.694444 mm,
    # cruise (5 − 1.388889)/16.6667 = 0.216667 s → 0.383333 s
    (block,) = plan([g0(0, 0, 5)], servo).blocks
    assert block.nominal_mm_s == pytest.approx(1000 / 60)
    assert block.accel_mm_s2 == pytest.approx(200)
    assert block.duration_s == pytest.approx(0.3833333)
    # X3 Z4 (5 mm along (0.6, 0, 0.8)): v = min(100/0.6, 16.667/0.8) = 20.8333 mm/s,
    # a = min(1000/0.6, 200/0.8) = 250 mm/s²: ramps 0.083333 s over 0.868056 mm,
    # cruise (5 − 1.736111)/20.8333 = 0.156667 s → 0.323333 s
    (block,) = plan([g0(3, 0, 4)], servo).blocks
    assert block.nominal_mm_s == pytest.approx(20.833333)
    assert block.accel_mm_s2 == pytest.approx(250)
    assert block.duration_s == pytest.approx(0.3233333)


def test_z_pen_lifts_and_drawing(make_profile: Callable[..., MachineProfile]) -> None:
    profile = make_profile(pen=PenSettings(kind="z", up_z_mm=2.0, down_z_mm=0.0))
    commands = [g0(10, 0, 2), g1(10, 0, 0), g1(20, 0, 0), g0(20, 0, 2), g0(0, 0, 2)]
    p = plan(commands, profile)  # a Z pen starts up, at up_z_mm
    assert p.start == (0.0, 0.0, 2.0)
    assert p.pen_lifts == 1
    assert [b.pen_down for b in p.blocks] == [False, False, True, False, False]
    assert p.draw_s == pytest.approx(p.blocks[2].duration_s)
    assert p.blocks[1].accel_mm_s2 == pytest.approx(200)
    # a Z axis that lowers the pen upwards (down_z above up_z)
    inverted = make_profile(pen=PenSettings(kind="z", up_z_mm=0.0, down_z_mm=3.0))
    p = plan([g1(0, 0, 3), g1(10, 0, 3), g0(10, 0, 0)], inverted)
    assert p.pen_lifts == 1 and [b.pen_down for b in p.blocks] == [False, True, False]


# --- the look-ahead window -------------------------------------------------------------


def test_window_limits_speed_on_tiny_moves(make_profile: Callable[..., MachineProfile]) -> None:
    # 400 collinear moves of 0.05 mm (20 mm). With 15 blocks, the block executing must
    # let the other 14 stop: its exit v² ≤ 2·a·14·0.05 = 1400 (37.4166 mm/s, not 50).
    # Blocks 0–13 accelerate all along (v² += 2·a·0.05 = 100 each): √1400/1000 s; the
    # last 14 decelerate the same way. Blocks 14–385 enter and leave at √1400 but speed
    # up inside: a triangle to v² = a·L + 1400 = 1450, taking 2·(√1450 − √1400)/1000 s
    # each. Total 2·0.0374166 + 372·0.00132458 = 0.567578 s; unlimited look-ahead: one
    # 20 mm move, 0.05 + 0.05 + 17.5/50 = 0.45 s.
    commands = [g1(0.05 * (i + 1), 0) for i in range(400)]
    windowed = plan(commands, make_profile(planner_blocks=15))
    unlimited = plan(commands, make_profile(planner_blocks=10**6))
    assert windowed.blocks[200].entry_mm_s == pytest.approx(math.sqrt(1400))
    sawtooth = 2 * (math.sqrt(1450) - math.sqrt(1400)) / 1000
    assert windowed.blocks[200].peak_mm_s == pytest.approx(math.sqrt(1450))
    assert windowed.total_s == pytest.approx(2 * math.sqrt(1400) / 1000 + 372 * sawtooth)
    assert unlimited.total_s == pytest.approx(0.45)
    assert windowed.total_s > unlimited.total_s


def test_one_block_buffer_stops_after_every_block(
    make_profile: Callable[..., MachineProfile],
) -> None:
    p = plan([g1(50, 0), g1(100, 0)], make_profile(planner_blocks=1))
    assert [b.exit_mm_s for b in p.blocks] == [0.0, 0.0]
    assert p.total_s == pytest.approx(2 * (0.1 + 47.5 / 50))


# --- lines, positions and edge inputs --------------------------------------------------


def test_time_at_line(servo: MachineProfile) -> None:
    # line 2 is a comment (no command); lines 1 and 3 are collinear, so the first block
    # ends at full speed: 0.05 s ramp (1.25 mm) + 8.75/50 = 0.225 s
    commands: list[Command] = [g1(10, 0, line=1), g1(20, 0, line=3), Dwell(1.0, line=4)]
    p = plan(commands, servo)
    assert p.time_at_line(0) == 0.0
    assert p.time_at_line(1) == pytest.approx(0.225)
    assert p.time_at_line(2) == pytest.approx(0.225)
    assert p.time_at_line(3) == pytest.approx(0.45)
    assert p.time_at_line(4) == pytest.approx(1.45) == pytest.approx(p.total_s)
    assert p.time_at_line(99) == pytest.approx(p.total_s)
    assert p.seconds_left(3) == pytest.approx(1.0)


def test_plan_position_at(servo: MachineProfile) -> None:
    p = plan([g1(10, 0), Dwell(1.0), g1(10, 10)], servo, start=(0, 0, 0))
    assert p.position_at(-1) == (0.0, 0.0, 0.0)
    assert p.position_at(0.05) == pytest.approx((1.25, 0, 0))
    assert p.position_at(0.75) == pytest.approx((10, 0, 0))  # dwelling
    assert p.position_at(1.25 + 0.05) == pytest.approx((10, 1.25, 0))
    assert p.position_at(100) == pytest.approx((10, 10, 0))


def test_empty_and_degenerate_programs(servo: MachineProfile) -> None:
    empty = plan([], servo)
    assert empty.total_s == 0.0 and empty.blocks == () and empty.time_at_line(5) == 0.0
    # a move to where the pen already is has no steps: GRBL drops it
    assert plan([g1(0, 0), g0(0, 0)], servo).blocks == ()
    with pytest.raises(ValueError, match="feed"):
        plan([g1(10, 0, feed=0)], servo)
    with pytest.raises(ValueError, match="dwell"):
        plan([Dwell(-1.0)], servo)


# --- contracts -------------------------------------------------------------------------

coordinate = st.sampled_from([0.0, 0.3, 1.0, 5.0, 20.0]) | st.floats(0, 40, allow_nan=False)
moves = st.builds(
    Move,
    x=coordinate,
    y=coordinate,
    z=st.sampled_from([0.0, 0.0, 0.0, 2.0]),
    feed_mm_min=st.sampled_from([100.0, 1000.0, 3000.0, 20000.0]),
    rapid=st.booleans(),
)
others = st.builds(Dwell, seconds=st.sampled_from([0.0, 0.15])) | st.builds(
    Pen, down=st.booleans(), sync=st.booleans()
)
programs = st.lists(st.one_of(moves, moves, moves, others), max_size=60).map(
    lambda commands: [replace(c, line=i + 1) for i, c in enumerate(commands)]
)
window = st.integers(1, 20)


def reference_speeds(blocks: Sequence[Block], size: int) -> list[float]:
    """entry², exit² of each block, flat, by brute force: the block executing sees itself and
    the next ``size − 1`` blocks, the last of which stops. A block with a zero junction
    limit (start, reversal, after a stop) cuts the chain."""
    out: list[float] = []
    entry = 0.0
    for i, block in enumerate(blocks):
        if block.max_entry_mm_s == 0.0:
            entry = 0.0
        end = i + size - 1
        back = 0.0
        for j in range(min(end, len(blocks) - 1), i, -1):
            nxt = blocks[j]
            back = min(nxt.max_entry_mm_s**2, back + 2 * nxt.accel_mm_s2 * nxt.length_mm)
        exit_ = min(entry + 2 * block.accel_mm_s2 * block.length_mm, back)
        out += [entry, exit_]
        entry = exit_
    return out


@settings(max_examples=200, deadline=None)
@given(commands=programs, size=window)
def test_contracts(
    commands: list[Command], size: int, make_profile: Callable[..., MachineProfile]
) -> None:
    profile = make_profile(planner_blocks=size)
    p = plan(commands, profile)
    previous: Step | None = None
    for step in p.steps:
        if isinstance(step, Block):
            tol = 1e-9 * (1 + step.nominal_mm_s)
            assert min(step.accel_s, step.cruise_s, step.decel_s) >= 0.0
            assert step.entry_mm_s <= step.max_entry_mm_s + tol
            assert max(step.entry_mm_s, step.exit_mm_s) <= step.peak_mm_s + tol
            assert step.peak_mm_s <= step.nominal_mm_s + tol
            # the block can physically change between its entry and exit speeds
            reach = 2 * step.accel_mm_s2 * step.length_mm
            assert abs(step.exit_mm_s**2 - step.entry_mm_s**2) <= reach * (1 + 1e-9) + 1e-9
            # never faster than cruising all the way
            assert step.duration_s >= step.length_mm / step.nominal_mm_s * (1 - 1e-9)
            assert step.position_at(step.duration_s) == pytest.approx(step.end, abs=1e-6)
            if isinstance(previous, Block):
                # a junction is capped by the nominal speeds of both blocks
                assert step.max_entry_mm_s <= min(step.nominal_mm_s, previous.nominal_mm_s) + tol
                assert step.entry_mm_s == previous.exit_mm_s
            elif isinstance(previous, Dwell) or (isinstance(previous, Pen) and previous.sync):
                assert step.entry_mm_s == 0.0
        previous = step
    if p.blocks:
        assert p.blocks[-1].exit_mm_s == 0.0
    lower = sum(b.length_mm / b.nominal_mm_s for b in p.blocks)
    assert p.total_s >= lower * (1 - 1e-9) + p.dwell_s - 1e-9
    assert p.total_s == pytest.approx(p.draw_s + p.travel_s + p.dwell_s)
    assert p.time_at_line(len(commands)) == pytest.approx(p.total_s)
    # the incremental window planner agrees with brute force over every window
    planned = [v**2 for b in p.blocks for v in (b.entry_mm_s, b.exit_mm_s)]
    assert planned == pytest.approx(reference_speeds(p.blocks, size), rel=1e-9, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(commands=programs, size=window, pops=st.lists(st.booleans(), min_size=60, max_size=60))
def test_incremental_equals_batch(
    commands: list[Command],
    size: int,
    pops: list[bool],
    make_profile: Callable[..., MachineProfile],
) -> None:
    profile = make_profile(planner_blocks=size)
    planner = Planner(profile)
    steps: list[Step] = []
    for command, pop in zip(commands, pops, strict=False):
        planner.append(command)
        if pop:
            steps.extend(planner.pop_ready())
    planner.flush()
    steps.extend(planner.pop_ready())
    assert steps == list(plan(commands, profile).steps)


def run_like_a_device(commands: Sequence[Command], profile: MachineProfile) -> list[Step]:
    """A stream that keeps GRBL's buffer full: the host sends a move whenever the buffer
    (the block executing included) has room; the device starts a block when idle."""
    planner = Planner(profile)
    todo = deque(commands)
    executed: list[Step] = []
    while todo or planner.buffered:
        ready = planner.pop_ready()
        # host: fill the buffer (a move needs a free block, other commands do not)
        while (
            not ready
            and todo
            and (not isinstance(todo[0], Move) or planner.buffered < profile.planner_blocks)
        ):
            planner.append(todo.popleft())
            ready = planner.pop_ready()
        if not ready:
            planner.release()  # device idle: start the first buffered block
            ready = planner.pop_ready()
        executed.extend(ready)  # the device runs them, freeing their blocks
    planner.flush()
    executed.extend(planner.pop_ready())
    return executed


@settings(max_examples=100, deadline=None)
@given(commands=programs, size=window)
def test_device_with_full_buffer_matches_estimate(
    commands: list[Command], size: int, make_profile: Callable[..., MachineProfile]
) -> None:
    profile = make_profile(planner_blocks=size)
    assert run_like_a_device(commands, profile) == list(plan(commands, profile).steps)


def test_release_on_a_starved_buffer_stops_every_block(servo: MachineProfile) -> None:
    # one block at a time: each starts with nothing behind it, so each stops
    planner = Planner(servo)
    blocks = []
    for command in (g1(50, 0), g1(100, 0)):
        planner.append(command)
        blocks.append(planner.release())
    assert planner.release() is None
    assert [(b.entry_mm_s, b.exit_mm_s) for b in blocks if b] == [(0.0, 0.0), (0.0, 0.0)]
    assert planner.pop_ready() == blocks
