"""Coupon inserts: the printed slip that goes into the envelope with an apology card.

Insert sizes are data (``cards/inserts.toml``, mm). :func:`coupons_pdf` lays inserts out
on A4 sheets in card order, row by row, with crop marks at every cut line in the sheet
margin. Each insert shows the shop's name, the value (large), the code (large, Courier
so 8/B and 5/S stay apart), the expiry date in the locale's language, a QR code of the
redeem link and a small order mark. Coordinates are mm, origin at the top-left, y down;
PDF points exist only where the canvas is drawn. Same inserts give the same bytes
(reportlab's invariant mode).

Values and dates are formatted by babel for the insert's locale, exactly as babel writes
them: German puts a no-break space (U+00A0) between number and "%" or "€". Text is set in
DejaVu Sans and DejaVu Sans Bold, embedded (:mod:`cards.printfont`), so a sender called
Łukasz Nowak prints as written; the code in Courier Bold, a standard font (codes are
ASCII). A character the fonts lack is refused with the characters named.
"""

from __future__ import annotations

import io
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import segno
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import (
    UnknownCurrencyError,
    format_currency,
    format_percent,
    get_currency_precision,
    validate_currency,
)
from reportlab.lib.units import mm as PT_PER_MM
from reportlab.pdfbase.pdfmetrics import getAscentDescent, stringWidth
from reportlab.pdfgen.canvas import Canvas

from cards import printfont
from cards.codes import CouponCodeError, validate_shop_code

A4_MM = (210.0, 297.0)  # portrait width, height
CROP_OFFSET_MM = 2.0  # gap between a cut line's end and its mark: a cut a little off never shows it
CROP_LENGTH_MM = 4.0
CROP_LINE_PT = 0.3
MIN_MARGIN_MM = 10.0  # ~4 mm unprintable border of office printers + offset + mark
QR_MIN_MODULE_MM = 0.5  # smaller modules defeat phone cameras on matte stock
QR_QUIET_MODULES = 4  # the white border the QR standard requires around the symbol
KINDS = ("amount", "percent")

# "valid until {date}" by language; others fall back to English
VALID_UNTIL = {
    "de": "gültig bis {date}",
    "en": "valid until {date}",
    "fr": "valable jusqu’au {date}",
    "it": "valido fino al {date}",
    "nl": "geldig tot {date}",
    "es": "válido hasta el {date}",
}


class CouponError(ValueError):
    """A coupon insert that cannot be made; the message names the problem."""


class UnknownInsertSizeError(CouponError):
    """An insert size name that is not defined; the message lists the known ones."""


@dataclass(frozen=True)
class InsertSize:
    """An insert's size in mm and how it is laid out on an A4 sheet: ``columns`` x
    ``rows`` inserts ``gutter_mm`` apart, the grid centred on the sheet (turned to
    297 x 210 mm when ``landscape``)."""

    name: str
    description: str
    width_mm: float
    height_mm: float
    columns: int
    rows: int
    gutter_mm: float
    landscape: bool = False

    def __post_init__(self) -> None:
        if self.width_mm <= 0 or self.height_mm <= 0 or self.gutter_mm < 0:
            raise ValueError(f"insert size {self.name}: sizes must be positive")
        if self.columns < 1 or self.rows < 1:
            raise ValueError(f"insert size {self.name}: needs at least one column and row")
        for axis, margin in (("left/right", self.margin_x_mm), ("top/bottom", self.margin_y_mm)):
            if margin < MIN_MARGIN_MM:
                raise ValueError(
                    f"insert size {self.name}: the {axis} sheet margin is {margin:.1f} mm, "
                    f"crop marks need {MIN_MARGIN_MM:.0f} mm"
                )

    @property
    def sheet_width_mm(self) -> float:
        return A4_MM[1] if self.landscape else A4_MM[0]

    @property
    def sheet_height_mm(self) -> float:
        return A4_MM[0] if self.landscape else A4_MM[1]

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows

    @property
    def margin_x_mm(self) -> float:
        """Sheet margin left and right of the grid, mm."""
        grid = self.columns * self.width_mm + (self.columns - 1) * self.gutter_mm
        return (self.sheet_width_mm - grid) / 2

    @property
    def margin_y_mm(self) -> float:
        """Sheet margin above and below the grid, mm."""
        grid = self.rows * self.height_mm + (self.rows - 1) * self.gutter_mm
        return (self.sheet_height_mm - grid) / 2

    def cell(self, slot: int) -> tuple[float, float]:
        """Top-left corner (mm) of the ``slot``-th insert on a sheet, row by row."""
        row, column = divmod(slot % self.per_sheet, self.columns)
        return (self.margin_x_mm + column * (self.width_mm + self.gutter_mm),
                self.margin_y_mm + row * (self.height_mm + self.gutter_mm))


