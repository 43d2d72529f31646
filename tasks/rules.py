"""Tasks of the ``rules-audit`` flow: plan the audit, audit one mailbox, report.

One task per mailbox (retried on transient Graph/Exchange failures). On threads the Graph and
Exchange clients are made once per run and shared by the worker threads (they are thread-safe);
on Dask a mailbox task gets the tenant's block name, loads the block and builds its clients in
the worker process (``tasks.runners``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.task_runners import TaskRunner

from blocks.m365 import M365Tenant
from mailwarden.detection.rules import RuleContext
from mailwarden.graph import NotFound
from mailwarden.mailbox.access import MailboxRouter
from mailwarden.mailbox.ews import OnPremUnavailable
from mailwarden.reports import md
from mailwarden.response import per_side_lines
from mailwarden.takeover import (
    RuleFinding,
    assess_mailbox,
    campaigns,
    forwarding_by_mailbox,
    is_alert,
    mailbox_ids,
    record_findings,
)
from tasks.common import artifact_key, exchange_client_for, graph_client_for, retry_transient, store_for
from tasks.mailbox_access import Where, mailbox_access, side_of
from tasks.runners import fan_out, in_process, quoted, task_tenant

EVENT = "mailwarden.rule.suspicious"
RETRY_DELAYS: list[float] = [2, 10, 30]


@dataclass
class AuditPlan:
    """Which mailboxes to read, their forwarding, and the tenant's rule context."""

    mailboxes: list[str]
    forwarding: dict[str, dict[str, Any]]
    context: RuleContext
    message_rules: bool
    notes: list[str] = field(default_factory=list)
    addresses: dict[str, str] = field(default_factory=dict)
    """Mailbox id -> address (address book, else Get-Mailbox), for reports."""
    sides: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Mailbox id -> ("onprem", smtp) of the on-premises mailboxes (read through EWS)."""


def _book_context(block: M365Tenant) -> tuple[RuleContext | None, list[str], dict[str, str], dict[str, Any]]:
    """Rule context, every mailbox (rooms too: any mailbox can hold a rule), addresses and sides."""
    from mailwarden.directory import AddressBook

    try:
        with store_for(block).session() as s:
            book = AddressBook.load(s, block.tenant_id)
    except LookupError:
        return None, [], {}, {}
    kw = book.detection_context_kwargs()
    boxes = book.objects[book.objects["has_mailbox"].fillna(False).astype(bool)].index
    ids = [str(b) for b in boxes]
    return (RuleContext(kw["tenant_domains"], kw["internal_addresses"]), ids, book.addresses_of(ids),
            MailboxRouter.from_book(None, book).onprem_mailboxes())


@task(name="plan-rules-audit", retries=2, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def plan_audit(block: M365Tenant, graph: Any, exchange: Any, mailboxes: list[str] | None) -> AuditPlan:
    """Get-Mailbox once (forwarding), the rule context and mailbox list from the address book."""
    log = get_run_logger()
    listed = exchange.get_mailboxes()
    forwarding = forwarding_by_mailbox(listed)
    ctx, book_boxes, addresses, sides = _book_context(block)
    notes = []
    if ctx is None:
        org = graph.get("/organization").get("value") or [{}]
        domains = {d.get("name", "") for d in org[0].get("verifiedDomains") or []} | {block.primary_domain}
        addrs = {str(a).split(":", 1)[-1] for m in listed for a in (m.get("EmailAddresses") or [])}
        ctx = RuleContext(frozenset(domains), frozenset(addrs))
        book_boxes = mailbox_ids(listed)
        notes.append("no address book in the store (run reconcile-licenses): mailboxes from Get-Mailbox")
    chosen = book_boxes if mailboxes is None else _resolve(mailboxes, listed)
    addresses = {**{str(m["ExternalDirectoryObjectId"]): str(m.get("PrimarySmtpAddress")
                                                          or m.get("UserPrincipalName") or "").lower()
                    for m in listed if m.get("ExternalDirectoryObjectId")}, **addresses}  # the book wins
    message_rules = block.endpoints().supports_message_rules
    if not message_rules:
        notes.append(f"{block.cloud} cloud has no Graph messageRules: rules read through Exchange only")
    for note in notes:
        log.info(note)
    log.info("auditing %s mailbox(es) of %s", len(chosen), block.primary_domain)
    return AuditPlan(chosen, forwarding, ctx, message_rules, notes, addresses, sides)


def _resolve(refs: list[str], listed: list[dict[str, Any]]) -> list[str]:
    by_ref: dict[str, str] = {}
    for m in listed:
        oid = str(m.get("ExternalDirectoryObjectId") or "")
        for ref in [oid, m.get("UserPrincipalName"), m.get("PrimarySmtpAddress"), *(m.get("EmailAddresses") or [])]:
            if ref:
                by_ref[str(ref).split(":", 1)[-1].lower() if ":" in str(ref) else str(ref).lower()] = oid
    out = []
    for ref in refs:
        if not isinstance(ref, str) or ref.strip().lower() not in by_ref:
            raise ValueError(f"unknown mailbox {ref!r}")
        out.append(by_ref[ref.strip().lower()])
    return list(dict.fromkeys(out))


def event_payload(block: M365Tenant, f: RuleFinding) -> dict[str, Any]:
    """The ``mailwarden.rule.suspicious`` payload: what the takeover-response trigger templates from."""
    return {"reasons": f.reason_texts(), "risk": f.level, "tenant": block.block_name, "user": f.mailbox_id,
            "rule_key": f.rule_key, "rule_name": f.name, "source": f.source, "hidden": f.hidden,
            "change": f.change, "targets": f.targets,
            "first_seen": f.first_seen.isoformat() if f.first_seen else None}


def emit_suspicious(block: M365Tenant, f: RuleFinding) -> None:
    """Emit the Prefect event for one new or changed suspicious rule/forwarding."""
    tid = block.tenant_id
    emit_event(
        event=EVENT,
        resource={"prefect.resource.id": f"mailwarden.tenant.{tid}.mailbox.{f.mailbox_id}.rule.{f.rule_key}",
                  "mailwarden.tenant": tid, "mailwarden.mailbox": f.mailbox_id, "mailwarden.rule": f.rule_key},
        payload=event_payload(block, f),
    )


@task(name="audit-mailbox-rules", retries=3, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE, task_run_name="audit-rules-{mailbox_id}")
def audit_mailbox(tenant: str, tenant_id: str, mailbox_id: str, forwarding: dict[str, Any] | None,
                  context: RuleContext, message_rules: bool, threshold: str, where: Where = None,
                  graph: Any = None, exchange: Any = None, block: M365Tenant | None = None) -> dict[str, Any]:
    """Read, score and snapshot one mailbox's rules and forwarding; emit events for new suspicious ones.

    ``tenant`` is the block name (``tenant_id`` checks it): on Dask workers the task loads the block
    and builds its clients here, so no secret travels; on threads the flow passes its ``block``,
    ``graph`` and ``exchange``. Pass ``context`` wrapped in ``prefect.utilities.annotations.quote``
    on threads: Prefect then does not walk the tenant's address set for every task run. ``where``
    sends an on-premises mailbox through EWS (an unusable on-premises server gives ``{"error": reason}``).
    """
    log = get_run_logger()
    block = task_tenant(tenant, tenant_id, block)
    graph, exchange = graph or graph_client_for(block), exchange or exchange_client_for(block)  # None on Dask
    try:
        inv = mailbox_access(block, graph, mailbox_id, where).rules_inventory(exchange, message_rules=message_rules)
    except OnPremUnavailable as exc:
        log.error("mailbox %s (on-premises) not audited: %s", mailbox_id, exc)
        return {"mailbox": mailbox_id, "side": side_of(where), "error": str(exc), "findings": []}
    except NotFound:
        log.warning("mailbox %s not found (deleted since the listing?): skipped", mailbox_id)
        return {"mailbox": mailbox_id, "skipped": "mailbox not found", "findings": []}
    findings = assess_mailbox(inv, forwarding, context)
    with store_for(block).session() as s:
        record_findings(s, block.tenant_id, mailbox_id, findings)
    emitted = 0
    for f in findings:
        if is_alert(f, threshold) and f.change in ("new", "changed"):
            emit_suspicious(block, f)
            emitted += 1
    if emitted:
        log.warning("%s: %s new or changed suspicious rule(s)", mailbox_id, emitted)
    keep = [f.summary() for f in findings if is_alert(f, threshold) or f.targets]
    return {"mailbox": mailbox_id, "side": side_of(where), "findings": keep, "rules": len(findings),
            "emitted": emitted}


def audit_mailboxes(runner: TaskRunner[Any], block: M365Tenant, plan: AuditPlan, threshold: str, graph: Any,
                    exchange: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """One :func:`audit_mailbox` per mailbox of the plan on ``runner``: the results, and the
    mailboxes that could not be audited (with the reason where there is one), in the plan's order."""
    # the block's name, never the block: on Dask nothing secret crosses (tasks/runners.py)
    common = {"tenant": block.block_name, "tenant_id": block.tenant_id, "context": quoted(plan.context, runner),
              "message_rules": plan.message_rules, "threshold": threshold, "graph": in_process(graph, runner),
              "exchange": in_process(exchange, runner), "block": in_process(block, runner)}
    got = dict(fan_out(runner, audit_mailbox, {mb: {**common, "mailbox_id": mb, "forwarding": plan.forwarding.get(mb),
                                                    "where": plan.sides.get(mb)} for mb in plan.mailboxes}))
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    for mb in plan.mailboxes:
        result = got[mb]
        if isinstance(result, Exception):  # one mailbox failing is reported, the rest kept
            get_run_logger().error("mailbox %s could not be audited: %s", mb, type(result).__name__)
            failed.append(mb)
            continue
        results.append(result)
        if result.get("error"):
            failed.append(f"{mb} ({result['error']})")
    return results, failed


