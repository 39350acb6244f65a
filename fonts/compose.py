"""Filling a font's gaps in its own style: glyphs composed from the font's own parts
(„ from ”, å from a and °, … from three periods), broken glyphs recomposed, and the few
shapes a font has nothing to build from (§ Þ ð þ) borrowed from a donor font, scaled to the
font's metrics and given its slant.

All coordinates are em units, x right, y **down**, baseline at y = 0 (see
:mod:`fonts.model`). *Slant* is the italic shear as a ratio: a stroke leaning right by
``slant`` em per em of height, so a point at height ``h`` above the baseline (``y = -h``)
moves right by ``slant * h``: ``x' = x - slant * y``.

Every function here is pure: fonts and glyphs in, new glyphs and fonts out.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from fonts.charset import REQUIRED_CHARACTERS
from fonts.model import Font, Glyph

# combining mark (from NFD) -> the spacing mark of the font that draws it
SPACING_MARKS: dict[str, str] = {
    "\u0301": "´",  # acute
    "\u0300": "`",  # grave
    "\u0302": "^",  # circumflex
    "\u0308": "¨",  # dieresis
    "\u0303": "~",  # tilde
    "\u0327": "¸",  # cedilla
    "\u030a": "°",  # ring above: the degree sign is the font's ring
}
BELOW_MARKS = frozenset({"\u0327"})

# letters whose near-vertical strokes show the slant (stems, ascenders, descenders)
SLANT_CHARS = "lIdhkbtpqHLE"
UPRIGHT_BELOW = 0.02  # |slant| under this is measuring noise: the font is upright
STEM_MAX_DEG = 35.0  # segments within this angle of vertical count as stems (degrees)

SAMPLE_EM = 0.005  # resampling step for shape comparisons (em)
CONTAIN_EM = 0.02  # ink this close to other ink lies on it (em)
MARK_SLACK_EM = 0.05  # a mark's centre may stand this far beyond its letter's ink (em)
MARK_MAX_X_HEIGHT = 0.4  # a mark put on a letter is at most this many x-heights tall
B_LIKE = 0.10  # a ß whose every point of B lies within this fraction of the cap height of it is a B

# borrowed glyphs take their side bearings from this letter of the font
SPACING_REFERENCE: dict[str, str] = {"Þ": "P", "þ": "p", "ð": "o", "§": "S", "ß": "h"}


# --- geometry helpers -------------------------------------------------------------------

def _points(strokes: Iterable[np.ndarray]) -> np.ndarray:
    """All vertices of ``strokes`` as one ``(N, 2)`` array (em)."""
    arrays = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes]
    return np.concatenate(arrays) if arrays else np.empty((0, 2))


def _bounds(strokes: Iterable[np.ndarray]) -> tuple[float, float, float, float]:
    """``(min_x, min_y, max_x, max_y)`` of ``strokes`` in em (they must have ink)."""
    points = _points(strokes)
    lo, hi = points.min(axis=0), points.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def resample(strokes: Iterable[np.ndarray], step: float = SAMPLE_EM) -> np.ndarray:
    """Points along ``strokes`` no further than ``step`` em apart, as one ``(N, 2)`` array,
    so that distances between shapes do not depend on how densely they were flattened.
    """
    out = []
    for stroke in strokes:
        stroke = np.asarray(stroke, dtype=np.float64).reshape(-1, 2)
        if len(stroke) == 1:
            out.append(stroke)
            continue
        for a, b in zip(stroke[:-1], stroke[1:], strict=True):
            n = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
            t = np.arange(n)[:, None] / n
            out.append(a + (b - a) * t)
        out.append(stroke[-1:])
    return np.concatenate(out) if out else np.empty((0, 2))


def directed_distance(a: Iterable[np.ndarray], b: Iterable[np.ndarray]) -> float:
    """How far the ink of ``a`` strays from the ink of ``b`` (directed Hausdorff
    distance, em): 0 when every point of ``a`` lies on ``b``.
    """
    pa, pb = resample(a), resample(b)
    if len(pa) == 0:
        return 0.0
    if len(pb) == 0:
        return float("inf")
    distances, _ = cKDTree(pb).query(pa)
    return float(distances.max())


def shear(strokes: Iterable[np.ndarray], slant: float) -> tuple[np.ndarray, ...]:
    """``strokes`` leaned right by ``slant`` (``x' = x - slant * y``, y down, em)."""
    matrix = np.array([[1.0, 0.0], [-slant, 1.0]])
    return tuple(np.asarray(s, dtype=np.float64) @ matrix for s in strokes)


def _moved(strokes: Iterable[np.ndarray], dx: float, dy: float) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(s, dtype=np.float64) + (dx, dy) for s in strokes)


