"""Inbox-rule and mailbox-forwarding risk: the usual account-takeover persistence tricks.

Scores Graph ``messageRule`` JSON, Exchange ``Get-InboxRule`` output and ``Get-Mailbox``
forwarding fields, and groups external forwarding targets shared by several mailboxes into
campaigns. Every finding carries a :class:`~mailwarden.detection.model.Reason`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .domains import is_within, split_address
from .model import Reason

_SUSPICIOUS_WORDS = re.compile(
    r"invoice|payment|wire|transfer|bank|remit|ach\b|swift|iban|w-?2|payroll|salary|direct deposit|"
    r"password|credential|security|verify|verification|phish|hack|compromis|suspicious|fraud|helpdesk|"
    r"help desk|it support|mfa|sign[- ]?in|login|docusign|gift card|urgent|wallet|crypto|bitcoin",
    re.IGNORECASE,
)
_SMTP = re.compile(r"(?:smtp:)?([^\s\[\]<>\"';,]+@[^\s\[\]<>\"';,]+)", re.IGNORECASE)
_HIDING_FOLDERS = re.compile(
    r"^(?:rss|rss feeds|rss subscriptions|conversation history|archive|junk|junk e-?mail|"
    r"deleted items|notes|sync issues|outbox|\.|\s*)$",
    re.IGNORECASE,
)
_BLANKISH_NAME = re.compile(r"^[\s.\-_,;:'\"`~*]*$")


class RiskLevel(StrEnum):
    """How worrying a rule or forwarding setting is."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class RuleRisk:
    """Risk of one rule: level, numeric score and the reasons behind it."""

    level: RiskLevel
    score: float
    reasons: tuple[Reason, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"level": str(self.level), "score": self.score, "reasons": [r.to_dict() for r in self.reasons]}


@dataclass
class RuleContext:
    """The tenant's own domains and addresses (forwarding inside them is not exfiltration)."""

    tenant_domains: frozenset[str] = frozenset()
    internal_addresses: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.tenant_domains = frozenset(d.lower().strip(".") for d in self.tenant_domains)
        self.internal_addresses = frozenset(a.lower() for a in self.internal_addresses)

    def is_external(self, address: str) -> bool:
        a = address.lower().strip()
        if a in self.internal_addresses:
            return False
        parts = split_address(a)
        if not parts:
            return False  # not an SMTP address: an internal recipient reference (name, legacyDN)
        return not is_within(parts[1], self.tenant_domains)


@dataclass(frozen=True)
class Campaign:
    """One outside address that receives forwarded mail from several mailboxes."""

    target: str
    mailboxes: tuple[str, ...] = field(default_factory=tuple)


_WEIGHTS = {
    "external_forward": 6.0,
    "external_redirect": 6.0,
    "external_forward_attachment": 6.0,
    "internal_forward": 0.5,
    "delete_messages": 2.0,
    "permanent_delete": 3.0,
    "mark_as_read": 1.0,
    "move_to_hiding_folder": 2.5,
    "no_conditions": 1.5,
    "suspicious_keywords": 2.5,
    "stop_processing": 1.0,
    "blank_name": 2.0,
    "hidden_rule": 3.0,
    "forward_all_mail": 1.5,
    "forwarding_smtp": 6.0,
    "forwarding_address": 1.0,
    "keep_no_copy": 1.0,
    "no_risky_action": 0.0,
}
_LEVELS = ((7.0, RiskLevel.HIGH), (3.5, RiskLevel.MEDIUM), (1.0, RiskLevel.LOW))


def _level(score: float) -> RiskLevel:
    for bound, level in _LEVELS:
        if score >= bound:
            return level
    return RiskLevel.NONE


def _risk(hits: list[tuple[str, str]]) -> RuleRisk:
    hits = hits or [("no_risky_action", "nothing forwards, deletes or hides mail")]
    reasons = tuple(Reason(code, detail, _WEIGHTS[code]) for code, detail in dict.fromkeys(hits))
    score = round(sum(r.weight for r in reasons), 2)
    level = _level(score)
    codes = {r.code for r in reasons}
    exfil = codes & {
        "external_forward",
        "external_redirect",
        "external_forward_attachment",
        "forwarding_smtp",
    }
    if exfil and codes & {
        "delete_messages",
        "permanent_delete",
        "mark_as_read",
        "move_to_hiding_folder",
        "hidden_rule",
        "blank_name",
        "stop_processing",
        "suspicious_keywords",
    }:
        level = RiskLevel.HIGH
    return RuleRisk(level, score, reasons)


