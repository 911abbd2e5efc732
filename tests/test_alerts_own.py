"""A community leader writes their own message in USSD: text rules, their own areas only,
recipients and parts, confirm; it waits for a supervisor (a second person), and the leader
hears the decision by SMS in their language."""

from __future__ import annotations

import json

import pytest
import redis
from sqlalchemy import func, select

from hotline import alerttexts
from hotline.extensions import db
from hotline.models import AuditLog, Broadcast, OutboxMessage
from hotline.services import broadcasts
from hotline.textcodec import sms_parts
from tests.alertkit import leader, offered, open_menu, pick, quick_pins, say, subscriber
from tests.conftest import REDIS_URL, UssdCaller
from tests.staffkit import Staff, make_user, quick_hashing

LEADER = "+249955555555"
ARABIC = "احذروا سماسرة السفر في سوق ليبيا اليوم، لا تعطوهم أوراقكم"
ENGLISH = "Beware of brokers at the Libya market today. Do not give them your papers!"


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_pins(monkeypatch)
    quick_hashing(monkeypatch)


@pytest.fixture()
def people(app):
    subscriber("+249911000001", "KH-OMD", lang="en")
    subscriber("+249911000002", "KH-OMD", lang="ar")
    subscriber("+249911000003", "SD-KH", lang="ar")  # the whole state: Omdurman is in it
    subscriber("+249911000004", "SD-GD", lang="ar")
    subscriber("+249911000005", "KH-OMD", opted_out_at=db.func.now())


@pytest.fixture()
def phone(client) -> UssdCaller:
    return UssdCaller(client, phone=LEADER)


def made() -> list[Broadcast]:
    db.session.expire_all()
    return list(db.session.scalars(select(Broadcast).order_by(Broadcast.id)))


def to_own(app, phone: UssdCaller, lang: str) -> str:
    """Dial, PIN, "Write my own message": the prompt for the text."""
    open_menu(phone, lang)
    pick(phone, say(app, lang, "menu.leader"))
    phone.press("4826")
    assert phone.text.startswith(say(app, lang, "alerts.leader.template")), phone.text
    labels = offered(phone)
    assert labels[-1] == say(app, lang, "alerts.leader.own")  # last: template numbers stay
    phone.dial()  # offered() paged on; start again the way a leader would
    open_menu(phone, lang)
    pick(phone, say(app, lang, "menu.leader"))
    phone.press("4826")
    return pick(phone, say(app, lang, "alerts.leader.own"))


def decisions() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "alert_decision").order_by(OutboxMessage.id)))


@pytest.mark.parametrize(("lang", "typed", "written"), [("ar", ARABIC, "ar"),
                                                        ("en", ENGLISH, "en")])
def test_a_leaders_own_message_waits_for_approval_and_nothing_is_sent(
        app, phone, people, lang, typed, written):
    leader(LEADER, ["KH-OMD", "SD-GD"], pin="4826")
    prompt = to_own(app, phone, lang)
    assert prompt.startswith(say(app, lang, "alerts.leader.own_text"))
    phone.press(typed)
    assert offered(phone) == (["Omdurman", "Gedaref"] if lang == "en"
                              else ["أم درمان", "القضارف"])
    phone.dial()  # offered() paged; walk again straight to the area
    to_own(app, phone, lang)
    phone.press(typed)
    confirm = pick(phone, "Omdurman" if lang == "en" else "أم درمان")
    signed = alerttexts.with_signoff(app.extensions["hotline.catalog"], written, typed)
    parts = sms_parts(signed)
    assert parts == (2 if written == "ar" else 1)  # UCS-2 for Arabic, GSM-7 for English
    assert confirm.startswith(say(app, lang, "alerts.leader.own_confirm", count="3",
                                  parts=str(parts), area_name="Omdurman" if lang == "en"
                                  else "أم درمان")), confirm
    assert made() == []
    end = pick(phone, say(app, lang, "alerts.leader.own_send"))
    [alert] = made()
    assert phone.ended and end == say(app, lang, "alerts.leader.own_sent", bref=f"A{alert.id}")
    assert (alert.status, alert.template, alert.areas, alert.leader_id is not None,
            alert.author_id, alert.recipients, alert.parts) == \
        ("pending", "", "KH-OMD", True, None, 3, parts)
    assert json.loads(alert.texts) == {written: typed}
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_the_same_confirmation_repeated_or_replayed_makes_one_pending_alert(
        app, phone, people):
    leader(LEADER, ["KH-OMD"], pin="4826")
    to_own(app, phone, "en")
    phone.press(ENGLISH)
    pick(phone, "Omdurman")
    pick(phone, say(app, "en", "alerts.leader.own_send"))
    first = phone.text
    for _ in range(2):
        phone.post("*".join(phone.inputs))
        assert phone.text == first
    redis.Redis.from_url(REDIS_URL).flushdb()
    phone.post("*".join(phone.inputs))  # rebuilt by replaying the text path
    assert phone.text == first
    assert len(made()) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "broadcast_draft")) == 1


