"""mailwarden.store.engine: sessions, SQLite pragmas, per-URL stores, no password in reprs."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text

from mailwarden.store import Store, close_stores, open_store, redact_url
from mailwarden.store.models import Base, Tenant


def test_session_commits_on_success(store: Store) -> None:
    with store.session() as s:
        s.add(Tenant(id="t1", primary_domain="a.example"))
    with store.session() as s:
        assert s.scalar(select(Tenant.primary_domain)) == "a.example"


def test_session_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as s:
        s.add(Tenant(id="t1", primary_domain="a.example"))
        s.flush()
        raise RuntimeError("boom")
    with store.session() as s:
        assert s.scalar(select(Tenant.id)) is None


def test_migrate_creates_every_model_table_and_is_idempotent(empty_store: Store) -> None:
    empty_store.migrate()
    empty_store.migrate()
    tables = set(inspect(empty_store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'sub' / 'x.sqlite'}")
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    finally:
        store.dispose()


def test_timestamps_come_back_timezone_aware(store: Store) -> None:
    with store.session() as s:
        s.add(Tenant(id="t1", primary_domain="a.example"))
    with store.session() as s:
        created = s.scalar(select(Tenant.created_at))
    assert created is not None and created.utcoffset() is not None


def test_open_store_returns_one_store_per_url(tmp_path) -> None:
    a = open_store(f"sqlite:///{tmp_path / 'a.sqlite'}")
    try:
        assert open_store(f"sqlite:///{tmp_path / 'a.sqlite'}") is a
        assert open_store(f"sqlite:///{tmp_path / 'b.sqlite'}") is not a
    finally:
        close_stores()


def test_store_repr_and_redacted_url_hide_the_password() -> None:
    url = "postgresql://user:hunter2-secret@db.example:5432/mw"
    assert "hunter2-secret" not in redact_url(url)
    assert redact_url(url).startswith("postgresql+psycopg://user@db.example:5432/mw")
    store = Store(url)  # no connection is made until first use
    try:
        assert "hunter2-secret" not in repr(store)
    finally:
        store.dispose()


def test_an_unparsable_store_url_is_refused_without_quoting_it() -> None:
    from mailwarden.store.engine import StoreUrlError

    with pytest.raises(StoreUrlError, match="not a valid database URL") as err:
        open_store("not a url hunter2-secret")
    assert "hunter2-secret" not in str(err.value) and err.value.__cause__ is None


def test_sqlite_store_file_and_the_folders_made_for_it_are_owner_only(tmp_path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        store = Store(f"sqlite:///{tmp_path / 'a' / 'b' / 'x.sqlite'}")
    finally:
        os.umask(old)
    try:
        with store.engine.connect() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        modes = {p: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "a", tmp_path / "a" / "b",
                                                            tmp_path / "a" / "b" / "x.sqlite")}
        assert set(modes.values()) == {0o700, 0o600}
        assert modes[tmp_path / "a" / "b" / "x.sqlite"] == 0o600
    finally:
        store.dispose()
