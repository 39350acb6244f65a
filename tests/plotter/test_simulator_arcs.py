"""Circular arcs (G2/G3) on the simulated GRBL controller over a real pty: the chords
``mc_arc`` draws, G91 and G20, R against I J, a helix, ``$12``, gc.c's error numbers,
soft limits on every chord, and a long arc streamed through the 15-block planner.

Coordinates are machine mm, x right and y up; G2 is clockwise. Virtual time throughout.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import serial

from plotter.arcs import arc_chords, segment_count
from plotter.profile import load_profile
from plotter.simulator import SimulatedGrbl, default_settings
from tests.plotter import test_simulator
from tests.plotter.test_simulator import ask

device = test_simulator.device  # the fixture: a started simulator and a pyserial port on it

TOL_MM = 0.002  # GRBL's $12 default, the profiles' arc_tolerance_mm


def send_all(port: serial.SerialBase, lines: list[str]) -> None:
    """Send-and-wait: each line must be answered ``ok``."""
    for line in lines:
        assert ask(port, line) == ["ok"], line


def stroke_of(sim: SimulatedGrbl) -> np.ndarray:
    """The only stroke drawn, ``(N, 2)`` mm."""
    strokes = sim.strokes()
    assert len(strokes) == 1
    return strokes[0]


def angles_about(points: np.ndarray, center: tuple[float, float]) -> np.ndarray:
    """The points' angles about ``center``, radians, unwrapped along the stroke."""
    d = points - np.asarray(center)
    return np.unwrap(np.arctan2(d[:, 1], d[:, 0]))


def assert_on_arc(points: np.ndarray, center: tuple[float, float], radius: float,
                  tol_mm: float) -> None:
    """Every point lies on the circle (within ``tol_mm``, in fact to rounding), and every
    chord between neighbours stays near it: its sagitta is ``tol_mm`` at most, but for
    ``mc_arc`` rounding the chord count down (``floor``), which lengthens each chord by
    up to one chord in N."""
    r = np.hypot(*(points - np.asarray(center)).T)
    assert np.abs(r - radius).max() <= min(tol_mm, 1e-9)
    chords = len(points) - 1
    half = np.hypot(*np.diff(points, axis=0).T) / 2
    sagitta = radius - np.sqrt(radius**2 - half**2)
    assert sagitta.max() <= tol_mm * (1 + 1 / chords) ** 2


def status(port: serial.SerialBase) -> str:
    return ask(port, b"?", until="<")[-1]


@pytest.mark.parametrize(("line", "target", "clockwise"), [
    ("G2X60Y60I10J0", (60.0, 60.0), True),  # from the left of (60, 50) over the top
    ("G3X60Y40I10", (60.0, 40.0), False),  # from the left of (60, 50) under the bottom
])
def test_a_quarter_circle_is_drawn_in_chords_on_the_circle(device, line, target, clockwise):
    sim, port = device()
    send_all(port, ["G21G90F3000", "G0X50Y50", "M3S1000", line, "M5"])
    points = stroke_of(sim)
    np.testing.assert_array_equal(points[0], [50.0, 50.0])
    np.testing.assert_array_equal(points[-1], target)  # the last chord ends on the target
    assert sim.position[:2] == target
    assert len(points) - 1 == segment_count(math.pi / 2, 10.0, TOL_MM)  # 39 chords
    assert_on_arc(points, (60.0, 50.0), 10.0, TOL_MM)
    turns = np.diff(angles_about(points, (60.0, 50.0)))
    assert np.all(turns < 0) if clockwise else np.all(turns > 0)
    assert math.isclose(abs(turns.sum()), math.pi / 2, abs_tol=1e-12)
    mode = "G2" if clockwise else "G3"
    assert ask(port, "$G")[0].startswith(f"[GC:{mode} G54 G17 G21 G90 ")


@pytest.mark.parametrize(("line", "travel"), [("G2X50Y50I10", -2 * math.pi),
                                              ("G3X50Y50J-10", 2 * math.pi)])
def test_an_arc_back_to_its_start_is_a_full_circle(device, line, travel):
    sim, port = device()
    send_all(port, ["G21G90F3000", "G0X50Y50", "M3S1000", line, "M5"])
    points = stroke_of(sim)
    center = (60.0, 50.0) if "I" in line else (50.0, 40.0)
    np.testing.assert_array_equal(points[0], points[-1])
    assert len(points) - 1 == segment_count(travel, 10.0, TOL_MM)
    assert_on_arc(points, center, 10.0, TOL_MM)
    assert math.isclose(angles_about(points, center)[-1] - angles_about(points, center)[0],
                        travel, abs_tol=1e-12)


