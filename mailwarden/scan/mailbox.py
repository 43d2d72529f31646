"""Scanning one mailbox: page, classify, store findings, apply the policy, checkpoint.

The mailbox is paged with only the properties detection needs (the next page is read while this
one is classified). Each verdict that is not clean is stored as a finding (one bulk insert per
page, idempotent per scan id); the policy's action per category goes through the audited,
idempotent :meth:`~mailwarden.mailbox.access.MailboxAccess.apply_action` under the scan's id. A
finished mailbox is checkpointed ``done`` and skipped by a re-run. Transient Graph failures
raise (the caller retries); a mailbox that is gone, forbidden or on an unusable on-premises
server is checkpointed ``failed`` with the reason and returned as such.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy.orm import Session

from mailwarden.detection import Category, DetectionContext, DetectionPolicy, Verdict, classify, default_policy
from mailwarden.graph import ConsentMissing, Forbidden, NotFound
from mailwarden.mailbox import Action
from mailwarden.mailbox.access import SIDE_LABEL, MailboxAccess, OnPremUnavailable
from mailwarden.mailbox.reading import read_ahead
from mailwarden.scan.policy import SCAN_ACTOR, ScanPolicy, folder_key
from mailwarden.store import Store
from mailwarden.store.repositories import (
    add_findings,
    get_checkpoint,
    mark_checkpoint_done,
    mark_checkpoint_failed,
    mark_checkpoint_running,
)

UNREADABLE = (NotFound, Forbidden, ConsentMissing, OnPremUnavailable)
"""Failures that end one mailbox's scan (reported), not the scan."""


@dataclass
class MailboxScan:
    """What scanning one mailbox gave: one row of the scan's report."""

    mailbox: str
    status: Literal["done", "failed"] = "done"
    seen: int = 0
    """Messages read (for a mailbox done before: as recorded then)."""
    skipped: bool = False
    """Done by an earlier run of the same scan: not read again."""
    categories: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    """``action:result`` -> messages."""
    error: str | None = None
    side: str = "cloud"
    """``cloud`` or ``on-premises``."""

    @classmethod
    def failure(cls, mailbox: str, error: str, side: str = "cloud") -> MailboxScan:
        return cls(mailbox, status="failed", error=error[:300], side=side)

    def row(self) -> dict[str, Any]:
        return asdict(self)


def finding_row(tenant_id: str, scan_id: str, mailbox_id: str, msg: dict[str, Any], verdict: Verdict
                ) -> dict[str, Any]:
    """The stored finding of one verdict (see :func:`mailwarden.store.repositories.add_findings`)."""
    sender = ((msg.get("from") or msg.get("sender") or {}).get("emailAddress") or {}).get("address")
    return {
        "tenant_id": tenant_id, "scan_id": scan_id, "mailbox_id": mailbox_id, "message_id": msg.get("id"),
        "internet_message_id": msg.get("internetMessageId"), "folder_id": msg.get("parentFolderId"),
        "category": str(verdict.category), "score": verdict.score,
        "reasons": [{"code": r.code, "detail": r.detail, "weight": r.weight} for r in verdict.reasons],
        "received_at": _received(msg), "subject": msg.get("subject"), "sender": sender,
    }


def _received(msg: dict[str, Any]) -> datetime | None:
    received = msg.get("receivedDateTime")
    return datetime.fromisoformat(received.replace("Z", "+00:00")) if received else None


