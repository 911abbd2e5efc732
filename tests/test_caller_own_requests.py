"""A caller with more than one request: "My call request" shows the one staff call
first, and "Stop everything" closes this caller's open requests and nothing else.

Written against the survivors of issue 14's mutation run (``open_request``,
``withdraw_for_phone``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import CallbackEvent, CallbackRequest
from hotline.services import caller_requests
from tests.conftest import PHONE, UssdCaller

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)  # a Sunday morning in Khartoum
OTHER = "+249911111111"
MINE, STOP = "5", "8"  # on the English main menu's first page


def ask(phone: str, reason: str, at: datetime) -> caller_requests.Submission:
    return caller_requests.submit(phone, reason=reason, safe_to_call="yes", language="en",
                                  now=at)


def home(ussd: UssdCaller) -> str:
    screen = ussd.dial()
    return ussd.press("2") if "English" in screen else screen


def kinds(request_id: int) -> list[str]:
    return list(db.session.scalars(select(CallbackEvent.kind).where(
        CallbackEvent.request_id == request_id).order_by(CallbackEvent.id)))


@pytest.mark.parametrize(("first", "second", "shown"), [
    ("medical", "danger", 1),  # the urgent one, though newer
    ("counselling", "medical", 0),  # equally urgent: the older one
])
def test_my_call_request_shows_the_request_called_first(app, ussd, first, second, shown):
    made = [ask(PHONE, first, T0), ask(PHONE, second, T0 + timedelta(hours=1))]
    home(ussd)
    screen = ussd.press(MINE)
    assert made[shown].ref in screen and made[1 - shown].ref not in screen


def test_stopping_everything_closes_only_this_callers_open_requests(app, client, ussd):
    cancelled = ask(PHONE, "counselling", T0)
    assert caller_requests.cancel_by_caller(PHONE, cancelled.ref, now=T0)
    mine = [ask(PHONE, "medical", T0), ask(PHONE, "danger", T0)]
    theirs = ask(OTHER, "medical", T0)
    home(ussd)
    ussd.press(STOP, "1")  # stop everything? yes
    db.session.expire_all()
    status = {r.id: (r.status, r.resolved_at) for r in db.session.scalars(select(CallbackRequest))}
    assert status[theirs.request_id] == ("open", None)
    assert kinds(theirs.request_id) == ["created"]
    assert [status[m.request_id][0] for m in mine] == ["withdrawn", "withdrawn"]
    assert status[cancelled.request_id][1] == T0  # withdrawn once, when the caller cancelled
    assert kinds(cancelled.request_id) == ["created", "withdrawn"]


def test_a_late_request_promises_a_time_within_the_callers_own_hours(app):
    """Past its deadline, "My call request" promises the urgent delay from now on, and
    counts it in the hours the caller said are safe (late afternoon, 15:00-18:00), not
    in office hours: a promise of 12:00 would be a call at an unsafe time."""
    made = caller_requests.submit(PHONE, reason="medical", safe_to_call="times",
                                  safe_times="evening", language="en", now=T0)
    late = T0 + timedelta(days=3)  # a Wednesday, 10:00 in Khartoum: the deadline has passed
    shown = caller_requests.open_request(PHONE, now=late)
    assert shown is not None and shown.ref == made.ref
    assert (shown.expect_day, shown.expect_until) == ("today", "17:00")
