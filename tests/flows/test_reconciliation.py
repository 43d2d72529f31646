"""Flow ``reconcile-licenses`` against the sandbox tenant: counts, delta runs, faults, alerts."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def embedded(session_data_dir: Any) -> Any:
    """A sandbox of this module's own (its request counts are this module's only)."""
    from deployments.embedded import EmbeddedSandbox

    env = EmbeddedSandbox(session_data_dir / "reconciliation", port=0, profile="fast").start()
    try:
        with env.server_settings():  # this module's sandbox is the configured one while it runs
            yield env
    finally:
        env.stop()


class Recorder(httpx.HTTPTransport):
    """An HTTPS transport that notes every request (method, path, query, cmdlet)."""

    def __init__(self, log: list[dict[str, Any]], **kw: Any) -> None:
        super().__init__(**kw)
        self.log = log

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        entry: dict[str, Any] = {"method": request.method, "path": request.url.path,
                                 "params": dict(request.url.params)}
        if request.url.path.endswith("/InvokeCommand"):
            import json

            body = json.loads(request.content or b"{}").get("CmdletInput", {})
            entry["cmdlet"] = body.get("CmdletName")
            entry["cmdlet_params"] = body.get("Parameters")
        self.log.append(entry)
        return super().handle_request(request)


@pytest.fixture
def requests_seen(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every Graph/Exchange request the flow's clients send; client retries never really sleep."""
    from blocks.m365 import M365Tenant
    from mailwarden.graph import RetryPolicy

    log: list[dict[str, Any]] = []
    graph_client, exchange_client = M365Tenant.graph_client, M365Tenant.exchange_client

    def fast(kw: dict[str, Any], block: Any) -> dict[str, Any]:
        kw.setdefault("transport", Recorder(log, verify=block.ca_file))
        kw.setdefault("retry", RetryPolicy(max_attempts=3, sleep=lambda s: None))
        return kw

    monkeypatch.setattr(M365Tenant, "graph_client",
                        lambda self, tier="basic", **kw: graph_client(self, tier, **fast(kw, self)))
    monkeypatch.setattr(M365Tenant, "exchange_client",
                        lambda self, tier="basic", **kw: exchange_client(self, tier, **fast(kw, self)))
    import flows.reconciliation as flow_mod

    # task retries without the production back-off (5/20/60 s)
    monkeypatch.setattr(flow_mod, "sync_directory_task",
                        flow_mod.sync_directory_task.with_options(retry_delay_seconds=0))
    return log


@pytest.fixture
def tenant(tenant_factory: Any) -> tuple[Any, Any]:
    block, state = tenant_factory(users=60, consent="basic")
    block.save(block.block_name, overwrite=True)
    return block, state


def _run(block: Any, **kw: Any) -> dict[str, Any]:
    from flows.reconciliation import reconcile_licenses

    return reconcile_licenses(tenant=block.primary_domain, **kw)


def _latest(block: Any) -> tuple[Any, list[Any], list[Any]]:
    from mailwarden.store.repositories import latest_license_snapshot, snapshot_diffs, snapshot_items
    from tasks.common import store_for

    with store_for(block).session() as s:
        snap = latest_license_snapshot(s, block.tenant_id)
        assert snap is not None
        return snap, snapshot_items(s, snap.id), snapshot_diffs(s, snap.id)


def test_first_run_counts_equal_the_sandbox_ground_truth(tenant: tuple[Any, Any],
                                                        requests_seen: list[dict[str, Any]]) -> None:
    block, state = tenant
    out = _run(block)
    assert out["mode"] == "full"
    assert out["protected"] == len(state.truth.protected_mailboxes)
    snap, items, diffs = _latest(block)
    assert {i.object_id for i in items if i.counted} == state.truth.protected_mailboxes
    assert snap.complete and diffs == []
    # a mix the count had to see through
    types = {r.get("RecipientTypeDetails") for r in state.recipients.values()}
    assert {"SharedMailbox", "UserMailbox"} <= types
    assert any(u.get("accountEnabled") is False for u in state.users.values())
    assert any(u.get("userType") == "Guest" for u in state.users.values())
    paths = {r["path"] for r in requests_seen}
    assert "/v1.0/users/delta" in paths and "/v1.0/groups/delta" in paths
    assert not any(p.endswith("/transitiveMembers") for p in paths)


