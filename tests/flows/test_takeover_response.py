"""Flow ``takeover-response`` against the sandbox: containment, approval, idempotence, tiers, secrecy."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests._policy import ALL_UNATTENDED, save_policy
from tests.conftest import awaits_input

pytestmark = pytest.mark.usefixtures("prefect_harness")

KNOWN_PASSWORD = "Kn0wn-Reset-Pa55word-7f3q!"
DROP = "drop.box@evil-mail.example"
IDENTITY_STEPS = ("revoke_sessions", "reset_password", "disable_account")


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, str, str]]:
    """Approval polling every second, the reset password known, notifications captured."""
    import flows.takeover_response as flow_mod
    import mailwarden.takeover.password as pw
    import tasks.takeover as tasks_mod

    monkeypatch.setattr(tasks_mod, "APPROVAL_POLL_SECONDS", 1)
    monkeypatch.setattr(pw, "generate_password", lambda length=24: KNOWN_PASSWORD)
    sent: list[tuple[Any, str, str]] = []
    monkeypatch.setattr(flow_mod, "notify_task", lambda target, subject, body: sent.append(
        (target, subject, body)) or True)
    return sent


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import tasks.rules as mod

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(mod, "emit_event", lambda **kw: seen.append({**kw, "at": time.monotonic()}))
    return seen


def _tenant(tenant_factory: Any, consent: str = "advanced", **policy: Any) -> tuple[Any, Any]:
    """A saved sandbox tenant; ``policy`` fields, when given, saved as its M365 Tenant Policy block."""
    block, state = tenant_factory(users=12, consent=consent, messages_per_mailbox=2)
    block.save(block.block_name, overwrite=True)
    if policy:
        save_policy(block, **policy)
    return block, state


def _victim(state: Any) -> str:
    bad = {u for u, _ in state.truth.malicious_rules} | set(state.truth.external_forwarding)
    return next(u for u in sorted(state.truth.protected_mailboxes) if u not in bad)


def _plant(embedded: Any, state: Any, victim: str) -> dict[str, Any]:
    # A standard-base64 rule id holding "/" (as Exchange's may): every step must escape it.
    rule = embedded.sandbox.inject_rule(state.id, victim, {
        "id": "AQAAAJ5d/qA=", "displayName": ".", "sequence": 5, "isEnabled": True, "conditions": {},
        "actions": {"forwardTo": [{"emailAddress": {"address": DROP}}], "markAsRead": True}})
    with state.lock:
        state.recipients[victim]["ForwardingSmtpAddress"] = f"smtp:{DROP}"
    return rule


def _approve_when_paused(run_input: dict[str, Any], user: str) -> threading.Thread:
    """Approve through the Prefect API (another thread) once the run for ``user`` pauses."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.flow_runs import resume_flow_run

    def run() -> None:
        flt = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
        deadline = time.monotonic() + 60
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                runs = [r for r in client.read_flow_runs(flow_run_filter=flt) if r.parameters.get("user") == user]
                if runs and awaits_input(client, runs[0]):
                    resume_flow_run(runs[0].id, run_input=run_input)
                    return
                time.sleep(0.2)  # polling the server for the paused run and its input schema

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def _actions(block: Any) -> list[Any]:
    from mailwarden.store.repositories import list_actions
    from tasks.common import store_for

    with store_for(block).session() as s:
        return [(a.idempotency_key, a.action, a.state, a.result, a.approval) for a in list_actions(s, block.tenant_id)]


def _results(out: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s["result"] for s in out["steps"]}


def _password_is(state: Any, user: str, password: str) -> bool:
    change = [p for p in state.password_changes if p.user_id == user][-1]
    raw = base64.b64decode(change.password_hash)
    return hashlib.pbkdf2_hmac("sha256", password.encode(), raw[:16], 50_000) == raw[16:]


