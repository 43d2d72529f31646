"""Fixtures of the response core: a migrated store."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailwarden.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    s.migrate()
    return s
