"""A machine program as plain data: what the planner runs and the simulator executes.

G-code text is parsed into these commands by :func:`plotter.gcode.read_program`; the
planner (:mod:`plotter.planner`) turns them into timed motion. Coordinates are machine
millimetres (after the profile's card transform), feeds in mm/min, times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Move:
    """A straight move to ``(x, y, z)`` in machine mm at ``feed_mm_min`` (``rapid``: G0 at
    the machine's max rates). ``line`` is the 1-based G-code line it came from."""

    x: float
    y: float
    z: float
    feed_mm_min: float
    rapid: bool
    line: int = 0


@dataclass(frozen=True)
class Dwell:
    """``G4 P<seconds>``: the planner empties, then the machine waits ``seconds``."""

    seconds: float
    line: int = 0


@dataclass(frozen=True)
class Pen:
    """A pen command that is not an axis move (``M3 S…``/``M5``, ``M280 P0 S…``).
    ``down`` tells where the pen ends up; ``sync`` is True where the firmware empties the
    planner before acting (stock GRBL's spindle sync, Marlin's ``M400``)."""

    down: bool
    sync: bool = True
    line: int = 0


Command = Move | Dwell | Pen
