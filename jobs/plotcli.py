"""``penpost plot`` and ``penpost simulate``: thin commands over :mod:`plotter.stream` and
:mod:`plotter.simulator`. Plain functions returning an exit status; ``jobs/cli.py`` wires
them into the typer app.

Exit status of ``penpost plot``: 0 plotted; 2 bad input (a file, profile or option; typer
uses 2 for usage errors too); 3 interrupted (the card started and did not finish: an
abort, ``error:N``, ``ALARM:N``, a disconnect or a reply timeout); 4 not connected (the port
cannot be opened, no GRBL banner came, or Ctrl-C while connecting): no line of the card
was sent, so the card is untouched.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from plotter.profile import MachineProfile, load_profile
from plotter.simulator import SimulatedGrbl
from plotter.stream import GrblError, GrblStreamer, StreamEvent, StreamResult

EXIT_PLOTTED = 0
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 3
EXIT_NOT_CONNECTED = 4  # no controller reached: no line of the card was sent

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def gcode_path(target: Path) -> Path:
    """``target`` itself, or ``card.gcode`` in a job output directory."""
    if target.is_dir():
        return target / "card.gcode"
    return target


@contextlib.contextmanager
def _keys(streamer: GrblStreamer) -> Iterator[None]:
    """Space pauses and resumes, ``a`` aborts; only when stdin is a terminal."""
    if not sys.stdin.isatty():
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            key = os.read(fd, 1)
            if key == b" ":
                streamer.resume() if streamer.paused else streamer.pause()
            elif key in (b"a", b"A", b"\x03"):
                streamer.abort()

    tty.setcbreak(fd, termios.TCSANOW)  # keep keys typed before this
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=1)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _seconds(value: float | None) -> str:
    if value is None:
        return "--:--"
    return f"{int(value) // 60}:{int(value) % 60:02d}"


def plot_command(target: Path, port: str | None, profile: str, simulate: bool, *,
                 time_scale: float = 1.0, reply_timeout_s: float = 10.0,
                 connect_timeout_s: float = 5.0, quiet: bool = False) -> int:
    """Plot a G-code file (or a job directory's ``card.gcode``) on ``port``, or on a
    simulated controller with ``simulate`` (``time_scale`` wall s per simulated s, 0 =
    as fast as possible). Returns 0 when plotted, 2 on bad input, 3 when interrupted, 4
    when no controller was reached (see the module's docstring)."""
    path = gcode_path(target)
    try:
        machine: MachineProfile = load_profile(profile)
        text = path.read_text(encoding="ascii")
    except (OSError, KeyError, ValueError) as error:
        err.print(f"[bold red]error:[/] {path}: {error}", highlight=False)
        return EXIT_BAD_INPUT
    if machine.firmware != "grbl":
        err.print(f"[bold red]error:[/] profile {machine.name} is {machine.firmware}; "
                  "penpost plot streams to GRBL only", highlight=False)
        return EXIT_BAD_INPUT
    if not simulate and not port:
        err.print("[bold red]error:[/] give --port PORT or --simulate", highlight=False)
        return EXIT_BAD_INPUT
    sim = SimulatedGrbl(machine, time_scale=time_scale).start() if simulate else None
    device = sim.port if sim is not None else str(port)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                        TextColumn("left {task.fields[left]}  {task.fields[pos]}"),
                        console=console, disable=quiet, transient=False)
    task = progress.add_task("plotting", total=None, left="--:--", pos="")

    def on_event(event: StreamEvent) -> None:
        if event.kind == "ack":
            progress.update(task, completed=event.acked, total=event.total,
                            left=_seconds(event.seconds_left))
        elif event.kind == "status" and event.status is not None:
            pos = event.status.mpos
            text_pos = f"X{pos[0]:.1f} Y{pos[1]:.1f} {event.status.state}" if pos else ""
            progress.update(task, pos=text_pos, total=event.total or None,
                            left=_seconds(event.seconds_left))
        elif event.kind == "paused":
            progress.update(task, description="paused")
            progress.console.print(f"[yellow]paused ({event.text}) after line "
                                   f"{event.acked} of {event.total}; space resumes, "
                                   "a aborts[/]", highlight=False)
        elif event.kind == "resumed":
            progress.update(task, description="plotting")
            progress.console.print(f"resumed ({event.text})", highlight=False)
        elif event.kind in ("warning", "message"):
            progress.console.print(f"[yellow]{event.text}[/]", highlight=False)

    result: StreamResult | None = None
    failure: Exception | None = None
    try:
        with GrblStreamer(device, machine, on_event=on_event, reply_timeout_s=reply_timeout_s,
                          connect_timeout_s=connect_timeout_s) as streamer:
            try:
                streamer.connect()
            except GrblError as error:
                err.print(f"[bold red]not connected:[/] {error}; nothing was plotted",
                          highlight=False)
                return EXIT_NOT_CONNECTED
            except KeyboardInterrupt:
                err.print(f"[bold red]cancelled[/] while connecting to {device}; nothing "
                          "was plotted", highlight=False)
                return EXIT_NOT_CONNECTED

            def run() -> None:
                nonlocal result, failure
                try:
                    result = streamer.stream(text)
                except GrblError as error:
                    failure = error

            worker = threading.Thread(target=run, name="penpost-plot")
            with progress, _keys(streamer):
                if not quiet:  # said once the keys are watched
                    progress.console.print(f"{path} on {device} ({machine.name}); space "
                                           "pauses, a or Ctrl-C aborts", highlight=False)
                worker.start()
                while worker.is_alive():
                    try:
                        worker.join(timeout=0.2)
                    except KeyboardInterrupt:
                        streamer.abort()  # the worker lifts the pen, then returns
    except GrblError as error:
        failure = error
    finally:
        if sim is not None:
            sim.stop()
    if failure is not None or result is None:
        err.print(f"[bold red]error:[/] {failure}", highlight=False)
        return EXIT_INTERRUPTED if failure is not None else EXIT_BAD_INPUT
    if result.finished:
        console.print(f"plotted: {result.total} lines in {result.elapsed_s:.1f} s",
                      highlight=False)
        return EXIT_PLOTTED
    err.print(f"[bold red]interrupted:[/] {result.reason}", highlight=False)
    return EXIT_INTERRUPTED


def simulate_command(profile: str, *, time_scale: float = 1.0) -> int:
    """Serve a simulated GRBL controller on a pty until Ctrl-C; prints its device path."""
    try:
        machine = load_profile(profile)
    except (KeyError, ValueError) as error:
        err.print(f"[bold red]error:[/] {error}", highlight=False)
        return EXIT_BAD_INPUT
    with SimulatedGrbl(machine, time_scale=time_scale) as sim:
        console.print(sim.port, highlight=False)
        console.print(f"simulated GRBL {machine.name} at time scale {time_scale:g}; "
                      "Ctrl-C stops", highlight=False)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        console.print(f"drew {len(sim.strokes())} strokes", highlight=False)
    return EXIT_PLOTTED
