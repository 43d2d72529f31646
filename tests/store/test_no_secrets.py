"""Nothing secret lands in the store: a known state, clientState and passwords are never stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect, text

from mailwarden.store import Store
from mailwarden.store.repositories import (
    create_consent_request,
    save_directory,
    save_subscription,
    upsert_tenant,
)

STATE = "known-oauth-state-7f3a9c"
CLIENT_STATE = "known-client-state-51d2e0"
PASSWORD = "known-db-password-93b1"
USER_PASSWORD = "known-user-password-0c4e"
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def _all_text(store: Store) -> str:
    chunks: list[str] = []
    with store.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                chunks.extend(str(value) for value in row)
    return "\n".join(chunks)


def test_no_table_contains_a_state_client_state_or_password(store: Store) -> None:
    with store.session() as s:
        upsert_tenant(s, "t1", "contoso.example", store_url=f"postgresql://mw:{PASSWORD}@db.example/mw")
        create_consent_request(s, STATE, "contoso.example", flow_run_id="run-1", now=NOW)
        save_subscription(
            s,
            "t1",
            "mbx",
            "sub-1",
            resource="r",
            client_state=CLIENT_STATE,
            expires_at=NOW + timedelta(days=1),
        )
        save_directory(
            s,
            "t1",
            [{"object_id": "u1", "kind": "user", "raw": {"passwordProfile": {"password": USER_PASSWORD}}}],
        )
    dump = _all_text(store)
    assert "contoso.example" in dump and "sub-1" in dump  # the scan does see the rows
    for secret in (STATE, CLIENT_STATE, PASSWORD, USER_PASSWORD):
        assert secret not in dump
