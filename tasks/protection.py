"""Tasks of the protection flows: keep subscriptions in sync, drain the notification queue,
sweep mailboxes by delta, emit ``mailwarden.threat.detected`` for malicious verdicts.

The core (``mailwarden.protection``) does the work and reports it in typed results
(``mailwarden.protection.report``); these wrappers resolve the tenant, build its processing
context, read the store, log, turn outcomes into Prefect events and publish the artifacts.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.task_runners import TaskRunner
from pydantic import BaseModel, Field, field_validator

from blocks.m365 import M365Tenant
from blocks.policy import load_policy
from mailwarden.detection import DetectionContext
from mailwarden.directory import AddressBook
from mailwarden.graph import GraphClient
from mailwarden.hosts import is_loopback_host
from mailwarden.protection import (
    DeltaSweepReport,
    MailboxSweep,
    NotificationBatch,
    NotificationRun,
    ProtectionPolicy,
    ProtectionReport,
    ProtectOutcome,
    SubscriptionSync,
    plan_subscriptions,
    subscription_health,
    sync_subscriptions,
)
from mailwarden.protection.drain import TenantProtection, drain_once
from mailwarden.settings import get_settings
from mailwarden.store import Store, utcnow
from mailwarden.store.repositories import count_notifications, list_subscriptions
from tasks.common import artifact_key, load_tenant, store_for
from tasks.runners import gather

THREAT_EVENT = "mailwarden.threat.detected"
PolicyAction = Literal["quarantine", "move_to_junk", "notify", "report"]
DEFAULT_ACTIONS: dict[str, PolicyAction] = {"malicious": "quarantine", "suspicious": "move_to_junk"}
IDLE_POLL_SECONDS = 0.2


class ProtectionPolicyInput(BaseModel):
    """The tenant's action per verdict category (others are only reported)."""

    actions: dict[str, PolicyAction] = Field(
        default_factory=lambda: dict(DEFAULT_ACTIONS),
        description="category -> quarantine | move_to_junk | notify | report")

    @field_validator("actions")
    @classmethod
    def _known_categories(cls, value: dict[str, str]) -> dict[str, str]:
        ProtectionPolicy(dict(value))  # raises ValueError naming the unknown category
        return value

    def to_policy(self) -> ProtectionPolicy:
        return ProtectionPolicy(dict(self.actions))


def default_urls() -> tuple[str, str]:
    """Where Graph sends change and lifecycle notifications: the server's ``notification_url`` (its
    ``/lifecycle`` beside it), else the receiver beside the consent callback. Server-side only: a run
    cannot point a tenant's notifications (and their client state) elsewhere."""
    s = get_settings()
    if s.notification_url:
        parts = urlsplit(s.notification_url)
        loopback = is_loopback_host(parts.hostname)
        if (parts.scheme != "https" and not (parts.scheme == "http" and loopback)) or parts.query or parts.fragment:
            raise ValueError("MAILWARDEN_NOTIFICATION_URL must be an https URL without query or fragment")
        base = s.notification_url.rstrip("/").rsplit("/", 1)[0]
        return s.notification_url.rstrip("/"), base + "/lifecycle"
    base = f"http://{s.callback_host}:{s.callback_port}"
    return base + "/notifications", base + "/lifecycle"


def queue_store() -> Store:
    """The store holding subscriptions and the notification queue (the default store: the
    receiver screens notifications before it can know a tenant)."""
    return store_for(None)


def tenant_actions(block: M365Tenant, asked: dict[str, str] | None) -> ProtectionPolicy:
    """The tenant's protection actions from its policy block, narrowed by what a run asked for
    (a weaker action per category only; PolicyViolation otherwise)."""
    return ProtectionPolicy(load_policy(block.block_name, block.tenant_id).narrow_actions(asked))


def address_book(block: M365Tenant) -> AddressBook:
    with store_for(block).session() as s:
        return AddressBook.load(s, block.tenant_id)


def protection_for(block: M365Tenant, client: GraphClient, *, policy: ProtectionPolicy,
                   flow_run_id: str | None, notification_url: str | None = None,
                   lifecycle_url: str | None = None, book: AddressBook | None = None) -> TenantProtection:
    """The tenant's processing context for the core."""
    book = book or address_book(block)
    context = DetectionContext(**book.detection_context_kwargs())
    urls = default_urls()
    return TenantProtection(tenant_id=block.tenant_id, client=client, store=queue_store(), policy=policy,
                            context=context, flow_run_id=flow_run_id,
                            notification_url=notification_url or urls[0],
                            lifecycle_url=lifecycle_url or urls[1])


