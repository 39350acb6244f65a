"""The bundled fonts registry: names, errors, caching and the licences beside the files."""

from __future__ import annotations

import re

import pytest

from fonts.catalog import (
    CATALOG,
    DATA_DIR,
    DONOR_FILE,
    UnknownFontError,
    default_font_name,
    font_info,
    font_names,
    load_font,
)


def test_font_names():
    assert font_names() == ["hershey-script", "allure", "tech"]
    assert all(re.fullmatch(r"[a-z][a-z-]*", name) for name in font_names())


def test_default_font_is_bundled():
    assert default_font_name() in font_names()


def test_unknown_font_error_lists_the_known_fonts():
    with pytest.raises(UnknownFontError) as caught:
        load_font("comic-sans")
    message = str(caught.value)
    assert "comic-sans" in message
    assert all(name in message for name in font_names())
    assert isinstance(caught.value, KeyError)


def test_load_font_caches():
    assert load_font("tech") is load_font("tech")


@pytest.mark.parametrize("name", font_names())
def test_loaded_font_carries_the_catalog_data(name):
    entry = next(e for e in CATALOG if e.name == name)
    font = load_font(name)
    assert font.name == name
    assert font.joined is entry.joined
    assert font.style == entry.style
    assert font.licence == entry.licence
    assert font.source == entry.file


def test_joined_scripts():
    assert [e.name for e in CATALOG if e.joined] == ["hershey-script", "allure"]


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.name)
def test_licence_files_exist_beside_each_font(entry):
    assert (DATA_DIR / entry.file).is_file()
    for licence in entry.licence_files:
        text = (DATA_DIR / licence).read_text(encoding="utf-8")
        if licence.startswith("OFL"):
            assert "SIL OPEN FONT LICENSE Version 1.1" in text
            assert "<Copyright Holder>" not in text  # the template was filled in
            assert "Sheldon B. Michaels" in text
        else:
            assert "A. V. Hershey" in text and "James Hurt" in text


def test_donor_licences_exist():
    assert (DATA_DIR / DONOR_FILE).is_file()
    assert "Keith Packard" in (DATA_DIR / "OFL-TwinSans.txt").read_text(encoding="utf-8")
    assert (DATA_DIR / "README.md").is_file()


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.name)
def test_svg_metadata_is_intact(entry):
    text = (DATA_DIR / entry.file).read_text(encoding="utf-8")
    metadata = re.search(r"<metadata>(.*?)</metadata>", text, re.S)
    assert metadata is not None
    assert "Hershey" in metadata.group(1) or "SIL Open Font License" in metadata.group(1)


def test_font_info_rows():
    rows = font_info()
    assert [row.name for row in rows] == font_names()
    assert all(row.complete for row in rows)
    assert all(row.glyphs > 200 for row in rows)
    assert [row.default for row in rows].count(True) == 1
    by_name = {row.name: row for row in rows}
    assert "„" in by_name["allure"].composed
    assert "Å" in by_name["hershey-script"].composed
    assert "ß" in by_name["tech"].composed
    assert "ß" not in by_name["allure"].composed


def test_threads_asking_at_once_share_one_load():
    """The API's first requests arrive together: the font is completed once, and every
    thread gets that one object."""
    import threading

    from fonts.catalog import _load_font

    _load_font.cache_clear()
    start = threading.Barrier(4)
    got: list[object] = []

    def ask() -> None:
        start.wait()
        got.append(load_font("allure"))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and all(font is got[0] for font in got)
    assert _load_font.cache_info().misses == 1
