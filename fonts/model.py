"""What a single-stroke font is to penpost: glyph strokes, advances and metrics.

Glyph coordinates are in **em units** (1.0 = the font's em), x to the right, y **down**,
origin at the glyph's origin on the baseline, so ascenders have negative y. Readers convert
from font units at their edge; the layout scales ems to millimetres.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Glyph:
    """One drawable form of a character.

    ``strokes``: open polylines, each a read-only ``(N, 2)`` float64 array in em units,
    y down, baseline at y = 0. ``advance``: horizontal advance in em units.
    """

    char: str
    strokes: tuple[np.ndarray, ...]
    advance: float
    name: str = ""

    def __post_init__(self) -> None:
        frozen = []
        for stroke in self.strokes:
            array = np.array(stroke, dtype=np.float64).reshape(-1, 2)
            if len(array) == 0:
                continue
            array.setflags(write=False)
            frozen.append(array)
        object.__setattr__(self, "strokes", tuple(frozen))

    @property
    def is_blank(self) -> bool:
        """True for a glyph with no ink (a space)."""
        return not self.strokes

    def bounds(self) -> tuple[float, float, float, float] | None:
        """``(min_x, min_y, max_x, max_y)`` of the ink in em units, or None when blank."""
        if not self.strokes:
            return None
        points = np.concatenate(self.strokes)
        lo, hi = points.min(axis=0), points.max(axis=0)
        return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def transformed(self, matrix: np.ndarray, offset: tuple[float, float] = (0.0, 0.0),
                    *, char: str | None = None, advance: float | None = None) -> Glyph:
        """A new glyph with every point ``p`` mapped to ``matrix @ p + offset`` (em units)."""
        m = np.asarray(matrix, dtype=np.float64)
        off = np.asarray(offset, dtype=np.float64)
        return Glyph(
            char=self.char if char is None else char,
            strokes=tuple(s @ m.T + off for s in self.strokes),
            advance=self.advance if advance is None else advance,
            name=self.name,
        )


@dataclass(frozen=True)
class FontMetrics:
    """Vertical metrics as positive distances from the baseline, in em units."""

    ascent: float  # top of the tallest letters above the baseline
    descent: float  # bottom of descenders below the baseline
    cap_height: float  # height of capital letters
    x_height: float  # height of lowercase letters without ascenders

    @property
    def line_height(self) -> float:
        """Default distance between baselines, in em units."""
        return self.ascent + self.descent


@dataclass(frozen=True, eq=False)
class Font:
    """A single-stroke font: alternates per character, metrics, and what it is.

    ``glyphs`` maps one character to one or more alternate forms (several SVG glyphs
    for one code point, OpenType alternates). ``joined`` marks a connected cursive script,
    whose letters' exit and entry strokes the layout joins into one pen-down stroke.
    """

    name: str
    family: str
    metrics: FontMetrics
    glyphs: Mapping[str, tuple[Glyph, ...]]
    joined: bool = False
    style: str = ""
    licence: str = ""
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def has(self, char: str) -> bool:
        """Whether the font can draw ``char``."""
        return char in self.glyphs

    def glyph(self, char: str, alternate: int = 0) -> Glyph:
        """The ``alternate``-th form of ``char`` (wrapping around); KeyError if absent."""
        forms = self.glyphs[char]
        return forms[alternate % len(forms)]

    def alternates(self, char: str) -> tuple[Glyph, ...]:
        """All forms of ``char`` (empty when the font lacks it)."""
        return self.glyphs.get(char, ())

    def coverage(self) -> frozenset[str]:
        """Every character the font can draw."""
        return frozenset(self.glyphs)

    def missing(self, text: Iterable[str]) -> list[str]:
        """Characters of ``text`` the font cannot draw, in first-seen order, no repeats."""
        glyphs = self.glyphs
        return [char for char in dict.fromkeys(text) if char not in glyphs]

    def with_glyphs(self, extra: Mapping[str, tuple[Glyph, ...]], *,
                    notes: Iterable[str] = ()) -> Font:
        """A new font with ``extra`` forms added or replacing existing ones."""
        merged = dict(self.glyphs)
        merged.update(extra)
        return Font(
            name=self.name, family=self.family, metrics=self.metrics, glyphs=merged,
            joined=self.joined, style=self.style, licence=self.licence, source=self.source,
            notes=self.notes + tuple(notes),
        )
