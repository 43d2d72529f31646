"""The store: SQLAlchemy 2 models, Alembic migrations, repositories (see ``repositories``)."""

from mailwarden.store.engine import Store, alembic_config, close_stores, open_store, redact_url
from mailwarden.store.types import hash_secret_ref, utcnow

__all__ = ["Store", "alembic_config", "close_stores", "hash_secret_ref", "open_store", "redact_url", "utcnow"]
