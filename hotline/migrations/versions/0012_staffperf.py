"""Staff pages at scale: the urgent banner's index, and the statistics' per-day summary.

- ``ix_callback_requests_urgent`` (status, priority, created_at, id): the banner on every
  staff page looks for the oldest open urgent request nobody holds. Without it PostgreSQL
  walked ``created_at`` from the oldest closed request (20-30 ms on every page at 110,000
  requests, growing with history).
- ``callback_requests.first_wait``: seconds from the request to its first call, kept by a
  trigger (the very expression the statistics' median uses), and an index on it that
  carries the filter columns, so the exact median is found by reading one narrow slice.
- ``stats_days``, ``stats_agent_days``: what the statistics page counts, per local day that
  is over (and per reason, language and channel, "*" for any), for closed requests and
  for staff attempts and closings; ``stats_months``, ``stats_agent_months``: the same
  summed per calendar month, so years of history are a few dozen rows per figure. ``stats_dirty`` lists the days whose rows changed
  after they were counted (triggers write it in the writer's own transaction, so a change
  is either counted or listed, never lost); ``stats_state`` says which days are counted,
  in which time zone and layout. ``hotline.services.statsdays`` fills them.

PostgreSQL only: SQLite (development) computes the statistics live and has none of this.

Revision ID: 0012_staffperf
Revises: 0011_alerts
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_staffperf"
down_revision = "0011_alerts"
branch_labels = None
depends_on = None

# Seconds from request to first call: the statistics' median reads this expression.
FIRST_WAIT = """
CREATE OR REPLACE FUNCTION callback_requests_first_wait() RETURNS trigger AS $$
BEGIN
  NEW.first_wait := date_part('epoch', NEW.first_attempt_at - NEW.created_at);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql
"""

# A changed row of a day that may already be counted lists that day (by the row's time)
# in stats_dirty. Rows newer than half an hour are left out: their day is counted only an
# hour after it ends (see statsdays.SETTLE), when such a transaction is long committed.
MARK_REQUEST = """
CREATE OR REPLACE FUNCTION stats_mark_request() RETURNS trigger AS $$
DECLARE
  recent timestamptz := now() - interval '30 minutes';
BEGIN
  IF TG_OP = 'UPDATE' AND (OLD.status, OLD.reason, OLD.language, OLD.channel, OLD.created_at,
      OLD.first_attempt_at, OLD.deadline_at, OLD.attempts, OLD.outcome, OLD.referral)
      IS NOT DISTINCT FROM (NEW.status, NEW.reason, NEW.language, NEW.channel, NEW.created_at,
      NEW.first_attempt_at, NEW.deadline_at, NEW.attempts, NEW.outcome, NEW.referral) THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status <> 'open' AND OLD.created_at < recent THEN
    INSERT INTO stats_dirty (at, what) VALUES (OLD.created_at, 'r');
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status <> 'open' AND NEW.created_at < recent
      AND (TG_OP = 'INSERT' OR OLD.status = 'open' OR OLD.created_at <> NEW.created_at) THEN
    INSERT INTO stats_dirty (at, what) VALUES (NEW.created_at, 'r');
  END IF;
  IF TG_OP = 'UPDATE' AND (OLD.reason, OLD.language, OLD.channel)
      IS DISTINCT FROM (NEW.reason, NEW.language, NEW.channel) THEN
    INSERT INTO stats_dirty (at, what)
      SELECT e.at, 'e' FROM callback_events e
      WHERE e.request_id = NEW.id AND e.kind IN ('attempt', 'resolved') AND e.at < recent;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

