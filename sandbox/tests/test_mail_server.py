"""The mail router inside the real sandbox server: token, tenant state and control surface."""

from __future__ import annotations

import httpx

from m365sandbox import Sandbox
from tests.conftest import TENANT_A

ALICE = "aaaaaaaa-u001-4000-8000-000000000000"


def test_injected_message_is_listed_moved_and_rules_are_served(sb: Sandbox, graph: httpx.Client) -> None:
    stored = sb.inject_message(TENANT_A, "alice@contoso.example", {
        "subject": "Invoice overdue", "from": {"emailAddress": {"address": "billing@evil.example"}}})
    body = graph.get("/users/alice@contoso.example/messages").json()
    assert body["@odata.context"].startswith("https://graph.microsoft.com/v1.0/$metadata#users(")
    assert [m["subject"] for m in body["value"]] == ["Invoice overdue"]
    moved = graph.post(f"/users/{ALICE}/messages/{stored['id']}/move", json={"destinationId": "deleteditems"})
    assert moved.status_code == 201 and moved.json()["id"] != stored["id"]
    assert moved.json()["lastModifiedDateTime"] == "2027-01-15T08:00:00Z"  # the sandbox's clock
    rules = graph.get(f"/users/{ALICE}/mailFolders/inbox/messageRules").json()["value"]
    assert [r["id"] for r in rules] == ["AQAAAJ5dZqA="]
    assert graph.get("/users/carol@contoso.example/mailFolders").json()["error"]["code"] \
        == "MailboxNotEnabledForRESTAPI"
