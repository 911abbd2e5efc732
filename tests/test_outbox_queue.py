"""queue_sms: the row rides the caller's transaction; rq hears of it only after commit."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from hotline.extensions import db
from hotline.models import OutboxMessage
from hotline.services.outbox import OutboxError, queue_sms

PHONE = "+249912345678"


def _queued(app, name: str) -> list[int]:
    return [i for ids in _jobs(app, name) for i in ids]


def _jobs(app, name: str) -> list[list[int]]:
    """The ids each job on queue ``name`` carries (jobs are JSON: ids only)."""
    queue = Queue(name, connection=app.extensions["hotline.redis"], serializer=JSONSerializer)
    return [job.args[0] for job in queue.get_jobs()]


def _queue(key: str = "k1", **extra):
    args = {"to": PHONE, "body": "Your request ABC is received.", "language": "en",
            "priority": "reply", "kind": "confirmation", "idempotency_key": key, **extra}
    return queue_sms(db.session, **args)


def test_the_row_is_enqueued_only_after_the_callers_commit(app):
    row = _queue()
    assert row.id is not None and row.status == "queued"
    assert _queued(app, "replies") == []  # not yet: the cause is not committed
    db.session.commit()
    assert _queued(app, "replies") == [row.id]
    assert (row.encoding, row.parts) == ("GSM-7", 1)


def test_a_rolled_back_cause_sends_nothing(app):
    _queue()
    db.session.rollback()
    db.session.commit()
    assert db.session.query(OutboxMessage).count() == 0
    assert _queued(app, "replies") == []


def test_a_repeated_key_returns_the_first_row_and_adds_nothing(app):
    first = _queue("same")
    db.session.commit()
    again = _queue("same", body="another text")
    db.session.commit()
    assert again.id == first.id and again.body == first.body
    assert db.session.query(OutboxMessage).count() == 1
    assert _queued(app, "replies") == [first.id]


def test_one_commit_is_one_job_per_priority(app):
    for i in range(3):
        _queue(f"r{i}", to=f"+24991234567{i}")
    _queue("b", priority="bulk")
    db.session.commit()
    assert _jobs(app, "replies") == [[1, 2, 3]]
    assert _queued(app, "bulk") == [4]


def test_bulk_goes_to_the_bulk_queue_and_arabic_counts_ucs2_parts(app):
    row = _queue("b1", priority="bulk", body="تنبيه: " + "ا" * 100, language="ar")
    db.session.commit()
    assert _queued(app, "bulk") == [row.id] and _queued(app, "replies") == []
    assert (row.encoding, row.parts) == ("UCS-2", 2)


@pytest.mark.parametrize("bad", [
    {"to": "0912345678"}, {"to": "+249 912"}, {"to": ""}, {"body": ""}, {"body": "   "},
    {"body": "x" * 1601}, {"priority": "urgent"}, {"idempotency_key": ""},
    {"idempotency_key": "k" * 121}, {"kind": ""},
])
def test_bad_arguments_are_refused_before_anything_is_written(app, bad):
    with pytest.raises(OutboxError):
        _queue(**bad)
    db.session.commit()
    assert db.session.query(OutboxMessage).count() == 0


def test_redis_down_at_enqueue_loses_nothing_the_row_waits_for_the_sweeper(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    with app.app_context():
        row = _queue("down")
        db.session.commit()  # the enqueue fails after the commit; the commit stands
        assert db.session.get(OutboxMessage, row.id).status == "queued"
        db.session.remove()


def test_a_text_already_waiting_for_a_job_gets_no_second_job(app, make_app):
    """A burst of one text (a broadcast, a common reply) is one job, not one per commit."""
    from tests.fakeat import FakeAT
    from tests.outboxkit import at_settings, statuses

    for i in range(3):  # three commits, one text
        _queue(f"s{i}", to=f"+24991234567{i}")
        db.session.commit()
    _queue("other", body="Another text.")
    db.session.commit()
    assert _jobs(app, "replies") == [[1], [4]]
    with FakeAT() as fake:
        sender = make_app(**at_settings(fake))
        with sender.app_context():
            from hotline.services import outbox

            assert outbox.send([1]) == "3 sent"  # the job takes the rows of every commit
            assert [len(r.recipients) for r in fake.requests] == [3]
            db.session.remove()
    _queue("s9", to="+249912345679")  # the job cleared the mark: a new commit, a new job
    db.session.commit()
    assert _queued(app, "replies")[-1] == 5
    assert statuses() == ["sent", "sent", "sent", "queued", "queued"]
