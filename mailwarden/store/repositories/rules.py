"""Inbox-rule and forwarding snapshots: what each mailbox had, when, and whether it is known good.

A changed fingerprint resets ``known_good``: a rule approved once and then edited is reviewed again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailwarden.store.errors import RecordNotFound
from mailwarden.store.models import ForwardingSnapshot, RuleSnapshot
from mailwarden.store.repositories._common import insert_ignore
from mailwarden.store.types import utcnow

Change = Literal["new", "changed", "unchanged"]


def fingerprint(content: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``content`` (key order does not matter)."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def upsert_rule_snapshot(
    session: Session,
    tenant_id: str,
    mailbox_id: str,
    rule_key: str,
    content: Mapping[str, Any],
    *,
    risk_level: str | None = None,
    reasons: list[Any] | None = None,
    hidden: bool = False,
    seen_at: datetime | None = None,
) -> tuple[RuleSnapshot, Change]:
    """Record a rule as seen now; ``rule_key`` is ``source:id`` (``graph:...``, ``exchange:...``)."""
    now = seen_at or utcnow()
    fp = fingerprint(content)
    base = {"tenant_id": tenant_id, "mailbox_id": mailbox_id, "rule_key": rule_key}
    row = {**base, "fingerprint": fp, "content": dict(content), "risk_level": risk_level, "reasons": reasons,
           "hidden": hidden, "first_seen": now, "last_seen": now, "known_good": False}  # fmt: skip
    if insert_ignore(session, RuleSnapshot, [row], list(base)):
        return _one(session, RuleSnapshot, base), "new"
    snap = _one(session, RuleSnapshot, base)
    change: Change = "unchanged" if snap.fingerprint == fp and snap.removed_at is None else "changed"
    if snap.fingerprint != fp:
        snap.fingerprint = fp
        snap.content = dict(content)
        snap.known_good = False
    snap.risk_level, snap.reasons, snap.hidden = risk_level, reasons, hidden
    snap.last_seen = now
    snap.removed_at = None
    session.flush()
    return snap, change


def mark_rules_removed(
    session: Session,
    tenant_id: str,
    mailbox_id: str,
    present_keys: Iterable[str],
    *,
    at: datetime | None = None,
) -> list[RuleSnapshot]:
    """Stamp ``removed_at`` on the mailbox's rules not in ``present_keys``; returns those newly gone."""
    present = set(present_keys)
    gone = [
        s
        for s in list_rules(session, tenant_id, mailbox_id=mailbox_id)
        if s.rule_key not in present and s.removed_at is None
    ]
    for snap in gone:
        snap.removed_at = at or utcnow()
    session.flush()
    return gone


def set_rule_known_good(
    session: Session, tenant_id: str, mailbox_id: str, rule_key: str, known_good: bool = True
) -> RuleSnapshot:
    """Mark (or unmark) a rule as reviewed and benign."""
    snap = _one(
        session, RuleSnapshot, {"tenant_id": tenant_id, "mailbox_id": mailbox_id, "rule_key": rule_key}
    )
    snap.known_good = known_good
    session.flush()
    return snap


def list_rules(
    session: Session, tenant_id: str, *, mailbox_id: str | None = None, include_removed: bool = True
) -> list[RuleSnapshot]:
    """The tenant's rule snapshots, optionally for one mailbox and without removed rules."""
    stmt = select(RuleSnapshot).where(RuleSnapshot.tenant_id == tenant_id)
    if mailbox_id is not None:
        stmt = stmt.where(RuleSnapshot.mailbox_id == mailbox_id)
    if not include_removed:
        stmt = stmt.where(RuleSnapshot.removed_at.is_(None))
    return list(session.scalars(stmt.order_by(RuleSnapshot.mailbox_id, RuleSnapshot.rule_key)))


def list_known_good_rules(
    session: Session, tenant_id: str, *, mailbox_id: str | None = None
) -> list[RuleSnapshot]:
    """Rules an operator marked known good (and not since changed)."""
    return [r for r in list_rules(session, tenant_id, mailbox_id=mailbox_id) if r.known_good]


def upsert_forwarding_snapshot(
    session: Session,
    tenant_id: str,
    mailbox_id: str,
    content: Mapping[str, Any],
    *,
    source: str = "exchange",
    risk_level: str | None = None,
    reasons: list[Any] | None = None,
    seen_at: datetime | None = None,
) -> tuple[ForwardingSnapshot, Change]:
    """Record a mailbox's forwarding settings as seen now (one row per mailbox and source)."""
    now = seen_at or utcnow()
    fp = fingerprint(content)
    base = {"tenant_id": tenant_id, "mailbox_id": mailbox_id, "source": source}
    row = {**base, "fingerprint": fp, "content": dict(content), "risk_level": risk_level, "reasons": reasons,
           "first_seen": now, "last_seen": now, "known_good": False}  # fmt: skip
    if insert_ignore(session, ForwardingSnapshot, [row], list(base)):
        return _one(session, ForwardingSnapshot, base), "new"
    snap = _one(session, ForwardingSnapshot, base)
    change: Change = "unchanged" if snap.fingerprint == fp else "changed"
    if change == "changed":
        snap.fingerprint, snap.content, snap.known_good = fp, dict(content), False
    snap.risk_level, snap.reasons, snap.last_seen = risk_level, reasons, now
    session.flush()
    return snap, change


def set_forwarding_known_good(
    session: Session, tenant_id: str, mailbox_id: str, known_good: bool = True, *, source: str = "exchange"
) -> ForwardingSnapshot:
    """Mark (or unmark) a mailbox's forwarding as reviewed and benign."""
    snap = _one(
        session, ForwardingSnapshot, {"tenant_id": tenant_id, "mailbox_id": mailbox_id, "source": source}
    )
    snap.known_good = known_good
    session.flush()
    return snap


def list_known_good_forwarding(session: Session, tenant_id: str) -> list[ForwardingSnapshot]:
    """Forwarding settings an operator marked known good."""
    stmt = select(ForwardingSnapshot).where(
        ForwardingSnapshot.tenant_id == tenant_id, ForwardingSnapshot.known_good.is_(True)
    )
    return list(session.scalars(stmt.order_by(ForwardingSnapshot.mailbox_id)))


def _one(session: Session, model: Any, key: Mapping[str, str]) -> Any:
    stmt = select(model).where(*(getattr(model, k) == v for k, v in key.items()))
    found = session.scalars(stmt.execution_options(populate_existing=True)).first()
    if found is None:
        raise RecordNotFound(f"no {model.__tablename__} row for {dict(key)}")
    return found
