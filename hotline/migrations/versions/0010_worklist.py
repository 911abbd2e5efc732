"""The worklist: order open requests by urgency then deadline; staff choose a language.

The worklist reads open requests by (priority, deadline_at, id), and "Next request"
takes the first callable one; the old (status, priority, created_at) index served
the earlier age order and is replaced. A call record may set a follow-up date. The
statistics count each staff member's attempts and closings of a period from the
timeline, by (kind, at).
Staff pick the dashboard's language (NULL: the browser's).

Revision ID: 0010_worklist
Revises: 0007_staffsec
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_worklist"
down_revision = "0007_staffsec"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follow_up_on", sa.Date(), nullable=True))
        batch_op.drop_index("ix_callback_requests_queue")
        batch_op.create_index("ix_callback_requests_worklist",
                              ["status", "priority", "deadline_at", "id"], unique=False)
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ui_language", sa.String(8), nullable=True))
    with op.batch_alter_table("callback_events", schema=None) as batch_op:
        batch_op.create_index("ix_callback_events_kind_at", ["kind", "at"], unique=False,
                              postgresql_include=["staff_id", "request_id"])


def downgrade():
    with op.batch_alter_table("callback_events", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_events_kind_at")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("ui_language")
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_requests_worklist")
        batch_op.create_index("ix_callback_requests_queue", ["status", "priority", "created_at"],
                              unique=False)
        batch_op.drop_column("follow_up_on")
