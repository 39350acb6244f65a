"""Machine profiles: frozen dataclasses loaded from the TOML files in ``plotter/profiles``.

A profile says how big the bed is, where the card lies on it, how fast the machine moves
and how its pen goes up and down. Every field carries its unit in its name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Literal

# GRBL's chords of a rounded corner pass at most corner_rounding_mm from the vertex; the
# vertex, the arc's ends and its centre are each rounded to the micrometre (up to 0.7 µm
# each way): 0.008 mm keeps the G-code drawing the drawing within 0.01 mm
MAX_CORNER_ROUNDING_MM = 0.008

PenKind = Literal["servo", "z", "marlin-servo"]


@dataclass(frozen=True)
class PenSettings:
    """How the pen is lifted and lowered.

    *Hover* (optional): for a pen-up leg of at most ``hover_max_leg_mm`` the pen is raised
    only to ``hover_value`` (servo kinds) or ``hover_z_mm`` (z kind), just clear of the
    card, and each of that lift and the lower after it waits ``hover_dwell_s`` instead of
    the full dwells: a servo's travel time grows with its angle, and the short hops
    between letters are most of a card's lifts. Off while ``hover_max_leg_mm`` is 0.
    Calibrate the hover position on the machine: the pen must not touch the card there.
    """

    kind: PenKind  # servo: M3 S<down_value>/M5; z: G0 Z<up_z_mm>/G1 Z<down_z_mm>; marlin-servo: M280
    up_value: float = 0.0  # servo S value or angle for pen up (servo kinds)
    down_value: float = 0.0  # servo S value or angle for pen down (servo kinds)
    up_z_mm: float = 2.0  # Z height for pen up (z kind), mm
    down_z_mm: float = 0.0  # Z height for pen down (z kind), mm
    plunge_feed_mm_min: float = 1000.0  # feed for lowering a Z pen, mm/min
    lift_dwell_s: float = 0.15  # wait after lifting the pen, s
    lower_dwell_s: float = 0.15  # wait after lowering the pen, s
    servo_index: int = 0  # Marlin servo number (M280 P<index>)
    hover_max_leg_mm: float = 0.0  # longest pen-up leg that only hovers, mm (0: never)
    hover_value: float | None = None  # servo S value or angle just clear of the card
    hover_z_mm: float | None = None  # Z height just clear of the card (z kind), mm
    hover_dwell_s: float = 0.0  # wait after hovering and after lowering from it, s

    def __post_init__(self) -> None:
        if self.hover_max_leg_mm < 0 or self.hover_dwell_s < 0:
            raise ValueError("pen: hover_max_leg_mm and hover_dwell_s must be >= 0")
        if not self.hover_max_leg_mm:
            return
        if self.kind == "z":
            low, high, value, name = self.down_z_mm, self.up_z_mm, self.hover_z_mm, "hover_z_mm"
        else:
            low, high, value, name = self.down_value, self.up_value, self.hover_value, "hover_value"
        if value is None or not min(low, high) < value < max(low, high):
            raise ValueError(f"pen: hover needs {name} strictly between the pen's down and up "
                             f"positions ({low:g} and {high:g}), got {value}")

    @property
    def hovers(self) -> bool:
        """Whether short pen-up legs only hover."""
        return self.hover_max_leg_mm > 0

    def _raised(self, up: float, hover: float | None) -> float:
        """The raised position nearest the card: the hover one when hovering is on."""
        return hover if self.hovers and hover is not None else up

    def z_down(self, z_mm: float) -> bool:
        """Whether a Z pen at ``z_mm`` (mm) touches the card: past the middle between its
        down height and its nearest raised height (hover, or up)."""
        middle = 0.5 * (self.down_z_mm + self._raised(self.up_z_mm, self.hover_z_mm))
        return z_mm <= middle if self.down_z_mm <= self.up_z_mm else z_mm >= middle

    def servo_down(self, value: float) -> bool:
        """Whether servo value ``value`` (GRBL's S, Marlin's angle) puts the pen on the
        card. GRBL servo: any S on the down side of ``up_value`` (M3 S1000 down, S0 and M5
        up), of the middle to the hover value when hovering is on. Marlin: nearer
        ``down_value`` than the nearest raised value."""
        raised = self._raised(self.up_value, self.hover_value)
        if self.kind != "servo":
            return abs(value - self.down_value) < abs(value - raised)
        threshold = 0.5 * (self.down_value + raised) if self.hovers else raised
        return value > threshold if self.down_value > threshold else value < threshold


@dataclass(frozen=True)
class MachineProfile:
    """One plotter: bed, card placement, feeds, acceleration and pen."""

    name: str
    description: str
    firmware: Literal["grbl", "marlin"]
    bed_width_mm: float  # usable X travel, mm
    bed_height_mm: float  # usable Y travel, mm
    card_offset_x_mm: float  # machine X of the card's placed corner, mm
    card_offset_y_mm: float  # machine Y of the card's placed corner, mm
    card_rotation_deg: int  # 0, 90, 180 or 270, counter-clockwise on the bed
    y_up: bool  # True when machine Y grows away from the operator (card y is mirrored)
    draw_feed_mm_min: float  # pen-down feed, mm/min
    travel_feed_mm_min: float  # pen-up feed (G0 is capped by max rates), mm/min
    max_rate_x_mm_min: float  # GRBL $110, mm/min
    max_rate_y_mm_min: float  # GRBL $111, mm/min
    max_rate_z_mm_min: float  # GRBL $112, mm/min
    accel_x_mm_s2: float  # GRBL $120, mm/s^2
    accel_y_mm_s2: float  # GRBL $121, mm/s^2
    accel_z_mm_s2: float  # GRBL $122, mm/s^2
    junction_deviation_mm: float  # GRBL $11, mm
    park_x_mm: float  # machine X to park at after a card, mm
    park_y_mm: float  # machine Y to park at after a card, mm
    pen: PenSettings
    laser_mode: bool = False  # GRBL $32=1: spindle changes do not empty the planner
    planner_blocks: int = 15  # usable look-ahead blocks (GRBL: 16 - 1)
    rx_buffer_bytes: int = 128  # controller serial receive buffer, bytes
    baud: int = 115200  # serial speed, bit/s
    arc_tolerance_mm: float = 0.002  # GRBL $12: an arc's chords stay this close to it, mm
    corner_rounding_mm: float = 0.0  # round pen-down corners with arcs this close, mm (0: off)
    planner_blocks_per_s: float = 0.0  # blocks the controller can parse and plan a second (0: no limit)

    def __post_init__(self) -> None:
        if self.card_rotation_deg not in (0, 90, 180, 270):
            raise ValueError(
                f"profile {self.name}: card_rotation_deg must be 0, 90, 180 or 270, "
                f"got {self.card_rotation_deg}"
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith(("_mm_min", "_mm_s2")) and not value > 0:
                raise ValueError(f"profile {self.name}: {f.name} must be positive, got {value}")
        if not self.arc_tolerance_mm > 0:
            raise ValueError(f"profile {self.name}: arc_tolerance_mm must be positive, "
                             f"got {self.arc_tolerance_mm}")
        if not 0 <= self.corner_rounding_mm <= MAX_CORNER_ROUNDING_MM:
            raise ValueError(
                f"profile {self.name}: corner_rounding_mm must be between 0 (off) and "
                f"{MAX_CORNER_ROUNDING_MM:g} mm (the G-code must draw the drawing within "
                f"0.01 mm), got {self.corner_rounding_mm:g}")
        if not self.planner_blocks_per_s >= 0:
            raise ValueError(f"profile {self.name}: planner_blocks_per_s must be >= 0 (0: no "
                             f"limit), got {self.planner_blocks_per_s:g}")


class UnknownProfileError(KeyError):
    """A profile name that no TOML file defines; names the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def profile_names() -> list[str]:
    """Names of the profiles shipped in ``plotter/profiles``, sorted."""
    folder = resources.files("plotter") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str | Path) -> MachineProfile:
    """A shipped profile by name (``grbl-servo``) or any profile TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text = path.read_text(encoding="utf-8")
        name = path.stem
    else:
        name = str(name_or_path)
        resource = resources.files("plotter") / "profiles" / f"{name}.toml"
        if not resource.is_file():
            raise UnknownProfileError(
                f"unknown machine profile {name!r}; known profiles: {', '.join(profile_names())}"
            )
        text = resource.read_text(encoding="utf-8")
    return parse_profile(text, name)


def parse_profile(text: str, name: str) -> MachineProfile:
    """A profile from TOML text; errors name the missing or unknown field."""
    data = tomllib.loads(text)
    pen_data = data.pop("pen", None)
    if not isinstance(pen_data, dict):
        raise ValueError(f"profile {name}: a [pen] table is required")
    data.setdefault("name", name)
    known = {f.name for f in fields(MachineProfile)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"profile {name}: unknown field(s) {', '.join(unknown)}")
    pen_known = {f.name for f in fields(PenSettings)}
    pen_unknown = sorted(set(pen_data) - pen_known)
    if pen_unknown:
        raise ValueError(f"profile {name}: unknown pen field(s) {', '.join(pen_unknown)}")
    try:
        pen = PenSettings(**pen_data)
    except (TypeError, ValueError) as error:
        # the pen's own checks do not know which profile they are in
        raise ValueError(f"profile {name}: {error}") from error
    try:
        return MachineProfile(pen=pen, **data)
    except TypeError as error:
        raise ValueError(f"profile {name}: {error}") from error
