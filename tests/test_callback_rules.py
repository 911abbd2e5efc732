"""The callback rules a caller feels: when we call again, when we give up, which day
"today" is in Khartoum, and which request a missed call brings back to the top.

Each test here was written against a change that left the rest of the suite green
(issue 14): the docstrings name the change it catches.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hotline.extensions import db
from hotline.models import CallbackRequest, StaffUser
from hotline.services import callback_policy, caller_requests, casework
from tests.conftest import PHONE
from tests.test_callback_flow import render, requests, start

KRT = ZoneInfo("Africa/Khartoum")
SUNDAY_0800 = datetime(2026, 11, 29, 8, 0, tzinfo=KRT)
WEDNESDAY_2330_UTC = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)  # Thursday 01:30 in Khartoum


@pytest.fixture()
def amal(app) -> int:
    person = StaffUser(email="amal@mrrc.example", name="Amal", password_hash="x")
    db.session.add(person)
    db.session.commit()
    return person.id


def attempt(request_id: int, staff_id: int, result: str, now: datetime
            ) -> casework.AttemptResult:
    casework.claim(request_id, staff_id, now=now)
    return casework.log_attempt(request_id, staff_id, result, now=now)


def test_a_no_answer_retry_waits_for_the_callers_evening_window(app, amal):
    """Catches: the retry scheduled in office hours, ignoring "only at certain times"."""
    done = caller_requests.submit(PHONE, reason="medical", safe_to_call="times",
                                  safe_times="evening", sms_ok=False, language="en",
                                  now=SUNDAY_0800)
    first_call = datetime(2026, 11, 29, 15, 0, tzinfo=KRT)
    assert db.session.get(CallbackRequest, done.request_id).next_attempt_at == first_call
    result = attempt(done.request_id, amal, "no_answer", first_call)
    # 30 minutes of the caller's 15:00-18:00 window, not of the 08:00-15:00 office day
    assert result.next_attempt_at == datetime(2026, 11, 29, 15, 30, tzinfo=KRT)
    late = attempt(done.request_id, amal, "busy", datetime(2026, 11, 29, 17, 30, tzinfo=KRT))
    # 120 minutes from 17:30: 30 left on Sunday evening, 90 on Monday evening
    assert late.next_attempt_at == datetime(2026, 11, 30, 16, 30, tzinfo=KRT)


def test_a_caller_safe_any_time_is_retried_in_office_hours(app, amal):
    done = caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=False,
                                  language="en", now=SUNDAY_0800)
    result = attempt(done.request_id, amal, "no_answer", datetime(2026, 11, 29, 14, 50,
                                                                  tzinfo=KRT))
    assert result.next_attempt_at == datetime(2026, 11, 30, 8, 20, tzinfo=KRT)


def test_only_no_answer_and_busy_count_towards_unreachable(app, amal):
    """Catches: "reached", "wrong number" or "not safe" attempts counted as unanswered."""
    request_id = caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=False,
                                        language="en", now=SUNDAY_0800).request_id
    now = SUNDAY_0800
    for result in ("reached", "wrong_number", "not_safe", "reached", "not_safe"):
        logged = attempt(request_id, amal, result, now)
        assert logged.status == "open"
        now = logged.next_attempt_at or now + timedelta(minutes=5)
    max_attempts = callback_policy.settings().max_attempts
    for n in range(1, max_attempts):
        logged = attempt(request_id, amal, "no_answer" if n % 2 else "busy", now)
        assert logged.status == "open", f"unreachable after {n} unanswered tries"
        now = logged.next_attempt_at
    db.session.expire_all()
    assert db.session.get(CallbackRequest, request_id).status == "open"


def test_the_first_retry_waits_the_first_backoff_even_after_other_attempts(app, amal):
    """Catches the same change seen from the backoff: other results do not advance it."""
    request_id = caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=False,
                                        language="en", now=SUNDAY_0800).request_id
    attempt(request_id, amal, "reached", SUNDAY_0800)
    attempt(request_id, amal, "wrong_number", SUNDAY_0800 + timedelta(minutes=5))
    first = attempt(request_id, amal, "no_answer", SUNDAY_0800 + timedelta(minutes=10))
    assert first.next_attempt_at == SUNDAY_0800 + timedelta(minutes=40)


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_at_half_past_one_in_khartoum_today_is_thursday(app, ussd, monkeypatch, lang):
    """Catches: "today" taken from the UTC date (Wednesday until 02:00 in Khartoum).

    An urgent request at 01:30 on Thursday is called by 10:00 the same Thursday: the
    caller must read "today", not "tomorrow".
    """
    monkeypatch.setattr(callback_policy, "clock", lambda: WEDNESDAY_2330_UTC)
    start(ussd, lang)
    ussd.press("1", "1", "2")  # danger, any time, no SMS
    end = ussd.press("1")
    [row] = requests()
    assert end == render(app, lang, "callback.done.today", ref=row.ref, until="10:00")


def test_a_missed_call_refreshes_the_most_urgent_open_request(app):
    """Catches: a ring refreshing another of the caller's open requests than the one staff
    will call first (most urgent, then oldest)."""
    info = caller_requests.submit(PHONE, reason="info", safe_to_call="yes", sms_ok=False,
                                  language="en", now=SUNDAY_0800)
    danger = caller_requests.submit(PHONE, reason="danger", safe_to_call="yes", sms_ok=False,
                                    language="en", now=SUNDAY_0800 + timedelta(minutes=5))
    medical = caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=False,
                                     language="en", now=SUNDAY_0800 + timedelta(minutes=10))
    ring = caller_requests.record_ring(PHONE, now=SUNDAY_0800 + timedelta(minutes=20))
    db.session.commit()
    assert (ring.request_id, ring.created, ring.counted) == (danger.request_id, False, True)
    db.session.expire_all()
    rings = {r.id: r.rings for r in db.session.query(CallbackRequest)}
    assert rings == {info.request_id: 0, danger.request_id: 1, medical.request_id: 0}


def test_among_equally_urgent_requests_a_missed_call_refreshes_the_oldest(app):
    # stored first, asked later (a clock step back): age, not storage order, decides
    newer = caller_requests.submit(PHONE, reason="info", safe_to_call="yes", sms_ok=False,
                                   language="en", now=SUNDAY_0800 + timedelta(minutes=40))
    older = caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=False,
                                   language="en", now=SUNDAY_0800 + timedelta(minutes=30))
    ring = caller_requests.record_ring(PHONE, now=SUNDAY_0800 + timedelta(hours=1))
    db.session.commit()
    assert ring.request_id == older.request_id != newer.request_id


def test_a_caller_with_chosen_times_is_called_only_in_those_windows(app):
    cfg = callback_policy.settings()
    evening = cfg.schedule("times", "evening")
    assert [(s.isoformat("minutes"), e.isoformat("minutes")) for s, e in evening.spans] == \
        [("15:00", "18:00")]
    both = cfg.schedule("times", "morning,evening")
    assert len(both.spans) == 2 and both.days == cfg.week.days
    assert cfg.schedule("yes", "evening") == cfg.week  # "any time": office hours
    assert cfg.schedule("times", "midnight") == cfg.week  # no known window: office hours
    assert cfg.schedule("times", "") == cfg.week


def test_unreachable_needs_enough_tries_on_enough_days_in_khartoum(app):
    """Four unanswered tries over two working days; a late evening try in Khartoum counts
    on its Khartoum day, not its UTC one."""
    cfg = callback_policy.settings()
    sunday = [datetime(2026, 11, 29, h, 0, tzinfo=KRT) for h in (9, 11, 13)]
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=KRT)
    assert casework._unreachable([*sunday, monday], cfg)
    assert not casework._unreachable([*sunday[:2], monday], cfg)  # three tries
    assert not casework._unreachable([*sunday, sunday[0] + timedelta(hours=1)], cfg)  # one day
    # 23:30 UTC on Sunday is already Monday 01:30 in Khartoum: two days
    assert casework._unreachable([*sunday, datetime(2026, 11, 29, 23, 30, tzinfo=UTC)], cfg)
