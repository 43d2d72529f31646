"""Rule inventory: Graph/Exchange matching, hidden rules, folder names, forwarding."""

from __future__ import annotations

import base64
from typing import Any

from mailwarden.graph import NotFound
from mailwarden.takeover.inventory import (
    exchange_rule_identity,
    forwarding_by_mailbox,
    gather_mailbox_rules,
    mailbox_ids,
)

GID = base64.b64encode((1 << 56 | 12345).to_bytes(8, "big")).decode()


class FakeGraph:
    def __init__(self, rules: list[dict[str, Any]], folders: dict[str, str]) -> None:
        self.rules, self.folders, self.gets = rules, folders, []

    def iter_pages(self, path: str, **_: Any) -> list[dict[str, Any]]:
        assert path.endswith("/mailFolders/inbox/messageRules")
        return self.rules

    def get(self, path: str, **_: Any) -> dict[str, Any]:
        self.gets.append(path)
        fid = path.rsplit("/", 1)[1]
        if fid not in self.folders:
            raise NotFound(404, "ErrorItemNotFound", "gone", None)
        return {"displayName": self.folders[fid]}


class FakeExchange:
    def __init__(self, visible: list[dict[str, Any]], hidden: list[dict[str, Any]]) -> None:
        self.visible, self.hidden = visible, hidden

    def get_inbox_rules(self, mailbox: str, include_hidden: bool = True) -> list[dict[str, Any]]:
        return self.visible + (self.hidden if include_hidden else [])


def test_graph_rule_id_maps_to_the_exchange_rule_identity() -> None:
    assert exchange_rule_identity(GID) == str(1 << 56 | 12345)
    assert exchange_rule_identity("not base64!") is None
    assert exchange_rule_identity(base64.b64encode(b"abc").decode()) is None


def test_rules_only_exchange_lists_are_hidden_and_folder_ids_become_names() -> None:
    graph = FakeGraph([{"id": GID, "displayName": "x", "actions": {"moveToFolder": "F1", "copyToFolder": "F2"}}],
                      {"F1": "RSS Feeds"})
    visible = {"RuleIdentity": str(1 << 56 | 12345), "Name": "x"}
    hidden = {"RuleIdentity": "999", "Name": "", "Identity": "Bob\\999"}
    inv = gather_mailbox_rules(graph, FakeExchange([visible], [hidden]), "u1")
    assert inv.hidden_rules == [hidden]
    acts = inv.graph_rules[0]["actions"]
    assert acts["moveToFolder"] == "RSS Feeds" and acts["moveToFolderId"] == "F1"
    assert acts["copyToFolder"] == "F2"  # unknown folder keeps its id


def test_without_message_rules_hidden_ones_come_from_comparing_exchange_views() -> None:
    visible = {"RuleIdentity": "1", "Name": "a"}
    hidden = {"RuleIdentity": "2", "Name": ""}
    inv = gather_mailbox_rules(None, FakeExchange([visible], [hidden]), "u1", message_rules=False)
    assert inv.graph_rules == [] and inv.hidden_rules == [hidden] and inv.notes


def test_forwarding_is_listed_for_every_mailbox_with_none_when_off() -> None:
    listed = [{"ExternalDirectoryObjectId": "a", "ForwardingSmtpAddress": "smtp:x@evil.example"},
              {"ExternalDirectoryObjectId": "b", "ForwardingSmtpAddress": ""}, {"Name": "no id"}]
    fwd = forwarding_by_mailbox(listed)
    assert fwd["a"]["ForwardingSmtpAddress"] == "smtp:x@evil.example"
    assert fwd["b"]["ForwardingSmtpAddress"] is None and set(fwd) == {"a", "b"}
    assert mailbox_ids(listed) == ["a", "b"]
