"""What the protection runbooks report: subscription health, drained notifications, delta sweeps.

Typed results the tasks hand between steps, each with the rows and Markdown its artifact shows
and the plain data its flow returns. No Prefect, no store access: the tasks read the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailwarden.protection.drain import DrainResult
from mailwarden.protection.protect import ProtectOutcome
from mailwarden.protection.subscriptions import SubscriptionRecord, SyncResult
from mailwarden.protection.sweep import SweepResult
from mailwarden.reports import md

RENEW_SOON_HOURS = 24
"""A live subscription with less time left than this is reported ``renew soon``."""
SWEEP_TOTALS = ("seen", "already", "processed", "acted")
REPORTED = ("acted", "reported")
"""Message outcomes that make a row of the actions table."""


@dataclass(frozen=True)
class SubscriptionHealth:
    """One stored subscription, its time left and whether it needs attention."""

    mailbox: str
    subscription: str
    status: str
    expires_at: datetime
    hours_left: float
    health: str
    """``ok``, ``renew soon``, ``expired`` or ``removed``."""

    @classmethod
    def of(cls, record: SubscriptionRecord, now: datetime) -> SubscriptionHealth:
        left = (record.expires_at - now).total_seconds() / 3600
        health = ("removed" if record.status != "active" else "expired" if left <= 0
                  else "renew soon" if left < RENEW_SOON_HOURS else "ok")
        return cls(record.mailbox_id, record.subscription_id, record.status, record.expires_at, round(left, 1), health)

    def row(self) -> dict[str, Any]:
        return {"mailbox": self.mailbox, "subscription": self.subscription, "status": self.status,
                "expires_at": self.expires_at.isoformat(), "hours_left": self.hours_left, "health": self.health}


def subscription_health(records: Iterable[SubscriptionRecord], now: datetime) -> list[SubscriptionHealth]:
    """The health of each stored subscription, in the store's order."""
    return [SubscriptionHealth.of(r, now) for r in records]


@dataclass
class SubscriptionSync:
    """One sync of a tenant's subscriptions: the mailboxes that should be protected and what was done."""

    mailboxes: list[str]
    result: SyncResult

    def summary(self) -> dict[str, Any]:
        """Counts per operation (``error_rows`` names the mailboxes that failed and why)."""
        return {"mailboxes": len(self.mailboxes), **self.result.summary(), "error_rows": [
            {"mailbox": m, "error": e} for m, e in sorted(self.result.errors.items())]}


@dataclass
class ProtectionReport:
    """A tenant's protection after a sync: the sync, every subscription's health, the queue."""

    domain: str
    sync: SubscriptionSync
    subscriptions: list[SubscriptionHealth] = field(default_factory=list)
    queue: dict[str, int] = field(default_factory=dict)
    """Queued notifications per state."""

    def unhealthy(self) -> list[SubscriptionHealth]:
        return [s for s in self.subscriptions if s.health != "ok"]

    def table_rows(self) -> list[dict[str, Any]]:
        return [s.row() for s in self.subscriptions] or [{"mailbox": "(none)"}]

    def summary_markdown(self) -> str:
        n = self.sync.result.summary()
        active = sum(s.status == "active" for s in self.subscriptions)
        return "\n".join([
            f"# Protection of {md(self.domain)}", "",
            f"- protected mailboxes: {len(self.sync.mailboxes)}",
            f"- subscriptions: {active} active, {len(self.unhealthy())} needing attention",
            f"- this run: {n['created']} created, {n['renewed']} renewed, {n['recreated']} recreated, "
            f"{n['deleted']} deleted, {n['forgotten']} forgotten, {n['errors']} errors",
            f"- notification queue: {self.queue or 'empty'}",
        ])

    def to_dict(self) -> dict[str, Any]:
        return {**self.sync.summary(), "subscriptions": [s.row() for s in self.subscriptions], "queue": self.queue}


def _statuses(outcomes: Iterable[ProtectOutcome]) -> dict[str, int]:
    return dict(Counter(o.status for o in outcomes))


def _action_row(o: ProtectOutcome) -> dict[str, Any]:
    return {"mailbox": o.mailbox_id, "path": o.path, "status": o.status, "category": o.category,
            "action": o.action, "result": o.result, "sender": o.sender, "subject": (o.subject or "")[:80]}


@dataclass
class NotificationBatch:
    """One drained batch of the notification queue and the threat events it raised."""

    result: DrainResult
    events: int = 0

    @property
    def claimed(self) -> int:
        return self.result.claimed

    def statuses(self) -> dict[str, int]:
        return _statuses(self.result.outcomes)


@dataclass
class NotificationRun:
    """Every batch one run drained, and the totals over them."""

    batches: list[NotificationBatch] = field(default_factory=list)

    def add(self, batch: NotificationBatch) -> None:
        self.batches.append(batch)

    @property
    def claimed(self) -> int:
        return sum(b.claimed for b in self.batches)

    def outcomes(self) -> list[ProtectOutcome]:
        return [o for b in self.batches for o in b.result.outcomes]

    def statuses(self) -> dict[str, int]:
        return _statuses(self.outcomes())

    def table_rows(self) -> list[dict[str, Any]]:
        """One row per message acted on or reported."""
        return [_action_row(o) for o in self.outcomes() if o.status in REPORTED] or [{"status": "nothing acted on"}]

    def description(self) -> str:
        return f"Messages acted on or reported: {self.statuses()}"

    def to_dict(self) -> dict[str, Any]:
        return {"claimed": self.claimed, "statuses": self.statuses(),
                "lifecycle": [x for b in self.batches for x in b.result.lifecycle],
                "events": sum(b.events for b in self.batches),
                "retried": sum(b.result.retried for b in self.batches),
                "failed": sum(b.result.failed for b in self.batches)}


@dataclass
class MailboxSweep:
    """One mailbox's delta sweep over its folders, and the outcome of each message it processed."""

    mailbox: str
    seen: int = 0
    already: int = 0
    processed: int = 0
    acted: int = 0
    restarted: bool = False
    baseline: bool = False
    outcomes: list[ProtectOutcome] = field(default_factory=list)

    @classmethod
    def of(cls, mailbox: str, folders: list[SweepResult]) -> MailboxSweep:
        outcomes = [o for r in folders for o in r.outcomes]
        return cls(mailbox, seen=sum(r.seen for r in folders), already=sum(r.already for r in folders),
                   processed=sum(r.processed for r in folders),
                   acted=sum(1 for o in outcomes if o.status == "acted"),
                   restarted=any(r.restarted for r in folders), baseline=any(r.baseline for r in folders),
                   outcomes=outcomes)

    def row(self) -> dict[str, Any]:
        return {"mailbox": self.mailbox, "seen": self.seen, "already": self.already, "processed": self.processed,
                "acted": self.acted, "restarted": self.restarted, "baseline": self.baseline}


@dataclass
class DeltaSweepReport:
    """A tenant's delta sweep, mailbox by mailbox."""

    domain: str
    sweeps: list[MailboxSweep] = field(default_factory=list)

    def outcomes(self) -> list[ProtectOutcome]:
        return [o for s in self.sweeps for o in s.outcomes]

    def totals(self) -> dict[str, int]:
        return {k: sum(int(getattr(s, k)) for s in self.sweeps) for k in SWEEP_TOTALS}

    def table_rows(self) -> list[dict[str, Any]]:
        return [s.row() for s in self.sweeps] or [{"mailbox": "(none)"}]

    def to_dict(self) -> dict[str, Any]:
        return {"mailboxes": len(self.sweeps), **self.totals(), "rows": [s.row() for s in self.sweeps]}
