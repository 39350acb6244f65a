"""The SVG font reader: alternates, y flipped to em units, curves within tolerance, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fonts.svgfont import FontFileError, read_svg_font
from tests.fonts.test_pens import cubic, distances_to_polyline, quadratic

SAMPLES = np.linspace(0.0, 1.0, 401)

GLYPHS = """
<glyph unicode=" " glyph-name="space" horiz-adv-x="300" />
<glyph unicode="l" glyph-name="l" horiz-adv-x="200" d="M 100 0 L 100 700" />
<glyph unicode="a" glyph-name="a" d="M 100 0 L 500 500" />
<glyph unicode="a" glyph-name="a.alt" horiz-adv-x="450" d="M 100 0 L 100 500 M 100 250 L 400 250" />
<glyph unicode="c" glyph-name="c" horiz-adv-x="600" d="M 500 100 C 400 -50 100 -50 100 250 C 100 550 400 550 500 400" />
<glyph unicode="u" glyph-name="u" horiz-adv-x="600" d="M 100 500 Q 100 0 300 0 Q 500 0 500 500" />
<glyph unicode="o" glyph-name="o" horiz-adv-x="600" d="M 100 250 L 300 0 L 500 250 L 300 500 Z" />
<glyph unicode="fi" glyph-name="f_i" horiz-adv-x="500" d="M 0 0 L 500 500" />
<glyph glyph-name="nounicode" d="M 0 0 L 1 1" />
"""


def svg_font(glyphs: str = GLYPHS, *, face: str = 'units-per-em="1000" ascent="800" '
             'descent="-200" cap-height="700" x-height="500"', metadata: str = "") -> str:
    """The text of a small SVG font with ``glyphs`` inside."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.1">
<metadata>{metadata}</metadata>
<defs>
<font id="TestFont" horiz-adv-x="400">
<font-face font-family="Test Family" {face} />
<missing-glyph horiz-adv-x="400" />
{glyphs}
</font>
</defs>
</svg>
"""


@pytest.fixture
def write_font(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write an SVG font (text) into tmp_path and return its path."""

    def write(text: str | None = None, name: str = "test.svg") -> Path:
        path = tmp_path / name
        path.write_text(svg_font() if text is None else text, encoding="utf-8")
        return path

    return write


def test_names_family_and_source(write_font) -> None:
    font = read_svg_font(write_font())
    assert font.name == "TestFont"
    assert font.family == "Test Family"
    assert font.source == "test.svg"


def test_two_glyphs_for_one_character_are_two_alternates(write_font) -> None:
    font = read_svg_font(write_font())
    forms = font.alternates("a")
    assert [g.name for g in forms] == ["a", "a.alt"]
    assert [len(g.strokes) for g in forms] == [1, 2]
    assert font.glyph("a", 1) is forms[1]
    assert font.glyph("a", 2) is forms[0]  # wraps around


def test_coordinates_become_em_units_with_y_down(write_font) -> None:
    font = read_svg_font(write_font())
    (stroke,) = font.glyph("l").strokes
    np.testing.assert_allclose(stroke, [[0.1, 0.0], [0.1, -0.7]])
    assert font.glyph("l").advance == pytest.approx(0.2)


def test_advance_falls_back_to_the_fonts_default(write_font) -> None:
    font = read_svg_font(write_font())
    assert font.glyph("a", 0).advance == pytest.approx(0.4)
    assert font.glyph("a", 1).advance == pytest.approx(0.45)


def test_a_space_is_blank_with_its_advance(write_font) -> None:
    space = read_svg_font(write_font()).glyph(" ")
    assert space.is_blank
    assert space.advance == pytest.approx(0.3)


def test_ligatures_and_glyphs_without_unicode_are_skipped(write_font) -> None:
    font = read_svg_font(write_font())
    assert font.coverage() == frozenset(" lacuo")


def test_a_closed_subpath_stays_closed(write_font) -> None:
    (stroke,) = read_svg_font(write_font()).glyph("o").strokes
    np.testing.assert_allclose(stroke[0], stroke[-1])
    assert len(stroke) == 5


@pytest.mark.parametrize("tolerance_mm, em_mm", [(0.01, 10.0), (0.1, 10.0), (0.05, 3.0)])
def test_cubic_curves_are_flattened_within_tolerance(write_font, tolerance_mm, em_mm) -> None:
    font = read_svg_font(write_font(), tolerance_mm=tolerance_mm, em_mm=em_mm)
    (stroke,) = font.glyph("c").strokes
    tol_em = tolerance_mm / em_mm
    flip = np.array([1e-3, -1e-3])
    on_curve = np.concatenate([
        cubic((500, 100), (400, -50), (100, -50), (100, 250), SAMPLES) * flip,
        cubic((100, 250), (100, 550), (400, 550), (500, 400), SAMPLES) * flip,
    ])
    assert distances_to_polyline(on_curve, stroke).max() <= tol_em * (1 + 1e-9)
    # and the polyline's own points lie on the curve: flattening only samples it
    assert distances_to_polyline(stroke, on_curve).max() < tol_em


