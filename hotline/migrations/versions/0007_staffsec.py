"""Staff security: second factor, forced password change, session epochs, reveal
approvals, and an audit log that carries address and user agent and cannot be
changed afterwards.

The audit log is append-only in the database itself: a trigger raises on
UPDATE, DELETE and TRUNCATE, so neither a bug nor someone with the app's
database login can rewrite history. (Tests empty tables with
``session_replication_role = replica``, which only a superuser may set.)

Revision ID: 0007_staffsec
Revises: 0009_sms
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_staffsec"
down_revision = "0009_sms"
branch_labels = None
depends_on = None

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""


def upgrade():
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_enabled_at", sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("recovery_codes", sa.Text(), nullable=False,
                                      server_default=""))
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=45), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=200), nullable=False,
                                      server_default=""))
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
    op.create_table(
        "reveal_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["callback_requests.id"],
                                name=op.f("fk_reveal_approvals_request_id_callback_requests")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"],
                                name=op.f("fk_reveal_approvals_staff_id_staff_users")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["staff_users.id"],
                                name=op.f("fk_reveal_approvals_decided_by_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reveal_approvals")),
    )
    with op.batch_alter_table("reveal_approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reveal_approvals_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_reveal_approvals_staff_id"), ["staff_id"],
                              unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log; "
                   "DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log; "
                   "DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table("reveal_approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reveal_approvals_staff_id"))
        batch_op.drop_index(batch_op.f("ix_reveal_approvals_status"))
    op.drop_table("reveal_approvals")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))
        batch_op.drop_column("user_agent")
        batch_op.drop_column("address")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        for column in ("recovery_codes", "totp_last_step", "totp_enabled_at", "totp_secret",
                       "session_epoch", "must_change_password"):
            batch_op.drop_column(column)
