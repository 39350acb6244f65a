"""Shared fixtures: bundled fonts and card formats by name, service checks."""

from __future__ import annotations

import os

import pytest

from cards.formats import CardFormat, card_format
from fonts.catalog import load_font
from fonts.model import Font

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def font_named():
    """Factory: a bundled font by name."""

    def make(name: str) -> Font:
        return load_font(name)

    return make


@pytest.fixture
def a6() -> CardFormat:
    return card_format("a6-landscape")


def need_tool(available: bool, reason: str) -> None:
    """Skip when a tool or server is missing, except under CI, where that is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)
