"""Coupon inserts: sizes as data, value/date/link formatting, errors, and the PDF read
back (texts in their cells, QR codes decoded, same input same bytes)."""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from decimal import Decimal

import numpy as np
import pypdf
import pytest
import zxingcpp
from PIL import Image

from cards.codes import unique_codes
from cards.coupon import (
    CROP_OFFSET_MM,
    MIN_MARGIN_MM,
    QR_MIN_MODULE_MM,
    CouponError,
    CouponInsert,
    InsertSize,
    UnknownInsertSizeError,
    coupons_pdf,
    crop_marks,
    format_expiry,
    format_value,
    insert_size,
    insert_sizes,
    layout_insert,
    redeem_link,
    valid_until,
)
from tests.conftest import need_tool

PT_PER_MM = 72 / 25.4
DPI = 300


def plain(text: str) -> str:
    """Babel's no-break spaces as plain spaces, for comparing."""
    return text.replace("\u00a0", " ").replace("\u202f", " ").strip()


@pytest.fixture
def make_insert():
    """Factory: a German bakery's 10 € insert; keyword arguments override fields."""

    def make(**overrides) -> CouponInsert:
        fields = dict(
            shop_name="Bäckerei „Süß“", kind="amount", amount=Decimal("10"), currency="EUR",
            locale="de_DE", code="K7QM-3XW9", expires=date(2026, 12, 31),
            redeem_url="https://shop.example/einloesen?src=karte", order_mark="17/120 · a1b2c3d4",
            sender_lines=["Bäckerei Süß · Hauptstraße 5 · 10115 Berlin"],
        )
        fields.update(overrides)
        return CouponInsert(**fields)

    return make


@pytest.fixture
def batch(make_insert):
    """Factory: ``count`` inserts of mixed shops, kinds and locales, each its own code."""

    def make(count: int) -> list[CouponInsert]:
        codes = unique_codes(count, set(), seed=3)
        inserts = []
        for i, code in enumerate(codes):
            if i % 3 == 0:
                insert = make_insert(code=code, order_mark=f"{i + 1}/{count} · a1b2c3d4")
            elif i % 3 == 1:
                insert = make_insert(shop_name=f"Corner Books {i}", kind="percent",
                                     amount=Decimal(15), currency=None, locale="en_US",
                                     code=code, redeem_url="https://books.example/r/{code}",
                                     order_mark=f"{i + 1}/{count}", sender_lines=[])
            else:
                insert = make_insert(shop_name=f"Blumen Rosa {i}", amount=Decimal("25.50"),
                                     code=code, expires=None)
            inserts.append(insert)
        return inserts

    return make


# --- formatting -----------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "amount", "currency", "locale", "expected"), [
    ("amount", "10", "EUR", "de_DE", "10,00 €"),
    ("amount", "10", "USD", "en_US", "$10.00"),
    ("percent", "15", None, "de_DE", "15 %"),
    ("percent", "15", None, "en_US", "15%"),
    ("percent", "12.5", None, "de_DE", "12,5 %"),
    ("amount", "5", "GBP", "en_GB", "£5.00"),
    ("amount", "10", "CHF", "de_CH", "CHF 10.00"),
    ("amount", "1250.5", "EUR", "de_DE", "1.250,50 €"),
])
def test_value_formatting(kind: str, amount: str, currency: str | None, locale: str,
                          expected: str) -> None:
    assert plain(format_value(kind, Decimal(amount), currency, locale)) == expected


def test_german_keeps_babels_no_break_space() -> None:
    assert format_value("percent", Decimal(15), None, "de_DE") == "15\u00a0%"
    assert format_value("amount", Decimal(10), "EUR", "de_DE") == "10,00\u00a0€"


@pytest.mark.parametrize(("locale", "expiry", "until"), [
    ("de_DE", "31.12.2026", "gültig bis 31.12.2026"),
    ("en_US", "Dec 31, 2026", "valid until Dec 31, 2026"),
    ("en_GB", "31 Dec 2026", "valid until 31 Dec 2026"),
    ("de_CH", "31.12.2026", "gültig bis 31.12.2026"),
    ("sv_SE", "31 dec. 2026", "valid until 31 dec. 2026"),  # no wording yet: English
])
def test_expiry_formats(locale: str, expiry: str, until: str) -> None:
    day = date(2026, 12, 31)
    assert plain(format_expiry(day, locale)) == expiry
    assert plain(valid_until(day, locale)) == until


@pytest.mark.parametrize(("url", "code", "expected"), [
    ("https://s.example/r/{code}", "K7QM-3XW9", "https://s.example/r/K7QM-3XW9"),
    ("https://s.example/r?c={code}&x=1", "A B", "https://s.example/r?c=A%20B&x=1"),
    ("https://s.example/r", "K7QM-3XW9", "https://s.example/r?code=K7QM-3XW9"),
    ("https://s.example/r?src=card", "K7QM", "https://s.example/r?src=card&code=K7QM"),
    ("https://s.example/r#top", "A&B=C", "https://s.example/r?code=A%26B%3DC#top"),
    ("https://s.example/", "ä", "https://s.example/?code=%C3%A4"),
])
def test_redeem_link(url: str, code: str, expected: str) -> None:
    assert redeem_link(url, code) == expected


