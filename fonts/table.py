"""A font prepared for fast layout: every glyph form's points in one array.

Laying out a card touches a few hundred glyph instances. Everything that depends only on
the font is computed once here and cached per font: each form's strokes cut into *parts*
(a print font's strokes, or a joined script's lead-in, body and marks from
:mod:`fonts.cursive`), all parts' points in one ``(P, 2)`` array in em units (y down,
baseline at 0), and per form its advance, centre, ink extent and where its points and
parts lie. The layout then gathers the rows of a whole card with a few numpy calls instead
of a Python loop over its glyphs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from fonts.cursive import cursive_plan
from fonts.model import Font, Glyph

# part kinds: a print font's stroke, a joined script's lead-in, body, and a mark
STROKE, LEAD, BODY, MARK = 0, 1, 2, 3
BANDS = 4  # horizontal bands of the x-height in which letters' facing sides are compared


@dataclass(frozen=True, eq=False)
class GlyphTable:
    """The glyph forms of one font as flat arrays (em units, y down, baseline at 0).

    Form ``f`` has its points at rows ``start[f]:start[f] + size[f]`` of ``points`` and
    its parts at ``part_first[f]:part_first[f] + part_count[f]`` of the part arrays; a
    part is a run of rows ``part_start[q]:part_start[q] + part_size[q]`` drawn pen-down.
    ``slot`` numbers each point's mark (dot, accent, crossing) or is -1 for the letter
    itself. ``edge`` picks the points that make the letter's left and right edges (marks
    left aside), whose moves the spacing follows; ``centre`` is the point about which the
    variation turns and scales a form.
    """

    font: Font
    forms: tuple[Glyph, ...]
    index: dict[str, tuple[int, int]]  # char -> (first form, number of forms)
    chars: tuple[str, ...]  # per form
    advance: np.ndarray  # (F,) em
    centre: np.ndarray  # (F, 2) em
    left: np.ndarray  # (F, BANDS) em: the letter's leftmost ink in each band of the
    # x-height (top to bottom), NaN where it has none
    right: np.ndarray  # (F, BANDS) em: its rightmost ink in each band
    usual_gap: float  # em: the median gap (:func:`optical_gaps`) between two small letters
    edge: np.ndarray  # (F, 2) rows (from the form's first) of its leftmost and rightmost
    # letter point, the one nearest half the x-height among near-equals; -1 without ink
    alpha: np.ndarray  # (F,) bool: a letter (joined scripts join only letters)
    alnum: np.ndarray  # (F,) bool: a letter or digit (instances must differ)
    start: np.ndarray  # (F,) first row in points
    size: np.ndarray  # (F,) rows
    lead_size: np.ndarray  # (F,) rows of a joined script's lead-in (its first part), or 0
    body_size: np.ndarray  # (F,) rows of a joined script's body (after the lead-in), or 0
    part_first: np.ndarray  # (F,) first part
    part_count: np.ndarray  # (F,) parts
    points: np.ndarray  # (P, 2) em
    slot: np.ndarray  # (P,) mark number, -1 for the letter
    part_start: np.ndarray  # (Q,) first row
    part_size: np.ndarray  # (Q,) rows
    part_kind: np.ndarray  # (Q,) STROKE, LEAD, BODY or MARK

    def forms_of(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """First form and number of forms of each character of ``text`` (KeyError for a
        character the font lacks)."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        lookup = self._by_code
        if len(codes) and int(codes.max()) < len(lookup):
            pairs = lookup.take(codes, axis=0)
            if (pairs[:, 1] > 0).all():
                return pairs[:, 0], pairs[:, 1]
        index = self.index  # a character beyond the table: name it
        pairs = np.array([index[c] for c in text], dtype=np.int64).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    @cached_property
    def _by_code(self) -> np.ndarray:
        """(first form, number of forms) by code point, (0, 0) where the font has none."""
        lookup = np.zeros((max(map(ord, self.index), default=0) + 1, 2), dtype=np.int64)
        for char, pair in self.index.items():
            lookup[ord(char)] = pair
        return lookup


def _is_mark(stroke: np.ndarray, largest: float, x_height: float) -> bool:
    extent = float(np.ptp(stroke, axis=0).max()) if len(stroke) > 1 else 0.0
    return extent < min(0.8 * x_height, 0.6 * largest)


