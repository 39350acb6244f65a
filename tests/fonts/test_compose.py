"""Composition of missing and broken glyphs, on small synthetic fonts built here."""

from __future__ import annotations

import numpy as np
import pytest

from fonts.compose import (
    borrow,
    broken_characters,
    complete_font,
    compose_marked,
    composed_characters,
    decompose,
    directed_distance,
    ellipsis,
    low_double_quote,
    mark_beside,
    mark_ink,
    measure_slant,
    shear,
    single_quote,
)
from fonts.model import Font, FontMetrics, Glyph

X_HEIGHT = 0.4  # em
CAP = 0.7  # em


def circle(cx: float, cy: float, r: float, n: int = 24) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n + 1)
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])


def tick(x: float, top: float, bottom: float) -> np.ndarray:
    return np.array([[x, top], [x - 0.01, bottom]])


def upright_shapes() -> dict[str, list[np.ndarray]]:
    """Strokes (em, y down) of a tiny upright sans."""
    xh, cap = X_HEIGHT, CAP
    return {
        "l": [np.array([[0.1, 0.0], [0.1, -cap]])],
        "I": [np.array([[0.1, 0.0], [0.1, -cap]])],
        "h": [np.array([[0.1, 0.0], [0.1, -cap]]),
              np.array([[0.1, -0.3], [0.3, -xh], [0.4, -0.3], [0.4, 0.0]])],
        "x": [np.array([[0.05, 0.0], [0.35, -xh]]), np.array([[0.05, -xh], [0.35, 0.0]])],
        "a": [circle(0.2, -xh / 2, xh / 2), np.array([[0.4, -xh], [0.4, 0.0]])],
        "c": [circle(0.2, -xh / 2, xh / 2)[3:22]],
        "A": [np.array([[0.0, 0.0], [0.25, -cap], [0.5, 0.0]]),
              np.array([[0.1, -0.25], [0.4, -0.25]])],
        "B": [np.array([[0.1, 0.0], [0.1, -cap], [0.4, -cap], [0.45, -0.55], [0.4, -0.38],
                        [0.1, -0.38], [0.45, -0.38], [0.5, -0.2], [0.45, 0.0], [0.1, 0.0]])],
        "S": [np.array([[0.4, -0.6], [0.1, -0.6], [0.1, -0.35], [0.4, -0.35], [0.4, 0.0],
                        [0.1, 0.0]])],
        "p": [np.array([[0.1, 0.2], [0.1, -xh]]), circle(0.25, -xh / 2, 0.15)],
        "o": [circle(0.2, -xh / 2, xh / 2)],
        ",": [np.array([[0.05, -0.03], [0.05, 0.0], [0.0, 0.08]])],
        ".": [np.array([[0.05, -0.02], [0.05, 0.0]])],
        "”": [tick(0.06, -0.7, -0.6), tick(0.14, -0.7, -0.6)],
        "“": [tick(0.05, -0.7, -0.6), tick(0.13, -0.7, -0.6)],
        "'": [tick(0.05, -0.7, -0.6)],
        "`": [np.array([[0.0, -0.7], [0.05, -0.65]])],
        "°": [circle(0.1, -0.6, 0.05)],
        "¨": [np.array([[0.05, -0.55], [0.05, -0.53]]), np.array([[0.15, -0.55], [0.15, -0.53]])],
        "¸": [np.array([[0.1, 0.0], [0.1, 0.05], [0.15, 0.08], [0.05, 0.12]])],
        "´": [np.array([[0.05, -0.5], [0.12, -0.58]])],
        " ": [],
    }


def make_font(shapes: dict[str, list[np.ndarray]], *, slant: float = 0.0, name: str = "test",
              extra: dict[str, list[np.ndarray]] | None = None) -> Font:
    """A font from ``shapes`` (em, y down), leaned by ``slant``; advances 0.5 em."""
    shapes = dict(shapes, **(extra or {}))
    glyphs = {
        char: (Glyph(char=char, strokes=shear(strokes, slant), advance=0.5),)
        for char, strokes in shapes.items()
    }
    metrics = FontMetrics(ascent=CAP, descent=0.2, cap_height=CAP, x_height=X_HEIGHT)
    return Font(name=name, family=name.title(), metrics=metrics, glyphs=glyphs)


