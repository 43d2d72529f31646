"""Real-time protection: change-notification subscriptions and exactly-once message processing."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from mailwarden.store.errors import RecordNotFound
from mailwarden.store.models import ProcessedMessage, ProtectionNotification, Subscription
from mailwarden.store.repositories._common import insert_ignore
from mailwarden.store.types import hash_secret_ref, utcnow

PATHS = frozenset({"notification", "delta"})


def save_subscription(
    session: Session,
    tenant_id: str,
    mailbox_id: str,
    subscription_id: str,
    *,
    resource: str,
    client_state: str,
    expires_at: datetime,
    status: str = "active",
) -> Subscription:
    """Create or replace a subscription record; ``client_state`` is stored as its SHA-256 only."""
    fields = {
        "tenant_id": tenant_id,
        "mailbox_id": mailbox_id,
        "resource": resource,
        "client_state_hash": hash_secret_ref(client_state),
        "expires_at": expires_at,
        "status": status,
    }
    now = utcnow()
    row = {"subscription_id": subscription_id, **fields, "created_at": now, "updated_at": now}
    insert_ignore(session, Subscription, [row], ["subscription_id"])
    sub = _require(session, subscription_id)
    for name, value in fields.items():
        setattr(sub, name, value)
    session.flush()
    return sub


def get_subscription(session: Session, subscription_id: str) -> Subscription | None:
    """A subscription by its Graph id."""
    stmt = select(Subscription).where(Subscription.subscription_id == subscription_id)
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def update_subscription(
    session: Session, subscription_id: str, *, expires_at: datetime | None = None, status: str | None = None
) -> Subscription:
    """Renewals (new ``expires_at``) and status changes (``active``, ``removed``, ``failed``)."""
    sub = _require(session, subscription_id)
    if expires_at is not None:
        sub.expires_at = expires_at
    if status is not None:
        sub.status = status
    sub.updated_at = utcnow()
    session.flush()
    return sub


def verify_client_state(session: Session, subscription_id: str, client_state: str | None) -> bool:
    """Whether a notification's ``clientState`` matches the subscription's (constant-time)."""
    sub = get_subscription(session, subscription_id)
    if sub is None or not client_state:
        return False
    return hmac.compare_digest(sub.client_state_hash, hash_secret_ref(client_state))


def subscriptions_expiring(
    session: Session, before: datetime, *, tenant_id: str | None = None
) -> list[Subscription]:
    """Active subscriptions that expire before ``before`` (to renew), soonest first."""
    stmt = select(Subscription).where(Subscription.status == "active", Subscription.expires_at < before)
    if tenant_id is not None:
        stmt = stmt.where(Subscription.tenant_id == tenant_id)
    return list(session.scalars(stmt.order_by(Subscription.expires_at)))


def claim_message(
    session: Session,
    tenant_id: str,
    mailbox_id: str,
    *,
    internet_message_id: str | None = None,
    message_id: str | None = None,
    path: str = "notification",
    now: datetime | None = None,
) -> bool:
    """Claim a message for processing: True only for the first claimant, ever.

    Keyed on ``internet_message_id`` when known (stable across moves), else ``message_id``.
    Race-safe across threads and processes once the claimant's transaction commits; a claim
    rolled back with its transaction frees the message again.
    """
    key = internet_message_id or message_id
    if not key:
        raise ValueError("claim_message needs internet_message_id or message_id")
    if path not in PATHS:
        raise ValueError(f"path must be one of {sorted(PATHS)}")
    row: dict[str, Any] = {
        "tenant_id": tenant_id,
        "mailbox_id": mailbox_id,
        "message_key": key,
        "message_id": message_id,
        "internet_message_id": internet_message_id,
        "processed_at": now or utcnow(),
        "path": path,
    }
    return insert_ignore(session, ProcessedMessage, [row], ["tenant_id", "mailbox_id", "message_key"]) == 1


def is_processed(
    session: Session,
    tenant_id: str,
    mailbox_id: str,
    *,
    internet_message_id: str | None = None,
    message_id: str | None = None,
) -> bool:
    """Whether the message was claimed already (by either id)."""
    keys = [k for k in (internet_message_id, message_id) if k]
    if not keys:
        return False
    stmt = select(ProcessedMessage.id).where(
        ProcessedMessage.tenant_id == tenant_id,
        ProcessedMessage.mailbox_id == mailbox_id,
        ProcessedMessage.message_key.in_(keys),
    )
    return session.scalars(stmt.limit(1)).first() is not None


def release_claim(
    session: Session, tenant_id: str, mailbox_id: str, *, internet_message_id: str | None = None,
    message_id: str | None = None,
) -> None:
    """Undo a claim whose processing failed before acting, so another path may take it."""
    key = internet_message_id or message_id
    if key:
        session.execute(delete(ProcessedMessage).where(
            ProcessedMessage.tenant_id == tenant_id, ProcessedMessage.mailbox_id == mailbox_id,
            ProcessedMessage.message_key == key))


def list_subscriptions(
    session: Session, tenant_id: str, *, status: str | None = None
) -> list[Subscription]:
    """A tenant's subscription records (all, or those with ``status``), by mailbox."""
    stmt = select(Subscription).where(Subscription.tenant_id == tenant_id)
    if status is not None:
        stmt = stmt.where(Subscription.status == status)
    return list(session.scalars(stmt.order_by(Subscription.mailbox_id, Subscription.created_at)))


