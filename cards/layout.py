"""Card layout: a message becomes pen strokes on a card, in the job's handwriting.

The pipeline is pure: normalise the text and check every character against the font;
auto-fit (the largest handwriting size of the card format at which the wrapped text fits
the writable area); place glyphs line by line with spacing jitter, baseline drift and a
wandering margin; vary every glyph (:mod:`fonts.variation`); join a cursive script's
letters into one pen-down stroke per word (:mod:`fonts.cursive`), its dots and crossings
written after the word. Output is a :class:`plotter.drawing.Drawing` in card mm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from cards.formats import CardFormat
from cards.wrap import Line, wrap_blocks
from fonts.charset import UnsupportedCharactersError, normalize_text
from fonts.cursive import cursive_plan
from fonts.model import Font, Glyph
from fonts.variation import (
    GlyphParams,
    Variation,
    deform,
    sample_glyph_params,
    sample_line_params,
    spacing_factors,
    unique_instances,
)
from plotter.drawing import Drawing

SIZE_STEP_MM = 0.05  # auto-fit resolution of the x-height, mm
RIGHT_RESERVE = 0.03  # share of the line width kept free for spacing jitter
JOIN_EM = 0.3  # a joined script connects letters whose exit and entry are this close (em)
REACH_EM = 0.8  # ... and further apart, up to this, where the connector crosses no ink (em)


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
        parts = [("greeting", self.greeting), ("body", self.body), ("closing", self.closing),
                 ("signature", self.signature)]
        return [(kind, normalize_text(text)) for kind, text in parts if text and text.strip()]


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
    glyph_ink: tuple[tuple[str, np.ndarray], ...] = field(default_factory=tuple, repr=False)
    """Each written glyph instance: its character and all its points in card mm (after
    variation, before letters are joined) — for checks of what variation did."""
    notes: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------- glyph templates


@dataclass(frozen=True, eq=False)
class _Template:
    """One glyph form prepared for placement: all points (em) in one array, with the
    parts (lead, body, marks or plain strokes) as index ranges."""

    points: np.ndarray
    slots: np.ndarray  # mark number per point, -1 for the letter body
    parts: tuple[tuple[str, int, int], ...]  # (kind, start, end); kind lead/body/mark/stroke
    centre: np.ndarray


def _is_mark(stroke: np.ndarray, largest: float, x_height: float) -> bool:
    extent = float(np.ptp(stroke, axis=0).max()) if len(stroke) > 1 else 0.0
    return extent < min(0.8 * x_height, 0.6 * largest)


@lru_cache(maxsize=4096)
def _template(font: Font, glyph: Glyph) -> _Template:
    pieces: list[tuple[str, np.ndarray, int]] = []
    if font.joined:
        plan = cursive_plan(font, glyph)
        if plan.lead is not None:
            pieces.append(("lead", plan.lead, -1))
        if plan.body is not None:
            pieces.append(("body", plan.body, -1))
        pieces.extend(("mark", m, i) for i, m in enumerate(plan.marks))
    else:
        extents = [float(np.ptp(s, axis=0).max()) if len(s) > 1 else 0.0 for s in glyph.strokes]
        largest = max(extents, default=0.0)
        mark = 0
        for stroke in glyph.strokes:
            if len(glyph.strokes) > 1 and _is_mark(stroke, largest, font.metrics.x_height):
                pieces.append(("stroke", stroke, mark))
                mark += 1
            else:
                pieces.append(("stroke", stroke, -1))
    parts = []
    start = 0
    for kind, array, _ in pieces:
        parts.append((kind, start, start + len(array)))
        start += len(array)
    points = np.concatenate([p[1] for p in pieces]) if pieces else np.zeros((0, 2))
    slots = (np.concatenate([np.full(len(p[1]), p[2]) for p in pieces]) if pieces
             else np.zeros(0, dtype=int))
    centre = np.array([glyph.advance / 2, -font.metrics.x_height / 2])
    return _Template(points, slots.astype(np.int64), tuple(parts), centre)


# ---------------------------------------------------------------- fitting


def _measure_factory(font: Font):
    advances: dict[str, float] = {}

    def advance(char: str) -> float:
        value = advances.get(char)
        if value is None:
            value = font.glyph(char).advance if font.has(char) else 0.0
            advances[char] = value
        return value

    def measure(text: str) -> float:
        return sum(advance(c) for c in text)

    return measure, advance


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
    measure, advance = _measure_factory(font)
    space = advance(" ") or 0.3
    blocks = text.blocks()
    width_mm = card.area_width_mm * (1.0 - RIGHT_RESERVE)

    def attempt(xh: float) -> tuple[bool, list[Line], int]:
        em_mm = xh / font.metrics.x_height
        try:
            lines = wrap_blocks(blocks, width_mm / em_mm, measure, space, text.language)
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
    ok, lines, fitting = attempt(sizes[0])
    if not ok:
        raise _too_long(card, sizes[0], lines, fitting)
    best, best_lines = sizes[0], lines
    lo, hi = 1, len(sizes) - 1
    while lo <= hi:  # binary search for the largest size that fits
        mid = (lo + hi) // 2
        ok, lines, _ = attempt(sizes[mid])
        if ok:
            best, best_lines, lo = sizes[mid], lines, mid + 1
        else:
            hi = mid - 1
    return round(best, 3), best_lines


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
    drawing, ink, words = _write(lines, font, card, xh_mm, rng, variation)
    return CardLayout(drawing=drawing, x_height_mm=xh_mm, lines=tuple(lines),
                      font=font_name or font.name, card=card.name, seed=seed,
                      strength=variation.strength, glyph_count=len(ink), word_count=words,
                      glyph_ink=ink)


def _write(lines: list[Line], font: Font, card: CardFormat, xh_mm: float,
           rng: np.random.Generator, variation: Variation
           ) -> tuple[Drawing, tuple[tuple[str, np.ndarray], ...], int]:
    m = font.metrics
    em_mm = xh_mm / m.x_height
    pitch_mm = _line_pitch_em(font) * em_mm
    s = variation.strength
    line_params = sample_line_params(rng, len(lines), variation, xh_mm)

    # 1. place glyph instances: one row per written glyph
    templates: list[_Template] = []
    forms: list[Glyph] = []
    xs: list[float] = []
    ys: list[float] = []
    word_of: list[int] = []
    word = -1
    text_all = "".join(line.text for line in lines)
    letter_factors = spacing_factors(rng, len(text_all) + 1, variation.letter_spacing, s)
    alt_draws = rng.random(len(text_all) + 1)
    k = 0
    baseline = card.area_y_mm + m.cap_height * em_mm
    for li, line in enumerate(lines):
        if li:
            baseline += pitch_mm * (1.0 + line.gap_before) * (1.0 + line_params.pitch[li])
        x0 = card.area_x_mm + max(0.0, line_params.margin[li] + variation.margin_mm * s)
        x = x0
        in_word = False
        gaps = spacing_factors(rng, len(line.text) + 1, variation.word_spacing, s)
        for ci, char in enumerate(line.text):
            alternates = font.alternates(char)
            glyph = alternates[int(alt_draws[k] * len(alternates)) % len(alternates)]
            if char == " ":
                x += glyph.advance * em_mm * gaps[ci]
                in_word = False
                k += 1
                continue
            if not in_word:
                word += 1
                in_word = True
            dy = line_params.tilt[li] * (x - x0) + line_params.wave_amplitude[li] * math.sin(
                2 * math.pi * (x - x0) / variation.line_wave_mm + line_params.wave_phase[li])
            forms.append(glyph)
            templates.append(_template(font, glyph))
            xs.append(x)
            ys.append(baseline + dy)
            word_of.append(word)
            x += glyph.advance * em_mm * letter_factors[k]
            k += 1
    n = len(templates)
    if n == 0:
        return Drawing.empty(card.width_mm, card.height_mm), (), 0

    # 2. vary every instance, redrawing any that comes too close to an earlier twin
    params: GlyphParams = sample_glyph_params(rng, n, variation, m.x_height)
    sizes = np.array([len(t.points) for t in templates])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    instance = np.repeat(np.arange(n), sizes)
    points = np.concatenate([t.points for t in templates])
    slots = np.concatenate([t.slots for t in templates])
    centres = np.array([t.centre for t in templates])
    varied = deform(points, instance, slots, centres, params, variation, m.x_height)
    if s > 0:
        groups: dict[int, list[int]] = {}
        for i, g in enumerate(forms):
            if g.char.isalnum():
                groups.setdefault(id(g), []).append(i)

        def redeform(p: GlyphParams, which: np.ndarray) -> np.ndarray:
            rows = np.concatenate([np.arange(starts[i], starts[i] + sizes[i]) for i in which])
            return deform(points[rows], instance[rows], slots[rows], centres, p, variation,
                          m.x_height)

        params, varied = unique_instances(
            rng, params, varied, [np.array(v) for v in groups.values() if len(v) > 1],
            starts, sizes, redeform, variation, m.x_height, em_mm)
    origin = np.column_stack([xs, ys])
    mm = varied * em_mm + origin[instance]

    # 3. cut the points back into parts and assemble strokes
    pieces: list[list[tuple[str, np.ndarray]]] = []
    for i, t in enumerate(templates):
        base = starts[i]
        pieces.append([(kind, mm[base + a: base + b]) for kind, a, b in t.parts])
    strokes = _assemble_joined(pieces, word_of, em_mm, [g.char for g in forms]) if font.joined else [
        array for parts in pieces for _, array in parts]
    ink = tuple((g.char, mm[starts[i]: starts[i] + sizes[i]]) for i, g in enumerate(forms))
    return Drawing(tuple(strokes), card.width_mm, card.height_mm), ink, word + 1


def _segment_crosses(p: np.ndarray, q: np.ndarray, strokes: list[np.ndarray]) -> bool:
    """Whether the segment ``p``-``q`` properly crosses any of ``strokes`` (mm)."""
    d = q - p
    for stroke in strokes:
        if len(stroke) < 2:
            continue
        a, b = stroke[:-1], stroke[1:]
        e = b - a
        denom = d[0] * e[:, 1] - d[1] * e[:, 0]
        ok = np.abs(denom) > 1e-12
        if not ok.any():
            continue
        w = a - p
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (w[:, 0] * e[:, 1] - w[:, 1] * e[:, 0]) / denom
            u = (w[:, 0] * d[1] - w[:, 1] * d[0]) / denom
        if np.any(ok & (t > 0) & (t < 1) & (u >= 0) & (u <= 1)):
            return True
    return False


def _connects(end: np.ndarray, target: np.ndarray, em_mm: float, ink: list[np.ndarray],
              reach_em: float = REACH_EM) -> bool:
    """Whether a joined script goes on from ``end`` to ``target`` without lifting: when
    they are close, or a little further apart where the connecting line, leaving its
    ends aside, crosses no ink of ``ink``; never backwards."""
    gap = target - end
    dist = math.hypot(*gap)
    if gap[0] < -0.05 * em_mm or dist > reach_em * em_mm:
        return False
    if dist <= JOIN_EM * em_mm:
        return True
    trim = 0.12 * gap  # the connector's ends lie on ink by design
    return not _segment_crosses(end + trim, target - trim, ink)


def _assemble_joined(pieces: list[list[tuple[str, np.ndarray]]], word_of: list[int],
                     em_mm: float, chars: list[str]) -> list[np.ndarray]:
    """One pen-down stroke per word where letters connect; a word's marks after it.
    Only letters join: digits and punctuation stand alone, as a hand writes them."""
    strokes: list[np.ndarray] = []
    current: list[np.ndarray] = []
    marks: list[np.ndarray] = []
    previous_ink: list[np.ndarray] = []
    for i, parts in enumerate(pieces):
        if i and word_of[i] != word_of[i - 1]:
            if current:
                strokes.append(np.concatenate(current))
            strokes.extend(marks)
            current, marks, previous_ink = [], [], []
        lead = next((a for kind, a in parts if kind == "lead"), None)
        body = next((a for kind, a in parts if kind == "body"), None)
        marks.extend(a for kind, a in parts if kind == "mark")
        if body is None:
            continue
        ink = [a for _, a in parts]
        if current and chars[i].isalpha() and chars[i - 1].isalpha():
            end = current[-1][-1]
            blocking = previous_ink + ink
            if lead is not None and _connects(end, lead[0], em_mm, blocking):
                current += [lead, body]
                previous_ink = ink
                continue
            if _connects(end, body[0], em_mm, blocking):
                current.append(body)
                previous_ink = ink
                continue
        if current:
            strokes.append(np.concatenate(current))
        current = [body]
        previous_ink = ink
    if current:
        strokes.append(np.concatenate(current))
    strokes.extend(marks)
    return strokes