def test_another_area_by_a_crafted_text_path_fails(app, phone, people):
    leader(LEADER, ["KH-OMD"], pin="4826")
    to_own(app, phone, "en")
    phone.press(ENGLISH)
    assert offered(phone) == ["Omdurman"]
    phone.press("2")  # Gedaref is not one of this leader's areas: not even a number
    assert say(app, "en", "nav.invalid") in phone.text and not phone.ended
    # the whole path typed at once, as a crafted request would send it
    path = phone.inputs[:-1] + ["2"]
    phone.dial()
    phone.post("*".join(path))
    assert not phone.text.startswith(say(app, "en", "alerts.leader.own_confirm").split("{")[0])
    assert made() == []
    # and the service refuses an area outside the scope whatever the session says
    assert broadcasts.check_leader_own(LEADER, ENGLISH, "SD-GD").outcome == "invalid"
    assert broadcasts.create_own_from_leader(LEADER, ENGLISH, "SD-GD", "k1").outcome \
        == "invalid"
    assert made() == []


@pytest.mark.parametrize("typed", [
    "<script>alert(1)</script>", "Meet at {area} now", "Go to http://evil.example",
    "see www.evil.example", "Road closed \u202etoday", "Water 💧 is free", "€100 only",
    "Free [trips] abroad", "12345 678"])
def test_hostile_text_is_asked_again_and_nothing_is_stored(app, phone, people, typed):
    leader(LEADER, ["KH-OMD"], pin="4826")
    to_own(app, phone, "en")
    phone.press(typed)
    assert phone.text.startswith(say(app, "en", "alerts.leader.own_bad")) \
        or say(app, "en", "nav.invalid") in phone.text, phone.text
    assert not phone.ended
    phone.press(ENGLISH)  # a good message then goes on to the areas
    assert offered(phone) == ["Omdurman"]
    assert made() == []


def test_a_text_over_the_sms_budget_says_how_many_parts(app, phone, people):
    leader(LEADER, ["KH-OMD"], pin="4826")
    to_own(app, phone, "ar")
    too_long = "ا" * 120  # UCS-2: 120 letters and the sign-off are 3 SMS, 2 at most
    phone.press(too_long)
    assert phone.text.startswith(say(app, "ar", "alerts.leader.own_long", parts="3", most="2"))
    assert broadcasts.check_leader_own(LEADER, too_long, "KH-OMD").outcome == "invalid"
    latin = "a" * 161  # over the input's 160 characters: the same screen again (the hint
    phone.press(latin)  # does not fit an Arabic screen with this prompt)
    assert phone.text.startswith(say(app, "ar", "alerts.leader.own_long", parts="3", most="2"))
    assert not phone.ended
    assert made() == []


def test_the_daily_limit_counts_alerts_waiting_for_approval(app, client, people):
    leader(LEADER, ["KH-OMD"], limit=1, pin="4826")
    for expected in ("alerts.leader.own_sent", "alerts.leader.limit"):
        phone = UssdCaller(client, phone=LEADER)
        to_own(app, phone, "en")
        phone.press(ENGLISH)
        pick(phone, "Omdurman")
        if not phone.ended:
            pick(phone, say(app, "en", "alerts.leader.own_send"))
        assert phone.ended
        assert phone.text.startswith(say(app, "en", expected).split("{")[0][:10]), phone.text
    assert len(made()) == 1


