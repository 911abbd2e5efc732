"""A caller's own controls by USSD: "My call request" (see it, cancel it), "Stop
everything" (the silent exit), and "not safe to call", which leaves no trace.

End to end through the webhook, on real PostgreSQL and Redis, in both languages.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import (
    CallbackEvent,
    CallbackRequest,
    ConsentEvent,
    Contact,
    Subscription,
    UssdSessionEnd,
)
from hotline.services import callback_policy, caller_requests, subscriptions, worklist
from tests.conftest import PHONE, REDIS_URL, TOKEN, UssdCaller

KRT = ZoneInfo("Africa/Khartoum")
SUNDAY_1000 = datetime(2026, 11, 29, 10, 0, tzinfo=KRT)
LANG = {"ar": "1", "en": "2"}
CALLBACK, MINE, STOP = "4", "5", "8"
DANGER, MEDICAL = "1", "2"


@pytest.fixture(autouse=True)
def sunday(monkeypatch):
    monkeypatch.setattr(callback_policy, "clock", lambda: SUNDAY_1000.astimezone(ZoneInfo("UTC")))


def render(app, lang, key, **values):
    return app.extensions["hotline.catalog"].render(lang, key, {**app.config["CENTRE"], **values})


def rows() -> list[CallbackRequest]:
    db.session.expire_all()
    return list(db.session.scalars(select(CallbackRequest).order_by(CallbackRequest.id)))


def timeline(request_id: int) -> list[tuple[str, str]]:
    return [(e.kind, e.detail) for e in db.session.scalars(
        select(CallbackEvent).where(CallbackEvent.request_id == request_id)
        .order_by(CallbackEvent.id))]


def home(ussd: UssdCaller, lang: str) -> str:
    screen = ussd.dial()
    if "English" in screen:
        screen = ussd.press(LANG[lang])
    return screen


def menu_item(ussd: UssdCaller, screen: str, number: str) -> str:
    """Press a main-menu number, turning the page first when it is on the next one."""
    if f"\n{number}. " not in f"\n{screen}":
        ussd.press("98")
    return ussd.press(number)


def ask_for_a_call(ussd: UssdCaller, lang: str, reason: str) -> str:
    screen = home(ussd, lang)
    menu_item(ussd, screen, CALLBACK)
    ussd.press(reason, "1", "2")  # safe any time, no SMS
    return ussd.press("1")  # send


def open_in_queue() -> list[str]:
    return [item.ref for item in worklist.list_queue().items]


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_danger_confirmation_says_what_to_do_in_danger_now(app, ussd, lang):
    end = ask_for_a_call(ussd, lang, DANGER)
    [row] = rows()
    assert ussd.ended and row.reason == "danger"
    assert app.config["CENTRE"]["centre_hotline"] in end  # the MRRC's number, on the END
    assert end == render(app, lang, f"callback.done.{'today'}", ref=row.ref, until="12:00")


def test_every_confirmation_shows_the_emergency_line(app):
    catalog = app.extensions["hotline.catalog"]
    for lang in catalog.languages:
        for key in (k for k in catalog.keys(lang) if k.startswith("callback.done.")):
            assert "{centre_hotline}" in catalog.text(lang, key), (lang, key)


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_my_call_request_shows_and_cancels_the_open_request(app, ussd, lang):
    ask_for_a_call(ussd, lang, MEDICAL)
    [row] = rows()
    assert open_in_queue() == [row.ref]
    screen = menu_item(ussd, home(ussd, lang), MINE)
    assert screen.startswith(render(app, lang, "callback.mine.tomorrow", ref=row.ref,
                                    until="10:00"))
    confirm = ussd.press("1")  # cancel this request
    assert render(app, lang, "callback.cancel.title", ref=row.ref) in confirm
    end = ussd.press("1")  # yes
    assert ussd.ended and end == render(app, lang, "callback.cancel.done", ref=row.ref)
    [row] = rows()
    assert row.status == "withdrawn" and row.next_attempt_at is None
    assert timeline(row.id)[-1] == ("withdrawn", "the caller cancelled it (USSD)")
    assert open_in_queue() == []  # nobody will call
    # and now there is nothing to show
    screen = menu_item(ussd, home(ussd, lang), MINE)
    assert screen.startswith(render(app, lang, "callback.mine.none"))


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_keeping_the_request_changes_nothing(app, ussd, lang):
    ask_for_a_call(ussd, lang, MEDICAL)
    menu_item(ussd, home(ussd, lang), MINE)
    ussd.press("1")
    menu = ussd.press("2")  # no, keep it: back to the main menu
    assert not ussd.ended and render(app, lang, "menu.callback") in menu
    [row] = rows()
    assert row.status == "open" and [k for k, _ in timeline(row.id)] == ["created"]


def test_a_caller_cannot_cancel_someone_elses_request(app, client):
    other = UssdCaller(client, phone="+249911222333")
    ask_for_a_call(other, "en", MEDICAL)
    [row] = rows()
    assert caller_requests.cancel_by_caller(PHONE, row.ref) is False
    assert rows()[0].status == "open"


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_stop_everything_withdraws_all_marks_the_number_and_names_nothing(app, ussd, lang):
    ask_for_a_call(ussd, lang, MEDICAL)
    ask_for_a_call(ussd, lang, DANGER)
    assert len(open_in_queue()) == 2
    screen = home(ussd, lang)
    confirm = menu_item(ussd, screen, STOP)
    assert confirm.startswith(render(app, lang, "menu.stop_confirm"))
    end = ussd.press("1")
    assert ussd.ended and end == render(app, lang, "menu.stopped")
    for word in ("MRRC", "IOM", "call", "request", "اتصال", "طلب", "المركز", "الهجرة"):
        assert word not in end
    assert open_in_queue() == []
    for row in rows():
        assert row.status == "withdrawn"
        assert timeline(row.id)[-1] == ("withdrawn", "the caller stopped everything (ussd)")
    contact = db.session.scalars(select(Contact)).one()
    assert contact.exited_at is not None
    # asking again later is the caller's own choice: it undoes the exit
    ask_for_a_call(ussd, lang, MEDICAL)
    db.session.refresh(contact)
    assert contact.exited_at is None and len(open_in_queue()) == 1


def test_stop_everything_also_ends_alert_subscriptions_once_in_the_ledger(app, ussd):
    subscriptions.subscribe(PHONE, "SD-KA", ["safety", "tips"], channel="sms", lang="en")
    subscriptions.subscribe(PHONE, "KH-OMD", ["safety"], channel="ussd", lang="en")
    db.session.commit()
    menu_item(ussd, home(ussd, "en"), STOP)
    ussd.press("1")
    ussd.post("*".join(ussd.inputs))  # the gateway repeats the hop
    redis.Redis.from_url(REDIS_URL).flushdb()  # the session is lost: it is replayed
    ussd.post("*".join(ussd.inputs))
    db.session.expire_all()
    assert db.session.scalars(select(Subscription)).all() == []
    withdrawn = [(e.action, e.channel, e.language) for e in db.session.scalars(
        select(ConsentEvent).where(ConsentEvent.action == "unsubscribe"))]
    assert withdrawn == [("unsubscribe", "exit", "en")]


def test_no_to_stop_everything_returns_to_the_menu(app, ussd):
    ask_for_a_call(ussd, "en", MEDICAL)
    menu_item(ussd, home(ussd, "en"), STOP)
    menu = ussd.press("2")
    assert not ussd.ended and "1. " in menu
    assert len(open_in_queue()) == 1
    assert db.session.scalars(select(Contact.exited_at)).one() is None


# --- "not safe to call" leaves no trace -----------------------------------------------------

def everything_in_redis() -> dict[bytes, bytes]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        found = {}
        for key in client.scan_iter(count=500):
            kind = client.type(key)
            found[key] = client.get(key) if kind == b"string" else repr(
                client.dump(key)).encode()
        return found
    finally:
        client.close()


def every_text_in_the_database() -> str:
    """Every row of every table, as text: what a person with database access could read."""
    dump = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                dump.append(f"{table.name}: {tuple(row)}")
    return "\n".join(dump)


def end_of_session(client, ussd: UssdCaller, status: str = "Incomplete") -> None:
    response = client.post(f"/webhooks/at/ussd/events?token={TOKEN}", data={
        "sessionId": ussd.session_id, "serviceCode": ussd.service_code,
        "phoneNumber": ussd.phone, "networkCode": ussd.network, "status": status,
        "hopsCount": str(len(ussd.inputs) + 1), "durationInMillis": "40000",
        "input": "*".join(ussd.inputs), "lastAppResponse": ussd.body,
        "date": "2026-11-29 08:00:40", "cost": "SDG 0.10"})
    assert response.status_code == 200


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_not_safe_to_call_leaves_no_trace_of_the_choice(app, client, ussd, lang):
    screen = home(ussd, lang)
    menu_item(ussd, screen, CALLBACK)
    ussd.press(DANGER)
    unsafe = ussd.press("3")  # not safe to call this number
    assert app.config["CENTRE"]["centre_hotline"] in unsafe
    assert everything_in_redis() == {}  # the session record is gone at once
    ussd.press("98")  # reads on: still nothing kept, the hop is rebuilt by replay
    assert everything_in_redis() == {}
    end_of_session(client, ussd)
    end = db.session.scalars(select(UssdSessionEnd)).one()
    assert (end.input, end.last_app_response) == ("", "")
    assert end.status == "Incomplete" and end.hops_count == len(ussd.inputs) + 1
    assert rows() == [] and db.session.scalars(select(CallbackEvent)).all() == []
    dump = every_text_in_the_database()
    path = "*".join(ussd.inputs)
    for trace in (path, "danger", "unsafe", render(app, lang, "callback.unsafe.text")[:12]):
        assert trace not in dump, trace
    assert everything_in_redis() == {}


def test_an_ordinary_session_keeps_its_path(app, client, ussd):
    """The control for the test above: the same notification for a topic read is kept."""
    menu_item(ussd, home(ussd, "en"), "1")
    ussd.press("1")
    assert everything_in_redis() != {}
    end_of_session(client, ussd)
    end = db.session.scalars(select(UssdSessionEnd)).one()
    assert end.input == "*".join(ussd.inputs) and end.last_app_response == ussd.body
