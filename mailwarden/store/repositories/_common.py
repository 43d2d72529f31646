"""Helpers shared by the repositories: dialect-specific insert-or-ignore, chunking."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

CHUNK = 5000


def chunks(rows: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    """Split an iterable into lists of at most ``size`` items, lazily."""
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def dialect_name(session: Session) -> str:
    """``sqlite`` or ``postgresql`` for the session's bind."""
    return session.get_bind().dialect.name


def insert_ignore(
    session: Session, table: Table | Any, rows: Sequence[Mapping[str, Any]], conflict: Sequence[str]
) -> int:
    """Insert ``rows``, skipping those that clash with the unique key ``conflict``.

    Race-safe: on PostgreSQL a concurrent insert of the same key waits for the other
    transaction and then does nothing; on SQLite writers are serialised. Returns how many
    rows were inserted.
    """
    if not rows:
        return 0
    table = getattr(table, "__table__", table)
    name = dialect_name(session)
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt: Any = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"insert-or-ignore is not implemented for {name}")
    # rowcount is unreliable for executemany (and -1 on psycopg): count RETURNING rows instead.
    stmt = stmt.returning(table.c[_pk(table)])
    result = session.execute(stmt, list(rows) if len(rows) > 1 else dict(rows[0]))
    return len(result.all())


def _pk(table: Table) -> str:
    return next(iter(table.primary_key.columns)).name


def check_fields(fields: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    """Refuse unknown field names (a typo would otherwise be silently dropped)."""
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"unknown {what} field(s): {', '.join(sorted(unknown))}")


def bulk_insert(session: Session, model: Any, rows: Sequence[Mapping[str, Any]]) -> int:
    """Plain bulk INSERT of ``rows`` (Core executemany on the session's connection; fastest path)."""
    if rows:
        table = cast(Table, model.__table__)
        session.connection().execute(insert(table), list(rows))
    return len(rows)
