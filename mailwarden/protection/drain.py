"""Process the durable notification queue: claim a batch, protect each message, handle lifecycle
events, close each entry with its outcome.

:class:`TenantProtection` is everything one tenant's processing needs (its Graph client, its
store, its policy and where Graph should send notifications); :func:`drain_once` claims a batch
from the queue's store and runs it on a thread pool, one mailbox per thread at a time (Graph
allows 4 concurrent requests per mailbox, and one mailbox's messages stay in order).

Lifecycle events: ``reauthorizationRequired`` renews the subscription, ``subscriptionRemoved``
marks it removed and subscribes the mailbox again at once, ``missed`` (and every recreation)
runs a delta sweep of the mailbox so nothing that happened meanwhile is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mailwarden.detection import DetectionContext, DetectionPolicy
from mailwarden.graph import TRANSIENT, GraphClient, NotFound
from mailwarden.protection.protect import ProtectionPolicy, ProtectOutcome, protect_message
from mailwarden.protection.subscriptions import (
    DEFAULT_LIFETIME,
    create_subscription,
    renew_subscription,
)
from mailwarden.protection.sweep import SweepResult, sweep_folder
from mailwarden.store import Store
from mailwarden.store.repositories import (
    claim_notifications,
    finish_notifications,
    get_subscription,
    update_subscription,
)

MAX_ATTEMPTS = 5
SWEEP_START = timedelta(days=1)
"""A sweep of a folder without a stored link starts this long ago."""


@dataclass
class TenantProtection:
    """One tenant's processing context."""

    tenant_id: str
    client: GraphClient
    store: Store
    policy: ProtectionPolicy = field(default_factory=ProtectionPolicy)
    context: DetectionContext | None = None
    detection_policy: DetectionPolicy | None = None
    flow_run_id: str | None = None
    notification_url: str | None = None
    lifecycle_url: str | None = None
    lifetime: timedelta = DEFAULT_LIFETIME
    folders: tuple[str, ...] = ("inbox",)

    def protect(self, mailbox_id: str, message_id: str, path: str) -> ProtectOutcome:
        with self.store.session() as s:
            return protect_message(self.client, s, tenant_id=self.tenant_id, mailbox_id=mailbox_id,
                                   message_id=message_id, path=path,  # type: ignore[arg-type]
                                   policy=self.policy, context=self.context,
                                   detection_policy=self.detection_policy, flow_run_id=self.flow_run_id)

    def sweep(self, mailbox_id: str, *, start: datetime | None = None) -> list[SweepResult]:
        """Delta-sweep the mailbox's folders; new items go through :meth:`protect`."""
        begin = start or datetime.now(UTC) - SWEEP_START
        results = []
        for folder in self.folders:
            with self.store.session() as s:
                results.append(sweep_folder(self.client, s, tenant_id=self.tenant_id, mailbox_id=mailbox_id,
                                            folder=folder, start=begin,
                                            protect=lambda mid: self.protect(mailbox_id, mid, "delta")))
        return results

    def lifecycle(self, subscription_id: str, mailbox_id: str, event: str) -> dict[str, Any]:
        """React to one lifecycle event; returns what was done."""
        now = datetime.now(UTC)
        if event == "reauthorizationRequired":
            try:
                with self.store.session() as s:
                    renew_subscription(self.client, s, subscription_id, now + self.lifetime)
                return {"renewed": subscription_id}
            except NotFound:
                event = "subscriptionRemoved"  # it is gone: treat as removed
        if event == "subscriptionRemoved":
            with self.store.session() as s:
                if get_subscription(s, subscription_id) is not None:
                    update_subscription(s, subscription_id, status="removed")
                    s.commit()
            done: dict[str, Any] = {"removed": subscription_id}
            if self.notification_url:
                with self.store.session() as s:
                    done["recreated"] = create_subscription(
                        self.client, s, tenant_id=self.tenant_id, mailbox_id=mailbox_id,
                        notification_url=self.notification_url, lifecycle_url=self.lifecycle_url,
                        expires_at=now + self.lifetime)
            done["swept"] = sum(r.processed for r in self.sweep(mailbox_id))
            return done
        if event == "missed":
            return {"swept": sum(r.processed for r in self.sweep(mailbox_id))}
        raise ValueError(f"unknown lifecycle event {event!r}")


