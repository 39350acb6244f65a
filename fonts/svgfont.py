"""Reader for SVG fonts with single-line glyphs (``<font>``/``<glyph unicode d>``), as the
EMS and Hershey single-line fonts of Inkscape's Hershey Text extension are made.

SVG font units have y **up** from the baseline; this edge converts them to em units with
y down (see :mod:`fonts.model`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from fontTools.svgLib.path import parse_path

from fonts.measure import measured_metrics
from fonts.model import Font, FontMetrics, Glyph
from fonts.pens import StrokePen

SVG_NS = "{http://www.w3.org/2000/svg}"


class FontFileError(ValueError):
    """A font file that cannot be read, with the reason."""


def _attr_float(element: ET.Element, name: str, default: float, source: str) -> float:
    value = element.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError as error:
        raise FontFileError(f"{source}: attribute {name}={value!r} is not a number") from error


def _find(root: ET.Element, tag: str) -> ET.Element | None:
    found = root.find(f".//{SVG_NS}{tag}")
    return found if found is not None else root.find(f".//{tag}")


def _findall(root: ET.Element, tag: str) -> list[ET.Element]:
    return root.findall(f".//{SVG_NS}{tag}") or root.findall(f".//{tag}")


def read_svg_font(path: str | Path, *, tolerance_mm: float = 0.01, em_mm: float = 10.0) -> Font:
    """Read an SVG font file into a :class:`Font` in em units.

    Curves are flattened so the polyline stays within ``tolerance_mm`` of the curve when
    the font is written with an em of ``em_mm`` millimetres (the largest size penpost
    writes). Several ``<glyph>`` elements for one character become its alternates; glyphs
    for more than one character (ligatures) are skipped.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as error:
        raise FontFileError(f"{path.name}: not a readable SVG file ({error})") from error
    font_el = _find(root, "font")
    if font_el is None:
        raise FontFileError(f"{path.name}: no <font> element, so not an SVG font")
    face = _find(font_el, "font-face")
    face = face if face is not None else ET.Element("font-face")
    units_per_em = _attr_float(face, "units-per-em", 1000.0, path.name)
    if units_per_em <= 0:
        raise FontFileError(f"{path.name}: units-per-em must be positive")
    default_advance = _attr_float(font_el, "horiz-adv-x", units_per_em / 2, path.name)
    tolerance_units = tolerance_mm / em_mm * units_per_em
    to_em = np.array([1.0 / units_per_em, -1.0 / units_per_em])

    glyphs: dict[str, list[Glyph]] = {}
    for element in _findall(font_el, "glyph"):
        char = element.get("unicode")
        if char is None or len(char) != 1:
            continue
        pen = StrokePen(tolerance_units)
        data = element.get("d", "")
        if data.strip():
            try:
                parse_path(data, pen)
            except Exception as error:  # the path parser raises several kinds
                raise FontFileError(
                    f"{path.name}: glyph {char!r} has unreadable path data ({error})"
                ) from error
        strokes = tuple(s * to_em for s in pen.finish())
        advance = _attr_float(element, "horiz-adv-x", default_advance, path.name) / units_per_em
        glyphs.setdefault(char, []).append(
            Glyph(char=char, strokes=strokes, advance=advance, name=element.get("glyph-name", ""))
        )
    if not glyphs:
        raise FontFileError(f"{path.name}: the font has no glyphs")
    frozen = {char: tuple(forms) for char, forms in glyphs.items()}
    declared = FontMetrics(
        ascent=_attr_float(face, "ascent", 0.8 * units_per_em, path.name) / units_per_em,
        descent=abs(_attr_float(face, "descent", -0.2 * units_per_em, path.name)) / units_per_em,
        cap_height=_attr_float(face, "cap-height", 0.7 * units_per_em, path.name) / units_per_em,
        x_height=_attr_float(face, "x-height", 0.5 * units_per_em, path.name) / units_per_em,
    )
    metadata = _find(root, "metadata")
    licence = _licence_line(metadata.text if metadata is not None else "")
    return Font(
        name=font_el.get("id") or path.stem,
        family=face.get("font-family") or path.stem,
        metrics=measured_metrics(frozen, declared),
        glyphs=frozen,
        licence=licence,
        source=path.name,
    )


def _licence_line(metadata: str | None) -> str:
    if not metadata:
        return ""
    match = re.search(r"License:\s*(.+)", metadata)
    if match:
        return match.group(1).strip()
    if "Hershey" in metadata:
        return "Hershey fonts licence (acknowledgement travels with the data)"
    return ""
