"""A plotter station: one process per plotter that takes approved cards from the queue and
plots them while an operator feeds card stock.

For each card the station asks for stock (the operator page's button or Enter in the
terminal — both become a ``load_done`` command in the database), streams the card's
G-code, and marks it plotted, or interrupted with the reason. An interrupted card is never
plotted again by itself: the operator marks it spoiled and it goes back on the queue as a
reprint. A handwritten envelope follows its card with its own load prompt. The station
counts the ink its pen has written and asks for a pen change when the pen is nearly dry
or the next card wants another colour. A lost connection interrupts the card under the
pen (pen up where the controller still listens); the station's queue stays.
"""

from __future__ import annotations

import bisect
import math
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

from cards.formats import card_format
from jobs import plotqueue
from jobs.db import Job, StationCommand
from jobs.store import Store
from plotter.gcode import read_program
from plotter.profile import MachineProfile, load_profile
from plotter.program import Command, Dwell, Move
from plotter.stream import GrblError, GrblStreamer, StreamEvent, StreamResult, program_lines
from plotter.transform import machine_to_card

PEN_NEARLY_DRY = 0.95  # ask for a new pen before the next card would pass this share
PROGRESS_INTERVAL_S = 0.25  # how often progress is written for the operator page
POLL_S = 0.2  # how often commands and the queue are looked at


def _stop_reason(result: StreamResult) -> str:
    """Why a stream ended unfinished, as the operator and the audit read it."""
    reason = result.reason or "stopped"
    if not result.pen_up:
        reason += " (the pen-up was not confirmed: check the pen)"
    return reason


@dataclass(frozen=True)
class StationConfig:
    """How a station is run: its name, machine, port (or a simulated controller), pen."""

    name: str
    profile: str = "grbl-servo"
    port: str | None = None
    simulate: bool = False
    time_scale: float = 1.0  # simulator: wall seconds per simulated second
    # the loaded pen and the metres of line it writes; None keeps what the station had
    # (a new station: a blue-black pen of 500 m)
    pen_colour: str | None = None
    ink_capacity_m: float | None = None
    reply_timeout_s: float = 10.0


def _pen_states(gcode: str, profile: MachineProfile) -> Iterator[tuple[Command, bool]]:
    """Each command of the program (dwells left out) with whether the pen is down after
    it: a servo pen by its pen commands, a Z pen by the height of each move."""
    pen = profile.pen
    down = False
    for command in read_program(gcode, profile):
        if isinstance(command, Dwell):
            continue
        if isinstance(command, Move):
            if pen.kind == "z":
                down = pen.z_down(command.z)
        else:
            down = command.down
        yield command, down


def stroke_end_lines(gcode: str, profile: MachineProfile) -> list[int]:
    """The G-code line numbers at which each pen-down stroke ends (the pen lifts), in
    plotting order: with the last acknowledged line, how many strokes are drawn."""
    ends, down = [], False
    for command, now_down in _pen_states(gcode, profile):
        if down and not now_down:
            ends.append(command.line)
        down = now_down
    return ends


def ink_by_line(gcode: str, profile: MachineProfile) -> tuple[list[int], list[float]]:
    """The pen-down moves of ``gcode``: their line numbers, and the ink written up to and
    including each (mm of line, machine mm: the card transform keeps lengths). The ink of
    the lines acknowledged up to line L is ``ink[bisect_right(lines, L) - 1]``.

    >>> from plotter.profile import load_profile
    >>> ink_by_line("G0X0Y0\\nM3S1000\\nG1X3Y4F1000\\nM5\\nG0X9", load_profile("grbl-servo"))
    ([3], [5.0])
    """
    lines: list[int] = []
    ink: list[float] = []
    total, xy, down = 0.0, (0.0, 0.0), False
    for command, now_down in _pen_states(gcode, profile):
        if isinstance(command, Move):
            step = math.dist(xy, (command.x, command.y))
            xy = (command.x, command.y)
            if down and now_down and step > 0:
                total += step
                lines.append(command.line)
                ink.append(total)
        down = now_down
    return lines, ink


