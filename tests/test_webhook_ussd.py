"""USSD through the Flask test client, posting what Africa's Talking posts."""

from dataclasses import replace

import pytest
import redis
from sqlalchemy import func, select

from hotline import create_app
from hotline.app import engines
from hotline.extensions import db
from hotline.models import Contact, UssdSession, UssdSessionEnd
from hotline.services.ussd import Record
from tests.conftest import PHONE, REDIS_URL, TOKEN, UssdCaller, sql_during


def render(app, lang, key):
    return app.extensions["hotline.catalog"].render(lang, key, app.config["CENTRE"])


def test_first_dial_shows_the_bilingual_language_screen(app, ussd):
    screen = ussd.dial()
    assert not ussd.ended
    assert render(app, "ar", "language.prompt") in screen
    assert render(app, "en", "language.prompt") in screen
    assert "1. العربية" in screen and "2. English" in screen


@pytest.mark.parametrize(("choice", "lang"), [("1", "ar"), ("2", "en")])
def test_choice_is_remembered_and_the_next_dial_starts_at_home(app, ussd, choice, lang):
    ussd.dial()
    menu = ussd.press(choice)
    assert render(app, lang, "menu.awareness") in menu
    contact = db.session.scalars(select(Contact)).one()
    assert contact.phone == PHONE and contact.language == lang
    again = ussd.dial()
    assert again.startswith("1. " + render(app, lang, "menu.awareness"))


@pytest.mark.parametrize("lang_choice", ["1", "2"])
def test_change_language_from_the_main_menu(app, ussd, lang_choice):
    ussd.dial()
    menu = ussd.press(lang_choice)
    label = render(app, "ar" if lang_choice == "1" else "en", "menu.language")
    if label not in menu:  # on the menu's second screen in Arabic
        menu = ussd.press("98")
    number = next(ln.split(".")[0] for ln in menu.splitlines() if label in ln)
    screen = ussd.press(number)
    assert "1. العربية" in screen
    other = "2" if lang_choice == "1" else "1"
    ussd.press(other)
    contact = db.session.scalars(select(Contact)).one()
    db.session.refresh(contact)
    assert contact.language == ("en" if lang_choice == "1" else "ar")


def test_navigation_in_both_languages(app, ussd):
    for lang, choice in (("ar", "1"), ("en", "2")):
        ussd.dial()
        ussd.press(choice)
        home = ussd.press("00")  # the main menu, with no way back to the language screen
        topics = ussd.press("1")
        assert topics != home
        page1 = ussd.press("1")
        page2 = ussd.press("98")
        assert page2 != page1
        assert ussd.press("0") == page1
        assert ussd.press("00") == home
        assert ussd.press("٠٠") == home  # Eastern Arabic digits
        hinted = ussd.press("x")  # the menu again, whole, with the hint where it fits
        assert hinted in (home, render(app, lang, "nav.invalid") + "\n" + home)
        db.session.execute(db.delete(UssdSession))
        db.session.execute(db.delete(Contact))
        db.session.commit()


@pytest.mark.parametrize("choice", ["1", "2"])
def test_back_returns_to_the_menu_the_caller_came_from(app, ussd, choice):
    """"0" on a menu's first page goes up one menu, and again up one more: the menus
    walked are kept in the session record between hops."""
    ussd.dial()
    home = ussd.press(choice)
    topics = ussd.press("1")
    topic = ussd.press("1")
    assert len({home, topics, topic}) == 3
    assert ussd.press("0") == topics
    assert ussd.press("0") == home


@pytest.mark.parametrize("choice", ["1", "2"])
def test_once_the_language_is_chosen_menu_hops_ask_nothing_of_the_database(app, ussd,
                                                                          choice):
    """The language is written on the hop that chooses it; the hops after it are served
    from Redis alone (issue 13: most hops need no database)."""
    ussd.dial()
    ussd.press(choice)
    assert sql_during(app, lambda: [ussd.press(v) for v in ("1", "1", "0", "98", "00")]) == []


