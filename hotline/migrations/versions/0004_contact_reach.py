"""Whom we may still write to: silent exit, bulk opt-out, unreachable numbers.

The safety, SMS and alerts work all read these columns, so they land first and
once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exited_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("hard_failures", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("unreachable_at", sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("unreachable_at")
        batch_op.drop_column("hard_failures")
        batch_op.drop_column("opted_out_at")
        batch_op.drop_column("exited_at")
