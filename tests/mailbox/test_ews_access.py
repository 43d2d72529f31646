"""Mailbox access through EWS (exchangelib against the sandbox's on-premises endpoint) and routing.

Pins: the EWS path returns the Graph message shape, searches and acts (audited, once) like the
Graph path, reads and removes inbox rules, and fails with a clear reason on bad credentials or
an unreachable server; the router sends each mailbox to its side.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from pydantic import SecretStr

from mailwarden.graph import RetryPolicy
from mailwarden.mailbox import MessageQuery, attachment_sha256
from mailwarden.mailbox.access import EwsAccess, GraphAccess, MailboxRouter
from mailwarden.mailbox.ews import OnPremUnavailable
from mailwarden.store.repositories import list_actions
from tests.mailbox._onprem import hybrid_tenant


@pytest.fixture
def hybrid(tenant_factory: Any, embedded: Any) -> tuple[Any, Any, list[str]]:
    return hybrid_tenant(tenant_factory, embedded, users=16, messages_per_mailbox=8, phishing_rate=0.2)


def _router(block: Any, onprem: list[str], state: Any, ews: Any = None) -> MailboxRouter:
    graph = block.graph_client("basic", retry=RetryPolicy(max_attempts=2, sleep=lambda s: None))
    return MailboxRouter(graph, {u: ("onprem", state.users[u]["mail"]) for u in onprem},
                         ews if ews is not None else block.ews_settings())


def _busiest(state: Any, onprem: list[str]) -> str:
    return max(onprem, key=lambda u: state.mailboxes[u].message_count())


def test_router_gives_each_mailbox_its_side(hybrid: Any) -> None:
    block, state, onprem = hybrid
    router = _router(block, onprem, state)
    cloud = next(u for u in state.mailboxes if u not in onprem)
    assert isinstance(router.for_mailbox(onprem[0]), EwsAccess) and router.side(onprem[0]) == "on-premises"
    assert isinstance(router.for_mailbox(cloud), GraphAccess) and router.location(cloud) == "cloud"


def test_ews_messages_have_the_graph_shape(hybrid: Any) -> None:
    block, state, onprem = hybrid
    uid = _busiest(state, onprem)
    mb = state.mailboxes[uid]
    got = list(_router(block, onprem, state).for_mailbox(uid).iter_messages())
    visible = [i for i in mb.items.values() if not mb.in_dumpster(i.folder)]
    assert {m["id"] for m in got} == {i.id for i in visible}
    for m in got:
        stored = mb.items[m["id"]].merged()
        assert m["internetMessageId"] == stored["internetMessageId"] and m["subject"] == stored["subject"]
        assert m["from"]["emailAddress"]["address"] == stored["from"]["emailAddress"]["address"]
        assert m["parentFolderId"] == mb.items[m["id"]].folder
        assert m["body"]["content"] == stored["body"]["content"]
        assert [h["name"] for h in m["internetMessageHeaders"]] == \
            [h["name"] for h in stored.get("internetMessageHeaders") or []]
        assert [a["contentBytes"] for a in m["attachments"]] == \
            [a["contentBytes"] for a in stored.get("attachments") or []]


def test_find_then_quarantine_is_audited_and_acts_once(hybrid: Any, store: Any) -> None:
    block, state, onprem = hybrid
    uid = _busiest(state, onprem)
    mb = state.mailboxes[uid]
    target = mb.items[mb.ids_in(mb.well_known["inbox"])[0]].merged()
    access = _router(block, onprem, state).for_mailbox(uid)
    found = access.find_messages(MessageQuery(internet_message_id=target["internetMessageId"]))
    assert len(found) == 1
    with store.session() as s:
        kw = {"tenant_id": state.id, "message": found[0], "action": "quarantine", "actor": "t",
              "reason": "unit", "approval": "auto", "flow_run_id": None, "scope": "x"}
        first = access.apply_action(s, **kw)
        again = access.apply_action(s, **kw)
    qid = access.ensure_quarantine_folder()
    assert first.result == "done" and mb.items[first.new_message_id].folder == qid
    assert mb.folders[qid]["displayName"] == "mailwarden Quarantine"
    assert again.result == "already_done"
    with store.session() as s:
        rows = list_actions(s, state.id, target_kind="message")
    assert [(r.mailbox_id, r.action, r.result) for r in rows] == [(uid, "quarantine", "done")]


def test_hard_delete_through_ews(hybrid: Any, store: Any) -> None:
    block, state, onprem = hybrid
    uid = _busiest(state, onprem)
    mb = state.mailboxes[uid]
    mid = mb.ids_in(mb.well_known["inbox"])[-1]
    access = _router(block, onprem, state).for_mailbox(uid)
    msg = {"id": mid, "internetMessageId": mb.items[mid].get("internetMessageId")}
    with store.session() as s:
        out = access.apply_action(s, tenant_id=state.id, message=msg, action="hard_delete", actor="t",
                                  reason="unit", approval="auto", flow_run_id=None, scope="y")
    assert out.result == "done" and mid not in mb.items
    purged = [i for i in mb.items.values() if i.folder == mb.well_known["recoverableitemspurges"]]
    assert msg["internetMessageId"] in {i.get("internetMessageId") for i in purged}


def test_attachment_hash_search_reads_content(hybrid: Any) -> None:
    block, state, onprem = hybrid
    for uid in onprem:
        mb = state.mailboxes[uid]
        withatt = [i.merged() for i in mb.items.values() if i.get("attachments") and not mb.in_dumpster(i.folder)]
        if withatt:
            break
    else:
        pytest.skip("no on-premises message with an attachment in this seed")
    digest = attachment_sha256(withatt[0]["attachments"][0])
    found = _router(block, onprem, state).for_mailbox(uid).find_messages(MessageQuery(attachment_sha256=digest))
    assert withatt[0]["internetMessageId"] in {m["internetMessageId"] for m in found}


def test_rules_inventory_and_removal(hybrid: Any) -> None:
    block, state, onprem = hybrid
    uid = onprem[0]
    mb = state.mailboxes[uid]
    rule = mb.add_rule({"displayName": "x", "conditions": {"subjectContains": ["payroll"]},
                        "actions": {"forwardTo": [{"emailAddress": {"address": "a@evil.example"}}],
                                    "moveToFolder": mb.well_known["archive"]}})
    access = _router(block, onprem, state).for_mailbox(uid)
    inv = access.rules_inventory(exchange=None)
    got = next(r for r in inv.graph_rules if r["id"] == rule["id"])
    assert got["conditions"] == {"subjectContains": ["payroll"]}
    assert got["actions"]["forwardTo"][0]["emailAddress"]["address"] == "a@evil.example"
    assert got["actions"]["moveToFolder"] == "Archive" and got["actions"]["moveToFolderId"] == mb.well_known["archive"]
    assert access.remove_inbox_rule(rule["id"]) is True and rule["id"] not in mb.rules
    assert access.remove_inbox_rule(rule["id"]) is False


def test_bad_credentials_fail_with_a_clear_reason(hybrid: Any) -> None:
    block, state, onprem = hybrid
    bad = block.model_copy(update={"ews_password": SecretStr("not-the-password")})
    access = _router(bad, onprem, state).for_mailbox(onprem[0])
    with pytest.raises(OnPremUnavailable, match="refused the credentials") as err:
        list(access.iter_messages())
    assert "not-the-password" not in str(err.value)


def test_unreachable_server_fails_with_a_clear_reason(hybrid: Any) -> None:
    block, state, onprem = hybrid
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = block.model_copy(update={"ews_url": f"https://127.0.0.1:{port}/EWS/Exchange.asmx"})
    with pytest.raises(OnPremUnavailable, match="unreachable"):
        list(_router(gone, onprem, state).for_mailbox(onprem[0]).iter_messages())


def test_onprem_mailbox_without_ews_settings_is_refused(hybrid: Any) -> None:
    block, state, onprem = hybrid
    graph = block.graph_client("basic")
    router = MailboxRouter(graph, {onprem[0]: ("onprem", state.users[onprem[0]]["mail"])}, None)
    access = router.for_mailbox(onprem[0])  # fails on use, with the reason
    with pytest.raises(OnPremUnavailable, match="no on-premises EWS"):
        access.find_messages(MessageQuery(subject="x"))


def test_block_hands_on_ews_settings_without_showing_the_password(hybrid: Any) -> None:
    block, _, _ = hybrid
    secret = block.ews_password.get_secret_value()
    settings = block.ews_settings()
    assert settings.password.get_secret_value() == secret and settings.auth_type == "basic"
    assert secret not in repr(settings) and secret not in block.model_dump_json()
    assert block.model_copy(update={"ews_url": None}).ews_settings() is None
