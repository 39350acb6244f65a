"""Which characters penpost must write, how text is normalised before layout, and the
error for characters no font can draw.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

# Everything a German or Western European shop writes: Latin-1 letters, typographic quotes,
# dashes, the ellipsis, the euro, digits and the usual punctuation and symbols.
LETTERS_LATIN1 = "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ"
ASCII_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
TYPOGRAPHY = "„“”‚‘’«»‹›–—…€£¥¢§°©®™·•×÷±¹²³¼½¾¿¡ªº¶¦¬"
REQUIRED_CHARACTERS = ASCII_PRINTABLE + LETTERS_LATIN1 + "„“”‚‘’«»–—…€§"

# Substitutions that keep the meaning: applied before layout, documented in the README.
SUBSTITUTIONS: dict[str, str] = {
    "\u00a0": " ",  # no-break space
    "\u2007": " ",  # figure space
    "\u202f": " ",  # narrow no-break space (as in "10 €" typed by French/German software)
    "\u2009": " ",  # thin space
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\t": " ",  # a tab in a message is a space in handwriting
    "\u00ad": "",  # soft hyphen: the layout hyphenates by itself
    "\u200b": "",  # zero-width space
    "\u2060": "",  # word joiner
    "\ufeff": "",  # byte-order mark
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "–",  # figure dash
    "\u2212": "-",  # minus sign
    "\u2024": ".",  # one-dot leader
    "\u2032": "'",  # prime
    "\u2033": '"',  # double prime
    "\u201f": "“",  # double high-reversed-9 quote
    "\u201b": "‘",  # single high-reversed-9 quote
    "\r\n": "\n",
    "\r": "\n",
}


class UnsupportedCharactersError(ValueError):
    """Characters the font cannot draw, each named with its code point."""

    def __init__(self, chars: Iterable[str], font_name: str) -> None:
        self.chars = list(dict.fromkeys(chars))
        self.font_name = font_name
        super().__init__(
            f"font {font_name!r} cannot write "
            + ", ".join(describe_character(c) for c in self.chars)
        )


def describe_character(char: str) -> str:
    """``'😀' (U+1F600 GRINNING FACE)``: a character as a person can find it again."""
    name = unicodedata.name(char, "unnamed character")
    shown = char if char.isprintable() and not char.isspace() else ""
    code = f"U+{ord(char):04X}"
    return f"{shown!r} ({code} {name})" if shown else f"{code} {name}"


def normalize_text(text: str) -> str:
    """NFC-normalised text with :data:`SUBSTITUTIONS` applied (and trailing spaces at
    line ends kept as they are: the layout treats runs of spaces as one word gap).

    >>> normalize_text("10\\u00a0€")
    '10 €'
    """
    text = unicodedata.normalize("NFC", text)
    for old, new in SUBSTITUTIONS.items():
        if old in text:
            text = text.replace(old, new)
    return text
