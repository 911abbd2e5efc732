"""A community leader sends an alert from a basic phone: PIN, template, fields, area,
count, confirm; and everything that must not work."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import redis
from sqlalchemy import func, select

from hotline import alerttexts
from hotline.extensions import db
from hotline.models import AuditLog, Broadcast, Leader, OutboxMessage, UssdSessionEnd
from hotline.services import leaders
from hotline.textcodec import sms_parts
from tests.alertkit import leader, offered, open_menu, pick, quick_pins, say, subscriber
from tests.conftest import PHONE, REDIS_URL, TOKEN, UssdCaller

LEADER = "+249955555555"


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_pins(monkeypatch)


@pytest.fixture()
def people(app):
    """Subscribers of Omdurman (one through Khartoum State), Gedaref, and some we may not
    write to."""
    subscriber("+249911000001", "KH-OMD", lang="en")
    subscriber("+249911000002", "SD-KH", lang="ar")
    subscriber("+249911000003", "SD-GD", lang="ar")
    subscriber("+249911000004", "KH-OMD", opted_out_at=db.func.now())
    subscriber("+249911000005", "KH-OMD", exited_at=db.func.now())
    subscriber("+249911000006", "KH-OMD", unreachable_at=db.func.now())
    subscriber("+249911000007", "SD-KA", lang="en")


@pytest.fixture()
def phone(client) -> UssdCaller:
    return UssdCaller(client, phone=LEADER)


def broadcasts() -> list[Broadcast]:
    db.session.expire_all()
    return list(db.session.scalars(select(Broadcast).order_by(Broadcast.id)))


def to_templates(app, phone: UssdCaller, lang: str, pin: str = "4826") -> None:
    open_menu(phone, lang)
    pick(phone, say(app, lang, "menu.leader"))
    assert phone.text.startswith(say(app, lang, "alerts.leader.pin")), phone.text
    phone.press(pin)


def closure_to_omdurman(app, phone: UssdCaller, lang: str) -> str:
    """Road closure at 'Airport Rd' tomorrow, to Omdurman: the confirmation screen."""
    pick(phone, say(app, lang, "alerts.tpl.closure.title"))
    assert phone.text.startswith(say(app, lang, "alerts.leader.place"))
    phone.press("Airport Rd")
    pick(phone, say(app, lang, "alerts.day.tomorrow"))
    return pick(phone, "Omdurman" if lang == "en" else "أم درمان")


def test_only_the_registered_phone_sees_send_a_community_alert(app, client, people):
    leader(LEADER, ["KH-OMD"])
    for number, shown in ((LEADER, True), (PHONE, False)):
        caller = UssdCaller(client, phone=number)
        open_menu(caller, "en")
        labels = offered(caller)
        assert say(app, "en", "menu.alerts") in labels
        assert (say(app, "en", "menu.leader") in labels) is shown


def test_a_crafted_path_from_another_phone_reaches_nothing(app, client, people):
    leader(LEADER, ["KH-OMD"], pin="4826")
    caller = UssdCaller(client)
    open_menu(caller, "en")
    count = len(offered(caller))
    caller.dial()
    caller.press(str(count + 1))  # the leader's entry number, typed by someone else
    assert say(app, "en", "nav.invalid") in caller.text and not caller.ended
    assert broadcasts() == []


def redis_contents() -> str:
    """Every key and value in the test's Redis db, as text.

    The PIN is looked for between characters that are not hex digits: a session id's
    hex (``ussd:ATUid_…``) holds any four digits now and then, and failed CI once.
    """
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    read = {"string": client.get, "hash": client.hgetall, "set": client.smembers,
            "list": lambda key: client.lrange(key, 0, -1),
            "zset": lambda key: client.zrange(key, 0, -1, withscores=True)}
    return repr({key: read[client.type(key)](key) for key in client.scan_iter()})


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_first_use_sets_a_pin_then_sends_a_template_alert(app, phone, people, lang):
    leader(LEADER, ["KH-OMD", "SD-GD"])
    open_menu(phone, lang)
    pick(phone, say(app, lang, "menu.leader"))
    assert phone.text.startswith(say(app, lang, "alerts.leader.pin_new"))
    phone.press("1234")
    phone.press("1234")
    assert phone.text.startswith(say(app, lang, "alerts.leader.pin_weak"))
    phone.press("4826")
    phone.press("4829")
    assert phone.text.startswith(say(app, lang, "alerts.leader.pin_differ"))
    phone.press("4826")
    phone.press("4826")
    assert not re.search(r"(?<![0-9a-f])4826(?![0-9a-f])", redis_contents())
    db.session.expire_all()
    stored = db.session.scalars(select(Leader)).one()
    assert stored.pin_hash.startswith("$argon2") and "4826" not in stored.pin_hash
    assert phone.text.startswith(say(app, lang, "alerts.leader.template"))
    confirm = closure_to_omdurman(app, phone, lang)
    area = "Omdurman" if lang == "en" else "أم درمان"
    arabic = alerttexts.render(app.extensions["hotline.catalog"], "ar",
                               app.extensions["hotline.alert_templates"]["closure"],
                               {"place": "Airport Rd", "day": "tomorrow"}, "أم درمان")
    assert sms_parts(arabic) == 2  # the Arabic text is the longer: that is the count shown
    assert confirm.startswith(say(app, lang, "alerts.leader.confirm", count="2", parts="2",
                                  area_name=area))
    assert broadcasts() == []  # nothing before the confirmation
    end = pick(phone, say(app, lang, "alerts.leader.send"))
    [made] = broadcasts()
    assert phone.ended and end == say(app, lang, "alerts.leader.sent", bref=f"A{made.id}")
    assert (made.template, made.areas, made.topic, made.urgent, made.recipients, made.status) \
        == ("closure", "KH-OMD", "safety", True, 2, "queued")
    assert made.fields == '{"day": "tomorrow", "place": "Airport Rd"}'


def test_the_end_of_a_leaders_session_keeps_no_pin(app, client, phone, people):
    """The gateway's end-of-session report carries every key pressed, the PIN too."""
    leader(LEADER, ["KH-OMD"], pin="4826")
    to_templates(app, phone, "en")
    closure_to_omdurman(app, phone, "en")
    response = client.post(f"/webhooks/at/ussd/events?token={TOKEN}", data={
        "sessionId": phone.session_id, "serviceCode": phone.service_code,
        "phoneNumber": phone.phone, "networkCode": phone.network, "status": "Incomplete",
        "hopsCount": str(len(phone.inputs) + 1), "input": "*".join(phone.inputs),
        "lastAppResponse": phone.body})
    assert response.status_code == 200
    db.session.expire_all()
    end = db.session.scalars(select(UssdSessionEnd)).one()
    assert "4826" in "*".join(phone.inputs)
    assert (end.input, end.last_app_response) == ("", "")


