"""Card layout: fitting, errors, determinism and what variation does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cards.formats import card_format
from cards.layout import CardText, TextTooLongError, layout_card
from fonts.catalog import font_names, load_font
from fonts.charset import UnsupportedCharactersError
from fonts.table import glyph_table
from fonts.variation import Variation

APOLOGY = CardText(
    greeting="Liebe Frau Müller,",
    body="es tut uns leid, dass Ihre Bestellung zu spät kam. Als Dankeschön für Ihre Geduld "
    "legen wir einen Gutschein über 10 € bei.",
    closing="Herzliche Grüße",
    signature="Ihr Blumenladen",
)


@pytest.mark.parametrize("name", font_names())
def test_ink_stays_on_the_writable_area(name: str, a6) -> None:
    layout = layout_card(APOLOGY, load_font(name), a6, seed=1)
    x0, y0, x1, y1 = layout.drawing.bounds()
    slack = 2.0  # descenders, swashes and margin wander may leave the area a little
    assert x0 >= a6.area_x_mm - slack and x1 <= a6.area_x_mm + a6.area_width_mm + slack
    assert y0 >= a6.area_y_mm - slack and y1 <= a6.area_y_mm + a6.area_height_mm + slack
    assert layout.drawing.width_mm == a6.width_mm and layout.drawing.height_mm == a6.height_mm


def test_same_seed_same_svg_other_seed_other_svg(font_named, a6) -> None:
    font = font_named("hershey-script")
    first = layout_card(APOLOGY, font, a6, seed=42).drawing.to_svg()
    again = layout_card(APOLOGY, font, a6, seed=42).drawing.to_svg()
    other = layout_card(APOLOGY, font, a6, seed=43).drawing.to_svg()
    assert first == again
    assert first != other


def test_autofit_takes_the_largest_size_that_fits(font_named, a6) -> None:
    font = font_named("tech")
    short = layout_card(CardText(body="Danke!"), font, a6, seed=1)
    assert short.x_height_mm == pytest.approx(a6.max_x_height_mm)
    longer = layout_card(CardText(body=" ".join([APOLOGY.body] * 3)), font, a6, seed=1)
    assert a6.min_x_height_mm <= longer.x_height_mm < a6.max_x_height_mm
    # one size step up would not fit: the layout really is the largest
    with pytest.raises(TextTooLongError):
        layout_card(CardText(body=" ".join([APOLOGY.body] * 3)), font, a6, seed=1,
                    x_height_mm=longer.x_height_mm + 0.1)


def test_text_too_long_says_by_how_much(font_named, a6) -> None:
    with pytest.raises(TextTooLongError) as info:
        layout_card(CardText(body=" ".join([APOLOGY.body] * 12)), font_named("tech"), a6, seed=1)
    error = info.value
    assert error.lines_needed > error.lines_fitting
    assert error.excess_lines == error.lines_needed - error.lines_fitting
    assert f"{error.lines_needed} lines" in str(error) and "too long" in str(error)
    assert "a6-landscape" in str(error)


def test_unsupported_characters_are_named_with_code_points(font_named, a6) -> None:
    with pytest.raises(UnsupportedCharactersError) as info:
        layout_card(CardText(body="Sorry 😀 and 漢字 and 😀"), font_named("allure"), a6, seed=1)
    message = str(info.value)
    assert "U+1F600" in message and "U+6F22" in message and "U+5B57" in message
    assert info.value.chars == ["😀", "漢", "字"]


def test_substitutions_keep_meaning(font_named, a6) -> None:
    plain = layout_card(CardText(body="10 € Rabatt"), font_named("tech"), a6, seed=3)
    nbsp = layout_card(CardText(body="10\u00a0€ Rabatt"), font_named("tech"), a6, seed=3)
    assert plain.drawing == nbsp.drawing


def test_empty_message_is_an_error(font_named, a6) -> None:
    with pytest.raises(ValueError, match="nothing to write"):
        layout_card(CardText(body="  \n "), font_named("tech"), a6, seed=1)


def _instances_of(font, a6, text: str, strength: float) -> list[np.ndarray]:
    """Ink of each 'e' written alone on its own card position: one card, text 'e e e'."""
    layout = layout_card(CardText(body=text), font, a6, seed=5,
                         variation=Variation(strength=strength))
    return list(layout.drawing.strokes)


def test_strength_zero_writes_the_font_as_drawn(font_named, a6) -> None:
    font = font_named("tech")
    strokes = _instances_of(font, a6, "o o o o", 0.0)
    assert len(strokes) == 4
    shapes = [s - s.mean(axis=0) for s in strokes]
    for shape in shapes[1:]:
        np.testing.assert_allclose(shape, shapes[0], atol=1e-9)


def test_default_variation_makes_every_instance_different(font_named, a6) -> None:
    font = font_named("tech")
    strokes = _instances_of(font, a6, " ".join(["o"] * 40), 1.0)
    shapes = np.array([s - s.mean(axis=0) for s in strokes])
    diff = shapes[:, None] - shapes[None, :]
    rms = np.sqrt((diff**2).sum(axis=3).mean(axis=2))
    off_diagonal = rms[~np.eye(len(shapes), dtype=bool)]
    assert off_diagonal.min() > 0.05


def test_baselines_and_margins_are_not_ruler_straight(font_named, a6) -> None:
    text = CardText(body="\n".join(["Hallo Welt"] * 8))
    layout = layout_card(text, font_named("tech"), a6, seed=11)
    starts = [s[:, 0].min() for s in layout.drawing.strokes]
    lefts = sorted(starts)[:8]
    assert np.ptp(lefts) > 0.1  # the left margin wanders


def test_joined_script_writes_a_word_in_one_stroke(font_named, a6) -> None:
    font = font_named("hershey-script")
    layout = layout_card(CardText(body="hallo wunder kommen"), font, a6, seed=2)
    assert len(layout.drawing.strokes) == 3  # no dots, no crossings: one stroke per word


def test_dots_come_after_their_word(font_named, a6) -> None:
    font = font_named("hershey-script")
    layout = layout_card(CardText(body="mini"), font, a6, seed=2)
    body, *dots = layout.drawing.strokes
    assert len(dots) == 2
    assert all(np.ptp(d, axis=0).max() < 0.5 for d in dots)
    assert all(d[:, 1].max() < body[:, 1].min() + 1.0 for d in dots)  # above the letters


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, name=st.sampled_from(["tech", "hershey-script"]))
def test_any_text_renders_or_fails_clearly(text: str, name: str) -> None:
    font = load_font(name)
    card = card_format("a6-landscape")
    try:
        layout = layout_card(CardText(body=text), font, card, seed=9)
    except UnsupportedCharactersError as error:
        assert error.chars and all(f"U+{ord(c):04X}" in str(error) for c in error.chars)
    except TextTooLongError as error:
        assert error.lines_needed > error.lines_fitting
    except ValueError as error:
        assert "nothing to write" in str(error)
    else:
        assert layout.drawing.point_count > 0
        for stroke in layout.drawing.strokes:
            assert np.isfinite(stroke).all()


def test_alternates_are_all_used(font_named, a6) -> None:
    font = font_named("tech")
    o = font.glyph("o")
    wide = o.transformed(np.array([[1.4, 0.0], [0.0, 1.0]]), advance=o.advance * 1.4)
    two = font.with_glyphs({"o": (o, wide)})
    layout = layout_card(CardText(body=" ".join(["o"] * 30)), two, a6, seed=4,
                         variation=Variation(strength=0.0))
    widths = {round(float(np.ptp(points[:, 0])), 1) for _, points in layout.glyph_ink}
    assert len(widths) == 2  # both forms appear, chosen by the seed


def _edge_gaps(layout, font) -> tuple[list[float], list[float]]:
    """Gaps (mm) between neighbouring letters' edge points on each line: inside words,
    and between words."""
    table = glyph_table(font)
    ink = iter(layout.glyph_ink)
    letters, words = [], []
    for line in layout.lines:
        previous, space = None, False
        for char in line.text:
            if char == " ":
                space = True
                continue
            _, points = next(ink)
            left, right = table.edge[table.index[char][0]]
            if left < 0:
                previous = None
                continue
            if previous is not None:
                (words if space else letters).append(float(points[left, 0] - previous))
            previous, space = points[right, 0], False
    return letters, words


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_print_hand_never_crowds_its_letters(font_named, a6, seed: int) -> None:
    """Varied letters keep at least the font's own gaps (turning or widening a letter
    moves its neighbours along), and word gaps stay clearly wider than letter gaps."""
    font = font_named("tech")
    plain = layout_card(APOLOGY, font, a6, seed=seed, variation=Variation(strength=0.0))
    varied = layout_card(APOLOGY, font, a6, seed=seed)
    assert plain.lines == varied.lines
    (drawn, _), (letters, words) = _edge_gaps(plain, font), _edge_gaps(varied, font)
    assert min(np.array(letters) - np.array(drawn)) >= -1e-9
    assert min(words) > 1.3 * max(letters)
