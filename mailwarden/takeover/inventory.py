"""Gather one mailbox's inbox rules (Graph ``messageRules`` + Exchange ``Get-InboxRule -IncludeHidden``)
and the tenant's mailbox forwarding (``Get-Mailbox``).

A rule that Exchange lists but Graph does not is *hidden* (Outlook and Graph never show it). Graph
rule ids are the base64 of Exchange's 8-byte rule id, so both views of one rule are matched by
``RuleIdentity``. Folder ids in ``moveToFolder``/``copyToFolder`` are resolved to display names so
the risk scoring can recognise "RSS Feeds" and the like.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from mailwarden.graph import NotFound

INBOX_RULES = "/users/{mailbox}/mailFolders/inbox/messageRules"


def exchange_rule_identity(graph_rule_id: str) -> str | None:
    """Exchange's ``RuleIdentity`` (decimal) for a Graph messageRule id, when it decodes to 8 bytes."""
    try:
        raw = base64.b64decode(graph_rule_id, validate=True)
    except (binascii.Error, ValueError):
        return None
    return str(int.from_bytes(raw, "big")) if len(raw) == 8 else None


@dataclass
class MailboxRules:
    """Everything rule-shaped found in one mailbox."""

    mailbox_id: str
    graph_rules: list[dict[str, Any]] = field(default_factory=list)
    exchange_rules: list[dict[str, Any]] = field(default_factory=list)
    hidden_rules: list[dict[str, Any]] = field(default_factory=list)
    graph_supported: bool = True
    notes: list[str] = field(default_factory=list)


def _folder_names(graph: Any, mailbox: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cache: dict[str, str] = {}
    out = []
    for rule in rules:
        actions = dict(rule.get("actions") or {})
        for key in ("moveToFolder", "copyToFolder"):
            fid = actions.get(key)
            if isinstance(fid, str) and fid:
                if fid not in cache:
                    try:
                        folder = graph.get(f"/users/{mailbox}/mailFolders/{fid}",
                                           params={"$select": "displayName"})
                        cache[fid] = str(folder.get("displayName") or fid)
                    except NotFound:
                        cache[fid] = fid
                actions[key] = cache[fid]
                actions[f"{key}Id"] = fid
        out.append({**rule, "actions": actions})
    return out


def gather_mailbox_rules(graph: Any, exchange: Any, mailbox_id: str, *, message_rules: bool = True) -> MailboxRules:
    """Graph rules (folder names resolved), all Exchange rules, and the hidden ones among them."""
    inv = MailboxRules(mailbox_id, graph_supported=message_rules)
    if message_rules:
        raw = list(graph.iter_pages(INBOX_RULES.format(mailbox=mailbox_id)))
        inv.graph_rules = _folder_names(graph, mailbox_id, raw)
    else:
        inv.notes.append("Graph messageRules not available in this cloud: Exchange rules only")
    inv.exchange_rules = list(exchange.get_inbox_rules(mailbox_id, include_hidden=True))
    if message_rules:
        known = {exchange_rule_identity(str(r.get("id", ""))) for r in inv.graph_rules}
        inv.hidden_rules = [r for r in inv.exchange_rules if _rule_identity(r) not in known]
    else:
        visible = {_rule_identity(r) for r in exchange.get_inbox_rules(mailbox_id, include_hidden=False)}
        inv.hidden_rules = [r for r in inv.exchange_rules if _rule_identity(r) not in visible]
    return inv


def _rule_identity(rule: dict[str, Any]) -> str:
    rid = rule.get("RuleIdentity")
    if rid not in (None, ""):
        return str(rid)
    return str(rule.get("Identity", "")).rsplit("\\", 1)[-1]


def exchange_rule_key(rule: dict[str, Any]) -> str:
    """Snapshot key of an Exchange-only rule: ``exchange:<RuleIdentity>``."""
    return f"exchange:{_rule_identity(rule)}"


def forwarding_by_mailbox(mailboxes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``Get-Mailbox`` output -> mailbox object id -> forwarding fields (every mailbox, None when off)."""
    out: dict[str, dict[str, Any]] = {}
    for mb in mailboxes:
        oid = str(mb.get("ExternalDirectoryObjectId") or mb.get("ExchangeObjectId") or "")
        smtp, addr = mb.get("ForwardingSmtpAddress") or None, mb.get("ForwardingAddress") or None
        if oid:
            out[oid] = {"ForwardingSmtpAddress": smtp, "ForwardingAddress": addr,
                        "DeliverToMailboxAndForward": mb.get("DeliverToMailboxAndForward")}
    return out


def mailbox_ids(mailboxes: list[dict[str, Any]]) -> list[str]:
    """Object ids of the mailboxes ``Get-Mailbox`` listed."""
    return [str(m["ExternalDirectoryObjectId"]) for m in mailboxes if m.get("ExternalDirectoryObjectId")]


__all__ = ["MailboxRules", "exchange_rule_identity", "exchange_rule_key",
           "forwarding_by_mailbox", "gather_mailbox_rules", "mailbox_ids"]
