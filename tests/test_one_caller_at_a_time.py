"""Requests of one caller are made one at a time: a staff member turning the caller's
text into a request while the caller is asking for a call by USSD waits for that
request, and puts the text on it.

Without the wait, the conversion finds no open request (the caller's is not committed
yet) and starts a second one beside it: two open requests, two calls. Written against
issue 14's survivors (the contact row lock in ``request_from_text``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from hotline.extensions import db
from hotline.models import CallbackRequest
from hotline.services import caller_requests, contacts
from tests.conftest import PHONE
from tests.staffkit import Staff, make_user, quick_hashing
from tests.test_requests_from_text import texted, timeline


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


def lock_waits() -> int:
    """Backends of this database waiting for a row lock right now."""
    with db.engine.connect() as conn:
        return conn.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"))


@pytest.fixture()
def meanwhile() -> Iterator[Callable[[Callable[[], object]], threading.Thread]]:
    """Begin the caller's USSD request as ``submit`` begins it (the contact row touched,
    so locked, not yet committed), start ``work`` in another thread, and give it up to
    1.5 s to start waiting for that row."""
    threads: list[threading.Thread] = []

    def run(work: Callable[[], object]) -> threading.Thread:
        contacts.get_or_create(PHONE)
        thread = threading.Thread(target=work, daemon=True)
        threads.append(thread)
        thread.start()
        deadline = time.monotonic() + 1.5
        while lock_waits() == 0 and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        return thread

    yield run
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


def asks_for_a_call_now() -> int:
    """The rest of the caller's USSD request, in the same transaction; commits."""
    return caller_requests.submit(PHONE, reason="medical", safe_to_call="yes",
                                  language="en").request_id


def test_a_text_made_into_a_request_meanwhile_goes_on_the_callers_new_request(
        app, client, meanwhile):
    make_user("ana@example.org", name="Ana")
    ana = Staff(app, "ana@example.org")
    message_id = texted(client, "please call after 5", phone=PHONE)
    page = f"/staff/inbox/{message_id}"
    token = ana.token(page)
    answers = []
    thread = meanwhile(lambda: answers.append(ana.client.post(
        f"{page}/request", data={"csrf_token": token})))
    request_id = asks_for_a_call_now()
    thread.join(10)
    assert answers[0].status_code == 303
    db.session.expire_all()
    assert db.session.scalars(sa.select(CallbackRequest.id)).all() == [request_id]
    assert sorted(timeline(ana, request_id)) == [  # the text's line is stamped when sent
        ("created", "Request received USSD · Medical help"),
        ("sms", "Text from the caller text message from the caller by Ana please call after 5"),
    ]

