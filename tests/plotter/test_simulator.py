"""The simulated GRBL controller over a real pty: protocol replies, error numbers, the
receive buffer, alarms, feed hold, and motion timed like the planner's estimate."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
import serial

from plotter.drawing import Drawing
from plotter.gcode import read_program, write_gcode
from plotter.grbl_codes import alarm_meaning, error_codes, error_meaning
from plotter.planner import plan
from plotter.profile import load_profile
from plotter.simulator import BANNER, EEPROM_WRITE_S, SimulatedGrbl

STATUS = re.compile(r"^<(Idle|Run|Hold:\d|Alarm|Check)\|MPos:-?\d+\.\d{3},-?\d+\.\d{3},-?\d+\.\d{3}"
                    r"\|Bf:\d+,\d+\|FS:\d+,\d+(\|WCO:[-\d.,]+)?>$")


@pytest.fixture
def device():
    """Factory: a started simulator for a profile and a pyserial port on it."""
    opened = []

    def make(profile: str = "grbl-servo", **options):
        sim = SimulatedGrbl(load_profile(profile), **options).start()
        port = serial.serial_for_url(sim.port, timeout=5)
        opened.append((sim, port))
        return sim, port

    yield make
    for sim, port in opened:
        port.close()
        sim.stop()


def ask(port: serial.SerialBase, text: str | bytes, until: str = "ok") -> list[str]:
    """Send, then read lines until one starts with ``until`` (or error/ALARM)."""
    port.write(text if isinstance(text, bytes) else text.encode() + b"\n")
    lines = []
    deadline = time.monotonic() + 5
    while True:
        assert time.monotonic() < deadline, f"no reply to {text!r} after {lines}"
        line = port.readline().decode().strip()
        if not line:
            continue
        lines.append(line)
        if line.startswith((until, "error:", "ALARM:")):
            return lines


def test_codes_are_grbl_tables():
    assert error_meaning(11).startswith("Line overflow")
    assert alarm_meaning(2).startswith("Soft limit")
    assert "unknown" in error_meaning(99)
    assert set(range(1, 18)) <= set(error_codes())


def test_banner_status_settings_and_build_info(device):
    sim, port = device()
    assert ask(port, b"\x18", until="Grbl")[-1] == BANNER
    status = ask(port, b"?", until="<")[-1]
    assert STATUS.match(status), status
    assert "Idle" in status and "Bf:15,128" in status
    settings = ask(port, "$$")
    assert "$110=6000.000" in settings and "$122=200.000" in settings
    assert ask(port, "$I")[:2] == ["[VER:1.1h.20190825:]", "[OPT:V,15,128]"]
    assert ask(port, "$X") == ["ok"]
    assert ask(port, "") == ["ok"]


@pytest.mark.parametrize(("line", "code"), [
    ("G5", 20),  # unsupported G
    ("G1X10", 22),  # no feed yet
    ("G1", 22),  # an explicit G1 needs a feed even without axis words
    ("G0X", 2),  # bad number
    ("G0*1", 1),  # not a letter
    ("G0X1X2", 25),  # repeated word
    ("G0G1X1", 21),  # two motion words
    ("G4", 28),  # dwell without P
    ("G0X1P2", 36),  # unused P
    ("G1X1F-5", 4),  # negative feed
    ("M7777", 20),
    ("G0X" + "1" * 80, 11),  # line overflow
    ("$Q", 3),
])
def test_errors_numbered_as_grbl(device, line, code):
    sim, port = device()
    assert ask(port, line)[-1] == f"error:{code}"
    assert ask(port, "G0X1Y1")[-1] == "ok"  # the controller goes on


def test_receive_buffer_overflows_without_flow_control(device):
    sim, port = device()
    lines = "".join(f"G1X{i}Y{i % 7}F600\n" for i in range(1, 60))
    port.write(lines.encode())  # 700 bytes at once: far beyond 127
    port.write(b"G0X0Y0\n")
    deadline = time.monotonic() + 10
    while sim.log.overflow_bytes == 0 and time.monotonic() < deadline:
        port.readline()
    assert sim.log.overflow_bytes > 0
    assert sim.log.max_rx_used == 127


def test_soft_limit_alarm_then_reset_and_unlock(device):
    sim, port = device()
    ask(port, "G21G90")
    reply = ask(port, "G0X500Y10", until="ALARM")
    assert reply[-1] == "ALARM:2"
    assert port.readline().decode().strip() == "[MSG:Reset to continue]"
    assert "Alarm" in ask(port, b"?", until="<")[-1]
    after = ask(port, b"\x18", until="[MSG:'$H'|'$X' to unlock]")
    assert BANNER in after
    assert ask(port, "G0X1")[-1] == "error:9"  # locked until $X
    assert ask(port, "$X") == ["[MSG:Caution: Unlocked]", "ok"]
    assert ask(port, "G0X1")[-1] == "ok"


def test_hold_and_resume(device):
    sim, port = device(time_scale=1.0)
    ask(port, "G1X100F600")  # 10 s at 10 mm/s in real time
    port.write(b"!")
    status = ask(port, b"?", until="<")[-1]
    assert status.startswith("<Hold:0")
    x = sim.position[0]
    assert 0 <= x < 100
    assert sim.position[0] == x  # held: not moving
    port.write(b"~")
    assert ask(port, b"?", until="<")[-1].startswith("<Run")


def test_servo_pen_records_strokes_and_dwell(device):
    sim, port = device()
    for line in ["G21G90F3000", "G0X10Y10", "M3S1000", "G4P.15", "G91G1X1", "Y1", "M5",
                 "G90G0X0Y0", "M2"]:
        assert ask(port, line)[-1] == "ok", line
    strokes = sim.strokes()
    assert len(strokes) == 1
    np.testing.assert_allclose(strokes[0], [[10, 10], [11, 10], [11, 11]], atol=1e-9)
    assert not sim.pen_down


def test_simulated_time_matches_planner_estimate(device):
    profile = load_profile("grbl-servo")
    rng = np.random.default_rng(3)
    strokes = [rng.uniform(20, 80, 2) + np.cumsum(rng.normal(0, .5, (15, 2)), axis=0)
               for _ in range(40)]
    text = write_gcode(Drawing(tuple(strokes), 148, 105), profile)
    sim, port = device()
    unacked: list[int] = []
    lines = [line for line in text.splitlines() if not line.startswith(";")]
    sent = 0
    while sent < len(lines) or unacked:
        while sent < len(lines) and sum(unacked) + len(lines[sent]) + 1 <= 127:
            port.write(lines[sent].encode() + b"\n")
            unacked.append(len(lines[sent]) + 1)
            sent += 1
        assert port.readline().strip() == b"ok"
        unacked.pop(0)
    estimate = plan(read_program(text, profile), profile).total_s
    assert sim.log.plot_s == pytest.approx(estimate, rel=0.005)
    assert sim.log.starvations == []
    assert sim.log.overflow_bytes == 0


@pytest.mark.parametrize("latency_s", [0.0, 0.016])
def test_reply_latency_delays_the_next_line_of_send_and_wait(device, latency_s):
    """Virtual time, send-and-wait: each line leaves the host when the reply to the one
    before reached it, ``reply_latency_s`` after the controller sent it, and takes its
    bytes' time on the wire. Modal lines only: no motion moves the clock meanwhile."""
    sim, port = device(host_budget_bytes=0, reply_latency_s=latency_s)
    lines = ["G21", "G90", "G17", "G94", "F600", "G1", "G0", "G90G21G17"]
    for line in lines:
        assert ask(port, line) == ["ok"]
    read_s = np.array([t for t, _, _ in sim.log.levels])
    wire_s = np.array([(len(line) + 1) * sim.byte_s for line in lines])
    np.testing.assert_allclose(np.diff(read_s), wire_s[1:] + latency_s, rtol=1e-9)