MARK_EVENT = """
CREATE OR REPLACE FUNCTION stats_mark_event() RETURNS trigger AS $$
DECLARE
  recent timestamptz := now() - interval '30 minutes';
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.kind IN ('attempt', 'resolved')
      AND OLD.at < recent THEN
    INSERT INTO stats_dirty (at, what) VALUES (OLD.at, 'e');
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.kind IN ('attempt', 'resolved')
      AND NEW.at < recent THEN
    INSERT INTO stats_dirty (at, what) VALUES (NEW.at, 'e');
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

# TRUNCATE fires no row trigger: forget every count instead.
FORGET = """
CREATE OR REPLACE FUNCTION stats_forget() RETURNS trigger AS $$
BEGIN
  DELETE FROM stats_days;
  DELETE FROM stats_agent_days;
  DELETE FROM stats_months;
  DELETE FROM stats_agent_months;
  DELETE FROM stats_dirty;
  DELETE FROM stats_state;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def upgrade():
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_wait", sa.Float(), nullable=True))
        batch_op.create_index("ix_callback_requests_urgent",
                              ["status", "priority", "created_at", "id"], unique=False)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("UPDATE callback_requests "
               "SET first_wait = date_part('epoch', first_attempt_at - created_at) "
               "WHERE first_attempt_at IS NOT NULL")
    op.create_index("ix_callback_requests_first_wait", "callback_requests", ["first_wait"],
                    postgresql_include=["created_at", "reason", "language", "channel"])
    op.create_table(
        "stats_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("layout", sa.String(64), nullable=False),
        sa.Column("covered_from", sa.Date(), nullable=True),
        sa.Column("covered_until", sa.Date(), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_state")))
    for name in ("stats_days", "stats_months"):
        op.create_table(
            name,
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("reason", sa.String(20), nullable=False),
            sa.Column("language", sa.String(8), nullable=False),
            sa.Column("channel", sa.String(20), nullable=False),
            sa.Column("measure", sa.String(12), nullable=False),
            sa.Column("code", sa.String(30), nullable=False),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("reason", "language", "channel", "day", "measure", "code",
                                    name=op.f(f"pk_{name}")))
    op.create_index("ix_stats_days_per_day", "stats_days", ["measure", "language", "day"])
    for name in ("stats_agent_days", "stats_agent_months"):
        op.create_table(
            name,
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("staff_id", sa.Integer(), nullable=False),
            sa.Column("reason", sa.String(20), nullable=False),
            sa.Column("language", sa.String(8), nullable=False),
            sa.Column("channel", sa.String(20), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("resolved", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("reason", "language", "channel", "day", "staff_id",
                                    name=op.f(f"pk_{name}")))
    op.create_table(
        "stats_dirty",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("what", sa.String(1), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_dirty")))
    op.execute(FIRST_WAIT)
    op.execute("CREATE TRIGGER callback_requests_first_wait BEFORE INSERT OR UPDATE OF "
               "first_attempt_at, created_at, first_wait ON callback_requests "
               "FOR EACH ROW EXECUTE FUNCTION callback_requests_first_wait()")
    op.execute(MARK_REQUEST)
    op.execute("CREATE TRIGGER stats_mark_request AFTER INSERT OR DELETE OR UPDATE "
               "ON callback_requests FOR EACH ROW EXECUTE FUNCTION stats_mark_request()")
    op.execute(MARK_EVENT)
    op.execute("CREATE TRIGGER stats_mark_event AFTER INSERT OR DELETE OR UPDATE OF "
               "kind, at, request_id, staff_id ON callback_events "
               "FOR EACH ROW EXECUTE FUNCTION stats_mark_event()")
    op.execute(FORGET)
    for table in ("callback_requests", "callback_events"):
        op.execute(f"CREATE TRIGGER stats_forget AFTER TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION stats_forget()")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in ("callback_requests", "callback_events"):
            op.execute(f"DROP TRIGGER IF EXISTS stats_forget ON {table}")
        op.execute("DROP TRIGGER IF EXISTS stats_mark_event ON callback_events")
        op.execute("DROP TRIGGER IF EXISTS stats_mark_request ON callback_requests")
        op.execute("DROP TRIGGER IF EXISTS callback_requests_first_wait ON callback_requests")
        for function in ("stats_forget", "stats_mark_event", "stats_mark_request",
                         "callback_requests_first_wait"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
        op.drop_table("stats_dirty")
        for name in ("stats_agent_months", "stats_agent_days", "stats_months", "stats_days"):
            op.drop_table(name)
        op.drop_table("stats_state")
        op.drop_index("ix_callback_requests_first_wait", table_name="callback_requests")
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_requests_urgent")
        batch_op.drop_column("first_wait")
