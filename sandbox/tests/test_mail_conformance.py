"""Every path the mail router serves, and every property name it emits (messages, folders, rules,
attachments and their nested complex types), exists in Microsoft's v1.0 CSDL."""

from __future__ import annotations

from typing import Any

import pytest

from m365sandbox.mail.schema import (
    ATTACHMENT_PROPERTIES,
    FOLDER_PROPERTIES,
    MESSAGE_PROPERTIES,
    RULE_ACTIONS,
    RULE_PREDICATES,
    RULE_PROPERTIES,
)
from tests.csdl import load_schema, needs_schema
from tests.test_mail_harness import ALICE, BOB, Harness, make_tenant, message
from tests.test_mail_rules import FORWARD, LOCKED

pytestmark = needs_schema

SERVED_PATHS = [
    "users/{id}/messages", "users/{id}/messages/{id}", "users/{id}/messages/{id}/move",
    "users/{id}/messages/{id}/copy", "users/{id}/messages/{id}/permanentDelete",
    "users/{id}/messages/{id}/attachments", "users/{id}/messages/{id}/attachments/{id}",
    "users/{id}/mailFolders", "users/{id}/mailFolders/{id}", "users/{id}/mailFolders/{id}/childFolders",
    "users/{id}/mailFolders/{id}/childFolders/{id}", "users/{id}/mailFolders/{id}/messages",
    "users/{id}/mailFolders/{id}/messages/{id}", "users/{id}/mailFolders/{id}/messages/delta",
    "users/{id}/mailFolders/{id}/messages/{id}/move", "users/{id}/mailFolders/{id}/messageRules",
    "users/{id}/mailFolders/{id}/messageRules/{id}", "users/{id}/sendMail",
]
NESTED_RECIPIENTS = ("from", "sender", "toRecipients", "ccRecipients", "bccRecipients", "replyTo")


@pytest.mark.parametrize("path", SERVED_PATHS)
def test_served_paths_exist_in_schema(path: str) -> None:
    assert load_schema().has_path(path)


def test_property_name_tables_match_the_schema() -> None:
    s = load_schema()
    assert MESSAGE_PROPERTIES <= s.structural("message")
    assert set(FOLDER_PROPERTIES) <= s.structural("mailFolder")
    assert RULE_PROPERTIES <= s.structural("messageRule")
    assert set(ATTACHMENT_PROPERTIES) <= s.structural("fileAttachment")
    assert RULE_PREDICATES <= s.complex_properties("messageRulePredicates")
    assert RULE_ACTIONS <= s.complex_properties("messageRuleActions")


def _check_message(m: dict[str, Any]) -> None:
    s = load_schema()
    assert s.unknown_properties("message", m) == set(), m.keys()
    for name in NESTED_RECIPIENTS:
        value = m.get(name)
        for r in value if isinstance(value, list) else [value] if value else []:
            assert set(r) <= s.complex_properties("recipient")
            assert set(r["emailAddress"]) <= s.complex_properties("emailAddress")
    for name in ("body", "uniqueBody"):
        if m.get(name):
            assert set(m[name]) <= s.complex_properties("itemBody")
    for hd in m.get("internetMessageHeaders") or []:
        assert set(hd) <= s.complex_properties("internetMessageHeader")
    if m.get("flag"):
        assert set(m["flag"]) <= s.complex_properties("followupFlag")
    for att in m.get("attachments") or []:
        assert att["@odata.type"] == "#microsoft.graph.fileAttachment"
        assert s.unknown_properties("fileAttachment", att) == set()


def test_emitted_messages_folders_rules_and_attachments_exist_on_their_types() -> None:
    s = load_schema()
    h = Harness(make_tenant([message(1, attach=True), message(2)], rules=[FORWARD, LOCKED]))
    h.post(f"/users/{ALICE}/sendMail", json={"message": {
        "subject": "hi", "toRecipients": [{"emailAddress": {"address": "bob@contoso.example"}}]}})
    everything = ",".join(sorted(MESSAGE_PROPERTIES))
    messages = h.all_pages(f"/users/{ALICE}/messages") + h.all_pages(f"/users/{BOB}/messages")
    messages += h.all_pages(f"/users/{ALICE}/messages",
                            params={"$select": everything, "$expand": "attachments"})
    messages += h.all_pages(f"/users/{ALICE}/mailFolders/inbox/messages/delta")
    moved = h.post(f"/users/{ALICE}/messages/AAMkADseed000002AAA=/move", json={"destinationId": "inbox"})
    messages.append(moved.json())
    for m in messages:
        _check_message(m)
    for att in h.get(f"/users/{ALICE}/messages/AAMkADseed000001AAA=/attachments").json()["value"]:
        assert s.unknown_properties("fileAttachment", att) == set()
    folders = h.all_pages(f"/users/{ALICE}/mailFolders", params={"includeHiddenFolders": "true"})
    folders.append(h.get(f"/users/{ALICE}/mailFolders/inbox").json())
    for f in folders:
        assert s.unknown_properties("mailFolder", f) == set()
    rules = h.get(f"/users/{ALICE}/mailFolders/inbox/messageRules").json()["value"]
    rules.append(h.post(f"/users/{ALICE}/mailFolders/inbox/messageRules",
                        json={"displayName": "x", "actions": {"delete": True}}).json())
    for r in rules:
        assert s.unknown_properties("messageRule", r) == set()
        for part in ("conditions", "exceptions"):
            assert set(r.get(part) or {}) <= s.complex_properties("messageRulePredicates")
        assert set(r.get("actions") or {}) <= s.complex_properties("messageRuleActions")
