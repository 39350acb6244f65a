"""Word wrap and hyphenation (widths in em; here one character = 1 em for clarity)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards.wrap import UnknownLanguageError, hard_lines, hyphenate, wrap_blocks, wrap_paragraph


def measure(text: str) -> float:
    return float(len(text))


def test_greedy_wrap_keeps_lines_within_width() -> None:
    words = "es tut uns wirklich leid dass Ihre Bestellung so spät kam".split()
    lines = wrap_paragraph(words, 20, measure, 1, "de")
    assert all(len(line) <= 20 for line in lines)
    unbroken = " ".join(lines).replace("- ", "")
    assert unbroken == " ".join(words)


def test_german_compound_is_hyphenated_at_a_dictionary_point() -> None:
    lines = wrap_paragraph(["Die", "Kundenzufriedenheitsumfrage"], 16, measure, 1, "de")
    assert lines[0].endswith("-") and len(lines[0]) <= 16
    joined = lines[0][:-1].split(" ")[-1] + lines[1].split(" ")[0]
    assert "Kundenzufriedenheitsumfrage".startswith(joined[:10])
    assert "".join(line.rstrip("-").replace("Die ", "") for line in lines) == (
        "Kundenzufriedenheitsumfrage")
    # the break is a real syllable boundary, not a cut between any two letters
    head = lines[0].split(" ")[-1][:-1]
    assert head in {"Kun", "Kunden", "Kundenzu", "Kundenzufrie", "Kundenzufriedenheits"} or head.startswith("Kunden")


def test_english_uses_the_english_dictionary() -> None:
    split = hyphenate("understanding", 7, measure, "en")
    assert split is not None
    head, tail = split
    assert head.endswith("-") and head[:-1] + tail == "understanding"


def test_no_hyphenation_when_the_line_is_already_well_filled() -> None:
    lines = wrap_paragraph(["aaaaaaaaaaaaaaaa", "Entschuldigung"], 20, measure, 1, "de")
    assert lines == ["aaaaaaaaaaaaaaaa", "Entschuldigung"]


def test_word_longer_than_a_line_is_broken() -> None:
    lines = wrap_paragraph(["https://example.org/xyzxyzxyz"], 10, measure, 1, "de")
    assert all(len(line) <= 10 for line in lines)
    assert "".join(line[:-1] if line.endswith("-") else line for line in lines) == (
        "https://example.org/xyzxyzxyz")


def test_blocks_paragraphs_and_gaps() -> None:
    lines = wrap_blocks([("greeting", "Hallo,"), ("body", "eins zwei\n\ndrei\nvier"),
                         ("closing", "Grüße"), ("signature", "Anna")], 40, measure, 1, "de")
    assert [line.text for line in lines] == ["Hallo,", "eins zwei", "drei", "vier", "Grüße", "Anna"]
    assert [line.kind for line in lines] == ["greeting", "body", "body", "body", "closing",
                                             "signature"]
    assert lines[0].gap_before == 0 and lines[1].gap_before > 0 and lines[2].gap_before > 0
    assert lines[3].gap_before == 0  # a single newline is a line break, not a paragraph


def test_unknown_language() -> None:
    with pytest.raises(UnknownLanguageError, match="klingon"):
        hyphenate("Entschuldigung", 5, measure, "klingon")


@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüß", min_size=1, max_size=30),
                min_size=1, max_size=30), st.integers(min_value=4, max_value=60))
def test_any_words_wrap_within_width_and_keep_their_letters(words: list[str], width: int) -> None:
    lines = wrap_paragraph(words, width, measure, 1, "de")
    assert all(len(line) <= width for line in lines)
    letters = "".join(line[:-1] if line.endswith("-") else line for line in lines).replace(" ", "")
    assert letters == "".join(words)


def test_hard_lines_are_the_writers_breaks_with_their_gaps() -> None:
    blocks = [("greeting", "Liebe Anna,"), ("body", "erste Zeile\nzweite Zeile\n\n\nneuer Absatz"),
              ("closing", "Viele Grüße"), ("signature", "Ihr Team")]
    lines = hard_lines(blocks)
    assert [(line.text, line.kind, line.gap_before) for line in lines] == [
        ("Liebe Anna,", "greeting", 0.0), ("erste Zeile", "body", 0.6),
        ("zweite Zeile", "body", 0.0), ("neuer Absatz", "body", 0.45),
        ("Viele Grüße", "closing", 0.6), ("Ihr Team", "signature", 0.15)]
    # wrapped without a width limit, the blocks are exactly their hard lines
    assert wrap_blocks(blocks, float("inf"), len, 1.0, "de") == lines
