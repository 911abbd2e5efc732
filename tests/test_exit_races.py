""""Stop everything" while the same caller's own request is being stored: both finish, in
either order, and neither gets an error; and an exit by text says so on the timeline.

The race is real: a caller presses "stop everything" on one phone session while a missed
call, a text or another USSD session of theirs is creating or refreshing a request. Both
lock the caller's contact row; taken in opposite orders, PostgreSQL breaks the cycle by
aborting one of them (the caller would read "unavailable", or the gateway retry a text).
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import CallbackEvent, CallbackRequest, Contact
from tests.conftest import DATABASE_URL, PHONE
from tests.smskit import Texter
from tests.test_caller_exit import MEDICAL, STOP, ask_for_a_call, home, menu_item, render

# what ``caller_requests._lock_contact`` runs first when a request of this caller is
# submitted or refreshed: the contact upsert, which holds the row until it commits
REQUEST_BEGINS = sa.text(
    "INSERT INTO contacts (phone, created_at, last_seen_at) VALUES (:p, now(), now()) "
    "ON CONFLICT (phone) DO UPDATE SET last_seen_at = now()")
REQUEST_LOCKS = sa.text("SELECT id FROM contacts WHERE phone = :p FOR UPDATE")


def waiting_on_a_lock(engine: sa.Engine, timeout: float = 10.0) -> bool:
    """Whether another backend of this database waits on a row lock within ``timeout``."""
    end = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < end:
            if conn.scalar(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")):
                return True
            conn.rollback()
            time.sleep(0.02)
    return False


def test_stop_everything_waits_for_a_request_being_stored_and_both_finish(app, ussd):
    ask_for_a_call(ussd, "en", MEDICAL)
    menu_item(ussd, home(ussd, "en"), STOP)  # the confirmation screen: "1" stops everything
    other = sa.create_engine(DATABASE_URL, poolclass=sa.pool.NullPool)
    request = other.connect()
    request.execute(sa.text("SET lock_timeout = '10s'"))
    request.execute(REQUEST_BEGINS, {"p": PHONE})  # a request of this caller, half stored
    answer: dict[str, str] = {}
    exiting = threading.Thread(target=lambda: answer.update(screen=ussd.press("1")))
    exiting.start()
    try:
        assert waiting_on_a_lock(other), "the exit should wait for the request being stored"
        # the request goes on: it takes its lock and commits, while the exit waits
        request.execute(REQUEST_LOCKS, {"p": PHONE})
        request.commit()
    finally:
        request.close()
        exiting.join(timeout=30)
        other.dispose()
    assert answer["screen"] == render(app, "en", "menu.stopped")
    db.session.expire_all()
    assert [r.status for r in db.session.scalars(select(CallbackRequest))] == ["withdrawn"]
    assert db.session.scalars(select(Contact)).one().exited_at is not None


def test_an_exit_by_text_is_named_as_one_on_the_request_timeline(app, ussd, client):
    ask_for_a_call(ussd, "en", MEDICAL)
    assert Texter(client).say("EXIT") is None  # the silent exit answers nothing
    db.session.expire_all()
    row = db.session.scalars(select(CallbackRequest)).one()
    last = db.session.scalars(select(CallbackEvent).where(CallbackEvent.request_id == row.id)
                              .order_by(CallbackEvent.id.desc())).first()
    assert row.status == "withdrawn"
    assert (last.kind, last.detail) == ("withdrawn", "the caller stopped everything (sms)")