def measure_slant(font: Font, chars: str = SLANT_CHARS) -> float:
    """The font's slant (em of rightward lean per em of height; 0 for an upright font).

    Each of ``chars`` votes with the length-weighted median lean of its near-vertical
    segments (stems and ascender loops, not connecting strokes); the slant is the median
    vote, and 0 when that is below :data:`UPRIGHT_BELOW`.
    """
    limit = np.tan(np.radians(STEM_MAX_DEG))
    votes = []
    for char in chars:
        if char not in font.glyphs:
            continue
        leans, weights = [], []
        for stroke in font.glyph(char).strokes:
            d = np.diff(stroke, axis=0)
            length = np.hypot(d[:, 0], d[:, 1])
            stem = (length > 0) & (np.abs(d[:, 0]) <= limit * np.abs(d[:, 1]))
            # going up (dy < 0) by h while going right by s leans by s / h
            leans.extend(-d[stem, 0] / d[stem, 1])
            weights.extend(length[stem])
        if not weights:
            continue
        order = np.argsort(leans)
        cumulative = np.cumsum(np.asarray(weights)[order])
        votes.append(float(np.asarray(leans)[order][np.searchsorted(cumulative, cumulative[-1] / 2)]))
    if not votes:
        return 0.0
    slant = float(np.median(votes))
    return 0.0 if abs(slant) < UPRIGHT_BELOW else slant


# --- marks on letters ---------------------------------------------------------------------

def decompose(char: str) -> tuple[str, str] | None:
    """``(base, combining mark)`` of a letter with one mark the fonts draw, else None.

    >>> decompose("å")
    ('a', '̊')
    """
    nfd = unicodedata.normalize("NFD", char)
    if len(nfd) == 2 and nfd[1] in SPACING_MARKS:
        return nfd[0], nfd[1]
    return None


def base_strokes(font: Font, base: str) -> tuple[np.ndarray, ...] | None:
    """The strokes a mark goes on: the dotless ``ı``/``ȷ`` for ``i``/``j`` (or the letter
    with its dot taken off), else the letter itself; None when the font lacks it.
    """
    dotless = {"i": "ı", "j": "ȷ"}.get(base)
    if dotless and font.has(dotless) and not font.glyph(dotless).is_blank:
        return font.glyph(dotless).strokes
    if not font.has(base) or font.glyph(base).is_blank:
        return None
    strokes = font.glyph(base).strokes
    if dotless:
        # the dot: a small stroke wholly above the x-height
        x_height = font.metrics.x_height
        kept = tuple(
            s for s in strokes
            if not (s[:, 1].max() < -0.9 * x_height and np.ptp(s, axis=0).max() < 0.3 * x_height)
        )
        strokes = kept or strokes
    return strokes


def mark_ink(font: Font, char: str) -> tuple[np.ndarray, ...] | None:
    """The strokes of the precomposed ``char`` that are its mark (the ink not on the base),
    or None when ``char`` is not a well-made base + mark: its base is not all there, or
    there is no ink on the mark's side of the base (above it, or below for a cedilla).
    """
    parts = decompose(char)
    if parts is None or not font.has(char) or font.glyph(char).is_blank:
        return None
    base_char, mark = parts
    base = base_strokes(font, base_char)
    if base is None:
        return None
    glyph = font.glyph(char)
    if directed_distance(base, glyph.strokes) > CONTAIN_EM:
        return None  # the letter under the mark is not the font's base letter
    tree = cKDTree(resample(base))
    extra = []
    for stroke in glyph.strokes:
        distances, _ = tree.query(resample([stroke]))
        if np.mean(distances > CONTAIN_EM) > 0.5:
            extra.append(stroke)
    if not extra:
        return None
    _, base_top, _, base_bottom = _bounds(base)
    _, top, _, bottom = _bounds(extra)
    middle = (top + bottom) / 2
    height = base_bottom - base_top
    if mark in BELOW_MARKS:
        return tuple(extra) if middle > base_bottom - 0.25 * height else None
    return tuple(extra) if middle < base_top + 0.25 * height else None


