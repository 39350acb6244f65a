"""Card formats as data: loaded from ``cards/formats.toml`` into frozen dataclasses (mm)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class CardFormat:
    """A card stock: its size and writable area in mm (origin top-left, y down), and the
    range of handwriting sizes (x-height in mm) that suit it."""

    name: str
    description: str
    width_mm: float
    height_mm: float
    area_x_mm: float
    area_y_mm: float
    area_width_mm: float
    area_height_mm: float
    min_x_height_mm: float
    max_x_height_mm: float

    def __post_init__(self) -> None:
        if not (0 <= self.area_x_mm and self.area_x_mm + self.area_width_mm <= self.width_mm):
            raise ValueError(f"card format {self.name}: writable area leaves the card in x")
        if not (0 <= self.area_y_mm and self.area_y_mm + self.area_height_mm <= self.height_mm):
            raise ValueError(f"card format {self.name}: writable area leaves the card in y")
        if not 0 < self.min_x_height_mm <= self.max_x_height_mm:
            raise ValueError(f"card format {self.name}: bad handwriting size range")


class UnknownCardFormatError(KeyError):
    """A card format name that is not defined; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


@lru_cache(maxsize=1)
def card_formats() -> dict[str, CardFormat]:
    """Every card format shipped in ``cards/formats.toml``, by name."""
    text = (resources.files("cards") / "formats.toml").read_text(encoding="utf-8")
    known = {f.name for f in fields(CardFormat)}
    formats = {}
    for name, entry in tomllib.loads(text).items():
        unknown = set(entry) - known
        if unknown:
            raise ValueError(f"card format {name}: unknown field(s) {', '.join(sorted(unknown))}")
        formats[name] = CardFormat(name=name, **entry)
    return formats


def card_format(name: str) -> CardFormat:
    """The card format called ``name``; :class:`UnknownCardFormatError` lists the known ones."""
    formats = card_formats()
    if name not in formats:
        raise UnknownCardFormatError(
            f"unknown card format {name!r}; known formats: {', '.join(sorted(formats))}"
        )
    return formats[name]