def test_the_same_confirmation_hop_repeated_or_replayed_sends_once(app, phone, people):
    leader(LEADER, ["KH-OMD"], pin="4826")
    to_templates(app, phone, "en")
    closure_to_omdurman(app, phone, "en")
    phone.press("1")
    first = phone.text
    for _ in range(2):
        phone.post("*".join(phone.inputs))
        assert phone.text == first
    redis.Redis.from_url(REDIS_URL).flushdb()
    phone.post("*".join(phone.inputs))  # rebuilt from the text path: the PIN checked again
    assert phone.text == first
    assert len(broadcasts()) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "broadcast_confirm")) == 1


def test_only_the_leaders_own_areas_are_offered_and_crafted_numbers_fail(app, phone, people):
    leader(LEADER, ["KH-OMD", "SD-GD"], pin="4826")
    to_templates(app, phone, "en")
    pick(phone, say(app, "en", "alerts.tpl.free_trips.title"))  # only the area to fill
    assert offered(phone) == ["Omdurman", "Gedaref"]
    phone.press("3")  # a third area does not exist
    assert say(app, "en", "nav.invalid") in phone.text
    phone.press("99")
    assert say(app, "en", "nav.invalid") in phone.text
    assert broadcasts() == []


def test_scope_is_checked_again_when_sending(app, phone, people):
    made = leader(LEADER, ["KH-OMD", "SD-GD"], pin="4826")
    to_templates(app, phone, "en")
    pick(phone, say(app, "en", "alerts.tpl.free_trips.title"))
    pick(phone, "Gedaref")
    leaders.update(made.id, made.name, ["KH-OMD"], 3, made.created_by_id)  # narrowed meanwhile
    phone.press("1")
    assert phone.ended and phone.text == say(app, "en", "alerts.leader.unavailable")
    assert broadcasts() == []


