"""G-code writer and reader: round trips for every profile and rotation, the bed check,
GRBL-safe output, and contract tests over empty, dot, degenerate and random drawings."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plotter.drawing import Drawing
from plotter.gcode import BedLimitError, GcodeError, read_program, read_strokes, write_gcode
from plotter.profile import load_profile, profile_names
from plotter.program import Dwell, Move, Pen
from plotter.transform import card_to_machine

CARD_W, CARD_H = 148.0, 105.0
PROFILES = profile_names()
ROTATIONS = [0, 90, 180, 270]


@pytest.fixture
def make_profile():
    """A shipped profile, turned to ``rotation`` on a bed big enough for any turn."""

    def make(name: str, rotation: int | None = None, **changes):
        profile = load_profile(name)
        if rotation is not None:
            changes.setdefault("card_rotation_deg", rotation)
            changes.setdefault("bed_width_mm", 400.0)
            changes.setdefault("bed_height_mm", 400.0)
        return dataclasses.replace(profile, **changes)

    return make


@pytest.fixture
def make_drawing():
    def make(*strokes, width=CARD_W, height=CARD_H):
        return Drawing(tuple(strokes), width, height)

    return make


def expected_strokes(drawing: Drawing, profile) -> list[np.ndarray]:
    """What G-code can show of a drawing: points on the µm grid of the machine, a point
    that rounds onto the one before it dropped (a stroke of one place is a dot)."""
    out = []
    for stroke in drawing.strokes:
        grid = np.round(card_to_machine(stroke, profile, drawing.width_mm,
                                        drawing.height_mm) * 1000)
        keep = np.ones(len(stroke), dtype=bool)
        keep[1:] = np.any(grid[1:] != grid[:-1], axis=1)
        out.append(stroke[keep])
    return out


def assert_round_trip(drawing: Drawing, profile) -> str:
    text = write_gcode(drawing, profile)
    back = read_strokes(text, profile, drawing.width_mm, drawing.height_mm)
    expected = expected_strokes(drawing, profile)
    assert len(back.strokes) == len(expected)
    for got, want in zip(back.strokes, expected, strict=True):
        assert got.shape == want.shape
        # µm rounding: at most 0.5 µm per axis; the brief allows 0.01 mm
        assert np.abs(got - want).max() <= 0.0006
    return text


WORD = re.compile(r"([A-Z])(-?(?:\d+(?:\.\d*[1-9])?|\.\d*[1-9]))")


def grbl_check(text: str) -> None:
    """Fail on anything GRBL 1.1 would answer with an error, or that breaks our format:
    lines >= 80 chars, unknown words, more than 3 decimals, trailing zeros, axis words
    without a motion mode, G1 without a feed, G4 without P."""
    lines = text.split("\n")
    assert lines[-1] == "", "the text ends with a newline"
    motion = None
    feed = False
    for number, line in enumerate(lines[:-1], start=1):
        assert 0 < len(line) < 80, f"line {number} length {len(line)}"
        assert len(line) <= 40 or line.startswith(";"), f"line {number} is long: {line}"
        code = re.sub(r"\([^)]*\)|;.*$", "", line)
        if not code:
            continue
        words = WORD.findall(code)
        assert "".join(a + b for a, b in words) == code, f"line {number}: odd words {line!r}"
        letters = [a for a, _ in words]
        assert set(letters) <= set("GMXYZFSP"), line
        for letter in "MXYZFSP":
            assert letters.count(letter) <= 1, line
        for _, value in words:
            assert len(value.partition(".")[2]) <= 3, line
        gs = [float(v) for a, v in words if a == "G"]
        ms = [float(v) for a, v in words if a == "M"]
        assert set(gs) <= {0, 1, 4, 21, 90, 91}, line
        assert set(ms) <= {2, 3, 5}, line
        assert not ({0, 1} <= set(gs) or {90, 91} <= set(gs)), line
        if "F" in letters:
            feed = True
        for g in gs:
            if g in (0, 1):
                motion = g
        if 4 in gs:
            assert "P" in letters and not set(letters) & set("XYZ"), line
        if set(letters) & set("XYZ"):
            assert motion is not None, f"line {number}: axis words without G0/G1"
            assert motion == 0 or feed, f"line {number}: G1 before any F"
    assert lines[-2] == "M2"


def pen_states(text: str, profile) -> list[tuple[Move, bool]]:
    """Every move with the pen state while it runs."""
    pen = profile.pen
    down = False
    out = []
    for command in read_program(text, profile):
        if isinstance(command, Pen):
            down = command.down
        elif isinstance(command, Move):
            if pen.kind == "z":
                out.append((command, pen.z_down(command.z)))  # hover height is up
            else:
                out.append((command, down))
    return out


def assert_pen_up_for_travel(text: str, profile) -> None:
    xy = None
    states = pen_states(text, profile)
    for move, down in states:
        if move.rapid and (move.x, move.y) != xy:
            assert not down, f"travel with the pen down at line {move.line}"
        xy = (move.x, move.y)
    assert states and not states[-1][1], "the pen ends up"


# --- contract table: empty, single, degenerate, random -------------------------------

CASES = {
    "empty": [],
    "dot": [[(20.0, 30.0)]],
    "line": [[(1.0, 1.0), (100.0, 1.0)]],
    "zero-length": [[(5.0, 5.0), (5.0, 5.0), (5.0, 5.0)]],
    "sub-micrometre steps": [[(5.0, 5.0), (5.0002, 5.0001), (6.0, 5.0)]],
    "corners": [[(0.0, 0.0)], [(CARD_W, CARD_H)], [(0.0, CARD_H), (CARD_W, 0.0)]],
    "touching strokes": [[(10.0, 10.0), (20.0, 10.0)], [(20.0, 10.0), (20.0, 20.0)],
                         [(20.0, 20.0)], [(20.0, 20.0)]],
    "vertical and horizontal": [[(10.0, 10.0), (10.0, 50.0), (60.0, 50.0), (60.0, 10.0)]],
    "closed": [[(30.0, 30.0), (40.0, 30.0), (40.0, 40.0), (30.0, 30.0)]],
    "negative zero": [[(-0.0, -0.0), (1e-9, 1.0)]],
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", PROFILES)
@pytest.mark.parametrize("rotation", ROTATIONS)
def test_round_trip_every_profile_and_rotation(make_profile, make_drawing, case, name,
                                               rotation):
    profile = make_profile(name, rotation)
    drawing = make_drawing(*CASES[case])
    text = assert_round_trip(drawing, profile)
    assert_pen_up_for_travel(text, profile)
    if profile.firmware == "grbl":
        grbl_check(text)
    else:
        marlin_check(text)


@pytest.mark.parametrize("name", PROFILES)
@pytest.mark.parametrize("y_up", [True, False])
def test_round_trip_both_y_directions(make_profile, make_drawing, name, y_up):
    drawing = make_drawing([(1.0, 2.0), (50.5, 60.25), (147.0, 104.0)], [(3.0, 4.0)])
    assert_round_trip(drawing, make_profile(name, 90, y_up=y_up))
    assert_round_trip(drawing, make_profile(name, 0, y_up=y_up))


stroke_points = st.lists(
    st.tuples(st.floats(0, CARD_W, allow_subnormal=False),
              st.floats(0, CARD_H, allow_subnormal=False)),
    min_size=1, max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(stroke_points, max_size=6), st.sampled_from(PROFILES),
       st.sampled_from(ROTATIONS))
def test_random_drawings_round_trip(strokes, name, rotation):
    profile = dataclasses.replace(load_profile(name), card_rotation_deg=rotation,
                                  bed_width_mm=400.0, bed_height_mm=400.0)
    drawing = Drawing(tuple(strokes), CARD_W, CARD_H)
    text = assert_round_trip(drawing, profile)
    assert_pen_up_for_travel(text, profile)
    if profile.firmware == "grbl":
        grbl_check(text)
    assert write_gcode(drawing, profile) == text  # deterministic


def marlin_check(text: str) -> None:
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        assert len(line) < 80
        if line.startswith(";"):
            continue
        command = line.split()[0]
        assert re.fullmatch(r"[GM]\d+", command), f"line {number}: {line!r}"
        assert not re.search(r" [GM]\d", line), f"line {number}: two commands: {line!r}"
        if command == "M280":
            assert lines[number - 2] == "M400", f"line {number}: M280 without M400"
        if command == "G4":
            assert re.fullmatch(r"G4 P\d+", line), "Marlin's G4 P is whole milliseconds"
        if line[0] not in "GM":
            raise AssertionError(f"line {number}: no command")


# --- the dot, the header, the end --------------------------------------------------------


def test_dot_is_pen_down_and_up_in_one_place(make_profile, make_drawing):
    profile = make_profile("grbl-servo")
    text = write_gcode(make_drawing([(20.0, 30.0)]), profile)
    lines = text.splitlines()
    travel = lines.index("G0X30Y85")
    assert lines[travel + 1:travel + 5] == ["M3S1000", "G4P.15", "M5", "G4P.15"]
    back = read_strokes(text, profile, CARD_W, CARD_H)
    assert [s.tolist() for s in back.strokes] == [[[20.0, 30.0]]]


@pytest.mark.parametrize("name", PROFILES)
def test_empty_drawing_is_header_pen_up_park_end(make_profile, make_drawing, name):
    profile = make_profile(name)
    text = write_gcode(make_drawing(), profile)
    commands = read_program(text, profile)
    assert "G21" in text and "G90" in text
    assert read_strokes(text, profile, CARD_W, CARD_H).strokes == ()
    moves = [c for c in commands if isinstance(c, Move)]
    assert (moves[-1].x, moves[-1].y) == (profile.park_x_mm, profile.park_y_mm)
    if profile.pen.kind != "z":
        assert [c.down for c in commands if isinstance(c, Pen)] == [False]


GOLDEN = {
    "grbl-servo": """\
