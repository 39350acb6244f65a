"""Address label sheets: the batch's addresses as a PDF for sheets of sticky labels.

Sheet formats are data (``cards/labels.toml``, mm). Labels fill the cells in reading order
(left to right, then down), from any cell of a half-used sheet on, and go on over as many
pages as they need, in the order of the cards, so the operator sticks label n on card n.
Each label carries a small order mark (say ``17/120 · a1b2c3d4``) for the same reason.

Text is set in DejaVu Sans, embedded as a subset (:mod:`cards.printfont`): names such as
Aylin Şahin or Łukasz Nowak print as written, where the PDF standard fonts end at
Latin-1. The text of a label shrinks until it fits; an address that does not fit even at
the smallest size is an error naming it, never a clipped label, and so is a character the
font lacks. reportlab's invariant mode makes the same labels the same bytes.
"""

from __future__ import annotations

import io
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources

from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as pdf_canvas

from cards import printfont

PT_PER_MM = 72 / 25.4  # PDF points (1/72 inch) per mm
FONT = printfont.REGULAR
MARK_FONT_PT = 5.5  # size of the order mark, pt
LEADING = 1.2  # line pitch over font size
ASCENT = 0.93  # top of accented capitals (Ä 0.913, Å 0.928) over font size, DejaVu Sans
DESCENT = 0.25  # bottom of descenders and commas below (g 0.208, Ş 0.193, Ș 0.240, Ģ 0.250)
SIZE_STEP_PT = 0.25  # shrink-to-fit resolution, pt


@dataclass(frozen=True)
class LabelSheet:
    """A sheet of labels; lengths in mm from the page's top-left, y down. The label in
    column ``c``, row ``r`` (from 0) starts at ``(margin_left_mm + c * pitch_x_mm,
    margin_top_mm + r * pitch_y_mm)``; text keeps ``padding_*_mm`` off its edges."""

    name: str
    description: str
    page_width_mm: float
    page_height_mm: float
    columns: int
    rows: int
    label_width_mm: float
    label_height_mm: float
    pitch_x_mm: float
    pitch_y_mm: float
    margin_left_mm: float
    margin_top_mm: float
    corner_radius_mm: float = 0.0
    padding_x_mm: float = 4.0
    padding_y_mm: float = 2.0

    def __post_init__(self) -> None:
        if self.columns < 1 or self.rows < 1:
            raise ValueError(f"label sheet {self.name}: needs at least one column and row")
        if self.pitch_x_mm < self.label_width_mm or self.pitch_y_mm < self.label_height_mm:
            raise ValueError(f"label sheet {self.name}: labels overlap (pitch < label size)")
        right = self.margin_left_mm + (self.columns - 1) * self.pitch_x_mm + self.label_width_mm
        bottom = self.margin_top_mm + (self.rows - 1) * self.pitch_y_mm + self.label_height_mm
        eps = 1e-6
        if self.margin_left_mm < 0 or right > self.page_width_mm + eps:
            raise ValueError(f"label sheet {self.name}: labels leave the page in x")
        if self.margin_top_mm < 0 or bottom > self.page_height_mm + eps:
            raise ValueError(f"label sheet {self.name}: labels leave the page in y")
        if (2 * self.padding_x_mm >= self.label_width_mm
                or 2 * self.padding_y_mm >= self.label_height_mm):
            raise ValueError(f"label sheet {self.name}: the padding leaves no room for text")

    @property
    def cells(self) -> int:
        """Labels per sheet."""
        return self.columns * self.rows

    def cell(self, index: int) -> tuple[float, float, float, float]:
        """``(x, y, width, height)`` in mm of label ``index`` (0-based, reading order)."""
        row, column = divmod(index % self.cells, self.columns)
        return (self.margin_left_mm + column * self.pitch_x_mm,
                self.margin_top_mm + row * self.pitch_y_mm,
                self.label_width_mm, self.label_height_mm)


@dataclass(frozen=True)
class Label:
    """One label: its address lines, top to bottom, and the small order mark."""

    lines: tuple[str, ...]
    order_mark: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))


class LabelError(ValueError):
    """Labels that cannot be printed as asked; the message names the label or setting."""