@lru_cache(maxsize=1)
def insert_sizes() -> dict[str, InsertSize]:
    """Every insert size shipped in ``cards/inserts.toml``, by name."""
    text = (resources.files("cards") / "inserts.toml").read_text(encoding="utf-8")
    known = {f.name for f in fields(InsertSize)}
    sizes = {}
    for name, entry in tomllib.loads(text).items():
        unknown = set(entry) - known
        if unknown:
            raise ValueError(f"insert size {name}: unknown field(s) {', '.join(sorted(unknown))}")
        sizes[name] = InsertSize(name=name, **entry)
    return sizes


def insert_size(name: str) -> InsertSize:
    """The insert size called ``name``; :class:`UnknownInsertSizeError` lists the known ones."""
    sizes = insert_sizes()
    if name not in sizes:
        raise UnknownInsertSizeError(
            f"unknown insert size {name!r}; known sizes: {', '.join(sorted(sizes))}"
        )
    return sizes[name]


def crop_marks(size: InsertSize) -> list[tuple[float, float, float, float]]:
    """Crop marks of a sheet as segments ``(x0, y0, x1, y1)`` in mm: at both ends of
    every cut line, in the sheet margin, clear of the grid by :data:`CROP_OFFSET_MM`."""
    cells = [size.cell(slot) for slot in range(size.per_sheet)]
    xs = sorted({round(x + d, 6) for x, _ in cells for d in (0.0, size.width_mm)})
    ys = sorted({round(y + d, 6) for _, y in cells for d in (0.0, size.height_mm)})
    top, bottom = ys[0] - CROP_OFFSET_MM, ys[-1] + CROP_OFFSET_MM
    left, right = xs[0] - CROP_OFFSET_MM, xs[-1] + CROP_OFFSET_MM
    marks = []
    for x in xs:
        marks.append((x, top - CROP_LENGTH_MM, x, top))
        marks.append((x, bottom, x, bottom + CROP_LENGTH_MM))
    for y in ys:
        marks.append((left - CROP_LENGTH_MM, y, left, y))
        marks.append((right, y, right + CROP_LENGTH_MM, y))
    return marks


def _locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as error:
        raise CouponError(f"unknown locale {locale!r} (expected e.g. 'de_DE')") from error


def format_value(kind: str, amount: Decimal, currency: str | None, locale: str) -> str:
    """The coupon's value as the locale writes it: an amount of money in ``currency``
    (ISO 4217) or a percentage (``amount`` 15 means 15 %; ``currency`` is ignored).
    Spaces are babel's no-break spaces.

    >>> format_value("amount", Decimal("10"), "USD", "en_US")
    '$10.00'
    """
    loc = _locale(locale)
    if kind == "percent":
        return format_percent(Decimal(amount) / 100, locale=loc, decimal_quantization=False)
    if kind != "amount":
        raise CouponError(f"unknown coupon kind {kind!r}; known kinds: {', '.join(KINDS)}")
    if not currency:
        raise CouponError("an amount coupon needs a currency (ISO 4217 code, e.g. 'EUR')")
    try:
        validate_currency(currency)
    except UnknownCurrencyError as error:
        raise CouponError(f"unknown currency {currency!r} (expected e.g. 'EUR')") from error
    return format_currency(amount, currency, locale=loc)


