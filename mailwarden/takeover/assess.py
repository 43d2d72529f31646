"""Score a mailbox's rules and forwarding, and compare them with the last stored snapshot.

``assess_mailbox`` turns a :class:`MailboxRules` (+ forwarding) into :class:`RuleFinding` s;
``record_findings`` upserts them into the rule/forwarding snapshots, marks vanished rules removed
and fills in ``change`` (new / changed / unchanged) and ``known_good``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailwarden.detection.rules import (
    Campaign,
    RiskLevel,
    RuleContext,
    RuleRisk,
    external_targets,
    find_forwarding_campaigns,
    score_exchange_rule,
    score_forwarding,
    score_graph_rule,
)
from mailwarden.store.repositories import mark_rules_removed, upsert_forwarding_snapshot, upsert_rule_snapshot
from mailwarden.takeover.inventory import MailboxRules, exchange_rule_identity, exchange_rule_key

FORWARDING_KEY = "forwarding"
_ORDER = {RiskLevel.NONE: 0, RiskLevel.LOW: 1, RiskLevel.MEDIUM: 2, RiskLevel.HIGH: 3}


def parse_level(value: str | RiskLevel) -> RiskLevel:
    """A risk level from its name (``low``/``medium``/``high``); ValueError otherwise."""
    try:
        return RiskLevel(str(value).strip().lower())
    except ValueError:
        raise ValueError(f"threshold must be one of {[str(x) for x in RiskLevel]}, not {value!r}") from None


def at_or_above(level: str | RiskLevel, threshold: str | RiskLevel) -> bool:
    """Whether ``level`` reaches ``threshold``."""
    return _ORDER[parse_level(level)] >= _ORDER[parse_level(threshold)]


@dataclass
class RuleFinding:
    """One scored rule (or the mailbox forwarding) of one mailbox."""

    mailbox_id: str
    rule_key: str  # graph:<id>, exchange:<RuleIdentity>, or "forwarding"
    source: str  # graph | exchange | forwarding
    name: str
    risk: RuleRisk
    content: dict[str, Any]
    hidden: bool = False
    graph_id: str | None = None
    exchange_identity: str | None = None
    targets: list[str] = field(default_factory=list)
    change: str = "unknown"
    known_good: bool = False
    first_seen: datetime | None = None

    @property
    def level(self) -> str:
        return str(self.risk.level)

    def reason_texts(self) -> list[str]:
        return [r.detail for r in self.risk.reasons]

    def summary(self) -> dict[str, Any]:
        """JSON-ready view for events, artifacts and results."""
        return {"mailbox": self.mailbox_id, "rule_key": self.rule_key, "source": self.source, "name": self.name,
                "hidden": self.hidden, "risk": self.level, "score": self.risk.score,
                "reasons": self.reason_texts(), "targets": self.targets, "change": self.change,
                "known_good": self.known_good, "graph_id": self.graph_id,
                "exchange_identity": self.exchange_identity,
                "first_seen": self.first_seen.isoformat() if self.first_seen else None}


def assess_mailbox(inv: MailboxRules, forwarding: dict[str, Any] | None, ctx: RuleContext) -> list[RuleFinding]:
    """Score every Graph rule, every hidden (Exchange-only) rule and the mailbox forwarding."""
    out: list[RuleFinding] = []
    by_identity = {str(r.get("RuleIdentity")): r for r in inv.exchange_rules}
    for rule in inv.graph_rules:
        rid = str(rule.get("id", ""))
        ex = by_identity.get(exchange_rule_identity(rid) or "")
        out.append(RuleFinding(inv.mailbox_id, f"graph:{rid}", "graph", str(rule.get("displayName") or ""),
                               score_graph_rule(rule, ctx), dict(rule), graph_id=rid,
                               exchange_identity=str(ex["Identity"]) if ex and ex.get("Identity") else None,
                               targets=external_targets(rule, ctx)))
    graph_backed = {exchange_rule_identity(str(r.get("id", ""))) for r in inv.graph_rules}
    hidden_ids = {id(r) for r in inv.hidden_rules}
    for rule in inv.exchange_rules:
        if inv.graph_supported and str(rule.get("RuleIdentity")) in graph_backed:
            continue
        hidden = id(rule) in hidden_ids
        out.append(RuleFinding(inv.mailbox_id, exchange_rule_key(rule), "exchange", str(rule.get("Name") or ""),
                               score_exchange_rule(rule, ctx, hidden=hidden), dict(rule), hidden=hidden,
                               exchange_identity=str(rule.get("Identity") or "") or None,
                               targets=external_targets(rule, ctx)))
    if forwarding:
        out.append(RuleFinding(inv.mailbox_id, FORWARDING_KEY, "forwarding", "mailbox forwarding",
                               score_forwarding(forwarding, ctx), dict(forwarding),
                               targets=external_targets(forwarding, ctx)))
    return out


def _content(f: RuleFinding) -> dict[str, Any]:
    """What the fingerprint covers: the rule's settings, not volatile fields or resolved names."""
    return {k: v for k, v in f.content.items() if not k.startswith("@odata") and k not in ("sequence", "Priority")}


def record_findings(session: Session, tenant_id: str, mailbox_id: str, findings: Iterable[RuleFinding],
                    *, now: datetime | None = None) -> list[RuleFinding]:
    """Store this run's snapshot of one mailbox; fills ``change``/``known_good``/``first_seen``."""
    findings = list(findings)
    rule_keys = []
    for f in findings:
        reasons = [r.to_dict() for r in f.risk.reasons]
        snap: Any
        if f.source == "forwarding":
            snap, change = upsert_forwarding_snapshot(session, tenant_id, mailbox_id, _content(f),
                                                      risk_level=f.level, reasons=reasons, seen_at=now)
        else:
            rule_keys.append(f.rule_key)
            snap, change = upsert_rule_snapshot(session, tenant_id, mailbox_id, f.rule_key, _content(f),
                                                risk_level=f.level, reasons=reasons, hidden=f.hidden, seen_at=now)
        f.change, f.known_good = change, bool(snap.known_good)
        f.first_seen = getattr(snap, "first_seen", None)
    mark_rules_removed(session, tenant_id, mailbox_id, rule_keys, at=now)
    return findings


def is_alert(f: RuleFinding, threshold: str | RiskLevel) -> bool:
    """Suspicious: at or above ``threshold`` and not marked known good."""
    return at_or_above(f.risk.level, threshold) and not f.known_good


def campaigns(findings: Iterable[RuleFinding | dict[str, Any]],
              threshold: str | RiskLevel = RiskLevel.MEDIUM) -> list[Campaign]:
    """Outside addresses that several mailboxes forward to (findings or their ``summary()`` dicts)."""
    rows = [f.summary() if isinstance(f, RuleFinding) else f for f in findings]
    pairs = [(f["mailbox"], f["targets"]) for f in rows if f["targets"] and at_or_above(f["risk"], threshold)]
    return find_forwarding_campaigns(pairs)