; penpost grbl-servo 148x105mm
G21G90F3000
M5
G4P.15
G0X11Y113
M3S1000
G4P.15
G91G1X1Y-.5
Y-.25
M5
G4P.15
G90G0X30Y85
M3
G4P.15
M5
G4P.15
X0Y0
M2
""",
    "grbl-z": """\
; penpost grbl-z 148x105mm
G21G90F2400
G0Z2
X6Y7
G1Z0F1000
G91X1Y.5F2400
Y.25
G90G0Z2
X25Y35
G1Z0F1000
G0Z2
X0Y0
M2
""",
    "marlin-servo": """\
; penpost marlin-servo 148x105mm
G21
G90
M400
M280 P0 S90
G4 P200
G0 X21 Y123 F6000
M400
M280 P0 S40
G4 P200
G1 X22 Y122.5 F2400
G1 Y122.25
M400
M280 P0 S90
G4 P200
G0 X40 Y95 F6000
M400
M280 P0 S40
G4 P200
M400
M280 P0 S90
G4 P200
G0 X0 Y200
M400
""",
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_output(make_profile, make_drawing, name):
    drawing = make_drawing([(1.0, 2.0), (2.0, 2.5), (2.0, 2.75)], [(20.0, 30.0)])
    assert write_gcode(drawing, make_profile(name)) == GOLDEN[name]


def test_feed_is_written_once_and_again_after_a_z_plunge(make_profile, make_drawing):
    drawing = make_drawing([(1.0, 1.0), (2.0, 1.0), (3.0, 1.0)], [(5.0, 5.0), (6.0, 5.0)])
    servo = write_gcode(drawing, make_profile("grbl-servo"))
    assert servo.count("F3000") == 1
    z = write_gcode(drawing, make_profile("grbl-z"))
    # each plunge sets F1000, so each stroke's first XY G1 sets F2400 again
    assert z.count("F1000") == 2 and z.count("F2400") == 3  # header + two strokes


def test_unchanged_words_are_left_out(make_profile, make_drawing):
    text = write_gcode(make_drawing([(10.0, 10.0), (10.0, 20.0), (15.0, 20.0)]),
                       make_profile("grbl-servo"))
    assert "G91G1Y-10\nX5\n" in text


# --- the bed check -----------------------------------------------------------------------


def test_a_point_off_the_bed_is_an_error_naming_stroke_and_limit(make_profile, make_drawing):
    profile = make_profile("grbl-servo")  # bed 300 x 220, card at (10, 10)
    drawing = make_drawing([(1.0, 1.0)], [(5.0, 5.0), (295.0, 5.0)], [(1.0, 1.0)])
    with pytest.raises(BedLimitError) as error:
        write_gcode(drawing, profile)
    message = str(error.value)
    assert "stroke 1 point 1" in message
    assert "X=305" in message and "limit 300" in message
    assert isinstance(error.value, ValueError)


def test_below_zero_is_an_error(make_profile, make_drawing):
    profile = make_profile("grbl-servo")
    with pytest.raises(BedLimitError, match=r"stroke 0 point 0 .*Y=-2 mm, below the bed's Y limit 0"):
        write_gcode(make_drawing([(0.0, 117.0)]), profile)


def test_rotation_that_no_longer_fits_is_an_error(make_profile, make_drawing):
    # a 148 mm card turned 90 degrees is 148 mm deep: more than a 150 mm bed from y=10
    profile = make_profile("grbl-servo", card_rotation_deg=90, bed_height_mm=150.0)
    drawing = make_drawing([(0.0, 0.0)], [(148.0, 0.0)])
    with pytest.raises(BedLimitError, match=r"stroke 1 .*Y=158 mm, beyond the bed's Y limit 150"):
        write_gcode(drawing, profile)


def test_park_off_the_bed_is_an_error(make_profile, make_drawing):
    with pytest.raises(BedLimitError, match="park"):
        write_gcode(make_drawing(), make_profile("grbl-servo", park_x_mm=500.0))


def test_on_the_edge_is_fine(make_profile, make_drawing):
    profile = make_profile("grbl-servo", card_offset_x_mm=0.0, card_offset_y_mm=0.0,
                           bed_width_mm=CARD_W, bed_height_mm=CARD_H)
    write_gcode(make_drawing([(0.0, 0.0), (CARD_W, CARD_H)]), profile)


# --- compactness ---------------------------------------------------------------------------


def vpype_gwrite(drawing: Drawing) -> str:
    """What vpype-gcode's GRBL servo profile (GRBL.md) writes for a drawing."""
    h = drawing.height_mm
    out = ["G21", "G90", "G17", "M5", "G4 P0.15", "F3000"]
    for stroke in drawing.strokes:
        x, y = stroke[0]
        out += [f"G0 X{x:.3f} Y{h - y:.3f}", "M3 S1000", "G4 P0.15"]
        out += [f"G1 X{x:.3f} Y{h - y:.3f}" for x, y in stroke[1:]]
        out += ["M5", "G4 P0.15"]
    out += ["G0 X0 Y0", "M2"]
    return "\n".join(out) + "\n"


