"""Index callback requests by creation time.

The statistics page counts the requests of a period (30 days by default) and the
queue can list requests newest first; with a year of requests both read the whole
table without it. Built in a moment at the sizes the hotline expects (110,000
requests: well under a second).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.create_index("ix_callback_requests_created_at", ["created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_requests_created_at")
