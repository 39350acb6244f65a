"""Arcs as GRBL runs them (plotter/arcs.py) and rounded corners in the G-code: the
geometry of a rounded corner, GRBL's chords, I/J and R, the errors GRBL would answer,
the round trip within 0.01 mm for every profile, the plot time saved, and a rounded card
streamed to the simulated GRBL over a real pty."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plotter.arcs import (
    ArcError,
    angular_travel,
    arc_chords,
    check_offset,
    min_rounded_turn,
    offset_from_radius,
    round_corners,
    segment_count,
)
from plotter.drawing import Drawing
from plotter.gcode import GcodeError, read_program, read_strokes, write_gcode
from plotter.planner import plan
from plotter.profile import load_profile, profile_names
from plotter.program import Move
from plotter.simulator import SimulatedGrbl
from plotter.stream import GrblStreamer, program_lines
from plotter.transform import machine_to_card

CARD_W, CARD_H = 148.0, 105.0


def rounded(name: str, rounding: float = 0.007, **changes):
    """A shipped profile with corner rounding on."""
    return dataclasses.replace(load_profile(name), corner_rounding_mm=rounding, **changes)


def with_arcs(name: str = "grbl-servo"):
    """Rounding with GRBL's chords fine enough ($12 0.0005 mm) that arcs are written as
    G2/G3 rather than as their one or two chords."""
    return rounded(name, 0.008, arc_tolerance_mm=0.0005)


def polyline_distance(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Each point's distance (mm) to the polyline ``line``."""
    if len(line) == 1:
        return np.hypot(*(points - line[0]).T)
    a, b = line[:-1], line[1:]
    ab = b - a
    denom = np.maximum((ab * ab).sum(axis=1), 1e-300)
    rel = points[:, None, :] - a[None, :, :]
    t = np.clip((rel * ab[None]).sum(axis=2) / denom[None], 0.0, 1.0)
    nearest = a[None] + t[..., None] * ab[None]
    return np.hypot(*(points[:, None, :] - nearest).transpose(2, 0, 1)).min(axis=1)