def handwriting_like(seed: int = 1, strokes: int = 200) -> Drawing:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(strokes):
        start = rng.uniform([5, 5], [140, 100])
        angle = np.cumsum(rng.normal(0, 0.4, rng.integers(3, 40)))
        steps = 0.35 * np.c_[np.cos(angle), np.sin(angle)]  # vpype's ~0.35 mm segments
        out.append(np.clip(start + np.cumsum(steps, axis=0), 0, [CARD_W, CARD_H]))
    return Drawing(tuple(out), CARD_W, CARD_H)


def test_at_most_seven_tenths_of_vpype(make_profile):
    drawing = handwriting_like()
    ours = write_gcode(drawing, make_profile("grbl-servo"))
    theirs = vpype_gwrite(drawing)
    assert len(ours) <= 0.7 * len(theirs)


def test_vpype_gwrite_output_reads_back(make_profile):
    drawing = handwriting_like(seed=2, strokes=20)
    profile = make_profile("grbl-servo", card_offset_x_mm=0.0, card_offset_y_mm=0.0)
    back = read_strokes(vpype_gwrite(drawing), profile, CARD_W, CARD_H)
    assert len(back) == len(drawing)
    for got, want in zip(back.strokes, drawing.strokes, strict=True):
        assert np.abs(got - want).max() <= 0.001


