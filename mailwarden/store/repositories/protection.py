"""Real-time protection: change-notification subscriptions and exactly-once message processing."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailwarden.store.errors import RecordNotFound
from mailwarden.store.models import ProcessedMessage, Subscription
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


def _require(session: Session, subscription_id: str) -> Subscription:
    sub = get_subscription(session, subscription_id)
    if sub is None:
        raise RecordNotFound(f"no subscription {subscription_id!r}")
    return sub
