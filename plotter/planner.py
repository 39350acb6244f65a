"""GRBL's motion model: timed, trapezoidal blocks from a machine program.

The model follows GRBL 1.1's ``grbl/planner.c`` so that the plot-time estimate and the
simulated device agree with the real machine:

- every :class:`~plotter.program.Move` of non-zero length becomes a *block*: a straight
  line run at constant acceleration up to a cruise speed and down again (a trapezoid, or
  a triangle when the block is too short to reach its cruise speed);
- a block's nominal speed is its feed, capped by the axes' max rates along its direction
  (a rapid runs at those max rates); its acceleration is the axes' limits along its
  direction (``limit_value_by_axis_maximum``);
- the speed through the corner between two blocks is capped by junction deviation
  (``plan_buffer_line``) and by the nominal speeds of both blocks;
- a backward pass (each block must be able to slow down to the next one's entry speed,
  the last block in the buffer to a stop) and a forward pass (each block can only speed
  up as much as its acceleration allows) set the entry and exit speeds
  (``planner_recalculate``);
- GRBL holds ``planner_blocks`` (15) blocks. With a full buffer the block being executed
  was planned while the buffer held it and the next ``planner_blocks - 1`` blocks, the
  last of which had to be able to stop: the look-ahead is a *sliding window*. The model
  assumes the host keeps the buffer full (character-counting streaming does), so each
  block's exit speed is fixed by the window that starts with it;
- a :class:`~plotter.program.Dwell` (``G4``) and a :class:`~plotter.program.Pen` with
  ``sync`` (stock GRBL's ``M3``/``M5``/``S`` spindle sync) empty the planner: everything
  before them runs to a full stop, then the dwell waits its seconds. The planner trusts
  ``Pen.sync`` as the G-code reader set it (GRBL syncs every ``M3``↔``M5`` change even
  in laser mode; only an ``S`` on a motion line in laser mode runs without a stop);
- a Z pen is an ordinary axis: its lifts are moves with the Z rate and acceleration.

Marlin profiles are timed with the same GRBL model, an approximation of Marlin's own
planner. Where the blocks in the window are shorter together than the braking
distance v²/2a (1.25 mm at 50 mm/s and 1000 mm/s²: segments under 0.09 mm), the window
caps the speed and each block ramps up and down inside (a sawtooth), as on the machine.

Units: positions in machine mm, speeds in mm/s, accelerations in mm/s², times in s.
Feeds and max rates come in as mm/min (G-code and GRBL ``$11x``) and are divided by 60.

:class:`Planner` plans incrementally as commands arrive (the simulated device runs it
with a real buffer); :func:`plan` and :func:`estimate_seconds` run the same machinery
over a whole program.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from plotter.profile import MachineProfile
from plotter.program import Command, Dwell, Move, Pen

Point = tuple[float, float, float]
"""A machine position ``(x, y, z)`` in mm."""

# grbl/config.h: MINIMUM_FEED_RATE is 1 mm/min, MINIMUM_JUNCTION_SPEED is 0 mm/s.
MINIMUM_FEED_MM_S = 1.0 / 60.0
MINIMUM_JUNCTION_MM_S = 0.0

# planner.c treats |cos θ| within 1e-6 of 1 as a straight line or a full reversal.
_COS_LIMIT = 0.999999

# GRBL drops a move that has no steps; without steps/mm we drop moves shorter than this.
EMPTY_MOVE_MM = 1e-6


def axis_limit(limits: Sequence[float], unit: Sequence[float]) -> float:
    """The largest magnitude along ``unit`` that keeps every axis within its limit.

    GRBL's ``limit_value_by_axis_maximum``: moving at ``v`` along unit vector ``u`` asks
    ``v·|u_i|`` of axis ``i``, so ``v = min_i limit_i / |u_i|`` over the axes that move.
    Used for max rates (mm/s) and accelerations (mm/s²) alike.

    >>> round(axis_limit((100.0, 100.0, 10.0), (0.6, 0.8, 0.0)), 6)
    125.0
    """
    best = math.inf
    for limit, u in zip(limits, unit, strict=True):
        if u != 0.0:
            best = min(best, abs(limit / u))
    return best


def junction_speed_sqr(
    prev_unit: Sequence[float],
    unit: Sequence[float],
    accel_mm_s2: Sequence[float],
    deviation_mm: float,
) -> float:
    """Square of the fastest speed (mm²/s²) through the corner between two unit vectors.

    GRBL's junction deviation (``plan_buffer_line``): the corner is taken as a circular
    arc that stays within ``deviation_mm`` of the corner point, driven at the centripetal
    acceleration limit ``a`` along the junction direction ``u_next - u_prev``:

        cos θ = -(u_prev · u_next),  s = sin(θ/2) = √(½ (1 − cos θ)),
        v² = a · δ · s / (1 − s).

    A full reversal gives 0, a straight line ``inf`` (the nominal speeds cap it).
    """
    cos_theta = 0.0
    for p, u in zip(prev_unit, unit, strict=True):
        cos_theta -= p * u
    if cos_theta > _COS_LIMIT:
        return MINIMUM_JUNCTION_MM_S * MINIMUM_JUNCTION_MM_S
    if cos_theta < -_COS_LIMIT:
        return math.inf
    junction = [u - p for p, u in zip(prev_unit, unit, strict=True)]
    norm = math.sqrt(sum(j * j for j in junction))
    accel = axis_limit(accel_mm_s2, [j / norm for j in junction])
    sin_half = math.sqrt(0.5 * (1.0 - cos_theta))
    v_sqr = accel * deviation_mm * sin_half / (1.0 - sin_half)
    return max(MINIMUM_JUNCTION_MM_S * MINIMUM_JUNCTION_MM_S, v_sqr)


def start_position(profile: MachineProfile, start: Sequence[float] | None = None) -> Point:
    """``start`` as a machine position in mm; None is the origin with the pen up (a Z pen
    at ``up_z_mm``), where :func:`plotter.gcode.read_program` starts too."""
    if start is None:
        return (0.0, 0.0, profile.pen.up_z_mm if profile.pen.kind == "z" else 0.0)
    x, y, z = (float(c) for c in start)
    return (x, y, z)


@dataclass(frozen=True, slots=True)
class Block:
    """One straight move with its planned speed profile.

    ``start``/``end`` are machine positions in mm, ``length_mm`` their distance. Speeds
    are mm/s: ``nominal_mm_s`` the cruise speed it may reach, ``max_entry_mm_s`` the
    junction limit at its start (0 after a stop), ``entry_mm_s``/``exit_mm_s`` the planned
    speeds at its ends, ``peak_mm_s`` the top speed reached. ``accel_mm_s2`` is the
    acceleration along the block. The profile is derived: ``accel_s`` at ``+accel``,
    ``cruise_s`` at ``peak_mm_s`` (0 for a triangle), ``decel_s`` at ``-accel``, and their
    sum ``duration_s``. ``line`` is the source G-code line; ``pen_down`` whether the pen
    draws during the block.

    >>> b = Block((0, 0, 0), (100, 0, 0), 100.0, 50.0, 0.0, 0.0, 0.0, 1000.0)
    >>> round(b.duration_s, 6)
    2.05
    """

    start: Point
    end: Point
    length_mm: float
    nominal_mm_s: float
    max_entry_mm_s: float
    entry_mm_s: float
    exit_mm_s: float
    accel_mm_s2: float
    line: int = 0
    rapid: bool = False
    pen_down: bool = False
    peak_mm_s: float = field(init=False)
    accel_s: float = field(init=False)
    cruise_s: float = field(init=False)
    decel_s: float = field(init=False)
    duration_s: float = field(init=False)

    def __post_init__(self) -> None:
        a = self.accel_mm_s2
        length = self.length_mm
        v0, v1, vn = self.entry_mm_s, self.exit_mm_s, self.nominal_mm_s
        v0_sqr, v1_sqr, vn_sqr = v0 * v0, v1 * v1, vn * vn
        # distance to go from u to v at constant acceleration a: d = (v² − u²) / 2a
        accel_mm = (vn_sqr - v0_sqr) / (2.0 * a)
        decel_mm = (vn_sqr - v1_sqr) / (2.0 * a)
        cruise_mm = length - accel_mm - decel_mm
        if cruise_mm >= 0.0:
            peak = vn
        else:
            # triangle: the ramps meet where (v² − v0²)/2a + (v² − v1²)/2a = L,
            # so v_peak² = a·L + (v0² + v1²)/2
            peak = math.sqrt(max(a * length + 0.5 * (v0_sqr + v1_sqr), v0_sqr, v1_sqr))
            cruise_mm = 0.0
        set_ = object.__setattr__
        set_(self, "peak_mm_s", peak)
        # a ramp from u to v at acceleration a takes (v − u) / a
        set_(self, "accel_s", (peak - v0) / a)
        set_(self, "cruise_s", cruise_mm / peak if peak > 0.0 else 0.0)
        set_(self, "decel_s", (peak - v1) / a)
        set_(self, "duration_s", self.accel_s + self.cruise_s + self.decel_s)

    @property
    def accel_mm(self) -> float:
        """Distance covered while accelerating, mm (mean speed × time)."""
        return 0.5 * (self.entry_mm_s + self.peak_mm_s) * self.accel_s

    @property
    def decel_mm(self) -> float:
        """Distance covered while decelerating, mm."""
        return 0.5 * (self.peak_mm_s + self.exit_mm_s) * self.decel_s

    @property
    def cruise_mm(self) -> float:
        """Distance covered at the peak speed, mm."""
        return self.peak_mm_s * self.cruise_s

    @property
    def unit(self) -> Point:
        """Direction of travel, a unit vector."""
        (x0, y0, z0), (x1, y1, z1) = self.start, self.end
        n = self.length_mm
        return ((x1 - x0) / n, (y1 - y0) / n, (z1 - z0) / n)

    def distance_at(self, t: float) -> float:
        """Distance travelled ``t`` seconds after the block started, mm (clamped)."""
        if t <= 0.0:
            return 0.0
        a, v0, peak = self.accel_mm_s2, self.entry_mm_s, self.peak_mm_s
        if t < self.accel_s:
            return v0 * t + 0.5 * a * t * t  # s = v0·t + a·t²/2
        s = self.accel_mm
        t -= self.accel_s
        if t < self.cruise_s:
            return s + peak * t
        s += self.cruise_mm
        t = min(t - self.cruise_s, self.decel_s)
        return min(s + peak * t - 0.5 * a * t * t, self.length_mm)

    def speed_at(self, t: float) -> float:
        """Speed ``t`` seconds after the block started, mm/s (0 outside the block)."""
        if t < 0.0 or t > self.duration_s:
            return 0.0
        if t < self.accel_s:
            return self.entry_mm_s + self.accel_mm_s2 * t
        t -= self.accel_s
        if t < self.cruise_s:
            return self.peak_mm_s
        t -= self.cruise_s
        return max(self.peak_mm_s - self.accel_mm_s2 * t, self.exit_mm_s)

    def position_at(self, t: float) -> Point:
        """Machine position ``t`` seconds after the block started, mm.

        >>> b = Block((0, 0, 0), (100, 0, 0), 100.0, 50.0, 0.0, 0.0, 0.0, 1000.0)
        >>> b.position_at(0.05)
        (1.25, 0.0, 0.0)
        """
        f = self.distance_at(t) / self.length_mm
        (x0, y0, z0), (x1, y1, z1) = self.start, self.end
        return (x0 + (x1 - x0) * f, y0 + (y1 - y0) * f, z0 + (z1 - z0) * f)


Step = Block | Dwell | Pen
"""What a planner hands out, in execution order: a block to move, a dwell to wait, a
pen command to apply."""


class _Pending:
    """A block in the planner buffer whose exit speed may still change (speeds squared)."""

    __slots__ = (
        "start",
        "end",
        "length",
        "nominal",
        "accel",
        "max_entry_sqr",
        "entry_sqr",
        "back_sqr",
        "line",
        "rapid",
        "pen_down",
        "before",
    )

    def __init__(
        self,
        start: Point,
        end: Point,
        length: float,
        nominal: float,
        accel: float,
        max_entry_sqr: float,
        line: int,
        rapid: bool,
        pen_down: bool,
        before: list[Pen],
    ) -> None:
        self.start = start
        self.end = end
        self.length = length
        self.nominal = nominal
        self.accel = accel
        self.max_entry_sqr = max_entry_sqr
        # fixed once the block is first in the buffer (it is executing)
        self.entry_sqr = 0.0
        # fastest entry that can still slow down to a stop at the end of the buffer
        self.back_sqr = min(max_entry_sqr, 2.0 * accel * length)
        self.line = line
        self.rapid = rapid
        self.pen_down = pen_down
        # non-syncing pen commands that run just before this block
        self.before = before


class Planner:
    """GRBL's look-ahead planner, fed one command at a time.

    The buffer holds at most ``profile.planner_blocks`` blocks; the first one is the block
    executing, so its entry speed is fixed. :meth:`append` plans a new command in; when the
    buffer is full, the first block is *finalised* first (its exit speed is what the
    full buffer allowed) and handed out by :meth:`pop_ready`, in execution order with the
    dwells and pen commands between blocks. A sync command or a dwell finalises all.

    Batch use (the estimate, always-full buffer)::

        planner = Planner(profile)
        for command in commands:
            planner.append(command)
        planner.flush()
        steps = planner.pop_ready()

    A simulator that runs ahead of a slow stream calls :meth:`release` to start the first
    buffered block with what the buffer holds; it owns the count of blocks GRBL reports
    (``buffered`` plus the one it is executing) and appends only while that is below
    ``planner_blocks``. With a stream that keeps up, both uses give identical blocks.
    """

    def __init__(self, profile: MachineProfile, *, start: Sequence[float] | None = None) -> None:
        if profile.planner_blocks < 1:
            raise ValueError(f"planner_blocks must be at least 1, got {profile.planner_blocks}")
        self.profile = profile
        self.size = profile.planner_blocks
        self._max_rate = (
            profile.max_rate_x_mm_min / 60.0,
            profile.max_rate_y_mm_min / 60.0,
            profile.max_rate_z_mm_min / 60.0,
        )
        self._accel = (profile.accel_x_mm_s2, profile.accel_y_mm_s2, profile.accel_z_mm_s2)
        self._deviation = profile.junction_deviation_mm
        pen = profile.pen
        self._z_pen = pen.kind == "z"
        self._pen_settings = pen
        x, y, z = start_position(profile, start)
        self._position: Point = (x, y, z)
        self._pen_down = self._z_pen and pen.z_down(z)
        self.pen_lifts = 0
        self._buffer: deque[_Pending] = deque()
        self._ready: deque[Step] = deque()
        self._after: list[Pen] = []  # non-syncing pen commands after the last block
        self._prev_unit: Point = (0.0, 0.0, 0.0)
        self._prev_nominal = 0.0

    @property
    def position(self) -> Point:
        """Where the last appended move ends, machine mm."""
        return self._position

    @property
    def pen_down(self) -> bool:
        """Whether the pen is down after the last appended command."""
        return self._pen_down

    @property
    def buffered(self) -> int:
        """Blocks in the buffer, not yet finalised."""
        return len(self._buffer)

    def extend(self, commands: Iterable[Command]) -> None:
        """:meth:`append` each command in turn."""
        for command in commands:
            self.append(command)

    def append(self, command: Command) -> None:
        """Plan one command in; finalised steps collect for :meth:`pop_ready`."""
        if isinstance(command, Move):
            self._append_move(command)
        elif isinstance(command, Dwell):
            if not command.seconds >= 0.0:
                raise ValueError(f"line {command.line}: dwell of {command.seconds} s")
            # G4 (mc_dwell) waits for the buffer to empty, then waits the seconds
            self.flush()
            self._ready.append(command)
        elif isinstance(command, Pen):
            self._set_pen(command.down)
            if command.sync:
                # spindle_sync: protocol_buffer_synchronize() before the change
                self.flush()
                self._ready.append(command)
            elif self._buffer:
                self._after.append(command)
            else:
                self._ready.append(command)
        else:
            raise TypeError(f"not a machine command: {command!r}")

    def release(self) -> Block | None:
        """Finalise the first buffered block now, with the look-ahead the buffer holds.

        For a simulator whose buffer runs low: GRBL starts the block as soon as it is
        idle. (Real GRBL can still raise its exit speed if blocks arrive while it runs;
        this model fixes it at the start.) Returns the block, also queued for
        :meth:`pop_ready`, or None when the buffer is empty.
        """
        if not self._buffer:
            return None
        return self._finalise_first()

    def reopen(self, block: Block, elapsed_s: float) -> bool:
        """Put the rest of the executing ``block`` back in the buffer, ``elapsed_s`` into it.

        GRBL re-plans the block its stepper is running when a block arrives behind it
        (``st_update_plan_block_parameters``): a block released alone, planned to stop,
        may then keep its speed into the next one. The rest keeps its entry at the speed
        the block has at ``elapsed_s`` (mm/s), so the next :meth:`append` can raise its
        exit. Only for the block released last, with nothing buffered since; returns False
        (and changes nothing) when the block is as good as done.
        """
        if self._buffer:
            raise ValueError("reopen needs an empty buffer: the block must be the last one")
        position = block.position_at(elapsed_s)
        rest = math.dist(position, block.end)
        if rest < EMPTY_MOVE_MM or elapsed_s >= block.duration_s:
            return False
        speed = block.speed_at(elapsed_s)
        pending = _Pending(
            position,
            block.end,
            rest,
            block.nominal_mm_s,
            block.accel_mm_s2,
            block.max_entry_mm_s**2,
            block.line,
            block.rapid,
            block.pen_down,
            [],
        )
        pending.entry_sqr = speed * speed
        self._buffer.append(pending)
        return True

    def flush(self) -> None:
        """Plan every buffered block to a full stop and finalise them (end of program)."""
        while self._buffer:
            self._finalise_first()
        self._ready.extend(self._after)
        self._after = []

    def pop_ready(self) -> list[Step]:
        """Finalised steps in execution order, removed from the planner."""
        steps = list(self._ready)
        self._ready.clear()
        return steps

    def _set_pen(self, down: bool) -> None:
        if self._pen_down and not down:
            self.pen_lifts += 1
        self._pen_down = down

    def _append_move(self, move: Move) -> None:
        start = self._position
        end = (float(move.x), float(move.y), float(move.z))
        dx, dy, dz = end[0] - start[0], end[1] - start[1], end[2] - start[2]
        length = math.sqrt(dx * dx + dy * dy + dz * dz)
        self._position = end
        pen_was_down = self._pen_down
        if self._z_pen:
            self._set_pen(self._pen_settings.z_down(end[2]))
        if length < EMPTY_MOVE_MM:
            return  # plan_buffer_line: PLAN_EMPTY_BLOCK
        unit = (dx / length, dy / length, dz / length)
        accel = axis_limit(self._accel, unit)
        rapid_rate = axis_limit(self._max_rate, unit)
        if move.rapid:
            nominal = rapid_rate
        else:
            if not move.feed_mm_min > 0.0:
                raise ValueError(f"line {move.line}: G1 without a positive feed")
            nominal = min(move.feed_mm_min / 60.0, rapid_rate)
        nominal = max(nominal, MINIMUM_FEED_MM_S)

        if len(self._buffer) >= self.size:
            # GRBL frees a slot only when the block executing is done
            self._finalise_first()
        buffer = self._buffer
        if buffer:
            junction_sqr = junction_speed_sqr(self._prev_unit, unit, self._accel, self._deviation)
            # plan_compute_profile_parameters: capped by both nominal speeds
            max_entry_sqr = min(junction_sqr, nominal * nominal, self._prev_nominal**2)
        else:
            max_entry_sqr = 0.0  # an empty planner starts from rest
        self._prev_unit = unit
        self._prev_nominal = nominal

        block = _Pending(
            start,
            end,
            length,
            nominal,
            accel,
            max_entry_sqr,
            move.line,
            move.rapid,
            pen_was_down and self._pen_down,
            self._after,
        )
        self._after = []
        buffer.append(block)
        # backward pass (planner_recalculate): the new block ends in a stop; walk back
        # while entry speeds rise, v_entry² = min(v_max_entry², v_next_entry² + 2·a·d).
        # The first block is executing (its entry is fixed), so it is not revisited.
        nxt = block
        for k in range(len(buffer) - 2, 0, -1):
            current = buffer[k]
            v_sqr = nxt.back_sqr + 2.0 * current.accel * current.length
            if v_sqr > current.max_entry_sqr:
                v_sqr = current.max_entry_sqr
            if v_sqr == current.back_sqr:
                break  # unchanged here, so unchanged all the way back
            current.back_sqr = v_sqr
            nxt = current

    def _finalise_first(self) -> Block:
        current = self._buffer.popleft()
        # forward pass: the exit is what accelerating over the block allows,
        # v_exit² = v_entry² + 2·a·d, but no more than the next block's backward limit
        entry_sqr = current.entry_sqr
        exit_sqr = entry_sqr + 2.0 * current.accel * current.length
        if self._buffer:
            nxt = self._buffer[0]
            exit_sqr = min(exit_sqr, nxt.back_sqr)
            nxt.entry_sqr = exit_sqr
        else:
            exit_sqr = 0.0  # the last block in the buffer stops
        block = Block(
            current.start,
            current.end,
            current.length,
            current.nominal,
            math.sqrt(current.max_entry_sqr),
            math.sqrt(entry_sqr),
            math.sqrt(exit_sqr),
            current.accel,
            current.line,
            current.rapid,
            current.pen_down,
        )
        self._ready.extend(current.before)
        self._ready.append(block)
        if not self._buffer:
            # pen commands after the last block run once it is done: a later one that
            # finds the buffer empty must not overtake them
            self._ready.extend(self._after)
            self._after = []
        return block


@dataclass(frozen=True, eq=False)
class Plan:
    """A whole program, timed.

    ``steps`` are the blocks, dwells and pen commands in execution order, ``step_end_s``
    the seconds from the start at which each finishes. ``blocks`` are the motion steps.
    Totals in seconds: ``draw_s`` moving with the pen down, ``travel_s`` moving with the
    pen up (lifts and lowers of a Z pen included), ``dwell_s`` in ``G4``, and
    ``total_s``, their sum. ``pen_lifts`` counts pen-down → pen-up changes.
    ``line_numbers`` (sorted) and ``line_end_s`` back :meth:`time_at_line`: the seconds
    after which every step of that line and of the lines before it has run.
    ``block_lines`` and ``block_start_s`` are each block's G-code line and start, s.
    """

    steps: tuple[Step, ...]
    step_end_s: np.ndarray = field(repr=False)
    blocks: tuple[Block, ...] = field(repr=False)
    start: Point
    total_s: float
    draw_s: float
    travel_s: float
    dwell_s: float
    pen_lifts: int
    line_numbers: np.ndarray = field(repr=False)
    line_end_s: np.ndarray = field(repr=False)
    block_lines: np.ndarray = field(repr=False)
    block_start_s: np.ndarray = field(repr=False)

    def time_at_line(self, line: int) -> float:
        """Seconds from the start until G-code line ``line`` (1-based) has run, with every
        line before it. Lines without a command (comments, ``G21``…) take no time."""
        i = int(np.searchsorted(self.line_numbers, line, side="right"))
        return float(self.line_end_s[i - 1]) if i else 0.0

    def seconds_left(self, line: int) -> float:
        """Seconds still to run once line ``line`` has run."""
        return max(self.total_s - self.time_at_line(line), 0.0)

    def seconds_left_running(self, acked_line: int, blocks_in_use: int) -> float:
        """Seconds still to run while the controller has answered every line up to
        ``acked_line`` and holds ``blocks_in_use`` blocks in its planner, the first of them
        executing (GRBL reports free blocks, ``Bf:``; in use = its planner size minus
        those). The answers run ahead of the pen by the whole planner buffer, up to 15
        blocks, so :meth:`seconds_left` of the answered line is too little; this counts
        from the start of the executing block. With no block in use (idle, or in a dwell)
        it is :meth:`seconds_left`.

        >>> from plotter.profile import load_profile
        >>> moves = [Move(10.0 * k, 0, 0, 600, False, line=k) for k in range(1, 4)]
        >>> p = plan(moves, load_profile("grbl-servo"))
        >>> p.seconds_left_running(3, 2) > p.seconds_left(3) == 0.0
        True
        """
        if blocks_in_use <= 0:
            return self.seconds_left(acked_line)
        planned = int(np.searchsorted(self.block_lines, acked_line, side="right"))
        if planned == 0:
            return self.total_s
        running = max(planned - blocks_in_use, 0)
        return max(self.total_s - float(self.block_start_s[running]), 0.0)

    def position_at(self, t: float) -> Point:
        """Machine position ``t`` seconds after the start, mm."""
        # the step running at t is the first one to end after t
        i = int(np.searchsorted(self.step_end_s, t, side="right"))
        if i < len(self.steps) and isinstance(self.steps[i], Block):
            block = self.steps[i]
            return block.position_at(t - (float(self.step_end_s[i]) - block.duration_s))
        for step in reversed(self.steps[:i]):
            if isinstance(step, Block):
                return step.end
        return self.start


def plan(
    commands: Sequence[Command],
    profile: MachineProfile,
    *,
    start: Sequence[float] | None = None,
) -> Plan:
    """Time a machine program on ``profile`` with GRBL's planner, buffer always full.

    ``start`` is the machine position (mm) before the first command; None is the origin
    with the pen up (see :func:`start_position`).

    >>> from plotter.profile import load_profile
    >>> p = plan([Move(100, 0, 0, 3000, False)], load_profile("grbl-servo"))
    >>> round(p.total_s, 6), len(p.blocks)
    (2.05, 1)
    """
    planner = Planner(profile, start=start)
    planner.extend(commands)
    planner.flush()
    steps = planner.pop_ready()

    ends = np.empty(len(steps))
    lines = np.empty(len(steps), dtype=np.int64)
    blocks: list[Block] = []
    block_start_s: list[float] = []
    t = draw_s = travel_s = dwell_s = 0.0
    for i, step in enumerate(steps):
        if isinstance(step, Block):
            blocks.append(step)
            block_start_s.append(t)
            t += step.duration_s
            if step.pen_down:
                draw_s += step.duration_s
            else:
                travel_s += step.duration_s
        elif isinstance(step, Dwell):
            t += step.seconds
            dwell_s += step.seconds
        ends[i] = t
        lines[i] = step.line
    # a line has run once it and every earlier step have: sort by line, running max
    order = np.argsort(lines, kind="stable")
    line_end_s = np.maximum.accumulate(ends[order]) if len(steps) else ends
    return Plan(
        steps=tuple(steps),
        step_end_s=ends,
        blocks=tuple(blocks),
        start=start_position(profile, start),
        total_s=t,
        draw_s=draw_s,
        travel_s=travel_s,
        dwell_s=dwell_s,
        pen_lifts=planner.pen_lifts,
        line_numbers=lines[order],
        line_end_s=line_end_s,
        block_lines=np.array([b.line for b in blocks], dtype=np.int64),
        block_start_s=np.array(block_start_s),
    )


def estimate_seconds(
    commands: Sequence[Command],
    profile: MachineProfile,
    *,
    start: Sequence[float] | None = None,
) -> float:
    """Seconds a program takes on ``profile``: :func:`plan`'s ``total_s``."""
    return plan(commands, profile, start=start).total_s
