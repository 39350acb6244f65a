"""Envelopes: the recipient's and the sender's address, handwritten where the post reads.

Envelope formats are data (``cards/envelopes.toml``, mm): the envelope's size, the area
where the post's reading machines look for the address, a small sender area at the top
left, and the handwriting sizes that suit each. The writing itself is the card engine's
(:func:`cards.layout.layout_card`: the job's font, per-glyph variation seeded by the job's
seed), with two differences an address needs: its lines are never wrapped or hyphenated,
and the block is set at the largest size at which all of its ink lies inside its area.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources

import numpy as np

from cards.formats import CardFormat
from cards.layout import RIGHT_RESERVE, SIZE_STEP_MM, CardText, TextTooLongError, layout_card
from fonts.charset import normalize_text
from fonts.model import Font
from fonts.variation import Variation
from plotter.drawing import Drawing


@dataclass(frozen=True)
class WritingArea:
    """Where one address goes: top-left corner and size in mm (envelope coordinates, y
    down), and the range of handwriting sizes (x-height, mm)."""

    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float
    min_x_height_mm: float
    max_x_height_mm: float

    def contains(self, bounds: tuple[float, float, float, float], tol_mm: float = 1e-6) -> bool:
        """Whether ``(min_x, min_y, max_x, max_y)`` (mm) lies inside the area."""
        x0, y0, x1, y1 = bounds
        return (x0 >= self.x_mm - tol_mm and y0 >= self.y_mm - tol_mm
                and x1 <= self.x_mm + self.width_mm + tol_mm
                and y1 <= self.y_mm + self.height_mm + tol_mm)


@dataclass(frozen=True)
class EnvelopeFormat:
    """An envelope: its size in mm and where the recipient and the sender are written."""

    name: str
    description: str
    width_mm: float
    height_mm: float
    recipient: WritingArea
    sender: WritingArea

    def __post_init__(self) -> None:
        for role, area in (("recipient", self.recipient), ("sender", self.sender)):
            if not (0 <= area.x_mm and area.x_mm + area.width_mm <= self.width_mm + 1e-9
                    and 0 <= area.y_mm and area.y_mm + area.height_mm <= self.height_mm + 1e-9):
                raise ValueError(f"envelope format {self.name}: the {role} area leaves the "
                                 "envelope")
            if not 0 < area.min_x_height_mm <= area.max_x_height_mm:
                raise ValueError(f"envelope format {self.name}: bad {role} handwriting sizes")


class UnknownEnvelopeFormatError(KeyError):
    """An envelope format name that is not defined; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class AddressTooLongError(ValueError):
    """An address that does not fit its area even at the smallest handwriting size; says
    which line is too long and by how much (mm), or how many lines too many."""

    def __init__(self, message: str, *, role: str, envelope: str, line: str | None = None,
                 excess_mm: float = 0.0) -> None:
        super().__init__(message)
        self.role = role
        self.envelope = envelope
        self.line = line
        self.excess_mm = excess_mm


@dataclass(frozen=True, eq=False)
class EnvelopeLayout:
    """A written envelope: the whole drawing (envelope mm, y down) and its two parts."""

    drawing: Drawing
    recipient: Drawing
    sender: Drawing | None
    recipient_x_height_mm: float
    sender_x_height_mm: float | None
    envelope: str
    font: str
    seed: int


@lru_cache(maxsize=1)
def envelope_formats() -> dict[str, EnvelopeFormat]:
    """Every envelope format shipped in ``cards/envelopes.toml``, by name."""
    text = (resources.files("cards") / "envelopes.toml").read_text(encoding="utf-8")
    known = {f.name for f in fields(EnvelopeFormat)}
    known_area = {f.name for f in fields(WritingArea)}
    formats = {}
    for name, entry in tomllib.loads(text).items():
        unknown = set(entry) - known
        for role in ("recipient", "sender"):
            unknown |= {f"{role}.{k}" for k in set(entry.get(role, {})) - known_area}
        if unknown:
            raise ValueError(f"envelope format {name}: unknown field(s) "
                             f"{', '.join(sorted(unknown))}")
        areas = {role: WritingArea(**entry.pop(role)) for role in ("recipient", "sender")}
        formats[name] = EnvelopeFormat(name=name, **entry, **areas)
    return formats


def envelope_format(name: str) -> EnvelopeFormat:
    """The envelope format called ``name``; :class:`UnknownEnvelopeFormatError` lists the
    known ones."""
    formats = envelope_formats()
    if name not in formats:
        raise UnknownEnvelopeFormatError(
            f"unknown envelope format {name!r}; known formats: {', '.join(sorted(formats))}")
    return formats[name]