@pytest.mark.parametrize(("r_line", "ij_line"), [
    ("G2X60Y60R10", "G2X60Y60I10J0"),  # R > 0: the shorter arc, 90 degrees
    ("G2X60Y60R-10", "G2X60Y60I0J10"),  # R < 0: the longer one, 270 degrees
    ("G3X70Y50R10", "G3X70Y50I10"),  # a half circle either way
])
def test_r_format_draws_the_chords_of_the_equivalent_offsets(device, r_line, ij_line):
    sim, port = device()
    start = ["G0X50Y50", "M3S1000"]
    send_all(port, ["G21G90F3000", *start, r_line, "M5", *start, ij_line, "M5"])
    by_r, by_ij = sim.strokes()
    assert by_r.shape == by_ij.shape
    np.testing.assert_allclose(by_r, by_ij, atol=1e-9)


def test_relative_arcs_and_the_arc_mode_stays(device):
    """G91: X Y are added to the position, and I J are offsets from the start as always;
    a line with only axis and offset words goes on in G2."""
    sim, port = device()
    send_all(port, ["G21G90F3000", "G0X50Y50", "M3S1000", "G91G2X10Y10I10", "X10Y-10J-10",
                    "M5"])
    points = stroke_of(sim)
    np.testing.assert_allclose(points[-1], [70.0, 50.0], atol=1e-12)
    assert_on_arc(points, (60.0, 50.0), 10.0, TOL_MM)  # a half circle over the top
    assert np.all(np.diff(angles_about(points, (60.0, 50.0))) < 0)
    assert len(points) - 1 == 2 * segment_count(math.pi / 2, 10.0, TOL_MM)
    assert ask(port, "$G")[0].startswith("[GC:G2 G54 G17 G21 G91 ")


def test_inches_scale_the_offsets_and_the_radius(device):
    sim, port = device()
    send_all(port, ["G20G90F100", "G0X2Y2", "M3S1000", "G2X2.5Y2.5I0.5", "M5",
                    "G0X2Y2", "M3S1000", "G2X2.5Y2.5R0.5", "M5"])
    by_ij, by_r = sim.strokes()
    np.testing.assert_allclose(by_ij[-1], [63.5, 63.5], atol=1e-9)
    assert_on_arc(by_ij, (63.5, 50.8), 12.7, TOL_MM)
    np.testing.assert_allclose(by_r, by_ij, atol=1e-9)


def test_a_helix_moves_z_in_equal_steps(device):
    """A Z pen lowered along a full circle (G2 with a Z word): Z falls the same amount each
    chord, so the stroke starts at the first chord end below the pen's touch height."""
    profile = load_profile("grbl-z")
    sim, port = device("grbl-z")
    send_all(port, ["G21G90F2400", "G0X50Y50Z2", "G2X50Y50Z0I10", "G4P0"])
    assert sim.position == (50.0, 50.0, 0.0)
    chords = arc_chords(np.array([50.0, 50.0]), np.array([50.0, 50.0]), np.array([10.0, 0.0]),
                        clockwise=True)
    z = 2.0 - 2.0 * np.arange(1, len(chords) + 1) / len(chords)
    first_down = next(i for i, zi in enumerate(z) if profile.pen.z_down(zi))
    assert 0 < first_down < len(chords) - 1
    np.testing.assert_allclose(stroke_of(sim), chords[first_down:], atol=1e-9)


SETUP = ["G21G90", "G0X50Y50", "G4P0"]


@pytest.mark.parametrize(("feed", "line", "code"), [
    ("", "G2X60Y50I5", 22),  # no feed rate yet
    ("F600", "G2", 26),  # G2 alone: no axis words
    ("F600", "G3I5", 26),
    ("F600", "G2Z1I5", 32),  # Z only: no axis word in the XY plane
    ("F600", "G2X60Y50", 35),  # neither I nor J
    ("F600", "G2X60Y50K5", 35),  # K is no offset in the XY plane
    ("F600", "G2X60Y50R5I5", 36),  # R with I: the I is unused
    ("F600", "G2X60Y50R5K1", 36),
    ("F600", "G1X60I5", 36),  # offsets without an arc
    ("F600", "G0X60R5", 36),
    ("F600", "J5", 36),  # in G0 (after the setup) no arc is running
    ("F600", "G2X50Y50R5", 33),  # R and the target on the start
    ("F600", "G2X60Y50I2", 33),  # the target 6 mm off the circle
    ("F600", "G2X60.6Y50I5", 33),  # 0.6 mm off: more than 0.5 mm
    ("F600", "G2X80Y50R5", 34),  # R shorter than half the chord
    ("F600", "G2X60Y50I5I5", 25),  # repeated word
    ("F600", "G18", 20),  # XZ and YZ planes: not modelled
    ("F600", "G19G2X60Y50I5", 20),
    ("F600", "G2G1X60Y50I5", 21),  # two motion words
])
def test_arc_errors_are_answered_and_nothing_moves(device, feed, line, code):
    sim, port = device()
    send_all(port, SETUP + ([feed] if feed else []))
    assert ask(port, line) == [f"error:{code}"]
    assert sim.log.errors == [(len(SETUP) + bool(feed) + 1, code)]
    assert ask(port, "G4P0") == ["ok"]
    assert status(port).startswith("<Idle|MPos:50.000,50.000,")
    assert sim.strokes() == []
    assert ask(port, "$G")[0].startswith("[GC:G0 ")  # the line's modal state was dropped


