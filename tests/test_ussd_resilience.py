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

from hotline.extensions import db
from hotline.models import CallbackEvent, Contact
from hotline.services import caller_requests, contacts
from hotline.textcodec import measure
from tests.conftest import REDIS_URL, UssdCaller
from tests.test_callback_flow import start

ARABIC, ENGLISH = "1", "2"  # the language screen's choices


@contextmanager
def statements(app) -> Iterator[list[str]]:
    """Every SQL statement the app's engine executes inside the block."""
    seen: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    engine = db.engines[None] if hasattr(db, "engines") else db.engine
    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
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
    assert again == end
    assert seen == []
    assert runs == ["medical"]
    assert db.session.scalar(select(func.count()).select_from(CallbackEvent)) == 1


def test_a_repeated_menu_hop_touches_no_database(app, ussd):
    ussd.dial()
    first = ussd.press(ENGLISH, "1")
    with statements(app) as seen:
        assert ussd.post("*".join(ussd.inputs)) == first
    assert seen == []


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

