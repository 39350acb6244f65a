"""Single-line SVG to Drawing: Drawing.to_svg round trips, units, viewBox, transforms,
every shape, curve flattening, and SVG as vpype and Inkscape write it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plotter.drawing import Drawing
from plotter.svgread import SvgError, parse_transform, read_svg

SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'


@pytest.fixture
def make_svg():
    """SVG text around ``body`` with a root size and optional viewBox."""

    def make(body: str, width: str = "100mm", height: str = "50mm",
             view_box: str | None = "0 0 100 50", extra: str = "") -> str:
        box = f' viewBox="{view_box}"' if view_box else ""
        return f'<svg {SVG_NS} width="{width}" height="{height}"{box}{extra}>{body}</svg>'

    return make


def distance_to_polyline(points: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """For each point, its distance to the nearest segment of ``polyline``."""
    a, b = polyline[:-1], polyline[1:]
    ab = b - a
    t = np.einsum("pij,ij->pi", points[:, None, :] - a, ab) / np.maximum(
        np.einsum("ij,ij->i", ab, ab), 1e-300)
    closest = a + np.clip(t, 0, 1)[..., None] * ab
    return np.linalg.norm(points[:, None, :] - closest, axis=2).min(axis=1)


# --- round trip -----------------------------------------------------------------------------

stroke = st.lists(st.tuples(st.floats(-20, 200, allow_subnormal=False),
                            st.floats(-20, 200, allow_subnormal=False)),
                  min_size=1, max_size=10)


@settings(max_examples=80, deadline=None)
@given(st.lists(stroke, max_size=6))
def test_to_svg_round_trips(strokes):
    drawing = Drawing(tuple(strokes), 148, 105)
    back = read_svg(drawing.to_svg(title="a card"))
    assert (back.width_mm, back.height_mm) == (148, 105)
    assert len(back) == len(drawing)
    for got, want in zip(back.strokes, drawing.strokes, strict=True):
        if np.all(np.round(want, 3) == np.round(want[0], 3)):
            want = want[:1]  # to_svg writes a dot as "M x,y h0"
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 0.001


def test_dot_and_empty():
    drawing = Drawing(([[3.0, 4.0]],), 20, 10)
    assert [s.tolist() for s in read_svg(drawing.to_svg()).strokes] == [[[3.0, 4.0]]]
    assert read_svg(Drawing.empty(20, 10).to_svg()).strokes == ()


def test_reads_a_file(tmp_path):
    path = tmp_path / "card.svg"
    path.write_text(Drawing(([[1.0, 2.0], [3.0, 4.0]],), 20, 10).to_svg(), encoding="utf-8")
    assert read_svg(path).strokes[0].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert read_svg(str(path)).strokes[0].tolist() == [[1.0, 2.0], [3.0, 4.0]]


# --- size, units, viewBox -------------------------------------------------------------------


@pytest.mark.parametrize(("width", "mm"), [("100mm", 100), ("10cm", 100), ("4in", 101.6),
                                           ("96px", 25.4), ("96", 25.4), ("72pt", 25.4)])
def test_units(make_svg, width, mm):
    drawing = read_svg(make_svg('<line x1="0" y1="0" x2="1" y2="0"/>', width=width,
                                height=width, view_box=None))
    assert drawing.width_mm == pytest.approx(mm)
    # without a viewBox a user unit is a px
    assert drawing.strokes[0][1, 0] == pytest.approx(25.4 / 96)


def test_viewbox_scales_to_the_size(make_svg):
    drawing = read_svg(make_svg('<line x1="10" y1="10" x2="210" y2="110"/>',
                                view_box="10 10 400 200"))
    assert drawing.strokes[0] == pytest.approx(np.array([[0, 0], [50, 25]]))


def test_viewbox_meet_centres_and_none_stretches(make_svg):
    body = '<line x1="0" y1="0" x2="100" y2="100"/>'
    meet = read_svg(make_svg(body, view_box="0 0 100 100"))  # 100 x 50 mm: scale 0.5
    assert meet.strokes[0] == pytest.approx(np.array([[25, 0], [75, 50]]))
    stretched = read_svg(make_svg(body, view_box="0 0 100 100",
                                  extra=' preserveAspectRatio="none"'))
    assert stretched.strokes[0] == pytest.approx(np.array([[0, 0], [100, 50]]))


def test_size_from_viewbox_alone(make_svg):
    drawing = read_svg(f'<svg {SVG_NS} viewBox="0 0 96 48"/>')
    assert (drawing.width_mm, drawing.height_mm) == pytest.approx((25.4, 12.7))


def test_no_size_at_all_is_an_error():
    with pytest.raises(SvgError, match="page size"):
        read_svg(f'<svg {SVG_NS}><line x2="1"/></svg>')


def test_not_svg_is_an_error():
    with pytest.raises(SvgError):
        read_svg("<html/>")
    with pytest.raises(SvgError):
        read_svg("<svg")


# --- transforms ------------------------------------------------------------------------------


def test_parse_transform_list():
    m = parse_transform("translate(10,20) rotate(90) scale(2 3)")
    assert (m @ [1, 1, 1])[:2].tolist() == pytest.approx([10 - 3, 20 + 2])
    m = parse_transform("matrix(1 0 0 1 5 6) skewX(45)")
    assert (m @ [0, 1, 1])[:2].tolist() == pytest.approx([6, 7])
    m = parse_transform("rotate(180 10 10)")
    assert (m @ [0, 0, 1])[:2].tolist() == pytest.approx([20, 20])


def test_nested_groups_compose(make_svg):
    body = ('<g transform="translate(10 5)"><g transform="scale(2)">'
            '<g transform="matrix(0 1 -1 0 0 0)"><line x1="0" y1="0" x2="3" y2="0"/>'
            '</g></g></g>')
    drawing = read_svg(make_svg(body))
    assert drawing.strokes[0] == pytest.approx(np.array([[10, 5], [10, 11]]))


def test_hidden_and_non_drawing_elements_are_skipped(make_svg):
    body = ('<defs><path id="p" d="M0 0 L5 5"/></defs><g style="display:none">'
            '<line x2="9"/></g><text x="1" y="1">hi</text><line x1="1" x2="2"/>'
            '<use href="#p" x="10" y="0"/>')
    drawing = read_svg(make_svg(body))
    assert [s.tolist() for s in drawing.strokes] == [[[1, 0], [2, 0]], [[10, 0], [15, 5]]]


# --- shapes -----------------------------------------------------------------------------------


def test_basic_shapes(make_svg):
    body = ('<polyline points="0,0 10,0 10,10"/><polygon points="0 0 5 0 5 5"/>'
            '<line x1="1" y1="2" x2="3" y2="4"/><rect x="1" y="2" width="3" height="4"/>')
    strokes = [s.tolist() for s in read_svg(make_svg(body)).strokes]
    assert strokes == [
        [[0, 0], [10, 0], [10, 10]],
        [[0, 0], [5, 0], [5, 5], [0, 0]],
        [[1, 2], [3, 4]],
        [[1, 2], [4, 2], [4, 6], [1, 6], [1, 2]],
    ]


@pytest.mark.parametrize("tolerance", [0.1, 0.01, 0.001])
def test_circles_and_ellipses_within_tolerance(make_svg, tolerance):
    body = '<circle cx="50" cy="25" r="20"/><ellipse cx="50" cy="25" rx="30" ry="10"/>'
    circle, ellipse = read_svg(make_svg(body), tolerance_mm=tolerance).strokes
    radius = np.hypot(*(circle - [50, 25]).T)
    assert radius == pytest.approx(20)  # every vertex on the circle
    theta = np.linspace(0, 2 * np.pi, 2000)
    true_circle = np.c_[50 + 20 * np.cos(theta), 25 + 20 * np.sin(theta)]
    assert distance_to_polyline(true_circle, circle).max() <= tolerance * 1.01
    true_ellipse = np.c_[50 + 30 * np.cos(theta), 25 + 10 * np.sin(theta)]
    assert distance_to_polyline(true_ellipse, ellipse).max() <= tolerance * 1.01
    assert circle[0].tolist() == circle[-1].tolist()  # closed


def test_rounded_rect(make_svg):
    (rect,) = read_svg(make_svg('<rect x="0" y="0" width="20" height="10" rx="2"/>')).strokes
    assert rect.min(axis=0).tolist() == pytest.approx([0, 0])
    assert rect.max(axis=0).tolist() == pytest.approx([20, 10])
    assert [0, 0] not in rect.tolist()  # the corner is cut by the arc


def test_arc_tolerance_holds_after_scaling(make_svg):
    # a 1-unit arc scaled by 100: flattened in mm, not in user units
    body = '<g transform="scale(100)"><path d="M0.1 0.25 A0.2 0.2 0 0 1 0.5 0.25"/></g>'
    (arc,) = read_svg(make_svg(body), tolerance_mm=0.01).strokes
    theta = np.linspace(np.pi, 2 * np.pi, 500)
    true = np.c_[30 + 20 * np.cos(theta), 25 + 20 * np.sin(theta)]
    assert distance_to_polyline(true, arc).max() <= 0.0101
    assert len(arc) > 20


@pytest.mark.parametrize("tolerance", [0.05, 0.01])
def test_cubic_and_quadratic_within_tolerance(make_svg, tolerance):
    body = '<path d="M0 0 C 30 40 70 -40 100 0 M0 25 Q 50 75 100 25"/>'
    cubic, quad = read_svg(make_svg(body), tolerance_mm=tolerance).strokes
    t = np.linspace(0, 1, 3000)[:, None]
    p = [np.array(v, dtype=float) for v in ([0, 0], [30, 40], [70, -40], [100, 0])]
    true = (1 - t) ** 3 * p[0] + 3 * (1 - t) ** 2 * t * p[1] + 3 * (1 - t) * t**2 * p[2] \
        + t**3 * p[3]
    assert distance_to_polyline(true, cubic).max() <= tolerance
    q = [np.array(v, dtype=float) for v in ([0, 25], [50, 75], [100, 25])]
    true = (1 - t) ** 2 * q[0] + 2 * (1 - t) * t * q[1] + t**2 * q[2]
    assert distance_to_polyline(true, quad).max() <= tolerance
    assert cubic[-1].tolist() == [100, 0] and quad[-1].tolist() == [100, 25]


def test_relative_commands_and_subpaths(make_svg):
    body = '<path d="m 1,1 h 2 v 2 z m 10,0 l 1,1 1,-1"/>'
    strokes = [s.tolist() for s in read_svg(make_svg(body)).strokes]
    assert strokes == [[[1, 1], [3, 1], [3, 3], [1, 1]], [[11, 1], [12, 2], [13, 1]]]


def test_lone_moveto_draws_nothing(make_svg):
    assert read_svg(make_svg('<path d="M5 5"/><path d=""/>')).strokes == ()


def test_bad_path_data_is_an_error(make_svg):
    with pytest.raises(SvgError, match="path data"):
        read_svg(make_svg('<path id="x" d="L 5 5"/>'))


# --- what vpype and Inkscape write ---------------------------------------------------------

VPYPE = """<?xml version="1.0" encoding="utf-8" ?>
<svg baseProfile="tiny" height="105.0mm" version="1.2" viewBox="0 0 559.3700787401575 \
396.8503937007874" width="148.0mm" xmlns="http://www.w3.org/2000/svg" \
xmlns:ev="http://www.w3.org/2001/xml-events" \
xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" \
xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd" \
xmlns:xlink="http://www.w3.org/1999/xlink"><defs /><metadata><rdf:RDF \
xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></metadata>
<g fill="none" id="layer1" inkscape:groupmode="layer" inkscape:label="1" stroke="#0000ff" \
style="display:inline"><path d="M37.795276,37.795276 L75.590551,37.795276 \
L75.590551,75.590551" /><polyline points="113.385827,37.795276 151.181102,75.590551" />\
</g></svg>
"""

INKSCAPE = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg width="148mm" height="105mm" viewBox="0 0 148 105" version="1.1" id="svg5"
   inkscape:version="1.2.2" sodipodi:docname="card.svg"
   xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
   xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"
   xmlns="http://www.w3.org/2000/svg" xmlns:svg="http://www.w3.org/2000/svg">
  <sodipodi:namedview id="namedview7" pagecolor="#ffffff" inkscape:document-units="mm" />
  <defs id="defs2" />
  <g inkscape:label="Layer 1" inkscape:groupmode="layer" id="layer1"
     transform="translate(-10,-20)">
    <path style="fill:none;stroke:#000000;stroke-width:0.264583px"
       d="m 20,30 c 10,0 10,10 20,10" id="path1" />
  </g>
  <g inkscape:label="Hidden" inkscape:groupmode="layer" id="layer2" style="display:none">
    <path d="M 0,0 H 100" id="path2" />
  </g>
</svg>
"""


def test_vpype_svg():
    drawing = read_svg(VPYPE)
    assert (drawing.width_mm, drawing.height_mm) == (148, 105)
    strokes = [np.round(s, 4).tolist() for s in drawing.strokes]
    assert strokes == [[[10, 10], [20, 10], [20, 20]], [[30, 10], [40, 20]]]


def test_inkscape_svg():
    drawing = read_svg(INKSCAPE)
    (path,) = drawing.strokes
    assert path[0].tolist() == pytest.approx([10, 10])
    assert path[-1].tolist() == pytest.approx([30, 20])
    assert len(path) > 3  # the curve is flattened


def test_rotated_group_keeps_geometry(make_svg):
    body = '<g transform="rotate(30 50 25)"><circle cx="50" cy="25" r="10"/></g>'
    (circle,) = read_svg(make_svg(body)).strokes
    assert np.hypot(*(circle - [50, 25]).T) == pytest.approx(10)
    assert math.isclose(circle[:, 0].max(), 60, abs_tol=0.02)
