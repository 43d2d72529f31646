"""Flow ``rules-audit`` against the sandbox: planted rules found, benign ones not, events once."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.common import artifact_key
from tests.flows._artifacts import latest_table

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every ``emit_event`` call of the audit (captured, not sent)."""
    import tasks.rules as mod

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(mod, "emit_event", lambda **kw: seen.append(kw))
    return seen


@pytest.fixture
def tenant(tenant_factory: Any) -> tuple[Any, Any]:
    block, state = tenant_factory(users=30, consent="basic", messages_per_mailbox=2)
    block.save(block.block_name, overwrite=True)
    return block, state


def _run(block: Any, **kw: Any) -> dict[str, Any]:
    from flows.rules_audit import rules_audit

    return rules_audit(tenant=block.primary_domain, concurrency=4, **kw)


def _flagged(out: dict[str, Any]) -> set[tuple[str, str]]:
    got = set()
    for f in out["suspicious"]:
        for ident in (f["graph_id"], f["exchange_identity"]):
            if ident:
                got.add((f["mailbox"], ident))
    return got


def test_planted_malicious_rules_and_forwarding_are_flagged_and_benign_ones_are_not(
        tenant: tuple[Any, Any], events: list[dict[str, Any]]) -> None:
    block, state = tenant
    truth = state.truth
    out = _run(block)
    flagged = _flagged(out)
    assert truth.malicious_rules and truth.malicious_rules <= flagged
    assert not (truth.benign_rules & flagged)
    assert all(f["reasons"] for f in out["suspicious"])
    forwarding = {f["mailbox"]: f["targets"] for f in out["suspicious"] if f["rule_key"] == "forwarding"}
    for uid, target in truth.external_forwarding.items():
        assert target in forwarding[uid]
    hidden = {(f["mailbox"], f["exchange_identity"]) for f in out["suspicious"] if f["hidden"]}
    planted_hidden = {(u, r) for u, r in truth.malicious_rules if "\\" in r}
    assert planted_hidden and planted_hidden <= hidden  # only Exchange -IncludeHidden shows these
    # one event per new suspicious finding, with the resource the trigger matches on
    assert len(events) == len(out["suspicious"]) == out["emitted"]
    # the table shows each mailbox by its address (Get-Mailbox here: no address book yet), its id after
    rows = latest_table(artifact_key("rules-audit-suspicious", block))
    assert len(rows) == len(out["suspicious"]) and all(list(r)[:2] == ["address", "mailbox"] for r in rows)
    smtp = {u: str(r["PrimarySmtpAddress"]).lower() for u, r in state.recipients.items() if r.get("PrimarySmtpAddress")}
    assert rows and all("@" in r["address"] and r["address"] == smtp.get(r["mailbox"], r["address"]) for r in rows)
    assert {r["mailbox"] for r in rows} & set(smtp)
    ev = events[0]
    assert ev["event"] == "mailwarden.rule.suspicious"
    assert ev["resource"]["prefect.resource.id"].startswith(f"mailwarden.tenant.{block.tenant_id}.mailbox.")
    assert ev["payload"]["tenant"] == block.block_name and ev["payload"]["reasons"]
    from m365sandbox.generator.rules import CAMPAIGN_DROP

    camp = next(c for c in out["campaigns"] if c["target"] == CAMPAIGN_DROP)
    assert len(camp["mailboxes"]) >= 2  # several mailboxes, one line


def test_second_run_emits_nothing_until_a_rule_is_added(
        tenant: tuple[Any, Any], events: list[dict[str, Any]], embedded: Any) -> None:
    block, state = tenant
    _run(block)
    events.clear()
    out = _run(block)
    assert events == [] and out["new"] == [] and out["suspicious"]
    victim = sorted(state.truth.protected_mailboxes)[0]
    rule = embedded.sandbox.inject_rule(state.id, victim, {
        "displayName": "sync", "sequence": 9, "isEnabled": True,
        "conditions": {}, "actions": {"forwardTo": [{"emailAddress": {"address": "drop@evil-mail.example"}}],
                                      "delete": True}})
    out = _run(block)
    assert [(e["payload"]["user"], e["payload"]["rule_key"]) for e in events] == [(victim, f"graph:{rule['id']}")]
    assert [f["rule_key"] for f in out["new"]] == [f"graph:{rule['id']}"]


def test_threshold_high_reports_fewer_and_bad_threshold_is_rejected(
        tenant: tuple[Any, Any], events: list[dict[str, Any]]) -> None:
    block, _ = tenant
    high = _run(block, threshold="high")
    assert all(f["risk"] == "high" for f in high["suspicious"])
    with pytest.raises(ValueError, match="threshold"):
        _run(block, threshold="severe")


def test_china_cloud_reads_rules_through_exchange_only_with_a_note(
        tenant_factory: Any, events: list[dict[str, Any]]) -> None:
    block, state = tenant_factory(users=20, consent="basic", cloud="china", messages_per_mailbox=1)
    block.save(block.block_name, overwrite=True)
    out = _run(block)
    assert any("messageRules" in n for n in out["notes"])
    assert all(f["source"] != "graph" for f in out["suspicious"])
    flagged = {(f["mailbox"], f["exchange_identity"]) for f in out["suspicious"]}
    hidden = {(u, r) for u, r in state.truth.malicious_rules if "\\" in r}
    assert hidden <= flagged
    assert {f["mailbox"] for f in out["suspicious"]} >= {u for u, _ in state.truth.malicious_rules}
