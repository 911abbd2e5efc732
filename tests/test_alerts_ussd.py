"""Getting and stopping alerts by USSD, in both languages, with the consent ledger."""

from __future__ import annotations

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import ConsentEvent, Contact, Subscription
from hotline.services import subscriptions
from tests.alertkit import open_menu, pick, say
from tests.conftest import PHONE, REDIS_URL


def subs() -> list[tuple[str, str]]:
    db.session.expire_all()
    return sorted(db.session.execute(select(Subscription.area_code, Subscription.topic)).all())


def ledger() -> list[ConsentEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))


def get_alerts(app, ussd, lang: str) -> None:
    open_menu(ussd, lang)
    pick(ussd, say(app, lang, "menu.alerts"))
    pick(ussd, say(app, lang, "alerts.get.join"))


def agree(app, ussd, lang: str) -> str:
    """Read the consent pages to the end and agree."""
    return pick(ussd, say(app, lang, "alerts.consent.yes"))


def test_english_subscription_says_what_how_often_and_how_to_stop(app, ussd):
    get_alerts(app, ussd, "en")
    assert say(app, "en", "alerts.area.title") in ussd.text
    assert "1. Khartoum" in ussd.text  # where most migrants live comes first
    pick(ussd, "Gedaref")  # a state without localities goes straight to topics
    pick(ussd, say(app, "en", "alerts.topics.all"))
    pages = [ussd.text]
    while "98 " in ussd.text:
        pages.append(ussd.press("98"))
    consent = "\n".join(pages)
    assert "free SMS alerts for Gedaref" in consent
    assert "At most 2 a day" in consent and "STOP" in consent
    assert not subs() and not ledger()  # nothing stored before the yes
    end = agree(app, ussd, "en")
    assert ussd.ended and end == say(app, "en", "alerts.subscribed", area_name="Gedaref")
    assert subs() == [("SD-GD", "safety"), ("SD-GD", "services"), ("SD-GD", "tips")]
    [event] = ledger()
    assert (event.action, event.area_code, event.topics, event.channel, event.language) == \
        ("subscribe", "SD-GD", "safety,services,tips", "ussd", "en")
    assert event.text_version.startswith("en:") and len(event.text_version) == 15


def test_arabic_subscription_to_a_part_of_khartoum(app, ussd):
    get_alerts(app, ussd, "ar")
    pick(ussd, "الخرطوم")
    assert say(app, "ar", "alerts.area.locality") in ussd.text
    assert "1. كل الخرطوم" in ussd.text
    pick(ussd, "أم درمان")
    pick(ussd, say(app, "ar", "alerts.topics.safety"))
    agree(app, ussd, "ar")
    assert ussd.text == say(app, "ar", "alerts.subscribed", area_name="أم درمان")
    assert subs() == [("KH-OMD", "safety")]
    assert ledger()[0].text_version.startswith("ar:")


def test_the_same_hop_again_or_a_replay_records_the_consent_once(app, ussd):
    get_alerts(app, ussd, "en")
    pick(ussd, "Kassala")
    pick(ussd, say(app, "en", "alerts.topics.tips"))
    agree(app, ussd, "en")
    ussd.post("*".join(ussd.inputs))  # the gateway repeats the last hop
    redis.Redis.from_url(REDIS_URL).flushdb()  # the session is lost: it is replayed
    ussd.post("*".join(ussd.inputs))
    assert ussd.ended and len(ledger()) == 1 and subs() == [("SD-KA", "tips")]


def test_declining_stores_nothing(app, ussd):
    get_alerts(app, ussd, "en")
    pick(ussd, "Kassala")
    pick(ussd, say(app, "en", "alerts.topics.tips"))
    pick(ussd, say(app, "en", "alerts.consent.no"))
    assert ussd.ended and not subs() and not ledger()


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_stop_by_ussd_removes_every_subscription_and_keeps_the_ledger(app, ussd, lang):
    subscriptions.subscribe(PHONE, "SD-GD", ["safety"], channel="sms", lang=lang)
    subscriptions.subscribe(PHONE, "KH-OMD", ["tips"], channel="ussd", lang=lang)
    db.session.commit()
    open_menu(ussd, lang)
    pick(ussd, say(app, lang, "menu.alerts"))
    pick(ussd, say(app, lang, "alerts.get.stop"))
    end = pick(ussd, say(app, lang, "alerts.stop.yes"))
    assert ussd.ended and end == say(app, lang, "alerts.stopped")
    assert subs() == []
    assert [(e.action, e.channel) for e in ledger()] == \
        [("subscribe", "sms"), ("subscribe", "ussd"), ("unsubscribe", "ussd")]


def test_stop_from_someone_never_subscribed_answers_the_same(app, ussd):
    open_menu(ussd, "en")
    pick(ussd, say(app, "en", "menu.alerts"))
    pick(ussd, say(app, "en", "alerts.get.stop"))
    pick(ussd, say(app, "en", "alerts.stop.yes"))
    assert ussd.ended and ussd.text == say(app, "en", "alerts.stopped")


def test_the_ledger_cannot_be_rewritten(app):
    subscriptions.subscribe(PHONE, "SD-GD", ["safety"], channel="ussd", lang="en")
    db.session.commit()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.update(ConsentEvent).values(action="unsubscribe"))
        db.session.flush()
    db.session.rollback()
    assert ledger()[0].action == "subscribe"


def test_subscribing_to_an_unknown_area_or_topic_is_refused(app):
    for area, topics in (("XX-YY", ["safety"]), ("SD-GD", ["bitcoin"]), ("SD-GD", [])):
        with pytest.raises(subscriptions.SubscriptionError):
            subscriptions.subscribe(PHONE, area, topics, channel="ussd", lang="en")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_a_state_subscriber_hears_alerts_for_its_localities_once(app):
    subscriptions.subscribe(PHONE, "SD-KH", ["safety"], channel="ussd", lang="en")
    subscriptions.subscribe(PHONE, "KH-OMD", ["safety"], channel="ussd", lang="en")
    subscriptions.subscribe("+249911111111", "KH-BHR", ["safety"], channel="ussd", lang="en")
    subscriptions.subscribe("+249922222222", "KH-OMD", ["safety"], channel="ussd", lang="en",)
    db.session.commit()
    assert subscriptions.count_reachable(["KH-OMD"], "safety") == 2  # PHONE once
    assert subscriptions.count_reachable(["SD-KH"], "safety") == 3
    assert subscriptions.count_reachable(["KH-OMD", "KH-BHR"], "safety") == 3
    assert subscriptions.count_reachable(["KH-OMD"], "tips") == 0
