"""Topic copies from USSD, only after the caller says a text is safe; callback
confirmations only where the caller allowed an SMS, naming neither IOM nor the reason."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hotline.extensions import db
from hotline.models import OutboxMessage
from tests.conftest import PHONE

LANG_CHOICE = {"ar": "1", "en": "2"}


def queued(kind: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)))


def last_screen_of_topic(ussd, lang: str, topic: int) -> str:
    """Dial, open the topic and page to its end; the copy is offered as the last option."""
    if "English" in ussd.dial():
        ussd.press(LANG_CHOICE[lang])
    screen = ussd.press("1", str(topic))  # awareness, the topic
    while "98 " in screen:
        screen = ussd.press("98")
    return screen


@pytest.mark.parametrize(("lang", "offer"), [("en", "Send this by SMS"), ("ar", "أرسلها")])
def test_every_topic_offers_a_copy_on_its_last_screen(ussd, lang, offer):
    for topic in range(1, 10):
        screen = last_screen_of_topic(ussd, lang, topic)
        assert screen.splitlines()[-2].endswith(f". {offer}"), (topic, screen)


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_a_copy_is_sent_only_after_the_caller_says_a_text_is_safe(app, ussd, lang):
    last_screen_of_topic(ussd, lang, 3)
    question = ussd.press("2")  # sea: 1 request a call, 2 send this by SMS
    assert not ussd.ended and "1." in question
    assert queued("topic_copy") == []  # asking sends nothing
    done = ussd.press("1")
    assert ussd.ended
    assert done == app.extensions["hotline.catalog"].render(lang, "sendcopy.sent")
    [copy] = queued("topic_copy")
    assert copy.recipient == PHONE and copy.language == lang and copy.priority == "reply"
    assert copy.body == app.extensions["hotline.catalog"].render(
        lang, "sms.awareness.sea", app.config["CENTRE"])


def test_no_copy_when_a_text_is_not_safe(ussd):
    last_screen_of_topic(ussd, "en", 1)
    ussd.press("2")  # smugglers: the offer is option 2
    assert ussd.press("2").startswith("Nothing was sent")
    assert queued("topic_copy") == []


def test_a_replayed_session_queues_the_copy_once(app, ussd):
    last_screen_of_topic(ussd, "en", 1)
    ussd.press("2", "1")
    app.extensions["hotline.store"].delete(f"ussd:{ussd.session_id}")  # Redis lost it
    ussd.post("*".join(ussd.inputs))  # the gateway repeats the hop: the session replays
    assert len(queued("topic_copy")) == 1


def callback_request(ussd, sms: str) -> None:
    if "English" in ussd.dial():
        ussd.press(LANG_CHOICE["en"])
    ussd.press("4", "1", "1", sms, "1")  # callback, danger, any time, SMS yes/no, send
    assert ussd.ended


def test_a_callback_confirmation_goes_only_where_the_caller_allowed_it(ussd):
    callback_request(ussd, sms="1")
    [confirmation] = queued("confirmation")
    assert confirmation.recipient == PHONE and confirmation.callback_request_id is not None
    body = confirmation.body.lower()
    for word in ("iom", "mrrc", "danger", "traffick", "kidnap", "migrat"):
        assert word not in body


def test_no_confirmation_when_the_caller_said_no(ussd):
    callback_request(ussd, sms="2")
    assert queued("confirmation") == []


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_every_service_offers_its_copy_and_sends_it_after_the_question(app, ussd, lang):
    catalog = app.extensions["hotline.catalog"]
    offer = catalog.render(lang, "sendcopy.offer")
    for service in range(1, 8):  # the six services and the centre's details
        if "English" in ussd.dial():
            ussd.press(LANG_CHOICE[lang])
        screen = ussd.press("2", str(service))
        while "98 " in screen:
            screen = ussd.press("98")
        last = screen.splitlines()[-2]
        assert last.endswith(f". {offer}"), (service, screen)
        ussd.press(last.split(".")[0], "1")
        assert ussd.ended
    copies = queued("topic_copy")
    assert len(copies) == 7
    assert copies[-1].body == catalog.render(lang, "sms.services.centre", app.config["CENTRE"])
    for copy in copies:  # neutral: the phone may be read by someone else
        for word in ("MRRC", "IOM", "traffick", "الاتجار", "المنظمة"):
            assert word not in copy.body