def test_an_arc_a_hair_off_its_circle_is_accepted(device):
    """gc.c lets the target miss the circle by 0.005 mm, or by 0.1 % of the radius up to
    0.5 mm; the arc then ends on the target itself."""
    sim, port = device()
    send_all(port, ["G21G90F3000", "G0X50Y50", "M3S1000", "G2X150.04Y50I50", "M5"])
    np.testing.assert_allclose(stroke_of(sim)[-1], [150.04, 50.0], atol=1e-12)


def test_arc_tolerance_setting_sets_the_chord_count(device):
    profile = load_profile("grbl-servo")
    assert default_settings(dataclasses.replace(profile, arc_tolerance_mm=0.01))[12] == 0.01
    sim, port = device()
    assert "$12=0.002" in ask(port, "$$")
    arc = ["G0X50Y50", "M3S1000", "G2X60Y60I10", "M5"]
    send_all(port, ["G21G90F3000", *arc, "G4P0", "$12=0.02", *arc])
    fine, coarse = sim.strokes()
    assert len(fine) - 1 == segment_count(math.pi / 2, 10.0, 0.002) == 39
    assert len(coarse) - 1 == segment_count(math.pi / 2, 10.0, 0.02) == 12
    assert_on_arc(coarse, (60.0, 50.0), 10.0, 0.02)
    assert ask(port, "$12=0") == ["error:4"]  # mc_arc divides by it
    assert sim.settings[12] == 0.02


def test_an_arc_bulging_off_the_bed_raises_the_soft_limit_alarm(device):
    """G3 from (10, 5) to (30, 5) around (20, 5) passes (20, -5), off the bed, though both
    ends are on it: ALARM:2 before any chord moves. The same arc the other way round (G2,
    over (20, 15)) is drawn."""
    sim, port = device()
    send_all(port, ["G21G90F3000", "G0X10Y5", "G4P0"])
    assert ask(port, "G3X30Y5I10", until="ALARM") == ["ALARM:2"]
    assert port.readline().decode().strip() == "[MSG:Reset to continue]"
    assert sim.log.alarms == [2]
    assert status(port).startswith("<Alarm|MPos:10.000,5.000,")
    assert "[MSG:'$H'|'$X' to unlock]" in ask(port, b"\x18", until="[MSG:'$H'")
    assert ask(port, "$X")[-1] == "ok"
    send_all(port, ["F3000", "M3S1000", "G2X30Y5I10", "M5"])
    points = stroke_of(sim)
    np.testing.assert_allclose(points[-1], [30.0, 5.0], atol=1e-12)
    assert points[:, 1].max() == pytest.approx(15.0, abs=0.01)


def test_a_long_arc_streams_through_the_planner_with_one_ok(device):
    """A full circle of radius 50 mm is 351 chords on one line. Like ``mc_arc`` blocking in
    ``mc_line``, the parser queues them one by one as planner blocks free up, never more
    than 15, and answers the line once, when its last chord is queued: the machine is
    then drawing the circle's last chords, and has no stop in it."""
    sim, port = device(host_budget_bytes=0)  # send-and-wait: the next line leaves on the ok
    send_all(port, ["G21G90F3000", "G0X50Y100", "M3S1000"])
    assert ask(port, "G2X50Y100I50") == ["ok"]
    assert ask(port, "G4P0") == ["ok"]
    chords = segment_count(2 * math.pi, 50.0, TOL_MM)
    assert chords == 351
    points = stroke_of(sim)
    assert len(points) - 1 == chords
    assert_on_arc(points, (100.0, 100.0), 50.0, TOL_MM)
    assert sim.log.max_blocks_used == 15
    assert sim.log.starvations == []
    ok_s, _, blocks_at_ok = sim.log.levels[-1]  # G4P0, read right after the arc's ok
    assert blocks_at_ok >= 14  # the planner was still full of the arc's last chords
    chord_s = 2 * math.pi * 50.0 / chords / 50.0  # a chord at 3000 mm/min
    assert sim.log.idle_s - ok_s < 16 * chord_s + 0.1  # the last 15 chords and the stop
    assert sim.log.idle_s - sim.log.levels[-2][0] > chords * chord_s  # the whole circle
