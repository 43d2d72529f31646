"""What every flow needs first: the tenant's block, its store, the current run's id."""

from __future__ import annotations

import functools
from typing import cast

from blocks.m365 import M365Tenant, tenant_block_name
from mailwarden.settings import get_settings
from mailwarden.store import Store, open_store


def load_tenant(tenant: str) -> M365Tenant:
    """Load a tenant's block by its block name or its primary domain; a clear error if unknown."""
    if not tenant or not tenant.strip():
        raise ValueError("tenant is required (its block name or primary domain)")
    name = tenant_block_name(tenant.strip())
    try:
        return cast(M365Tenant, M365Tenant.load(name))
    except ValueError as exc:
        raise ValueError(f"no connected tenant named {tenant!r}: onboard it first") from exc


def store_for(tenant: M365Tenant | None = None) -> Store:
    """The tenant's own store (data residency) if it has one, else the default store; migrated."""
    url = None
    if tenant is not None and tenant.store_url is not None:
        url = tenant.store_url.get_secret_value() or None
    return _migrated(url or get_settings().effective_store_url)


@functools.lru_cache(maxsize=32)
def _migrated(url: str) -> Store:
    store = open_store(url)
    store.migrate()
    return store


def current_flow_run_id() -> str | None:
    """The id of the flow run we are in, for the audit log (None outside a run)."""
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    return str(run_id) if run_id else None
