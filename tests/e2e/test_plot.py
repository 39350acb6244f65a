"""``penpost plot --simulate`` end to end: a G-code file and a job directory plot with
exit status 0; a card the controller rejects ends with exit status 3."""

from __future__ import annotations

import numpy as np

from jobs.plotcli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_PLOTTED, plot_command
from plotter.drawing import Drawing
from plotter.gcode import write_gcode
from plotter.profile import load_profile


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