def format_expiry(day: date, locale: str) -> str:
    """``day`` in the locale's medium date format: "31.12.2026" (de_DE), "Dec 31, 2026"
    (en_US), "31 Dec 2026" (en_GB). Medium, not short: the short format has a two-digit
    year and, in en_US, a month/day order that a European reader takes the wrong way."""
    return format_date(day, "medium", locale=_locale(locale))


def valid_until(day: date, locale: str) -> str:
    """"gültig bis 31.12.2026", "valid until Dec 31, 2026": in the locale's language."""
    template = VALID_UNTIL.get(_locale(locale).language, VALID_UNTIL["en"])
    return template.format(date=format_expiry(day, locale))


def redeem_link(redeem_url: str, code: str) -> str:
    """The shop's redeem URL carrying ``code``: substituted for ``{code}`` where the URL
    has it, else added as the query parameter ``code``; URL-encoded either way.

    >>> redeem_link("https://shop.example/r?src=card", "K7QM-3XW9")
    'https://shop.example/r?src=card&code=K7QM-3XW9'
    """
    if "{code}" in redeem_url:
        return redeem_url.replace("{code}", quote(code, safe=""))
    parts = urlsplit(redeem_url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({"code": code})))


def _pdf_text(text: str, what: str, font: str = printfont.REGULAR) -> str:
    """``text`` as ``font`` can show it, or :class:`CouponError` naming the characters it
    lacks."""
    # babel's narrow no-break space, set as the no-break space: both read back as a space
    text = text.replace("\u202f", "\u00a0")
    if font in printfont.FILES:
        bad = printfont.missing(text, (font,))
    else:  # a standard font (the code's Courier): WinAnsi
        bad = [ch for ch in dict.fromkeys(text) if not _winansi(ch)]
    if bad:
        raise CouponError(f"{what} {text!r} has characters the insert font lacks: "
                          f"{printfont.describe(bad)}")
    return text


def _winansi(ch: str) -> bool:
    try:
        ch.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return ch >= " "


