"""The glyph table: every form's parts as flat arrays, and the spacing it measures."""

from __future__ import annotations

import numpy as np
import pytest

from fonts.catalog import font_names, load_font
from fonts.cursive import cursive_plan
from fonts.table import BODY, LEAD, MARK, STROKE, glyph_table, letter_room, optical_gaps


@pytest.mark.parametrize("name", font_names())
def test_every_form_is_its_parts_in_writing_order(name: str) -> None:
    font = load_font(name)
    table = glyph_table(font)
    assert glyph_table(font) is table  # cached
    for char in "aäiß€,":
        f = table.index[char][0]
        glyph = table.forms[f]
        parts = [table.points[a:a + n] for a, n in zip(
            table.part_start[table.part_first[f]:table.part_first[f] + table.part_count[f]],
            table.part_size[table.part_first[f]:table.part_first[f] + table.part_count[f]],
            strict=True)]
        kinds = table.part_kind[table.part_first[f]:table.part_first[f] + table.part_count[f]]
        assert sum(len(p) for p in parts) == table.size[f]
        if font.joined:
            plan = cursive_plan(font, glyph)
            expected = [a for a in (plan.lead, plan.body, *plan.marks) if a is not None]
            assert set(kinds.tolist()) <= {LEAD, BODY, MARK}
        else:
            expected = list(glyph.strokes)
            assert set(kinds.tolist()) == {STROKE}
        assert len(parts) == len(expected)
        for got, want in zip(parts, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_marks_are_numbered_and_letters_are_not() -> None:
    table = glyph_table(load_font("tech"))
    f = table.index["ä"][0]
    slots = table.slot[table.start[f]:table.start[f] + table.size[f]]
    assert (slots == -1).any() and {0, 1} <= set(slots.tolist())
    a = table.index["a"][0]
    assert (table.slot[table.start[a]:table.start[a] + table.size[a]] == -1).all()


def test_optical_gaps_average_the_facing_sides() -> None:
    right = np.array([[1.0, 1.0, np.nan, 0.5]])
    left = np.array([[0.2, np.nan, 0.0, 0.4]])
    # bands 0 and 3 have ink on both sides: (1.5 + 0.2 - 1.0 + 1.5 + 0.4 - 0.5) / 2
    assert optical_gaps(np.array([1.5]), right, left)[0] == pytest.approx(1.05)
    nothing = optical_gaps(np.array([1.0]), np.full((1, 4), np.nan), left)
    assert np.isnan(nothing[0])


def test_a_tight_pair_opens_and_a_wide_one_stays() -> None:
    font = load_font("tech")
    table = glyph_table(font)
    most = 0.2 * font.metrics.x_height

    def room(pair: str) -> float:
        first, second = (np.array([table.index[c][0]]) for c in pair)
        return float(letter_room(table, first, second, most)[0])

    assert room("nn") > 0.0  # two stems close together
    assert room("rw") == 0.0  # already wider than usual
    assert all(0.0 <= room(p) <= most for p in ("ll", "Ih", "10", "ee", "mm"))


@pytest.mark.parametrize("name", font_names())
def test_forms_of_a_text_are_its_characters_forms(name: str) -> None:
    table = glyph_table(load_font(name))
    text = "Grüße, „so“ – 10 € für Anna!"
    first, count = table.forms_of(text)
    assert [(int(f), int(n)) for f, n in zip(first, count, strict=True)] == [
        table.index[c] for c in text]
    with pytest.raises(KeyError):
        table.forms_of("ok \u4e2d")  # a character no bundled font has
    with pytest.raises(KeyError):
        table.forms_of("ok \U0001f600")  # beyond the table's code points
