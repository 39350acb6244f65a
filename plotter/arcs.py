"""Circular arcs as GRBL 1.1 runs them, and rounded corners that use them.

A pen stroke from a single-line font is a coarse polyline: an "o" of EMSTech is twelve
straight pieces turning 30 degrees at each vertex. GRBL takes a corner at the speed its
junction deviation allows (``$11``, :func:`plotter.planner.junction_speed_sqr`), about
17 mm/s for a 30 degree turn at 1000 mm/s^2 and 0.01 mm, against a draw feed of 50 mm/s:
on a card half the pen-down time is braking for corners. :func:`round_corners` replaces
each corner by a tangent arc that stays within a tolerance of the vertex (a fillet); GRBL
cuts an arc into chords (``mc_arc``) whose small turns it takes at speed.

Coordinates are machine mm, x right and y up as GRBL sees them, so ``clockwise`` is G2.

Everything here is a pure function; :mod:`plotter.gcode` writes and reads the arcs,
:mod:`plotter.simulator` runs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# GRBL's ARC_ANGULAR_TRAVEL_EPSILON: a start and end this close (radians) make a full circle
ANGULAR_EPSILON = 5e-7
# turns below this stay sharp whatever is asked: nothing to gain, and an arc whose angle is
# near ANGULAR_EPSILON could be read as a full circle
_SLIGHTEST_TURN_RAD = 1e-3
# GRBL's $12 default: the chords of an arc stay within this of the arc, mm
DEFAULT_ARC_TOLERANCE_MM = 0.002


class ArcError(ValueError):
    """An arc GRBL would refuse; ``code`` is GRBL's error number (33 invalid target,
    34 arc radius error, 35 no offset in the plane)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def angular_travel(start: np.ndarray, target: np.ndarray, center: np.ndarray,
                   clockwise: bool) -> float:
    """The signed angle (radians, counter-clockwise positive) GRBL travels from ``start``
    to ``target`` around ``center`` (``mc_arc``): a start and target at the same angle
    make a full circle."""
    r0 = start - center
    r1 = target - center
    travel = math.atan2(r0[0] * r1[1] - r0[1] * r1[0], r0[0] * r1[0] + r0[1] * r1[1])
    if clockwise:
        if travel >= -ANGULAR_EPSILON:
            travel -= 2 * math.pi
    elif travel <= ANGULAR_EPSILON:
        travel += 2 * math.pi
    return travel


def segment_count(travel_rad: float, radius_mm: float, arc_tolerance_mm: float) -> int:
    """How many chords GRBL cuts an arc into (``mc_arc``): as many as keep each within
    ``arc_tolerance_mm`` of the arc, rounded down, so a chord may stray up to
    ``(1 + 1/n)^2`` times that; 0 and 1 both mean one straight chord."""
    if radius_mm <= arc_tolerance_mm / 2:
        return 0
    chord_half = math.sqrt(arc_tolerance_mm * (2 * radius_mm - arc_tolerance_mm))
    return int(math.floor(abs(0.5 * travel_rad * radius_mm) / chord_half))


def check_offset(start: np.ndarray, target: np.ndarray, offset: np.ndarray) -> float:
    """The arc's radius (mm) for a centre at ``start + offset`` (G2/G3 with I J); raise
    :class:`ArcError` (33) when the target is farther than GRBL accepts from that circle:
    off by more than 0.005 mm and by more than 0.5 mm or 0.1 % of the radius."""
    radius = math.hypot(offset[0], offset[1])
    target_r = math.hypot(target[0] - start[0] - offset[0], target[1] - start[1] - offset[1])
    delta = abs(target_r - radius)
    if delta > 0.005 and (delta > 0.5 or delta > 0.001 * radius):
        raise ArcError(33, f"the arc's end is {delta:.4f} mm off its circle (radius "
                           f"{radius:.4f} mm)")
    return radius


def offset_from_radius(start: np.ndarray, target: np.ndarray, radius_mm: float,
                       clockwise: bool) -> tuple[np.ndarray, float]:
    """The centre offset (I, J) and radius for G2/G3 with R, as GRBL computes them: the
    shorter arc for a positive R, the longer for a negative one. Raises
    :class:`ArcError` 33 when start and target coincide, 34 when the radius is shorter
    than half the chord."""
    x, y = float(target[0] - start[0]), float(target[1] - start[1])
    if x == 0 and y == 0:
        raise ArcError(33, "an arc with R needs a target away from the start")
    h_x2_div_d = 4.0 * radius_mm * radius_mm - x * x - y * y
    if h_x2_div_d < 0:
        raise ArcError(34, f"R {abs(radius_mm):g} mm is shorter than half the chord "
                           f"({math.hypot(x, y) / 2:.4f} mm)")
    h_x2_div_d = -math.sqrt(h_x2_div_d) / math.hypot(x, y)
    if not clockwise:
        h_x2_div_d = -h_x2_div_d
    if radius_mm < 0:
        h_x2_div_d = -h_x2_div_d
    offset = np.array([0.5 * (x - y * h_x2_div_d), 0.5 * (y + x * h_x2_div_d)])
    return offset, abs(radius_mm)


