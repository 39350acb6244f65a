"""Every bundled font writes every required character, with plausible geometry
(em units, y down, baseline at 0).
"""

from __future__ import annotations

import numpy as np
import pytest

from fonts.catalog import font_names, load_font
from fonts.charset import REQUIRED_CHARACTERS
from fonts.compose import (
    BELOW_MARKS,
    MARK_SLACK_EM,
    base_strokes,
    composed_characters,
    decompose,
    eszett_looks_like_b,
    mark_ink,
    measure_slant,
)
from fonts.model import Font

FONTS = font_names()
MARKED = [c for c in dict.fromkeys(REQUIRED_CHARACTERS) if decompose(c)]


@pytest.fixture(params=FONTS)
def font(request) -> Font:
    return load_font(request.param)


def box(strokes) -> tuple[float, float, float, float]:
    points = np.concatenate(strokes)
    (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
    return float(left), float(top), float(right), float(bottom)


def test_every_required_character_has_ink(font):
    assert font.missing(REQUIRED_CHARACTERS) == []
    blank = [c for c in REQUIRED_CHARACTERS if c != " " and font.glyph(c).is_blank]
    assert blank == []
    for char in dict.fromkeys(REQUIRED_CHARACTERS):
        glyph = font.glyph(char)
        assert 0 < glyph.advance < 2, char
        if not glyph.is_blank:
            left, top, right, bottom = glyph.bounds()
            assert -1.2 < top <= bottom < 0.6, char  # within a generous line


def test_an_emoji_is_missing(font):
    assert font.missing("Danke 😀") == ["😀"]


def test_low_quotes_sit_at_the_baseline(font):
    x_height = font.metrics.x_height
    for char in "„‚":
        _, top, _, bottom = font.glyph(char).bounds()
        assert top > -0.5 * x_height, char
        assert bottom > -0.05, char


def test_high_quotes_sit_high(font):
    x_height = font.metrics.x_height
    for char in "“”‘’":
        _, _, _, bottom = font.glyph(char).bounds()
        assert bottom < -0.5 * x_height, char


def test_low_double_quote_is_the_high_one_moved_down(font):
    low, high = font.glyph("„"), font.glyph("”")
    assert len(low.strokes) == len(high.strokes)
    low_left, low_top, _, _ = low.bounds()
    shapes = [s - (low_left, low_top) for s in low.strokes]
    high_left, high_top, _, _ = high.bounds()
    # the same shape (up to the slant shift of the whole)
    for a, b in zip(shapes, [s - (high_left, high_top) for s in high.strokes], strict=True):
        assert np.allclose(a, b, atol=1e-9)


def test_ellipsis_is_three_dots_on_the_baseline(font):
    glyph = font.glyph("…")
    assert len(glyph.strokes) == 3 * len(font.glyph(".").strokes)
    _, top, _, _ = glyph.bounds()
    assert top > -0.5 * font.metrics.x_height


@pytest.mark.parametrize("char", MARKED)
def test_marks_sit_on_their_letters(font, char):
    """Every accented letter is the font's base letter plus a mark above it (below for
    a cedilla), within the base's horizontal span.
    """
    base_char, combining = decompose(char)
    ink = mark_ink(font, char)
    assert ink is not None, f"{char} is not {base_char} + mark"
    base = base_strokes(font, base_char)
    b_left, b_top, b_right, b_bottom = box(base)
    m_left, m_top, m_right, m_bottom = box(ink)
    if combining in BELOW_MARKS:
        assert m_bottom > b_bottom
    else:
        # the fonts' own marks may touch the letter; none may sit inside it
        assert m_top < b_top and (m_top + m_bottom) / 2 < b_top, char
    centre = (m_left + m_right) / 2
    assert b_left - MARK_SLACK_EM <= centre <= b_right + MARK_SLACK_EM


def test_composed_marks_are_clear_of_the_letter(font):
    for char in composed_characters(font):
        if not decompose(char) or decompose(char)[1] in BELOW_MARKS:
            continue
        _, b_top, _, _ = box(base_strokes(font, decompose(char)[0]))
        _, _, _, m_bottom = box(mark_ink(font, char))
        assert m_bottom < b_top, char


def test_ring_is_above_the_a(font):
    for letter, ringed in (("A", "Å"), ("a", "å")):
        _, a_top, _, _ = font.glyph(letter).bounds()
        ring = mark_ink(font, ringed)
        assert ring is not None
        assert box(ring)[3] < a_top + 0.01


def test_eszett_is_not_a_b(font):
    assert not eszett_looks_like_b(font)
    _, top, _, _ = font.glyph("ß").bounds()
    assert top < -font.metrics.x_height  # an ascender letter


def test_borrowed_glyphs_fit_the_metrics_and_slant(font):
    m = font.metrics
    slant = measure_slant(font)
    _, top, _, bottom = font.glyph("Þ").bounds()
    assert top == pytest.approx(-m.cap_height, abs=0.03) and bottom == pytest.approx(0, abs=0.03)
    _, top, _, bottom = font.glyph("þ").bounds()
    assert top < -m.x_height and bottom > 0.5 * m.descent
    lone = Font("t", "t", m, {"þ": (font.glyph("þ"),), "Þ": (font.glyph("Þ"),)})
    assert measure_slant(lone, "þÞ") == pytest.approx(slant, abs=0.05)


def test_hershey_script_ring_letters_are_replaced():
    made = composed_characters(load_font("hershey-script"))
    assert made["Å"].startswith("replaced") and made["å"].startswith("replaced")


def test_what_every_font_composes():
    for name in FONTS:
        made = composed_characters(load_font(name))
        assert set("„‚‘’…§Þðþ") <= set(made), name
