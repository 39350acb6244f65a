"""Metrics measured from the glyphs themselves (declared font metrics are often wrong)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fonts.model import FontMetrics, Glyph

_X_HEIGHT_CHARS = "xvwz"
_CAP_HEIGHT_CHARS = "HIEFTZ"
_DESCENDER_CHARS = "gjpqy"


def _top(glyphs: Mapping[str, tuple[Glyph, ...]], chars: str) -> float | None:
    tops = []
    for char in chars:
        forms = glyphs.get(char)
        if forms and forms[0].strokes:
            bounds = forms[0].bounds()
            assert bounds is not None
            tops.append(-bounds[1])
    return float(np.median(tops)) if tops else None


def _bottom(glyphs: Mapping[str, tuple[Glyph, ...]], chars: str) -> float | None:
    bottoms = []
    for char in chars:
        forms = glyphs.get(char)
        if forms and forms[0].strokes:
            bounds = forms[0].bounds()
            assert bounds is not None
            bottoms.append(bounds[3])
    return float(np.median(bottoms)) if bottoms else None


def measured_metrics(glyphs: Mapping[str, tuple[Glyph, ...]], declared: FontMetrics) -> FontMetrics:
    """Metrics in em units taken from the glyphs where they exist (the median top of
    x v w z for the x-height, of H I E F T Z for the cap height, the median bottom of
    g j p q y for the descent), falling back to ``declared``.
    """
    x_height = _top(glyphs, _X_HEIGHT_CHARS) or declared.x_height
    cap_height = _top(glyphs, _CAP_HEIGHT_CHARS) or declared.cap_height
    descent = _bottom(glyphs, _DESCENDER_CHARS) or declared.descent
    ascent = max(cap_height, _top(glyphs, "bdfhklt") or 0.0)
    return FontMetrics(ascent=ascent, descent=descent, cap_height=cap_height, x_height=x_height)
