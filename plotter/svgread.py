"""Single-line SVG (vpype, Inkscape, :meth:`Drawing.to_svg`) to a :class:`Drawing` in mm.

Every shape is taken as a pen path, whatever its fill or stroke: ``path``, ``polyline``,
``polygon``, ``line``, ``rect``, ``circle``, ``ellipse`` and ``use``, inside nested ``g``
and ``svg`` elements with ``transform`` lists (``matrix``, ``translate``, ``scale``,
``rotate``, ``skewX``, ``skewY``). The root's ``width``/``height`` (mm, cm, in, pt, pc,
px at 96 dpi) and ``viewBox`` (with ``preserveAspectRatio``) give the card size and the
scale to mm. Curves and arcs are flattened in mm, after every transform, so no point of a
curve is further than ``tolerance_mm`` from its polyline. Hidden elements
(``display:none``), ``defs``, text and clip paths are skipped.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
from fontTools.pens.basePen import BasePen
from fontTools.pens.transformPen import TransformPen
from fontTools.svgLib.path.arc import EllipticalArc
from fontTools.svgLib.path.parser import parse_path

from plotter.drawing import Drawing

Point = tuple[float, float]

MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "in": 25.4, "pt": 25.4 / 72, "pc": 25.4 / 6,
               "px": 25.4 / 96, "": 25.4 / 96, "q": 0.25}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SKIPPED = {"defs", "clipPath", "mask", "marker", "pattern", "symbol", "metadata", "title",
            "desc", "text", "style", "script", "linearGradient", "radialGradient", "filter"}


class SvgError(ValueError):
    """An SVG that cannot be read as a drawing."""


class _FlatPen(BasePen):
    """Polylines from pen calls, curves flattened so that no point of a curve is further
    than ``tolerance`` from the polyline (in the pen's units: mm here)."""

    def __init__(self, tolerance: float) -> None:
        super().__init__(None)
        self.tolerance = tolerance
        self.strokes: list[np.ndarray] = []
        self._points: list[Point] = []
        self._drawn = False

    def _flush(self, closed: bool = False) -> None:
        points = self._points
        if points and closed and points[-1] != points[0]:
            points.append(points[0])
        if points and (self._drawn or closed):
            array = np.array(points, dtype=np.float64)
            if np.all(array == array[0]):
                array = array[:1]  # a zero-length path ("M x,y h0") is a dot
            self.strokes.append(array)
        # a lone moveto draws nothing in SVG
        self._points = []
        self._drawn = False

    def _moveTo(self, pt: Point) -> None:
        self._flush()
        self._points = [tuple(pt)]

    def _lineTo(self, pt: Point) -> None:
        self._points.append(tuple(pt))
        self._drawn = True

    def _curveToOne(self, pt1: Point, pt2: Point, pt3: Point) -> None:
        p0 = np.array(self._getCurrentPoint(), dtype=np.float64)
        p1, p2, p3 = (np.array(p, dtype=np.float64) for p in (pt1, pt2, pt3))
        # |B''| <= 6 max|p_i - 2p_{i+1} + p_{i+2}|; a chord's error is |B''| / (8 n^2)
        second = max(np.hypot(*(p0 - 2 * p1 + p2)), np.hypot(*(p1 - 2 * p2 + p3)))
        n = max(1, math.ceil(math.sqrt(0.75 * second / self.tolerance)))
        t = np.linspace(0.0, 1.0, n + 1)[1:, None]
        mt = 1.0 - t
        points = mt**3 * p0 + 3 * mt**2 * t * p1 + 3 * mt * t**2 * p2 + t**3 * p3
        points[-1] = p3
        self._points.extend(map(tuple, points.tolist()))
        self._drawn = True

    def _qCurveToOne(self, pt1: Point, pt2: Point) -> None:
        p0 = np.array(self._getCurrentPoint(), dtype=np.float64)
        p1, p2 = (np.array(p, dtype=np.float64) for p in (pt1, pt2))
        # |B''| = 2|p0 - 2p1 + p2|; a chord's error is |B''| / (8 n^2)
        second = np.hypot(*(p0 - 2 * p1 + p2))
        n = max(1, math.ceil(math.sqrt(second / (4 * self.tolerance))))
        t = np.linspace(0.0, 1.0, n + 1)[1:, None]
        mt = 1.0 - t
        points = mt**2 * p0 + 2 * mt * t * p1 + t**2 * p2
        points[-1] = p2
        self._points.extend(map(tuple, points.tolist()))
        self._drawn = True

    def _closePath(self) -> None:
        self._flush(closed=True)

    def _endPath(self) -> None:
        self._flush()


def _arc_class(scale: float, tolerance: float) -> type[EllipticalArc]:
    """An arc that draws itself as line segments, fine enough for ``tolerance`` mm at
    ``scale`` mm per user unit (fontTools' one cubic per 90 degrees is 2.7e-4 of the
    radius off: 0.03 mm on a 100 mm circle)."""

    class _Arc(EllipticalArc):
        def draw(self, pen) -> None:  # noqa: ANN001 - a fontTools pen
            target = (self.target_point.real, self.target_point.imag)
            if not self._parametrize():
                if self.target_point != self.current_point:
                    pen.lineTo(target)  # a zero radius is a straight line (SVG 1.1 F.6.2)
                return
            radius = max(abs(self.rx), abs(self.ry)) * scale
            # sagitta of a chord spanning angle a: r (1 - cos(a / 2)) <= tolerance
            step = 2 * math.acos(max(-1.0, 1 - tolerance / radius)) if radius > 0 else math.pi
            n = max(1, math.ceil(abs(self.theta_arc) / step))
            cos_a, sin_a = math.cos(self.angle), math.sin(self.angle)
            for k in range(1, n):
                theta = self.theta1 + self.theta_arc * k / n
                u = (self.center_point.real + math.cos(theta)) * self.rx
                v = (self.center_point.imag + math.sin(theta)) * self.ry
                pen.lineTo((cos_a * u - sin_a * v, sin_a * u + cos_a * v))
            pen.lineTo(target)

    return _Arc


def _tag(element: ElementTree.Element) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _numbers(text: str | None) -> list[float]:
    return [float(v) for v in _NUMBER.findall(text or "")]


def _length_mm(text: str | None) -> float | None:
    """An SVG length in mm, or None when absent or relative (%, em)."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z%]*)\s*",
                         text)
    if not match:
        raise SvgError(f"cannot read the length {text!r}")
    unit = match.group(2).lower()
    if unit not in MM_PER_UNIT:
        return None
    return float(match.group(1)) * MM_PER_UNIT[unit]


def _attr_float(element: ElementTree.Element, name: str, default: float = 0.0) -> float:
    # user units; a unit suffix here is rare in single-line SVG: px-based units only
    value = element.get(name)
    if value is None:
        return default
    mm = _length_mm(value)
    return default if mm is None else mm / MM_PER_UNIT["px"]


def parse_transform(text: str | None) -> np.ndarray:
    """The 3x3 matrix of an SVG ``transform`` list.

    >>> parse_transform("translate(10 5) scale(2)").tolist()
    [[2.0, 0.0, 10.0], [0.0, 2.0, 5.0], [0.0, 0.0, 1.0]]
    """
    matrix = np.eye(3)
    for name, args in re.findall(r"([a-zA-Z]+)\s*\(([^)]*)\)", text or ""):
        v = _numbers(args)
        m = np.eye(3)
        if name == "matrix" and len(v) == 6:
            m[:2, :] = [[v[0], v[2], v[4]], [v[1], v[3], v[5]]]
        elif name == "translate" and len(v) in (1, 2):
            m[:2, 2] = (v[0], v[1] if len(v) == 2 else 0.0)
        elif name == "scale" and len(v) in (1, 2):
            m[0, 0], m[1, 1] = v[0], v[1] if len(v) == 2 else v[0]
        elif name == "rotate" and len(v) in (1, 3):
            a = math.radians(v[0])
            cx, cy = (v[1], v[2]) if len(v) == 3 else (0.0, 0.0)
            m[:2, :2] = [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]
            m[:2, 2] = (cx, cy) - m[:2, :2] @ (cx, cy)
        elif name == "skewX" and len(v) == 1:
            m[0, 1] = math.tan(math.radians(v[0]))
        elif name == "skewY" and len(v) == 1:
            m[1, 0] = math.tan(math.radians(v[0]))
        else:
            raise SvgError(f"cannot read the transform {name}({args})")
        matrix = matrix @ m
    return matrix


def _viewbox_matrix(element: ElementTree.Element, width: float | None,
                    height: float | None) -> np.ndarray:
    """User units -> the viewport's units, from ``viewBox`` and ``preserveAspectRatio``."""
    box = _numbers(element.get("viewBox"))
    if len(box) != 4 or box[2] <= 0 or box[3] <= 0 or width is None or height is None:
        m = np.eye(3)
        if len(box) == 4:
            m[:2, 2] = (-box[0], -box[1])
        return m
    sx, sy = width / box[2], height / box[3]
    align = (element.get("preserveAspectRatio") or "xMidYMid meet").split()
    tx, ty = 0.0, 0.0
    if align[0] != "none":
        s = max(sx, sy) if "slice" in align else min(sx, sy)
        free_x, free_y = width - box[2] * s, height - box[3] * s
        tx = {"xMin": 0.0, "xMid": 0.5, "xMax": 1.0}[align[0][:4]] * free_x
        ty = {"YMin": 0.0, "YMid": 0.5, "YMax": 1.0}[align[0][4:]] * free_y
        sx = sy = s
    return np.array([[sx, 0, tx - box[0] * sx], [0, sy, ty - box[1] * sy], [0, 0, 1.0]])


def _hidden(element: ElementTree.Element) -> bool:
    style = (element.get("style") or "").replace(" ", "")
    return element.get("display") == "none" or "display:none" in style


def _shape_path(element: ElementTree.Element, tag: str) -> str | None:
    """Path data for a basic shape (user units), or None when it draws nothing."""
    f = lambda name, default=0.0: _attr_float(element, name, default)  # noqa: E731
    if tag == "path":
        return element.get("d")
    if tag in ("polyline", "polygon"):
        values = _numbers(element.get("points"))
        pairs = [f"{values[i]!r},{values[i + 1]!r}" for i in range(0, len(values) - 1, 2)]
        if not pairs:
            return None
        return "M" + " L".join(pairs) + (" Z" if tag == "polygon" else "")
    if tag == "line":
        return f"M{f('x1')!r},{f('y1')!r} L{f('x2')!r},{f('y2')!r}"
    if tag == "rect":
        x, y, w, h = f("x"), f("y"), f("width"), f("height")
        if w <= 0 or h <= 0:
            return None
        rx, ry = element.get("rx"), element.get("ry")
        rx_v = f("rx") if rx is not None else (f("ry") if ry is not None else 0.0)
        ry_v = f("ry") if ry is not None else rx_v
        rx_v, ry_v = min(rx_v, w / 2), min(ry_v, h / 2)
        if rx_v <= 0 or ry_v <= 0:
            return f"M{x!r},{y!r} H{x + w!r} V{y + h!r} H{x!r} Z"
        a = f"A{rx_v!r},{ry_v!r} 0 0 1"
        return (f"M{x + rx_v!r},{y!r} H{x + w - rx_v!r} {a} {x + w!r},{y + ry_v!r} "
                f"V{y + h - ry_v!r} {a} {x + w - rx_v!r},{y + h!r} H{x + rx_v!r} "
                f"{a} {x!r},{y + h - ry_v!r} V{y + ry_v!r} {a} {x + rx_v!r},{y!r} Z")
    if tag in ("circle", "ellipse"):
        cx, cy = f("cx"), f("cy")
        rx = f("r") if tag == "circle" else f("rx")
        ry = f("r") if tag == "circle" else f("ry")
        if rx <= 0 or ry <= 0:
            return None
        a = f"A{rx!r},{ry!r} 0 0 1"
        return (f"M{cx + rx!r},{cy!r} {a} {cx!r},{cy + ry!r} {a} {cx - rx!r},{cy!r} "
                f"{a} {cx!r},{cy - ry!r} {a} {cx + rx!r},{cy!r} Z")
    return None


def read_svg(path_or_text: str | Path, *, tolerance_mm: float = 0.01) -> Drawing:
    """A Drawing in mm (y down, origin at the page's top-left) from SVG text or a file.

    The card size is the root's ``width`` x ``height`` in mm; without them, the
    ``viewBox`` size in px (96 dpi).

    >>> d = read_svg('<svg xmlns="http://www.w3.org/2000/svg" width="20mm" height="10mm" '
    ...              'viewBox="0 0 200 100"><line x1="0" y1="0" x2="100" y2="50"/></svg>')
    >>> d.width_mm, d.height_mm, d.strokes[0].tolist()
    (20.0, 10.0, [[0.0, 0.0], [10.0, 5.0]])
    """
    if not tolerance_mm > 0:
        raise ValueError(f"flattening tolerance must be positive, got {tolerance_mm}")
    text = str(path_or_text)
    if isinstance(path_or_text, Path) or not text.lstrip().startswith("<"):
        data = Path(path_or_text).read_bytes()  # the XML declaration names the encoding
    else:
        data = text.strip().encode("utf-8")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise SvgError(f"not well-formed SVG: {error}") from error
    if _tag(root) != "svg":
        raise SvgError(f"the root element is <{_tag(root)}>, not <svg>")
    box = _numbers(root.get("viewBox"))
    width_mm = _length_mm(root.get("width"))
    height_mm = _length_mm(root.get("height"))
    if width_mm is None or height_mm is None:
        if len(box) != 4:
            raise SvgError("the SVG gives neither width/height nor a viewBox: no page size")
        # without a size the viewBox's user units are px (CSS: 96 per inch)
        scale = MM_PER_UNIT["px"]
        width_mm = box[2] * scale if width_mm is None else width_mm
        height_mm = box[3] * scale if height_mm is None else height_mm
    ids = {e.get("id"): e for e in root.iter() if e.get("id")}
    pen = _FlatPen(tolerance_mm)

    def visit(element: ElementTree.Element, matrix: np.ndarray, depth: int) -> None:
        tag = _tag(element)
        if tag in _SKIPPED or _hidden(element) or depth > 64:
            return
        matrix = matrix @ parse_transform(element.get("transform"))
        if tag == "svg" and depth > 0:  # a nested viewport
            w, h = element.get("width"), element.get("height")
            matrix = matrix @ parse_transform(f"translate({_attr_float(element, 'x')} "
                                              f"{_attr_float(element, 'y')})")
            vw = _attr_float(element, "width") if w is not None else None
            vh = _attr_float(element, "height") if h is not None else None
            matrix = matrix @ _viewbox_matrix(element, vw, vh)
        if tag in ("svg", "g", "a", "switch"):
            for child in element:
                visit(child, matrix, depth + 1)
            return
        if tag == "use":
            href = element.get("href") or element.get("{http://www.w3.org/1999/xlink}href")
            target = ids.get((href or "").lstrip("#"))
            if target is not None:
                offset = parse_transform(f"translate({_attr_float(element, 'x')} "
                                         f"{_attr_float(element, 'y')})")
                target_matrix = matrix @ offset
                if _tag(target) == "symbol":
                    for child in target:
                        visit(child, target_matrix, depth + 1)
                else:
                    visit(target, target_matrix, depth + 1)
            return
        data = _shape_path(element, tag)
        if not data or not data.strip():
            return
        # singular values of the linear part bound how much the transform stretches
        scale = float(np.linalg.svd(matrix[:2, :2], compute_uv=False)[0])
        flat = TransformPen(pen, tuple(matrix[:2, :].T.ravel()))
        try:
            parse_path(data, flat, arc_class=_arc_class(scale, tolerance_mm))
        except (ValueError, IndexError) as error:
            raise SvgError(f"cannot read the path data of <{tag} "
                           f"id={element.get('id')!r}>: {error}") from error
        pen._flush()

    if len(box) == 4:
        top = _viewbox_matrix(root, width_mm, height_mm)
    else:  # no viewBox: a user unit is a px
        top = np.diag([MM_PER_UNIT["px"], MM_PER_UNIT["px"], 1.0])
    visit(root, top, 0)
    return Drawing(tuple(pen.strokes), width_mm, height_mm)
