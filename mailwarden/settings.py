"""Typed settings for mailwarden, read from ``MAILWARDEN_*`` environment variables.

Secrets are never settings: app credentials and tenant connections live in Prefect blocks.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide, non-secret configuration (env prefix ``MAILWARDEN_``)."""

    model_config = SettingsConfigDict(env_prefix="MAILWARDEN_", extra="ignore")

    data_dir: Path = Path(".data")
    store_url: str | None = None
    sandbox_port: int = 8765
    callback_host: str = "127.0.0.1"
    callback_port: int = 8766

    # What decides security lives here, on the server, never in a run's parameters or a block a
    # run can write (README, "Security model"). Each field is read where it is used.
    sandbox_url: str | None = None
    """https URL of a sandbox tenant server on a loopback address: every tenant's identity, Graph and
    Exchange traffic of this process goes there instead of Microsoft's hosts (demo and tests)."""
    sandbox_ca_file: Path | None = None
    """PEM CA bundle trusted for ``sandbox_url`` only."""
    dask_address: str | None = None
    """``tls://host:port`` of the Dask scheduler for ``task_runner=dask`` (None: a local cluster)."""
    dask_tls_ca_file: Path | None = None
    """CA that signed the scheduler's and this client's Dask certificates (mutual TLS)."""
    dask_tls_cert_file: Path | None = None
    """This client's Dask certificate (PEM)."""
    dask_tls_key_file: Path | None = None
    """This client's Dask private key (PEM)."""
    ground_truth_dir: Path | None = None
    """Folder whose label files ``historic-scan``'s ``ground_truth`` may name (None: no files)."""
    notification_url: str | None = None
    """Public https URL of the notification receiver that Graph posts change notifications to
    (``/notifications``; lifecycle notifications go to ``/lifecycle`` beside it). None: the
    receiver beside the consent callback (``callback_host``/``callback_port``)."""

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


@contextlib.contextmanager
def overridden_settings(**env: str | None) -> Iterator[None]:
    """Set (or, with None, unset) ``MAILWARDEN_*`` environment variables for a while and re-read the
    settings; the variables and the settings are restored on exit. Child processes started meanwhile
    inherit the override (the demo's serving process, a Dask local cluster)."""
    before = {name: os.environ.get(name) for name in env}
    try:
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
