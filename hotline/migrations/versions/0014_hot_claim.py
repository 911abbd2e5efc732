"""A worker's claim of a row rewrites it in place; the outcome is the row's only index write.

A send job writes each row twice: the claim (queued -> sending, committed before the
gateway sees it) and the outcome (sent, failed, queued again). Both changed indexed
columns (status, updated_at), so PostgreSQL added each version of the row to every
index of the table: nine of them, for every claim and every outcome. That was most of
the database's work per message (issue 10's benchmark).

Now the indexes see ``stage``, a generated column that is ``pending`` for queued and
sending rows and the status otherwise, so a claim changes no indexed column and is a
HOT update (the new version on the same page, no index entry); the fillfactor leaves
room on each page for it. The status and updated_at index goes (the sweeper and the
staff page read by stage); the claim index holds pending rows; the columns a reply
mostly leaves empty (broadcast, callback request, contact, provider id until sent) are
indexed only where set, so writing a row without them costs those indexes nothing.

SQLite (the embedded development default) gets the column (virtual: SQLite cannot add
a stored one) and the stage index; its unique constraint on the provider id stays.

Revision ID: 0014_hot_claim
Revises: 0013_send
Create Date: 2026-11-30
"""

from alembic import op

revision = "0014_hot_claim"
down_revision = "0013_send"
branch_labels = None
depends_on = None

STAGE = "CASE WHEN status IN ('queued', 'sending') THEN 'pending' ELSE status END"
SPARSE = ("contact_id", "callback_request_id", "broadcast_id")
FILLFACTOR = 70  # room on each page for the claimed version of its rows


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP INDEX IF EXISTS ix_outbox_messages_status_updated")
    for column in SPARSE:
        op.execute(f"DROP INDEX IF EXISTS ix_outbox_messages_{column}")
        op.execute(f"CREATE INDEX ix_outbox_messages_{column} ON outbox_messages ({column}) "
                   f"WHERE {column} IS NOT NULL")
    if postgresql:
        op.execute("DROP INDEX IF EXISTS ix_outbox_messages_queued_text")
        op.execute(f"ALTER TABLE outbox_messages SET (fillfactor = {FILLFACTOR})")
        # a stored column: the table is rewritten once, with the new fillfactor
        op.execute(f"ALTER TABLE outbox_messages ADD COLUMN stage VARCHAR(12) "
                   f"GENERATED ALWAYS AS ({STAGE}) STORED NOT NULL")
        op.execute("ALTER TABLE outbox_messages "
                   "DROP CONSTRAINT uq_outbox_messages_provider_message_id")
        op.execute("CREATE UNIQUE INDEX ix_outbox_messages_provider_message_id "
                   "ON outbox_messages (provider_message_id) "
                   "WHERE provider_message_id IS NOT NULL")
        op.execute("CREATE INDEX ix_outbox_messages_pending_text ON outbox_messages "
                   "(priority, md5(body), id) WHERE stage = 'pending'")
    else:
        op.execute(f"ALTER TABLE outbox_messages ADD COLUMN stage VARCHAR(12) "
                   f"GENERATED ALWAYS AS ({STAGE}) VIRTUAL NOT NULL")
    op.execute("CREATE INDEX ix_outbox_messages_stage ON outbox_messages (stage, id)")


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP INDEX IF EXISTS ix_outbox_messages_stage")
    if postgresql:
        op.execute("DROP INDEX IF EXISTS ix_outbox_messages_pending_text")
        op.execute("DROP INDEX IF EXISTS ix_outbox_messages_provider_message_id")
        op.execute("ALTER TABLE outbox_messages ADD CONSTRAINT "
                   "uq_outbox_messages_provider_message_id UNIQUE (provider_message_id)")
    op.execute("ALTER TABLE outbox_messages DROP COLUMN stage")
    if postgresql:
        op.execute("ALTER TABLE outbox_messages RESET (fillfactor)")
        op.execute("CREATE INDEX ix_outbox_messages_queued_text ON outbox_messages "
                   "(priority, md5(body), id) WHERE status = 'queued'")
    for column in SPARSE:
        op.execute(f"DROP INDEX IF EXISTS ix_outbox_messages_{column}")
        op.execute(f"CREATE INDEX ix_outbox_messages_{column} ON outbox_messages ({column})")
    op.execute("CREATE INDEX ix_outbox_messages_status_updated ON outbox_messages "
               "(status, updated_at)")
