"""Inbox-rule, mailbox-forwarding and campaign scoring."""

from __future__ import annotations

import pytest

from mailwarden.detection import (
    RiskLevel,
    RuleContext,
    external_targets,
    find_forwarding_campaigns,
    score_exchange_rule,
    score_forwarding,
    score_graph_rule,
    score_rule,
)

CTX = RuleContext(
    tenant_domains=frozenset({"contoso.com"}), internal_addresses=frozenset({"bob@contoso.com"})
)


def g(address):
    return [{"emailAddress": {"name": "", "address": address}}]


def codes(risk):
    return {r.code for r in risk.reasons}


def test_newsletter_move_rule_is_benign():
    r = score_graph_rule(
        {
            "displayName": "Newsletters",
            "isEnabled": True,
            "conditions": {"senderContains": ["news"]},
            "actions": {"moveToFolder": "AAMkNews"},
        },
        CTX,
    )
    assert r.level == RiskLevel.NONE and r.reasons


def test_forward_to_internal_colleague_is_low_at_most():
    r = score_graph_rule(
        {
            "displayName": "To Bob",
            "conditions": {"subjectContains": ["report"]},
            "actions": {"forwardTo": g("bob@contoso.com")},
        },
        CTX,
    )
    assert r.level in (RiskLevel.NONE, RiskLevel.LOW)
    assert "external_forward" not in codes(r)


def test_external_forward_is_at_least_medium():
    r = score_graph_rule(
        {
            "displayName": "fwd",
            "conditions": {"subjectContains": ["report"]},
            "actions": {"forwardTo": g("me@gmail.com")},
        },
        CTX,
    )
    assert r.level in (RiskLevel.MEDIUM, RiskLevel.HIGH) and "external_forward" in codes(r)


def test_forward_everything_outside_with_stop_processing_is_high():
    r = score_graph_rule(
        {
            "displayName": "x",
            "conditions": {},
            "actions": {"redirectTo": g("drop@evil.example"), "stopProcessingRules": True},
        },
        CTX,
    )
    assert r.level == RiskLevel.HIGH
    assert {"external_redirect", "no_conditions", "stop_processing"} <= codes(r)


def test_delete_everything_without_conditions_is_flagged():
    r = score_graph_rule({"displayName": "clean", "conditions": {}, "actions": {"delete": True}}, CTX)
    assert r.level in (RiskLevel.MEDIUM, RiskLevel.HIGH)
    assert {"delete_messages", "no_conditions"} <= codes(r)


def test_invoice_keywords_with_delete_are_flagged_but_keywords_alone_are_not():
    risky = score_exchange_rule(
        {"Name": "a", "SubjectOrBodyContainsWords": ["invoice", "payment"], "DeleteMessage": True}, CTX
    )
    assert risky.level in (RiskLevel.MEDIUM, RiskLevel.HIGH) and "suspicious_keywords" in codes(risky)
    plain = score_exchange_rule({"Name": "Invoices", "SubjectContainsWords": ["invoice"]}, CTX)
    assert plain.level == RiskLevel.NONE


def test_rss_folder_and_mark_as_read_is_flagged():
    r = score_exchange_rule(
        {
            "Name": "x",
            "MoveToFolder": "Inbox\\RSS Feeds",
            "MarkAsRead": True,
            "FromAddressContainsWords": ["bank"],
        },
        CTX,
    )
    assert r.level in (RiskLevel.MEDIUM, RiskLevel.HIGH)
    assert {"move_to_hiding_folder", "mark_as_read"} <= codes(r)


@pytest.mark.parametrize("name", ["", ".", "  ", "..", None])
def test_blank_name_is_a_reason(name):
    assert "blank_name" in codes(score_exchange_rule({"Name": name, "MarkAsRead": True}, CTX))


def test_hidden_rule_is_a_reason():
    r = score_exchange_rule({"Name": "sync", "ForwardTo": "x@evil.example"}, CTX, hidden=True)
    assert "hidden_rule" in codes(r) and r.level == RiskLevel.HIGH


def test_exchange_forward_strings_and_lists_are_parsed():
    r = score_exchange_rule({"Name": "x", "ForwardTo": '"Bob" [SMTP:bob@evil.example]'}, CTX)
    assert "bob@evil.example" in " ".join(x.detail for x in r.reasons)
    r2 = score_exchange_rule(
        {"Name": "x", "RedirectTo": ['"Bob" [SMTP:bob@contoso.com]', "SMTP:c@evil.example"]}, CTX
    )
    assert "external_redirect" in codes(r2)
    assert score_exchange_rule({"Name": "x", "ForwardTo": '"Bob" [SMTP:bob@contoso.com]'}, CTX).level in (
        RiskLevel.NONE,
        RiskLevel.LOW,
    )


def test_mailbox_forwarding():
    r = score_forwarding(
        {"ForwardingSmtpAddress": "smtp:x@evil.example", "DeliverToMailboxAndForward": False}, CTX
    )
    assert r.level == RiskLevel.HIGH and {"forwarding_smtp", "keep_no_copy"} <= codes(r)
    assert (
        score_forwarding({"ForwardingSmtpAddress": None, "ForwardingAddress": None}, CTX).level
        == RiskLevel.NONE
    )
    assert score_forwarding({"ForwardingSmtpAddress": "smtp:bob@contoso.com"}, CTX).level in (
        RiskLevel.NONE,
        RiskLevel.LOW,
    )


def test_score_rule_dispatches_on_shape_and_targets_are_listed():
    graph = {"displayName": "x", "actions": {"forwardTo": g("a@evil.example")}}
    assert "external_forward" in codes(score_rule(graph, CTX))
    assert "external_forward" in codes(score_rule({"Name": "x", "ForwardTo": "a@evil.example"}, CTX))
    assert external_targets(graph, CTX) == ["a@evil.example"]


def test_campaigns_group_one_target_across_mailboxes():
    camps = find_forwarding_campaigns(
        [
            ("alice@contoso.com", ["drop@evil.example"]),
            ("bob@contoso.com", ["DROP@evil.example", "solo@x.example"]),
            ("carol@contoso.com", []),
        ]
    )
    assert len(camps) == 1
    assert camps[0].target == "drop@evil.example"
    assert camps[0].mailboxes == ("alice@contoso.com", "bob@contoso.com")
    assert find_forwarding_campaigns([("a", ["t@x.example"]), ("a", ["t@x.example"])]) == []


@pytest.mark.parametrize("junk", [None, 5, "rule", [], {"actions": "x", "conditions": 3}])
def test_junk_rules_do_not_raise(junk):
    assert isinstance(score_graph_rule(junk, CTX).level, RiskLevel)
    assert isinstance(score_exchange_rule(junk, CTX).level, RiskLevel)
    assert score_graph_rule(None, CTX).level == RiskLevel.NONE
