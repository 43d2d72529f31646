"""SQLAlchemy 2 models of the store. No column holds a secret: OAuth ``state`` and Graph
``clientState`` are kept as SHA-256 hashes only, and directory ``raw`` JSON is scrubbed.

Data tables carry ``tenant_id`` without a foreign key to ``tenants``: with per-tenant data
residency the tenant registry and a tenant's data may live in different databases.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mailwarden.store.types import BigIntPK, JSONType, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TENANT = 36  # a tenant id is a GUID
OBJECT_ID = 64  # directory object / mailbox ids (GUIDs), subscription ids
ADDRESS = 320  # an SMTP address
MESSAGE_ID = 1024  # Graph message ids and Internet Message-IDs are long
FLOW_RUN = 64
SUBJECT_MAX = 255


def new_id() -> str:
    """A random UUID as text, for run ids."""
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- tenants ---------------------------------------------------------------------------------


class Tenant(Base):
    """A connected customer tenant. ``store_url`` never contains a password."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(TENANT), primary_key=True)
    primary_domain: Mapped[str] = mapped_column(String(255), index=True)
    cloud: Mapped[str] = mapped_column(String(32), default="global")
    tier: Mapped[str] = mapped_column(String(16), default="basic")
    consent_state: Mapped[str] = mapped_column(String(32), default="pending")
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    store_url: Mapped[str | None] = mapped_column(String(1024))
    block_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    offboarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- directory -------------------------------------------------------------------------------


