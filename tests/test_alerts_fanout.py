"""The fan-out: one alert becomes outbox rows, once per person, only for whom we may write
to, never at night unless urgent, never after its expiry; resumable and stoppable."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import AuditLog, Broadcast, OutboxMessage
from hotline.services import broadcasts, caller_requests, leaders
from tests.alertkit import leader, quick_pins, subscriber

KRT = ZoneInfo("Africa/Khartoum")
NOON = datetime(2026, 11, 29, 12, 0, tzinfo=KRT)
NIGHT = datetime(2026, 11, 29, 22, 30, tzinfo=KRT)


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_pins(monkeypatch)


@pytest.fixture()
def at(monkeypatch):
    """Stand the alert clock at a moment (the fan-out and the leader checks read it)."""

    def set_time(moment: datetime) -> None:
        monkeypatch.setattr(leaders, "now_utc", lambda: moment.astimezone(UTC))

    set_time(NOON)
    return set_time


def alert(template: str = "free_trips", areas: str = "KH-OMD", *, fields=None,
          expires_in: timedelta = timedelta(hours=24), urgent: bool | None = None,
          leader_id: int | None = None, status: str = "queued") -> int:
    made = app_templates()[template]
    now = leaders.now_utc()
    row = Broadcast(key=f"test:{secrets.token_hex(8)}",
                    leader_id=leader_id, template=template,
                    fields=json.dumps(fields or {}), areas=areas, topic=made.topic,
                    urgent=made.urgent if urgent is None else urgent, status=status,
                    created_at=now, expires_at=now + expires_in)
    db.session.add(row)
    db.session.commit()
    return row.id


def app_templates():
    from flask import current_app

    return current_app.extensions["hotline.alert_templates"]


def outbox_rows(broadcast_id: int) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.broadcast_id == broadcast_id).order_by(OutboxMessage.id)))


def test_each_person_once_in_their_language_and_suppressed_ones_counted(app, at):
    both = subscriber("+249911000001", "KH-OMD", lang="en")
    subscriber("+249911000001", "SD-KH", lang="en")  # in two target areas: one message
    arabic = subscriber("+249911000002", "KH-OMD", lang="ar")
    unknown = subscriber("+249911000003", "KH-OMD", lang=None)  # never chose: default (ar)
    subscriber("+249911000004", "KH-OMD", opted_out_at=NOON)
    subscriber("+249911000005", "KH-OMD", exited_at=NOON)
    subscriber("+249911000006", "KH-OMD", unreachable_at=NOON)
    subscriber("+249911000007", "KH-OMD", topics=("tips",))  # another topic: not included
    subscriber("+249911000008", "SD-GD")  # another area: not included
    caller_requests.submit("+249911000009", reason="danger", safe_to_call="yes", language="en")
    subscriber("+249911000009", "KH-OMD")  # a danger request is open: nothing bulk
    capped = subscriber("+249911000010", "KH-OMD")
    for n in range(2):  # already had two alerts today
        earlier = alert(areas="SD-GD", leader_id=None, status="done", expires_in=timedelta(
            hours=n + 1))
        db.session.add(OutboxMessage(
            idempotency_key=f"bc{earlier}:{capped}", kind="alert", recipient="+249911000010",
            body="x", language="en", encoding="GSM-7", parts=1, priority="bulk", status="sent",
            contact_id=capped, broadcast_id=earlier, created_at=leaders.now_utc()))
    db.session.commit()
    bid = alert()
    assert broadcasts.fan_out(bid, chunk=2).startswith(f"broadcast {bid}: fanned out, 8 rows")
    rows = {r.contact_id: r for r in outbox_rows(bid)}
    assert len(rows) == 8
    assert {c for c, r in rows.items() if r.status == "queued"} == {both, arabic, unknown}
    assert rows[both].body.startswith("WARNING: people in Omdurman")
    assert rows[both].body.endswith("MRRC never asks for money.")
    assert rows[arabic].language == "ar" and "أم درمان" in rows[arabic].body
    assert rows[unknown].language == "ar"
    found = broadcasts.counts(bid)
    assert found == {"queued": 3, "suppressed": 5, "suppressed:opted_out": 1,
                     "suppressed:exited": 1, "suppressed:unreachable": 1,
                     "suppressed:danger": 1, "suppressed:daily_cap": 1}
    assert all(r.priority == "bulk" and r.not_before is None for r in rows.values())
    assert broadcasts.fan_out(bid) == f"broadcast {bid}: sending, 0 rows written"  # done once


def test_quiet_hours_hold_non_urgent_alerts_until_seven(app, at):
    subscriber("+249911000001", "KH-OMD")
    at(NIGHT)
    calm, urgent = alert("free_trips"), alert("closure", fields={"place": "Souq", "day": "today"})
    broadcasts.fan_out(calm)
    broadcasts.fan_out(urgent)
    [held], [now] = outbox_rows(calm), outbox_rows(urgent)
    assert held.not_before.astimezone(KRT) == datetime(2026, 11, 30, 7, 0, tzinfo=KRT)
    assert now.not_before is None


@pytest.mark.parametrize(("local", "until"), [
    ((20, 59), None), ((21, 0), (30, 7)), ((23, 59), (30, 7)), ((0, 0), (29, 7)),
    ((6, 59), (29, 7)), ((7, 0), None), ((12, 0), None)])
def test_quiet_hours_boundaries(app, local, until):
    moment = datetime(2026, 11, 29, *local, tzinfo=KRT)
    found = broadcasts.quiet_until(moment.astimezone(UTC))
    expected = None if until is None else datetime(2026, 11, until[0], until[1], 0, tzinfo=KRT)
    assert found == expected


def test_an_alert_past_its_expiry_is_marked_expired_and_never_written(app, at):
    subscriber("+249911000001", "KH-OMD")
    bid = alert(expires_in=timedelta(hours=2))
    at(NOON + timedelta(hours=3))
    assert broadcasts.fan_out(bid).endswith("expired, 0 rows written")
    assert outbox_rows(bid) == []
    assert db.session.get(Broadcast, bid).status == "expired"


def test_a_fan_out_killed_between_chunks_resumes_without_doubling(app, at, monkeypatch):
    people = [subscriber(f"+2499120000{i:02d}", "KH-OMD") for i in range(7)]
    bid = alert()
    real = broadcasts._insert_chunk
    calls = []

    def dies_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise SystemExit("killed")  # the transaction of this chunk never commits
        return real(*args, **kwargs)

    monkeypatch.setattr(broadcasts, "_insert_chunk", dies_on_third)
    with pytest.raises(SystemExit):
        broadcasts.fan_out(bid, chunk=2)
    db.session.rollback()
    assert len(outbox_rows(bid)) == 4
    broadcasts.fan_out(bid, chunk=2)
    assert sorted(r.contact_id for r in outbox_rows(bid)) == people


def test_pause_holds_resume_releases_cancel_stops(app, at):
    staff = leader("+249955555555", ["KH-OMD"]).created_by_id
    for i in range(4):
        subscriber(f"+2499130000{i:02d}", "KH-OMD")
    bid = alert()
    broadcasts.fan_out(bid, chunk=2)
    assert broadcasts.pause(bid, staff) == 4
    assert {r.status for r in outbox_rows(bid)} == {"paused"}
    with pytest.raises(broadcasts.BroadcastError):
        broadcasts.pause(bid, staff)
    assert broadcasts.resume(bid, staff) == 4
    assert {r.status for r in outbox_rows(bid)} == {"queued"}
    assert broadcasts.cancel(bid, staff) == 4
    assert {r.status for r in outbox_rows(bid)} == {"cancelled"}
    for act in (broadcasts.pause, broadcasts.resume, broadcasts.cancel):
        with pytest.raises(broadcasts.BroadcastError):
            act(bid, staff)
    assert [a.action for a in db.session.scalars(select(AuditLog).where(
        AuditLog.target == f"broadcast:{bid}").order_by(AuditLog.id))] == \
        ["broadcast_pause", "broadcast_resume", "broadcast_cancel"]


def test_a_paused_fan_out_writes_nothing_more_until_resumed(app, at):
    staff = leader("+249955555555", ["KH-OMD"]).created_by_id
    for i in range(3):
        subscriber(f"+2499140000{i:02d}", "KH-OMD")
    bid = alert()
    broadcasts.pause(bid, staff)
    assert broadcasts.fan_out(bid).endswith("paused, 0 rows written")
    assert outbox_rows(bid) == []
    broadcasts.resume(bid, staff)
    broadcasts.fan_out(bid)
    assert len(outbox_rows(bid)) == 3


def test_finishing_tells_the_leader_once(app, at):
    made = leader("+249955555555", ["KH-OMD"])
    subscriber("+249911000001", "KH-OMD")
    bid = alert(leader_id=made.id)
    broadcasts.fan_out(bid)
    assert not broadcasts.finish(bid)  # one message still queued
    db.session.execute(OutboxMessage.__table__.update().where(
        OutboxMessage.broadcast_id == bid).values(status="delivered"))
    db.session.commit()
    assert broadcasts.finish_sweep() == "broadcasts: 1 finished of 1 sending"
    assert broadcasts.finish_sweep() == "broadcasts: 0 finished of 0 sending"
    summary = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "alert_summary")).one()
    assert summary.recipient == "+249955555555" and summary.priority == "reply"
    assert summary.body == f"انتهى التنبيه A{bid}: خرجت 1 رسالة، وصلت 1، فشلت 0"  # default
    assert db.session.get(Broadcast, bid).status == "done"
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