@pytest.mark.parametrize(("limit", "served", "refused"), [
    ({"max_hops": 3}, "2*1*1", "2*1*1*1"),
    ({"max_text_bytes": 5}, "2*1*1", "2*1*10"),
])
def test_a_path_at_the_limit_is_served_and_one_past_it_ends_cleanly(app, ussd, limit,
                                                                   served, refused):
    """``[ussd] max_hops`` inputs, or ``max_text_bytes`` bytes of path, are the most a
    session is served; one more ends it with the "too long" message, in its language."""
    service = app.extensions["hotline.ussd"]
    service.ussd = {**service.ussd, **limit}
    too_long = render(app, "en", "error.too_long")
    ussd.dial()
    assert ussd.post(served) != too_long and not ussd.ended
    assert ussd.post(refused) == too_long and ussd.ended


def test_every_screen_fits_its_budget(app, ussd):
    from hotline.textcodec import measure

    ussd.dial()
    ussd.press("1")
    for value in ["1", "1", "98", "98", "0", "00", "2", "1", "98", "00", "3"]:
        screen = ussd.press(value)
        cost = measure(screen)
        assert cost.units <= (160 if cost.encoding == "GSM-7" else 70), screen


def test_the_session_record_keeps_no_input_typed(app, ussd, make_app):
    """The gateway's text holds every answer (a leader's PIN among them): the record
    keeps a digest of it keyed with the app's secret (without it, the few thousand
    possible PINs could be tried one by one), different for each session with the
    same inputs."""
    other = UssdCaller(ussd.client, phone="+249912000444")
    for caller in (ussd, other):
        caller.dial()
        caller.press("2", "1", "98")
    store = redis.Redis.from_url(REDIS_URL)
    records = [store.get(f"ussd:{c.session_id}") for c in (ussd, other)]
    assert all(b"2*1" not in record for record in records)
    seen = [Record.loads(record).text_digest for record in records]
    assert len(seen[0]) == 32 and seen[0] != seen[1]
    text = "2*1*98"
    assert app.extensions["hotline.ussd"].digest(ussd.session_id, text) == seen[0]
    other_secret = make_app(SECRET_KEY="another-secret-" + "y" * 32)
    assert other_secret.extensions["hotline.ussd"].digest(ussd.session_id, text) != seen[0]


def test_repeated_hop_returns_the_same_screen_and_changes_nothing(app, ussd):
    ussd.dial()
    first = ussd.press("2")
    store = redis.Redis.from_url(REDIS_URL)
    record_before = store.get(f"ussd:{ussd.session_id}")
    again = ussd.post("2")  # the gateway sends the same hop twice
    assert again == first
    assert store.get(f"ussd:{ussd.session_id}") == record_before
    assert Record.loads(record_before).state.hops == 1
    assert db.session.scalar(select(func.count()).select_from(UssdSession)) == 1


def test_lost_state_is_rebuilt_by_replaying_text(app, ussd):
    ussd.dial()
    ussd.press("2", "1", "1")
    expected_next = UssdCaller(ussd.client, phone="+249912000111")
    expected_next.dial()
    expected_next.press("2", "1", "1", "98")
    store = redis.Redis.from_url(REDIS_URL)
    store.delete(f"ussd:{ussd.session_id}")  # Redis restarted or expired
    assert ussd.press("98") == expected_next.text


def test_state_out_of_step_is_replayed_not_trusted(app, ussd):
    ussd.dial()
    ussd.press("2", "1")
    store = redis.Redis.from_url(REDIS_URL)
    key = f"ussd:{ussd.session_id}"
    record = Record.loads(store.get(key))
    store.set(key, replace(record, state=replace(record.state, hops=7)).dumps())
    screen = ussd.press("1")
    fresh = UssdCaller(ussd.client, phone="+249912000222")
    fresh.dial()
    assert screen == fresh.press("2", "1", "1")


def test_plus_sent_unencoded_still_identifies_the_caller(app, client):
    body = "sessionId=s1&serviceCode=*384*1234%23&phoneNumber=+249912345678&networkCode=63401&text="
    response = client.post(f"/webhooks/at/ussd?token={TOKEN}", data=body,
                           content_type="application/x-www-form-urlencoded")
    assert response.get_data(as_text=True).startswith("CON ")
    assert db.session.scalars(select(Contact.phone)).one() == PHONE