class DirectoryObject(Base):
    """A user or group as last synced; ``raw`` is the source JSON minus secret-looking keys."""

    __tablename__ = "directory_objects"
    __table_args__ = (
        UniqueConstraint("tenant_id", "object_id"),
        Index("ix_directory_objects_tenant_kind", "tenant_id", "kind"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    object_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    kind: Mapped[str] = mapped_column(String(16))  # user | group
    display_name: Mapped[str | None] = mapped_column(String(512))
    upn: Mapped[str | None] = mapped_column(String(ADDRESS))
    mail: Mapped[str | None] = mapped_column(String(ADDRESS))
    recipient_type: Mapped[str | None] = mapped_column(String(64))
    account_enabled: Mapped[bool | None] = mapped_column(Boolean)
    user_type: Mapped[str | None] = mapped_column(String(32))
    licensed: Mapped[bool | None] = mapped_column(Boolean)
    location: Mapped[str] = mapped_column(String(16), default="cloud")  # cloud | onprem
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DirectoryAddress(Base):
    """One SMTP address (lower-case) of a directory object."""

    __tablename__ = "directory_addresses"
    __table_args__ = (
        UniqueConstraint("tenant_id", "address", "object_id"),
        Index("ix_directory_addresses_tenant_object", "tenant_id", "object_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    address: Mapped[str] = mapped_column(String(ADDRESS))
    object_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)


class GroupMembership(Base):
    """A member of a group; ``transitive`` marks membership through nested groups only."""

    __tablename__ = "group_memberships"
    __table_args__ = (
        UniqueConstraint("tenant_id", "group_id", "member_id", "transitive"),
        Index("ix_group_memberships_tenant_member", "tenant_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    group_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    member_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    transitive: Mapped[bool] = mapped_column(Boolean, default=False)


class DeltaToken(Base):
    """The last ``@odata.deltaLink`` of a resource (``users``, ``groups``, a mailbox folder)."""

    __tablename__ = "delta_tokens"
    __table_args__ = (UniqueConstraint("tenant_id", "resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    resource: Mapped[str] = mapped_column(String(512))
    token: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- licensing -------------------------------------------------------------------------------


class LicenseSnapshot(Base):
    """A licence count; only rows with ``complete=True`` are ever read as results."""

    __tablename__ = "license_snapshots"
    __table_args__ = (Index("ix_license_snapshots_tenant_latest", "tenant_id", "complete", "taken_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    flow_run_id: Mapped[str | None] = mapped_column(String(FLOW_RUN))
    protected_count: Mapped[int] = mapped_column(Integer, default=0)
    seats: Mapped[int | None] = mapped_column(Integer)
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)


class LicenseSnapshotItem(Base):
    """One recipient in a snapshot, counted or not, with the reason."""

    __tablename__ = "license_snapshot_items"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("license_snapshots.id", ondelete="CASCADE"), index=True
    )
    object_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    address: Mapped[str | None] = mapped_column(String(ADDRESS))
    recipient_type: Mapped[str | None] = mapped_column(String(64))
    counted: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(String(255))


class LicenseDiff(Base):
    """What changed against the previous complete snapshot."""

    __tablename__ = "license_diffs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("license_snapshots.id", ondelete="CASCADE"), index=True
    )
    change: Mapped[str] = mapped_column(String(16))  # added | removed | changed
    object_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


# --- scanning --------------------------------------------------------------------------------


class ScanRun(Base):
    """A historic scan, protection pass or threat search."""

    __tablename__ = "scan_runs"
    __table_args__ = (Index("ix_scan_runs_tenant_started", "tenant_id", "started_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    flow_run_id: Mapped[str | None] = mapped_column(String(FLOW_RUN))
    kind: Mapped[str] = mapped_column(String(32))  # historic | protect | threat-search
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="running")
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    totals: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class MailboxCheckpoint(Base):
    """Progress of one mailbox folder within a scope (a scan id or a key like ``protect``)."""

    __tablename__ = "mailbox_checkpoints"
    __table_args__ = (
        UniqueConstraint("tenant_id", "scope", "mailbox_id", "folder"),
        Index("ix_mailbox_checkpoints_scope_state", "scope", "state"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    scope: Mapped[str] = mapped_column(String(128))
    mailbox_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    folder: Mapped[str] = mapped_column(String(512))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|running|done|failed
    last_received: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delta_link: Mapped[str | None] = mapped_column(Text)
    messages_seen: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Finding(Base):
    """A message judged suspicious; unique per scan, mailbox and message (``message_key``)."""

    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("scan_id", "mailbox_id", "message_key"),
        Index("ix_findings_tenant_category", "tenant_id", "category"),
        Index("ix_findings_tenant_imid", "tenant_id", "internet_message_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    scan_id: Mapped[str] = mapped_column(String(128))  # a scan run id or a scope key
    mailbox_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    message_key: Mapped[str] = mapped_column(String(MESSAGE_ID))  # internet_message_id or message_id
    message_id: Mapped[str | None] = mapped_column(String(MESSAGE_ID))
    internet_message_id: Mapped[str | None] = mapped_column(String(MESSAGE_ID))
    folder_id: Mapped[str | None] = mapped_column(String(MESSAGE_ID))
    category: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    reasons: Mapped[list[Any] | None] = mapped_column(JSONType)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    subject: Mapped[str | None] = mapped_column(String(SUBJECT_MAX))
    sender: Mapped[str | None] = mapped_column(String(ADDRESS))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- audit -----------------------------------------------------------------------------------


class RemediationAction(Base):
    """THE audit log: one row per remediation step, unique by ``idempotency_key``.

    ``state`` is ``planned`` between deciding to act and recording the outcome, then ``done``;
    a ``planned`` row found later means a crash between acting and recording.
    """

    __tablename__ = "remediation_actions"
    __table_args__ = (
        Index("ix_remediation_actions_tenant_created", "tenant_id", "created_at"),
        Index("ix_remediation_actions_flow_run", "flow_run_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    target_kind: Mapped[str] = mapped_column(String(32))  # message|rule|forwarding|session|password|account
    mailbox_id: Mapped[str | None] = mapped_column(String(ADDRESS))
    target: Mapped[str] = mapped_column(String(MESSAGE_ID))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(String(512))
    approval: Mapped[str | None] = mapped_column(String(255))
    flow_run_id: Mapped[str | None] = mapped_column(String(FLOW_RUN))
    state: Mapped[str] = mapped_column(String(16), default="done")  # planned | done
    result: Mapped[str | None] = mapped_column(String(16))  # done|skipped|failed|already_done
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- rules and forwarding --------------------------------------------------------------------


class RuleSnapshot(Base):
    """An inbox rule as last seen; ``rule_key`` is ``source:id`` (``graph:...``/``exchange:...``)."""

    __tablename__ = "rule_snapshots"
    __table_args__ = (
        UniqueConstraint("tenant_id", "mailbox_id", "rule_key"),
        Index("ix_rule_snapshots_tenant_risk", "tenant_id", "risk_level"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    mailbox_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    rule_key: Mapped[str] = mapped_column(String(512))
    fingerprint: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    risk_level: Mapped[str | None] = mapped_column(String(16))
    reasons: Mapped[list[Any] | None] = mapped_column(JSONType)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    known_good: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ForwardingSnapshot(Base):
    """A mailbox's forwarding settings as last seen (one row per mailbox and source)."""

    __tablename__ = "forwarding_snapshots"
    __table_args__ = (UniqueConstraint("tenant_id", "mailbox_id", "source"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    mailbox_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    source: Mapped[str] = mapped_column(String(32), default="exchange")
    fingerprint: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    risk_level: Mapped[str | None] = mapped_column(String(16))
    reasons: Mapped[list[Any] | None] = mapped_column(JSONType)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    known_good: Mapped[bool] = mapped_column(Boolean, default=False)


# --- playbooks and onboarding ----------------------------------------------------------------


class PlaybookRun(Base):
    """One takeover-response playbook run for a user."""

    __tablename__ = "playbook_runs"
    __table_args__ = (Index("ix_playbook_runs_tenant_user", "tenant_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    user_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    flow_run_id: Mapped[str | None] = mapped_column(String(FLOW_RUN))
    trigger: Mapped[str | None] = mapped_column(String(255))
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    steps: Mapped[list[Any] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConsentRequest(Base):
    """An admin-consent round trip; only the SHA-256 of the OAuth ``state`` is kept."""

    __tablename__ = "consent_requests"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_ref: Mapped[str] = mapped_column(String(255))
    tier: Mapped[str | None] = mapped_column(String(16))
    flow_run_id: Mapped[str | None] = mapped_column(String(FLOW_RUN))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(255))


# --- protection ------------------------------------------------------------------------------


class Subscription(Base):
    """A Graph change-notification subscription; ``clientState`` is kept as a hash."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_tenant_mailbox", "tenant_id", "mailbox_id"),
        Index("ix_subscriptions_status_expires", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    mailbox_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    subscription_id: Mapped[str] = mapped_column(String(OBJECT_ID), unique=True)
    resource: Mapped[str] = mapped_column(String(512))
    client_state_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ProcessedMessage(Base):
    """A message already handled by protection, so notification and delta paths act once."""

    __tablename__ = "processed_messages"
    __table_args__ = (UniqueConstraint("tenant_id", "mailbox_id", "message_key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    mailbox_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    message_key: Mapped[str] = mapped_column(String(MESSAGE_ID))  # internet_message_id or message_id
    message_id: Mapped[str | None] = mapped_column(String(MESSAGE_ID))
    internet_message_id: Mapped[str | None] = mapped_column(String(MESSAGE_ID))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    path: Mapped[str] = mapped_column(String(16), default="notification")  # notification | delta


class ProtectionNotification(Base):
    """A change or lifecycle notification the receiver accepted: a durable queue entry.

    ``state`` goes ``pending`` -> ``claimed`` (by one drainer, ``claim_token``) -> ``done`` or
    ``failed``; a claim older than its lease is taken over, so a crashed drainer loses nothing.
    Only ids are kept (no message content, no ``clientState``).
    """

    __tablename__ = "protection_notifications"
    __table_args__ = (
        Index("ix_protection_notifications_state_id", "state", "id"),
        Index("ix_protection_notifications_tenant_state", "tenant_id", "state"),
        Index("ix_protection_notifications_claim_token", "claim_token"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(TENANT))
    subscription_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    mailbox_id: Mapped[str] = mapped_column(String(OBJECT_ID))
    kind: Mapped[str] = mapped_column(String(16))  # change | lifecycle
    change_type: Mapped[str | None] = mapped_column(String(16))
    lifecycle_event: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[str | None] = mapped_column(String(MESSAGE_ID))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    claim_token: Mapped[str | None] = mapped_column(String(36))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(String(512))
