"""Two tenants at once never see each other's data, and one tenant's credentials never act on the other.

Tenant B connects through its own app registration (as a second MSP customer would), so each
block's credentials are consented in one tenant only. Both tenants are scanned (quarantine
policy) and audited at the same time, on two threads of one process; then every store row,
audit entry, artifact and log line of each tenant is checked for the other tenant's identifiers.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from typing import Any

import pytest
from pydantic import SecretStr

from ._support import (
    QUARANTINE_POLICY,
    SINCE,
    RequestLog,
    artifacts_of,
    audit_rows,
    logs_of,
    rows_naming,
    run_id,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def _own_app_tenant(embedded: Any, tenant_factory: Any) -> tuple[Any, Any]:
    """A tenant that consented only to its own app registration (not to mailwarden's shared ones)."""
    from m365sandbox.core import DEFAULT_TIERS

    from blocks.m365 import M365App

    block, state = tenant_factory(users=12, messages_per_mailbox=5, phishing_rate=0.2, consent=None)
    client_id, secret = str(uuid.uuid4()), secrets.token_urlsafe(32)
    embedded.sandbox.register_app(client_id, secret=secret, redirect_uris=[embedded.redirect_uri],
                                  tiers={"basic": DEFAULT_TIERS["basic"]})
    embedded.sandbox.grant_consent(state.id, client_id, tier="basic")
    app = M365App(client_id=client_id, client_secret=SecretStr(secret), tier="basic")
    return block.model_copy(update={"app": app, "advanced_app": None}), state


def _identifiers(state: Any) -> set[str]:
    """What names a tenant: its id, its domain and every user's object id."""
    return {state.id, state.domain.lower(), *state.users}


def _scan_then_audit(tenant: str) -> dict[str, Any]:
    from flows.historic_scan import historic_scan
    from flows.rules_audit import rules_audit

    scan = historic_scan(tenant=tenant, since=SINCE, policy=QUARANTINE_POLICY, concurrency=3,
                         retry_delay_seconds=0, return_state=True)
    audit = rules_audit(tenant=tenant, concurrency=3, return_state=True)
    return {"scan": scan, "audit": audit}


def test_two_tenants_scanned_and_audited_at_once_see_only_their_own_data(
        embedded: Any, tenant_factory: Any) -> None:
    from flows.reconciliation import reconcile_licenses

    block_a, state_a = tenant_factory(users=12, messages_per_mailbox=5, phishing_rate=0.2)
    block_b, state_b = _own_app_tenant(embedded, tenant_factory)
    for block in (block_a, block_b):
        block.save(block.block_name, overwrite=True)
        reconcile_licenses(tenant=block.primary_domain)

    runs: dict[str, dict[str, Any]] = {}

    def go(name: str, tenant: str) -> None:
        runs[name] = {"state": _scan_then_audit(tenant)}

    threads = [threading.Thread(target=go, args=(name, block.primary_domain), daemon=True)
               for name, block in (("a", block_a), ("b", block_b))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(240)
        assert not th.is_alive(), "a tenant's runs did not finish"

    for name, state, other in (("a", state_a, state_b), ("b", state_b, state_a)):
        states = runs[name]["state"]
        assert all(s.is_completed() for s in states.values()), states
        scan = states["scan"].result()
        assert scan["tenant_id"] == state.id and scan["actions"].get("quarantine:done", 0) > 0
        assert {r["mailbox"] for r in scan["rows"]} <= set(state.users)
        assert {f["mailbox"] for f in states["audit"].result()["suspicious"]} <= set(state.users)

        foreign = _identifiers(other)
        # the store: every row of this tenant names only its own mailboxes
        for table, rows in rows_naming(state.id).items():
            for row in rows:
                assert not any(x in row.lower() for x in foreign), f"{table} row of {state.domain} names {other.domain}"
        audit = audit_rows(state.id)
        assert audit and {r.mailbox_id for r in audit} <= set(state.users)
        # the run's artifacts and logs: nothing of the other tenant
        ids = [run_id(s) for s in states.values()]
        texts = [f"{a.data} {a.description}" for a in artifacts_of(ids)] + logs_of(ids)
        assert len(texts) > 10
        for text in texts:
            assert not any(x in text.lower() for x in foreign), f"{state.domain}'s run shows {other.domain}: {text}"
        # and the other tenant's sandbox state was not touched by this tenant's runs
        assert not any(a.mailbox_id in other.users for a in audit)


def test_a_tenants_credentials_are_refused_by_the_other_tenant_before_any_api_call(
        embedded: Any, tenant_factory: Any) -> None:
    from flows.historic_scan import historic_scan
    from flows.reconciliation import reconcile_licenses
    from mailwarden.graph import AuthenticationError

    block_a, state_a = tenant_factory(users=10, messages_per_mailbox=2)
    block_b, state_b = _own_app_tenant(embedded, tenant_factory)
    block_a.save(block_a.block_name, overwrite=True)
    reconcile_licenses(tenant=block_a.primary_domain)
    before = rows_naming(state_b.id)

    with RequestLog(embedded.sandbox).watching() as requests:
        # A's app registration, pointed at B's tenant id: B never consented to it
        with pytest.raises(AuthenticationError), \
                block_a.model_copy(update={"tenant_id": state_b.id}).graph_client() as client:
            client.get("/users")
        # and B's own app pointed at A
        with pytest.raises(AuthenticationError), \
                block_b.model_copy(update={"tenant_id": state_a.id}).graph_client() as client:
            client.get("/users")
        # a tampered block saved for a flow: the run fails and stores nothing for B
        forged = block_a.model_copy(update={"tenant_id": state_b.id, "primary_domain": f"forged-{state_b.domain}"})
        forged.save(forged.block_name, overwrite=True)
        state = reconcile_licenses(tenant=forged.block_name, return_state=True)
        assert state.is_failed()
        # A's flows refuse B's mailboxes by parameter
        with pytest.raises(ValueError, match="not a mailbox"):
            historic_scan(tenant=block_a.primary_domain, since=SINCE, mailboxes=[next(iter(state_b.users))])
    assert requests.counts[state_b.id] == 0 and requests.counts[state_a.id] == 0
    assert rows_naming(state_b.id) == before
