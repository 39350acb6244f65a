"""The transition table and the settings sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.settings import Settings
from jobs.states import EDITABLE, FINAL, TRANSITIONS, State, TransitionError, check_transition


def reachable(start: State) -> set[State]:
    seen, todo = {start}, [start]
    while todo:
        for target in TRANSITIONS[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_every_state_is_reachable_from_received_and_the_happy_path_is_allowed():
    assert reachable(State.RECEIVED) == set(State)
    path = ["received", "rendered", "approved", "queued", "plotting", "plotted", "shipped"]
    for a, b in zip(path, path[1:], strict=False):
        check_transition(a, b)
    assert FINAL == {State.SHIPPED, State.CANCELLED}


def test_spoiled_cards_are_reprinted_never_reported_plotted():
    check_transition("plotting", "interrupted")
    check_transition("interrupted", "queued")  # the reprint
    with pytest.raises(TransitionError, match="the job is interrupted"):
        check_transition("interrupted", "plotted")
    with pytest.raises(TransitionError, match="the job is interrupted"):
        check_transition("interrupted", "plotting")  # never retried on the same stock


def test_plotting_or_plotted_cards_cannot_be_edited_or_cancelled():
    assert State.PLOTTING not in EDITABLE and State.PLOTTED not in EDITABLE
    with pytest.raises(TransitionError, match=r"cannot cancel: the job is plotting \(from "
                                              r"plotting it may go to: interrupted, plotted\)"):
        check_transition("plotting", "cancelled", "cancel")


def test_settings_from_environment_and_toml(tmp_path: Path, monkeypatch):
    config = tmp_path / "penpost.toml"
    config.write_text('profile = "grbl-z"\npreview_dpi = 200\n'
                      'webhook_backoff_s = [1, 2, 3]\n', encoding="utf-8")
    monkeypatch.setenv("PENPOST_CONFIG", str(config))
    monkeypatch.setenv("PENPOST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PENPOST_PREVIEW_DPI", "100")  # the environment wins over the file
    settings = Settings()
    assert settings.profile == "grbl-z" and settings.preview_dpi == 100
    assert settings.webhook_backoff_s == [1, 2, 3]
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'penpost.db'}"
    assert settings.artifacts_dir == tmp_path / "data" / "artifacts"
    monkeypatch.setenv("PENPOST_PREVIEW_DPI", "5")
    with pytest.raises(ValueError, match="preview_dpi"):
        Settings()