def ink_through(ink: tuple[list[int], list[float]], line: float) -> float:
    """The ink (mm) written by the lines up to ``line`` of a program (see
    :func:`ink_by_line`; ``math.inf``: all of it)."""
    lines, cumulative = ink
    index = bisect.bisect_right(lines, line)
    return cumulative[index - 1] if index else 0.0


# how each interface names the operator's answers: the terminal reads keys a line at a
# time (see terminal_commands), the page has buttons with their own shortcuts (station.js)
TERMINAL_KEYS = {"load_done": "Enter", "pause": "p", "resume": "p", "abort": "a",
                 "spoiled": "s", "pen_changed": "c"}
PAGE_KEYS = {"load_done": "Card loaded (Enter)", "pause": "Pause (Space)",
             "resume": "Resume (Space)", "abort": "Abort (A)", "spoiled": "Spoiled: reprint (S)",
             "pen_changed": "Pen changed (P)"}
Words = Callable[[dict[str, str]], str]  # a message, given the keys of one interface
KEYS_HELP = ("keys (then Enter): Enter = card loaded, p = pause/resume, a = abort, "
             "s = spoiled, c = pen changed, q = quit")


class Station:
    """The station loop. ``say`` shows the operator a line (the terminal); ``stop`` ends
    the loop after the current card."""

    def __init__(self, store: Store, config: StationConfig, *,
                 say: Callable[[str], None] = print, simulator: object | None = None) -> None:
        self.store = store
        self.config = config
        self.say = say
        self.profile = load_profile(config.profile)
        self.stop = threading.Event()
        self.simulator = simulator  # a SimulatedGrbl given by the caller (tests: faults)
        self.streamer: GrblStreamer | None = None
        self.last_interrupted: str | None = None
        self.envelope_notice: str | None = None  # an envelope not written, on show till the next card
        self._progress: dict = {}
        self._progress_at = 0.0
        self._last_status: tuple[object, float] = (None, 0.0)
        self._beat_at = 0.0  # when this station last wrote its row (monotonic s)
        # commands taken from the queue and not yet handled: those that came in one batch
        # after the one a prompt was waiting for (Enter, then p at once)
        self._pending: deque[StationCommand] = deque()

    # ------------------------------------------------------------ set-up

    def connect(self) -> None:
        """Open the controller (a simulated one with ``simulate``) and register online."""
        port = self.config.port
        if self.config.simulate and self.simulator is None:
            from plotter.simulator import SimulatedGrbl

            self.simulator = SimulatedGrbl(self.profile, time_scale=self.config.time_scale).start()
        if self.simulator is not None:
            port = self.simulator.port  # type: ignore[attr-defined]
        if not port:
            raise ValueError("give a port or simulate")
        plotqueue.register_station(self.store, self.config.name, profile=self.config.profile,
                                   port=port, pen_colour=self.config.pen_colour,
                                   ink_capacity_mm=None if self.config.ink_capacity_m is None
                                   else self.config.ink_capacity_m * 1000)
        self._open(port)
        self._recover_orphans()

    def _recover_orphans(self) -> None:
        """Cards this station was plotting when its previous process ended (a crash, a
        kill): each is interrupted — never plotted, never retried on that stock — and the
        pen is lifted first, since it may still be down on the card."""
        orphans = plotqueue.plotting_on(self.store, self.config.name)
        if not orphans:
            return
        lifted = self.streamer is not None and self.streamer.lift_pen()
        for job_id in orphans:
            reason = ("the station stopped while plotting (process ended mid-card); pen "
                      + ("lifted on restart" if lifted else "NOT confirmed up: check it"))
            plotqueue.finish_plot(self.store, job_id, self.config.name, plotted=False,
                                  reason=reason, actor=f"station:{self.config.name}")
            self._interrupted(job_id, reason)

    def _open(self, port: str) -> None:
        self.streamer = GrblStreamer(port, self.profile, on_event=self._on_event,
                                     reply_timeout_s=self.config.reply_timeout_s)
        self.streamer.open()
        info = self.streamer.connect()
        for warning in info.warnings:
            self.say(f"warning: {warning}")
        self.say(f"station {self.config.name}: {info.version} on {port} ({self.profile.name})")

    def close(self) -> None:
        """Hand queued cards back, mark the station offline, close the port."""
        handed = plotqueue.go_offline(self.store, self.config.name)
        if handed:
            self.say(f"handed {handed} queued card(s) back to the queue")
        if self.streamer is not None:
            self.streamer.close()
        if self.simulator is not None:
            self.simulator.stop()

    # ------------------------------------------------------------ the loop

    def run(self, *, cards: int | None = None) -> int:
        """Plot cards until stopped (or ``cards`` have ended); returns how many ended."""
        ended = 0
        while not self.stop.is_set() and (cards is None or ended < cards):
            # a card first: a command that comes as it is claimed is for its prompt
            job = plotqueue.claim_next(self.store, self.config.name)
            if job is None:
                self._idle_commands()
                if self.last_interrupted is not None and (
                        self.store.job(None, self.last_interrupted).state != "interrupted"):
                    self.last_interrupted = None  # marked spoiled elsewhere (the page)
                if self.last_interrupted is None and self.envelope_notice is None:
                    self._status("idle", "Waiting for approved cards.")
                # else the interruption stays on show
                self._heartbeat()
                self.stop.wait(POLL_S)
                continue
            self.envelope_notice = None
            self.plot_job(job)
            ended += 1
        return ended

    def _commands(self) -> list[StationCommand]:
        """The operator's commands not yet handled, oldest first: those left over from the
        last batch, then the new ones."""
        commands = [*self._pending, *plotqueue.take_commands(self.store, self.config.name)]
        self._pending.clear()
        return commands

    def _idle_commands(self) -> None:
        for command in self._commands():
            self._common_command(command.command, command.job_id, command.actor)

    def _common_command(self, command: str, job_id: str | None, actor: str) -> bool:
        """Commands that mean the same whenever they come; True when handled. Spoiled
        without a card (the terminal's s) is for the newest card interrupted here that is
        not marked yet, whatever the station has claimed since."""
        if command == "spoiled":
            target = job_id or plotqueue.last_interrupted(self.store, self.config.name)
            if not target:
                self.say("no interrupted card to mark spoiled")
            else:
                try:
                    plotqueue.mark_spoiled(self.store, target, actor)
                    self.say(f"{target}: marked spoiled, queued again as a reprint")
                except Exception as error:  # noqa: BLE001 - tell the operator, go on
                    self.say(f"cannot reprint {target}: {error}")
                if target == self.last_interrupted:
                    self.last_interrupted = None
            return True
        if command == "pen_changed":
            plotqueue.update_station(self.store, self.config.name, ink_used_mm=0.0)
            self.say("pen changed: ink count reset")
            return True
        return False

    def _tell(self, status: str, words: Words, **values: object) -> None:
        """Show ``status`` with a message that names the answers as the page shows them,
        and say it to the terminal with the terminal's keys."""
        self._status(status, words(PAGE_KEYS), **values)
        self.say(words(TERMINAL_KEYS))

    def _interrupted(self, job_id: str, reason: str) -> None:
        """Show that card ``job_id`` was interrupted and ask for it to be marked spoiled."""
        self.last_interrupted = job_id
        self._status("interrupted", f"{job_id} interrupted: {reason}. Take the card out and "
                     f"mark it spoiled: press {PAGE_KEYS['spoiled']} to reprint it.",
                     current_job_id=job_id)
        self.say(f"{job_id}: INTERRUPTED ({reason}); press {TERMINAL_KEYS['spoiled']} to "
                 "mark it spoiled")

    def _status(self, status: str, message: str | None, **values: object) -> None:
        """Show ``status`` and ``message``; an unchanged idle status is written only as a
        heartbeat every few seconds."""
        now = time.monotonic()
        key = (status, message, repr(sorted(values.items(), key=str)))
        if key == self._last_status[0] and now - self._last_status[1] < self._beat_s():
            return
        self._last_status = (key, now)
        plotqueue.update_station(self.store, self.config.name, status=status, message=message,
                                 **values)
        self._beat_at = now

    def _beat_s(self) -> float:
        # the heartbeat: often enough that others never take this station for gone
        # (station_stale_s) and its queued cards from it
        return min(5.0, self.store.settings.station_stale_s / 3)

    def _heartbeat(self) -> None:
        """Write ``last_seen_at`` when this station has not written its row for a beat:
        in the loops that show nothing new for long (an interruption on show with the
        queue empty, a feed hold mid-card)."""
        now = time.monotonic()
        if now - self._beat_at < self._beat_s():
            return
        self._beat_at = now
        plotqueue.update_station(self.store, self.config.name)

    def _wait_for(self, wanted: str, status: str, words: Words, job_id: str) -> bool:
        """Show the prompt (``words``, with the keys of each interface) and wait for the
        operator's ``wanted`` command (False when the station is stopped or the card was
        aborted before it began)."""
        self._tell(status, words, current_job_id=job_id)
        message = words(PAGE_KEYS)
        while not self.stop.is_set():
            self._status(status, message, current_job_id=job_id)  # heartbeat while waiting
            commands = self._commands()
            for index, command in enumerate(commands):
                if command.command == wanted or (command.command == "abort"
                                                 and status == "waiting_load"):
                    self._pending.extend(commands[index + 1:])  # for what comes next
                    return command.command == wanted
                self._common_command(command.command, command.job_id, command.actor)
            self.stop.wait(POLL_S)
        return False

    # ------------------------------------------------------------ one card

    def plot_job(self, job: Job) -> StreamResult | None:
        """Plot one claimed card (and its envelope): pen check, load prompt, stream,
        record. Returns the card's stream result (None when it never started)."""
        name = self.config.name
        station = plotqueue.station(self.store, name)
        envelope = self._artifact(job, "envelope.gcode", required=False)
        envelope_ink = ink_by_line(envelope, self.profile) if envelope else ([], [])
        ink_mm = job.ink_mm or 0.0
        colour = str(job.request.get("ink", "blue-black"))
        # the envelope is written with the card's pen: it must last for both
        if colour != station.pen_colour or (
                station.ink_used_mm + ink_mm + ink_through(envelope_ink, math.inf)
                > PEN_NEARLY_DRY * station.ink_capacity_mm):
            reason = (f"this card is written in {colour}" if colour != station.pen_colour
                      else f"the pen has written {station.ink_used_mm / 1000:.0f} of "
                           f"{station.ink_capacity_mm / 1000:.0f} m")
            if not self._wait_for("pen_changed", "pen_change",
                                  lambda keys: f"Change the pen: put in a fresh {colour} pen "
                                  f"({reason}), then press {keys['pen_changed']}.", job.id):
                return None
            plotqueue.update_station(self.store, name, pen_colour=colour, ink_used_mm=0.0)
        card = card_format(job.request["card"])
        label = job.request.get("recipient", {}).get("name", job.id)
        if not self._wait_for("load_done", "waiting_load",
                              lambda keys: f"Load card stock ({card.name}) for {label} "
                              f"({job.id}), then press {keys['load_done']}.", job.id):
            self._status("idle", "Card not started; it stays on the queue.", current_job_id=None)
            return None
        gcode = self._artifact(job, "card.gcode")
        result = self._plot(job, gcode, card.width_mm, card.height_mm, "card", ink_mm)
        if result.finished and envelope is not None:
            envelope_result = self._plot_envelope(job, envelope, envelope_ink)
            if envelope_result is not None and _connection_lost(envelope_result):
                self._reconnect()
        elif _connection_lost(result):
            self._reconnect()
        return result

    def _reconnect(self) -> None:
        """The controller is gone: show it, and open it again until it answers; the
        station keeps its queue meanwhile."""
        port = plotqueue.station(self.store, self.config.name).port
        while not self.stop.is_set():
            self._status("offline", f"Lost the plotter on {port}: reconnecting…")
            self.say(f"lost the plotter on {port}; reconnecting")
            if self.streamer is not None:
                self.streamer.close()
            try:
                self._open(port)
                self._status("idle", "Plotter connected again.")
                return
            except (GrblError, OSError) as error:
                self.say(f"reconnect failed: {error}")
                self.stop.wait(2.0)

    def _artifact(self, job: Job, name: str, required: bool = True) -> str | None:
        artifacts = self.store.artifacts(job)
        if name not in artifacts:
            if required:
                raise ValueError(f"job {job.id} has no {name}")
            return None
        return self.store.artifact_path(artifacts[name]).read_text(encoding="ascii")

    def _plot_envelope(self, job: Job, gcode: str, ink: tuple[list[int], list[float]]
                       ) -> StreamResult | None:
        """Write the envelope of a plotted card after its own load prompt; its ink
        (:func:`ink_by_line` of ``gcode``) is counted on the pen. An envelope that stops mid-way (or is never begun) leaves the
        card plotted: the operator is told and the job gets an audit row."""
        from cards.envelope import envelope_format

        name = self.config.name
        envelope = envelope_format(job.request.get("envelope", "c6"))
        if not self._wait_for("load_done", "waiting_load",
                              lambda keys: f"Load an envelope ({envelope.name}) for the card "
                              f"of {job.id}, then press {keys['load_done']}.", job.id):
            why = ("the station stopped before it was written" if self.stop.is_set()
                   else "aborted at the load prompt")
            self._envelope_not_written(job.id, why)
            return None
        self.say(f"{job.id}: writing the envelope")
        result = self._stream(job, gcode, envelope.width_mm, envelope.height_mm, "envelope")
        plotqueue.add_ink(self.store, name, ink_through(ink, self._acked_line(gcode, result)))
        if result.finished:
            self._status("idle", f"{job.id} plotted, with its envelope.", current_job_id=None)
            self.say(f"{job.id}: envelope written in {result.elapsed_s:.0f} s")
        else:
            self._envelope_not_written(job.id, _stop_reason(result))
        return result

    def _envelope_not_written(self, job_id: str, reason: str) -> None:
        name = self.config.name
        self.envelope_notice = job_id
        plotqueue.note_envelope_interrupted(self.store, job_id, name, reason,
                                            f"station:{name}")
        self._status("interrupted", f"The envelope of {job_id} was not written: {reason}. "
                     "The card is plotted; address a new envelope for it by hand.",
                     current_job_id=None)
        self.say(f"{job_id}: ENVELOPE INTERRUPTED ({reason}); the card is plotted, address "
                 "a new envelope for it by hand")

    def _acked_line(self, gcode: str, result: StreamResult) -> int:
        """The file line of the last line the controller acknowledged (0: none)."""
        lines = program_lines(gcode)
        counted = lines[result.acked - 1][0] if 0 < result.acked <= len(lines) else 0
        return max(counted, self._progress.get("acked_line", 0))

    def _plot(self, job: Job, gcode: str, width_mm: float, height_mm: float, what: str,
              ink_mm: float) -> StreamResult:
        name = self.config.name
        plotqueue.start_plot(self.store, job.id, name, f"station:{name}")
        self.say(f"{job.id}: plotting the {what}")
        result = self._stream(job, gcode, width_mm, height_mm, what)
        if result.finished:
            plotqueue.finish_plot(self.store, job.id, name, plotted=True, ink_mm=ink_mm,
                                  reason=f"plotted on {name} in {result.elapsed_s:.0f} s",
                                  actor=f"station:{name}")
            self._status("idle", f"{job.id} plotted.", current_job_id=None)
            self.say(f"{job.id}: plotted in {result.elapsed_s:.0f} s")
        else:
            reason = _stop_reason(result)
            # the card is spoiled, but the pen wrote what the controller took
            written = ink_through(ink_by_line(gcode, self.profile),
                                  self._acked_line(gcode, result))
            plotqueue.finish_plot(self.store, job.id, name, plotted=False, reason=reason,
                                  actor=f"station:{name}", ink_mm=written)
            self._interrupted(job.id, reason)
        return result

    def _stream(self, job: Job, gcode: str, width_mm: float, height_mm: float,
                what: str) -> StreamResult:
        """Stream ``gcode``, passing pause/resume/abort commands to the streamer."""
        name = self.config.name
        ends = stroke_end_lines(gcode, self.profile)
        self._progress = {"job_id": job.id, "what": what, "acked": 0, "total": 0,
                          "strokes_done": 0, "strokes_total": len(ends), "pen": None,
                          "elapsed_s": 0.0, "remaining_s": None, "outcome": None,
                          "reason": None, "card_mm": [width_mm, height_mm]}
        self._ends, self._size, self._started = ends, (width_mm, height_mm), time.monotonic()
        self._status("plotting", f"Plotting the {what} of {job.id}.", current_job_id=job.id,
                     progress=dict(self._progress))
        outcome: dict[str, StreamResult] = {}

        def run() -> None:
            assert self.streamer is not None
            try:
                outcome["result"] = self.streamer.stream(gcode)
            except GrblError as error:
                outcome["result"] = StreamResult(False, 0, 0, 0.0, reason=str(error),
                                                 pen_up=False)
            except OSError as error:
                outcome["result"] = StreamResult(False, 0, 0, 0.0, pen_up=False,
                                                 reason=f"connection lost: {error}")

        worker = threading.Thread(target=run, name=f"station-{name}-stream", daemon=True)
        worker.start()
        while worker.is_alive():
            # pause and abort wait until the card is under way: before, an abort would
            # be cleared by the stream's start
            if self.streamer is not None and self.streamer.streaming.is_set():
                for command in self._commands():
                    self._stream_command(command.command, command.job_id, command.actor)
            if self.stop.is_set() and self.streamer is not None:
                self.streamer.abort()
            # progress writes beat too, but only while the controller reports; in a feed
            # hold it may go quiet for as long as the operator takes
            self._heartbeat()
            worker.join(POLL_S)
        result = outcome["result"]
        self._progress.update(outcome=result.outcome, reason=result.reason,
                              elapsed_s=round(time.monotonic() - self._started, 1))
        if result.finished:
            self._progress.update(strokes_done=len(ends), acked=result.acked,
                                  total=result.total, remaining_s=0)
        plotqueue.update_station(self.store, name, progress=dict(self._progress))
        return result

    def _stream_command(self, command: str, job_id: str | None, actor: str) -> None:
        streamer = self.streamer
        if streamer is None:
            return
        if command == "pause":
            streamer.pause()
            self._tell("paused", lambda keys: "Paused (feed hold): press "
                       f"{keys['resume']} to go on, {keys['abort']} to abort.")
        elif command == "resume":
            streamer.resume()
            self._status("plotting", "Plotting.")
        elif command == "abort":
            self.say(f"abort requested by {actor}")
            streamer.abort()
        else:
            self._common_command(command, job_id, actor)

    def _on_event(self, event: StreamEvent) -> None:
        """Progress for the operator page, written a few times a second."""
        progress = self._progress
        if not progress:
            return
        if event.kind == "ack":
            progress["acked"], progress["total"] = event.acked, event.total
            if event.line is not None:
                progress["acked_line"] = event.line
                progress["strokes_done"] = bisect.bisect_right(self._ends, event.line)
            if event.seconds_left is not None:  # wall seconds, like elapsed_s
                scale = self.config.time_scale if self.simulator is not None else 1.0
                progress["remaining_s"] = round(event.seconds_left * (scale or 1.0), 1)
        elif event.kind == "status" and event.status is not None:
            position = event.status.wpos or event.status.mpos
            if position is not None:
                card = machine_to_card([[position[0], position[1]]], self.profile, *self._size)
                progress["pen"] = [round(float(card[0][0]), 2), round(float(card[0][1]), 2)]
        elif event.kind in ("paused", "resumed"):
            status = "paused" if event.kind == "paused" else "plotting"
            plotqueue.update_station(self.store, self.config.name, status=status)
        now = time.monotonic()
        if now - self._progress_at >= PROGRESS_INTERVAL_S:
            self._progress_at = now
            progress["elapsed_s"] = round(now - self._started, 1)
            try:
                plotqueue.update_station(self.store, self.config.name, progress=dict(progress))
            except Exception:  # noqa: BLE001 - the page misses one update; plotting goes on
                pass