def test_reply_latency_at_a_time_scale_holds_replies_back(device):
    sim, port = device(time_scale=1.0, reply_latency_s=0.05)
    assert port.readline().strip() == b""  # the power-up banner, held back alike
    assert port.readline().decode().strip() == BANNER
    start = time.monotonic()
    assert ask(port, "") == ["ok"]
    assert time.monotonic() - start >= 0.05  # a lower bound: never early


def test_reply_latency_must_not_be_negative():
    with pytest.raises(ValueError, match="reply_latency_s"):
        SimulatedGrbl(load_profile("grbl-servo"), reply_latency_s=-0.001)


def _send_and_wait(port: serial.SerialBase, lines: list[str]) -> None:
    for line in lines:
        assert ask(port, line) == ["ok"]


def test_a_block_started_alone_keeps_its_speed_into_the_next(device):
    """Send-and-wait hands GRBL one move at a time, so the first starts alone, planned to
    stop; the second arrives while it is still accelerating and GRBL re-plans it, so a
    straight line sent in two halves runs as one move: no stop, no starvation."""
    profile = load_profile("grbl-z")
    sim, port = device("grbl-z", host_budget_bytes=0)
    lines = ["G21G90", "G1X10Y10F3000", "G1X60Y10", "G1X110Y10"]
    _send_and_wait(port, lines)
    assert ask(port, "G4P0") == ["ok"]  # waits for the motion to end
    estimate = plan(read_program("\n".join(lines), profile), profile).total_s
    assert sim.log.starvations == []
    # the clock starts with the first line; the first move waits for its own bytes
    assert sim.log.plot_s == pytest.approx(estimate + 14 * sim.byte_s, abs=1e-6)