def _addresses(value: Any) -> list[str]:
    """SMTP addresses from a Graph recipient list, a cmdlet string like '"Bob" [SMTP:b@x]', or lists."""
    out: list[str] = []
    if value is None:
        return out
    if isinstance(value, dict):
        inner = value.get("emailAddress", value)
        addr = inner.get("address") if isinstance(inner, dict) else None
        if isinstance(addr, str) and addr:
            out.append(addr.strip().lower())
        return out
    if isinstance(value, list | tuple):
        for item in value[:200]:
            out.extend(_addresses(item))
        return out
    if isinstance(value, str):
        found = [m.group(1).lower().strip(".") for m in _SMTP.finditer(value)]
        return found or ([value.strip()] if value.strip() else [])
    return out


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v]
    return []


def _forward_hits(kind: str, targets: list[str], ctx: RuleContext, hits: list[tuple[str, str]]) -> bool:
    external = [t for t in targets if ctx.is_external(t)]
    if external:
        hits.append((kind, f"{kind.replace('_', ' ')} to outside address(es): {', '.join(external[:3])}"))
    elif targets:
        hits.append(("internal_forward", f"forwards inside the organisation to {', '.join(targets[:3])}"))
    return bool(external)


def _keyword_hits(words: list[str], hits: list[tuple[str, str]]) -> bool:
    bad = [w for w in words if _SUSPICIOUS_WORDS.search(w)]
    if bad:
        hits.append(("suspicious_keywords", f"rule watches for {', '.join(repr(w[:30]) for w in bad[:4])}"))
    return bool(bad)


def score_graph_rule(rule: dict[str, Any], context: RuleContext) -> RuleRisk:
    """Score a Graph ``messageRule`` (displayName, conditions, actions, exceptions, isEnabled)."""
    hits: list[tuple[str, str]] = []
    if not isinstance(rule, dict):
        return RuleRisk(RiskLevel.NONE, 0.0, ())
    cond = _dict(rule.get("conditions"))
    act = _dict(rule.get("actions"))
    name = rule.get("displayName")
    if not isinstance(name, str) or _BLANKISH_NAME.match(name):
        hits.append(("blank_name", f"rule name is blank or punctuation only: {name!r}"))
    external = False
    for key, code in (
        ("forwardTo", "external_forward"),
        ("redirectTo", "external_redirect"),
        ("forwardAsAttachmentTo", "external_forward_attachment"),
    ):
        external |= _forward_hits(code, _addresses(act.get(key)), context, hits)
    if act.get("permanentDelete"):
        hits.append(("permanent_delete", "rule permanently deletes messages"))
    if act.get("delete"):
        hits.append(("delete_messages", "rule deletes messages"))
    if act.get("markAsRead"):
        hits.append(("mark_as_read", "rule marks messages as read"))
    folder = act.get("moveToFolder") or act.get("copyToFolder")
    if isinstance(folder, str) and _HIDING_FOLDERS.match(folder):
        hits.append(("move_to_hiding_folder", f"rule moves mail to a rarely-read folder ({folder})"))
    active = {k: v for k, v in cond.items() if v not in (None, [], False, "")} if cond else {}
    if not active and (external or act.get("delete") or act.get("permanentDelete") or act.get("markAsRead")):
        hits.append(("no_conditions", "rule applies to every message"))
        if external:
            hits.append(("forward_all_mail", "all mail is forwarded out"))
    words = []
    for key in ("subjectContains", "bodyContains", "bodyOrSubjectContains", "headerContains"):
        words.extend(_words(cond.get(key)))
    if _keyword_hits(words, hits) and not (
        external or act.get("delete") or act.get("permanentDelete") or act.get("markAsRead") or folder
    ):
        hits.pop()  # watching for "invoice" is only risky when the rule also hides or sends mail
    if act.get("stopProcessingRules") and (external or act.get("delete") or act.get("permanentDelete")):
        hits.append(("stop_processing", "rule stops later rules from running"))
    return _risk(hits)