@pytest.fixture
def font_factory():
    """Factory: a synthetic font, optionally slanted and with extra or replaced glyphs."""
    return make_font


@pytest.fixture
def donor() -> Font:
    """A donor with § Þ ð þ ß and twice the synthetic font's size (em)."""
    shapes = upright_shapes()
    big = {c: [s * 2 for s in strokes] for c, strokes in shapes.items()}
    big.update({
        "§": [np.array([[0.6, -1.3], [0.2, -1.3], [0.2, -0.7], [0.6, -0.7], [0.6, 0.1],
                        [0.2, 0.1]])],
        "Þ": [np.array([[0.2, 0.0], [0.2, -1.4]]), circle(0.4, -0.7, 0.3)],
        "þ": [np.array([[0.2, 0.4], [0.2, -1.4]]), circle(0.5, -0.4, 0.3)],
        "ð": [circle(0.4, -0.4, 0.4), np.array([[0.3, -1.2], [0.6, -1.0]])],
        "ß": [np.array([[0.2, 0.0], [0.2, -1.2], [0.5, -1.4], [0.8, -1.1], [0.5, -0.8],
                        [0.9, -0.4], [0.5, 0.0]])],
    })
    glyphs = {c: (Glyph(c, tuple(s), 1.0),) for c, s in big.items()}
    metrics = FontMetrics(ascent=2 * CAP, descent=0.4, cap_height=2 * CAP, x_height=2 * X_HEIGHT)
    return Font(name="donor", family="Donor", metrics=metrics, glyphs=glyphs)


def bounds(glyph: Glyph) -> tuple[float, float, float, float]:
    b = glyph.bounds()
    assert b is not None
    return b


# --- slant ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("slant", [0.0, 0.1, 0.25, 0.4])
def test_measure_slant_recovers_the_shear(font_factory, slant):
    assert measure_slant(font_factory(upright_shapes(), slant=slant)) == pytest.approx(slant, abs=0.01)


def test_measure_slant_of_a_font_without_stems_is_zero(font_factory):
    font = font_factory({".": upright_shapes()["."]})
    assert measure_slant(font) == 0.0


# --- marks -----------------------------------------------------------------------------------------

def test_decompose_knows_the_marks_the_fonts_draw():
    assert decompose("ä") == ("a", "\u0308")
    assert decompose("Ç") == ("C", "\u0327")
    assert decompose("ø") is None  # no decomposition
    assert decompose("ǖ") is None  # two marks


def test_a_missing_ring_letter_is_composed_above_the_base(font_factory):
    font = font_factory(upright_shapes())
    glyph = compose_marked(font, "å", slant=0.0)
    assert glyph is not None
    base_left, base_top, base_right, _ = bounds(font.glyph("a"))
    ink = mark_ink(font.with_glyphs({"å": (glyph,)}), "å")
    assert ink is not None
    (left, _), (right, bottom) = np.concatenate(ink).min(0), np.concatenate(ink).max(0)
    assert bottom < base_top
    assert (left + right) / 2 == pytest.approx((base_left + base_right) / 2, abs=0.01)
    assert glyph.advance == font.glyph("a").advance


def test_the_mark_goes_where_the_font_puts_its_other_marks(font_factory):
    # the font's ä puts the dieresis 0.1 em right of the a's centre: å's ring follows
    shapes = upright_shapes()
    top = -X_HEIGHT
    # the ¨ spans x 0.05..0.15 and has its bottom at y = -0.53
    dots = [s + (0.3 - 0.1, top - 0.1 + 0.53) for s in shapes["¨"]]
    font = font_factory(shapes, extra={"ä": shapes["a"] + dots})
    glyph = compose_marked(font, "å", slant=0.0)
    assert glyph is not None
    ring = glyph.strokes[-1]
    assert (ring[:, 0].min() + ring[:, 0].max()) / 2 == pytest.approx(0.3, abs=0.01)
    assert ring[:, 1].max() == pytest.approx(top - 0.1, abs=0.01)