def _connection_lost(result: StreamResult) -> bool:
    return any(word in (result.reason or "") for word in ("disconnected", "connection lost"))


def terminal_commands(store: Store, name: str, stream: TextIO, station: Station) -> None:
    """Read the operator's keys from a terminal, one line at a time, as commands:
    Enter = load done, p = pause/resume, a = abort, s = spoiled, c = pen changed,
    q = stop after this card. Whether p pauses or resumes is read from the station's
    row: the page or the machine's own button may have paused it meanwhile."""
    for raw in stream:
        key = raw.strip().lower()
        actor = f"terminal:{name}"
        if key == "":
            plotqueue.post_command(store, name, "load_done", actor)
        elif key == "p":
            paused = plotqueue.station(store, name).status == "paused"
            plotqueue.post_command(store, name, "resume" if paused else "pause", actor)
        elif key == "a":
            plotqueue.post_command(store, name, "abort", actor)
        elif key == "s":
            plotqueue.post_command(store, name, "spoiled", actor)
        elif key == "c":
            plotqueue.post_command(store, name, "pen_changed", actor)
        elif key == "q":
            station.stop.set()
            station.say("stopping after this card")
            return
        else:
            station.say(f"unknown key {key!r}: {KEYS_HELP}")


def station_command(config: StationConfig, *, terminal: bool, cards: int | None = None) -> int:
    """``penpost station``: run a station until Ctrl-C (or ``cards`` cards); exit 0."""
    from jobs.servicecli import migrated_store
    from jobs.settings import load_settings

    store = migrated_store(load_settings())

    def say(text: str) -> None:
        print(text, flush=True)

    station = Station(store, config, say=say)
    try:
        station.connect()
    except (GrblError, OSError, ValueError) as error:
        print(f"error: station {config.name}: {error}", file=sys.stderr, flush=True)
        plotqueue.go_offline(store, config.name)
        return 2
    def terminate(*_: object) -> None:  # SIGTERM: stop like Ctrl-C (pen up, cards handed back)
        station.stop.set()

    signal.signal(signal.SIGTERM, terminate)
    if terminal:
        say(KEYS_HELP)
        threading.Thread(target=terminal_commands, args=(store, config.name, sys.stdin, station),
                         daemon=True, name="station-terminal").start()
    try:
        station.run(cards=cards)
    except KeyboardInterrupt:
        station.stop.set()
        if station.streamer is not None:
            station.streamer.abort()
    finally:
        station.close()
    return 0
