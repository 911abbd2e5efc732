"""The staff inbox: texts for staff, answers through the outbox in the caller's language,
requests made from texts, dismissals; CSRF, audit, post/redirect/get, hostile input."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hotline.extensions import db
from hotline.models import AuditLog, CallbackEvent, CallbackRequest, InboundSms, OutboxMessage
from tests.smskit import Texter
from tests.staffkit import (
    AR_PHONE,
    EN_PHONE,
    Staff,
    make_request,
    make_user,
    quick_hashing,
    text_of,
)

EN_MASKED, AR_MASKED = "+249 91* *** *78", "+249 12* *** *89"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


@pytest.fixture()
def ana(app) -> Staff:
    make_user("ana@example.org", name="Ana")
    return Staff(app, "ana@example.org")


def texted(client, phone: str, text: str, first: str | None = None) -> int:
    texter = Texter(client, phone=phone)
    if first:
        texter.say(first)  # a keyword that tells us the caller's language
    assert texter.send(text) == 200
    db.session.expire_all()
    return db.session.scalars(sa.select(InboundSms.id).order_by(InboundSms.id.desc())).first()


def outbox(kind: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)))


def audits(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == action))


def test_the_inbox_lists_new_texts_with_masked_numbers_and_escaped_text(client, ana):
    texted(client, EN_PHONE, "my passport was taken " + XSS)
    html = ana.html("/staff/inbox")
    assert EN_MASKED in html and EN_PHONE not in html
    assert "my passport was taken" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "Inbox" in ana.html("/staff/")  # in the navigation


def test_keywords_do_not_reach_the_inbox(client, ana):
    Texter(client).say("INFO")
    assert "No texts here." in ana.html("/staff/inbox")


def test_an_arabic_reply_goes_through_the_outbox_in_the_callers_language(client, ana):
    message_id = texted(client, AR_PHONE, "أحتاج مساعدة في أوراقي", first="معلومات")
    page = ana.html(f"/staff/inbox/{message_id}")
    assert 'lang="ar" dir="rtl"' in page and "sms_count.js" in page
    response = ana.post(f"/staff/inbox/{message_id}/reply", {"body": "سنتصل بك غدا صباحا."},
                        page=f"/staff/inbox/{message_id}")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/staff/inbox/{message_id}")
    [sent] = outbox("staff_reply")
    assert (sent.recipient, sent.language, sent.body, sent.priority) == \
        (AR_PHONE, "ar", "سنتصل بك غدا صباحا.", "reply")
    assert audits("sms_reply") == 1
    assert "Reply sent" in ana.html(f"/staff/inbox/{message_id}")
    again = ana.post(f"/staff/inbox/{message_id}/reply", {"body": "مرة أخرى"},
                     page=f"/staff/inbox/{message_id}")
    assert again.status_code == 400 and "already answered" in text_of(again)
    assert len(outbox("staff_reply")) == 1


@pytest.mark.parametrize(("body", "why"), [("", "Write a reply first"),
                                           ("   \n ", "Write a reply first"),
                                           ("ب" * 202, "4 SMS parts")])
def test_an_empty_or_too_long_reply_is_refused_and_the_draft_kept(client, ana, body, why):
    message_id = texted(client, AR_PHONE, "hello")
    response = ana.post(f"/staff/inbox/{message_id}/reply", {"body": body},
                        page=f"/staff/inbox/{message_id}")
    assert response.status_code == 400 and why in text_of(response)
    if body.strip():
        assert body in text_of(response)
    assert outbox("staff_reply") == []


def test_a_reply_without_the_csrf_token_is_refused(client, ana):
    message_id = texted(client, EN_PHONE, "hello")
    response = ana.client.post(f"/staff/inbox/{message_id}/reply", data={"body": "Hi"})
    assert response.status_code == 400 and outbox("staff_reply") == []


def test_a_reply_to_a_text_on_a_request_goes_on_its_timeline(client, ana):
    request_id = make_request(EN_PHONE)
    message_id = texted(client, EN_PHONE, "I can talk after 5")
    ana.post(f"/staff/inbox/{message_id}/reply", {"body": "We will call after 5."},
             page=f"/staff/inbox/{message_id}")
    kinds = list(db.session.scalars(sa.select(CallbackEvent.kind).where(
        CallbackEvent.request_id == request_id).order_by(CallbackEvent.id)))
    assert kinds[-2:] == ["sms", "sms_reply"]
    [sent] = outbox("staff_reply")
    assert sent.callback_request_id == request_id
    page = ana.html(f"/staff/requests/{request_id}")
    assert "I can talk after 5" in page and "We will call after 5." in page


def test_a_text_becomes_a_callback_request(client, ana):
    message_id = texted(client, EN_PHONE, "please call me, it is about work", first="HELP")
    response = ana.post(f"/staff/inbox/{message_id}/request", page=f"/staff/inbox/{message_id}")
    assert response.status_code == 303
    request = db.session.scalars(sa.select(CallbackRequest)).one()
    assert response.headers["Location"].endswith(f"/staff/requests/{request.id}")
    assert (request.channel, request.reason, request.language) == ("sms", "unknown", "en")
    note = db.session.scalars(sa.select(CallbackEvent.note).where(
        CallbackEvent.kind == "sms")).one()
    assert note == "please call me, it is about work"
    assert audits("sms_to_request") == 1
    again = ana.post(f"/staff/inbox/{message_id}/request", page=f"/staff/inbox/{message_id}")
    assert again.status_code == 409
    assert db.session.query(CallbackRequest).count() == 1


def test_dismiss_takes_a_text_out_of_the_new_list(client, ana):
    message_id = texted(client, EN_PHONE, "wrong number sorry")
    response = ana.post(f"/staff/inbox/{message_id}/dismiss", page=f"/staff/inbox/{message_id}")
    assert response.status_code == 303
    assert "No texts here." in ana.html("/staff/inbox")
    assert "wrong number sorry" in ana.html("/staff/inbox?status=dismissed")
    assert audits("sms_dismiss") == 1
    again = ana.post(f"/staff/inbox/{message_id}/dismiss", page=f"/staff/inbox/{message_id}")
    assert again.status_code == 409


def test_a_caller_who_left_silently_is_flagged(client, ana):
    message_id = texted(client, EN_PHONE, "hello")
    Texter(client).say("exit")
    assert "nothing will be sent to this number" in ana.html(f"/staff/inbox/{message_id}")


@pytest.mark.parametrize("path", ["/staff/inbox/999999", "/staff/inbox/99999999999999",
                                  "/staff/inbox?status=bogus", "/staff/inbox?page=abc"])
def test_unknown_messages_and_bad_filters_are_clean_4xx(ana, path):
    response = ana.get(path)
    assert response.status_code in (200, 400, 404)
    if "bogus" in path:
        assert response.status_code == 400
    if path.startswith("/staff/inbox/9"):
        assert response.status_code == 404


def test_keyword_and_conversation_texts_cannot_be_acted_on(client, ana):
    Texter(client).say("HELP")
    keyword_id = db.session.scalars(sa.select(InboundSms.id)).one()
    assert ana.get(f"/staff/inbox/{keyword_id}").status_code == 404
    response = ana.post(f"/staff/inbox/{keyword_id}/reply", {"body": "hi"})
    assert response.status_code == 404


def test_the_inbox_needs_a_sign_in(client):
    response = client.get("/staff/inbox")
    assert response.status_code == 303 and "/staff/login" in response.headers["Location"]