# --- sizes ----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "width", "height"), [
    ("a7", 105, 74), ("business-card", 85, 55), ("dl-third", 210, 99),
])
def test_insert_sizes_are_data(name: str, width: float, height: float) -> None:
    size = insert_size(name)
    assert (size.width_mm, size.height_mm) == (width, height)
    assert size.per_sheet >= 1 and size.description


@pytest.mark.parametrize("size", list(insert_sizes().values()), ids=lambda s: s.name)
def test_grid_fits_the_sheet_and_marks_stay_outside_the_inserts(size: InsertSize) -> None:
    cells = [size.cell(slot) for slot in range(size.per_sheet)]
    for x, y in cells:
        assert MIN_MARGIN_MM <= x and x + size.width_mm <= size.sheet_width_mm - MIN_MARGIN_MM
        assert MIN_MARGIN_MM <= y and y + size.height_mm <= size.sheet_height_mm - MIN_MARGIN_MM
    for (x0, y0), (x1, y1) in zip(cells, cells[1:], strict=False):  # row by row, no overlap
        assert (y1, x1) > (y0, x0)
        assert x1 >= x0 + size.width_mm or y1 >= y0 + size.height_mm
    marks = crop_marks(size)
    cut_xs = {round(x + d, 6) for x, _ in cells for d in (0, size.width_mm)}
    cut_ys = {round(y + d, 6) for _, y in cells for d in (0, size.height_mm)}
    assert len(marks) == 2 * (len(cut_xs) + len(cut_ys))  # both ends of every cut line
    assert {round(m[0], 6) for m in marks if m[0] == m[2]} == cut_xs
    assert {round(m[1], 6) for m in marks if m[1] == m[3]} == cut_ys
    for x0, y0, x1, y1 in marks:
        for px, py in np.linspace((x0, y0), (x1, y1), 9):
            assert 4.0 <= px <= size.sheet_width_mm - 4 and 4 <= py <= size.sheet_height_mm - 4
            for cx, cy in cells:  # clear of every insert by the offset
                inside_x = cx - CROP_OFFSET_MM + 1e-9 < px < cx + size.width_mm + CROP_OFFSET_MM
                inside_y = cy - CROP_OFFSET_MM + 1e-9 < py < cy + size.height_mm + CROP_OFFSET_MM
                assert not (inside_x and inside_y)


def test_a_grid_without_room_for_crop_marks_is_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        InsertSize("dl-3up", "three DL thirds", 210.0, 99.0, 1, 3, 0.0)


# --- errors ---------------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "message"), [
    ({"code": ""}, "code is empty"),
    ({"code": None}, "code is empty"),
    ({"code": "SORRY 10€"}, r"' ', '€'"),
    ({"shop_name": "  "}, "shop name is empty"),
    ({"shop_name": "東京 Kwiaty"}, r"'東' \(U\+6771 CJK UNIFIED IDEOGRAPH-6771\)"),
    ({"kind": "gift"}, "unknown coupon kind 'gift'"),
    ({"amount": Decimal(0)}, "more than 0"),
    ({"amount": "zehn"}, "not a number"),
    ({"kind": "percent", "amount": Decimal(120), "currency": None}, "more than 100"),
    ({"amount": Decimal("10.005")}, r"more decimals than EUR \(2\)"),
    ({"currency": None}, "needs a currency"),
    ({"currency": "EUX"}, "unknown currency 'EUX'"),
    ({"locale": "xx_XX"}, "unknown locale 'xx_XX'"),
    ({"redeem_url": "javascript:alert(1)"}, "not an http"),
])
def test_bad_inserts_are_refused_naming_the_problem(make_insert, overrides: dict,
                                                    message: str) -> None:
    with pytest.raises(CouponError, match=message):
        make_insert(**overrides)


def test_currency_and_code_are_normalised(make_insert) -> None:
    insert = make_insert(currency=" eur", code="  K7QM-3XW9 ", amount=10)
    assert insert.currency == "EUR" and insert.code == "K7QM-3XW9"
    assert insert.amount == Decimal(10) and isinstance(insert.amount, Decimal)
    assert insert.sender_lines == ("Bäckerei Süß · Hauptstraße 5 · 10115 Berlin",)


def test_unknown_size_lists_the_known_ones(make_insert) -> None:
    with pytest.raises(UnknownInsertSizeError, match=r"'a8'.*a7, business-card, dl-third"):
        coupons_pdf([make_insert()], "a8")
    assert issubclass(UnknownInsertSizeError, CouponError)


def test_no_inserts_is_an_error() -> None:
    with pytest.raises(CouponError, match="no coupon inserts"):
        coupons_pdf([], "a7")


def test_text_too_long_for_the_size_says_which(make_insert) -> None:
    long_name = "Konditorei und Feinbäckerei " * 4
    with pytest.raises(CouponError, match=r"shop name .* too long for a business-card insert"):
        layout_insert(make_insert(shop_name=long_name), insert_size("business-card"))


