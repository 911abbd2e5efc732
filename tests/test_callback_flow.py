"""The USSD callback request, end to end through the webhook, in both languages."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import CallbackEvent, CallbackRequest, Contact
from hotline.services import callback_policy, caller_requests
from hotline.textcodec import measure
from tests.conftest import DATABASE_URL, PHONE, REDIS_URL, UssdCaller

KRT = ZoneInfo("Africa/Khartoum")
THURSDAY_1430 = datetime(2026, 11, 26, 14, 30, tzinfo=KRT)
SUNDAY_1000 = datetime(2026, 11, 29, 10, 0, tzinfo=KRT)
LANG_CHOICE = {"ar": "1", "en": "2"}
MENU_CALLBACK = "4"
CONSENT = {"en": "We keep your number only to call you back", "ar": "نحفظ رقمك لنتصل بك فقط"}
POLICE = {"en": "Police", "ar": "الشرطة"}


@pytest.fixture()
def at(monkeypatch):
    """Stand the service clock at a given moment."""

    def set_time(moment: datetime) -> None:
        monkeypatch.setattr(callback_policy, "clock", lambda: moment.astimezone(ZoneInfo("UTC")))

    return set_time


def render(app, lang, key, **values):
    return app.extensions["hotline.catalog"].render(lang, key, {**app.config["CENTRE"], **values})


def requests() -> list[CallbackRequest]:
    db.session.expire_all()
    return list(db.session.scalars(select(CallbackRequest).order_by(CallbackRequest.id)))


def events(kind: str | None = None) -> int:
    query = select(func.count()).select_from(CallbackEvent)
    if kind:
        query = query.where(CallbackEvent.kind == kind)
    return db.session.scalar(query)


def start(ussd: UssdCaller, lang: str) -> str:
    """Dial and open the callback flow; a new caller first picks a language."""
    if "English" in ussd.dial():
        ussd.press(LANG_CHOICE[lang])
    return ussd.press(MENU_CALLBACK)


def fits(screen: str) -> bool:
    cost = measure(screen)
    return cost.units <= (160 if cost.encoding == "GSM-7" else 70)


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_urgent_request_on_thursday_afternoon_promises_sunday_morning(app, ussd, at, lang):
    at(THURSDAY_1430)
    screen = start(ussd, lang)
    assert screen.startswith(render(app, lang, "callback.reason.title"))
    assert f"1. {render(app, lang, 'callback.reason.danger')}" in screen
    seen = [screen]
    for choice in ("1", "1", "1"):  # danger, safe any time, SMS allowed
        seen.append(ussd.press(choice))
        assert not ussd.ended
    assert render(app, lang, "callback.confirm.title") in seen[-1]
    # consent where the number is collected: what it is kept for, before sending
    assert CONSENT[lang] in seen[-1]
    end = ussd.press("1")
    assert ussd.ended
    [row] = requests()
    assert end == render(app, lang, "callback.done.sun", ref=row.ref, until="09:30")
    assert all(fits(s) for s in [*seen, end])
    assert (row.reason, row.priority, row.channel, row.language, row.status) == \
        ("danger", 0, "ussd", lang, "open")
    assert (row.safe_to_call, row.safe_times, row.sms_ok) == ("yes", "", True)
    assert row.deadline_at == datetime(2026, 11, 29, 9, 30, tzinfo=KRT)
    assert row.contact.phone == PHONE
    assert len(row.ref) == 7 and not set(row.ref) & set("01OI")
    # the SMS text is written now, neutral: the reference only, no reason, no name
    assert row.sms_confirmation == render(app, lang, "sms.callback.confirm", ref=row.ref)
    for word in ("danger", "exploit", "MRRC", "IOM", "خطر", "استغلال", "الهجرة"):
        assert word not in row.sms_confirmation
    # ... and, like every confirmation, the line for when it cannot wait: the MRRC's
    # number first, then the police, labelled
    centre, police = (app.config["CENTRE"][k] for k in ("centre_hotline", "police_number"))
    text = row.sms_confirmation
    label = text.index(POLICE[lang])
    # searched from the label on: the reference itself may hold the police number's digits
    assert text.index(centre) < label < text.index(police, label)
    assert events("created") == 1


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_only_in_the_evening_and_no_sms(app, ussd, at, lang):
    at(SUNDAY_1000)
    start(ussd, lang)
    ussd.press("2")  # medical
    times = ussd.press("2")  # only at certain times
    # the label shows the window's hours from config [callbacks.windows] (15:00-18:00)
    assert render(app, lang, "callback.times.evening", hours="3-6") in times
    ussd.press("3")  # evening
    ussd.press("2")  # no SMS
    end = ussd.press("1")
    [row] = requests()
    # one working day of the caller's window (15:00-18:00) from Sunday 10:00
    assert end == render(app, lang, "callback.done.today", ref=row.ref, until="18:00")
    assert (row.reason, row.priority, row.safe_to_call, row.safe_times) == \
        ("medical", 1, "times", "evening")
    assert row.sms_ok is False and row.sms_confirmation is None
    assert row.next_attempt_at == datetime(2026, 11, 29, 15, 0, tzinfo=KRT)


@pytest.mark.parametrize(("lang", "reason", "choice"), [
    ("en", "counselling", "3"), ("ar", "avrr", "4"), ("en", "info", "5"),
    ("ar", "resettlement", "6"), ("en", "other", "7")])
def test_every_reason_is_stored(app, ussd, at, lang, reason, choice):
    at(SUNDAY_1000)
    start(ussd, lang)
    ussd.press(choice, "1", "2")
    end = ussd.press("1")
    [row] = requests()
    assert (row.reason, row.priority) == (reason, 1)
    assert end == render(app, lang, "callback.done.tomorrow", ref=row.ref, until="10:00")


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_not_safe_to_call_stores_nothing_and_shows_other_ways(app, ussd, lang):
    start(ussd, lang)
    ussd.press("1")
    screen = ussd.press("3")  # not safe to call this number
    assert not ussd.ended
    # the MRRC's number on this very screen, not four screens away
    assert screen.startswith(render(app, lang, "callback.unsafe.text"))
    assert app.config["CENTRE"]["centre_hotline"] in screen
    seen = [screen]
    while render(app, lang, "callback.unsafe.centre") not in seen[-1]:
        seen.append(ussd.press("98"))
    # then the police, labelled as such, after the MRRC
    shown = "\n".join(seen)
    assert render(app, lang, "callback.unsafe.emergency") in shown
    assert shown.index(app.config["CENTRE"]["centre_hotline"]) < \
        shown.index(app.config["CENTRE"]["police_number"])
    address = ussd.press("1")
    assert render(app, lang, "services.centre.phone").split()[0] in address
    assert requests() == []


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_cancel_stores_nothing(app, ussd, lang):
    start(ussd, lang)
    ussd.press("1", "1", "1")
    end = ussd.press("2")
    assert ussd.ended and end == render(app, lang, "callback.cancelled")
    # it says the request was not sent (review §2.1: «لم نرسل شيئا» read as "we sent nothing")
    assert {"en": "request was not sent", "ar": "لم نرسل طلبك"}[lang] in end
    assert requests() == []


def test_end_screens_promise_no_sms(app):
    catalog = app.extensions["hotline.catalog"]
    for lang in catalog.languages:
        for key in catalog.keys(lang):
            if key.startswith("callback.done.") or key == "callback.cancelled":
                text = catalog.text(lang, key).lower()
                assert "sms" not in text and "text message" not in text and "رسالة" not in text


def test_end_screens_fit_one_screen_with_the_longest_values(engine):
    for node in [n for n in engine.graph.nodes if n.startswith("callback.done_")]:
        for lang in engine.catalog.languages:
            pages = engine.pages(node, lang, {"ref": "9" * 9, "until": "23:59"})
            assert len(pages) == 1, (node, lang)
            assert fits(pages[0]), (node, lang)


def test_arabic_main_menu_shows_the_callback_entry_on_its_first_screen(app, ussd):
    ussd.dial()
    ussd.press("1")
    menu = ussd.dial()  # a returning caller starts at the main menu
    assert f"{MENU_CALLBACK}. {render(app, 'ar', 'menu.callback')}" in menu
    assert f"5. {render(app, 'ar', 'menu.mine')}" in menu
    assert fits(menu) and menu.endswith(render(app, "ar", "nav.more"))


def test_invalid_choice_repeats_the_screen_with_a_hint(app, ussd):
    start(ussd, "en")
    screen = ussd.press("9")
    assert screen.startswith(render(app, "en", "nav.invalid"))
    assert requests() == []


def test_going_back_from_times_to_any_time_forgets_the_window(app, ussd, at):
    at(SUNDAY_1000)
    start(ussd, "en")
    ussd.press("2", "2", "1")  # medical, certain times, morning
    ussd.press("0")  # back to the times menu
    ussd.press("0")  # back to the safety question
    ussd.press("1", "1", "1")  # any time, SMS, send
    [row] = requests()
    assert (row.safe_to_call, row.safe_times) == ("yes", "")


# --- idempotency -----------------------------------------------------------------------------

def test_repeated_final_hop_creates_one_request(app, ussd, at):
    at(SUNDAY_1000)
    start(ussd, "en")
    ussd.press("1", "1", "1")
    first = ussd.press("1")
    again = ussd.post("*".join(ussd.inputs))  # the gateway repeats the hop
    assert again == first
    assert len(requests()) == 1 and events() == 1


def test_replay_after_redis_loss_mid_flow_and_after_the_end(app, ussd, at):
    at(SUNDAY_1000)
    store = redis.Redis.from_url(REDIS_URL)
    start(ussd, "ar")
    ussd.press("1", "2")
    store.delete(f"ussd:{ussd.session_id}")  # Redis restarted mid-flow
    ussd.press("1", "1")
    end = ussd.press("1")
    [row] = requests()
    assert row.ref in end and row.safe_times == "morning"
    store.delete(f"ussd:{ussd.session_id}")  # lost again; the hop is retried
    assert ussd.post("*".join(ussd.inputs)) == end  # replay runs the action again: same ref
    assert len(requests()) == 1 and events() == 1
    store.close()


def test_second_request_for_the_same_reason_updates_the_open_one(app, ussd, at):
    at(SUNDAY_1000)
    start(ussd, "en")
    ussd.press("2", "1", "1")
    first = ussd.press("1")
    [row] = requests()
    at(datetime(2026, 11, 29, 11, 0, tzinfo=KRT))
    start(ussd, "en")  # a new session, the same caller
    ussd.press("2", "2", "2", "2")  # medical again, now only in the afternoon, no SMS
    second = ussd.press("1")
    [again] = requests()
    assert again.id == row.id and again.ref in first and again.ref in second
    assert (again.safe_to_call, again.safe_times, again.sms_ok) == ("times", "afternoon", False)
    assert again.sms_confirmation is None
    assert again.created_at == datetime(2026, 11, 29, 10, 0, tzinfo=KRT)  # keeps its place
    assert events("created") == 1 and events("updated") == 1
    start(ussd, "en")
    ussd.press("3", "1", "1", "1")  # another reason is another request
    assert [r.reason for r in requests()] == ["medical", "counselling"]


def test_ussd_request_completes_an_open_missed_call(app, ussd, at):
    at(SUNDAY_1000)
    ring = caller_requests.record_ring(PHONE)
    db.session.commit()
    start(ussd, "en")
    ussd.press("1", "1", "2")
    end = ussd.press("1")
    [row] = requests()
    assert row.id == ring.request_id and row.ref in end
    assert (row.reason, row.priority, row.channel, row.safe_to_call) == \
        ("danger", 0, "missed_call", "yes")
    assert events("details") == 1


def test_request_is_committed_before_the_end_reply(app, ussd, at):
    at(SUNDAY_1000)
    start(ussd, "en")
    ussd.press("1", "1", "1")
    end = ussd.press("1")
    other = sa.create_engine(DATABASE_URL)  # another connection, as another process would
    with other.connect() as conn:
        refs = conn.execute(sa.text("SELECT ref FROM callback_requests")).scalars().all()
    other.dispose()
    assert len(refs) == 1 and refs[0] in end


def test_a_failed_store_is_never_confirmed(app, ussd, at):
    at(SUNDAY_1000)
    start(ussd, "en")
    ussd.press("1", "1", "1")
    other = sa.create_engine(DATABASE_URL)
    with other.begin() as conn:  # the table disappears under the running service
        conn.execute(sa.text("ALTER TABLE callback_requests RENAME TO callback_requests_away"))
    try:
        end = ussd.press("1")
    finally:
        with other.begin() as conn:
            conn.execute(sa.text("ALTER TABLE callback_requests_away RENAME TO callback_requests"))
        other.dispose()
    assert ussd.ended
    assert render(app, "en", "error.unavailable") in end
    assert "reference" not in end.lower()
    assert requests() == []


def test_contact_language_follows_the_session(app, ussd, at):
    at(SUNDAY_1000)
    start(ussd, "ar")
    ussd.press("1", "1", "1", "1")
    contact = db.session.scalars(select(Contact)).one()
    assert contact.language == "ar" and requests()[0].language == "ar"


@pytest.mark.parametrize(("lang", "word"), [("ar", "عصرا"), ("en", "Late afternoon")])
def test_window_labels_show_the_configured_hours(app, make_app, at, lang, word):
    """Move the late window to 16:00-18:30: the label says so, and the call is scheduled so."""
    app = make_app(CALLBACKS={"windows": {"morning": "08:00-12:00", "afternoon": "12:00-15:00",
                                          "evening": "16:00-18:30"}})
    with app.app_context():
        at(SUNDAY_1000)
        ussd = UssdCaller(app.test_client())
        start(ussd, lang)
        ussd.press("2")  # medical
        times = ussd.press("2")  # only at certain times
        assert f"3. {word} 4-6:30" in times or f"3. {word} (4-6:30)" in times, times
        assert "مساء" not in times and "Evening" not in times
        ussd.press("3", "2")
        ussd.press("1")
        [row] = requests()
        assert row.safe_times == "evening"
        assert row.next_attempt_at == datetime(2026, 11, 29, 16, 0, tzinfo=KRT)


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_a_caller_cancels_their_request_from_my_call_request(app, ussd, at, lang):
    """The only way a caller withdraws one request: "My call request", cancel, yes. The
    request is closed as withdrawn (never deleted), with the reason on its timeline, and
    the gateway repeating the last hop changes nothing."""
    at(SUNDAY_1000)
    start(ussd, lang)
    ussd.press("2", "1", "2", "1")  # medical, any time, no SMS, send
    [row] = requests()
    assert row.status == "open"
    ussd.dial()
    mine = ussd.press("5")
    assert row.ref in mine
    ussd.press("1")  # cancel
    done = ussd.press("1")  # yes
    [row] = requests()
    assert ussd.ended and done == render(app, lang, "callback.cancel.done", ref=row.ref)
    assert row.status == "withdrawn" and row.resolved_at is not None
    withdrawn = db.session.scalars(select(CallbackEvent).where(
        CallbackEvent.kind == "withdrawn")).all()
    assert [e.detail for e in withdrawn] == ["the caller cancelled it (USSD)"]
    assert ussd.post("*".join(ussd.inputs)) == done and ussd.ended  # the gateway repeats it
    assert events("withdrawn") == 1
    ussd.dial()
    assert ussd.press("5") == ussd.text and row.ref not in ussd.text  # nothing open now


def test_a_caller_cannot_cancel_a_request_that_is_not_theirs(app):
    mine = caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=False,
                                  language="en", now=SUNDAY_1000)
    other = "+249911111111"
    caller_requests.submit(other, reason="info", safe_to_call="yes", sms_ok=False,
                           language="en", now=SUNDAY_1000)
    assert caller_requests.cancel_by_caller(other, mine.ref, now=SUNDAY_1000) is False
    assert caller_requests.cancel_by_caller("+249922222222", mine.ref, now=SUNDAY_1000) is False
    assert [r.status for r in requests()] == ["open", "open"]
    later = SUNDAY_1000.replace(hour=11)
    assert caller_requests.cancel_by_caller(PHONE, mine.ref, now=later) is True
    assert [(r.status, r.resolved_at) for r in requests()] == [("withdrawn", later),
                                                               ("open", None)]
