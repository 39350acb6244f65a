"""G-code text from a :class:`~plotter.drawing.Drawing`, and back.

:func:`write_gcode` is a pure function: the same drawing and profile give the same bytes.
It checks every point against the bed before it writes a line, lifts the pen before
every travel move (for a hop up to the profile's ``hover_max_leg_mm`` only to its hover
position, with the shorter hover dwell), parks, and ends the program. The text is
compact: at most 3 decimals with trailing and leading zeros stripped, X/Y/Z/F words and
the G0/G1 word written only when they change; for GRBL no spaces between words (GRBL
strips them before parsing) and pen-down moves as short G91 steps. GRBL's serial buffer
is 128 bytes and a card needs over a hundred lines a second: every byte saved keeps the
planner fed.

Rounded corners (the profile's ``corner_rounding_mm``, off when 0): each pen-down corner
is replaced by a tangent arc that close to the vertex (:mod:`plotter.arcs`), written as
G2/G3 or, where fewer bytes, as the chords GRBL would cut it into. GRBL then takes two
half-turns, or several small ones, instead of one sharp corner, at a higher junction
speed: on the example cards 12 % less plot time for about 1.6x the bytes.

:func:`read_program` parses G-code (ours, vpype-gcode's ``gwrite``, hand-written) into
:mod:`plotter.program` commands; :func:`read_strokes` turns it back into the pen-down
strokes in card mm, which is how the tests prove that the G-code draws the drawing.
"""

from __future__ import annotations

import math
import re

import numpy as np

from plotter.arcs import (
    DEFAULT_ARC_TOLERANCE_MM,
    ArcError,
    angular_travel,
    arc_chords,
    arc_from_words,
    check_offset,
    min_rounded_turn,
    round_corners,
)
from plotter.drawing import Drawing
from plotter.profile import MachineProfile
from plotter.program import Command, Dwell, Move, Pen
from plotter.transform import card_matrix, machine_to_card


class BedLimitError(ValueError):
    """A point of the drawing lands outside the bed after the card transform."""


class GcodeError(ValueError):
    """G-code that :func:`read_program` cannot read; the message names the line."""


# --- writing ---------------------------------------------------------------------------

UM_PER_MM = 1000  # coordinates are written in whole micrometres: 3 decimals of a mm


def _um(value: int) -> str:
    """Micrometres as mm text: at most 3 decimals, no trailing zeros, no leading zero
    (GRBL's ``read_float`` and Marlin's ``strtod`` both read ``.35``).

    >>> _um(350), _um(-120), _um(12000), _um(112345), _um(0)
    ('.35', '-.12', '12', '112.345', '0')
    """
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(int(value)), UM_PER_MM)
    text = str(whole) if whole else ""
    if frac:
        text += "." + f"{frac:03d}".rstrip("0")
    return sign + text if text else "0"


def _num(value: float) -> str:
    """A number rounded to 3 decimals, written like :func:`_um`.

    >>> _num(12.5), _num(-0.0001), _num(3.0), _num(0.1234)
    ('12.5', '0', '3', '.123')
    """
    return _um(round(value * UM_PER_MM))


def check_bed(drawing: Drawing, profile: MachineProfile) -> list[np.ndarray]:
    """Every stroke in machine micrometres (``(N, 2)`` int64, rounded as it will be
    written); raise :class:`BedLimitError` naming the stroke, the coordinate and the
    limit when a point (or the park position) is off the bed
    ``[0, bed_width_mm] x [0, bed_height_mm]``.
    """
    matrix = card_matrix(profile, drawing.width_mm, drawing.height_mm)
    limits = np.array([profile.bed_width_mm, profile.bed_height_mm])
    machine: list[np.ndarray] = []
    for index, stroke in enumerate(drawing.strokes):
        points = np.rint((stroke @ matrix[:2, :2].T + matrix[:2, 2]) * UM_PER_MM)
        low = points < 0
        high = points > limits * UM_PER_MM
        if low.any() or high.any():
            j, axis = np.argwhere(low | high)[0]
            name = "XY"[axis]
            limit = 0.0 if low[j, axis] else limits[axis]
            side = "below" if low[j, axis] else "beyond"
            card_x, card_y = stroke[j]
            raise BedLimitError(
                f"{profile.name}: stroke {index} point {j} (card x={_num(card_x)}, "
                f"y={_num(card_y)} mm) lands at machine {name}={_um(points[j, axis])} mm, "
                f"{side} the bed's {name} limit {_num(limit)} mm (bed {_num(limits[0])} x "
                f"{_num(limits[1])} mm)"
            )
        machine.append(points.astype(np.int64))
    park = (profile.park_x_mm, profile.park_y_mm)
    for axis, value in enumerate(park):
        if not 0 <= value <= limits[axis]:
            raise BedLimitError(
                f"{profile.name}: park position {'XY'[axis]}={_num(value)} mm is outside "
                f"the bed's {'XY'[axis]} range 0..{_num(limits[axis])} mm"
            )
    return machine


