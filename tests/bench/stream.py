"""Streaming benchmark (issue 5): the example cards through the simulated GRBL at 115200
baud, plot time in simulated time against the planner's estimate (target: within 2 %),
planner starvation events (target: 0), and the same card sent with send-and-wait (one
line, wait for ``ok``) for comparison, with the ratio of the two plot times.

Every reply reaches the host :data:`REPLY_LATENCY_S` late, as through a USB-serial
adapter (``SimulatedGrbl(reply_latency_s=…)``: FTDI 16 ms by default, CH340 1–2 ms, the
Uno's 16U2 about 1 ms); send-and-wait pays it once per line, character counting hides it.

- Character counting is our :class:`plotter.stream.GrblStreamer` over the pty, run twice
  per card: with the simulator at a time scale (:data:`TIME_SCALE` wall s per simulated
  s), the real streamer, threads and all, where the host's own delays count
  ``1 / TIME_SCALE`` times over (a stall of the loaded 2-core host shows as a stutter, so
  the figure is if anything pessimistic); and in the simulator's virtual time
  (``time_scale=0``), where simulated time moves only when the controller waits for
  motion or for bytes on the wire, so host stalls shorter than the simulator's
  ``host_wait_s`` (50 ms) do not count. Both are judged against the targets, side by side.
- Send-and-wait runs in virtual time too (an infinitely fast host, told
  ``host_budget_bytes=0``): at a time scale the test host's own round trip per line,
  magnified the same way, would be charged to it on every line (2 to 7 % more at a time
  scale of 0.03 in a trial). So its time is the protocol's cost alone, and the ratio is
  taken against the virtual-time counting run: both sides on the same clock.

Our G-code's segments are longer than vpype's (median about 0.5 mm, some 20 to 35 lines a
second over a card), so send-and-wait mostly loses time after each pen sync (``M3``,
``M5``, ``G4``): the next line is sent only once the sync's ``ok`` came back.

As GRBL does, the simulator re-plans a block that started alone when the next move
comes in while it runs (a program's first move, or any move after a send-and-wait
round trip), so only a real stop or a brake for one counts as a starvation. Starvations
are listed under the table with their line.

A second table streams each card for grbl-servo in virtual time to a simulator whose
CPU plans at most :data:`EIGHT_BIT_BLOCKS_PER_S` blocks a second, as an ATmega328p GRBL
does, once as shipped and once with corners rounded (the profile's
``corner_rounding_mm``), with each card's peak block rate: whether the shorter blocks of
rounded corners outrun an 8-bit controller.

Cards run two at a time in worker processes (2 cores); about 100 s in all.
Run: ``.venv/bin/python -m tests.bench.stream``.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import serial
from rich import box
from rich.console import Console
from rich.table import Table

from jobs.render import render_job
from jobs.schema import load_job
from plotter.gcode import read_program
from plotter.planner import plan
from plotter.profile import MachineProfile, load_profile
from plotter.simulator import SimulatedGrbl
from plotter.stream import GrblStreamer, program_lines
from tests.bench.plotter_output import ROUNDING_MM, peak_block_rate

EXAMPLES = Path(__file__).resolve().parents[2] / "jobs" / "examples"
PROFILES = ("grbl-servo", "grbl-z")
BAUD = 115200
# wall s per simulated s for the character-counting run; at 0.05 a hiccup of the host
# (20 times magnified) showed as a stray starvation now and then
TIME_SCALE = 0.1
REPLY_LATENCY_S = 0.004  # a CH340 or a tuned FTDI adapter, a little above a 16U2
FTDI_DEFAULT_LATENCY_S = 0.016  # FTDI's default latency timer, for a second comparison
DEVIATION_TARGET = 0.02  # simulated plot time within 2 % of the estimate
WORKERS = 2
# blocks a second an ATmega328p GRBL parses and plans: 400-500 (GRBL's author, gnea/grbl#264)
EIGHT_BIT_BLOCKS_PER_S = 450.0


@dataclass(frozen=True)
class StreamRow:
    """One card on one profile; times in simulated seconds."""

    profile: str
    card: str
    lines: int
    estimate_s: float  # the planner's estimate (render_job's plot_seconds)
    counting_s: float  # GrblStreamer, character counting, at TIME_SCALE
    counting_starvations: tuple[tuple[float, int], ...]  # (simulated s, K-th G-code line sent)
    virtual_s: float  # GrblStreamer, character counting, in virtual time
    virtual_starvations: tuple[tuple[float, int], ...]  # as counting_starvations
    overflow_bytes: int  # receive-buffer overflows during both counting runs (must be 0)
    wait_s: float  # send-and-wait at REPLY_LATENCY_S, virtual time
    wait_starvations: int
    wait_ftdi_s: float  # send-and-wait at FTDI_DEFAULT_LATENCY_S
    wall_s: float

    @property
    def deviation(self) -> float:
        return self.counting_s / self.estimate_s - 1.0

    @property
    def virtual_deviation(self) -> float:
        return self.virtual_s / self.estimate_s - 1.0

    @property
    def ratio(self) -> float:
        """Send-and-wait over character counting, both in virtual time."""
        return self.wait_s / self.virtual_s


def _send_and_wait(port: str, text: str) -> None:
    """One line, then wait for its ``ok`` (what a naive sender does)."""
    with serial.serial_for_url(port, baudrate=BAUD, timeout=10) as s:
        for _, line in program_lines(text):
            s.write(line.encode("ascii") + b"\n")
            while (reply := s.readline().strip()) != b"ok":
                if not reply or reply.startswith((b"error", b"ALARM")):
                    raise RuntimeError(f"send-and-wait: {line!r} answered {reply!r}")


def _send_and_wait_s(profile_name: str, text: str, latency_s: float) -> tuple[float, int]:
    """Simulated plot time and starvations of ``text`` sent with send-and-wait."""
    profile = load_profile(profile_name)
    with SimulatedGrbl(profile, baud=BAUD, host_budget_bytes=0,
                       reply_latency_s=latency_s) as sim:
        _send_and_wait(sim.port, text)
        while sim.state != "Idle":  # the planner's tail still runs after the last ok
            time.sleep(0.02)
        return sim.log.plot_s, len(sim.log.starvations)


def _counting(profile_name: str | MachineProfile, text: str, time_scale: float,
              latency_s: float) -> tuple[float, tuple[tuple[float, int], ...], int]:
    """Simulated plot time, starvations and overflow bytes of ``text`` streamed by
    :class:`GrblStreamer` into the simulator at ``time_scale`` (0: virtual time)."""
    profile = (load_profile(profile_name) if isinstance(profile_name, str)
               else profile_name)
    with SimulatedGrbl(profile, baud=BAUD, time_scale=time_scale,
                       reply_latency_s=latency_s) as sim, \
            GrblStreamer(sim.port, profile, baud=BAUD) as streamer:
        streamer.connect()
        result = streamer.stream(text)
        if not result.finished:
            raise RuntimeError(f"{profile_name} at time scale {time_scale:g}: {result.reason}")
        return sim.log.plot_s, tuple(sim.log.starvations), sim.log.overflow_bytes


def measure_card(profile_name: str, job: Path, time_scale: float = TIME_SCALE,
                 latency_s: float = REPLY_LATENCY_S) -> StreamRow:
    """Render ``job`` for ``profile_name`` and stream it: character counting at
    ``time_scale`` and in virtual time, send-and-wait in virtual time."""
    start = time.perf_counter()
    profile = load_profile(profile_name)
    card = render_job(load_job(job), dpi=30, profile=profile)  # the PNG is not looked at
    text = card.files["card.gcode"].decode("ascii")
    counting_s, starved, overflow = _counting(profile_name, text, time_scale, latency_s)
    virtual_s, virtual_starved, virtual_overflow = _counting(profile_name, text, 0.0,
                                                             latency_s)
    wait_s, wait_starved = _send_and_wait_s(profile_name, text, latency_s)
    wait_ftdi_s, _ = _send_and_wait_s(profile_name, text, FTDI_DEFAULT_LATENCY_S)
    return StreamRow(profile_name, job.stem, len(program_lines(text)), card.plot_seconds,
                     counting_s, starved, virtual_s, virtual_starved,
                     overflow + virtual_overflow, wait_s, wait_starved, wait_ftdi_s,
                     time.perf_counter() - start)


@dataclass(frozen=True)
class CpuRow:
    """One card streamed in virtual time to a simulated 8-bit GRBL that plans at most
    :data:`EIGHT_BIT_BLOCKS_PER_S` blocks a second, as shipped and with corners rounded."""

    card: str
    rounded: bool
    blocks_per_s: float  # the peak over any 15 blocks (tests.bench.plotter_output)
    estimate_s: float  # the planner's estimate, which does not know the CPU
    simulated_s: float
    starvations: int


def measure_cpu_card(job: Path, rounded: bool) -> CpuRow:
    """Render ``job`` for grbl-servo (corners rounded at ROUNDING_MM if ``rounded``) and
    stream it in virtual time to a simulator whose CPU plans EIGHT_BIT_BLOCKS_PER_S."""
    profile = load_profile("grbl-servo")
    if rounded:
        profile = dataclasses.replace(profile, corner_rounding_mm=ROUNDING_MM)
    card = render_job(load_job(job), dpi=30, profile=profile)
    text = card.files["card.gcode"].decode("ascii")
    timed = plan(read_program(text, profile), profile)
    slow = dataclasses.replace(profile, planner_blocks_per_s=EIGHT_BIT_BLOCKS_PER_S)
    simulated_s, starved, _ = _counting(slow, text, 0.0, REPLY_LATENCY_S)
    return CpuRow(job.stem, rounded, peak_block_rate(timed.blocks, profile.planner_blocks),
                  timed.total_s, simulated_s, len(starved))


def cpu_table(rows: list[CpuRow]) -> Table:
    """Simulated time on an 8-bit controller against the estimate."""
    table = Table(box=box.SIMPLE_HEAD, title=(
        f"streaming to an 8-bit GRBL that plans at most {EIGHT_BIT_BLOCKS_PER_S:g} blocks a "
        "second (grbl-servo, virtual time): shipped G-code and corners rounded "
        f"({ROUNDING_MM:g} mm)"))
    for column in ("card", "corners", "peak blocks/s", "estimate s", "simulated s", "dev. %",
                   "starvations"):
        table.add_column(column, justify="left" if column in ("card", "corners") else "right")
    for r in rows:
        table.add_row(r.card, "rounded" if r.rounded else "sharp", f"{r.blocks_per_s:.0f}",
                      f"{r.estimate_s:.2f}", f"{r.simulated_s:.2f}",
                      f"{(r.simulated_s / r.estimate_s - 1) * 100:+.2f}", str(r.starvations))
    return table


def measure_streaming(profiles: tuple[str, ...] = PROFILES, *,
                      time_scale: float = TIME_SCALE, workers: int = WORKERS) -> list[StreamRow]:
    """Every example card on every profile, ``workers`` cards at a time."""
    jobs = sorted(EXAMPLES.glob("*.json"))
    tasks = [(name, job) for name in profiles for job in jobs]
    # spawn: the benchmarks before this one may have left threads in this process
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(measure_card, name, job, time_scale) for name, job in tasks]
        return [f.result() for f in futures]


def _met(ok: bool) -> str:
    return "[green]met[/]" if ok else "[red]not met[/]"


def _judged(simulated_s: float, deviation: float, starvations: int) -> list[str]:
    return [f"{simulated_s:.2f}", f"{deviation * 100:+.2f}",
            _met(abs(deviation) <= DEVIATION_TARGET), str(starvations), _met(starvations == 0)]


def streaming_table(rows: list[StreamRow], time_scale: float = TIME_SCALE) -> Table:
    """Simulated plot time against the estimate and starvations, at a time scale and in
    virtual time side by side; send-and-wait (virtual time) and its ratio to character
    counting in virtual time."""
    table = Table(box=box.SIMPLE_HEAD, title=(
        f"streaming: example cards through the simulated GRBL at {BAUD} baud, replies "
        f"{REPLY_LATENCY_S * 1000:g} ms late (USB-serial adapter); character counting is "
        f"GrblStreamer at time scale {time_scale:g} (host stalls magnified) and in virtual "
        f"time; send-and-wait runs in virtual time, its ratio is to counting in virtual time"))
    target = (f"≤{DEVIATION_TARGET:.0%}", "starv.", "=0")
    for column in ("profile", "card", "lines", "estimate s",
                   f"×{time_scale:g} s", "dev. %", *target,
                   "virtual s", "dev. %", *target,
                   "send-and-wait s", "starv.", "ratio",
                   f"s&w {FTDI_DEFAULT_LATENCY_S * 1000:g} ms s", "ratio"):
        left = column in ("profile", "card")
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    for r in rows:
        table.add_row(
            r.profile, r.card, str(r.lines), f"{r.estimate_s:.2f}",
            *_judged(r.counting_s, r.deviation, len(r.counting_starvations)),
            *_judged(r.virtual_s, r.virtual_deviation, len(r.virtual_starvations)),
            f"{r.wait_s:.2f}", str(r.wait_starvations), f"{r.ratio:.3f}",
            f"{r.wait_ftdi_s:.2f}", f"{r.wait_ftdi_s / r.virtual_s:.3f}")
    return table


def main() -> None:
    """Print the streaming table, and the 8-bit controller's."""
    console = Console(width=max(shutil.get_terminal_size().columns, 200), highlight=False)
    start = time.perf_counter()
    rows = measure_streaming()
    console.print(streaming_table(rows))
    jobs = sorted(EXAMPLES.glob("*.json"))
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(measure_cpu_card, job, rounded)
                   for job in jobs for rounded in (False, True)]
        console.print(cpu_table([f.result() for f in futures]))
    for r in rows:
        for clock, starved in ((f"at time scale {TIME_SCALE:g}", r.counting_starvations),
                               ("in virtual time", r.virtual_starvations)):
            if starved:
                where = ", ".join(f"G-code line {k} sent at {t:.3f} s" for t, k in starved)
                console.print(f"{r.profile} {r.card}: character counting {clock} starved "
                              f"at {where}")
    overflow = sum(r.overflow_bytes for r in rows)
    console.print(f"receive-buffer overflow during character counting: {overflow} bytes; "
                  f"streaming took {time.perf_counter() - start:.0f} s wall "
                  f"(cards {sum(r.wall_s for r in rows):.0f} s, {WORKERS} at a time)")


if __name__ == "__main__":
    main()