def layout_envelope(recipient_lines: Sequence[str], sender_lines: Sequence[str], font: Font,
                    envelope: EnvelopeFormat, *, seed: int, variation: Variation | None = None,
                    font_name: str | None = None) -> EnvelopeLayout:
    """Write the recipient's address (and the sender's, small, at the top left, when
    ``sender_lines`` has any) on ``envelope`` in ``font``, varied by ``seed``.

    Each block is set at the largest handwriting size of its area at which every line
    stays whole and all ink lies inside the area; the recipient block sits at the left of
    its area, centred in height, the sender's in the top left corner. Deterministic.

    Raises :class:`AddressTooLongError` naming the line that is too long and by how many
    mm, ``fonts.charset.UnsupportedCharactersError`` for characters the font lacks, and
    ValueError for an empty recipient address.
    """
    recipient = _clean(recipient_lines)
    sender = _clean(sender_lines)
    if not recipient:
        raise ValueError("there is no recipient address to write")
    variation = variation or Variation()
    written, xh = _write_block(recipient, "recipient", envelope.recipient, font, envelope,
                               seed, variation, centre=True)
    strokes = list(written.strokes)
    sender_drawing, sender_xh = None, None
    if sender:
        # a seed of its own, drawn from the job's: the sender's hand varies independently
        sender_seed = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
        sender_drawing, sender_xh = _write_block(sender, "sender", envelope.sender, font,
                                                 envelope, sender_seed, variation,
                                                 centre=False)
        strokes = list(sender_drawing.strokes) + strokes
    return EnvelopeLayout(
        drawing=Drawing(tuple(strokes), envelope.width_mm, envelope.height_mm),
        recipient=written, sender=sender_drawing, recipient_x_height_mm=xh,
        sender_x_height_mm=sender_xh, envelope=envelope.name,
        font=font_name or font.name, seed=seed)


# ------------------------------------------------------------------ internals


def _clean(lines: Sequence[str]) -> list[str]:
    if isinstance(lines, str):
        lines = lines.split("\n")
    return [" ".join(line.split()) for line in lines if line and line.strip()]


def _area_card(envelope: EnvelopeFormat, area: WritingArea, role: str,
               x_height_mm: float) -> CardFormat:
    """The area as a card format the card layout can write on, at one size."""
    return CardFormat(
        name=f"{envelope.name} {role}", description=f"{envelope.description}, {role} area",
        width_mm=envelope.width_mm, height_mm=envelope.height_mm,
        area_x_mm=area.x_mm, area_y_mm=area.y_mm, area_width_mm=area.width_mm,
        area_height_mm=area.height_mm, min_x_height_mm=x_height_mm,
        max_x_height_mm=x_height_mm)


def _write_block(lines: list[str], role: str, area: WritingArea, font: Font,
                 envelope: EnvelopeFormat, seed: int, variation: Variation, *,
                 centre: bool) -> tuple[Drawing, float]:
    """``lines`` written in ``area`` at the largest size that fits, placed; and that
    x-height (mm)."""
    text = CardText(body="\n".join(lines))

    def attempt(xh: float) -> Drawing | None:
        card = _area_card(envelope, area, role, xh)
        try:
            layout = layout_card(text, font, card, seed=seed, variation=variation,
                                 x_height_mm=xh)
        except TextTooLongError:
            return None
        bounds = layout.drawing.bounds()
        if len(layout.lines) != len(lines) or bounds is None:
            return None  # a line was wrapped or hyphenated: too big
        x0, y0, x1, y1 = bounds
        if x1 - x0 > area.width_mm or y1 - y0 > area.height_mm:
            return None
        return layout.drawing

    steps = int(round((area.max_x_height_mm - area.min_x_height_mm) / SIZE_STEP_MM))
    sizes = [round(area.min_x_height_mm + i * SIZE_STEP_MM, 3) for i in range(steps + 1)]
    best = attempt(sizes[0])
    if best is None:
        raise _too_long(lines, role, area, font, envelope)
    best_size = sizes[0]
    lo, hi = 1, len(sizes) - 1
    while lo <= hi:  # binary search for the largest size that fits
        mid = (lo + hi) // 2
        drawing = attempt(sizes[mid])
        if drawing is not None:
            best, best_size, lo = drawing, sizes[mid], mid + 1
        else:
            hi = mid - 1
    return _place(best, area, centre=centre), best_size


def _place(drawing: Drawing, area: WritingArea, *, centre: bool) -> Drawing:
    """The block moved so its ink starts at the area's left edge and sits at its top (or
    centred in its height)."""
    x0, y0, _, y1 = drawing.bounds()  # type: ignore[misc]
    dy = area.y_mm - y0
    if centre:
        dy += (area.height_mm - (y1 - y0)) / 2
    return drawing.translated(area.x_mm - x0, dy)


def _too_long(lines: list[str], role: str, area: WritingArea, font: Font,
              envelope: EnvelopeFormat) -> AddressTooLongError:
    """Why ``lines`` do not fit at the area's smallest size: the longest line and its
    excess in mm, else the number of lines."""
    xh = area.min_x_height_mm
    em_mm = xh / font.metrics.x_height
    available = area.width_mm * (1.0 - RIGHT_RESERVE)

    def width_mm(line: str) -> float:
        return sum(font.glyph(c).advance for c in normalize_text(line) if font.has(c)) * em_mm

    where = (f"the {role} area of envelope {envelope.name!r} ({area.width_mm:g} x "
             f"{area.height_mm:g} mm) even at the smallest handwriting size ({xh:g} mm x-height)")
    longest = max(lines, key=width_mm)
    excess = width_mm(longest) - available
    if excess > 0:
        return AddressTooLongError(
            f"the {role} address line {longest!r} is {excess:.1f} mm too long for {where}",
            role=role, envelope=envelope.name, line=longest, excess_mm=excess)
    try:
        layout_card(CardText(body="\n".join(lines)), font,
                    _area_card(envelope, area, role, xh), seed=0, x_height_mm=xh)
    except TextTooLongError as error:
        return AddressTooLongError(
            f"the {role} address has {len(lines)} lines where {error.lines_fitting} fit "
            f"{where}", role=role, envelope=envelope.name)
    return AddressTooLongError(
        f"the {role} address, with its handwriting's swashes, does not fit {where}",
        role=role, envelope=envelope.name)
