"""Card layout: a message becomes pen strokes on a card, in the job's handwriting.

The pipeline is pure: normalise the text and check every character against the font;
auto-fit (the largest handwriting size of the card format at which the wrapped text fits
the writable area); place glyphs with spacing jitter (tight letter pairs opened a little),
baseline drift and a wandering margin; vary every glyph (:mod:`fonts.variation`) and let
the spacing follow the varied letters' edges; join a cursive script's letters into one
pen-down stroke per word (:mod:`fonts.cursive`), its dots and crossings written after the
word. Output is a :class:`plotter.drawing.Drawing` in card mm.

The whole card is worked at once: every glyph form of the font is prepared once
(:mod:`fonts.table`), a card's characters become index arrays into it, and placing,
varying and cutting into strokes are a few numpy calls, not a Python loop per glyph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from cards.formats import CardFormat
from cards.wrap import Line, hard_lines, wrap_hard_lines
from fonts.charset import UnsupportedCharactersError, normalize_text
from fonts.model import Font
from fonts.table import MARK, GlyphTable, glyph_table, letter_room, ranges
from fonts.variation import (
    GlyphParams,
    Variation,
    deform,
    letter_gaps,
    sample_glyph_params,
    sample_line_params,
    shape_features,
    shape_metric,
    spacing_factors,
    unique_instances,
)
from plotter.drawing import Drawing

SIZE_STEP_MM = 0.05  # auto-fit resolution of the x-height, mm
RIGHT_RESERVE = 0.03  # share of the line width kept free for spacing jitter
# auto-fit's first guess loses this much of an average word at each wrapped line's end:
# on the examples and 300 random texts in every font and card format it hits the size
# exactly four times in five and is one step off otherwise
WRAP_LOSS = 0.4
JOIN_EM = 0.3  # a joined script connects letters whose exit and entry are this close (em)
REACH_EM = 0.8  # ... and further apart, up to this, where the connector crosses no ink (em)
# a varied hand opens letter pairs tighter than this much of the font's usual gap
# (Tesseract, like a reader, takes two close stems for one letter: "nn" for "m")
AIRY = 1.15


@dataclass(frozen=True)
class CardText:
    """What is written on a card; ``language`` picks the hyphenation dictionary."""

    body: str
    greeting: str = ""
    closing: str = ""
    signature: str = ""
    language: str = "de"

    def blocks(self) -> list[tuple[str, str]]:
        """``(kind, text)`` pairs in writing order, each normalised."""
        return list(self._blocks)

    @cached_property
    def _blocks(self) -> tuple[tuple[str, str], ...]:
        parts = [("greeting", self.greeting), ("body", self.body), ("closing", self.closing),
                 ("signature", self.signature)]
        return tuple((kind, normalize_text(text)) for kind, text in parts
                     if text and text.strip())


class TextTooLongError(ValueError):
    """The text does not fit the card even at the smallest handwriting size."""

    def __init__(self, card: CardFormat, x_height_mm: float, lines_needed: int,
                 lines_fitting: int, excess_chars: int) -> None:
        self.card = card.name
        self.x_height_mm = x_height_mm
        self.lines_needed = lines_needed
        self.lines_fitting = lines_fitting
        self.excess_lines = max(1, lines_needed - lines_fitting)
        self.excess_chars = excess_chars
        super().__init__(
            f"the text is too long for card format {card.name!r}: at the smallest handwriting "
            f"size ({x_height_mm:.2f} mm x-height) it needs {lines_needed} lines where "
            f"{lines_fitting} fit — {self.excess_lines} line(s), about {excess_chars} "
            f"characters, too long"
        )


@dataclass(frozen=True, eq=False)
class CardLayout:
    """A laid-out card: the drawing and what decided it."""

    drawing: Drawing
    x_height_mm: float
    lines: tuple[Line, ...]
    font: str
    card: str
    seed: int
    strength: float
    glyph_count: int
    word_count: int
    ink_chars: str = ""  # the character of each written glyph instance
    ink_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)), repr=False)
    ink_sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64),
                                  repr=False)  # points of each instance in ink_points

    @cached_property
    def glyph_ink(self) -> tuple[tuple[str, np.ndarray], ...]:
        """Each written glyph instance: its character and all its points in card mm (after
        variation, before letters are joined) — for checks of what variation did. Cut
        from one array when first asked for: a render never needs it."""
        return tuple(zip(self.ink_chars, _cut(self.ink_points, self.ink_sizes), strict=True))
    notes: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------- fitting


@lru_cache(maxsize=32)
def _measure(font: Font) -> Callable[[str], float]:
    """Width of a text in em as the wrap measures it, cached per text: the advances, and
    the room a hand opens tight letter pairs by at the default variation
    (:func:`fonts.table.letter_room`), so a line still fits once they open."""
    table = glyph_table(font)
    index, advance = table.index, table.advance
    most_em = Variation().letter_air_xh * font.metrics.x_height
    widths: dict[str, float] = {}

    def measure(text: str) -> float:
        width = widths.get(text)
        if width is None:
            known = [c for c in text if c in index]
            forms = np.array([index[c][0] for c in known], dtype=np.int64)
            width = float(advance[forms].sum())
            if len(forms) > 1:
                chars = np.array(known)
                inside = (chars[:-1] != " ") & (chars[1:] != " ")  # pairs within a word
                width += float(letter_room(table, forms[:-1], forms[1:], most_em, AIRY)[inside].sum())
            if len(widths) > 100_000:  # a long-running service sees many words
                widths.clear()
            widths[text] = width
        return width

    return measure


def _line_pitch_em(font: Font) -> float:
    m = font.metrics
    return min(max(m.ascent + m.descent, 2.7 * m.x_height), 3.4 * m.x_height)


def _fits(lines: list[Line], font: Font, em_mm: float, height_mm: float) -> tuple[bool, int]:
    """Whether ``lines`` fit ``height_mm`` at ``em_mm``, and how many lines would fit."""
    m = font.metrics
    pitch = _line_pitch_em(font) * em_mm
    needed = (m.cap_height + m.descent) * em_mm
    for i, line in enumerate(lines):
        if i:
            needed += pitch * (1.0 + line.gap_before)
    fitting = int(max(0.0, height_mm - (m.cap_height + m.descent) * em_mm) // pitch) + 1
    return needed <= height_mm, fitting


def fit_text(text: CardText, font: Font, card: CardFormat,
             x_height_mm: float | None = None) -> tuple[float, list[Line]]:
    """The largest x-height (mm, on the card format's grid) at which ``text`` fits, and
    its lines. With ``x_height_mm`` given, only that size is tried."""
    measure = _measure(font)
    space = measure(" ") or 0.3
    hard = hard_lines(text.blocks())  # the writer's line breaks: the same at every size
    width_mm = card.area_width_mm * (1.0 - RIGHT_RESERVE)

    def attempt(xh: float) -> tuple[bool, list[Line], int]:
        em_mm = xh / font.metrics.x_height
        try:
            lines = wrap_hard_lines(hard, width_mm / em_mm, measure, space, text.language)
        except ValueError:
            return False, [], 0
        ok, fitting = _fits(lines, font, em_mm, card.area_height_mm)
        return ok, lines, fitting

    if x_height_mm is not None:
        ok, lines, fitting = attempt(x_height_mm)
        if not ok:
            raise _too_long(card, x_height_mm, lines, fitting)
        return x_height_mm, lines
    steps = int(round((card.max_x_height_mm - card.min_x_height_mm) / SIZE_STEP_MM))
    sizes = [card.min_x_height_mm + i * SIZE_STEP_MM for i in range(steps + 1)]
    tried: dict[int, tuple[bool, list[Line], int]] = {}

    def fits(i: int) -> bool:
        if i not in tried:
            tried[i] = attempt(sizes[i])
        return tried[i][0]

    # start where the text's hard lines say it should fit, then gallop: a card usually
    # settles within two or three wraps instead of a binary search's seven
    guess = _size_guess(hard, measure, space, font, card, width_mm)
    i = min(max(int(round((guess - card.min_x_height_mm) / SIZE_STEP_MM)), 0), steps)
    step = 1  # steps of 1, 1, 2, 4, ...: a guess one or two off costs one wrap each
    if fits(i):
        lo, hi = i, steps + 1  # the largest that fits lies in [lo, hi)
        while lo + step < hi and fits(lo + step):
            lo, step = lo + step, max(1, lo + step - i)
        hi = min(hi, lo + step)
    else:
        hi = i  # the largest that fits lies below hi
        while hi - step > 0 and not fits(hi - step):
            hi, step = hi - step, max(1, i - (hi - step))
        lo = max(0, hi - step)
        if not fits(lo):
            _, lines, fitting = tried[lo]
            raise _too_long(card, sizes[0], lines, fitting)
    while hi - lo > 1:  # binary search between a size that fits and one that does not
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    best, best_lines = sizes[lo], tried[lo][1]
    return round(best, 3), best_lines


def _size_guess(hard: list[Line], measure: Callable[[str], float], space: float,
                font: Font, card: CardFormat, width_mm: float) -> float:
    """The x-height (mm) where :func:`fit_text` starts looking: the largest size of the
    card's range at which the text's hard lines (paragraphs and forced breaks), each
    wrapped into ``ceil(its width / the line width)`` lines with :data:`WRAP_LOSS` of an
    average word lost at each line's end, fill at most the card's height."""
    words = [[measure(w) for w in line.text.split()] for line in hard]
    widths = np.array([sum(w) + space * max(0, len(w) - 1) for w in words])
    gaps = sum(line.gap_before for line in hard)
    every = [w for line in words for w in line]
    lost = WRAP_LOSS * float(np.mean(every)) if every else 0.0
    m = font.metrics
    pitch = _line_pitch_em(font)

    def height_mm(xh: np.ndarray) -> np.ndarray:
        em = xh / m.x_height
        per_line = np.maximum(width_mm / em - lost, 1e-9)  # em of text a line holds
        lines = np.maximum(1.0, np.ceil(widths[None, :] / per_line[:, None])).sum(axis=1)
        return em * (m.cap_height + m.descent + pitch * (lines - 1.0 + gaps))

    sizes = np.arange(card.min_x_height_mm, card.max_x_height_mm + 1e-9, SIZE_STEP_MM)
    fitting = sizes[height_mm(sizes) <= card.area_height_mm]
    return float(fitting.max()) if len(fitting) else card.min_x_height_mm


def _too_long(card: CardFormat, xh: float, lines: list[Line], fitting: int) -> TextTooLongError:
    needed = len(lines) if lines else fitting + 1
    chars = [len(line.text) for line in lines] or [40]
    per_line = max(1, int(np.mean(chars)))
    excess = max(1, needed - fitting) * per_line
    return TextTooLongError(card, xh, needed, fitting, excess)


# ---------------------------------------------------------------- the card


def check_characters(text: CardText, font: Font) -> None:
    """Raise :class:`UnsupportedCharactersError` naming every character of ``text`` that
    ``font`` cannot write."""
    missing = [c for c in font.missing("".join(t for _, t in text.blocks())) if c != "\n"]
    if missing:
        raise UnsupportedCharactersError(missing, font.name)


def layout_card(text: CardText, font: Font, card: CardFormat, *, seed: int,
                variation: Variation | None = None, x_height_mm: float | None = None,
                font_name: str | None = None) -> CardLayout:
    """Lay ``text`` out on ``card`` in ``font``, varied by ``seed``: a deterministic
    :class:`CardLayout` whose drawing is in card mm (y down, origin top-left).

    Raises :class:`UnsupportedCharactersError` or :class:`TextTooLongError` with a message
    that names the problem, and ValueError when there is nothing to write.
    """
    variation = variation or Variation()
    if not any(t.strip() for _, t in text.blocks()):
        raise ValueError("there is nothing to write: the message is empty")
    check_characters(text, font)
    xh_mm, lines = fit_text(text, font, card, x_height_mm)
    rng = np.random.default_rng(seed)
    drawing, (chars, points, sizes), words = _write(lines, font, card, xh_mm, rng, variation)
    return CardLayout(drawing=drawing, x_height_mm=xh_mm, lines=tuple(lines),
                      font=font_name or font.name, card=card.name, seed=seed,
                      strength=variation.strength, glyph_count=len(chars), word_count=words,
                      ink_chars=chars, ink_points=points, ink_sizes=sizes)


def _write(lines: list[Line], font: Font, card: CardFormat, xh_mm: float,
           rng: np.random.Generator, variation: Variation
           ) -> tuple[Drawing, tuple[str, np.ndarray, np.ndarray], int]:
    """The card's strokes, each glyph instance's ink and the number of words.

    Works on the whole card at once: one row per character for placement, one array of
    all glyph points for variation, index arrays to cut it into strokes."""
    table = glyph_table(font)
    m = font.metrics
    em_mm = xh_mm / m.x_height
    s = variation.strength
    text = "".join(line.text for line in lines)
    line_params = sample_line_params(rng, len(lines), variation, xh_mm)
    n_chars = len(text)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    letter = codes != ord(" ")
    n = int(letter.sum())
    if n == 0:
        return (Drawing.empty(card.width_mm, card.height_mm),
                ("", np.zeros((0, 2)), np.zeros(0, dtype=np.int64)), 0)

    # 1. place every character: advances, spacing, line starts and baselines (mm)
    first, count = table.forms_of(text)
    form_all = first + (rng.random(n_chars) * count).astype(np.int64) % count
    jitter_xh = letter_gaps(rng, n_chars, variation)
    word_factor = spacing_factors(rng, n_chars, variation.word_spacing, s)
    lengths = np.array([len(line.text) for line in lines], dtype=np.int64)
    line_of = np.repeat(np.arange(len(lines)), lengths)
    line_first = np.cumsum(lengths) - lengths
    advance = table.advance[form_all] * em_mm
    step = np.where(letter, advance, advance * word_factor)
    # letter gaps change only inside a word: a word gap has its own jitter
    inside = np.zeros(n_chars, dtype=bool)
    inside[:-1] = letter[:-1] & letter[1:] & (line_of[1:] == line_of[:-1])
    air = jitter_xh * xh_mm
    x0 = card.area_x_mm + np.maximum(0.0, line_params.margin + variation.margin_mm * s)
    if s > 0:
        # a hand opens tight letter pairs; a print hand's jitter never closes a gap
        room = letter_room(table, form_all[:-1], form_all[1:],
                           variation.letter_air_xh * s * m.x_height, AIRY) * em_mm
        air[:-1] += room
        if not font.joined:
            air = np.maximum(0.0, air)
        air = np.where(inside, air, 0.0)
        # a hand that runs out of line squeezes its letters back to the font's spacing
        plain = x0 + np.bincount(line_of, weights=step, minlength=len(lines))
        extra = np.bincount(line_of, weights=np.maximum(air, 0.0), minlength=len(lines))
        free = np.maximum(0.0, card.area_x_mm + card.area_width_mm - plain)
        air = np.where(air > 0, air * np.minimum(1.0, free / np.where(extra > 0, extra, 1.0))[line_of], air)
    else:
        air = np.where(inside, air, 0.0)
    step = step + air
    before = np.cumsum(step) - step
    x_line = before - before[np.minimum(line_first, n_chars - 1)][line_of]  # from line start
    pitch_mm = _line_pitch_em(font) * em_mm
    gap_before = np.array([line.gap_before for line in lines])
    rise = pitch_mm * (1.0 + gap_before) * (1.0 + line_params.pitch)
    rise[0] = 0.0
    baseline = card.area_y_mm + m.cap_height * em_mm + np.cumsum(rise)

    # 2. the glyph instances (non-space characters) and their points
    chars_at = np.flatnonzero(letter)
    form = form_all[chars_at]
    li = line_of[chars_at]
    x_rel = x_line[chars_at]
    dy = line_params.tilt[li] * x_rel + line_params.wave_amplitude[li] * np.sin(
        2 * np.pi * x_rel / variation.line_wave_mm + line_params.wave_phase[li])
    origin = np.column_stack([x0[li] + x_rel, baseline[li] + dy])
    starts_word = letter & ~np.concatenate([[False], letter[:-1] & (line_of[1:] == line_of[:-1])])
    word_of = (np.cumsum(starts_word) - 1)[chars_at]
    sizes = table.size[form]
    starts = np.cumsum(sizes) - sizes
    rows = ranges(table.start[form], sizes)
    points = table.points.take(rows, axis=0)

    # 3. vary every instance, parting any that comes too close to an earlier twin; then
    # move the letters along so that their gaps follow their varied edges
    features, metric = _shape_model(table, variation.warp_wavelength_xh * m.x_height)
    wobble = max(1.0, variation.wobble_xh_mm / xh_mm)
    params: GlyphParams = sample_glyph_params(rng, n, variation, m.x_height, np.full(n, wobble))
    if s > 0:
        params = unique_instances(rng, params, form, table.alnum[form] & (sizes > 0),
                                  metric, variation, m.x_height, em_mm, wobble)
    varied = deform(points, features.take(rows, axis=0), None, params, sizes)
    if s > 0:
        origin[:, 0] += _ink_spacing(varied[:, 0] - points[:, 0], starts, table.edge.take(form, axis=0),
                                     li) * em_mm
    mm = varied * em_mm + np.repeat(origin, sizes, axis=0)  # each instance's origin, run by run

    # 4. cut the points back into strokes
    chars = codes[chars_at].tobytes().decode("utf-32-le")
    if font.joined:
        stroke_points, stroke_sizes = _joined_strokes(mm, table, form, starts, word_of, em_mm)
    else:
        parts = ranges(table.part_first[form], table.part_count[form])
        stroke_points, stroke_sizes = mm, table.part_size[parts]
    drawing = Drawing.from_points(stroke_points, stroke_sizes, card.width_mm, card.height_mm,
                                  copy=False)
    return drawing, (chars, mm, sizes), int(word_of[-1]) + 1


@lru_cache(maxsize=32)
def _shape_model(table: GlyphTable, wavelength_em: float) -> tuple[np.ndarray, np.ndarray]:
    """The (cached) :func:`fonts.variation.shape_features` of every point of ``table`` and
    the :func:`fonts.variation.shape_metric` of every form, for a warp of ``wavelength_em``."""
    owner = np.repeat(np.arange(len(table.forms)), table.size)
    features = shape_features(table.points - table.centre[owner], table.slot, wavelength_em)
    return features, shape_metric(features, table.start, table.size)


def _cut(points: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """``points`` cut into consecutive runs of ``sizes`` rows (views)."""
    ends = np.cumsum(sizes).tolist()
    return [points[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def _ink_spacing(moved_x: np.ndarray, starts: np.ndarray, edge: np.ndarray,
                 line: np.ndarray) -> np.ndarray:
    """How far (em) to move each instance along its line so that the gaps between the
    varied letters stay those of the font plus the spacing jitter.

    Turning, scaling or warping a letter moves its left and right edges; left alone, that
    closes or opens the gap to its neighbours at random, and Tesseract (like a reader)
    then joins two letters into one or breaks a word. ``moved_x``: how far variation moved
    each point in x (em); ``edge``: per instance the rows (from its first) of its left and
    right edge points, -1 without ink; ``line``: each instance's line (a line starts
    where it would). Following given points, not the ink's bounds, keeps the shifts
    unbiased: a turned stem reaches further out at one end either way round, and a line
    of bounds would grow with every letter."""
    inked = edge[:, 0] >= 0
    grow_left = np.where(inked, moved_x[starts + np.maximum(edge[:, 0], 0)], 0.0)
    grow_right = np.where(inked, moved_x[starts + np.maximum(edge[:, 1], 0)], 0.0)
    step = np.zeros(len(starts))
    step[1:] = grow_right[:-1] - grow_left[1:]
    new_line = np.flatnonzero(np.diff(line)) + 1
    step[new_line] = 0.0
    shift = np.cumsum(step)
    first = np.concatenate([[0], new_line])
    return shift - np.repeat(shift[first], np.diff(np.append(first, len(starts))))


def _joined_strokes(mm: np.ndarray, table: GlyphTable, form: np.ndarray, starts: np.ndarray,
                    word_of: np.ndarray, em_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """A joined script's strokes, as their points (mm) in writing order and the number of
    points of each: one pen-down stroke per word where its letters connect,
    each word's marks after it. Only letters join: digits and punctuation stand alone, as
    a hand writes them. Letter ``i`` goes on from letter ``i - 1`` without a lift by its
    lead-in where that connects (:func:`_near`, :func:`_crosses_ink`), else straight into
    its body; a letter that does not connect starts a new stroke without its lead-in."""
    lead = table.lead_size[form]
    body = table.body_size[form]
    has_body = body > 0
    n = len(form)
    pair = np.zeros(n, dtype=bool)  # letter i may join letter i - 1
    alpha = table.alpha[form]
    pair[1:] = (word_of[1:] == word_of[:-1]) & alpha[1:] & alpha[:-1] & has_body[1:] & has_body[:-1]
    candidates = np.flatnonzero(pair)
    # rows of mm: the exit of the letter before, where the lead-in and the body begin
    exit_row = starts[candidates - 1] + lead[candidates - 1] + body[candidates - 1] - 1
    lead_row, body_row = starts[candidates], starts[candidates] + lead[candidates]
    parts = ranges(table.part_first[form], table.part_count[form])
    part_of_row = np.repeat(np.arange(len(parts)), table.part_size[parts])  # of each card row
    by_lead = np.zeros(n, dtype=bool)
    joined = np.zeros(n, dtype=bool)
    if len(candidates):
        # by the lead-in where the letter has one; by the body where the letter has none
        # or its lead-in is not close (the lead-in may still connect: then it is taken)
        has_lead = lead[candidates] > 0
        lead_ok, lead_unsure = _near(mm.take(exit_row[has_lead], axis=0),
                                     mm.take(lead_row[has_lead], axis=0), em_mm)
        need_body = np.ones(len(candidates), dtype=bool)
        need_body[has_lead] = ~lead_ok
        body_ok, body_unsure = _near(mm.take(exit_row[need_body], axis=0),
                                     mm.take(body_row[need_body], axis=0), em_mm)
        # one ink test for every connector that is neither close nor out of reach
        k = int(lead_unsure.sum())
        unsure = [(has_lead, lead_unsure, lead_row), (need_body, body_unsure, body_row)]
        clear = ~_crosses_ink(
            mm, mm.take(np.concatenate([exit_row[w][u] for w, u, _ in unsure]), axis=0),
            mm.take(np.concatenate([to[w][u] for w, u, to in unsure]), axis=0),
            np.concatenate([candidates[w][u] for w, u, _ in unsure]),
            starts, table.size[form], part_of_row)
        lead_ok[lead_unsure] = clear[:k]
        body_ok[body_unsure] = clear[k:]
        by_lead[candidates[has_lead]] = lead_ok
        joined[candidates] = by_lead[candidates]
        joined[candidates[need_body]] |= body_ok
    # pieces: (word, 0 for the word's writing / 1 for its marks, order, first row, rows, new stroke)
    lead_at = np.flatnonzero(by_lead)
    body_at = np.flatnonzero(has_body)
    part_owner = np.repeat(np.arange(n), table.part_count[form])
    is_mark = table.part_kind[parts] == MARK
    mark_parts, mark_owner = parts[is_mark], part_owner[is_mark]
    mark_rows = starts[mark_owner] + table.part_start[mark_parts] - table.start[form[mark_owner]]
    word = np.concatenate([word_of[lead_at], word_of[body_at], word_of[mark_owner]])
    group = np.concatenate([np.zeros(len(lead_at) + len(body_at), dtype=np.int64),
                            np.ones(len(mark_owner), dtype=np.int64)])
    order = np.concatenate([2 * lead_at, 2 * body_at + 1, np.flatnonzero(is_mark)])
    first_row = np.concatenate([starts[lead_at], starts[body_at] + lead[body_at], mark_rows])
    size = np.concatenate([lead[lead_at], body[body_at], table.part_size[mark_parts]])
    new = np.concatenate([np.zeros(len(lead_at), dtype=bool), ~joined[body_at],
                          np.ones(len(mark_owner), dtype=bool)])
    sort = np.lexsort((order, group, word))
    first_row, size, new = first_row[sort], size[sort], new[sort]
    stroke_of = np.cumsum(new) - 1
    stroke_size = np.bincount(stroke_of, weights=size).astype(np.int64)
    return mm.take(ranges(first_row, size), axis=0), stroke_size


def _near(ends: np.ndarray, targets: np.ndarray, em_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Whether a joined script goes on from each of ``ends`` to its ``targets`` (mm)
    without lifting because they are close, and whether it may where the connecting
    line crosses no ink (:func:`_crosses_ink`): a little further apart, never backwards."""
    gap = targets - ends
    dist = np.hypot(gap[:, 0], gap[:, 1])
    forward = (gap[:, 0] >= -0.05 * em_mm) & (dist <= REACH_EM * em_mm)
    close = forward & (dist <= JOIN_EM * em_mm)
    return close, forward & ~close