class _Writer:
    """G-code lines with the modal state they leave behind, so that unchanged words are
    left out: position (whole micrometres), G90/G91, G0/G1, feed and spindle speed."""

    def __init__(self, profile: MachineProfile) -> None:
        self.profile = profile
        self.marlin = profile.firmware == "marlin"
        # Marlin runs one command per line, wants G0/G1 on every move (no modal motion
        # unless built with GCODE_MOTION_MODES) and parses best with spaces between words
        self.sep = " " if self.marlin else ""
        self.lines: list[str] = []
        self.pos: dict[str, int | None] = {"X": None, "Y": None, "Z": None}
        self.relative = False
        self.mode: str | None = None
        self.feed: float | None = None
        self.spindle_s: float | None = None
        self.hovering = False  # the pen was last raised only to its hover position

    def emit(self, *words: str) -> None:
        self.lines.append(self.sep.join(words))

    def move(self, rapid: bool, target: dict[str, int], feed: float | None = None,
             relative: bool = False) -> None:
        """A G0/G1 to ``target`` (axis -> machine µm), relative (G91) or absolute (G90)."""
        words = []
        for axis, value in target.items():
            here = self.pos[axis]
            if value != here:
                words.append(axis + _um(value - here if relative else value))
                self.pos[axis] = value
        if not words:
            return  # already there: a line would move nothing
        self._emit_motion("G0" if rapid else "G1", words, feed, relative)

    def _emit_motion(self, mode: str, words: list[str], feed: float | None,
                     relative: bool) -> None:
        """A motion line: ``words`` with the feed, the motion mode and G90/G91 added
        where they change (Marlin: the mode on every line)."""
        if feed is not None and feed != self.feed:
            words.append("F" + _num(feed))
            self.feed = feed
        if mode != self.mode or self.marlin:
            words.insert(0, mode)
            self.mode = mode
        if relative != self.relative:
            words.insert(0, "G91" if relative else "G90")
            self.relative = relative
        self.emit(*words)

    def dwell(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.marlin:
            self.emit("G4", f"P{round(seconds * 1000)}")  # Marlin: P is milliseconds
        else:
            self.emit("G4", "P" + _num(seconds))  # GRBL: P is seconds

    def pen(self, down: bool, *, hover: bool = False) -> None:
        """Lower the pen, or raise it: fully, or with ``hover`` only clear of the card
        (see :class:`~plotter.profile.PenSettings`); a lower after a hover waits the
        hover dwell, as the servo or Z only comes back the short way."""
        pen = self.profile.pen
        if pen.kind == "z":
            if down:
                z = round(pen.down_z_mm * UM_PER_MM)
                self.move(False, {"Z": z}, feed=pen.plunge_feed_mm_min)
            else:
                up_z = pen.hover_z_mm if hover else pen.up_z_mm
                self.move(True, {"Z": round(up_z * UM_PER_MM)})
        elif pen.kind == "servo":
            if down or hover:
                value = pen.down_value if down else pen.hover_value
                words = ["M3"]
                if value != self.spindle_s:  # S is modal: once is enough
                    words.append("S" + _num(value))
                    self.spindle_s = value
                self.emit(*words)
            else:
                self.emit("M5")
        else:  # marlin-servo: M280 acts when parsed, so wait for the moves first
            self.emit("M400")
            angle = pen.down_value if down else pen.hover_value if hover else pen.up_value
            self.emit("M280", f"P{pen.servo_index}", "S" + _num(angle))
        if down:
            self.dwell(pen.hover_dwell_s if self.hovering else pen.lower_dwell_s)
        else:
            self.dwell(pen.hover_dwell_s if hover else pen.lift_dwell_s)
        self.hovering = hover and not down

    def arc(self, x: int, y: int, center: tuple[int, int], clockwise: bool) -> None:
        """A G2 (``clockwise``) or G3 from the current point to ``(x, y)`` around
        ``center`` (machine µm), I and J relative to the start as GRBL reads them."""
        here_x, here_y = self.pos["X"], self.pos["Y"]
        assert here_x is not None and here_y is not None
        relative = not self.marlin
        words = [
            "X" + _um(x - here_x if relative else x), "Y" + _um(y - here_y if relative else y),
            "I" + _um(center[0] - here_x), "J" + _um(center[1] - here_y),
        ]
        keeps = (x != here_x, y != here_y, True, True)
        words = [w for w, keep in zip(words, keeps, strict=True) if keep]
        self.pos["X"], self.pos["Y"] = x, y
        self._emit_motion("G2" if clockwise else "G3", words, self.profile.draw_feed_mm_min,
                          relative)

    def travel(self, x: int, y: int) -> None:
        # GRBL's G0 runs at the max rates and ignores F; Marlin's G0 uses the F it is given
        feed = self.profile.travel_feed_mm_min if self.marlin else None
        self.move(True, {"X": x, "Y": y}, feed=feed)

    def draw(self, x: int, y: int) -> None:
        # inside a stroke GRBL gets G91 steps: ".35" instead of "112.345", a third fewer
        # bytes; they are differences of rounded absolute points, so nothing drifts, and
        # every travel (G90) starts the next stroke from an absolute point again
        self.move(False, {"X": x, "Y": y}, feed=self.profile.draw_feed_mm_min,
                  relative=not self.marlin)


def write_gcode(drawing: Drawing, profile: MachineProfile) -> str:
    """G-code that draws ``drawing`` with the machine ``profile``, as text ending in a
    newline. Raises :class:`BedLimitError` before writing anything when a point is off
    the bed. A one-point stroke is a dot: travel there, pen down, pen up.

    GRBL output: words without spaces (GRBL strips them before parsing), absolute G0
    travels, G91 relative G1 steps inside a stroke. Marlin output: one command per line,
    spaces, absolute moves, ``M400`` before every ``M280``.

    >>> from plotter.profile import load_profile
    >>> line = Drawing(([[1.0, 2.0], [1.5, 2.0]],), 148, 105)
    >>> print(write_gcode(line, load_profile("grbl-servo")), end="")
    ; penpost grbl-servo 148x105mm
    G21G90F3000
    M5
    G4P.15
    G0X11Y113
    M3S1000
    G4P.15
    G91G1X.5
    M5
    G4P.15
    G90G0X0Y0
    M2
    """
    strokes = check_bed(drawing, profile)
    out = _Writer(profile)
    name = re.sub(r"[^A-Za-z0-9._-]", "", profile.name)[:40]
    # ";" comments: GRBL 1.1 and Marlin both skip them (Marlin's "(...)" needs PAREN_COMMENTS)
    out.lines.append(f"; penpost {name} {_num(drawing.width_mm)}x{_num(drawing.height_mm)}mm")
    if out.marlin:
        out.lines += ["G21", "G90"]  # Marlin: one command per line
    else:
        out.emit("G21", "G90", "F" + _num(profile.draw_feed_mm_min))
        out.feed = profile.draw_feed_mm_min
    out.pen(down=False)
    hover_um = profile.pen.hover_max_leg_mm * UM_PER_MM
    for k, points in enumerate(strokes):
        out.travel(*points[0])
        out.pen(down=True)
        if profile.corner_rounding_mm and len(points) > 2:
            _draw_rounded(out, points, profile)
        else:
            for x, y in points[1:]:
                out.draw(x, y)  # a point that rounds onto the last one writes nothing
        # only a short hop to the next stroke hovers; the last lift before parking is full
        leg_um = (math.hypot(*(strokes[k + 1][0] - points[-1]).tolist())
                  if k + 1 < len(strokes) else math.inf)
        out.pen(down=False, hover=leg_um <= hover_um)
    park = [round(v * UM_PER_MM) for v in (profile.park_x_mm, profile.park_y_mm)]
    out.travel(*park)
    out.lines.append("M400" if out.marlin else "M2")
    return "\n".join(out.lines) + "\n"


def _draw_rounded(out: _Writer, points: np.ndarray, profile: MachineProfile) -> None:
    """Draw the stroke ``points`` (machine µm) with its corners rounded by arcs within
    ``corner_rounding_mm`` (:func:`plotter.arcs.round_corners`). Each arc is checked as
    GRBL will read it from the rounded words (the end on the circle, the turn the right
    way round); one that GRBL runs as a single chord, or whose chords are fewer bytes as
    G1 steps, is written as those steps instead: the machine moves the same way. Marlin
    always gets the chords as G1 steps: its arc segments (``MIN_ARC_SEGMENT_MM``) are not
    GRBL's, and the plot-time estimate models GRBL's."""
    turn_min = min_rounded_turn(profile.draw_feed_mm_min, min(profile.accel_x_mm_s2,
                                profile.accel_y_mm_s2), profile.junction_deviation_mm)
    path = round_corners(points / UM_PER_MM, profile.corner_rounding_mm,
                         arc_tolerance_mm=profile.arc_tolerance_mm, min_turn_rad=turn_min)
    grid = np.rint(path.points * UM_PER_MM).astype(np.int64)
    centers = np.rint(np.nan_to_num(path.centers) * UM_PER_MM).astype(np.int64)
    vertices = np.rint(np.nan_to_num(path.vertices) * UM_PER_MM).astype(np.int64)
    for k in range(1, len(grid)):
        x, y = int(grid[k, 0]), int(grid[k, 1])
        if np.isnan(path.centers[k, 0]):
            out.draw(x, y)
            continue
        start = np.array([out.pos["X"], out.pos["Y"]], dtype=float) / UM_PER_MM
        target = np.array([x, y], dtype=float) / UM_PER_MM
        center = centers[k] / UM_PER_MM
        chords = _arc_as_grbl_runs(start, target, center, bool(path.clockwise[k]), profile)
        drawn = np.vstack([start, target[None] if chords is None else chords])
        if _distance_to_path(vertices[k] / UM_PER_MM, drawn) > (
                profile.corner_rounding_mm + _ROUNDING_SLACK_MM):
            # rounded to the micrometre, the arc (or its one chord) strays too far from
            # the corner: keep the corner sharp
            out.draw(int(vertices[k, 0]), int(vertices[k, 1]))
            out.draw(x, y)
            continue
        if chords is None:
            out.draw(x, y)  # a chord: the same motion as the arc, in fewer bytes
            continue
        steps = np.rint(chords * UM_PER_MM).astype(np.int64)
        step_bytes = sum(len(_um(a)) + len(_um(b)) + 3 for a, b in np.diff(
            np.vstack([[out.pos["X"], out.pos["Y"]], steps]), axis=0).tolist())
        arc_bytes = 9 + sum(len(_um(v)) for v in (x - out.pos["X"], y - out.pos["Y"],
                                                     centers[k, 0] - out.pos["X"],
                                                     centers[k, 1] - out.pos["Y"]))
        if not out.marlin and step_bytes > arc_bytes:
            out.arc(x, y, (int(centers[k, 0]), int(centers[k, 1])), bool(path.clockwise[k]))
        else:
            for sx, sy in steps.tolist():
                out.draw(sx, sy)


# what writing the arc's ends and centre to the micrometre may add to its distance from
# the corner, mm
_ROUNDING_SLACK_MM = 0.0005


def _distance_to_path(point: np.ndarray, path: np.ndarray) -> float:
    """The distance (mm) from ``point`` to the polyline ``path`` (``(K, 2)`` mm)."""
    a, b = path[:-1], path[1:]
    ab = b - a
    length_sqr = np.maximum((ab * ab).sum(axis=1), 1e-300)
    t = np.clip(((point - a) * ab).sum(axis=1) / length_sqr, 0.0, 1.0)
    nearest = a + t[:, None] * ab
    return float(np.hypot(*(point - nearest).T).min())


def _arc_as_grbl_runs(start: np.ndarray, target: np.ndarray, center: np.ndarray,
                      clockwise: bool, profile: MachineProfile) -> np.ndarray | None:
    """The chords GRBL runs for this arc as written (mm), or None when it runs it as
    one straight chord or would refuse or misread it (a rounded start and end so close
    that the arc could come out the long way round)."""
    if np.array_equal(start, target):
        return None
    try:
        radius = check_offset(start, target, center - start)
    except ArcError:
        return None
    if abs(angular_travel(start, target, center, clockwise)) >= math.pi:
        return None  # a fillet turns less than half a circle
    chords = arc_chords(start, target, center - start, clockwise, profile.arc_tolerance_mm,
                        radius_mm=radius)
    return chords if len(chords) > 1 else None


# --- reading ---------------------------------------------------------------------------

_COMMENT = re.compile(r"\([^)]*\)|;.*$")
_WORD = re.compile(r"([A-Z])\s*([-+]?(?:\d+\.?\d*|\.\d+))")
_IGNORED_G = {17, 40, 49, 54, 80, 94}  # plane, compensation off, work offset, feed/min
_IGNORED_M = {17, 18, 84}  # Marlin stepper enable/disable


def _words(line: str, number: int) -> list[tuple[str, float]]:
    code = _COMMENT.sub("", line).upper()
    code = re.sub(r"\*\d+\s*$", "", code)  # Marlin's checksum
    words = [(m.group(1), float(m.group(2))) for m in _WORD.finditer(code)]
    rest = _WORD.sub("", code).strip()
    if rest:
        raise GcodeError(f"line {number}: cannot read {rest!r} in {line.strip()!r}")
    return words


def read_program(text: str, profile: MachineProfile | None = None) -> list[Command]:
    """Parse G-code into :mod:`plotter.program` commands, in machine mm and mm/min, each
    with its 1-based source line.

    Reads G0/G1 (X Y Z F), G2/G3 arcs in the XY plane (I J or R; as the chords GRBL
    runs, ``$12`` from the profile), G4 (P: seconds on GRBL, milliseconds on Marlin; S: seconds),
    G20/G21, G90/G91, M3/M4 [S], M5, S alone, M280 P S, M400, M2/M30, comments, ``%``
    and ``$`` lines.

    The pen: ``M3``/``M4`` with S on the down side of the profile's ``up_value``
    (without a profile: S > 0) is down, ``M5`` is up; ``M280`` is down when its S is
    nearer the profile's ``down_value`` than its ``up_value``. A Z pen is an ordinary
    axis (:class:`~plotter.program.Move` with z); it starts at ``up_z_mm``.
    ``Pen.sync`` follows GRBL: every M3/M4/M5 change empties the planner, and so does a
    new S, except on a motion line in laser mode; Marlin's ``M280`` is in order (sync)
    when an ``M400`` came since the last move.

    >>> read_program("G0 X1 Y2\\nM3 S1000\\nG4 P0.1")  # doctest: +NORMALIZE_WHITESPACE
    [Move(x=1.0, y=2.0, z=0.0, feed_mm_min=0.0, rapid=True, line=1),
     Pen(down=True, sync=True, line=2), Dwell(seconds=0.1, line=3)]
    """
    marlin = profile is not None and profile.firmware == "marlin"
    pen = profile.pen if profile is not None else None
    laser_mode = profile is not None and profile.laser_mode
    pos = [0.0, 0.0, pen.up_z_mm if pen is not None and pen.kind == "z" else 0.0]
    feed = 0.0
    s_value = 0.0
    spindle_on = False
    mode: int | None = None
    relative = False
    scale = 1.0  # mm per unit (G20: 25.4)
    waited = False  # an M400 since the last move: the next M280 acts in order
    arc_tolerance = profile.arc_tolerance_mm if profile is not None else DEFAULT_ARC_TOLERANCE_MM
    commands: list[Command] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("%", "$")):
            continue
        words = _words(stripped, number)
        letters = [w[0] for w in words]
        for letter in set(letters):
            if letter in "XYZFSPIJR" and letters.count(letter) > 1:
                raise GcodeError(f"line {number}: two {letter} words in {stripped!r}")
        values = {k: v for k, v in words if k not in "GMN"}
        gs = [v for k, v in words if k == "G"]
        ms = [v for k, v in words if k == "M"]
        dwell = False
        for g in gs:
            if g in (0, 1, 2, 3):
                mode = int(g)
            elif g == 4:
                dwell = True
            elif g in (20, 21):
                scale = 25.4 if g == 20 else 1.0
            elif g in (90, 91):
                relative = g == 91
            elif g not in _IGNORED_G:
                raise GcodeError(f"line {number}: G{_num(g)} is not supported: {stripped!r}")
        if "F" in values:
            feed = values["F"] * scale
        # the spindle (a servo pen on M3/M5): GRBL sets S, then M3/M4/M5, then moves.
        # Every M3/M4/M5 change empties the planner, even in laser mode; so does a new S
        # while on, except on a motion line in laser mode (gcode.c, spindle_sync)
        motion = any(letter in values for letter in "XYZ")
        new_s = values["S"] if "S" in values and 280 not in ms and not dwell else s_value
        new_on = spindle_on
        for m in ms:
            if m in (3, 4, 5, 2, 30):
                new_on = m in (3, 4)
        switched = new_on != spindle_on
        s_changed = new_on and new_s != s_value
        if switched or s_changed or any(m in (3, 4, 5) for m in ms):
            sync = switched or (s_changed and not (laser_mode and motion))
            # without a profile: any S above 0 is down (M3 S1000 / M5)
            down = new_on and (pen.servo_down(new_s) if pen is not None else new_s > 0)
            commands.append(Pen(down=down, sync=sync, line=number))
        spindle_on, s_value = new_on, new_s
        for m in ms:
            if m in (3, 4, 5, 2, 30):
                continue
            if m == 400:
                waited = True
            elif m == 280:
                if pen is None or pen.up_value == pen.down_value:
                    raise GcodeError(
                        f"line {number}: M280 needs a profile with distinct servo up and "
                        f"down values to tell the pen's state: {stripped!r}"
                    )
                if int(values.get("P", 0)) != pen.servo_index or "S" not in values:
                    continue  # another servo, or a query
                down = pen.servo_down(values["S"])
                commands.append(Pen(down=down, sync=waited, line=number))
            elif m not in _IGNORED_M:
                raise GcodeError(f"line {number}: M{_num(m)} is not supported: {stripped!r}")
        if dwell:
            if "S" in values:
                seconds = values["S"]
            elif "P" in values:
                seconds = values["P"] / 1000 if marlin else values["P"]
            else:
                seconds = 0.0
            commands.append(Dwell(seconds=seconds, line=number))
            continue
        axes = [letter for letter in "XYZ" if letter in values]
        if axes:
            if mode is None:
                raise GcodeError(f"line {number}: axis words before any G0/G1: {stripped!r}")
            start = list(pos)
            for i, letter in enumerate("XYZ"):
                if letter in values:
                    value = values[letter] * scale
                    pos[i] = pos[i] + value if relative else value
            if mode in (2, 3):
                commands += _arc_moves(start, pos, values, scale, mode == 2, feed, number,
                                       stripped, arc_tolerance)
            else:
                commands.append(Move(x=pos[0], y=pos[1], z=pos[2], feed_mm_min=feed,
                                     rapid=mode == 0, line=number))
            waited = False
    return commands


