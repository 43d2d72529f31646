"""Acting on messages: quarantine/restore round trip, idempotency, audit details."""

from __future__ import annotations

from typing import Any

from mailwarden.mailbox import (
    QUARANTINE_FOLDER,
    apply_message_action,
    ensure_quarantine_folder,
    find_by_internet_message_id,
    restore_action,
)
from mailwarden.store.repositories import list_actions


def _act(graph: Any, store: Any, tid: str, mb: str, msg: dict[str, Any], action: str = "quarantine") -> Any:
    with store.session() as s:
        return apply_message_action(graph, s, tenant_id=tid, mailbox_id=mb, message=msg, action=action,
                                    actor="test", reason="unit", approval="auto", flow_run_id=None, scope="t")


def test_ensure_quarantine_folder_is_idempotent(tenant: Any, graph: Any) -> None:
    _, state = tenant
    uid = next(iter(state.mailboxes))
    first = ensure_quarantine_folder(graph, uid)
    assert ensure_quarantine_folder(graph, uid) == first
    mb = state.mailboxes[uid]
    assert [f for f in mb.folders.values() if f["displayName"] == QUARANTINE_FOLDER] == [mb.folders[first]]


def test_quarantine_records_new_id_acts_once_and_restore_puts_it_back(tenant: Any, graph: Any, store: Any) -> None:
    _, state = tenant
    imid, copies = next(iter(state.truth.campaigns.items()))
    mb_id, mid = copies[-1]
    mb = state.mailboxes[mb_id]
    original = mb.items[mid].folder
    msg = find_by_internet_message_id(graph, mb_id, imid)[0]

    out = _act(graph, store, state.id, mb_id, msg)
    assert out.result == "done" and out.new_message_id and out.new_message_id != mid
    assert mid not in mb.items
    assert mb.folders[mb.items[out.new_message_id].folder]["displayName"] == QUARANTINE_FOLDER

    again = _act(graph, store, state.id, mb_id, msg)
    assert again.result == "already_done" and again.new_message_id == out.new_message_id
    with store.session() as s:
        rows = list_actions(s, state.id, target_kind="message")
        assert len(rows) == 1
        assert rows[0].details["original_folder_id"] == original
        assert rows[0].details["new_message_id"] == out.new_message_id
        back = restore_action(graph, s, action_record=rows[0], actor="test", reason="undo", flow_run_id=None)
        twice = restore_action(graph, s, action_record=rows[0], actor="test", reason="undo", flow_run_id=None)
    assert back.result == "done" and mb.items[back.new_message_id].folder == original
    assert twice.result == "already_done"
    assert sum(1 for it in mb.items.values() if it.get("internetMessageId") == imid) == 1


def test_hard_delete_is_not_restorable_and_soft_delete_is(tenant: Any, graph: Any, store: Any) -> None:
    _, state = tenant
    uid = next(iter(state.mailboxes))
    mb = state.mailboxes[uid]
    first, second = (mb.items[i] for i in mb.ids_in(mb.well_known["inbox"])[:2])
    soft = _act(graph, store, state.id, uid, {"id": first.id, "parentFolderId": first.folder}, "soft_delete")
    hard = _act(graph, store, state.id, uid, {"id": second.id, "parentFolderId": second.folder}, "hard_delete")
    assert soft.result == hard.result == "done"
    assert mb.items[soft.new_message_id].folder == mb.well_known["recoverableitemsdeletions"]
    with store.session() as s:
        rows = {r.action: r for r in list_actions(s, state.id)}
        undo_hard = restore_action(graph, s, action_record=rows["hard_delete"], actor="t", reason="r", flow_run_id=None)
        undo_soft = restore_action(graph, s, action_record=rows["soft_delete"], actor="t", reason="r", flow_run_id=None)
    assert undo_hard.result == "skipped"
    assert undo_soft.result == "done" and mb.items[undo_soft.new_message_id].folder == mb.well_known["inbox"]
