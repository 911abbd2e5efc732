"""Sending: batches, suppression, retries, permanent failures, the ambiguous timeout."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask

from hotline.extensions import db
from hotline.models import Contact, OutboxMessage, utcnow
from hotline.services import outbox, ratelimit
from tests.outboxkit import at_settings, queue, rows, statuses


@pytest.fixture()
def sender(make_app, fake, app) -> Iterator[Flask]:
    """An app whose gateway is Africa's Talking at the fake; ``app`` cleaned the tables."""
    made = make_app(**at_settings(fake))
    with made.app_context():
        yield made
        db.session.remove()


def _contact(phone: str, **marks) -> None:
    db.session.add(Contact(phone=phone, **marks))
    db.session.commit()


def test_identical_messages_go_in_one_request_each_keeping_its_row(sender, fake):
    ids = queue(3)
    assert outbox.send(ids[0]) == "3 sent"
    assert [outbox.send(i) for i in ids[1:]] == ["1 taken", "1 taken"]
    [request] = fake.requests
    assert sorted(request.recipients) == sorted(r.recipient for r in rows(sender))
    sent = rows(sender)
    assert [r.status for r in sent] == ["sent"] * 3 and [r.attempts for r in sent] == [1] * 3
    assert len({r.provider_message_id for r in sent}) == 3
    assert all(r.sent_at is not None for r in sent)


def test_different_bodies_are_different_requests(sender, fake):
    a = queue(1, body="one")
    b = queue(1, body="two", first=5)
    outbox.send(a[0]), outbox.send(b[0])
    assert len(fake.requests) == 2 and statuses(sender) == ["sent", "sent"]


def test_an_exited_contact_gets_nothing_an_opted_out_one_gets_replies_not_bulk(sender, fake):
    now = utcnow()
    _contact("+249900000000", exited_at=now)
    _contact("+249900000001", opted_out_at=now)
    _contact("+249900000002", unreachable_at=now)
    replies = queue(3, body="reply")
    bulk = queue(3, body="alert", priority="bulk", prefix="b")
    outbox.send(replies[0]), outbox.send(bulk[0])
    by = {(r.priority, r.recipient): (r.status, r.error) for r in rows(sender)}
    assert by[("reply", "+249900000000")] == ("suppressed", "silent exit")
    assert by[("reply", "+249900000001")][0] == "sent"
    assert by[("reply", "+249900000002")][0] == "sent"
    assert by[("bulk", "+249900000000")] == ("suppressed", "silent exit")
    assert by[("bulk", "+249900000001")] == ("suppressed", "opted out of bulk")
    assert by[("bulk", "+249900000002")] == ("suppressed", "unreachable")
    assert sum(fake.accepted.values()) == 2


def test_an_expired_message_is_never_sent(sender, fake):
    [i] = queue(1, expires_at=utcnow() - timedelta(seconds=1))
    outbox.send(i)
    assert statuses(sender) == ["expired"] and fake.requests == []


def test_a_message_not_yet_due_waits(sender, fake):
    [i] = queue(1, not_before=utcnow() + timedelta(hours=1))
    assert outbox.send(i) == "1 not due"
    assert statuses(sender) == ["queued"] and fake.requests == []


def test_transient_codes_are_retried_with_backoff_then_given_up(sender, fake):
    [i] = queue(1)
    fake.codes = {rows(sender)[0].recipient: 500}
    outbox.send(i)
    [row] = rows(sender)
    assert (row.status, row.attempts, row.provider_status) == ("queued", 1, "500")
    assert row.next_attempt_at > utcnow()
    assert outbox.send(i) == "1 not due"  # the backoff holds
    for _ in range(4):
        db.session.execute(db.update(OutboxMessage).values(next_attempt_at=None))
        db.session.commit()
        outbox.send(i)
    [row] = rows(sender)
    assert (row.status, row.attempts) == ("failed", 5) and "gave up" in row.error
    assert len(fake.requests) == 5


