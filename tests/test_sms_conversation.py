"""The SMS channel end to end: keywords, the callback conversation, tips after a safety
question, opt-out, the silent exit, and texts that reach staff."""

from __future__ import annotations

import sqlalchemy as sa

from hotline.extensions import db
from hotline.models import CallbackEvent, CallbackRequest, Contact, InboundSms, OutboxMessage
from hotline.services import caller_requests
from tests.conftest import PHONE
from tests.smskit import Texter


def contact() -> Contact:
    db.session.expire_all()
    return db.session.scalars(sa.select(Contact).where(Contact.phone == PHONE)).one()


def last_inbound() -> InboundSms:
    db.session.expire_all()
    return db.session.scalars(sa.select(InboundSms).order_by(InboundSms.id.desc())).first()


def outbox(kind: str | None = None) -> list[OutboxMessage]:
    db.session.expire_all()
    query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return list(db.session.scalars(query))


def test_help_answers_in_the_language_of_the_word(client):
    texter = Texter(client)
    assert texter.say("help").startswith("Send INFO for travel tips")
    assert texter.say("مساعدة").startswith("أرسل «معلومات» لنصائح السفر")
    assert contact().language == "ar"
    assert [m.language for m in outbox()] == ["en", "ar"]
    assert all(m.priority == "reply" for m in outbox())


def test_info_then_a_topic_number_asks_before_sending_the_copy(client, app):
    texter = Texter(client)
    info = texter.say("INFO")
    assert info.splitlines()[3] == "3 Sea travel"
    question = texter.say("٣")  # Eastern Arabic digit
    assert question.startswith("A text stays on the phone")
    assert "1. Yes, send it" in question
    copy = texter.say("1")
    assert copy == app.extensions["hotline.catalog"].render(
        "en", "sms.awareness.sea", app.config["CENTRE"])
    assert outbox("topic_copy")[0].body == copy
    assert texter.say("1").startswith("A text stays")  # over: "1" is topic 1 again


def test_a_topic_is_not_sent_when_a_text_is_not_safe(client):
    texter = Texter(client)
    texter.say("معلومات")
    assert texter.say("٢").startswith("هل الرسالة النصية آمنة")
    assert texter.say("٢") is None  # "no": nothing sent, not even "nothing was sent"
    assert outbox("topic_copy") == []


def test_the_callback_conversation_end_to_end_in_english(client):
    texter = Texter(client)
    reason = texter.say("CALL")
    assert reason.startswith("Why should we call you?") or "1." in reason
    safe = texter.say("3")  # counselling
    assert "safe" in safe.lower()
    sms = texter.say("1")  # yes, any time
    assert "SMS" in sms or "text" in sms.lower()
    confirm = texter.say("1")  # an SMS is fine
    assert "1." in confirm
    done = texter.say("1")  # send
    request = db.session.scalars(sa.select(CallbackRequest)).one()
    assert (request.channel, request.reason, request.sms_ok, request.language) == \
        ("sms", "counselling", True, "en")
    assert request.ref in done
    assert outbox("confirmation") == []  # the last reply is the confirmation
    assert last_inbound().kind == "conversation"
    # the conversation is over: the next "1" is a topic number
    assert texter.say("1").startswith("A text stays")


def test_the_callback_conversation_asks_the_same_safety_questions_in_arabic(client):
    texter = Texter(client)
    texter.say("اتصل")
    texter.say("١")  # danger
    times = texter.say("٢")  # only at certain times
    assert "1." in times
    texter.say("1")  # morning
    texter.say("2")  # no SMS
    assert texter.say("1") is None  # submitted; the caller said a text is not safe
    request = db.session.scalars(sa.select(CallbackRequest)).one()
    assert (request.reason, request.safe_to_call, request.safe_times, request.sms_ok) == \
        ("danger", "times", "morning", False)
    assert request.priority == 0 and request.language == "ar"