def _crosses_ink(mm: np.ndarray, ends: np.ndarray, targets: np.ndarray, at: np.ndarray,
                 starts: np.ndarray, sizes: np.ndarray, part_of_row: np.ndarray) -> np.ndarray:
    """Whether the connector from ``ends[c]`` (letter ``at[c] - 1``) to ``targets[c]``
    (letter ``at[c]``) crosses the ink of either letter. All points in mm;
    ``part_of_row`` numbers the part (stroke) of each row of ``mm``."""
    if len(at) == 0:
        return np.zeros(0, dtype=bool)
    # the connector, its ends trimmed (they lie on ink by design), against every segment
    # of both letters' parts (a segment joins two rows of one part)
    gap = targets - ends
    trim = 0.12 * gap
    p = ends + trim
    d = gap - 2 * trim
    first = starts[at - 1]
    count = starts[at] + sizes[at] - 1 - first  # segments start at these rows
    seg = ranges(first, count)
    owner = np.repeat(np.arange(len(at)), count)
    same_part = part_of_row[seg] == part_of_row[seg + 1]  # not a jump between two parts
    a = mm.take(seg, axis=0)
    e = mm.take(seg + 1, axis=0) - a
    dd, pp = d.take(owner, axis=0), p.take(owner, axis=0)
    denom = dd[:, 0] * e[:, 1] - dd[:, 1] * e[:, 0]
    ok = np.abs(denom) > 1e-12
    safe = np.where(ok, denom, 1.0)
    w = a - pp
    t = (w[:, 0] * e[:, 1] - w[:, 1] * e[:, 0]) / safe
    u = (w[:, 0] * dd[:, 1] - w[:, 1] * dd[:, 0]) / safe
    hit = same_part & ok & (t > 0) & (t < 1) & (u >= 0) & (u <= 1)
    return np.bincount(owner, weights=hit, minlength=len(at)) > 0