@dataclass(frozen=True)
class _MarkPlace:
    """Where a font puts a mark relative to its base (em): the mark's centre x, and the gap
    between the base and the mark (base top - mark bottom above; mark top - base bottom below).
    """

    centre_x: float
    centre_y: float
    gap: float


def _mark_places(font: Font, *, below: bool, exclude: Iterable[str]) -> dict[str, list[_MarkPlace]]:
    """Where the font's own well-made accented letters put their marks, by base letter."""
    skip = set(exclude)
    places: dict[str, list[_MarkPlace]] = {}
    for char in font.glyphs:
        parts = decompose(char)
        if parts is None or char in skip or (parts[1] in BELOW_MARKS) != below:
            continue
        ink = mark_ink(font, char)
        base = base_strokes(font, parts[0])
        if ink is None or base is None:
            continue
        _, base_top, _, base_bottom = _bounds(base)
        left, top, right, bottom = _bounds(ink)
        gap = top - base_bottom if below else base_top - bottom
        places.setdefault(parts[0], []).append(
            _MarkPlace((left + right) / 2, (top + bottom) / 2, gap)
        )
    return places


def compose_marked(font: Font, char: str, *, slant: float,
                   places: Mapping[str, list[_MarkPlace]] | None = None) -> Glyph | None:
    """``char`` drawn as its NFD base letter + the font's spacing mark (´ ` ^ ¨ ~ ¸ °).

    The mark goes where the font puts marks on the same base (learned from its other
    accented letters), else centred on the base's x-centre, shifted by the slant to the
    mark's height, with the gap the font leaves elsewhere between letters of the same case
    and their marks (or 12 % of the x-height). A mark above sits on top of the base's
    bounding box; a cedilla hangs below it. None when the font lacks the base or the mark.
    """
    parts = decompose(char)
    if parts is None:
        return None
    base_char, combining = parts
    mark_char = SPACING_MARKS[combining]
    base = base_strokes(font, base_char)
    if base is None or not font.has(mark_char) or font.glyph(mark_char).is_blank:
        return None
    below = combining in BELOW_MARKS
    if places is None:
        places = _mark_places(font, below=below, exclude=())
    mark = font.glyph(mark_char).strokes
    m_left, m_top, m_right, m_bottom = _bounds(mark)
    limit = MARK_MAX_X_HEIGHT * font.metrics.x_height
    if m_bottom - m_top > limit:
        # a degree sign drawn big (the Hershey scripts') is too big a ring: shrink it
        factor = limit / (m_bottom - m_top)
        centre = np.array([(m_left + m_right) / 2, (m_top + m_bottom) / 2])
        mark = tuple((s - centre) * factor + centre for s in mark)
        m_left, m_top, m_right, m_bottom = _bounds(mark)
    m_height = m_bottom - m_top
    b_left, b_top, b_right, b_bottom = _bounds(base)

    same_base = places.get(base_char, [])
    same_case = [
        p for b, ps in places.items() for p in ps if b.isupper() == base_char.isupper()
    ] or [p for ps in places.values() for p in ps]
    if same_base:
        gap = float(np.median([p.gap for p in same_base]))
    elif same_case:
        gap = float(np.median([p.gap for p in same_case]))
    else:
        gap = 0.0 if below else 0.12 * font.metrics.x_height
    new_top = b_bottom + gap if below else b_top - gap - m_height
    new_middle = new_top + m_height / 2
    if same_base:
        ref_x = float(np.median([p.centre_x for p in same_base]))
        ref_y = float(np.median([p.centre_y for p in same_base]))
    else:
        ref_x, ref_y = (b_left + b_right) / 2, (b_top + b_bottom) / 2
    # follow the slant from the reference height to the mark's height (y down)
    centre_x = ref_x + slant * (ref_y - new_middle)
    placed = _moved(mark, centre_x - (m_left + m_right) / 2, new_top - m_top)
    glyph = font.glyph(base_char)
    return Glyph(char=char, strokes=base + placed, advance=glyph.advance, name=f"composed {char}")


