"""What the protection runbooks report: subscription health, drained batches, delta sweeps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mailwarden.protection import (
    DeltaSweepReport,
    DrainResult,
    MailboxSweep,
    NotificationBatch,
    NotificationRun,
    ProtectionReport,
    ProtectOutcome,
    SubscriptionSync,
    SweepResult,
    SyncResult,
    subscription_health,
)

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


@dataclass
class Record:
    mailbox_id: str
    subscription_id: str
    status: str
    expires_at: datetime


def _outcome(mailbox: str, status: str, category: str | None = None) -> ProtectOutcome:
    return ProtectOutcome(mailbox, f"{mailbox}-m", status, "notification", category=category,  # type: ignore[arg-type]
                          subject="x" * 100)


def test_health_says_which_subscriptions_need_attention() -> None:
    records = [Record("ann", "s1", "active", NOW + timedelta(hours=48)),
               Record("bob", "s2", "active", NOW + timedelta(hours=3)),
               Record("cy", "s3", "active", NOW - timedelta(hours=2)),
               Record("dee", "s4", "removed", NOW + timedelta(hours=48))]
    health = subscription_health(records, NOW)
    assert [(h.mailbox, h.health, h.hours_left) for h in health] == [
        ("ann", "ok", 48.0), ("bob", "renew soon", 3.0), ("cy", "expired", -2.0), ("dee", "removed", 48.0)]
    sync = SubscriptionSync(["ann", "bob", "cy", "eve"], SyncResult(created=["eve"], errors={"cy": "Forbidden"}))
    report = ProtectionReport("contoso.example", sync, health, {"pending": 2})
    text = report.summary_markdown()
    assert "- protected mailboxes: 4" in text
    assert "- subscriptions: 3 active, 3 needing attention" in text
    assert "1 created, 0 renewed" in text and "1 errors" in text and "{'pending': 2}" in text
    out = report.to_dict()
    assert out["mailboxes"] == 4 and out["created"] == 1 and out["errors"] == 1
    assert out["error_rows"] == [{"mailbox": "cy", "error": "Forbidden"}]
    assert out["subscriptions"][1]["expires_at"] == (NOW + timedelta(hours=3)).isoformat()
    assert out["queue"] == {"pending": 2}


def test_an_empty_tenant_reports_none_and_an_empty_queue() -> None:
    report = ProtectionReport("c.example", SubscriptionSync([], SyncResult()))
    assert report.table_rows() == [{"mailbox": "(none)"}]
    assert "- notification queue: empty" in report.summary_markdown()


def test_a_run_adds_up_its_batches_and_tables_only_what_was_acted_on_or_reported() -> None:
    first = NotificationBatch(DrainResult(claimed=3, outcomes=[_outcome("ann", "acted", "malicious"),
                                                               _outcome("bob", "clean")],
                                          lifecycle=[{"event": "missed", "swept": 1}], retried=1), events=1)
    second = NotificationBatch(DrainResult(claimed=2, outcomes=[_outcome("cy", "reported", "spam"),
                                                                _outcome("dee", "clean")], failed=1))
    run = NotificationRun()
    assert run.table_rows() == [{"status": "nothing acted on"}]
    run.add(first)
    run.add(second)
    assert run.to_dict() == {"claimed": 5, "statuses": {"acted": 1, "clean": 2, "reported": 1},
                             "lifecycle": [{"event": "missed", "swept": 1}], "events": 1, "retried": 1, "failed": 1}
    rows = run.table_rows()
    assert [(r["mailbox"], r["status"]) for r in rows] == [("ann", "acted"), ("cy", "reported")]
    assert len(rows[0]["subject"]) == 80
    assert "'acted': 1" in run.description()


def test_a_sweep_sums_its_folders_and_the_report_its_mailboxes() -> None:
    inbox = SweepResult("ann", "inbox", seen=4, already=1, processed=3, baseline=True,
                        outcomes=[_outcome("ann", "acted"), _outcome("ann", "clean"), _outcome("ann", "acted")])
    other = SweepResult("ann", "junkemail", seen=1, processed=1, restarted=True, outcomes=[_outcome("ann", "clean")])
    ann = MailboxSweep.of("ann", [inbox, other])
    assert ann.row() == {"mailbox": "ann", "seen": 5, "already": 1, "processed": 4, "acted": 2,
                         "restarted": True, "baseline": True}
    bob = MailboxSweep.of("bob", [SweepResult("bob", "inbox", seen=2, already=2)])
    report = DeltaSweepReport("c.example", [ann, bob])
    out = report.to_dict()
    assert {k: out[k] for k in ("mailboxes", "seen", "already", "processed", "acted")} == \
        {"mailboxes": 2, "seen": 7, "already": 3, "processed": 4, "acted": 2}
    assert [r["mailbox"] for r in out["rows"]] == ["ann", "bob"] and "outcomes" not in out["rows"][0]
    assert len(report.outcomes()) == 4
    assert DeltaSweepReport("c.example").table_rows() == [{"mailbox": "(none)"}]