def test_nobody_subscribed_sends_nothing(app, phone, people):
    leader(LEADER, ["SD-DN"], pin="4826")
    to_templates(app, phone, "en")
    pick(phone, say(app, "en", "alerts.tpl.free_trips.title"))
    pick(phone, "North Darfur")
    assert phone.ended and phone.text == say(app, "en", "alerts.leader.nobody")
    assert broadcasts() == []


def test_the_daily_limit_stops_the_next_alert(app, client, people):
    leader(LEADER, ["KH-OMD"], limit=1, pin="4826")
    for expected in ("alerts.leader.sent", "alerts.leader.limit"):
        phone = UssdCaller(client, phone=LEADER)
        to_templates(app, phone, "en")
        pick(phone, say(app, "en", "alerts.tpl.free_trips.title"))
        pick(phone, "Omdurman")
        if not phone.ended:
            phone.press("1")
        assert phone.text.startswith(say(app, "en", expected).split("{")[0][:10])
    assert len(broadcasts()) == 1


def test_cancel_at_the_confirmation_sends_nothing(app, phone, people):
    leader(LEADER, ["KH-OMD"], pin="4826")
    to_templates(app, phone, "ar")
    pick(phone, say(app, "ar", "alerts.tpl.info_day.title"))
    pick(phone, say(app, "ar", "alerts.day.sun"))
    pick(phone, "أم درمان")
    end = pick(phone, say(app, "ar", "alerts.leader.cancel"))
    assert phone.ended and end == say(app, "ar", "alerts.leader.cancelled")
    assert broadcasts() == []


@pytest.mark.parametrize("typed", ["<script>", "{day}{area}", "Road\u202eX", "ab:cd//x",
                                   "طريق المطار"])
def test_place_with_characters_that_break_the_budget_or_inject_is_asked_again(
        app, phone, people, typed):
    leader(LEADER, ["KH-OMD"], pin="4826")
    to_templates(app, phone, "en")
    pick(phone, say(app, "en", "alerts.tpl.closure.title"))
    phone.press(typed)
    assert phone.text.startswith(say(app, "en", "alerts.leader.place_bad")) or \
        say(app, "en", "nav.invalid") in phone.text
    assert not phone.ended and broadcasts() == []


def test_three_wrong_pins_lock_for_thirty_minutes_and_tell_staff(app, client, people,
                                                                 monkeypatch):
    leader(LEADER, ["KH-OMD"], pin="4826")
    app.config["OUTBOX"] = {**app.config["OUTBOX"], "oncall_numbers": ["+249900000001"]}
    phone = UssdCaller(client, phone=LEADER)
    to_templates(app, phone, "en", pin="1111")
    assert phone.text.startswith(say(app, "en", "alerts.leader.pin_wrong"))
    phone.press("2222")
    phone.press("3333")
    assert phone.ended and phone.text == say(app, "en", "alerts.leader.locked")
    alarms = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "leader_pin_locked")).all()
    assert len(alarms) == 1 and LEADER not in alarms[0].detail
    [told] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "oncall"))
    assert told.recipient == "+249900000001" and "Amna Leader" in told.body
    assert LEADER not in told.body and told.priority == "reply"
    redis.Redis.from_url(REDIS_URL).flushdb()
    phone.post("*".join(phone.inputs))  # a replay counts nothing again
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "leader_pin_locked")) == 1
    again = UssdCaller(client, phone=LEADER)  # even the right PIN waits
    open_menu(again, "en")
    pick(again, say(app, "en", "menu.leader"))
    assert again.ended and again.text == say(app, "en", "alerts.leader.locked")
    later = leaders.now_utc() + timedelta(minutes=31)
    monkeypatch.setattr(leaders, "now_utc", lambda: later)
    after = UssdCaller(client, phone=LEADER)
    to_templates(app, after, "en")
    assert after.text.startswith(say(app, "en", "alerts.leader.template"))


def test_a_switched_off_leader_loses_the_entry(app, client, people):
    made = leader(LEADER, ["KH-OMD"], pin="4826")
    leaders.set_active(made.id, False, made.created_by_id)
    caller = UssdCaller(client, phone=LEADER)
    open_menu(caller, "en")
    assert say(app, "en", "menu.leader") not in offered(caller)