# --- punctuation from the font's own shapes ---------------------------------------------

def _groups(strokes: Iterable[np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    """Strokes clustered into marks that do not overlap horizontally, left to right."""
    items = sorted(strokes, key=lambda s: float(s[:, 0].min()))
    groups: list[list[np.ndarray]] = []
    right = -np.inf  # right edge of the last group's ink (em)
    for stroke in items:
        if groups and stroke[:, 0].min() <= right:
            groups[-1].append(stroke)
        else:
            groups.append([stroke])
            right = -np.inf
        right = max(right, float(stroke[:, 0].max()))
    return [tuple(g) for g in groups]


def _placed_like(strokes: tuple[np.ndarray, ...], like: Glyph, char: str, name: str,
                 *, dy: float = 0.0) -> Glyph:
    """``strokes`` moved down by ``dy`` and across so their ink starts at ``like``'s left
    side bearing; the advance keeps ``like``'s right side bearing (em).
    """
    left, _, right, _ = _bounds(strokes)
    like_left, _, like_right, _ = like.bounds() or (0.0, 0.0, like.advance, 0.0)
    moved = _moved(strokes, like_left - left, dy)
    width = right - left
    return Glyph(char=char, strokes=moved,
                 advance=like_left + width + (like.advance - like_right), name=name)


def low_double_quote(font: Font, *, slant: float) -> Glyph | None:
    """„ = the font's ” moved down to the baseline: its vertical centre on the comma's,
    moved along the slant and starting at the comma's left side bearing.
    """
    if not (font.has("”") and font.has(",")) or font.glyph("”").is_blank:
        return None
    quote, comma = font.glyph("”"), font.glyph(",")
    if comma.is_blank:
        return None
    _, q_top, _, q_bottom = _bounds(quote.strokes)
    _, c_top, _, c_bottom = _bounds(comma.strokes)
    dy = (c_top + c_bottom) / 2 - (q_top + q_bottom) / 2
    # going down by dy along the slant goes left by slant * dy; _placed_like then sets x
    strokes = _moved(quote.strokes, -slant * dy, 0.0)
    return _placed_like(strokes, comma, "„", "composed „", dy=dy)


def single_quote(font: Font, char: str) -> Glyph | None:
    """‘ or ’: one mark of the font's “ or ” (so it matches the double quotes), else the
    font's ` or '.
    """
    double, fallback = {"‘": ("“", "`"), "’": ("”", "'")}[char]
    if font.has(double) and not font.glyph(double).is_blank:
        glyph = font.glyph(double)
        groups = _groups(glyph.strokes)
        if len(groups) == 2:
            return _placed_like(groups[0], glyph, char, f"one mark of the font's {double}")
    if font.has(fallback) and not font.glyph(fallback).is_blank:
        glyph = font.glyph(fallback)
        return Glyph(char=char, strokes=glyph.strokes, advance=glyph.advance,
                     name=f"the font's {fallback}")
    return None


def low_single_quote(font: Font) -> Glyph | None:
    """‚ = the font's comma."""
    if not font.has(",") or font.glyph(",").is_blank:
        return None
    comma = font.glyph(",")
    return Glyph(char="‚", strokes=comma.strokes, advance=comma.advance, name="copy of ,")


def ellipsis(font: Font) -> Glyph | None:
    """… = three of the font's periods, one period's advance apart."""
    if not font.has(".") or font.glyph(".").is_blank:
        return None
    period = font.glyph(".")
    strokes = tuple(s + (k * period.advance, 0.0) for k in range(3) for s in period.strokes)
    return Glyph(char="…", strokes=strokes, advance=3 * period.advance, name="three periods")


# --- shapes borrowed from a donor font ------------------------------------------------------

def _height_map(anchors: list[tuple[float, float]]):
    """A piecewise-linear map of y (em, y down) through ``anchors`` (donor y, font y),
    continued beyond the outer anchors with the outer pieces' scale.
    """
    anchors = sorted(anchors)
    src = np.array([a for a, _ in anchors])
    dst = np.array([b for _, b in anchors])

    def apply(y: np.ndarray) -> np.ndarray:
        out = np.interp(y, src, dst)
        low, high = y < src[0], y > src[-1]
        out[low] = dst[0] + (y[low] - src[0]) * (dst[1] - dst[0]) / (src[1] - src[0])
        out[high] = dst[-1] + (y[high] - src[-1]) * (dst[-1] - dst[-2]) / (src[-1] - src[-2])
        return out

    return apply


def borrow(font: Font, donor: Font, char: str, *, slant: float,
           donor_slant: float | None = None) -> Glyph | None:
    """``char`` taken from ``donor`` and fitted to ``font``: heights mapped piecewise so
    the donor's x-height, ascender, baseline and descender land on the font's (capitals and
    symbols: its cap height), widths scaled like the body height, the donor's slant taken
    off and ``slant`` put on, and side bearings taken from a similar letter of the font
    (:data:`SPACING_REFERENCE`). None when the donor lacks ``char``.
    """
    if not donor.has(char) or donor.glyph(char).is_blank:
        return None
    source = donor.glyph(char)
    if donor_slant is None:
        donor_slant = measure_slant(donor)
    dm, fm = donor.metrics, font.metrics
    strokes = shear(source.strokes, -donor_slant)
    if char.islower():
        scale = fm.x_height / dm.x_height
        anchors = [(-dm.ascent, -fm.ascent), (-dm.x_height, -fm.x_height), (0.0, 0.0),
                   (dm.descent, fm.descent)]
    else:
        scale = fm.cap_height / dm.cap_height
        anchors = [(-dm.cap_height, -fm.cap_height), (0.0, 0.0)]
    height = _height_map(anchors)
    fitted = shear(
        tuple(np.column_stack([s[:, 0] * scale, height(s[:, 1])]) for s in strokes), slant
    )
    reference = SPACING_REFERENCE.get(char)
    if reference and font.has(reference) and not font.glyph(reference).is_blank:
        like = font.glyph(reference)
    else:
        like = Glyph(char=char, strokes=tuple(s * scale for s in source.strokes),
                     advance=source.advance * scale)
    return _placed_like(fitted, like, char, f"{char} from {donor.family}")


# --- checks for broken glyphs -----------------------------------------------------------------

def mark_beside(base: Iterable[np.ndarray], mark: Iterable[np.ndarray]) -> bool:
    """Whether ``mark``'s x-centre lies within ``base``'s ink span, give or take
    :data:`MARK_SLACK_EM` (EMSTech's Ì has its grave wholly left of the I).
    """
    left, _, right, _ = _bounds(base)
    m_left, _, m_right, _ = _bounds(mark)
    return left - MARK_SLACK_EM <= (m_left + m_right) / 2 <= right + MARK_SLACK_EM


def eszett_looks_like_b(font: Font) -> bool:
    """Whether the font's ß would be read as a B: every point of the font's B lies within
    :data:`B_LIKE` of the cap height of the ß's ink.
    """
    if not (font.has("ß") and font.has("B")) or font.glyph("ß").is_blank:
        return False
    if font.glyph("B").is_blank:
        return False
    distance = directed_distance(font.glyph("B").strokes, font.glyph("ß").strokes)
    return distance < B_LIKE * font.metrics.cap_height


def broken_characters(font: Font, chars: str = REQUIRED_CHARACTERS) -> dict[str, str]:
    """Characters of ``chars`` the font has but draws wrongly, each with the reason:
    accented letters whose base is not the font's base letter, whose mark is missing or
    beside the letter (the upright sans Å/å of the Hershey scripts, a ç without its
    cedilla, EMSTech's Ì), a ß like a B.
    """
    broken: dict[str, str] = {}
    for char in dict.fromkeys(chars):
        parts = decompose(char)
        if parts is None or not font.has(char):
            continue
        base = base_strokes(font, parts[0])
        if base is None:
            continue
        ink = mark_ink(font, char)
        if ink is not None:
            if not mark_beside(base, ink):
                broken[char] = f"its {SPACING_MARKS[parts[1]]} is beside the letter"
            continue
        glyph = font.glyph(char)
        if glyph.is_blank or directed_distance(base, glyph.strokes) > CONTAIN_EM:
            broken[char] = f"its letter is not the font's {parts[0]}"
        else:
            broken[char] = f"its {SPACING_MARKS[parts[1]]} is missing"
    if "ß" in chars and eszett_looks_like_b(font):
        broken["ß"] = "it looks like a B"
    return broken


# --- the whole font -------------------------------------------------------------------------------

def complete_font(font: Font, *, donor: Font | None, chars: str = REQUIRED_CHARACTERS,
                  redraw: Iterable[str] = ()) -> Font:
    """A new font that draws every character of ``chars``, in its own style where it can.

    Broken glyphs (:func:`broken_characters`, plus any in ``redraw``) are replaced and
    missing ones added, each by the first recipe that works: „ ‚ ‘ ’ … from the font's own
    punctuation; accented letters from the base letter and the font's spacing mark; other
    shapes (§ Þ ð þ, a ß like a B) from ``donor``, fitted to the font's metrics and slant.
    The new font's ``notes`` gain one line per character, ``"<char>: <what was done>"``
    (see :func:`composed_characters`). Characters nothing can make stay missing.
    """
    slant = measure_slant(font)
    broken = broken_characters(font, chars)
    for char in redraw:
        broken.setdefault(char, "listed to redraw")
    donor_slant = measure_slant(donor) if donor is not None else 0.0
    places = {
        below: _mark_places(font, below=below, exclude=broken) for below in (False, True)
    }
    extra: dict[str, tuple[Glyph, ...]] = {}
    notes: list[str] = []
    for char in dict.fromkeys(chars):
        if font.has(char) and char not in broken:
            continue
        glyph, how = _make(font, donor, char, slant=slant, donor_slant=donor_slant,
                           places=places)
        if glyph is None:
            continue
        extra[char] = (glyph,)
        reason = f"replaced ({broken[char]}): " if char in broken else ""
        notes.append(f"{char}: {reason}{how}")
    return font.with_glyphs(extra, notes=notes)


def _make(font: Font, donor: Font | None, char: str, *, slant: float, donor_slant: float,
          places: Mapping[bool, Mapping[str, list[_MarkPlace]]]) -> tuple[Glyph | None, str]:
    """The glyph for ``char`` by the first recipe that works, and how it was made."""
    if char == "„":
        glyph = low_double_quote(font, slant=slant)
        if glyph is not None:
            return glyph, "the font's ” moved down to the baseline"
    elif char == "‚":
        glyph = low_single_quote(font)
        if glyph is not None:
            return glyph, "the font's comma"
    elif char in "‘’":
        glyph = single_quote(font, char)
        if glyph is not None:
            return glyph, glyph.name
    elif char == "…":
        glyph = ellipsis(font)
        if glyph is not None:
            return glyph, "three of the font's periods"
    parts = decompose(char)
    if parts is not None and char != "ß":
        below = parts[1] in BELOW_MARKS
        glyph = compose_marked(font, char, slant=slant, places=places[below])
        if glyph is not None:
            return glyph, f"the font's {parts[0]} + {SPACING_MARKS[parts[1]]}"
    if donor is not None:
        glyph = borrow(font, donor, char, slant=slant, donor_slant=donor_slant)
        if glyph is not None:
            lean = f", slanted {np.degrees(np.arctan(slant)):.0f}°" if slant else ""
            return glyph, f"borrowed from {donor.family}, fitted to the font's metrics{lean}"
    return None, ""


def composed_characters(font: Font) -> dict[str, str]:
    """Characters :func:`complete_font` made for ``font``, each with how (from its notes)."""
    made: dict[str, str] = {}
    for note in font.notes:
        char, sep, how = note.partition(": ")
        if sep and len(char) == 1:
            made[char] = how
    return made
