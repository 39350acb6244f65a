"""The job state machine: one table of allowed transitions, enforced in one place.

received → rendered (awaiting approval) → approved → queued → plotting → plotted → shipped;
side exits rejected, cancelled, failed (render error) and interrupted (the card under the
pen is spoiled; the operator queues a reprint). An edit makes a new revision and goes back
to received, so approval starts over.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    RECEIVED = "received"
    RENDERED = "rendered"
    APPROVED = "approved"
    QUEUED = "queued"
    PLOTTING = "plotting"
    PLOTTED = "plotted"
    SHIPPED = "shipped"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


S = State
# the one table: from-state -> the states it may go to
TRANSITIONS: dict[State, frozenset[State]] = {
    S.RECEIVED: frozenset({S.RECEIVED, S.RENDERED, S.FAILED, S.CANCELLED}),
    S.RENDERED: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED, S.RECEIVED}),
    S.APPROVED: frozenset({S.QUEUED, S.CANCELLED, S.RECEIVED}),
    S.QUEUED: frozenset({S.PLOTTING, S.QUEUED, S.CANCELLED}),  # queued→queued: another station
    S.PLOTTING: frozenset({S.PLOTTED, S.INTERRUPTED}),
    S.PLOTTED: frozenset({S.SHIPPED}),
    S.INTERRUPTED: frozenset({S.QUEUED, S.CANCELLED}),
    S.REJECTED: frozenset({S.RECEIVED, S.CANCELLED}),
    S.FAILED: frozenset({S.RECEIVED, S.CANCELLED}),
    S.SHIPPED: frozenset(),
    S.CANCELLED: frozenset(),
}

# states from which an edit (a new revision, rendered again) is allowed
EDITABLE = frozenset(s for s, targets in TRANSITIONS.items() if S.RECEIVED in targets)
FINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


class TransitionError(Exception):
    """A transition the table does not allow; names the current state (HTTP 409)."""

    def __init__(self, current: State, target: State, action: str = "") -> None:
        self.current = current
        self.target = target
        what = action or f"move to {target.value}"
        allowed = ", ".join(sorted(t.value for t in TRANSITIONS[current])) or "none (final)"
        super().__init__(f"cannot {what}: the job is {current.value} "
                         f"(from {current.value} it may go to: {allowed})")


def check_transition(current: State | str, target: State | str, action: str = "") -> None:
    """Raise :class:`TransitionError` unless ``current`` → ``target`` is in the table."""
    current, target = State(current), State(target)
    if target not in TRANSITIONS[current]:
        raise TransitionError(current, target, action)