class UnknownLabelSheetError(KeyError):
    """A label sheet name that is not defined; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


@lru_cache(maxsize=1)
def label_sheets() -> dict[str, LabelSheet]:
    """Every label sheet shipped in ``cards/labels.toml``, by name."""
    text = (resources.files("cards") / "labels.toml").read_text(encoding="utf-8")
    known = {f.name for f in fields(LabelSheet)}
    sheets = {}
    for name, entry in tomllib.loads(text).items():
        unknown = set(entry) - known
        if unknown:
            raise ValueError(f"label sheet {name}: unknown field(s) {', '.join(sorted(unknown))}")
        sheets[name] = LabelSheet(name=name, **entry)
    return sheets


def label_sheet(name: str) -> LabelSheet:
    """The label sheet called ``name``; :class:`UnknownLabelSheetError` lists the known ones."""
    sheets = label_sheets()
    if name not in sheets:
        raise UnknownLabelSheetError(
            f"unknown label sheet {name!r}; known sheets: {', '.join(sorted(sheets))}")
    return sheets[name]


# ------------------------------------------------------------------ fitting


@dataclass(frozen=True)
class _Placed:
    """A label's text fitted to its cell: font size (pt) and first baseline (mm from the
    cell's top)."""

    size_pt: float
    lines: tuple[str, ...]
    first_baseline_mm: float = field(default=0.0)


def _width_mm(text: str, size_pt: float) -> float:
    return stringWidth(text, FONT, size_pt) / PT_PER_MM


def _block_height_mm(lines: int, size_pt: float) -> float:
    return ((lines - 1) * LEADING + ASCENT + DESCENT) * size_pt / PT_PER_MM


def _text_box(sheet: LabelSheet, marked: bool) -> tuple[float, float]:
    """Width and height (mm) left for the address in a cell; the order mark keeps a strip
    at the bottom."""
    width = sheet.label_width_mm - 2 * sheet.padding_x_mm
    height = sheet.label_height_mm - 2 * sheet.padding_y_mm
    if marked:
        height -= (ASCENT + DESCENT) * MARK_FONT_PT / PT_PER_MM
    return width, height


def _check_characters(text: str, what: str) -> None:
    bad = printfont.missing(text, (FONT,))
    if bad:
        raise LabelError(f"{what} has characters the label font cannot print: "
                         f"{printfont.describe(bad)}")


def _fit(label: Label, sheet: LabelSheet, size_pt: float, min_size_pt: float,
         number: int) -> _Placed:
    lines = tuple(" ".join(line.split()) for line in label.lines)
    lines = tuple(line for line in lines if line)
    if not lines:
        raise LabelError(f"label {number} has no address lines")
    who = f"the address of label {number} ({lines[0]!r})"
    _check_characters("".join(lines), who)
    _check_characters(label.order_mark, f"the order mark of label {number}")
    width, height = _text_box(sheet, bool(label.order_mark))
    if label.order_mark and _width_mm(label.order_mark, MARK_FONT_PT) > width:
        raise LabelError(f"the order mark {label.order_mark!r} of label {number} is wider "
                         f"than a label of sheet {sheet.name}")
    size = size_pt
    while size >= min_size_pt - 1e-9:
        widest = max(_width_mm(line, size) for line in lines)
        if widest <= width and _block_height_mm(len(lines), size) <= height:
            top = sheet.padding_y_mm + (height - _block_height_mm(len(lines), size)) / 2
            return _Placed(size, lines, top + ASCENT * size / PT_PER_MM)
        size = round(size - SIZE_STEP_PT, 4)
    widest_line = max(lines, key=lambda line: _width_mm(line, min_size_pt))
    excess = _width_mm(widest_line, min_size_pt) - width
    if excess > 0:
        reason = f"its line {widest_line!r} is {excess:.1f} mm too long"
    else:
        reason = (f"its {len(lines)} lines need "
                  f"{_block_height_mm(len(lines), min_size_pt):.1f} mm where {height:.1f} mm fit")
    raise LabelError(f"{who} does not fit a label of sheet {sheet.name!r} even at "
                     f"{min_size_pt:g} pt: {reason}")


# ------------------------------------------------------------------ the PDF