@dataclass(frozen=True)
class CouponInsert:
    """One coupon insert. ``kind`` is "amount" (``amount`` of ``currency``, ISO 4217) or
    "percent" (``amount`` in %); ``locale`` like "de_DE" picks number, date and wording;
    ``order_mark`` (e.g. "17/120 · a1b2c3d4") and ``sender_lines`` are printed small.
    Checked on construction: :class:`CouponError` names what is wrong."""

    shop_name: str
    kind: str
    amount: Decimal
    currency: str | None
    locale: str
    code: str
    expires: date | None = None
    redeem_url: str | None = None
    order_mark: str = ""
    sender_lines: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise fields once, here
        if not self.shop_name.strip():
            raise CouponError("the shop name is empty")
        try:
            amount = Decimal(str(self.amount))
        except InvalidOperation as error:
            raise CouponError(f"coupon amount {self.amount!r} is not a number") from error
        if not amount.is_finite() or amount <= 0:
            raise CouponError(f"coupon amount {self.amount} must be more than 0")
        if self.kind == "percent" and amount > 100:
            raise CouponError(f"a percent coupon of {amount} % is more than 100 %")
        if self.kind == "amount" and self.currency:
            digits = get_currency_precision(self.currency.strip().upper())
            if amount != round(amount, digits):
                raise CouponError(
                    f"coupon amount {amount} has more decimals than {self.currency} ({digits})"
                )
        set_(self, "amount", amount)
        if self.currency:
            set_(self, "currency", self.currency.strip().upper())
        try:
            set_(self, "code", validate_shop_code(self.code or ""))
        except CouponCodeError as error:
            raise CouponError(str(error)) from error
        if self.redeem_url is not None:
            parts = urlsplit(self.redeem_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise CouponError(f"redeem URL {self.redeem_url!r} is not an http(s) URL")
        set_(self, "sender_lines", tuple(self.sender_lines))
        # each in the font of its role (see _STYLES)
        _pdf_text(self.shop_name, "shop name", printfont.BOLD)
        _pdf_text(self.order_mark, "order mark")
        for line in self.sender_lines:
            _pdf_text(line, "sender line")
        _pdf_text(self.value_text, "value", printfont.BOLD)  # checks kind, currency, locale

    @property
    def value_text(self) -> str:
        return format_value(self.kind, self.amount, self.currency, self.locale)

    @property
    def expiry_text(self) -> str | None:
        return None if self.expires is None else valid_until(self.expires, self.locale)

    @property
    def link(self) -> str | None:
        """The redeem URL with the code, what the QR code holds; None without a URL."""
        return None if self.redeem_url is None else redeem_link(self.redeem_url, self.code)


@dataclass(frozen=True)
class TextLine:
    """A line of text on an insert: left end of its baseline in insert mm, size in pt."""

    text: str
    font: str
    size_pt: float
    x_mm: float
    baseline_mm: float


@dataclass(frozen=True)
class QrCode:
    """A QR symbol on an insert: top-left of its quiet zone in insert mm, module size in
    mm, and its modules (rows of 1 = dark) without the quiet zone."""

    x_mm: float
    y_mm: float
    module_mm: float
    matrix: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class InsertLayout:
    """What goes on one insert, in insert mm: its text lines and its QR code, if any."""

    lines: tuple[TextLine, ...]
    qr: QrCode | None


# role: (font, size in pt on a 55 mm high insert, scaled with the height up to 1.6x,
#        smallest size in pt still legible)
_STYLES = {
    "shop": (printfont.BOLD, 11.0, 6.0),
    "value": (printfont.BOLD, 28.0, 10.0),
    "code": ("Courier-Bold", 18.0, 9.0),
    "expiry": (printfont.REGULAR, 8.0, 6.0),
    "small": (printfont.REGULAR, 5.5, 4.5),
}


def layout_insert(insert: CouponInsert, size: InsertSize) -> InsertLayout:
    """Where each text and the QR code go on one insert (insert mm, y down): texts
    left in a column, the QR code right, vertically centred; texts shrink to fit their
    column and :class:`CouponError` says which one is too long for this size."""
    pad = min(max(0.07 * size.height_mm, 4.0), 7.0)  # kept clear of the cut edges, mm
    scale = min(size.height_mm / 55.0, 1.6)
    qr = None
    text_width = size.width_mm - 2 * pad
    link = insert.link
    if link is not None:
        qr_side = min(size.height_mm - 2 * pad, 0.4 * size.width_mm, 45.0)
        symbol = segno.make(link, error="m", micro=False)
        modules = symbol.symbol_size(border=0)[0]
        module_mm = qr_side / (modules + 2 * QR_QUIET_MODULES)
        if module_mm < QR_MIN_MODULE_MM:
            raise CouponError(
                f"redeem link {link!r} is too long for a QR code on a {size.name} insert: "
                f"its modules would be {module_mm:.2f} mm, at least {QR_MIN_MODULE_MM} mm "
                f"are needed"
            )
        matrix = tuple(tuple(int(bool(v)) for v in row) for row in symbol.matrix)
        qr = QrCode(size.width_mm - pad - qr_side, (size.height_mm - qr_side) / 2, module_mm,
                    matrix)
        text_width -= qr_side  # the quiet zone keeps text and symbol apart

    def fitted(role: str, text: str, what: str) -> tuple[str, str, float]:
        font, nominal, smallest = _STYLES[role]
        text = _pdf_text(text, what, font)
        fit = text_width * PT_PER_MM / stringWidth(text, font, 1.0)
        size_pt = min(nominal * scale, fit)
        if size_pt < smallest:
            raise CouponError(
                f"{what} {text!r} is too long for a {size.name} insert: it would need "
                f"{size_pt:.1f} pt type, at least {smallest} pt is legible"
            )
        return text, font, size_pt

    top = [fitted("shop", insert.shop_name, "shop name"),
           fitted("value", insert.value_text, "value"),
           fitted("code", insert.code, "code")]
    if insert.expiry_text:
        top.append(fitted("expiry", insert.expiry_text, "expiry"))
    bottom = [fitted("small", line, "sender line") for line in insert.sender_lines if line]
    if insert.order_mark:
        bottom.append(fitted("small", insert.order_mark, "order mark"))

    def extent(font: str, size_pt: float) -> tuple[float, float]:
        ascent, descent = getAscentDescent(font, size_pt)
        return ascent / PT_PER_MM, -descent / PT_PER_MM

    used = sum(sum(extent(f, s)) for _, f, s in top)
    used += sum(sum(extent(f, s)) * 1.15 for _, f, s in bottom)
    free = size.height_mm - 2 * pad - used
    if free < 0:
        raise CouponError(f"the texts of the insert are {-free:.1f} mm too tall for "
                          f"a {size.name} insert")
    gap = free / len(top)  # between top lines, and between them and the bottom block
    lines = []
    y = pad
    for text, font, size_pt in top:
        ascent, descent = extent(font, size_pt)
        lines.append(TextLine(text, font, size_pt, pad, y + ascent))
        y += ascent + descent + gap
    y = size.height_mm - pad
    for text, font, size_pt in reversed(bottom):
        ascent, descent = extent(font, size_pt)
        lines.append(TextLine(text, font, size_pt, pad, y - descent))
        y -= (ascent + descent) * 1.15
    return InsertLayout(tuple(lines), qr)


def _draw_qr(canvas: Canvas, qr: QrCode, x_mm: float, y_mm: float, page_h_mm: float) -> None:
    """Dark modules as one filled path of runs: no hairline seams between modules."""
    path = canvas.beginPath()
    m = qr.module_mm
    x0 = x_mm + qr.x_mm + QR_QUIET_MODULES * m
    y0 = y_mm + qr.y_mm + QR_QUIET_MODULES * m
    for r, row in enumerate(qr.matrix):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            top = y0 + r * m
            path.rect((x0 + start * m) * PT_PER_MM, (page_h_mm - top - m) * PT_PER_MM,
                      (c - start) * m * PT_PER_MM, m * PT_PER_MM)
    canvas.drawPath(path, stroke=0, fill=1)


def coupons_pdf(inserts: Sequence[CouponInsert], size: InsertSize | str, *,
                title: str = "Coupon inserts") -> bytes:
    """PDF bytes of ``inserts`` on A4 sheets, in the given (card) order, row by row,
    ``size.per_sheet`` to a sheet, with crop marks. Deterministic: same input, same bytes.
    """
    if isinstance(size, str):
        size = insert_size(size)
    if not inserts:
        raise CouponError("no coupon inserts to print")
    layouts = [layout_insert(insert, size) for insert in inserts]
    page_w, page_h = size.sheet_width_mm, size.sheet_height_mm
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(page_w * PT_PER_MM, page_h * PT_PER_MM), invariant=1)
    canvas.setTitle(title)
    canvas.setCreator("penpost")
    for first in range(0, len(layouts), size.per_sheet):
        canvas.setLineWidth(CROP_LINE_PT)
        for x0, y0, x1, y1 in crop_marks(size):
            canvas.line(x0 * PT_PER_MM, (page_h - y0) * PT_PER_MM,
                        x1 * PT_PER_MM, (page_h - y1) * PT_PER_MM)
        for slot, layout in enumerate(layouts[first:first + size.per_sheet]):
            x, y = size.cell(slot)
            for line in layout.lines:
                canvas.setFont(line.font, line.size_pt)
                canvas.drawString((x + line.x_mm) * PT_PER_MM,
                                  (page_h - y - line.baseline_mm) * PT_PER_MM, line.text)
            if layout.qr is not None:
                _draw_qr(canvas, layout.qr, x, y, page_h)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
