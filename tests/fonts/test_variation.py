"""Per-glyph variation: the shape model is exact, twins are kept apart, strength 0 is the
font as drawn, letter gaps follow their rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fonts.catalog import load_font
from fonts.table import glyph_table, ranges
from fonts.variation import (
    GlyphParams,
    Variation,
    deform,
    embed,
    letter_gaps,
    sample_glyph_params,
    shape_features,
    shape_metric,
    unique_instances,
)


def _model(name: str, char: str, wavelength_xh: float = 1.8):
    """Points, features and metric of the first form of ``char`` in font ``name``."""
    font = load_font(name)
    table = glyph_table(font)
    f = table.index[char][0]
    rows = np.arange(table.start[f], table.start[f] + table.size[f])
    local = table.points[rows] - table.centre[f]
    features = shape_features(local, table.slot[rows], wavelength_xh * font.metrics.x_height)
    metric = shape_metric(features, np.array([0]), np.array([len(rows)]))[0]
    return table.points[rows], features, metric, font.metrics.x_height


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    return float(np.sqrt(((a - b) ** 2).sum(axis=1).mean()))


@pytest.mark.parametrize(("name", "char"), [("tech", "e"), ("tech", "ä"), ("allure", "k"),
                                            ("hershey-script", "i")])
def test_embedding_distance_is_the_rms_distance_of_the_drawn_shapes(name: str, char: str) -> None:
    points, features, metric, xh = _model(name, char)
    params = sample_glyph_params(np.random.default_rng(3), 6, Variation(strength=2.0), xh)
    shapes = [deform(points, features, np.full(len(points), i), params) for i in range(6)]
    where = embed(params, np.repeat(metric[None], 6, axis=0))
    for i in range(6):
        for j in range(i):
            assert np.linalg.norm(where[i] - where[j]) == pytest.approx(
                _rms(shapes[i], shapes[j]), rel=1e-9, abs=1e-12)


def test_strength_zero_moves_nothing() -> None:
    points, features, _, xh = _model("tech", "g")
    params = sample_glyph_params(np.random.default_rng(1), 1, Variation(strength=0.0), xh)
    assert np.array_equal(deform(points, features, np.zeros(len(points), dtype=int), params),
                          points)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(2, 60),
       strength=st.sampled_from([0.3, 1.0, 2.0]))
def test_no_two_twins_stay_closer_than_the_limit(seed: int, count: int, strength: float) -> None:
    """Many instances of one small letter: after :func:`unique_instances` every pair is
    at least ``min_difference_mm`` apart (RMS, centroids aligned)."""
    points, features, metric, xh = _model("hershey-script", "e")
    variation = Variation(strength=strength)
    em_mm = 1.8 / xh  # a 1.8 mm x-height: crowded
    rng = np.random.default_rng(seed)
    params = sample_glyph_params(rng, count, variation, xh)
    form = np.zeros(count, dtype=np.int64)
    params = unique_instances(rng, params, form, np.ones(count, dtype=bool), metric[None],
                              variation, xh, em_mm)
    shapes = [deform(points, features, np.full(len(points), i), params) * em_mm
              for i in range(count)]
    closest = min(_rms(shapes[i], shapes[j]) for i in range(count) for j in range(i))
    assert closest >= variation.min_difference_mm * (1 - 1e-9)


def test_unique_instances_leaves_other_forms_and_ineligible_ones_alone() -> None:
    _, _, metric, xh = _model("tech", "o")
    variation = Variation()
    rng = np.random.default_rng(0)
    params = sample_glyph_params(rng, 4, variation, xh)
    twins = GlyphParams(np.repeat(params.zx[:1], 4, axis=0), np.repeat(params.zy[:1], 4, axis=0),
                        params.baseline)  # four identical instances
    form = np.array([0, 1, 0, 0])
    eligible = np.array([True, True, True, False])
    out = unique_instances(rng, twins, form, eligible, np.repeat(metric[None], 2, axis=0),
                           variation, xh, 1.0)
    assert np.array_equal(out.zx[[0, 1, 3]], twins.zx[[0, 1, 3]])  # the first, another form, ineligible
    assert not np.array_equal(out.zx[2], twins.zx[2])  # the twin of the first is redrawn


def test_same_seed_same_draws() -> None:
    a = sample_glyph_params(np.random.default_rng(7), 5, Variation(), 0.5)
    b = sample_glyph_params(np.random.default_rng(7), 5, Variation(), 0.5)
    assert np.array_equal(a.zx, b.zx) and np.array_equal(a.zy, b.zy)


def test_letter_gaps_scale_with_strength() -> None:
    assert not letter_gaps(np.random.default_rng(1), 10, Variation(strength=0.0)).any()
    wide = letter_gaps(np.random.default_rng(1), 10, Variation(strength=2.0))
    usual = letter_gaps(np.random.default_rng(1), 10, Variation(strength=1.0))
    np.testing.assert_allclose(wide, 2 * usual)


def test_ranges() -> None:
    assert ranges(np.array([3, 10, 0]), np.array([2, 0, 1])).tolist() == [3, 4, 0]
    assert ranges(np.zeros(0, dtype=int), np.zeros(0, dtype=int)).tolist() == []
