"""Joined writing (fonts/cursive.py): where letters are left from, and that no connector
cuts through the ink of the letters it joins."""

from __future__ import annotations

import numpy as np
import pytest

from cards.formats import card_format
from cards.layout import JOIN_EM, CardText, layout_card
from fonts.catalog import load_font
from fonts.compose import directed_distance
from fonts.cursive import (
    UNJOINED_CAPITALS,
    _inside,
    connection_point,
    cursive_plan,
    plan_glyph,
    segment_clearance,
)
from fonts.model import Font, Glyph
from fonts.variation import Variation

SCRIPT = "hershey-script"
SMALL = "abcdefghijklmnopqrstuvwxyzäöüß"
CAPITALS = "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜ"
# Hershey Script's capitals (and ß) that school cursive joins and that end inside the
# letter: S and ß curl back into their bowls, C and E were written the wrong way round
CURLED = "CESß"
TRIM_X_HEIGHT = 0.1  # a connector's ends touch ink by design: this much of each is not checked
WORDS = ("Bestellung Chef Einkauf Frau Geduld Sie Team Grüße begrüßen Weiß Xaver Paket "
         "Ihre Dank Hallo Kaffee Liebe Müller Nachsicht Oskar Quelle Rücksendung Ursula "
         "Vertrauen Wir Yvonne Zeit Ärger Öl Über Erika Grüßen Sonnenschein Emma Straße "
         "Sarah Ersatzgerät")


@pytest.fixture(scope="module")
def script() -> Font:
    return load_font(SCRIPT)


def seg(*points: tuple[float, float]) -> np.ndarray:
    return np.array(points, dtype=np.float64)


# ---------------------------------------------------------------- segment_clearance


def test_a_crossing_segment_has_no_clearance() -> None:
    assert segment_clearance(np.array([0.0, 0.0]), np.array([1.0, 0.0]),
                             [seg((0.5, -1.0), (0.5, 1.0))]) == 0.0


def test_a_segment_touching_ink_has_no_clearance() -> None:
    assert segment_clearance(np.array([0.0, 0.0]), np.array([1.0, 0.0]),
                             [seg((0.5, 0.0), (0.5, 1.0))]) == 0.0


def test_clearance_is_the_nearest_distance() -> None:
    p, q = np.array([0.0, 0.0]), np.array([1.0, 0.0])
    assert segment_clearance(p, q, [seg((0.2, 0.3), (0.8, 0.5))]) == pytest.approx(0.3)
    assert segment_clearance(p, q, [seg((1.3, 0.4))]) == pytest.approx(0.5)  # a dot
    assert segment_clearance(p, q, [seg((1.5, 0.0), (2.0, 0.0))]) == pytest.approx(0.5)  # in line
    assert segment_clearance(p, q, [seg((0.5, 0.0), (2.0, 0.0))]) == 0.0  # in line, overlapping
    assert segment_clearance(p, q, []) == np.inf


# ---------------------------------------------------------------- plans


@pytest.mark.parametrize("name", ["hershey-script", "allure"])
def test_every_letter_is_drawn_whole(name: str) -> None:
    """Joining reorders and retraces a letter's strokes but loses none of its ink."""
    font = load_font(name)
    for char in SMALL + CAPITALS:
        for glyph in font.alternates(char):
            plan = cursive_plan(font, glyph)
            drawn = ([plan.body] if plan.body is not None else []) + list(plan.marks)
            assert directed_distance(glyph.strokes, drawn) < 0.01, char


@pytest.mark.parametrize("char", CURLED + "ÉÈÊË")
def test_a_curled_letter_is_left_from_its_outer_right(script: Font, char: str) -> None:
    """C E S ß end low on the letter's right, the way back along the curl lying on the
    letter's own ink, and the line to the next letter crosses none of it."""
    glyph = script.glyph(char)
    plan = cursive_plan(script, glyph)
    end = plan.body[-1]
    target = connection_point(script) + (glyph.advance, 0.0)
    assert -script.metrics.x_height <= end[1] <= 0.02  # between baseline and x-height
    assert directed_distance([plan.body], glyph.strokes) < 0.005  # retraced, not redrawn
    gap = target - end
    length = float(np.hypot(*gap))
    assert 0.0 < gap[0] and length < 0.5
    assert segment_clearance(end + gap * (0.01 / length), target, glyph.strokes) > 0.0


