"""Streaming G-code to a GRBL 1.1 controller: the one class that owns the serial port.

:class:`GrblStreamer` opens any pyserial URL (``/dev/ttyUSB0``, a pty path from
:class:`plotter.simulator.SimulatedGrbl`, ``socket://host:port``), wakes and soft-resets
the controller, reads ``$I`` and ``$$``, and streams a card with GRBL's
*character-counting* flow control (``doc/script/stream.py``): the host keeps the lengths
of the lines it has sent and not yet seen answered, and sends the next line only while
their sum stays within the controller's 128-byte receive buffer. Unlike send-and-wait
(one line, wait for ``ok``), this keeps the receive buffer and so the 15-block planner
full: with segments of 0.35 mm at 50 mm/s a card needs some 144 lines a second.

Events (:class:`StreamEvent`) go to one callback, so a CLI, a station and a web page can
watch the same stream. ``paused`` and ``resumed`` follow the controller's status reports:
they come when a report first shows the hold (after :meth:`GrblStreamer.pause`, or a hold
button on the machine) and when one first shows it over. A card that did not finish is
reported ``interrupted`` with the reason, the line and GRBL's meaning of the code, never
``finished``; after any interrupt the streamer stops the machine (feed hold, soft reset,
``$X``) and lifts the pen where the controller still answers. A reply lost on the way is
found from the status reports' receive-buffer figure (:class:`_LostReplyWatch`), or at
worst by the reply timeout, which status reports do not hold off. A ``$`` setting in a
program goes alone, on a machine at rest, and nothing follows it until it is answered.
Times are seconds, positions machine mm.
"""

from __future__ import annotations

import math
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import serial

from plotter.gcode import GcodeError, read_program
from plotter.grbl_codes import alarm_meaning, error_meaning
from plotter.planner import Plan, plan
from plotter.profile import MachineProfile

RX_BUFFER_BYTES = 128  # GRBL's serial receive buffer (RX_BUFFER_SIZE), bytes
LINE_MAX_CHARS = 79  # GRBL's line buffer: 80 bytes with the terminating zero
RESET = b"\x18"
_BANNER = re.compile(r"^Grbl (\S+) \['\$' for help\]")
_SETTING = re.compile(r"^\$(\d+)=([-+]?[\d.]+)")

EventKind = Literal["connected", "warning", "message", "ack", "status", "paused", "resumed",
                    "finished", "interrupted"]


class GrblError(Exception):
    """The controller could not be reached or did not answer as GRBL does."""


@dataclass(frozen=True)
class Status:
    """One GRBL 1.1 status report (``<Run|MPos:1.000,2.000,0.000|Bf:15,128|FS:500,0>``).

    ``state`` is the name (``Idle``, ``Run``, ``Hold``, ``Alarm``, ``Door``, ``Check``…),
    ``sub_state`` the number after a colon (``Hold:0`` → 0). Positions are mm: ``mpos``
    machine, ``wpos`` work (one of them is reported, the other derived when ``WCO`` is
    known), ``wco`` the work offset. ``planner_free`` blocks and ``rx_free`` bytes are
    what the buffers have free; ``feed_mm_min`` the current speed, ``spindle`` the S
    value; ``pins`` the ``Pn:`` letters; ``line`` the ``Ln:`` line number.
    """

    state: str
    sub_state: int | None = None
    mpos: tuple[float, float, float] | None = None
    wpos: tuple[float, float, float] | None = None
    wco: tuple[float, float, float] | None = None
    planner_free: int | None = None
    rx_free: int | None = None
    feed_mm_min: float | None = None
    spindle: float | None = None
    pins: str = ""
    line: int | None = None
    raw: str = ""


