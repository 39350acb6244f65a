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

A capital or ß whose last stroke ends inside it (Hershey Script's S and ß curl back into
their bowls) leaves from its outer right side instead: the pen goes back along the curl to
the nearest point low on the letter's right from which the line to the next letter
crosses none of its ink, and leaves from there. A capital that may be written either way
round (C, E) is written the way that ends at such a point. Capitals that school cursive
does not join to the next letter (:data:`UNJOINED_CAPITALS`) are left as drawn.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from fonts.model import Font, Glyph

TOUCH_EM = 0.03  # ends closer than this meet (em)
# a small letter's stroke starting this close to the ink already drawn goes on from it
# (em): EMS Allure starts its o's tail 0.035 em inside the bowl, its k's leg 0.032 em off
# the bowl. Capitals keep TOUCH_EM (Hershey Script's H stays two strokes and a crossbar)
SMALL_TOUCH_EM = 0.04
LOOP_EM = 0.08  # a stroke whose ends are this close is a closed bowl (em)
BRIDGE_EM = 0.12  # a gap this short inside a glyph is drawn as a line (em)
MARK_EM = 0.10  # strokes whose extent is below this are marks (dots) (em)
EXIT_EM = 0.10  # a stroke ending this close to the exit point leads on to the next letter (em)
RETRACE_MAX_EM = 0.7  # a letter ending inside is gone back along at most this far to leave (em)
RETRACE_STEP_EM = 0.005  # where along the letter the pen may leave, tried at this step (em)
LEAVE_EM = 0.04  # a connector's first this-much may lie close to the letter it leaves (em)
CLEAR_EM = 0.015  # ... beyond that it keeps at least this far from the letter's ink (em)
BAND_SLACK_EM = 0.02  # an exit lies between the baseline and the x-height, give or take (em)
# capitals a hand lifts the pen after: "B, D, F, G, O, P, T, V, and W do not connect to the
# letter that follows" (The Postman's Knock, Cursive Exemplar); they are not given a way out
UNJOINED_CAPITALS = frozenset("BDFGOPTVW")


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


def segment_clearance(p: np.ndarray, q: np.ndarray, strokes: Iterable[np.ndarray]) -> float:
    """The smallest distance (em, or whatever unit the points are in) between the segment
    ``p``–``q`` and the ink of ``strokes``: 0 where they touch or cross.

    >>> segment_clearance(np.array([0.0, 0.0]), np.array([1.0, 0.0]),
    ...                   [np.array([[0.5, -1.0], [0.5, 1.0]])])
    0.0
    """
    best = np.inf
    d = q - p
    for stroke in strokes:
        stroke = np.asarray(stroke, dtype=np.float64).reshape(-1, 2)
        a = stroke[:-1] if len(stroke) > 1 else stroke
        b = stroke[1:] if len(stroke) > 1 else stroke
        e = b - a
        # a proper or touching crossing: p-q and a-b each have the other's ends on both sides
        side_a = d[0] * (a[:, 1] - p[1]) - d[1] * (a[:, 0] - p[0])
        side_b = d[0] * (b[:, 1] - p[1]) - d[1] * (b[:, 0] - p[0])
        side_p = e[:, 0] * (p[1] - a[:, 1]) - e[:, 1] * (p[0] - a[:, 0])
        side_q = e[:, 0] * (q[1] - a[:, 1]) - e[:, 1] * (q[0] - a[:, 0])
        # (collinear pieces are left to the distances below, which are 0 where they overlap)
        collinear = (side_a == 0) & (side_b == 0)
        if np.any((side_a * side_b <= 0) & (side_p * side_q <= 0) & ~collinear
                  & (np.abs(d).sum() > 0) & (np.abs(e).sum(axis=1) > 0)):
            return 0.0
        best = min(best, float(_points_to_segment(a, p, q).min()),
                   float(_points_to_segment(b, p, q).min()),
                   float(_segments_to_point(a, b, p).min()), float(_segments_to_point(a, b, q).min()))
    return best