def test_invalid_choice_shows_the_same_question_with_a_hint(client):
    texter = Texter(client)
    first = texter.say("CALL")
    again = texter.say("42")
    assert first.splitlines()[-1] in again and again != first


def test_words_during_a_conversation_reach_staff_and_the_question_is_repeated(client):
    texter = Texter(client)
    first = texter.say("CALL")
    again = texter.say("please call my brother")
    assert first.splitlines()[-1] in again
    row = last_inbound()
    assert (row.kind, row.status) == ("staff", "new")


def test_the_conversation_state_has_a_time_to_live(client, app):
    Texter(client).say("CALL")
    client_redis = app.extensions["hotline.redis"]
    ttl = client_redis.ttl(f"sms:conversation:{PHONE}")
    assert 0 < ttl <= app.config["SMS"]["conversation_ttl"]


def test_stop_opts_out_with_one_confirmation_and_start_undoes_it(client):
    texter = Texter(client)
    assert texter.say("STOP").startswith("You will get no more alerts")
    stopped = contact().opted_out_at
    assert stopped is not None
    assert texter.say("stop") is None  # one confirmation, not one per STOP
    assert texter.say("غ") is None
    assert contact().opted_out_at == stopped
    assert texter.say("START").startswith("You will get alerts again")
    assert contact().opted_out_at is None
    assert texter.say("الغاء").startswith("لن تصلك التنبيهات")  # a new opt-out, confirmed


def test_the_silent_exit_withdraws_requests_and_answers_nothing(client):
    texter = Texter(client)
    caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=False,
                           language="ar")
    texter.say("CALL")  # a conversation under way is forgotten too
    assert texter.say(" Exit. ") is None
    assert contact().exited_at is not None
    request = db.session.scalars(sa.select(CallbackRequest)).one()
    assert request.status == "withdrawn"
    row = last_inbound()
    assert (row.command, row.text) == ("exit", "")  # the word is not kept
    assert texter.say("1").startswith("A text stays")  # no conversation left: a topic


def test_unknown_text_gets_the_bilingual_help_once_a_day_and_reaches_staff(client):
    texter = Texter(client)
    reply = texter.say("I need help with my papers")
    assert "Send HELP" in reply and "أرسل «مساعدة»" in reply
    assert texter.say("hello?") is None  # once per day
    rows = list(db.session.scalars(sa.select(InboundSms).order_by(InboundSms.id)))
    assert [(r.kind, r.status) for r in rows] == [("staff", "new"), ("staff", "new")]


def test_a_text_from_a_caller_with_an_open_request_goes_on_its_timeline(client):
    done = caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=False,
                                  language="en")
    Texter(client).say("my phone will be off tomorrow")
    row = last_inbound()
    assert (row.status, row.request_id) == ("attached", done.request_id)
    event = db.session.scalars(sa.select(CallbackEvent).where(
        CallbackEvent.kind == "sms")).one()
    assert event.note == "my phone will be off tomorrow"


def test_a_keyword_after_the_silent_exit_is_answered_again(client):
    texter = Texter(client)
    texter.say("exit")
    assert texter.say("INFO") is not None
    assert contact().exited_at is None


def test_texts_of_one_phone_are_handled_one_after_the_other(app, client):
    """A second text waits for the first: both step the conversation, in order."""
    import threading
    import time

    texter = Texter(client)
    texter.say("CALL")
    store = app.extensions["hotline.store"]
    assert store.add(f"sms:handling:{PHONE}", b"1", 15)  # a first text still being handled
    threading.Timer(0.5, store.delete, args=[f"sms:handling:{PHONE}"]).start()
    started = time.monotonic()
    safe = texter.say("1")  # waits until the first is done, then steps from its state
    assert time.monotonic() - started >= 0.4
    assert "1." in safe and safe != texter.replies()[0]
    assert store.get(f"sms:handling:{PHONE}") is None  # released after handling
