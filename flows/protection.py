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
3. emit ``mailwarden.threat.detected`` for each malicious message; repeat until the queue is empty
   (or stays empty for ``idle_seconds``);
4. publish the messages acted on or reported as a table.

delta-sweep (every 15 minutes): per mailbox (one task each, ``concurrency`` at once), read the
Inbox's changes since the stored delta link and process what neither path has seen; notification
and sweep never act on a message twice. The threat events follow, then a per-mailbox table.

The domain is :mod:`mailwarden.protection` (its reports: :mod:`mailwarden.protection.report`);
the tasks are in tasks/protection.py.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from mailwarden.protection import DeltaSweepReport
from mailwarden.scan import Targets
from tasks.common import current_flow_run_id, load_tenant
from tasks.protection import (
    ProtectionPolicyInput,
    address_book,
    default_urls,
    drain_queue,
    emit_threats,
    protection_for,
    protection_status,
    publish_delta_sweep,
    publish_notification_actions,
    publish_protection,
    sweep_mailboxes,
    sync_tenant_subscriptions,
    tenant_actions,
)
from tasks.runners import build_runner


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
    block = load_tenant(tenant)
    notification_url, lifecycle_url = default_urls()
    with block.graph_client("basic") as client:
        sync = sync_tenant_subscriptions(
            block, client, notification_url=notification_url, lifecycle_url=lifecycle_url,
            renew_before_hours=renew_before_hours, lifetime_hours=lifetime_hours,
            flow_run_id=current_flow_run_id())
    report = protection_status(block, sync)
    publish_protection(block, report)
    return report.to_dict()


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
    block = load_tenant(tenant) if tenant else None
    if policy is not None:
        if block is None:
            raise ValueError("a policy override needs a tenant: each tenant's own policy applies otherwise")
        tenant_actions(block, dict(policy.actions))  # refused before any work when it would widen the policy
    run = drain_queue(block, policy, batch_size=batch_size, workers=workers, max_batches=max_batches,
                      idle_seconds=idle_seconds, flow_run_id=current_flow_run_id())
    publish_notification_actions(block, run)
    return run.to_dict()


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
    runner: Any = build_runner("threads", concurrency)  # the tasks share the tenant's processing context
    block = load_tenant(tenant)
    book = address_book(block)
    targets = Targets.of(book, mailboxes, block.primary_domain)
    actions = tenant_actions(block, dict(policy.actions) if policy is not None else None)
    with block.graph_client("basic") as client, runner:
        protection = protection_for(block, client, policy=actions, flow_run_id=current_flow_run_id(), book=book)
        report = DeltaSweepReport(block.primary_domain, sweep_mailboxes(runner, protection, targets.mailboxes))
    emit_threats(report.outcomes(), {block.tenant_id: book})
    publish_delta_sweep(block, report)
    return report.to_dict()
