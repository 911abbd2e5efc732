"""Delivery reports and opt-outs from the gateway: forward only, idempotent, bad input 400."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import Contact, OutboxMessage
from tests.conftest import TOKEN
from tests.outboxkit import queue, rows

DELIVERY = f"/webhooks/at/sms/delivery?token={TOKEN}"
OPTOUT = f"/webhooks/at/sms/optout?token={TOKEN}"
PHONE = "+249900000000"


def _sent(n: int = 1) -> list[OutboxMessage]:
    queue(n)
    for i, row in enumerate(rows(None)):
        row.status, row.provider_message_id = "sent", f"ATXid_{i}"
    db.session.add(Contact(phone=PHONE))
    db.session.commit()
    return rows(None)


def _report(client, message_id="ATXid_0", status="Success", **extra):
    data = {"id": message_id, "status": status, "phoneNumber": PHONE, "networkCode": "63401",
            "retryCount": "0", **extra}
    return client.post(DELIVERY, data=data)


def _contact() -> Contact:
    db.session.expire_all()
    return db.session.scalars(select(Contact).where(Contact.phone == PHONE)).one()


def test_success_marks_delivered_and_a_late_sent_does_not_undo_it(client):
    _sent()
    assert _report(client, status="Success").status_code == 200
    assert _report(client, status="Sent").status_code == 200
    assert _report(client, status="Failed", failureReason="DeliveryFailure").status_code == 200
    [row] = rows(None)
    assert (row.status, row.provider_status) == ("delivered", "Success")
    assert row.delivered_at is not None


def test_in_flight_statuses_keep_sent(client):
    _sent()
    for status in ("Submitted", "Buffered", "Sent"):
        assert _report(client, status=status).status_code == 200
    [row] = rows(None)
    assert (row.status, row.provider_status) == ("sent", "Sent")


def test_unknown_ids_are_answered_200_and_change_nothing(client, caplog):
    caplog.set_level(logging.INFO)
    _sent()
    assert _report(client, message_id="ATXid_nobody").status_code == 200
    assert rows(None)[0].status == "sent"
    assert "unknown message id" in caplog.text and PHONE not in caplog.text


def test_hard_failures_in_a_row_make_the_number_unreachable_and_a_delivery_clears_it(client):
    _sent(4)  # all to different numbers; point them at one contact
    db.session.execute(db.update(OutboxMessage).values(recipient=PHONE))
    db.session.commit()
    _report(client, "ATXid_0", "Failed", failureReason="AbsentSubscriber")
    _report(client, "ATXid_1", "Failed", failureReason="DeliveryFailure")  # not a hard one
    _report(client, "ATXid_1", "Failed", failureReason="UserDoesNotExist")  # repeat: ignored
    assert (_contact().hard_failures, _contact().unreachable_at) == (1, None)
    _report(client, "ATXid_2", "Rejected", failureReason="usERinblackLIST")
    _report(client, "ATXid_3", "AbsentSubscriber")
    assert _contact().hard_failures == 3 and _contact().unreachable_at is not None
    assert [r.status for r in rows(None)] == ["undelivered"] * 4


def test_one_delivery_resets_the_count(client):
    _sent(2)
    db.session.execute(db.update(OutboxMessage).values(recipient=PHONE))
    db.session.commit()
    _report(client, "ATXid_0", "Failed", failureReason="AbsentSubscriber")
    _report(client, "ATXid_1", "Success")
    assert _contact().hard_failures == 0


def test_opt_out_marks_the_contact_once_even_a_new_number(client):
    data = {"senderId": "MRRC", "phoneNumber": "+249911111111"}
    assert client.post(OPTOUT, data=data).status_code == 200
    first = db.session.scalars(select(Contact.opted_out_at)).one()
    assert first is not None
    assert client.post(OPTOUT, data=data).status_code == 200
    db.session.expire_all()
    assert db.session.scalars(select(Contact.opted_out_at)).one() == first


def _stored() -> tuple:
    db.session.expire_all()
    return (db.session.scalar(select(func.count()).select_from(Contact)),
            [(r.status, r.provider_status) for r in rows(None)])


@pytest.mark.parametrize("path", ["/webhooks/at/sms/delivery", "/webhooks/at/sms/optout"])
@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN[:-1], TOKEN + "x"])
def test_wrong_token_is_403_and_nothing_changes(client, path, token):
    _sent()
    before = _stored()
    query = "" if token is None else f"?token={token}"
    response = client.post(path + query, data={"id": "ATXid_0", "status": "Success",
                                               "senderId": "MRRC", "phoneNumber": PHONE})
    assert response.status_code == 403 and _stored() == before


@pytest.mark.parametrize("data", [
    {}, {"status": "Success"}, {"id": "ATXid_0"}, {"id": "", "status": "Success"},
    {"id": "x" * 101, "status": "Success"}, {"id": "ATXid_0", "status": "S" * 41},
    {"id": "ATXid_0\x01", "status": "Success"}, {"id": "ATXid_0", "status": "Suc\tcess"},
    {"id": "ATXid_0", "status": "Success", "retryCount": "-1"},
    {"id": "ATXid_0", "status": "Success", "retryCount": "١"},
    {"id": "ATXid_0", "status": "Success", "phoneNumber": "<script>alert(1)</script>"},
    {"id": "ATXid_0", "status": "Failed", "failureReason": "x" * 41},
    {"id": "ATXid_0", "status": "Success", "networkCode": "1' OR '1'='1" * 5},
])
def test_bad_delivery_reports_are_400_and_change_nothing(client, data):
    _sent()
    before = _stored()
    response = client.post(DELIVERY, data=data)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True) and _stored() == before


def test_injection_in_an_id_is_just_an_unknown_id(client):
    _sent()
    before = _stored()
    assert _report(client, message_id="x' OR '1'='1").status_code == 200
    assert _stored() == before


@pytest.mark.parametrize("data", [
    {}, {"senderId": "MRRC"}, {"phoneNumber": PHONE}, {"senderId": "", "phoneNumber": PHONE},
    {"senderId": "MRRC", "phoneNumber": "0000"}, {"senderId": "MRRC", "phoneNumber": "x" * 5000},
    {"senderId": "<img src=x onerror=alert(1)>" * 3, "phoneNumber": PHONE},
])
def test_bad_opt_outs_are_400_and_store_nothing(client, data):
    before = _stored()
    response = client.post(OPTOUT, data=data)
    assert response.status_code == 400 and _stored() == before


@pytest.mark.parametrize("path", [DELIVERY, OPTOUT])
def test_non_utf8_and_oversized_bodies_are_refused_cleanly(client, path):
    broken = client.post(path, data=b"id=%FF%FE&status=Success&senderId=M&phoneNumber=%2B1",
                         content_type="application/x-www-form-urlencoded")
    huge = client.post(path, data={"id": "x", "status": "y" * 300_000})
    assert broken.status_code == 400 and huge.status_code == 413


def test_database_down_is_503_so_the_gateway_retries(make_app):
    app = make_app(DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none")
    client = app.test_client()
    assert client.post(DELIVERY, data={"id": "ATXid_0", "status": "Success"}).status_code == 503
    assert client.post(OPTOUT, data={"senderId": "M", "phoneNumber": PHONE}).status_code == 503
