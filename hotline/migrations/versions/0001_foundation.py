"""Contacts and USSD sessions.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("phone", name=op.f("uq_contacts_phone")),
    )
    op.create_table(
        "ussd_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=100), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=40), nullable=False),
        sa.Column("network_code", sa.String(length=10), nullable=False),
        sa.Column("start_lang", sa.String(length=8), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                                name=op.f("fk_ussd_sessions_contact_id_contacts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ussd_sessions")),
        sa.UniqueConstraint("session_id", name=op.f("uq_ussd_sessions_session_id")),
    )
    op.create_index(op.f("ix_ussd_sessions_contact_id"), "ussd_sessions", ["contact_id"])
    op.create_table(
        "ussd_session_ends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=100), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("service_code", sa.String(length=40), nullable=False),
        sa.Column("network_code", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("hops_count", sa.Integer(), nullable=True),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("last_app_response", sa.Text(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("cost", sa.String(length=40), nullable=False),
        sa.Column("gateway_date", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                                name=op.f("fk_ussd_session_ends_contact_id_contacts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ussd_session_ends")),
        sa.UniqueConstraint("session_id", name=op.f("uq_ussd_session_ends_session_id")),
    )
    op.create_index(op.f("ix_ussd_session_ends_contact_id"), "ussd_session_ends", ["contact_id"])


def downgrade():
    op.drop_table("ussd_session_ends")
    op.drop_index(op.f("ix_ussd_sessions_contact_id"), table_name="ussd_sessions")
    op.drop_table("ussd_sessions")
    op.drop_table("contacts")
