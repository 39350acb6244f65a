"""A simulated GRBL 1.1 controller on a real pseudo-terminal, for tests, the demo and an
operator without hardware.

:class:`SimulatedGrbl` opens a pty (``os.openpty``); a sender opens :attr:`~SimulatedGrbl.port`
(the slave device path) with pyserial like any ``/dev/ttyUSB0``. A background thread plays
the controller:

- the protocol: the banner on start and on a soft reset (0x18), ``ok`` / ``error:N`` per
  line (numbered as GRBL numbers them), pushed ``ALARM:N``, ``$$``, ``$I``, ``$X``, ``$C``,
  ``$G``, ``$N=value``, and the real-time bytes ``?`` (status report), ``!`` (feed hold),
  ``~`` (resume);
- what makes streaming hard: a 128-byte receive buffer that *drops* bytes when a sender
  ignores flow control (so the line is corrupted, as on the AVR's serial interrupt), a
  line buffer of 80 characters (``error:11``), a 15-block planner buffer, motion in
  simulated time with :class:`plotter.planner.Planner` (the model behind the plot-time
  estimate), and the serial byte rate (10 bits a byte at ``baud``);
- a record of what it drew: pen-down strokes in machine mm, plus a log of buffer levels
  and planner starvation (the planner ran empty while G-code was still to come);
- fault injection (:class:`Faults`): ``error:N`` at line K, an alarm at line K, a
  disconnect after K lines, slow replies, dropped replies; and the machine's feed hold and
  cycle start buttons (:meth:`SimulatedGrbl.press_feed_hold`,
  :meth:`SimulatedGrbl.press_cycle_start`).

Settings: ``$N=value`` is answered ``error:8`` unless the machine is idle, as GRBL does, and
storing it writes EEPROM for :data:`EEPROM_WRITE_S` simulated seconds, during which the
AVR's serial interrupt is off: every byte that arrives meanwhile is lost
(:attr:`SimLog.eeprom_lost_bytes`), and the ``ok`` comes only after the write. In virtual
time the write also takes :data:`EEPROM_WRITE_S` wall seconds, so that a host that does
not wait for the ``ok`` shows it. ``auto_report_s`` (wall seconds, 0 = off) pushes a
status report unasked that often, as FluidNC's ``$Report/Interval`` and grblHAL's
auto-report do (GRBL 1.1 does not).

Time: ``time_scale`` is wall seconds per simulated second (1 = real time, 0.1 = ten times
faster). ``time_scale=0`` runs in *virtual time*: the host is taken as infinitely fast,
simulated time moves only when the controller has to wait for motion (a full planner, a
sync, a dwell), for its own planning (``planner_blocks_per_s``, below) or for bytes still
on the wire, or when no line has come for
``idle_grace_s`` wall seconds (the host is waiting for the machine, e.g. at the end of a
card). After a reply, with nothing left to read, the clock waits up to ``host_wait_s`` wall
seconds for the host's next bytes. So a run gives the same simulated timing whatever the
wall clock does, unless the host stalls longer than that. In virtual time the host's flow
control is not watched but assumed: ``host_budget_bytes`` is how many unanswered bytes it
keeps in flight (127 for character counting, 0 for send-and-wait), and a line is taken to
leave the host as soon as the replies it waited for reached it.

Reply latency: ``reply_latency_s`` (simulated seconds, default 0) delays everything the
controller sends on its way to the host, as a USB-serial adapter does: an FTDI FT232R
holds received bytes up to its latency timer (16 ms by default, 1 ms when tuned), a CH340
some 1 to 2 ms, the Arduino Uno's 16U2 about 1 ms. Send-and-wait pays it once per line;
character counting hides it behind the lines already in the receive buffer. In virtual
time the host's next line is sent that much after the reply it waited for; at a time
scale the bytes reach the pty ``reply_latency_s * time_scale`` wall seconds late.

Arcs: G2 (clockwise) and G3 in the XY plane (G17), with I J centre offsets (always
relative to the start, GRBL's incremental arc mode) or a radius R, are checked as gc.c
checks them (``error:26``, ``32`` to ``36``) and cut into chords as ``mc_arc`` cuts them
(:func:`plotter.arcs.arc_chords`, ``$12`` mm from the arc), each a planner block; a Z word
makes a helix, Z moving linearly chord by chord. Soft limits check every chord end when the
line is parsed. G18/G19 (the other planes) are answered ``error:20``.

The controller's CPU: with the profile's ``planner_blocks_per_s`` above 0, every planner
block the controller makes (a G0/G1 line's move, each chord ``mc_arc`` cuts from a G2/G3
line) costs ``1 / planner_blocks_per_s`` simulated seconds of parsing and planning
(``gc_execute_line``, ``mc_line``, ``plan_buffer_line``): the block enters the planner
that long after the parser got to it (when its line was read, or when the block before
it entered), and the line's ``ok`` follows its last block. An 8-bit GRBL on the
ATmega328p plans about 400-500 lines a second (its author in gnea/grbl#264; gnea/grbl#1144
shows 0.2 mm segments at 5000 mm/min leaving the planner unfilled). The machine runs what
is buffered meanwhile, so when blocks run faster than the CPU makes them the planner
drains, the look-ahead shrinks and the machine slows, or stops and shows a starvation.
Simplifications: the cost is the same for every block (long or short, line or chord, a
move that goes nowhere included), it overlaps a wait for a free planner slot (GRBL's
``mc_line`` waits before ``plan_buffer_line``), and pen commands, dwells, modal-only lines,
``$`` commands and check mode (``$C``) cost nothing. With 0 (the shipped profiles) the
parser takes no time at all.

Not modelled: G10/G28/G30/G53/G92, G18/G19, jogging, overrides, homing, M0/M1
(answered ``error:20`` or ``error:3``); a feed hold stops at once instead of decelerating,
and the block resumes from rest; Z has no soft limit. As GRBL does
(``st_update_plan_block_parameters``), a block that started alone is re-planned when the
next move arrives while it runs, so it need not stop; that counts as a starvation only
when the block had already begun to brake for the stop. Units: machine mm, mm/min for
feeds, seconds.
"""

from __future__ import annotations

import bisect
import dataclasses
import errno
import math
import os
import re
import select
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from plotter.arcs import ArcError, arc_from_words
from plotter.planner import Block, Planner, Point, Step
from plotter.profile import MachineProfile
from plotter.program import Command, Dwell, Move, Pen

VERSION = "1.1h"
BANNER = f"Grbl {VERSION} ['$' for help]"
BUILD_INFO = f"[VER:{VERSION}.20190825:]"
RX_BUFFER_BYTES = 128  # RX_BUFFER_SIZE in grbl/config.h; the ring holds one byte less
LINE_MAX_CHARS = 79  # LINE_BUFFER_SIZE 80 less the terminating zero
# storing a setting rewrites the bytes that changed: a float and the checksum, 5 bytes
# at 3.4 ms per erase+write cycle of the ATmega328P's EEPROM
EEPROM_WRITE_S = 0.017
RESET = 0x18
STATUS = ord("?")
HOLD = ord("!")
RESUME = ord("~")

