"""Fixtures for the mailbox core: a sandbox tenant with a Graph client that never really sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailwarden.graph import RetryPolicy
from mailwarden.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    s.migrate()
    return s


@pytest.fixture
def tenant(tenant_factory: Any) -> tuple[Any, Any]:
    """A small tenant with a phishing campaign (copies in several mailboxes)."""
    return tenant_factory(users=12, messages_per_mailbox=6, phishing_rate=0.2)


@pytest.fixture
def graph(tenant: tuple[Any, Any]) -> Iterator[Any]:
    block, _ = tenant
    with block.graph_client("basic", retry=RetryPolicy(max_attempts=4, sleep=lambda s: None)) as client:
        yield client
