"""Fixtures shared by the flow tests: one Prefect test server, one sandbox tenant server."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MAILWARDEN_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``shared/`` folder beside the repository (schema, corpus)."""
    return SHARED


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mailwarden-data")
    os.environ["MAILWARDEN_DATA_DIR"] = str(path)
    os.environ["MAILWARDEN_STORE_URL"] = f"sqlite:///{path / 'store.sqlite'}"
    from mailwarden.settings import get_settings

    get_settings.cache_clear()
    return path


@pytest.fixture(scope="session")
def prefect_harness(session_data_dir: Path) -> Iterator[None]:
    """One Prefect test server (SQLite) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def embedded(session_data_dir: Path) -> Iterator[Any]:
    """The sandbox tenant server with mailwarden's apps registered, started once."""
    from deployments.embedded import EmbeddedSandbox

    env = EmbeddedSandbox(session_data_dir, port=0, profile="fast").start()
    try:
        yield env
    finally:
        env.stop()


_seeds = itertools.count(1000)


@pytest.fixture
def tenant_factory(embedded: Any) -> Callable[..., tuple[Any, Any]]:
    """Add a fresh tenant to the running sandbox: ``block, state = tenant_factory(users=20)``."""

    def make(**kwargs: Any) -> tuple[Any, Any]:
        kwargs.setdefault("seed", next(_seeds))
        return embedded.add_tenant(**kwargs)

    return make
