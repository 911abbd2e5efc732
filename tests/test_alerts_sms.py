"""Alerts by SMS: JOIN / اشتراك with an area, STOP and the silent exit, in the ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import ConsentEvent, Contact, Subscription
from hotline.services import subscriptions
from tests.conftest import PHONE
from tests.smskit import Texter


@pytest.fixture()
def phone(client) -> Texter:
    return Texter(client)


def subs() -> list[tuple[str, str]]:
    db.session.expire_all()
    return sorted(db.session.execute(select(Subscription.area_code, Subscription.topic)).all())


def ledger() -> list[tuple[str, str, str]]:
    db.session.expire_all()
    return [(e.action, e.channel, e.area_code) for e in
            db.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))]


def say(app, lang: str, key: str, **values: str) -> str:
    return app.extensions["hotline.catalog"].render(lang, key, values)


@pytest.mark.parametrize(("text", "lang", "area", "name"), [
    ("JOIN Omdurman", "en", "KH-OMD", "Omdurman"),
    ("join omdurman!", "en", "KH-OMD", "Omdurman"),
    ("Subscribe Khartoum North (Bahri)", "en", "KH-BHR", "Khartoum North (Bahri)"),
    ("JOIN 2", "en", "SD-GD", "Gedaref"),  # the number of the state in the USSD list
    ("اشتراك أم درمان", "ar", "KH-OMD", "أم درمان"),
    ("اشترك ام درمان", "ar", "KH-OMD", "أم درمان"),  # hamza left out
    ("إشتراك كسلا", "ar", "SD-KA", "كسلا"),  # hamza added
    ("اشتراك ٣", "ar", "SD-KA", "كسلا"),  # Eastern Arabic digit
])
def test_join_with_an_area_subscribes_to_every_topic_and_says_how_to_stop(
        app, phone, text, lang, area, name):
    reply = phone.say(text)
    assert reply == say(app, lang, "alerts.sms.joined", area_name=name)
    assert subs() == [(area, "safety"), (area, "services"), (area, "tips")]
    assert ledger() == [("subscribe", "sms", area)]
    event = db.session.scalars(select(ConsentEvent)).one()
    assert event.language == lang and event.text_version.startswith(f"{lang}:")


@pytest.mark.parametrize(("text", "lang"), [("JOIN", "en"), ("JOIN Atlantis", "en"),
                                            ("اشتراك", "ar"), ("JOIN 99", "en"),
                                            ("JOIN <script>", "en")])
def test_join_without_a_known_area_explains_and_subscribes_nothing(app, phone, text, lang):
    assert phone.say(text) == say(app, lang, "alerts.sms.join_help")
    assert subs() == [] and ledger() == []


def test_the_same_text_delivered_twice_is_one_consent(app, phone):
    assert phone.send("JOIN Kassala", provider_id="ATXid_same") == 200
    assert phone.send("JOIN Kassala", provider_id="ATXid_same") == 200
    assert len(ledger()) == 1 and len(phone.replies()) == 1


def test_stop_removes_subscriptions_and_is_recorded(app, phone):
    phone.say("JOIN Kassala")
    phone.say("STOP")
    assert subs() == []
    assert ledger() == [("subscribe", "sms", "SD-KA"), ("unsubscribe", "sms", "")]
    contact = db.session.scalars(select(Contact)).one()
    assert contact.opted_out_at is not None
    phone.say("JOIN Kassala")  # asking again is consent again
    db.session.expire_all()
    assert contact.opted_out_at is None and len(subs()) == 3


def test_the_silent_exit_removes_everything_and_answers_nothing(app, phone):
    phone.say("JOIN Kassala")
    subscriptions.subscribe(PHONE, "KH-OMD", ["safety"], channel="ussd", lang="en")
    db.session.commit()
    assert phone.say("EXIT") is None
    assert subs() == [] and ledger()[-1] == ("unsubscribe", "exit", "")
