"""Column types shared by the models: portable JSON, big integer keys, UTC timestamps."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

#: JSON everywhere, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")

#: 64-bit surrogate keys; plain INTEGER on SQLite so the key aliases the rowid and autoincrements.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    Naive values are taken as UTC; values read back are always aware (SQLite keeps no offset).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def hash_secret_ref(value: str) -> str:
    """SHA-256 hex of a secret-ish reference (OAuth ``state``, ``clientState``) for storage.

    Only the hash is ever stored, so a database dump cannot replay a callback.
    """
    if not value:
        raise ValueError("cannot hash an empty value")
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