@pytest.mark.parametrize("char", sorted(UNJOINED_CAPITALS))
def test_capitals_a_hand_does_not_join_keep_their_ends(script: Font, char: str) -> None:
    """B D F G O P T V W end where the font ends a stroke: no way back to another exit (a
    connector from P's stem would read as R's leg, from T's or F's as a crossbar)."""
    glyph = script.glyph(char)
    plan = cursive_plan(script, glyph)
    ends = np.array([p for s in glyph.strokes for p in (s[0], s[-1])])
    assert np.hypot(*(ends - plan.body[-1]).T).min() < 1e-9


CURL = seg((0.1, -0.6), (0.1, 0.0), (0.4, 0.0), (0.5, -0.15), (0.4, -0.3), (0.15, -0.3))


def curled(char: str) -> Glyph:
    """A stem and a bowl that curls back in to end inside the letter (em, y down)."""
    return Glyph(char=char, strokes=(CURL,), advance=0.6)


def test_a_capital_that_ends_inside_goes_back_to_its_outer_side() -> None:
    """The pen goes back along the curl, on its own ink, to the first point on the bowl's
    right from which the line to the next letter is clear, and leaves from there."""
    entry = np.array([0.0, -0.15])
    plan = plan_glyph(curled("S"), entry, x_height=0.3)
    np.testing.assert_array_equal(plan.body[: len(CURL)], CURL)  # drawn as the font has it
    np.testing.assert_array_equal(plan.body[len(CURL)], [0.4, -0.3])  # back along the curl
    end = plan.body[-1]
    assert len(plan.body) == len(CURL) + 2 and end[0] > 0.4 and -0.3 < end[1] < 0.0
    assert directed_distance([plan.body], [CURL]) < 0.005  # the way back lies on the ink
    assert segment_clearance(end + (0.01, 0.0), entry + (0.6, 0.0), [CURL]) > 0


@pytest.mark.parametrize("char", ["b", "8", "&", "B", "Ğ"])
def test_small_letters_signs_and_unjoined_capitals_keep_their_ends(char: str) -> None:
    """A script's small letters end where its designer joined them; digits and signs do
    not join at all, nor do B, G (with or without an accent) and the other capitals a hand
    leaves unjoined: none is taken back to another way out."""
    plan = plan_glyph(curled(char), np.array([0.0, -0.15]), x_height=0.3)
    assert len(plan.body) == len(CURL)


def test_short_connectors_cross_no_ink(script: Font) -> None:
    """Every letter followed by every small letter: where the gap from the letter's end to
    the next letter's start is short enough for the layout to join without looking
    (``JOIN_EM``), the straight connector crosses the ink of neither letter (em)."""
    crossing = []
    for first in SMALL + CAPITALS:
        glyph = script.glyph(first)
        plan = cursive_plan(script, glyph)
        if plan.body is None:
            continue
        end = plan.body[-1]
        for second in SMALL:
            after = script.glyph(second)
            follow = cursive_plan(script, after)
            shift = np.array([glyph.advance, 0.0])
            start = (follow.lead if follow.lead is not None else follow.body)[0] + shift
            gap = start - end
            length = float(np.hypot(*gap))
            if not 0.02 < length <= JOIN_EM:
                continue
            ink = [*glyph.strokes, *(s + shift for s in after.strokes)]
            if follow.lead is not None:
                ink.append(follow.lead + shift)
            trim = gap * (0.01 / length)
            if segment_clearance(end + trim, start - trim, ink) <= 0.0:
                crossing.append(first + second)
    assert crossing == []


# ---------------------------------------------------------------- as drawn on a card


