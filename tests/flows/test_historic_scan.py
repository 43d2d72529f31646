"""Flow ``historic-scan`` against the sandbox tenant: recall, policy actions, faults, resume."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("prefect_harness")
SINCE = datetime(2000, 1, 1, tzinfo=UTC)
_USER = re.compile(r"^/v1\.0/users/([^/]+)/(messages|mailFolders)")


class Counting(httpx.HTTPTransport):
    """An HTTPS transport counting mailbox requests per mailbox id."""

    def __init__(self, counts: Counter[str], **kw: Any) -> None:
        super().__init__(**kw)
        self.counts = counts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        m = _USER.match(request.url.path)
        if m:
            self.counts[m.group(1).lower()] += 1
        return super().handle_request(request)


@pytest.fixture
def mailbox_requests(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Requests per mailbox sent by the flow's Graph client; client retries never really sleep."""
    from blocks.m365 import M365Tenant
    from mailwarden.graph import RetryPolicy

    counts: Counter[str] = Counter()
    original = M365Tenant.graph_client

    def patched(self: Any, tier: str = "basic", **kw: Any) -> Any:
        kw.setdefault("transport", Counting(counts, verify=self.ca_file))
        kw.setdefault("retry", RetryPolicy(max_attempts=4, sleep=lambda s: None))
        return original(self, tier, **kw)

    monkeypatch.setattr(M365Tenant, "graph_client", patched)
    return counts


def _tenant(tenant_factory: Any, **kw: Any) -> tuple[Any, Any]:
    from flows.reconciliation import reconcile_licenses

    kw.setdefault("users", 16)
    kw.setdefault("messages_per_mailbox", 8)
    block, state = tenant_factory(**kw)
    block.save(block.block_name, overwrite=True)
    reconcile_licenses(tenant=block.primary_domain)  # the address book the scan reads
    return block, state


def _scan(block: Any, **kw: Any) -> dict[str, Any]:
    from flows.historic_scan import historic_scan

    kw.setdefault("since", SINCE)
    kw.setdefault("retry_delay_seconds", 0)
    kw.setdefault("concurrency", 4)
    return historic_scan(tenant=block.primary_domain, **kw)


def _findings(block: Any, scope: str) -> list[Any]:
    from mailwarden.store.repositories import list_findings
    from tasks.common import store_for

    with store_for(block).session() as s:
        return list_findings(s, scan_id=scope)


def _checkpoints(block: Any, scope: str) -> dict[str, Any]:
    from mailwarden.store.repositories import list_checkpoints
    from tasks.common import store_for

    with store_for(block).session() as s:
        return {c.mailbox_id: (c.state, c.messages_seen, c.error) for c in list_checkpoints(s, scope)}


def test_scan_finds_planted_phishing_with_high_recall_and_few_false_positives(
        tenant_factory: Any, mailbox_requests: Counter[str]) -> None:
    block, state = _tenant(tenant_factory, users=24, messages_per_mailbox=10, phishing_rate=0.15)
    out = _scan(block)
    scanned = {r["mailbox"] for r in out["rows"] if r["status"] == "done"}
    assert scanned and not out["failed"]
    # the shared mailboxes are scanned too
    shared = {oid for oid, r in state.recipients.items() if r.get("RecipientTypeDetails") == "SharedMailbox"}
    assert shared and shared <= scanned
    # ground truth is computed here, from the sandbox, never by the product
    truth = state.truth
    in_scope = {mid for mb in scanned for mid in state.mailboxes[mb].ids_in(None)}
    malicious, benign = truth.malicious_message_ids & in_scope, truth.benign_message_ids & in_scope
    flagged = {f.message_id for f in _findings(block, out["scope"]) if f.category in ("malicious", "suspicious")}
    recall = len(malicious & flagged) / len(malicious)
    fp_rate = len(benign & flagged) / len(benign)
    print(f"recall={recall:.3f} ({len(malicious)} malicious) fp_rate={fp_rate:.3f} ({len(benign)} benign)")
    assert len(malicious) >= 10
    assert recall >= 0.90
    assert fp_rate <= 0.02


def test_policy_quarantines_malicious_once_and_a_rerun_resumes_without_rescanning(
        tenant_factory: Any, mailbox_requests: Counter[str]) -> None:
    from mailwarden.mailbox import QUARANTINE_FOLDER
    from mailwarden.store.repositories import list_actions
    from tasks.common import store_for

    block, state = _tenant(tenant_factory, phishing_rate=0.2)
    policy = {"actions": {"malicious": "quarantine"}}
    first = _scan(block, policy=policy)
    assert first["actions"].get("quarantine:done", 0) == first["categories"].get("malicious", 0) > 0
    with store_for(block).session() as s:
        actions = list_actions(s, state.id, target_kind="message")
    assert len(actions) == first["categories"]["malicious"]
    for a in actions:  # every quarantined message sits in the quarantine folder under its new id
        mb = state.mailboxes[a.mailbox_id]
        assert mb.folders[mb.items[a.details["new_message_id"]].folder]["displayName"] == QUARANTINE_FOLDER

    mailbox_requests.clear()
    again = _scan(block, policy=policy)
    assert again["scope"] == first["scope"]
    assert sorted(again["resumed"]) == sorted(r["mailbox"] for r in first["rows"])
    assert sum(mailbox_requests.values()) == 0  # nothing read again
    with store_for(block).session() as s:
        assert len(list_actions(s, state.id, target_kind="message")) == len(actions)
    progress = [r for r in again["rows"] if r["skipped"]]
    assert progress


