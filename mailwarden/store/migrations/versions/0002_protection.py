"""Protection: the durable queue of accepted change and lifecycle notifications.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "protection_notifications",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("mailbox_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("change_type", sa.String(length=16), nullable=True),
        sa.Column("lifecycle_event", sa.String(length=32), nullable=True),
        sa.Column("message_id", sa.String(length=1024), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("error", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protection_notifications")),
    )
    op.create_index("ix_protection_notifications_state_id", "protection_notifications", ["state", "id"],
                    unique=False)
    op.create_index("ix_protection_notifications_tenant_state", "protection_notifications",
                    ["tenant_id", "state"], unique=False)
    op.create_index("ix_protection_notifications_claim_token", "protection_notifications", ["claim_token"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_protection_notifications_claim_token", table_name="protection_notifications")
    op.drop_index("ix_protection_notifications_tenant_state", table_name="protection_notifications")
    op.drop_index("ix_protection_notifications_state_id", table_name="protection_notifications")
    op.drop_table("protection_notifications")