class _Pass:
    """One pass over a mailbox's messages: counts, pending findings, the newest message seen."""

    def __init__(self, mailbox: MailboxAccess, *, tenant_id: str, scan_id: str, policy: ScanPolicy,
                 context: DetectionContext | None, detection: DetectionPolicy, flow_run_id: str | None,
                 page_size: int) -> None:
        self.mailbox, self.tenant_id, self.scan_id = mailbox, tenant_id, scan_id
        self.policy, self.context, self.detection = policy, context, detection
        self.flow_run_id, self.page_size = flow_run_id, page_size
        self.seen = 0
        self.categories: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        self.batch: list[dict[str, Any]] = []
        self.latest: datetime | None = None

    def folder(self, session: Session, folder: str | None, since: datetime) -> None:
        """Every message of one folder (None: every visible folder); a transaction per page."""
        messages = self.mailbox.iter_messages(since=since, folder=folder, page_size=self.page_size)
        for msg in read_ahead(messages, self.page_size):  # the next page is fetched during this one's work
            self.message(session, msg)
            if self.batch and self.seen % self.page_size == 0:
                add_findings(session, self.batch)
                session.commit()
                self.batch = []

    def message(self, session: Session, msg: dict[str, Any]) -> None:
        self.seen += 1
        verdict = classify(msg, self.context, self.detection)
        category = str(verdict.category)
        self.categories[category] += 1
        if category != Category.CLEAN or self.policy.store_clean:
            self.batch.append(finding_row(self.tenant_id, self.scan_id, self.mailbox.mailbox_id, msg, verdict))
        received = _received(msg)
        if received is not None and (self.latest is None or received > self.latest):
            self.latest = received
        action = self.policy.action_for(category)
        if action != "report":
            outcome = self.mailbox.apply_action(
                session, tenant_id=self.tenant_id, message=msg, action=cast(Action, action), actor=SCAN_ACTOR,
                reason=f"policy:{category} score={verdict.score}", approval="policy",
                flow_run_id=self.flow_run_id, scope=self.scan_id)
            self.actions[f"{action}:{outcome.result}"] += 1


def scan_mailbox(
    mailbox: MailboxAccess, store: Store, *, tenant_id: str, scan_id: str, since: datetime,
    folders: list[str] | None, policy: ScanPolicy, context: DetectionContext | None, flow_run_id: str | None,
    detection_policy: DetectionPolicy | None = None, page_size: int = 250,
) -> MailboxScan:
    """Scan one mailbox of scan ``scan_id`` (see the module docstring), wherever ``mailbox`` lives."""
    key = folder_key(folders)
    mailbox_id = mailbox.mailbox_id
    result = MailboxScan(mailbox_id, side=SIDE_LABEL[mailbox.location])
    with store.session() as s:
        cp = get_checkpoint(s, tenant_id, scan_id, mailbox_id, key)
        if cp is not None and cp.state == "done":
            result.skipped, result.seen = True, cp.messages_seen
            return result
        mark_checkpoint_running(s, tenant_id, scan_id, mailbox_id, key)
        s.commit()
    run = _Pass(mailbox, tenant_id=tenant_id, scan_id=scan_id, policy=policy, context=context,
                detection=detection_policy or default_policy(), flow_run_id=flow_run_id, page_size=page_size)
    try:
        with store.session() as s:
            for folder in list(folders) if folders else [None]:
                run.folder(s, folder, since)
            add_findings(s, run.batch)
            mark_checkpoint_done(s, tenant_id, scan_id, mailbox_id, key, messages_seen=run.seen,
                                 last_received=run.latest)
            s.commit()
    except UNREADABLE as exc:
        reason = f"{type(exc).__name__}: {exc}"
        record_failure(store, tenant_id=tenant_id, scan_id=scan_id, mailbox_id=mailbox_id, folders=folders,
                       error=reason)
        result.status, result.error = "failed", reason[:300]
    result.seen, result.categories, result.actions = run.seen, dict(run.categories), dict(run.actions)
    return result


def record_failure(store: Store, *, tenant_id: str, scan_id: str, mailbox_id: str, folders: list[str] | None,
                   error: str) -> None:
    """Checkpoint a mailbox ``failed`` with the reason (a re-run of the scan reads it again)."""
    with store.session() as s:
        mark_checkpoint_failed(s, tenant_id, scan_id, mailbox_id, folder_key(folders), error)
        s.commit()
