"""The "Sent messages" page: supervisors only, numbers masked, text escaped, bad input 400."""

from __future__ import annotations

import pytest

from hotline.extensions import db
from hotline.services import outbox
from tests.outboxkit import queue
from tests.staffkit import Staff, make_user, quick_hashing


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


@pytest.fixture()
def sue(app):
    make_user("sue@example.org", role="supervisor", name="Sue")
    return Staff(app, "sue@example.org")


def test_supervisors_see_what_the_console_sent_with_masked_numbers(app, sue):
    ids = queue(2, body="Request 2345678 received.")
    outbox.send(ids[0])  # the console gateway: no credentials in tests' settings
    queue(1, body="<script>alert('x')</script>", prefix="x", first=7)
    html = sue.html("/staff/outbox")
    assert "console gateway" in html
    assert html.count("Request 2345678 received.") == 2
    assert "+249 90* *** *00" in html and "+249900000000" not in html
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "Sent messages" in html and 'aria-current="page"' in html


def test_filter_by_status(app, sue):
    ids = queue(1, body="sent one")
    outbox.send(ids[0])
    queue(1, body="waiting one", first=5)
    html = sue.html("/staff/outbox?status=queued")
    assert "waiting one" in html and "sent one" not in html


def test_older_pages(app, sue):
    queue(101, body="many")
    db.session.remove()
    first = sue.html("/staff/outbox")
    assert first.count("<td dir=\"auto\" lang=\"en\">many</td>") == 100
    assert "before=2" in first
    second = sue.html("/staff/outbox?before=2")
    assert second.count("<td dir=\"auto\" lang=\"en\">many</td>") == 1


@pytest.mark.parametrize("query", ["?status=nope", "?status=%3Cscript%3E", "?before=abc",
                                   "?before=-1", "?before=" + "9" * 40])
def test_bad_filters_are_400(app, sue, query):
    response = sue.get("/staff/outbox" + query)
    assert response.status_code == 400 and "<script>" not in response.get_data(as_text=True)


def test_agents_may_not_and_strangers_sign_in_first(app, client):
    make_user("ana@example.org")
    assert Staff(app, "ana@example.org").get("/staff/outbox").status_code == 403
    assert client.get("/staff/outbox").status_code == 303
