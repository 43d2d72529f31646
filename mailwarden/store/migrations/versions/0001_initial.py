"""Initial schema: tenants, directory, licensing, scanning, audit, rules, playbooks, protection.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 20:05:43.907441
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "consent_requests",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_ref", sa.String(length=255), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_requests")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_consent_requests_state_hash")),
    )
    op.create_table(
        "delta_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("resource", sa.String(length=512), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delta_tokens")),
        sa.UniqueConstraint("tenant_id", "resource", name=op.f("uq_delta_tokens_tenant_id_resource")),
    )
    op.create_table(
        "directory_addresses",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_addresses")),
        sa.UniqueConstraint(
            "tenant_id",
            "address",
            "object_id",
            name=op.f("uq_directory_addresses_tenant_id_address_object_id"),
        ),
    )
    op.create_index(
        "ix_directory_addresses_tenant_object",
        "directory_addresses",
        ["tenant_id", "object_id"],
        unique=False,
    )

    op.create_table(
        "directory_objects",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=512), nullable=True),
        sa.Column("upn", sa.String(length=320), nullable=True),
        sa.Column("mail", sa.String(length=320), nullable=True),
        sa.Column("recipient_type", sa.String(length=64), nullable=True),
        sa.Column("account_enabled", sa.Boolean(), nullable=True),
        sa.Column("user_type", sa.String(length=32), nullable=True),
        sa.Column("licensed", sa.Boolean(), nullable=True),
        sa.Column("location", sa.String(length=16), nullable=False),
        sa.Column("raw", JSON, nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_objects")),
        sa.UniqueConstraint("tenant_id", "object_id", name=op.f("uq_directory_objects_tenant_id_object_id")),
    )
    op.create_index(
        "ix_directory_objects_tenant_kind", "directory_objects", ["tenant_id", "kind"], unique=False
    )

    op.create_table(
        "findings",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("scan_id", sa.String(length=128), nullable=False),
        sa.Column("mailbox_id", sa.String(length=64), nullable=False),
        sa.Column("message_key", sa.String(length=1024), nullable=False),
        sa.Column("message_id", sa.String(length=1024), nullable=True),
        sa.Column("internet_message_id", sa.String(length=1024), nullable=True),
        sa.Column("folder_id", sa.String(length=1024), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", JSON, nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("sender", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint(
            "scan_id", "mailbox_id", "message_key", name=op.f("uq_findings_scan_id_mailbox_id_message_key")
        ),
    )
    op.create_index("ix_findings_tenant_category", "findings", ["tenant_id", "category"], unique=False)
    op.create_index("ix_findings_tenant_imid", "findings", ["tenant_id", "internet_message_id"], unique=False)

    op.create_table(
        "forwarding_snapshots",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("mailbox_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("content", JSON, nullable=True),
        sa.Column("risk_level", sa.String(length=16), nullable=True),
        sa.Column("reasons", JSON, nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("known_good", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forwarding_snapshots")),
        sa.UniqueConstraint(
            "tenant_id",
            "mailbox_id",
            "source",
            name=op.f("uq_forwarding_snapshots_tenant_id_mailbox_id_source"),
        ),
    )
    op.create_table(
        "group_memberships",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("transitive", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_memberships")),
        sa.UniqueConstraint(
            "tenant_id",
            "group_id",
            "member_id",
            "transitive",
            name=op.f("uq_group_memberships_tenant_id_group_id_member_id_transitive"),
        ),
    )
    op.create_index(
        "ix_group_memberships_tenant_member", "group_memberships", ["tenant_id", "member_id"], unique=False
    )

    op.create_table(
        "license_snapshots",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("protected_count", sa.Integer(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=True),
        sa.Column("counts", JSON, nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_snapshots")),
    )
    op.create_index(
        "ix_license_snapshots_tenant_latest",
        "license_snapshots",
        ["tenant_id", "complete", "taken_at"],
        unique=False,
    )

    op.create_table(
        "mailbox_checkpoints",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("mailbox_id", sa.String(length=64), nullable=False),
        sa.Column("folder", sa.String(length=512), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_received", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delta_link", sa.Text(), nullable=True),
        sa.Column("messages_seen", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_checkpoints")),
        sa.UniqueConstraint(
            "tenant_id",
            "scope",
            "mailbox_id",
            "folder",
            name=op.f("uq_mailbox_checkpoints_tenant_id_scope_mailbox_id_folder"),
        ),
    )
    op.create_index(
        "ix_mailbox_checkpoints_scope_state", "mailbox_checkpoints", ["scope", "state"], unique=False
    )

    op.create_table(
        "playbook_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("trigger", sa.String(length=255), nullable=True),
        sa.Column("evidence", JSON, nullable=True),
        sa.Column("steps", JSON, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_runs")),
    )
    op.create_index("ix_playbook_runs_tenant_user", "playbook_runs", ["tenant_id", "user_id"], unique=False)

    op.create_table(
        "processed_messages",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("mailbox_id", sa.String(length=64), nullable=False),
        sa.Column("message_key", sa.String(length=1024), nullable=False),
        sa.Column("message_id", sa.String(length=1024), nullable=True),
        sa.Column("internet_message_id", sa.String(length=1024), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("path", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processed_messages")),
        sa.UniqueConstraint(
            "tenant_id",
            "mailbox_id",
            "message_key",
            name=op.f("uq_processed_messages_tenant_id_mailbox_id_message_key"),
        ),
    )
    op.create_table(
        "remediation_actions",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("target_kind", sa.String(length=32), nullable=False),
        sa.Column("mailbox_id", sa.String(length=320), nullable=True),
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=512), nullable=True),
        sa.Column("approval", sa.String(length=255), nullable=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("details", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remediation_actions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_remediation_actions_idempotency_key")),
    )
    op.create_index("ix_remediation_actions_flow_run", "remediation_actions", ["flow_run_id"], unique=False)
    op.create_index(
        "ix_remediation_actions_tenant_created",
        "remediation_actions",
        ["tenant_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "rule_snapshots",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("mailbox_id", sa.String(length=64), nullable=False),
        sa.Column("rule_key", sa.String(length=512), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("content", JSON, nullable=True),
        sa.Column("risk_level", sa.String(length=16), nullable=True),
        sa.Column("reasons", JSON, nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("known_good", sa.Boolean(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_snapshots")),
        sa.UniqueConstraint(
            "tenant_id",
            "mailbox_id",
            "rule_key",
            name=op.f("uq_rule_snapshots_tenant_id_mailbox_id_rule_key"),
        ),
    )
    op.create_index(
        "ix_rule_snapshots_tenant_risk", "rule_snapshots", ["tenant_id", "risk_level"], unique=False
    )

    op.create_table(
        "scan_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parameters", JSON, nullable=True),
        sa.Column("totals", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_runs")),
    )
    op.create_index("ix_scan_runs_tenant_started", "scan_runs", ["tenant_id", "started_at"], unique=False)

    op.create_table(
        "subscriptions",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("mailbox_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=512), nullable=False),
        sa.Column("client_state_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("subscription_id", name=op.f("uq_subscriptions_subscription_id")),
    )
    op.create_index(
        "ix_subscriptions_status_expires", "subscriptions", ["status", "expires_at"], unique=False
    )
    op.create_index(
        "ix_subscriptions_tenant_mailbox", "subscriptions", ["tenant_id", "mailbox_id"], unique=False
    )

    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("primary_domain", sa.String(length=255), nullable=False),
        sa.Column("cloud", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("consent_state", sa.String(length=32), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("store_url", sa.String(length=1024), nullable=True),
        sa.Column("block_name", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offboarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_index(op.f("ix_tenants_primary_domain"), "tenants", ["primary_domain"], unique=False)

    op.create_table(
        "license_diffs",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("snapshot_id", BIGID, nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("details", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["license_snapshots.id"],
            name=op.f("fk_license_diffs_snapshot_id_license_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_diffs")),
    )
    op.create_index(op.f("ix_license_diffs_snapshot_id"), "license_diffs", ["snapshot_id"], unique=False)

    op.create_table(
        "license_snapshot_items",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("snapshot_id", BIGID, nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=True),
        sa.Column("recipient_type", sa.String(length=64), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["license_snapshots.id"],
            name=op.f("fk_license_snapshot_items_snapshot_id_license_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_snapshot_items")),
    )
    op.create_index(
        op.f("ix_license_snapshot_items_snapshot_id"), "license_snapshot_items", ["snapshot_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_license_snapshot_items_snapshot_id"), table_name="license_snapshot_items")
    op.drop_table("license_snapshot_items")
    op.drop_index(op.f("ix_license_diffs_snapshot_id"), table_name="license_diffs")
    op.drop_table("license_diffs")
    op.drop_index(op.f("ix_tenants_primary_domain"), table_name="tenants")
    op.drop_table("tenants")
    op.drop_index("ix_subscriptions_tenant_mailbox", table_name="subscriptions")
    op.drop_index("ix_subscriptions_status_expires", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("ix_scan_runs_tenant_started", table_name="scan_runs")
    op.drop_table("scan_runs")
    op.drop_index("ix_rule_snapshots_tenant_risk", table_name="rule_snapshots")
    op.drop_table("rule_snapshots")
    op.drop_index("ix_remediation_actions_tenant_created", table_name="remediation_actions")
    op.drop_index("ix_remediation_actions_flow_run", table_name="remediation_actions")
    op.drop_table("remediation_actions")
    op.drop_table("processed_messages")
    op.drop_index("ix_playbook_runs_tenant_user", table_name="playbook_runs")
    op.drop_table("playbook_runs")
    op.drop_index("ix_mailbox_checkpoints_scope_state", table_name="mailbox_checkpoints")
    op.drop_table("mailbox_checkpoints")
    op.drop_index("ix_license_snapshots_tenant_latest", table_name="license_snapshots")
    op.drop_table("license_snapshots")
    op.drop_index("ix_group_memberships_tenant_member", table_name="group_memberships")
    op.drop_table("group_memberships")
    op.drop_table("forwarding_snapshots")
    op.drop_index("ix_findings_tenant_imid", table_name="findings")
    op.drop_index("ix_findings_tenant_category", table_name="findings")
    op.drop_table("findings")
    op.drop_index("ix_directory_objects_tenant_kind", table_name="directory_objects")
    op.drop_table("directory_objects")
    op.drop_index("ix_directory_addresses_tenant_object", table_name="directory_addresses")
    op.drop_table("directory_addresses")
    op.drop_table("delta_tokens")
    op.drop_table("consent_requests")
