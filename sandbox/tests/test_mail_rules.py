"""messageRules routes: list/get/create/PATCH/DELETE, read-only rules, permissions, China cloud."""

from __future__ import annotations

from typing import Any

from tests.test_mail_harness import ALICE, Harness, make_tenant

FORWARD = {"id": "AQAAAJ5dZqA=", "displayName": "Move invoices", "sequence": 1, "isEnabled": True,
           "hasError": False, "isReadOnly": False, "conditions": {"subjectContains": ["invoice"]},
           "actions": {"forwardTo": [{"emailAddress": {"name": "X", "address": "x@evil.example"}}],
                       "markAsRead": True, "stopProcessingRules": True}}
LOCKED = {"id": "AQAAAOQfqLg=", "displayName": "Org rule", "sequence": 2, "isEnabled": True,
          "hasError": False, "isReadOnly": True}
BASE = f"/users/{ALICE}/mailFolders/inbox/messageRules"


def _h(**kw: Any) -> Harness:
    return Harness(make_tenant(rules=[FORWARD, LOCKED], **kw))


def test_list_and_get_rules_with_graph_envelope() -> None:
    h = _h()
    body = h.get(BASE).json()
    assert body["@odata.context"] == (f"https://graph.microsoft.com/v1.0/$metadata#users('{ALICE}')"
                                      "/mailFolders('inbox')/messageRules")
    assert [r["id"] for r in body["value"]] == ["AQAAAJ5dZqA=", "AQAAAOQfqLg="]
    one = h.get(f"{BASE}/AQAAAJ5dZqA=").json()
    assert one["actions"]["forwardTo"][0]["emailAddress"]["address"] == "x@evil.example"
    assert h.get(f"{BASE}/AQAAAAAAAAA=").status_code == 404


def test_create_patch_delete_round_trip() -> None:
    h = _h()
    boss = {"emailAddress": {"address": "boss@contoso.example"}}
    r = h.post(BASE, json={"displayName": "Flag boss", "sequence": 3, "isEnabled": True,
                           "conditions": {"fromAddresses": [boss]},
                           "actions": {"markImportance": "high"}})
    assert r.status_code == 201
    rid = r.json()["id"]
    assert "/" not in rid and r.json()["isReadOnly"] is False
    p = h.patch(f"{BASE}/{rid}", {"isEnabled": False})
    assert p.status_code == 200 and p.json()["isEnabled"] is False
    assert h.tenant.mailboxes[ALICE].rules[rid]["isEnabled"] is False
    assert h.delete(f"{BASE}/{rid}").status_code == 204
    assert h.get(f"{BASE}/{rid}").status_code == 404
    bad = h.post(BASE, json={"displayName": "x", "actions": {"teleport": True}})
    assert bad.status_code == 400


def test_read_only_rules_refuse_patch_and_delete() -> None:
    h = _h()
    assert h.patch(f"{BASE}/AQAAAOQfqLg=", {"isEnabled": False}).status_code == 400
    assert h.delete(f"{BASE}/AQAAAOQfqLg=").status_code == 400
    assert h.tenant.mailboxes[ALICE].rules["AQAAAOQfqLg="]["isEnabled"] is True


def test_reading_needs_mailbox_settings_read_and_changing_needs_readwrite() -> None:
    h = _h()
    h.roles = frozenset({"Mail.ReadWrite"})
    assert h.get(BASE).status_code == 403
    h.roles = frozenset({"MailboxSettings.Read"})
    assert h.get(BASE).status_code == 200
    assert h.delete(f"{BASE}/AQAAAJ5dZqA=").status_code == 403
    assert "AQAAAJ5dZqA=" in h.tenant.mailboxes[ALICE].rules


def test_china_cloud_has_no_message_rules_segment() -> None:
    h = _h(cloud="china")
    r = h.get(BASE)
    assert r.status_code == 400
    assert r.json()["error"] == {"code": "BadRequest", "innerError": {},
                                 "message": "Resource not found for the segment 'messageRules'."}


def test_rules_only_on_the_inbox() -> None:
    assert _h().get(f"/users/{ALICE}/mailFolders/junkemail/messageRules").status_code == 400


def test_a_rule_id_holding_a_slash_is_addressed_escaped() -> None:
    """Standard-base64 rule ids may hold "/": escaped as %2F the id still names its rule."""
    slashed = {**FORWARD, "id": "AQAAAJ5d/qA="}
    h = Harness(make_tenant(rules=[slashed, LOCKED]))
    unescaped = h.get(f"{BASE}/AQAAAJ5d/qA=")
    assert unescaped.status_code == 400 and "segment 'qA='" in unescaped.json()["error"]["message"]
    assert h.get(f"{BASE}/AQAAAJ5d%2FqA=").json()["displayName"] == "Move invoices"
    assert h.delete(f"{BASE}/AQAAAJ5d%2FqA=").status_code == 204
    assert [r["id"] for r in h.get(BASE).json()["value"]] == ["AQAAAOQfqLg="]