def test_address_book_loads_from_the_store_after_a_run(tenant: tuple[Any, Any],
                                                      requests_seen: list[dict[str, Any]]) -> None:
    from mailwarden.directory import AddressBook
    from tasks.common import store_for

    block, state = tenant
    _run(block)
    with store_for(block).session() as s:
        book = AddressBook.load(s, block.tenant_id)
    user = next(u for u in state.users.values() if len(u.get("proxyAddresses") or []) > 1
                and u["id"] in state.truth.protected_mailboxes)
    for proxy in user["proxyAddresses"]:
        if proxy.lower().startswith("smtp:"):
            assert book.resolve(proxy.split(":", 1)[1].upper()) == {user["id"]}
    assert book.is_internal(f"someone@{state.domain}")
    assert book.executives() >= state.truth.executives & set(state.users)


def _add_user(state: Any) -> str:
    uid = str(uuid.uuid4())
    addr = f"new.hire.{uid[:6]}@{state.domain}"
    sku = state.skus[0]["skuId"]
    with state.lock:
        state.users[uid] = {
            "id": uid, "displayName": "New Hire", "userPrincipalName": addr, "mail": addr,
            "proxyAddresses": [f"SMTP:{addr}"], "accountEnabled": True, "userType": "Member",
            "assignedLicenses": [{"skuId": sku, "disabledPlans": []}], "jobTitle": "Analyst",
            "onPremisesSyncEnabled": None}
        state.recipients[uid] = {"RecipientTypeDetails": "UserMailbox", "RecipientType": "UserMailbox",
                                 "PrimarySmtpAddress": addr, "EmailAddresses": [f"SMTP:{addr}"]}
        state.record("user", uid)
        state.reindex()
    return uid


def test_next_run_reports_exactly_the_changes_using_delta_queries(
        tenant: tuple[Any, Any], requests_seen: list[dict[str, Any]]) -> None:
    block, state = tenant
    first = _run(block)
    protected = sorted(state.truth.protected_mailboxes)
    gone, aliased = protected[0], protected[1]
    groups_of_gone = {g for g, m in state.members.items() if gone in m}
    target = next(g for g, m in state.members.items() if aliased not in m and g not in groups_of_gone)
    new = _add_user(state)
    state.delete_user(gone)
    proxies = [*state.users[aliased]["proxyAddresses"], f"smtp:alias.{aliased[:6]}@{state.domain}"]
    state.update_user(aliased, {"proxyAddresses": proxies})
    state.add_member(target, aliased)
    requests_seen.clear()

    out = _run(block)
    assert out["mode"] == "delta"
    assert out["protected"] == first["protected"]  # one in, one out
    _, items, diffs = _latest(block)
    got = {(d.change, d.object_id) for d in diffs}
    expected = {("added", new), ("removed", gone), ("changed", aliased), ("changed", target)}
    expected |= {("changed", g) for g in groups_of_gone}
    assert got == expected
    alias_diff = next(d for d in diffs if d.object_id == aliased)
    assert alias_diff.details["aliases_added"] == [f"alias.{aliased[:6]}@{state.domain}"]
    assert next(d for d in diffs if d.object_id == target).details["members_added"] == [aliased]
    assert {i.object_id for i in items if i.counted} == (set(protected) - {gone}) | {new}

    graph = [r for r in requests_seen if r["path"].startswith("/v1.0/")]
    deltas = [r for r in graph if r["path"] in ("/v1.0/users/delta", "/v1.0/groups/delta")]
    assert len(deltas) == 2 and all("$deltatoken" in r["params"] for r in deltas)
    assert not any(r["path"] in ("/v1.0/users", "/v1.0/groups") for r in graph)
    cmdlets = [r for r in requests_seen if r.get("cmdlet")]
    assert [c["cmdlet_params"] for c in cmdlets] == [{"Identity": new}]  # only the new mailbox