def test_qr_modules_are_big_enough(make_insert) -> None:
    for size in insert_sizes().values():
        qr = layout_insert(make_insert(), size).qr
        assert qr is not None and qr.module_mm >= QR_MIN_MODULE_MM
    with pytest.raises(CouponError, match="too long for a QR code"):
        layout_insert(make_insert(redeem_url="https://s.example/" + "x" * 400),
                      insert_size("business-card"))


# --- the PDF --------------------------------------------------------------------------

def texts_by_page(pdf: bytes) -> list[list[tuple[str, float, float]]]:
    """Each page's text runs as ``(text, x_mm, y_mm)``, origin top-left, y down."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    pages = []
    for page in reader.pages:
        height_pt = float(page.mediabox.height)
        runs: list[tuple[str, float, float]] = []

        def visit(text, cm, tm, font, size, runs=runs, height_pt=height_pt):
            if text.strip():
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                runs.append((plain(text), x / PT_PER_MM, (height_pt - y) / PT_PER_MM))

        page.extract_text(visitor_text=visit)
        pages.append(runs)
    return pages


@pytest.mark.parametrize("name", ["business-card", "a7"])
def test_texts_of_each_insert_are_in_its_cell_in_card_order(batch, name: str) -> None:
    size = insert_size(name)
    inserts = batch(size.per_sheet + 2)  # a full sheet and a started one
    pages = texts_by_page(coupons_pdf(inserts, size))
    assert len(pages) == 2
    for index, insert in enumerate(inserts):
        runs = pages[index // size.per_sheet]
        cx, cy = size.cell(index % size.per_sheet)
        wanted = [plain(insert.shop_name), plain(insert.value_text), insert.code]
        if insert.expiry_text:
            wanted.append(plain(insert.expiry_text))
        if insert.order_mark:
            wanted.append(plain(insert.order_mark))
        for text in wanted:
            where = [(x, y) for t, x, y in runs if t == text]
            assert where, f"{text!r} of insert {index} is missing"
            assert any(cx < x < cx + size.width_mm and cy < y < cy + size.height_mm
                       for x, y in where), f"{text!r} of insert {index} is outside its cell"


def test_german_characters_survive(make_insert) -> None:
    runs = texts_by_page(coupons_pdf([make_insert()], "a7"))[0]
    texts = {t for t, _, _ in runs}
    assert {"Bäckerei „Süß“", "10,00 €", "gültig bis 31.12.2026",
            "Bäckerei Süß · Hauptstraße 5 · 10115 Berlin", "17/120 · a1b2c3d4"} <= texts


def test_polish_and_turkish_names_print(make_insert) -> None:
    insert = make_insert(shop_name="Kwiaciarnia Łódź",
                         sender_lines=("Aylin Şahin", "ul. Łąkowa 5 · 90-001 Łódź"))
    texts = {t for t, _, _ in texts_by_page(coupons_pdf([insert], "a7"))[0]}
    assert {"Kwiaciarnia Łódź", "Aylin Şahin", "ul. Łąkowa 5 · 90-001 Łódź"} <= texts


def test_same_input_same_bytes(batch) -> None:
    inserts = batch(5)
    first = coupons_pdf(inserts, "business-card")
    assert first.startswith(b"%PDF")
    assert coupons_pdf(list(inserts), "business-card") == first
    changed = [replace(inserts[0], order_mark="1/5 · ffffffff"), *inserts[1:]]
    assert coupons_pdf(changed, "business-card") != first


def rasterise(pdf: bytes, tmp_path) -> list[Image.Image]:
    need_tool(shutil.which("pdftoppm") is not None,
              "pdftoppm is not installed (apt-get install poppler-utils)")
    source = tmp_path / "coupons.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", "-png", str(source),
                    str(tmp_path / "page")], check=True, timeout=60)
    return [Image.open(path) for path in sorted(tmp_path.glob("page-*.png"))]


@pytest.mark.parametrize("name", ["business-card", "dl-third"])
def test_every_qr_code_decodes_to_its_link(batch, tmp_path, name: str) -> None:
    size = insert_size(name)
    inserts = batch(size.per_sheet + 1)
    pages = rasterise(coupons_pdf(inserts, size), tmp_path)
    assert len(pages) == 2
    px = DPI / 25.4
    for index, insert in enumerate(inserts):
        x, y = size.cell(index % size.per_sheet)
        cell = pages[index // size.per_sheet].crop(
            (round(x * px), round(y * px),
             round((x + size.width_mm) * px), round((y + size.height_mm) * px)))
        found = zxingcpp.read_barcodes(cell, formats=zxingcpp.BarcodeFormat.QRCode)
        assert [code.text for code in found] == [insert.link], f"insert {index}"
    assert inserts[1].link == f"https://books.example/r/{inserts[1].code}"


def test_without_redeem_url_no_qr_and_the_text_has_the_width(make_insert) -> None:
    layout = layout_insert(make_insert(redeem_url=None), insert_size("business-card"))
    assert layout.qr is None
    assert make_insert(redeem_url=None).link is None
