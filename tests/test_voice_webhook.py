"""``POST /webhooks/at/voice``: missed calls become callback requests, once."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from hotline import sweeper
from hotline.extensions import db
from hotline.models import CallbackEvent, CallbackRequest, Contact, VoiceCall
from hotline.services import caller_requests
from tests.conftest import DATABASE_URL, PHONE, TOKEN, fresh_example

REJECT = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject/></Response>'
URL = f"/webhooks/at/voice?token={TOKEN}"


def ring(session_id: str = "ATVId_1", caller: str = PHONE, **extra: str) -> dict[str, str]:
    return {"isActive": "1", "sessionId": session_id, "direction": "Inbound",
            "callerNumber": caller, "destinationNumber": "+249900000000", **extra}


def final(session_id: str = "ATVId_1", caller: str = PHONE, **extra: str) -> dict[str, str]:
    return {"isActive": "0", "sessionId": session_id, "direction": "Inbound",
            "callerNumber": caller, "destinationNumber": "+249900000000",
            "durationInSeconds": "0", "currencyCode": "SDG", "amount": "0",
            "hangupCause": "CALL_REJECTED", "callSessionState": "Completed",
            "callStartTime": "None", **extra}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def counts() -> tuple[int, int, int, int]:
    return count(VoiceCall), count(CallbackRequest), count(CallbackEvent), count(Contact)


def the_request() -> CallbackRequest:
    db.session.expire_all()
    return db.session.scalars(select(CallbackRequest)).one()


def test_a_ringing_call_is_rejected_and_becomes_a_request(client):
    response = client.post(URL, data=ring())
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert response.get_data(as_text=True) == REJECT
    row = the_request()
    assert (row.channel, row.reason, row.priority, row.status, row.rings) == \
        ("missed_call", "unknown", 1, "open", 1)
    assert row.safe_to_call == "unknown" and row.sms_ok is None and row.sms_confirmation is None
    assert row.contact.phone == PHONE
    call = db.session.scalars(select(VoiceCall)).one()
    assert (call.session_id, call.direction, call.request_id) == ("ATVId_1", "Inbound", row.id)


def test_the_same_notification_twice_changes_nothing(client):
    for _ in range(2):
        assert client.post(URL, data=ring()).get_data(as_text=True) == REJECT
    assert counts() == (1, 1, 1, 1)
    assert the_request().rings == 1


def test_repeated_rings_within_the_window_count_once(client):
    for i in range(4):  # a flasher rings four times in a minute, each a new call
        assert client.post(URL, data=ring(f"ATVId_{i}")).get_data(as_text=True) == REJECT
    row = the_request()
    assert row.rings == 1 and count(VoiceCall) == 4 and count(CallbackRequest) == 1
    # 31 minutes later (moved in the database, not slept): the next ring counts
    db.session.execute(update(CallbackRequest).values(
        last_ring_at=CallbackRequest.last_ring_at - timedelta(minutes=31)))
    db.session.commit()
    client.post(URL, data=ring("ATVId_later"))
    assert the_request().rings == 2
    assert db.session.scalar(select(func.count()).select_from(CallbackEvent)
                             .where(CallbackEvent.kind == "ring")) == 1


def test_ring_window_by_service_time(app):
    t0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    first = caller_requests.record_ring(PHONE, now=t0)
    again = caller_requests.record_ring(PHONE, now=t0 + timedelta(minutes=29))
    later = caller_requests.record_ring(PHONE, now=t0 + timedelta(minutes=30))
    db.session.commit()
    assert (first.created, again.counted, later.counted) == (True, False, True)
    assert first.request_id == again.request_id == later.request_id
    assert the_request().rings == 2


def test_a_missed_calls_request_is_dated_when_the_caller_rang(app):
    """Staff read when the caller rang and how long they have waited from these times;
    nothing is asked of a caller who only rang, so nothing is filled in for them."""
    t0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)  # a Sunday, 10:00 in Khartoum
    caller_requests.record_ring(PHONE, now=t0)
    db.session.commit()
    row = the_request()
    assert (row.created_at, row.updated_at, row.last_ring_at, row.next_attempt_at) == \
        (t0, t0, t0, t0)
    assert (row.status, row.priority, row.attempts, row.rings) == ("open", 1, 0, 1)
    assert (row.reason, row.safe_to_call, row.safe_times, row.sms_ok) == \
        ("unknown", "unknown", "", None)


def test_a_ring_refreshes_an_open_ussd_request_of_any_reason(client, app):
    done = caller_requests.submit(PHONE, reason="danger", safe_to_call="yes", language="en")
    client.post(URL, data=ring())
    row = the_request()
    assert row.id == done.request_id and row.reason == "danger" and row.rings == 1


def test_a_ring_after_the_request_was_closed_opens_a_new_one(client, app):
    client.post(URL, data=ring("a"))
    db.session.execute(update(CallbackRequest).values(status="resolved"))
    db.session.commit()
    client.post(URL, data=ring("b"))
    assert count(CallbackRequest) == 2


def test_final_notification_is_recorded_once(client):
    client.post(URL, data=ring())
    for _ in range(2):
        response = client.post(URL, data=final(durationInSeconds="7"))
        assert response.status_code == 200 and response.get_data(as_text=True) == ""
    call = db.session.scalars(select(VoiceCall)).one()
    assert (call.duration_seconds, call.hangup_cause, call.session_state, call.currency,
            call.amount) == (7, "CALL_REJECTED", "Completed", "SDG", "0")
    assert call.ended_at is not None
    assert counts() == (1, 1, 1, 1)


def test_a_lost_ring_is_recovered_from_the_final_notification(client):
    response = client.post(URL, data=final("ATVId_only_final"))
    assert response.status_code == 200
    row = the_request()
    assert row.channel == "missed_call" and row.rings == 1
    assert db.session.scalars(select(VoiceCall)).one().request_id == row.id


def test_none_strings_count_as_empty(client):
    response = client.post(URL, data=final(durationInSeconds="None", amount="None",
                                           currencyCode="None", hangupCause="None"))
    assert response.status_code == 200
    call = db.session.scalars(select(VoiceCall)).one()
    assert (call.duration_seconds, call.amount, call.currency, call.hangup_cause) == \
        (None, "", "", "")


def test_final_notification_without_caller_for_a_known_call(client):
    client.post(URL, data=ring())
    fields = final()
    del fields["callerNumber"]
    assert client.post(URL, data=fields).status_code == 200
    assert db.session.scalars(select(VoiceCall)).one().ended_at is not None


def test_outbound_call_is_not_rejected_and_creates_no_request(client):
    response = client.post(URL, data=ring(direction="Outbound"))
    assert response.status_code == 200
    assert "<Reject/>" not in response.get_data(as_text=True)
    assert count(CallbackRequest) == 0 and count(VoiceCall) == 1


def test_unencoded_plus_still_identifies_the_caller(client):
    body = ("isActive=1&sessionId=ATVId_p&direction=Inbound&callerNumber=+249912345678"
            "&destinationNumber=%2B249900000000")
    response = client.post(URL, data=body, content_type="application/x-www-form-urlencoded")
    assert response.get_data(as_text=True) == REJECT
    assert the_request().contact.phone == PHONE


@pytest.mark.parametrize("token", ["", "wrong", TOKEN + "x", TOKEN[:-1]])
def test_wrong_token_is_refused_and_nothing_stored(client, token):
    response = client.post(f"/webhooks/at/voice?token={token}", data=ring())
    assert response.status_code == 403
    assert counts() == (0, 0, 0, 0)


def test_missing_token_is_refused(client):
    assert client.post("/webhooks/at/voice", data=ring()).status_code == 403
    assert counts() == (0, 0, 0, 0)


@pytest.mark.parametrize("fields", [
    {},
    {"isActive": "1"},
    ring(isActive="2"),
    ring(isActive="None"),
    ring(isActive="true"),
    ring(sessionId=""),
    ring(sessionId="None"),
    ring(sessionId="x" * 101),
    ring(sessionId="a\tb"),
    ring(callerNumber=""),
    ring(callerNumber="None"),
    ring(callerNumber="12"),
    ring(callerNumber="+2499123456789999999999"),
    ring(callerNumber="'; DROP TABLE callback_requests; --"),
    ring(callerNumber="<script>alert(1)</script>"),
    ring(direction=""),
    ring(direction="Sideways"),
    final(callerNumber="not a number"),
    final(sessionId="x" * 500),
], ids=lambda f: ",".join(f"{k}={v[:12]}" for k, v in f.items() if k != "destinationNumber")[:60])
def test_malformed_posts_get_400_and_store_nothing(client, fields):
    response = client.post(URL, data=fields)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    assert "Traceback" not in response.get_data(as_text=True)
    assert counts() == (0, 0, 0, 0)


def test_oversized_field_is_400(client):
    response = client.post(URL, data=ring(hangupCause="X" * 5000))
    assert response.status_code == 400 and counts() == (0, 0, 0, 0)


def test_oversized_body_is_refused(client):
    response = client.post(URL, data=ring(padding="X" * 300_000))
    assert response.status_code == 413 and counts() == (0, 0, 0, 0)


def test_non_utf8_and_nul_bodies_are_400(client):
    for body in (b"isActive=1&sessionId=%FF%FE&callerNumber=%2B249912345678",
                 b"isActive=1&sessionId=a%00b&direction=Inbound&callerNumber=%2B249912345678",
                 "isActive=1&sessionId=\u00e9".encode()):
        response = client.post(URL, data=body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400
    assert counts() == (0, 0, 0, 0)


def test_json_body_is_400(client):
    response = client.post(URL, json=ring())
    assert response.status_code == 400 and counts() == (0, 0, 0, 0)


def test_odd_optional_values_are_stored_cut_not_refused(client):
    response = client.post(URL, data=final(durationInSeconds="-5", amount="9" * 50,
                                           hangupCause="<b>x</b>" * 10))
    assert response.status_code == 200
    call = db.session.scalars(select(VoiceCall)).one()
    assert call.duration_seconds is None and len(call.amount) == 20
    assert len(call.hangup_cause) == 40


FIELD_NAMES = st.sampled_from(["isActive", "sessionId", "direction", "callerNumber",
                               "destinationNumber", "durationInSeconds", "currencyCode",
                               "amount", "hangupCause", "callSessionState", "other"])
FIELD_VALUES = st.one_of(st.sampled_from(["0", "1", "None", "Inbound", "Outbound", PHONE,
                                          "0912345678", "", "ATVId_x"]),
                         st.text(max_size=120))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(FIELD_NAMES, FIELD_VALUES, max_size=11))
def test_arbitrary_voice_posts_never_500(client, fields):
    fresh_example(client.application)
    response = client.post(URL, data=fields)
    assert response.status_code in (200, 400), (fields, response.get_data(as_text=True))
    if response.status_code == 200 and fields.get("isActive") == "1":
        assert response.get_data(as_text=True).startswith("<?xml")
    db.session.rollback()


def during_outage(client, fields: dict[str, str]):
    """Post while the voice_calls table is gone (a broken database, for the service)."""
    other = sa.create_engine(DATABASE_URL)
    with other.begin() as conn:
        conn.execute(sa.text("ALTER TABLE voice_calls RENAME TO voice_calls_away"))
    try:
        return client.post(URL, data=fields)
    finally:
        with other.begin() as conn:
            conn.execute(sa.text("ALTER TABLE voice_calls_away RENAME TO voice_calls"))
        other.dispose()


def test_ring_during_a_database_failure_is_still_rejected_and_recovered_later(client):
    response = during_outage(client, ring("ATVId_outage"))
    assert response.status_code == 200 and response.get_data(as_text=True) == REJECT
    assert counts()[:3] == (0, 0, 0)  # nothing half-stored
    # the final notification gets through and the request is not lost
    assert client.post(URL, data=final("ATVId_outage")).status_code == 200
    assert the_request().rings == 1


def test_final_notification_during_a_database_failure_is_spooled_then_stored(client, app):
    response = during_outage(client, final("ATVId_outage2"))
    assert response.status_code == 200  # kept: the gateway need not retry, nothing is lost
    assert counts() == (0, 0, 0, 0)
    assert app.extensions["hotline.spool"].pending() == 1
    lines = sweeper.sweep()
    assert "missed calls: 1 spooled call(s) stored, 0 still waiting" in lines
    assert counts()[:2] == (1, 1) and the_request().channel == "missed_call"




def test_a_missed_calls_timeline_says_when_it_rang_and_links_the_last_closed_request(app):
    """What staff read on the request: when each counted ring came, that it was a missed
    call, and the caller's earlier request; the ring answers with the request's ref."""
    t0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    earlier = caller_requests.submit(PHONE, reason="info", safe_to_call="yes", sms_ok=False,
                                     language="en", now=t0 - timedelta(days=3))
    caller_requests.cancel_by_caller(PHONE, earlier.ref, now=t0 - timedelta(days=2))
    first = caller_requests.record_ring(PHONE, now=t0)
    later = caller_requests.record_ring(PHONE, now=t0 + timedelta(hours=1))
    db.session.commit()
    row = db.session.get(CallbackRequest, first.request_id)
    assert (first.ref, later.ref) == (row.ref, row.ref) and row.ref != earlier.ref
    assert (first.created, first.counted, later.created, later.counted) == \
        (True, True, False, True)
    timeline = [(e.kind, e.detail, e.at) for e in db.session.scalars(
        select(CallbackEvent).where(CallbackEvent.request_id == row.id)
        .order_by(CallbackEvent.id))]
    assert timeline == [("created", "missed call", t0), ("linked", earlier.ref, t0),
                        ("ring", "missed call (2)", t0 + timedelta(hours=1))]