def test_quadratic_curves_are_flattened_within_tolerance(write_font) -> None:
    (stroke,) = read_svg_font(write_font(), tolerance_mm=0.02).glyph("u").strokes
    flip = np.array([1e-3, -1e-3])
    on_curve = np.concatenate([
        quadratic((100, 500), (100, 0), (300, 0), SAMPLES) * flip,
        quadratic((300, 0), (500, 0), (500, 500), SAMPLES) * flip,
    ])
    assert distances_to_polyline(on_curve, stroke).max() <= 0.002 * (1 + 1e-9)


def test_metrics_are_measured_from_the_glyphs_where_they_exist(write_font) -> None:
    glyphs = GLYPHS + """
<glyph unicode="x" d="M 0 0 L 400 450 M 0 450 L 400 0" />
<glyph unicode="H" d="M 0 0 L 0 650 M 400 0 L 400 650 M 0 325 L 400 325" />
<glyph unicode="p" d="M 0 450 L 0 -250" />
"""
    font = read_svg_font(write_font(svg_font(glyphs)))
    assert font.metrics.x_height == pytest.approx(0.45)
    assert font.metrics.cap_height == pytest.approx(0.65)
    assert font.metrics.descent == pytest.approx(0.25)
    # "l" reaches 0.7 em: the ascent is its top, above the capitals
    assert font.metrics.ascent == pytest.approx(0.7)


def test_declared_metrics_are_the_fallback(write_font) -> None:
    font = read_svg_font(write_font())
    assert font.metrics.x_height == pytest.approx(0.5)
    assert font.metrics.cap_height == pytest.approx(0.7)
    assert font.metrics.descent == pytest.approx(0.2)


def test_units_per_em_other_than_1000(write_font) -> None:
    text = svg_font('<glyph unicode="l" horiz-adv-x="1024" d="M 0 0 L 0 1536" />',
                    face='units-per-em="2048"')
    glyph = read_svg_font(write_font(text)).glyph("l")
    np.testing.assert_allclose(glyph.strokes[0], [[0, 0], [0, -0.75]])
    assert glyph.advance == pytest.approx(0.5)


def test_a_font_without_namespace_is_read(write_font) -> None:
    text = svg_font().replace(' xmlns="http://www.w3.org/2000/svg"', "")
    assert read_svg_font(write_font(text)).has("l")


def test_licence_line_comes_from_the_metadata(write_font) -> None:
    text = svg_font(metadata="Font: Test\nLicense: SIL Open Font License 1.1\nMore text")
    assert read_svg_font(write_font(text)).licence == "SIL Open Font License 1.1"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("<svg><font", "not a readable SVG file"),
        ("this is not xml at all", "not a readable SVG file"),
        ('<svg xmlns="http://www.w3.org/2000/svg"><path d="M 0 0"/></svg>', "no <font> element"),
        (svg_font(""), "no glyphs"),
        (svg_font('<glyph unicode="l" d="M 0 0 L 100"/>'), "unreadable path data"),
        (svg_font(face='units-per-em="0"'), "units-per-em must be positive"),
        (svg_font(face='units-per-em="big"'), "not a number"),
    ],
)
def test_broken_files_raise_font_file_error_naming_the_file(write_font, text, reason) -> None:
    path = write_font(text, name="broken-font.svg")
    with pytest.raises(FontFileError, match=reason) as caught:
        read_svg_font(path)
    assert "broken-font.svg" in str(caught.value)


def test_a_missing_file_raises_font_file_error(tmp_path: Path) -> None:
    with pytest.raises(FontFileError, match="nowhere.svg"):
        read_svg_font(tmp_path / "nowhere.svg")


def test_the_shipped_hershey_script_reads() -> None:
    path = Path(__file__).parents[2] / "fonts" / "data" / "HersheyScript1.svg"
    if not path.exists():
        pytest.skip("fonts/data/HersheyScript1.svg is not in this checkout")
    font = read_svg_font(path)
    assert font.has("a") and font.has("ä")
    top = font.glyph("H").bounds()
    assert top is not None and top[1] < 0  # capitals reach above the baseline: y < 0