def labels_pdf(labels: Sequence[Label], sheet: LabelSheet, *, start: int = 1,
               font_size_pt: float = 10, min_font_size_pt: float = 6,
               outlines: bool = False) -> bytes:
    """PDF bytes of ``labels`` on ``sheet``, filling cells in reading order from cell
    ``start`` (1-based, to use up a half-used sheet) over as many pages as needed.

    Text is ``font_size_pt`` where it fits, shrunk down to ``min_font_size_pt`` where it
    must; ``outlines`` draws the die-cut outlines, for a test print on plain paper.
    Raises :class:`LabelError` for a bad start cell or a label that cannot fit.
    Deterministic: the same arguments give the same bytes.
    """
    if isinstance(start, bool) or not isinstance(start, int) or not 1 <= start <= sheet.cells:
        raise LabelError(f"start must be a cell number from 1 to {sheet.cells} "
                         f"(sheet {sheet.name!r} has {sheet.cells} labels), got {start!r}")
    if not 0 < min_font_size_pt <= font_size_pt:
        raise LabelError(f"font sizes must satisfy 0 < min ({min_font_size_pt}) <= "
                         f"size ({font_size_pt})")
    if not labels:
        raise LabelError("there are no labels to print")
    placed = [_fit(label, sheet, font_size_pt, min_font_size_pt, n)
              for n, label in enumerate(labels, 1)]

    buffer = io.BytesIO()
    page_size = (sheet.page_width_mm * PT_PER_MM, sheet.page_height_mm * PT_PER_MM)
    pdf = pdf_canvas.Canvas(buffer, pagesize=page_size, invariant=1, pageCompression=1)
    pdf.setTitle(f"penpost labels ({sheet.name})")
    pdf.setCreator("penpost")
    first = start - 1
    for k, (label, fitted) in enumerate(zip(labels, placed, strict=True)):
        index = first + k
        if k and index % sheet.cells == 0:
            pdf.showPage()
        if outlines and (k == 0 or index % sheet.cells == 0):
            _draw_outlines(pdf, sheet)
        _draw_label(pdf, sheet, index, label, fitted)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def return_labels_pdf(sender_lines: Sequence[str], sheet: LabelSheet, count: int, *,
                      start: int = 1, font_size_pt: float = 10,
                      min_font_size_pt: float = 6) -> bytes:
    """PDF bytes of ``count`` return-address labels (the sender's lines, no order mark)
    on ``sheet`` from cell ``start`` on; see :func:`labels_pdf`."""
    if count < 1:
        raise LabelError(f"count must be at least 1, got {count}")
    label = Label(tuple(sender_lines))
    return labels_pdf([label] * count, sheet, start=start, font_size_pt=font_size_pt,
                      min_font_size_pt=min_font_size_pt)


def _y_pt(sheet: LabelSheet, y_mm: float) -> float:
    """Page mm (y down) to PDF points (y up)."""
    return (sheet.page_height_mm - y_mm) * PT_PER_MM


def _draw_label(pdf: pdf_canvas.Canvas, sheet: LabelSheet, index: int, label: Label,
                fitted: _Placed) -> None:
    x, y, w, h = sheet.cell(index)
    left = (x + sheet.padding_x_mm) * PT_PER_MM
    pdf.setFont(FONT, fitted.size_pt)
    baseline = y + fitted.first_baseline_mm
    for line in fitted.lines:
        pdf.drawString(left, _y_pt(sheet, baseline), line)
        baseline += LEADING * fitted.size_pt / PT_PER_MM
    if label.order_mark:
        pdf.setFont(FONT, MARK_FONT_PT)
        mark_baseline = y + h - sheet.padding_y_mm - DESCENT * MARK_FONT_PT / PT_PER_MM
        pdf.drawRightString((x + w - sheet.padding_x_mm) * PT_PER_MM,
                            _y_pt(sheet, mark_baseline), label.order_mark)


def _draw_outlines(pdf: pdf_canvas.Canvas, sheet: LabelSheet) -> None:
    pdf.saveState()
    pdf.setStrokeGray(0.75)
    pdf.setLineWidth(0.3)
    for index in range(sheet.cells):
        x, y, w, h = sheet.cell(index)
        pdf.roundRect(x * PT_PER_MM, _y_pt(sheet, y + h), w * PT_PER_MM, h * PT_PER_MM,
                      sheet.corner_radius_mm * PT_PER_MM)
    pdf.restoreState()
