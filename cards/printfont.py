"""The font of printed text: the address page of the preview, label sheets, coupon inserts.

DejaVu Sans and DejaVu Sans Bold (``fonts/data/DejaVuSans*.ttf``, from Debian's
``fonts-dejavu-core``; Bitstream Vera licence, DejaVu's changes in the public domain,
``fonts/data/DejaVu-LICENCE.txt``), registered with reportlab once, at import, and
embedded in each PDF as a subset of the characters it uses. The PDF standard fonts end at
WinAnsi (Latin-1 and a few more), which cannot print a customer called Aylin Şahin or
Łukasz Nowak; DejaVu Sans covers about 5900 characters: every Latin script, Greek,
Cyrillic and more. What it lacks (CJK, Indic scripts, ...) :func:`missing` names, so the
job service can refuse it before a job is stored.

reportlab's subsets are deterministic (named ``AAAAAA+DejaVuSans``, ``BAAAAA+...``,
codes in order of first use), so the same text gives the same PDF bytes.
"""

from __future__ import annotations

import unicodedata

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from fonts.catalog import DATA_DIR
from fonts.charset import describe_character

REGULAR = "DejaVuSans"  # the names reportlab knows them by (setFont, stringWidth)
BOLD = "DejaVuSans-Bold"
FILES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}
LICENCE_FILE = "DejaVu-LICENCE.txt"
# controls, format characters (soft hyphen, zero-width space, bidi marks), line and
# paragraph separators, surrogates, private use, unassigned: nothing a line can show
_NOT_PRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _register() -> dict[str, TTFont]:
    fonts = {}
    for name, file in FILES.items():
        font = TTFont(name, str(DATA_DIR / file))
        pdfmetrics.registerFont(font)
        fonts[name] = font
    return fonts


# at import, under Python's import lock: one font object per name in every thread (two
# objects of one name in a document would make its font resources differ from run to run)
_FONTS = _register()


def can_print(char: str, font: str = REGULAR) -> bool:
    """Whether ``font`` draws ``char``: it is in the font's cmap (reportlab would draw the
    empty .notdef box for anything else) and is not a control or format character. A
    no-break space is fine: reportlab sets it as a space."""
    if unicodedata.category(char) in _NOT_PRINTABLE:
        return False
    return char == "\u00a0" or ord(char) in _FONTS[font].face.charToGlyph


def missing(text: str, fonts: tuple[str, ...] = (REGULAR,)) -> list[str]:
    """The characters of ``text`` that one of ``fonts`` cannot print, each once, in order.

    >>> missing("Aylin Şahin, Łukasz Nowak, 中村")
    ['中', '村']
    """
    return [char for char in dict.fromkeys(text)
            if not all(can_print(char, font) for font in fonts)]


def describe(chars: list[str]) -> str:
    """``'中' (U+4E2D CJK UNIFIED IDEOGRAPH-4E2D), …``: the characters as a person finds
    them again."""
    return ", ".join(describe_character(char) for char in chars)
