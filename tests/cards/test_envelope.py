"""Envelopes: where the post reads, ink inside its areas, fitting, errors, determinism and
G-code round trips."""

from __future__ import annotations

import pytest

from cards.address import PostalAddress, address_lines
from cards.envelope import (
    AddressTooLongError,
    EnvelopeFormat,
    UnknownEnvelopeFormatError,
    WritingArea,
    envelope_format,
    envelope_formats,
    layout_envelope,
)
from fonts.catalog import font_names, load_font
from fonts.charset import UnsupportedCharactersError
from plotter.profile import load_profile
from tests.plotter.test_gcode import assert_round_trip

INCH = 25.4
SENDER = ["Blumenladen Rosa", "Gartenweg 3", "10115 Berlin"]
ADDRESSES = [
    PostalAddress("Erika Mustermann", company="Blumen Müller GmbH & Co. KG",
                  street_lines=("Heidestraße 17",), postcode="51147", city="Köln"),
    PostalAddress("Max Mustermann", street_lines=("Hauptstraße 1/2/3",), postcode="1010",
                  city="Wien", country="AT"),
    PostalAddress("Jane Smith", street_lines=("10 Downing Street",), postcode="SW1A 2AA",
                  city="London", country="GB"),
    PostalAddress("John Doe", street_lines=("1600 Pennsylvania Ave NW",), postcode="20500",
                  city="Washington", region="DC", country="US"),
]
GERMAN_POST = ["c6", "dl", "c5"]
USPS = ["us-a7", "us-10"]


def longest_address() -> list[str]:
    """The test address whose longest line is longest (the hardest to fit)."""
    written = [address_lines(a) for a in ADDRESSES]
    return max(written, key=lambda lines: (max(map(len, lines)), len(lines)))


def test_formats_are_loaded() -> None:
    formats = envelope_formats()
    assert set(GERMAN_POST + USPS) <= set(formats)
    assert (formats["c6"].width_mm, formats["c6"].height_mm) == (162, 114)
    assert (formats["dl"].width_mm, formats["dl"].height_mm) == (220, 110)
    assert (formats["c5"].width_mm, formats["c5"].height_mm) == (229, 162)
    assert formats["us-a7"].width_mm == pytest.approx(7.25 * INCH)
    assert formats["us-10"].height_mm == pytest.approx(4.125 * INCH)


@pytest.mark.parametrize("name", GERMAN_POST)
def test_recipient_area_in_deutsche_posts_reading_zone(name: str) -> None:
    env = envelope_format(name)
    area = env.recipient
    assert area.y_mm >= 40 and area.x_mm >= 15  # below stamp and sender zone
    assert area.x_mm + area.width_mm <= env.width_mm - 15
    assert area.y_mm + area.height_mm <= env.height_mm - 15  # above the coding zone
    assert area.width_mm <= 100
    assert area.x_mm + area.width_mm / 2 > env.width_mm / 2  # the right part


@pytest.mark.parametrize("name", USPS)
def test_recipient_area_in_the_usps_ocr_read_area(name: str) -> None:
    env = envelope_format(name)
    area = env.recipient
    assert area.x_mm >= INCH / 2 and area.x_mm + area.width_mm <= env.width_mm - INCH / 2
    assert area.y_mm >= env.height_mm - 2.75 * INCH
    assert area.y_mm + area.height_mm <= env.height_mm - 5 / 8 * INCH
    centre = area.x_mm + area.width_mm / 2
    assert centre == pytest.approx(env.width_mm / 2)


@pytest.mark.parametrize("name", sorted(envelope_formats()))
def test_sender_area_is_small_and_top_left(name: str) -> None:
    env = envelope_format(name)
    sender, recipient = env.sender, env.recipient
    assert sender.x_mm + sender.width_mm <= env.width_mm / 2 + 1e-9
    assert sender.y_mm + sender.height_mm < recipient.y_mm
    assert sender.max_x_height_mm < recipient.max_x_height_mm


