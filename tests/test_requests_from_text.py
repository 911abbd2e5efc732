"""Staff turn a caller's text into a callback request (``POST /staff/inbox/<id>/request``):
a new request with the text on its timeline, or the text added to the request the
caller opened since; and what staff then read on the request page.

Written against the survivors of issue 14's mutation run (``request_from_text``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from hotline.extensions import db
from hotline.models import CallbackRequest, InboundSms
from hotline.services import callback_policy, caller_requests
from tests.smskit import Texter
from tests.staffkit import EN_PHONE, Staff, make_request, make_user, quick_hashing

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)  # a Sunday morning in Khartoum
FRIDAY_EVENING = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # 18:00 in Khartoum, a day off
EVENT = re.compile(r'<li class="event event-([\w-]+)">(.*?)</li>', re.S)


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


@pytest.fixture()
def ana(app) -> Staff:
    make_user("ana@example.org", name="Ana")
    return Staff(app, "ana@example.org")


def texted(client, text: str, phone: str = EN_PHONE) -> int:
    """The caller texts staff; the text waits in the inbox (the caller had no open request)."""
    assert Texter(client, phone=phone).send(text) == 200
    db.session.expire_all()
    row = db.session.scalars(sa.select(InboundSms).order_by(InboundSms.id.desc())).first()
    assert (row.kind, row.status) == ("staff", "new")
    return row.id


def to_request(ana: Staff, message_id: int) -> int:
    response = ana.post(f"/staff/inbox/{message_id}/request", page=f"/staff/inbox/{message_id}")
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def timeline(ana: Staff, request_id: int) -> list[tuple[str, str]]:
    """The request's own timeline as staff read it: (kind, visible text) per line."""
    html = ana.html(f"/staff/requests/{request_id}")
    own = html[html.index('id="timeline-h"'):html.index('id="history-h"')]
    return [(kind, " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"<time>.*?</time>", "", body))
                            .split())) for kind, body in EVENT.findall(own)]


def requests() -> list[CallbackRequest]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(CallbackRequest).order_by(CallbackRequest.id)))


def test_a_new_request_from_a_text_says_who_made_it_from_what(client, ana):
    """A returning caller: the new request names the earlier (closed) one, and both
    timeline lines staff added say so, by name; the text itself is on it to read."""
    earlier = caller_requests.submit(EN_PHONE, reason="medical", safe_to_call="yes",
                                     language="en", now=T0)
    assert caller_requests.cancel_by_caller(EN_PHONE, earlier.ref, now=T0)
    message_id = texted(client, "please call me about my papers")
    request_id = to_request(ana, message_id)
    assert [r.id for r in requests() if r.status == "open"] == [request_id]
    assert timeline(ana, request_id) == [
        ("created", "Request received from a text message by Ana"),
        ("linked", f"Follows an earlier request Earlier request {earlier.ref}"),
        ("sms", "Text from the caller text message from the caller by Ana "
                "please call me about my papers"),
    ]


def test_a_text_goes_on_the_request_the_caller_opened_since(client, ana):
    """The caller texted, then asked for a call by USSD: staff converting the text add
    it to that request; no second request, no second "Request received"."""
    message_id = texted(client, "I can talk after 5")
    request_id = make_request(EN_PHONE, reason="medical")
    assert to_request(ana, message_id) == request_id
    assert len(requests()) == 1
    assert timeline(ana, request_id) == [
        ("created", "Request received USSD · Medical help"),
        ("sms", "Text from the caller text message from the caller by Ana I can talk after 5"),
    ]


@pytest.mark.parametrize(("first", "second", "chosen"), [
    ("medical", "danger", 1),  # the urgent one, though newer
    ("counselling", "medical", 0),  # equally urgent: the older one
])
def test_with_two_open_requests_the_text_goes_on_the_one_called_first(client, ana, first,
                                                                       second, chosen):
    message_id = texted(client, "are you still calling me?")
    made = [make_request(EN_PHONE, reason=first, now=T0),
            make_request(EN_PHONE, reason=second, now=T0 + timedelta(hours=1))]
    assert to_request(ana, message_id) == made[chosen]
    assert [kind for kind, _ in timeline(ana, made[chosen])][-1] == "sms"
    assert "sms" not in [kind for kind, _ in timeline(ana, made[1 - chosen])]


def test_a_request_made_from_a_text_on_a_day_off_waits_for_working_hours(client, ana,
                                                                         monkeypatch):
    """Nobody rang: the request shows no missed call, and it is not "callable now" on a
    Friday evening but waits for Sunday morning, as the worklist orders it."""
    monkeypatch.setattr(callback_policy, "clock", lambda: FRIDAY_EVENING)
    request_id = to_request(ana, texted(client, "call me on Sunday"))
    html = ana.html(f"/staff/requests/{request_id}")
    assert "Working hours start at 29 Nov 08:00" in html
    assert "<dt>Channel</dt><dd>SMS</dd>" in html  # no "(1 missed call)" after it
    [row] = requests()
    assert (row.rings, row.last_ring_at, row.channel, row.reason) == (0, None, "sms", "unknown")


def details(html: str) -> str:
    """The request page's details list and its opening hint, as staff read them."""
    own = html[html.index('<dl'):html.index('</dl>')]
    hint = html[html.index('id="opening"'):] if 'id="opening"' in html else ""
    hint = hint[:hint.index("</p>")] if hint else ""
    return " ".join(re.sub(r"<[^>]+>", " ", own + " " + hint).split())


@pytest.mark.parametrize(("lang", "words"), [
    ("en", ("Not said yet", "Not asked yet", "Nobody has asked this caller whether this "
            "phone is safe.", "missed call", "only rang")),
    ("ar", ("لم يُذكر بعد", "لم يُسأل بعد", "لم يسأل أحدٌ هذا المتصلَ إن كان هذا الهاتف آمنًا.",
            "مكالمة فائتة", "اكتفى برنّة")),
])
def test_a_request_made_from_a_text_never_says_the_caller_only_rang(client, ana, lang, words):
    """Nobody asked a texter the reason or whether the phone is safe, as nobody asks a
    missed caller; but the page must not tell staff the caller only rang."""
    said, asked, hint, missed, rang = words
    request_id = to_request(ana, texted(client, "please call me"))
    ana.post("/staff/language", {"language": lang})
    assert ana.claim(request_id).status_code == 303
    shown = details(ana.html(f"/staff/requests/{request_id}"))
    assert said in shown and asked in shown and hint in shown
    assert missed not in shown and rang not in shown


@pytest.mark.parametrize(("lang", "rang"), [
    ("en", "This caller only rang: nobody has asked whether this phone is safe."),
    ("ar", "هذا المتصل اكتفى برنّة: لم يسأله أحد إن كان هذا الهاتف آمنًا."),
])
def test_a_missed_call_request_tells_staff_the_caller_only_rang(ana, lang, rang):
    request_id = caller_requests.record_ring(EN_PHONE, now=datetime.now(UTC)).request_id
    ana.post("/staff/language", {"language": lang})
    assert ana.claim(request_id).status_code == 303
    shown = details(ana.html(f"/staff/requests/{request_id}"))
    assert rang in shown
