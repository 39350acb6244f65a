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
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from cards.formats import card_format
from jobs import plotqueue
from jobs.db import Job
from jobs.store import Store
from plotter.gcode import Dwell, Move, read_program
from plotter.profile import MachineProfile, load_profile
from plotter.stream import GrblError, GrblStreamer, StreamEvent, StreamResult
from plotter.transform import machine_to_card

PEN_NEARLY_DRY = 0.95  # ask for a new pen before the next card would pass this share
PROGRESS_INTERVAL_S = 0.25  # how often progress is written for the operator page
POLL_S = 0.2  # how often commands and the queue are looked at


@dataclass(frozen=True)
class StationConfig:
    """How a station is run: its name, machine, port (or a simulated controller), pen."""

    name: str
    profile: str = "grbl-servo"
    port: str | None = None
    simulate: bool = False
    time_scale: float = 1.0  # simulator: wall seconds per simulated second
    pen_colour: str = "blue-black"
    ink_capacity_m: float = 500.0  # metres of line a pen writes
    reply_timeout_s: float = 10.0


def stroke_end_lines(gcode: str, profile: MachineProfile) -> list[int]:
    """The G-code line numbers at which each pen-down stroke ends (the pen lifts), in
    plotting order: with the last acknowledged line, how many strokes are drawn."""
    pen = profile.pen
    z_threshold = (pen.up_z_mm + pen.down_z_mm) / 2
    ends, down = [], False
    for command in read_program(gcode, profile):
        if isinstance(command, Dwell):
            continue
        if isinstance(command, Move):
            if pen.kind != "z":
                continue
            now_down = (command.z <= z_threshold if pen.down_z_mm <= pen.up_z_mm
                        else command.z >= z_threshold)
        else:
            now_down = command.down
        if down and not now_down:
            ends.append(command.line)
        down = now_down
    return ends


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
        self._progress: dict = {}
        self._progress_at = 0.0
        self._last_status: tuple[object, float] = (None, 0.0)
        self._beat_at = 0.0  # when this station last wrote its row (monotonic s)

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
                                   ink_capacity_mm=self.config.ink_capacity_m * 1000)
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
            self.last_interrupted = job_id
            self._status("interrupted", f"{job_id} interrupted: {reason}. Take the card out "
                         "and mark it spoiled (S) to reprint it.", current_job_id=job_id)
            self.say(f"{job_id}: INTERRUPTED ({reason}); press s to mark it spoiled")

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
            self._idle_commands()
            job = plotqueue.claim_next(self.store, self.config.name)
            if job is None:
                if self.last_interrupted is not None and (
                        self.store.job(None, self.last_interrupted).state != "interrupted"):
                    self.last_interrupted = None  # marked spoiled elsewhere (the page)
                if self.last_interrupted is None:  # else the interruption stays on show
                    self._status("idle", "Waiting for approved cards.")
                self._heartbeat()
                self.stop.wait(POLL_S)
                continue
            self.plot_job(job)
            ended += 1
        return ended

    def _idle_commands(self) -> None:
        for command in plotqueue.take_commands(self.store, self.config.name):
            self._common_command(command.command, command.job_id, command.actor)

    def _common_command(self, command: str, job_id: str | None, actor: str) -> bool:
        """Commands that mean the same whenever they come; True when handled."""
        if command == "spoiled":
            target = job_id or self.last_interrupted
            if target:
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

    def _wait_for(self, wanted: str, status: str, message: str, job_id: str) -> bool:
        """Show ``message`` and wait for the operator's ``wanted`` command (False when the
        station is stopped or the card was aborted before it began)."""
        self._status(status, message, current_job_id=job_id)
        self.say(message)
        while not self.stop.is_set():
            self._status(status, message, current_job_id=job_id)  # heartbeat while waiting
            for command in plotqueue.take_commands(self.store, self.config.name):
                if command.command == wanted:
                    return True
                if command.command == "abort" and status == "waiting_load":
                    return False
                self._common_command(command.command, command.job_id, command.actor)
            self.stop.wait(POLL_S)
        return False

    # ------------------------------------------------------------ one card

    def plot_job(self, job: Job) -> StreamResult | None:
        """Plot one claimed card (and its envelope): pen check, load prompt, stream,
        record. Returns the card's stream result (None when it never started)."""
        name = self.config.name
        station = plotqueue.station(self.store, name)
        ink_mm = job.ink_mm or 0.0
        colour = str(job.request.get("ink", "blue-black"))
        if colour != station.pen_colour or (
                station.ink_used_mm + ink_mm > PEN_NEARLY_DRY * station.ink_capacity_mm):
            reason = (f"this card is written in {colour}" if colour != station.pen_colour
                      else f"the pen has written {station.ink_used_mm / 1000:.0f} of "
                           f"{station.ink_capacity_mm / 1000:.0f} m")
            if not self._wait_for("pen_changed", "pen_change",
                                  f"Change the pen: put in a fresh {colour} pen ({reason}), "
                                  "then press P.", job.id):
                return None
            plotqueue.update_station(self.store, name, pen_colour=colour, ink_used_mm=0.0)
        card = card_format(job.request["card"])
        label = job.request.get("recipient", {}).get("name", job.id)
        if not self._wait_for("load_done", "waiting_load",
                              f"Load card stock ({card.name}) for {label} ({job.id}), "
                              "then press Enter.", job.id):
            self._status("idle", "Card not started; it stays on the queue.", current_job_id=None)
            return None
        gcode = self._artifact(job, "card.gcode")
        result = self._plot(job, gcode, card.width_mm, card.height_mm, "card", ink_mm)
        if result.finished:
            envelope = self._artifact(job, "envelope.gcode", required=False)
            if envelope is not None:
                self._plot_envelope(job, envelope)
        elif any(word in (result.reason or "") for word in ("disconnected", "connection lost")):
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

    def _plot_envelope(self, job: Job, gcode: str) -> None:
        from cards.envelope import envelope_format

        envelope = envelope_format(job.request.get("envelope", "c6"))
        if not self._wait_for("load_done", "waiting_load",
                              f"Load an envelope ({envelope.name}) for the card of "
                              f"{job.id}, then press Enter.", job.id):
            return
        self._stream(job, gcode, envelope.width_mm, envelope.height_mm, "envelope")

    def _plot(self, job: Job, gcode: str, width_mm: float, height_mm: float, what: str,
              ink_mm: float) -> StreamResult:
        name = self.config.name
        plotqueue.start_plot(self.store, job.id, name, f"station:{name}")
        result = self._stream(job, gcode, width_mm, height_mm, what)
        if result.finished:
            plotqueue.finish_plot(self.store, job.id, name, plotted=True, ink_mm=ink_mm,
                                  reason=f"plotted on {name} in {result.elapsed_s:.0f} s",
                                  actor=f"station:{name}")
            self._status("idle", f"{job.id} plotted.", current_job_id=None)
            self.say(f"{job.id}: plotted in {result.elapsed_s:.0f} s")
        else:
            reason = result.reason or "stopped"
            if not result.pen_up:
                reason += " (the pen-up was not confirmed: check the pen)"
            plotqueue.finish_plot(self.store, job.id, name, plotted=False, reason=reason,
                                  actor=f"station:{name}")
            self.last_interrupted = job.id
            self._status("interrupted", f"{job.id} interrupted: {reason}. Take the card out "
                         "and mark it spoiled (S) to reprint it.", current_job_id=job.id)
            self.say(f"{job.id}: INTERRUPTED ({reason}); press s to mark it spoiled")
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
            for command in plotqueue.take_commands(self.store, name):
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
            self._status("paused", "Paused (feed hold). Press space to go on.")
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


def terminal_commands(store: Store, name: str, stream: TextIO, station: Station) -> None:
    """Read the operator's keys from a terminal, one line at a time, as commands:
    Enter = load done, p = pause/resume, a = abort, s = spoiled, c = pen changed,
    q = stop after this card."""
    paused = False
    for raw in stream:
        key = raw.strip().lower()
        actor = f"terminal:{name}"
        if key == "":
            plotqueue.post_command(store, name, "load_done", actor)
        elif key == "p":
            paused = not paused
            plotqueue.post_command(store, name, "pause" if paused else "resume", actor)
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
        say("keys: Enter = card loaded, p = pause/resume, a = abort, s = spoiled, "
            "c = pen changed, q = quit")
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