def test_scan_survives_faults_and_accounts_for_every_message_of_healthy_mailboxes(
        embedded: Any, tenant_factory: Any, mailbox_requests: Counter[str]) -> None:
    block, state = _tenant(tenant_factory)
    mailboxes = sorted(state.truth.protected_mailboxes)
    gone = mailboxes[0]
    faults = embedded.sandbox.faults
    faults.inject("429", tenant=state.id, count=3, retry_after=0)
    faults.inject("503", tenant=state.id, count=2)
    faults.inject("reset", tenant=state.id, count=2)
    faults.inject("mailbox_404", tenant=state.id, mailbox=gone)
    faults.inject("expire_tokens", tenant=state.id)
    try:
        out = _scan(block)
    finally:
        faults.clear()
    assert set(out["failed"]) == {gone}
    assert "NotFound" in out["failed"][gone]
    cps = _checkpoints(block, out["scope"])
    assert cps[gone][0] == "failed" and cps[gone][2]
    for mb, (st, seen, _) in cps.items():
        if mb != gone:
            assert st == "done"
            assert seen == len(state.mailboxes[mb].ids_in(None)), mb


def test_rerun_after_a_failed_mailbox_scans_only_that_mailbox_and_acts_once(
        embedded: Any, tenant_factory: Any, mailbox_requests: Counter[str]) -> None:
    from mailwarden.store.repositories import list_actions
    from tasks.common import store_for

    block, state = _tenant(tenant_factory, phishing_rate=0.25)
    policy = {"actions": {"malicious": "move_to_junk"}}
    victim = sorted(state.truth.protected_mailboxes)[1]
    fault = embedded.sandbox.faults.inject("mailbox_404", tenant=state.id, mailbox=victim)
    first = _scan(block, policy=policy)
    embedded.sandbox.faults.clear(fault.id)
    assert set(first["failed"]) == {victim}
    with store_for(block).session() as s:
        acted_before = len(list_actions(s, state.id, target_kind="message"))

    mailbox_requests.clear()
    second = _scan(block, policy=policy)
    assert not second["failed"]
    assert {m for m, n in mailbox_requests.items() if n} == {victim.lower()}
    assert set(second["resumed"]) == {r["mailbox"] for r in first["rows"]} - {victim}
    with store_for(block).session() as s:
        keys = [a.idempotency_key for a in list_actions(s, state.id, target_kind="message")]
    assert len(keys) == len(set(keys)) == acted_before + second["actions"].get("move_to_junk:done", 0)
    cps = _checkpoints(block, second["scope"])
    assert cps[victim][0] == "done"


def test_checkpoints_marked_done_before_the_run_are_not_scanned(
        tenant_factory: Any, mailbox_requests: Counter[str]) -> None:
    from mailwarden.scan import ALL_FOLDERS, ScanPolicy, scan_id_for, scan_window
    from mailwarden.store.repositories import mark_checkpoint_done
    from tasks.common import store_for

    block, state = _tenant(tenant_factory)
    scope = scan_id_for(block.tenant_id, scan_window(None, SINCE), None, ScanPolicy())
    done = sorted(state.truth.protected_mailboxes)[:3]
    with store_for(block).session() as s:
        for mb in done:
            mark_checkpoint_done(s, block.tenant_id, scope, mb, ALL_FOLDERS, messages_seen=1)
        s.commit()
    out = _scan(block)
    assert out["scope"] == scope
    assert sorted(out["resumed"]) == done
    assert not any(mailbox_requests[mb.lower()] for mb in done)
    assert all(mailbox_requests[r["mailbox"].lower()] for r in out["rows"] if r["mailbox"] not in done)


def test_progress_reaches_100_and_the_summary_reports_the_failed_mailbox(
        embedded: Any, tenant_factory: Any, mailbox_requests: Counter[str]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter

    from tasks.common import artifact_key

    block, state = _tenant(tenant_factory)
    gone = sorted(state.truth.protected_mailboxes)[2]
    fault = embedded.sandbox.faults.inject("mailbox_404", tenant=state.id, mailbox=gone)
    try:
        out = _scan(block, folders=["inbox"])
    finally:
        embedded.sandbox.faults.clear(fault.id)
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(), limit=200)
        run = next(r for r in runs if r.parameters.get("tenant") == block.primary_domain
                   and r.flow_id and r.parameters.get("folders") == ["inbox"])
        arts = {a.key: a for a in client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))}
    assert float(arts[artifact_key("historic-scan-progress", block)].data) == 100.0
    summary = str(arts[artifact_key("historic-scan-summary", block)].data)
    assert gone in summary and "Failed mailboxes" in summary
    table = arts[artifact_key("historic-scan-mailboxes", block)].data
    rows = table if isinstance(table, list) else json.loads(table)
    assert [list(r)[:2] for r in rows] == [["address", "mailbox"]] * len(rows)  # the address first, the id after
    addresses = {r["mailbox"]: r["address"] for r in rows}
    assert all("@" in a for a in addresses.values()) and addresses[gone] != gone
    assert state.users[gone]["mail"].lower() == addresses[gone]
    assert sum(out["categories"].values()) == out["messages"]