def test_a_host_too_slow_for_short_segments_starves_the_planner(device):
    """Segments of 0.1 mm take 2 ms at 50 mm/s; with replies 20 ms late send-and-wait
    cannot keep up once the pen is at speed: the planner runs empty mid-stroke, and each
    stop shows as a starvation naming its line and costs time against the estimate."""
    profile = load_profile("grbl-z")
    sim, port = device("grbl-z", host_budget_bytes=0, reply_latency_s=0.02)
    lines = ["G21G90", "G1Z0F1000", "F3000"] + [f"G1X{10 + 0.1 * k:.1f}Y10" for k in range(30)]
    _send_and_wait(port, lines)
    assert ask(port, "G4P0") == ["ok"]
    estimate = plan(read_program("\n".join(lines), profile), profile).total_s
    starved_lines = [line for _, line in sim.log.starvations]
    assert len(starved_lines) >= 10
    assert set(starved_lines) <= set(range(4, len(lines) + 1))
    assert sim.log.plot_s > estimate + 10 * 0.02


def test_a_setting_waits_for_the_machine_to_rest(device):
    sim, port = device()
    assert ask(port, "G1X50F600") == ["ok"]  # planned: the machine runs it for 5 s
    assert ask(port, "$110=5000") == ["error:8"]  # not idle
    assert sim.settings[110] == 6000
    assert ask(port, "G4P0") == ["ok"]  # answered once the move is done
    assert ask(port, "$110=5000") == ["ok"]
    assert sim.settings[110] == 5000


def test_bytes_sent_while_a_setting_is_written_to_eeprom_are_lost(device):
    """GRBL stops serial reception while it writes EEPROM: a move sent right behind a
    setting, without waiting for its ok, is lost; the same move sent after the ok is
    not. The ok itself comes once the write is done."""
    sim, port = device()
    before = sim.now
    port.write(b"$110=5000\nG0X10\n")
    assert port.readline().strip() == b"ok"
    assert sim.now - before >= EEPROM_WRITE_S
    assert sim.log.eeprom_lost_bytes == len(b"G0X10\n")
    assert ask(port, b"?", until="<")[-1].startswith("<Idle|MPos:0.000,0.000")
    assert sim.log.lines_received == 0
    assert ask(port, "$111=5000") == ["ok"]
    assert ask(port, "G0X10") == ["ok"]
    assert sim.log.eeprom_lost_bytes == len(b"G0X10\n")
    assert sim.settings[110] == sim.settings[111] == 5000


def test_status_reports_the_receive_buffer_to_the_byte(device):
    """``Bf:<blocks free>,<rx bytes free>``: with the planner full behind a 10 s move the
    parser holds the 16th line, and the receive buffer holds exactly the lines after it
    (the report is made when the '?' arrives, behind them)."""
    sim, port = device(time_scale=1.0)
    lines = ["G1X100F600"] + [f"G1Y{k}" for k in range(1, 18)]
    port.write("".join(line + "\n" for line in lines).encode())
    for _ in range(15):  # the moving block and 14 more fill the 15 blocks
        assert ask(port, b"")[-1] == "ok"
    status = ask(port, b"?", until="<")[-1]
    held = sum(len(line) + 1 for line in lines[16:])
    assert f"|Bf:0,{128 - held}|" in status, status