def test_a_mark_on_a_slanted_letter_follows_the_slant(font_factory):
    slant = 0.3
    font = font_factory(upright_shapes(), slant=slant)
    glyph = compose_marked(font, "Å", slant=slant)
    assert glyph is not None
    ring = glyph.strokes[-1]
    a_left, a_top, a_right, a_bottom = bounds(font.glyph("A"))
    ring_mid_y = (ring[:, 1].min() + ring[:, 1].max()) / 2
    expected = (a_left + a_right) / 2 + slant * ((a_top + a_bottom) / 2 - ring_mid_y)
    assert (ring[:, 0].min() + ring[:, 0].max()) / 2 == pytest.approx(expected, abs=0.01)
    assert ring[:, 1].max() < a_top


def test_a_cedilla_hangs_below_the_base(font_factory):
    font = font_factory(upright_shapes())
    glyph = compose_marked(font, "ç", slant=0.0)
    assert glyph is not None
    cedilla = glyph.strokes[-1]
    assert cedilla[:, 1].min() >= bounds(font.glyph("c"))[3] - 1e-9


def test_a_big_ring_is_shrunk_to_fit(font_factory):
    font = font_factory(upright_shapes(), extra={"°": [circle(0.2, -0.6, 0.3)]})
    glyph = compose_marked(font, "å", slant=0.0)
    assert glyph is not None
    ring = glyph.strokes[-1]
    assert np.ptp(ring[:, 1]) <= 0.4 * X_HEIGHT + 1e-9


def test_no_composition_without_the_mark(font_factory):
    shapes = upright_shapes()
    del shapes["°"]
    assert compose_marked(font_factory(shapes), "å", slant=0.0) is None


# --- broken glyphs -----------------------------------------------------------------------------

def test_an_accented_letter_with_a_different_base_is_broken(font_factory):
    # an upright sans Å in a font whose A is something else, as in the Hershey scripts
    sans_a = [np.array([[0.0, 0.0], [0.2, -CAP], [0.4, 0.0]]), circle(0.2, -0.8, 0.05)]
    font = font_factory(upright_shapes(), extra={"Å": sans_a})
    assert "Å" in broken_characters(font)
    fixed = complete_font(font, donor=None)
    assert directed_distance(font.glyph("A").strokes, fixed.glyph("Å").strokes) < 1e-6
    assert "Å" in composed_characters(fixed)


def test_a_c_cedilla_without_its_cedilla_is_broken(font_factory):
    shapes = upright_shapes()
    font = font_factory(shapes, extra={"ç": shapes["c"]})
    assert broken_characters(font) == {"ç": "its ¸ is missing"}
    fixed = complete_font(font, donor=None)
    assert len(fixed.glyph("ç").strokes) == 2


def test_a_well_made_accented_letter_is_kept(font_factory):
    shapes = upright_shapes()
    ring = [s + (0.1, -0.08) for s in shapes["°"]]
    font = font_factory(shapes, extra={"å": shapes["a"] + ring})
    assert broken_characters(font) == {}
    assert complete_font(font, donor=None).glyph("å") is font.glyph("å")


def test_a_b_shaped_eszett_is_replaced_from_the_donor(font_factory, donor):
    shapes = upright_shapes()
    font = font_factory(shapes, extra={"ß": shapes["B"]})
    assert broken_characters(font) == {"ß": "it looks like a B"}
    fixed = complete_font(font, donor=donor)
    assert directed_distance(font.glyph("B").strokes, fixed.glyph("ß").strokes) > 0.05
    assert composed_characters(fixed)["ß"].startswith("replaced")


def test_redraw_forces_a_replacement(font_factory, donor):
    font = font_factory(upright_shapes(), extra={"§": [np.array([[0, 0], [0.1, -0.1]])]})
    fixed = complete_font(font, donor=donor, redraw="§")
    assert fixed.glyph("§") is not font.glyph("§")


# --- punctuation ---------------------------------------------------------------------------------

def test_low_double_quote_sits_at_the_baseline(font_factory):
    font = font_factory(upright_shapes())
    glyph = low_double_quote(font, slant=0.0)
    assert glyph is not None
    _, top, _, bottom = bounds(glyph)
    _, c_top, _, c_bottom = bounds(font.glyph(","))
    assert (top + bottom) / 2 == pytest.approx((c_top + c_bottom) / 2)
    assert top > -0.5 * X_HEIGHT
    assert len(glyph.strokes) == len(font.glyph("”").strokes)


