"""Per-glyph variation: what makes plotted letters read as a person's handwriting.

Readers spot robot handwriting by identical letters, identical i-dots, a dead-straight
baseline and left margin, and uniform spacing. Each is defeated here, seeded explicitly
(a ``numpy.random.Generator`` is passed in, never global state), so a job and its seed
always give the same card:

- every glyph instance gets a small affine (rotation, slant, scale, aspect, baseline
  offset) about its centre plus a smooth low-frequency warp of its strokes, both linear
  in a few coefficients, so how far apart two instances are is known without drawing;
- marks (dots, umlauts, accents, crossings) get an offset of their own;
- letter and word spacing jitter; per line a tilt and a slow wave of the baseline, a
  wandering left margin and a slightly uneven line pitch;
- no two instances of one glyph on a card are alike: an instance whose shape comes too
  close to an earlier one is pushed away from it, or drawn again.

``strength`` scales every amplitude: 0 is the font exactly as drawn, 1 the default.
Amplitudes are in x-heights (so they scale with the writing), angles in degrees. The
defaults were tuned against Tesseract's reading of the example cards (``python -m
tests.bench ocr``, and the same over ten seeds): changes of letter size cost legibility
most, then the warp; turns, slants and widths little. Most of the difference between
twins comes from the push in :func:`unique_instances`, not from wider figures here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fonts.table import ranges

MAX_MARKS = 6  # marks per glyph that get their own offset; more share the last one
PUSHES = 3  # rounds of pushing close twins apart before any is drawn again
PUSH_MARGIN = 1.02  # ... to this much more than the closest they may come
PUSH_MOST = 3.0  # ... by at most this many times their difference
# how much wider than usual (turn, slant, width, warp) the draws for a glyph still too
# close to a twin are: most as usual, a few wider for a crowded glyph (a letter written
# forty times small); each further round draws wider still
WIDEN = np.array([1.0, 1.0, 1.5, 2.2])


@dataclass(frozen=True)
class Variation:
    """How much handwriting varies; each figure is a standard deviation at strength 1."""

    strength: float = 1.0
    rotation_deg: float = 1.1  # glyph rotation about its centre, degrees
    slant_deg: float = 0.75  # extra slant (shear), degrees
    scale: float = 0.008  # relative size
    aspect: float = 0.02  # relative width against height
    baseline_xh: float = 0.02  # glyph baseline offset, x-heights
    warp_xh: float = 0.02  # amplitude of the smooth warp, x-heights
    warp_wavelength_xh: float = 1.8  # wavelength of the warp, x-heights
    mark_xh: float = 0.032  # offset of dots, accents and crossings, x-heights
    letter_air_xh: float = 0.2  # a print hand opens a tight letter pair by up to this, x-heights
    letter_spacing_xh: float = 0.02  # jitter of the gap between letters, x-heights
    word_spacing: float = 0.075  # relative jitter of a word gap
    line_tilt_deg: float = 0.1  # tilt of a line's baseline, degrees
    line_wave_xh: float = 0.036  # amplitude of a slow baseline wave, x-heights
    line_wave_mm: float = 90.0  # wavelength of that wave, mm
    margin_mm: float = 0.3  # wander of the left margin between lines, mm
    line_pitch: float = 0.015  # relative jitter of the distance between lines
    wobble_xh_mm: float = 2.6  # below this x-height (mm) turns, slants, widths and warps
    # keep the size they have at it: a hand's wobble does not shrink with its letters
    min_difference_mm: float = 0.055  # closest two instances of a glyph may come (RMS, mm)

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 3.0:
            raise ValueError(f"variation strength must be between 0 and 3, got {self.strength}")


# ---------------------------------------------------------------- the shape of a glyph
#
# A glyph instance's shape change is linear in a few coefficients: a point p (em, about
# the glyph's centre) of mark slot s moves by
#
#     d(p) = E p + W psi(p) + mark[s]
#
# with E a 2x2 matrix (turn, slant, size and width: the affine less the identity), W a 2x6
# matrix of warp coefficients over six smooth waves psi (sines and cosines along three
# fixed directions, all zero at the centre) and mark[s] the offset of a dot or accent.
# Being linear, the RMS distance of two instances of one glyph (centroids aligned) is a
# fixed quadratic form of their coefficient difference: each glyph form gets a 14 x 14
# matrix R once, and |R (z_i - z_j)| is that distance exactly, without drawing either.

WAVE_DIRECTIONS = np.radians([0.0, 60.0, 120.0])  # three directions cover the plane evenly
FEATURES = 2 + 2 * len(WAVE_DIRECTIONS) + MAX_MARKS  # x, y, the waves, one per mark slot


@dataclass(frozen=True, eq=False)
class GlyphParams:
    """Random shape parameters of n glyph instances (em units, y down).

    ``zx`` and ``zy`` (n, :data:`FEATURES`) are the coefficients of the x and y moves:
    the affine row, the six warp waves, the mark offsets (see :func:`shape_features`).
    """

    zx: np.ndarray
    zy: np.ndarray
    baseline: np.ndarray  # (n,) offset, em (y down)

    def take(self, index: np.ndarray) -> GlyphParams:
        """The parameters of the instances at ``index``."""
        return GlyphParams(self.zx.take(index, axis=0), self.zy.take(index, axis=0),
                           self.baseline[index])

    def replace(self, index: np.ndarray, other: GlyphParams) -> GlyphParams:
        """A copy with the instances at ``index`` taken from ``other`` (same length)."""
        zx, zy, baseline = self.zx.copy(), self.zy.copy(), self.baseline.copy()
        zx[index], zy[index], baseline[index] = other.zx, other.zy, other.baseline
        return GlyphParams(zx, zy, baseline)


def sample_glyph_params(rng: np.random.Generator, n: int, variation: Variation,
                        x_height_em: float, widen: np.ndarray | None = None) -> GlyphParams:
    """Draw shape parameters for ``n`` glyph instances (em units for offsets); ``widen``
    (n,) makes the turn, slant, width and warp of each that many times wider."""
    s = variation.strength
    xh = x_height_em
    wide = np.ones(n) if widen is None else widen

    waves = 2 * len(WAVE_DIRECTIONS)
    # every draw at once, in the order they are used (the stream is the same as drawing
    # them one by one), clipped at 2.5 sd: a hand varies, it does not jump
    z = np.clip(rng.standard_normal(n * (5 + 2 * waves + 2 * MAX_MARKS)), -2.5, 2.5) * s
    single, warp_z, marks_z = z[:5 * n].reshape(5, n), z[5 * n:(5 + 2 * waves) * n], z[(5 + 2 * waves) * n:]
    rotation = np.radians(single[0] * variation.rotation_deg) * wide
    slant = np.tan(np.radians(single[1] * variation.slant_deg) * wide)
    scale = 1.0 + single[2] * variation.scale
    aspect = 1.0 + single[3] * variation.aspect * wide
    baseline = single[4] * (variation.baseline_xh * xh)
    # the waves' sum has about the variance of one wave of amplitude warp_xh at a random phase
    warp = warp_z.reshape(n, 2, waves) * (variation.warp_xh * xh / np.sqrt(waves)) * wide[:, None, None]
    marks = marks_z.reshape(n, MAX_MARKS, 2) * (variation.mark_xh * xh)
    cos, sin = np.cos(rotation), np.sin(rotation)
    sx, sy = scale * aspect, scale
    shy = -slant * sy  # y is down: a positive shear leans the letter to the right
    # the affine (turn after shear after scale) less the identity
    zx = np.column_stack([cos * sx - 1.0, cos * shy - sin * sy, warp[:, 0], marks[:, :, 0]])
    zy = np.column_stack([sin * sx, sin * shy + cos * sy - 1.0, warp[:, 1], marks[:, :, 1]])
    return GlyphParams(zx, zy, baseline)


def shape_features(local: np.ndarray, slot: np.ndarray, wavelength_em: float) -> np.ndarray:
    """(N, :data:`FEATURES`) features of glyph points ``local`` (em, about the glyph's
    centre) with mark ``slot`` (-1 for the letter): x, y, the six waves
    ``sin(k d.p)`` and ``cos(k d.p) - 1``, and a one-hot column per mark slot. A point
    moves by ``features @ zx`` in x and ``features @ zy`` in y."""
    k = 2 * np.pi / wavelength_em
    along = k * (local @ np.stack([np.cos(WAVE_DIRECTIONS), np.sin(WAVE_DIRECTIONS)]))
    marks = (np.minimum(slot, MAX_MARKS - 1)[:, None] == np.arange(MAX_MARKS)) & (slot[:, None] >= 0)
    return np.column_stack([local, np.sin(along), np.cos(along) - 1.0, marks.astype(float)])


def shape_metric(features: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(F, FEATURES, FEATURES) matrices R, one per glyph form whose points have
    ``features`` at rows ``starts[f]:starts[f] + sizes[f]``: the RMS distance (centroids
    aligned) of two instances is ``sqrt(|R dzx|^2 + |R dzy|^2)`` for their coefficient
    differences. R is the square root of the features' covariance over the form's points."""
    metric = np.zeros((len(starts), FEATURES, FEATURES))
    for f, (a, m) in enumerate(zip(starts.tolist(), sizes.tolist(), strict=True)):
        if m == 0:
            continue
        centred = features[a:a + m] - features[a:a + m].mean(axis=0)
        values, vectors = np.linalg.eigh(centred.T @ centred / m)
        metric[f] = np.sqrt(np.maximum(values, 0.0))[:, None] * vectors.T
    return metric