def _xyz(text: str) -> tuple[float, float, float]:
    parts = [float(p) for p in text.split(",")]
    parts += [0.0] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def parse_status(report: str, wco: tuple[float, float, float] | None = None) -> Status:
    """Parse a status report; ``wco`` is the last known work offset (reports carry it
    only every 10 to 30 reports).

    >>> s = parse_status("<Hold:0|MPos:1.000,2.500,0.000|Bf:14,100|FS:0,1000>")
    >>> s.state, s.sub_state, s.mpos, s.planner_free, s.rx_free, s.spindle
    ('Hold', 0, (1.0, 2.5, 0.0), 14, 100, 1000.0)
    """
    text = report.strip()
    if not (text.startswith("<") and text.endswith(">")):
        raise ValueError(f"not a status report: {report!r}")
    fields_ = text[1:-1].split("|")
    name, _, sub = fields_[0].partition(":")
    values: dict[str, object] = {"state": name, "raw": text,
                                 "sub_state": int(sub) if sub.isdigit() else None}
    for item in fields_[1:]:
        key, _, value = item.partition(":")
        if key == "MPos":
            values["mpos"] = _xyz(value)
        elif key == "WPos":
            values["wpos"] = _xyz(value)
        elif key == "WCO":
            values["wco"] = wco = _xyz(value)
        elif key == "Bf":
            blocks, _, rx = value.partition(",")
            values["planner_free"], values["rx_free"] = int(blocks), int(rx)
        elif key in ("FS", "F"):
            feed, _, spindle = value.partition(",")
            values["feed_mm_min"] = float(feed)
            if spindle:
                values["spindle"] = float(spindle)
        elif key == "Pn":
            values["pins"] = value
        elif key == "Ln":
            values["line"] = int(value)
    if wco is not None:
        values.setdefault("wco", wco)
        if "mpos" in values and "wpos" not in values:
            m = values["mpos"]
            values["wpos"] = (m[0] - wco[0], m[1] - wco[1], m[2] - wco[2])  # type: ignore[index]
        elif "wpos" in values and "mpos" not in values:
            w = values["wpos"]
            values["mpos"] = (w[0] + wco[0], w[1] + wco[1], w[2] + wco[2])  # type: ignore[index]
    return Status(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class StreamEvent:
    """Something that happened on the stream.

    ``kind``: connected, warning, message (``[MSG:…]``), ack (a line answered ``ok``),
    status, paused (a status report shows ``Hold`` or ``Door``: ``text`` says whether we
    asked for it), resumed (a report shows the machine going on), finished, interrupted.
    ``line`` is the G-code file line (1-based) concerned, ``gcode`` its text;
    ``acked``/``total`` count the lines sent;
    ``seconds_left`` is the planner's estimate of the plot time still to run;
    ``status`` the last status report; ``reason`` says why a card was interrupted.
    """

    kind: EventKind
    line: int | None = None
    gcode: str | None = None
    acked: int = 0
    total: int = 0
    seconds_left: float | None = None
    status: Status | None = None
    reason: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class StreamResult:
    """How a card ended: ``finished`` (plotted) or not (interrupted, with ``reason``,
    ``line``/``gcode`` of the line concerned). ``pen_up``: whether the streamer saw the
    controller accept the pen-up command afterwards (always True when finished)."""

    finished: bool
    acked: int
    total: int
    elapsed_s: float
    reason: str | None = None
    line: int | None = None
    gcode: str | None = None
    pen_up: bool = True

    @property
    def outcome(self) -> str:
        """``plotted`` or ``interrupted``."""
        return "plotted" if self.finished else "interrupted"


@dataclass(frozen=True)
class ControllerInfo:
    """What :meth:`GrblStreamer.connect` learned: version, build info, ``$`` settings,
    and warnings about settings that differ from the profile."""

    version: str
    build: list[str] = field(default_factory=list)
    settings: dict[int, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    alarm: bool = False


class _LostReplyWatch:
    """Tells a lost reply from the receive-buffer figure of the status reports
    (``Bf:<blocks free>,<rx bytes free>``).

    GRBL's output keeps its order: when a report is read, every reply sent before it has
    been read, and none sent after. When the report also answers a ``?`` written after
    our last line, the controller had every byte we sent. Then, with no reply lost, our
    unanswered bytes are the bytes in its receive buffer (``rx_bytes`` - rx free) plus at
    most the line its parser holds, which is the oldest unanswered one (it runs it, or
    waits for a planner slot or a sync)::

        unanswered - held <= bytes of the oldest unanswered line

    A lost reply leaves in our count a line the controller is done with, so the excess
    passes that line once the parser holds the next. Two such reports in a row with no
    reply between them stop the card. A report with no excess, or with bytes waiting in
    the receive buffer (the parser then holds a line, see :meth:`report`) and no more
    excess than that line, says every reply sent so far has come: the lost one answers a
    later line. GRBL's ``Bf`` may show one byte too few free (its ring buffer's count),
    which only lowers the excess.

    Report k answers the k-th ``?`` or a later one (a ``?`` may go unanswered, as while
    GRBL writes EEPROM, but is never answered twice). A controller that reports unasked
    (FluidNC's auto-report) breaks that: the streamer turns the watch ``off`` once more
    reports came than ``?`` went. Reports without ``Bf`` (``$10`` without buffer data)
    tell nothing.
    """

    def __init__(self, rx_bytes: int) -> None:
        self.rx_bytes = rx_bytes
        self.off = False
        self.suspect = 0  # reports in a row, with no reply between, that showed an excess
        self.proven = 0  # the replies to the lines before this index have all come

    def reply(self) -> None:
        self.suspect = 0

    def report(self, status: Status, fresh: bool, unacked: deque[tuple[int, int]],
               in_flight: int, acked: int) -> tuple[int, int] | None:
        """Look at one report (``fresh``: it answers a ``?`` written after our last line).
        Returns the first and last index of the lines one of which lost its reply, once
        two fresh reports in a row say one was lost."""
        if self.off or not fresh or status.rx_free is None:
            return None
        if not unacked:
            self.proven, self.suspect = acked, 0
            return None
        held = self.rx_bytes - status.rx_free
        excess = in_flight - held
        if excess <= unacked[0][1]:
            self.suspect = 0
            # no reply lost so far when nothing is in excess, or when bytes wait in the
            # receive buffer: GRBL makes a report only with the buffer drained or with a
            # whole line read, so waiting bytes mean its parser holds the oldest line
            # (3 bytes, as GRBL's count may be one too many)
            if excess <= 0 or held >= 3:
                self.proven = acked
            return None
        self.suspect += 1
        if self.suspect < 2:
            return None
        # the controller is done with the oldest lines whose bytes fit in the excess (the
        # last of them may be the one its parser holds: the range errs on the wide side)
        done = used = 0
        for _, size in unacked:
            if used + size > excess:
                break
            used += size
            done += 1
        return self.proven, unacked[done - 1][0]


class _Interrupt(Exception):
    def __init__(self, reason: str, index: int | None = None, lift: bool = True,
                 names_line: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.index = index
        self.lift = lift
        self.names_line = names_line  # the reason already says "at line N (...)"


def program_lines(text: str) -> list[tuple[int, str]]:
    """The lines worth sending, with their 1-based file line numbers: comments and blank
    lines dropped (GRBL ignores them and every byte costs buffer space).

    >>> program_lines("; hi\\nG0X1 (go)\\n\\nM5\\n")
    [(2, 'G0X1'), (4, 'M5')]
    """
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = re.sub(r"\([^)]*\)", "", line.split(";", 1)[0]).strip()
        if code and code != "%":
            out.append((number, code))
    return out


class GrblStreamer:
    """Owns the serial port to one GRBL 1.1 controller and streams G-code to it.

    ``port`` is any pyserial URL. ``on_event`` receives :class:`StreamEvent` s (from the
    thread that runs :meth:`stream`). ``reply_timeout_s``: how long a line may stay
    unanswered while the controller reports nothing running (or reports nothing at all).
    ``status_interval_s``: how often ``?`` is polled while streaming.

    Typical use::

        with GrblStreamer(port, profile, on_event=print) as grbl:
            grbl.connect()
            result = grbl.stream(gcode_text)

    :meth:`pause`, :meth:`resume` and :meth:`abort` may be called from other threads.
    """

    def __init__(self, port: str, profile: MachineProfile, *,
                 on_event: Callable[[StreamEvent], None] | None = None,
                 baud: int | None = None, reply_timeout_s: float = 10.0,
                 connect_timeout_s: float = 5.0, status_interval_s: float = 0.2,
                 rx_buffer_bytes: int | None = None) -> None:
        if profile.firmware != "grbl":
            raise ValueError(f"profile {profile.name} is for {profile.firmware}: the streamer "
                             "speaks GRBL only")
        self.port = port
        self.profile = profile
        self.on_event = on_event
        self.baud = baud or profile.baud
        self.reply_timeout_s = reply_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.status_interval_s = status_interval_s
        # the receive buffer holds one byte less than its size (a ring buffer's empty slot)
        self.rx_limit = (rx_buffer_bytes or profile.rx_buffer_bytes) - 1
        self._serial: serial.SerialBase | None = None
        self._reader: threading.Thread | None = None
        self._inbox: queue.Queue[tuple[str, str]] = queue.Queue()
        self._write_lock = threading.Lock()
        self._closing = threading.Event()
        self._abort = threading.Event()
        # set while stream() runs, after it has cleared an earlier abort: from then on,
        # pause and abort act on this card
        self.streaming = threading.Event()
        self._paused = False  # pause() called, or a hold reported, and no resume since
        self._pause_asked = False  # the hold is ours (pause()), not a button's
        self._held = False  # the last status reports showed a hold: "paused" was emitted
        self._wco: tuple[float, float, float] | None = None
        self.status: Status | None = None
        self.info: ControllerInfo | None = None
        self.max_unacked_bytes = 0  # most bytes ever sent and unanswered (≤ rx_limit)
        # the lost-reply watch (see _LostReplyWatch): '?' bytes written, status reports
        # taken from the port, and how many '?' had been written when a line last was
        self._polls = 0
        self._reports = 0
        self._polls_at_line = 0

    # --- port -------------------------------------------------------------------------

    def __enter__(self) -> GrblStreamer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Open the port and start the reader thread."""
        if self._serial is not None:
            return
        try:
            self._serial = serial.serial_for_url(self.port, baudrate=self.baud, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as error:
            raise GrblError(f"cannot open {self.port}: {error}") from error
        self._closing.clear()
        self._reader = threading.Thread(target=self._read_loop, name="grbl-reader", daemon=True)
        self._reader.start()

    def close(self) -> None:
        """Stop the reader and close the port."""
        self._closing.set()
        if self._reader is not None:
            self._reader.join(timeout=2)
            self._reader = None
        if self._serial is not None:
            try:
                self._serial.close()
            except (serial.SerialException, OSError):
                pass
            self._serial = None

    def _read_loop(self) -> None:
        buffer = bytearray()
        port = self._serial
        assert port is not None
        while not self._closing.is_set():
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as error:
                if not self._closing.is_set():
                    self._inbox.put(("disconnected", str(error)))
                return
            if not data:
                continue
            buffer += data
            while True:
                end = buffer.find(b"\n")
                if end < 0:
                    break
                line = buffer[:end].decode("ascii", "replace").strip()
                del buffer[:end + 1]
                if line:
                    self._inbox.put(("line", line))

    def _write(self, data: bytes) -> None:
        if self._serial is None:
            raise _Interrupt("the port is closed", lift=False)
        try:
            with self._write_lock:
                self._serial.write(data)
                if data == b"?":
                    self._polls += 1
                elif data not in (b"!", b"~", RESET):
                    self._polls_at_line = self._polls
        except (serial.SerialException, OSError) as error:
            raise _Interrupt(f"controller disconnected: {error}", lift=False) from error

    def _emit(self, event: StreamEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _next(self, timeout: float) -> tuple[str, str] | None:
        try:
            item = self._inbox.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if item[1].startswith("<"):
            self._reports += 1
        return item

    def _drain(self) -> None:
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if item[1].startswith("<"):
                self._reports += 1

    def _note_status(self, line: str) -> Status | None:
        try:
            status = parse_status(line, self._wco)
        except ValueError:
            return None
        self._wco = status.wco
        self.status = status
        return status

    # --- connect ----------------------------------------------------------------------

    def _wait_banner(self, timeout: float) -> tuple[str, bool]:
        """Wait for ``Grbl 1.1x ['$' for help]``; returns the version and whether the
        controller came up locked in an alarm (the message that says so follows the
        banner at once: it is looked for during 0.1 s after it, whatever else comes)."""
        deadline = time.monotonic() + timeout
        version = None
        settled = math.inf  # when the lines that follow the banner have come
        alarm = False
        while True:
            now = time.monotonic()
            if version is not None and now >= settled:
                return version, alarm
            if now >= deadline:
                break
            item = self._next(min(deadline, settled) - now)
            if item is None:
                continue
            kind, line = item
            if kind == "disconnected":
                raise GrblError(f"{self.port}: controller disconnected: {line}")
            match = _BANNER.match(line)
            if match:
                version = match.group(1)
                settled = time.monotonic() + 0.1
            elif version is not None and ("'$X' to unlock" in line or line.startswith("ALARM")):
                alarm = True
        if version is None:
            raise GrblError(f"{self.port}: no GRBL banner within {timeout:g} s "
                            "(wrong port or baud rate, or not GRBL?)")
        return version, alarm

    def _command(self, text: str, timeout: float | None = None) -> list[str]:
        """Send one ``$`` or G-code line alone and wait for its ``ok``; returns the lines
        that came before it. ``$`` settings write EEPROM, during which GRBL stops reading
        the serial port: they are always sent one at a time like this."""
        self._write(text.encode("ascii") + b"\n")
        deadline = time.monotonic() + (timeout or self.reply_timeout_s)
        lines: list[str] = []
        while time.monotonic() < deadline:
            item = self._next(deadline - time.monotonic())
            if item is None:
                break
            kind, line = item
            if kind == "disconnected":
                raise _Interrupt(f"controller disconnected: {line}", lift=False)
            if line == "ok":
                return lines
            if line.startswith("error:"):
                code = int(line[6:]) if line[6:].isdigit() else 0
                raise GrblError(f"{text!r}: error:{code} ({error_meaning(code)})")
            if line.startswith("<"):
                self._note_status(line)
                continue
            lines.append(line)
        raise GrblError(f"no reply to {text!r} within {timeout or self.reply_timeout_s:g} s")

    def connect(self, *, unlock: bool = True) -> ControllerInfo:
        """Open the port, wake and soft-reset the controller, wait for its banner, read
        ``$I`` and ``$$``, and compare the motion settings with the profile.

        ``unlock``: send ``$X`` when the controller comes up locked (a plotter has no
        homing switches; the operator places the pen at the origin).
        """
        self.open()
        # a fresh serial connection may have reset an Arduino: its boot banner comes
        # within ~2 s; "\r\n\r\n" wakes it (stream.py), the soft reset gives a known state
        try:
            self._write(b"\r\n\r\n")
            time.sleep(0.01)
            self._drain()
            self._write(RESET)
            try:
                version, alarm = self._wait_banner(self.connect_timeout_s)
            except GrblError:
                self._write(RESET)  # the boot loader may have eaten the first reset
                version, alarm = self._wait_banner(self.connect_timeout_s)
            build = self._command("$I")
            settings: dict[int, float] = {}
            for line in self._command("$$"):
                match = _SETTING.match(line)
                if match:
                    settings[int(match.group(1))] = float(match.group(2))
            if alarm and unlock:
                self._command("$X")
        except _Interrupt as error:
            raise GrblError(f"{self.port}: {error.reason}") from error
        warnings = self._compare_settings(settings)
        self.info = ControllerInfo(version, build, settings, warnings, alarm and not unlock)
        self._emit(StreamEvent("connected", text=f"Grbl {version} on {self.port}"))
        for warning in warnings:
            self._emit(StreamEvent("warning", text=warning))
        return self.info

    def _compare_settings(self, settings: dict[int, float]) -> list[str]:
        """Warnings where ``$110-$122`` (and ``$11``, ``$12``, ``$32``) differ from the
        profile: the plot-time estimate would be wrong, and with ``$12`` so would the
        chords of rounded corners (``corner_rounding_mm``)."""
        p = self.profile
        expected = {110: ("X max rate", p.max_rate_x_mm_min, "mm/min"),
                    111: ("Y max rate", p.max_rate_y_mm_min, "mm/min"),
                    112: ("Z max rate", p.max_rate_z_mm_min, "mm/min"),
                    120: ("X acceleration", p.accel_x_mm_s2, "mm/s²"),
                    121: ("Y acceleration", p.accel_y_mm_s2, "mm/s²"),
                    122: ("Z acceleration", p.accel_z_mm_s2, "mm/s²"),
                    11: ("junction deviation", p.junction_deviation_mm, "mm"),
                    12: ("arc tolerance", p.arc_tolerance_mm, "mm"),
                    32: ("laser mode", 1.0 if p.laser_mode else 0.0, "")}
        out = []
        for number, (name, want, unit) in expected.items():
            have = settings.get(number)
            if have is not None and abs(have - want) > 1e-6 * max(1.0, abs(want)):
                out.append(f"controller ${number}={have:g} {unit} ({name}) differs from "
                           f"profile {p.name}'s {want:g} {unit}: the time estimate will be off")
        return out

    # --- control from other threads ------------------------------------------------------

    def pause(self) -> None:
        """Feed hold (``!``): the machine decelerates to a stop. A servo pen on M3 stays
        down while held (GRBL keeps the spindle on): expect a dot. The ``paused`` event
        follows once a status report shows the hold."""
        self._pause_asked = True
        self._write(b"!")
        self._paused = True

    def resume(self) -> None:
        """Cycle start (``~``) after :meth:`pause` or a hold button; the ``resumed`` event
        follows once a status report shows the machine going on."""
        self._write(b"~")
        self._paused = self._pause_asked = False

    @property
    def paused(self) -> bool:
        """Whether the machine is held: :meth:`pause` was called, or a status report
        showed a hold (a button on the machine), and it has not gone on since."""
        return self._paused

    def abort(self) -> None:
        """Ask the running :meth:`stream` to stop: it holds, resets, unlocks and lifts the
        pen, then reports the card interrupted."""
        self._abort.set()

    # --- streaming ----------------------------------------------------------------------

    def pen_up_lines(self) -> list[str]:
        """G-code that lifts the pen on this profile (after a reset: G90, G0 modal). The
        ``G4P0`` is answered only once the planner has run empty, so its ``ok`` says
        that the pen *is* up, not just that the lift was planned."""
        pen = self.profile.pen
        if pen.kind == "z":
            return [f"G90G0Z{pen.up_z_mm:g}", "G4P0"]
        return ["M5", "G4P0"]

    def lift_pen(self) -> bool:
        """Lift the pen now, outside any card (e.g. after a station restarted mid-card);
        True when the controller confirmed it (see :meth:`pen_up_lines`)."""
        try:
            for line in self.pen_up_lines():
                self._command(line)
        except (_Interrupt, GrblError):
            return False
        return True

    def stream(self, text: str, *, plan_: Plan | None = None) -> StreamResult:
        """Send a G-code program and wait until the machine has run it.

        Returns a :class:`StreamResult`; never raises for what the controller does (an
        ``error:N``, an ``ALARM:N``, a disconnect, a timeout, an abort): those end the card
        interrupted, after the machine was stopped and the pen lifted where possible.
        ``plan_`` is the program's plan for the time estimate (computed when None).
        """
        if self._serial is None:
            raise GrblError("connect() first")
        lines = program_lines(text)
        for number, code in lines:
            if len(re.sub(r"\s", "", code)) > LINE_MAX_CHARS:
                raise GrblError(f"line {number} is longer than GRBL's {LINE_MAX_CHARS} "
                                f"characters (error:11): {code!r}")
        if plan_ is None:
            try:
                plan_ = plan(read_program(text, self.profile), self.profile)
            except (GcodeError, ValueError):
                plan_ = None
        self._abort.clear()
        self._held = False
        self.streaming.set()
        try:
            return self._stream_program(lines, plan_)
        finally:
            self.streaming.clear()

    def _stream_program(self, lines: list[tuple[int, str]], plan_: Plan | None) -> StreamResult:
        started = time.monotonic()
        total = len(lines)
        acked = 0
        try:
            acked = self._stream_lines(lines, plan_)
        except _Interrupt as stop:
            # without a line of its own (a failed write), the card stopped at the first
            # line the controller had not acknowledged
            index = stop.index if stop.index is not None else getattr(stop, "acked", acked)
            number, code = lines[index] if index is not None and index < total else (None, None)
            pen_up = self._safe_stop() if stop.lift else False
            reason = stop.reason
            if number is not None and not stop.names_line:
                # every interrupt names the line, a timeout or a disconnect too
                reason += f" at line {number} ({code!r})"
            if not pen_up:
                reason += "; the pen may still be down: lift it by hand"
            result = StreamResult(False, stop.acked if hasattr(stop, "acked") else acked,
                                  total, time.monotonic() - started, reason, number, code,
                                  pen_up)
            self._emit(StreamEvent("interrupted", line=number, gcode=code, acked=result.acked,
                                   total=total, status=self.status, reason=reason))
            return result
        result = StreamResult(True, acked, total, time.monotonic() - started)
        self._emit(StreamEvent("finished", acked=acked, total=total, seconds_left=0.0,
                               status=self.status))
        return result

    def _stream_lines(self, lines: list[tuple[int, str]], plan_: Plan | None) -> int:
        total = len(lines)
        # character counting (stream.py): lengths (+1 for the newline) of the lines sent
        # and not yet answered; GRBL answers lines in order, so each ok or error frees the
        # oldest. Their sum must stay within the receive buffer, or GRBL drops bytes.
        unacked: deque[tuple[int, int]] = deque()  # (index, bytes)
        in_flight = 0
        sent = acked = 0
        setting_sent = False  # a $ line is unanswered: nothing else goes until its reply
        last_reply = time.monotonic()
        last_poll = 0.0
        status_since_reply = False
        watch = _LostReplyWatch(self.rx_limit + 1)

        def interrupt(reason: str, index: int | None, **options: bool) -> _Interrupt:
            exc = _Interrupt(reason, index, **options)
            exc.acked = acked  # type: ignore[attr-defined]
            return exc

        # after the last ok the machine may still run the planner's tail: wait for a
        # fresh status report that says it is done
        while acked < total or not (status_since_reply and not self._machine_busy()):
            if self._abort.is_set():
                raise interrupt(f"aborted by the operator after {acked} of {total} lines",
                                unacked[0][0] if unacked else (sent - 1 if sent else None))
            # every turn, whatever came: status reports are no replies to lines
            self._check_timeout(unacked, time.monotonic() - last_reply, status_since_reply,
                                acked, lines[sent - 1] if sent == total else None)
            # send while the next line fits
            while sent < total and not setting_sent:
                code = lines[sent][1]
                size = len(code) + 1
                if code.startswith("$"):
                    # a setting goes alone, once the machine is at rest, and nothing
                    # follows it until it is answered: GRBL answers error:8 to a setting
                    # unless idle, and while it writes EEPROM it reads no serial bytes
                    if unacked or not (status_since_reply and self._at_rest()):
                        break
                    setting_sent = True
                elif in_flight + size > self.rx_limit:
                    break
                self._write(code.encode("ascii") + b"\n")
                unacked.append((sent, size))
                in_flight += size
                self.max_unacked_bytes = max(self.max_unacked_bytes, in_flight)
                sent += 1
            now = time.monotonic()
            interval = self.status_interval_s
            if sent < total and not unacked and lines[sent][1].startswith("$"):
                interval = min(interval, 0.05)  # a setting waits for the machine to rest
            if now - last_poll >= interval and not setting_sent:
                # '?' is a real-time byte: no ok, and outside the count (and none goes
                # while GRBL writes a setting to EEPROM: it would be lost)
                self._write(b"?")
                last_poll = now
            item = self._next(min(0.05, interval))
            if item is None:
                continue
            kind, line = item
            if kind == "disconnected":
                raise interrupt(f"controller disconnected after {acked} of {total} lines "
                                f"({line})", unacked[0][0] if unacked else None, lift=False)
            if line.startswith("<"):
                status = self._note_status(line)
                if status is None:
                    continue
                status_since_reply = True
                if self._reports > self._polls:
                    watch.off = True  # reports come unasked: they cannot be matched
                lost = watch.report(status, self._reports > self._polls_at_line, unacked,
                                    in_flight, acked)
                if lost is not None:
                    raise interrupt(self._lost_reason(lines, lost, status, in_flight),
                                    lost[0], names_line=True)
                left = self._seconds_left(plan_, lines[acked - 1][0] if acked else 0)
                self._note_hold(status, acked, total, left)
                self._emit(StreamEvent("status", acked=acked, total=total, status=status,
                                       seconds_left=left))
                continue
            if line == "ok" or line.startswith("error:"):
                last_reply = time.monotonic()
                status_since_reply = False
                watch.reply()
                if not unacked:
                    continue  # a stray ok (e.g. from the wake-up newlines)
                index, size = unacked.popleft()
                in_flight -= size
                if lines[index][1].startswith("$"):
                    setting_sent = False
                if line != "ok":
                    code_no = int(line[6:]) if line[6:].isdigit() else 0
                    number, gcode = lines[index]
                    raise interrupt(f"error:{code_no} at line {number} ({gcode!r}): "
                                    f"{error_meaning(code_no)}", index, names_line=True)
                acked += 1
                number, gcode = lines[index]
                left = self._seconds_left(plan_, number)
                self._emit(StreamEvent("ack", line=number, gcode=gcode, acked=acked,
                                       total=total, seconds_left=left, status=self.status))
                continue
            if line.startswith("ALARM:"):
                code_no = int(line[6:]) if line[6:].isdigit() else 0
                index = unacked[0][0] if unacked else (sent - 1 if sent else None)
                where = f"at line {lines[index][0]} ({lines[index][1]!r})" if index is not None else ""
                raise interrupt(f"ALARM:{code_no} {where}: {alarm_meaning(code_no)}", index,
                                names_line=index is not None)
            if _BANNER.match(line):
                raise interrupt("the controller reset itself mid-card",
                                unacked[0][0] if unacked else None)
            if line.startswith("[MSG:"):
                self._emit(StreamEvent("message", text=line, acked=acked, total=total))
        return acked

    def _lost_reason(self, lines: list[tuple[int, str]], lost: tuple[int, int],
                     status: Status, in_flight: int) -> str:
        first, last = lost
        number, code = lines[first]
        held = self.rx_limit + 1 - (status.rx_free or 0)
        span = (f"line {number} ({code!r})" if first == last else
                f"one of lines {number} to {lines[last][0]}; the first candidate is line "
                f"{number} ({code!r})")
        return (f"a reply was lost: two status reports in a row show the controller "
                f"holding {held} bytes while {in_flight} bytes sent are unanswered, more "
                f"than the line it may be working on, so it has done with a line whose "
                f"'ok' never came. GRBL's replies name no line: the lost one answered "
                f"{span}")

    def _seconds_left(self, plan_: Plan | None, acked_line: int) -> float | None:
        """The planner's seconds still to run, counted from the block the machine is
        running (by the last status report's free planner blocks), not from the last
        answered line, which runs ahead of the pen by the planner buffer."""
        if plan_ is None:
            return None
        status = self.status
        if status is None or status.planner_free is None:
            return plan_.seconds_left(acked_line)
        in_use = self.profile.planner_blocks - status.planner_free
        return plan_.seconds_left_running(acked_line, in_use)

    def _note_hold(self, status: Status, acked: int, total: int, left: float | None) -> None:
        """Emit ``paused`` when the reports first show a hold, ``resumed`` when they first
        show the machine going on. The state, not the byte we sent, decides: a ``!`` takes
        effect between two reports, and a hold button on the machine sends us nothing."""
        held = status.state in ("Hold", "Door")
        if held and not self._held:
            self._held = self._paused = True
            if status.state == "Door":
                text = "safety door open"
            elif self._pause_asked:
                text = "feed hold"
            else:
                text = "feed hold on the machine (not asked for by the streamer)"
            self._emit(StreamEvent("paused", acked=acked, total=total, seconds_left=left,
                                   status=status, text=text))
        elif self._held and status.state in ("Run", "Idle"):
            # out of the hold by resume() or the machine's cycle start button; an Alarm is
            # no resume (the interrupt that follows says what happened)
            self._held = self._paused = self._pause_asked = False
            self._emit(StreamEvent("resumed", acked=acked, total=total, seconds_left=left,
                                   status=status, text="cycle start"))

    def _at_rest(self) -> bool:
        """Whether the last status report shows the machine at rest: not running (see
        :meth:`_machine_busy`) and its planner empty (GRBL reports Idle for a moment
        after a line is planned and before the cycle starts)."""
        status = self.status
        return (status is not None and not self._machine_busy()
                and (status.planner_free is None
                     or status.planner_free >= self.profile.planner_blocks))

    def _machine_busy(self) -> bool:
        """Whether the last status report says the machine still runs a card's tail (the
        last lines are answered as soon as they are planned)."""
        status = self.status
        if status is None:
            return True
        return status.state not in ("Idle", "Alarm", "Check")

    def _check_timeout(self, unacked: deque[tuple[int, int]], quiet_s: float,
                       status_since_reply: bool, acked: int,
                       last_line: tuple[int, str] | None) -> None:
        """Raise the interrupt for a reply that did not come within ``reply_timeout_s``.

        ``last_line`` is the program's last line once every line is sent. When a fresh
        status report then shows the controller idle with both buffers empty, it has read
        and run every line: a reply was lost on the way, and GRBL's replies carry no line
        number, so the message says so and names where the card stopped instead of
        blaming the oldest unanswered line (every later ``ok`` was counted against it).
        """
        if self._paused or quiet_s < self.reply_timeout_s:
            return
        status = self.status
        # a long move or a dwell may hold an answer back while the machine runs; silence
        # or an idle machine with a line unanswered is a lost reply
        if status_since_reply and status is not None and status.state in ("Run", "Hold"):
            return
        index = unacked[0][0] if unacked else None
        reason = f"no reply within {self.reply_timeout_s:g} s"
        names_line = False
        drained = (status is not None and status.state == "Idle"
                   and (status.rx_free or 0) >= self.rx_limit
                   and (status.planner_free is None
                        or status.planner_free >= self.profile.planner_blocks))
        if status_since_reply and drained and last_line is not None and unacked:
            number, code = last_line
            missing = len(unacked)
            reason += (f": {missing} {'reply was' if missing == 1 else 'replies were'} lost "
                       f"(an 'ok' or an 'error:N'; GRBL's replies name no line, so which "
                       f"line cannot be told). The controller is idle with empty buffers: "
                       f"it read every line, up to the last at line {number} ({code!r})")
            index, names_line = unacked[-1][0], True
        exc = _Interrupt(reason, index, names_line=names_line)
        exc.acked = acked  # type: ignore[attr-defined]
        raise exc

    def _safe_stop(self) -> bool:
        """Feed hold, soft reset, unlock, pen up. True when the controller accepted the
        pen-up command (the pen is up)."""
        try:
            self._write(b"!")
            # let the hold decelerate before the reset, so that steps are not lost
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                self._write(b"?")
                item = self._next(0.05)
                if item and item[0] == "line" and item[1].startswith("<"):
                    status = self._note_status(item[1])
                    if status and (status.state in ("Idle", "Alarm")
                                   or (status.state == "Hold" and status.sub_state == 0)):
                        break
                elif item and item[0] == "disconnected":
                    return False
            self._drain()
            self._write(RESET)
            self._wait_banner(self.connect_timeout_s)
            self._paused = self._pause_asked = self._held = False
            self._command("$X")
            for line in self.pen_up_lines():
                self._command(line)
        except (_Interrupt, GrblError):
            return False
        return True
