"""USSD sessions as a caller lives them when the gateway repeats a hop, Redis forgets a
session, or the network allows longer screens.

Each test here was written against a change that left the rest of the suite green
(issue 14): the comments name the change it catches.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import redis
import sqlalchemy as sa
from sqlalchemy import func, select

from hotline.app import engines
from hotline.extensions import db
from hotline.models import CallbackEvent, Contact
from hotline.services import caller_requests, contacts
from hotline.services.ussd import Record, UssdHop
from hotline.textcodec import measure
from tests.conftest import PHONE, REDIS_URL, UssdCaller
from tests.test_callback_flow import start

ARABIC, ENGLISH = "1", "2"  # the language screen's choices


@contextmanager
def statements(app) -> Iterator[list[str]]:
    """Every SQL statement the app's engines (the USSD statements' autocommit one
    included) execute inside the block."""
    seen: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    for engine in engines(app):
        sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        for engine in engines(app):
            sa.event.remove(engine, "before_cursor_execute", listen)


def forget(ussd: UssdCaller) -> None:
    """Redis restarted or the record expired: the session must be rebuilt from ``text``."""
    client = redis.Redis.from_url(REDIS_URL)
    assert client.delete(f"ussd:{ussd.session_id}") == 1
    client.close()


def returning(client, phone: str, lang_choice: str) -> UssdCaller:
    """A caller who chose a language on an earlier dial and now dials again."""
    caller = UssdCaller(client, phone=phone)
    caller.dial()
    caller.press(lang_choice)
    caller.dial()
    return caller


def test_a_repeated_hop_runs_the_action_once_and_no_sql(app, ussd, monkeypatch):
    """Catches: the repeat short-cut removed, so the engine, the action and its writes run
    again (an idempotent action leaves the same rows, so row counts cannot tell)."""
    runs = []
    real_submit = caller_requests.submit

    def counted(*args, **kwargs):
        runs.append(kwargs.get("reason"))
        return real_submit(*args, **kwargs)

    monkeypatch.setattr(caller_requests, "submit", counted)
    start(ussd, "en")
    ussd.press("2", "1", "2")  # medical, any time, no SMS: the confirm screen
    end = ussd.press("1")
    assert ussd.ended and runs == ["medical"]
    with statements(app) as seen:
        again = ussd.post("*".join(ussd.inputs))  # the gateway sends it again
    assert again == end and ussd.ended  # still an END: the phone closes the session
    assert seen == []
    assert runs == ["medical"]
    assert db.session.scalar(select(func.count()).select_from(CallbackEvent)) == 1


def test_a_repeated_menu_hop_touches_no_database(app, ussd):
    ussd.dial()
    first = ussd.press(ENGLISH, "1")
    with statements(app) as seen:
        assert ussd.post("*".join(ussd.inputs)) == first
    assert seen == []


def test_a_replay_writes_the_language_only_when_the_stored_one_differs(app, ussd):
    """Catches: a replay that writes the chosen language again (one more statement on
    every rebuilt hop, e.g. each hop after a private screen)."""
    ussd.dial()
    ussd.press(ENGLISH, "1")
    forget(ussd)
    with statements(app) as seen:
        ussd.press("1")
    assert len(seen) == 1 and "UPDATE contacts" not in seen[0]  # the dial's statement only
    contacts.remember_language(PHONE, "ar")  # changed elsewhere: the replay sets it back
    forget(ussd)
    with statements(app) as seen:
        ussd.press("0")
    assert [s for s in seen if s.startswith("UPDATE contacts")]
    assert db.session.scalar(select(Contact.language)) == "en"


def test_a_returning_arabic_callers_lost_session_resumes_in_arabic(app, client):
    """Catches: a replay that starts from the language screen instead of the language the
    session started in (a new caller's replay starts there too, so it cannot tell)."""
    caller = returning(client, "+249912300001", ARABIC)
    assert "العربية" not in caller.text  # a returning caller starts at the main menu
    caller.press("1", "1")
    witness = returning(client, "+249912300002", ARABIC)
    expected = witness.press("1", "1", "98")
    forget(caller)
    resumed = caller.press("98")
    assert resumed == expected
    assert measure(resumed).encoding == "UCS-2" and "العربية" not in resumed
    assert not caller.ended


def test_a_lost_session_keeps_its_language_when_the_caller_changed_it_elsewhere(app, client):
    """Catches: a replay started in the contact's current language instead of the one the
    session started in. The caller reads Arabic in one session while another session of
    the same phone switches to English; the Arabic session, rebuilt, stays Arabic."""
    phone = "+249912300003"
    caller = returning(client, phone, ARABIC)
    caller.press("1", "1")
    contacts.remember_language(phone, "en")  # e.g. from another session, or an SMS
    assert db.session.scalar(select(Contact.language)) == "en"
    witness = returning(client, "+249912300004", ARABIC)
    expected = witness.press("1", "1", "98")
    forget(caller)
    assert caller.press("98") == expected
    assert measure(expected).encoding == "UCS-2"


def _screens(caller: UssdCaller, lang_choice: str, path: list[str]) -> list[str]:
    caller.dial()
    seen = [caller.press(lang_choice)]
    for value in path:
        seen.append(caller.press(value))
    return seen


def test_a_network_with_a_larger_screen_gets_longer_screens(make_app):
    """Catches: per-network budgets ignored (every network served the default budget).

    Arabic (UCS-2, 70 characters by default) is where 80 makes a visible difference.
    """
    lang_choice = ARABIC
    app = make_app(USSD={"networks": {"63402": {"gsm7_budget": 182, "ucs2_budget": 80}}})
    path = ["1", "1", "98", "98"]  # awareness, the first topic, and on through its pages
    with app.app_context():
        client = app.test_client()
        wide = _screens(UssdCaller(client, phone="+249912300005", network="63402"),
                        lang_choice, path)
        usual = _screens(UssdCaller(client, phone="+249912300006", network="63401"),
                         lang_choice, path)
    wide_costs = [measure(s) for s in wide]
    usual_costs = [measure(s) for s in usual]
    assert all(c.units <= (182 if c.encoding == "GSM-7" else 80) for c in wide_costs)
    assert all(c.units <= (160 if c.encoding == "GSM-7" else 70) for c in usual_costs)
    assert any(c.units > (160 if c.encoding == "GSM-7" else 70) for c in wide_costs)
    assert wide != usual



def hop(text: str) -> UssdHop:
    return UssdHop("ATUid_busy", "*384*1234#", "+249912345678", "63401", text)


def test_a_dial_is_turned_away_sooner_than_a_hop_of_a_session_under_way(app):
    """The configured waits (0.25 s for a dial, 1 s for a hop) are limits: waiting exactly
    that long is still served."""
    service = app.extensions["hotline.ussd"]
    assert not service.too_busy(hop(""), None)  # unknown wait: served
    assert not service.too_busy(hop(""), 0.25)
    assert service.too_busy(hop(""), 0.26)
    assert not service.too_busy(hop("1*2"), 0.26)
    assert not service.too_busy(hop("1*2"), 1.0)
    assert service.too_busy(hop("1*2"), 1.01)
    busy = service.handle(hop(""), waited=0.3)
    assert busy.end and busy.text == service.bilingual("error.busy")


def test_an_unreadable_stored_session_is_replayed_not_failed(app, client):
    """A record Redis holds but nobody can read (an older format, a cut write) counts as
    lost: the hop is rebuilt from its inputs."""
    caller = UssdCaller(client)
    caller.dial()
    first = caller.press(ENGLISH)
    store = redis.Redis.from_url(REDIS_URL)
    key = f"ussd:{caller.session_id}"
    good = store.get(key)
    assert Record.loads(good) is not None
    for broken in (b"not json", b'{"text": "2"}', b'{"text": "2", "state": [], "reply": "",'
                   b' "end": false, "raw_phone": "", "phone": ""}', b"[1, 2]"):
        assert Record.loads(broken) is None
        store.set(key, broken)
        caller.inputs = []
        assert caller.press(ENGLISH) == first
    store.close()


def test_an_older_hop_sent_again_is_answered_and_the_newer_record_kept(app, client):
    caller = UssdCaller(client)
    caller.dial()
    caller.press(ENGLISH, "1")
    newer = caller.text
    caller.post(ENGLISH)  # the gateway repeats the earlier hop
    caller.post(f"{ENGLISH}*1")  # and the newer one again: the same screen, from the record
    assert caller.text == newer