def delete_subscription_record(session: Session, subscription_id: str) -> None:
    """Forget a subscription (after it was deleted in Graph)."""
    session.execute(delete(Subscription).where(Subscription.subscription_id == subscription_id))


# --- the notification queue ----------------------------------------------------------------

NOTIFICATION_FIELDS = ("tenant_id", "subscription_id", "mailbox_id", "kind", "change_type",
                       "lifecycle_event", "message_id")


def enqueue_notifications(session: Session, items: Iterable[Mapping[str, Any]]) -> int:
    """Persist accepted notifications as ``pending`` queue entries; returns how many."""
    now = utcnow()
    rows = [{**{k: item.get(k) for k in NOTIFICATION_FIELDS}, "state": "pending", "attempts": 0,
             "received_at": now} for item in items]
    if rows:
        session.execute(insert(ProtectionNotification), rows)
    return len(rows)


def claim_notifications(
    session: Session, *, limit: int = 500, tenant_id: str | None = None, lease_seconds: float = 300.0,
    now: datetime | None = None,
) -> list[ProtectionNotification]:
    """Take up to ``limit`` pending entries (oldest first) for this caller only.

    Entries claimed longer than ``lease_seconds`` ago (a drainer that died) are taken over.
    Concurrent drainers never get the same entry: the update re-checks the state it claims from.
    """
    now = now or utcnow()
    token = str(uuid.uuid4())
    T = ProtectionNotification
    claimable = or_(T.state == "pending",
                    (T.state == "claimed") & (T.claimed_at < now - timedelta(seconds=lease_seconds)))
    ids = select(T.id).where(claimable)
    if tenant_id is not None:
        ids = ids.where(T.tenant_id == tenant_id)
    # One statement (no read before the write: SQLite cannot upgrade a stale read snapshot).
    picked = ids.order_by(T.id).limit(limit)
    session.execute(update(T).where(T.id.in_(picked), claimable).values(
        state="claimed", claim_token=token, claimed_at=now, attempts=T.attempts + 1)
        .execution_options(synchronize_session=False))
    stmt = select(T).where(T.claim_token == token).order_by(T.id)
    return list(session.scalars(stmt.execution_options(populate_existing=True)))


def finish_notifications(
    session: Session, ids: Iterable[int], *, state: str = "done", outcome: str | None = None,
    error: str | None = None,
) -> None:
    """Close queue entries: ``done`` (with an outcome), ``failed`` (with an error) or back to ``pending``."""
    if state not in ("done", "failed", "pending"):
        raise ValueError("state must be done, failed or pending")
    values: dict[str, Any] = {"state": state, "outcome": outcome,
                              "error": error[:512] if error else None}
    if state == "pending":
        values.update(claim_token=None, claimed_at=None)
    else:
        values["done_at"] = utcnow()
    id_list = list(ids)
    if id_list:
        session.execute(update(ProtectionNotification).where(ProtectionNotification.id.in_(id_list))
                        .values(**values))


def count_notifications(session: Session, tenant_id: str | None = None) -> dict[str, int]:
    """Queue entries per state (``pending``, ``claimed``, ``done``, ``failed``)."""
    T = ProtectionNotification
    stmt = select(T.state, func.count()).group_by(T.state)
    if tenant_id is not None:
        stmt = stmt.where(T.tenant_id == tenant_id)
    return {str(state): int(n) for state, n in session.execute(stmt)}


def list_notifications(session: Session, tenant_id: str, *, kind: str | None = None) -> list[ProtectionNotification]:
    """A tenant's queue entries, oldest first (tests, health)."""
    T = ProtectionNotification
    stmt = select(T).where(T.tenant_id == tenant_id)
    if kind is not None:
        stmt = stmt.where(T.kind == kind)
    return list(session.scalars(stmt.order_by(T.id)))


def _require(session: Session, subscription_id: str) -> Subscription:
    sub = get_subscription(session, subscription_id)
    if sub is None:
        raise RecordNotFound(f"no subscription {subscription_id!r}")
    return sub