@task(name="publish-rules-report", cache_policy=NO_CACHE)
def publish_rules_report(block: M365Tenant, results: list[dict[str, Any]], threshold: str,
                         failed: list[str], notes: list[str],
                         addresses: dict[str, str] | None = None) -> dict[str, Any]:
    """Table of the current suspicious rules (by mailbox address), one line per forwarding campaign, counts."""
    addresses = addresses or {}
    suspicious = [f for r in results for f in r["findings"] if _alert(f, threshold)]
    sides = {r["mailbox"]: r.get("side", "cloud") for r in results}
    rows = [{"address": addresses.get(f["mailbox"]) or f["mailbox"], "mailbox": f["mailbox"],
             "side": sides.get(f["mailbox"], "cloud"), "rule": f["rule_key"], "name": f["name"], "hidden": f["hidden"],
             "risk": f["risk"], "change": f["change"], "reasons": "; ".join(f["reasons"])} for f in suspicious]
    camps = campaigns([f for r in results for f in r["findings"]], threshold)
    camp_lines = [f"- campaign: {len(c.mailboxes)} mailboxes forward to {md(c.target)}: "
                  f"{md(', '.join(addresses.get(m) or m for m in c.mailboxes))}" for c in camps]
    create_table_artifact(rows, key=artifact_key("rules-audit-suspicious", block),
                          description=f"Suspicious inbox rules and forwarding of {block.primary_domain}")
    new = [f for f in suspicious if f["change"] in ("new", "changed")]
    summary = [f"# Rules audit of {md(block.primary_domain)}", "",
          f"- mailboxes audited: {len(results)}; failed: {len(failed)}",
          f"- suspicious now (>= {threshold}): {len(suspicious)}; new or changed: {len(new)}",
          *[f"- note: {md(n)}" for n in notes], "", "## By side", *per_side_lines([], results),
          "## Forwarding campaigns", *(camp_lines or ["none"])]
    create_markdown_artifact("\n".join(summary), key=artifact_key("rules-audit-summary", block),
                             description=f"Rules audit of {block.primary_domain}: counts and forwarding campaigns")
    lines = [f"- {md(f['mailbox'])} {md(f['rule_key'])} ({md(f['risk'])}): {md('; '.join(f['reasons'][:3]))}"
             for f in new]  # notification channels render Markdown: rule text stays text
    notice = "\n".join([f"New suspicious inbox rules/forwarding in {block.primary_domain}:", *lines, *camp_lines])
    return {"suspicious": suspicious, "new": new, "campaigns": [{"target": c.target, "mailboxes": list(c.mailboxes)}
                                                                 for c in camps], "campaign_lines": camp_lines,
            "notice": notice}


def _alert(f: dict[str, Any], threshold: str) -> bool:
    from mailwarden.takeover import at_or_above

    return at_or_above(f["risk"], threshold) and not f["known_good"]