def _arc_moves(start: list[float], end: list[float], values: dict[str, float], scale: float,
               clockwise: bool, feed: float, number: int, line: str,
               arc_tolerance_mm: float) -> list[Move]:
    """A G2/G3 line as the straight chords GRBL cuts it into (``mc_arc``, ``$12`` =
    ``arc_tolerance_mm``), Z moving evenly along them (a helix)."""
    try:
        if "R" in values and ("I" in values or "J" in values):
            raise ArcError(36, "an arc takes R or I/J, not both")
        ends, _ = arc_from_words(np.array(start), np.array(end), values, scale, clockwise,
                                 arc_tolerance_mm)
    except ArcError as error:
        raise GcodeError(f"line {number}: {error}: {line!r}") from error
    return [Move(x=x, y=y, z=z, feed_mm_min=feed, rapid=False, line=number)
            for x, y, z in ends.tolist()]


def read_strokes(text: str, profile: MachineProfile, card_w: float, card_h: float) -> Drawing:
    """The pen-down strokes the G-code draws, as a Drawing in card mm (the inverse of the
    profile's card transform). A pen that goes down and up in one place is a one-point
    stroke; moves that do not change X or Y add no point.
    """
    pen = profile.pen
    strokes: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] | None = None
    xy = (0.0, 0.0)
    down = False
    for command in read_program(text, profile):
        if isinstance(command, Dwell):
            continue
        if isinstance(command, Move):
            xy = (command.x, command.y)
            now_down = pen.z_down(command.z) if pen.kind == "z" else down
        else:
            now_down = command.down
        if now_down and current is None:
            current = [xy]
        elif now_down and current is not None and current[-1] != xy:
            current.append(xy)
        elif not now_down and current is not None:
            strokes.append(current)
            current = None
        down = now_down
    if current is not None:
        strokes.append(current)
    return Drawing(
        tuple(machine_to_card(np.array(s), profile, card_w, card_h) for s in strokes),
        card_w, card_h,
    )
