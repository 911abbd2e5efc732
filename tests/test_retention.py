"""Retention: ``hotline purge`` forgets callers' data after the configured periods, never
an open request; the clock is the service's own (``callback_policy.clock``), moved by the tests."""

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import func, select, update

from hotline import sweeper
from hotline.cli import cli
from hotline.extensions import db
from hotline.models import (
    CallbackEvent,
    CallbackRequest,
    Contact,
    InboundSms,
    OutboxMessage,
    StaffUser,
    UssdSession,
    UssdSessionEnd,
    VoiceCall,
)
from hotline.services import callback_policy, caller_requests, casework, retention, subscriptions
from hotline.services.missed_calls import VoiceNotice, record
from hotline.services.ussd import UssdHop, open_session, record_end

T0 = datetime(2026, 1, 4, 6, 0, tzinfo=UTC)  # a Sunday morning in Khartoum
OLD, RECENT, OPEN = "+249911000001", "+249911000002", "+249911000003"
NOTE = "Caller said the husband's brother is at +249 91 999 8888, call after 4"


@pytest.fixture()
def clock(monkeypatch):
    """The service's clock, set by the test: ``clock.now = ...``."""

    class Clock:
        now = T0

    monkeypatch.setattr(callback_policy, "clock", lambda: Clock.now)
    return Clock


@pytest.fixture()
def agent(app) -> int:
    person = StaffUser(email="amal@mrrc.example", name="Amal", password_hash="x")
    db.session.add(person)
    db.session.commit()
    return person.id


def seen(phone: str, at: datetime) -> None:
    """Contacts and the outbox note the wall clock; put them where the test stands."""
    db.session.execute(update(Contact).where(Contact.phone == phone).values(last_seen_at=at))
    db.session.execute(update(OutboxMessage).where(OutboxMessage.recipient == phone)
                       .values(created_at=at, status="delivered"))
    db.session.commit()


def closed_request(phone: str, agent: int, at: datetime) -> int:
    done = caller_requests.submit(phone, reason="medical", safe_to_call="yes", sms_ok=True,
                                  language="en", now=at)
    casework.claim(done.request_id, agent, now=at)
    casework.resolve(done.request_id, agent, "helped", note=NOTE, now=at)
    seen(phone, at)
    return done.request_id


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def phones() -> set[str]:
    return set(db.session.scalars(select(Contact.phone)))


def purge(clock, days_later: int) -> list[str]:
    clock.now = T0 + timedelta(days=days_later)
    lines = retention.purge()
    db.session.expire_all()
    return lines


def test_closed_requests_lose_number_and_notes_open_ones_are_never_touched(app, agent, clock):
    old = closed_request(OLD, agent, T0)
    recent = closed_request(RECENT, agent, T0 + timedelta(days=60))
    still_open = caller_requests.submit(OPEN, reason="danger", safe_to_call="yes", sms_ok=True,
                                        language="ar", now=T0).request_id
    casework.claim(still_open, agent, now=T0)
    casework.log_attempt(still_open, agent, "no_answer", note=NOTE, now=T0)

    lines = purge(clock, 100)

    assert lines[0].startswith("closed requests: 1 closed before 2026-01-14 lost their number")
    old_row, recent_row, open_row = (db.session.get(CallbackRequest, i)
                                     for i in (old, recent, still_open))
    assert old_row.contact.phone == retention.ANONYMOUS and old_row.sms_confirmation is None
    assert old_row.outcome == "helped" and old_row.reason == "medical"  # statistics stay
    assert all(e.note == "" for e in db.session.scalars(
        select(CallbackEvent).where(CallbackEvent.request_id == old)))
    assert recent_row.contact.phone == RECENT
    assert NOTE in [e.note for e in db.session.scalars(
        select(CallbackEvent).where(CallbackEvent.request_id == recent))]
    assert open_row.contact.phone == OPEN and open_row.sms_confirmation
    assert NOTE in [e.note for e in db.session.scalars(
        select(CallbackEvent).where(CallbackEvent.request_id == still_open))]
    assert purge(clock, 101)[0].startswith("closed requests: 0 closed")  # done once


def test_contacts_with_nothing_open_are_deleted_after_their_period(app, agent, clock):
    closed_request(OLD, agent, T0)
    caller_requests.submit(OPEN, reason="info", safe_to_call="yes", now=T0)
    seen(OPEN, T0)
    assert {OLD, OPEN} <= phones()
    purge(clock, 100)  # the old request is anonymised; OLD not yet idle for 180 days
    assert OLD in phones()
    lines = purge(clock, 200)
    assert OLD not in phones() and OPEN in phones()  # an open request keeps its caller
    assert "contacts: 1 not seen since" in lines[-1]


