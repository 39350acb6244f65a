"""The card transform: corners land where plotter/transform.py's table says."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plotter.profile import load_profile
from plotter.transform import card_matrix, card_to_machine, footprint_mm, machine_to_card

CARD_W, CARD_H = 148.0, 105.0
X0, Y0 = 12.0, 7.0


@pytest.fixture
def make_profile():
    """A grbl-servo profile with another placement."""

    def make(rotation: int, y_up: bool):
        return dataclasses.replace(load_profile("grbl-servo"), card_rotation_deg=rotation,
                                   y_up=y_up, card_offset_x_mm=X0, card_offset_y_mm=Y0)

    return make


# where the card's top-left lands, per rotation and y_up, from the module docstring;
# (W, H) is the footprint
TOP_LEFT = {
    (0, True): lambda w, h: (X0, Y0 + h),
    (90, True): lambda w, h: (X0, Y0),
    (180, True): lambda w, h: (X0 + w, Y0),
    (270, True): lambda w, h: (X0 + w, Y0 + h),
    (0, False): lambda w, h: (X0, Y0),
    (90, False): lambda w, h: (X0, Y0 + h),
    (180, False): lambda w, h: (X0 + w, Y0 + h),
    (270, False): lambda w, h: (X0 + w, Y0),
}
PLACEMENTS = sorted(TOP_LEFT)


@pytest.mark.parametrize(("rotation", "y_up"), PLACEMENTS)
def test_top_left_lands_where_the_docs_say(make_profile, rotation, y_up):
    profile = make_profile(rotation, y_up)
    w, h = footprint_mm(profile, CARD_W, CARD_H)
    got = card_to_machine([[0, 0]], profile, CARD_W, CARD_H)[0]
    assert got == pytest.approx(TOP_LEFT[rotation, y_up](w, h))


@pytest.mark.parametrize(("rotation", "y_up"), PLACEMENTS)
def test_card_covers_exactly_its_footprint(make_profile, rotation, y_up):
    profile = make_profile(rotation, y_up)
    w, h = footprint_mm(profile, CARD_W, CARD_H)
    corners = [[0, 0], [CARD_W, 0], [0, CARD_H], [CARD_W, CARD_H]]
    got = card_to_machine(corners, profile, CARD_W, CARD_H)
    assert got.min(axis=0) == pytest.approx([X0, Y0])
    assert got.max(axis=0) == pytest.approx([X0 + w, Y0 + h])


def test_rotation_swaps_the_footprint(make_profile):
    assert footprint_mm(make_profile(0, True), CARD_W, CARD_H) == (CARD_W, CARD_H)
    assert footprint_mm(make_profile(90, True), CARD_W, CARD_H) == (CARD_H, CARD_W)
    assert footprint_mm(make_profile(270, False), CARD_W, CARD_H) == (CARD_H, CARD_W)


@pytest.mark.parametrize(("rotation", "x_axis"), [(0, (1, 0)), (90, (0, 1)), (180, (-1, 0)),
                                                 (270, (0, -1))])
def test_rotation_is_counter_clockwise_seen_from_above(make_profile, rotation, x_axis):
    # on a y-up machine "seen from above" is the machine's own frame: the card's x axis
    # turns from +X towards +Y
    profile = make_profile(rotation, True)
    a, b = card_to_machine([[0, 0], [1, 0]], profile, CARD_W, CARD_H)
    assert b - a == pytest.approx(x_axis)


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_y_down_machine_is_the_same_placement_mirrored(make_profile, rotation):
    # the same card seen by the operator: a y-down machine counts Y from the back
    up = card_to_machine([[3, 4], [100, 60]], make_profile(rotation, True), CARD_W, CARD_H)
    down = card_to_machine([[3, 4], [100, 60]], make_profile(rotation, False), CARD_W, CARD_H)
    _, h = footprint_mm(make_profile(rotation, True), CARD_W, CARD_H)
    assert down[:, 0] == pytest.approx(up[:, 0])
    assert down[:, 1] == pytest.approx(2 * Y0 + h - up[:, 1])


def test_matrix_is_affine_with_unit_scale(make_profile):
    for rotation, y_up in PLACEMENTS:
        m = card_matrix(make_profile(rotation, y_up), CARD_W, CARD_H)
        assert m.shape == (3, 3)
        assert m[2].tolist() == [0, 0, 1]
        assert abs(np.linalg.det(m[:2, :2])) == pytest.approx(1)


@given(st.lists(st.tuples(st.floats(-500, 500), st.floats(-500, 500)), min_size=1,
                max_size=20), st.sampled_from(PLACEMENTS))
def test_inverse_undoes_the_transform(points, placement):
    profile = dataclasses.replace(load_profile("grbl-servo"), card_rotation_deg=placement[0],
                                  y_up=placement[1])
    points = np.array(points)
    back = machine_to_card(card_to_machine(points, profile, CARD_W, CARD_H), profile,
                           CARD_W, CARD_H)
    assert np.allclose(back, points, atol=1e-9)
