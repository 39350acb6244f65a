"""The preview PDF: true size, exactly the G-code's strokes, deterministic, address side."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from pypdf.generic import ContentStream
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as pdf_canvas

from cards.formats import card_format
from cards.preview import (
    ADDRESS_FONT,
    INK_RGB,
    PEN_WIDTH_MM,
    PT_PER_MM,
    pdf_strokes,
    render_pdf,
)
from jobs.cli import example_jobs
from jobs.render import render_job
from jobs.schema import load_job
from plotter.drawing import Drawing
from plotter.gcode import read_strokes
from plotter.profile import load_profile
from tests.conftest import need_tool

EXAMPLES = example_jobs()
ADDRESS = ["Frau Erika Müller", "Großstraße 12", "„Hinterhaus“", "10115 Berlin"]
TOLERANCE_MM = 0.01


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: p.stem)
def rendered(request):
    """A bundled example job, rendered (layout, optimised drawing, G-code)."""
    return render_job(load_job(request.param))


@pytest.fixture
def line_and_dot() -> Drawing:
    """A short line and a dot on an A6 landscape card (mm)."""
    return Drawing(([(10.0, 20.0), (30.5, 20.25), (31.0, 40.0)], [(70.125, 50.0625)]),
                   148.0, 105.0)


def _reader(pdf: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf))


def _operations(pdf: bytes, page: int = 0) -> list[tuple[list, bytes]]:
    reader = _reader(pdf)
    return ContentStream(reader.pages[page].get_contents(), reader).operations


def _assert_same_strokes(ours: list[np.ndarray] | tuple[np.ndarray, ...],
                         theirs: list[np.ndarray] | tuple[np.ndarray, ...]) -> None:
    assert len(ours) == len(theirs)
    for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.shape == b.shape, f"stroke {index}: {a.shape} points vs {b.shape}"
        assert np.abs(a - b).max() < TOLERANCE_MM, f"stroke {index} is off"


# --- what you approve is what is plotted ----------------------------------------------


def test_preview_draws_the_gcode_strokes(rendered) -> None:
    card = card_format(rendered.spec.card)
    pdf = render_pdf(rendered.drawing, title="penpost card")
    previewed = pdf_strokes(pdf)
    profile = load_profile(rendered.profile)
    plotted = read_strokes(rendered.files["card.gcode"].decode("ascii"), profile,
                           card.width_mm, card.height_mm)
    assert len(previewed) > 50
    _assert_same_strokes(previewed, plotted.strokes)
    _assert_same_strokes(previewed, rendered.drawing.strokes)


def test_page_is_the_card_at_true_size(rendered) -> None:
    card = card_format(rendered.spec.card)
    reader = _reader(render_pdf(rendered.drawing))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert float(box.left) == 0 and float(box.bottom) == 0
    assert abs(float(box.width) / PT_PER_MM - card.width_mm) < TOLERANCE_MM
    assert abs(float(box.height) / PT_PER_MM - card.height_mm) < TOLERANCE_MM


def test_same_job_same_bytes_other_seed_other_bytes(rendered) -> None:
    pdf = render_pdf(rendered.drawing, title="card")
    assert render_pdf(rendered.drawing, title="card") == pdf
    again = render_job(rendered.spec)  # the spec carries its seed
    assert render_pdf(again.drawing, title="card") == pdf
    other = render_job(rendered.spec.model_copy(update={"seed": rendered.spec.seed + 1}))
    assert render_pdf(other.drawing, title="card") != pdf


# --- the drawing on page 1 -------------------------------------------------------------


def test_dot_survives_the_round_trip(line_and_dot: Drawing) -> None:
    pdf = render_pdf(line_and_dot)
    back = pdf_strokes(pdf)
    _assert_same_strokes(back, line_and_dot.strokes)
    assert back[1].shape == (1, 2)
    # the dot is painted: a zero-length segment with round caps
    ops = _operations(pdf)
    names = [op for _, op in ops]
    assert names.count(b"l") == 3  # two for the line, one zero-length for the dot
    assert [float(v) for v in next(args for args, op in ops if op == b"J")] == [1]


def test_ink_colour_pen_width_and_one_path_per_stroke(line_and_dot: Drawing) -> None:
    ops = _operations(render_pdf(line_and_dot))
    colours = [[float(v) for v in args] for args, op in ops if op == b"RG"]
    assert np.allclose(colours[-1], np.array(INK_RGB) / 255, atol=1e-3)
    widths = [float(args[0]) for args, op in ops if op == b"w"]
    assert widths[-1] == pytest.approx(PEN_WIDTH_MM * PT_PER_MM, abs=1e-3)
    assert [float(args[0]) for args, op in ops if op == b"j"] == [1]
    names = [op for _, op in ops]
    assert names.count(b"m") == names.count(b"S") - 1 == 2  # one more S: the outline
    thicker = _operations(render_pdf(line_and_dot, pen_width_mm=0.7, ink=(200, 0, 0)))
    assert [float(args[0]) for args, op in thicker if op == b"w"][-1] == pytest.approx(
        0.7 * PT_PER_MM, abs=1e-3)


def test_empty_drawing_is_one_page_with_the_outline() -> None:
    pdf = render_pdf(Drawing.empty(148.0, 105.0))
    reader = _reader(pdf)
    assert len(reader.pages) == 1
    assert pdf_strokes(pdf) == []
    rects = [[float(v) / PT_PER_MM for v in args] for args, op in _operations(pdf)
             if op == b"re"]
    assert len(rects) == 1
    x, y, w, h = rects[0]
    assert x < 0.1 and y < 0.1 and w > 147.8 and h > 104.8


def test_metadata_is_fixed_and_titled(line_and_dot: Drawing) -> None:
    meta = _reader(render_pdf(line_and_dot, title="Karte für Frau Müller")).metadata
    assert meta.title == "Karte für Frau Müller"
    assert meta.creator == "penpost" and "penpost" in meta.producer


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.tuples(st.floats(0, 229), st.floats(0, 162)), min_size=1,
                         max_size=12), max_size=8))
def test_any_drawing_reads_back(strokes: list[list[tuple[float, float]]]) -> None:
    # one-point strokes and two equal points both read back as dots
    strokes = [s[:1] if len(s) == 2 and s[0] == s[1] else s for s in strokes]
    drawing = Drawing(tuple(np.array(s) for s in strokes), 229.0, 162.0)  # C5
    _assert_same_strokes(pdf_strokes(render_pdf(drawing)), drawing.strokes)


def test_reader_follows_the_transform() -> None:
    buffer = io.BytesIO()
    c = pdf_canvas.Canvas(buffer, pagesize=(100 * PT_PER_MM, 50 * PT_PER_MM), invariant=1)
    c.saveState()
    c.translate(0, 50 * PT_PER_MM)
    c.scale(PT_PER_MM, -PT_PER_MM)  # now mm, y down
    path = c.beginPath()
    path.moveTo(10, 5)
    path.lineTo(20, 15)
    c.drawPath(path, stroke=1, fill=0)
    c.restoreState()
    path = c.beginPath()
    path.moveTo(30 * PT_PER_MM, 40 * PT_PER_MM)  # y up again: 10 mm from the top
    path.lineTo(40 * PT_PER_MM, 40 * PT_PER_MM)
    c.drawPath(path, stroke=1, fill=0)
    path = c.beginPath()
    path.moveTo(0, 0)
    path.lineTo(10, 10)
    c.drawPath(path, stroke=0, fill=1)  # filled, not stroked: not a pen stroke
    c.showPage()
    c.save()
    back = pdf_strokes(buffer.getvalue())
    _assert_same_strokes(back, [np.array([[10.0, 5.0], [20.0, 15.0]]),
                                np.array([[30.0, 10.0], [40.0, 10.0]])])


def test_bad_pen_or_ink_is_refused(line_and_dot: Drawing) -> None:
    with pytest.raises(ValueError, match="pen width"):
        render_pdf(line_and_dot, pen_width_mm=0)
    with pytest.raises(ValueError, match="ink"):
        render_pdf(line_and_dot, ink=(0, 0, 300))


# --- the address side on page 2 -------------------------------------------------------


def test_address_page_keeps_umlauts_and_sharp_s(line_and_dot: Drawing) -> None:
    pdf = render_pdf(line_and_dot, address_lines=ADDRESS)
    reader = _reader(pdf)
    assert len(reader.pages) == 2
    text = reader.pages[1].extract_text()
    for line in ADDRESS:
        assert line in text
    assert "Müller" in text and "Großstraße" in text
    assert "Müller" not in reader.pages[0].extract_text()
    box = reader.pages[1].mediabox
    assert abs(float(box.width) / PT_PER_MM - 148.0) < TOLERANCE_MM
    assert pdf_strokes(pdf, page=1) == []
    _assert_same_strokes(pdf_strokes(pdf), line_and_dot.strokes)  # page 1 unchanged


def test_no_address_no_second_page(line_and_dot: Drawing) -> None:
    assert len(_reader(render_pdf(line_and_dot)).pages) == 1
    assert len(_reader(render_pdf(line_and_dot, address_lines=None)).pages) == 1
    assert len(_reader(render_pdf(line_and_dot, address_lines=[])).pages) == 1


def test_long_address_lines_stay_on_the_page(line_and_dot: Drawing) -> None:
    lines = ["Blumenladen Sonnenschein GmbH & Co. KG, Abteilung Kundenzufriedenheit",
             "Straße des 17. Juni 135, Hinterhaus, 3. Obergeschoss links"]
    pdf = render_pdf(line_and_dot, address_lines=lines)
    ops = _operations(pdf, page=1)
    x, y = (float(v) for v in next(args for args, op in ops if op == b"Tm")[-2:])
    size = float([args for args, op in ops if op == b"Tf"][-1][1])
    widest = max(stringWidth(line, ADDRESS_FONT, size) for line in lines)
    assert size >= 6
    assert 0 < x and x + widest < 148 * PT_PER_MM and 0 < y < 105 * PT_PER_MM
    assert lines[0] in _reader(pdf).pages[1].extract_text()


NAMES_BEYOND_WINANSI = ["Aylin Şahin", "Łukasz Nowak", "ul. Łąkowa 5", "34433 İSTANBUL",
                        "Ευάγγελος Παπαδόπουλος", "Дмитрий Ковалёв"]


def test_names_beyond_winansi_print_and_read_back(line_and_dot: Drawing, tmp_path) -> None:
    pdf = render_pdf(line_and_dot, address_lines=NAMES_BEYOND_WINANSI)
    text = _reader(pdf).pages[1].extract_text()
    for line in NAMES_BEYOND_WINANSI:
        assert line in text
    need_tool(shutil.which("pdftotext") is not None,
              "pdftotext is not installed (apt-get install poppler-utils)")
    (tmp_path / "preview.pdf").write_bytes(pdf)
    poppler = subprocess.run(["pdftotext", "-f", "2", "-l", "2", str(tmp_path / "preview.pdf"),
                              "-"], capture_output=True, check=True, timeout=60).stdout
    assert [line for line in poppler.decode("utf-8").splitlines() if line.strip()] == \
        NAMES_BEYOND_WINANSI
    assert b"/FontFile2" in pdf and b"+DejaVuSans" in pdf  # the subset travels in the file


def test_address_page_is_the_same_bytes_in_another_process(line_and_dot: Drawing) -> None:
    code = ("import sys; from cards.preview import render_pdf; from plotter.drawing import "
            "Drawing; d = Drawing(([(10.0, 20.0), (30.5, 20.25), (31.0, 40.0)], "
            "[(70.125, 50.0625)]), 148.0, 105.0); sys.stdout.buffer.write(render_pdf(d, "
            f"address_lines={NAMES_BEYOND_WINANSI!r}))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                           timeout=120).stdout
    pdf = render_pdf(line_and_dot, address_lines=NAMES_BEYOND_WINANSI)
    assert pdf == other == render_pdf(line_and_dot, address_lines=NAMES_BEYOND_WINANSI)


def test_address_characters_the_font_lacks_are_named(line_and_dot: Drawing) -> None:
    with pytest.raises(ValueError, match=r"'中' \(U\+4E2D CJK UNIFIED IDEOGRAPH-4E2D\)"):
        render_pdf(line_and_dot, address_lines=["中村 Łukasz", "ul. Łąkowa 5"])
    with pytest.raises(ValueError, match=r"U\+0007"):
        render_pdf(line_and_dot, address_lines=["Jan Kowalski\a"])


def test_envelope_page_at_its_own_true_size(line_and_dot: Drawing) -> None:
    envelope = Drawing(([(120.0, 80.0), (180.0, 80.0)], [(150.0, 95.0)]), 229.0, 162.0)
    pdf = render_pdf(line_and_dot, envelope=envelope, address_lines=ADDRESS)
    reader = _reader(pdf)
    assert len(reader.pages) == 2
    box = reader.pages[1].mediabox
    assert abs(float(box.width) / PT_PER_MM - 229.0) < TOLERANCE_MM
    assert abs(float(box.height) / PT_PER_MM - 162.0) < TOLERANCE_MM
    _assert_same_strokes(pdf_strokes(pdf, page=1), envelope.strokes)
    _assert_same_strokes(pdf_strokes(pdf, page=0), line_and_dot.strokes)
