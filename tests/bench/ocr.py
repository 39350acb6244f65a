"""OCR legibility of rendered cards: Tesseract's reading against the card's text.

Word accuracy is the share of the expected words that Tesseract reads back, in order:
both texts become normalised word lists (casefolded, punctuation removed, words the
layout hyphenated at a line end joined again) and :class:`difflib.SequenceMatcher`
aligns them; a word counts when it lies in a matching block.

Shared by the legibility acceptance test (``tests/e2e/test_legibility.py``) and the
benchmarks (``python -m tests.bench``).
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cards.layout import CardText, layout_card
from cards.preview import PEN_WIDTH_MM, render_png
from fonts.catalog import bundled_font, font_names, load_font
from fonts.variation import Variation
from jobs.render import card_text
from jobs.schema import JobSpec, load_job

TESSERACT = "tesseract"
LANGUAGES = "deu+eng"
# page segmentation 6 ("a single uniform block of text") reads a card best; 4 ("a
# single column of text of variable sizes") is close, 3 (automatic) splits the lines
PSM = 6
DPI = 300

# a word's letters and digits; everything else (quotes, dashes, € and commas) is dropped
_NOT_WORD = re.compile(r"[^\w]|_")
# a line that ends in a hyphen (or a soft hyphen / not sign Tesseract sometimes reads)
_HYPHEN_END = ("-", "\u00ad", "\u00ac", "\u2010", "\u2011")


def tesseract_available() -> bool:
    """Whether the ``tesseract`` command is on the PATH."""
    return shutil.which(TESSERACT) is not None


def normalise_word(word: str) -> str:
    """``word`` casefolded, NFC, with every character that is not a letter or digit dropped.

    >>> normalise_word("„Entschuldigung!“")
    'entschuldigung'
    """
    return _NOT_WORD.sub("", unicodedata.normalize("NFC", word).casefold())


def expected_words(text: str) -> list[str]:
    """The normalised words of a card's text (empty tokens such as a lone dash dropped).

    >>> expected_words("Hallo Herr Weiß, – 10 €")
    ['hallo', 'herr', 'weiss', '10']
    """
    return [w for w in (normalise_word(t) for t in text.split()) if w]


def ocr_words(text: str) -> list[str]:
    """The normalised words of Tesseract's output, a word hyphenated at a line end
    (``Entschul-`` / ``digung``) joined again.

    >>> ocr_words("wir möchten uns entschul-\\ndigen.")
    ['wir', 'möchten', 'uns', 'entschuldigen']
    """
    tokens: list[str] = []
    carry = ""
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        parts[0] = carry + parts[0]
        carry = ""
        if parts[-1].endswith(_HYPHEN_END) and len(parts[-1]) > 1:
            carry = parts.pop()[:-1]
        tokens.extend(parts)
    if carry:
        tokens.append(carry)
    return [w for w in (normalise_word(t) for t in tokens) if w]


def matched_words(expected: Sequence[str], read: Sequence[str]) -> int:
    """How many ``expected`` words ``read`` contains, aligned in order (difflib).

    >>> matched_words(["es", "tut", "uns", "leid"], ["es", "tat", "uns", "leid", "x"])
    3
    """
    matcher = difflib.SequenceMatcher(None, list(expected), list(read), autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())


def word_accuracy(expected: Sequence[str], read: Sequence[str]) -> float:
    """Share (0–1) of ``expected`` words found in ``read``, aligned in order.

    >>> word_accuracy(["es", "tut", "uns", "leid"], ["es", "tat", "uns", "leid", "x"])
    0.75
    """
    return matched_words(expected, read) / len(expected) if expected else 1.0


def run_tesseract(png: bytes, *, psm: int = PSM, languages: str = LANGUAGES,
                  timeout_s: float = 120.0) -> str:
    """Tesseract's plain-text reading of a PNG image (bytes through stdin)."""
    result = subprocess.run(
        [TESSERACT, "stdin", "stdout", "-l", languages, "--psm", str(psm)],
        input=png, capture_output=True, timeout=timeout_s, check=False,
        # one thread per process: the callers run several processes in parallel
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"tesseract failed ({result.returncode}): "
                           f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode("utf-8", errors="replace")


def card_words(text: CardText) -> list[str]:
    """The expected words of a card: greeting, body, closing and signature."""
    return expected_words("\n".join(t for _, t in text.blocks()))


@dataclass(frozen=True)
class OcrCase:
    """One card to read: an example job written in ``font`` at ``strength``."""

    job: str  # example job file stem
    font: str
    strength: float
    png: bytes
    expected: tuple[str, ...]


@dataclass(frozen=True)
class OcrResult:
    """Tesseract's reading of one :class:`OcrCase`."""

    case: OcrCase
    text: str
    matched: int  # expected words read back

    @property
    def accuracy(self) -> float:
        """Matched over expected words, 0–1."""
        return self.matched / len(self.case.expected) if self.case.expected else 1.0


def example_specs() -> list[tuple[str, JobSpec]]:
    """The bundled example jobs as ``(stem, spec)``, sorted by name."""
    from jobs.cli import example_jobs

    return [(path.stem, load_job(path)) for path in example_jobs()]


def render_case(stem: str, spec: JobSpec, font: str, strength: float, *,
                dpi: int = DPI, pen_width_mm: float = PEN_WIDTH_MM) -> OcrCase:
    """The example ``spec`` written in ``font`` at variation ``strength`` (card, seed and
    language kept), rendered to PNG at ``dpi``."""
    text = card_text(spec)
    assert spec.seed is not None
    layout = layout_card(text, load_font(font), _card(spec.card), seed=spec.seed,
                         variation=Variation(strength=strength),
                         x_height_mm=spec.x_height_mm, font_name=font)
    png = render_png(layout.drawing, dpi=dpi, pen_width_mm=pen_width_mm)
    return OcrCase(stem, font, strength, png, tuple(card_words(text)))


def _card(name: str):
    from cards.formats import card_format

    return card_format(name)


def read_cases(cases: Iterable[OcrCase], *, psm: int = PSM, workers: int = 2) -> list[OcrResult]:
    """Run Tesseract over ``cases`` (``workers`` processes at a time), in order."""

    def read(case: OcrCase) -> OcrResult:
        text = run_tesseract(case.png, psm=psm)
        return OcrResult(case, text, matched_words(case.expected, ocr_words(text)))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(read, list(cases)))


