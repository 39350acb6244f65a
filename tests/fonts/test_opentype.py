"""The OpenType reader on small single-line fonts built here with fontTools' FontBuilder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.basePen import AbstractPen
from fontTools.pens.boundsPen import ControlBoundsPen
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from hypothesis import given, settings
from hypothesis import strategies as st

from fonts.opentype import (
    Contour,
    OpenTypeFileError,
    Segment,
    contour_strokes,
    read_opentype,
    retraced_half,
)
from fonts.svgfont import FontFileError
from tests.fonts.test_pens import cubic, distances_to_polyline, quadratic

SAMPLES = np.linspace(0.0, 1.0, 401)
UPM = 1000
Draw = Callable[[AbstractPen], None]

# the true curves of the test glyphs, in font units (y up), as (kind, points) segments
O_QUAD_CORNERS = [(100, 50), (500, 50), (500, 450), (100, 450)]  # TrueType: all off-curve
O_CUBIC = [  # PostScript: a circle of radius 200 around (300, 250), in four arcs
    ((300, 50), (410, 50), (500, 140), (500, 250)),
    ((500, 250), (500, 360), (410, 450), (300, 450)),
    ((300, 450), (190, 450), (100, 360), (100, 250)),
    ((100, 250), (100, 140), (190, 50), (300, 50)),
]
C_QUAD = ((500, 100), (300, -100), (100, 250))
C_CUBIC = ((500, 100), (400, -50), (100, -50), (100, 250))


def line_glyph(*points: tuple[float, float]) -> Draw:
    """A drawing of a closed contour through ``points``."""

    def draw(pen: AbstractPen) -> None:
        pen.moveTo(points[0])
        for point in points[1:]:
            pen.lineTo(point)
        pen.closePath()

    return draw


def o_glyph(cubic_outlines: bool) -> Draw:
    """A ring that does not retrace: the closed loop of an ``o``."""

    def draw(pen: AbstractPen) -> None:
        if cubic_outlines:
            pen.moveTo(O_CUBIC[0][0])
            for segment in O_CUBIC:
                pen.curveTo(*segment[1:])
        else:
            pen.qCurveTo(*O_QUAD_CORNERS, None)
        pen.closePath()

    return draw


def c_glyph(cubic_outlines: bool) -> Draw:
    """A curved stroke stored as a contour that runs out along it and back."""

    def draw(pen: AbstractPen) -> None:
        if cubic_outlines:
            pen.moveTo(C_CUBIC[0])
            pen.curveTo(*C_CUBIC[1:])
            pen.curveTo(*C_CUBIC[::-1][1:])
        else:
            pen.moveTo(C_QUAD[0])
            pen.qCurveTo(*C_QUAD[1:])
            pen.qCurveTo(*C_QUAD[::-1][1:])
        pen.closePath()

    return draw


def glyph_drawings(cubic_outlines: bool) -> dict[str, tuple[int, Draw | None]]:
    """Glyph name → (advance, drawing) of the test font."""
    return {
        ".notdef": (500, None),
        "space": (300, None),
        # a stroke from the baseline up, retraced: (100, 0) -> (100, 700) -> (100, 0)
        "l": (200, line_glyph((100, 0), (100, 700), (100, 0))),
        # a slanted stroke whose way back is the contour's implied closing line
        "l.salt": (250, line_glyph((0, 0), (200, 700))),
        # two segments retraced, starting at the corner, i.e. in the stroke's middle
        "L": (550, line_glyph((100, 0), (500, 0), (100, 0), (100, 700))),
        "o": (600, o_glyph(cubic_outlines)),
        "o.ss01": (600, line_glyph((300, 0), (300, 500))),
        "o.sc": (500, line_glyph((300, 0), (300, 400))),
        "c": (600, c_glyph(cubic_outlines)),
        "a": (500, line_glyph((100, 0), (400, 500))),
        "a.cv01": (500, line_glyph((100, 0), (100, 500))),
        "a.cv02": (500, line_glyph((100, 250), (400, 250))),
        "x": (500, line_glyph((0, 0), (400, 450))),
        "H": (500, line_glyph((0, 0), (0, 650))),
    }


CMAP = {ord(" "): "space", ord("l"): "l", ord("L"): "L", ord("o"): "o", ord("c"): "c",
        ord("a"): "a", ord("x"): "x", ord("H"): "H"}

FEATURES = """
languagesystem DFLT dflt;
feature aalt { feature salt; feature ss01; } aalt;
feature salt { sub l by l.salt; } salt;
feature ss01 { sub o by o.ss01; } ss01;
feature cv01 { sub a from [a.cv01 a.cv02]; } cv01;
feature smcp { sub o by o.sc; } smcp;
"""


def left_bearing(draw: Draw | None) -> int:
    """The glyph's xMin, which TrueType wants as its left side bearing in hmtx."""
    if draw is None:
        return 0
    pen = ControlBoundsPen(None)
    draw(pen)
    return 0 if pen.bounds is None else round(pen.bounds[0])