def _points_to_segment(points: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Distance from each of ``points`` to the segment ``p``–``q``."""
    d = q - p
    denom = float(d @ d)
    t = np.clip((points - p) @ d / denom, 0.0, 1.0) if denom > 0 else np.zeros(len(points))
    return np.hypot(*(p + t[:, None] * d - points).T)


def _segments_to_point(a: np.ndarray, b: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Distance from ``point`` to each segment ``a[i]``–``b[i]``."""
    e = b - a
    denom = np.einsum("ij,ij->i", e, e)
    t = np.clip(np.einsum("ij,ij->i", point - a, e) / np.where(denom > 0, denom, 1.0), 0.0, 1.0)
    return np.hypot(*(a + e * t[:, None] - point).T)


def _join(chain: np.ndarray, stroke: np.ndarray, *, toward: np.ndarray | None,
          bridge: bool = True, touch: float = TOUCH_EM) -> np.ndarray | None:
    """``chain`` continued by ``stroke`` without lifting, or None when they do not meet.

    Tried in order: an end of ``stroke`` at the chain's end; the chain's end lying on
    ``stroke`` (walk along it to one end, then draw it whole, ending nearer ``toward``);
    an end of ``stroke`` lying on the chain (retrace back to it); a short bridge (only
    when ``bridge``). Ends within :data:`TOUCH_EM` meet; a stroke's end lies on the chain
    within ``touch`` (em).
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
        if dist <= touch:
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


def _leaves_cleanly(point: np.ndarray, target: np.ndarray, strokes: Iterable[np.ndarray]) -> bool:
    """Whether a straight connector from ``point`` (on the letter's ink) to ``target`` leaves
    the letter without crossing its ink, and beyond its first :data:`LEAVE_EM` keeps
    :data:`CLEAR_EM` away from it (em)."""
    gap = target - point
    length = float(np.hypot(*gap))
    if length <= LEAVE_EM:
        return True
    away = point + gap * (1e-3 / length)  # just off the ink the connector starts on
    out = point + gap * (LEAVE_EM / length)
    return (segment_clearance(away, out, strokes) > 0.0
            and segment_clearance(out, target, strokes) >= CLEAR_EM)


def _is_exit(point: np.ndarray, target: np.ndarray, strokes: Iterable[np.ndarray],
             x_height: float, reach: float) -> bool:
    """Whether the pen can leave the letter for ``target`` from ``point``: low on the letter
    (between the baseline and the x-height, where the next letter is entered), on its
    right (no further from ``target`` than ``reach``, not beyond it), and with a connector
    that crosses none of the letter's ink (em)."""
    return (_is_low(point, x_height) and point[0] <= target[0] + TOUCH_EM
            and float(np.hypot(*(target - point))) <= reach
            and _leaves_cleanly(point, target, strokes))


def _is_low(point: np.ndarray, x_height: float) -> bool:
    """Whether ``point`` lies between the baseline and the x-height, give or take (em)."""
    return -x_height - BAND_SLACK_EM <= point[1] <= BAND_SLACK_EM


def _retrace_to_exit(chain: np.ndarray, strokes: Iterable[np.ndarray], target: np.ndarray,
                     x_height: float, reach: float) -> np.ndarray | None:
    """The points from ``chain``'s end back along it to the nearest point it can leave from
    for ``target`` (:func:`_is_exit`), no further back than :data:`RETRACE_MAX_EM`; None when
    there is none so near, or when the way back turns left: only a curl that opens to the
    right, as the bottom of a bowl does (S, ß), is gone back along. A curl to the left of
    a stem (Hershey Script's T and F) would have the pen leave from the stem, where a
    connector reads as a crossbar or runs under the next letter like a strike-through
    (em)."""
    back = chain[::-1]
    steps = np.diff(back, axis=0)
    lengths = np.hypot(*steps.T)
    walked = np.concatenate([[0.0], np.cumsum(lengths)])
    for s in np.arange(RETRACE_STEP_EM, min(walked[-1], RETRACE_MAX_EM), RETRACE_STEP_EM):
        k = int(np.searchsorted(walked, s, side="right")) - 1  # s lies on segment k
        point = back[k] + steps[k] * ((s - walked[k]) / lengths[k])
        if point[0] < back[0][0] - TOUCH_EM:
            return None
        if _is_exit(point, target, strokes, x_height, reach):
            return np.vstack([back[1 : k + 1], point[None, :]])
    return None


def _exit_path(chain: np.ndarray, strokes: Iterable[np.ndarray], target: np.ndarray,
               x_height: float, reach: float) -> tuple[float, np.ndarray | None]:
    """How far the pen must go back along ``chain`` to leave for ``target``, and the path
    back (empty when its end already leaves cleanly). Only a chain that ends low, curled
    back into the letter (S, ß), is gone back along; ``(inf, None)`` for one that
    ends high (a W's or V's top, where the layout decides; a P's bowl, which a connector
    from its stem would turn into an R) or outside, and when no exit is near enough (em)."""
    strokes = list(strokes)
    end = chain[-1]
    if _is_exit(end, target, strokes, x_height, reach):
        return 0.0, chain[:0]
    if not _is_low(end, x_height) or _leaves_cleanly(end, target, strokes):
        return np.inf, None
    path = _retrace_to_exit(chain, strokes, target, x_height, reach)
    if path is None:
        return np.inf, None
    length = float(np.hypot(*np.diff(np.vstack([end[None, :], path]), axis=0).T).sum())
    return length, path


def _inside(point: np.ndarray, ring: np.ndarray) -> bool:
    """Whether ``point`` lies inside the polygon ``ring`` (closed from its last point to
    its first), by the even-odd rule."""
    a, b = ring, np.roll(ring, -1, axis=0)
    spans = (a[:, 1] > point[1]) != (b[:, 1] > point[1])
    x = a[:, 0] + (point[1] - a[:, 1]) * (b[:, 0] - a[:, 0]) / np.where(spans, b[:, 1] - a[:, 1], 1.0)
    return bool(np.count_nonzero(spans & (x > point[0])) % 2)


def _lead_in(entry: np.ndarray, start: np.ndarray, glyph: Glyph) -> np.ndarray:
    """A pen path from ``entry`` to ``start``: straight where that crosses no ink of the
    glyph, otherwise a curve over the top of the letter (the overcurve of school cursive)."""
    straight = np.array([entry, start])
    samples = entry + (start - entry) * np.linspace(0.15, 0.85, 8)[:, None]
    ink = np.concatenate(glyph.strokes)
    # near the ink, or inside a closed bowl (Allure's o is entered at its left side: a
    # straight lead-in to its top would cut across the bowl)
    bowls = [s for s in glyph.strokes if len(s) > 3 and np.hypot(*(s[-1] - s[0])) <= LOOP_EM]
    crosses = (any(_closest_on_polyline(s, p)[0] < 0.02 for s in glyph.strokes for p in samples)
               or any(_inside(p, bowl) for bowl in bowls for p in samples))
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


def plan_glyph(glyph: Glyph, entry: np.ndarray, x_height: float | None = None) -> CursiveGlyph:
    """Rearrange one glyph for joined writing; ``entry`` is the font's connection point and
    ``x_height`` the font's (em; taken as twice the entry's height when not given)."""
    if x_height is None:
        x_height = 2.0 * abs(float(entry[1]))
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
    # started from the end nearer the entry; a small letter's closed bowl (its ends
    # within LOOP_EM) keeps the designer's direction: Allure's o runs round anticlockwise
    # from its top, as a hand writes it, and its tail leaves from the end
    loop = glyph.char.islower() and np.hypot(*(chain[-1] - chain[0])) <= LOOP_EM
    if np.hypot(*(chain[-1] - entry)) < np.hypot(*(chain[0] - entry)) and not loop:
        chain = chain[::-1]
    exit_index = min(range(len(big)), key=lambda i: dist_to(big[i], exit_point)) if big else None
    if exit_index is not None and dist_to(big[exit_index], exit_point) > EXIT_EM:
        exit_index = None
    exit_stroke = big.pop(exit_index) if exit_index is not None else None
    if exit_stroke is None and np.hypot(*(chain[0] - exit_point)) < np.hypot(*(chain[-1] - exit_point)) \
            and np.hypot(*(chain[0] - exit_point)) <= TOUCH_EM * 2:
        chain = chain[::-1]

    touch = SMALL_TOUCH_EM if glyph.char.islower() else TOUCH_EM
    # join what continues the chain without a visible bridge first, then the exit stroke,
    # so a t-bar or an x-stroke near the chain stays a crossing written after the word
    for bridge in (False, True):
        progress = True
        while big and progress:
            progress = False
            for i, stroke in enumerate(big):
                joined = _join(chain, stroke, toward=exit_point, bridge=bridge, touch=touch)
                if joined is not None:
                    chain = joined
                    big.pop(i)
                    progress = True
                    break
        if exit_stroke is None:
            continue
        oriented = exit_stroke if np.hypot(*(exit_stroke[-1] - exit_point)) <= np.hypot(
            *(exit_stroke[0] - exit_point)) else exit_stroke[::-1]
        joined = _join(chain, oriented, toward=exit_point, bridge=bridge, touch=touch)
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
    if _may_leave_from_outside(glyph.char):
        chain = _leave_from_outside(chain, glyph, entry, exit_point, x_height)

    lead = None
    gap = float(np.hypot(*(chain[0] - entry)))
    if gap > TOUCH_EM * 2 and gap < 0.6 and glyph.char.islower():
        lead = _lead_in(entry, chain[0], glyph)
    return CursiveGlyph(glyph, np.ascontiguousarray(chain), lead, tuple(marks))


def _may_leave_from_outside(char: str) -> bool:
    """Whether a letter ending inside itself is given a way out to the next letter: capitals
    that school cursive joins (not :data:`UNJOINED_CAPITALS`, accents aside) and ß. A
    script's small letters are drawn to join, their exits are the designer's; digits and
    signs do not join at all."""
    base = unicodedata.normalize("NFD", char)[:1]
    return char == "ß" or (char.isupper() and base not in UNJOINED_CAPITALS)


def _leave_from_outside(chain: np.ndarray, glyph: Glyph, entry: np.ndarray,
                        exit_point: np.ndarray, x_height: float) -> np.ndarray:
    """``chain`` made to end where the pen can leave for the next letter: as it is when it
    ends low on the letter's right already; turned round when it is free to start anywhere
    (it does not come from the previous letter nor from a lead-in) and its start is such a
    place (C, E); otherwise gone back along its last part to the nearest such place (S and
    ß curl back into their bowls), whichever of these goes back less. Unchanged when no
    such place is near (em).

    The place must lie on the letter's right, no further from the next letter than half
    the letter's advance."""
    reach = glyph.advance / 2
    free = not glyph.char.islower() and np.hypot(*(chain[0] - entry)) > TOUCH_EM * 2
    options = [chain, chain[::-1]] if free else [chain]
    paths = [_exit_path(option, glyph.strokes, exit_point, x_height, reach) for option in options]
    best = min(range(len(options)), key=lambda i: (paths[i][0], i))
    path = paths[best][1]
    if path is None:
        return chain
    return np.vstack([options[best], path])


@lru_cache(maxsize=64)
def _plans(font: Font) -> dict[int, CursiveGlyph]:
    entry = connection_point(font)
    x_height = font.metrics.x_height
    return {id(g): plan_glyph(g, entry, x_height) for forms in font.glyphs.values() for g in forms}


def cursive_plan(font: Font, glyph: Glyph) -> CursiveGlyph:
    """The (cached) joined-writing plan of a glyph of ``font``."""
    plans = _plans(font)
    plan = plans.get(id(glyph))
    return plan if plan is not None else plan_glyph(glyph, connection_point(font),
                                                    font.metrics.x_height)

