"""Postal addresses: each country's written form, clear errors, and no other exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cards.address import (
    AddressError,
    PostalAddress,
    address_lines,
    country_name,
    validate_address,
)

# Real-format examples, written by hand from each post's published rules (sent from
# Germany unless said otherwise): Deutsche Post / DIN 5008 (no country line at home, the
# destination's town and country in capitals abroad, no "CH-" before a postcode),
# Royal Mail (post town in capitals, postcode on a line of its own), La Poste (town in
# capitals), USPS ("CITY, ST ZIP" on the last line), PostNL (postcode "1234 AB").
EXAMPLES = [
    pytest.param(
        PostalAddress("Erika Mustermann", street_lines=("Heidestraße 17",), postcode="51147",
                      city="Köln"),
        "DE",
        ["Erika Mustermann", "Heidestraße 17", "51147 Köln"],
        id="DE-domestic"),
    pytest.param(
        PostalAddress("Erika Mustermann", company="Blumen Müller GmbH",
                      street_lines=("Heidestraße 17", "Hinterhaus"), postcode="51147",
                      city="Köln"),
        "DE",
        ["Erika Mustermann", "Blumen Müller GmbH", "Heidestraße 17", "Hinterhaus",
         "51147 Köln"],
        id="DE-company"),
    pytest.param(
        PostalAddress("Max Mustermann", street_lines=("Hauptstraße 1/2/3",), postcode="1010",
                      city="Wien", country="AT"),
        "DE",
        ["Max Mustermann", "Hauptstraße 1/2/3", "1010 WIEN", "ÖSTERREICH"],
        id="AT"),
    pytest.param(
        PostalAddress("Peter Muster", street_lines=("Musterstrasse 12",), postcode="3000",
                      city="Bern", country="CH"),
        "DE",
        ["Peter Muster", "Musterstrasse 12", "3000 BERN", "SCHWEIZ"],
        id="CH"),
    pytest.param(
        PostalAddress("Jean Dupont", street_lines=("12 rue de la Paix",), postcode="75002",
                      city="Paris", country="FR"),
        "DE",
        ["Jean Dupont", "12 rue de la Paix", "75002 PARIS", "FRANKREICH"],
        id="FR"),
    pytest.param(
        PostalAddress("Jan Jansen", street_lines=("Keizersgracht 123",), postcode="1015 CJ",
                      city="Amsterdam", country="NL"),
        "DE",
        ["Jan Jansen", "Keizersgracht 123", "1015 CJ AMSTERDAM", "NIEDERLANDE"],
        id="NL"),
    pytest.param(
        PostalAddress("Jane Smith", street_lines=("10 Downing Street",), postcode="sw1a 2aa",
                      city="London", country="GB"),
        "DE",
        ["Jane Smith", "10 Downing Street", "LONDON", "SW1A 2AA", "VEREINIGTES KÖNIGREICH"],
        id="GB"),
    pytest.param(
        PostalAddress("John Doe", street_lines=("1600 Pennsylvania Ave NW",),
                      postcode="20500", city="Washington", region="DC", country="US"),
        "DE",
        ["John Doe", "1600 Pennsylvania Ave NW", "WASHINGTON, DC 20500",
         "VEREINIGTE STAATEN"],
        id="US"),
    pytest.param(
        PostalAddress("John Doe", street_lines=("1 Infinite Loop",), postcode="95014",
                      city="Cupertino", region="California", country="US"),
        "US",
        ["John Doe", "1 Infinite Loop", "CUPERTINO, CA 95014"],
        id="US-domestic"),
    pytest.param(
        PostalAddress("Erika Mustermann", street_lines=("Heidestraße 17",), postcode="51147",
                      city="Köln"),
        "AT",
        ["Erika Mustermann", "Heidestraße 17", "51147 KÖLN", "DEUTSCHLAND"],
        id="DE-from-AT"),
    pytest.param(
        PostalAddress("Erika Mustermann", street_lines=("Heidestraße 17",), postcode="51147",
                      city="Köln"),
        "FR",
        ["Erika Mustermann", "Heidestraße 17", "51147 KÖLN", "ALLEMAGNE"],
        id="DE-from-FR"),
    pytest.param(
        PostalAddress("Erika Mustermann", street_lines=("Heidestraße 17",), postcode="51147",
                      city="Köln"),
        "GB",
        ["Erika Mustermann", "Heidestraße 17", "51147 KÖLN", "GERMANY"],
        id="DE-from-GB"),
]


@pytest.mark.parametrize(("address", "sender", "expected"), EXAMPLES)
def test_lines_as_the_post_wants_them(address: PostalAddress, sender: str,
                                      expected: list[str]) -> None:
    assert address_lines(address, sender_country=sender) == expected


def test_umlauts_and_sharp_s_stay_even_in_capitals() -> None:
    address = PostalAddress("Jörg Weiß", street_lines=("Große Straße 5",), postcode="06667",
                            city="Weißenfels")
    assert address_lines(address) == ["Jörg Weiß", "Große Straße 5", "06667 Weißenfels"]
    assert address_lines(address, sender_country="AT")[-2:] == ["06667 WEIßENFELS",
                                                               "DEUTSCHLAND"]


def test_country_names_in_the_senders_language() -> None:
    assert country_name("AT") == "Österreich"
    assert country_name("NL", "NL") == "Nederland"
    assert country_name("DE", "US") == "Germany"  # babel names no official language for US


def test_postcode_error_names_field_and_rule() -> None:
    bad = PostalAddress("A", street_lines=("B 1",), postcode="1234", city="Berlin")
    with pytest.raises(AddressError) as info:
        validate_address(bad, role="recipient")
    message = str(info.value)
    assert message.startswith("recipient postcode '1234' does not match the postal code "
                              "format of DE (5 digits, e.g. ")
    assert (info.value.field, info.value.rule) == ("postcode", "format")


@pytest.mark.parametrize(("address", "field", "rule", "words"), [
    (PostalAddress("A", street_lines=("B 1",), postcode="12345"), "city", "required",
     "sender city is required for DE"),
    (PostalAddress("A", postcode="12345", city="Berlin"), "street_lines", "required",
     "sender street is required for DE"),
    (PostalAddress("A", street_lines=("B 1",), postcode="10001", city="New York",
                   country="US"), "region", "required",
     "sender region (state) is required for US"),
    (PostalAddress("A", street_lines=("B 1",), postcode="10001", city="New York",
                   region="Kalifornien", country="US"), "region", "invalid",
     "sender region 'Kalifornien' is not a state of US"),
    (PostalAddress("A", street_lines=("B 1",), postcode="10001", city="New York",
                   region="CA", country="US"), "postcode", "format",
     "sender postcode '10001' is not a ZIP code of state CA in US"),
    (PostalAddress("A", street_lines=("B 1",), postcode="12345", city="X", country="XY"),
     "country", "invalid", "sender country 'XY' is not a known ISO 3166 country code"),
    (PostalAddress("", street_lines=("B 1",), postcode="12345", city="Berlin"), "name",
     "required", "sender name (or company) is required"),
    (PostalAddress("A\nB", street_lines=("B 1",), postcode="12345", city="Berlin"), "name",
     "characters", "sender name contains a line break"),
])
def test_errors_name_field_and_rule(address: PostalAddress, field: str, rule: str,
                                    words: str) -> None:
    with pytest.raises(AddressError) as info:
        address_lines(address, role="sender")
    assert words in str(info.value)
    assert (info.value.field, info.value.rule) == (field, rule)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(AddressError) as info:
        validate_address(PostalAddress("A", country="FR"))
    fields = {p.field for p in info.value.problems}
    assert fields == {"street_lines", "postcode", "city"}


def test_validation_normalises() -> None:
    valid = validate_address(PostalAddress(
        "  Jane   Smith ", street_lines=("10 Downing Street", " "), postcode="sw1a 2aa",
        city="London", region="ignored", country="gb"))
    assert valid == PostalAddress("Jane Smith", street_lines=("10 Downing Street",),
                                  postcode="SW1A 2AA", city="London", country="GB")
    us = validate_address(PostalAddress("J", street_lines=("1 Main St",), postcode="95014",
                                        city="Cupertino", region="california", country="US"))
    assert us.region == "CA"


_FIELD = st.text(max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_FIELD, company=st.none() | _FIELD, streets=st.lists(_FIELD, max_size=3),
       postcode=_FIELD | st.from_regex(r"[0-9]{4,5}", fullmatch=True), city=_FIELD,
       region=st.none() | _FIELD,
       country=st.sampled_from(["DE", "AT", "CH", "FR", "NL", "GB", "US", "JP", "CN", "BR",
                                "de", "ZZ", "", "D", "DEU"]) | st.text(max_size=3),
       sender=st.sampled_from(["DE", "US", "FR", "XX"]))
def test_any_fields_give_lines_or_an_address_error(name, company, streets, postcode, city,
                                                   region, country, sender) -> None:
    address = PostalAddress(name, company, tuple(streets), postcode, city, region, country)
    try:
        lines = address_lines(address, sender_country=sender, role="recipient")
    except AddressError as error:
        assert str(error)
        assert error.problems
        return
    assert lines and all(isinstance(line, str) and line == line.strip() and line
                         for line in lines)
    assert not any("\n" in line for line in lines)


@settings(max_examples=100, deadline=None)
@given(name=st.text(st.characters(codec="latin-1", categories=["L"]), min_size=1,
                    max_size=20),
       city=st.text(st.characters(codec="latin-1", categories=["L"]), min_size=1,
                    max_size=20),
       postcode=st.from_regex(r"[0-9]{5}", fullmatch=True))
def test_any_valid_german_address_is_written_as_given(name, city, postcode) -> None:
    address = PostalAddress(name, street_lines=("Hauptstraße 1",), postcode=postcode, city=city)
    assert address_lines(address) == [name, "Hauptstraße 1", f"{postcode} {city}"]