def test_end_of_session_notification_is_stored_once(app, client):
    fields = {"sessionId": "ATUid_1", "serviceCode": "*384*1234#", "networkCode": "63401",
              "phoneNumber": PHONE, "status": "Incomplete", "durationInMillis": "24310",
              "hopsCount": "3", "input": "1*2*98", "lastAppResponse": "CON ...",
              "errorMessage": "", "cost": "SDG 0.10", "date": "2026-11-27 10:00:00"}
    for _ in range(2):
        response = client.post(f"/webhooks/at/ussd/events?token={TOKEN}", data=fields)
        assert response.status_code == 200
    row = db.session.scalars(select(UssdSessionEnd)).one()
    assert (row.status, row.duration_ms, row.hops_count, row.input) == \
        ("Incomplete", 24310, 3, "1*2*98")


def test_an_older_hop_sent_again_gets_its_screen_and_the_session_goes_on(app, ussd):
    ussd.dial()
    first = ussd.press("2")
    second = ussd.press("1")
    assert ussd.post("2") == first  # a late copy of an earlier hop
    store = redis.Redis.from_url(REDIS_URL)
    kept = Record.loads(store.get(f"ussd:{ussd.session_id}"))  # the newer record
    assert kept.text_digest == app.extensions["hotline.ussd"].digest(ussd.session_id, "2*1")
    ussd.body = "CON " + second
    fresh = UssdCaller(ussd.client, phone="+249912000333")
    fresh.dial()
    assert ussd.press("1") == fresh.press("2", "1", "1")


def test_an_unreadable_record_is_replayed_not_trusted(app, ussd):
    ussd.dial()
    ussd.press("2", "1")
    store = redis.Redis.from_url(REDIS_URL)
    store.set(f"ussd:{ussd.session_id}", b'{"text": "2*1", "state": [')
    fresh = UssdCaller(ussd.client, phone="+249912000444")
    fresh.dial()
    assert ussd.press("1") == fresh.press("2", "1", "1")


def test_a_hop_from_another_number_is_checked_again(app, ussd):
    ussd.dial()
    ussd.press("2")
    ussd.phone = "12"  # the session's record knows the first number, not this one
    screen = ussd.press("1")
    assert ussd.ended
    assert screen == app.extensions["hotline.ussd"].bilingual("error.unavailable")


def test_webhooks_set_no_cookie_and_send_security_headers(app, client):
    response = client.post(f"/webhooks/at/ussd?token={TOKEN}", data={
        "sessionId": "ATUid_c", "serviceCode": "*384*1234#", "phoneNumber": PHONE,
        "networkCode": "63401", "text": ""})
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_refusals_and_unknown_pages_send_the_security_headers_once(app, client):
    """Added as the response leaves the app (``hotline.app.SecurityHeaders``): error
    answers too, and never twice, nor over a header a page set itself."""
    for response in (client.post("/webhooks/at/ussd?token=wrong", data={}),
                     client.get("/no/such/page"), client.get("/staff/login")):
        assert response.status_code in (403, 404, 200)
        for name in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
                     "Content-Security-Policy"):
            assert len(response.headers.getlist(name)) == 1, (response.status_code, name)
    assert response.headers["Referrer-Policy"] == "same-origin"  # the staff page's own


def test_make_run_mode_sqlite_and_memory_store_serve_a_whole_session(tmp_path):
    """``make run`` with nothing installed: SQLite, sessions in the process, inline jobs."""
    from flask_migrate import upgrade

    from tests.conftest import overrides

    url = f"sqlite:///{tmp_path / 'dev.sqlite3'}"
    app = create_app(overrides(DATABASE_URL=url, REDIS_URL=""))
    with app.app_context():
        upgrade()
        caller = UssdCaller(app.test_client())
        caller.dial()
        english_menu = caller.press("2")
        assert "1. " + render(app, "en", "menu.awareness") in english_menu
        caller.press("1")
        fresh = UssdCaller(app.test_client(), phone="+249912000555")
        fresh.dial()
        expected = fresh.press("2", "1", "1")
        app.extensions["hotline.store"].delete(f"ussd:{caller.session_id}")  # process restarted
        assert caller.press("1") == expected  # replayed from the language it started in
        assert db.session.scalar(select(Contact.language).where(Contact.phone == PHONE)) == "en"
        assert db.session.scalar(select(UssdSession.start_lang)
                                 .where(UssdSession.session_id == caller.session_id)) is None
        assert caller.dial().startswith("1. " + render(app, "en", "menu.awareness"))
        db.session.remove()
    for engine in engines(app):
        engine.dispose()
