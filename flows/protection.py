"""Flows of continuous protection: ``protect-mailboxes``, ``process-notifications``, ``delta-sweep``.

Entrypoints: ``flows/protection.py:protect_mailboxes``, ``flows/protection.py:process_notifications``
and ``flows/protection.py:delta_sweep``.

protect-mailboxes (after each reconciliation, and on a schedule):

1. read the protected mailboxes from the address book;
2. take a delta baseline of each new mailbox's Inbox, then subscribe it to change notifications
   (Graph validates the receiver first); renew subscriptions close to expiry; unsubscribe
   mailboxes that left the directory; forget removed or expired records;
3. publish the subscriptions and their health, and the notification queue, as artifacts.

process-notifications (started by the receiver's ``mailwarden.notifications.queued`` event, and
every minute):

1. claim a batch of queued notifications (the receiver stored them before answering Graph);
2. per message: fetch, claim once, verdict, the tenant's policy action (audited); per lifecycle
   event: renew (``reauthorizationRequired``), subscribe again and sweep (``subscriptionRemoved``),
   sweep (``missed``);
3. emit ``mailwarden.threat.detected`` for each malicious message; repeat until the queue is empty.

delta-sweep (every 15 minutes): per mailbox, read the Inbox's changes since the stored delta link
and process what neither path has seen; notification and sweep never act on a message twice.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from mailwarden.protection import ProtectionPolicy
from tasks.common import artifact_key, current_flow_run_id, load_tenant
from tasks.protection import (
    ProtectionPolicyInput,
    address_book,
    default_urls,
    drain_notifications,
    emit_threats,
    health_rows,
    protection_for,
    queue_counts,
    sweep_mailbox,
    sync_tenant_subscriptions,
    tenant_actions,
)
from tasks.runners import build_runner, gather


@flow(name="protect-mailboxes", validate_parameters=True)
def protect_mailboxes(
    tenant: str,
    renew_before_hours: float = 24.0,
    lifetime_hours: float = 72.0,
) -> dict[str, Any]:
    """Keep one change-notification subscription per protected mailbox, renewed in time.

    Graph posts to the server's receiver (``MAILWARDEN_NOTIFICATION_URL``, else the one beside the
    consent callback): never to an address a run names.

    Args:
        tenant: The tenant's block name, primary domain or id.
        renew_before_hours: Renew subscriptions expiring within this many hours.
        lifetime_hours: Lifetime of new and renewed subscriptions (Graph allows under 7 days).
    """
    if not 0 < lifetime_hours <= 10070 / 60:
        raise ValueError("lifetime_hours must be between 0 and 167.8 (Graph's limit for messages)")
    log = get_run_logger()
    block = load_tenant(tenant)
    urls = default_urls()
    with block.graph_client("basic") as client:
        summary = sync_tenant_subscriptions(
            block, client, notification_url=urls[0], lifecycle_url=urls[1],
            renew_before_hours=renew_before_hours, lifetime_hours=lifetime_hours,
            flow_run_id=current_flow_run_id())
    rows = health_rows(block.tenant_id)
    queue = queue_counts(block.tenant_id)
    create_table_artifact(rows or [{"mailbox": "(none)"}], key=artifact_key("subscriptions", block),
                          description=f"Change-notification subscriptions of {block.primary_domain}")
    unhealthy = [r for r in rows if r["health"] != "ok"]
    create_markdown_artifact("\n".join([
        f"# Protection of {block.primary_domain}", "",
        f"- protected mailboxes: {summary['mailboxes']}",
        f"- subscriptions: {sum(r['status'] == 'active' for r in rows)} active, {len(unhealthy)} needing attention",
        f"- this run: {summary['created']} created, {summary['renewed']} renewed, {summary['recreated']} "
        f"recreated, {summary['deleted']} deleted, {summary['forgotten']} forgotten, {summary['errors']} errors",
        f"- notification queue: {queue or 'empty'}",
    ]), key=artifact_key("protection-health", block),
        description=f"Protection health of {block.primary_domain}: subscriptions and queue")
    log.info("protection of %s: %s", block.primary_domain, {k: v for k, v in summary.items() if k != "error_rows"})
    return {**summary, "subscriptions": rows, "queue": queue}


@flow(name="process-notifications", validate_parameters=True)
def process_notifications(
    tenant: str | None = None,
    policy: ProtectionPolicyInput | None = None,
    batch_size: int = 500,
    workers: int = 8,
    max_batches: int = 100,
    idle_seconds: float = 0.0,
) -> dict[str, Any]:
    """Drain the notification queue: verdict and policy action per new message, lifecycle events.

    Args:
        tenant: Only this tenant's notifications (block name, domain or id); None: every tenant.
        policy: A weaker action per verdict category than the tenant's policy (needs ``tenant``;
            default: the tenant's policy, e.g. quarantine malicious, junk suspicious).
        batch_size: Notifications claimed at once.
        workers: Mailboxes processed at once.
        max_batches: Stop after this many batches (the next run continues).
        idle_seconds: Keep polling an empty queue this long before finishing (0: finish at once).
    """
    if batch_size < 1 or workers < 1 or max_batches < 1:
        raise ValueError("batch_size, workers and max_batches must be at least 1")
    log = get_run_logger()
    block = load_tenant(tenant) if tenant else None
    if policy is not None:
        if block is None:
            raise ValueError("a policy override needs a tenant: each tenant's own policy applies otherwise")
        tenant_actions(block, dict(policy.actions))  # refused before any work when it would widen the policy
    run_id = current_flow_run_id()
    totals: dict[str, Any] = {"claimed": 0, "statuses": {}, "lifecycle": [], "events": 0, "retried": 0,
                              "failed": 0}
    rows: list[dict[str, Any]] = []
    idle_until = time.monotonic() + idle_seconds
    for _ in range(max_batches):
        got = drain_notifications(block, policy, batch_size=batch_size, workers=workers, flow_run_id=run_id)
        if not got["claimed"]:
            if time.monotonic() >= idle_until:
                break
            time.sleep(0.2)
            continue
        idle_until = time.monotonic() + idle_seconds
        totals["claimed"] += got["claimed"]
        for k, v in got["statuses"].items():
            totals["statuses"][k] = totals["statuses"].get(k, 0) + v
        totals["lifecycle"] += got["lifecycle"]
        for k in ("events", "retried", "failed"):
            totals[k] += got[k]
        rows += got["rows"]
    if totals["claimed"]:
        key = artifact_key("protection-actions", block) if block else "protection-actions-all-tenants"
        create_table_artifact(rows or [{"status": "nothing acted on"}], key=key,
                              description=f"Messages acted on or reported: {totals['statuses']}")
    log.info("processed %d notification(s): %s", totals["claimed"], totals["statuses"])
    return totals


@flow(name="delta-sweep", validate_parameters=True)
def delta_sweep(
    tenant: str,
    mailboxes: list[str] | None = None,
    policy: ProtectionPolicyInput | None = None,
    concurrency: int = 8,
) -> dict[str, Any]:
    """Catch what notifications missed: per mailbox, the Inbox's changes since the stored delta link.

    Args:
        tenant: The tenant's block name, primary domain or id.
        mailboxes: Mailbox ids or addresses (None: every protected mailbox).
        policy: A weaker action per verdict category than the tenant's policy (default: the policy's).
        concurrency: Mailboxes swept at once.
    """
    block = load_tenant(tenant)
    book = address_book(block)
    targets = book.mailboxes_named(mailboxes, block.primary_domain) if mailboxes else book.protected_mailboxes()
    pol: ProtectionPolicy = tenant_actions(block, dict(policy.actions) if policy is not None else None)
    runner: Any = build_runner("threads", concurrency)  # the tasks share the tenant's processing context
    with block.graph_client("basic") as client, runner:
        protection = protection_for(block, client, policy=pol, flow_run_id=current_flow_run_id(), book=book)
        results = list(gather(runner, sweep_mailbox, {mb: {"protection": protection, "mailbox_id": mb}
                                                      for mb in targets}).values())
    rows = [{k: v for k, v in r.items() if k != "outcomes"} for r in results]
    emit_threats([o for r in results for o in r["outcomes"]], {block.tenant_id: book})
    create_table_artifact(rows or [{"mailbox": "(none)"}], key=artifact_key("delta-sweep", block),
                          description=f"Delta sweep of {block.primary_domain}")
    totals = {k: sum(int(r[k]) for r in rows) for k in ("seen", "already", "processed", "acted")}
    get_run_logger().info("delta sweep of %s: %d mailboxes, %s", block.primary_domain, len(rows), totals)
    return {"mailboxes": len(rows), **totals, "rows": rows}
