"""The benchmark's motion bound (``tests.bench.plotter_output.motion_bound_s``) is a true
lower bound of our planner's plot time, and tight where nothing corners."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plotter.drawing import Drawing
from plotter.gcode import write_gcode
from plotter.profile import load_profile
from tests.bench.plotter_output import gcode_stats, motion_bound_s, rest_to_rest_s

PROFILE = load_profile("grbl-servo")


def test_rest_to_rest_trapezoid_and_triangle():
    # 100 mm at 50 mm/s, 1000 mm/s²: 2 s at speed plus 0.05 s lost ramping up and down
    assert rest_to_rest_s(100.0, 50.0, 1000.0) == pytest.approx(2.05)
    # 1 mm never reaches 50 mm/s: two ramps of 0.5 mm, each sqrt(2 * 0.5 / 1000) s
    assert rest_to_rest_s(1.0, 50.0, 1000.0) == pytest.approx(2 * np.sqrt(1e-3))


def test_a_straight_diagonal_stroke_meets_the_bound():
    d = Drawing(([(10.0, 10.0), (60.0, 60.0)],), 148.0, 105.0)
    stats = gcode_stats(write_gcode(d, PROFILE), PROFILE)
    assert stats.seconds == pytest.approx(motion_bound_s(d, stats, PROFILE), rel=1e-9)


def test_a_corner_costs_time_above_the_bound():
    d = Drawing(([(10.0, 10.0), (60.0, 10.0), (60.0, 60.0)],), 148.0, 105.0)
    stats = gcode_stats(write_gcode(d, PROFILE), PROFILE)
    assert stats.seconds > motion_bound_s(d, stats, PROFILE) + 0.01


points = st.tuples(st.floats(5, 140), st.floats(5, 100))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(points, min_size=1, max_size=8), min_size=1, max_size=6))
def test_no_plot_beats_the_motion_bound(strokes):
    d = Drawing(tuple(strokes), 148.0, 105.0)
    stats = gcode_stats(write_gcode(d, PROFILE), PROFILE)
    assert stats.seconds >= motion_bound_s(d, stats, PROFILE) - 1e-9
