"""Scan runs, per-mailbox checkpoints, and findings (idempotent bulk add)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailwarden.store.errors import RecordNotFound
from mailwarden.store.models import ADDRESS, SUBJECT_MAX, Finding, MailboxCheckpoint, ScanRun
from mailwarden.store.repositories._common import check_fields, chunks, insert_ignore
from mailwarden.store.types import utcnow

_CHECKPOINT_FIELDS = {"state", "last_received", "delta_link", "messages_seen", "error"}
_FINDING_FIELDS = (
    "tenant_id", "scan_id", "mailbox_id", "message_id", "internet_message_id", "folder_id",
    "category", "score", "reasons", "received_at", "subject", "sender",
)  # fmt: skip
_CHECKPOINT_KEY = ["tenant_id", "scope", "mailbox_id", "folder"]


def create_scan_run(
    session: Session,
    tenant_id: str,
    kind: str,
    *,
    flow_run_id: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> ScanRun:
    """Start a scan run (``historic``, ``protect`` or ``threat-search``); status ``running``."""
    run = ScanRun(
        tenant_id=tenant_id,
        kind=kind,
        flow_run_id=flow_run_id,
        parameters=dict(parameters) if parameters is not None else None,
        started_at=utcnow(),
        status="running",
    )
    session.add(run)
    session.flush()
    return run


def get_scan_run(session: Session, scan_id: str) -> ScanRun | None:
    """A scan run by id."""
    return session.get(ScanRun, scan_id)


def finish_scan_run(
    session: Session, scan_id: str, status: str, *, totals: Mapping[str, Any] | None = None
) -> ScanRun:
    """Close a scan run with its final status (done/failed/cancelled) and totals."""
    run = session.get(ScanRun, scan_id)
    if run is None:
        raise RecordNotFound(f"no scan run {scan_id!r}")
    run.status = status
    run.finished_at = utcnow()
    if totals is not None:
        run.totals = dict(totals)
    session.flush()
    return run


def ensure_checkpoints(
    session: Session, tenant_id: str, scope: str, targets: Iterable[tuple[str, str]]
) -> int:
    """Create ``pending`` checkpoints for (mailbox_id, folder) pairs not yet known; returns how many."""
    now = utcnow()
    rows = (
        {"tenant_id": tenant_id, "scope": scope, "mailbox_id": m, "folder": f, "state": "pending",
         "messages_seen": 0, "updated_at": now}
        for m, f in targets
    )  # fmt: skip
    return sum(insert_ignore(session, MailboxCheckpoint, chunk, _CHECKPOINT_KEY) for chunk in chunks(rows))


def get_checkpoint(
    session: Session, tenant_id: str, scope: str, mailbox_id: str, folder: str
) -> MailboxCheckpoint | None:
    """The checkpoint of one mailbox folder in a scope."""
    stmt = select(MailboxCheckpoint).where(
        MailboxCheckpoint.tenant_id == tenant_id,
        MailboxCheckpoint.scope == scope,
        MailboxCheckpoint.mailbox_id == mailbox_id,
        MailboxCheckpoint.folder == folder,
    )
    return session.scalars(stmt).first()


def set_checkpoint(
    session: Session, tenant_id: str, scope: str, mailbox_id: str, folder: str, **fields: Any
) -> MailboxCheckpoint:
    """Create or update a checkpoint with ``fields`` (state, last_received, delta_link, ...)."""
    check_fields(fields, _CHECKPOINT_FIELDS, "checkpoint")
    ensure_checkpoints(session, tenant_id, scope, [(mailbox_id, folder)])
    checkpoint = get_checkpoint(session, tenant_id, scope, mailbox_id, folder)
    assert checkpoint is not None
    for name, value in fields.items():
        setattr(checkpoint, name, value)
    checkpoint.updated_at = utcnow()
    session.flush()
    return checkpoint


def mark_checkpoint_running(
    session: Session, tenant_id: str, scope: str, mailbox_id: str, folder: str
) -> MailboxCheckpoint:
    """Mark a folder as being scanned now (clears a previous error)."""
    return set_checkpoint(session, tenant_id, scope, mailbox_id, folder, state="running", error=None)


def mark_checkpoint_done(
    session: Session,
    tenant_id: str,
    scope: str,
    mailbox_id: str,
    folder: str,
    *,
    delta_link: str | None = None,
    last_received: datetime | None = None,
    messages_seen: int | None = None,
) -> MailboxCheckpoint:
    """Mark a folder finished, keeping its deltaLink / high-water mark for next time."""
    fields: dict[str, Any] = {"state": "done", "error": None}
    if delta_link is not None:
        fields["delta_link"] = delta_link
    if last_received is not None:
        fields["last_received"] = last_received
    if messages_seen is not None:
        fields["messages_seen"] = messages_seen
    return set_checkpoint(session, tenant_id, scope, mailbox_id, folder, **fields)


def mark_checkpoint_failed(
    session: Session, tenant_id: str, scope: str, mailbox_id: str, folder: str, error: str
) -> MailboxCheckpoint:
    """Mark a folder failed with a short error text (never include tokens in it)."""
    return set_checkpoint(session, tenant_id, scope, mailbox_id, folder, state="failed", error=error[:2000])


def list_checkpoints(
    session: Session, scope: str, *, tenant_id: str | None = None, state: str | None = None
) -> list[MailboxCheckpoint]:
    """Checkpoints of a scope, optionally by tenant and state."""
    stmt = select(MailboxCheckpoint).where(MailboxCheckpoint.scope == scope)
    if tenant_id is not None:
        stmt = stmt.where(MailboxCheckpoint.tenant_id == tenant_id)
    if state is not None:
        stmt = stmt.where(MailboxCheckpoint.state == state)
    return list(session.scalars(stmt.order_by(MailboxCheckpoint.mailbox_id, MailboxCheckpoint.folder)))


def add_findings(session: Session, findings: Iterable[Mapping[str, Any]]) -> int:
    """Add findings, skipping any already stored for the same scan, mailbox and message.

    Each dict needs ``tenant_id``, ``scan_id``, ``mailbox_id``, ``category`` and at least one of
    ``internet_message_id``/``message_id``. Returns how many were new.
    """
    now = utcnow()
    rows = (_finding_row(f, now) for f in findings)
    key = ["scan_id", "mailbox_id", "message_key"]
    return sum(insert_ignore(session, Finding, chunk, key) for chunk in chunks(rows, 1000))


def _finding_row(finding: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    row = {name: finding.get(name) for name in _FINDING_FIELDS}
    key = row["internet_message_id"] or row["message_id"]
    if not key or not row["tenant_id"] or not row["scan_id"] or not row["mailbox_id"] or not row["category"]:
        raise ValueError("a finding needs tenant_id, scan_id, mailbox_id, category and a message id")
    row["message_key"] = key
    row["score"] = float(row["score"] or 0.0)
    if row["subject"] is not None:
        row["subject"] = str(row["subject"])[:SUBJECT_MAX]
    if row["sender"] is not None:
        row["sender"] = str(row["sender"])[:ADDRESS]
    row["created_at"] = now
    return row


def list_findings(
    session: Session,
    *,
    scan_id: str | None = None,
    tenant_id: str | None = None,
    category: str | None = None,
    limit: int | None = None,
) -> list[Finding]:
    """Findings filtered by scan, tenant and/or category, highest score first."""
    stmt = select(Finding)
    if scan_id is not None:
        stmt = stmt.where(Finding.scan_id == scan_id)
    if tenant_id is not None:
        stmt = stmt.where(Finding.tenant_id == tenant_id)
    if category is not None:
        stmt = stmt.where(Finding.category == category)
    stmt = stmt.order_by(Finding.score.desc(), Finding.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))