def deform(points: np.ndarray, features: np.ndarray, instance: np.ndarray | None,
           params: GlyphParams, sizes: np.ndarray | None = None) -> np.ndarray:
    """Each instance's glyph points (N, 2) moved by its shape parameters (em, y down);
    ``features``: the points' :func:`shape_features`; ``instance``: (N,) index into
    ``params``, or None with ``sizes``: the points are each instance's in turn, that many
    of each (as ``instance = repeat(arange(n), sizes)``; copying runs is faster than
    gathering rows)."""
    if len(points) == 0:
        return points.copy()
    # one gather of both coefficient rows per point, one contraction for x and y
    both = np.stack([params.zx, params.zy], axis=1)
    coefficients = both.take(instance, axis=0) if sizes is None else np.repeat(both, sizes, axis=0)
    out = points + np.einsum("ik,ijk->ij", features, coefficients)
    out[:, 1] += params.baseline[instance] if sizes is None else np.repeat(params.baseline, sizes)
    return out


def embed(params: GlyphParams, metric: np.ndarray) -> np.ndarray:
    """(n, 2 * FEATURES) points whose distances are the instances' RMS shape distances;
    ``metric``: (n, FEATURES, FEATURES) the :func:`shape_metric` of each one's form."""
    # one batched product for x and y: (n, F, F) @ (n, F, 2)
    both = np.matmul(metric, np.stack([params.zx, params.zy], axis=2))
    return both.transpose(0, 2, 1).reshape(len(metric), -1)


