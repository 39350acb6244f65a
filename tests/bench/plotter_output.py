"""Benchmark for the "plotter output" issue: our optimiser and G-code writer against vpype
fed the same raw layout drawing (``linemerge linesort --two-opt gwrite``).

Both G-code files are measured the same way, from the G-code itself: pen-up travel
between the first pen-down and the last pen-up (the legs from the origin and back to it
depend on where each puts the card, not on the optimisation), pen lifts, bytes, and the
plot time our GRBL planner model (:func:`plotter.planner.plan`) estimates for both.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jobs.render import layout_job
from plotter.drawing import Drawing, stroke_length
from plotter.gcode import GcodeError, read_program, write_gcode
from plotter.optimize import optimize
from plotter.planner import Block, plan
from plotter.profile import MachineProfile, load_profile
from plotter.program import Move, Pen
from tests.bench import vpype_ref
from tests.bench.ocr import example_specs

PROFILE = "grbl-servo"
# corner rounding measured beside the shipped profile (which has it off): the most the
# profile allows, mm
ROUNDING_MM = 0.008


@dataclass(frozen=True)
class GcodeStats:
    """What a G-code file costs on the machine."""

    bytes: int
    pen_lifts: int  # pen-down → pen-up changes
    pen_up_travel_mm: float  # XY travel with the pen up between first down and last up
    ink_mm: float  # XY travel with the pen down
    seconds: float | None  # our planner's estimate; None when the G-code cannot be read
    error: str = ""  # why it could not be read
    travel_s: float = math.nan  # of seconds: moving with the pen up (Z lifts included)
    dwell_s: float = math.nan  # of seconds: waiting in G4 dwells
    # the most planner blocks a second the controller must plan, over any run of a full
    # buffer's worth of blocks (a shorter burst the buffer absorbs)
    peak_blocks_per_s: float = math.nan


def gcode_stats(text: str, profile: MachineProfile) -> GcodeStats:
    """Measure ``text`` by reading it with :func:`plotter.gcode.read_program`."""
    try:
        program = read_program(text, profile)
    except GcodeError as error:
        return GcodeStats(len(text.encode()), 0, math.nan, math.nan, None, str(error))
    down = False
    lifts = 0
    ink = 0.0
    legs: list[float] = []  # pen-up XY move lengths, in order
    lift_at: list[int] = []  # index into legs at each lift
    x = y = 0.0
    for command in program:
        if isinstance(command, Pen):
            if down and not command.down:
                lifts += 1
                lift_at.append(len(legs))
            down = command.down
        elif isinstance(command, Move):
            step = math.hypot(command.x - x, command.y - y)
            if down:
                ink += step
            else:
                legs.append(step)
            x, y = command.x, command.y
    # pen-up travel between strokes: the legs after the first lift and before the last
    between = sum(legs[lift_at[0]:lift_at[-1]]) if lift_at else 0.0
    timed = plan(program, profile)
    return GcodeStats(len(text.encode()), lifts, between, ink, timed.total_s,
                      travel_s=timed.travel_s, dwell_s=timed.dwell_s,
                      peak_blocks_per_s=peak_block_rate(timed.blocks, profile.planner_blocks))


def peak_block_rate(blocks: Sequence[Block], window: int) -> float:
    """The most blocks a second over any ``window`` consecutive blocks (blocks/s): what
    the controller's CPU must keep up with. GRBL on an ATmega328p parses and plans about
    400-500 lines a second (its author, gnea/grbl#264); blocks executed faster drain the
    planner buffer."""
    durations = np.array([b.duration_s for b in blocks])
    if len(durations) < window:
        return len(durations) / durations.sum() if durations.sum() > 0 else 0.0
    sums = np.convolve(durations, np.ones(window), "valid")
    return float(window / sums.min())


@dataclass(frozen=True)
class PlotterRow:
    """One example card through our pipeline and through vpype's."""

    job: str
    font: str
    ours: GcodeStats
    lower_bound_s: float  # ink / draw feed + the dwells our G-code waits
    vpype: GcodeStats | None
    # pen-up travel (mm) with the whole card as one band: what the optimiser reaches
    # without writing top to bottom, as vpype's linesort orders (for comparison only)
    one_band_travel_mm: float = math.nan
    motion_bound_s: float = math.nan  # see motion_bound_s()
    # the formula as written: ink / draw feed + lifts x the profile's full dwells
    # (not a bound for G-code that hovers: a hover waits less)
    full_dwell_bound_s: float = math.nan
    # ours again with the profile's corner_rounding_mm at ROUNDING_MM (off when shipped)
    rounded: GcodeStats | None = None

    def ratio(self, field: str, *, rounded: bool = False) -> float | None:
        """Ours (with ``rounded``: with corners rounded) over vpype's for a
        :class:`GcodeStats` field."""
        mine_stats = self.rounded if rounded else self.ours
        if self.vpype is None or mine_stats is None:
            return None
        theirs = getattr(self.vpype, field)
        mine = getattr(mine_stats, field)
        if theirs is None or mine is None or not theirs:
            return None
        return mine / theirs

    @property
    def over_lower_bound(self) -> float | None:
        """Our estimated time over the lower bound."""
        return self.ours.seconds / self.lower_bound_s if self.ours.seconds else None

    @property
    def over_full_dwell_bound(self) -> float | None:
        """Our estimated time over the issue's formula with the profile's full dwells."""
        return self.ours.seconds / self.full_dwell_bound_s if self.ours.seconds else None

    def rounded_over(self, bound_s: float) -> float | None:
        """Our time with corners rounded over ``bound_s`` (one of the bounds above)."""
        if self.rounded is None or not self.rounded.seconds:
            return None
        return self.rounded.seconds / bound_s

    @property
    def over_motion_bound(self) -> float | None:
        """Our estimated time over the motion bound: what cornering costs."""
        return self.ours.seconds / self.motion_bound_s if self.ours.seconds else None


def lower_bound_s(ink_mm: float, dwell_s: float, profile: MachineProfile) -> float:
    """No plot is faster: all ink at the draw feed, and the dwells the G-code waits (the
    issue's "ink length / draw feed + lifts x lift dwell" with each lift's own dwells:
    a hover waits less than a full lift, so the profile's full dwells would overstate
    the bound)."""
    return ink_mm / (profile.draw_feed_mm_min / 60.0) + dwell_s


def rest_to_rest_s(length_mm: float, speed_mm_s: float, accel_mm_s2: float) -> float:
    """Seconds for one straight run of ``length_mm`` from rest to rest, at most
    ``speed_mm_s``, at ``accel_mm_s2`` (a trapezoid, or a triangle when short)."""
    if length_mm * accel_mm_s2 <= speed_mm_s * speed_mm_s:
        return 2.0 * math.sqrt(length_mm / accel_mm_s2)
    return length_mm / speed_mm_s + speed_mm_s / accel_mm_s2


def motion_bound_s(drawing: Drawing, ours: GcodeStats, profile: MachineProfile) -> float:
    """No plot of these strokes in this order on this machine is faster (s): every stroke
    one straight run from rest to rest at the draw feed and at the best acceleration any
    direction allows (the axes' limits together, as GRBL's
    ``limit_value_by_axis_maximum`` gives a diagonal), plus the pen-up moves and dwells
    as our planner times them (each a single move from rest to rest: exact). What our
    estimate spends above it is the slowing down in corners.
    """
    speed = profile.draw_feed_mm_min / 60.0
    accel = math.hypot(profile.accel_x_mm_s2, profile.accel_y_mm_s2)
    strokes = sum(rest_to_rest_s(stroke_length(s), speed, accel)
                  for s in drawing.strokes if len(s) > 1)
    return strokes + ours.travel_s + ours.dwell_s


def measure_card(stem: str, spec, profile: MachineProfile, *, with_vpype: bool) -> PlotterRow:
    """Our G-code and vpype's for one example card's raw layout drawing."""
    _, layout = layout_job(spec)
    raw = layout.drawing
    optimised = optimize(raw)
    ours = gcode_stats(write_gcode(optimised, profile), profile)
    ink_mm = optimised.ink_length_mm()
    bound = lower_bound_s(ink_mm, ours.dwell_s, profile)
    one_band = gcode_stats(write_gcode(optimize(raw, band_mm=math.inf), profile), profile)
    theirs = None
    if with_vpype:
        theirs = gcode_stats(vpype_ref.gcode_of_svg(raw.to_svg()), profile)
    pen = profile.pen
    full_dwells = optimised.pen_lifts() * (pen.lift_dwell_s + pen.lower_dwell_s)
    rounding = dataclasses.replace(profile, corner_rounding_mm=ROUNDING_MM)
    rounded = gcode_stats(write_gcode(optimised, rounding), rounding)
    return PlotterRow(stem, layout.font, ours, bound, theirs, one_band.pen_up_travel_mm,
                      motion_bound_s(optimised, ours, profile),
                      lower_bound_s(ink_mm, full_dwells, profile),
                      rounded)


def measure_plotter_output(profile_name: str = PROFILE) -> list[PlotterRow]:
    """A row per bundled example job."""
    profile = load_profile(profile_name)
    with_vpype = vpype_ref.available()
    return [measure_card(stem, spec, profile, with_vpype=with_vpype)
            for stem, spec in example_specs()]