# modal groups of the G words the simulator knows (gc.c); words outside raise error:20,
# G18/G19 among them: arcs are modelled in the XY plane (G17) only
_G_GROUP = {0: "motion", 1: "motion", 2: "motion", 3: "motion", 4: "non-modal", 17: "plane",
            20: "units", 21: "units", 40: "cutter", 49: "tool-length", 54: "wcs", 80: "motion",
            90: "distance", 91: "distance", 94: "feed-mode"}
_ARC_WORDS = "IJKR"  # value words only G2/G3 use (gc.c's ijk_words and WORD_R)
_M_GROUP = {2: "stop", 30: "stop", 3: "spindle", 4: "spindle", 5: "spindle", 7: "coolant",
            8: "coolant", 9: "coolant"}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")
_STORE = re.compile(r"\$\d+=.*")  # a setting stored to EEPROM


class _GrblError(Exception):
    """A line that GRBL answers with ``error:code``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _SoftLimit(Exception):
    """A motion target outside the bed: GRBL raises ``ALARM:2``."""


@dataclass
class Faults:
    """Faults to inject, by G-code line number K (1-based count of the non-empty, non-``$``
    lines the controller has received since it was created)."""

    error_at_line: dict[int, int] = field(default_factory=dict)  # K -> answer error:N
    alarm_at_line: dict[int, int] = field(default_factory=dict)  # K -> push ALARM:N instead
    disconnect_after_lines: int | None = None  # vanish when line K+1 arrives
    # K -> wall s the parser works on line K before its ok, reading nothing more (as in a
    # long dwell); the machine runs what it has and '?' is answered meanwhile
    slow_reply_s: dict[int, float] = field(default_factory=dict)
    drop_reply_at_line: set[int] = field(default_factory=set)  # K -> never answer


@dataclass
class SimLog:
    """What the controller saw. Times are simulated seconds."""

    lines_received: int = 0  # G-code lines (not ``$``, not empty)
    levels: list[tuple[float, int, int]] = field(default_factory=list)
    """(time, receive-buffer bytes used, planner blocks used) as each G-code line is read."""
    max_rx_used: int = 0  # most receive-buffer bytes ever in use
    overflow_bytes: int = 0  # bytes dropped because the receive buffer was full
    starvations: list[tuple[float, int]] = field(default_factory=list)
    """(time, line) where a block had to start with an empty planner behind it although
    more motion followed without a sync in between: a stop on paper that the G-code did
    not ask for."""
    first_line_s: float | None = None  # when the first G-code line arrived
    idle_s: float = 0.0  # when the machine last ran out of work
    alarms: list[int] = field(default_factory=list)  # ALARM codes raised
    eeprom_lost_bytes: int = 0  # bytes that arrived while a setting was written to EEPROM
    errors: list[tuple[int, int]] = field(default_factory=list)  # (line, error code) answered
    max_blocks_used: int = 0
    """Most planner blocks ever in use, the one executing included (GRBL's 15 at most: a
    line of many blocks, an arc's chords, waits for a free one as ``mc_line`` does)."""

    @property
    def plot_s(self) -> float:
        """Simulated seconds from the first G-code line to the machine going idle."""
        return self.idle_s - (self.first_line_s or 0.0)


@dataclass(frozen=True)
class _EepromWrite:
    """A setting being stored: until when (simulated s, and wall s in virtual time), and
    the bytes of its line, answered ``ok`` when the write ends."""

    until_s: float
    until_wall: float
    nbytes: int


@dataclass
class _Busy:
    """The line the parser is working on: commands not yet planned, and the step whose
    end releases the reply (a sync or a dwell)."""

    commands: deque[Command]
    line: int
    nbytes: int
    wait_seq: int | None = None
    until_wall: float | None = None  # a slow reply (fault): the ok waits till then
    # the controller's CPU (planner_blocks_per_s): simulated s at which it is done parsing
    # and planning the first of ``commands``, a Move; None while it has not begun on it
    cpu_ready_s: float | None = None


def default_settings(profile: MachineProfile) -> dict[int, float]:
    """GRBL ``$`` settings matching ``profile`` (max rates, accelerations, travel, arc
    tolerance), with GRBL's defaults elsewhere. ``$10=3``: MPos and buffer data in status
    reports."""
    return {
        0: 10, 1: 25, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 10: 3, 11: profile.junction_deviation_mm,
        12: profile.arc_tolerance_mm, 13: 0, 20: 1, 21: 0, 22: 0, 23: 0, 24: 25, 25: 500,
        26: 250, 27: 1, 30: 1000, 31: 0, 32: 1 if profile.laser_mode else 0,
        100: 80, 101: 80, 102: 400,
        110: profile.max_rate_x_mm_min, 111: profile.max_rate_y_mm_min,
        112: profile.max_rate_z_mm_min,
        120: profile.accel_x_mm_s2, 121: profile.accel_y_mm_s2, 122: profile.accel_z_mm_s2,
        130: profile.bed_width_mm, 131: profile.bed_height_mm, 132: 50,
    }


def _fmt(value: float) -> str:
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


class SimulatedGrbl:
    """A GRBL 1.1 controller for ``profile`` on a pseudo-terminal.

    >>> from plotter.profile import load_profile
    >>> with SimulatedGrbl(load_profile("grbl-servo")) as grbl:  # doctest: +SKIP
    ...     print(grbl.port)  # open it with serial.serial_for_url(grbl.port)
    /dev/pts/7
    """

    def __init__(self, profile: MachineProfile, *, time_scale: float = 0.0,
                 baud: int | None = None, settings: dict[int, float] | None = None,
                 faults: Faults | None = None, idle_grace_s: float = 0.2,
                 host_wait_s: float = 0.05, host_budget_bytes: int = RX_BUFFER_BYTES - 1,
                 reply_latency_s: float = 0.0, auto_report_s: float = 0.0) -> None:
        if time_scale < 0:
            raise ValueError(f"time_scale must be >= 0, got {time_scale}")
        if reply_latency_s < 0:
            raise ValueError(f"reply_latency_s must be >= 0, got {reply_latency_s}")
        self.reply_latency_s = reply_latency_s
        self.auto_report_s = auto_report_s
        self._next_report_wall = 0.0
        self.profile = profile
        # simulated s of controller time each planner block costs (0: not modelled)
        self.block_cpu_s = (1.0 / profile.planner_blocks_per_s
                            if profile.planner_blocks_per_s > 0 else 0.0)
        self.time_scale = time_scale
        self.baud = baud or profile.baud
        self.byte_s = 10.0 / self.baud  # 8N1: start bit, 8 data bits, stop bit
        self.settings: dict[int, float] = default_settings(profile) | (settings or {})
        self.faults = faults or Faults()
        self.idle_grace_s = idle_grace_s
        self.host_wait_s = host_wait_s
        self._awaiting_host = False  # a reply went out and no byte has come since
        self.host_budget_bytes = host_budget_bytes
        self._line_bytes_in = 0  # bytes of complete lines received
        self._acked_bytes = 0  # bytes of lines answered
        self._ack_log_bytes: list[int] = []
        self._ack_log_s: list[float] = []
        self._last_send_s = 0.0
        self._reply_wall = 0.0
        self.log = SimLog()
        self._lock = threading.RLock()
        master, slave = os.openpty()
        # raw: no echo and no line discipline, or the pty would echo our own replies
        # back to us and turn "\n" into "\r\n"
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master: int | None = master
        self._slave = slave  # held open so that the pty lives while no sender has it open
        self.port = os.ttyname(slave)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._out = bytearray()  # replies ready to go, in order
        self._adapter: deque[tuple[float, bytes]] = deque()  # in the USB adapter: (wall s, bytes)
        self._tx = bytearray()  # on the wire to the host, not yet taken by the pty
        self.now = 0.0  # simulated seconds
        self._wall0 = 0.0
        self._serial_free = 0.0  # when the wire is free for the next incoming byte
        self._last_line_wall = time.monotonic()
        self.disconnected = False
        self._strokes: list[list[tuple[float, float]]] = []
        self._stroke: list[tuple[float, float]] | None = None
        self._pos: Point = (0.0, 0.0, profile.pen.up_z_mm if profile.pen.kind == "z" else 0.0)
        self._servo_pen_down = False
        self.alarm: int | None = None
        self._need_reset = False
        self._check_mode = False
        self._reports = 0
        self._rx_lines: deque[tuple[bytes, float]] = deque()  # complete lines, arrival s
        self._rx_partial = bytearray()
        self._rx_used = 0
        self._reset_state()

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> SimulatedGrbl:
        """Start the controller thread; it greets with the banner, as after power-up."""
        self._wall0 = time.monotonic()
        self._emit(f"\r\n{BANNER}\r\n")
        self._thread = threading.Thread(target=self._run, name="simulated-grbl", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the pty."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self._close_master()
            if self._slave >= 0:
                os.close(self._slave)
                self._slave = -1

    def __enter__(self) -> SimulatedGrbl:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests look at -----------------------------------------------------------

    def strokes(self) -> list[np.ndarray]:
        """Pen-down strokes drawn so far, ``(N, 2)`` machine mm each (an unfinished one
        included)."""
        with self._lock:
            out = [np.array(s, dtype=np.float64) for s in self._strokes]
            if self._stroke:
                out.append(np.array(self._stroke, dtype=np.float64))
            return out

    @property
    def pen_down(self) -> bool:
        """Whether the pen touches the paper now."""
        with self._lock:
            return self._pen_is_down()

    @property
    def position(self) -> Point:
        """Machine position now, mm."""
        with self._lock:
            return self._position_now()

    @property
    def state(self) -> str:
        """GRBL state name as a status report gives it (``Idle``, ``Run``, ``Hold:0``…)."""
        with self._lock:
            return self._state()

    # --- the machine's buttons ----------------------------------------------------------

    def press_feed_hold(self) -> None:
        """The feed hold button on the machine (GRBL's hold pin): the same as ``!``, but
        not from the host, which learns of it from the next status report."""
        with self._lock:
            self._feed_hold()

    def press_cycle_start(self) -> None:
        """The cycle start button (GRBL's cycle start pin): the same as ``~``."""
        with self._lock:
            self._resume()

    # --- the controller thread -------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set() and not self.disconnected:
            try:
                if self.auto_report_s > 0:
                    self._auto_report()
                if self.time_scale > 0:
                    self._tick_realtime()
                else:
                    self._tick_virtual()
            except OSError as error:  # the pty went away under us
                if error.errno in (errno.EIO, errno.EBADF):
                    break
                raise

    def _auto_report(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now >= self._next_report_wall and self._master is not None:
                self._next_report_wall = max(self._next_report_wall + self.auto_report_s, now)
                self._write_now(self._status_report() + "\r\n")

    def _tick_realtime(self) -> None:
        with self._lock:
            if self._eeprom is not None:
                # what came while the setting was written is lost; read it before the
                # clock ends the write
                self._read_input()
            self._advance((time.monotonic() - self._wall0) / self.time_scale)
            # wake for the next step end or line arrival, or a reply would lag up to the
            # poll interval (0.2 simulated s at a time scale of 0.05)
            wait = min(0.01, max(0.0, (self._next_event() - self.now) * self.time_scale))
            if self._adapter:
                wait = min(wait, max(0.0, self._adapter[0][0] - time.monotonic()))
        self._wait_input(wait)
        with self._lock:
            # bring the clock up to now first, so that what arrived is stamped when it
            # arrived, not when the last tick began
            self._advance((time.monotonic() - self._wall0) / self.time_scale)
            self._read_input()
            self._flush_output()

    def _tick_virtual(self) -> None:
        with self._lock:
            self._read_input()
            write = self._eeprom
            hold_s = write.until_wall - time.monotonic() if write is not None else 0.0
            if hold_s > 0:
                self._flush_output()
        if hold_s > 0:
            self._wait_input(hold_s)  # the bytes that come meanwhile are lost
            return
        with self._lock:
            self._read_input()
            self._try_parse()
            # a slow reply (fault) with nothing left to run: only wall time ends it
            stall_s = self._stall_s() if self._next_event() == math.inf else 0.0
            if stall_s > 0:
                self._flush_output()
        if stall_s > 0:
            self._wait_input(stall_s)
            return
        with self._lock:
            if not self._need_reset and self._needs_time():
                waited = time.monotonic() - self._reply_wall
                if (self._awaiting_host and len(self._rx_lines) < 2
                        and waited < self.host_wait_s and not self._hold):
                    # we just answered and the parser has nothing left to read: let the
                    # (infinitely fast) host send its next line at this simulated time
                    # before the clock moves on, or it would seem late
                    self._flush_output()
                    self._lock.release()
                    try:
                        self._wait_input(self.host_wait_s - waited)
                    finally:
                        self._lock.acquire()
                    return
                if not self._hold:
                    self._step_once()
                    self._flush_output()
                    return
            has_work = self._has_work()
            quiet = time.monotonic() - self._last_line_wall
            if has_work and not self._hold and not self._need_reset and quiet > self.idle_grace_s:
                # the host has sent nothing for a while: it waits for the machine
                self._run_to_idle()
                self._flush_output()
                return
            self._flush_output()
        wait = 0.05
        if has_work:
            wait = max(0.0, min(wait, self.idle_grace_s - quiet) + 0.001)
        self._wait_input(wait)

    def _wait_input(self, timeout: float) -> None:
        master = self._master
        if master is None:
            time.sleep(timeout)
            return
        now = time.monotonic()
        if self.auto_report_s > 0:
            timeout = min(timeout, self._next_report_wall - now)
        stall_s = self._stall_s()
        if stall_s > 0:
            timeout = min(timeout, stall_s)
        wants_write = [master] if self._tx else []
        select.select([master], wants_write, [], max(timeout, 0.0))

    def _read_input(self) -> None:
        master = self._master
        if master is None:
            return
        while True:
            try:
                data = os.read(master, 4096)
            except BlockingIOError:
                return
            if not data:
                return
            self._awaiting_host = False
            for byte in data:
                if self.time_scale > 0 or byte >= 0x80 or byte in (RESET, STATUS, HOLD, RESUME):
                    # every byte takes its time on the wire; in virtual time a line's
                    # bytes are timed when the line is complete (see _send_time)
                    self._serial_free = max(self._serial_free, self.now) + self.byte_s
                self._receive(byte)

    def _receive(self, byte: int) -> None:
        if self._eeprom is not None:
            # eeprom.c writes with interrupts off: the serial interrupt misses the byte
            self.log.eeprom_lost_bytes += 1
            return
        # real-time commands are picked out by the serial interrupt and never enter the
        # receive buffer; that is why they need no ok and do not count against it
        if byte == RESET:
            self._soft_reset()
        elif byte == STATUS:
            # the report is made when the '?' arrives, behind the bytes sent before it:
            # those are in the receive buffer or already read by the parser, so the Bf
            # figure is true to the byte
            self._advance(self._serial_free)
            self._write_now(self._status_report() + "\r\n")
        elif byte == HOLD:
            self._feed_hold()
        elif byte == RESUME:
            self._resume()
        elif byte >= 0x80:
            pass  # overrides, safety door, jog cancel: not modelled
        else:
            if self._rx_used >= RX_BUFFER_BYTES - 1:
                # the ring buffer is full: serial.c drops the byte and the line is corrupt
                self.log.overflow_bytes += 1
                return
            self._rx_used += 1
            self.log.max_rx_used = max(self.log.max_rx_used, self._rx_used)
            self._last_line_wall = time.monotonic()
            if byte in (0x0A, 0x0D):
                line = bytes(self._rx_partial) + bytes([byte])
                if self.time_scale == 0:
                    sent = max(self._send_time(len(line)), self._last_send_s)
                    self._last_send_s = sent
                    self._serial_free = max(self._serial_free, sent) + len(line) * self.byte_s
                self._line_bytes_in += len(line)
                self._rx_lines.append((line, self._serial_free))
                self._rx_partial.clear()
            else:
                self._rx_partial.append(byte)

    # --- output ------------------------------------------------------------------------

    def _emit(self, text: str) -> None:
        """Send a reply (or the banner, a pushed ALARM): the host's turn."""
        self._awaiting_host = True
        self._reply_wall = time.monotonic()
        self._write_now(text)

    def _write_now(self, text: str) -> None:
        self._out += text.encode("ascii")
        self._flush_output()

    def _reply(self, line: int, text: str, nbytes: int) -> None:
        """The answer to G-code line ``line`` of ``nbytes`` bytes, faults applied."""
        if line in self.faults.drop_reply_at_line:
            return
        self._answer(text + "\r\n", nbytes)

    def _answer(self, text: str, nbytes: int) -> None:
        """A reply that frees a line of ``nbytes`` in the host's count."""
        self._emit(text)
        self._acked(nbytes)

    def _acked(self, nbytes: int) -> None:
        self._acked_bytes += nbytes
        self._ack_log_bytes.append(self._acked_bytes)
        self._ack_log_s.append(self.now)

    def _send_time(self, nbytes: int) -> float:
        """Virtual time: when an infinitely fast host could send a line of ``nbytes``: the
        first reply after which the unanswered bytes fit its budget (character counting:
        ``host_budget_bytes=127``; send-and-wait: 0)."""
        need = self._line_bytes_in + nbytes - max(self.host_budget_bytes, nbytes)
        if need <= 0:
            return 0.0
        i = bisect.bisect_left(self._ack_log_bytes, need)
        if i >= len(self._ack_log_s):
            return self.now
        # the reply reaches the host only after the adapter's latency
        return self._ack_log_s[i] + self.reply_latency_s

    def _flush_output(self) -> None:
        now = time.monotonic()
        if self._out:
            if self.reply_latency_s > 0 and self.time_scale > 0:
                # the USB-serial adapter passes bytes on only after its latency
                self._adapter.append((now + self.reply_latency_s * self.time_scale,
                                      bytes(self._out)))
            else:
                self._tx += self._out
            self._out.clear()
        while self._adapter and self._adapter[0][0] <= now:
            self._tx += self._adapter.popleft()[1]
        master = self._master
        if master is None or not self._tx:
            return
        try:
            n = os.write(master, bytes(self._tx))
            del self._tx[:n]
        except BlockingIOError:
            pass  # the sender is not reading: keep it for later

    def _close_master(self) -> None:
        if self._master is not None:
            os.close(self._master)
            self._master = None

    # --- machine state ----------------------------------------------------------------

    def _effective_profile(self) -> MachineProfile:
        s = self.settings
        return dataclasses.replace(
            self.profile,
            max_rate_x_mm_min=float(s[110]), max_rate_y_mm_min=float(s[111]),
            max_rate_z_mm_min=float(s[112]), accel_x_mm_s2=float(s[120]),
            accel_y_mm_s2=float(s[121]), accel_z_mm_s2=float(s[122]),
            junction_deviation_mm=float(s[11]), laser_mode=bool(s[32]),
        )

    def _reset_state(self) -> None:
        """Empty planner, steps and parser; modal state as after a reset (G0 G90 G21)."""
        self._planner = Planner(self._effective_profile(), start=self._pos)
        self._steps: deque[tuple[int, Step]] = deque()
        self._seq_in = 0
        self._seq_done = 0
        self._current: Step | None = None
        self._current_seq = 0
        self._current_start = 0.0
        self._current_end = 0.0
        self._busy: _Busy | None = None
        self._eeprom: _EepromWrite | None = None
        self._hold = False
        self._starve_mark: tuple[float, int] | None = None
        self._rx_lines.clear()
        self._rx_partial.clear()
        self._rx_used = 0
        self._mode = 0
        self._relative = False
        self._scale = 1.0
        self._feed = 0.0
        self._spindle_on = False
        self._s_value = 0.0
        self._target = self._pos

    def _pen_is_down(self) -> bool:
        pen = self.profile.pen
        if pen.kind == "z":
            return pen.z_down(self._position_now()[2])
        return self._servo_pen_down

    def _position_now(self) -> Point:
        if isinstance(self._current, Block):
            return self._current.position_at(self.now - self._current_start)
        return self._pos

    def _blocks_in_use(self) -> int:
        queued = sum(1 for _, step in self._steps if isinstance(step, Block))
        return self._planner.buffered + queued + isinstance(self._current, Block)

    def _has_work(self) -> bool:
        return self._current is not None or bool(self._steps) or self._planner.buffered > 0

    def _state(self) -> str:
        if self.alarm is not None or self._need_reset:
            return "Alarm"
        if self._check_mode:
            return "Check"
        if self._hold:
            return "Hold:0"
        return "Run" if self._has_work() else "Idle"

    def _status_report(self) -> str:
        x, y, z = self._position_now()
        feed = 0.0
        if isinstance(self._current, Block):
            feed = self._current.speed_at(self.now - self._current_start) * 60.0
        spindle = self._s_value if self._spindle_on else 0.0
        free_blocks = max(self.profile.planner_blocks - self._blocks_in_use(), 0)
        fields_ = [self._state(), f"MPos:{_fmt(x)},{_fmt(y)},{_fmt(z)}",
                   f"Bf:{free_blocks},{RX_BUFFER_BYTES - self._rx_used}",
                   f"FS:{feed:.0f},{spindle:.0f}"]
        # report.c sends the work offset only every 10 to 30 reports
        if self._reports % 10 == 0:
            fields_.append("WCO:0.000,0.000,0.000")
        self._reports += 1
        return "<" + "|".join(fields_) + ">"

    # --- drawing record ---------------------------------------------------------------

    def _record_point(self, xy: tuple[float, float]) -> None:
        if self._stroke is not None and self._stroke[-1] != xy:
            self._stroke.append(xy)

    def _pen_changed(self, down: bool) -> None:
        x, y, _ = self._position_now()
        if down and self._stroke is None:
            self._stroke = [(x, y)]
        elif not down and self._stroke is not None:
            self._strokes.append(self._stroke)
            self._stroke = None

    # --- motion -----------------------------------------------------------------------

    def _collect(self) -> None:
        for step in self._planner.pop_ready():
            self._seq_in += 1
            self._steps.append((self._seq_in, step))

    def _plan(self, command: Command) -> None:
        if isinstance(command, Move):
            moves = command.x, command.y, command.z
            if self._starve_mark is not None and moves != self._planner.position:
                if self._reopen_running():
                    self.log.starvations.append(self._starve_mark)
                self._starve_mark = None
        else:
            self._starve_mark = None  # a sync or a dwell stops the machine by design
        self._planner.append(command)
        self._collect()
        self.log.max_blocks_used = max(self.log.max_blocks_used, self._blocks_in_use())

    def _reopen_running(self) -> bool:
        """A move arrived after the planner ran empty: re-plan the block still running.

        As GRBL does, the rest of a block released alone is put back ahead of the new
        move, so it need not stop at its end. Returns whether the empty planner cost speed
        on paper (a starvation): the block had already stopped or begun to slow down for
        a stop the new move makes needless.
        """
        step = self._current
        if not isinstance(step, Block) or self._steps or self._planner.buffered or self._hold:
            return True
        elapsed = self.now - self._current_start
        braking = elapsed > step.accel_s + step.cruise_s and step.exit_mm_s < step.peak_mm_s
        if not self._planner.reopen(step, elapsed):
            return True
        self._pos = step.position_at(elapsed)
        self._current = None
        return braking

    def _start_steps(self) -> None:
        """Start the next step if the machine is free; GRBL's auto cycle start."""
        while self._current is None and not self._hold and not self._need_reset:
            if not self._steps:
                if self._planner.buffered == 0:
                    return
                block = self._planner.release()
                self._collect()
                if self._planner.buffered == 0 and block is not None:
                    self._starve_mark = (self.now, block.line)
            seq, step = self._steps.popleft()
            self._current, self._current_seq = step, seq
            self._current_start = self.now
            if isinstance(step, Block):
                self._current_end = self.now + step.duration_s
            elif isinstance(step, Dwell):
                self._current_end = self.now + step.seconds
            else:
                self._current_end = self.now
                self._finish_current()

    def _finish_current(self) -> None:
        step = self._current
        if isinstance(step, Block):
            self._pos = step.end
            x, y, z = step.end
            if self.profile.pen.kind == "z":
                down = self.profile.pen.z_down(z)
                if down and self._stroke is None:
                    self._stroke = [(x, y)]
                elif down:
                    self._record_point((x, y))
                elif self._stroke is not None:
                    self._pen_changed(False)
            elif self._servo_pen_down:
                self._record_point((x, y))
        elif isinstance(step, Pen) and self.profile.pen.kind != "z":
            self._servo_pen_down = step.down
            self._pen_changed(step.down)
        self._seq_done = self._current_seq
        self._current = None
        if not self._steps and self._planner.buffered == 0:
            self.log.idle_s = self.now

    def _stop_motion(self) -> None:
        """Stop where the machine is now (reset, alarm, power loss)."""
        if isinstance(self._current, Block):
            self._pos = self._current.position_at(self.now - self._current_start)
            if self._pen_is_down():
                self._record_point((self._pos[0], self._pos[1]))
        self._current = None

    def _next_event(self) -> float:
        t = self._current_end if self._current is not None else math.inf
        if self._eeprom is not None:
            t = min(t, max(self._eeprom.until_s, self.now))
        if self._busy is None and self._rx_lines and not self._need_reset:
            t = min(t, max(self._rx_lines[0][1], self.now))
        cpu_s = self._cpu_ready_s()
        if cpu_s > self.now:
            t = min(t, cpu_s)
        return t

    def _cpu_ready_s(self) -> float:
        """Simulated s at which the controller's CPU is done planning the block the parser
        is on (``planner_blocks_per_s``); inf when it is on none."""
        busy = self._busy
        if busy is None or busy.cpu_ready_s is None or self._need_reset:
            return math.inf
        return busy.cpu_ready_s

    def _needs_time(self) -> bool:
        """Virtual time: the parser waits for motion, an EEPROM write, its own planning of a
        block (``planner_blocks_per_s``) or for bytes on the wire."""
        if self._busy is not None or self._eeprom is not None:
            return True
        return bool(self._rx_lines) and self._rx_lines[0][1] > self.now

    def _step_once(self) -> None:
        """Virtual time: move on to the next event (a step ends, a line arrives)."""
        self._start_steps()
        t = self._next_event()
        if t == math.inf:
            return
        self.now = max(self.now, t)
        if self._current is not None and self._current_end <= self.now:
            self._finish_current()
        self._try_parse()

    def _run_to_idle(self) -> None:
        while self._has_work() and not self._hold and not self._need_reset:
            before = (self.now, self._seq_done, self._current_seq)
            self._step_once()
            if (self.now, self._seq_done, self._current_seq) == before and self._current is None:
                break

    def _advance(self, t: float) -> None:
        """Real time: run the machine and the parser up to simulated time ``t``."""
        while True:
            self._try_parse()
            self._start_steps()
            t_next = self._next_event()
            if t_next > t:
                break
            self.now = max(self.now, t_next)
            if self._current is not None and self._current_end <= self.now:
                self._finish_current()
            elif self._cpu_ready_s() == self.now:
                continue  # the CPU has planned a block: the loop's _try_parse appends it
            elif self._busy is not None or self._need_reset or not self._rx_lines:
                break
        self.now = max(self.now, t)

    def _feed_hold(self) -> None:
        if self.alarm is not None or self._need_reset or self._check_mode:
            return
        self._hold = True
        step = self._current
        if isinstance(step, Block):
            # stop here; the rest of the block runs again from rest on resume
            p = step.position_at(self.now - self._current_start)
            rest = math.dist(p, step.end)
            if rest > 1e-9:
                exit_mm_s = min(step.exit_mm_s, math.sqrt(2.0 * step.accel_mm_s2 * rest))
                remainder = Block(p, step.end, rest, step.nominal_mm_s, 0.0, 0.0, exit_mm_s,
                                  step.accel_mm_s2, step.line, step.rapid, step.pen_down)
                self._pos = p
                self._steps.appendleft((self._current_seq, remainder))
                self._current = None

    def _resume(self) -> None:
        if self._hold:
            self._hold = False

    def _soft_reset(self) -> None:
        in_motion = self._has_work()
        self._stop_motion()
        self._reset_state()
        if self.profile.pen.kind != "z" and self._servo_pen_down:
            # mc_reset stops the spindle: a servo pen on M3 goes up
            self._servo_pen_down = False
            self._pen_changed(False)
        self._need_reset = False
        # the host starts counting afresh after a reset
        self._line_bytes_in = self._acked_bytes = 0
        self._ack_log_bytes.clear()
        self._ack_log_s.clear()
        self._last_send_s = self.now
        if in_motion:
            # a reset in motion loses steps: ALARM:3, and the lock stays until $X
            self.alarm = 3
            self.log.alarms.append(3)
            self._write_now("ALARM:3\r\n")
        self._write_now(f"\r\n{BANNER}\r\n")
        if self.alarm is not None:
            self._write_now("[MSG:'$H'|'$X' to unlock]\r\n")

    def _raise_alarm(self, code: int) -> None:
        self._stop_motion()
        rx = (list(self._rx_lines), bytes(self._rx_partial), self._rx_used)
        self._reset_state()
        # the bytes wait in the receive buffer until the reset clears them
        self._rx_lines.extend(rx[0])
        self._rx_partial += rx[1]
        self._rx_used = rx[2]
        if self.profile.pen.kind != "z" and self._servo_pen_down:
            self._servo_pen_down = False  # mc_reset stops the spindle
            self._pen_changed(False)
        self.alarm = code
        self.log.alarms.append(code)
        self._emit(f"ALARM:{code}\r\n")
        if code in (1, 2):
            # hard and soft limits block everything but '?' and the reset
            self._need_reset = True
            self._emit("[MSG:Reset to continue]\r\n")

    def _disconnect(self) -> None:
        """The controller vanishes (cable pulled, power lost): motion stops, the servo
        loses its signal (pen up), and the sender's port fails."""
        self._stop_motion()
        self._reset_state()
        if self.profile.pen.kind != "z" and self._servo_pen_down:
            self._servo_pen_down = False
            self._pen_changed(False)
        self.disconnected = True
        self._out.clear()
        self._adapter.clear()
        self._tx.clear()
        self._close_master()

    # --- the parser ---------------------------------------------------------------------

    def _try_parse(self) -> None:
        """Read lines while the parser can act on them at the current time."""
        write = self._eeprom
        if write is not None:
            if self.now < write.until_s or time.monotonic() < write.until_wall:
                return
            self._eeprom = None
            self._answer("ok\r\n", write.nbytes)
            # virtual time: what the host sends next, it sent after this ok reached it
            self._last_send_s = max(self._last_send_s, self.now + self.reply_latency_s)
        while not self._need_reset and not self.disconnected:
            if self._busy is not None:
                if not self._continue_busy():
                    return
                continue
            if not self._rx_lines or self._rx_lines[0][1] > self.now:
                return
            raw, _ = self._rx_lines.popleft()
            self._rx_used -= len(raw)
            self._handle_line(raw)

    def _continue_busy(self) -> bool:
        busy = self._busy
        assert busy is not None
        if busy.wait_seq is not None:
            if self._seq_done < busy.wait_seq:
                return False
            busy.wait_seq = None
        while busy.commands:
            command = busy.commands[0]
            if isinstance(command, Move):
                if self.block_cpu_s > 0:
                    # gc_execute_line, mc_line (mc_arc's chord by chord) and
                    # plan_buffer_line take CPU time: the block exists only once the
                    # controller has spent it, counted from when the parser got to it
                    if busy.cpu_ready_s is None:
                        busy.cpu_ready_s = self.now + self.block_cpu_s
                    if self.now < busy.cpu_ready_s:
                        return False
                if self._blocks_in_use() >= self.profile.planner_blocks:
                    return False  # mc_line waits for a free planner slot
            busy.commands.popleft()
            busy.cpu_ready_s = None
            self._plan(command)
            if isinstance(command, Dwell) or (isinstance(command, Pen) and command.sync):
                # protocol_buffer_synchronize: the reply waits for the machine
                busy.wait_seq = self._seq_in
                if self._seq_done < busy.wait_seq:
                    return False
                busy.wait_seq = None
        delay = self.faults.slow_reply_s.get(busy.line)
        if delay:
            if busy.until_wall is None:
                busy.until_wall = time.monotonic() + delay
            if time.monotonic() < busy.until_wall:
                return False
        self._busy = None
        self._reply(busy.line, "ok", busy.nbytes)
        return True

    def _stall_s(self) -> float:
        """Wall seconds until a slow reply (fault) lets the parser go on; 0 if none."""
        busy = self._busy
        if busy is None or busy.until_wall is None:
            return 0.0
        return max(busy.until_wall - time.monotonic(), 0.0)

    def _handle_line(self, raw: bytes) -> None:
        nbytes = len(raw)
        code = self._strip(raw.decode("ascii", "replace"))
        if code is None:
            self._answer("error:11\r\n", nbytes)
            return
        if not code:
            self._answer("ok\r\n", nbytes)  # empty lines are answered, for syncing
            return
        if code.startswith("$"):
            reply = self._system(code)
            if reply == "ok\r\n" and _STORE.fullmatch(code):
                self._write_eeprom(nbytes)
            else:
                self._answer(reply, nbytes)
            return
        self.log.lines_received += 1
        k = self.log.lines_received
        if self.log.first_line_s is None:
            self.log.first_line_s = self.now
        self.log.levels.append((self.now, self._rx_used, self._blocks_in_use()))
        faults = self.faults
        if faults.disconnect_after_lines is not None and k > faults.disconnect_after_lines:
            self._disconnect()
            return
        if k in faults.alarm_at_line:
            self._raise_alarm(faults.alarm_at_line[k])
            return
        if k in faults.error_at_line:
            self._error(k, faults.error_at_line[k], nbytes)
            return
        if self.alarm is not None:
            self._error(k, 9, nbytes)  # G-code is locked out in the alarm state
            return
        try:
            commands = self._parse_gcode(code, k)
        except _GrblError as error:
            self._error(k, error.code, nbytes)
            return
        except _SoftLimit:
            self._raise_alarm(2)
            return
        if self._check_mode:
            self._reply(k, "ok", nbytes)
            return
        self._busy = _Busy(deque(commands), k, nbytes)
        self._continue_busy()

    def _write_eeprom(self, nbytes: int) -> None:
        """Store a setting: the parser and the serial port stop for the write, and the
        bytes already on the wire behind the line are lost with the ones to come."""
        start = self.now
        wall = time.monotonic() + EEPROM_WRITE_S if self.time_scale == 0 else 0.0
        self._eeprom = _EepromWrite(start + EEPROM_WRITE_S, wall, nbytes)
        kept = bytearray()
        stamps: list[float] = []
        for raw, end_s in self._rx_lines:
            stamps += [end_s - (len(raw) - 1 - i) * self.byte_s for i in range(len(raw))]
            kept += raw
        partial = len(self._rx_partial)
        stamps += [self._serial_free - (partial - 1 - i) * self.byte_s for i in range(partial)]
        kept += self._rx_partial
        self._rx_lines.clear()
        self._rx_partial.clear()
        for byte, stamp in zip(kept, stamps, strict=True):
            if stamp > start:
                self.log.eeprom_lost_bytes += 1
                self._rx_used -= 1
                continue
            self._rx_partial.append(byte)
            if byte in (0x0A, 0x0D):
                self._rx_lines.append((bytes(self._rx_partial), stamp))
                self._rx_partial.clear()

    def _error(self, line: int, code: int, nbytes: int) -> None:
        self.log.errors.append((line, code))
        self._reply(line, f"error:{code}", nbytes)

    @staticmethod
    def _strip(text: str) -> str | None:
        """The line as GRBL's protocol.c keeps it: no spaces, control characters or
        comments, upper case; None when it overflows the 80-byte line buffer."""
        out: list[str] = []
        in_paren = False
        for ch in text:
            if in_paren:
                in_paren = ch != ")"
            elif ch == "(":
                in_paren = True
            elif ch == ";":
                break
            elif ch <= " ":
                continue
            else:
                out.append(ch.upper())
        if len(out) > LINE_MAX_CHARS:
            return None
        return "".join(out)

    def _system(self, code: str) -> str:
        """A ``$`` command's reply, ``ok`` or ``error:N`` included."""
        running = self._has_work() or self._hold
        idle = not running
        if code == "$":
            return "[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]\r\nok\r\n"
        if code == "$$":
            if running:
                return "error:8\r\n"
            lines = [f"${n}={v:.3f}" if isinstance(v, float) and not v.is_integer()
                     or n >= 100 else f"${n}={int(v)}" for n, v in sorted(self.settings.items())]
            return "\r\n".join(lines) + "\r\nok\r\n"
        if code == "$I":
            if not idle:
                return "error:8\r\n"
            return f"{BUILD_INFO}\r\n[OPT:V,{self.profile.planner_blocks},{RX_BUFFER_BYTES}]\r\nok\r\n"
        if code == "$X":
            if self.alarm is not None:
                self.alarm = None
                return "[MSG:Caution: Unlocked]\r\nok\r\n"
            return "ok\r\n"
        if code == "$G":
            mode = f"G{self._mode}"
            dist = "G91" if self._relative else "G90"
            units = "G20" if self._scale != 1.0 else "G21"
            spindle = "M3" if self._spindle_on else "M5"
            return (f"[GC:{mode} G54 G17 {units} {dist} G94 {spindle} M9 T0 "
                    f"F{self._feed:g} S{self._s_value:g}]\r\nok\r\n")
        if code == "$#":
            return "[G54:0.000,0.000,0.000]\r\n[G92:0.000,0.000,0.000]\r\n[TLO:0.000]\r\nok\r\n"
        if code == "$C":
            if self._check_mode:
                self._check_mode = False
                self._write_now("[MSG:Disabled]\r\nok\r\n")
                self._soft_reset()
                return ""
            if not idle:
                return "error:8\r\n"
            self._check_mode = True
            return "[MSG:Enabled]\r\nok\r\n"
        if code == "$H":
            return "error:5\r\n"  # homing is not enabled
        match = re.fullmatch(r"\$(\d+)=([-+]?(?:\d+\.?\d*|\.\d+))", code)
        if match:
            if not idle:
                return "error:8\r\n"
            number, value = int(match.group(1)), float(match.group(2))
            if number not in self.settings:
                return "error:3\r\n"
            if value < 0 or (number == 12 and value == 0):
                # GRBL stores $12=0 and then divides by it in mc_arc; refused here
                return "error:4\r\n"
            self.settings[number] = value
            self._planner = Planner(self._effective_profile(), start=self._pos)
            return "ok\r\n"
        if re.fullmatch(r"\$\d+=.*", code):
            return "error:2\r\n"
        return "error:3\r\n"

    def _parse_gcode(self, code: str, k: int) -> list[Command]:
        """One stripped G-code line -> program commands in machine mm (gc.c's order:
        feed, spindle, dwell, units and distance mode, motion, program end). A G0/G1 line
        gives one :class:`Move`, a G2/G3 line one per chord of its arc (``mc_arc``), all
        with the line number ``k``."""
        words: list[tuple[str, float]] = []
        i = 0
        while i < len(code):
            letter = code[i]
            if not "A" <= letter <= "Z":
                raise _GrblError(1)  # expected command letter
            match = _NUMBER.match(code, i + 1)
            if not match:
                raise _GrblError(2)  # bad number format
            words.append((letter, float(match.group())))
            i = match.end()
        groups: set[str] = set()
        gs: list[int] = []
        ms: list[int] = []
        values: dict[str, float] = {}
        for letter, value in words:
            if letter in "GM":
                if value != int(value):
                    raise _GrblError(20)
                number = int(value)
                table = _G_GROUP if letter == "G" else _M_GROUP
                group = table.get(number)
                if group is None:
                    raise _GrblError(20)  # unsupported command
                if letter + group in groups:
                    raise _GrblError(21)  # modal group violation
                groups.add(letter + group)
                (gs if letter == "G" else ms).append(number)
            elif letter in "FNPSTXYZ" + _ARC_WORDS:
                if letter in values:
                    raise _GrblError(25)  # repeated word
                if letter in "FNPST" and value < 0:
                    raise _GrblError(4)
                values[letter] = value
            elif letter in "LDHQ":
                raise _GrblError(36)  # value words no command of ours uses
            else:
                raise _GrblError(20)
        commands: list[Command] = []
        scale = 25.4 if 20 in gs else 1.0 if 21 in gs else self._scale
        feed = values["F"] * scale if "F" in values else self._feed
        dwell = 4 in gs
        if "P" in values and not dwell:
            raise _GrblError(36)
        if dwell and "P" not in values:
            raise _GrblError(28)
        # the spindle: a servo pen on M3/M5 (gc.c: every change syncs the planner, an S
        # change while on too, except on a motion line in laser mode)
        motion = any(a in values for a in "XYZ")
        new_s = values.get("S", self._s_value)
        new_on = self._spindle_on
        for m in ms:
            if m in (3, 4, 5):
                new_on = m != 5
        switched = new_on != self._spindle_on
        s_changed = new_on and new_s != self._s_value
        laser = bool(self.settings[32])
        pen = self.profile.pen
        if switched or s_changed or any(m in (3, 4, 5) for m in ms):
            sync = switched or (s_changed and not (laser and motion))
            down = new_on and pen.servo_down(new_s)
            commands.append(Pen(down=down, sync=sync, line=k))
        if dwell:
            commands.append(Dwell(values["P"], line=k))
        relative = 91 in gs if (90 in gs or 91 in gs) else self._relative
        mode = self._mode
        for g in gs:
            if g in (0, 1, 2, 3, 80):
                mode = g
        ends: np.ndarray | None = None  # (K, 3) mm: where the line's moves end
        used = ""  # the arc words the line's motion used
        if mode in (2, 3) and (motion or any(g in (2, 3) for g in gs)):
            # a G2/G3 word is an axis command even without axis words (gc.c's
            # AXIS_COMMAND_MOTION_MODE), so "G2" alone is checked, and refused
            ends, used = self._arc_ends(values, feed, scale, relative, clockwise=mode == 2)
        elif motion:
            if mode == 80:
                raise _GrblError(31)
            if mode == 1 and not feed > 0:
                raise _GrblError(22)  # undefined feed rate
            ends = np.array([self._axis_target(values, scale, relative)])
        elif 1 in gs and not feed > 0:
            # gc.c: an explicit G1 is a motion command even without axis words, and
            # every motion mode but G0 needs a feed first
            raise _GrblError(22)
        if any(letter in values and letter not in used for letter in _ARC_WORDS):
            # gc.c's last check: I J K R with no arc, or I J beside R
            raise _GrblError(36)
        if ends is not None:
            self._check_soft_limits(ends)
            commands += [Move(float(x), float(y), float(z), feed, mode == 0, line=k)
                         for x, y, z in ends]
            self._target = (float(ends[-1, 0]), float(ends[-1, 1]), float(ends[-1, 2]))
        # the line is valid: its modal state stays (gc.c commits only after the checks)
        self._feed, self._scale, self._relative, self._mode = feed, scale, relative, mode
        end = any(m in (2, 30) for m in ms)
        if end:
            # program end: wait for the motion, stop the spindle, back to G90 G1
            if self._spindle_on or new_on:
                commands.append(Pen(down=False, sync=True, line=k))
            else:
                commands.append(Dwell(0.0, line=k))
            new_on = False
            self._relative = False
            self._mode = 1
        self._spindle_on, self._s_value = new_on, new_s
        return commands

    def _axis_target(self, values: dict[str, float], scale: float,
                     relative: bool) -> tuple[float, float, float]:
        """Where a motion line's X Y Z words lead from the parser's position, machine mm:
        each word (in the line's units, ``scale`` mm a unit) absolute (G90) or added to
        the position (G91); an axis without a word stays."""
        target = list(self._target)
        for axis, letter in enumerate("XYZ"):
            if letter in values:
                v = values[letter] * scale
                target[axis] = target[axis] + v if relative else v
        return target[0], target[1], target[2]

    def _arc_ends(self, values: dict[str, float], feed: float, scale: float, relative: bool,
                  clockwise: bool) -> tuple[np.ndarray, str]:
        """A G2 (``clockwise``) or G3 line's chord ends, ``(K, 3)`` machine mm, and the arc
        words it used (``"R"`` or ``"IJK"``); raises :class:`_GrblError` as gc.c checks a
        G2/G3 block, in its order.

        ``feed`` is mm/min, ``scale`` mm per unit of the line (25.4 in G20, for X Y Z, I J
        and R alike). I J are offsets from the start to the centre whatever the distance
        mode (GRBL's default G91.1); a K in the XY plane is taken and ignored, as gc.c
        clears it with I and J. The chords are ``mc_arc``'s for the current ``$12``; a Z
        word makes a helix, Z moving the same amount each chord.
        """
        if not feed > 0:
            raise _GrblError(22)  # undefined feed rate: checked before the axis words
        if not any(a in values for a in "XYZ"):
            raise _GrblError(26)  # no axis words
        if "X" not in values and "Y" not in values:
            raise _GrblError(32)  # no axis words in the plane (G17: X and Y)
        target = self._axis_target(values, scale, relative)
        try:
            # R takes precedence; I J beside it stay unused words (error 36 after this)
            return arc_from_words(np.array(self._target), np.array(target), values, scale,
                                  clockwise, float(self.settings[12]))
        except ArcError as error:
            raise _GrblError(error.code) from error  # 33 target, 34 radius, 35 no offset

    def _check_soft_limits(self, ends: np.ndarray) -> None:
        """Raise :class:`_SoftLimit` when ``$20`` is on and an end point of ``ends`` (``(K,
        2+)`` machine mm) leaves the bed (``$130`` x ``$131``). GRBL's ``mc_line`` checks
        each target (``limits_soft_check``), an arc's every chord among them; here the
        whole line is checked before any of it is planned."""
        if not self.settings[20]:
            return
        x, y = ends[:, 0], ends[:, 1]
        eps = 1e-9
        if not (np.all((x >= -eps) & (x <= self.settings[130] + eps))
                and np.all((y >= -eps) & (y <= self.settings[131] + eps))):
            raise _SoftLimit
