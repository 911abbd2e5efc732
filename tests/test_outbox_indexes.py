"""What the outbox's indexes cost a send, and that every query still finds an index.

A claim (queued -> sending) changes no indexed column, so PostgreSQL rewrites the row
in place (a HOT update, with room on each page from the fillfactor) instead of adding
a new entry to every index; columns mostly empty are indexed only where set. Each of
those choices must leave the sweeper, the staff page, delivery reports, retention and
the alerts reading through an index: the plans below are asked for with sequential
scans disabled, so a query that cannot use an index shows a Seq Scan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, text

from hotline.extensions import db
from hotline.models import OutboxMessage, utcnow
from hotline.services import broadcasts, delivery, outbox, outbox_log
from tests.outboxkit import at_settings, queue


@pytest.fixture()
def sender(make_app, fake, app) -> Iterator[Flask]:
    made = make_app(**at_settings(fake, batch_size=100))
    with made.app_context():
        yield made
        db.session.remove()


def claim_in_one_transaction(body: str, size: int) -> tuple[int, int]:
    """Run the claim (not committed) and read this transaction's own counters: rows
    claimed, and how many of those updates were HOT."""
    with db.engine.connect() as conn:
        claimed = conn.execute(outbox.CLAIM[True], {
            "now": utcnow(), "body": body, "priority": "reply", "size": size,
            "written": "[]", "ids": []}).all()
        hot = conn.scalar(text("SELECT pg_stat_get_xact_tuples_hot_updated("
                               "'outbox_messages'::regclass)"))
        conn.rollback()
    return len(claimed), hot


def test_a_claim_rewrites_each_row_in_place_not_in_every_index(sender):
    # Four texts queued in turn, so each text's rows share their pages with the others',
    # as replies of many kinds do; the pages are as full as the fillfactor lets them be.
    bodies = [f"Reply {k}: your request is received." for k in range(4)]
    for i in range(200):
        queue(1, body=bodies[i % 4], first=i)
    assert claim_in_one_transaction(bodies[0], 50) == (50, 50)


def test_a_sent_row_is_no_longer_pending(sender, fake):
    ids = queue(30)
    outbox.send(ids[0])
    with db.engine.connect() as conn:
        pending = conn.scalar(text("SELECT count(*) FROM outbox_messages "
                                   "WHERE stage = 'pending'"))
    assert pending == 0 and len(fake.requests) == 1


class Captured:
    """The statements (and their parameters) some code runs against the outbox."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any,
                 context: Any, executemany: bool) -> None:
        if "outbox_messages" in statement and not executemany:
            self.seen.append((statement, parameters))

    def run(self, code: Callable[[], Any]) -> list[tuple[str, Any]]:
        event.listen(db.engine, "before_cursor_execute", self)
        try:
            code()
        finally:
            event.remove(db.engine, "before_cursor_execute", self)
        return self.seen


def plans(statements: list[tuple[str, Any]]) -> list[str]:
    """Each statement's plan with sequential scans disabled (nothing is executed)."""
    found = []
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
            found.append("\n".join(row[0] for row in rows))
        conn.rollback()
    return found


# Both hold the pending rows (queued and sending) and nothing else of them; which one the
# planner takes for a handful of rows depends on its statistics, not on the query.
PENDING = ("ix_outbox_messages_stage", "ix_outbox_messages_pending_text")


def assert_indexed(code: Callable[[], Any], *indexes: str | tuple[str, ...]) -> None:
    """No sequential scan of the outbox, and each of ``indexes`` (or one of a tuple) used."""
    statements = Captured().run(code)
    assert statements, "nothing ran against the outbox"
    found = plans(statements)
    for plan in found:
        assert "Seq Scan on outbox_messages" not in plan, plan
    every = "\n".join(found)
    for index in indexes:
        assert any(name in every for name in ((index,) if isinstance(index, str) else index)), \
            every


def test_the_sweeper_reads_pending_rows_through_the_stage_index(sender):
    queue(3)
    assert_indexed(lambda: outbox.sweep(utcnow() + timedelta(hours=1)), PENDING)


@pytest.mark.parametrize("status", ["failed", "sending", "queued", "sent"])
def test_the_staff_page_filters_a_status_through_the_stage_index(sender, status):
    queue(3)
    assert_indexed(lambda: outbox_log.recent(status),
                   PENDING if status in ("sending", "queued") else "ix_outbox_messages_stage")


def test_a_delivery_report_finds_its_message_through_the_provider_index(sender, fake):
    ids = queue(1)
    outbox.send(ids[0])
    sent = db.session.get(OutboxMessage, ids[0])
    assert sent is not None and sent.provider_message_id
    report = delivery.DeliveryReport(message_id=sent.provider_message_id, status="Success")
    assert_indexed(lambda: delivery.record_report(report),
                   "ix_outbox_messages_provider_message_id")


def test_the_sparse_columns_are_read_through_their_partial_indexes(sender):
    queue(2)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for column in ("contact_id", "callback_request_id", "broadcast_id"):
            for where in (f"{column} = 7", f"{column} IN (7, 8)",
                          f"{column} > 3 AND {column} <= 9"):
                plan = "\n".join(r[0] for r in conn.exec_driver_sql(
                    f"EXPLAIN SELECT id FROM outbox_messages WHERE {where}").all())
                assert f"ix_outbox_messages_{column}" in plan, plan
        conn.rollback()
    # and the code's own queries by broadcast, as the alerts' progress reads it
    assert_indexed(lambda: broadcasts.counts(1), "ix_outbox_messages_broadcast_id")


def test_the_sparse_columns_are_indexed_only_where_set(sender):
    with db.engine.connect() as conn:
        found = dict(conn.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'outbox_messages'"
        )).all())
    for column in ("contact_id", "callback_request_id", "broadcast_id",
                   "provider_message_id"):
        assert f"WHERE ({column} IS NOT NULL)" in found[f"ix_outbox_messages_{column}"]
    assert "UNIQUE" in found["ix_outbox_messages_provider_message_id"]
