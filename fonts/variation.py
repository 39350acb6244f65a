"""Per-glyph variation: what makes plotted letters read as a person's handwriting.

Readers spot robot handwriting by identical letters, identical i-dots, a dead-straight
baseline and left margin, and uniform spacing. Each is defeated here, seeded explicitly
(a ``numpy.random.Generator`` is passed in, never global state), so a job and its seed
always give the same card:

- every glyph instance gets a small affine (rotation, slant, scale, aspect, baseline
  offset) about its centre plus a smooth low-frequency warp of its strokes;
- marks (dots, umlauts, accents, crossings) get an offset of their own;
- letter and word spacing jitter; per line a tilt and a slow wave of the baseline, a
  wandering left margin and a slightly uneven line pitch;
- no two instances of one glyph on a card are alike: an instance whose shape comes too
  close to an earlier one is drawn again.

``strength`` scales every amplitude: 0 is the font exactly as drawn, 1 the default.
Amplitudes are in x-heights (so they scale with the writing), angles in degrees. The
defaults were tuned against Tesseract's reading of the example cards: a warp or slant much
larger than these costs legibility faster than it adds life.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

MAX_MARKS = 6  # marks per glyph that get their own offset; more share the last one


@dataclass(frozen=True)
class Variation:
    """How much handwriting varies; each figure is a standard deviation at strength 1."""

    strength: float = 1.0
    rotation_deg: float = 1.1  # glyph rotation about its centre, degrees
    slant_deg: float = 0.75  # extra slant (shear), degrees
    scale: float = 0.03  # relative size
    aspect: float = 0.02  # relative width against height
    baseline_xh: float = 0.02  # glyph baseline offset, x-heights
    warp_xh: float = 0.04  # amplitude of the smooth warp, x-heights
    warp_wavelength_xh: float = 1.8  # wavelength of the warp, x-heights
    mark_xh: float = 0.032  # offset of dots, accents and crossings, x-heights
    letter_spacing: float = 0.025  # relative jitter of a letter's advance
    word_spacing: float = 0.075  # relative jitter of a word gap
    line_tilt_deg: float = 0.1  # tilt of a line's baseline, degrees
    line_wave_xh: float = 0.036  # amplitude of a slow baseline wave, x-heights
    line_wave_mm: float = 90.0  # wavelength of that wave, mm
    margin_mm: float = 0.3  # wander of the left margin between lines, mm
    line_pitch: float = 0.015  # relative jitter of the distance between lines
    min_difference_mm: float = 0.065  # closest two instances of a glyph may come (RMS, mm)

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 3.0:
            raise ValueError(f"variation strength must be between 0 and 3, got {self.strength}")


@dataclass(frozen=True, eq=False)
class GlyphParams:
    """Random shape parameters of n glyph instances (arrays of length n)."""

    rotation: np.ndarray  # radians
    slant: np.ndarray  # shear factor (tan of the extra slant)
    scale: np.ndarray  # overall factor
    aspect: np.ndarray  # x factor over y factor
    baseline: np.ndarray  # offset, em (y down)
    warp_phase: np.ndarray  # (n, 2) radians
    warp_direction: np.ndarray  # (n, 2) radians: direction of the x and y waves
    marks: np.ndarray  # (n, MAX_MARKS, 2) offsets, em

    def take(self, index: np.ndarray) -> GlyphParams:
        """The parameters of the instances at ``index``."""
        return GlyphParams(*(getattr(self, f)[index] for f in _FIELDS))

    def replace(self, index: np.ndarray, other: GlyphParams) -> GlyphParams:
        """A copy with the instances at ``index`` taken from ``other`` (same length)."""
        arrays = []
        for f in _FIELDS:
            array = getattr(self, f).copy()
            array[index] = getattr(other, f)
            arrays.append(array)
        return GlyphParams(*arrays)


_FIELDS = ("rotation", "slant", "scale", "aspect", "baseline", "warp_phase", "warp_direction", "marks")


def sample_glyph_params(rng: np.random.Generator, n: int, variation: Variation,
                        x_height_em: float) -> GlyphParams:
    """Draw shape parameters for ``n`` glyph instances (em units for offsets)."""
    s = variation.strength
    xh = x_height_em

    def normal(sd: float, size: int | tuple[int, ...] = n) -> np.ndarray:
        # clipped at 2.5 sd: a hand varies, it does not jump
        return np.clip(rng.standard_normal(size), -2.5, 2.5) * sd * s

    return GlyphParams(
        rotation=np.radians(normal(variation.rotation_deg)),
        slant=np.tan(np.radians(normal(variation.slant_deg))),
        scale=1.0 + normal(variation.scale),
        aspect=1.0 + normal(variation.aspect),
        baseline=normal(variation.baseline_xh * xh),
        warp_phase=rng.uniform(0.0, 2 * np.pi, (n, 2)),
        warp_direction=rng.uniform(0.0, 2 * np.pi, (n, 2)),
        marks=normal(variation.mark_xh * xh, (n, MAX_MARKS, 2)),
    )


def deform(points: np.ndarray, instance: np.ndarray, mark_slot: np.ndarray, centre: np.ndarray,
           params: GlyphParams, variation: Variation, x_height_em: float) -> np.ndarray:
    """Apply each instance's variation to its glyph points (em units, y down).

    ``points``: (N, 2) glyph-local points; ``instance``: (N,) index into ``params``;
    ``mark_slot``: (N,) mark number of the point's stroke, -1 for the letter body;
    ``centre``: (n, 2) centre of each instance's glyph, about which it turns and scales.
    """
    if len(points) == 0:
        return points.copy()
    s = variation.strength
    local = points - centre[instance]
    rot = params.rotation[instance]
    cos, sin = np.cos(rot), np.sin(rot)
    sx = params.scale[instance] * params.aspect[instance]
    sy = params.scale[instance]
    shear = params.slant[instance]
    x = local[:, 0] * sx
    y = local[:, 1] * sy
    x = x - shear * y  # y is down: a positive shear leans the letter to the right
    out = np.empty_like(points)
    out[:, 0] = cos * x - sin * y
    out[:, 1] = sin * x + cos * y
    if s > 0:
        k = 2 * np.pi / (variation.warp_wavelength_xh * x_height_em)
        amplitude = variation.warp_xh * x_height_em * s
        direction = params.warp_direction[instance]
        phase = params.warp_phase[instance]
        along_x = local[:, 0] * np.cos(direction[:, 0]) + local[:, 1] * np.sin(direction[:, 0])
        along_y = local[:, 0] * np.cos(direction[:, 1]) + local[:, 1] * np.sin(direction[:, 1])
        out[:, 0] += amplitude * np.sin(k * along_x + phase[:, 0])
        out[:, 1] += amplitude * np.sin(k * along_y + phase[:, 1])
    out += centre[instance]
    out[:, 1] += params.baseline[instance]
    marked = mark_slot >= 0
    if marked.any():
        slots = np.minimum(mark_slot[marked], MAX_MARKS - 1)
        out[marked] += params.marks[instance[marked], slots]
    return out


def unique_instances(rng: np.random.Generator, params: GlyphParams, varied: np.ndarray,
                     groups: list[np.ndarray], starts: np.ndarray, sizes: np.ndarray,
                     redeform: Callable[[GlyphParams, np.ndarray], np.ndarray],
                     variation: Variation, x_height_em: float, em_mm: float,
                     attempts: int = 30) -> tuple[GlyphParams, np.ndarray]:
    """Redraw instances that come within ``variation.min_difference_mm`` (RMS, positions
    aligned by their centroids) of an earlier instance of the same glyph form.

    ``varied``: (N, 2) deformed points of all instances (em), instance ``i`` at rows
    ``starts[i]:starts[i] + sizes[i]``; ``groups[g]``: the instances of one glyph form;
    ``redeform(params, instances)`` gives the deformed points of ``instances`` again.
    Returns the parameters and points with every close instance redrawn.
    """
    if variation.strength <= 0:
        return params, varied
    limit_em = variation.min_difference_mm / em_mm
    varied = varied.copy()
    for group in groups:
        m = int(sizes[group[0]])
        if len(group) < 2 or m == 0:
            continue
        rows = starts[group][:, None] + np.arange(m)
        for attempt in range(attempts):
            close = _too_close(varied[rows], limit_em)
            if not close.any():
                break
            redo = group[close]
            # each round draws a little wider, so a crowded glyph always finds room
            wider = replace(variation, strength=min(3.0, variation.strength * (1 + 0.15 * attempt)))
            params = params.replace(redo, sample_glyph_params(rng, len(redo), wider, x_height_em))
            varied[rows[close].ravel()] = redeform(params, redo)
    return params, varied


def _too_close(shapes: np.ndarray, limit: float) -> np.ndarray:
    """Mask of instances whose RMS distance to an earlier one is below ``limit``;
    ``shapes`` is (k, m, 2), compared with their centroids aligned."""
    shapes = shapes - shapes.mean(axis=1, keepdims=True)
    diff = shapes[:, None, :, :] - shapes[None, :, :, :]
    rms = np.sqrt((diff**2).sum(axis=3).mean(axis=2))
    earlier = np.tril(rms < limit, k=-1)
    return earlier.any(axis=1)


@dataclass(frozen=True, eq=False)
class LineParams:
    """Random drift of each line of a card (arrays of length n_lines)."""

    tilt: np.ndarray  # slope of the baseline, dy/dx (y down)
    wave_amplitude: np.ndarray  # mm
    wave_phase: np.ndarray  # radians
    margin: np.ndarray  # left margin offset, mm
    pitch: np.ndarray  # relative change of the distance to the previous line


def sample_line_params(rng: np.random.Generator, n_lines: int, variation: Variation,
                       x_height_mm: float) -> LineParams:
    """Draw per-line drift; the left margin wanders as a smooth random walk."""
    s = variation.strength
    walk = np.zeros(n_lines)
    steps = rng.standard_normal(n_lines)
    for i in range(n_lines):
        # an AR(1) walk: neighbouring lines start at nearly the same x, the margin drifts
        walk[i] = (0.7 * walk[i - 1] if i else 0.0) + 0.71 * steps[i]
    return LineParams(
        tilt=np.tan(np.radians(np.clip(rng.standard_normal(n_lines), -2.5, 2.5)
                               * variation.line_tilt_deg * s)),
        wave_amplitude=np.abs(rng.standard_normal(n_lines)) * variation.line_wave_xh * x_height_mm * s,
        wave_phase=rng.uniform(0.0, 2 * np.pi, n_lines),
        margin=np.clip(walk, -2.5, 2.5) * variation.margin_mm * s,
        pitch=np.clip(rng.standard_normal(n_lines), -2.5, 2.5) * variation.line_pitch * s,
    )


def spacing_factors(rng: np.random.Generator, n: int, sd: float, strength: float) -> np.ndarray:
    """``n`` factors around 1 for advances or word gaps (never below 0.6)."""
    return np.maximum(0.6, 1.0 + np.clip(rng.standard_normal(n), -2.5, 2.5) * sd * strength)
