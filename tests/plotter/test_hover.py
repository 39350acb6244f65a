"""Hovering: a short pen-up hop raises the pen only clear of the card and waits less; the
G-code still draws exactly the drawing, on every pen kind, and the simulated GRBL lays no
ink while the pen hovers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import serial

from plotter.drawing import Drawing
from plotter.gcode import read_program, read_strokes, write_gcode
from plotter.planner import plan
from plotter.profile import PenSettings, load_profile
from plotter.program import Dwell, Move, Pen
from plotter.simulator import SimulatedGrbl

CARD = (148.0, 105.0)
# a hop of 1.5 mm, then one of 57 mm: the first hovers, the second lifts fully
DRAWING = Drawing(([(1.0, 2.0), (1.5, 2.0)], [(3.0, 2.0), (4.0, 3.0)],
                   [(60.0, 50.0), (61.0, 50.0)]), *CARD)


def pen_sequence(text: str, profile) -> list[tuple[bool, float]]:
    """Each pen command (down or not) with the dwell that follows it, s."""
    program = read_program(text, profile)
    out = []
    for command, after in zip(program, [*program[1:], None], strict=True):
        if isinstance(command, Pen):
            out.append((command.down, after.seconds if isinstance(after, Dwell) else 0.0))
    return out


def test_a_short_hop_hovers_and_a_long_one_lifts_fully():
    profile = load_profile("grbl-servo")
    pen = profile.pen
    text = write_gcode(DRAWING, profile)
    lines = text.splitlines()
    # hover: M3 at the hover value; the lower after it goes back to the down value
    hover_at = lines.index(f"M3S{pen.hover_value:g}")
    assert lines[hover_at + 1] == "G4P.05"
    assert lines[hover_at + 3:hover_at + 5] == [f"M3S{pen.down_value:g}", "G4P.05"]
    assert lines.count("M5") == 3  # the first lift, before the long hop, before parking
    assert pen_sequence(text, profile) == [
        (False, pen.lift_dwell_s),
        (True, pen.lower_dwell_s), (False, pen.hover_dwell_s),  # first stroke, hover
        (True, pen.hover_dwell_s), (False, pen.lift_dwell_s),  # second stroke, long hop
        (True, pen.lower_dwell_s), (False, pen.lift_dwell_s),  # last stroke, park
    ]
    timed = plan(read_program(text, profile), profile)
    full = plan(read_program(write_gcode(DRAWING, dataclasses.replace(
        profile, pen=dataclasses.replace(pen, hover_max_leg_mm=0.0))), profile), profile)
    assert timed.pen_lifts == full.pen_lifts == 3
    saved = 2 * (pen.lift_dwell_s - pen.hover_dwell_s)
    assert timed.dwell_s == pytest.approx(full.dwell_s - saved)


@pytest.mark.parametrize("name", ["grbl-servo", "grbl-servo-r90", "grbl-z", "marlin-servo"])
def test_hovering_g_code_draws_exactly_the_drawing(name):
    profile = load_profile(name)
    assert profile.pen.hovers
    text = write_gcode(DRAWING, profile)
    back = read_strokes(text, profile, *CARD)
    assert len(back.strokes) == 3
    for drawn, wanted in zip(back.strokes, DRAWING.strokes, strict=True):
        np.testing.assert_allclose(drawn, wanted, atol=0.01)


def test_a_z_pen_hovers_at_its_hover_height():
    profile = load_profile("grbl-z")
    heights = [c.z for c in read_program(write_gcode(DRAWING, profile), profile)
               if isinstance(c, Move)]
    assert profile.pen.hover_z_mm in heights
    assert heights.count(profile.pen.up_z_mm) >= 2  # the long hop and the park


def test_hover_position_must_lie_between_down_and_up():
    with pytest.raises(ValueError, match="hover_value strictly between"):
        PenSettings(kind="servo", up_value=0, down_value=1000, hover_max_leg_mm=5,
                    hover_value=1200)
    with pytest.raises(ValueError, match="hover_z_mm strictly between"):
        PenSettings(kind="z", up_z_mm=2, down_z_mm=0, hover_max_leg_mm=5)
    with pytest.raises(ValueError, match=">= 0"):
        PenSettings(kind="servo", hover_max_leg_mm=-1)
    # hovering off: no hover position needed
    assert not PenSettings(kind="servo", up_value=0, down_value=1000).hovers


def test_pen_state_by_value_with_and_without_hover():
    servo = load_profile("grbl-servo").pen
    assert servo.servo_down(1000) and not servo.servo_down(servo.hover_value)
    assert not servo.servo_down(0)
    plain = dataclasses.replace(servo, hover_max_leg_mm=0.0)
    assert plain.servo_down(servo.hover_value)  # without hover any S above up is down
    z = load_profile("grbl-z").pen
    assert z.z_down(0.0) and not z.z_down(z.hover_z_mm) and not z.z_down(z.up_z_mm)
    marlin = load_profile("marlin-servo").pen
    assert marlin.servo_down(marlin.down_value)
    assert not marlin.servo_down(marlin.hover_value)


def test_the_simulated_grbl_lays_no_ink_while_hovering():
    profile = load_profile("grbl-servo")
    sim = SimulatedGrbl(profile).start()
    port = serial.serial_for_url(sim.port, timeout=5)
    try:
        for line in write_gcode(DRAWING, profile).splitlines():
            if line.startswith(";"):
                continue
            port.write(line.encode() + b"\n")
            reply = b""
            while not reply.strip():
                reply = port.readline()
            assert reply.strip() == b"ok", (line, reply)
        strokes = sim.strokes()
    finally:
        port.close()
        sim.stop()
    # the hovering hop (1.5 mm) is not ink: the first two strokes stay apart
    assert len(strokes) == 3
    assert np.hypot(*(strokes[1][0] - strokes[0][-1])) == pytest.approx(1.5, abs=0.01)
