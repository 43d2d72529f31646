"""What every flow needs first: the tenant's block, its store, its clients, the current run's id;
and the retry condition of every task that talks to Microsoft."""

from __future__ import annotations

import atexit
import functools
import hashlib
import threading
from typing import Any, cast

from blocks.m365 import M365Tenant, Tier, tenant_block_name
from mailwarden.exchange import ExchangeClient
from mailwarden.graph import TRANSIENT, GraphClient
from mailwarden.settings import get_settings
from mailwarden.store import Store, open_store


def is_transient(exc: BaseException | None) -> bool:
    """Whether a failure is worth retrying (transport, throttling, service unavailable)."""
    return isinstance(exc, TRANSIENT)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn``: retry only transient Graph/Exchange failures (a bad parameter, a
    missing consent or a gone mailbox fails at once)."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - the task's own exception, re-raised by its state
        return is_transient(exc)
    return False


def load_tenant(tenant: str) -> M365Tenant:
    """Load a tenant's block by its block name or its primary domain; a clear error if unknown.

    A tenant id, or a tenant onboarded before block names became injective (``foo-bar.com`` was
    ``foo-bar-com``), is found through its store row, and only if the block is that tenant's.
    """
    if not tenant or not tenant.strip():
        raise ValueError("tenant is required (its block name or primary domain)")
    name = tenant_block_name(tenant.strip())
    try:
        return cast(M365Tenant, M365Tenant.load(name))
    except ValueError as exc:
        block = _registered_block(tenant.strip())
        if block is not None:
            return block
        raise ValueError(f"no connected tenant named {tenant!r}: onboard it first") from exc


def _registered_block(ref: str) -> M365Tenant | None:
    """The block of the store's tenant ``ref`` (an id or a domain): under the row's block name, else
    under its domain's; accepted only when the block names that tenant."""
    from mailwarden.store.repositories import get_tenant

    with store_for(None).session() as session:
        row = get_tenant(session, ref)
        if row is None or row.offboarded_at is not None:
            return None
        tenant_id = str(row.id).lower()
        names = [n for n in (row.block_name, tenant_block_name(row.primary_domain)) if n]
    for name in dict.fromkeys(names):
        try:
            block = cast(M365Tenant, M365Tenant.load(name))
        except ValueError:
            continue
        if block.tenant_id == tenant_id:
            return block
    return None


def artifact_key(kind: str, tenant: M365Tenant | str) -> str:
    """``<kind>-<tenant slug>``: one artifact history per tenant (slug as in the tenant's block name).

    Prefect keys allow lower-case letters, digits and dashes only; anything else becomes a dash.
    """
    slug = tenant.block_name if isinstance(tenant, M365Tenant) else tenant_block_name(tenant)
    return tenant_block_name(f"{kind}-{slug}")


def store_for(tenant: M365Tenant | None = None) -> Store:
    """The tenant's own store (data residency) if it has one, else the default store; migrated."""
    url = None
    if tenant is not None and tenant.store_url is not None:
        url = tenant.store_url.get_secret_value() or None
    with _migrate_lock:  # Alembic's context is process-global: threads of a fresh process must not race
        return _migrated(url or get_settings().effective_store_url)


_migrate_lock = threading.Lock()


@functools.lru_cache(maxsize=32)
def _migrated(url: str) -> Store:
    store = open_store(url)
    store.migrate()
    return store


_clients: dict[tuple[str, str, str], tuple[str, Any]] = {}
_retired: list[tuple[str, Any]] = []  # (tenant id, client) replaced while other threads may use it
_clients_lock = threading.Lock()


def graph_client_for(block: M365Tenant, tier: Tier = "basic") -> GraphClient:
    """This process's Graph client for (tenant, tier), built on first use and shared by its threads.

    Tasks call it when the flow passes no client: on a Dask worker clients cannot be shipped, so
    each worker process builds its own once (one token cache, one connection pool per process).
    """
    return cast(GraphClient, _cached_client(block, tier, "graph"))


def exchange_client_for(block: M365Tenant, tier: Tier = "basic") -> ExchangeClient:
    """This process's Exchange admin API client for (tenant, tier); see :func:`graph_client_for`."""
    return cast(ExchangeClient, _cached_client(block, tier, "exchange"))


def _cached_client(block: M365Tenant, tier: Tier, kind: str) -> Any:
    # The fingerprint covers credentials and hosts (the server's, see blocks.m365.server_endpoints):
    # a rotated secret or a moved host builds a new client.
    from blocks.m365 import server_ca_file, server_endpoints

    blob = block.model_dump_json(context={"include_secrets": True}) + repr(
        (server_endpoints(block.cloud), server_ca_file()))
    fingerprint = hashlib.sha256(blob.encode()).hexdigest()
    key = (block.tenant_id, tier, kind)
    with _clients_lock:
        cached = _clients.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        client = block.graph_client(tier) if kind == "graph" else block.exchange_client(tier)
        _clients[key] = (fingerprint, client)
        if cached is not None:  # other threads may still use it: closed at exit (or at offboarding)
            _retired.append((block.tenant_id, cached[1]))
    return client


@atexit.register
def close_cached_clients() -> None:
    """Close every client :func:`graph_client_for` and :func:`exchange_client_for` made in this process."""
    with _clients_lock:
        clients = [c for _, c in _clients.values()] + [c for _, c in _retired]
        _clients.clear()
        _retired.clear()
    for client in clients:
        client.close()


def drop_tenant_clients(tenant_id: str) -> int:
    """Close and forget this process's cached clients of one tenant (every tier and kind, retired
    ones too); other tenants' stay. Returns how many were closed."""
    tenant_id = tenant_id.strip().lower()
    with _clients_lock:
        keys = [k for k in _clients if k[0] == tenant_id]
        clients = [_clients.pop(k)[1] for k in keys]
        clients += [c for t, c in _retired if t == tenant_id]
        _retired[:] = [(t, c) for t, c in _retired if t != tenant_id]
    for client in clients:
        client.close()
    return len(clients)


def forget_tenant_clients(block: M365Tenant) -> dict[str, int]:
    """Offboarding: drop everything this process keeps to act for the tenant.

    Its cached Graph and Exchange clients are closed, its msal token caches (every app, tier and
    cloud) are dropped and its on-premises EWS connections closed. Counts per kind.
    """
    from mailwarden.graph import drop_token_caches
    from mailwarden.mailbox.ews import drop_connections

    ews = block.ews_settings()
    return {"clients": drop_tenant_clients(block.tenant_id),
            "token_caches": drop_token_caches(block.tenant_id, block.primary_domain),
            "ews_connections": drop_connections(ews) if ews is not None else 0}


def current_flow_run_id() -> str | None:
    """The id of the flow run we are in, for the audit log (None outside a run)."""
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    return str(run_id) if run_id else None