def test_detection_to_containment_end_to_end_with_approval_through_the_api(
        tenant_factory: Any, embedded: Any, events: list[dict[str, Any]], fast: list[Any],
        caplog: pytest.LogCaptureFixture) -> None:
    from flows.rules_audit import rules_audit
    from flows.takeover_response import takeover_response

    block, state = _tenant(tenant_factory)
    victim = _victim(state)
    rules_audit(tenant=block.primary_domain)  # baseline: the planted rules are already known
    events.clear()
    rule = _plant(embedded, state, victim)
    rules_audit(tenant=block.primary_domain, mailboxes=[victim])
    ev = next(e for e in events if e["payload"]["rule_key"] == f"graph:{rule['id']}")
    assert ev["event"] == "mailwarden.rule.suspicious" and ev["payload"]["user"] == victim
    assert {e["payload"]["rule_key"] for e in events} == {f"graph:{rule['id']}", "forwarding"}

    from datetime import UTC, datetime

    sent_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    embedded.sandbox.inject_message(state.id, victim, {
        "subject": "Updated bank details for your invoice", "sentDateTime": sent_at,
        "toRecipients": [{"emailAddress": {"address": "ap@partner.example"}}]}, folder="sentitems")
    approver = _approve_when_paused({"approve": True, "skip": [], "comment": "go"}, victim)
    p = ev["payload"]
    out = takeover_response(tenant=p["tenant"], user=p["user"], evidence=p)
    elapsed = time.monotonic() - ev["at"]
    approver.join(timeout=5)
    print(f"\ndetection to containment (incl. approval round trip): {elapsed:.2f}s")

    res = _results(out)
    assert res == {"remove_rules": "done", "forwarding_off": "done", "revoke_sessions": "done",
                   "reset_password": "done", "disable_account": "done", "review_sent_items": "done"}
    assert out["decision"] == "approved"
    sent = next(x for x in out["steps"] if x["step"] == "review_sent_items")
    assert [i["subject"] for i in sent["items"]] == ["Updated bank details for your invoice"]
    mb = state.mailboxes[victim]
    assert rule["id"] not in mb.rules
    assert not state.recipients[victim].get("ForwardingSmtpAddress")
    user = state.users[victim]
    assert user.get("signInSessionsValidFromDateTime") and user.get("accountEnabled") is False
    assert _password_is(state, victim, KNOWN_PASSWORD)
    assert [p.force_change for p in state.password_changes if p.user_id == victim][-1] is True
    actions = _actions(block)
    audited = {a[1] for a in actions if a[2] == "done"}
    assert {"remove_rules", "forwarding_off", *IDENTITY_STEPS} <= audited
    approvals = {a[1]: a[4] for a in actions}
    assert approvals["remove_rules"].startswith("unattended: allowed by the tenant policy")
    assert approvals["reset_password"] == "approved via prefect-api (actor unverified)"
    assert out["approval"] == approvals["reset_password"]

    # the password is nowhere: logs, artifacts, events, notifications, the store
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts()
        logs = client.read_logs(limit=200)
    haystacks = [str(a.data) for a in arts] + [str(log.message) for log in logs]
    haystacks += [caplog.text, repr(events), repr(fast), repr(out)]
    db = Path(block.store_url.get_secret_value().split("///", 1)[1]) if block.store_url else None
    from mailwarden.settings import get_settings

    db = db or Path(get_settings().effective_store_url.split("///", 1)[1])
    haystacks.append(db.read_bytes().decode("latin-1"))
    assert any("takeover response" in h.lower() for h in haystacks)  # the searches did see the run
    assert not any(KNOWN_PASSWORD in h for h in haystacks)


