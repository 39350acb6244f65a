"""Breaking a card's text into lines: word wrap, paragraphs, and hyphenation of long words.

Widths are in em units of the font (so one wrap serves every handwriting size: the line
width in em is the writable width divided by the em size in mm). German and English words
are hyphenated with pyphen's dictionaries (LibreOffice's hyphenation patterns), and only
where a person would: when the line would otherwise end far too early, or the word is
longer than a whole line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import pyphen

HYPHEN = "-"
LANGUAGES = {"de": "de_DE", "en": "en_US", "en-gb": "en_GB", "en-us": "en_US", "de-de": "de_DE",
             "de-at": "de_AT", "de-ch": "de_CH"}
SHORT_LINE = 0.72  # hyphenate when the line would end before this fraction of its width

Measure = Callable[[str], float]


@dataclass(frozen=True)
class Line:
    """One written line: its text, the block it belongs to, and the gap before it in
    lines (0 for the next line of a paragraph)."""

    text: str
    kind: str  # greeting, body, closing or signature
    gap_before: float


class UnknownLanguageError(ValueError):
    """A language with no hyphenation dictionary; names the known ones."""


@lru_cache(maxsize=8)
def hyphenator(language: str) -> pyphen.Pyphen:
    """pyphen's hyphenator for ``language`` (``de``, ``en``, ``de-ch`` …)."""
    key = LANGUAGES.get(language.lower(), language)
    if key not in pyphen.LANGUAGES:
        raise UnknownLanguageError(
            f"no hyphenation dictionary for language {language!r}; "
            f"known: {', '.join(sorted(LANGUAGES))}"
        )
    return pyphen.Pyphen(lang=key, left=2, right=3)


def _split_core(word: str) -> tuple[str, str, str]:
    """Leading punctuation, the letters in between, trailing punctuation."""
    start, end = 0, len(word)
    while start < end and not word[start].isalnum():
        start += 1
    while end > start and not word[end - 1].isalnum():
        end -= 1
    return word[:start], word[start:end], word[end:]


def hyphenate(word: str, available: float, measure: Measure, language: str,
              *, force: bool = False) -> tuple[str, str] | None:
    """Split ``word`` as ``(head + '-', tail)`` with the longest head that fits
    ``available`` (em), at a dictionary break point. A word that already contains a
    hyphen breaks after it. ``force`` breaks between any two letters when no dictionary
    point fits (for a word longer than a line). None when nothing fits.
    """
    lead, core, trail = _split_core(word)
    positions: list[int] = []
    if "-" in word[:-1]:
        positions = [i + 1 for i, c in enumerate(word[:-1]) if c == "-" and i > 0]
        candidates = [(word[:p], word[p:]) for p in positions]
    else:
        candidates = []
        if len(core) >= 5:
            for p in hyphenator(language).positions(core):
                candidates.append((lead + core[:p] + HYPHEN, core[p:] + trail))
    for head, tail in sorted(candidates, key=lambda ht: -len(ht[0])):
        if measure(head) <= available:
            return head, tail
    if force:
        for cut in range(len(word) - 1, 0, -1):
            head = word[:cut] + HYPHEN
            if measure(head) <= available:
                return head, word[cut:]
    return None


def wrap_paragraph(words: Sequence[str], width: float, measure: Measure, space: float,
                   language: str) -> list[str]:
    """Greedy wrap of ``words`` into lines no wider than ``width`` (em); returns the lines'
    text. Raises ValueError when a single letter is wider than the line."""
    lines: list[str] = []
    current: list[str] = []
    used = 0.0
    queue = list(words)
    while queue:
        word = queue.pop(0)
        w = measure(word)
        need = w + (space if current else 0.0)
        if used + need <= width:
            current.append(word)
            used += need
            continue
        available = width - used - (space if current else 0.0)
        too_long = w > width
        if too_long or (used < SHORT_LINE * width and available > 0):
            split = hyphenate(word, available, measure, language, force=too_long and not current)
            if split is not None:
                head, tail = split
                current.append(head)
                lines.append(" ".join(current))
                current, used = [], 0.0
                queue.insert(0, tail)
                continue
        if not current:
            raise ValueError(f"the word {word!r} cannot be written on one line at this size")
        lines.append(" ".join(current))
        current, used = [], 0.0
        queue.insert(0, word)
    if current:
        lines.append(" ".join(current))
    return lines


def hard_lines(blocks: Sequence[tuple[str, str]], *, block_gap: float = 0.6,
               paragraph_gap: float = 0.45) -> list[Line]:
    """The card's blocks (``(kind, text)`` pairs: greeting, body, closing, signature) as
    the lines their writer forced, before any wrapping: one per paragraph line, with the
    gap before it (in line pitches). Blank lines separate paragraphs (several count as
    one); a single newline is a forced line break."""
    out: list[Line] = []
    for kind, text in blocks:
        if not text.strip():
            continue
        gap = block_gap if out else 0.0
        if kind == "signature":
            gap = 0.15 if out else 0.0
        for p_index, paragraph in enumerate(_paragraphs(text)):
            if p_index:
                gap = paragraph_gap
            for hard in paragraph:
                out.append(Line(text=hard, kind=kind, gap_before=gap))
                gap = 0.0
    return out


def wrap_blocks(blocks: Sequence[tuple[str, str]], width: float, measure: Measure, space: float,
                language: str, *, block_gap: float = 0.6, paragraph_gap: float = 0.45) -> list[Line]:
    """Wrap the card's blocks (``(kind, text)`` pairs: greeting, body, closing, signature)
    into lines no wider than ``width`` (em): each of its :func:`hard_lines` wrapped, the
    first keeping the gap before it."""
    return wrap_hard_lines(hard_lines(blocks, block_gap=block_gap, paragraph_gap=paragraph_gap),
                           width, measure, space, language)


def wrap_hard_lines(hard: Sequence[Line], width: float, measure: Measure, space: float,
                    language: str) -> list[Line]:
    """Each of the :func:`hard_lines` ``hard`` wrapped into lines no wider than ``width``
    (em), the first of each keeping the gap before it."""
    out: list[Line] = []
    for hard_line in hard:
        words = hard_line.text.split()
        wrapped = wrap_paragraph(words, width, measure, space, language) if words else [""]
        gap = hard_line.gap_before
        for text_line in wrapped:
            out.append(Line(text=text_line, kind=hard_line.kind, gap_before=gap))
            gap = 0.0
    return out


def _paragraphs(text: str) -> list[list[str]]:
    paragraphs: list[list[str]] = [[]]
    for raw in text.strip("\n").split("\n"):
        if raw.strip() == "":
            if paragraphs[-1]:
                paragraphs.append([])
            continue
        paragraphs[-1].append(raw)
    return [p for p in paragraphs if p]