@pytest.mark.parametrize("font_name", font_names())
@pytest.mark.parametrize("name", sorted(envelope_formats()))
def test_ink_stays_inside_the_writable_areas(name: str, font_name: str) -> None:
    env = envelope_format(name)
    layout = layout_envelope(longest_address(), SENDER, load_font(font_name), env, seed=7)
    assert env.recipient.contains(layout.recipient.bounds())
    assert env.sender.contains(layout.sender.bounds())
    assert len(layout.drawing) == len(layout.recipient) + len(layout.sender)
    assert (layout.drawing.width_mm, layout.drawing.height_mm) == (env.width_mm, env.height_mm)
    area = env.recipient
    assert area.min_x_height_mm <= layout.recipient_x_height_mm <= area.max_x_height_mm


def test_a_short_address_gets_the_largest_size() -> None:
    env = envelope_format("c5")
    layout = layout_envelope(["Eva Ott", "Ring 1", "12345 Au"], ["Rosa"], load_font("tech"),
                             env, seed=1)
    assert layout.recipient_x_height_mm == pytest.approx(env.recipient.max_x_height_mm)
    assert layout.sender_x_height_mm == pytest.approx(env.sender.max_x_height_mm)


def test_a_longer_address_gets_a_smaller_size() -> None:
    font, env = load_font("hershey-script"), envelope_format("c6")
    short = layout_envelope(["Eva Ott", "Ring 1", "12345 Au"], [], font, env, seed=1)
    long = layout_envelope(longest_address(), [], font, env, seed=1)
    assert long.recipient_x_height_mm < short.recipient_x_height_mm
    assert long.sender is None and long.sender_x_height_mm is None


def test_same_seed_same_svg_other_seed_other_svg() -> None:
    font, env = load_font("hershey-script"), envelope_format("dl")
    lines = longest_address()
    first = layout_envelope(lines, SENDER, font, env, seed=42).drawing.to_svg()
    assert first == layout_envelope(lines, SENDER, font, env, seed=42).drawing.to_svg()
    assert first != layout_envelope(lines, SENDER, font, env, seed=43).drawing.to_svg()


@pytest.mark.parametrize("name", sorted(envelope_formats()))
def test_envelope_gcode_round_trips(name: str) -> None:
    layout = layout_envelope(longest_address(), SENDER, load_font("allure"),
                             envelope_format(name), seed=3)
    assert_round_trip(layout.drawing, load_profile("grbl-servo"))  # within 0.0006 mm


def test_a_line_too_long_is_named_with_its_excess() -> None:
    line = "Internationale Blumen- und Gartenbaugesellschaft Sonnenschein mbH & Co. KG"
    with pytest.raises(AddressTooLongError) as info:
        layout_envelope(["Erika Mustermann", line, "51147 Köln"], SENDER,
                        load_font("tech"), envelope_format("c6"), seed=1)
    error = info.value
    assert (error.role, error.line, error.envelope) == ("recipient", line, "c6")
    assert error.excess_mm > 10
    assert f"{error.excess_mm:.1f} mm too long" in str(error) and line in str(error)


def test_too_many_lines_say_how_many_fit() -> None:
    with pytest.raises(AddressTooLongError, match=r"has 14 lines where \d+ fit"):
        layout_envelope([f"Zeile {i}" for i in range(14)], SENDER, load_font("tech"),
                        envelope_format("c6"), seed=1)


def test_the_sender_block_is_checked_too() -> None:
    with pytest.raises(AddressTooLongError) as info:
        layout_envelope(["Eva Ott"], ["Blumenladen " * 8], load_font("tech"),
                        envelope_format("dl"), seed=1)
    assert info.value.role == "sender"


def test_characters_the_font_lacks_are_named() -> None:
    with pytest.raises(UnsupportedCharactersError):
        layout_envelope(["山田太郎", "東京"], [], load_font("tech"), envelope_format("dl"), seed=1)


def test_empty_recipient_is_refused() -> None:
    with pytest.raises(ValueError, match="no recipient address"):
        layout_envelope([" ", ""], SENDER, load_font("tech"), envelope_format("dl"), seed=1)


def test_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(UnknownEnvelopeFormatError, match="known formats: c5, c6, dl"):
        envelope_format("b4")


def test_bad_format_data_is_refused() -> None:
    area = WritingArea(10, 10, 50, 20, 1.0, 2.0)
    with pytest.raises(ValueError, match="recipient area leaves"):
        EnvelopeFormat("x", "", 50, 50, recipient=area, sender=area)
