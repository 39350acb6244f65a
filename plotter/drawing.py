"""The one geometry type of penpost: a card's pen strokes as polylines in millimetres.

Coordinates are millimetres, x to the right, y **down**, origin at the card's top-left
corner. A stroke is a ``(N, 2)`` float64 array of points drawn with the pen down, N >= 1
(a single point is a dot). Between strokes the pen is up and travels in a straight line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np

Stroke = np.ndarray


def as_stroke(points: Iterable[Sequence[float]] | np.ndarray) -> Stroke:
    """Return ``points`` as a read-only ``(N, 2)`` float64 array in mm.

    >>> as_stroke([(0, 0), (1, 2)]).shape
    (2, 2)
    """
    array = np.array(points, dtype=np.float64).reshape(-1, 2)
    if len(array) == 0:
        raise ValueError("a stroke needs at least one point")
    if not np.all(np.isfinite(array)):
        raise ValueError("a stroke has a coordinate that is not a finite number")
    array.setflags(write=False)
    return array


def stroke_length(stroke: Stroke) -> float:
    """Length of one stroke in mm (0 for a dot)."""
    if len(stroke) < 2:
        return 0.0
    return float(np.hypot(*np.diff(stroke, axis=0).T).sum())


@dataclass(frozen=True, eq=False)
class Drawing:
    """Pen strokes on a card of ``width_mm`` x ``height_mm``, drawn in order.

    Every coordinate is in mm, y down, origin at the card's top-left. Methods never
    mutate; operations return new drawings.
    """

    strokes: tuple[Stroke, ...]
    width_mm: float
    height_mm: float

    def __post_init__(self) -> None:
        if not (self.width_mm > 0 and self.height_mm > 0):
            raise ValueError(f"card size must be positive, got {self.width_mm} x {self.height_mm} mm")
        object.__setattr__(self, "strokes", tuple(as_stroke(s) for s in self.strokes))

    @classmethod
    def from_points(cls, points: np.ndarray, sizes: Sequence[int] | np.ndarray,
                    width_mm: float, height_mm: float, *, copy: bool = True) -> Drawing:
        """A card whose strokes are consecutive runs of ``sizes`` rows of ``points``
        ((P, 2) mm): checked once for the whole card and cut into read-only views of one
        copy, instead of one array per stroke (the layout's way to build a card fast).
        ``copy=False`` takes a float64 ``points`` as it is and makes it read-only: for an
        array the caller made for this and will not write to again.

        >>> Drawing.from_points(np.array([[0, 0], [1, 0], [5, 5]]), [2, 1], 10, 10).pen_lifts()
        2
        """
        array = np.array(points, dtype=np.float64) if copy else np.asarray(points, dtype=np.float64)
        array.setflags(write=False)  # before reshaping: the caller's own array when not copied
        array = array.reshape(-1, 2)
        counts = np.asarray(sizes, dtype=np.int64)
        if len(counts) and counts.min() < 1:
            raise ValueError("a stroke needs at least one point")
        if int(counts.sum()) != len(array):
            raise ValueError(f"stroke sizes add up to {int(counts.sum())} points, "
                             f"not the {len(array)} given")
        if not np.isfinite(array).all():
            raise ValueError("a stroke has a coordinate that is not a finite number")
        ends = np.cumsum(counts).tolist()
        strokes = tuple(array[a:b] for a, b in zip([0, *ends], ends, strict=False))
        drawing = cls((), width_mm, height_mm)
        object.__setattr__(drawing, "strokes", strokes)
        return drawing

    @classmethod
    def empty(cls, width_mm: float, height_mm: float) -> Drawing:
        """A card with nothing on it."""
        return cls((), width_mm, height_mm)

    def with_strokes(self, strokes: Iterable[Stroke]) -> Drawing:
        """The same card with other strokes."""
        return Drawing(tuple(strokes), self.width_mm, self.height_mm)

    def __len__(self) -> int:
        return len(self.strokes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Drawing):
            return NotImplemented
        return (
            self.width_mm == other.width_mm
            and self.height_mm == other.height_mm
            and len(self.strokes) == len(other.strokes)
            and all(np.array_equal(a, b) for a, b in zip(self.strokes, other.strokes, strict=True))
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def point_count(self) -> int:
        """Number of points over all strokes."""
        return sum(len(s) for s in self.strokes)

    def ink_length_mm(self) -> float:
        """Total pen-down length in mm."""
        if not self.strokes:
            return 0.0
        return float(sum(stroke_length(s) for s in self.strokes))

    def pen_up_travel_mm(self, start: tuple[float, float] | None = (0.0, 0.0),
                         end: tuple[float, float] | None = None) -> float:
        """Pen-up travel in mm: from ``start`` to the first stroke, between strokes, and
        from the last stroke to ``end``. ``None`` leaves that leg out.
        """
        if not self.strokes:
            return 0.0
        firsts = np.array([s[0] for s in self.strokes])
        lasts = np.array([s[-1] for s in self.strokes])
        travel = float(np.hypot(*(firsts[1:] - lasts[:-1]).T).sum())
        if start is not None:
            travel += float(np.hypot(*(firsts[0] - np.asarray(start))))
        if end is not None:
            travel += float(np.hypot(*(lasts[-1] - np.asarray(end))))
        return travel

    def pen_lifts(self) -> int:
        """Number of times the pen goes down (= strokes)."""
        return len(self.strokes)

    def bounds(self) -> tuple[float, float, float, float] | None:
        """``(min_x, min_y, max_x, max_y)`` of the ink in mm, or None when empty."""
        if not self.strokes:
            return None
        points = np.concatenate(self.strokes)
        lo = points.min(axis=0)
        hi = points.max(axis=0)
        return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def translated(self, dx_mm: float, dy_mm: float) -> Drawing:
        """The drawing moved by ``(dx_mm, dy_mm)``."""
        offset = np.array([dx_mm, dy_mm])
        return self.with_strokes(s + offset for s in self.strokes)

    def to_svg(self, *, stroke_width_mm: float = 0.4, color: str = "#1a2a6c",
               title: str | None = None) -> str:
        """SVG text of the drawing: one ``<path>`` per stroke, coordinates in mm, a
        ``viewBox`` equal to the card and ``width``/``height`` in mm, so vpype and
        Inkscape open it at its real size. Deterministic: same drawing, same bytes.
        """
        w = _num(self.width_mm)
        h = _num(self.height_mm)
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}mm" '
            f'height="{h}mm" viewBox="0 0 {w} {h}">',
        ]
        if title:
            lines.append(f"<title>{escape(title)}</title>")
        lines.append(
            f'<g fill="none" stroke="{escape(color)}" stroke-width="{_num(stroke_width_mm)}" '
            'stroke-linecap="round" stroke-linejoin="round">'
        )
        for stroke in self.strokes:
            lines.append(f'<path d="{_path_data(stroke)}"/>')
        lines.append("</g>")
        lines.append("</svg>")
        return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    """A coordinate with at most 3 decimals, trailing zeros stripped."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _path_data(stroke: Stroke) -> str:
    points = np.round(stroke, 3)
    head = f"M{_num(points[0, 0])},{_num(points[0, 1])}"
    if len(points) == 1:
        # a dot: a zero-length segment, which round caps draw as a dot
        return head + "h0"
    return head + "L" + " ".join(f"{_num(x)},{_num(y)}" for x, y in points[1:])
