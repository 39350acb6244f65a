"""``penpost plot --simulate`` end to end: a G-code file and a job directory plot with
exit status 0; a card the controller rejects ends with exit status 3; in a terminal,
the keys pause, resume and abort."""

from __future__ import annotations

import os
import pty
import select
import sys
import time

import numpy as np
import pytest

from jobs.cli import example_jobs
from jobs.plotcli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_PLOTTED, plot_command
from jobs.render import render_job
from jobs.schema import load_job
from plotter.drawing import Drawing
from plotter.gcode import write_gcode
from plotter.profile import load_profile
from plotter.simulator import SimulatedGrbl
from plotter.stream import GrblStreamer
from plotter.transform import machine_to_card


def _card(tmp_path, name="card.gcode"):
    rng = np.random.default_rng(5)
    strokes = [rng.uniform(20, 80, 2) + np.cumsum(rng.normal(0, .5, (10, 2)), axis=0)
               for _ in range(30)]
    text = write_gcode(Drawing(tuple(strokes), 148, 105), load_profile("grbl-servo"))
    path = tmp_path / name
    path.write_text(text)
    return path


def test_plot_file_and_job_dir(tmp_path):
    path = _card(tmp_path)
    assert plot_command(path, None, "grbl-servo", True, time_scale=0, quiet=True) == EXIT_PLOTTED
    assert plot_command(tmp_path, None, "grbl-servo", True, time_scale=0,
                        quiet=True) == EXIT_PLOTTED


def test_plot_interrupted_and_bad_input(tmp_path):
    path = tmp_path / "bad.gcode"
    path.write_text("G21G90\nG0X10Y10\nG0X900\nM2\n")  # off the bed: ALARM:2
    assert plot_command(path, None, "grbl-servo", True, time_scale=0,
                        quiet=True) == EXIT_INTERRUPTED
    assert plot_command(path, None, "marlin-servo", True, quiet=True) == EXIT_BAD_INPUT
    assert plot_command(path, None, "grbl-servo", False, quiet=True) == EXIT_BAD_INPUT


@pytest.mark.slow
@pytest.mark.parametrize("profile_name", ["grbl-servo", "grbl-z", "grbl-servo-r90"])
def test_example_cards_stream_to_the_end_with_the_drawings_strokes(profile_name):
    """Every bundled example over a real pty: the paper holds the Drawing's strokes within
    0.01 mm and the receive buffer never overflowed."""
    profile = load_profile(profile_name)
    for job_file in example_jobs():
        rendered = render_job(load_job(job_file), profile=profile)
        card = rendered.drawing
        with SimulatedGrbl(profile) as sim, GrblStreamer(sim.port, profile) as streamer:
            streamer.connect()
            result = streamer.stream(rendered.files["card.gcode"].decode("ascii"))
            drawn = [machine_to_card(s[:, :2], profile, card.width_mm, card.height_mm)
                     for s in sim.strokes()]
            assert result.finished, (job_file.name, result.reason)
            assert sim.log.overflow_bytes == 0
        expected = [s for s in card.strokes]
        assert len(drawn) == len(expected), job_file.name
        worst = max(float(np.abs(a - b).max()) for a, b in zip(drawn, expected, strict=True))
        assert worst < 0.01, (job_file.name, worst)


def _read_until(fd: int, pattern: bytes, seen: bytearray, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while pattern not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {pattern!r} on the terminal; it showed:\n{seen.decode(errors='replace')}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
    assert pattern in seen, seen.decode(errors="replace")


def test_terminal_keys_pause_resume_and_abort(tmp_path):
    """``penpost plot`` in a real terminal (a pty): space pauses (the machine's hold is
    shown), space resumes, ``a`` aborts with the pen up and exit status 3."""
    path = _card(tmp_path)
    pid, fd = pty.fork()
    if pid == 0:  # the child: penpost plot with the pty as its terminal
        os.environ.update(COLUMNS="200", TERM="dumb")
        os.execv(sys.executable, [sys.executable, "-m", "jobs.cli", "plot", str(path),
                                  "--simulate", "--time-scale", "1"])
    seen = bytearray()
    try:
        _read_until(fd, b"space pauses", seen)
        os.write(fd, b" ")
        _read_until(fd, b"paused (feed hold)", seen)
        os.write(fd, b" ")
        _read_until(fd, b"resumed (cycle start)", seen)
        os.write(fd, b"a")
        _read_until(fd, b"interrupted:", seen)
        _read_until(fd, b"aborted by the operator", seen)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == EXIT_INTERRUPTED
    assert b"pen may still be down" not in seen
