"""Previews of a card: ink on card stock, as the approver and the OCR check see it.

:func:`render_png` rasterises a card; :func:`render_pdf` draws it as vectors at true
size, one PDF path per stroke of the very :class:`~plotter.drawing.Drawing` that becomes
G-code, and :func:`pdf_strokes` reads those paths back into card mm, which is how the
tests prove that what is approved is what is plotted.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as pdf_canvas

from cards import printfont
from plotter.drawing import Drawing

MM_PER_INCH = 25.4
PT_PER_MM = 72 / MM_PER_INCH  # PDF points (1/72 inch) per mm
STOCK_RGB = (250, 247, 240)  # an off-white card stock
INK_RGB = (26, 42, 108)  # a blue-black ink
SUPERSAMPLE = 3  # drawn larger and scaled down: smooth, antialiased strokes


PEN_WIDTH_MM = 0.3  # a 0.3 mm fineliner, the usual pen for card writing

# ink colours a job may ask for (its "ink"), as the preview shows them
INK_COLOURS: dict[str, tuple[int, int, int]] = {
    "blue-black": INK_RGB, "blue": (30, 60, 170), "black": (25, 25, 28),
    "red": (175, 30, 35), "green": (25, 105, 60), "brown": (110, 65, 30),
    "purple": (95, 45, 125), "gold": (165, 125, 35), "silver": (130, 135, 140),
}


def ink_rgb(name: str) -> tuple[int, int, int]:
    """The preview colour of an ink by name; ValueError naming the known ones."""
    try:
        return INK_COLOURS[name]
    except KeyError:
        raise ValueError(f"unknown ink {name!r}; known inks: {', '.join(INK_COLOURS)}") from None


def render_png(drawing: Drawing, *, dpi: int = 300, pen_width_mm: float = PEN_WIDTH_MM,
               ink: tuple[int, int, int] = INK_RGB,
               stock: tuple[int, int, int] = STOCK_RGB) -> bytes:
    """PNG bytes of ``drawing`` at ``dpi`` (the card's full size; pen width in mm).
    Deterministic: the same drawing gives the same bytes."""
    if dpi <= 0 or pen_width_mm <= 0:
        raise ValueError("dpi and pen width must be positive")
    scale = dpi / MM_PER_INCH * SUPERSAMPLE  # pixels per mm while drawing
    width = max(1, round(drawing.width_mm * dpi / MM_PER_INCH))
    height = max(1, round(drawing.height_mm * dpi / MM_PER_INCH))
    big = Image.new("RGB", (width * SUPERSAMPLE, height * SUPERSAMPLE), stock)
    draw = ImageDraw.Draw(big)
    line_px = max(1, round(pen_width_mm * scale))
    radius = line_px / 2
    for stroke in drawing.strokes:
        pts = np.round(stroke * scale, 1)
        flat = [tuple(p) for p in pts.tolist()]
        if len(flat) > 1:
            draw.line(flat, fill=ink, width=line_px, joint="curve")
        for x, y in (flat[0], flat[-1]):  # round caps (and dots)
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=ink)
    image = big.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    # fast compression: a preview is made once per render, the pixels are the same
    image.save(buffer, format="PNG", dpi=(dpi, dpi), optimize=False, compress_level=1)
    return buffer.getvalue()


# --- PDF -------------------------------------------------------------------------------

PDF_CREATOR = "penpost"  # fixed creator and producer: nothing in the file depends on when
PDF_PRODUCER = "penpost (reportlab)"  # or where it was made
OUTLINE_GREY = 0.8  # the card's edge: light grey, 0 black .. 1 white
OUTLINE_WIDTH_PT = 0.25  # a hairline
ADDRESS_FONT = printfont.REGULAR  # DejaVu Sans, embedded as a subset (cards.printfont)
ADDRESS_SIZE_PT = 11.0  # readable on a label, about 2.8 mm capitals
ADDRESS_MIN_SIZE_PT = 6.0  # long lines shrink the font, down to this
ADDRESS_MARGIN_MM = 8.0  # the address block keeps this far from the edges


def _rgb(ink: tuple[int, int, int]) -> tuple[float, float, float]:
    """0..255 channels as reportlab's 0..1."""
    if len(ink) != 3 or not all(0 <= c <= 255 for c in ink):
        raise ValueError(f"ink must be three 0..255 channels, got {ink!r}")
    r, g, b = (c / 255 for c in ink)
    return r, g, b


def _outline(c: pdf_canvas.Canvas, width_pt: float, height_pt: float) -> None:
    """The card's edge, inset by half the hairline so that all of it is on the page."""
    inset = OUTLINE_WIDTH_PT / 2
    c.setStrokeGray(OUTLINE_GREY)
    c.setLineWidth(OUTLINE_WIDTH_PT)
    c.rect(inset, inset, width_pt - 2 * inset, height_pt - 2 * inset, stroke=1, fill=0)


def _draw_strokes(c: pdf_canvas.Canvas, drawing: Drawing, pen_width_mm: float,
                  ink: tuple[float, float, float]) -> None:
    """Every stroke of ``drawing`` as one path, in page points (y up), round caps and
    joins. reportlab writes numbers with 7 significant digits (4 decimals of a point
    below 1000 pt, 3 up to 10000 pt): under 0.0004 mm on any card or envelope."""
    height_pt = drawing.height_mm * PT_PER_MM
    c.setStrokeColorRGB(*ink)
    c.setLineWidth(pen_width_mm * PT_PER_MM)
    c.setLineCap(1)  # round
    c.setLineJoin(1)  # round
    for stroke in drawing.strokes:
        x = stroke[:, 0] * PT_PER_MM
        y = height_pt - stroke[:, 1] * PT_PER_MM  # PDF's y grows upwards
        path = c.beginPath()
        path.moveTo(float(x[0]), float(y[0]))
        if len(stroke) == 1:
            # a dot: a zero-length segment, which a round cap paints as a disc
            path.lineTo(float(x[0]), float(y[0]))
        for px, py in zip(x[1:].tolist(), y[1:].tolist(), strict=True):
            path.lineTo(px, py)
        c.drawPath(path, stroke=1, fill=0)


def _check_address(lines: Sequence[str]) -> None:
    """Raise ValueError naming the characters the address font cannot show: it would
    draw an empty box for them, and the approver would not see the real address."""
    bad = printfont.missing("".join(lines), (ADDRESS_FONT,))
    if bad:
        raise ValueError("the address preview cannot show these characters: "
                         + printfont.describe(bad))


def _address_block(c: pdf_canvas.Canvas, lines: Sequence[str], width_pt: float,
                   height_pt: float) -> None:
    """The address lines in the address font where an address goes: right of the middle, in the
    lower half. Long lines shrink the font (not below ``ADDRESS_MIN_SIZE_PT``) and move
    the block left, so that it stays ``ADDRESS_MARGIN_MM`` inside the edges."""
    margin = ADDRESS_MARGIN_MM * PT_PER_MM
    room = max(1.0, width_pt - 2 * margin)
    widest = max((stringWidth(line, ADDRESS_FONT, 1.0) for line in lines), default=0.0)
    size = ADDRESS_SIZE_PT
    if widest * size > room:
        size = max(ADDRESS_MIN_SIZE_PT, room / widest)
    leading = size * 1.3
    block_w = widest * size
    block_h = leading * len(lines)
    left = max(margin, min(width_pt * 0.45, width_pt - margin - block_w))
    # the block's middle at 60 % of the height from the top, kept inside the margins
    top = min(height_pt - margin, max(margin + block_h, height_pt * 0.4 + block_h / 2))
    c.setFillGray(0)
    c.setFont(ADDRESS_FONT, size, leading)
    text = c.beginText(left, top - size)
    for line in lines:
        text.textLine(line)
    c.drawText(text)


def render_pdf(drawing: Drawing, *, address_lines: Sequence[str] | None = None,
               title: str = "", pen_width_mm: float = PEN_WIDTH_MM,
               ink: tuple[int, int, int] = INK_RGB,
               envelope: Drawing | None = None) -> bytes:
    """PDF bytes of the card at true size, to print 1:1 and approve.

    Page 1 is the card, ``drawing.width_mm`` x ``drawing.height_mm``: its outline as a
    light-grey hairline and, in ``ink`` (0..255 RGB) at ``pen_width_mm`` with round caps
    and joins, exactly the strokes of ``drawing``, one path per stroke (a one-point
    stroke is a zero-length segment: a dot). Page 2, only when ``envelope`` or
    ``address_lines`` (not empty) is given, is the address side: the ``envelope`` drawing
    at its own true size drawn the same way (``address_lines`` are then not used), or
    else a card-sized page with the ``address_lines`` in DejaVu Sans (embedded; Ş, Ł,
    Greek, Cyrillic print; characters it lacks are a ValueError that names them, see
    :func:`cards.printfont.missing`).

    Deterministic: reportlab's invariant mode, fixed creator and producer,
    uncompressed content and font subset (zlib builds differ between machines), so the
    same arguments give the same bytes everywhere.

    >>> pdf = render_pdf(Drawing(([[10.0, 20.0], [30.0, 20.0]],), 148, 105))
    >>> [np.round(s, 3).tolist() for s in pdf_strokes(pdf)]
    [[[10.0, 20.0], [30.0, 20.0]]]
    """
    if not pen_width_mm > 0:
        raise ValueError(f"pen width must be positive, got {pen_width_mm} mm")
    rgb = _rgb(ink)
    lines = list(address_lines or ())
    if lines and envelope is None:
        _check_address(lines)
    buffer = io.BytesIO()
    size = (drawing.width_mm * PT_PER_MM, drawing.height_mm * PT_PER_MM)
    c = pdf_canvas.Canvas(buffer, pagesize=size, invariant=1, pageCompression=0)
    c.setCreator(PDF_CREATOR)
    c.setProducer(PDF_PRODUCER)
    c.setAuthor(PDF_CREATOR)
    c.setTitle(title)
    _outline(c, *size)
    _draw_strokes(c, drawing, pen_width_mm, rgb)
    c.showPage()
    if envelope is not None:
        env_size = (envelope.width_mm * PT_PER_MM, envelope.height_mm * PT_PER_MM)
        c.setPageSize(env_size)
        _outline(c, *env_size)
        _draw_strokes(c, envelope, pen_width_mm, rgb)
        c.showPage()
    elif lines:
        _outline(c, *size)
        _address_block(c, lines, *size)
        c.showPage()
    c.save()
    return buffer.getvalue()


def _matrix(a: float, b: float, c: float, d: float, e: float, f: float) -> np.ndarray:
    """A PDF ``[a b c d e f]`` matrix as 3x3, for row vectors ``[x y 1] @ M``."""
    return np.array([[a, b, 0.0], [c, d, 0.0], [e, f, 1.0]])


_PAINT_STROKE = {b"S", b"s", b"B", b"B*", b"b", b"b*"}  # operators that stroke the path
_PAINT_OTHER = {b"f", b"F", b"f*", b"n"}  # fill only, or nothing: not pen strokes


def pdf_strokes(pdf_bytes: bytes, page: int = 0) -> list[np.ndarray]:
    """The stroked polylines of page ``page`` (0-based) of a PDF, as ``(N, 2)`` float64
    arrays in card mm, y down, origin at the page's top-left (its MediaBox).

    Reads ``m``/``l`` subpaths painted by a stroking operator (``S``, ``s``, ``B``, ...),
    one stroke per subpath, through the current transform (``cm``, ``q``/``Q``).
    Rectangles (``re``, the card outline), filled paths and text are not strokes. A
    subpath of two equal points is read as a one-point stroke, a dot (see
    :func:`render_pdf`). Curves (``c``, ``v``, ``y``) are a ValueError: the pen draws
    polylines only. Needs pypdf (a dev dependency).
    """
    # pypdf is a test dependency (pyproject's dev extra): imported only by this reader
    from pypdf import PdfReader
    from pypdf.generic import ContentStream

    reader = PdfReader(io.BytesIO(pdf_bytes))
    pdf_page = reader.pages[page]
    box = pdf_page.mediabox
    left, top = float(box.left), float(box.top)
    content = ContentStream(pdf_page.get_contents(), reader)
    ctm = np.eye(3)
    stack: list[np.ndarray] = []
    subpaths: list[list[tuple[float, float]]] = []
    strokes: list[np.ndarray] = []
    for operands, operator in content.operations:
        if operator == b"q":
            stack.append(ctm)
        elif operator == b"Q":
            ctm = stack.pop() if stack else np.eye(3)
        elif operator == b"cm":
            ctm = _matrix(*(float(v) for v in operands)) @ ctm
        elif operator == b"m":
            subpaths.append([(float(operands[0]), float(operands[1]))])
        elif operator == b"l":
            if not subpaths:
                raise ValueError(f"page {page}: a lineto without a moveto")
            subpaths[-1].append((float(operands[0]), float(operands[1])))
        elif operator == b"re":
            subpaths.append([])  # a rectangle is a subpath of its own, never a stroke
        elif operator in (b"c", b"v", b"y"):
            raise ValueError(f"page {page}: a curve ({operator.decode()}), not a polyline")
        elif operator in _PAINT_STROKE or operator in _PAINT_OTHER:
            if operator in _PAINT_STROKE:
                for points in subpaths:
                    if not points:
                        continue
                    if len(points) == 2 and points[0] == points[1]:
                        points = points[:1]  # a dot
                    xy = np.column_stack([np.array(points), np.ones(len(points))]) @ ctm
                    mm = np.column_stack([(xy[:, 0] - left), (top - xy[:, 1])])
                    strokes.append(mm / PT_PER_MM)
            subpaths = []
    return strokes
