"""A batch is one gateway request and one SQL statement, whatever its size.

Identical texts go in one request, each recipient keeping its own row, status and
provider id; the outcomes of a batch are written with the claim of the next one,
set-based, so the statements per batch stay one however many recipients it has.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from hotline.extensions import db
from hotline.models import Contact, OutboxMessage, utcnow
from hotline.services import outbox
from tests.outboxkit import at_settings, queue, rows, statuses


@pytest.fixture()
def sender(make_app, fake, app) -> Iterator[Flask]:
    made = make_app(**at_settings(fake, batch_size=100))
    with made.app_context():
        yield made
        db.session.remove()


class Statements:
    """Statements the database runs; an executemany counts once per row it carries."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any,
                 context: Any, executemany: bool) -> None:
        self.seen += [statement.split()[0]] * (len(parameters) if executemany else 1)

    def __enter__(self) -> Statements:
        event.listen(db.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(db.engine, "before_cursor_execute", self)


def test_a_batch_is_one_request_and_one_statement_each_recipient_its_own_row(sender, fake):
    ids = queue(250)
    with Statements() as counted:
        assert outbox.send(ids[0]) == "250 sent"
    assert [len(r.recipients) for r in fake.requests] == [100, 100, 50]
    sent = rows(sender)
    assert [r.status for r in sent] == ["sent"] * 250
    assert len({r.provider_message_id for r in sent}) == 250 and all(r.sent_at for r in sent)
    assert sorted(n for r in fake.requests for n in r.recipients) == \
        sorted(r.recipient for r in sent)
    # The ids read, one claim per batch (each writing the batch before), and one claim of
    # nothing that writes the last batch's outcomes: row by row would be hundreds.
    assert len(counted.seen) == 1 + 3 + 1, counted.seen


def test_each_recipient_keeps_its_own_outcome_within_one_request(sender, fake):
    ids = queue(4)
    a, b, c, d = (r.recipient for r in rows(sender))
    db.session.add(Contact(phone=d, exited_at=utcnow()))
    db.session.commit()
    fake.codes = {b: 500, c: 403}
    outbox.send(ids[0])
    [request] = fake.requests
    assert sorted(request.recipients) == [a, b, c]  # the exited contact is not in it
    by = {r.recipient: r for r in rows(sender)}
    assert (by[a].status, by[a].provider_status) == ("sent", "101")
    assert (by[b].status, by[b].provider_status, by[b].attempts) == ("queued", "500", 1)
    assert by[b].next_attempt_at is not None and by[b].provider_message_id is None
    assert (by[c].status, by[c].provider_status) == ("failed", "403")
    assert (by[d].status, by[d].error) == ("suppressed", "silent exit")


def test_a_job_out_of_time_writes_what_it_sent_before_handing_on(sender, fake, monkeypatch):
    from rq import Queue
    from rq.serializers import JSONSerializer

    ids = queue(150)
    replies = Queue("replies", connection=sender.extensions["hotline.redis"],
                    serializer=JSONSerializer)
    replies.empty()
    real = outbox.gateway()

    class OneBatchThenLate:
        name = real.name

        def send(self, recipients: list[str], body: str) -> Any:
            monkeypatch.setattr(outbox, "JOB_SECONDS", -1.0)  # late from now on
            return real.send(recipients, body)

    sender.extensions["hotline.gateway"] = OneBatchThenLate()
    assert outbox.send(ids[0]) == "1 handed on, 100 sent"
    assert statuses(sender).count("sent") == 100  # written although no batch followed
    assert statuses(sender).count("queued") == 50
    [job] = replies.get_jobs()
    assert job.args[0] == [ids[100]]


def test_the_embedded_development_default_sends_the_same_way(tmp_path, caplog):
    """SQLite and no Redis (``make run``): no md5, no row locks, jobs inline; same outcomes."""
    from flask_migrate import upgrade

    from hotline.app import create_app
    from hotline.services.outbox import queue_sms
    from tests.conftest import overrides

    made = create_app(overrides(DATABASE_URL=f"sqlite:///{tmp_path / 'dev.sqlite3'}",
                                REDIS_URL=""))
    with made.app_context():
        upgrade()
        db.session.add(Contact(phone="+249900000002", exited_at=utcnow()))
        db.session.commit()
        for i, to in enumerate(["+249900000001", "+249900000001", "+249900000002",
                                "+249900000003"]):
            queue_sms(db.session, to=to, body="Your request is received.", language="en",
                      priority="reply", kind="test", idempotency_key=f"dev-{i}")
        db.session.commit()  # the send job runs inline, after this commit
        found = [(r.recipient, r.status, r.attempts, r.error) for r in
                 db.session.query(OutboxMessage).order_by(OutboxMessage.id)]
        assert found == [("+249900000001", "sent", 1, ""), ("+249900000001", "sent", 1, ""),
                         ("+249900000002", "suppressed", 0, "silent exit"),
                         ("+249900000003", "sent", 1, "")]
        ids = [r.provider_message_id for r in db.session.query(OutboxMessage)
               .filter_by(status="sent")]
        assert len(set(ids)) == 3 and all(i.startswith("console-") for i in ids)
        db.session.remove()
        db.engine.dispose()
