"""The Hershey ``.jhf`` reader: records, wrapping, em units with y down, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fonts.hershey import HERSHEY_EM, HersheyFileError, read_jhf
from fonts.svgfont import FontFileError

DATA = Path(__file__).parent / "data"
CURSIVE = DATA / "cursive.jhf"


def encode(left: int, right: int, strokes: list[list[tuple[int, int]]],
           number: int = 12345) -> str:
    """One ``.jhf`` record (no line end) for a glyph in Hershey units."""
    body = chr(ord("R") + left) + chr(ord("R") + right)
    parts = ["".join(chr(ord("R") + x) + chr(ord("R") + y) for x, y in s) for s in strokes]
    body += " R".join(parts)
    return f"{number:5d}{len(body) // 2:3d}{body}"


def wrap(record: str, width: int = 72) -> str:
    """A record broken into physical lines of ``width`` characters, as old files are."""
    return "\n".join(record[i : i + width] for i in range(0, len(record), width))


@pytest.fixture
def write_jhf(tmp_path: Path) -> Callable[[str], Path]:
    """Factory: write ``.jhf`` text into tmp_path and return its path."""

    def write(text: str, name: str = "test.jhf") -> Path:
        path = tmp_path / name
        path.write_bytes(text.encode("latin-1"))
        return path

    return write


# "A" of a simplex Roman: apex at (0, -12), feet at (-8, 9) and (8, 9), bar at y = 2
A_STROKES = [[(0, -12), (-8, 9)], [(0, -12), (8, 9)], [(-5, 2), (5, 2)]]


def test_a_record_becomes_a_glyph_in_em_units_with_the_origin_at_the_left_bound(write_jhf):
    text = encode(-8, 8, []) + "\n" + encode(-9, 9, A_STROKES, number=501) + "\n"
    font = read_jhf(write_jhf(text))
    space, a = font.glyph(" "), font.glyph("!")
    assert space.is_blank
    assert space.advance == pytest.approx(16 / 32)
    assert a.advance == pytest.approx(18 / 32)
    assert a.name == "501"
    # x shifted by -left = +9, y by -9 (the baseline), both divided by 32
    expected = [np.array(s, dtype=float) for s in A_STROKES]
    expected = [(s + [9, -9]) / 32 for s in expected]
    assert len(a.strokes) == 3
    for got, want in zip(a.strokes, expected, strict=True):
        np.testing.assert_allclose(got, want)
    # y down: the apex is above the baseline, so negative; the feet sit on y = 0
    assert a.bounds() == pytest.approx((1 / 32, -21 / 32, 17 / 32, 0.0))


def test_glyphs_map_to_ascii_in_file_order(write_jhf):
    text = "\n".join(encode(-5, 5, [[(0, 0), (1, 1)]]) for _ in range(5))
    font = read_jhf(write_jhf(text))
    assert sorted(font.coverage()) == [" ", "!", '"', "#", "$"]


def test_the_cursive_file_reads_as_printable_ascii():
    font = read_jhf(CURSIVE)
    assert font.coverage() == frozenset(chr(c) for c in range(32, 128))
    assert font.name == font.family == "cursive"
    assert font.source == "cursive.jhf"
    assert "Hershey" in font.licence
    # Hershey capitals are 21 units tall, the script's x-height 9, descenders 12
    assert font.metrics.cap_height == pytest.approx(21 / HERSHEY_EM)
    assert font.metrics.x_height == pytest.approx(9 / HERSHEY_EM)
    assert font.metrics.descent == pytest.approx(12 / HERSHEY_EM)
    for char in "AHbx":
        bounds = font.glyph(char).bounds()
        assert bounds is not None and bounds[3] == pytest.approx(0.0)  # on the baseline
    g = font.glyph("g").bounds()
    assert g is not None and g[3] > 0  # the descender hangs below it: y down


def test_the_name_can_be_given():
    font = read_jhf(CURSIVE, name="Hershey Cursive")
    assert font.name == font.family == "Hershey Cursive"


def test_wrapped_records_read_like_unwrapped_ones(write_jhf):
    records = [line for line in CURSIVE.read_text("latin-1").splitlines() if line]
    unwrapped = read_jhf(CURSIVE)
    wrapped = read_jhf(write_jhf("\n".join(wrap(r) for r in records) + "\n"))
    assert any(len(r) > 72 for r in records)  # some records really are wrapped
    assert wrapped.coverage() == unwrapped.coverage()
    for char in unwrapped.coverage():
        a, b = unwrapped.glyph(char), wrapped.glyph(char)
        assert a.advance == b.advance
        assert len(a.strokes) == len(b.strokes)
        for sa, sb in zip(a.strokes, b.strokes, strict=True):
            np.testing.assert_array_equal(sa, sb)


def test_crlf_line_ends_are_accepted(write_jhf):
    text = encode(-8, 8, []) + "\r\n" + encode(-9, 9, A_STROKES) + "\r\n"
    font = read_jhf(write_jhf(text))
    assert len(font.glyph("!").strokes) == 3


def test_the_acknowledgement_travels_with_the_test_data():
    text = (DATA / "HERSHEY-LICENCE.txt").read_text(encoding="utf-8")
    assert "Dr." in text and "A. V. Hershey" in text and "James Hurt" in text


hershey_coordinate = st.integers(min_value=-40, max_value=40)
stroke = st.lists(st.tuples(hershey_coordinate, hershey_coordinate), min_size=1, max_size=30)


@settings(max_examples=100, deadline=None)
@given(left=st.integers(-40, 0), width=st.integers(0, 40),
       strokes=st.lists(stroke, max_size=6), line_width=st.sampled_from([10, 72, 1000]))
def test_any_record_round_trips(tmp_path_factory, left, width, strokes, line_width):
    path = tmp_path_factory.mktemp("jhf") / "random.jhf"
    path.write_bytes(wrap(encode(left, left + width, strokes), line_width).encode("latin-1"))
    glyph = read_jhf(path).glyph(" ")
    assert glyph.advance == pytest.approx(width / HERSHEY_EM)
    assert len(glyph.strokes) == len(strokes)
    for got, want in zip(glyph.strokes, strokes, strict=True):
        back = got * HERSHEY_EM + [left, 9]
        np.testing.assert_allclose(back, np.array(want, dtype=float), atol=1e-9)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("12345abcJZ\n", "vertex count 'abc' is not a number"),
        ("12345  0\n", "at least 1"),
        ("12345  4JZRFJ[\n", "3 of 4 vertex pairs"),
        ("12345  1JZRF\n", "characters after"),
        ("\n\n", "no glyphs"),
    ],
)
def test_malformed_files_raise_a_font_file_error_naming_the_file(write_jhf, text, reason):
    path = write_jhf(text, name="broken.jhf")
    with pytest.raises(HersheyFileError, match=reason) as caught:
        read_jhf(path)
    assert isinstance(caught.value, FontFileError)
    assert "broken.jhf" in str(caught.value)


def test_a_missing_file_raises_a_font_file_error(tmp_path: Path):
    with pytest.raises(FontFileError, match="nowhere.jhf"):
        read_jhf(tmp_path / "nowhere.jhf")
