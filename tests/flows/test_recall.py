"""Flow ``recall-message`` against the sandbox's recall fixture (nested DL, alias, external, moved, forwarded)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def notices(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, str, str]]:
    """Fast clients (no real back-off sleeps); notifications and notice mails captured."""
    import flows.recall as flow_mod
    from blocks.m365 import M365Tenant
    from mailwarden.graph import RetryPolicy

    original = M365Tenant.graph_client

    def patched(self: Any, tier: str = "basic", **kw: Any) -> Any:
        kw.setdefault("retry", RetryPolicy(max_attempts=4, sleep=lambda s: None))
        return original(self, tier, **kw)

    monkeypatch.setattr(M365Tenant, "graph_client", patched)
    sent: list[tuple[Any, str, str]] = []
    monkeypatch.setattr(flow_mod, "notify_task", lambda target, subject, body: sent.append(
        (target, subject, body)) or True)
    return sent


@pytest.fixture
def fixture(tenant_factory: Any, notices: Any) -> tuple[Any, Any, dict[str, Any]]:
    from flows.reconciliation import reconcile_licenses

    block, state = tenant_factory(users=16, messages_per_mailbox=2)
    block.save(block.block_name, overwrite=True)
    reconcile_licenses(tenant=block.primary_domain)
    fx = state.truth.recall_fixtures[0]
    assert fx["moved"] and fx["forwarded"] and len(fx["copies"]) >= 3
    return block, state, fx


def _where(state: Any, imid: str) -> dict[str, list[str]]:
    """mailbox -> folder display names holding a copy of ``imid`` (the sandbox's own state)."""
    out: dict[str, list[str]] = {}
    for mb_id, mb in state.mailboxes.items():
        for it in mb.items.values():
            if it.get("internetMessageId") == imid:
                out.setdefault(mb_id, []).append(mb.folders[it.folder]["displayName"])
    return out


def _sender(state: Any, fx: dict[str, Any]) -> str:
    return str(state.users[fx["sender"]]["mail"])


def _set_read(block: Any, pairs: list[tuple[str, str]], read: bool) -> None:
    """Mark copies read/unread as their users would (Graph PATCH)."""
    with block.graph_client("basic") as client:
        for mb, mid in pairs:
            client.patch(f"/users/{mb}/messages/{mid}", {"isRead": read})


def _run(block: Any, state: Any, fx: dict[str, Any], **kw: Any) -> dict[str, Any]:
    from flows.recall import recall_message

    kw.setdefault("internet_message_id", fx["internet_message_id"])
    return recall_message(tenant=block.primary_domain, sender=_sender(state, fx), **kw)


def test_recalls_every_internal_copy_incl_moved_and_forwarded_external_reported(fixture: Any,
                                                                                notices: Any) -> None:
    from mailwarden.mailbox import QUARANTINE_FOLDER
    from mailwarden.store.repositories import list_actions
    from tasks.common import store_for

    block, state, fx = fixture
    imid, fw = fx["internet_message_id"], fx["forwarded"]
    out = _run(block, state, fx, include_read=True, notify="ops", notify_sender=True)
    assert out["status"] == "done"
    recalled = {r["mailbox_id"] for r in out["results"] if r["status"] == "recalled"
                and r["internet_message_id"] == imid}
    assert recalled == {mb for mb, _ in fx["copies"]}
    where = _where(state, imid)
    assert where.pop(fx["sender"]) == ["Sent Items"]  # the sender's own copy stays
    assert where == {mb: [QUARANTINE_FOLDER] for mb, _ in fx["copies"]}  # the moved copy included
    assert _where(state, fw["internet_message_id"])[fw["mailbox"]] == [QUARANTINE_FOLDER]
    fwd_rows = [r for r in out["results"] if r["internet_message_id"] == fw["internet_message_id"]]
    assert [(r["mailbox_id"], r["status"]) for r in fwd_rows] == [(fw["mailbox"], "recalled")]
    assert "forward by" in fwd_rows[0]["via"]
    ext = [r for r in out["results"] if r["status"] == "external"]
    assert [r["recipient"] for r in ext] == [fx["external"]]
    assert ext[0]["result"] == "external (not recallable)"
    moved_mb = fx["moved"][0]
    assert any(r["mailbox_id"] == moved_mb and r["folder"].endswith("Projects") for r in out["results"]), \
        "the moved copy's folder is reported"
    with store_for(block).session() as s:
        rows = list_actions(s, state.id, flow_run_id=out["flow_run_id"])
    assert len(rows) == len(fx["copies"]) + 1 and {r.details["scope"] for r in rows} == {"recall"}
    assert notices and notices[0][0] == "ops" and fx["external"] in notices[0][2]
    assert out["sender_notified"] is True


def test_second_run_acts_once_and_restore_puts_quarantined_copies_back(fixture: Any) -> None:
    from flows.threat_response import restore
    from mailwarden.store.repositories import list_actions
    from tasks.common import store_for

    block, state, fx = fixture
    imid = fx["internet_message_id"]
    before = _where(state, imid)
    first = _run(block, state, fx, include_read=True)
    second = _run(block, state, fx, include_read=True)
    internal = [r for r in second["results"] if r["mailbox_id"]]
    assert internal and {r["status"] for r in internal} == {"already_recalled"}
    with store_for(block).session() as s:
        assert len(list_actions(s, state.id, target_kind="message")) == len(fx["copies"]) + 1
        assert list_actions(s, state.id, flow_run_id=second["flow_run_id"]) == []

    undone = restore(tenant=block.primary_domain, flow_run_id=first["flow_run_id"])
    assert undone["counts"] == {"done": len(fx["copies"]) + 1}
    assert _where(state, imid) == before
    assert _where(state, fx["forwarded"]["internet_message_id"])[fx["forwarded"]["mailbox"]] == ["Inbox"]


def test_read_copies_are_left_alone_and_reported_when_include_read_is_off(fixture: Any) -> None:
    block, state, fx = fixture
    imid = fx["internet_message_id"]
    read, unread = fx["copies"][:1], fx["copies"][1:]
    _set_read(block, read, True)
    _set_read(block, unread, False)
    out = _run(block, state, fx, include_read=False, include_forwards=False)
    by_mb = {r["mailbox_id"]: r["status"] for r in out["results"] if r["internet_message_id"] == imid}
    assert by_mb[read[0][0]] == "read_left_alone"
    assert all(by_mb[mb] == "recalled" for mb, _ in unread)
    assert _where(state, imid)[read[0][0]] == ["Projects"]  # fixture's moved copy, untouched


def test_subject_and_sent_time_find_the_message_soft_delete(fixture: Any) -> None:
    from datetime import datetime

    block, state, fx = fixture
    sent = state.mailboxes[fx["sender"]].items[fx["sent_message_id"]]
    at = datetime.fromisoformat(str(sent.get("sentDateTime")).replace("Z", "+00:00"))
    out = _run(block, state, fx, internet_message_id=None, subject=sent.get("subject"), sent_at=at,
               tolerance_minutes=2, action="soft_delete", include_read=True, include_forwards=False)
    assert out["status"] == "done" and out["internet_message_id"] == fx["internet_message_id"]
    assert out["counts"]["recalled"] == len(fx["copies"])
    where = _where(state, fx["internet_message_id"])
    assert where.pop(fx["sender"]) == ["Sent Items"]
    assert where == {mb: ["Deletions"] for mb, _ in fx["copies"]}  # Recoverable Items: restorable


def test_unknown_message_or_foreign_sender_is_rejected_without_any_action(fixture: Any,
                                                                        tenant_factory: Any) -> None:
    from mailwarden.store.repositories import list_actions
    from tasks.common import store_for

    block, state, fx = fixture
    before = _where(state, fx["internet_message_id"])
    nothing = _run(block, state, fx, internet_message_id="<no-such-message@example.invalid>")
    assert nothing["status"] == "rejected" and "no sent message matches" in nothing["reason"]
    _, other = tenant_factory(users=10, messages_per_mailbox=1)
    foreign = next(u["mail"] for u in other.users.values() if u.get("mail"))
    from flows.recall import recall_message

    out = recall_message(tenant=block.primary_domain, sender=foreign, internet_message_id=fx["internet_message_id"])
    assert out["status"] == "rejected" and "not an address of this tenant" in out["reason"]
    assert out["results"] == []
    with store_for(block).session() as s:
        assert list_actions(s, state.id, target_kind="message") == []
    assert _where(state, fx["internet_message_id"]) == before


def test_ask_mode_rejected_recalls_nothing_and_approved_acts(fixture: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.recall as flow_mod

    block, state, fx = fixture
    before = _where(state, fx["internet_message_id"])
    answers = [flow_mod.RecallApproval(approve=False, comment="wrong message"),
               flow_mod.RecallApproval(approve=True)]
    monkeypatch.setattr(flow_mod, "pause_flow_run", lambda **kw: answers.pop(0))
    no = _run(block, state, fx, approval="ask", include_read=True, include_forwards=False)
    assert no["status"] == "not_approved" and "wrong message" in no["reason"]
    assert _where(state, fx["internet_message_id"]) == before
    yes = _run(block, state, fx, approval="ask", include_read=True, include_forwards=False)
    assert yes["status"] == "done" and yes["counts"]["recalled"] == len(fx["copies"])
    from mailwarden.store.repositories import list_actions
    from tasks.common import store_for

    with store_for(block).session() as s:
        assert {r.approval for r in list_actions(s, state.id, flow_run_id=yes["flow_run_id"])} == {"approved"}


@pytest.mark.parametrize("concurrency", [0, -3])
def test_a_concurrency_below_one_is_refused_before_anything_is_read_or_moved(fixture: Any,
                                                                            concurrency: int) -> None:
    from mailwarden.store.repositories import list_actions
    from tasks.common import store_for

    block, state, fx = fixture
    before = _where(state, fx["internet_message_id"])
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        _run(block, state, fx, concurrency=concurrency)
    with store_for(block).session() as s:
        assert list_actions(s, state.id, target_kind="message") == []
    assert _where(state, fx["internet_message_id"]) == before
