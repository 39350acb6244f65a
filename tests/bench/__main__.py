"""``python -m tests.bench`` (``make bench``): the benchmark tables of the "handwriting"
and "plotter output" issues, each figure next to its target. Benchmarks print; they do
not fail. vpype's columns need the ``bench`` extra; OCR needs Tesseract (deu, eng).
"""

from __future__ import annotations

import math
import shutil
import statistics
import sys
import time

from rich import box
from rich.console import Console
from rich.table import Table

from tests.bench import vpype_ref
from tests.bench.handwriting import HandwritingRow, measure_handwriting
from tests.bench.ocr import (
    FontAccuracy,
    font_accuracies,
    legibility_cases,
    read_cases,
    tesseract_available,
)
from tests.bench.plotter_output import PROFILE, ROUNDING_MM, PlotterRow, measure_plotter_output

# wide enough for the tables even when piped (make, CI logs)
console = Console(width=max(shutil.get_terminal_size().columns, 160), highlight=False)

SPEEDUP_TARGET = 5.0  # ours at least 5x faster than vpype's text
MAX_VARIATION_COST = 0.03  # accuracy points variation 1 may lose against 0
MIN_PRINT_ACCURACY = 0.95  # fonts that are not joined scripts
TRAVEL_TARGET = 0.9  # pen-up travel, ours over vpype's
BYTES_TARGET = 0.7  # G-code bytes, ours over vpype's
TIME_TARGET = 0.9  # estimated plot time, ours over vpype's
BOUND_TARGET = 1.25  # estimated plot time over the lower bound


def _met(ok: bool | None) -> str:
    if ok is None:
        return "[dim]n/a[/]"
    return "[green]met[/]" if ok else "[red]not met[/]"


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def handwriting_table(rows: list[HandwritingRow]) -> Table:
    """Layout speed and pen lifts per word against vpype's Hershey text."""
    table = Table(box=box.SIMPLE_HEAD, title="handwriting: layout + variation per card (median of warm runs) "
                        "against vpype text -f scripts")
    for column in ("example", "font", "words", "x-height mm", "ours ms", "vpype ms",
                   "vpype/ours", f"target ≥{SPEEDUP_TARGET:g}x", "lifts/word ours",
                   "vpype", "merged ours", "merged vpype"):
        table.add_column(column, justify="left" if column in ("example", "font") else "right")
    for r in rows:
        speedup = r.speedup
        table.add_row(
            r.job, r.font, str(r.words), f"{r.x_height_mm:.2f}", f"{r.ours_ms:.1f}",
            _num(r.vpype_ms, ".1f"), _num(speedup, ".2f"),
            _met(None if speedup is None else speedup >= SPEEDUP_TARGET),
            f"{r.ours_lifts / r.words:.2f}",
            _num(None if r.vpype_lifts is None else r.vpype_lifts / r.words, ".2f"),
            f"{r.ours_merged_lifts / r.words:.2f}",
            _num(None if r.vpype_merged_lifts is None else r.vpype_merged_lifts / r.words, ".2f"))
    return table


def ocr_table(accuracies: list[FontAccuracy]) -> Table:
    """Word accuracy per font at variation 0 and 1, against the legibility targets."""
    table = Table(box=box.SIMPLE_HEAD, title="handwriting: Tesseract word accuracy over the example cards "
                        "(300 dpi, deu+eng, psm 6)")
    for column in ("font", "joined", "variation 0", "variation 1", "cost (points)",
                   f"cost ≤{MAX_VARIATION_COST * 100:g}", f"≥{MIN_PRINT_ACCURACY:.0%} (print)"):
        table.add_column(column, justify="left" if column == "font" else "right")
    by_font: dict[str, dict[float, FontAccuracy]] = {}
    for a in accuracies:
        by_font.setdefault(a.font, {})[a.strength] = a
    for font, levels in by_font.items():
        plain, varied = levels[0.0], levels[1.0]
        cost = plain.accuracy - varied.accuracy
        table.add_row(
            font, "yes" if varied.joined else "no",
            f"{plain.accuracy:.1%} ({plain.matched}/{plain.expected})",
            f"{varied.accuracy:.1%} ({varied.matched}/{varied.expected})",
            f"{cost * 100:+.1f}", _met(cost <= MAX_VARIATION_COST),
            _met(None if varied.joined else varied.accuracy >= MIN_PRINT_ACCURACY))
    return table


def plotter_table(rows: list[PlotterRow]) -> Table:
    """Our G-code against vpype's for the same raw drawings."""
    table = Table(box=box.SIMPLE_HEAD, title=f"plotter output: optimize + write_gcode ({PROFILE}) against vpype "
                        "linemerge linesort --two-opt gwrite, same raw drawing; times by our "
                        "planner model")
    for column in ("example", "pen-up mm ours", "vpype", "ratio", "one band", "ratio",
                   "lifts ours", "vpype",
                   "kB ours", "vpype", "ratio", "time s ours", "vpype", "ratio",
                   "lower bound s", "ours/bound", "motion bound s", "ours/motion"):
        table.add_column(column, justify="left" if column == "example" else "right")
    for r in rows:
        v = r.vpype
        table.add_row(
            r.job, f"{r.ours.pen_up_travel_mm:.0f}", _num(v and v.pen_up_travel_mm, ".0f"),
            _num(r.ratio("pen_up_travel_mm"), ".2f"), f"{r.one_band_travel_mm:.0f}",
            _num(v and r.one_band_travel_mm / v.pen_up_travel_mm, ".2f"), str(r.ours.pen_lifts),
            "—" if v is None else str(v.pen_lifts), f"{r.ours.bytes / 1000:.1f}",
            _num(v and v.bytes / 1000, ".1f"), _num(r.ratio("bytes"), ".2f"),
            _num(r.ours.seconds, ".1f"),
            "—" if v is None else (f"{v.seconds:.1f}" if v.seconds is not None
                                   else f"[red]unreadable: {v.error}[/]"),
            _num(r.ratio("seconds"), ".3f"), f"{r.lower_bound_s:.1f}",
            _num(r.over_lower_bound, ".2f"), f"{r.motion_bound_s:.1f}",
            _num(r.over_motion_bound, ".2f"))
    return table


