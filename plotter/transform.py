"""Where a card lies on the bed: the affine map from card mm to machine mm.

Card coordinates are mm, x right, y **down**, origin at the card's top-left. Machine
coordinates are the bed's mm as the firmware counts them.

The convention, in words (``profile.card_*`` and ``profile.y_up``):

1. The card is turned ``card_rotation_deg`` (0, 90, 180, 270) **counter-clockwise as the
   operator sees it from above**, standing in front of the machine.
2. The turned card's footprint, ``w x h`` (0, 180) or ``h x w`` (90, 270), is an
   axis-aligned rectangle whose lowest machine X and lowest machine Y corner is
   ``(card_offset_x_mm, card_offset_y_mm)``: the card always covers
   ``[offset_x, offset_x + footprint_w] x [offset_y, offset_y + footprint_h]``.
3. ``y_up`` says which way machine Y grows: away from the operator (``True``, most GRBL
   machines) or towards them (``False``, origin at the back-left). The card is mirrored
   in y accordingly, so at rotation 0 it reads upright for the operator on either kind.

Where the card's top-left corner lands (``x0, y0`` = offset, ``W x H`` = footprint):

=========  ==========================  ===========================
rotation   ``y_up = true``             ``y_up = false``
=========  ==========================  ===========================
0          ``(x0, y0 + H)`` back-left   ``(x0, y0)`` back-left
90         ``(x0, y0)`` front-left      ``(x0, y0 + H)`` front-left
180        ``(x0 + W, y0)`` front-right ``(x0 + W, y0 + H)`` front-right
270        ``(x0 + W, y0 + H)`` back-r. ``(x0 + W, y0)`` back-right
=========  ==========================  ===========================

("back" is the side away from the operator.) At 90 the card's top edge runs along the
left of the footprint and its x axis points away from the operator.
"""

from __future__ import annotations

import numpy as np

from plotter.profile import MachineProfile

# counter-clockwise quarter turns in a y-up frame, as integer matrices (exact)
_TURNS = {
    0: np.array([[1.0, 0.0], [0.0, 1.0]]),
    90: np.array([[0.0, -1.0], [1.0, 0.0]]),
    180: np.array([[-1.0, 0.0], [0.0, -1.0]]),
    270: np.array([[0.0, 1.0], [-1.0, 0.0]]),
}


def footprint_mm(profile: MachineProfile, card_w: float, card_h: float) -> tuple[float, float]:
    """Width (along machine X) and height (along machine Y) the card covers on the bed, mm.

    >>> from plotter.profile import load_profile
    >>> footprint_mm(load_profile("grbl-servo-r90"), 148, 105)
    (105.0, 148.0)
    """
    if profile.card_rotation_deg in (90, 270):
        return float(card_h), float(card_w)
    return float(card_w), float(card_h)


def card_matrix(profile: MachineProfile, card_w: float, card_h: float) -> np.ndarray:
    """The 3x3 affine matrix taking card mm ``(x, y, 1)`` to machine mm."""
    # card (y down) -> a y-up frame as the operator sees it: (x, -y)
    flip = np.diag([1.0, -1.0, 1.0])
    turn = np.eye(3)
    turn[:2, :2] = _TURNS[profile.card_rotation_deg]
    # after the turn the card spans some box; move its low corner to the origin
    corners = np.array([[0, 0], [card_w, 0], [0, card_h], [card_w, card_h]], dtype=np.float64)
    turned = corners @ (turn[:2, :2] @ flip[:2, :2]).T
    shift = np.eye(3)
    shift[:2, 2] = -turned.min(axis=0)
    # y-down machines count Y towards the operator: mirror inside the footprint
    _, foot_h = footprint_mm(profile, card_w, card_h)
    mirror = np.eye(3)
    if not profile.y_up:
        mirror[1, 1] = -1.0
        mirror[1, 2] = foot_h
    place = np.eye(3)
    place[:2, 2] = (profile.card_offset_x_mm, profile.card_offset_y_mm)
    return place @ mirror @ shift @ turn @ flip


def apply_matrix(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``(N, 2)`` points mapped by a 3x3 affine ``matrix``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def card_to_machine(points: np.ndarray, profile: MachineProfile, card_w: float,
                    card_h: float) -> np.ndarray:
    """``(N, 2)`` card mm (y down, top-left origin) -> machine mm on the bed.

    >>> from plotter.profile import load_profile
    >>> card_to_machine([[0, 0]], load_profile("grbl-servo"), 148, 105).tolist()
    [[10.0, 115.0]]
    """
    return apply_matrix(card_matrix(profile, card_w, card_h), points)


def machine_to_card(points: np.ndarray, profile: MachineProfile, card_w: float,
                    card_h: float) -> np.ndarray:
    """``(N, 2)`` machine mm -> card mm; the inverse of :func:`card_to_machine`."""
    return apply_matrix(np.linalg.inv(card_matrix(profile, card_w, card_h)), points)
