"""Raster previews of a card: ink on card stock, as the approver and the OCR check see it."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from plotter.drawing import Drawing

MM_PER_INCH = 25.4
STOCK_RGB = (250, 247, 240)  # an off-white card stock
INK_RGB = (26, 42, 108)  # a blue-black ink
SUPERSAMPLE = 3  # drawn larger and scaled down: smooth, antialiased strokes


PEN_WIDTH_MM = 0.3  # a 0.3 mm fineliner, the usual pen for card writing


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
    image.save(buffer, format="PNG", dpi=(dpi, dpi), optimize=False)
    return buffer.getvalue()
