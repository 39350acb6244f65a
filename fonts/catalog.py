"""The fonts penpost ships: which file, what style, whether joined, under which licence.

Fonts are loaded from ``fonts/data/`` and completed by :func:`fonts.compose.complete_font`
(„ ‚ ‘ ’ … § Þ ð þ added, broken glyphs redrawn) so every bundled font writes all of
:data:`fonts.charset.REQUIRED_CHARACTERS`.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fonts.charset import REQUIRED_CHARACTERS
from fonts.compose import complete_font, composed_characters
from fonts.model import Font
from fonts.svgfont import read_svg_font

DATA_DIR = Path(__file__).parent / "data"

# shape source for glyphs no bundled font has (§ Þ ð þ, a ß that reads as B); not listed
DONOR_FILE = "TwinSans.svg"


@dataclass(frozen=True)
class BundledFont:
    """One font shipped in ``fonts/data/``.

    ``joined``: a connected script whose letters the layout joins into one pen-down
    stroke per word. ``licence_files``: the licence texts beside the font, which must
    travel with it.
    """

    name: str
    file: str
    style: str
    joined: bool
    licence: str
    licence_files: tuple[str, ...]


CATALOG: tuple[BundledFont, ...] = (
    BundledFont(
        name="hershey-script",
        file="HersheyScript1.svg",
        style="joined cursive, true single line (Hershey Script 1-stroke)",
        joined=True,
        licence="Hershey fonts: free use, acknowledgement travels with the data",
        licence_files=("HERSHEY-ACKNOWLEDGEMENT.txt",),
    ),
    BundledFont(
        name="allure",
        file="EMSAllure.svg",
        style="formal joined script (EMS Allure, from Allura)",
        joined=True,
        licence="SIL Open Font License 1.1",
        licence_files=("OFL-EMSAllure.txt",),
    ),
    BundledFont(
        name="tech",
        file="EMSTech.svg",
        style="handwritten print (EMS Tech, from Architects Daughter)",
        joined=False,
        licence="SIL Open Font License 1.1",
        licence_files=("OFL-EMSTech.txt",),
    ),
)
_BY_NAME = {entry.name: entry for entry in CATALOG}


class UnknownFontError(KeyError):
    """A font name that is not bundled; the message lists the known ones."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.known = font_names()
        super().__init__(f"unknown font {name!r}; known fonts: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


def font_names() -> list[str]:
    """Names of the bundled fonts, in catalog order.

    >>> font_names()
    ['hershey-script', 'allure', 'tech']
    """
    return [entry.name for entry in CATALOG]


def default_font_name() -> str:
    """The font a card is written in unless it says otherwise: the Hershey script, a true
    single-line joined hand made for pen plotters.
    """
    return "hershey-script"


def bundled_font(name: str) -> BundledFont:
    """The catalog entry for ``name``; :class:`UnknownFontError` if there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownFontError(name) from None


@lru_cache(maxsize=1)
def donor_font() -> Font:
    """Twin Sans, the single-line sans borrowed from for shapes a font lacks (em units)."""
    return read_svg_font(DATA_DIR / DONOR_FILE)


_LOADING = threading.Lock()


def load_font(name: str) -> Font:
    """The bundled font ``name``, completed so it writes every required character, with
    the catalog's ``joined``, ``style`` and ``licence``. Cached: the same object each time.

    Loaded once even when many threads ask at the same moment (the API's first requests):
    the others wait for it instead of each completing the font again, which, all
    competing for the interpreter, took seconds."""
    with _LOADING:
        return _load_font(name)


@lru_cache(maxsize=16)  # a handful of bundled fonts: never evicts
def _load_font(name: str) -> Font:
    entry = bundled_font(name)
    font = complete_font(read_svg_font(DATA_DIR / entry.file), donor=donor_font())
    return dataclasses.replace(
        font, name=entry.name, joined=entry.joined, style=entry.style, licence=entry.licence
    )


@dataclass(frozen=True)
class FontInfo:
    """One row of ``penpost fonts``."""

    name: str
    style: str
    joined: bool
    licence: str
    glyphs: int  # characters the completed font draws
    complete: bool  # whether it draws every character of REQUIRED_CHARACTERS
    composed: str  # characters penpost composed, borrowed or redrew, in catalog order
    default: bool


def font_info() -> list[FontInfo]:
    """A row per bundled font for the ``penpost fonts`` listing."""
    rows = []
    for entry in CATALOG:
        font = load_font(entry.name)
        rows.append(FontInfo(
            name=entry.name,
            style=entry.style,
            joined=entry.joined,
            licence=entry.licence,
            glyphs=len(font.glyphs),
            complete=not font.missing(REQUIRED_CHARACTERS),
            composed="".join(composed_characters(font)),
            default=entry.name == default_font_name(),
        ))
    return rows
