"""A move whose outcome is unknown (its request is never re-sent) is found, or left to the next run."""

from __future__ import annotations

from typing import Any

import pytest

from mailwarden.graph import GraphTransportError
from mailwarden.mailbox import apply_message_action
from mailwarden.store.repositories import list_actions


def _junk(graph: Any, store: Any, tid: str, mb: str, msg: dict[str, Any]) -> Any:
    with store.session() as s:
        return apply_message_action(graph, s, tenant_id=tid, mailbox_id=mb, message=msg, action="move_to_junk",
                                    actor="test", reason="unit", approval="auto", flow_run_id=None, scope="u")


def _inbox_message(state: Any) -> tuple[str, Any, dict[str, Any]]:
    mailbox = sorted(state.truth.protected_mailboxes)[0]
    mb = state.mailboxes[mailbox]
    item = mb.items[mb.ids_in(mb.well_known["inbox"])[0]]
    return mailbox, mb, {"id": item.id, "internetMessageId": item.get("internetMessageId"),
                         "parentFolderId": item.folder}


def _copies(mb: Any, imid: str) -> list[Any]:
    return [it for it in mb.items.values() if it.get("internetMessageId") == imid]


def test_a_move_whose_reply_is_cut_is_sent_once_and_recorded_done(
        embedded: Any, tenant: Any, graph: Any, store: Any) -> None:
    _, state = tenant
    mailbox, mb, msg = _inbox_message(state)
    # one fault per request, first listed first: the folder lookup passes, the move's reply is cut
    embedded.sandbox.faults.inject("slow", tenant=state.id, count=1, delay=0)
    embedded.sandbox.faults.inject("truncate", tenant=state.id, count=1)
    out = _junk(graph, store, state.id, mailbox, msg)
    [moved] = _copies(mb, msg["internetMessageId"])
    assert moved.folder == mb.well_known["junkemail"]
    assert (out.result, out.new_message_id) == ("done", moved.id)
    assert "reply was lost" in out.detail
    assert _junk(graph, store, state.id, mailbox, msg).result == "already_done"


def test_a_move_cut_before_it_ran_raises_and_the_next_run_moves_it_once(
        embedded: Any, tenant: Any, graph: Any, store: Any) -> None:
    _, state = tenant
    mailbox, mb, msg = _inbox_message(state)
    embedded.sandbox.faults.inject("slow", tenant=state.id, count=1, delay=0)
    embedded.sandbox.faults.inject("reset", tenant=state.id, count=1)  # the move never reaches the mailbox
    with pytest.raises(GraphTransportError, match="not re-sent"):
        _junk(graph, store, state.id, mailbox, msg)
    assert [it.folder for it in _copies(mb, msg["internetMessageId"])] == [msg["parentFolderId"]]
    with store.session() as s:
        [row] = list_actions(s, state.id, target_kind="message")
        assert row.state != "done"  # the audit log does not claim an outcome nobody saw

    out = _junk(graph, store, state.id, mailbox, msg)
    [moved] = _copies(mb, msg["internetMessageId"])
    assert (out.result, out.new_message_id, moved.folder) == ("done", moved.id, mb.well_known["junkemail"])