def build_font(path: Path, *, cubic_outlines: bool, features: str | None = FEATURES,
               upm: int = UPM, composite: bool = False) -> Path:
    """Write a small single-line font: CFF (cubic) when ``cubic_outlines``, else glyf."""
    drawings = glyph_drawings(cubic_outlines)
    order = list(drawings)
    cmap = dict(CMAP)
    if composite:
        order.append("k")
        cmap[ord("k")] = "k"
    builder = FontBuilder(upm, isTTF=not cubic_outlines)
    builder.setupGlyphOrder(order)
    builder.setupCharacterMap(cmap)
    metrics = {name: (advance, left_bearing(draw)) for name, (advance, draw) in drawings.items()}
    if cubic_outlines:
        charstrings = {}
        for name, (advance, draw) in drawings.items():
            pen = T2CharStringPen(advance, None)
            if draw is not None:
                draw(pen)
            # fontTools' CFF specializer sums a vertical (or horizontal) line and its way
            # back into one zero-length line, destroying retraced strokes: don't optimise
            charstrings[name] = pen.getCharString(optimize=False)
        builder.setupCFF("TestSingleLine", {"FullName": "Test Single Line"}, charstrings, {})
    else:
        glyphs = {}
        for name, (_, draw) in drawings.items():
            pen = TTGlyphPen(None)
            if draw is not None:
                draw(pen)
            glyphs[name] = pen.glyph()
        if composite:
            pen = TTGlyphPen(glyphs)
            pen.addComponent("l", (1, 0, 0, 1, 50, 0))
            glyphs["k"] = pen.glyph()
            metrics["k"] = (300, 150)
        builder.setupGlyf(glyphs)
    builder.setupHorizontalMetrics(metrics)
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Test Single Line", "styleName": "Regular",
                            "psName": "TestSingleLine-Regular",
                            "licenseDescription": "SIL Open Font License 1.1\nsecond line"})
    builder.setupOS2(sTypoAscender=800, sTypoDescender=-200, sxHeight=480, sCapHeight=690,
                     version=2)
    builder.setupPost()
    if features:
        builder.addOpenTypeFeatures(features)
    builder.save(str(path))
    return path


@pytest.fixture(params=["ttf", "otf"])
def font_path(request, tmp_path: Path) -> Path:
    """The test font as TrueType (quadratic glyf) and as CFF (cubic) OpenType."""
    cubic_outlines = request.param == "otf"
    return build_font(tmp_path / f"single.{request.param}", cubic_outlines=cubic_outlines)


def is_closed(stroke: np.ndarray) -> bool:
    return bool(np.allclose(stroke[0], stroke[-1]))


def test_a_retraced_contour_is_one_open_stroke(font_path: Path) -> None:
    font = read_opentype(font_path)
    (stroke,) = font.glyph("l").strokes
    assert not is_closed(stroke)
    # em units with y down: the top of the stroke is at y = -0.7
    assert sorted(map(tuple, stroke.tolist())) == [(0.1, -0.7), (0.1, 0.0)]


def test_a_retrace_closed_by_the_implied_line_is_one_stroke(font_path: Path) -> None:
    (stroke,) = read_opentype(font_path).glyph("l", 1).strokes
    assert sorted(map(tuple, stroke.tolist())) == [(0.0, 0.0), (0.2, -0.7)]


def test_a_two_segment_stroke_starting_in_its_middle_is_one_stroke(font_path: Path) -> None:
    (stroke,) = read_opentype(font_path).glyph("L").strokes
    assert len(stroke) == 3
    np.testing.assert_allclose(stroke[1], [0.1, 0.0])  # the corner
    ends = sorted(map(tuple, stroke[[0, -1]].tolist()))
    assert ends == [(0.1, -0.7), (0.5, 0.0)]


