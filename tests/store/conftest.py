"""Store fixtures: the same tests run on SQLite (a temp file) and PostgreSQL.

PostgreSQL comes from ``MAILWARDEN_TEST_POSTGRES_URL`` (``scripts/postgres-up.sh`` starts one).
Without it the PostgreSQL variants are skipped, except under ``CI=true`` where they fail, so
CI cannot go green by silently skipping them. Each PostgreSQL test gets its own schema
(through ``search_path``), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from mailwarden.store import Store

POSTGRES_ENV = "MAILWARDEN_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test PostgreSQL server (skip without one, fail in CI)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true but {POSTGRES_ENV} is not set: run scripts/postgres-up.sh first")
        pytest.skip(f"{POSTGRES_ENV} is not set (scripts/postgres-up.sh starts a server)")
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(str(admin.url.render_as_string(hide_password=False)))
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def empty_store(store_url: str) -> Iterator[Store]:
    """A ``Store`` on an empty database (not migrated)."""
    store = Store(store_url)
    yield store
    store.dispose()


@pytest.fixture
def store(empty_store: Store) -> Store:
    """A migrated ``Store``, one per test and backend."""
    empty_store.migrate()
    return empty_store
