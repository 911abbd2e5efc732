"""Inbound SMS: every text a caller sends, once per gateway id, and the staff inbox.

Revision ID: 0009_sms
Revises: 0008_outbox
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_sms"
down_revision = "0008_outbox"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "inbound_sms",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider_id", sa.String(100), nullable=False, unique=True),
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("to_code", sa.String(40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link_id", sa.String(100), nullable=False),
        sa.Column("network_code", sa.String(10), nullable=False),
        sa.Column("gateway_date", sa.String(40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("command", sa.String(20), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("callback_requests.id"),
                  nullable=True),
        sa.Column("handled_by_id", sa.Integer(), sa.ForeignKey("staff_users.id"),
                  nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply", sa.Text(), nullable=False),
    )
    op.create_index("ix_inbound_sms_contact_id", "inbound_sms", ["contact_id"])
    op.create_index("ix_inbound_sms_inbox", "inbound_sms", ["status", "received_at"])


def downgrade():
    op.drop_index("ix_inbound_sms_inbox", table_name="inbound_sms")
    op.drop_index("ix_inbound_sms_contact_id", table_name="inbound_sms")
    op.drop_table("inbound_sms")
