"""StrokePen: the pen protocol recorded as polylines, curves flattened within tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from fontTools.pens.transformPen import TransformPen
from hypothesis import given, settings
from hypothesis import strategies as st

from fonts.pens import StrokePen


def distances_to_polyline(points: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """Distance of each of ``points`` (N, 2) to the polyline (M, 2), in their units."""
    a, b = polyline[:-1], polyline[1:]
    if len(a) == 0:
        return np.hypot(*(points - polyline[0]).T)
    ab = b - a
    length2 = np.einsum("ij,ij->i", ab, ab)
    # parameter of the foot of the perpendicular, clamped to each segment
    rel = points[:, None, :] - a[None, :, :]
    t = np.einsum("nij,ij->ni", rel, ab) / np.where(length2 > 0, length2, 1.0)
    t = np.clip(t, 0.0, 1.0)
    foot = a[None] + t[..., None] * ab[None]
    return np.hypot(*(points[:, None, :] - foot).transpose(2, 0, 1)).min(axis=1)


def cubic(p0, p1, p2, p3, t: np.ndarray) -> np.ndarray:
    """Points of a cubic Bézier at parameters ``t``."""
    p0, p1, p2, p3 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2, p3))
    t = np.asarray(t)[:, None]
    mt = 1 - t
    return mt**3 * p0 + 3 * mt**2 * t * p1 + 3 * mt * t**2 * p2 + t**3 * p3


def quadratic(p0, p1, p2, t: np.ndarray) -> np.ndarray:
    """Points of a quadratic Bézier at parameters ``t``."""
    p0, p1, p2 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2))
    t = np.asarray(t)[:, None]
    mt = 1 - t
    return mt**2 * p0 + 2 * mt * t * p1 + t**2 * p2


SAMPLES = np.linspace(0.0, 1.0, 401)
coordinate = st.floats(min_value=-1000, max_value=1000, allow_nan=False)
point = st.tuples(coordinate, coordinate)
tolerance = st.sampled_from([0.01, 0.1, 1.0, 5.0])


def test_lines_are_recorded_as_given() -> None:
    pen = StrokePen(tolerance=0.1)
    pen.moveTo((0, 0))
    pen.lineTo((10, 0))
    pen.lineTo((10, 5))
    pen.endPath()
    assert len(pen.strokes) == 1
    np.testing.assert_array_equal(pen.strokes[0], [[0, 0], [10, 0], [10, 5]])
    assert pen.closed == [False]


def test_close_path_repeats_the_first_point_once() -> None:
    pen = StrokePen(tolerance=0.1)
    pen.moveTo((0, 0))
    pen.lineTo((10, 0))
    pen.lineTo((10, 10))
    pen.closePath()
    pen.moveTo((20, 0))
    pen.lineTo((30, 0))
    pen.lineTo((20, 0))  # already back at the start: no extra point
    pen.closePath()
    assert pen.closed == [True, True]
    np.testing.assert_array_equal(pen.strokes[0], [[0, 0], [10, 0], [10, 10], [0, 0]])
    np.testing.assert_array_equal(pen.strokes[1], [[20, 0], [30, 0], [20, 0]])


def test_move_to_starts_a_new_stroke_and_finish_flushes_an_open_one() -> None:
    pen = StrokePen(tolerance=0.1)
    pen.moveTo((0, 0))
    pen.lineTo((1, 0))
    pen.moveTo((5, 5))
    pen.lineTo((6, 5))
    strokes = pen.finish()
    assert [s.tolist() for s in strokes] == [[[0, 0], [1, 0]], [[5, 5], [6, 5]]]
    assert pen.closed == [False, False]


def test_a_lone_point_is_a_one_point_stroke() -> None:
    pen = StrokePen(tolerance=0.1)
    pen.moveTo((3, 4))
    pen.endPath()
    assert [s.tolist() for s in pen.strokes] == [[[3, 4]]]


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_tolerance_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        StrokePen(tolerance=bad)


def test_a_straight_curve_needs_no_intermediate_points() -> None:
    pen = StrokePen(tolerance=0.01)
    pen.moveTo((0, 0))
    pen.curveTo((1, 0), (2, 0), (3, 0))
    pen.endPath()
    np.testing.assert_allclose(pen.strokes[0], [[0, 0], [3, 0]])


def test_a_finer_tolerance_gives_more_points() -> None:
    counts = []
    for tol in (1.0, 0.1, 0.01):
        pen = StrokePen(tolerance=tol)
        pen.moveTo((0, 0))
        pen.curveTo((0, 100), (100, 100), (100, 0))
        pen.endPath()
        counts.append(len(pen.strokes[0]))
    assert counts[0] < counts[1] < counts[2]


@settings(max_examples=200, deadline=None)
@given(p0=point, p1=point, p2=point, p3=point, tol=tolerance)
def test_cubic_flattening_stays_within_tolerance(p0, p1, p2, p3, tol) -> None:
    pen = StrokePen(tolerance=tol)
    pen.moveTo(p0)
    pen.curveTo(p1, p2, p3)
    pen.endPath()
    (stroke,) = pen.strokes
    np.testing.assert_array_equal(stroke[0], p0)
    np.testing.assert_allclose(stroke[-1], p3, atol=1e-9)
    on_curve = cubic(p0, p1, p2, p3, SAMPLES)
    assert distances_to_polyline(on_curve, stroke).max() <= tol * (1 + 1e-9) + 1e-9


@settings(max_examples=200, deadline=None)
@given(p0=point, p1=point, p2=point, tol=tolerance)
def test_quadratic_flattening_stays_within_tolerance(p0, p1, p2, tol) -> None:
    pen = StrokePen(tolerance=tol)
    pen.moveTo(p0)
    pen.qCurveTo(p1, p2)
    pen.endPath()
    (stroke,) = pen.strokes
    np.testing.assert_allclose(stroke[-1], p2, atol=1e-9)
    on_curve = quadratic(p0, p1, p2, SAMPLES)
    assert distances_to_polyline(on_curve, stroke).max() <= tol * (1 + 1e-9) + 1e-9


def test_implied_on_curve_quadratic_contour_is_a_closed_ring() -> None:
    # TrueType's all-off-curve contour: a ring through the midpoints of the square's sides
    corners = [(0, 0), (100, 0), (100, 100), (0, 100)]
    pen = StrokePen(tolerance=0.05)
    pen.qCurveTo(*corners, None)
    pen.closePath()
    (stroke,) = pen.strokes
    assert pen.closed == [True]
    np.testing.assert_allclose(stroke[0], stroke[-1])
    mids = [(50, 0), (100, 50), (50, 100), (0, 50)]
    on_curve = np.concatenate([
        quadratic(mids[i - 1], corners[i], mids[i], SAMPLES) for i in range(4)
    ])
    assert distances_to_polyline(on_curve, stroke).max() <= 0.05 + 1e-9


def test_filter_pens_chain_in_front_of_it() -> None:
    pen = StrokePen(tolerance=0.1)
    flip = TransformPen(pen, (2, 0, 0, -1, 10, 0))  # x * 2 + 10, y flipped
    flip.moveTo((0, 0))
    flip.lineTo((1, 3))
    flip.endPath()
    np.testing.assert_allclose(pen.strokes[0], [[10, 0], [12, -3]])
