"""The demo's flows under injected faults end with nothing lost and nothing done twice.

One tenant goes through reconcile -> historic scan (quarantine policy) -> threat response ->
rules audit -> takeover response while the sandbox throws 429 storms, 503s, connection resets
and expires every token; then the store and the audit log are compared with the sandbox's own
state, and every flow is run again to show it changes nothing. A scan whose worker process is
killed (SIGKILL) mid-run is re-run and must neither act twice nor miss a message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest

from mailwarden.store.repositories import list_findings
from tests._policy import ALL_UNATTENDED, UNATTENDED_RESPONSE, save_policy

from ._support import (
    QUARANTINE,
    QUARANTINE_POLICY,
    REPO,
    SINCE,
    Chaos,
    audit_rows,
    audit_view,
    checkpoints,
    folder_name,
    imids,
    quarantined,
    sandbox_snapshot,
    store,
    visible_counts,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

def _victim(state: Any) -> tuple[str, str]:
    """A user mailbox with a planted malicious Graph rule: (user id, rule id)."""
    return next((u, r) for u, r in sorted(state.truth.malicious_rules)
                if "\\" not in r and state.recipients.get(u, {}).get("RecipientTypeDetails") == "UserMailbox")


def _pipeline(block: Any, state: Any, imid: str, victim: str, rule_id: str) -> dict[str, Any]:
    from flows.historic_scan import historic_scan
    from flows.reconciliation import reconcile_licenses
    from flows.rules_audit import rules_audit
    from flows.takeover_response import takeover_response
    from flows.threat_response import ThreatQuery, threat_response

    tenant = block.primary_domain
    out: dict[str, Any] = {}
    out["reconcile"] = reconcile_licenses(tenant=tenant)
    out["scan"] = historic_scan(tenant=tenant, since=SINCE, policy=QUARANTINE_POLICY, concurrency=4,
                                retry_delay_seconds=0)
    out["threat"] = threat_response(tenant=tenant, query=ThreatQuery(internet_message_id=imid), approval="auto",
                                    concurrency=4)
    out["audit"] = rules_audit(tenant=tenant, concurrency=4)
    out["takeover"] = takeover_response(
        tenant=tenant, user=victim,
        evidence={"rule_key": f"graph:{rule_id}", "user": victim, "tenant": block.block_name,
                  "reasons": ["planted"]})
    return out


def test_every_flow_under_faults_loses_nothing_acts_once_and_a_rerun_changes_nothing(
        embedded: Any, tenant_factory: Any) -> None:
    block, state = tenant_factory(users=14, messages_per_mailbox=6, phishing_rate=0.2)
    block.save(block.block_name, overwrite=True)
    save_policy(block, **ALL_UNATTENDED, **UNATTENDED_RESPONSE)
    imid, copies = next(iter(state.truth.campaigns.items()))
    victim, rule_id = _victim(state)
    before = imids(state)
    with Chaos(embedded.sandbox, state.id) as chaos:
        first = _pipeline(block, state, imid, victim, rule_id)
    assert all(chaos.applied[kind] >= 2 for kind in ("429", "503", "reset", "expire_tokens")), chaos.applied

    # every message of every scanned mailbox was read: the store's counts equal the sandbox's
    scan = first["scan"]
    assert not scan["failed"]
    scanned = [r["mailbox"] for r in scan["rows"]]
    counts = visible_counts(state, scanned)
    assert checkpoints(state.id, scan["scope"]) == {mb: ("done", n) for mb, n in counts.items()}
    assert scan["messages"] == sum(counts.values()) == sum(scan["categories"].values())

    # nothing lost, nothing duplicated: each mailbox holds the same messages as before
    assert imids(state) == before

    # each quarantined message sits in quarantine exactly once, and the audit log says so
    rows = audit_rows(state.id)
    assert rows and all(r.state == "done" and r.result in ("done", "already_done", "skipped") for r in rows)
    q_rows = [r for r in rows if r.action == "quarantine"]
    audited = {(r.mailbox_id, r.details["internet_message_id"]) for r in q_rows}
    in_quarantine = quarantined(state)
    assert {(mb, i) for mb, c in in_quarantine.items() for i in c} == audited
    for mb, c in in_quarantine.items():
        for i, n in c.items():
            assert n == before[mb][i], f"{i} in {mb}: {n} copies in quarantine, {before[mb][i]} delivered"
    moves = Counter((r.mailbox_id, r.details["internet_message_id"]) for r in q_rows if r.result == "done")
    twice = {k: n for k, n in moves.items() if n > before[k[0]][k[1]]}
    assert not twice, [(r.actor, r.details) for r in q_rows
                       if (r.mailbox_id, r.details["internet_message_id"]) in twice]
    assert {mb for mb, _ in copies} <= {mb for mb, c in in_quarantine.items() if imid in c}
    assert scan["actions"].get("quarantine:done", 0) + scan["actions"].get("quarantine:already_done", 0) \
        == scan["categories"].get("malicious", 0) > 0

    # the takeover contained the victim once
    steps = {s["step"]: s["result"] for s in first["takeover"]["steps"]}
    assert steps["remove_rules"] == "done" and steps["reset_password"] == "done"
    assert rule_id not in state.mailboxes[victim].rules
    assert [p.user_id for p in state.password_changes] == [victim]

    # every flow again, under the same faults: the sandbox and the audit log stay as they are
    snap, log = sandbox_snapshot(state), audit_view(state.id)
    with Chaos(embedded.sandbox, state.id) as chaos:
        again = _pipeline(block, state, imid, victim, rule_id)
    assert chaos.applied["429"] >= 2, chaos.applied
    assert sandbox_snapshot(state) == snap
    assert audit_view(state.id) == log
    assert sorted(again["scan"]["resumed"]) == sorted(scanned)
    assert set(again["threat"]["counts"]) <= {"already_done"}
    assert again["audit"]["new"] == []
    assert {s["result"] for s in again["takeover"]["steps"] if s["step"] != "review_sent_items"} \
        <= {"already_done", "not_needed"}


def test_a_scan_killed_mid_run_resumes_without_acting_twice_or_missing_a_message(
        embedded: Any, tenant_factory: Any, tmp_path: Any) -> None:
    from prefect.settings import PREFECT_API_URL

    from flows.historic_scan import historic_scan
    from flows.reconciliation import reconcile_licenses
    from mailwarden.scan import scan_id_for, scan_window

    block, state = tenant_factory(users=16, messages_per_mailbox=8, phishing_rate=0.25)
    block.save(block.block_name, overwrite=True)
    reconcile_licenses(tenant=block.primary_domain)
    before = imids(state)
    scope = scan_id_for(state.id, scan_window(None, SINCE), None, QUARANTINE_POLICY)

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    code = ("import datetime, sys\n"
            "from flows.historic_scan import historic_scan\n"
            "historic_scan(tenant=sys.argv[1], since=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),\n"
            "              policy={'actions': {'malicious': 'quarantine'}}, concurrency=2, retry_delay_seconds=0)\n")
    slow = embedded.sandbox.faults.inject("slow", tenant=state.id, delay=0.15)
    out_file = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-c", code, block.primary_domain], cwd=REPO, env=env,
                              stdout=out_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and worker.poll() is None:
            cps = checkpoints(state.id, scope)
            done = [mb for mb, (st, _) in cps.items() if st == "done"]
            acted = [r for r in audit_rows(state.id) if r.action == "quarantine"]
            if len(done) >= 2 and acted and len(done) < len(cps):
                break
            time.sleep(0.05)  # polling the store for progress, not waiting for an outcome
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
        out_file.close()
        embedded.sandbox.faults.clear(slow.id if slow else None)
    cps = checkpoints(state.id, scope)
    assert any(st != "done" for st, _ in cps.values()), "the worker finished before it was killed"
    acted_before_kill = {r.idempotency_key for r in audit_rows(state.id)}

    out = historic_scan(tenant=block.primary_domain, since=SINCE, policy=QUARANTINE_POLICY, concurrency=4,
                        retry_delay_seconds=0)
    assert out["scope"] == scope and not out["failed"]
    assert out["resumed"], "the re-run read every mailbox again"

    # nothing missed: every mailbox checkpointed with exactly the sandbox's message count
    counts = visible_counts(state, list(cps))
    assert checkpoints(state.id, scope) == {mb: ("done", n) for mb, n in counts.items()}
    # nothing done twice: each audit row finished once; the messages are all still there, once each
    rows = audit_rows(state.id)
    assert acted_before_kill <= {r.idempotency_key for r in rows}
    assert all(r.state == "done" and r.result in ("done", "already_done") for r in rows)
    assert imids(state) == before
    audited = Counter((r.mailbox_id, r.details["internet_message_id"]) for r in rows if r.action == "quarantine")
    in_quarantine = quarantined(state)
    assert Counter({(mb, i): n for mb, c in in_quarantine.items() for i, n in c.items()}) == audited
    # and nothing left behind: a report-only scan finds no malicious message outside quarantine
    report = historic_scan(tenant=block.primary_domain, since=SINCE, concurrency=4, retry_delay_seconds=0)
    with store().session() as s:
        malicious = [f for f in list_findings(s, scan_id=report["scope"]) if f.category == "malicious"]
    assert malicious
    for f in malicious:
        mb = state.mailboxes[f.mailbox_id]
        assert folder_name(mb, mb.items[f.message_id].folder) == QUARANTINE, f.subject


def test_a_move_whose_reply_is_lost_is_recorded_as_done_once_not_failed(embedded: Any, tenant_factory: Any) -> None:
    """The sandbox moves the message, then cuts its reply: the retried request finds nothing to move.
    The audit log must still say what happened (done, with the new id), and a second run not act."""
    from mailwarden.mailbox import apply_message_action, restore_action

    block, state = tenant_factory(users=10, messages_per_mailbox=4)
    mailbox = sorted(state.truth.protected_mailboxes)[0]
    mb = state.mailboxes[mailbox]
    item = mb.items[mb.ids_in(mb.well_known["inbox"])[0]]
    message = {"id": item.id, "internetMessageId": item.get("internetMessageId"), "parentFolderId": item.folder}
    junk = mb.well_known["junkemail"]
    with block.graph_client() as client, store().session() as session:
        # one fault per request, first listed first: the folder lookup passes, the move's reply is cut
        embedded.sandbox.faults.inject("slow", tenant=state.id, count=1, delay=0)
        embedded.sandbox.faults.inject("truncate", tenant=state.id, count=1)
        first = apply_message_action(client, session, tenant_id=state.id, mailbox_id=mailbox, message=message,
                                     action="move_to_junk", actor="system-test", reason="lost reply",
                                     approval="test", flow_run_id=None, scope="lost-reply")
        again = apply_message_action(client, session, tenant_id=state.id, mailbox_id=mailbox, message=message,
                                     action="move_to_junk", actor="system-test", reason="lost reply",
                                     approval="test", flow_run_id=None, scope="lost-reply")
    moved = [it for it in mb.items.values() if it.get("internetMessageId") == message["internetMessageId"]]
    assert [it.folder for it in moved] == [junk]
    assert first.result == "done" and first.new_message_id == moved[0].id
    assert again.result == "already_done"
    [row] = [r for r in audit_rows(state.id) if r.reason == "lost reply"]
    assert (row.state, row.result, row.details["new_message_id"]) == ("done", "done", moved[0].id)

    # undoing it, with the reply to the move back lost too
    with block.graph_client() as client, store().session() as session:
        embedded.sandbox.faults.inject("truncate", tenant=state.id, count=1)  # the reply to the move back
        undone = restore_action(client, session, action_record=row, actor="system-test", reason="lost reply undo",
                                flow_run_id=None)
    back = [it for it in mb.items.values() if it.get("internetMessageId") == message["internetMessageId"]]
    assert [it.folder for it in back] == [item.folder]
    assert undone.result in ("done", "already_done") and undone.new_message_id == back[0].id
