"""Scoring and snapshot comparison: new, unchanged, changed, known good, campaigns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailwarden.detection.rules import RuleContext
from mailwarden.store import open_store
from mailwarden.store.repositories import set_rule_known_good
from mailwarden.takeover.assess import (
    assess_mailbox,
    at_or_above,
    campaigns,
    is_alert,
    parse_level,
    record_findings,
)
from mailwarden.takeover.inventory import MailboxRules

CTX = RuleContext(frozenset({"contoso.example"}))
FWD_OUT = {"id": "R1", "displayName": "Sync", "conditions": {},
           "actions": {"forwardTo": [{"emailAddress": {"address": "drop@evil.example"}}]}}
BENIGN = {"id": "R2", "displayName": "News", "conditions": {"senderContains": ["news"]},
          "actions": {"moveToFolder": "Newsletters"}}
HIDDEN = {"RuleIdentity": "77", "Identity": "Bob\\77", "Name": "", "MarkAsRead": True,
          "RedirectTo": ['"x" [SMTP:drop@evil.example]']}


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    s.migrate()
    return s


def _inv(*rules: dict[str, Any], hidden: tuple[dict[str, Any], ...] = ()) -> MailboxRules:
    return MailboxRules("u1", graph_rules=[dict(r) for r in rules], exchange_rules=list(hidden),
                        hidden_rules=list(hidden))


def test_levels_parse_and_compare() -> None:
    assert at_or_above("high", "medium") and not at_or_above("low", "medium")
    with pytest.raises(ValueError, match="threshold"):
        parse_level("severe")


def test_external_forward_and_hidden_rules_are_alerts_benign_is_not() -> None:
    found = {f.rule_key: f for f in assess_mailbox(_inv(FWD_OUT, BENIGN, hidden=(HIDDEN,)),
                                                   {"ForwardingSmtpAddress": None}, CTX)}
    assert is_alert(found["graph:R1"], "medium") and found["graph:R1"].targets == ["drop@evil.example"]
    assert not is_alert(found["graph:R2"], "medium")
    hidden = found["exchange:77"]
    assert hidden.hidden and is_alert(hidden, "high") and hidden.exchange_identity == "Bob\\77"
    assert any("hidden" in r for r in hidden.reason_texts())
    assert not is_alert(found["forwarding"], "low")


def test_snapshots_say_new_then_unchanged_then_changed_and_known_good_resets(store: Any) -> None:
    def run(rule: dict[str, Any]) -> Any:
        with store.session() as s:
            return {f.rule_key: f for f in record_findings(s, "t1", "u1", assess_mailbox(_inv(rule), None, CTX))}

    assert run(FWD_OUT)["graph:R1"].change == "new"
    assert run(FWD_OUT)["graph:R1"].change == "unchanged"
    with store.session() as s:
        set_rule_known_good(s, "t1", "u1", "graph:R1")
    assert run(FWD_OUT)["graph:R1"].known_good is True
    edited = {**FWD_OUT, "actions": {"redirectTo": FWD_OUT["actions"]["forwardTo"]}}
    again = run(edited)["graph:R1"]
    assert again.change == "changed" and again.known_good is False and is_alert(again, "medium")


def test_one_outside_address_from_two_mailboxes_is_one_campaign() -> None:
    a = assess_mailbox(_inv(FWD_OUT), None, CTX)
    b = [f for f in assess_mailbox(MailboxRules("u2", graph_rules=[FWD_OUT]), None, CTX)]
    camps = campaigns([*a, *(f.summary() for f in b)])
    assert [(c.target, c.mailboxes) for c in camps] == [("drop@evil.example", ("u1", "u2"))]
