"""Streaming benchmark: a card through the simulated GRBL at 115200 baud, in simulated
time, against the planner's estimate (target: within 2 %), planner starvation events
(target: 0), and the same card sent with send-and-wait for comparison.

Run: ``.venv/bin/python -m tests.bench.stream``.
"""

from __future__ import annotations

import time

import numpy as np
import serial

from plotter.drawing import Drawing
from plotter.gcode import read_program, write_gcode
from plotter.planner import plan
from plotter.profile import load_profile
from plotter.simulator import SimulatedGrbl
from plotter.stream import GrblStreamer, program_lines


def _text_drawing(seed: int = 7) -> Drawing:
    """Six lines of fake writing on A6: letters of 12 points each (mm)."""
    rng = np.random.default_rng(seed)
    strokes = []
    for line in range(6):
        x, baseline = 10.0, 15.0 + 12.0 * line
        while x < 135:
            width = rng.uniform(1.5, 3.0)
            t = np.linspace(0, 1, 12)
            strokes.append(np.column_stack([x + width * t,
                                            baseline - 4 * np.sin(np.pi * t) ** 2]))
            x += width + rng.uniform(0.3, 2.5)
    return Drawing(tuple(strokes), 148.0, 105.0)


def _send_and_wait(port: str, text: str) -> None:
    with serial.serial_for_url(port, timeout=10) as s:
        for _, line in program_lines(text):
            s.write(line.encode() + b"\n")
            while s.readline().strip() not in (b"ok",):
                pass


def bench_streaming(profile_name: str = "grbl-servo") -> dict[str, float]:
    """Simulated plot times (s) and starvation counts for character counting and
    send-and-wait, and the planner's estimate."""
    profile = load_profile(profile_name)
    text = write_gcode(_text_drawing(), profile)
    estimate = plan(read_program(text, profile), profile).total_s
    with SimulatedGrbl(profile) as sim, GrblStreamer(sim.port, profile) as streamer:
        streamer.connect()
        assert streamer.stream(text).finished
        counted, starved = sim.log.plot_s, len(sim.log.starvations)
    with SimulatedGrbl(profile, host_budget_bytes=0) as sim:
        _send_and_wait(sim.port, text)
        while sim.state != "Idle":  # the tail still runs after the last ok
            time.sleep(0.05)
        waited, starved_wait = sim.log.plot_s, len(sim.log.starvations)
    return {"lines": len(program_lines(text)), "estimate_s": estimate,
            "counting_s": counted, "counting_starvations": starved,
            "send_and_wait_s": waited, "send_and_wait_starvations": starved_wait}


def main() -> None:
    for name in ("grbl-servo", "grbl-z"):
        r = bench_streaming(name)
        error = (r["counting_s"] / r["estimate_s"] - 1) * 100
        print(f"{name}: {r['lines']:.0f} lines; estimate {r['estimate_s']:.2f} s; "
              f"character counting {r['counting_s']:.2f} s ({error:+.2f} %), "
              f"{r['counting_starvations']:.0f} starvations; send-and-wait "
              f"{r['send_and_wait_s']:.2f} s, {r['send_and_wait_starvations']:.0f} "
              f"starvations; ratio {r['send_and_wait_s'] / r['counting_s']:.2f}")


if __name__ == "__main__":
    main()