def arc_chords(start: np.ndarray, target: np.ndarray, offset: np.ndarray, clockwise: bool,
               arc_tolerance_mm: float = DEFAULT_ARC_TOLERANCE_MM,
               radius_mm: float | None = None) -> np.ndarray:
    """The chord ends GRBL moves through for an arc from ``start`` to ``target`` around
    ``start + offset`` (``mc_arc``), ``(K, 2)`` mm, the last one exactly ``target``.
    ``radius_mm`` defaults to the distance from start to centre, as with I J."""
    start = np.asarray(start, dtype=float)
    target = np.asarray(target, dtype=float)
    center = start + np.asarray(offset, dtype=float)
    radius = math.hypot(*(start - center)) if radius_mm is None else radius_mm
    travel = angular_travel(start, target, center, clockwise)
    segments = segment_count(travel, radius, arc_tolerance_mm)
    if segments <= 1:
        return target[None, :].copy()
    # GRBL rotates the radius vector by a small-angle approximation, corrected exactly
    # every 12 chords; the exact rotation differs from it by under a micrometre
    angles = math.atan2(*(start - center)[::-1]) + travel * np.arange(1, segments) / segments
    r0 = math.hypot(*(start - center))
    inner = center + r0 * np.column_stack([np.cos(angles), np.sin(angles)])
    return np.vstack([inner, target])


def arc_from_words(start: np.ndarray, target: np.ndarray, words: dict[str, float],
                   scale: float, clockwise: bool,
                   arc_tolerance_mm: float) -> tuple[np.ndarray, str]:
    """A G2 (``clockwise``) or G3 line's chord ends, ``(K, 3)`` machine mm, as GRBL moves
    through them from ``start`` to ``target`` (``(3,)`` mm), and the arc words it used
    (``"R"`` or ``"IJK"``). The centre comes from R (:func:`offset_from_radius`) or else
    from I and J, offsets from the start whatever the distance mode (GRBL's G91.1;
    :func:`check_offset`), both scaled by ``scale`` (mm per unit: 25.4 in G20). Z moves
    the same amount each chord (a helix, ``mc_arc``'s linear axis), the last chord ends
    at the target. Raises :class:`ArcError` 35 without I, J or R, 33 and 34 as those do.
    """
    a, b = start[:2], target[:2]
    if "R" in words:
        offset, radius = offset_from_radius(a, b, words["R"] * scale, clockwise)
        used = "R"
    elif "I" in words or "J" in words:
        offset = np.array([words.get("I", 0.0), words.get("J", 0.0)]) * scale
        radius = check_offset(a, b, offset)
        used = "IJK"
    else:
        raise ArcError(35, "an arc needs I/J or R")
    xy = arc_chords(a, b, offset, clockwise, arc_tolerance_mm, radius_mm=radius)
    z = start[2] + (target[2] - start[2]) * np.arange(1, len(xy) + 1) / len(xy)
    z[-1] = target[2]
    return np.column_stack([xy, z]), used


@dataclass(frozen=True)
class RoundedPath:
    """A stroke as lines and arcs in machine mm: ``points[0]`` is the start, and the piece
    ending at ``points[k]`` is a straight line where ``centers[k]`` is NaN, otherwise an
    arc around ``centers[k]``, clockwise (G2) where ``clockwise[k]``, rounding the
    corner at ``vertices[k]``."""

    points: np.ndarray  # (M, 2) mm
    centers: np.ndarray  # (M, 2) mm, NaN for straight pieces
    clockwise: np.ndarray  # (M,) bool
    vertices: np.ndarray  # (M, 2) mm, the corner an arc replaces; NaN for straight pieces


def min_rounded_turn(feed_mm_min: float, accel_mm_s2: float, junction_deviation_mm: float,
                     ) -> float:
    """The smallest turn (radians) whose corner GRBL takes slower than ``feed_mm_min``:
    junction speed^2 = a * delta * s / (1 - s), s = cos(turn / 2) (``plan_buffer_line``);
    a gentler corner gains nothing from rounding."""
    v_sqr = (feed_mm_min / 60.0) ** 2
    k = v_sqr / (accel_mm_s2 * junction_deviation_mm)
    return 2.0 * math.acos(min(k / (1.0 + k), 1.0))


def chorded_deviation(radius_mm: float, turn_rad: float, arc_tolerance_mm: float) -> float:
    """How far (mm) from the corner's vertex GRBL's chords of a fillet of ``radius_mm``
    turning ``turn_rad`` pass: the vertex is ``radius / cos(turn / 2)`` from the centre,
    the nearest chord ``radius * cos(turn / 2n)`` for n (odd) chords, a chord end on the
    arc for n even."""
    n = max(segment_count(turn_rad, radius_mm, arc_tolerance_mm), 1)
    inner = math.cos(turn_rad / (2 * n)) if n % 2 else 1.0
    return radius_mm * (1.0 / math.cos(turn_rad / 2) - inner)


