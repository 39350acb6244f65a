"""vpype, the reference the benchmarks compare against: its Hershey text and its
``linemerge linesort --two-opt gwrite`` pipeline, with the GRBL servo profile of
``/work/shared/GRBL.md``. Everything here needs the ``bench`` extra (vpype, vpype-gcode).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# vpype-gcode profile for a GRBL servo pen: M3 S1000 down, M5 up, 0.15 s dwell after each
GWRITE_PROFILE = """\
[gwrite.grbl]
unit = "mm"
vertical_flip = true
document_start = "G21\\nG90\\nG17\\nM5\\nG4 P0.15\\nF{feed}\\n"
segment_first  = "G0 X{x:.3f} Y{y:.3f}\\nM3 S{pen_down}\\nG4 P0.15\\n"
segment        = "G1 X{x:.3f} Y{y:.3f}\\n"
line_end       = "M5\\nG4 P0.15\\n"
document_end   = "G0 X0 Y0\\nM2\\n"
default_values = { feed = 3000, pen_down = 1000 }
"""

HERSHEY_FONT = "scripts"  # vpype's Hershey script, single stroke
# vpype's text size is the font's full height; its "x" is this share of it (measured)
SCRIPTS_X_HEIGHT = 2.4324324324324325 / 10.0

# vpype's Hershey text skips everything outside ASCII 32-126: write the nearest ASCII
_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue",
                        "ß": "ss", "„": '"', "“": '"', "”": '"', "‚": "'", "‘": "'",
                        "’": "'", "–": "-", "—": "-", "…": "...", "€": "EUR",
                        "\u00a0": " "})


def available() -> bool:
    """Whether vpype and vpype-gcode can be imported."""
    try:
        import vpype  # noqa: F401
        import vpype_gcode  # noqa: F401
    except ImportError:
        return False
    return True


def ascii_text(text: str) -> str:
    """``text`` as vpype's Hershey fonts can write it (umlauts spelt out, € as EUR).

    >>> ascii_text("Grüße – 10 €")
    'Gruesse - 10 EUR'
    """
    return text.translate(_ASCII)


def text_block(text: str, *, x_height_mm: float, width_mm: float, language: str):
    """vpype's ``text`` of ``text`` (paragraphs on ``\\n``) in Hershey ``scripts`` with
    the given x-height (mm) wrapped at ``width_mm``: a ``vpype.LineCollection`` in mm."""
    import vpype

    return vpype.text_block(ascii_text(text), width_mm, font_name=HERSHEY_FONT,
                            size=x_height_mm / SCRIPTS_X_HEIGHT, hyphenate=language[:2])


def _vpype_command() -> list[str]:
    """The vpype command line of this interpreter's environment."""
    beside = Path(sys.executable).with_name("vpype")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("vpype")
    return [found] if found else [sys.executable, "-m", "vpype_cli.cli"]


def gcode_of_svg(svg: str) -> str:
    """G-code from vpype for an SVG drawing:
    ``vpype -c CONFIG read FILE linemerge linesort --two-opt gwrite -p grbl OUT``."""
    with tempfile.TemporaryDirectory(prefix="penpost-bench-") as tmp:
        folder = Path(tmp)
        (folder / "vpype.toml").write_text(GWRITE_PROFILE, encoding="utf-8")
        (folder / "card.svg").write_text(svg, encoding="utf-8")
        out = folder / "card.gcode"
        subprocess.run(
            [*_vpype_command(), "-c", str(folder / "vpype.toml"), "read", str(folder / "card.svg"),
             "linemerge", "linesort", "--two-opt", "gwrite", "-p", "grbl", str(out)],
            check=True, capture_output=True, timeout=300,
        )
        return out.read_text(encoding="ascii")
