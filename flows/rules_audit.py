"""Flow ``rules-audit``: watch every mailbox's inbox rules and forwarding for takeover persistence.

Entrypoint: ``flows/rules_audit.py:rules_audit`` (scheduled per tenant, e.g. hourly).

1. list the tenant's mailboxes (address book, else Get-Mailbox) and their forwarding (Get-Mailbox, once);
2. per mailbox (one task each, ``concurrency`` at a time, on threads or a Dask cluster: the
   server's scheduler over mutual TLS, else a local one; the tasks get the tenant's block name, not
   its block, see docs/scale-out.md): Graph messageRules (not in the china cloud) and Exchange rules with hidden
   ones; a rule Exchange shows and Graph does not is hidden; on-premises mailboxes (hybrid) are
   read through EWS (an unusable on-premises server fails them with the reason, after the rest);
3. score each rule and the forwarding, compare with the last snapshot, store the new snapshot;
4. every NEW or CHANGED rule/forwarding at or above ``threshold`` and not known good emits the
   Prefect event ``mailwarden.rule.suspicious`` (which triggers ``takeover-response``);
5. a table artifact lists all currently suspicious ones, forwarding campaigns are one line each,
   and the new ones are notified through the ``notify`` block.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from mailwarden.takeover import parse_level
from tasks.common import load_tenant
from tasks.notify import notify_task
from tasks.rules import audit_mailboxes, plan_audit, publish_rules_report
from tasks.runners import RunnerKind, build_runner


@flow(name="rules-audit", log_prints=False, validate_parameters=True)
def rules_audit(
    tenant: str,
    mailboxes: list[str] | None = None,
    threshold: str = "medium",
    notify: str | None = None,
    concurrency: int = 8,
    task_runner: RunnerKind = "threads",
    dask_workers: int = 2,
) -> dict[str, Any]:
    """Audit inbox rules and forwarding of ``tenant``; events for new suspicious ones.

    Args:
        tenant: The tenant's block name or primary domain.
        mailboxes: Mailbox ids or addresses to audit (default: every mailbox of the address book).
        threshold: Lowest risk level reported: low, medium or high.
        notify: Name of a Prefect notification block told about new suspicious rules.
        concurrency: Mailboxes audited at the same time.
        task_runner: ``threads`` (in this process) or ``dask``: the server's Dask scheduler
            (``MAILWARDEN_DASK_ADDRESS``, mutual TLS), else a local cluster (docs/scale-out.md).
        dask_workers: With ``dask`` and no server scheduler: worker processes of the local cluster.
    """
    level = str(parse_level(threshold))
    if not 1 <= concurrency <= 64:
        raise ValueError("concurrency must be between 1 and 64")
    runner = build_runner(task_runner, concurrency, dask_workers=dask_workers)  # refused before any work
    block = load_tenant(tenant)
    with block.graph_client("basic") as graph, block.exchange_client("basic") as exchange:
        plan = plan_audit(block, graph, exchange, mailboxes)
        with runner:
            results, failed = audit_mailboxes(runner, block, plan, level, graph, exchange)
    report = publish_rules_report(block, results, level, failed, plan.notes, plan.addresses)
    notified = False
    if report["new"]:
        notified = notify_task(notify, f"mailwarden: {len(report['new'])} new suspicious rule(s)", report["notice"])
    out = {"tenant": block.primary_domain, "mailboxes": len(plan.mailboxes), "failed": failed,
           "suspicious": report["suspicious"], "new": report["new"], "campaigns": report["campaigns"],
           "notes": plan.notes, "notified": notified,
           "emitted": sum(r.get("emitted", 0) for r in results)}
    if failed:
        raise RuntimeError(f"{len(failed)} mailbox(es) could not be audited: {', '.join(failed[:10])}")
    return out