# --- the reader ---------------------------------------------------------------------------


def test_read_program_commands_and_line_numbers():
    text = "; a comment\nG21 G90 (mm, absolute)\nF1200\nG0 X1 Y2\nM3 S1000\nG4 P0.15\n" \
           "X3\nG1 X4 Y5 Z-1\nM5\nM2\n"
    assert read_program(text) == [
        Move(1.0, 2.0, 0.0, 1200.0, True, line=4),
        Pen(down=True, sync=True, line=5),
        Dwell(0.15, line=6),
        Move(3.0, 2.0, 0.0, 1200.0, True, line=7),
        Move(4.0, 5.0, -1.0, 1200.0, False, line=8),
        Pen(down=False, sync=True, line=9),
    ]


def test_read_program_relative_inches_and_compact_words():
    commands = read_program("G20G91G1X1Y.5F10\nX-.5\n")
    assert commands == [Move(25.4, 12.7, 0.0, 254.0, False, line=1),
                        Move(12.7, 12.7, 0.0, 254.0, False, line=2)]


def test_servo_pen_state_and_spindle_sync(make_profile):
    # GRBL (gcode.c): M3/M5 changes always sync; a new S syncs too, except on a motion
    # line in laser mode; a repeated M5 changes nothing
    text = "M3 S0\nS1000\nG1 X1 S0 F100\nM5\nM5\n"
    expected = {False: [(False, True), (True, True), (False, True), (False, True),
                        (False, False)],
                True: [(False, True), (True, True), (False, False), (False, True),
                       (False, False)]}
    for laser, want in expected.items():
        profile = make_profile("grbl-servo", laser_mode=laser)
        pens = [c for c in read_program(text, profile) if isinstance(c, Pen)]
        assert [(c.down, c.sync) for c in pens] == want
        assert [c.line for c in pens] == [1, 2, 3, 4, 5]