def test_a_subscriber_to_alerts_is_kept_until_the_subscription_ends(app, clock):
    subscriptions.subscribe(OLD, "SD-KA", ["safety"], channel="sms", lang="en", now=T0)
    db.session.commit()
    seen(OLD, T0)
    purge(clock, 200)  # not seen for 200 days, but still asking for alerts
    assert OLD in phones()
    subscriptions.unsubscribe(OLD, channel="sms", lang="en", ref="test:stop")
    db.session.commit()
    purge(clock, 200)
    assert OLD not in phones() and f"{retention.ANONYMOUS}-" in "".join(phones())


def test_ussd_sessions_ends_and_missed_calls_are_deleted_after_their_periods(app, clock):
    hop = UssdHop("ATUid_old", "*384*1234#", OLD, "63401", "")
    open_session(hop, OLD)
    record_end({"sessionId": "ATUid_old", "status": "Success", "phoneNumber": OLD}, "SD")
    record(VoiceNotice("ATVId_old", True, "Inbound", OLD), now=T0)
    db.session.execute(UssdSession.__table__.update().values(started_at=T0))
    db.session.execute(UssdSessionEnd.__table__.update().values(received_at=T0))
    db.session.commit()
    lines = purge(clock, 29)
    assert (count(UssdSession), count(UssdSessionEnd), count(VoiceCall)) == (1, 1, 1)
    lines = purge(clock, 31)
    assert (count(UssdSession), count(UssdSessionEnd), count(VoiceCall)) == (0, 0, 1)
    assert "USSD sessions: 1 dial(s)" in lines[1] and "USSD session ends: 1" in lines[2]
    lines = purge(clock, 91)
    assert count(VoiceCall) == 0 and "missed calls: 1 call row(s)" in lines[3]
    # the missed call's request is still open: its caller stays
    assert OLD in phones() and count(CallbackRequest, CallbackRequest.status == "open") == 1


def test_periods_come_from_config(make_app, clock):
    app = make_app(RETENTION={"ussd_session_days": 2})
    with app.app_context():
        db.session.add(UssdSessionEnd(session_id="s", status="Success", received_at=T0))
        db.session.commit()
        clock.now = T0 + timedelta(days=3)
        assert "1 notification(s)" in retention.purge()[2]
        db.session.remove()


def test_hotline_purge_prints_what_it_did_and_dry_run_changes_nothing(app, agent, clock):
    closed_request(OLD, agent, T0)
    clock.now = T0 + timedelta(days=365)
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    dry = runner.invoke(cli, ["purge", "--dry-run"], obj=info)
    assert dry.exit_code == 0 and "(dry run, nothing changed) closed requests: 1" in dry.output
    db.session.expire_all()
    assert OLD in phones()
    done = runner.invoke(cli, ["purge"], obj=info)
    assert done.exit_code == 0, done.output
    assert "closed requests: 1 closed before 2026-10-06" in done.output
    assert "contacts: 1 not seen since" in done.output
    db.session.expire_all()
    assert OLD not in phones()


def test_the_sweeper_purges_once_a_day(app, agent, clock):
    closed_request(OLD, agent, T0)
    clock.now = T0 + timedelta(days=365)
    first = [line for line in sweeper.sweep() if line.startswith("retention")]
    second = [line for line in sweeper.sweep() if line.startswith("retention")]
    assert "closed requests: 1" in first[0]
    assert second == ["retention: already applied on 2027-01-04"]
    clock.now += timedelta(days=1)
    assert "closed requests: 0" in [ln for ln in sweeper.sweep() if ln.startswith("ret")][0]


def test_text_messages_go_after_their_period_unless_still_needed(app, clock):
    """Sent and received SMS hold numbers and words; unread, unsent and open-case texts stay."""
    open_id = caller_requests.submit(OPEN, reason="info", safe_to_call="yes", now=T0).request_id
    contact_id = db.session.scalar(select(Contact.id).where(Contact.phone == OPEN))

    def sent(key: str, status: str) -> None:
        db.session.add(OutboxMessage(idempotency_key=key, kind="reply", recipient=OPEN,
                                     body="Your tip", language="en", encoding="GSM-7", parts=1,
                                     priority="reply", status=status, created_at=T0))

    def received(provider_id: str, status: str, request_id: int | None = None) -> None:
        db.session.add(InboundSms(provider_id=provider_id, contact_id=contact_id, text="help me",
                                  status=status, request_id=request_id, received_at=T0))

    sent("delivered", "delivered")
    sent("waiting", "queued")
    received("read", "done")
    received("unread", "new")
    received("on-open-request", "attached", open_id)
    db.session.commit()
    purge(clock, 29)
    assert (count(OutboxMessage), count(InboundSms)) == (2, 3)
    lines = purge(clock, 31)
    assert set(db.session.scalars(select(OutboxMessage.idempotency_key))) == {"waiting"}
    assert set(db.session.scalars(select(InboundSms.provider_id))) == {"unread",
                                                                       "on-open-request"}
    assert any(line.startswith("sent SMS: 1 message(s)") for line in lines)
    assert any(line.startswith("received SMS: 1 message(s)") for line in lines)
