"""Reader for single-line fonts in OpenType (``.otf``/``.ttf``) files, via fontTools.

OpenType has no open paths, so a single-line font stores each stroke as a closed contour
that runs out along the stroke and back along itself. This edge finds such retraced
contours and keeps one open stroke for each, so the plotter draws no line twice; a
contour that is a real loop (the ring of an ``o``) stays a closed polyline.

Font units have y **up** from the baseline; this edge converts them to em units with
y down (see :mod:`fonts.model`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fontTools.pens.basePen import BasePen
from fontTools.ttLib import TTFont, TTLibError
from fontTools.ttLib.tables import otTables

from fonts.measure import measured_metrics
from fonts.model import Font, FontMetrics, Glyph
from fonts.pens import StrokePen
from fonts.svgfont import FontFileError

Point = tuple[float, float]

# GSUB features whose single (and alternate) substitutions give a character's alternates
_ALTERNATE_FEATURE = re.compile(r"^(salt|aalt|ss(0[1-9]|1[0-9]|20)|cv(0[1-9]|[1-9][0-9]))$")
# lookup types in GSUB: 1 single, 3 alternate, 7 extension (wraps another type)
_SINGLE, _ALTERNATE, _EXTENSION = 1, 3, 7
# how close (in font units) the way back must run to the way out to count as a retrace:
# a little over the rounding of coordinates to whole units, and scaled with the em
_RETRACE_EM = 0.002


class OpenTypeFileError(FontFileError):
    """An OpenType file that cannot be read, naming the file and the reason."""


@dataclass(frozen=True)
class Segment:
    """One drawing segment in font units: ``points[0]`` is where it starts, the rest are
    what the pen call received (a line has one more point, a quadratic two, a cubic three).
    """

    points: tuple[Point, ...]

    def reversed(self) -> Segment:
        """The same segment drawn the other way."""
        return Segment(self.points[::-1])

    def close_to(self, other: Segment, tolerance: float) -> bool:
        """Whether both segments have the same kind and all points within ``tolerance``."""
        if len(self.points) != len(other.points):
            return False
        a = np.asarray(self.points, dtype=np.float64)
        b = np.asarray(other.points, dtype=np.float64)
        return bool(np.all(np.hypot(*(a - b).T) <= tolerance))


@dataclass(frozen=True)
class Contour:
    """A contour as a start point and segments in font units; ``closed`` if the source
    closed it (the last segment then ends at the start point).
    """

    start: Point
    segments: tuple[Segment, ...]
    closed: bool


class SegmentPen(BasePen):
    """Record drawing as :class:`Contour` objects, curves kept as single Bézier segments.

    A closed contour gets an explicit closing line when it does not end at its start;
    segments of zero length are dropped, as they draw nothing.
    """

    def __init__(self, glyphSet=None) -> None:
        super().__init__(glyphSet)
        self.contours: list[Contour] = []
        self._start: Point | None = None
        self._segments: list[Segment] = []

    def _add(self, *points: Point) -> None:
        start = self._getCurrentPoint()
        pts = (tuple(map(float, start)),) + tuple(tuple(map(float, p)) for p in points)
        if all(p == pts[0] for p in pts[1:]):
            return
        self._segments.append(Segment(pts))

    def _flush(self, closed: bool) -> None:
        if self._start is not None:
            self.contours.append(Contour(self._start, tuple(self._segments), closed))
        self._start = None
        self._segments = []

    def _moveTo(self, pt: Point) -> None:
        self._flush(closed=False)
        self._start = (float(pt[0]), float(pt[1]))

    def _lineTo(self, pt: Point) -> None:
        self._add(pt)

    def _curveToOne(self, pt1: Point, pt2: Point, pt3: Point) -> None:
        self._add(pt1, pt2, pt3)

    def _qCurveToOne(self, pt1: Point, pt2: Point) -> None:
        self._add(pt1, pt2)

    def _closePath(self) -> None:
        if self._start is not None:
            end = self._segments[-1].points[-1] if self._segments else self._start
            if end != self._start:
                self._segments.append(Segment((end, self._start)))
        self._flush(closed=True)

    def _endPath(self) -> None:
        self._flush(closed=False)

    def finish(self) -> list[Contour]:
        """Flush a path left open and return the contours."""
        self._flush(closed=False)
        return self.contours


def retraced_half(segments: Sequence[Segment], tolerance: float) -> tuple[Segment, ...] | None:
    """If the closed contour ``segments`` runs out along a stroke and back along itself,
    the segments of the way out (one open stroke); otherwise None.

    The contour may start anywhere on the stroke: it retraces itself when, for some turning
    segment index ``a``, segment ``a + i`` reversed matches segment ``a - 1 - i`` for every
    ``i`` (indices taken around the contour), all points within ``tolerance`` font units.

    >>> out = Segment(((0.0, 0.0), (0.0, 700.0)))
    >>> retraced_half([out, out.reversed()], 1.0) == (out,)
    True
    """
    m = len(segments)
    if m == 0 or m % 2:
        return None
    half = m // 2
    for a in range(m):
        if all(
            segments[(a + i) % m].reversed().close_to(segments[(a - 1 - i) % m], tolerance)
            for i in range(half)
        ):
            return tuple(segments[(a + i) % m] for i in range(half))
    return None


def _draw_segments(pen: BasePen, start: Point, segments: Iterable[Segment]) -> None:
    pen.moveTo(start)
    for segment in segments:
        rest = segment.points[1:]
        if len(rest) == 1:
            pen.lineTo(rest[0])
        elif len(rest) == 2:
            pen.qCurveTo(*rest)
        else:
            pen.curveTo(*rest)


def contour_strokes(contours: Iterable[Contour], tolerance: float,
                    retrace_tolerance: float) -> list[np.ndarray]:
    """Polylines in font units (y up) for ``contours``: a retraced closed contour becomes one
    open stroke, a real loop a closed polyline (its first point repeated at the end), curves
    flattened to within ``tolerance`` font units.
    """
    pen = StrokePen(tolerance)
    for contour in contours:
        if not contour.segments:
            # a lone point: a dot
            pen.moveTo(contour.start)
            pen.endPath()
            continue
        half = retraced_half(contour.segments, retrace_tolerance) if contour.closed else None
        if half is not None:
            _draw_segments(pen, half[0].points[0], half)
            pen.endPath()
        else:
            _draw_segments(pen, contour.start, contour.segments)
            if contour.closed:
                pen.closePath()
            else:
                pen.endPath()
    return pen.finish()


def _lookup_mappings(lookup: otTables.Lookup) -> Iterable[Mapping[str, Sequence[str]]]:
    """Each subtable of a GSUB lookup as ``{glyph: [alternate glyphs]}`` (single and
    alternate substitutions; other lookup types give nothing).
    """
    for subtable in lookup.SubTable:
        kind = lookup.LookupType
        if kind == _EXTENSION:
            kind = subtable.ExtensionLookupType
            subtable = subtable.ExtSubTable
        if kind == _SINGLE:
            yield {source: [target] for source, target in subtable.mapping.items()}
        elif kind == _ALTERNATE:
            yield subtable.alternates


def alternate_map(font: TTFont) -> dict[str, list[str]]:
    """Glyph name → alternate glyph names, in feature order, from the GSUB single and
    alternate substitutions of ``salt``, ``aalt``, ``ss01``–``ss20`` and ``cv01``–``cv99``.
    """
    if "GSUB" not in font:
        return {}
    table = font["GSUB"].table
    if table.FeatureList is None or table.LookupList is None:
        return {}
    lookups = table.LookupList.Lookup
    result: dict[str, list[str]] = {}
    seen_lookups: set[int] = set()
    for record in table.FeatureList.FeatureRecord:
        if not _ALTERNATE_FEATURE.match(record.FeatureTag):
            continue
        for index in record.Feature.LookupListIndex:
            if index in seen_lookups or index >= len(lookups):
                continue
            seen_lookups.add(index)
            for mapping in _lookup_mappings(lookups[index]):
                for source, targets in mapping.items():
                    forms = result.setdefault(source, [])
                    forms.extend(t for t in targets if t not in forms and t != source)
    return result


def _reachable(base: str, alternates: Mapping[str, Sequence[str]]) -> list[str]:
    """``base`` and every glyph reachable from it through ``alternates``, base first."""
    order = [base]
    index = 0
    while index < len(order):
        for target in alternates.get(order[index], ()):
            if target not in order:
                order.append(target)
        index += 1
    return order


def _name(font: TTFont, *ids: int) -> str:
    if "name" not in font:
        return ""
    for name_id in ids:
        record = font["name"].getDebugName(name_id)
        if record:
            return record.strip()
    return ""


def _declared_metrics(font: TTFont, units_per_em: float) -> FontMetrics:
    """Metrics the font declares, in em units, with typical fallbacks where it is silent."""
    ascent, descent = 0.8 * units_per_em, 0.2 * units_per_em
    cap_height, x_height = 0.7 * units_per_em, 0.5 * units_per_em
    if "hhea" in font:
        ascent, descent = font["hhea"].ascent, abs(font["hhea"].descent)
    if "OS/2" in font:
        os2 = font["OS/2"]
        if os2.sTypoAscender > 0:
            ascent, descent = os2.sTypoAscender, abs(os2.sTypoDescender)
        # sCapHeight and sxHeight exist from OS/2 version 2; 0 means "not set"
        cap_height = getattr(os2, "sCapHeight", 0) or cap_height
        x_height = getattr(os2, "sxHeight", 0) or x_height
    return FontMetrics(
        ascent=ascent / units_per_em,
        descent=descent / units_per_em,
        cap_height=cap_height / units_per_em,
        x_height=x_height / units_per_em,
    )


def read_opentype(path: str | Path, *, tolerance_mm: float = 0.01, em_mm: float = 10.0,
                  name: str | None = None) -> Font:
    """Read a single-line OpenType font (``.otf``, ``.ttf``) into a :class:`Font` in em
    units, y down, baseline at y = 0.

    Curves are flattened so the polyline stays within ``tolerance_mm`` of the curve when
    the font is written with an em of ``em_mm`` millimetres. Each retraced contour becomes
    one open stroke (see :func:`retraced_half`). Characters come from the cmap, advances
    from ``hmtx``; glyphs reachable from a character's glyph through the GSUB single or
    alternate substitutions of ``salt``, ``aalt``, ``ss01``–``ss20`` or ``cv01``–``cv99``
    become its further alternates. ``name`` overrides the font's PostScript name.

    Raises :class:`OpenTypeFileError` (a :class:`~fonts.svgfont.FontFileError`) when the
    file is not a readable font or lacks what a font needs (cmap, glyphs).
    """
    if not (tolerance_mm > 0 and em_mm > 0):
        raise ValueError(f"tolerance_mm and em_mm must be positive, got {tolerance_mm}, {em_mm}")
    path = Path(path)
    try:
        font = TTFont(path, lazy=False)
    except (TTLibError, OSError, AssertionError, KeyError, ValueError) as error:
        raise OpenTypeFileError(f"{path.name}: not a readable OpenType font ({error})") from error
    try:
        return _read(font, path, tolerance_mm=tolerance_mm, em_mm=em_mm, name=name)
    except OpenTypeFileError:
        raise
    except Exception as error:  # fontTools decodes tables lazily and raises many kinds
        raise OpenTypeFileError(f"{path.name}: broken font data ({error!r})") from error
    finally:
        font.close()


def _read(font: TTFont, path: Path, *, tolerance_mm: float, em_mm: float,
          name: str | None) -> Font:
    if "head" not in font:
        raise OpenTypeFileError(f"{path.name}: no 'head' table, so no units per em")
    units_per_em = float(font["head"].unitsPerEm)
    if units_per_em <= 0:
        raise OpenTypeFileError(f"{path.name}: units per em must be positive")
    cmap = font.getBestCmap()
    if not cmap:
        raise OpenTypeFileError(f"{path.name}: no Unicode cmap, so no characters")
    if "hmtx" not in font:
        raise OpenTypeFileError(f"{path.name}: no 'hmtx' table, so no advances")
    metrics_table = font["hmtx"].metrics
    glyph_set = font.getGlyphSet()
    tolerance_units = tolerance_mm / em_mm * units_per_em
    retrace_units = max(1.0, _RETRACE_EM * units_per_em)
    # divide rather than multiply by 1/upm, so 700 units at 1000 upm are exactly -0.7 em
    to_em = np.array([units_per_em, -units_per_em])
    alternates = alternate_map(font)

    cache: dict[str, tuple[tuple[np.ndarray, ...], float]] = {}

    def outline(glyph_name: str) -> tuple[tuple[np.ndarray, ...], float]:
        if glyph_name not in cache:
            if glyph_name not in glyph_set:
                raise OpenTypeFileError(f"{path.name}: glyph {glyph_name!r} is not in the font")
            pen = SegmentPen(glyph_set)
            glyph_set[glyph_name].draw(pen)
            strokes = contour_strokes(pen.finish(), tolerance_units, retrace_units)
            advance = metrics_table.get(glyph_name, (0, 0))[0] / units_per_em
            # + 0.0 turns the -0.0 of a flipped zero into 0.0
            cache[glyph_name] = (tuple(s / to_em + 0.0 for s in strokes), advance)
        return cache[glyph_name]

    glyphs: dict[str, tuple[Glyph, ...]] = {}
    for codepoint, base in sorted(cmap.items()):
        char = chr(codepoint)
        forms = []
        for glyph_name in _reachable(base, alternates):
            strokes, advance = outline(glyph_name)
            forms.append(Glyph(char=char, strokes=strokes, advance=advance, name=glyph_name))
        glyphs[char] = tuple(forms)

    declared = _declared_metrics(font, units_per_em)
    licence = _name(font, 13).splitlines()
    return Font(
        name=name or _name(font, 6, 4) or path.stem,
        family=_name(font, 16, 1) or path.stem,
        metrics=measured_metrics(glyphs, declared),
        glyphs=glyphs,
        licence=licence[0] if licence else "",
        source=path.name,
    )