def test_marlin_dwell_is_milliseconds_and_m400_syncs(make_profile):
    profile = make_profile("marlin-servo")
    commands = read_program("G4 P200\nM280 P0 S40\nM400\nM280 P0 S90\nG4 S1\n", profile)
    assert commands == [Dwell(0.2, line=1), Pen(down=True, sync=False, line=2),
                        Pen(down=False, sync=True, line=4), Dwell(1.0, line=5)]


@pytest.mark.parametrize(("text", "line", "what"), [
    ("G21\nG90\nG18 X1 Y1\n", 3, "G18"),
    ("G21\nG1 F100\nG2 X1 Y1\n", 3, "I/J or R"),
    ("G21\nG1 F100\nG3 X4 Y0 R1\n", 3, "shorter than half the chord"),
    ("G21\nG1 F100\nG2 X4 Y0 I1 J0\n", 3, "off its circle"),
    ("G21\nG1 F100\nG2 X4 Y0 I2 R2\n", 3, "R or I/J"),
    ("G21\nhello\n", 2, "HELLO"),
    ("G21\nX1 Y1\n", 2, "G0/G1"),
    ("M3 S1\nM7\n", 2, "M7"),
    ("G0 X1 X2\n", 1, "two X"),
])
def test_errors_name_the_line(text, line, what):
    with pytest.raises(GcodeError, match=rf"^line {line}: .*{what}"):
        read_program(text)


def test_m280_needs_a_profile():
    with pytest.raises(GcodeError, match="line 1: M280 needs a profile"):
        read_program("M280 P0 S40\n")


def test_z_pen_without_profile_is_just_an_axis():
    commands = read_program("G0 Z2\nG1 Z0 F500\n")
    assert all(isinstance(c, Move) for c in commands)