@task(name="sync-subscriptions", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def sync_tenant_subscriptions(block: M365Tenant, client: GraphClient, *, notification_url: str,
                              lifecycle_url: str, renew_before_hours: float, lifetime_hours: float,
                              flow_run_id: str | None) -> SubscriptionSync:
    """Subscribe new protected mailboxes (delta baseline first), renew, delete, forget."""
    log = get_run_logger()
    book = address_book(block)
    wanted = book.protected_mailboxes()
    protection = protection_for(block, client, policy=ProtectionPolicy(), flow_run_id=flow_run_id,
                                notification_url=notification_url, lifecycle_url=lifecycle_url, book=book)
    now = datetime.now(UTC)
    with queue_store().session() as s:
        records = list_subscriptions(s, block.tenant_id)
        plan = plan_subscriptions(wanted, records, now=now, renew_before=timedelta(hours=renew_before_hours))
        result = sync_subscriptions(client, s, tenant_id=block.tenant_id, plan=plan, records=records,
                                    notification_url=notification_url, lifecycle_url=lifecycle_url, now=now,
                                    lifetime=timedelta(hours=lifetime_hours),
                                    before_create=lambda mb: protection.sweep(mb, start=now))
    log.info("subscriptions of %s: %d mailboxes, %s", block.primary_domain, len(wanted), result.summary())
    for mailbox, error in sorted(result.errors.items()):
        log.warning("mailbox %s: %s", mailbox, error)
    return SubscriptionSync(wanted, result)


@task(name="protection-status", cache_policy=NO_CACHE)
def protection_status(block: M365Tenant, sync: SubscriptionSync) -> ProtectionReport:
    """The tenant's protection after ``sync``: each stored subscription's health, the queue's counts."""
    with queue_store().session() as s:
        health = subscription_health(list_subscriptions(s, block.tenant_id), utcnow())
    return ProtectionReport(block.primary_domain, sync, health, queue_counts(block.tenant_id))


@task(name="publish-protection-health", cache_policy=NO_CACHE)
def publish_protection(block: M365Tenant, report: ProtectionReport) -> None:
    """The subscriptions table and the Markdown health summary (subscriptions and queue)."""
    create_table_artifact(report.table_rows(), key=artifact_key("subscriptions", block),
                          description=f"Change-notification subscriptions of {block.primary_domain}")
    create_markdown_artifact(report.summary_markdown(), key=artifact_key("protection-health", block),
                             description=f"Protection health of {block.primary_domain}: subscriptions and queue")
    get_run_logger().info("protection of %s: %s", block.primary_domain,
                          {k: v for k, v in report.sync.summary().items() if k != "error_rows"})


def queue_counts(tenant_id: str | None) -> dict[str, int]:
    """Queued notifications per state (one tenant's, or every tenant's)."""
    with queue_store().session() as s:
        return count_notifications(s, tenant_id)


class _Contexts:
    """Per-tenant processing contexts built on first use within one drain task."""

    def __init__(self, asked: dict[str, str] | None, flow_run_id: str | None,
                 known: dict[str, M365Tenant] | None = None) -> None:
        self.asked = asked
        self.flow_run_id = flow_run_id
        self.known = dict(known or {})
        self.lock = threading.Lock()
        self.made: dict[str, TenantProtection | None] = {}
        self.books: dict[str, AddressBook] = {}
        self.clients: list[GraphClient] = []

    def __call__(self, tenant_id: str) -> TenantProtection | None:
        with self.lock:
            if tenant_id not in self.made:
                try:
                    block = self.known.get(tenant_id) or load_tenant(tenant_id)
                except ValueError:
                    self.made[tenant_id] = None
                else:
                    policy = tenant_actions(block, self.asked)
                    client = block.graph_client("basic")
                    self.clients.append(client)
                    self.books[tenant_id] = address_book(block)
                    self.made[tenant_id] = protection_for(block, client, policy=policy,
                                                          flow_run_id=self.flow_run_id, book=self.books[tenant_id])
            return self.made[tenant_id]

    def close(self) -> None:
        for c in self.clients:
            c.close()


@task(name="drain-notifications", cache_policy=NO_CACHE)
def drain_notifications(block: M365Tenant | None, policy: ProtectionPolicyInput | None, *, batch_size: int,
                        workers: int, flow_run_id: str | None) -> NotificationBatch:
    """Process one batch of queued notifications (one tenant's, or every tenant's when ``block`` is
    None) with each tenant's policy actions (``policy`` may only weaken them); emit an event per
    malicious message."""
    log = get_run_logger()
    tenant_id = block.tenant_id if block is not None else None
    asked: dict[str, str] | None = dict(policy.actions) if policy is not None else None
    contexts = _Contexts(asked, flow_run_id, {block.tenant_id: block} if block is not None else None)
    try:
        result = drain_once(queue_store(), contexts, tenant_id=tenant_id, limit=batch_size, workers=workers)
        batch = NotificationBatch(result, emit_threats(result.outcomes, contexts.books))
    finally:
        contexts.close()
    if result.claimed:
        log.info("drained %d notification(s): %s; %d threat event(s)", result.claimed, batch.statuses(),
                 batch.events)
    for item in result.lifecycle:
        log.info("lifecycle %s for mailbox %s: %s", item.get("event"), item.get("mailbox_id"), item)
    return batch


def drain_queue(block: M365Tenant | None, policy: ProtectionPolicyInput | None, *, batch_size: int, workers: int,
                max_batches: int, idle_seconds: float, flow_run_id: str | None) -> NotificationRun:
    """:func:`drain_notifications` batch after batch until the queue stays empty for ``idle_seconds``
    (0: the first empty batch ends it) or ``max_batches`` were claimed."""
    run = NotificationRun()
    idle_until = time.monotonic() + idle_seconds
    for _ in range(max_batches):
        batch = drain_notifications(block, policy, batch_size=batch_size, workers=workers, flow_run_id=flow_run_id)
        if not batch.claimed:
            if time.monotonic() >= idle_until:
                break
            time.sleep(IDLE_POLL_SECONDS)  # an empty queue, polled until idle_seconds have passed
            continue
        idle_until = time.monotonic() + idle_seconds
        run.add(batch)
    return run


@task(name="publish-protection-actions", cache_policy=NO_CACHE)
def publish_notification_actions(block: M365Tenant | None, run: NotificationRun) -> None:
    """The table of messages acted on or reported (once anything was claimed)."""
    if run.claimed:
        key = artifact_key("protection-actions", block) if block else "protection-actions-all-tenants"
        create_table_artifact(run.table_rows(), key=key, description=run.description())
    get_run_logger().info("processed %d notification(s): %s", run.claimed, run.statuses())


def emit_threats(outcomes: list[ProtectOutcome], books: dict[str, AddressBook]) -> int:
    """``mailwarden.threat.detected`` for each malicious verdict (with the sender, and the sender's
    mailbox when internal: a takeover check can follow)."""
    n = 0
    for o in outcomes:
        if o.category != "malicious" or o.status != "acted":
            continue
        tenant_id = o.tenant_id
        book = books.get(tenant_id or "")
        internal = book.mailbox_of(o.sender) if (book is not None and o.sender) else None
        emit_event(event=THREAT_EVENT,
                   resource={"prefect.resource.id": f"mailwarden.tenant.{tenant_id}",
                             "prefect.resource.name": tenant_id or ""},
                   related=[{"prefect.resource.id": f"mailwarden.mailbox.{o.mailbox_id}",
                             "prefect.resource.role": "mailbox"}],
                   payload={"tenant": tenant_id, "mailbox": o.mailbox_id, "sender": o.sender,
                            "sender_mailbox": internal, "internet_message_id": o.internet_message_id,
                            "category": o.category, "score": o.score, "action": o.action, "result": o.result,
                            "reasons": o.reasons, "path": o.path})
        n += 1
    return n


@task(name="sweep-mailbox", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def sweep_mailbox(protection: TenantProtection, mailbox_id: str) -> MailboxSweep:
    """Delta-sweep one mailbox's folders; new messages get a verdict and the policy action."""
    swept = MailboxSweep.of(mailbox_id, protection.sweep(mailbox_id))
    get_run_logger().info("swept mailbox %s: %s", mailbox_id, swept.row())
    return swept


def sweep_mailboxes(runner: TaskRunner[Any], protection: TenantProtection, mailboxes: list[str]) -> list[MailboxSweep]:
    """One :func:`sweep_mailbox` per mailbox on ``runner`` (threads: they share ``protection``), in order."""
    return list(gather(runner, sweep_mailbox, {mb: {"protection": protection, "mailbox_id": mb}
                                               for mb in mailboxes}).values())


@task(name="publish-delta-sweep", cache_policy=NO_CACHE)
def publish_delta_sweep(block: M365Tenant, report: DeltaSweepReport) -> None:
    """The per-mailbox table of the sweep."""
    create_table_artifact(report.table_rows(), key=artifact_key("delta-sweep", block),
                          description=f"Delta sweep of {block.primary_domain}")
    get_run_logger().info("delta sweep of %s: %d mailboxes, %s", block.primary_domain, len(report.sweeps),
                          report.totals())