@pytest.mark.parametrize("tolerance_mm, em_mm", [(0.01, 10.0), (0.1, 10.0), (0.02, 4.0)])
def test_a_retraced_curve_is_one_stroke_within_tolerance(font_path: Path, tolerance_mm: float,
                                                          em_mm: float) -> None:
    font = read_opentype(font_path, tolerance_mm=tolerance_mm, em_mm=em_mm)
    (stroke,) = font.glyph("c").strokes
    assert not is_closed(stroke)
    control = C_CUBIC if font_path.suffix == ".otf" else C_QUAD
    curve = (cubic(*control, SAMPLES) if len(control) == 4 else quadratic(*control, SAMPLES))
    curve = curve * [1 / UPM, -1 / UPM]
    tol_em = tolerance_mm / em_mm
    assert distances_to_polyline(curve, stroke).max() <= tol_em * (1 + 1e-9)
    assert distances_to_polyline(stroke, curve).max() <= tol_em
    ends = sorted(map(tuple, stroke[[0, -1]].round(9).tolist()))
    assert ends == [(0.1, -0.25), (0.5, -0.1)]


@pytest.mark.parametrize("tolerance_mm", [0.01, 0.05])
def test_a_ring_stays_a_closed_polyline_within_tolerance(font_path: Path,
                                                         tolerance_mm: float) -> None:
    font = read_opentype(font_path, tolerance_mm=tolerance_mm, em_mm=10.0)
    (stroke,) = font.glyph("o").strokes
    assert is_closed(stroke)
    if font_path.suffix == ".otf":
        curve = np.concatenate([cubic(*segment, SAMPLES) for segment in O_CUBIC])
    else:
        corners = O_QUAD_CORNERS
        mids = [tuple((np.add(corners[i - 1], corners[i])) / 2) for i in range(4)]
        curve = np.concatenate(
            [quadratic(mids[i], corners[i], mids[(i + 1) % 4], SAMPLES) for i in range(4)]
        )
    curve = curve * [1 / UPM, -1 / UPM]
    tol_em = tolerance_mm / 10.0
    # every point of the whole ring is near the polyline, so none of it was dropped
    assert distances_to_polyline(curve, stroke).max() <= tol_em * (1 + 1e-9)
    assert distances_to_polyline(stroke, curve).max() <= tol_em


def test_alternates_come_from_salt_ssnn_cvnn_and_aalt(font_path: Path) -> None:
    font = read_opentype(font_path)
    assert [g.name for g in font.alternates("l")] == ["l", "l.salt"]
    assert [g.name for g in font.alternates("a")] == ["a", "a.cv01", "a.cv02"]
    # smcp is not an alternate-form feature: o.sc is not offered
    assert [g.name for g in font.alternates("o")] == ["o", "o.ss01"]
    assert all(g.char == "o" for g in font.alternates("o"))
    assert [g.name for g in font.alternates("L")] == ["L"]


def test_a_font_without_gsub_has_one_form_per_character(tmp_path: Path) -> None:
    path = build_font(tmp_path / "plain.ttf", cubic_outlines=False, features=None)
    font = read_opentype(path)
    assert all(len(forms) == 1 for forms in font.glyphs.values())


def test_characters_and_advances_come_from_cmap_and_hmtx(font_path: Path) -> None:
    font = read_opentype(font_path)
    assert font.coverage() == frozenset(" lLocaxH")
    assert font.glyph(" ").is_blank
    assert font.glyph(" ").advance == pytest.approx(0.3)
    assert font.glyph("L").advance == pytest.approx(0.55)
    assert font.glyph("l", 1).advance == pytest.approx(0.25)


def test_names_licence_and_source(font_path: Path) -> None:
    font = read_opentype(font_path)
    assert font.name == "TestSingleLine-Regular"
    assert font.family == "Test Single Line"
    assert font.licence == "SIL Open Font License 1.1"
    assert font.source == font_path.name
    assert read_opentype(font_path, name="Shop Hand").name == "Shop Hand"


def test_metrics_are_measured_where_glyphs_exist_else_declared(font_path: Path) -> None:
    metrics = read_opentype(font_path).metrics
    assert metrics.x_height == pytest.approx(0.45)  # measured from x
    assert metrics.cap_height == pytest.approx(0.65)  # measured from H
    assert metrics.descent == pytest.approx(0.2)  # no descender glyphs: OS/2 typo descender
    assert metrics.ascent == pytest.approx(0.7)  # the top of l


def test_other_units_per_em_scale_to_em_units(tmp_path: Path) -> None:
    path = build_font(tmp_path / "big.ttf", cubic_outlines=False, upm=2000)
    font = read_opentype(path)
    (stroke,) = font.glyph("l").strokes
    assert sorted(map(tuple, stroke.tolist())) == [(0.05, -0.35), (0.05, 0.0)]
    assert font.glyph("L").advance == pytest.approx(0.275)