def legibility_cases(strengths: Sequence[float] = (0.0, 1.0), *,
                     fonts: Sequence[str] | None = None, dpi: int = DPI) -> list[OcrCase]:
    """Every example job in every bundled font (or ``fonts``) at each strength."""
    specs = example_specs()
    return [render_case(stem, spec, font, strength, dpi=dpi)
            for font in (fonts or font_names()) for strength in strengths
            for stem, spec in specs]


@dataclass(frozen=True)
class FontAccuracy:
    """Word accuracy of one font at one strength, over all example cards."""

    font: str
    strength: float
    matched: int
    expected: int
    joined: bool

    @property
    def accuracy(self) -> float:
        """Matched over expected words, 0–1."""
        return self.matched / self.expected if self.expected else 1.0


def font_accuracies(results: Iterable[OcrResult]) -> list[FontAccuracy]:
    """Per (font, strength): the words matched over the words expected on all its cards."""
    totals: dict[tuple[str, float], list[int]] = {}
    for r in results:
        counts = totals.setdefault((r.case.font, r.case.strength), [0, 0])
        counts[0] += r.matched
        counts[1] += len(r.case.expected)
    return [FontAccuracy(font, strength, m, e, bundled_font(font).joined)
            for (font, strength), (m, e) in totals.items()]


def save_pngs(cases: Iterable[OcrCase], folder: Path) -> None:
    """Write each case's PNG into ``folder`` (for looking at what OCR read)."""
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        (folder / f"{case.font}-{case.job}-v{case.strength:g}.png").write_bytes(case.png)
