"""How a joined script is written without lifting the pen: each glyph's strokes become one
*body* (its pen-down chain from entry to exit), an optional *lead-in* from the common
connection point to the body's start, and *marks* (dots, accents, crossings) written after
the word, as a person writes them.

All coordinates are em units, y down, baseline at 0 (see :mod:`fonts.model`).

A connected script's letters leave at one connection point (their *exit*, near the
advance) and the next letter's entry starts there. Within a glyph, strokes that continue
one another are chained: end to start, or by retracing along a stroke the pen already
drew (the way a hand goes back up the stem of an ``n`` before the hump) — retraced ink
lies on itself and does not show.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from fonts.model import Font, Glyph

TOUCH_EM = 0.03  # ends closer than this meet (em)
BRIDGE_EM = 0.12  # a gap this short inside a glyph is drawn as a line (em)
MARK_EM = 0.10  # strokes whose extent is below this are marks (dots) (em)
EXIT_EM = 0.10  # a stroke ending this close to the exit point leads on to the next letter (em)


@dataclass(frozen=True, eq=False)
class CursiveGlyph:
    """A glyph rearranged for joined writing (em units, y down).

    ``body``: the pen-down chain, or None when the glyph is only marks.
    ``lead``: a path from the font's entry point to ``body[0]`` for letters whose body does
    not start at the entry (``a``, ``c``, ``o`` …); None where the body starts there.
    ``marks``: strokes written after the word.
    """

    glyph: Glyph
    body: np.ndarray | None
    lead: np.ndarray | None
    marks: tuple[np.ndarray, ...]


def _extent(stroke: np.ndarray) -> float:
    return float(np.ptp(stroke, axis=0).max()) if len(stroke) > 1 else 0.0


def _closest_on_polyline(polyline: np.ndarray, point: np.ndarray) -> tuple[float, int, np.ndarray]:
    """Distance from ``point`` to ``polyline``, the index of the segment, and the foot point."""
    if len(polyline) == 1:
        return float(np.hypot(*(polyline[0] - point))), 0, polyline[0]
    a = polyline[:-1]
    ab = polyline[1:] - a
    denom = np.einsum("ij,ij->i", ab, ab)
    t = np.clip(np.einsum("ij,ij->i", point - a, ab) / np.where(denom > 0, denom, 1.0), 0.0, 1.0)
    feet = a + ab * t[:, None]
    dist = np.hypot(*(feet - point).T)
    k = int(np.argmin(dist))
    return float(dist[k]), k, feet[k]


def _retrace_back(chain: np.ndarray, segment: int, foot: np.ndarray) -> np.ndarray:
    """Points walking back along ``chain`` from its end to ``foot`` on ``segment``."""
    back = chain[segment + 1 :][::-1]
    return np.vstack([back[1:], foot[None, :]]) if len(back) > 1 else foot[None, :]


def _join(chain: np.ndarray, stroke: np.ndarray, *, toward: np.ndarray | None,
          bridge: bool = True) -> np.ndarray | None:
    """``chain`` continued by ``stroke`` without lifting, or None when they do not meet.

    Tried in order: an end of ``stroke`` at the chain's end; the chain's end lying on
    ``stroke`` (walk along it to one end, then draw it whole, ending nearer ``toward``);
    an end of ``stroke`` lying on the chain (retrace back to it); a short bridge (only
    when ``bridge``).
    """
    end = chain[-1]
    d_start = float(np.hypot(*(stroke[0] - end)))
    d_end = float(np.hypot(*(stroke[-1] - end)))
    if min(d_start, d_end) <= TOUCH_EM:
        oriented = stroke if d_start <= d_end else stroke[::-1]
        return np.vstack([chain, oriented[1:]])
    dist, seg, foot = _closest_on_polyline(stroke, end)
    if dist <= TOUCH_EM and len(stroke) > 1:
        # walk to the end of the stroke away from `toward`, then draw it all
        if toward is not None and np.hypot(*(stroke[0] - toward)) > np.hypot(*(stroke[-1] - toward)):
            walk = np.vstack([foot[None, :], stroke[: seg + 1][::-1]])
            forward = stroke
        else:
            walk = np.vstack([foot[None, :], stroke[seg + 1 :]])
            forward = stroke[::-1]
        return np.vstack([chain, walk, forward[1:]])
    for oriented in (stroke, stroke[::-1]):
        dist, seg, foot = _closest_on_polyline(chain, oriented[0])
        if dist <= TOUCH_EM:
            return np.vstack([chain, _retrace_back(chain, seg, foot), oriented])
    if bridge and min(d_start, d_end) <= BRIDGE_EM:
        oriented = stroke if d_start <= d_end else stroke[::-1]
        return np.vstack([chain, oriented])
    return None


def connection_point(font: Font) -> np.ndarray:
    """The point (em, relative to the glyph origin) where the font's lowercase letters
    enter; their exits are at the same height one advance further on. Taken as the most
    common stroke start of a–z (rounded to 0.01 em)."""
    starts: dict[tuple[float, float], int] = {}
    for char in "abcdefghijklmnopqrstuvwxyz":
        for glyph in font.alternates(char):
            for stroke in glyph.strokes:
                for point in (stroke[0], stroke[-1] - (glyph.advance, 0.0)):
                    key = (round(float(point[0]), 2), round(float(point[1]), 2))
                    starts[key] = starts.get(key, 0) + 1
    if not starts:
        return np.array([0.0, -font.metrics.x_height / 2])
    best = max(starts.items(), key=lambda kv: (kv[1], -abs(kv[0][0])))[0]
    return np.array(best, dtype=np.float64)


def _lead_in(entry: np.ndarray, start: np.ndarray, glyph: Glyph) -> np.ndarray:
    """A pen path from ``entry`` to ``start``: straight where that crosses no ink of the
    glyph, otherwise a curve over the top of the letter (the overcurve of school cursive)."""
    straight = np.array([entry, start])
    samples = entry + (start - entry) * np.linspace(0.15, 0.85, 8)[:, None]
    ink = np.concatenate(glyph.strokes)
    crosses = any(_closest_on_polyline(s, p)[0] < 0.02 for s in glyph.strokes for p in samples)
    if not crosses:
        return straight
    left, right = min(entry[0], start[0]), max(entry[0], start[0])
    in_span = ink[(ink[:, 0] >= left) & (ink[:, 0] <= right)]
    top = float(in_span[:, 1].min()) if len(in_span) else float(min(entry[1], start[1]))
    apex_y = top - 0.02  # just above the letter (y down)
    apex_x = (left + right) / 2
    # a quadratic Bezier whose midpoint is the apex: P(0.5) = (p0 + 2k + p1) / 4
    control = np.array([2 * apex_x - (entry[0] + start[0]) / 2, 2 * apex_y - (entry[1] + start[1]) / 2])
    t = np.linspace(0.0, 1.0, 9)[:, None]
    return (1 - t) ** 2 * entry + 2 * (1 - t) * t * control + t**2 * start


def plan_glyph(glyph: Glyph, entry: np.ndarray) -> CursiveGlyph:
    """Rearrange one glyph for joined writing; ``entry`` is the font's connection point."""
    if glyph.is_blank:
        return CursiveGlyph(glyph, None, None, ())
    exit_point = entry + np.array([glyph.advance, 0.0])
    strokes = [s for s in glyph.strokes]
    big = [s for s in strokes if _extent(s) >= MARK_EM]
    marks = [s for s in strokes if _extent(s) < MARK_EM]
    if not big:
        return CursiveGlyph(glyph, None, None, tuple(marks))

    def dist_to(stroke: np.ndarray, point: np.ndarray) -> float:
        return min(float(np.hypot(*(stroke[0] - point))), float(np.hypot(*(stroke[-1] - point))))

    # the body starts at the stroke touching the entry, else at the first big stroke
    first = min(range(len(big)), key=lambda i: (dist_to(big[i], entry) > TOUCH_EM * 2, i))
    chain = big.pop(first)
    if np.hypot(*(chain[-1] - entry)) < np.hypot(*(chain[0] - entry)):
        chain = chain[::-1]
    exit_index = min(range(len(big)), key=lambda i: dist_to(big[i], exit_point)) if big else None
    if exit_index is not None and dist_to(big[exit_index], exit_point) > EXIT_EM:
        exit_index = None
    exit_stroke = big.pop(exit_index) if exit_index is not None else None
    if exit_stroke is None and np.hypot(*(chain[0] - exit_point)) < np.hypot(*(chain[-1] - exit_point)) \
            and np.hypot(*(chain[0] - exit_point)) <= TOUCH_EM * 2:
        chain = chain[::-1]

    # join what continues the chain without a visible bridge first, then the exit stroke,
    # so a t-bar or an x-stroke near the chain stays a crossing written after the word
    for bridge in (False, True):
        progress = True
        while big and progress:
            progress = False
            for i, stroke in enumerate(big):
                joined = _join(chain, stroke, toward=exit_point, bridge=bridge)
                if joined is not None:
                    chain = joined
                    big.pop(i)
                    progress = True
                    break
        if exit_stroke is None:
            continue
        oriented = exit_stroke if np.hypot(*(exit_stroke[-1] - exit_point)) <= np.hypot(
            *(exit_stroke[0] - exit_point)) else exit_stroke[::-1]
        joined = _join(chain, oriented, toward=exit_point, bridge=bridge)
        if joined is not None:
            chain = joined
            exit_stroke = None
            break
    if exit_stroke is not None:
        oriented = exit_stroke if np.hypot(*(exit_stroke[-1] - exit_point)) <= np.hypot(
            *(exit_stroke[0] - exit_point)) else exit_stroke[::-1]
        if np.hypot(*(chain[0] - entry)) > TOUCH_EM * 2:
            # the chain does not come from the previous letter (a capital's first stroke):
            # written first on its own, so that the stroke to the exit leads on
            marks.insert(0, chain)
            chain = oriented
        else:
            big.append(exit_stroke)
    marks.extend(big)
    marks.sort(key=lambda s: (float(s[:, 0].mean()), float(s[:, 1].mean())))

    lead = None
    gap = float(np.hypot(*(chain[0] - entry)))
    if gap > TOUCH_EM * 2 and gap < 0.6 and glyph.char.islower():
        lead = _lead_in(entry, chain[0], glyph)
    return CursiveGlyph(glyph, np.ascontiguousarray(chain), lead, tuple(marks))


@lru_cache(maxsize=64)
def _plans(font: Font) -> dict[int, CursiveGlyph]:
    entry = connection_point(font)
    return {id(g): plan_glyph(g, entry) for forms in font.glyphs.values() for g in forms}


def cursive_plan(font: Font, glyph: Glyph) -> CursiveGlyph:
    """The (cached) joined-writing plan of a glyph of ``font``."""
    plans = _plans(font)
    plan = plans.get(id(glyph))
    return plan if plan is not None else plan_glyph(glyph, connection_point(font))