def _parts(font: Font, glyph: Glyph) -> list[tuple[int, np.ndarray, int]]:
    """``(kind, points, mark slot)`` of each part of ``glyph``, in writing order."""
    if font.joined:
        plan = cursive_plan(font, glyph)
        parts = []
        if plan.lead is not None:
            parts.append((LEAD, plan.lead, -1))
        if plan.body is not None:
            parts.append((BODY, plan.body, -1))
        parts.extend((MARK, m, i) for i, m in enumerate(plan.marks))
        return parts
    extents = [float(np.ptp(s, axis=0).max()) if len(s) > 1 else 0.0 for s in glyph.strokes]
    largest = max(extents, default=0.0)
    parts = []
    mark = 0
    for stroke in glyph.strokes:
        if len(glyph.strokes) > 1 and _is_mark(stroke, largest, font.metrics.x_height):
            parts.append((STROKE, stroke, mark))
            mark += 1
        else:
            parts.append((STROKE, stroke, -1))
    return parts


def _edges(points: np.ndarray, letter: np.ndarray, x_height: float) -> tuple[int, int]:
    """Rows of the leftmost and rightmost ``letter`` points; among points within 2 % of
    the x-height of the extreme, the one nearest half the x-height (a stem's middle, which
    a slight turn moves least)."""
    x = np.where(letter, points[:, 0], np.nan)
    middle = np.abs(points[:, 1] + x_height / 2)
    tolerance = 0.02 * x_height
    left = np.flatnonzero(x <= np.nanmin(x) + tolerance)
    right = np.flatnonzero(x >= np.nanmax(x) - tolerance)
    return int(left[np.argmin(middle[left])]), int(right[np.argmin(middle[right])])


def _profiles(strokes: list[np.ndarray], x_height: float) -> tuple[np.ndarray, np.ndarray]:
    """Leftmost and rightmost x of ``strokes`` in each of :data:`BANDS` bands from the
    x-height down to the baseline (em), NaN where there is no ink; segments are walked in
    small steps, so a long stem counts in every band it crosses."""
    dense = []
    for stroke in strokes:
        if len(stroke) < 2:
            dense.append(stroke)
            continue
        steps = np.maximum(1, np.ceil(np.hypot(*np.diff(stroke, axis=0).T) / (0.02 * x_height)))
        t = np.concatenate([np.arange(k) / k for k in steps.astype(int)] + [[0.0]])
        seg = np.concatenate([np.full(k, i) for i, k in enumerate(steps.astype(int))]
                             + [[len(stroke) - 2]])
        t[-1] = 1.0
        dense.append(stroke[seg] + t[:, None] * (stroke[seg + 1] - stroke[seg]))
    points = np.concatenate(dense)
    band = np.floor((points[:, 1] + x_height) / x_height * BANDS).astype(int)
    left, right = np.full(BANDS, np.nan), np.full(BANDS, np.nan)
    for b in range(BANDS):
        xs = points[band == b, 0]
        if len(xs):
            left[b], right[b] = xs.min(), xs.max()
    return left, right