def fillet_radius(turn_rad: float, tolerance_mm: float, arc_tolerance_mm: float) -> float:
    """The largest fillet radius (mm) whose chords, as GRBL cuts them at
    ``arc_tolerance_mm``, pass at most ``tolerance_mm`` from the vertex of a corner turning
    ``turn_rad``. GRBL rounds its chord count down, so a chord may stray a little more
    than ``$12`` inside the arc, and a fillet it runs as one chord is a chamfer, which
    lies up to twice as far from the vertex as the arc's middle."""
    bulge = 1.0 / math.cos(turn_rad / 2) - 1.0
    if not bulge > 1e-15:
        return math.inf  # no turn to round
    radius = tolerance_mm / bulge
    for _ in range(8):  # fewer chords as the radius shrinks: a few rounds settle it
        deviation = chorded_deviation(radius, turn_rad, arc_tolerance_mm)
        if deviation <= tolerance_mm * (1 + 1e-12):
            return radius
        radius *= tolerance_mm / deviation
    # one chord, exactly at the tolerance: radius * sin(turn/2) * tan(turn/2) = tolerance
    return tolerance_mm / (math.sin(turn_rad / 2) * math.tan(turn_rad / 2))


def round_corners(points: np.ndarray, tolerance_mm: float, *,
                  arc_tolerance_mm: float = DEFAULT_ARC_TOLERANCE_MM,
                  min_turn_rad: float = 0.0, max_turn_rad: float = 0.95 * math.pi,
                  ) -> RoundedPath:
    """``points`` (``(N, 2)`` mm) with each corner turning between ``min_turn_rad`` and
    ``max_turn_rad`` replaced by a tangent arc whose chords, as GRBL cuts them at
    ``arc_tolerance_mm`` (``$12``), pass at most ``tolerance_mm`` from the vertex
    (:func:`fillet_radius`); the rest of the stroke is unchanged, and the ends stay where
    they are.

    A corner may use at most half of a segment it shares with another corner (all of an
    end segment), so neighbouring arcs never overlap; where that is shorter than the
    tangent length the tolerance asks for, the arc is tighter and nearer the vertex.
    Sharper turns than ``max_turn_rad`` (cusps: the pen goes back the way it came) stay
    sharp: an arc there would be tiny and still a near stop.

    >>> path = round_corners(np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]), 0.1)
    >>> np.round(path.points, 3).tolist()
    [[0.0, 0.0], [9.759, 0.0], [10.0, 0.241], [10.0, 10.0]]
    >>> bool(path.clockwise[2]), np.round(path.centers[2], 3).tolist()
    (False, [9.759, 0.241])
    """
    points = np.asarray(points, dtype=float)
    n = len(points)
    if n < 3 or tolerance_mm <= 0:
        return RoundedPath(points.copy(), np.full((n, 2), np.nan), np.zeros(n, bool),
                           np.full((n, 2), np.nan))
    d = np.diff(points, axis=0)
    lengths = np.hypot(d[:, 0], d[:, 1])
    units = d / np.where(lengths > 0, lengths, 1.0)[:, None]
    # a segment shared by two corners gives each half; the end segments all to theirs
    share = np.full(n - 1, 0.5)
    share[0] = share[-1] = 1.0
    if n == 3:
        share[:] = 1.0
    out_points = [points[0]]
    out_centers = [np.full(2, np.nan)]
    out_cw = [False]
    arc_at: list[int] = []  # original vertex of each arc
    for i in range(1, n - 1):
        u, v = units[i - 1], units[i]
        cross = u[0] * v[1] - u[1] * v[0]
        turn = math.atan2(abs(cross), u[0] * v[0] + u[1] * v[1])
        radius = 0.0
        if (lengths[i - 1] > 0 and lengths[i] > 0 and turn >= _SLIGHTEST_TURN_RAD
                and min_turn_rad <= turn <= max_turn_rad):
            half_tan = math.tan(turn / 2)
            if half_tan > 1e-9:
                radius = fillet_radius(turn, tolerance_mm, arc_tolerance_mm)
                tangent = min(radius * half_tan, share[i - 1] * lengths[i - 1],
                              share[i] * lengths[i])
                radius = tangent / half_tan
        if not 1e-9 < radius < 1e6:
            # no turn, a cusp, or one too slight for floating point: keep the vertex
            out_points.append(points[i])
            out_centers.append(np.full(2, np.nan))
            out_cw.append(False)
            continue
        a = points[i] - u * tangent
        b = points[i] + v * tangent
        left = np.array([-u[1], u[0]])  # counter-clockwise normal of the incoming line
        center = a + left * radius if cross > 0 else a - left * radius
        out_points += [a, b]
        out_centers += [np.full(2, np.nan), center]
        out_cw += [False, bool(cross < 0)]
        arc_at.append(i)
    out_points.append(points[-1])
    out_centers.append(np.full(2, np.nan))
    out_cw.append(False)
    centers = np.array(out_centers)
    vertices = np.full_like(centers, np.nan)
    vertices[~np.isnan(centers[:, 0])] = points[arc_at].reshape(-1, 2)
    return RoundedPath(np.array(out_points), centers, np.array(out_cw), vertices)