def score_exchange_rule(rule: dict[str, Any], context: RuleContext, *, hidden: bool = False) -> RuleRisk:
    """Score one ``Get-InboxRule`` object; ``hidden`` marks a rule only visible with -IncludeHidden."""
    hits: list[tuple[str, str]] = []
    if not isinstance(rule, dict):
        return RuleRisk(RiskLevel.NONE, 0.0, ())
    if hidden or rule.get("IsHidden") or rule.get("Hidden"):
        hits.append(("hidden_rule", "rule is hidden from Outlook and the mailbox owner"))
    name = rule.get("Name")
    if not isinstance(name, str) or _BLANKISH_NAME.match(name):
        hits.append(("blank_name", f"rule name is blank or punctuation only: {name!r}"))
    external = False
    for key, code in (
        ("ForwardTo", "external_forward"),
        ("RedirectTo", "external_redirect"),
        ("ForwardAsAttachmentTo", "external_forward_attachment"),
    ):
        external |= _forward_hits(code, _addresses(rule.get(key)), context, hits)
    deletes = bool(rule.get("DeleteMessage") or rule.get("SoftDeleteMessage"))
    if rule.get("PermanentDelete") or rule.get("HardDeleteMessage"):
        hits.append(("permanent_delete", "rule permanently deletes messages"))
        deletes = True
    if deletes:
        hits.append(("delete_messages", "rule deletes messages"))
    if rule.get("MarkAsRead"):
        hits.append(("mark_as_read", "rule marks messages as read"))
    folder = rule.get("MoveToFolder") or rule.get("CopyToFolder")
    if isinstance(folder, str):
        leaf = folder.replace("\\", "/").rsplit("/", 1)[-1].strip()
        if _HIDING_FOLDERS.match(leaf) or leaf.lower().startswith("rss"):
            hits.append(("move_to_hiding_folder", f"rule moves mail to a rarely-read folder ({leaf})"))
    cond_keys = (
        "From",
        "SentTo",
        "SubjectContainsWords",
        "BodyContainsWords",
        "SubjectOrBodyContainsWords",
        "FromAddressContainsWords",
        "HeaderContainsWords",
        "RecipientAddressContainsWords",
        "HasAttachment",
        "MessageTypeMatches",
        "WithImportance",
        "FlaggedForAction",
        "SentOnlyToMe",
        "MyNameInToBox",
        "MyNameInCcBox",
        "FromSubscription",
        "WithinSizeRangeMinimum",
    )
    has_cond = any(rule.get(k) not in (None, [], False, "") for k in cond_keys)
    if not has_cond and (external or deletes or rule.get("MarkAsRead")):
        hits.append(("no_conditions", "rule applies to every message"))
        if external:
            hits.append(("forward_all_mail", "all mail is forwarded out"))
    words = []
    for key in ("SubjectContainsWords", "BodyContainsWords", "SubjectOrBodyContainsWords"):
        words.extend(_words(rule.get(key)))
    if _keyword_hits(words, hits) and not (external or deletes or rule.get("MarkAsRead") or folder):
        hits.pop()
    if rule.get("StopProcessingRules") and (external or deletes):
        hits.append(("stop_processing", "rule stops later rules from running"))
    return _risk(hits)


def score_forwarding(mailbox: dict[str, Any], context: RuleContext) -> RuleRisk:
    """Score ``Get-Mailbox`` forwarding (ForwardingSmtpAddress, ForwardingAddress, DeliverToMailbox...)."""
    hits: list[tuple[str, str]] = []
    if not isinstance(mailbox, dict):
        return RuleRisk(RiskLevel.NONE, 0.0, ())
    smtp = _addresses(mailbox.get("ForwardingSmtpAddress"))
    external = [a for a in smtp if context.is_external(a)]
    if external:
        hits.append(("forwarding_smtp", f"mailbox forwards all mail to outside address {external[0]}"))
    elif smtp:
        hits.append(("internal_forward", f"mailbox forwards all mail inside the organisation to {smtp[0]}"))
    fwd = mailbox.get("ForwardingAddress")
    if isinstance(fwd, str) and fwd.strip():
        hits.append(("forwarding_address", f"mailbox forwards to recipient object {fwd.strip()[:80]}"))
    if (external or fwd) and mailbox.get("DeliverToMailboxAndForward") is False:
        hits.append(("keep_no_copy", "forwarded mail is not kept in the mailbox"))
    return _risk(hits)


def external_targets(rule: dict[str, Any], context: RuleContext) -> list[str]:
    """Outside addresses a Graph or Exchange rule (or mailbox) sends mail to."""
    if not isinstance(rule, dict):
        return []
    out: list[str] = []
    act = rule.get("actions") if isinstance(rule.get("actions"), dict) else rule
    assert isinstance(act, dict)
    for key in (
        "forwardTo",
        "redirectTo",
        "forwardAsAttachmentTo",
        "ForwardTo",
        "RedirectTo",
        "ForwardAsAttachmentTo",
        "ForwardingSmtpAddress",
    ):
        out.extend(a for a in _addresses(act.get(key)) if context.is_external(a))
    return list(dict.fromkeys(out))


def find_forwarding_campaigns(findings: Iterable[tuple[str, Iterable[str]]]) -> list[Campaign]:
    """Group (mailbox, external targets): one outside address seen from >= 2 mailboxes is one campaign."""
    seen: dict[str, dict[str, None]] = {}
    for mailbox, targets in findings:
        for target in targets:
            t = target.strip().lower()
            if t:
                seen.setdefault(t, {})[str(mailbox).strip().lower()] = None
    campaigns = [Campaign(t, tuple(sorted(m))) for t, m in seen.items() if len(m) >= 2]
    return sorted(campaigns, key=lambda c: (-len(c.mailboxes), c.target))


def score_rule(rule: dict[str, Any], context: RuleContext) -> RuleRisk:
    """Score a rule in either shape: Graph ``messageRule`` (camelCase) or ``Get-InboxRule`` (PascalCase)."""
    if isinstance(rule, dict) and ("conditions" in rule or "actions" in rule or "displayName" in rule):
        return score_graph_rule(rule, context)
    return score_exchange_rule(rule, context)
