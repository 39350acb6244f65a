"""Factory fixtures for the plotter tests. Path optimisation's are prefixed ``opt_``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from plotter.drawing import Drawing

CARD_MM = (148.0, 105.0)  # A6 landscape, width x height


def _opt_random_drawing(seed: int, n: int = 600, *, max_points: int = 20,
                        step_mm: float = 0.5) -> Drawing:
    """``n`` random-walk strokes of 1..``max_points`` points on an A6 card (mm)."""
    rng = np.random.default_rng(seed)
    strokes = []
    for _ in range(n):
        k = int(rng.integers(1, max_points))
        p0 = rng.uniform([5, 5], [CARD_MM[0] - 5, CARD_MM[1] - 5])
        strokes.append(p0 + np.cumsum(rng.normal(0, step_mm, (k, 2)), axis=0))
    return Drawing(tuple(strokes), *CARD_MM)


def _opt_text_drawing(seed: int, lines: int = 6, words: int = 10) -> Drawing:
    """Something like a written card: per line, words of letter-sized strokes (mm),
    letters of a word touching end to start, i-dots above, baselines 8 mm apart."""
    rng = np.random.default_rng(seed)
    strokes = []
    for line in range(lines):
        baseline = 15.0 + 8.0 * line
        x = 10.0
        for _ in range(words):
            for _ in range(int(rng.integers(2, 7))):
                width = rng.uniform(1.5, 3.0)
                height = rng.choice([2.0, 4.0])
                t = np.linspace(0, 1, 12)
                letter = np.column_stack([x + width * t,
                                          baseline - height * np.sin(np.pi * t) ** 2])
                strokes.append(letter)
                if rng.random() < 0.2:
                    strokes.append(np.array([[x + width / 2, baseline - 3.2]]))
                x += width
            x += rng.uniform(2.0, 3.5)
    order = rng.permutation(len(strokes))  # the layout's order is not the best one
    return Drawing(tuple(strokes[i] for i in order), *CARD_MM)


@pytest.fixture
def opt_card() -> Callable[..., Drawing]:
    """Factory: a drawing on an A6 card from point lists (mm, y down)."""

    def make(*strokes: Sequence[Sequence[float]]) -> Drawing:
        return Drawing(tuple(np.array(s, dtype=np.float64) for s in strokes), *CARD_MM)

    return make


@pytest.fixture
def opt_random_drawing() -> Callable[..., Drawing]:
    """Factory: ``opt_random_drawing(seed, n=600)``, random-walk strokes on A6."""
    return _opt_random_drawing


@pytest.fixture
def opt_text_drawing() -> Callable[..., Drawing]:
    """Factory: ``opt_text_drawing(seed, lines=6, words=10)``, lines of fake writing."""
    return _opt_text_drawing