def optical_gaps(advance: np.ndarray, right: np.ndarray, left: np.ndarray) -> np.ndarray:
    """The gap (em) between a letter and the next as the eye sees it: the mean over the
    bands of the x-height where both have ink of the distance from the first's right side
    to the second's left side; NaN where no band has both (a dot, a quote).

    ``advance``: (n,) advances of the first letters; ``right``/``left``: (n, BANDS)
    profiles of the first and the second letters."""
    gaps = advance[:, None] + left - right
    both = np.isfinite(gaps)
    count = both.sum(axis=1)
    total = np.where(both, gaps, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


@lru_cache(maxsize=32)
def glyph_table(font: Font) -> GlyphTable:
    """The (cached) :class:`GlyphTable` of ``font``: every form of every character."""
    forms: list[Glyph] = []
    index: dict[str, tuple[int, int]] = {}
    for char, alternates in font.glyphs.items():
        index[char] = (len(forms), len(alternates))
        forms.extend(alternates)
    x_height = font.metrics.x_height
    arrays: list[np.ndarray] = []
    slots: list[np.ndarray] = []
    part_start: list[int] = []
    part_size: list[int] = []
    part_kind: list[int] = []
    start = np.zeros(len(forms), dtype=np.int64)
    size = np.zeros(len(forms), dtype=np.int64)
    part_first = np.zeros(len(forms), dtype=np.int64)
    part_count = np.zeros(len(forms), dtype=np.int64)
    lead_size = np.zeros(len(forms), dtype=np.int64)
    body_size = np.zeros(len(forms), dtype=np.int64)
    edge = np.full((len(forms), 2), -1, dtype=np.int64)
    left = np.full((len(forms), BANDS), np.nan)
    right = np.full((len(forms), BANDS), np.nan)
    row = 0
    for f, glyph in enumerate(forms):
        parts = _parts(font, glyph)
        start[f], part_first[f], part_count[f] = row, len(part_start), len(parts)
        for kind, points, mark in parts:
            points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            arrays.append(points)
            slots.append(np.full(len(points), mark, dtype=np.int64))
            part_start.append(row)
            part_size.append(len(points))
            part_kind.append(kind)
            if kind == LEAD:
                lead_size[f] = len(points)
            elif kind == BODY:
                body_size[f] = len(points)
            row += len(points)
        size[f] = row - start[f]
        own = np.concatenate(slots[-len(parts):]) if parts else np.zeros(0, dtype=np.int64)
        if (own < 0).any():
            mine = np.concatenate(arrays[-len(parts):])
            edge[f] = _edges(mine, own < 0, x_height)
            left[f], right[f] = _profiles([p for _, p, mark in parts if mark < 0], x_height)
    points = np.concatenate(arrays) if arrays else np.zeros((0, 2))
    points.setflags(write=False)
    advance = np.array([g.advance for g in forms])
    small = [index[c][0] for c in "abcdefghijklmnopqrstuvwxyz" if c in index]
    pairs = optical_gaps(np.repeat(advance[small], len(small)),
                         right[np.repeat(small, len(small))], left[np.tile(small, len(small))])
    usual_gap = float(np.nanmedian(pairs)) if np.isfinite(pairs).any() else 0.0
    return GlyphTable(
        font=font, forms=tuple(forms), index=index, chars=tuple(g.char for g in forms),
        advance=advance, left=left, right=right,
        usual_gap=usual_gap,
        centre=np.array([[g.advance / 2, -x_height / 2] for g in forms]).reshape(-1, 2),
        edge=edge,
        alpha=np.array([g.char.isalpha() for g in forms], dtype=bool),
        alnum=np.array([g.char.isalnum() for g in forms], dtype=bool),
        start=start, size=size, lead_size=lead_size, body_size=body_size, part_first=part_first, part_count=part_count,
        points=points,
        slot=np.concatenate(slots) if slots else np.zeros(0, dtype=np.int64),
        part_start=np.array(part_start, dtype=np.int64),
        part_size=np.array(part_size, dtype=np.int64),
        part_kind=np.array(part_kind, dtype=np.int8),
    )


def ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The row numbers ``starts[i]:starts[i] + sizes[i]`` of every ``i``, concatenated.

    >>> ranges(np.array([5, 0]), np.array([2, 3])).tolist()
    [5, 6, 0, 1, 2]
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(sizes) - sizes  # where each run begins in the output
    return np.repeat(np.asarray(starts, dtype=np.int64) - offsets, sizes) + np.arange(total)


def letter_room(table: GlyphTable, first: np.ndarray, second: np.ndarray,
                most_em: float, airy: float = 1.0) -> np.ndarray:
    """How far (em) a hand opens the gap between letter forms ``first`` and ``second``: a
    pair spaced tighter than ``airy`` times the font's usual gap (``nn``: two stems)
    opens towards it, by at most ``most_em``; a pair already as wide (``rw``) stays, so a
    word does not fall apart. 0 for pairs with nothing to compare (a dot, a quote)."""
    gap = optical_gaps(table.advance[first], table.right.take(first, axis=0),
                       table.left.take(second, axis=0))
    short = np.where(np.isfinite(gap), airy * table.usual_gap - gap, 0.0)
    return np.clip(short, 0.0, most_em)