def test_second_run_changes_nothing_and_reports_already_done(
        tenant_factory: Any, embedded: Any) -> None:
    from flows.takeover_response import takeover_response

    block, state = _tenant(tenant_factory, **ALL_UNATTENDED)
    victim = _victim(state)
    rule = _plant(embedded, state, victim)
    evidence = {"rule_key": f"graph:{rule['id']}", "reasons": ["forwards out"], "user": victim}
    first = takeover_response(tenant=block.primary_domain, user=victim, evidence=evidence)
    assert _results(first)["remove_rules"] == "done"
    before = _actions(block)
    changes = len(state.password_changes)
    second = takeover_response(tenant=block.primary_domain, user=victim, evidence=evidence)
    res = _results(second)
    assert {res[s] for s in ("remove_rules", "forwarding_off", *IDENTITY_STEPS)} == {"already_done"}
    assert _actions(block) == before and len(state.password_changes) == changes


def test_basic_consent_skips_identity_steps_with_a_reason_and_still_removes_rules(
        tenant_factory: Any, embedded: Any) -> None:
    from flows.takeover_response import takeover_response
    from mailwarden.takeover import NEEDS_ADVANCED

    block, state = _tenant(tenant_factory, consent="basic", **ALL_UNATTENDED)
    victim = _victim(state)
    rule = _plant(embedded, state, victim)
    out = takeover_response(tenant=block.primary_domain, user=victim,
                            evidence={"rule_key": f"graph:{rule['id']}"})
    for step in IDENTITY_STEPS:
        s = next(x for x in out["steps"] if x["step"] == step)
        assert (s["result"], s["detail"]) == ("skipped", NEEDS_ADVANCED)
    assert _results(out)["remove_rules"] == "done" and rule["id"] not in state.mailboxes[victim].rules
    assert state.users[victim].get("accountEnabled") is not False


def test_protected_admin_is_never_disabled_and_rejection_runs_no_ask_step(
        tenant_factory: Any, embedded: Any) -> None:
    from flows.takeover_response import takeover_response

    block, state = _tenant(tenant_factory, **ALL_UNATTENDED)
    victim = _victim(state)
    upn = state.users[victim]["userPrincipalName"]
    state.assign_role("Global Administrator", victim)
    out = takeover_response(tenant=block.primary_domain, user=upn, steps=["disable_account"])
    assert _results(out) == {"disable_account": "skipped"} and "admin" in out["steps"][0]["detail"]
    assert state.users[victim].get("accountEnabled") is not False
    approver = _approve_when_paused({"approve": False, "comment": "false alarm"}, upn)
    out = takeover_response(tenant=block.primary_domain, user=upn, mode="ask",
                            steps=["reset_password", "review_sent_items"])
    approver.join(timeout=5)
    assert _results(out) == {"reset_password": "skipped", "review_sent_items": "done"}
    assert "rejected" in out["decision"] and not [p for p in state.password_changes if p.user_id == victim]


@pytest.mark.parametrize("case", ["unknown-id", "other-tenant-upn", "other-tenant-id", "bad-evidence",
                                  "evidence-for-other-user"])
def test_bad_input_fails_clearly_before_any_action(tenant_factory: Any, case: str) -> None:
    from flows.takeover_response import takeover_response

    block, state = _tenant(tenant_factory)
    _, other = tenant_factory(users=10, consent="basic")
    victim = _victim(state)
    other_user = next(iter(other.users.values()))
    user, evidence, match = {
        "unknown-id": ("00000000-0000-0000-0000-000000000001", None, "unknown user"),
        "other-tenant-upn": (other_user["userPrincipalName"], None, "not of tenant"),
        "other-tenant-id": (other_user["id"], None, "unknown user"),
        "bad-evidence": (victim, {"reasons": "not a list"}, "evidence.reasons"),
        "evidence-for-other-user": (victim, {"user": other_user["id"]}, "another user|evidence is about"),
    }[case]
    with pytest.raises(ValueError, match=match):
        takeover_response(tenant=block.primary_domain, user=user, evidence=evidence)
    assert _actions(block) == []
    assert state.users[victim].get("accountEnabled") is not False