@dataclass
class DrainResult:
    """One drain: entries claimed, message outcomes, lifecycle actions, retries and failures."""

    claimed: int = 0
    outcomes: list[ProtectOutcome] = field(default_factory=list)
    lifecycle: list[dict[str, Any]] = field(default_factory=list)
    retried: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass
class _Entry:
    id: int
    tenant_id: str
    subscription_id: str
    mailbox_id: str
    kind: str
    message_id: str | None
    lifecycle_event: str | None
    attempts: int


def drain_once(
    queue: Store, protection_for: Callable[[str], TenantProtection | None], *, tenant_id: str | None = None,
    limit: int = 500, workers: int = 8, lease_seconds: float = 300.0,
) -> DrainResult:
    """Claim up to ``limit`` queued notifications and process them. ``protection_for(tenant_id)``
    gives a tenant's context (None: the tenant is not connected; its entries fail)."""
    with queue.session() as s:
        rows = claim_notifications(s, limit=limit, tenant_id=tenant_id, lease_seconds=lease_seconds)
        entries = [_Entry(r.id, r.tenant_id, r.subscription_id, r.mailbox_id, r.kind, r.message_id,
                          r.lifecycle_event, r.attempts) for r in rows]
        s.commit()
    result = DrainResult(claimed=len(entries))
    if not entries:
        return result
    groups: dict[tuple[str, str], list[_Entry]] = {}
    for e in entries:
        groups.setdefault((e.tenant_id, e.mailbox_id.lower()), []).append(e)
    contexts: dict[str, TenantProtection | None] = {t: protection_for(t) for t in {e.tenant_id for e in entries}}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="protect") as pool:
        done = list(pool.map(lambda g: _run_group(g, contexts), groups.values()))
    closing: dict[tuple[str, str | None, str | None], list[int]] = {}
    for group in done:
        for entry, state, outcome, error, value in group:
            closing.setdefault((state, outcome, error), []).append(entry.id)
            if isinstance(value, ProtectOutcome):
                result.outcomes.append(value)
            elif isinstance(value, dict):
                result.lifecycle.append(value)
            result.retried += state == "pending"
            result.failed += state == "failed"
            result.skipped += outcome == "skipped"
    with queue.session() as s:
        for (state, outcome, error), ids in closing.items():
            finish_notifications(s, ids, state=state, outcome=outcome, error=error)
        s.commit()
    return result


def _run_group(group: list[_Entry], contexts: dict[str, TenantProtection | None]) \
        -> list[tuple[_Entry, str, str | None, str | None, Any]]:
    out: list[tuple[_Entry, str, str | None, str | None, Any]] = []
    for e in group:
        ctx = contexts.get(e.tenant_id)
        if ctx is None:
            out.append((e, "failed", None, "tenant is not connected", None))
            continue
        try:
            if e.kind == "lifecycle":
                value: Any = {"tenant_id": e.tenant_id, "mailbox_id": e.mailbox_id, "event": e.lifecycle_event,
                              **ctx.lifecycle(e.subscription_id, e.mailbox_id, str(e.lifecycle_event))}
                out.append((e, "done", str(e.lifecycle_event)[:32], None, value))
            elif not e.message_id:
                out.append((e, "done", "skipped", None, None))
            else:
                got = ctx.protect(e.mailbox_id, e.message_id, "notification")
                out.append((e, "done", got.status, None, got))
        except TRANSIENT as exc:
            state = "pending" if e.attempts < MAX_ATTEMPTS else "failed"
            out.append((e, state, None, f"{type(exc).__name__}: {exc}"[:300], None))
        except Exception as exc:  # noqa: BLE001 - recorded on the entry, never lost silently
            out.append((e, "failed", None, f"{type(exc).__name__}: {exc}"[:300], None))
    return out


def process_batch(queue: Store, protection: TenantProtection, *, limit: int = 500, workers: int = 8) -> DrainResult:
    """Drain one batch of a single tenant's queue with its context (convenience)."""
    return drain_once(queue, lambda t: protection if t == protection.tenant_id else None,
                      tenant_id=protection.tenant_id, limit=limit, workers=workers)