def plotter_targets(rows: list[PlotterRow]) -> Table:
    """The mean ratios over the example cards against the issue's targets."""
    table = Table(box=box.SIMPLE_HEAD, title="plotter output: targets (mean over the example cards)")
    for column in ("measure", "ours", "target", ""):
        table.add_column(column, justify="left" if column == "measure" else "right")

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.fmean(known) if known and len(known) == len(values) else None

    for name, value, target in (
        ("pen-up travel / vpype", mean([r.ratio("pen_up_travel_mm") for r in rows]),
         TRAVEL_TARGET),
        ("pen-up travel / vpype, whole card as one band (not our writing order)",
         mean([r.vpype and r.one_band_travel_mm / r.vpype.pen_up_travel_mm for r in rows]),
         TRAVEL_TARGET),
        ("G-code bytes / vpype", mean([r.ratio("bytes") for r in rows]), BYTES_TARGET),
        ("estimated time / vpype", mean([r.ratio("seconds") for r in rows]), TIME_TARGET),
        ("estimated time / lower bound (ink at the draw feed + the dwells our G-code waits)",
         mean([r.over_lower_bound for r in rows]), BOUND_TARGET),
        ("estimated time / the issue's formula with every lift's full dwells (no bound for "
         "hovering G-code)", mean([r.over_full_dwell_bound for r in rows]), BOUND_TARGET),
        ("estimated time / motion bound (strokes straight, from rest to rest; "
         "no target, for comparison)", mean([r.over_motion_bound for r in rows]), None),
        (f"with corners rounded ({ROUNDING_MM:g} mm, off in the shipped profiles): "
         "G-code bytes / vpype", mean([r.ratio("bytes", rounded=True) for r in rows]),
         BYTES_TARGET),
        ("  with corners rounded: estimated time / vpype",
         mean([r.ratio("seconds", rounded=True) for r in rows]), TIME_TARGET),
        ("  with corners rounded: estimated time / lower bound",
         mean([r.rounded_over(r.lower_bound_s) for r in rows]), BOUND_TARGET),
        ("  with corners rounded: estimated time / the issue's formula with full dwells",
         mean([r.rounded_over(r.full_dwell_bound_s) for r in rows]), BOUND_TARGET),
        ("peak planner blocks/s over 15 blocks, most of any card (no target; an 8-bit "
         "GRBL plans about 400-500 a second)", max(r.ours.peak_blocks_per_s for r in rows),
         None),
        ("  with corners rounded", max(r.rounded.peak_blocks_per_s if r.rounded else math.nan
                                       for r in rows), None),
    ):
        if target is None:
            table.add_row(name, _num(value, ".3f"), "—", "")
            continue
        table.add_row(name, _num(value, ".3f"), f"≤{target:g}x",
                      _met(None if value is None else value <= target))
    return table


SECTIONS = ("handwriting", "ocr", "plotter", "stream", "service", "load")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmarks named in ``argv`` (default: all of them) and print their tables:
    ``python -m tests.bench service stream``."""
    chosen = set(argv if argv is not None else sys.argv[1:]) or set(SECTIONS)
    unknown = chosen - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown benchmark {sorted(unknown)[0]!r}; one of {', '.join(SECTIONS)}")
    start = time.perf_counter()
    if chosen & {"handwriting", "ocr", "plotter", "stream"} == set():
        if "service" in chosen:
            _service()
        if "load" in chosen:
            _load()
        console.print(f"[dim]benchmarks took {time.perf_counter() - start:.0f} s[/]")
        return
    if not vpype_ref.available():
        console.print("[yellow]vpype / vpype-gcode are not installed: vpype columns are "
                      "empty (pip install -e '.[bench]', or make bench)[/]")
    if "handwriting" in chosen:
        console.print(handwriting_table(measure_handwriting()))
    if "ocr" not in chosen:
        pass
    elif tesseract_available():
        results = read_cases(legibility_cases((0.0, 1.0)), workers=2)
        console.print(ocr_table(font_accuracies(results)))
    else:
        console.print("[yellow]tesseract is not installed: no OCR table[/]")
    if "plotter" in chosen:
        rows = measure_plotter_output()
        console.print(plotter_table(rows))
        console.print(plotter_targets(rows))
    if "stream" in chosen:
        from tests.bench.stream import main as streaming_main

        streaming_main()  # streaming in the simulated GRBL: simulated time against the estimate
    if "service" in chosen:
        _service()
    if "load" in chosen:
        _load()
    console.print(f"[dim]benchmarks took {time.perf_counter() - start:.0f} s[/]")


def _service() -> None:
    from tests.bench.service import measure_service, service_table

    console.print(service_table(measure_service()))


def _load() -> None:
    from tests.bench.load import day_tables, load_tables, measure_day, measure_load

    for part in load_tables(measure_load()):
        console.print(part)
    for part in day_tables(measure_day()):
        console.print(part)


if __name__ == "__main__":
    main()
