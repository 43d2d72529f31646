"""Typed settings for mailwarden, read from ``MAILWARDEN_*`` environment variables.

Secrets are never settings: app credentials and tenant connections live in Prefect blocks.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide, non-secret configuration (env prefix ``MAILWARDEN_``)."""

    model_config = SettingsConfigDict(env_prefix="MAILWARDEN_", extra="ignore")

    data_dir: Path = Path(".data")
    store_url: str | None = None
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = 8765
    callback_host: str = "127.0.0.1"
    callback_port: int = 8766
    demo_mode: bool = False

    @property
    def effective_store_url(self) -> str:
        """``store_url`` when set, else a SQLite file in ``data_dir``."""
        if self.store_url:
            return self.store_url
        return f"sqlite:///{self.data_dir / 'mailwarden.sqlite'}"


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once (``get_settings.cache_clear()`` to re-read)."""
    return Settings()
