"""Benchmark for the "handwriting" issue: how fast a card is laid out and varied, and how
often the pen lifts per word, against vpype's Hershey ``text`` of the same message.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from cards.formats import card_format
from cards.layout import RIGHT_RESERVE, layout_card
from fonts.catalog import load_font
from fonts.variation import Variation
from jobs.render import card_text, layout_job
from jobs.schema import JobSpec
from plotter.optimize import merge
from tests.bench import vpype_ref
from tests.bench.ocr import example_specs

RUNS = 15  # timed runs per card after one warm-up; the median is reported
MERGE_TOLERANCE_MM = 0.05  # vpype linemerge's default, and plotter.optimize.merge's


def median_ms(work: Callable[[], object], runs: int = RUNS) -> float:
    """Median wall time of ``work()`` in ms over ``runs`` calls, after one warm-up call.
    Each side is timed in a run of its own (warm caches and allocator, as in a worker
    that lays out card after card), ours first, then vpype's."""
    work()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


@dataclass(frozen=True)
class HandwritingRow:
    """One example card: our layout against vpype's text of the same message."""

    job: str
    font: str
    words: int
    x_height_mm: float
    ours_ms: float  # layout + variation, median, warm
    ours_lifts: int  # strokes of the layout
    ours_merged_lifts: int  # after merging touching strokes (0.05 mm)
    vpype_ms: float | None = None  # vpype.text_block, median, warm
    vpype_lifts: int | None = None  # lines of vpype's text
    vpype_merged_lifts: int | None = None  # after vpype's linemerge (0.05 mm)

    @property
    def speedup(self) -> float | None:
        """vpype's time over ours: above 1 when ours is faster."""
        return self.vpype_ms / self.ours_ms if self.vpype_ms else None


def _message(spec: JobSpec) -> str:
    """The card's blocks as one text, a line per block (paragraphs kept)."""
    return "\n".join(t for _, t in card_text(spec).blocks())


def measure_card(stem: str, spec: JobSpec, *, with_vpype: bool, runs: int = RUNS) -> HandwritingRow:
    """Time and count one example card: our layout of its text (merge fields already
    filled in, font loaded, as vpype is given the text) against vpype's."""
    _, layout = layout_job(spec)
    written, font, card = card_text(spec), load_font(spec.font), card_format(spec.card)

    def ours() -> object:
        return layout_card(written, font, card, seed=spec.seed,
                           variation=Variation(strength=spec.variation),
                           x_height_mm=spec.x_height_mm, font_name=spec.font)

    width_mm = card.area_width_mm * (1.0 - RIGHT_RESERVE)
    text = _message(spec)

    def vpype_text():
        return vpype_ref.text_block(text, x_height_mm=layout.x_height_mm, width_mm=width_mm,
                                    language=spec.language)

    ours_ms = median_ms(ours, runs)
    vpype_ms = median_ms(vpype_text, runs) if with_vpype else None
    row = HandwritingRow(
        job=stem, font=layout.font, words=layout.word_count, x_height_mm=layout.x_height_mm,
        ours_ms=ours_ms, ours_lifts=layout.drawing.pen_lifts(),
        ours_merged_lifts=merge(layout.drawing, MERGE_TOLERANCE_MM).pen_lifts())
    if not with_vpype:
        return row
    lines = vpype_text()
    merged = vpype_text()
    merged.merge(tolerance=MERGE_TOLERANCE_MM, flip=True)  # in place
    return HandwritingRow(**{**row.__dict__, "vpype_ms": vpype_ms, "vpype_lifts": len(lines),
                             "vpype_merged_lifts": len(merged)})


def measure_handwriting(runs: int = RUNS) -> list[HandwritingRow]:
    """A row per bundled example job (its own font, card and seed)."""
    with_vpype = vpype_ref.available()
    return [measure_card(stem, spec, with_vpype=with_vpype, runs=runs)
            for stem, spec in example_specs()]