def _drawn_connectors(font: Font, layout) -> list[tuple[str, np.ndarray, np.ndarray, list]]:
    """The connectors the layout drew: ``(pair, from, to, ink of both letters)`` in mm.

    Each glyph's points in ``layout.glyph_ink`` are its plan's lead, body and marks in
    that order; a connector is a step inside a drawn stroke from one letter's body end
    to the next letter's lead or body start."""
    letters = []
    for char, points in layout.glyph_ink:
        for glyph in font.alternates(char):
            plan = cursive_plan(font, glyph)
            parts = [("lead", plan.lead), ("body", plan.body)] + [("mark", m) for m in plan.marks]
            parts = [(kind, a) for kind, a in parts if a is not None]
            if sum(len(a) for _, a in parts) == len(points):
                pieces = np.split(points, np.cumsum([len(a) for _, a in parts])[:-1])
                named = {kind: piece for (kind, _), piece in zip(parts, pieces, strict=True)
                         if kind != "mark"}
                letters.append((char, named, pieces))
                break
        else:
            raise AssertionError(f"no form of {char!r} has {len(points)} points")
    found = []
    for (a, parts_a, ink_a), (b, parts_b, ink_b) in zip(letters, letters[1:], strict=False):
        if "body" not in parts_a:
            continue
        end = parts_a["body"][-1]
        starts = [parts_b[k][0] for k in ("lead", "body") if k in parts_b]
        for stroke in layout.drawing.strokes:
            for row in np.flatnonzero(np.all(np.abs(stroke[:-1] - end) < 1e-9, axis=1)):
                if any(np.all(np.abs(stroke[row + 1] - s) < 1e-9) for s in starts):
                    found.append((a + b, end, stroke[row + 1], ink_a + ink_b))
    return found


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_drawn_connectors_cross_no_ink(script: Font, strength: float) -> None:
    """On a card, varied or not, no connector crosses the ink of the two letters it joins,
    leaving aside a tenth of the x-height at each end, where it meets them by design."""
    crossing, joined = [], 0
    for word in WORDS.split():
        layout = layout_card(CardText(body=word), script, card_format("dl"), seed=7,
                             variation=Variation(strength=strength))
        trim_mm = TRIM_X_HEIGHT * layout.x_height_mm
        for pair, p, q, ink in _drawn_connectors(script, layout):
            joined += 1
            gap = q - p
            length = float(np.hypot(*gap))
            if length <= 2 * trim_mm:
                continue
            trim = gap * (trim_mm / length)
            if segment_clearance(p + trim, q - trim, ink) <= 0.0:
                crossing.append(f"{pair} in {word}")
    assert joined > 150
    assert crossing == []


def test_capitals_and_eszett_join_the_next_letter(script: Font) -> None:
    """C, E, S and ß no longer cost a pen lift: the word is one stroke plus its marks
    (umlaut dots, i dots, t crossings)."""
    for word, marks in [("Chef", 0), ("Einkauf", 1), ("Emma", 0), ("Sie", 1),
                        ("Sonnenschein", 1), ("begrüßen", 2), ("Straße", 1)]:
        layout = layout_card(CardText(body=word), script, card_format("dl"), seed=1,
                             variation=Variation(strength=0.0))
        assert layout.drawing.pen_lifts() == 1 + marks, word


# ---------------------------------------------------------------- closed bowls (EMS Allure)


@pytest.mark.parametrize("char", "oö")
def test_a_lead_in_never_cuts_across_a_closed_bowl(char: str) -> None:
    """Allure enters its o at the left: a straight lead-in from the previous letter to the
    top of the bowl would run through it and turn the o into an ø. The lead-in goes over
    the top instead, so none of its points lies inside the bowl."""
    font = load_font("allure")
    glyph = font.glyphs[char][0]
    plan = cursive_plan(font, glyph)
    assert plan.lead is not None and plan.body is not None
    bowl = max(glyph.strokes, key=len)
    inner = plan.lead[1:-1]  # its ends touch the ink by design
    samples = np.concatenate([inner, (plan.lead[:-1] + plan.lead[1:]) / 2])
    assert not any(_inside(p, bowl) for p in samples)


@pytest.mark.parametrize("word", ["o", "oo", "vo", "on", "no"])
def test_allure_writes_an_o_with_its_neighbours_in_one_stroke(word: str) -> None:
    """An o of Allure is one stroke, its bowl and its tail (they meet 0.035 em apart), and
    joins the letters before and after it: these words are written without lifting, at
    any seed."""
    font = load_font("allure")
    for seed in range(1, 6):
        layout = layout_card(CardText(body=word), font, card_format("dl"), seed=seed)
        assert layout.drawing.pen_lifts() == 1, (word, seed)
