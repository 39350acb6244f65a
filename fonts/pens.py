"""Pens (fontTools' drawing protocol) that turn glyph outlines into penpost strokes.

A glyph source draws with ``moveTo``/``lineTo``/``curveTo``/``qCurveTo``/``closePath``/
``endPath``; :class:`StrokePen` records what it draws as polylines, flattening curves to
a tolerance in the source's units. Filter pens (a transform, say) wrap it freely.
"""

from __future__ import annotations

import math

import numpy as np
from fontTools.pens.basePen import BasePen

Point = tuple[float, float]


class StrokePen(BasePen):
    """Record drawing as polylines; curves are flattened so that no point of the curve is
    further than ``tolerance`` (in the drawing's units) from the polyline.

    >>> pen = StrokePen(tolerance=0.01)
    >>> pen.moveTo((0, 0)); pen.lineTo((1, 0)); pen.endPath()
    >>> [s.tolist() for s in pen.strokes]
    [[[0.0, 0.0], [1.0, 0.0]]]
    """

    def __init__(self, tolerance: float, glyphSet=None) -> None:
        super().__init__(glyphSet)
        if not tolerance > 0:
            raise ValueError(f"flattening tolerance must be positive, got {tolerance}")
        self.tolerance = tolerance
        self.strokes: list[np.ndarray] = []
        self.closed: list[bool] = []
        self._points: list[Point] = []

    def _flush(self, closed: bool) -> None:
        if self._points:
            self.strokes.append(np.array(self._points, dtype=np.float64))
            self.closed.append(closed)
        self._points = []

    def _moveTo(self, pt: Point) -> None:
        self._flush(closed=False)
        self._points = [tuple(pt)]

    def _lineTo(self, pt: Point) -> None:
        self._points.append(tuple(pt))

    def _curveToOne(self, pt1: Point, pt2: Point, pt3: Point) -> None:
        p0 = np.array(self._getCurrentPoint(), dtype=np.float64)
        p1, p2, p3 = (np.array(p, dtype=np.float64) for p in (pt1, pt2, pt3))
        # |B''| <= 6 max|p_i - 2p_{i+1} + p_{i+2}|; a chord's error is |B''| / (8 n^2)
        second = max(np.hypot(*(p0 - 2 * p1 + p2)), np.hypot(*(p1 - 2 * p2 + p3)))
        n = max(1, math.ceil(math.sqrt(0.75 * second / self.tolerance)))
        t = np.linspace(0.0, 1.0, n + 1)[1:, None]
        mt = 1.0 - t
        points = mt**3 * p0 + 3 * mt**2 * t * p1 + 3 * mt * t**2 * p2 + t**3 * p3
        self._points.extend(map(tuple, points))

    def _qCurveToOne(self, pt1: Point, pt2: Point) -> None:
        p0 = np.array(self._getCurrentPoint(), dtype=np.float64)
        p1, p2 = (np.array(p, dtype=np.float64) for p in (pt1, pt2))
        # |B''| = 2|p0 - 2p1 + p2|; a chord's error is |B''| / (8 n^2)
        second = np.hypot(*(p0 - 2 * p1 + p2))
        n = max(1, math.ceil(math.sqrt(second / (4 * self.tolerance))))
        t = np.linspace(0.0, 1.0, n + 1)[1:, None]
        mt = 1.0 - t
        points = mt**2 * p0 + 2 * mt * t * p1 + t**2 * p2
        self._points.extend(map(tuple, points))

    def _closePath(self) -> None:
        if self._points and self._points[-1] != self._points[0]:
            self._points.append(self._points[0])
        self._flush(closed=True)

    def _endPath(self) -> None:
        self._flush(closed=False)

    def finish(self) -> list[np.ndarray]:
        """Flush a path left open and return the strokes."""
        self._flush(closed=False)
        return self.strokes
