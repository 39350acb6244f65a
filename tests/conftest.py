"""Shared fixtures: bundled fonts and card formats by name, service checks."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

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


PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                             connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - any failure means no server to test on
        return False


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (dropped afterwards); its URL."""
    need_tool(postgres_available(), "PostgreSQL is not reachable at 127.0.0.1:5432")
    import psycopg

    name = f"penpost_{secrets.token_hex(6)}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