def test_single_quotes_are_one_mark_of_the_double_quotes(font_factory):
    font = font_factory(upright_shapes())
    right = single_quote(font, "’")
    left = single_quote(font, "‘")
    assert right is not None and left is not None
    assert len(right.strokes) == 1 and len(left.strokes) == 1
    assert bounds(right)[1] == pytest.approx(bounds(font.glyph("”"))[1])


def test_single_quote_falls_back_to_the_apostrophe(font_factory):
    shapes = upright_shapes()
    del shapes["”"]
    glyph = single_quote(font_factory(shapes), "’")
    assert glyph is not None
    assert np.array_equal(glyph.strokes[0], shapes["'"][0])


def test_ellipsis_is_three_periods(font_factory):
    font = font_factory(upright_shapes())
    glyph = ellipsis(font)
    assert glyph is not None
    assert len(glyph.strokes) == 3
    assert glyph.advance == pytest.approx(3 * font.glyph(".").advance)


# --- borrowing -------------------------------------------------------------------------------------

def test_borrowed_lowercase_is_fitted_to_the_x_height_and_ascender(font_factory, donor):
    font = font_factory(upright_shapes())
    glyph = borrow(font, donor, "þ", slant=0.0)
    assert glyph is not None
    _, top, _, bottom = bounds(glyph)
    assert top == pytest.approx(-CAP)
    assert bottom == pytest.approx(0.2)


def test_borrowed_capital_is_fitted_to_the_cap_height(font_factory, donor):
    glyph = borrow(font_factory(upright_shapes()), donor, "Þ", slant=0.0)
    assert glyph is not None
    assert bounds(glyph)[1] == pytest.approx(-CAP)
    assert bounds(glyph)[3] == pytest.approx(0.0)


def test_borrowed_glyph_takes_the_font_slant(font_factory, donor):
    slant = 0.3
    font = font_factory(upright_shapes(), slant=slant)
    glyph = borrow(font, donor, "þ", slant=slant)
    assert glyph is not None
    lone = Font("t", "t", font.metrics, {"l": (glyph,)})
    assert measure_slant(lone, "l") == pytest.approx(slant, abs=0.01)


def test_borrow_needs_the_char_in_the_donor(font_factory, donor):
    assert borrow(font_factory(upright_shapes()), donor, "€", slant=0.0) is None


# --- the whole font ------------------------------------------------------------------------------

def test_complete_font_fills_the_gaps_and_notes_them(font_factory, donor):
    font = font_factory(upright_shapes())
    wanted = "„‚‘’…åÅçäÞþð§"
    fixed = complete_font(font, donor=donor, chars=wanted)
    assert fixed.missing(wanted) == []
    assert set(composed_characters(fixed)) == set(wanted)
    assert all(not fixed.glyph(c).is_blank for c in wanted)


def test_complete_font_is_pure(font_factory, donor):
    font = font_factory(upright_shapes())
    before = dict(font.glyphs)
    fixed = complete_font(font, donor=donor, chars="„åþ")
    assert dict(font.glyphs) == before and font.notes == ()
    assert fixed is not font
    assert fixed.glyph("a") is font.glyph("a")


def test_without_a_donor_unmakeable_characters_stay_missing(font_factory):
    fixed = complete_font(font_factory(upright_shapes()), donor=None, chars="§å")
    assert fixed.missing("§å") == ["§"]


def test_complete_font_of_a_complete_font_changes_nothing(font_factory, donor):
    font = font_factory(upright_shapes())
    fixed = complete_font(font, donor=donor, chars="abc")
    assert fixed.notes == ()
    assert fixed.glyphs == font.glyphs


def test_a_mark_beside_its_letter_is_broken_and_put_back(font_factory):
    # EMSTech's Ì: the grave wholly left of the I
    shapes = upright_shapes()
    grave = [np.array([[-0.3, -0.85], [-0.25, -0.8]])]
    font = font_factory(shapes, extra={"Ì": shapes["I"] + grave})
    assert broken_characters(font) == {"Ì": "its ` is beside the letter"}
    fixed = complete_font(font, donor=None, chars="Ì")
    ink = mark_ink(fixed, "Ì")
    assert ink is not None and mark_beside(shapes["I"], ink)
