"""Label sheets: the PDF read back with pypdf — texts in card order, each in its cell."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from pypdf import PdfReader
from reportlab.pdfbase.pdfmetrics import stringWidth

from cards.labels import (
    FONT,
    PT_PER_MM,
    Label,
    LabelError,
    LabelSheet,
    UnknownLabelSheetError,
    label_sheet,
    label_sheets,
    labels_pdf,
    return_labels_pdf,
)

TOL_MM = 0.5


@dataclass(frozen=True)
class Run:
    """A piece of text as the PDF places it: page, baseline start (mm, y down), size (pt)."""

    page: int
    text: str
    x_mm: float
    y_mm: float
    size_pt: float

    @property
    def width_mm(self) -> float:
        return stringWidth(self.text, FONT, self.size_pt) / PT_PER_MM


def read_runs(pdf: bytes) -> list[Run]:
    reader = PdfReader(io.BytesIO(pdf))
    runs: list[Run] = []
    for number, page in enumerate(reader.pages):
        height_pt = float(page.mediabox.height)

        def visit(text, cm, tm, font, size, number=number, height_pt=height_pt):
            if not text.strip():
                return
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            scale = (tm[3] * cm[3]) or 1.0
            runs.append(Run(number, text.strip("\n"), x / PT_PER_MM,
                            (height_pt - y) / PT_PER_MM, size * scale))

        page.extract_text(visitor_text=visit)
    return runs


@pytest.fixture
def make_labels():
    """Factory: ``n`` German labels, numbered in their name and order mark."""

    def make(n: int, *, extra: str = "") -> list[Label]:
        return [Label((f"Erika Mustermann {i}{extra}", "Heidestraße 17", f"5114{i % 10} Köln"),
                      f"{i}/{n} · a1b2c3d4") for i in range(1, n + 1)]

    return make


def cell_of(sheet: LabelSheet, run: Run) -> int:
    """The cell (0-based, overall) whose box holds the start of ``run``."""
    for index in range(sheet.cells):
        x, y, w, h = sheet.cell(index)
        if x - TOL_MM <= run.x_mm <= x + w + TOL_MM and y - TOL_MM <= run.y_mm <= y + h + TOL_MM:
            return run.page * sheet.cells + index
    raise AssertionError(f"{run} lies in no cell")


def assert_inside(sheet: LabelSheet, run: Run, index: int) -> None:
    x, y, w, h = sheet.cell(index)
    top = run.y_mm - 0.76 * run.size_pt / PT_PER_MM  # DejaVu Sans' capitals and ascenders
    bottom = run.y_mm + 0.24 * run.size_pt / PT_PER_MM
    assert run.x_mm >= x - TOL_MM and run.x_mm + run.width_mm <= x + w + TOL_MM, run
    assert top >= y - TOL_MM and bottom <= y + h + TOL_MM, run


@pytest.mark.parametrize("name", sorted(label_sheets()))
def test_labels_in_card_order_each_inside_its_cell(name: str, make_labels) -> None:
    sheet = label_sheet(name)
    labels = make_labels(sheet.cells + 3)  # onto a second page
    runs = read_runs(labels_pdf(labels, sheet))
    expected = [text for label in labels for text in (*label.lines, label.order_mark)]
    assert [r.text for r in runs] == expected
    per_label = 4
    for k in range(len(labels)):
        group = runs[k * per_label:(k + 1) * per_label]
        for run in group:
            assert cell_of(sheet, run) == k
            assert_inside(sheet, run, k)
    assert {r.page for r in runs} == {0, 1}


def test_start_skips_exactly_that_many_cells(make_labels) -> None:
    sheet = label_sheet("zweckform-3475")
    labels = make_labels(5)
    for start in (1, 2, 7, sheet.cells):
        runs = read_runs(labels_pdf(labels, sheet, start=start))
        names = [r for r in runs if r.text.startswith("Erika")]
        assert [cell_of(sheet, r) for r in names] == list(range(start - 1, start - 1 + 5))


@pytest.mark.parametrize("start", [0, -1, 25, True, 2.0])
def test_start_outside_the_sheet_is_refused(start, make_labels) -> None:
    with pytest.raises(LabelError, match="start must be a cell number from 1 to 24"):
        labels_pdf(make_labels(1), label_sheet("zweckform-3475"), start=start)


def test_same_input_same_bytes(make_labels) -> None:
    sheet = label_sheet("avery-l7163")
    first = labels_pdf(make_labels(20), sheet, start=3)
    assert first == labels_pdf(make_labels(20), sheet, start=3)
    assert first != labels_pdf(make_labels(20), sheet, start=4)
    assert first.startswith(b"%PDF")


def test_text_shrinks_to_fit_and_never_below_the_minimum() -> None:
    sheet = label_sheet("avery-5160")
    long = Label(("Blumenhaus Sonnenschein am Markt GmbH", "Heidestraße 17", "51147 Köln",
                  "z. Hd. Frau Erika Mustermann"), "1/1 · a1b2c3d4")
    runs = read_runs(labels_pdf([long], sheet))
    sizes = {r.size_pt for r in runs if r.text != long.order_mark}
    assert len(sizes) == 1 and 6 <= sizes.pop() < 10
    for run in runs:
        assert_inside(sheet, run, 0)


def test_an_address_that_cannot_fit_is_named(make_labels) -> None:
    sheet = label_sheet("avery-5160")
    too_long = Label(("Internationale Blumen- und Gartenbaugesellschaft Sonnenschein mbH",
                      "Heidestraße 17", "51147 Köln"), "2/2")
    with pytest.raises(LabelError) as info:
        labels_pdf([*make_labels(1), too_long], sheet)
    message = str(info.value)
    assert "label 2" in message and "Internationale Blumen-" in message
    assert "mm too long" in message and "6 pt" in message
    many = Label(tuple(f"Zeile {i}" for i in range(12)), "1/1")
    with pytest.raises(LabelError, match="12 lines need"):
        labels_pdf([many], sheet)


def test_german_and_euro_characters_print() -> None:
    label = Label(("Jörg Weiß", "„Zur Sonne“ – 5 € Gutschein", "ÄÖÜ äöü ß"), "1/1 · ab")
    runs = read_runs(labels_pdf([label], label_sheet("zweckform-3422")))
    assert [r.text for r in runs] == [*label.lines, label.order_mark]


def test_polish_and_turkish_names_print() -> None:
    label = Label(("Aylin Şahin", "Łukasz Nowak", "ul. Łąkowa 5", "90-001 Łódź"), "1/1 · ab")
    runs = read_runs(labels_pdf([label], label_sheet("zweckform-3475")))
    assert [r.text for r in runs] == [*label.lines, label.order_mark]


def test_characters_the_font_cannot_print_are_named() -> None:
    with pytest.raises(LabelError, match=r"'中' \(U\+4E2D CJK UNIFIED IDEOGRAPH-4E2D\)"):
        labels_pdf([Label(("中村 Łukasz", "ul. Piotrkowska 1", "90-001 Łódź"))],
                   label_sheet("zweckform-3475"))


def test_empty_input_is_refused() -> None:
    sheet = label_sheet("zweckform-3475")
    with pytest.raises(LabelError, match="no labels"):
        labels_pdf([], sheet)
    with pytest.raises(LabelError, match="label 1 has no address lines"):
        labels_pdf([Label(("", " "))], sheet)


def test_return_labels_fill_the_cells_asked_for() -> None:
    sheet = label_sheet("zweckform-3475")
    sender = ["Blumenladen Rosa", "Gartenweg 3", "10115 Berlin"]
    runs = read_runs(return_labels_pdf(sender, sheet, 30, start=20))
    firsts = [r for r in runs if r.text == sender[0]]
    assert [cell_of(sheet, r) for r in firsts] == list(range(19, 49))
    assert all(r.text in sender for r in runs)  # no order marks


def test_sheet_data() -> None:
    sheets = label_sheets()
    assert {"zweckform-3475", "zweckform-3422", "avery-l7163", "avery-5160"} <= set(sheets)
    avery = sheets["avery-5160"]
    assert (avery.columns, avery.rows, avery.cells) == (3, 10, 30)
    assert avery.label_width_mm == pytest.approx(2.625 * 25.4)
    assert avery.page_width_mm == pytest.approx(8.5 * 25.4)
    for sheet in sheets.values():
        x, y, w, h = sheet.cell(sheet.cells - 1)
        assert x + w <= sheet.page_width_mm + 1e-6 and y + h <= sheet.page_height_mm + 1e-6


def test_unknown_sheet_lists_the_known_ones() -> None:
    with pytest.raises(UnknownLabelSheetError, match="known sheets: avery-5160, avery-l7163"):
        label_sheet("zweckform-9999")


def test_bad_sheet_data_is_refused() -> None:
    with pytest.raises(ValueError, match="leave the page"):
        LabelSheet("x", "", 210, 297, 3, 8, 71, 36, 71, 36, 0, 4.5)
