"""mailwarden.store.repositories.tenants: the tenant registry."""

from __future__ import annotations

import pytest

from mailwarden.store import Store
from mailwarden.store.errors import RecordNotFound
from mailwarden.store.repositories import (
    get_tenant,
    list_tenants,
    offboard_tenant,
    set_consent_state,
    upsert_tenant,
)

TID = "A1B2C3D4-0000-4000-8000-000000000001"


def test_upsert_creates_then_updates_one_tenant(store: Store) -> None:
    with store.session() as s:
        upsert_tenant(s, TID, "Contoso.example", cloud="global", tier="basic", block_name="m365-contoso")
    with store.session() as s:
        t = upsert_tenant(s, TID, "contoso.example", tier="advanced")
        assert (t.id, t.tier, t.block_name) == (TID.lower(), "advanced", "m365-contoso")
    with store.session() as s:
        assert len(list_tenants(s)) == 1


def test_get_tenant_by_id_or_domain_case_insensitively(store: Store) -> None:
    with store.session() as s:
        upsert_tenant(s, TID, "contoso.example")
    with store.session() as s:
        assert get_tenant(s, TID) is not None
        t = get_tenant(s, "CONTOSO.example")
        assert t is not None and t.id == TID.lower()
        assert get_tenant(s, "fabrikam.example") is None


def test_tenant_store_url_is_kept_without_its_password(store: Store) -> None:
    with store.session() as s:
        t = upsert_tenant(s, TID, "contoso.example", store_url="postgresql://mw:s3cr3t-pw@eu-db.example/mw")
        assert t.store_url == "postgresql+psycopg://mw@eu-db.example/mw"


def test_consent_state_and_offboarding(store: Store) -> None:
    with store.session() as s:
        upsert_tenant(s, TID, "contoso.example")
        t = set_consent_state(s, TID, "consented")
        assert t.consented_at is not None
        offboard_tenant(s, TID)
    with store.session() as s:
        assert list_tenants(s) == []
        assert [t.consent_state for t in list_tenants(s, include_offboarded=True)] == ["offboarded"]
        with pytest.raises(RecordNotFound):
            set_consent_state(s, "unknown", "consented")
        with pytest.raises(TypeError):
            upsert_tenant(s, TID, "contoso.example", client_secret="nope")