def unique_instances(rng: np.random.Generator, params: GlyphParams, form: np.ndarray,
                     eligible: np.ndarray, metric: np.ndarray, variation: Variation,
                     x_height_em: float, em_mm: float, wobble: float = 1.0,
                     attempts: int = 30) -> GlyphParams:
    """``params`` with every instance redrawn that comes within
    ``variation.min_difference_mm`` (RMS, centroids aligned) of an earlier ``eligible``
    instance of the same glyph ``form``; ``metric``: (forms, FEATURES, FEATURES) the
    :func:`shape_metric` of each form (``form`` indexes it); ``wobble``: how much wider than the
    variation's figures the instances were drawn (small writing).

    Distances are measured between coefficients (:func:`embed`), exactly, without drawing
    a point. A close instance is first pushed straight away from its nearest twin, just
    past the limit (:data:`PUSHES` rounds): the least change of shape that parts them.
    One still close, or nearly alike its twin, is drawn again several times
    (:data:`WIDEN`: mostly with the usual spread, a few wider) and keeps the mildest draw
    (nearest the font's own shape) far enough from its twins, else the farthest; so only a
    crowded glyph, a letter written forty times small, gets a wilder shape.
    """
    if variation.strength <= 0 or variation.min_difference_mm <= 0:
        return params
    limit = (variation.min_difference_mm / em_mm) ** 2
    which = np.flatnonzero(eligible)
    which = which[np.argsort(form[which], kind="stable")]  # by form, each in writing order
    if len(which) < 2:
        return params
    # each instance's twins: the run of its form in ``which``
    sorted_form = form[which]
    run_start = np.flatnonzero(np.concatenate([[True], sorted_form[1:] != sorted_form[:-1]]))
    run_size = np.diff(np.append(run_start, len(which)))
    first = np.repeat(run_start, run_size)  # (len(which),) where each one's run starts
    # every pair (earlier, later) of one form
    later = np.repeat(np.arange(len(which)), np.arange(len(which)) - first)
    earlier = ranges(first, np.arange(len(which)) - first)
    points = embed(params.take(which), metric.take(sorted_form, axis=0))

    def widen(attempt: int) -> np.ndarray:
        # a glyph still crowded after a round is drawn wider still, up to strength 3
        return np.minimum(WIDEN * wobble * 1.25**attempt, 3.0 / variation.strength)

    run_of = np.repeat(np.arange(len(run_start)), run_size)  # (len(which),) each one's run
    # pair by pair: a few thousand short rows, cheaper than a Gram matrix through BLAS;
    # after the first round only the pairs of instances that changed are measured again
    squared = np.empty(len(later))
    changed = np.ones(len(which), dtype=bool)
    for attempt in range(-PUSHES, attempts):
        again = np.flatnonzero(changed[later] | changed[earlier])
        pair_gap = points.take(later[again], axis=0) - points.take(earlier[again], axis=0)
        squared[again] = np.einsum("ij,ij->i", pair_gap, pair_gap)
        changed[:] = False
        close = squared < limit
        if not close.any():
            break
        if attempt < 0:
            # push each close instance straight away from its twin, just far enough: the
            # smallest change of shape that parts them (the metric is linear)
            hit = np.flatnonzero(close)
            order = np.lexsort((squared[hit], later[hit]))
            hit = hit[order][np.concatenate([[True], np.diff(later[hit][order]) > 0])]
            mover, twin_at = later[hit], earlier[hit]
            apart = np.sqrt(squared[hit])
            stretch = PUSH_MARGIN * np.sqrt(limit) / np.maximum(apart, 1e-300) - 1.0
            # twins nearly alike would need a long push: they are drawn again below
            fits = stretch <= PUSH_MOST
            mover, twin_at, stretch = mover[fits], twin_at[fits], stretch[fits]
            at, other = which[mover], which[twin_at]
            zx, zy = params.zx.copy(), params.zy.copy()
            zx[at] += stretch[:, None] * (params.zx.take(at, axis=0) - params.zx.take(other, axis=0))
            zy[at] += stretch[:, None] * (params.zy.take(at, axis=0) - params.zy.take(other, axis=0))
            params = GlyphParams(zx, zy, params.baseline)
            # twins share their form's metric, so the embedding moves the same way
            ahead = points.take(mover, axis=0)
            points[mover] = ahead + stretch[:, None] * (ahead - points.take(twin_at, axis=0))
            changed[mover] = True
            continue
        redo = np.unique(later[close])
        drawn = sample_glyph_params(rng, len(WIDEN) * len(redo), variation, x_height_em,
                                    np.repeat(widen(attempt), len(redo)))
        owner = np.tile(redo, len(WIDEN))
        drafts = embed(drawn, metric.take(sorted_form[owner], axis=0))
        # each draw against every twin that stays (the redrawn ones are compared next round)
        keep = np.ones(len(which), dtype=bool)
        keep[redo] = False
        mild = np.einsum("ij,ij->i", drafts, drafts)  # the draw's distance from the font's own shape
        span = run_size[run_of[owner]]
        draft_of = np.repeat(np.arange(len(owner)), span)
        twin_of = ranges(first[owner], span)
        stays = keep[twin_of]
        draft_of, twin_of = draft_of[stays], twin_of[stays]
        twin_gap = drafts.take(draft_of, axis=0) - points.take(twin_of, axis=0)
        nearest = np.full(len(owner), np.inf)
        np.minimum.at(nearest, draft_of, np.einsum("ij,ij->i", twin_gap, twin_gap))
        score = np.where(nearest >= limit, -mild, -np.inf).reshape(len(WIDEN), len(redo))
        far = nearest.reshape(len(WIDEN), len(redo))
        pick = np.where(np.isfinite(score.max(axis=0)), score.argmax(axis=0), far.argmax(axis=0))
        chosen = pick * len(redo) + np.arange(len(redo))
        params = params.replace(which[redo], drawn.take(chosen))
        points[redo] = drafts.take(chosen, axis=0)
        changed[redo] = True
    return params


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


def letter_gaps(rng: np.random.Generator, n: int, variation: Variation) -> np.ndarray:
    """``n`` random changes of the gap between two letters of a word, in x-heights.

    A print hand's layout adds them to the room it opens tight pairs by
    (:func:`fonts.table.letter_room`) and never lets the sum close the font's gap; a
    joined hand's gaps stretch and shrink its connectors either way.
    """
    return np.clip(rng.standard_normal(n), -2.5, 2.5) * variation.letter_spacing_xh * variation.strength


def spacing_factors(rng: np.random.Generator, n: int, sd: float, strength: float) -> np.ndarray:
    """``n`` factors around 1 for advances or word gaps (never below 0.6)."""
    return np.maximum(0.6, 1.0 + np.clip(rng.standard_normal(n), -2.5, 2.5) * sd * strength)
