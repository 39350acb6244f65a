"""Reader for the classic Hershey ``.jhf`` font files (James Hurt's format).

One glyph per record: a 5-character glyph number, a 3-character vertex count, then
``count`` character pairs. The first pair is the glyph's left and right bound, the rest
are ``x y`` vertices, each character's value being ``ord(c) - ord('R')``; the pair
``" R"`` lifts the pen. A record longer than a line may be wrapped over several physical
lines, so the vertex count, not the line end, says where a record stops.

Hershey coordinates are already y down, with x = 0 at the glyph's centre and the
baseline at y = +9 (capitals reach y = -12, so the cap height is 21 units). This edge
moves the origin to the left bound on the baseline and divides by :data:`HERSHEY_EM`,
giving em units as :mod:`fonts.model` wants them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fonts.measure import measured_metrics
from fonts.model import Font, FontMetrics, Glyph
from fonts.svgfont import FontFileError

# the em of a Hershey font in Hershey units: the design body runs from y = -16 to +16,
# which gives a cap height of 21/32 = 0.66 em, as in a typical book face
HERSHEY_EM = 32.0
# the baseline's y in Hershey units (the bottom of H, x, A in every Hershey font)
HERSHEY_BASELINE = 9.0
# declared metrics in Hershey units (above / below the baseline), checked against the
# Roman and script fonts; measured metrics replace them where the glyphs exist
_ASCENT, _DESCENT, _CAP_HEIGHT, _X_HEIGHT = 25.0, 7.0, 21.0, 14.0
_ORIGIN = ord("R")
_FIRST_CHAR = 32  # the n-th glyph of an ASCII-ordered file is chr(32 + n)

HERSHEY_LICENCE = "Hershey fonts licence (acknowledgement travels with the data)"


class HersheyFileError(FontFileError):
    """A ``.jhf`` file that cannot be read, naming the file, the line and the reason."""


def _records(text: str, filename: str) -> list[tuple[int, str]]:
    """Split ``.jhf`` text into ``(line_number, record)`` pairs, joining wrapped lines.

    A record is the 8-character header followed by exactly ``2 * count`` characters.
    """
    records: list[tuple[int, str]] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        start = index + 1  # 1-based line number for messages
        index += 1
        if not line.strip():
            continue
        count_field = line[5:8]
        try:
            count = int(count_field)
        except ValueError as error:
            raise HersheyFileError(
                f"{filename}: line {start}: vertex count {count_field!r} is not a number"
            ) from error
        if count < 1:
            raise HersheyFileError(f"{filename}: line {start}: vertex count must be at least 1")
        record = line
        length = 8 + 2 * count
        # wrapped records continue on the next physical lines
        while len(record) < length and index < len(lines):
            record += lines[index]
            index += 1
        if len(record) < length:
            raise HersheyFileError(
                f"{filename}: line {start}: record ends after {(len(record) - 8) // 2} of "
                f"{count} vertex pairs"
            )
        if record[length:].strip():
            raise HersheyFileError(
                f"{filename}: line {start}: {len(record) - length} characters after the "
                f"{count} vertex pairs the header announces"
            )
        records.append((start, record[:length]))
    return records


def _glyph(record: str, char: str) -> Glyph:
    """One record as a glyph in em units, origin at the left bound on the baseline."""
    data = record[8:]
    left = ord(data[0]) - _ORIGIN
    right = ord(data[1]) - _ORIGIN
    strokes: list[np.ndarray] = []
    current: list[tuple[int, int]] = []
    for i in range(2, len(data), 2):
        pair = data[i : i + 2]
        if pair == " R":
            if current:
                strokes.append(np.array(current, dtype=np.float64))
            current = []
            continue
        current.append((ord(pair[0]) - _ORIGIN, ord(pair[1]) - _ORIGIN))
    if current:
        strokes.append(np.array(current, dtype=np.float64))
    offset = np.array([-left, -HERSHEY_BASELINE])
    return Glyph(
        char=char,
        strokes=tuple((s + offset) / HERSHEY_EM for s in strokes),
        advance=(right - left) / HERSHEY_EM,
        name=record[:5].strip(),
    )


def read_jhf(path: str | Path, *, name: str | None = None) -> Font:
    """Read a Hershey ``.jhf`` file into a :class:`Font` in em units (1 em = 32 Hershey
    units, so capitals are 0.656 em tall), y down, baseline at y = 0.

    The files are taken to be in ASCII order, as futural.jhf, scripts.jhf and cursive.jhf
    are: the n-th glyph (from 0) draws ``chr(32 + n)``. Each glyph's origin is its left
    bound and its advance is ``right - left``. ``name`` names the font (default: the file
    name without extension). Files with more than 96 glyphs (japanese.jhf, markers.jhf) are
    symbol sets with no character order; their glyphs carry on past ``chr(127)`` and are
    only good for their shapes. The font is not marked ``joined``: for the scripts, set it
    with ``dataclasses.replace(font, joined=True)`` if the layout should join letters.

    Raises :class:`HersheyFileError` (a :class:`~fonts.svgfont.FontFileError`) when the
    file cannot be read or a record is malformed.
    """
    path = Path(path)
    try:
        # the format is ASCII; latin-1 never fails, so stray bytes surface as bad records
        text = path.read_bytes().decode("latin-1")
    except OSError as error:
        raise HersheyFileError(f"{path.name}: cannot read the file ({error})") from error
    records = _records(text, path.name)
    if not records:
        raise HersheyFileError(f"{path.name}: the file has no glyphs")
    glyphs: dict[str, tuple[Glyph, ...]] = {}
    for n, (_, record) in enumerate(records):
        char = chr(_FIRST_CHAR + n)
        glyphs[char] = (_glyph(record, char),)
    declared = FontMetrics(
        ascent=_ASCENT / HERSHEY_EM,
        descent=_DESCENT / HERSHEY_EM,
        cap_height=_CAP_HEIGHT / HERSHEY_EM,
        x_height=_X_HEIGHT / HERSHEY_EM,
    )
    font_name = name or path.stem
    return Font(
        name=font_name,
        family=font_name,
        metrics=measured_metrics(glyphs, declared),
        glyphs=glyphs,
        licence=HERSHEY_LICENCE,
        source=path.name,
    )