def test_composite_glyphs_are_decomposed(tmp_path: Path) -> None:
    path = build_font(tmp_path / "composite.ttf", cubic_outlines=False, composite=True)
    (stroke,) = read_opentype(path).glyph("k").strokes
    assert sorted(map(tuple, stroke.tolist())) == [(0.15, -0.7), (0.15, 0.0)]


@pytest.mark.parametrize("content", [b"", b"not a font at all", b"\x00\x01\x00\x00" + b"\x00" * 8])
def test_a_broken_file_raises_a_font_file_error_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken-font.otf"
    path.write_bytes(content)
    with pytest.raises(OpenTypeFileError, match="broken-font.otf") as caught:
        read_opentype(path)
    assert isinstance(caught.value, FontFileError)


def test_a_missing_file_raises_a_font_file_error(tmp_path: Path) -> None:
    with pytest.raises(FontFileError, match="nowhere.ttf"):
        read_opentype(tmp_path / "nowhere.ttf")


@pytest.mark.parametrize("bad", [{"tolerance_mm": 0.0}, {"em_mm": -1.0}])
def test_tolerance_and_em_must_be_positive(font_path: Path, bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="positive"):
        read_opentype(font_path, **bad)


# retrace detection on its own, in font units


def closed_contour(points: list[tuple[float, float]]) -> list[Segment]:
    """Line segments of the closed polygon through ``points``."""
    return [Segment((points[i], points[(i + 1) % len(points)])) for i in range(len(points))]


def test_a_return_off_by_rounding_still_counts_as_a_retrace() -> None:
    out = Segment(((0, 0), (300, 700)))
    back = Segment(((300.4, 699.6), (0.5, -0.5)))  # the way back, rounded differently
    assert retraced_half([out, back], 1.0) == (out,)
    assert retraced_half([out, back], 0.1) is None


def test_an_odd_number_of_segments_is_no_retrace() -> None:
    assert retraced_half(closed_contour([(0, 0), (300, 700), (300, 0)]), 1.0) is None


def test_a_retraced_curve_must_mirror_its_control_points() -> None:
    out = Segment(((0, 0), (0, 100), (100, 100), (100, 0)))
    back = Segment(((100, 0), (100, 100), (0, 100), (0, 0)))
    other = Segment(((100, 0), (100, -100), (0, -100), (0, 0)))  # a different way back
    assert retraced_half([out, back], 1.0) == (out,)
    assert retraced_half([out, other], 1.0) is None
    # a line back along a curve's chord is not the curve retraced either
    assert retraced_half([out, Segment(((100, 0), (0, 0)))], 1.0) is None


def test_a_lone_point_is_a_dot() -> None:
    (stroke,) = contour_strokes([Contour((5.0, 5.0), (), closed=True)], 1.0, 1.0)
    np.testing.assert_array_equal(stroke, [[5.0, 5.0]])


grid = st.integers(min_value=-500, max_value=500)


@settings(max_examples=200, deadline=None)
@given(path=st.lists(st.tuples(grid, grid), min_size=2, max_size=12, unique=True),
       rotation=st.integers(min_value=0, max_value=100))
def test_any_out_and_back_polyline_is_found_from_any_start(path, rotation) -> None:
    there_and_back = path + path[-2:0:-1]  # a b c d c b (closing back to a)
    segments = closed_contour(there_and_back)
    shift = rotation % len(segments)
    segments = segments[shift:] + segments[:shift]
    half = retraced_half(segments, 1.0)
    assert half is not None
    points = [half[0].points[0]] + [s.points[-1] for s in half]
    assert points in (path, path[::-1])
    (stroke,) = contour_strokes([Contour(segments[0].points[0], tuple(segments), True)],
                                1.0, 1.0)
    assert stroke.tolist() in ([list(p) for p in path], [list(p) for p in path[::-1]])


@settings(max_examples=200, deadline=None)
@given(polygon=st.lists(st.tuples(grid, grid), min_size=3, max_size=12, unique=True))
def test_a_polygon_with_distinct_corners_is_never_a_retrace(polygon) -> None:
    segments = closed_contour(polygon)
    assert retraced_half(segments, 1.0) is None
    (stroke,) = contour_strokes([Contour(polygon[0], tuple(segments), True)], 1.0, 1.0)
    assert is_closed(stroke) and len(stroke) == len(polygon) + 1
