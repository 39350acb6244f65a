"""The Drawing type: measures and SVG export read back."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plotter.drawing import Drawing, as_stroke

SVG = "{http://www.w3.org/2000/svg}"


def test_measures_of_two_strokes() -> None:
    d = Drawing(([(0, 0), (3, 4)], [(6, 4), (6, 10)]), 100, 50)
    assert d.ink_length_mm() == pytest.approx(5 + 6)
    # from the origin to (0,0) is 0, then (3,4) -> (6,4) is 3
    assert d.pen_up_travel_mm() == pytest.approx(3)
    assert d.pen_up_travel_mm(end=(6, 0)) == pytest.approx(3 + 10)
    assert d.bounds() == (0, 0, 6, 10)
    assert d.pen_lifts() == 2


def test_empty_drawing() -> None:
    d = Drawing.empty(148, 105)
    assert d.ink_length_mm() == 0 and d.pen_up_travel_mm() == 0 and d.bounds() is None
    root = ET.fromstring(d.to_svg())
    assert root.findall(f".//{SVG}path") == []


def test_bad_strokes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one point"):
        as_stroke([])
    with pytest.raises(ValueError, match="finite"):
        as_stroke([(0, float("nan"))])
    with pytest.raises(ValueError, match="positive"):
        Drawing((), 0, 10)


def test_drawing_is_immutable() -> None:
    d = Drawing(([(0, 0), (1, 1)],), 10, 10)
    with pytest.raises(ValueError):
        d.strokes[0][0, 0] = 5


def test_a_drawing_from_one_point_array_equals_one_from_strokes() -> None:
    points = np.array([[0, 0], [1, 1], [5, 5], [7, 5], [7, 8], [9, 9]], dtype=float)
    d = Drawing.from_points(points, [2, 1, 3], 20, 10)
    assert d == Drawing(([(0, 0), (1, 1)], [(5, 5)], [(7, 5), (7, 8), (9, 9)]), 20, 10)
    points[0, 0] = 99  # the drawing holds its own copy, read-only
    assert d.strokes[0][0, 0] == 0
    with pytest.raises(ValueError):
        d.strokes[2][0, 0] = 5
    assert Drawing.from_points(np.zeros((0, 2)), [], 20, 10) == Drawing.empty(20, 10)


def test_a_drawing_from_points_refuses_what_drawing_refuses() -> None:
    with pytest.raises(ValueError, match="at least one point"):
        Drawing.from_points(np.zeros((2, 2)), [2, 0], 20, 10)
    with pytest.raises(ValueError, match="add up to 3 points, not the 2"):
        Drawing.from_points(np.zeros((2, 2)), [1, 2], 20, 10)
    with pytest.raises(ValueError, match="finite"):
        Drawing.from_points(np.array([[0.0, np.inf]]), [1], 20, 10)
    with pytest.raises(ValueError, match="positive"):
        Drawing.from_points(np.zeros((1, 2)), [1], 0, 10)


def _parse_svg_paths(text: str) -> list[np.ndarray]:
    root = ET.fromstring(text)
    strokes = []
    for path in root.findall(f".//{SVG}path"):
        data = path.get("d", "")
        assert data.startswith("M")
        if data.endswith("h0"):
            strokes.append(np.array([[float(v) for v in data[1:-2].split(",")]]))
            continue
        head, _, rest = data[1:].partition("L")
        points = [head] + rest.split(" ")
        strokes.append(np.array([[float(v) for v in p.split(",")] for p in points]))
    return strokes


def test_svg_has_card_size_in_mm_and_one_path_per_stroke() -> None:
    d = Drawing(([(10, 20), (30.5, 40.25)], [(5, 5)], [(1, 1), (2, 2), (3, 1)]), 148, 105)
    root = ET.fromstring(d.to_svg())
    assert root.get("width") == "148mm" and root.get("height") == "105mm"
    assert root.get("viewBox") == "0 0 148 105"
    strokes = _parse_svg_paths(d.to_svg())
    assert len(strokes) == 3
    for ours, back in zip(d.strokes, strokes, strict=True):
        np.testing.assert_allclose(back, ours, atol=0.0005)


coords = st.floats(min_value=0, max_value=200, allow_nan=False, width=32)


@given(st.lists(st.lists(st.tuples(coords, coords), min_size=1, max_size=8), max_size=8))
def test_svg_round_trip_within_a_micrometre(raw: list[list[tuple[float, float]]]) -> None:
    d = Drawing(tuple(raw), 210, 210)
    back = _parse_svg_paths(d.to_svg())
    assert len(back) == len(d.strokes)
    for ours, theirs in zip(d.strokes, back, strict=True):
        np.testing.assert_allclose(theirs, ours, atol=0.0006)
    assert d.to_svg() == Drawing(tuple(raw), 210, 210).to_svg()


def test_translated_moves_every_point() -> None:
    d = Drawing(([(0, 0), (1, 0)],), 10, 10).translated(2, 3)
    np.testing.assert_array_equal(d.strokes[0], [[2, 3], [3, 3]])
    assert math.isclose(d.ink_length_mm(), 1)


def test_a_drawing_from_points_without_a_copy_takes_the_array_read_only() -> None:
    points = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    d = Drawing.from_points(points, [2, 1], 20, 10, copy=False)
    assert np.shares_memory(d.strokes[0], points) and not points.flags.writeable
