"""Flows ``threat-response`` and ``restore`` against the sandbox tenant's planted campaign."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tasks.common import artifact_key
from tests._policy import UNATTENDED_RESPONSE, save_policy
from tests.conftest import awaits_input
from tests.flows._artifacts import latest_table

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def fast_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    from blocks.m365 import M365Tenant
    from mailwarden.graph import RetryPolicy

    original = M365Tenant.graph_client

    def patched(self: Any, tier: str = "basic", **kw: Any) -> Any:
        kw.setdefault("retry", RetryPolicy(max_attempts=4, sleep=lambda s: None))
        return original(self, tier, **kw)

    monkeypatch.setattr(M365Tenant, "graph_client", patched)


@pytest.fixture
def campaign(tenant_factory: Any, fast_clients: None) -> tuple[Any, Any, str, list[tuple[str, str]]]:
    from flows.reconciliation import reconcile_licenses

    block, state = tenant_factory(users=14, messages_per_mailbox=5, phishing_rate=0.2)
    block.save(block.block_name, overwrite=True)
    save_policy(block, **UNATTENDED_RESPONSE)  # the operator lets these tests act without an approval
    reconcile_licenses(tenant=block.primary_domain)
    imid, copies = next(iter(state.truth.campaigns.items()))
    assert len(copies) >= 2
    return block, state, imid, copies


def _where(state: Any, imid: str) -> dict[str, list[str]]:
    """mailbox -> folder ids holding a copy of ``imid`` (from the sandbox's own state)."""
    out: dict[str, list[str]] = {}
    for mb_id, mb in state.mailboxes.items():
        for it in mb.items.values():
            if it.get("internetMessageId") == imid:
                out.setdefault(mb_id, []).append(it.folder)
    return out


def test_quarantines_every_copy_then_restore_puts_them_back_and_repeats_act_once(campaign: Any) -> None:
    from flows.threat_response import ThreatQuery, restore, threat_response
    from mailwarden.mailbox import QUARANTINE_FOLDER
    from mailwarden.store.repositories import list_actions
    from tasks.common import store_for

    block, state, imid, copies = campaign
    before = _where(state, imid)
    assert set(before) == {mb for mb, _ in copies}
    subfolder = any(state.mailboxes[mb].items[mid].folder != state.mailboxes[mb].well_known["inbox"]
                    for mb, mid in copies)
    assert subfolder

    out = threat_response(tenant=block.primary_domain, query=ThreatQuery(internet_message_id=imid),
                          approval="auto")
    assert out["found"] == len(copies) and out["counts"] == {"done": len(copies)}
    for mb_id, folders in _where(state, imid).items():
        mb = state.mailboxes[mb_id]
        assert [mb.folders[f]["displayName"] for f in folders] == [QUARANTINE_FOLDER]
    with store_for(block).session() as s:
        rows = list_actions(s, state.id, flow_run_id=out["flow_run_id"])
    assert len(rows) == len(copies)
    assert all(r.details["new_message_id"] and r.details["new_message_id"] != r.details["message_id"] for r in rows)

    again = threat_response(tenant=block.primary_domain, query=ThreatQuery(internet_message_id=imid),
                            approval="auto")
    assert again["counts"] == {"already_done": len(copies)}
    with store_for(block).session() as s:
        assert len(list_actions(s, state.id, target_kind="message")) == len(copies)

    undone = restore(tenant=block.primary_domain, flow_run_id=out["flow_run_id"])
    assert undone["counts"] == {"done": len(copies)}
    assert _where(state, imid) == before
    twice = restore(tenant=block.primary_domain, flow_run_id=out["flow_run_id"])
    assert twice["counts"] == {"already_done": len(copies)}
    assert _where(state, imid) == before
    # the tables show each mailbox by its address (the address book), its id after
    book_mail = {u["id"]: str(u["mail"]).lower() for u in state.users.values() if u.get("mail")}
    for kind in ("threat-response-preview", "restore-results"):
        rows = latest_table(artifact_key(kind, block))
        assert rows and all(next(iter(r)) == "address" and "mailbox" in r for r in rows), kind
        assert {r["mailbox"] for r in rows} == {mb for mb, _ in copies}
        assert all(r["address"] == book_mail.get(r["mailbox"], r["address"]) and "@" in r["address"] for r in rows)


def test_search_by_sender_and_link_soft_delete_of_chosen_mailboxes(campaign: Any) -> None:
    from flows.threat_response import ThreatQuery, threat_response

    block, state, imid, copies = campaign
    mb0, mid0 = copies[0]
    msg = state.mailboxes[mb0].items[mid0]
    sender = msg.get("from")["emailAddress"]["address"]
    out = threat_response(tenant=block.primary_domain, query=ThreatQuery(sender=sender, internet_message_id=imid),
                          mailboxes=[mb0], action="soft_delete", approval="auto")
    assert out["found"] == 1 and out["counts"] == {"done": 1}
    where = _where(state, imid)
    mb = state.mailboxes[mb0]
    assert where[mb0] == [mb.well_known["recoverableitemsdeletions"]]
    assert all(mb_id == mb0 or f != state.mailboxes[mb_id].well_known["recoverableitemsdeletions"]
               for mb_id, fs in where.items() for f in fs)


def test_ask_pauses_for_approval_and_acts_only_on_the_narrowed_mailboxes(campaign: Any) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.flow_runs import resume_flow_run

    from flows.threat_response import ThreatQuery, threat_response

    block, state, imid, copies = campaign
    keep = copies[0][0]
    result: dict[str, Any] = {}

    def run() -> None:
        result["out"] = threat_response(tenant=block.primary_domain, query=ThreatQuery(internet_message_id=imid),
                                        approval="ask", approval_poll_seconds=1, approval_timeout=60)

    worker = threading.Thread(target=run)
    worker.start()
    paused = None
    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while paused is None and time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))))
            paused = next((r for r in runs if r.flow_id and r.parameters.get("tenant") == block.primary_domain
                           and awaits_input(client, r)), None)
            if paused is None:
                time.sleep(0.2)  # polling the server for the paused state, not a timing assumption
    assert paused is not None, "the flow never paused for approval"
    assert _where(state, imid) == {mb: [state.mailboxes[mb].items[mid].folder] for mb, mid in copies}
    resume_flow_run(paused.id, run_input={"decision": "approve", "mailboxes": [keep], "approver": "soc"})
    worker.join(60)
    out = result["out"]
    assert out["status"] == "done" and out["counts"] == {"done": 1}
    moved = [mb for mb, fs in _where(state, imid).items()
             if any(state.mailboxes[mb].folders[f]["displayName"] == "mailwarden Quarantine" for f in fs)]
    assert moved == [keep]
