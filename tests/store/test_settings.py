"""mailwarden.settings: env prefix, defaults, derived store URL (the store's settings)."""

from __future__ import annotations

from pathlib import Path

from mailwarden.settings import Settings, get_settings


def test_defaults_put_the_sqlite_store_in_the_data_dir(monkeypatch) -> None:
    for name in ("MAILWARDEN_DATA_DIR", "MAILWARDEN_STORE_URL", "MAILWARDEN_SANDBOX_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.data_dir == Path(".data")
    assert settings.effective_store_url == "sqlite:///.data/mailwarden.sqlite"
    assert settings.sandbox_port == 8765
    assert (settings.callback_host, settings.callback_port) == ("127.0.0.1", 8766)


def test_env_prefix_overrides_values(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("MAILWARDEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MAILWARDEN_SANDBOX_PORT", "9999")
    monkeypatch.setenv("MAILWARDEN_CALLBACK_HOST", "127.0.0.2")
    monkeypatch.delenv("MAILWARDEN_STORE_URL", raising=False)
    settings = Settings()
    assert settings.sandbox_port == 9999 and settings.callback_host == "127.0.0.2"
    assert settings.effective_store_url == f"sqlite:///{tmp_path / 'mailwarden.sqlite'}"


def test_explicit_store_url_wins(monkeypatch) -> None:
    monkeypatch.setenv("MAILWARDEN_STORE_URL", "postgresql+psycopg://mw@db/mw")
    assert Settings().effective_store_url == "postgresql+psycopg://mw@db/mw"


def test_get_settings_is_cached_until_cleared(monkeypatch) -> None:
    get_settings.cache_clear()
    try:
        first = get_settings()
        monkeypatch.setenv("MAILWARDEN_SANDBOX_PORT", "1234")
        assert get_settings() is first
        get_settings.cache_clear()
        assert get_settings().sandbox_port == 1234
    finally:
        get_settings.cache_clear()
