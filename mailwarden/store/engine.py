"""``Store``: one engine per database URL, context-managed sessions, and Alembic migrations.

SQLite gets WAL, foreign keys and a busy timeout (many threads write findings at once);
PostgreSQL is reached with psycopg 3 (``postgresql+psycopg://``). Nothing assumes one global
engine: a tenant with its own data residency has its own URL, hence ``open_store(url)``.

Secrets at rest: a SQLite file (and the folders we create for it) is owner-only (0600 / 0700),
its -wal/-shm/-journal siblings too; a URL with a password in its query string is refused.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30.0


_QUERY_SECRETS = frozenset({"password", "passwd", "pwd", "sslpassword"})


class StoreUrlError(ValueError):
    """A store URL that cannot be used; the message never contains the URL (it may hold a password)."""


def normalize_url(url: str | URL) -> URL:
    """Parse a store URL; plain ``postgresql://`` means psycopg 3."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # sqlalchemy's message quotes the whole URL
        raise StoreUrlError("the store URL is not a valid database URL (dialect+driver://user@host/db)") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def check_url(url: str | URL) -> URL:
    """The parsed URL, unless it carries a password in its query string (kept in clear in logs,
    reprs and caches): then :class:`StoreUrlError`, without echoing the URL."""
    parsed = normalize_url(url)
    keys = sorted({k for k in parsed.query if k.lower() in _QUERY_SECRETS})
    if keys:
        raise StoreUrlError(f"the store URL carries a password in its query string ({', '.join(keys)}=): "
                            "refused; put it in the URL's password part (user:password@host) of a secret "
                            "field, or in the database client's own configuration (e.g. ~/.pgpass)")
    return parsed


def redact_url(url: str | URL) -> str:
    """The URL as text without its password, for logs, reprs and the tenants table."""
    parsed = normalize_url(url)
    return parsed._replace(password=None).render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


_SQLITE_SIBLINGS = ("", "-wal", "-shm", "-journal")


def _private_parents(folder: Path) -> None:
    """Create the missing folders up to ``folder``, each owner-only (0700); existing ones are kept."""
    missing = []
    cur = folder
    while not cur.exists():
        missing.append(cur)
        cur = cur.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o700)  # whatever the umask


def _create_private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only (0600) if it does not exist (SQLite then makes its
    -wal, -shm and -journal files with the database file's mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _owner_only(database: Path) -> None:
    """chmod 0600 the database file and the siblings SQLite made (a store created before this rule)."""
    for suffix in _SQLITE_SIBLINGS:
        path = database.with_name(database.name + suffix)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.getuid():
            os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)


def _make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        on_disk = bool(database) and database != ":memory:" and not database.startswith("file:")
        if on_disk:
            _private_parents(Path(database).parent)
            _create_private_file(Path(database))
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
        engine = create_engine(url, connect_args=connect_args)
        event.listen(engine, "connect", _sqlite_pragmas)
        if on_disk:
            event.listen(engine, "connect", lambda _conn, _record: _owner_only(Path(database)))
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Store:
    """A database holding mailwarden's state (see module docstring)."""

    def __init__(self, url: str | URL) -> None:
        self.url = check_url(url)
        self.engine: Engine = _make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Store({redact_url(self.url)!r})"

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises.

        Objects stay usable after the block (``expire_on_commit=False``).
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def migrate(self, revision: str = "head") -> None:
        """Run the packaged Alembic migrations up to ``revision`` (idempotent)."""
        from alembic import command

        with self.engine.begin() as connection:
            config = alembic_config(connection=connection)
            command.upgrade(config, revision)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def alembic_config(*, url: str | None = None, connection: Any = None) -> Any:
    """An Alembic ``Config`` built in code, pointing at the packaged migrations folder."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", str(url).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def open_store(url: str | URL) -> Store:
    """The process-wide ``Store`` for ``url`` (one engine per distinct URL).

    Refuses (:class:`StoreUrlError`) a URL with a password in its query string.
    """
    key = check_url(url).render_as_string(hide_password=False)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = Store(key)
        return store


def close_stores() -> None:
    """Dispose and forget every store opened by ``open_store`` (tests, shutdown)."""
    with _stores_lock:
        for store in _stores.values():
            store.dispose()
        _stores.clear()