def wavy(seed: int, strokes: int = 40) -> Drawing:
    """Handwriting-like strokes: 0.7 mm steps turning up to 60 degrees, as a font's coarse
    curves do, with some cusps."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(strokes):
        start = rng.uniform([10, 10], [CARD_W - 10, CARD_H - 10])
        turns = rng.normal(0, 0.5, int(rng.integers(2, 30)))
        turns[rng.random(len(turns)) < 0.05] += math.pi * 0.97  # a cusp now and then
        angle = np.cumsum(turns)
        steps = 0.7 * np.c_[np.cos(angle), np.sin(angle)]
        out.append(np.vstack([start, start + np.cumsum(steps, axis=0)]))
    return Drawing(tuple(out), CARD_W, CARD_H)


# --- round_corners -----------------------------------------------------------------------


def test_a_right_angle_gets_a_tangent_arc_within_the_tolerance():
    points = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    path = round_corners(points, 0.05)
    a, b, center = path.points[1], path.points[2], path.centers[2]
    radius = np.hypot(*(a - center))
    assert np.hypot(*(b - center)) == pytest.approx(radius)
    # tangent: the radius at each end is square to the line there
    assert (a - center) @ np.array([1.0, 0.0]) == pytest.approx(0.0, abs=1e-12)
    assert (b - center) @ np.array([0.0, 1.0]) == pytest.approx(0.0, abs=1e-12)
    # the arc's middle lies the tolerance from the vertex
    assert np.hypot(*(points[1] - center)) - radius == pytest.approx(0.05)
    assert not path.clockwise[2]  # a left turn (x right, y up) is G3
    mirrored = round_corners(points * [1, -1], 0.05)
    assert mirrored.clockwise[2]
    assert path.points[0].tolist() == [0, 0] and path.points[-1].tolist() == [10, 10]


def test_gentle_turns_and_cusps_stay_sharp():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.05], [1.0, 0.05]])
    path = round_corners(points, 0.01, min_turn_rad=math.radians(10))
    assert np.isnan(path.centers).all()
    np.testing.assert_array_equal(path.points, points)


def test_the_smallest_rounded_turn_is_where_grbl_would_slow_below_the_feed():
    profile = load_profile("grbl-servo")
    turn = min_rounded_turn(profile.draw_feed_mm_min, profile.accel_x_mm_s2,
                            profile.junction_deviation_mm)
    # GRBL's junction speed at exactly that turn is the draw feed
    s = math.cos(turn / 2)
    v = math.sqrt(profile.accel_x_mm_s2 * profile.junction_deviation_mm * s / (1 - s))
    assert v == pytest.approx(profile.draw_feed_mm_min / 60)
    assert math.radians(9) < turn < math.radians(11)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(-20, 20), st.floats(-20, 20)), min_size=3, max_size=25),
       st.floats(0.001, 0.2))
def test_rounded_path_stays_within_the_tolerance_and_keeps_its_ends(raw, tolerance):
    points = np.array(raw)
    path = round_corners(points, tolerance)
    np.testing.assert_array_equal(path.points[0], points[0])
    np.testing.assert_array_equal(path.points[-1], points[-1])
    # every new point lies on the polyline, every arc within the tolerance of it
    assert polyline_distance(path.points, points).max() <= 1e-9 * (1 + np.abs(points).max())
    for k in np.flatnonzero(~np.isnan(path.centers[:, 0])):
        center = path.centers[k]
        radius = np.hypot(*(path.points[k] - center))
        sweep = angular_travel(path.points[k - 1], path.points[k], center,
                               bool(path.clockwise[k]))
        assert abs(sweep) < math.pi
        angles = math.atan2(*(path.points[k - 1] - center)[::-1]) + np.linspace(0, sweep, 9)
        arc = center + radius * np.c_[np.cos(angles), np.sin(angles)]
        assert polyline_distance(arc, points).max() <= tolerance + 1e-9
    # neighbouring corners never overlap: the path runs forward along each segment
    steps = np.diff(path.points, axis=0)
    assert (np.hypot(*steps.T) <= np.hypot(*np.diff(points, axis=0).T).sum() + 1e-9).all()


# --- GRBL's arcs ------------------------------------------------------------------------


def test_quarter_circle_chords_as_grbl_cuts_them():
    start, target, offset = np.array([10.0, 0.0]), np.array([0.0, 10.0]), np.array([-10.0, 0.0])
    chords = arc_chords(start, target, offset, clockwise=False, arc_tolerance_mm=0.002)
    # mc_arc: floor(0.5 * pi/2 * 10 / sqrt(0.002 * (20 - 0.002))) = floor(39.27) = 39
    assert len(chords) == 39
    np.testing.assert_allclose(np.hypot(*chords.T), 10.0, atol=1e-12)
    np.testing.assert_array_equal(chords[-1], target)
    ends = np.vstack([start, chords])
    half = np.hypot(*np.diff(ends, axis=0).T) / 2
    sag = 10.0 - np.sqrt(100.0 - half**2)
    # GRBL rounds the count down: each chord strays a little more than $12 inside
    np.testing.assert_allclose(sag, 10.0 * (1 - math.cos(math.pi / 4 / 39)), rtol=1e-6)
    assert 0.002 < sag.max() < 0.00203
    # the same ends clockwise go the long way round, three quarters
    long = arc_chords(start, target, offset, clockwise=True, arc_tolerance_mm=0.002)
    assert len(long) == 117  # floor(3 * 39.27)
    assert (long[:, 1] <= 1e-9).any()  # it passes below the x axis


def test_same_start_and_target_is_a_full_circle():
    start = np.array([5.0, 0.0])
    chords = arc_chords(start, start, np.array([-5.0, 0.0]), clockwise=True)
    angles = np.unwrap(np.arctan2(chords[:, 1], chords[:, 0]))
    assert angles[0] - angles[-1] == pytest.approx(2 * math.pi, abs=0.2)
    assert segment_count(-2 * math.pi, 5.0, 0.002) == len(chords)


def test_radius_format_gives_the_centre_grbl_computes():
    start, target = np.array([0.0, 0.0]), np.array([10.0, 10.0])
    offset, radius = offset_from_radius(start, target, 10.0, clockwise=True)
    np.testing.assert_allclose(offset, [10.0, 0.0], atol=1e-12)  # the short way round
    assert radius == 10.0
    offset, _ = offset_from_radius(start, target, -10.0, clockwise=True)
    np.testing.assert_allclose(offset, [0.0, 10.0], atol=1e-12)  # R < 0: the long way
    with pytest.raises(ArcError) as error:
        offset_from_radius(start, target, 7.0, clockwise=False)
    assert error.value.code == 34
    with pytest.raises(ArcError) as error:
        offset_from_radius(start, start, 7.0, clockwise=False)
    assert error.value.code == 33


def test_a_target_off_the_circle_is_refused_as_grbl_does():
    start = np.array([0.0, 0.0])
    assert check_offset(start, np.array([2.0, 0.0]), np.array([1.0, 0.0])) == 1.0
    check_offset(start, np.array([2.004, 0.0]), np.array([1.0, 0.0]))  # 0.004: accepted
    with pytest.raises(ArcError) as error:
        check_offset(start, np.array([2.006, 0.0]), np.array([1.0, 0.0]))
    assert error.value.code == 33
    # a big circle accepts 0.1 % of its radius
    check_offset(start, np.array([200.09, 0.0]), np.array([100.0, 0.0]))


def test_reader_runs_an_arc_line_as_grbl_chords_with_its_line_number():
    text = "G21 G90\nG0 X10 Y0\nG3 X0 Y10 I-10 J0 F600\nG91 G2 X10 Y-10 R10\n"
    moves = [c for c in read_program(text) if isinstance(c, Move)]
    arc1 = [m for m in moves if m.line == 3]
    arc2 = [m for m in moves if m.line == 4]
    assert len(arc1) == 39 and len(arc2) == 39
    assert (arc1[-1].x, arc1[-1].y) == (0.0, 10.0)
    assert (arc2[-1].x, arc2[-1].y) == pytest.approx((10.0, 0.0))
    assert all(m.feed_mm_min == 600 and not m.rapid for m in arc1 + arc2)
    # G2 X10 Y-10 R10 from (0, 10): clockwise the short way, around (0, 0)
    np.testing.assert_allclose([math.hypot(m.x, m.y) for m in arc2], 10.0, atol=1e-9)


# --- rounded corners in the G-code --------------------------------------------------------


def assert_draws_within(text: str, drawing: Drawing, profile, limit: float = 0.01) -> None:
    """The G-code draws every stroke from its first point to its last, never farther than
    ``limit`` from it, passing within ``limit`` of each of its points."""
    back = read_strokes(text, profile, drawing.width_mm, drawing.height_mm)
    assert len(back.strokes) == len(drawing.strokes)
    for got, want in zip(back.strokes, drawing.strokes, strict=True):
        assert np.abs(got[0] - want[0]).max() <= 0.0006
        assert np.abs(got[-1] - want[-1]).max() <= 0.0006
        assert polyline_distance(got, want).max() <= limit
        assert polyline_distance(want, got).max() <= limit


@pytest.mark.parametrize("name", profile_names())
def test_rounded_card_draws_the_drawing_within_a_hundredth(name):
    profile = rounded(name, bed_width_mm=400.0, bed_height_mm=400.0)
    drawing = wavy(3)
    text = write_gcode(drawing, profile)
    assert_draws_within(text, drawing, profile)
    sharp = write_gcode(drawing, dataclasses.replace(profile, corner_rounding_mm=0.0))
    assert len(text.splitlines()) > len(sharp.splitlines())  # the corners were rounded


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from(["grbl-servo", "grbl-z", "marlin-servo"]),
       st.sampled_from([0.001, 0.004, 0.008]))
def test_any_rounded_drawing_round_trips_within_a_hundredth(seed, name, rounding):
    profile = rounded(name, rounding)
    drawing = wavy(seed, strokes=8)
    assert_draws_within(write_gcode(drawing, profile), drawing, profile)


def test_fine_arcs_are_written_as_g2_g3_and_grbl_accepts_every_word():
    profile = with_arcs()
    drawing = wavy(4)
    text = write_gcode(drawing, profile)
    arcs = [line for line in text.splitlines() if re.match(r"(G91)?G[23](?!\d)", line)]
    assert len(arcs) > 20
    assert {re.match(r"(G91)?(G[23])", line)[2] for line in arcs} == {"G2", "G3"}
    for line in arcs:
        assert len(line) < 40
        assert re.fullmatch(r"(G91)?G[23](X-?[\d.]+)?(Y-?[\d.]+)?I-?[\d.]+J-?[\d.]+", line)
        assert not re.search(r"\.\d{4}", line)
    assert_draws_within(text, drawing, profile)


def test_marlin_gets_the_chords_never_an_arc():
    profile = with_arcs("marlin-servo")
    text = write_gcode(wavy(4), profile)
    assert not re.search(r"^G[23]\b", text, re.M)


def test_rounding_takes_corners_faster():
    """A zig-zag of 30-degree turns every 0.7 mm, like a font's curves: the planner's time
    falls by more than a tenth with the corners rounded."""
    angle = np.radians(np.where(np.arange(40) % 8 < 4, 30.0, -30.0)).cumsum()
    stroke = np.vstack([[20.0, 50.0], [20.0, 50.0] + np.cumsum(
        0.7 * np.c_[np.cos(angle), np.sin(angle)], axis=0)])
    drawing = Drawing((stroke,), CARD_W, CARD_H)
    sharp = load_profile("grbl-servo")
    fast = rounded("grbl-servo")

    def seconds(profile) -> float:
        return plan(read_program(write_gcode(drawing, profile), profile), profile).total_s

    assert seconds(fast) < 0.9 * seconds(sharp)


def test_rounding_beyond_a_hundredth_is_refused_naming_the_fields():
    with pytest.raises(ValueError, match=r"grbl-servo: corner_rounding_mm must be between 0 "
                                         r"\(off\) and 0.008 mm .* got 0.0085"):
        rounded("grbl-servo", 0.0085)
    with pytest.raises(ValueError, match="arc_tolerance_mm must be positive"):
        dataclasses.replace(load_profile("grbl-servo"), arc_tolerance_mm=0.0)


@pytest.mark.parametrize(("text", "what"), [
    ("G1 F100\nG2 X1 Y1\n", "I/J or R"),
    ("G1 F100\nG2 X1 Y1 I.5 R1\n", "R or I/J"),
    ("G1 F100\nG3 X4 Y0 R1\n", "shorter than half the chord"),
    ("G1 F100\nG2 X4 Y0 I1 J0\n", "off its circle"),
])
def test_arc_errors_name_the_line(text, what):
    with pytest.raises(GcodeError, match=rf"^line 2: .*{what}"):
        read_program(text)


# --- on the simulated GRBL ----------------------------------------------------------------


@pytest.mark.parametrize("profile", [rounded("grbl-servo"), with_arcs("grbl-z")],
                         ids=["chords", "arcs"])
def test_rounded_card_streams_to_the_simulated_grbl(profile):
    drawing = wavy(7, strokes=30)
    text = write_gcode(drawing, profile)
    with SimulatedGrbl(profile) as sim:
        streamer = GrblStreamer(sim.port, profile, reply_timeout_s=3.0)
        try:
            streamer.connect()
            result = streamer.stream(text)
        finally:
            streamer.close()
        assert result.finished and result.acked == len(program_lines(text))
        drawn = Drawing(tuple(machine_to_card(s, profile, CARD_W, CARD_H)
                              for s in sim.strokes()), CARD_W, CARD_H)
        assert len(drawn.strokes) == len(drawing.strokes)
        for got, want in zip(drawn.strokes, drawing.strokes, strict=True):
            assert polyline_distance(got, want).max() <= 0.01
            assert polyline_distance(want, got).max() <= 0.01
        estimate = plan(read_program(text, profile), profile).total_s
        assert sim.log.plot_s == pytest.approx(estimate, rel=0.01)