def test_expired_delta_token_falls_back_to_a_full_sync(
        tenant: tuple[Any, Any], requests_seen: list[dict[str, Any]], embedded: Any) -> None:
    block, state = tenant
    _run(block)
    embedded.sandbox.expire_delta_tokens(state.id)
    out = _run(block)
    assert out["mode"] == "full" and "expired" in out["fallback_reason"]
    assert out["protected"] == len(state.truth.protected_mailboxes)
    assert out["diff"] == {"added": 0, "removed": 0, "changed": 0, "groups_changed": 0}


def test_transient_faults_are_retried_and_the_snapshot_is_complete(
        tenant: tuple[Any, Any], requests_seen: list[dict[str, Any]], embedded: Any) -> None:
    block, state = tenant
    # 3 failures exhaust one request's client budget (3 attempts): the task retries and succeeds
    embedded.sandbox.faults.inject("503", tenant=state.id, count=3)
    embedded.sandbox.faults.inject("429", tenant=state.id, count=2, retry_after=0)
    out = _run(block)
    assert out["protected"] == len(state.truth.protected_mailboxes)
    snap, items, _ = _latest(block)
    assert snap.complete and sum(i.counted for i in items) == out["protected"]


def test_a_sync_that_keeps_failing_leaves_the_previous_snapshot_and_tokens(
        tenant: tuple[Any, Any], requests_seen: list[dict[str, Any]], embedded: Any) -> None:
    from mailwarden.directory import delta_links
    from tasks.common import store_for

    block, state = tenant
    _run(block)
    before, _, _ = _latest(block)
    with store_for(block).session() as s:
        links_before = delta_links(s, block.tenant_id)
    _add_user(state)
    # the delta succeeds, then every later request is cut mid-body
    fault = embedded.sandbox.faults.inject("truncate", tenant=state.id)
    try:
        with pytest.raises(Exception):  # noqa: B017 - whichever transport error surfaces
            _run(block)
    finally:
        embedded.sandbox.faults.clear(fault.id if fault else None)
    after, _, _ = _latest(block)
    assert after.id == before.id and after.protected_count == before.protected_count
    with store_for(block).session() as s:
        assert delta_links(s, block.tenant_id) == links_before
    out = _run(block)  # and the next run picks the change up from the kept tokens
    assert out["mode"] == "delta" and out["diff"]["added"] == 1


def test_seats_exceeded_notifies_the_named_block(
        tenant: tuple[Any, Any], requests_seen: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.reconciliation as flow_mod

    sent: list[tuple[str, str, str]] = []
    monkeypatch.setattr(flow_mod, "notify_task", lambda target, subject, body: sent.append(
        (target, subject, body)) or True)
    block, _ = tenant
    out = _run(block, seats=1, notify="ops-alerts")
    assert out["seats"] == 1 and out["seats_source"] == "parameter"
    assert out["notified"] and len(sent) == 1
    assert sent[0][0] == "ops-alerts" and "exceed the 1 seats" in sent[0][2]
    # within the seats and no change: no notification
    sent.clear()
    out = _run(block, seats=10_000, notify="ops-alerts")
    assert out["alerts"] == [] and sent == []


def test_seats_default_to_the_mailbox_skus_then_to_the_previous_snapshot(
        tenant: tuple[Any, Any], requests_seen: list[dict[str, Any]]) -> None:
    from mailwarden.directory import mailbox_seats

    block, state = tenant
    first = _run(block)
    assert first["seats_source"] in ("subscribed SKUs", "unknown")
    assert first["seats"] == mailbox_seats(state.skus)
    second = _run(block)
    assert second["seats_source"] == "previous snapshot" and second["seats"] == first["seats"]


def test_bad_parameters_fail_before_any_request(tenant: tuple[Any, Any],
                                                requests_seen: list[dict[str, Any]]) -> None:
    block, _ = tenant
    with pytest.raises(Exception, match=r"seats|greater"):
        _run(block, seats=-1)
    with pytest.raises(ValueError, match="no connected tenant"):
        from flows.reconciliation import reconcile_licenses

        reconcile_licenses(tenant="not-onboarded.example")
    assert requests_seen == []