def test_a_second_person_approves_adding_english_and_the_leader_hears_in_arabic(
        app, phone, people):
    leader(LEADER, ["KH-OMD"], pin="4826")
    to_own(app, phone, "ar")
    phone.press(ARABIC)
    pick(phone, "أم درمان")
    pick(phone, say(app, "ar", "alerts.leader.own_send"))
    [alert] = made()
    make_user("sup@mrrc.example", "supervisor", "Sam Supervisor")
    sup = Staff(app, "sup@mrrc.example")
    page = sup.html(f"/staff/broadcasts/{alert.id}")
    assert "Amna Leader" in page and ARABIC in page and 'id="recipients">3<' in page
    assert "Omdurman" in page and 'id="cost"' in page and "Approve and send" in page
    # without an English version, English readers would get the Arabic as written
    assert page.count(ARABIC) == 2 and 'name="text_en"' in page
    response = sup.post(f"/staff/broadcasts/{alert.id}/approve",
                        {"text_en": ENGLISH}, page=f"/staff/broadcasts/{alert.id}")
    assert response.status_code == 303
    [alert] = made()
    assert alert.status in ("queued", "sending") and alert.approved_by_id == sup.id
    assert json.loads(alert.texts) == {"ar": ARABIC, "en": ENGLISH}
    bodies = broadcasts.bodies(alert)
    assert bodies["en"].startswith(ENGLISH) and bodies["ar"].startswith(ARABIC)
    [told] = decisions()
    assert told.recipient == LEADER and told.language == "ar"
    assert told.body == say(app, "ar", "alerts.sms.approved", bref=f"A{alert.id}")
    translated = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "broadcast_translate")).one()
    assert translated.staff_id == sup.id and ENGLISH in translated.detail


def test_approved_as_written_everyone_gets_the_leaders_text(app, phone, people):
    leader(LEADER, ["KH-OMD"], pin="4826")
    to_own(app, phone, "ar")
    phone.press(ARABIC)
    pick(phone, "أم درمان")
    pick(phone, say(app, "ar", "alerts.leader.own_send"))
    [alert] = made()
    sup = make_user("sup@mrrc.example", "supervisor")
    broadcasts.approve(alert.id, sup.id)
    signed = alerttexts.with_signoff(app.extensions["hotline.catalog"], "ar", ARABIC)
    assert broadcasts.bodies(alert) == {"ar": signed, "en": signed}
    broadcasts.fan_out(alert.id)
    db.session.expire_all()
    rows = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.broadcast_id == alert.id, OutboxMessage.status == "queued")).all()
    assert len(rows) == 3 and {r.body for r in rows} == {signed}


def test_a_rejected_alert_sends_nothing_and_tells_the_leader(app, phone, people):
    leader(LEADER, ["KH-OMD"], pin="4826")
    to_own(app, phone, "en")
    phone.press(ENGLISH)
    pick(phone, "Omdurman")
    pick(phone, say(app, "en", "alerts.leader.own_send"))
    [alert] = made()
    make_user("sup@mrrc.example", "supervisor")
    sup = Staff(app, "sup@mrrc.example")
    assert sup.post(f"/staff/broadcasts/{alert.id}/reject",
                    page=f"/staff/broadcasts/{alert.id}").status_code == 303
    [alert] = made()
    assert alert.status == "rejected"
    [told] = decisions()
    assert told.language == "en" and told.body == say(app, "en", "alerts.sms.rejected",
                                                      bref=f"A{alert.id}")
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.broadcast_id == alert.id)) == 0
    # deciding again changes nothing and sends no second SMS
    sup.post(f"/staff/broadcasts/{alert.id}/approve", page=f"/staff/broadcasts/{alert.id}")
    assert made()[0].status == "rejected" and len(decisions()) == 1