def test_a_retry_that_succeeds_ends_sent_once(sender, fake):
    [i] = queue(1)
    fake.mode = "http500"
    outbox.send(i)
    fake.mode = "ok"
    db.session.execute(db.update(OutboxMessage).values(next_attempt_at=None))
    db.session.commit()
    outbox.send(i)
    [row] = rows(sender)
    assert (row.status, row.attempts) == ("sent", 2) and sum(fake.accepted.values()) == 1


def test_permanent_codes_fail_at_once_and_406_opts_the_contact_out(sender, fake):
    ids = queue(2)
    a, b = (r.recipient for r in rows(sender))
    _contact(b)
    fake.codes = {a: 403, b: 406}
    outbox.send(ids[0])
    assert [(r.status, r.attempts) for r in rows(sender)] == [("failed", 1), ("failed", 1)]
    assert db.session.query(Contact).filter_by(phone=b).one().opted_out_at is not None


def test_an_invalid_sender_id_fails_the_whole_batch_without_retry(sender, fake):
    ids = queue(2)
    fake.mode = "invalid_sender"
    outbox.send(ids[0])
    assert [(r.status, r.provider_status) for r in rows(sender)] == \
        [("failed", "InvalidSenderId")] * 2


@pytest.mark.parametrize("priority,status", [("reply", "queued"), ("bulk", "failed")])
def test_a_read_timeout_resends_replies_but_never_bulk(sender, fake, priority, status):
    """Replies at least once, bulk at most once: see README "Outbox"."""
    [i] = queue(1, priority=priority)
    fake.mode, fake.slow_seconds = "slow", 3.0
    outbox.send(i)
    [row] = rows(sender)
    assert (row.status, row.provider_status) == (status, "read-timeout")
    if priority == "bulk":
        assert "not retried" in row.error
        return
    fake.mode = "ok"
    db.session.execute(db.update(OutboxMessage).values(next_attempt_at=None))
    db.session.commit()
    outbox.send(i)
    assert statuses(sender) == ["sent"]
    assert fake.accepted[row.recipient] == 2  # the documented cost of at-least-once


def test_the_rate_limit_is_one_timeline_for_everyone(app):
    app.extensions["hotline.redis"].delete(ratelimit.KEY)
    first = ratelimit.reserve(10, 10)
    second = ratelimit.reserve(5, 10)
    third = ratelimit.reserve(5, 10)
    assert first == 0
    assert 0.9 < second <= 1.0 and 1.4 < third <= 1.5
    assert ratelimit.reserve(100, 0) == 0  # 0 turns it off


def test_bulk_batches_stay_within_a_second_of_the_rate(make_app, fake, app):
    made = make_app(**at_settings(fake, rate_parts_per_second=4))
    with made.app_context():
        ids = queue(6, priority="bulk")
        outbox.send(ids[0])
        assert [len(r.recipients) for r in fake.requests] == [4, 2]
        db.session.remove()


def test_the_same_text_twice_to_one_number_goes_in_two_requests(sender, fake):
    from hotline.services.outbox import queue_sms

    for key in ("first", "second"):
        queue_sms(db.session, to="+249900000009", body="same", language="en",
                  priority="reply", kind="test", idempotency_key=key)
    db.session.commit()
    outbox.send([1, 2])
    assert [r.recipients for r in fake.requests] == [["+249900000009"], ["+249900000009"]]
    assert statuses(sender) == ["sent", "sent"]


def test_a_long_job_hands_its_remaining_ids_to_a_fresh_job(sender, fake, monkeypatch):
    from rq import Queue
    from rq.serializers import JSONSerializer

    ids = [*queue(1, body="one"), *queue(1, body="two", first=5)]
    Queue("replies", connection=sender.extensions["hotline.redis"],
          serializer=JSONSerializer).empty()
    monkeypatch.setattr(outbox, "JOB_SECONDS", -1.0)  # out of time at once
    assert outbox.send(ids) == "2 handed on"
    assert fake.requests == [] and statuses(sender) == ["queued", "queued"]
    [job] = Queue("replies", connection=sender.extensions["hotline.redis"],
                  serializer=JSONSerializer).get_jobs()
    assert job.args[0] == ids
