"""mailwarden.store.repositories.rules: rule and forwarding snapshots, known-good marks."""

from __future__ import annotations

from mailwarden.store import Store
from mailwarden.store.repositories import (
    fingerprint,
    list_known_good_forwarding,
    list_known_good_rules,
    list_rules,
    mark_rules_removed,
    set_forwarding_known_good,
    set_rule_known_good,
    upsert_forwarding_snapshot,
    upsert_rule_snapshot,
)

RULE = {"displayName": "Move newsletters", "actions": {"moveToFolder": "news"}}


def test_fingerprint_ignores_key_order() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_rule_upsert_reports_new_unchanged_and_changed(store: Store) -> None:
    with store.session() as s:
        assert upsert_rule_snapshot(s, "t1", "mbx", "graph:r1", RULE, risk_level="low")[1] == "new"
    with store.session() as s:
        assert (
            upsert_rule_snapshot(s, "t1", "mbx", "graph:r1", dict(reversed(RULE.items())))[1] == "unchanged"
        )
        changed = {**RULE, "actions": {"forwardTo": ["evil@x.example"]}}
        snap, change = upsert_rule_snapshot(
            s, "t1", "mbx", "graph:r1", changed, risk_level="high", reasons=["forwards externally"]
        )
        assert change == "changed" and snap.content == changed and snap.risk_level == "high"


def test_known_good_is_reset_when_the_rule_changes(store: Store) -> None:
    with store.session() as s:
        upsert_rule_snapshot(s, "t1", "mbx", "graph:r1", RULE)
        upsert_rule_snapshot(s, "t1", "mbx", "exchange:r2", {"x": 1}, hidden=True)
        set_rule_known_good(s, "t1", "mbx", "graph:r1")
        set_rule_known_good(s, "t1", "mbx", "exchange:r2")
    with store.session() as s:
        upsert_rule_snapshot(s, "t1", "mbx", "graph:r1", RULE)  # unchanged: stays known good
        upsert_rule_snapshot(s, "t1", "mbx", "exchange:r2", {"x": 2}, hidden=True)  # edited: review again
    with store.session() as s:
        assert [r.rule_key for r in list_known_good_rules(s, "t1")] == ["graph:r1"]


def test_rules_missing_from_a_listing_are_marked_removed(store: Store) -> None:
    with store.session() as s:
        upsert_rule_snapshot(s, "t1", "mbx", "graph:r1", RULE)
        upsert_rule_snapshot(s, "t1", "mbx", "graph:r2", {"y": 1})
    with store.session() as s:
        gone = mark_rules_removed(s, "t1", "mbx", ["graph:r1"])
        assert [g.rule_key for g in gone] == ["graph:r2"]
        assert mark_rules_removed(s, "t1", "mbx", ["graph:r1"]) == []
        assert [r.rule_key for r in list_rules(s, "t1", include_removed=False)] == ["graph:r1"]
        _, change = upsert_rule_snapshot(s, "t1", "mbx", "graph:r2", {"y": 1})
        assert change == "changed"  # a rule that comes back is news


def test_forwarding_snapshot_upsert_and_known_good(store: Store) -> None:
    fwd = {"forwardingSmtpAddress": "smtp:ext@x.example", "deliverToMailboxAndForward": True}
    with store.session() as s:
        assert upsert_forwarding_snapshot(s, "t1", "mbx", fwd, risk_level="high")[1] == "new"
        assert upsert_forwarding_snapshot(s, "t1", "mbx", fwd)[1] == "unchanged"
        set_forwarding_known_good(s, "t1", "mbx")
    with store.session() as s:
        assert [f.mailbox_id for f in list_known_good_forwarding(s, "t1")] == ["mbx"]
        assert (
            upsert_forwarding_snapshot(s, "t1", "mbx", {**fwd, "forwardingSmtpAddress": "smtp:y@z"})[1]
            == "changed"
        )
        assert list_known_good_forwarding(s, "t1") == []
