"""The send job finds the next rows of one text through an index, not a scan.

A send job claims the queued rows of one text and priority in id order, a batch at
a time. Without an index PostgreSQL walked the primary key past every row already
sent, so each claim of a 100,000-recipient alert cost more than the one before.
The index holds only queued rows (a row leaves it when claimed) and keys the text
by its md5: a whole body (up to 1,600 characters, 3,200 bytes of Arabic) may be
larger than a btree entry can be. SQLite (the embedded development default) has no
md5() and no such volumes; it goes without.

Revision ID: 0013_send
Revises: 0012_staffperf
Create Date: 2026-11-29
"""

from alembic import op

revision = "0013_send"
down_revision = "0012_staffperf"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_outbox_messages_queued_text ON outbox_messages "
                   "(priority, md5(body), id) WHERE status = 'queued'")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_outbox_messages_queued_text")
